//! The record on a real PostgreSQL cluster the test starts itself: commit-ordered
//! feed, exactly-once commands, conflicts, roles, and that no personal data lands
//! in clear in the data directory or the WAL.
// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use domain::{CaseState, Decision, Role};
use office::{Command, CommandBody, FeedItem, Outcome, RefusalKind, Step};
use server::Record;
use server::record::FEED_LOCK;
use uuid::Uuid;

use common::rt;

use common::actor;

async fn people(record: &Record) {
    for (name, role) in [
        ("anna", Role::Sachbearbeitung),
        ("ben", Role::Sachbearbeitung),
        ("lea", Role::Leitung),
        ("sam", Role::Scanstelle),
        ("root", Role::Admin),
    ] {
        record
            .add_user(name, role, "lang-genug-2026")
            .await
            .unwrap();
    }
}

fn create(key: &common::ContentKey, n: u32) -> (Uuid, Command) {
    let id = Uuid::new_v4();
    (
        id,
        Command {
            key: Uuid::new_v4(),
            body: CommandBody::CreateCase {
                case_id: id,
                file_number: format!("HU-2026-{n:04}"),
                case_type: "HU".into(),
                received_at: "2026-12-01T08:15:00Z".into(),
                content: key.seal(&format!("Antragsteller Nr. {n}")),
            },
        },
    )
}

fn step(id: Uuid, based_on: i64, step: Step) -> Command {
    Command {
        key: Uuid::new_v4(),
        body: CommandBody::Transition {
            case_id: id,
            based_on,
            step,
            content: None,
        },
    }
}

fn applied(o: &Outcome) -> (i64, i64) {
    match o {
        Outcome::Applied {
            version, position, ..
        } => (*version, *position),
        Outcome::Refused { refusal, .. } => panic!("abgelehnt: {}", refusal.reason),
    }
}

#[test]
fn a_late_commit_is_never_skipped_by_a_reader() {
    let cluster = common::cluster();
    rt().block_on(async {
        let (record, conninfo) = common::db(&cluster).await;
        people(&record).await;
        let key = common::ContentKey::new();
        let sam = actor("sam", Role::Scanstelle);
        let ws = Uuid::new_v4();
        let lea = actor("lea", Role::Leitung);
        let start = record.feed(&lea, 0, 500).await.unwrap().next;

        // Another writer is inside its transaction and holds the feed's lock.
        let (client, conn) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client.batch_execute("BEGIN").await.unwrap();
        client
            .execute("SELECT pg_advisory_xact_lock($1)", &[&FEED_LOCK])
            .await
            .unwrap();
        client
            .execute(
                "INSERT INTO change_log (position, kind, body)
                 SELECT coalesce(max(position), 0) + 1, 'user', $1 FROM change_log",
                &[&tokio_postgres::types::Json(serde_json::json!({
                    "kind": "user", "user": {"name": "spaet", "role": "leitung", "active": true}
                }))],
            )
            .await
            .unwrap();

        // A command meanwhile waits for the lock instead of taking a later position.
        let (_, cmd) = create(&key, 1);
        let record = std::sync::Arc::new(record);
        let r2 = record.clone();
        let pending = tokio::spawn(async move { r2.apply(&sam, ws, &cmd).await });
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            !pending.is_finished(),
            "der Befehl hätte auf die Sperre warten müssen"
        );
        let page = record.feed(&lea, start, 500).await.unwrap();
        assert!(
            page.items.is_empty(),
            "nichts Unbestätigtes im Feed: {page:?}"
        );

        client.batch_execute("COMMIT").await.unwrap();
        let (_, position) = applied(&pending.await.unwrap().unwrap());
        let page = record.feed(&lea, start, 500).await.unwrap();
        let positions: Vec<i64> = page.items.iter().map(FeedItem::position).collect();
        assert_eq!(positions, vec![start + 1, start + 2]);
        assert_eq!(position, start + 2);
        assert!(matches!(page.items[0], FeedItem::User { .. }));
    });
}

