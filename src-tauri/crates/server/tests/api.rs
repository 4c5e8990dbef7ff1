//! The HTTPS API with mutual TLS on 127.0.0.1, against a real PostgreSQL: a
//! workstation enrols with a one-time code, logs in, sends commands and reads the
//! feed; hostile and broken clients are refused with a German reason and an
//! audit entry.
// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use domain::Role;
use office::{Command, CommandBody, FeedPage, Outcome, RefusalKind, Step};
use reqwest::{Certificate, Client, Identity, StatusCode};
use server::Record;
use server::api::{ApiState, EnrolRequest, EnrolResponse, LoginRequest};
use server::tls::{OfficeCa, certificate_request};
use uuid::Uuid;

struct Office {
    url: String,
    ca: Arc<OfficeCa>,
    record: Arc<Record>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn office(cluster: &server::cluster::Cluster) -> Office {
    let record = Arc::new(common::record(cluster).await);
    for (name, role) in [
        ("anna", Role::Sachbearbeitung),
        ("sam", Role::Scanstelle),
        ("root", Role::Admin),
    ] {
        record
            .add_user(name, role, "lang-genug-2026")
            .await
            .unwrap();
    }
    let ca = Arc::new(OfficeCa::create("Musterstadt").unwrap());
    let server_cert = ca.server_cert(&["127.0.0.1".into()]).unwrap();
    let tls = ca.server_config(&server_cert).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = ApiState {
        record: record.clone(),
        ca: ca.clone(),
    };
    tokio::spawn(server::api::serve(listener, state, tls, async {
        let _ = stopped.await;
    }));
    Office {
        url,
        ca,
        record,
        _stop: stop,
    }
}

fn client(ca: &OfficeCa, identity: Option<(&str, &str)>) -> Client {
    let mut b = Client::builder()
        .tls_certs_only([Certificate::from_pem(ca.cert_pem.as_bytes()).unwrap()])
        .timeout(std::time::Duration::from_secs(20));
    if let Some((cert, key)) = identity {
        b = b.identity(Identity::from_pkcs8_pem(cert.as_bytes(), key.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

/// Enrol a workstation: returns its id, certificate and key.
async fn enrol(o: &Office, name: &str) -> (Uuid, String, String) {
    let code = o.record.new_enrolment_code(10).await.unwrap();
    let req = certificate_request(name).unwrap();
    let resp = client(&o.ca, None)
        .post(format!("{}/v1/arbeitsplatz", o.url))
        .json(&EnrolRequest {
            code: code.to_lowercase(),
            name: name.into(),
            csr: req.cert_pem.clone(),
            schluessel: None,
        })
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: EnrolResponse = resp.json().await.unwrap();
    assert_eq!(body.ca, o.ca.cert_pem);
    (body.id, body.certificate, req.key_pem)
}

async fn login(o: &Office, http: &Client, user: &str) -> String {
    let resp = http
        .post(format!("{}/v1/sitzung", o.url))
        .json(&LoginRequest {
            user: user.into(),
            password: "lang-genug-2026".into(),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: serde_json::Value = resp.json().await.unwrap();
    v["token"].as_str().unwrap().to_string()
}

async fn fehler(resp: reqwest::Response) -> (StatusCode, String) {
    let status = resp.status();
    let v: serde_json::Value = resp.json().await.unwrap();
    (status, v["fehler"].as_str().unwrap_or_default().to_string())
}

async fn audit_has(o: &Office, action: &str) -> bool {
    o.record
        .recent_audit(50)
        .await
        .unwrap()
        .iter()
        .any(|e| e.action == action)
}

use common::rt;

#[test]
fn an_enrolled_desk_logs_in_sends_commands_and_reads_its_feed() {
    let cluster = common::cluster();
    rt().block_on(async {
        let o = office(&cluster).await;
        let key = common::ContentKey::new();
        let (_, cert, pkey) = enrol(&o, "Scanstelle EG").await;
        let scan = client(&o.ca, Some((&cert, &pkey)));
        let token = login(&o, &scan, "sam").await;
        let id = Uuid::new_v4();
        let cmd = Command {
            key: Uuid::new_v4(),
            body: CommandBody::CreateCase {
                case_id: id,
                file_number: "HU-2026-0001".into(),
                case_type: "HU".into(),
                received_at: "2026-12-02T10:00:00+01:00".into(),
                content: key.seal("Antrag auf Hundesteuer"),
            },
        };
        for replay in [false, true] {
            let resp = scan
                .post(format!("{}/v1/befehle", o.url))
                .bearer_auth(&token)
                .json(&cmd)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let outcome: Outcome = resp.json().await.unwrap();
            assert!(matches!(outcome, Outcome::Applied { replay: r, .. } if r == replay));
        }

        // A caseworker's desk sees the new case with its content.
        let (_, cert2, key2) = enrol(&o, "Bürgerbüro 1").await;
        let desk = client(&o.ca, Some((&cert2, &key2)));
        let token2 = login(&o, &desk, "anna").await;
        let page: FeedPage = desk
            .get(format!("{}/v1/feed?nach=0&anzahl=50", o.url))
            .bearer_auth(&token2)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let content = page.items.iter().find_map(|i| match i {
            office::FeedItem::Case {
                meta,
                content: Some(c),
                ..
            } if meta.id == id => Some(key.open(c)),
            _ => None,
        });
        assert_eq!(content.as_deref(), Some("Antrag auf Hundesteuer"));

        // The key ring: nothing published yet; a caseworker may not create kind keys.
        let view: serde_json::Value = desk
            .get(format!("{}/v1/schluessel", o.url))
            .bearer_auth(&token2)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(view["own"].is_null(), "{view}");
        let (_, recipient) = office::keyring::generate();
        let resp = desk
            .post(format!("{}/v1/schluessel/art", o.url))
            .bearer_auth(&token2)
            .json(&office::keyring::PublishKindKey {
                kind: office::keyring::KeyKind::Fall,
                recipient: recipient.clone(),
                own_grant: key.seal("x"),
            })
            .send()
            .await
            .unwrap();
        let (status, text) = fehler(resp).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(text.contains("darf keinen Schlüssel"), "{text}");

        // Numbers leased for offline work.
        let lease: serde_json::Value = desk
            .post(format!("{}/v1/nummern", o.url))
            .bearer_auth(&token2)
            .json(&serde_json::json!({"counter": "az-HU-2026", "count": 20}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(lease["first"], 1);
        assert_eq!(lease["last"], 20);

        // The Scanstelle's own command on the case is refused by the server's rules.
        let step = Command {
            key: Uuid::new_v4(),
            body: CommandBody::Transition {
                case_id: id,
                based_on: 1,
                step: Step::PruefungBeginnen,
                content: None,
            },
        };
        let outcome: Outcome = scan
            .post(format!("{}/v1/befehle", o.url))
            .bearer_auth(&token)
            .json(&step)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            matches!(&outcome, Outcome::Refused { refusal, .. } if refusal.kind == RefusalKind::Forbidden),
            "{outcome:?}"
        );
    });
}

#[test]
fn hostile_and_broken_clients_are_refused_in_german_with_an_audit_entry() {
    let cluster = common::cluster();
    rt().block_on(async {
        let o = office(&cluster).await;

        // Enrolment: unknown and reused codes.
        let req = certificate_request("x").unwrap();
        let resp = client(&o.ca, None)
            .post(format!("{}/v1/arbeitsplatz", o.url))
            .json(&EnrolRequest {
                code: "AAAA-BBBB-CCCC".into(),
                name: "x".into(),
                csr: req.cert_pem.clone(),
                schluessel: None,
            })
            .send()
            .await
            .unwrap();
        let (status, text) = fehler(resp).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(text.contains("Einmalcode ist unbekannt"), "{text}");
        assert!(audit_has(&o, "anmeldung_arbeitsplatz_abgelehnt").await);

        let (ws, cert, key) = enrol(&o, "Platz 1").await;
        let desk = client(&o.ca, Some((&cert, &key)));

        // No client certificate at all.
        let resp = client(&o.ca, None)
            .get(format!("{}/v1/hallo", o.url))
            .send()
            .await
            .unwrap();
        let (status, text) = fehler(resp).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(text.contains("nicht angemeldet"), "{text}");
        assert!(audit_has(&o, "anfrage_abgewiesen").await);

        // A certificate of another CA: refused in the TLS handshake.
        let stranger = OfficeCa::create("Nachbarstadt").unwrap();
        let req = certificate_request("fremd").unwrap();
        let (fcert, _) = stranger
            .sign_request(&req.cert_pem, Uuid::new_v4(), 30)
            .unwrap();
        let foreign = client(&o.ca, Some((&fcert, &req.key_pem)));
        let r = foreign.get(format!("{}/v1/hallo", o.url)).send().await;
        assert!(r.is_err() || r.is_ok_and(|r| !r.status().is_success()));
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(audit_has(&o, "verbindung_abgelehnt").await);

        // An expired certificate of the right CA: refused in the handshake too.
        let req = certificate_request("alt").unwrap();
        let past = time::OffsetDateTime::now_utc() - time::Duration::days(30);
        let (old, _) =
            o.ca.sign_request_between(
                &req.cert_pem,
                Uuid::new_v4(),
                past - time::Duration::days(365),
                past,
            )
            .unwrap();
        let expired = client(&o.ca, Some((&old, &req.key_pem)));
        let r = expired.get(format!("{}/v1/hallo", o.url)).send().await;
        assert!(r.is_err() || r.is_ok_and(|r| !r.status().is_success()));

        // A valid certificate of the right CA that was never enrolled.
        let req = certificate_request("nie").unwrap();
        let (never, _) =
            o.ca.sign_request(&req.cert_pem, Uuid::new_v4(), 30)
                .unwrap();
        let resp = client(&o.ca, Some((&never, &req.key_pem)))
            .get(format!("{}/v1/hallo", o.url))
            .send()
            .await
            .unwrap();
        let (status, text) = fehler(resp).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(text.contains("nicht angemeldet"), "{text}");

        // Without a session, and with a forged token.
        let resp = desk.get(format!("{}/v1/feed", o.url)).send().await.unwrap();
        let (status, text) = fehler(resp).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(text.contains("abgelaufen"), "{text}");
        assert!(audit_has(&o, "sitzung_abgelehnt").await);

        // Malformed and oversized bodies.
        let token = login(&o, &desk, "anna").await;
        let resp = desk
            .post(format!("{}/v1/befehle", o.url))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{\"key\": 1")
            .send()
            .await
            .unwrap();
        let (status, text) = fehler(resp).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.contains("fehlerhaft"), "{text}");
        let big = vec![b'a'; server::api::MAX_BODY + 1024];
        let resp = desk
            .post(format!("{}/v1/befehle", o.url))
            .bearer_auth(&token)
            .body(big)
            .send()
            .await
            .unwrap();
        let (status, text) = fehler(resp).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(text.contains("zu groß"), "{text}");

        // A plaintext "ciphertext" is refused as malformed.
        let resp = desk
            .post(format!("{}/v1/befehle", o.url))
            .bearer_auth(&token)
            .json(&serde_json::json!({
                "key": Uuid::new_v4(), "kind": "note", "caseId": Uuid::new_v4(),
                "content": "RXJpa2EgTXVzdGVybWFubg=="
            }))
            .send()
            .await
            .unwrap();
        let (status, text) = fehler(resp).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.contains("nicht verschlüsselt"), "{text}");

        // Documents: without a session, with a malformed case id, of a case the
        // user may not see (an unknown one looks the same).
        let resp = desk
            .get(format!("{}/v1/dokumente?fall={}", o.url, Uuid::new_v4()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let resp = desk
            .get(format!("{}/v1/dokumente?fall=kein-vorgang", o.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let (status, text) = fehler(resp).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.contains("Kennung eines Vorgangs"), "{text}");
        let resp = desk
            .get(format!("{}/v1/dokumente?fall={}", o.url, Uuid::new_v4()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let (status, text) = fehler(resp).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(text.contains("nicht lesen"), "{text}");
        assert!(audit_has(&o, "dokumente_abgelehnt").await);

        // The endpoints of letters, takeover, documents and first logins.
        // Plaintext where a sealed document belongs: refused before anything is kept.
        let resp = desk
            .post(format!(
                "{}/v1/dokumente/neu?fall={}&dokument=scan-1",
                o.url,
                Uuid::new_v4()
            ))
            .bearer_auth(&token)
            .body("Erika Mustermann, Hauptstr. 1")
            .send()
            .await
            .unwrap();
        let (status, text) = fehler(resp).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.contains("nicht verschlüsselt"), "{text}");
        // A sealed document for a case this user may not work on.
        let sealed = office::keyring::seal_document(
            b"{}",
            &[office::keyring::generate().1.as_str()],
        )
        .unwrap();
        let resp = desk
            .post(format!(
                "{}/v1/dokumente/neu?fall={}&dokument=scan-1",
                o.url,
                Uuid::new_v4()
            ))
            .bearer_auth(&token)
            .body(sealed.clone())
            .send()
            .await
            .unwrap();
        let (status, text) = fehler(resp).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(text.contains("keine Dokumente hinzufügen"), "{text}");
        // Without the query, in German.
        let resp = desk
            .post(format!("{}/v1/dokumente/neu", o.url))
            .bearer_auth(&token)
            .body(sealed.clone())
            .send()
            .await
            .unwrap();
        let (status, text) = fehler(resp).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.contains("„fall“ und „dokument“"), "{text}");
        // A caseworker takes nothing over (the role is the server's).
        let resp = desk
            .post(format!("{}/v1/uebernahme/protokoll", o.url))
            .bearer_auth(&token)
            .json(&serde_json::json!([]))
            .send()
            .await
            .unwrap();
        let (status, text) = fehler(resp).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(text.contains("nur die Leitung"), "{text}");
        assert!(audit_has(&o, "uebernahme_abgelehnt").await);
        // A letter for a case the server does not know (what it would send is
        // checked in `delivery`'s own tests).
        let (_, stranger) = office::keyring::generate();
        let junk = office::keyring::seal(b"{}", &[stranger.as_str()]).unwrap();
        let cmd = Command {
            key: Uuid::new_v4(),
            body: CommandBody::Letter {
                case_id: Uuid::new_v4(),
                based_on: 1,
                letter: "bescheid".into(),
                kanal: "post".into(),
                versendet: true,
                kassenzeichen: None,
                detail: junk.clone(),
                document: junk.clone(),
                delivery: Some(junk),
            },
        };
        let resp = desk
            .post(format!("{}/v1/befehle", o.url))
            .bearer_auth(&token)
            .json(&cmd)
            .send()
            .await
            .unwrap();
        let outcome: Outcome = resp.json().await.unwrap();
        assert!(
            matches!(&outcome, Outcome::Refused { refusal, .. } if refusal.reason.contains("nicht bekannt (Brief)")),
            "{outcome:?}"
        );
        // A first login: a wrong password and an unknown workstation, both refused.
        let first = |ws: Uuid, password: &str| {
            client(&o.ca, None)
                .post(format!("{}/v1/erstanmeldung", o.url))
                .json(&office::protocol::FirstLogin {
                    workstation: ws,
                    user: "anna".into(),
                    password: password.into(),
                })
                .send()
        };
        let (status, _) = fehler(first(ws, "falsch-falsch-1").await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, text) = fehler(first(Uuid::new_v4(), "lang-genug-2026").await.unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(text.contains("nicht (mehr) angemeldet"), "{text}");
        assert!(audit_has(&o, "erstanmeldung_abgelehnt").await);
        // Right password, but the desk has deposited nothing yet.
        let (status, text) = fehler(first(ws, "lang-genug-2026").await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.contains("nichts hinterlegt"), "{text}");

        // A removed user's session ends at once.
        o.record.remove_user("anna").await.unwrap();
        let resp = desk
            .get(format!("{}/v1/feed", o.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

        // A revoked workstation is refused even with a valid certificate.
        o.record.revoke(ws).await.unwrap();
        let resp = desk
            .get(format!("{}/v1/hallo", o.url))
            .send()
            .await
            .unwrap();
        let (status, text) = fehler(resp).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(text.contains("gesperrt"), "{text}");
        assert!(audit_has(&o, "arbeitsplatz_abgewiesen").await);
        // The administration's view of them: refusals only, newest first.
        let refusals = o.record.recent_refusals(100).await.unwrap();
        assert_eq!(refusals[0].action, "arbeitsplatz_abgewiesen");
        assert!(refusals.iter().any(|e| e.action == "verbindung_abgelehnt"));
        assert!(refusals.iter().all(|e| e.action != "anmeldung"));
    });
}
