//! The real SQLCipher store on a temp dir.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use domain::{Role, UserName};
use store::{
    AuditProblem, BlobId, Clock, ExposeSecret, InitOptions, NewCase, SecretString, Session, Store,
    StoreConfig, StoreError,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn name(s: &str) -> UserName {
    UserName::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn fast_config() -> StoreConfig {
    StoreConfig {
        max_failed_attempts: 3,
        lockout_seconds: 600,
        scrypt_log_n: 10,
    }
}

/// A clock the test can move forward.
fn manual_clock() -> (Clock, Arc<AtomicI64>) {
    let secs = Arc::new(AtomicI64::new(1_795_000_000));
    let s = secs.clone();
    let clock = Clock::from_fn(move || {
        jiff::Timestamp::from_second(s.load(Ordering::SeqCst))
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    });
    (clock, secs)
}

fn init(dir: &Path, clock: Clock) -> Result<(Session, String), StoreError> {
    let (session, recovery) = Store::init(
        dir,
        InitOptions {
            admin: name("admin"),
            admin_display_name: "Alex Admin".into(),
            admin_password: pw("admin-passwort-1"),
            config: fast_config(),
        },
        clock,
    )?;
    Ok((session, recovery.secret_text().expose_secret().to_owned()))
}

fn all_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn unlock_wrong_password_and_lockout() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    let (clock, secs) = manual_clock();
    let (session, _) = init(&dir, clock.clone())?;
    let store = session.lock();

    let s = store.unlock(&name("admin"), &pw("admin-passwort-1"))?;
    assert_eq!(s.user().role, Role::Admin);
    drop(s.lock());

    let err = store.unlock(&name("admin"), &pw("falsch-falsch")).err();
    assert!(
        matches!(err, Some(StoreError::WrongPassword { remaining: 2 })),
        "{err:?}"
    );
    let msg = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("Passwort ist falsch"), "{msg}");
    assert!(matches!(
        store.unlock(&name("admin"), &pw("falsch-falsch")),
        Err(StoreError::WrongPassword { remaining: 1 })
    ));
    assert!(matches!(
        store.unlock(&name("admin"), &pw("falsch-falsch")),
        Err(StoreError::LockedOut { .. })
    ));
    // While locked out even the right password is refused.
    assert!(matches!(
        store.unlock(&name("admin"), &pw("admin-passwort-1")),
        Err(StoreError::LockedOut { .. })
    ));
    // The lockout survives reopening the store (it is on disk).
    let reopened = Store::open(&dir, clock.clone())?;
    assert!(matches!(
        reopened.unlock(&name("admin"), &pw("admin-passwort-1")),
        Err(StoreError::LockedOut { .. })
    ));
    // After the lockout period the right password works and the failures are audited.
    secs.fetch_add(601, Ordering::SeqCst);
    let s = reopened.unlock(&name("admin"), &pw("admin-passwort-1"))?;
    let actions: Vec<String> = s.audit_entries(3)?.into_iter().map(|e| e.action).collect();
    assert_eq!(actions[0], "anmeldung");
    assert_eq!(actions[1], "anmeldung.fehlversuche");
    // Unknown users get the same answer as a wrong password.
    assert!(matches!(
        reopened.unlock(&name("niemand"), &pw("irgendwas-123")),
        Err(StoreError::WrongPassword { .. })
    ));
    Ok(())
}

#[test]
fn plain_sqlite_cannot_open_the_database() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    let (session, _) = init(&dir, Clock::system())?;
    drop(session.lock());
    let db = dir.join("amtsstube.db");
    let bytes = std::fs::read(&db)?;
    assert!(
        !bytes.starts_with(b"SQLite format 3\0"),
        "database header is plaintext"
    );
    // Opening without a key is what plain SQLite does.
    let conn = rusqlite_plain_open(&db)?;
    assert!(conn.is_err(), "plain SQLite read the encrypted database");
    Ok(())
}

/// Read with Debian's plain `sqlite3` tool (no SQLCipher, no key). Ok(Err) when it cannot read the file.
fn rusqlite_plain_open(path: &Path) -> Result<Result<i64, String>, Box<dyn std::error::Error>> {
    let out = std::process::Command::new("sqlite3")
        .arg(path)
        .arg("SELECT count(*) FROM sqlite_master;")
        .output();
    match out {
        // With the sqlite3 tool installed, ask it directly.
        Ok(o) => Ok(if o.status.success() {
            Ok(String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse()
                .unwrap_or(-1))
        } else {
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        }),
        Err(e) => Err(format!(
            "the sqlite3 tool is needed for this test (apt-get install sqlite3): {e}"
        )
        .into()),
    }
}

