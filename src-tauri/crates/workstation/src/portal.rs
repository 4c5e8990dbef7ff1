//! The portal connection: settings kept inside the encrypted database, and a
//! synchronisation run (pickup, then delivery of the outbox).

use std::sync::Arc;
use std::time::Duration;

use fitconnect::client::{ClientConfig, V1Client};
use serde::Serialize;
use sync::Subscriber;
use ts_rs::TS;

use crate::error::AppError;

/// Connection to a FIT-Connect destination as its subscriber (secrets included),
/// plus where answers go: stored only inside the encrypted database, never logged.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortalSettings {
    #[serde(flatten)]
    pub subscriber: fitconnect::client::SubscriberSettings,
    /// Rückkanal: the destination of the citizens' portal mailbox. Without it letters
    /// go by post only.
    #[serde(default)]
    pub reply_destination_id: Option<uuid::Uuid>,
    /// The portal's payment service (payment-transaction endpoint). Without it fees
    /// are booked with the cash system only.
    #[serde(default)]
    pub payment_url: Option<String>,
}

impl std::ops::Deref for PortalSettings {
    type Target = fitconnect::client::SubscriberSettings;
    fn deref(&self) -> &Self::Target {
        &self.subscriber
    }
}

pub(crate) const SETTING: &str = "portal";

fn invalid(msg: impl Into<String>) -> AppError {
    AppError::invalid(msg)
}

/// Parse and check settings given as JSON.
pub fn parse_settings(json: &str) -> Result<PortalSettings, AppError> {
    let s: PortalSettings = serde_json::from_str(json).map_err(|e| {
        invalid(format!(
            "Die Portal-Einstellungen sind unvollständig oder fehlerhaft (Zeile {}): {}",
            e.line(),
            crate::error::german_serde(&e.to_string())
        ))
    })?;
    for url in [&s.api_url, &s.token_url]
        .into_iter()
        .chain(s.payment_url.as_ref())
    {
        fitconnect::client::check_endpoint(url).map_err(invalid)?;
    }
    if s.client_id.trim().is_empty() || s.client_secret.trim().is_empty() {
        return Err(invalid(
            "Client-ID und Client-Secret müssen angegeben sein.",
        ));
    }
    Subscriber::from_settings(&s).map_err(invalid)?;
    Ok(s)
}

/// What a synchronisation did (no personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SyncSummary {
    pub new_cases: u32,
    pub follow_ups: u32,
    pub quarantined: u32,
    pub delivered: u32,
    pub pending: u32,
    pub failed: u32,
    /// online / gestört / offline / Anmeldung fehlerhaft
    pub connectivity: String,
    /// German message if the portal could not be reached; the work goes on offline.
    pub problem: Option<String>,
}

/// What the status indicator shows (no personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SyncStatus {
    /// Is a portal connection set up?
    pub configured: bool,
    /// Result of the last synchronisation in this session: online / gestört / offline /
    /// Anmeldung fehlerhaft; `None` before the first one.
    pub connectivity: Option<String>,
    /// Last synchronisation that reached the portal (RFC 3339).
    pub last_success: Option<String>,
    /// Outbox items waiting and failed.
    pub pending: u32,
    pub failed: u32,
    /// A background run is going on, and how far it is.
    pub running: bool,
    pub progress: Option<crate::background::SyncProgress>,
    /// Next scheduled run (RFC 3339), if the scheduler runs.
    pub next_run: Option<String>,
}

impl SyncStatus {
    /// Add what the background scheduler knows.
    pub fn with_background(mut self, bg: &crate::background::BackgroundState) -> Self {
        self.running = bg.running;
        self.progress = bg.progress.clone();
        self.next_run = bg.next_run.clone();
        self
    }
}

/// Everything a run needs besides the store, prepared under the workstation lock.
pub struct SyncJob {
    api: V1Client,
    client: ClientConfig,
    sub: Subscriber,
    /// The town's SMTP relay for answers by e-mail, if set up.
    mail: Option<sync::mail::Relay>,
    /// The town's BPKI key pair for answers to BundID mailboxes, if set up.
    bundid: Option<fitconnect::zbp::Author>,
    /// The mailbox the relay's late bounces arrive in, if set up.
    bounce: Option<sync::bounce::BounceBox>,
    /// The user the run works for (a shared store checks it is still logged in).
    pub(crate) user: domain::UserName,
    /// Poll interval.
    pub poll: Duration,
    /// Seals what is fetched after the logout (kept in memory only).
    staging: Option<Arc<store::StagingKey>>,
    /// The session may not store case content (a split store without the case
    /// key): a run only fetches ahead into the staging folder, still encrypted.
    pub(crate) prefetch_only: bool,
}

