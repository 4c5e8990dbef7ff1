//! Backup and restore of a standalone store: `BENCH_BACKUP_CASES` demo cases
//! (default 10,000) with their history and `BENCH_BACKUP_MB` megabytes of
//! documents (default 500, in 8 MB files) in the real encrypted store. Measured:
//! the backup (snapshot, archive, read back), the archive's size, the restore onto
//! an empty directory, and the longest wait of a window command (the work list's
//! first page behind the shared workstation lock, as the app calls it) while the
//! backup runs. `make bench`; BENCHMARKS.md has 100,000 cases and 5 GB.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amtsstube_tests::sim::BoxError;
use domain::Role;
use workstation::{BackupSettings, LoginRequest, WorkListQuery};

/// `left` bytes of xorshift noise (documents do not compress, nor does this).
struct Noise {
    left: u64,
    state: u64,
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for chunk in buf[..n].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            chunk.copy_from_slice(&self.state.to_le_bytes()[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn main() -> Result<(), BoxError> {
    let cases = amtsstube_tests::bench::env_usize("BENCH_BACKUP_CASES", 10_000);
    let megabytes = amtsstube_tests::bench::env_usize("BENCH_BACKUP_MB", 500);
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");
    let target = tmp.path().join("usb");
    let (mut ws, recovery) = amtsstube_tests::local::workstation_with_recovery(
        &dir,
        None,
        &[("leitung", Role::Leitung)],
    )?;
    ws.set_backup_settings(BackupSettings {
        folder: target.display().to_string(),
        keep: 3,
        interval_hours: 24,
        warn_after_days: 3,
    })?;
    ws.logout();
    ws.login(LoginRequest {
        username: "leitung".into(),
        password: "leitung-passwort-1".into(),
    })?;
    let t = Instant::now();
    workstation::demo::demo_history(&mut ws, cases, 1, &["sb1".into(), "sb2".into()])?;
    {
        let session = ws.session_for_import()?;
        for i in 0..(megabytes as u64).div_ceil(8) {
            session.put_blob(Noise {
                left: 8 << 20,
                state: (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            })?;
        }
    }
    println!(
        "store: {cases} cases, {megabytes} MB documents, set up in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // The scheduled backup runs for whoever is logged in; the window asks for the
    // work list's first page every 20 ms meanwhile.
    let shared: workstation::background::Shared = Arc::new(Mutex::new(Some(ws)));
    let t = Instant::now();
    let (written, longest, calls) = amtsstube_tests::bench::window_waits(&shared, || {
        workstation::backup::backup_shared(&shared, false)
    });
    let written = written?.ok_or("no backup due")?;
    let backup = t.elapsed();
    println!(
        "backup: {:.1} s (snapshot, archive, read back), archive {:.0} MB, {} cases, {} documents",
        backup.as_secs_f64(),
        written.bytes as f64 / 1e6,
        written.cases.unwrap_or(0),
        written.documents
    );
    println!(
        "window while backing up: longest wait {:.0} ms over {calls} work-list calls",
        longest.as_secs_f64() * 1000.0
    );
    // The same work list without a backup running, for comparison.
    let mut quiet = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        if let Some(ws) = shared.lock().map_err(|_| "lock")?.as_mut() {
            ws.work_list(WorkListQuery {
                limit: 50,
                ..WorkListQuery::default()
            })?;
        }
        quiet = quiet.max(t.elapsed());
    }
    println!(
        "window without backup: longest of 20 work-list calls {:.0} ms",
        quiet.as_secs_f64() * 1000.0
    );
    if let Some(mut ws) = shared.lock().map_err(|_| "lock")?.take() {
        ws.logout();
    }

    let t = Instant::now();
    let restored = workstation::backup::restore(
        std::path::Path::new(&written.file),
        &recovery,
        &tmp.path().join("neuer-pc"),
    )?;
    println!(
        "restore: {:.1} s onto an empty directory ({} cases, {} documents, audit chain intact: {})",
        t.elapsed().as_secs_f64(),
        restored.cases.unwrap_or(0),
        restored.documents,
        restored.audit_intact
    );
    println!(
        "peak memory of the process: {:.0} MB",
        amtsstube_tests::bench::peak_mb()
    );
    Ok(())
}
