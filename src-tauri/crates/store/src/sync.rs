//! Repositories for the sync engine: received submissions (dedupe and state), their
//! documents, quarantine, and the durable outbox.
//!
//! The exactly-once rules live here as transactions:
//! * a submission, its case, its documents and the outbox item that will accept it
//!   are committed together – so nothing is accepted that is not durably stored,
//!   and a crash before the commit leaves nothing but orphan blob files (removed at
//!   the next unlock);
//! * the submission id is the primary key – a second pickup of the same submission
//!   changes nothing;
//! * an outbox item is unique by its idempotency key and keeps the remote id a first
//!   attempt obtained, so a retry resumes instead of repeating.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::audit;
use crate::error::{Result, StoreError};
use crate::vault::insert_blob_row;
use crate::{Session, random_hex};

/// What became of a received submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionState {
    /// Stored locally; the accept is queued.
    Stored,
    /// The portal has our accept.
    Accepted,
    /// Invalid; kept for the administration; the reject is queued.
    Quarantined,
    /// The portal has our reject.
    Rejected,
}

impl SubmissionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionState::Stored => "stored",
            SubmissionState::Accepted => "accepted",
            SubmissionState::Quarantined => "quarantined",
            SubmissionState::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "stored" => SubmissionState::Stored,
            "accepted" => SubmissionState::Accepted,
            "quarantined" => SubmissionState::Quarantined,
            "rejected" => SubmissionState::Rejected,
            other => return Err(StoreError::Corrupt(format!("unbekannter Zustand {other}"))),
        })
    }
}

pub use domain::DocumentKind;

/// One decrypted part of a submission. Personal data: never log it.
#[derive(Debug, Clone)]
pub struct IncomingDocument {
    pub kind: DocumentKind,
    pub filename: Option<String>,
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

/// A verified submission ready to be stored, with the outbox item that accepts it.
#[derive(Debug, Clone)]
pub struct IncomingSubmission {
    pub submission_id: String,
    pub fc_case_id: String,
    pub service: String,
    pub case_type: String,
    pub applicant: String,
    pub received_at: String,
    /// JSON of the authentication tags.
    pub auth_tags: String,
    pub documents: Vec<IncomingDocument>,
    pub accept: NewOutboxItem,
}

/// An invalid submission for the quarantine, with the outbox item that rejects it.
#[derive(Debug, Clone)]
pub struct QuarantinedSubmission {
    pub submission_id: String,
    pub fc_case_id: String,
    pub service: String,
    pub received_at: String,
    /// JSON list of problems.
    pub problems: String,
    /// The still encrypted parts (JSON), kept for inspection.
    pub ciphertext: Vec<u8>,
    pub reject: NewOutboxItem,
}

/// Result of storing a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A new case was created.
    NewCase {
        case_id: String,
        file_number: String,
    },
    /// A follow-up in a known FIT-Connect case was attached to its local case.
    FollowUp {
        case_id: String,
        file_number: String,
    },
    /// Seen before: nothing changed.
    AlreadyKnown(SubmissionState),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOutboxItem {
    pub idempotency_key: String,
    pub kind: String,
    pub ordering_key: String,
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    pub idempotency_key: String,
    pub kind: String,
    pub ordering_key: String,
    pub payload: String,
    pub attempts: u32,
    pub remote_id: Option<String>,
    pub state: String,
    pub last_error: Option<String>,
    /// When the next attempt is due (RFC 3339), after a failed one.
    pub next_attempt_at: Option<String>,
}

/// A submission in the quarantine (administration view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantineEntry {
    pub submission_id: String,
    pub fc_case_id: String,
    /// The reject reached the portal.
    pub rejected: bool,
    /// JSON list of the reject problems.
    pub problems: String,
    pub received_at: String,
}

/// Sizes for the status display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub pending: u64,
    pub failed: u64,
    pub done: u64,
}

pub(crate) fn enqueue(
    conn: &rusqlite::Connection,
    item: &NewOutboxItem,
    now: &str,
) -> Result<bool> {
    let n = conn.execute(
        "INSERT INTO outbox (idempotency_key, kind, ordering_key, payload, state, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5) ON CONFLICT (idempotency_key) DO NOTHING",
        params![item.idempotency_key, item.kind, item.ordering_key, item.payload, now],
    )?;
    Ok(n == 1)
}

