//! A process killed (SIGKILL) at random moments while writing blobs leaves neither a
//! partial blob nor a dangling reference: after the next unlock every file has its
//! row, every row its complete file, and every blob decrypts to exactly what was
//! written.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use domain::UserName;
use sha2::{Digest, Sha256};
use store::{Clock, InitOptions, SecretString, Store, StoreConfig};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|e| {
            let p = e.path();
            if p.is_dir() { files_under(&p) } else { vec![p] }
        })
        .collect()
}

fn sha_of(mut r: impl Read) -> std::io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

#[test]
fn sigkill_during_blob_writes_loses_nothing_and_leaves_nothing() -> TestResult {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::process::id() as u64 ^ 0x5eed);
    println!("CRASH_SEED={seed} (set it to replay this run)");
    let mut rng = seed | 1;
    let mut next = move |max: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % max
    };

    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");
    let user = UserName::parse("admin")?;
    let pw = SecretString::from("admin-passwort-1".to_owned());
    let (s, _) = Store::init(
        &dir,
        InitOptions {
            admin: user.clone(),
            admin_display_name: "A".into(),
            admin_password: pw.clone(),
            config: StoreConfig {
                scrypt_log_n: 10,
                ..StoreConfig::default()
            },
        },
        Clock::system(),
    )?;
    drop(s.lock());

    let mut start = 0u64;
    let mut total_cleaned = 0;
    for round in 0..12 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_blob-writer"))
            .arg(&dir)
            .arg("admin")
            .arg("admin-passwort-1")
            .arg(start.to_string())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        assert_eq!(line.trim(), "ready", "writer did not start");
        std::thread::sleep(Duration::from_millis(5 + next(400)));
        child.kill()?; // SIGKILL
        child.wait()?;
        start += 1000;

        let store = Store::open(&dir, Clock::system())?;
        let session = store.unlock(&user, &pw)?;
        let check = session.vault_check().clone();
        assert_eq!(
            check.missing, 0,
            "round {round}: a row points to a missing file"
        );
        total_cleaned += check.removed_partial + check.removed_orphans;

        let vault = dir.join("vault");
        let tmp_files = files_under(&vault.join("tmp"));
        assert!(
            tmp_files.is_empty(),
            "round {round}: partial files left: {tmp_files:?}"
        );
        let ids = session.blob_ids()?;
        let on_disk: Vec<_> = files_under(&vault);
        assert_eq!(
            on_disk.len(),
            ids.len(),
            "round {round}: files without rows or rows without files"
        );
        for id in &ids {
            let info = session.blob_info(id)?;
            let (sha, size) = sha_of(session.open_blob(id)?)?;
            assert_eq!(
                (sha.as_str(), size),
                (info.sha256.as_str(), info.size),
                "round {round}: blob {id} differs"
            );
            // The content is exactly what the writer produced for its index.
            let mut head = [0u8; 8];
            session.open_blob(id)?.read_exact(&mut head)?;
            let (expected, _) = sha_of(amtsstube_tests::blob_content(u64::from_le_bytes(head)))?;
            assert_eq!(
                sha, expected,
                "round {round}: blob {id} is not what was written"
            );
        }
        drop(session.lock());
    }
    println!("cleaned up {total_cleaned} leftovers over 12 kills");
    Ok(())
}
