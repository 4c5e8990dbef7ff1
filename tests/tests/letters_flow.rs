//! Answers end to end: decided cases get their Bescheid through "Versenden" – the PDF
//! reaches the citizen's mailbox at the simulator (decrypted there, identical by
//! hash), the Annahmeanordnung lands in the HKR folder once, a payment request goes
//! to the portal unless the fee was paid online – and the same holds when the
//! `amtsstube` processes that send and synchronise are killed with SIGKILL at random
//! moments in between – for letters by e-mail too (through a local SMTP sink).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use amtsstube_tests::app::login;
use amtsstube_tests::delivery::{check_delivered, citizen_case};
use amtsstube_tests::sim::BoxError;
use base64::Engine;
use domain::Role;
use domain::lifecycle::{Action, CaseState, Decision};
use portal_sim::Faults;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha512};
use workstation::{LetterKind, LetterRequest, WorkListQuery, Workstation};

const USER: &str = "sb1";
const PASSWORD: &str = "sb1-passwort-1";

/// Sync, then bring every case to "Entschieden" (some rejected with a reason).
fn decide_all(ws: &mut Workstation) -> Result<Vec<(String, String)>, BoxError> {
    let list = ws.work_list(WorkListQuery {
        limit: 500,
        ..WorkListQuery::default()
    })?;
    let mut cases = Vec::new();
    for (i, c) in list.items.iter().enumerate() {
        ws.case_action(&c.id, Action::PruefungBeginnen)?;
        for item in ws.case_detail(&c.id)?.checklist {
            ws.set_check(&c.id, &item.item, true)?;
        }
        ws.case_action(&c.id, Action::VollstaendigFeststellen)?;
        let (ergebnis, begruendung) = if i % 4 == 3 {
            (
                Decision::Abgelehnt,
                "Die Unterlagen belegen den Wohnsitz in der Zone nicht.".to_owned(),
            )
        } else {
            (Decision::Bewilligt, String::new())
        };
        let d = ws.case_action(
            &c.id,
            Action::Entscheiden {
                ergebnis,
                begruendung,
                // § 28 VwVfG: a refusal without a hearing only with the reason.
                anhoerung_vermerk: (ergebnis != Decision::Bewilligt).then(|| {
                    "Stellungnahme der Antragstellerin vom 01.12.2026 liegt vor.".to_owned()
                }),
            },
        )?;
        assert_eq!(d.state, CaseState::Entschieden);
        cases.push((c.id.clone(), c.file_number.clone()));
    }
    Ok(cases)
}

fn bescheid(case_id: &str, kanal: &str) -> LetterRequest {
    LetterRequest {
        case_id: case_id.to_owned(),
        kind: LetterKind::Bescheid,
        fees: Vec::new(),
        edits: Vec::new(),
        kanal: kanal.to_owned(),
    }
}

