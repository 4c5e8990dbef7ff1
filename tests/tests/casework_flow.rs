//! A synced application from arrival to dispatch through the facade, with the
//! citizen answering a Nachforderung through the simulator: states, deadlines,
//! history and audit entries; the scanning desk sees no case content.

use std::path::Path;

use amtsstube_tests::app::login;
use amtsstube_tests::sim::BoxError;
use base64::Engine;
use domain::Role;
use domain::lifecycle::{Action, CaseState, Decision};
use workstation::{ErrorCode, LoginRequest, WorkListQuery};

#[test]
fn synced_application_with_a_nachforderung_answered_by_the_citizen() -> Result<(), BoxError> {
    let rt = tokio::runtime::Runtime::new()?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    portal_sim::seed::seed(&mut run.sim.lock(), 5, 41)?;
    let tmp = tempfile::tempdir()?;
    let mut ws = amtsstube_tests::local::workstation(
        &tmp.path().join("daten"),
        Some(&run),
        &[("sb1", Role::Sachbearbeitung), ("scan", Role::Scanstelle)],
    )?;
    login(&mut ws, "sb1")?;
    assert_eq!(ws.sync_now()?.new_cases, 5);

    // The application data are searchable (their values, inside the encrypted database).
    let list = ws.work_list(WorkListQuery::default())?;
    let meldungen = list
        .items
        .iter()
        .filter(|c| c.case_type == "Meldebescheinigung")
        .count();
    assert!(meldungen > 0, "the seed has no Meldebescheinigung");
    let found = ws.work_list(WorkListQuery {
        search: Some("Arbeitgeber".into()),
        ..WorkListQuery::default()
    })?;
    assert_eq!(
        found.total as usize, meldungen,
        "'Vorlage beim Arbeitgeber' is in their data"
    );
    // Open a synced application with a checklist.
    let case = list
        .items
        .iter()
        .find(|c| ws.case_detail(&c.id).is_ok_and(|d| !d.checklist.is_empty()))
        .ok_or("no case with a checklist")?
        .clone();
    let id = case.id.clone();
    let detail = ws.case_detail(&id)?;
    assert_eq!(detail.state, CaseState::Eingegangen);
    assert_eq!(detail.channel, domain::Channel::Online);
    assert!(detail.documents.len() >= 2, "metadata and data at least");
    let docs_before = detail.documents.len();
    // A document is read from the vault into memory, for this case only.
    let data = detail
        .documents
        .iter()
        .find(|d| d.kind == domain::DocumentKind::Data)
        .ok_or("no data document")?;
    let content = ws.document(&id, &data.id)?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(&content.content_base64)?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)?;
    assert!(json.get("antragsteller").is_some(), "{json}");
    let other = list
        .items
        .iter()
        .find(|c| c.id != id)
        .ok_or("a second case")?;
    assert_eq!(
        ws.document(&other.id, &data.id).err().map(|e| e.code),
        Some(ErrorCode::NotFound),
        "a document is only reachable through its own case"
    );
    ws.case_action(&id, Action::PruefungBeginnen)?;
    for item in &detail.checklist {
        ws.set_check(&id, &item.item, true)?;
    }
    let d = ws.case_action(
        &id,
        Action::Nachfordern {
            fehlend: vec!["Nachweis der Haftpflichtversicherung".into()],
            frist: "2026-12-07".into(),
        },
    )?;
    assert_eq!(d.state, CaseState::Nachgefordert);

    // The citizen answers through the portal.
    let fc_case = ws
        .session_for_import()?
        .case_record(&id)?
        .and_then(|r| r.fc_case_id)
        .ok_or("no FIT-Connect case")?;
    let body = serde_json::json!({
        "filename": "Versicherungsnachweis.pdf",
        "mimeType": "application/pdf",
        "contentBase64": base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.7 Nachweis"),
        "note": "Anbei der Nachweis."
    });
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!(
                "{}/citizen/cases/{fc_case}/submissions",
                run.config.api_url
            ))
            .json(&body)
            .send()
            .await
            .map(|r| r.status())
    })?;
    assert!(status.is_success(), "{status}");
    let summary = ws.sync_now()?;
    assert_eq!(summary.follow_ups, 1, "{summary:?}");
    let d = ws.case_detail(&id)?;
    assert_eq!(
        d.state,
        CaseState::InPruefung,
        "the answer returns the case"
    );
    assert!(
        d.documents.len() > docs_before,
        "the new document is in the case"
    );
    assert!(
        d.history
            .iter()
            .any(|h| h.kind == "nachreichung_eingegangen" && h.actor == "portal")
    );

    // Continue and decide.
    let d = ws.case_action(&id, Action::VollstaendigFeststellen)?;
    assert_eq!(d.state, CaseState::InBearbeitung);
    // The clock is the case type's: a Servicefrist has no statutory period (only the
    // § 75 VwGO mark), a statutory one runs.
    assert!(!d.deadlines.legal_basis.is_empty());
    match d.deadlines.clock {
        domain::deadline::ClockKind::Servicefrist => {
            assert_eq!(d.deadlines.legal, None);
            assert!(d.deadlines.inaction_from.is_some());
        }
        _ => assert!(d.deadlines.legal.is_some(), "no statutory deadline"),
    }
    // The answer's history entry keeps the portal's signed receipt time.
    let answer = d
        .history
        .iter()
        .find(|h| h.kind == "nachreichung_eingegangen")
        .and_then(|h| h.detail.clone())
        .ok_or("no answer entry")?;
    let answer: serde_json::Value = serde_json::from_str(&answer)?;
    assert!(
        answer["eingang"]
            .as_str()
            .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()),
        "{answer}"
    );
    ws.case_action(
        &id,
        Action::Entscheiden {
            ergebnis: Decision::Bewilligt,
            begruendung: String::new(),
            anhoerung_vermerk: None,
        },
    )?;
    let d = ws.case_action(
        &id,
        Action::Versenden {
            kanal: "postfach".into(),
        },
    )?;
    assert_eq!(d.state, CaseState::Versandt);
    let kinds: Vec<&str> = d.history.iter().map(|h| h.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "zuweisung",
            "pruefung_beginnen",
            "nachfordern",
            "nachreichung_eingegangen",
            "vollstaendig",
            "entscheiden",
            "versenden"
        ]
    );

    // The scanning desk sees no case content.
    login(&mut ws, "scan")?;
    assert_eq!(
        ws.case_detail(&id).err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        ws.work_list(WorkListQuery::default()).err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    // The audit chain holds every act and is intact.
    ws.login(LoginRequest {
        username: "admin".into(),
        password: "admin-passwort-1".into(),
    })?;
    assert!(ws.verify_audit()?.is_intact());
    Ok(())
}
