//! Letters made at the desks, sent by the Rathaus-Server: the reply to the
//! citizen's portal mailbox, the e-mail to the citizen (PGP/MIME, or the notice
//! that the letter goes by post), the payment request to the portal's payment
//! service and the Annahmeanordnung for the cash system (HKR).
//!
//! The desk seals what must be sent to the server's own delivery key
//! (`zustellung.key` in the server's directory, owner-only). The server opens it
//! while it applies the letter command, fills in its own routing (reply
//! destination, payment service, exchange folder), and queues each part in the
//! outbox sealed again to the delivery key – in the command's transaction, so a
//! letter is applied together with its deliveries or not at all. The `sync` run
//! opens an item only to send it; once it went out, its sealed content is wiped.
//! The letter stays in the record only as the case key's copy.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use deadpool_postgres::GenericClient;
use office::keyring;
use office::keyring::SecretString;
use office::protocol::Versand;
use office::{Ciphertext, Refusal};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::{Result, ServerError};
use crate::record::{Record, stmt};

/// The server's delivery settings: its key and where things go.
pub struct DeliverySettings {
    pub identity: SecretString,
    pub recipient: String,
    /// The citizens' portal mailbox (FIT-Connect reply destination).
    pub reply_destination: Option<Uuid>,
    /// The portal's payment-transaction endpoint.
    pub payment_url: Option<String>,
    /// The cash system's exchange folder.
    pub hkr_dir: Option<PathBuf>,
    /// The town's SMTP relay for answers by e-mail.
    pub mail: Option<sync::mail::Relay>,
    /// The ZBP bridge and the town's BPKI key pair for BundID mailboxes.
    pub bundid: Option<BundIdRoute>,
    /// The town's mailbox the relay's late bounces arrive in (read by IMAP).
    pub bounce: Option<sync::bounce::BounceBox>,
}

/// Where and as whom letters to BundID mailboxes go.
pub struct BundIdRoute {
    pub bridge: Uuid,
    /// The authority the Statusmonitor names (the town hall's name).
    pub sender: String,
    /// Trust level of the citizens' logins the town states (1–4).
    pub level: u8,
    pub author: fitconnect::zbp::Author,
}

impl DeliverySettings {
    /// What the desks learn of it.
    pub fn versand(&self) -> Versand {
        Versand {
            empfaenger: self.recipient.clone(),
            postfach: self.reply_destination.is_some(),
            zahlung: self.payment_url.is_some(),
            kasse: self.hkr_dir.is_some(),
            email: self.mail.is_some(),
            bundid: self.bundid.as_ref().map(|b| b.level),
        }
    }
}

/// The routing part of the destination's settings file (beside the subscriber's
/// keys): where replies and payment requests go.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Routing {
    #[serde(default)]
    pub reply_destination_id: Option<Uuid>,
    #[serde(default)]
    pub payment_url: Option<String>,
}

/// One outbox item of a letter, its payload sealed to the delivery key.
pub(crate) struct Queued {
    pub key: String,
    pub kind: &'static str,
    pub ordering_key: String,
    pub sealed: Vec<u8>,
    /// The Message-ID of an e-mail that carries a letter: a late bounce names it.
    pub bounce_id: Option<String>,
}

/// What a letter command leaves in the record beside its history entry.
pub(crate) struct LetterWork {
    pub document: Vec<u8>,
    pub items: Vec<Queued>,
    /// The letter for the reply's attachment, sealed to the delivery key.
    pub blob: Option<(String, Vec<u8>)>,
}

fn refuse(reason: impl Into<String>) -> Refusal {
    Refusal::invalid(reason.into())
}

fn seal_json<T: serde::Serialize>(
    value: &T,
    recipient: &str,
) -> std::result::Result<Vec<u8>, Refusal> {
    let json = serde_json::to_vec(value).map_err(|e| refuse(e.to_string()))?;
    keyring::seal_document(&json, &[recipient])
}

/// The letter of a delivery (base64), decoded and checked to be a PDF once.
fn letter_of<'a>(
    cell: &'a std::cell::OnceCell<Vec<u8>>,
    base64: &str,
) -> std::result::Result<&'a [u8], Refusal> {
    if let Some(letter) = cell.get() {
        return Ok(letter);
    }
    let letter = base64::engine::general_purpose::STANDARD
        .decode(base64.as_bytes())
        .map_err(|_| refuse("Der Brief im Versandauftrag ist beschädigt."))?;
    if !letter.starts_with(b"%PDF") {
        return Err(refuse("Der Brief im Versandauftrag ist kein PDF."));
    }
    Ok(cell.get_or_init(|| letter))
}