/// Default poll interval: five minutes.
pub const DEFAULT_POLL_SECONDS: u64 = 300;
pub(crate) const POLL_SETTING: &str = "sync_poll_seconds";

pub(crate) fn job(
    settings: &PortalSettings,
    mail: Option<sync::mail::Relay>,
    bundid: Option<fitconnect::zbp::Author>,
    user: domain::UserName,
    poll: Duration,
) -> Result<SyncJob, AppError> {
    let sub = Subscriber::from_settings(settings).map_err(invalid)?;
    let client = sync::client_config(settings, Duration::from_secs(60));
    let api = V1Client::new(client.clone()).map_err(|e| invalid(e.to_string()))?;
    Ok(SyncJob {
        api,
        client,
        sub,
        mail,
        bundid,
        bounce: None,
        user,
        poll,
        staging: None,
        prefetch_only: false,
    })
}

/// What the last run said, plus what the scheduler needs to plan the next one.
pub struct Ran {
    pub summary: SyncSummary,
    pub retry_after: Option<Duration>,
}

impl SyncJob {
    /// One run (pickup, then delivery) against `store`.
    pub async fn run(
        &self,
        store: &mut impl sync::SyncStore,
        progress: impl FnMut(sync::Progress),
    ) -> Result<Ran, AppError> {
        let mut machine =
            sync::Machine::randomly_seeded(sync::Mode::Full, sync::PushPolicy::default());
        let (report, _) = sync::run_with(
            &self.api,
            store,
            &self.sub,
            sync::Channels {
                mail: self.mail.as_ref(),
                bundid: self.bundid.as_ref(),
            },
            &mut machine,
            progress,
        )
        .await?;
        let mut problem = report.problem.clone();
        // Late bounces of e-mails sent earlier; the mailbox's trouble does not
        // stop the run, it is said with it.
        if let (Some(b), Some(_)) = (&self.bounce, &self.mail) {
            match sync::bounce::check(b, store).await {
                Ok(c) if c.recorded > 0 => {
                    tracing::info!(
                        "{} nachträglich unzustellbare E-Mail(s) vermerkt",
                        c.recorded
                    )
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("Postfach für Rückläufer: {e}");
                    problem.get_or_insert_with(|| format!("Postfach für Rückläufer: {e}"));
                }
            }
        }
        Ok(Ran {
            summary: SyncSummary {
                new_cases: report.new_cases as u32,
                follow_ups: report.follow_ups as u32,
                quarantined: report.quarantined as u32,
                delivered: (report.delivered + report.confirmed_by_log) as u32,
                pending: 0,
                failed: 0,
                connectivity: machine.connectivity().label().to_owned(),
                problem,
            },
            retry_after: report.retry_after,
        })
    }
}

/// Fetching while nobody is logged in: the portal client only (token credentials),
/// no decryption or signature keys – what it fetches stays encrypted.
pub struct Prefetcher {
    api: V1Client,
    destination: uuid::Uuid,
    pub poll: Duration,
    key: Arc<store::StagingKey>,
}

impl SyncJob {
    /// The fetcher for after the logout: `None` without the session's staging key.
    pub fn prefetcher(&self) -> Result<Option<Prefetcher>, AppError> {
        let Some(key) = self.staging.clone() else {
            return Ok(None);
        };
        Ok(Some(Prefetcher {
            api: V1Client::new(self.client.clone()).map_err(|e| invalid(e.to_string()))?,
            destination: self.sub.destination_id,
            poll: self.poll,
            key,
        }))
    }
}

impl Prefetcher {
    /// Stage what waits at the portal into the (locked) store.
    pub async fn run(&self, store: &store::Store) -> Result<usize, sync::SyncError> {
        sync::staging::prefetch(&self.api, store, &self.key, self.destination).await
    }
}

