//! Deterministic simulation of the Rathaus-Server and five workstation replicas
//! (two Sachbearbeitung, Leitung, Scanstelle, Administration) over thousands of
//! seeded schedules: a network that drops, delays, duplicates and reorders,
//! crashes of the server before and after its commit, workstations that crash or
//! are cut off for hours, and server clock jumps. Server and replicas run the real
//! `office::rules` and `office::replica`; the server's record is modelled in
//! memory (the PostgreSQL implementation of the same steps is tested against a
//! real cluster in the `server` crate).
//!
//! The checker: every command applied at most once and every queued command
//! answered; no refusal lost without the clerk seeing it; every replica converges
//! to the server's view for its role; no replica ever holds content its role may
//! not read. A deliberately broken server (feed positions taken at the start of a
//! transaction, readers remembering the last position seen) must be caught.
//!
//! `SIM_SCHEDULES` sets the number of schedules (`make chaos` runs more).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use domain::{CaseState, Decision, Role};
use office::protocol::UserEntry;
use office::replica::Replica;
use office::rules::{self, Actor, Change};
use office::{CaseMeta, Ciphertext, Command, CommandBody, Event, FeedPage, Outcome, Step};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    /// Positions handed out at commit (the server's lock): correct.
    CommitOrdered,
    /// Positions taken when the transaction starts, committed later in any order,
    /// while readers go on from the last position they saw: broken.
    PositionAtStart,
}

struct Pending {
    position: i64,
    change: Change,
    commit_at: u64,
}

struct Server {
    variant: Variant,
    cases: BTreeMap<Uuid, CaseMeta>,
    contents: BTreeMap<Uuid, Ciphertext>,
    events: BTreeMap<Uuid, Vec<Event>>,
    log: BTreeMap<i64, Change>,
    sequence: i64,
    pending: Vec<Pending>,
    commands: HashMap<Uuid, (String, usize, Outcome)>,
    applied: HashMap<Uuid, u32>,
    users: BTreeMap<String, Role>,
    clock: i64,
    down_until: u64,
}

enum Crash {
    None,
    BeforeCommit,
    AfterCommit,
}

impl Server {
    fn new(variant: Variant, users: &[(String, Role)]) -> Self {
        let mut s = Server {
            variant,
            cases: BTreeMap::new(),
            contents: BTreeMap::new(),
            events: BTreeMap::new(),
            log: BTreeMap::new(),
            sequence: 0,
            pending: Vec::new(),
            commands: HashMap::new(),
            applied: HashMap::new(),
            users: BTreeMap::new(),
            clock: 1_764_000_000,
            down_until: 0,
        };
        for (name, role) in users {
            s.users.insert(name.clone(), *role);
            s.sequence += 1;
            s.log.insert(
                s.sequence,
                Change::User {
                    user: UserEntry {
                        name: name.clone(),
                        role: *role,
                        active: true,
                    },
                },
            );
        }
        s
    }

    fn now(&self) -> String {
        format!("@{}", self.clock)
    }

    fn append(&mut self, change: Change, tick: u64, rng: &mut ChaCha8Rng) {
        // Through JSON, as the change log stores it.
        let change: Change = serde_json::to_value(&change)
            .and_then(serde_json::from_value)
            .unwrap_or_else(|e| panic!("Änderung nicht speicherbar: {e}"));
        match self.variant {
            Variant::CommitOrdered => {
                let position = self.log.keys().next_back().copied().unwrap_or(0) + 1;
                self.sequence = position;
                self.log.insert(position, change);
            }
            Variant::PositionAtStart => {
                self.sequence += 1;
                let position = self.sequence;
                if rng.random_bool(0.3) {
                    self.pending.push(Pending {
                        position,
                        change,
                        commit_at: tick + rng.random_range(1..30),
                    });
                } else {
                    self.log.insert(position, change);
                }
            }
        }
    }

