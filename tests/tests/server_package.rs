//! The Rathaus-Server's .deb (`make package-server`): built here from the debug
//! binary with the same script, then checked as dpkg sees it – name, version,
//! dependencies (PostgreSQL), the files, the systemd units and the maintainer
//! scripts – and the non-interactive first set-up the package runs
//! (`amtsstube-server init --ohne-admin`) against a real PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::Command;

use server::cluster::Cluster;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn output(cmd: &mut Command) -> Result<String, BoxError> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_server_package_holds_the_binary_the_units_and_sound_scripts() -> Result<(), BoxError> {
    let bin = amtsstube_tests::app::amtsstube_bin()?.with_file_name("amtsstube-server");
    let tmp = tempfile::tempdir()?;
    let deb = output(
        Command::new(root().join("installer/package-server.sh"))
            .env("DEB_COMPRESSION", "none")
            .arg(&bin)
            .arg(tmp.path()),
    )?;
    let deb = PathBuf::from(deb.trim());
    assert!(deb.exists(), "{}", deb.display());

    let field = |name: &str| output(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name));
    assert_eq!(field("Package")?.trim(), "amtsstube-server");
    let workspace = std::fs::read_to_string(root().join("Cargo.toml"))?;
    assert!(
        workspace.contains(&format!("version = \"{}\"", field("Version")?.trim())),
        "Version wie im Workspace"
    );
    let depends = field("Depends")?;
    assert!(
        depends.contains("postgresql (>= 15)") && depends.contains("adduser"),
        "{depends}"
    );

    let contents = output(Command::new("dpkg-deb").arg("-c").arg(&deb))?;
    for f in [
        "./usr/bin/amtsstube-server",
        "./lib/systemd/system/amtsstube-server.service",
        "./lib/systemd/system/amtsstube-server-sicherung.service",
        "./lib/systemd/system/amtsstube-server-sicherung.timer",
        "./usr/share/doc/amtsstube-server/README",
    ] {
        assert!(contents.contains(f), "{f} fehlt:\n{contents}");
    }
    assert!(contents.contains("-rwxr-xr-x root/root"), "{contents}");
    assert!(
        contents
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("drwxr-xr-x root/root")),
        "the package's root directory must not be private: {contents}"
    );

    // The maintainer scripts parse, and the units start what the package installs.
    let control = tmp.path().join("control");
    output(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control))?;
    for script in ["postinst", "prerm", "postrm"] {
        output(Command::new("sh").arg("-n").arg(control.join(script)))?;
    }
    let postinst = std::fs::read_to_string(control.join("postinst"))?;
    assert!(postinst.contains("init") && postinst.contains("--ohne-admin"));
    let files = tmp.path().join("files");
    output(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&files))?;
    let unit = std::fs::read_to_string(files.join("lib/systemd/system/amtsstube-server.service"))?;
    assert!(
        unit.contains(
            "ExecStart=/usr/bin/amtsstube-server --verzeichnis /var/lib/amtsstube-server serve"
        ),
        "{unit}"
    );
    assert!(unit.contains("User=amtsstube") && postinst.contains("adduser --system --group"));
    let backup = std::fs::read_to_string(
        files.join("lib/systemd/system/amtsstube-server-sicherung.service"),
    )?;
    assert!(
        backup.contains("sicherung --ziel /var/backups/amtsstube-server"),
        "{backup}"
    );
    // The packaged binary is the one built.
    assert_eq!(
        std::fs::read(files.join("usr/bin/amtsstube-server"))?,
        std::fs::read(&bin)?
    );
    Ok(())
}

/// What the package's postinst runs on the first install: no questions, no
/// administration yet, no backup key shown (it would land in apt's log) – and it
/// says what is left to do.
#[test]
fn the_first_install_sets_up_without_questions() -> Result<(), BoxError> {
    let bin = amtsstube_tests::app::amtsstube_bin()?.with_file_name("amtsstube-server");
    let cluster = Cluster::start(Path::new(env!("CARGO_TARGET_TMPDIR")))?;
    cluster.create_database("paket")?;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("server");
    let out = output(
        Command::new(&bin)
            .arg("--verzeichnis")
            .arg(&dir)
            .args(["init", "--datenbank", &cluster.conninfo("paket")])
            .args(["--name", "Musterstadt", "--rechnername", "127.0.0.1"])
            .arg("--ohne-admin")
            .stdin(std::process::Stdio::null()),
    )?;
    assert!(
        out.contains("Noch zu tun") && out.contains("sicherung-schluessel"),
        "{out}"
    );
    assert!(!out.contains("AGE-SECRET-KEY"), "{out}");
    let status = output(
        Command::new(&bin)
            .arg("--verzeichnis")
            .arg(&dir)
            .arg("status"),
    )?;
    assert!(status.contains("Benutzer:        0"), "{status}");
    // A second run refuses: it would replace the office CA.
    let again = Command::new(&bin)
        .arg("--verzeichnis")
        .arg(&dir)
        .args(["init", "--datenbank", &cluster.conninfo("paket")])
        .args([
            "--name",
            "Musterstadt",
            "--rechnername",
            "127.0.0.1",
            "--ohne-admin",
        ])
        .output()?;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("schon eingerichtet"));
    Ok(())
}
