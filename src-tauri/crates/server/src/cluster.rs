//! A throwaway PostgreSQL cluster of its own (`initdb` + `pg_ctl` from Debian's
//! `postgresql`, a free port on 127.0.0.1, no system service): for the tests, the
//! benchmarks and the office demo. Stopped and removed on drop.
//!
//! PostgreSQL refuses to run as root; as root the cluster runs as the `postgres`
//! user the Debian package creates (`runuser`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Result, ServerError};

pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    as_postgres: bool,
    keep: bool,
}

/// The directory of `initdb`/`pg_ctl`: `$PG_BIN`, else the newest
/// `/usr/lib/postgresql/<n>/bin`, else whatever `PATH` has.
pub fn pg_bin() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("initdb").exists().then_some((v, bin))
                })
                .collect()
        })
        .unwrap_or_default(); // no Debian PostgreSQL: fall back to PATH below
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Ok(bin);
    }
    Err(ServerError::Invalid(
        "PostgreSQL ist nicht installiert (Debian-Paket „postgresql“; installer/deps.sh installiert es)."
            .into(),
    ))
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| ServerError::Db(e.to_string()))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| ServerError::Db(e.to_string()))
}

fn is_root() -> bool {
    // `id -u` avoids unsafe libc calls; the answer only decides whether to use runuser.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    /// Create and start a cluster in a new directory under `parent`.
    pub fn start(parent: &Path) -> Result<Cluster> {
        let bin = pg_bin()?;
        std::fs::create_dir_all(parent).map_err(|e| ServerError::file(parent, e))?;
        let dir = parent.join(format!("pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(|e| ServerError::file(&dir, e))?;
        let as_postgres = is_root();
        let mut cluster = Cluster {
            bin,
            dir,
            port: free_port()?,
            as_postgres,
            keep: false,
        };
        cluster.initdb(false)?;
        // The free port is released before PostgreSQL binds it: another test's
        // server may take it in between. Then PostgreSQL stops at once – try a new
        // port (the server's log says why; it is kept in the error).
        let mut attempt = 1;
        loop {
            match cluster.pg_ctl_start() {
                Ok(()) => return Ok(cluster),
                Err(e) if attempt < 3 && cluster.port_was_taken() => {
                    tracing::warn!("Port {} belegt, neuer Versuch: {e}", cluster.port);
                    cluster.port = free_port()?;
                    attempt += 1;
                }
                Err(e) => {
                    let log = std::fs::read_to_string(cluster.log_file()).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(5).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    return Err(ServerError::Db(format!(
                        "{e} – Protokoll: {}",
                        tail.join(" | ")
                    )));
                }
            }
        }
    }

    /// Whether the server's log says its port was in use.
    fn port_was_taken(&self) -> bool {
        std::fs::read_to_string(self.log_file()).is_ok_and(|log| {
            log.contains("could not bind") || log.contains("Address already in use")
        })
    }

    /// Make the cluster's files (as `postgres` when run as root); `durable`: with
    /// fsync at the end (a cluster kept across runs), else without (throwaway).
    fn initdb(&self, durable: bool) -> Result<()> {
        if self.as_postgres {
            self.run(
                "chown",
                &["-R", "postgres:postgres", &self.dir_str()],
                false,
            )?;
        }
        let data = self.data_str();
        let mut args = vec![
            "-D",
            &data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ];
        if !durable {
            args.push("--no-sync");
        }
        self.run("initdb", &args, true)
    }

    /// A cluster kept in `dir` across runs (the office demo): created there the
    /// first time, otherwise started again – on the same port while it is free,
    /// so connection strings written elsewhere stay right. Not stopped on drop;
    /// [`Cluster::stop`] ends it.
    pub fn at(dir: &Path) -> Result<Cluster> {
        let bin = pg_bin()?;
        std::fs::create_dir_all(dir).map_err(|e| ServerError::file(dir, e))?;
        let port_file = dir.join("port");
        let kept: Option<u16> = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .filter(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok());
        let port = match kept {
            Some(p) => p,
            None => free_port()?,
        };
        std::fs::write(&port_file, port.to_string())
            .map_err(|e| ServerError::file(&port_file, e))?;
        let cluster = Cluster {
            bin,
            dir: dir.to_path_buf(),
            port,
            as_postgres: is_root(),
            keep: true,
        };
        if cluster.data_dir().join("PG_VERSION").exists() {
            if cluster.data_dir().join("postmaster.pid").exists() {
                // Left running (or killed) by an earlier run: stop it first.
                let _ = cluster.stop();
            }
            cluster.pg_ctl_start()?;
            return Ok(cluster);
        }
        cluster.initdb(true)?;
        cluster.pg_ctl_start()?;
        Ok(cluster)
    }

    /// The cluster kept in `dir`, without starting it (to stop it).
    pub fn at_stopped(dir: &Path) -> Result<Cluster> {
        Ok(Cluster {
            bin: pg_bin()?,
            dir: dir.to_path_buf(),
            port: 0,
            as_postgres: is_root(),
            keep: true,
        })
    }

    /// Stop the cluster cleanly (its files stay).
    pub fn stop(&self) -> Result<()> {
        self.run(
            "pg_ctl",
            &["-D", &self.data_str(), "-m", "fast", "-w", "stop"],
            true,
        )
    }

    /// Create a database unless it exists.
    pub fn ensure_database(&self, name: &str) -> Result<()> {
        match self.create_database(name) {
            Err(ServerError::Db(m))
                if m.contains("already exists") || m.contains("existiert bereits") =>
            {
                Ok(())
            }
            other => other,
        }
    }

    fn dir_str(&self) -> String {
        self.dir.display().to_string()
    }

    fn data_str(&self) -> String {
        self.data_dir().display().to_string()
    }

    /// The cluster's data directory (for the canary test).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Where the cluster's log goes.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// Connection string for `tokio-postgres`.
    pub fn conninfo(&self, dbname: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={dbname}",
            self.port
        )
    }

    fn run(&self, program: &str, args: &[&str], pg_tool: bool) -> Result<()> {
        let exe = if pg_tool {
            self.bin.join(program).display().to_string()
        } else {
            program.to_string()
        };
        let mut cmd = if pg_tool && self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", &exe]);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .output()
            .map_err(|e| ServerError::Db(format!("{program} lässt sich nicht starten: {e}")))?;
        if !out.status.success() {
            return Err(ServerError::Db(format!(
                "{program} schlug fehl: {}{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            )));
        }
        Ok(())
    }

    fn pg_ctl_start(&self) -> Result<()> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}' -c max_connections=200",
            self.port,
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_str(),
                "-l",
                &self.log_file().display().to_string(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            true,
        )
    }

    /// Stop immediately (as a power cut would) and start again.
    pub fn restart_hard(&self) -> Result<()> {
        self.run(
            "pg_ctl",
            &["-D", &self.data_str(), "-m", "immediate", "-w", "stop"],
            true,
        )?;
        self.pg_ctl_start()
    }

    /// Create a database.
    pub fn create_database(&self, name: &str) -> Result<()> {
        self.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ],
            true,
        )
    }

    /// Keep the directory after drop (for a demo that should outlive the call).
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let _ = self.run(
            "pg_ctl",
            &["-D", &self.data_str(), "-m", "immediate", "-w", "stop"],
            true,
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
