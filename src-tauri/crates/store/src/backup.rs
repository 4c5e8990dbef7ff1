//! Backup and restore of a data directory (`amtsstube sicherung` / `wiederherstellen`).
//!
//! One archive is a tar stream encrypted with age to two recipients: the recovery
//! recipient (its identity is on the administration's recovery sheet: restore onto
//! a new PC) and a check key kept inside the encrypted database (the workstation
//! reads every archive back after writing it). Inside:
//!
//! ```text
//! daten/store.json          settings of the store (no secrets)
//! daten/keys/…              the wrapped master keys (users, recovery), anchor
//! daten/amtsstube.db        a consistent snapshot (SQLite online backup, same key)
//! daten/inhalt.db           the case content's database (split stores, `inhalt.rs`):
//!                           a snapshot taken first by a holder of the case key,
//!                           else the file as it lies (ciphertext either way)
//! daten/vault/<2>/<32>      every document the snapshot refers to, as stored
//! konfiguration/<name>      the workstation's configuration files
//! manifest.json             last: size and SHA-256 of every file, table digests
//! ```
//!
//! The snapshot is taken on a connection of its own in one read transaction, so
//! the clerks keep working (WAL readers and writers do not wait for each other).
//! Documents are never changed or deleted once written, so copying those the
//! snapshot names after it was taken yields a consistent whole. An archive is
//! written under a temporary name, synced and renamed: complete or absent.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use age::secrecy::{ExposeSecret, SecretString};
use rusqlite::{Connection, OptionalExtension, params, types::ValueRef};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Clock, Layout};
use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::{create_private_dir, create_private_root, replace};
use crate::keys::{self, MasterKey, RecoveryKey, Unwrap};
use crate::session::{Session, Store};
use crate::{audit, db, now_rfc3339};

/// Archive names: `amtsstube-<JJJJMMTT-hhmmss>.sicherung.age`.
pub const ARCHIVE_PREFIX: &str = "amtsstube-";
pub const ARCHIVE_SUFFIX: &str = ".sicherung.age";
const FORMAT: u32 = 1;
const RECIPIENT_SECRET: &str = "recovery_recipient";
const CHECK_SECRET: &str = "backup_check_identity";
/// Where a backup prepares its snapshot (inside the data directory, owner only).
const WORK_DIR: &str = "sicherung-arbeit";
/// Marks a data directory being restored (removed when the restore is complete).
const RESTORE_MARK: &str = ".wiederherstellung-laeuft";
/// Settings (`Session::setting`) with the last good backup and the last failure.
pub const BACKUP_STATE: &str = "sicherung_stand";
pub const BACKUP_FAILURE: &str = "sicherung_fehler";

/// One file in an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Rows and a digest over all rows of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableDigest {
    pub rows: u64,
    pub sha256: String,
}

/// What an archive says about itself (its last entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupManifest {
    pub format: u32,
    pub created_at: String,
    pub schema_version: i64,
    pub cases: u64,
    /// `cases` was counted: false when a session without the case key backed up a
    /// split store (its case rows are copied as ciphertext, uncounted).
    #[serde(default = "counted")]
    pub cases_counted: bool,
    pub documents: u64,
    /// Head of the audit chain in the snapshot (sequence number, hash).
    pub audit_head: Option<(i64, String)>,
    pub files: Vec<ManifestFile>,
    pub tables: BTreeMap<String, TableDigest>,
}

fn counted() -> bool {
    true
}

/// What a backup found of the case content's database.
enum Inhalt {
    /// Not split: the case tables are in the main snapshot.
    Unsplit,
    /// A snapshot taken with the case key.
    Snapshot {
        cases: i64,
        tables: BTreeMap<String, TableDigest>,
    },
    /// Copied as it lies (no case key).
    Copied,
}

/// Progress of a backup in bytes of the files going into the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupProgress {
    pub done: u64,
    pub total: u64,
}

/// A backup to write.
#[derive(Debug, Clone)]
pub struct BackupRequest {
    /// Folder of the archives (USB stick, network share); created owner-only.
    pub target: PathBuf,
    /// How many archives stay (the newest); at least one.
    pub keep: usize,
    /// Configuration files that go with the data: (plain file name, path).
    pub extra: Vec<(String, PathBuf)>,
}

/// A backup written and read back.
#[derive(Debug, Clone)]
pub struct BackupWritten {
    pub path: PathBuf,
    pub bytes: u64,
    pub manifest: BackupManifest,
    /// Older archives removed by the rotation.
    pub removed: Vec<PathBuf>,
}

/// What a backup needs from a session, taken in a moment so that the archive is
/// written without holding the session (and the workstation's lock).
pub struct BackupSource {
    layout: Layout,
    key: MasterKey,
    /// The key of `inhalt.db`, when the session holds the case key.
    inhalt: Option<MasterKey>,
    recovery: age::x25519::Recipient,
    check: age::x25519::Identity,
    clock: Clock,
}

fn broken(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backup(format!(
        "Die Sicherung ist beschädigt oder wurde verändert ({what}). Bitte eine andere Sicherung verwenden."
    ))
}

/// Copy `src` to `dest` with `copy` until one copy is made during which `src` did
/// not change (the same length and modification time before and after), at most
/// `tries` times. `false`: it changed during every copy.
fn copy_settled(
    src: &Path,
    dest: &Path,
    tries: usize,
    copy: impl Fn(&Path, &Path) -> std::io::Result<u64>,
) -> Result<bool> {
    let stamp = |p: &Path| -> Result<(u64, Option<std::time::SystemTime>)> {
        let m = std::fs::metadata(p).at(p)?;
        Ok((m.len(), m.modified().ok()))
    };
    for _ in 0..tries {
        let before = stamp(src)?;
        copy(src, dest).at(dest)?;
        if stamp(src)? == before {
            return Ok(true);
        }
    }
    Ok(false)
}

fn backup_err(msg: impl Into<String>) -> StoreError {
    StoreError::Backup(msg.into())
}

