//! The application facade of Amtsstube.
//!
//! One typed method per use case. Every method checks the role of the logged-in
//! user before it touches the store; the Tauri shell and the CLI only call these.
//! Types crossing the IPC boundary derive `ts_rs::TS`; their TypeScript twins are
//! generated into `ui/src/lib/bindings/` by `cargo test`.

mod api;
pub mod background;
pub mod casework;
pub mod casework_config;
pub mod demo;
mod error;
pub mod exports;
pub mod letters;
pub mod ocr_worker;
pub mod paths;
mod portal;
pub mod reports;
pub mod scan;

use std::path::{Path, PathBuf};

use domain::{Permission, Role, UserName};
use store::{AuditReport, Clock, SecretString, Session, Store};

pub use ::letters::{Draft, Ergebnis, LetterKind, TextBlock};
pub use ::reports::{Metric, Report};
pub use api::{
    AppStatus, LoginRequest, SessionInfo, UserRow, WorkList, WorkListQuery, WorkListSort,
    WorkListView,
};
pub use casework::CaseDetail;
pub use error::{AppError, ErrorCode};
pub use letters::{LetterRequest, LetterView, OutboxView, TariffOption};
pub use portal::{PortalSettings, Ran, SyncJob, SyncStatus, SyncSummary};
pub use reports::{DrillCase, ReportRequest};
pub use scan::{
    BatchRequest, BatchView, IntakeResult, QueueItem, ScanApproveRequest, ScanClassView, ScanSetup,
};
pub use store::{InitOptions, RecoveryKey, StoreConfig};

/// The workstation: a data directory, locked or unlocked by one user.
pub struct Workstation {
    store: Store,
    session: Option<Session>,
    /// Outcome of the last synchronisation and when the portal was last reached.
    last_sync: Option<(String, Option<String>)>,
    /// Screen locked after inactivity: the session stays open (sync goes on), but
    /// no call returns data until the user unlocks with the password.
    screen_locked: bool,
    /// The hot folder between intake passes (stability clocks, retries), with the
    /// folder and stability delay it was made for.
    hot_folder: Option<(std::path::PathBuf, std::time::Duration, ::scan::HotFolder)>,
    /// What the last intake passes did, newest first (for the Eingang screen).
    intake_log: std::collections::VecDeque<scan::IntakeResult>,
    /// The supervisor figures' input, kept between openings of the dashboard
    /// (re-read per changed case; dropped at login and logout).
    report_cache: std::cell::RefCell<Option<crate::reports::ReportCache>>,
}

/// Setting: seconds of inactivity before the screen locks.
const LOCK_SETTING: &str = "lock_after_seconds";

/// Largest page of a work list.
pub const MAX_PAGE: u32 = 500;

impl Workstation {
    /// Open an existing data directory (locked).
    pub fn open(dir: &Path) -> Result<Self, AppError> {
        Ok(Workstation {
            store: Store::open(dir, Clock::system())?,
            session: None,
            last_sync: None,
            screen_locked: false,
            hot_folder: None,
            intake_log: std::collections::VecDeque::new(),
            report_cache: std::cell::RefCell::new(None),
        })
    }

    /// Provision a new data directory. Returns the workstation logged in as the
    /// first administrator, and the recovery key to show once.
    pub fn init(dir: &Path, options: InitOptions) -> Result<(Self, RecoveryKey), AppError> {
        let (session, recovery) = Store::init(dir, options, Clock::system())?;
        let store = session.store().clone();
        let mut ws = Workstation {
            store,
            session: None,
            last_sync: None,
            screen_locked: false,
            hot_folder: None,
            intake_log: std::collections::VecDeque::new(),
            report_cache: std::cell::RefCell::new(None),
        };
        ws.session = Some(ws.configured(session));
        Ok((ws, recovery))
    }

    pub fn data_dir(&self) -> &Path {
        self.store.dir()
    }

