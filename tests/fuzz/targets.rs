//! The bodies of the coverage-guided fuzz targets (`make fuzz`, cargo-fuzz on a
//! nightly toolchain), shared with the stable test `tests/tests/fuzz.rs`, which
//! replays every kept regression input under `tests/fuzz/regressions/<target>/`
//! through the same function in `make test`.
//!
//! Each body takes raw bytes from outside and hands them to the parser that reads
//! such bytes in the app. Whatever comes in, the parser answers with a value or an
//! error – a panic, an endless loop or unbounded memory is a finding.
//!
//! What coverage guidance can and cannot reach: a submission part is decrypted
//! with a key made at the process's start, so the fuzzer explores the compact
//! serialisation, the protected header and the RSA-OAEP unwrap of any bytes; a
//! changed ciphertext ends at the AES-GCM tag by design. The decrypted content's
//! parsers are fuzzed directly (`metadata`), and valid submissions damaged byte
//! by byte are the stable harness's job.

use std::io::Cursor;
use std::sync::OnceLock;

use fitconnect::keys::{KeyPair, KeyUse, TestPki};
use fitconnect::submission::{self, EncryptedSubmission};
use fitconnect::{Part, jwe, metadata, set};
use uuid::Uuid;

/// A target's body.
pub type Target = fn(&[u8]);

/// The targets by name, as `make fuzz` and the regression replay know them.
pub const ALL: [(&str, Target); 5] = [
    ("submission", submission),
    ("metadata", metadata),
    ("event_token", event_token),
    ("scan", scan),
    ("config", config),
];

struct Keys {
    encryption: KeyPair,
    signing: KeyPair,
    /// A valid submission to these keys: the fuzzed part replaces one of its parts,
    /// so that data and attachments are reached behind valid metadata.
    sealed: EncryptedSubmission,
}

static KEYS: OnceLock<Option<Keys>> = OnceLock::new();

/// The keys and the valid submission: handed over by the stable test, else read
/// from `AMTSSTUBE_FUZZ_KEYS` (written by `write_seed_corpus`, so that the seed
/// submissions decrypt in the fuzzer too), else made fresh.
fn keys() -> Option<&'static Keys> {
    KEYS.get_or_init(|| {
        std::env::var_os("AMTSSTUBE_FUZZ_KEYS")
            .and_then(|dir| load(std::path::Path::new(&dir)))
            .or_else(generate)
    })
    .as_ref()
}

/// Use these keys and this submission (sealed to `encryption`) from now on;
/// false if the targets already chose theirs or a key does not copy.
pub fn provide(encryption: &KeyPair, signing: &KeyPair, sealed: &EncryptedSubmission) -> bool {
    let copy = |k: &KeyPair| KeyPair::from_pem(k.public.clone(), &k.private_pem().ok()?).ok();
    let (Some(encryption), Some(signing)) = (copy(encryption), copy(signing)) else {
        return false;
    };
    KEYS.set(Some(Keys {
        encryption,
        signing,
        sealed: sealed.clone(),
    }))
    .is_ok()
}

/// Write the keys and the submission for `AMTSSTUBE_FUZZ_KEYS`.
pub fn save(
    dir: &std::path::Path,
    encryption: &KeyPair,
    signing: &KeyPair,
    sealed: &EncryptedSubmission,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    for (name, pair) in [("enc", encryption), ("sig", signing)] {
        let public = serde_json::to_vec(&pair.public).map_err(|e| e.to_string())?;
        std::fs::write(dir.join(format!("{name}.json")), public).map_err(|e| e.to_string())?;
        let pem = pair.private_pem().map_err(|e| e.to_string())?;
        std::fs::write(dir.join(format!("{name}.pem")), pem).map_err(|e| e.to_string())?;
    }
    let parts = serde_json::json!({
        "submission": sealed.submission_id,
        "case": sealed.case_id,
        "metadata": sealed.encrypted_metadata,
        "data": sealed.encrypted_data,
        "attachments": sealed.attachments,
    });
    std::fs::write(dir.join("sealed.json"), parts.to_string()).map_err(|e| e.to_string())
}

/// What `save` wrote, as the encryption key's id and the submission; None if a
/// file is missing or damaged.
pub fn saved(dir: &std::path::Path) -> Option<(String, EncryptedSubmission)> {
    load(dir).map(|k| (k.encryption.kid().to_owned(), k.sealed))
}

