//! The facade over the real store: permissions and the locked state.

use domain::{Role, UserName};
use workstation::{ErrorCode, InitOptions, LoginRequest, StoreConfig, WorkListQuery, Workstation};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn login(
    ws: &mut Workstation,
    user: &str,
    password: &str,
) -> Result<workstation::SessionInfo, workstation::AppError> {
    ws.login(LoginRequest {
        username: user.into(),
        password: password.into(),
    })
}

/// A new store (administration `admin` / `admin-passwort-1`, fast key derivation),
/// logged in, and its recovery key as printed on the sheet.
fn init_with_key(
    dir: &std::path::Path,
) -> Result<(Workstation, String), Box<dyn std::error::Error>> {
    let (ws, recovery) = Workstation::init(
        dir,
        InitOptions {
            admin: UserName::parse("admin")?,
            admin_display_name: "Admin".into(),
            admin_password: "admin-passwort-1".to_owned().into(),
            config: StoreConfig {
                scrypt_log_n: 10,
                ..StoreConfig::default()
            },
        },
    )?;
    let key = age::secrecy::ExposeSecret::expose_secret(&recovery.secret_text()).to_string();
    Ok((ws, key))
}

fn provision(dir: &std::path::Path) -> Result<Workstation, Box<dyn std::error::Error>> {
    let (mut ws, _) = init_with_key(dir)?;
    for (name, role) in [
        ("sb1", Role::Sachbearbeitung),
        ("leitung", Role::Leitung),
        ("scan", Role::Scanstelle),
    ] {
        ws.add_user(name, name, role, format!("{name}-passwort-1"))?;
    }
    ws.logout();
    Ok(ws)
}

#[test]
fn every_read_is_refused_while_locked() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut ws = provision(&tmp.path().join("d"))?;
    assert_eq!(ws.session(), None);
    let err = ws.work_list(WorkListQuery::default()).err().map(|e| e.code);
    assert_eq!(err, Some(ErrorCode::Locked));
    assert_eq!(
        ws.list_users().err().map(|e| e.code),
        Some(ErrorCode::Locked)
    );
    assert_eq!(
        ws.verify_audit().err().map(|e| e.code),
        Some(ErrorCode::Locked)
    );
    assert_eq!(
        ws.set_password("sb1", "x".repeat(12)).err().map(|e| e.code),
        Some(ErrorCode::Locked)
    );
    // Logging out again is harmless, and after logout reads are refused again.
    login(&mut ws, "sb1", "sb1-passwort-1")?;
    assert!(ws.work_list(WorkListQuery::default()).is_ok());
    ws.logout();
    ws.logout();
    assert_eq!(
        ws.work_list(WorkListQuery::default()).err().map(|e| e.code),
        Some(ErrorCode::Locked)
    );
    assert!(!ws.status().unlocked);
    Ok(())
}

#[test]
fn roles_see_what_they_may() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut ws = provision(&tmp.path().join("d"))?;

    let me = login(&mut ws, "sb1", "sb1-passwort-1")?;
    assert_eq!(me.role, Role::Sachbearbeitung);
    assert_eq!(ws.work_list(WorkListQuery::default())?.total, 0);
    assert_eq!(
        ws.list_users().err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        ws.add_user("x1", "x", Role::Admin, "x1-passwort-1".into())
            .err()
            .map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    // Nobody but the administration sets someone else's password.
    assert_eq!(
        ws.set_password("leitung", "gekapert-123".into())
            .err()
            .map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );

    login(&mut ws, "scan", "scan-passwort-1")?;
    assert_eq!(
        ws.work_list(WorkListQuery::default()).err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );

    login(&mut ws, "admin", "admin-passwort-1")?;
    // The administration manages users but does not see case content.
    assert_eq!(
        ws.work_list(WorkListQuery::default()).err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(ws.list_users()?.len(), 4);
    assert!(ws.verify_audit()?.is_intact());

    login(&mut ws, "leitung", "leitung-passwort-1")?;
    assert!(ws.work_list(WorkListQuery::default()).is_ok());
    Ok(())
}

#[test]
fn login_errors_are_german_and_typed() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut ws = provision(&tmp.path().join("d"))?;
    let e = login(&mut ws, "sb1", "falsch").err().ok_or("accepted")?;
    assert_eq!(e.code, ErrorCode::WrongCredentials);
    assert!(e.message.contains("Passwort ist falsch"), "{}", e.message);
    let e = login(&mut ws, "../../etc/passwd", "x")
        .err()
        .ok_or("accepted")?;
    assert_eq!(e.code, ErrorCode::WrongCredentials);
    for _ in 0..4 {
        let _ = login(&mut ws, "sb1", "falsch");
    }
    let e = login(&mut ws, "sb1", "sb1-passwort-1")
        .err()
        .ok_or("accepted")?;
    assert_eq!(e.code, ErrorCode::LockedOut);
    assert!(e.message.contains("gesperrt"), "{}", e.message);
    // A failed login leaves no session behind.
    assert_eq!(ws.session(), None);
    Ok(())
}

