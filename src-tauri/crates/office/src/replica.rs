//! A workstation's replica in office mode, without I/O: the server's state of the
//! cases this user may see, the feed cursor, the upload queue of commands not yet
//! answered, and the refused ones (conflicts) until the clerk has dealt with them.
//!
//! The replica holds the server's truth only; what the clerk did offline is laid
//! over it by [`Replica::view`] from the queue, so a refused command simply falls
//! away from the view and reappears as a conflict – nothing is overwritten.

use std::collections::{BTreeMap, VecDeque};

use uuid::Uuid;

use crate::protocol::{
    CaseMeta, Ciphertext, Command, Event, FeedItem, FeedPage, Outcome, Refusal, UserEntry,
};
use crate::rules::{self, Actor};

/// A case as the server last sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCase {
    pub meta: CaseMeta,
    pub content: Option<Ciphertext>,
    pub events: BTreeMap<Uuid, Event>,
}

/// A refused command, with what the case looked like when the refusal came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub command: Command,
    pub refusal: Refusal,
    pub case_now: Option<CaseMeta>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub actor: Actor,
    /// The last feed position applied.
    pub cursor: i64,
    pub cases: BTreeMap<Uuid, LocalCase>,
    pub users: BTreeMap<String, UserEntry>,
    /// Commands waiting for the server's answer, in the order the clerk gave them.
    pub queue: VecDeque<Command>,
    pub conflicts: Vec<Conflict>,
}

impl Replica {
    pub fn new(actor: Actor) -> Self {
        Self {
            actor,
            cursor: 0,
            cases: BTreeMap::new(),
            users: BTreeMap::new(),
            queue: VecDeque::new(),
            conflicts: Vec::new(),
        }
    }

    /// Apply a page of the feed. Positions at or below the cursor are duplicates
    /// (a page delivered twice, or late) and are passed over.
    pub fn apply_page(&mut self, page: &FeedPage) {
        for item in &page.items {
            if item.position() <= self.cursor {
                continue;
            }
            match item {
                FeedItem::Case {
                    meta,
                    content,
                    events,
                    ..
                } => {
                    let entry = self.cases.entry(meta.id).or_insert_with(|| LocalCase {
                        meta: meta.clone(),
                        content: None,
                        events: BTreeMap::new(),
                    });
                    if meta.version >= entry.meta.version {
                        entry.meta = meta.clone();
                    }
                    if content.is_some() {
                        entry.content = content.clone();
                    }
                    for e in events {
                        entry.events.insert(e.id, e.clone());
                    }
                }
                FeedItem::Gone { case_id, .. } => {
                    self.cases.remove(case_id);
                }
                FeedItem::User { user, .. } => {
                    self.users.insert(user.name.clone(), user.clone());
                }
                FeedItem::Skip { .. } => {}
            }
            self.cursor = item.position();
        }
        self.cursor = self.cursor.max(page.next);
    }

    /// Queue a command (the caller stores the replica durably before the UI says done).
    pub fn enqueue(&mut self, command: Command) {
        self.queue.push_back(command);
    }

    /// The server answered the command `key` (a duplicate answer is ignored).
    pub fn answer(&mut self, key: Uuid, outcome: &Outcome) {
        let Some(at) = self.queue.iter().position(|c| c.key == key) else {
            return;
        };
        let Some(command) = self.queue.remove(at) else {
            return;
        };
        if let Outcome::Refused { refusal, .. } = outcome {
            let case_now = self
                .cases
                .get(&command.body.case_id())
                .map(|c| c.meta.clone());
            self.conflicts.push(Conflict {
                command,
                refusal: refusal.clone(),
                case_now,
            });
        }
    }

    /// The case as the clerk sees it: the server's state with this desk's waiting
    /// commands laid over it (those the rules would refuse now are left out).
    pub fn view(&self, case_id: Uuid) -> Option<CaseMeta> {
        let mut meta = self.cases.get(&case_id).map(|c| c.meta.clone());
        let role_of = |name: &str| self.users.get(name).map(|u| u.role);
        for cmd in self.queue.iter().filter(|c| c.body.case_id() == case_id) {
            if let Ok(effect) = rules::decide(&self.actor, meta.as_ref(), cmd, "", &role_of) {
                meta = Some(effect.after);
            }
        }
        meta
    }

    /// Commands waiting for the server (the status bar's number).
    pub fn waiting(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{CommandBody, RefusalKind, Step};
    use domain::{CaseState, Role};

    fn meta(version: i64, state: CaseState) -> CaseMeta {
        CaseMeta {
            extended: false,
            id: Uuid::nil(),
            file_number: "HU-1".into(),
            case_type: "HU".into(),
            channel: "papier".into(),
            state,
            waiting_from: None,
            checklist_complete: true,
            assignee: None,
            received_at: "2026-12-01T00:00:00Z".into(),
            version,
            state_version: version,
        }
    }

    fn page(items: Vec<FeedItem>, next: i64) -> FeedPage {
        FeedPage {
            items,
            next,
            more: false,
        }
    }

    #[test]
    fn a_refused_offline_step_falls_from_the_view_and_becomes_a_conflict() {
        let mut r = Replica::new(Actor {
            user: "anna".into(),
            role: Role::Sachbearbeitung,
        });
        r.apply_page(&page(
            vec![FeedItem::Case {
                position: 1,
                meta: meta(1, CaseState::Eingegangen),
                content: None,
                events: vec![],
            }],
            1,
        ));
        let key = Uuid::new_v4();
        r.enqueue(Command {
            key,
            body: CommandBody::Transition {
                case_id: Uuid::nil(),
                based_on: 1,
                step: Step::PruefungBeginnen,
                content: None,
            },
        });
        assert_eq!(
            r.view(Uuid::nil()).map(|m| m.state),
            Some(CaseState::InPruefung)
        );
        assert_eq!(r.waiting(), 1);
        let refusal = Refusal::conflict("geändert".into());
        r.answer(
            key,
            &Outcome::Refused {
                refusal: refusal.clone(),
                replay: false,
            },
        );
        r.answer(
            key,
            &Outcome::Refused {
                refusal,
                replay: true,
            },
        );
        assert_eq!(r.waiting(), 0);
        assert_eq!(r.conflicts.len(), 1);
        assert_eq!(r.conflicts[0].refusal.kind, RefusalKind::Conflict);
        assert_eq!(
            r.view(Uuid::nil()).map(|m| m.state),
            Some(CaseState::Eingegangen)
        );
    }

    #[test]
    fn duplicate_and_late_pages_change_nothing() {
        let mut r = Replica::new(Actor {
            user: "lea".into(),
            role: Role::Leitung,
        });
        let newer = page(
            vec![
                FeedItem::Case {
                    position: 1,
                    meta: meta(1, CaseState::Eingegangen),
                    content: None,
                    events: vec![],
                },
                FeedItem::Case {
                    position: 2,
                    meta: meta(2, CaseState::InPruefung),
                    content: None,
                    events: vec![],
                },
            ],
            2,
        );
        r.apply_page(&newer);
        let before = r.clone();
        r.apply_page(&newer);
        r.apply_page(&page(
            vec![FeedItem::Case {
                position: 1,
                meta: meta(1, CaseState::Eingegangen),
                content: None,
                events: vec![],
            }],
            1,
        ));
        assert_eq!(r, before);
        assert_eq!(r.cursor, 2);
    }
}
