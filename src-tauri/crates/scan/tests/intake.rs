//! Hot-folder intake with scans generated here: a file written slowly in chunks is
//! taken once, complete; empty, truncated, encrypted and JBIG2 PDFs land in fehler/
//! with a clear reason; hostile names are handled safely; the same file twice is a
//! duplicate; a 50-page TIFF keeps its page order; the watcher notices new files; a
//! check that panics, hangs or ended the program costs that file only, once.

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
        ..Config::default()
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
    // Names Windows reserves or changes (a device, a trailing dot or space, a colon):
    // the files are checked like any other, and in fehler/ they get names that a
    // Windows PC reading the same share takes as ordinary files.
    const RESERVED: [&str; 6] = [
        "CON.pdf",
        "nul",
        "COM1.tif",
        "Scan.pdf.",
        "Scan 2.pdf ",
        "a:b.pdf",
    ];
    for name in RESERVED {
        std::fs::write(dir.join(name), b"%PDF-1.7 kaputt")?;
    }
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
        9,
        "{failed:?}"
    );
    for reserved in RESERVED {
        assert!(
            !failed.iter().any(|n| n.starts_with(reserved)),
            "{failed:?}"
        );
    }
    assert!(
        failed
            .iter()
            .all(|n| !n.ends_with(['.', ' ']) && !n.contains(':')),
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

fn panicking(_: &Path) -> Result<scan::Inspection, Reject> {
    panic!("Prüfprogramm kaputt");
}

fn hanging(_: &Path) -> Result<scan::Inspection, Reject> {
    std::thread::sleep(Duration::from_secs(5));
    Err(Reject::Empty)
}

/// A parser that panics or hangs on a file refuses that file for good (with the
/// reason in `fehler/`), and the next file is taken as usual.
#[test]
fn a_check_that_panics_or_hangs_costs_only_that_file() -> R {
    for (inspector, expected) in [
        (panicking as scan::Inspector, "abgebrochen"),
        (hanging as scan::Inspector, "dauerte länger als 1 s"),
    ] {
        let tmp = tempfile::tempdir()?;
        let mut hot = HotFolder::new(
            tmp.path(),
            Config {
                inspector,
                inspect_timeout: Duration::from_millis(300),
                ..config()
            },
        )?;
        std::fs::write(tmp.path().join("bombe.tif"), tiff(1)?)?;
        let mut store = Vec::new();
        let mut hashes = HashSet::new();
        let out = drain(&mut hot, &mut store, &mut hashes)?;
        assert!(store.is_empty());
        let failed: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                Outcome::Failed { name, reason } => Some((name.as_str(), reason.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(failed.len(), 1, "{out:?}");
        assert_eq!(failed[0].0, "bombe.tif");
        assert!(failed[0].1.contains(expected), "{}", failed[0].1);
        assert!(reason(tmp.path(), "bombe.tif")?.contains(expected));
        assert!(!tmp.path().join("bombe.tif").exists(), "not read again");
        assert!(!tmp.path().join(".in-pruefung").exists(), "no marker left");
        // Refused once for good, not retried.
        assert!(
            !out.iter().any(|o| matches!(o, Outcome::Retrying { .. })),
            "{out:?}"
        );
        // The folder goes on working with the real check.
        let mut hot = HotFolder::new(tmp.path(), config())?;
        std::fs::write(tmp.path().join("gut.pdf"), pdf(2, false))?;
        drain(&mut hot, &mut store, &mut hashes)?;
        assert_eq!(store.len(), 1);
    }
    Ok(())
}

/// The program ended while a file was being checked (crash, memory exhausted): at
/// the next start that file goes to `fehler/` instead of being read again, and the
/// first pass reports it. Names that are not plain text are matched exactly.
#[test]
fn a_file_whose_check_ended_the_program_is_not_read_again() -> R {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    std::fs::write(dir.join("absturz.pdf"), pdf(1, false))?;
    std::fs::write(dir.join("absturz.pdf.kopie.pdf"), pdf(3, false))?;
    // What the check writes before it begins, left behind by the ended program.
    std::fs::write(dir.join(".in-pruefung"), hex::encode("absturz.pdf"))?;
    let mut hot = HotFolder::new(dir, config())?;
    assert!(!dir.join("absturz.pdf").exists());
    assert!(reason(dir, "absturz.pdf")?.contains("nicht noch einmal gelesen"));
    assert!(!dir.join(".in-pruefung").exists());
    let mut store = Vec::new();
    let mut hashes = HashSet::new();
    let out = drain(&mut hot, &mut store, &mut hashes)?;
    assert!(
        out.iter()
            .any(|o| matches!(o, Outcome::Failed { name, .. } if name == "absturz.pdf")),
        "{out:?}"
    );
    // The other file is taken as usual.
    assert_eq!(store.len(), 1);
    assert_eq!(store[0].0, "absturz.pdf.kopie.pdf");
    // A marker naming a file that is gone is simply removed.
    std::fs::write(dir.join(".in-pruefung"), hex::encode("weg.pdf"))?;
    HotFolder::new(dir, config())?;
    assert!(!dir.join(".in-pruefung").exists());
    Ok(())
}

/// Checking and storing are two steps, so a caller can check without its lock;
/// a file changed between them is not stored.
#[test]
fn prepare_checks_and_commit_stores() -> R {
    let tmp = tempfile::tempdir()?;
    let mut hot = HotFolder::new(tmp.path(), config())?;
    std::fs::write(tmp.path().join("a.pdf"), pdf(2, false))?;
    std::fs::write(tmp.path().join("b.pdf"), pdf(1, false))?;
    let until = Instant::now() + Duration::from_secs(10);
    let mut prepared = Vec::new();
    while prepared.len() < 2 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
        prepared.extend(hot.prepare(None)?.0);
    }
    assert_eq!(prepared.len(), 2);
    prepared.sort_by(|x, y| x.name.cmp(&y.name));
    // b.pdf grows after its check.
    std::fs::OpenOptions::new()
        .append(true)
        .open(tmp.path().join("b.pdf"))?
        .write_all(b"% angehaengt\n")?;
    let mut stored = Vec::new();
    let mut sink = |a: &scan::Arrival<'_>| {
        stored.push(a.name.clone());
        Ok(Taken::Stored)
    };
    let mut outcomes = Vec::new();
    for p in prepared {
        outcomes.push(hot.commit(p, &mut sink)?);
    }
    assert!(matches!(&outcomes[0], Outcome::Stored { name, pages: 2 } if name == "a.pdf"));
    assert!(
        matches!(&outcomes[1], Outcome::Retrying { name, reason } if name == "b.pdf" && reason.contains("geändert")),
        "{outcomes:?}"
    );
    assert_eq!(stored, ["a.pdf"]);
    assert!(tmp.path().join("b.pdf").exists(), "kept for the next pass");
    Ok(())
}

/// A few bytes of CCITT G4 TIFF that claim a page of `w` × `h` pixels.
fn tiff_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(b"II");
    t.extend_from_slice(&42u16.to_le_bytes());
    t.extend_from_slice(&8u32.to_le_bytes());
    let entries: [(u16, u16, u32); 8] = [
        (256, 4, w),
        (257, 4, h),
        (258, 3, 1),
        (259, 3, 4),
        (262, 3, 0),
        (273, 4, 110),
        (278, 4, h),
        (279, 4, 16),
    ];
    t.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&1u32.to_le_bytes());
        if kind == 3 {
            t.extend_from_slice(&(value as u16).to_le_bytes());
            t.extend_from_slice(&[0, 0]);
        } else {
            t.extend_from_slice(&value.to_le_bytes());
        }
    }
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&[0u8; 16]);
    t
}

