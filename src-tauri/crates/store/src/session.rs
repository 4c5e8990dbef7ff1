//! [`Store`] (locked) and [`Session`] (unlocked).

use std::path::{Path, PathBuf};

use age::secrecy::{ExposeSecret, SecretString};
use domain::{Role, UserName};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Clock, FORMAT, Layout, StoreConfig, StoreFile, read_store_file};
use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::{create_private_dir, create_private_root, write_atomic};
use crate::keys::{self, MasterKey, RecoveryKey, Unwrap};
use crate::users::{self, UserInfo};
use crate::vault::Vault;
use crate::{MIN_PASSWORD_LEN, audit, db, now_rfc3339, random_hex};

/// A data directory whose database is closed. Offers no access to any record.
#[derive(Debug, Clone)]
pub struct Store {
    layout: Layout,
    file: StoreFile,
    clock: Clock,
}

/// What `init` needs: the first administrator and the settings.
pub struct InitOptions {
    pub admin: UserName,
    pub admin_display_name: String,
    pub admin_password: SecretString,
    pub config: StoreConfig,
}

/// The unlocked store of one local user. Dropping it (or [`Session::lock`]) closes
/// the database and wipes the key from memory.
pub struct Session {
    pub(crate) store: Store,
    pub(crate) conn: Connection,
    pub(crate) key: MasterKey,
    user: UserInfo,
    pub(crate) vault: Vault,
    /// The user's own X25519 identity (key ring), kept for a change of the own password.
    me: Option<age::x25519::Identity>,
    vault_check: crate::VaultCheck,
    /// How new cases get their Aktenzeichen (set by the facade from the configuration).
    pub(crate) numbering: Option<crate::Numbering>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttemptState {
    /// Failures counting towards the lockout.
    failed: u32,
    /// Failures since the last successful login (audited then).
    #[serde(default)]
    unreported: u32,
    locked_until: Option<jiff::Timestamp>,
}

/// The scrypt work factor for new password wraps: the one recorded in the
/// encrypted database at set-up (recorded now for stores made before), or
/// store.json's if that is higher. store.json alone – a file anyone with access to
/// the folder can edit – can raise it but never lower it.
pub(crate) fn kdf_log_n(conn: &Connection, from_file: u8) -> Result<u8> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM secrets WHERE name = 'kdf_log_n'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match stored.and_then(|v| v.parse::<u8>().ok()) {
        Some(n) => {
            if from_file < n {
                tracing::warn!(
                    "store.json nennt einen kleineren scrypt-Arbeitsfaktor als beim Einrichten; der eingerichtete gilt"
                );
            }
            Ok(n.max(from_file))
        }
        None => {
            conn.execute(
                "INSERT OR REPLACE INTO secrets (name, value) VALUES ('kdf_log_n', ?1)",
                params![from_file.to_string()],
            )?;
            Ok(from_file)
        }
    }
}

pub(crate) fn check_password(password: &SecretString) -> Result<()> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_LEN {
        return Err(StoreError::PasswordTooShort {
            min: MIN_PASSWORD_LEN,
        });
    }
    Ok(())
}

impl Store {
    /// Does `dir` hold a data directory?
    pub fn exists(dir: &Path) -> bool {
        Layout::new(dir).store_file().exists()
    }

