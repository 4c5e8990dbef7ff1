//! Casework repository: the case record, transitions with their history and audit
//! entry in one transaction, assignment, checklist and notes. The rules (which
//! transition is allowed, who may do what) live in `domain` and the facade; this
//! module makes each accepted act durable and atomic, and refuses an act on a state
//! that changed meanwhile (optimistic check on the expected state).

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::error::{Result, StoreError};
use crate::{Session, audit};

/// A case with what casework needs. Holds personal data: never log it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseRecord {
    pub id: String,
    pub file_number: String,
    pub case_type: String,
    pub case_type_code: Option<String>,
    pub applicant: String,
    pub status: String,
    pub received_at: String,
    pub assigned_to: Option<String>,
    pub complete_at: Option<String>,
    pub waiting_from: Option<String>,
    pub extended: bool,
    /// The FIT-Connect case (online applications).
    pub fc_case_id: Option<String>,
}

impl CaseRecord {
    /// How the application came in: through the portal, or on paper.
    pub fn channel(&self) -> domain::Channel {
        if self.fc_case_id.is_some() {
            domain::Channel::Online
        } else {
            domain::Channel::Papier
        }
    }
}

/// One entry of a case's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    /// JSON with the reasons.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub at: String,
    pub author: String,
    pub text: String,
}

/// A transition to record.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    pub case_id: &'a str,
    /// The state the decision was made on; the act is refused if it changed.
    pub from: &'a str,
    pub to: &'a str,
    pub kind: &'a str,
    /// JSON with the reasons (history only, never in the audit chain).
    pub detail: Option<String>,
    /// Set `complete_at` (start of the statutory period).
    pub complete_at: Option<String>,
    /// Set (Some(Some)) or clear (Some(None)) the state a Nachforderung came from.
    pub waiting_from: Option<Option<String>>,
}

/// Order of a case list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaseOrder {
    #[default]
    NewestFirst,
    OldestFirst,
    FileNumber,
    /// Running deadline first due first; none last (see [`Session::set_case_dues`]).
    Deadline,
    /// By state in the order of the work (Eingegangen … Versandt, then closed).
    Status,
    /// Unassigned first, then by assignee.
    Assignee,
}

/// The key of a case without a running deadline: after every date.
pub const NO_DUE: &str = "9999-12-31";

/// A window of running deadlines (`YYYY-MM-DD`, both ends inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueWindow {
    pub from: Option<String>,
    pub until: String,
}

fn is_day(s: &str) -> bool {
    s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
}

impl DueWindow {
    /// Whether a running deadline (`YYYY-MM-DD`) lies in the window, as the SQL
    /// condition decides it (replicas, which hold their cases in memory).
    pub fn contains(&self, day: &str) -> bool {
        day <= self.until.as_str() && self.from.as_deref().is_none_or(|f| day >= f)
    }

    /// SQL condition on `d.due_key` (both ends checked to be plain dates).
    fn clause(&self) -> Result<String> {
        if !is_day(&self.until) || self.from.as_deref().is_some_and(|f| !is_day(f)) {
            return Err(StoreError::InvalidInput("Ungültiger Fristzeitraum.".into()));
        }
        Ok(match &self.from {
            Some(f) => format!("d.due_key >= '{f}' AND d.due_key <= '{}'", self.until),
            None => format!("d.due_key <= '{}'", self.until),
        })
    }
}

/// The condition " AND c.id IN (cases due in the window)", or nothing.
fn due_subquery(window: Option<&DueWindow>) -> Result<String> {
    Ok(match window {
        Some(w) => format!(
            " AND c.id IN (SELECT d.case_id FROM case_due d WHERE {})",
            w.clause()?
        ),
        None => String::new(),
    })
}

/// FROM of a list: the deadline index drives a deadline order or window, otherwise
/// the cases' own indexes.
fn list_from(order: CaseOrder, window: bool) -> &'static str {
    if window || order == CaseOrder::Deadline {
        DUE_JOIN
    } else {
        "cases c"
    }
}

