//! A browser's part in single sign-on, for the tests and the bench that drive the hub and a
//! real Dex (kubeworkz_testkit::idp): cookies per origin, redirects followed by hand, Dex's
//! login form posted, and the authproxy connector's identity headers sent to Dex only.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kubeworkz_testkit::idp::{PROXY_EMAIL_HEADER, PROXY_GROUP_HEADER, PROXY_USER_HEADER};
use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

/// A finished sign-in: the hub's cookies, and how long the hub itself took over its
/// responses (their time less the `Server-Timing` the hub spent waiting for the provider).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: String,
    pub csrf: String,
    pub hub_time: Duration,
}

/// The time a response's `Server-Timing: idp;dur=…` says was the identity provider's.
pub fn idp_time(response: &reqwest::Response) -> Duration {
    response
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("idp;dur="))
        .and_then(|v| v.split(';').next())
        .and_then(|ms| ms.parse::<f64>().ok())
        .map_or(Duration::ZERO, |ms| Duration::from_secs_f64(ms / 1e3))
}

/// Who signs in at Dex.
#[derive(Debug, Clone)]
pub enum Identity {
    /// Through the authproxy connector, with these groups.
    Proxy { user: String, groups: String },
    /// Through Dex's login form.
    Password {
        email: &'static str,
        password: &'static str,
    },
}

/// A browser's cookie jar for two origins, following redirects by hand.
pub struct Browser {
    http: reqwest::Client,
    hub_base: String,
    cookies: HashMap<String, HashMap<String, String>>,
}

fn origin(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or_default().to_owned()
}

impl Browser {
    pub fn new(hub_base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            hub_base: hub_base.to_owned(),
            cookies: HashMap::new(),
        }
    }

    /// The hub's cookie `name`, if the browser holds one.
    pub fn hub_cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .get(&origin(&self.hub_base))
            .and_then(|jar| jar.get(name))
            .map(String::as_str)
    }

    pub async fn send(
        &mut self,
        method: Method,
        url: &str,
        form: Option<Vec<(String, String)>>,
        identity: &Identity,
    ) -> reqwest::Response {
        let jar = self.cookies.entry(origin(url)).or_default();
        let mut request = self.http.request(method, url);
        if !jar.is_empty() {
            let header: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header(COOKIE, header.join("; "));
        }
        if let (false, Identity::Proxy { user, groups }) =
            (url.starts_with(&self.hub_base), identity)
        {
            request = request
                .header(PROXY_USER_HEADER, user.as_str())
                .header(PROXY_EMAIL_HEADER, user.as_str())
                .header(PROXY_GROUP_HEADER, groups.as_str());
        }
        if let Some(form) = form {
            request = request.form(&form);
        }
        let response = request.send().await.expect("request");
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                if text.contains("Max-Age=0") {
                    jar.remove(k);
                } else {
                    jar.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        response
    }

    /// Signs in through the provider; the hub's session and CSRF cookies, or the login
    /// page's error in words.
    pub async fn sign_in(&mut self, provider: &str, who: &Identity) -> Result<SignedIn, String> {
        let url = format!("{}/api/v1/auth/oidc/{provider}/login", self.hub_base);
        self.sign_in_from(url, who).await
    }

    /// Signs in from `url` on, following redirects and Dex's form as [`sign_in`](Self::sign_in)
    /// does: a test that plays a tampering browser starts here with a URL it changed.
    pub async fn sign_in_from(
        &mut self,
        mut url: String,
        who: &Identity,
    ) -> Result<SignedIn, String> {
        let base = self.hub_base.clone();
        let mut hub_time = Duration::ZERO;
        let mut form = None;
        for _ in 0..20 {
            let method = if form.is_some() {
                Method::POST
            } else {
                Method::GET
            };
            let to_hub = url.starts_with(&base);
            let sent = Instant::now();
            let response = self.send(method, &url, form.take(), who).await;
            if to_hub {
                hub_time += sent.elapsed().saturating_sub(idp_time(&response));
            }
            let status = response.status();
            let location = response
                .headers()
                .get(LOCATION)
                .map(|l| l.to_str().unwrap().to_owned());
            let body = response.text().await.unwrap();
            if let Some(location) = location {
                let next = if location.starts_with("http") {
                    location
                } else if location.starts_with('/') {
                    format!("http://{}{location}", origin(&url))
                } else {
                    panic!("relative redirect {location}");
                };
                if next.starts_with(&format!("{}/login", base)) {
                    let message = next.split_once("sso_error=").map(|(_, m)| m).unwrap_or("");
                    return Err(percent_decode(message));
                }
                if next == format!("{}/", base) {
                    let jar = &self.cookies[&origin(&base)];
                    return Ok(SignedIn {
                        session: jar["kubeworkz_session"].clone(),
                        csrf: jar["csrf_token"].clone(),
                        hub_time,
                    });
                }
                url = next;
                continue;
            }
            if let (true, Identity::Password { email, password }) =
                (body.contains("name=\"password\""), who)
            {
                form = Some(vec![
                    ("login".to_owned(), email.to_string()),
                    ("password".to_owned(), password.to_string()),
                ]);
                continue;
            }
            panic!("unexpected {status} at {url}: {body}");
        }
        panic!("too many redirects")
    }
}

pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}
