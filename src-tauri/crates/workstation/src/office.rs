//! Office mode at this desk: the connection to the town's Rathaus-Server.
//!
//! Connecting ("anschließen") checks the server's office CA against the fingerprint
//! the administration read out with the one-time code, makes a key pair whose
//! private half never leaves this PC, and has the server sign its certificate
//! request. Certificate and key live only inside the encrypted store (setting
//! `buero`). The status asks the server over mutual TLS whether this desk is known.

use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509, X509NameBuilder, X509ReqBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;

use age::secrecy::SecretString;
use domain::{Permission, Role};
use office::keyring::{self, GrantKey, KeyKind, KeyView, PublishKindKey, PublishUserKey};
use office::protocol::{
    EnrolRequest, EnrolResponse, Hello, LoginRequest, ServerRefusal, SessionGrant,
};
use std::collections::BTreeMap;

use crate::{AppError, ErrorCode, Workstation};

pub(crate) const SETTING: &str = "buero";

/// What this desk keeps of its enrolment (inside the encrypted store).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Connection {
    pub(crate) url: String,
    workstation: uuid::Uuid,
    pub(crate) ca_pem: String,
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

impl Connection {
    /// The workstation's id at the server.
    pub(crate) fn id(&self) -> String {
        self.workstation.to_string()
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url)
            .field("workstation", &self.workstation)
            .finish_non_exhaustive()
    }
}

/// The request of the administration to connect this desk.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OfficeConnectRequest {
    /// `https://rathaus-server:8443`
    pub server: String,
    /// The one-time code from `amtsstube-server arbeitsplatz code`.
    pub code: String,
    /// The office CA's SHA-256 fingerprint shown with the code.
    pub fingerprint: String,
    /// How this desk is called in the server's list.
    pub name: String,
}

/// How this desk stands with the Rathaus-Server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum OfficeState {
    /// Standalone: no server configured.
    Allein,
    Verbunden,
    NichtErreichbar,
    /// The server refuses this desk (revoked or unknown certificate).
    Abgewiesen,
    /// Connected, but the user's session at the server has ended (sign in again).
    AnmeldungAbgelaufen,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OfficeStatus {
    pub state: OfficeState,
    pub server: Option<String>,
    pub workstation: Option<String>,
    /// The server's newest feed position (when reachable).
    pub position: Option<i64>,
    /// The feed position this desk has applied for the logged-in user: when it
    /// moves, the lists on screen are read again.
    pub applied: Option<i64>,
    /// German, for the status bar and the CLI.
    pub message: String,
    /// The logged-in user holds a session at the server.
    pub signed_in: bool,
    /// This user's steps waiting for the server, and refused ones not dealt with.
    pub waiting: u32,
    pub conflicts: u32,
}

pub(crate) fn invalid(msg: impl Into<String>) -> AppError {
    AppError::invalid(msg)
}

pub(crate) fn unreachable(url: &str, e: impl std::fmt::Display) -> AppError {
    AppError::new(
        ErrorCode::Storage,
        format!("Der Rathaus-Server {url} ist nicht erreichbar ({e})."),
    )
}

