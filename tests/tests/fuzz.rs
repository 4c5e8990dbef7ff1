//! Mutation fuzzing on stable Rust: real, valid sample files – an encrypted
//! FIT-Connect submission, a signed event token (SET), its metadata, scans as PDF,
//! TIFF, PNG and JPEG, the town's configuration files – are damaged at random
//! (bytes flipped and overwritten, cut off, slices repeated or removed, bytes
//! inserted) and handed to the parser that reads them from outside. Whatever comes
//! in, the parser answers with a value or an error – never a panic.
//!
//! `make test` runs a short round (`FUZZ_CASES`, default 48 per target); `make fuzz`
//! a long one. A failing input is shrunk and kept by proptest under
//! `tests/tests/fuzz.proptest-regressions` – commit that file: the case then runs
//! first in every later round (a regression case).
//!
//! The coverage-guided targets of `make fuzz` (cargo-fuzz, nightly) share their
//! bodies with this file (`tests/fuzz/targets.rs`): every input they found and
//! kept under `tests/fuzz/regressions/<target>/` is replayed here, and
//! `write_seed_corpus` gives them these samples as their starting corpus.

use std::io::Cursor;
use std::sync::OnceLock;

use fitconnect::keys::{KeyPair, KeyUse, TestPki};
use fitconnect::submission::{self, EncryptedSubmission, PlainAttachment};
use fitconnect::{Part, jwe, metadata, set};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use uuid::Uuid;

#[path = "../fuzz/targets.rs"]
mod targets;

/// One damage to a sample.
#[derive(Debug, Clone)]
enum Damage {
    Flip { at: usize, bit: u8 },
    Set { at: usize, byte: u8 },
    Cut { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Remove { at: usize, len: usize },
    Repeat { at: usize, len: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    let at = any::<usize>();
    prop_oneof![
        4 => (at, 0u8..8).prop_map(|(at, bit)| Damage::Flip { at, bit }),
        3 => (at, any::<u8>()).prop_map(|(at, byte)| Damage::Set { at, byte }),
        1 => at.prop_map(|at| Damage::Cut { at }),
        2 => (at, proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
        1 => (at, 1usize..256).prop_map(|(at, len)| Damage::Remove { at, len }),
        1 => (at, 1usize..512).prop_map(|(at, len)| Damage::Repeat { at, len }),
    ]
}

fn damages() -> impl Strategy<Value = Vec<Damage>> {
    proptest::collection::vec(damage(), 1..6)
}

/// The sample with every damage applied (positions wrap around its length).
fn apply(sample: &[u8], damages: &[Damage]) -> Vec<u8> {
    let mut v = sample.to_vec();
    for d in damages {
        let n = v.len().max(1);
        match d {
            Damage::Flip { at, bit } => {
                if let Some(b) = v.get_mut(at % n) {
                    *b ^= 1 << bit;
                }
            }
            Damage::Set { at, byte } => {
                if let Some(b) = v.get_mut(at % n) {
                    *b = *byte;
                }
            }
            Damage::Cut { at } => v.truncate(at % n),
            Damage::Insert { at, bytes } => {
                let at = at % (v.len() + 1);
                v.splice(at..at, bytes.iter().copied());
            }
            Damage::Remove { at, len } => {
                let at = at % n;
                let end = (at + len).min(v.len());
                if at < end {
                    v.drain(at..end);
                }
            }
            Damage::Repeat { at, len } => {
                let at = at % n;
                let end = (at + len).min(v.len());
                if at < end {
                    let slice: Vec<u8> = v[at..end].to_vec();
                    v.splice(end..end, slice);
                }
            }
        }
    }
    v
}

/// Text samples stay text where the damage allows (most parsers take `&str`).
fn apply_text(sample: &str, damages: &[Damage]) -> String {
    String::from_utf8_lossy(&apply(sample.as_bytes(), damages)).into_owned()
}

fn config() -> Config {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

struct Portal {
    encryption: KeyPair,
    signing: KeyPair,
    sealed: EncryptedSubmission,
    metadata: Vec<u8>,
    token: String,
}

fn portal() -> &'static Portal {
    static P: OnceLock<Portal> = OnceLock::new();
    P.get_or_init(|| {
        let fail = |e: &dyn std::fmt::Display| -> ! { panic!("Testdaten: {e}") };
        let pki = TestPki::new(4096).unwrap_or_else(|e| fail(&e));
        let encryption = pki
            .issue("fuzz-enc-001", KeyUse::Encryption, 4096)
            .unwrap_or_else(|e| fail(&e));
        let signing = pki
            .issue("fuzz-sig-001", KeyUse::Signature, 4096)
            .unwrap_or_else(|e| fail(&e));
        let data = br#"{"antragsteller":{"vorname":"Ayse","nachname":"Oeztuerk"},"hund":{"name":"Bello"}}"#;
        let attachment = PlainAttachment {
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
                data,
                "application/json",
                "urn:xoev-de:xfall:standard:fim-s00000000009_1.0.0",
            )),
            &[attachment],
            |m| {
                m.insert(
                    "replyChannel".into(),
                    serde_json::json!({ "eMail": { "address": "ayse@example.org" } }),
                );
            },
        )
        .unwrap_or_else(|e| fail(&e));
        let (metadata, _) = jwe::decrypt(&sealed.encrypted_metadata, &encryption, &Part::Metadata, None)
            .unwrap_or_else(|e| fail(&e));
        let token = set::sign(
            set::Event::SubmitSubmission,
            serde_json::json!({}),
            "https://portal.example",
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            1_795_000_000,
            &signing,
        )
        .unwrap_or_else(|e| fail(&e));
        Portal {
            encryption,
            signing,
            sealed,
            metadata,
            token,
        }
    })
}

fn tiff_sample() -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    if let Ok(mut enc) = tiff::encoder::TiffEncoder::new(&mut out) {
        for i in 0..2u8 {
            let _ = enc.write_image::<tiff::encoder::colortype::Gray8>(
                48,
                32,
                &vec![i.wrapping_mul(90); 48 * 32],
            );
        }
    }
    out.into_inner()
}

