//! The Windows build of the `amtsstube` CLI (cross-built for `x86_64-pc-windows-gnu`)
//! run under Wine: set-up, users, a wrong password, the portal connection, a
//! synchronisation against the simulator on loopback with answers and payment
//! requests delivered, the scanner's hot folder with names Windows reserves, a
//! process ended with `taskkill /F` (TerminateProcess) while it writes, and the
//! installer (silent switches, uninstall with and without the data) – each checked
//! from this side as well: the store the Windows program wrote is opened by the Linux
//! library (one format on both), and no file of it holds personal data in plain text.
//!
//! The app's window needs WebView2, which Wine does not provide; everything below the
//! window is the same code as here. Case work the CLI has no command for (deciding a
//! case) is done through the Linux library on the same data folder, as the window
//! would do it on the Windows PC.
//!
//! `make test` builds the Windows CLI (`make build-windows`) and runs this file with
//! `--ignored`; a plain `cargo test --workspace` skips it. The exe is
//! `$AMTSSTUBE_WINDOWS_EXE`, else `target/x86_64-pc-windows-gnu/debug/amtsstube.exe`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use amtsstube_tests::app::{decide, login};
use amtsstube_tests::delivery::check_delivered;
use amtsstube_tests::sim::BoxError;
use domain::lifecycle::CaseState;
use workstation::{WorkListQuery, Workstation};

type R = Result<(), BoxError>;

#[path = "../hostile.rs"]
mod hostile;

/// What one run of the Windows program printed and how it ended.
struct Out {
    ok: bool,
    text: String,
}

/// The Windows program next to its helper DLL, and the Wine prefix it runs in.
struct Wine {
    exe: PathBuf,
    prefix: PathBuf,
}

fn target_dir() -> Result<PathBuf, BoxError> {
    // target/debug/deps/windows-<hash>
    let exe = std::env::current_exe()?;
    Ok(exe
        .ancestors()
        .nth(3)
        .ok_or("kein target-Verzeichnis")?
        .to_path_buf())
}

fn wine() -> Result<&'static Wine, BoxError> {
    static WINE: OnceLock<Result<Wine, String>> = OnceLock::new();
    WINE.get_or_init(|| set_up().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| e.clone().into())
}

/// Copy the cross-built exe next to the ProcessPrng shim (built here with mingw-w64)
/// and make the Wine prefix once.
fn set_up() -> Result<Wine, BoxError> {
    let target = target_dir()?;
    let built = std::env::var_os("AMTSSTUBE_WINDOWS_EXE")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("x86_64-pc-windows-gnu/debug/amtsstube.exe"));
    if !built.is_file() {
        return Err(format!(
            "{} fehlt: erst `make build-windows` (Windows-Build des CLI)",
            built.display()
        )
        .into());
    }
    let root = target.join("wine");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin)?;
    let exe = bin.join("amtsstube.exe");
    std::fs::copy(&built, &exe)?;
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("windows");
    let status = Command::new("x86_64-w64-mingw32-gcc")
        .args(["-O2", "-shared", "-o"])
        .arg(bin.join("bcryptprimitives.dll"))
        .arg(shim.join("processprng.c"))
        .arg(shim.join("processprng.def"))
        .arg("-ladvapi32")
        .status()
        .map_err(|e| format!("x86_64-w64-mingw32-gcc nicht aufrufbar ({e}): installer/deps.sh"))?;
    if !status.success() {
        return Err("ProcessPrng-Shim ließ sich nicht bauen".into());
    }
    // What a virus scanner does to a file for a moment (tests/windows/holdfile.c).
    let status = Command::new("x86_64-w64-mingw32-gcc")
        .args(["-O2", "-municode", "-o"])
        .arg(bin.join("holdfile.exe"))
        .arg(shim.join("holdfile.c"))
        .status()?;
    if !status.success() {
        return Err("holdfile.exe ließ sich nicht bauen".into());
    }
    let prefix = root.join("prefix");
    let wine = Wine { exe, prefix };
    let mut boot = wine.command("wineboot");
    boot.arg("--init");
    let out = wait(boot, "", Duration::from_secs(300))?;
    if !wine.prefix.join("system.reg").exists() {
        return Err(format!("Wine-Umgebung nicht eingerichtet: {}", out.text).into());
    }
    Ok(wine)
}

