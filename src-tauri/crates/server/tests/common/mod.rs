//! Shared by the server's tests: one throwaway PostgreSQL cluster under
//! `target/tmp` for all tests of a test binary that run at the same time (stopped
//! when the last of them ends), a fresh database per test, age encryption as a
//! workstation does it.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, Weak};

use age::secrecy::ExposeSecret;
use office::Ciphertext;
use server::Record;
use server::cluster::Cluster;

static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());

pub fn cluster() -> Arc<Cluster> {
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = shared.upgrade() {
        return c;
    }
    let c = Arc::new(
        Cluster::start(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")))
            .unwrap_or_else(|e| panic!("PostgreSQL-Testcluster: {e}")),
    );
    *shared = Arc::downgrade(&c);
    c
}

/// A new database in the shared cluster, migrated, with a record on it.
pub async fn record(cluster: &Cluster) -> Record {
    db(cluster).await.0
}

/// As [`record`], with the database's connection string.
pub async fn db(cluster: &Cluster) -> (Record, String) {
    let name = format!("t{}", uuid::Uuid::new_v4().simple());
    cluster
        .create_database(&name)
        .unwrap_or_else(|e| panic!("{e}"));
    let conninfo = cluster.conninfo(&name);
    let record = Record::connect(&conninfo, 8)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    record.migrate().await.unwrap_or_else(|e| panic!("{e}"));
    (record, conninfo)
}

/// The case-content key of the caseworkers (the server never has it).
pub struct ContentKey(age::x25519::Identity);

impl ContentKey {
    pub fn new() -> Self {
        ContentKey(age::x25519::Identity::generate())
    }

    pub fn seal(&self, text: &str) -> Ciphertext {
        let recipient = self.0.to_public();
        let bytes = age::encrypt(&recipient, text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        Ciphertext::new(bytes).unwrap_or_else(|r| panic!("{}", r.reason))
    }

    pub fn open(&self, c: &Ciphertext) -> String {
        let plain = age::decrypt(&self.0, c.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8(plain).unwrap_or_default()
    }

    pub fn secret(&self) -> String {
        self.0.to_string().expose_secret().to_string()
    }
}

/// An enrolled workstation (sessions are bound to one).
pub async fn workstation(record: &Record) -> uuid::Uuid {
    let code = record
        .new_enrolment_code(5)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (id, _) = record
        .enrol(&code, "Testplatz", |id| {
            Ok((String::new(), format!("fp-{id}")))
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    id
}

/// The runtime of a test: two workers, like the machine CI runs on.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A user with the role the server holds for them.
pub fn actor(user: &str, role: domain::Role) -> office::rules::Actor {
    office::rules::Actor {
        user: user.into(),
        role,
    }
}
