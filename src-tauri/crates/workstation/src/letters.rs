//! Answers: letters of a case (draft, preview in memory, send) and the fee bookings
//! that go with them.
//!
//! "Versenden" renders the letter, stores it encrypted in the case and queues –
//! in the same transaction, together with the state change Entschieden → Versandt –
//! the reply to the citizen's portal mailbox (a FIT-Connect submission in the case:
//! the PDF plus structured JSON), the Annahmeanordnung for the cash system (CSV and XML
//! into the exchange folder) and, where the portal offers payment and the fee was
//! not paid online already, a payment request. The outbox delivers each exactly once.

use std::io::Read;

use domain::Permission;
use domain::casetype::CaseType;
use domain::fees::{Annahmeanordnung, FeeItem, FeeTotal, kassenzeichen};
use domain::lifecycle::{self, Action, CaseState, Decision};
use letters::{CaseFacts, Draft, Ergebnis, FeeSection, LetterKind, TextBlock, TownConfig};
use serde::{Deserialize, Serialize};
use store::{CaseRecord, OutgoingLetter, Session, Transition};
use ts_rs::TS;

use crate::config::CaseworkConfig;
use crate::{AppError, ErrorCode, Workstation};

/// Setting: absolute path of the HKR exchange folder.
pub(crate) const HKR_SETTING: &str = "hkr_ordner";

/// What the clerk asks for: a letter of a case, with fees and edited text blocks.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LetterRequest {
    pub case_id: String,
    pub kind: LetterKind,
    /// Fee items (Bescheid, Gebührenbescheid); empty: the case type's defaults.
    #[serde(default)]
    pub fees: Vec<FeeItem>,
    /// Changed text blocks (key and new text).
    #[serde(default)]
    pub edits: Vec<TextBlock>,
    /// "postfach" (reply through the portal) or "post" (printed and posted).
    pub kanal: String,
}

/// A tariff position the clerk may choose for a case.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TariffOption {
    pub stelle: String,
    pub bezeichnung: String,
    /// fest, rahmen, einheit, frei
    pub art: String,
    pub betrag_cent: i64,
    pub min_cent: i64,
    pub max_cent: i64,
    pub einheit: String,
}

/// The letter view of a case: which letters, channels and fees are possible, and the
/// draft for the requested one.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LetterView {
    pub kinds: Vec<LetterKind>,
    pub channels: Vec<String>,
    pub tariff: Vec<TariffOption>,
    /// Fee items in force (the request's or the defaults).
    pub fees: Vec<FeeItem>,
    /// Paid online at the portal (paymentInformation BOOKED): the reference.
    pub paid_online: Option<String>,
    pub draft: Draft,
    /// The reply channel the citizen asked for (none: post).
    pub reply_channel: Option<crate::casework::ReplyChannelView>,
    /// Why the letter cannot be sent now (missing configuration, wrong state).
    pub blocked: Option<String>,
}

/// One outbox item of a case, for the case view.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OutboxView {
    /// What it is, in German ("Brief an das Portal (FIT-Connect-Einreichung)", "Annahmeanordnung an die Kasse", …).
    pub what: String,
    /// wartet / gesendet / bestätigt / fehlgeschlagen
    pub state: String,
    pub attempts: u32,
    pub error: Option<String>,
}

/// A letter prepared from the replica (office mode), with what its command needs.
pub(crate) struct OfficePrepared {
    prepared: Prepared,
    case_id: uuid::Uuid,
    based_on: i64,
    versand: Option<office::protocol::Versand>,
}

fn invalid(msg: impl Into<String>) -> AppError {
    AppError::invalid(msg)
}

fn storage(msg: impl Into<String>) -> AppError {
    AppError::new(ErrorCode::Storage, msg)
}

fn letter_error(e: letters::LetterError) -> AppError {
    invalid(e.to_string())
}

