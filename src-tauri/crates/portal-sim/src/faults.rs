//! Fault injection, switchable at run time (`GET/PUT /admin/faults`) or by flags:
//! latency, error rate (500/502/503, 429 with Retry-After), connection reset after
//! the request took effect (the response is lost), truncated body, slow drip,
//! early token expiry and a full outage window. Decisions come from a seeded RNG,
//! so a run can be replayed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::Sim;

/// The fault settings. Rates are probabilities per request (0.0–1.0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Added to every request.
    pub latency_ms: u64,
    /// Requests answered with 500/502/503/429 before they reach the handler.
    pub error_rate: f64,
    /// Requests whose connection is reset after the handler ran (effect happened,
    /// response lost).
    pub reset_rate: f64,
    /// Responses cut off in the middle of the body.
    pub truncate_rate: f64,
    /// Responses sent in small pieces with pauses.
    pub drip_rate: f64,
    /// After a request, all tokens expire early with this probability (401 on the next call).
    pub token_revoke_rate: f64,
    /// Every request fails with 503 for this many seconds from now (set via PUT).
    pub outage_seconds: u64,
    /// Seed of the fault RNG.
    pub seed: u64,
}

/// Counters of the API's requests: how many ran at once, how often the key set was read.
#[derive(Default)]
pub(crate) struct Traffic {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    jwks: AtomicUsize,
}

/// A reading of [`Traffic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficCounts {
    /// The most API requests that were under way at the same moment.
    pub peak_in_flight: usize,
    /// Requests for `/.well-known/jwks.json`.
    pub jwks_requests: usize,
}

impl Traffic {
    pub(crate) fn counts(&self) -> TrafficCounts {
        TrafficCounts {
            peak_in_flight: self.peak.load(Ordering::SeqCst),
            jwks_requests: self.jwks.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn reset(&self) {
        self.peak
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
        self.jwks.store(0, Ordering::SeqCst);
    }
}

/// One request under way; counted out when dropped (also when the client gives up).
struct InFlight<'a>(&'a Traffic);

impl<'a> InFlight<'a> {
    fn enter(traffic: &'a Traffic, path: &str) -> Self {
        if path == "/.well-known/jwks.json" {
            traffic.jwks.fetch_add(1, Ordering::SeqCst);
        }
        let now = traffic.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        traffic.peak.fetch_max(now, Ordering::SeqCst);
        InFlight(traffic)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) struct FaultState {
    pub faults: Faults,
    pub rng: ChaCha8Rng,
    pub outage_until: Option<Instant>,
}

impl FaultState {
    pub fn new(faults: Faults) -> Self {
        let outage_until = (faults.outage_seconds > 0)
            .then(|| Instant::now() + Duration::from_secs(faults.outage_seconds));
        FaultState {
            rng: ChaCha8Rng::seed_from_u64(faults.seed),
            faults,
            outage_until,
        }
    }
}

enum Plan {
    Pass,
    Error(StatusCode),
    Outage,
}

struct After {
    reset: bool,
    truncate: bool,
    drip: bool,
}

pub(crate) async fn layer(AxState(sim): AxState<Arc<Sim>>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/admin/") || req.uri().path().starts_with("/citizen/") {
        return next.run(req).await;
    }
    let _counted = InFlight::enter(&sim.traffic, req.uri().path());
    let (plan, after, latency, revoke) = {
        let mut fs = sim.faults();
        let f = fs.faults.clone();
        let outage = fs.outage_until.is_some_and(|t| Instant::now() < t);
        let rng = &mut fs.rng;
        let plan = if outage {
            Plan::Outage
        } else if rng.random_bool(f.error_rate.clamp(0.0, 1.0)) {
            let codes = [
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::BAD_GATEWAY,
                StatusCode::SERVICE_UNAVAILABLE,
                StatusCode::TOO_MANY_REQUESTS,
            ];
            Plan::Error(codes[rng.random_range(0..codes.len())])
        } else {
            Plan::Pass
        };
        let after = After {
            reset: rng.random_bool(f.reset_rate.clamp(0.0, 1.0)),
            truncate: rng.random_bool(f.truncate_rate.clamp(0.0, 1.0)),
            drip: rng.random_bool(f.drip_rate.clamp(0.0, 1.0)),
        };
        let revoke = rng.random_bool(f.token_revoke_rate.clamp(0.0, 1.0));
        (plan, after, f.latency_ms, revoke)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match plan {
        Plan::Outage => {
            return unavailable(
                StatusCode::SERVICE_UNAVAILABLE,
                "Wartungsfenster (simulierter Ausfall)",
            );
        }
        Plan::Error(code) => return unavailable(code, "simulierter Fehler"),
        Plan::Pass => {}
    }
    let res = next.run(req).await;
    if revoke {
        // Early expiry: the token that just worked is gone for the next request.
        sim.revoke_tokens();
    }
    if !(after.reset || after.truncate || after.drip) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let half = bytes.len() / 2;
    // Announce the full length, as a real server would have; sending less is what a
    // broken connection looks like to the client.
    parts.headers.insert(
        header::CONTENT_LENGTH,
        header::HeaderValue::from(bytes.len()),
    );
    let body = if after.reset {
        // The handler ran; the client sees the connection break mid-response.
        let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> = vec![
            Ok(bytes.slice(..half)),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "simulierter Verbindungsabbruch",
            )),
        ];
        Body::from_stream(stream::iter(chunks))
    } else if after.truncate {
        let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> = vec![Ok(bytes.slice(..half))];
        Body::from_stream(stream::iter(chunks))
    } else {
        let pieces: Vec<axum::body::Bytes> = bytes
            .chunks(64)
            .map(axum::body::Bytes::copy_from_slice)
            .collect();
        Body::from_stream(futures_util::StreamExt::then(
            stream::iter(pieces),
            |p| async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok::<_, std::io::Error>(p)
            },
        ))
    };
    Response::from_parts(parts, body)
}

fn unavailable(code: StatusCode, detail: &str) -> Response {
    let mut res = crate::server::problem(
        code,
        "simulated-fault",
        code.canonical_reason().unwrap_or("Error"),
        detail,
    );
    if code == StatusCode::TOO_MANY_REQUESTS || code == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    res
}