/// Open and check a letter's delivery and prepare its outbox items. `fc_case`:
/// the case's FIT-Connect case (online applications). A refusal names in German
/// what the server cannot send.
pub(crate) fn prepare(
    settings: Option<&DeliverySettings>,
    command_key: Uuid,
    case_id: Uuid,
    fc_case: Option<Uuid>,
    kassenzeichen: Option<&str>,
    document: &Ciphertext,
    delivery: Option<&Ciphertext>,
) -> std::result::Result<LetterWork, Refusal> {
    let mut work = LetterWork {
        document: document.as_bytes().to_vec(),
        items: Vec::new(),
        blob: None,
    };
    let Some(sealed) = delivery else {
        if kassenzeichen.is_some() {
            return Err(refuse(
                "Ein Brief mit Kassenzeichen braucht seine Buchung; sie fehlt im Befehl.",
            ));
        }
        return Ok(work);
    };
    let settings = settings.ok_or_else(|| {
        refuse("Der Rathaus-Server hat keinen Zustellschlüssel; der Brief kann nicht versandt werden. Die Administration startet den Dienst neu (amtsstube-server serve).")
    })?;
    let plain = keyring::open(sealed, &settings.identity)
        .map_err(|_| refuse("Der Versandauftrag ist nicht für diesen Rathaus-Server verschlüsselt. Bitte einmal abgleichen und den Brief erneut erstellen."))?;
    let d: sync::Delivery = serde_json::from_slice(&plain)
        .map_err(|e| refuse(format!("Der Versandauftrag ist unlesbar: {e}")))?;
    let recipient = settings.recipient.as_str();
    let ordering = fc_case.map_or_else(|| case_id.to_string(), |c| c.to_string());

    // The letter, kept sealed for the item that sends it (reply or e-mail).
    let blob_id = format!("brief:{command_key}");
    // Decoded and checked once, when the first item needs it.
    let pdf = std::cell::OnceCell::new();
    let keep_letter = |work: &mut LetterWork| -> std::result::Result<(), Refusal> {
        if work.blob.is_none() {
            let letter = letter_of(&pdf, &d.letter)?;
            work.blob = Some((
                blob_id.clone(),
                keyring::seal_document(letter, &[recipient])?,
            ));
        }
        Ok(())
    };

    if let Some(mut reply) = d.reply {
        let (Some(fc), Some(dest)) = (fc_case, settings.reply_destination) else {
            return Err(refuse(if fc_case.is_none() {
                "Ein Papierantrag kam nicht über das Portal: Der Brief geht mit der Post."
            } else {
                "Am Rathaus-Server ist kein Rückkanal zum Portal (replyDestinationId) eingerichtet: Der Brief geht mit der Post."
            }));
        };
        keep_letter(&mut work)?;
        reply.case_id = fc;
        reply.destination_id = dest;
        reply.attachments.truncate(1);
        let Some(attachment) = reply.attachments.first_mut() else {
            return Err(refuse("Der Versandauftrag nennt keinen Anhang."));
        };
        attachment.blob_id = blob_id.clone();
        work.items.push(Queued {
            key: format!("reply:{command_key}"),
            kind: "reply",
            ordering_key: ordering.clone(),
            sealed: seal_json(&reply, recipient)?,
            bounce_id: None,
        });
    }
    if let Some(mut mail) = d.mail {
        let relay = settings.mail.as_ref().ok_or_else(|| {
            refuse("Am Rathaus-Server ist kein Mailserver eingerichtet: Der Brief geht mit der Post. Die Administration richtet ihn ein: amtsstube-server email einrichten --server <Name> --absender <Adresse>.")
        })?;
        if mail.to.trim().is_empty()
            || !mail.to.contains('@')
            || mail.to.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(refuse("Die E-Mail-Adresse im Versandauftrag ist ungültig."));
        }
        let key = format!("mail:{command_key}");
        // The server's sender domain; the same key gives the same Message-ID.
        mail.message_id = sync::mail::message_id(&key, relay.domain());
        match mail.pgp_public_key.as_deref() {
            // The notice never carries the letter, whatever the desk sent.
            None => mail.attachment = None,
            Some(k) => {
                sync::mail::check_key(k).map_err(|e| {
                    refuse(format!(
                        "Der OpenPGP-Schlüssel der Antragstellerin oder des Antragstellers taugt nicht: {e}"
                    ))
                })?;
                let attachment = mail
                    .attachment
                    .as_mut()
                    .ok_or_else(|| refuse("Die verschlüsselte E-Mail nennt keinen Anhang."))?;
                keep_letter(&mut work)?;
                attachment.blob_id = blob_id.clone();
            }
        }
        work.items.push(Queued {
            key,
            kind: "mail",
            // Its own order: a refused address holds back no booking.
            ordering_key: format!("mail:{ordering}"),
            // A notice's bounce needs nothing: its letter went by post.
            bounce_id: (!mail.notice()).then(|| mail.message_id.clone()),
            sealed: seal_json(&mail, recipient)?,
        });
    }
    if let Some(mut item) = d.bundid {
        let route = settings.bundid.as_ref().ok_or_else(|| {
            refuse("Am Rathaus-Server ist kein BundID-Postfach (ZBP-Brücke und BPKI-Schlüssel) eingerichtet oder das BPKI-Zertifikat ist nicht gültig: Der Brief geht mit der Post. Die Administration richtet es ein: amtsstube-server bundid einrichten.")
        })?;
        if item.service != fitconnect::zbp::MESSAGE_SERVICE {
            return Err(refuse(
                "Der Versandauftrag für das BundID-Postfach ist keine Nachricht.",
            ));
        }
        let mut message: fitconnect::zbp::Message = serde_json::from_str(&item.content)
            .map_err(|e| refuse(format!("Die BundID-Nachricht ist unlesbar: {e}")))?;
        // The server states the trust level; the letter named must be this one.
        message.stork_qaa_level = route.level;
        keep_letter(&mut work)?;
        let letter = letter_of(&pdf, &d.letter)?;
        let named = match message.attachments.as_slice() {
            [one] => one.clone(),
            _ => {
                return Err(refuse(
                    "Die BundID-Nachricht muss genau den Brief als Anhang nennen.",
                ));
            }
        };
        if named != fitconnect::zbp::FileRef::of(&named.filename, letter) {
            return Err(refuse(
                "Die BundID-Nachricht nennt einen anderen Anhang als den Brief (Prüfsumme oder Länge).",
            ));
        }
        message
            .check()
            .map_err(|e| refuse(format!("Die BundID-Nachricht ist ungültig: {e}")))?;
        item.content = fitconnect::zbp::content_of(&message).map_err(|e| refuse(e.to_string()))?;
        item.bridge = route.bridge;
        item.attachments.truncate(1);
        let Some(attachment) = item.attachments.first_mut() else {
            return Err(refuse("Der Versandauftrag nennt keinen Anhang."));
        };
        attachment.blob_id = blob_id.clone();
        attachment.filename = named.filename;
        attachment.mime_type = "application/pdf".into();
        work.items.push(Queued {
            key: format!("bundid:{command_key}"),
            kind: "bundid",
            // A refused message holds back no booking (as at a desk alone).
            ordering_key: format!("bundid:{ordering}"),
            sealed: seal_json(&item, recipient)?,
            bounce_id: None,
        });
    }
    let kz = |what: &str| -> std::result::Result<(), Refusal> {
        match kassenzeichen {
            Some(k) if k == what => Ok(()),
            _ => Err(refuse(format!(
                "Das Kassenzeichen {what} der Buchung passt nicht zum Brief."
            ))),
        }
    };
    if let Some(mut hkr) = d.hkr {
        let dir = settings.hkr_dir.as_ref().ok_or_else(|| {
            refuse("Am Rathaus-Server ist kein Kassenordner (HKR) eingerichtet; die Gebühr kann nicht gebucht werden. Die Administration richtet ihn ein: amtsstube-server kasse --ordner <Pfad>.")
        })?;
        let stem = hkr
            .file_stem
            .strip_prefix("AO-")
            .unwrap_or_default()
            .to_owned();
        kz(&stem)?;
        hkr.dir = dir.display().to_string();
        work.items.push(Queued {
            key: format!("hkr:{}", hkr.file_stem),
            kind: "hkr",
            ordering_key: format!("hkr:{ordering}"),
            sealed: seal_json(&hkr, recipient)?,
            bounce_id: None,
        });
    }
    if let Some(mut payment) = d.payment {
        kz(&payment.kassenzeichen)?;
        let url = settings.payment_url.clone().ok_or_else(|| {
            refuse("Am Rathaus-Server ist kein Zahlungsdienst des Portals eingerichtet.")
        })?;
        if fc_case.is_none() {
            return Err(refuse(
                "Ein Papierantrag wird nicht über das Portal bezahlt.",
            ));
        }
        payment.url = url;
        work.items.push(Queued {
            key: format!("payment:{}", payment.kassenzeichen),
            kind: "payment",
            ordering_key: ordering,
            sealed: seal_json(&payment, recipient)?,
            bounce_id: None,
        });
    }
    Ok(work)
}

