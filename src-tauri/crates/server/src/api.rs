//! The HTTPS API for enrolled workstations (axum over rustls, mutual TLS).
//!
//! Every request except the enrolment must come with a client certificate of the
//! office CA whose fingerprint belongs to an enrolled, not revoked workstation;
//! everything that touches cases also needs a server session of a user. The role
//! is always the one the server holds. Refusals answer a German `fehler` and leave
//! an audit entry.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use office::Command;
pub use office::protocol::{EnrolRequest, EnrolResponse, Hello, LoginRequest, SessionGrant};
use office::rules::Actor;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use uuid::Uuid;

use crate::error::ServerError;
use crate::record::{Record, sha256_hex};
use crate::tls::OfficeCa;

/// The largest request body (a command with its encrypted content).
pub const MAX_BODY: usize = office::protocol::MAX_CIPHERTEXT * 2;

#[derive(Clone)]
pub struct ApiState {
    pub record: Arc<Record>,
    pub ca: Arc<OfficeCa>,
}

/// Who is at the other end of the TLS connection.
#[derive(Clone, Debug)]
struct Peer {
    fingerprint: Option<String>,
    addr: SocketAddr,
}

/// A refusal as the workstation receives it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    pub fehler: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self)).into_response()
    }
}

impl From<ServerError> for ApiError {
    fn from(e: ServerError) -> Self {
        let status = match &e {
            ServerError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ServerError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServerError::Invalid(_) => StatusCode::BAD_REQUEST,
            ServerError::Db(_) | ServerError::Tls(_) | ServerError::File { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("{e}");
            return ApiError {
                status,
                fehler: "Der Rathaus-Server hat ein Problem. Bitte später erneut versuchen; die Administration sieht die Ursache im Protokoll.".into(),
            };
        }
        ApiError {
            status,
            fehler: e.to_string(),
        }
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

async fn workstation(state: &ApiState, peer: &Peer) -> Result<Uuid, ApiError> {
    let Some(fp) = &peer.fingerprint else {
        state
            .record
            .audit(
                None,
                None,
                "anfrage_abgewiesen",
                &format!("ohne Zertifikat von {}", peer.addr.ip()),
            )
            .await?;
        return Err(ServerError::Forbidden(
            "Dieser Arbeitsplatz ist am Rathaus-Server nicht angemeldet (kein Zertifikat).".into(),
        )
        .into());
    };
    Ok(state.record.workstation(fp).await?)
}

async fn actor(
    state: &ApiState,
    peer: &Peer,
    headers: &HeaderMap,
) -> Result<(Actor, Uuid), ApiError> {
    let ws = workstation(state, peer).await?;
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or(""); // no header: an empty token, refused below like an unknown one
    let actor = state.record.session(token, ws).await?;
    Ok((actor, ws))
}

async fn parse_body<T: serde::de::DeserializeOwned>(
    state: &ApiState,
    ws: Option<Uuid>,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = match body {
        Ok(b) => b,
        Err(e) => {
            state
                .record
                .audit(
                    None,
                    ws,
                    "anfrage_abgewiesen",
                    &format!("Inhalt nicht lesbar: {}", e.status()),
                )
                .await?;
            return Err(ApiError {
                status: e.status(),
                fehler: format!(
                    "Die Anfrage ist zu groß oder unvollständig (höchstens {} MiB).",
                    MAX_BODY / 1024 / 1024
                ),
            });
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(v) => Ok(v),
        Err(e) => {
            state
                .record
                .audit(
                    None,
                    ws,
                    "anfrage_abgewiesen",
                    &format!("fehlerhaft: Zeile {}, Spalte {}", e.line(), e.column()),
                )
                .await?;
            Err(ServerError::Invalid(format!("Die Anfrage ist fehlerhaft: {e}")).into())
        }
    }
}

async fn enrol(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<EnrolResponse> {
    let req: EnrolRequest = parse_body(&state, None, body).await?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ServerError::Invalid(
            "Der Name des Arbeitsplatzes fehlt oder ist zu lang.".into(),
        )
        .into());
    }
    let ca = state.ca.clone();
    let csr = req.csr.clone();
    let (id, certificate) = state
        .record
        .enrol(&req.code, name, move |id| {
            ca.sign_request(&csr, id, 3 * 365)
        })
        .await?;
    if let Some(identity) = &req.schluessel {
        state.record.deposit_at_enrolment(id, identity).await?;
    }
    Ok(Json(EnrolResponse {
        id,
        certificate,
        ca: state.ca.cert_pem.clone(),
    }))
}

/// A request of a signed-in user from an enrolled desk, with its JSON body: the
/// certificate, the session and the body checked in this order, each refusal in
/// German with an audit entry.
struct Authed<T> {
    actor: Actor,
    ws: Uuid,
    body: T,
}

impl<T: serde::de::DeserializeOwned + Send> axum::extract::FromRequest<ApiState> for Authed<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &ApiState) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let Some(peer) = parts.extensions.get::<Peer>().cloned() else {
            return Err(ServerError::Forbidden("Verbindung ohne TLS.".into()).into());
        };
        let (actor, ws) = actor(state, &peer, &parts.headers).await?;
        let request = axum::extract::Request::from_parts(parts, body);
        let bytes =
            <Bytes as axum::extract::FromRequest<ApiState>>::from_request(request, state).await;
        let body = parse_body(state, Some(ws), bytes).await?;
        Ok(Authed { actor, ws, body })
    }
}

