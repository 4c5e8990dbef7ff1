//! The HTTP face of the simulator: the Submission API v1 paths the workstation uses,
//! the token endpoint, `/v1/info` and `/.well-known/jwks.json`. Errors are RFC 7807.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fitconnect::api::{
    ApiProblem, CreateSubmission, DestinationService, EventLog, Info, Jwks, MAX_PAGE,
    PublicDestination, SubmissionCreated, SubmissionForPickup, SubmissionSchemaRef,
    SubmissionsForPickup, SubmitSubmission, TokenResponse, Version,
};
use fitconnect::set::{self, Event};
use serde::Deserialize;
use uuid::Uuid;

use crate::seed::SERVICES;
use crate::state::{State, SubmissionState};

/// Shared simulator: state plus issued tokens.
pub struct Sim {
    faults: Mutex<crate::faults::FaultState>,
    pub state: Mutex<State>,
    tokens: Mutex<HashMap<String, Instant>>,
    pub token_lifetime: Mutex<Duration>,
    issued: std::sync::atomic::AtomicU64,
    /// The citizens' mail provider (SMTP), when started.
    mail: Mutex<Option<Arc<crate::mail::Sink>>>,
    /// What clients asked of the API (not the admin and citizen pages).
    pub(crate) traffic: crate::faults::Traffic,
}

impl Sim {
    pub fn new(state: State) -> Arc<Sim> {
        Arc::new(Sim {
            faults: Mutex::new(crate::faults::FaultState::new(
                crate::faults::Faults::default(),
            )),
            state: Mutex::new(state),
            tokens: Mutex::new(HashMap::new()),
            token_lifetime: Mutex::new(Duration::from_secs(1800)),
            issued: std::sync::atomic::AtomicU64::new(0),
            mail: Mutex::new(None),
            traffic: Default::default(),
        })
    }

    /// Requests at once (the most so far) and requests for the service's key set,
    /// since the start or the last [`reset_traffic`](Self::reset_traffic).
    pub fn traffic(&self) -> crate::faults::TrafficCounts {
        self.traffic.counts()
    }

    pub fn reset_traffic(&self) {
        self.traffic.reset();
    }

    /// Show what this SMTP sink received at `/citizen/mail`.
    pub fn set_mail(&self, sink: Arc<crate::mail::Sink>) {
        *self.mail.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
    }

    fn mail(&self) -> Option<Arc<crate::mail::Sink>> {
        self.mail.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave files half-written (atomic
        // writes); the in-memory state is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, crate::faults::FaultState> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Switch fault injection (replaces the settings, restarts the RNG and the outage window).
    pub fn set_faults(&self, faults: crate::faults::Faults) {
        *self.faults() = crate::faults::FaultState::new(faults);
    }

    pub fn current_faults(&self) -> crate::faults::Faults {
        self.faults().faults.clone()
    }

    /// Invalidate every issued token (clients must fetch a new one).
    pub fn revoke_tokens(&self) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// How many tokens were issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.issued.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn set_token_lifetime(&self, d: Duration) {
        *self
            .token_lifetime
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = d;
    }

    pub(crate) fn authorised(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.get(token).is_some_and(|exp| Instant::now() < *exp)
    }
}

pub(crate) type S = AxState<Arc<Sim>>;

/// Path parameters; a malformed id is answered with an RFC 7807 problem (404 by
/// default, or the status the operation documents for bad input) instead of axum's
/// plain-text 400.
pub(crate) struct Ids<T, const STATUS: u16 = 404>(pub T);

impl<T, St, const STATUS: u16> axum::extract::FromRequestParts<St> for Ids<T, STATUS>
where
    T: serde::de::DeserializeOwned + Send,
    St: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &St,
    ) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(Ids(v)),
            Err(e) => {
                let status = StatusCode::from_u16(STATUS).unwrap_or(StatusCode::NOT_FOUND);
                Err(problem(
                    status,
                    "invalid-id",
                    status.canonical_reason().unwrap_or("Error"),
                    e.body_text(),
                ))
            }
        }
    }
}

