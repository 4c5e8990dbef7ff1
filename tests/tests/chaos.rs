//! Chaos with real processes: the real `amtsstube` binary synchronises against the
//! real portal simulator (on loopback) while the simulator injects 30 % errors and
//! connection resets plus outage windows, and the process is killed with SIGKILL at
//! random moments. Between rounds citizens file new applications and clerks queue
//! replies and fee bookings. Afterwards the network calms down and the final state is
//! checked: every application once locally and accepted once, every reply and booking
//! exactly once at the portal, the audit chain intact, no document missing.
//!
//! `CHAOS_ROUNDS` sets the number of rounds (default 50; `make chaos` runs more),
//! `CHAOS_SEED` the seed.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use amtsstube_tests::sim::BoxError;
use domain::{Role, UserName};
use portal_sim::Faults;
use portal_sim::citizen::CitizenCase;
use portal_sim::payment::PaymentRecord;
use portal_sim::state::SubmissionState;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use store::{SecretString, Store, SubmissionState as Local};
use sync::PaymentItem;
use uuid::Uuid;

const USER: &str = "sb1";
const PASSWORD: &str = "sb1-passwort-1";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sync_process(bin: &Path, data: &Path) -> Result<std::process::Child, BoxError> {
    let mut child = Command::new(bin)
        .arg("--data-dir")
        .arg(data)
        .args(["sync", "--as", USER])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "{PASSWORD}")?;
    }
    Ok(child)
}

