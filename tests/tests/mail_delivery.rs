//! Answers by e-mail end to end, through the real store, the real simulator and a
//! local SMTP sink (STARTTLS, login): a citizen who gave an OpenPGP key receives
//! the Bescheid as PGP/MIME that decrypts with her key to the stored PDF, with no
//! personal data in the headers; a citizen without a key gets the letter by post
//! and an e-mail that only announces it; a refused address becomes a task on the
//! case and holds back no booking; a second run sends nothing again.

use std::cell::RefCell;
use std::path::Path;

use amtsstube_tests::app::{bescheid as letter, decide, login};
use amtsstube_tests::sim::BoxError;
use amtsstube_tests::smtp::{Sink, citizen_key, decrypt, letter_of};
use base64::Engine;
use domain::Role;
use domain::lifecycle::CaseState;
use mail_parser::MessageParser;
use sha2::{Digest, Sha512};
use workstation::{BounceSettings, MailSettings, WorkListQuery};

const USER: &str = "sb1";
const REFUSED: &str = "unbekannt@example.org";

/// The header block of a raw message (everything before the first blank line).
fn headers(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

#[test]
fn the_bescheid_goes_encrypted_a_notice_without_a_key_and_a_refusal_becomes_a_task()
-> Result<(), BoxError> {
    let rt = tokio::runtime::Runtime::new()?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    let (secret_a, public_a) = citizen_key("Antragstellerin A <a@example.org>")?;
    let (secret_c, public_c) = citizen_key("Unbekannt <unbekannt@example.org>")?;
    // FIT-Connect's schema wants the armour without headers.
    assert!(public_a.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"));
    let addresses = RefCell::new(Vec::new());
    portal_sim::seed::seed_replying(&mut run.sim.lock(), 3, 91, &|n, email| {
        addresses.borrow_mut().push(email.to_owned());
        match n {
            0 => serde_json::json!({ "eMail": { "address": email, "pgpPublicKey": public_a } }),
            1 => serde_json::json!({ "eMail": { "address": email } }),
            _ => serde_json::json!({ "eMail": { "address": REFUSED, "pgpPublicKey": public_c } }),
        }
    })?;
    let addresses = addresses.into_inner();
    let sink = Sink::start(("rathaus", "relay-passwort-1"))?;
    sink.refuse(REFUSED);

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

    // Without a relay no letter goes by e-mail, and the clerk is told why.
    login(&mut ws, USER)?;
    assert_eq!(ws.sync_now()?.new_cases, 3);
    let list = ws.work_list(WorkListQuery {
        limit: 10,
        ..WorkListQuery::default()
    })?;
    let mut by_address = Vec::new();
    for c in &list.items {
        let d = ws.case_detail(&c.id)?;
        let label = d.reply_channel.ok_or("kein Antwortweg")?.label;
        let i = if label.contains(REFUSED) {
            2
        } else {
            addresses
                .iter()
                .position(|a| label.contains(a.as_str()))
                .ok_or("Adresse unbekannt")?
        };
        by_address.push((i, c.id.clone(), c.file_number.clone(), d.applicant.clone()));
        decide(&mut ws, &c.id)?;
    }
    by_address.sort();
    let [with_key, without_key, refused] = [0, 1, 2].map(|i| by_address[i].clone());
    let view = ws.letter_view(&letter(&with_key.1, "email"))?;
    assert!(!view.channels.contains(&"email".to_owned()));
    assert!(
        view.blocked
            .as_deref()
            .is_some_and(|b| b.contains("Mailserver")),
        "{:?}",
        view.blocked
    );
    ws.logout();

    // The administration sets up the relay; a wrong setting is refused first.
    login(&mut ws, "admin")?;
    let settings = MailSettings {
        host: "127.0.0.1".into(),
        port: sink.port,
        security: "starttls".into(),
        user: Some("rathaus".into()),
        password: Some("relay-passwort-1".into()),
        from: "buergerbuero@musterstadt.example".into(),
        from_name: Some("Stadt Musterstadt".into()),
        ca_pem: Some(sink.ca_pem.clone()),
    };
    let plain_remote = MailSettings {
        host: "mail.musterstadt.example".into(),
        security: "keine".into(),
        ..settings.clone()
    };
    assert!(ws.set_mail_settings(&plain_remote).is_err());
    let shown = ws.set_mail_settings(&settings)?;
    assert!(shown.password_set && shown.ca_set);
    // "Verbindung testen" logs in at the sink and sends nothing.
    let answer = ws.mail_check()?.run()?;
    assert!(answer.contains("Anmeldung"), "{answer}");
    // Changing the form without retyping the password keeps it.
    ws.set_mail_settings(&MailSettings {
        password: None,
        ..settings.clone()
    })?;
    assert!(ws.mail_check()?.run().is_ok());
    let wrong = MailSettings {
        password: Some("falsch".into()),
        ..settings.clone()
    };
    ws.set_mail_settings(&wrong)?;
    let refused_login = ws
        .mail_check()?
        .run()
        .err()
        .ok_or("falsches Passwort angenommen")?;
    assert!(
        refused_login.message.contains("Anmeldung"),
        "{}",
        refused_login.message
    );
    ws.set_mail_settings(&settings)?;
    ws.logout();

    login(&mut ws, USER)?;
    let view = ws.letter_view(&letter(&with_key.1, "email"))?;
    assert_eq!(view.channels.first().map(String::as_str), Some("email"));
    assert!(view.blocked.is_none(), "{:?}", view.blocked);
    assert!(
        ws.case_detail(&with_key.1)?
            .reply_channel
            .is_some_and(|c| c.available)
    );
    // Without a key: not by e-mail, and the reason says so.
    let nokey = ws.letter_view(&letter(&without_key.1, "email"))?;
    assert!(!nokey.channels.contains(&"email".to_owned()));
    assert!(
        nokey
            .blocked
            .as_deref()
            .is_some_and(|b| b.contains("OpenPGP")),
        "{:?}",
        nokey.blocked
    );
    assert!(ws.send_letter(&letter(&without_key.1, "email")).is_err());

    let sent = ws.send_letter(&letter(&with_key.1, "email"))?;
    assert_eq!(sent.state, CaseState::Versandt);
    let detail: serde_json::Value = serde_json::from_str(
        sent.history
            .last()
            .and_then(|h| h.detail.as_deref())
            .ok_or("kein Verlauf")?,
    )?;
    assert_eq!(detail["kanal"], "email");
    assert_eq!(
        detail["antwortweg"],
        serde_json::json!({ "gewuenscht": "eMail", "ersatzweg": false })
    );
    let posted = ws.send_letter(&letter(&without_key.1, "post"))?;
    // The citizen asked for e-mail; without her key the letter went by post.
    let a = posted.answers.first().ok_or("keine Antwort")?;
    assert_eq!(
        (
            a.kanal.as_str(),
            a.state.as_str(),
            a.wanted.as_deref(),
            a.fallback
        ),
        ("post", "per Post", Some("eMail"), true)
    );
    ws.send_letter(&letter(&refused.1, "email"))?;
    let outbox: Vec<String> = ws
        .case_outbox(&with_key.1)?
        .into_iter()
        .map(|o| format!("{}: {}", o.what, o.state))
        .collect();
    assert!(
        outbox.contains(&"Brief per E-Mail (verschlüsselt): wartet".to_owned()),
        "{outbox:?}"
    );

    ws.sync_now()?;
    let received = sink.received();
    assert_eq!(received.len(), 2, "one encrypted letter, one notice");
    assert_eq!(sink.refusals(), vec![REFUSED.to_owned()]);
    for m in &received {
        assert!(m.tls, "only over STARTTLS");
        assert_eq!(m.user.as_deref(), Some("rathaus"));
        assert_eq!(m.from, "buergerbuero@musterstadt.example");
    }

    // The encrypted letter: the stored PDF, for her key only.
    let to_a = received
        .iter()
        .find(|m| m.to == vec![addresses[0].clone()])
        .ok_or("keine E-Mail an A")?;
    let head = headers(&to_a.data);
    let family = with_key.3.split_whitespace().last().unwrap_or_default();
    for secret in [
        with_key.2.as_str(),
        family,
        "Bescheid",
        "Meldebescheinigung",
        "Hund",
    ] {
        assert!(!head.contains(secret), "„{secret}“ im Kopf: {head}");
    }
    assert!(head.contains("Subject: Nachricht von "), "{head}");
    assert!(!String::from_utf8_lossy(&to_a.data).contains(&with_key.2));
    let inner = decrypt(&to_a.data, &secret_a)?;
    assert!(
        decrypt(&to_a.data, &secret_c).is_err(),
        "only the citizen's key opens it"
    );
    let (pdf, text) = letter_of(&inner)?;
    assert!(text.contains(&with_key.2), "{text}");
    let stored = ws
        .case_detail(&with_key.1)?
        .documents
        .into_iter()
        .find(|d| d.kind == domain::DocumentKind::Letter)
        .ok_or("kein Brief")?;
    let stored = base64::engine::general_purpose::STANDARD
        .decode(ws.document(&with_key.1, &stored.id)?.content_base64)?;
    assert_eq!(
        hex::encode(Sha512::digest(&pdf)),
        hex::encode(Sha512::digest(&stored)),
        "the PDF as stored"
    );

    // The notice: nothing of the case.
    let notice = received
        .iter()
        .find(|m| m.to == vec![addresses[1].clone()])
        .ok_or("kein Hinweis an B")?;
    let raw = String::from_utf8_lossy(&notice.data);
    let family_b = without_key.3.split_whitespace().last().unwrap_or_default();
    for secret in [without_key.2.as_str(), family_b, "%PDF", "Bescheid"] {
        assert!(!raw.contains(secret), "„{secret}“ im Hinweis: {raw}");
    }
    let parsed = MessageParser::default()
        .parse(&notice.data)
        .ok_or("Hinweis nicht lesbar")?;
    assert_eq!(parsed.attachment_count(), 0);
    assert!(
        parsed
            .body_text(0)
            .is_some_and(|t| t.contains("per Post gesandt")),
        "{raw}"
    );

    // The refused address: a task on the case; its booking went out regardless.
    let d = ws.case_detail(&refused.1)?;
    assert_eq!(d.tasks.len(), 1, "{:?}", d.tasks);
    assert!(
        d.tasks[0].contains("E-Mail nicht zugestellt"),
        "{}",
        d.tasks[0]
    );
    assert!(d.tasks[0].contains("550"), "{}", d.tasks[0]);
    let states: Vec<(String, String)> = ws
        .case_outbox(&refused.1)?
        .into_iter()
        .map(|o| (o.what, o.state))
        .collect();
    assert!(
        states
            .iter()
            .any(|(w, s)| w.contains("E-Mail") && s == "fehlgeschlagen"),
        "{states:?}"
    );
    assert!(
        states
            .iter()
            .filter(|(w, _)| !w.contains("E-Mail"))
            .all(|(_, s)| s == "bestätigt"),
        "{states:?}"
    );
    assert!(ws.case_detail(&with_key.1)?.tasks.is_empty());
    // The clerk prints the stored letter and posts it: the task is done, the case
    // says so, and there is nothing left to settle.
    // Sent by e-mail, the Bescheid counts as delivered like one posted today (§ 41
    // Abs. 2 VwVfG); the refused one not until it goes by post.
    let by_mail = ws.case_detail(&with_key.1)?.deadlines.deemed_delivery;
    assert!(by_mail.is_some());
    assert_eq!(ws.case_detail(&refused.1)?.deadlines.deemed_delivery, None);
    let d = ws.mail_refused_sent_by_post(&refused.1)?;
    assert!(d.tasks.is_empty(), "{:?}", d.tasks);
    assert_eq!(d.deadlines.deemed_delivery, by_mail);
    let last = d.history.last().ok_or("kein Verlauf")?;
    assert_eq!(last.kind, "ersatzversand_post");
    assert!(
        last.detail
            .as_deref()
            .is_some_and(|x| x.contains("\"kanal\":\"post\"")),
        "{:?}",
        last.detail
    );
    let again = ws
        .mail_refused_sent_by_post(&refused.1)
        .err()
        .ok_or("zweimal erledigt")?;
    assert!(
        again.message.contains("keine nicht zugestellte E-Mail"),
        "{}",
        again.message
    );
    assert!(ws.mail_refused_sent_by_post(&with_key.1).is_err());

    // Exactly once: a second run sends nothing again.
    ws.sync_now()?;
    assert_eq!(sink.received().len(), 2);
    assert_eq!(sink.refusals().len(), 1);
    Ok(())
}

/// A provider that takes the e-mail and refuses it later: its delivery status
/// notification (RFC 3464) arrives in the town's mailbox, is read by IMAP (TLS,
/// login) and becomes the same task as a refusal at the relay – once, however
/// often the mailbox is read.
#[test]
fn a_late_bounce_read_from_the_town_mailbox_becomes_a_task_once() -> Result<(), BoxError> {
    const LATER: &str = "spaeter.unzustellbar@example.org";
    let rt = tokio::runtime::Runtime::new()?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    let (_, public) = citizen_key("Später <spaeter.unzustellbar@example.org>")?;
    portal_sim::seed::seed_replying(
        &mut run.sim.lock(),
        1,
        17,
        &|_, _| serde_json::json!({ "eMail": { "address": LATER, "pgpPublicKey": public } }),
    )?;
    let sink = Sink::start(("rathaus", "relay-passwort-1"))?;
    sink.bounce_later(LATER);
    // Other mail in the same mailbox: a reply that quotes no bounce.
    sink.to_town_box(
        b"From: Buerger <b@example.org>\r\nTo: buergerbuero@musterstadt.example\r\n\
          Subject: Frage\r\nMessage-ID: <frage-1@example.org>\r\n\r\nGuten Tag, eine Frage.\r\n",
    );

    let tmp = tempfile::tempdir()?;
    let mut ws = amtsstube_tests::local::workstation(
        &tmp.path().join("daten"),
        Some(&run),
        &[(USER, Role::Sachbearbeitung)],
    )?;
    let hkr = tmp.path().join("kasse");
    std::fs::create_dir(&hkr)?;
    ws.set_hkr_folder(&hkr.to_string_lossy())?;
    let bounce = BounceSettings {
        host: "127.0.0.1".into(),
        port: sink.imap_port,
        security: "tls".into(),
        user: "rathaus".into(),
        password: Some("relay-passwort-1".into()),
        folder: "INBOX".into(),
    };
    // The mailbox needs the relay first (its bounces are what is read).
    assert!(ws.set_mail_bounce_settings(&bounce).is_err());
    ws.set_mail_settings(&MailSettings {
        host: "127.0.0.1".into(),
        port: sink.port,
        security: "starttls".into(),
        user: Some("rathaus".into()),
        password: Some("relay-passwort-1".into()),
        from: "buergerbuero@musterstadt.example".into(),
        from_name: None,
        ca_pem: Some(sink.ca_pem.clone()),
    })?;
    assert!(
        ws.set_mail_bounce_settings(&BounceSettings {
            security: "keine".into(),
            host: "imap.musterstadt.example".into(),
            ..bounce.clone()
        })
        .is_err(),
        "unencrypted only on this PC"
    );
    ws.set_mail_bounce_settings(&BounceSettings {
        password: Some("falsch".into()),
        ..bounce.clone()
    })?;
    let wrong = ws
        .mail_bounce_check()?
        .run()
        .err()
        .ok_or("falsches Passwort angenommen")?;
    assert!(wrong.message.contains("Anmeldung"), "{}", wrong.message);
    let shown = ws.set_mail_bounce_settings(&bounce)?;
    assert_eq!(
        (shown.folder.as_str(), shown.security.as_str()),
        ("INBOX", "tls")
    );
    let answer = ws.mail_bounce_check()?.run()?;
    assert!(answer.contains("lesbar"), "{answer}");
    // A missing folder is named.
    ws.set_mail_bounce_settings(&BounceSettings {
        folder: "Rücklauf".into(),
        password: None,
        ..bounce.clone()
    })?;
    let folder = ws
        .mail_bounce_check()?
        .run()
        .err()
        .ok_or("Ordner gefunden")?;
    assert!(folder.message.contains("Rücklauf"), "{}", folder.message);
    ws.set_mail_bounce_settings(&bounce)?;
    ws.logout();

    login(&mut ws, USER)?;
    assert_eq!(ws.sync_now()?.new_cases, 1);
    let case = ws
        .work_list(WorkListQuery {
            limit: 10,
            ..WorkListQuery::default()
        })?
        .items
        .first()
        .map(|c| c.id.clone())
        .ok_or("kein Vorgang")?;
    decide(&mut ws, &case)?;
    ws.send_letter(&letter(&case, "email"))?;
    // One run: the relay takes the e-mail, the provider's report comes back, the
    // mailbox is read after the delivery.
    let summary = ws.sync_now()?;
    assert_eq!(summary.problem, None);
    assert_eq!(sink.received().len(), 1, "accepted by the relay");
    assert_eq!(sink.town_box().len(), 2, "the report beside the other mail");
    let d = ws.case_detail(&case)?;
    let a = d.answers.first().ok_or("keine Antwort")?;
    assert_eq!(
        (a.kanal.as_str(), a.state.as_str()),
        ("email", "fehlgeschlagen")
    );
    let why = a.error.clone().unwrap_or_default();
    assert!(
        why.contains("Empfängeradresse unbekannt") && why.contains("5.1.1"),
        "{why}"
    );
    assert_eq!(d.tasks.len(), 1, "{:?}", d.tasks);
    assert!(
        d.tasks[0].contains("E-Mail nicht zugestellt"),
        "{}",
        d.tasks[0]
    );
    let bounced = |d: &workstation::CaseDetail| {
        d.history
            .iter()
            .filter(|h| h.kind == "email_unzustellbar")
            .count()
    };
    assert_eq!(bounced(&d), 1);

    // Read again from the start (the cursor lost, as after a crash before it was
    // kept): nothing is recorded twice.
    ws.logout();
    login(&mut ws, "admin")?;
    ws.set_mail_bounce_settings(&bounce)?;
    ws.logout();
    login(&mut ws, USER)?;
    ws.sync_now()?;
    ws.sync_now()?;
    let d = ws.case_detail(&case)?;
    assert_eq!(bounced(&d), 1);
    assert_eq!(d.tasks.len(), 1, "{:?}", d.tasks);
    assert_eq!(sink.received().len(), 1, "nothing sent again");

    // The clerk posts the letter; a report read again does not reopen it.
    let d = ws.mail_refused_sent_by_post(&case)?;
    assert!(d.tasks.is_empty(), "{:?}", d.tasks);
    assert_eq!(
        d.answers.first().map(|a| a.state.as_str()),
        Some("per Post nachgesandt")
    );
    ws.logout();
    login(&mut ws, "admin")?;
    ws.set_mail_bounce_settings(&bounce)?;
    ws.logout();
    login(&mut ws, USER)?;
    ws.sync_now()?;
    let d = ws.case_detail(&case)?;
    assert!(d.tasks.is_empty(), "{:?}", d.tasks);
    assert_eq!(bounced(&d), 1);
    Ok(())
}
