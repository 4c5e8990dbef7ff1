//! Minimal case repository: enough for the work list. Casework extends it.

use domain::CaseSummary;
use rusqlite::params;

use crate::error::{Result, StoreError};
use crate::{Session, audit, random_hex};

/// A case to insert. Holds personal data: never log it.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub file_number: String,
    pub case_type: String,
    pub applicant: String,
    pub status: String,
    pub received_at: String,
}

/// A history entry taken over from an earlier system (or the demo): time, actor, kind,
/// state left and state entered.
#[derive(Debug, Clone)]
pub struct PastEvent {
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
}

impl Session {
    /// Take over a finished or running case with its history (Altdaten-Übernahme,
    /// demo data): the case in its current state, its case type, assignee and
    /// completeness date, and every history entry with its original time – in one
    /// transaction, audited with the Aktenzeichen.
    pub fn import_case_with_history(
        &mut self,
        case: &NewCase,
        case_type_code: Option<&str>,
        assigned_to: Option<&str>,
        complete_at: Option<&str>,
        portal_case: Option<&str>,
        history: &[PastEvent],
    ) -> Result<String> {
        let extras = [case_type_code, assigned_to, complete_at, portal_case];
        self.insert(case, extras, history, "vorgang.uebernommen")
    }

    /// Insert a case; returns its id. Audited with the Aktenzeichen only.
    pub fn insert_case(&mut self, case: &NewCase) -> Result<String> {
        self.insert(case, [None; 4], &[], "vorgang.angelegt")
    }

    /// A new case row (with case type code, assignee, completeness date and portal
    /// case where known), its history and the audit entry, in one transaction.
    fn insert(
        &mut self,
        case: &NewCase,
        [case_type_code, assigned_to, complete_at, portal_case]: [Option<&str>; 4],
        history: &[PastEvent],
        audit_action: &str,
    ) -> Result<String> {
        if case.file_number.trim().is_empty() {
            return Err(StoreError::InvalidInput("Das Aktenzeichen fehlt.".into()));
        }
        let id = random_hex(16);
        let now = self.now();
        let actor = self.user().username.to_string();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO cases (id, file_number, case_type, applicant, status, received_at, created_at, case_type_code, assigned_to, complete_at, fc_case_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![id, case.file_number, case.case_type, case.applicant, case.status, case.received_at, now, case_type_code, assigned_to, complete_at, portal_case],
        )?;
        for e in history {
            tx.execute(
                "INSERT INTO case_history (case_id, at, actor, kind, from_state, to_state) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, e.at, e.actor, e.kind, e.from_state, e.to_state],
            )?;
        }
        audit::append(&tx, &now, &actor, audit_action, &case.file_number)?;
        tx.commit()?;
        Ok(id)
    }

    /// The work list, newest arrival first.
    pub fn list_cases(&self, limit: u32, offset: u32) -> Result<Vec<CaseSummary>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, file_number, case_type, applicant, status, received_at
             FROM cases ORDER BY received_at DESC, file_number LIMIT ?1 OFFSET ?2",
        )?;
        let rows = stmt.query_map(params![limit, offset], |r| {
            Ok(CaseSummary {
                id: r.get(0)?,
                file_number: r.get(1)?,
                case_type: r.get(2)?,
                applicant: r.get(3)?,
                status: state(r.get::<_, String>(4)?)?,
                received_at: r.get(5)?,
                deadline: None,
                due: None,
                assigned_to: None,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn count_cases(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM cases", [], |r| r.get(0))?;
        // COUNT(*) is never negative.
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Insert many cases in one transaction (bulk import, benchmarks, demo data).
    /// Audited as one entry naming the count.
    pub fn insert_cases(&mut self, cases: &[NewCase]) -> Result<()> {
        let now = self.now();
        let actor = self.user().username.to_string();
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO cases (id, file_number, case_type, applicant, status, received_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for case in cases {
                stmt.execute(params![
                    random_hex(16),
                    case.file_number,
                    case.case_type,
                    case.applicant,
                    case.status,
                    case.received_at,
                    now
                ])?;
            }
        }
        audit::append(
            &tx,
            &now,
            &actor,
            "vorgang.import",
            &cases.len().to_string(),
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// A stored state, parsed at the boundary: an unknown text is a damaged row.
fn state(s: String) -> rusqlite::Result<domain::lifecycle::CaseState> {
    domain::lifecycle::CaseState::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            4,
            rusqlite::types::Type::Text,
            format!("unbekannter Vorgangszustand „{s}“").into(),
        )
    })
}
