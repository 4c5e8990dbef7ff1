//! Append-only audit log with a SHA-256 hash chain (SDM Baustein 43: who, when,
//! what, which object – no content data).
//!
//! `hash_n = SHA-256(prev_hash ‖ at ‖ actor ‖ action ‖ object)`, each field
//! length-prefixed. The sequence number is *not* hashed, so [`verify`] can tell a
//! changed entry (its own hash no longer fits) from a removed one (a gap, or a link
//! to an entry that is not there) and from a reordered one (a link to an entry that
//! sits elsewhere). Triggers refuse UPDATE and DELETE; `audit_head` keeps the last
//! link so that cutting off the tail is found too.
//!
//! Everything in the database can be rewritten by whoever opens it. So the head is
//! also kept outside it: `keys/audit-anker.json` holds the last head seen at a
//! login or logout, with an HMAC under a key derived from the master key (which the
//! database file does not hold). An older copy of the database swapped in (its
//! chain ends before the anchor) or a chain recomputed up to the anchor (the entry
//! there no longer has the anchored hash) is reported by [`Session::verify_audit`].
//! The anchor only moves forward; after a finding it is left as evidence.
//!
//! The chain is keyed through its head: `audit_head.mac` is an HMAC-SHA256 over
//! (seq, hash) under a key derived from the master key, computed by the SQL
//! function that [`register_seal`] gives every connection opened with the key (so
//! no caller can forget it, and a connection without the key cannot append). As
//! every hash covers the one before it, the sealed head vouches for the whole
//! chain: recomputed, cut or taken from another store without the key, its head's
//! seal no longer fits ([`AuditProblem::HeadForged`]). Stores from before the seal
//! get their head sealed once at a login whose checks of chain and anchor find
//! nothing ([`seal_unsealed_head`]).

use std::path::Path;

use hmac::{Hmac, Mac};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Session;
use crate::error::{IoContext, Result};
use crate::fsutil::write_atomic;
use crate::keys::MasterKey;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub prev_hash: String,
    pub hash: String,
}

/// An RFC 3161 time stamp of the chain's head, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditTimestamp {
    pub seq: i64,
    pub hash: String,
    /// The service's address.
    pub service: String,
    /// The time the service vouches for (RFC 3339).
    pub gen_time: String,
    /// The TimeStampToken (DER).
    pub token: Vec<u8>,
}

/// A finding of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AuditProblem {
    /// The entry's content no longer matches its hash.
    Modified { seq: i64 },
    /// Entries are missing before `seq` (`count` of them if known from a gap).
    Removed { before_seq: i64, count: Option<i64> },
    /// The entry links to an entry that stands elsewhere in the log.
    Reordered { seq: i64 },
    /// Entries after `after_seq` are missing at the end of the log.
    Truncated { after_seq: i64, expected_last: i64 },
    /// The chain ends before the head last seen outside the database: an older copy
    /// of the database was put in place.
    RolledBack { anchored_seq: i64, found_seq: i64 },
    /// The entry at the anchor no longer carries the anchored hash: the chain was
    /// recomputed or replaced.
    Rewritten { seq: i64 },
    /// The anchor file does not carry a valid seal (changed or forged).
    AnchorInvalid,
    /// The anchor file was written once and is gone now.
    AnchorMissing,
    /// The head carries no seal (a store from before the seal, not yet sealed
    /// because its chain or anchor showed a finding).
    HeadUnsealed { seq: i64 },
    /// The head's seal does not fit: the chain was recomputed, cut or replaced by
    /// someone without the key.
    HeadForged { seq: i64 },
    /// A kept time stamp does not hold: not signed by the configured service, or
    /// not for the (seq, hash) it is kept for.
    TimestampInvalid { seq: i64, why: String },
    /// Entry `seq` no longer has the hash a time-stamping service vouched for.
    TimestampedEntryChanged { seq: i64, gen_time: String },
}

