//! Casework through the facade over the real store: a case from arrival to
//! dispatch, visibility and assignment rules, and the matrix of every casework
//! operation × role.

use domain::lifecycle::{Action, ActionKind, CaseState, Decision};
use domain::{Role, UserName};
use workstation::casework::AssignRequest;
use workstation::{
    ErrorCode, InitOptions, LoginRequest, StoreConfig, WorkListQuery, WorkListView, Workstation,
};

type R = Result<(), Box<dyn std::error::Error>>;

const CHECKLIST: [&str; 4] = [
    "Angaben zur Person vollständig",
    "Tätigkeit eindeutig beschrieben",
    "Erlaubnispflicht geprüft",
    "Handelsregisterauszug liegt vor (falls eingetragen)",
];

fn login(ws: &mut Workstation, user: &str) -> Result<(), Box<dyn std::error::Error>> {
    ws.login(LoginRequest {
        username: user.into(),
        password: format!("{user}-passwort-1"),
    })?;
    Ok(())
}

/// A workstation with users of every role and two Gewerbeanmeldungen.
fn provision(
    dir: &std::path::Path,
) -> Result<(Workstation, Vec<String>), Box<dyn std::error::Error>> {
    let (mut ws, _) = Workstation::init(
        dir,
        InitOptions {
            admin: UserName::parse("admin")?,
            admin_display_name: "Admin".into(),
            admin_password: "admin-passwort-1".to_owned().into(),
            config: StoreConfig {
                scrypt_log_n: 10,
                ..StoreConfig::default()
            },
        },
    )?;
    for (name, role) in [
        ("sb1", Role::Sachbearbeitung),
        ("sb2", Role::Sachbearbeitung),
        ("leitung", Role::Leitung),
        ("scan", Role::Scanstelle),
    ] {
        ws.add_user(name, name, role, format!("{name}-passwort-1"))?;
    }
    login(&mut ws, "sb1")?;
    let mut ids = Vec::new();
    for (n, who) in [(1, "Ayşe Öztürk"), (2, "Jörg Weiß")] {
        ids.push(ws.session_for_import()?.insert_case(&store::NewCase {
            file_number: format!("GEW-2026-00000{n}"),
            case_type: "Gewerbeanmeldung".into(),
            applicant: who.into(),
            status: "eingegangen".into(),
            received_at: "2026-11-20T09:00:00Z".into(),
        })?);
    }
    ws.logout();
    Ok((ws, ids))
}

/// The first page of the work list in this order.
fn listed(
    ws: &mut Workstation,
    sort: workstation::WorkListSort,
) -> Result<Vec<domain::CaseSummary>, workstation::AppError> {
    Ok(ws
        .work_list(WorkListQuery {
            sort: Some(sort),
            ..WorkListQuery::default()
        })?
        .items)
}

#[test]
fn a_case_from_arrival_to_dispatch() -> R {
    let tmp = tempfile::tempdir()?;
    let (mut ws, ids) = provision(&tmp.path().join("daten"))?;
    let id = &ids[0];
    login(&mut ws, "sb1")?;
    let d = ws.case_detail(id)?;
    assert_eq!(d.state, CaseState::Eingegangen);
    assert_eq!(
        d.allowed_actions,
        [
            ActionKind::PruefungBeginnen,
            ActionKind::Zurueckziehen,
            ActionKind::Weiterleiten
        ]
    );
    assert_eq!(d.checklist.len(), 4);
    // A Gewerbeanzeige: the receipt is due within three days of arrival (§ 15 Abs. 1
    // GewO) – received Fri 20 Nov 2026 → Mon 23 Nov 2026; no fiction, whatever the
    // completeness.
    assert_eq!(d.deadlines.clock, domain::deadline::ClockKind::Fachfrist);
    assert_eq!(d.deadlines.legal.as_deref(), Some("2026-11-23"));
    assert_eq!(d.deadlines.period_start.as_deref(), Some("2026-11-20"));
    assert_eq!(d.deadlines.request_warning, None);

    let d = ws.case_action(id, Action::PruefungBeginnen)?;
    assert_eq!(d.state, CaseState::InPruefung);
    assert_eq!(
        d.assigned_to.as_deref(),
        Some("sb1"),
        "working on it takes it"
    );
    // Completeness needs the whole checklist.
    let err = ws
        .case_action(id, Action::VollstaendigFeststellen)
        .err()
        .ok_or("complete with an empty checklist")?;
    assert!(err.message.contains("Checkliste"), "{}", err.message);
    assert!(ws.set_check(id, "erfunden", true).is_err());
    for item in CHECKLIST {
        ws.set_check(id, item, true)?;
    }
    // Missing document requested, the citizen answers.
    let d = ws.case_action(
        id,
        Action::Nachfordern {
            fehlend: vec!["Handelsregisterauszug".into()],
            frist: "2026-12-07".into(),
        },
    )?;
    assert_eq!(d.state, CaseState::Nachgefordert);
    // The § 15 GewO period runs from arrival: a request does not move it.
    assert_eq!(d.deadlines.legal.as_deref(), Some("2026-11-23"));
    let d = ws.case_action(id, Action::NachreichungEingegangen { eingang: None })?;
    assert_eq!(d.state, CaseState::InPruefung);
    let d = ws.case_action(id, Action::VollstaendigFeststellen)?;
    assert_eq!(d.state, CaseState::InBearbeitung);
    assert_eq!(d.deadlines.legal.as_deref(), Some("2026-11-23"));
    // A refusal needs reasons.
    assert!(
        ws.case_action(
            id,
            Action::Entscheiden {
                ergebnis: Decision::Abgelehnt,
                begruendung: String::new(),
                anhoerung_vermerk: None,
            }
        )
        .is_err()
    );
    ws.add_note(id, "Rückruf am Montag vereinbart.")?;
    assert!(ws.add_note(id, "   ").is_err());
    ws.case_action(
        id,
        Action::Entscheiden {
            ergebnis: Decision::Bewilligt,
            begruendung: String::new(),
            anhoerung_vermerk: None,
        },
    )?;
    ws.case_action(
        id,
        Action::Versenden {
            kanal: "postfach".into(),
        },
    )?;
    let sent = ws.case_detail(id)?;
    assert_eq!(
        sent.deadlines.deemed_delivery, None,
        "sent to the mailbox, not by post"
    );
    let d = ws.case_action(id, Action::Abschliessen)?;
    assert_eq!(d.state, CaseState::Abgeschlossen);
    assert!(d.allowed_actions.is_empty());
    // A second case, sent by post: delivered on the 4th day after posting.
    let other = &ids[1];
    ws.case_action(other, Action::PruefungBeginnen)?;
    for item in CHECKLIST {
        ws.set_check(other, item, true)?;
    }
    ws.case_action(other, Action::VollstaendigFeststellen)?;
    ws.case_action(
        other,
        Action::Entscheiden {
            ergebnis: Decision::Bewilligt,
            begruendung: String::new(),
            anhoerung_vermerk: None,
        },
    )?;
    let posted = ws.case_action(
        other,
        Action::Versenden {
            kanal: "post".into(),
        },
    )?;
    let expected = jiff::Zoned::now()
        .date()
        .checked_add(jiff::Span::new().days(4))?
        .to_string();
    assert_eq!(posted.deadlines.deemed_delivery, Some(expected));
    let kinds: Vec<&str> = d.history.iter().map(|h| h.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "zuweisung",
            "pruefung_beginnen",
            "nachfordern",
            "nachreichung_eingegangen",
            "vollstaendig",
            "entscheiden",
            "versenden",
            "abschliessen"
        ]
    );
    assert_eq!(d.notes.len(), 1);
    // Every act is in the audit chain (with the Aktenzeichen, not the content).
    login(&mut ws, "leitung")?;
    let audit = ws.verify_audit()?;
    assert!(audit.is_intact());
    Ok(())
}

