//! Repair tickets (工单) with SLA clocks per maintainer (运维单位) and camera class.
//!
//! ## Lifecycle
//!
//! ```text
//! open ──ack──▶ acknowledged ──camera healthy for `hold`──▶ resolved ──`reopen_within`──▶ closed
//!   ▲                                                           │
//!   └───────────── fails again within `reopen_within` ──────────┘ (reopened, same ticket)
//! ```
//!
//! - A camera **offline** (or, with `on_picture_fault`, online with a faulty picture) for longer
//!   than `open_after` (default 30 min) opens a ticket for its maintainer, unless the time is
//!   inside a maintenance window (报备): planned work opens no ticket.
//! - **Deadlines** are set when the ticket opens: the first `[[tickets.sla]]` rule matching the
//!   camera's maintainer and class (default: class 1 respond 2 h / repair 24 h; otherwise the
//!   `respond`/`repair` defaults, 4 h / 48 h). A **major incident** (more than `major_cameras`
//!   cameras of one maintainer down at once, default 8) gives that maintainer's new tickets
//!   the `major_respond`/`major_repair` deadlines (1 h / 48 h) and marks them `major`.
//! - **Acknowledged** by the maintainer or an operator (`POST /api/tickets/{id}/ack`).
//! - **Resolved** automatically when the camera is back and stays healthy for `hold` (default
//!   10 min); the repair time runs to when it came back.
//! - **Closed** when `reopen_within` (default 24 h) passes without a new failure; a failure
//!   before that **reopens** the same ticket (its deadlines run on from the first opening).
//! - **SLA breach**: not acknowledged by `respond_by`, or not repaired by `repair_by`. Each
//!   breach is reported once, as an alert of kind `sla_breach` (by the wiring).
//!
//! The desk is pure: [`TicketDesk::tick`] takes every camera's current condition and the time
//! and returns what happened ([`TicketEvent`]s); the wiring stores them ([`TicketStore`]) and
//! publishes them (CloudEvents `cn.sharpeyes.ticket.<event>` through the alert outbox, and
//! `sla_breach` alerts). Times are wall-clock (`Time`): SLA deadlines are dates people read.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use crate::clock::Time;
use crate::config::duration::duration;
use crate::sqlite::{self, Durability};

/// The database file's name under the data directory.
pub const DB_FILE: &str = "tickets.db";

/// CloudEvents `type` prefix of ticket events.
pub const TYPE_PREFIX: &str = "cn.sharpeyes.ticket";

/// One SLA rule: deadlines for the cameras of a maintainer and/or class.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaRule {
    /// The maintainer this applies to (any when absent).
    pub maintainer: Option<String>,
    /// The camera class this applies to (any when absent).
    pub class: Option<String>,
    /// Acknowledge within this.
    #[serde(deserialize_with = "duration")]
    pub respond: Duration,
    /// Repair within this.
    #[serde(deserialize_with = "duration")]
    pub repair: Duration,
}

/// `[tickets]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TicketSettings {
    /// Open tickets at all (default true).
    pub enabled: bool,
    /// A camera down this long opens a ticket. Default 30 min.
    #[serde(deserialize_with = "duration")]
    pub open_after: Duration,
    /// A camera back this long resolves its ticket. Default 10 min.
    #[serde(deserialize_with = "duration")]
    pub hold: Duration,
    /// A resolved ticket closes after this; a failure before reopens it. Default 24 h.
    #[serde(deserialize_with = "duration")]
    pub reopen_within: Duration,
    /// Picture faults (online, not 完好) open tickets too. Default false.
    pub on_picture_fault: bool,
    /// Respond deadline when no rule matches. Default 4 h.
    #[serde(deserialize_with = "duration")]
    pub respond: Duration,
    /// Repair deadline when no rule matches. Default 48 h.
    #[serde(deserialize_with = "duration")]
    pub repair: Duration,
    /// More than this many cameras of one maintainer down at once is a major incident.
    pub major_cameras: usize,
    /// Respond deadline in a major incident. Default 1 h.
    #[serde(deserialize_with = "duration")]
    pub major_respond: Duration,
    /// Repair deadline in a major incident. Default 48 h.
    #[serde(deserialize_with = "duration")]
    pub major_repair: Duration,
    /// Rules, first match wins.
    pub sla: Vec<SlaRule>,
    /// How often tickets are moved (deadlines are checked). Default 5 s.
    #[serde(deserialize_with = "duration")]
    pub tick: Duration,
}

