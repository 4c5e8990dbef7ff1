//! FIT-Connect pickup by the Rathaus-Server: the town hall's one subscriber of its
//! destination, so no two desks race for a submission.
//!
//! The `sync` crate's run (the same state machine the standalone workstation uses)
//! drives the portal; this module is its store on PostgreSQL ([`PickupStore`]).
//! A submission is opened and checked in memory, then its case content and every
//! document are sealed to the `fall` kind key and stored together with the accept
//! in one transaction – the accept goes out only after that commit. The case
//! enters the change feed like any other, with an Aktenzeichen from the server's
//! counter. Without a `fall` key (no Leitung has signed in yet) nothing is fetched
//! into the record and nothing accepted.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use deadpool_postgres::GenericClient;
use domain::CaseState;
use fitconnect::client::{SubscriberSettings, V1Client};
use jiff::Timestamp;
use office::protocol::{CaseMeta, Event};
use office::rules::{Change, Effect};
use serde::Serialize;
use store::{
    IncomingSubmission, NewOutboxItem, OutboxItem, QuarantinedSubmission, Stored, SubmissionState,
};
use sync::machine::{StoreOp, StoreResult};
use sync::{Subscriber, SyncError, SyncStore};
use uuid::Uuid;

use crate::error::{Result, ServerError};
use crate::record::{Record, append, audit, parse_time, stmt, text_time};

/// What the case content holds, sealed to the `fall` key: who applied for what,
/// and the list of the documents (each sealed on its own in `case_documents`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OnlineContent<'a> {
    applicant: &'a str,
    service: &'a str,
    case_type: &'a str,
    fc_case_id: &'a str,
    submission_id: &'a str,
    auth_tags: serde_json::Value,
    documents: Vec<DocumentInfo<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DocumentInfo<'a> {
    kind: &'static str,
    filename: Option<&'a str>,
    mime_type: &'a str,
    size: usize,
}

/// One document as sealed: its description and its bytes.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SealedDocument<'a> {
    kind: &'static str,
    filename: Option<&'a str>,
    mime_type: &'a str,
    data: String,
}

/// What the pickup has done so far (no personal data).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PickupStatus {
    /// Submissions stored as cases (accepted or about to be).
    pub accepted: i64,
    /// Invalid submissions (rejected or about to be).
    pub quarantined: i64,
    /// Accepts and rejects waiting to go out, and those that failed for good.
    pub pending: i64,
    pub failed: i64,
}

fn invalid(reason: impl Into<String>) -> ServerError {
    ServerError::Invalid(reason.into())
}

fn submission_uuid(raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw).map_err(|_| invalid(format!("Einreichung „{raw}“: keine UUID")))
}

fn state_of(raw: &str) -> Result<SubmissionState> {
    Ok(match raw {
        "stored" => SubmissionState::Stored,
        "accepted" => SubmissionState::Accepted,
        "quarantined" => SubmissionState::Quarantined,
        "rejected" => SubmissionState::Rejected,
        other => return Err(ServerError::Db(format!("unbekannter Zustand {other}"))),
    })
}

