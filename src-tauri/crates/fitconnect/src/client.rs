//! The HTTP client of the Submission API, behind the [`SubmissionApi`] trait so a
//! v2 transport can be added without touching callers.
//!
//! OAuth2 client credentials (`client_secret_post`); the token is cached and renewed
//! a minute before it expires, and once more when the server answers 401 anyway
//! (tokens can be revoked early).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, header};
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::api::{
    ApiProblem, CreateSubmission, EventLog, Info, Jwks, MAX_PAGE, PaymentRequest,
    PaymentTransaction, PublicDestination, Submission, SubmissionCreated, SubmissionForPickup,
    SubmissionsForPickup, SubmitSubmission, TokenResponse,
};
use crate::keys::PublicJwk;
use crate::submission::EncryptedSubmission;

/// Largest JSON answer taken from the portal (lists, event logs, metadata JWEs).
const MAX_JSON: u64 = 64 * 1024 * 1024;
/// Largest attachment JWE taken from the portal (the base64 of the encrypted file).
const MAX_ATTACHMENT: u64 = 1024 * 1024 * 1024;

/// Read a response body up to `limit` bytes: a larger announced length is refused
/// before reading, a longer stream as soon as it passes the limit – never more than
/// `limit` bytes in memory. Refused with a German reason (retried later, like any
/// unexpected answer).
pub async fn read_bounded(mut res: reqwest::Response, limit: u64) -> Result<Vec<u8>, ClientError> {
    let too_large = || {
        ClientError::Decode(format!(
            "Antwort größer als {} MB – nicht angenommen",
            limit.div_ceil(1024 * 1024)
        ))
    };
    if res.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut out = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(network)? {
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Check an endpoint of the portal settings: `https://` with a host, or plain
/// `http://` only to this machine (the local simulator: `localhost`, `127.0.0.1`,
/// `[::1]` exactly – not a name that merely begins like them). The German reason
/// when refused.
pub fn check_endpoint(url: &str) -> Result<(), String> {
    let refused = || {
        format!(
            "Die Adresse {url} ist nicht erlaubt: verwenden Sie https:// (http nur für den lokalen Simulator)."
        )
    };
    let parsed = reqwest::Url::parse(url.trim()).map_err(|_| refused())?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "Die Adresse {url} enthält Zugangsdaten; diese gehören in client_id und client_secret."
        ));
    }
    let host = parsed.host_str().ok_or_else(refused)?;
    let local = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if local => Ok(()),
        _ => Err(refused()),
    }
}

/// Where and as whom to connect.
#[derive(Clone)]
pub struct ClientConfig {
    /// Token endpoint, e.g. `https://auth-testing.fit-connect.fitko.dev/token`.
    pub token_url: String,
    /// Base URL of the Submission API (without `/v1`).
    pub api_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("token_url", &self.token_url)
            .field("api_url", &self.api_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .finish()
    }
}

/// Everything a subscriber needs: endpoints, destination, client credentials and the
/// destination's two key pairs. Contains secrets; its `Debug` shows none of them.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriberSettings {
    pub api_url: String,
    pub token_url: String,
    pub destination_id: Uuid,
    pub client_id: String,
    pub client_secret: String,
    pub encryption_key: PublicJwk,
    pub encryption_private_pem: String,
    pub signature_key: PublicJwk,
    pub signature_private_pem: String,
}

