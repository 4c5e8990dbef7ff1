//! The case lifecycle as a pure state machine.
//!
//! ```text
//! eingegangen ──► in Prüfung ──► in Bearbeitung ──► entschieden ──► versandt ──► abgeschlossen
//!                   │   ▲             │   ▲
//!                   ▼   │             ▼   │
//!                 nachgefordert ◄─────┘   │      (the citizen's answer returns the case
//!                                         │       to where it was waiting from)
//! zurückgezogen: from every open state (reason)      weitergeleitet: before the decision (reason)
//! Genehmigung gilt als erteilt: from every open state once a Fiktion period has run
//!   out (§ 42a Abs. 1 VwVfG); then the Fiktionsbescheinigung (§ 42a Abs. 3) goes out
//!   on request (versandt) or the case is closed.
//! ```
//!
//! Every transition is checked here; the facade records the audit entry and the
//! history. Transitions that law or practice ties to a reason demand one
//! (Nachforderung: the missing documents; Ablehnung and teilweise Bewilligung: the
//! Begründung, §39 VwVfG; Rücknahme and Weiterleitung: why).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Where a case stands. Serialised as stored (`cases.status`): one spelling in the
/// database, the IPC and the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum CaseState {
    Eingegangen,
    /// Vollständigkeitsprüfung.
    InPruefung,
    /// Waiting for the citizen (missing documents); suspends the statutory period.
    Nachgefordert,
    InBearbeitung,
    Entschieden,
    Versandt,
    Abgeschlossen,
    Zurueckgezogen,
    Weitergeleitet,
    /// The Fiktion period ran out: the permit is deemed granted (§ 42a Abs. 1 VwVfG).
    GiltAlsErteilt,
}

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum Decision {
    Bewilligt,
    Abgelehnt,
    TeilweiseBewilligt,
}

impl CaseState {
    pub const ALL: [CaseState; 10] = [
        CaseState::Eingegangen,
        CaseState::InPruefung,
        CaseState::Nachgefordert,
        CaseState::InBearbeitung,
        CaseState::Entschieden,
        CaseState::Versandt,
        CaseState::Abgeschlossen,
        CaseState::Zurueckgezogen,
        CaseState::Weitergeleitet,
        CaseState::GiltAlsErteilt,
    ];

    /// Identifier as stored (`cases.status`).
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Eingegangen => "eingegangen",
            CaseState::InPruefung => "in_pruefung",
            CaseState::Nachgefordert => "nachgefordert",
            CaseState::InBearbeitung => "in_bearbeitung",
            CaseState::Entschieden => "entschieden",
            CaseState::Versandt => "versandt",
            CaseState::Abgeschlossen => "abgeschlossen",
            CaseState::Zurueckgezogen => "zurueckgezogen",
            CaseState::Weitergeleitet => "weitergeleitet",
            CaseState::GiltAlsErteilt => "gilt_als_erteilt",
        }
    }

    pub fn parse(s: &str) -> Option<CaseState> {
        CaseState::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// German label for the UI.
    pub fn label(self) -> &'static str {
        match self {
            CaseState::Eingegangen => "Eingegangen",
            CaseState::InPruefung => "In Prüfung",
            CaseState::Nachgefordert => "Nachgefordert",
            CaseState::InBearbeitung => "In Bearbeitung",
            CaseState::Entschieden => "Entschieden",
            CaseState::Versandt => "Versandt",
            CaseState::Abgeschlossen => "Abgeschlossen",
            CaseState::Zurueckgezogen => "Zurückgezogen",
            CaseState::Weitergeleitet => "Weitergeleitet",
            CaseState::GiltAlsErteilt => "Genehmigung gilt als erteilt",
        }
    }

    /// No further transitions.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CaseState::Abgeschlossen | CaseState::Zurueckgezogen | CaseState::Weitergeleitet
        )
    }

    /// Still to be decided (counts for deadlines and backlog).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            CaseState::Eingegangen
                | CaseState::InPruefung
                | CaseState::Nachgefordert
                | CaseState::InBearbeitung
        )
    }
}

