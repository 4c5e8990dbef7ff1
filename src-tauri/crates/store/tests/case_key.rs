//! The key ring of the standalone store: what a role may not read, its key cannot
//! open – tried by hand, with the key files, `age` and SQLCipher, as someone at the
//! PC with a Scanstelle or Administration password would.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use domain::{Role, UserName};
use store::{
    Clock, DocumentKind, ExposeSecret, IncomingDocument, IncomingSubmission, InitOptions,
    NewOutboxItem, SecretString, Session, Store, StoreConfig, StoreError,
};

type R = Result<(), Box<dyn std::error::Error>>;

const SB: &str = "sb-passwort-1";
const LEITUNG: &str = "leitung-passwort-1";
const SCAN: &str = "scan-passwort-1";
/// The applicant's name: it must open for the caseworkers only.
const CANARY: &[u8] = b"Kanarienvogel-Antrag von Wiebke Quast";
/// A scanned paper application: for the Scanstelle, the caseworkers and the Leitung.
const SCANNED: &[u8] = b"%PDF-1.4 Kanarienvogel-Scan von Wiebke Quast";

/// Every document under the vault key re-encrypted to the keys of its kind, as far
/// as they exist; how many.
fn seal_all(s: &mut Session) -> Result<usize, StoreError> {
    let mut after = String::new();
    let mut total = 0;
    loop {
        let (n, next) = s.seal_documents(&after, 2)?;
        total += n;
        match next {
            Some(id) => after = id,
            None => return Ok(total),
        }
    }
}

/// A scan product taken in by `s`; its vault file's id.
fn scan_product(s: &mut Session, name: &str) -> Result<String, Box<dyn std::error::Error>> {
    use sha2::Digest;
    let content = [SCANNED, name.as_bytes()].concat();
    let sha = hex::encode(sha2::Sha256::digest(&content));
    let id = s
        .add_scan_product(name, "application/pdf", 1, &sha, content.as_slice(), None)?
        .ok_or("taken in before")?;
    Ok(s.scan_product(&id)?.ok_or("no product")?.blob_id)
}

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn name(s: &str) -> UserName {
    UserName::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn init(dir: &Path) -> Result<(Session, String), Box<dyn std::error::Error>> {
    let (s, recovery) = Store::init(
        dir,
        InitOptions {
            admin: name("admin"),
            admin_display_name: "Alex Admin".into(),
            admin_password: pw(common::PASSWORD),
            config: StoreConfig {
                scrypt_log_n: 10,
                ..StoreConfig::default()
            },
        },
        Clock::system(),
    )?;
    Ok((s, recovery.secret_text().expose_secret().to_owned()))
}

fn login(dir: &Path, user: &str, password: &str) -> Result<Session, StoreError> {
    Store::open(dir, Clock::system())?.unlock(&name(user), &pw(password))
}

fn submission(sub: &str) -> IncomingSubmission {
    IncomingSubmission {
        submission_id: sub.into(),
        fc_case_id: format!("fc-{sub}"),
        service: "urn:de:fim:leika:leistung:99115004012000".into(),
        case_type: "Meldebescheinigung".into(),
        applicant: "Wiebke Quast".into(),
        received_at: "2026-12-01T08:00:00Z".into(),
        auth_tags: "{}".into(),
        documents: vec![IncomingDocument {
            kind: DocumentKind::Attachment,
            filename: Some("Antrag.pdf".into()),
            mime_type: "application/pdf".into(),
            bytes: CANARY.to_vec(),
        }],
        accept: NewOutboxItem {
            idempotency_key: format!("accept:{sub}"),
            kind: "accept".into(),
            ordering_key: format!("fc-{sub}"),
            payload: "{}".into(),
        },
    }
}

/// The vault files of every case document (by the caseworker's session).
fn case_blobs(s: &Session) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for case in s.list_cases(100, 0)? {
        for d in s.case_documents(&case.id)? {
            out.push(d.blob_id);
        }
    }
    Ok(out)
}

