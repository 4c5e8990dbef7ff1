//! The one number allocator of the store: named counters and every Aktenzeichen.
//!
//! A counter value is handed out once and never again (gaps after a crash are
//! possible, duplicates never). Aktenzeichen follow the town's pattern from this
//! workstation's block (`arbeitsplatz`), counted per case type and year; a case
//! whose type the configuration does not know gets a provisional `ON-` number.

use rusqlite::params;

use crate::{Result, Session, StoreError};

/// How new cases are numbered: the town's Aktenzeichen pattern, this workstation's
/// block, and the case types (to find the code of a service).
#[derive(Debug, Clone)]
pub struct Numbering {
    pub pattern: String,
    pub arbeitsplatz: u32,
    pub types: Vec<domain::casetype::CaseType>,
}

/// The next value of the counter `name` (1, 2, …) inside `conn`'s transaction.
pub(crate) fn next_value(conn: &rusqlite::Connection, name: &str) -> Result<u64> {
    let value: i64 = conn.query_row(
        "INSERT INTO counters (name, value) VALUES (?1, 1)
         ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
        params![name],
        |r| r.get(0),
    )?;
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("Zähler {name}")))
}

/// The year of a receipt time (RFC 3339, as the portal and the intake write it).
pub(crate) fn year_of(received_at: &str) -> Result<i16> {
    received_at
        .get(..4)
        .and_then(|y| y.parse::<i16>().ok())
        .filter(|y| *y >= 1900)
        .ok_or_else(|| {
            StoreError::InvalidInput(format!(
                "Der Eingangszeitpunkt „{received_at}“ nennt kein Jahr; ohne Jahr gibt es kein Aktenzeichen."
            ))
        })
}

/// The next file number: the town's pattern for a known case type (`kuerzel`),
/// else a provisional `ON-<year>-<nnnnnn>`.
pub(crate) fn next_file_number(
    conn: &rusqlite::Connection,
    numbering: Option<(&Numbering, &str)>,
    year: i16,
) -> Result<String> {
    Ok(match numbering {
        Some((n, kuerzel)) => {
            let value = next_value(conn, &format!("az-{kuerzel}-{year:04}"))?;
            domain::casetype::file_number(&n.pattern, kuerzel, year, n.arbeitsplatz, value)
        }
        None => {
            let value = next_value(conn, &format!("online-{year:04}"))?;
            format!("ON-{year:04}-{value:06}")
        }
    })
}

impl Session {
    /// Number new cases after the town's pattern (without it: provisional `ON-` numbers).
    pub fn set_numbering(&mut self, numbering: Numbering) {
        self.numbering = Some(numbering);
    }

    /// The next value of a named counter (1, 2, …), committed at once: numbers may
    /// have gaps after a crash but are never handed out twice.
    pub fn next_counter(&mut self, name: &str) -> Result<u64> {
        next_value(&self.conn, name)
    }

    /// The next Aktenzeichen of the case type `kuerzel` in `year`, committed at once.
    /// Refused when the town's numbering is not configured or does not know the type.
    pub fn allocate_file_number(&mut self, kuerzel: &str, year: i16) -> Result<String> {
        let n = self
            .numbering
            .as_ref()
            .filter(|n| n.types.iter().any(|t| t.kuerzel == kuerzel))
            .ok_or_else(|| {
                StoreError::InvalidInput(format!(
                    "Für die Vorgangsart „{kuerzel}“ ist kein Aktenzeichen eingerichtet (vorgangsarten.toml)."
                ))
            })?;
        next_file_number(&self.conn, Some((n, kuerzel)), year)
    }
}

#[cfg(test)]
mod tests {
    use super::year_of;

    #[test]
    fn year_of_receipt_time() {
        assert_eq!(year_of("2026-03-09T08:00:00Z").ok(), Some(2026));
        assert!(year_of("").is_err());
        assert!(year_of("xx26-03-09").is_err());
        assert!(year_of("0000-01-01T00:00:00Z").is_err());
    }
}
