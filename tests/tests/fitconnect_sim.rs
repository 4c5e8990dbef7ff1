//! The FIT-Connect client against the real portal simulator over loopback HTTP.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use amtsstube_tests::sim::{Running, client, keys};
use fitconnect::client::{SubmissionApi, V1Client};
use fitconnect::set::{self, Event};
use fitconnect::submission::PlainAttachment;
use fitconnect::{ProblemKind, submission};
use portal_sim::seed::{self, Flaw};
use portal_sim::{State, SubscriberConfig};
use uuid::Uuid;

type R = Result<(), amtsstube_tests::sim::BoxError>;

fn start() -> impl std::future::Future<Output = Result<Running, amtsstube_tests::sim::BoxError>> {
    amtsstube_tests::sim::start(Path::new(env!("CARGO_TARGET_TMPDIR")))
}

/// The destination's accept event for a submission it picked up.
fn accept_token(
    run: &Running,
    p: &fitconnect::api::SubmissionForPickup,
    tags: &set::AuthenticationTags,
    sig: &fitconnect::keys::KeyPair,
) -> Result<String, amtsstube_tests::sim::BoxError> {
    Ok(set::sign(
        Event::AcceptSubmission,
        set::accept_payload(tags),
        &run.config.destination_id.to_string(),
        p.submission_id,
        p.case_id,
        jiff::Timestamp::now().as_second(),
        sig,
    )?)
}

