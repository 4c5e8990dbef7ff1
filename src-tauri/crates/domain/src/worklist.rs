use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// One row of a work list (Arbeitskorb). Holds personal data: never log it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct CaseSummary {
    pub id: String,
    /// Aktenzeichen.
    pub file_number: String,
    /// Case type (Leistung), e.g. "Meldebescheinigung".
    pub case_type: String,
    /// Applicant's display name (Antragstellende).
    pub applicant: String,
    /// Where the case stands.
    pub status: crate::lifecycle::CaseState,
    /// Arrival (RFC 3339, UTC).
    pub received_at: String,
    /// Deadline marker of an open case (none for closed cases or unknown types).
    pub deadline: Option<crate::deadline::DeadlineStatus>,
    /// The date that matters next (YYYY-MM-DD): the statutory deadline once it runs,
    /// else the service target.
    pub due: Option<String>,
    /// Assignee (user name); none: Eingangskorb.
    pub assigned_to: Option<String>,
}
