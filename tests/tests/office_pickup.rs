//! The Rathaus-Server picks up from the town's FIT-Connect destination: the real
//! portal simulator on 127.0.0.1, a real PostgreSQL cluster started by the test,
//! the same `sync` run the standalone workstation uses. Cases reach the feed with
//! their content sealed to the `fall` key; invalid submissions are rejected; a
//! second run doubles nothing; no applicant's name lies in clear in PostgreSQL's
//! files.

use std::path::Path;
use std::sync::Arc;

use domain::{CaseState, Role};
use office::keyring::{self, KeyKind, PublishKindKey, PublishUserKey};
use office::rules::Actor;
use office::{FeedItem, keyring::KeyView};
use portal_sim::state::SubmissionState;
use server::Record;
use server::cluster::Cluster;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The Leitung's desk publishes her key and makes the case key (as at her first
/// sign-in); returns her identity and the case key's.
fn case_key(
    rt: &tokio::runtime::Runtime,
    record: &Record,
    lea: &Actor,
) -> Result<(store::SecretString, store::SecretString), BoxError> {
    let (me, my_recipient) = keyring::generate();
    let (fall, fall_recipient) = keyring::generate();
    rt.block_on(
        record.publish_user_key(
            lea,
            &PublishUserKey {
                recipient: my_recipient.clone(),
                wrapped: keyring::wrap_with_password(&me, &"lea-passwort-1".to_string().into(), 10)
                    .map_err(|r| r.reason)?,
            },
        ),
    )?;
    rt.block_on(record.publish_kind_key(
        lea,
        &PublishKindKey {
            kind: KeyKind::Fall,
            recipient: fall_recipient,
            own_grant: keyring::wrap_for(&fall, &my_recipient).map_err(|r| r.reason)?,
        },
    ))?;
    Ok((me, fall))
}

