//! The restore drill: a store with cases in every state, documents, letters and
//! outbox items waiting is backed up while a synchronisation runs (the real
//! `amtsstube` process beside it), restored onto an empty directory, and then every
//! case, document, outbox item and the audit chain are compared. A backup killed
//! with SIGKILL leaves no archive that looks complete.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use amtsstube_tests::app::{amtsstube_bin, login};
use amtsstube_tests::sim::BoxError;
use domain::Role;
use store::{ARCHIVE_PREFIX, ARCHIVE_SUFFIX};
use workstation::{LetterKind, LetterRequest, WorkListQuery, Workstation};

type R = Result<(), BoxError>;

fn case_ids(ws: &mut Workstation) -> Result<BTreeSet<String>, BoxError> {
    let list = ws.work_list(WorkListQuery {
        limit: 500,
        ..WorkListQuery::default()
    })?;
    Ok(list.items.into_iter().map(|c| c.id).collect())
}

fn archives_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.starts_with(ARCHIVE_PREFIX) && n.ends_with(ARCHIVE_SUFFIX))
        .collect()
}

/// Every table but the audit chain's, which the restore continues by one entry.
fn without_audit(
    d: std::collections::BTreeMap<String, store::TableDigest>,
) -> std::collections::BTreeMap<String, store::TableDigest> {
    d.into_iter()
        .filter(|(t, _)| !t.starts_with("audit_"))
        .collect()
}

/// Read every document to its end: the vault checks size and SHA-256 on the way.
fn read_all_documents(ws: &mut Workstation) -> Result<usize, BoxError> {
    let session = ws.session_for_import()?;
    let ids = session.blob_ids()?;
    for id in &ids {
        let mut sink = Vec::new();
        session.open_blob(id)?.read_to_end(&mut sink)?;
    }
    Ok(ids.len())
}