impl Wine {
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env_remove("DISPLAY")
            .env_remove("AMTSSTUBE_DATA_DIR")
            .env_remove("AMTSSTUBE_KONFIG_DIR");
        c
    }

    /// `amtsstube.exe --data-dir <data> <args>` with `stdin` as its input.
    fn run(&self, data: &Path, args: &[&str], stdin: &str) -> Result<Out, BoxError> {
        let mut c = self.command("wine");
        c.arg(&self.exe).arg("--data-dir").arg(win(data)).args(args);
        wait(c, stdin, Duration::from_secs(300))
    }

    /// The same, started and left running (for the kill test).
    fn spawn(&self, data: &Path, args: &[&str]) -> Result<std::process::Child, BoxError> {
        let mut c = self.command("wine");
        c.arg(&self.exe)
            .arg("--data-dir")
            .arg(win(data))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Ok(c.spawn()?)
    }
}

/// A Linux path as the Windows program sees it (Wine's drive Z: is `/`).
fn win(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

/// Run to the end (at most `limit`), with both outputs collected.
fn wait(mut c: Command, stdin: &str, limit: Duration) -> Result<Out, BoxError> {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes())?;
    }
    let mut readers = Vec::new();
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        readers.push(std::thread::spawn(move || {
            let mut pipe = pipe;
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        }));
    }
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            return Err(format!("{c:?}: nach {limit:?} nicht beendet").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    for r in readers {
        text.push_str(&r.join().map_err(|_| "Ausgabe nicht lesbar")?);
    }
    Ok(Out {
        ok: status.success(),
        text,
    })
}

fn must(out: Out) -> Result<String, BoxError> {
    if out.ok {
        Ok(out.text)
    } else {
        Err(format!("amtsstube.exe scheiterte: {}", out.text).into())
    }
}

/// No file under `dir` holds any of `secrets` in plain text.
fn nothing_in_plain_text(dir: &Path, secrets: &[&str]) {
    amtsstube_tests::walk(dir, &mut |path, bytes| {
        for s in secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{s:?} im Klartext in {}",
                path.display()
            );
        }
    });
}

/// `init` with the admin, then the users (password `<name>-passwort-1`).
fn set_up_store(w: &Wine, data: &Path, users: &[(&str, &str)]) -> Result<String, BoxError> {
    let out = must(w.run(
        data,
        &["init", "--scrypt-log-n", "10"],
        "admin-passwort-1\n",
    )?)?;
    for (name, role) in users {
        must(w.run(
            data,
            &["user", "add", name, "--role", role],
            &format!("admin-passwort-1\n{name}-passwort-1\n"),
        )?)?;
    }
    Ok(out)
}

/// The recovery key `init` printed once.
fn recovery_key(init_output: &str) -> Result<String, BoxError> {
    Ok(init_output
        .split_whitespace()
        .find(|t| t.starts_with("AGE-SECRET-KEY-1"))
        .ok_or("kein Wiederherstellungsschlüssel ausgegeben")?
        .to_owned())
}

