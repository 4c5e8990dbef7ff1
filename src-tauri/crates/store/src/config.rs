use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result, StoreError};

/// Settings kept in `store.json`. No secrets: the file is plain text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreConfig {
    /// Failed password attempts before a user is locked out.
    pub max_failed_attempts: u32,
    /// How long a lockout lasts.
    pub lockout_seconds: u64,
    /// scrypt work factor (N = 2^log_n) for password-wrapped key files.
    pub scrypt_log_n: u8,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_failed_attempts: 5,
            lockout_seconds: 15 * 60,
            scrypt_log_n: 17,
        }
    }
}

impl StoreConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_failed_attempts == 0 {
            return Err(StoreError::InvalidInput(
                "maxFailedAttempts muss mindestens 1 sein.".into(),
            ));
        }
        if !(10..=22).contains(&self.scrypt_log_n) {
            return Err(StoreError::InvalidInput(
                "scryptLogN muss zwischen 10 und 22 liegen.".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoreFile {
    pub format: u32,
    /// Salt for the names of per-user key files (hex).
    pub salt: String,
    #[serde(flatten)]
    pub config: StoreConfig,
}

pub(crate) const FORMAT: u32 = 1;

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn new(dir: &Path) -> Self {
        Layout {
            dir: dir.to_path_buf(),
        }
    }
    pub fn store_file(&self) -> PathBuf {
        self.dir.join("store.json")
    }
    pub fn db(&self) -> PathBuf {
        self.dir.join("amtsstube.db")
    }
    /// The case content's own database (`inhalt.rs`).
    pub fn inhalt_db(&self) -> PathBuf {
        self.dir.join("inhalt.db")
    }
    pub fn keys(&self) -> PathBuf {
        self.dir.join("keys")
    }
    /// The audit chain's head as last seen, outside the database (rollback check).
    pub fn audit_anchor(&self) -> PathBuf {
        self.keys().join("audit-anker.json")
    }
    /// The desk's connection to its Rathaus-Server, for logins before any session.
    pub fn office_connection(&self) -> PathBuf {
        self.keys().join("rathaus-server.json")
    }
    /// The master key wrapped for this desk's Rathaus-Server (office mode).
    pub fn escrow_key(&self) -> PathBuf {
        self.keys().join("rathaus-server.age")
    }
    /// A kind key (`fall`, `scan`) wrapped to the recovery recipient (`keyring.rs`).
    pub fn key_recovery(&self, kind: &str) -> PathBuf {
        self.keys().join(format!("{kind}-wiederherstellung.age"))
    }
    pub fn recovery_key(&self) -> PathBuf {
        self.keys().join("recovery.age")
    }
    /// A key file no password opens, tried for unknown user names so that they cost
    /// the same scrypt work as a wrong password.
    pub fn decoy_key(&self) -> PathBuf {
        self.keys().join("decoy.age")
    }
    pub fn vault(&self) -> PathBuf {
        self.dir.join("vault")
    }
    pub fn vault_tmp(&self) -> PathBuf {
        self.vault().join("tmp")
    }
}

pub(crate) fn read_store_file(layout: &Layout) -> Result<StoreFile> {
    let path = layout.store_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::NotInitialised(layout.dir.clone()));
        }
        Err(e) => return Err(e).at(&path),
    };
    let file: StoreFile =
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("store.json: {e}")))?;
    if file.format != FORMAT {
        return Err(StoreError::Corrupt(format!(
            "unbekanntes Format {} in store.json",
            file.format
        )));
    }
    file.config.validate()?;
    Ok(file)
}

/// Source of the current time; replaceable in tests (lockout expiry).
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Clock(Arc::new(jiff::Timestamp::now))
    }
    pub fn from_fn(f: impl Fn() -> jiff::Timestamp + Send + Sync + 'static) -> Self {
        Clock(Arc::new(f))
    }
    pub fn now(&self) -> jiff::Timestamp {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}
