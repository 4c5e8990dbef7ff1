//! Scan products of the scanning desk: taken in (image data into the vault, refused
//! by content when already there), checked, and – after QA – bound to a new case with
//! their Transfervermerk and seal, all in one transaction.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::cases::NewCase;
use crate::error::{Result, StoreError};
use crate::vault::insert_blob_row;
use crate::{Session, audit, random_hex};

/// A scan product as listed for the QA desk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanProduct {
    pub id: String,
    pub sha256: String,
    pub name: String,
    pub mime_type: String,
    pub pages: u32,
    pub blob_id: String,
    pub received_at: String,
    pub scan_user: String,
    pub state: String,
    pub qa_user: Option<String>,
    pub vermerk_blob: Option<String>,
    pub seal: Option<String>,
    pub case_id: Option<String>,
}

const COLUMNS: &str = "id, sha256, name, mime_type, pages, blob_id, received_at, scan_user, state, qa_user, vermerk_blob, seal, case_id";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScanProduct> {
    Ok(ScanProduct {
        id: r.get(0)?,
        sha256: r.get(1)?,
        name: r.get(2)?,
        mime_type: r.get(3)?,
        pages: r.get(4)?,
        blob_id: r.get(5)?,
        received_at: r.get(6)?,
        scan_user: r.get(7)?,
        state: r.get(8)?,
        qa_user: r.get(9)?,
        vermerk_blob: r.get(10)?,
        seal: r.get(11)?,
        case_id: r.get(12)?,
    })
}

/// The QA result that turns a product into a case.
pub struct ScanApproval<'a> {
    pub product_id: &'a str,
    pub note: Option<String>,
    pub vermerk_xml: &'a str,
    pub seal_json: String,
    pub case: NewCase,
    pub case_type_code: Option<&'a str>,
}

impl Session {
    /// Take a scan product in. Ok(None) when the same content is there already (the
    /// id of that product in the error-free answer is returned by `scan_by_hash`).
    pub fn add_scan_product(
        &mut self,
        name: &str,
        mime_type: &str,
        pages: u32,
        sha256: &str,
        bytes: &[u8],
    ) -> Result<Option<String>> {
        if self.scan_by_hash(sha256)?.is_some() {
            return Ok(None);
        }
        let blob = self.write_blob_file(bytes)?;
        let id = random_hex(16);
        let now = self.now();
        let actor = self.user().username.to_string();
        let tx = self.conn.transaction()?;
        insert_blob_row(&tx, &blob, &now)?;
        tx.execute(
            &format!("INSERT INTO scan_products ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'eingelesen', NULL, NULL, NULL, NULL)"),
            params![id, sha256, name, mime_type, pages, blob.id.as_str(), now, actor],
        )?;
        audit::append(
            &tx,
            &now,
            &actor,
            "scan.eingelesen",
            &sha256[..16.min(sha256.len())],
        )?;
        tx.commit()?;
        Ok(Some(id))
    }

    pub fn scan_by_hash(&self, sha256: &str) -> Result<Option<ScanProduct>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM scan_products WHERE sha256 = ?1"),
                params![sha256],
                row,
            )
            .optional()?)
    }

    pub fn scan_product(&self, id: &str) -> Result<Option<ScanProduct>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM scan_products WHERE id = ?1"),
                params![id],
                row,
            )
            .optional()?)
    }

    /// Products in a state, oldest first.
    pub fn scan_products(&self, state: &str) -> Result<Vec<ScanProduct>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM scan_products WHERE state = ?1 ORDER BY received_at, id"
        ))?;
        let rows = stmt.query_map(params![state], row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The product of a case (for `scan verify`).
    pub fn scan_of_case(&self, case_id: &str) -> Result<Option<ScanProduct>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM scan_products WHERE case_id = ?1"),
                params![case_id],
                row,
            )
            .optional()?)
    }

    /// QA refused the product (it must be scanned again).
    pub fn reject_scan(&mut self, id: &str, note: &str) -> Result<()> {
        let now = self.now();
        let actor = self.user().username.to_string();
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE scan_products SET state = 'abgelehnt', qa_user = ?2, qa_at = ?3, qa_note = ?4 WHERE id = ?1 AND state = 'eingelesen'",
            params![id, actor, now, note],
        )?;
        if n != 1 {
            return Err(StoreError::Conflict(
                "Dieses Scanprodukt ist nicht (mehr) zur Prüfung offen.".into(),
            ));
        }
        audit::append(&tx, &now, &actor, "scan.qa.abgelehnt", id)?;
        tx.commit()?;
        Ok(())
    }

    /// QA passed: the Transfervermerk into the vault, a new case (paper channel) with
    /// the scan as its document, the seal recorded – one transaction. Returns the case id.
    pub fn approve_scan(&mut self, a: &ScanApproval<'_>) -> Result<String> {
        let product = self
            .scan_product(a.product_id)?
            .ok_or_else(|| StoreError::InvalidInput("Dieses Scanprodukt gibt es nicht.".into()))?;
        if product.state != "eingelesen" {
            return Err(StoreError::Conflict(
                "Dieses Scanprodukt ist nicht (mehr) zur Prüfung offen.".into(),
            ));
        }
        let vermerk = self.write_blob_file(a.vermerk_xml.as_bytes())?;
        let now = self.now();
        let actor = self.user().username.to_string();
        let case_id = random_hex(16);
        let tx = self.conn.transaction()?;
        insert_blob_row(&tx, &vermerk, &now)?;
        tx.execute(
            "INSERT INTO cases (id, file_number, case_type, applicant, status, received_at, created_at, case_type_code)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![case_id, a.case.file_number, a.case.case_type, a.case.applicant, a.case.status, a.case.received_at, now, a.case_type_code],
        )?;
        for (blob, kind, name, mime) in [
            (
                product.blob_id.as_str(),
                "scan",
                product.name.as_str(),
                product.mime_type.as_str(),
            ),
            (
                vermerk.id.as_str(),
                "scan",
                "Transfervermerk.xml",
                "application/xml",
            ),
        ] {
            tx.execute(
                "INSERT INTO case_documents (case_id, blob_id, kind, filename, mime_type, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![case_id, blob, kind, name, mime, now],
            )?;
        }
        tx.execute(
            "INSERT INTO case_history (case_id, at, actor, kind, to_state, detail) VALUES (?1, ?2, ?3, 'scan', 'eingegangen', ?4)",
            params![case_id, now, actor, "{\"kennzeichen\":\"TR-RESISCAN\"}"],
        )?;
        let n = tx.execute(
            "UPDATE scan_products SET state = 'geprueft', qa_user = ?2, qa_at = ?3, qa_note = ?4, vermerk_blob = ?5, seal = ?6, case_id = ?7 WHERE id = ?1 AND state = 'eingelesen'",
            params![a.product_id, actor, now, a.note, vermerk.id.as_str(), a.seal_json, case_id],
        )?;
        if n != 1 {
            return Err(StoreError::Conflict(
                "Dieses Scanprodukt wurde inzwischen bearbeitet.".into(),
            ));
        }
        audit::append(&tx, &now, &actor, "scan.qa.bestanden", &a.case.file_number)?;
        audit::append(&tx, &now, &actor, "scan.versiegelt", &a.case.file_number)?;
        tx.commit()?;
        Ok(case_id)
    }
}
