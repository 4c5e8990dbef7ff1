//! Realistic, deterministic demo submissions: five services with LeiKa ids,
//! synthetic German names and addresses, JSON data, PDF and JPEG attachments,
//! payment information for some, a reply channel for all.
//!
//! The LeiKa ids follow the catalogue's 14-digit form; check them against the
//! current LeiKa catalogue before using them anywhere but in the simulator.

use fitconnect::api::ServiceType;
use fitconnect::submission::{self, PlainAttachment};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::state::{State, StateError};

pub struct Service {
    pub name: &'static str,
    pub leika: &'static str,
    pub schema_uri: &'static str,
    /// Fee paid online in the portal, if any (cents).
    pub online_fee_cents: Option<i64>,
}

pub const SERVICES: [Service; 5] = [
    Service {
        name: "Meldebescheinigung",
        leika: "urn:de:fim:leika:leistung:99115004012000",
        schema_uri: "https://schema.amtsstube.invalid/meldebescheinigung/1.0.0.json",
        online_fee_cents: Some(1000),
    },
    Service {
        name: "Hundesteuer-Anmeldung",
        leika: "urn:de:fim:leika:leistung:99018001022000",
        schema_uri: "https://schema.amtsstube.invalid/hundesteuer/1.0.0.json",
        online_fee_cents: None,
    },
    Service {
        name: "Anwohnerparkausweis",
        leika: "urn:de:fim:leika:leistung:99086007012000",
        schema_uri: "https://schema.amtsstube.invalid/anwohnerparken/1.0.0.json",
        online_fee_cents: Some(3060),
    },
    Service {
        name: "Gewerbeanmeldung",
        leika: "urn:de:fim:leika:leistung:99050012104000",
        schema_uri: "https://schema.amtsstube.invalid/gewerbeanmeldung/1.0.0.json",
        online_fee_cents: None,
    },
    Service {
        name: "Sondernutzung für Baustelleneinrichtung",
        leika: "urn:de:fim:leika:leistung:99086005012000",
        schema_uri: "https://schema.amtsstube.invalid/sondernutzung/1.0.0.json",
        online_fee_cents: None,
    },
];

const FIRST: [&str; 24] = [
    "Anna",
    "Jörg",
    "Ayşe",
    "Lukas",
    "Marie",
    "Özlem",
    "Jürgen",
    "Sophie",
    "Mehmet",
    "Lena",
    "Björn",
    "Renée",
    "Karl-Heinz",
    "Zoë",
    "Paul",
    "Friederike",
    "Dmitri",
    "Hannah",
    "Süleyman",
    "Greta",
    "Matthias",
    "Ingrid",
    "Emil",
    "Małgorzata",
];
const LAST: [&str; 24] = [
    "Müller",
    "Schmidt",
    "Weiß",
    "Öztürk",
    "Groß",
    "Wagner",
    "Becker",
    "Schäfer",
    "Hoffmann",
    "Schröder",
    "Koch",
    "Yılmaz",
    "Bauer",
    "Krämer",
    "Lehmann",
    "Kowalski",
    "Fuchs",
    "Neumann",
    "Zimmermann",
    "Hübner",
    "Brandt",
    "Vogel",
    "Köhler",
    "Nguyen",
];
const STREETS: [&str; 16] = [
    "Hauptstraße",
    "Schulstraße",
    "Gartenweg",
    "Am Markt",
    "Bahnhofstraße",
    "Lindenallee",
    "Mühlenweg",
    "Kirchplatz",
    "Rosenstraße",
    "Am Anger",
    "Birkenweg",
    "Brückenstraße",
    "Feldstraße",
    "Goethestraße",
    "Schillerplatz",
    "Wiesengrund",
];
const DOG_BREEDS: [&str; 8] = [
    "Dackel",
    "Labrador Retriever",
    "Mischling",
    "Deutscher Schäferhund",
    "Beagle",
    "Pudel",
    "Border Collie",
    "Mops",
];
const TRADES: [&str; 8] = [
    "Friseursalon",
    "Fahrradwerkstatt",
    "Café",
    "Malerbetrieb",
    "IT-Dienstleistungen",
    "Blumenladen",
    "Hausmeisterservice",
    "Fotostudio",
];

/// A deliberate defect, for tests of the rejection path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// An attachment is replaced by another validly encrypted file (hash mismatch).
    SwappedAttachment,
    /// Every part is encrypted to a key the destination does not have.
    WrongKey,
    /// The metadata violate the schema.
    SchemaInvalidMetadata,
    /// The metadata JWE has no `cty` in its header (bypassing the upload check).
    MissingContentType,
}