/// `offset`/`limit` from the query string; missing or malformed values fall back to
/// the defaults and `limit` is capped at 500, as the API documents no 400 here.
fn paging(raw: Option<String>) -> (u32, u32, Option<String>) {
    let (mut offset, mut limit, mut destination) = (0u32, 100u32, None);
    for pair in raw
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        // A malformed query value counts as empty, as the real service ignores it.
        let v = percent_decode(v).unwrap_or_default();
        match k {
            // The OpenAPI document gives no error for a bad offset: start at 0.
            "offset" => offset = v.parse().unwrap_or(0),
            "limit" => limit = v.parse().unwrap_or(100),
            "destinationId" => destination = Some(v),
            _ => {}
        }
    }
    (offset, limit.clamp(1, MAX_PAGE), destination)
}

const PROBLEM_BASE: &str = "https://schema.fitko.de/fit-connect/submission-api/problems/";

pub(crate) fn problem(
    status: StatusCode,
    slug: &str,
    title: &str,
    detail: impl Into<String>,
) -> Response {
    let body = ApiProblem {
        type_uri: format!("{PROBLEM_BASE}{slug}"),
        title: title.to_owned(),
        status: status.as_u16(),
        detail: Some(detail.into()),
        instance: None,
    };
    let mut res = (status, Json(body)).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/problem+json"),
    );
    res
}

pub(crate) fn unauthorised() -> Response {
    problem(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Unauthorized",
        "Gültiges Zugriffstoken erforderlich",
    )
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Response {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal-error",
        "Internal Server Error",
        e.to_string(),
    )
}

/// Writing to a submission that is no longer `incomplete` (the spec documents 422).
fn already_finished() -> Response {
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-state",
        "Unprocessable Entity",
        "Einreichung ist bereits abgeschlossen",
    )
}

pub(crate) fn not_found(what: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        &format!("{what}-not-found"),
        "Not Found",
        format!("{what} nicht gefunden"),
    )
}

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/token", post(token))
        .route("/v1/info", get(info))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/destinations/{destination_id}", get(destination))
        .route(
            "/v1/destinations/{destination_id}/keys/{kid}",
            get(destination_key),
        )
        .route(
            "/v1/submissions",
            get(list_submissions).post(create_submission),
        )
        .route(
            "/v1/submissions/{submission_id}",
            get(get_submission).put(submit_submission),
        )
        .route(
            "/v1/submissions/{submission_id}/attachments/{attachment_id}",
            get(get_attachment).put(put_attachment),
        )
        .route(
            "/v1/cases/{case_id}/events",
            get(case_events).post(post_event),
        )
        .route(
            "/payment/v1/paymenttransaction/{originator_id}/{end_point_id}",
            post(crate::payment::create),
        )
        .route("/citizen/payments", get(crate::payment::list))
        .route("/citizen/mail", get(citizen_mail))
        .route("/citizen/postkorb", get(citizen_postkorb))
        .route("/admin/faults", get(get_faults).put(put_faults))
        .route("/citizen/cases/{case_id}", get(crate::citizen::case_view))
        .route(
            "/citizen/cases/{case_id}/submissions",
            post(crate::citizen::follow_up),
        )
        .layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            crate::faults::layer,
        ))
        .with_state(sim)
}

async fn get_faults(AxState(sim): S) -> Json<crate::faults::Faults> {
    Json(sim.current_faults())
}