#[test]
fn own_password_change_needs_the_old_password() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut ws = provision(&tmp.path().join("d"))?;
    login(&mut ws, "sb1", "sb1-passwort-1")?;
    assert_eq!(
        ws.change_own_password("falsch".into(), "neues-passwort-1".into())
            .err()
            .map(|e| e.code),
        Some(ErrorCode::WrongCredentials)
    );
    ws.change_own_password("sb1-passwort-1".into(), "neues-passwort-1".into())?;
    ws.logout();
    assert!(login(&mut ws, "sb1", "sb1-passwort-1").is_err());
    login(&mut ws, "sb1", "neues-passwort-1")?;
    Ok(())
}

#[test]
fn the_administration_manages_users_on_its_screen() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut ws = provision(&tmp.path().join("d"))?;
    // Five wrong passwords lock sb1 out.
    for _ in 0..5 {
        assert!(login(&mut ws, "sb1", "falsches-passwort").is_err());
    }
    assert_eq!(
        login(&mut ws, "sb1", "sb1-passwort-1")
            .err()
            .map(|e| e.code),
        Some(ErrorCode::LockedOut)
    );
    // A caseworker sees none of it.
    login(&mut ws, "leitung", "leitung-passwort-1")?;
    assert_eq!(
        ws.admin_users().err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        ws.set_user_role("sb1", Role::Leitung).err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    ws.logout();

    login(&mut ws, "admin", "admin-passwort-1")?;
    let users = ws.admin_users()?;
    let sb1 = users.iter().find(|u| u.username == "sb1").ok_or("sb1")?;
    assert!(sb1.locked_until.is_some(), "{sb1:?}");
    assert!(users.iter().any(|u| u.username == "admin" && u.own));
    ws.unlock_user("sb1")?;
    assert!(ws.admin_users()?.iter().all(|u| u.locked_until.is_none()));
    ws.admin_set_password("scan", "scan-neues-passwort".into())?;
    // Roles: another's, not the own, never the last administration away.
    ws.set_user_role("sb1", Role::Leitung)?;
    assert_eq!(
        ws.set_user_role("admin", Role::Leitung)
            .err()
            .map(|e| e.code),
        Some(ErrorCode::InvalidInput)
    );
    ws.admin_add_user(workstation::NewUserRequest {
        username: " admin2 ".into(),
        display_name: "Zweite Administration".into(),
        role: Role::Admin,
        password: "admin2-passwort-1".into(),
    })?;
    ws.logout();
    login(&mut ws, "admin2", "admin2-passwort-1")?;
    ws.set_user_role("admin", Role::Sachbearbeitung)?;
    ws.logout();
    login(&mut ws, "sb1", "sb1-passwort-1")?;
    assert_eq!(ws.session().map(|s| s.role), Some(Role::Leitung));
    assert_eq!(
        ws.admin_set_password("scan", "noch-ein-passwort".into())
            .err()
            .map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    ws.logout();
    login(&mut ws, "scan", "scan-neues-passwort")?;
    ws.logout();
    // admin2 is now the last administration: "admin" (a caseworker now) cannot
    // take its role away, and nobody can.
    login(&mut ws, "admin", "admin-passwort-1")?;
    assert_eq!(
        ws.admin_users().err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    ws.logout();
    let entries = {
        login(&mut ws, "admin2", "admin2-passwort-1")?;
        let e = ws.audit_entries(50)?;
        ws.logout();
        e
    };
    assert!(
        entries
            .iter()
            .any(|e| e.action == "benutzer.rolle" && e.object == "sb1:leitung")
    );
    assert!(
        entries
            .iter()
            .any(|e| e.action == "benutzer.entsperrt" && e.object == "sb1")
    );
    Ok(())
}

#[test]
fn the_administration_sees_and_sets_the_operation_settings() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut ws = provision(&tmp.path().join("d"))?;
    login(&mut ws, "sb1", "sb1-passwort-1")?;
    assert_eq!(
        ws.admin_settings().err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        ws.admin_audit_check().err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        ws.admin_failed_outbox().err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    ws.logout();
    login(&mut ws, "admin", "admin-passwort-1")?;
    let before = ws.admin_settings()?;
    assert_eq!(
        (
            before.lock_after_seconds,
            before.poll_seconds,
            before.portal_configured
        ),
        (600, 300, false)
    );
    assert_eq!(
        (
            before.hkr_folder.clone(),
            before.scan_folder.clone(),
            before.person_reports
        ),
        (None, None, false)
    );
    let kasse = tmp.path().join("kasse");
    let scanner = tmp.path().join("scanner");
    std::fs::create_dir_all(&kasse)?;
    std::fs::create_dir_all(&scanner)?;
    ws.set_lock_after(900)?;
    ws.set_poll_interval(120)?;
    ws.set_hkr_folder(&kasse.display().to_string())?;
    ws.scan_set_folder(&scanner)?;
    ws.set_person_reports(true)?;
    let after = ws.admin_settings()?;
    assert_eq!(after.lock_after_seconds, 900);
    assert_eq!(after.poll_seconds, 120);
    assert_eq!(after.hkr_folder, Some(kasse.display().to_string()));
    assert_eq!(after.scan_folder, Some(scanner.display().to_string()));
    assert!(after.person_reports);
    let check = ws.admin_audit_check()?;
    assert!(
        check.intact && check.entries > 5 && check.problems.is_empty(),
        "{check:?}"
    );
    assert!(ws.admin_failed_outbox()?.is_empty());
    assert!(ws.admin_quarantine()?.is_empty());
    Ok(())
}

#[test]
fn the_administration_sets_the_letterhead_in_the_app() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("d");
    let mut ws = provision(&dir)?;
    login(&mut ws, "sb1", "sb1-passwort-1")?;
    assert_eq!(
        ws.town_details().err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    ws.logout();
    login(&mut ws, "admin", "admin-passwort-1")?;
    // The first steps: staff exists, the rest is open.
    let steps = ws.admin_setup_steps()?;
    assert_eq!(
        (
            steps.letterhead,
            steps.portal,
            steps.staff,
            steps.backup,
            steps.office
        ),
        (false, false, true, false, false)
    );
    let mut d = ws.town_details()?;
    assert_eq!(d.behoerde, "Gemeinde Musterstadt");
    d.behoerde = "Stadt Kleinhausen".into();
    d.iban = "DE89 3704 0044 0532 0130 00".into();
    ws.set_town_details(d.clone())?;
    assert_eq!(ws.town_details()?, d);
    let file = std::fs::read_to_string(dir.join("gemeinde.toml"))?;
    assert!(file.contains("Stadt Kleinhausen") && file.contains("[[rechtsbehelf]]"));
    assert!(dir.join("wappen.png").exists(), "the crest went missing");
    assert!(
        ws.admin_setup_steps()?.letterhead,
        "the letterhead step is done"
    );
    // A wrong IBAN leaves the file as it was.
    let err = ws
        .set_town_details(workstation::config::TownDetails {
            iban: "DE00 0000".into(),
            ..d.clone()
        })
        .err()
        .ok_or("accepted")?;
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert_eq!(std::fs::read_to_string(dir.join("gemeinde.toml"))?, file);
    assert!(
        ws.audit_entries(5)?
            .iter()
            .any(|e| e.action == "einstellung.gemeinde")
    );
    Ok(())
}

/// Right after the first run the recovery sheet can be saved as PDF – into a folder
/// outside the data directory, as a private file – and no longer once the key is
/// written down or somebody logged in.
#[test]
fn the_recovery_sheet_is_saved_once_right_after_the_first_run() -> TestResult {
    use workstation::{SetupMode, SetupRequest};
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");
    let (mut ws, done) = Workstation::first_run(
        &dir,
        SetupRequest {
            mode: SetupMode::Allein,
            admin: "admin".into(),
            display_name: "Administration".into(),
            password: "admin-passwort-1".into(),
            office: None,
        },
    )?;
    let stick = tmp.path().join("usb");
    for bad in ["usb", "", dir.join("keys").to_str().ok_or("Pfad")?] {
        let e = ws.save_recovery_sheet(bad).err().ok_or("refused")?;
        assert_eq!(e.code, ErrorCode::InvalidInput, "{bad}: {e:?}");
    }
    let path = ws.save_recovery_sheet(stick.to_str().ok_or("Pfad")?)?;
    assert_eq!(path, stick.join("wiederherstellungsschluessel.pdf"));
    let pdf = std::fs::read(&path)?;
    assert!(pdf.starts_with(b"%PDF-"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o077, 0);
    }
    let text = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()?;
    let text: String = String::from_utf8_lossy(&text.stdout)
        .split_whitespace()
        .collect();
    assert!(
        text.contains(&done.recovery_key),
        "the whole key on the sheet"
    );
    // A second copy gets its own name; nothing is replaced.
    let second = ws.save_recovery_sheet(stick.to_str().ok_or("Pfad")?)?;
    assert_ne!(second, path);
    ws.forget_recovery_key();
    assert!(
        ws.save_recovery_sheet(stick.to_str().ok_or("Pfad")?)
            .is_err()
    );
    // Never after a login either.
    let (mut again, _) = Workstation::first_run(
        &tmp.path().join("zweiter"),
        SetupRequest {
            mode: SetupMode::Allein,
            admin: "admin".into(),
            display_name: "Administration".into(),
            password: "admin-passwort-1".into(),
            office: None,
        },
    )?;
    login(&mut again, "admin", "admin-passwort-1")?;
    let e = again
        .save_recovery_sheet(stick.to_str().ok_or("Pfad")?)
        .err()
        .ok_or("refused after login")?;
    assert!(
        e.message.contains("nur direkt nach der Einrichtung"),
        "{e:?}"
    );
    Ok(())
}

/// A new PC after a broken one, without a terminal: the first run restores a backup
/// from the stick with the recovery key; the users log in with their passwords.
#[test]
fn the_first_run_restores_a_backup_onto_a_new_pc() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (mut ws, key) = init_with_key(&tmp.path().join("alt"))?;
    ws.add_user("sb1", "sb1", Role::Sachbearbeitung, "sb1-passwort-1".into())?;
    let stick = tmp.path().join("usb");
    let prepared = ws.prepare_backup(true, Some(stick.clone()))?;
    let written = ws.finish_backup(prepared.run(&mut |_, _| {}))?;
    drop(ws);

    let new = tmp.path().join("neu");
    let archive = written.path.display().to_string();
    // A relative or missing path, a wrong key: refused, nothing left behind.
    for (path, k) in [
        ("sicherung.age".to_owned(), key.clone()),
        (stick.join("fehlt.age").display().to_string(), key.clone()),
        (archive.clone(), "AGE-SECRET-KEY-1FALSCH".to_owned()),
    ] {
        let e = Workstation::restore_first_run(&new, &path, k)
            .err()
            .ok_or("refused")?;
        assert!(!e.message.is_empty());
        assert!(workstation::setup_due(&new), "{path}: {e:?}");
    }
    // Typed from the sheet: grouped and over two lines.
    let (prefix, rest) = key.split_at(16);
    let typed = format!(
        "{prefix}\n{}",
        rest.as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (mut restored, summary) = Workstation::restore_first_run(&new, &archive, typed)?;
    assert!(summary.audit_intact);
    login(&mut restored, "sb1", "sb1-passwort-1")?;
    // Only onto an empty PC.
    let again = Workstation::restore_first_run(&new, &archive, key)
        .err()
        .ok_or("twice")?;
    assert!(again.message.contains("bereits eingerichtet"), "{again:?}");
    Ok(())
}

/// "Passwort vergessen" at the login: the recovery key sets a new password and logs
/// in; a wrong key or a short password changes nothing.
#[test]
fn a_forgotten_password_is_set_anew_with_the_recovery_key() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (mut ws, key) = init_with_key(&tmp.path().join("d"))?;
    ws.logout();
    let other = age::x25519::Identity::generate();
    let wrong = age::secrecy::ExposeSecret::expose_secret(&other.to_string()).to_string();
    assert!(
        ws.recover(&wrong, "admin", "neues-passwort-1".into())
            .is_err()
    );
    assert!(ws.recover(&key, "admin", "kurz".into()).is_err());
    assert!(ws.session().is_none());
    login(&mut ws, "admin", "admin-passwort-1")?;
    ws.logout();
    let info = ws.recover(&key.to_lowercase(), "admin", "neues-passwort-1".into())?;
    assert_eq!(info.username, "admin");
    ws.logout();
    assert!(login(&mut ws, "admin", "admin-passwort-1").is_err());
    login(&mut ws, "admin", "neues-passwort-1")?;
    Ok(())
}

#[test]
fn a_user_is_told_when_the_keys_of_the_role_are_not_given_yet() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut ws = provision(&tmp.path().join("d"))?;
    // The first caseworker makes the case key; the Leitung, known already, gets it.
    assert!(!login(&mut ws, "sb1", "sb1-passwort-1")?.case_key_pending);
    ws.logout();
    assert!(!login(&mut ws, "leitung", "leitung-passwort-1")?.case_key_pending);
    ws.logout();
    // Not a question for roles without case content; the Scanstelle's first login
    // makes the scan key.
    let scan = login(&mut ws, "scan", "scan-passwort-1")?;
    assert!(!scan.case_key_pending && !scan.scan_key_pending);
    ws.logout();
    assert!(!login(&mut ws, "admin", "admin-passwort-1")?.scan_key_pending);
    ws.logout();
    // A colleague added later by the Administration (who holds no case key) waits
    // for a holder's login.
    login(&mut ws, "admin", "admin-passwort-1")?;
    ws.add_user("sb2", "sb2", Role::Sachbearbeitung, "sb2-passwort-1".into())?;
    ws.add_user(
        "scan2",
        "scan2",
        Role::Scanstelle,
        "scan2-passwort-1".into(),
    )?;
    // The administration sees who holds which key and who waits.
    let keys = |ws: &Workstation, user: &str| -> Result<Vec<String>, workstation::AppError> {
        Ok(ws
            .admin_users()?
            .into_iter()
            .find(|u| u.username == user)
            .map(|u| u.keys)
            .unwrap_or_default())
    };
    assert_eq!(keys(&ws, "sb1")?, ["Vorgangsinhalte: freigegeben"]);
    assert_eq!(keys(&ws, "sb2")?, ["Vorgangsinhalte: wartet auf Freigabe"]);
    assert_eq!(
        keys(&ws, "leitung")?,
        ["Vorgangsinhalte: freigegeben", "Scanprodukte: freigegeben"]
    );
    assert!(keys(&ws, "admin")?.is_empty());
    ws.logout();
    assert!(login(&mut ws, "scan2", "scan2-passwort-1")?.scan_key_pending);
    ws.logout();
    login(&mut ws, "scan", "scan-passwort-1")?;
    ws.logout();
    assert!(!login(&mut ws, "scan2", "scan2-passwort-1")?.scan_key_pending);
    ws.logout();
    let info = login(&mut ws, "sb2", "sb2-passwort-1")?;
    assert!(info.case_key_pending);
    assert_eq!(ws.session().map(|s| s.case_key_pending), Some(true));
    ws.logout();
    login(&mut ws, "sb1", "sb1-passwort-1")?;
    ws.logout();
    assert!(!login(&mut ws, "sb2", "sb2-passwort-1")?.case_key_pending);
    Ok(())
}
