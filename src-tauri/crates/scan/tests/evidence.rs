//! Transfervermerk, seal and verifier: one flipped byte in the product or in the
//! Transfervermerk is found; the destruction gate refuses while any of its seven
//! conditions fails (one test per condition).

use jiff::civil::date;
use scan::evidence::{
    Attribut, GateFacts, GateFailure, Mode, Organisation, Prozessschritt, Sealer, SoftwareSeal,
    Tamper, Transfervermerk, Verfahren, may_destroy, seal, verify,
};
use sha2::Digest;

type R = Result<(), Box<dyn std::error::Error>>;

fn vermerk(product: &[u8]) -> Transfervermerk {
    let (sha256, sha512) = Transfervermerk::hashes(product);
    let stadt = Organisation {
        name: "Gemeinde Musterstadt".into(),
        ort: "Musterstadt".into(),
        einheit: "Scanstelle <Bürgerbüro> & Poststelle".into(),
    };
    Transfervermerk {
        erstellt: "2026-11-23T10:15:00+01:00".into(),
        auftragnehmer: stadt.clone(),
        stapel: "ST-2026-0042".into(),
        stapel_erstellt: "2026-11-23T09:50:00+01:00".into(),
        verfahren: Verfahren {
            bezeichnung: "Posteingang".into(),
            auspraegung: "Monochrom".into(),
            version: "1.2".into(),
            stand: "2026-03-01".into(),
            pfleger: stadt,
        },
        position: "Abbild 5 bis 9 von 24".into(),
        schritte: vec![Prozessschritt {
            name: "Scannen".into(),
            zeitpunkt: "2026-11-23T10:01:00+01:00".into(),
            durchfuehrung: "scan.weber".into(),
            it_system: "Scanner SC-01".into(),
            attribute: vec![
                Attribut {
                    name: "Auflösung".into(),
                    wert: "300 dpi".into(),
                    auffaelligkeit: false,
                },
                Attribut {
                    name: "Original".into(),
                    wert: "Kopie".into(),
                    auffaelligkeit: true,
                },
            ],
        }],
        seiten: 5,
        attribute: vec![],
        produkt_sha256: sha256,
        produkt_sha512: sha512,
    }
}

#[test]
fn a_flipped_byte_in_product_or_vermerk_is_found() -> R {
    let product = b"%PDF-1.7 fuenf Seiten Scan ...".to_vec();
    let v = vermerk(&product);
    let xml = v.to_xml();
    assert!(
        xml.contains("Scanstelle &lt;Bürgerbüro&gt; &amp; Poststelle"),
        "{xml}"
    );
    assert!(xml.contains("<Attribut name=\"Original\" auffaelligkeit=\"true\">Kopie</Attribut>"));
    assert!(xml.contains("stimmt bildlich und inhaltlich mit dem Original überein"));
    let key = SoftwareSeal::generate()?;
    let s = seal(&key, &product, &xml)?;
    let public = key.public_pem()?;
    assert_eq!(verify(&product, &xml, &s, &public), Ok(()));
    assert_eq!(s.algorithm, key.algorithm());

    let mut bad = product.clone();
    bad[3] ^= 0x01;
    assert_eq!(verify(&bad, &xml, &s, &public), Err(Tamper::Product));
    let mut bad_xml = xml.clone().into_bytes();
    let i = bad_xml.len() / 2;
    bad_xml[i] ^= 0x01;
    let bad_xml = String::from_utf8_lossy(&bad_xml).into_owned();
    assert_eq!(
        verify(&product, &bad_xml, &s, &public),
        Err(Tamper::Vermerk)
    );
    // A forged seal (the hashes re-computed by a forger) fails on the signature.
    let mut forged = s.clone();
    let other = b"%PDF-1.7 anderes Dokument".to_vec();
    let other_xml = vermerk(&other).to_xml();
    forged.product_sha256 = Transfervermerk::hashes(&other).0;
    forged.vermerk_sha256 = hex::encode(sha2::Sha256::digest(other_xml.as_bytes()));
    assert_eq!(
        verify(&other, &other_xml, &forged, &public),
        Err(Tamper::Seal)
    );
    // Another key does not verify the seal.
    let stranger = SoftwareSeal::generate()?.public_pem()?;
    assert_eq!(verify(&product, &xml, &s, &stranger), Err(Tamper::Seal));
    // The key survives the store (PEM) and seals the same way.
    let again = SoftwareSeal::from_pem(&key.private_pem()?)?;
    assert_eq!(again.key_id(), key.key_id());
    Ok(())
}

fn ready() -> GateFacts {
    GateFacts {
        mode: Mode::Ersetzend,
        keep_original: vec![],
        pages_expected: 5,
        pages_captured: 5,
        qa_passed: true,
        full_check_required: true,
        full_check_done: true,
        four_eyes_required: true,
        scan_user: "scan.weber".into(),
        qa_user: Some("scan.krause".into()),
        evidence_verified: true,
        handed_over: true,
        scanned: date(2026, 8, 1),
        holding_days: 90,
        today: date(2026, 11, 23),
        released_by: Some("leitung.schmidt".into()),
    }
}

fn refused(f: GateFacts, want: GateFailure) {
    assert_eq!(may_destroy(&f), Err(vec![want]));
}

#[test]
fn the_gate_opens_only_when_all_seven_conditions_hold() {
    assert_eq!(may_destroy(&ready()), Ok(()));
    refused(
        GateFacts {
            mode: Mode::Kopierend,
            ..ready()
        },
        GateFailure::NotReplaceable,
    );
    refused(
        GateFacts {
            keep_original: vec!["Manipulationsverdacht".into()],
            ..ready()
        },
        GateFailure::NotReplaceable,
    );
    refused(
        GateFacts {
            pages_captured: 4,
            ..ready()
        },
        GateFailure::Incomplete,
    );
    refused(
        GateFacts {
            qa_passed: false,
            ..ready()
        },
        GateFailure::Qa,
    );
    refused(
        GateFacts {
            full_check_done: false,
            ..ready()
        },
        GateFailure::Qa,
    );
    refused(
        GateFacts {
            qa_user: Some("scan.weber".into()),
            ..ready()
        },
        GateFailure::Qa,
    );
    refused(
        GateFacts {
            evidence_verified: false,
            ..ready()
        },
        GateFailure::Evidence,
    );
    refused(
        GateFacts {
            handed_over: false,
            ..ready()
        },
        GateFailure::NotHandedOver,
    );
    refused(
        GateFacts {
            today: date(2026, 10, 29),
            ..ready()
        },
        GateFailure::HoldingPeriod,
    );
    assert_eq!(
        may_destroy(&GateFacts {
            today: date(2026, 10, 30),
            ..ready()
        }),
        Ok(()),
        "90 days after 1 August"
    );
    refused(
        GateFacts {
            released_by: None,
            ..ready()
        },
        GateFailure::NotReleased,
    );
    // Several failures are all named.
    let many = may_destroy(&GateFacts {
        handed_over: false,
        released_by: None,
        ..ready()
    });
    assert_eq!(
        many,
        Err(vec![GateFailure::NotHandedOver, GateFailure::NotReleased])
    );
}