/// What a run of a session without the case key says: what it fetched ahead.
pub(crate) fn prefetched(staged: usize) -> SyncSummary {
    SyncSummary {
        new_cases: 0,
        follow_ups: 0,
        quarantined: 0,
        delivered: 0,
        pending: 0,
        failed: 0,
        connectivity: "online".into(),
        problem: Some(format!(
            "{staged} Antrag/Anträge verschlüsselt vorab abgerufen. Übernommen und beantwortet \
             wird bei der nächsten Anmeldung aus Sachbearbeitung oder Leitung."
        )),
    }
}

/// A run on the calling thread, with the session held throughout (CLI).
pub(crate) fn run_blocking(
    session: &mut store::Session,
    job: &SyncJob,
) -> Result<SyncSummary, AppError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            AppError::new(
                crate::ErrorCode::Storage,
                format!("Synchronisation nicht startbar: {e}"),
            )
        })?;
    if job.prefetch_only {
        let staged = match job.prefetcher()? {
            Some(p) => runtime.block_on(p.run(session.store()))?,
            None => 0,
        };
        return Ok(prefetched(staged));
    }
    let mut summary = runtime.block_on(job.run(session, |_| {}))?.summary;
    let counts = session.outbox_counts()?;
    summary.pending = counts.pending as u32;
    summary.failed = counts.failed as u32;
    Ok(summary)
}

use domain::{Permission, UserName};
use store::{Session, Store};

use crate::{ErrorCode, Workstation};

/// The synchronisation's state in the facade: the outcome of the last run and when
/// the portal was last reached (for the status indicator).
#[derive(Debug, Default)]
pub(crate) struct SyncState {
    last: Option<(String, Option<String>)>,
}

impl Workstation {
    /// The session for the synchronisation: it goes on while the screen is locked.
    fn sync_session_ref(&self) -> Result<&Session, AppError> {
        let session = self.session.as_ref().ok_or_else(AppError::locked)?;
        if session.user().role.may(Permission::RunSync) {
            Ok(session)
        } else {
            Err(AppError::forbidden())
        }
    }

    /// Synchronise now: pick up new applications, then deliver the outbox. When the
    /// portal cannot be reached the summary says so; nothing is lost.
    /// "Jetzt synchronisieren": waiting outbox items are tried at once (their backoff
    /// is for unattended runs), then one run.
    pub fn sync_now(&mut self) -> Result<SyncSummary, AppError> {
        let job = self.prepare_sync()?;
        let session = self.session_with_mut(Permission::RunSync)?;
        if !job.prefetch_only {
            session.outbox_due_now()?;
        }
        let summary = run_blocking(session, &job)?;
        self.record_sync(&summary);
        Ok(summary)
    }

    /// Prepare a synchronisation run for the logged-in user: portal settings and keys.
    pub fn prepare_sync(&self) -> Result<SyncJob, AppError> {
        let session = self.sync_session_ref()?;
        let json = session.setting(SETTING)?.ok_or_else(|| {
            AppError::new(
                ErrorCode::NotFound,
                "Es ist keine Portal-Verbindung eingerichtet. Die Administration richtet sie ein (amtsstube portal configure).",
            )
        })?;
        let settings: PortalSettings =
            serde_json::from_str(&json).map_err(|e| AppError::invalid(e.to_string()))?;
        let poll = session
            .setting(POLL_SETTING)?
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(DEFAULT_POLL_SECONDS);
        let mut job = job(
            &settings,
            crate::mail::relay(session)?,
            crate::bundid::ready(session)?.map(|r| r.author),
            session.user().username.clone(),
            std::time::Duration::from_secs(poll),
        )?;
        job.staging = Some(Arc::new(session.staging_key()?));
        job.bounce = crate::mail::bounce_box(session)?;
        job.prefetch_only = !session.may_store_cases()?;
        Ok(job)
    }

    /// The session a background run of `user` may use: only while that user is
    /// logged in and allowed to synchronise.
    pub fn sync_session(&mut self, user: &UserName) -> Result<&mut Session, AppError> {
        // Not refused while the screen is locked: no data reaches the screen here.
        let session = self.session.as_mut().ok_or_else(AppError::locked)?;
        if !session.user().role.may(Permission::RunSync) {
            return Err(AppError::forbidden());
        }
        if &session.user().username != user {
            return Err(AppError::locked());
        }
        Ok(session)
    }

    /// The data directory as a locked store handle (no key): for staging while
    /// nobody is logged in.
    pub fn store_handle(&self) -> Store {
        self.store.clone()
    }

