use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn networks(text: &str) -> AllowedNetworks {
    text.parse().unwrap()
}

#[test]
fn the_default_policy_table() {
    let policy = EgressPolicy::default();
    #[rustfmt::skip]
    let table: &[(&str, Result<(), Refusal>)] = &[
        // Metadata services, by address (some are not link-local).
        ("169.254.169.254", Err(Refusal::Metadata)),
        ("fd00:ec2::254", Err(Refusal::Metadata)),
        ("100.100.100.200", Err(Refusal::Metadata)),
        ("192.0.0.192", Err(Refusal::Metadata)),
        // Always refused.
        ("169.254.10.1", Err(Refusal::LinkLocal)),
        ("fe80::1", Err(Refusal::LinkLocal)),
        ("febf::1", Err(Refusal::LinkLocal)),
        ("0.0.0.0", Err(Refusal::Unspecified)),
        ("0.1.2.3", Err(Refusal::Unspecified)),
        ("::", Err(Refusal::Unspecified)),
        ("224.0.0.1", Err(Refusal::Multicast)),
        ("239.255.255.250", Err(Refusal::Multicast)),
        ("ff02::1", Err(Refusal::Multicast)),
        ("255.255.255.255", Err(Refusal::Broadcast)),
        // Loopback, refused by default.
        ("127.0.0.1", Err(Refusal::Loopback)),
        ("127.8.9.10", Err(Refusal::Loopback)),
        ("::1", Err(Refusal::Loopback)),
        // Private ranges and public addresses are allowed.
        ("10.1.2.3", Ok(())),
        ("172.16.0.10", Ok(())),
        ("192.168.1.20", Ok(())),
        ("100.64.0.1", Ok(())),
        ("fd12:3456::1", Ok(())),
        ("8.8.8.8", Ok(())),
        ("2001:db8::1", Ok(())),
        ("fec0::1", Ok(())),
    ];
    for (address, expected) in table {
        assert_eq!(&policy.check(ip(address)), expected, "{address}");
    }
}

#[test]
fn ipv6_forms_of_ipv4_addresses_are_judged_as_ipv4() {
    let policy = EgressPolicy::default();
    #[rustfmt::skip]
    let table: &[(&str, Result<(), Refusal>)] = &[
        ("::ffff:169.254.169.254", Err(Refusal::Metadata)),
        ("::ffff:a9fe:a9fe", Err(Refusal::Metadata)),
        ("::ffff:127.0.0.1", Err(Refusal::Loopback)),
        ("::ffff:169.254.1.1", Err(Refusal::LinkLocal)),
        ("::ffff:0.0.0.0", Err(Refusal::Unspecified)),
        ("::ffff:224.0.0.1", Err(Refusal::Multicast)),
        ("64:ff9b::169.254.169.254", Err(Refusal::Metadata)),
        ("64:ff9b::7f00:1", Err(Refusal::Loopback)),
        ("::ffff:10.0.0.1", Ok(())),
        ("64:ff9b::808:808", Ok(())),
    ];
    for (address, expected) in table {
        assert_eq!(&policy.check(ip(address)), expected, "{address}");
    }
    let only_ten = EgressPolicy::new(false, Some(networks("10.0.0.0/8")));
    assert_eq!(only_ten.check(ip("::ffff:10.9.8.7")), Ok(()));
}

#[test]
fn loopback_is_allowed_only_with_its_flag() {
    let policy = EgressPolicy::allowing_loopback();
    for address in ["127.0.0.1", "127.255.0.1", "::1", "::ffff:127.0.0.1"] {
        assert_eq!(policy.check(ip(address)), Ok(()), "{address}");
    }
    // The flag allows loopback, nothing of the always-refused kinds.
    assert_eq!(policy.check(ip("169.254.169.254")), Err(Refusal::Metadata));
    assert_eq!(policy.check(ip("fe80::1")), Err(Refusal::LinkLocal));
}