#[test]
fn the_server_picks_up_seals_to_the_case_key_and_rejects_the_invalid() -> Result<(), BoxError> {
    let cluster = Cluster::start(Path::new(env!("CARGO_TARGET_TMPDIR")))?;
    cluster.create_database("abholung")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let record = Arc::new(rt.block_on(Record::connect(&cluster.conninfo("abholung"), 4))?);
    rt.block_on(record.migrate())?;
    rt.block_on(record.add_user("lea", Role::Leitung, "lea-passwort-1"))?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    portal_sim::seed::seed(&mut run.sim.lock(), 4, 31)?;
    let flawed = portal_sim::seed::seed_flawed(
        &mut run.sim.lock(),
        portal_sim::seed::Flaw::SchemaInvalidMetadata,
        32,
    )?;
    let settings = server::pickup::parse_settings(&serde_json::to_string(&run.config)?)?;

    // No case key yet: nothing is fetched into the record, nothing accepted.
    let err = rt
        .block_on(server::pickup::pickup(record.clone(), &settings))
        .unwrap_err();
    assert!(err.to_string().contains("Leitung"), "{err}");
    assert!(
        run.sim
            .lock()
            .submissions
            .values()
            .all(|s| s.state == SubmissionState::Submitted)
    );

    // The Leitung's desk makes the case key (as at her first sign-in).
    let lea = Actor {
        user: "lea".into(),
        role: Role::Leitung,
    };
    let (me, fall) = case_key(&rt, &record, &lea)?;
    let _: KeyView = rt.block_on(record.key_view(&lea))?;

    let report = rt.block_on(server::pickup::pickup(record.clone(), &settings))?;
    assert_eq!((report.new_cases, report.quarantined), (4, 1), "{report:?}");
    {
        let sim = run.sim.lock();
        for s in sim.submissions.values() {
            let want = if s.submission_id == flawed {
                SubmissionState::Rejected
            } else {
                SubmissionState::Accepted
            };
            assert_eq!(s.state, want, "{}", s.submission_id);
        }
    }
    // A second run finds nothing new and doubles nothing.
    let again = rt.block_on(server::pickup::pickup(record.clone(), &settings))?;
    assert_eq!((again.new_cases, again.quarantined), (0, 0), "{again:?}");

    // The cases are in the Leitung's feed: online, with a server Aktenzeichen and
    // content that only the case key opens.
    let page = rt.block_on(record.feed(&lea, 0, 1000))?;
    let mut names = Vec::new();
    let mut numbers = Vec::new();
    for item in &page.items {
        let FeedItem::Case { meta, content, .. } = item else {
            continue;
        };
        assert_eq!(meta.channel, "online");
        assert_eq!(meta.state, CaseState::Eingegangen);
        numbers.push(meta.file_number.clone());
        let content = content.as_ref().ok_or("Inhalt fehlt")?;
        assert!(
            keyring::open(content, &me).is_err(),
            "der Benutzerschlüssel öffnet keinen Fall"
        );
        let plain = keyring::open(content, &fall).map_err(|r| r.reason)?;
        let json: serde_json::Value = serde_json::from_slice(&plain)?;
        let name = json["applicant"].as_str().ok_or("kein Name")?.to_string();
        assert!(name.len() > 3 && name != "unbekannt", "{name}");
        assert!(json["documents"].as_array().is_some_and(|d| !d.is_empty()));
        names.push(name);
    }
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 4, "{numbers:?}");
    assert!(numbers.iter().all(|n| n.starts_with("ON-")), "{numbers:?}");

    // Canary: no applicant's name in clear anywhere in PostgreSQL's files (WAL too).
    let (mut hits, mut files) = (Vec::new(), 0);
    amtsstube_tests::walk(&cluster.data_dir(), &mut |path, bytes| {
        files += 1;
        for name in &names {
            if bytes.windows(name.len()).any(|w| w == name.as_bytes()) {
                hits.push(format!("{} in {}", name, path.display()));
            }
        }
    });
    assert!(files > 100, "{files} Dateien");
    assert!(hits.is_empty(), "Klartext gefunden: {hits:?}");
    // Every accept and the reject went out exactly once.
    let outbox = rt.block_on(record.outbox_items())?;
    assert_eq!(outbox.len(), 5);
    assert!(outbox.iter().all(|i| i.state == "done"), "{outbox:?}");

    // The same through the administrator's command line: set up the destination in
    // the server's directory, then pick up now.
    let tmp = tempfile::tempdir()?;
    let dir = server::setup::ServerDir::new(tmp.path().join("server"));
    dir.create(
        &server::setup::ServerConfig {
            datenbank: cluster.conninfo("abholung"),
            adresse: "127.0.0.1:0".into(),
            name: "Musterstadt".into(),
            abruf_sekunden: None,
            kasse_ordner: None,
            sicherung_empfaenger: None,
        },
        &["127.0.0.1".into()],
    )?;
    let settings_file = tmp.path().join("verbindung.json");
    std::fs::write(&settings_file, serde_json::to_string(&run.config)?)?;
    let bin = amtsstube_tests::app::amtsstube_bin()?.with_file_name("amtsstube-server");
    let admin = |args: &[&str]| -> Result<String, BoxError> {
        let out = std::process::Command::new(&bin)
            .arg("--verzeichnis")
            .arg(&dir.path)
            .args(args)
            .output()?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let err = admin(&["abholen"]).unwrap_err();
    assert!(
        err.to_string().contains("Kein FIT-Connect-Zustellpunkt"),
        "{err}"
    );
    std::fs::write(tmp.path().join("kaputt.json"), "{\"apiUrl\": 1}")?;
    let err = admin(&[
        "portal",
        "--datei",
        &tmp.path().join("kaputt.json").display().to_string(),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("Portal-Einstellungen"), "{err}");
    admin(&["portal", "--datei", &settings_file.display().to_string()])?;
    portal_sim::seed::seed(&mut run.sim.lock(), 2, 33)?;
    let out = admin(&["abholen"])?;
    assert!(
        out.contains("2 neu") && out.contains("2 Bestätigung(en) gesendet"),
        "{out}"
    );
    let status = admin(&["status"])?;
    assert!(
        status
            .contains("6 Anträge angenommen, 1 in Quarantäne; Ausgang 0 wartend, 0 fehlgeschlagen"),
        "{status}"
    );
    // What the server can send: the mailbox and payment service come with the
    // destination's settings, the cash folder is set by the administration; a folder
    // that is not there is refused and nothing changes. The delivery key is made at
    // the first use, owner-only.
    assert!(
        status.contains(
            "Versand:         Portal (FIT-Connect) ja, E-Mail nein (Postfach für Unzustellbares nein), BundID nein, Zahlungsdienst ja, Kassenordner nicht eingerichtet"
        ),
        "{status}"
    );
    let missing = tmp.path().join("gibt-es-nicht");
    let err = admin(&["kasse", "--ordner", &missing.display().to_string()]).unwrap_err();
    assert!(
        err.to_string().contains("kein beschreibbarer Ordner"),
        "{err}"
    );
    let kasse = tmp.path().join("kasse");
    std::fs::create_dir(&kasse)?;
    admin(&["kasse", "--ordner", &kasse.display().to_string()])?;
    let status = admin(&["status"])?;
    assert!(
        status.contains(&format!("Kassenordner {}", kasse.display())),
        "{status}"
    );
    // The town's relay for answers by e-mail: set up with the password on stdin
    // (never echoed), checked, shown, refused without encryption to another host.
    let admin_in = |args: &[&str], input: &str| -> Result<(bool, String), BoxError> {
        use std::io::Write as _;
        let mut child = std::process::Command::new(&bin)
            .arg("--verzeichnis")
            .arg(&dir.path)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .ok_or("stdin")?
            .write_all(input.as_bytes())?;
        let out = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        Ok((out.status.success(), text))
    };
    assert!(admin(&["email", "anzeigen"])?.contains("Kein Mailserver eingerichtet"));
    let sink = amtsstube_tests::smtp::Sink::start(("rathaus", "relay-passwort-1"))?;
    let ca = tmp.path().join("relay-ca.pem");
    std::fs::write(&ca, &sink.ca_pem)?;
    let port = sink.port.to_string();
    let ca_arg = ca.display().to_string();
    let einrichten = [
        "email",
        "einrichten",
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--benutzer",
        "rathaus",
        "--absender",
        "buergerbuero@musterstadt.example",
        "--ca",
        &ca_arg,
    ];
    // The mailbox the relay's late bounces arrive in: not without the relay.
    let imap_port = sink.imap_port.to_string();
    let postfach = [
        "email",
        "postfach",
        "--server",
        "127.0.0.1",
        "--port",
        &imap_port,
        "--benutzer",
        "rathaus",
        "--ca",
        &ca_arg,
    ];
    let (ok, out) = admin_in(&postfach, "relay-passwort-1\n")?;
    assert!(!ok && out.contains("Zuerst den Mailserver"), "{out}");
    assert!(!dir.path.join("postfach.json").exists());
    let (ok, out) = admin_in(&einrichten, "falsches-passwort\n")?;
    assert!(ok && out.contains("STARTTLS"), "{out}");
    assert!(!out.contains("falsches-passwort"), "{out}");
    let (ok, out) = admin_in(&["email", "testen"], "")?;
    assert!(!ok, "{out}");
    let (ok, out) = admin_in(&einrichten, "relay-passwort-1\n")?;
    assert!(ok, "{out}");
    let out = admin(&["email", "testen"])?;
    assert!(out.contains("Anmeldung in Ordnung"), "{out}");
    let shown = admin(&["email", "anzeigen"])?;
    assert!(
        shown.contains(&format!("127.0.0.1:{port}")) && shown.contains("Anmeldung als rathaus"),
        "{shown}"
    );
    assert!(!shown.contains("relay-passwort-1"), "{shown}");
    let (ok, out) = admin_in(
        &[
            "email",
            "einrichten",
            "--server",
            "mail.musterstadt.example",
            "--verschluesselung",
            "keine",
            "--absender",
            "buergerbuero@musterstadt.example",
        ],
        "",
    )?;
    assert!(!ok, "{out}");
    assert!(admin(&["email", "anzeigen"])?.contains(&format!("127.0.0.1:{port}")));
    assert!(admin(&["status"])?.contains("E-Mail ja"));
    // Now the mailbox: a wrong password fails the check, the right one passes;
    // shown without it, kept owner-only, named by `status`.
    assert!(admin(&["email", "postfach"])?.contains("Kein Postfach eingerichtet"));
    let (ok, out) = admin_in(&postfach, "falsches-passwort\n")?;
    assert!(ok && out.contains("rathaus@127.0.0.1"), "{out}");
    assert!(!out.contains("falsches-passwort"), "{out}");
    let (ok, out) = admin_in(&["email", "postfach", "--testen"], "")?;
    assert!(!ok, "{out}");
    let (ok, out) = admin_in(&postfach, "relay-passwort-1\n")?;
    assert!(ok, "{out}");
    let out = admin(&["email", "postfach", "--testen"])?;
    assert!(out.contains("in Ordnung"), "{out}");
    let shown = admin(&["email", "postfach"])?;
    assert!(
        shown.contains(&format!("rathaus@127.0.0.1:{imap_port}")) && shown.contains("INBOX"),
        "{shown}"
    );
    assert!(!shown.contains("relay-passwort-1"), "{shown}");
    assert!(admin(&["status"])?.contains("Postfach für Unzustellbares ja"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path.join("postfach.json"))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path.join("email.json"))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    // The BundID bridge and the town's BPKI key pair: a key that is not the
    // certificate's is refused, the right pair kept owner-only and shown without it.
    assert!(admin(&["bundid", "anzeigen"])?.contains("nicht eingerichtet"));
    let pki = fitconnect::keys::TestPki::new(2048)?;
    let (key_pem, cert_pem) = pki.issue_author("Gemeinde Musterstadt", 2048)?;
    let (other_key, _) = pki.issue_author("Gemeinde Musterstadt", 2048)?;
    let (key_file, cert_file, other_file) = (
        tmp.path().join("bpki-schluessel.pem"),
        tmp.path().join("bpki-zertifikat.pem"),
        tmp.path().join("fremd.pem"),
    );
    std::fs::write(&key_file, &key_pem)?;
    std::fs::write(&cert_file, &cert_pem)?;
    std::fs::write(&other_file, &other_key)?;
    let bruecke = uuid::Uuid::new_v4().to_string();
    let bundid = |key: &Path| {
        admin(&[
            "bundid",
            "einrichten",
            "--bruecke",
            &bruecke,
            "--schluessel",
            &key.display().to_string(),
            "--zertifikat",
            &cert_file.display().to_string(),
        ])
    };
    let err = bundid(&other_file).unwrap_err();
    assert!(err.to_string().contains("gehören nicht zusammen"), "{err}");
    assert!(!dir.path.join("bundid.json").exists());
    let out = bundid(&key_file)?;
    assert!(out.contains("signiert als Gemeinde Musterstadt"), "{out}");
    let shown = admin(&["bundid", "anzeigen"])?;
    assert!(
        shown.contains(&bruecke) && !shown.contains("PRIVATE KEY"),
        "{shown}"
    );
    assert!(admin(&["status"])?.contains("BundID ja"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path.join("bundid.json"))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    // A backup through the command line: first the key (shown once), then the archive.
    let ziel = tmp.path().join("sicherungen");
    let err = admin(&["sicherung", "--ziel", &ziel.display().to_string()]).unwrap_err();
    assert!(err.to_string().contains("sicherung-schluessel"), "{err}");
    let key = admin(&["sicherung-schluessel"])?;
    assert!(key.contains("AGE-SECRET-KEY-1"), "{key}");
    let out = admin(&["sicherung", "--ziel", &ziel.display().to_string()])?;
    assert!(out.contains("Sicherung geschrieben"), "{out}");
    assert_eq!(server::backup::archives(&ziel)?.len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path.join("zustellung.key"))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    assert!(admin(&["email", "postfach", "--entfernen"])?.contains("Postfach entfernt"));
    assert!(admin(&["email", "entfernen"])?.contains("Mailserver entfernt"));
    assert!(admin(&["bundid", "entfernen"])?.contains("BundID-Einstellungen entfernt"));
    let status = admin(&["status"])?;
    assert!(
        status.contains("E-Mail nein (Postfach für Unzustellbares nein), BundID nein"),
        "{status}"
    );
    Ok(())
}

/// `amtsstube-server abholen` killed with SIGKILL at random moments, and PostgreSQL
/// stopped hard during a pickup now and then: in the end every submission is
/// accepted (or rejected) once, and each accepted one is exactly one case.
#[test]
fn pickup_killed_and_postgres_restarted_loses_and_doubles_nothing() -> Result<(), BoxError> {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    let (rounds, seed) = amtsstube_tests::chaos_rounds_and_seed("PICKUP_CHAOS", 8);
    let mut rng = SmallRng::seed_from_u64(seed);
    let cluster = Cluster::start(Path::new(env!("CARGO_TARGET_TMPDIR")))?;
    cluster.create_database("abholung_chaos")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let record = Arc::new(rt.block_on(Record::connect(&cluster.conninfo("abholung_chaos"), 2))?);
    rt.block_on(record.migrate())?;
    rt.block_on(record.add_user("lea", Role::Leitung, "lea-passwort-1"))?;
    let lea = Actor {
        user: "lea".into(),
        role: Role::Leitung,
    };
    case_key(&rt, &record, &lea)?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    let tmp = tempfile::tempdir()?;
    let dir = server::setup::ServerDir::new(tmp.path().join("server"));
    dir.create(
        &server::setup::ServerConfig {
            datenbank: cluster.conninfo("abholung_chaos"),
            adresse: "127.0.0.1:0".into(),
            name: "Musterstadt".into(),
            abruf_sekunden: None,
            kasse_ordner: None,
            sicherung_empfaenger: None,
        },
        &["127.0.0.1".into()],
    )?;
    dir.save_portal(&serde_json::to_string(&run.config)?)?;
    let bin = amtsstube_tests::app::amtsstube_bin()?.with_file_name("amtsstube-server");
    let abholen = || {
        std::process::Command::new(&bin)
            .arg("--verzeichnis")
            .arg(&dir.path)
            .arg("abholen")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
    };

    let mut flawed = Vec::new();
    let (mut killed, mut restarts) = (0, 0);
    for k in 0..rounds {
        portal_sim::seed::seed(&mut run.sim.lock(), 3, 1000 + k)?;
        if k % 3 == 2 {
            flawed.push(portal_sim::seed::seed_flawed(
                &mut run.sim.lock(),
                portal_sim::seed::Flaw::SwappedAttachment,
                2000 + k,
            )?);
        }
        let mut child = abholen()?;
        // A pickup of three submissions takes a few hundred milliseconds here.
        std::thread::sleep(std::time::Duration::from_millis(rng.random_range(20..700)));
        if k % 4 == 3 {
            cluster.restart_hard()?;
            restarts += 1;
            child.wait()?;
        } else if child.try_wait()?.is_none() {
            child.kill()?;
            child.wait()?;
            killed += 1;
        }
    }
    println!("{killed} Abholungen getötet, PostgreSQL {restarts}-mal hart neu gestartet");

    // Bring everything in, then count.
    let mut last = String::new();
    for _ in 0..3 {
        let out = abholen()?.wait_with_output()?;
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && last.contains(" 0 wartend") {
            break;
        }
    }
    assert!(last.contains(" 0 wartend"), "{last}");
    let record = Arc::new(rt.block_on(Record::connect(&cluster.conninfo("abholung_chaos"), 2))?);
    let submissions: Vec<_> = run.sim.lock().submissions.values().cloned().collect();
    for s in &submissions {
        let want = if flawed.contains(&s.submission_id) {
            SubmissionState::Rejected
        } else {
            SubmissionState::Accepted
        };
        assert_eq!(s.state, want, "{} (seed {seed})", s.submission_id);
    }
    let page = rt.block_on(record.feed(&lea, 0, 100_000))?;
    let mut cases = std::collections::BTreeSet::new();
    for item in &page.items {
        if let FeedItem::Case { meta, .. } = item {
            cases.insert(meta.id);
        }
    }
    assert_eq!(
        cases.len(),
        submissions.len() - flawed.len(),
        "ein Vorgang je angenommenem Antrag (seed {seed})"
    );
    let outbox = rt.block_on(record.outbox_items())?;
    assert_eq!(outbox.len(), submissions.len(), "{outbox:?}");
    assert!(outbox.iter().all(|i| i.state == "done"), "{outbox:?}");
    Ok(())
}

/// The restore drill: a server with picked-up cases, documents, outbox and audit
/// is backed up (`amtsstube-server sicherung`), restored onto a new PostgreSQL
/// cluster and a new directory (`wiederherstellen`), and every table – cases,
/// documents, events, audit – is equal there, row for row. The archive shows no
/// applicant's name and no key in clear; the rotation keeps the newest; a wrong
/// key, a damaged archive or a directory already set up are refused in German and
/// leave nothing half-restored.
#[test]
fn the_restore_drill_brings_back_every_case_document_and_audit_entry() -> Result<(), BoxError> {
    let cluster = Cluster::start(Path::new(env!("CARGO_TARGET_TMPDIR")))?;
    cluster.create_database("vorher")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let record = Arc::new(rt.block_on(Record::connect(&cluster.conninfo("vorher"), 2))?);
    rt.block_on(record.migrate())?;
    rt.block_on(record.add_user("lea", Role::Leitung, "lea-passwort-1"))?;
    let lea = Actor {
        user: "lea".into(),
        role: Role::Leitung,
    };
    let (_, fall) = case_key(&rt, &record, &lea)?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    portal_sim::seed::seed(&mut run.sim.lock(), 3, 71)?;
    let settings = server::pickup::parse_settings(&serde_json::to_string(&run.config)?)?;
    assert_eq!(
        rt.block_on(server::pickup::pickup(record.clone(), &settings))?
            .new_cases,
        3
    );
    let mut names = Vec::new();
    for item in rt.block_on(record.feed(&lea, 0, 100))?.items {
        if let FeedItem::Case {
            content: Some(c), ..
        } = item
        {
            let plain = keyring::open(&c, &fall).map_err(|r| r.reason)?;
            let json: serde_json::Value = serde_json::from_slice(&plain)?;
            names.push(json["applicant"].as_str().unwrap_or_default().to_string());
        }
    }
    let before = rt.block_on(record.table_digests())?;
    assert!(
        before["case_documents"].0 > 3 && before["audit"].0 > 0,
        "{before:?}"
    );

    let tmp = tempfile::tempdir()?;
    let dir = server::setup::ServerDir::new(tmp.path().join("server"));
    dir.create(
        &server::setup::ServerConfig {
            datenbank: cluster.conninfo("vorher"),
            adresse: "127.0.0.1:0".into(),
            name: "Musterstadt".into(),
            abruf_sekunden: None,
            kasse_ordner: None,
            sicherung_empfaenger: None,
        },
        &["127.0.0.1".into()],
    )?;
    dir.save_portal(&serde_json::to_string(&run.config)?)?;
    dir.delivery()?;
    let target = tmp.path().join("sicherungen");
    let err = server::backup::backup(&dir, &dir.load_config()?, &target, 2).unwrap_err();
    assert!(err.to_string().contains("sicherung-schluessel"), "{err}");
    let identity = dir.new_backup_key()?;
    let config = dir.load_config()?;
    let mut written = Vec::new();
    for _ in 0..3 {
        written.push(server::backup::backup(&dir, &config, &target, 2)?);
    }
    // The newest two stay.
    let kept = server::backup::archives(&target)?;
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(written[2].removed.len(), 1);
    assert!(kept.contains(&written[2].path) && !kept.contains(&written[0].path));
    let archive = written[2].path.clone();
    let bytes = std::fs::read(&archive)?;
    assert!(bytes.starts_with(b"age-encryption.org/v1"));
    for needle in names
        .iter()
        .map(String::as_bytes)
        .chain([&b"PRIVATE KEY"[..]])
    {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{} im Klartext in der Sicherung",
            String::from_utf8_lossy(needle)
        );
    }

    // A new machine: another cluster, an empty database, a new directory.
    let other = Cluster::start(Path::new(env!("CARGO_TARGET_TMPDIR")))?;
    other.create_database("nachher")?;
    let fresh = server::setup::ServerDir::new(tmp.path().join("neu"));
    let (wrong, _) = office::keyring::generate();
    let err =
        server::backup::restore(&archive, &wrong, &fresh, &other.conninfo("nachher")).unwrap_err();
    assert!(err.to_string().contains("passt nicht"), "{err}");
    assert!(!fresh.exists());
    let damaged = tmp.path().join("kaputt.sicherung.age");
    std::fs::write(&damaged, &bytes[..bytes.len() / 2])?;
    let err = server::backup::restore(&damaged, &identity, &fresh, &other.conninfo("nachher"))
        .unwrap_err();
    assert!(err.to_string().contains("beschädigt"), "{err}");
    assert!(!fresh.exists(), "nichts halb Wiederhergestelltes");

    let restored =
        server::backup::restore(&archive, &identity, &fresh, &other.conninfo("nachher"))?;
    assert_eq!(restored.manifest.town, "Musterstadt");
    let err = server::backup::restore(&archive, &identity, &fresh, &other.conninfo("nachher"))
        .unwrap_err();
    assert!(err.to_string().contains("schon eingerichtet"), "{err}");
    let back = Arc::new(rt.block_on(Record::connect(&fresh.load_config()?.datenbank, 2))?);
    let after = rt.block_on(back.table_digests())?;
    assert_eq!(before, after, "jede Tabelle gleich");
    // The directory: the same CA, keys and settings; the new database.
    for f in [
        "ca.pem",
        "ca-key.pem",
        "server.pem",
        "server-key.pem",
        "portal.json",
        "zustellung.key",
    ] {
        assert_eq!(
            std::fs::read(dir.path.join(f))?,
            std::fs::read(fresh.path.join(f))?,
            "{f}"
        );
    }
    assert_eq!(fresh.load_config()?.datenbank, other.conninfo("nachher"));
    // The restored server works: the case key still opens its cases.
    let page = rt.block_on(back.feed(&lea, 0, 100))?;
    let opened = page
        .items
        .iter()
        .filter_map(|i| match i {
            FeedItem::Case {
                content: Some(c), ..
            } => keyring::open(c, &fall).ok(),
            _ => None,
        })
        .count();
    assert_eq!(opened, 3);
    Ok(())
}

/// Letters the Rathaus-Server sends (reply to the mailbox, e-mail through the
/// town's relay, payment request, Annahmeanordnung), with `amtsstube-server
/// abholen` killed with SIGKILL at random moments and PostgreSQL stopped hard now
/// and then: in the end every reply is in the citizen's mailbox once, every e-mail
/// reached its citizen under one Message-ID (PGP/MIME with the exact letter, or the
/// notice without it), every payment request reached the portal once, every
/// booking file lies in the cash folder once, and no delivery copy is left.
#[test]
fn letters_sent_by_a_killed_server_arrive_exactly_once() -> Result<(), BoxError> {
    use base64::Engine as _;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    let (rounds, seed) = amtsstube_tests::chaos_rounds_and_seed("LETTER_CHAOS", 8);
    let mut rng = SmallRng::seed_from_u64(seed);
    let cluster = Cluster::start(Path::new(env!("CARGO_TARGET_TMPDIR")))?;
    cluster.create_database("versand_chaos")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let record = Arc::new(rt.block_on(Record::connect(&cluster.conninfo("versand_chaos"), 2))?);
    rt.block_on(record.migrate())?;
    rt.block_on(record.add_user("lea", Role::Leitung, "lea-passwort-1"))?;
    let lea = Actor {
        user: "lea".into(),
        role: Role::Leitung,
    };
    let (_, fall) = case_key(&rt, &record, &lea)?;
    let fall_recipient = office::keyring::recipient_of(&fall).map_err(|r| r.reason)?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    portal_sim::seed::seed(&mut run.sim.lock(), 6, 81)?;
    let tmp = tempfile::tempdir()?;
    let dir = server::setup::ServerDir::new(tmp.path().join("server"));
    dir.create(
        &server::setup::ServerConfig {
            datenbank: cluster.conninfo("versand_chaos"),
            adresse: "127.0.0.1:0".into(),
            name: "Musterstadt".into(),
            abruf_sekunden: None,
            kasse_ordner: None,
            sicherung_empfaenger: None,
        },
        &["127.0.0.1".into()],
    )?;
    dir.save_portal(&serde_json::to_string(&run.config)?)?;
    let kasse = tmp.path().join("kasse");
    std::fs::create_dir(&kasse)?;
    dir.set_kasse(&kasse)?;
    // The town's relay: a local SMTP sink with STARTTLS and a login.
    let sink = amtsstube_tests::smtp::Sink::start(("rathaus", "relay-passwort-1"))?;
    dir.save_mail(&sync::mail::Relay {
        host: "127.0.0.1".into(),
        port: sink.port,
        security: sync::mail::Security::Starttls,
        user: Some("rathaus".into()),
        password: Some("relay-passwort-1".into()),
        from: "buergerbuero@musterstadt.example".into(),
        from_name: Some("Stadt Musterstadt".into()),
        ca_pem: Some(sink.ca_pem.clone()),
    })?;
    let email_json = std::fs::read_to_string(dir.path.join("email.json"))?;
    assert!(email_json.contains("relay-passwort-1"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path.join("email.json"))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "email.json owner-only");
    }
    let (secret, public) = amtsstube_tests::smtp::citizen_key("Bürgerin <b@example.org>")?;
    let settings = server::pickup::parse_settings(&serde_json::to_string(&run.config)?)?;
    assert_eq!(
        rt.block_on(server::pickup::pickup(record.clone(), &settings))?
            .new_cases,
        6
    );
    // Letters as a desk would send them (the delivery sealed to the server's key,
    // the letter to the case key): two per round, to the cases in turn, while the
    // sending server is killed.
    record.set_delivery(Some(dir.delivery()?));
    let recipient = dir.delivery()?.recipient;
    let page = rt.block_on(record.feed(&lea, 0, 1000))?;
    let cases: Vec<office::CaseMeta> = page
        .items
        .iter()
        .filter_map(|i| match i {
            FeedItem::Case { meta, .. } => Some(meta.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(cases.len(), 6);
    // Letter n goes to the portal (n % 3 == 0), by e-mail encrypted to the
    // citizen's key (1), or by post with the e-mail notice (2).
    let letter = |n: u64| -> Result<String, BoxError> {
        let meta = &cases[(n % 6) as usize];
        let kz = format!("51000100{n:05}");
        let pdf = format!("%PDF-1.7\n% Brief {n}\n%%EOF\n");
        let kanal = ["postfach", "email", "post"][(n % 3) as usize];
        let mail = match kanal {
            "email" => Some(sync::mail::MailItem {
                to: format!("b{n}@example.org"),
                pgp_public_key: Some(public.clone()),
                subject: "Nachricht von Stadt Musterstadt".into(),
                inner_subject: format!("Bescheid – Aktenzeichen {}", meta.file_number),
                text: format!("Anbei der Brief {n}."),
                attachment: Some(sync::mail::MailAttachment {
                    blob_id: String::new(),
                    filename: "brief.pdf".into(),
                }),
                message_id: String::new(),
            }),
            "post" => Some(sync::mail::MailItem {
                to: format!("h{n}@example.org"),
                pgp_public_key: None,
                subject: "Nachricht von Stadt Musterstadt".into(),
                inner_subject: String::new(),
                text: "Ein Brief ist mit der Post unterwegs.".into(),
                // What a broken desk might add: the server drops it for a notice.
                attachment: Some(sync::mail::MailAttachment {
                    blob_id: String::new(),
                    filename: "brief.pdf".into(),
                }),
                message_id: String::new(),
            }),
            _ => None,
        };
        let delivery = sync::Delivery {
            mail,
            bundid: None,
            reply: (kanal == "postfach").then(|| sync::ReplyItem {
                case_id: uuid::Uuid::nil(),
                destination_id: uuid::Uuid::nil(),
                service_type: fitconnect::api::ServiceType {
                    name: Some("Eingangsbestätigung".into()),
                    description: None,
                    identifier: "urn:de:fim:leika:leistung:99050012104000".into(),
                },
                data: serde_json::json!({ "aktenzeichen": meta.file_number, "nummer": n }),
                data_schema: "https://schema.amtsstube.invalid/antwort/1.0.0.json".into(),
                attachments: vec![sync::ReplyAttachment {
                    attachment_id: uuid::Uuid::new_v4(),
                    blob_id: String::new(),
                    filename: "brief.pdf".into(),
                    mime_type: "application/pdf".into(),
                }],
            }),
            letter: base64::engine::general_purpose::STANDARD.encode(pdf.as_bytes()),
            payment: Some(sync::PaymentItem {
                url: String::new(),
                request_id: kz.clone(),
                kassenzeichen: kz.clone(),
                amount_cents: 1500,
                due_date: "2026-12-31".into(),
                description: format!("Gebühr {}", meta.file_number),
            }),
            hkr: Some(sync::HkrItem {
                dir: String::new(),
                file_stem: format!("AO-{kz}"),
                csv: format!("{kz};1500"),
                xml: format!("<ao kz=\"{kz}\"/>"),
            }),
        };
        let sealed = |b: &[u8], to: &str| keyring::seal(b, &[to]).map_err(|r| r.reason);
        let cmd = office::Command {
            key: uuid::Uuid::new_v4(),
            body: office::CommandBody::Letter {
                case_id: meta.id,
                based_on: meta.version,
                letter: "eingangsbestaetigung".into(),
                kanal: kanal.into(),
                versendet: false,
                kassenzeichen: Some(kz.clone()),
                detail: sealed(b"{}", &fall_recipient)?,
                document: sealed(pdf.as_bytes(), &fall_recipient)?,
                delivery: Some(sealed(&serde_json::to_vec(&delivery)?, &recipient)?),
            },
        };
        let outcome = rt.block_on(record.apply(&lea, uuid::Uuid::nil(), &cmd))?;
        if !matches!(outcome, office::Outcome::Applied { .. }) {
            return Err(format!("{outcome:?}").into());
        }
        Ok(kz)
    };

    let bin = amtsstube_tests::app::amtsstube_bin()?.with_file_name("amtsstube-server");
    let abholen = || {
        std::process::Command::new(&bin)
            .arg("--verzeichnis")
            .arg(&dir.path)
            .arg("abholen")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
    };
    let mut booked = Vec::new();
    let (mut killed, mut restarts) = (0, 0);
    for k in 0..rounds {
        // PostgreSQL may be restarting from the round before: try again a little.
        for n in [2 * k, 2 * k + 1] {
            let mut tries = 0;
            loop {
                match letter(n) {
                    Ok(kz) => {
                        booked.push(kz);
                        break;
                    }
                    Err(_) if tries < 50 => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let mut child = abholen()?;
        std::thread::sleep(std::time::Duration::from_millis(rng.random_range(5..400)));
        if k % 4 == 3 {
            cluster.restart_hard()?;
            restarts += 1;
            child.wait()?;
        } else if child.try_wait()?.is_none() {
            child.kill()?;
            child.wait()?;
            killed += 1;
        }
    }
    println!("{killed} Versandläufe getötet, PostgreSQL {restarts}-mal hart neu gestartet");
    let mut last = String::new();
    for _ in 0..3 {
        let out = abholen()?.wait_with_output()?;
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && last.contains(" 0 wartend") {
            break;
        }
    }
    assert!(last.contains(" 0 wartend"), "{last}");

    // The citizens' mailboxes: one reply per case.
    let http = reqwest::Client::new();
    let get = |path: String| {
        rt.block_on(async {
            http.get(format!("{}{path}", run.config.api_url))
                .send()
                .await?
                .json::<serde_json::Value>()
                .await
        })
    };
    let portal_cases: Vec<uuid::Uuid> = run.sim.lock().cases.keys().copied().collect();
    let mut numbers = Vec::new();
    for case in portal_cases {
        let view: portal_sim::citizen::CitizenCase =
            serde_json::from_value(get(format!("/citizen/cases/{case}"))?)?;
        for r in view
            .replies
            .iter()
            .filter(|r| r.state != SubmissionState::Incomplete)
        {
            assert!(r.verified, "{:?}", r.problems);
            numbers.push(
                r.data
                    .as_ref()
                    .and_then(|d| d["nummer"].as_u64())
                    .ok_or("ohne Nummer")?,
            );
        }
    }
    numbers.sort_unstable();
    let want: Vec<u64> = (0..2 * rounds).filter(|n| n % 3 == 0).collect();
    assert_eq!(numbers, want, "jede Antwort genau einmal (seed {seed})");
    // The e-mails: each letter under one Message-ID (a copy sent again after a
    // kill between the relay's acceptance and the record is the same message);
    // the encrypted ones carry the exact letter, the notices nothing of it.
    let received = sink.received();
    let mut ids = std::collections::HashSet::new();
    for n in (0..2 * rounds).filter(|n| n % 3 != 0) {
        let to = if n % 3 == 1 {
            format!("b{n}@example.org")
        } else {
            format!("h{n}@example.org")
        };
        let copies: Vec<_> = received.iter().filter(|m| m.to == [to.clone()]).collect();
        assert!(!copies.is_empty(), "{to}: keine E-Mail (seed {seed})");
        let mine: std::collections::HashSet<_> = copies
            .iter()
            .map(|m| amtsstube_tests::smtp::message_id(&m.data))
            .collect();
        assert_eq!(mine.len(), 1, "{to}: {mine:?} (seed {seed})");
        ids.extend(mine);
        for m in &copies {
            assert!(m.tls && m.user.as_deref() == Some("rathaus"));
            assert_eq!(m.from, "buergerbuero@musterstadt.example");
            let raw = String::from_utf8_lossy(&m.data);
            assert!(
                !raw.contains(&format!("Brief {n}")),
                "{to}: Brief im Klartext"
            );
            if n % 3 == 1 {
                assert!(raw.contains("multipart/encrypted"), "{raw}");
                let inner = amtsstube_tests::smtp::decrypt(&m.data, &secret)?;
                let (pdf, _) = amtsstube_tests::smtp::letter_of(&inner)?;
                assert_eq!(pdf, format!("%PDF-1.7\n% Brief {n}\n%%EOF\n").as_bytes());
            } else {
                assert!(!raw.contains("multipart/encrypted"), "{raw}");
                assert!(!raw.contains("application/pdf"), "{to}: Hinweis mit Anhang");
            }
        }
    }
    assert_eq!(
        ids.len(),
        (0..2 * rounds).filter(|n| n % 3 != 0).count(),
        "seed {seed}"
    );
    // The payment service and the cash folder: each Kassenzeichen once.
    let payments: Vec<portal_sim::payment::PaymentRecord> =
        serde_json::from_value(get("/citizen/payments".into())?)?;
    let mut requested: Vec<String> = payments.iter().map(|p| p.request_id.clone()).collect();
    requested.sort();
    booked.sort();
    assert_eq!(requested, booked, "seed {seed}");
    let mut files: Vec<String> = std::fs::read_dir(&kasse)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    files.sort();
    let mut want: Vec<String> = booked
        .iter()
        .flat_map(|kz| [format!("AO-{kz}.csv"), format!("AO-{kz}.xml")])
        .collect();
    want.sort();
    assert_eq!(files, want, "seed {seed}");
    let record = Arc::new(rt.block_on(Record::connect(&cluster.conninfo("versand_chaos"), 2))?);
    assert_eq!(rt.block_on(record.delivery_waiting())?, 0);
    Ok(())
}