    /// Make waiting outbox items due at once (a user asked to synchronise now).
    pub fn sync_requested(&mut self) -> Result<(), AppError> {
        let user = self.sync_session_ref()?.user().username.clone();
        self.sync_session(&user)?.outbox_due_now()?;
        Ok(())
    }

    /// Remember the outcome of a run for the status indicator.
    pub fn record_sync(&mut self, summary: &SyncSummary) {
        // What the Administration sees of the outbox and the quarantine (split store).
        if let Some(s) = self.session.as_mut()
            && let Err(e) = s.refresh_overview()
        {
            tracing::warn!("Übersicht für die Administration nicht geschrieben: {e}");
        }
        let previous = self.sync.last.take().and_then(|(_, at)| at);
        let reached = summary
            .problem
            .is_none()
            .then(|| jiff::Timestamp::now().to_string())
            .or(previous);
        self.sync.last = Some((summary.connectivity.clone(), reached));
    }

    /// The state for the status indicator.
    pub fn sync_status(&self) -> Result<SyncStatus, AppError> {
        // No personal data: available while the screen is locked.
        let session = self.sync_session_ref()?;
        let counts = session.outbox_counts()?;
        Ok(SyncStatus {
            configured: session.setting(SETTING)?.is_some(),
            connectivity: self.sync.last.as_ref().map(|(c, _)| c.clone()),
            last_success: self.sync.last.as_ref().and_then(|(_, at)| at.clone()),
            pending: u32::try_from(counts.pending).unwrap_or(u32::MAX),
            failed: u32::try_from(counts.failed).unwrap_or(u32::MAX),
            running: false,
            progress: None,
            next_run: None,
        })
    }
}

/// One step of "Verbindung testen".
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ConnectionStep {
    pub what: String,
    pub ok: bool,
    /// What was found, or why it failed and what to do (German).
    pub message: String,
}

/// The result of "Verbindung testen": every step, each with its own answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ConnectionTest {
    pub ok: bool,
    pub steps: Vec<ConnectionStep>,
}

/// A connection test taken from the settings, run without the workstation lock.
pub struct PortalCheck {
    settings: PortalSettings,
}

impl crate::Workstation {
    /// "Verbindung testen" for the settings given (before saving them) or the
    /// stored ones (administration).
    pub fn portal_check(&self, json: Option<&str>) -> Result<PortalCheck, AppError> {
        let session = self.session_with(domain::Permission::ConfigurePortal)?;
        let settings = match json {
            Some(json) => parse_settings(json)?,
            None => {
                let stored = session
                    .setting(SETTING)?
                    .ok_or_else(|| invalid("Es ist noch keine Portal-Verbindung eingerichtet."))?;
                serde_json::from_str(&stored).map_err(|e| invalid(e.to_string()))?
            }
        };
        Ok(PortalCheck { settings })
    }
}

fn step(what: &str, result: Result<String, String>) -> ConnectionStep {
    let (ok, message) = match result {
        Ok(m) => (true, m),
        Err(m) => (false, m),
    };
    ConnectionStep {
        what: what.to_owned(),
        ok,
        message,
    }
}