#[test]
fn visibility_and_assignment() -> R {
    let tmp = tempfile::tempdir()?;
    let (mut ws, ids) = provision(&tmp.path().join("daten"))?;
    login(&mut ws, "sb1")?;
    ws.case_action(&ids[0], Action::PruefungBeginnen)?;
    // Only Leitung assigns to others.
    let err = ws
        .assign_case(AssignRequest {
            case_id: ids[0].clone(),
            to: Some("sb2".into()),
            reason: Some("Urlaub".into()),
        })
        .err()
        .ok_or("sb1 assigned to sb2")?;
    assert_eq!(err.code, ErrorCode::Forbidden);
    // sb2 sees the queue and own cases, not sb1's.
    login(&mut ws, "sb2")?;
    assert_eq!(
        ws.case_detail(&ids[0]).err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    let list = ws.work_list(WorkListQuery::default())?;
    assert_eq!(list.total, 1);
    assert_eq!(list.items[0].id, ids[1]);
    // Open cases of a configured type carry a deadline marker and their next date.
    assert!(list.items[0].deadline.is_some() && list.items[0].due.is_some());
    assert_eq!(list.items[0].assigned_to, None);
    let mine = ws.work_list(WorkListQuery {
        view: Some(WorkListView::Meine),
        ..WorkListQuery::default()
    })?;
    assert_eq!(mine.total, 0);
    // Leitung sees everything and reassigns – with a reason.
    login(&mut ws, "leitung")?;
    assert_eq!(ws.work_list(WorkListQuery::default())?.total, 2);
    let no_reason = AssignRequest {
        case_id: ids[0].clone(),
        to: Some("sb2".into()),
        reason: None,
    };
    assert_eq!(
        ws.assign_case(no_reason.clone()).err().map(|e| e.code),
        Some(ErrorCode::InvalidInput)
    );
    assert!(
        ws.assign_case(AssignRequest {
            to: Some("scan".into()),
            reason: Some("x".into()),
            ..no_reason.clone()
        })
        .is_err(),
        "assigned to the scanning desk"
    );
    ws.assign_case(AssignRequest {
        reason: Some("Vertretung während Urlaub".into()),
        ..no_reason
    })?;
    login(&mut ws, "sb2")?;
    assert_eq!(ws.case_detail(&ids[0])?.assigned_to.as_deref(), Some("sb2"));
    assert_eq!(
        ws.work_list(WorkListQuery {
            view: Some(WorkListView::Meine),
            ..WorkListQuery::default()
        })?
        .total,
        1
    );
    // Scanstelle and Administration see no case content at all.
    for user in ["scan", "admin"] {
        if user == "admin" {
            ws.login(LoginRequest {
                username: "admin".into(),
                password: "admin-passwort-1".into(),
            })?;
        } else {
            login(&mut ws, user)?;
        }
        assert_eq!(
            ws.case_detail(&ids[1]).err().map(|e| e.code),
            Some(ErrorCode::Forbidden),
            "{user}"
        );
        assert_eq!(
            ws.work_list(WorkListQuery::default()).err().map(|e| e.code),
            Some(ErrorCode::Forbidden),
            "{user}"
        );
    }
    Ok(())
}

/// Every casework operation × every role: allowed or refused as the permission
/// model says (refused = `Forbidden`; any other outcome passed the permission check).
#[test]
fn operation_role_matrix() -> R {
    type Op = fn(&mut Workstation, &str) -> Result<(), workstation::AppError>;
    let ops: Vec<(&str, Op)> = vec![
        ("work_list", |ws, _| {
            ws.work_list(WorkListQuery::default()).map(|_| ())
        }),
        ("case_detail", |ws, id| ws.case_detail(id).map(|_| ())),
        ("case_action", |ws, id| {
            ws.case_action(id, Action::PruefungBeginnen).map(|_| ())
        }),
        ("set_check", |ws, id| {
            ws.set_check(id, "Erlaubnispflicht geprüft", true)
        }),
        ("add_note", |ws, id| ws.add_note(id, "Notiz")),
        ("assign_case", |ws, id| {
            ws.assign_case(AssignRequest {
                case_id: id.into(),
                to: Some("sb1".into()),
                reason: Some("Zuständigkeit".into()),
            })
        }),
        ("extend_deadline", |ws, id| {
            ws.extend_deadline(id, "Gutachten")
        }),
        ("list_users", |ws, _| ws.list_users().map(|_| ())),
        ("verify_audit", |ws, _| ws.verify_audit().map(|_| ())),
        ("quarantine", |ws, _| ws.quarantine().map(|_| ())),
        ("outbox", |ws, _| ws.outbox(false).map(|_| ())),
        ("sync_status", |ws, _| ws.sync_status().map(|_| ())),
        ("set_poll_interval", |ws, _| ws.set_poll_interval(300)),
        ("case_workers", |ws, _| ws.case_workers().map(|_| ())),
        ("assign_cases", |ws, id| {
            ws.assign_cases(workstation::casework::BulkAssignRequest {
                case_ids: vec![id.into()],
                to: Some("sb1".into()),
                reason: Some("Zuständigkeit".into()),
            })
            .map(|_| ())
        }),
        ("saved_filters", |ws, _| ws.saved_filters().map(|_| ())),
    ];
    // Allowed operations per role.
    let allowed: [(&str, &[&str]); 4] = [
        (
            "sb1",
            &[
                "work_list",
                "case_detail",
                "case_action",
                "set_check",
                "add_note",
                "assign_case",
                "extend_deadline",
                "sync_status",
                "case_workers",
                "saved_filters",
            ],
        ),
        (
            "leitung",
            &[
                "work_list",
                "case_detail",
                "case_action",
                "set_check",
                "add_note",
                "assign_case",
                "extend_deadline",
                "verify_audit",
                "sync_status",
                "case_workers",
                "assign_cases",
                "saved_filters",
            ],
        ),
        ("scan", &["sync_status"]),
        (
            "admin",
            &[
                "list_users",
                "verify_audit",
                "quarantine",
                "outbox",
                "sync_status",
                "set_poll_interval",
            ],
        ),
    ];
    for (user, ok) in allowed {
        // A fresh store per role, so earlier roles' acts do not interfere.
        let tmp = tempfile::tempdir()?;
        let (mut ws, ids) = provision(&tmp.path().join("daten"))?;
        if user == "admin" {
            ws.login(LoginRequest {
                username: "admin".into(),
                password: "admin-passwort-1".into(),
            })?;
        } else {
            login(&mut ws, user)?;
        }
        for (name, op) in &ops {
            let result = op(&mut ws, &ids[1]);
            let refused = matches!(&result, Err(e) if e.code == ErrorCode::Forbidden);
            assert_eq!(
                !refused,
                ok.contains(name),
                "{user} × {name}: {:?}",
                result.err()
            );
        }
        // Locked: everything refused with "locked".
        ws.logout();
        for (name, op) in &ops {
            assert_eq!(
                op(&mut ws, &ids[1]).err().map(|e| e.code),
                Some(ErrorCode::Locked),
                "locked × {name}"
            );
        }
    }
    Ok(())
}

/// The inactivity lock: the session stays, no data is returned until the user's
/// password unlocks it; wrong passwords count towards the lockout.
#[test]
fn screen_lock_hides_everything_until_the_password() -> R {
    let tmp = tempfile::tempdir()?;
    let (mut ws, ids) = provision(&tmp.path().join("daten"))?;
    login(&mut ws, "sb1")?;
    assert_eq!(ws.session().ok_or("session")?.lock_after_seconds, 600);
    ws.lock_screen()?;
    let info = ws.session().ok_or("session")?;
    assert!(info.screen_locked);
    for result in [
        ws.work_list(WorkListQuery::default()).map(|_| ()),
        ws.case_detail(&ids[0]).map(|_| ()),
        ws.add_note(&ids[0], "x"),
    ] {
        let e = result.err().ok_or("data while locked")?;
        assert_eq!(e.code, ErrorCode::Locked);
        assert!(e.message.contains("entsperren"), "{}", e.message);
    }
    // The synchronisation status (no personal data) stays available.
    assert!(ws.sync_status().is_ok());
    let wrong = ws
        .unlock_screen("falsch-falsch".into())
        .err()
        .ok_or("unlocked with a wrong password")?;
    assert_eq!(wrong.code, ErrorCode::WrongCredentials);
    assert!(ws.session().ok_or("session")?.screen_locked);
    let info = ws.unlock_screen("sb1-passwort-1".into())?;
    assert!(!info.screen_locked);
    assert_eq!(ws.work_list(WorkListQuery::default())?.total, 2);
    // Only the administration changes the interval, within bounds.
    assert_eq!(
        ws.set_lock_after(300).err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    ws.login(LoginRequest {
        username: "admin".into(),
        password: "admin-passwort-1".into(),
    })?;
    assert!(ws.set_lock_after(10).is_err());
    ws.set_lock_after(300)?;
    assert_eq!(ws.session().ok_or("session")?.lock_after_seconds, 300);
    Ok(())
}

/// The demo spreads cases over every state through the ordinary operations.
#[test]
fn demo_cases_end_in_every_state() -> R {
    let tmp = tempfile::tempdir()?;
    let (mut ws, _) = provision(&tmp.path().join("daten"))?;
    login(&mut ws, "sb1")?;
    for n in 3..=20 {
        ws.session_for_import()?.insert_case(&store::NewCase {
            file_number: format!("GEW-2026-0000{n:02}"),
            case_type: "Gewerbeanmeldung".into(),
            applicant: format!("Person {n}"),
            status: "eingegangen".into(),
            received_at: format!("2026-11-{n:02}T09:00:00Z"),
        })?;
    }
    login(&mut ws, "leitung")?;
    let moved = workstation::demo::spread_states(&mut ws, &["sb1".into(), "sb2".into()])?;
    assert!(moved >= 17, "{moved}");
    let list = ws.work_list(WorkListQuery {
        limit: 100,
        ..WorkListQuery::default()
    })?;
    // A deemed permit needs a Fiktion period that ran out: not for cases of November.
    for state in CaseState::ALL
        .into_iter()
        .filter(|s| *s != CaseState::GiltAlsErteilt)
    {
        assert!(
            list.items.iter().any(|c| c.status == state),
            "no case in {state:?}"
        );
    }
    assert!(ws.verify_audit()?.is_intact());
    Ok(())
}

/// Full-text search over name, Aktenzeichen, notes – umlauts folded, hostile input
/// harmless, visibility respected.
#[test]
fn search_finds_names_notes_and_respects_visibility() -> R {
    let tmp = tempfile::tempdir()?;
    let (mut ws, ids) = provision(&tmp.path().join("daten"))?;
    login(&mut ws, "sb1")?;
    ws.case_action(&ids[0], Action::PruefungBeginnen)?;
    ws.add_note(&ids[0], "Rückruf wegen Gaststättenerlaubnis vereinbart")?;
    let search = |ws: &mut Workstation, q: &str| -> Result<Vec<String>, workstation::AppError> {
        Ok(ws
            .work_list(WorkListQuery {
                search: Some(q.into()),
                ..WorkListQuery::default()
            })?
            .items
            .into_iter()
            .map(|c| c.file_number)
            .collect())
    };
    assert_eq!(search(&mut ws, "Öztürk")?, ["GEW-2026-000001"]);
    assert_eq!(
        search(&mut ws, "ozturk")?,
        ["GEW-2026-000001"],
        "umlauts folded"
    );
    assert_eq!(
        search(&mut ws, "Gaststätten")?,
        ["GEW-2026-000001"],
        "notes, prefix"
    );
    assert_eq!(search(&mut ws, "weiß jörg")?, ["GEW-2026-000002"]);
    assert_eq!(search(&mut ws, "GEW-2026-000002")?, ["GEW-2026-000002"]);
    assert!(search(&mut ws, "niemand")?.is_empty());
    for hostile in [
        "\"",
        "a OR b",
        "NEAR(",
        "*",
        "') DROP TABLE cases; --",
        "^x",
    ] {
        search(&mut ws, hostile)?;
    }
    assert!(search(&mut ws, &"x".repeat(300)).is_err());
    // sb2 does not find sb1's case.
    login(&mut ws, "sb2")?;
    assert!(search(&mut ws, "Öztürk")?.is_empty());
    assert_eq!(search(&mut ws, "Weiß")?, ["GEW-2026-000002"]);
    Ok(())
}

/// Bulk assignment (Leitung only), sorting, saved filters per user.
#[test]
fn bulk_assignment_sorting_and_saved_filters() -> R {
    use workstation::WorkListSort;
    use workstation::casework::{BulkAssignRequest, SavedFilter};
    let tmp = tempfile::tempdir()?;
    let (mut ws, ids) = provision(&tmp.path().join("daten"))?;
    login(&mut ws, "sb1")?;
    let bulk = BulkAssignRequest {
        case_ids: ids.clone(),
        to: Some("sb2".into()),
        reason: None,
    };
    assert_eq!(
        ws.assign_cases(bulk.clone()).err().map(|e| e.code),
        Some(ErrorCode::Forbidden)
    );
    login(&mut ws, "leitung")?;
    let mut with_unknown = bulk.clone();
    with_unknown.case_ids.push("f".repeat(32));
    let r = ws.assign_cases(with_unknown)?;
    assert_eq!(r.assigned, 2);
    assert_eq!(r.refused.len(), 1, "{:?}", r.refused);
    // Sorting.
    let order = |ws: &mut Workstation, sort| -> Result<Vec<String>, workstation::AppError> {
        Ok(listed(ws, sort)?
            .into_iter()
            .map(|c| c.file_number)
            .collect())
    };
    assert_eq!(
        order(&mut ws, WorkListSort::Aktenzeichen)?,
        ["GEW-2026-000001", "GEW-2026-000002"]
    );
    // Saved filters belong to their user.
    let mine = SavedFilter {
        name: "Meine Gewerbe".into(),
        query: WorkListQuery {
            view: Some(WorkListView::Meine),
            search: Some("Gewerbe".into()),
            ..WorkListQuery::default()
        },
    };
    assert!(
        ws.save_filter(SavedFilter {
            name: " ".into(),
            ..mine.clone()
        })
        .is_err()
    );
    assert_eq!(ws.save_filter(mine.clone())?.len(), 1);
    assert_eq!(ws.save_filter(mine.clone())?.len(), 1, "same name replaces");
    assert_eq!(ws.saved_filters()?, std::slice::from_ref(&mine));
    login(&mut ws, "sb2")?;
    assert!(ws.saved_filters()?.is_empty());
    login(&mut ws, "leitung")?;
    assert!(ws.delete_filter("Meine Gewerbe")?.is_empty());
    Ok(())
}

/// § 42a VwVfG through the facade: a case type whose law orders the fiction. The
/// period starts with the receipt of the complete documents (here: the application
/// itself, ten days ago), not on the day the clerk finds it complete; a later request
/// does not stop it; one extension, with reasons, from the end of the original period.
#[test]
fn vwvfg_42a_fiction_period_through_the_facade() -> R {
    let tmp = tempfile::tempdir()?;
    let (mut ws, _) = provision(&tmp.path().join("daten"))?;
    login(&mut ws, "sb1")?;
    let received = jiff::Zoned::now()
        .date()
        .checked_sub(jiff::Span::new().days(10))?;
    let id = ws.session_for_import()?.insert_case(&store::NewCase {
        file_number: "MAK-2026-000001".into(),
        case_type: "Erlaubnis als Immobilienmakler".into(),
        applicant: "Jürgen Weiß".into(),
        status: "eingegangen".into(),
        received_at: format!("{received}T09:00:00+01:00"),
    })?;
    let d = ws.case_detail(&id)?;
    assert_eq!(d.deadlines.clock, domain::deadline::ClockKind::Fiktion);
    assert!(d.deadlines.legal_basis.contains("§ 42a VwVfG"));
    assert_eq!(d.deadlines.legal, None, "not complete: no period yet");
    assert!(!d.deadlines.extension_possible);
    // The Eingangsbestätigung names the period, its start and the consequence.
    let letter = ws.letter_view(&workstation::letters::LetterRequest {
        case_id: id.clone(),
        kind: letters::LetterKind::Eingangsbestaetigung,
        fees: vec![],
        edits: vec![],
        kanal: "post".into(),
    })?;
    let frist = letter
        .draft
        .blocks
        .iter()
        .find(|b| b.key == "frist")
        .ok_or("no period block")?;
    assert!(
        frist.text.contains("innerhalb von drei Monaten"),
        "{}",
        frist.text
    );
    assert!(frist.text.contains("vollständigen Unterlagen"));
    assert!(
        frist
            .text
            .contains("gilt die beantragte Genehmigung als erteilt (§ 42a Abs. 1 VwVfG)")
    );
    ws.case_action(&id, Action::PruefungBeginnen)?;
    for item in [
        "Angaben zur Person vollständig",
        "Führungszeugnis liegt vor",
        "Auskunft aus dem Gewerbezentralregister liegt vor",
        "Nachweis geordneter Vermögensverhältnisse liegt vor",
    ] {
        ws.set_check(&id, item, true)?;
    }
    let d = ws.case_action(&id, Action::VollstaendigFeststellen)?;
    assert_eq!(
        d.deadlines.period_start.as_deref(),
        Some(received.to_string().as_str()),
        "§ 42a Abs. 2 S. 2: from the complete receipt, not from today"
    );
    let end = d.deadlines.legal.clone().ok_or("the period runs")?;
    assert!(d.deadlines.extension_possible);
    let warning = d.deadlines.request_warning.clone().ok_or("no warning")?;
    assert!(warning.contains("keine Hemmung"), "{warning}");
    // A request after the complete receipt does not stop the period.
    let d = ws.case_action(
        &id,
        Action::Nachfordern {
            fehlend: vec!["Gewerbezentralregister aktuell".into()],
            frist: "2026-12-31".into(),
        },
    )?;
    assert_eq!(d.deadlines.legal.as_deref(), Some(end.as_str()));
    assert_eq!(d.deadlines.status, domain::deadline::DeadlineStatus::ImPlan);
    assert!(
        !d.deadlines.extension_possible,
        "not while waiting for the citizen"
    );
    let d = ws.case_action(&id, Action::NachreichungEingegangen { eingang: None })?;
    assert_eq!(d.deadlines.legal.as_deref(), Some(end.as_str()));
    // Extension: with reasons, once, counted from the end of the original period.
    let err = ws
        .extend_deadline(&id, "  ")
        .err()
        .ok_or("extended without reasons")?;
    assert!(err.message.contains("begründet"), "{}", err.message);
    ws.extend_deadline(&id, "Stellungnahme der IHK steht aus")?;
    let d = ws.case_detail(&id)?;
    assert!(d.deadlines.extended);
    assert_eq!(d.deadlines.original_end.as_deref(), Some(end.as_str()));
    let new_end = d.deadlines.legal.clone().ok_or("no period")?;
    assert!(new_end > end, "{new_end} after {end}");
    let extension = d
        .history
        .iter()
        .find(|h| h.kind == "fristverlaengerung")
        .and_then(|h| h.detail.clone())
        .ok_or("no history entry")?;
    assert!(
        extension.contains(&end) && extension.contains(&new_end),
        "{extension}"
    );
    let again = ws
        .extend_deadline(&id, "noch einmal")
        .err()
        .ok_or("extended twice")?;
    assert!(again.message.contains("nur einmal"), "{}", again.message);
    // A Servicefrist case has nothing to extend.
    let gew_like = ws.session_for_import()?.insert_case(&store::NewCase {
        file_number: "MB-2026-000001".into(),
        case_type: "Meldebescheinigung".into(),
        applicant: "Ayşe Öztürk".into(),
        status: "eingegangen".into(),
        received_at: format!("{received}T09:00:00+01:00"),
    })?;
    let mb = ws.case_detail(&gew_like)?;
    assert_eq!(
        mb.deadlines.clock,
        domain::deadline::ClockKind::Servicefrist
    );
    assert_eq!(mb.deadlines.legal, None);
    assert!(mb.deadlines.inaction_from.is_some(), "§ 75 VwGO mark");
    let err = ws
        .extend_deadline(&gew_like, "Gutachten")
        .err()
        .ok_or("extended")?;
    assert!(
        err.message.contains("keine Fristverlängerung"),
        "{}",
        err.message
    );
    Ok(())
}

/// § 42a Abs. 1, 3 VwVfG worked example: a Maklererlaubnis complete on receipt
/// 150 days ago – its three months ran out undecided. The case gets the state
/// "Genehmigung gilt als erteilt" (refused while the period runs), then the
/// Fiktionsbescheinigung goes out on request and the case counts as dispatched.
#[test]
fn vwvfg_42a_an_expired_fiction_is_a_state_with_its_certificate_on_request() -> R {
    let tmp = tempfile::tempdir()?;
    let (mut ws, _) = provision(&tmp.path().join("daten"))?;
    login(&mut ws, "sb1")?;
    let today = jiff::Zoned::now().date();
    let mut make = |n: u32, days: i64| -> Result<String, Box<dyn std::error::Error>> {
        let received = today.checked_sub(jiff::Span::new().days(days))?;
        let id = ws.session_for_import()?.insert_case(&store::NewCase {
            file_number: format!("MAK-2026-00000{n}"),
            case_type: "Erlaubnis als Immobilienmakler".into(),
            applicant: "Jürgen Weiß".into(),
            status: "eingegangen".into(),
            received_at: format!("{received}T09:00:00+01:00"),
        })?;
        Ok(id)
    };
    let old = make(1, 150)?;
    let recent = make(2, 10)?;
    let certificate = |id: &str| workstation::letters::LetterRequest {
        case_id: id.to_owned(),
        kind: letters::LetterKind::Fiktionsbescheinigung,
        fees: vec![],
        edits: vec![],
        kanal: "post".into(),
    };
    for id in [&old, &recent] {
        ws.case_action(id, Action::PruefungBeginnen)?;
        for item in [
            "Angaben zur Person vollständig",
            "Führungszeugnis liegt vor",
            "Auskunft aus dem Gewerbezentralregister liegt vor",
            "Nachweis geordneter Vermögensverhältnisse liegt vor",
        ] {
            ws.set_check(id, item, true)?;
        }
        ws.case_action(id, Action::VollstaendigFeststellen)?;
    }
    // Running period: no fiction, no certificate.
    let d = ws.case_detail(&recent)?;
    assert!(!d.allowed_actions.contains(&ActionKind::FiktionFeststellen));
    let err = ws
        .case_action(&recent, Action::FiktionFeststellen)
        .err()
        .ok_or("fiction while the period runs")?;
    assert!(err.message.contains("§ 42a"), "{}", err.message);
    assert!(ws.send_letter(&certificate(&recent)).is_err());
    // Expired: the marker, the step, the state.
    let d = ws.case_detail(&old)?;
    assert_eq!(
        d.deadlines.status,
        domain::deadline::DeadlineStatus::FiktionEingetreten
    );
    assert!(d.allowed_actions.contains(&ActionKind::FiktionFeststellen));
    let end = d.deadlines.legal.clone().ok_or("no period")?;
    assert!(
        ws.send_letter(&certificate(&old)).is_err(),
        "the certificate follows the recorded fiction"
    );
    let d = ws.case_action(&old, Action::FiktionFeststellen)?;
    assert_eq!(d.state, CaseState::GiltAlsErteilt);
    assert_eq!(d.state_label, "Genehmigung gilt als erteilt");
    assert_eq!(
        d.allowed_actions,
        vec![ActionKind::Versenden, ActionKind::Abschliessen]
    );
    // On request: the certificate names the end of the period and goes out.
    let view = ws.letter_view(&certificate(&old))?;
    assert_eq!(view.blocked, None);
    assert!(
        view.kinds
            .contains(&letters::LetterKind::Fiktionsbescheinigung)
    );
    let text: String = view.draft.blocks.iter().map(|b| b.text.as_str()).collect();
    let (y, m, day) = (&end[..4], &end[5..7], &end[8..10]);
    assert!(text.contains(&format!("{day}.{m}.{y}")), "{text}");
    assert!(text.contains("als erteilt"), "{text}");
    let d = ws.send_letter(&certificate(&old))?;
    assert_eq!(d.state, CaseState::Versandt);
    let kinds: Vec<&str> = d.history.iter().map(|h| h.kind.as_str()).collect();
    assert!(kinds.contains(&"fiktion_feststellen"), "{kinds:?}");
    login(&mut ws, "leitung")?;
    assert!(ws.verify_audit()?.is_intact());
    Ok(())
}

/// After the legal review the Leitung sees which open cases' deadlines changed, with the
/// old and the new date; cases keep their history.
#[test]
fn the_leitung_sees_which_deadlines_the_legal_review_changed() -> R {
    let tmp = tempfile::tempdir()?;
    let (mut ws, ids) = provision(&tmp.path().join("daten"))?;
    login(&mut ws, "sb1")?;
    // A Gewerbeanmeldung found complete: the old rule gave three months from today
    // (§ 42a for every type), the law gives three days from its receipt (§ 15 GewO).
    ws.case_action(&ids[0], Action::PruefungBeginnen)?;
    for item in CHECKLIST {
        ws.set_check(&ids[0], item, true)?;
    }
    ws.case_action(&ids[0], Action::VollstaendigFeststellen)?;
    let history_before = ws.case_detail(&ids[0])?.history.len();
    let mb = ws.session_for_import()?.insert_case(&store::NewCase {
        file_number: "MB-2026-000001".into(),
        case_type: "Meldebescheinigung".into(),
        applicant: "Ayşe Öztürk".into(),
        status: "eingegangen".into(),
        received_at: "2026-11-20T09:00:00Z".into(),
    })?;
    assert_eq!(
        ws.deadline_changes().err().map(|e| e.code),
        Some(ErrorCode::Forbidden),
        "the Leitung's list"
    );
    login(&mut ws, "leitung")?;
    let changes = ws.deadline_changes()?;
    let gew = changes
        .iter()
        .find(|c| c.id == ids[0])
        .ok_or("the Gewerbeanmeldung is not listed")?;
    let old_end = jiff::Zoned::now()
        .date()
        .checked_add(jiff::Span::new().months(3))?;
    assert!(
        gew.previous
            .as_deref()
            .is_some_and(|p| p >= old_end.to_string().as_str()),
        "{gew:?}"
    );
    assert_eq!(gew.current.as_deref(), Some("2026-11-23"));
    // Not found complete yet: the old rule had no period yet, § 15 GewO runs from the
    // receipt. The Meldebescheinigung never had one: not listed.
    let open = changes
        .iter()
        .find(|c| c.id == ids[1])
        .ok_or("the second Gewerbeanmeldung is not listed")?;
    assert_eq!(
        (open.previous.as_deref(), open.current.as_deref()),
        (None, Some("2026-11-23"))
    );
    assert!(changes.iter().all(|c| c.id != mb), "{changes:?}");
    assert_eq!(ws.case_detail(&ids[0])?.history.len(), history_before);
    Ok(())
}

/// A case of `case_type` received on Fri 20 Nov 2026, checked and found complete.
fn complete_case(
    ws: &mut Workstation,
    file_number: &str,
    case_type: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let id = ws.session_for_import()?.insert_case(&store::NewCase {
        file_number: file_number.into(),
        case_type: case_type.into(),
        applicant: "Jörg Weiß".into(),
        status: "eingegangen".into(),
        received_at: "2026-11-20T09:00:00Z".into(),
    })?;
    ws.case_action(&id, Action::PruefungBeginnen)?;
    for item in ws.case_detail(&id)?.checklist {
        ws.set_check(&id, &item.item, true)?;
    }
    ws.case_action(&id, Action::VollstaendigFeststellen)?;
    Ok(id)
}

/// § 28 VwVfG through the facade: no refusal without a hearing (or a note why it is
/// dispensable); the hearing letter sets a period to comment, and a refusal waits for
/// it unless the clerk notes that the comment is in.
#[test]
fn vwvfg_28_no_refusal_without_a_hearing() -> R {
    let tmp = tempfile::tempdir()?;
    let (mut ws, _) = provision(&tmp.path().join("daten"))?;
    login(&mut ws, "sb1")?;
    let id = complete_case(&mut ws, "BWP-2026-000001", "Anwohnerparkausweis")?;
    let refuse = |vermerk: Option<&str>| Action::Entscheiden {
        ergebnis: Decision::Abgelehnt,
        begruendung: "Kein Hauptwohnsitz in der Parkzone.".into(),
        anhoerung_vermerk: vermerk.map(str::to_owned),
    };
    let err = ws
        .case_action(&id, refuse(None))
        .err()
        .ok_or("refused unheard")?;
    assert!(err.message.contains("anzuhören"), "{}", err.message);
    // The hearing letter: offered while the case is being worked on, with its period.
    let request = workstation::letters::LetterRequest {
        case_id: id.clone(),
        kind: letters::LetterKind::Anhoerung,
        fees: vec![],
        edits: vec![],
        kanal: "post".into(),
    };
    let view = ws.letter_view(&request)?;
    assert!(view.kinds.contains(&letters::LetterKind::Anhoerung));
    assert_eq!(view.blocked, None);
    ws.send_letter(&request)?;
    let d = ws.case_detail(&id)?;
    let frist = d
        .history
        .iter()
        .filter(|h| h.kind == "brief")
        .find_map(|h| h.detail.clone())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["frist"].as_str().map(str::to_owned))
        .ok_or("no period recorded")?;
    let until: jiff::civil::Date = frist.parse()?;
    assert!(
        until
            >= jiff::Zoned::now()
                .date()
                .checked_add(jiff::Span::new().days(14))?
    );
    let err = ws
        .case_action(&id, refuse(None))
        .err()
        .ok_or("refused during the period")?;
    assert!(err.message.contains("läuft bis"), "{}", err.message);
    // The comment came in: noted, the refusal goes through; the note is in the history.
    let d = ws.case_action(&id, refuse(Some("Stellungnahme vom 02.12.2026 liegt vor.")))?;
    assert_eq!(d.state, CaseState::Entschieden);
    assert!(d.history.iter().any(|h| {
        h.detail
            .as_deref()
            .is_some_and(|t| t.contains("Stellungnahme vom 02.12.2026"))
    }));
    Ok(())
}

/// The Hundesteuer is answered by a Steuerbescheid that books the first year's tax with
/// a Kassenzeichen: registered Fri 20 Nov 2026 → liable from 1 Dec 2026, one month of
/// 96 € a year = 8 €.
#[test]
fn hundesteuer_is_assessed_and_booked_not_granted() -> R {
    let tmp = tempfile::tempdir()?;
    let (mut ws, _) = provision(&tmp.path().join("daten"))?;
    login(&mut ws, "sb1")?;
    let id = complete_case(&mut ws, "HST-2026-000001", "Hundesteuer-Anmeldung")?;
    ws.case_action(
        &id,
        Action::Entscheiden {
            ergebnis: Decision::Bewilligt,
            begruendung: String::new(),
            anhoerung_vermerk: None,
        },
    )?;
    let view = ws.letter_view(&workstation::letters::LetterRequest {
        case_id: id.clone(),
        kind: letters::LetterKind::Bescheid,
        fees: vec![],
        edits: vec![],
        kanal: "post".into(),
    })?;
    assert!(
        view.draft
            .betreff
            .contains("Festsetzung der Hundesteuer ab 01.12.2026"),
        "{}",
        view.draft.betreff
    );
    let booked = view.draft.fees.as_ref().ok_or("nothing booked")?;
    assert_eq!(booked.total_cent, 800);
    let tenor = &view
        .draft
        .blocks
        .iter()
        .find(|b| b.key == "tenor")
        .ok_or("tenor")?
        .text;
    assert!(
        tenor.contains("jährlich 96,00 €") && !tenor.contains("stattgegeben"),
        "{tenor}"
    );
    Ok(())
}

/// § 42a Abs. 2 S. 2 VwVfG for paper: the clerk enters the day the missing documents
/// came in, and the period starts then – not on the day she records it. A day in the
/// future or before the request is refused.
#[test]
fn vwvfg_42a_paper_documents_count_from_their_intake_day() -> R {
    let tmp = tempfile::tempdir()?;
    let (mut ws, _) = provision(&tmp.path().join("daten"))?;
    login(&mut ws, "sb1")?;
    let today = jiff::Zoned::now().date();
    let day = |n: i64| -> Result<jiff::civil::Date, jiff::Error> {
        today.checked_sub(jiff::Span::new().days(n))
    };
    let at = |d: jiff::civil::Date| format!("{d}T10:00:00+01:00");
    let event = |d, kind: &str, from: &str, to: &str| store::PastEvent {
        at: at(d),
        actor: "sb1".into(),
        kind: kind.into(),
        from_state: Some(from.into()),
        to_state: Some(to.into()),
    };
    let id = ws.session_for_import()?.import_case_with_history(
        &store::NewCase {
            file_number: "MAK-2026-000002".into(),
            case_type: "Erlaubnis als Immobilienmakler".into(),
            applicant: "Ayşe Öztürk".into(),
            status: "nachgefordert".into(),
            received_at: at(day(20)?),
        },
        Some("MAK"),
        Some("sb1"),
        None,
        None,
        &[
            event(day(18)?, "pruefung_beginnen", "eingegangen", "in_pruefung"),
            event(day(10)?, "nachfordern", "in_pruefung", "nachgefordert"),
        ],
    )?;
    let answer = |d: String| Action::NachreichungEingegangen { eingang: Some(d) };
    let future = ws
        .case_action(&id, answer(today.tomorrow()?.to_string()))
        .err()
        .ok_or("future day")?;
    assert!(future.message.contains("Zukunft"), "{}", future.message);
    let early = ws
        .case_action(&id, answer(day(12)?.to_string()))
        .err()
        .ok_or("before the request")?;
    assert!(
        early.message.contains("vor der Nachforderung"),
        "{}",
        early.message
    );
    let garbage = ws
        .case_action(&id, answer("gestern".into()))
        .err()
        .ok_or("no date")?;
    assert!(
        garbage.message.contains("kein gültiges Datum"),
        "{}",
        garbage.message
    );
    // The documents came in a week ago; the clerk records it today.
    ws.case_action(&id, answer(day(7)?.to_string()))?;
    for item in ws.case_detail(&id)?.checklist {
        ws.set_check(&id, &item.item, true)?;
    }
    let d = ws.case_action(&id, Action::VollstaendigFeststellen)?;
    assert_eq!(d.deadlines.period_start, Some(day(7)?.to_string()));
    Ok(())
}

/// The clerk's most important order: running deadline first due first, closed
/// cases last; "fällig" and "überfällig" with their counts; a case that leaves
/// the running deadlines (withdrawn) leaves its place at once; a search keeps
/// the view's window.
#[test]
fn work_list_by_deadline_with_due_views_and_counts() -> R {
    use jiff::ToSpan;
    let tmp = tempfile::tempdir()?;
    let (mut ws, ids) = provision(&tmp.path().join("daten"))?;
    let today = jiff::Zoned::now().date();
    let at = |d: jiff::civil::Date| format!("{d}T09:00:00Z");
    login(&mut ws, "sb1")?;
    // Gewerbeanmeldung: 3 days from arrival. Yesterday's is due soon, one in a
    // month's time is neither due nor overdue; the provisioned ones (20 Nov 2026)
    // and one from January are overdue.
    let mut add = |n: u32, received: String| -> Result<String, Box<dyn std::error::Error>> {
        Ok(ws.session_for_import()?.insert_case(&store::NewCase {
            file_number: format!("GEW-2026-00010{n}"),
            case_type: "Gewerbeanmeldung".into(),
            applicant: format!("Frist Person {n}"),
            status: "eingegangen".into(),
            received_at: received,
        })?)
    };
    let soon = add(1, at(today.checked_sub(1.day())?))?;
    let later = add(2, at(today.checked_add(30.days())?))?;
    let january = add(3, at(jiff::civil::date(2026, 1, 5)))?;
    let by_deadline = |ws: &mut Workstation, view: Option<WorkListView>, search: Option<&str>| {
        ws.work_list(WorkListQuery {
            sort: Some(workstation::WorkListSort::Frist),
            view,
            search: search.map(str::to_owned),
            ..WorkListQuery::default()
        })
    };
    let list = by_deadline(&mut ws, None, None)?;
    let order: Vec<&str> = list.items.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(order, [&january, &ids[0], &ids[1], &soon, &later]);
    assert_eq!(list.counts.alle, 5);
    assert_eq!(list.counts.eingang, 5);
    assert_eq!(list.counts.meine, 0);
    assert_eq!(list.counts.faellig, 1);
    assert_eq!(list.counts.ueberfaellig, 3);
    let due = by_deadline(&mut ws, Some(WorkListView::Faellig), None)?;
    assert_eq!(
        due.items.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [&soon]
    );
    assert_eq!(due.total, 1);
    let overdue = by_deadline(&mut ws, Some(WorkListView::Ueberfaellig), None)?;
    assert_eq!(overdue.total, 3);
    // A search within the overdue view: only overdue cases that match.
    let found = by_deadline(
        &mut ws,
        Some(WorkListView::Ueberfaellig),
        Some("Frist Person"),
    )?;
    assert_eq!(
        found
            .items
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        [&january]
    );
    assert_eq!(found.total, 1);
    // Withdrawn: no running deadline any more, to the end of the list.
    ws.case_action(
        &january,
        Action::Zurueckziehen {
            grund: "Antrag schriftlich zurückgenommen".into(),
        },
    )?;
    let list = by_deadline(&mut ws, None, None)?;
    assert_eq!(
        list.items.last().map(|c| c.id.as_str()),
        Some(january.as_str())
    );
    assert_eq!(list.counts.ueberfaellig, 2);
    // Status and assignee orders.
    ws.assign_case(AssignRequest {
        case_id: ids[1].clone(),
        to: Some("sb1".into()),
        reason: None,
    })?;
    let states: Vec<String> = listed(&mut ws, workstation::WorkListSort::Status)?
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(states.last(), Some(&january), "closed after open");
    let assignees = ws.work_list(WorkListQuery {
        sort: Some(workstation::WorkListSort::Zustaendig),
        ..WorkListQuery::default()
    })?;
    let assigned: Vec<bool> = assignees
        .items
        .iter()
        .map(|c| c.assigned_to.is_some())
        .collect();
    assert!(assigned.is_sorted(), "the unassigned first: {assigned:?}");
    assert!(
        assignees
            .items
            .iter()
            .any(|c| c.id == ids[1] && c.assigned_to.as_deref() == Some("sb1"))
    );
    assert_eq!(
        assignees.counts.meine,
        assigned.iter().filter(|a| **a).count() as u32
    );
    // The town gives Gewerbeanmeldungen 60 days instead of 3: every stored deadline
    // is computed again, yesterday's case is no longer due within 14 days.
    let defaults = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../assets/config/vorgangsarten.toml"),
    )?;
    let gew = "frist_tage = 3\nfristbeginn = \"eingang\"\nnachforderung = \"laeuft_weiter\"\nzielzeit_tage = 5";
    assert_eq!(
        defaults.matches(gew).count(),
        1,
        "the Gewerbeanmeldung's period"
    );
    std::fs::write(
        tmp.path().join("daten/vorgangsarten.toml"),
        defaults.replace(gew, &gew.replace("frist_tage = 3", "frist_tage = 60")),
    )?;
    let due = by_deadline(&mut ws, Some(WorkListView::Faellig), None)?;
    assert!(due.items.iter().all(|c| c.id != soon), "{due:?}");
    assert_eq!(due.counts.faellig, due.total);
    let later_due = listed(&mut ws, workstation::WorkListSort::Frist)?
        .into_iter()
        .find(|c| c.id == soon)
        .and_then(|c| c.due)
        .ok_or("no deadline")?;
    assert!(
        later_due > today.checked_add(50.days())?.to_string(),
        "{later_due}"
    );
    Ok(())
}

