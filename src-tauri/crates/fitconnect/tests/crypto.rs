//! JWE, SET, metadata and submission verification with real 4096-bit keys.

use std::sync::OnceLock;

use fitconnect::keys::{KeyPair, KeyUse, PublicJwk, TestPki};
use fitconnect::set::{self, AuthenticationTags, Event, SetError};
use fitconnect::submission::{self, PlainAttachment};
use fitconnect::{JweError, Part, ProblemKind, jwe};
use uuid::Uuid;

type R = Result<(), Box<dyn std::error::Error>>;

struct Keys {
    pki: TestPki,
    enc: KeyPair,
    sig: KeyPair,
    other_enc: KeyPair,
}

fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let pki = TestPki::new(4096).unwrap_or_else(|e| panic!("{e}"));
        let issue = |kid: &str, u| pki.issue(kid, u, 4096).unwrap_or_else(|e| panic!("{e}"));
        let enc = issue("dest-enc-0001", KeyUse::Encryption);
        let sig = issue("dest-sig-0001", KeyUse::Signature);
        let other_enc = issue("other-enc-001", KeyUse::Encryption);
        Keys {
            pki,
            enc,
            sig,
            other_enc,
        }
    })
}

#[test]
fn jwe_round_trip_keeps_content_type() -> R {
    let k = keys();
    let token = jwe::encrypt(
        "Grüße aus der Amtsstube".as_bytes(),
        "text/plain",
        &k.enc.public,
    )?;
    let header = jwe::parse_header(&token, &Part::Data)?;
    assert_eq!(header.alg.as_deref(), Some("RSA-OAEP-256"));
    assert_eq!(header.enc.as_deref(), Some("A256GCM"));
    assert_eq!(header.kid.as_deref(), Some("dest-enc-0001"));
    let (plain, cty) = jwe::decrypt(&token, &k.enc, &Part::Data, Some("text/plain"))?;
    assert_eq!(plain, "Grüße aus der Amtsstube".as_bytes());
    assert_eq!(cty, "text/plain");
    assert!(jwe::authentication_tag(&token).is_some_and(|t| !t.is_empty()));
    Ok(())
}

#[test]
fn jwe_for_another_key_is_an_encryption_issue() -> R {
    let k = keys();
    let token = jwe::encrypt(b"{}", "application/json", &k.other_enc.public)?;
    let err = jwe::decrypt(&token, &k.enc, &Part::Metadata, Some("application/json"))
        .err()
        .ok_or("decrypted with the wrong key")?;
    assert_eq!(
        err,
        JweError::Decryption {
            part: Part::Metadata
        }
    );
    let p = err.problem();
    assert_eq!(p.type_uri, ProblemKind::EncryptionIssue.type_uri());
    assert_eq!(p.instance, "metadata");
    Ok(())
}

/// Re-encode a JWE with a changed protected header (the tag then no longer fits,
/// but header checks come first).
fn with_header(
    token: &str,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let raw = URL_SAFE_NO_PAD.decode(&parts[0]).unwrap_or_default();
    let mut h: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&raw).unwrap_or_default();
    edit(&mut h);
    parts[0] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&h).unwrap_or_default());
    parts.join(".")
}

#[test]
fn jwe_header_checks() -> R {
    let k = keys();
    let token = jwe::encrypt(b"{}", "application/json", &k.enc.public)?;
    let no_cty = with_header(&token, |h| {
        h.remove("cty");
    });
    assert_eq!(
        jwe::decrypt(&no_cty, &k.enc, &Part::Metadata, None),
        Err(JweError::MissingContentType {
            part: Part::Metadata
        })
    );
    let wrong_alg = with_header(&token, |h| {
        h.insert("alg".into(), "RSA1_5".into());
    });
    assert!(matches!(
        jwe::decrypt(&wrong_alg, &k.enc, &Part::Metadata, None),
        Err(JweError::Algorithm { .. })
    ));
    // Compressed content is refused before anything is inflated.
    let zipped = with_header(&token, |h| {
        h.insert("zip".into(), "DEF".into());
    });
    let refused = jwe::decrypt(&zipped, &k.enc, &Part::Data, None);
    assert_eq!(refused, Err(JweError::Compressed { part: Part::Data }));
    assert!(
        refused
            .err()
            .is_some_and(|e| e.to_string().contains("nicht erlaubt")),
    );
    let wrong_cty = jwe::decrypt(&token, &k.enc, &Part::Data, Some("application/xml"));
    assert!(matches!(wrong_cty, Err(JweError::WrongContentType { .. })));
    // A flipped bit in the ciphertext fails authentication.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let c = parts[3].clone();
    let flipped = match c.strip_prefix('A') {
        Some(rest) => format!("B{rest}"),
        None => format!("A{}", c.get(1..).unwrap_or_default()),
    };
    parts[3] = flipped;
    assert_eq!(
        jwe::decrypt(&parts.join("."), &k.enc, &Part::Data, None),
        Err(JweError::Decryption { part: Part::Data })
    );
    for garbage in ["", "a.b.c", "....", "x.y.z.w.v", "eyJ9.a.b.c.d"] {
        assert!(
            matches!(
                jwe::decrypt(garbage, &k.enc, &Part::Data, None),
                Err(JweError::Syntax { .. })
            ),
            "{garbage}"
        );
    }
    Ok(())
}