impl std::fmt::Debug for SubscriberSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriberSettings")
            .field("api_url", &self.api_url)
            .field("destination_id", &self.destination_id)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Errors of a call. `Display` is German and names no personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("Keine Verbindung zum Portal ({0}). Es wird später erneut versucht.")]
    Network(String),
    #[error(
        "Das Portal hat die Anmeldung abgelehnt ({0}). Bitte Zugangsdaten in der Administration prüfen."
    )]
    Auth(String),
    // Without a problem document the status alone is the message.
    #[error("Das Portal antwortete mit {status}{}", .problem.as_ref().map(|p| format!(": {}", p.detail.clone().unwrap_or_else(|| p.title.clone()))).unwrap_or_default())]
    Http {
        status: u16,
        problem: Option<ApiProblem>,
        retry_after: Option<Duration>,
    },
    #[error("Unerwartete Antwort des Portals: {0}")]
    Decode(String),
    /// The request could not be built (e.g. an unreadable outbox item); retrying
    /// does not help.
    #[error("Auftrag nicht sendbar: {0}")]
    Invalid(String),
    /// A local destination (e.g. the cash system's exchange folder) is not
    /// reachable now; retried later. Says nothing about the portal.
    #[error("Ablage nicht erreichbar: {0}")]
    Unavailable(String),
    /// The receiving side refused this one item for good (e.g. a mail server that
    /// does not know the recipient): it stops at once and becomes a task.
    #[error("Zustellung abgelehnt: {0}")]
    Refused(String),
}