/// Hostile TIFFs of a few bytes that claim gigapixel pages (100,000 × 100,000, or
/// 1 × 268,000,000) are refused by the intake with a reason, and the preview and
/// the separator search refuse to decode them (time and memory per hostile file:
/// `hostile_bench`).
#[test]
fn pages_no_scanner_makes_are_refused_before_decoding() -> R {
    for (w, h, expected) in [
        (100_000, 100_000, "höchstens 150 Millionen"),
        (1, 268_000_000, "höchstens 150 Millionen"),
        (200, 100_000, "Seitenverhältnis"),
    ] {
        let bytes = tiff_claiming(w, h);
        assert!(bytes.len() < 200);
        match scan::inspect(&bytes) {
            Err(Reject::TooLarge(why)) => assert!(why.contains(expected), "{why}"),
            other => panic!("{w} × {h}: {other:?}"),
        }
        let preview = scan::preview::tiff_page_png(&bytes, 1)
            .err()
            .ok_or("a preview of a gigapixel page")?;
        assert!(preview.to_string().contains("Bildpunkte"), "{preview}");
        let separators = scan::separator::in_tiff(
            std::io::Cursor::new(&bytes),
            &scan::separator::Separators::barcode("TRENNBLATT"),
        )
        .err()
        .ok_or("a separator search over a gigapixel page")?;
        assert!(
            separators.to_string().contains("Bildpunkte"),
            "{separators}"
        );
    }
    // In the hot folder: to fehler/ with the reason, at once (no retries).
    let tmp = tempfile::tempdir()?;
    let mut hot = HotFolder::new(tmp.path(), config())?;
    std::fs::write(
        tmp.path().join("riesig.tif"),
        tiff_claiming(100_000, 100_000),
    )?;
    let (mut store, mut hashes) = (Vec::new(), HashSet::new());
    drain(&mut hot, &mut store, &mut hashes)?;
    assert!(store.is_empty());
    assert!(reason(tmp.path(), "riesig.tif")?.contains("kein Scan einer Seite"));
    // An ordinary page still passes.
    assert!(scan::inspect(&tiff(2)?).is_ok());
    Ok(())
}

