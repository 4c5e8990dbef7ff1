//! Bookings for the town's cash system: the Annahmeanordnung is dropped into the
//! exchange folder as CSV and XML exactly once – also when the process died after
//! writing and before it recorded the delivery; a different file of the same name
//! is never overwritten; a missing share is retried without blaming the portal.

use std::path::Path;
use std::time::Duration;

use amtsstube_tests::local::{store, subscriber};
use amtsstube_tests::sim::{BoxError, client};
use domain::fees::{Annahmeanordnung, FeeLine, format_euro, kassenzeichen};
use sync::HkrItem;
use sync::core::{Backoff, ConnectivityTracker};

fn record(n: u64) -> Annahmeanordnung {
    Annahmeanordnung {
        kassenzeichen: kassenzeichen("5100", 1, n, "mod10"),
        aktenzeichen: format!("GEW-2026-01{n:05}"),
        faellig_am: "2026-12-23".into(),
        zahlungspflichtiger: "Ayşe Öztürk".into(),
        anschrift: "Hauptstraße 1, 12345 Musterstadt".into(),
        grund: "Gewerbeanzeige".into(),
        bezahlt_referenz: None,
        bezahlt_cent: None,
        positionen: vec![FeeLine {
            stelle: "GEW-01".into(),
            text: "Gewerbeanzeige".into(),
            cent: 2600,
            haushaltsstelle: "1.2.2.02".into(),
            sachkonto: "431100".into(),
        }],
        summe_cent: 2600,
    }
}

fn item(dir: &Path, n: u64) -> HkrItem {
    let r = record(n);
    HkrItem {
        dir: dir.display().to_string(),
        file_stem: format!("AO-{}", r.kassenzeichen),
        csv: r.to_csv(),
        xml: r.to_xml(),
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_files_are_dropped_exactly_once() -> Result<(), BoxError> {
    let run = amtsstube_tests::sim::start(Path::new(env!("CARGO_TARGET_TMPDIR"))).await?;
    let api = client(&run.config)?;
    let sub = subscriber(&run)?;
    let tmp = tempfile::tempdir()?;
    let kasse = tmp.path().join("kasse");
    std::fs::create_dir(&kasse)?;
    let mut session = store(&tmp.path().join("daten"))?;
    let policy = sync::PushPolicy {
        backoff: Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
        },
        max_attempts: 2,
        batch: 50,
    };
    let mut tracker = ConnectivityTracker::default();

    // 1. Plain delivery.
    let first = item(&kasse, 1);
    session.enqueue(&first.outbox_item("hkr:1", "fall-1"))?;
    sync::push(&api, &mut session, &sub, &policy, &mut tracker).await?;
    let stem = first.file_stem.clone();
    assert_eq!(
        files(&kasse),
        [format!("{stem}.csv"), format!("{stem}.xml")]
    );
    let csv = std::fs::read_to_string(kasse.join(format!("{stem}.csv")))?;
    assert!(csv.contains("26.00") && csv.contains(&record(1).kassenzeichen));
    assert_eq!(format_euro(record(1).summe_cent), "26,00 €");

    // 2. The process wrote the files and died before recording it: the retry finds
    //    them with the same content and counts the item as delivered.
    let second = item(&kasse, 2);
    second.deliver()?;
    session.enqueue(&second.outbox_item("hkr:2", "fall-2"))?;
    let r = sync::push(&api, &mut session, &sub, &policy, &mut tracker).await?;
    assert_eq!(r.delivered, 1);
    assert_eq!(files(&kasse).len(), 4, "no second copy, no temp files");

    // 3. A different file under the same name is never overwritten: the item stops
    //    for the administration.
    let third = item(&kasse, 3);
    std::fs::write(kasse.join(format!("{}.csv", third.file_stem)), "anders")?;
    session.enqueue(&third.outbox_item("hkr:3", "fall-3"))?;
    for _ in 0..3 {
        session.outbox_due_now()?;
        let _ = sync::push(&api, &mut session, &sub, &policy, &mut tracker).await;
    }
    let failed = session.outbox_items(Some("failed"))?;
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("anderem Inhalt")),
        "{:?}",
        failed[0].last_error
    );
    assert_eq!(
        std::fs::read_to_string(kasse.join(format!("{}.csv", third.file_stem)))?,
        "anders"
    );

    // 4. The share is gone: retried later, the portal is not blamed.
    let gone = tmp.path().join("nicht-da");
    session.enqueue(&item(&gone, 4).outbox_item("hkr:4", "fall-4"))?;
    let _ = sync::push(&api, &mut session, &sub, &policy, &mut tracker).await;
    let pending = session.outbox_items(Some("pending"))?;
    assert_eq!(pending.len(), 1);
    assert!(
        pending[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("Ablage nicht erreichbar"))
    );
    assert_ne!(tracker.state().label(), "offline");
    std::fs::create_dir(&gone)?;
    session.outbox_due_now()?;
    sync::push(&api, &mut session, &sub, &policy, &mut tracker).await?;
    assert_eq!(files(&gone).len(), 2);
    Ok(())
}
