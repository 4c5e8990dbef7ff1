//! Desks working on the Rathaus-Server's record: the real workstation stores on
//! temp dirs, the real server over mutual TLS on 127.0.0.1, a real PostgreSQL
//! cluster started by the test. Two caseworkers decide the same case while the
//! server is away: one decision is applied, the other becomes a visible conflict
//! with a German reason, and both notes survive.

use std::collections::BTreeMap;
use std::sync::Arc;

use domain::{CaseState, Decision, Role};
use office::protocol::{Command, CommandBody, Step};
use office::rules::Actor;
use server::Record;
use server::api::ApiState;
use server::cluster::Cluster;
use server::tls::OfficeCa;
use workstation::{OfficeConnectRequest, Workstation};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Server {
    rt: tokio::runtime::Runtime,
    record: Arc<Record>,
    ca: Arc<OfficeCa>,
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Serve on `addr` (the same address again after [`Server::halt`]).
    fn serve(&mut self) -> Result<(), BoxError> {
        let tls = self
            .ca
            .server_config(&self.ca.server_cert(&["127.0.0.1".into()])?)?;
        let listener = self.rt.block_on(tokio::net::TcpListener::bind(self.addr))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = ApiState {
            record: self.record.clone(),
            ca: self.ca.clone(),
        };
        self.served = Some(
            self.rt
                .spawn(server::api::serve(listener, state, tls, async {
                    let _ = stopped.await;
                })),
        );
        self.stop = Some(stop);
        Ok(())
    }

    fn halt(&mut self) -> Result<(), BoxError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            self.rt.block_on(served)?;
        }
        Ok(())
    }
}

fn desk(
    server: &Server,
    root: &std::path::Path,
    name: &str,
    role: Role,
) -> Result<Workstation, BoxError> {
    desk_with(server, root, name, role, &[])
}

/// A desk for `name` on which `others` have local accounts too.
fn desk_with(
    server: &Server,
    root: &std::path::Path,
    name: &str,
    role: Role,
    others: &[(&str, Role)],
) -> Result<Workstation, BoxError> {
    let mut users = vec![(name, role)];
    users.extend_from_slice(others);
    let mut ws = amtsstube_tests::local::workstation(&root.join(name), None, &users)?;
    let code = server.rt.block_on(server.record.new_enrolment_code(10))?;
    ws.office_connect(OfficeConnectRequest {
        server: server.url(),
        code,
        fingerprint: server.ca.fingerprint()?,
        name: format!("Platz {name}"),
    })?;
    ws.logout();
    ws.login(workstation::LoginRequest {
        username: name.into(),
        password: format!("{name}-passwort-1"),
    })?;
    ws.office_sign_in(format!("{name}-passwort-1"))?;
    Ok(ws)
}

/// A throwaway PostgreSQL cluster with the server's record and `people`, and the
/// server serving on loopback.
fn office(db: &str, people: &[(&str, Role)]) -> Result<(Cluster, Server), BoxError> {
    let cluster = Cluster::start(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")))?;
    cluster.create_database(db)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let record = Arc::new(rt.block_on(Record::connect(&cluster.conninfo(db), 4))?);
    rt.block_on(record.migrate())?;
    for (name, role) in people {
        rt.block_on(record.add_user(name, *role, &format!("{name}-passwort-1")))?;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    drop(listener);
    let mut server = Server {
        rt,
        record,
        ca: Arc::new(OfficeCa::create("Musterstadt")?),
        addr,
        stop: None,
        served: None,
    };
    server.serve()?;
    Ok((cluster, server))
}

/// A paper application approved at a scanning desk (Scanstelle `sam`) becomes a
/// case on the server, as the scanning desk's command would make it.
fn paper_case(server: &Server, file_number: &str) -> Result<(), BoxError> {
    let (_, stranger) = office::keyring::generate();
    let scan_ws = server.rt.block_on(server.record.workstations())?[0].id;
    let created = server.rt.block_on(server.record.apply(
        &Actor {
            user: "sam".into(),
            role: Role::Scanstelle,
        },
        scan_ws,
        &Command {
            key: uuid::Uuid::new_v4(),
            body: CommandBody::CreateCase {
                case_id: uuid::Uuid::new_v4(),
                file_number: file_number.into(),
                case_type: "HU".into(),
                received_at: "2026-12-01T08:00:00Z".into(),
                content: office::keyring::seal(b"Antrag", &[&stranger]).map_err(|r| r.reason)?,
            },
        },
    ))?;
    if !matches!(created, office::Outcome::Applied { .. }) {
        return Err(format!("Vorgang nicht angelegt: {created:?}").into());
    }
    Ok(())
}

/// The `amtsstube` binary on the desk `who` under `root` (`buero …`), the password
/// on stdin. Stdout if it succeeded, else its stderr as the error.
fn cli(root: &std::path::Path, who: &str, args: &[&str]) -> Result<String, BoxError> {
    let out = spawn_cli(root, who, args)?.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("{args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn spawn_cli(
    root: &std::path::Path,
    who: &str,
    args: &[&str],
) -> Result<std::process::Child, BoxError> {
    use std::io::Write;
    let mut child = std::process::Command::new(amtsstube_tests::app::amtsstube_bin()?)
        .arg("--data-dir")
        .arg(root.join(who))
        .arg("buero")
        .args(args)
        .args(["--as", who])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "{who}-passwort-1")?;
    }
    Ok(child)
}

/// A name planted in a note, looked for in clear on every disk.
const CANARY: &str = "Xaverine Quackenbusch";

/// A Rathaus-Server for letters: anna (Sachbearbeitung) signed in at her desk, lea
/// (Leitung) enrolled (her first login makes the case key), and the portal
/// simulator. The fields drop in reverse order: the simulator and the desks first,
/// PostgreSQL last.
struct Letters {
    cluster: Cluster,
    server: Server,
    tmp: tempfile::TempDir,
    anna: Workstation,
    _lea: Workstation,
    sim: amtsstube_tests::sim::Running,
}

fn letters_office(db: &str) -> Result<Letters, BoxError> {
    let (cluster, server) = office(
        db,
        &[("lea", Role::Leitung), ("anna", Role::Sachbearbeitung)],
    )?;
    let tmp = tempfile::tempdir()?;
    let mut anna = desk(&server, tmp.path(), "anna", Role::Sachbearbeitung)?;
    let _lea = desk(&server, tmp.path(), "lea", Role::Leitung)?;
    anna.office_sign_in("anna-passwort-1".into())?;
    let sim = server
        .rt
        .block_on(amtsstube_tests::sim::start(std::path::Path::new(env!(
            "CARGO_TARGET_TMPDIR"
        ))))?;
    Ok(Letters {
        cluster,
        server,
        tmp,
        anna,
        _lea,
        sim,
    })
}

/// Check, complete and grant a case at a desk (queued for the server).
fn decide_at_desk(ws: &mut Workstation, file_number: &str) -> Result<(), BoxError> {
    ws.office_step(file_number, Step::PruefungBeginnen, None)?;
    ws.office_checklist(file_number, true)?;
    ws.office_step(file_number, Step::Vollstaendig, None)?;
    ws.office_step(
        file_number,
        Step::Entscheiden {
            ergebnis: Decision::Bewilligt,
        },
        Some("Alle Nachweise liegen vor."),
    )?;
    Ok(())
}

fn state_of(ws: &mut Workstation, file_number: &str) -> Result<CaseState, BoxError> {
    Ok(ws
        .office_cases()?
        .into_iter()
        .find(|c| c.file_number == file_number)
        .ok_or("Vorgang fehlt")?
        .state)
}

#[test]
fn two_desks_decide_the_same_case_offline_one_is_applied_the_other_is_a_conflict()
-> Result<(), BoxError> {
    let (cluster, mut server) = office(
        "desks",
        &[
            ("lea", Role::Leitung),
            ("anna", Role::Sachbearbeitung),
            ("ben", Role::Sachbearbeitung),
            ("sam", Role::Scanstelle),
        ],
    )?;
    // The caseworkers publish their keys, the Leitung makes the kind keys and hands
    // them on; signing in again, the caseworkers hold the case key.
    let tmp = tempfile::tempdir()?;
    let mut anna = desk(&server, tmp.path(), "anna", Role::Sachbearbeitung)?;
    let mut ben = desk(&server, tmp.path(), "ben", Role::Sachbearbeitung)?;
    let _lea = desk(&server, tmp.path(), "lea", Role::Leitung)?;
    for (ws, name) in [(&mut anna, "anna"), (&mut ben, "ben")] {
        let again = ws.office_sign_in(format!("{name}-passwort-1"))?;
        assert_eq!(again.holds, vec!["fall".to_string()], "{name}");
    }

    // A paper application from the scanning desk becomes a case on the server.
    paper_case(&server, "HU-2026-00017")?;
    let az = "HU-2026-00017";

    // Anna checks it through to "vollständig"; both desks learn of it.
    let first = anna.office_sync()?;
    assert!(first.reachable && first.received >= 1, "{first:?}");
    anna.office_step(az, Step::PruefungBeginnen, None)?;
    anna.office_checklist(az, true)?;
    anna.office_step(az, Step::Vollstaendig, None)?;
    // Queued and shown at once, before the server has seen it.
    assert_eq!(state_of(&mut anna, az)?, CaseState::InBearbeitung);
    let sent = anna.office_sync()?;
    assert_eq!(
        (sent.applied, sent.refused, sent.waiting),
        (3, 0, 0),
        "{sent:?}"
    );
    ben.office_sync()?;
    assert_eq!(state_of(&mut ben, az)?, CaseState::InBearbeitung);

    // The server goes away. Both decide, each with a note; nothing is lost.
    server.halt()?;
    anna.office_step(
        az,
        Step::Entscheiden {
            ergebnis: Decision::Bewilligt,
        },
        Some("Alle Nachweise liegen vor."),
    )?;
    anna.office_note(
        az,
        &format!("Anna: Rückfrage bei {CANARY} telefonisch geklärt."),
    )?;
    ben.office_step(
        az,
        Step::Entscheiden {
            ergebnis: Decision::Abgelehnt,
        },
        Some("Nachweis der Haftpflicht fehlt."),
    )?;
    ben.office_note(az, "Ben: Haftpflicht nicht gefunden.")?;
    let away = ben.office_sync()?;
    assert!(!away.reachable && away.waiting == 2, "{away:?}");
    let status = ben.office_status()?;
    assert_eq!(status.state, workstation::OfficeState::NichtErreichbar);
    assert_eq!((status.waiting, status.conflicts), (2, 0), "{status:?}");
    // A desk restarted while offline still has its queue (it lives in the store).
    ben.logout();
    ben.login(workstation::LoginRequest {
        username: "ben".into(),
        password: "ben-passwort-1".into(),
    })?;
    let cases = ben.office_cases()?;
    assert_eq!(cases[0].waiting, 2, "{cases:?}");
    assert_eq!(cases[0].state, CaseState::Entschieden);

    // The server is back: Anna's decision came first and is applied …
    server.serve()?;
    let done = anna.office_sync()?;
    assert_eq!((done.applied, done.refused), (2, 0), "{done:?}");
    // … Ben's is refused with a German reason and is a conflict; his note goes in.
    ben.office_sign_in("ben-passwort-1".into())?;
    // The status tells the feed position this desk holds apart from the server's.
    let behind = ben.office_status()?;
    assert!(
        matches!((behind.applied, behind.position), (Some(a), Some(p)) if a < p),
        "{behind:?}"
    );
    let late = ben.office_sync()?;
    assert_eq!(
        (late.applied, late.refused, late.waiting),
        (1, 1, 0),
        "{late:?}"
    );
    let caught_up = ben.office_status()?;
    assert_eq!(caught_up.applied, caught_up.position, "{caught_up:?}");
    let conflicts = ben.office_conflicts()?;
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].file_number, az);
    assert_eq!(conflicts[0].what, "Bearbeitungsschritt");
    assert!(
        conflicts[0].reason.contains("inzwischen") && conflicts[0].reason.contains(az),
        "{}",
        conflicts[0].reason
    );
    assert_eq!(conflicts[0].state_now, Some(CaseState::Entschieden));
    // Nothing overwritten: the server holds Anna's decision, Ben's view follows it.
    anna.office_sync()?;
    let leitung = Actor {
        user: "lea".into(),
        role: Role::Leitung,
    };
    let page = server
        .rt
        .block_on(server.record.feed(&leitung, 0, 10_000))?;
    let mut decisions = std::collections::BTreeMap::new();
    for item in page.items {
        if let office::FeedItem::Case { events, .. } = item {
            for e in events {
                if e.to_state == Some(CaseState::Entschieden) {
                    decisions.insert(e.id, e.actor);
                }
            }
        }
    }
    assert_eq!(
        decisions.into_values().collect::<Vec<_>>(),
        vec!["anna".to_string()],
        "genau eine Entscheidung, Annas"
    );
    assert_eq!(state_of(&mut ben, az)?, CaseState::Entschieden);

    // Both notes survive, readable at both desks with the case key.
    for ws in [&mut anna, &mut ben] {
        let notes: Vec<String> = ws.office_notes(az)?.into_iter().map(|n| n.text).collect();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes.iter().any(|n| n.starts_with("Anna:")));
        assert!(notes.iter().any(|n| n.starts_with("Ben:")));
    }

    // The same through the command line, as a second process on the desk's store.
    let cli = |who: &str, args: &[&str]| cli(tmp.path(), who, args);
    let status = cli("ben", &["status"])?;
    assert!(
        status.contains("Wartende Schritte: 0, Konflikte: 1"),
        "{status}"
    );
    let listed = cli("ben", &["konflikte"])?;
    assert!(
        listed.contains(az)
            && listed.contains("Bearbeitungsschritt")
            && listed.contains("Entschieden"),
        "{listed}"
    );
    let noted = cli(
        "anna",
        &["notiz", az, "--text", "Anna: Bescheid geht morgen raus."],
    )?;
    assert!(noted.contains("1 übernommen"), "{noted}");
    let cases = cli("anna", &["vorgaenge"])?;
    assert!(
        cases.contains(az) && cases.contains("Entschieden"),
        "{cases}"
    );
    let wrong = cli("anna", &["schritt", az, "bewilligen"]);
    assert!(
        matches!(&wrong, Err(e) if e.to_string().contains(az)),
        "ein zweites Entscheiden wird schon am Platz abgewiesen: {wrong:?}"
    );

    // Ben takes note of the conflict: it leaves his list, the audit keeps it.
    let status = ben.office_status()?;
    assert_eq!(status.state, workstation::OfficeState::Verbunden);
    assert!(
        status.signed_in && status.conflicts == 1 && status.waiting == 0,
        "{status:?}"
    );
    cli("ben", &["konflikt-erledigt", &conflicts[0].seq.to_string()])?;
    assert!(ben.office_conflicts()?.is_empty());

    // Anna's server session ends (her password was changed at the server): the
    // status says so, a synchronisation asks her to sign in again, nothing is lost.
    server
        .rt
        .block_on(server.record.set_password("anna", "anna-passwort-2"))?;
    anna.office_note(az, "Anna: nach dem Passwortwechsel.")?;
    let status = anna.office_status()?;
    assert_eq!(
        status.state,
        workstation::OfficeState::AnmeldungAbgelaufen,
        "{status:?}"
    );
    assert!(!status.signed_in && status.waiting == 1, "{status:?}");
    let err = anna.office_sync().unwrap_err();
    assert!(err.message.contains("abgelaufen"), "{}", err.message);
    let status = anna.office_status()?;
    assert_eq!(status.state, workstation::OfficeState::Verbunden);
    assert!(
        status.message.contains("nicht angemeldet") && status.waiting == 1,
        "{status:?}"
    );
    // Canary: the name in Anna's note lies in clear in no desk's data directory and
    // nowhere in PostgreSQL's files (WAL included). Read after the desks closed their
    // stores: a raw read of a database file from this process would drop SQLite's
    // POSIX locks of the connections still open in it.
    anna.logout();
    ben.logout();
    let mut hits = Vec::new();
    let mut files = 0;
    for dir in [tmp.path().to_path_buf(), cluster.data_dir()] {
        amtsstube_tests::walk(&dir, &mut |path, bytes| {
            files += 1;
            if bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()) {
                hits.push(path.display().to_string());
            }
        });
    }
    assert!(files > 100, "{files} Dateien");
    assert!(hits.is_empty(), "Klartext gefunden in {hits:?}");

    server.halt()?;
    Ok(())
}