/// Local development tool only: the admin endpoints are unauthenticated, so the
/// simulator binds to loopback by default.
async fn put_faults(AxState(sim): S, body: Bytes) -> Response {
    match serde_json::from_slice::<crate::faults::Faults>(&body) {
        Ok(f) => {
            sim.set_faults(f);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => problem(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Bad Request",
            e.to_string(),
        ),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

async fn token(AxState(sim): S, headers: HeaderMap, body: Bytes) -> Response {
    let oauth_error = |status: StatusCode, error: &str| {
        (status, Json(serde_json::json!({ "error": error }))).into_response()
    };
    // Like the real service: HTTP Basic client authentication is refused.
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic "))
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let Ok(form) = serde_urlencoded_from(&body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    if form.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let (id, secret) = {
        let st = sim.lock();
        (st.client_id.clone(), st.client_secret.clone())
    };
    if form.client_id.as_deref() != Some(id.as_str())
        || form.client_secret.as_deref() != Some(secret.as_str())
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let lifetime = *sim.token_lifetime.lock().unwrap_or_else(|p| p.into_inner());
    let value = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    sim.issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    sim.tokens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(value.clone(), Instant::now() + lifetime);
    Json(TokenResponse {
        access_token: value,
        token_type: "Bearer".into(),
        expires_in: lifetime.as_secs().max(1),
        scope: None,
    })
    .into_response()
}

fn serde_urlencoded_from(body: &[u8]) -> Result<TokenForm, ()> {
    let text = std::str::from_utf8(body).map_err(|_| ())?;
    let mut form = TokenForm {
        grant_type: None,
        client_id: None,
        client_secret: None,
    };
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v).ok_or(())?;
        match k {
            "grant_type" => form.grant_type = Some(v),
            "client_id" => form.client_id = Some(v),
            "client_secret" => form.client_secret = Some(v),
            _ => {}
        }
    }
    Ok(form)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

async fn info() -> Json<Info> {
    Json(Info {
        version: Version {
            major: 1,
            minor: 1,
            patch: 3,
        },
    })
}

async fn jwks(AxState(sim): S) -> Json<Jwks> {
    Json(Jwks {
        keys: vec![sim.lock().service_sig.public.clone()],
    })
}

fn no_cache(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    res
}

async fn destination(AxState(sim): S, headers: HeaderMap, Ids(id): Ids<Uuid>) -> Response {
    if !sim.authorised(&headers) {
        return unauthorised();
    }
    let st = sim.lock();
    let Some(enc) = st.encryption_key_of(id) else {
        return not_found("destination");
    };
    if id == st.bridge.destination_id {
        // The ZBP bridge offers the two BundID services, with metadata 2.x.
        return no_cache(
            Json(PublicDestination {
                destination_id: id,
                encryption_kid: enc.public.kid.clone(),
                metadata_versions: vec!["2.1.0".into()],
                services: [
                    fitconnect::zbp::MESSAGE_SERVICE,
                    fitconnect::zbp::STATUS_SERVICE,
                ]
                .into_iter()
                .map(|s| DestinationService {
                    identifier: s.to_owned(),
                    regions: Vec::new(),
                    submission_schemas: vec![SubmissionSchemaRef {
                        schema_uri: fitconnect::zbp::SCHEMA_URI.to_owned(),
                        mime_type: "application/json".into(),
                    }],
                })
                .collect(),
                status: "active".into(),
            })
            .into_response(),
        );
    }
    no_cache(
        Json(PublicDestination {
            destination_id: id,
            encryption_kid: enc.public.kid.clone(),
            metadata_versions: vec!["1.0.0".into()],
            services: SERVICES
                .iter()
                .map(|s| DestinationService {
                    identifier: s.leika.to_owned(),
                    regions: vec!["DE081150045045".into()],
                    submission_schemas: vec![SubmissionSchemaRef {
                        schema_uri: s.schema_uri.to_owned(),
                        mime_type: "application/json".into(),
                    }],
                })
                .collect(),
            status: "active".into(),
        })
        .into_response(),
    )
}

async fn destination_key(AxState(sim): S, Ids((id, kid)): Ids<(Uuid, String)>) -> Response {
    let st = sim.lock();
    let keys: Vec<&fitconnect::keys::KeyPair> = if id == st.destination_id {
        vec![&st.dest_enc, &st.dest_sig]
    } else if id == st.mailbox_id {
        vec![&st.mailbox_enc]
    } else if id == st.bridge.destination_id {
        vec![&st.bridge.enc, &st.bridge.sig]
    } else {
        return not_found("destination");
    };
    let key = keys.into_iter().find(|k| k.public.kid == kid);
    match key {
        Some(k) => no_cache(Json(k.public.clone()).into_response()),
        None => not_found("key"),
    }
}

async fn list_submissions(
    AxState(sim): S,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if !sim.authorised(&headers) {
        return unauthorised();
    }
    let (offset, limit, destination) = paging(raw);
    let st = sim.lock();
    if destination.is_some_and(|d| Uuid::parse_str(&d).ok() != Some(st.destination_id)) {
        return problem(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            "Zustellpunkt gehört nicht zu diesem Client",
        );
    }
    let mut ready: Vec<_> = st
        .submissions
        .values()
        .filter(|s| s.state == SubmissionState::Submitted && s.destination_id == st.destination_id)
        .collect();
    ready.sort_by_key(|s| s.seq);
    let page: Vec<SubmissionForPickup> = ready
        .iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(|s| SubmissionForPickup {
            destination_id: s.destination_id,
            submission_id: s.submission_id,
            case_id: s.case_id,
        })
        .collect();
    Json(SubmissionsForPickup {
        count: page.len() as u32,
        offset,
        total_count: ready.len() as u32,
        submissions: page,
    })
    .into_response()
}

async fn get_submission(AxState(sim): S, headers: HeaderMap, Ids(id): Ids<Uuid>) -> Response {
    if !sim.authorised(&headers) {
        return unauthorised();
    }
    let st = sim.lock();
    match st.submissions.get(&id) {
        Some(s) if s.state == SubmissionState::Submitted => Json(s.to_api(true)).into_response(),
        _ => not_found("submission"),
    }
}

async fn get_attachment(
    AxState(sim): S,
    headers: HeaderMap,
    Ids((id, att)): Ids<(Uuid, Uuid)>,
) -> Response {
    if !sim.authorised(&headers) {
        return unauthorised();
    }
    let st = sim.lock();
    match st.submissions.get(&id) {
        Some(s) if s.state == SubmissionState::Submitted && s.uploaded.contains(&att) => match st
            .attachment(id, att)
        {
            Ok(Some(jwe)) => ([(header::CONTENT_TYPE, "application/jose")], jwe).into_response(),
            Ok(None) => not_found("attachment"),
            Err(e) => internal(e),
        },
        _ => not_found("attachment"),
    }
}

async fn create_submission(AxState(sim): S, headers: HeaderMap, body: Bytes) -> Response {
    if !sim.authorised(&headers) {
        return unauthorised();
    }
    let Ok(req) = serde_json::from_slice::<CreateSubmission>(&body) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Bad Request",
            "CreateSubmission erwartet",
        );
    };
    let mut st = sim.lock();
    if st.encryption_key_of(req.destination_id).is_none() {
        return not_found("destination");
    }
    if let Some(case) = req.case_id
        && !st.cases.contains_key(&case)
    {
        return not_found("case");
    }
    // Replies to the citizens' mailbox only exist within a case.
    if req.destination_id == st.mailbox_id && req.case_id.is_none() {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "case-required",
            "Unprocessable Entity",
            "Antworten brauchen eine caseId",
        );
    }
    match st.create_to(
        req.destination_id,
        req.service_type,
        req.announced_attachments,
        req.case_id,
        Uuid::new_v4(),
    ) {
        Ok(s) => (
            StatusCode::CREATED,
            Json(SubmissionCreated {
                destination_id: s.destination_id,
                submission_id: s.submission_id,
                case_id: s.case_id,
            }),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

fn has_cty(jwe: &str) -> bool {
    fitconnect::jwe::parse_header(jwe, &fitconnect::Part::Data)
        .is_ok_and(|h| h.cty.is_some_and(|c| !c.is_empty()))
}

async fn put_attachment(
    AxState(sim): S,
    headers: HeaderMap,
    Ids((id, att)): Ids<(Uuid, Uuid), 400>,
    body: Bytes,
) -> Response {
    if !sim.authorised(&headers) {
        return unauthorised();
    }
    let Ok(jwe) = String::from_utf8(body.to_vec()) else {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported Media Type",
            "JWE erwartet",
        );
    };
    let mut st = sim.lock();
    let Some(s) = st.submissions.get(&id) else {
        return not_found("submission");
    };
    if s.state != SubmissionState::Incomplete {
        return already_finished();
    }
    if !s.announced.contains(&att) {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "attachment-not-announced",
            "Unprocessable Entity",
            "Anlage wurde nicht angekündigt",
        );
    }
    if fitconnect::jwe::parse_header(&jwe, &fitconnect::Part::Attachment(att.to_string())).is_err()
    {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-jwe",
            "Unprocessable Entity",
            "Keine JWE-Kompaktdarstellung",
        );
    }
    if let Err(e) = st.put_attachment(id, att, jwe.trim()) {
        return internal(e);
    }
    if let Some(s) = st.submissions.get_mut(&id)
        && !s.uploaded.contains(&att)
    {
        s.uploaded.push(att);
    }
    match st.save_submission(id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => internal(e),
    }
}