impl Default for TicketSettings {
    fn default() -> Self {
        let h = |n: u64| Duration::from_secs(n * 3600);
        Self {
            enabled: true,
            open_after: Duration::from_secs(30 * 60),
            hold: Duration::from_secs(10 * 60),
            reopen_within: h(24),
            on_picture_fault: false,
            respond: h(4),
            repair: h(48),
            major_cameras: 8,
            major_respond: h(1),
            major_repair: h(48),
            sla: vec![SlaRule {
                maintainer: None,
                class: Some("1".into()),
                respond: h(2),
                repair: h(24),
            }],
            tick: Duration::from_secs(5),
        }
    }
}

impl TicketSettings {
    /// The (respond, repair) deadlines of a camera.
    pub fn deadlines(&self, maintainer: &str, class: &str, major: bool) -> (Duration, Duration) {
        if major {
            return (self.major_respond, self.major_repair);
        }
        self.sla
            .iter()
            .find(|r| {
                r.maintainer.as_deref().is_none_or(|m| m == maintainer)
                    && r.class.as_deref().is_none_or(|c| c == class)
            })
            .map_or((self.respond, self.repair), |r| (r.respond, r.repair))
    }
}

/// Where a ticket is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// Waiting for the maintainer.
    Open,
    /// The maintainer (or an operator) took it.
    Acknowledged,
    /// The camera is back; closes unless it fails again.
    Resolved,
    /// Done.
    Closed,
}

impl TicketState {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    /// The state named `s`; anything unknown reads as `open`.
    pub fn parse(s: &str) -> Self {
        match s {
            "acknowledged" => Self::Acknowledged,
            "resolved" => Self::Resolved,
            "closed" => Self::Closed,
            _ => Self::Open,
        }
    }
}

/// A repair ticket (stored as its JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// Its id.
    pub id: i64,
    /// The camera.
    pub camera_id: String,
    /// The camera's maintainer when the ticket opened.
    pub maintainer: String,
    /// The camera's class.
    pub class: String,
    /// Why: the offline reason (`refused`, `stalled`, …) or `picture_fault`.
    pub reason: String,
    /// Where it is.
    pub state: TicketState,
    /// When the camera went down.
    pub down_since: Time,
    /// When the ticket opened.
    pub opened_at: Time,
    /// Acknowledge by.
    pub respond_by: Time,
    /// Repair by.
    pub repair_by: Time,
    /// Opened in a major incident of its maintainer.
    pub major: bool,
    /// When acknowledged.
    pub acked_at: Option<Time>,
    /// Who acknowledged.
    pub acked_by: Option<String>,
    /// When the camera came back (the repair time ends here).
    pub repaired_at: Option<Time>,
    /// When it was resolved (the camera had held for `hold`).
    pub resolved_at: Option<Time>,
    /// When it closed.
    pub closed_at: Option<Time>,
    /// Times it was reopened.
    pub reopened: u32,
    /// The respond deadline was missed.
    pub respond_breached: bool,
    /// The repair deadline was missed.
    pub repair_breached: bool,
}

/// What happened to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketEventKind {
    /// It opened.
    Opened,
    /// It was acknowledged.
    Acknowledged,
    /// The camera held: resolved.
    Resolved,
    /// It failed again before closing.
    Reopened,
    /// It closed.
    Closed,
    /// The respond deadline passed.
    RespondBreached,
    /// The repair deadline passed.
    RepairBreached,
}

