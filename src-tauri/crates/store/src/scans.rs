//! Scan products of the scanning desk: taken in (image data into the vault, refused
//! by content when already there), checked, and – after QA – bound to a new case with
//! their Transfervermerk and seal, all in one transaction.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::cases::NewCase;
use crate::error::{Result, StoreError};
use crate::vault::{Content, insert_blob_row};
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
    pub batch_id: Option<String>,
    /// JSON of the ticked QA checklist items.
    pub qa_checklist: Option<String>,
    /// The page-by-page visual check was done (not only indexing).
    pub qa_full: bool,
    pub qa_at: Option<String>,
    /// Cut out of this scan (split by hand), starting at `first_page` of it.
    pub parent_id: Option<String>,
    pub first_page: Option<u32>,
    /// The QA desk's note (reason of a refusal, what a split removed).
    pub qa_note: Option<String>,
    /// SHA-512 (hex) taken at intake with the SHA-256; none for products taken in
    /// by an older version.
    pub sha512: Option<String>,
}

const COLUMNS: &str = "id, sha256, name, mime_type, pages, blob_id, received_at, scan_user, state, qa_user, vermerk_blob, seal, case_id, batch_id, qa_checklist, qa_full, qa_at, parent_id, first_page, qa_note, sha512";

/// Products in the order they were scanned: the parts of a split scan at its place.
const SCAN_ORDER: &str = "ORDER BY received_at, coalesce(first_page, 0), id";

/// One document cut out of a scan.
pub struct ScanPart<'a> {
    pub name: String,
    pub first_page: u32,
    pub pages: u32,
    pub sha256: String,
    pub bytes: &'a [u8],
}

/// A batch (Stapel) of paper scanned together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanBatch {
    pub id: String,
    pub number: String,
    pub class: String,
    pub r#box: String,
    pub expected_pages: u32,
    /// JSON list of the preparation flags.
    pub flags: String,
    pub created_by: String,
    pub created_at: String,
    pub state: String,
    pub released_by: Option<String>,
    pub released_at: Option<String>,
    pub destroyed_by: Option<String>,
    pub destroyed_at: Option<String>,
    pub destroyed_how: Option<String>,
    /// Pages taken in (refused products not counted).
    pub pages_captured: u32,
    pub products: u32,
    pub products_checked: u32,
}

const BATCH_COLUMNS: &str = "b.id, b.number, b.class, b.box, b.expected_pages, b.flags, b.created_by, b.created_at, b.state, b.released_by, b.released_at, b.destroyed_by, b.destroyed_at, b.destroyed_how,
    (SELECT COALESCE(SUM(p.pages), 0) FROM scan_products p WHERE p.batch_id = b.id AND p.state NOT IN ('abgelehnt', 'aufgeteilt')),
    (SELECT COUNT(*) FROM scan_products p WHERE p.batch_id = b.id AND p.state NOT IN ('abgelehnt', 'aufgeteilt')),
    (SELECT COUNT(*) FROM scan_products p WHERE p.batch_id = b.id AND p.state = 'geprueft')";

fn batch_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScanBatch> {
    Ok(ScanBatch {
        id: r.get(0)?,
        number: r.get(1)?,
        class: r.get(2)?,
        r#box: r.get(3)?,
        expected_pages: r.get(4)?,
        flags: r.get(5)?,
        created_by: r.get(6)?,
        created_at: r.get(7)?,
        state: r.get(8)?,
        released_by: r.get(9)?,
        released_at: r.get(10)?,
        destroyed_by: r.get(11)?,
        destroyed_at: r.get(12)?,
        destroyed_how: r.get(13)?,
        pages_captured: r.get(14)?,
        products: r.get(15)?,
        products_checked: r.get(16)?,
    })
}