impl std::fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditProblem::Modified { seq } => write!(f, "Eintrag {seq} wurde verändert."),
            AuditProblem::Removed {
                before_seq,
                count: Some(n),
            } => {
                write!(
                    f,
                    "Vor Eintrag {before_seq} fehlen {n} Eintrag/Einträge (gelöscht)."
                )
            }
            AuditProblem::Removed {
                before_seq,
                count: None,
            } => {
                write!(
                    f,
                    "Vor Eintrag {before_seq} fehlt mindestens ein Eintrag (gelöscht)."
                )
            }
            AuditProblem::Reordered { seq } => {
                write!(
                    f,
                    "Eintrag {seq} steht an falscher Stelle (Reihenfolge vertauscht)."
                )
            }
            AuditProblem::Truncated {
                after_seq,
                expected_last,
            } => write!(
                f,
                "Nach Eintrag {after_seq} fehlen die Einträge bis {expected_last} (Ende abgeschnitten)."
            ),
            AuditProblem::RolledBack {
                anchored_seq,
                found_seq,
            } => write!(
                f,
                "Der Datenbestand ist älter als zuletzt gesehen: Das Protokoll reichte bis Eintrag {anchored_seq}, jetzt nur bis {found_seq} (ältere Kopie der Datenbank eingespielt?)."
            ),
            AuditProblem::Rewritten { seq } => write!(
                f,
                "Das Protokoll wurde bis Eintrag {seq} neu berechnet oder ersetzt: Eintrag {seq} passt nicht mehr zum Anker außerhalb der Datenbank."
            ),
            AuditProblem::AnchorInvalid => write!(
                f,
                "Der Anker des Protokolls außerhalb der Datenbank (keys/audit-anker.json) ist verändert oder gefälscht."
            ),
            AuditProblem::AnchorMissing => write!(
                f,
                "Der Anker des Protokolls außerhalb der Datenbank (keys/audit-anker.json) fehlt, obwohl er schon geschrieben war (gelöscht?)."
            ),
            AuditProblem::TimestampInvalid { seq, why } => {
                write!(f, "Der Zeitstempel für Eintrag {seq} hält nicht: {why}")
            }
            AuditProblem::TimestampedEntryChanged { seq, gen_time } => write!(
                f,
                "Eintrag {seq} hat nicht mehr den Stand, den der Zeitstempeldienst am {gen_time} bestätigt hat: Das Protokoll wurde danach verändert."
            ),
            AuditProblem::HeadUnsealed { seq } => write!(
                f,
                "Das Ende des Protokolls (Eintrag {seq}) trägt kein Siegel; es wird versiegelt, sobald Protokoll und Anker ohne Befund sind."
            ),
            AuditProblem::HeadForged { seq } => write!(
                f,
                "Das Siegel am Ende des Protokolls (Eintrag {seq}) passt nicht: Das Protokoll wurde ohne den Schlüssel neu berechnet, gekürzt oder aus einem anderen Datenbestand übernommen."
            ),
        }
    }
}

/// Result of a full verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub entries: u64,
    pub problems: Vec<AuditProblem>,
}

impl AuditReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Name of the SQL function that seals the head.
const SEAL_FN: &str = "amtsstube_protokoll_siegel";
/// The head's seal after an entry was appended to a head whose seal did not fit.
const BROKEN: &str = "gebrochen";

/// The state of the head's seal before an append.
enum Seal {
    Fits,
    Missing,
    Broken,
}

/// The seal over (seq, hash) under the key derived from the master key.
fn seal(
    key: &[u8],
    seq: i64,
    hash: &str,
) -> std::result::Result<String, hmac::digest::InvalidLength> {
    let mut m = Hmac::<Sha256>::new_from_slice(key)?;
    m.update(&seq.to_be_bytes());
    m.update(hash.as_bytes());
    Ok(hex::encode(m.finalize().into_bytes()))
}

/// Give a connection opened with the master key the function that seals the head;
/// the derived key lives in the function, never in the database.
pub(crate) fn register_seal(conn: &Connection, key: &MasterKey) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    let derived: zeroize::Zeroizing<[u8; 32]> = {
        let mut k = Hmac::<Sha256>::new_from_slice(key.bytes())
            .map_err(|e| crate::error::StoreError::Crypto(e.to_string()))?;
        k.update(b"amtsstube/protokoll-siegel/v1");
        zeroize::Zeroizing::new(k.finalize().into_bytes().into())
    };
    conn.create_scalar_function(
        SEAL_FN,
        2,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_DIRECTONLY,
        move |ctx| {
            let seq: i64 = ctx.get(0)?;
            let hash: String = ctx.get(1)?;
            seal(&derived[..], seq, &hash)
                .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))
        },
    )?;
    Ok(())
}

