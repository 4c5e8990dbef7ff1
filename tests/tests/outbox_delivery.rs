//! The outbox after an outage: 500 replies and 500 fee bookings queued while the
//! portal cannot be reached are all delivered exactly once, in per-case order, when
//! the network returns – through the real simulator (with errors and lost answers
//! still going on) into the citizen's mailbox and the portal's payment service.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use amtsstube_tests::local::{reopen, store, subscriber};
use amtsstube_tests::sim::{BoxError, client};
use fitconnect::client::{ClientConfig, V1Client};
use portal_sim::Faults;
use portal_sim::citizen::CitizenCase;
use portal_sim::payment::PaymentRecord;
use portal_sim::seed;
use portal_sim::state::SubmissionState;
use sync::core::{Backoff, ConnectivityTracker};
use sync::{PaymentItem, PushPolicy};
use uuid::Uuid;

const ITEMS: usize = 1_000;

fn policy() -> PushPolicy {
    PushPolicy {
        backoff: Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(10),
        },
        max_attempts: 50,
        batch: 200,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_replies_and_bookings_after_an_outage() -> Result<(), BoxError> {
    let run = amtsstube_tests::sim::start(Path::new(env!("CARGO_TARGET_TMPDIR"))).await?;
    seed::seed(&mut run.sim.lock(), 25, 11)?;
    let api = client(&run.config)?;
    let sub = subscriber(&run)?;
    let tmp = tempfile::tempdir()?;
    let mut session = store(&tmp.path().join("daten"))?;
    let mut tracker = ConnectivityTracker::default();
    sync::pull(&api, &mut session, &sub, &mut tracker).await?;
    sync::push(&api, &mut session, &sub, &policy(), &mut tracker).await?;
    let cases: Vec<Uuid> = {
        let st = run.sim.lock();
        let mut c: Vec<Uuid> = st.cases.keys().copied().collect();
        c.sort();
        c
    };
    assert_eq!(cases.len(), 25);

    // Offline: the clerks go on working and queue answers.
    let payment_url = format!(
        "{}/payment/v1/paymenttransaction/amtsstube/gebuehren",
        run.config.api_url
    );
    let mut expected: HashMap<Uuid, Vec<String>> = HashMap::new();
    for n in 0..ITEMS {
        let case = cases[n % cases.len()];
        let item = if n % 2 == 0 {
            let blob = session.put_blob(format!("%PDF-1.7 Bescheid {n}").as_bytes())?;
            amtsstube_tests::local::reply(
                case,
                run.config.reply_destination_id,
                n,
                blob.id.as_str(),
            )
            .outbox_item(&format!("reply:{n}"))
        } else {
            PaymentItem {
                url: payment_url.clone(),
                request_id: format!("amtsstube-{n}"),
                kassenzeichen: format!("5.0100.{n:06}"),
                amount_cents: 1_000 + n as i64,
                due_date: "2026-12-23".into(),
                description: format!("Gebühr zu Vorgang {n}"),
            }
            .outbox_item(&format!("payment:{n}"), &case.to_string())
        };
        assert!(session.enqueue(&item)?);
        expected
            .entry(case)
            .or_default()
            .push(item.idempotency_key.clone());
    }
    let dead = V1Client::new(ClientConfig {
        token_url: "http://127.0.0.1:9/token".into(),
        api_url: "http://127.0.0.1:9".into(),
        client_id: run.config.client_id.clone(),
        client_secret: run.config.client_secret.clone(),
        timeout: Duration::from_secs(2),
    })?;
    assert!(
        sync::push(&dead, &mut session, &sub, &policy(), &mut tracker)
            .await
            .is_err()
    );
    assert_eq!(tracker.state().label(), "offline");
    assert_eq!(session.outbox_counts()?.pending, ITEMS as u64);

    // The network returns, still flaky: errors and answers lost after the portal acted.
    run.sim.set_faults(Faults {
        error_rate: 0.1,
        reset_rate: 0.05,
        seed: 4,
        ..Faults::default()
    });
    // The service asks for `Retry-After: 1` with its 503s: the runs must wait for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let mut rounds = 0;
    while session.outbox_counts()?.pending > 0 {
        rounds += 1;
        assert!(
            std::time::Instant::now() < deadline,
            "outbox does not drain"
        );
        if rounds % 25 == 0 {
            session = reopen(session)?;
        }
        let r = sync::push(&api, &mut session, &sub, &policy(), &mut tracker).await;
        if std::env::var("DEBUG_OUTBOX").is_ok() {
            eprintln!("{rounds}: {r:?} {:?}", session.outbox_counts()?);
            for i in session.outbox_items(Some("pending"))?.iter().take(3) {
                eprintln!(
                    "  {} {} {:?} {:?} {:?} now {}",
                    i.idempotency_key,
                    i.attempts,
                    i.remote_id,
                    i.last_error,
                    i.next_attempt_at,
                    jiff::Timestamp::now()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run.sim.set_faults(Faults::default());
    assert_eq!(session.outbox_counts()?.failed, 0);

    // Replies: once each, in order, decrypted and verified on the citizen's side.
    let http = reqwest::Client::new();
    let mut replies_seen = 0;
    for case in &cases {
        let view: CitizenCase = http
            .get(format!("{}/citizen/cases/{case}", run.config.api_url))
            .send()
            .await?
            .json()
            .await?;
        let got: Vec<String> = view
            .replies
            .iter()
            .filter(|r| r.state != SubmissionState::Incomplete)
            .map(|r| {
                assert!(r.verified, "{:?}", r.problems);
                let n = r.data.as_ref().and_then(|d| d["nummer"].as_u64());
                format!("reply:{}", n.unwrap_or(u64::MAX))
            })
            .collect();
        let want: Vec<String> = expected[case]
            .iter()
            .filter(|k| k.starts_with("reply:"))
            .cloned()
            .collect();
        assert_eq!(got, want, "replies of case {case}");
        replies_seen += got.len();
    }
    assert_eq!(replies_seen, ITEMS / 2);

    // Bookings: one transaction each, in per-case order of first arrival.
    let payments: Vec<PaymentRecord> = http
        .get(format!("{}/citizen/payments", run.config.api_url))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(payments.len(), ITEMS / 2);
    let case_of: HashMap<String, Uuid> = expected
        .iter()
        .flat_map(|(c, keys)| keys.iter().map(move |k| (k.clone(), *c)))
        .collect();
    let mut per_case: HashMap<Uuid, Vec<String>> = HashMap::new();
    for p in &payments {
        let n: i64 = p.request_id.trim_start_matches("amtsstube-").parse()?;
        assert_eq!(p.amount_cents, 1_000 + n);
        let key = format!("payment:{n}");
        per_case.entry(case_of[&key]).or_default().push(key);
    }
    for case in &cases {
        let want: Vec<String> = expected[case]
            .iter()
            .filter(|k| k.starts_with("payment:"))
            .cloned()
            .collect();
        assert_eq!(per_case[case], want, "bookings of case {case}");
    }
    Ok(())
}
