//! The facade's portal configuration and "Jetzt synchronisieren" against the simulator.

use std::path::Path;

use amtsstube_tests::sim::BoxError;
use domain::Role;
use workstation::{ErrorCode, LoginRequest, WorkListQuery, Workstation};

type R = Result<(), BoxError>;

fn login(ws: &mut Workstation, user: &str, pw: &str) -> Result<(), BoxError> {
    ws.login(LoginRequest {
        username: user.into(),
        password: pw.into(),
    })?;
    Ok(())
}

/// The town's pattern from `vorgangsarten.toml`: code, year, workstation 01, number.
fn is_town_file_number(n: &str) -> bool {
    let parts: Vec<&str> = n.split('-').collect();
    let codes = ["MB", "HST", "BWP", "GEW", "SNB"];
    parts.len() == 3
        && codes.contains(&parts[0])
        && parts[1].len() == 4
        && parts[2].len() == 7
        && parts[2].starts_with("01")
}

#[test]
fn configure_the_portal_and_sync_from_the_facade() -> R {
    let rt = tokio::runtime::Runtime::new()?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    portal_sim::seed::seed(&mut run.sim.lock(), 6, 12)?;
    portal_sim::seed::seed_flawed(
        &mut run.sim.lock(),
        portal_sim::seed::Flaw::SchemaInvalidMetadata,
        13,
    )?;
    let settings = serde_json::to_string(&run.config)?;

    let tmp = tempfile::tempdir()?;
    let mut ws = amtsstube_tests::local::workstation(
        &tmp.path().join("daten"),
        None,
        &[("sb1", Role::Sachbearbeitung)],
    )?;

    assert!(!ws.sync_status()?.configured);
    // Before configuration: a clear German message.
    let err = ws.sync_now().err().ok_or("sync without portal")?;
    assert_eq!(err.code, ErrorCode::NotFound);
    assert!(err.message.contains("Portal-Verbindung"), "{}", err.message);
    // Broken settings are refused before anything is stored.
    let err = ws
        .configure_portal("{\"apiUrl\": 1}")
        .err()
        .ok_or("accepted garbage")?;
    assert_eq!(err.code, ErrorCode::InvalidInput);
    let insecure = settings.replace(&run.config.api_url, "http://portal.example.org");
    assert!(
        ws.configure_portal(&insecure).is_err(),
        "plain http to a remote host accepted"
    );
    // "Verbindung testen" before saving: every step answered on its own.
    let wrong_secret = settings.replace(&run.config.client_secret, "falsches-secret");
    let test = ws.portal_check(Some(&wrong_secret))?.run();
    assert!(!test.ok);
    let by = |t: &workstation::ConnectionTest, what: &str| {
        t.steps.iter().find(|s| s.what == what).cloned()
    };
    let login_step = by(&test, "Anmeldung am Portal").ok_or("no sign-in step")?;
    assert!(
        !login_step.ok && login_step.message.contains("Client-Secret"),
        "{login_step:?}"
    );
    // The keys do not depend on the secret; the destination is not asked without sign-in.
    assert!(
        by(&test, "Schlüssel dieser Einrichtung").is_some_and(|s| s.ok),
        "{test:?}"
    );
    assert!(
        by(&test, "Zustellpunkt").is_some_and(|s| !s.ok && s.message.contains("Ohne Anmeldung")),
        "{test:?}"
    );
    let other = uuid::Uuid::new_v4().to_string();
    let wrong_destination = settings.replace(&run.config.destination_id.to_string(), &other);
    let test = ws.portal_check(Some(&wrong_destination))?.run();
    let dest = by(&test, "Zustellpunkt").ok_or("no destination step")?;
    assert!(!dest.ok && dest.message.contains(&other), "{dest:?}");
    let good = ws.portal_check(Some(&settings))?.run();
    assert!(good.ok, "{good:?}");
    ws.configure_portal(&settings)?;
    assert!(ws.portal_check(None)?.run().ok);

    // Only the administration configures.
    login(&mut ws, "sb1", "sb1-passwort-1")?;
    assert_eq!(
        ws.configure_portal(&settings).err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    let summary = ws.sync_now()?;
    assert_eq!(
        (
            summary.new_cases,
            summary.quarantined,
            summary.delivered,
            summary.pending
        ),
        (6, 1, 7, 0),
        "{summary:?}"
    );
    // The quarantine and the outbox are for the administration only.
    assert_eq!(
        ws.quarantine().err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        ws.outbox(false).err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(summary.connectivity, "online");
    let status = ws.sync_status()?;
    assert!(status.configured);
    assert_eq!(status.connectivity.as_deref(), Some("online"));
    assert!(status.last_success.is_some());
    assert_eq!((status.pending, status.failed), (0, 0));
    let list = ws.work_list(WorkListQuery::default())?;
    assert_eq!(list.total, 6);
    assert!(
        list.items
            .iter()
            .all(|c| c.applicant != "unbekannt" && is_town_file_number(&c.file_number))
    );
    login(&mut ws, "admin", "admin-passwort-1")?;
    let quarantine = ws.quarantine()?;
    assert_eq!(quarantine.len(), 1);
    assert!(quarantine[0].rejected);
    assert!(
        quarantine[0].problems.contains("schema-violation"),
        "{}",
        quarantine[0].problems
    );
    // The administration's screen shows the reasons in words, not as JSON.
    let rows = ws.admin_quarantine()?;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].rejected && !rows[0].reasons.is_empty(), "{rows:?}");
    assert!(
        rows[0].reasons.iter().all(|r| !r.starts_with('{')),
        "{rows:?}"
    );
    assert!(ws.admin_failed_outbox()?.is_empty());
    let items = ws.outbox(false)?;
    assert_eq!(items.len(), 7);
    assert!(
        items
            .iter()
            .all(|i| i.state == "done" && i.payload.is_empty())
    );
    assert!(ws.outbox(true)?.is_empty());
    login(&mut ws, "sb1", "sb1-passwort-1")?;
    // Nothing new: a second run changes nothing.
    let again = ws.sync_now()?;
    assert_eq!((again.new_cases, again.delivered), (0, 0));

    // Portal gone: the summary says so, nothing is lost.
    run.sim.set_faults(portal_sim::Faults {
        outage_seconds: 60,
        ..portal_sim::Faults::default()
    });
    let offline = ws.sync_now()?;
    assert!(offline.problem.is_some());
    let status = ws.sync_status()?;
    assert_ne!(status.connectivity.as_deref(), Some("online"));
    assert!(
        status.last_success.is_some(),
        "the last good sync is still shown"
    );
    assert_eq!(ws.work_list(WorkListQuery::default())?.total, 6);
    drop(run);
    Ok(())
}

