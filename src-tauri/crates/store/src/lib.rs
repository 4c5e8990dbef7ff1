//! The local encrypted store of an Amtsstube workstation.
//!
//! * [`Store`] is a data directory that is *locked*: it offers no read of any
//!   record or document, only unlock and recovery.
//! * [`Session`] is the unlocked store of one local user: the SQLCipher database
//!   (schema only from `migrations/`), the age blob vault and the audit chain.
//!
//! Layout of a data directory:
//!
//! ```text
//! store.json              format, salt for key-file names, lockout and KDF settings (no secrets)
//! amtsstube.db(-wal,-shm) SQLCipher database (raw 256-bit key): users, settings, audit, scans
//! inhalt.db(-wal,-shm)    the case content's database, key derived from the case key (inhalt.rs)
//! keys/recovery.age       master key wrapped to the X25519 recovery recipient
//! keys/u-<hash>.age       master key and the user's own X25519 key, wrapped with the password (age scrypt)
//! keys/u-<hash>-<r>.<kind>.age  a kind key (fall, scan) wrapped to that user's own key (keyring.rs)
//! keys/<kind>-wiederherstellung.age  a kind key wrapped to the recovery recipient
//! keys/u-<hash>.state     failed-attempt counter of that user (no secrets)
//! vault/<2 hex>/<32 hex>  age-encrypted documents, random names
//! vault/tmp/              blobs being written; emptied at every unlock
//! sicherung-arbeit/       a backup's database snapshot while it is written (ciphertext)
//! ```

mod audit;
mod backup;
mod cases;
mod casework;
mod config;
mod db;
mod error;
mod fsutil;
mod inhalt;
pub use fsutil::durable;
mod keyring;
mod keys;
mod numbering;
mod replica;
mod scans;
mod session;
mod staging;
mod sync;
mod users;
mod vault;

pub use age::secrecy::{ExposeSecret, SecretString};
pub use audit::{AuditEntry, AuditProblem, AuditReport, AuditTimestamp};
pub use backup::{
    ARCHIVE_PREFIX, ARCHIVE_SUFFIX, BACKUP_FAILURE, BACKUP_STATE, BackupManifest, BackupProgress,
    BackupRequest, BackupSource, BackupWritten, ManifestFile, Restored, TableDigest, archives,
    inspect,
};
pub use cases::{NewCase, PastEvent};
pub use casework::{
    CaseDocument, CaseFilter, CaseOrder, CaseRecord, DueWindow, HistoryEntry, NO_DUE, Note,
    OutgoingLetter, Transition,
};
pub use config::{Clock, StoreConfig};
pub use error::{Result, StoreError};
pub use keys::RecoveryKey;
pub use numbering::Numbering;
pub use replica::{OfficeUpload, ReplicaCounts, StoredConflict};
pub use scans::{NewBatch, ScanApproval, ScanBatch, ScanPart, ScanProduct};
pub use session::{InitOptions, Session, Store};
pub use staging::StagingKey;
pub use sync::{
    DocumentKind, IncomingDocument, IncomingSubmission, NewOutboxItem, OutboxCounts, OutboxItem,
    QuarantineEntry, QuarantinedSubmission, Stored, SubmissionState, late_bounce_reason,
};
pub use users::UserInfo;
pub use vault::{BlobId, BlobInfo, BlobReader, BlobWriter, PreparedBlob, VaultCheck};

/// Minimum length of a local password.
pub const MIN_PASSWORD_LEN: usize = 10;

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    hex::encode(buf)
}

pub(crate) fn now_rfc3339(clock: &Clock) -> String {
    clock.now().to_string()
}
