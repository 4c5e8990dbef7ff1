//! What the Rathaus-Server does with a command: the permission of the user's role
//! (as the server knows it, never as the workstation claims it), the case's
//! version, and the lifecycle of `domain`. Pure: the server calls [`decide`] inside
//! its transaction, the simulation calls it on its model.

use domain::lifecycle::{self, Action, Context};
use domain::{CaseState, Permission, Role};

use crate::protocol::{CaseMeta, Command, CommandBody, Event, FeedItem, Refusal, Step};

/// Who sends a command: the user of a valid server session, with the role the
/// server holds for that user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: String,
    pub role: Role,
}

/// What an accepted command changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    pub before: Option<CaseMeta>,
    pub after: CaseMeta,
    /// The content of a new case.
    pub content: Option<crate::Ciphertext>,
    pub event: Option<Event>,
}

/// Placeholder standing in for an encrypted reason when the lifecycle checks that
/// a reason was given (the server cannot read the reason itself).
const ENCRYPTED: &str = "(verschlüsselt)";

/// The event of a letter's e-mail the mail server refused (written by the
/// Rathaus-Server, its reason sealed to the case key).
pub const MAIL_REFUSED: &str = "email_unzustellbar";
/// The event of such a letter sent by post instead ([`CommandBody::Posted`]).
pub const POSTED: &str = "ersatzversand_post";

fn action_of(step: &Step, has_content: bool) -> Action {
    let reason = || {
        if has_content {
            ENCRYPTED.to_string()
        } else {
            String::new()
        }
    };
    match step {
        Step::PruefungBeginnen => Action::PruefungBeginnen,
        Step::Nachfordern { frist } => Action::Nachfordern {
            fehlend: vec![reason()],
            frist: frist.clone(),
        },
        Step::NachreichungEingegangen => Action::NachreichungEingegangen { eingang: None },
        Step::Vollstaendig => Action::VollstaendigFeststellen,
        Step::Entscheiden { ergebnis } => Action::Entscheiden {
            ergebnis: *ergebnis,
            begruendung: reason(),
            anhoerung_vermerk: None,
        },
        Step::Versenden { kanal } => Action::Versenden {
            kanal: kanal.clone(),
        },
        Step::Abschliessen => Action::Abschliessen,
        Step::Zurueckziehen => Action::Zurueckziehen { grund: reason() },
        Step::Weiterleiten { an } => Action::Weiterleiten {
            an: an.clone(),
            grund: reason(),
        },
        Step::FiktionFeststellen => Action::FiktionFeststellen,
    }
}

/// May `actor` see the case (assigned to `assignee`)?
pub fn visible(actor: &Actor, assignee: Option<&str>) -> bool {
    actor.role.may_see_case(&actor.user, assignee)
}

/// What a change-log position means for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sight {
    /// The case became visible: send its content and every event so far.
    Full,
    /// Visible before and after: send the change.
    Update,
    /// Visible before, not after: the workstation drops the case.
    Gone,
    /// Not this user's business.
    Skip,
}

/// What one change-log position holds (stored as its JSON body).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
#[expect(
    clippy::large_enum_variant,
    reason = "one value per feed position, built and dropped at once; boxing buys nothing"
)]
pub enum Change {
    Case {
        meta: CaseMeta,
        /// The change created the case (nobody saw it before).
        created: bool,
        /// The assignee before the change.
        assignee_before: Option<String>,
        event: Option<Event>,
    },
    User {
        user: crate::protocol::UserEntry,
    },
}

impl Change {
    /// For a case change: the assignee before it, `None` when the change created the case.
    pub fn before(&self) -> Option<Option<&str>> {
        match self {
            Change::Case {
                created: false,
                assignee_before,
                ..
            } => Some(assignee_before.as_deref()),
            _ => None,
        }
    }

    /// The change log row of an accepted command.
    pub fn of(effect: &Effect) -> Change {
        Change::Case {
            meta: effect.after.clone(),
            created: effect.before.is_none(),
            assignee_before: effect.before.as_ref().and_then(|b| b.assignee.clone()),
            event: effect.event.clone(),
        }
    }
}