impl PortalCheck {
    /// Ask the portal: keys, sign-in (token), the destination, its key. Every step
    /// is tried and answered on its own (a few seconds; network, no lock).
    pub fn run(self) -> ConnectionTest {
        use fitconnect::client::SubmissionApi;
        let s = &self.settings;
        let mut steps = vec![step(
            "Schlüssel dieser Einrichtung",
            Subscriber::from_settings(s)
                .map(|_| "Verschlüsselungs- und Signaturschlüssel sind gültig und passen zu ihren privaten Schlüsseln.".to_owned())
                .map_err(|e| format!("Die Schlüssel in der Verbindungsdatei sind nicht verwendbar: {e}")),
        )];
        let client = sync::client_config(s, Duration::from_secs(20));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let (Ok(api), Ok(runtime)) = (V1Client::new(client), runtime) else {
            steps.push(step(
                "Anmeldung am Portal",
                Err("Die Verbindung ließ sich nicht aufbauen (Adresse prüfen).".into()),
            ));
            return ConnectionTest { ok: false, steps };
        };
        let destination = s.destination_id;
        let signed_in = runtime.block_on(api.list_for_pickup(destination, 0, 1));
        let refused = matches!(signed_in, Err(fitconnect::client::ClientError::Auth(_)));
        steps.push(step(
            "Anmeldung am Portal",
            match signed_in {
                Ok(list) => Ok(format!(
                    "Angemeldet; {} Einreichung(en) warten auf Abholung.",
                    list.total_count
                )),
                Err(fitconnect::client::ClientError::Auth(why)) => Err(format!(
                    "Das Portal lehnt die Anmeldung ab ({why}): Client-ID oder Client-Secret stimmen nicht."
                )),
                Err(fitconnect::client::ClientError::Http { status: 403 | 404, .. }) => Err(format!(
                    "Angemeldet, aber der Zustellpunkt {destination} gehört nicht zu diesem Client."
                )),
                Err(e) => Err(e.to_string()),
            },
        ));
        if refused {
            for what in [
                "Zustellpunkt",
                "Verschlüsselungsschlüssel des Zustellpunkts",
            ] {
                steps.push(step(what, Err("Ohne Anmeldung nicht prüfbar.".into())));
            }
            return ConnectionTest { ok: false, steps };
        }
        let published = runtime.block_on(api.destination(destination));
        steps.push(step(
            "Zustellpunkt",
            match &published {
                Ok(d) if d.status.eq_ignore_ascii_case("active") => Ok(format!(
                    "Zustellpunkt {destination} ist aktiv ({} Leistung(en)).",
                    d.services.len()
                )),
                Ok(d) => Err(format!(
                    "Der Zustellpunkt {destination} ist nicht aktiv (Status „{}“).",
                    d.status
                )),
                Err(fitconnect::client::ClientError::Http { status: 404, .. }) => Err(format!(
                    "Einen Zustellpunkt {destination} gibt es beim Portal nicht (Kennung prüfen)."
                )),
                Err(e) => Err(e.to_string()),
            },
        ));
        let key = match &published {
            Ok(d) if d.encryption_kid != s.encryption_key.kid => Err(format!(
                "Der Zustellpunkt verschlüsselt für den Schlüssel „{}“, hier ist „{}“ eingerichtet: Anträge wären an diesem PC nicht lesbar.",
                d.encryption_kid, s.encryption_key.kid
            )),
            Ok(d) => match runtime.block_on(api.destination_key(destination, &d.encryption_kid)) {
                Ok(jwk) if jwk.n == s.encryption_key.n && jwk.e == s.encryption_key.e => Ok(
                    "Der veröffentlichte Verschlüsselungsschlüssel ist der hier eingerichtete.".to_owned(),
                ),
                Ok(_) => Err(
                    "Unter derselben Kennung veröffentlicht der Zustellpunkt einen anderen Schlüssel: Anträge wären an diesem PC nicht lesbar."
                        .to_owned(),
                ),
                Err(e) => Err(e.to_string()),
            },
            Err(_) => Err("Ohne Zustellpunkt nicht prüfbar.".to_owned()),
        };
        steps.push(step("Verschlüsselungsschlüssel des Zustellpunkts", key));
        ConnectionTest {
            ok: steps.iter().all(|s| s.ok),
            steps,
        }
    }
}

/// Setting: the town's own destination keys, made here, waiting for (or holding)
/// their certificates from the Land's PKI.
const KEY_REQUEST_SETTING: &str = "portal_schluesselantrag";

/// A key made here, and its published form once the PKI certified it.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct StoredKey {
    #[serde(flatten)]
    request: fitconnect::keys::KeyRequest,
    #[serde(default)]
    jwk: Option<fitconnect::keys::PublicJwk>,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredKeyRequest {
    created: String,
    encryption: StoredKey,
    signature: StoredKey,
}

/// Keys made for the town's destination, not yet stored (made without the lock).
pub struct NewKeys(StoredKeyRequest);

/// The town's key request as the administration sees it (no private key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct KeyRequestState {
    /// When the keys were made (RFC 3339).
    pub created: String,
    pub encryption_kid: String,
    pub signature_kid: String,
    /// Both certificates are in: the keys can be used for the connection.
    pub certified: bool,
    /// Files just written (requests, or the public keys for the self-service portal).
    pub files: Vec<String>,
}

/// The connection entered by hand, for keys made here (see [`KeyRequestState`]):
/// what the Land's self-service portal shows for the destination and its client.
#[derive(Debug, Clone, serde::Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PortalFields {
    pub api_url: String,
    pub token_url: String,
    pub destination_id: String,
    pub client_id: String,
    pub client_secret: String,
    #[serde(default)]
    #[ts(optional)]
    pub reply_destination_id: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    pub payment_url: Option<String>,
}

