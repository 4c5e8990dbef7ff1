//! The workstation's .deb (`make package`): built here from this build's binaries with
//! the same script, checked as dpkg and the desktop see it, then installed into a
//! throwaway root (`dpkg --root`), upgraded, removed and purged. A data directory
//! written by an earlier build (`tests/fixtures/datenbestand-v0`, schema 11, see
//! `make-datenbestand.sh` there) lies next to it the whole time and is opened by the
//! upgraded program: the new migrations run, cases, figures, audit chain and
//! documents are kept, and the package never touches it.
//!
//! Not covered here (said in the installer's README): the "old" package holds this
//! build's program under an older version number – dpkg's part of the upgrade is
//! real, the old program is represented by the data it wrote; maintainer scripts
//! and dependencies run in a throwaway root without the system's libraries
//! (`--force-depends`; the dependencies are checked against this machine's packages
//! instead), and no desktop session shows the menu entry.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const ADMIN_PW: &str = "Fixture-Administration-1";
const LEAD_PW: &str = "Fixture-Leitung-1";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn output(cmd: &mut Command) -> Result<String, BoxError> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Run the installed CLI with a password on standard input.
fn cli(bin: &Path, data: &Path, password: &str, args: &[&str]) -> Result<String, BoxError> {
    cli_input(bin, data, &format!("{password}\n"), args)
}

/// Run the installed CLI with `input` (one answer per line) on standard input.
fn cli_input(bin: &Path, data: &Path, input: &str, args: &[&str]) -> Result<String, BoxError> {
    let mut child = Command::new(bin)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("stdin")?
        .write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!(
            "amtsstube {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn package(version: &str, out: &Path) -> Result<PathBuf, BoxError> {
    let cli = amtsstube_tests::app::amtsstube_bin()?;
    let app = cli.with_file_name("amtsstube-app");
    let deb = output(
        Command::new(root().join("installer/package-app.sh"))
            .env("DEB_COMPRESSION", "none")
            .env("PAKET_VERSION", version)
            .arg(&app)
            .arg(&cli)
            .arg(out),
    )?;
    Ok(PathBuf::from(deb.trim()))
}

/// `dpkg` on a throwaway root: no chroot for (absent) maintainer scripts, the
/// system's libraries are not in that root.
fn dpkg(root: &Path, args: &[&str]) -> Result<String, BoxError> {
    output(
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args([
                "--force-not-root",
                "--force-script-chrootless",
                "--force-depends",
            ])
            .arg(format!("--log={}", root.join("dpkg.log").display()))
            .args(args),
    )
}

/// Every file below `dir` with its content, for "untouched" checks.
fn tree(dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, BoxError> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                todo.push(e.path());
            } else {
                out.push((e.path(), std::fs::read(e.path())?));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), BoxError> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), &target)?;
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The figures that do not depend on today's date.
fn counts(report: &str) -> Result<(u64, u64, u64), BoxError> {
    let v: serde_json::Value = serde_json::from_str(report)?;
    let c = &v["total"]["current"];
    let n = |k: &str| c[k].as_u64().ok_or_else(|| format!("{k} fehlt: {report}"));
    Ok((n("arrivals")?, n("decided")?, n("dispatched")?))
}

#[test]
fn the_package_holds_the_app_the_cli_and_a_valid_desktop_entry() -> Result<(), BoxError> {
    let tmp = tempfile::tempdir()?;
    let deb = package("0.1.0", tmp.path())?;
    let field = |name: &str| output(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name));
    assert_eq!(field("Package")?.trim(), "amtsstube");
    let depends = field("Depends")?;
    // Each dependency is a real package of this distribution (installed here, where
    // the app runs): of alternatives (`a | b`) one.
    for dep in depends.split(',') {
        let mut found = Vec::new();
        for alternative in dep.split('|') {
            let name = alternative
                .split_whitespace()
                .next()
                .ok_or("leere Abhängigkeit")?;
            let status = Command::new("dpkg-query")
                .args(["-W", "-f=${Status}"])
                .arg(name)
                .output()?;
            let status = String::from_utf8_lossy(&status.stdout).into_owned();
            found.push(format!("{name}: {status}"));
            if status.contains("install ok installed") {
                found.clear();
                break;
            }
        }
        assert!(found.is_empty(), "nicht installiert: {found:?}");
    }
    assert!(depends.contains("libwebkit2gtk-4.1-0"), "{depends}");
    let contents = output(Command::new("dpkg-deb").arg("-c").arg(&deb))?;
    for f in [
        "./usr/bin/amtsstube-app",
        "./usr/bin/amtsstube",
        "./usr/share/applications/amtsstube.desktop",
        "./usr/share/icons/hicolor/128x128/apps/amtsstube.png",
        "./usr/share/icons/hicolor/256x256/apps/amtsstube.png",
        "./usr/share/doc/amtsstube/README.md",
    ] {
        assert!(contents.contains(f), "{f} fehlt:\n{contents}");
    }
    assert!(
        contents
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("drwxr-xr-x root/root")),
        "the package's root directory must not be private: {contents}"
    );
    let files = tmp.path().join("files");
    output(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&files))?;
    let desktop = files.join("usr/share/applications/amtsstube.desktop");
    output(Command::new("desktop-file-validate").arg(&desktop))?;
    let entry = std::fs::read_to_string(&desktop)?;
    for line in [
        "Name=Amtsstube",
        "GenericName=Bürgerbüro-Arbeitsplatz",
        "Exec=amtsstube-app",
        "Icon=amtsstube",
    ] {
        assert!(entry.lines().any(|l| l == line), "{line} fehlt:\n{entry}");
    }
    // The packaged programs are the ones built.
    let cli = amtsstube_tests::app::amtsstube_bin()?;
    assert_eq!(
        std::fs::read(files.join("usr/bin/amtsstube"))?,
        std::fs::read(&cli)?
    );
    Ok(())
}

