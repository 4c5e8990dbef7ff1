//! The scanning desk from drop to sealed product, on the real SQLCipher store and age
//! vault: a 50-page A4 TIFF at 300 dpi (greyscale, PackBits, typed text) is
//! dropped into the hot folder, taken in (stability, structure check of every page,
//! hash, encrypted vault write), checked and sealed (Transfervermerk, ECDSA seal, new
//! case). Next to it, in the same run, `sha256sum` plus the `age` CLI on the same file:
//! the least any tool must do (hash it, encrypt it). Then OCR of the same file with
//! tesseract, and the peak memory over a batch of 500 one-page scans. Prints a table.
//! `make bench`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use amtsstube_tests::app::login;
use amtsstube_tests::bench::{env_usize, peak_mb, reset_peak, rss_mb};
use amtsstube_tests::sim::BoxError;
use domain::Role;
use workstation::{BatchRequest, ScanApproveRequest, Workstation};

const W: u32 = 2480;
// 842 pt at 300 dpi, as pdftoppm rounds it.
const H: u32 = 3509;

/// A page of typed German text at 300 dpi: a PDF with the text, rasterised by
/// `pdftoppm` to greyscale (what a scanner would see), different on every page.
fn page(n: u32) -> Result<Vec<u8>, BoxError> {
    let lines: Vec<String> = (0..42)
        .map(|l| match l {
            0 => format!("Antrag auf Erteilung einer Bescheinigung - Seite {}", n + 1),
            _ => format!(
                "Zeile {l}: Hiermit beantrage ich die Bearbeitung meines Anliegens Nr. {}.",
                n * 100 + l
            ),
        })
        .collect();
    let pdf = portal_sim::seed::pdf(&lines);
    let mut child = Command::new("pdftoppm")
        .args(["-r", "300", "-gray", "-singlefile", "fd://0"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        std::io::Write::write_all(&mut stdin, &pdf)?;
    }
    let out = child.wait_with_output()?;
    // PGM: "P5\n<w> <h>\n255\n" then the pixels.
    let mut fields = 0;
    let mut i = 0;
    while fields < 4 && i < out.stdout.len() {
        while i < out.stdout.len() && out.stdout[i].is_ascii_whitespace() {
            i += 1;
        }
        while i < out.stdout.len() && !out.stdout[i].is_ascii_whitespace() {
            i += 1;
        }
        fields += 1;
    }
    let px = out
        .stdout
        .get(i + 1..)
        .ok_or("pdftoppm lieferte kein Bild")?;
    if px.len() != (W * H) as usize {
        return Err(format!("pdftoppm: {} statt {} Bildpunkte", px.len(), W * H).into());
    }
    Ok(px.to_vec())
}

/// A multi-page TIFF written to `path`, with `tag` at its end so that every file
/// differs; the page images cycle through `raster` (rasterising is slow). Its size.
fn tiff(path: &Path, pages: u32, raster: &[Vec<u8>], tag: &str) -> Result<u64, BoxError> {
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut enc = tiff::encoder::TiffEncoder::new(&mut out)?
            .with_compression(tiff::encoder::Compression::Packbits);
        for n in 0..pages as usize {
            let px = raster.get(n % raster.len().max(1)).ok_or("keine Seiten")?;
            enc.write_image::<tiff::encoder::colortype::Gray8>(W, H, px)?;
        }
    }
    let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
    std::io::Write::write_all(&mut f, tag.as_bytes())?;
    Ok(std::fs::metadata(path)?.len())
}

/// Move prepared files into the hot folder, as a scanner's share would get them.
fn drop_in(files: &[std::path::PathBuf], inbox: &Path) -> Result<(), BoxError> {
    for f in files {
        std::fs::rename(f, inbox.join(f.file_name().ok_or("Name")?))?;
    }
    Ok(())
}

fn batch(pages: u32) -> BatchRequest {
    BatchRequest {
        class: "antrag".into(),
        r#box: "Karton B".into(),
        expected_pages: pages,
        flags: vec![],
    }
}