impl Session {
    /// Is the recovery recipient known (backups possible)? Stores set up before
    /// backups existed learn it once from the recovery key ([`Self::set_recovery_recipient`]).
    pub fn has_recovery_recipient(&self) -> Result<bool> {
        Ok(secret(&self.conn, RECIPIENT_SECRET)?.is_some())
    }

    /// Learn the recovery recipient from the recovery key (checked against this
    /// store's recovery key file), for a store set up before backups existed.
    pub fn set_recovery_recipient(&mut self, recovery_text: &str) -> Result<()> {
        let identity = RecoveryKey::parse(recovery_text)?;
        let path = self.store.layout().recovery_key();
        let wrapped = std::fs::read(&path).at(&path)?;
        match keys::unwrap_with_recovery(&wrapped, &identity)? {
            Unwrap::Ok(k) if k.bytes() == self.key.bytes() => {}
            _ => return Err(StoreError::WrongRecoveryKey),
        }
        let recipient = identity.to_public().to_string();
        let now = self.now();
        let actor = self.user().username.as_str().to_owned();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO secrets (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![RECIPIENT_SECRET, recipient],
        )?;
        audit::append(&tx, &now, &actor, "sicherung.schluessel_eingerichtet", "")?;
        tx.commit()?;
        Ok(())
    }

    /// Take what a backup needs (a moment's work; the archive is written later by
    /// [`BackupSource::write`] without this session).
    pub fn backup_source(&mut self) -> Result<BackupSource> {
        let recovery = secret(&self.conn, RECIPIENT_SECRET)?
            .ok_or_else(|| {
                backup_err(
                    "Für Sicherungen fehlt noch der Wiederherstellungsschlüssel: einmal „amtsstube sicherung einrichten“ (oder in der Verwaltung „Sicherung einrichten“) mit dem Wiederherstellungsblatt.",
                )
            })?
            .parse::<age::x25519::Recipient>()
            .map_err(|_| StoreError::Corrupt("Empfänger der Sicherung unlesbar".into()))?;
        let check = match secret(&self.conn, CHECK_SECRET)? {
            Some(text) => text,
            None => {
                let text = age::x25519::Identity::generate()
                    .to_string()
                    .expose_secret()
                    .to_owned();
                self.conn.execute(
                    "INSERT INTO secrets (name, value) VALUES (?1, ?2)",
                    params![CHECK_SECRET, text],
                )?;
                text
            }
        };
        let check = check
            .parse::<age::x25519::Identity>()
            .map_err(|_| StoreError::Corrupt("Prüfschlüssel der Sicherung unlesbar".into()))?;
        Ok(BackupSource {
            layout: self.store.layout().clone(),
            key: self.key.duplicate(),
            inhalt: self
                .vault
                .identities
                .get(&crate::keyring::KeyKind::Fall)
                .map(crate::inhalt::key),
            recovery,
            check,
            clock: self.store.clock().clone(),
        })
    }

    /// Record a backup written and read back: the state `sicherung_stand` (a JSON
    /// object: `at`, `file`, `bytes`, `cases`, `documents`) and an audit entry.
    pub fn record_backup(&mut self, written: &BackupWritten) -> Result<()> {
        let name = written
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let state = serde_json::json!({
            "at": written.manifest.created_at,
            "file": written.path.display().to_string(),
            "bytes": written.bytes,
            "cases": written.manifest.cases,
            "documents": written.manifest.documents,
        });
        self.record_backup_state("sicherung.erstellt", &name, BACKUP_STATE, &state)
    }

    /// Record a failed backup: the state `sicherung_fehler` (`at`, `message`) and an
    /// audit entry.
    pub fn record_backup_failure(&mut self, message: &str) -> Result<()> {
        let state = serde_json::json!({ "at": self.now(), "message": message });
        self.record_backup_state("sicherung.fehlgeschlagen", "", BACKUP_FAILURE, &state)
    }

    fn record_backup_state(
        &mut self,
        action: &str,
        object: &str,
        name: &str,
        state: &serde_json::Value,
    ) -> Result<()> {
        let now = self.now();
        let actor = self.user().username.as_str().to_owned();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO secrets (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![format!("setting:{name}"), state.to_string()],
        )?;
        if name == BACKUP_STATE {
            tx.execute(
                "DELETE FROM secrets WHERE name = ?1",
                params![format!("setting:{BACKUP_FAILURE}")],
            )?;
        }
        audit::append(&tx, &now, &actor, action, object)?;
        tx.commit()?;
        Ok(())
    }

    /// Per table: rows and a digest over all of them (the restore drill compares
    /// two data directories with it).
    pub fn table_digests(&self) -> Result<BTreeMap<String, TableDigest>> {
        let mut out = table_digests(&self.conn)?;
        // A split store's case tables, as far as this session holds them.
        if self.holds_case_key() && crate::inhalt::is_split(&self.conn)? {
            out.extend(
                schema_digests(&self.conn, "inhalt")?
                    .into_iter()
                    .map(|(k, v)| (format!("inhalt.{k}"), v)),
            );
        }
        Ok(out)
    }
}

/// The recovery recipient, once known (see [`Session::has_recovery_recipient`]).
pub(crate) fn recovery_recipient(conn: &Connection) -> Result<Option<age::x25519::Recipient>> {
    secret(conn, RECIPIENT_SECRET)?
        .map(|t| {
            t.parse::<age::x25519::Recipient>()
                .map_err(|_| StoreError::Corrupt("Empfänger der Sicherung unlesbar".into()))
        })
        .transpose()
}

fn secret(conn: &Connection, name: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT value FROM secrets WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
        .optional()?)
}

/// Record the recovery recipient at provisioning (inside the set-up transaction).
pub(crate) fn store_recipient(conn: &Connection, recovery: &RecoveryKey) -> Result<()> {
    conn.execute(
        "INSERT INTO secrets (name, value) VALUES (?1, ?2)",
        params![RECIPIENT_SECRET, recovery.recipient().to_string()],
    )?;
    Ok(())
}

fn table_digests(conn: &Connection) -> Result<BTreeMap<String, TableDigest>> {
    schema_digests(conn, "main")
}