/// Desk processes killed with SIGKILL at random moments while they store and send a
/// note, with the server away now and then: afterwards every note a process reported
/// as saved is on the server, and none is there twice.
#[test]
fn desk_processes_killed_mid_step_lose_nothing_and_double_nothing() -> Result<(), BoxError> {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    let (rounds, seed) = amtsstube_tests::chaos_rounds_and_seed("OFFICE_CHAOS", 16);
    let mut rng = SmallRng::seed_from_u64(seed);
    let (_cluster, mut server) = office(
        "desks_chaos",
        &[
            ("lea", Role::Leitung),
            ("anna", Role::Sachbearbeitung),
            ("sam", Role::Scanstelle),
        ],
    )?;
    let tmp = tempfile::tempdir()?;
    let mut anna = desk(&server, tmp.path(), "anna", Role::Sachbearbeitung)?;
    let mut lea = desk(&server, tmp.path(), "lea", Role::Leitung)?;
    anna.office_sign_in("anna-passwort-1".into())?;
    let az = "HU-2026-00042";
    paper_case(&server, az)?;
    anna.office_sync()?;
    anna.logout();
    drop(anna);

    let (mut saved, mut killed) = (Vec::new(), 0);
    for k in 0..rounds {
        let away = k % 4 == 3;
        if away {
            server.halt()?;
        }
        let text = format!("Notiz {k}");
        let mut child = spawn_cli(tmp.path(), "anna", &["notiz", az, "--text", &text])?;
        std::thread::sleep(std::time::Duration::from_millis(rng.random_range(0..4000)));
        if child.try_wait()?.is_none() {
            child.kill()?;
            killed += 1;
        }
        let out = child.wait_with_output()?;
        if String::from_utf8_lossy(&out.stdout).contains("gespeichert") {
            saved.push(text);
        }
        if away {
            server.serve()?;
        }
    }
    println!(
        "{killed} von {rounds} Prozessen getötet, {} Notizen als gespeichert gemeldet",
        saved.len()
    );

    // Bring everything up, then read the server's notes at the Leitung's desk.
    let mut last = String::new();
    for _ in 0..3 {
        last = cli(tmp.path(), "anna", &["abgleichen"])?;
        if last.contains(" 0 wartend") {
            break;
        }
    }
    assert!(last.contains(" 0 wartend"), "{last}");
    lea.office_sync()?;
    let notes: Vec<String> = lea.office_notes(az)?.into_iter().map(|n| n.text).collect();
    let mut seen = std::collections::BTreeMap::new();
    for n in &notes {
        *seen.entry(n.clone()).or_insert(0) += 1;
    }
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "doppelt: {doubled:?} (seed {seed})");
    let lost: Vec<_> = saved.iter().filter(|t| !seen.contains_key(*t)).collect();
    assert!(lost.is_empty(), "verloren: {lost:?} (seed {seed})");
    println!("{} Notizen auf dem Server", notes.len());
    // Nothing appears that was never asked for.
    assert!(notes.iter().all(|n| n.starts_with("Notiz ")), "{notes:?}");
    server.halt()?;
    Ok(())
}

/// The server is the authority on users: one removed there can no longer log in at
/// a desk after its next synchronisation; a role set there applies at the desk.
#[test]
fn users_removed_or_changed_at_the_server_follow_at_the_desk() -> Result<(), BoxError> {
    let (_cluster, server) = office(
        "users",
        &[
            ("anna", Role::Sachbearbeitung),
            ("dora", Role::Sachbearbeitung),
            ("emil", Role::Leitung),
        ],
    )?;
    let tmp = tempfile::tempdir()?;
    let mut anna = desk_with(
        &server,
        tmp.path(),
        "anna",
        Role::Sachbearbeitung,
        &[
            ("dora", Role::Sachbearbeitung),
            ("emil", Role::Sachbearbeitung),
        ],
    )?;
    // Emil is Leitung at the server: so he is here after the first synchronisation.
    let first = anna.office_sync()?;
    assert_eq!(first.users_changed, 1, "{first:?}");
    let roles = |ws: &mut Workstation| -> Result<Vec<(String, Role, bool)>, BoxError> {
        ws.logout();
        ws.login(workstation::LoginRequest {
            username: "admin".into(),
            password: "admin-passwort-1".into(),
        })?;
        let list = ws
            .list_users()?
            .into_iter()
            .map(|u| (u.username, u.role, u.active))
            .collect();
        ws.logout();
        Ok(list)
    };
    let list = roles(&mut anna)?;
    assert!(
        list.contains(&("emil".into(), Role::Leitung, true)),
        "{list:?}"
    );

    // Dora leaves the town hall: removed at the server …
    server.rt.block_on(server.record.remove_user("dora"))?;
    anna.login(workstation::LoginRequest {
        username: "anna".into(),
        password: "anna-passwort-1".into(),
    })?;
    anna.office_sign_in("anna-passwort-1".into())?;
    let next = anna.office_sync()?;
    assert_eq!(next.users_changed, 1, "{next:?}");
    anna.logout();
    // … and her password opens nothing at this desk any more, offline included.
    let err = anna
        .login(workstation::LoginRequest {
            username: "dora".into(),
            password: "dora-passwort-1".into(),
        })
        .unwrap_err();
    assert!(!err.message.is_empty());
    let list = roles(&mut anna)?;
    assert!(
        list.contains(&("dora".into(), Role::Sachbearbeitung, false)),
        "{list:?}"
    );
    Ok(())
}

/// A user added at the Rathaus-Server logs in at a desk that has never seen her:
/// the server checks the password and hands out the desk's deposit, which opens
/// the desk's store; her local account is made there and works offline from then
/// on. A password changed at the server works at the desk from the next login on
/// (the old one no longer). Nobody gets in on a password the server refuses, or
/// as a user new at the server while the server is away.
#[test]
fn users_new_at_the_server_log_in_at_a_desk_that_never_saw_them() -> Result<(), BoxError> {
    let (_cluster, mut server) = office(
        "neu",
        &[("anna", Role::Sachbearbeitung), ("lea", Role::Leitung)],
    )?;
    let tmp = tempfile::tempdir()?;
    let mut anna = desk(&server, tmp.path(), "anna", Role::Sachbearbeitung)?;
    let login = |ws: &mut Workstation, who: &str, password: &str| {
        ws.login(workstation::LoginRequest {
            username: who.into(),
            password: password.into(),
        })
    };
    anna.office_sync()?;
    anna.logout();
    server.rt.block_on(
        server
            .record
            .add_user("nina", Role::Sachbearbeitung, "nina-passwort-1"),
    )?;
    let err = login(&mut anna, "nina", "nina-falsch-123").unwrap_err();
    assert!(err.message.contains("Passwort"), "{}", err.message);
    let info = login(&mut anna, "nina", "nina-passwort-1")?;
    assert_eq!(
        (info.username.as_str(), info.role),
        ("nina", Role::Sachbearbeitung)
    );
    let signed = anna.office_sign_in("nina-passwort-1".into())?;
    assert_eq!(signed.role, Role::Sachbearbeitung);
    anna.office_sync()?;
    anna.logout();
    let audit = server.rt.block_on(server.record.recent_audit(50))?;
    assert!(
        audit
            .iter()
            .any(|e| e.action == "arbeitsplatzschluessel_abgerufen"
                && e.actor.as_deref() == Some("nina")),
        "{audit:?}"
    );

    // A PC enrolled just now (its deposit went with the enrolment) lets her in too.
    let mut second = amtsstube_tests::local::workstation(&tmp.path().join("platz2"), None, &[])?;
    let code = server.rt.block_on(server.record.new_enrolment_code(10))?;
    second.office_connect(OfficeConnectRequest {
        server: server.url(),
        code,
        fingerprint: server.ca.fingerprint()?,
        name: "Platz 2".into(),
    })?;
    second.logout();
    let info = login(&mut second, "nina", "nina-passwort-1")?;
    assert_eq!(info.role, Role::Sachbearbeitung);
    second.logout();

    // Without the server: Nina's account here works, a user new there does not.
    server.halt()?;
    login(&mut anna, "nina", "nina-passwort-1")?;
    anna.logout();
    server.rt.block_on(
        server
            .record
            .add_user("otto", Role::Sachbearbeitung, "otto-passwort-1"),
    )?;
    assert!(login(&mut anna, "otto", "otto-passwort-1").is_err());
    server.serve()?;

    // A new password set at the server counts here from the next login on.
    server
        .rt
        .block_on(server.record.set_password("nina", "nina-neu-passwort-2"))?;
    login(&mut anna, "nina", "nina-neu-passwort-2")?;
    anna.logout();
    assert!(login(&mut anna, "nina", "nina-passwort-1").is_err());
    // And Otto, now that the server is back.
    login(&mut anna, "otto", "otto-passwort-1")?;
    anna.logout();

    // A workstation revoked at the server lets nobody new in (refusal audited);
    // the desk keeps no key of its own beside the store for this.
    let ws_id = server.rt.block_on(server.record.workstations())?[0].id;
    server.rt.block_on(server.record.revoke(ws_id))?;
    server.rt.block_on(server.record.add_user(
        "paula",
        Role::Sachbearbeitung,
        "paula-passwort-1",
    ))?;
    assert!(login(&mut anna, "paula", "paula-passwort-1").is_err());
    let refusals = server.rt.block_on(server.record.recent_refusals(10))?;
    assert!(
        refusals
            .iter()
            .any(|e| e.action == "erstanmeldung_abgelehnt"),
        "{refusals:?}"
    );
    let kept = std::fs::read_to_string(tmp.path().join("anna/keys/rathaus-server.json"))?;
    assert!(!kept.contains("PRIVATE KEY") && kept.contains("BEGIN CERTIFICATE"));
    Ok(())
}

