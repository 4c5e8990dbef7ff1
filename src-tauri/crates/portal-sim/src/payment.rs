//! The portal's payment service, after XBezahldienste: the authority asks for a
//! payment (Kassenzeichen, amount), the citizen pays in the portal. Idempotent by
//! `requestId`: a repeated request gets the transaction of the first one, so a
//! workstation that lost an answer may safely ask again. The record of how often a
//! request arrived lets tests see retries; `/citizen/payments` shows them all.
//! Kept on disk (`payments.json`) like the rest of the state.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use fitconnect::api::{PaymentRequest, PaymentTransaction, euro_to_cents};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::server::{S, internal, problem, unauthorised};

/// A payment request as the service keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRecord {
    pub request_id: String,
    pub transaction_id: String,
    pub originator_id: String,
    pub end_point_id: String,
    pub amount_cents: i64,
    pub purpose: String,
    pub description: String,
    /// How often the request arrived (1 + retries of a lost answer).
    pub received: u32,
    /// Order of first arrival.
    pub seq: u64,
}

fn bad(detail: &str) -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "invalid-payment-request",
        "Bad Request",
        detail,
    )
}

pub(crate) async fn create(
    AxState(sim): S,
    headers: HeaderMap,
    Path((originator, end_point)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if !sim.authorised(&headers) {
        return unauthorised();
    }
    let Ok(req) = serde_json::from_slice::<PaymentRequest>(&body) else {
        return bad("PaymentRequest erwartet");
    };
    let cents = euro_to_cents(req.grand_total);
    if req.currency != "EUR" {
        return bad("Nur EUR wird angenommen");
    }
    if !(1..=99_999_900).contains(&cents) {
        return bad("grandTotal außerhalb von 0,01 bis 999.999,00");
    }
    if req.purpose.chars().count() > 27 || req.description.chars().count() > 250 {
        return bad("purpose ≤ 27, description ≤ 250 Zeichen");
    }
    if req.items.is_empty() || req.items.len() > 99 || req.request_id.is_empty() {
        return bad("1 bis 99 Positionen und eine requestId erwartet");
    }
    let mut st = sim.lock();
    let seq = st.payments.len() as u64 + 1;
    let (status, record) = match st.payments.get_mut(&req.request_id) {
        Some(r) => {
            r.received += 1;
            (StatusCode::OK, r.clone())
        }
        None => {
            let r = PaymentRecord {
                request_id: req.request_id.clone(),
                transaction_id: Uuid::new_v4().to_string(),
                originator_id: originator,
                end_point_id: end_point,
                amount_cents: cents,
                purpose: req.purpose.clone(),
                description: req.description.clone(),
                received: 1,
                seq,
            };
            st.payments.insert(req.request_id.clone(), r.clone());
            (StatusCode::CREATED, r)
        }
    };
    if let Err(e) = st.save_payments() {
        return internal(e);
    }
    (
        status,
        Json(PaymentTransaction {
            request_id: record.request_id,
            transaction_id: record.transaction_id,
            status: "INITIAL".into(),
        }),
    )
        .into_response()
}

/// All payment requests, in order of arrival (citizen side / tests).
pub(crate) async fn list(AxState(sim): S) -> Response {
    let st = sim.lock();
    let mut all: Vec<PaymentRecord> = st.payments.values().cloned().collect();
    all.sort_by_key(|p| p.seq);
    Json(all).into_response()
}

pub(crate) type Payments = BTreeMap<String, PaymentRecord>;