/// Row count and SHA-256 over the rows of every table in `schema`.
fn schema_digests(conn: &Connection, schema: &str) -> Result<BTreeMap<String, TableDigest>> {
    let mut names = conn.prepare(
        "SELECT name FROM pragma_table_list WHERE schema = ?1 AND type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let names: Vec<String> = names
        .query_map([schema], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = BTreeMap::new();
    for name in names {
        let mut stmt = conn.prepare(&format!(
            "SELECT * FROM {schema}.\"{}\" ORDER BY rowid",
            name.replace('"', "")
        ))?;
        let columns = stmt.column_count();
        let mut rows = stmt.query([])?;
        let mut h = Sha256::new();
        let mut n = 0u64;
        while let Some(row) = rows.next()? {
            n += 1;
            for i in 0..columns {
                match row.get_ref(i)? {
                    ValueRef::Null => h.update(b"N"),
                    ValueRef::Integer(v) => {
                        h.update(b"I");
                        h.update(v.to_le_bytes());
                    }
                    ValueRef::Real(v) => {
                        h.update(b"R");
                        h.update(v.to_bits().to_le_bytes());
                    }
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        h.update(b"T");
                        h.update((t.len() as u64).to_le_bytes());
                        h.update(t);
                    }
                }
            }
        }
        out.insert(
            name,
            TableDigest {
                rows: n,
                sha256: hex::encode(h.finalize()),
            },
        );
    }
    Ok(out)
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// A file name the archive may carry in `dir/`: letters, digits, `-`, `_`, `.`,
/// not starting with a dot.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Where an archive entry goes in a data directory, or why it is refused.
fn entry_target(name: &str) -> Option<PathBuf> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["daten", "store.json"] | ["daten", "amtsstube.db"] | ["daten", "inhalt.db"] => {
            Some(PathBuf::from(parts[1]))
        }
        ["daten", "keys", file] if plain_name(file) => Some(Path::new("keys").join(file)),
        ["daten", "vault", shard, file]
            if shard.len() == 2
                && file.len() == 32
                && file.starts_with(shard)
                && file.chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            Some(Path::new("vault").join(shard).join(file))
        }
        ["konfiguration", file] if plain_name(file) && *file != "store.json" => {
            Some(PathBuf::from(file))
        }
        _ => None,
    }
}

impl BackupSource {
    /// Write an archive into `request.target`, read it back, and rotate.
    pub fn write(
        &self,
        request: &BackupRequest,
        progress: &mut dyn FnMut(BackupProgress),
    ) -> Result<BackupWritten> {
        create_private_root(&request.target)?;
        clear_stale(&request.target)?;
        let work = self.layout.dir.join(WORK_DIR);
        if work.exists() {
            std::fs::remove_dir_all(&work).at(&work)?;
        }
        create_private_dir(&work)?;
        let result = self.write_in(request, &work, progress);
        // The snapshot is SQLCipher ciphertext; it goes either way.
        let _ = std::fs::remove_dir_all(&work);
        let (path, bytes, manifest) = result?;
        let removed = rotate(&request.target, request.keep.max(1))?;
        Ok(BackupWritten {
            path,
            bytes,
            manifest,
            removed,
        })
    }

    fn snapshot(&self, dest: &Path) -> Result<(Connection, i64)> {
        let source = db::open(&self.layout.db(), &self.key)?;
        let schema = db::schema_version(&source)?;
        let mut snap = db::open_raw(dest, &self.key)?;
        {
            let backup = rusqlite::backup::Backup::new(&source, &mut snap)?;
            // One step: one read transaction on the source, so the copy is one
            // consistent state while the clerks go on writing.
            backup.step(-1)?;
        }
        drop(source);
        snap.execute_batch("PRAGMA journal_mode = DELETE;")?;
        Ok((snap, schema))
    }

    /// The case content's database of a split store, into `dest`: a snapshot (and
    /// its count and digests) with the case key, else the file as it lies.
    fn inhalt_snapshot(&self, dest: &Path) -> Result<Inhalt> {
        let path = self.layout.inhalt_db();
        if !path.exists() {
            return Ok(Inhalt::Unsplit);
        }
        match &self.inhalt {
            Some(key) => {
                let source = db::open_raw(&path, key)?;
                let mut snap = db::open_raw(dest, key)?;
                {
                    let backup = rusqlite::backup::Backup::new(&source, &mut snap)?;
                    backup.step(-1)?;
                }
                drop(source);
                snap.execute_batch("PRAGMA journal_mode = DELETE;")?;
                let cases = snap.query_row("SELECT count(*) FROM cases", [], |r| r.get(0))?;
                let tables = table_digests(&snap)?;
                Ok(Inhalt::Snapshot { cases, tables })
            }
            None => {
                // Without the key only the file itself can be copied. A caseworker's
                // process writes to its write-ahead log; only a checkpoint changes
                // the file, so a copy during which the file did not change is one
                // consistent (checkpointed) state – earlier than the main snapshot
                // taken next, which is what a backup needs. Otherwise copied again.
                if copy_settled(&path, dest, 5, |from, to| std::fs::copy(from, to))? {
                    Ok(Inhalt::Copied)
                } else {
                    Err(backup_err(
                        "Die Vorgangsdatenbank änderte sich während der Sicherung fortlaufend; \
                         bitte später erneut sichern.",
                    ))
                }
            }
        }
    }