/// An application the server picked up from FIT-Connect opens at the caseworker's
/// desk – applicant, documents, history – and nowhere a role may not read it.
#[test]
fn online_applications_picked_up_by_the_server_open_at_the_caseworkers_desk() -> Result<(), BoxError>
{
    let (_cluster, server) = office(
        "online",
        &[
            ("lea", Role::Leitung),
            ("anna", Role::Sachbearbeitung),
            ("sam", Role::Scanstelle),
        ],
    )?;
    let tmp = tempfile::tempdir()?;
    let mut anna = desk(&server, tmp.path(), "anna", Role::Sachbearbeitung)?;
    let mut sam = desk(&server, tmp.path(), "sam", Role::Scanstelle)?;
    let _lea = desk(&server, tmp.path(), "lea", Role::Leitung)?;
    anna.office_sign_in("anna-passwort-1".into())?;
    let sim = server
        .rt
        .block_on(amtsstube_tests::sim::start(std::path::Path::new(env!(
            "CARGO_TARGET_TMPDIR"
        ))))?;
    portal_sim::seed::seed(&mut sim.sim.lock(), 2, 41)?;
    let settings = server::pickup::parse_settings(&serde_json::to_string(&sim.config)?)?;
    let report = server
        .rt
        .block_on(server::pickup::pickup(server.record.clone(), &settings))?;
    assert_eq!(report.new_cases, 2, "{report:?}");

    anna.office_sync()?;
    let cases = anna.office_cases()?;
    assert_eq!(cases.len(), 2, "{cases:?}");
    let az = cases[0].file_number.clone();
    assert!(az.starts_with("ON-"), "{az}");
    let detail = anna.office_case(&az)?;
    assert_eq!(detail.channel, "online");
    let applicant = detail.applicant.clone().ok_or("kein Antragsteller")?;
    assert!(
        applicant.len() > 3 && applicant != "unbekannt",
        "{applicant}"
    );
    assert!(!detail.documents.is_empty());
    assert_eq!(detail.history[0].kind, "eingang");
    assert_eq!(detail.history[0].actor, "portal");
    let docs = anna.office_documents(&az)?;
    assert_eq!(docs.len(), detail.documents.len());
    for (doc, info) in docs.iter().zip(&detail.documents) {
        assert_eq!(doc.bytes.len() as u64, info.size);
        assert_eq!(doc.mime_type, info.mime_type);
    }
    assert!(
        docs.iter()
            .any(|d| d.mime_type == "application/pdf" && d.bytes.starts_with(b"%PDF")),
        "{docs:?}"
    );

    // The scanning desk neither holds the case nor gets its documents from the server.
    sam.office_sync()?;
    assert!(sam.office_cases()?.is_empty());
    let case_id = uuid::Uuid::parse_str(&cases[0].id)?;
    let sam_ws = server.rt.block_on(server.record.workstations())?[1].id;
    let refused = server.rt.block_on(server.record.case_documents(
        &Actor {
            user: "sam".into(),
            role: Role::Scanstelle,
        },
        sam_ws,
        case_id,
    ));
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("nicht lesen")),
        "{refused:?}"
    );

    // The same at the command line.
    anna.logout();
    let shown = cli(tmp.path(), "anna", &["vorgang", &az])?;
    assert!(
        shown.contains(&format!("Antragsteller/in: {applicant}"))
            && shown.contains("Dokument(e) vom Rathaus-Server geöffnet"),
        "{shown}"
    );
    Ok(())
}

/// The scanning desk gives Aktenzeichen from blocks leased in advance, so paper
/// applications become cases while the server is away; two desks never give the
/// same number; the caseworker sees the cases once the desk has synchronised.
#[test]
fn paper_applications_get_leased_numbers_offline_and_reach_the_caseworker() -> Result<(), BoxError>
{
    let (_cluster, mut server) = office(
        "papier",
        &[
            ("lea", Role::Leitung),
            ("anna", Role::Sachbearbeitung),
            ("sam", Role::Scanstelle),
            ("sina", Role::Scanstelle),
        ],
    )?;
    let tmp = tempfile::tempdir()?;
    let mut anna = desk(&server, tmp.path(), "anna", Role::Sachbearbeitung)?;
    let mut sam = desk(&server, tmp.path(), "sam", Role::Scanstelle)?;
    let mut sina = desk(&server, tmp.path(), "sina", Role::Scanstelle)?;
    let _lea = desk(&server, tmp.path(), "lea", Role::Leitung)?;
    // Before its first synchronisation the scanning desk holds no numbers yet.
    let err = sam.office_paper_case("HU", "Zu früh").unwrap_err();
    assert!(
        err.message.contains("Keine Aktenzeichen"),
        "{}",
        err.message
    );
    for (ws, name) in [(&mut anna, "anna"), (&mut sam, "sam"), (&mut sina, "sina")] {
        ws.office_sign_in(format!("{name}-passwort-1"))?;
        ws.office_sync()?;
    }
    // Nothing in stock without the server: a caseworker's desk takes in no paper.
    let err = anna.office_paper_case("HU", "Jemand").unwrap_err();
    assert_eq!(err.code, workstation::ErrorCode::Forbidden);

    server.halt()?;
    let year = jiff::Zoned::now().year();
    let first = sam.office_paper_case("HU", "Erna Papier")?;
    let second = sam.office_paper_case("Sondernutzung", "Otto Papier")?;
    let other = sina.office_paper_case("HU", "Ina Papier")?;
    assert_eq!(first, format!("PA-{year:04}-000001"));
    assert_eq!(second, format!("PA-{year:04}-000002"));
    assert_eq!(
        other,
        format!("PA-{year:04}-000051"),
        "Sinas Block folgt Sams"
    );
    assert!(sam.office_sync()?.waiting == 2);

    server.serve()?;
    let sent = sam.office_sync()?;
    assert_eq!((sent.applied, sent.refused), (2, 0), "{sent:?}");
    assert_eq!(sina.office_sync()?.applied, 1);
    anna.office_sync()?;
    let mut numbers: Vec<String> = anna
        .office_cases()?
        .into_iter()
        .map(|c| c.file_number)
        .collect();
    numbers.sort();
    assert_eq!(numbers, vec![first.clone(), second, other]);
    let detail = anna.office_case(&first)?;
    assert_eq!(detail.channel, "papier");
    assert_eq!(detail.applicant.as_deref(), Some("Erna Papier"));
    // The command line of the scanning desk, with the server there.
    sam.logout();
    let out = cli(
        tmp.path(),
        "sam",
        &[
            "papiereingang",
            "--art",
            "HU",
            "--antragsteller",
            "Paula Papier",
        ],
    )?;
    assert!(
        out.contains(&format!("PA-{year:04}-000003")) && out.contains("1 übernommen"),
        "{out}"
    );
    Ok(())
}

/// The app's shared workstation synchronises with the lock held only for the store
/// steps: while the server keeps the desk waiting, the clerk's screen can still use
/// the workstation. A logout ends the synchronisation's work.
#[test]
fn the_apps_synchronisation_leaves_the_workstation_free_while_the_server_answers()
-> Result<(), BoxError> {
    let (_cluster, mut server) = office(
        "geteilt",
        &[
            ("lea", Role::Leitung),
            ("anna", Role::Sachbearbeitung),
            ("sam", Role::Scanstelle),
        ],
    )?;
    let tmp = tempfile::tempdir()?;
    let mut anna = desk(&server, tmp.path(), "anna", Role::Sachbearbeitung)?;
    let _sam = desk(&server, tmp.path(), "sam", Role::Scanstelle)?;
    let _lea = desk(&server, tmp.path(), "lea", Role::Leitung)?;
    anna.office_sign_in("anna-passwort-1".into())?;
    let az = "HU-2026-00077";
    paper_case(&server, az)?;
    let shared: workstation::background::Shared =
        std::sync::Arc::new(std::sync::Mutex::new(Some(anna)));
    let first = workstation::desk::office_sync_shared(&shared)?.ok_or("nicht angemeldet")?;
    assert!(first.reachable && first.received >= 1, "{first:?}");
    {
        let mut guard = shared.lock().map_err(|_| "Sperre")?;
        let ws = guard.as_mut().ok_or("leer")?;
        ws.office_note(az, "Anna: über den geteilten Arbeitsplatz.")?;
    }
    let sent = workstation::desk::office_sync_shared(&shared)?.ok_or("nicht angemeldet")?;
    assert_eq!((sent.applied, sent.waiting), (1, 0), "{sent:?}");

    // The server keeps the desk waiting (it takes the connection and says nothing).
    server.halt()?;
    let silent = std::net::TcpListener::bind(server.addr)?;
    {
        let mut guard = shared.lock().map_err(|_| "Sperre")?;
        let ws = guard.as_mut().ok_or("leer")?;
        ws.office_note(az, "Anna: wartet auf den Server.")?;
    }
    let background = {
        let shared = shared.clone();
        std::thread::spawn(move || workstation::desk::office_sync_shared(&shared))
    };
    // Until the sync has reached the network it may hold the lock for a store step;
    // then the screen gets the workstation while the sync still waits.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let cases = {
        let mut guard = shared.lock().map_err(|_| "Sperre")?;
        guard.as_mut().ok_or("leer")?.office_cases()?
    };
    assert!(
        !background.is_finished(),
        "die Synchronisation wartet noch auf den Server"
    );
    assert_eq!(cases[0].waiting, 1);
    let away = background
        .join()
        .map_err(|_| "Thread")??
        .ok_or("abgemeldet")?;
    assert!(!away.reachable && away.waiting == 1, "{away:?}");
    drop(silent);

    // Logged out: nothing to synchronise.
    {
        let mut guard = shared.lock().map_err(|_| "Sperre")?;
        guard.as_mut().ok_or("leer")?.logout();
    }
    assert!(workstation::desk::office_sync_shared(&shared)?.is_none());
    Ok(())
}

/// A refused step can be done again on top of the case as it is now – when the
/// rules allow it now; otherwise the conflict stays with the reason why not.
#[test]
fn a_refused_step_is_redone_on_top_of_the_current_state_when_it_still_makes_sense()
-> Result<(), BoxError> {
    let (_cluster, mut server) = office(
        "wiederholen",
        &[
            ("lea", Role::Leitung),
            ("anna", Role::Sachbearbeitung),
            ("ben", Role::Sachbearbeitung),
            ("sam", Role::Scanstelle),
        ],
    )?;
    let tmp = tempfile::tempdir()?;
    let mut anna = desk(&server, tmp.path(), "anna", Role::Sachbearbeitung)?;
    let mut ben = desk(&server, tmp.path(), "ben", Role::Sachbearbeitung)?;
    let _sam = desk(&server, tmp.path(), "sam", Role::Scanstelle)?;
    let _lea = desk(&server, tmp.path(), "lea", Role::Leitung)?;
    for (ws, name) in [(&mut anna, "anna"), (&mut ben, "ben")] {
        ws.office_sign_in(format!("{name}-passwort-1"))?;
    }
    let (withdraw, again) = ("HU-2026-00101", "HU-2026-00102");
    paper_case(&server, withdraw)?;
    paper_case(&server, again)?;
    anna.office_sync()?;
    ben.office_sync()?;

    // Offline: Anna starts the review of both; Ben withdraws one and starts the
    // review of the other.
    server.halt()?;
    anna.office_step(withdraw, Step::PruefungBeginnen, None)?;
    anna.office_step(again, Step::PruefungBeginnen, None)?;
    ben.office_step(
        withdraw,
        Step::Zurueckziehen,
        Some("Der Antrag wurde telefonisch zurückgenommen."),
    )?;
    ben.office_step(again, Step::PruefungBeginnen, None)?;
    server.serve()?;
    anna.office_sync()?;
    let late = ben.office_sync()?;
    assert_eq!((late.applied, late.refused), (0, 2), "{late:?}");
    let conflicts = ben.office_conflicts()?;
    let seq_of = |az: &str| {
        conflicts
            .iter()
            .find(|c| c.file_number == az)
            .map(|c| c.seq)
            .ok_or("Konflikt fehlt")
    };

    // Starting the review twice makes no sense: refused at the desk, the conflict stays.
    let err = ben.office_conflict_redo(seq_of(again)?).unwrap_err();
    assert!(err.message.contains(again), "{}", err.message);
    // Withdrawing still does: done again on top of "in Prüfung", through the CLI.
    ben.logout();
    let out = cli(
        tmp.path(),
        "ben",
        &["konflikt-wiederholen", &seq_of(withdraw)?.to_string()],
    )?;
    assert!(out.contains("1 übernommen"), "{out}");
    anna.office_sync()?;
    assert_eq!(state_of(&mut anna, withdraw)?, CaseState::Zurueckgezogen);
    assert_eq!(state_of(&mut anna, again)?, CaseState::InPruefung);
    let left = cli(tmp.path(), "ben", &["konflikte"])?;
    assert!(left.contains(again) && !left.contains(withdraw), "{left}");
    Ok(())
}