/// The feed item of `change` at `position` for `actor`. `full` gives the case's
/// content and every event so far, for a case that became visible to the actor.
pub fn feed_item(
    actor: &Actor,
    position: i64,
    change: Change,
    full: impl FnOnce(uuid::Uuid) -> (Option<crate::Ciphertext>, Vec<Event>),
) -> FeedItem {
    match change {
        Change::User { user } => FeedItem::User { position, user },
        Change::Case {
            meta,
            created,
            assignee_before,
            event,
        } => {
            let before = (!created).then_some(assignee_before.as_deref());
            match sight(actor, before, meta.assignee.as_deref()) {
                Sight::Full => {
                    let (content, events) = full(meta.id);
                    FeedItem::Case {
                        position,
                        meta,
                        content,
                        events,
                    }
                }
                Sight::Update => FeedItem::Case {
                    position,
                    meta,
                    content: None,
                    events: event.into_iter().collect(),
                },
                Sight::Gone => FeedItem::Gone {
                    position,
                    case_id: meta.id,
                },
                Sight::Skip => FeedItem::Skip { position },
            }
        }
    }
}

/// `before`: the assignee before the change (`None` for a new case).
pub fn sight(actor: &Actor, before: Option<Option<&str>>, after: Option<&str>) -> Sight {
    let was = before.is_some_and(|a| visible(actor, a));
    let is = visible(actor, after);
    match (was, is) {
        (false, true) => Sight::Full,
        (true, true) => Sight::Update,
        (true, false) => Sight::Gone,
        (false, false) => Sight::Skip,
    }
}

fn refuse_unknown(cmd: &Command) -> Refusal {
    Refusal::invalid(format!(
        "Der Vorgang {} ist dem Rathaus-Server nicht bekannt ({}).",
        cmd.body.case_id(),
        cmd.body.label()
    ))
}

fn future_version(case: &CaseMeta, based_on: i64) -> Option<Refusal> {
    (based_on > case.version || based_on < 0).then(|| {
        Refusal::invalid(format!(
            "Der Arbeitsplatz beruft sich auf Version {based_on} des Vorgangs {}, der Server kennt nur Version {}.",
            case.file_number, case.version
        ))
    })
}

fn event(cmd: &Command, actor: &Actor, now: &str, kind: &str) -> Event {
    Event {
        id: cmd.key,
        case_id: cmd.body.case_id(),
        kind: kind.to_string(),
        actor: actor.user.clone(),
        at: now.to_string(),
        from_state: None,
        to_state: None,
        content: None,
    }
}