/// ORDER BY of a list of `cases c` (joined to `case_due d` for the deadline).
fn order_clause(order: CaseOrder) -> &'static str {
    match order {
        CaseOrder::NewestFirst => "c.received_at DESC, c.file_number",
        CaseOrder::OldestFirst => "c.received_at ASC, c.file_number",
        CaseOrder::FileNumber => "c.file_number",
        CaseOrder::Deadline => "d.due_key, c.file_number",
        CaseOrder::Status => {
            "CASE c.status WHEN 'eingegangen' THEN 0 WHEN 'in_pruefung' THEN 1
                WHEN 'nachgefordert' THEN 2 WHEN 'in_bearbeitung' THEN 3
                WHEN 'entschieden' THEN 4 WHEN 'versandt' THEN 5 ELSE 6 END,
             c.received_at DESC, c.file_number"
        }
        CaseOrder::Assignee => {
            "c.assigned_to IS NOT NULL, c.assigned_to, c.received_at DESC, c.file_number"
        }
    }
}

/// Which cases a list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseFilter {
    /// Everything (Leitung).
    All,
    /// Assigned to this user ("Meine Vorgänge").
    AssignedTo(String),
    /// The organisation queue (nobody assigned).
    Unassigned,
    /// What a Sachbearbeiter may see: own and unassigned.
    OwnOrUnassigned(String),
}

/// SQL condition of a filter on `cases c`; a user name, if any, is parameter ?3.
fn filter_clause(filter: &CaseFilter) -> (&'static str, Option<&str>) {
    match filter {
        CaseFilter::All => ("1 = 1", None),
        CaseFilter::AssignedTo(u) => ("c.assigned_to = ?3", Some(u.as_str())),
        CaseFilter::Unassigned => ("c.assigned_to IS NULL", None),
        CaseFilter::OwnOrUnassigned(u) => (
            "(c.assigned_to IS NULL OR c.assigned_to = ?3)",
            Some(u.as_str()),
        ),
    }
}

/// The deadline keys joined to the cases, read in deadline order (migration 13).
const DUE_JOIN: &str = "case_due d CROSS JOIN cases c ON c.id = d.case_id";

/// The columns of [`RECORD`] from `cases c`.
const RECORD_COLUMNS: &str = "c.id, c.file_number, c.case_type, c.case_type_code, c.applicant,
    c.status, c.received_at, c.assigned_to, c.complete_at, c.waiting_from, c.extended,
    c.fc_case_id";

/// The search index joined to the cases. `CROSS JOIN` makes SQLite read the
/// index's hits first and look each case up by its row id: left to choose, it
/// may walk all cases and ask the index once per case, which took seconds (a
/// word found nowhere) to most of a minute (a common surname) at 100,000 cases.
const SEARCH_JOIN: &str = "case_search s CROSS JOIN cases c ON c.rowid = s.rowid";