/// Verify every SET of a case (library helper under test).
async fn verified_events(
    api: &V1Client,
    c: &SubscriberConfig,
    case: Uuid,
) -> Result<Vec<set::VerifiedEvent>, amtsstube_tests::sim::BoxError> {
    Ok(fitconnect::client::verify_case_events(api, case, c.destination_id).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_submissions_are_fetched_decrypted_verified_and_accepted() -> R {
    let run = start().await?;
    seed::seed(&mut run.sim.lock(), 50, 7)?;
    let api = client(&run.config)?;
    let (enc, sig) = keys(&run.config)?;
    let info = api.info().await?;
    assert_eq!(info.version.major, 1);
    let dest = api.destination(run.config.destination_id).await?;
    assert_eq!(dest.encryption_kid, run.config.encryption_key.kid);
    // The published key is the one we hold, and it chains to the simulator's root.
    let published = api
        .destination_key(run.config.destination_id, &dest.encryption_kid)
        .await?;
    assert_eq!(published, run.config.encryption_key);

    let pending = api.all_for_pickup(run.config.destination_id).await?;
    assert_eq!(pending.len(), 50);
    let mut services = HashSet::new();
    for p in &pending {
        let sub = api.fetch_encrypted(p.submission_id).await?;
        let opened = submission::open(&sub, &enc)?;
        services.insert(
            opened
                .metadata
                .public_service_type
                .map(|s| s.identifier)
                .unwrap_or_default(),
        );
        assert!(
            opened.metadata.reply_channel.is_some(),
            "every submission has a reply channel"
        );
        let token = accept_token(&run, p, &opened.tags, &sig)?;
        api.post_event(p.case_id, &token).await?;
    }
    assert_eq!(services.len(), 5, "all five services seeded: {services:?}");
    assert!(
        api.all_for_pickup(run.config.destination_id)
            .await?
            .is_empty()
    );
    for p in &pending {
        let events: Vec<Event> = verified_events(&api, &run.config, p.case_id)
            .await?
            .into_iter()
            .map(|e| e.event)
            .collect();
        assert_eq!(
            events,
            [
                Event::CreateSubmission,
                Event::SubmitSubmission,
                Event::AcceptSubmission
            ]
        );
    }
    // A second accept is an invalid transition.
    let p = pending[0];
    let again = set::sign(
        Event::AcceptSubmission,
        serde_json::json!({}),
        &run.config.destination_id.to_string(),
        p.submission_id,
        p.case_id,
        0,
        &sig,
    )?;
    let err = api
        .post_event(p.case_id, &again)
        .await
        .err()
        .ok_or("second accept taken")?;
    assert_eq!(err.status(), Some(409));
    assert!(!err.is_retryable());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defective_submissions_get_a_reject_with_the_right_problem() -> R {
    let run = start().await?;
    let cases = [
        (Flaw::SwappedAttachment, ProblemKind::HashMismatch),
        (Flaw::WrongKey, ProblemKind::EncryptionIssue),
        (Flaw::SchemaInvalidMetadata, ProblemKind::SchemaViolation),
        (Flaw::MissingContentType, ProblemKind::MissingContentType),
    ];
    let mut expected = Vec::new();
    for (i, (flaw, kind)) in cases.iter().enumerate() {
        let id = seed::seed_flawed(&mut run.sim.lock(), *flaw, 100 + i as u64)?;
        expected.push((id, *kind));
    }
    let api = client(&run.config)?;
    let (enc, sig) = keys(&run.config)?;
    for (id, kind) in expected {
        let sub = api.fetch_encrypted(id).await?;
        let rejection = submission::open(&sub, &enc)
            .err()
            .ok_or("defective submission accepted")?;
        assert!(
            rejection.has(kind),
            "{kind:?} expected, got {:?}",
            rejection.problems
        );
        let token = set::sign(
            Event::RejectSubmission,
            set::reject_payload(&rejection.problems),
            &run.config.destination_id.to_string(),
            id,
            sub.case_id,
            jiff::Timestamp::now().as_second(),
            &sig,
        )?;
        api.post_event(sub.case_id, &token).await?;
        let events = verified_events(&api, &run.config, sub.case_id).await?;
        let last = events.last().ok_or("no events")?;
        assert_eq!(last.event, Event::RejectSubmission);
        assert_eq!(last.payload["problems"][0]["type"], kind.type_uri());
    }
    assert!(
        api.all_for_pickup(run.config.destination_id)
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_and_revoked_tokens_are_renewed_transparently() -> R {
    let run = start().await?;
    seed::seed(&mut run.sim.lock(), 3, 1)?;
    run.sim.set_token_lifetime(Duration::from_secs(2));
    let api = client(&run.config)?;
    for _ in 0..4 {
        assert_eq!(
            api.all_for_pickup(run.config.destination_id).await?.len(),
            3
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let renewed = run.sim.tokens_issued();
    assert!(
        renewed >= 2,
        "token was not renewed before expiry ({renewed} issued)"
    );
    // Revoked behind the client's back: the 401 leads to one new token, no error.
    run.sim.revoke_tokens();
    assert_eq!(
        api.all_for_pickup(run.config.destination_id).await?.len(),
        3
    );
    assert_eq!(run.sim.tokens_issued(), renewed + 1);
    // Wrong credentials are an authentication error, not retryable.
    let mut bad = run.config.clone();
    bad.settings.client_secret = "falsch".into();
    let err = client(&bad)?
        .all_for_pickup(run.config.destination_id)
        .await
        .err()
        .ok_or("wrong secret accepted")?;
    assert!(
        matches!(err, fitconnect::client::ClientError::Auth(_)),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_over_1200_submissions_yields_each_exactly_once() -> R {
    let run = start().await?;
    seed::seed(&mut run.sim.lock(), 1200, 42)?;
    let api = client(&run.config)?;
    let all = api.all_for_pickup(run.config.destination_id).await?;
    let unique: HashSet<Uuid> = all.iter().map(|s| s.submission_id).collect();
    assert_eq!(all.len(), 1200);
    assert_eq!(unique.len(), 1200);
    let page = api
        .list_for_pickup(run.config.destination_id, 1000, 500)
        .await?;
    assert_eq!(
        (page.count, page.offset, page.total_count),
        (200, 1000, 1200)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_keeps_its_state_across_restarts() -> R {
    let dir = tempfile::tempdir()?;
    std::fs::copy(
        amtsstube_tests::sim::key_template(Path::new(env!("CARGO_TARGET_TMPDIR")))
            .join("keys.json"),
        dir.path().join("keys.json"),
    )?;
    let ids = {
        let mut state = State::open(dir.path(), 4096)?;
        seed::seed(&mut state, 5, 3)?
    };
    let state = State::open(dir.path(), 4096)?;
    for id in &ids {
        let s = state.submissions.get(id).ok_or("lost a submission")?;
        assert_eq!(s.state, portal_sim::state::SubmissionState::Submitted);
        assert_eq!(state.cases.get(&s.case_id).map(|c| c.events.len()), Some(2));
    }
    // Same seed, same content: ids are deterministic.
    let other = tempfile::tempdir()?;
    std::fs::copy(
        amtsstube_tests::sim::key_template(Path::new(env!("CARGO_TARGET_TMPDIR")))
            .join("keys.json"),
        other.path().join("keys.json"),
    )?;
    let again = seed::seed(&mut State::open(other.path(), 4096)?, 5, 3)?;
    assert_eq!(ids, again);
    Ok(())
}

/// Retry a call while its error is retryable; returns the result and the errors seen.
async fn retry<T, F, Fut>(
    mut call: F,
    errors: &mut Vec<fitconnect::client::ClientError>,
) -> Result<T, fitconnect::client::ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, fitconnect::client::ClientError>>,
{
    for _ in 0..60 {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() => {
                let wait = e
                    .retry_after()
                    .unwrap_or(Duration::from_millis(20))
                    .min(Duration::from_secs(2));
                errors.push(e);
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(fitconnect::client::ClientError::Network(
        "zu viele Versuche".into(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_injected_faults_every_submission_is_accepted_exactly_once() -> R {
    let run = start().await?;
    seed::seed(&mut run.sim.lock(), 20, 5)?;
    run.sim.set_faults(portal_sim::Faults {
        latency_ms: 2,
        error_rate: 0.25,
        reset_rate: 0.1,
        truncate_rate: 0.1,
        drip_rate: 0.1,
        token_revoke_rate: 0.05,
        outage_seconds: 0,
        seed: 11,
    });
    let api = client(&run.config)?;
    let (enc, sig) = keys(&run.config)?;
    let mut errors = Vec::new();
    let pending = retry(
        || api.all_for_pickup(run.config.destination_id),
        &mut errors,
    )
    .await?;
    assert_eq!(pending.len(), 20);
    for p in &pending {
        let sub = retry(|| api.fetch_encrypted(p.submission_id), &mut errors).await?;
        let opened = submission::open(&sub, &enc)?;
        let token = accept_token(&run, p, &opened.tags, &sig)?;
        // A reset after the server took the event looks like a failure; the retry
        // then meets 409, which means: already accepted.
        match retry(|| api.post_event(p.case_id, &token), &mut errors).await {
            Ok(()) => {}
            Err(e) if e.status() == Some(409) => {}
            Err(e) => return Err(e.into()),
        }
    }
    assert!(
        errors.len() >= 5,
        "the faults did not bite: {} errors",
        errors.len()
    );
    assert!(
        errors.iter().any(|e| e.status().is_some()),
        "no HTTP error injected"
    );
    assert!(
        errors.iter().any(|e| e.status().is_none()),
        "no broken response injected"
    );
    run.sim.set_faults(portal_sim::Faults::default());
    for p in &pending {
        let accepts = verified_events(&api, &run.config, p.case_id)
            .await?
            .into_iter()
            .filter(|e| e.event == Event::AcceptSubmission)
            .count();
        assert_eq!(
            accepts, 1,
            "submission {} accepted {accepts} times",
            p.submission_id
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_window_fails_with_retry_after_and_then_recovers() -> R {
    let run = start().await?;
    seed::seed(&mut run.sim.lock(), 2, 9)?;
    let api = client(&run.config)?;
    run.sim.set_faults(portal_sim::Faults {
        outage_seconds: 1,
        ..portal_sim::Faults::default()
    });
    let err = api
        .all_for_pickup(run.config.destination_id)
        .await
        .err()
        .ok_or("no outage")?;
    assert_eq!(err.status(), Some(503));
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        api.all_for_pickup(run.config.destination_id).await?.len(),
        2
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_round_trip_and_citizen_follow_up() -> R {
    use base64::Engine;
    let run = start().await?;
    let ids = seed::seed(&mut run.sim.lock(), 1, 21)?;
    let api = client(&run.config)?;
    let (enc, _sig) = keys(&run.config)?;
    let sub = api.fetch_encrypted(ids[0]).await?;
    let case = sub.case_id;

    // The workstation answers: a PDF plus structured JSON, encrypted to the mailbox key.
    let reply_key = api
        .destination_key(
            run.config.reply_destination_id,
            &run.config.reply_encryption_kid,
        )
        .await?;
    // Senders must check the key's certificate chain before encrypting to it.
    let root = openssl::x509::X509::from_pem(run.config.trusted_root_pem.as_bytes())?;
    reply_key.verify_chain(std::slice::from_ref(&root))?;
    let pdf = portal_sim::seed::pdf(&[
        "Bescheid: bewilligt".to_owned(),
        "Gebühr: 10,00 EUR".to_owned(),
    ]);
    let attachment = PlainAttachment {
        id: Uuid::new_v4(),
        bytes: pdf.clone(),
        mime_type: "application/pdf".into(),
        purpose: "report".into(),
        filename: Some("Bescheid.pdf".into()),
    };
    let data = serde_json::json!({ "art": "bescheid", "ergebnis": "bewilligt" }).to_string();
    let sealed = submission::seal(
        Uuid::nil(),
        case,
        &reply_key,
        Some((
            data.as_bytes(),
            "application/json",
            "https://schema.amtsstube.invalid/antwort/1.0.0.json",
        )),
        std::slice::from_ref(&attachment),
        |_| {},
    )?;
    let created = api
        .send(
            &fitconnect::api::CreateSubmission {
                destination_id: run.config.reply_destination_id,
                announced_attachments: vec![attachment.id],
                service_type: fitconnect::api::ServiceType {
                    name: Some("Antwort".into()),
                    description: None,
                    identifier: "urn:de:fim:leika:leistung:99115004012000".into(),
                },
                case_id: Some(case),
            },
            &sealed,
        )
        .await?;
    assert_eq!(created.case_id, case);

    // The citizen side decrypts it; the hashes match.
    let http = reqwest::Client::new();
    let view: serde_json::Value = http
        .get(format!("{}/citizen/cases/{case}", run.config.api_url))
        .send()
        .await?
        .json()
        .await?;
    let reply = &view["replies"][0];
    assert_eq!(reply["verified"], true, "{view}");
    assert_eq!(reply["data"]["ergebnis"], "bewilligt");
    assert_eq!(
        reply["attachments"][0]["sha512"],
        submission::sha512_hex(&pdf)
    );
    assert_eq!(reply["attachments"][0]["filename"], "Bescheid.pdf");

    // The citizen sends a missing document into the same case; it arrives for pickup.
    let doc = b"%PDF-1.4 Nachweis nachgereicht".to_vec();
    let res = http
        .post(format!(
            "{}/citizen/cases/{case}/submissions",
            run.config.api_url
        ))
        .json(&serde_json::json!({
            "filename": "Meldebescheinigung.pdf",
            "mimeType": "application/pdf",
            "contentBase64": base64::engine::general_purpose::STANDARD.encode(&doc),
            "note": "Nachweis wie angefordert",
        }))
        .send()
        .await?;
    assert_eq!(res.status().as_u16(), 201);
    let pending = api.all_for_pickup(run.config.destination_id).await?;
    let follow_up = pending
        .iter()
        .find(|p| p.case_id == case && p.submission_id != ids[0])
        .ok_or("follow-up not listed")?;
    let opened = submission::open(&api.fetch_encrypted(follow_up.submission_id).await?, &enc)?;
    assert_eq!(opened.attachments[0].1, doc);
    assert_eq!(
        opened.attachments[0].0.filename.as_deref(),
        Some("Meldebescheinigung.pdf")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_event_in_the_log_is_detected() -> R {
    let run = start().await?;
    let ids = seed::seed(&mut run.sim.lock(), 1, 77)?;
    let api = client(&run.config)?;
    let case = api.submission(ids[0]).await?.case_id;
    assert_eq!(
        fitconnect::client::verify_case_events(&api, case, run.config.destination_id)
            .await?
            .len(),
        2
    );
    // Someone writes an accept into the log, signed with a key that merely claims the
    // destination's kid.
    let pki = fitconnect::keys::TestPki::new(2048)?;
    let forger = pki.issue(
        &run.config.signature_key.kid,
        fitconnect::keys::KeyUse::Signature,
        4096,
    )?;
    let forged = set::sign(
        Event::AcceptSubmission,
        serde_json::json!({}),
        &run.config.destination_id.to_string(),
        ids[0],
        case,
        0,
        &forger,
    )?;
    {
        let mut st = run.sim.lock();
        st.cases.entry(case).or_default().events.push(forged);
    }
    let err = fitconnect::client::verify_case_events(&api, case, run.config.destination_id)
        .await
        .err()
        .ok_or("forged event verified")?;
    assert!(
        matches!(
            err,
            fitconnect::client::EventLogError::Invalid(set::SetError::Signature)
        ),
        "{err:?}"
    );
    Ok(())
}