#[test]
#[ignore = "Windows-Build unter Wine: make test-windows"]
fn windows_cli_sets_up_the_store_and_refuses_a_wrong_password() -> R {
    let w = wine()?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("daten");
    let recovery = recovery_key(&set_up_store(w, &data, &[])?)?;
    must(w.run(
        &data,
        &[
            "user",
            "add",
            "sb1",
            "--role",
            "sachbearbeitung",
            "--display-name",
            "Samira Beispielfrau",
        ],
        "admin-passwort-1\nsb1-passwort-1\n",
    )?)?;
    // A second set-up in the same folder is refused.
    let again = w.run(&data, &["init"], "admin-passwort-1\n")?;
    assert!(
        !again.ok && again.text.contains("bereits einen Datenbestand"),
        "{}",
        again.text
    );
    // Wrong password: the German reason, a failed exit.
    let wrong = w.run(&data, &["status", "--as", "sb1"], "falsch\n")?;
    assert!(!wrong.ok, "{}", wrong.text);
    assert!(wrong.text.contains("Passwort ist falsch"), "{}", wrong.text);
    let right = must(w.run(&data, &["status", "--as", "sb1"], "sb1-passwort-1\n")?)?;
    assert!(right.contains("entsperrt"), "{right}");
    let audit = must(w.run(&data, &["audit", "verify"], "admin-passwort-1\n")?)?;
    assert!(audit.contains("unversehrt"), "{audit}");
    // Settings written by replace (the step that failed on Windows with "Access
    // denied" when the folder was fsynced as a file): set twice, read back.
    must(w.run(&data, &["sperre", "600"], "admin-passwort-1\n")?)?;
    must(w.run(&data, &["sperre", "900"], "admin-passwort-1\n")?)?;

    // What the Windows program wrote opens here as well.
    let mut ws = Workstation::open(&data)?;
    login(&mut ws, "sb1")?;
    ws.logout();
    drop(ws);
    nothing_in_plain_text(
        &data,
        &[
            &recovery,
            "admin-passwort-1",
            "sb1-passwort-1",
            "Samira Beispielfrau",
        ],
    );

    // A data folder deeper than Windows' 260 characters: the database through
    // SQLite's long-path VFS, replaces in their verbatim form. (Wine does not
    // enforce the limit, so this shows that those paths work, not that the short
    // ones would fail on Windows.)
    let mut deep = tmp.path().join("lang");
    while win(&deep).len() < 300 {
        deep = deep.join("Fachbereich Bürgerdienste und Ordnung");
    }
    set_up_store(w, &deep, &[("sb1", "sachbearbeitung")])?;
    assert!(win(&deep.join("keys")).len() > 260);
    must(w.run(&deep, &["sperre", "600"], "admin-passwort-1\n")?)?;
    let right = must(w.run(&deep, &["status", "--as", "sb1"], "sb1-passwort-1\n")?)?;
    assert!(right.contains("entsperrt"), "{right}");
    let mut ws = Workstation::open(&deep)?;
    login(&mut ws, "sb1")?;
    Ok(())
}

/// The Windows app (`amtsstube-app.exe`, built by `make build-windows`) next to the
/// `WebView2Loader.dll` its build produced and the ProcessPrng shim, as the
/// installer lays them out.
fn app(w: &Wine) -> Result<PathBuf, BoxError> {
    let built = std::env::var_os("AMTSSTUBE_WINDOWS_APP")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            target_dir()
                .unwrap_or_default()
                .join("x86_64-pc-windows-gnu/debug/amtsstube-app.exe")
        });
    let loader = built.with_file_name("WebView2Loader.dll");
    for file in [&built, &loader] {
        if !file.is_file() {
            return Err(format!(
                "{} fehlt: erst `make build-windows` (Windows-Build der App)",
                file.display()
            )
            .into());
        }
    }
    let exe = w.exe.with_file_name("amtsstube-app.exe");
    std::fs::copy(&built, &exe)?;
    std::fs::copy(&loader, w.exe.with_file_name("WebView2Loader.dll"))?;
    Ok(exe)
}

#[test]
#[ignore = "Windows-Build unter Wine: make test-windows"]
fn windows_app_without_webview2_tells_the_clerk_in_german_and_ends() -> R {
    let w = wine()?;
    let exe = app(w)?;
    let tmp = tempfile::tempdir()?;
    let mut c = w.command("wine");
    c.arg(&exe)
        .env("AMTSSTUBE_DATA_DIR", win(&tmp.path().join("daten")));
    // Wine has no WebView2: the app must say so (on stderr here, in a message box
    // that Wine without a display closes at once) instead of "failed to create
    // window" in a console a release build does not have.
    let out = wait(c, "", Duration::from_secs(120))?;
    assert!(!out.ok, "{}", out.text);
    assert!(
        out.text.contains("Microsoft Edge WebView2") && out.text.contains("IT-Betreuung"),
        "{}",
        out.text
    );
    assert!(
        !out.text.contains("failed to create window"),
        "{}",
        out.text
    );
    Ok(())
}