/// What the server keeps of an application for the BundID Statusmonitor (sealed to
/// its delivery key): the id the portal named and the service's name.
#[derive(serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Monitored {
    pub application_id: Uuid,
    pub service: String,
}

/// Keep the Statusmonitor id of a new online case, where the metadata names one
/// and the server can send to BundID (in the pickup's transaction).
pub(crate) async fn monitor(
    tx: &impl GenericClient,
    settings: Option<&DeliverySettings>,
    case_id: Uuid,
    service: &str,
    metadata: Option<&[u8]>,
) -> Result<()> {
    let (Some(settings), Some(metadata)) = (settings, metadata) else {
        return Ok(());
    };
    let application = serde_json::from_slice::<serde_json::Value>(metadata)
        .ok()
        .and_then(|m| {
            m.get("additionalReferenceInfo")?
                .get("idBundDeApplicationId")?
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
        });
    let Some(application_id) = application else {
        return Ok(());
    };
    keep_monitored(
        tx,
        settings,
        case_id,
        &Monitored {
            application_id,
            service: service.to_owned(),
        },
    )
    .await
}

/// Keep what the Statusmonitor needs of a case, sealed to the delivery key (a
/// known case keeps what it has).
pub(crate) async fn keep_monitored(
    tx: &impl GenericClient,
    settings: &DeliverySettings,
    case_id: Uuid,
    monitored: &Monitored,
) -> Result<()> {
    let sealed =
        seal_json(monitored, &settings.recipient).map_err(|r| ServerError::Invalid(r.reason))?;
    tx.execute(
        &stmt(
            tx,
            "INSERT INTO statusmonitor (case_id, sealed) VALUES ($1, $2) ON CONFLICT (case_id) DO NOTHING",
        )
        .await?,
        &[&case_id, &sealed],
    )
    .await?;
    Ok(())
}