fn png_sample() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 16, 8);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        if let Ok(mut w) = enc.write_header() {
            let _ = w.write_image_data(&[128u8; 16 * 8]);
        }
    }
    out
}

fn pdf_sample() -> Vec<u8> {
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let mut kids = Vec::new();
    for i in 0..3 {
        let content = doc.add_object(Stream::new(
            dictionary! {},
            format!("BT /F1 12 Tf 72 720 Td (Seite {i}) Tj ET").into_bytes(),
        ));
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        });
        kids.push(Object::Reference(page));
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => 3 }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    let _ = doc.save_to(&mut out);
    out
}

fn jpeg_sample() -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    v.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    v.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
    v.extend_from_slice(&[1u8; 64]);
    v.extend_from_slice(&[
        0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x10, 0x00, 0x10, 0x01, 0x01, 0x11, 0x00,
    ]);
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

fn asset(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/config")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn separators() -> scan::separator::Separators {
    scan::separator::Separators {
        marker: "AMTSSTUBE-TRENNBLATT".into(),
        patches: scan::patchcode::Patch::ALL.to_vec(),
    }
}

/// The samples are valid: the damage, not the sample, makes the errors.
#[test]
fn the_samples_are_valid() {
    let p = portal();
    assert!(submission::open(&p.sealed, &p.encryption).is_ok());
    assert!(metadata::parse(&p.metadata).is_ok());
    let lookup = |_: &str, _: &str| Some(p.signing.public.clone());
    assert!(set::verify(&p.token, lookup, Some(Uuid::from_u128(2))).is_ok());
    for (name, bytes) in [
        ("pdf", pdf_sample()),
        ("tiff", tiff_sample()),
        ("png", png_sample()),
        ("jpeg", jpeg_sample()),
    ] {
        assert!(scan::inspect(&bytes).is_ok(), "{name}");
    }
    assert!(scan::preview::tiff_page_png(&tiff_sample(), 2).is_ok());
    assert!(scan::split::split(&pdf_sample(), &[2, 3]).is_ok());
    let types = workstation::config::parse_case_types(&asset("vorgangsarten.toml"));
    assert!(types.is_ok(), "{:?}", types.err());
    if let Ok(types) = types {
        assert!(workstation::config::parse_tariff(&asset("gebuehren.toml"), &types).is_ok());
        assert!(workstation::config::parse_town(&asset("gemeinde.toml"), &types).is_ok());
    }
    assert!(workstation::config::parse_calendar(&asset("feiertage.toml"), "NW").is_ok());
    assert!(workstation::config::parse_scan_policy(&asset("scan.toml")).is_ok());
}

