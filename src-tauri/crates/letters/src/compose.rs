//! Drafts of the letter types, filled from a case. A draft is a list of text blocks –
//! the editable ones (tenor, reasons, missing documents, …) the clerk may change before
//! sending; the fixed ones (Rechtsbehelfsbelehrung, payment request) come from the
//! configuration and the fee computation – plus the fee section. [`render`] turns a
//! (possibly edited) draft into the PDF.

use domain::deadline::{ClockKind, RequestEffect};
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
    /// The one extension of the period, with reasons (§ 42a Abs. 2 S. 3–4 VwVfG).
    Fristverlaengerung,
    /// The written certificate that the permit is deemed granted (§ 42a Abs. 3 VwVfG).
    Fiktionsbescheinigung,
    /// The hearing before an adverse decision (§ 28 VwVfG).
    Anhoerung,
}

impl LetterKind {
    pub fn key(self) -> &'static str {
        match self {
            LetterKind::Eingangsbestaetigung => "eingangsbestaetigung",
            LetterKind::Nachforderung => "nachforderung",
            LetterKind::Bescheid => "bescheid",
            LetterKind::Gebuehrenbescheid => "gebuehrenbescheid",
            LetterKind::Fristverlaengerung => "fristverlaengerung",
            LetterKind::Fiktionsbescheinigung => "fiktionsbescheinigung",
            LetterKind::Anhoerung => "anhoerung",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            LetterKind::Eingangsbestaetigung => "Eingangsbestätigung",
            LetterKind::Nachforderung => "Anforderung fehlender Unterlagen",
            LetterKind::Bescheid => "Bescheid",
            LetterKind::Gebuehrenbescheid => "Gebührenbescheid",
            LetterKind::Fristverlaengerung => "Verlängerung der Entscheidungsfrist",
            LetterKind::Fiktionsbescheinigung => "Bescheinigung über die Genehmigungsfiktion",
            LetterKind::Anhoerung => "Anhörung vor der Entscheidung",
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
    /// The statutory period, if the case type's law sets one (None: a Servicefrist).
    pub frist: Option<PeriodFacts>,
    /// Date of the letter.
    pub datum: Date,
}

/// The statutory period of a case as the letters state it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodFacts {
    /// Genehmigungsfiktion or a period of another law (never a Servicefrist here).
    pub uhr: ClockKind,
    /// The length in words, dative: "drei Monaten", "drei Tagen".
    pub dauer: String,
    /// The legal basis, e.g. "§ 15 Abs. 1 GewO".
    pub rechtsgrundlage: String,
    /// Starts with the receipt of the application (else: of the complete documents).
    pub ab_eingang: bool,
    /// Start and end once the period runs.
    pub beginn: Option<Date>,
    pub ende: Option<Date>,
    /// The law allows one extension.
    pub verlaengerbar: bool,
    /// What a request for documents does to the running period.
    pub nachforderung: RequestEffect,
    /// Once extended: the end of the original period and the reasons.
    pub verlaengert: Option<(Date, String)>,
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
    /// The amount paid online, where the portal said it.
    #[serde(default)]
    pub bezahlt_cent: Option<i64>,
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

/// The Eingangsbestätigung's paragraph on the period, per clock (§ 71b Abs. 3 VwVfG:
/// the period, its start and the consequence of its expiry).
fn period_text(frist: Option<&PeriodFacts>) -> String {
    let Some(f) = frist else {
        return "Für diesen Antrag gilt keine gesetzliche Entscheidungsfrist; wir bearbeiten ihn so schnell wie möglich.".into();
    };
    let start = if f.ab_eingang {
        "mit dem Eingang Ihres Antrags"
    } else {
        "mit dem Eingang der vollständigen Unterlagen"
    };
    let mut text = match f.uhr {
        ClockKind::Fiktion => format!(
            "Über Ihren Antrag ist innerhalb von {} zu entscheiden ({}). Die Frist beginnt {start}.",
            f.dauer, f.rechtsgrundlage
        ),
        _ => format!(
            "Für die Bearbeitung gilt eine gesetzliche Frist von {} ({}). Sie beginnt {start}.",
            f.dauer, f.rechtsgrundlage
        ),
    };
    match (f.beginn, f.ende) {
        (Some(b), Some(e)) => text.push_str(&format!(
            " {} am {}; die Frist endet am {}.",
            if f.ab_eingang {
                "Ihr Antrag ist"
            } else {
                "Die vollständigen Unterlagen sind"
            },
            datum(b),
            datum(e)
        )),
        _ if !f.ab_eingang => text.push_str(
            " Fehlt noch etwas, teilen wir Ihnen das gesondert mit; die Frist beginnt dann erst mit dem Eingang der fehlenden Unterlagen.",
        ),
        _ => {}
    }
    if f.uhr == ClockKind::Fiktion {
        text.push_str(" Entscheiden wir nicht innerhalb der Frist, gilt die beantragte Genehmigung als erteilt (§ 42a Abs. 1 VwVfG); auf Antrag bescheinigen wir Ihnen das schriftlich (§ 42a Abs. 3 VwVfG).");
        if f.verlaengerbar {
            text.push_str(" Die Frist kann einmal angemessen verlängert werden, wenn die Schwierigkeit der Angelegenheit es rechtfertigt; das teilen wir Ihnen dann vor ihrem Ablauf mit Begründung mit (§ 42a Abs. 2 S. 3 und 4 VwVfG).");
        }
    }
    text
}

/// The Nachforderung's sentence on the period: only what is true for the clock.
fn request_period_text(frist: Option<&PeriodFacts>) -> String {
    match frist {
        None => "Bis die Unterlagen vorliegen, ruht die Bearbeitung. ".into(),
        Some(f) if f.beginn.is_none() && !f.ab_eingang => format!(
            "Die Frist von {} für die Entscheidung ({}) beginnt erst mit dem Eingang der vollständigen Unterlagen; den Tag teilen wir Ihnen mit. ",
            f.dauer, f.rechtsgrundlage
        ),
        Some(f) if f.nachforderung == RequestEffect::Hemmung => format!(
            "Bis die Unterlagen vorliegen, ist die Frist für die Entscheidung ({}) gehemmt. ",
            f.rechtsgrundlage
        ),
        Some(f) if f.nachforderung == RequestEffect::Neubeginn => format!(
            "Mit dem Eingang der Unterlagen beginnt die Frist für die Entscheidung ({}) neu. ",
            f.rechtsgrundlage
        ),
        // A running period (e.g. § 42a VwVfG) is not stopped by the request: the
        // letter promises nothing about it.
        Some(_) => String::new(),
    }
}

fn iso_to_german(iso: &str) -> String {
    iso.parse::<Date>()
        .map(datum)
        .unwrap_or_else(|_| iso.to_owned())
}

impl Draft {
    /// Eingangsbestätigung (§ 71b Abs. 3, 4 VwVfG): receipt, the period, when it starts
    /// and what its expiry means – only what is true for the case type's clock – and
    /// who handles the case.
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
        let frist = period_text(facts.frist.as_ref());
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
                    "{}Gehen die Unterlagen bis zum {} nicht ein, müssen wir nach Aktenlage entscheiden; der Antrag kann dann abgelehnt werden (§§ 24, 26 Abs. 2 VwVfG). Sie können die Unterlagen über das Portal, per Post oder persönlich einreichen.",
                    request_period_text(facts.frist.as_ref()),
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