#[test]
fn commands_apply_exactly_once_and_altered_replays_are_refused() {
    let cluster = common::cluster();
    rt().block_on(async {
        let record = common::record(&cluster).await;
        people(&record).await;
        let key = common::ContentKey::new();
        let ws = Uuid::new_v4();
        let sam = actor("sam", Role::Scanstelle);
        let (id, cmd) = create(&key, 7);
        let first = record.apply(&sam, ws, &cmd).await.unwrap();
        let again = record.apply(&sam, ws, &cmd).await.unwrap();
        assert_eq!(again, first.clone().as_replay());

        let mut altered = cmd.clone();
        if let CommandBody::CreateCase { file_number, .. } = &mut altered.body {
            *file_number = "HU-2026-9999".into();
        }
        let refused = record.apply(&sam, ws, &altered).await.unwrap();
        assert!(
            matches!(&refused, Outcome::Refused { refusal, .. } if refusal.kind == RefusalKind::Altered),
            "{refused:?}"
        );
        // Another person replaying someone's key is refused as well.
        let refused = record
            .apply(&actor("lea", Role::Leitung), ws, &cmd)
            .await
            .unwrap();
        assert!(matches!(refused, Outcome::Refused { .. }));

        let lea = actor("lea", Role::Leitung);
        let page = record.feed(&lea, 0, 500).await.unwrap();
        let cases: Vec<_> = page
            .items
            .iter()
            .filter(|i| matches!(i, FeedItem::Case { meta, .. } if meta.id == id))
            .collect();
        assert_eq!(cases.len(), 1, "ein Vorgang, einmal");
        let s = record.status().await.unwrap();
        assert_eq!(s.cases, 1);
    });
}

