//! The application facade of Amtsstube.
//!
//! One typed method per use case. Every method checks the role of the logged-in
//! user before it touches the store; the Tauri shell and the CLI only call these.
//! Types crossing the IPC boundary derive `ts_rs::TS`; their TypeScript twins are
//! generated into `ui/src/lib/bindings/` by `cargo test`.

mod admin;
mod api;
pub mod background;
pub mod backup;
pub mod bundid;
pub mod casework;
pub mod config;
pub mod demo;
pub mod desk;
mod error;
pub mod exports;
pub mod letters;
pub mod mail;
pub mod office;
pub mod paths;
mod portal;
pub mod reports;
pub mod scan;
mod session;
pub mod setup;
pub mod timestamp;
pub mod workers;

use std::path::{Path, PathBuf};

use domain::Permission;
use store::{Clock, Session, Store};

pub use ::letters::{Draft, Ergebnis, LetterKind, TextBlock};
pub use ::reports::{Metric, Report};
pub use admin::{
    AdminSettings, AdminUser, AuditCheck, NewUserRequest, OutboxRow, QuarantineRow, SetupSteps,
    StampJob,
};
pub use api::{
    AppStatus, LoginRequest, SessionInfo, UserRow, WorkList, WorkListQuery, WorkListSort,
    WorkListView,
};
pub use backup::{BackupDone, BackupSettings, BackupStatus, PreparedBackup, RestoreSummary};
pub use bundid::{BundIdSettings, BundIdSettingsView};
pub use casework::{AnswerView, CaseDetail};
pub use desk::{
    OfficeCase, OfficeCaseDetail, OfficeConflict, OfficeDocument, OfficeDocumentInfo, OfficeEvent,
    OfficeNote, OfficeSync,
};
pub use error::{AppError, ErrorCode};
pub use letters::{LetterRequest, LetterView, OfficeLetter, OutboxView, TariffOption};
pub use mail::{
    BounceCheck, BounceSettings, BounceSettingsView, MailCheck, MailSettings, MailSettingsView,
};
pub use office::{
    OfficeConnectRequest, OfficeProbe, OfficeSignIn, OfficeSignInJob, OfficeSignedIn, OfficeState,
    OfficeStatus,
};
pub use portal::{
    ConnectionStep, ConnectionTest, KeyRequestState, NewKeys, PortalCheck, PortalFields,
    PortalSettings, Ran, SyncJob, SyncStatus, SyncSummary, make_keys as make_portal_keys,
};
pub use reports::{DrillCase, ReportRequest};
pub use scan::{
    BatchRequest, BatchView, IntakePass, IntakeResult, QueueItem, ScanApproveRequest,
    ScanClassView, ScanSetup,
};
pub use setup::{SetupMode, SetupRequest, SetupResult, setup_due};
pub use store::{InitOptions, RecoveryKey, StoreConfig};

/// The workstation: a data directory, locked or unlocked by one user. Each feature
/// keeps its own state; a logout or a new login resets all of them.
pub struct Workstation {
    store: Store,
    session: Option<Session>,
    /// Screen locked after inactivity: the session stays open (sync goes on), but
    /// no call returns data until the user unlocks with the password.
    screen_locked: bool,
    /// The town's configuration files, parsed once and reloaded when one changes.
    config: config::ConfigCache,
    sync: portal::SyncState,
    scan_desk: scan::DeskState,
    reports: reports::ReportState,
    /// The server session and the unwrapped kind keys of this login (office mode).
    office: office::SignedIn,
    /// The recovery key between the first run and the first login, for its sheet.
    fresh_recovery: Option<age::secrecy::SecretString>,
    /// A background job computes the stale deadline keys (see `due_keys_job`): a
    /// work list meanwhile does not compute them under the lock itself.
    dues_background: bool,
}

/// Setting: seconds of inactivity before the screen locks.
pub(crate) const LOCK_SETTING: &str = "lock_after_seconds";

/// Largest page of a work list.
pub const MAX_PAGE: u32 = 500;

impl Workstation {
    /// Open an existing data directory (locked).
    pub fn open(dir: &Path) -> Result<Self, AppError> {
        Ok(Workstation::new(Store::open(dir, Clock::system())?))
    }

    /// Provision a new data directory. Returns the workstation logged in as the
    /// first administrator, and the recovery key to show once.
    pub fn init(dir: &Path, options: InitOptions) -> Result<(Self, RecoveryKey), AppError> {
        let (session, recovery) = Store::init(dir, options, Clock::system())?;
        let store = session.store().clone();
        let mut ws = Workstation::new(store);
        let session = ws.configured(session);
        ws.session = Some(session);
        Ok((ws, recovery))
    }

    fn new(store: Store) -> Self {
        Workstation {
            store,
            session: None,
            screen_locked: false,
            config: config::ConfigCache::default(),
            sync: portal::SyncState::default(),
            scan_desk: scan::DeskState::default(),
            reports: reports::ReportState::default(),
            office: office::SignedIn::default(),
            fresh_recovery: None,
            dues_background: false,
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.store.dir()
    }

    /// The permission gate of every use case: the screen is not locked, a user is
    /// logged in, and the role may do it.
    fn allowed(&self, permission: Permission) -> Result<(), AppError> {
        if self.screen_locked {
            return Err(Self::screen_lock_error());
        }
        let session = self.session.as_ref().ok_or_else(AppError::locked)?;
        if session.user().role.may(permission) {
            Ok(())
        } else {
            Err(AppError::forbidden())
        }
    }

    fn session_with(&self, permission: Permission) -> Result<&Session, AppError> {
        self.allowed(permission)?;
        self.session.as_ref().ok_or_else(AppError::locked)
    }

    pub(crate) fn session_with_mut(
        &mut self,
        permission: Permission,
    ) -> Result<&mut Session, AppError> {
        self.allowed(permission)?;
        self.session.as_mut().ok_or_else(AppError::locked)
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