impl TicketEventKind {
    /// The snake_case name (the last part of the CloudEvent type).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
            Self::Reopened => "reopened",
            Self::Closed => "closed",
            Self::RespondBreached => "respond_breached",
            Self::RepairBreached => "repair_breached",
        }
    }

    /// A breach of the SLA.
    pub fn is_breach(self) -> bool {
        matches!(self, Self::RespondBreached | Self::RepairBreached)
    }
}

/// One event of a ticket, with the ticket after it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketEvent {
    /// What happened.
    pub kind: TicketEventKind,
    /// When.
    pub at: Time,
    /// The ticket after the event.
    pub ticket: Ticket,
}

impl TicketEvent {
    /// The CloudEvents 1.0 JSON: type `cn.sharpeyes.ticket.<kind>`, id
    /// `ticket-<id>-<kind>-<ms>` (stable on redelivery), subject the camera.
    pub fn to_cloudevent(&self, source: &str) -> serde_json::Value {
        serde_json::json!({
            "specversion": "1.0",
            "id": self.event_id(),
            "source": source,
            "type": format!("{TYPE_PREFIX}.{}", self.kind.as_str()),
            "time": self.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "datacontenttype": "application/json",
            "subject": self.ticket.camera_id,
            "data": self.ticket,
        })
    }

    /// The event's stable id.
    pub fn event_id(&self) -> String {
        format!(
            "ticket-{}-{}-{}",
            self.ticket.id,
            self.kind.as_str(),
            self.at.timestamp_millis()
        )
    }
}

/// A camera's condition as the desk sees it at a tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The camera.
    pub camera_id: String,
    /// Its maintainer.
    pub maintainer: String,
    /// Its class.
    pub class: String,
    /// Down (offline, or picture-faulty when configured) since, with the reason; `None` when
    /// healthy.
    pub down: Option<(Time, String)>,
    /// Healthy since (for the hold); `None` while down, and while neither down nor up
    /// (connecting: no verdict, a ticket neither opens nor resolves).
    pub up_since: Option<Time>,
    /// Inside an active maintenance window now.
    pub excused: bool,
}

/// Which stored tickets to read: opened in `[from, to)` (either bound open), of one
/// maintainer and/or in one state when given. The default reads them all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketQuery {
    /// Opened at or after this instant.
    pub from: Option<Time>,
    /// Opened before this instant.
    pub to: Option<Time>,
    /// Of this maintainer only.
    pub maintainer: Option<String>,
    /// In this state only.
    pub state: Option<TicketState>,
}

/// The tickets and the rules that move them.
#[derive(Debug)]
pub struct TicketDesk {
    settings: TicketSettings,
    /// Tickets not closed, by camera.
    live: BTreeMap<String, Ticket>,
    next_id: i64,
}

