//! Drafts of the letter types, filled from a case. A draft is a list of text blocks –
//! the editable ones (tenor, reasons, missing documents, …) the clerk may change before
//! sending; the fixed ones (Rechtsbehelfsbelehrung, payment request) come from the
//! configuration and the fee computation – plus the fee section. [`render`] turns a
//! (possibly edited) draft into the PDF.

use domain::fees::{FeeLine, format_euro};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::LetterError;
use crate::layout::{Block, Page, Renderer};
use crate::town::TownConfig;

/// The letter types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum LetterKind {
    Eingangsbestaetigung,
    Nachforderung,
    Bescheid,
    Gebuehrenbescheid,
}

impl LetterKind {
    pub fn key(self) -> &'static str {
        match self {
            LetterKind::Eingangsbestaetigung => "eingangsbestaetigung",
            LetterKind::Nachforderung => "nachforderung",
            LetterKind::Bescheid => "bescheid",
            LetterKind::Gebuehrenbescheid => "gebuehrenbescheid",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            LetterKind::Eingangsbestaetigung => "Eingangsbestätigung",
            LetterKind::Nachforderung => "Anforderung fehlender Unterlagen",
            LetterKind::Bescheid => "Bescheid",
            LetterKind::Gebuehrenbescheid => "Gebührenbescheid",
        }
    }
}

/// Outcome of a Bescheid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Ergebnis {
    Bewilligt,
    Abgelehnt,
    Teilweise,
}

/// What the letters need to know about the case. Personal data: never log it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFacts {
    pub aktenzeichen: String,
    /// Name of the case type, e.g. "Gewerbeanmeldung".
    pub vorgangsart: String,
    /// Its code, e.g. "GEW".
    pub kuerzel: String,
    /// Land of the town (selects the Rechtsbehelfsbelehrung).
    pub land: String,
    pub eingang: Date,
    pub antragsteller: String,
    /// Postal address lines of the applicant (may be empty for mailbox-only replies).
    pub anschrift: Vec<String>,
    /// The clerk who signs, and how to reach the office.
    pub sachbearbeitung: String,
    /// Statutory period, if any, e.g. "3 Monate ab Vollständigkeit der Unterlagen".
    pub frist: Option<String>,
    /// Date of the letter.
    pub datum: Date,
}

/// Fees of a Bescheid or Gebührenbescheid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FeeSection {
    pub lines: Vec<FeeLine>,
    pub total_cent: i64,
    pub kassenzeichen: String,
    /// Due date, YYYY-MM-DD.
    pub faellig_am: String,
    /// Paid online already: the transaction reference.
    pub bezahlt_referenz: Option<String>,
    /// Legal bases of the tariff positions, for the reasons.
    pub rechtsgrundlagen: Vec<String>,
}

/// One block of a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TextBlock {
    /// Stable key: "einleitung", "tenor", "unterlagen", "begruendung", …
    pub key: String,
    /// Heading printed above the text (empty for none).
    pub title: String,
    pub text: String,
    /// May the clerk change it?
    pub editable: bool,
}

/// A letter before it is rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Draft {
    pub kind: LetterKind,
    pub ergebnis: Option<Ergebnis>,
    pub betreff: String,
    pub blocks: Vec<TextBlock>,
    pub fees: Option<FeeSection>,
    /// "Widerspruch" or "Klage", for letters with a Rechtsbehelfsbelehrung.
    pub rechtsbehelf: Option<String>,
}

/// German date "23.11.2026".
pub fn datum(d: Date) -> String {
    d.strftime("%d.%m.%Y").to_string()
}

fn block(key: &str, title: &str, text: impl Into<String>, editable: bool) -> TextBlock {
    TextBlock {
        key: key.into(),
        title: title.into(),
        text: text.into(),
        editable,
    }
}

fn iso_to_german(iso: &str) -> String {
    iso.parse::<Date>()
        .map(datum)
        .unwrap_or_else(|_| iso.to_owned())
}