    /// Provision a new data directory: master key, recovery key, vault identity,
    /// schema and the first administrator. The returned [`RecoveryKey`] is the only
    /// copy of the recovery identity: show it once, then drop it.
    pub fn init(dir: &Path, options: InitOptions, clock: Clock) -> Result<(Session, RecoveryKey)> {
        options.config.validate()?;
        check_password(&options.admin_password)?;
        let layout = Layout::new(dir);
        if layout.store_file().exists() || layout.db().exists() {
            return Err(StoreError::AlreadyInitialised(dir.to_path_buf()));
        }
        create_private_root(dir)?;
        create_private_dir(&layout.keys())?;
        create_private_dir(&layout.vault())?;
        create_private_dir(&layout.vault_tmp())?;

        let key = MasterKey::generate();
        let recovery = RecoveryKey::generate();
        write_atomic(
            &layout.recovery_key(),
            &key.wrap_to_recovery(&recovery.recipient())?,
        )?;
        write_atomic(
            &layout.decoy_key(),
            &MasterKey::generate().wrap_with_password(
                &SecretString::from(random_hex(32)),
                options.config.scrypt_log_n,
            )?,
        )?;

        let file = StoreFile {
            format: FORMAT,
            salt: random_hex(16),
            config: options.config,
        };
        let store = Store {
            layout,
            file,
            clock,
        };

        let mut conn = db::open(&store.layout.db(), &key)?;
        let vault_identity = keys::generate_vault_identity();
        let now = now_rfc3339(&store.clock);
        {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO secrets (name, value) VALUES ('vault_identity', ?1)",
                params![vault_identity.expose_secret()],
            )?;
            crate::backup::store_recipient(&tx, &recovery)?;
            // The work factor as set up, kept where store.json cannot lower it.
            tx.execute(
                "INSERT INTO secrets (name, value) VALUES ('kdf_log_n', ?1)",
                params![store.file.config.scrypt_log_n.to_string()],
            )?;
            users::insert(
                &tx,
                &options.admin,
                &options.admin_display_name,
                Role::Admin,
                &now,
            )?;
            audit::append(
                &tx,
                &now,
                options.admin.as_str(),
                "datenbestand.eingerichtet",
                "",
            )?;
            audit::append(
                &tx,
                &now,
                options.admin.as_str(),
                "benutzer.angelegt",
                options.admin.as_str(),
            )?;
            tx.commit()?;
        }
        let admin_identity = age::x25519::Identity::generate();
        store.write_user_key(
            &options.admin,
            &key,
            &admin_identity,
            &options.admin_password,
            store.file.config.scrypt_log_n,
        )?;
        // store.json last: its presence marks a complete provisioning.
        let json = serde_json::to_vec_pretty(&store.file)
            .map_err(|e| StoreError::Database(e.to_string()))?;
        write_atomic(&store.layout.store_file(), &json)?;