/// What a clerk does to a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", tag = "action")]
#[ts(export)]
pub enum Action {
    /// Start the Vollständigkeitsprüfung.
    PruefungBeginnen,
    /// Ask the citizen for missing documents (list them) by a date (RFC 3339 date).
    Nachfordern {
        fehlend: Vec<String>,
        frist: String,
    },
    /// The citizen answered (or the request is withdrawn): back to where it was.
    /// `eingang`: the day the documents came in (YYYY-MM-DD; paper: the intake date) –
    /// it starts a period that runs from the complete documents (§ 42a Abs. 2 VwVfG);
    /// none: today.
    NachreichungEingegangen {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        eingang: Option<String>,
    },
    /// Complete: the statutory period starts (§42a Abs. 2 VwVfG).
    VollstaendigFeststellen,
    Entscheiden {
        ergebnis: Decision,
        begruendung: String,
        /// Before an adverse decision (§ 28 VwVfG): why a hearing is dispensable, or
        /// that the applicant has already commented while the period still runs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        anhoerung_vermerk: Option<String>,
    },
    /// The decision went out (channel: "postfach" or "post").
    Versenden {
        kanal: String,
    },
    Abschliessen,
    Zurueckziehen {
        grund: String,
    },
    Weiterleiten {
        an: String,
        grund: String,
    },
    /// The Fiktion period ran out undecided: record that the permit is deemed
    /// granted (§ 42a Abs. 1 VwVfG).
    FiktionFeststellen,
}

/// The kind of an [`Action`] without its reasons: the button in the case view, the
/// `kind` of a history entry (stored as [`ActionKind::as_str`]), the audit's verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ActionKind {
    PruefungBeginnen,
    Nachfordern,
    NachreichungEingegangen,
    #[serde(rename = "vollstaendig")]
    Vollstaendig,
    Entscheiden,
    Versenden,
    Abschliessen,
    Zurueckziehen,
    Weiterleiten,
    FiktionFeststellen,
}

impl ActionKind {
    pub const ALL: [ActionKind; 10] = [
        ActionKind::PruefungBeginnen,
        ActionKind::Nachfordern,
        ActionKind::NachreichungEingegangen,
        ActionKind::Vollstaendig,
        ActionKind::Entscheiden,
        ActionKind::Versenden,
        ActionKind::Abschliessen,
        ActionKind::Zurueckziehen,
        ActionKind::Weiterleiten,
        ActionKind::FiktionFeststellen,
    ];

    /// Identifier as stored (`case_history.kind`) and sent to the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::PruefungBeginnen => "pruefung_beginnen",
            ActionKind::Nachfordern => "nachfordern",
            ActionKind::NachreichungEingegangen => "nachreichung_eingegangen",
            ActionKind::Vollstaendig => "vollstaendig",
            ActionKind::Entscheiden => "entscheiden",
            ActionKind::Versenden => "versenden",
            ActionKind::Abschliessen => "abschliessen",
            ActionKind::Zurueckziehen => "zurueckziehen",
            ActionKind::Weiterleiten => "weiterleiten",
            ActionKind::FiktionFeststellen => "fiktion_feststellen",
        }
    }

    pub fn parse(s: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// German label of the button.
    pub fn label(self) -> &'static str {
        match self {
            ActionKind::PruefungBeginnen => "Prüfung beginnen",
            ActionKind::Nachfordern => "Unterlagen nachfordern",
            ActionKind::NachreichungEingegangen => "Nachreichung eingegangen",
            ActionKind::Vollstaendig => "Vollständigkeit feststellen",
            ActionKind::Entscheiden => "Entscheiden",
            ActionKind::Versenden => "Versand vermerken",
            ActionKind::Abschliessen => "Abschließen",
            ActionKind::Zurueckziehen => "Rücknahme vermerken",
            ActionKind::Weiterleiten => "Weiterleiten",
            ActionKind::FiktionFeststellen => "Genehmigungsfiktion feststellen",
        }
    }
}

