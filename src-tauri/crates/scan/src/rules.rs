//! The scanning desk's TR-RESISCAN rules that do not depend on the configuration:
//! the QA checklist (TR-03138 A.SC.8), the preparation flags of a batch, which
//! products count in a batch, the QA decision's preconditions, and the
//! Transfervermerk of an approved product built from plain facts.
//!
//! Pure: no I/O, no clock. The facade gathers the facts from the store and the
//! configuration, calls these, seals and persists.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::evidence::{Attribut, Organisation, Prozessschritt, Transfervermerk, Verfahren};

/// Why a QA decision or a batch is refused (German, for the desk).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("Unbekannter Prüfpunkt „{0}“.")]
    UnknownQaItem(String),
    #[error("Unbekanntes Kennzeichen „{0}“.")]
    UnknownFlag(String),
    #[error("Die Kennzeichen des Stapels sind beschädigt gespeichert ({0}).")]
    CorruptFlags(String),
    #[error(
        "Dieses Scanprodukt ist Seite für Seite zu prüfen: bitte alle Punkte der Prüfliste abhaken."
    )]
    ChecklistIncomplete,
    #[error(
        "Vier-Augen-Prinzip: die Qualitätssicherung macht eine andere Person als die, die gescannt hat."
    )]
    FourEyes,
}

/// One item of the QA checklist; every item is ticked for a page-by-page check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum QaItem {
    Vollstaendig,
    Reihenfolge,
    Lesbar,
    Ausrichtung,
}

impl QaItem {
    pub const ALL: [QaItem; 4] = [
        QaItem::Vollstaendig,
        QaItem::Reihenfolge,
        QaItem::Lesbar,
        QaItem::Ausrichtung,
    ];

    /// Identifier as stored and sent (`vollstaendig`, …).
    pub fn key(self) -> &'static str {
        match self {
            QaItem::Vollstaendig => "vollstaendig",
            QaItem::Reihenfolge => "reihenfolge",
            QaItem::Lesbar => "lesbar",
            QaItem::Ausrichtung => "ausrichtung",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            QaItem::Vollstaendig => "Vollständig: alle Seiten des Originals sind erfasst",
            QaItem::Reihenfolge => "Reihenfolge der Seiten stimmt",
            QaItem::Lesbar => "Lesbar: Bild und Inhalt stimmen mit dem Original überein",
            QaItem::Ausrichtung => "Ausrichtung: keine Seite verdreht oder abgeschnitten",
        }
    }

    pub fn parse(key: &str) -> Result<QaItem, RuleError> {
        QaItem::ALL
            .into_iter()
            .find(|i| i.key() == key)
            .ok_or_else(|| RuleError::UnknownQaItem(key.to_owned()))
    }
}

/// A preparation flag of a batch (noted before scanning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum BatchFlag {
    /// The original is itself a copy: keep it.
    Kopie,
    /// Suspected tampering: keep it.
    Manipulationsverdacht,
    /// The original is incomplete: the expected page count is not demanded.
    Unvollstaendig,
}

impl BatchFlag {
    pub const ALL: [BatchFlag; 3] = [
        BatchFlag::Kopie,
        BatchFlag::Manipulationsverdacht,
        BatchFlag::Unvollstaendig,
    ];