/// A step moved the case so that what the citizen sees in the BundID Statusmonitor
/// changes: queue the status update (in the command's transaction). Nothing where
/// the portal named no Statusmonitor id or BundID is not set up. Returns whether
/// something was queued.
pub(crate) async fn status_update(
    tx: &impl GenericClient,
    settings: Option<&DeliverySettings>,
    before: &office::CaseMeta,
    after: &office::CaseMeta,
) -> Result<bool> {
    let (from, to) = (before.state, after.state);
    if sync::bundid::status_of(from) == sync::bundid::status_of(to) {
        return Ok(false);
    }
    let Some((settings, route)) = settings.and_then(|s| s.bundid.as_ref().map(|r| (s, r))) else {
        return Ok(false);
    };
    let Some(row) = tx
        .query_opt(
            &stmt(tx, "SELECT sealed FROM statusmonitor WHERE case_id = $1").await?,
            &[&after.id],
        )
        .await?
    else {
        return Ok(false);
    };
    let sealed: Vec<u8> = row.try_get(0)?;
    let plain = keyring::open_document(&sealed, &settings.identity)
        .map_err(|r| ServerError::Invalid(r.reason))?;
    let monitored: Monitored = serde_json::from_slice(&plain)
        .map_err(|e| ServerError::Invalid(format!("Statusmonitor-Eintrag unlesbar: {e}")))?;
    let clip = |s: &str, n: usize| s.chars().take(n).collect::<String>();
    let (status, details) = sync::bundid::status_of(to);
    let state = fitconnect::zbp::State {
        application_id: monitored.application_id,
        status,
        public_service_name: fitconnect::zbp::German {
            de: clip(&monitored.service, 100),
        },
        sender_name: clip(&route.sender, 100),
        created_date: fitconnect::zbp::created_date(jiff::Timestamp::now()),
        status_details: Some(fitconnect::zbp::German {
            de: details.to_owned(),
        }),
        additional_information: None,
        reference: Some(clip(&after.file_number, 50)),
    };
    state
        .check()
        .map_err(|e| ServerError::Invalid(e.to_string()))?;
    let item = sync::BundIdItem {
        bridge: route.bridge,
        service: fitconnect::zbp::STATUS_SERVICE.into(),
        content: fitconnect::zbp::content_of(&state)
            .map_err(|e| ServerError::Invalid(e.to_string()))?,
        attachments: Vec::new(),
    };
    let fc: Option<Uuid> = tx
        .query_opt(
            &stmt(
                tx,
                "SELECT fc_case_id FROM fc_submissions WHERE case_id = $1 LIMIT 1",
            )
            .await?,
            &[&after.id],
        )
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    let ordering = fc.unwrap_or(after.id);
    let sealed =
        seal_json(&item, &settings.recipient).map_err(|r| ServerError::Invalid(r.reason))?;
    tx.execute(
        &stmt(
            tx,
            "INSERT INTO outbox (idempotency_key, kind, ordering_key, payload, sealed)
             VALUES ($1, 'bundid', $2, '', $3)",
        )
        .await?,
        &[
            &format!("bundid-status:{}:{}", after.id, Uuid::new_v4()),
            &format!("bundid-status:{ordering}"),
            &sealed,
        ],
    )
    .await?;
    Ok(true)
}

