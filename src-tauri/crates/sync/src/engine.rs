//! The I/O edge: pickup (list → fetch → verify → one local transaction, accept queued)
//! and delivery of the outbox (accept/reject SETs), with the decisions from `core`.

use std::time::Duration;

use fitconnect::client::{ClientError, EventLogError, SubmissionApi, verify_case_events};
use fitconnect::keys::KeyPair;
use fitconnect::set::AuthenticationTags;
use fitconnect::set::{self, Event};
use fitconnect::submission::{self, EncryptedSubmission, OpenedSubmission, Rejection};
use fitconnect::{Part, ProblemKind};
use rand::Rng;
use serde::{Deserialize, Serialize};
use store::{
    DocumentKind, IncomingDocument, IncomingSubmission, NewOutboxItem, QuarantinedSubmission,
    Session, Stored,
};
use uuid::Uuid;

use crate::core::{Backoff, ConnectivityTracker, Failure, Outcome, after_error};

/// What the engine needs to act as the destination's subscriber.
pub struct Subscriber {
    pub destination_id: Uuid,
    /// Decrypts what citizens send (the destination's encryption key).
    pub encryption: KeyPair,
    /// Signs accept/reject events (the destination's signature key).
    pub signature: KeyPair,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Portal(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// What a pickup run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PullReport {
    pub listed: usize,
    pub new_cases: usize,
    pub follow_ups: usize,
    pub quarantined: usize,
    pub already_known: usize,
    pub vanished: usize,
    /// Left for the next run after a transient failure.
    pub deferred: usize,
}

/// A transient failure with one submission: note it and go on with the others,
/// unless the portal is unreachable or refuses the credentials altogether.
fn defer(
    tracker: &mut ConnectivityTracker,
    report: &mut PullReport,
    e: ClientError,
) -> Option<ClientError> {
    tracker.failure(Failure::of(&e));
    let give_up = matches!(
        tracker.state(),
        crate::core::Connectivity::Offline | crate::core::Connectivity::AnmeldungFehlerhaft
    ) || !e.is_retryable();
    if give_up {
        Some(e)
    } else {
        report.deferred += 1;
        None
    }
}

/// Payload of an accept or reject item in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventItem {
    pub submission_id: Uuid,
    pub case_id: Uuid,
    pub payload: serde_json::Value,
}

fn applicant_of(opened: &OpenedSubmission) -> String {
    // Service data differ per form; the common portal forms carry the applicant
    // under `antragsteller`. Anything else shows as "unbekannt" until casework maps it.
    let data = opened
        .data
        .as_ref()
        .and_then(|(bytes, _)| serde_json::from_slice::<serde_json::Value>(bytes).ok());
    let person = data.as_ref().and_then(|d| d.get("antragsteller"));
    let part = |k: &str| {
        person
            .and_then(|p| p.get(k))
            .and_then(|v| v.as_str())
            .unwrap_or("")
    };
    let name = format!("{} {}", part("vorname"), part("familienname"))
        .trim()
        .to_owned();
    if name.is_empty() {
        "unbekannt".into()
    } else {
        name
    }
}

fn incoming(sub: &EncryptedSubmission, opened: &OpenedSubmission, now: &str) -> IncomingSubmission {
    let service = opened.metadata.public_service_type.as_ref();
    let identifier = service.map(|s| s.identifier.clone()).unwrap_or_default();
    let case_type = service
        .and_then(|s| s.name.clone())
        .unwrap_or_else(|| identifier.clone());
    let mut documents = vec![IncomingDocument {
        kind: DocumentKind::Metadata,
        filename: None,
        mime_type: "application/json".into(),
        bytes: serde_json::to_vec(&opened.metadata_json).unwrap_or_default(),
    }];
    if let Some((bytes, cty)) = &opened.data {
        documents.push(IncomingDocument {
            kind: DocumentKind::Data,
            filename: None,
            mime_type: cty.clone(),
            bytes: bytes.clone(),
        });
    }
    for (meta, bytes) in &opened.attachments {
        documents.push(IncomingDocument {
            kind: DocumentKind::Attachment,
            filename: meta.filename.clone(),
            mime_type: meta.mime_type.clone(),
            bytes: bytes.clone(),
        });
    }
    let item = EventItem {
        submission_id: sub.submission_id,
        case_id: sub.case_id,
        payload: set::accept_payload(&opened.tags),
    };
    IncomingSubmission {
        submission_id: sub.submission_id.to_string(),
        fc_case_id: sub.case_id.to_string(),
        service: identifier,
        case_type,
        applicant: applicant_of(opened),
        received_at: now.to_owned(),
        auth_tags: serde_json::to_string(&opened.tags).unwrap_or_default(),
        documents,
        accept: NewOutboxItem {
            idempotency_key: format!("accept:{}", sub.submission_id),
            kind: "accept".into(),
            ordering_key: sub.case_id.to_string(),
            payload: serde_json::to_string(&item).unwrap_or_default(),
        },
    }
}

