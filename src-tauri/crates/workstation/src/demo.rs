//! For demonstrations only (`make demo`): move the cases of a fresh demo store
//! through the lifecycle, so that the work list shows every state. Every step goes
//! through the ordinary facade operations (permissions, history, audit) as the
//! logged-in Leitung.

use domain::lifecycle::{Action, CaseState, Decision};

use crate::casework::AssignRequest;
use crate::{AppError, WorkListQuery, Workstation};

/// The states the demo cases end in, in turn.
const TARGETS: [CaseState; 10] = [
    CaseState::Eingegangen,
    CaseState::InPruefung,
    CaseState::Nachgefordert,
    CaseState::InBearbeitung,
    CaseState::Entschieden,
    CaseState::Versandt,
    CaseState::Abgeschlossen,
    CaseState::Zurueckgezogen,
    CaseState::Weitergeleitet,
    CaseState::InBearbeitung,
];

fn steps(target: CaseState) -> Vec<Action> {
    let pruefen = Action::PruefungBeginnen;
    let nachfordern = Action::Nachfordern {
        fehlend: vec!["Nachweis (Kopie)".into()],
        frist: "2026-12-31".into(),
    };
    let entscheiden = Action::Entscheiden {
        ergebnis: Decision::Bewilligt,
        begruendung: String::new(),
    };
    let versenden = Action::Versenden {
        kanal: "postfach".into(),
    };
    match target {
        CaseState::Eingegangen => vec![],
        CaseState::InPruefung => vec![pruefen],
        CaseState::Nachgefordert => vec![pruefen, nachfordern],
        CaseState::InBearbeitung => vec![pruefen, Action::VollstaendigFeststellen],
        CaseState::Entschieden => vec![pruefen, Action::VollstaendigFeststellen, entscheiden],
        CaseState::Versandt => vec![
            pruefen,
            Action::VollstaendigFeststellen,
            entscheiden,
            versenden,
        ],
        CaseState::Abgeschlossen => vec![
            pruefen,
            Action::VollstaendigFeststellen,
            entscheiden,
            versenden,
            Action::Abschliessen,
        ],
        CaseState::Zurueckgezogen => vec![
            pruefen,
            Action::Zurueckziehen {
                grund: "Antrag telefonisch zurückgenommen".into(),
            },
        ],
        CaseState::Weitergeleitet => vec![Action::Weiterleiten {
            an: "Kreisverwaltung, Straßenverkehrsamt".into(),
            grund: "Zuständigkeit des Kreises".into(),
        }],
    }
}

/// Spread the unworked cases over the states; cases go to `colleagues` in turn
/// (every tenth stays in the Eingangskorb). Returns how many cases were moved.
pub fn spread_states(ws: &mut Workstation, colleagues: &[String]) -> Result<usize, AppError> {
    let list = ws.work_list(WorkListQuery {
        limit: 500,
        ..WorkListQuery::default()
    })?;
    let mut moved = 0;
    for (i, case) in list
        .items
        .iter()
        .filter(|c| c.status == CaseState::Eingegangen.as_str())
        .enumerate()
    {
        let target = TARGETS[i % TARGETS.len()];
        if target == CaseState::Eingegangen {
            continue;
        }
        if let Some(who) = colleagues.get(i % colleagues.len().max(1)) {
            ws.assign_case(AssignRequest {
                case_id: case.id.clone(),
                to: Some(who.clone()),
                reason: None,
            })?;
        }
        for item in ws.case_detail(&case.id)?.checklist {
            ws.set_check(&case.id, &item.item, true)?;
        }
        for action in steps(target) {
            ws.case_action(&case.id, action)?;
        }
        moved += 1;
    }
    Ok(moved)
}