#[test]
fn two_desks_decide_offline_one_applies_the_other_is_a_conflict_and_both_notes_stay() {
    let cluster = common::cluster();
    rt().block_on(async {
        let record = common::record(&cluster).await;
        people(&record).await;
        let key = common::ContentKey::new();
        let (ws1, ws2) = (Uuid::new_v4(), Uuid::new_v4());
        let (id, cmd) = create(&key, 3);
        record
            .apply(&actor("sam", Role::Scanstelle), ws1, &cmd)
            .await
            .unwrap();
        let lea = actor("lea", Role::Leitung);
        let mut v = 1;
        for s in [Step::PruefungBeginnen] {
            v = applied(&record.apply(&lea, ws1, &step(id, v, s)).await.unwrap()).0;
        }
        v = applied(
            &record
                .apply(
                    &lea,
                    ws1,
                    &Command {
                        key: Uuid::new_v4(),
                        body: CommandBody::Checklist {
                            case_id: id,
                            based_on: v,
                            complete: true,
                        },
                    },
                )
                .await
                .unwrap(),
        )
        .0;
        v = applied(
            &record
                .apply(&lea, ws1, &step(id, v, Step::Vollstaendig))
                .await
                .unwrap(),
        )
        .0;

        // Both offline, both based on version v: Anna grants, Ben refuses.
        let anna = actor("anna", Role::Sachbearbeitung);
        let ben = actor("ben", Role::Sachbearbeitung);
        let note = |text: &str| Command {
            key: Uuid::new_v4(),
            body: CommandBody::Note {
                case_id: id,
                content: key.seal(text),
            },
        };
        let grant = step(
            id,
            v,
            Step::Entscheiden {
                ergebnis: Decision::Bewilligt,
            },
        );
        let mut refuse = step(
            id,
            v,
            Step::Entscheiden {
                ergebnis: Decision::Abgelehnt,
            },
        );
        if let CommandBody::Transition { content, .. } = &mut refuse.body {
            *content = Some(key.seal("Begründung: Unterlagen unvollständig"));
        }
        applied(
            &record
                .apply(&anna, ws1, &note("Notiz von Anna"))
                .await
                .unwrap(),
        );
        applied(&record.apply(&anna, ws1, &grant).await.unwrap());
        applied(
            &record
                .apply(&ben, ws2, &note("Notiz von Ben"))
                .await
                .unwrap(),
        );
        let conflict = record.apply(&ben, ws2, &refuse).await.unwrap();
        match &conflict {
            Outcome::Refused { refusal, .. } => {
                assert_eq!(refusal.kind, RefusalKind::Conflict);
                assert!(refusal.reason.contains("Entschieden"), "{}", refusal.reason);
                assert!(refusal.reason.contains("HU-2026-0003"));
            }
            other => panic!("{other:?}"),
        }
        let page = record
            .feed(&actor("lea", Role::Leitung), 0, 500)
            .await
            .unwrap();
        let Some(FeedItem::Case {
            meta,
            events,
            content,
            ..
        }) = page
            .items
            .iter()
            .find(|i| matches!(i, FeedItem::Case { meta, .. } if meta.id == id))
        else {
            panic!("Vorgang fehlt im Feed");
        };
        assert!(content.is_some());
        // The first position of the case came whole: both notes are among its events.
        let notes: Vec<String> = events
            .iter()
            .filter(|e| e.kind == "notiz")
            .filter_map(|e| e.content.as_ref().map(|c| key.open(c)))
            .collect();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes.contains(&"Notiz von Anna".to_string())
                && notes.contains(&"Notiz von Ben".to_string())
        );
        let last = page
            .items
            .iter()
            .rev()
            .find_map(|i| match i {
                FeedItem::Case { meta, .. } if meta.id == id => Some(meta.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(last.state, CaseState::Entschieden);
        let _ = meta;
    });
}

#[test]
fn the_server_decides_by_its_own_roles_and_assignments() {
    let cluster = common::cluster();
    rt().block_on(async {
        let record = common::record(&cluster).await;
        people(&record).await;
        let key = common::ContentKey::new();
        let ws = common::workstation(&record).await;
        let (id, cmd) = create(&key, 5);
        // The Sachbearbeitung may not create cases from paper; the Scanstelle may.
        let r = record
            .apply(&actor("anna", Role::Sachbearbeitung), ws, &cmd)
            .await
            .unwrap();
        assert!(
            matches!(&r, Outcome::Refused { refusal, .. } if refusal.kind == RefusalKind::Forbidden)
        );
        let mut cmd2 = cmd.clone();
        cmd2.key = Uuid::new_v4();
        record
            .apply(&actor("sam", Role::Scanstelle), ws, &cmd2)
            .await
            .unwrap();
        // Leitung assigns to Ben; Anna may then neither see nor touch it.
        let assign = Command {
            key: Uuid::new_v4(),
            body: CommandBody::Assign {
                case_id: id,
                based_on: 1,
                to: Some("ben".into()),
            },
        };
        applied(
            &record
                .apply(&actor("lea", Role::Leitung), ws, &assign)
                .await
                .unwrap(),
        );
        let anna = actor("anna", Role::Sachbearbeitung);
        let r = record
            .apply(&anna, ws, &step(id, 2, Step::PruefungBeginnen))
            .await
            .unwrap();
        assert!(
            matches!(&r, Outcome::Refused { refusal, .. } if refusal.kind == RefusalKind::Forbidden)
        );
        // Anna's feed: the case came (unassigned) and went (assigned to Ben), no content after.
        let page = record.feed(&anna, 0, 500).await.unwrap();
        let kinds: Vec<&str> = page
            .items
            .iter()
            .filter_map(|i| match i {
                FeedItem::Case { meta, .. } if meta.id == id => Some("case"),
                FeedItem::Gone { case_id, .. } if *case_id == id => Some("gone"),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, vec!["case", "gone"]);
        // The administration's and the scanning desk's feeds never carry a case.
        for a in [actor("root", Role::Admin), actor("sam", Role::Scanstelle)] {
            let page = record.feed(&a, 0, 500).await.unwrap();
            assert!(
                page.items
                    .iter()
                    .all(|i| !matches!(i, FeedItem::Case { .. })),
                "{} sieht Vorgänge",
                a.user
            );
        }
    });
}

#[test]
fn sessions_end_with_the_user_and_bad_passwords_are_refused() {
    let cluster = common::cluster();
    rt().block_on(async {
        let record = common::record(&cluster).await;
        people(&record).await;
        let ws = common::workstation(&record).await;
        let err = record
            .add_user("kurz", Role::Leitung, "zu-kurz")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("10 Zeichen"), "{err}");
        let err = record.login("anna", "falsch-falsch", ws).await.unwrap_err();
        assert!(err.to_string().contains("falsch"), "{err}");
        let err = record
            .login("niemand", "lang-genug-2026", ws)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("falsch"), "{err}");
        // Five failures in a row lock the name – known or not – even for the right password.
        for name in ["ben", "niemand"] {
            for _ in 0..5 {
                assert!(record.login(name, "falsch-falsch", ws).await.is_err());
            }
            let err = record.login(name, "lang-genug-2026", ws).await.unwrap_err();
            assert!(err.to_string().contains("gesperrt"), "{name}: {err}");
        }
        // Sessions are bound to the workstation.
        let grant = record.login("anna", "lang-genug-2026", ws).await.unwrap();
        assert_eq!(grant.role, Role::Sachbearbeitung);
        let actor = record.session(&grant.token, ws).await.unwrap();
        assert_eq!(actor.user, "anna");
        assert!(record.session(&grant.token, Uuid::new_v4()).await.is_err());
        record.remove_user("anna").await.unwrap();
        let err = record.session(&grant.token, ws).await.unwrap_err();
        assert!(err.to_string().contains("abgelaufen"), "{err}");
        // Every desk learns of the removal through the feed.
        let page = record
            .feed(&crate::actor("lea", Role::Leitung), 0, 500)
            .await
            .unwrap();
        assert!(page.items.iter().any(
            |i| matches!(i, FeedItem::User { user, .. } if user.name == "anna" && !user.active)
        ));
    });
}

#[test]
fn number_blocks_never_overlap() {
    let cluster = common::cluster();
    rt().block_on(async {
        let record = std::sync::Arc::new(common::record(&cluster).await);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let r = record.clone();
            tasks.push(tokio::spawn(async move {
                r.lease(Uuid::new_v4(), "az-HU-2026", 25).await.unwrap()
            }));
        }
        let mut blocks = Vec::new();
        for t in tasks {
            blocks.push(t.await.unwrap());
        }
        blocks.sort();
        for w in blocks.windows(2) {
            assert!(w[0].1 < w[1].0, "{blocks:?}");
        }
        assert_eq!(blocks.first().map(|b| b.0), Some(1));
        assert_eq!(blocks.last().map(|b| b.1), Some(200));
        assert!(record.lease(Uuid::new_v4(), "az-HU-2026", 0).await.is_err());
        assert!(record.lease(Uuid::new_v4(), "../x", 1).await.is_err());
    });
}