    /// Empfangsbescheinigung (§ 15 Abs. 1 GewO): a notification is answered by the
    /// certificate of its receipt – not by "Ihrem Antrag wird stattgegeben". A fee for
    /// it is assessed with its Rechtsbehelfsbelehrung.
    pub fn empfangsbescheinigung(
        facts: &CaseFacts,
        town: &TownConfig,
        basis: &str,
        fees: Option<FeeSection>,
    ) -> Result<Draft, LetterError> {
        let charged = fees.as_ref().is_some_and(|f| f.total_cent > 0);
        let mut blocks = vec![
            block("anrede", "", "Sehr geehrte Damen und Herren,", true),
            block(
                "tenor",
                "Empfangsbescheinigung",
                format!(
                    "Hiermit wird bescheinigt, dass Ihre Anzeige „{}“ am {} bei uns eingegangen ist ({basis}).",
                    facts.vorgangsart,
                    datum(facts.eingang)
                ),
                true,
            ),
            block(
                "hinweis",
                "Hinweis",
                "Diese Bescheinigung bestätigt den Empfang Ihrer Anzeige; sie ist keine Erlaubnis. Ist für Ihre Tätigkeit eine Erlaubnis nötig, beantragen Sie sie bitte gesondert.",
                true,
            ),
        ];
        if charged {
            blocks.extend(fee_blocks(fees.as_ref(), town));
            let rb = town.rechtsbehelf_for(&facts.land, &facts.kuerzel)?;
            blocks.push(block(
                "rechtsbehelf",
                "Rechtsbehelfsbelehrung (Gebührenfestsetzung)",
                rb.text,
                false,
            ));
            blocks.push(block(
                "vollziehung",
                "Hinweis zur Gebühr",
                "Ein Rechtsbehelf gegen die Gebührenfestsetzung hat keine aufschiebende Wirkung (§ 80 Abs. 2 Satz 1 Nr. 1 VwGO); die Gebühr ist trotzdem zum Fälligkeitstag zu zahlen.",
                false,
            ));
            blocks.push(closing_signed(facts, town));
            return Ok(Draft {
                kind: LetterKind::Bescheid,
                ergebnis: Some(Ergebnis::Bewilligt),
                betreff: format!("Empfangsbescheinigung – {}", facts.vorgangsart),
                blocks,
                fees,
                rechtsbehelf: Some(rb.art),
            });
        }
        blocks.push(closing_signed(facts, town));
        Ok(Draft {
            kind: LetterKind::Bescheid,
            ergebnis: Some(Ergebnis::Bewilligt),
            betreff: format!("Empfangsbescheinigung – {}", facts.vorgangsart),
            blocks,
            fees,
            rechtsbehelf: None,
        })
    }