fn after(t: Time, d: Duration) -> Time {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl TicketDesk {
    /// A desk with the tickets not yet closed (from [`TicketStore::live`]) and the next id.
    pub fn new(settings: TicketSettings, live: Vec<Ticket>, next_id: i64) -> Self {
        Self {
            settings,
            live: live.into_iter().map(|t| (t.camera_id.clone(), t)).collect(),
            next_id,
        }
    }

    /// The tickets not closed.
    pub fn live(&self) -> impl Iterator<Item = &Ticket> {
        self.live.values()
    }

    /// Moves every ticket by the cameras' conditions at `now`.
    pub fn tick(&mut self, cameras: &[Condition], now: Time) -> Vec<TicketEvent> {
        let mut out = Vec::new();
        let s = &self.settings;
        // Down cameras per maintainer, for major incidents.
        let mut down_by: HashMap<&str, usize> = HashMap::new();
        for c in cameras.iter().filter(|c| c.down.is_some()) {
            *down_by.entry(c.maintainer.as_str()).or_default() += 1;
        }
        for c in cameras {
            let event = |kind, t: &Ticket| TicketEvent {
                kind,
                at: now,
                ticket: t.clone(),
            };
            match (&c.down, self.live.get_mut(&c.camera_id)) {
                (Some((since, reason)), None) => {
                    if c.excused || after(*since, s.open_after) > now {
                        continue;
                    }
                    let major =
                        down_by.get(c.maintainer.as_str()).copied().unwrap_or(0) > s.major_cameras;
                    let (respond, repair) = s.deadlines(&c.maintainer, &c.class, major);
                    let t = Ticket {
                        id: self.next_id,
                        camera_id: c.camera_id.clone(),
                        maintainer: c.maintainer.clone(),
                        class: c.class.clone(),
                        reason: reason.clone(),
                        state: TicketState::Open,
                        down_since: *since,
                        opened_at: now,
                        respond_by: after(now, respond),
                        repair_by: after(now, repair),
                        major,
                        acked_at: None,
                        acked_by: None,
                        repaired_at: None,
                        resolved_at: None,
                        closed_at: None,
                        reopened: 0,
                        respond_breached: false,
                        repair_breached: false,
                    };
                    self.next_id += 1;
                    out.push(event(TicketEventKind::Opened, &t));
                    self.live.insert(c.camera_id.clone(), t);
                }
                (Some((_, reason)), Some(t)) => {
                    if t.state == TicketState::Resolved {
                        t.state = if t.acked_at.is_some() {
                            TicketState::Acknowledged
                        } else {
                            TicketState::Open
                        };
                        t.reopened += 1;
                        t.reason = reason.clone();
                        t.repaired_at = None;
                        t.resolved_at = None;
                        out.push(event(TicketEventKind::Reopened, t));
                    } else {
                        // Still down: it came back only briefly, or not at all.
                        t.repaired_at = None;
                    }
                }
                (None, Some(t)) => match t.state {
                    // Neither down nor up (connecting): nothing is proved either way.
                    TicketState::Open | TicketState::Acknowledged if c.up_since.is_none() => {}
                    TicketState::Open | TicketState::Acknowledged => {
                        let back = c.up_since.unwrap_or(now);
                        t.repaired_at.get_or_insert(back);
                        if after(back, s.hold) <= now {
                            t.state = TicketState::Resolved;
                            t.repaired_at = Some(back);
                            t.resolved_at = Some(now);
                            out.push(event(TicketEventKind::Resolved, t));
                        }
                    }
                    TicketState::Resolved => {
                        if t.resolved_at
                            .is_some_and(|r| after(r, s.reopen_within) <= now)
                        {
                            t.state = TicketState::Closed;
                            t.closed_at = Some(now);
                            out.push(event(TicketEventKind::Closed, t));
                        }
                    }
                    TicketState::Closed => {}
                },
                (None, None) => {}
            }
            if let Some(t) = self.live.get_mut(&c.camera_id) {
                if !t.respond_breached && t.acked_at.is_none() && now > t.respond_by {
                    t.respond_breached = true;
                    out.push(event(TicketEventKind::RespondBreached, t));
                }
                let repaired = t.repaired_at.is_some_and(|r| r <= t.repair_by);
                if !t.repair_breached
                    && !repaired
                    && matches!(t.state, TicketState::Open | TicketState::Acknowledged)
                    && now > t.repair_by
                {
                    t.repair_breached = true;
                    out.push(event(TicketEventKind::RepairBreached, t));
                }
            }
        }
        self.live.retain(|_, t| t.state != TicketState::Closed);
        out
    }

    /// Acknowledges ticket `id` by `actor` (only tickets of `maintainer` when given); `None`
    /// when no such live ticket.
    pub fn acknowledge(
        &mut self,
        id: i64,
        actor: &str,
        maintainer: Option<&str>,
        now: Time,
    ) -> Option<TicketEvent> {
        let t = self
            .live
            .values_mut()
            .find(|t| t.id == id && maintainer.is_none_or(|m| m == t.maintainer))?;
        if t.acked_at.is_some() {
            return None;
        }
        t.acked_at = Some(now);
        t.acked_by = Some(actor.to_string());
        if t.state == TicketState::Open {
            t.state = TicketState::Acknowledged;
        }
        Some(TicketEvent {
            kind: TicketEventKind::Acknowledged,
            at: now,
            ticket: t.clone(),
        })
    }
}

/// Where ticket events go besides the store (the wiring gives the alert outbox).
pub type Publisher = Box<dyn Fn(&[TicketEvent]) + Send + Sync>;

/// The desk, its store and its publisher, shared by the ticket thread and the API.
pub struct TicketService {
    desk: std::sync::Mutex<TicketDesk>,
    store: std::sync::Mutex<TicketStore>,
    publish: Publisher,
}

impl std::fmt::Debug for TicketService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketService").finish_non_exhaustive()
    }
}