        let mut session = store.clone().into_session(conn, key, &options.admin)?;
        session.take_identity(admin_identity)?;
        Ok((session, recovery))
    }

    /// Open an existing data directory, locked.
    pub fn open(dir: &Path, clock: Clock) -> Result<Store> {
        let layout = Layout::new(dir);
        let file = read_store_file(&layout)?;
        Ok(Store {
            layout,
            file,
            clock,
        })
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn dir(&self) -> &Path {
        &self.layout.dir
    }

    pub fn config(&self) -> &StoreConfig {
        &self.file.config
    }

    /// Unlock with user name and password. Wrong passwords are counted per user; after
    /// `max_failed_attempts` the user is locked out for `lockout_seconds`.
    pub fn unlock(&self, user: &UserName, password: &SecretString) -> Result<Session> {
        let (keys, unreported) = self.unwrap_user_key(user, password)?;
        let key = keys.master;
        let conn = db::open(&self.layout.db(), &key)?;
        let log_n = kdf_log_n(&conn, self.file.config.scrypt_log_n)?;
        let identity = match keys.identity {
            Some(i) => i,
            None => {
                // A password file from before the key ring: the user's own key is
                // made now and kept with the master key.
                let i = age::x25519::Identity::generate();
                self.write_user_key(user, &key, &i, password, log_n)?;
                i
            }
        };
        let mut session = self.clone().into_session(conn, key, user)?;
        session.take_identity(identity)?;
        let at = now_rfc3339(&self.clock);
        if unreported > 0 {
            session.audit_as_self("anmeldung.fehlversuche", &unreported.to_string(), &at)?;
        }
        session.audit_as_self("anmeldung", "", &at)?;
        session.anchor_at_login(&at);
        self.clear_attempts(user)?;
        Ok(session)
    }

    /// Check a user's password without opening the database (e.g. before a password
    /// change). Counts towards the lockout like a login.
    pub fn verify_password(&self, user: &UserName, password: &SecretString) -> Result<()> {
        self.unwrap_user_key(user, password).map(|_| ())
    }

    /// Unwrap the master key with a user's password, enforcing and counting the
    /// lockout. Returns the key and the failures not yet audited.
    fn unwrap_user_key(
        &self,
        user: &UserName,
        password: &SecretString,
    ) -> Result<(keys::UserKeys, u32)> {
        let now = self.clock.now();
        let mut state = self.read_attempts(user)?;
        if let Some(until) = state.locked_until {
            if until > now {
                return Err(StoreError::LockedOut {
                    until: format_local(until),
                });
            }
            state.failed = 0;
            state.locked_until = None;
        }
        let key_path = self.user_key_path(user);
        let wrapped = match std::fs::read(&key_path) {
            Ok(w) => Some(w),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).at(&key_path),
        };
        let unwrapped = match wrapped {
            Some(w) => keys::unwrap_with_password(&w, password, self.max_log_n())?,
            None => {
                // An unknown name costs the same scrypt work as a wrong password,
                // so the time of the answer does not tell which names exist.
                let decoy = self.decoy_key()?;
                keys::unwrap_with_password(&decoy, password, self.max_log_n())?;
                Unwrap::WrongSecret
            }
        };
        match unwrapped {
            Unwrap::Ok(key) => {
                if state.failed > 0 {
                    state.failed = 0;
                    self.write_attempts(user, &state)?;
                }
                Ok((key, state.unreported))
            }
            Unwrap::WrongSecret => {
                state.failed += 1;
                state.unreported += 1;
                let max = self.file.config.max_failed_attempts;
                let remaining = max.saturating_sub(state.failed);
                if remaining == 0 {
                    let secs =
                        i64::try_from(self.file.config.lockout_seconds).unwrap_or(i64::MAX / 2);
                    let until = now
                        .checked_add(jiff::SignedDuration::from_secs(secs))
                        .unwrap_or(now);
                    state.locked_until = Some(until);
                    self.write_attempts(user, &state)?;
                    tracing::warn!("Anmeldung gesperrt nach zu vielen Fehlversuchen");
                    return Err(StoreError::LockedOut {
                        until: format_local(until),
                    });
                }
                self.write_attempts(user, &state)?;
                Err(StoreError::WrongPassword { remaining })
            }
        }
    }

    /// Recover access with the recovery identity from the recovery sheet: sets a new
    /// password for `user` (who must exist and be active) and unlocks as that user.
    pub fn recover(
        &self,
        recovery_text: &str,
        user: &UserName,
        new_password: &SecretString,
    ) -> Result<Session> {
        check_password(new_password)?;
        let identity = RecoveryKey::parse(recovery_text)?;
        let path = self.layout.recovery_key();
        let wrapped = std::fs::read(&path).at(&path)?;
        let key = match keys::unwrap_with_recovery(&wrapped, &identity)? {
            Unwrap::Ok(k) => k,
            Unwrap::WrongSecret => return Err(StoreError::WrongRecoveryKey),
        };
        let conn = db::open(&self.layout.db(), &key)?;
        let mut session = self.clone().into_session(conn, key, user)?;
        let log_n = session.kdf_log_n()?;
        // The old password is lost, and with it the user's own key: a new one, and
        // the case key from its recovery wrap for a user who may hold it.
        let me = age::x25519::Identity::generate();
        self.write_user_key(user, &session.key, &me, new_password, log_n)?;
        self.clear_attempts(user)?;
        session.grant_from_recovery(&identity, &me.to_public().to_string())?;
        session.take_identity(me)?;
        let at = now_rfc3339(&self.clock);
        session.audit_as_self("wiederherstellung", user.as_str(), &at)?;
        session.anchor_at_login(&at);
        Ok(session)
    }

    /// Keep the desk's connection to its Rathaus-Server beside the key files
    /// (owner-only, atomic), for a login before any session.
    pub fn write_office_connection(&self, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.layout.office_connection(), bytes)
    }

    /// The desk's connection kept by [`Store::write_office_connection`], if any.
    pub fn office_connection(&self) -> Result<Option<Vec<u8>>> {
        let path = self.layout.office_connection();
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at(&path),
        }
    }

    /// Whether this desk has deposited its master key at a Rathaus-Server.
    pub fn has_escrow(&self) -> bool {
        self.layout.escrow_key().exists()
    }

    /// A user the Rathaus-Server knows and this desk does not (or knows with an
    /// older password): after the server has checked the password, it hands out
    /// the identity of this desk's deposit ([`Session::deposit_for_server`]); with
    /// it the master key is unwrapped, and the user's local account is created or
    /// brought up to date (role from the server, the password as checked there).
    /// Neither the deposit file on this disk nor the identity at the server opens
    /// anything alone.
    pub fn unlock_from_server(
        &self,
        escrow: &SecretString,
        user: &UserName,
        display_name: &str,
        role: Role,
        password: &SecretString,
    ) -> Result<Session> {
        check_password(password)?;
        let identity = RecoveryKey::parse(escrow.expose_secret())?;
        let path = self.layout.escrow_key();
        let wrapped = std::fs::read(&path).at(&path)?;
        let key = match keys::unwrap_with_recovery(&wrapped, &identity)? {
            Unwrap::Ok(k) => k,
            Unwrap::WrongSecret => {
                return Err(StoreError::InvalidInput(
                    "Der Schlüssel des Rathaus-Servers passt nicht zu diesem Arbeitsplatz.".into(),
                ));
            }
        };
        let mut conn = db::open(&self.layout.db(), &key)?;
        let display = users::check_display_name(display_name)?;
        let at = now_rfc3339(&self.clock);
        let known = users::get(&conn, user)?;
        let tx = conn.transaction()?;
        let action = match &known {
            None => {
                users::insert(&tx, user, &display, role, &at)?;
                "benutzer.angelegt.rathaus-server"
            }
            Some(u) => {
                tx.execute(
                    "UPDATE users SET active = 1, role = ?2 WHERE username = ?1",
                    params![user.as_str(), role.as_str()],
                )?;
                if u.active {
                    "passwort.rathaus-server"
                } else {
                    "benutzer.wieder.rathaus-server"
                }
            }
        };
        audit::append(&tx, &at, user.as_str(), action, user.as_str())?;
        // Key file before commit (as when adding a user).
        let log_n = kdf_log_n(&tx, self.file.config.scrypt_log_n)?;
        let me = age::x25519::Identity::generate();
        self.write_user_key(user, &key, &me, password, log_n)?;
        tx.commit()?;
        self.clear_attempts(user)?;
        let mut session = self.clone().into_session(conn, key, user)?;
        session.take_identity(me)?;
        session.audit_as_self("anmeldung", "rathaus-server", &at)?;
        session.anchor_at_login(&at);
        Ok(session)
    }

    fn into_session(self, conn: Connection, key: MasterKey, user: &UserName) -> Result<Session> {
        let info = users::get(&conn, user)?
            .filter(|u| u.active)
            .ok_or_else(|| StoreError::UnknownUser(user.to_string()))?;
        let identity: String = conn
            .query_row(
                "SELECT value FROM secrets WHERE name = 'vault_identity'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::Corrupt("Tresorschlüssel fehlt".into()))?;
        let identity = keys::parse_vault_identity(&SecretString::from(identity))?;
        // Stores made before the work factor was recorded: record it now.
        kdf_log_n(&conn, self.file.config.scrypt_log_n)?;
        let vault = Vault::new(self.layout.clone(), identity);
        let vault_check = vault.recover(&conn)?;
        if vault_check.missing > 0 {
            tracing::error!(missing = vault_check.missing, "Dokumente fehlen im Tresor");
        }
        Ok(Session {
            store: self,
            conn,
            key,
            user: info,
            vault,
            me: None,
            vault_check,
            numbering: None,
        })
    }

    /// The decoy key file (made once, with the configured work factor, wrapping a
    /// key nobody knows under a password nobody knows).
    fn decoy_key(&self) -> Result<Vec<u8>> {
        let path = self.layout.decoy_key();
        match std::fs::read(&path) {
            Ok(b) => return Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).at(&path),
        }
        let secret = SecretString::from(random_hex(32));
        let wrapped =
            MasterKey::generate().wrap_with_password(&secret, self.file.config.scrypt_log_n)?;
        write_atomic(&path, &wrapped)?;
        Ok(wrapped)
    }

    fn max_log_n(&self) -> u8 {
        // Accept files written with a slightly higher factor (e.g. after tuning), but
        // never the hours of work a hostile file could ask for.
        self.file.config.scrypt_log_n.saturating_add(2).min(22)
    }

    pub(crate) fn user_file_stem(&self, user: &UserName) -> String {
        let mut h = Sha256::new();
        h.update(self.file.salt.as_bytes());
        h.update([0u8]);
        h.update(user.as_str().as_bytes());
        format!("u-{}", &hex::encode(h.finalize())[..32])
    }

    fn user_key_path(&self, user: &UserName) -> PathBuf {
        self.layout
            .keys()
            .join(format!("{}.age", self.user_file_stem(user)))
    }

    fn user_state_path(&self, user: &UserName) -> PathBuf {
        self.layout
            .keys()
            .join(format!("{}.state", self.user_file_stem(user)))
    }

    fn write_user_key(
        &self,
        user: &UserName,
        key: &MasterKey,
        identity: &age::x25519::Identity,
        password: &SecretString,
        log_n: u8,
    ) -> Result<()> {
        let wrapped = keys::wrap_user(key, identity, password, log_n)?;
        write_atomic(&self.user_key_path(user), &wrapped)
    }

    fn read_attempts(&self, user: &UserName) -> Result<AttemptState> {
        let path = self.user_state_path(user);
        match std::fs::read(&path) {
            // A damaged counter file must not lock anybody out for good; start over.
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AttemptState::default()),
            Err(e) => Err(e).at(&path),
        }
    }

    fn write_attempts(&self, user: &UserName, state: &AttemptState) -> Result<()> {
        let json = serde_json::to_vec(state).map_err(|e| StoreError::Database(e.to_string()))?;
        write_atomic(&self.user_state_path(user), &json)
    }

    fn clear_attempts(&self, user: &UserName) -> Result<()> {
        let path = self.user_state_path(user);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).at(&path),
        }
    }
}