    /// Apply the town's configuration to a new session (Aktenzeichen of new cases).
    /// A broken configuration is reported in the log; cases then get provisional
    /// numbers until it is fixed.
    fn configured(&self, mut session: Session) -> Session {
        match casework_config::load_config(self.data_dir()) {
            Ok(cfg) => session.set_numbering(store::Numbering {
                pattern: cfg.types.aktenzeichen,
                arbeitsplatz: cfg.types.arbeitsplatz,
                types: cfg.types.vorgangsart,
            }),
            Err(e) => tracing::error!("Konfiguration fehlerhaft: {}", e.message),
        }
        session
    }

    /// Log in. Any open session is closed first.
    pub fn login(&mut self, request: LoginRequest) -> Result<SessionInfo, AppError> {
        let user = UserName::parse(&request.username).map_err(|_| AppError::wrong_credentials())?;
        self.report_cache.get_mut().take();
        if let Some(old) = self.session.take() {
            old.lock();
        }
        let password = SecretString::from(request.password);
        let session = self.store.unlock(&user, &password)?;
        let info = SessionInfo::from(session.user());
        self.screen_locked = false;
        self.session = Some(self.configured(session));
        // With the configured lock interval.
        Ok(self.session().unwrap_or(info))
    }

    /// Recover with the recovery identity: sets a new password for `username` and logs in.
    pub fn recover(
        &mut self,
        recovery_key: &str,
        username: &str,
        new_password: String,
    ) -> Result<SessionInfo, AppError> {
        let user = UserName::parse(username).map_err(|e| AppError::invalid(e.to_string()))?;
        self.report_cache.get_mut().take();
        if let Some(old) = self.session.take() {
            old.lock();
        }
        let session = self
            .store
            .recover(recovery_key, &user, &SecretString::from(new_password))?;
        let info = SessionInfo::from(session.user());
        self.screen_locked = false;
        self.session = Some(self.configured(session));
        // With the configured lock interval.
        Ok(self.session().unwrap_or(info))
    }

    /// Log out: close the database and wipe the key. Idempotent.
    pub fn logout(&mut self) {
        self.screen_locked = false;
        self.hot_folder = None;
        self.intake_log.clear();
        self.report_cache.get_mut().take();
        if let Some(session) = self.session.take() {
            session.lock();
        }
    }

    /// The logged-in user, if any.
    pub fn session(&self) -> Option<SessionInfo> {
        let lock_after = self
            .session
            .as_ref()
            .and_then(|s| s.setting(LOCK_SETTING).ok().flatten())
            .and_then(|v| v.parse().ok())
            .unwrap_or(api::DEFAULT_LOCK_AFTER_SECONDS);
        self.session.as_ref().map(|s| SessionInfo {
            screen_locked: self.screen_locked,
            lock_after_seconds: lock_after,
            ..SessionInfo::from(s.user())
        })
    }

    /// Lock the screen (inactivity or on request). Idempotent.
    pub fn lock_screen(&mut self) -> Result<(), AppError> {
        let session = self.session.as_mut().ok_or_else(AppError::locked)?;
        if !self.screen_locked {
            self.screen_locked = true;
            session.audit("bildschirm.gesperrt", "")?;
        }
        Ok(())
    }