/// Make the two key pairs and their certificate signing requests (a few seconds:
/// 4096-bit RSA; call without the workstation lock).
pub fn make_keys(subject: &fitconnect::keys::RequestSubject) -> Result<NewKeys, AppError> {
    use fitconnect::keys::{KeyUse, request_key};
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let tag = &tag[..8];
    let make = |usage, kid: String| {
        request_key(subject, usage, &kid)
            .map(|request| StoredKey { request, jwk: None })
            .map_err(|e| invalid(e.to_string()))
    };
    Ok(NewKeys(StoredKeyRequest {
        created: jiff::Timestamp::now().to_string(),
        encryption: make(
            KeyUse::Encryption,
            format!("amtsstube-verschluesselung-{tag}"),
        )?,
        signature: make(KeyUse::Signature, format!("amtsstube-signatur-{tag}"))?,
    }))
}

impl crate::Workstation {
    fn stored_key_request(&self) -> Result<Option<StoredKeyRequest>, AppError> {
        let session = self.session_with(domain::Permission::ConfigurePortal)?;
        match session.setting(KEY_REQUEST_SETTING)? {
            Some(json) if !json.is_empty() => serde_json::from_str(&json).map(Some).map_err(|_| {
                invalid(
                    "Der gespeicherte Schlüsselantrag ist unlesbar; bitte neue Schlüssel erzeugen.",
                )
            }),
            _ => Ok(None),
        }
    }

    /// The town's key request, if one is open (administration).
    pub fn portal_key_request(&self) -> Result<Option<KeyRequestState>, AppError> {
        Ok(self.stored_key_request()?.map(|r| state_of(&r, Vec::new())))
    }

    /// Who asks for the certificates: the letterhead's authority, unit and seat
    /// (administration; the letterhead comes first).
    pub fn portal_key_subject(&self) -> Result<fitconnect::keys::RequestSubject, AppError> {
        let town = self.town_details()?;
        Ok(fitconnect::keys::RequestSubject {
            organisation: town.behoerde,
            unit: town.abteilung,
            locality: town.sitz,
        })
    }

    /// Keep keys made by [`make_keys`] in the encrypted database (replacing an open
    /// request) and save their two certificate signing requests into `dir` for the
    /// Land's PKI.
    pub fn portal_store_keys(
        &mut self,
        keys: NewKeys,
        dir: &std::path::Path,
    ) -> Result<KeyRequestState, AppError> {
        let request = keys.0;
        let value = serde_json::to_string(&request).map_err(|e| invalid(e.to_string()))?;
        let files = [
            crate::exports::save(
                dir,
                "fit-connect-verschluesselung.csr",
                request.encryption.request.csr_pem.as_bytes(),
            )?,
            crate::exports::save(
                dir,
                "fit-connect-signatur.csr",
                request.signature.request.csr_pem.as_bytes(),
            )?,
        ];
        let session = self.session_with_mut(domain::Permission::ConfigurePortal)?;
        session.set_setting(KEY_REQUEST_SETTING, &value)?;
        session.audit("portal.schluesselantrag", &request.encryption.request.kid)?;
        Ok(state_of(
            &request,
            files.iter().map(|f| f.display().to_string()).collect(),
        ))
    }

