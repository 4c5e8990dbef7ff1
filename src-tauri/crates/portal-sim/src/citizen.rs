//! The citizen's side of the portal, for development and tests: see per case what
//! the authority sent back (decrypted with the mailbox key, hashes checked), and send
//! a follow-up (e.g. a missing document) into an existing case.
//! Unauthenticated: the simulator is a local tool and binds to loopback.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fitconnect::api::ServiceType;
use fitconnect::submission::{self, EncryptedSubmission, PlainAttachment};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::server::{S, internal, not_found, problem};
use crate::state::SubmissionState;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CitizenAttachment {
    pub attachment_id: Uuid,
    pub filename: Option<String>,
    pub mime_type: String,
    pub size: usize,
    pub sha512: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CitizenReply {
    pub submission_id: Uuid,
    pub state: SubmissionState,
    /// Decrypted and verified (schema, hashes)?
    pub verified: bool,
    pub problems: Vec<String>,
    pub data: Option<serde_json::Value>,
    pub attachments: Vec<CitizenAttachment>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CitizenCase {
    pub case_id: Uuid,
    /// Submissions from the citizen to the authority (ids and state only).
    pub sent: Vec<(Uuid, SubmissionState)>,
    /// What the authority sent back, decrypted.
    pub replies: Vec<CitizenReply>,
}

pub(crate) async fn case_view(AxState(sim): S, Path(case): Path<Uuid>) -> Response {
    let st = sim.lock();
    if !st.cases.contains_key(&case) {
        return not_found("case");
    }
    let mut subs: Vec<_> = st
        .submissions
        .values()
        .filter(|s| s.case_id == case)
        .collect();
    subs.sort_by_key(|s| s.seq);
    let mut view = CitizenCase {
        case_id: case,
        sent: Vec::new(),
        replies: Vec::new(),
    };
    for s in subs {
        if s.destination_id != st.mailbox_id {
            view.sent.push((s.submission_id, s.state));
            continue;
        }
        let mut reply = CitizenReply {
            submission_id: s.submission_id,
            state: s.state,
            verified: false,
            problems: Vec::new(),
            data: None,
            attachments: Vec::new(),
        };
        let Some(metadata) = s.encrypted_metadata.clone() else {
            reply.problems.push("noch nicht abgeschickt".into());
            view.replies.push(reply);
            continue;
        };
        let mut attachments = std::collections::BTreeMap::new();
        for id in &s.uploaded {
            match st.attachment(s.submission_id, *id) {
                Ok(Some(jwe)) => {
                    attachments.insert(*id, jwe);
                }
                Ok(None) => {}
                Err(e) => return internal(e),
            }
        }
        let enc = EncryptedSubmission {
            submission_id: s.submission_id,
            case_id: s.case_id,
            encrypted_metadata: metadata,
            encrypted_data: s.encrypted_data.clone(),
            attachments,
        };
        match submission::open(&enc, &st.mailbox_enc) {
            Ok(opened) => {
                reply.verified = true;
                reply.data = opened
                    .data
                    .and_then(|(bytes, _)| serde_json::from_slice(&bytes).ok());
                reply.attachments = opened
                    .attachments
                    .iter()
                    .map(|(meta, bytes)| CitizenAttachment {
                        attachment_id: meta.attachment_id,
                        filename: meta.filename.clone(),
                        mime_type: meta.mime_type.clone(),
                        size: bytes.len(),
                        sha512: submission::sha512_hex(bytes),
                    })
                    .collect();
            }
            Err(r) => {
                reply.problems = r
                    .problems
                    .iter()
                    .map(|p| p.detail.clone().unwrap_or_else(|| p.title.clone()))
                    .collect()
            }
        }
        view.replies.push(reply);
    }
    Json(view).into_response()
}

/// A document the citizen sends into an existing case.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowUp {
    pub filename: String,
    pub mime_type: String,
    pub content_base64: String,
    #[serde(default)]
    pub note: Option<String>,
}

pub(crate) async fn follow_up(AxState(sim): S, Path(case): Path<Uuid>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<FollowUp>(&body) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Bad Request",
            "FollowUp erwartet",
        );
    };
    let Ok(content) = STANDARD.decode(req.content_base64.as_bytes()) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Bad Request",
            "contentBase64 ist kein Base64",
        );
    };
    let mut st = sim.lock();
    let Some(first) = st
        .submissions
        .values()
        .filter(|s| s.case_id == case && s.destination_id == st.destination_id)
        .min_by_key(|s| s.seq)
        .cloned()
    else {
        return not_found("case");
    };
    let submission_id = Uuid::new_v4();
    let attachment = PlainAttachment {
        id: Uuid::new_v4(),
        bytes: content,
        mime_type: req.mime_type.clone(),
        purpose: "attachment".into(),
        filename: Some(req.filename.clone()),
    };
    let data = json!({ "nachreichung": true, "hinweis": req.note });
    let data_bytes = data.to_string().into_bytes();
    let service: ServiceType = first.service_type.clone();
    let identifier = service.identifier.clone();
    let sealed = match submission::seal(
        submission_id,
        case,
        &st.dest_enc.public,
        Some((
            &data_bytes,
            "application/json",
            "https://schema.amtsstube.invalid/nachreichung/1.0.0.json",
        )),
        std::slice::from_ref(&attachment),
        |m| {
            m.insert(
                "publicServiceType".into(),
                json!({ "identifier": identifier }),
            );
        },
    ) {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    match st.file_sealed(service, sealed) {
        Ok(()) => (
            StatusCode::CREATED,
            Json(json!({ "submissionId": submission_id, "caseId": case })),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}
