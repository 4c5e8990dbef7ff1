//! Answers to BundID mailboxes end to end, through the real store, the real
//! simulator and its fake ZBP bridge: a citizen who asked for her BundID mailbox
//! (metadata 2.1.0) receives the Bescheid there, signed with the town's BPKI key,
//! and the BundID Statusmonitor follows her case; a message signed with a key the
//! BPKI did not issue is refused by the bridge and becomes a task that the clerk
//! settles by post; a citizen without a channel gets a printed letter; a second
//! run sends nothing again.

use std::path::Path;

use amtsstube_tests::app::{bescheid as letter, decide, login};
use amtsstube_tests::sim::BoxError;
use base64::Engine;
use domain::Role;
use domain::lifecycle::CaseState;
use sha2::{Digest, Sha512};
use workstation::{BundIdSettings, WorkListQuery};

const USER: &str = "sb1";

#[test]
fn the_bescheid_reaches_the_bundid_mailbox_the_statusmonitor_follows_and_a_refusal_is_a_task()
-> Result<(), BoxError> {
    let rt = tokio::runtime::Runtime::new()?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    let mailboxes = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
    portal_sim::seed::seed_replying(&mut run.sim.lock(), 3, 57, &|n, _| match n {
        0 | 1 => {
            serde_json::json!({ "idBundDeMailbox": { "mailboxUuid": mailboxes[n].to_string() } })
        }
        _ => serde_json::Value::Null,
    })?;
    let (bridge, key_pem, cert_pem) = {
        let st = run.sim.lock();
        (
            st.bridge.destination_id,
            st.bridge.author_key_pem.clone(),
            st.bridge.author_cert_pem.clone(),
        )
    };

    let tmp = tempfile::tempdir()?;
    let hkr = tmp.path().join("kasse");
    std::fs::create_dir(&hkr)?;
    let mut ws = amtsstube_tests::local::workstation(
        &tmp.path().join("daten"),
        Some(&run),
        &[(USER, Role::Sachbearbeitung)],
    )?;
    ws.set_hkr_folder(&hkr.to_string_lossy())?;
    ws.logout();

    // Not set up yet: the channel is shown, not offered, and the clerk is told why.
    login(&mut ws, USER)?;
    assert_eq!(ws.sync_now()?.new_cases, 3);
    let list = ws.work_list(WorkListQuery {
        limit: 10,
        ..WorkListQuery::default()
    })?;
    let mut cases = Vec::new();
    for c in &list.items {
        let d = ws.case_detail(&c.id)?;
        let channel = d.reply_channel.clone();
        let mailbox = match &channel {
            Some(ch) => {
                assert_eq!(ch.key, "idBundDeMailbox");
                assert!(!ch.available);
                Some(())
            }
            None => None,
        };
        cases.push((mailbox.is_some(), c.id.clone(), c.file_number.clone()));
    }
    cases.sort();
    let [plain, refused, ok] = [0, 1, 2].map(|i| cases[i].clone());
    assert!(!plain.0 && refused.0 && ok.0, "{cases:?}");
    decide(&mut ws, &refused.1)?;
    let view = ws.letter_view(&letter(&refused.1, "bundid"))?;
    assert!(!view.channels.contains(&"bundid".to_owned()));
    assert!(
        view.blocked
            .as_deref()
            .is_some_and(|b| b.contains("nicht eingerichtet")),
        "{:?}",
        view.blocked
    );
    ws.logout();

    // The administration: a key that does not match its certificate is refused; a
    // pair the BPKI never issued is not visible here – the bridge refuses it.
    login(&mut ws, "admin")?;
    let pki = fitconnect::keys::TestPki::new(2048)?;
    let (foreign_key, foreign_cert) = pki.issue_author(portal_sim::bridge::AUTHOR_CN, 2048)?;
    let mismatched = BundIdSettings {
        bridge_destination_id: bridge.to_string(),
        key_pem: foreign_key.clone(),
        cert_pem: cert_pem.clone(),
        level: None,
    };
    let e = ws
        .set_bundid_settings(&mismatched)
        .err()
        .ok_or("fremder Schlüssel angenommen")?;
    assert!(
        e.message.contains("gehören nicht zusammen"),
        "{}",
        e.message
    );
    let shown = ws.set_bundid_settings(&BundIdSettings {
        key_pem: foreign_key,
        cert_pem: foreign_cert,
        ..mismatched.clone()
    })?;
    assert_eq!(shown.signer, portal_sim::bridge::AUTHOR_CN);
    assert_eq!(shown.level, 3);
    ws.logout();

    login(&mut ws, USER)?;
    let view = ws.letter_view(&letter(&refused.1, "bundid"))?;
    assert_eq!(view.channels.first().map(String::as_str), Some("bundid"));
    ws.send_letter(&letter(&refused.1, "bundid"))?;
    ws.sync_now()?;
    let d = ws.case_detail(&refused.1)?;
    let outbox: Vec<String> = ws
        .case_outbox(&refused.1)?
        .into_iter()
        .map(|o| format!("{}: {} {:?}", o.what, o.state, o.error))
        .collect();
    assert_eq!(d.tasks.len(), 1, "{:?} {outbox:?}", d.tasks);
    assert!(
        d.tasks[0].contains("Nicht im BundID-Postfach zugestellt") && d.tasks[0].contains("BPKI"),
        "{}",
        d.tasks[0]
    );
    assert!(run.sim.lock().postkorb().is_empty(), "nothing got through");
    let answer =
        |d: &workstation::CaseDetail| -> Result<(String, String, Option<String>, bool), BoxError> {
            let a = d.answers.first().ok_or("keine Antwort")?;
            assert_eq!(d.answers.len(), 1, "{:?}", d.answers);
            Ok((
                a.kanal.clone(),
                a.state.clone(),
                a.wanted.clone(),
                a.fallback,
            ))
        };
    assert_eq!(
        answer(&d)?,
        (
            "bundid".into(),
            "fehlgeschlagen".into(),
            Some("idBundDeMailbox".into()),
            false
        )
    );
    assert!(
        d.answers[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("BPKI"))
    );
    // Posted instead: the task is done, the answer says how it went.
    let d = ws.mail_refused_sent_by_post(&refused.1)?;
    assert!(d.tasks.is_empty(), "{:?}", d.tasks);
    assert_eq!(answer(&d)?.1, "per Post nachgesandt");
    assert_eq!(
        d.history.last().map(|h| h.kind.as_str()),
        Some("ersatzversand_post")
    );
    ws.logout();

    // The right key pair.
    login(&mut ws, "admin")?;
    ws.set_bundid_settings(&BundIdSettings {
        key_pem,
        cert_pem,
        ..mismatched
    })?;
    ws.logout();

    login(&mut ws, USER)?;
    assert!(
        ws.case_detail(&ok.1)?
            .reply_channel
            .is_some_and(|c| c.available)
    );
    decide(&mut ws, &ok.1)?;
    let sent = ws.send_letter(&letter(&ok.1, "bundid"))?;
    assert_eq!(sent.state, CaseState::Versandt);
    let detail: serde_json::Value = serde_json::from_str(
        sent.history
            .last()
            .and_then(|h| h.detail.as_deref())
            .ok_or("kein Verlauf")?,
    )?;
    assert_eq!(detail["kanal"], "bundid");
    assert_eq!(
        detail["antwortweg"],
        serde_json::json!({ "gewuenscht": "idBundDeMailbox", "ersatzweg": false })
    );
    // No channel: by post, nothing electronic.
    decide(&mut ws, &plain.1)?;
    let view = ws.letter_view(&letter(&plain.1, "post"))?;
    assert!(!view.channels.contains(&"bundid".to_owned()));
    assert!(view.reply_channel.is_none());
    ws.send_letter(&letter(&plain.1, "post"))?;

    ws.sync_now()?;
    let inbox = run.sim.lock().postkorb();
    let messages: Vec<_> = inbox.iter().filter(|e| e.art == "nachricht").collect();
    assert_eq!(messages.len(), 1, "{inbox:?}");
    let m = messages[0];
    assert!(
        m.mailbox_uuid.is_some_and(|u| mailboxes.contains(&u)),
        "{:?}",
        m.mailbox_uuid
    );
    assert_eq!(m.signer, portal_sim::bridge::AUTHOR_CN);
    assert_eq!(m.reference.as_deref(), Some(ok.2.as_str()));
    let stored = ws
        .case_detail(&ok.1)?
        .documents
        .into_iter()
        .find(|d| d.kind == domain::DocumentKind::Letter)
        .ok_or("kein Brief")?;
    let stored = base64::engine::general_purpose::STANDARD
        .decode(ws.document(&ok.1, &stored.id)?.content_base64)?;
    let received = base64::engine::general_purpose::STANDARD.decode(&m.files[0].content)?;
    assert_eq!(
        hex::encode(Sha512::digest(&received)),
        hex::encode(Sha512::digest(&stored)),
        "the PDF as stored"
    );

    // The Statusmonitor followed the case, in order, for its application only.
    let application = m.application_id.ok_or("keine Antrags-ID")?;
    let states = portal_sim::bridge::statuses(&inbox, application);
    let expected: Vec<(String, String)> = [
        ("RECEIVED", "Vollständigkeit wird geprüft"),
        ("PROCESSING", "in Bearbeitung"),
        ("PROCESSING", "entschieden, Bescheid folgt"),
        ("COMPLETED", "Bescheid versandt"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(states, expected);
    let outbox: Vec<String> = ws
        .case_outbox(&ok.1)?
        .into_iter()
        .map(|o| format!("{}: {}", o.what, o.state))
        .collect();
    assert!(
        outbox.contains(&"Brief an das BundID-Postfach: bestätigt".to_owned()),
        "{outbox:?}"
    );
    let d = ws.case_detail(&ok.1)?;
    assert!(d.tasks.is_empty());
    assert_eq!(
        answer(&d)?,
        (
            "bundid".into(),
            "übermittelt".into(),
            Some("idBundDeMailbox".into()),
            false
        )
    );
    assert_eq!(
        answer(&ws.case_detail(&plain.1)?)?,
        ("post".into(), "per Post".into(), None, false)
    );

    // Nothing goes twice.
    let before = run.sim.lock().postkorb().len();
    ws.sync_now()?;
    assert_eq!(run.sim.lock().postkorb().len(), before);
    Ok(())
}