    /// Take the certificate chains the PKI returned (PEM, for the encryption and the
    /// signature key), check them against the keys, and save the two public keys
    /// (JWK with `x5c`) into `dir` as the file to register the destination with in
    /// the Land's self-service portal.
    pub fn portal_certify_keys(
        &mut self,
        encryption_chain: &str,
        signature_chain: &str,
        dir: &std::path::Path,
    ) -> Result<KeyRequestState, AppError> {
        use fitconnect::keys::{KeyUse, certified_key};
        let mut request = self.stored_key_request()?.ok_or_else(|| {
            invalid("Es gibt keinen offenen Schlüsselantrag: bitte zuerst Schlüssel erzeugen.")
        })?;
        for (chain, what) in [
            (encryption_chain, "Verschlüsselung"),
            (signature_chain, "Signatur"),
        ] {
            if chain.len() > 1_000_000 {
                return Err(invalid(format!(
                    "Die Zertifikatsdatei ({what}) ist zu groß (höchstens 1 MB)."
                )));
            }
        }
        let encryption = certified_key(
            &request.encryption.request,
            KeyUse::Encryption,
            encryption_chain,
        )
        .map_err(|e| invalid(format!("Zertifikat für die Verschlüsselung: {e}")))?;
        let signature = certified_key(
            &request.signature.request,
            KeyUse::Signature,
            signature_chain,
        )
        .map_err(|e| invalid(format!("Zertifikat für die Signatur: {e}")))?;
        let published = serde_json::json!({
            "encryptionKid": encryption.kid,
            "encryptionPublicKey": encryption,
            "signingPublicKey": signature,
        });
        request.encryption.jwk = Some(encryption);
        request.signature.jwk = Some(signature);
        let text = serde_json::to_string_pretty(&published).map_err(|e| invalid(e.to_string()))?;
        let file = crate::exports::save(dir, "fit-connect-schluessel.json", text.as_bytes())?;
        let value = serde_json::to_string(&request).map_err(|e| invalid(e.to_string()))?;
        let session = self.session_with_mut(domain::Permission::ConfigurePortal)?;
        session.set_setting(KEY_REQUEST_SETTING, &value)?;
        session.audit("portal.zertifikate", &request.encryption.request.kid)?;
        Ok(state_of(&request, vec![file.display().to_string()]))
    }

    /// The connection from the fields and the certified keys made here, as the
    /// settings a connection file would hold.
    fn portal_fields_json(&self, fields: &PortalFields) -> Result<String, AppError> {
        let request = self.stored_key_request()?.ok_or_else(|| {
            invalid("Für die Eingabe von Hand braucht es hier erzeugte und zertifizierte Schlüssel – oder die Verbindungsdatei des Landes.")
        })?;
        let (Some(encryption), Some(signature)) = (
            request.encryption.jwk.clone(),
            request.signature.jwk.clone(),
        ) else {
            return Err(invalid(
                "Die Zertifikate der PKI fehlen noch: erst „Zertifikate einspielen“.",
            ));
        };
        let uuid = |text: &str, what: &str| {
            uuid::Uuid::parse_str(text.trim()).map_err(|_| {
                invalid(format!(
                    "{what} „{}“ ist keine gültige Kennung (UUID).",
                    text.trim()
                ))
            })
        };
        let optional = |v: &Option<String>| {
            v.as_ref()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let settings = serde_json::json!({
            "apiUrl": fields.api_url.trim(),
            "tokenUrl": fields.token_url.trim(),
            "destinationId": uuid(&fields.destination_id, "Die Zustellpunkt-ID")?,
            "clientId": fields.client_id.trim(),
            "clientSecret": fields.client_secret.trim(),
            "encryptionKey": encryption,
            "encryptionPrivatePem": request.encryption.request.private_pem,
            "signatureKey": signature,
            "signaturePrivatePem": request.signature.request.private_pem,
            "replyDestinationId": optional(&fields.reply_destination_id)
                .map(|r| uuid(&r, "Der Rückkanal-Zustellpunkt"))
                .transpose()?,
            "paymentUrl": optional(&fields.payment_url),
        });
        serde_json::to_string(&settings).map_err(|e| invalid(e.to_string()))
    }

    /// "Verbindung testen" for a connection entered by hand (administration).
    pub fn portal_check_fields(&self, fields: &PortalFields) -> Result<PortalCheck, AppError> {
        let json = self.portal_fields_json(fields)?;
        self.portal_check(Some(&json))
    }

    /// Take a connection entered by hand (administration): the keys move into the
    /// connection, the key request is closed.
    pub fn configure_portal_fields(&mut self, fields: &PortalFields) -> Result<(), AppError> {
        let json = self.portal_fields_json(fields)?;
        self.configure_portal(&json)?;
        self.session_with_mut(domain::Permission::ConfigurePortal)?
            .set_setting(KEY_REQUEST_SETTING, "")?;
        Ok(())
    }
}

fn state_of(r: &StoredKeyRequest, files: Vec<String>) -> KeyRequestState {
    KeyRequestState {
        created: r.created.clone(),
        encryption_kid: r.encryption.request.kid.clone(),
        signature_kid: r.signature.request.kid.clone(),
        certified: r.encryption.jwk.is_some() && r.signature.jwk.is_some(),
        files,
    }
}