/// Pick up everything that is waiting: unknown submissions are fetched, verified and
/// stored with their accept queued (one transaction each); invalid ones go to the
/// quarantine with their reject queued. Known ones are skipped (dedupe).
pub async fn pull(
    api: &impl SubmissionApi,
    session: &mut Session,
    sub: &Subscriber,
    tracker: &mut ConnectivityTracker,
) -> Result<PullReport, SyncError> {
    let listed = match api.all_for_pickup(sub.destination_id).await {
        Ok(l) => {
            tracker.success(jiff::Timestamp::now());
            l
        }
        Err(e) => {
            tracker.failure(Failure::of(&e));
            return Err(e.into());
        }
    };
    let mut report = PullReport {
        listed: listed.len(),
        ..PullReport::default()
    };
    for entry in listed {
        if session
            .submission_state(&entry.submission_id.to_string())?
            .is_some()
        {
            report.already_known += 1;
            continue;
        }
        let encrypted = match api.fetch_encrypted(entry.submission_id).await {
            Ok(e) => {
                tracker.success(jiff::Timestamp::now());
                e
            }
            // Gone in between (accepted elsewhere, deleted): nothing to do.
            Err(e) if e.status() == Some(404) => {
                report.vanished += 1;
                continue;
            }
            Err(e) => {
                if let Some(e) = defer(tracker, &mut report, e) {
                    return Err(e.into());
                }
                continue;
            }
        };
        // The service's own record of what was submitted: its time is the legal
        // receipt, its authentication tags must match what we fetched.
        let (received_at, submitted) =
            match verify_case_events(api, entry.case_id, sub.destination_id).await {
                Ok(events) => {
                    let dest = sub.destination_id.to_string();
                    let submit = events.iter().rev().find(|e| {
                        e.event == Event::SubmitSubmission
                            && e.submission_id == entry.submission_id
                            && e.iss != dest
                    });
                    let tags = submit.and_then(|e| {
                        serde_json::from_value::<AuthenticationTags>(
                            e.payload.get("authenticationTags")?.clone(),
                        )
                        .ok()
                    });
                    let at = submit
                        .and_then(|e| jiff::Timestamp::from_second(e.iat).ok())
                        .unwrap_or_else(jiff::Timestamp::now);
                    (at.to_string(), Ok(tags))
                }
                Err(EventLogError::Client(e)) => {
                    if let Some(e) = defer(tracker, &mut report, e) {
                        return Err(e.into());
                    }
                    continue;
                }
                Err(EventLogError::Invalid(e)) => (
                    jiff::Timestamp::now().to_string(),
                    Err(Rejection::one(
                        ProblemKind::InvalidEventLog,
                        &Part::Metadata,
                        e.to_string(),
                    )),
                ),
            };
        let now = received_at;
        let verdict = submitted.and_then(|tags| {
            let opened = submission::open(&encrypted, &sub.encryption)?;
            submission::check_tags(&opened.tags, tags.as_ref())?;
            Ok(opened)
        });
        match verdict {
            Ok(opened) => match session.store_submission(&incoming(&encrypted, &opened, &now))? {
                Stored::NewCase { .. } => report.new_cases += 1,
                Stored::FollowUp { .. } => report.follow_ups += 1,
                Stored::AlreadyKnown(_) => report.already_known += 1,
            },
            Err(rejection) => {
                let item = EventItem {
                    submission_id: encrypted.submission_id,
                    case_id: encrypted.case_id,
                    payload: set::reject_payload(&rejection.problems),
                };
                let ciphertext = serde_json::json!({
                    "encryptedMetadata": encrypted.encrypted_metadata,
                    "encryptedData": encrypted.encrypted_data,
                    "attachments": encrypted.attachments,
                });
                let stored = session.quarantine_submission(&QuarantinedSubmission {
                    submission_id: encrypted.submission_id.to_string(),
                    fc_case_id: encrypted.case_id.to_string(),
                    service: String::new(),
                    received_at: now,
                    problems: serde_json::to_string(&rejection.problems).unwrap_or_default(),
                    ciphertext: serde_json::to_vec(&ciphertext).unwrap_or_default(),
                    reject: NewOutboxItem {
                        idempotency_key: format!("reject:{}", encrypted.submission_id),
                        kind: "reject".into(),
                        ordering_key: encrypted.case_id.to_string(),
                        payload: serde_json::to_string(&item).unwrap_or_default(),
                    },
                })?;
                if stored {
                    report.quarantined += 1;
                }
            }
        }
    }
    Ok(report)
}