/// The documents of a case parsed as JSON (metadata, application data).
pub(crate) fn json_document(
    session: &Session,
    rec: &CaseRecord,
    kind: &str,
) -> Option<serde_json::Value> {
    let doc = session
        .case_documents(&rec.id)
        .ok()?
        .into_iter()
        .find(|d| d.kind == kind)?;
    let blob = store::BlobId::parse(&doc.blob_id).ok()?;
    if session.blob_info(&blob).ok()?.size > 4 * 1024 * 1024 {
        return None;
    }
    let mut bytes = Vec::new();
    session
        .open_blob(&blob)
        .ok()?
        .read_to_end(&mut bytes)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Postal address lines from the application data (`antragsteller.anschrift`).
fn address(data: Option<&serde_json::Value>) -> Vec<String> {
    let Some(a) = data.and_then(|d| d.pointer("/antragsteller/anschrift")) else {
        return Vec::new();
    };
    let s = |k: &str| {
        a.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    let street = format!("{} {}", s("strasse"), s("hausnummer"))
        .trim()
        .to_owned();
    let town = format!("{} {}", s("postleitzahl"), s("ort"))
        .trim()
        .to_owned();
    [street, town]
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect()
}

/// paymentInformation with status BOOKED: the transaction reference and, where the
/// portal gave it, the amount paid.
fn paid_online(metadata: Option<&serde_json::Value>) -> Option<(String, Option<i64>)> {
    let p = metadata?.get("paymentInformation")?;
    let info: fitconnect::metadata::PaymentInformation = serde_json::from_value(p.clone()).ok()?;
    if info.status != "BOOKED" {
        return None;
    }
    let cents = info.gross_amount_cents();
    Some((
        if info.transaction_reference.is_empty() {
            info.transaction_id
        } else {
            info.transaction_reference
        },
        cents,
    ))
}

/// The statutory period as the letters state it: clock, length, legal basis and,
/// once it runs, its start and end. None for a Servicefrist.
fn period_facts(
    t: &CaseType,
    cfg: &CaseworkConfig,
    rec: &CaseRecord,
    history: &[store::HistoryEntry],
) -> Option<letters::PeriodFacts> {
    let rules = t.deadline_rules();
    let dauer = t.period_text()?;
    let clock = crate::casework::clock_from(rec, history);
    let d = domain::deadline::compute(&rules, &clock, &cfg.calendar, crate::casework::today());
    let verlaengert = if clock.extended {
        let grund = history
            .iter()
            .rev()
            .find(|h| h.kind == "fristverlaengerung")
            .and_then(|h| h.detail.as_deref())
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .and_then(|v| v["grund"].as_str().map(str::to_owned))
            .unwrap_or_default();
        d.original.map(|o| (o, grund))
    } else {
        None
    };
    Some(letters::PeriodFacts {
        verlaengert,
        uhr: rules.uhr,
        dauer,
        rechtsgrundlage: t.rechtsgrundlage.clone(),
        ab_eingang: rules.beginn == domain::deadline::PeriodStart::Eingang,
        beginn: d.start,
        ende: d.legal,
        verlaengerbar: rules.verlaengerung_monate > 0,
        nachforderung: rules.nachforderung,
    })
}

fn default_fees(t: &CaseType, cfg: &CaseworkConfig) -> Vec<FeeItem> {
    t.gebuehren
        .iter()
        .filter_map(|s| cfg.tariff.tarif.iter().find(|e| &e.stelle == s))
        .map(|e| FeeItem {
            stelle: e.stelle.clone(),
            betrag_cent: (e.art == "rahmen").then_some(e.min_cent),
            menge: (e.art == "einheit").then_some(1),
            ermaessigung_prozent: None,
            begruendung: None,
        })
        .collect()
}

/// The last decision of the case from its history.
fn decision(session: &Session, rec: &CaseRecord) -> Result<Option<(Ergebnis, String)>, AppError> {
    let entry = session
        .case_history(&rec.id)?
        .into_iter()
        .rev()
        .find(|h| h.kind == "entscheiden");
    let Some(action) = entry
        .and_then(|h| h.detail)
        .and_then(|d| serde_json::from_str::<Action>(&d).ok())
    else {
        return Ok(None);
    };
    Ok(match action {
        Action::Entscheiden {
            ergebnis,
            begruendung,
            ..
        } => Some((
            match ergebnis {
                Decision::Bewilligt => Ergebnis::Bewilligt,
                Decision::Abgelehnt => Ergebnis::Abgelehnt,
                Decision::TeilweiseBewilligt => Ergebnis::Teilweise,
            },
            begruendung,
        )),
        _ => None,
    })
}

/// The last Nachforderung: what is missing and by when.
fn request(
    session: &Session,
    rec: &CaseRecord,
) -> Result<(Vec<String>, Option<jiff::civil::Date>), AppError> {
    let action = session
        .case_history(&rec.id)?
        .into_iter()
        .rev()
        .find(|h| h.kind == "nachfordern")
        .and_then(|h| h.detail)
        .and_then(|d| serde_json::from_str::<Action>(&d).ok());
    Ok(match action {
        Some(Action::Nachfordern { fehlend, frist }) => {
            (fehlend, frist.get(..10).and_then(|d| d.parse().ok()))
        }
        _ => (Vec::new(), None),
    })
}

/// Does sending this letter move the case to "Versandt" (the decision, or the
/// certificate of the deemed permit, went out)?
fn dispatches(kind: LetterKind) -> bool {
    matches!(
        kind,
        LetterKind::Bescheid | LetterKind::Fiktionsbescheinigung
    )
}

/// Does this letter book a fee (a Bescheid or Gebührenbescheid with an amount)?
fn books(p: &Prepared, kind: LetterKind) -> bool {
    matches!(kind, LetterKind::Bescheid | LetterKind::Gebuehrenbescheid)
        && p.fees.as_ref().is_some_and(|f| f.total_cent > 0)
}

/// The Kassenzeichen of number `n` in the town's format.
fn kassenzeichen_of(p: &Prepared, n: u64) -> String {
    kassenzeichen(
        &p.cfg.tariff.kassenzeichen_praefix,
        p.cfg.types.arbeitsplatz,
        n,
        &p.cfg.tariff.pruefziffer,
    )
}

/// A letter made: its PDF, file name and what it sends out.
struct Made {
    pdf: Vec<u8>,
    filename: String,
    out: Outgoing,
}

fn make(p: &Prepared, req: &LetterRequest, kz: &str, books: bool) -> Result<Made, AppError> {
    let due = Workstation::due_date(p);
    let draft = Workstation::compose(p, req.kind, kz, due, &req.edits)?;
    let pdf = render_now(p, &draft)?;
    let filename = format!(
        "{}-{}-{}.pdf",
        req.kind.key(),
        p.rec
            .file_number
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
        p.facts.datum
    );
    let out = outgoing(p, req, &draft, kz, due, books, &filename)?;
    Ok(Made { pdf, filename, out })
}

/// What a letter sends beside the paper: the reply to the portal mailbox (its one
/// attachment's blob id filled in where the letter is stored), the
/// Annahmeanordnung for the cash system and the payment request.
pub(crate) struct Outgoing {
    pub reply: Option<sync::ReplyItem>,
    /// The e-mail to the citizen: the letter PGP-encrypted (`email`), or a notice
    /// that it goes by post; its attachment's blob id and Message-ID are filled in
    /// where the letter is stored.
    pub mail: Option<sync::mail::MailItem>,
    /// The letter to the citizen's BundID mailbox (`bundid`).
    pub bundid: Option<crate::bundid::MessageDraft>,
    pub hkr: Option<sync::HkrItem>,
    pub payment: Option<sync::PaymentItem>,
}

fn outgoing(
    p: &Prepared,
    req: &LetterRequest,
    draft: &Draft,
    kz: &str,
    due: jiff::civil::Date,
    books: bool,
    filename: &str,
) -> Result<Outgoing, AppError> {
    let reply_to = match (&p.rec.fc_case_id, p.reply_destination, req.kanal.as_str()) {
        (Some(fc), Some(dest), "postfach") => Some((
            uuid::Uuid::parse_str(fc)
                .map_err(|_| storage("Ungültige Vorgangsreferenz des Portals."))?,
            dest,
        )),
        _ => None,
    };
    let data = serde_json::json!({
        "art": req.kind.key(),
        "aktenzeichen": p.rec.file_number,
        "datum": p.facts.datum.to_string(),
        "ergebnis": draft.ergebnis,
        "kassenzeichen": (!kz.is_empty()).then_some(kz),
        "betragCent": p.fees.as_ref().map(|f| f.total_cent),
        "faelligAm": books.then(|| due.to_string()),
        "bereitsBezahlt": p.paid.is_some(),
        "bezahltCent": p.paid_cent,
    });
    let hkr = match (books, &p.hkr_dir, &p.fees) {
        (true, Some(dir), Some(fees)) => {
            let order = Annahmeanordnung {
                kassenzeichen: kz.to_owned(),
                aktenzeichen: p.rec.file_number.clone(),
                faellig_am: due.to_string(),
                zahlungspflichtiger: p.rec.applicant.clone(),
                anschrift: p.facts.anschrift.join(", "),
                grund: format!(
                    "{} vom {}",
                    draft.kind.title(),
                    letters::compose::datum(p.facts.datum)
                ) + &format!(" – {}", p.ctype.name),
                bezahlt_referenz: p.paid.clone(),
                bezahlt_cent: p.paid_cent,
                positionen: fees.lines.clone(),
                summe_cent: fees.total_cent,
            };
            Some(sync::HkrItem {
                dir: dir.clone(),
                file_stem: format!("AO-{kz}"),
                csv: order.to_csv(),
                xml: order.to_xml(),
            })
        }
        _ => None,
    };
    // What is still to be paid: everything, or what an online payment left open.
    let open = p.fees.as_ref().map(|f| match &p.paid {
        None => f.total_cent,
        Some(_) => match domain::fees::reconcile(f.total_cent, p.paid_cent) {
            domain::fees::PaymentMatch::Partly { open_cent } => open_cent,
            _ => 0,
        },
    });
    let payment = match (books, &p.payment_url, open, &reply_to) {
        (true, Some(url), Some(amount), Some(_)) if amount > 0 => Some(sync::PaymentItem {
            url: url.clone(),
            request_id: kz.to_owned(),
            kassenzeichen: kz.to_owned(),
            amount_cents: amount,
            due_date: due.to_string(),
            description: format!("{} {}", p.ctype.name, p.rec.file_number),
        }),
        _ => None,
    };
    let reply = reply_to.map(|(case_id, destination_id)| sync::ReplyItem {
        case_id,
        destination_id,
        service_type: fitconnect::api::ServiceType {
            name: Some(req.kind.title().to_owned()),
            description: None,
            identifier: p.ctype.leika.clone(),
        },
        data,
        data_schema: "https://schema.amtsstube.invalid/antwort/1.0.0.json".into(),
        attachments: vec![sync::ReplyAttachment {
            attachment_id: uuid::Uuid::new_v4(),
            blob_id: String::new(),
            filename: filename.to_owned(),
            mime_type: "application/pdf".into(),
        }],
    });
    let mail = match (p.mail_ready, &p.email, req.kanal.as_str()) {
        (true, Some((address, Some(key))), "email") => Some(sync::mail::MailItem {
            to: address.clone(),
            pgp_public_key: Some(key.clone()),
            subject: crate::mail::neutral_subject(&p.town.behoerde),
            inner_subject: format!(
                "{} – Aktenzeichen {}",
                draft.kind.title(),
                p.rec.file_number
            ),
            text: format!(
                "Guten Tag,\r\n\r\nanbei erhalten Sie unser Schreiben „{}“ vom {} zu Ihrem Antrag ({}),\r\n\
                 Aktenzeichen {}, als PDF-Datei. Bitte geben Sie bei Rückfragen das Aktenzeichen an.\r\n\r\n\
                 Mit freundlichen Grüßen\r\n{}\r\n",
                draft.kind.title(),
                letters::compose::datum(p.facts.datum),
                p.ctype.name,
                p.rec.file_number,
                p.town.behoerde
            ),
            attachment: Some(sync::mail::MailAttachment {
                blob_id: String::new(),
                filename: filename.to_owned(),
            }),
            message_id: String::new(),
        }),
        // The citizen asked for e-mail, the letter goes by post: a notice only.
        (true, Some((address, _)), "post") => Some(sync::mail::MailItem {
            to: address.clone(),
            pgp_public_key: None,
            subject: crate::mail::neutral_subject(&p.town.behoerde),
            inner_subject: String::new(),
            text: crate::mail::notice_text(&p.town.behoerde),
            attachment: None,
            message_id: String::new(),
        }),
        _ => None,
    };
    let bundid = match (p.bundid, p.mailbox, req.kanal.as_str()) {
        (Some(ready), Some(mailbox), "bundid") => Some(crate::bundid::MessageDraft::new(
            ready,
            mailbox,
            p.application,
            &p.town.behoerde,
            draft.kind.title(),
            &letters::compose::datum(p.facts.datum),
            &p.ctype.name,
            &p.rec.file_number,
            filename,
        )),
        _ => None,
    };
    Ok(Outgoing {
        reply,
        mail,
        bundid,
        hkr,
        payment,
    })
}

/// What a letter needs from its case, wherever the case is kept.
pub(crate) struct LetterSource {
    pub rec: CaseRecord,
    /// The application's data and metadata documents (JSON), where readable.
    pub data: Option<serde_json::Value>,
    pub metadata: Option<serde_json::Value>,
    /// Who signs.
    pub me: String,
    /// A letter with a Kassenzeichen went out already.
    pub assessed: bool,
    pub decision: Option<(Ergebnis, String)>,
    pub requested: (Vec<String>, Option<jiff::civil::Date>),
    pub reply_destination: Option<uuid::Uuid>,
    pub payment_url: Option<String>,
    pub hkr_dir: Option<String>,
    /// The town's SMTP relay (standalone only; the server answers in office mode).
    pub mail: Option<sync::mail::Relay>,
    /// Office mode: the Rathaus-Server has a relay and sends the e-mail.
    pub mail_at_server: bool,
    /// The BundID bridge and the stated trust level, where set up (standalone only).
    pub bundid: Option<(uuid::Uuid, u8)>,
    /// The case's history (for the period's start and end).
    pub history: Vec<store::HistoryEntry>,
}

/// Everything needed to compose one letter of a case.
pub(crate) struct Prepared {
    rec: CaseRecord,
    ctype: CaseType,
    state: CaseState,
    facts: CaseFacts,
    town: TownConfig,
    logo: Option<Vec<u8>>,
    cfg: std::sync::Arc<CaseworkConfig>,
    fee_items: Vec<FeeItem>,
    fees: Option<FeeTotal>,
    paid: Option<String>,
    /// The amount paid online, where the portal said it.
    paid_cent: Option<i64>,
    kinds: Vec<LetterKind>,
    channels: Vec<String>,
    reply_destination: Option<uuid::Uuid>,
    payment_url: Option<String>,
    hkr_dir: Option<String>,
    decision: Option<(Ergebnis, String)>,
    requested: (Vec<String>, Option<jiff::civil::Date>),
    /// The reply channel the citizen asked for (metadata `replyChannel`).
    reply_channel: Option<crate::casework::ReplyChannelView>,
    mail: Option<sync::mail::Relay>,
    /// E-mail can go out: this PC's relay, or the Rathaus-Server's.
    mail_ready: bool,
    /// The citizen's e-mail address and OpenPGP key, where e-mail was asked for.
    email: Option<(String, Option<String>)>,
    /// The BundID bridge and trust level, where set up.
    bundid: Option<(uuid::Uuid, u8)>,
    /// The citizen's Postkorb-Handle and the Statusmonitor application, where the
    /// metadata name them.
    mailbox: Option<uuid::Uuid>,
    application: Option<uuid::Uuid>,
}

impl Prepared {
    /// What the letter's history entry records about the channel: the one the
    /// citizen asked for, and whether this letter took another way (post).
    fn channel_record(&self, kanal: &str) -> serde_json::Value {
        match &self.reply_channel {
            None => serde_json::Value::Null,
            Some(c) => serde_json::json!({
                "gewuenscht": c.key,
                "ersatzweg": !(c.available && crate::casework::channel_key(kanal) == Some(c.key.as_str())),
            }),
        }
    }
}

/// The letter as PDF, dated now, in the town's letterhead.
fn render_now(p: &Prepared, draft: &Draft) -> Result<Vec<u8>, AppError> {
    let renderer = letters::Renderer::shared().map_err(letter_error)?;
    letters::render(
        renderer,
        draft,
        &p.facts,
        &p.town,
        p.logo.clone(),
        jiff::Timestamp::now().as_second(),
    )
    .map_err(letter_error)
}

impl Workstation {
    fn prepare_letter(&self, req: &LetterRequest) -> Result<Prepared, AppError> {
        let (session, rec) = self.visible_case(&req.case_id, Permission::EditCases)?;
        let data = json_document(session, &rec, "data");
        let metadata = json_document(session, &rec, "metadata");
        // A fee is assessed and booked once per case: after a letter with a
        // Kassenzeichen went out, later letters carry no fee (and cannot book again).
        let history = session.case_history(&rec.id)?;
        let assessed = history.iter().any(|h| {
            h.detail
                .as_deref()
                .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                .is_some_and(|v| v["kassenzeichen"].is_string())
        });
        let portal: Option<crate::PortalSettings> = session
            .setting(crate::portal::SETTING)?
            .and_then(|j| serde_json::from_str(&j).ok());
        let source = LetterSource {
            decision: decision(session, &rec)?,
            requested: request(session, &rec)?,
            me: session.user().display_name.clone(),
            hkr_dir: session.setting(HKR_SETTING)?,
            mail: crate::mail::relay(session)?,
            mail_at_server: false,
            bundid: crate::bundid::ready(session)?.map(|r| (r.bridge, r.level)),
            reply_destination: portal.as_ref().and_then(|p| p.reply_destination_id),
            payment_url: portal.and_then(|p| p.payment_url),
            rec,
            data,
            metadata,
            assessed,
            history,
        };
        self.prepare_from(source, req)
    }

    /// Everything for a letter from what the case holds (standalone store or the
    /// office replica) and the town's configuration.
    pub(crate) fn prepare_from(
        &self,
        src: LetterSource,
        req: &LetterRequest,
    ) -> Result<Prepared, AppError> {
        let rec = src.rec;
        let cfg = self.casework_config()?;
        let ctype = crate::casework::case_type(&cfg, &rec)
            .cloned()
            .ok_or_else(|| invalid("Für diesen Vorgang ist keine Vorgangsart eingerichtet; Briefe sind nicht möglich."))?;
        let town = self.town()?;
        let (town, logo) = (town.0.clone(), town.1.clone());
        let state = crate::casework::stored_state(&rec.status)?;
        let facts = CaseFacts {
            aktenzeichen: rec.file_number.clone(),
            vorgangsart: ctype.name.clone(),
            kuerzel: ctype.kuerzel.clone(),
            land: cfg.types.land.clone(),
            eingang: crate::casework::date_of(&rec.received_at)
                .unwrap_or_else(crate::casework::today),
            antragsteller: rec.applicant.clone(),
            anschrift: address(src.data.as_ref()),
            sachbearbeitung: src.me,
            frist: period_facts(&ctype, &cfg, &rec, &src.history),
            datum: crate::casework::today(),
        };
        let fee_items = if req.fees.is_empty() {
            default_fees(&ctype, &cfg)
        } else {
            req.fees.clone()
        };
        for item in &fee_items {
            if !ctype.gebuehren.contains(&item.stelle) {
                return Err(invalid(format!(
                    "Die Tarifstelle {} gehört nicht zur Vorgangsart {}.",
                    item.stelle, ctype.name
                )));
            }
        }
        let tax = match (&ctype.steuer, ctype.answer_kind(), &src.decision) {
            (
                Some(rates),
                domain::casetype::AnswerKind::Steuerbescheid,
                None | Some((Ergebnis::Bewilligt, _)),
            ) if req.kind == LetterKind::Bescheid => Some(rates),
            _ => None,
        };
        let fees = if src.assessed {
            None
        } else if let Some(rates) = tax {
            // A Steuerbescheid books the first (partial) year's tax with a
            // Kassenzeichen; the following years fall due by the by-law's instalments.
            rates.assess(1, facts.eingang).map(|a| {
                let line = a.first_year_line(rates, ctype.name.trim_end_matches("-Anmeldung"));
                FeeTotal {
                    total_cent: line.cent,
                    lines: vec![line],
                }
            })
        } else if fee_items.is_empty() {
            None
        } else {
            Some(
                cfg.tariff
                    .compute(&fee_items)
                    .map_err(|e| invalid(e.to_string()))?,
            )
        };
        let reply_destination = src.reply_destination;
        let payment_url = src.payment_url;
        let mut channels = Vec::new();
        // Only a real FIT-Connect case can take a reply (cases taken over from an
        // earlier system carry other references).
        let portal_case = rec
            .fc_case_id
            .as_deref()
            .is_some_and(|c| uuid::Uuid::parse_str(c).is_ok());
        let email = crate::casework::citizen_email(src.metadata.as_ref());
        // By e-mail only with the citizen's key that holds up, and a relay.
        let mail_ready = src.mail.is_some() || src.mail_at_server;
        let email_ready = crate::casework::email_ready(email.as_ref(), mail_ready);
        if portal_case && email_ready {
            channels.push("email".to_owned());
        }
        let mailbox = crate::bundid::mailbox_of(src.metadata.as_ref());
        let bundid_ready = src.bundid.is_some() && mailbox.is_some();
        if portal_case && bundid_ready {
            channels.push("bundid".to_owned());
        }
        if portal_case && reply_destination.is_some() {
            channels.push("postfach".to_owned());
        }
        channels.push("post".to_owned());
        let mut kinds = Vec::new();
        for v in &ctype.vorlagen {
            let kind = match v.as_str() {
                "eingangsbestaetigung" if state.is_open() => LetterKind::Eingangsbestaetigung,
                "nachforderung" if state == CaseState::Nachgefordert => LetterKind::Nachforderung,
                "bescheid" if state == CaseState::Entschieden => LetterKind::Bescheid,
                "anhoerung" if state == CaseState::InBearbeitung => LetterKind::Anhoerung,
                "fristverlaengerung"
                    if state.is_open()
                        && facts
                            .frist
                            .as_ref()
                            .is_some_and(|f| f.verlaengert.is_some()) =>
                {
                    LetterKind::Fristverlaengerung
                }
                // On request, once the fiction is recorded (§ 42a Abs. 3 VwVfG).
                "fiktionsbescheinigung"
                    if state == CaseState::GiltAlsErteilt
                        && facts.frist.as_ref().is_some_and(|f| {
                            f.uhr == domain::deadline::ClockKind::Fiktion
                                && f.ende.is_some_and(|e| e < facts.datum)
                        }) =>
                {
                    LetterKind::Fiktionsbescheinigung
                }
                "gebuehrenbescheid"
                    if matches!(state, CaseState::Entschieden | CaseState::Versandt)
                        && fees.as_ref().is_some_and(|f| f.total_cent > 0) =>
                {
                    LetterKind::Gebuehrenbescheid
                }
                _ => continue,
            };
            kinds.push(kind);
        }
        Ok(Prepared {
            reply_channel: crate::casework::reply_channel_view(
                src.metadata.as_ref(),
                reply_destination.is_some(),
                email_ready,
                bundid_ready,
            ),
            application: crate::bundid::application_of(src.metadata.as_ref()),
            mailbox,
            bundid: src.bundid,
            mail: src.mail,
            mail_ready,
            email,
            decision: src.decision,
            requested: src.requested,
            paid: paid_online(src.metadata.as_ref()).map(|p| p.0),
            paid_cent: paid_online(src.metadata.as_ref()).and_then(|p| p.1),
            hkr_dir: src.hkr_dir,
            rec,
            ctype,
            state,
            facts,
            town,
            logo,
            cfg,
            fee_items,
            fees,
            kinds,
            channels,
            reply_destination,
            payment_url,
        })
    }

    fn compose(
        p: &Prepared,
        kind: LetterKind,
        kassenzeichen: &str,
        due: jiff::civil::Date,
        edits: &[TextBlock],
    ) -> Result<Draft, AppError> {
        let section = p.fees.as_ref().map(|f| FeeSection {
            lines: f.lines.clone(),
            total_cent: f.total_cent,
            kassenzeichen: kassenzeichen.to_owned(),
            faellig_am: due.to_string(),
            bezahlt_referenz: p.paid.clone(),
            bezahlt_cent: p.paid_cent,
            rechtsgrundlagen: f
                .lines
                .iter()
                .filter_map(|l| p.cfg.tariff.tarif.iter().find(|e| e.stelle == l.stelle))
                .map(|e| e.rechtsgrundlage.clone())
                .collect(),
        });
        let draft = match kind {
            LetterKind::Eingangsbestaetigung => Draft::eingangsbestaetigung(&p.facts),
            LetterKind::Nachforderung => Draft::nachforderung(
                &p.facts,
                &p.requested.0,
                p.requested.1.unwrap_or(p.facts.datum),
            ),
            LetterKind::Bescheid => {
                let (ergebnis, reason) = p
                    .decision
                    .clone()
                    .unwrap_or((Ergebnis::Bewilligt, String::new()));
                use domain::casetype::AnswerKind;
                let basis = p.ctype.rechtsgrundlage.as_str();
                let mut d = match (p.ctype.answer_kind(), ergebnis, &p.ctype.steuer) {
                    (AnswerKind::Empfangsbescheinigung, Ergebnis::Bewilligt, _) => {
                        Draft::empfangsbescheinigung(&p.facts, &p.town, basis, section)
                    }
                    (AnswerKind::Steuerbescheid, Ergebnis::Bewilligt, Some(rates)) => {
                        Draft::steuerbescheid(&p.facts, &p.town, basis, rates, 1, section)
                    }
                    _ => Draft::bescheid(&p.facts, &p.town, ergebnis, section),
                }
                .map_err(letter_error)?;
                if !reason.trim().is_empty()
                    && let Some(b) = d.blocks.iter_mut().find(|b| b.key == "begruendung")
                {
                    b.text = reason;
                }
                d
            }
            LetterKind::Fristverlaengerung => {
                Draft::fristverlaengerung(&p.facts).map_err(letter_error)?
            }
            LetterKind::Anhoerung => Draft::anhoerung(&p.facts, Self::hearing_until(p)),
            LetterKind::Fiktionsbescheinigung => {
                Draft::fiktionsbescheinigung(&p.facts).map_err(letter_error)?
            }
            LetterKind::Gebuehrenbescheid => {
                let section = section.ok_or_else(|| {
                    invalid("Für diesen Vorgang sind keine Gebühren festgesetzt.")
                })?;
                Draft::gebuehrenbescheid(&p.facts, &p.town, section).map_err(letter_error)?
            }
        };
        draft.with_edits(edits).map_err(letter_error)
    }

    /// The day a letter of today counts as delivered by post (§ 41 VwVfG, § 122 AO).
    fn delivered(p: &Prepared) -> jiff::civil::Date {
        p.cfg
            .types
            .delivery_rules()
            .by_post(p.ctype.procedural_law(), p.facts.datum, &p.cfg.calendar)
            .unwrap_or(p.facts.datum)
    }

    /// The end of the period to comment after a hearing letter of today: two weeks
    /// from the day it counts as delivered.
    fn hearing_until(p: &Prepared) -> jiff::civil::Date {
        use jiff::ToSpan;
        let delivered = Self::delivered(p);
        delivered.checked_add(14.days()).unwrap_or(delivered)
    }

    fn due_date(p: &Prepared) -> jiff::civil::Date {
        use jiff::ToSpan;
        let delivered = Self::delivered(p);
        delivered
            .checked_add(i64::from(p.cfg.tariff.faellig_tage).days())
            .unwrap_or(delivered)
    }

    /// Why a letter cannot go out now, if it cannot.
    fn blocked(p: &Prepared, kind: LetterKind, kanal: &str) -> Option<String> {
        if !p.kinds.contains(&kind) {
            return Some(format!(
                "Ein Brief „{}“ ist für diesen Vorgang im Zustand „{}“ nicht vorgesehen.",
                kind.title(),
                p.state.label()
            ));
        }
        if !p.channels.iter().any(|c| c == kanal) {
            return Some(match kanal {
                "postfach" => "Der Versand an das Portal (FIT-Connect-Einreichung) ist nicht möglich: der Antrag kam nicht über das Portal, oder der Rückkanal (replyDestinationId) ist nicht eingerichtet.".into(),
                "email" => match (&p.email, p.mail_ready) {
                    (None, _) => "Der Versand per E-Mail ist nicht möglich: die Antragstellerin oder der Antragsteller hat keine E-Mail-Adresse als Antwortweg angegeben.".into(),
                    (Some((_, None)), _) => "Ohne OpenPGP-Schlüssel der Antragstellerin oder des Antragstellers geht kein Schreiben per E-Mail. Bitte per Post senden; die E-Mail kündigt den Brief dann nur an.".into(),
                    (_, false) => "Es ist kein Mailserver eingerichtet. Die Administration richtet ihn ein (Verwaltung → E-Mail).".into(),
                    (Some((_, Some(_))), true) => "Der OpenPGP-Schlüssel der Antragstellerin oder des Antragstellers ist unbrauchbar (nicht lesbar, abgelaufen, widerrufen oder ohne Schlüssel zum Verschlüsseln). Bitte per Post senden.".into(),
                },
                "bundid" => match (&p.mailbox, &p.bundid) {
                    (None, _) => "Der Versand an das BundID-Postfach ist nicht möglich: die Antragstellerin oder der Antragsteller hat kein BundID-Postfach als Antwortweg angegeben.".into(),
                    _ => "Das BundID-Postfach ist nicht eingerichtet oder das BPKI-Zertifikat ist nicht gültig. Die Administration richtet es ein (amtsstube bundid einrichten).".into(),
                },
                _ => format!("Unbekannter Versandweg „{kanal}“ (email, bundid, postfach oder post)."),
            });
        }
        let books = matches!(kind, LetterKind::Bescheid | LetterKind::Gebuehrenbescheid)
            && p.fees.as_ref().is_some_and(|f| f.total_cent > 0);
        if books && p.hkr_dir.is_none() {
            return Some("Es ist kein Kassenordner (HKR) eingerichtet; die Gebühr kann nicht gebucht werden. Die Administration richtet ihn ein: amtsstube kasse ordner <Pfad>.".into());
        }
        None
    }

    /// The draft before sending: the Kassenzeichen is handed out only when it goes out.
    fn unsent_draft(&mut self, req: &LetterRequest) -> Result<(Prepared, Draft), AppError> {
        let p = if self.office_mode()? {
            self.office_prepare_letter(req)?.prepared
        } else {
            self.prepare_letter(req)?
        };
        let draft = Self::compose(
            &p,
            req.kind,
            "(wird beim Versand vergeben)",
            Self::due_date(&p),
            &req.edits,
        )?;
        Ok((p, draft))
    }

    /// The letter view: possible letters, channels, fees and the draft.
    pub fn letter_view(&mut self, req: &LetterRequest) -> Result<LetterView, AppError> {
        let (p, draft) = self.unsent_draft(req)?;
        Ok(LetterView {
            blocked: Self::blocked(&p, req.kind, &req.kanal),
            reply_channel: p.reply_channel.clone(),
            kinds: p.kinds.clone(),
            channels: p.channels.clone(),
            tariff: p
                .ctype
                .gebuehren
                .iter()
                .filter_map(|s| p.cfg.tariff.tarif.iter().find(|e| &e.stelle == s))
                .map(|e| TariffOption {
                    stelle: e.stelle.clone(),
                    bezeichnung: e.bezeichnung.clone(),
                    art: e.art.clone(),
                    betrag_cent: e.betrag_cent,
                    min_cent: e.min_cent,
                    max_cent: e.max_cent,
                    einheit: e.einheit.clone(),
                })
                .collect(),
            fees: p.fee_items.clone(),
            paid_online: p.paid.clone(),
            draft,
        })
    }

    /// The letter as PDF, rendered in memory for the preview (nothing is stored).
    pub fn letter_preview(&mut self, req: &LetterRequest) -> Result<Vec<u8>, AppError> {
        let (p, draft) = self.unsent_draft(req)?;
        render_now(&p, &draft)
    }

    /// Send a letter: render, store encrypted in the case and queue the reply and the
    /// bookings in one transaction (see the module documentation). A Bescheid or a
    /// Fiktionsbescheinigung moves the case to "Versandt" with the channel recorded.
    pub fn send_letter(&mut self, req: &LetterRequest) -> Result<crate::CaseDetail, AppError> {
        if self.office_mode()? {
            // Queued as one command; the Rathaus-Server sends it.
            self.office_letter(req)?;
            return self.case_detail(&req.case_id);
        }
        let p = self.prepare_letter(req)?;
        if let Some(why) = Self::blocked(&p, req.kind, &req.kanal) {
            return Err(invalid(why));
        }
        let books = books(&p, req.kind);
        let session = self.session_with_mut(Permission::EditCases)?;
        let kz = if books {
            let arbeitsplatz = p.cfg.types.arbeitsplatz;
            let n = session.next_counter(&format!("kassenzeichen-{arbeitsplatz:02}"))?;
            kassenzeichen_of(&p, n)
        } else {
            String::new()
        };
        let Made { pdf, filename, out } = make(&p, req, &kz, books)?;

        let transition_action = Action::Versenden {
            kanal: req.kanal.clone(),
        };
        let next = if dispatches(req.kind) {
            Some(
                lifecycle::apply(p.state, &transition_action, lifecycle::Context::default())
                    .map_err(|e| invalid(e.to_string()))?,
            )
        } else {
            None
        };
        let detail = serde_json::json!({
            "brief": req.kind.key(),
            "kanal": req.kanal,
            "antwortweg": p.channel_record(&req.kanal),
            "datei": filename,
            "kassenzeichen": (!kz.is_empty()).then_some(&kz),
            // A hearing's period to comment (§ 28 VwVfG): decisions wait for it.
            "frist": (req.kind == LetterKind::Anhoerung)
                .then(|| Self::hearing_until(&p).to_string()),
        })
        .to_string();
        let transition = next.map(|next| Transition {
            case_id: &p.rec.id,
            from: p.state.as_str(),
            to: next.as_str(),
            kind: transition_action.kind().as_str(),
            detail: Some(detail.clone()),
            complete_at: None,
            waiting_from: None,
        });

        let case_key = p.rec.fc_case_id.clone().unwrap_or_else(|| p.rec.id.clone());
        // The BundID Statusmonitor learns of the move (e.g. "Bescheid versandt").
        let status = match next {
            Some(next) => crate::bundid::status_item(
                session,
                &p.rec,
                p.state,
                next,
                &p.ctype.name,
                &p.town.behoerde,
            )?,
            None => None,
        };
        // Its files are named with hash and length now; the blob id comes with the row.
        let bundid = out.bundid.as_ref().map(|d| d.item(&pdf, "")).transpose()?;
        let letter = OutgoingLetter {
            case_id: &p.rec.id,
            filename,
            detail: Some(detail),
            transition,
        };
        session.record_letter(&letter, &pdf, |blob_id| {
            let mut items = Vec::new();
            if let Some(mut item) = out.reply.clone() {
                for a in &mut item.attachments {
                    a.blob_id = blob_id.to_owned();
                }
                items.push(item.outbox_item(&format!("reply:{blob_id}")));
            }
            if let (Some(mut mail), Some(relay)) = (out.mail.clone(), &p.mail) {
                let key = format!("mail:{blob_id}");
                mail.message_id = sync::mail::message_id(&key, relay.domain());
                if let Some(a) = &mut mail.attachment {
                    a.blob_id = blob_id.to_owned();
                }
                // Its own order: a refused address holds back no booking.
                items.push(mail.outbox_item(&key, &format!("mail:{case_key}")));
            }
            if let Some(mut item) = bundid.clone() {
                for a in &mut item.attachments {
                    a.blob_id = blob_id.to_owned();
                }
                items.push(item.outbox_item(
                    &format!("bundid:{blob_id}"),
                    &crate::bundid::message_order(&case_key),
                ));
            }
            if let Some(h) = &out.hkr {
                items.push(
                    h.outbox_item(&format!("hkr:{}", h.file_stem), &format!("hkr:{case_key}")),
                );
            }
            if let Some(pay) = &out.payment {
                items.push(pay.outbox_item(&format!("payment:{}", pay.kassenzeichen), &case_key));
            }
            if let Some(s) = &status {
                items.push(s.clone());
            }
            items
        })?;
        self.case_detail(&req.case_id)
    }

    /// The outbox items of a case (reply, bookings, accept) with their state.
    pub fn case_outbox(&mut self, case_id: &str) -> Result<Vec<OutboxView>, AppError> {
        if self.office_mode()? {
            return self.office_case_outbox(case_id);
        }
        let (session, rec) = self.visible_case(case_id, Permission::ReadCases)?;
        let key = rec.fc_case_id.clone().unwrap_or_else(|| rec.id.clone());
        let items = session.outbox_items_for(&[
            key.as_str(),
            &format!("hkr:{key}"),
            &format!("mail:{key}"),
            &crate::bundid::message_order(&key),
            &crate::bundid::status_order(&key),
        ])?;
        Ok(items
            .into_iter()
            .map(|i| OutboxView {
                what: match i.kind.as_str() {
                    "accept" => "Eingangsbestätigung an das Portal",
                    "reject" => "Zurückweisung an das Portal",
                    "reply" => "Brief an das Portal (FIT-Connect-Einreichung)",
                    "payment" => "Zahlungsanforderung an das Portal",
                    "hkr" => "Annahmeanordnung an die Kasse",
                    "mail" if mail_notice(&i.payload) => "Hinweis per E-Mail (Brief per Post)",
                    "mail" => "Brief per E-Mail (verschlüsselt)",
                    "bundid" if bundid_status(&i.payload) => {
                        "Statusmeldung an den BundID-Statusmonitor"
                    }
                    "bundid" => "Brief an das BundID-Postfach",
                    _ => "Nachricht",
                }
                .to_owned(),
                state: match (i.state.as_str(), i.remote_id.is_some()) {
                    ("done", _) => "bestätigt",
                    ("failed", _) => "fehlgeschlagen",
                    (_, true) => "gesendet",
                    _ => "wartet",
                }
                .to_owned(),
                attempts: i.attempts,
                error: i.last_error,
            })
            .collect())
    }

    /// The case id of an Aktenzeichen (CLI).
    pub fn case_id_by_file_number(&mut self, file_number: &str) -> Result<String, AppError> {
        let list = self.work_list(crate::WorkListQuery {
            offset: 0,
            limit: 20,
            view: None,
            search: Some(file_number.to_owned()),
            sort: None,
        })?;
        list.items
            .into_iter()
            .find(|c| c.file_number == file_number)
            .map(|c| c.id)
            .ok_or_else(|| {
                AppError::new(
                    ErrorCode::NotFound,
                    format!(
                        "Einen Vorgang {file_number} gibt es nicht (oder er ist nicht sichtbar)."
                    ),
                )
            })
    }

    /// Set the HKR exchange folder (administration): an existing absolute directory.
    pub fn set_hkr_folder(&mut self, dir: &str) -> Result<(), AppError> {
        let path = std::path::Path::new(dir);
        if !path.is_absolute() || !path.is_dir() {
            return Err(invalid(format!(
                "Der Kassenordner {dir} ist kein vorhandenes Verzeichnis (absoluter Pfad nötig)."
            )));
        }
        self.session_with_mut(Permission::ConfigurePortal)?
            .set_setting(HKR_SETTING, dir)?;
        Ok(())
    }
}

/// Is this mail item the notice without content?
pub(crate) fn bundid_status(payload: &str) -> bool {
    serde_json::from_str::<sync::BundIdItem>(payload).is_ok_and(|i| i.is_status())
}

pub(crate) fn mail_notice(payload: &str) -> bool {
    serde_json::from_str::<sync::mail::MailItem>(payload).map_or(true, |m| m.notice())
}

/// A letter made at a desk in office mode, waiting in the upload queue.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OfficeLetter {
    pub filename: String,
    /// The Kassenzeichen the fee is booked under, if one is.
    pub kassenzeichen: Option<String>,
    /// What the server will send: "Portal", "Zahlungsanforderung", "Kasse".
    pub sends: Vec<String>,
}

/// A decision's sealed reason: `{ergebnis, begruendung}` (or plain text).
fn decision_of(plain: &[u8]) -> (Ergebnis, String) {
    let parsed = serde_json::from_slice::<serde_json::Value>(plain).ok();
    let ergebnis = parsed
        .as_ref()
        .and_then(|v| serde_json::from_value::<Decision>(v["ergebnis"].clone()).ok());
    let text = parsed
        .as_ref()
        .and_then(|v| v["begruendung"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(plain).into_owned());
    let ergebnis = match ergebnis {
        Some(Decision::Abgelehnt) => Ergebnis::Abgelehnt,
        Some(Decision::TeilweiseBewilligt) => Ergebnis::Teilweise,
        _ => Ergebnis::Bewilligt,
    };
    (ergebnis, text)
}

impl Workstation {
    /// A letter in office mode, prepared at this desk from the replica: the case,
    /// its history (decision, request, fee already booked), the application's data
    /// from the server when it is reachable. `req.case_id`: the Aktenzeichen or
    /// the case's id.
    pub(crate) fn office_prepare_letter(
        &mut self,
        req: &LetterRequest,
    ) -> Result<OfficePrepared, AppError> {
        use office::keyring::KeyKind;
        let (case_id, based_on) = self.office_case_id(&req.case_id)?;
        let file_number = self
            .replica_mut()?
            .view(case_id)
            .map(|m| m.file_number)
            .ok_or_else(|| invalid("Der Vorgang fehlt im Replikat."))?;
        let detail = self.office_case(&file_number)?;
        let meta = self
            .replica_mut()?
            .view(case_id)
            .ok_or_else(|| invalid("Der Vorgang fehlt im Replikat."))?;
        let online: Option<crate::desk::OnlineContent> = match self
            .session_with(Permission::RunSync)?
            .replica_content(case_id)?
        {
            Some(c) => serde_json::from_slice(&self.office_open(KeyKind::Fall, &c)?).ok(),
            None => None,
        };
        // The history: decision, request, and whether a fee was booked already.
        let events = self.office_events(case_id)?;
        let (mut decided, mut requested, mut assessed) = (None, (Vec::new(), None), false);
        for e in &events {
            let Some(content) = &e.content else {
                continue;
            };
            let plain = self.office_open(KeyKind::Fall, content)?;
            match e.kind.as_str() {
                "entscheiden" => decided = Some(decision_of(&plain)),
                "nachfordern" => {
                    let text = String::from_utf8_lossy(&plain);
                    requested = (
                        text.lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .map(str::to_owned)
                            .collect(),
                        None,
                    );
                }
                "versenden" | "brief" => {
                    assessed |= serde_json::from_slice::<serde_json::Value>(&plain)
                        .is_ok_and(|v| v["kassenzeichen"].is_string());
                }
                _ => {}
            }
        }
        // The application's data (the address) comes from the server when it is
        // reachable; without it the letter has no address block.
        let documents = self.office_documents(&file_number).unwrap_or_default();
        let json_of = |kind: &str| {
            documents
                .iter()
                .find(|d| d.kind == kind)
                .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d.bytes).ok())
        };
        let versand: Option<office::protocol::Versand> = self
            .session_with(Permission::RunSync)?
            .setting(crate::desk::VERSAND)?
            .and_then(|j| serde_json::from_str(&j).ok())
            .flatten();
        let placeholder = |on: bool| on.then(String::new);
        let source = LetterSource {
            rec: CaseRecord {
                id: case_id.to_string(),
                file_number: meta.file_number.clone(),
                case_type: online
                    .as_ref()
                    .and_then(|o| o.service.clone())
                    .unwrap_or_else(|| meta.case_type.clone()),
                case_type_code: None,
                applicant: detail.applicant.clone().unwrap_or_default(),
                status: meta.state.as_str().to_owned(),
                received_at: meta.received_at.clone(),
                assigned_to: meta.assignee.clone(),
                complete_at: None,
                waiting_from: None,
                extended: false,
                fc_case_id: online.as_ref().and_then(|o| o.fc_case_id.clone()),
            },
            data: json_of("data"),
            metadata: json_of("metadata"),
            me: self
                .session_with(Permission::RunSync)?
                .user()
                .display_name
                .clone(),
            assessed,
            decision: decided,
            requested,
            // The server fills in its own routing; the desk only knows it exists.
            reply_destination: versand
                .as_ref()
                .is_some_and(|v| v.postfach)
                .then(uuid::Uuid::nil),
            payment_url: placeholder(versand.as_ref().is_some_and(|v| v.zahlung)),
            hkr_dir: placeholder(versand.as_ref().is_some_and(|v| v.kasse)),
            // The Rathaus-Server sends the e-mail with its own relay and the BundID
            // message with its own bridge and key pair (the nil bridge stands in).
            mail: None,
            mail_at_server: versand.as_ref().is_some_and(|v| v.email),
            bundid: versand
                .as_ref()
                .and_then(|v| v.bundid)
                .map(|level| (uuid::Uuid::nil(), level)),
            history: {
                let cfg = self.casework_config()?;
                let events = self.office_events(case_id)?;
                crate::desk::views::replica_record(&meta, events, Some(&cfg)).1
            },
        };
        let mut source = source;
        if crate::casework::case_type(&*self.casework_config()?, &source.rec).is_none() {
            // Paper cases carry the type's short code.
            source.rec.case_type_code = Some(meta.case_type.clone());
        }
        let prepared = self.prepare_from(source, req)?;
        Ok(OfficePrepared {
            prepared,
            case_id,
            based_on,
            versand,
        })
    }

    /// Make a letter at this desk (office mode) and queue it as one command: the
    /// PDF and its history entry sealed to the case key, and – for the reply, the
    /// payment request and the HKR booking – what the Rathaus-Server must send
    /// (sealed to its delivery key). A fee gets a Kassenzeichen from the block
    /// leased in advance, so this works offline; the server sends once the
    /// command reaches it. `req.case_id`: the Aktenzeichen or the case's id.
    pub fn office_letter(&mut self, req: &LetterRequest) -> Result<OfficeLetter, AppError> {
        use base64::Engine as _;
        use office::keyring;
        let OfficePrepared {
            prepared: p,
            case_id,
            based_on,
            versand,
        } = self.office_prepare_letter(req)?;
        if let Some(why) = Self::blocked(&p, req.kind, &req.kanal) {
            return Err(invalid(
                why.replace(
                    "amtsstube kasse ordner <Pfad>",
                    "amtsstube-server kasse --ordner <Pfad>",
                )
                .replace(
                    "(Verwaltung → E-Mail)",
                    "am Rathaus-Server (amtsstube-server email)",
                )
                .replace(
                    "(amtsstube bundid einrichten)",
                    "am Rathaus-Server (amtsstube-server bundid einrichten)",
                ),
            ));
        }
        let books = books(&p, req.kind);
        let kz = if books {
            let n = self
                .session_with_mut(Permission::RunSync)?
                .office_take_number(crate::desk::KASSENZEICHEN)?
                .ok_or_else(|| {
                    invalid("Keine Kassenzeichen mehr vorrätig: Bitte einmal mit dem Rathaus-Server abgleichen.")
                })?;
            kassenzeichen_of(
                &p,
                u64::try_from(n).map_err(|_| invalid("Ungültige Kassenzeichen-Nummer."))?,
            )
        } else {
            String::new()
        };
        let Made { pdf, filename, out } = make(&p, req, &kz, books)?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&pdf);
        let mut sends = Vec::new();
        let delivery = if out.reply.is_some()
            || out.hkr.is_some()
            || out.payment.is_some()
            || out.mail.is_some()
            || out.bundid.is_some()
        {
            let v = versand.as_ref().ok_or_else(|| {
                invalid("Der Rathaus-Server hat noch nicht gesagt, wie er versendet: Bitte einmal abgleichen.")
            })?;
            if out.reply.is_some() {
                sends.push("Portal".to_owned());
            }
            if out.payment.is_some() {
                sends.push("Zahlungsanforderung".to_owned());
            }
            if out.hkr.is_some() {
                sends.push("Kasse".to_owned());
            }
            match &out.mail {
                Some(m) if m.notice() => sends.push("Hinweis per E-Mail".to_owned()),
                Some(_) => sends.push("E-Mail (verschlüsselt)".to_owned()),
                None => {}
            }
            if out.bundid.is_some() {
                sends.push("BundID-Postfach".to_owned());
            }
            let package = sync::Delivery {
                reply: out.reply,
                letter: b64.clone(),
                payment: out.payment,
                hkr: out.hkr,
                mail: out.mail,
                bundid: out.bundid.map(|d| d.item(&pdf, "")).transpose()?,
            };
            let json = serde_json::to_vec(&package).map_err(|e| storage(e.to_string()))?;
            Some(
                keyring::seal(&json, &[v.empfaenger.as_str()])
                    .map_err(|r| AppError::new(ErrorCode::InvalidInput, r.reason))?,
            )
        } else {
            None
        };
        let kz_opt = (!kz.is_empty()).then(|| kz.clone());
        let history = serde_json::json!({
            "brief": req.kind.key(),
            "kanal": req.kanal,
            "antwortweg": p.channel_record(&req.kanal),
            "datei": filename,
            "kassenzeichen": kz_opt,
        });
        let document = serde_json::json!({
            "kind": domain::DocumentKind::Letter.as_str(),
            "filename": filename,
            "mimeType": "application/pdf",
            "data": b64,
        });
        let sealed_detail = self.seal_for_cases(&history.to_string())?;
        let sealed_document = self.seal_for_cases(&document.to_string())?;
        self.office_act(office::CommandBody::Letter {
            case_id,
            based_on,
            letter: req.kind.key().to_owned(),
            kanal: req.kanal.clone(),
            versendet: dispatches(req.kind),
            kassenzeichen: kz_opt.clone(),
            detail: sealed_detail,
            document: sealed_document,
            delivery,
        })?;
        Ok(OfficeLetter {
            filename,
            kassenzeichen: kz_opt,
            sends,
        })
    }
}
