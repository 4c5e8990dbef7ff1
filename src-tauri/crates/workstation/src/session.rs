//! The session: login, recovery, logout, and the screen lock after inactivity. A
//! login takes the town's configuration (Aktenzeichen of new cases) and drops
//! every feature's cached state of the previous user.

use domain::UserName;
use store::{SecretString, Session};

use crate::api::{self, LoginRequest, SessionInfo};
use crate::{AppError, ErrorCode, LOCK_SETTING, Workstation};

impl Workstation {
    /// Apply the town's configuration to a new session (Aktenzeichen of new cases).
    /// A broken configuration is reported in the log; cases then get provisional
    /// numbers until it is fixed.
    pub(crate) fn configured(&mut self, mut session: Session) -> Session {
        self.config.clear();
        match self.casework_config() {
            Ok(cfg) => session.set_numbering(store::Numbering {
                pattern: cfg.types.aktenzeichen.clone(),
                arbeitsplatz: cfg.types.arbeitsplatz,
                types: cfg.types.vorgangsart.clone(),
            }),
            Err(e) => tracing::error!("Konfiguration fehlerhaft: {}", e.message),
        }
        session
    }

    /// Log in. Any open session is closed first.
    pub fn login(&mut self, request: LoginRequest) -> Result<SessionInfo, AppError> {
        let user = UserName::parse(&request.username).map_err(|_| AppError::wrong_credentials())?;
        self.end_session();
        let password = SecretString::from(request.password);
        let session = match self.store.unlock(&user, &password) {
            Ok(session) => session,
            // Not known here with this password: a desk connected to the
            // Rathaus-Server asks it (a user new there, or a password changed there).
            Err(e @ store::StoreError::WrongPassword { .. }) => {
                match self.office_first_login(&user, &password) {
                    Some(session) => session,
                    None => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        Ok(self.start_session(session))
    }

    /// Recover with the recovery identity: sets a new password for `username` and logs in.
    pub fn recover(
        &mut self,
        recovery_key: &str,
        username: &str,
        new_password: String,
    ) -> Result<SessionInfo, AppError> {
        let user = UserName::parse(username).map_err(|e| AppError::invalid(e.to_string()))?;
        self.end_session();
        let session = self
            .store
            .recover(recovery_key, &user, &SecretString::from(new_password))?;
        Ok(self.start_session(session))
    }

    /// Close the open session, if any, and drop the figures cached for it.
    fn end_session(&mut self) {
        self.fresh_recovery = None;
        self.dues_background = false;
        self.reports = Default::default();
        self.office = Default::default();
        if let Some(old) = self.session.take() {
            old.lock();
        }
    }

    /// Take a freshly unlocked session: configuration read anew, screen unlocked.
    fn start_session(&mut self, session: Session) -> SessionInfo {
        let info = SessionInfo::from(session.user());
        self.screen_locked = false;
        let session = self.configured(session);
        self.session = Some(session);
        // With the configured lock interval.
        self.session().unwrap_or(info)
    }

    /// Log out: close the database and wipe the key. Idempotent.
    pub fn logout(&mut self) {
        self.screen_locked = false;
        self.scan_desk = Default::default();
        self.end_session();
    }

    /// The logged-in user's name (also while the screen is locked).
    pub(crate) fn me(&self) -> Result<UserName, AppError> {
        let session = self.session.as_ref().ok_or_else(AppError::locked)?;
        Ok(session.user().username.clone())
    }

    /// The logged-in user, if any.
    pub fn session(&self) -> Option<SessionInfo> {
        let lock_after = self
            .session
            .as_ref()
            .and_then(|s| s.setting(LOCK_SETTING).ok().flatten())
            .and_then(|v| v.parse().ok())
            .unwrap_or(api::DEFAULT_LOCK_AFTER_SECONDS);
        let office = self.office_mode().unwrap_or(false);
        self.session.as_ref().map(|s| SessionInfo {
            screen_locked: self.screen_locked,
            lock_after_seconds: lock_after,
            // Office mode: the server's key ring gives the keys (status bar).
            case_key_pending: !office
                && office::keyring::may_hold(s.user().role, office::keyring::KeyKind::Fall)
                && !s.holds_key(office::keyring::KeyKind::Fall),
            scan_key_pending: !office
                && office::keyring::may_hold(s.user().role, office::keyring::KeyKind::Scan)
                && !s.holds_key(office::keyring::KeyKind::Scan),
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
        let user = self.me()?;
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

    pub(crate) fn screen_lock_error() -> AppError {
        AppError::new(
            ErrorCode::Locked,
            "Die Arbeitsstation ist gesperrt. Bitte entsperren Sie sie mit Ihrem Passwort.",
        )
    }
}