    /// Steuerbescheid (a municipal tax under the AO through the Land's KAG, e.g. the
    /// Hundesteuer): the tax per year from the by-law, the share of the first year and
    /// the instalments – not "Antrag stattgegeben" with an administrative fee.
    pub fn steuerbescheid(
        facts: &CaseFacts,
        town: &TownConfig,
        basis: &str,
        rates: &domain::casetype::TaxRates,
        objects: u32,
        booking: Option<FeeSection>,
    ) -> Result<Draft, LetterError> {
        let a = rates.assess(objects, facts.eingang).ok_or_else(|| {
            LetterError::Config("Steuersätze oder Fälligkeiten fehlen in der Vorgangsart".into())
        })?;
        let rb = town.rechtsbehelf_for(&facts.land, &facts.kuerzel)?;
        let raten = a
            .raten
            .iter()
            .map(|(d, c)| {
                let (m, day) = d.split_once('-').unwrap_or((d.as_str(), ""));
                format!("{day}.{m}. {}", format_euro(*c))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let blocks = vec![
            block("anrede", "", "Sehr geehrte Damen und Herren,", true),
            block(
                "tenor",
                "Festsetzung",
                format!(
                    "1. Für das Halten von {} ({}) wird die {} ab dem {} auf jährlich {} festgesetzt.\n2. Für {} ({} Monate) beträgt die Steuer {}; sie ist {}.\n3. Ab {} ist die Steuer in Teilbeträgen fällig: {}.",
                    if objects <= 1 {
                        "einem Hund".to_owned()
                    } else {
                        format!("{objects} Hunden")
                    },
                    datum(facts.eingang),
                    facts.vorgangsart.trim_end_matches("-Anmeldung"),
                    datum(a.beginn),
                    format_euro(a.jahresbetrag_cent),
                    a.beginn.year(),
                    a.monate_erstes_jahr,
                    format_euro(a.erstes_jahr_cent),
                    match &booking {
                        Some(b) => format!("bis zum {} zu zahlen", iso_to_german(&b.faellig_am)),
                        None => "einen Monat nach Bekanntgabe dieses Bescheids fällig".to_owned(),
                    },
                    a.beginn.year() + 1,
                    raten
                ),
                true,
            ),
            block(
                "begruendung",
                "Begründung",
                format!(
                    "Sie haben das Halten eines Hundes am {} angemeldet. Die Steuerpflicht beginnt mit dem ersten Tag des folgenden Monats; die Höhe ergibt sich aus {} ({basis}). Die Steuer wird nach der Abgabenordnung festgesetzt.",
                    datum(facts.eingang),
                    rates.satzung
                ),
                true,
            ),
        ];
        let mut blocks = blocks;
        // How to pay the first year's amount (with the Kassenzeichen), without the
        // fee table: a tax is not a fee.
        blocks.extend(
            fee_blocks(booking.as_ref(), town)
                .into_iter()
                .filter(|b| b.key == "zahlung"),
        );
        blocks.extend([
            block("rechtsbehelf", "Rechtsbehelfsbelehrung", rb.text, false),
            block(
                "vollziehung",
                "Hinweis",
                "Ein Rechtsbehelf hat keine aufschiebende Wirkung (§ 80 Abs. 2 Satz 1 Nr. 1 VwGO); die Steuer ist trotzdem zu den Fälligkeitstagen zu zahlen.",
                false,
            ),
            closing_signed(facts, town),
        ]);
        Ok(Draft {
            kind: LetterKind::Bescheid,
            ergebnis: Some(Ergebnis::Bewilligt),
            betreff: format!(
                "Bescheid über die Festsetzung der {} ab {}",
                facts.vorgangsart.trim_end_matches("-Anmeldung"),
                datum(a.beginn)
            ),
            blocks,
            fees: booking,
            rechtsbehelf: Some(rb.art),
        })
    }

    /// Fristverlängerung (§ 42a Abs. 2 S. 3–4 VwVfG): the period is extended once, before
    /// it runs out, with reasons, and the applicant is told; the new end counts from the
    /// end of the original period (§ 190 BGB).
    pub fn fristverlaengerung(facts: &CaseFacts) -> Result<Draft, LetterError> {
        let (f, bisher, grund, neu) = match &facts.frist {
            Some(f) => match (&f.verlaengert, f.ende) {
                (Some((bisher, grund)), Some(neu)) => (f, *bisher, grund.clone(), neu),
                _ => {
                    return Err(LetterError::Input(
                        "Die Frist dieses Vorgangs ist nicht verlängert.".into(),
                    ));
                }
            },
            None => {
                return Err(LetterError::Input(
                    "Für diesen Vorgang gilt keine gesetzliche Frist.".into(),
                ));
            }
        };
        let blocks = vec![
            block("anrede", "", "Sehr geehrte Damen und Herren,", true),
            block(
                "tenor",
                "",
                format!(
                    "die Frist für die Entscheidung über Ihren Antrag „{}“ vom {} ({}) wird über den {} hinaus um die gesetzlich zulässige Zeit verlängert. Sie endet nun am {}.",
                    facts.vorgangsart,
                    datum(facts.eingang),
                    f.rechtsgrundlage,
                    datum(bisher),
                    datum(neu)
                ),
                true,
            ),
            block("begruendung", "Begründung", grund, true),
            block(
                "hinweis",
                "Hinweis",
                if f.uhr == ClockKind::Fiktion {
                    format!(
                        "Die Frist kann nur einmal verlängert werden (§ 42a Abs. 2 S. 3 und 4 VwVfG). Entscheiden wir nicht bis zum {}, gilt die beantragte Genehmigung als erteilt (§ 42a Abs. 1 VwVfG).",
                        datum(neu)
                    )
                } else {
                    "Die Frist kann nur einmal verlängert werden.".into()
                },
                false,
            ),
            closing(facts),
        ];
        Ok(Draft {
            kind: LetterKind::Fristverlaengerung,
            ergebnis: None,
            betreff: format!(
                "{} – Verlängerung der Entscheidungsfrist; Ihr Antrag vom {}",
                facts.vorgangsart,
                datum(facts.eingang)
            ),
            blocks,
            fees: None,
            rechtsbehelf: None,
        })
    }

    /// Bescheinigung nach § 42a Abs. 3 VwVfG: the permit is deemed granted because the
    /// period ran out without a decision.
    pub fn fiktionsbescheinigung(facts: &CaseFacts) -> Result<Draft, LetterError> {
        let (f, ende) = match &facts.frist {
            Some(f) if f.uhr == ClockKind::Fiktion => match f.ende {
                Some(e) if e < facts.datum => (f, e),
                _ => {
                    return Err(LetterError::Input(
                        "Die Fiktionsfrist ist nicht abgelaufen; eine Bescheinigung ist nicht möglich.".into(),
                    ));
                }
            },
            _ => {
                return Err(LetterError::Input(
                    "Für diese Vorgangsart ordnet kein Gesetz eine Genehmigungsfiktion an.".into(),
                ));
            }
        };
        let beginn = f
            .beginn
            .map(|b| {
                format!(
                    " Sie begann mit dem Eingang der vollständigen Unterlagen am {}.",
                    datum(b)
                )
            })
            .unwrap_or_default();
        let blocks = vec![
            block("anrede", "", "Sehr geehrte Damen und Herren,", true),
            block(
                "tenor",
                "Bescheinigung",
                format!(
                    "Hiermit wird bescheinigt, dass die mit Ihrem Antrag „{}“ vom {} (Aktenzeichen {}) beantragte Genehmigung nach {} als erteilt gilt.",
                    facts.vorgangsart,
                    datum(facts.eingang),
                    facts.aktenzeichen,
                    f.rechtsgrundlage
                ),
                false,
            ),
            block(
                "begruendung",
                "Gründe",
                format!(
                    "Über den Antrag war innerhalb von {}{} zu entscheiden.{beginn} Die Frist ist am {} abgelaufen, ohne dass eine Entscheidung ergangen ist. Die Genehmigung gilt damit als erteilt (§ 42a Abs. 1 VwVfG); diese Bescheinigung wird auf Verlangen nach § 42a Abs. 3 VwVfG ausgestellt.",
                    f.dauer,
                    if f.verlaengert.is_some() {
                        " (einmal verlängert)"
                    } else {
                        ""
                    },
                    datum(ende)
                ),
                true,
            ),
            closing(facts),
        ];
        Ok(Draft {
            kind: LetterKind::Fiktionsbescheinigung,
            ergebnis: None,
            betreff: format!(
                "{} – Bescheinigung über die Genehmigungsfiktion (§ 42a Abs. 3 VwVfG)",
                facts.vorgangsart
            ),
            blocks,
            fees: None,
            rechtsbehelf: None,
        })
    }

    /// Anhörung (§ 28 Abs. 1 VwVfG): before deciding against the applicant, the
    /// authority says what it intends and why, and gives a period to comment.
    pub fn anhoerung(facts: &CaseFacts, bis: Date) -> Draft {
        let blocks = vec![
            block("anrede", "", "Sehr geehrte Damen und Herren,", true),
            block(
                "einleitung",
                "",
                format!(
                    "nach Prüfung Ihres Antrags „{}“ vom {} beabsichtigen wir, ihn abzulehnen. Bevor wir entscheiden, geben wir Ihnen Gelegenheit, sich zu den für die Entscheidung erheblichen Tatsachen zu äußern (§ 28 Abs. 1 VwVfG).",
                    facts.vorgangsart,
                    datum(facts.eingang)
                ),
                true,
            ),
            block(
                "gruende",
                "Beabsichtigte Entscheidung und Gründe",
                "(bitte die beabsichtigte Entscheidung und die erheblichen Tatsachen eintragen)",
                true,
            ),
            block(
                "frist",
                "Ihre Stellungnahme",
                format!(
                    "Sie können sich bis zum {} schriftlich, per E-Mail, über das Portal oder persönlich äußern und weitere Unterlagen einreichen. Äußern Sie sich bis dahin nicht, entscheiden wir nach Aktenlage.",
                    datum(bis)
                ),
                true,
            ),
            block(
                "hinweis",
                "Hinweis",
                "Dieses Schreiben ist noch keine Entscheidung.",
                false,
            ),
            closing(facts),
        ];
        Draft {
            kind: LetterKind::Anhoerung,
            ergebnis: None,
            betreff: format!(
                "{} – Anhörung vor der Entscheidung; Ihr Antrag vom {}",
                facts.vorgangsart,
                datum(facts.eingang)
            ),
            blocks,
            fees: None,
            rechtsbehelf: None,
        }
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
    let transfer = |amount: i64| {
        format!(
            "Bitte überweisen Sie {} bis zum {} auf das Konto der {} bei der {}, IBAN {}, BIC {}. Geben Sie als Verwendungszweck unbedingt das Kassenzeichen {} an. Bei verspäteter Zahlung können Säumniszuschläge erhoben werden.",
            format_euro(amount),
            iso_to_german(&fees.faellig_am),
            town.behoerde,
            town.bank,
            town.iban,
            town.bic,
            fees.kassenzeichen
        )
    };
    let zahlung = match &fees.bezahlt_referenz {
        Some(referenz) => match domain::fees::reconcile(fees.total_cent, fees.bezahlt_cent) {
            domain::fees::PaymentMatch::Paid => format!(
                "Den Betrag von {} haben Sie bereits bei der Antragstellung online bezahlt (Transaktion {referenz}). Sie müssen nichts mehr überweisen.",
                format_euro(fees.total_cent)
            ),
            domain::fees::PaymentMatch::Partly { open_cent } => format!(
                "Bei der Antragstellung haben Sie online {} bezahlt (Transaktion {referenz}); festgesetzt sind {}. {}",
                format_euro(fees.total_cent - open_cent),
                format_euro(fees.total_cent),
                transfer(open_cent).replacen(
                    "Bitte überweisen Sie",
                    "Bitte überweisen Sie den Restbetrag von",
                    1
                )
            ),
            domain::fees::PaymentMatch::Overpaid { refund_cent } => format!(
                "Bei der Antragstellung haben Sie online {} bezahlt (Transaktion {referenz}); festgesetzt sind {}. Den zu viel gezahlten Betrag von {} erstatten wir Ihnen auf das Konto, von dem Sie gezahlt haben. Sie müssen nichts mehr überweisen.",
                format_euro(fees.total_cent + refund_cent),
                format_euro(fees.total_cent),
                format_euro(refund_cent)
            ),
            domain::fees::PaymentMatch::AmountUnknown => format!(
                "Laut Portal haben Sie bei der Antragstellung online gezahlt (Transaktion {referenz}); der Betrag wurde nicht übermittelt. Wir gleichen die Zahlung mit der Kasse ab. Deckt sie die festgesetzten {} nicht, erhalten Sie gesondert Nachricht.",
                format_euro(fees.total_cent)
            ),
        },
        None => transfer(fees.total_cent),
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
            .chain(facts.anschrift.iter().map(String::as_str))
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
    let recipient = renderer
        .fit_address(&recipient)
        .map_err(LetterError::Input)?;
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