#[test]
fn many_desks_at_once_apply_each_command_once_with_a_gapless_feed() {
    let cluster = common::cluster();
    rt().block_on(async {
        let record = std::sync::Arc::new(common::record(&cluster).await);
        people(&record).await;
        let key = std::sync::Arc::new(common::ContentKey::new());
        let lea = actor("lea", Role::Leitung);
        let start = record.feed(&lea, 0, 500).await.unwrap().next;
        let mut tasks = Vec::new();
        for desk in 0..10u32 {
            let r = record.clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let ws = Uuid::new_v4();
                let mut n = 0;
                for i in 0..10u32 {
                    let (_, cmd) = create(&key, desk * 100 + i);
                    // Each command is sent twice (a retry after a lost answer).
                    let a = r
                        .apply(&actor("sam", Role::Scanstelle), ws, &cmd)
                        .await
                        .unwrap();
                    let b = r
                        .apply(&actor("sam", Role::Scanstelle), ws, &cmd)
                        .await
                        .unwrap();
                    assert_eq!(b, a.as_replay());
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        let page = record.feed(&lea, start, 500).await.unwrap();
        let positions: Vec<i64> = page.items.iter().map(FeedItem::position).collect();
        let expected: Vec<i64> = (start + 1..=start + total).collect();
        assert_eq!(positions, expected);
        assert_eq!(record.status().await.unwrap().cases, total);
    });
}

#[test]
fn no_applicant_name_in_clear_in_the_data_directory_or_the_wal() {
    let cluster = common::cluster();
    let canary = "Kanarienvogel-Zwetschgenmus";
    rt().block_on(async {
        let record = common::record(&cluster).await;
        people(&record).await;
        let key = common::ContentKey::new();
        let ws = Uuid::new_v4();
        let id = Uuid::new_v4();
        let cmd = Command {
            key: Uuid::new_v4(),
            body: CommandBody::CreateCase {
                case_id: id,
                file_number: "HU-2026-0042".into(),
                case_type: "HU".into(),
                received_at: "2026-12-01T08:15:00Z".into(),
                content: key.seal(&format!("{{\"name\":\"{canary}\"}}")),
            },
        };
        applied(
            &record
                .apply(&actor("sam", Role::Scanstelle), ws, &cmd)
                .await
                .unwrap(),
        );
        let note = Command {
            key: Uuid::new_v4(),
            body: CommandBody::Note {
                case_id: id,
                content: key.seal(&format!("Rückruf von {canary}")),
            },
        };
        applied(
            &record
                .apply(&actor("lea", Role::Leitung), ws, &note)
                .await
                .unwrap(),
        );
        // The caseworkers can read it back with their key.
        let page = record
            .feed(&actor("lea", Role::Leitung), 0, 500)
            .await
            .unwrap();
        let found = page.items.iter().any(|i| {
            matches!(i, FeedItem::Case { content: Some(c), .. } if key.open(c).contains(canary))
        });
        assert!(found);
        // A plaintext body is refused before it reaches the database.
        let plain = serde_json::json!({
            "key": Uuid::new_v4(), "kind": "note", "caseId": id,
            "content": base64_of(canary)
        });
        assert!(serde_json::from_value::<Command>(plain).is_err());
    });
    // Checkpoint so that the heap files are written, then search every file.
    let c = cluster.clone();
    rt().block_on(async move {
        let (client, conn) =
            tokio_postgres::connect(&c.conninfo("postgres"), tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(conn);
        client.batch_execute("CHECKPOINT").await.unwrap();
    });
    let mut hits = Vec::new();
    let mut metadata_seen = false;
    let mut files = 0;
    {
        walk(&cluster.data_dir(), &mut |path, bytes| {
            files += 1;
            if bytes.windows(canary.len()).any(|w| w == canary.as_bytes()) {
                hits.push(path.display().to_string());
            }
            // The search itself works: the Aktenzeichen is metadata and lies in clear.
            metadata_seen |= bytes.windows(12).any(|w| w == b"HU-2026-0042");
        });
    }
    assert!(
        metadata_seen,
        "die Suche fand nicht einmal das Aktenzeichen"
    );
    let log = std::fs::read(cluster.log_file()).unwrap_or_default();
    assert!(files > 100, "nur {files} Dateien durchsucht");
    assert!(hits.is_empty(), "Klartext gefunden in {hits:?}");
    assert!(!String::from_utf8_lossy(&log).contains(canary));
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn walk(dir: &std::path::Path, f: &mut dyn FnMut(&std::path::Path, &[u8])) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, f);
        } else if let Ok(bytes) = std::fs::read(&p) {
            f(&p, &bytes);
        }
    }
}
