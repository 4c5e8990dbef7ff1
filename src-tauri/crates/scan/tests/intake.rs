//! Hot-folder intake with scans generated here: a file written slowly in chunks is
//! taken once, complete; empty, truncated, encrypted and JBIG2 PDFs land in fehler/
//! with a clear reason; hostile names are handled safely; the same file twice is a
//! duplicate; a 50-page TIFF keeps its page order; the watcher notices new files.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use scan::{Config, Format, HotFolder, Outcome, Reject, Taken};

mod common;
use common::{jpeg, pdf, tiff};

type R = Result<(), Box<dyn std::error::Error>>;

fn config() -> Config {
    Config {
        stable_for: Duration::from_millis(400),
        max_attempts: 2,
        retry_after: Duration::from_millis(100),
        max_bytes: 50 * 1024 * 1024,
    }
}

/// Run passes until nothing waits (or the time is up), collecting outcomes.
fn drain(
    hot: &mut HotFolder,
    store: &mut Vec<(String, Vec<u8>, u32)>,
    hashes: &mut HashSet<String>,
) -> Result<Vec<Outcome>, Box<dyn std::error::Error>> {
    let mut all = Vec::new();
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let out = hot.scan(|a| {
            if !hashes.insert(a.sha256.clone()) {
                return Ok(Taken::Duplicate(a.sha256[..12].to_owned()));
            }
            let bytes = std::fs::read(a.path).map_err(|e| e.to_string())?;
            store.push((a.name.clone(), bytes, a.inspection.pages));
            Ok(Taken::Stored)
        })?;
        all.extend(out);
        if hot.waiting() == 0 || Instant::now() > until {
            return Ok(all);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn reason(dir: &Path, file: &str) -> Result<String, Box<dyn std::error::Error>> {
    Ok(std::fs::read_to_string(
        dir.join("fehler").join(format!("{file}.grund.txt")),
    )?)
}

#[test]
fn a_file_written_slowly_is_taken_once_and_complete() -> R {
    let tmp = tempfile::tempdir()?;
    let mut hot = HotFolder::new(tmp.path(), config())?;
    let content = tiff(20)?;
    let path = tmp.path().join("stapel-0815.tif");
    let writer = {
        let content = content.clone();
        std::thread::spawn(move || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&path)?;
            // Over about three seconds, with pauses shorter than the stability delay.
            for chunk in content.chunks(content.len() / 12 + 1) {
                f.write_all(chunk)?;
                f.flush()?;
                std::thread::sleep(Duration::from_millis(250));
            }
            Ok(())
        })
    };
    let (mut store, mut hashes) = (Vec::new(), HashSet::new());
    let mut outcomes = Vec::new();
    let started = Instant::now();
    while store.is_empty() && started.elapsed() < Duration::from_secs(15) {
        outcomes.extend(hot.scan(|a| {
            let bytes = std::fs::read(a.path).map_err(|e| e.to_string())?;
            store.push((a.name.clone(), bytes, a.inspection.pages));
            hashes.insert(a.sha256.clone());
            Ok(Taken::Stored)
        })?);
        std::thread::sleep(Duration::from_millis(50));
    }
    writer.join().map_err(|_| "writer")??;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "taken before the writer finished"
    );
    assert_eq!(store.len(), 1, "{outcomes:?}");
    assert_eq!(store[0].1, content, "complete");
    assert_eq!(store[0].2, 20);
    assert!(
        !tmp.path().join("stapel-0815.tif").exists(),
        "left the share after storing"
    );
    // Nothing more to take.
    assert!(hot.scan(|_| Err("nichts erwartet".into()))?.is_empty());
    Ok(())
}