#[test]
fn canary_is_nowhere_in_the_data_directory() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    let (mut session, _) = init(&dir, Clock::system())?;
    let canary = "KANARIENVOGEL-7f3a9c-Müller";
    session.insert_case(&NewCase {
        file_number: "MB-2026-000001".into(),
        case_type: "Meldebescheinigung".into(),
        applicant: canary.into(),
        status: "eingegangen".into(),
        received_at: "2026-11-23T09:00:00Z".into(),
    })?;
    let mut doc = Vec::new();
    for i in 0..2000 {
        writeln!(doc, "Zeile {i}: {canary}")?;
    }
    let info = session.put_blob(doc.as_slice())?;
    // Checked both while the database is open (WAL present) and after closing.
    for phase in ["offen", "gesperrt"] {
        for file in all_files(&dir) {
            let bytes = std::fs::read(&file)?;
            assert!(
                !contains(&bytes, canary.as_bytes()),
                "{phase}: canary in {}",
                file.display()
            );
            assert!(
                !contains(&bytes, b"KANARIENVOGEL"),
                "{phase}: canary in {}",
                file.display()
            );
        }
        if phase == "offen" {
            let store = std::mem::replace(&mut session, placeholder()?).lock();
            session = store.unlock(&name("admin"), &pw("admin-passwort-1"))?;
            assert_eq!(session.list_cases(10, 0)?[0].applicant, canary);
            let mut back = Vec::new();
            session.open_blob(&info.id)?.read_to_end(&mut back)?;
            assert_eq!(back, doc);
            drop(std::mem::replace(&mut session, placeholder()?).lock());
        }
    }
    Ok(())
}

/// A throwaway session in its own temp dir, used to move a session out of a variable.
fn placeholder() -> Result<Session, StoreError> {
    let tmp = tempfile::tempdir().map_err(|e| StoreError::InvalidInput(e.to_string()))?;
    let dir = tmp.keep().join("p");
    Ok(init(&dir, Clock::system())?.0)
}

#[test]
fn users_passwords_and_recovery_never_reencrypt_data() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    let (mut admin, recovery) = init(&dir, Clock::system())?;
    let blob = admin.put_blob(&b"Dokumentinhalt"[..])?;
    let vault_files: Vec<_> = all_files(&dir.join("vault"));
    let snapshot: Vec<Vec<u8>> = vault_files
        .iter()
        .map(std::fs::read)
        .collect::<Result<_, _>>()?;

    admin.add_user(
        &name("sb1"),
        "Sam Bearbeitung",
        Role::Sachbearbeitung,
        &pw("sb1-passwort-1"),
    )?;
    assert!(matches!(
        admin.add_user(
            &name("sb1"),
            "Doppelt",
            Role::Sachbearbeitung,
            &pw("sb1-passwort-1")
        ),
        Err(StoreError::UserExists(_))
    ));
    assert!(matches!(
        admin.add_user(&name("kurz"), "Kurz", Role::Leitung, &pw("kurz")),
        Err(StoreError::PasswordTooShort { .. })
    ));
    let store = admin.lock();

    // New user logs in and changes the password.
    let mut sb = store.unlock(&name("sb1"), &pw("sb1-passwort-1"))?;
    assert_eq!(sb.user().role, Role::Sachbearbeitung);
    sb.set_password(&name("sb1"), &pw("sb1-neues-passwort"))?;
    drop(sb.lock());
    assert!(store.unlock(&name("sb1"), &pw("sb1-passwort-1")).is_err());
    let sb = store.unlock(&name("sb1"), &pw("sb1-neues-passwort"))?;
    drop(sb.lock());

    // Recovery with the identity from the sheet sets a new admin password.
    assert!(matches!(
        store.recover("AGE-SECRET-KEY-1QQQ", &name("admin"), &pw("neu-neu-neu-1")),
        Err(StoreError::InvalidRecoveryKey)
    ));
    let other = Store::init(
        &tmp.path().join("other"),
        InitOptions {
            admin: name("admin"),
            admin_display_name: "X".into(),
            admin_password: pw("admin-passwort-1"),
            config: fast_config(),
        },
        Clock::system(),
    )?
    .1;
    assert!(matches!(
        store.recover(
            other.secret_text().expose_secret(),
            &name("admin"),
            &pw("neu-neu-neu-1")
        ),
        Err(StoreError::WrongRecoveryKey)
    ));
    let mut admin = store.recover(&recovery, &name("admin"), &pw("nach-wiederherstellung"))?;
    let mut back = Vec::new();
    admin.open_blob(&blob.id)?.read_to_end(&mut back)?;
    assert_eq!(back, b"Dokumentinhalt");

    // Remove the user: the key file goes, the login fails, the audit row stays.
    admin.remove_user(&name("sb1"))?;
    assert!(matches!(
        admin.remove_user(&name("admin")),
        Err(StoreError::LastAdmin)
    ));
    drop(admin.lock());
    assert!(
        store
            .unlock(&name("sb1"), &pw("sb1-neues-passwort"))
            .is_err()
    );
    assert!(
        store
            .unlock(&name("admin"), &pw("admin-passwort-1"))
            .is_err()
    );
    let admin = store.unlock(&name("admin"), &pw("nach-wiederherstellung"))?;

    // None of it touched the encrypted documents.
    let after: Vec<Vec<u8>> = vault_files
        .iter()
        .map(std::fs::read)
        .collect::<Result<_, _>>()?;
    assert_eq!(snapshot, after);
    let report = admin.verify_audit()?;
    assert!(report.is_intact(), "{:?}", report.problems);
    Ok(())
}

#[test]
fn init_refuses_an_existing_directory_and_open_refuses_an_empty_one() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    drop(init(&dir, Clock::system())?.0.lock());
    assert!(matches!(
        init(&dir, Clock::system()),
        Err(StoreError::AlreadyInitialised(_))
    ));
    assert!(matches!(
        Store::open(&tmp.path().join("leer"), Clock::system()),
        Err(StoreError::NotInitialised(_))
    ));
    std::fs::write(dir.join("store.json"), b"{kaputt")?;
    assert!(matches!(
        Store::open(&dir, Clock::system()),
        Err(StoreError::Corrupt(_))
    ));
    Ok(())
}