/// Maps `SELECT id, idempotency_key, kind, ordering_key, payload, attempts, remote_id, state, last_error, next_attempt_at`.
fn outbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxItem> {
    Ok(OutboxItem {
        id: r.get(0)?,
        idempotency_key: r.get(1)?,
        kind: r.get(2)?,
        ordering_key: r.get(3)?,
        payload: r.get(4)?,
        attempts: r.get(5)?,
        remote_id: r.get(6)?,
        state: r.get(7)?,
        last_error: r.get(8)?,
        next_attempt_at: r.get(9)?,
    })
}

/// The words of application data for the search index: the values of a JSON
/// document (not its keys), or plain text. Other formats are not indexed.
fn searchable_text(bytes: &[u8], mime: &str) -> Option<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Number(n) => out.push(n.to_string()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    if mime.contains("json") {
        let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let mut out = Vec::new();
        walk(&v, &mut out);
        Some(out.join(" "))
    } else if mime.starts_with("text/") {
        std::str::from_utf8(bytes).ok().map(str::to_owned)
    } else {
        None
    }
}

/// The reason a late bounce is recorded with: the task shows it.
pub fn late_bounce_reason(reason: &str) -> String {
    format!("Nachträglich als unzustellbar gemeldet: {reason}")
}

impl Session {
    /// The local state of a submission, if it was seen before.
    pub fn submission_state(&self, submission_id: &str) -> Result<Option<SubmissionState>> {
        self.conn
            .query_row(
                "SELECT state FROM fc_submissions WHERE submission_id = ?1",
                params![submission_id],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .map(|s| SubmissionState::parse(&s))
            .transpose()
    }

    /// Store a verified submission: documents (encrypted blobs), the case (new, or the
    /// known case of the same FIT-Connect case), the submission row and the accept
    /// item – all in one transaction. Known submissions are left untouched.
    pub fn store_submission(&mut self, s: &IncomingSubmission) -> Result<Stored> {
        if let Some(state) = self.submission_state(&s.submission_id)? {
            return Ok(Stored::AlreadyKnown(state));
        }
        // Files first (durable, no rows yet); a crash here leaves orphans only.
        let writer = self.blob_writer();
        let prepared = s
            .documents
            .iter()
            .map(|doc| writer.write(doc.bytes.as_slice()))
            .collect::<Result<Vec<_>>>()?;
        self.store_submission_prepared(s, prepared)
    }

    /// [`Session::store_submission`] with its documents already written durably by
    /// a [`crate::BlobWriter`] (one per document, in order), on another thread while
    /// this one committed the submission before: only the transaction is left here.
    /// A known submission or a failed transaction removes the prepared files.
    pub fn store_submission_prepared(
        &mut self,
        s: &IncomingSubmission,
        prepared: Vec<crate::PreparedBlob>,
    ) -> Result<Stored> {
        if let Some(state) = self.submission_state(&s.submission_id)? {
            return Ok(Stored::AlreadyKnown(state));
        }
        if prepared.len() != s.documents.len()
            || s.documents
                .iter()
                .zip(&prepared)
                .any(|(doc, p)| p.info().size != doc.bytes.len() as u64)
        {
            return Err(StoreError::InvalidInput(format!(
                "Die vorab abgelegten Dokumente passen nicht zur Einreichung {}.",
                s.submission_id
            )));
        }
        let blobs: Vec<crate::BlobInfo> = prepared.iter().map(|p| p.info().clone()).collect();
        let now = self.now();
        let actor = self.user().username.to_string();
        let tx = self.conn.transaction()?;
        let known: Option<(String, String)> = tx
            .query_row(
                "SELECT id, file_number FROM cases WHERE fc_case_id = ?1",
                params![s.fc_case_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let outcome = match known {
            Some((case_id, file_number)) => {
                // The citizen answered a Nachforderung: the case returns to where it
                // was waiting from, and the history says so.
                let waiting: Option<(String, Option<String>)> = tx
                    .query_row(
                        "SELECT status, waiting_from FROM cases WHERE id = ?1",
                        params![case_id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                if let Some((status, from)) = waiting
                    && status == "nachgefordert"
                {
                    let back = match from.as_deref() {
                        Some("in_bearbeitung") => "in_bearbeitung",
                        _ => "in_pruefung",
                    };
                    tx.execute(
                        "UPDATE cases SET status = ?2, waiting_from = NULL WHERE id = ?1",
                        params![case_id, back],
                    )?;
                    tx.execute(
                        "INSERT INTO case_history (case_id, at, actor, kind, from_state, to_state, detail)
                         VALUES (?1, ?2, 'portal', 'nachreichung_eingegangen', 'nachgefordert', ?3, ?4)",
                        params![
                            case_id,
                            now,
                            back,
                            // The portal's signed receipt time is the legal receipt of
                            // the documents (§ 42a Abs. 2 VwVfG: the period's start).
                            serde_json::json!({
                                "einreichung": s.submission_id,
                                "eingang": s.received_at,
                            })
                            .to_string()
                        ],
                    )?;
                }
                Stored::FollowUp {
                    case_id,
                    file_number,
                }
            }
            None => {
                let case_id = random_hex(16);
                let typed = self.numbering.as_ref().and_then(|n| {
                    n.types
                        .iter()
                        .find(|t| t.matches(&s.service) || t.matches(&s.case_type))
                        .map(|t| (n, t))
                });
                let file_number = crate::numbering::next_file_number(
                    &tx,
                    typed.map(|(n, t)| (n, t.kuerzel.as_str())),
                    crate::numbering::year_of(&s.received_at)?,
                )?;
                let (code, type_name) = match typed {
                    Some((_, t)) => (Some(t.kuerzel.clone()), t.name.clone()),
                    None => (None, s.case_type.clone()),
                };
                tx.execute(
                    "INSERT INTO cases (id, file_number, case_type, applicant, status, received_at, created_at, fc_case_id, case_type_code)
                     VALUES (?1, ?2, ?3, ?4, 'eingegangen', ?5, ?6, ?7, ?8)",
                    params![case_id, file_number, type_name, s.applicant, s.received_at, now, s.fc_case_id, code],
                )?;
                Stored::NewCase {
                    case_id,
                    file_number,
                }
            }
        };
        let (case_id, file_number) = match &outcome {
            Stored::NewCase {
                case_id,
                file_number,
            }
            | Stored::FollowUp {
                case_id,
                file_number,
            } => (case_id.clone(), file_number.clone()),
            Stored::AlreadyKnown(_) => unreachable!("handled above"),
        };
        tx.execute(
            "INSERT INTO fc_submissions (submission_id, fc_case_id, case_id, state, auth_tags, service, received_at, updated_at)
             VALUES (?1, ?2, ?3, 'stored', ?4, ?5, ?6, ?7)",
            params![s.submission_id, s.fc_case_id, case_id, s.auth_tags, s.service, s.received_at, now],
        )?;
        for (doc, blob) in s.documents.iter().zip(&blobs) {
            insert_blob_row(&tx, blob, &now)?;
            tx.execute(
                "INSERT INTO case_documents (case_id, submission_id, blob_id, kind, filename, mime_type, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![case_id, s.submission_id, blob.id.as_str(), doc.kind.as_str(), doc.filename, doc.mime_type, now],
            )?;
        }
        for doc in &s.documents {
            if doc.kind == DocumentKind::Data
                && let Some(text) = searchable_text(&doc.bytes, &doc.mime_type)
            {
                Session::index_content(&tx, &case_id, &text)?;
            }
        }
        enqueue(&tx, &s.accept, &now)?;
        let action = if matches!(outcome, Stored::NewCase { .. }) {
            "eingang.online"
        } else {
            "eingang.nachreichung"
        };
        audit::append(&tx, &now, &actor, action, &file_number)?;
        // From the commit on the rows may be durable even if it reports an error:
        // the files stay then, and the next unlock removes them if no row came.
        prepared.into_iter().for_each(crate::PreparedBlob::keep);
        tx.commit()?;
        Ok(outcome)
    }

    /// Keep an invalid submission for the administration and queue its reject.
    /// Returns false when the submission was seen before.
    pub fn quarantine_submission(&mut self, q: &QuarantinedSubmission) -> Result<bool> {
        if self.submission_state(&q.submission_id)?.is_some() {
            return Ok(false);
        }
        let blob = self.write_blob_file(q.ciphertext.as_slice())?;
        let now = self.now();
        let actor = self.user().username.to_string();
        let tx = self.conn.transaction()?;
        insert_blob_row(&tx, &blob, &now)?;
        tx.execute(
            "INSERT INTO fc_submissions (submission_id, fc_case_id, case_id, state, problems, ciphertext, service, received_at, updated_at)
             VALUES (?1, ?2, NULL, 'quarantined', ?3, ?4, ?5, ?6, ?7)",
            params![q.submission_id, q.fc_case_id, q.problems, blob.id.as_str(), q.service, q.received_at, now],
        )?;
        enqueue(&tx, &q.reject, &now)?;
        audit::append(&tx, &now, &actor, "eingang.quarantaene", &q.submission_id)?;
        tx.commit()?;
        Ok(true)
    }

    /// Queue an item; false if an item with this idempotency key exists already.
    pub fn enqueue(&mut self, item: &NewOutboxItem) -> Result<bool> {
        let now = self.now();
        enqueue(&self.conn, item, &now)
    }

    /// Items that may go out now: for every ordering key only its oldest unfinished
    /// item (per-case order; a failed item holds back the rest of its case until the
    /// administration requeues it), and only if its next attempt is due.
    pub fn due_outbox(&self, now: &str, limit: u32) -> Result<Vec<OutboxItem>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT o.id, o.idempotency_key, o.kind, o.ordering_key, o.payload, o.attempts, o.remote_id, o.state, o.last_error, o.next_attempt_at
             FROM outbox o
             WHERE o.state = 'pending'
               AND o.id = (SELECT min(id) FROM outbox p WHERE p.ordering_key = o.ordering_key AND p.state IN ('pending', 'failed'))
               AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?1)
             ORDER BY o.id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now, limit], outbox_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Record the remote id a first attempt obtained (e.g. the submission id of a
    /// reply after create), so a retry resumes from there.
    pub fn outbox_remote_id(&mut self, id: i64, remote_id: &str) -> Result<()> {
        let now = self.now();
        self.conn.execute(
            "UPDATE outbox SET remote_id = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, remote_id, now],
        )?;
        Ok(())
    }

    /// The item reached the portal. Accept and reject items also move their
    /// submission to `accepted` / `rejected` in the same transaction.
    pub fn outbox_done(&mut self, id: i64) -> Result<()> {
        let now = self.now();
        let tx = self.conn.transaction()?;
        let (kind, key): (String, String) = tx.query_row(
            "SELECT kind, idempotency_key FROM outbox WHERE id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        tx.execute(
            "UPDATE outbox SET state = 'done', last_error = NULL, updated_at = ?2 WHERE id = ?1",
            params![id, now],
        )?;
        let next = match kind.as_str() {
            "accept" => Some("accepted"),
            "reject" => Some("rejected"),
            _ => None,
        };
        if let (Some(state), Some(sub)) = (next, key.split_once(':').map(|(_, s)| s)) {
            tx.execute(
                "UPDATE fc_submissions SET state = ?2, updated_at = ?3 WHERE submission_id = ?1",
                params![sub, state, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A transient failure: count it and schedule the next attempt.
    pub fn outbox_retry(&mut self, id: i64, error: &str, next_attempt_at: &str) -> Result<()> {
        let now = self.now();
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, error, next_attempt_at, now],
        )?;
        Ok(())
    }

    /// A permanent failure: the item stops and waits for the administration. Later
    /// items of the same ordering key wait behind it; other keys go on.
    pub fn outbox_failed(&mut self, id: i64, error: &str) -> Result<()> {
        let now = self.now();
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, state = 'failed', last_error = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, error, now],
        )?;
        Ok(())
    }

    /// A late bounce (a delivery status notification read from the town's mailbox)
    /// for the e-mail with this Message-ID: the item, sent before, is failed again
    /// with the mail server's reason, so the case shows it and the clerk gets the
    /// task; the case's history and the audit log record it. Returns whether this
    /// call recorded it (false: no such e-mail of ours, or already recorded or
    /// replaced by post – a notification read twice changes nothing).
    pub fn mail_bounced(&mut self, message_id: &str, reason: &str) -> Result<bool> {
        let now = self.now();
        let tx = self.conn.transaction()?;
        let item: Option<(i64, String, bool)> = tx
            .query_row(
                "SELECT id, ordering_key, json_extract(payload, '$.pgpPublicKey') IS NULL FROM outbox
                 WHERE kind = 'mail' AND state = 'done' AND last_error IS NULL
                   AND json_extract(payload, '$.messageId') = ?1",
                params![message_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((id, ordering_key, notice)) = item else {
            return Ok(false);
        };
        let reason = late_bounce_reason(reason);
        // A notice announced a letter that went by post anyway: recorded, but it
        // stays done (failed, it would hold back the case's later e-mails).
        tx.execute(
            "UPDATE outbox SET state = CASE WHEN ?4 THEN 'done' ELSE 'failed' END, last_error = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, reason, now, notice],
        )?;
        let case_key = ordering_key.strip_prefix("mail:").unwrap_or(&ordering_key);
        let case: Option<(String, String)> = tx
            .query_row(
                "SELECT id, file_number FROM cases WHERE id = ?1 OR fc_case_id = ?1 LIMIT 1",
                params![case_key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((case_id, file_number)) = &case {
            tx.execute(
                "INSERT INTO case_history (case_id, at, actor, kind, detail)
                 VALUES (?1, ?2, 'mailserver', 'email_unzustellbar', ?3)",
                params![
                    case_id,
                    now,
                    serde_json::json!({ "grund": reason }).to_string()
                ],
            )?;
            audit::append(
                &tx,
                &now,
                "mailserver",
                "vorgang.email_unzustellbar",
                file_number,
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// A user asked to synchronise now: waiting items are due at once, whatever
    /// their backoff says (failed items stay with the administration).
    pub fn outbox_due_now(&mut self) -> Result<u64> {
        let n = self.conn.execute(
            "UPDATE outbox SET next_attempt_at = NULL WHERE state = 'pending' AND next_attempt_at IS NOT NULL",
            [],
        )?;
        Ok(n as u64)
    }

    /// Put a failed item back into the queue (administration: "erneut versuchen").
    /// False when there is no failed item with this id. Without the case key in a
    /// split store the request waits for a holder's session ([`Session::refresh_overview`]).
    pub fn outbox_requeue(&mut self, id: i64) -> Result<bool> {
        let now = self.now();
        if !self.may_store_cases()? {
            let tx = self.conn.transaction()?;
            let n = tx.execute(
                "UPDATE outbox_overview SET state = 'pending', next_attempt_at = NULL WHERE id = ?1 AND state = 'failed'",
                params![id],
            )?;
            if n == 1 {
                tx.execute(
                    "INSERT OR IGNORE INTO outbox_requeue (id, requested_at) VALUES (?1, ?2)",
                    params![id, now],
                )?;
            }
            tx.commit()?;
            return Ok(n == 1);
        }
        let n = self.conn.execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = NULL, updated_at = ?2 WHERE id = ?1 AND state = 'failed'",
            params![id, now],
        )?;
        Ok(n == 1)
    }

    pub fn outbox_counts(&self) -> Result<OutboxCounts> {
        let mut c = OutboxCounts::default();
        let table = self.outbox_table()?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT state, count(*) FROM {table} GROUP BY state"
        ))?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (state, n) = row?;
            // A COUNT(*) is never negative.
            let n = u64::try_from(n).unwrap_or(0);
            match state.as_str() {
                "pending" => c.pending = n,
                "failed" => c.failed = n,
                _ => c.done = n,
            }
        }
        Ok(c)
    }

    /// All outbox items of a kind (administration view, tests).
    pub fn outbox_items(&self, state: Option<&str>) -> Result<Vec<OutboxItem>> {
        // Without the case key in a split store: the overview, without payloads.
        let (table, payload) = match self.outbox_table()? {
            "outbox" => ("outbox", "payload"),
            other => (other, "''"),
        };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, idempotency_key, kind, ordering_key, {payload}, attempts, remote_id, state, last_error, next_attempt_at
             FROM {table} WHERE (?1 IS NULL OR state = ?1) ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![state], outbox_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The items of some ordering keys (one case's accept, replies and bookings).
    pub fn outbox_items_for(&self, keys: &[&str]) -> Result<Vec<OutboxItem>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, idempotency_key, kind, ordering_key, payload, attempts, remote_id, state, last_error, next_attempt_at
             FROM outbox WHERE ordering_key = ?1 ORDER BY id",
        )?;
        let mut items = Vec::new();
        for key in keys {
            let rows = stmt.query_map(params![key], outbox_row)?;
            items.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
        }
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    /// Submission ids with their state (consistency checks, administration).
    pub fn submissions(&self) -> Result<Vec<(String, SubmissionState)>> {
        let mut stmt = self.conn.prepare(
            "SELECT submission_id, state FROM fc_submissions ORDER BY received_at, submission_id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        rows.map(|r| {
            let (id, st) = r?;
            Ok((id, SubmissionState::parse(&st)?))
        })
        .collect()
    }

    /// The submissions a case came with: (submission id, FIT-Connect case, service,
    /// received at), oldest first.
    pub fn case_submissions(&self, case_id: &str) -> Result<Vec<(String, String, String, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT submission_id, fc_case_id, service, received_at FROM fc_submissions
             WHERE case_id = ?1 ORDER BY received_at, submission_id",
        )?;
        let rows = stmt.query_map(params![case_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The quarantine: submissions refused as invalid, with their problems (JSON) and
    /// whether the reject has reached the portal. No content data.
    pub fn quarantine(&self) -> Result<Vec<QuarantineEntry>> {
        let sql = if self.may_store_cases()? {
            "SELECT submission_id, fc_case_id, state, problems, received_at FROM fc_submissions
             WHERE state IN ('quarantined', 'rejected') ORDER BY received_at, submission_id"
        } else {
            "SELECT submission_id, fc_case_id, CASE rejected WHEN 1 THEN 'rejected' ELSE 'quarantined' END,
                    problems, received_at FROM quarantine_overview ORDER BY received_at, submission_id"
        };
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| {
            Ok(QuarantineEntry {
                submission_id: r.get(0)?,
                fc_case_id: r.get(1)?,
                rejected: r.get::<_, String>(2)? == "rejected",
                // Problems are recorded with the rejection; before it, there are none.
                problems: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                received_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Number of documents of a local case.
    pub fn document_count(&self, case_id: &str) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM case_documents WHERE case_id = ?1",
            params![case_id],
            |r| r.get(0),
        )?;
        // COUNT(*) is never negative.
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

impl Session {
    /// Where this session reads the outbox's states: the outbox itself, or – without
    /// the case key in a split store – the plain overview.
    fn outbox_table(&self) -> Result<&'static str> {
        Ok(if self.may_store_cases()? {
            "outbox"
        } else {
            "outbox_overview"
        })
    }

    /// A holder's session of a split store: apply the Administration's waiting
    /// "erneut versuchen", bring the plain overview of the outbox up to date (the
    /// items changed since the last time) and write the quarantine's anew (see
    /// migration 20). Nothing otherwise.
    pub fn refresh_overview(&mut self) -> Result<()> {
        if !self.holds_case_key() || !crate::inhalt::is_split(&self.conn)? {
            return Ok(());
        }
        let waiting: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id FROM main.outbox_requeue ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for id in waiting {
            // Requeued in the case file first: a crash before the request is gone
            // only requeues once more (the state filter makes it a no-op).
            self.outbox_requeue(id)?;
            self.conn
                .execute("DELETE FROM main.outbox_requeue WHERE id = ?1", params![id])?;
        }
        // Items changed since the last refresh (all at the first one): the
        // overview keeps every item, as the Administration's list shows them.
        let since: String = self
            .conn
            .query_row(
                "SELECT value FROM main.secrets WHERE name = 'outbox_overview_bis'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_default();
        let upto: Option<String> =
            self.conn
                .query_row("SELECT max(updated_at) FROM inhalt.outbox", [], |r| {
                    r.get(0)
                })?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO main.outbox_overview (id, idempotency_key, kind, ordering_key, attempts, remote_id, state, last_error, next_attempt_at)
                 SELECT id, idempotency_key, kind, ordering_key, attempts, remote_id, state, last_error, next_attempt_at
                 FROM inhalt.outbox WHERE updated_at >= ?1",
            params![since],
        )?;
        if let Some(upto) = upto {
            tx.execute(
                "INSERT OR REPLACE INTO main.secrets (name, value) VALUES ('outbox_overview_bis', ?1)",
                params![upto],
            )?;
        }
        tx.execute_batch(
            "DELETE FROM main.quarantine_overview;
             INSERT INTO main.quarantine_overview (submission_id, fc_case_id, rejected, problems, received_at)
                 SELECT submission_id, fc_case_id, state = 'rejected', coalesce(problems, ''), received_at
                 FROM inhalt.fc_submissions WHERE state IN ('quarantined', 'rejected');",
        )?;
        tx.commit()?;
        Ok(())
    }
}