async fn submit_submission(
    AxState(sim): S,
    headers: HeaderMap,
    Ids(id): Ids<Uuid>,
    body: Bytes,
) -> Response {
    if !sim.authorised(&headers) {
        return unauthorised();
    }
    let Ok(req) = serde_json::from_slice::<SubmitSubmission>(&body) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Bad Request",
            "SubmitSubmission erwartet",
        );
    };
    let mut st = sim.lock();
    let Some(s) = st.submissions.get(&id) else {
        return not_found("submission");
    };
    if s.state != SubmissionState::Incomplete {
        return already_finished();
    }
    if s.announced.iter().any(|a| !s.uploaded.contains(a)) {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "submission-incomplete",
            "Unprocessable Entity",
            "Gesamtantrag unvollständig. Angekündigte Anlagen noch nicht hochgeladen.",
        );
    }
    if !has_cty(&req.encrypted_metadata)
        || req.encrypted_data.as_deref().is_some_and(|d| !has_cty(d))
    {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing-content-type",
            "Unprocessable Entity",
            "JWE-Kopf ohne cty",
        );
    }
    let to_bridge = s.destination_id == st.bridge.destination_id;
    if let Err(e) = st.submit(id, req.encrypted_metadata, req.encrypted_data) {
        return internal(e);
    }
    // The bridge answers at once, through the event log as the real one does.
    if to_bridge && let Err(e) = st.bridge_decide(id) {
        return internal(e);
    }
    let reduced = st.submissions.get(&id).map(|s| s.to_api(false));
    (StatusCode::ACCEPTED, Json(reduced)).into_response()
}