#[test]
fn install_upgrade_remove_and_purge_keep_the_data_and_the_upgrade_migrates_it()
-> Result<(), BoxError> {
    let tmp = tempfile::tempdir()?;
    let old = package("0.1.0-1", &tmp.path().join("alt"))?;
    let new = package("0.1.0-2", &tmp.path().join("neu"))?;
    let sysroot = tmp.path().join("wurzel");
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        std::fs::create_dir_all(sysroot.join(d))?;
    }
    std::fs::write(sysroot.join("var/lib/dpkg/status"), b"")?;
    let installed = |sysroot: &Path| -> Result<String, BoxError> {
        Ok(output(
            Command::new("dpkg-query")
                .arg(format!(
                    "--admindir={}",
                    sysroot.join("var/lib/dpkg").display()
                ))
                .args(["-W", "-f=${Version} ${Status}", "amtsstube"]),
        )
        .unwrap_or_default())
    };

    // Install the "old" package; the clerk's data written by the earlier build lies
    // in the user's data folder (here a copy of the fixture).
    dpkg(&sysroot, &["-i", old.to_str().ok_or("Pfad")?])?;
    assert_eq!(installed(&sysroot)?, "0.1.0-1 install ok installed");
    let fixture = root().join("tests/fixtures/datenbestand-v0");
    let data = tmp.path().join("home/.local/share/amtsstube");
    copy_dir(&fixture.join("daten"), &data)?;
    let before = tree(&data)?;

    // Upgrade: dpkg replaces the programs and leaves the data alone.
    dpkg(&sysroot, &["-i", new.to_str().ok_or("Pfad")?])?;
    assert_eq!(installed(&sysroot)?, "0.1.0-2 install ok installed");
    assert_eq!(tree(&data)?, before, "the package touched the data");
    let bin = sysroot.join("usr/bin/amtsstube");
    assert_eq!(
        std::fs::read(&bin)?,
        std::fs::read(amtsstube_tests::app::amtsstube_bin()?)?
    );

    // The upgraded program opens the old data: the migrations run.
    let status = cli(&bin, &data, ADMIN_PW, &["status", "--as", "admin"])?;
    let version = status
        .lines()
        .find_map(|l| l.strip_prefix("Schemaversion:"))
        .ok_or_else(|| format!("keine Schemaversion: {status}"))?
        .trim()
        .to_owned();
    let old_status = std::fs::read_to_string(fixture.join("status-vorher.txt"))?;
    assert!(old_status.contains("11 (aktuell 11)"), "{old_status}");
    let (now, latest) = version.split_once(" (aktuell ").ok_or(version.clone())?;
    assert_eq!(format!("{now})"), latest, "{status}");
    assert!(now.parse::<u32>()? > 11, "no migration ran: {status}");

    // The data is kept: the same figures as the old build reported, the audit chain
    // intact, and every document: a backup reads each one, a restore checks them.
    let report = cli(
        &bin,
        &data,
        LEAD_PW,
        &[
            "bericht",
            "--von",
            "2025-01-01",
            "--bis",
            "2027-12-31",
            "--json",
            "--as",
            "leitung",
        ],
    )?;
    let old_report = std::fs::read_to_string(fixture.join("bericht-vorher.json"))?;
    assert_eq!(counts(&report)?, counts(&old_report)?);
    assert!(counts(&report)?.0 >= 30, "{report}");
    cli(&bin, &data, ADMIN_PW, &["audit", "verify", "--as", "admin"])?;
    let key = std::fs::read_to_string(fixture.join("wiederherstellungsschluessel.txt"))?;
    let stick = tmp.path().join("usb");
    std::fs::create_dir_all(&stick)?;
    // The earlier build knew no backups: the recovery key sets them up once.
    cli_input(
        &bin,
        &data,
        &format!("{ADMIN_PW}\n{}\n", key.trim()),
        &["sicherung", "einrichten", "--as", "admin"],
    )?;
    let made = cli(
        &bin,
        &data,
        ADMIN_PW,
        &[
            "sicherung",
            "erstellen",
            "--ziel",
            stick.to_str().ok_or("Pfad")?,
            "--as",
            "admin",
        ],
    )?;
    let archive = std::fs::read_dir(&stick)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".sicherung.age"))
        .ok_or_else(|| format!("keine Sicherung: {made}"))?;
    let restored = tmp.path().join("neuer-pc");
    cli_input(
        &bin,
        &restored,
        &format!("{}\n", key.trim()),
        &["wiederherstellen", archive.to_str().ok_or("Pfad")?],
    )?;
    let again = cli(
        &bin,
        &restored,
        LEAD_PW,
        &[
            "bericht",
            "--von",
            "2025-01-01",
            "--bis",
            "2027-12-31",
            "--json",
            "--as",
            "leitung",
        ],
    )?;
    assert_eq!(counts(&again)?, counts(&old_report)?);

    // Remove, then purge: the programs go, the data stays.
    let migrated = tree(&data)?;
    dpkg(&sysroot, &["-r", "amtsstube"])?;
    assert!(!bin.exists() && !sysroot.join("usr/bin/amtsstube-app").exists());
    assert!(
        !sysroot
            .join("usr/share/applications/amtsstube.desktop")
            .exists()
    );
    dpkg(&sysroot, &["-P", "amtsstube"])?;
    assert_eq!(installed(&sysroot)?, "");
    assert_eq!(
        tree(&data)?,
        migrated,
        "removing the package touched the data"
    );
    Ok(())
}