/// A minimal valid one-page PDF with the given lines (Helvetica, WinAnsi).
pub fn pdf(lines: &[String]) -> Vec<u8> {
    let mut content = String::from("BT /F1 12 Tf 72 770 Td 16 TL\n");
    for line in lines {
        let esc: String = line
            .chars()
            .map(|c| match c {
                '(' | ')' | '\\' => format!("\\{c}"),
                c if c.is_ascii() => c.to_string(),
                c => format!("\\{:03o}", u32::from(c).min(255)),
            })
            .collect();
        content.push_str(&format!("({esc}) Tj T*\n"));
    }
    content.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, obj) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{obj}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

static JPEG: &[u8] = include_bytes!("../../../../assets/demo/nachweis.jpg");

/// The demo JPEG with a comment segment, so each copy differs.
pub fn jpeg(comment: &str) -> Vec<u8> {
    let text = comment.as_bytes();
    let len = (text.len() + 2).min(u16::MAX as usize) as u16;
    let mut out = Vec::with_capacity(JPEG.len() + text.len() + 4);
    out.extend_from_slice(&JPEG[..2]); // SOI
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&text[..(len as usize - 2)]);
    out.extend_from_slice(&JPEG[2..]);
    out
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn uuid(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// Create `count` submissions, deterministic for `seed` (content and ids; the
/// ciphertexts differ, as encryption is randomised). Returns the submission ids.
pub fn seed(state: &mut State, count: usize, seed: u64) -> Result<Vec<Uuid>, StateError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| seed_one(state, &mut rng, None, None))
        .collect()
}

/// The reply channel (metadata `replyChannel`) of the `n`-th seeded application,
/// given the applicant's e-mail address (`null`: none).
pub type ReplyChannelOf<'a> = &'a dyn Fn(usize, &str) -> Value;

/// As [`seed`], with each application's reply channel chosen by `channel` (e.g.
/// e-mail with a citizen's OpenPGP key).
pub fn seed_replying(
    state: &mut State,
    count: usize,
    seed: u64,
    channel: ReplyChannelOf<'_>,
) -> Result<Vec<Uuid>, StateError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|n| seed_one(state, &mut rng, None, Some((n, channel))))
        .collect()
}

/// A UUID derived from a text (a citizen's BundID Postkorb-Handle from their
/// address, an application's Statusmonitor id from its submission).
pub fn derived_uuid(text: &str) -> Uuid {
    let hex = fitconnect::submission::sha512_hex(text.as_bytes());
    Uuid::from_u128(u128::from_str_radix(&hex[..32], 16).unwrap_or_default())
}

/// As [`seed`], every `every`-th citizen asking for e-mail with an OpenPGP key of
/// their own (its secret half kept by the simulator, the citizen's side).
pub fn seed_with_pgp(
    state: &mut State,
    count: usize,
    seed: u64,
    every: usize,
) -> Result<Vec<Uuid>, StateError> {
    seed_mixed(state, count, seed, every, 0)
}

/// As [`seed_with_pgp`], and every `bundid_every`-th citizen (starting with the
/// second) asking for an answer in their BundID mailbox (metadata 2.1.0).
pub fn seed_mixed(
    state: &mut State,
    count: usize,
    seed: u64,
    every: usize,
    bundid_every: usize,
) -> Result<Vec<Uuid>, StateError> {
    let made = std::cell::RefCell::new(Vec::new());
    let failed = std::cell::RefCell::new(None);
    let ids = seed_replying(state, count, seed, &|n, email| {
        if bundid_every > 0 && n % bundid_every == 1 % bundid_every {
            let mailbox = derived_uuid(&format!("postkorb:{email}"));
            return json!({ "idBundDeMailbox": { "mailboxUuid": mailbox.to_string() } });
        }
        if every > 0 && n % every == 0 {
            match crate::mail::citizen_key(&format!("<{email}>")) {
                Ok((secret, public)) => {
                    if let Ok(armored) = secret.to_armored_string(Default::default()) {
                        made.borrow_mut().push((email.to_owned(), armored));
                    }
                    return json!({ "eMail": { "address": email, "pgpPublicKey": public } });
                }
                Err(e) => *failed.borrow_mut() = Some(e.to_string()),
            }
        }
        json!({ "eMail": { "address": email } })
    })?;
    if let Some(e) = failed.into_inner() {
        return Err(StateError::Key(e));
    }
    state.add_citizen_keys(made.into_inner())?;
    Ok(ids)
}

/// One submission with a deliberate defect.
pub fn seed_flawed(state: &mut State, flaw: Flaw, seed: u64) -> Result<Uuid, StateError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    seed_one(state, &mut rng, Some(flaw), None)
}