    fn write_in(
        &self,
        request: &BackupRequest,
        work: &Path,
        progress: &mut dyn FnMut(BackupProgress),
    ) -> Result<(PathBuf, u64, BackupManifest)> {
        // The case content first: every document row it names is in the main
        // snapshot taken after it (the main file commits first).
        let inhalt_path = work.join("inhalt.db");
        let inhalt = self.inhalt_snapshot(&inhalt_path)?;
        let snap_path = work.join("amtsstube.db");
        let (snap, schema_version) = self.snapshot(&snap_path)?;
        let mut tables = table_digests(&snap)?;
        let (cases, cases_counted) = match &inhalt {
            Inhalt::Unsplit => (
                snap.query_row("SELECT count(*) FROM cases", [], |r| r.get::<_, i64>(0))?,
                true,
            ),
            Inhalt::Snapshot { cases, tables: t } => {
                tables.extend(t.iter().map(|(k, v)| (format!("inhalt.{k}"), v.clone())));
                (*cases, true)
            }
            Inhalt::Copied => (0, false),
        };
        let audit_head = audit::head(&snap)?;
        let mut blobs: Vec<String> = Vec::new();
        {
            let mut stmt = snap.prepare("SELECT id FROM blobs ORDER BY id")?;
            for id in stmt.query_map([], |r| r.get::<_, String>(0))? {
                blobs.push(id?);
            }
        }
        drop(snap);

        // (name in the archive, path on disk)
        let mut files: Vec<(String, PathBuf)> = vec![
            ("daten/store.json".into(), self.layout.store_file()),
            ("daten/amtsstube.db".into(), snap_path.clone()),
        ];
        if !matches!(inhalt, Inhalt::Unsplit) {
            files.push(("daten/inhalt.db".into(), inhalt_path.clone()));
        }
        let keys_dir = self.layout.keys();
        let mut key_files: Vec<String> = std::fs::read_dir(&keys_dir)
            .at(&keys_dir)?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| plain_name(n))
            .collect();
        key_files.sort();
        for name in key_files {
            files.push((format!("daten/keys/{name}"), keys_dir.join(&name)));
        }
        for id in &blobs {
            let shard = id
                .get(..2)
                .ok_or_else(|| StoreError::Corrupt(format!("Dokument {id}")))?;
            files.push((
                format!("daten/vault/{shard}/{id}"),
                self.layout.vault().join(shard).join(id),
            ));
        }
        for (name, path) in &request.extra {
            if !plain_name(name) || name == "store.json" {
                return Err(StoreError::InvalidInput(format!(
                    "Unzulässiger Dateiname für die Sicherung: {name}"
                )));
            }
            if path.is_file() {
                files.push((format!("konfiguration/{name}"), path.clone()));
            }
        }
        let mut total = 0u64;
        for (_, path) in &files {
            total += std::fs::metadata(path).at(path)?.len();
        }

        let now = self.clock.now();
        let stamp = now
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y%m%d-%H%M%S")
            .to_string();
        let mut name = format!("{ARCHIVE_PREFIX}{stamp}{ARCHIVE_SUFFIX}");
        // Several in one second (tests, a double click) count on after the newest.
        let same_second = archives(&request.target)?
            .iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{ARCHIVE_PREFIX}{stamp}")))
            })
            .count();
        let mut n = same_second;
        if n > 0 {
            n += 1;
            name = format!("{ARCHIVE_PREFIX}{stamp}-{n}{ARCHIVE_SUFFIX}");
        }
        while request.target.join(&name).exists() {
            n += 1;
            name = format!("{ARCHIVE_PREFIX}{stamp}-{n}{ARCHIVE_SUFFIX}");
        }
        let final_path = request.target.join(&name);
        let tmp_path = request.target.join(format!(".{name}.teil"));
        let out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .at(&tmp_path)?;
        let written = (|| -> Result<(u64, BackupManifest)> {
            let recipients: [&dyn age::Recipient; 2] = [&self.recovery, &self.check.to_public()];
            let encryptor = age::Encryptor::with_recipients(recipients.into_iter())
                .map_err(|e| StoreError::Crypto(e.to_string()))?;
            let writer = encryptor
                .wrap_output(std::io::BufWriter::with_capacity(1 << 20, out))
                .at(&tmp_path)?;
            let mut tar = tar::Builder::new(writer);
            let mut manifest_files = Vec::with_capacity(files.len());
            let mut done = 0u64;
            progress(BackupProgress { done, total });
            for (entry, path) in &files {
                let file = std::fs::File::open(path).at(path)?;
                let len = file.metadata().at(path)?.len();
                let mut header = tar::Header::new_gnu();
                header.set_size(len);
                header.set_mode(0o600);
                header.set_cksum();
                let mut reader = Hashing {
                    inner: file.take(len),
                    hash: Sha256::new(),
                    bytes: 0,
                };
                tar.append_data(&mut header, entry, &mut reader)
                    .at(&tmp_path)?;
                if reader.bytes != len {
                    return Err(backup_err(format!(
                        "{} wurde während der Sicherung gekürzt.",
                        path.display()
                    )));
                }
                manifest_files.push(ManifestFile {
                    name: entry.clone(),
                    bytes: len,
                    sha256: hex::encode(reader.hash.finalize()),
                });
                done += len;
                progress(BackupProgress { done, total });
            }
            let manifest = BackupManifest {
                format: FORMAT,
                created_at: now.to_string(),
                schema_version,
                cases: u64::try_from(cases).unwrap_or(0),
                cases_counted,
                documents: blobs.len() as u64,
                audit_head,
                files: manifest_files,
                tables,
            };
            let json = serde_json::to_vec_pretty(&manifest)
                .map_err(|e| StoreError::Database(e.to_string()))?;
            let mut header = tar::Header::new_gnu();
            header.set_size(json.len() as u64);
            header.set_mode(0o600);
            header.set_cksum();
            tar.append_data(&mut header, "manifest.json", json.as_slice())
                .at(&tmp_path)?;
            let writer = tar.into_inner().at(&tmp_path)?;
            let buffered = writer.finish().at(&tmp_path)?;
            let file = buffered.into_inner().map_err(|e| StoreError::Io {
                path: tmp_path.clone(),
                source: std::io::Error::other(e.error().to_string()),
            })?;
            file.sync_all().at(&tmp_path)?;
            let bytes = file.metadata().at(&tmp_path)?.len();
            Ok((bytes, manifest))
        })();
        let (bytes, manifest) = match written {
            Ok(w) => w,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp_path);
                return Err(e);
            }
        };
        // Read back before the archive gets its name: what is named is readable.
        match read_archive(&tmp_path, &self.check, &mut |_, _| Ok(())) {
            Ok(read) if read == manifest => {}
            Ok(_) => {
                let _ = std::fs::remove_file(&tmp_path);
                return Err(backup_err(
                    "Die Sicherung ließ sich nicht fehlerfrei zurücklesen (Inhalt weicht ab); sie wurde verworfen.",
                ));
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp_path);
                return Err(backup_err(format!(
                    "Die Sicherung ließ sich nicht fehlerfrei zurücklesen und wurde verworfen: {e}"
                )));
            }
        }
        replace(&tmp_path, &final_path)?;
        Ok((final_path, bytes, manifest))
    }

    /// Read an archive of this store back with the store's check key.
    pub fn verify(&self, archive: &Path) -> Result<BackupManifest> {
        read_archive(archive, &self.check, &mut |_, _| Ok(()))
    }
}

