//! The hub's REST API as the demo uses it: logged in as the admin (session cookie and CSRF
//! header, as the web UI does), JSON in and out.

use anyhow::{Context, Result, bail};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    http: reqwest::Client,
    base: String,
    cookies: String,
    csrf: String,
}

/// The value of cookie `name` among a response's `Set-Cookie` headers.
fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (key, value) = pair.split_once('=')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
}

impl Session {
    /// Logs in at `base` (`http://host:port`).
    pub async fn login(base: &str, email: &str, password: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        let response = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .context("logging in to the hub")?;
        if response.status() != StatusCode::OK {
            bail!(
                "logging in as {email} failed ({}): a kept demo directory from an older \
                 version? remove it or choose another --dir",
                response.status()
            );
        }
        let session = cookie(&response, "kubeworkz_session").context("no session cookie")?;
        let csrf = cookie(&response, "csrf_token").context("no CSRF cookie")?;
        Ok(Self {
            http,
            base: base.to_owned(),
            cookies: format!("kubeworkz_session={session}; csrf_token={csrf}"),
            csrf,
        })
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookies)
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or(text);
            bail!("{method} {path}: {status}: {message}");
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: not JSON"))
    }

    /// `GET path` (with its query).
    pub async fn get(&self, path: &str) -> Result<Value> {
        self.call(Method::GET, path, None).await
    }

    /// Every cluster of the organization.
    pub async fn clusters(&self) -> Result<Vec<Value>> {
        let page = self.get("/api/v1/k8s/clusters?limit=500").await?;
        Ok(page["items"].as_array().cloned().unwrap_or_default())
    }

    /// The cluster named `name`, if registered.
    pub async fn cluster(&self, name: &str) -> Result<Option<Value>> {
        Ok(self
            .clusters()
            .await?
            .into_iter()
            .find(|c| c["name"] == name))
    }

    /// A single-use enrollment token for the agent of `name` (the secret the agent needs).
    pub async fn enrollment_token(
        &self,
        name: &str,
        environment: &str,
        tags: &[&str],
    ) -> Result<String> {
        let body = json!({"cluster_name": name, "environment": environment, "tags": tags});
        let issued = self
            .call(Method::POST, "/api/v1/k8s/enrollment-tokens", Some(&body))
            .await?;
        issued["token"]
            .as_str()
            .map(str::to_owned)
            .context("the enrollment token answer has no token")
    }

    /// Registers `name` by kubeconfig, or gives the registered cluster of that name the new
    /// kubeconfig (a kept demo's cluster is a new process with new certificates).
    pub async fn register_or_update(
        &self,
        name: &str,
        environment: &str,
        tags: &[&str],
        kubeconfig: &str,
    ) -> Result<()> {
        match self.cluster(name).await? {
            Some(existing) => {
                let id = existing["id"].as_str().context("cluster without id")?;
                let body = json!({"kubeconfig": kubeconfig});
                self.call(
                    Method::PATCH,
                    &format!("/api/v1/k8s/clusters/{id}"),
                    Some(&body),
                )
                .await?;
            }
            None => {
                let body = json!({
                    "name": name, "environment": environment, "tags": tags,
                    "kubeconfig": kubeconfig,
                    "description": "registered by kubeconfig (pull mode) by kubeworkz-demo",
                });
                self.call(Method::POST, "/api/v1/k8s/clusters", Some(&body))
                    .await?;
            }
        }
        Ok(())
    }
}