#[test]
fn large_blob_streams_and_leftovers_are_cleaned_at_unlock() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    let (mut s, _) = init(&dir, Clock::system())?;
    // 12 MiB from a generator: never held in memory by the vault.
    let size = 12 * 1024 * 1024u64;
    let src = std::io::repeat(0xA5).take(size);
    let info = s.put_blob(src)?;
    assert_eq!(info.size, size);
    let mut n = 0u64;
    let mut r = s.open_blob(&info.id)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        assert!(buf[..k].iter().all(|&b| b == 0xA5));
        n += k as u64;
    }
    assert_eq!(n, size);

    // Simulate the leftovers of a crash: a partial write and a finished file without row.
    std::fs::write(
        dir.join("vault/tmp/0123456789abcdef0123456789abcdef.part"),
        b"halb",
    )?;
    std::fs::create_dir_all(dir.join("vault/ff"))?;
    std::fs::write(
        dir.join("vault/ff/ff23456789abcdef0123456789abcdef"),
        b"verwaist",
    )?;
    let store = s.lock();
    let s = store.unlock(&name("admin"), &pw("admin-passwort-1"))?;
    assert_eq!(s.vault_check().removed_partial, 1);
    assert_eq!(s.vault_check().removed_orphans, 1);
    assert_eq!(s.vault_check().missing, 0);
    assert!(
        !dir.join("vault/ff/ff23456789abcdef0123456789abcdef")
            .exists()
    );
    assert_eq!(s.blob_ids()?, vec![info.id.clone()]);

    // Hostile ids never reach the file system.
    for bad in [
        "../../store.json",
        "tmp",
        "0123456789ABCDEF0123456789ABCDEF",
        "",
    ] {
        assert!(BlobId::parse(bad).is_err(), "{bad}");
    }
    let unknown = BlobId::parse("00000000000000000000000000000000")?;
    assert!(matches!(
        s.open_blob(&unknown),
        Err(StoreError::BlobMissing(_))
    ));
    Ok(())
}

#[test]
fn damaged_blob_fails_loudly() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    let (mut s, _) = init(&dir, Clock::system())?;
    let data = vec![7u8; 300_000];
    let info = s.put_blob(data.as_slice())?;
    let path = dir
        .join("vault")
        .join(&info.id.as_str()[..2])
        .join(info.id.as_str());
    let mut bytes = std::fs::read(&path)?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, &bytes)?;
    let mut out = Vec::new();
    let res = s.open_blob(&info.id).map(|mut r| r.read_to_end(&mut out));
    assert!(!matches!(res, Ok(Ok(_))), "a flipped bit went unnoticed");
    Ok(())
}

/// The scrypt work factor in a key file's age header (`-> scrypt <salt> <n>`).
fn work_factor(path: &Path) -> Option<u8> {
    let bytes = std::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .find(|l| l.starts_with("-> scrypt "))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
}

#[test]
fn a_lowered_work_factor_in_store_json_does_not_weaken_new_passwords() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    let (s, _) = Store::init(
        &dir,
        InitOptions {
            admin: name("admin"),
            admin_display_name: "Alex Admin".into(),
            admin_password: pw("admin-passwort-1"),
            config: StoreConfig {
                scrypt_log_n: 12,
                ..fast_config()
            },
        },
        Clock::system(),
    )?;
    drop(s.lock());
    // Someone with access to the folder lowers the factor in store.json.
    let file = dir.join("store.json");
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file)?)?;
    json["scryptLogN"] = serde_json::json!(10);
    std::fs::write(&file, serde_json::to_vec(&json)?)?;
    let store = Store::open(&dir, Clock::system())?;
    assert_eq!(store.config().scrypt_log_n, 10, "the edit took: {json}");
    let mut s = store.unlock(&name("admin"), &pw("admin-passwort-1"))?;
    s.set_password(&name("admin"), &pw("neues-passwort-1"))?;
    s.add_user(
        &name("bea"),
        "Bea",
        Role::Sachbearbeitung,
        &pw("bea-passwort-12"),
    )?;
    let factors: Vec<Option<u8>> = std::fs::read_dir(dir.join("keys"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".age"))
        .filter(|e| e.file_name().to_string_lossy().starts_with("u-"))
        .map(|e| work_factor(&e.path()))
        .collect();
    assert_eq!(factors, vec![Some(12), Some(12)], "{factors:?}");
    Ok(())
}

#[test]
fn swapped_vault_files_are_refused_with_a_reason() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    let (mut s, _) = init(&dir, Clock::system())?;
    // Two intact documents of the same size: each file alone is a valid age file.
    let a = s.put_blob(vec![1u8; 100_000].as_slice())?;
    let b = s.put_blob(vec![2u8; 100_000].as_slice())?;
    let c = s.put_blob(vec![3u8; 50_000].as_slice())?;
    let path = |id: &BlobId| dir.join("vault").join(&id.as_str()[..2]).join(id.as_str());
    let (pa, pb, pc) = (path(&a.id), path(&b.id), path(&c.id));
    let (ba, bb) = (std::fs::read(&pa)?, std::fs::read(&pb)?);
    std::fs::write(&pa, &bb)?;
    std::fs::write(&pb, &ba)?;
    for id in [&a.id, &b.id] {
        let mut out = Vec::new();
        let err = s.open_blob(id)?.read_to_end(&mut out).err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.to_string().contains("vertauscht oder ersetzt")),
            "{err:?}"
        );
    }
    // A file of another size put in place: refused also when read by seeking.
    std::fs::write(&pa, std::fs::read(&pc)?)?;
    let mut r = s.open_blob(&a.id)?;
    assert!(std::io::Seek::seek(&mut r, std::io::SeekFrom::End(0)).is_err());
    // The untouched one still reads, by stream and by seek.
    let mut out = Vec::new();
    s.open_blob(&c.id)?.read_to_end(&mut out)?;
    assert_eq!(out, vec![3u8; 50_000]);
    let mut r = s.open_blob(&c.id)?;
    assert_eq!(
        std::io::Seek::seek(&mut r, std::io::SeekFrom::End(0))?,
        50_000
    );
    Ok(())
}