#[test]
fn an_allow_list_narrows_and_loopback_needs_both() {
    let allowed = networks("10.0.0.0/8, fd00::/8");
    let policy = EgressPolicy::new(true, Some(allowed.clone()));
    assert_eq!(policy.check(ip("10.20.30.40")), Ok(()));
    assert_eq!(policy.check(ip("fd00:1::1")), Ok(()));
    let outside = Refusal::OutsideAllowedNetworks {
        allowed: "10.0.0.0/8,fd00::/8".into(),
    };
    for address in ["192.168.1.1", "8.8.8.8", "127.0.0.1", "::1"] {
        assert_eq!(policy.check(ip(address)), Err(outside.clone()), "{address}");
    }
    // Listing loopback without the flag still refuses it; with both it is allowed.
    let listed = networks("127.0.0.0/8");
    assert_eq!(
        EgressPolicy::new(false, Some(listed.clone())).check(ip("127.0.0.1")),
        Err(Refusal::Loopback)
    );
    assert_eq!(
        EgressPolicy::new(true, Some(listed)).check(ip("127.0.0.1")),
        Ok(())
    );
    // No list entry allows what is always refused.
    let link_local = EgressPolicy::new(true, Some(networks("169.254.0.0/16")));
    assert_eq!(
        link_local.check(ip("169.254.169.254")),
        Err(Refusal::Metadata)
    );
    assert_eq!(link_local.check(ip("169.254.1.1")), Err(Refusal::LinkLocal));
    let message = outside.to_string();
    assert!(message.contains("--pull-allowed-networks"), "{message}");
}

#[test]
fn allowed_networks_parse_or_say_what_is_wrong() {
    let parsed = networks(" 10.0.0.0/8 ,192.168.1.7, fd00::/8,");
    assert_eq!(parsed.to_string(), "10.0.0.0/8,192.168.1.7/32,fd00::/8");
    // Host bits are dropped: the network is what counts.
    assert_eq!(networks("10.1.2.3/8").to_string(), "10.0.0.0/8");
    for bad in ["10.0.0.0/33", "ten", "10.0.0.0/8,nope", "", " , "] {
        let err = bad.parse::<AllowedNetworks>().unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("invalid network") && message.contains("10.0.0.0/8"),
            "{message}"
        );
    }
    let err = "10.0.0.0/8,nope".parse::<AllowedNetworks>().unwrap_err();
    assert_eq!(err, InvalidNetwork("nope".into()));
}

#[test]
fn refusals_say_how_to_allow_what_can_be_allowed() {
    let loopback = Refusal::Loopback.to_string();
    assert!(
        loopback.contains("loopback addresses are refused")
            && loopback.contains("--pull-allow-loopback"),
        "{loopback}"
    );
    assert!(Refusal::Metadata.to_string().contains("always refused"));
}

#[test]
fn endpoints_and_targets_name_host_port_and_address() {
    let uri: http::Uri = "https://[::1]:6443/path".parse().unwrap();
    let endpoint = Endpoint::from_uri(&uri).unwrap();
    assert_eq!(endpoint.host, "::1");
    assert_eq!(endpoint.to_string(), "[::1]:6443");
    assert_eq!(endpoint.literal_ip(), Some(ip("::1")));
    let uri: http::Uri = "https://kube.example.com".parse().unwrap();
    let endpoint = Endpoint::from_uri(&uri).unwrap();
    assert_eq!(endpoint.to_string(), "kube.example.com:443");
    let target = Target {
        endpoint,
        address: Some(ip("10.0.0.5")),
    };
    assert_eq!(
        target.to_string(),
        "kube.example.com:443 (resolved to 10.0.0.5)"
    );
    let literal = Target {
        endpoint: Endpoint {
            host: "10.0.0.5".into(),
            port: 6443,
        },
        address: Some(ip("10.0.0.5")),
    };
    assert_eq!(literal.to_string(), "10.0.0.5:6443");
}

#[tokio::test]
async fn resolution_keeps_allowed_addresses_and_names_the_rule_when_none_is_left() {
    let localhost = Endpoint {
        host: "localhost".into(),
        port: 6443,
    };
    let err = EgressPolicy::default()
        .resolve(&localhost)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ConnectError::Refused {
                refusal: Refusal::Loopback,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with("refused to connect to localhost:6443: ")
            && message.contains("loopback addresses are refused"),
        "{message}"
    );
    let allowed = EgressPolicy::allowing_loopback()
        .resolve(&localhost)
        .await
        .unwrap();
    assert!(
        !allowed.is_empty()
            && allowed
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 6443),
        "{allowed:?}"
    );

    let metadata = Endpoint {
        host: "169.254.169.254".into(),
        port: 443,
    };
    let err = EgressPolicy::allowing_loopback()
        .resolve(&metadata)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "refused to connect to 169.254.169.254:443: 169.254.169.254 is a cloud metadata \
         address, which is always refused"
    );

    let nowhere = Endpoint {
        host: "no-such-host.invalid".into(),
        port: 443,
    };
    let err = EgressPolicy::default().resolve(&nowhere).await.unwrap_err();
    assert!(
        matches!(err, ConnectError::Dns { .. })
            && err
                .to_string()
                .starts_with("cannot resolve no-such-host.invalid:443: "),
        "{err}"
    );
}