/// Decide a command against the case as the server holds it (`current`, `None` if
/// the server has no such case). `role_of` answers the role of a user name
/// (for assignments). `now` is the server's clock (RFC 3339).
pub fn decide(
    actor: &Actor,
    current: Option<&CaseMeta>,
    cmd: &Command,
    now: &str,
    role_of: &dyn Fn(&str) -> Option<Role>,
) -> Result<Effect, Refusal> {
    if let CommandBody::CreateCase {
        case_id,
        file_number,
        case_type,
        received_at,
        content,
    } = &cmd.body
    {
        if !actor.role.may(Permission::ScanIntake) {
            return Err(Refusal::forbidden(format!(
                "Die Rolle „{}“ darf keine Vorgänge aus Papiereingängen anlegen.",
                actor.role.label()
            )));
        }
        if current.is_some() {
            return Err(Refusal::invalid(format!(
                "Der Vorgang {case_id} ist schon angelegt."
            )));
        }
        if file_number.trim().is_empty() || case_type.trim().is_empty() {
            return Err(Refusal::invalid(
                "Ein neuer Vorgang braucht Aktenzeichen und Verfahrensart.".to_string(),
            ));
        }
        let after = CaseMeta {
            id: *case_id,
            file_number: file_number.clone(),
            case_type: case_type.clone(),
            channel: "papier".to_string(),
            state: CaseState::Eingegangen,
            waiting_from: None,
            checklist_complete: false,
            assignee: None,
            received_at: received_at.clone(),
            version: 1,
            state_version: 1,
            extended: false,
        };
        let mut ev = event(cmd, actor, now, "eingang");
        ev.to_state = Some(CaseState::Eingegangen);
        return Ok(Effect {
            before: None,
            after,
            content: Some(content.clone()),
            event: Some(ev),
        });
    }

    let case = current.ok_or_else(|| refuse_unknown(cmd))?;
    if !actor.role.may(Permission::EditCases) || !visible(actor, case.assignee.as_deref()) {
        return Err(Refusal::forbidden(format!(
            "{} darf den Vorgang {} nicht bearbeiten.",
            actor.user, case.file_number
        )));
    }
    let mut after = case.clone();
    after.version = case.version + 1;
    let mut ev = None;
    match &cmd.body {
        CommandBody::CreateCase { .. } => return Err(refuse_unknown(cmd)),
        CommandBody::Transition {
            based_on,
            step,
            content,
            ..
        } => {
            if let Some(r) = future_version(case, *based_on) {
                return Err(r);
            }
            let action = action_of(step, content.is_some());
            if *based_on < case.state_version {
                return Err(Refusal::conflict(format!(
                    "„{}“ wurde nicht übernommen: Der Vorgang {} wurde inzwischen geändert und steht jetzt auf „{}“.",
                    action.label(),
                    case.file_number,
                    case.state.label()
                )));
            }
            let ctx = Context {
                checklist_complete: case.checklist_complete,
                waiting_from: case.waiting_from,
                // The hearing's letter and note travel encrypted: the desk checks it.
                hearing: domain::lifecycle::Hearing::NotChecked,
                // The Fiktion period's start may be an intake day that travels
                // encrypted: the desk computes it.
                fiction: domain::lifecycle::Fiction::NotChecked,
            };
            let next = lifecycle::apply(case.state, &action, ctx)
                .map_err(|e| Refusal::invalid(format!("Vorgang {}: {e}", case.file_number)))?;
            after.state = next;
            after.state_version = after.version;
            after.waiting_from = match next {
                CaseState::Nachgefordert => Some(case.state),
                _ => None,
            };
            let mut e = event(cmd, actor, now, action.kind().as_str());
            e.from_state = Some(case.state);
            e.to_state = Some(next);
            e.content = content.clone();
            ev = Some(e);
        }
        CommandBody::Note { content, .. } => {
            // Notes are append-only: they merge, the metadata stays as it is.
            after = case.clone();
            let mut e = event(cmd, actor, now, "notiz");
            e.content = Some(content.clone());
            ev = Some(e);
        }
        CommandBody::Posted { content, .. } => {
            // Appended like a note: a refused e-mail's letter went by post.
            after = case.clone();
            let mut e = event(cmd, actor, now, POSTED);
            e.content = Some(content.clone());
            ev = Some(e);
        }
        CommandBody::Assign { based_on, to, .. } => {
            if let Some(r) = future_version(case, *based_on) {
                return Err(r);
            }
            if let Some(name) = to {
                match role_of(name) {
                    Some(Role::Sachbearbeitung | Role::Leitung) => {}
                    Some(_) | None => {
                        return Err(Refusal::invalid(format!(
                            "„{name}“ ist keine Sachbearbeitung oder Leitung dieses Rathauses."
                        )));
                    }
                }
            }
            if !actor.role.may(Permission::AllCases) {
                // A caseworker may only take an unassigned case, or give her own back.
                let own = to.as_deref() == Some(actor.user.as_str());
                match (&case.assignee, own) {
                    (None, true) => {}
                    (Some(a), false) if to.is_none() && *a == actor.user => {}
                    (Some(a), _) if *a != actor.user => {
                        return Err(Refusal::conflict(format!(
                            "Der Vorgang {} ist inzwischen {a} zugewiesen.",
                            case.file_number
                        )));
                    }
                    _ => {
                        return Err(Refusal::forbidden(
                            "Vorgänge anderen zuweisen darf nur die Leitung.".to_string(),
                        ));
                    }
                }
            }
            after.assignee = to.clone();
            ev = Some(event(cmd, actor, now, "zuweisung"));
        }
        CommandBody::Checklist {
            based_on, complete, ..
        } => {
            if let Some(r) = future_version(case, *based_on) {
                return Err(r);
            }
            after.checklist_complete = *complete;
        }
        CommandBody::Extend {
            based_on, content, ..
        } => {
            if let Some(r) = future_version(case, *based_on) {
                return Err(r);
            }
            if !case.state.is_open() {
                return Err(Refusal::invalid(format!(
                    "Der Vorgang {} ist entschieden; eine Fristverlängerung ist nicht mehr möglich.",
                    case.file_number
                )));
            }
            if case.extended {
                return Err(Refusal::conflict(format!(
                    "Die Frist des Vorgangs {} wurde bereits verlängert; eine Verlängerung ist nur einmal möglich.",
                    case.file_number
                )));
            }
            after.extended = true;
            let mut e = event(cmd, actor, now, "fristverlaengerung");
            e.content = Some(content.clone());
            ev = Some(e);
        }
        CommandBody::Letter {
            based_on,
            kanal,
            versendet,
            detail,
            ..
        } => {
            if let Some(r) = future_version(case, *based_on) {
                return Err(r);
            }
            if !matches!(kanal.as_str(), "postfach" | "email" | "bundid" | "post") {
                return Err(Refusal::invalid(format!(
                    "Unbekannter Versandweg „{kanal}“ (postfach, email, bundid oder post)."
                )));
            }
            if *versendet {
                // A Bescheid: the step "Versenden" under the same rules as any step.
                let action = Action::Versenden {
                    kanal: kanal.clone(),
                };
                if *based_on < case.state_version {
                    return Err(Refusal::conflict(format!(
                        "Der Bescheid wurde nicht versandt: Der Vorgang {} wurde inzwischen geändert und steht jetzt auf „{}“.",
                        case.file_number,
                        case.state.label()
                    )));
                }
                let next = lifecycle::apply(case.state, &action, Context::default())
                    .map_err(|e| Refusal::invalid(format!("Vorgang {}: {e}", case.file_number)))?;
                after.state = next;
                after.state_version = after.version;
                after.waiting_from = None;
                let mut e = event(cmd, actor, now, action.kind().as_str());
                e.from_state = Some(case.state);
                e.to_state = Some(next);
                e.content = Some(detail.clone());
                ev = Some(e);
            } else {
                // Other letters go out beside the lifecycle: appended like a note.
                after = case.clone();
                let mut e = event(cmd, actor, now, "brief");
                e.content = Some(detail.clone());
                ev = Some(e);
            }
        }
    }
    Ok(Effect {
        before: Some(case.clone()),
        after,
        content: None,
        event: ev,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Ciphertext, RefusalKind};
    use domain::Decision;
    use uuid::Uuid;

    fn age() -> Ciphertext {
        Ciphertext::new(b"age-encryption.org/v1\n-> X25519 x\n".to_vec()).unwrap()
    }

    fn actor(user: &str, role: Role) -> Actor {
        Actor {
            user: user.into(),
            role,
        }
    }

    fn roles(name: &str) -> Option<Role> {
        match name {
            "anna" | "ben" => Some(Role::Sachbearbeitung),
            "lea" => Some(Role::Leitung),
            "sam" => Some(Role::Scanstelle),
            _ => None,
        }
    }

    fn case(state: CaseState, version: i64) -> CaseMeta {
        CaseMeta {
            extended: false,
            id: Uuid::nil(),
            file_number: "HU-2026-0001".into(),
            case_type: "HU".into(),
            channel: "papier".into(),
            state,
            waiting_from: None,
            checklist_complete: true,
            assignee: None,
            received_at: "2026-12-01T09:00:00Z".into(),
            version,
            state_version: version,
        }
    }

    fn cmd(body: CommandBody) -> Command {
        Command {
            key: Uuid::new_v4(),
            body,
        }
    }

    fn decide_as(a: &Actor, c: &CaseMeta, body: CommandBody) -> Result<Effect, Refusal> {
        decide(a, Some(c), &cmd(body), "2026-12-03T10:00:00Z", &roles)
    }

    fn letter(c: &CaseMeta, based_on: i64, versendet: bool, kanal: &str) -> CommandBody {
        CommandBody::Letter {
            case_id: c.id,
            based_on,
            letter: if versendet {
                "bescheid"
            } else {
                "eingangsbestaetigung"
            }
            .into(),
            kanal: kanal.into(),
            versendet,
            kassenzeichen: None,
            detail: age(),
            document: age(),
            delivery: None,
        }
    }

    #[test]
    fn a_bescheid_moves_the_case_to_versandt_other_letters_only_append() {
        let anna = actor("anna", Role::Sachbearbeitung);
        let c = case(CaseState::Entschieden, 6);
        let sent = decide_as(&anna, &c, letter(&c, 6, true, "postfach")).unwrap();
        assert_eq!(sent.after.state, CaseState::Versandt);
        assert_eq!(sent.after.state_version, 7);
        let ev = sent.event.unwrap();
        assert_eq!(ev.kind, "versenden");
        assert!(ev.content.is_some(), "the history entry travels sealed");
        // A Bescheid built on an older state is a conflict, never a second dispatch.
        let again = decide_as(&anna, &sent.after, letter(&c, 6, true, "post")).unwrap_err();
        assert_eq!(again.kind, RefusalKind::Conflict);
        assert!(again.reason.contains("Versandt"), "{}", again.reason);
        // Not before the decision.
        let early = case(CaseState::InBearbeitung, 3);
        let refused = decide_as(&anna, &early, letter(&early, 3, true, "post")).unwrap_err();
        assert_eq!(refused.kind, RefusalKind::Invalid);
        // A receipt letter changes nothing but the history.
        let receipt = decide_as(&anna, &early, letter(&early, 3, false, "post")).unwrap();
        assert_eq!(receipt.after, early);
        assert_eq!(receipt.event.unwrap().kind, "brief");
        let odd = decide_as(&anna, &early, letter(&early, 3, false, "fax")).unwrap_err();
        assert!(odd.reason.contains("fax"), "{}", odd.reason);
        // By e-mail (the server's relay) or to the BundID mailbox like any other way.
        for kanal in ["email", "bundid"] {
            let sent = decide_as(&anna, &c, letter(&c, 6, true, kanal)).unwrap();
            assert_eq!(sent.after.state, CaseState::Versandt);
        }
        // The scanning desk sends no letters.
        let sam = actor("sam", Role::Scanstelle);
        let refused = decide_as(&sam, &early, letter(&early, 3, false, "post")).unwrap_err();
        assert_eq!(refused.kind, RefusalKind::Forbidden);
    }

    /// § 42a Abs. 2 S. 3 VwVfG in office mode: the server applies the extension once,
    /// for an open case, with the reasons sealed; the scanning desk may not.
    #[test]
    fn the_period_is_extended_once_for_an_open_case() {
        let anna = actor("anna", Role::Sachbearbeitung);
        let c = case(CaseState::InBearbeitung, 4);
        let extend = |c: &CaseMeta, based_on| CommandBody::Extend {
            case_id: c.id,
            based_on,
            content: age(),
        };
        let done = decide_as(&anna, &c, extend(&c, 4)).unwrap();
        assert!(done.after.extended);
        assert_eq!(done.after.state, CaseState::InBearbeitung);
        let ev = done.event.unwrap();
        assert_eq!(ev.kind, "fristverlaengerung");
        assert!(ev.content.is_some(), "the reasons travel sealed");
        let twice = decide_as(&anna, &done.after, extend(&done.after, 5)).unwrap_err();
        assert_eq!(twice.kind, RefusalKind::Conflict);
        assert!(twice.reason.contains("nur einmal"), "{}", twice.reason);
        let decided = case(CaseState::Entschieden, 6);
        let late = decide_as(&anna, &decided, extend(&decided, 6)).unwrap_err();
        assert_eq!(late.kind, RefusalKind::Invalid);
        let sam = actor("sam", Role::Scanstelle);
        let refused = decide_as(&sam, &c, extend(&c, 4)).unwrap_err();
        assert_eq!(refused.kind, RefusalKind::Forbidden);
    }

    /// § 42a Abs. 1, 3 VwVfG in office mode: the desk computed that the period ran out;
    /// the server records the deemed permit once, then the Fiktionsbescheinigung
    /// (a dispatching letter) moves it to "Versandt". A decided case has no fiction.
    #[test]
    fn a_deemed_permit_is_recorded_once_and_its_certificate_dispatches() {
        let anna = actor("anna", Role::Sachbearbeitung);
        let c = case(CaseState::InBearbeitung, 4);
        let fiction = |c: &CaseMeta, based_on| CommandBody::Transition {
            case_id: c.id,
            based_on,
            step: Step::FiktionFeststellen,
            content: None,
        };
        let done = decide_as(&anna, &c, fiction(&c, 4)).unwrap();
        assert_eq!(done.after.state, CaseState::GiltAlsErteilt);
        assert_eq!(done.event.as_ref().unwrap().kind, "fiktion_feststellen");
        let twice = decide_as(&anna, &done.after, fiction(&done.after, 4)).unwrap_err();
        assert_eq!(twice.kind, RefusalKind::Conflict);
        let mut certificate = letter(&done.after, 5, true, "post");
        if let CommandBody::Letter { letter, .. } = &mut certificate {
            *letter = "fiktionsbescheinigung".into();
        }
        let sent = decide_as(&anna, &done.after, certificate).unwrap();
        assert_eq!(sent.after.state, CaseState::Versandt);
        let decided = case(CaseState::Entschieden, 6);
        let late = decide_as(&anna, &decided, fiction(&decided, 6)).unwrap_err();
        assert_eq!(late.kind, RefusalKind::Invalid);
    }

    #[test]
    fn two_offline_decisions_one_applies_the_other_is_a_conflict() {
        let c = case(CaseState::InBearbeitung, 4);
        let decide_step = |who: &str| {
            decide_as(
                &actor(who, Role::Sachbearbeitung),
                &c,
                CommandBody::Transition {
                    case_id: c.id,
                    based_on: 4,
                    step: Step::Entscheiden {
                        ergebnis: Decision::Bewilligt,
                    },
                    content: None,
                },
            )
        };
        let first = decide_step("anna").unwrap();
        assert_eq!(first.after.state, CaseState::Entschieden);
        assert_eq!(first.after.state_version, 5);
        let second = decide(
            &actor("ben", Role::Sachbearbeitung),
            Some(&first.after),
            &cmd(CommandBody::Transition {
                case_id: c.id,
                based_on: 4,
                step: Step::Entscheiden {
                    ergebnis: Decision::Bewilligt,
                },
                content: None,
            }),
            "2026-12-03T10:00:00Z",
            &roles,
        )
        .unwrap_err();
        assert_eq!(second.kind, RefusalKind::Conflict);
        assert!(second.reason.contains("Entschieden"), "{}", second.reason);
        // The other clerk's note still merges.
        let note = decide(
            &actor("ben", Role::Sachbearbeitung),
            Some(&first.after),
            &cmd(CommandBody::Note {
                case_id: c.id,
                content: age(),
            }),
            "2026-12-03T10:00:00Z",
            &roles,
        )
        .unwrap();
        assert_eq!(note.after, first.after);
        assert!(note.event.is_some());
    }

    #[test]
    fn a_refusal_without_encrypted_reason_follows_the_lifecycle() {
        let c = case(CaseState::InBearbeitung, 2);
        let r = decide_as(
            &actor("lea", Role::Leitung),
            &c,
            CommandBody::Transition {
                case_id: c.id,
                based_on: 2,
                step: Step::Entscheiden {
                    ergebnis: Decision::Abgelehnt,
                },
                content: None,
            },
        )
        .unwrap_err();
        assert!(r.reason.contains("Begründung"), "{}", r.reason);
        let ok = decide_as(
            &actor("lea", Role::Leitung),
            &c,
            CommandBody::Transition {
                case_id: c.id,
                based_on: 2,
                step: Step::Entscheiden {
                    ergebnis: Decision::Abgelehnt,
                },
                content: Some(age()),
            },
        )
        .unwrap();
        assert_eq!(ok.event.unwrap().content, Some(age()));
    }

    #[test]
    fn a_claimed_future_version_is_refused() {
        let c = case(CaseState::Eingegangen, 1);
        let r = decide_as(
            &actor("anna", Role::Sachbearbeitung),
            &c,
            CommandBody::Transition {
                case_id: c.id,
                based_on: 9,
                step: Step::PruefungBeginnen,
                content: None,
            },
        )
        .unwrap_err();
        assert_eq!(r.kind, RefusalKind::Invalid);
    }

    #[test]
    fn roles_the_server_holds_decide_not_the_claim() {
        let mut c = case(CaseState::Eingegangen, 1);
        c.assignee = Some("ben".into());
        for a in [
            actor("anna", Role::Sachbearbeitung),
            actor("sam", Role::Scanstelle),
            actor("root", Role::Admin),
        ] {
            let r = decide_as(
                &a,
                &c,
                CommandBody::Note {
                    case_id: c.id,
                    content: age(),
                },
            )
            .unwrap_err();
            assert_eq!(r.kind, RefusalKind::Forbidden, "{a:?}");
        }
        // Taking a case someone took meanwhile is a conflict; giving it to others
        // is the Leitung's.
        let r = decide_as(
            &actor("anna", Role::Sachbearbeitung),
            &case(CaseState::Eingegangen, 1),
            CommandBody::Assign {
                case_id: c.id,
                based_on: 1,
                to: Some("ben".into()),
            },
        )
        .unwrap_err();
        assert_eq!(r.kind, RefusalKind::Forbidden);
        let r = decide_as(
            &actor("lea", Role::Leitung),
            &c,
            CommandBody::Assign {
                case_id: c.id,
                based_on: 1,
                to: Some("sam".into()),
            },
        )
        .unwrap_err();
        assert!(r.reason.contains("keine Sachbearbeitung"));
        let create = decide(
            &actor("anna", Role::Sachbearbeitung),
            None,
            &cmd(CommandBody::CreateCase {
                case_id: Uuid::new_v4(),
                file_number: "X".into(),
                case_type: "HU".into(),
                received_at: "2026-12-01T00:00:00Z".into(),
                content: age(),
            }),
            "2026-12-03T10:00:00Z",
            &roles,
        )
        .unwrap_err();
        assert_eq!(create.kind, RefusalKind::Forbidden);
    }

    #[test]
    fn sight_follows_the_assignment() {
        let anna = actor("anna", Role::Sachbearbeitung);
        assert_eq!(sight(&anna, None, None), Sight::Full);
        assert_eq!(sight(&anna, Some(None), Some("anna")), Sight::Update);
        assert_eq!(sight(&anna, Some(Some("anna")), Some("ben")), Sight::Gone);
        assert_eq!(sight(&anna, Some(Some("ben")), Some("anna")), Sight::Full);
        assert_eq!(sight(&anna, Some(Some("ben")), Some("ben")), Sight::Skip);
        let admin = actor("root", Role::Admin);
        assert_eq!(sight(&admin, None, None), Sight::Skip);
        let lea = actor("lea", Role::Leitung);
        assert_eq!(sight(&lea, Some(Some("ben")), Some("anna")), Sight::Update);
    }
}