/// Tampering: the database file replaced by an older copy of itself (taken while
/// the store was closed) verifies on its own – the anchor outside it finds it at the
/// next login, records the finding, and every later check of the chain shows it.
#[test]
fn an_older_copy_of_the_database_is_found_by_the_anchor_outside_it() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");
    let (clock, _) = manual_clock();
    let (s, _) = init(&dir, clock)?;
    let mut store = s.lock();
    let db = dir.join("amtsstube.db");
    let old = std::fs::read(&db)?;
    for _ in 0..3 {
        let s = store.unlock(&name("admin"), &pw("admin-passwort-1"))?;
        assert!(s.verify_audit()?.is_intact());
        store = s.lock();
    }
    assert!(dir.join("keys/audit-anker.json").exists());
    std::fs::write(&db, &old)?;
    let s = store.unlock(&name("admin"), &pw("admin-passwort-1"))?;
    let report = s.verify_audit()?;
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, AuditProblem::RolledBack { .. })),
        "{:?}",
        report.problems
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.to_string().contains("ältere Kopie")),
        "{:?}",
        report.problems
    );
    let actions: Vec<String> = s.audit_entries(3)?.into_iter().map(|e| e.action).collect();
    assert!(
        actions.iter().any(|a| a == "protokoll.anker_abweichung"),
        "{actions:?}"
    );
    // Logins go on; the finding stays until someone looks into it.
    let store = s.lock();
    let s = store.unlock(&name("admin"), &pw("admin-passwort-1"))?;
    assert!(!s.verify_audit()?.is_intact());
    Ok(())
}

#[test]
fn verify_password_counts_attempts_but_opens_nothing() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    let (session, _) = init(&dir, Clock::system())?;
    let store = session.lock();
    assert!(matches!(
        store.verify_password(&name("admin"), &pw("falsch-falsch")),
        Err(StoreError::WrongPassword { remaining: 2 })
    ));
    store.verify_password(&name("admin"), &pw("admin-passwort-1"))?;
    // The success reset the counter: two more failures do not lock yet.
    assert!(matches!(
        store.verify_password(&name("admin"), &pw("falsch-falsch")),
        Err(StoreError::WrongPassword { remaining: 2 })
    ));
    let s = store.unlock(&name("admin"), &pw("admin-passwort-1"))?;
    let actions: Vec<String> = s.audit_entries(4)?.into_iter().map(|e| e.action).collect();
    // Only the real login is an "anmeldung"; both failures are reported with it.
    assert_eq!(actions[0], "anmeldung");
    assert_eq!(actions[1], "anmeldung.fehlversuche");
    assert_eq!(s.audit_entries(4)?[1].object, "2");
    assert_eq!(actions[2], "abmeldung");
    Ok(())
}

/// A scan is streamed into the vault and must be what the intake checked: when the
/// bytes differ from the checked hash (the file changed meanwhile), nothing is
/// recorded and no vault file is left behind.
#[test]
fn a_scan_that_changed_while_read_is_refused_and_leaves_nothing() -> TestResult {
    use sha2::Digest;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    let (mut s, _) = init(&dir, Clock::system())?;
    let vault_files = |dir: &Path| all_files(&dir.join("vault")).len();
    let before = vault_files(&dir);
    let checked = vec![1u8; 200_000];
    let mut changed = checked.clone();
    changed[100_000] = 2;
    let sha = hex::encode(sha2::Sha256::digest(&checked));
    let err = s
        .add_scan_product("scan.tif", "image/tiff", 1, &sha, changed.as_slice(), None)
        .err()
        .ok_or("a changed scan was stored")?;
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert!(err.to_string().contains("geändert"), "{err}");
    assert_eq!(vault_files(&dir), before, "no file left in the vault");
    assert!(s.scan_by_hash(&sha)?.is_none());
    // The unchanged bytes go in.
    let id = s
        .add_scan_product("scan.tif", "image/tiff", 1, &sha, checked.as_slice(), None)?
        .ok_or("not stored")?;
    // Both hashes of the Transfervermerk are taken in that one pass.
    let stored = s.scan_product(&id)?.ok_or("no product")?;
    assert_eq!(stored.sha256, sha);
    assert_eq!(
        stored.sha512.as_deref(),
        Some(hex::encode(sha2::Sha512::digest(&checked)).as_str())
    );
    Ok(())
}

