//! An HTTPS server on 127.0.0.1 that answers like whatever a test needs — a Kubernetes API
//! server, an internal admin page, a proxy's error — so registration's connection test can be
//! driven through every outcome. Real TLS (rustls, a certificate for 127.0.0.1 and localhost
//! from a CA of its own), real TCP; it counts the connections it accepts, so a test can tell that
//! the hub contacted nothing.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;

/// What the server answers to one request path: status code, content type, body.
pub type Answer = (u16, &'static str, String);

/// A running server; it stops with the test process.
pub struct FakeApiServer {
    /// Where it listens.
    pub address: SocketAddr,
    /// PEM of the CA that signed its certificate (the kubeconfig's CA).
    pub ca_pem: String,
    connections: Arc<AtomicUsize>,
}

/// The bearer token the kubeconfigs carry; tests assert it never comes back.
pub const TOKEN: &str = "fake-apiserver-token-that-must-never-leak-0123456789";

/// A `Status` body as the apiserver sends it.
pub fn status_body(code: u16, reason: &str, message: &str) -> String {
    serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    })
    .to_string()
}

/// Answers of a healthy API server: a version and an empty node list.
pub fn kubernetes(path: &str) -> Answer {
    if path.starts_with("/version") {
        let version =
            r#"{"major":"1","minor":"36","gitVersion":"v1.36.3-fake","platform":"linux/amd64"}"#;
        (200, "application/json", version.to_owned())
    } else if path.starts_with("/api/v1/nodes") {
        let nodes = r#"{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}"#;
        (200, "application/json", nodes.to_owned())
    } else {
        (
            404,
            "application/json",
            status_body(404, "NotFound", "not found"),
        )
    }
}

impl FakeApiServer {
    /// Starts a server answering each request with `answer(path)`.
    pub fn start(answer: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Self {
        // A CA of its own (the kubeconfig's certificate-authority-data) and a leaf for
        // 127.0.0.1 and localhost, as an API server's certificates are laid out.
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_name = format!("fake-apiserver-ca-{:016x}", rand::random::<u64>());
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, ca_name);
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(
            ca_params,
            rcgen::KeyPair::generate().expect("key"),
        )
        .expect("ca certificate");
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("certificate params");
        let certificate = params.signed_by(&key, &ca).expect("server certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![certificate.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("server config");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let connections = Arc::new(AtomicUsize::new(0));
        let answer = Arc::new(answer);
        {
            let connections = connections.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    connections.fetch_add(1, Ordering::SeqCst);
                    let (config, answer) = (config.clone(), answer.clone());
                    std::thread::spawn(move || serve(stream, config, &*answer));
                }
            });
        }
        Self {
            address,
            ca_pem: ca.pem(),
            connections,
        }
    }

    /// Connections accepted so far (TCP, whether or not TLS followed).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    /// A flattened kubeconfig for `server` (a URL) trusting this server's certificate, with
    /// a bearer token.
    pub fn kubeconfig_for(&self, server: &str) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters:\n- name: fake\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n\
             users:\n- name: fake\n  user:\n    token: {TOKEN}\n"
        )
    }

    /// [`Self::kubeconfig_for`] this server's own URL.
    pub fn kubeconfig(&self) -> String {
        self.kubeconfig_for(&self.url())
    }
}

/// One connection: TLS, then each request answered until the client closes.
fn serve(
    stream: std::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
    answer: &dyn Fn(&str) -> Answer,
) {
    let Ok(connection) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(connection, stream);
    loop {
        let mut reader = BufReader::new(&mut tls);
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            match reader.read_line(&mut header) {
                Ok(0) | Err(_) => return,
                Ok(_) if header == "\r\n" => break,
                Ok(_) => {}
            }
        }
        drop(reader);
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_owned();
        let (code, content_type, body) = answer(&path);
        let response = format!(
            "HTTP/1.1 {code} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if tls
            .write_all(response.as_bytes())
            .and_then(|()| tls.flush())
            .is_err()
        {
            return;
        }
    }
}
