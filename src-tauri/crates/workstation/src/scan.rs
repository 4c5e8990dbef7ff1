//! The scanning desk in the facade (role Scanstelle): intake from the hot folder into
//! the vault, the QA decision (four-eyes: not by the person who scanned), the
//! Transfervermerk and the seal, the new case (paper channel, flagged TR-RESISCAN),
//! and `verify`, which re-checks hash, seal and Transfervermerk of a case's scan.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use domain::Permission;
use scan::evidence::{
    Attribut, Organisation, Prozessschritt, Seal, SoftwareSeal, Transfervermerk, Verfahren,
};
use scan::{Config, HotFolder, Outcome, Taken};
use serde::Serialize;
use ts_rs::TS;

use crate::{AppError, ErrorCode, Workstation};

const SEAL_SETTING: &str = "scan_siegel";
const SEAL_PUBLIC_SETTING: &str = "scan_siegel_public";

/// What one intake run did with a file.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct IntakeResult {
    pub name: String,
    /// eingelesen / fehler / wartet
    pub result: String,
    pub detail: String,
}

fn storage(msg: impl Into<String>) -> AppError {
    AppError::new(ErrorCode::Storage, msg)
}

fn seal_json(s: &Seal) -> String {
    serde_json::json!({
        "algorithm": s.algorithm,
        "keyId": s.key_id,
        "productSha256": s.product_sha256,
        "vermerkSha256": s.vermerk_sha256,
        "signature": s.signature,
    })
    .to_string()
}

fn seal_from(json: &str) -> Option<Seal> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let f = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    Some(Seal {
        algorithm: f("algorithm")?,
        key_id: f("keyId")?,
        product_sha256: f("productSha256")?,
        vermerk_sha256: f("vermerkSha256")?,
        signature: f("signature")?,
    })
}