fn session(data: &Path) -> Result<store::Session, BoxError> {
    Ok(Store::open(data, store::Clock::system())?.unlock(
        &UserName::parse(USER)?,
        &SecretString::from(PASSWORD.to_owned()),
    )?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_minus_nine_during_sync_loses_and_doubles_nothing() -> Result<(), BoxError> {
    let rounds = env_u64("CHAOS_ROUNDS", 50);
    let seed = env_u64("CHAOS_SEED", 2026);
    let mut rng = SmallRng::seed_from_u64(seed);
    let bin = amtsstube_tests::app::amtsstube_bin()?;
    let run = amtsstube_tests::sim::start(Path::new(env!("CARGO_TARGET_TMPDIR"))).await?;
    portal_sim::seed::seed(&mut run.sim.lock(), 20, seed)?;

    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("daten");
    amtsstube_tests::local::workstation(&data, Some(&run), &[(USER, Role::Sachbearbeitung)])?;
    let payment_url = format!(
        "{}/payment/v1/paymenttransaction/amtsstube/gebuehren",
        run.config.api_url
    );
    let mut queued: Vec<String> = Vec::new();
    let mut kills = 0;
    let started = Instant::now();
    for round in 0..rounds {
        // The outside world moves on.
        if rng.random_bool(0.4) {
            portal_sim::seed::seed(
                &mut run.sim.lock(),
                rng.random_range(1..5),
                seed * 1_000 + round,
            )?;
        }
        for _ in 0..rng.random_range(0..4) {
            let cases: Vec<Uuid> = run.sim.lock().cases.keys().copied().collect();
            let case = cases[rng.random_range(0..cases.len())];
            let mut s = session(&data)?;
            let n = queued.len();
            let item = if rng.random_bool(0.5) {
                let blob = s.put_blob(format!("%PDF-1.7 Bescheid {n}").as_bytes())?;
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
                    request_id: format!("chaos-{n}"),
                    kassenzeichen: format!("5.0100.{n:06}"),
                    amount_cents: 2_500,
                    due_date: "2026-12-23".into(),
                    description: "Gebühr".into(),
                }
                .outbox_item(&format!("payment:{n}"), &case.to_string())
            };
            s.enqueue(&item)?;
            queued.push(item.idempotency_key);
        }
        // The network misbehaves: 30 % errors and resets, slow answers, sometimes a
        // short outage.
        run.sim.set_faults(Faults {
            error_rate: 0.2,
            reset_rate: 0.1,
            latency_ms: rng.random_range(0..30),
            outage_seconds: if rng.random_bool(0.1) { 1 } else { 0 },
            seed: seed + round,
            ..Faults::default()
        });
        let mut child = sync_process(&bin, &data)?;
        let deadline = Instant::now() + Duration::from_millis(rng.random_range(5..600));
        loop {
            if child.try_wait()?.is_some() {
                break;
            }
            if Instant::now() >= deadline {
                child.kill()?; // SIGKILL
                child.wait()?;
                kills += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    println!(
        "{rounds} Runden, {kills} Prozesse mit SIGKILL beendet, {:?}",
        started.elapsed()
    );
    assert!(
        kills >= rounds / 5,
        "too few kills ({kills}) to mean anything"
    );

    // Calm: the remaining work goes through.
    run.sim.set_faults(Faults::default());
    let mut converged = false;
    for _ in 0..20 {
        let status = sync_process(&bin, &data)?.wait()?;
        assert!(status.success(), "sync failed without faults: {status}");
        let s = session(&data)?;
        let waiting = run.sim.lock().submissions.values().any(|x| {
            x.destination_id == run.config.destination_id && x.state == SubmissionState::Submitted
        });
        if s.outbox_counts()?.pending == 0 && !waiting {
            converged = true;
            break;
        }
    }
    if !converged {
        let s = session(&data)?;
        for i in s.outbox_items(None)?.iter().filter(|i| i.state != "done") {
            eprintln!(
                "{} {} Versuche {} nächster {:?}: {:?}",
                i.idempotency_key, i.state, i.attempts, i.next_attempt_at, i.last_error
            );
        }
    }
    assert!(converged, "no convergence after the chaos");

    // Check the final state.
    let s = session(&data)?;
    assert_eq!(s.vault_check().missing, 0);
    assert!(s.verify_audit()?.is_intact());
    {
        let local: HashMap<String, Local> = s.submissions()?.into_iter().collect();
        let st = run.sim.lock();
        let mine: Vec<_> = st
            .submissions
            .values()
            .filter(|x| x.destination_id == run.config.destination_id)
            .collect();
        assert_eq!(local.len(), mine.len(), "submissions doubled or lost");
        for x in &mine {
            assert_eq!(x.state, SubmissionState::Accepted, "{}", x.submission_id);
            assert_eq!(
                local.get(&x.submission_id.to_string()),
                Some(&Local::Accepted)
            );
        }
        let mut cases: Vec<Uuid> = mine.iter().map(|x| x.case_id).collect();
        cases.sort();
        cases.dedup();
        assert_eq!(
            s.count_cases()?,
            cases.len() as u64,
            "cases doubled or lost"
        );
        let items = s.outbox_items(None)?;
        assert!(items.iter().all(|i| i.state == "done"));
    }

    let http = reqwest::Client::new();
    let all_cases: Vec<Uuid> = run.sim.lock().cases.keys().copied().collect();
    let mut replies: HashMap<String, u32> = HashMap::new();
    for case in all_cases {
        let view: CitizenCase = http
            .get(format!("{}/citizen/cases/{case}", run.config.api_url))
            .send()
            .await?
            .json()
            .await?;
        for r in view
            .replies
            .iter()
            .filter(|r| r.state != SubmissionState::Incomplete)
        {
            assert!(r.verified, "{:?}", r.problems);
            let n = r
                .data
                .as_ref()
                .and_then(|d| d["nummer"].as_u64())
                .ok_or("reply without number")?;
            *replies.entry(format!("reply:{n}")).or_default() += 1;
        }
    }
    let payments: Vec<PaymentRecord> = http
        .get(format!("{}/citizen/payments", run.config.api_url))
        .send()
        .await?
        .json()
        .await?;
    for key in &queued {
        if let Some(n) = key.strip_prefix("payment:") {
            let id = format!("chaos-{n}");
            assert_eq!(
                payments.iter().filter(|p| p.request_id == id).count(),
                1,
                "{key}"
            );
        } else {
            assert_eq!(replies.get(key), Some(&1), "{key}");
        }
    }
    assert_eq!(
        replies.len() + payments.len(),
        queued.len(),
        "something arrived that was not queued"
    );
    Ok(())
}