impl Action {
    pub fn label(&self) -> &'static str {
        self.kind().label()
    }

    /// The kind of the action (history, audit, buttons).
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::PruefungBeginnen => ActionKind::PruefungBeginnen,
            Action::Nachfordern { .. } => ActionKind::Nachfordern,
            Action::NachreichungEingegangen { .. } => ActionKind::NachreichungEingegangen,
            Action::VollstaendigFeststellen => ActionKind::Vollstaendig,
            Action::Entscheiden { .. } => ActionKind::Entscheiden,
            Action::Versenden { .. } => ActionKind::Versenden,
            Action::Abschliessen => ActionKind::Abschliessen,
            Action::Zurueckziehen { .. } => ActionKind::Zurueckziehen,
            Action::Weiterleiten { .. } => ActionKind::Weiterleiten,
            Action::FiktionFeststellen => ActionKind::FiktionFeststellen,
        }
    }
}

/// The hearing before an adverse decision (§ 28 VwVfG), as of today.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Hearing {
    /// No hearing letter went out.
    #[default]
    None,
    /// The period to comment runs until this day (inclusive).
    Running(jiff::civil::Date),
    /// A hearing took place and its period is over.
    Done,
    /// Not checked here: the Rathaus-Server cannot read the hearing's content (it
    /// travels encrypted); the desk that sends the step checks it.
    NotChecked,
}

/// Whether a Genehmigungsfiktion has set in (§ 42a Abs. 1 VwVfG), as of today.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fiction {
    /// No Fiktion period, or it has not started or not run out.
    #[default]
    None,
    /// The Fiktion period ran out undecided.
    Expired,
    /// Not checked here: the Rathaus-Server does not compute the period (its start
    /// may be an intake day that travels encrypted); the desk that sends the step
    /// checks it.
    NotChecked,
}

/// What the state machine needs to know about the case besides its state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Context {
    /// Every checklist item is ticked.
    pub checklist_complete: bool,
    /// The state a Nachforderung was made from (to return to).
    pub waiting_from: Option<CaseState>,
    pub hearing: Hearing,
    pub fiction: Fiction,
}