fn vault_file(dir: &Path, blob: &str) -> PathBuf {
    dir.join("vault").join(&blob[..2]).join(blob)
}

/// Everything a user's password opens by hand: the master key and the user's own
/// key from the password file, the vault key from the database, and whatever key
/// file the own key opens (a grant of the case key).
fn keys_by_hand(
    dir: &Path,
    password: &str,
) -> Result<Vec<age::x25519::Identity>, Box<dyn std::error::Error>> {
    Ok(open_by_hand(dir, password)?.1)
}

/// The master key (hex) and the own key a password opens by hand.
fn master_by_hand(
    dir: &Path,
    password: &str,
) -> Result<(String, age::x25519::Identity), Box<dyn std::error::Error>> {
    for entry in std::fs::read_dir(dir.join("keys"))? {
        let path = entry?.path();
        let file = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(file) = file else { continue };
        if !file.starts_with("u-") || !file.ends_with(".age") || file.matches('.').count() > 1 {
            continue;
        }
        let mut id = age::scrypt::Identity::new(pw(password));
        id.set_max_work_factor(12);
        let bytes = std::fs::read(&path)?;
        let Ok(mut r) = age::Decryptor::new(&bytes[..])?.decrypt(std::iter::once(&id as _)) else {
            continue;
        };
        let mut plain = Vec::new();
        r.read_to_end(&mut plain)?;
        assert!(
            plain.len() > 32,
            "the user's own key is kept with the master key"
        );
        let own = std::str::from_utf8(&plain[32..])?
            .parse()
            .map_err(|e: &str| e.to_string())?;
        return Ok((hex::encode(&plain[..32]), own));
    }
    Err("the password opens no key file".into())
}

/// The database opened by hand with a password's master key, and every key it
/// leads to (see [`keys_by_hand`]).
fn open_by_hand(
    dir: &Path,
    password: &str,
) -> Result<(rusqlite::Connection, Vec<age::x25519::Identity>), Box<dyn std::error::Error>> {
    let keys = dir.join("keys");
    let (master, own) = master_by_hand(dir, password)?;
    let conn = rusqlite::Connection::open(dir.join("amtsstube.db"))?;
    conn.execute_batch(&format!("PRAGMA key = \"x'{master}'\";"))?;
    let vault: String = conn.query_row(
        "SELECT value FROM secrets WHERE name = 'vault_identity'",
        [],
        |r| r.get(0),
    )?;
    let mut held = vec![
        own.clone(),
        vault.parse().map_err(|e| format!("vault key: {e}"))?,
    ];
    // Every other key file the own key (or a key already found) opens.
    for entry in std::fs::read_dir(&keys)? {
        let bytes = std::fs::read(entry?.path())?;
        let Ok(d) = age::Decryptor::new(&bytes[..]) else {
            continue;
        };
        let ids: Vec<&dyn age::Identity> = held.iter().map(|i| i as &dyn age::Identity).collect();
        if let Ok(mut r) = d.decrypt(ids.into_iter()) {
            let mut text = String::new();
            if r.read_to_string(&mut text).is_ok()
                && let Ok(id) = text.parse::<age::x25519::Identity>()
            {
                held.push(id);
            }
        }
    }
    Ok((conn, held))
}

