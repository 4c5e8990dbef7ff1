//! RFC 3161 time stamps of the audit chain's head against a local time-stamping
//! service made with `openssl ts` (a throwaway TSA key and certificate, served over
//! HTTP on 127.0.0.1 by this test).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use amtsstube_tests::local::workstation;
use amtsstube_tests::sim::BoxError;
use domain::Role;
use store::AuditProblem;
use workstation::LoginRequest;

type R = Result<(), BoxError>;

/// A TSA key pair with a certificate for time stamping, and its `openssl ts` config.
struct Tsa {
    dir: PathBuf,
}

impl Tsa {
    fn make(dir: &Path, name: &str) -> Result<Tsa, BoxError> {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir)?;
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            path(&dir.join("tsa.key"))?,
            "-out",
            path(&dir.join("tsa.crt"))?,
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "extendedKeyUsage=critical,timeStamping",
        ])?;
        std::fs::write(dir.join("serial"), "01\n")?;
        std::fs::write(
            dir.join("tsa.cnf"),
            format!(
                "[ tsa ]\ndefault_tsa = tsa1\n[ tsa1 ]\nserial = {}\ncrypto_device = builtin\n\
                 signer_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256\n\
                 accuracy = secs:1\nordering = yes\ntsa_name = no\n\
                 ess_cert_id_chain = no\ness_cert_id_alg = sha256\n",
                dir.join("serial").display()
            ),
        )?;
        Ok(Tsa { dir })
    }

    fn cert_pem(&self) -> Result<String, BoxError> {
        Ok(std::fs::read_to_string(self.dir.join("tsa.crt"))?)
    }

    /// Answer one DER query with `openssl ts -reply`.
    fn reply(&self, query: &[u8], n: usize) -> Result<Vec<u8>, BoxError> {
        let q = self.dir.join(format!("q{n}.tsq"));
        let r = self.dir.join(format!("r{n}.tsr"));
        std::fs::write(&q, query)?;
        openssl(&[
            "ts",
            "-reply",
            "-config",
            path(&self.dir.join("tsa.cnf"))?,
            "-queryfile",
            path(&q)?,
            "-signer",
            path(&self.dir.join("tsa.crt"))?,
            "-inkey",
            path(&self.dir.join("tsa.key"))?,
            "-out",
            path(&r)?,
        ])?;
        Ok(std::fs::read(&r)?)
    }
}

fn path(p: &Path) -> Result<&str, BoxError> {
    p.to_str().ok_or_else(|| "path not UTF-8".into())
}

fn openssl(args: &[&str]) -> R {
    let out = Command::new("openssl").args(args).output()?;
    if !out.status.success() {
        return Err(format!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

/// How the test service answers.
#[derive(Clone, Copy)]
enum Mode {
    /// With a time stamp signed by the TSA.
    Sign,
    /// With bytes that are no time stamp.
    Garbage,
    /// With HTTP 500.
    Fail,
}

/// Serve `tsa` over HTTP on 127.0.0.1; returns the address and a request counter.
fn serve(tsa: Tsa, mode: Mode) -> Result<(String, Arc<AtomicUsize>), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/tsr", listener.local_addr()?);
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(match stream.try_clone() {
                Ok(s) => s,
                Err(_) => return,
            });
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.trim_end().to_ascii_lowercase();
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if l.is_empty() {
                    break;
                }
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let (status, answer) = match mode {
                Mode::Sign => match tsa.reply(&body, n) {
                    Ok(der) => ("200 OK", der),
                    Err(e) => ("500 Internal Server Error", e.to_string().into_bytes()),
                },
                Mode::Garbage => ("200 OK", b"kein Zeitstempel".to_vec()),
                Mode::Fail => ("500 Internal Server Error", Vec::new()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                answer.len()
            );
            let _ = stream.write_all(&answer);
        }
    });
    Ok((url, count))
}

fn login(ws: &mut workstation::Workstation, user: &str) -> R {
    ws.logout();
    ws.login(LoginRequest {
        username: user.to_owned(),
        password: format!("{user}-passwort-1"),
    })?;
    Ok(())
}