#[test]
fn bescheid_reaches_mailbox_cash_system_and_payment_service_once() -> Result<(), BoxError> {
    let rt = tokio::runtime::Runtime::new()?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    portal_sim::seed::seed(&mut run.sim.lock(), 16, 77)?;
    let tmp = tempfile::tempdir()?;
    let hkr = tmp.path().join("kasse");
    std::fs::create_dir(&hkr)?;
    let mut ws = amtsstube_tests::local::workstation(
        &tmp.path().join("daten"),
        Some(&run),
        &[(USER, Role::Sachbearbeitung)],
    )?;
    login(&mut ws, USER)?;
    assert_eq!(ws.sync_now()?.new_cases, 16);
    let cases = decide_all(&mut ws)?;

    // Without a cash folder a fee cannot be booked: refused with a message, nothing sent.
    let with_fee = cases
        .iter()
        .find(|(id, _)| {
            ws.letter_view(&bescheid(id, "postfach"))
                .is_ok_and(|v| v.draft.fees.as_ref().is_some_and(|f| f.total_cent > 0))
        })
        .ok_or("no case with a fee")?
        .clone();
    let err = ws
        .send_letter(&bescheid(&with_fee.0, "postfach"))
        .err()
        .ok_or("sent without a cash folder")?;
    assert!(err.message.contains("Kassenordner"), "{}", err.message);
    assert_eq!(ws.case_detail(&with_fee.0)?.state, CaseState::Entschieden);
    ws.logout();
    login(&mut ws, "admin")?;
    // Only an existing absolute directory is accepted.
    for bad in ["kasse", "/gibt/es/nicht"] {
        let err = ws.set_hkr_folder(bad).err().ok_or("accepted")?;
        assert!(
            err.message.contains("kein vorhandenes Verzeichnis"),
            "{}",
            err.message
        );
    }
    ws.set_hkr_folder(&hkr.to_string_lossy())?;
    ws.logout();
    login(&mut ws, USER)?;

    // The view: letter types of the state, channels, the Rechtsbehelfsbelehrung (NW:
    // Klage), and a preview rendered in memory.
    let view = ws.letter_view(&bescheid(&cases[0].0, "postfach"))?;
    assert!(view.kinds.contains(&LetterKind::Bescheid));
    assert_eq!(view.channels, vec!["postfach", "post"]);
    assert_eq!(view.draft.rechtsbehelf.as_deref(), Some("Klage"));
    assert!(view.blocked.is_none(), "{:?}", view.blocked);
    let preview = ws.letter_preview(&bescheid(&cases[0].0, "postfach"))?;
    assert!(preview.starts_with(b"%PDF-"));
    assert_eq!(ws.case_detail(&cases[0].0)?.state, CaseState::Entschieden);
    // A rejected case carries the decision's reason into the Begründung.
    let rejected = &cases[3].0;
    let rv = ws.letter_view(&bescheid(rejected, "postfach"))?;
    let reason = rv
        .draft
        .blocks
        .iter()
        .find(|b| b.key == "begruendung")
        .ok_or("keine Begründung")?;
    assert!(
        reason.text.contains("Wohnsitz in der Zone"),
        "{}",
        reason.text
    );

    // One case goes by post: no reply, the channel is recorded. The citizen asked
    // for e-mail (metadata `replyChannel`), which this installation cannot serve
    // yet: the case shows it, and the letter records the other way it took.
    let (post_id, _) = cases.last().ok_or("no case")?.clone();
    let asked = ws
        .case_detail(&post_id)?
        .reply_channel
        .ok_or("no reply channel shown")?;
    assert_eq!(asked.key, "eMail");
    assert!(asked.label.starts_with("E-Mail an "), "{}", asked.label);
    assert!(!asked.available);
    let d = ws.send_letter(&bescheid(&post_id, "post"))?;
    assert_eq!(d.state, CaseState::Versandt);
    let last = d.history.last().ok_or("no history")?;
    let detail: serde_json::Value =
        serde_json::from_str(last.detail.as_deref().ok_or("no detail")?)?;
    assert_eq!(detail["kanal"], "post");
    assert_eq!(
        detail["antwortweg"],
        serde_json::json!({ "gewuenscht": "eMail", "ersatzweg": true })
    );

    let online: Vec<(String, String)> = cases[..cases.len() - 1].to_vec();
    for (id, _) in &online {
        ws.send_letter(&bescheid(id, "postfach"))?;
        // A second click finds the case sent already.
        assert!(ws.send_letter(&bescheid(id, "postfach")).is_err());
        let states: Vec<String> = ws.case_outbox(id)?.into_iter().map(|o| o.state).collect();
        assert!(states.iter().any(|s| s == "wartet"), "{states:?}");
    }
    // The fee is booked once: a sent Bescheid with a fee leaves no Gebührenbescheid,
    // and a later letter carries no fee.
    let after = ws.letter_view(&bescheid(&with_fee.0, "postfach"))?;
    assert!(
        !after.kinds.contains(&LetterKind::Gebuehrenbescheid),
        "{:?}",
        after.kinds
    );
    assert!(after.draft.fees.is_none());
    let summary = ws.sync_now()?;
    assert_eq!(summary.failed, 0);
    assert_eq!(summary.pending, 0, "{summary:?}");
    // The posted case is booked too (its Kassenzeichen is in the history entry).
    let posted_kz: Vec<String> = ws
        .case_detail(&post_id)?
        .history
        .iter()
        .filter_map(|h| h.detail.as_deref())
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| v["kassenzeichen"].as_str().map(str::to_owned))
        .collect();
    rt.block_on(check_delivered(&mut ws, &run, &hkr, &online, &posted_kz))?;
    // Nothing went to the citizen for the posted case.
    let posted = ws
        .case_detail(&post_id)?
        .portal_case_id
        .ok_or("kein Portal")?;
    let view = rt.block_on(citizen_case(&run, &posted))?;
    assert!(view.replies.is_empty());
    ws.logout();
    login(&mut ws, "admin")?;
    assert!(ws.verify_audit()?.is_intact());
    Ok(())
}