fn load(dir: &std::path::Path) -> Option<Keys> {
    let pair = |name: &str| -> Option<KeyPair> {
        let public = std::fs::read(dir.join(format!("{name}.json"))).ok()?;
        let pem = std::fs::read(dir.join(format!("{name}.pem"))).ok()?;
        KeyPair::from_pem(serde_json::from_slice(&public).ok()?, &pem).ok()
    };
    let parts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("sealed.json")).ok()?).ok()?;
    let sealed = EncryptedSubmission {
        submission_id: serde_json::from_value(parts["submission"].clone()).ok()?,
        case_id: serde_json::from_value(parts["case"].clone()).ok()?,
        encrypted_metadata: parts["metadata"].as_str()?.to_owned(),
        encrypted_data: parts["data"].as_str().map(str::to_owned),
        attachments: serde_json::from_value(parts["attachments"].clone()).ok()?,
    };
    Some(Keys {
        encryption: pair("enc")?,
        signing: pair("sig")?,
        sealed,
    })
}

fn generate() -> Option<Keys> {
    let pki = TestPki::new(4096).ok()?;
    let encryption = pki.issue("fuzz-enc-001", KeyUse::Encryption, 4096).ok()?;
    let signing = pki.issue("fuzz-sig-001", KeyUse::Signature, 4096).ok()?;
    let attachment = submission::PlainAttachment {
        id: Uuid::from_u128(0x8d3a4b1c_9a3e_4b63_9a57_6f0f8f5a2f11),
        bytes: b"%PDF-1.7\n% Nachweis\n%%EOF\n".to_vec(),
        mime_type: "application/pdf".into(),
        purpose: "attachment".into(),
        filename: Some("Nachweis.pdf".into()),
    };
    let sealed = submission::seal(
        Uuid::from_u128(1),
        Uuid::from_u128(2),
        &encryption.public,
        Some((
            br#"{"antragsteller":{"nachname":"Fuzz"}}"#,
            "application/json",
            "urn:xoev-de:xfall:standard:fim-s00000000009_1.0.0",
        )),
        &[attachment],
        |_| {},
    )
    .ok()?;
    Some(Keys {
        encryption,
        signing,
        sealed,
    })
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// A FIT-Connect submission: the first byte picks the part (metadata, data,
/// attachment), the rest is that part's compact JWE, put in place of that part of
/// a valid submission.
pub fn submission(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Some(keys) = keys() else {
        return;
    };
    let jwe_text = text(rest);
    let mut sub = keys.sealed.clone();
    let attachment = sub.attachments.keys().next().copied();
    let part = match (which % 3, attachment) {
        (1, _) => Part::Data,
        (2, Some(id)) => Part::Attachment(id.to_string()),
        _ => Part::Metadata,
    };
    let _ = jwe::parse_header(&jwe_text, &part);
    match (which % 3, attachment) {
        (1, _) => sub.encrypted_data = Some(jwe_text),
        (2, Some(id)) => {
            sub.attachments.insert(id, jwe_text);
        }
        _ => sub.encrypted_metadata = jwe_text,
    }
    let _ = submission::open(&sub, &keys.encryption);
}

/// The plaintext metadata document of a submission.
pub fn metadata(data: &[u8]) {
    let _ = metadata::parse(data);
}

/// A Security Event Token from the portal's event log.
pub fn event_token(data: &[u8]) {
    let Some(keys) = keys() else {
        return;
    };
    let token = text(data);
    let lookup = |_: &str, _: &str| Some(keys.signing.public.clone());
    let _ = set::verify(&token, lookup, Some(Uuid::from_u128(2)));
    let _ = set::unverified_kid(&token);
}

/// A file from the scanner's hot folder: the check at intake, and for a file that
/// passes it the preview, the separator search and the split.
pub fn scan(data: &[u8]) {
    let _ = scan::inspect::format_of(data);
    let Ok(info) = scan::inspect(data) else {
        return;
    };
    if matches!(info.format, scan::inspect::Format::Tiff) {
        let _ = scan::preview::tiff_page_png(data, 1);
        let separators = scan::separator::Separators {
            marker: "AMTSSTUBE-TRENNBLATT".into(),
            patches: scan::patchcode::Patch::ALL.to_vec(),
        };
        let _ = scan::separator::in_tiff(Cursor::new(data), &separators);
    }
    let _ = scan::split::split(data, &[2]);
}

/// The town's configuration files: the first byte picks the file, the rest is its
/// text. Tariff and town are read against the shipped case types.
pub fn config(data: &[u8]) {
    use workstation::config as c;
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let body = text(rest);
    static TYPES: OnceLock<Option<domain::casetype::CaseTypes>> = OnceLock::new();
    let types = TYPES.get_or_init(|| {
        c::parse_case_types(include_str!("../../assets/config/vorgangsarten.toml")).ok()
    });
    match which % 5 {
        0 => {
            let _ = c::parse_case_types(&body);
        }
        1 => {
            if let Some(t) = types {
                let _ = c::parse_tariff(&body, t);
            }
        }
        2 => {
            if let Some(t) = types {
                let _ = c::parse_town(&body, t);
            }
        }
        3 => {
            let _ = c::parse_calendar(&body, "NW");
        }
        _ => {
            let _ = c::parse_scan_policy(&body);
        }
    }
}