/// A PDF whose object stream inflates beyond the bound (64 MB) is loaded without
/// inflating it: the objects inside are left out, an ordinary object stream is read.
#[test]
fn a_pdf_object_stream_bomb_is_not_inflated() -> R {
    fn with_object_stream(inflated: usize) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let mut content = b"4 0 ".to_vec();
        content.resize(inflated, b' ');
        content.extend_from_slice(b"<< /Bombe true >>");
        let mut stream = lopdf::Stream::new(lopdf::Dictionary::new(), content);
        stream.compress()?;
        let mut out = b"%PDF-1.5\n".to_vec();
        let mut offsets = Vec::new();
        let mut objects: Vec<Vec<u8>> = vec![
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".to_vec(),
        ];
        let mut obj = format!(
            "<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {} >>\nstream\n",
            stream.content.len()
        )
        .into_bytes();
        obj.extend_from_slice(&stream.content);
        obj.extend_from_slice(b"\nendstream");
        objects.push(obj);
        for (i, body) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        out.extend_from_slice(b"xref\n0 5\n0000000000 65535 f \n");
        for o in offsets {
            out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!("trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
        );
        Ok(out)
    }
    let small = scan::inspect::load_pdf(&with_object_stream(1000)?)?;
    assert!(
        small.objects.contains_key(&(4, 0)),
        "an ordinary object stream is read"
    );
    let bomb = with_object_stream(scan::inspect::MAX_PDF_STREAM_BYTES + 1024 * 1024)?;
    assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
    let loaded = scan::inspect::load_pdf(&bomb)?;
    assert!(
        !loaded.objects.contains_key(&(4, 0)),
        "the bomb was inflated"
    );
    assert!(matches!(scan::inspect(&bomb), Ok(i) if i.pages == 1));
    Ok(())
}