/// Why a transition is refused (German, for the UI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("„{action}“ ist im Zustand „{state}“ nicht möglich.")]
    NotAllowed {
        action: &'static str,
        state: &'static str,
    },
    #[error("Für „{0}“ ist eine Begründung nötig.")]
    ReasonMissing(&'static str),
    #[error(
        "Die Vollständigkeit kann erst festgestellt werden, wenn alle Punkte der Checkliste abgehakt sind."
    )]
    ChecklistIncomplete,
    #[error("Bitte nennen Sie die fehlenden Unterlagen und eine Frist (TT.MM.JJJJ).")]
    MissingDocumentsUnnamed,
    #[error("Das Eingangsdatum der Unterlagen ist kein gültiges Datum (TT.MM.JJJJ).")]
    BadDate,
    #[error(
        "Vor einer Ablehnung ist die antragstellende Person anzuhören (§ 28 Abs. 1 VwVfG): bitte zuerst die Anhörung senden – oder im Vermerk begründen, warum sie entbehrlich ist (§ 28 Abs. 2 VwVfG)."
    )]
    HearingMissing,
    #[error(
        "Die Äußerungsfrist der Anhörung läuft bis {0}; vor ihrem Ende nur mit Vermerk, dass die Stellungnahme schon vorliegt."
    )]
    HearingRunning(String),
    #[error(
        "Die Genehmigung gilt erst als erteilt, wenn die Frist nach § 42a VwVfG abgelaufen ist, ohne dass entschieden wurde; für diesen Vorgang ist das nicht der Fall."
    )]
    FictionNotExpired,
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// The state after `action`, or why it is not allowed.
pub fn apply(
    state: CaseState,
    action: &Action,
    ctx: Context,
) -> Result<CaseState, TransitionError> {
    use CaseState::*;
    let refuse = || TransitionError::NotAllowed {
        action: action.label(),
        state: state.label(),
    };
    let next = match (state, action) {
        (Eingegangen, Action::PruefungBeginnen) => InPruefung,
        (InPruefung | InBearbeitung, Action::Nachfordern { fehlend, frist }) => {
            if fehlend.iter().all(|f| blank(f)) || blank(frist) {
                return Err(TransitionError::MissingDocumentsUnnamed);
            }
            Nachgefordert
        }
        (Nachgefordert, Action::NachreichungEingegangen { eingang }) => match ctx.waiting_from {
            _ if eingang
                .as_deref()
                .is_some_and(|d| d.trim().parse::<jiff::civil::Date>().is_err()) =>
            {
                return Err(TransitionError::BadDate);
            }
            Some(InBearbeitung) => InBearbeitung,
            _ => InPruefung,
        },
        (InPruefung, Action::VollstaendigFeststellen) => {
            if !ctx.checklist_complete {
                return Err(TransitionError::ChecklistIncomplete);
            }
            InBearbeitung
        }
        (
            InBearbeitung,
            Action::Entscheiden {
                ergebnis,
                begruendung,
                anhoerung_vermerk,
            },
        ) => {
            if *ergebnis != Decision::Bewilligt {
                if blank(begruendung) {
                    return Err(TransitionError::ReasonMissing(
                        "Ablehnung oder Teilbewilligung",
                    ));
                }
                let noted = anhoerung_vermerk.as_deref().is_some_and(|v| !blank(v));
                match ctx.hearing {
                    Hearing::None if !noted => return Err(TransitionError::HearingMissing),
                    Hearing::Running(until) if !noted => {
                        return Err(TransitionError::HearingRunning(
                            until.strftime("%d.%m.%Y").to_string(),
                        ));
                    }
                    _ => {}
                }
            }
            Entschieden
        }
        // The Bescheid, or the Fiktionsbescheinigung (§ 42a Abs. 3 VwVfG), went out.
        (Entschieden | GiltAlsErteilt, Action::Versenden { kanal }) => {
            if blank(kanal) {
                return Err(TransitionError::ReasonMissing("Versand (Kanal)"));
            }
            Versandt
        }
        (Versandt, Action::Abschliessen) => Abgeschlossen,
        // Once deemed granted, the permit exists: nothing left to withdraw.
        (s, Action::Zurueckziehen { grund })
            if !s.is_final() && s != Versandt && s != GiltAlsErteilt =>
        {
            if blank(grund) {
                return Err(TransitionError::ReasonMissing("Rücknahme"));
            }
            Zurueckgezogen
        }
        (
            Eingegangen | InPruefung | Nachgefordert | InBearbeitung,
            Action::Weiterleiten { an, grund },
        ) => {
            if blank(an) || blank(grund) {
                return Err(TransitionError::ReasonMissing(
                    "Weiterleitung (an wen und warum)",
                ));
            }
            Weitergeleitet
        }
        (Eingegangen | InPruefung | Nachgefordert | InBearbeitung, Action::FiktionFeststellen) => {
            match ctx.fiction {
                Fiction::Expired | Fiction::NotChecked => GiltAlsErteilt,
                Fiction::None => return Err(TransitionError::FictionNotExpired),
            }
        }
        // No Fiktionsbescheinigung asked for (§ 42a Abs. 3 VwVfG: only on request).
        (GiltAlsErteilt, Action::Abschliessen) => Abgeschlossen,
        _ => return Err(refuse()),
    };
    Ok(next)
}

/// Sample actions of every kind (with valid reasons), for menus and tests.
pub fn sample_actions() -> Vec<Action> {
    vec![
        Action::PruefungBeginnen,
        Action::Nachfordern {
            fehlend: vec!["Nachweis".into()],
            frist: "2026-12-31".into(),
        },
        Action::NachreichungEingegangen { eingang: None },
        Action::VollstaendigFeststellen,
        Action::Entscheiden {
            ergebnis: Decision::Bewilligt,
            begruendung: String::new(),
            anhoerung_vermerk: None,
        },
        Action::Versenden {
            kanal: "postfach".into(),
        },
        Action::Abschliessen,
        Action::Zurueckziehen {
            grund: "Antrag zurückgenommen".into(),
        },
        Action::Weiterleiten {
            an: "Landkreis".into(),
            grund: "nicht zuständig".into(),
        },
        Action::FiktionFeststellen,
    ]
}