    fn tick(&mut self, tick: u64) {
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.commit_at <= tick);
        self.pending = rest;
        for p in due {
            self.log.insert(p.position, p.change);
        }
    }

    fn handle(
        &mut self,
        from: usize,
        actor: &Actor,
        cmd: &Command,
        crash: Crash,
        tick: u64,
        rng: &mut ChaCha8Rng,
    ) -> Option<Outcome> {
        if matches!(crash, Crash::BeforeCommit) {
            return None;
        }
        let hash = cmd.body_hash();
        let outcome = if let Some((known, _, outcome)) = self.commands.get(&cmd.key) {
            if *known == hash {
                outcome.clone().as_replay()
            } else {
                Outcome::Refused {
                    refusal: office::Refusal {
                        kind: office::RefusalKind::Altered,
                        reason: "verändert".into(),
                    },
                    replay: false,
                }
            }
        } else {
            let users = self.users.clone();
            let role_of = |n: &str| users.get(n).copied();
            let current = self.cases.get(&cmd.body.case_id()).cloned();
            let outcome = match rules::decide(actor, current.as_ref(), cmd, &self.now(), &role_of) {
                Ok(effect) => {
                    *self.applied.entry(cmd.key).or_default() += 1;
                    let change = Change::of(&effect);
                    let id = effect.after.id;
                    let version = effect.after.version;
                    self.cases.insert(id, effect.after);
                    if let Some(c) = effect.content {
                        self.contents.insert(id, c);
                    }
                    if let Some(e) = effect.event {
                        self.events.entry(id).or_default().push(e);
                    }
                    self.append(change, tick, rng);
                    Outcome::Applied {
                        version,
                        position: self.sequence,
                        replay: false,
                    }
                }
                Err(refusal) => Outcome::Refused {
                    refusal,
                    replay: false,
                },
            };
            self.commands.insert(cmd.key, (hash, from, outcome.clone()));
            outcome
        };
        match crash {
            Crash::AfterCommit => None,
            _ => Some(outcome),
        }
    }

    fn feed(&self, actor: &Actor, after: i64, limit: usize) -> FeedPage {
        let rows: Vec<_> = self.log.range(after + 1..).take(limit + 1).collect();
        let more = rows.len() > limit;
        let items: Vec<_> = rows
            .into_iter()
            .take(limit)
            .map(|(p, change)| {
                rules::feed_item(actor, *p, change.clone(), |id| {
                    (
                        self.contents.get(&id).cloned(),
                        self.events.get(&id).cloned().unwrap_or_default(),
                    )
                })
            })
            .collect();
        let next = items.last().map(|i| i.position()).unwrap_or(after);
        FeedPage { items, next, more }
    }
}

enum Msg {
    Command(usize, Command),
    Feed(usize, i64),
    Answer(usize, Uuid, Outcome),
    Page(usize, FeedPage),
}

struct Client {
    replica: Replica,
    down_until: u64,
    cut_until: u64,
    created: usize,
    sent: BTreeSet<Uuid>,
}

struct World {
    rng: ChaCha8Rng,
    server: Server,
    clients: Vec<Client>,
    net: Vec<(u64, u64, Msg)>,
    seq: u64,
    violations: Vec<String>,
    faults: bool,
}

fn age(rng: &mut ChaCha8Rng) -> Ciphertext {
    let mut b = b"age-encryption.org/v1\n".to_vec();
    b.extend((0..16).map(|_| rng.random::<u8>()));
    Ciphertext::new(b).unwrap_or_else(|r| panic!("{}", r.reason))
}

impl World {
    fn new(seed: u64, variant: Variant) -> Self {
        let people = [
            ("anna", Role::Sachbearbeitung),
            ("ben", Role::Sachbearbeitung),
            ("lea", Role::Leitung),
            ("sam", Role::Scanstelle),
            ("root", Role::Admin),
        ];
        let users: Vec<_> = people.iter().map(|(n, r)| (n.to_string(), *r)).collect();
        World {
            rng: ChaCha8Rng::seed_from_u64(seed),
            server: Server::new(variant, &users),
            clients: people
                .iter()
                .map(|(n, r)| Client {
                    replica: Replica::new(Actor {
                        user: n.to_string(),
                        role: *r,
                    }),
                    down_until: 0,
                    cut_until: 0,
                    created: 0,
                    sent: BTreeSet::new(),
                })
                .collect(),
            net: Vec::new(),
            seq: 0,
            violations: Vec::new(),
            faults: true,
        }
    }

