//! The first connections of a process, opened by several threads at once, all get
//! their key: SQLite marks itself initialised before SQLCipher has finished its own
//! start, and a thread slipping into that window used to fail with "PRAGMA key".
//! The race exists only once per process, so the test runs fresh processes (this
//! test binary again, in child mode) that open one store from eight threads at the
//! same moment. Without the gate in `db::open` about one process in 150 failed on
//! this machine, so a run catches a regression only now and then; the threads
//! opening one file at once also check that logins of several processes wait for
//! each other's locks instead of failing with "database is locked".

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};

use domain::UserName;
use store::{Clock, SecretString, Store};

type R = Result<(), Box<dyn std::error::Error>>;

const CHILD: &str = "AMTSSTUBE_FIRST_OPEN_DIR";
const THREADS: usize = 8;
const PROCESSES: usize = 40;

fn unlock(dir: &Path) -> Result<(), String> {
    let store = Store::open(dir, Clock::system()).map_err(|e| e.to_string())?;
    store
        .unlock(
            &UserName::parse("admin").map_err(|e| e.to_string())?,
            &SecretString::from("admin-passwort-1".to_owned()),
        )
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Child mode: nothing touches SQLite before the threads start together.
fn child(dir: &Path) -> R {
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (barrier, dir) = (barrier.clone(), dir.to_path_buf());
            std::thread::spawn(move || {
                barrier.wait();
                unlock(&dir)
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "Thread abgestürzt")??;
    }
    Ok(())
}

#[test]
fn threads_opening_the_first_connections_at_once_all_get_their_key() -> R {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(Path::new(&dir));
    }
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("d");
    drop(common::init(&dir)?);
    let me = std::env::current_exe()?;
    let mut failures = Vec::new();
    for _ in 0..PROCESSES {
        let out = Command::new(&me)
            .args([
                "--exact",
                "threads_opening_the_first_connections_at_once_all_get_their_key",
                "--nocapture",
            ])
            .env(CHILD, &dir)
            .output()?;
        if !out.status.success() {
            failures.push(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} von {PROCESSES} Prozessen scheiterten, zuerst: {}",
        failures.len(),
        failures[0]
    );
    Ok(())
}