impl TicketService {
    /// Opens the store in `data_dir` and resumes its live tickets.
    pub fn open(
        data_dir: &Path,
        settings: TicketSettings,
        publish: Publisher,
    ) -> anyhow::Result<Self> {
        let store = TicketStore::open(data_dir)?;
        let (live, next) = store.live()?;
        Ok(Self {
            desk: std::sync::Mutex::new(TicketDesk::new(settings, live, next)),
            store: std::sync::Mutex::new(store),
            publish,
        })
    }

    /// One tick (see [`TicketDesk::tick`]): events are stored, then published.
    pub fn tick(&self, cameras: &[Condition], now: Time) -> anyhow::Result<Vec<TicketEvent>> {
        let mut desk = self.desk.lock().unwrap();
        let events = desk.tick(cameras, now);
        self.commit(desk, &events)?;
        Ok(events)
    }

    /// Acknowledges (see [`TicketDesk::acknowledge`]); the ticket after it.
    pub fn acknowledge(
        &self,
        id: i64,
        actor: &str,
        maintainer: Option<&str>,
        now: Time,
    ) -> anyhow::Result<Option<Ticket>> {
        let mut desk = self.desk.lock().unwrap();
        let Some(e) = desk.acknowledge(id, actor, maintainer, now) else {
            return Ok(None);
        };
        let ticket = e.ticket.clone();
        self.commit(desk, &[e])?;
        Ok(Some(ticket))
    }

    /// The tickets not closed (a copy).
    pub fn live(&self) -> Vec<Ticket> {
        self.desk.lock().unwrap().live().cloned().collect()
    }

    /// Stored tickets (see [`TicketStore::tickets`]).
    pub fn tickets(&self, query: &TicketQuery) -> anyhow::Result<Vec<Ticket>> {
        self.store.lock().unwrap().tickets(query)
    }

    /// Stores and publishes `events`. The store lock is taken before the desk lock is let go,
    /// so events reach the store in the desk's order, but the desk (read by `/metrics` and the
    /// API) is never held across the write and its fsync.
    fn commit(
        &self,
        desk: std::sync::MutexGuard<'_, TicketDesk>,
        events: &[TicketEvent],
    ) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut store = self.store.lock().unwrap();
        drop(desk);
        store.record(events)?;
        drop(store);
        (self.publish)(events);
        Ok(())
    }
}

/// Figures of one maintainer over a set of tickets (KPIs).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct MaintainerKpi {
    /// The maintainer.
    pub maintainer: String,
    /// Tickets opened.
    pub opened: usize,
    /// Tickets still open or acknowledged.
    pub outstanding: usize,
    /// Mean minutes from opening to acknowledgement (acknowledged ones).
    pub mean_ack_min: Option<f64>,
    /// Mean minutes from the camera going down to it coming back (repaired ones).
    pub mean_repair_min: Option<f64>,
    /// Tickets with a breached deadline.
    pub breached: usize,
    /// breached / opened.
    pub breach_rate: Option<f64>,
}

