//! Security Event Tokens (RFC 8417) as FIT-Connect's event log uses them:
//! JWS compact, `alg: PS512`, `typ: secevent+jwt`, claims `jti iss iat sub txn events`
//! with exactly one event.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jws::{JwsHeader, PS512};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::keys::{KeyPair, KeyUse, PublicJwk};
use crate::problem::Problem;

pub const EVENT_BASE: &str = "https://schema.fitko.de/fit-connect/events/";
pub const TYP: &str = "secevent+jwt";
pub const SET_PAYLOAD_SCHEMA: &str =
    "https://schema.fitko.de/fit-connect/set-payload/1.0.0/set-payload.schema.json";

/// The events of a submission's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    CreateSubmission,
    SubmitSubmission,
    NotifySubmission,
    ForwardSubmission,
    AcceptSubmission,
    RejectSubmission,
    DeleteSubmission,
}

impl Event {
    pub const ALL: [Event; 7] = [
        Event::CreateSubmission,
        Event::SubmitSubmission,
        Event::NotifySubmission,
        Event::ForwardSubmission,
        Event::AcceptSubmission,
        Event::RejectSubmission,
        Event::DeleteSubmission,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Event::CreateSubmission => "create-submission",
            Event::SubmitSubmission => "submit-submission",
            Event::NotifySubmission => "notify-submission",
            Event::ForwardSubmission => "forward-submission",
            Event::AcceptSubmission => "accept-submission",
            Event::RejectSubmission => "reject-submission",
            Event::DeleteSubmission => "delete-submission",
        }
    }

    pub fn uri(self) -> String {
        format!("{EVENT_BASE}{}", self.slug())
    }

    pub fn from_uri(uri: &str) -> Option<Event> {
        let slug = uri.strip_prefix(EVENT_BASE)?;
        Event::ALL.into_iter().find(|e| e.slug() == slug)
    }
}

/// Authentication tags of all encrypted parts, as in submit and accept events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticationTags {
    pub metadata: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default)]
    pub attachments: std::collections::BTreeMap<String, String>,
}

/// Payload of an accept event.
pub fn accept_payload(tags: &AuthenticationTags) -> Value {
    json!({ "authenticationTags": tags })
}

/// Payload of a reject event.
pub fn reject_payload(problems: &[Problem]) -> Value {
    json!({ "problems": problems })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    #[error("Ereignis-Token ist kein gültiges JWS ({0})")]
    Syntax(String),
    #[error("Ereignis-Token: Kopf ungültig ({0})")]
    Header(String),
    #[error("Ereignis-Token: kein Schlüssel {kid} für Aussteller {iss}")]
    UnknownKey { iss: String, kid: String },
    #[error("Ereignis-Token: Signatur ungültig")]
    Signature,
    #[error("Ereignis-Token: Angabe {0} fehlt oder ist ungültig")]
    Claim(&'static str),
    #[error("Ereignis-Token gehört zu einem anderen Vorgang ({found} statt {expected})")]
    WrongCase { expected: Uuid, found: Uuid },
    #[error("Ereignis-Token: Schlüssel ungültig ({0})")]
    Key(String),
}

/// A verified event.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedEvent {
    pub event: Event,
    pub payload: Value,
    pub jti: Uuid,
    pub iss: String,
    pub iat: i64,
    pub submission_id: Uuid,
    pub case_id: Uuid,
}

/// Sign an event about `submission_id` in `case_id`, issued by `iss`.
pub fn sign(
    event: Event,
    payload: Value,
    iss: &str,
    submission_id: Uuid,
    case_id: Uuid,
    iat: i64,
    key: &KeyPair,
) -> Result<String, SetError> {
    let mut events = Map::new();
    events.insert(event.uri(), payload);
    let claims = json!({
        "$schema": SET_PAYLOAD_SCHEMA,
        "jti": Uuid::new_v4().to_string(),
        "iss": iss,
        "iat": iat,
        "sub": format!("submission:{submission_id}"),
        "txn": format!("case:{case_id}"),
        "events": events,
    });
    let mut header = JwsHeader::new();
    header.set_algorithm("PS512");
    header.set_token_type(TYP);
    header.set_key_id(key.kid());
    let signer = key.signer().map_err(SetError::Key)?;
    let body = serde_json::to_vec(&claims).map_err(|e| SetError::Syntax(e.to_string()))?;
    josekit::jws::serialize_compact(&body, &header, signer)
        .map_err(|e| SetError::Key(e.to_string()))
}

