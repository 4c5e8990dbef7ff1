//! The sync engine end to end: the real portal simulator on loopback, the real
//! SQLCipher store on a temp dir.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use amtsstube_tests::local::{reopen, store, subscriber};
use amtsstube_tests::sim::{BoxError, Running, client};
use fitconnect::client::{SubmissionApi, verify_case_events};
use fitconnect::set::Event;
use portal_sim::seed::{self, Flaw};
use store::{Session, SubmissionState};
use sync::PushPolicy;
use sync::core::{Backoff, ConnectivityTracker};
use uuid::Uuid;

type R = Result<(), BoxError>;

async fn start() -> Result<Running, BoxError> {
    amtsstube_tests::sim::start(Path::new(env!("CARGO_TARGET_TMPDIR"))).await
}

fn fast_policy() -> PushPolicy {
    PushPolicy {
        backoff: Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(20),
        },
        max_attempts: 50,
        batch: 500,
    }
}

/// Every submission the portal holds is once in the store and accepted (or, if
/// invalid, rejected) exactly once on the portal.
async fn check_invariants(api: &impl SubmissionApi, session: &Session, run: &Running) -> R {
    let local: HashMap<String, SubmissionState> = session.submissions()?.into_iter().collect();
    let portal: Vec<(Uuid, Uuid)> = {
        let st = run.sim.lock();
        st.submissions
            .values()
            .filter(|s| s.destination_id == st.destination_id)
            .map(|s| (s.submission_id, s.case_id))
            .collect()
    };
    assert_eq!(
        local.len(),
        portal.len(),
        "local and portal disagree on the number of submissions"
    );
    for (sub, case) in portal {
        let state = local
            .get(&sub.to_string())
            .ok_or(format!("submission {sub} missing locally"))?;
        let events = verify_case_events(api, case, run.config.destination_id).await?;
        let ours: Vec<Event> = events
            .iter()
            .filter(|e| e.submission_id == sub && e.iss == run.config.destination_id.to_string())
            .map(|e| e.event)
            .collect();
        match state {
            SubmissionState::Accepted => assert_eq!(ours, [Event::AcceptSubmission], "{sub}"),
            SubmissionState::Rejected => assert_eq!(ours, [Event::RejectSubmission], "{sub}"),
            other => return Err(format!("{sub} still {other:?}").into()),
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pickup_stores_then_accepts_and_dedupes() -> R {
    let run = start().await?;
    let ids = seed::seed(&mut run.sim.lock(), 12, 3)?;
    let bad = seed::seed_flawed(&mut run.sim.lock(), Flaw::SwappedAttachment, 4)?;
    let api = client(&run.config)?;
    let sub = subscriber(&run)?;
    let tmp = tempfile::tempdir()?;
    let mut session = store(&tmp.path().join("daten"))?;
    let mut tracker = ConnectivityTracker::default();

    let report = sync::pull(&api, &mut session, &sub, &mut tracker).await?;
    assert_eq!((report.new_cases, report.quarantined), (12, 1));
    // Stored, not yet accepted: the portal still lists them all.
    assert_eq!(
        api.all_for_pickup(run.config.destination_id).await?.len(),
        13
    );
    assert_eq!(
        session.submission_state(&ids[0].to_string())?,
        Some(SubmissionState::Stored)
    );
    assert_eq!(
        session.submission_state(&bad.to_string())?,
        Some(SubmissionState::Quarantined)
    );
    // A second pickup before the accepts went out changes nothing.
    let again = sync::pull(&api, &mut session, &sub, &mut tracker).await?;
    assert_eq!((again.new_cases, again.already_known), (0, 13));

    let pushed = sync::push(&api, &mut session, &sub, &fast_policy(), &mut tracker).await?;
    assert_eq!(pushed.delivered, 13);
    assert!(
        api.all_for_pickup(run.config.destination_id)
            .await?
            .is_empty()
    );
    assert_eq!(session.count_cases()?, 12);
    assert_eq!(session.outbox_counts()?.pending, 0);
    check_invariants(&api, &session, &run).await?;

    // The citizen sends a missing document: it joins the existing case.
    let case = run
        .sim
        .lock()
        .submissions
        .get(&ids[0])
        .map(|s| s.case_id)
        .ok_or("no case")?;
    reqwest::Client::new()
        .post(format!("{}/citizen/cases/{case}/submissions", run.config.api_url))
        .json(&serde_json::json!({ "filename": "Nachweis.pdf", "mimeType": "application/pdf", "contentBase64": "JVBERi0xLjQ=" }))
        .send()
        .await?
        .error_for_status()?;
    let report = sync::pull(&api, &mut session, &sub, &mut tracker).await?;
    assert_eq!((report.new_cases, report.follow_ups), (0, 1));
    sync::push(&api, &mut session, &sub, &fast_policy(), &mut tracker).await?;
    assert_eq!(session.count_cases()?, 12);
    check_invariants(&api, &session, &run).await?;
    Ok(())
}

/// While one submission is stored, the next ones are already fetched and opened
/// (several requests at once on a slow line), yet they are stored in the order the
/// portal listed them, and the service's key set is read once per run, not per case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pickup_fetches_ahead_stores_in_order_and_reads_the_key_set_once() -> R {
    let run = start().await?;
    seed::seed(&mut run.sim.lock(), 10, 21)?;
    let api = client(&run.config)?;
    let listed: Vec<String> = api
        .all_for_pickup(run.config.destination_id)
        .await?
        .into_iter()
        .map(|s| s.submission_id.to_string())
        .collect();
    run.sim.set_faults(portal_sim::Faults {
        latency_ms: 25,
        ..Default::default()
    });
    run.sim.reset_traffic();
    let sub = subscriber(&run)?;
    let tmp = tempfile::tempdir()?;
    let mut session = store(&tmp.path().join("daten"))?;
    let mut tracker = ConnectivityTracker::default();
    let report = sync::pull(&api, &mut session, &sub, &mut tracker).await?;
    assert_eq!(report.new_cases, 10, "{report:?}");
    let traffic = run.sim.traffic();
    assert!(
        traffic.peak_in_flight >= 3,
        "submissions are fetched one after the other: {traffic:?}"
    );
    assert_eq!(traffic.jwks_requests, 1, "{traffic:?}");
    // The accepts are queued as the submissions are committed: in the listed order.
    let committed: Vec<String> = session
        .outbox_items(Some("pending"))?
        .into_iter()
        .map(|item| {
            let payload: serde_json::Value = serde_json::from_str(&item.payload)?;
            Ok(payload["submissionId"]
                .as_str()
                .unwrap_or_default()
                .to_owned())
        })
        .collect::<Result<_, serde_json::Error>>()?;
    assert_eq!(committed, listed);
    run.sim.set_faults(portal_sim::Faults::default());
    sync::push(&api, &mut session, &sub, &fast_policy(), &mut tracker).await?;
    check_invariants(&api, &session, &run).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_and_restarts_everything_arrives_exactly_once() -> R {
    let run = start().await?;
    seed::seed(&mut run.sim.lock(), 25, 8)?;
    seed::seed_flawed(&mut run.sim.lock(), Flaw::WrongKey, 9)?;
    run.sim.set_faults(portal_sim::Faults {
        error_rate: 0.3,
        reset_rate: 0.15,
        truncate_rate: 0.05,
        token_revoke_rate: 0.05,
        seed: 21,
        ..portal_sim::Faults::default()
    });
    let api = client(&run.config)?;
    let sub = subscriber(&run)?;
    let tmp = tempfile::tempdir()?;
    let mut session = store(&tmp.path().join("daten"))?;
    let mut tracker = ConnectivityTracker::default();
    let mut errors = 0;
    for round in 0..400 {
        // Now and then the process "dies": the session is dropped and reopened from disk.
        if round % 7 == 6 {
            session = reopen(session)?;
            // Documents written ahead for submissions a broken run never stored
            // are gone with the run: the unlock finds no orphan to remove.
            assert_eq!(session.vault_check().removed_orphans, 0, "round {round}");
            assert_eq!(session.vault_check().missing, 0, "round {round}");
        }
        if sync::pull(&api, &mut session, &sub, &mut tracker)
            .await
            .is_err()
        {
            errors += 1;
        }
        // Items that failed wait for their backoff in wall-clock time; how much of it
        // passes in a round depends on the machine. "Jetzt synchronisieren" makes them
        // due, so every round tries them again under the same faults.
        session.outbox_due_now()?;
        if sync::push(&api, &mut session, &sub, &fast_policy(), &mut tracker)
            .await
            .is_err()
        {
            errors += 1;
        }
        let done = session.outbox_counts()?.pending == 0
            && session.submissions()?.len() == 26
            && run
                .sim
                .lock()
                .submissions
                .values()
                .all(|s| s.state != portal_sim::state::SubmissionState::Submitted);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(errors > 0, "the faults did not bite");
    run.sim.set_faults(portal_sim::Faults::default());
    assert_eq!(session.outbox_counts()?.failed, 0);
    check_invariants(&api, &session, &run).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consistently_exchanged_submission_is_caught_by_the_authentication_tags() -> R {
    let run = start().await?;
    let ids = seed::seed(&mut run.sim.lock(), 1, 31)?;
    let id = ids[0];
    // Someone between citizen and authority replaces metadata and attachment together,
    // hashes consistent: only the service's signed submit event can tell.
    {
        let mut st = run.sim.lock();
        let stored = st.submissions.get(&id).cloned().ok_or("no submission")?;
        let forged_pdf = portal_sim::seed::pdf(&["Gefälschter Antrag".to_owned()]);
        let attachments: Vec<fitconnect::submission::PlainAttachment> = stored
            .uploaded
            .iter()
            .map(|a| fitconnect::submission::PlainAttachment {
                id: *a,
                bytes: forged_pdf.clone(),
                mime_type: "application/pdf".into(),
                purpose: "attachment".into(),
                filename: Some("Antrag.pdf".into()),
            })
            .collect();
        let data = br#"{"antrag":"anders"}"#;
        let resealed = fitconnect::submission::seal(
            id,
            stored.case_id,
            &run.config.encryption_key,
            Some((
                data,
                "application/json",
                "https://schema.amtsstube.invalid/x.json",
            )),
            &attachments,
            |_| {},
        )?;
        for (att, jwe) in &resealed.attachments {
            st.put_attachment(id, *att, jwe)?;
        }
        if let Some(s) = st.submissions.get_mut(&id) {
            s.encrypted_metadata = Some(resealed.encrypted_metadata.clone());
            s.encrypted_data = resealed.encrypted_data.clone();
        }
    }
    let api = client(&run.config)?;
    let sub = subscriber(&run)?;
    let tmp = tempfile::tempdir()?;
    let mut session = store(&tmp.path().join("daten"))?;
    let mut tracker = ConnectivityTracker::default();
    let report = sync::pull(&api, &mut session, &sub, &mut tracker).await?;
    assert_eq!((report.new_cases, report.quarantined), (0, 1));
    sync::push(&api, &mut session, &sub, &fast_policy(), &mut tracker).await?;
    let case = run
        .sim
        .lock()
        .submissions
        .get(&id)
        .map(|s| s.case_id)
        .ok_or("no case")?;
    let events = verify_case_events(&api, case, run.config.destination_id).await?;
    let last = events.last().ok_or("no events")?;
    assert_eq!(last.event, Event::RejectSubmission);
    assert_eq!(
        last.payload["problems"][0]["type"],
        fitconnect::ProblemKind::IncorrectAuthenticationTag.type_uri()
    );
    Ok(())
}

/// Fetched while the store is locked: the bundles stay encrypted on disk; after the
/// login they are verified – against the service's keys pinned by an earlier run,
/// never the bundle's own – and stored even though the portal is down by then, and
/// accepted once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetched_while_locked_stored_after_unlock_even_offline() -> R {
    let run = start().await?;
    let api = client(&run.config)?;
    let sub = subscriber(&run)?;
    let tmp = tempfile::tempdir()?;
    // A workstation in use: an earlier run pinned the service's keys.
    let mut first = store(&tmp.path().join("daten"))?;
    let mut tracker = ConnectivityTracker::default();
    sync::pull(&api, &mut first, &sub, &mut tracker).await?;
    assert!(first.setting(sync::PINNED_JWKS)?.is_some(), "keys pinned");
    let key = first.staging_key()?;
    let locked = first.lock();
    seed::seed(&mut run.sim.lock(), 8, 31)?;
    seed::seed_flawed(&mut run.sim.lock(), Flaw::SwappedAttachment, 32)?;

    let staged = sync::staging::prefetch(&api, &locked, &key, run.config.destination_id).await?;
    assert_eq!(staged, 9);
    assert_eq!(
        sync::staging::prefetch(&api, &locked, &key, run.config.destination_id).await?,
        0,
        "staged twice"
    );
    // No plaintext of the applications in the staging folder.
    for id in locked.staged_ids()? {
        let text = String::from_utf8_lossy(&locked.read_staged(&id, &key)?).into_owned();
        for word in ["antragsteller", "familienname", "vorname", "%PDF"] {
            assert!(!text.contains(word), "{word} in plaintext in {id}");
        }
    }
    // Hostile ids are refused.
    assert!(locked.stage("../../etc/passwd", b"x", &key).is_err());

    // The portal goes down; the clerk logs in.
    run.sim.set_faults(portal_sim::Faults {
        outage_seconds: 600,
        ..portal_sim::Faults::default()
    });
    let mut session = locked.unlock(
        &domain::UserName::parse(amtsstube_tests::local::USER)?,
        &store::SecretString::from(amtsstube_tests::local::PASSWORD.to_owned()),
    )?;
    let mut tracker = ConnectivityTracker::default();
    let report = sync::pull(&api, &mut session, &sub, &mut tracker).await?;
    // The flawed one (its attachment swapped) waits: whether the portal's copy or
    // the staged one is wrong, only the portal can say – a bundle from the data
    // folder never gets a genuine application rejected.
    assert_eq!(
        (report.new_cases, report.quarantined, report.deferred),
        (8, 0, 1),
        "{report:?}"
    );
    assert_eq!(session.count_cases()?, 8);
    assert!(
        sync::push(&api, &mut session, &sub, &fast_policy(), &mut tracker)
            .await
            .is_err(),
        "the portal is down"
    );
    let waiting = session.outbox_items(Some("pending"))?;
    assert_eq!(waiting.len(), 8);
    assert!(waiting.iter().all(|i| i.attempts == 1));
    assert_eq!(
        session.store().staged_ids()?.len(),
        1,
        "stored bundles are removed, the one waiting stays"
    );
    // Back online: the flawed one is quarantined from the portal's copy; accepted
    // and rejected exactly once.
    run.sim.set_faults(portal_sim::Faults::default());
    let mut tracker = ConnectivityTracker::default();
    let report = sync::pull(&api, &mut session, &sub, &mut tracker).await?;
    assert_eq!((report.new_cases, report.quarantined), (0, 1), "{report:?}");
    session.outbox_due_now()?;
    let pushed = sync::push(&api, &mut session, &sub, &fast_policy(), &mut tracker).await?;
    assert_eq!(pushed.delivered, 9, "{pushed:?}");
    assert!(
        session.store().staged_ids()?.is_empty(),
        "the bundle of the quarantined one is gone at the next run"
    );
    check_invariants(&api, &session, &run).await
}

/// Even a planter who got hold of the staging key (it lives in the app's memory
/// after the logout) cannot plant an application: a staged bundle whose event log
/// is signed with the planter's own key (brought along in the bundle's key set,
/// with a forged receipt time) is not believed. Offline the application waits;
/// online the portal's own copy decides, with its true receipt time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_staged_bundle_is_not_believed_even_with_the_staging_key() -> R {
    let run = start().await?;
    let api = client(&run.config)?;
    let sub = subscriber(&run)?;
    let tmp = tempfile::tempdir()?;
    let mut first = store(&tmp.path().join("daten"))?;
    let mut tracker = ConnectivityTracker::default();
    sync::pull(&api, &mut first, &sub, &mut tracker).await?;
    let key = first.staging_key()?;
    let locked = first.lock();
    seed::seed(&mut run.sim.lock(), 1, 41)?;
    assert_eq!(
        sync::staging::prefetch(&api, &locked, &key, run.config.destination_id).await?,
        1
    );
    let id = locked.staged_ids()?.pop().ok_or("nothing staged")?;
    let mut bundle: sync::staging::Bundle =
        serde_json::from_slice(&locked.read_staged(&id, &key)?)?;
    // The genuine submit event, re-signed by the planter with a receipt time of his own.
    let case = bundle.submission.case_id;
    let genuine = verify_case_events(&api, case, run.config.destination_id)
        .await?
        .into_iter()
        .find(|e| e.event == Event::SubmitSubmission)
        .ok_or("no submit event")?;
    let pki = fitconnect::keys::TestPki::new(4096)?;
    let planter = pki.issue("planter-sig-01", fitconnect::keys::KeyUse::Signature, 4096)?;
    let forged_iat = 1_577_836_800; // 2020-01-01
    let forged = fitconnect::set::sign(
        Event::SubmitSubmission,
        genuine.payload.clone(),
        &genuine.iss,
        genuine.submission_id,
        case,
        forged_iat,
        &planter,
    )?;
    bundle.events = vec![forged];
    bundle.jwks.keys.push(planter.public.clone());
    locked.stage(&id, &serde_json::to_vec(&bundle)?, &key)?;
    let user = domain::UserName::parse(amtsstube_tests::local::USER)?;
    let password = store::SecretString::from(amtsstube_tests::local::PASSWORD.to_owned());

    // Offline: checked against the pinned keys, not believed, nothing stored.
    run.sim.set_faults(portal_sim::Faults {
        outage_seconds: 600,
        ..portal_sim::Faults::default()
    });
    let mut session = locked.unlock(&user, &password)?;
    let report = sync::pull(&api, &mut session, &sub, &mut tracker).await?;
    assert_eq!((report.new_cases, report.quarantined), (0, 0), "{report:?}");
    assert_eq!(session.count_cases()?, 0);

    // Online: the portal's copy, with the true receipt time.
    run.sim.set_faults(portal_sim::Faults::default());
    tracker = ConnectivityTracker::default();
    let report = sync::pull(&api, &mut session, &sub, &mut tracker).await?;
    assert_eq!(report.new_cases, 1, "{report:?}");
    let cases = session.case_records(
        &store::CaseFilter::All,
        store::CaseOrder::NewestFirst,
        10,
        0,
    )?;
    let received = jiff::Timestamp::from_second(genuine.iat)?.to_string();
    assert_eq!(cases[0].received_at, received);
    assert!(!cases[0].received_at.starts_with("2020"));
    Ok(())
}

/// Without the staging key, whoever can write the data folder cannot plant, change
/// or swap a staged bundle: each such file is refused by its seal, recorded in the
/// audit log and thrown away, and the submission is fetched again from the portal
/// (offline it simply waits). A bundle sealed by another store's key is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_files_without_a_fitting_seal_are_thrown_away_and_fetched_again() -> R {
    let run = start().await?;
    let api = client(&run.config)?;
    let sub = subscriber(&run)?;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");
    let mut first = store(&dir)?;
    let mut tracker = ConnectivityTracker::default();
    sync::pull(&api, &mut first, &sub, &mut tracker).await?;
    let key = first.staging_key()?;
    let locked = first.lock();
    seed::seed(&mut run.sim.lock(), 4, 43)?;
    assert_eq!(
        sync::staging::prefetch(&api, &locked, &key, run.config.destination_id).await?,
        4
    );
    let ids = locked.staged_ids()?;
    let staging = dir.join("staging");
    let file = |id: &str| staging.join(format!("{id}.json"));
    // 1: one byte of the bundle changed (the receipt-relevant fetch time).
    let mut bytes = std::fs::read(file(&ids[0]))?;
    let at = bytes.len() - 3;
    bytes[at] ^= 0x01;
    std::fs::write(file(&ids[0]), &bytes)?;
    // 2 and 3: swapped with each other.
    let (b1, b2) = (std::fs::read(file(&ids[1]))?, std::fs::read(file(&ids[2]))?);
    std::fs::write(file(&ids[1]), &b2)?;
    std::fs::write(file(&ids[2]), &b1)?;
    // 4: replaced by the bare bundle (no seal), as a planter would write it.
    let bare = locked.read_staged(&ids[3], &key)?;
    std::fs::write(file(&ids[3]), &bare)?;
    // A fifth one planted, sealed with another store's key.
    let other_tmp = tempfile::tempdir()?;
    let other = store(&other_tmp.path().join("andere"))?;
    let planted = "00000000-0000-4000-8000-000000000001";
    locked.stage(planted, &bare, &other.staging_key()?)?;
    for id in ids.iter().map(String::as_str).chain([planted]) {
        assert!(
            matches!(
                locked.read_staged(id, &key),
                Err(store::StoreError::StagedForged(_))
            ),
            "{id} believed"
        );
    }

    // Offline: nothing is stored from the staging folder, and it is empty after.
    run.sim.set_faults(portal_sim::Faults {
        outage_seconds: 600,
        ..portal_sim::Faults::default()
    });
    let mut session = locked.unlock(
        &domain::UserName::parse(amtsstube_tests::local::USER)?,
        &store::SecretString::from(amtsstube_tests::local::PASSWORD.to_owned()),
    )?;
    // With nothing left to store the run reports the portal's outage.
    if let Ok(report) = sync::pull(&api, &mut session, &sub, &mut tracker).await {
        assert_eq!(report.new_cases, 0, "{report:?}");
    }
    assert_eq!(session.count_cases()?, 0);
    assert!(session.store().staged_ids()?.is_empty(), "thrown away");
    let thrown: Vec<_> = session
        .audit_entries(u32::MAX)?
        .into_iter()
        .filter(|e| e.action == "vorabruf.verworfen")
        .collect();
    assert_eq!(thrown.len(), 5, "{thrown:?}");

    // Online: all four fetched again from the portal, once each.
    run.sim.set_faults(portal_sim::Faults::default());
    let mut tracker = ConnectivityTracker::default();
    let report = sync::pull(&api, &mut session, &sub, &mut tracker).await?;
    assert_eq!(report.new_cases, 4, "{report:?}");
    assert_eq!(session.count_cases()?, 4);
    Ok(())
}