/// Does any of `held` open the vault file (to the canary or the scan)?
fn opens(file: &Path, held: &[age::x25519::Identity]) -> Result<bool, Box<dyn std::error::Error>> {
    let bytes = std::fs::read(file)?;
    let ids: Vec<&dyn age::Identity> = held.iter().map(|i| i as &dyn age::Identity).collect();
    match age::Decryptor::new(&bytes[..])?.decrypt(ids.into_iter()) {
        Ok(mut r) => {
            let mut plain = Vec::new();
            r.read_to_end(&mut plain)?;
            assert!(
                plain == CANARY || plain.starts_with(SCANNED),
                "other content"
            );
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}

/// A store whose Administration added the caseworker `sb` and picked up one
/// application before anybody held a kind key.
fn with_caseworker(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let (mut admin, _) = init(dir)?;
    admin.add_user(&name("sb"), "Sam", Role::Sachbearbeitung, &pw(SB))?;
    admin.store_submission(&submission("sub-1"))?;
    admin.lock();
    Ok(())
}

#[test]
fn a_scanstelle_or_administration_password_does_not_open_case_documents_by_hand() -> R {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    let (mut admin, _) = init(&dir)?;
    admin.add_user(
        &name("sb"),
        "Sam Sachbearbeitung",
        Role::Sachbearbeitung,
        &pw(SB),
    )?;
    admin.add_user(&name("leitung"), "Lea Leitung", Role::Leitung, &pw(LEITUNG))?;
    admin.add_user(&name("scan"), "Sina Scan", Role::Scanstelle, &pw(SCAN))?;
    // Before any caseworker logged in there is no case key: the pickup of the
    // Administration writes to the vault key, as stores before the key ring did;
    // a scan taken in likewise.
    admin.store_submission(&submission("sub-1"))?;
    let early_scan = scan_product(&mut admin, "frueh.pdf")?;
    assert!(!admin.holds_case_key());
    admin.lock();

    // The first caseworker's login makes the case key and gives it to the Leitung
    // (published at her creation); the documents from before are re-encrypted.
    let mut sb = login(&dir, "sb", SB)?;
    assert!(sb.holds_case_key());
    assert_eq!(
        seal_all(&mut sb)?,
        1,
        "the application; the scan waits for the scan key"
    );
    assert_eq!(seal_all(&mut sb)?, 0, "nothing left");
    // What is picked up now goes to the case key at once, whoever runs the pickup.
    sb.store_submission(&submission("sub-2"))?;
    assert_eq!(seal_all(&mut sb)?, 0);
    let blobs = case_blobs(&sb)?;
    assert_eq!(blobs.len(), 2);
    for b in &blobs {
        let mut plain = Vec::new();
        sb.open_blob(&store::BlobId::parse(b)?)?
            .read_to_end(&mut plain)?;
        assert_eq!(plain, CANARY);
    }
    sb.lock();
    // The Scanstelle's first login makes the scan key; its sessions re-encrypt the
    // early scan (the keys' public parts are enough) and take new ones in sealed.
    let mut scan = login(&dir, "scan", SCAN)?;
    assert!(!scan.holds_case_key());
    // Since the caseworker's login the case rows live in their own database: a
    // pickup without the case key is refused, and nothing of it is kept.
    let refused = scan
        .store_submission(&submission("sub-3"))
        .err()
        .ok_or("stored without the case key")?;
    assert!(
        matches!(refused, StoreError::CaseKeyMissing(_)),
        "{refused}"
    );
    assert!(
        scan.list_cases(100, 0)?.is_empty(),
        "no case rows for the Scanstelle"
    );
    assert_eq!(seal_all(&mut scan)?, 1);
    let scans = vec![early_scan, scan_product(&mut scan, "spaet.pdf")?];
    for b in &scans {
        let mut plain = Vec::new();
        scan.open_blob(&store::BlobId::parse(b)?)?
            .read_to_end(&mut plain)?;
        assert!(plain.starts_with(SCANNED));
    }
    scan.lock();
    let leitung = login(&dir, "leitung", LEITUNG)?;
    assert!(leitung.holds_case_key(), "given at the caseworker's login");
    let blobs = case_blobs(&leitung)?;
    assert_eq!(blobs.len(), 2);
    leitung.lock();

    // In the app: refused with the reason.
    for (user, password, role, closed) in [
        ("scan", SCAN, "Scanstelle", &blobs),
        ("admin", common::PASSWORD, "Administration", &blobs),
        ("admin", common::PASSWORD, "Administration", &scans),
    ] {
        let s = login(&dir, user, password)?;
        for b in closed {
            let err = s
                .open_blob(&store::BlobId::parse(b)?)
                .err()
                .ok_or("a document opened")?;
            assert!(
                matches!(&err, StoreError::CaseKeyMissing(m) if m.contains(role)),
                "{err}"
            );
        }
        s.lock();
    }
    // By hand: every key the password leads to – the case documents open for the
    // caseworkers only, the scans for the Scanstelle and the caseworkers.
    for (password, cases, scanned) in [
        (SCAN, false, true),
        (common::PASSWORD, false, false),
        (SB, true, true),
        (LEITUNG, true, true),
    ] {
        let held = keys_by_hand(&dir, password)?;
        for b in &blobs {
            assert_eq!(
                opens(&vault_file(&dir, b), &held)?,
                cases,
                "{password}: {b}"
            );
        }
        for b in &scans {
            assert_eq!(
                opens(&vault_file(&dir, b), &held)?,
                scanned,
                "{password}: {b}"
            );
        }
    }
    Ok(())
}

#[test]
fn the_case_key_follows_the_users_and_comes_back_with_the_recovery_sheet() -> R {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    let (mut admin, recovery) = init(&dir)?;
    admin.add_user(&name("sb"), "Sam", Role::Sachbearbeitung, &pw(SB))?;
    admin.add_user(&name("sb2"), "Sina", Role::Sachbearbeitung, &pw(SB))?;
    admin.lock();
    let mut sb = login(&dir, "sb", SB)?;
    sb.store_submission(&submission("sub-1"))?;
    let blob = store::BlobId::parse(&case_blobs(&sb)?[0])?;
    // The own password changed: the own key and the grant stay.
    sb.set_password(&name("sb"), &pw("sb-neues-passwort"))?;
    sb.lock();
    let sb = login(&dir, "sb", "sb-neues-passwort")?;
    assert!(sb.holds_case_key());
    sb.lock();

    // A password set by the Administration: a new own key, the grant is void –
    // whoever set the password must not get the case key with it.
    let mut admin = login(&dir, "admin", common::PASSWORD)?;
    admin.set_password(&name("sb2"), &pw("sb2-vom-admin-1"))?;
    admin.lock();
    let sb2 = login(&dir, "sb2", "sb2-vom-admin-1")?;
    assert!(!sb2.holds_case_key());
    let err = sb2.open_blob(&blob).err().ok_or("opened without the key")?;
    assert!(
        matches!(&err, StoreError::CaseKeyMissing(m) if m.contains("noch nicht")),
        "{err}"
    );
    sb2.lock();
    // A holder's next login gives it again.
    login(&dir, "sb", "sb-neues-passwort")?.lock();
    let sb2 = login(&dir, "sb2", "sb2-vom-admin-1")?;
    assert!(sb2.holds_case_key());
    sb2.lock();

    // Another role or a removed user: the grant is gone from the key folder.
    let grants = |dir: &Path| -> Result<usize, std::io::Error> {
        Ok(std::fs::read_dir(dir.join("keys"))?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".fall.age"))
            .count())
    };
    assert_eq!(grants(&dir)?, 2);
    let mut admin = login(&dir, "admin", common::PASSWORD)?;
    admin.set_role(&name("sb2"), Role::Scanstelle)?;
    assert_eq!(grants(&dir)?, 1);
    admin.set_role(&name("sb2"), Role::Sachbearbeitung)?;
    admin.lock();
    login(&dir, "sb", "sb-neues-passwort")?.lock();
    assert_eq!(grants(&dir)?, 2, "given again by a holder");
    let mut admin = login(&dir, "admin", common::PASSWORD)?;
    admin.remove_user(&name("sb2"))?;
    assert_eq!(grants(&dir)?, 1);
    // The Administration resets the only holder: nobody holds the case key now…
    admin.set_password(&name("sb"), &pw("sb-vergessen-1"))?;
    assert_eq!(grants(&dir)?, 0);
    admin.lock();
    let sb = login(&dir, "sb", "sb-vergessen-1")?;
    assert!(!sb.holds_case_key());
    sb.lock();
    // …until the recovery sheet brings it back.
    let sb = Store::open(&dir, Clock::system())?.recover(
        &recovery,
        &name("sb"),
        &pw("sb-wiederhergestellt"),
    )?;
    assert!(sb.holds_case_key());
    let mut plain = Vec::new();
    sb.open_blob(&blob)?.read_to_end(&mut plain)?;
    assert_eq!(plain, CANARY);
    sb.lock();
    Ok(())
}