/// The actions allowed now (one button each in the case view).
pub fn allowed_actions(state: CaseState, ctx: Context) -> Vec<ActionKind> {
    let full = Context {
        checklist_complete: true,
        ..ctx
    };
    sample_actions()
        .into_iter()
        .filter(|a| apply(state, a, full).is_ok())
        .map(|a| a.kind())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use CaseState::*;

    fn ctx() -> Context {
        Context {
            checklist_complete: true,
            waiting_from: None,
            hearing: Hearing::Done,
            fiction: Fiction::None,
        }
    }

    /// § 42a Abs. 1 VwVfG: a permit with a Genehmigungsfiktion is deemed granted
    /// when its period runs out undecided – from any open state, only then; after
    /// it nothing is withdrawn, the Fiktionsbescheinigung (Abs. 3) may go out.
    #[test]
    fn vwvfg_42a_the_permit_is_deemed_granted_when_the_period_ran_out() {
        let expired = Context {
            fiction: Fiction::Expired,
            ..ctx()
        };
        for s in [Eingegangen, InPruefung, Nachgefordert, InBearbeitung] {
            assert_eq!(
                apply(s, &Action::FiktionFeststellen, ctx()),
                Err(TransitionError::FictionNotExpired),
                "{s:?}"
            );
            assert_eq!(
                apply(s, &Action::FiktionFeststellen, expired),
                Ok(GiltAlsErteilt),
                "{s:?}"
            );
            // The Rathaus-Server leaves the check to the desk.
            assert_eq!(
                apply(
                    s,
                    &Action::FiktionFeststellen,
                    Context {
                        fiction: Fiction::NotChecked,
                        ..ctx()
                    }
                ),
                Ok(GiltAlsErteilt)
            );
            assert!(allowed_actions(s, expired).contains(&ActionKind::FiktionFeststellen));
            assert!(!allowed_actions(s, ctx()).contains(&ActionKind::FiktionFeststellen));
        }
        for s in [
            Entschieden,
            Versandt,
            Abgeschlossen,
            Zurueckgezogen,
            Weitergeleitet,
        ] {
            assert!(
                apply(s, &Action::FiktionFeststellen, expired).is_err(),
                "{s:?}"
            );
        }
        assert_eq!(
            allowed_actions(GiltAlsErteilt, expired),
            vec![ActionKind::Versenden, ActionKind::Abschliessen]
        );
        assert!(
            apply(
                GiltAlsErteilt,
                &Action::Zurueckziehen {
                    grund: "zurückgenommen".into()
                },
                expired
            )
            .is_err()
        );
        assert!(!GiltAlsErteilt.is_open() && !GiltAlsErteilt.is_final());
    }

    #[test]
    fn states_serialise_as_stored() {
        for s in CaseState::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
    }

    #[test]
    fn action_kinds_serialise_as_stored() {
        for k in ActionKind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(ActionKind::parse(k.as_str()), Some(k));
        }
        for a in sample_actions() {
            assert_eq!(a.label(), a.kind().label());
        }
    }

    #[test]
    fn the_happy_path() {
        let mut s = Eingegangen;
        for a in [
            Action::PruefungBeginnen,
            Action::VollstaendigFeststellen,
            Action::Entscheiden {
                ergebnis: Decision::Bewilligt,
                begruendung: String::new(),
                anhoerung_vermerk: None,
            },
            Action::Versenden {
                kanal: "postfach".into(),
            },
            Action::Abschliessen,
        ] {
            s = apply(s, &a, ctx()).unwrap();
        }
        assert_eq!(s, Abgeschlossen);
    }

    #[test]
    fn nachforderung_returns_to_where_it_came_from() {
        let a = Action::Nachfordern {
            fehlend: vec!["Meldebescheinigung".into()],
            frist: "2026-12-07".into(),
        };
        assert_eq!(apply(InPruefung, &a, ctx()), Ok(Nachgefordert));
        assert_eq!(apply(InBearbeitung, &a, ctx()), Ok(Nachgefordert));
        let back = |from| {
            apply(
                Nachgefordert,
                &Action::NachreichungEingegangen { eingang: None },
                Context {
                    waiting_from: from,
                    ..ctx()
                },
            )
        };
        assert_eq!(back(Some(InBearbeitung)), Ok(InBearbeitung));
        assert_eq!(back(Some(InPruefung)), Ok(InPruefung));
        assert_eq!(back(None), Ok(InPruefung));
    }

    /// § 28 VwVfG: no adverse decision without a hearing, unless the clerk notes why it
    /// is dispensable (Abs. 2) – and not while its period runs, unless the comment is in.
    #[test]
    fn vwvfg_28_hearing_before_an_adverse_decision() {
        let refuse = |vermerk: Option<&str>| Action::Entscheiden {
            ergebnis: Decision::Abgelehnt,
            begruendung: "Voraussetzungen fehlen".into(),
            anhoerung_vermerk: vermerk.map(str::to_owned),
        };
        let with = |hearing| Context { hearing, ..ctx() };
        assert_eq!(
            apply(InBearbeitung, &refuse(None), with(Hearing::None)),
            Err(TransitionError::HearingMissing)
        );
        assert_eq!(
            apply(InBearbeitung, &refuse(Some("  ")), with(Hearing::None)),
            Err(TransitionError::HearingMissing)
        );
        assert_eq!(
            apply(
                InBearbeitung,
                &refuse(Some(
                    "Entbehrlich: es wird nicht zuungunsten von Angaben des Antrags abgewichen (§ 28 Abs. 2 Nr. 3)"
                )),
                with(Hearing::None)
            ),
            Ok(Entschieden)
        );
        let until = jiff::civil::date(2026, 12, 17);
        assert_eq!(
            apply(InBearbeitung, &refuse(None), with(Hearing::Running(until))),
            Err(TransitionError::HearingRunning("17.12.2026".into()))
        );
        assert_eq!(
            apply(
                InBearbeitung,
                &refuse(Some("Stellungnahme vom 10.12. liegt vor")),
                with(Hearing::Running(until))
            ),
            Ok(Entschieden)
        );
        assert_eq!(
            apply(InBearbeitung, &refuse(None), with(Hearing::Done)),
            Ok(Entschieden)
        );
        assert_eq!(
            apply(InBearbeitung, &refuse(None), with(Hearing::NotChecked)),
            Ok(Entschieden)
        );
        // A grant needs no hearing.
        let grant = Action::Entscheiden {
            ergebnis: Decision::Bewilligt,
            begruendung: String::new(),
            anhoerung_vermerk: None,
        };
        assert_eq!(
            apply(InBearbeitung, &grant, with(Hearing::None)),
            Ok(Entschieden)
        );
    }

    #[test]
    fn the_answer_may_carry_the_intake_date_of_the_documents() {
        let waiting = Context {
            waiting_from: Some(InBearbeitung),
            ..ctx()
        };
        let on = |d: &str| Action::NachreichungEingegangen {
            eingang: Some(d.into()),
        };
        assert_eq!(
            apply(Nachgefordert, &on("2026-12-01"), waiting),
            Ok(InBearbeitung)
        );
        assert_eq!(
            apply(Nachgefordert, &on("1. Dezember"), waiting),
            Err(TransitionError::BadDate)
        );
        // Stored history written before the field existed still reads.
        let old: Action = serde_json::from_str(r#"{"action":"nachreichungEingegangen"}"#).unwrap();
        assert_eq!(old, Action::NachreichungEingegangen { eingang: None });
    }

    #[test]
    fn reasons_are_demanded() {
        let no_reason = Action::Entscheiden {
            ergebnis: Decision::Abgelehnt,
            begruendung: "  ".into(),
            anhoerung_vermerk: Some("Stellungnahme liegt vor".into()),
        };
        assert!(matches!(
            apply(InBearbeitung, &no_reason, ctx()),
            Err(TransitionError::ReasonMissing(_))
        ));
        assert_eq!(
            apply(
                InPruefung,
                &Action::Nachfordern {
                    fehlend: vec![],
                    frist: "2026-12-07".into()
                },
                ctx()
            ),
            Err(TransitionError::MissingDocumentsUnnamed)
        );
        assert!(
            apply(
                InPruefung,
                &Action::Zurueckziehen { grund: "".into() },
                ctx()
            )
            .is_err()
        );
        assert_eq!(
            apply(
                InPruefung,
                &Action::VollstaendigFeststellen,
                Context::default()
            ),
            Err(TransitionError::ChecklistIncomplete)
        );
    }

    #[test]
    fn final_states_allow_nothing() {
        for s in CaseState::ALL.into_iter().filter(|s| s.is_final()) {
            assert!(allowed_actions(s, ctx()).is_empty(), "{s:?}");
        }
    }

    #[test]
    fn the_transition_table_is_exactly_this() {
        // Every (state, action) pair, allowed or not: the whole table, so that a
        // change to the machine must change this test.
        let expected: &[(CaseState, &[&str])] = &[
            (
                Eingegangen,
                &["pruefung_beginnen", "zurueckziehen", "weiterleiten"],
            ),
            (
                InPruefung,
                &[
                    "nachfordern",
                    "vollstaendig",
                    "zurueckziehen",
                    "weiterleiten",
                ],
            ),
            (
                Nachgefordert,
                &["nachreichung_eingegangen", "zurueckziehen", "weiterleiten"],
            ),
            (
                InBearbeitung,
                &[
                    "nachfordern",
                    "entscheiden",
                    "zurueckziehen",
                    "weiterleiten",
                ],
            ),
            (Entschieden, &["versenden", "zurueckziehen"]),
            (Versandt, &["abschliessen"]),
            (Abgeschlossen, &[]),
            (Zurueckgezogen, &[]),
            (Weitergeleitet, &[]),
            (GiltAlsErteilt, &["versenden", "abschliessen"]),
        ];
        for (s, actions) in expected {
            let kinds: Vec<&str> = allowed_actions(*s, ctx())
                .into_iter()
                .map(ActionKind::as_str)
                .collect();
            assert_eq!(kinds, *actions, "{s:?}");
        }
    }

    #[test]
    fn identifiers_round_trip() {
        for s in CaseState::ALL {
            assert_eq!(CaseState::parse(s.as_str()), Some(s));
        }
        assert_eq!(CaseState::parse("erfunden"), None);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn action() -> impl Strategy<Value = Action> {
        let text = prop_oneof![Just(String::new()), Just("Grund".to_owned())];
        prop_oneof![
            Just(Action::PruefungBeginnen),
            (text.clone(), text.clone()).prop_map(|(f, d)| Action::Nachfordern {
                fehlend: vec![f],
                frist: d
            }),
            Just(Action::NachreichungEingegangen { eingang: None }),
            Just(Action::VollstaendigFeststellen),
            (
                prop_oneof![
                    Just(Decision::Bewilligt),
                    Just(Decision::Abgelehnt),
                    Just(Decision::TeilweiseBewilligt)
                ],
                text.clone()
            )
                .prop_map(|(ergebnis, begruendung)| Action::Entscheiden {
                    ergebnis,
                    begruendung,
                    anhoerung_vermerk: None,
                }),
            text.clone().prop_map(|kanal| Action::Versenden { kanal }),
            Just(Action::Abschliessen),
            text.clone()
                .prop_map(|grund| Action::Zurueckziehen { grund }),
            (text.clone(), text).prop_map(|(an, grund)| Action::Weiterleiten { an, grund }),
            Just(Action::FiktionFeststellen),
        ]
    }

    proptest! {
        /// Whatever a clerk clicks, in whatever order: no decision without a
        /// completeness finding with a full checklist, no dispatch without a
        /// decision, nothing after a final state, refusals change nothing.
        #[test]
        fn no_invalid_transition_is_reachable(
            steps in proptest::collection::vec((action(), any::<bool>(), any::<bool>()), 0..40)
        ) {
            let mut state = CaseState::Eingegangen;
            let mut waiting_from = None;
            let mut completed_with_checklist = false;
            let mut decided = false;
            for (a, checklist, expired) in steps {
                let fiction = if expired { Fiction::Expired } else { Fiction::None };
                let ctx = Context { checklist_complete: checklist, waiting_from, hearing: Hearing::Done, fiction };
                // A refusal changes nothing; an allowed step is checked.
                if let Ok(next) = apply(state, &a, ctx) {
                    {
                        prop_assert!(!state.is_final(), "{state:?} left by {a:?}");
                        if next == CaseState::InBearbeitung && state == CaseState::InPruefung {
                            prop_assert!(checklist);
                            completed_with_checklist = true;
                        }
                        if next == CaseState::Entschieden {
                            prop_assert!(completed_with_checklist);
                            decided = true;
                        }
                        if next == CaseState::GiltAlsErteilt {
                            prop_assert!(expired && state.is_open());
                            decided = true;
                        }
                        if next == CaseState::Versandt {
                            prop_assert!(decided);
                        }
                        if next == CaseState::Nachgefordert {
                            waiting_from = Some(state);
                        }
                        state = next;
                    }
                }
            }
        }
    }
}