/// Write what a letter left: its document and its outbox items (in the
/// command's transaction).
pub(crate) async fn write(
    tx: &impl GenericClient,
    command_key: Uuid,
    case_id: Uuid,
    work: &LetterWork,
) -> Result<()> {
    tx.execute(
        &stmt(
            tx,
            "INSERT INTO case_documents (case_id, submission_id, content, command_key) VALUES ($1, NULL, $2, $3)",
        )
        .await?,
        &[&case_id, &work.document, &command_key],
    )
    .await?;
    if let Some((id, sealed)) = &work.blob {
        tx.execute(
            &stmt(
                tx,
                "INSERT INTO delivery_blobs (id, sealed) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            )
            .await?,
            &[id, sealed],
        )
        .await?;
    }
    for item in &work.items {
        let inserted = tx
            .execute(
                &stmt(
                    tx,
                    "INSERT INTO outbox (idempotency_key, kind, ordering_key, payload, sealed, bounce_id)
                     VALUES ($1, $2, $3, '', $4, $5) ON CONFLICT (idempotency_key) DO NOTHING",
                )
                .await?,
                &[&item.key, &item.kind, &item.ordering_key, &item.sealed, &item.bounce_id],
            )
            .await?;
        if inserted == 0 {
            return Err(ServerError::Invalid(format!(
                "{} ist schon im Versand; ein Kassenzeichen wird nur einmal gebucht.",
                item.key
            )));
        }
    }
    Ok(())
}

impl Record {
    /// Set (or replace) the delivery settings; without them letters that need
    /// sending are refused.
    pub fn set_delivery(&self, settings: Option<DeliverySettings>) {
        if let Ok(mut d) = self.delivery.write() {
            *d = settings.map(Arc::new);
        }
    }

    /// Resolves when a desk's letter has queued something to send.
    pub async fn letters_waiting(&self) {
        self.letters.notified().await;
    }

    pub fn delivery(&self) -> Option<Arc<DeliverySettings>> {
        self.delivery.read().ok().and_then(|d| d.clone())
    }

    /// The plain payload of a sealed outbox item (for the run that sends it).
    pub(crate) fn open_payload(&self, sealed: &[u8]) -> Result<String> {
        let settings = self.delivery().ok_or_else(|| {
            ServerError::Invalid(
                "Ohne Zustellschlüssel kann der Rathaus-Server nichts versenden.".into(),
            )
        })?;
        let plain = keyring::open_document(sealed, &settings.identity)
            .map_err(|r| ServerError::Invalid(r.reason))?;
        String::from_utf8(plain).map_err(|_| ServerError::Invalid("Versandauftrag unlesbar".into()))
    }

    /// Delivery copies still kept (sealed outbox items and letters not yet sent).
    pub async fn delivery_waiting(&self) -> Result<i64> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                &stmt(
                    &client,
                    "SELECT (SELECT count(*) FROM outbox WHERE sealed IS NOT NULL)
                          + (SELECT count(*) FROM delivery_blobs)",
                )
                .await?,
                &[],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    /// The letter behind a reply's attachment, opened to send it.
    pub async fn delivery_blob(&self, id: &str) -> Result<Vec<u8>> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &stmt(&client, "SELECT sealed FROM delivery_blobs WHERE id = $1").await?,
                &[&id],
            )
            .await?
            .ok_or_else(|| {
                ServerError::Invalid(format!(
                    "Der Brief {id} liegt nicht (mehr) zum Versand bereit."
                ))
            })?;
        let sealed: Vec<u8> = row.try_get(0)?;
        let settings = self.delivery().ok_or_else(|| {
            ServerError::Invalid(
                "Ohne Zustellschlüssel kann der Rathaus-Server nichts versenden.".into(),
            )
        })?;
        keyring::open_document(&sealed, &settings.identity)
            .map_err(|r| ServerError::Invalid(r.reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(hkr: bool) -> DeliverySettings {
        let (identity, recipient) = keyring::generate();
        DeliverySettings {
            identity,
            recipient,
            reply_destination: Some(Uuid::new_v4()),
            payment_url: Some("http://127.0.0.1:1/payment".into()),
            hkr_dir: hkr.then(|| PathBuf::from("/srv/kasse")),
            mail: Some(sync::mail::Relay {
                host: "mail.musterstadt.example".into(),
                port: 587,
                security: sync::mail::Security::Starttls,
                user: None,
                password: None,
                from: "buergerbuero@musterstadt.example".into(),
                from_name: None,
                ca_pem: None,
            }),
            bundid: None,
            bounce: None,
        }
    }

    fn package(kz: &str) -> sync::Delivery {
        sync::Delivery {
            reply: Some(sync::ReplyItem {
                case_id: Uuid::nil(),
                destination_id: Uuid::nil(),
                service_type: fitconnect::api::ServiceType {
                    name: Some("Bescheid".into()),
                    description: None,
                    identifier: "urn:de:fim:leika:leistung:1".into(),
                },
                data: serde_json::json!({ "aktenzeichen": "ON-2026-000001" }),
                data_schema: "https://schema.amtsstube.invalid/antwort/1.0.0.json".into(),
                attachments: vec![sync::ReplyAttachment {
                    attachment_id: Uuid::new_v4(),
                    blob_id: "vom Arbeitsplatz".into(),
                    filename: "bescheid.pdf".into(),
                    mime_type: "application/pdf".into(),
                }],
            }),
            letter: base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.7 Brief"),
            payment: Some(sync::PaymentItem {
                url: "https://elsewhere.invalid/".into(),
                request_id: kz.into(),
                kassenzeichen: kz.into(),
                amount_cents: 1500,
                due_date: "2026-12-31".into(),
                description: "Hundesteuer".into(),
            }),
            hkr: Some(sync::HkrItem {
                dir: "/tmp/woanders".into(),
                file_stem: format!("AO-{kz}"),
                csv: "Name;Betrag".into(),
                xml: "<ao/>".into(),
            }),
            mail: None,
            bundid: None,
        }
    }

    fn sealed(p: &sync::Delivery, to: &str) -> Ciphertext {
        keyring::seal(&serde_json::to_vec(p).unwrap(), &[to]).unwrap()
    }

    fn doc() -> Ciphertext {
        let (_, r) = keyring::generate();
        keyring::seal(b"{}", &[r.as_str()]).unwrap()
    }

    #[test]
    fn the_servers_routing_replaces_what_the_desk_sent_and_everything_stays_sealed() {
        let s = settings(true);
        let (key, case, fc) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let d = sealed(&package("5100010000017"), &s.recipient);
        let work = prepare(
            Some(&s),
            key,
            case,
            Some(fc),
            Some("5100010000017"),
            &doc(),
            Some(&d),
        )
        .unwrap();
        let kinds: Vec<&str> = work.items.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, ["reply", "hkr", "payment"]);
        let open = |b: &[u8]| keyring::open_document(b, &s.identity).unwrap();
        let reply: sync::ReplyItem = serde_json::from_slice(&open(&work.items[0].sealed)).unwrap();
        assert_eq!(
            (reply.case_id, reply.destination_id),
            (fc, s.reply_destination.unwrap())
        );
        assert_eq!(reply.attachments[0].blob_id, format!("brief:{key}"));
        let hkr: sync::HkrItem = serde_json::from_slice(&open(&work.items[1].sealed)).unwrap();
        assert_eq!(hkr.dir, "/srv/kasse");
        let pay: sync::PaymentItem = serde_json::from_slice(&open(&work.items[2].sealed)).unwrap();
        assert_eq!(pay.url, "http://127.0.0.1:1/payment");
        let (blob_id, blob) = work.blob.unwrap();
        assert_eq!(blob_id, format!("brief:{key}"));
        assert_eq!(open(&blob), b"%PDF-1.7 Brief");
        // Nothing of it in clear.
        for item in &work.items {
            assert!(
                !item
                    .sealed
                    .windows(6)
                    .any(|w| w == b"Hundes" || w == b"Name;B")
            );
        }
    }

    fn mail(key: Option<String>) -> sync::mail::MailItem {
        sync::mail::MailItem {
            to: "buergerin@example.org".into(),
            pgp_public_key: key,
            subject: "Nachricht von Stadt Musterstadt".into(),
            inner_subject: "Bescheid – Aktenzeichen ON-2026-000001".into(),
            text: "Anbei".into(),
            attachment: Some(sync::mail::MailAttachment {
                blob_id: "vom Arbeitsplatz".into(),
                filename: "bescheid.pdf".into(),
            }),
            message_id: "<fremd@elsewhere.invalid>".into(),
        }
    }

    #[test]
    fn an_email_is_queued_with_the_servers_message_id_a_notice_without_the_letter() {
        let s = settings(true);
        let (_, public) = portal_sim::mail::citizen_key("Bürgerin <b@example.org>").unwrap();
        let fc = Some(Uuid::new_v4());
        let queue = |p: &sync::Delivery| {
            let key = Uuid::new_v4();
            let d = sealed(p, &s.recipient);
            (
                key,
                prepare(Some(&s), key, Uuid::new_v4(), fc, None, &doc(), Some(&d)),
            )
        };
        let open = |b: &[u8]| keyring::open_document(b, &s.identity).unwrap();
        // Encrypted: the letter kept for it, the server's Message-ID and blob.
        let mut p = package("5100010000017");
        (p.reply, p.payment, p.hkr) = (None, None, None);
        p.mail = Some(mail(Some(public.clone())));
        let (key, work) = queue(&p);
        let work = work.unwrap();
        assert_eq!(work.items.len(), 1);
        assert_eq!(work.items[0].kind, "mail");
        assert_eq!(work.items[0].key, format!("mail:{key}"));
        assert!(work.items[0].ordering_key.starts_with("mail:"));
        let m: sync::mail::MailItem = serde_json::from_slice(&open(&work.items[0].sealed)).unwrap();
        assert_eq!(
            m.message_id,
            sync::mail::message_id(&format!("mail:{key}"), "musterstadt.example")
        );
        assert_eq!(m.attachment.unwrap().blob_id, format!("brief:{key}"));
        let (blob_id, blob) = work.blob.unwrap();
        assert_eq!(blob_id, format!("brief:{key}"));
        assert_eq!(open(&blob), b"%PDF-1.7 Brief");
        // A notice: no letter kept, no attachment, whatever the desk sent.
        p.mail = Some(mail(None));
        let work = queue(&p).1.unwrap();
        let m: sync::mail::MailItem = serde_json::from_slice(&open(&work.items[0].sealed)).unwrap();
        assert!(m.notice() && m.attachment.is_none());
        assert!(work.blob.is_none());
        // Refused in German: a key that is none, a forged address, no relay.
        p.mail = Some(mail(Some(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nkaputt".into(),
        )));
        assert!(queue(&p).1.err().unwrap().reason.contains("Schlüssel"));
        let mut bad = mail(Some(public.clone()));
        bad.to = "a@b.example\r\nBcc: alle@example.org".into();
        p.mail = Some(bad);
        assert!(queue(&p).1.err().unwrap().reason.contains("E-Mail-Adresse"));
        let mut no_relay = settings(true);
        no_relay.mail = None;
        p.mail = Some(mail(Some(public)));
        let d = sealed(&p, &no_relay.recipient);
        let r = prepare(
            Some(&no_relay),
            Uuid::new_v4(),
            Uuid::new_v4(),
            fc,
            None,
            &doc(),
            Some(&d),
        );
        assert!(r.err().unwrap().reason.contains("kein Mailserver"));
        assert!(!no_relay.versand().email && s.versand().email);
    }

    #[test]
    fn a_bundid_message_gets_the_servers_bridge_and_level_and_must_name_the_letter() {
        let pki = fitconnect::keys::TestPki::new(2048).unwrap();
        let (key, cert) = pki.issue_author("Musterstadt", 2048).unwrap();
        let mut s = settings(true);
        let bridge = Uuid::new_v4();
        s.bundid = Some(BundIdRoute {
            bridge,
            sender: "Stadt Musterstadt".into(),
            level: 4,
            author: fitconnect::zbp::Author::from_pem(
                &key,
                &cert,
                jiff::Timestamp::now().as_second(),
            )
            .unwrap(),
        });
        let letter = b"%PDF-1.7 Brief";
        let message = |named: &[u8]| fitconnect::zbp::Message {
            mailbox_uuid: Uuid::new_v4(),
            stork_qaa_level: 1,
            sender: "Stadt Musterstadt".into(),
            title: "Bescheid – Aktenzeichen ON-2026-000001".into(),
            content: "<p>Anbei</p>".into(),
            service: "Hundesteuer".into(),
            application_id: None,
            reference: Some("ON-2026-000001".into()),
            attachments: vec![fitconnect::zbp::FileRef::of("bescheid.pdf", named)],
        };
        let item = |m: &fitconnect::zbp::Message| sync::BundIdItem {
            bridge: Uuid::nil(),
            service: fitconnect::zbp::MESSAGE_SERVICE.into(),
            content: fitconnect::zbp::content_of(m).unwrap(),
            attachments: vec![sync::ReplyAttachment {
                attachment_id: Uuid::new_v4(),
                blob_id: String::new(),
                filename: "anders.pdf".into(),
                mime_type: "text/html".into(),
            }],
        };
        let mut p = package("5100010000017");
        (p.reply, p.payment, p.hkr) = (None, None, None);
        let fc = Some(Uuid::new_v4());
        let queue = |p: &sync::Delivery, s: &DeliverySettings| {
            let key = Uuid::new_v4();
            let d = sealed(p, &s.recipient);
            (
                key,
                prepare(Some(s), key, Uuid::new_v4(), fc, None, &doc(), Some(&d)),
            )
        };
        p.bundid = Some(item(&message(letter)));
        let (key, work) = queue(&p, &s);
        let work = work.unwrap();
        assert_eq!(
            (work.items[0].kind, work.items[0].key.clone()),
            ("bundid", format!("bundid:{key}"))
        );
        let open = |b: &[u8]| keyring::open_document(b, &s.identity).unwrap();
        let queued: sync::BundIdItem =
            serde_json::from_slice(&open(&work.items[0].sealed)).unwrap();
        assert_eq!(queued.bridge, bridge);
        let m: fitconnect::zbp::Message = serde_json::from_str(&queued.content).unwrap();
        assert_eq!(m.stork_qaa_level, 4, "the server's trust level");
        assert_eq!(queued.attachments[0].blob_id, format!("brief:{key}"));
        assert_eq!(queued.attachments[0].filename, "bescheid.pdf");
        assert_eq!(open(&work.blob.unwrap().1), letter);
        assert_eq!(s.versand().bundid, Some(4));
        // A message naming another file than the letter, a status in its place,
        // and a server without a bridge: refused in German.
        p.bundid = Some(item(&message(b"%PDF-1.7 anders")));
        assert!(
            queue(&p, &s)
                .1
                .err()
                .unwrap()
                .reason
                .contains("anderen Anhang")
        );
        let mut status = item(&message(letter));
        status.service = fitconnect::zbp::STATUS_SERVICE.into();
        p.bundid = Some(status);
        assert!(
            queue(&p, &s)
                .1
                .err()
                .unwrap()
                .reason
                .contains("keine Nachricht")
        );
        p.bundid = Some(item(&message(letter)));
        s.bundid = None;
        assert!(
            queue(&p, &s)
                .1
                .err()
                .unwrap()
                .reason
                .contains("amtsstube-server bundid einrichten")
        );
        assert_eq!(s.versand().bundid, None);
    }

    #[test]
    fn what_the_server_cannot_send_is_refused_in_german() {
        let s = settings(false);
        let (case, fc) = (Uuid::new_v4(), Some(Uuid::new_v4()));
        let refuse =
            |s: Option<&DeliverySettings>, fc, kz: Option<&str>, d: Option<&Ciphertext>| {
                prepare(s, Uuid::new_v4(), case, fc, kz, &doc(), d)
                    .err()
                    .map(|r| r.reason)
                    .unwrap_or_default()
            };
        let p = package("5100010000017");
        let to_server = sealed(&p, &s.recipient);
        // Not sealed to this server's key.
        let (_, stranger) = keyring::generate();
        let elsewhere = sealed(&p, &stranger);
        assert!(
            refuse(Some(&s), fc, Some("5100010000017"), Some(&elsewhere))
                .contains("nicht für diesen Rathaus-Server")
        );
        // No delivery key at all.
        assert!(
            refuse(None, fc, Some("5100010000017"), Some(&to_server)).contains("Zustellschlüssel")
        );
        // No cash folder.
        assert!(
            refuse(Some(&s), fc, Some("5100010000017"), Some(&to_server)).contains("Kassenordner")
        );
        let s = settings(true);
        let to_server = sealed(&p, &s.recipient);
        // A Kassenzeichen that does not match the letter's.
        assert!(
            refuse(Some(&s), fc, Some("5100010000025"), Some(&to_server)).contains("passt nicht")
        );
        // A paper case has no mailbox.
        assert!(
            refuse(Some(&s), None, Some("5100010000017"), Some(&to_server))
                .contains("Papierantrag")
        );
        // A fee without its booking.
        assert!(refuse(Some(&s), fc, Some("5100010000017"), None).contains("Buchung"));
        // Garbage inside a valid envelope.
        let junk = keyring::seal(b"{\"reply\": 7}", &[s.recipient.as_str()]).unwrap();
        assert!(refuse(Some(&s), fc, None, Some(&junk)).contains("unlesbar"));
        // Not a PDF.
        let mut not_pdf = package("5100010000017");
        not_pdf.letter = base64::engine::general_purpose::STANDARD.encode(b"<html>");
        let d = sealed(&not_pdf, &s.recipient);
        assert!(refuse(Some(&s), fc, Some("5100010000017"), Some(&d)).contains("kein PDF"));
        // A letter without anything to send is fine.
        assert!(prepare(Some(&s), Uuid::new_v4(), case, fc, None, &doc(), None).is_ok());
    }
}
