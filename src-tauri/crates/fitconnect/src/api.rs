//! Wire types of the Submission API v1 (`schemas/submission-api.v1.1.3.yaml`).
//! Shared by the client and the portal simulator.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::keys::PublicJwk;

/// Largest page the API serves (`limit` ≤ 500).
pub const MAX_PAGE: u32 = 500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceType {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub identifier: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmissionForPickup {
    pub destination_id: Uuid,
    pub submission_id: Uuid,
    pub case_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmissionsForPickup {
    pub count: u32,
    pub offset: u32,
    pub total_count: u32,
    pub submissions: Vec<SubmissionForPickup>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Submission {
    pub destination_id: Uuid,
    pub submission_id: Uuid,
    pub case_id: Uuid,
    pub attachments: Vec<Uuid>,
    pub service_type: ServiceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_metadata: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_data: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSubmission {
    pub destination_id: Uuid,
    pub announced_attachments: Vec<Uuid>,
    pub service_type: ServiceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmissionCreated {
    pub destination_id: Uuid,
    pub submission_id: Uuid,
    pub case_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitSubmission {
    pub encrypted_metadata: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_data: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventLog {
    pub count: u32,
    pub offset: u32,
    pub total_count: u32,
    pub event_log: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<PublicJwk>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    pub version: Version,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationService {
    pub identifier: String,
    #[serde(default)]
    pub regions: Vec<String>,
    pub submission_schemas: Vec<SubmissionSchemaRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmissionSchemaRef {
    pub schema_uri: String,
    pub mime_type: String,
}

/// The public view of a destination (Zustellpunkt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicDestination {
    pub destination_id: Uuid,
    pub encryption_kid: String,
    pub metadata_versions: Vec<String>,
    pub services: Vec<DestinationService>,
    pub status: String,
}

/// RFC 7807 error body (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiProblem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// OAuth2 token response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// A payment request to the portal's payment service (after XBezahldienste
/// `POST /paymenttransaction/{originatorId}/{endPointId}`). `requestId` makes it
/// idempotent: the service answers a repeated request with the same transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequest {
    pub request_id: String,
    /// RFC 3339.
    pub timestamp: String,
    /// Only `EUR`.
    pub currency: String,
    /// Euro with two decimals, as the wire format asks; computed from integer cents.
    pub grand_total: f64,
    /// Verwendungszweck (≤ 27 characters): the Kassenzeichen.
    pub purpose: String,
    /// ≤ 250 characters.
    pub description: String,
    pub items: Vec<PaymentItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentItem {
    pub id: String,
    pub reference: String,
    pub description: String,
    pub net_amount: f64,
    pub quantity: u32,
}

/// The service's answer: its transaction for the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentTransaction {
    pub request_id: String,
    pub transaction_id: String,
    /// `INITIAL`, `BOOKED`, `FAILED`, `CANCELED`.
    pub status: String,
}

/// Euro amount for the wire from integer cents (exact for every amount the
/// payment service accepts, ≤ 999 999 €).
pub fn cents_to_euro(cents: i64) -> f64 {
    // Format through text so that 1234 cents become exactly the number 12.34.
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
        .parse()
        .unwrap_or(0.0)
}

/// Integer cents from the wire's euro amount.
pub fn euro_to_cents(euro: f64) -> i64 {
    (euro * 100.0).round() as i64
}