/// The background scheduler: "Jetzt synchronisieren" wakes it, the workstation lock
/// stays free while the network is slow, a logout ends the run without losing
/// anything, and new applications are announced.
#[test]
fn background_sync_keeps_the_workstation_free() -> R {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    use workstation::background::Background;

    let rt = tokio::runtime::Runtime::new()?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    portal_sim::seed::seed(&mut run.sim.lock(), 20, 21)?;
    let tmp = tempfile::tempdir()?;
    let mut ws = amtsstube_tests::local::workstation(
        &tmp.path().join("daten"),
        Some(&run),
        &[("sb1", Role::Sachbearbeitung)],
    )?;
    assert!(ws.set_poll_interval(5).is_err(), "a 5 s poll accepted");
    ws.set_poll_interval(3_600)?;
    ws.logout();
    let shared = Arc::new(Mutex::new(Some(ws)));
    let announced = Arc::new(AtomicU32::new(0));
    let counter = announced.clone();
    let bg = Arc::new(Background::start(shared.clone(), move |n| {
        counter.fetch_add(n, Ordering::SeqCst);
    })?);

    // Nobody logged in: nothing runs.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!bg.state().running);
    {
        let mut g = shared.lock().map_err(|_| "lock")?;
        login(g.as_mut().ok_or("ws")?, "sb1", "sb1-passwort-1")?;
    }
    // A slow portal: every call takes 40 ms.
    run.sim.set_faults(portal_sim::Faults {
        latency_ms: 40,
        ..portal_sim::Faults::default()
    });
    let waiter = std::thread::spawn({
        let rt_handle = rt.handle().clone();
        let bg2 = bg.clone();
        move || rt_handle.block_on(bg2.sync_now())
    });
    // Meanwhile the clerk works: the lock is never held for long.
    let mut slowest = Duration::ZERO;
    let mut saw_progress = false;
    while !waiter.is_finished() {
        let t = Instant::now();
        {
            let mut g = shared.lock().map_err(|_| "lock")?;
            g.as_mut()
                .ok_or("ws")?
                .work_list(WorkListQuery::default())?;
        }
        slowest = slowest.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(20));
        saw_progress |= bg
            .state()
            .progress
            .is_some_and(|p| p.phase == "abholen" && p.total == 20);
    }
    let summary = waiter.join().map_err(|_| "waiter")?;
    let summary = summary.ok_or("no summary")?;
    assert_eq!((summary.new_cases, summary.pending), (20, 0), "{summary:?}");
    assert!(saw_progress);
    assert!(
        slowest < Duration::from_millis(500),
        "the workstation was blocked for {slowest:?}"
    );
    assert_eq!(announced.load(Ordering::SeqCst), 20);
    let state = bg.state();
    assert!(!state.running && state.next_run.is_some());

    // A logout in the middle of a run ends it; after the next login everything
    // converges: each application once, accepted once.
    portal_sim::seed::seed(&mut run.sim.lock(), 10, 22)?;
    let waiter = std::thread::spawn({
        let rt_handle = rt.handle().clone();
        let bg2 = bg.clone();
        move || rt_handle.block_on(bg2.sync_now())
    });
    std::thread::sleep(Duration::from_millis(250));
    shared
        .lock()
        .map_err(|_| "lock")?
        .as_mut()
        .ok_or("ws")?
        .logout();
    let _ = waiter.join().map_err(|_| "waiter")?;
    {
        let mut g = shared.lock().map_err(|_| "lock")?;
        login(g.as_mut().ok_or("ws")?, "sb1", "sb1-passwort-1")?;
    }
    run.sim.set_faults(portal_sim::Faults::default());
    let summary = rt.block_on(bg.sync_now()).ok_or("no summary")?;
    assert_eq!(summary.pending, 0, "{summary:?}");
    {
        let mut g = shared.lock().map_err(|_| "lock")?;
        assert_eq!(
            g.as_mut()
                .ok_or("ws")?
                .work_list(WorkListQuery::default())?
                .total,
            30
        );
    }
    assert!(
        run.sim
            .lock()
            .submissions
            .values()
            .all(|s| s.state == portal_sim::state::SubmissionState::Accepted)
    );

    // Logged out overnight: new applications are fetched, still encrypted; in the
    // morning the network is down, yet they are there after the login.
    portal_sim::seed::seed(&mut run.sim.lock(), 3, 23)?;
    shared
        .lock()
        .map_err(|_| "lock")?
        .as_mut()
        .ok_or("ws")?
        .logout();
    let deadline = Instant::now() + Duration::from_secs(30);
    while bg.state().staged < 3 {
        assert!(Instant::now() < deadline, "nothing staged while logged out");
        std::thread::sleep(Duration::from_millis(100));
    }
    run.sim.set_faults(portal_sim::Faults {
        outage_seconds: 600,
        ..portal_sim::Faults::default()
    });
    {
        let mut g = shared.lock().map_err(|_| "lock")?;
        login(g.as_mut().ok_or("ws")?, "sb1", "sb1-passwort-1")?;
    }
    let summary = rt.block_on(bg.sync_now()).ok_or("no summary")?;
    assert_eq!(summary.new_cases, 3, "{summary:?}");
    assert!(summary.problem.is_some(), "the portal is down");
    assert_eq!(summary.pending, 3, "accepts wait for the network");
    bg.stop();
    Ok(())
}