/// Every Aktenzeichen comes from one allocator: after the town's pattern and this
/// workstation's block, counted per case type and year; a type the numbering does not
/// know, or a session without numbering, is refused instead of numbered somehow.
#[test]
fn file_numbers_from_the_one_allocator() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (mut session, _) = init(&tmp.path().join("d"), Clock::system())?;
    let refused = session.allocate_file_number("GEW", 2026);
    assert!(
        matches!(&refused, Err(StoreError::InvalidInput(m)) if m.contains("GEW")),
        "{refused:?}"
    );
    let gew = domain::casetype::CaseType {
        kuerzel: "GEW".into(),
        name: "Gewerbeanmeldung".into(),
        leika: "urn:de:fim:leika:leistung:99050012104000".into(),
        zielzeit_tage: 14,
        ..domain::casetype::CaseType::default()
    };
    session.set_numbering(store::Numbering {
        pattern: "{kuerzel}-{jahr}-{arbeitsplatz}{nummer}".into(),
        arbeitsplatz: 7,
        types: vec![gew],
    });
    assert_eq!(
        session.allocate_file_number("GEW", 2026)?,
        "GEW-2026-0700001"
    );
    assert_eq!(
        session.allocate_file_number("GEW", 2026)?,
        "GEW-2026-0700002"
    );
    assert_eq!(
        session.allocate_file_number("GEW", 2027)?,
        "GEW-2027-0700001"
    );
    assert!(session.allocate_file_number("HST", 2026).is_err());
    assert_eq!(session.next_counter("kassenzeichen-07")?, 1);
    assert_eq!(session.next_counter("kassenzeichen-07")?, 2);
    Ok(())
}

/// The search finds every match, page by page, counts them like the list, and is
/// driven by the index (asking the index once per case took most of a minute at
/// 100,000 cases; `worklist_bench` measures it).
#[test]
fn search_results_are_paged_counted_and_read_from_the_index_first() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (mut session, _) = init(&tmp.path().join("s"), Clock::system())?;
    let cases: Vec<NewCase> = (0..300)
        .map(|i| NewCase {
            file_number: format!("HU-2026-{i:06}"),
            case_type: "Hundesteuer-Anmeldung".into(),
            applicant: if i % 5 < 2 {
                format!("Hanna Schulz {i}")
            } else {
                format!("Piotr Nowak {i}")
            },
            status: "eingegangen".into(),
            received_at: format!("2026-11-{:02}T09:00:00Z", 1 + i % 28),
        })
        .collect();
    session.insert_cases(&cases)?;
    let all = store::CaseFilter::All;
    assert_eq!(session.count_search("schulz", &all)?, 120);
    assert_eq!(session.count_search("Schu", &all)?, 120, "a word prefix");
    assert_eq!(session.count_search("Schulz Hanna", &all)?, 120);
    assert_eq!(session.count_search("Meier", &all)?, 0);
    assert_eq!(session.count_search("   ", &all)?, 0);
    let mut seen = std::collections::BTreeSet::new();
    let mut sizes = Vec::new();
    for page in 0..4 {
        let found = session.search_cases("schulz", &all, 50, page * 50)?;
        sizes.push(found.len());
        for c in found {
            assert!(c.applicant.contains("Schulz"), "{}", c.applicant);
            assert!(seen.insert(c.file_number), "each case once");
        }
    }
    assert_eq!(sizes, [50, 50, 20, 0]);
    // The filter applies to the count as to the pages.
    let mine = store::CaseFilter::AssignedTo("sb1".into());
    assert_eq!(session.count_search("schulz", &mine)?, 0);
    assert!(session.search_cases("schulz", &mine, 50, 0)?.is_empty());
    // FTS syntax typed in has no effect.
    assert_eq!(session.count_search("schulz OR nowak", &all)?, 0);
    // The index's hits come first; each case is looked up by its row id.
    let plan = session.search_plan()?;
    assert!(
        plan.first()
            .is_some_and(|p| p.starts_with("SCAN s VIRTUAL TABLE")),
        "{plan:?}"
    );
    assert!(
        plan.iter()
            .any(|p| p.starts_with("SEARCH c USING INTEGER PRIMARY KEY")),
        "{plan:?}"
    );
    Ok(())
}

/// The caseworker's list comes in arrival order from an index (sorting all her
/// cases for every first page grew with the store; `worklist_bench` measures it).
#[test]
fn a_caseworkers_list_is_read_in_order_from_an_index() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (session, _) = init(&tmp.path().join("s"), Clock::system())?;
    let plan = session.query_plan(
        "SELECT id FROM cases WHERE assigned_to = 'sb1' ORDER BY received_at DESC, file_number LIMIT 50",
    )?;
    assert_eq!(
        plan,
        ["SEARCH cases USING INDEX cases_assignee_worklist (assigned_to=?)"],
        "{plan:?}"
    );
    Ok(())
}