/// Take in everything in `inbox`, then QA and seal every product; the time of each.
fn intake_and_seal(
    ws: &mut Workstation,
    inbox: &Path,
) -> Result<(Duration, Duration, usize), BoxError> {
    login(ws, "scan1")?;
    let start = Instant::now();
    let taken = ws.scan_intake(inbox, Duration::ZERO, Duration::from_secs(600))?;
    let intake = start.elapsed();
    let queue = ws.scan_queue()?;
    ws.logout();
    login(ws, "scan2")?;
    let start = Instant::now();
    for q in &queue {
        ws.scan_approve(&ScanApproveRequest {
            product_id: q.id.clone(),
            case_type_code: "GEW".into(),
            applicant: "Bench Mark".into(),
            note: None,
            checklist: ["vollstaendig", "reihenfolge", "lesbar", "ausrichtung"]
                .map(str::to_owned)
                .to_vec(),
        })?;
    }
    let seal = start.elapsed();
    ws.logout();
    Ok((intake, seal, taken.len()))
}

fn run(cmd: &str, args: &[&str]) -> Result<Duration, BoxError> {
    let start = Instant::now();
    let out = Command::new(cmd).args(args).output()?;
    if !out.status.success() {
        return Err(format!("{cmd}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(start.elapsed())
}

fn main() -> Result<(), BoxError> {
    // OCR is measured on its own below, not inside drop-to-seal.
    if std::env::var("AMTSSTUBE_OCR").is_err() {
        return Err("Bitte mit AMTSSTUBE_OCR=aus starten (make bench tut das).".into());
    }
    let pages = env_usize("BENCH_SCAN_PAGES", 50) as u32;
    let batch_pages = env_usize("BENCH_SCAN_BATCH", 500) as u32;
    let tmp = tempfile::tempdir()?;
    let inbox = tmp.path().join("scanner");
    std::fs::create_dir(&inbox)?;
    let mut ws = amtsstube_tests::local::workstation(
        &tmp.path().join("daten"),
        None,
        &[("scan1", Role::Scanstelle), ("scan2", Role::Scanstelle)],
    )?;
    // Everything the runs drop is prepared on disk first, so that the bench's own data
    // do not count in the memory figures.
    let staging = tmp.path().join("vorbereitet");
    std::fs::create_dir(&staging)?;
    let raster: Vec<Vec<u8>> = (0..pages.min(25)).map(page).collect::<Result<_, _>>()?;
    let mut rounds = Vec::new();
    let mut size = 0;
    for round in 0..3 {
        let f = staging.join(format!("stapel-{round}.tif"));
        size = tiff(&f, pages, &raster, &format!("runde {round}"))?;
        rounds.push(f);
    }
    let size_mb = size as f64 / 1e6;
    let copy = tmp.path().join("vergleich.tif");
    std::fs::copy(&rounds[0], &copy)?;
    let ocr_pages = (env_usize("BENCH_SCAN_OCR_PAGES", 5) as u32).min(pages);
    let sample = tmp.path().join("ocr.tif");
    tiff(&sample, ocr_pages, &raster, "")?;
    let mut sheets = Vec::new();
    for i in 0..batch_pages {
        let f = staging.join(format!("blatt-{i:04}.tif"));
        tiff(&f, 1, &raster, &format!("blatt {i}"))?;
        sheets.push(f);
    }
    let big_pages = env_usize("BENCH_SCAN_BIG", 500) as u32;
    let big = staging.join("ein-stapel.tif");
    let big_mb = tiff(&big, big_pages, &raster, "")? as f64 / 1e6;
    // The same size once more with other bytes (the intake refuses a duplicate).
    let big_again = staging.join("noch-ein-stapel.tif");
    tiff(&big_again, big_pages, &raster, "hintergrund")?;
    drop(raster);

    // 1. Drop to sealed product, three runs; the median.
    let base = rss_mb();
    reset_peak()?;
    let mut ours = Vec::new();
    let mut split = Vec::new();
    for f in &rounds {
        login(&mut ws, "scan1")?;
        ws.scan_batch_create(&batch(pages))?;
        ws.logout();
        let start = Instant::now();
        drop_in(std::slice::from_ref(f), &inbox)?;
        let (intake, seal, n) = intake_and_seal(&mut ws, &inbox)?;
        assert_eq!(n, 1);
        ours.push(start.elapsed());
        split.push((intake, seal));
    }
    let peak_50 = peak_mb();
    ours.sort();
    let median = ours[1];

    // 2. The same file: sha256sum, then age to a recipient (what encryption alone costs).
    let key = tmp.path().join("key.txt");
    run("age-keygen", &["-o", key.to_str().ok_or("Pfad")?])?;
    let recipient = std::fs::read_to_string(&key)?
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .ok_or("kein öffentlicher Schlüssel")?;
    let p = copy.to_str().ok_or("Pfad")?;
    let out = tmp.path().join("vergleich.age");
    let mut cli = Vec::new();
    for _ in 0..3 {
        let a = run("sha256sum", &[p])?;
        let b = run(
            "age",
            &["-r", &recipient, "-o", out.to_str().ok_or("Pfad")?, p],
        )?;
        cli.push(a + b);
    }
    cli.sort();
    let cli_median = cli[1];

    // 2b. "Trennblätter suchen" over the same pages: Kodak patch codes only, the
    //     barcode only, and both (the default). The pages carry writing, no sheet.
    let search = |kinds: &scan::separator::Separators| -> Result<Duration, BoxError> {
        let file = std::io::BufReader::new(std::fs::File::open(&copy)?);
        let start = Instant::now();
        let found = scan::separator::in_tiff(file, kinds)?;
        let took = start.elapsed();
        if !found.is_empty() {
            return Err(format!("Trennblätter in Schriftseiten gefunden: {found:?}").into());
        }
        Ok(took)
    };
    let patch_only = search(&scan::separator::Separators {
        marker: String::new(),
        patches: vec![scan::patchcode::Patch::T],
    })?;
    let barcode_only = search(&scan::separator::Separators::barcode("PATCHT"))?;
    let both = search(&scan::separator::Separators {
        marker: "PATCHT".into(),
        patches: vec![scan::patchcode::Patch::T],
    })?;

    // 3. OCR with tesseract on a sample of the pages (what the background worker adds).
    let ocr = match scan::ocr::Ocr::detect() {
        Ok(o) => {
            let bytes = std::fs::read(&sample)?;
            let start = Instant::now();
            let text = o.recognise(&bytes, scan::Format::Tiff, ocr_pages)?;
            Some((start.elapsed(), text.len()))
        }
        Err(_) => None,
    };

    // 4. A batch of 500 one-page scans: peak memory must not grow with the batch.
    login(&mut ws, "scan1")?;
    ws.scan_batch_create(&batch(batch_pages))?;
    ws.logout();
    let base_batch = rss_mb();
    reset_peak()?;
    let start = Instant::now();
    drop_in(&sheets, &inbox)?;
    let (_, _, n) = intake_and_seal(&mut ws, &inbox)?;
    let batch_time = start.elapsed();
    assert_eq!(n, batch_pages as usize);
    let peak_batch = peak_mb();

    // 5. The same number of pages as one file (a scanner that writes the whole batch
    //    into one TIFF): the intake holds a file whole, so this is what grows.
    login(&mut ws, "scan1")?;
    ws.scan_batch_create(&batch(big_pages))?;
    ws.logout();
    let base_big = rss_mb();
    reset_peak()?;
    let start = Instant::now();
    drop_in(std::slice::from_ref(&big), &inbox)?;
    let (_, _, n) = intake_and_seal(&mut ws, &inbox)?;
    let big_time = start.elapsed();
    assert_eq!(n, 1);
    let peak_big = peak_mb();

    // 6. The same big file taken in by the app's background intake (hot-folder
    //    worker) while the window asks for its list every 20 ms: the longest wait.
    login(&mut ws, "scan1")?;
    ws.scan_batch_create(&batch(big_pages))?;
    ws.scan_set_folder(&inbox)?;
    let shared: workstation::background::Shared =
        std::sync::Arc::new(std::sync::Mutex::new(Some(ws)));
    let ((), window_longest, window_calls) = amtsstube_tests::bench::window_waits(&shared, || {
        let worker =
            workstation::workers::IntakeWorker::start(shared.clone(), Duration::from_millis(200));
        let _ = drop_in(std::slice::from_ref(&big_again), &inbox);
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            let queued = shared
                .lock()
                .ok()
                .and_then(|g| g.as_ref().and_then(|ws| ws.scan_queue().ok()))
                .map_or(0, |q| q.len());
            if queued > 0 {
                break;
            }
        }
        worker.stop();
    });
    let in_queue = shared
        .lock()
        .map_err(|_| "lock")?
        .as_ref()
        .ok_or("gone")?
        .scan_queue()?
        .len();
    assert_eq!(in_queue, 1, "the background intake took the file");

    let per_s = |d: Duration, p: u32| f64::from(p) / d.as_secs_f64();
    println!(
        "| scanning desk ({pages}-page TIFF, 300 dpi A4 greyscale, {size_mb:.1} MB) | value |"
    );
    println!("|---|---|");
    println!(
        "| drop → sealed product, median of 3 | {:.2} s ({:.1} pages/s) |",
        median.as_secs_f64(),
        per_s(median, pages)
    );
    println!(
        "| of which intake (structure check, hash, vault) / QA, Transfervermerk, seal, case | {:.2} s / {:.2} s |",
        split[1].0.as_secs_f64(),
        split[1].1.as_secs_f64()
    );
    println!(
        "| `sha256sum` + `age -r` on the same file, median of 3 | {:.2} s ({:.1} pages/s) |",
        cli_median.as_secs_f64(),
        per_s(cli_median, pages)
    );
    println!(
        "| overhead ratio (ours / sha256sum + age) | {:.2} |",
        median.as_secs_f64() / cli_median.as_secs_f64()
    );
    let per_page = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(pages.max(1));
    println!(
        "| separator search (\"Trennblätter suchen\"), ms per page: patch code / barcode / both | {:.0} / {:.0} / {:.0} |",
        per_page(patch_only),
        per_page(barcode_only),
        per_page(both)
    );
    match ocr {
        Some((d, chars)) => println!(
            "| OCR with tesseract (deu), the first {ocr_pages} pages | {:.1} s per page ({chars} characters) |",
            d.as_secs_f64() / f64::from(ocr_pages.max(1))
        ),
        None => println!("| OCR with tesseract | not installed |"),
    }
    println!(
        "| batch of {batch_pages} one-page scans, drop → {batch_pages} sealed cases | {:.1} s ({:.1} pages/s) |",
        batch_time.as_secs_f64(),
        per_s(batch_time, batch_pages)
    );
    println!(
        "| peak memory over the {pages}-page runs (resident before → peak) | {base:.0} MB → {peak_50:.0} MB |"
    );
    println!(
        "| peak memory over the {batch_pages} one-page scans (resident before → peak) | {base_batch:.0} MB → {peak_batch:.0} MB |"
    );
    println!(
        "| one {big_pages}-page TIFF ({big_mb:.0} MB), drop → sealed; memory (before → peak) | {:.1} s; {base_big:.0} MB → {peak_big:.0} MB |",
        big_time.as_secs_f64()
    );
    println!(
        "| the same file taken in by the background intake: longest wait of a window command (every 20 ms) | {:.0} ms over {window_calls} calls |",
        window_longest.as_secs_f64() * 1000.0
    );
    Ok(())
}