/// A Bescheid made at the caseworker's desk goes out through the Rathaus-Server:
/// the letter reaches the citizen's portal mailbox (the very PDF kept in the
/// case), the Annahmeanordnung lands in the cash folder, the payment request
/// reaches the portal – each once, also when the server runs again. The desk
/// takes the Kassenzeichen from a block leased in advance; what the server sends
/// waits in PostgreSQL only as ciphertext and is wiped once it went out.
#[test]
fn a_bescheid_made_at_the_desk_is_sent_by_the_server_exactly_once() -> Result<(), BoxError> {
    use sha2::Digest as _;
    let Letters {
        cluster,
        server,
        tmp,
        mut anna,
        _lea,
        sim,
    } = letters_office("versand")?;
    portal_sim::seed::seed(&mut sim.sim.lock(), 3, 51)?;
    let settings = server::pickup::parse_settings(&serde_json::to_string(&sim.config)?)?;
    let pickup = || {
        server
            .rt
            .block_on(server::pickup::pickup(server.record.clone(), &settings))
    };
    assert_eq!(pickup()?.new_cases, 3);
    anna.office_sync()?;
    let cases = anna.office_cases()?;
    assert_eq!(cases.len(), 3, "{cases:?}");
    let names: Vec<String> = cases
        .iter()
        .map(|c| anna.office_case(&c.file_number))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter_map(|d| d.applicant)
        .collect();
    for c in &cases {
        decide_at_desk(&mut anna, &c.file_number)?;
    }
    let bescheid = |az: &str| workstation::LetterRequest {
        case_id: az.to_string(),
        kind: workstation::LetterKind::Bescheid,
        fees: Vec::new(),
        edits: Vec::new(),
        kanal: "postfach".into(),
    };
    // The server has said nothing about its delivery yet: no mailbox to choose.
    let err = anna
        .office_letter(&bescheid(&cases[0].file_number))
        .unwrap_err();
    assert!(err.message.contains("Portal"), "{}", err.message);

    // The server's delivery: its key, the portal's mailbox and payment service,
    // the cash folder. The desk learns of it (and leases Kassenzeichen) at its
    // next synchronisation.
    let kasse = tmp.path().join("kasse");
    std::fs::create_dir_all(&kasse)?;
    let (identity, recipient) = office::keyring::generate();
    server
        .record
        .set_delivery(Some(server::delivery::DeliverySettings {
            identity,
            recipient,
            reply_destination: Some(sim.config.reply_destination_id),
            payment_url: Some(sim.config.payment_url.clone()),
            hkr_dir: Some(kasse.clone()),
            mail: None,
            bundid: None,
            bounce: None,
        }));
    anna.office_sync()?;
    let mut booked = Vec::new();
    // The last one at the command line (`amtsstube buero brief`).
    let (last, first) = cases.split_last().ok_or("keine Fälle")?;
    anna.logout();
    let out = cli(
        tmp.path(),
        "anna",
        &[
            "brief",
            &last.file_number,
            "bescheid",
            "--kanal",
            "postfach",
        ],
    )?;
    assert!(
        out.contains("der Rathaus-Server versendet: Portal"),
        "{out}"
    );
    if let Some(kz) = out.split("Kassenzeichen ").nth(1) {
        booked.push(
            kz.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>(),
        );
    }
    anna.login(workstation::LoginRequest {
        username: "anna".into(),
        password: "anna-passwort-1".into(),
    })?;
    anna.office_sign_in("anna-passwort-1".into())?;
    assert_eq!(state_of(&mut anna, &last.file_number)?, CaseState::Versandt);
    for c in first {
        let letter = anna.office_letter(&bescheid(&c.file_number))?;
        assert!(letter.sends.contains(&"Portal".to_string()), "{letter:?}");
        if let Some(kz) = letter.kassenzeichen {
            assert!(domain::fees::kassenzeichen_valid(&kz, "mod10"), "{kz}");
            assert!(
                letter.sends.contains(&"Kasse".to_string()),
                "{:?}",
                letter.sends
            );
            booked.push(kz);
        }
        // Shown at once as sent, before the server has it.
        assert_eq!(state_of(&mut anna, &c.file_number)?, CaseState::Versandt);
    }
    assert!(!booked.is_empty(), "kein Fall mit Gebühr");
    let sent = anna.office_sync()?;
    assert_eq!((sent.applied, sent.refused), (2, 0), "{sent:?}");
    // A second Bescheid for a case already sent is refused at the desk.
    let again = anna
        .office_letter(&bescheid(&cases[0].file_number))
        .unwrap_err();
    assert!(again.message.contains("Bescheid"), "{}", again.message);

    // Before it is sent, the server's outbox holds the deliveries as ciphertext only.
    let waiting = server.rt.block_on(server.record.outbox_items())?;
    let letters: Vec<_> = waiting
        .iter()
        .filter(|i| ["reply", "payment", "hkr"].contains(&i.kind.as_str()))
        .collect();
    // A reply per case, an Annahmeanordnung and a payment request per fee.
    assert_eq!(letters.len(), cases.len() + 2 * booked.len(), "{letters:?}");
    assert!(letters.iter().all(|i| i.payload.is_empty()), "{letters:?}");
    assert_eq!(
        server.rt.block_on(server.record.delivery_waiting())?,
        letters.len() as i64 + cases.len() as i64
    );

    // The server sends; a second run sends nothing twice.
    let report = pickup()?;
    assert!(report.delivered >= letters.len(), "{report:?}");
    pickup()?;
    let items = server.rt.block_on(server.record.outbox_items())?;
    assert!(items.iter().all(|i| i.state == "done"), "{items:?}");

    // The citizen's mailbox: one verified reply per case, the PDF kept in the case.
    let http = reqwest::Client::new();
    let get = |path: String| {
        server.rt.block_on(async {
            http.get(format!("{}{path}", sim.config.api_url))
                .send()
                .await?
                .json::<serde_json::Value>()
                .await
        })
    };
    let portal_cases: Vec<uuid::Uuid> = sim.sim.lock().cases.keys().copied().collect();
    let mut replies = 0;
    for case in portal_cases {
        let view: portal_sim::citizen::CitizenCase =
            serde_json::from_value(get(format!("/citizen/cases/{case}"))?)?;
        let got: Vec<_> = view
            .replies
            .iter()
            .filter(|r| r.state != portal_sim::state::SubmissionState::Incomplete)
            .collect();
        assert_eq!(got.len(), 1, "{case}: genau eine Antwort");
        assert!(got[0].verified, "{:?}", got[0].problems);
        let az = got[0].data.as_ref().ok_or("keine Daten")?["aktenzeichen"]
            .as_str()
            .ok_or("kein Aktenzeichen")?
            .to_string();
        let kept = anna
            .office_documents(&az)?
            .into_iter()
            .find(|d| d.kind == "letter")
            .ok_or("kein Brief im Vorgang")?;
        assert!(kept.bytes.starts_with(b"%PDF"));
        assert_eq!(
            got[0].attachments[0].sha512,
            hex::encode(sha2::Sha512::digest(&kept.bytes)),
            "{az}: derselbe Brief"
        );
        replies += 1;
    }
    assert_eq!(replies, 3);
    // The cash system: one CSV and one XML per Kassenzeichen.
    let mut files: Vec<String> = std::fs::read_dir(&kasse)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut want: Vec<String> = booked
        .iter()
        .flat_map(|kz| [format!("AO-{kz}.csv"), format!("AO-{kz}.xml")])
        .collect();
    want.sort();
    assert_eq!(files, want);
    // The payment service: one request per Kassenzeichen (none was paid online
    // in this seed, else it would be left out).
    let payments: Vec<portal_sim::payment::PaymentRecord> =
        serde_json::from_value(get("/citizen/payments".into())?)?;
    let mut requested: Vec<String> = payments.iter().map(|p| p.request_id.clone()).collect();
    requested.sort();
    let mut unpaid = booked.clone();
    unpaid.sort();
    assert_eq!(requested, unpaid);

    // Sent and wiped: no delivery copy left, no applicant's name in clear in
    // PostgreSQL's files.
    let left = server.rt.block_on(server.record.delivery_waiting())?;
    assert_eq!(left, 0, "Zustellkopien übrig");
    let mut hits = Vec::new();
    amtsstube_tests::walk(&cluster.data_dir(), &mut |path, bytes| {
        for name in &names {
            if bytes.windows(name.len()).any(|w| w == name.as_bytes()) {
                hits.push(format!("{name} in {}", path.display()));
            }
        }
    });
    assert!(hits.is_empty(), "Klartext gefunden: {hits:?}");
    Ok(())
}