impl Draft {
    /// Eingangsbestätigung (§ 71b Abs. 3, 4 VwVfG): receipt, the period and when it
    /// starts, who handles the case.
    pub fn eingangsbestaetigung(facts: &CaseFacts) -> Draft {
        let mut blocks = vec![
            block("anrede", "", "Sehr geehrte Damen und Herren,", true),
            block(
                "einleitung",
                "",
                format!(
                    "Ihr Antrag „{}“ ist am {} bei uns eingegangen. Er wird unter dem Aktenzeichen {} bearbeitet; bitte geben Sie es bei Rückfragen an.",
                    facts.vorgangsart,
                    datum(facts.eingang),
                    facts.aktenzeichen
                ),
                true,
            ),
        ];
        let frist = match &facts.frist {
            Some(frist) => format!(
                "Für die Entscheidung gilt eine Frist von {frist}. Die Frist beginnt erst, wenn alle erforderlichen Unterlagen vorliegen; fehlt etwas, teilen wir Ihnen das gesondert mit."
            ),
            None => "Für diesen Antrag gilt keine gesetzliche Entscheidungsfrist; wir bearbeiten ihn so schnell wie möglich.".into(),
        };
        blocks.push(block("frist", "Bearbeitungsfrist", frist, true));
        blocks.push(block(
            "rechtsbehelfe",
            "Rechtsbehelfe",
            "Gegen die Entscheidung über Ihren Antrag stehen Ihnen die Rechtsbehelfe offen, die in der Entscheidung genannt werden. Diese Eingangsbestätigung ist selbst keine Entscheidung.",
            false,
        ));
        blocks.push(closing(facts));
        Draft {
            kind: LetterKind::Eingangsbestaetigung,
            ergebnis: None,
            betreff: format!(
                "Eingangsbestätigung – {}; Ihr Antrag vom {}",
                facts.vorgangsart,
                datum(facts.eingang)
            ),
            blocks,
            fees: None,
            rechtsbehelf: None,
        }
    }

