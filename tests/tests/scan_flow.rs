//! The scanning desk through the facade on the real store: three paper applications
//! dropped into the hot folder are taken into the vault, QA approves them (not the
//! person who scanned – four-eyes), each becomes a case flagged TR-RESISCAN with its
//! Transfervermerk and seal, visible to the caseworkers; `verify` confirms them; the
//! same file dropped again is a duplicate; the scanning desk sees no case content.

use std::time::Duration;

use amtsstube_tests::app::login;
use amtsstube_tests::sim::BoxError;
use domain::Role;
use workstation::{ErrorCode, WorkListQuery};

fn jpeg(marker: &str) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xFE, 0x00, (marker.len() + 2) as u8];
    v.extend_from_slice(marker.as_bytes());
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

#[test]
fn paper_applications_become_tr_resiscan_cases() -> Result<(), BoxError> {
    let tmp = tempfile::tempdir()?;
    let inbox = tmp.path().join("scanner");
    std::fs::create_dir(&inbox)?;
    let mut ws = amtsstube_tests::local::workstation(
        &tmp.path().join("daten"),
        None,
        &[
            ("scan1", Role::Scanstelle),
            ("scan2", Role::Scanstelle),
            ("sb1", Role::Sachbearbeitung),
        ],
    )?;
    for (i, who) in [
        "Hundesteuer Becker",
        "Gewerbe Nowak",
        "Meldebescheinigung Yıldız",
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(inbox.join(format!("antrag-{i}.jpg")), jpeg(who))?;
    }
    login(&mut ws, "scan1")?;
    let taken = ws.scan_intake(&inbox, Duration::from_millis(300), Duration::from_secs(10))?;
    assert_eq!(
        taken.iter().filter(|r| r.result == "eingelesen").count(),
        3,
        "{taken:?}"
    );
    let queue = ws.scan_queue()?;
    assert_eq!(queue.len(), 3);
    // The scanner does not approve their own scans.
    let err = ws
        .scan_approve(&queue[0].id, "HST", "Jana Becker", None)
        .err()
        .ok_or("approved own scan")?;
    assert_eq!(err.code, ErrorCode::Forbidden);
    // The same paper scanned again is a duplicate and lands in fehler/.
    std::fs::write(inbox.join("nochmal.jpg"), jpeg("Hundesteuer Becker"))?;
    let again = ws.scan_intake(&inbox, Duration::from_millis(300), Duration::from_secs(10))?;
    assert!(
        again
            .iter()
            .any(|r| r.result == "fehler" && r.detail.contains("Doppelt")),
        "{again:?}"
    );
    assert!(inbox.join("fehler").join("nochmal.jpg.grund.txt").exists());
    ws.logout();

    login(&mut ws, "scan2")?;
    // QA refuses one first: a reason is needed, and a refused scan cannot be approved.
    std::fs::write(inbox.join("schief.jpg"), jpeg("schief eingezogen"))?;
    ws.logout();
    login(&mut ws, "scan1")?;
    ws.scan_intake(&inbox, Duration::from_millis(300), Duration::from_secs(10))?;
    ws.logout();
    login(&mut ws, "scan2")?;
    let crooked = ws
        .scan_queue()?
        .into_iter()
        .find(|p| p.name == "schief.jpg")
        .ok_or("not taken")?;
    assert!(ws.scan_reject(&crooked.id, " ").is_err());
    ws.scan_reject(&crooked.id, "Seite schief, neu scannen")?;
    assert!(
        ws.scan_approve(&crooked.id, "GEW", "Piotr Nowak", None)
            .is_err()
    );
    assert!(ws.scan_verify("GEW-2026-0000000").is_err());
    let mut numbers = Vec::new();
    for (p, (code, name)) in queue.iter().zip([
        ("HST", "Jana Becker"),
        ("GEW", "Piotr Nowak"),
        ("MB", "Aylin Yıldız"),
    ]) {
        numbers.push(ws.scan_approve(&p.id, code, name, Some("vollständig, lesbar".into()))?);
    }
    assert!(ws.scan_queue()?.is_empty());
    for az in &numbers {
        let ok = ws.scan_verify(az)?;
        assert!(ok.contains("unversehrt"), "{ok}");
    }
    // The scanning desk still sees no case content.
    assert_eq!(
        ws.work_list(WorkListQuery::default()).err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    ws.logout();

    // The caseworkers find three new paper cases with scan and Transfervermerk.
    login(&mut ws, "sb1")?;
    let list = ws.work_list(WorkListQuery {
        limit: 50,
        ..WorkListQuery::default()
    })?;
    for az in &numbers {
        let case = list
            .items
            .iter()
            .find(|c| &c.file_number == az)
            .ok_or("case missing")?;
        let d = ws.case_detail(&case.id)?;
        assert_eq!(d.channel, "papier");
        assert!(
            d.documents
                .iter()
                .any(|x| x.kind == "scan" && x.mime_type == "image/jpeg")
        );
        assert!(
            d.documents
                .iter()
                .any(|x| x.filename.as_deref() == Some("Transfervermerk.xml"))
        );
        assert!(d.history.iter().any(|h| {
            h.detail
                .as_deref()
                .is_some_and(|t| t.contains("TR-RESISCAN"))
        }));
        let xml_doc = d
            .documents
            .iter()
            .find(|x| x.filename.as_deref() == Some("Transfervermerk.xml"))
            .ok_or("no Transfervermerk")?;
        let xml = ws.document(&case.id, &xml_doc.id)?;
        let text = String::from_utf8(base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            xml.content_base64,
        )?)?;
        assert!(
            text.contains("<Durchfuehrung>scan1</Durchfuehrung>")
                && text.contains("<Durchfuehrung>scan2</Durchfuehrung>"),
            "{text}"
        );
    }
    ws.logout();
    login(&mut ws, "admin")?;
    assert!(ws.verify_audit()?.is_intact());
    Ok(())
}