fn format_local(t: jiff::Timestamp) -> String {
    let zoned = t.to_zoned(jiff::tz::TimeZone::system());
    zoned.strftime("%d.%m.%Y %H:%M Uhr").to_string()
}

impl Session {
    /// The logged-in user.
    pub fn user(&self) -> &UserInfo {
        &self.user
    }

    /// The scrypt work factor for new password wraps (see [`kdf_log_n`]).
    fn kdf_log_n(&self) -> Result<u8> {
        kdf_log_n(&self.conn, self.store.file.config.scrypt_log_n)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What the vault recovery found at unlock (partial writes removed etc.).
    pub fn vault_check(&self) -> &crate::VaultCheck {
        &self.vault_check
    }

    /// Close the database and forget the key.
    /// A second session of the same user on its own read-only connection, for
    /// reading a large part of the record in another thread (deadline keys, the
    /// dashboard's figures) while this one keeps serving the window. SQLite refuses
    /// its writes (`query_only`); it writes no audit entry and needs no logout.
    pub fn reader(&self) -> Result<Session> {
        let session = self.second()?;
        session.conn.execute_batch("PRAGMA query_only = ON;")?;
        Ok(session)
    }

    /// A second session of the same user on its own connection that may write: bulk
    /// work in another thread (deadline keys) whose short transactions take turns
    /// with this session's through SQLite's own write lock – the window's reads never
    /// wait for them (WAL). It writes no audit entry and needs no logout; its key
    /// copy is wiped when it is dropped.
    pub fn worker(&self) -> Result<Session> {
        self.second()
    }

    fn second(&self) -> Result<Session> {
        let conn = db::open_raw(&self.store.layout.db(), &self.key)?;
        crate::inhalt::attach(
            &conn,
            &self.store.layout,
            self.vault.identities.get(&crate::keyring::KeyKind::Fall),
        )?;
        Ok(Session {
            store: self.store.clone(),
            conn,
            key: self.key.duplicate(),
            user: self.user.clone(),
            vault: self.vault.clone(),
            me: self.me.clone(),
            vault_check: self.vault_check.clone(),
            numbering: None,
        })
    }

    pub fn lock(mut self) -> Store {
        if let Err(e) = self.refresh_overview() {
            tracing::warn!("Übersicht für die Administration nicht geschrieben: {e}");
        }
        let at = now_rfc3339(&self.store.clock);
        if let Err(e) = audit::append(
            &self.conn,
            &at,
            self.user.username.as_str(),
            "abmeldung",
            "",
        ) {
            tracing::warn!("Abmeldung nicht protokolliert: {e}");
        }
        self.anchor_audit();
        self.store.clone()
    }

    /// At a login: compare the database with the audit anchor outside it; a finding
    /// is logged and recorded (and stays in every check of the chain), else the
    /// anchor moves to the new head.
    fn anchor_at_login(&mut self, at: &str) {
        let path = self.store.layout.audit_anchor();
        match audit::check_anchor(&self.conn, &path, &self.key) {
            Ok(Some(problem)) => {
                tracing::error!("Prüfprotokoll: {problem}");
                if let Err(e) =
                    self.audit_as_self("protokoll.anker_abweichung", &problem.to_string(), at)
                {
                    tracing::warn!("Abweichung nicht protokolliert: {e}");
                }
            }
            Ok(None) => {
                // A store from before the seal: its head is sealed once now.
                match audit::seal_unsealed_head(&self.conn, &path, &self.key) {
                    Ok(Some(seq)) => {
                        if let Err(e) = self.audit_as_self(
                            "protokoll.versiegelt",
                            &format!("bis Eintrag {seq}"),
                            at,
                        ) {
                            tracing::warn!("Versiegelung nicht protokolliert: {e}");
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!("Protokoll nicht versiegelt: {e}"),
                }
                self.anchor_audit()
            }
            Err(e) => tracing::warn!("Anker des Protokolls nicht geprüft: {e}"),
        }
    }

    /// The user's own key, opened at this login: the key ring follows it.
    fn take_identity(&mut self, me: age::x25519::Identity) -> Result<()> {
        self.open_keyring(&me)?;
        self.me = Some(me);
        Ok(())
    }

    pub(crate) fn now(&self) -> String {
        now_rfc3339(&self.store.clock)
    }

    fn audit_as_self(&mut self, action: &str, object: &str, at: &str) -> Result<()> {
        audit::append(&self.conn, at, self.user.username.as_str(), action, object)
    }

    /// Record an action of the logged-in user in the audit chain. `object` is a
    /// reference (Aktenzeichen, user name, id) – never content data.
    pub fn audit(&mut self, action: &str, object: &str) -> Result<()> {
        let at = self.now();
        self.audit_as_self(action, object, &at)
    }

    // ---- users -------------------------------------------------------------

    pub fn list_users(&self) -> Result<Vec<UserInfo>> {
        users::list(&self.conn)
    }

    /// Add a local user with an initial password. No data is re-encrypted: the
    /// master key is wrapped once more for the new password.
    pub fn add_user(
        &mut self,
        username: &UserName,
        display_name: &str,
        role: Role,
        password: &SecretString,
    ) -> Result<UserInfo> {
        check_password(password)?;
        let display_name = users::check_display_name(display_name)?;
        if users::get(&self.conn, username)?.is_some() {
            return Err(StoreError::UserExists(username.to_string()));
        }
        let now = self.now();
        let identity = age::x25519::Identity::generate();
        let tx = self.conn.transaction()?;
        users::insert(&tx, username, &display_name, role, &now)?;
        tx.execute(
            "UPDATE users SET recipient = ?2 WHERE username = ?1",
            params![username.as_str(), identity.to_public().to_string()],
        )?;
        audit::append(
            &tx,
            &now,
            self.user.username.as_str(),
            "benutzer.angelegt",
            username.as_str(),
        )?;
        // Key file before commit: if the commit fails, an unused key file is harmless;
        // the other order could leave a user who can never log in.
        let log_n = kdf_log_n(&tx, self.store.file.config.scrypt_log_n)?;
        self.store
            .write_user_key(username, &self.key, &identity, password, log_n)?;
        tx.commit()?;
        self.grant_due()?;
        users::get(&self.conn, username)?
            .ok_or_else(|| StoreError::UnknownUser(username.to_string()))
    }

    /// Deposit the master key for the Rathaus-Server this desk is connected to:
    /// wrapped to a new X25519 identity whose secret is returned (for the server,
    /// nowhere else). Replaces an earlier deposit.
    pub fn deposit_for_server(&mut self) -> Result<SecretString> {
        let identity = RecoveryKey::generate();
        let wrapped = self.key.wrap_to_recovery(&identity.recipient())?;
        write_atomic(&self.store.layout.escrow_key(), &wrapped)?;
        self.audit("arbeitsplatzschluessel.hinterlegt", "")?;
        Ok(identity.secret_text())
    }

    /// Deactivate a user and delete their key file. The row stays for the audit trail.
    pub fn remove_user(&mut self, username: &UserName) -> Result<()> {
        let target = users::get(&self.conn, username)?
            .filter(|u| u.active)
            .ok_or_else(|| StoreError::UnknownUser(username.to_string()))?;
        if target.role == Role::Admin && users::active_admins(&self.conn)? <= 1 {
            return Err(StoreError::LastAdmin);
        }
        if target.username == self.user.username {
            return Err(StoreError::InvalidInput(
                "Sie können Ihren eigenen Zugang nicht entfernen.".into(),
            ));
        }
        self.deactivate_user(username, "benutzer.entfernt")
    }

    /// Mark `username` inactive (audited as `action`) and delete its key file, so
    /// its password opens nothing here any more.
    pub(crate) fn deactivate_user(&mut self, username: &UserName, action: &str) -> Result<()> {
        let now = self.now();
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE users SET active = 0 WHERE username = ?1",
            params![username.as_str()],
        )?;
        audit::append(
            &tx,
            &now,
            self.user.username.as_str(),
            action,
            username.as_str(),
        )?;
        tx.commit()?;
        let path = self.store.user_key_path(username);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).at(&path),
        }
        self.store.clear_attempts(username)?;
        self.store.remove_grants(username, None, None)?;
        crate::fsutil::sync_dir(&self.store.layout.keys())
    }