#[test]
fn the_outbox_is_case_content_and_waits_for_a_holders_sync_run() -> R {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    let (mut admin, _) = init(&dir)?;
    admin.add_user(&name("sb"), "Sam", Role::Sachbearbeitung, &pw(SB))?;
    admin.lock();
    let mut sb = login(&dir, "sb", SB)?;
    sb.store_submission(&submission("sub-1"))?;
    let blob = case_blobs(&sb)?[0].clone();
    for (key, order, payload) in [
        (
            "mail-1",
            "fc-a",
            format!(r#"{{"attachment":{{"blobId":"{blob}","filename":"Bescheid.pdf"}}}}"#),
        ),
        ("mail-2", "fc-a", r#"{"attachment":null}"#.to_string()),
        ("pay-1", "fc-b", r#"{"amount":"12.00"}"#.to_string()),
    ] {
        sb.enqueue(&NewOutboxItem {
            idempotency_key: key.into(),
            kind: "mail".into(),
            ordering_key: order.into(),
            payload,
        })?;
    }
    let due = |s: &Session| -> Result<Vec<String>, StoreError> {
        Ok(s.due_outbox("9999-01-01T00:00:00Z", 50)?
            .into_iter()
            .map(|i| i.idempotency_key)
            .filter(|k| k != "accept:sub-1")
            .collect())
    };
    assert_eq!(due(&sb)?, ["mail-1", "pay-1"]);
    // A delivery that failed for good, for the Administration to retry.
    let mail1 = sb
        .outbox_items(None)?
        .into_iter()
        .find(|i| i.idempotency_key == "mail-1")
        .ok_or("mail-1")?;
    sb.outbox_failed(mail1.id, "Empfänger abgelehnt")?;
    sb.lock();
    // The outbox (addresses, letters) lives with the cases: a session without the
    // case key sends nothing; it sees the plain overview a holder left – states,
    // references and errors, no payload.
    let mut admin = login(&dir, "admin", common::PASSWORD)?;
    assert!(due(&admin)?.is_empty());
    let overview = admin.outbox_items(None)?;
    assert_eq!(overview.len(), 4, "{overview:?}");
    assert!(overview.iter().all(|i| i.payload.is_empty()));
    let failed = admin.outbox_items(Some("failed"))?;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].last_error.as_deref(), Some("Empfänger abgelehnt"));
    // "Erneut versuchen" waits for the caseworker's next login.
    assert!(admin.outbox_requeue(mail1.id)?);
    assert!(admin.outbox_items(Some("failed"))?.is_empty());
    admin.lock();
    let sb = login(&dir, "sb", SB)?;
    assert!(sb.outbox_items(Some("failed"))?.is_empty(), "requeued");
    assert_eq!(due(&sb)?, ["mail-1", "pay-1"]);
    Ok(())
}

#[test]
fn a_store_from_before_the_key_ring_gets_it_at_the_next_logins() -> R {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    with_caseworker(&dir)?;
    // Make it a store from before: every password file holds the master key
    // alone, no recipient is published.
    let mut master = None;
    for entry in std::fs::read_dir(dir.join("keys"))? {
        let path = entry?.path();
        let file = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(file) = file else { continue };
        if !file.starts_with("u-") || !file.ends_with(".age") {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        for password in [SB, common::PASSWORD] {
            let mut id = age::scrypt::Identity::new(pw(password));
            id.set_max_work_factor(12);
            if let Ok(mut r) = age::Decryptor::new(&bytes[..])?.decrypt(std::iter::once(&id as _)) {
                let mut plain = Vec::new();
                r.read_to_end(&mut plain)?;
                let key = plain[..32].to_vec();
                let mut rec = age::scrypt::Recipient::new(pw(password));
                rec.set_work_factor(10);
                let enc = age::Encryptor::with_recipients(std::iter::once(&rec as _))?;
                let mut out = Vec::new();
                let mut w = enc.wrap_output(&mut out)?;
                std::io::Write::write_all(&mut w, &key)?;
                w.finish()?;
                std::fs::write(&path, out)?;
                master = Some(hex::encode(&key));
            }
        }
    }
    let master = master.ok_or("no password file opened")?;
    let conn = rusqlite::Connection::open(dir.join("amtsstube.db"))?;
    conn.execute_batch(&format!("PRAGMA key = \"x'{master}'\";"))?;
    conn.execute("UPDATE users SET recipient = NULL", [])?;
    drop(conn);

    let mut sb = login(&dir, "sb", SB)?;
    assert!(sb.holds_case_key(), "made at the first caseworker's login");
    assert_eq!(seal_all(&mut sb)?, 1);
    sb.lock();
    // The Administration's own key is made at her next login as well.
    login(&dir, "admin", common::PASSWORD)?.lock();
    let held = keys_by_hand(&dir, common::PASSWORD)?;
    let blob = {
        let sb = login(&dir, "sb", SB)?;
        let b = case_blobs(&sb)?[0].clone();
        sb.lock();
        b
    };
    assert!(!opens(&vault_file(&dir, &blob), &held)?);
    assert!(opens(&vault_file(&dir, &blob), &keys_by_hand(&dir, SB)?)?);
    Ok(())
}

#[test]
fn a_file_re_encrypted_before_a_crash_marked_it_is_left_to_a_holder() -> R {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    with_caseworker(&dir)?;
    let sb = login(&dir, "sb", SB)?;
    let blob = case_blobs(&sb)?[0].clone();
    sb.lock();
    // As if a pass had replaced the file and died before marking its row.
    let (conn, _) = open_by_hand(&dir, common::PASSWORD)?;
    let fall: String = conn.query_row(
        "SELECT value FROM secrets WHERE name = 'fall_recipient'",
        [],
        |r| r.get(0),
    )?;
    drop(conn);
    let fall: age::x25519::Recipient = fall.parse().map_err(|e: &str| e.to_string())?;
    let enc = age::Encryptor::with_recipients(std::iter::once(&fall as _))?;
    let mut out = Vec::new();
    let mut w = enc.wrap_output(&mut out)?;
    std::io::Write::write_all(&mut w, CANARY)?;
    w.finish()?;
    std::fs::write(vault_file(&dir, &blob), out)?;
    // The Administration's pass cannot read it: skipped, no error, nothing lost.
    let mut admin = login(&dir, "admin", common::PASSWORD)?;
    assert_eq!(seal_all(&mut admin)?, 0);
    admin.lock();
    // The caseworker's pass reads it with the case key and marks it.
    let mut sb = login(&dir, "sb", SB)?;
    assert_eq!(seal_all(&mut sb)?, 1);
    let mut plain = Vec::new();
    sb.open_blob(&store::BlobId::parse(&blob)?)?
        .read_to_end(&mut plain)?;
    assert_eq!(plain, CANARY);
    sb.lock();
    let admin = login(&dir, "admin", common::PASSWORD)?;
    let err = admin
        .open_blob(&store::BlobId::parse(&blob)?)
        .err()
        .ok_or("opened")?;
    assert!(matches!(err, StoreError::CaseKeyMissing(_)), "{err}");
    Ok(())
}

#[test]
fn a_grant_that_does_not_fit_is_removed_and_given_anew_by_a_holder() -> R {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    with_caseworker(&dir)?;
    let mut admin = login(&dir, "admin", common::PASSWORD)?;
    admin.add_user(&name("sb2"), "Sina", Role::Sachbearbeitung, &pw(SB))?;
    admin.lock();
    login(&dir, "sb", SB)?.lock();
    let grants: Vec<PathBuf> = std::fs::read_dir(dir.join("keys"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".fall.age"))
        .collect();
    assert_eq!(grants.len(), 2);
    // One user's grant put in place of the other's.
    std::fs::copy(&grants[0], &grants[1])?;
    let first = login(&dir, "sb", SB)?;
    let second = {
        let held = first.holds_case_key();
        first.lock();
        let s = login(&dir, "sb2", SB)?;
        let h = s.holds_case_key();
        s.lock();
        (held, h)
    };
    assert!(second.0 != second.1, "exactly one grant fits: {second:?}");
    // The holder's next login gives the other one the key again.
    login(&dir, "sb", SB)?.lock();
    login(&dir, "sb2", SB)?.lock();
    for user in ["sb", "sb2"] {
        let s = login(&dir, user, SB)?;
        assert!(s.holds_case_key(), "{user}");
        s.lock();
    }
    Ok(())
}

/// Every text value in every table `conn` can see (names of the tables included).
fn all_text(conn: &rusqlite::Connection) -> Result<String, Box<dyn std::error::Error>> {
    let mut out = String::new();
    let tables: Vec<String> = {
        let mut stmt =
            conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for t in tables {
        out.push_str(&t);
        out.push('\n');
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\""))?;
        let n = stmt.column_count();
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            for i in 0..n {
                if let Ok(rusqlite::types::ValueRef::Text(t)) = row.get_ref(i) {
                    out.push_str(&String::from_utf8_lossy(t));
                    out.push('\n');
                }
            }
        }
    }
    Ok(out)
}