    pub fn key(self) -> &'static str {
        match self {
            BatchFlag::Kopie => "kopie",
            BatchFlag::Manipulationsverdacht => "manipulationsverdacht",
            BatchFlag::Unvollstaendig => "unvollstaendig",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            BatchFlag::Kopie => "Vorlage ist eine Kopie",
            BatchFlag::Manipulationsverdacht => "Verdacht auf Manipulation",
            BatchFlag::Unvollstaendig => "Vorlage unvollständig",
        }
    }

    /// Does this flag keep the paper original (destruction gate)?
    pub fn keeps_original(self) -> bool {
        !matches!(self, BatchFlag::Unvollstaendig)
    }

    pub fn parse(key: &str) -> Result<BatchFlag, RuleError> {
        BatchFlag::ALL
            .into_iter()
            .find(|f| f.key() == key)
            .ok_or_else(|| RuleError::UnknownFlag(key.to_owned()))
    }

    /// The flags as the store keeps them (a JSON list of keys). Corrupt text is an
    /// error, never an empty list: a lost "kopie" would release an original.
    pub fn from_json(json: &str) -> Result<Vec<BatchFlag>, RuleError> {
        let keys: Vec<String> =
            serde_json::from_str(json).map_err(|e| RuleError::CorruptFlags(e.to_string()))?;
        keys.iter()
            .map(|k| BatchFlag::parse(k).map_err(|e| RuleError::CorruptFlags(e.to_string())))
            .collect()
    }
}

/// Does a product count among its batch's pages (not refused, not split into parts)?
pub fn counts_in_batch(state: &str) -> bool {
    state != "abgelehnt" && state != "aufgeteilt"
}

/// The ticked checklist items, checked against what the product needs. Returns
/// whether every item is ticked (a page-by-page check).
pub fn check_qa(ticked: &[QaItem], full_check_required: bool) -> Result<bool, RuleError> {
    let all = QaItem::ALL.iter().all(|i| ticked.contains(i));
    if full_check_required && !all {
        return Err(RuleError::ChecklistIncomplete);
    }
    Ok(all)
}

/// Four-eyes: where the class demands it, the QA is not done by who scanned.
pub fn check_four_eyes(required: bool, scan_user: &str, qa_user: &str) -> Result<(), RuleError> {
    if required && scan_user == qa_user {
        return Err(RuleError::FourEyes);
    }
    Ok(())
}

/// The product's place in its batch: "Abbild `first` bis … von `total`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPlace {
    pub number: String,
    /// RFC 3339.
    pub created: String,
    pub first_page: u32,
    pub total_pages: u32,
}

/// The scan a product was cut out of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitFacts {
    pub parent_name: String,
    pub parent_sha256: String,
    /// When and by whom it was split (the parent's QA step).
    pub at: String,
    pub by: String,
    /// The product's first page in the whole scan.
    pub first_page: u32,
    /// The parent's note when separator sheets were removed.
    pub separators: Option<String>,
}

/// Everything the Transfervermerk of an approved product states.
#[derive(Debug, Clone)]
pub struct ApprovalFacts {
    /// RFC 3339: when the QA decision is made.
    pub now: String,
    pub desk: Organisation,
    pub verfahren: Verfahren,
    pub place: BatchPlace,
    pub flags: Vec<BatchFlag>,
    pub received_at: String,
    pub scan_user: String,
    pub mime_type: String,
    pub pages: u32,
    pub split: Option<SplitFacts>,
    pub qa_user: String,
    pub qa_note: Option<String>,
    pub ticked: Vec<QaItem>,
    pub full_check: bool,
    pub sha256: String,
    pub sha512: String,
}

fn attr(name: &str, wert: impl Into<String>) -> Attribut {
    Attribut {
        name: name.into(),
        wert: wert.into(),
        auffaelligkeit: false,
    }
}

/// The process step "Aufteilung" of a product cut out of a larger scan.
fn split_step(s: &SplitFacts, pages: u32) -> Prozessschritt {
    let mut attribute = vec![
        attr(
            "Teil von",
            format!("{} (SHA-256 {})", s.parent_name, s.parent_sha256),
        ),
        attr(
            "Seiten im Scan",
            format!(
                "{} bis {}",
                s.first_page,
                s.first_page + pages.saturating_sub(1)
            ),
        ),
    ];
    attribute.extend(s.separators.clone().map(|n| attr("Trennblätter", n)));
    Prozessschritt {
        name: "Aufteilung".into(),
        zeitpunkt: s.at.clone(),
        durchfuehrung: s.by.clone(),
        it_system: "Amtsstube".into(),
        attribute,
    }
}