/// `%PROGRAMDATA%\Amtsstube` of the Wine prefix, emptied again when dropped (the
/// prefix is shared by the tests).
struct SharedConfig {
    dir: PathBuf,
}

impl SharedConfig {
    fn new(w: &Wine) -> Result<SharedConfig, BoxError> {
        let dir = w.prefix.join("drive_c/ProgramData/Amtsstube");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(SharedConfig { dir })
    }
}

impl Drop for SharedConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
#[ignore = "Windows-Build unter Wine: make test-windows"]
fn windows_cli_syncs_and_delivers_answers_and_payment_requests() -> R {
    let w = wine()?;
    let rt = tokio::runtime::Runtime::new()?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    portal_sim::seed::seed(&mut run.sim.lock(), 6, 4242)?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("daten");
    let hkr = tmp.path().join("kasse");
    std::fs::create_dir(&hkr)?;
    let settings = tmp.path().join("portal.json");
    std::fs::write(&settings, serde_json::to_vec(&run.config)?)?;
    set_up_store(w, &data, &[("sb1", "sachbearbeitung")])?;
    must(w.run(
        &data,
        &["portal", "configure", "--file", &win(&settings)],
        "admin-passwort-1\n",
    )?)?;
    must(w.run(
        &data,
        &["kasse", "ordner", &win(&hkr)],
        "admin-passwort-1\n",
    )?)?;
    let synced = must(w.run(&data, &["sync", "--as", "sb1"], "sb1-passwort-1\n")?)?;

    // The six applications arrived; three are decided (the window's work).
    let mut ws = Workstation::open(&data)?;
    login(&mut ws, "sb1")?;
    let list = ws.work_list(WorkListQuery {
        limit: 50,
        ..WorkListQuery::default()
    })?;
    assert_eq!(list.items.len(), 6, "{synced}");
    let mut decided = Vec::new();
    let mut names = Vec::new();
    for c in list.items.iter().take(3) {
        decide(&mut ws, &c.id)?;
        decided.push((c.id.clone(), c.file_number.clone()));
    }
    for c in &list.items {
        names.push(ws.case_detail(&c.id)?.applicant.clone());
    }
    ws.logout();
    drop(ws);

    // The town's letterhead from the PC's shared folder (%PROGRAMDATA%\Amtsstube),
    // as the data centre distributes it for every user: the preview carries it.
    let shared = SharedConfig::new(w)?;
    let town = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/config/gemeinde.toml"),
    )?;
    std::fs::write(
        shared.dir.join("gemeinde.toml"),
        town.replace("Gemeinde Musterstadt", "Gemeinde Weinbergtal"),
    )?;
    let preview = tmp.path().join("vorschau.pdf");
    must(w.run(
        &data,
        &[
            "brief",
            &decided[0].1,
            "--art",
            "bescheid",
            "--vorschau",
            &win(&preview),
            "--as",
            "sb1",
        ],
        "sb1-passwort-1\n",
    )?)?;
    let text = Command::new("pdftotext").arg(&preview).arg("-").output()?;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Gemeinde Weinbergtal"), "{text}");
    drop(shared);

    // The Windows program writes the Bescheide and delivers them.
    for (_, file_number) in &decided {
        must(w.run(
            &data,
            &[
                "brief",
                file_number,
                "--art",
                "bescheid",
                "--kanal",
                "postfach",
                "--as",
                "sb1",
            ],
            "sb1-passwort-1\n",
        )?)?;
    }
    must(w.run(&data, &["sync", "--as", "sb1"], "sb1-passwort-1\n")?)?;

    let mut ws = Workstation::open(&data)?;
    login(&mut ws, "sb1")?;
    rt.block_on(check_delivered(&mut ws, &run, &hkr, &decided, &[]))?;
    for (id, _) in &decided {
        assert_eq!(ws.case_detail(id)?.state, CaseState::Versandt);
    }
    ws.logout();
    drop(ws);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert!(names.iter().all(|n| n.len() > 3), "{names:?}");
    nothing_in_plain_text(&data, &names);
    Ok(())
}