/// Deadline order and the deadline windows read the keys the workstation set;
/// every new case, every change of its deadline facts or history and other rules
/// make a key stale, so the list is never ordered by an outdated deadline.
#[test]
fn deadline_keys_order_the_list_and_go_stale_with_every_change() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (mut session, _) = init(&tmp.path().join("s"), Clock::system())?;
    let cases: Vec<NewCase> = (0..6)
        .map(|i| NewCase {
            file_number: format!("HU-2026-{i:06}"),
            case_type: "Hundesteuer-Anmeldung".into(),
            applicant: format!("Person {i}"),
            status: "eingegangen".into(),
            received_at: format!("2026-11-{:02}T09:00:00Z", 1 + i),
        })
        .collect();
    session.insert_cases(&cases)?;
    let stale = session.stale_due_cases()?;
    assert_eq!(stale.len(), 6, "new cases have no key yet");
    let id = |n: usize| {
        stale
            .iter()
            .find(|c| c.file_number == format!("HU-2026-{n:06}"))
    };
    let mut dues = Vec::new();
    for (n, due) in [
        (0, Some("2026-12-20")),
        (1, Some("2026-12-01")),
        (2, None),
        (3, Some("2026-12-10")),
        (4, Some("2026-11-20")),
        (5, Some("2026-12-10")),
    ] {
        let c = id(n).ok_or("case missing")?;
        dues.push((c.id.clone(), due.map(str::to_owned)));
    }
    session.set_case_dues(&dues)?;
    assert!(session.stale_due_cases()?.is_empty());
    let all = store::CaseFilter::All;
    let order: Vec<String> = session
        .case_records(&all, store::CaseOrder::Deadline, 50, 0)?
        .into_iter()
        .map(|c| c.file_number)
        .collect();
    assert_eq!(
        order,
        [
            "HU-2026-000004",
            "HU-2026-000001",
            "HU-2026-000003",
            "HU-2026-000005",
            "HU-2026-000000",
            "HU-2026-000002"
        ],
        "earliest deadline first, ties by Aktenzeichen, none last"
    );
    let page: Vec<String> = session
        .case_records(&all, store::CaseOrder::Deadline, 2, 2)?
        .into_iter()
        .map(|c| c.file_number)
        .collect();
    assert_eq!(page, ["HU-2026-000003", "HU-2026-000005"]);
    // Windows: overdue before 2026-12-02, due from then to 2026-12-16.
    let overdue = store::DueWindow {
        from: None,
        until: "2026-12-01".into(),
    };
    let soon = store::DueWindow {
        from: Some("2026-12-02".into()),
        until: "2026-12-16".into(),
    };
    assert_eq!(session.count_case_records_due(&all, Some(&overdue))?, 2);
    // The same window in memory (replicas): both ends inclusive.
    assert!(soon.contains("2026-12-02") && soon.contains("2026-12-16"));
    assert!(!soon.contains("2026-12-01") && !soon.contains("2026-12-17"));
    assert!(overdue.contains("2026-12-01") && !overdue.contains("2026-12-02"));
    assert_eq!(session.count_case_records_due(&all, Some(&soon))?, 2);
    let soon_list =
        session.case_records_due(&all, Some(&soon), store::CaseOrder::NewestFirst, 50, 0)?;
    assert_eq!(
        soon_list
            .iter()
            .map(|c| c.file_number.as_str())
            .collect::<Vec<_>>(),
        ["HU-2026-000005", "HU-2026-000003"]
    );
    // A search within a window.
    assert_eq!(session.count_search_due("Person", &all, Some(&soon))?, 2);
    let found = session.search_cases_due("Person", &all, Some(&overdue), 50, 0)?;
    let mut found: Vec<&str> = found.iter().map(|c| c.file_number.as_str()).collect();
    found.sort_unstable();
    assert_eq!(found, ["HU-2026-000001", "HU-2026-000004"]);
    // The scope applies to windows as to the list.
    let mine = store::CaseFilter::AssignedTo("sb1".into());
    assert_eq!(session.count_case_records_due(&mine, Some(&overdue))?, 0);
    // Windows and keys are plain dates, nothing else reaches the SQL.
    let hostile = store::DueWindow {
        from: None,
        until: "2026-12-01' OR 1=1 --".into(),
    };
    assert!(
        session
            .count_case_records_due(&all, Some(&hostile))
            .is_err()
    );
    let c0 = id(0).ok_or("case missing")?.id.clone();
    assert!(
        session
            .set_case_dues(&[(c0.clone(), Some("morgen".into()))])
            .is_err()
    );
    // A change of the deadline facts makes the key stale.
    session.record_transition(&store::Transition {
        case_id: &c0,
        from: "eingegangen",
        to: "in_pruefung",
        kind: "pruefung_beginnen",
        detail: None,
        complete_at: None,
        waiting_from: None,
    })?;
    let stale: Vec<String> = session
        .stale_due_cases()?
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(stale, [c0]);
    // Other rules: everything again.
    assert_eq!(session.due_basis()?, None);
    session.renew_due_basis("regeln-1")?;
    assert_eq!(session.due_basis()?.as_deref(), Some("regeln-1"));
    assert_eq!(session.stale_due_cases()?.len(), 6);
    // The first page in deadline order walks the deadline index, no sort of all cases.
    let plan = session.query_plan(
        "SELECT c.id FROM case_due d CROSS JOIN cases c ON c.id = d.case_id ORDER BY d.due_key, c.file_number LIMIT 50",
    )?;
    assert!(
        plan.first().is_some_and(|p| p.contains("case_due_order")),
        "{plan:?}"
    );
    // The orders by state and by assignee read an index, no sort of all cases.
    for (order, index) in [
        (store::CaseOrder::Status, "cases_status_order"),
        (store::CaseOrder::Assignee, "cases_assignee_order"),
    ] {
        let plan = session.case_list_plan(order)?;
        assert!(
            plan.iter().any(|p| p.contains(index))
                && !plan.iter().any(|p| p.contains("TEMP B-TREE")),
            "{order:?}: {plan:?}"
        );
    }
    Ok(())
}