    fn send(&mut self, now: u64, client: usize, msg: Msg) {
        if self.faults && (self.clients[client].cut_until > now || self.rng.random_bool(0.1)) {
            return; // dropped, or the LAN is cut
        }
        let copies = if self.faults && self.rng.random_bool(0.05) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.rng.random_range(1..12);
            self.seq += 1;
            let m = match &msg {
                Msg::Command(c, cmd) => Msg::Command(*c, cmd.clone()),
                Msg::Feed(c, p) => Msg::Feed(*c, *p),
                Msg::Answer(c, k, o) => Msg::Answer(*c, *k, o.clone()),
                Msg::Page(c, p) => Msg::Page(*c, p.clone()),
            };
            self.net.push((now + delay, self.seq, m));
        }
    }

    fn deliver(&mut self, now: u64) {
        self.net.sort_by_key(|(at, seq, _)| (*at, *seq));
        let due = self.net.iter().take_while(|(at, _, _)| *at <= now).count();
        let msgs: Vec<_> = self.net.drain(..due).collect();
        for (_, _, msg) in msgs {
            match msg {
                Msg::Command(c, cmd) => {
                    if self.server.down_until > now {
                        continue;
                    }
                    let crash = if self.faults && self.rng.random_bool(0.03) {
                        self.server.down_until = now + self.rng.random_range(5..40);
                        if self.rng.random_bool(0.5) {
                            Crash::BeforeCommit
                        } else {
                            Crash::AfterCommit
                        }
                    } else {
                        Crash::None
                    };
                    let actor = self.clients[c].replica.actor.clone();
                    if let Some(o) = self
                        .server
                        .handle(c, &actor, &cmd, crash, now, &mut self.rng)
                    {
                        self.send(now, c, Msg::Answer(c, cmd.key, o));
                    }
                }
                Msg::Feed(c, after) => {
                    if self.server.down_until > now {
                        continue;
                    }
                    let actor = self.clients[c].replica.actor.clone();
                    let page = self.server.feed(&actor, after, 7);
                    self.send(now, c, Msg::Page(c, page));
                }
                Msg::Answer(c, key, outcome) => {
                    if self.clients[c].down_until <= now {
                        self.clients[c].replica.answer(key, &outcome);
                    }
                }
                Msg::Page(c, page) => {
                    if self.clients[c].down_until > now {
                        continue;
                    }
                    let actor = self.clients[c].replica.actor.clone();
                    for item in &page.items {
                        if let office::FeedItem::Case {
                            meta,
                            content,
                            events,
                            ..
                        } = item
                            && (content.is_some() || !events.is_empty())
                            && !rules::visible(&actor, meta.assignee.as_deref())
                        {
                            self.violations.push(format!(
                                "{} erhielt Inhalt von {}",
                                actor.user, meta.file_number
                            ));
                        }
                    }
                    self.clients[c].replica.apply_page(&page);
                }
            }
        }
    }

    fn random_step(&mut self) -> (Step, bool) {
        let steps = [
            Step::PruefungBeginnen,
            Step::Nachfordern {
                frist: "2026-12-31".into(),
            },
            Step::NachreichungEingegangen,
            Step::Vollstaendig,
            Step::Entscheiden {
                ergebnis: Decision::Bewilligt,
            },
            Step::Entscheiden {
                ergebnis: Decision::Abgelehnt,
            },
            Step::Versenden {
                kanal: "post".into(),
            },
            Step::Abschliessen,
            Step::Zurueckziehen,
        ];
        let i = self.rng.random_range(0..steps.len());
        (steps[i].clone(), self.rng.random_bool(0.8))
    }

    fn act(&mut self, c: usize) {
        let role = self.clients[c].replica.actor.role;
        let body = match role {
            Role::Scanstelle => {
                self.clients[c].created += 1;
                CommandBody::CreateCase {
                    case_id: Uuid::from_u128(self.rng.random()),
                    file_number: format!("PA-{c}-{}", self.clients[c].created),
                    case_type: "HU".into(),
                    received_at: "2026-12-01T08:00:00Z".into(),
                    content: age(&mut self.rng),
                }
            }
            Role::Admin => {
                // A hostile desk: a note on a case it may not see.
                let Some(id) = self.server.cases.keys().next().copied() else {
                    return;
                };
                CommandBody::Note {
                    case_id: id,
                    content: age(&mut self.rng),
                }
            }
            Role::Sachbearbeitung | Role::Leitung => {
                let ids: Vec<_> = self.clients[c].replica.cases.keys().copied().collect();
                if ids.is_empty() {
                    return;
                }
                let id = ids[self.rng.random_range(0..ids.len())];
                let Some(view) = self.clients[c].replica.view(id) else {
                    return;
                };
                match self.rng.random_range(0..10) {
                    0..=4 => {
                        let (step, with_reason) = self.random_step();
                        let content = with_reason.then(|| age(&mut self.rng));
                        CommandBody::Transition {
                            case_id: id,
                            based_on: view.version,
                            step,
                            content,
                        }
                    }
                    5 | 6 => CommandBody::Note {
                        case_id: id,
                        content: age(&mut self.rng),
                    },
                    7 => CommandBody::Checklist {
                        case_id: id,
                        based_on: view.version,
                        complete: true,
                    },
                    _ => {
                        let to = if role == Role::Leitung {
                            ["anna", "ben", "lea"][self.rng.random_range(0..3)].to_string()
                        } else {
                            self.clients[c].replica.actor.user.clone()
                        };
                        CommandBody::Assign {
                            case_id: id,
                            based_on: view.version,
                            to: Some(to),
                        }
                    }
                }
            }
        };
        let cmd = Command {
            key: Uuid::from_u128(self.rng.random()),
            body,
        };
        self.clients[c].sent.insert(cmd.key);
        self.clients[c].replica.enqueue(cmd);
    }

    fn step(&mut self, now: u64, acting: bool) {
        self.server.tick(now);
        if self.faults && self.rng.random_bool(0.01) {
            // The server's clock jumps (NTP, a wrong BIOS clock): nothing may depend on it.
            self.server.clock += self.rng.random_range(-86_400..86_400);
        }
        self.deliver(now);
        for c in 0..self.clients.len() {
            if self.faults {
                if self.rng.random_bool(0.003) {
                    self.clients[c].down_until = now + self.rng.random_range(5..60);
                }
                if self.rng.random_bool(0.002) {
                    self.clients[c].cut_until = now + self.rng.random_range(50..400);
                }
            }
            if self.clients[c].down_until > now {
                continue;
            }
            if acting && self.rng.random_bool(0.12) {
                self.act(c);
            }
            // The upload queue goes strictly in order: the head until it is answered.
            if now % 6 == c as u64 % 6
                && let Some(head) = self.clients[c].replica.queue.front().cloned()
            {
                self.send(now, c, Msg::Command(c, head));
            }
            if now % 4 == c as u64 % 4 {
                let cursor = self.clients[c].replica.cursor;
                self.send(now, c, Msg::Feed(c, cursor));
            }
        }
    }

    fn run(&mut self) -> Result<(), String> {
        for now in 0..600 {
            self.step(now, true);
        }
        // The partition heals, the machines stay up: everything must settle.
        self.faults = false;
        for c in &mut self.clients {
            c.down_until = 0;
            c.cut_until = 0;
        }
        self.server.down_until = 0;
        for now in 600..4000 {
            self.step(now, false);
            if now > 700 && self.settled() {
                break;
            }
        }
        self.check()
    }

    fn settled(&self) -> bool {
        let last = self.server.log.keys().next_back().copied().unwrap_or(0);
        self.net.is_empty()
            && self.server.pending.is_empty()
            && self
                .clients
                .iter()
                .all(|c| c.replica.queue.is_empty() && c.replica.cursor >= last)
    }

    fn check(&self) -> Result<(), String> {
        if let Some(v) = self.violations.first() {
            return Err(format!("Vertraulichkeit verletzt: {v}"));
        }
        for (key, n) in &self.server.applied {
            if *n > 1 {
                return Err(format!("Befehl {key} {n}-mal angewandt"));
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            let r = &c.replica;
            if !r.queue.is_empty() {
                return Err(format!(
                    "{}: {} Befehle unbeantwortet",
                    r.actor.user,
                    r.queue.len()
                ));
            }
            let conflicts: BTreeSet<_> = r.conflicts.iter().map(|x| x.command.key).collect();
            for key in &c.sent {
                match self.server.commands.get(key) {
                    Some((_, from, Outcome::Applied { .. })) if *from == i => {}
                    Some((_, from, Outcome::Refused { .. }))
                        if *from == i && conflicts.contains(key) => {}
                    other => {
                        return Err(format!(
                            "{}: Befehl {key} ohne sichtbares Ergebnis ({other:?})",
                            r.actor.user
                        ));
                    }
                }
            }
            let expected: BTreeMap<_, _> = self
                .server
                .cases
                .iter()
                .filter(|(_, m)| rules::visible(&r.actor, m.assignee.as_deref()))
                .collect();
            if expected.len() != r.cases.len() {
                return Err(format!(
                    "{} hält {} Vorgänge, sichtbar sind {}",
                    r.actor.user,
                    r.cases.len(),
                    expected.len()
                ));
            }
            for (id, meta) in expected {
                let local = r
                    .cases
                    .get(id)
                    .ok_or_else(|| format!("{} fehlt {}", r.actor.user, meta.file_number))?;
                if &local.meta != meta {
                    return Err(format!(
                        "{}: {} steht auf Version {}, der Server auf {}",
                        r.actor.user, meta.file_number, local.meta.version, meta.version
                    ));
                }
                if local.content.as_ref() != self.server.contents.get(id) {
                    return Err(format!(
                        "{}: Inhalt von {} fehlt",
                        r.actor.user, meta.file_number
                    ));
                }
                let server_events: BTreeSet<_> = self
                    .server
                    .events
                    .get(id)
                    .map(|e| e.iter().map(|e| e.id).collect())
                    .unwrap_or_default();
                let local_events: BTreeSet<_> = local.events.keys().copied().collect();
                if server_events != local_events {
                    return Err(format!(
                        "{}: {} hat {} Einträge, der Server {}",
                        r.actor.user,
                        meta.file_number,
                        local_events.len(),
                        server_events.len()
                    ));
                }
            }
            if r.users.len() != self.server.users.len() {
                return Err(format!("{} kennt nicht alle Benutzer", r.actor.user));
            }
        }
        Ok(())
    }
}