/// Many stale deadline keys (the first login after an update, other rules): a job
/// computes them on a second connection outside the workstation lock and stores
/// them in slices; a work list meanwhile does not compute them itself and says so;
/// a case changed while the job ran keeps its stale key, and the next list computes it.
#[test]
fn many_deadline_keys_are_computed_outside_the_lock() -> R {
    let tmp = tempfile::tempdir()?;
    let (mut ws, _) = provision(&tmp.path().join("daten"))?;
    login(&mut ws, "leitung")?;
    let n = usize::try_from(workstation::casework::DUES_INLINE)? + 300;
    workstation::demo::demo_history(&mut ws, n, 1, &["sb1".to_owned()])?;
    let by_deadline = |ws: &mut Workstation| {
        ws.work_list(WorkListQuery {
            sort: Some(workstation::WorkListSort::Frist),
            limit: 500,
            ..WorkListQuery::default()
        })
    };
    let job = ws
        .due_keys_job()?
        .ok_or("a job for the background expected")?;
    let stale = ws.session_for_import()?.stale_due_count()?;
    assert!(stale > workstation::casework::DUES_INLINE, "{stale} stale");
    // Meanwhile the list answers without computing them, and says so.
    let during = by_deadline(&mut ws)?;
    assert!(during.dues_pending);
    // Every case shows (those not yet computed at the end of the order).
    assert_eq!(usize::try_from(during.total)?, n + 2);
    assert_eq!(ws.session_for_import()?.stale_due_count()?, stale);
    // A case changes while the job runs.
    let changed = during.items[0].id.clone();
    ws.assign_case(AssignRequest {
        case_id: changed.clone(),
        to: Some("sb1".into()),
        reason: Some("Vertretung".into()),
    })?;
    let mut keys = job.run()?;
    assert_eq!(u64::try_from(keys.len())?, stale);
    // Stored by the job's own session, the workstation's untouched meanwhile.
    let mut slices = 1;
    while keys.store_next(700)? {
        slices += 1;
    }
    assert_eq!(slices, usize::try_from(stale)?.div_ceil(700));
    ws.due_keys_done();
    // Only the changed case is still stale; the next list computes it.
    assert_eq!(ws.session_for_import()?.stale_due_count()?, 1);
    let after = by_deadline(&mut ws)?;
    assert!(!after.dues_pending);
    assert_eq!(ws.session_for_import()?.stale_due_count()?, 0);
    // The stored keys order the list: running deadlines ascending.
    let running: Vec<&str> = after
        .items
        .iter()
        .filter(|c| {
            c.deadline
                .is_some_and(|d| d != domain::deadline::DeadlineStatus::Ruht)
        })
        .filter_map(|c| c.due.as_deref())
        .collect();
    assert!(
        running.len() > 100,
        "{} with a running deadline",
        running.len()
    );
    assert!(running.windows(2).all(|w| w[0] <= w[1]), "{running:?}");
    Ok(())
}