/// `inhalt.db` opened by hand with the key derived from a case key.
fn inhalt_by_hand(
    dir: &Path,
    fall: &age::x25519::Identity,
) -> Result<rusqlite::Connection, Box<dyn std::error::Error>> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"amtsstube inhalt.db 1");
    h.update([0u8]);
    h.update(fall.to_string().expose_secret().as_bytes());
    let key = hex::encode(h.finalize());
    let conn = rusqlite::Connection::open(dir.join("inhalt.db"))?;
    conn.execute_batch(&format!("PRAGMA key = \"x'{key}'\";"))?;
    Ok(conn)
}

#[test]
fn case_rows_live_in_a_database_only_the_case_key_opens() -> R {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    with_caseworker(&dir)?;
    let mut admin = login(&dir, "admin", common::PASSWORD)?;
    admin.add_user(&name("scan"), "Sina Scan", Role::Scanstelle, &pw(SCAN))?;
    admin.lock();
    // Before any holder's login everything is in one file, as before.
    assert!(!dir.join("inhalt.db").exists());
    // The caseworker's first login splits the store; nothing is lost.
    let mut sb = login(&dir, "sb", SB)?;
    assert!(dir.join("inhalt.db").exists());
    assert_eq!(sb.list_cases(100, 0)?.len(), 1);
    sb.store_submission(&submission("sub-2"))?;
    assert_eq!(sb.list_cases(100, 0)?.len(), 2);
    sb.lock();

    // The Scanstelle approves a paper application: the case waits sealed to the
    // case key and is taken in at the caseworker's next login.
    let mut scan = login(&dir, "scan", SCAN)?;
    let blob = scan_product(&mut scan, "papier.pdf")?;
    let product = scan
        .scan_products("eingelesen")?
        .into_iter()
        .find(|p| p.blob_id == blob)
        .ok_or("product")?;
    let case_id = scan.approve_scan(&store::ScanApproval {
        product_id: &product.id,
        note: None,
        vermerk_xml: "<transfervermerk/>",
        seal_json: "{}".into(),
        case: store::NewCase {
            file_number: "HS-2026-000900".into(),
            case_type: "Hundesteuer-Anmeldung".into(),
            applicant: "Wiebke Quast".into(),
            status: "eingegangen".into(),
            received_at: "2026-12-02T09:00:00Z".into(),
        },
        case_type_code: None,
        checklist_json: "[]".into(),
        full_check: true,
    })?;
    assert!(
        scan.list_cases(100, 0)?.is_empty(),
        "the Scanstelle sees no case"
    );
    scan.lock();
    let sb = login(&dir, "sb", SB)?;
    let record = sb
        .case_record(&case_id)?
        .ok_or("the scanned case was not taken in")?;
    assert_eq!(record.applicant, "Wiebke Quast");
    assert_eq!(sb.case_documents(&case_id)?.len(), 2);
    assert_eq!(sb.list_cases(100, 0)?.len(), 3);
    sb.lock();

    // By hand: the Scanstelle's and the Administration's passwords open the main
    // file – no case row, no applicant in it – and nothing opens inhalt.db for them.
    for password in [SCAN, common::PASSWORD] {
        let (conn, held) = open_by_hand(&dir, password)?;
        let text = all_text(&conn)?;
        assert!(
            !text.contains("Quast"),
            "{password}: applicant in the main file"
        );
        assert!(
            !text.contains("\ncases\n"),
            "{password}: case table in the main file"
        );
        for id in &held {
            let other = inhalt_by_hand(&dir, id)?;
            assert!(
                other
                    .query_row("SELECT count(*) FROM sqlite_master", [], |r| r
                        .get::<_, i64>(0))
                    .is_err(),
                "{password}: a key of its own opens inhalt.db"
            );
        }
        // Nor does the master key itself.
        let master = rusqlite::Connection::open(dir.join("inhalt.db"))?;
        let (mk, _) = master_by_hand(&dir, password)?;
        master.execute_batch(&format!("PRAGMA key = \"x'{mk}'\";"))?;
        assert!(
            master
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r
                    .get::<_, i64>(0))
                .is_err(),
            "inhalt.db readable without a key"
        );
    }
    // The caseworker's keys do open it, and the applicant is there.
    let (_, held) = open_by_hand(&dir, SB)?;
    let opened = held
        .iter()
        .filter_map(|id| inhalt_by_hand(&dir, id).ok())
        .filter_map(|c| all_text(&c).ok())
        .find(|t| t.contains("Quast"));
    assert!(opened.is_some(), "the case key opens inhalt.db");
    Ok(())
}

