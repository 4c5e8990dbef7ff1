//! A desk connects to the Rathaus-Server (`amtsstube buero anschliessen`): the real
//! workstation store on a temp dir, the real server over mutual TLS on 127.0.0.1,
//! a real PostgreSQL cluster started by the test.

use std::sync::Arc;

use domain::Role;
use server::Record;
use server::api::ApiState;
use server::cluster::Cluster;
use server::tls::OfficeCa;
use workstation::{OfficeConnectRequest, OfficeState};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[test]
fn a_desk_connects_with_code_and_fingerprint_and_learns_when_it_is_refused() -> Result<(), BoxError>
{
    let cluster = Cluster::start(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")))?;
    cluster.create_database("buero")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let record = Arc::new(rt.block_on(Record::connect(&cluster.conninfo("buero"), 4))?);
    rt.block_on(record.migrate())?;
    let ca = Arc::new(OfficeCa::create("Musterstadt")?);
    let tls = ca.server_config(&ca.server_cert(&["127.0.0.1".into()])?)?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("https://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = ApiState {
        record: record.clone(),
        ca: ca.clone(),
    };
    let served = rt.spawn(server::api::serve(listener, state, tls, async {
        let _ = stopped.await;
    }));
    let code = rt.block_on(record.new_enrolment_code(10))?;
    let fingerprint = ca.fingerprint()?;

    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");
    let mut ws = amtsstube_tests::local::workstation(&dir, None, &[("sb", Role::Sachbearbeitung)])?;
    assert_eq!(ws.office_status()?.state, OfficeState::Allein);
    let request = |server: &str, fp: &str| OfficeConnectRequest {
        server: server.into(),
        code: code.to_lowercase(),
        fingerprint: fp.into(),
        name: "Bürgerbüro 1".into(),
    };

    // A wrong fingerprint (another town's CA): nothing is sent, nothing saved.
    let other = OfficeCa::create("Nachbarstadt")?.fingerprint()?;
    let err = ws.office_connect(request(&url, &other)).unwrap_err();
    assert!(err.message.contains("Fingerabdruck"), "{}", err.message);
    assert_eq!(ws.office_status()?.state, OfficeState::Allein);
    let err = ws
        .office_connect(request(&url.replace("https", "http"), &fingerprint))
        .unwrap_err();
    assert!(err.message.contains("https://"), "{}", err.message);

    // The right one: enrolled and connected; the code is used up.
    let status = ws.office_connect(request(&url, &fingerprint))?;
    assert_eq!(status.state, OfficeState::Verbunden, "{}", status.message);
    let listed = rt.block_on(record.workstations())?;
    assert_eq!(listed.len(), 1);
    assert_eq!(Some(listed[0].id.to_string()), status.workstation);
    let err = ws.office_connect(request(&url, &fingerprint)).unwrap_err();
    assert!(err.message.contains("schon"), "{}", err.message);
    let tmp2 = tempfile::tempdir()?;
    let mut second = amtsstube_tests::local::workstation(&tmp2.path().join("d"), None, &[])?;
    let err = second
        .office_connect(request(&url, &fingerprint))
        .unwrap_err();
    assert!(err.message.contains("schon verwendet"), "{}", err.message);

    // The desk's private key lies nowhere in clear in its data directory.
    fn walk(dir: &std::path::Path, hits: &mut Vec<String>, files: &mut usize) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, hits, files);
            } else if let Ok(bytes) = std::fs::read(&p) {
                *files += 1;
                if bytes.windows(11).any(|w| w == b"PRIVATE KEY") {
                    hits.push(p.display().to_string());
                }
            }
        }
    }
    let (mut hits, mut files) = (Vec::new(), 0);
    walk(&dir, &mut hits, &mut files);
    assert!(files > 0);
    assert!(hits.is_empty(), "Schlüssel im Klartext: {hits:?}");

    // Kept in the encrypted store: another role sees the state after a new login.
    ws.logout();
    ws.login(workstation::LoginRequest {
        username: "sb".into(),
        password: "sb-passwort-1".into(),
    })?;
    assert_eq!(ws.office_status()?.state, OfficeState::Verbunden);
    // … but only the administration connects a desk.
    let err = ws.office_connect(request(&url, &fingerprint)).unwrap_err();
    assert_eq!(err.code, workstation::ErrorCode::Forbidden);

    // Revoked at the server: the desk is told so.
    rt.block_on(record.revoke(listed[0].id))?;
    let status = ws.office_status()?;
    assert_eq!(status.state, OfficeState::Abgewiesen);
    assert!(status.message.contains("gesperrt"), "{}", status.message);

    // The server gone: "nicht erreichbar".
    let _ = stop.send(());
    rt.block_on(served)?;
    let status = ws.office_status()?;
    assert_eq!(
        status.state,
        OfficeState::NichtErreichbar,
        "{}",
        status.message
    );
    assert!(status.message.contains("nicht erreichbar"));
    Ok(())
}