/// Case `i` of a run of dog-tax registrations.
fn dog_tax_case(i: u32) -> NewCase {
    NewCase {
        file_number: format!("HU-2026-{i:06}"),
        case_type: "Hundesteuer-Anmeldung".into(),
        applicant: format!("Person {i}"),
        status: "eingegangen".into(),
        received_at: "2026-11-02T09:00:00Z".into(),
    }
}

/// The deadline job reads every case with its history one case at a time: each case
/// exactly once, with its own entries in the order they were made, cases without
/// history included, whatever order the cases were made and changed in.
#[test]
fn every_case_comes_once_with_its_own_history_in_order() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (mut session, _) = init(&tmp.path().join("s"), Clock::system())?;
    session.insert_cases(&(1..=7).map(dog_tax_case).collect::<Vec<_>>())?;
    let ids: Vec<String> = session
        .all_case_records()?
        .into_iter()
        .map(|r| r.id)
        .collect();
    // Entries interleaved across cases; cases 1 and 5 keep none.
    let mut made: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (step, k) in [3, 0, 6, 3, 2, 0, 6, 6, 3].into_iter().enumerate() {
        if k == 1 || k == 5 {
            continue;
        }
        let detail = format!("Schritt {step}");
        session.assign_case(&ids[k], Some("sb1"), Some(detail.clone()))?;
        made.entry(ids[k].clone()).or_default().push(detail);
    }
    for all in [true, false] {
        let mut seen = std::collections::BTreeMap::new();
        session.for_each_due_case(all, |c, h| {
            let details: Vec<String> = h.into_iter().filter_map(|e| e.detail).collect();
            assert!(seen.insert(c.id, details).is_none(), "a case twice");
        })?;
        let expected: std::collections::BTreeMap<String, Vec<String>> = ids
            .iter()
            .map(|id| (id.clone(), made.get(id).cloned().unwrap_or_default()))
            .collect();
        assert_eq!(seen, expected, "all = {all}");
    }
    Ok(())
}

/// A second, read-only session for reading beside the first (another thread): it
/// sees the same record, including what the first commits later, and refuses writes.
#[test]
fn a_reader_and_a_worker_beside_the_session() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (mut session, _) = init(&tmp.path().join("s"), Clock::system())?;
    let case = dog_tax_case;
    session.insert_cases(&[case(1), case(2)])?;
    let mut reader = session.reader()?;
    let read = reader.due_cases_with_history(false)?;
    assert_eq!(read.len(), 2);
    assert_eq!(reader.stale_due_count()?, 2);
    // Every case has a key row from the start (none until computed).
    assert_eq!(
        reader
            .case_records_due(
                &store::CaseFilter::All,
                None,
                store::CaseOrder::Deadline,
                10,
                0
            )?
            .len(),
        2
    );
    // What the first session commits later is seen by the reader.
    session.insert_cases(&[case(3)])?;
    assert_eq!(reader.stale_due_count()?, 3);
    // Writes are refused, and the record stays as it was.
    let refused = reader.set_case_dues(&[(read[0].0.id.clone(), Some("2026-12-01".into()))]);
    assert!(refused.is_err(), "a reader wrote");
    assert_eq!(session.stale_due_count()?, 3);
    // Dropping the reader leaves the first session working.
    drop(reader);
    session.set_case_dues(&[(read[0].0.id.clone(), Some("2026-12-01".into()))])?;
    assert_eq!(session.stale_due_count()?, 2);

    // A worker stores keys beside the first session: not for a case changed after
    // the position it started from, and none once the rules' record changed.
    let mut worker = session.worker()?;
    let (_, mark) = session.case_changes_span()?;
    let stale: Vec<String> = worker
        .stale_due_cases()?
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(stale.len(), 2);
    session.add_note(&stale[0], "geändert, während gerechnet wurde")?;
    session.set_case_type_code(&stale[0], "HU")?;
    let keys: Vec<(String, Option<String>)> = stale
        .iter()
        .map(|id| (id.clone(), Some("2026-12-24".to_owned())))
        .collect();
    assert_eq!(worker.store_due_keys(&keys, mark, None)?, Some(1));
    assert_eq!(
        session
            .stale_due_cases()?
            .iter()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>(),
        [stale[0].clone()]
    );
    session.set_due_basis("andere Regeln")?;
    assert_eq!(
        worker.store_due_keys(&keys, mark, None)?,
        None,
        "the rules changed meanwhile"
    );
    assert_eq!(session.stale_due_count()?, 1);
    Ok(())
}

/// The database opened by hand, as whoever holds the recovery sheet could: `age`
/// unwraps the master key, SQLCipher opens the file with it.
fn by_hand(dir: &Path, recovery: &str) -> Result<rusqlite::Connection, Box<dyn std::error::Error>> {
    let identity: age::x25519::Identity = recovery.parse()?;
    let wrapped = std::fs::read(dir.join("keys/recovery.age"))?;
    let key = age::decrypt(&identity, &wrapped)?;
    let conn = rusqlite::Connection::open(dir.join("amtsstube.db"))?;
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", hex::encode(&key)))?;
    Ok(conn)
}