/// A citizen who asked for e-mail with her OpenPGP key gets the Bescheid made at
/// the caseworker's desk as PGP/MIME through the Rathaus-Server's relay – the very
/// PDF kept in the case; one who gave no key gets a printed letter and only the
/// notice by e-mail. An address the relay refuses becomes the clerk's task on the
/// case ("Zu erledigen"), settled by "Per Post versandt". Before the server has a
/// relay the desk refuses "E-Mail" in German; at the end no delivery copy is left.
#[test]
fn a_bescheid_by_email_made_at_the_desk_goes_out_through_the_servers_relay() -> Result<(), BoxError>
{
    use sha2::Digest as _;
    let Letters {
        cluster: _cluster,
        server,
        tmp,
        mut anna,
        _lea,
        sim,
    } = letters_office("email")?;
    // The first and third citizen ask for e-mail with a key, the second without.
    portal_sim::seed::seed_with_pgp(&mut sim.sim.lock(), 3, 53, 2)?;
    let settings = server::pickup::parse_settings(&serde_json::to_string(&sim.config)?)?;
    let pickup = || {
        server
            .rt
            .block_on(server::pickup::pickup(server.record.clone(), &settings))
    };
    assert_eq!(pickup()?.new_cases, 3);
    let sink = amtsstube_tests::smtp::Sink::start(("rathaus", "relay-passwort-1"))?;
    let relay = sync::mail::Relay {
        host: "127.0.0.1".into(),
        port: sink.port,
        security: sync::mail::Security::Starttls,
        user: Some("rathaus".into()),
        password: Some("relay-passwort-1".into()),
        from: "buergerbuero@musterstadt.example".into(),
        from_name: Some("Stadt Musterstadt".into()),
        ca_pem: Some(sink.ca_pem.clone()),
    };
    let (identity, recipient) = office::keyring::generate();
    let kasse = tmp.path().join("kasse");
    std::fs::create_dir_all(&kasse)?;
    let delivery = |mail: Option<sync::mail::Relay>| server::delivery::DeliverySettings {
        identity: identity.clone(),
        recipient: recipient.clone(),
        reply_destination: Some(sim.config.reply_destination_id),
        payment_url: None,
        hkr_dir: Some(kasse.clone()),
        mail,
        bundid: None,
        bounce: None,
    };
    server.record.set_delivery(Some(delivery(None)));
    anna.office_sync()?;
    let keys = sim.sim.lock().citizen_keys();
    let mut with_key = Vec::new();
    let mut without = None;
    for c in anna.office_cases()? {
        decide_at_desk(&mut anna, &c.file_number)?;
        let address = anna
            .office_documents(&c.file_number)?
            .into_iter()
            .find(|d| d.kind == "metadata")
            .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d.bytes).ok())
            .and_then(|m| {
                m["replyChannel"]["eMail"]["address"]
                    .as_str()
                    .map(str::to_owned)
            })
            .ok_or("keine E-Mail-Adresse in den Metadaten")?;
        if keys.contains_key(&address) {
            with_key.push((c.file_number.clone(), address, c.id.to_string()));
        } else {
            without = Some((c.file_number.clone(), address));
        }
    }
    let without = without.ok_or("kein Fall ohne Schlüssel")?;
    let [by_key, refused]: [(String, String, String); 2] = with_key
        .try_into()
        .map_err(|_| "nicht zwei Fälle mit Schlüssel")?;
    sink.refuse(&refused.1);
    let bescheid = |az: &str, kanal: &str| workstation::LetterRequest {
        case_id: az.to_string(),
        kind: workstation::LetterKind::Bescheid,
        fees: Vec::new(),
        edits: Vec::new(),
        kanal: kanal.into(),
    };
    // No relay at the server yet: e-mail is not offered, and refused in German.
    let view = anna.letter_view(&bescheid(&by_key.0, "email"))?;
    assert!(
        !view.channels.contains(&"email".to_string()),
        "{:?}",
        view.channels
    );
    let err = anna
        .office_letter(&bescheid(&by_key.0, "email"))
        .unwrap_err();
    assert!(
        err.message.contains("amtsstube-server email"),
        "{}",
        err.message
    );

    // The server gets its relay; the desk learns of it at its next synchronisation.
    server
        .record
        .set_delivery(Some(delivery(Some(relay.clone()))));
    anna.office_sync()?;
    let view = anna.letter_view(&bescheid(&by_key.0, "email"))?;
    assert!(
        view.channels.contains(&"email".to_string()),
        "{:?}",
        view.channels
    );
    let mailed = anna.office_letter(&bescheid(&by_key.0, "email"))?;
    assert!(
        mailed.sends.contains(&"E-Mail (verschlüsselt)".to_string()),
        "{mailed:?}"
    );
    let posted = anna.office_letter(&bescheid(&without.0, "post"))?;
    assert!(
        posted.sends.contains(&"Hinweis per E-Mail".to_string()),
        "{posted:?}"
    );
    anna.office_letter(&bescheid(&refused.0, "email"))?;
    let sent = anna.office_sync()?;
    assert_eq!((sent.applied, sent.refused), (3, 0), "{sent:?}");
    // Waiting at the server as ciphertext only.
    let waiting = server.rt.block_on(server.record.outbox_items())?;
    let mails: Vec<_> = waiting.iter().filter(|i| i.kind == "mail").collect();
    assert_eq!(mails.len(), 3, "{waiting:?}");
    assert!(mails.iter().all(|i| i.payload.is_empty()));

    let report = pickup()?;
    assert!(report.delivered >= 2, "{report:?}");
    pickup()?;
    let items = server.rt.block_on(server.record.outbox_items())?;
    let failed: Vec<_> = items.iter().filter(|i| i.state == "failed").collect();
    assert_eq!(failed.len(), 1, "{items:?}");
    assert!(
        items
            .iter()
            .all(|i| i.state == "done" || i.state == "failed"),
        "{items:?}"
    );
    assert_eq!(server.rt.block_on(server.record.delivery_waiting())?, 0);

    // The refusal reaches the clerk as a task on the case, with the server's reason.
    anna.office_sync()?;
    let detail = anna.case_detail(&refused.2)?;
    assert_eq!(detail.tasks.len(), 1, "{:?}", detail.tasks);
    assert!(
        detail.tasks[0].contains("E-Mail nicht zugestellt"),
        "{:?}",
        detail.tasks
    );
    assert!(detail.tasks[0].contains("550"), "{:?}", detail.tasks);
    assert!(
        detail
            .history
            .iter()
            .any(|h| h.kind == "email_unzustellbar")
    );
    assert!(anna.case_detail(&by_key.2)?.tasks.is_empty());
    // Printed and posted: settled at once, and recorded at the server.
    let settled = anna.mail_refused_sent_by_post(&refused.2)?;
    assert!(settled.tasks.is_empty(), "{:?}", settled.tasks);
    let again = anna.mail_refused_sent_by_post(&refused.2).unwrap_err();
    assert!(
        again.message.contains("keine abgelehnte E-Mail"),
        "{}",
        again.message
    );
    let sent = anna.office_sync()?;
    assert_eq!((sent.applied, sent.refused), (1, 0), "{sent:?}");
    let detail = anna.case_detail(&refused.2)?;
    assert!(detail.tasks.is_empty(), "{:?}", detail.tasks);
    assert!(
        detail
            .history
            .iter()
            .any(|h| h.kind == "ersatzversand_post")
    );

    let received = sink.received();
    assert_eq!(received.len(), 2, "je zugestellten Fall eine E-Mail");
    let views = sink.citizen_view(&keys);
    let encrypted = views
        .iter()
        .find(|v| v.to == by_key.1)
        .ok_or("keine E-Mail an die Bürgerin mit Schlüssel")?;
    assert!(encrypted.pgp_mime && encrypted.opened, "{encrypted:?}");
    let kept = anna
        .office_documents(&by_key.0)?
        .into_iter()
        .find(|d| d.kind == "letter")
        .ok_or("kein Brief im Vorgang")?;
    assert_eq!(encrypted.attachments.len(), 1, "{encrypted:?}");
    assert_eq!(
        encrypted.attachments[0].sha512,
        hex::encode(sha2::Sha512::digest(&kept.bytes)),
        "derselbe Brief"
    );
    let notice = views
        .iter()
        .find(|v| v.to == without.1)
        .ok_or("kein Hinweis an den Bürger ohne Schlüssel")?;
    assert!(
        !notice.pgp_mime && notice.attachments.is_empty(),
        "{notice:?}"
    );
    // No Aktenzeichen and no name in what travels in clear.
    for m in &received {
        let raw = String::from_utf8_lossy(&m.data);
        for az in [&by_key.0, &without.0, &refused.0] {
            assert!(
                !raw.contains(az.as_str()),
                "Aktenzeichen im Klartext: {raw}"
            );
        }
    }

    // Later both providers refuse what they took: their reports arrive in the
    // town's mailbox beside other mail. The server reads it (IMAP over TLS): the
    // encrypted Bescheid's bounce becomes the clerk's task on its case; the
    // notice's needs nothing (its letter went by post). Read again: no change.
    for m in &received {
        sink.bounce_afterwards(m);
    }
    sink.to_town_box(
        b"From: Buerger <b@example.org>\r\nTo: buergerbuero@musterstadt.example\r\n\
          Subject: Frage\r\nMessage-ID: <frage-1@example.org>\r\n\r\nGuten Tag.\r\n",
    );
    let bounce_box = sync::bounce::BounceBox {
        host: "127.0.0.1".into(),
        port: sink.imap_port,
        security: sync::mail::Security::Tls,
        user: "rathaus".into(),
        password: "relay-passwort-1".into(),
        folder: "INBOX".into(),
        ca_pem: Some(sink.ca_pem.clone()),
    };
    // A mailbox out of reach holds back nothing else: the pickup goes through,
    // the bounces wait for the next run.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    server
        .record
        .set_delivery(Some(server::delivery::DeliverySettings {
            bounce: Some(sync::bounce::BounceBox {
                port: closed,
                ..bounce_box.clone()
            }),
            ..delivery(Some(relay.clone()))
        }));
    pickup()?;
    anna.office_sync()?;
    assert!(anna.case_detail(&by_key.2)?.tasks.is_empty());
    server
        .record
        .set_delivery(Some(server::delivery::DeliverySettings {
            bounce: Some(bounce_box),
            ..delivery(Some(relay))
        }));
    for _ in 0..2 {
        pickup()?;
        anna.office_sync()?;
        let detail = anna.case_detail(&by_key.2)?;
        assert_eq!(detail.tasks.len(), 1, "{:?}", detail.tasks);
        assert!(
            detail.tasks[0].contains("E-Mail nicht zugestellt")
                && detail.tasks[0].contains("Nachträglich als unzustellbar gemeldet")
                && detail.tasks[0].contains("User unknown"),
            "{:?}",
            detail.tasks
        );
        let without_case = anna
            .office_cases()?
            .into_iter()
            .find(|c| c.file_number == without.0)
            .ok_or("Fall ohne Schlüssel fehlt")?;
        assert!(
            anna.case_detail(&without_case.id.to_string())?
                .tasks
                .is_empty()
        );
    }
    let items = server.rt.block_on(server.record.outbox_items())?;
    let failed: Vec<_> = items.iter().filter(|i| i.state == "failed").collect();
    assert_eq!(failed.len(), 2, "{items:?}");
    Ok(())
}

/// A citizen who asked for her BundID mailbox gets the Bescheid made at the
/// caseworker's desk through the Rathaus-Server's bridge, signed with the town's
/// BPKI key pair kept at the server – the very PDF kept in the case. A message the
/// bridge refuses (a key pair the BPKI never issued) becomes the clerk's task on
/// the case; before the server has a bridge the desk refuses "BundID" in German.
#[test]
fn a_bescheid_for_a_bundid_mailbox_made_at_the_desk_goes_out_through_the_servers_bridge()
-> Result<(), BoxError> {
    use sha2::Digest as _;
    let Letters {
        cluster: _cluster,
        server,
        tmp,
        mut anna,
        _lea,
        sim,
    } = letters_office("bundid")?;
    let mailboxes = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
    portal_sim::seed::seed_replying(
        &mut sim.sim.lock(),
        2,
        59,
        &|n, _| serde_json::json!({ "idBundDeMailbox": { "mailboxUuid": mailboxes[n].to_string() } }),
    )?;
    let settings = server::pickup::parse_settings(&serde_json::to_string(&sim.config)?)?;
    let pickup = || {
        server
            .rt
            .block_on(server::pickup::pickup(server.record.clone(), &settings))
    };
    let (bridge, key_pem, cert_pem) = {
        let st = sim.sim.lock();
        (
            st.bridge.destination_id,
            st.bridge.author_key_pem.clone(),
            st.bridge.author_cert_pem.clone(),
        )
    };
    let pki = fitconnect::keys::TestPki::new(2048)?;
    let (foreign_key, foreign_cert) = pki.issue_author(portal_sim::bridge::AUTHOR_CN, 2048)?;
    let (identity, recipient) = office::keyring::generate();
    let kasse = tmp.path().join("kasse");
    std::fs::create_dir_all(&kasse)?;
    let now = jiff::Timestamp::now().as_second();
    let delivery = |pair: Option<(&str, &str)>| -> Result<_, BoxError> {
        Ok(server::delivery::DeliverySettings {
            identity: identity.clone(),
            recipient: recipient.clone(),
            reply_destination: Some(sim.config.reply_destination_id),
            payment_url: None,
            hkr_dir: Some(kasse.clone()),
            mail: None,
            bundid: match pair {
                Some((key, cert)) => Some(server::delivery::BundIdRoute {
                    bridge,
                    sender: "Stadt Musterstadt".into(),
                    level: 3,
                    author: fitconnect::zbp::Author::from_pem(key, cert, now)?,
                }),
                None => None,
            },
            bounce: None,
        })
    };
    // The server keeps each application's Statusmonitor id from the pickup on.
    server.record.set_delivery(Some(delivery(None)?));
    assert_eq!(pickup()?.new_cases, 2);
    anna.office_sync()?;
    let mut cases = Vec::new();
    for c in anna.office_cases()? {
        decide_at_desk(&mut anna, &c.file_number)?;
        cases.push((c.file_number.clone(), c.id.clone()));
    }
    // The steps reach the server while it has no bridge: no status updates yet.
    assert_eq!(anna.office_sync()?.applied, 8);
    let [refused, ok]: [(String, String); 2] = cases.try_into().map_err(|_| "nicht zwei Fälle")?;
    let bescheid = |az: &str| workstation::LetterRequest {
        case_id: az.to_string(),
        kind: workstation::LetterKind::Bescheid,
        fees: Vec::new(),
        edits: Vec::new(),
        kanal: "bundid".into(),
    };
    // No bridge at the server yet: not offered, refused in German.
    let view = anna.letter_view(&bescheid(&ok.0))?;
    assert!(
        !view.channels.contains(&"bundid".to_string()),
        "{:?}",
        view.channels
    );
    let err = anna.office_letter(&bescheid(&ok.0)).unwrap_err();
    assert!(
        err.message.contains("amtsstube-server bundid einrichten"),
        "{}",
        err.message
    );
    let until_sent = || -> Result<Vec<store::OutboxItem>, BoxError> {
        for _ in 0..6 {
            pickup()?;
            let items = server.rt.block_on(server.record.outbox_items())?;
            if items.iter().all(|i| i.state != "pending") {
                return Ok(items);
            }
        }
        Err("Ausgang nicht leer".into())
    };

    // A key pair the BPKI never issued: the bridge refuses, the clerk gets the task.
    server
        .record
        .set_delivery(Some(delivery(Some((&foreign_key, &foreign_cert)))?));
    anna.office_sync()?;
    let view = anna.letter_view(&bescheid(&refused.0))?;
    assert_eq!(view.channels.first().map(String::as_str), Some("bundid"));
    let letter = anna.office_letter(&bescheid(&refused.0))?;
    assert!(
        letter.sends.contains(&"BundID-Postfach".to_string()),
        "{letter:?}"
    );
    assert_eq!(anna.office_sync()?.applied, 1);
    let items = until_sent()?;
    assert!(
        items
            .iter()
            .any(|i| i.kind == "bundid" && i.state == "failed"),
        "{items:?}"
    );
    assert!(sim.sim.lock().postkorb().is_empty(), "nichts durchgekommen");
    anna.office_sync()?;
    let d = anna.case_detail(&refused.1)?;
    assert_eq!(d.tasks.len(), 1, "{:?}", d.tasks);
    assert!(
        d.tasks[0].contains("Nicht im BundID-Postfach zugestellt") && d.tasks[0].contains("BPKI"),
        "{}",
        d.tasks[0]
    );

    // The right key pair: the letter reaches the mailbox, signed by the town.
    server
        .record
        .set_delivery(Some(delivery(Some((&key_pem, &cert_pem)))?));
    anna.office_letter(&bescheid(&ok.0))?;
    assert_eq!(anna.office_sync()?.applied, 1);
    until_sent()?;
    let inbox = sim.sim.lock().postkorb();
    let messages: Vec<_> = inbox.iter().filter(|e| e.art == "nachricht").collect();
    assert_eq!(messages.len(), 1, "{inbox:?}");
    let m = messages[0];
    assert!(
        m.mailbox_uuid.is_some_and(|u| mailboxes.contains(&u)),
        "{:?}",
        m.mailbox_uuid
    );
    assert_eq!(m.signer, portal_sim::bridge::AUTHOR_CN);
    assert_eq!(m.reference.as_deref(), Some(ok.0.as_str()));
    let kept = anna
        .office_documents(&ok.0)?
        .into_iter()
        .find(|d| d.kind == "letter")
        .ok_or("kein Brief im Vorgang")?;
    use base64::Engine as _;
    let received = base64::engine::general_purpose::STANDARD.decode(&m.files[0].content)?;
    assert_eq!(
        hex::encode(sha2::Sha512::digest(&received)),
        hex::encode(sha2::Sha512::digest(&kept.bytes)),
        "derselbe Brief"
    );
    // The Statusmonitor followed the case from the server: the Bescheid's step was
    // applied with the bridge set up (the earlier steps came before it was).
    let application = m.application_id.ok_or("keine Antrags-ID")?;
    let states = portal_sim::bridge::statuses(&inbox, application);
    assert_eq!(
        states,
        [("COMPLETED".to_string(), "Bescheid versandt".to_string())]
    );
    // Sent twice? A second run sends nothing again; no delivery copy is left.
    pickup()?;
    assert_eq!(
        sim.sim
            .lock()
            .postkorb()
            .iter()
            .filter(|e| e.art == "nachricht")
            .count(),
        1
    );
    assert_eq!(server.rt.block_on(server.record.delivery_waiting())?, 0);
    Ok(())
}