/// KPIs per maintainer, sorted by name.
pub fn kpis(tickets: &[Ticket]) -> Vec<MaintainerKpi> {
    let mut by: BTreeMap<&str, Vec<&Ticket>> = BTreeMap::new();
    for t in tickets {
        by.entry(t.maintainer.as_str()).or_default().push(t);
    }
    by.into_iter()
        .map(|(m, ts)| {
            let mean =
                |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
            let mins = |a: Time, b: Time| (b - a).num_milliseconds() as f64 / 60_000.0;
            let breached = ts
                .iter()
                .filter(|t| t.respond_breached || t.repair_breached)
                .count();
            MaintainerKpi {
                maintainer: m.to_string(),
                opened: ts.len(),
                outstanding: ts
                    .iter()
                    .filter(|t| matches!(t.state, TicketState::Open | TicketState::Acknowledged))
                    .count(),
                mean_ack_min: mean(
                    ts.iter()
                        .filter_map(|t| t.acked_at.map(|a| mins(t.opened_at, a)))
                        .collect(),
                ),
                mean_repair_min: mean(
                    ts.iter()
                        .filter_map(|t| t.repaired_at.map(|r| mins(t.down_since, r)))
                        .collect(),
                ),
                breached,
                breach_rate: (!ts.is_empty()).then(|| breached as f64 / ts.len() as f64),
            }
        })
        .collect()
}

/// The ticket database: one row per ticket (its latest form) and an append-only event log.
pub struct TicketStore {
    conn: Connection,
}

impl std::fmt::Debug for TicketStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketStore").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY, camera_id TEXT NOT NULL, maintainer TEXT NOT NULL,
    state TEXT NOT NULL, opened_ms INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tickets_state ON tickets (state);
CREATE INDEX IF NOT EXISTS tickets_opened ON tickets (opened_ms);
CREATE TABLE IF NOT EXISTS ticket_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id INTEGER NOT NULL, kind TEXT NOT NULL,
    at_ms INTEGER NOT NULL, body TEXT NOT NULL
);
";

/// The path of the database under `data_dir`.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

impl TicketStore {
    /// Opens (creating) the store for writing.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let (conn, _) =
            sqlite::open_for_writing(data_dir, DB_FILE, "ticket store", Durability::Full)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// Opens the store read-only; `None` before the first ticket.
    pub fn open_read_only(data_dir: &Path) -> anyhow::Result<Option<Self>> {
        Ok(sqlite::open_read_only(&db_path(data_dir), "ticket store")?.map(|conn| Self { conn }))
    }