#[test]
fn keys_follow_the_fit_connect_rules_and_chain_to_the_root() -> R {
    let k = keys();
    k.enc.public.validate(KeyUse::Encryption)?;
    k.sig.public.validate(KeyUse::Signature)?;
    assert!(k.enc.public.validate(KeyUse::Signature).is_err());
    k.enc
        .public
        .verify_chain(std::slice::from_ref(&k.pki.root))?;
    let stranger = TestPki::new(2048)?;
    assert!(
        k.enc
            .public
            .verify_chain(std::slice::from_ref(&stranger.root))
            .is_err()
    );
    // 2048-bit keys are refused.
    let small = stranger.issue("small-key-01", KeyUse::Encryption, 2048)?;
    assert!(small.public.validate(KeyUse::Encryption).is_err());
    assert!(jwe::encrypt(b"x", "text/plain", &small.public).is_err());
    // A certificate that does not carry the key is refused.
    let mut swapped: PublicJwk = k.enc.public.clone();
    swapped.x5c = k.sig.public.x5c.clone();
    assert!(swapped.validate(KeyUse::Encryption).is_err());
    // The private key survives a PEM round trip.
    let pem = k.enc.private_pem()?;
    let again = KeyPair::from_pem(k.enc.public.clone(), &pem)?;
    let token = jwe::encrypt(b"pem", "text/plain", &k.enc.public)?;
    assert_eq!(jwe::decrypt(&token, &again, &Part::Data, None)?.0, b"pem");
    Ok(())
}

#[test]
fn set_sign_and_verify() -> R {
    let k = keys();
    let (sub, case) = (Uuid::new_v4(), Uuid::new_v4());
    let tags = AuthenticationTags {
        metadata: "m".into(),
        data: Some("d".into()),
        attachments: [("a1".to_owned(), "t1".to_owned())].into(),
    };
    let token = set::sign(
        Event::AcceptSubmission,
        set::accept_payload(&tags),
        "dest-1",
        sub,
        case,
        1_795_000_000,
        &k.sig,
    )?;
    let lookup = |iss: &str, kid: &str| {
        (iss == "dest-1" && kid == "dest-sig-0001").then(|| k.sig.public.clone())
    };
    let ev = set::verify(&token, lookup, Some(case))?;
    assert_eq!(ev.event, Event::AcceptSubmission);
    assert_eq!(
        (ev.submission_id, ev.case_id, ev.iat),
        (sub, case, 1_795_000_000)
    );
    assert_eq!(ev.payload["authenticationTags"]["attachments"]["a1"], "t1");

    assert!(matches!(
        set::verify(&token, lookup, Some(Uuid::new_v4())),
        Err(SetError::WrongCase { .. })
    ));
    assert!(matches!(
        set::verify(&token, |_: &str, _: &str| None, None),
        Err(SetError::UnknownKey { .. })
    ));
    // Verified with another signature key: bad signature.
    let other = k.pki.issue("dest-sig-0002", KeyUse::Signature, 4096)?;
    assert!(matches!(
        set::verify(&token, |_: &str, _: &str| Some(other.public.clone()), None),
        Err(SetError::Signature)
    ));
    // A changed payload breaks the signature.
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged_body = {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut v: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1])?)?;
        v["txn"] = format!("case:{}", Uuid::new_v4()).into();
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v)?)
    };
    parts[1] = &forged_body;
    assert!(matches!(
        set::verify(&parts.join("."), lookup, None),
        Err(SetError::Signature)
    ));
    Ok(())
}

fn attachment(bytes: &[u8]) -> PlainAttachment {
    PlainAttachment {
        id: Uuid::new_v4(),
        bytes: bytes.to_vec(),
        mime_type: "application/pdf".into(),
        purpose: "attachment".into(),
        filename: Some("Nachweis.pdf".into()),
    }
}

fn sealed(
    attachments: &[PlainAttachment],
) -> Result<submission::EncryptedSubmission, Box<dyn std::error::Error>> {
    let data = r#"{"antrag":"Meldebescheinigung","name":"Jörg Weiß"}"#.as_bytes();
    Ok(submission::seal(
        Uuid::new_v4(),
        Uuid::new_v4(),
        &keys().enc.public,
        Some((
            data,
            "application/json",
            "urn:de:fim:leika:leistung:99115004012000",
        )),
        attachments,
        |m| {
            m.insert(
                "publicServiceType".into(),
                serde_json::json!({"name": "Meldebescheinigung", "identifier": "urn:de:fim:leika:leistung:99115004012000"}),
            );
        },
    )?)
}