/// A town hall that worked standalone moves its store into the Rathaus-Server
/// (`amtsstube buero uebernehmen`, by the Leitung): every case with its state,
/// history, notes and documents (byte for byte) and the store's audit chain; run
/// again, nothing is doubled; a caseworker may not do it; no applicant's name lies
/// in clear in PostgreSQL's files afterwards.
#[test]
fn a_standalone_store_is_taken_over_without_losing_anything() -> Result<(), BoxError> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let (cluster, server) = office(
        "uebernahme",
        &[("lea", Role::Leitung), ("anna", Role::Sachbearbeitung)],
    )?;
    let tmp = tempfile::tempdir()?;
    let sim = server
        .rt
        .block_on(amtsstube_tests::sim::start(std::path::Path::new(env!(
            "CARGO_TARGET_TMPDIR"
        ))))?;
    // Citizens who asked for their BundID mailbox: the portal names each
    // application in the BundID Statusmonitor too.
    portal_sim::seed::seed_replying(
        &mut sim.sim.lock(),
        3,
        61,
        &|_, _| serde_json::json!({ "idBundDeMailbox": { "mailboxUuid": uuid::Uuid::new_v4().to_string() } }),
    )?;
    // The standalone store: picked up, worked on, with notes.
    let mut ws = amtsstube_tests::local::workstation(
        &tmp.path().join("lea"),
        Some(&sim),
        &[("lea", Role::Leitung), ("anna", Role::Sachbearbeitung)],
    )?;
    assert_eq!(ws.sync_now()?.new_cases, 3);
    // The work before the town hall connects this PC.
    ws.logout();
    ws.login(workstation::LoginRequest {
        username: "lea".into(),
        password: "lea-passwort-1".into(),
    })?;
    let list = ws.work_list(workstation::WorkListQuery {
        limit: 50,
        ..workstation::WorkListQuery::default()
    })?;
    assert_eq!(list.items.len(), 3);
    let first = list.items[0].id.clone();
    ws.case_action(&first, domain::lifecycle::Action::PruefungBeginnen)?;
    ws.add_note(&first, &format!("Rückruf bei {CANARY} vereinbart."))?;
    ws.add_note(&list.items[1].id, "Unterlagen vollständig?")?;
    // What the standalone store holds, to compare with afterwards.
    let mut before = BTreeMap::new();
    for item in &list.items {
        let d = ws.case_detail(&item.id)?;
        let mut hashes = Vec::new();
        for doc in &d.documents {
            let c = ws.document(&item.id, &doc.id)?;
            let bytes = base64::engine::general_purpose::STANDARD.decode(c.content_base64)?;
            hashes.push(hex::encode(sha2::Sha256::digest(&bytes)));
        }
        hashes.sort();
        before.insert(
            d.file_number.clone(),
            (
                d.state,
                d.history.len() + d.notes.len(),
                hashes,
                d.applicant.clone(),
            ),
        );
    }

    // The administration connects the PC; from now on its screens show the
    // server's record, which holds none of these cases yet.
    ws.logout();
    ws.login(workstation::LoginRequest {
        username: "admin".into(),
        password: "admin-passwort-1".into(),
    })?;
    let code = server.rt.block_on(server.record.new_enrolment_code(10))?;
    ws.office_connect(OfficeConnectRequest {
        server: server.url(),
        code,
        fingerprint: server.ca.fingerprint()?,
        name: "Bürgerbüro".into(),
    })?;
    ws.logout();
    ws.login(workstation::LoginRequest {
        username: "lea".into(),
        password: "lea-passwort-1".into(),
    })?;

    // The server sends to BundID: taken-over cases keep their Statusmonitor.
    let (identity, recipient) = office::keyring::generate();
    let route = {
        let st = sim.sim.lock();
        server::delivery::BundIdRoute {
            bridge: st.bridge.destination_id,
            sender: "Stadt Musterstadt".into(),
            level: 3,
            author: fitconnect::zbp::Author::from_pem(
                &st.bridge.author_key_pem,
                &st.bridge.author_cert_pem,
                jiff::Timestamp::now().as_second(),
            )?,
        }
    };
    server
        .record
        .set_delivery(Some(server::delivery::DeliverySettings {
            identity,
            recipient,
            reply_destination: Some(sim.config.reply_destination_id),
            payment_url: None,
            hkr_dir: None,
            mail: None,
            bundid: Some(route),
            bounce: None,
        }));

    // A caseworker may not take over; the Leitung signs in and does.
    ws.office_sign_in("lea-passwort-1".into())?;
    let report = ws.office_take_over(|_, _| {})?;
    assert_eq!((report.cases, report.new_cases), (3, 3), "{report:?}");
    let documents: usize = before.values().map(|b| b.2.len()).sum();
    assert_eq!(report.documents as usize, documents, "{report:?}");
    assert!(report.audit > 5, "{report:?}");
    // Run again (as after a break): nothing new, nothing doubled.
    let again = ws.office_take_over(|_, _| {})?;
    assert_eq!((again.new_cases, again.documents), (0, 0), "{again:?}");
    let ws_id = server.rt.block_on(server.record.workstations())?[0].id;
    // The whole chain, the first takeover's own entry included.
    assert_eq!(again.audit, report.audit + 1);
    assert_eq!(
        server.rt.block_on(server.record.taken_over_audit(ws_id))?,
        i64::from(again.audit)
    );

    // The cases as the Leitung's replica shows them: same states, every history
    // entry and note, the same documents byte for byte.
    ws.office_sync()?;
    let cases = ws.office_cases()?;
    assert_eq!(cases.len(), 3);
    for c in &cases {
        let (state, entries, hashes, applicant) = before
            .get(&c.file_number)
            .ok_or("unbekanntes Aktenzeichen")?;
        assert_eq!(c.state, *state, "{}", c.file_number);
        let detail = ws.office_case(&c.file_number)?;
        assert_eq!(detail.history.len(), *entries, "{}", c.file_number);
        assert_eq!(detail.applicant.as_deref(), Some(applicant.as_str()));
        let docs = ws.office_documents(&c.file_number)?;
        let mut sizes: Vec<u64> = docs.iter().map(|d| d.bytes.len() as u64).collect();
        let mut listed: Vec<u64> = detail.documents.iter().map(|d| d.size).collect();
        sizes.sort_unstable();
        listed.sort_unstable();
        assert_eq!(sizes, listed, "{}", c.file_number);
        let mut got: Vec<String> = docs
            .iter()
            .map(|d| hex::encode(sha2::Sha256::digest(&d.bytes)))
            .collect();
        got.sort();
        assert_eq!(&got, hashes, "{}", c.file_number);
    }
    // A taken-over case moves at the desk: the server reports it to the BundID
    // Statusmonitor under the application's id the portal named at the desk.
    let waiting = cases
        .iter()
        .find(|c| c.state == CaseState::Eingegangen)
        .ok_or("kein eingegangener Vorgang")?;
    ws.office_step(&waiting.file_number, Step::PruefungBeginnen, None)?;
    assert_eq!(ws.office_sync()?.applied, 1);
    let settings = server::pickup::parse_settings(&serde_json::to_string(&sim.config)?)?;
    server
        .rt
        .block_on(server::pickup::pickup(server.record.clone(), &settings))?;
    let statuses: Vec<_> = sim
        .sim
        .lock()
        .postkorb()
        .into_iter()
        .filter(|e| e.art == "status")
        .collect();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert!(statuses[0].application_id.is_some(), "{statuses:?}");
    // The app's work list on this PC now shows them from the server's record.
    let shown = ws.work_list(workstation::WorkListQuery::default())?;
    let mut names: Vec<String> = shown.items.iter().map(|c| c.applicant.clone()).collect();
    let mut expected: Vec<String> = before.values().map(|b| b.3.clone()).collect();
    names.sort();
    expected.sort();
    assert_eq!(names, expected);
    // A caseworker's desk does not take over, and the server refuses a caseworker
    // who tries anyway (audited), whatever the desk claims.
    let mut anna = desk(&server, tmp.path(), "anna", Role::Sachbearbeitung)?;
    let err = anna.office_take_over(|_, _| {}).unwrap_err();
    assert_eq!(
        err.code,
        workstation::ErrorCode::Forbidden,
        "{}",
        err.message
    );
    let (_, stranger) = office::keyring::generate();
    let forged = office::protocol::TakeoverCase {
        meta: office::CaseMeta {
            extended: false,
            id: uuid::Uuid::new_v4(),
            file_number: "HU-2026-99999".into(),
            case_type: "HU".into(),
            channel: "papier".into(),
            state: CaseState::Eingegangen,
            waiting_from: None,
            checklist_complete: false,
            assignee: None,
            received_at: "2026-12-01T09:00:00Z".into(),
            version: 0,
            state_version: 0,
        },
        content: office::keyring::seal(b"{}", &[stranger.as_str()]).map_err(|r| r.reason)?,
        events: Vec::new(),
        submissions: Vec::new(),
        statusmonitor: None,
    };
    let anna_actor = Actor {
        user: "anna".into(),
        role: Role::Sachbearbeitung,
    };
    let refused = server
        .rt
        .block_on(server.record.take_over_case(&anna_actor, ws_id, &forged));
    assert!(
        matches!(&refused, Err(server::ServerError::Forbidden(m)) if m.contains("nur die Leitung")),
        "{refused:?}"
    );
    let audit = server.rt.block_on(server.record.recent_refusals(5))?;
    assert!(
        audit.iter().any(|e| e.action == "uebernahme_abgelehnt"),
        "{audit:?}"
    );
    // A Statusmonitor entry without a service is refused, and the case with it.
    let lea_actor = Actor {
        user: "lea".into(),
        role: Role::Leitung,
    };
    let mut bad = forged.clone();
    bad.statusmonitor = Some(office::protocol::TakeoverMonitor {
        application_id: uuid::Uuid::new_v4(),
        service: " ".into(),
    });
    let refused = server
        .rt
        .block_on(server.record.take_over_case(&lea_actor, ws_id, &bad));
    assert!(
        matches!(&refused, Err(server::ServerError::Invalid(m)) if m.contains("keine gültige Leistung")),
        "{refused:?}"
    );
    ws.office_sync()?;
    assert!(
        !ws.office_cases()?
            .iter()
            .any(|c| c.file_number == "HU-2026-99999")
    );

    // The same at the command line, once more: nothing new.
    ws.logout();
    let out = cli(tmp.path(), "lea", &["uebernehmen"])?;
    assert!(
        out.contains("3 Vorgänge (0 neu am Rathaus-Server)") && out.contains(", 0 Dokumente,"),
        "{out}"
    );

    // No applicant's name, no note in clear in PostgreSQL's files.
    let mut needles: Vec<String> = before.values().map(|b| b.3.clone()).collect();
    needles.push(CANARY.to_string());
    let mut hits = Vec::new();
    amtsstube_tests::walk(&cluster.data_dir(), &mut |path, bytes| {
        for name in &needles {
            if bytes.windows(name.len()).any(|w| w == name.as_bytes()) {
                hits.push(format!("{name} in {}", path.display()));
            }
        }
    });
    assert!(hits.is_empty(), "Klartext gefunden: {hits:?}");
    Ok(())
}