proptest! {
    #![proptest_config(config())]

    /// FIT-Connect: the whole opening path (JWE of metadata, data and attachments,
    /// metadata schema, hashes) on a damaged submission.
    #[test]
    fn a_damaged_submission_is_refused_not_a_crash(
        part in 0usize..3,
        d in damages(),
    ) {
        let p = portal();
        let mut sub = p.sealed.clone();
        let damaged = |s: &str| String::from_utf8_lossy(&apply(s.as_bytes(), &d)).into_owned();
        match part {
            0 => sub.encrypted_metadata = damaged(&sub.encrypted_metadata),
            1 => sub.encrypted_data = sub.encrypted_data.as_deref().map(damaged),
            _ => {
                for v in sub.attachments.values_mut() {
                    *v = damaged(v);
                }
            }
        }
        let _ = submission::open(&sub, &p.encryption);
        let _ = jwe::parse_header(&sub.encrypted_metadata, &Part::Metadata);
    }

    #[test]
    fn damaged_metadata_is_refused_not_a_crash(d in damages()) {
        let _ = metadata::parse(&apply(&portal().metadata, &d));
    }

    #[test]
    fn a_damaged_event_token_is_refused_not_a_crash(d in damages()) {
        let p = portal();
        let token = String::from_utf8_lossy(&apply(p.token.as_bytes(), &d)).into_owned();
        let lookup = |_: &str, _: &str| Some(p.signing.public.clone());
        let _ = set::verify(&token, lookup, Some(Uuid::from_u128(2)));
        let _ = set::unverified_kid(&token);
    }

    /// Scanner files: the check at intake, the preview, the separator search and
    /// the split.
    #[test]
    fn a_damaged_scan_is_refused_not_a_crash(kind in 0usize..4, d in damages()) {
        let sample = match kind {
            0 => pdf_sample(),
            1 => tiff_sample(),
            2 => png_sample(),
            _ => jpeg_sample(),
        };
        let bytes = apply(&sample, &d);
        let _ = scan::inspect::format_of(&bytes);
        if scan::inspect(&bytes).is_ok() {
            match kind {
                0 => {
                    let _ = scan::split::split(&bytes, &[2, 3]);
                }
                1 => {
                    let _ = scan::preview::tiff_page_png(&bytes, 1);
                    let _ = scan::preview::tiff_page_png(&bytes, 2);
                    let _ = scan::separator::in_tiff(Cursor::new(&bytes), &separators());
                    let _ = scan::split::split(&bytes, &[2]);
                }
                _ => {}
            }
        }
    }

    /// The town's configuration files as an administrator might break them.
    #[test]
    fn a_damaged_configuration_is_refused_not_a_crash(file in 0usize..5, d in damages()) {
        use workstation::config as c;
        let types = c::parse_case_types(&asset("vorgangsarten.toml"));
        prop_assert!(types.is_ok());
        let Ok(types) = types else { return Ok(()) };
        match file {
            0 => { let _ = c::parse_case_types(&apply_text(&asset("vorgangsarten.toml"), &d)); }
            1 => { let _ = c::parse_tariff(&apply_text(&asset("gebuehren.toml"), &d), &types); }
            2 => { let _ = c::parse_town(&apply_text(&asset("gemeinde.toml"), &d), &types); }
            3 => { let _ = c::parse_calendar(&apply_text(&asset("feiertage.toml"), &d), "NW"); }
            _ => { let _ = c::parse_scan_policy(&apply_text(&asset("scan.toml"), &d)); }
        }
    }
}