/// A new batch as the scanning desk prepares it.
pub struct NewBatch<'a> {
    pub class: &'a str,
    pub r#box: &'a str,
    pub expected_pages: u32,
    pub flags: &'a [String],
}

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
        batch_id: r.get(13)?,
        qa_checklist: r.get(14)?,
        qa_full: r.get::<_, i64>(15)? != 0,
        qa_at: r.get(16)?,
        parent_id: r.get(17)?,
        first_page: r.get(18)?,
        qa_note: r.get(19)?,
        sha512: r.get(20)?,
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
    /// JSON of the ticked checklist items.
    pub checklist_json: String,
    /// The page-by-page check was done.
    pub full_check: bool,
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
        source: impl std::io::Read,
        batch_id: Option<&str>,
    ) -> Result<Option<String>> {
        if self.scan_by_hash(sha256)?.is_some() {
            return Ok(None);
        }
        // Streamed into the vault; what was stored must be what was checked.
        let (blob, sha512) = self.write_content_file(Content::Scan, source, true)?;
        if blob.sha256 != sha256 {
            self.discard_blob_file(&blob);
            return Err(StoreError::Conflict(
                "Die Datei hat sich beim Einlesen geändert; sie wird erneut gelesen.".into(),
            ));
        }
        let id = random_hex(16);
        let now = self.now();
        let actor = self.user().username.to_string();
        let tx = self.conn.transaction()?;
        insert_blob_row(&tx, &blob, &now)?;
        tx.execute(
            "INSERT INTO scan_products (id, sha256, name, mime_type, pages, blob_id, received_at, scan_user, state, batch_id, sha512) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'eingelesen', ?9, ?10)",
            params![id, sha256, name, mime_type, pages, blob.id.as_str(), now, actor, batch_id, sha512],
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

    /// Make a product look as if a version before the intake's SHA-512 took it in
    /// (tests of the way such products are sealed).
    #[doc(hidden)]
    pub fn forget_intake_sha512(&mut self, id: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE scan_products SET sha512 = NULL WHERE id = ?1",
            params![id],
        )?;
        Ok(())
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
            "SELECT {COLUMNS} FROM scan_products WHERE state = ?1 {SCAN_ORDER}"
        ))?;
        let rows = stmt.query_map(params![state], row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The product of a case (for `scan verify`).
    /// The approved product that became the case with this Aktenzeichen (no case
    /// row needed: the Scanstelle of a split store checks it this way).
    pub fn scan_by_file_number(&self, file_number: &str) -> Result<Option<ScanProduct>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM scan_products WHERE file_number = ?1 AND state = 'geprueft'"),
                params![file_number],
                row,
            )
            .optional()?)
    }

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

    /// Split a product still open for QA into the given parts (each a new product in
    /// the same batch, at the parent's place); the parent leaves the queue as
    /// 'aufgeteilt' and keeps its image data. One transaction; returns the parts' ids.
    pub fn split_scan(
        &mut self,
        parent_id: &str,
        parts: &[ScanPart<'_>],
        note: Option<&str>,
    ) -> Result<Vec<String>> {
        let parent = self
            .scan_product(parent_id)?
            .ok_or_else(|| StoreError::InvalidInput("Dieses Scanprodukt gibt es nicht.".into()))?;
        if parent.state != "eingelesen" {
            return Err(StoreError::Conflict(
                "Dieses Scanprodukt ist nicht (mehr) zur Prüfung offen.".into(),
            ));
        }
        for p in parts {
            if self.scan_by_hash(&p.sha256)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "Der Teil ab Seite {} liegt schon als eigenes Scanprodukt vor.",
                    p.first_page
                )));
            }
        }
        let mut blobs = Vec::with_capacity(parts.len());
        for p in parts {
            let (blob, sha512) = self.write_content_file(Content::Scan, p.bytes, true)?;
            if blob.sha256 != p.sha256 {
                self.discard_blob_file(&blob);
                for (b, _) in &blobs {
                    self.discard_blob_file(b);
                }
                return Err(StoreError::Conflict(format!(
                    "Der Teil ab Seite {} wurde anders gespeichert als geprüft.",
                    p.first_page
                )));
            }
            blobs.push((blob, sha512));
        }
        let now = self.now();
        let actor = self.user().username.to_string();
        let tx = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(parts.len());
        for (p, (blob, sha512)) in parts.iter().zip(&blobs) {
            insert_blob_row(&tx, blob, &now)?;
            let id = random_hex(16);
            tx.execute(
                "INSERT INTO scan_products (id, sha256, name, mime_type, pages, blob_id, received_at, scan_user, state, batch_id, parent_id, first_page, sha512) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'eingelesen', ?9, ?10, ?11, ?12)",
                params![
                    id,
                    p.sha256,
                    p.name,
                    parent.mime_type,
                    p.pages,
                    blob.id.as_str(),
                    parent.received_at,
                    parent.scan_user,
                    parent.batch_id,
                    parent.id,
                    p.first_page,
                    sha512
                ],
            )?;
            ids.push(id);
        }
        let n = tx.execute(
            "UPDATE scan_products SET state = 'aufgeteilt', qa_user = ?2, qa_at = ?3, qa_note = ?4 WHERE id = ?1 AND state = 'eingelesen'",
            params![
                parent.id,
                actor,
                now,
                note.map_or_else(|| format!("aufgeteilt in {} Dokumente", parts.len()), str::to_owned)
            ],
        )?;
        if n != 1 {
            return Err(StoreError::Conflict(
                "Dieses Scanprodukt ist nicht (mehr) zur Prüfung offen.".into(),
            ));
        }
        audit::append(
            &tx,
            &now,
            &actor,
            "scan.aufgeteilt",
            &parent.sha256[..16.min(parent.sha256.len())],
        )?;
        tx.commit()?;
        Ok(ids)
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
        let (vermerk, _) =
            self.write_content_file(Content::Scan, a.vermerk_xml.as_bytes(), false)?;
        let now = self.now();
        let actor = self.user().username.to_string();
        let case_id = random_hex(16);
        let facts = ScanCase {
            file_number: a.case.file_number.clone(),
            case_type: a.case.case_type.clone(),
            applicant: a.case.applicant.clone(),
            status: a.case.status.clone(),
            received_at: a.case.received_at.clone(),
            case_type_code: a.case_type_code.map(str::to_owned),
            product_blob: product.blob_id.clone(),
            product_name: product.name.clone(),
            product_mime: product.mime_type.clone(),
            vermerk_blob: vermerk.id.as_str().to_owned(),
            actor: actor.clone(),
            at: now.clone(),
        };
        // In a store split per role the case waits sealed to the case key until a
        // holder takes it in – at once when this session holds it: the scan's side
        // and the case's side live in two files, and this way a crash between them
        // leaves the case waiting, never a scan approved without its case.
        let split = crate::inhalt::is_split(&self.conn)?;
        let handover = if !split {
            None
        } else {
            let recipient = self
                .vault
                .recipients
                .get(&crate::keyring::KeyKind::Fall)
                .cloned()
                .ok_or_else(|| StoreError::Corrupt("Öffentlicher Fallschlüssel fehlt".into()))?;
            let json =
                serde_json::to_vec(&facts).map_err(|e| StoreError::Database(e.to_string()))?;
            Some(crate::keys::encrypt_secret(&json, &recipient)?)
        };
        let tx = self.conn.transaction()?;
        insert_blob_row(&tx, &vermerk, &now)?;
        match &handover {
            None => insert_scan_case(&tx, &case_id, &facts)?,
            Some(sealed) => {
                tx.execute(
                    "INSERT INTO scan_handover (case_id, product_id, sealed, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![case_id, a.product_id, sealed, now],
                )?;
            }
        }
        let n = tx.execute(
            "UPDATE scan_products SET state = 'geprueft', qa_user = ?2, qa_at = ?3, qa_note = ?4, vermerk_blob = ?5, seal = ?6, case_id = ?7, qa_checklist = ?8, qa_full = ?9, file_number = ?10 WHERE id = ?1 AND state = 'eingelesen'",
            params![a.product_id, actor, now, a.note, vermerk.id.as_str(), a.seal_json, case_id, a.checklist_json, i64::from(a.full_check), a.case.file_number],
        )?;
        if n != 1 {
            return Err(StoreError::Conflict(
                "Dieses Scanprodukt wurde inzwischen bearbeitet.".into(),
            ));
        }
        audit::append(&tx, &now, &actor, "scan.qa.bestanden", &a.case.file_number)?;
        audit::append(&tx, &now, &actor, "scan.versiegelt", &a.case.file_number)?;
        tx.commit()?;
        if split {
            self.take_in_scans()?;
        }
        Ok(case_id)
    }

    /// Take in the cases the Scanstelle approved without the case key (see
    /// [`Session::approve_scan`]): each in a transaction of the case content, then
    /// its waiting row removed – a crash between the two finds the case there and
    /// only removes the row. Returns how many were taken in; 0 without the case key.
    pub fn take_in_scans(&mut self) -> Result<usize> {
        let Some(fall) = self
            .vault
            .identities
            .get(&crate::keyring::KeyKind::Fall)
            .cloned()
        else {
            return Ok(0);
        };
        let waiting: Vec<(String, Vec<u8>)> = {
            let mut stmt = self.conn.prepare(
                "SELECT case_id, sealed FROM scan_handover ORDER BY created_at, case_id",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut taken = 0;
        for (case_id, sealed) in waiting {
            let facts: ScanCase =
                match crate::keys::decrypt_secret(&sealed, &fall).and_then(|plain| {
                    serde_json::from_slice(&plain)
                        .map_err(|e| StoreError::Corrupt(format!("Übergabe der Scanstelle: {e}")))
                }) {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::error!("Übergabe der Scanstelle {case_id} unlesbar: {e}");
                        continue;
                    }
                };
            let tx = self.conn.transaction()?;
            let known: bool = tx
                .prepare("SELECT 1 FROM cases WHERE id = ?1")?
                .exists(params![case_id])?;
            if !known {
                insert_scan_case(&tx, &case_id, &facts)?;
            }
            tx.commit()?;
            self.conn.execute(
                "DELETE FROM scan_handover WHERE case_id = ?1",
                params![case_id],
            )?;
            taken += 1;
        }
        Ok(taken)
    }
}

