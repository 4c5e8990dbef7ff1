//! The `amtsstube` binary, driven like an administrator's script would.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn run(dir: &Path, args: &[&str], stdin: &str) -> Result<Output, Box<dyn std::error::Error>> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_amtsstube"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(stdin.as_bytes())?;
    Ok(child.wait_with_output()?)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn init_user_recover_audit_status() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");

    let o = run(
        &dir,
        &["init", "--scrypt-log-n", "10"],
        "admin-passwort-1\n",
    )?;
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let recovery = out
        .split_whitespace()
        .find(|w| w.starts_with("AGE-SECRET-KEY-1"))
        .ok_or("no recovery key printed")?
        .to_owned();
    // The recovery key is printed, never stored in the data directory.
    for entry in walk(&dir) {
        let bytes = std::fs::read(&entry)?;
        assert!(
            !bytes
                .windows(recovery.len())
                .any(|w| w == recovery.as_bytes()),
            "{}",
            entry.display()
        );
    }
    let o = run(&dir, &["init"], "admin-passwort-1\n")?;
    assert!(!o.status.success());
    assert!(
        text(&o).contains("bereits einen Datenbestand"),
        "{}",
        text(&o)
    );

    let o = run(
        &dir,
        &[
            "user",
            "add",
            "sb1",
            "--role",
            "sachbearbeitung",
            "--display-name",
            "Sam B.",
        ],
        "admin-passwort-1\nsb1-passwort-1\n",
    )?;
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&dir, &["user", "add", "x", "--role", "chef"], "")?;
    assert!(!o.status.success());
    assert!(text(&o).contains("unbekannte Rolle"), "{}", text(&o));

    let o = run(&dir, &["user", "list"], "admin-passwort-1\n")?;
    assert!(
        text(&o).contains("sb1") && text(&o).contains("sachbearbeitung"),
        "{}",
        text(&o)
    );
    // Nobody who holds the case key has logged in yet: sb1 waits for it.
    assert!(
        text(&o).contains("Schlüssel: Vorgangsinhalte: wartet auf Freigabe"),
        "{}",
        text(&o)
    );

    // Own password change, then with the new one.
    let o = run(
        &dir,
        &["user", "passwd", "sb1"],
        "sb1-passwort-1\nsb1-passwort-1\nsb1-passwort-2\n",
    )?;
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&dir, &["status", "--as", "sb1"], "sb1-passwort-2\n")?;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("entsperrt"), "{}", text(&o));

    // Wrong password: clear German error, non-zero exit.
    let o = run(&dir, &["status", "--as", "sb1"], "falsch\n")?;
    assert!(!o.status.success());
    assert!(text(&o).contains("Passwort ist falsch"), "{}", text(&o));

    // Recovery sets a new admin password.
    let o = run(
        &dir,
        &["recover"],
        &format!("{recovery}\nneues-admin-pw-1\n"),
    )?;
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&dir, &["audit", "verify"], "admin-passwort-1\n")?;
    assert!(!o.status.success());
    let o = run(&dir, &["audit", "verify"], "neues-admin-pw-1\n")?;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("unversehrt"), "{}", text(&o));

    let o = run(&dir, &["outbox", "list"], "neues-admin-pw-1\n")?;
    assert!(text(&o).contains("Keine Aufträge"), "{}", text(&o));
    let o = run(&dir, &["quarantine"], "neues-admin-pw-1\n")?;
    assert!(text(&o).contains("Quarantäne ist leer"), "{}", text(&o));
    let o = run(&dir, &["outbox", "retry", "999"], "neues-admin-pw-1\n")?;
    assert!(!o.status.success());
    assert!(
        text(&o).contains("keinen fehlgeschlagenen Auftrag 999"),
        "{}",
        text(&o)
    );
    let o = run(&dir, &["sync", "--as", "admin"], "neues-admin-pw-1\n")?;
    assert!(!o.status.success());
    assert!(text(&o).contains("keine Portal-Verbindung"), "{}", text(&o));
    let o = run(&dir, &["user", "remove", "sb1"], "neues-admin-pw-1\n")?;
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&dir, &["status", "--as", "sb1"], "sb1-passwort-2\n")?;
    assert!(!o.status.success());

    let o = run(&tmp.path().join("leer"), &["status"], "")?;
    assert!(!o.status.success());
    assert!(text(&o).contains("kein Datenbestand"), "{}", text(&o));
    Ok(())
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn the_bundid_bridge_is_set_checked_shown_and_removed() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");
    let o = run(
        &dir,
        &["init", "--scrypt-log-n", "10"],
        "admin-passwort-1\n",
    )?;
    assert!(o.status.success(), "{}", text(&o));
    let pki = fitconnect::keys::TestPki::new(2048)?;
    let (key, cert) = pki.issue_author("Gemeinde Musterstadt", 2048)?;
    let (other_key, _) = pki.issue_author("Gemeinde Musterstadt", 2048)?;
    let files = tmp.path().join("bpki");
    std::fs::create_dir(&files)?;
    std::fs::write(files.join("key.pem"), &key)?;
    std::fs::write(files.join("other.pem"), &other_key)?;
    std::fs::write(files.join("cert.pem"), &cert)?;
    let path = |n: &str| files.join(n).to_string_lossy().into_owned();
    let bridge = "6f1c2a4e-0000-4000-8000-00000000b0bd";
    let o = run(&dir, &["bundid", "anzeigen"], "admin-passwort-1\n")?;
    assert!(text(&o).contains("nicht eingerichtet"), "{}", text(&o));
    // A key that is not the certificate's is refused, in German.
    let o = run(
        &dir,
        &[
            "bundid",
            "einrichten",
            "--bruecke",
            bridge,
            "--schluessel",
            &path("other.pem"),
            "--zertifikat",
            &path("cert.pem"),
        ],
        "admin-passwort-1\n",
    )?;
    assert!(!o.status.success());
    assert!(text(&o).contains("gehören nicht zusammen"), "{}", text(&o));
    let o = run(
        &dir,
        &[
            "bundid",
            "einrichten",
            "--bruecke",
            "keine-uuid",
            "--schluessel",
            &path("key.pem"),
            "--zertifikat",
            &path("cert.pem"),
        ],
        "admin-passwort-1\n",
    )?;
    assert!(!o.status.success());
    let o = run(
        &dir,
        &[
            "bundid",
            "einrichten",
            "--bruecke",
            bridge,
            "--schluessel",
            &path("key.pem"),
            "--zertifikat",
            &path("cert.pem"),
            "--vertrauensniveau",
            "4",
        ],
        "admin-passwort-1\n",
    )?;
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&dir, &["bundid", "anzeigen"], "admin-passwort-1\n")?;
    let shown = text(&o);
    assert!(
        shown.contains(bridge)
            && shown.contains("„Gemeinde Musterstadt“")
            && shown.contains("Vertrauensniveau 4"),
        "{shown}"
    );
    assert!(!shown.contains("PRIVATE KEY"));
    // The private key is nowhere in clear in the data directory.
    let body: String = key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .take(1)
        .collect();
    for entry in walk(&dir) {
        let bytes = std::fs::read(&entry)?;
        assert!(
            !bytes.windows(body.len()).any(|w| w == body.as_bytes()),
            "{}",
            entry.display()
        );
    }
    let o = run(&dir, &["bundid", "entfernen"], "admin-passwort-1\n")?;
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&dir, &["bundid", "anzeigen"], "admin-passwort-1\n")?;
    assert!(text(&o).contains("nicht eingerichtet"), "{}", text(&o));
    Ok(())
}