/// The FTS5 expression for what the clerk typed: every word as a quoted prefix
/// (FTS syntax in the input has no effect); `None` for nothing to look for.
fn match_expression(query: &str) -> Option<String> {
    let terms: Vec<String> = query
        .split_whitespace()
        .take(12)
        .map(|t| format!("\"{}\"*", t.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

const RECORD: &str =
    "SELECT id, file_number, case_type, case_type_code, applicant, status, received_at,
        assigned_to, complete_at, waiting_from, extended, fc_case_id FROM cases";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<CaseRecord> {
    Ok(CaseRecord {
        id: r.get(0)?,
        file_number: r.get(1)?,
        case_type: r.get(2)?,
        case_type_code: r.get(3)?,
        applicant: r.get(4)?,
        status: r.get(5)?,
        received_at: r.get(6)?,
        assigned_to: r.get(7)?,
        complete_at: r.get(8)?,
        waiting_from: r.get(9)?,
        extended: r.get::<_, i64>(10)? != 0,
        fc_case_id: r.get(11)?,
    })
}

/// The Aktenzeichen of a case (for the audit entry), or a clear error.
fn file_number_of(conn: &rusqlite::Connection, id: &str) -> Result<String> {
    conn.query_row(
        "SELECT file_number FROM cases WHERE id = ?1",
        params![id],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| StoreError::InvalidInput("Diesen Vorgang gibt es nicht.".into()))
}

impl Session {
    pub fn case_record(&self, id: &str) -> Result<Option<CaseRecord>> {
        Ok(self
            .conn
            .query_row(&format!("{RECORD} WHERE id = ?1"), params![id], record)
            .optional()?)
    }

    /// The case with this Aktenzeichen.
    pub fn case_by_file_number(&self, file_number: &str) -> Result<Option<CaseRecord>> {
        Ok(self
            .conn
            .query_row(
                &format!("{RECORD} WHERE file_number = ?1"),
                params![file_number],
                record,
            )
            .optional()?)
    }

    /// Cases by filter in the given order, a page of `limit` from `offset`.
    pub fn case_records(
        &self,
        filter: &CaseFilter,
        order: CaseOrder,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<CaseRecord>> {
        self.case_records_due(filter, None, order, limit, offset)
    }

    /// [`Session::case_records`] within a window of running deadlines. Deadline
    /// order and windows read the keys as last set: call
    /// [`Session::set_case_dues`] for the [`Session::stale_due_cases`] first.
    pub fn case_records_due(
        &self,
        filter: &CaseFilter,
        window: Option<&DueWindow>,
        order: CaseOrder,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<CaseRecord>> {
        let (clause, user) = filter_clause(filter);
        let from = list_from(order, window.is_some());
        let window = match window {
            Some(w) => format!(" AND {}", w.clause()?),
            None => String::new(),
        };
        let order = order_clause(order);
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RECORD_COLUMNS} FROM {from} WHERE {clause}{window} ORDER BY {order} LIMIT ?1 OFFSET ?2"
        ))?;
        let rows = match user {
            Some(u) => stmt.query_map(params![limit, offset, u], record)?,
            None => stmt.query_map(params![limit, offset], record)?,
        };
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn count_case_records(&self, filter: &CaseFilter) -> Result<u64> {
        self.count_case_records_due(filter, None)
    }

    /// How many cases of the filter have a running deadline in the window.
    pub fn count_case_records_due(
        &self,
        filter: &CaseFilter,
        window: Option<&DueWindow>,
    ) -> Result<u64> {
        let (clause, user) = filter_clause(filter);
        let sql = match window {
            None => format!("SELECT count(*) FROM cases c WHERE {clause}"),
            // Every case: the deadline index alone answers.
            Some(w) if *filter == CaseFilter::All => {
                format!("SELECT count(*) FROM case_due d WHERE {}", w.clause()?)
            }
            Some(w) => format!(
                "SELECT count(*) FROM {DUE_JOIN} WHERE {clause} AND {}",
                w.clause()?
            ),
        };
        let n: i64 = match user {
            Some(u) => self
                .conn
                .query_row(&sql.replace("?3", "?1"), params![u], |r| r.get(0))?,
            None => self.conn.query_row(&sql, [], |r| r.get(0))?,
        };
        // COUNT(*) is never negative.
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The cases whose deadline key must be computed again: new, or changed in
    /// their deadline facts or history since it was set.
    pub fn stale_due_cases(&self) -> Result<Vec<CaseRecord>> {
        let mut stmt = self.conn.prepare(&format!(
            "{RECORD} WHERE id IN (SELECT case_id FROM case_due_stale)"
        ))?;
        let rows = stmt.query_map([], record)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Are more than `n` deadline keys stale (or, `all`, more than `n` cases in the
    /// store)? Reads at most `n + 1` index entries, however large the store.
    pub fn due_work_above(&self, n: u64, all: bool) -> Result<bool> {
        let sql = if all {
            "SELECT count(*) FROM (SELECT 1 FROM cases LIMIT ?1)"
        } else {
            "SELECT count(*) FROM (SELECT 1 FROM case_due_stale LIMIT ?1)"
        };
        let limit = i64::try_from(n.saturating_add(1)).unwrap_or(i64::MAX);
        let found: i64 = self.conn.query_row(sql, params![limit], |r| r.get(0))?;
        Ok(u64::try_from(found).unwrap_or(0) > n)
    }

    /// How many cases' deadline keys must be computed again.
    pub fn stale_due_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM case_due_stale", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The stale cases (see [`Self::stale_due_cases`]), or every case (`all`: the
    /// rules changed), each with its history, read in two queries rather than one
    /// per case.
    pub fn due_cases_with_history(
        &self,
        all: bool,
    ) -> Result<Vec<(CaseRecord, Vec<HistoryEntry>)>> {
        let mut out = Vec::new();
        self.for_each_due_case(all, |r, h| out.push((r, h)))?;
        Ok(out)
    }

    /// [`Self::due_cases_with_history`] one case at a time: the histories are read
    /// in case order through the index and handed over case by case, so only one
    /// case's history is held (at 100,000 cases and 800,000 entries the whole set
    /// took about 300 MB).
    pub fn for_each_due_case(
        &self,
        all: bool,
        mut each: impl FnMut(CaseRecord, Vec<HistoryEntry>),
    ) -> Result<()> {
        let mut records = if all {
            self.all_case_records()?
        } else {
            self.stale_due_cases()?
        };
        // The order of `ORDER BY case_id` (binary collation: bytes).
        records.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let sql = if all {
            "SELECT case_id, at, actor, kind, from_state, to_state, detail FROM case_history
             ORDER BY case_id, id"
        } else {
            "SELECT case_id, at, actor, kind, from_state, to_state, detail FROM case_history
             WHERE case_id IN (SELECT case_id FROM case_due_stale) ORDER BY case_id, id"
        };
        let mut stmt = self.conn.prepare(sql)?;
        let mut rows = stmt.query([])?;
        let mut records = records.into_iter().peekable();
        let mut current: Option<(CaseRecord, Vec<HistoryEntry>)> = None;
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            // Hand over every case before this entry's (those without history too).
            while current.as_ref().is_none_or(|(c, _)| c.id < id) {
                if let Some((c, h)) = current.take() {
                    each(c, h);
                }
                match records.next_if(|c| c.id <= id) {
                    Some(c) => current = Some((c, Vec::new())),
                    None => break,
                }
            }
            if let Some((c, h)) = current.as_mut()
                && c.id == id
            {
                h.push(HistoryEntry {
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    kind: r.get(3)?,
                    from_state: r.get(4)?,
                    to_state: r.get(5)?,
                    detail: r.get(6)?,
                });
            }
        }
        if let Some((c, h)) = current.take() {
            each(c, h);
        }
        for c in records {
            each(c, Vec::new());
        }
        Ok(())
    }

    /// Keys computed beside the window (a background job), stored in one short
    /// transaction: not those of cases changed after position `after` of the change
    /// list (they stay stale and are computed again), and none if the rules' record
    /// is no longer `basis_was` (someone renewed it meanwhile). The number stored, or
    /// None when the rules changed.
    pub fn store_due_keys(
        &mut self,
        dues: &[(String, Option<String>)],
        after: i64,
        basis_was: Option<&str>,
    ) -> Result<Option<usize>> {
        let tx = self.conn.transaction()?;
        let basis: Option<String> = tx
            .query_row(
                "SELECT fingerprint FROM case_due_basis WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if basis.as_deref() != basis_was {
            return Ok(None);
        }
        let changed: std::collections::HashSet<String> = {
            let mut stmt = tx.prepare_cached("SELECT case_id FROM case_changes WHERE seq > ?1")?;
            let rows = stmt.query_map(params![after], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut stored = 0;
        {
            // Only a key that differs is written (the deadline index is rewritten
            // for nothing otherwise).
            let mut put = tx.prepare_cached(
                "INSERT INTO case_due (case_id, due_key) VALUES (?1, ?2)
                 ON CONFLICT (case_id) DO UPDATE SET due_key = excluded.due_key
                 WHERE due_key <> excluded.due_key",
            )?;
            let mut done = tx.prepare_cached("DELETE FROM case_due_stale WHERE case_id = ?1")?;
            for (id, due) in dues {
                if changed.contains(id) {
                    continue;
                }
                let key = due.as_deref().unwrap_or(NO_DUE);
                if !is_day(key) {
                    return Err(StoreError::InvalidInput("Ungültiges Fristdatum.".into()));
                }
                put.execute(params![id, key])?;
                done.execute(params![id])?;
                stored += 1;
            }
        }
        tx.commit()?;
        Ok(Some(stored))
    }

    /// Record the rules the keys are now computed under, without marking any case
    /// stale (a background job computed every case's key under them).
    pub fn set_due_basis(&mut self, fingerprint: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO case_due_basis (id, fingerprint) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint",
            params![fingerprint],
        )?;
        Ok(())
    }

    /// Set the deadline keys (running deadline `YYYY-MM-DD`, `None` for none) of
    /// these cases, which are then no longer stale; in one transaction.
    pub fn set_case_dues(&mut self, dues: &[(String, Option<String>)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO case_due (case_id, due_key) VALUES (?1, ?2)
                 ON CONFLICT (case_id) DO UPDATE SET due_key = excluded.due_key",
            )?;
            let mut done = tx.prepare_cached("DELETE FROM case_due_stale WHERE case_id = ?1")?;
            for (id, due) in dues {
                let key = due.as_deref().unwrap_or(NO_DUE);
                if !is_day(key) {
                    return Err(StoreError::InvalidInput("Ungültiges Fristdatum.".into()));
                }
                put.execute(params![id, key])?;
                done.execute(params![id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The fingerprint of the rules the deadline keys were computed under.
    pub fn due_basis(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT fingerprint FROM case_due_basis WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Other rules are in force: every case's key is stale, computed under these.
    pub fn renew_due_basis(&mut self, fingerprint: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO case_due_stale (case_id) SELECT id FROM cases",
            [],
        )?;
        tx.execute(
            "INSERT INTO case_due_basis (id, fingerprint) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint",
            params![fingerprint],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Full-text search over Aktenzeichen, applicant, case type, notes and the
    /// application data, within a filter; best matches first, a page of `limit`
    /// from `offset`. Every word of `query` must occur (as a word prefix); FTS
    /// syntax in the input has no effect.
    pub fn search_cases(
        &self,
        query: &str,
        filter: &CaseFilter,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<CaseRecord>> {
        self.search_cases_due(query, filter, None, limit, offset)
    }

    /// [`Session::search_cases`] within a window of running deadlines.
    pub fn search_cases_due(
        &self,
        query: &str,
        filter: &CaseFilter,
        window: Option<&DueWindow>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<CaseRecord>> {
        let Some(m) = match_expression(query) else {
            return Ok(Vec::new());
        };
        let (clause, user) = filter_clause(filter);
        // ?1 the expression, ?2 limit, ?3 offset, ?4 the user of the filter.
        let clause = clause.replace("?3", "?4");
        let window = due_subquery(window)?;
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM {SEARCH_JOIN} WHERE case_search MATCH ?1 AND {clause}{window}
             ORDER BY s.rank, c.rowid LIMIT ?2 OFFSET ?3"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = match user {
            Some(u) => stmt.query_map(params![m, limit, offset, u], record)?,
            None => stmt.query_map(params![m, limit, offset], record)?,
        };
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// How many cases the search finds within the filter (the list's count).
    pub fn count_search(&self, query: &str, filter: &CaseFilter) -> Result<u64> {
        self.count_search_due(query, filter, None)
    }

    /// [`Session::count_search`] within a window of running deadlines.
    pub fn count_search_due(
        &self,
        query: &str,
        filter: &CaseFilter,
        window: Option<&DueWindow>,
    ) -> Result<u64> {
        let Some(m) = match_expression(query) else {
            return Ok(0);
        };
        let (clause, user) = filter_clause(filter);
        let clause = clause.replace("?3", "?2");
        let window = due_subquery(window)?;
        let sql = format!(
            "SELECT count(*) FROM {SEARCH_JOIN} WHERE case_search MATCH ?1 AND {clause}{window}"
        );
        let n: i64 = match user {
            Some(u) => self.conn.query_row(&sql, params![m, u], |r| r.get(0))?,
            None => self.conn.query_row(&sql, params![m], |r| r.get(0))?,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The query plan of the search (tests: the index drives it, not the cases).
    #[doc(hidden)]
    pub fn search_plan(&self) -> Result<Vec<String>> {
        self.query_plan(&format!(
            "SELECT c.id FROM {SEARCH_JOIN}
             WHERE case_search MATCH 'x' AND (c.assigned_to IS NULL OR c.assigned_to = 'y')
             ORDER BY s.rank LIMIT 50"
        ))
    }

    /// The plan of the work list's first page over all cases in this order (tests).
    #[doc(hidden)]
    pub fn case_list_plan(&self, order: CaseOrder) -> Result<Vec<String>> {
        self.query_plan(&format!(
            "SELECT c.id FROM {} ORDER BY {} LIMIT 50",
            list_from(order, false),
            order_clause(order)
        ))
    }

    /// SQLite's plan for a query (tests: which index answers it).
    #[doc(hidden)]
    pub fn query_plan(&self, sql: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Add text to a case's searchable content (the application data).
    pub(crate) fn index_content(
        conn: &rusqlite::Connection,
        case_id: &str,
        text: &str,
    ) -> Result<()> {
        conn.execute(
            "UPDATE case_search SET content = content || ' ' || ?2
             WHERE rowid = (SELECT rowid FROM cases WHERE id = ?1)",
            params![case_id, text],
        )?;
        Ok(())
    }

    /// Every case record, in no particular order (reports).
    pub fn all_case_records(&self) -> Result<Vec<CaseRecord>> {
        let mut stmt = self.conn.prepare(RECORD)?;
        let rows = stmt.query_map([], record)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Every history entry of every case in the order written (reports): case id,
    /// time, actor, kind, state entered.
    pub fn all_history(&self) -> Result<Vec<(String, HistoryEntry)>> {
        let mut stmt = self.conn.prepare(
            "SELECT case_id, at, actor, kind, from_state, to_state FROM case_history ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                HistoryEntry {
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    kind: r.get(3)?,
                    from_state: r.get(4)?,
                    to_state: r.get(5)?,
                    detail: None,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The oldest and newest position of the change list (`case_changes`, written by
    /// triggers with every change of a case or of its history); (0, 0) when empty.
    pub fn case_changes_span(&self) -> Result<(i64, i64)> {
        // Two subqueries: min() and max() in one SELECT scan the whole table, each
        // alone reads one end of the key.
        Ok(self.conn.query_row(
            "SELECT coalesce((SELECT min(seq) FROM case_changes), 0),
                    coalesce((SELECT max(seq) FROM case_changes), 0)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// The cases changed after position `after` up to `upto` (inclusive), each once.
    pub fn cases_changed(&self, after: i64, upto: i64) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT case_id FROM case_changes WHERE seq > ?1 AND seq <= ?2")?;
        let rows = stmt.query_map(params![after, upto], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Set the case type of a case (sync, import).
    pub fn set_case_type_code(&mut self, id: &str, code: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE cases SET case_type_code = ?2 WHERE id = ?1",
            params![id, code],
        )?;
        Ok(())
    }

    /// Record a transition: state, deadline facts, history and audit entry together.
    pub fn record_transition(&mut self, t: &Transition<'_>) -> Result<()> {
        self.record_transition_with(t, &[])
    }

    /// [`Session::record_transition`] and outbox items the move causes (a status
    /// update for the citizen), in one transaction.
    pub fn record_transition_with(
        &mut self,
        t: &Transition<'_>,
        outbox: &[crate::NewOutboxItem],
    ) -> Result<()> {
        let now = self.now();
        let actor = self.user().username.to_string();
        let tx = self.conn.transaction()?;
        transition_in(&tx, t, &now, &actor)?;
        for item in outbox {
            crate::sync::enqueue(&tx, item, &now)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// An outgoing letter, all or nothing: the PDF (encrypted in the vault) becomes a
    /// document of the case, an optional state transition (Entschieden → Versandt),
    /// a history entry and an audit entry, and the outbox items built from the new
    /// blob id (reply to the citizen, bookings) are queued – in one transaction. A
    /// crash before the commit leaves only an orphan blob file, removed at the next
    /// unlock; nothing is half sent.
    pub fn record_letter(
        &mut self,
        letter: &OutgoingLetter<'_>,
        pdf: &[u8],
        outbox: impl FnOnce(&str) -> Vec<crate::NewOutboxItem>,
    ) -> Result<String> {
        let (blob, _) = self.write_content_file(crate::vault::Content::Case, pdf, false)?;
        let now = self.now();
        let actor = self.user().username.to_string();
        let tx = self.conn.transaction()?;
        let file_number: String = tx
            .query_row(
                "SELECT file_number FROM cases WHERE id = ?1",
                params![letter.case_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::InvalidInput("Diesen Vorgang gibt es nicht.".into()))?;
        crate::vault::insert_blob_row(&tx, &blob, &now)?;
        tx.execute(
            "INSERT INTO case_documents (case_id, blob_id, kind, filename, mime_type, created_at)
             VALUES (?1, ?2, 'letter', ?3, 'application/pdf', ?4)",
            params![letter.case_id, blob.id.as_str(), letter.filename, now],
        )?;
        match &letter.transition {
            Some(t) => transition_in(&tx, t, &now, &actor)?,
            None => {
                tx.execute(
                    "INSERT INTO case_history (case_id, at, actor, kind, detail)
                     VALUES (?1, ?2, ?3, 'brief', ?4)",
                    params![letter.case_id, now, actor, letter.detail],
                )?;
            }
        }
        for item in outbox(blob.id.as_str()) {
            crate::sync::enqueue(&tx, &item, &now)?;
        }
        audit::append(&tx, &now, &actor, "vorgang.brief", &file_number)?;
        tx.commit()?;
        Ok(blob.id.as_str().to_owned())
    }
}

/// A letter leaving the case (see [`Session::record_letter`]).
pub struct OutgoingLetter<'a> {
    pub case_id: &'a str,
    pub filename: String,
    /// JSON for the history entry when there is no transition.
    pub detail: Option<String>,
    pub transition: Option<Transition<'a>>,
}

fn transition_in(
    tx: &rusqlite::Transaction<'_>,
    t: &Transition<'_>,
    now: &str,
    actor: &str,
) -> Result<()> {
    {
        let (status, file_number): (String, String) = tx
            .query_row(
                "SELECT status, file_number FROM cases WHERE id = ?1",
                params![t.case_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| StoreError::InvalidInput("Diesen Vorgang gibt es nicht.".into()))?;
        if status != t.from {
            return Err(StoreError::Conflict(
                "Der Vorgang wurde inzwischen geändert. Bitte neu laden.".into(),
            ));
        }
        tx.execute(
            "UPDATE cases SET status = ?2 WHERE id = ?1",
            params![t.case_id, t.to],
        )?;
        if let Some(date) = &t.complete_at {
            tx.execute(
                "UPDATE cases SET complete_at = ?2 WHERE id = ?1",
                params![t.case_id, date],
            )?;
        }
        if let Some(waiting) = &t.waiting_from {
            tx.execute(
                "UPDATE cases SET waiting_from = ?2 WHERE id = ?1",
                params![t.case_id, waiting],
            )?;
        }
        tx.execute(
            "INSERT INTO case_history (case_id, at, actor, kind, from_state, to_state, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![t.case_id, now, actor, t.kind, t.from, t.to, t.detail],
        )?;
        audit::append(tx, now, actor, &format!("vorgang.{}", t.kind), &file_number)?;
    }
    Ok(())
}

impl Session {
    /// Assign a case (None: back to the organisation queue), with history and audit.
    pub fn assign_case(
        &mut self,
        id: &str,
        to: Option<&str>,
        detail: Option<String>,
    ) -> Result<()> {
        let now = self.now();
        let actor = self.user().username.to_string();
        let tx = self.conn.transaction()?;
        let file_number = file_number_of(&tx, id)?;
        tx.execute(
            "UPDATE cases SET assigned_to = ?2 WHERE id = ?1",
            params![id, to],
        )?;
        tx.execute(
            "INSERT INTO case_history (case_id, at, actor, kind, detail) VALUES (?1, ?2, ?3, 'zuweisung', ?4)",
            params![id, now, actor, detail],
        )?;
        audit::append(
            &tx,
            &now,
            &actor,
            "vorgang.zuweisung",
            &format!("{file_number} → {}", to.unwrap_or("Eingangskorb")),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A refused e-mail answer was replaced by post: its failed items (ordering key
    /// `ordering_key`) are settled and the case records the way taken, in one
    /// transaction. Returns how many items were settled; none is a conflict.
    pub fn settle_failed_mail(
        &mut self,
        id: &str,
        ordering_keys: &[&str],
        detail: &str,
    ) -> Result<u64> {
        let now = self.now();
        let actor = self.user().username.to_string();
        let tx = self.conn.transaction()?;
        let mut n = 0;
        for key in ordering_keys {
            n += tx.execute(
                "UPDATE outbox SET state = 'done', last_error = coalesce(last_error, '') || ' – ersetzt durch Postversand', updated_at = ?2
                 WHERE ordering_key = ?1 AND kind IN ('mail', 'bundid') AND state = 'failed'",
                params![key, now],
            )?;
        }
        if n == 0 {
            return Err(StoreError::Conflict(
                "Zu diesem Vorgang gibt es keine nicht zugestellte E-Mail oder BundID-Nachricht."
                    .into(),
            ));
        }
        tx.execute(
            "INSERT INTO case_history (case_id, at, actor, kind, detail) VALUES (?1, ?2, ?3, 'ersatzversand_post', ?4)",
            params![id, now, actor, detail],
        )?;
        let file_number = file_number_of(&tx, id)?;
        audit::append(
            &tx,
            &now,
            &actor,
            "vorgang.ersatzversand_post",
            &file_number,
        )?;
        tx.commit()?;
        Ok(n as u64)
    }

    /// Grant the one extension of the statutory period.
    pub fn extend_case(&mut self, id: &str, detail: String) -> Result<()> {
        let now = self.now();
        let actor = self.user().username.to_string();
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE cases SET extended = 1 WHERE id = ?1 AND extended = 0",
            params![id],
        )?;
        if n != 1 {
            return Err(StoreError::Conflict(
                "Die Frist wurde bereits verlängert (nur einmal möglich).".into(),
            ));
        }
        tx.execute(
            "INSERT INTO case_history (case_id, at, actor, kind, detail) VALUES (?1, ?2, ?3, 'fristverlaengerung', ?4)",
            params![id, now, actor, detail],
        )?;
        let file_number = file_number_of(&tx, id)?;
        audit::append(
            &tx,
            &now,
            &actor,
            "vorgang.fristverlaengerung",
            &file_number,
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn case_history(&self, id: &str) -> Result<Vec<HistoryEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT at, actor, kind, from_state, to_state, detail FROM case_history WHERE case_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![id], |r| {
            Ok(HistoryEntry {
                at: r.get(0)?,
                actor: r.get(1)?,
                kind: r.get(2)?,
                from_state: r.get(3)?,
                to_state: r.get(4)?,
                detail: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn add_note(&mut self, id: &str, text: &str) -> Result<()> {
        let now = self.now();
        let actor = self.user().username.to_string();
        let tx = self.conn.transaction()?;
        let file_number = file_number_of(&tx, id)?;
        tx.execute(
            "INSERT INTO case_notes (case_id, at, author, text) VALUES (?1, ?2, ?3, ?4)",
            params![id, now, actor, text],
        )?;
        audit::append(&tx, &now, &actor, "vorgang.notiz", &file_number)?;
        tx.commit()?;
        Ok(())
    }

    pub fn notes(&self, id: &str) -> Result<Vec<Note>> {
        let mut stmt = self
            .conn
            .prepare("SELECT at, author, text FROM case_notes WHERE case_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map(params![id], |r| {
            Ok(Note {
                at: r.get(0)?,
                author: r.get(1)?,
                text: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Tick or untick a checklist item.
    pub fn set_check(&mut self, id: &str, item: &str, checked: bool) -> Result<()> {
        let now = self.now();
        let actor = self.user().username.to_string();
        if checked {
            self.conn.execute(
                "INSERT INTO case_checklist (case_id, item, checked_by, checked_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (case_id, item) DO NOTHING",
                params![id, item, actor, now],
            )?;
        } else {
            self.conn.execute(
                "DELETE FROM case_checklist WHERE case_id = ?1 AND item = ?2",
                params![id, item],
            )?;
        }
        Ok(())
    }

    /// Ticked items: (item, by, at).
    pub fn checks(&self, id: &str) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT item, checked_by, checked_at FROM case_checklist WHERE case_id = ?1 ORDER BY item",
        )?;
        let rows = stmt.query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Documents of a case, in the order they came in.
    pub fn case_documents(&self, id: &str) -> Result<Vec<CaseDocument>> {
        let mut stmt = self.conn.prepare(
            "SELECT d.id, d.kind, d.filename, d.mime_type, d.blob_id, d.created_at, coalesce(b.size, 0),
                    d.submission_id
             FROM case_documents d LEFT JOIN blobs b ON b.id = d.blob_id
             WHERE d.case_id = ?1 ORDER BY d.id",
        )?;
        let rows = stmt.query_map(params![id], |r| {
            Ok(CaseDocument {
                id: r.get(0)?,
                kind: r.get(1)?,
                filename: r.get(2)?,
                mime_type: r.get(3)?,
                blob_id: r.get(4)?,
                created_at: r.get(5)?,
                size: u64::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
                submission_id: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

/// A document of a case (the content stays in the vault).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseDocument {
    pub id: i64,
    pub kind: String,
    pub filename: Option<String>,
    pub mime_type: String,
    pub blob_id: String,
    pub created_at: String,
    /// Bytes of the plaintext.
    pub size: u64,
    /// The FIT-Connect submission that brought it (none: scans, letters).
    pub submission_id: Option<String>,
}