/// The background helper on the shared workstation: nothing to do with few stale
/// keys; with many it computes and stores all of them.
#[test]
fn due_keys_in_the_background_through_the_shared_workstation() -> R {
    let tmp = tempfile::tempdir()?;
    let (mut ws, _) = provision(&tmp.path().join("daten"))?;
    login(&mut ws, "leitung")?;
    let shared: workstation::background::Shared =
        std::sync::Arc::new(std::sync::Mutex::new(Some(ws)));
    // Two cases: the next list computes them; nothing for the background.
    assert_eq!(workstation::background::due_keys_shared(&shared)?, None);
    let n = usize::try_from(workstation::casework::DUES_INLINE)? + 1;
    {
        let mut guard = shared.lock().map_err(|_| "lock")?;
        let ws = guard.as_mut().ok_or("no workstation")?;
        workstation::demo::demo_history(ws, n, 1, &["sb1".to_owned()])?;
    }
    let stored = workstation::background::due_keys_shared(&shared)?.ok_or("keys expected")?;
    assert!(stored >= n, "{stored}");
    {
        let mut guard = shared.lock().map_err(|_| "lock")?;
        let ws = guard.as_mut().ok_or("no workstation")?;
        assert_eq!(ws.session_for_import()?.stale_due_count()?, 0);
        assert!(!ws.work_list(WorkListQuery::default())?.dues_pending);
        // Other rules (an update, changed case types or holidays): every key is
        // computed again in the background, without marking every case first.
        ws.session_for_import()?.set_due_basis("andere Regeln")?;
    }
    let job = {
        let mut guard = shared.lock().map_err(|_| "lock")?;
        let ws = guard.as_mut().ok_or("no workstation")?;
        let job = ws.due_keys_job()?.ok_or("a job for other rules")?;
        let during = ws.work_list(WorkListQuery::default())?;
        assert!(during.dues_pending);
        assert_eq!(usize::try_from(during.total)?, stored);
        assert_eq!(
            ws.session_for_import()?.stale_due_count()?,
            0,
            "nothing marked"
        );
        job
    };
    let mut keys = job.run()?;
    assert_eq!(keys.len(), stored, "every case computed");
    let mut guard = shared.lock().map_err(|_| "lock")?;
    let ws = guard.as_mut().ok_or("no workstation")?;
    while keys.store_next(1_000)? {}
    ws.due_keys_done();
    assert_ne!(
        ws.session_for_import()?.due_basis()?.as_deref(),
        Some("andere Regeln"),
        "the rules in force recorded"
    );
    assert!(!ws.work_list(WorkListQuery::default())?.dues_pending);
    assert_eq!(ws.session_for_import()?.stale_due_count()?, 0);
    Ok(())
}