/// A town without keys: the app makes the two key pairs and their certificate
/// signing requests, takes the chains the PKI returns, writes the public keys for the
/// self-service portal, and connects with the fields entered by hand – tested
/// against the simulator, whose destination still publishes its own key.
#[test]
fn keys_made_here_certified_by_the_pki_and_a_connection_entered_by_hand() -> R {
    use fitconnect::keys::{KeyUse, PublicJwk, TestPki};
    let rt = tokio::runtime::Runtime::new()?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    let tmp = tempfile::tempdir()?;
    let mut ws = amtsstube_tests::local::workstation(
        &tmp.path().join("daten"),
        None,
        &[("sb1", Role::Sachbearbeitung)],
    )?;
    let out = tmp.path().join("export");
    assert!(ws.portal_key_request()?.is_none());
    let fields = workstation::PortalFields {
        api_url: run.config.api_url.clone(),
        token_url: run.config.token_url.clone(),
        destination_id: run.config.destination_id.to_string(),
        client_id: run.config.client_id.clone(),
        client_secret: run.config.client_secret.clone(),
        reply_destination_id: None,
        payment_url: None,
    };
    // Without keys made here, fields alone are not a connection.
    let err = ws.portal_check_fields(&fields).err().ok_or("no keys")?;
    assert!(err.message.contains("Verbindungsdatei"), "{}", err.message);

    // Only the administration makes keys.
    ws.logout();
    login(&mut ws, "sb1", "sb1-passwort-1")?;
    assert_eq!(
        ws.portal_key_subject().err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    ws.logout();
    login(&mut ws, "admin", "admin-passwort-1")?;

    // Certificates without a request of this PC: refused, nothing written.
    let err = ws
        .portal_certify_keys("x", "y", &out)
        .err()
        .ok_or("certified without a request")?;
    assert!(
        err.message.contains("keinen offenen Schlüsselantrag"),
        "{}",
        err.message
    );
    assert!(!out.exists());
    let subject = ws.portal_key_subject()?;
    assert_eq!(subject.organisation, "Gemeinde Musterstadt");
    let made = ws.portal_store_keys(workstation::make_portal_keys(&subject)?, &out)?;
    assert!(!made.certified && made.files.len() == 2, "{made:?}");
    let csr = |name: &str| std::fs::read_to_string(out.join(name));
    let (enc_csr, sig_csr) = (
        csr("fit-connect-verschluesselung.csr")?,
        csr("fit-connect-signatur.csr")?,
    );
    assert!(enc_csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
    assert!(!enc_csr.contains("PRIVATE") && !sig_csr.contains("PRIVATE"));
    assert_eq!(
        ws.portal_key_request()?,
        Some(workstation::KeyRequestState {
            files: Vec::new(),
            ..made.clone()
        })
    );
    // Not certified yet: no connection by hand.
    let err = ws.portal_check_fields(&fields).err().ok_or("uncertified")?;
    assert!(err.message.contains("Zertifikate"), "{}", err.message);

    // The PKI answers; the chains swapped by mistake are refused with a reason.
    let pki = TestPki::new(2048)?;
    let enc_chain = pki.certify(&enc_csr, KeyUse::Encryption)?;
    let sig_chain = pki.certify(&sig_csr, KeyUse::Signature)?;
    let err = ws
        .portal_certify_keys(&sig_chain, &enc_chain, &out)
        .err()
        .ok_or("swapped chains accepted")?;
    assert!(err.message.contains("Verschlüsselung"), "{}", err.message);
    let certified = ws.portal_certify_keys(&enc_chain, &sig_chain, &out)?;
    assert!(certified.certified);
    let published: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        out.join("fit-connect-schluessel.json"),
    )?)?;
    let enc: PublicJwk = serde_json::from_value(published["encryptionPublicKey"].clone())?;
    let sig: PublicJwk = serde_json::from_value(published["signingPublicKey"].clone())?;
    enc.validate(KeyUse::Encryption)?;
    sig.validate(KeyUse::Signature)?;
    enc.verify_chain(std::slice::from_ref(&pki.root))?;
    assert_eq!(published["encryptionKid"], enc.kid.as_str());
    assert!(!published.to_string().contains("PRIVATE"));

    // A mistyped destination is named; then the test against the simulator: signed
    // in, destination found, but it still encrypts for its own key – said in German.
    let typo = workstation::PortalFields {
        destination_id: "1234".into(),
        ..fields.clone()
    };
    let err = ws.portal_check_fields(&typo).err().ok_or("bad uuid")?;
    assert!(err.message.contains("Zustellpunkt-ID"), "{}", err.message);
    let test = ws.portal_check_fields(&fields)?.run();
    let by = |what: &str| test.steps.iter().find(|s| s.what == what).cloned();
    assert!(
        by("Schlüssel dieser Einrichtung").is_some_and(|s| s.ok),
        "{test:?}"
    );
    assert!(by("Anmeldung am Portal").is_some_and(|s| s.ok), "{test:?}");
    let key = by("Verschlüsselungsschlüssel des Zustellpunkts").ok_or("no key step")?;
    assert!(!key.ok && key.message.contains(&enc.kid), "{key:?}");
    assert!(!test.ok);

    // Taken over: the keys move into the connection, the request is closed.
    ws.configure_portal_fields(&fields)?;
    assert!(ws.admin_settings()?.portal_configured);
    assert!(ws.portal_key_request()?.is_none());
    let stored = ws.portal_check(None)?.run();
    assert!(
        stored
            .steps
            .iter()
            .any(|s| s.what == "Anmeldung am Portal" && s.ok),
        "{stored:?}"
    );
    Ok(())
}