fn seed_one(
    state: &mut State,
    rng: &mut ChaCha8Rng,
    flaw: Option<Flaw>,
    channel: Option<(usize, ReplyChannelOf<'_>)>,
) -> Result<Uuid, StateError> {
    let service = pick(rng, &SERVICES);
    let first = *pick(rng, &FIRST);
    let last = *pick(rng, &LAST);
    let street = *pick(rng, &STREETS);
    let number = rng.random_range(1..180);
    let plz = format!("{:05}", rng.random_range(1067..99998));
    let town = "Musterstadt";
    let day = rng.random_range(1..=28);
    let month = rng.random_range(9..=11);
    let application_date = format!("2026-{month:02}-{day:02}");
    let email = format!(
        "{}.{}@example.org",
        first
            .to_lowercase()
            .chars()
            .filter(char::is_ascii_alphabetic)
            .collect::<String>(),
        last.to_lowercase()
            .chars()
            .filter(char::is_ascii_alphabetic)
            .collect::<String>()
    );
    let person = json!({
        "vorname": first, "familienname": last,
        "anschrift": { "strasse": street, "hausnummer": number.to_string(), "postleitzahl": plz, "ort": town },
        "email": email,
    });
    let details: Value = match service.name {
        "Meldebescheinigung" => {
            json!({ "art": if rng.random_bool(0.7) { "einfach" } else { "erweitert" }, "zweck": "Vorlage beim Arbeitgeber" })
        }
        "Hundesteuer-Anmeldung" => {
            json!({ "hund": { "name": pick(rng, &["Bello", "Luna", "Rex", "Frieda", "Paule"]), "rasse": pick(rng, &DOG_BREEDS), "geburtsjahr": rng.random_range(2014..2026) }, "haltungSeit": application_date })
        }
        "Anwohnerparkausweis" => {
            json!({ "kennzeichen": format!("MU-{}{} {}", (b'A' + rng.random_range(0..26u8)) as char, (b'A' + rng.random_range(0..26u8)) as char, rng.random_range(1..9999)), "zone": format!("Zone {}", pick(rng, &["A", "B", "C"])) })
        }
        "Gewerbeanmeldung" => {
            json!({ "taetigkeit": pick(rng, &TRADES), "beginn": application_date, "betriebsstaette": { "strasse": street, "hausnummer": number.to_string() } })
        }
        _ => {
            json!({ "zeitraum": { "von": application_date, "tage": rng.random_range(3..60) }, "flaecheQm": rng.random_range(4..80), "ort": format!("{street} {number}") })
        }
    };
    let data = json!({ "leistung": service.name, "antragsteller": person, "angaben": details, "antragsdatum": application_date });
    let data_bytes = serde_json::to_vec(&data).map_err(|e| StateError::Key(e.to_string()))?;

    let mut attachments = vec![PlainAttachment {
        id: uuid(rng),
        bytes: pdf(&[
            format!("Antrag: {}", service.name),
            format!("Antragsteller: {first} {last}"),
            format!("{street} {number}, {plz} {town}"),
            format!("Datum: {application_date}"),
        ]),
        mime_type: "application/pdf".into(),
        purpose: "form".into(),
        filename: Some("Antrag.pdf".into()),
    }];
    if rng.random_bool(0.6) {
        attachments.push(PlainAttachment {
            id: uuid(rng),
            bytes: jpeg(&format!("Nachweis {first} {last}")),
            mime_type: "image/jpeg".into(),
            purpose: "attachment".into(),
            filename: Some("Nachweis.jpg".into()),
        });
    }
    let payment = service
        .online_fee_cents
        .filter(|_| rng.random_bool(0.8))
        .map(|cents| {
            let booked = rng.random_bool(0.85);
            json!({
                "transactionId": format!("TX-{}", rng.random_range(100_000..999_999)),
                "transactionReference": format!("KZ-{}", rng.random_range(10_000_000..99_999_999)),
                "paymentMethod": pick(rng, &["GIROPAY", "CREDITCARD", "PAYPAL"]),
                "status": if booked { "BOOKED" } else { "INITIAL" },
                "grossAmount": serde_json::Number::from_f64(cents as f64 / 100.0),
            })
        });
    let submission_id = uuid(rng);
    let case_id = uuid(rng);

    let other_key;
    let key = if flaw == Some(Flaw::WrongKey) {
        let pki =
            fitconnect::keys::TestPki::new(2048).map_err(|e| StateError::Key(e.to_string()))?;
        other_key = pki
            .issue(
                "fremder-schluessel",
                fitconnect::keys::KeyUse::Encryption,
                4096,
            )
            .map_err(|e| StateError::Key(e.to_string()))?;
        &other_key.public
    } else {
        &state.dest_enc.public
    };
    let mut sealed = submission::seal(
        submission_id,
        case_id,
        key,
        Some((&data_bytes, "application/json", service.schema_uri)),
        &attachments,
        |m| {
            m.insert("publicServiceType".into(), json!({ "name": service.name, "identifier": service.leika }));
            let reply = match channel {
                Some((n, f)) => f(n, &email),
                None => json!({ "eMail": { "address": email } }),
            };
            // A BundID mailbox exists only from metadata 2.x on; such portals also
            // name the application in the BundID Statusmonitor.
            let bundid = reply.get("idBundDeMailbox").is_some();
            if bundid {
                m.insert("$schema".into(), json!(fitconnect::zbp::METADATA_SCHEMA));
            }
            // `null`: the citizen named no channel (answer by post).
            if !reply.is_null() {
                m.insert("replyChannel".into(), reply);
            }
            let mut reference = json!({ "senderReference": format!("PORTAL-{}", &submission_id.simple().to_string()[..8]), "applicationDate": application_date });
            if bundid {
                reference["idBundDeApplicationId"] = json!(derived_uuid(&format!("antrag:{submission_id}")).to_string());
            }
            m.insert("additionalReferenceInfo".into(), reference);
            if let Some(p) = payment {
                m.insert("paymentInformation".into(), p);
            }
        },
    )
    .map_err(|e| StateError::Key(e.to_string()))?;
    match flaw {
        Some(Flaw::SwappedAttachment) => {
            if let Some(first) = attachments.first() {
                let forged = fitconnect::jwe::encrypt(
                    b"%PDF-1.4 ausgetauscht",
                    "application/pdf",
                    &state.dest_enc.public,
                )
                .map_err(|e| StateError::Key(e.to_string()))?;
                sealed.attachments.insert(first.id, forged);
            }
        }
        Some(Flaw::SchemaInvalidMetadata) => {
            let bad = json!({ "contentStructure": { "attachments": "keine Liste" } });
            sealed.encrypted_metadata = fitconnect::jwe::encrypt(
                bad.to_string().as_bytes(),
                "application/json",
                &state.dest_enc.public,
            )
            .map_err(|e| StateError::Key(e.to_string()))?;
        }
        Some(Flaw::MissingContentType) => {
            sealed.encrypted_metadata = strip_cty(&sealed.encrypted_metadata);
        }
        Some(Flaw::WrongKey) | None => {}
    }

    let service_type = ServiceType {
        name: Some(service.name.into()),
        description: None,
        identifier: service.leika.into(),
    };
    state.file_sealed(service_type, sealed)?;
    Ok(submission_id)
}

fn strip_cty(jwe: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
    if let Some(h) = parts.first_mut()
        && let Ok(raw) = URL_SAFE_NO_PAD.decode(h.as_bytes())
        && let Ok(mut v) = serde_json::from_slice::<serde_json::Map<String, Value>>(&raw)
    {
        v.remove("cty");
        // A JSON map read a line above always serialises again.
        *h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap_or_default());
    }
    parts.join(".")
}

