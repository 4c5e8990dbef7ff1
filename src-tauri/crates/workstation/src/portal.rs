//! The portal connection: settings kept inside the encrypted database, and a
//! synchronisation run (pickup, then delivery of the outbox).

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
    /// The user the run works for (a shared store checks it is still logged in).
    pub(crate) user: domain::UserName,
    /// Poll interval.
    pub poll: Duration,
}

/// Default poll interval: five minutes.
pub const DEFAULT_POLL_SECONDS: u64 = 300;
pub(crate) const POLL_SETTING: &str = "sync_poll_seconds";

pub(crate) fn job(
    settings: &PortalSettings,
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
        user,
        poll,
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
        let (report, _) = sync::run(&self.api, store, &self.sub, &mut machine, progress).await?;
        Ok(Ran {
            summary: SyncSummary {
                new_cases: report.new_cases as u32,
                follow_ups: report.follow_ups as u32,
                quarantined: report.quarantined as u32,
                delivered: (report.delivered + report.confirmed_by_log) as u32,
                pending: 0,
                failed: 0,
                connectivity: machine.connectivity().label().to_owned(),
                problem: report.problem.clone(),
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
}

impl SyncJob {
    pub fn prefetcher(&self) -> Result<Prefetcher, AppError> {
        Ok(Prefetcher {
            api: V1Client::new(self.client.clone()).map_err(|e| invalid(e.to_string()))?,
            destination: self.sub.destination_id,
            poll: self.poll,
        })
    }
}

impl Prefetcher {
    /// Stage what waits at the portal into the (locked) store.
    pub async fn run(&self, store: &store::Store) -> Result<usize, sync::SyncError> {
        sync::staging::prefetch(&self.api, store, self.destination).await
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
        session.outbox_due_now()?;
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
        job(
            &settings,
            session.user().username.clone(),
            std::time::Duration::from_secs(poll),
        )
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