async fn enqueue(client: &impl GenericClient, item: &NewOutboxItem) -> Result<()> {
    client
        .execute(
            &stmt(
                client,
                "INSERT INTO outbox (idempotency_key, kind, ordering_key, payload)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .await?,
            &[
                &item.idempotency_key,
                &item.kind,
                &item.ordering_key,
                &item.payload,
            ],
        )
        .await?;
    Ok(())
}

fn outbox_item(r: &tokio_postgres::Row) -> Result<OutboxItem> {
    let next: Option<Timestamp> = r.try_get("next_attempt_at")?;
    let attempts: i32 = r.try_get("attempts")?;
    Ok(OutboxItem {
        id: r.try_get("id")?,
        idempotency_key: r.try_get("idempotency_key")?,
        kind: r.try_get("kind")?,
        ordering_key: r.try_get("ordering_key")?,
        payload: r.try_get("payload")?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        remote_id: r.try_get("remote_id")?,
        state: r.try_get("state")?,
        last_error: r.try_get("last_error")?,
        next_attempt_at: next.map(text_time),
    })
}

const OUTBOX_COLUMNS: &str = "id, idempotency_key, kind, ordering_key, payload, attempts, \
     remote_id, state, last_error, next_attempt_at, sealed";

impl Record {
    /// The `fall` kind key's recipient, once a Leitung has made it.
    pub async fn fall_recipient(&self) -> Result<Option<String>> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &stmt(
                    &client,
                    "SELECT recipient FROM kind_keys WHERE kind = 'fall'",
                )
                .await?,
                &[],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// The documents of a case, for a user who may see the case (else refused with
    /// an audit entry). Still sealed to the case key.
    pub async fn case_documents(
        &self,
        actor: &office::rules::Actor,
        workstation: Uuid,
        case_id: Uuid,
    ) -> Result<Vec<office::protocol::SealedDocument>> {
        let client = self.pool.get().await?;
        let case = client
            .query_opt(
                &stmt(&client, "SELECT assignee FROM cases WHERE id = $1").await?,
                &[&case_id],
            )
            .await?;
        let allowed = match &case {
            Some(row) => {
                let assignee: Option<String> = row.try_get(0)?;
                actor.role.may(domain::Permission::EditCases)
                    && office::rules::visible(actor, assignee.as_deref())
            }
            None => false,
        };
        if !allowed {
            let why = format!(
                "{} darf die Dokumente des Vorgangs {case_id} nicht lesen.",
                actor.user
            );
            audit(
                &client,
                Some(&actor.user),
                Some(workstation),
                "dokumente_abgelehnt",
                &why,
            )
            .await?;
            return Err(ServerError::Forbidden(why));
        }
        let rows = client
            .query(
                &stmt(
                    &client,
                    "SELECT id, submission_id, content FROM case_documents WHERE case_id = $1 ORDER BY id",
                )
                .await?,
                &[&case_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(office::protocol::SealedDocument {
                    id: r.try_get(0)?,
                    submission_id: r.try_get(1)?,
                    content: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// A document of a case made at a desk (a scan approved at the scanning desk),
    /// sealed to the case key there. Allowed to whoever may work on the case, and
    /// to the user who created it (the scanning desk); refusals audited. Sent
    /// twice (`key`), kept once.
    pub async fn add_document(
        &self,
        actor: &office::rules::Actor,
        workstation: Uuid,
        case_id: Uuid,
        key: &str,
        content: &[u8],
    ) -> Result<bool> {
        if key.is_empty() || key.len() > 200 {
            return Err(invalid("Ungültige Dokumentkennung."));
        }
        office::Ciphertext::check_age(content).map_err(|r| invalid(r.reason))?;
        let client = self.pool.get().await?;
        let case = client
            .query_opt(
                &stmt(
                    &client,
                    "SELECT c.assignee, EXISTS (SELECT 1 FROM case_events e
                       WHERE e.case_id = c.id AND e.kind = 'eingang' AND e.actor = $2)
                     FROM cases c WHERE c.id = $1",
                )
                .await?,
                &[&case_id, &actor.user],
            )
            .await?;
        let allowed = match &case {
            Some(row) => {
                let assignee: Option<String> = row.try_get(0)?;
                let created: bool = row.try_get(1)?;
                (actor.role.may(domain::Permission::EditCases)
                    && office::rules::visible(actor, assignee.as_deref()))
                    || (actor.role.may(domain::Permission::ScanIntake) && created)
            }
            None => false,
        };
        if !allowed {
            let why = format!(
                "{} darf dem Vorgang {case_id} keine Dokumente hinzufügen.",
                actor.user
            );
            audit(
                &client,
                Some(&actor.user),
                Some(workstation),
                "dokumente_abgelehnt",
                &why,
            )
            .await?;
            return Err(ServerError::Forbidden(why));
        }
        let inserted = client
            .execute(
                &stmt(
                    &client,
                    "INSERT INTO case_documents (case_id, submission_id, content, import_key)
                     VALUES ($1, NULL, $2, $3) ON CONFLICT (import_key) DO NOTHING",
                )
                .await?,
                &[&case_id, &content, &format!("{case_id}:{key}")],
            )
            .await?;
        Ok(inserted == 1)
    }

    /// Figures of the pickup for `amtsstube-server status`: submissions per state
    /// and outbox items per state.
    pub async fn pickup_status(&self) -> Result<PickupStatus> {
        let client = self.pool.get().await?;
        let mut out = PickupStatus::default();
        for row in client
            .query(
                &stmt(
                    &client,
                    "SELECT state, count(*) FROM fc_submissions GROUP BY state",
                )
                .await?,
                &[],
            )
            .await?
        {
            let state: String = row.try_get(0)?;
            let n: i64 = row.try_get(1)?;
            match state.as_str() {
                "stored" | "accepted" => out.accepted += n,
                _ => out.quarantined += n,
            }
        }
        for row in client
            .query(
                &stmt(&client, "SELECT state, count(*) FROM outbox GROUP BY state").await?,
                &[],
            )
            .await?
        {
            let state: String = row.try_get(0)?;
            let n: i64 = row.try_get(1)?;
            match state.as_str() {
                "pending" => out.pending = n,
                "failed" => out.failed = n,
                _ => {}
            }
        }
        Ok(out)
    }

    /// The states of these submissions (`None`: never seen).
    pub async fn submission_states(&self, ids: &[Uuid]) -> Result<Vec<Option<SubmissionState>>> {
        let client = self.pool.get().await?;
        let query = stmt(
            &client,
            "SELECT state FROM fc_submissions WHERE submission_id = $1",
        )
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row = client.query_opt(&query, &[id]).await?;
            out.push(
                row.map(|r| r.try_get::<_, String>(0))
                    .transpose()?
                    .map(|s| state_of(&s))
                    .transpose()?,
            );
        }
        Ok(out)
    }

    /// Store a checked submission: a new case (or a follow-up in a known one), its
    /// documents and its accept, in one transaction; the case enters the feed.
    pub async fn store_submission(&self, s: &IncomingSubmission, fall: &str) -> Result<Stored> {
        let submission_id = submission_uuid(&s.submission_id)?;
        let fc_case_id = submission_uuid(&s.fc_case_id)?;
        let received = parse_time(&s.received_at).map_err(|r| invalid(r.reason))?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // One pickup at a time per submission: the row lock of the submission id.
        let known = tx
            .query_opt(
                &stmt(
                    &tx,
                    "SELECT state FROM fc_submissions WHERE submission_id = $1 FOR UPDATE",
                )
                .await?,
                &[&submission_id],
            )
            .await?;
        if let Some(row) = known {
            return Ok(Stored::AlreadyKnown(state_of(
                &row.try_get::<_, String>(0)?,
            )?));
        }
        let now = text_time(Timestamp::now());
        let earlier = tx
            .query_opt(
                &stmt(
                    &tx,
                    "SELECT case_id FROM fc_submissions WHERE fc_case_id = $1 AND case_id IS NOT NULL LIMIT 1",
                )
                .await?,
                &[&fc_case_id],
            )
            .await?
            .map(|r| r.try_get::<_, Uuid>(0))
            .transpose()?;
        let (effect, follow_up) = match earlier {
            Some(case_id) => {
                let before = crate::record::case_for_update(&tx, &case_id)
                    .await?
                    .ok_or_else(|| ServerError::Db(format!("Vorgang {case_id} fehlt")))?;
                let mut after = before.clone();
                after.version += 1;
                let mut event = portal_event(case_id, "nachreichung", &now);
                // The citizen answered a Nachforderung: back to where the case waited.
                if before.state == CaseState::Nachgefordert {
                    after.state = match before.waiting_from {
                        Some(CaseState::InBearbeitung) => CaseState::InBearbeitung,
                        _ => CaseState::InPruefung,
                    };
                    after.waiting_from = None;
                    after.state_version = after.version;
                    event.kind = "nachreichung_eingegangen".into();
                    event.from_state = Some(before.state);
                    event.to_state = Some(after.state);
                }
                (
                    Effect {
                        before: Some(before),
                        after,
                        content: None,
                        event: Some(event),
                    },
                    true,
                )
            }
            None => {
                let case_id = Uuid::new_v4();
                let year = received.to_zoned(jiff::tz::TimeZone::UTC).year();
                let value: i64 = tx
                    .query_one(
                        &stmt(
                            &tx,
                            "INSERT INTO counters (name, value) VALUES ($1, 1)
                             ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
                        )
                        .await?,
                        &[&format!("online-{year:04}")],
                    )
                    .await?
                    .try_get(0)?;
                let content = OnlineContent {
                    applicant: &s.applicant,
                    service: &s.service,
                    case_type: &s.case_type,
                    fc_case_id: &s.fc_case_id,
                    submission_id: &s.submission_id,
                    auth_tags: serde_json::from_str(&s.auth_tags)
                        .unwrap_or(serde_json::Value::Null),
                    documents: s
                        .documents
                        .iter()
                        .map(|d| DocumentInfo {
                            kind: d.kind.as_str(),
                            filename: d.filename.as_deref(),
                            mime_type: &d.mime_type,
                            size: d.bytes.len(),
                        })
                        .collect(),
                };
                let json = serde_json::to_vec(&content)
                    .map_err(|e| ServerError::Db(format!("Inhalt: {e}")))?;
                let sealed =
                    office::keyring::seal(&json, &[fall]).map_err(|r| invalid(r.reason))?;
                let after = CaseMeta {
                    extended: false,
                    id: case_id,
                    file_number: format!("ON-{year:04}-{value:06}"),
                    case_type: s.case_type.clone(),
                    channel: "online".into(),
                    state: CaseState::Eingegangen,
                    waiting_from: None,
                    checklist_complete: false,
                    assignee: None,
                    received_at: text_time(received),
                    version: 1,
                    state_version: 1,
                };
                let mut event = portal_event(case_id, "eingang", &now);
                event.to_state = Some(CaseState::Eingegangen);
                (
                    Effect {
                        before: None,
                        after,
                        content: Some(sealed),
                        event: Some(event),
                    },
                    false,
                )
            }
        };
        let case_id = effect.after.id;
        let file_number = effect.after.file_number.clone();
        self.write(&tx, &effect).await?;
        // The BundID Statusmonitor: its id kept for a new case, a move reported.
        let delivery = self.delivery();
        match &effect.before {
            Some(before) => {
                crate::delivery::status_update(&tx, delivery.as_deref(), before, &effect.after)
                    .await?;
            }
            None => {
                let metadata = s
                    .documents
                    .iter()
                    .find(|d| d.kind == domain::DocumentKind::Metadata)
                    .map(|d| d.bytes.as_slice());
                crate::delivery::monitor(&tx, delivery.as_deref(), case_id, &s.service, metadata)
                    .await?;
            }
        }
        tx.execute(
            &stmt(
                &tx,
                "INSERT INTO fc_submissions (submission_id, fc_case_id, case_id, state, service, received_at)
                 VALUES ($1, $2, $3, 'stored', $4, $5)",
            )
            .await?,
            &[&submission_id, &fc_case_id, &case_id, &s.service, &received],
        )
        .await?;
        let insert_doc = stmt(
            &tx,
            "INSERT INTO case_documents (case_id, submission_id, content) VALUES ($1, $2, $3)",
        )
        .await?;
        for d in &s.documents {
            let json = serde_json::to_vec(&SealedDocument {
                kind: d.kind.as_str(),
                filename: d.filename.as_deref(),
                mime_type: &d.mime_type,
                data: STANDARD.encode(&d.bytes),
            })
            .map_err(|e| ServerError::Db(format!("Dokument: {e}")))?;
            let sealed =
                office::keyring::seal_document(&json, &[fall]).map_err(|r| invalid(r.reason))?;
            tx.execute(&insert_doc, &[&case_id, &submission_id, &sealed])
                .await?;
        }
        enqueue(&tx, &s.accept).await?;
        let action = if follow_up {
            "eingang.nachreichung"
        } else {
            "eingang.online"
        };
        audit(&tx, Some("portal"), None, action, &file_number).await?;
        // The feed's lock last: held only for the insert and the commit.
        append(&tx, &Change::of(&effect)).await?;
        tx.commit().await?;
        Ok(if follow_up {
            Stored::FollowUp {
                case_id: case_id.to_string(),
                file_number,
            }
        } else {
            Stored::NewCase {
                case_id: case_id.to_string(),
                file_number,
            }
        })
    }

    /// Keep an invalid submission (problems and the still encrypted parts) and
    /// queue its reject. False when it was seen before.
    pub async fn quarantine_submission(&self, q: &QuarantinedSubmission) -> Result<bool> {
        let submission_id = submission_uuid(&q.submission_id)?;
        let fc_case_id = submission_uuid(&q.fc_case_id)?;
        let received = parse_time(&q.received_at).map_err(|r| invalid(r.reason))?;
        let problems: serde_json::Value = serde_json::from_str(&q.problems)
            .map_err(|e| ServerError::Db(format!("Probleme: {e}")))?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let inserted = tx
            .execute(
                &stmt(
                    &tx,
                    "INSERT INTO fc_submissions (submission_id, fc_case_id, case_id, state, service, received_at)
                     VALUES ($1, $2, NULL, 'quarantined', $3, $4) ON CONFLICT (submission_id) DO NOTHING",
                )
                .await?,
                &[&submission_id, &fc_case_id, &q.service, &received],
            )
            .await?;
        if inserted == 0 {
            return Ok(false);
        }
        tx.execute(
            &stmt(
                &tx,
                "INSERT INTO fc_quarantine (submission_id, problems, ciphertext) VALUES ($1, $2, $3)",
            )
            .await?,
            &[&submission_id, &problems, &q.ciphertext],
        )
        .await?;
        enqueue(&tx, &q.reject).await?;
        audit(
            &tx,
            Some("portal"),
            None,
            "eingang.quarantaene",
            &q.submission_id,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Items that may go out now: per ordering key only its oldest unfinished one,
    /// and only when its next attempt is due.
    pub async fn due_outbox(&self, now: &str, limit: u32) -> Result<Vec<OutboxItem>> {
        let now = parse_time(now).map_err(|r| invalid(r.reason))?;
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &stmt(
                    &client,
                    &format!(
                        "SELECT {OUTBOX_COLUMNS} FROM outbox o
                         WHERE o.state = 'pending'
                           AND o.id = (SELECT min(id) FROM outbox p WHERE p.ordering_key = o.ordering_key AND p.state IN ('pending', 'failed'))
                           AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= $1)
                         ORDER BY o.id LIMIT $2"
                    ),
                )
                .await?,
                &[&now, &i64::from(limit)],
            )
            .await?;
        // A letter's item is sealed to the delivery key: opened here, to send it.
        rows.iter()
            .map(|r| {
                let mut item = outbox_item(r)?;
                let sealed: Option<Vec<u8>> = r.try_get("sealed")?;
                if let Some(sealed) = sealed {
                    item.payload = self.open_payload(&sealed)?;
                }
                Ok(item)
            })
            .collect()
    }

    /// Every outbox item (status, tests).
    pub async fn outbox_items(&self) -> Result<Vec<OutboxItem>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &stmt(
                    &client,
                    &format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY id"),
                )
                .await?,
                &[],
            )
            .await?;
        rows.iter().map(outbox_item).collect()
    }

    async fn outbox_update(&self, sql: &str, id: i64, text: Option<&str>) -> Result<()> {
        let client = self.pool.get().await?;
        client
            .execute(&stmt(&client, sql).await?, &[&id, &text])
            .await?;
        Ok(())
    }

    /// The item failed for good. A letter's e-mail the mail server refused (not a
    /// notice: its letter went by post) becomes an event on the case, its reason
    /// sealed to the case key, in the same transaction – so every desk shows the
    /// clerk the task to post the letter.
    pub async fn outbox_failed(&self, fall: &str, id: i64, error: &str) -> Result<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_one(
                &stmt(
                    &tx,
                    "UPDATE outbox SET attempts = attempts + 1, state = 'failed', last_error = $2, updated_at = now()
                     WHERE id = $1 RETURNING kind, idempotency_key, sealed",
                )
                .await?,
                &[&id, &error],
            )
            .await?;
        let kind: String = row.try_get(0)?;
        let key: String = row.try_get(1)?;
        let sealed: Option<Vec<u8>> = row.try_get(2)?;
        let command = key
            .strip_prefix("mail:")
            .or_else(|| key.strip_prefix("bundid:"))
            .and_then(|c| Uuid::parse_str(c).ok());
        if let (Some(command), Some(sealed)) = (command, sealed) {
            let payload = self.open_payload(&sealed)?;
            // A notice (its letter went by post) or a status needs nothing more.
            let letter = match kind.as_str() {
                "mail" => serde_json::from_str::<sync::mail::MailItem>(&payload)
                    .is_ok_and(|m| !m.notice()),
                "bundid" => {
                    serde_json::from_str::<sync::BundIdItem>(&payload).is_ok_and(|b| !b.is_status())
                }
                _ => false,
            };
            if letter {
                self.letter_refused(&tx, fall, command, &kind, error)
                    .await?;
            }
            wipe_letter(&tx, &command.to_string()).await?;
        }
        // A refused e-mail or BundID message or status is not sent again: its
        // sealed copy goes (a letter stays in the case's documents).
        if kind == "mail" || kind == "bundid" {
            tx.execute(
                &stmt(&tx, "UPDATE outbox SET sealed = NULL WHERE id = $1").await?,
                &[&id],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A letter's e-mail or BundID message did not reach the citizen (refused at
    /// once or bounced later): an event on the case, the reason sealed to the case
    /// key, in the caller's transaction – every desk shows the clerk the task to
    /// post the letter.
    async fn letter_refused(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        fall: &str,
        command: Uuid,
        kind: &str,
        error: &str,
    ) -> Result<()> {
        let case: Option<Uuid> = tx
            .query_opt(
                &stmt(
                    tx,
                    "SELECT case_id FROM case_documents WHERE command_key = $1 LIMIT 1",
                )
                .await?,
                &[&command],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        if let Some(case_id) = case {
            let before = crate::record::case_for_update(tx, &case_id)
                .await?
                .ok_or_else(|| ServerError::Db(format!("Vorgang {case_id} fehlt")))?;
            let mut after = before.clone();
            after.version += 1;
            let mut event = portal_event(
                case_id,
                office::rules::MAIL_REFUSED,
                &text_time(Timestamp::now()),
            );
            event.actor = "mailserver".into();
            let kanal = if kind == "bundid" { "bundid" } else { "email" };
            let reason = serde_json::json!({ "grund": error, "kanal": kanal });
            event.content = Some(
                office::keyring::seal(reason.to_string().as_bytes(), &[fall])
                    .map_err(|r| invalid(r.reason))?,
            );
            let effect = Effect {
                before: Some(before),
                after,
                content: None,
                event: Some(event),
            };
            self.write(tx, &effect).await?;
            audit(
                tx,
                Some("mailserver"),
                None,
                if kind == "bundid" {
                    "vorgang.bundid_unzustellbar"
                } else {
                    "vorgang.email_unzustellbar"
                },
                &effect.after.file_number,
            )
            .await?;
            append(tx, &Change::of(&effect)).await?;
        }
        Ok(())
    }

    /// A late bounce of the e-mail with this Message-ID (read from the town's
    /// mailbox): the letter's e-mail, delivered to the relay before, failed after
    /// all – the same event and task as a refusal at the relay. False: not an
    /// e-mail of a letter sent here, or recorded before.
    pub async fn mail_bounced(&self, fall: &str, message_id: &str, reason: &str) -> Result<bool> {
        let reason = sync::bounce::late_reason(reason);
        let reason = reason.as_str();
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx
            .query_opt(
                &stmt(
                    &tx,
                    "UPDATE outbox SET state = 'failed', last_error = $2, updated_at = now()
                     WHERE bounce_id = $1 AND kind = 'mail' AND state = 'done'
                     RETURNING idempotency_key",
                )
                .await?,
                &[&message_id, &reason],
            )
            .await?
        else {
            return Ok(false);
        };
        let key: String = row.try_get(0)?;
        let Some(command) = key
            .strip_prefix("mail:")
            .and_then(|c| Uuid::parse_str(c).ok())
        else {
            return Ok(false);
        };
        self.letter_refused(&tx, fall, command, "mail", reason)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A setting of the server's own runs (not the town's configuration).
    pub async fn server_setting(&self, name: &str) -> Result<Option<String>> {
        let client = self.pool.get().await?;
        Ok(client
            .query_opt(
                &stmt(&client, "SELECT value FROM server_settings WHERE name = $1").await?,
                &[&name],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?)
    }

    pub async fn set_server_setting(&self, name: &str, value: &str) -> Result<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                &stmt(
                    &client,
                    "INSERT INTO server_settings (name, value) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                )
                .await?,
                &[&name, &value],
            )
            .await?;
        Ok(())
    }

    /// The item reached the portal; accept and reject items move their submission
    /// to `accepted` / `rejected` in the same transaction.
    pub async fn outbox_done(&self, id: i64) -> Result<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_one(
                &stmt(
                    &tx,
                    "UPDATE outbox SET state = 'done', last_error = NULL, sealed = NULL, updated_at = now()
                     WHERE id = $1 RETURNING kind, idempotency_key",
                )
                .await?,
                &[&id],
            )
            .await?;
        let kind: String = row.try_get(0)?;
        let key: String = row.try_get(1)?;
        let next = match kind.as_str() {
            "accept" => Some("accepted"),
            "reject" => Some("rejected"),
            _ => None,
        };
        // A reply or e-mail went out: the letter's delivery copy is wiped once no
        // other item of the letter still needs it (the case key's copy stays in
        // the case's documents).
        if let Some(command) = key
            .strip_prefix("reply:")
            .or_else(|| key.strip_prefix("mail:"))
            .or_else(|| key.strip_prefix("bundid:"))
        {
            wipe_letter(&tx, command).await?;
        }
        if let (Some(state), Some(sub)) = (next, key.split_once(':').map(|(_, s)| s)) {
            tx.execute(
                &stmt(
                    &tx,
                    "UPDATE fc_submissions SET state = $2, updated_at = now() WHERE submission_id = $1",
                )
                .await?,
                &[&submission_uuid(sub)?, &state],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn apply_op(&self, fall: &str, op: StoreOp) -> Result<StoreResult> {
        Ok(match op {
            StoreOp::Lookup(ids) => StoreResult::Known(self.submission_states(&ids).await?),
            StoreOp::StoreSubmission(s) => {
                StoreResult::Stored(self.store_submission(&s, fall).await?)
            }
            StoreOp::Quarantine(q) => {
                StoreResult::Quarantined(self.quarantine_submission(&q).await?)
            }
            StoreOp::LoadDue { now, limit } => {
                StoreResult::Due(self.due_outbox(&now, limit).await?)
            }
            StoreOp::RemoteId { id, remote_id } => {
                self.outbox_update(
                    "UPDATE outbox SET remote_id = $2, updated_at = now() WHERE id = $1",
                    id,
                    Some(&remote_id),
                )
                .await?;
                StoreResult::Written
            }
            StoreOp::Done { id } => {
                self.outbox_done(id).await?;
                StoreResult::Written
            }
            StoreOp::Retry {
                id,
                error,
                next_attempt_at,
            } => {
                let next = parse_time(&next_attempt_at).map_err(|r| invalid(r.reason))?;
                let client = self.pool.get().await?;
                client
                    .execute(
                        &stmt(
                            &client,
                            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, updated_at = now() WHERE id = $1",
                        )
                        .await?,
                        &[&id, &error, &next],
                    )
                    .await?;
                StoreResult::Written
            }
            StoreOp::Failed { id, error } => {
                self.outbox_failed(fall, id, &error).await?;
                StoreResult::Written
            }
        })
    }
}

/// A letter's delivery copy goes once no item of it (reply, e-mail, BundID) still
/// waits to be sent.
async fn wipe_letter(tx: &impl GenericClient, command: &str) -> Result<()> {
    tx.execute(
        &stmt(
            tx,
            "DELETE FROM delivery_blobs WHERE id = $1 AND NOT EXISTS (
               SELECT 1 FROM outbox WHERE idempotency_key IN ($2, $3, $4) AND state = 'pending')",
        )
        .await?,
        &[
            &format!("brief:{command}"),
            &format!("reply:{command}"),
            &format!("mail:{command}"),
            &format!("bundid:{command}"),
        ],
    )
    .await?;
    Ok(())
}

fn portal_event(case_id: Uuid, kind: &str, now: &str) -> Event {
    Event {
        id: Uuid::new_v4(),
        case_id,
        kind: kind.into(),
        actor: "portal".into(),
        at: now.into(),
        from_state: None,
        to_state: None,
        content: None,
    }
}

/// The record as the store of a `sync` run. The run calls it synchronously from
/// inside the runtime; each call runs on the runtime's handle in place (a
/// multi-threaded runtime is needed, as `amtsstube-server serve` has).
pub struct PickupStore {
    record: Arc<Record>,
    fall: String,
    handle: tokio::runtime::Handle,
}

impl PickupStore {
    /// Run one call of the record in place, on the runtime's handle.
    fn block<T>(
        &self,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> std::result::Result<T, SyncError> {
        tokio::task::block_in_place(|| self.handle.block_on(work))
            .map_err(|e| SyncError::Unavailable(e.to_string()))
    }
}

impl SyncStore for PickupStore {
    fn apply(&mut self, op: StoreOp) -> std::result::Result<StoreResult, SyncError> {
        self.block(self.record.apply_op(&self.fall, op))
    }

    fn read_blob(&mut self, id: &str) -> std::result::Result<Vec<u8>, SyncError> {
        self.block(self.record.delivery_blob(id))
    }

    fn setting(&mut self, key: &str) -> std::result::Result<Option<String>, SyncError> {
        self.block(self.record.server_setting(key))
    }

    fn set_setting(&mut self, key: &str, value: &str) -> std::result::Result<(), SyncError> {
        self.block(self.record.set_server_setting(key, value))
    }

    fn mail_bounced(
        &mut self,
        message_id: &str,
        reason: &str,
    ) -> std::result::Result<bool, SyncError> {
        self.block(self.record.mail_bounced(&self.fall, message_id, reason))
    }
}

/// Check the destination's settings (as `amtsstube portal configure` takes them).
pub fn parse_settings(json: &str) -> Result<SubscriberSettings> {
    let s: SubscriberSettings = serde_json::from_str(json).map_err(|e| {
        invalid(format!(
            "Die Portal-Einstellungen sind unvollständig oder fehlerhaft (Zeile {}): {e}",
            e.line()
        ))
    })?;
    for url in [&s.api_url, &s.token_url] {
        fitconnect::client::check_endpoint(url).map_err(invalid)?;
    }
    Subscriber::from_settings(&s).map_err(invalid)?;
    Ok(s)
}

/// One pickup run: fetch, check and store what waits at the destination, then
/// deliver the accepts and rejects. Needs the `fall` key (else nothing happens).
pub async fn pickup(record: Arc<Record>, settings: &SubscriberSettings) -> Result<sync::RunReport> {
    let fall = record.fall_recipient().await?.ok_or_else(|| {
        invalid("Noch kein Schlüssel für Fallinhalte: Die Leitung muss sich einmal an einem Arbeitsplatz am Rathaus-Server anmelden. Bis dahin bleiben die Anträge im Portal.")
    })?;
    let sub = Subscriber::from_settings(settings).map_err(invalid)?;
    let api = V1Client::new(sync::client_config(settings, Duration::from_secs(60)))
        .map_err(|e| invalid(e.to_string()))?;
    let mut store = PickupStore {
        record,
        fall,
        handle: tokio::runtime::Handle::current(),
    };
    let mut machine = sync::Machine::randomly_seeded(sync::Mode::Full, sync::PushPolicy::default());
    // E-mail answers go through the town's relay, where one is set up.
    let delivery = store.record.delivery();
    let channels = sync::Channels {
        mail: delivery.as_ref().and_then(|d| d.mail.as_ref()),
        bundid: delivery
            .as_ref()
            .and_then(|d| d.bundid.as_ref())
            .map(|b| &b.author),
    };
    let (report, _) = sync::run_with(&api, &mut store, &sub, channels, &mut machine, |_| {})
        .await
        .map_err(|e| ServerError::Db(e.to_string()))?;
    // Late bounces of the e-mails sent: read from the town's mailbox, recorded on
    // their cases. A mailbox out of reach waits for the next run.
    if let Some(bounce) = delivery
        .as_ref()
        .filter(|d| d.mail.is_some())
        .and_then(|d| d.bounce.as_ref())
    {
        match sync::bounce::check(bounce, &mut store).await {
            Ok(c) if c.recorded > 0 => {
                tracing::info!("{} späte Unzustellbarkeitsmeldung(en) erfasst", c.recorded)
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("Postfach für Unzustellbarkeitsmeldungen: {e}"),
        }
    }
    Ok(report)
}
