//! `portal-sim` – local FIT-Connect Zustelldienst.
//!
//!   portal-sim serve --dir DIR [--addr 127.0.0.1:8750]
//!   portal-sim seed  --dir DIR --count N --seed S
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
    },
    /// Realistische Einreichungen erzeugen (deterministisch je Seed)
    Seed {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 20)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
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
        } => {
            let state = State::open(&dir, KEY_BITS)?;
            let sim = Sim::new(state);
            sim.set_token_lifetime(std::time::Duration::from_secs(token_lifetime));
            if let Some(json) = faults {
                sim.set_faults(
                    serde_json::from_str(&json).context("--faults ist kein gültiges JSON")?,
                );
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
        } => {
            let mut state = State::open(&dir, KEY_BITS)?;
            let ids = seed::seed(&mut state, count, s)?;
            println!("{} Einreichungen erzeugt.", ids.len());
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