/// The head with its seal as stored and as it should be.
fn sealed_head(conn: &Connection) -> Result<Option<(i64, Option<String>, String)>> {
    Ok(conn
        .query_row(
            &format!("SELECT seq, mac, {SEAL_FN}(seq, hash) FROM audit_head WHERE id = 1"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

/// A store from before the seal: seal its head once, if chain and anchor show no
/// finding (a head that is already sealed, or a chain with a finding, stays as it
/// is). Returns the sealed entry's number.
pub(crate) fn seal_unsealed_head(
    conn: &Connection,
    anchor: &Path,
    key: &MasterKey,
) -> Result<Option<i64>> {
    let Some((seq, None, _)) = sealed_head(conn)? else {
        return Ok(None);
    };
    let report = verify(conn)?;
    let only_unsealed = report
        .problems
        .iter()
        .all(|p| matches!(p, AuditProblem::HeadUnsealed { .. }));
    if !only_unsealed || check_anchor(conn, anchor, key)?.is_some() {
        return Ok(None);
    }
    conn.execute(
        &format!("UPDATE audit_head SET mac = {SEAL_FN}(seq, hash) WHERE id = 1 AND mac IS NULL"),
        [],
    )?;
    Ok(Some(seq))
}

fn field(h: &mut Sha256, s: &str) {
    h.update((s.len() as u64).to_be_bytes());
    h.update(s.as_bytes());
}

fn entry_hash(prev_hash: &str, at: &str, actor: &str, action: &str, object: &str) -> String {
    let mut h = Sha256::new();
    field(&mut h, prev_hash);
    field(&mut h, at);
    field(&mut h, actor);
    field(&mut h, action);
    field(&mut h, object);
    hex::encode(h.finalize())
}

/// Append an entry. Call inside the transaction of the change it records.
pub(crate) fn append(
    conn: &Connection,
    at: &str,
    actor: &str,
    action: &str,
    object: &str,
) -> Result<()> {
    // The entry and the head move together even when the caller has no transaction
    // open (a process killed between the two statements would otherwise leave a head
    // behind the log, and every later entry would collide with the orphan). A
    // savepoint nests inside a caller's transaction; without one, the entry gets an
    // IMMEDIATE transaction of its own (a deferred one that reads the head and then
    // writes would fail at once, not wait, when another process wrote in between).
    let (begin, commit, rollback) = if conn.is_autocommit() {
        ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
    } else {
        (
            "SAVEPOINT audit_append",
            "RELEASE audit_append",
            "ROLLBACK TO audit_append; RELEASE audit_append",
        )
    };
    conn.execute_batch(begin)?;
    match append_entry(conn, at, actor, action, object) {
        Ok(()) => {
            conn.execute_batch(commit)?;
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch(rollback);
            Err(e)
        }
    }
}

fn append_entry(
    conn: &Connection,
    at: &str,
    actor: &str,
    action: &str,
    object: &str,
) -> Result<()> {
    let head: Option<(i64, String, Option<String>, String)> = conn
        .query_row(
            &format!("SELECT seq, hash, mac, {SEAL_FN}(seq, hash) FROM audit_head WHERE id = 1"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    // The new head is sealed only if the old one was: a head without a seal (a
    // store from before it) stays so until the login's check seals it, and a head
    // whose seal did not fit passes the finding on – a new entry never launders a
    // chain recomputed without the key.
    let (seq, prev, seal) = match head {
        Some((seq, hash, Some(mac), expected)) if mac == expected => (seq + 1, hash, Seal::Fits),
        Some((seq, hash, None, _)) => (seq + 1, hash, Seal::Missing),
        Some((seq, hash, Some(_), _)) => (seq + 1, hash, Seal::Broken),
        None => (1, GENESIS.to_owned(), Seal::Fits),
    };
    let hash = entry_hash(&prev, at, actor, action, object);
    conn.execute(
        "INSERT INTO audit_log (seq, at, actor, action, object, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![seq, at, actor, action, object, prev, hash],
    )?;
    let mac = match seal {
        Seal::Fits => format!("{SEAL_FN}(?1, ?2)"),
        Seal::Missing => "NULL".to_owned(),
        Seal::Broken => format!("'{BROKEN}'"),
    };
    conn.execute(
        &format!(
            "INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, ?1, ?2, {mac})
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac"
        ),
        params![seq, hash],
    )?;
    Ok(())
}

fn read_all(conn: &Connection) -> Result<Vec<AuditEntry>> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, action, object, prev_hash, hash FROM audit_log ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(AuditEntry {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            object: r.get(4)?,
            prev_hash: r.get(5)?,
            hash: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Walk the whole chain and report every finding.
pub(crate) fn verify(conn: &Connection) -> Result<AuditReport> {
    let entries = read_all(conn)?;
    let head: Option<(i64, String)> = conn
        .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let positions: std::collections::HashMap<&str, i64> =
        entries.iter().map(|e| (e.hash.as_str(), e.seq)).collect();

    let mut problems = Vec::new();
    let mut expected_seq = 1;
    let mut expected_prev = GENESIS.to_owned();
    for e in &entries {
        let gap = e.seq != expected_seq;
        if gap {
            problems.push(AuditProblem::Removed {
                before_seq: e.seq,
                count: Some(e.seq - expected_seq),
            });
        }
        if entry_hash(&e.prev_hash, &e.at, &e.actor, &e.action, &e.object) != e.hash {
            problems.push(AuditProblem::Modified { seq: e.seq });
        } else if e.prev_hash != expected_prev && !gap {
            match positions.get(e.prev_hash.as_str()) {
                Some(&at) if at != e.seq - 1 => {
                    problems.push(AuditProblem::Reordered { seq: e.seq })
                }
                _ => problems.push(AuditProblem::Removed {
                    before_seq: e.seq,
                    count: None,
                }),
            }
        }
        expected_prev = e.hash.clone();
        expected_seq = e.seq + 1;
    }
    let last = entries.last().map(|e| (e.seq, e.hash.as_str()));
    match (&head, last) {
        (Some((head_seq, _)), Some((last_seq, _))) if *head_seq > last_seq => {
            problems.push(AuditProblem::Truncated {
                after_seq: last_seq,
                expected_last: *head_seq,
            });
        }
        (Some((head_seq, head_hash)), Some((last_seq, last_hash)))
            if *head_seq == last_seq && head_hash != last_hash =>
        {
            problems.push(AuditProblem::Modified { seq: last_seq });
        }
        (Some((head_seq, _)), None) => problems.push(AuditProblem::Truncated {
            after_seq: 0,
            expected_last: *head_seq,
        }),
        _ => {}
    }
    match sealed_head(conn)? {
        Some((seq, None, _)) => problems.push(AuditProblem::HeadUnsealed { seq }),
        Some((seq, Some(mac), expected)) if mac != expected => {
            problems.push(AuditProblem::HeadForged { seq })
        }
        _ => {}
    }
    Ok(AuditReport {
        entries: entries.len() as u64,
        problems,
    })
}

/// The head last seen, sealed.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Anchor {
    seq: i64,
    hash: String,
    mac: String,
}

/// The anchor's MAC key: derived from the master key, never stored.
fn anchor_mac(key: &MasterKey, seq: i64, hash: &str) -> Result<String> {
    let derived = {
        let mut k = Hmac::<Sha256>::new_from_slice(key.bytes())
            .map_err(|e| crate::error::StoreError::Crypto(e.to_string()))?;
        k.update(b"amtsstube/audit-anker/v1");
        k.finalize().into_bytes()
    };
    let mut m = Hmac::<Sha256>::new_from_slice(&derived)
        .map_err(|e| crate::error::StoreError::Crypto(e.to_string()))?;
    m.update(&seq.to_be_bytes());
    m.update(hash.as_bytes());
    Ok(hex::encode(m.finalize().into_bytes()))
}

pub(crate) fn head(conn: &Connection) -> Result<Option<(i64, String)>> {
    Ok(conn
        .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?)
}

/// Compare the database with the anchor outside it. No anchor yet: nothing to say.
pub(crate) fn check_anchor(
    conn: &Connection,
    path: &Path,
    key: &MasterKey,
) -> Result<Option<AuditProblem>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // No anchor yet is a fresh start only if none was ever written.
            let anchored: bool = conn
                .query_row("SELECT anchored FROM audit_head WHERE id = 1", [], |r| {
                    r.get::<_, i64>(0)
                })
                .optional()?
                .is_some_and(|a| a == 1);
            return Ok(anchored.then_some(AuditProblem::AnchorMissing));
        }
        Err(e) => return Err(e).at(path),
    };
    let Ok(anchor) = serde_json::from_slice::<Anchor>(&bytes) else {
        return Ok(Some(AuditProblem::AnchorInvalid));
    };
    if anchor_mac(key, anchor.seq, &anchor.hash)? != anchor.mac {
        return Ok(Some(AuditProblem::AnchorInvalid));
    }
    let found = head(conn)?.map_or(0, |h| h.0);
    if found < anchor.seq {
        return Ok(Some(AuditProblem::RolledBack {
            anchored_seq: anchor.seq,
            found_seq: found,
        }));
    }
    let at: Option<String> = conn
        .query_row(
            "SELECT hash FROM audit_log WHERE seq = ?1",
            params![anchor.seq],
            |r| r.get(0),
        )
        .optional()?;
    if at.as_deref() != Some(anchor.hash.as_str()) {
        return Ok(Some(AuditProblem::Rewritten { seq: anchor.seq }));
    }
    Ok(None)
}

/// Move the anchor to the database's head – only forward, and not over a finding.
pub(crate) fn write_anchor(conn: &Connection, path: &Path, key: &MasterKey) -> Result<()> {
    if check_anchor(conn, path, key)?.is_some() {
        return Ok(());
    }
    let Some((seq, _)) = head(conn)? else {
        return Ok(());
    };
    let current = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Anchor>(&b).ok());
    if current.is_some_and(|a| a.seq >= seq) {
        return Ok(());
    }
    reset_anchor(conn, path, key)
}

/// Set the anchor to the database's head whatever it said before (a restore, which
/// records itself in the chain), and note in the database that it exists.
pub(crate) fn reset_anchor(conn: &Connection, path: &Path, key: &MasterKey) -> Result<()> {
    let Some((seq, hash)) = head(conn)? else {
        return Ok(());
    };
    let mac = anchor_mac(key, seq, &hash)?;
    let json = serde_json::to_vec(&Anchor { seq, hash, mac })
        .map_err(|e| crate::error::StoreError::Corrupt(e.to_string()))?;
    write_atomic(path, &json)?;
    conn.execute(
        "UPDATE audit_head SET anchored = 1 WHERE id = 1 AND anchored = 0",
        [],
    )?;
    Ok(())
}

impl Session {
    /// Verify the audit chain, and the database against the anchor outside it.
    pub fn verify_audit(&self) -> Result<AuditReport> {
        let mut report = verify(&self.conn)?;
        if let Some(p) = check_anchor(&self.conn, &self.store.layout().audit_anchor(), &self.key)? {
            report.problems.push(p);
        }
        // The entries a time-stamping service vouched for (its signature is the
        // caller's to check: see the workstation's `verify_audit`).
        for stamp in self.audit_timestamps()? {
            if self.audit_hash_at(stamp.seq)?.as_deref() != Some(stamp.hash.as_str()) {
                report.problems.push(AuditProblem::TimestampedEntryChanged {
                    seq: stamp.seq,
                    gen_time: stamp.gen_time,
                });
            }
        }
        Ok(report)
    }

    /// The head of the audit chain (sequence number and hash), for anchoring it
    /// outside this machine (the monthly report, a backup).
    pub fn audit_head(&self) -> Result<Option<(i64, String)>> {
        head(&self.conn)
    }

    /// Move the anchor outside the database to the current head.
    pub(crate) fn anchor_audit(&self) {
        if let Err(e) = write_anchor(&self.conn, &self.store.layout().audit_anchor(), &self.key) {
            tracing::warn!("Anker des Protokolls nicht geschrieben: {e}");
        }
    }

    /// Keep an RFC 3161 time stamp of the head `(seq, hash)` (checked by the caller)
    /// and record it in the chain.
    pub fn record_audit_timestamp(&mut self, stamp: &AuditTimestamp) -> Result<()> {
        let now = self.now();
        let actor = self.user().username.as_str().to_owned();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO audit_timestamps (seq, hash, service, gen_time, token, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![stamp.seq, stamp.hash, stamp.service, stamp.gen_time, stamp.token, now],
        )?;
        append(
            &tx,
            &now,
            &actor,
            "protokoll.zeitstempel",
            &format!("Eintrag {} · {}", stamp.seq, stamp.gen_time),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every time stamp kept, oldest first.
    pub fn audit_timestamps(&self) -> Result<Vec<AuditTimestamp>> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, hash, service, gen_time, token FROM audit_timestamps ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(AuditTimestamp {
                seq: r.get(0)?,
                hash: r.get(1)?,
                service: r.get(2)?,
                gen_time: r.get(3)?,
                token: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The hash the chain holds at entry `seq`, if there is one.
    pub fn audit_hash_at(&self, seq: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT hash FROM audit_log WHERE seq = ?1",
                params![seq],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The newest `limit` audit entries, newest first.
    pub fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let mut all = read_all(&self.conn)?;
        all.reverse();
        all.truncate(limit as usize);
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key every test connection seals with (as if all were one store).
    fn test_key() -> &'static MasterKey {
        static KEY: std::sync::OnceLock<MasterKey> = std::sync::OnceLock::new();
        KEY.get_or_init(MasterKey::generate)
    }

    fn fresh(n: usize) -> Result<Connection> {
        fresh_with(n, test_key())
    }

    /// The chain replaced by `n` entries like [`fresh`]'s, entry 2 changed, every
    /// hash redone (with whatever key the connection seals).
    fn rewrite(conn: &Connection, n: usize) -> Result<()> {
        conn.execute_batch("DELETE FROM audit_log; DELETE FROM audit_head;")?;
        for i in 1..=n {
            let object = if i == 2 {
                "AZ-geschönt".to_owned()
            } else {
                format!("AZ-{i}")
            };
            append(
                conn,
                &format!("2026-11-23T10:00:{i:02}Z"),
                "sb1",
                "vorgang.gelesen",
                &object,
            )?;
        }
        Ok(())
    }

    fn fresh_with(n: usize, key: &MasterKey) -> Result<Connection> {
        let mut conn = Connection::open_in_memory()?;
        crate::db::migrate(&mut conn)?;
        register_seal(&conn, key)?;
        for i in 1..=n {
            append(
                &conn,
                &format!("2026-11-23T10:00:{i:02}Z"),
                "sb1",
                "vorgang.gelesen",
                &format!("AZ-{i}"),
            )?;
        }
        // Tampering needs the triggers out of the way, as an attacker with the key would do.
        conn.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")?;
        Ok(conn)
    }

    /// A chain recomputed by someone holding the database key verifies on its own –
    /// the anchor outside the database finds it; an older copy ends before the anchor;
    /// a changed anchor file is refused; the anchor never moves back.
    #[test]
    fn the_anchor_finds_a_recomputed_chain_an_older_copy_and_a_forged_anchor() -> Result<()> {
        let dir =
            tempfile::tempdir().map_err(|e| crate::error::StoreError::Corrupt(e.to_string()))?;
        let path = dir.path().join("audit-anker.json");
        let key = MasterKey::generate();
        let conn = fresh(6)?;
        assert_eq!(check_anchor(&conn, &path, &key)?, None, "no anchor yet");
        write_anchor(&conn, &path, &key)?;
        assert_eq!(check_anchor(&conn, &path, &key)?, None);
        // Recomputed: the same number of entries, one changed, every hash redone.
        rewrite(&conn, 7)?;
        assert!(verify(&conn)?.is_intact(), "the chain alone cannot tell");
        assert_eq!(
            check_anchor(&conn, &path, &key)?,
            Some(AuditProblem::Rewritten { seq: 6 })
        );
        // The finding is kept: the anchor does not follow the rewritten chain.
        write_anchor(&conn, &path, &key)?;
        assert_eq!(
            check_anchor(&conn, &path, &key)?,
            Some(AuditProblem::Rewritten { seq: 6 })
        );
        // An older copy: its chain ends before the anchor.
        let older = fresh(4)?;
        assert_eq!(
            check_anchor(&older, &path, &key)?,
            Some(AuditProblem::RolledBack {
                anchored_seq: 6,
                found_seq: 4
            })
        );
        // The anchor moved back by hand to fit the older copy: its seal no longer fits.
        let text = std::fs::read_to_string(&path)
            .map_err(|e| crate::error::StoreError::Corrupt(e.to_string()))?;
        let forged = text.replacen("\"seq\":6", "\"seq\":4", 1);
        assert_ne!(forged, text);
        std::fs::write(&path, forged)
            .map_err(|e| crate::error::StoreError::Corrupt(e.to_string()))?;
        assert_eq!(
            check_anchor(&older, &path, &key)?,
            Some(AuditProblem::AnchorInvalid)
        );
        // Another key (another store's anchor copied in) does not fit either.
        let fresh_anchor = dir.path().join("b.json");
        let good = fresh(3)?;
        write_anchor(&good, &fresh_anchor, &key)?;
        assert_eq!(
            check_anchor(&good, &fresh_anchor, &MasterKey::generate())?,
            Some(AuditProblem::AnchorInvalid)
        );
        // Only forward: a connection behind the anchor never lowers it.
        let ahead = fresh(5)?;
        write_anchor(&ahead, &fresh_anchor, &key)?;
        write_anchor(&good, &fresh_anchor, &key)?;
        assert_eq!(
            check_anchor(&good, &fresh_anchor, &key)?,
            Some(AuditProblem::RolledBack {
                anchored_seq: 5,
                found_seq: 3
            })
        );
        Ok(())
    }

    #[test]
    fn intact_chain_verifies() -> Result<()> {
        let conn = fresh(5)?;
        let r = verify(&conn)?;
        assert_eq!(r.entries, 5);
        assert!(r.is_intact(), "{:?}", r.problems);
        Ok(())
    }

    #[test]
    fn triggers_refuse_update_and_delete() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        crate::db::migrate(&mut conn)?;
        register_seal(&conn, test_key())?;
        append(&conn, "t", "a", "x", "")?;
        assert!(
            conn.execute("UPDATE audit_log SET actor = 'b'", [])
                .is_err()
        );
        assert!(conn.execute("DELETE FROM audit_log", []).is_err());
        Ok(())
    }

    #[test]
    fn changed_byte_is_found() -> Result<()> {
        let conn = fresh(6)?;
        conn.execute("UPDATE audit_log SET object = 'AZ-X' WHERE seq = 3", [])?;
        assert_eq!(
            verify(&conn)?.problems,
            vec![AuditProblem::Modified { seq: 3 }]
        );
        Ok(())
    }

    #[test]
    fn deleted_entry_is_found() -> Result<()> {
        let conn = fresh(6)?;
        conn.execute("DELETE FROM audit_log WHERE seq = 4", [])?;
        assert_eq!(
            verify(&conn)?.problems,
            vec![AuditProblem::Removed {
                before_seq: 5,
                count: Some(1)
            }]
        );
        Ok(())
    }

    #[test]
    fn deleted_and_renumbered_entry_is_found() -> Result<()> {
        let conn = fresh(6)?;
        conn.execute("DELETE FROM audit_log WHERE seq = 4", [])?;
        conn.execute("UPDATE audit_log SET seq = seq - 1 WHERE seq > 4", [])?;
        conn.execute("UPDATE audit_head SET seq = 5", [])?;
        // The head moved back without the key: its seal no longer fits either.
        assert_eq!(
            verify(&conn)?.problems,
            vec![
                AuditProblem::Removed {
                    before_seq: 4,
                    count: None
                },
                AuditProblem::HeadForged { seq: 5 }
            ]
        );
        Ok(())
    }

    #[test]
    fn swapped_entries_are_found() -> Result<()> {
        let conn = fresh(6)?;
        // Exchange the rows at positions 3 and 4.
        conn.execute_batch(
            "UPDATE audit_log SET seq = 100 WHERE seq = 3;
             UPDATE audit_log SET seq = 3 WHERE seq = 4;
             UPDATE audit_log SET seq = 4 WHERE seq = 100;",
        )?;
        let problems = verify(&conn)?.problems;
        assert!(
            problems.contains(&AuditProblem::Reordered { seq: 3 }),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .all(|p| matches!(p, AuditProblem::Reordered { .. })),
            "{problems:?}"
        );
        Ok(())
    }

    #[test]
    fn cut_off_tail_is_found() -> Result<()> {
        let conn = fresh(6)?;
        conn.execute("DELETE FROM audit_log WHERE seq >= 5", [])?;
        assert_eq!(
            verify(&conn)?.problems,
            vec![AuditProblem::Truncated {
                after_seq: 4,
                expected_last: 6
            }]
        );
        Ok(())
    }

    #[test]
    fn messages_are_german_and_name_the_entry() {
        assert_eq!(
            AuditProblem::Modified { seq: 7 }.to_string(),
            "Eintrag 7 wurde verändert."
        );
        assert!(
            AuditProblem::Reordered { seq: 2 }
                .to_string()
                .contains("vertauscht")
        );
    }

    /// Recomputing the chain needs the seal's key: done with another key (what a
    /// tool without Amtsstube's key derivation would do), the head's seal no
    /// longer fits – the chain alone would verify.
    #[test]
    fn a_chain_recomputed_or_cut_without_the_key_is_found_by_its_head() -> Result<()> {
        let conn = fresh(6)?;
        // Recomputed under another key: one entry changed, every hash redone.
        register_seal(&conn, &MasterKey::generate())?;
        rewrite(&conn, 6)?;
        register_seal(&conn, test_key())?;
        assert_eq!(
            verify(&conn)?.problems,
            vec![AuditProblem::HeadForged { seq: 6 }]
        );
        // The next entry, written with the right key, does not launder it.
        append(&conn, "2026-11-23T10:01:00Z", "sb1", "anmeldung", "")?;
        assert_eq!(
            verify(&conn)?.problems,
            vec![AuditProblem::HeadForged { seq: 7 }]
        );

        // Cut: the last two entries removed and the head set back to entry 4,
        // keeping the seal it had (the only one at hand).
        let cut = fresh(6)?;
        cut.execute_batch(
            "DELETE FROM audit_log WHERE seq > 4;
             UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_log WHERE seq = 4);",
        )?;
        assert_eq!(
            verify(&cut)?.problems,
            vec![AuditProblem::HeadForged { seq: 4 }]
        );
        // The seal removed instead: unsealed, and not sealed again while the
        // anchor outside says the chain was longer.
        let dir =
            tempfile::tempdir().map_err(|e| crate::error::StoreError::Corrupt(e.to_string()))?;
        let anchor = dir.path().join("audit-anker.json");
        let longer = fresh(6)?;
        write_anchor(&longer, &anchor, test_key())?;
        cut.execute_batch("UPDATE audit_head SET mac = NULL")?;
        assert_eq!(
            verify(&cut)?.problems,
            vec![AuditProblem::HeadUnsealed { seq: 4 }]
        );
        assert_eq!(seal_unsealed_head(&cut, &anchor, test_key())?, None);
        assert_eq!(
            verify(&cut)?.problems,
            vec![AuditProblem::HeadUnsealed { seq: 4 }]
        );
        Ok(())
    }

    /// A store from before the seal: its intact chain gets its head sealed once,
    /// a chain with a finding is left unsealed (the finding stays visible), and a
    /// sealed head is never sealed again.
    #[test]
    fn an_older_store_gets_its_head_sealed_once_if_nothing_is_wrong() -> Result<()> {
        let dir =
            tempfile::tempdir().map_err(|e| crate::error::StoreError::Corrupt(e.to_string()))?;
        let anchor = dir.path().join("audit-anker.json");
        let old = fresh(5)?;
        old.execute_batch("UPDATE audit_head SET mac = NULL")?;
        assert_eq!(
            verify(&old)?.problems,
            vec![AuditProblem::HeadUnsealed { seq: 5 }]
        );
        assert_eq!(seal_unsealed_head(&old, &anchor, test_key())?, Some(5));
        assert!(verify(&old)?.is_intact());
        assert_eq!(
            seal_unsealed_head(&old, &anchor, test_key())?,
            None,
            "only once"
        );

        let broken = fresh(5)?;
        broken.execute_batch(
            "UPDATE audit_head SET mac = NULL; UPDATE audit_log SET object = 'AZ-X' WHERE seq = 2;",
        )?;
        assert_eq!(seal_unsealed_head(&broken, &anchor, test_key())?, None);
        assert_eq!(
            verify(&broken)?.problems,
            vec![
                AuditProblem::Modified { seq: 2 },
                AuditProblem::HeadUnsealed { seq: 5 }
            ]
        );
        Ok(())
    }
}