/// Remove temporary archives left by an interrupted backup.
fn clear_stale(target: &Path) -> Result<()> {
    for e in std::fs::read_dir(target).at(target)?.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(&format!(".{ARCHIVE_PREFIX}")) && name.ends_with(".teil") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

/// The archives in `target`, oldest first (by name: the name holds the time).
pub fn archives(target: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(target)
        .at(target)?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(ARCHIVE_PREFIX) && n.ends_with(ARCHIVE_SUFFIX))
        })
        .map(|e| e.path())
        .collect();
    // `<stamp>` before `<stamp>-2` … (a plain sort would put `.` after `-`).
    found.sort_by_cached_key(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let core = name
            .strip_prefix(ARCHIVE_PREFIX)
            .and_then(|n| n.strip_suffix(ARCHIVE_SUFFIX))
            .unwrap_or_default();
        let (stamp, n) = match core.get(15..).and_then(|r| r.strip_prefix('-')) {
            Some(n) => (
                core.get(..15).unwrap_or(core),
                n.parse::<u32>().unwrap_or(0),
            ),
            None => (core, 1),
        };
        (stamp.to_owned(), n)
    });
    Ok(found)
}

fn rotate(target: &Path, keep: usize) -> Result<Vec<PathBuf>> {
    let all = archives(target)?;
    let mut removed = Vec::new();
    if all.len() > keep {
        for old in &all[..all.len() - keep] {
            std::fs::remove_file(old).at(old)?;
            removed.push(old.clone());
        }
    }
    Ok(removed)
}

/// Decrypt and walk an archive: every entry is hashed and handed to `sink`
/// (name, reader); at the end every file must match the manifest, none missing,
/// none extra. Returns the manifest.
fn read_archive(
    archive: &Path,
    identity: &dyn age::Identity,
    sink: &mut dyn FnMut(&str, &mut dyn Read) -> Result<()>,
) -> Result<BackupManifest> {
    let file = std::fs::File::open(archive).at(archive)?;
    let decryptor = age::Decryptor::new(std::io::BufReader::with_capacity(1 << 20, file))
        .map_err(|e| broken(format!("Kopf unlesbar: {e}")))?;
    let reader = match decryptor.decrypt(std::iter::once(identity)) {
        Ok(r) => r,
        Err(age::DecryptError::NoMatchingKeys) => {
            return Err(backup_err(
                "Der Wiederherstellungsschlüssel passt nicht zu dieser Sicherung – oder ihr Kopf ist beschädigt. Bitte den Schlüssel mit dem Wiederherstellungsblatt vergleichen oder eine andere Sicherung verwenden.",
            ));
        }
        Err(e) => return Err(broken(e)),
    };
    let mut tar = tar::Archive::new(reader);
    let mut seen: Vec<ManifestFile> = Vec::new();
    let mut manifest: Option<BackupManifest> = None;
    for entry in tar.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        if manifest.is_some() {
            return Err(broken("Einträge nach dem Manifest"));
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(broken("Eintrag ist keine gewöhnliche Datei"));
        }
        let name = entry
            .path()
            .map_err(broken)?
            .to_str()
            .map(str::to_owned)
            .ok_or_else(|| broken("Dateiname unlesbar"))?;
        if name == "manifest.json" {
            let mut json = Vec::new();
            entry
                .by_ref()
                .take(64 << 20)
                .read_to_end(&mut json)
                .map_err(broken)?;
            manifest =
                Some(serde_json::from_slice(&json).map_err(|e| broken(format!("Manifest: {e}")))?);
            continue;
        }
        if entry_target(&name).is_none() {
            return Err(broken(format!("unerwartete Datei {name}")));
        }
        let mut hashing = Hashing {
            inner: &mut entry,
            hash: Sha256::new(),
            bytes: 0,
        };
        sink(&name, &mut hashing)?;
        // Whatever the sink left unread is still hashed.
        std::io::copy(&mut hashing, &mut std::io::sink()).map_err(broken)?;
        seen.push(ManifestFile {
            name,
            bytes: hashing.bytes,
            sha256: hex::encode(hashing.hash.finalize()),
        });
    }
    // Read to the very end: the tar reader stops at its end marker, but only the
    // last age chunk proves that nothing was cut off or changed after it.
    let mut rest = tar.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(broken)?;
    let manifest =
        manifest.ok_or_else(|| broken("das Manifest fehlt – die Sicherung ist unvollständig"))?;
    if manifest.format != FORMAT {
        return Err(backup_err(format!(
            "Diese Sicherung hat das Format {}; dieses Programm kennt Format {FORMAT}.",
            manifest.format
        )));
    }
    if seen != manifest.files {
        return Err(broken("Dateien weichen vom Manifest ab"));
    }
    Ok(manifest)
}

/// What a restore brought back.
#[derive(Debug, Clone)]
pub struct Restored {
    pub manifest: BackupManifest,
    /// The audit chain of the restored data is intact.
    pub audit_intact: bool,
    /// Configuration files written next to the data.
    pub configuration: Vec<String>,
}