/// `count` submissions with JSON data and exactly one attachment of `attachment_bytes`
/// random bytes – three JWEs each, for throughput measurements.
pub fn seed_sized(
    state: &mut State,
    count: usize,
    attachment_bytes: usize,
    seed: u64,
) -> Result<Vec<Uuid>, StateError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let mut bytes = vec![0u8; attachment_bytes];
        rng.fill(&mut bytes[..]);
        let attachment = PlainAttachment {
            id: uuid(&mut rng),
            bytes,
            mime_type: "application/pdf".into(),
            purpose: "attachment".into(),
            filename: Some(format!("Anlage-{i}.pdf")),
        };
        let service = &SERVICES[i % SERVICES.len()];
        let data = json!({ "leistung": service.name, "nummer": i }).to_string();
        let (submission_id, case_id) = (uuid(&mut rng), uuid(&mut rng));
        let sealed = submission::seal(
            submission_id,
            case_id,
            &state.dest_enc.public,
            Some((data.as_bytes(), "application/json", service.schema_uri)),
            std::slice::from_ref(&attachment),
            |m| {
                m.insert(
                    "publicServiceType".into(),
                    json!({ "identifier": service.leika }),
                );
            },
        )
        .map_err(|e| StateError::Key(e.to_string()))?;
        let service_type = ServiceType {
            name: Some(service.name.into()),
            description: None,
            identifier: service.leika.into(),
        };
        state.file_sealed(service_type, sealed)?;
        ids.push(submission_id);
    }
    Ok(ids)
}