/// What a scan's approval makes of it: the facts of the new case.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ScanCase {
    file_number: String,
    case_type: String,
    applicant: String,
    status: String,
    received_at: String,
    case_type_code: Option<String>,
    product_blob: String,
    product_name: String,
    product_mime: String,
    vermerk_blob: String,
    actor: String,
    at: String,
}

/// The case of an approved scan: its row, the scan and its Transfervermerk as
/// documents, the history entry marked TR-RESISCAN.
fn insert_scan_case(tx: &rusqlite::Connection, case_id: &str, f: &ScanCase) -> Result<()> {
    tx.execute(
        "INSERT INTO cases (id, file_number, case_type, applicant, status, received_at, created_at, case_type_code)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![case_id, f.file_number, f.case_type, f.applicant, f.status, f.received_at, f.at, f.case_type_code],
    )?;
    for (blob, name, mime) in [
        (
            f.product_blob.as_str(),
            f.product_name.as_str(),
            f.product_mime.as_str(),
        ),
        (
            f.vermerk_blob.as_str(),
            "Transfervermerk.xml",
            "application/xml",
        ),
    ] {
        tx.execute(
            "INSERT INTO case_documents (case_id, blob_id, kind, filename, mime_type, created_at) VALUES (?1, ?2, 'scan', ?3, ?4, ?5)",
            params![case_id, blob, name, mime, f.at],
        )?;
    }
    tx.execute(
        "INSERT INTO case_history (case_id, at, actor, kind, to_state, detail) VALUES (?1, ?2, ?3, 'scan', 'eingegangen', ?4)",
        params![case_id, f.at, f.actor, "{\"kennzeichen\":\"TR-RESISCAN\"}"],
    )?;
    Ok(())
}