#[test]
fn bad_files_land_in_fehler_with_a_reason() -> R {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let mut hot = HotFolder::new(dir, config())?;
    let good = pdf(2, false);
    std::fs::write(dir.join("leer.pdf"), b"")?;
    std::fs::write(dir.join("abgeschnitten.pdf"), &good[..good.len() / 2])?;
    let mut encrypted = good.clone();
    let at = encrypted.len() - 6;
    encrypted.splice(at..at, b"trailer\n<< /Encrypt 99 0 R >>\n".iter().copied());
    std::fs::write(dir.join("verschluesselt.pdf"), &encrypted)?;
    std::fs::write(dir.join("jbig2.pdf"), pdf(1, true))?;
    std::fs::write(dir.join("text.txt"), b"kein Scan")?;
    std::fs::write(dir.join("gut.pdf"), &good)?;
    // Ignored: temporary and hidden files.
    std::fs::write(dir.join(".versteckt.pdf"), &good)?;
    std::fs::write(dir.join("scan.pdf.part"), &good)?;
    let (mut store, mut hashes) = (Vec::new(), HashSet::new());
    drain(&mut hot, &mut store, &mut hashes)?;
    assert_eq!(
        store.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        ["gut.pdf"]
    );
    assert!(reason(dir, "leer.pdf")?.contains("leer"));
    assert!(reason(dir, "abgeschnitten.pdf")?.contains("unvollständig"));
    assert!(reason(dir, "verschluesselt.pdf")?.contains("verschlüsselt"));
    assert!(reason(dir, "jbig2.pdf")?.contains("JBIG2"));
    assert!(reason(dir, "text.txt")?.contains("Dateiformat"));
    assert!(dir.join(".versteckt.pdf").exists() && dir.join("scan.pdf.part").exists());
    for f in [
        "leer.pdf",
        "abgeschnitten.pdf",
        "verschluesselt.pdf",
        "jbig2.pdf",
        "text.txt",
    ] {
        assert!(!dir.join(f).exists(), "{f} still in the share");
        assert!(dir.join("fehler").join(f).exists(), "{f} not in fehler/");
    }
    Ok(())
}

#[test]
fn hostile_names_and_duplicates() -> R {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let mut hot = HotFolder::new(dir, config())?;
    let long = format!("{}.pdf", "ä".repeat(120)); // 240 bytes + suffix
    std::fs::write(dir.join(&long), b"%PDF-1.7 kaputt")?;
    let not_utf8 = std::ffi::OsStr::from_bytes(b"scan-\xff\xfe.pdf");
    std::fs::write(dir.join(not_utf8), b"%PDF-1.7 kaputt auch")?;
    // "../../x.pdf" cannot be a file name (a listing never yields a path); its
    // look-alike with backslashes can. A leading dot would make it a hidden file.
    std::fs::write(dir.join("a\\..\\..\\x.jpg"), jpeg())?;
    std::fs::write(dir.join("a.jpg"), jpeg())?;
    let (mut store, mut hashes) = (Vec::new(), HashSet::new());
    let outcomes = drain(&mut hot, &mut store, &mut hashes)?;
    // The two JPEGs have the same content: one stored, one reported as a duplicate.
    assert_eq!(store.len(), 1);
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Failed { reason, .. } if reason.contains("Doppelt"))),
        "{outcomes:?}"
    );
    // Everything else is in fehler/, nothing outside the hot folder.
    let failed: Vec<String> = std::fs::read_dir(dir.join("fehler"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        failed.iter().filter(|n| !n.ends_with(".grund.txt")).count(),
        3,
        "{failed:?}"
    );
    // Every name fits the file system; the over-long one got a shortened, hashed name.
    assert!(failed.iter().all(|n| n.len() < 255), "{failed:?}");
    assert!(!failed.contains(&long));
    assert!(!dir.parent().ok_or("parent")?.join("x.pdf").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "fehler")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    Ok(())
}