#[test]
fn a_good_submission_opens_with_all_tags() -> R {
    let a = attachment(b"%PDF-1.7 Nachweis");
    let sub = sealed(std::slice::from_ref(&a))?;
    let opened = submission::open(&sub, &keys().enc)?;
    assert_eq!(opened.attachments.len(), 1);
    assert_eq!(opened.attachments[0].1, b"%PDF-1.7 Nachweis");
    assert!(
        opened
            .data
            .as_ref()
            .is_some_and(|(d, cty)| d.starts_with(b"{") && cty == "application/json")
    );
    assert_eq!(
        opened.tags.metadata,
        jwe::authentication_tag(&sub.encrypted_metadata).unwrap_or_default()
    );
    assert!(opened.tags.attachments.contains_key(&a.id.to_string()));
    // A debug print (a log of the sync state) shows nothing of the application.
    let shown = format!("{opened:?}");
    assert!(
        !shown.contains("Jörg") && !shown.contains("Nachweis") && !shown.contains("antrag"),
        "{shown}"
    );
    assert!(shown.contains("Bytes application/json"), "{shown}");
    assert_eq!(
        opened.metadata.public_service_type.map(|s| s.identifier),
        Some("urn:de:fim:leika:leistung:99115004012000".to_owned())
    );
    Ok(())
}

#[test]
fn a_swapped_attachment_is_a_hash_mismatch() -> R {
    let a = attachment(b"%PDF-1.7 echt");
    let mut sub = sealed(std::slice::from_ref(&a))?;
    // An intermediary swaps the attachment for another validly encrypted file.
    sub.attachments.insert(
        a.id,
        jwe::encrypt(
            b"%PDF-1.7 gefaelscht",
            "application/pdf",
            &keys().enc.public,
        )?,
    );
    let rejection = submission::open(&sub, &keys().enc)
        .err()
        .ok_or("accepted a swapped attachment")?;
    assert!(rejection.has(ProblemKind::HashMismatch));
    assert_eq!(
        rejection.problems[0].instance,
        format!("attachment:{}", a.id)
    );
    Ok(())
}

#[test]
fn missing_and_unannounced_attachments_are_found() -> R {
    let a = attachment(b"eins");
    let mut sub = sealed(std::slice::from_ref(&a))?;
    sub.attachments.clear();
    let extra = Uuid::new_v4();
    sub.attachments.insert(
        extra,
        jwe::encrypt(b"zwei", "application/pdf", &keys().enc.public)?,
    );
    let r = submission::open(&sub, &keys().enc)
        .err()
        .ok_or("accepted")?;
    let instances: Vec<&str> = r.problems.iter().map(|p| p.instance.as_str()).collect();
    assert!(instances.contains(&format!("attachment:{}", a.id).as_str()));
    assert!(instances.contains(&format!("attachment:{extra}").as_str()));
    assert!(
        r.problems
            .iter()
            .all(|p| p.type_uri == ProblemKind::AttachmentsMismatch.type_uri())
    );
    Ok(())
}

#[test]
fn schema_invalid_metadata_is_a_schema_violation() -> R {
    let mut sub = sealed(&[])?;
    let bad = br#"{"contentStructure":{"attachments":[]},"replyChannel":{}}"#;
    sub.encrypted_metadata = jwe::encrypt(bad, "application/json", &keys().enc.public)?;
    let r = submission::open(&sub, &keys().enc)
        .err()
        .ok_or("accepted")?;
    assert!(r.has(ProblemKind::SchemaViolation));
    assert_eq!(r.problems[0].instance, "metadata");
    // Missing data although the metadata describe some.
    let mut sub = sealed(&[])?;
    sub.encrypted_data = None;
    assert!(
        submission::open(&sub, &keys().enc)
            .err()
            .is_some_and(|r| r.has(ProblemKind::MissingData))
    );
    Ok(())
}

/// Metadata of a version this receiver does not know is rejected as an unsupported
/// schema (not as broken), naming the version.
#[test]
fn metadata_of_an_unknown_version_is_an_unsupported_schema() -> R {
    let mut sub = sealed(&[])?;
    let v3 = br#"{"$schema":"https://schema.fitko.de/fit-connect/metadata/3.0.0/metadata.schema.json","contentStructure":{"attachments":[]}}"#;
    sub.encrypted_metadata = jwe::encrypt(v3, "application/json", &keys().enc.public)?;
    let r = submission::open(&sub, &keys().enc)
        .err()
        .ok_or("accepted")?;
    assert!(r.has(ProblemKind::UnsupportedSchema), "{:?}", r.problems);
    assert!(!r.has(ProblemKind::SchemaViolation));
    assert_eq!(r.problems[0].instance, "metadata");
    let detail = r.problems[0].detail.clone().unwrap_or_default();
    assert!(detail.contains("3.0.0"), "{detail}");
    Ok(())
}

#[test]
fn metadata_without_cty_is_rejected_with_the_right_problem() -> R {
    let mut sub = sealed(&[])?;
    sub.encrypted_metadata = with_header(&sub.encrypted_metadata, |h| {
        h.remove("cty");
    });
    let r = submission::open(&sub, &keys().enc)
        .err()
        .ok_or("accepted")?;
    assert!(r.has(ProblemKind::MissingContentType));
    Ok(())
}