async fn case_events(
    AxState(sim): S,
    headers: HeaderMap,
    Ids(case): Ids<Uuid>,
    RawQuery(raw): RawQuery,
) -> Response {
    if !sim.authorised(&headers) {
        return unauthorised();
    }
    let (offset, limit, _) = paging(raw);
    let st = sim.lock();
    let Some(c) = st.cases.get(&case) else {
        return not_found("case");
    };
    let page: Vec<String> = c
        .events
        .iter()
        .skip(offset as usize)
        .take(limit as usize)
        .cloned()
        .collect();
    Json(EventLog {
        count: page.len() as u32,
        offset,
        total_count: c.events.len() as u32,
        event_log: page,
    })
    .into_response()
}

async fn post_event(
    AxState(sim): S,
    headers: HeaderMap,
    Ids(case): Ids<Uuid>,
    body: Bytes,
) -> Response {
    if !sim.authorised(&headers) {
        return unauthorised();
    }
    let Ok(token) = String::from_utf8(body.to_vec()) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Bad Request",
            "SET erwartet",
        );
    };
    let mut st = sim.lock();
    if !st.cases.contains_key(&case) {
        return not_found("case");
    }
    let dest = st.destination_id.to_string();
    let sig_key = st.dest_sig.public.clone();
    let verified = set::verify(
        &token,
        |iss, kid| (iss == dest && kid == sig_key.kid).then(|| sig_key.clone()),
        Some(case),
    );
    let ev = match verified {
        Ok(ev) => ev,
        Err(e) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-event",
                "Unprocessable Entity",
                e.to_string(),
            );
        }
    };
    let Some(sub) = st.submissions.get(&ev.submission_id) else {
        return not_found("submission");
    };
    if sub.case_id != case {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-event",
            "Unprocessable Entity",
            "sub gehört nicht zu txn",
        );
    }
    let next = match ev.event {
        Event::AcceptSubmission => SubmissionState::Accepted,
        Event::RejectSubmission => SubmissionState::Rejected,
        _ => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-event",
                "Unprocessable Entity",
                "nur accept oder reject",
            );
        }
    };
    if sub.state != SubmissionState::Submitted {
        return problem(
            StatusCode::CONFLICT,
            "invalid-state-transition",
            "Conflict",
            "Ungültiger Zustandsübergang",
        );
    }
    if let Some(s) = st.submissions.get_mut(&ev.submission_id) {
        s.state = next;
    }
    if let Err(e) = st.save_submission(ev.submission_id) {
        return internal(e);
    }
    st.cases
        .entry(case)
        .or_default()
        .events
        .push(token.trim().to_owned());
    match st.save_case(case) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => internal(e),
    }
}

/// What reached the citizens' BundID mailboxes and Statusmonitor through the bridge.
async fn citizen_postkorb(AxState(sim): S) -> Json<Vec<crate::bridge::PostkorbEntry>> {
    Json(sim.lock().postkorb())
}

/// The e-mails the citizens received, opened with their keys where the simulator
/// holds them.
async fn citizen_mail(
    axum::extract::State(sim): axum::extract::State<Arc<Sim>>,
) -> axum::Json<Vec<crate::mail::MailView>> {
    let keys = sim.lock().citizen_keys();
    axum::Json(
        sim.mail()
            .map(|m| m.citizen_view(&keys))
            .unwrap_or_default(),
    )
}