    /// Give an active user another role. The last active administration keeps its
    /// role; nobody changes their own.
    pub fn set_role(&mut self, username: &UserName, role: Role) -> Result<UserInfo> {
        let target = users::get(&self.conn, username)?
            .filter(|u| u.active)
            .ok_or_else(|| StoreError::UnknownUser(username.to_string()))?;
        if target.username == self.user.username {
            return Err(StoreError::InvalidInput(
                "Die eigene Rolle ändert eine andere Administration.".into(),
            ));
        }
        if target.role == role {
            return Ok(target);
        }
        if target.role == Role::Admin && users::active_admins(&self.conn)? <= 1 {
            return Err(StoreError::LastAdmin);
        }
        let now = self.now();
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE users SET role = ?2 WHERE username = ?1",
            params![username.as_str(), role.as_str()],
        )?;
        audit::append(
            &tx,
            &now,
            self.user.username.as_str(),
            "benutzer.rolle",
            &format!("{}:{}", username.as_str(), role.as_str()),
        )?;
        tx.commit()?;
        // Grants of kinds the new role may not hold go; the ones it may get come
        // with this or the next holder's login.
        let recipient: Option<String> = self.conn.query_row(
            "SELECT recipient FROM users WHERE username = ?1",
            params![username.as_str()],
            |r| r.get(0),
        )?;
        self.store
            .remove_grants(username, Some(role), recipient.as_deref())?;
        self.grant_due()?;
        users::get(&self.conn, username)?
            .ok_or_else(|| StoreError::UnknownUser(username.to_string()))
    }

    /// Until when a user is locked out after failed logins (local time), if so.
    pub fn locked_until(&self, username: &UserName) -> Result<Option<String>> {
        let state = self.store.read_attempts(username)?;
        Ok(state
            .locked_until
            .filter(|until| *until > self.store.clock.now())
            .map(format_local))
    }

    /// Lift a lockout after failed logins (the administration, audited).
    pub fn unlock_user(&mut self, username: &UserName) -> Result<()> {
        users::get(&self.conn, username)?
            .filter(|u| u.active)
            .ok_or_else(|| StoreError::UnknownUser(username.to_string()))?;
        self.store.clear_attempts(username)?;
        self.audit("benutzer.entsperrt", username.as_str())
    }

    /// Set a new password for `username` (the caller checks who may do this).
    /// Also lifts a lockout of that user.
    pub fn set_password(&mut self, username: &UserName, new_password: &SecretString) -> Result<()> {
        check_password(new_password)?;
        users::get(&self.conn, username)?
            .filter(|u| u.active)
            .ok_or_else(|| StoreError::UnknownUser(username.to_string()))?;
        let log_n = self.kdf_log_n()?;
        // The own password: the own key stays. Somebody else's: whoever sets it
        // could open a key kept under it, so the user gets a new key, the old
        // grant of the case key is void, and a holder gives it again.
        let own = (username == &self.user.username)
            .then(|| self.me.clone())
            .flatten();
        let identity = match own {
            Some(me) => me,
            None => {
                let fresh = age::x25519::Identity::generate();
                self.conn.execute(
                    "UPDATE users SET recipient = ?2 WHERE username = ?1",
                    params![username.as_str(), fresh.to_public().to_string()],
                )?;
                self.store.remove_grants(username, None, None)?;
                fresh
            }
        };
        self.store
            .write_user_key(username, &self.key, &identity, new_password, log_n)?;
        self.store.clear_attempts(username)?;
        self.audit("passwort.geaendert", username.as_str())?;
        self.grant_due().map(|_| ())
    }
}

