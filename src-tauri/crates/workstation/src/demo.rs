//! For demonstrations only (`make demo`): move the cases of a fresh demo store
//! through the lifecycle, so that the work list shows every state. Every step goes
//! through the ordinary facade operations (permissions, history, audit) as the
//! logged-in Leitung.

use domain::lifecycle::{Action, CaseState, Decision};

use crate::casework::AssignRequest;
use crate::{AppError, WorkListQuery, Workstation};

/// The state the `i`-th demo case ends in: every state in turn, and per round one
/// more case in Bearbeitung (the state a demo shows most). A deemed permit needs a
/// Fiktion period that has run out – a case that just arrived has none; the demo
/// history ([`demo_history`]) has such cases.
fn target(i: usize) -> CaseState {
    let round = CaseState::ALL.len() + 1;
    // Past the list: the extra case of the round.
    match CaseState::ALL.get(i % round).copied() {
        Some(CaseState::GiltAlsErteilt) | None => CaseState::InBearbeitung,
        Some(s) => s,
    }
}

fn steps(target: CaseState) -> Vec<Action> {
    let pruefen = Action::PruefungBeginnen;
    let nachfordern = Action::Nachfordern {
        fehlend: vec!["Nachweis (Kopie)".into()],
        frist: "2026-12-31".into(),
    };
    let entscheiden = Action::Entscheiden {
        ergebnis: Decision::Bewilligt,
        begruendung: String::new(),
        anhoerung_vermerk: None,
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
        // Allowed only once the Fiktion period ran out (see `target`).
        CaseState::GiltAlsErteilt => vec![
            pruefen,
            Action::VollstaendigFeststellen,
            Action::FiktionFeststellen,
        ],
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
        .filter(|c| c.status == CaseState::Eingegangen)
        .enumerate()
    {
        let target = target(i);
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

const FIRST: [&str; 12] = [
    "Anna", "Jonas", "Leonie", "Mehmet", "Sophie", "Lukas", "Emma", "Piotr", "Mia", "Ben", "Aylin",
    "Karl",
];
const LAST: [&str; 12] = [
    "Becker", "Schulz", "Kowalski", "Yıldız", "Hoffmann", "Wagner", "Nowak", "Fischer", "Özdemir",
    "Krüger", "Lehmann", "Schäfer",
];

/// A year of finished and running cases with their full history, taken over as if from
/// an earlier system, so that the Leitung's dashboard shows realistic figures (demo
/// only). Arrivals spread over the last 365 days (every fifteenth in the last ten); Nachforderungen, decisions, dispatch
/// and closing at realistic intervals; what would lie in the future is still open.
/// Returns the number of cases. Runs with seeds that differ in the last digit add up.
pub fn demo_history(
    ws: &mut Workstation,
    n: usize,
    seed: u64,
    colleagues: &[String],
) -> Result<usize, AppError> {
    use jiff::{Timestamp, ToSpan};
    use rand::{Rng, SeedableRng};
    use store::{NewCase, PastEvent};

    let cfg = ws.casework_config()?;
    let types = cfg.types.vorgangsart.clone();
    if types.is_empty() || colleagues.is_empty() {
        return Err(AppError::invalid(
            "Keine Vorgangsarten oder keine Sachbearbeitenden für die Demo.",
        ));
    }
    let session = ws.session_with_mut(domain::Permission::AllCases)?;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let now = Timestamp::now();
    let year_ago = now - (365 * 24).hours();
    for i in 0..n {
        let t = &types[i % types.len()];
        // Service target in days sets the pace; some case types are fast.
        let pace = f64::from(t.zielzeit_tage.max(1));
        // Every fifteenth case arrived in the last ten days: an office always has a
        // current backlog, whatever the seed.
        let received = if (i / types.len()) % 15 == 14 {
            now - (rng.random_range(60..10 * 24 * 60) as i64).minutes()
        } else {
            year_ago + (rng.random_range(0..365 * 24 * 60) as i64).minutes()
        };
        let who = &colleagues[i % colleagues.len()];
        let mut at = received;
        let mut state = "eingegangen".to_owned();
        let mut history = Vec::new();
        let mut complete_at = None;
        let step = |hours: f64,
                    kind: &str,
                    to: &str,
                    history: &mut Vec<PastEvent>,
                    at: &mut Timestamp,
                    state: &mut String|
         -> bool {
            let next = *at + ((hours * 60.0) as i64).minutes();
            if next >= now {
                return false;
            }
            *at = next;
            history.push(PastEvent {
                at: next.to_string(),
                actor: if kind == "nachreichung_eingegangen" {
                    "portal".into()
                } else {
                    who.clone()
                },
                kind: kind.into(),
                from_state: Some(state.clone()),
                to_state: Some(to.into()),
            });
            *state = to.to_owned();
            true
        };
        let h = |rng: &mut rand::rngs::SmallRng, days: f64| {
            rng.random_range(0.1..=days.max(0.2)) * 24.0
        };
        let mut go = step(
            h(&mut rng, 2.0),
            "pruefung_beginnen",
            "in_pruefung",
            &mut history,
            &mut at,
            &mut state,
        );
        if go && rng.random_bool(0.35) {
            go = step(
                h(&mut rng, 3.0),
                "nachfordern",
                "nachgefordert",
                &mut history,
                &mut at,
                &mut state,
            ) && step(
                h(&mut rng, 21.0),
                "nachreichung_eingegangen",
                "in_pruefung",
                &mut history,
                &mut at,
                &mut state,
            );
        }
        if go && rng.random_bool(0.03) {
            step(
                h(&mut rng, 5.0),
                "zurueckziehen",
                "zurueckgezogen",
                &mut history,
                &mut at,
                &mut state,
            );
            go = false;
        }
        if go {
            go = step(
                h(&mut rng, 3.0),
                "vollstaendig",
                "in_bearbeitung",
                &mut history,
                &mut at,
                &mut state,
            );
            if go {
                complete_at = Some(at.to_zoned(jiff::tz::TimeZone::system()).date().to_string());
            }
        }
        // Now and then a Fiktion period runs out undecided: the permit is deemed
        // granted the day after it ends (§ 42a Abs. 1 VwVfG), the case is closed later.
        let rules = t.deadline_rules();
        let mut deemed = false;
        if go && rules.uhr == domain::deadline::ClockKind::Fiktion && rng.random_bool(0.08) {
            let period_days = f64::from(rules.frist_monate * 31 + rules.frist_tage + 1);
            deemed = step(
                period_days * 24.0,
                "fiktion_feststellen",
                "gilt_als_erteilt",
                &mut history,
                &mut at,
                &mut state,
            );
            go = false;
        }
        if go {
            go = step(
                h(&mut rng, pace * 1.5),
                "entscheiden",
                "entschieden",
                &mut history,
                &mut at,
                &mut state,
            ) && step(
                h(&mut rng, 2.0),
                "versenden",
                "versandt",
                &mut history,
                &mut at,
                &mut state,
            );
        }
        if go || deemed {
            step(
                h(&mut rng, 10.0),
                "abschliessen",
                "abgeschlossen",
                &mut history,
                &mut at,
                &mut state,
            );
        }
        let year = received.to_zoned(jiff::tz::TimeZone::system()).year();
        let online = rng.random_bool(0.75);
        session.import_case_with_history(
            &NewCase {
                file_number: domain::casetype::file_number(
                    &cfg.types.aktenzeichen,
                    &t.kuerzel,
                    year,
                    // Each seed numbers from its own block, so runs add up.
                    90 + (seed % 10) as u32,
                    i as u64 + 1,
                ),
                case_type: t.name.clone(),
                applicant: format!(
                    "{} {}",
                    FIRST[rng.random_range(0..FIRST.len())],
                    LAST[rng.random_range(0..LAST.len())]
                ),
                status: state.clone(),
                received_at: received.to_string(),
            },
            Some(&t.kuerzel),
            Some(who),
            complete_at.as_deref(),
            online.then(|| format!("demo-{seed}-{i}")).as_deref(),
            &history,
        )?;
    }
    Ok(n)
}