/// Three desks sign in at the server: the key ring comes into order by itself, and
/// each desk opens only what its user's role may read.
#[test]
fn desks_sign_in_and_open_only_what_their_role_may_read() -> Result<(), BoxError> {
    use office::keyring::{self, KeyKind};
    let cluster = Cluster::start(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")))?;
    cluster.create_database("schluessel")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let record = Arc::new(rt.block_on(Record::connect(&cluster.conninfo("schluessel"), 4))?);
    rt.block_on(record.migrate())?;
    let people = [
        ("lea", Role::Leitung),
        ("anna", Role::Sachbearbeitung),
        ("sam", Role::Scanstelle),
    ];
    for (name, role) in people {
        rt.block_on(record.add_user(name, role, &format!("{name}-passwort-1")))?;
    }
    let ca = Arc::new(OfficeCa::create("Musterstadt")?);
    let tls = ca.server_config(&ca.server_cert(&["127.0.0.1".into()])?)?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("https://{}", listener.local_addr()?);
    let state = ApiState {
        record: record.clone(),
        ca: ca.clone(),
    };
    rt.spawn(server::api::serve(
        listener,
        state,
        tls,
        std::future::pending(),
    ));

    // One desk per person, each enrolled by its administration.
    let tmp = tempfile::tempdir()?;
    let mut desks = std::collections::BTreeMap::new();
    for (name, role) in people {
        let mut ws =
            amtsstube_tests::local::workstation(&tmp.path().join(name), None, &[(name, role)])?;
        let code = rt.block_on(record.new_enrolment_code(10))?;
        ws.office_connect(OfficeConnectRequest {
            server: url.clone(),
            code,
            fingerprint: ca.fingerprint()?,
            name: format!("Platz {name}"),
        })?;
        ws.logout();
        ws.login(workstation::LoginRequest {
            username: name.into(),
            password: format!("{name}-passwort-1"),
        })?;
        desks.insert(name, ws);
    }
    let desk = |desks: &mut std::collections::BTreeMap<&str, workstation::Workstation>, n: &str| {
        desks.remove(n).ok_or("Platz fehlt")
    };

    // A wrong password at the server: German, nothing kept.
    let mut anna = desk(&mut desks, "anna")?;
    let err = anna.office_sign_in("falsch-falsch".into()).unwrap_err();
    assert!(err.message.contains("falsch"), "{}", err.message);
    assert!(!anna.office_signed_in());

    // Caseworker and scanning desk first: they publish their keys, hold nothing yet.
    let first = anna.office_sign_in("anna-passwort-1".into())?;
    assert!(first.published_key && first.holds.is_empty(), "{first:?}");
    let mut sam = desk(&mut desks, "sam")?;
    assert!(sam.office_sign_in("sam-passwort-1".into())?.published_key);
    // The Leitung creates the kind keys and hands them on as the roles allow.
    let mut lea = desk(&mut desks, "lea")?;
    let l = lea.office_sign_in("lea-passwort-1".into())?;
    assert_eq!(l.created, vec!["fall", "scan"]);
    assert_eq!(l.granted, vec!["fall für anna", "scan für sam"]);
    assert_eq!(l.holds, vec!["fall", "scan"]);
    let a = anna.office_sign_in("anna-passwort-1".into())?;
    assert!(!a.published_key);
    assert_eq!(a.holds, vec!["fall"]);
    assert_eq!(
        sam.office_sign_in("sam-passwort-1".into())?.holds,
        vec!["scan"]
    );

    // Content as the server stores it: case content to `fall`, a scan to both.
    let kinds = rt
        .block_on(record.key_view(&office::rules::Actor {
            user: "lea".into(),
            role: Role::Leitung,
        }))?
        .kinds;
    let case =
        keyring::seal(b"Erika Mustermann", &[&kinds[&KeyKind::Fall]]).map_err(|r| r.reason)?;
    let scan = keyring::seal(b"Scan", &[&kinds[&KeyKind::Scan], &kinds[&KeyKind::Fall]])
        .map_err(|r| r.reason)?;
    assert_eq!(anna.office_open(KeyKind::Fall, &case)?, b"Erika Mustermann");
    assert_eq!(lea.office_open(KeyKind::Fall, &case)?, b"Erika Mustermann");
    assert_eq!(sam.office_open(KeyKind::Scan, &scan)?, b"Scan");
    let err = sam.office_open(KeyKind::Fall, &case).unwrap_err();
    assert_eq!(err.code, workstation::ErrorCode::Forbidden);
    // The scan key does not open case content either.
    assert!(sam.office_open(KeyKind::Scan, &case).is_err());

    // The keys live only as long as the login.
    anna.logout();
    anna.login(workstation::LoginRequest {
        username: "anna".into(),
        password: "anna-passwort-1".into(),
    })?;
    assert!(!anna.office_signed_in());
    assert!(anna.office_open(KeyKind::Fall, &case).is_err());
    Ok(())
}