/// The process step "Qualitätssicherung": result, kind of check, ticked items.
fn qa_step(f: &ApprovalFacts) -> Prozessschritt {
    let result = match f.qa_note.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => format!("bestanden ({n})"),
        _ => "bestanden".into(),
    };
    let kind = if f.full_check {
        "Sichtprüfung Seite für Seite"
    } else {
        "Indexierung (nicht in der Stichprobe)"
    };
    let mut qa = vec![attr("Ergebnis", result), attr("Prüfart", kind)];
    qa.extend(
        QaItem::ALL
            .into_iter()
            .filter(|i| f.ticked.contains(i))
            .map(|i| attr("Prüfpunkt", i.label())),
    );
    Prozessschritt {
        name: "Qualitätssicherung".into(),
        zeitpunkt: f.now.clone(),
        durchfuehrung: f.qa_user.clone(),
        it_system: "Amtsstube".into(),
        attribute: qa,
    }
}

/// The Transfervermerk of an approved product: scanning, an optional split, the
/// QA step with its result and ticked items, the batch flags as anomalies.
pub fn transfervermerk(f: &ApprovalFacts) -> Transfervermerk {
    let last = |first: u32| first + f.pages.saturating_sub(1);
    let mut schritte = vec![Prozessschritt {
        name: "Scannen".into(),
        zeitpunkt: f.received_at.clone(),
        durchfuehrung: f.scan_user.clone(),
        it_system: "Scanner (Eingangsordner)".into(),
        attribute: vec![attr("Format", f.mime_type.clone())],
    }];
    schritte.extend(f.split.as_ref().map(|s| split_step(s, f.pages)));
    schritte.push(qa_step(f));
    Transfervermerk {
        erstellt: f.now.clone(),
        auftragnehmer: f.desk.clone(),
        stapel: f.place.number.clone(),
        stapel_erstellt: f.place.created.clone(),
        verfahren: f.verfahren.clone(),
        position: format!(
            "Abbild {} bis {} von {}",
            f.place.first_page,
            last(f.place.first_page),
            f.place.total_pages
        ),
        schritte,
        seiten: f.pages,
        attribute: f
            .flags
            .iter()
            .map(|fl| Attribut {
                name: "Vorbereitung".into(),
                wert: fl.label().into(),
                auffaelligkeit: true,
            })
            .collect(),
        produkt_sha256: f.sha256.clone(),
        produkt_sha512: f.sha512.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(e: &str) -> Organisation {
        Organisation {
            name: "Gemeinde Musterhausen".into(),
            ort: "Musterhausen".into(),
            einheit: e.into(),
        }
    }

    fn facts() -> ApprovalFacts {
        ApprovalFacts {
            now: "2026-03-09T10:00:00Z".into(),
            desk: org("Scanstelle"),
            verfahren: Verfahren {
                bezeichnung: "Ersetzendes Scannen".into(),
                auspraegung: "Basismodul".into(),
                version: "1.0".into(),
                stand: "2026-01-01".into(),
                pfleger: org("IT"),
            },
            place: BatchPlace {
                number: "ST-2026-0001".into(),
                created: "2026-03-09T08:00:00Z".into(),
                first_page: 5,
                total_pages: 20,
            },
            flags: vec![BatchFlag::Kopie],
            received_at: "2026-03-09T09:00:00Z".into(),
            scan_user: "scan1".into(),
            mime_type: "image/tiff".into(),
            pages: 3,
            split: Some(SplitFacts {
                parent_name: "stapel.tif".into(),
                parent_sha256: "ab".repeat(32),
                at: "2026-03-09T09:30:00Z".into(),
                by: "scan2".into(),
                first_page: 4,
                separators: Some("Trennblätter auf Seite 3 entfernt".into()),
            }),
            qa_user: "scan2".into(),
            qa_note: Some("  Ecke geknickt ".into()),
            ticked: vec![QaItem::Lesbar, QaItem::Vollstaendig],
            full_check: false,
            sha256: "00".repeat(32),
            sha512: "11".repeat(64),
        }
    }

    #[test]
    fn transfervermerk_states_place_steps_and_anomalies() {
        let v = transfervermerk(&facts());
        assert_eq!(v.position, "Abbild 5 bis 7 von 20");
        let names: Vec<&str> = v.schritte.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Scannen", "Aufteilung", "Qualitätssicherung"]);
        let split = &v.schritte[1].attribute;
        assert_eq!(split[1].wert, "4 bis 6");
        assert_eq!(split[2].name, "Trennblätter");
        let qa = &v.schritte[2].attribute;
        assert_eq!(qa[0].wert, "bestanden (Ecke geknickt)");
        assert_eq!(qa[1].wert, "Indexierung (nicht in der Stichprobe)");
        // Ticked items in checklist order, whatever order they were ticked in.
        assert_eq!(qa[2].wert, QaItem::Vollstaendig.label());
        assert_eq!(qa[3].wert, QaItem::Lesbar.label());
        assert_eq!(v.attribute.len(), 1);
        assert!(v.attribute[0].auffaelligkeit);
        assert_eq!(v.attribute[0].wert, "Vorlage ist eine Kopie");
    }

    #[test]
    fn transfervermerk_without_split_or_note() {
        let mut f = facts();
        f.split = None;
        f.qa_note = Some("   ".into());
        f.flags.clear();
        let v = transfervermerk(&f);
        assert_eq!(v.schritte.len(), 2);
        assert_eq!(v.schritte[1].attribute[0].wert, "bestanden");
        assert!(v.attribute.is_empty());
    }

    #[test]
    fn keys_serialise_as_stored() {
        for f in BatchFlag::ALL {
            assert_eq!(
                serde_json::to_string(&f).unwrap(),
                format!("\"{}\"", f.key())
            );
        }
        for i in QaItem::ALL {
            assert_eq!(
                serde_json::to_string(&i).unwrap(),
                format!("\"{}\"", i.key())
            );
        }
    }

    #[test]
    fn qa_checklist_rules() {
        let all = QaItem::ALL;
        assert_eq!(check_qa(&all, true), Ok(true));
        assert_eq!(check_qa(&all[..2], false), Ok(false));
        assert_eq!(
            check_qa(&all[..3], true),
            Err(RuleError::ChecklistIncomplete)
        );
        assert_eq!(
            QaItem::parse("schief"),
            Err(RuleError::UnknownQaItem("schief".into()))
        );
        assert_eq!(check_four_eyes(true, "a", "a"), Err(RuleError::FourEyes));
        assert_eq!(check_four_eyes(true, "a", "b"), Ok(()));
        assert_eq!(check_four_eyes(false, "a", "a"), Ok(()));
    }

    #[test]
    fn batch_flags_round_trip_and_corruption_is_an_error() {
        let flags = vec![BatchFlag::Kopie, BatchFlag::Unvollstaendig];
        // As the store writes them: a JSON list of the keys.
        let json = serde_json::to_string(&flags).unwrap();
        assert_eq!(json, r#"["kopie","unvollstaendig"]"#);
        assert_eq!(BatchFlag::from_json(&json), Ok(flags));
        assert_eq!(BatchFlag::from_json("[]"), Ok(vec![]));
        assert!(matches!(
            BatchFlag::from_json("[\"kopie\""),
            Err(RuleError::CorruptFlags(_))
        ));
        assert!(matches!(
            BatchFlag::from_json("[\"gelb\"]"),
            Err(RuleError::CorruptFlags(_))
        ));
        assert!(BatchFlag::Kopie.keeps_original());
        assert!(!BatchFlag::Unvollstaendig.keeps_original());
    }
}
