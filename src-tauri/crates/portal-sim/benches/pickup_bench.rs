//! Pickup throughput: submissions per second fetched over loopback HTTP from the
//! simulator, decrypted and verified (each with data and one 200 KB attachment, so
//! three RSA-4096 unwraps), next to the RSA-4096 private-key rate of the same
//! OpenSSL measured in the same run. Prints a Markdown table. `make bench`.

use std::time::{Duration, Instant};

use fitconnect::client::{ClientConfig, SubmissionApi, V1Client};
use fitconnect::keys::KeyPair;
use fitconnect::submission;
use openssl::encrypt::Decrypter;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::{Padding, Rsa};
use portal_sim::{Sim, State, seed};

type R<T> = Result<T, Box<dyn std::error::Error>>;

const COUNT: usize = 60;
const ATTACHMENT: usize = 200 * 1024;

/// RSA-OAEP-256 private-key decryptions per second, single thread.
fn rsa_private_rate() -> R<f64> {
    let key = PKey::from_rsa(Rsa::generate(4096)?)?;
    let mut enc = openssl::encrypt::Encrypter::new(&key)?;
    enc.set_rsa_padding(Padding::PKCS1_OAEP)?;
    enc.set_rsa_oaep_md(MessageDigest::sha256())?;
    enc.set_rsa_mgf1_md(MessageDigest::sha256())?;
    let cek = [7u8; 32];
    let mut ct = vec![0u8; enc.encrypt_len(&cek)?];
    let n = enc.encrypt(&cek, &mut ct)?;
    ct.truncate(n);
    let mut dec = Decrypter::new(&key)?;
    dec.set_rsa_padding(Padding::PKCS1_OAEP)?;
    dec.set_rsa_oaep_md(MessageDigest::sha256())?;
    dec.set_rsa_mgf1_md(MessageDigest::sha256())?;
    let mut out = vec![0u8; dec.decrypt_len(&ct)?];
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < Duration::from_secs(3) {
        dec.decrypt(&ct, &mut out)?;
        ops += 1;
    }
    Ok(ops as f64 / start.elapsed().as_secs_f64())
}

fn main() -> R<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> R<()> {
    let dir = tempfile::tempdir()?;
    let mut state = State::open(dir.path(), 4096)?;
    seed::seed_sized(&mut state, COUNT, ATTACHMENT, 1)?;
    let sim = Sim::new(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(portal_sim::serve(listener, sim.clone()));
    let config = sim.lock().subscriber_config(&url)?;
    let api = V1Client::new(ClientConfig {
        token_url: config.token_url.clone(),
        api_url: config.api_url.clone(),
        client_id: config.client_id.clone(),
        client_secret: config.client_secret.clone(),
        timeout: Duration::from_secs(30),
    })?;
    let key = KeyPair::from_pem(
        config.encryption_key.clone(),
        config.encryption_private_pem.as_bytes(),
    )?;
    let pending = api.all_for_pickup(config.destination_id).await?;
    assert_eq!(pending.len(), COUNT);

    let start = Instant::now();
    let mut fetch = Duration::ZERO;
    let mut open = Duration::ZERO;
    for p in &pending {
        let t = Instant::now();
        let sub = api.fetch_encrypted(p.submission_id).await?;
        fetch += t.elapsed();
        let t = Instant::now();
        let opened = submission::open(&sub, &key)?;
        open += t.elapsed();
        assert_eq!(opened.attachments[0].1.len(), ATTACHMENT);
    }
    let total = start.elapsed();
    let rate = COUNT as f64 / total.as_secs_f64();

    // Pipelined, as the sync engine is meant to work: the next submission is fetched
    // while the current one is decrypted on a blocking thread (one RSA thread).
    let key = std::sync::Arc::new(key);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<fitconnect::submission::EncryptedSubmission>(4);
    let worker_key = key.clone();
    let start = Instant::now();
    let worker = tokio::task::spawn_blocking(move || -> Result<usize, String> {
        let mut n = 0;
        while let Some(sub) = rx.blocking_recv() {
            let opened = submission::open(&sub, &worker_key).map_err(|e| e.to_string())?;
            n += usize::from(opened.attachments[0].1.len() == ATTACHMENT);
        }
        Ok(n)
    });
    for p in &pending {
        let sub = api.fetch_encrypted(p.submission_id).await?;
        tx.send(sub).await?;
    }
    drop(tx);
    let verified = worker.await??;
    assert_eq!(verified, COUNT);
    let pipelined = COUNT as f64 / start.elapsed().as_secs_f64();
    let rsa = rsa_private_rate()?;
    let bound = rsa / 3.0;
    println!("| measurement | result |");
    println!("|---|---|");
    println!(
        "| submissions fetched + decrypted + verified ({COUNT}, 200 KB attachment each) | {rate:.1} /s ({:.1} ms each) |",
        1000.0 / rate
    );
    println!(
        "| of which HTTP fetch (3 requests) | {:.1} ms each |",
        fetch.as_secs_f64() * 1000.0 / COUNT as f64
    );
    println!(
        "| of which decrypt + verify (3 RSA unwraps, AES-GCM, SHA-512, schema) | {:.1} ms each |",
        open.as_secs_f64() * 1000.0 / COUNT as f64
    );
    println!("| OpenSSL RSA-4096 OAEP private-key operations, same run | {rsa:.1} /s |");
    println!("| bound implied (3 unwraps per submission) | {bound:.1} submissions/s |");
    println!(
        "| achieved share of the bound, one after the other | {:.0} % |",
        rate / bound * 100.0
    );
    println!("| pipelined: fetch the next while decrypting (one RSA thread) | {pipelined:.1} /s |");
    println!(
        "| achieved share of the bound, pipelined (target ≥ 70 %) | {:.0} % |",
        pipelined / bound * 100.0
    );
    Ok(())
}