fn schedules() -> u64 {
    std::env::var("SIM_SCHEDULES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

#[test]
fn every_schedule_converges_exactly_once_and_keeps_roles_apart() {
    let mut applied = 0usize;
    let mut refused = 0usize;
    let mut states = std::collections::HashSet::new();
    for seed in 0..schedules() {
        let mut w = World::new(seed, Variant::CommitOrdered);
        if let Err(e) = w.run() {
            panic!("Ablauf {seed}: {e}");
        }
        for (_, _, o) in w.server.commands.values() {
            match o {
                Outcome::Applied { .. } => applied += 1,
                Outcome::Refused { .. } => refused += 1,
            }
        }
        states.extend(w.server.cases.values().map(|m| m.state));
    }
    // The schedules exercise the protocol, not an idle loop.
    assert!(applied > 1000 && refused > 100, "{applied} / {refused}");
    for s in [
        CaseState::InPruefung,
        CaseState::Entschieden,
        CaseState::Zurueckgezogen,
    ] {
        assert!(states.contains(&s), "{s:?} nie erreicht");
    }
}

#[test]
fn the_checker_catches_a_feed_that_is_not_commit_ordered() {
    let caught = (0..100)
        .filter(|seed| World::new(*seed, Variant::PositionAtStart).run().is_err())
        .count();
    assert!(caught > 50, "nur {caught} von 100 Abläufen aufgefallen");
}