/// A scan as the scanner writes it (a JPEG whose comment names the applicant).
fn jpeg(marker: &str) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xFE, 0x00, (marker.len() + 2) as u8];
    v.extend_from_slice(marker.as_bytes());
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

#[test]
#[ignore = "Windows-Build unter Wine: make test-windows"]
fn windows_hot_folder_takes_files_named_like_devices_and_parks_broken_ones() -> R {
    let w = wine()?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("daten");
    let inbox = tmp.path().join("eingang");
    std::fs::create_dir(&inbox)?;
    set_up_store(w, &data, &[("scan1", "scanstelle")])?;
    must(w.run(
        &data,
        &[
            "scan", "stapel", "--klasse", "gewerbe", "--karton", "K-1", "--seiten", "2", "--as",
            "scan1",
        ],
        "scan1-passwort-1\n",
    )?)?;
    // Names a Linux scanner or share may write and Windows reserves: devices (with
    // and without an extension), a trailing dot, a trailing space. Read through a
    // plain Windows path, `CON.jpg` is the console and `Scan.pdf.` is `Scan.pdf`.
    std::fs::write(inbox.join("CON.jpg"), jpeg("Gewerbe Nowak"))?;
    std::fs::write(inbox.join("com1.jpg"), jpeg("Gewerbe Yildirim"))?;
    // (Broken content that is not a PDF begun: a PDF without its end may still be
    // written and is waited for.)
    std::fs::write(inbox.join("NUL.pdf"), b"kein PDF")?;
    std::fs::write(inbox.join("Scan.pdf."), b"kein PDF auch")?;
    std::fs::write(inbox.join("Scan 2.pdf "), b"und noch eins")?;
    // Hostile files (the corpus of `hostile_bench`): a page of 100,000 × 100,000
    // pixels in a few bytes, under a device name – refused; an object stream
    // inflating to 256 MB and an array nested 100,000 deep beside a valid empty page
    // – read within the bounds (64 MB inflated, nesting cut), taken as one page each
    // for the QA desk to look at.
    std::fs::write(
        inbox.join("COM2.tif"),
        hostile::tiff_claiming(100_000, 100_000),
    )?;
    std::fs::write(
        inbox.join("bombe.pdf"),
        hostile::pdf_object_stream_bomb(256 << 20),
    )?;
    std::fs::write(inbox.join("tief.pdf"), hostile::pdf_nested(100_000))?;
    let start = Instant::now();
    let out = must(w.run(
        &data,
        &[
            "scan",
            "einlesen",
            "--ordner",
            &win(&inbox),
            "--stabil",
            "1",
            "--warten",
            "30",
            "--as",
            "scan1",
        ],
        "scan1-passwort-1\n",
    )?)?;
    assert!(out.contains("8 Datei(en) bearbeitet"), "{out}");
    // Refused within bounded time (the check's own limits, not its time-out).
    assert!(start.elapsed() < Duration::from_secs(90), "{out}");
    // The scans are in the QA queue, the broken files in fehler/ under names
    // Windows takes as files, each with its reason; nothing else is left.
    let mut ws = Workstation::open(&data)?;
    login(&mut ws, "scan1")?;
    assert_eq!(ws.scan_queue()?.len(), 4, "{out}");
    ws.logout();
    drop(ws);
    let left: Vec<String> = std::fs::read_dir(&inbox)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["fehler"], "{out}");
    let failed: Vec<String> = std::fs::read_dir(inbox.join("fehler"))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(failed.len(), 8, "{failed:?}");
    assert_eq!(
        failed.iter().filter(|n| n.ends_with(".grund.txt")).count(),
        4,
        "{failed:?}"
    );
    for name in &failed {
        let stem = name.split('.').next().unwrap_or(name).to_uppercase();
        assert!(
            !name.ends_with(['.', ' ']) && !["CON", "NUL", "COM1", "COM2"].contains(&stem.as_str()),
            "{failed:?}"
        );
    }
    nothing_in_plain_text(&data, &["Gewerbe Nowak", "Gewerbe Yildirim"]);
    Ok(())
}