impl ClientError {
    /// Worth retrying later (network trouble, overload, server errors)?
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Network(_) | ClientError::Decode(_) | ClientError::Unavailable(_) => true,
            ClientError::Http { status, .. } => *status == 429 || *status == 408 || *status >= 500,
            ClientError::Auth(_) | ClientError::Invalid(_) | ClientError::Refused(_) => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The resource is already in a later state (409, or 422 `invalid-state` as the
    /// service answers writes to a finished submission): an earlier attempt may have
    /// taken effect.
    pub fn is_conflict(&self) -> bool {
        match self {
            ClientError::Http { status: 409, .. } => true,
            ClientError::Http {
                status: 422,
                problem: Some(p),
                ..
            } => p.type_uri.ends_with("/invalid-state"),
            _ => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn network(e: reqwest::Error) -> ClientError {
    if e.is_decode() || e.is_body() {
        ClientError::Decode(e.to_string())
    } else {
        ClientError::Network(e.to_string())
    }
}

/// The operations the workstation needs, independent of the API version.
#[allow(async_fn_in_trait)]
pub trait SubmissionApi {
    async fn info(&self) -> Result<Info, ClientError>;
    async fn jwks(&self) -> Result<Jwks, ClientError>;
    async fn destination(&self, destination: Uuid) -> Result<PublicDestination, ClientError>;
    async fn destination_key(&self, destination: Uuid, kid: &str)
    -> Result<PublicJwk, ClientError>;
    async fn list_for_pickup(
        &self,
        destination: Uuid,
        offset: u32,
        limit: u32,
    ) -> Result<SubmissionsForPickup, ClientError>;
    async fn submission(&self, submission: Uuid) -> Result<Submission, ClientError>;
    async fn attachment(&self, submission: Uuid, attachment: Uuid) -> Result<String, ClientError>;
    async fn case_events(
        &self,
        case: Uuid,
        offset: u32,
        limit: u32,
    ) -> Result<EventLog, ClientError>;
    async fn post_event(&self, case: Uuid, set: &str) -> Result<(), ClientError>;
    async fn create_submission(
        &self,
        request: &CreateSubmission,
    ) -> Result<SubmissionCreated, ClientError>;
    async fn upload_attachment(
        &self,
        submission: Uuid,
        attachment: Uuid,
        jwe: &str,
    ) -> Result<(), ClientError>;
    async fn submit(&self, submission: Uuid, body: &SubmitSubmission) -> Result<(), ClientError>;
    /// Ask the payment service (absolute `url` of its payment-transaction endpoint) to
    /// create a payment request; idempotent by the request id.
    async fn request_payment(
        &self,
        url: &str,
        request: &PaymentRequest,
    ) -> Result<PaymentTransaction, ClientError>;

    /// Every submission ready for pickup, page by page; each appears once even if
    /// the list shifts between pages.
    async fn all_for_pickup(
        &self,
        destination: Uuid,
    ) -> Result<Vec<SubmissionForPickup>, ClientError> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let page = self.list_for_pickup(destination, offset, MAX_PAGE).await?;
            let n = page.submissions.len() as u32;
            for s in page.submissions {
                if seen.insert(s.submission_id) {
                    out.push(s);
                }
            }
            offset += n;
            if n == 0 || offset >= page.total_count {
                return Ok(out);
            }
        }
    }

    /// The whole event log of a case.
    async fn all_case_events(&self, case: Uuid) -> Result<Vec<String>, ClientError> {
        let mut out = Vec::new();
        loop {
            let page = self.case_events(case, out.len() as u32, MAX_PAGE).await?;
            let n = page.event_log.len();
            out.extend(page.event_log);
            if n == 0 || out.len() as u32 >= page.total_count {
                return Ok(out);
            }
        }
    }

    /// Fetch a submission with all its attachments, still encrypted.
    async fn fetch_encrypted(&self, submission: Uuid) -> Result<EncryptedSubmission, ClientError> {
        let s = self.submission(submission).await?;
        let mut attachments = std::collections::BTreeMap::new();
        for id in &s.attachments {
            attachments.insert(*id, self.attachment(submission, *id).await?);
        }
        Ok(EncryptedSubmission {
            submission_id: s.submission_id,
            case_id: s.case_id,
            encrypted_metadata: s
                .encrypted_metadata
                .ok_or_else(|| ClientError::Decode("Einreichung ohne Metadaten".into()))?,
            encrypted_data: s.encrypted_data,
            attachments,
        })
    }

    /// Sender side: announce, upload every attachment, submit.
    async fn send(
        &self,
        request: &CreateSubmission,
        sealed: &EncryptedSubmission,
    ) -> Result<SubmissionCreated, ClientError> {
        let created = self.create_submission(request).await?;
        for (id, jwe) in &sealed.attachments {
            self.upload_attachment(created.submission_id, *id, jwe)
                .await?;
        }
        self.submit(
            created.submission_id,
            &SubmitSubmission {
                encrypted_metadata: sealed.encrypted_metadata.clone(),
                encrypted_data: sealed.encrypted_data.clone(),
            },
        )
        .await?;
        Ok(created)
    }
}

struct CachedToken {
    value: String,
    renew_at: Instant,
}

/// Submission API v1 over HTTP.
pub struct V1Client {
    http: reqwest::Client,
    config: ClientConfig,
    token: Mutex<Option<CachedToken>>,
}

impl V1Client {
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("Amtsstube/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Network(e.to_string()))?;
        Ok(V1Client {
            http,
            config,
            token: Mutex::new(None),
        })
    }

    async fn fetch_token(&self) -> Result<CachedToken, ClientError> {
        let res = self
            .http
            .post(&self.config.token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.config.client_id.as_str()),
                ("client_secret", self.config.client_secret.as_str()),
            ])
            .send()
            .await
            .map_err(network)?;
        let status = res.status();
        if status == StatusCode::BAD_REQUEST
            || status == StatusCode::UNAUTHORIZED
            || status == StatusCode::FORBIDDEN
        {
            // An unreadable body leaves the reason empty; the status is reported anyway.
            let body = res.text().await.unwrap_or_default();
            let reason = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_else(|| status.to_string());
            return Err(ClientError::Auth(reason));
        }
        if !status.is_success() {
            return Err(Self::error_of(res).await);
        }
        let token: TokenResponse = Self::decode(res).await?;
        // Renew a minute early (or halfway for very short tokens).
        let lifetime = Duration::from_secs(token.expires_in);
        let margin = Duration::from_secs(60).min(lifetime / 2);
        Ok(CachedToken {
            value: token.access_token,
            renew_at: Instant::now() + lifetime - margin,
        })
    }