/// The audit chain as SHA-256 alone would recompute it (the formula in audit.rs).
fn recompute_chain(
    conn: &rusqlite::Connection,
) -> Result<(i64, String), Box<dyn std::error::Error>> {
    use sha2::{Digest, Sha256};
    let rows: Vec<(i64, String, String, String, String)> = conn
        .prepare("SELECT seq, at, actor, action, object FROM audit_log ORDER BY seq")?
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut prev = "0".repeat(64);
    let mut last = 0;
    for (seq, at, actor, action, object) in rows {
        let mut h = Sha256::new();
        for f in [prev.as_str(), &at, &actor, &action, &object] {
            h.update((f.len() as u64).to_be_bytes());
            h.update(f.as_bytes());
        }
        let hash = hex::encode(h.finalize());
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![prev, hash, seq],
        )?;
        prev = hash;
        last = seq;
    }
    conn.execute(
        "UPDATE audit_head SET seq = ?1, hash = ?2",
        rusqlite::params![last, prev],
    )?;
    Ok((last, prev))
}

/// A store from before the head's seal gets it at the next login (recorded); a chain
/// then changed and recomputed by hand with the master key – SQLCipher and SHA-256,
/// the anchor file removed – is found by the seal alone.
#[test]
fn the_audit_chain_is_sealed_at_login_and_a_chain_redone_by_hand_is_found() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");
    let (clock, _) = manual_clock();
    let (s, recovery) = init(&dir, clock)?;
    let store = s.lock();
    // As a store of the previous version: no seal on the head.
    {
        let conn = by_hand(&dir, &recovery)?;
        conn.execute("UPDATE audit_head SET mac = NULL", [])?;
    }
    let s = store.unlock(&name("admin"), &pw("admin-passwort-1"))?;
    let report = s.verify_audit()?;
    assert!(report.is_intact(), "{:?}", report.problems);
    let actions: Vec<String> = s.audit_entries(3)?.into_iter().map(|e| e.action).collect();
    assert!(
        actions.iter().any(|a| a == "protokoll.versiegelt"),
        "{actions:?}"
    );
    let store = s.lock();

    // Someone with the recovery sheet changes an entry and recomputes the chain.
    {
        let conn = by_hand(&dir, &recovery)?;
        conn.execute_batch("DROP TRIGGER audit_log_no_update;")?;
        let n = conn.execute(
            "UPDATE audit_log SET actor = 'niemand' WHERE action = 'anmeldung' AND seq = (SELECT min(seq) FROM audit_log WHERE action = 'anmeldung')",
            [],
        )?;
        assert_eq!(n, 1);
        recompute_chain(&conn)?;
    }
    std::fs::remove_file(dir.join("keys/audit-anker.json"))?;
    let s = store.unlock(&name("admin"), &pw("admin-passwort-1"))?;
    let report = s.verify_audit()?;
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, AuditProblem::HeadForged { .. })),
        "{:?}",
        report.problems
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.to_string().contains("ohne den Schlüssel")),
        "{:?}",
        report.problems
    );
    Ok(())
}

/// Deleting the anchor outside the database (to hide a rollback) is itself found:
/// the database notes that an anchor was written.
#[test]
fn a_deleted_audit_anchor_is_found_at_the_next_login() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");
    let (clock, _) = manual_clock();
    let (s, _) = init(&dir, clock)?;
    let store = s.lock();
    let anchor = dir.join("keys/audit-anker.json");
    assert!(anchor.exists());
    let s = store.unlock(&name("admin"), &pw("admin-passwort-1"))?;
    assert!(s.verify_audit()?.is_intact());
    let store = s.lock();
    std::fs::remove_file(&anchor)?;
    let s = store.unlock(&name("admin"), &pw("admin-passwort-1"))?;
    let report = s.verify_audit()?;
    assert_eq!(report.problems, vec![AuditProblem::AnchorMissing]);
    assert!(report.problems[0].to_string().contains("fehlt"));
    let actions: Vec<String> = s.audit_entries(3)?.into_iter().map(|e| e.action).collect();
    assert!(
        actions.iter().any(|a| a == "protokoll.anker_abweichung"),
        "{actions:?}"
    );
    assert!(!anchor.exists(), "not silently made again");
    Ok(())
}

/// A time-stamped entry rewritten later – the chain recomputed by hand with the
/// master key – no longer has the hash the service vouched for.
#[test]
fn a_time_stamped_entry_changed_afterwards_is_found() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");
    let (clock, _) = manual_clock();
    let (mut s, recovery) = init(&dir, clock)?;
    let (seq, hash) = s.audit_head()?.ok_or("no head")?;
    s.record_audit_timestamp(&store::AuditTimestamp {
        seq,
        hash: hash.clone(),
        service: "http://127.0.0.1/tsr".into(),
        gen_time: "2026-12-01T10:00:00Z".into(),
        token: vec![0x30, 0x00],
    })?;
    assert_eq!(s.audit_timestamps()?.len(), 1);
    assert!(s.verify_audit()?.is_intact());
    let store = s.lock();
    {
        let conn = by_hand(&dir, &recovery)?;
        conn.execute_batch("DROP TRIGGER audit_log_no_update;")?;
        conn.execute(
            "UPDATE audit_log SET actor = 'niemand' WHERE seq = ?1",
            [seq],
        )?;
        recompute_chain(&conn)?;
    }
    let s = store.unlock(&name("admin"), &pw("admin-passwort-1"))?;
    let report = s.verify_audit()?;
    assert!(
        report.problems.iter().any(|p| matches!(
            p,
            AuditProblem::TimestampedEntryChanged { seq: at, .. } if *at == seq
        )),
        "{:?}",
        report.problems
    );
    Ok(())
}