/// What a delivery run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PushReport {
    pub delivered: usize,
    pub confirmed_by_log: usize,
    pub retries: usize,
    pub failed: usize,
}

/// Settings of the delivery.
#[derive(Debug, Clone)]
pub struct PushPolicy {
    pub backoff: Backoff,
    pub max_attempts: u32,
    pub batch: u32,
}

impl Default for PushPolicy {
    fn default() -> Self {
        PushPolicy {
            backoff: Backoff::default(),
            max_attempts: 8,
            batch: 100,
        }
    }
}

fn later(delay: Duration) -> String {
    let now = jiff::Timestamp::now();
    let d = jiff::SignedDuration::try_from(delay).unwrap_or(jiff::SignedDuration::ZERO);
    now.checked_add(d).unwrap_or(now).to_string()
}

/// Deliver every due outbox item once (accept and reject events; other kinds wait
/// for their senders). Each item is marked done only after the portal confirmed it;
/// a 409 is resolved by looking for our event in the case's event log.
pub async fn push(
    api: &impl SubmissionApi,
    session: &mut Session,
    sub: &Subscriber,
    policy: &PushPolicy,
    tracker: &mut ConnectivityTracker,
) -> Result<PushReport, SyncError> {
    let mut report = PushReport::default();
    let now = jiff::Timestamp::now().to_string();
    let due = session.due_outbox(&now, policy.batch)?;
    for item in due {
        let event = match item.kind.as_str() {
            "accept" => Event::AcceptSubmission,
            "reject" => Event::RejectSubmission,
            _ => continue,
        };
        let Ok(payload) = serde_json::from_str::<EventItem>(&item.payload) else {
            session.outbox_failed(item.id, "Auftrag unlesbar")?;
            report.failed += 1;
            continue;
        };
        let token = set::sign(
            event,
            payload.payload.clone(),
            &sub.destination_id.to_string(),
            payload.submission_id,
            payload.case_id,
            jiff::Timestamp::now().as_second(),
            &sub.signature,
        )
        .map_err(|e| store::StoreError::Crypto(e.to_string()))?;
        let result = api.post_event(payload.case_id, &token).await;
        let outcome = match &result {
            Ok(()) => Outcome::Done,
            Err(e) => {
                tracker.failure(Failure::of(e));
                after_error(
                    e,
                    &item.kind,
                    item.attempts,
                    policy.max_attempts,
                    &policy.backoff,
                    rand::rng().random(),
                )
            }
        };
        match outcome {
            Outcome::Done => {
                tracker.success(jiff::Timestamp::now());
                session.outbox_done(item.id)?;
                report.delivered += 1;
            }
            Outcome::CheckEventLog => {
                match verify_case_events(api, payload.case_id, sub.destination_id).await {
                    Ok(events) => {
                        let ours = events.iter().any(|e| {
                            e.event == event
                                && e.submission_id == payload.submission_id
                                && e.iss == sub.destination_id.to_string()
                        });
                        if ours {
                            session.outbox_done(item.id)?;
                            report.confirmed_by_log += 1;
                        } else {
                            session.outbox_failed(
                                item.id,
                                "Das Portal meldet einen anderen Abschluss dieser Einreichung.",
                            )?;
                            report.failed += 1;
                        }
                    }
                    Err(e) => {
                        session.outbox_retry(
                            item.id,
                            &e.to_string(),
                            &later(policy.backoff.base),
                        )?;
                        report.retries += 1;
                    }
                }
            }
            Outcome::Retry(delay) => {
                let msg = result.err().map(|e| e.to_string()).unwrap_or_default();
                session.outbox_retry(item.id, &msg, &later(delay))?;
                report.retries += 1;
            }
            Outcome::Failed(msg) => {
                session.outbox_failed(item.id, &msg)?;
                report.failed += 1;
            }
        }
    }
    Ok(report)
}