impl Store {
    /// Restore `archive` into `dir` (absent or empty) with the recovery key. The
    /// users keep their passwords. Nothing half-restored stays: on any error the
    /// directory is emptied again, and an interrupted restore is recognised by its
    /// mark and may be started again.
    pub fn restore(
        archive: &Path,
        recovery_text: &str,
        dir: &Path,
        clock: Clock,
    ) -> Result<Restored> {
        let identity = RecoveryKey::parse(recovery_text)?;
        let layout = Layout::new(dir);
        let mark = dir.join(RESTORE_MARK);
        if layout.store_file().exists() {
            return Err(StoreError::AlreadyInitialised(dir.to_path_buf()));
        }
        if dir.exists() {
            let mut entries = std::fs::read_dir(dir).at(dir)?.flatten();
            let empty = entries.next().is_none();
            if !empty && !mark.exists() {
                return Err(backup_err(format!(
                    "Der Ordner {} ist nicht leer. Die Wiederherstellung schreibt nur in einen leeren Ordner.",
                    dir.display()
                )));
            }
            if mark.exists() {
                clear_dir(dir)?;
            }
        }
        create_private_root(dir)?;
        std::fs::write(&mark, b"").at(&mark)?;
        let result = restore_into(archive, &identity, &layout, clock);
        match result {
            Ok(r) => {
                std::fs::remove_file(&mark).at(&mark)?;
                Ok(r)
            }
            Err(e) => {
                let _ = clear_dir(dir);
                Err(e)
            }
        }
    }
}

fn clear_dir(dir: &Path) -> Result<()> {
    for e in std::fs::read_dir(dir).at(dir)?.flatten() {
        let p = e.path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p).at(&p)?;
        } else {
            std::fs::remove_file(&p).at(&p)?;
        }
    }
    Ok(())
}

fn restore_into(
    archive: &Path,
    identity: &age::x25519::Identity,
    layout: &Layout,
    clock: Clock,
) -> Result<Restored> {
    let dir = &layout.dir;
    let held_store_file = dir.join(".store.json.wiederherstellung");
    let mut configuration = Vec::new();
    let manifest = read_archive(archive, identity, &mut |name, reader| {
        let Some(rel) = entry_target(name) else {
            return Err(broken(format!("unerwartete Datei {name}")));
        };
        // store.json marks a complete data directory: it comes last.
        let path = if rel == Path::new("store.json") {
            held_store_file.clone()
        } else {
            dir.join(&rel)
        };
        if let Some(parent) = path.parent() {
            create_private_dir(parent)?;
        }
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .at(&path)?;
        std::io::copy(reader, &mut out).map_err(broken)?;
        out.sync_all().at(&path)?;
        if name.starts_with("konfiguration/") {
            configuration.push(rel.to_string_lossy().into_owned());
        }
        Ok(())
    })?;
    // The recovery key must open the master key of exactly these data.
    let wrapped_path = layout.recovery_key();
    let wrapped = std::fs::read(&wrapped_path).at(&wrapped_path)?;
    let key = match keys::unwrap_with_recovery(&wrapped, identity)? {
        Unwrap::Ok(k) => k,
        Unwrap::WrongSecret => return Err(StoreError::WrongRecoveryKey),
    };
    // The tables as the snapshot had them, before a newer program migrates them.
    let mut conn = db::open_raw(&layout.db(), &key)?;
    let mut tables = table_digests(&conn)?;
    if manifest.tables.keys().any(|t| t.starts_with("inhalt.")) {
        // The case content's snapshot, opened with the case key from its recovery wrap.
        let wrapped_path = layout.key_recovery("fall");
        let wrapped = std::fs::read(&wrapped_path).at(&wrapped_path)?;
        let Unwrap::Ok(fall) = keys::unwrap_identity(&wrapped, identity)? else {
            return Err(StoreError::WrongRecoveryKey);
        };
        let inhalt = db::open_raw(&layout.inhalt_db(), &crate::inhalt::key(&fall))?;
        tables.extend(
            table_digests(&inhalt)?
                .into_iter()
                .map(|(k, v)| (format!("inhalt.{k}"), v)),
        );
    }
    if db::schema_version(&conn)? != manifest.schema_version || tables != manifest.tables {
        return Err(broken("die Datenbank weicht vom Manifest ab"));
    }
    db::finish_open(&mut conn)?;
    let mut missing = 0u64;
    {
        let mut stmt = conn.prepare("SELECT id FROM blobs")?;
        for id in stmt.query_map([], |r| r.get::<_, String>(0))? {
            let id = id?;
            let shard = id.get(..2).unwrap_or("");
            if !layout.vault().join(shard).join(&id).is_file() {
                missing += 1;
            }
        }
    }
    if missing > 0 {
        return Err(broken(format!("{missing} Dokument(e) fehlen")));
    }
    create_private_dir(&layout.vault_tmp())?;
    let audit_intact = audit::verify(&conn)?.is_intact();
    // The anchor in the archive may be ahead of the snapshot: the restored head is
    // the new anchor, and the restore itself is the next entry of the chain.
    let anchor = layout.audit_anchor();
    if anchor.exists() {
        std::fs::remove_file(&anchor).at(&anchor)?;
    }
    let archive_name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    audit::append(
        &conn,
        &now_rfc3339(&clock),
        "wiederherstellung",
        "datenbestand.wiederhergestellt",
        &archive_name,
    )?;
    audit::reset_anchor(&conn, &anchor, &key)?;
    drop(conn);
    replace(&held_store_file, &layout.store_file())?;
    Ok(Restored {
        manifest,
        audit_intact,
        configuration,
    })
}