impl Workstation {
    /// Take what is stable in the hot folder, for up to `wait` (files still being
    /// written are waited for; what cannot be taken goes to `fehler/` with a reason).
    pub fn scan_intake(
        &mut self,
        dir: &Path,
        stable_for: Duration,
        wait: Duration,
    ) -> Result<Vec<IntakeResult>, AppError> {
        let session = self.session_with_mut(Permission::ScanIntake)?;
        let mut hot = HotFolder::new(
            dir,
            Config {
                stable_for,
                ..Config::default()
            },
        )
        .map_err(|e| AppError::invalid(format!("Eingangsordner {}: {e}", dir.display())))?;
        let until = Instant::now() + wait;
        let mut results = Vec::new();
        loop {
            let outcomes = hot
                .scan(|a| {
                    match session.add_scan_product(
                        &a.name,
                        a.inspection.format.mime(),
                        a.inspection.pages,
                        &a.sha256,
                        a.bytes,
                    ) {
                        Ok(Some(_)) => Ok(Taken::Stored),
                        Ok(None) => Ok(Taken::Duplicate(a.sha256[..12].to_owned())),
                        Err(e) => Err(e.to_string()),
                    }
                })
                .map_err(|e| AppError::invalid(format!("Eingangsordner {}: {e}", dir.display())))?;
            for o in outcomes {
                results.push(match o {
                    Outcome::Stored { name, pages } => IntakeResult {
                        name,
                        result: "eingelesen".into(),
                        detail: format!("{pages} Seite(n)"),
                    },
                    Outcome::Failed { name, reason } => IntakeResult {
                        name,
                        result: "fehler".into(),
                        detail: reason,
                    },
                    Outcome::Retrying { .. } => continue,
                });
            }
            if hot.waiting() == 0 || Instant::now() >= until {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(results)
    }

    /// Scan products waiting for QA.
    pub fn scan_queue(&self) -> Result<Vec<store::ScanProduct>, AppError> {
        Ok(self
            .session_with(Permission::ScanIntake)?
            .scan_products("eingelesen")?)
    }

    fn seal_key(&mut self) -> Result<SoftwareSeal, AppError> {
        let session = self.session_with_mut(Permission::ScanIntake)?;
        if let Some(pem) = session.setting(SEAL_SETTING)? {
            return SoftwareSeal::from_pem(pem.as_bytes()).map_err(|e| storage(e.to_string()));
        }
        let key = SoftwareSeal::generate().map_err(|e| storage(e.to_string()))?;
        let private = key.private_pem().map_err(|e| storage(e.to_string()))?;
        let public = key.public_pem().map_err(|e| storage(e.to_string()))?;
        session.set_setting(SEAL_SETTING, &String::from_utf8_lossy(&private))?;
        session.set_setting(SEAL_PUBLIC_SETTING, &String::from_utf8_lossy(&public))?;
        session.audit("scan.siegelschluessel.erzeugt", "-")?;
        Ok(key)
    }

    /// QA passed: Transfervermerk, seal and a new case of `kuerzel` for `applicant`.
    /// Four-eyes: the person who scanned may not approve. Returns the Aktenzeichen.
    pub fn scan_approve(
        &mut self,
        id: &str,
        kuerzel: &str,
        applicant: &str,
        note: Option<String>,
    ) -> Result<String, AppError> {
        if applicant.trim().is_empty() {
            return Err(AppError::invalid(
                "Bitte die antragstellende Person angeben.",
            ));
        }
        let cfg = self.casework_config()?;
        let t = cfg
            .types
            .vorgangsart
            .iter()
            .find(|t| t.kuerzel == kuerzel)
            .cloned()
            .ok_or_else(|| {
                AppError::invalid(format!("Die Vorgangsart „{kuerzel}“ gibt es nicht."))
            })?;
        let (town, _) = crate::casework_config::load_town(self.data_dir(), &cfg)?;
        let key = self.seal_key()?;
        let session = self.session_with_mut(Permission::ScanIntake)?;
        let me = session.user().username.to_string();
        let product = session.scan_product(id)?.ok_or_else(|| {
            AppError::new(ErrorCode::NotFound, "Dieses Scanprodukt gibt es nicht.")
        })?;
        if product.scan_user == me {
            return Err(AppError::new(
                ErrorCode::Forbidden,
                "Vier-Augen-Prinzip: die Qualitätssicherung macht eine andere Person als die, die gescannt hat.",
            ));
        }
        let mut bytes = Vec::new();
        session
            .open_blob(&store::BlobId::parse(&product.blob_id)?)?
            .read_to_end(&mut bytes)
            .map_err(|e| storage(format!("Scanprodukt nicht lesbar: {e}")))?;
        let now = jiff::Zoned::now();
        let n = session.next_counter(&format!("az-{}-{}", t.kuerzel, now.year()))?;
        let file_number = domain::casetype::file_number(
            &cfg.types.aktenzeichen,
            &t.kuerzel,
            now.year(),
            cfg.types.arbeitsplatz,
            n,
        );
        let (sha256, sha512) = Transfervermerk::hashes(&bytes);
        let stelle = Organisation {
            name: town.behoerde.clone(),
            ort: town.sitz.clone(),
            einheit: "Scanstelle".into(),
        };
        let vermerk = Transfervermerk {
            erstellt: now.timestamp().to_string(),
            auftragnehmer: stelle.clone(),
            stapel: format!("ST-{}", &product.id[..8]),
            stapel_erstellt: product.received_at.clone(),
            verfahren: Verfahren {
                bezeichnung: "Posteingang".into(),
                auspraegung: "Standard".into(),
                version: "1.0".into(),
                stand: "2026-11-01".into(),
                pfleger: stelle,
            },
            position: format!("Abbild 1 bis {0} von {0}", product.pages),
            schritte: vec![
                Prozessschritt {
                    name: "Scannen".into(),
                    zeitpunkt: product.received_at.clone(),
                    durchfuehrung: product.scan_user.clone(),
                    it_system: "Scanner (Eingangsordner)".into(),
                    attribute: vec![Attribut {
                        name: "Format".into(),
                        wert: product.mime_type.clone(),
                        auffaelligkeit: false,
                    }],
                },
                Prozessschritt {
                    name: "Qualitätssicherung".into(),
                    zeitpunkt: now.timestamp().to_string(),
                    durchfuehrung: me.clone(),
                    it_system: "Amtsstube".into(),
                    attribute: vec![Attribut {
                        name: "Ergebnis".into(),
                        wert: match &note {
                            Some(n) if !n.trim().is_empty() => format!("bestanden ({n})"),
                            _ => "bestanden".into(),
                        },
                        auffaelligkeit: false,
                    }],
                },
            ],
            seiten: product.pages,
            attribute: vec![],
            produkt_sha256: sha256,
            produkt_sha512: sha512,
        };
        let xml = vermerk.to_xml();
        let seal = scan::evidence::seal(&key, &bytes, &xml).map_err(|e| storage(e.to_string()))?;
        session.approve_scan(&store::ScanApproval {
            product_id: id,
            note,
            vermerk_xml: &xml,
            seal_json: seal_json(&seal),
            case: store::NewCase {
                file_number: file_number.clone(),
                case_type: t.name.clone(),
                applicant: applicant.trim().to_owned(),
                status: "eingegangen".into(),
                received_at: product.received_at.clone(),
            },
            case_type_code: Some(&t.kuerzel),
        })?;
        Ok(file_number)
    }

    /// QA refused: the product must be scanned again.
    pub fn scan_reject(&mut self, id: &str, reason: &str) -> Result<(), AppError> {
        if reason.trim().is_empty() {
            return Err(AppError::invalid("Bitte den Grund der Ablehnung angeben."));
        }
        Ok(self
            .session_with_mut(Permission::ScanIntake)?
            .reject_scan(id, reason.trim())?)
    }

    /// Re-check hash, seal and Transfervermerk of the scan behind an Aktenzeichen.
    /// Ok with a summary, or an error naming what was tampered with.
    pub fn scan_verify(&self, file_number: &str) -> Result<String, AppError> {
        let session = self.session_with(Permission::ScanIntake)?;
        let case = session.case_by_file_number(file_number)?.ok_or_else(|| {
            AppError::new(
                ErrorCode::NotFound,
                format!("Einen Vorgang {file_number} gibt es nicht."),
            )
        })?;
        let product = session.scan_of_case(&case.id)?.ok_or_else(|| {
            AppError::new(
                ErrorCode::NotFound,
                "Zu diesem Vorgang gibt es kein Scanprodukt.",
            )
        })?;
        let read = |blob: &str| -> Result<Vec<u8>, AppError> {
            let mut out = Vec::new();
            session
                .open_blob(&store::BlobId::parse(blob)?)?
                .read_to_end(&mut out)
                .map_err(|e| storage(format!("Tresor nicht lesbar: {e}")))?;
            Ok(out)
        };
        let bytes = read(&product.blob_id)?;
        let vermerk = read(
            product
                .vermerk_blob
                .as_deref()
                .ok_or_else(|| storage("Transfervermerk fehlt."))?,
        )?;
        let seal = product
            .seal
            .as_deref()
            .and_then(seal_from)
            .ok_or_else(|| storage("Siegel fehlt oder ist unlesbar."))?;
        let public = session
            .setting(SEAL_PUBLIC_SETTING)?
            .ok_or_else(|| storage("Der öffentliche Siegelschlüssel fehlt."))?;
        scan::evidence::verify(
            &bytes,
            &String::from_utf8_lossy(&vermerk),
            &seal,
            public.as_bytes(),
        )
        .map_err(|t| AppError::new(ErrorCode::Storage, format!("{file_number}: {t}")))?;
        Ok(format!(
            "{file_number}: Scanprodukt ({} Seiten), Transfervermerk und Siegel ({}, Schlüssel {}) sind unversehrt.",
            product.pages, seal.algorithm, seal.key_id
        ))
    }
}