impl Session {
    /// Prepare a batch; it takes the products the same person scans next.
    pub fn create_scan_batch(&mut self, b: &NewBatch<'_>) -> Result<ScanBatch> {
        if b.expected_pages == 0 {
            return Err(StoreError::InvalidInput(
                "Bitte die erwartete Seitenzahl des Stapels angeben.".into(),
            ));
        }
        let now = self.now();
        let actor = self.user().username.to_string();
        let year = now.get(..4).unwrap_or("0000").to_owned();
        let id = random_hex(16);
        let flags =
            serde_json::to_string(b.flags).map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        let tx = self.conn.transaction()?;
        let n: i64 = tx.query_row(
            "SELECT COUNT(*) FROM scan_batches WHERE number LIKE ?1",
            params![format!("ST-{year}-%")],
            |r| r.get(0),
        )?;
        let number = format!("ST-{year}-{:04}", n + 1);
        tx.execute(
            "INSERT INTO scan_batches (id, number, class, box, expected_pages, flags, created_by, created_at, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'offen')",
            params![id, number, b.class, b.r#box, b.expected_pages, flags, actor, now],
        )?;
        audit::append(&tx, &now, &actor, "scan.stapel.angelegt", &number)?;
        tx.commit()?;
        self.scan_batch(&id)?
            .ok_or_else(|| StoreError::Conflict("Der Stapel ist verschwunden.".into()))
    }

    pub fn scan_batch(&self, id: &str) -> Result<Option<ScanBatch>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {BATCH_COLUMNS} FROM scan_batches b WHERE b.id = ?1"),
                params![id],
                batch_row,
            )
            .optional()?)
    }

    /// All batches, newest first.
    pub fn scan_batches(&self) -> Result<Vec<ScanBatch>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {BATCH_COLUMNS} FROM scan_batches b ORDER BY b.created_at DESC, b.number DESC"
        ))?;
        let rows = stmt.query_map([], batch_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The batch this person scans into: the newest open one they prepared.
    pub fn open_scan_batch(&self) -> Result<Option<ScanBatch>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {BATCH_COLUMNS} FROM scan_batches b WHERE b.state = 'offen' AND b.created_by = ?1 ORDER BY b.created_at DESC LIMIT 1"),
                params![self.user().username.as_str()],
                batch_row,
            )
            .optional()?)
    }

    /// The products of a batch in the order they were taken in.
    pub fn scan_products_of_batch(&self, batch_id: &str) -> Result<Vec<ScanProduct>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM scan_products WHERE batch_id = ?1 {SCAN_ORDER}"
        ))?;
        let rows = stmt.query_map(params![batch_id], row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Move a batch on: `offen → geschlossen` (no more intake), `geschlossen →
    /// freigegeben` (paper released for destruction; the caller checked the gate),
    /// `freigegeben → vernichtet` (with how it was destroyed).
    pub fn advance_scan_batch(&mut self, id: &str, to: &str, how: Option<&str>) -> Result<()> {
        let now = self.now();
        let actor = self.user().username.to_string();
        let (from, sql, event) = match to {
            "geschlossen" => (
                "offen",
                "UPDATE scan_batches SET state = 'geschlossen' WHERE id = ?1 AND state = ?2",
                "scan.stapel.geschlossen",
            ),
            "freigegeben" => (
                "geschlossen",
                "UPDATE scan_batches SET state = 'freigegeben', released_by = ?3, released_at = ?4 WHERE id = ?1 AND state = ?2",
                "original.release_for_destruction",
            ),
            "vernichtet" => (
                "freigegeben",
                "UPDATE scan_batches SET state = 'vernichtet', destroyed_by = ?3, destroyed_at = ?4, destroyed_how = ?5 WHERE id = ?1 AND state = ?2",
                "original.destroyed",
            ),
            other => {
                return Err(StoreError::InvalidInput(format!(
                    "Unbekannter Stapelzustand {other}."
                )));
            }
        };
        let tx = self.conn.transaction()?;
        let number: Option<String> = tx
            .query_row(
                "SELECT number FROM scan_batches WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        let number = number
            .ok_or_else(|| StoreError::InvalidInput("Diesen Stapel gibt es nicht.".into()))?;
        let n = match to {
            "geschlossen" => tx.execute(sql, params![id, from])?,
            "freigegeben" => tx.execute(sql, params![id, from, actor, now])?,
            _ => tx.execute(sql, params![id, from, actor, now, how.unwrap_or("")])?,
        };
        if n != 1 {
            return Err(StoreError::Conflict(format!(
                "Der Stapel {number} ist nicht im Zustand „{from}“."
            )));
        }
        audit::append(&tx, &now, &actor, event, &number)?;
        tx.commit()?;
        Ok(())
    }
}

impl Session {
    /// The next checked product whose text has not been recognised yet, oldest first.
    pub fn scan_ocr_next(&self) -> Result<Option<ScanProduct>> {
        // The text joins the case's search index: only where case content is kept.
        if !self.may_store_cases()? {
            return Ok(None);
        }
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM scan_products WHERE state = 'geprueft' AND ocr_done = 0 AND case_id IS NOT NULL ORDER BY qa_at, id LIMIT 1"),
                [],
                row,
            )
            .optional()?)
    }

    /// Recognition of a product is over: its text (if any) joins the case's
    /// full-text search. Without text (recognition failed) it is not tried again.
    pub fn scan_ocr_done(&mut self, product_id: &str, text: Option<&str>) -> Result<()> {
        let now = self.now();
        let actor = self.user().username.to_string();
        let tx = self.conn.transaction()?;
        let case_id: Option<String> = tx
            .query_row(
                "SELECT case_id FROM scan_products WHERE id = ?1 AND ocr_done = 0",
                params![product_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let Some(case_id) = case_id else {
            return Ok(());
        };
        tx.execute(
            "UPDATE scan_products SET ocr_done = 1 WHERE id = ?1",
            params![product_id],
        )?;
        match text.filter(|t| !t.trim().is_empty()) {
            Some(t) => {
                Session::index_content(&tx, &case_id, t)?;
                audit::append(&tx, &now, &actor, "ocr.run", product_id)?;
            }
            None => audit::append(&tx, &now, &actor, "error.ocr", product_id)?,
        }
        tx.commit()?;
        Ok(())
    }
}