#[test]
fn a_fifty_page_tiff_keeps_its_page_order() -> R {
    let tmp = tempfile::tempdir()?;
    let mut hot = HotFolder::new(tmp.path(), config())?;
    std::fs::write(tmp.path().join("akte.tiff"), tiff(50)?)?;
    let (mut store, mut hashes) = (Vec::new(), HashSet::new());
    drain(&mut hot, &mut store, &mut hashes)?;
    assert_eq!(store.len(), 1);
    assert_eq!(store[0].2, 50);
    let mut dec = tiff::decoder::Decoder::new(std::io::Cursor::new(&store[0].1))?;
    for i in 0..50u8 {
        match dec.read_image()? {
            tiff::decoder::DecodingResult::U8(px) => {
                assert!(px.iter().all(|p| *p == i), "page {i}")
            }
            _ => return Err("unexpected pixel type".into()),
        }
        if i < 49 {
            dec.next_image()?;
        }
    }
    assert_eq!(scan::inspect(&store[0].1)?.format, Format::Tiff);
    Ok(())
}

#[test]
fn a_sink_failure_is_retried_then_reported() -> R {
    let tmp = tempfile::tempdir()?;
    let mut hot = HotFolder::new(tmp.path(), config())?;
    std::fs::write(tmp.path().join("scan.jpg"), jpeg())?;
    std::thread::sleep(Duration::from_millis(450));
    let mut outcomes = Vec::new();
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && !outcomes.iter().any(|o| matches!(o, Outcome::Failed { .. })) {
        outcomes.extend(hot.scan(|_| Err("Tresor nicht erreichbar".into()))?);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        matches!(&outcomes[0], Outcome::Retrying { reason, .. } if reason.contains("Tresor")),
        "{outcomes:?}"
    );
    assert!(outcomes.iter().any(|o| matches!(o, Outcome::Failed { .. })));
    assert!(reason(tmp.path(), "scan.jpg")?.contains("Tresor nicht erreichbar"));
    assert_eq!(scan::inspect(b""), Err(Reject::Empty));
    Ok(())
}

#[test]
fn the_watcher_notices_a_new_file() -> R {
    let tmp = tempfile::tempdir()?;
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let _watcher = scan::watch(tmp.path(), Some(Duration::from_secs(3600)), move || {
        counter.fetch_add(1, Ordering::SeqCst);
    })?;
    std::fs::write(tmp.path().join("neu.pdf"), pdf(1, false))?;
    let until = Instant::now() + Duration::from_secs(10);
    while hits.load(Ordering::SeqCst) == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(hits.load(Ordering::SeqCst) > 0, "no event");
    Ok(())
}

/// A pass with a time budget takes at least one file and leaves the other stable files
/// for the next pass (the app's background intake lets other work in between); none is
/// lost or taken twice, and a pass without budget takes all at once.
#[test]
fn a_pass_with_a_time_budget_leaves_the_rest_for_the_next() -> R {
    let tmp = tempfile::tempdir()?;
    let mut hot = HotFolder::new(tmp.path(), config())?;
    for i in 0..4 {
        std::fs::write(tmp.path().join(format!("scan-{i}.jpg")), jpeg())?;
    }
    // Seen once, stable after the configured delay.
    assert!(hot.scan(|_| Err("noch nicht stabil".into()))?.is_empty());
    std::thread::sleep(Duration::from_millis(500));
    let mut taken = Vec::new();
    let mut passes = 0;
    while taken.len() < 4 && passes < 10 {
        let out = hot.scan_within(Some(Duration::ZERO), |a| {
            taken.push(a.name.clone());
            Ok(Taken::Stored)
        })?;
        passes += 1;
        assert_eq!(out.len(), 1, "one file per pass: {out:?}");
        assert_eq!(hot.ready_left(), 4 - taken.len(), "the rest waits, stable");
    }
    taken.sort();
    assert_eq!(
        taken,
        ["scan-0.jpg", "scan-1.jpg", "scan-2.jpg", "scan-3.jpg"]
    );
    assert_eq!(hot.ready_left(), 0);
    // Without a budget: all in one pass.
    for i in 0..3 {
        std::fs::write(tmp.path().join(format!("neu-{i}.jpg")), jpeg())?;
    }
    assert!(hot.scan(|_| Err("noch nicht stabil".into()))?.is_empty());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(hot.scan(|_| Ok(Taken::Stored))?.len(), 3);
    Ok(())
}