    async fn bearer(&self, force_new: bool) -> Result<String, ClientError> {
        let mut guard = self.token.lock().await;
        let fresh = guard.as_ref().is_some_and(|t| Instant::now() < t.renew_at);
        if force_new || !fresh {
            *guard = Some(self.fetch_token().await?);
        }
        guard
            .as_ref()
            .map(|t| t.value.clone())
            .ok_or_else(|| ClientError::Auth("kein Token".into()))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.api_url.trim_end_matches('/'), path)
    }

    async fn error_of(res: reqwest::Response) -> ClientError {
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let problem = res.json::<ApiProblem>().await.ok();
        ClientError::Http {
            status,
            problem,
            retry_after,
        }
    }

    async fn decode<T: DeserializeOwned>(res: reqwest::Response) -> Result<T, ClientError> {
        let bytes = read_bounded(res, MAX_JSON).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Send an authorised request; on 401 fetch a new token and try once more.
    async fn call(
        &self,
        method: Method,
        path: &str,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        self.call_url(method, self.url(path), build).await
    }

    /// Like `call`, with an absolute URL (the payment service).
    async fn call_url(
        &self,
        method: Method,
        url: String,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        for attempt in 0..2 {
            let token = self.bearer(attempt > 0).await?;
            let res = build(self.http.request(method.clone(), &url).bearer_auth(token))
                .send()
                .await
                .map_err(network)?;
            if res.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                continue;
            }
            if res.status().is_success() {
                return Ok(res);
            }
            return Err(Self::error_of(res).await);
        }
        Err(ClientError::Auth("Token wird nicht angenommen".into()))
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        Self::decode(self.call(Method::GET, path, |r| r).await?).await
    }

    /// Public endpoints need no token.
    async fn get_public<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let res = self
            .http
            .get(self.url(path))
            .send()
            .await
            .map_err(network)?;
        if !res.status().is_success() {
            return Err(Self::error_of(res).await);
        }
        Self::decode(res).await
    }
}

impl SubmissionApi for V1Client {
    async fn info(&self) -> Result<Info, ClientError> {
        self.get_public("/v1/info").await
    }

    async fn jwks(&self) -> Result<Jwks, ClientError> {
        self.get_public("/.well-known/jwks.json").await
    }

    async fn destination(&self, destination: Uuid) -> Result<PublicDestination, ClientError> {
        self.get_json(&format!("/v1/destinations/{destination}"))
            .await
    }

    async fn destination_key(
        &self,
        destination: Uuid,
        kid: &str,
    ) -> Result<PublicJwk, ClientError> {
        let kid: String = kid
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .collect();
        self.get_public(&format!("/v1/destinations/{destination}/keys/{kid}"))
            .await
    }