#[test]
fn the_mail_server_is_set_shown_refused_when_unencrypted_and_removed() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");
    let o = run(
        &dir,
        &["init", "--scrypt-log-n", "10"],
        "admin-passwort-1\n",
    )?;
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&dir, &["email", "anzeigen"], "admin-passwort-1\n")?;
    assert!(
        text(&o).contains("Kein Mailserver eingerichtet"),
        "{}",
        text(&o)
    );
    // Unencrypted only to a relay on this PC.
    let o = run(
        &dir,
        &[
            "email",
            "einrichten",
            "--server",
            "mail.musterstadt.example",
            "--verschluesselung",
            "keine",
            "--absender",
            "buergerbuero@musterstadt.example",
        ],
        "admin-passwort-1\n",
    )?;
    assert!(!o.status.success());
    assert!(text(&o).contains("STARTTLS"), "{}", text(&o));
    // The relay's password is read from stdin after the login's, and never printed.
    let o = run(
        &dir,
        &[
            "email",
            "einrichten",
            "--server",
            "mail.musterstadt.example",
            "--benutzer",
            "rathaus",
            "--absender",
            "buergerbuero@musterstadt.example",
        ],
        "admin-passwort-1\nrelay-geheim-4711\n",
    )?;
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("relay-geheim-4711"));
    let o = run(&dir, &["email", "anzeigen"], "admin-passwort-1\n")?;
    let shown = text(&o);
    assert!(
        shown.contains("mail.musterstadt.example:587 (starttls), Anmeldung: rathaus"),
        "{shown}"
    );
    assert!(!shown.contains("relay-geheim-4711"));
    assert!(shown.contains("Kein Postfach für Rückläufer"), "{shown}");
    // The mailbox of the late bounces: its password likewise from stdin.
    let o = run(
        &dir,
        &[
            "email",
            "postfach",
            "--server",
            "imap.musterstadt.example",
            "--benutzer",
            "rathaus",
        ],
        "admin-passwort-1
imap-geheim-0815
",
    )?;
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o)
            .contains("Rückläufer werden aus INBOX auf imap.musterstadt.example:993 (tls) gelesen"),
        "{}",
        text(&o)
    );
    let shown = text(&run(
        &dir,
        &["email", "anzeigen"],
        "admin-passwort-1
",
    )?);
    assert!(
        shown.contains(
            "Rückläufer aus INBOX auf imap.musterstadt.example:993 (tls), Anmeldung: rathaus"
        ),
        "{shown}"
    );
    assert!(!shown.contains("imap-geheim-0815"));
    // Nothing closed on this PC: the test names the refusal.
    let o = run(
        &dir,
        &[
            "email",
            "postfach",
            "--server",
            "127.0.0.1",
            "--port",
            "1",
            "--verschluesselung",
            "keine",
            "--benutzer",
            "rathaus",
            "--testen",
        ],
        "admin-passwort-1
imap-geheim-0815
",
    )?;
    assert!(!o.status.success());
    assert!(text(&o).contains("nicht erreichbar"), "{}", text(&o));
    // Nothing of it in clear on disk.
    for entry in walk(&dir) {
        let bytes = std::fs::read(&entry)?;
        assert!(
            !bytes.windows(17).any(|w| w == b"relay-geheim-4711")
                && !bytes.windows(16).any(|w| w == b"imap-geheim-0815"),
            "{}",
            entry.display()
        );
    }
    let o = run(
        &dir,
        &["email", "postfach", "--entfernen"],
        "admin-passwort-1
",
    )?;
    assert!(o.status.success(), "{}", text(&o));
    let shown = text(&run(
        &dir,
        &["email", "anzeigen"],
        "admin-passwort-1
",
    )?);
    assert!(shown.contains("Kein Postfach für Rückläufer"), "{shown}");
    let o = run(&dir, &["email", "entfernen"], "admin-passwort-1\n")?;
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&dir, &["email", "anzeigen"], "admin-passwort-1\n")?;
    assert!(
        text(&o).contains("Kein Mailserver eingerichtet"),
        "{}",
        text(&o)
    );
    Ok(())
}