fn spawn(bin: &Path, data: &Path, args: &[&str]) -> Result<std::process::Child, BoxError> {
    let mut child = Command::new(bin)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .args(["--as", USER])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "{PASSWORD}")?;
    }
    Ok(child)
}

/// Run a child, SIGKILL it after `ms` if it is still running. Some(elapsed) when it
/// finished by itself, None when it was killed.
fn run_or_kill(mut child: std::process::Child, ms: u64) -> Result<Option<Duration>, BoxError> {
    let started = Instant::now();
    let deadline = started + Duration::from_millis(ms);
    loop {
        if child.try_wait()?.is_some() {
            return Ok(Some(started.elapsed()));
        }
        if Instant::now() >= deadline {
            child.kill()?;
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn killed_between_and_during_the_steps_nothing_is_lost_or_doubled() -> Result<(), BoxError> {
    let rounds = std::env::var("LETTER_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60u64);
    let mut rng = SmallRng::seed_from_u64(4711);
    let bin = amtsstube_tests::app::amtsstube_bin()?;
    let rt = tokio::runtime::Runtime::new()?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    // Every third citizen asked for e-mail with an OpenPGP key, every third for
    // her BundID mailbox.
    let (secret, public) = amtsstube_tests::smtp::citizen_key("Bürgerin <b@example.org>")?;
    let addresses = std::cell::RefCell::new(Vec::new());
    portal_sim::seed::seed_replying(&mut run.sim.lock(), 10, 99, &|n, email| match n % 3 {
        0 => {
            addresses.borrow_mut().push(email.to_owned());
            serde_json::json!({ "eMail": { "address": email, "pgpPublicKey": public } })
        }
        1 => {
            serde_json::json!({ "idBundDeMailbox": { "mailboxUuid": uuid::Uuid::new_v4().to_string() } })
        }
        _ => serde_json::json!({ "eMail": { "address": email } }),
    })?;
    let addresses = addresses.into_inner();
    let sink = amtsstube_tests::smtp::Sink::start(("rathaus", "relay-passwort-1"))?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("daten");
    let hkr = tmp.path().join("kasse");
    std::fs::create_dir(&hkr)?;
    let mut ws =
        amtsstube_tests::local::workstation(&data, Some(&run), &[(USER, Role::Sachbearbeitung)])?;
    login(&mut ws, "admin")?;
    ws.set_hkr_folder(&hkr.to_string_lossy())?;
    ws.set_mail_settings(&workstation::MailSettings {
        host: "127.0.0.1".into(),
        port: sink.port,
        security: "starttls".into(),
        user: Some("rathaus".into()),
        password: Some("relay-passwort-1".into()),
        from: "buergerbuero@musterstadt.example".into(),
        from_name: None,
        ca_pem: Some(sink.ca_pem.clone()),
    })?;
    let bpki = {
        let st = run.sim.lock();
        workstation::BundIdSettings {
            bridge_destination_id: st.bridge.destination_id.to_string(),
            key_pem: st.bridge.author_key_pem.clone(),
            cert_pem: st.bridge.author_cert_pem.clone(),
            level: None,
        }
    };
    ws.set_bundid_settings(&bpki)?;
    ws.logout();
    login(&mut ws, USER)?;
    ws.sync_now()?;
    let cases = decide_all(&mut ws)?;
    // The cases whose letter goes to a BundID mailbox.
    let mut by_bundid = std::collections::HashSet::new();
    for (id, _) in &cases {
        if ws
            .case_detail(id)?
            .reply_channel
            .is_some_and(|c| c.key == "idBundDeMailbox" && c.available)
        {
            by_bundid.insert(id.clone());
        }
    }
    assert_eq!(by_bundid.len(), 3);
    // The cases whose letter goes by e-mail, and to which address.
    let mut by_mail = std::collections::HashMap::new();
    for (id, _) in &cases {
        let label = ws.case_detail(id)?.reply_channel.map(|c| c.label);
        if let Some(a) = addresses
            .iter()
            .find(|a| label.as_deref().is_some_and(|l| l.contains(a.as_str())))
        {
            by_mail.insert(id.clone(), a.clone());
        }
    }
    assert_eq!(by_mail.len(), addresses.len());
    ws.logout();
    drop(ws);

    let mut kills = 0;
    let (mut brief_ms, mut sync_ms) = (400u64, 400u64);
    let mut left: Vec<(String, String)> = cases.clone();
    let mut round = 0;
    while round < rounds || !left.is_empty() {
        round += 1;
        assert!(
            round < rounds + 200,
            "letters not sent after {round} rounds"
        );
        run.sim.set_faults(Faults {
            error_rate: 0.2,
            reset_rate: 0.1,
            latency_ms: rng.random_range(0..20),
            seed: round,
            ..Faults::default()
        });
        if !left.is_empty() && rng.random_bool(0.6) {
            let i = rng.random_range(0..left.len());
            let (id, az) = left[i].clone();
            let kanal = if by_mail.contains_key(&id) {
                "email"
            } else if by_bundid.contains(&id) {
                "bundid"
            } else {
                "postfach"
            };
            let child = spawn(
                &bin,
                &data,
                &["brief", &az, "--art", "bescheid", "--kanal", kanal],
            )?;
            // Kill somewhere within how long a run takes on this machine (learnt from the
            // last run that finished, and stretched after each kill, so that a machine
            // that slows down still lets runs through), so that most runs are cut at a
            // random step. After the kill rounds the remaining letters are sent without
            // kills: what counts then is that they all go out once.
            let limit = if round > rounds {
                60_000
            } else {
                rng.random_range(5..=brief_ms.max(6))
            };
            match run_or_kill(child, limit)? {
                Some(took) => brief_ms = (took.as_millis() as u64 * 6 / 5).max(20),
                None => {
                    kills += 1;
                    brief_ms = brief_ms * 11 / 10 + 1;
                }
            }
        } else {
            let child = spawn(&bin, &data, &["sync"])?;
            let limit = if round > rounds {
                60_000
            } else {
                rng.random_range(5..=sync_ms.max(6))
            };
            match run_or_kill(child, limit)? {
                Some(took) => sync_ms = (took.as_millis() as u64 * 6 / 5).max(20),
                None => {
                    kills += 1;
                    sync_ms = sync_ms * 11 / 10 + 1;
                }
            }
        }
        // All or nothing: a case is either still "Entschieden" with no letter and no
        // outbox item, or "Versandt" with one letter and its items.
        let mut ws = Workstation::open(&data)?;
        login(&mut ws, USER)?;
        let mut still = Vec::new();
        for (id, az) in &left {
            let d = ws.case_detail(id)?;
            let letters = d
                .documents
                .iter()
                .filter(|x| x.kind == domain::DocumentKind::Letter)
                .count();
            let items = ws.case_outbox(id)?;
            let way = if by_mail.contains_key(id) {
                "Brief per E-Mail"
            } else if by_bundid.contains(id) {
                "Brief an das BundID-Postfach"
            } else {
                "Brief an das Portal"
            };
            let replies = items.iter().filter(|o| o.what.contains(way)).count();
            match d.state {
                CaseState::Entschieden => {
                    assert_eq!((letters, replies), (0, 0), "{az}: half sent");
                    still.push((id.clone(), az.clone()));
                }
                CaseState::Versandt => assert_eq!((letters, replies), (1, 1), "{az}"),
                other => return Err(format!("{az}: unexpected state {other:?}").into()),
            }
        }
        left = still;
        ws.logout();
    }
    assert!(kills >= rounds / 5, "too few kills ({kills})");

    // Calm: the rest goes through.
    run.sim.set_faults(Faults::default());
    let mut ws = Workstation::open(&data)?;
    login(&mut ws, USER)?;
    let mut done = false;
    for _ in 0..10 {
        let s = ws.sync_now()?;
        if s.pending == 0 && s.failed == 0 {
            done = true;
            break;
        }
    }
    assert!(done, "outbox not empty after the chaos");
    // By e-mail: each letter arrived, decrypts to the stored PDF, and a copy sent
    // again after a kill is the same message (one Message-ID per letter).
    let received = sink.received();
    let mut mailed_kz = Vec::new();
    for (id, address) in &by_mail {
        let copies: Vec<_> = received.iter().filter(|m| &m.to[0] == address).collect();
        assert!(!copies.is_empty(), "{address}: no e-mail");
        let ids: std::collections::HashSet<_> = copies
            .iter()
            .map(|m| amtsstube_tests::smtp::message_id(&m.data))
            .collect();
        assert_eq!(ids.len(), 1, "{address}: {ids:?}");
        let detail = ws.case_detail(id)?;
        let stored = detail
            .documents
            .iter()
            .find(|d| d.kind == domain::DocumentKind::Letter)
            .ok_or("kein Brief")?;
        let stored = base64::engine::general_purpose::STANDARD
            .decode(ws.document(id, &stored.id)?.content_base64)?;
        for m in &copies {
            let inner = amtsstube_tests::smtp::decrypt(&m.data, &secret)?;
            let (pdf, _) = amtsstube_tests::smtp::letter_of(&inner)?;
            assert_eq!(Sha512::digest(&pdf), Sha512::digest(&stored), "{address}");
        }
        for o in ws.case_outbox(id)? {
            assert_eq!(o.state, "bestätigt", "{address}: {} {:?}", o.what, o.error);
        }
        mailed_kz.extend(
            detail
                .history
                .iter()
                .filter_map(|h| h.detail.as_deref())
                .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                .filter_map(|v| v["kassenzeichen"].as_str().map(str::to_owned)),
        );
    }
    // To BundID mailboxes: each letter once, as stored; each status update once.
    let postkorb = run.sim.lock().postkorb();
    for id in &by_bundid {
        let detail = ws.case_detail(id)?;
        let stored = detail
            .documents
            .iter()
            .find(|d| d.kind == domain::DocumentKind::Letter)
            .ok_or("kein Brief")?;
        let stored = base64::engine::general_purpose::STANDARD
            .decode(ws.document(id, &stored.id)?.content_base64)?;
        let messages: Vec<_> = postkorb
            .iter()
            .filter(|e| {
                e.art == "nachricht" && e.reference.as_deref() == Some(detail.file_number.as_str())
            })
            .collect();
        assert_eq!(messages.len(), 1, "{}: {messages:?}", detail.file_number);
        let pdf =
            base64::engine::general_purpose::STANDARD.decode(&messages[0].files[0].content)?;
        assert_eq!(
            Sha512::digest(&pdf),
            Sha512::digest(&stored),
            "{}",
            detail.file_number
        );
        let outbox = ws.case_outbox(id)?;
        for o in &outbox {
            assert_eq!(
                o.state, "bestätigt",
                "{}: {} {:?}",
                detail.file_number, o.what, o.error
            );
        }
        let updates = postkorb
            .iter()
            .filter(|e| {
                e.art == "status" && e.reference.as_deref() == Some(detail.file_number.as_str())
            })
            .count();
        let queued = outbox
            .iter()
            .filter(|o| o.what.contains("Statusmonitor"))
            .count();
        assert!(queued >= 2, "{}: {queued}", detail.file_number);
        assert_eq!(
            updates, queued,
            "{}: status updates once each",
            detail.file_number
        );
        mailed_kz.extend(
            detail
                .history
                .iter()
                .filter_map(|h| h.detail.as_deref())
                .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                .filter_map(|v| v["kassenzeichen"].as_str().map(str::to_owned)),
        );
    }
    let doubled = received.len() - by_mail.len();
    let online: Vec<(String, String)> = cases
        .iter()
        .filter(|(id, _)| !by_mail.contains_key(id) && !by_bundid.contains(id))
        .cloned()
        .collect();
    rt.block_on(check_delivered(&mut ws, &run, &hkr, &online, &mailed_kz))?;
    ws.logout();
    login(&mut ws, "admin")?;
    assert!(ws.verify_audit()?.is_intact());
    println!(
        "{round} Runden, {kills} Prozesse mit SIGKILL beendet, {doubled} E-Mails nach einem Abbruch erneut gesendet (gleiche Message-ID)"
    );
    Ok(())
}