async fn login(
    State(state): State<ApiState>,
    Extension(peer): Extension<Peer>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<SessionGrant> {
    let ws = workstation(&state, &peer).await?;
    let req: LoginRequest = parse_body(&state, Some(ws), body).await?;
    Ok(Json(
        state.record.login(&req.user, &req.password, ws).await?,
    ))
}

async fn command(State(state): State<ApiState>, a: Authed<Command>) -> ApiResult<office::Outcome> {
    Ok(Json(state.record.apply(&a.actor, a.ws, &a.body).await?))
}

#[derive(Debug, Deserialize)]
struct FeedQuery {
    nach: Option<i64>,
    anzahl: Option<i64>,
}

async fn feed(
    State(state): State<ApiState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    query: Result<Query<FeedQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<office::FeedPage> {
    let (actor, _) = actor(&state, &peer, &headers).await?;
    let Ok(Query(q)) = query else {
        return Err(
            ServerError::Invalid("„nach“ und „anzahl“ müssen ganze Zahlen sein.".into()).into(),
        );
    };
    Ok(Json(
        state
            .record
            .feed(&actor, q.nach.unwrap_or(0), q.anzahl.unwrap_or(200))
            .await?,
    ))
}

async fn lease(
    State(state): State<ApiState>,
    a: Authed<office::protocol::LeaseRequest>,
) -> ApiResult<office::protocol::LeaseResponse> {
    if a.actor.role == domain::Role::Admin {
        return Err(ServerError::Forbidden(
            "Die Administration vergibt keine Aktenzeichen.".into(),
        )
        .into());
    }
    let (first, last) = state
        .record
        .lease(a.ws, &a.body.counter, a.body.count)
        .await?;
    Ok(Json(office::protocol::LeaseResponse { first, last }))
}

async fn hello(
    State(state): State<ApiState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> ApiResult<Hello> {
    let ws = workstation(&state, &peer).await?;
    // With a session token: is it still good (the status bar's "Anmeldung abgelaufen")?
    let session = match headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        None => None,
        Some(token) => match state.record.session(token, ws).await {
            Ok(_) => Some(true),
            Err(ServerError::Unauthenticated(_)) => Some(false),
            Err(e) => return Err(e.into()),
        },
    };
    Ok(Json(Hello {
        workstation: ws,
        position: state.record.position().await?,
        session,
        versand: state.record.delivery().map(|d| d.versand()),
    }))
}

#[derive(Debug, Deserialize)]
struct DocumentsQuery {
    fall: Option<Uuid>,
}

async fn documents(
    State(state): State<ApiState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    query: Result<Query<DocumentsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Vec<office::protocol::SealedDocument>> {
    let (actor, ws) = actor(&state, &peer, &headers).await?;
    let Ok(Query(DocumentsQuery {
        fall: Some(case_id),
    })) = query
    else {
        return Err(
            ServerError::Invalid("„fall“ muss die Kennung eines Vorgangs sein.".into()).into(),
        );
    };
    Ok(Json(
        state.record.case_documents(&actor, ws, case_id).await?,
    ))
}

async fn take_over_case(
    State(state): State<ApiState>,
    a: Authed<office::protocol::TakeoverCase>,
) -> ApiResult<office::protocol::TakeoverAnswer> {
    Ok(Json(
        state.record.take_over_case(&a.actor, a.ws, &a.body).await?,
    ))
}

async fn take_over_audit(
    State(state): State<ApiState>,
    a: Authed<Vec<office::protocol::TakeoverAuditEntry>>,
) -> ApiResult<u64> {
    Ok(Json(
        state
            .record
            .take_over_audit(&a.actor, a.ws, &a.body)
            .await?,
    ))
}

#[derive(Debug, Deserialize)]
struct DocumentQuery {
    fall: Option<Uuid>,
    dokument: Option<String>,
}

type DocumentQueryResult = Result<Query<DocumentQuery>, axum::extract::rejection::QueryRejection>;

/// The case, the document's key and its bytes of a document upload (raw age file,
/// no JSON around it: a scan may be large), refused in German when incomplete.
fn document_upload(
    query: DocumentQueryResult,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Uuid, String, Bytes), ApiError> {
    let Ok(Query(DocumentQuery {
        fall: Some(case_id),
        dokument: Some(key),
    })) = query
    else {
        return Err(
            ServerError::Invalid("„fall“ und „dokument“ müssen angegeben sein.".into()).into(),
        );
    };
    let body = body.map_err(|e| {
        ServerError::Invalid(format!("Das Dokument ist nicht lesbar oder zu groß: {e}"))
    })?;
    Ok((case_id, key, body))
}

/// One document of a taken-over case.
async fn take_over_document(
    State(state): State<ApiState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    query: DocumentQueryResult,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<bool> {
    let (actor, ws) = actor(&state, &peer, &headers).await?;
    let (case_id, key, body) = document_upload(query, body)?;
    Ok(Json(
        state
            .record
            .take_over_document(&actor, ws, case_id, &key, &body)
            .await?,
    ))
}

async fn deposit(
    State(state): State<ApiState>,
    a: Authed<office::protocol::DeskDeposit>,
) -> ApiResult<()> {
    state
        .record
        .deposit(&a.actor, a.ws, &a.body.schluessel)
        .await?;
    Ok(Json(()))
}

/// A user's first login at a desk that does not know her yet (no client
/// certificate: the desk has no session to open its own).
async fn first_login(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<office::protocol::FirstLoginGrant> {
    let req: office::protocol::FirstLogin = parse_body(&state, None, body).await?;
    Ok(Json(state.record.first_login(&req).await?))
}

/// A document of a case made at a desk (a scan approved at the scanning desk).
async fn add_document(
    State(state): State<ApiState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    query: DocumentQueryResult,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<bool> {
    let (actor, ws) = actor(&state, &peer, &headers).await?;
    let (case_id, key, body) = document_upload(query, body)?;
    Ok(Json(
        state
            .record
            .add_document(&actor, ws, case_id, &key, &body)
            .await?,
    ))
}

async fn key_view(
    State(state): State<ApiState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> ApiResult<office::keyring::KeyView> {
    let (actor, _) = actor(&state, &peer, &headers).await?;
    Ok(Json(state.record.key_view(&actor).await?))
}

async fn publish_user_key(
    State(state): State<ApiState>,
    a: Authed<office::keyring::PublishUserKey>,
) -> ApiResult<()> {
    state.record.publish_user_key(&a.actor, &a.body).await?;
    Ok(Json(()))
}

async fn publish_kind_key(
    State(state): State<ApiState>,
    a: Authed<office::keyring::PublishKindKey>,
) -> ApiResult<()> {
    state.record.publish_kind_key(&a.actor, &a.body).await?;
    Ok(Json(()))
}

async fn grant_key(
    State(state): State<ApiState>,
    a: Authed<office::keyring::GrantKey>,
) -> ApiResult<()> {
    state.record.grant_key(&a.actor, &a.body).await?;
    Ok(Json(()))
}

/// The office CA's certificate (public): a desk checks its fingerprint against the
/// one the administration read out with the one-time code before it enrols.
async fn ca(State(state): State<ApiState>) -> String {
    state.ca.cert_pem.clone()
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/ca", get(ca))
        .route("/v1/arbeitsplatz", post(enrol))
        .route("/v1/sitzung", post(login))
        .route("/v1/befehle", post(command))
        .route("/v1/feed", get(feed))
        .route("/v1/nummern", post(lease))
        .route("/v1/hallo", get(hello))
        .route("/v1/dokumente", get(documents))
        .route(
            "/v1/dokumente/neu",
            post(add_document).layer(DefaultBodyLimit::max(crate::takeover::MAX_DOCUMENT)),
        )
        .route("/v1/schluessel", get(key_view))
        .route("/v1/schluessel/benutzer", post(publish_user_key))
        .route("/v1/schluessel/art", post(publish_kind_key))
        .route("/v1/schluessel/freigabe", post(grant_key))
        .route("/v1/arbeitsplatz/schluessel", post(deposit))
        .route("/v1/erstanmeldung", post(first_login))
        .route("/v1/uebernahme", post(take_over_case))
        .route("/v1/uebernahme/protokoll", post(take_over_audit))
        .route(
            "/v1/uebernahme/dokument",
            post(take_over_document).layer(DefaultBodyLimit::max(crate::takeover::MAX_DOCUMENT)),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Serve the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    tls: rustls::ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let app = router(state.clone());
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("Verbindung nicht angenommen: {e}");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let record = state.record.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(
                std::time::Duration::from_secs(15),
                acceptor.accept(tcp),
            )
            .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    // Unknown CA, expired certificate, no TLS at all: refused in the
                    // handshake; the administration finds it in the audit.
                    let detail = format!("TLS von {} abgelehnt: {e}", addr.ip());
                    tracing::info!("{detail}");
                    let _ = record
                        .audit(None, None, "verbindung_abgelehnt", &detail)
                        .await;
                    return;
                }
                Err(_) => return,
            };
            let fingerprint = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| sha256_hex(c));
            let peer = Peer { fingerprint, addr };
            let service = TowerToHyperService::new(app.layer(Extension(peer)));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