/// The `kid` of a token's header, unverified (to look up the key that verifies it).
pub fn unverified_kid(token: &str) -> Option<String> {
    let header = token.trim().split('.').next()?;
    let raw = URL_SAFE_NO_PAD.decode(header).ok()?;
    serde_json::from_slice::<RawHeader>(&raw).ok()?.kid
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    typ: Option<String>,
    kid: Option<String>,
}

/// Verify a SET: header (`PS512`, `secevent+jwt`, `kid`), signature with the key that
/// `lookup(iss, kid)` returns, required claims, exactly one known event and – if
/// given – the case it must belong to.
pub fn verify(
    token: &str,
    lookup: impl Fn(&str, &str) -> Option<PublicJwk>,
    expected_case: Option<Uuid>,
) -> Result<VerifiedEvent, SetError> {
    let token = token.trim();
    let segs: Vec<&str> = token.split('.').collect();
    if segs.len() != 3 || segs.iter().any(|s| s.is_empty()) {
        return Err(SetError::Syntax(
            "erwartet drei durch Punkte getrennte Teile".into(),
        ));
    }
    let header: RawHeader = URL_SAFE_NO_PAD
        .decode(segs[0])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| SetError::Syntax("Kopf unlesbar".into()))?;
    if header.alg.as_deref() != Some("PS512") {
        return Err(SetError::Header(format!(
            "alg {:?} statt PS512",
            header.alg
        )));
    }
    if header.typ.as_deref() != Some(TYP) {
        return Err(SetError::Header(format!(
            "typ {:?} statt {TYP}",
            header.typ
        )));
    }
    let kid = header
        .kid
        .ok_or_else(|| SetError::Header("kid fehlt".into()))?;
    // The issuer is needed to find the key; read it before the signature is checked,
    // trust nothing else from the body until then.
    let unverified: Value = URL_SAFE_NO_PAD
        .decode(segs[1])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| SetError::Syntax("Inhalt unlesbar".into()))?;
    let iss = unverified
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(SetError::Claim("iss"))?
        .to_owned();
    let jwk = lookup(&iss, &kid).ok_or_else(|| SetError::UnknownKey {
        iss: iss.clone(),
        kid: kid.clone(),
    })?;
    jwk.validate(KeyUse::Signature)
        .map_err(|e| SetError::Key(e.to_string()))?;
    let verifier = PS512
        .verifier_from_jwk(&jwk.to_josekit().map_err(|e| SetError::Key(e.to_string()))?)
        .map_err(|e| SetError::Key(e.to_string()))?;
    let (body, _) =
        josekit::jws::deserialize_compact(token, &verifier).map_err(|_| SetError::Signature)?;
    let claims: Value =
        serde_json::from_slice(&body).map_err(|_| SetError::Syntax("Inhalt unlesbar".into()))?;

    let text = |name: &'static str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .ok_or(SetError::Claim(name))
    };
    let jti = Uuid::parse_str(text("jti")?).map_err(|_| SetError::Claim("jti"))?;
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(SetError::Claim("iat"))?;
    let submission_id = text("sub")?
        .strip_prefix("submission:")
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or(SetError::Claim("sub"))?;
    let case_id = text("txn")?
        .strip_prefix("case:")
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or(SetError::Claim("txn"))?;
    let events = claims
        .get("events")
        .and_then(Value::as_object)
        .ok_or(SetError::Claim("events"))?;
    let mut it = events.iter();
    let (uri, payload) = match (it.next(), it.next()) {
        (Some(one), None) => one,
        _ => return Err(SetError::Claim("events")),
    };
    let event = Event::from_uri(uri).ok_or(SetError::Claim("events"))?;
    if let Some(expected) = expected_case
        && expected != case_id
    {
        return Err(SetError::WrongCase {
            expected,
            found: case_id,
        });
    }
    Ok(VerifiedEvent {
        event,
        payload: payload.clone(),
        jti,
        iss,
        iat,
        submission_id,
        case_id,
    })
}
