//! `demo-cluster`: the PostgreSQL cluster of `make demo BUERO=1`, kept in a
//! directory across runs (Debian's `initdb` + `pg_ctl`, a free port on 127.0.0.1).
//!
//! `demo-cluster start DIR DB` starts it (creating cluster and database the first
//! time) and prints the connection string; `demo-cluster stop DIR` stops it.

use std::path::PathBuf;
use std::process::ExitCode;

use server::cluster::Cluster;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["start", dir, db] => Cluster::at(&PathBuf::from(dir)).and_then(|c| {
            c.ensure_database(db)?;
            println!("{}", c.conninfo(db));
            Ok(())
        }),
        ["stop", dir] => Cluster::at_stopped(&PathBuf::from(dir)).and_then(|c| c.stop()),
        _ => {
            eprintln!("Aufruf: demo-cluster start VERZEICHNIS DATENBANK | stop VERZEICHNIS");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Fehler: {e}");
            ExitCode::FAILURE
        }
    }
}