#[test]
#[ignore = "Windows-Build unter Wine: make test-windows"]
fn windows_sync_ended_by_taskkill_loses_and_doubles_nothing_and_the_backup_restores() -> R {
    let w = wine()?;
    let rt = tokio::runtime::Runtime::new()?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    let count = 24;
    portal_sim::seed::seed(&mut run.sim.lock(), count, 99)?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("daten");
    let settings = tmp.path().join("portal.json");
    std::fs::write(&settings, serde_json::to_vec(&run.config)?)?;
    let recovery = recovery_key(&set_up_store(w, &data, &[("sb1", "sachbearbeitung")])?)?;
    must(w.run(
        &data,
        &["portal", "configure", "--file", &win(&settings)],
        "admin-passwort-1\n",
    )?)?;
    // Syncs ended by TerminateProcess (`taskkill /F`, what Windows does at a power
    // cut of the process) after a growing pause, so that the cuts fall at different
    // steps: fetching, decrypting, writing attachments into the vault, confirming.
    let mut kills = 0;
    let mut missed = Vec::new();
    let mut pause = 300u64;
    for _ in 0..8 {
        let mut child = w.spawn(&data, &["sync", "--as", "sb1"])?;
        if let Some(mut input) = child.stdin.take() {
            input.write_all(b"sb1-passwort-1\n")?;
        }
        std::thread::sleep(Duration::from_millis(pause));
        pause += 450;
        let mut finished = child.try_wait()?.is_some();
        // Counted only when taskkill found the process. Wine may not have started
        // the Windows process yet (then taskkill is tried again) or the sync may just
        // have ended (then this round is the last).
        while !finished {
            let mut kill = w.command("wine");
            kill.args(["taskkill", "/F", "/IM", "amtsstube.exe"]);
            let out = wait(kill, "", Duration::from_secs(60))?;
            if out.ok {
                kills += 1;
                break;
            }
            missed.push(format!("nach {} ms: {}", pause - 450, out.text.trim()));
            std::thread::sleep(Duration::from_millis(50));
            finished = child.try_wait()?.is_some();
        }
        let start = Instant::now();
        while child.try_wait()?.is_none() {
            assert!(start.elapsed() < Duration::from_secs(60), "not ended");
            std::thread::sleep(Duration::from_millis(20));
        }
        if finished {
            break;
        }
    }
    assert!(kills > 0, "no sync was cut: {missed:?}");
    // Then runs to the end: every application once, each document readable and
    // matching its recorded hash.
    must(w.run(&data, &["sync", "--as", "sb1"], "sb1-passwort-1\n")?)?;
    let names = every_case_once_and_readable(&data, count)?;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    nothing_in_plain_text(&data, &names);

    // A backup made by the Windows program, restored by it into an empty folder with
    // the recovery key: the same cases, every document readable.
    let backups = tmp.path().join("sicherung");
    std::fs::create_dir(&backups)?;
    must(w.run(
        &data,
        &["sicherung", "erstellen", "--ziel", &win(&backups)],
        "admin-passwort-1\n",
    )?)?;
    let archive = std::fs::read_dir(&backups)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".sicherung.age"))
        .ok_or("keine Sicherung geschrieben")?;
    let restored = tmp.path().join("neuer-pc");
    must(w.run(
        &restored,
        &["wiederherstellen", &win(&archive)],
        &format!("{recovery}\n"),
    )?)?;
    every_case_once_and_readable(&restored, count)?;
    nothing_in_plain_text(&backups, &names);
    Ok(())
}

/// The store in `data` holds `count` cases, each once (by portal id), each document
/// readable and equal to its recorded hash; returns the applicants' names.
fn every_case_once_and_readable(data: &Path, count: usize) -> Result<Vec<String>, BoxError> {
    let mut ws = Workstation::open(data)?;
    login(&mut ws, "sb1")?;
    let list = ws.work_list(WorkListQuery {
        limit: 100,
        ..WorkListQuery::default()
    })?;
    assert_eq!(list.items.len(), count);
    let mut portal_ids = std::collections::HashSet::new();
    let mut names = Vec::new();
    for c in &list.items {
        let detail = ws.case_detail(&c.id)?;
        assert!(
            portal_ids.insert(detail.portal_case_id.clone()),
            "a case twice"
        );
        for d in &detail.documents {
            ws.document(&c.id, &d.id)?;
        }
        names.push(detail.applicant.clone());
    }
    ws.logout();
    Ok(names)
}