#[test]
fn restore_drill_everything_comes_back_and_a_changed_archive_is_refused() -> R {
    let rt = tokio::runtime::Runtime::new()?;
    let run = rt.block_on(amtsstube_tests::sim::start(Path::new(env!(
        "CARGO_TARGET_TMPDIR"
    ))))?;
    portal_sim::seed::seed(&mut run.sim.lock(), 24, 31)?;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");
    let target = tmp.path().join("usb");
    let (mut ws, recovery) = amtsstube_tests::local::workstation_with_recovery(
        &dir,
        Some(&run),
        &[("sb1", Role::Sachbearbeitung), ("leitung", Role::Leitung)],
    )?;
    ws.set_backup_settings(workstation::BackupSettings {
        folder: target.display().to_string(),
        keep: 5,
        interval_hours: 24,
        warn_after_days: 3,
    })?;
    std::fs::write(dir.join("gemeinde.toml"), workstation::config::DEFAULT_TOWN)?;

    // Cases in every state, their documents, letters and outbox items waiting.
    login(&mut ws, "leitung")?;
    let first = ws.sync_now()?;
    assert_eq!(first.new_cases, 24, "{first:?}");
    let moved = workstation::demo::spread_states(&mut ws, &["sb1".to_owned()])?;
    assert!(moved >= 15, "{moved}");
    let mut letters = 0;
    for id in case_ids(&mut ws)? {
        let sent = ws.send_letter(&LetterRequest {
            case_id: id,
            kind: LetterKind::Eingangsbestaetigung,
            fees: Vec::new(),
            edits: Vec::new(),
            kanal: "postfach".into(),
        });
        letters += usize::from(sent.is_ok());
    }
    assert!(letters >= 3, "{letters} letters");
    let before_sync = case_ids(&mut ws)?;
    ws.logout();

    // New submissions, fetched by the real program while the backup runs.
    portal_sim::seed::seed(&mut run.sim.lock(), 12, 32)?;
    let mut sync = Command::new(amtsstube_bin()?)
        .args(["--data-dir"])
        .arg(&dir)
        .args(["sync", "--as", "sb1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    sync.stdin
        .take()
        .ok_or("stdin")?
        .write_all(b"sb1-passwort-1\n")?;
    // The scheduled backup, under the Leitung's session: the case content is
    // snapshotted with the case key, counted and its tables' digests recorded.
    login(&mut ws, "leitung")?;
    let prepared = ws.prepare_backup(false, None)?;
    let mut steps = Vec::new();
    let during = ws.finish_backup(prepared.run(&mut |d, t| steps.push((d, t))))?;
    let synced = sync.wait_with_output()?;
    assert!(
        synced.status.success(),
        "{}",
        String::from_utf8_lossy(&synced.stderr)
    );
    assert!(
        steps.last().is_some_and(|(d, t)| d == t && *t > 0),
        "{steps:?}"
    );
    assert!(during.manifest.documents > 0 && during.manifest.cases >= before_sync.len() as u64);
    assert!(ws.backup_status()?.last_good.is_some());
    assert_eq!(ws.backup_status()?.warning, None);
    ws.logout();

    // Restored onto an empty directory: one consistent state between the two.
    let again = tmp.path().join("neuer-pc");
    let summary = workstation::backup::restore(&during.path, &recovery, &again)?;
    assert!(summary.audit_intact);
    assert_eq!(summary.configuration, vec!["gemeinde.toml".to_owned()]);
    let mut back = Workstation::open(&again)?;
    login(&mut back, "leitung")?;
    let restored = case_ids(&mut back)?;
    assert!(restored.is_superset(&before_sync), "cases lost");
    assert_eq!(restored.len() as u64, during.manifest.cases);
    assert_eq!(
        read_all_documents(&mut back)? as u64,
        during.manifest.documents
    );
    back.logout();

    // Quiet now: a second backup must give back exactly what the PC holds.
    login(&mut ws, "leitung")?;
    let live_cases = case_ids(&mut ws)?;
    assert!(
        live_cases.len() > before_sync.len(),
        "the sync fetched nothing"
    );
    // Before the backup: afterwards its own state is recorded in the store. The
    // digests cover the case content's tables too (outbox included).
    let live_digests = ws.session_for_import()?.table_digests()?;
    assert!(
        live_digests
            .get("inhalt.outbox")
            .is_some_and(|d| d.rows > 0),
        "no outbox items"
    );
    ws.logout();
    // By hand by the Administration: without the case key the case content is
    // copied as it lies, not counted – and restored all the same.
    login(&mut ws, "admin")?;
    // The Administration sees the outbox's plain overview (no payloads).
    let live_outbox = ws.outbox(false)?;
    assert!(!live_outbox.is_empty(), "no outbox items");
    let prepared = ws.prepare_backup(true, None)?;
    let quiet = ws.finish_backup(prepared.run(&mut |_, _| {}))?;
    assert!(!quiet.manifest.cases_counted);
    let head = quiet.manifest.audit_head.clone().ok_or("no audit head")?;
    let live_audit: Vec<_> = ws
        .audit_entries(u32::MAX)?
        .into_iter()
        .filter(|e| e.seq <= head.0)
        .collect();
    ws.logout();

    let again2 = tmp.path().join("zweiter-pc");
    workstation::backup::restore(&quiet.path, &recovery, &again2)?;
    let mut back = Workstation::open(&again2)?;
    login(&mut back, "admin")?;
    assert_eq!(back.outbox(false)?, live_outbox);
    let audit = back.audit_entries(u32::MAX)?;
    // Newest first: this login, the restore's own entry, then the chain as it was.
    let at = audit
        .iter()
        .position(|e| e.action == "datenbestand.wiederhergestellt")
        .ok_or("restore not in the audit chain")?;
    assert_eq!(audit[at + 1..].to_vec(), live_audit);
    assert!(
        back.verify_audit()?.is_intact(),
        "{:?}",
        back.verify_audit()?
    );
    back.logout();
    login(&mut back, "leitung")?;
    assert_eq!(case_ids(&mut back)?, live_cases);
    assert_eq!(
        without_audit(back.session_for_import()?.table_digests()?),
        without_audit(live_digests)
    );
    assert_eq!(
        read_all_documents(&mut back)? as u64,
        quiet.manifest.documents
    );
    back.logout();

    // One changed byte: refused with a reason, nothing left behind.
    let mut bytes = std::fs::read(&quiet.path)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    let changed = tmp.path().join("veraendert.sicherung.age");
    std::fs::write(&changed, &bytes)?;
    let third = tmp.path().join("dritter-pc");
    let err = workstation::backup::restore(&changed, &recovery, &third)
        .err()
        .ok_or("a changed archive was restored")?;
    assert!(err.message.contains("beschädigt"), "{}", err.message);
    assert!(std::fs::read_dir(&third).map(|d| d.count()).unwrap_or(0) == 0);
    // And a wrong recovery key does not open it.
    let (other, wrong) =
        amtsstube_tests::local::workstation_with_recovery(&tmp.path().join("andere"), None, &[])?;
    drop(other);
    let err = workstation::backup::restore(&quiet.path, &wrong, &third)
        .err()
        .ok_or("restored with another key")?;
    assert!(err.message.contains("passt nicht"), "{}", err.message);
    Ok(())
}

#[test]
fn a_backup_killed_midway_leaves_no_archive_that_looks_complete() -> R {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");
    let target = tmp.path().join("usb");
    let (mut ws, recovery) = amtsstube_tests::local::workstation_with_recovery(
        &dir,
        None,
        &[("leitung", Role::Leitung)],
    )?;
    ws.logout();
    login(&mut ws, "leitung")?;
    {
        let session = ws.session_for_import()?;
        for i in 0..4u64 {
            session.put_blob(amtsstube_tests::blob_content(i).take(16 << 20))?;
        }
    }
    ws.logout();
    let bin = amtsstube_bin()?;
    let mut killed = 0;
    // The program reports each tenth written on stderr; it is killed at the first
    // report at or past `percent` (100: written, being read back and renamed).
    for percent in [10u32, 30, 50, 70, 90, 100] {
        let mut child = Command::new(&bin)
            .arg("--data-dir")
            .arg(&dir)
            .args(["sicherung", "erstellen", "--ziel"])
            .arg(&target)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .ok_or("stdin")?
            .write_all(b"admin-passwort-1\n")?;
        let stderr = child.stderr.take().ok_or("stderr")?;
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            let reached = line?
                .trim()
                .strip_suffix(" %")
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n >= percent);
            if reached {
                if child.try_wait()?.is_none() {
                    child.kill()?; // SIGKILL
                    killed += 1;
                }
                break;
            }
        }
        child.wait()?;
        // Whatever carries an archive's name is complete: it restores.
        for name in archives_in(&target) {
            let check = tmp.path().join(format!("pruefung-{percent}-{name}"));
            workstation::backup::restore(&target.join(&name), &recovery, &check)
                .map_err(|e| format!("{name} after a kill at {percent} %: {}", e.message))?;
        }
    }
    println!("killed {killed} of 6 backups midway");
    assert!(killed >= 5, "only {killed} backups were interrupted");
    // The next backup clears the remains and writes a complete archive.
    let out = Command::new(&bin)
        .arg("--data-dir")
        .arg(&dir)
        .args(["sicherung", "erstellen", "--ziel"])
        .arg(&target)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            if let Some(mut i) = c.stdin.take() {
                i.write_all(b"admin-passwort-1\n")?;
            }
            c.wait_with_output()
        })?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(&target)?
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.ends_with(".teil"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(!dir.join("sicherung-arbeit").exists());
    Ok(())
}