    async fn list_for_pickup(
        &self,
        destination: Uuid,
        offset: u32,
        limit: u32,
    ) -> Result<SubmissionsForPickup, ClientError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let res = self
            .call(Method::GET, "/v1/submissions", |r| {
                r.query(&[
                    ("destinationId", destination.to_string()),
                    ("offset", offset.to_string()),
                    ("limit", limit.to_string()),
                ])
            })
            .await?;
        Self::decode(res).await
    }

    async fn submission(&self, submission: Uuid) -> Result<Submission, ClientError> {
        self.get_json(&format!("/v1/submissions/{submission}"))
            .await
    }

    async fn attachment(&self, submission: Uuid, attachment: Uuid) -> Result<String, ClientError> {
        let res = self
            .call(
                Method::GET,
                &format!("/v1/submissions/{submission}/attachments/{attachment}"),
                |r| r,
            )
            .await?;
        let bytes = read_bounded(res, MAX_ATTACHMENT).await?;
        String::from_utf8(bytes).map_err(|_| ClientError::Decode("Anlage ist kein Text".into()))
    }

    async fn case_events(
        &self,
        case: Uuid,
        offset: u32,
        limit: u32,
    ) -> Result<EventLog, ClientError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let res = self
            .call(Method::GET, &format!("/v1/cases/{case}/events"), |r| {
                r.query(&[("offset", offset.to_string()), ("limit", limit.to_string())])
            })
            .await?;
        Self::decode(res).await
    }

    async fn post_event(&self, case: Uuid, set: &str) -> Result<(), ClientError> {
        let body = set.to_owned();
        self.call(Method::POST, &format!("/v1/cases/{case}/events"), |r| {
            r.header(header::CONTENT_TYPE, "application/jose")
                .body(body.clone())
        })
        .await?;
        Ok(())
    }

    async fn create_submission(
        &self,
        request: &CreateSubmission,
    ) -> Result<SubmissionCreated, ClientError> {
        let res = self
            .call(Method::POST, "/v1/submissions", |r| r.json(request))
            .await?;
        Self::decode(res).await
    }

    async fn upload_attachment(
        &self,
        submission: Uuid,
        attachment: Uuid,
        jwe: &str,
    ) -> Result<(), ClientError> {
        let body = jwe.to_owned();
        self.call(
            Method::PUT,
            &format!("/v1/submissions/{submission}/attachments/{attachment}"),
            |r| {
                r.header(header::CONTENT_TYPE, "application/jose")
                    .body(body.clone())
            },
        )
        .await?;
        Ok(())
    }

    async fn submit(&self, submission: Uuid, body: &SubmitSubmission) -> Result<(), ClientError> {
        self.call(Method::PUT, &format!("/v1/submissions/{submission}"), |r| {
            r.json(body)
        })
        .await?;
        Ok(())
    }

    async fn request_payment(
        &self,
        url: &str,
        request: &PaymentRequest,
    ) -> Result<PaymentTransaction, ClientError> {
        let res = self
            .call_url(Method::POST, url.to_owned(), |r| r.json(request))
            .await?;
        Self::decode(res).await
    }
}

/// Read a case's event log and verify every SET: the service's own events against
/// its JWKS, the destination's events against the destination's signature key
/// (looked up by `kid`). Fails on the first event that does not verify.
pub async fn verify_case_events(
    api: &impl SubmissionApi,
    case: Uuid,
    destination: Uuid,
) -> Result<Vec<crate::set::VerifiedEvent>, EventLogError> {
    let jwks = api.jwks().await?;
    verify_case_events_with(api, &jwks, case, destination).await
}

/// [`verify_case_events`] with the service's key set already at hand (fetched once
/// per sync run instead of once per case).
pub async fn verify_case_events_with(
    api: &impl SubmissionApi,
    jwks: &Jwks,
    case: Uuid,
    destination: Uuid,
) -> Result<Vec<crate::set::VerifiedEvent>, EventLogError> {
    Ok(fetch_case_log(api, jwks, case, destination)
        .await?
        .verify(jwks)?)
}

/// A case's event log as read, with the destination keys its tokens name: the
/// network part of [`verify_case_events_with`]. [`CaseLog::verify`] is the CPU part
/// (PS512 per token), which a caller may run on another thread.
#[derive(Debug, Clone)]
pub struct CaseLog {
    case: Uuid,
    destination: String,
    tokens: Vec<String>,
    dest_keys: std::collections::HashMap<String, PublicJwk>,
}

/// Read a case's event log and the destination keys it names (not in `jwks`).
pub async fn fetch_case_log(
    api: &impl SubmissionApi,
    jwks: &Jwks,
    case: Uuid,
    destination: Uuid,
) -> Result<CaseLog, EventLogError> {
    let tokens = api.all_case_events(case).await?;
    let mut dest_keys: std::collections::HashMap<String, PublicJwk> =
        std::collections::HashMap::new();
    for token in &tokens {
        if let Some(kid) = crate::set::unverified_kid(token)
            && !jwks.keys.iter().any(|k| k.kid == kid)
            && !dest_keys.contains_key(&kid)
            && let Ok(key) = api.destination_key(destination, &kid).await
        {
            dest_keys.insert(kid, key);
        }
    }
    Ok(CaseLog {
        case,
        destination: destination.to_string(),
        tokens,
        dest_keys,
    })
}