/// `https://host[:port]` without a trailing slash; anything else refused.
fn server_url(raw: &str) -> Result<String, AppError> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| {
        invalid(format!(
            "„{raw}“ ist keine Adresse (z. B. https://rathaus-server:8443)."
        ))
    })?;
    if url.scheme() != "https" || url.host_str().is_none() || url.path() != "/" {
        return Err(invalid(format!(
            "„{raw}“: Der Rathaus-Server wird nur über https:// mit Rechnername und Port angesprochen."
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// 64 hex digits; colons, spaces and case do not matter.
fn fingerprint(raw: &str) -> Result<String, AppError> {
    let hex: String = raw
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(invalid(
            "Der Fingerabdruck besteht aus 64 Hexadezimalziffern (wie ihn „amtsstube-server arbeitsplatz code“ zeigt).",
        ));
    }
    Ok(hex)
}

fn ca_fingerprint(pem: &str) -> Result<String, AppError> {
    let cert = X509::from_pem(pem.as_bytes())
        .map_err(|_| invalid("Der Server lieferte kein lesbares Zertifikat der Büro-CA."))?;
    let der = cert
        .to_der()
        .map_err(|_| invalid("Das Zertifikat der Büro-CA ist unlesbar."))?;
    Ok(hex::encode(Sha256::digest(der)))
}

/// A P-256 key pair and a certificate request for `name` (PEM request, PKCS#8 key).
fn certificate_request(name: &str) -> Result<(String, String), AppError> {
    let crypto = |e: openssl::error::ErrorStack| invalid(format!("Schlüssel nicht erzeugbar: {e}"));
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(crypto)?;
    let key = PKey::from_ec_key(EcKey::generate(&group).map_err(crypto)?).map_err(crypto)?;
    let mut subject = X509NameBuilder::new().map_err(crypto)?;
    subject
        .append_entry_by_nid(Nid::COMMONNAME, name)
        .map_err(crypto)?;
    let mut req = X509ReqBuilder::new().map_err(crypto)?;
    req.set_subject_name(&subject.build()).map_err(crypto)?;
    req.set_pubkey(&key).map_err(crypto)?;
    req.sign(&key, MessageDigest::sha256()).map_err(crypto)?;
    let csr = req.build().to_pem().map_err(crypto)?;
    let pkcs8 = key.private_key_to_pem_pkcs8().map_err(crypto)?;
    Ok((
        String::from_utf8_lossy(&csr).into_owned(),
        String::from_utf8_lossy(&pkcs8).into_owned(),
    ))
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::new(ErrorCode::Storage, format!("Netzwerk nicht startbar: {e}")))
}

pub(crate) fn client(
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> Result<reqwest::Client, AppError> {
    let root = reqwest::Certificate::from_pem(ca_pem.as_bytes())
        .map_err(|_| invalid("Das Zertifikat der Büro-CA ist unlesbar."))?;
    let mut b = reqwest::Client::builder()
        .tls_certs_only([root])
        .timeout(std::time::Duration::from_secs(15));
    if let Some((cert, key)) = identity {
        b = b.identity(
            reqwest::Identity::from_pkcs8_pem(cert.as_bytes(), key.as_bytes())
                .map_err(|_| invalid("Das Zertifikat dieses Arbeitsplatzes ist unlesbar."))?,
        );
    }
    b.build()
        .map_err(|e| AppError::new(ErrorCode::Storage, format!("TLS nicht einrichtbar: {e}")))
}

/// The server's German refusal, or a generic one with the status.
pub(crate) async fn refusal(resp: reqwest::Response) -> AppError {
    let status = resp.status();
    let text = resp
        .json::<ServerRefusal>()
        .await
        .map(|r| r.fehler)
        .unwrap_or_else(|_| format!("Der Rathaus-Server antwortete mit {status}."));
    let code = match status.as_u16() {
        401 | 403 => ErrorCode::Forbidden,
        _ => ErrorCode::InvalidInput,
    };
    AppError::new(code, text)
}

async fn enrol(
    req: &OfficeConnectRequest,
    url: &str,
    expected: &str,
    deposit: &SecretString,
) -> Result<Connection, AppError> {
    use age::secrecy::ExposeSecret;
    // The CA is public; fetched without trusting anything and then pinned by the
    // fingerprint the administration read out.
    let probe = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .map_err(|e| unreachable(url, e))?;
    let ca_pem = probe
        .get(format!("{url}/v1/ca"))
        .send()
        .await
        .map_err(|e| unreachable(url, e))?
        .text()
        .await
        .map_err(|e| unreachable(url, e))?;
    if ca_fingerprint(&ca_pem)? != expected {
        return Err(invalid(
            "Der Fingerabdruck der Büro-CA stimmt nicht mit dem angegebenen überein. Möglicherweise antwortet ein falscher Server; nichts wurde gespeichert.",
        ));
    }
    let (csr, key_pem) = certificate_request(&req.name)?;
    let resp = client(&ca_pem, None)?
        .post(format!("{url}/v1/arbeitsplatz"))
        .json(&EnrolRequest {
            code: req.code.trim().to_string(),
            name: req.name.trim().to_string(),
            csr,
            schluessel: Some(deposit.expose_secret().to_string()),
        })
        .send()
        .await
        .map_err(|e| unreachable(url, e))?;
    if !resp.status().is_success() {
        return Err(refusal(resp).await);
    }
    let enrolled: EnrolResponse = resp
        .json()
        .await
        .map_err(|_| invalid("Die Antwort des Rathaus-Servers ist unlesbar."))?;
    Ok(Connection {
        url: url.to_string(),
        workstation: enrolled.id,
        ca_pem,
        cert_pem: enrolled.certificate,
        key_pem,
    })
}

async fn hello(c: &Connection, token: Option<&str>) -> OfficeStatus {
    let status = |state, position, message: String| OfficeStatus {
        state,
        server: Some(c.url.clone()),
        workstation: Some(c.workstation.to_string()),
        position,
        applied: None,
        message,
        signed_in: token.is_some(),
        waiting: 0,
        conflicts: 0,
    };
    let http = match client(&c.ca_pem, Some((&c.cert_pem, &c.key_pem))) {
        Ok(h) => h,
        Err(e) => return status(OfficeState::Abgewiesen, None, e.message),
    };
    let mut request = http.get(format!("{}/v1/hallo", c.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(resp) if resp.status().is_success() => match resp.json::<Hello>().await {
            Ok(h) if h.session == Some(false) => {
                let mut s = status(
                    OfficeState::AnmeldungAbgelaufen,
                    Some(h.position),
                    "Die Anmeldung am Rathaus-Server ist abgelaufen. Bitte melden Sie sich dort erneut an („Am Rathaus-Server anmelden“); wartende Schritte bleiben erhalten.".into(),
                );
                s.signed_in = false;
                s
            }
            Ok(h) => status(
                OfficeState::Verbunden,
                Some(h.position),
                if token.is_some() {
                    format!("Verbunden mit dem Rathaus-Server {}.", c.url)
                } else {
                    format!(
                        "Verbunden mit dem Rathaus-Server {} (nicht angemeldet).",
                        c.url
                    )
                },
            ),
            Err(_) => status(
                OfficeState::NichtErreichbar,
                None,
                "Die Antwort des Rathaus-Servers ist unlesbar.".into(),
            ),
        },
        Ok(resp) => {
            let e = refusal(resp).await;
            status(OfficeState::Abgewiesen, None, e.message)
        }
        // A refused handshake (unknown or expired certificate) looks like a broken
        // connection from here; the server's audit names the reason.
        Err(e) if e.is_connect() || e.is_timeout() => status(
            OfficeState::NichtErreichbar,
            None,
            format!("Rathaus-Server nicht erreichbar ({}).", c.url),
        ),
        Err(_) => status(
            OfficeState::Abgewiesen,
            None,
            "Der Rathaus-Server lehnt die Verbindung ab (Zertifikat abgelaufen oder gesperrt?). Bitte an die Administration wenden.".into(),
        ),
    }
}

/// Signing in at the server, prepared under the workstation's lock.
pub struct OfficeSignInJob {
    connection: Connection,
    user: domain::UserName,
    kept: Option<KeptKeys>,
}

/// The result of [`OfficeSignInJob::run`], to hand to
/// [`Workstation::office_sign_in_finish`]. Holds unwrapped keys: dropped, they are zeroed.
pub struct OfficeSignedIn {
    user: domain::UserName,
    report: OfficeSignIn,
    signed_in: SignedIn,
}

impl OfficeSignInJob {
    /// Sign in over the network (up to 15 s per request when the server is away).
    pub fn run(self, password: String) -> Result<OfficeSignedIn, AppError> {
        let password = SecretString::from(password);
        let (report, signed_in) =
            runtime()?.block_on(sign_in(&self.connection, self.user.as_str(), &password))?;
        Ok(OfficeSignedIn {
            user: self.user,
            report,
            signed_in,
        })
    }

    /// As [`OfficeSignInJob::run`]; when the server does not answer, the keys this
    /// desk keeps for the user are opened with the password instead, so the
    /// screens show content while the server is away (the app's login).
    pub fn run_or_kept(self, password: String) -> Result<OfficeSignedIn, AppError> {
        let secret = SecretString::from(password.clone());
        let kept = self.kept.clone();
        let user = self.user.clone();
        match self.run(password) {
            Err(e) if e.code == ErrorCode::Storage => match kept {
                Some(k) => {
                    let (report, signed_in) = k.open(&secret)?;
                    Ok(OfficeSignedIn {
                        user,
                        report,
                        signed_in,
                    })
                }
                None => Err(e),
            },
            other => other,
        }
    }
}

/// This login's session at the Rathaus-Server and the kind keys it may use;
/// dropped at logout (the identities are `SecretString`s, zeroed on drop).
#[derive(Default)]
pub(crate) struct SignedIn {
    pub(crate) token: Option<String>,
    pub(crate) kinds: BTreeMap<KeyKind, SecretString>,
    /// Every kind's public recipient (to encrypt notes and reasons to).
    pub(crate) recipients: BTreeMap<KeyKind, String>,
    /// The role the server holds for this user.
    pub(crate) role: Option<Role>,
    /// This user's replica, loaded at the first synchronisation.
    pub(crate) replica: Option<office::replica::Replica>,
    /// Case content opened for the screens (in memory only, for this login).
    pub(crate) opened: std::collections::HashMap<uuid::Uuid, crate::desk::OnlineContent>,
    /// The keys to keep for a login while the server is away (set by a sign-in).
    pub(crate) kept: Option<KeptKeys>,
    /// The documents the server holds per case, as last fetched (no content).
    pub(crate) fetched: std::collections::HashMap<uuid::Uuid, Vec<crate::desk::OfficeDocumentInfo>>,
}

/// What signing in at the Rathaus-Server did (no secrets).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OfficeSignIn {
    /// The role the server holds for the user.
    pub role: Role,
    pub expires_at: String,
    /// The user key was made and published now (first sign-in).
    pub published_key: bool,
    /// Kind keys created now (the first Leitung).
    pub created: Vec<String>,
    /// Keys handed on now (Leitung): "fall für anna".
    pub granted: Vec<String>,
    /// The kinds of content this user can open.
    pub holds: Vec<String>,
    /// The server did not answer: the keys this desk keeps for the user were
    /// opened with the password instead (content readable, nothing sent until a
    /// sign-in at the server succeeds).
    pub offline: bool,
}

/// The user's keys as the server holds them, kept in the encrypted store so that
/// a login while the server is away still opens content: the own identity wrapped
/// with the password (scrypt), the kinds wrapped to that identity. Useless
/// without the password; replaced at every sign-in.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct KeptKeys {
    own: office::Ciphertext,
    grants: BTreeMap<KeyKind, office::Ciphertext>,
    recipients: BTreeMap<KeyKind, String>,
    role: Role,
}

/// Setting prefix: [`KeptKeys`] per user.
const KEPT: &str = "buero.schluessel.";

impl KeptKeys {
    /// Open the kept keys with the password, as a sign-in without the server.
    fn open(&self, password: &SecretString) -> Result<(OfficeSignIn, SignedIn), AppError> {
        let me = keyring::unwrap_with_password(&self.own, password).map_err(refused)?;
        let mut kinds = BTreeMap::new();
        for (kind, wrapped) in &self.grants {
            kinds.insert(*kind, keyring::unwrap_grant(wrapped, &me).map_err(refused)?);
        }
        let report = OfficeSignIn {
            role: self.role,
            expires_at: String::new(),
            published_key: false,
            created: Vec::new(),
            granted: Vec::new(),
            holds: kinds.keys().map(|k| k.as_str().to_string()).collect(),
            offline: true,
        };
        Ok((
            report,
            SignedIn {
                kinds,
                recipients: self.recipients.clone(),
                role: Some(self.role),
                ..SignedIn::default()
            },
        ))
    }
}

/// scrypt work factor of the user key's wrapping (as the local key files).
const USER_KEY_LOG_N: u8 = 17;

fn refused(r: office::Refusal) -> AppError {
    AppError::new(ErrorCode::Forbidden, r.reason)
}

async fn post<T: Serialize>(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &T,
) -> Result<reqwest::Response, AppError> {
    let resp = http
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .map_err(|e| unreachable(url, e))?;
    if resp.status().is_success() {
        Ok(resp)
    } else {
        Err(refusal(resp).await)
    }
}

async fn key_view(
    http: &reqwest::Client,
    c: &Connection,
    token: &str,
) -> Result<KeyView, AppError> {
    let url = format!("{}/v1/schluessel", c.url);
    let resp = http
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| unreachable(&url, e))?;
    if !resp.status().is_success() {
        return Err(refusal(resp).await);
    }
    resp.json()
        .await
        .map_err(|_| invalid("Die Schlüsselangaben des Rathaus-Servers sind unlesbar."))
}

/// Sign in at the server, then bring the key ring in order for this user: publish
/// the own key at the first sign-in; as Leitung create missing kind keys and hand
/// them to everybody whose role may hold them; unwrap what this user may open.
async fn sign_in(
    c: &Connection,
    user: &str,
    password: &SecretString,
) -> Result<(OfficeSignIn, SignedIn), AppError> {
    use age::secrecy::ExposeSecret;
    let http = client(&c.ca_pem, Some((&c.cert_pem, &c.key_pem)))?;
    let url = format!("{}/v1/sitzung", c.url);
    let resp = http
        .post(&url)
        .json(&LoginRequest {
            user: user.to_string(),
            password: password.expose_secret().to_string(),
        })
        .send()
        .await
        .map_err(|e| unreachable(&c.url, e))?;
    if !resp.status().is_success() {
        return Err(refusal(resp).await);
    }
    let grant: SessionGrant = resp
        .json()
        .await
        .map_err(|_| invalid("Die Anmeldung am Rathaus-Server lieferte eine unlesbare Antwort."))?;
    let token = grant.token;
    let mut view = key_view(&http, c, &token).await?;
    let mut report = OfficeSignIn {
        role: grant.role,
        expires_at: grant.expires_at,
        published_key: false,
        created: Vec::new(),
        granted: Vec::new(),
        holds: Vec::new(),
        offline: false,
    };
    let mut own_wrapped = view.own.as_ref().map(|o| o.wrapped.clone());
    let (me, my_recipient) = match &view.own {
        Some(own) => (
            keyring::unwrap_with_password(&own.wrapped, password).map_err(refused)?,
            own.recipient.clone(),
        ),
        None => {
            let (identity, recipient) = keyring::generate();
            let wrapped = keyring::wrap_with_password(&identity, password, USER_KEY_LOG_N)
                .map_err(refused)?;
            own_wrapped = Some(wrapped.clone());
            post(
                &http,
                &format!("{}/v1/schluessel/benutzer", c.url),
                &token,
                &PublishUserKey {
                    recipient: recipient.clone(),
                    wrapped,
                },
            )
            .await?;
            report.published_key = true;
            (identity, recipient)
        }
    };
    if keyring::may_grant(grant.role) {
        for kind in KeyKind::ALL {
            if view.kinds.contains_key(&kind) {
                continue;
            }
            let (identity, recipient) = keyring::generate();
            let own_grant = keyring::wrap_for(&identity, &my_recipient).map_err(refused)?;
            post(
                &http,
                &format!("{}/v1/schluessel/art", c.url),
                &token,
                &PublishKindKey {
                    kind,
                    recipient,
                    own_grant,
                },
            )
            .await?;
            report.created.push(kind.as_str().to_string());
        }
        view = key_view(&http, c, &token).await?;
    }
    let mut kinds = BTreeMap::new();
    for (kind, wrapped) in &view.grants {
        kinds.insert(*kind, keyring::unwrap_grant(wrapped, &me).map_err(refused)?);
    }
    if keyring::may_grant(grant.role) {
        for (kind, user) in view.due() {
            let (Some(identity), Some(to)) = (
                kinds.get(&kind),
                view.holders
                    .iter()
                    .find(|h| h.name == user)
                    .and_then(|h| h.recipient.clone()),
            ) else {
                continue;
            };
            let wrapped = keyring::wrap_for(identity, &to).map_err(refused)?;
            post(
                &http,
                &format!("{}/v1/schluessel/freigabe", c.url),
                &token,
                &GrantKey {
                    kind,
                    user: user.clone(),
                    wrapped,
                },
            )
            .await?;
            report.granted.push(format!("{} für {user}", kind.as_str()));
        }
    }
    report.holds = kinds.keys().map(|k| k.as_str().to_string()).collect();
    let kept = own_wrapped.map(|own| KeptKeys {
        own,
        grants: view.grants.clone(),
        recipients: view.kinds.clone(),
        role: grant.role,
    });
    Ok((
        report,
        SignedIn {
            token: Some(token),
            kinds,
            recipients: view.kinds.clone(),
            role: Some(grant.role),
            kept,
            ..SignedIn::default()
        },
    ))
}

impl Workstation {
    /// Sign in at the Rathaus-Server as the logged-in user (same password) and put
    /// the key ring in order (see [`sign_in`]). The session and the kind keys are
    /// kept in memory until logout.
    pub fn office_sign_in(&mut self, password: String) -> Result<OfficeSignIn, AppError> {
        let Some(job) = self.office_sign_in_job()? else {
            return Err(invalid(
                "Dieser Arbeitsplatz ist an keinen Rathaus-Server angeschlossen.",
            ));
        };
        let done = job.run(password)?;
        self.office_sign_in_finish(done)
    }

    /// What signing in needs, read from the store; `None` standalone. The network
    /// part ([`OfficeSignInJob::run`]) then runs without holding the workstation.
    pub fn office_sign_in_job(&self) -> Result<Option<OfficeSignInJob>, AppError> {
        let user = self.me()?;
        let kept = self
            .session_with(Permission::RunSync)?
            .setting(&format!("{KEPT}{user}"))?
            .and_then(|j| serde_json::from_str(&j).ok());
        Ok(self.connection()?.map(|connection| OfficeSignInJob {
            connection,
            kept,
            user,
        }))
    }

    /// Keep what signing in brought, if the same user is still logged in.
    pub fn office_sign_in_finish(
        &mut self,
        done: OfficeSignedIn,
    ) -> Result<OfficeSignIn, AppError> {
        if self.me()? != done.user {
            return Err(AppError::locked());
        }
        let (report, mut signed_in) = (done.report, done.signed_in);
        let kept = signed_in
            .kept
            .take()
            .map(|k| serde_json::to_string(&k))
            .transpose()
            .map_err(|_| invalid("Die Schlüsselangaben sind nicht speicherbar."))?;
        let recipients = serde_json::to_string(&signed_in.recipients)
            .map_err(|_| invalid("Die Schlüsselangaben sind nicht speicherbar."))?;
        self.office = signed_in;
        let session = self.session_with_mut(Permission::RunSync)?;
        if session.setting(crate::desk::RECIPIENTS)?.as_deref() != Some(recipients.as_str()) {
            session.set_setting(crate::desk::RECIPIENTS, &recipients)?;
        }
        let kept_key = format!("{KEPT}{}", done.user);
        if let Some(kept) = kept
            && session.setting(&kept_key)?.as_deref() != Some(kept.as_str())
        {
            session.set_setting(&kept_key, &kept)?;
        }
        session.audit(
            if report.offline {
                "buero.anmeldung.ohne-server"
            } else {
                "buero.anmeldung"
            },
            &format!(
                "Rolle {}, Schlüssel: {}",
                report.role,
                report.holds.join(", ")
            ),
        )?;
        Ok(report)
    }

    /// Open content of the given kind with this login's keys (office mode).
    pub fn office_open(
        &self,
        kind: KeyKind,
        content: &office::Ciphertext,
    ) -> Result<Vec<u8>, AppError> {
        let identity = self.office.kinds.get(&kind).ok_or_else(|| {
            AppError::new(
                ErrorCode::Forbidden,
                format!(
                    "Mit dieser Anmeldung lassen sich keine {} öffnen.",
                    kind.label()
                ),
            )
        })?;
        keyring::open(content, identity).map_err(refused)
    }

    /// Whether this login holds a server session (the status bar's "angemeldet").
    pub fn office_signed_in(&self) -> bool {
        self.office.token.is_some()
    }

    pub(crate) fn connection(&self) -> Result<Option<Connection>, AppError> {
        let session = self.session_with(Permission::RunSync)?;
        match session.setting(SETTING)? {
            None => Ok(None),
            Some(json) => serde_json::from_str(&json).map(Some).map_err(|_| {
                AppError::new(
                    ErrorCode::Storage,
                    "Die gespeicherte Verbindung zum Rathaus-Server ist beschädigt.",
                )
            }),
        }
    }

    /// Connect this desk to the Rathaus-Server (administration): check the office
    /// CA by its fingerprint, enrol with the one-time code, keep the certificate.
    pub fn office_connect(&mut self, req: OfficeConnectRequest) -> Result<OfficeStatus, AppError> {
        self.session_with(Permission::ConfigurePortal)?;
        let url = server_url(&req.server)?;
        let expected = fingerprint(&req.fingerprint)?;
        if req.name.trim().is_empty() || req.name.chars().count() > 80 {
            return Err(invalid(
                "Bitte einen Namen für diesen Arbeitsplatz angeben (höchstens 80 Zeichen).",
            ));
        }
        if let Some(c) = self.connection()? {
            return Err(AppError::new(
                ErrorCode::Conflict,
                format!("Dieser Arbeitsplatz ist schon an {} angeschlossen.", c.url),
            ));
        }
        let rt = runtime()?;
        // The desk's deposit goes with the enrolment: users new at the server can
        // log in here from the start.
        let deposit = self
            .session_with_mut(Permission::ConfigurePortal)?
            .deposit_for_server()?;
        let connection = rt.block_on(enrol(&req, &url, &expected, &deposit))?;
        let json = serde_json::to_string(&connection)
            .map_err(|e| AppError::new(ErrorCode::Storage, e.to_string()))?;
        self.write_pre_login(&connection)?;
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        session.set_setting(SETTING, &json)?;
        session.set_setting(crate::desk::DEPOSITED, &connection.id())?;
        session.audit(
            "buero.angeschlossen",
            &format!("{url} {}", connection.workstation),
        )?;
        Ok(rt.block_on(hello(&connection, None)))
    }

    /// How this desk stands with the Rathaus-Server (every role: the status bar).
    /// Holds the workstation while it asks; the app uses [`Workstation::office_probe`].
    pub fn office_status(&self) -> Result<OfficeStatus, AppError> {
        self.office_probe()?.check()
    }

    /// What is needed to ask the server, read quickly from the store, so that the
    /// network call can run without holding the workstation.
    pub fn office_probe(&self) -> Result<OfficeProbe, AppError> {
        let connection = self.connection()?;
        let counts = match &connection {
            Some(_) => Some(self.session_with(Permission::RunSync)?.replica_counts()?),
            None => None,
        };
        Ok(OfficeProbe {
            connection,
            token: self.office.token.clone(),
            counts,
        })
    }

    /// The server said this login's session has ended: forget the token (the next
    /// status asks without it; steps keep waiting until the next sign-in).
    pub fn office_session_ended(&mut self) {
        self.office.token = None;
    }
}

/// The stored connection and this login's session, ready to ask the server
/// ([`OfficeProbe::check`]) without holding the workstation.
pub struct OfficeProbe {
    connection: Option<Connection>,
    token: Option<String>,
    counts: Option<store::ReplicaCounts>,
}

impl std::fmt::Debug for OfficeProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfficeProbe")
            .field("connection", &self.connection)
            .field("signed_in", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

impl OfficeProbe {
    /// Ask the server (up to 15 s when it does not answer).
    pub fn check(self) -> Result<OfficeStatus, AppError> {
        let Some(c) = self.connection else {
            return Ok(OfficeStatus {
                state: OfficeState::Allein,
                server: None,
                workstation: None,
                position: None,
                applied: None,
                message: "Allein an diesem PC (kein Rathaus-Server).".into(),
                signed_in: false,
                waiting: 0,
                conflicts: 0,
            });
        };
        let mut status = runtime()?.block_on(hello(&c, self.token.as_deref()));
        if let Some(counts) = self.counts {
            status.waiting = counts.waiting;
            status.conflicts = counts.conflicts;
            status.applied = counts.cursor;
        }
        Ok(status)
    }
}

/// What a desk keeps of its connection beside the key files, for a login before
/// any session (a user new at the server): the server's address, the office CA
/// (public) and the workstation's id – no key. The first login goes without a
/// client certificate; the server checks the password and hands out the desk's
/// deposit, which opens only the file on this disk.
#[derive(Serialize, Deserialize)]
struct PreLogin {
    url: String,
    workstation: uuid::Uuid,
    ca_pem: String,
}

impl Workstation {
    /// Keep the connection for logins before any session.
    pub(crate) fn write_pre_login(&self, c: &Connection) -> Result<(), AppError> {
        let json = serde_json::to_vec(&PreLogin {
            url: c.url.clone(),
            workstation: c.workstation,
            ca_pem: c.ca_pem.clone(),
        })
        .map_err(|e| AppError::new(ErrorCode::Storage, e.to_string()))?;
        Ok(self.store.write_office_connection(&json)?)
    }

    pub(crate) fn has_pre_login(&self) -> bool {
        matches!(self.store.office_connection(), Ok(Some(_)))
    }

    /// A login this desk cannot answer (a user new at the server, or a password
    /// changed there): the server checks the password; then the desk's deposit
    /// opens the store and the local account is made or brought up to date. `None`
    /// when this desk is not connected or the server cannot be reached or refuses.
    pub(crate) fn office_first_login(
        &self,
        user: &domain::UserName,
        password: &SecretString,
    ) -> Option<store::Session> {
        use age::secrecy::ExposeSecret;
        let bytes = self.store.office_connection().ok()??;
        let c: PreLogin = serde_json::from_slice(&bytes).ok()?;
        let http = client(&c.ca_pem, None).ok()?;
        let rt = runtime().ok()?;
        let grant = rt.block_on(async {
            let resp = http
                .post(format!("{}/v1/erstanmeldung", c.url))
                .timeout(std::time::Duration::from_secs(10))
                .json(&office::protocol::FirstLogin {
                    workstation: c.workstation,
                    user: user.as_str().to_string(),
                    password: password.expose_secret().to_string(),
                })
                .send()
                .await
                .ok()?;
            if !resp.status().is_success() {
                return None;
            }
            resp.json::<office::protocol::FirstLoginGrant>().await.ok()
        })?;
        match self.store.unlock_from_server(
            &SecretString::from(grant.schluessel),
            user,
            user.as_str(),
            grant.role,
            password,
        ) {
            Ok(session) => Some(session),
            Err(e) => {
                tracing::warn!("Anmeldung über den Rathaus-Server nicht möglich: {e}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_fingerprints_are_checked() {
        assert_eq!(
            server_url("https://rathaus:8443/").unwrap(),
            "https://rathaus:8443"
        );
        for bad in [
            "http://rathaus:8443",
            "rathaus",
            "https://rathaus/pfad",
            "file:///etc",
        ] {
            assert!(server_url(bad).is_err(), "{bad}");
        }
        let fp = "AB:".repeat(31) + "AB";
        assert_eq!(fingerprint(&fp).unwrap(), "ab".repeat(32));
        assert!(fingerprint("abc").is_err());
        assert!(fingerprint(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn a_request_keeps_its_key_and_names_the_desk() {
        let (csr, key) = certificate_request("Bürgerbüro 1").unwrap();
        assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        let req = openssl::x509::X509Req::from_pem(csr.as_bytes()).unwrap();
        let pk = req.public_key().unwrap();
        assert!(req.verify(&pk).unwrap());
        let c = Connection {
            url: "https://x:1".into(),
            workstation: uuid::Uuid::nil(),
            ca_pem: String::new(),
            cert_pem: String::new(),
            key_pem: key,
        };
        assert!(!format!("{c:?}").contains("PRIVATE"));
    }
}