/// The administration sets up the service; the Leitung has the chain's head
/// stamped; the check of the log verifies the token with the service's certificate.
/// A token signed by another key, a garbled answer and a failing service are each
/// refused in German and keep nothing; a certificate swapped afterwards makes every
/// kept stamp a finding.
#[test]
fn the_chain_head_is_time_stamped_and_checked_against_the_services_certificate() -> R {
    let tmp = tempfile::tempdir()?;
    let real = Tsa::make(tmp.path(), "Zeitstempel-Test")?;
    let other = Tsa::make(tmp.path(), "Fremder Dienst")?;
    let real_pem = real.cert_pem()?;
    let other_pem = other.cert_pem()?;
    let (url, served) = serve(real, Mode::Sign)?;
    let (garbage_url, _) = serve(Tsa::make(tmp.path(), "Unsinn")?, Mode::Garbage)?;
    let (fail_url, _) = serve(Tsa::make(tmp.path(), "Kaputt")?, Mode::Fail)?;

    let mut ws = workstation(
        &tmp.path().join("daten"),
        None,
        &[("leitung1", Role::Leitung)],
    )?;
    login(&mut ws, "admin")?;
    // Nothing set up: nothing to stamp.
    assert_eq!(ws.stamp_audit()?, None);
    // Bad input is refused.
    assert!(ws.set_timestamp_service("ftp://tsa", &real_pem).is_err());
    let err = ws
        .set_timestamp_service(&url, "kein Zertifikat")
        .err()
        .ok_or("accepted")?;
    assert!(err.message.contains("Zertifikat"), "{}", err.message);
    ws.set_timestamp_service(&url, &real_pem)?;

    login(&mut ws, "leitung1")?;
    let stamp = ws.stamp_audit()?.ok_or("no stamp")?;
    assert_eq!(served.load(Ordering::SeqCst), 1);
    let head = ws.audit_entries(1)?;
    assert!(
        stamp.seq > 0 && stamp.seq < head[0].seq,
        "the stamp is in the chain after its head"
    );
    assert_eq!(head[0].action, "protokoll.zeitstempel");
    let age = jiff::Timestamp::now().duration_since(stamp.gen_time.parse::<jiff::Timestamp>()?);
    assert!(age.as_secs().abs() < 300, "{}", stamp.gen_time);
    let report = ws.verify_audit()?;
    assert!(report.is_intact(), "{:?}", report.problems);

    // The service is changed to one that signs with another key, but the configured
    // certificate stays the real one: refused, nothing kept.
    login(&mut ws, "admin")?;
    let (other_url, _) = serve(other, Mode::Sign)?;
    ws.set_timestamp_service(&other_url, &real_pem)?;
    login(&mut ws, "leitung1")?;
    let err = ws
        .stamp_audit()
        .err()
        .ok_or("a foreign signature accepted")?;
    assert!(err.message.contains("Signatur"), "{}", err.message);
    for (bad, expect) in [(&garbage_url, "unlesbar"), (&fail_url, "HTTP 500")] {
        login(&mut ws, "admin")?;
        ws.set_timestamp_service(bad, &real_pem)?;
        login(&mut ws, "leitung1")?;
        let err = ws.stamp_audit().err().ok_or("accepted")?;
        assert!(err.message.contains(expect), "{}", err.message);
    }
    login(&mut ws, "admin")?;
    ws.set_timestamp_service("http://127.0.0.1:9/tsr", &real_pem)?;
    let err = ws.stamp_audit().err().ok_or("accepted")?;
    assert!(err.message.contains("nicht erreichbar"), "{}", err.message);
    let report = ws.verify_audit()?;
    assert!(report.is_intact(), "{:?}", report.problems);

    // Someone swaps the configured certificate: the kept stamp no longer holds.
    ws.set_timestamp_service(&url, &other_pem)?;
    let report = ws.verify_audit()?;
    assert!(
        report.problems.iter().any(|p| matches!(
            p,
            AuditProblem::TimestampInvalid { seq, .. } if *seq == stamp.seq
        )),
        "{:?}",
        report.problems
    );
    // The real certificate again: the stamp holds, and a second one is kept.
    ws.set_timestamp_service(&url, &real_pem)?;
    assert!(ws.stamp_audit()?.is_some());
    let report = ws.verify_audit()?;
    assert!(report.is_intact(), "{:?}", report.problems);

    // Every backup is preceded by a stamp of the head (the app's path, the
    // exchange outside the workstation's lock); the stamp is in the backup.
    let target = tmp.path().join("sicherung");
    ws.set_backup_settings(workstation::BackupSettings {
        folder: target.display().to_string(),
        keep: 5,
        interval_hours: 24,
        warn_after_days: 3,
    })?;
    let before = served.load(Ordering::SeqCst);
    let shared: workstation::background::Shared =
        std::sync::Arc::new(std::sync::Mutex::new(Some(ws)));
    workstation::backup::backup_shared(&shared, true)?.ok_or("no backup")?;
    assert_eq!(
        served.load(Ordering::SeqCst),
        before + 1,
        "one stamp per backup"
    );
    let guard = shared.lock().map_err(|_| "lock")?;
    let ws = guard.as_ref().ok_or("gone")?;
    let entries = ws.audit_entries(5)?;
    let stamped = entries
        .iter()
        .position(|e| e.action == "protokoll.zeitstempel")
        .ok_or("no stamp entry")?;
    let backed_up = entries
        .iter()
        .position(|e| e.action.starts_with("sicherung"))
        .ok_or("no backup entry")?;
    assert!(backed_up < stamped, "the stamp comes first: {entries:?}");
    Ok(())
}