    /// Unlock the screen with the logged-in user's password. Wrong passwords count
    /// towards the lockout; a user locked out is logged out completely.
    pub fn unlock_screen(&mut self, password: String) -> Result<SessionInfo, AppError> {
        let user = self
            .session
            .as_ref()
            .ok_or_else(AppError::locked)?
            .user()
            .username
            .clone();
        match self
            .store
            .verify_password(&user, &SecretString::from(password))
        {
            Ok(()) => {
                self.screen_locked = false;
                if let Some(s) = self.session.as_mut() {
                    s.audit("bildschirm.entsperrt", "")?;
                }
                self.session().ok_or_else(AppError::locked)
            }
            Err(e @ store::StoreError::LockedOut { .. }) => {
                self.logout();
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Set the inactivity lock (administration), 60 s to 1 h.
    pub fn set_lock_after(&mut self, seconds: u32) -> Result<(), AppError> {
        if !(60..=3_600).contains(&seconds) {
            return Err(AppError::invalid(
                "Die Sperre nach Inaktivität muss zwischen 1 und 60 Minuten liegen.",
            ));
        }
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        session.set_setting(LOCK_SETTING, &seconds.to_string())?;
        session.audit("einstellung.sperre", &seconds.to_string())?;
        Ok(())
    }

    fn screen_lock_error() -> AppError {
        AppError::new(
            ErrorCode::Locked,
            "Die Arbeitsstation ist gesperrt. Bitte entsperren Sie sie mit Ihrem Passwort.",
        )
    }

    /// The session for the synchronisation: it goes on while the screen is locked.
    fn sync_session_ref(&self) -> Result<&Session, AppError> {
        let session = self.session.as_ref().ok_or_else(AppError::locked)?;
        if session.user().role.may(Permission::RunSync) {
            Ok(session)
        } else {
            Err(AppError::forbidden())
        }
    }

    fn session_with(&self, permission: Permission) -> Result<&Session, AppError> {
        if self.screen_locked {
            return Err(Self::screen_lock_error());
        }
        let session = self.session.as_ref().ok_or_else(AppError::locked)?;
        if session.user().role.may(permission) {
            Ok(session)
        } else {
            Err(AppError::forbidden())
        }
    }

    pub(crate) fn session_with_mut(
        &mut self,
        permission: Permission,
    ) -> Result<&mut Session, AppError> {
        if self.screen_locked {
            return Err(Self::screen_lock_error());
        }
        let session = self.session.as_mut().ok_or_else(AppError::locked)?;
        if session.user().role.may(permission) {
            Ok(session)
        } else {
            Err(AppError::forbidden())
        }
    }

    /// The work list (Arbeitskorb).
    pub fn work_list(&self, query: WorkListQuery) -> Result<WorkList, AppError> {
        let limit = query.limit.clamp(1, MAX_PAGE);
        let session = self.session_with(Permission::ReadCases)?;
        let me = session.user().username.to_string();
        let all = session.user().role.may(Permission::AllCases);
        let filter = match query.view {
            Some(api::WorkListView::Meine) => store::CaseFilter::AssignedTo(me),
            Some(api::WorkListView::Eingang) => store::CaseFilter::Unassigned,
            None if all => store::CaseFilter::All,
            None => store::CaseFilter::OwnOrUnassigned(me),
        };
        let cfg = self.casework_config().ok();
        let search = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty());
        if search.is_some_and(|q| q.chars().count() > 200) {
            return Err(AppError::invalid(
                "Der Suchbegriff ist zu lang (höchstens 200 Zeichen).",
            ));
        }
        let records = match search {
            Some(q) => session.search_cases(q, &filter, limit)?,
            None => {
                let order = match query.sort {
                    Some(api::WorkListSort::EingangAlt) => store::CaseOrder::OldestFirst,
                    Some(api::WorkListSort::Aktenzeichen) => store::CaseOrder::FileNumber,
                    _ => store::CaseOrder::NewestFirst,
                };
                session.case_records(&filter, order, limit, query.offset)?
            }
        };
        let found = records.len();
        let mut items = Vec::new();
        for r in records {
            let (deadline, due) = match &cfg {
                Some(cfg) => casework::marker(session, &r, cfg)?,
                None => (None, None),
            };
            items.push(domain::CaseSummary {
                id: r.id,
                file_number: r.file_number,
                case_type: r.case_type,
                applicant: r.applicant,
                status: r.status,
                received_at: r.received_at,
                deadline,
                due,
                assigned_to: r.assigned_to,
            });
        }
        let total = match search {
            Some(_) => found as u64,
            None => session.count_case_records(&filter)?,
        };
        Ok(WorkList {
            items,
            total: u32::try_from(total).unwrap_or(u32::MAX),
        })
    }

    /// Status without any personal data; works while locked.
    pub fn status(&self) -> AppStatus {
        let user = self.session();
        let schema = self.session.as_ref().and_then(|s| s.schema_version().ok());
        AppStatus {
            data_dir: self.store.dir().display().to_string(),
            unlocked: user.is_some(),
            user,
            schema_version: schema.map(|(v, _)| v as u32),
            latest_schema_version: schema.map(|(_, l)| l as u32),
        }
    }

    // ---- administration --------------------------------------------------

    pub fn list_users(&self) -> Result<Vec<UserRow>, AppError> {
        let session = self.session_with(Permission::ManageUsers)?;
        Ok(session.list_users()?.iter().map(UserRow::from).collect())
    }

    pub fn add_user(
        &mut self,
        username: &str,
        display_name: &str,
        role: Role,
        password: String,
    ) -> Result<UserRow, AppError> {
        let user = UserName::parse(username).map_err(|e| AppError::invalid(e.to_string()))?;
        let session = self.session_with_mut(Permission::ManageUsers)?;
        let info = session.add_user(&user, display_name, role, &SecretString::from(password))?;
        Ok(UserRow::from(&info))
    }

    pub fn remove_user(&mut self, username: &str) -> Result<(), AppError> {
        let user = UserName::parse(username).map_err(|e| AppError::invalid(e.to_string()))?;
        self.session_with_mut(Permission::ManageUsers)?
            .remove_user(&user)?;
        Ok(())
    }

    /// Set a password: every user for themself; the administration for anyone.
    pub fn set_password(&mut self, username: &str, new_password: String) -> Result<(), AppError> {
        let user = UserName::parse(username).map_err(|e| AppError::invalid(e.to_string()))?;
        let session = self.session.as_mut().ok_or_else(AppError::locked)?;
        let own = session.user().username == user;
        if !own && !session.user().role.may(Permission::ManageUsers) {
            return Err(AppError::forbidden());
        }
        session.set_password(&user, &SecretString::from(new_password))?;
        Ok(())
    }

    /// Change one's own password, proving the old one first.
    pub fn change_own_password(
        &mut self,
        old_password: String,
        new_password: String,
    ) -> Result<(), AppError> {
        let me = self
            .session
            .as_ref()
            .ok_or_else(AppError::locked)?
            .user()
            .username
            .clone();
        // Proves the old password (counts as an attempt, like a login would).
        self.store
            .verify_password(&me, &SecretString::from(old_password))?;
        self.set_password(me.as_str(), new_password)
    }

    /// Store the portal connection (administration). Checked before it is saved.
    pub fn configure_portal(&mut self, json: &str) -> Result<(), AppError> {
        let settings = portal::parse_settings(json)?;
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        let value =
            serde_json::to_string(&settings).map_err(|e| AppError::invalid(e.to_string()))?;
        session.set_setting(portal::SETTING, &value)?;
        Ok(())
    }

    /// Synchronise now: pick up new applications, then deliver the outbox. When the
    /// portal cannot be reached the summary says so; nothing is lost.
    /// "Jetzt synchronisieren": waiting outbox items are tried at once (their backoff
    /// is for unattended runs), then one run.
    pub fn sync_now(&mut self) -> Result<SyncSummary, AppError> {
        let job = self.prepare_sync()?;
        let session = self.session_with_mut(Permission::RunSync)?;
        session.outbox_due_now()?;
        let summary = portal::run_blocking(session, &job)?;
        self.record_sync(&summary);
        Ok(summary)
    }

    /// Prepare a synchronisation run for the logged-in user: portal settings and keys.
    pub fn prepare_sync(&self) -> Result<portal::SyncJob, AppError> {
        let session = self.sync_session_ref()?;
        let json = session.setting(portal::SETTING)?.ok_or_else(|| {
            AppError::new(
                ErrorCode::NotFound,
                "Es ist keine Portal-Verbindung eingerichtet. Die Administration richtet sie ein (amtsstube portal configure).",
            )
        })?;
        let settings: PortalSettings =
            serde_json::from_str(&json).map_err(|e| AppError::invalid(e.to_string()))?;
        let poll = session
            .setting(portal::POLL_SETTING)?
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(portal::DEFAULT_POLL_SECONDS);
        portal::job(
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
        let previous = self.last_sync.take().and_then(|(_, at)| at);
        let reached = summary
            .problem
            .is_none()
            .then(|| jiff::Timestamp::now().to_string())
            .or(previous);
        self.last_sync = Some((summary.connectivity.clone(), reached));
    }

    /// Set the poll interval of the background synchronisation (administration).
    pub fn set_poll_interval(&mut self, seconds: u64) -> Result<(), AppError> {
        if !(30..=86_400).contains(&seconds) {
            return Err(AppError::invalid(
                "Das Abrufintervall muss zwischen 30 Sekunden und 24 Stunden liegen.",
            ));
        }
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        session.set_setting(portal::POLL_SETTING, &seconds.to_string())?;
        session.audit("portal.intervall", &seconds.to_string())?;
        Ok(())
    }

    /// Outbox items for the administration: what waits, what failed and why.
    /// Items carry references and error texts only, no content data.
    pub fn outbox(&self, failed_only: bool) -> Result<Vec<store::OutboxItem>, AppError> {
        let session = self.session_with(Permission::ConfigurePortal)?;
        let items = session.outbox_items(if failed_only { Some("failed") } else { None })?;
        Ok(items
            .into_iter()
            .map(|mut i| {
                // The payload of replies will hold content; the administration sees none.
                i.payload = String::new();
                i
            })
            .collect())
    }

    /// Put a failed outbox item back into the queue ("erneut versuchen").
    pub fn retry_outbox_item(&mut self, id: i64) -> Result<(), AppError> {
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        if !session.outbox_requeue(id)? {
            return Err(AppError::new(
                ErrorCode::NotFound,
                format!("Es gibt keinen fehlgeschlagenen Auftrag {id}."),
            ));
        }
        session.audit("ausgang.erneut", &id.to_string())?;
        Ok(())
    }

    /// The quarantine of invalid submissions (administration).
    pub fn quarantine(&self) -> Result<Vec<store::QuarantineEntry>, AppError> {
        Ok(self
            .session_with(Permission::ConfigurePortal)?
            .quarantine()?)
    }

    /// The state for the status indicator.
    pub fn sync_status(&self) -> Result<SyncStatus, AppError> {
        // No personal data: available while the screen is locked.
        let session = self.sync_session_ref()?;
        let counts = session.outbox_counts()?;
        Ok(SyncStatus {
            configured: session.setting(portal::SETTING)?.is_some(),
            connectivity: self.last_sync.as_ref().map(|(c, _)| c.clone()),
            last_success: self.last_sync.as_ref().and_then(|(_, at)| at.clone()),
            pending: u32::try_from(counts.pending).unwrap_or(u32::MAX),
            failed: u32::try_from(counts.failed).unwrap_or(u32::MAX),
            running: false,
            progress: None,
            next_run: None,
        })
    }

    pub fn verify_audit(&self) -> Result<AuditReport, AppError> {
        Ok(self.session_with(Permission::ReadAudit)?.verify_audit()?)
    }

    /// The newest `limit` audit entries, newest first (administration, Leitung).
    pub fn audit_entries(&self, limit: u32) -> Result<Vec<store::AuditEntry>, AppError> {
        Ok(self
            .session_with(Permission::ReadAudit)?
            .audit_entries(limit)?)
    }

    /// Direct access to the unlocked store for tools and tests that build data
    /// (demo provisioning). Requires an unlocked session with case rights.
    pub fn session_for_import(&mut self) -> Result<&mut Session, AppError> {
        self.session_with_mut(Permission::ReadCases)
    }
}

/// Default data directory of this user.
pub fn default_data_dir() -> PathBuf {
    paths::default_data_dir()
}