/// The seed inputs of the coverage-guided targets: the valid samples above, in
/// each target's input format.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let p = portal();
    let prefixed = |selector: u8, body: &[u8]| {
        let mut v = vec![selector];
        v.extend_from_slice(body);
        v
    };
    let mut seeds = vec![
        (
            "submission",
            prefixed(0, p.sealed.encrypted_metadata.as_bytes()),
        ),
        ("metadata", p.metadata.clone()),
        ("event_token", p.token.as_bytes().to_vec()),
        ("scan", pdf_sample()),
        ("scan", tiff_sample()),
        ("scan", png_sample()),
        ("scan", jpeg_sample()),
    ];
    if let Some(data) = &p.sealed.encrypted_data {
        seeds.push(("submission", prefixed(1, data.as_bytes())));
    }
    for attachment in p.sealed.attachments.values() {
        seeds.push(("submission", prefixed(2, attachment.as_bytes())));
    }
    let configs = [
        "vorgangsarten.toml",
        "gebuehren.toml",
        "gemeinde.toml",
        "feiertage.toml",
        "scan.toml",
    ];
    for (i, name) in (0u8..).zip(configs) {
        seeds.push(("config", prefixed(i, asset(name).as_bytes())));
    }
    seeds
}

/// Every input the coverage-guided fuzzer found and kept is replayed through the
/// same target body; so are the seeds (which keeps the shared bodies running in
/// every `make test`).
#[test]
fn kept_fuzz_findings_and_seeds_are_refused_not_a_crash() {
    let p = portal();
    // The samples' keys, so that the seed submissions decrypt (and no second
    // set of RSA keys is made).
    assert!(targets::provide(&p.encryption, &p.signing, &p.sealed));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    for (name, run) in targets::ALL {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (jedes Ziel hat seinen Ordner)", dir.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path();
            if path.file_name().is_some_and(|n| n == ".gitkeep") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            run(&bytes);
            replayed += 1;
        }
    }
    let seeds = seeds();
    for (name, bytes) in &seeds {
        let run = targets::ALL
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, run)| run)
            .unwrap_or_else(|| panic!("kein Ziel {name}"));
        run(bytes);
    }
    println!(
        "{replayed} gefundene Eingaben und {} Startwerte wiederholt",
        seeds.len()
    );
}

/// The keys and submission `make fuzz` hands the fuzzer come back as written, and a
/// damaged key file gives none (the fuzzer then makes its own).
#[test]
fn the_saved_fuzz_keys_are_read_back() {
    let p = portal();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    targets::save(dir.path(), &p.encryption, &p.signing, &p.sealed)
        .unwrap_or_else(|e| panic!("{e}"));
    let (kid, sealed) = targets::saved(dir.path()).unwrap_or_else(|| panic!("nicht lesbar"));
    assert_eq!(kid, p.encryption.kid());
    assert_eq!(sealed, p.sealed);
    std::fs::write(dir.path().join("enc.pem"), b"kaputt").unwrap_or_else(|e| panic!("{e}"));
    assert!(targets::saved(dir.path()).is_none());
}

/// `make fuzz` writes the starting corpus with this (`FUZZ_SEEDS=dir`), and the
/// samples' keys under `dir/schluessel` for `AMTSSTUBE_FUZZ_KEYS`.
#[test]
#[ignore = "writes the seed corpus for `make fuzz`"]
fn write_seed_corpus() {
    let Some(dir) = std::env::var_os("FUZZ_SEEDS") else {
        panic!("FUZZ_SEEDS=<Ordner> setzen");
    };
    let dir = std::path::PathBuf::from(dir);
    let p = portal();
    let keys = dir.join("schluessel");
    targets::save(&keys, &p.encryption, &p.signing, &p.sealed)
        .unwrap_or_else(|e| panic!("{}: {e}", keys.display()));
    for (i, (name, bytes)) in seeds().into_iter().enumerate() {
        let target = dir.join(name);
        std::fs::create_dir_all(&target).unwrap_or_else(|e| panic!("{}: {e}", target.display()));
        let file = target.join(format!("seed-{i:02}"));
        std::fs::write(&file, bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}