/// The scanning desk's PC approves a scan (four eyes: one scans, the other
/// approves) in office mode: the case gets an Aktenzeichen from the leased block,
/// goes to the Rathaus-Server, and its scan follows; the caseworker's PC finds the
/// new paper case with the very scan after its next synchronisation.
#[test]
fn a_scan_approved_at_the_scanning_desk_reaches_the_caseworkers_desk() -> Result<(), BoxError> {
    let (_cluster, server) = office(
        "scanstelle",
        &[
            ("lea", Role::Leitung),
            ("anna", Role::Sachbearbeitung),
            ("sam", Role::Scanstelle),
            ("sina", Role::Scanstelle),
        ],
    )?;
    let tmp = tempfile::tempdir()?;
    let as_user = |ws: &mut Workstation, who: &str| -> Result<(), BoxError> {
        ws.logout();
        ws.login(workstation::LoginRequest {
            username: who.into(),
            password: format!("{who}-passwort-1"),
        })?;
        ws.office_sign_in(format!("{who}-passwort-1"))?;
        Ok(())
    };
    // Everybody publishes a key first; the Leitung's sign-in then hands them out.
    let mut scan = desk_with(
        &server,
        tmp.path(),
        "sam",
        Role::Scanstelle,
        &[("sina", Role::Scanstelle)],
    )?;
    as_user(&mut scan, "sina")?;
    let mut anna = desk(&server, tmp.path(), "anna", Role::Sachbearbeitung)?;
    let mut lea = desk(&server, tmp.path(), "lea", Role::Leitung)?;
    anna.office_sign_in("anna-passwort-1".into())?;

    // Sam scans one application into a batch.
    as_user(&mut scan, "sam")?;
    scan.office_sync()?;
    let inbox = tmp.path().join("scanner");
    std::fs::create_dir(&inbox)?;
    let paper = b"\xFF\xD8\xFF\xFE\x00\x10Gewerbe Nowak\xFF\xD9".to_vec();
    std::fs::write(inbox.join("antrag.jpg"), &paper)?;
    scan.scan_batch_create(&workstation::BatchRequest {
        class: "gewerbe".into(),
        r#box: "Karton 7".into(),
        expected_pages: 1,
        flags: Vec::new(),
    })?;
    let taken = scan.scan_intake(
        &inbox,
        std::time::Duration::from_millis(300),
        std::time::Duration::from_secs(10),
    )?;
    assert!(taken.iter().any(|r| r.result == "eingelesen"), "{taken:?}");
    // Sina checks and approves it.
    as_user(&mut scan, "sina")?;
    let queue = scan.scan_queue()?;
    assert_eq!(queue.len(), 1);
    let az = scan.scan_approve(&workstation::ScanApproveRequest {
        product_id: queue[0].id.clone(),
        case_type_code: "GEW".into(),
        applicant: "Piotr Nowak".into(),
        note: Some("vollständig, lesbar".into()),
        checklist: ["vollstaendig", "reihenfolge", "lesbar", "ausrichtung"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    })?;
    let year = jiff::Zoned::now().year();
    assert!(az.starts_with(&format!("PA-{year}-")), "{az}");
    let sent = scan.office_sync()?;
    assert_eq!((sent.applied, sent.refused), (1, 0), "{sent:?}");

    // The caseworker's PC: the new paper case, with the scan byte for byte.
    anna.office_sync()?;
    let detail = anna.office_case(&az)?;
    assert_eq!(detail.channel, "papier");
    assert_eq!(detail.applicant.as_deref(), Some("Piotr Nowak"));
    let docs = anna.office_documents(&az)?;
    assert!(
        docs.iter().any(|d| d.kind == "scan" && d.bytes == paper),
        "{:?}",
        docs.iter()
            .map(|d| (&d.kind, d.bytes.len()))
            .collect::<Vec<_>>()
    );
    // Nothing left to send, and a second synchronisation sends nothing twice.
    let again = scan.office_sync()?;
    assert_eq!(again.applied, 0, "{again:?}");
    assert_eq!(anna.office_documents(&az)?.len(), docs.len());

    // Anna decides it; the Leitung's figures on her own PC count it (they cover
    // every case of the town hall, from her replica).
    anna.office_step(&az, Step::PruefungBeginnen, None)?;
    anna.office_checklist(&az, true)?;
    anna.office_step(&az, Step::Vollstaendig, None)?;
    anna.office_step(
        &az,
        Step::Entscheiden {
            ergebnis: Decision::Bewilligt,
        },
        None,
    )?;
    anna.office_sync()?;
    lea.office_sync()?;
    let day = jiff::Zoned::now().date();
    let request = workstation::ReportRequest {
        from: format!("{}-01-01", day.year()),
        until: day.to_string(),
        case_type: None,
        channel: None,
    };
    // The history in the order it happened, though all four steps fell in one second.
    let seen: Vec<String> = lea
        .office_case(&az)?
        .history
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        seen,
        [
            "eingang",
            "pruefung_beginnen",
            "vollstaendig",
            "entscheiden"
        ],
        "{seen:?}"
    );
    let r = lea.report(&request)?;
    assert_eq!(
        (r.total.current.arrivals, r.total.current.decided),
        (1, 1),
        "{:?}",
        r.total
    );
    let gew = r.by_type.iter().find(|g| g.label == "Gewerbeanmeldung");
    assert!(
        gew.is_some(),
        "{:?}",
        r.by_type.iter().map(|g| &g.label).collect::<Vec<_>>()
    );
    let decided = lea.report_cases(&request, "alle", workstation::Metric::Decided)?;
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0].file_number, az);
    // The list of deadlines the legal review changed reads the replica too; a decided
    // case is not on it.
    let changed = lea.deadline_changes()?;
    assert!(changed.iter().all(|c| c.file_number != az), "{changed:?}");
    Ok(())
}

/// The app's own screens in office mode: the work list, search, the case view,
/// the steps, the checklist, notes, assignment and documents answer from the
/// replica with the same types as standalone – and keep working while the server
/// is away, the steps waiting in the queue until it is back.
#[test]
fn the_apps_work_list_and_case_view_run_on_the_replica_online_and_offline() -> Result<(), BoxError>
{
    use domain::lifecycle::{Action, ActionKind};
    use workstation::WorkListQuery;
    use workstation::casework::AssignRequest;
    let (_cluster, mut server) = office(
        "screens",
        &[
            ("lea", Role::Leitung),
            ("anna", Role::Sachbearbeitung),
            ("ben", Role::Sachbearbeitung),
            ("sam", Role::Scanstelle),
        ],
    )?;
    let tmp = tempfile::tempdir()?;
    let mut lea = desk(&server, tmp.path(), "lea", Role::Leitung)?;
    let mut anna = desk(&server, tmp.path(), "anna", Role::Sachbearbeitung)?;
    let mut sam = desk(&server, tmp.path(), "sam", Role::Scanstelle)?;
    lea.office_sign_in("lea-passwort-1".into())?;
    anna.office_sign_in("anna-passwort-1".into())?;
    let sim = server
        .rt
        .block_on(amtsstube_tests::sim::start(std::path::Path::new(env!(
            "CARGO_TARGET_TMPDIR"
        ))))?;
    portal_sim::seed::seed(&mut sim.sim.lock(), 3, 77)?;
    let settings = server::pickup::parse_settings(&serde_json::to_string(&sim.config)?)?;
    let report = server
        .rt
        .block_on(server::pickup::pickup(server.record.clone(), &settings))?;
    assert_eq!(report.new_cases, 3, "{report:?}");
    anna.office_sync()?;
    lea.office_sync()?;

    // The work list: every case, with the applicant opened at the desk.
    let list = anna.work_list(WorkListQuery::default())?;
    assert_eq!(list.total, 3, "{list:?}");
    assert!(list.items.iter().all(|c| c.file_number.starts_with("ON-")));
    assert!(
        list.items
            .iter()
            .all(|c| c.applicant.len() > 3 && !c.applicant.contains("verschlüsselt")),
        "{list:?}"
    );
    assert!(list.items.iter().all(|c| c.deadline.is_some()), "{list:?}");
    // Search by a part of the name, and by the Aktenzeichen.
    let first = list.items[0].clone();
    let surname = first
        .applicant
        .split_whitespace()
        .last()
        .ok_or("kein Name")?
        .to_lowercase();
    let found = anna.work_list(WorkListQuery {
        search: Some(surname.clone()),
        ..WorkListQuery::default()
    })?;
    assert!(
        found.items.iter().any(|c| c.id == first.id),
        "{surname}: {found:?}"
    );
    let found = anna.work_list(WorkListQuery {
        search: Some(first.file_number.clone()),
        ..WorkListQuery::default()
    })?;
    assert_eq!(found.total, 1);
    // Paging and the order by Aktenzeichen.
    let page = anna.work_list(WorkListQuery {
        limit: 2,
        sort: Some(workstation::WorkListSort::Aktenzeichen),
        ..WorkListQuery::default()
    })?;
    assert_eq!((page.items.len(), page.total), (2, 3));
    assert!(page.items[0].file_number < page.items[1].file_number);
    // By deadline as standalone: the earliest first; the views' counts match the dates.
    let by_due = anna.work_list(WorkListQuery {
        sort: Some(workstation::WorkListSort::Frist),
        ..WorkListQuery::default()
    })?;
    let dues: Vec<String> = by_due
        .items
        .iter()
        .map(|c| c.due.clone().unwrap_or_default())
        .collect();
    assert!(
        dues.iter().all(|d| !d.is_empty()) && dues.is_sorted(),
        "{dues:?}"
    );
    assert_eq!((by_due.counts.alle, by_due.counts.eingang), (3, 3));
    let today = jiff::Zoned::now().date().to_string();
    let overdue = dues.iter().filter(|d| d.as_str() < today.as_str()).count();
    assert_eq!(by_due.counts.ueberfaellig as usize, overdue, "{dues:?}");
    let view = anna.work_list(WorkListQuery {
        view: Some(workstation::WorkListView::Ueberfaellig),
        ..WorkListQuery::default()
    })?;
    assert_eq!(view.total as usize, overdue);
    // The scanning desk has no work list of cases.
    let refused = sam.work_list(WorkListQuery::default());
    assert!(
        matches!(&refused, Err(e) if e.code == workstation::ErrorCode::Forbidden),
        "{refused:?}"
    );

    // The case view.
    let detail = anna.case_detail(&first.id)?;
    assert_eq!(detail.applicant, first.applicant);
    assert_eq!(detail.file_number, first.file_number);
    assert_eq!(detail.channel, domain::Channel::Online);
    assert!(!detail.documents.is_empty());
    assert!(detail.deadlines.target.is_some(), "{:?}", detail.deadlines);
    assert_eq!(detail.history[0].kind, "eingang");
    assert!(
        detail
            .allowed_actions
            .contains(&ActionKind::PruefungBeginnen),
        "{:?}",
        detail.allowed_actions
    );
    // A document, fetched from the server and opened here.
    let doc = anna.document(&first.id, "0")?;
    assert!(!doc.content_base64.is_empty());
    assert!(anna.document(&first.id, "99").is_err());

    // A step: anna takes the case and starts the check; the view shows it at once.
    let after = anna.case_action(&first.id, Action::PruefungBeginnen)?;
    assert_eq!(after.state, CaseState::InPruefung);
    assert_eq!(after.assigned_to.as_deref(), Some("anna"));
    // The checklist: ticking every point makes it complete at the server.
    for item in after.checklist.iter().map(|c| c.item.clone()) {
        anna.set_check(&first.id, &item, true)?;
    }
    assert!(anna.set_check(&first.id, "gibt es nicht", true).is_err());
    anna.add_note(&first.id, "Rückruf am Montag vereinbart")?;
    let synced = anna.office_sync()?;
    assert_eq!(synced.refused, 0, "{synced:?}");
    let detail = anna.case_detail(&first.id)?;
    assert!(
        detail.checklist.iter().all(|c| c.checked),
        "{:?}",
        detail.checklist
    );
    assert!(
        detail.allowed_actions.contains(&ActionKind::Vollstaendig),
        "{:?}",
        detail.allowed_actions
    );
    assert!(
        detail
            .notes
            .iter()
            .any(|n| n.text == "Rückruf am Montag vereinbart" && n.author == "anna")
    );

    // The server away: the list and the view still answer, a step waits.
    server.halt()?;
    assert_eq!(anna.work_list(WorkListQuery::default())?.total, 3);
    let offline = anna.case_action(&first.id, Action::VollstaendigFeststellen)?;
    assert_eq!(offline.state, CaseState::InBearbeitung);
    let away = anna.office_sync()?;
    assert!(!away.reachable && away.waiting >= 1, "{away:?}");
    // A new login while the server is away (the app restarted): the keys this desk
    // keeps open with the password, so names and notes still show; a wrong
    // password opens nothing.
    anna.logout();
    anna.login(workstation::LoginRequest {
        username: "anna".into(),
        password: "anna-passwort-1".into(),
    })?;
    let wrong = anna
        .office_sign_in_job()?
        .ok_or("nicht verbunden")?
        .run_or_kept("falsches-passwort".into());
    assert!(wrong.is_err());
    let kept = anna
        .office_sign_in_job()?
        .ok_or("nicht verbunden")?
        .run_or_kept("anna-passwort-1".into())?;
    let report = anna.office_sign_in_finish(kept)?;
    assert!(report.offline && report.holds.contains(&"fall".to_string()));
    assert!(!anna.office_signed_in());
    let offline_list = anna.work_list(WorkListQuery::default())?;
    assert!(
        offline_list
            .items
            .iter()
            .any(|c| c.id == first.id && c.applicant == first.applicant),
        "{offline_list:?}"
    );
    let strict = anna
        .office_sign_in_job()?
        .ok_or("nicht verbunden")?
        .run("anna-passwort-1".into());
    assert!(
        strict.is_err(),
        "the explicit sign-in says the server is away"
    );
    server.serve()?;
    anna.office_sign_in("anna-passwort-1".into())?;
    let back = anna.office_sync()?;
    assert_eq!((back.refused, back.waiting), (0, 0), "{back:?}");

    // The letter composer: the Eingangsbestätigung made from the replica, its
    // preview a PDF naming the applicant's case; sent, it waits as one command.
    let letter = workstation::LetterRequest {
        case_id: first.id.clone(),
        kind: workstation::LetterKind::Eingangsbestaetigung,
        fees: Vec::new(),
        edits: Vec::new(),
        kanal: "post".into(),
    };
    let view = anna.letter_view(&letter)?;
    assert!(view.blocked.is_none(), "{:?}", view.blocked);
    assert!(!view.draft.blocks.is_empty());
    let pdf = anna.letter_preview(&letter)?;
    assert!(pdf.starts_with(b"%PDF"));
    let sent = anna.send_letter(&letter)?;
    assert_eq!(sent.file_number, first.file_number);
    let waiting = anna.case_outbox(&first.id)?;
    assert!(
        waiting.iter().any(|o| o.state.starts_with("wartet")),
        "{waiting:?}"
    );
    let synced = anna.office_sync()?;
    assert_eq!((synced.refused, synced.waiting), (0, 0), "{synced:?}");
    let after = anna.case_detail(&first.id)?;
    assert!(
        after.history.iter().any(|h| h.kind == "brief"),
        "{:?}",
        after.history
    );
    let handed = anna.case_outbox(&first.id)?;
    assert_eq!(handed.len(), 1, "{handed:?}");
    assert_eq!(handed[0].state, "beim Rathaus-Server");

    // The Leitung sees the case moved on and reassigns it with a reason, which
    // travels as a note; anna no longer sees it, ben's desk would.
    lea.office_sync()?;
    let at_lea = lea.case_detail(&first.id)?;
    assert_eq!(at_lea.state, CaseState::InBearbeitung);
    assert!(lea.case_workers()?.iter().any(|u| u.username == "ben"));
    let no_reason = lea.assign_case(AssignRequest {
        case_id: first.id.clone(),
        to: Some("ben".into()),
        reason: None,
    });
    assert!(no_reason.is_err(), "{no_reason:?}");
    lea.assign_case(AssignRequest {
        case_id: first.id.clone(),
        to: Some("ben".into()),
        reason: Some("Urlaubsvertretung".into()),
    })?;
    lea.office_sync()?;
    anna.office_sync()?;
    assert!(anna.case_detail(&first.id).is_err());
    assert_eq!(anna.work_list(WorkListQuery::default())?.total, 2);
    let at_lea = lea.case_detail(&first.id)?;
    assert_eq!(at_lea.assigned_to.as_deref(), Some("ben"));
    assert!(
        at_lea
            .notes
            .iter()
            .any(|n| n.text.contains("Urlaubsvertretung"))
    );
    Ok(())
}