    /// Stores the events (each ticket's latest form, and the log) in one transaction.
    pub fn record(&mut self, events: &[TicketEvent]) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        for e in events {
            let body = serde_json::to_string(&e.ticket)?;
            tx.execute(
                "INSERT INTO tickets (id, camera_id, maintainer, state, opened_ms, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body",
                params![
                    e.ticket.id,
                    e.ticket.camera_id,
                    e.ticket.maintainer,
                    e.ticket.state.as_str(),
                    e.ticket.opened_at.timestamp_millis(),
                    body
                ],
            )?;
            tx.execute(
                "INSERT INTO ticket_events (ticket_id, kind, at_ms, body) VALUES (?1, ?2, ?3, ?4)",
                params![e.ticket.id, e.kind.as_str(), e.at.timestamp_millis(), body],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The tickets `query` selects, newest first.
    pub fn tickets(&self, query: &TicketQuery) -> anyhow::Result<Vec<Ticket>> {
        let TicketQuery {
            from,
            to,
            maintainer,
            state,
        } = query;
        let mut stmt = self.conn.prepare(
            "SELECT body FROM tickets WHERE opened_ms >= ?1 AND opened_ms < ?2
               AND (?3 IS NULL OR maintainer = ?3) AND (?4 IS NULL OR state = ?4)
             ORDER BY id DESC",
        )?;
        let rows = stmt.query_map(
            params![
                from.map_or(i64::MIN, |t| t.timestamp_millis()),
                to.map_or(i64::MAX, |t| t.timestamp_millis()),
                maintainer,
                state.map(TicketState::as_str)
            ],
            |r| r.get::<_, String>(0),
        )?;
        rows.map(|b| Ok(serde_json::from_str(&b?)?)).collect()
    }

    /// The tickets not closed, and the next free id (for [`TicketDesk::new`]).
    pub fn live(&self) -> anyhow::Result<(Vec<Ticket>, i64)> {
        let live = self
            .tickets(&TicketQuery::default())?
            .into_iter()
            .filter(|t| t.state != TicketState::Closed)
            .collect();
        let max: Option<i64> = self
            .conn
            .query_row("SELECT MAX(id) FROM tickets", [], |r| r.get(0))?;
        Ok((live, max.unwrap_or(0) + 1))
    }

    /// The event log of one ticket, oldest first: (kind, time).
    pub fn events(&self, id: i64) -> anyhow::Result<Vec<(String, Time)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, at_ms FROM ticket_events WHERE ticket_id = ?1 ORDER BY seq")?;
        let rows = stmt.query_map(params![id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                chrono::DateTime::from_timestamp_millis(r.get(1)?).unwrap_or_default(),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_time;

    fn t(min: i64) -> Time {
        parse_time("2026-11-10T00:00:00Z") + chrono::Duration::minutes(min)
    }

    fn cond(id: &str, m: &str, class: &str, down: Option<i64>, up: Option<i64>) -> Condition {
        Condition {
            camera_id: id.into(),
            maintainer: m.into(),
            class: class.into(),
            down: down.map(|d| (t(d), "refused".to_string())),
            up_since: up.map(t),
            excused: false,
        }
    }

    fn kinds(ev: &[TicketEvent]) -> Vec<(&str, TicketEventKind)> {
        ev.iter()
            .map(|e| (e.ticket.camera_id.as_str(), e.kind))
            .collect()
    }

    use TicketEventKind::*;

    #[test]
    fn lifecycle_open_ack_resolve_close_with_class_deadlines() {
        let mut d = TicketDesk::new(TicketSettings::default(), Vec::new(), 1);
        // Down at 0; nothing before 30 min.
        assert!(
            d.tick(&[cond("c1", "华安", "1", Some(0), None)], t(29))
                .is_empty()
        );
        let ev = d.tick(&[cond("c1", "华安", "1", Some(0), None)], t(30));
        assert_eq!(kinds(&ev), [("c1", Opened)]);
        let tk = &ev[0].ticket;
        assert_eq!(
            (tk.respond_by, tk.repair_by),
            (t(30 + 120), t(30 + 24 * 60))
        );
        assert!(!tk.major);
        let ack = d.acknowledge(tk.id, "运维甲", Some("华安"), t(40)).unwrap();
        assert_eq!(ack.ticket.state, TicketState::Acknowledged);
        assert!(
            d.acknowledge(tk.id, "x", None, t(41)).is_none(),
            "acked once"
        );
        // Back at 60; resolved after the 10 min hold, repair time to 60.
        assert!(
            d.tick(&[cond("c1", "华安", "1", None, Some(60))], t(65))
                .is_empty()
        );
        let ev = d.tick(&[cond("c1", "华安", "1", None, Some(60))], t(70));
        assert_eq!(kinds(&ev), [("c1", Resolved)]);
        assert_eq!(ev[0].ticket.repaired_at, Some(t(60)));
        // Closed a day later.
        let ev = d.tick(&[cond("c1", "华安", "1", None, Some(60))], t(70 + 24 * 60));
        assert_eq!(kinds(&ev), [("c1", Closed)]);
        assert_eq!(d.live().count(), 0);
    }

    #[test]
    fn breaches_reopen_major_incidents_and_windows() {
        let s = TicketSettings::default();
        let mut d = TicketDesk::new(s.clone(), Vec::new(), 1);
        // Class 2: respond 4 h. Not acknowledged by then: one respond breach.
        d.tick(&[cond("c2", "天网", "2", Some(0), None)], t(30));
        let ev = d.tick(&[cond("c2", "天网", "2", Some(0), None)], t(30 + 241));
        assert_eq!(kinds(&ev), [("c2", RespondBreached)]);
        assert!(
            d.tick(&[cond("c2", "天网", "2", Some(0), None)], t(30 + 242))
                .is_empty()
        );
        // Repair deadline 48 h.
        let ev = d.tick(
            &[cond("c2", "天网", "2", Some(0), None)],
            t(30 + 48 * 60 + 1),
        );
        assert_eq!(kinds(&ev), [("c2", RepairBreached)]);
        // Back, resolved, fails again within 24 h: reopened, same ticket.
        d.tick(&[cond("c2", "天网", "2", None, Some(3000))], t(3011));
        let ev = d.tick(&[cond("c2", "天网", "2", Some(3100), None)], t(3101));
        assert_eq!(kinds(&ev), [("c2", Reopened)]);
        assert_eq!((ev[0].ticket.id, ev[0].ticket.reopened), (1, 1));

        // Nine cameras of one maintainer down at once (> 8): major deadlines.
        let mut d = TicketDesk::new(s, Vec::new(), 10);
        let many: Vec<_> = (0..9)
            .map(|i| cond(&format!("m{i}"), "华安", "1", Some(0), None))
            .collect();
        let ev = d.tick(&many, t(30));
        assert_eq!(ev.len(), 9);
        assert!(
            ev.iter()
                .all(|e| e.ticket.major && e.ticket.respond_by == t(90))
        );
        // A camera inside a maintenance window opens no ticket.
        let mut excused = cond("w1", "华安", "1", Some(0), None);
        excused.excused = true;
        assert!(d.tick(&[excused], t(300)).is_empty());
        // A maintainer acknowledges only its own tickets.
        assert!(d.acknowledge(10, "天网人", Some("天网"), t(31)).is_none());
    }

    #[test]
    fn store_round_trip_kpis_and_cloudevents() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TicketStore::open(dir.path()).unwrap();
        let mut d = TicketDesk::new(TicketSettings::default(), Vec::new(), 1);
        let mut ev = d.tick(&[cond("c1", "华安", "1", Some(0), None)], t(30));
        ev.extend(d.acknowledge(1, "a", None, t(50)));
        ev.extend(d.tick(&[cond("c1", "华安", "1", None, Some(90))], t(100)));
        store.record(&ev).unwrap();
        let (live, next) = store.live().unwrap();
        assert_eq!((live.len(), next), (1, 2));
        assert_eq!(live[0].state, TicketState::Resolved);
        let log: Vec<_> = store.events(1).unwrap().into_iter().map(|e| e.0).collect();
        assert_eq!(log, ["opened", "acknowledged", "resolved"]);
        let k = kpis(&store.tickets(&TicketQuery::default()).unwrap());
        assert_eq!(k[0].maintainer, "华安");
        assert_eq!(k[0].mean_ack_min, Some(20.0));
        assert_eq!(k[0].mean_repair_min, Some(90.0));
        assert_eq!(k[0].breach_rate, Some(0.0));
        let ce = ev[0].to_cloudevent("/sharpeyes/0");
        assert_eq!(ce["type"], "cn.sharpeyes.ticket.opened");
        assert_eq!(ce["subject"], "c1");
        assert_eq!(ce["data"]["maintainer"], "华安");
        // A desk restarted from the store carries on.
        let mut d2 = TicketDesk::new(TicketSettings::default(), live, next);
        let ev = d2.tick(&[cond("c1", "华安", "1", None, Some(90))], t(100 + 24 * 60));
        assert_eq!(kinds(&ev), [("c1", Closed)]);
    }
}