#[test]
fn a_colleague_with_an_unreadable_public_key_does_not_stop_the_grants_to_the_others() -> R {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    with_caseworker(&dir)?;
    let mut admin = login(&dir, "admin", common::PASSWORD)?;
    admin.add_user(&name("sb2"), "Sina", Role::Sachbearbeitung, &pw(SB))?;
    admin.add_user(&name("sb3"), "Sven", Role::Sachbearbeitung, &pw(SB))?;
    admin.lock();
    // Every user's own key is published when the account is made; one is damaged
    // on disk before any holder of the case key has logged in.
    let (conn, _) = open_by_hand(&dir, common::PASSWORD)?;
    assert_eq!(
        conn.execute(
            "UPDATE users SET recipient = 'age1kaputt' WHERE username = 'sb2'",
            []
        )?,
        1
    );
    drop(conn);
    // The first holder's login still succeeds, makes the case key and gives it to
    // the colleague whose key is readable.
    login(&dir, "sb", SB)?.lock();
    let grants = std::fs::read_dir(dir.join("keys"))?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".fall.age"))
        .count();
    assert_eq!(grants, 2, "the grants for sb and sb3");
    let sb3 = login(&dir, "sb3", SB)?;
    assert!(sb3.holds_case_key());
    sb3.lock();
    Ok(())
}