    /// Nachforderung: what is missing and by when.
    pub fn nachforderung(facts: &CaseFacts, fehlend: &[String], bis: Date) -> Draft {
        let list = if fehlend.is_empty() {
            "- (bitte eintragen)".to_owned()
        } else {
            fehlend
                .iter()
                .map(|f| format!("- {f}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let blocks = vec![
            block("anrede", "", "Sehr geehrte Damen und Herren,", true),
            block(
                "einleitung",
                "",
                format!(
                    "zu Ihrem Antrag „{}“ vom {} fehlen uns noch Unterlagen. Bitte reichen Sie Folgendes bis zum {} ein:",
                    facts.vorgangsart,
                    datum(facts.eingang),
                    datum(bis)
                ),
                true,
            ),
            block("unterlagen", "", list, true),
            block(
                "hinweis",
                "Hinweis",
                format!(
                    "Bis die Unterlagen vorliegen, ruht die Bearbeitung. Gehen sie bis zum {} nicht ein, müssen wir nach Aktenlage entscheiden; der Antrag kann dann abgelehnt werden (§§ 24, 26 Abs. 2 VwVfG). Sie können die Unterlagen über das Portal, per Post oder persönlich einreichen.",
                    datum(bis)
                ),
                true,
            ),
            closing(facts),
        ];
        Draft {
            kind: LetterKind::Nachforderung,
            ergebnis: None,
            betreff: format!(
                "{} – fehlende Unterlagen; Ihr Antrag vom {}",
                facts.vorgangsart,
                datum(facts.eingang)
            ),
            blocks,
            fees: None,
            rechtsbehelf: None,
        }
    }

    /// Bescheid with tenor, fee determination, payment request, reasons and the
    /// Rechtsbehelfsbelehrung of the Land and case type.
    pub fn bescheid(
        facts: &CaseFacts,
        town: &TownConfig,
        ergebnis: Ergebnis,
        fees: Option<FeeSection>,
    ) -> Result<Draft, LetterError> {
        let rb = town.rechtsbehelf_for(&facts.land, &facts.kuerzel)?;
        let tenor = match ergebnis {
            Ergebnis::Bewilligt => format!(
                "1. Ihrem Antrag „{}“ vom {} wird stattgegeben.",
                facts.vorgangsart,
                datum(facts.eingang)
            ),
            Ergebnis::Abgelehnt => format!(
                "1. Ihr Antrag „{}“ vom {} wird abgelehnt.",
                facts.vorgangsart,
                datum(facts.eingang)
            ),
            Ergebnis::Teilweise => format!(
                "1. Ihrem Antrag „{}“ vom {} wird teilweise stattgegeben, und zwar wie folgt: (bitte eintragen). Im Übrigen wird der Antrag abgelehnt.",
                facts.vorgangsart,
                datum(facts.eingang)
            ),
        };
        let tenor = match &fees {
            Some(f) if f.total_cent > 0 => format!(
                "{tenor}\n2. Für diese Entscheidung wird eine Verwaltungsgebühr von {} festgesetzt.",
                format_euro(f.total_cent)
            ),
            _ => tenor,
        };
        let begruendung = match ergebnis {
            Ergebnis::Bewilligt => {
                "Die Voraussetzungen liegen vor. Die erforderlichen Unterlagen wurden vollständig eingereicht und geprüft."
            }
            Ergebnis::Abgelehnt => {
                "Die Voraussetzungen liegen nicht vor: (bitte die Gründe eintragen)."
            }
            Ergebnis::Teilweise => {
                "Die Voraussetzungen liegen nur teilweise vor: (bitte die Gründe eintragen)."
            }
        };
        let mut blocks = vec![
            block("anrede", "", "Sehr geehrte Damen und Herren,", true),
            block("einleitung", "", "auf Ihren Antrag ergeht folgender", true),
            block("tenor", "Bescheid", tenor, true),
        ];
        blocks.extend(fee_blocks(fees.as_ref(), town));
        blocks.push(block("begruendung", "Begründung", begruendung, true));
        blocks.push(block(
            "rechtsbehelf",
            "Rechtsbehelfsbelehrung",
            rb.text,
            false,
        ));
        if fees.as_ref().is_some_and(|f| f.total_cent > 0) {
            blocks.push(block(
                "vollziehung",
                "Hinweis",
                "Ein Rechtsbehelf gegen die Gebührenfestsetzung hat keine aufschiebende Wirkung (§ 80 Abs. 2 Satz 1 Nr. 1 VwGO); die Gebühr ist trotzdem zum Fälligkeitstag zu zahlen.",
                false,
            ));
        }
        blocks.push(closing_signed(facts, town));
        Ok(Draft {
            kind: LetterKind::Bescheid,
            ergebnis: Some(ergebnis),
            betreff: format!(
                "Bescheid – {}; Ihr Antrag vom {}",
                facts.vorgangsart,
                datum(facts.eingang)
            ),
            blocks,
            fees,
            rechtsbehelf: Some(rb.art),
        })
    }

    /// Gebührenbescheid: the fee assessment on its own.
    pub fn gebuehrenbescheid(
        facts: &CaseFacts,
        town: &TownConfig,
        fees: FeeSection,
    ) -> Result<Draft, LetterError> {
        let rb = town.rechtsbehelf_for(&facts.land, &facts.kuerzel)?;
        let mut blocks = vec![
            block("anrede", "", "Sehr geehrte Damen und Herren,", true),
            block(
                "tenor",
                "Gebührenfestsetzung",
                format!(
                    "Für die Amtshandlung „{}“ (Aktenzeichen {}) werden folgende Gebühren festgesetzt:",
                    facts.vorgangsart, facts.aktenzeichen
                ),
                true,
            ),
        ];
        let bases = fees.rechtsgrundlagen.join("; ");
        blocks.extend(fee_blocks(Some(&fees), town));
        blocks.push(block(
            "begruendung",
            "Begründung",
            format!("Die Gebühr beruht auf: {bases}."),
            true,
        ));
        blocks.push(block(
            "rechtsbehelf",
            "Rechtsbehelfsbelehrung",
            rb.text,
            false,
        ));
        blocks.push(block(
            "vollziehung",
            "Hinweis",
            "Ein Rechtsbehelf hat keine aufschiebende Wirkung (§ 80 Abs. 2 Satz 1 Nr. 1 VwGO); die Gebühr ist trotzdem zum Fälligkeitstag zu zahlen.",
            false,
        ));
        blocks.push(closing_signed(facts, town));
        Ok(Draft {
            kind: LetterKind::Gebuehrenbescheid,
            ergebnis: None,
            betreff: format!("Gebührenbescheid – {}", facts.vorgangsart),
            blocks,
            fees: Some(fees),
            rechtsbehelf: Some(rb.art),
        })
    }

    /// Take the clerk's edits: editable blocks get the new text, fixed ones stay.
    pub fn with_edits(mut self, edits: &[TextBlock]) -> Result<Draft, LetterError> {
        for edit in edits {
            let Some(b) = self.blocks.iter_mut().find(|b| b.key == edit.key) else {
                return Err(LetterError::Input(format!(
                    "Der Textbaustein „{}“ gehört nicht zu diesem Brief.",
                    edit.key
                )));
            };
            if b.text == edit.text {
                continue;
            }
            if !b.editable {
                return Err(LetterError::Input(format!(
                    "Der Textbaustein „{}“ ist vorgegeben und kann nicht geändert werden.",
                    b.title
                )));
            }
            if edit.text.len() > 20_000 {
                return Err(LetterError::Input(format!(
                    "Der Textbaustein „{}“ ist zu lang (höchstens 20.000 Zeichen).",
                    b.title
                )));
            }
            b.text = edit.text.clone();
        }
        Ok(self)
    }
}

/// The fee table and the payment request (or the note that it was paid online).
fn fee_blocks(fees: Option<&FeeSection>, town: &TownConfig) -> Vec<TextBlock> {
    let Some(fees) = fees else {
        return Vec::new();
    };
    if fees.total_cent == 0 {
        return vec![block(
            "gebuehren",
            "Gebühren",
            "Diese Amtshandlung ist gebührenfrei.",
            false,
        )];
    }
    let zahlung = match &fees.bezahlt_referenz {
        Some(referenz) => format!(
            "Den Betrag von {} haben Sie bereits bei der Antragstellung online bezahlt (Transaktion {referenz}). Sie müssen nichts mehr überweisen.",
            format_euro(fees.total_cent)
        ),
        None => format!(
            "Bitte überweisen Sie {} bis zum {} auf das Konto der {} bei der {}, IBAN {}, BIC {}. Geben Sie als Verwendungszweck unbedingt das Kassenzeichen {} an. Bei verspäteter Zahlung können Säumniszuschläge erhoben werden.",
            format_euro(fees.total_cent),
            iso_to_german(&fees.faellig_am),
            town.behoerde,
            town.bank,
            town.iban,
            town.bic,
            fees.kassenzeichen
        ),
    };
    vec![
        block("gebuehren", "Gebühren", String::new(), false),
        block("zahlung", "Zahlung", zahlung, false),
    ]
}

fn closing(facts: &CaseFacts) -> TextBlock {
    block(
        "gruss",
        "",
        format!("Mit freundlichen Grüßen\n\n{}", facts.sachbearbeitung),
        true,
    )
}

fn closing_signed(facts: &CaseFacts, town: &TownConfig) -> TextBlock {
    block(
        "gruss",
        "",
        format!(
            "Mit freundlichen Grüßen\n{}\n\n{}",
            town.zeichnung, facts.sachbearbeitung
        ),
        true,
    )
}

/// Render a draft for a case.
pub fn render(
    renderer: &Renderer,
    draft: &Draft,
    facts: &CaseFacts,
    town: &TownConfig,
    logo_png: Option<Vec<u8>>,
    created_unix: i64,
) -> Result<Vec<u8>, LetterError> {
    let head = town.letterhead(logo_png);
    let missing = renderer.missing_glyphs(
        &draft
            .blocks
            .iter()
            .map(|b| b.text.as_str())
            .chain([facts.antragsteller.as_str(), draft.betreff.as_str()])
            .collect::<Vec<_>>()
            .join(" "),
    );
    if !missing.is_empty() {
        return Err(LetterError::Input(format!(
            "Diese Zeichen kann die Briefschrift nicht darstellen: {}",
            missing.iter().collect::<String>()
        )));
    }
    let mut info = vec![("Aktenzeichen".to_owned(), facts.aktenzeichen.clone())];
    if let Some(f) = &draft.fees
        && f.total_cent > 0
    {
        info.push(("Kassenzeichen".into(), f.kassenzeichen.clone()));
    }
    info.extend([
        ("Ansprechperson".into(), facts.sachbearbeitung.clone()),
        ("Telefon".into(), town.telefon.clone()),
        ("E-Mail".into(), town.email.clone()),
        ("Datum".into(), datum(facts.datum)),
    ]);
    let mut recipient = vec![facts.antragsteller.clone()];
    recipient.extend(facts.anschrift.iter().cloned());
    let mut body = Vec::new();
    for b in &draft.blocks {
        if !b.title.is_empty() {
            body.push(Block::Heading(b.title.clone()));
        }
        if b.key == "gebuehren"
            && let Some(f) = &draft.fees
            && f.total_cent > 0
        {
            body.push(Block::Table {
                rows: f
                    .lines
                    .iter()
                    .map(|l| (format!("{} ({})", l.text, l.stelle), format_euro(l.cent)))
                    .collect(),
                total: Some(("Summe".into(), format_euro(f.total_cent))),
            });
            continue;
        }
        if !b.text.trim().is_empty() {
            body.push(Block::Paragraph(b.text.clone()));
        }
    }
    let page = Page {
        title: format!("{} {}", draft.kind.title(), facts.aktenzeichen),
        recipient,
        postal_note: None,
        info,
        reference: format!("Aktenzeichen {}", facts.aktenzeichen),
        subject: draft.betreff.clone(),
        body,
        created_unix,
        pdfa: town.pdfa,
    };
    renderer.render(&page, &head)
}