/// `reg query` of one value in the Wine prefix: its data, if it is set.
fn reg_value(w: &Wine, key: &str, value: &str) -> Result<Option<String>, BoxError> {
    let mut q = w.command("wine");
    q.args(["reg", "query", key, "/v", value]);
    let out = wait(q, "", Duration::from_secs(60))?;
    Ok(out
        .text
        .lines()
        .find(|l| l.trim_start().starts_with(value))
        .and_then(|l| l.split_whitespace().last())
        .map(str::to_owned))
}

/// Wait until `path` is gone (the uninstaller copies itself away and returns early).
fn gone(path: &Path) -> Result<(), BoxError> {
    let start = Instant::now();
    while path.exists() {
        if start.elapsed() > Duration::from_secs(120) {
            return Err(format!("{} nicht entfernt", path.display()).into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[test]
#[ignore = "Windows-Build unter Wine: make test-windows"]
fn windows_installer_installs_silently_and_keeps_the_data_unless_asked() -> R {
    const ENV_KEY: &str = r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Environment";
    const UNINSTALL_KEY: &str =
        r"HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\Amtsstube";
    let w = wine()?;
    let tmp = tempfile::tempdir()?;
    // The installer of the CLI alone (the app's window needs WebView2), zlib instead
    // of LZMA: the same script `make package-windows` runs for the release.
    let stage = tmp.path().join("quelle");
    std::fs::create_dir(&stage)?;
    std::fs::copy(&w.exe, stage.join("amtsstube.exe"))?;
    let out =
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../installer/package-windows.sh"))
            .arg(&stage)
            .arg(tmp.path().join("paket"))
            .env("NO_APP", "1")
            .env("FAST", "1")
            .output()?;
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let setup = PathBuf::from(printed.lines().last().ok_or("kein Installationsprogramm")?);
    assert!(setup.is_file(), "{printed}");

    let programm = tmp.path().join("programm");
    let daten = tmp.path().join("gemeinsam");
    let menu = w
        .prefix
        .join("drive_c/ProgramData/Microsoft/Windows/Start Menu/Programs/Amtsstube");
    let desktop = w.prefix.join("drive_c/users/Public/Desktop/Amtsstube.lnk");
    let install = |extra: &[&str]| -> R {
        let mut c = w.command("wine");
        c.arg(&setup)
            .arg("/S")
            .args(extra)
            .arg(format!("/DATENORDNER={}", win(&daten)))
            .arg(format!("/D={}", win(&programm)));
        let out = wait(c, "", Duration::from_secs(300))?;
        assert!(out.ok, "{}", out.text);
        Ok(())
    };

    // Silent, no desktop shortcut, one data folder for the PC.
    install(&["/KEINDESKTOP"])?;
    for f in ["amtsstube.exe", "LIESMICH.txt", "deinstallieren.exe"] {
        assert!(programm.join(f).is_file(), "{f} fehlt");
    }
    assert!(menu.join("Amtsstube.lnk").is_file());
    assert!(!desktop.exists(), "desktop shortcut despite /KEINDESKTOP");
    assert_eq!(
        reg_value(w, ENV_KEY, "AMTSSTUBE_DATA_DIR")?.as_deref(),
        Some(win(&daten).as_str())
    );
    assert!(reg_value(w, UNINSTALL_KEY, "QuietUninstallString")?.is_some());
    // The installed program finds the data folder without being told.
    std::fs::copy(
        w.exe.with_file_name("bcryptprimitives.dll"),
        programm.join("bcryptprimitives.dll"),
    )?;
    let mut c = w.command("wine");
    c.arg(programm.join("amtsstube.exe"))
        .args(["init", "--scrypt-log-n", "10"]);
    let out = wait(c, "admin-passwort-1\n", Duration::from_secs(300))?;
    assert!(out.ok, "{}", out.text);
    assert!(daten.join("amtsstube.db").is_file(), "{}", out.text);

    // Uninstalled: the program, its menu and its entry go, the data stay.
    let mut c = w.command("wine");
    c.arg(programm.join("deinstallieren.exe")).arg("/S");
    assert!(wait(c, "", Duration::from_secs(120))?.ok);
    gone(&programm.join("amtsstube.exe"))?;
    gone(&menu)?;
    assert!(
        daten.join("amtsstube.db").is_file(),
        "data lost on uninstall"
    );
    assert_eq!(reg_value(w, UNINSTALL_KEY, "QuietUninstallString")?, None);

    // Again with the desktop shortcut, then uninstalled with the data.
    install(&[])?;
    assert!(desktop.is_file(), "no desktop shortcut");
    let mut c = w.command("wine");
    c.arg(programm.join("deinstallieren.exe"))
        .args(["/S", "/DATENLOESCHEN"]);
    assert!(wait(c, "", Duration::from_secs(120))?.ok);
    gone(&daten)?;
    gone(&desktop)?;
    assert_eq!(reg_value(w, ENV_KEY, "AMTSSTUBE_DATA_DIR")?, None);
    Ok(())
}

/// `holdfile.exe`: `file` held open without FILE_SHARE_DELETE for `ms`, as a virus
/// scanner does; returns once the file is open.
fn hold(w: &Wine, file: &Path, ms: u64) -> Result<std::process::Child, BoxError> {
    let mut c = w.command("wine");
    c.arg(w.exe.with_file_name("holdfile.exe"))
        .arg(win(file))
        .arg(ms.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn()?;
    let mut line = String::new();
    let out = child.stdout.take().ok_or("keine Ausgabe")?;
    std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line)?;
    if line.trim() != "offen" {
        return Err(format!("{} nicht geöffnet", file.display()).into());
    }
    Ok(child)
}

#[test]
#[ignore = "Windows-Build unter Wine: make test-windows"]
fn windows_a_key_file_held_by_a_virus_scanner_is_retried_then_refused_with_a_reason() -> R {
    let w = wine()?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("daten");
    set_up_store(w, &data, &[])?;
    let keys = |d: &Path| -> Result<Vec<PathBuf>, BoxError> {
        Ok(std::fs::read_dir(d.join("keys"))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("u-"))
            })
            .collect())
    };
    let before = keys(&data)?;
    must(w.run(
        &data,
        &["user", "add", "sb1", "--role", "sachbearbeitung"],
        "admin-passwort-1\nsb1-passwort-1\n",
    )?)?;
    let key = keys(&data)?
        .into_iter()
        .find(|k| !before.contains(k))
        .ok_or("keine Schlüsseldatei für sb1")?;
    let passwd = |old: &str, new: &str| -> Result<Out, BoxError> {
        w.run(
            &data,
            &["user", "passwd", "sb1"],
            &format!("{old}\n{old}\n{new}\n"),
        )
    };

    // Held for a moment: the new password is written once the scanner lets go.
    let mut holder = hold(w, &key, 1500)?;
    let out = passwd("sb1-passwort-1", "sb1-passwort-2")?;
    holder.wait()?;
    assert!(out.ok, "{}", out.text);
    must(w.run(&data, &["status", "--as", "sb1"], "sb1-passwort-2\n")?)?;

    // Held for good: refused with the reason after a bounded wait, the old password
    // still valid – nothing half-written.
    let mut holder = hold(w, &key, 20_000)?;
    let start = Instant::now();
    let out = passwd("sb1-passwort-2", "sb1-passwort-3")?;
    let took = start.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    let mut kill = w.command("wine");
    kill.args(["taskkill", "/F", "/IM", "holdfile.exe"]);
    let _ = wait(kill, "", Duration::from_secs(60));
    assert!(!out.ok, "{}", out.text);
    assert!(took < Duration::from_secs(15), "{took:?}");
    assert!(
        out.text.contains("von einem anderen Programm benutzt"),
        "{}",
        out.text
    );
    must(w.run(&data, &["status", "--as", "sb1"], "sb1-passwort-2\n")?)?;
    Ok(())
}