impl CaseLog {
    /// Verify every SET: the service's own events against `jwks`, the destination's
    /// against the keys read with the log. Fails on the first that does not verify.
    pub fn verify(
        &self,
        jwks: &Jwks,
    ) -> Result<Vec<crate::set::VerifiedEvent>, crate::set::SetError> {
        let mut out = Vec::with_capacity(self.tokens.len());
        for token in &self.tokens {
            let ev = crate::set::verify(
                token,
                |iss, kid| {
                    if iss == self.destination {
                        self.dest_keys.get(kid).cloned()
                    } else {
                        jwks.keys.iter().find(|k| k.kid == kid).cloned()
                    }
                },
                Some(self.case),
            )?;
            out.push(ev);
        }
        Ok(out)
    }
}

/// Reading or verifying an event log failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventLogError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("Ereignisprotokoll ungültig: {0}")]
    Invalid(#[from] crate::set::SetError),
}

#[cfg(test)]
mod endpoint_tests {
    use super::{check_endpoint, read_bounded};

    /// A one-shot HTTP server on loopback answering with `head` and then `body`
    /// bytes of `x` (streamed in pieces).
    async fn serve_once(head: String, body: usize) -> Result<String, std::io::Error> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/", listener.local_addr()?);
        tokio::spawn(async move {
            if let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(head.as_bytes()).await;
                let piece = vec![b'x'; 4096];
                let mut left = body;
                while left > 0 {
                    let n = left.min(piece.len());
                    if sock.write_all(&piece[..n]).await.is_err() {
                        break;
                    }
                    left -= n;
                }
            }
        });
        Ok(url)
    }

    #[tokio::test]
    async fn bodies_are_read_up_to_a_bound_only() -> Result<(), Box<dyn std::error::Error>> {
        let http = reqwest::Client::new();
        // Announced too large: refused before reading.
        let url = serve_once(
            "HTTP/1.1 200 OK\r\ncontent-length: 2147483648\r\nconnection: close\r\n\r\n".into(),
            10,
        )
        .await?;
        let refused = read_bounded(http.get(&url).send().await?, 1024 * 1024).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("größer als 1 MB")),
            "{refused:?}"
        );
        // No length, a stream that goes on: stopped at the bound.
        let url = serve_once(
            "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".into(),
            3 * 1024 * 1024,
        )
        .await?;
        let refused = read_bounded(http.get(&url).send().await?, 1024 * 1024).await;
        assert!(refused.is_err(), "{refused:?}");
        // Within the bound: read whole.
        let url = serve_once(
            "HTTP/1.1 200 OK\r\ncontent-length: 5000\r\nconnection: close\r\n\r\n".into(),
            5000,
        )
        .await?;
        let body = read_bounded(http.get(&url).send().await?, 1024 * 1024).await?;
        assert_eq!(body.len(), 5000);
        Ok(())
    }

    #[test]
    fn only_https_or_plain_http_to_this_machine() {
        for ok in [
            "https://portal.example.de",
            "https://auth-testing.fit-connect.fitko.dev/token",
            "http://localhost:8080",
            "http://127.0.0.1:4000/token",
            "http://[::1]:9000",
            "HTTP://LOCALHOST",
        ] {
            assert_eq!(check_endpoint(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://localhost.evil.tld",
            "http://127.0.0.1.evil.tld/token",
            "http://localhost@evil.tld",
            "http://portal.example.de",
            "https://user:pw@portal.example.de",
            "ftp://127.0.0.1",
            "127.0.0.1:8080",
            "",
            "https://",
        ] {
            let refused = check_endpoint(bad);
            assert!(
                refused
                    .as_ref()
                    .is_err_and(|e| e.contains("nicht erlaubt") || e.contains("Zugangsdaten")),
                "{bad}: {refused:?}"
            );
        }
    }
}
