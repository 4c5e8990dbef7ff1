//! Office mode: the user's replica in the real SQLCipher store survives a restart
//! with cursor, cases, events, queue and conflicts exactly as they were.

use domain::{CaseState, Role};
use office::protocol::{CaseMeta, Command, CommandBody, Event, FeedItem, FeedPage, Outcome, Step};
use office::{Refusal, keyring};
mod common;

use common::{init, reopen};
use uuid::Uuid;

type R = Result<(), Box<dyn std::error::Error>>;

fn meta(id: Uuid, version: i64, state: CaseState) -> CaseMeta {
    CaseMeta {
        extended: false,
        id,
        file_number: "HU-2026-0001".into(),
        case_type: "HU".into(),
        channel: "papier".into(),
        state,
        waiting_from: None,
        checklist_complete: true,
        assignee: None,
        received_at: "2026-12-01T08:00:00Z".into(),
        version,
        state_version: version,
    }
}

#[test]
fn the_replica_survives_a_restart_and_a_refusal_becomes_a_stored_conflict() -> R {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("d");
    let mut s = init(&dir)?;
    assert!(s.replica_load(Role::Admin)?.is_none());
    let mut replica = s.replica_reset(Role::Admin)?;

    let (_, recipient) = keyring::generate();
    let content = keyring::seal(b"Erika Planta", &[&recipient]).map_err(|r| r.reason)?;
    let case = Uuid::new_v4();
    let event = Event {
        id: Uuid::new_v4(),
        case_id: case,
        kind: "eingang".into(),
        actor: "scan".into(),
        at: "2026-12-01T08:00:00Z".into(),
        from_state: None,
        to_state: Some(CaseState::Eingegangen),
        content: None,
    };
    let page = FeedPage {
        items: vec![FeedItem::Case {
            position: 7,
            meta: meta(case, 1, CaseState::Eingegangen),
            content: Some(content.clone()),
            events: vec![event.clone()],
        }],
        next: 9,
        more: false,
    };
    s.replica_apply_page(&mut replica, &page)?;
    // The content went to disk, not into memory.
    assert_eq!(replica.cases[&case].content, None);
    assert_eq!(s.replica_content(case)?, Some(content.clone()));
    // The same page again (a retry after a lost answer) changes nothing.
    s.replica_apply_page(&mut replica, &page)?;
    assert_eq!(replica.cursor, 9);

    let step = |key| Command {
        key,
        body: CommandBody::Transition {
            case_id: case,
            based_on: 1,
            step: Step::PruefungBeginnen,
            content: None,
        },
    };
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    s.replica_enqueue(&mut replica, step(first))?;
    s.replica_enqueue(&mut replica, step(second))?;
    // A key already queued is refused by the store (one command, one key).
    assert!(s.replica_enqueue(&mut replica, step(first)).is_err());
    assert_eq!(replica.waiting(), 2);
    drop(s);

    // After a restart: everything as it was, content still only on disk.
    let mut s = reopen(&dir)?;
    let mut back = s.replica_load(Role::Admin)?.ok_or("Replikat fehlt")?;
    assert_eq!(back.cursor, 9);
    assert_eq!(
        back.cases[&case].meta,
        meta(case, 1, CaseState::Eingegangen)
    );
    assert_eq!(back.cases[&case].events.get(&event.id), Some(&event));
    assert_eq!(
        back.queue.iter().map(|c| c.key).collect::<Vec<_>>(),
        vec![first, second]
    );

    // One applied, one refused: the refusal is a conflict, kept across a restart.
    s.replica_answer(
        &mut back,
        first,
        &Outcome::Applied {
            version: 2,
            position: 10,
            replay: false,
        },
    )?;
    s.replica_answer(
        &mut back,
        second,
        &Outcome::Refused {
            refusal: Refusal::conflict("Der Vorgang wurde inzwischen entschieden.".into()),
            replay: false,
        },
    )?;
    assert_eq!(back.waiting(), 0);
    drop(s);
    let mut s = reopen(&dir)?;
    let mut again = s.replica_load(Role::Admin)?.ok_or("Replikat fehlt")?;
    assert!(again.queue.is_empty());
    let conflicts = s.replica_conflicts()?;
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].conflict.command.key, second);
    assert!(conflicts[0].conflict.refusal.reason.contains("entschieden"));
    assert_eq!(
        conflicts[0].conflict.case_now.as_ref().map(|m| m.version),
        Some(1)
    );
    s.replica_conflict_done(&mut again, conflicts[0].seq)?;
    assert!(s.replica_conflicts()?.is_empty());
    assert!(
        s.replica_conflict_done(&mut again, conflicts[0].seq)
            .is_err()
    );

    // The audit chain holds every step and still verifies.
    let report = s.verify_audit()?;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    Ok(())
}

#[test]
fn a_changed_role_starts_afresh_and_keeps_waiting_commands_as_conflicts() -> R {
    let tmp = tempfile::tempdir()?;
    let mut s = init(&tmp.path().join("d"))?;
    let mut replica = s.replica_reset(Role::Sachbearbeitung)?;
    let case = Uuid::new_v4();
    s.replica_apply_page(
        &mut replica,
        &FeedPage {
            items: vec![FeedItem::Case {
                position: 1,
                meta: meta(case, 1, CaseState::Eingegangen),
                content: None,
                events: vec![],
            }],
            next: 1,
            more: false,
        },
    )?;
    let key = Uuid::new_v4();
    s.replica_enqueue(
        &mut replica,
        Command {
            key,
            body: CommandBody::Checklist {
                case_id: case,
                based_on: 1,
                complete: true,
            },
        },
    )?;
    // The server now holds another role for the user: a new replica from zero.
    assert!(s.replica_load(Role::Leitung)?.is_none());
    let fresh = s.replica_load(Role::Leitung);
    assert!(matches!(fresh, Ok(Some(ref r)) if r.cursor == 0 && r.cases.is_empty()));
    let conflicts = s.replica_conflicts()?;
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].conflict.command.key, key);
    assert!(conflicts[0].conflict.refusal.reason.contains("Rolle"));
    Ok(())
}

#[test]
fn leased_numbers_are_taken_once_in_order_and_survive_a_restart() -> R {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("d");
    let mut s = init(&dir)?;
    assert_eq!(s.office_take_number("papier-2026")?, None);
    assert!(s.office_add_numbers("papier-2026", 5, 4).is_err());
    s.office_add_numbers("papier-2026", 1, 2)?;
    s.office_add_numbers("papier-2026", 51, 52)?;
    s.office_add_numbers("papier-2027", 1, 1)?;
    assert_eq!(s.office_numbers_left("papier-2026")?, 4);
    assert_eq!(s.office_take_number("papier-2026")?, Some(1));
    drop(s);
    let mut s = reopen(&dir)?;
    let taken: Vec<_> = (0..4)
        .map(|_| s.office_take_number("papier-2026"))
        .collect::<Result<_, _>>()?;
    assert_eq!(taken, vec![Some(2), Some(51), Some(52), None]);
    assert_eq!(s.office_numbers_left("papier-2026")?, 0);
    assert_eq!(s.office_numbers_left("papier-2027")?, 1);
    Ok(())
}
