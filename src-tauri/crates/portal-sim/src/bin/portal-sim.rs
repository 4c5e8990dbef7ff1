//! `portal-sim` – local FIT-Connect Zustelldienst.
//!
//!   portal-sim serve --dir DIR [--addr 127.0.0.1:8750] [--smtp 127.0.0.1:0]
//!   portal-sim seed  --dir DIR --count N --seed S [--pgp-jede N] [--bundid-jede N]
//!   portal-sim bpki  --dir DIR --ordner OUT
//!   portal-sim subscriber-config --dir DIR --url http://127.0.0.1:8750

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use portal_sim::{Sim, State, seed};

#[derive(Parser)]
#[command(
    name = "portal-sim",
    version,
    about = "Lokaler FIT-Connect-Zustelldienst für Entwicklung, Demo und Tests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// HTTP-Dienst starten
    Serve {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8750")]
        addr: String,
        /// Lebensdauer der Zugriffstoken in Sekunden
        #[arg(long, default_value_t = 1800)]
        token_lifetime: u64,
        /// Fehlerinjektion als JSON, z. B. '{"errorRate":0.3,"resetRate":0.1,"seed":7}'
        /// (zur Laufzeit änderbar mit PUT /admin/faults)
        #[arg(long)]
        faults: Option<String>,
        /// Auch einen Mailserver der Bürgerinnen und Bürger (SMTP, STARTTLS) starten,
        /// z. B. 127.0.0.1:0; schreibt DIR/smtp.json mit den Zugangsdaten für die Gemeinde
        #[arg(long)]
        smtp: Option<String>,
    },
    /// Realistische Einreichungen erzeugen (deterministisch je Seed)
    Seed {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 20)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Jede N-te Antragstellerin wünscht E-Mail mit eigenem OpenPGP-Schlüssel (0: keine)
        #[arg(long, default_value_t = 0)]
        pgp_jede: usize,
        /// Jede N-te Antragstellerin wünscht die Antwort im BundID-Postfach (0: keine)
        #[arg(long, default_value_t = 0)]
        bundid_jede: usize,
    },
    /// Das Schlüsselpaar der simulierten BPKI für die Gemeinde nach OUT schreiben
    /// (bpki-schluessel.pem, nur für die Eigentümerin lesbar, und bpki-zertifikat.pem)
    /// und die Zustellpunkt-ID des ZBP-Brückendienstes ausgeben (nur für Entwicklung)
    Bpki {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        ordner: PathBuf,
    },
    /// Zugangsdaten und Schlüssel für die Arbeitsstation ausgeben (JSON, nur für Entwicklung)
    SubscriberConfig {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "http://127.0.0.1:8750")]
        url: String,
    },
}

const KEY_BITS: u32 = 4096;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("PORTAL_SIM_LOG"))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve {
            dir,
            addr,
            token_lifetime,
            faults,
            smtp,
        } => {
            let state = State::open(&dir, KEY_BITS)?;
            let sim = Sim::new(state);
            sim.set_token_lifetime(std::time::Duration::from_secs(token_lifetime));
            if let Some(json) = faults {
                sim.set_faults(
                    serde_json::from_str(&json).context("--faults ist kein gültiges JSON")?,
                );
            }
            if let Some(smtp) = smtp {
                let (user, password) = ("rathaus", "rathaus-relay-1");
                let sink = portal_sim::mail::Sink::start_on(&smtp, (user, password))
                    .map_err(|e| anyhow::anyhow!("SMTP: {e}"))?;
                let settings = serde_json::json!({
                    "host": "127.0.0.1", "port": sink.port, "imapPort": sink.imap_port, "user": user,
                    "password": password, "caPem": sink.ca_pem,
                });
                std::fs::write(dir.join("smtp.json"), serde_json::to_vec_pretty(&settings)?)
                    .context("smtp.json")?;
                std::fs::write(dir.join("smtp-ca.pem"), &sink.ca_pem).context("smtp-ca.pem")?;
                eprintln!(
                    "portal-sim SMTP auf 127.0.0.1:{}, Postfach der Gemeinde (IMAP, TLS) auf 127.0.0.1:{}",
                    sink.port, sink.imap_port
                );
                sim.set_mail(std::sync::Arc::new(sink));
            }
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("bind {addr}"))?;
            eprintln!("portal-sim hört auf http://{}", listener.local_addr()?);
            portal_sim::serve(listener, sim).await?;
        }
        Command::Seed {
            dir,
            count,
            seed: s,
            pgp_jede,
            bundid_jede,
        } => {
            let mut state = State::open(&dir, KEY_BITS)?;
            let ids = seed::seed_mixed(&mut state, count, s, pgp_jede, bundid_jede)?;
            println!("{} Einreichungen erzeugt.", ids.len());
        }
        Command::Bpki { dir, ordner } => {
            let state = State::open(&dir, KEY_BITS)?;
            std::fs::create_dir_all(&ordner).context("Ordner")?;
            let key = ordner.join("bpki-schluessel.pem");
            {
                use std::io::Write;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut f = options.open(&key).context("bpki-schluessel.pem")?;
                f.write_all(state.bridge.author_key_pem.as_bytes())?;
            }
            std::fs::write(
                ordner.join("bpki-zertifikat.pem"),
                &state.bridge.author_cert_pem,
            )
            .context("bpki-zertifikat.pem")?;
            println!("{}", state.bridge.destination_id);
        }
        Command::SubscriberConfig { dir, url } => {
            let state = State::open(&dir, KEY_BITS)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&state.subscriber_config(&url)?)?
            );
        }
    }
    Ok(())
}