/// Read an archive with the recovery key without restoring it (what is in it).
pub fn inspect(archive: &Path, recovery_text: &SecretString) -> Result<BackupManifest> {
    let identity = RecoveryKey::parse(recovery_text.expose_secret())?;
    read_archive(archive, &identity, &mut |_, _| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InitOptions, StoreConfig};
    use domain::UserName;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    /// The copy of `inhalt.db` without the case key: a copy during which a
    /// caseworker's checkpoint changed the file is made again; one that never
    /// settles is refused rather than taken torn.
    #[test]
    fn a_copy_during_which_the_file_changed_is_made_again() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (src, dest) = (tmp.path().join("inhalt.db"), tmp.path().join("kopie.db"));
        std::fs::write(&src, b"stand 1")?;
        let copies = std::cell::Cell::new(0);
        // The first two copies are overtaken by a write that grows the file.
        let settled = copy_settled(&src, &dest, 5, |from, to| {
            let n = std::fs::copy(from, to)?;
            copies.set(copies.get() + 1);
            if copies.get() <= 2 {
                let mut f = std::fs::OpenOptions::new().append(true).open(from)?;
                std::io::Write::write_all(&mut f, b" und mehr")?;
            }
            Ok(n)
        })?;
        assert!(settled);
        assert_eq!(copies.get(), 3, "copied until a copy was not overtaken");
        assert_eq!(std::fs::read(&dest)?, std::fs::read(&src)?);
        assert_eq!(std::fs::read(&dest)?, b"stand 1 und mehr und mehr");

        // A file that changes during every copy: no copy is taken.
        let copies = std::cell::Cell::new(0);
        let settled = copy_settled(&src, &dest, 5, |from, to| {
            let n = std::fs::copy(from, to)?;
            copies.set(copies.get() + 1);
            let mut f = std::fs::OpenOptions::new().append(true).open(from)?;
            std::io::Write::write_all(&mut f, b"!")?;
            Ok(n)
        })?;
        assert!(!settled);
        assert_eq!(copies.get(), 5);
        Ok(())
    }

    fn fresh(
        dir: &Path,
    ) -> std::result::Result<(Session, SecretString), Box<dyn std::error::Error>> {
        let (session, recovery) = Store::init(
            dir,
            InitOptions {
                admin: UserName::parse("admin")?,
                admin_display_name: "Admin".into(),
                admin_password: SecretString::from("admin-passwort-1".to_owned()),
                config: StoreConfig {
                    scrypt_log_n: 10,
                    ..StoreConfig::default()
                },
            },
            Clock::system(),
        )?;
        Ok((session, recovery.secret_text()))
    }

    fn unlock(dir: &Path) -> Result<Session> {
        Store::open(dir, Clock::system())?.unlock(
            &UserName::parse("admin").map_err(|e| StoreError::InvalidInput(e.to_string()))?,
            &SecretString::from("admin-passwort-1".to_owned()),
        )
    }

    fn backup(
        session: &mut Session,
        target: &Path,
        extra: Vec<(String, PathBuf)>,
    ) -> Result<BackupWritten> {
        let source = session.backup_source()?;
        let written = source.write(
            &BackupRequest {
                target: target.to_path_buf(),
                keep: 3,
                extra,
            },
            &mut |_| {},
        )?;
        session.record_backup(&written)?;
        Ok(written)
    }

    fn files_in(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_in(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn a_restore_brings_back_every_row_and_document_and_the_users_keep_their_passwords()
    -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (dir, target, again) = (
            tmp.path().join("a"),
            tmp.path().join("ziel"),
            tmp.path().join("b"),
        );
        let (mut session, recovery) = fresh(&dir)?;
        let blob = session.put_blob(&b"Bescheid fuer Erika Mustermann"[..])?;
        let config = tmp.path().join("gemeinde.toml");
        std::fs::write(&config, "name = \"Musterstadt\"\n")?;
        let written = backup(
            &mut session,
            &target,
            vec![("gemeinde.toml".into(), config)],
        )?;
        assert!(
            written
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(ARCHIVE_SUFFIX))
        );
        assert_eq!(written.manifest.documents, 1);
        let before = written.manifest.tables.clone();
        let head = session.audit_head()?;
        drop(session.lock());

        let restored = Store::restore(
            &written.path,
            recovery.expose_secret(),
            &again,
            Clock::system(),
        )?;
        assert!(restored.audit_intact);
        assert_eq!(restored.configuration, vec!["gemeinde.toml".to_owned()]);
        assert_eq!(
            std::fs::read_to_string(again.join("gemeinde.toml"))?,
            "name = \"Musterstadt\"\n"
        );
        assert!(!again.join(RESTORE_MARK).exists());
        let back = unlock(&again)?;
        let after = back.table_digests()?;
        for (table, digest) in &before {
            if !table.starts_with("audit_") {
                assert_eq!(after.get(table), Some(digest), "table {table}");
            }
        }
        // The chain goes on from the backup's head: its entries are unchanged.
        let entries = back.audit_entries(10_000)?;
        let (seq, hash) = written.manifest.audit_head.clone().ok_or("no head")?;
        assert!(entries.iter().any(|e| e.seq == seq && e.hash == hash));
        assert!(
            entries
                .iter()
                .any(|e| e.action == "datenbestand.wiederhergestellt")
        );
        assert!(
            back.verify_audit()?.is_intact(),
            "{:?}",
            back.verify_audit()?
        );
        assert!(head.is_some_and(|(s, _)| s >= seq));
        let mut text = String::new();
        back.open_blob(&blob.id)?.read_to_string(&mut text)?;
        assert_eq!(text, "Bescheid fuer Erika Mustermann");
        Ok(())
    }

    #[test]
    fn one_changed_byte_is_refused_with_a_reason_and_nothing_stays_behind() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (dir, target, again) = (
            tmp.path().join("a"),
            tmp.path().join("ziel"),
            tmp.path().join("b"),
        );
        let (mut session, recovery) = fresh(&dir)?;
        session.put_blob(&vec![7u8; 300_000][..])?;
        let written = backup(&mut session, &target, Vec::new())?;
        let mut bytes = std::fs::read(&written.path)?;
        for at in [bytes.len() / 2, 40, bytes.len() - 3] {
            bytes[at] ^= 0x01;
            let changed = tmp.path().join("veraendert.sicherung.age");
            std::fs::write(&changed, &bytes)?;
            bytes[at] ^= 0x01;
            let err = Store::restore(&changed, recovery.expose_secret(), &again, Clock::system())
                .err()
                .ok_or("a changed archive was restored")?;
            assert!(
                matches!(err, StoreError::Backup(_)) && err.to_string().contains("beschädigt"),
                "byte {at}: {err}"
            );
            assert!(
                files_in(&again).is_empty(),
                "byte {at}: {:?}",
                files_in(&again)
            );
        }
        // A cut-off archive (a copy that stopped) is refused as well.
        let cut = tmp.path().join("gekuerzt.sicherung.age");
        std::fs::write(&cut, &bytes[..bytes.len() - 200])?;
        let err = Store::restore(&cut, recovery.expose_secret(), &again, Clock::system())
            .err()
            .ok_or("a cut archive was restored")?;
        assert!(err.to_string().contains("beschädigt"), "{err}");
        Ok(())
    }

    #[test]
    fn another_recovery_key_is_refused_and_a_folder_in_use_is_not_touched() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (dir, target) = (tmp.path().join("a"), tmp.path().join("ziel"));
        let (mut session, recovery) = fresh(&dir)?;
        let written = backup(&mut session, &target, Vec::new())?;
        let other = RecoveryKey::generate().secret_text();
        let again = tmp.path().join("b");
        let err = Store::restore(
            &written.path,
            other.expose_secret(),
            &again,
            Clock::system(),
        )
        .err()
        .ok_or("restored with another key")?;
        assert!(
            err.to_string().contains("passt nicht zu dieser Sicherung"),
            "{err}"
        );
        // A folder with other files in it is refused, its files untouched.
        let busy = tmp.path().join("belegt");
        std::fs::create_dir_all(&busy)?;
        std::fs::write(busy.join("brief.txt"), "bleibt")?;
        let err = Store::restore(
            &written.path,
            recovery.expose_secret(),
            &busy,
            Clock::system(),
        )
        .err()
        .ok_or("restored into a folder in use")?;
        assert!(err.to_string().contains("nicht leer"), "{err}");
        assert_eq!(std::fs::read_to_string(busy.join("brief.txt"))?, "bleibt");
        // The data directory itself is refused as well.
        let err = Store::restore(
            &written.path,
            recovery.expose_secret(),
            &dir,
            Clock::system(),
        )
        .err()
        .ok_or("restored over live data")?;
        assert!(matches!(err, StoreError::AlreadyInitialised(_)), "{err}");
        // An interrupted restore (its mark is left) may start again.
        std::fs::create_dir_all(&again)?;
        std::fs::write(again.join(RESTORE_MARK), b"")?;
        std::fs::write(again.join("amtsstube.db"), b"halb")?;
        Store::restore(
            &written.path,
            recovery.expose_secret(),
            &again,
            Clock::system(),
        )?;
        unlock(&again)?;
        Ok(())
    }

    #[test]
    fn hostile_names_in_an_archive_are_refused() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let recovery = RecoveryKey::generate();
        for name in [
            "daten/../../boese",
            "/etc/boese",
            "daten/keys/../x",
            "konfiguration/.versteckt",
            "daten/vault/zz/abc",
        ] {
            let archive = tmp.path().join("boese.sicherung.age");
            let out = std::fs::File::create(&archive)?;
            let recipient = recovery.recipient();
            let enc = age::Encryptor::with_recipients(std::iter::once(
                &recipient as &dyn age::Recipient,
            ))?;
            let mut tar = tar::Builder::new(enc.wrap_output(out)?);
            let mut header = tar::Header::new_gnu();
            header.set_size(4);
            header.set_mode(0o600);
            // Written raw: the tar crate itself refuses `..` in a path.
            let raw = name.as_bytes();
            header.as_old_mut().name[..raw.len()].copy_from_slice(raw);
            header.set_cksum();
            tar.append(&header, &b"boes"[..])?;
            tar.into_inner()?.finish()?;
            let dir = tmp.path().join("ziel");
            let err = Store::restore(
                &archive,
                recovery.secret_text().expose_secret(),
                &dir,
                Clock::system(),
            )
            .err()
            .ok_or("hostile archive restored")?;
            assert!(
                err.to_string().contains("unerwartete Datei"),
                "{name}: {err}"
            );
            assert!(
                !tmp.path().join("boese").exists() && files_in(&dir).is_empty(),
                "{name}"
            );
        }
        Ok(())
    }

    #[test]
    fn rotation_keeps_the_newest_and_a_left_over_part_is_cleared() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (dir, target) = (tmp.path().join("a"), tmp.path().join("ziel"));
        let (mut session, _) = fresh(&dir)?;
        std::fs::create_dir_all(&target)?;
        let stale = target.join(format!(
            ".{ARCHIVE_PREFIX}20260101-000000{ARCHIVE_SUFFIX}.teil"
        ));
        std::fs::write(&stale, b"abgebrochen")?;
        let mut names = Vec::new();
        for _ in 0..5 {
            names.push(backup(&mut session, &target, Vec::new())?.path);
        }
        assert_eq!(archives(&target)?, names[2..].to_vec());
        assert!(!stale.exists());
        let source = session.backup_source()?;
        assert_eq!(source.verify(&names[4])?.format, FORMAT);
        Ok(())
    }

    #[test]
    fn an_older_store_learns_the_recovery_recipient_once_from_the_recovery_key() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (mut session, recovery) = fresh(&tmp.path().join("a"))?;
        session.conn.execute(
            "DELETE FROM secrets WHERE name = ?1",
            params![RECIPIENT_SECRET],
        )?;
        assert!(!session.has_recovery_recipient()?);
        let err = session
            .backup_source()
            .err()
            .ok_or("backup without recipient")?;
        assert!(err.to_string().contains("sicherung einrichten"), "{err}");
        let other = RecoveryKey::generate().secret_text();
        assert!(matches!(
            session.set_recovery_recipient(other.expose_secret()),
            Err(StoreError::WrongRecoveryKey)
        ));
        session.set_recovery_recipient(recovery.expose_secret())?;
        assert!(session.has_recovery_recipient()?);
        backup(&mut session, &tmp.path().join("ziel"), Vec::new())?;
        Ok(())
    }
}