impl Session {
    /// Schema version of the open database and the newest the code knows.
    pub fn schema_version(&self) -> Result<(i64, usize)> {
        Ok((
            db::schema_version(&self.conn)?,
            db::latest_schema_version()?,
        ))
    }
}

impl Session {
    /// Store a setting inside the encrypted database (e.g. the portal connection with
    /// its credentials and private keys). The value never touches the disk in clear.
    pub fn set_setting(&mut self, name: &str, value: &str) -> Result<()> {
        let key = format!("setting:{name}");
        let now = self.now();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO secrets (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        audit::append(
            &tx,
            &now,
            self.user.username.as_str(),
            "einstellung.geaendert",
            name,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Remove a setting (audited like a change).
    pub fn remove_setting(&mut self, name: &str) -> Result<()> {
        let now = self.now();
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM secrets WHERE name = ?1",
            params![format!("setting:{name}")],
        )?;
        audit::append(
            &tx,
            &now,
            self.user.username.as_str(),
            "einstellung.entfernt",
            name,
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn setting(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM secrets WHERE name = ?1",
                params![format!("setting:{name}")],
                |r| r.get(0),
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_user_costs_the_same_scrypt_work_as_a_wrong_password() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| StoreError::Database(e.to_string()))?;
        let dir = tmp.path().join("data");
        let options = InitOptions {
            admin: UserName::parse("admin").map_err(|e| StoreError::Database(e.to_string()))?,
            admin_display_name: "Admin".into(),
            admin_password: SecretString::from("admin-passwort-1".to_owned()),
            config: StoreConfig {
                scrypt_log_n: 10,
                ..StoreConfig::default()
            },
        };
        drop(Store::init(&dir, options, Clock::system())?.0.lock());
        let store = Store::open(&dir, Clock::system())?;
        let tries = || keys::PASSWORD_UNWRAPS.with(std::cell::Cell::get);
        let wrong = SecretString::from("falsches-passwort".to_owned());
        let before = tries();
        let known = store.unlock(
            &UserName::parse("admin").map_err(|e| StoreError::Database(e.to_string()))?,
            &wrong,
        );
        assert!(matches!(known, Err(StoreError::WrongPassword { .. })));
        let for_known = tries() - before;
        let before = tries();
        let unknown = store.unlock(
            &UserName::parse("niemand").map_err(|e| StoreError::Database(e.to_string()))?,
            &wrong,
        );
        assert!(matches!(unknown, Err(StoreError::WrongPassword { .. })));
        assert_eq!(
            tries() - before,
            for_known,
            "an unknown name skipped the scrypt work"
        );
        assert_eq!(for_known, 1);
        // A store made before the decoy existed makes it on first need.
        std::fs::remove_file(dir.join("keys/decoy.age"))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let before = tries();
        assert!(
            store
                .unlock(
                    &UserName::parse("niemand").map_err(|e| StoreError::Database(e.to_string()))?,
                    &wrong,
                )
                .is_err()
        );
        assert_eq!(tries() - before, 1);
        assert!(dir.join("keys/decoy.age").exists());
        Ok(())
    }
}