/// The app's first run: alone (the administration's account and the recovery key
/// once), or as a desk of the Rathaus-Server (enrolled with the one-time code; a
/// wrong code leaves nothing behind and the form can be sent again; then the
/// server's users log in at the new PC).
#[test]
fn a_new_pc_is_set_up_at_first_run_alone_or_as_a_desk_of_the_server() -> Result<(), BoxError> {
    use workstation::{SetupMode, SetupRequest, setup_due};
    let (_cluster, server) = office("firstrun", &[("lea", Role::Leitung)])?;
    let tmp = tempfile::tempdir()?;
    let request = |mode, office| SetupRequest {
        mode,
        admin: "admin".into(),
        display_name: "Administration Bürgerbüro".into(),
        password: "admin-passwort-1".into(),
        office,
    };

    // Alone.
    let alone = tmp.path().join("allein");
    assert!(setup_due(&alone));
    let short = SetupRequest {
        password: "kurz".into(),
        ..request(SetupMode::Allein, None)
    };
    assert!(Workstation::first_run(&alone, short).is_err());
    assert!(setup_due(&alone));
    let (mut ws, done) = Workstation::first_run(&alone, request(SetupMode::Allein, None))?;
    assert!(done.recovery_key.starts_with("AGE-SECRET-KEY-1"));
    assert!(done.office.is_none());
    assert!(ws.session().is_none(), "logged out after the first run");
    ws.login(workstation::LoginRequest {
        username: "admin".into(),
        password: "admin-passwort-1".into(),
    })?;
    assert!(!setup_due(&alone));
    let again = Workstation::first_run(&alone, request(SetupMode::Allein, None)).err();
    assert!(
        again
            .as_ref()
            .is_some_and(|e| e.message.contains("bereits eingerichtet")),
        "{again:?}"
    );
    // A folder with other files is not taken.
    let busy = tmp.path().join("belegt");
    std::fs::create_dir_all(&busy)?;
    std::fs::write(busy.join("notiz.txt"), b"x")?;
    assert!(Workstation::first_run(&busy, request(SetupMode::Allein, None)).is_err());
    assert!(busy.join("notiz.txt").exists());

    // As a desk of the server: a wrong code first.
    let desk_dir = tmp.path().join("platz");
    let connect = |code: String| -> Result<OfficeConnectRequest, BoxError> {
        Ok(OfficeConnectRequest {
            server: server.url(),
            code,
            fingerprint: server.ca.fingerprint()?,
            name: "Bürgerbüro 2".into(),
        })
    };
    let wrong = Workstation::first_run(
        &desk_dir,
        request(SetupMode::Buero, Some(connect("AAAA-BBBB-CCCC".into())?)),
    )
    .err();
    assert!(wrong.is_some());
    assert!(
        setup_due(&desk_dir) && !desk_dir.exists(),
        "nothing left behind"
    );
    let missing = Workstation::first_run(&desk_dir, request(SetupMode::Buero, None));
    assert!(missing.is_err());
    let code = server.rt.block_on(server.record.new_enrolment_code(10))?;
    let (mut desk, done) =
        Workstation::first_run(&desk_dir, request(SetupMode::Buero, Some(connect(code)?)))?;
    assert!(
        done.office
            .as_deref()
            .is_some_and(|m| m.contains("Verbunden")),
        "{:?}",
        done.office
    );
    // The Leitung, known only at the server, logs in at the new PC.
    desk.login(workstation::LoginRequest {
        username: "lea".into(),
        password: "lea-passwort-1".into(),
    })?;
    desk.office_sign_in("lea-passwort-1".into())?;
    assert!(desk.office_signed_in());
    Ok(())
}

/// § 42a Abs. 2 S. 3 VwVfG in office mode: the caseworker extends the period at her
/// desk (checked there against the case type's clock), the server applies it once, and
/// the Leitung's desk shows the new end; a second extension is refused at the desk.
#[test]
fn a_deadline_extended_at_a_desk_is_applied_once_and_every_desk_sees_it() -> Result<(), BoxError> {
    let (_cluster, server) = office(
        "extension",
        &[
            ("lea", Role::Leitung),
            ("anna", Role::Sachbearbeitung),
            ("sam", Role::Scanstelle),
        ],
    )?;
    let tmp = tempfile::tempdir()?;
    let mut lea = desk(&server, tmp.path(), "lea", Role::Leitung)?;
    let mut anna = desk(&server, tmp.path(), "anna", Role::Sachbearbeitung)?;
    // The town's own configuration: every case type under a Genehmigungsfiktion with
    // one extension, at both desks.
    let types = workstation::config::DEFAULT_CASE_TYPES
        .replace(
            "\nuhr = \"servicefrist\"",
            "\nuhr = \"fiktion\"\nfrist_monate = 3\nverlaengerung_monate = 2",
        )
        .replace(
            "\nuhr = \"fachfrist\"\nfrist_tage = 3\nfristbeginn = \"eingang\"",
            "\nuhr = \"fiktion\"\nfrist_monate = 3\nfristbeginn = \"vollstaendig\"\nverlaengerung_monate = 2",
        );
    for who in ["lea", "anna"] {
        std::fs::write(tmp.path().join(who).join("vorgangsarten.toml"), &types)?;
    }
    // An online application picked up by the server, found complete at Anna's desk.
    let sim = server
        .rt
        .block_on(amtsstube_tests::sim::start(std::path::Path::new(env!(
            "CARGO_TARGET_TMPDIR"
        ))))?;
    portal_sim::seed::seed(&mut sim.sim.lock(), 1, 5)?;
    let settings = server::pickup::parse_settings(&serde_json::to_string(&sim.config)?)?;
    let report = server
        .rt
        .block_on(server::pickup::pickup(server.record.clone(), &settings))?;
    assert_eq!(report.new_cases, 1, "{report:?}");
    anna.office_sync()?;
    let case = anna
        .work_list(workstation::WorkListQuery::default())?
        .items
        .into_iter()
        .next()
        .ok_or("case not at Anna's desk")?;
    let (id, az) = (case.id, case.file_number);
    anna.office_step(&az, Step::PruefungBeginnen, None)?;
    anna.office_checklist(&az, true)?;
    anna.office_step(&az, Step::Vollstaendig, None)?;
    anna.office_sync()?;
    let before = anna.case_detail(&id)?.deadlines;
    assert_eq!(before.clock, domain::deadline::ClockKind::Fiktion);
    assert!(before.extension_possible, "{before:?}");
    let end = before.legal.clone().ok_or("the period runs")?;
    let err = anna
        .extend_deadline(&id, " ")
        .err()
        .ok_or("extended without reasons")?;
    assert!(err.message.contains("begründet"), "{}", err.message);
    anna.extend_deadline(&id, "Auskunft der IHK steht aus.")?;
    let synced = anna.office_sync()?;
    assert_eq!(synced.waiting, 0, "{synced:?}");
    lea.office_sync()?;
    let seen = lea.case_detail(&id)?.deadlines;
    assert!(seen.extended, "{seen:?}");
    assert_eq!(seen.original_end.as_deref(), Some(end.as_str()));
    assert!(
        seen.legal.as_deref().is_some_and(|l| l > end.as_str()),
        "{seen:?}"
    );
    let history = lea.case_detail(&id)?.history;
    assert!(
        history
            .iter()
            .any(|h| h.kind == "fristverlaengerung" && h.actor == "anna")
    );
    // Once only: refused at the desk with the reason.
    let again = anna
        .extend_deadline(&id, "noch einmal")
        .err()
        .ok_or("extended twice")?;
    assert!(again.message.contains("nur einmal"), "{}", again.message);
    Ok(())
}
