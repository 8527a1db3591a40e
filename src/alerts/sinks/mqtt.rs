//! The MQTT sink: delivers the [`Outbox`]'s alert messages to an MQTT broker at QoS 1, and
//! keeps the availability and per-camera status topics up to date.
//!
//! ## Topics (`<prefix>` is [`MqttConfig::topic_prefix`], `sharpeyes` by default)
//!
//! | topic | payload | QoS | retained |
//! |---|---|---|---|
//! | `<prefix>/events` | one CloudEvents 1.0 JSON alert message (see [`event`](crate::alerts::event)) | 1 | no |
//! | `<prefix>/available` | `online` on every connect; `offline` as the last will and on a clean stop | 1 | yes |
//! | `<prefix>/shards/<i>/available` | the same, instead of the above, for shard `i` of a sharded deployment (`--shard i/N`, N > 1): each instance has its own will, so one shard going away does not mark the others offline | 1 | yes |
//! | `<prefix>/cameras/<id>/status` | the latest status JSON given to [`MqttSink::publish_status`] | 1 | yes |
//!
//! In `<id>`, the characters MQTT gives a meaning in topics (`/`, `+`, `#`) and NUL are
//! replaced by `_` ([`topic_segment`]).
//!
//! ## Delivery: at-least-once, keyed by the CloudEvent id
//!
//! The sink reads the messages pending for it (`"mqtt"` by default) from the outbox in order,
//! publishes them at QoS 1, and marks a message delivered **only when the broker's PUBACK for
//! that very packet arrives**. Packet ids are mapped to event ids exactly: the sink is the
//! only publisher on its connection and publishes through rumqttc's request queue, which hands
//! out packet ids in request order (every `Outgoing::Publish(pkid)` event pairs with the
//! oldest request not yet paired). At most [`MqttConfig::window`] messages are in flight, well
//! below rumqttc's packet-id window, so a packet id is never reused while in flight (if rumqttc
//! ever reports a packet-id collision, the sink drops the connection rather than guess).
//!
//! When the broker is unreachable the sink reconnects with exponential backoff and jitter
//! (the crate's one [`Backoff`], [`Jitter::Equal`], [`MqttConfig::backoff_min`] to
//! [`MqttConfig::backoff_max`]); messages stay pending in the
//! outbox meanwhile. Each connection is a fresh MQTT session (`clean_session`) with a fresh
//! rumqttc event loop, so nothing of a lost connection (queued requests, late acks) can be
//! confused with the next one: everything that was not acknowledged is simply published again
//! from the outbox. So is everything acknowledged but not yet recorded when the process died.
//! Consumers therefore see every message at least once and deduplicate on the CloudEvent `id`,
//! which is identical on every copy.
//!
//! Statuses are not in the outbox: they are state, not events. The sink keeps the latest per
//! camera in memory and (re)publishes it retained after every connect, so a broker that lost
//! its retained messages gets them back; a status replaced before it was sent is never sent.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::alerts::sinks::tls::TlsFiles;
use crate::netaddr::is_loopback_host;
use anyhow::{Context, bail};
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing};
use rumqttc::{Packet, QoS};
use serde::Serialize;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::alerts::outbox::Outbox;
use crate::backoff::{Backoff, Jitter};

/// The outbox sink name the MQTT sink uses unless told otherwise.
pub const SINK_NAME: &str = "mqtt";

/// rumqttc's packet-id window (`MqttOptions::set_inflight`); publishes in flight (events,
/// statuses and availability together) stay below it.
const RUMQTTC_INFLIGHT: u16 = 100;

/// The most publishes of any kind in flight on one connection.
const MAX_IN_FLIGHT: usize = 90;

/// Capacity of rumqttc's request channel (above [`MAX_IN_FLIGHT`]: sending never waits).
const REQUEST_CAPACITY: usize = 128;

/// How long a clean stop waits for the broker to acknowledge `offline`.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// Settings of the MQTT sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttConfig {
    /// Broker URL: `mqtt://host:port` or `tcp://host:port` (port 1883 by default), or with
    /// TLS `mqtts://host:port` or `ssl://…` (port 8883 by default); a user and password may be
    /// given as `mqtt://user:password@host`.
    pub url: String,
    /// The CA and client certificate for `mqtts://` (refused on a plain URL).
    pub tls: TlsFiles,
    /// Prefix of every topic (no trailing `/`).
    pub topic_prefix: String,
    /// MQTT client id. Must be unique per broker (a second client with the same id takes
    /// the connection over).
    pub client_id: String,
    /// The outbox sink this sink delivers for.
    pub sink_name: String,
    /// MQTT keep-alive (at least 1 s).
    pub keep_alive: Duration,
    /// The most alert messages published and not yet acknowledged (1 to 64).
    pub window: usize,
    /// How often the outbox is read even without a wake-up (messages enqueued by another
    /// process, retries after an error).
    pub poll_interval: Duration,
    /// First reconnection delay.
    pub backoff_min: Duration,
    /// Longest reconnection delay.
    pub backoff_max: Duration,
    /// Largest MQTT packet accepted or sent, bytes.
    pub max_packet_size: usize,
    /// The shard index of a sharded deployment: availability goes to
    /// `<prefix>/shards/<i>/available` instead of `<prefix>/available`.
    pub shard: Option<u32>,
}

impl MqttConfig {
    /// A config with defaults for everything but the broker URL, the topic prefix and the
    /// client id.
    pub fn new(url: &str, topic_prefix: &str, client_id: &str) -> Self {
        Self {
            url: url.to_string(),
            topic_prefix: topic_prefix.trim_end_matches('/').to_string(),
            client_id: client_id.to_string(),
            ..Self::default()
        }
    }

    /// The topics this config publishes on.
    pub fn topics(&self) -> Topics {
        let mut t = Topics::new(&self.topic_prefix);
        if let Some(i) = self.shard {
            t.available = format!("{}/shards/{i}/available", t.prefix);
        }
        t
    }
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            url: "mqtt://127.0.0.1:1883".to_string(),
            topic_prefix: "sharpeyes".to_string(),
            client_id: "sharpeyes".to_string(),
            sink_name: SINK_NAME.to_string(),
            keep_alive: Duration::from_secs(15),
            window: 32,
            poll_interval: Duration::from_secs(1),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_packet_size: 1024 * 1024,
            tls: TlsFiles::default(),
            shard: None,
        }
    }
}

/// The topic names of one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// `<prefix>/events`: alert messages.
    pub events: String,
    /// `<prefix>/available` (`<prefix>/shards/<i>/available` for a shard): `online` /
    /// `offline`, retained.
    pub available: String,
    prefix: String,
}

impl Topics {
    /// The topics under `prefix`.
    pub fn new(prefix: &str) -> Self {
        let prefix = prefix.trim_end_matches('/');
        Self {
            events: format!("{prefix}/events"),
            available: format!("{prefix}/available"),
            prefix: prefix.to_string(),
        }
    }

    /// `<prefix>/cameras/<id>/status`, with `id` made topic-safe by [`topic_segment`].
    pub fn camera_status(&self, camera_id: &str) -> String {
        format!(
            "{}/cameras/{}/status",
            self.prefix,
            topic_segment(camera_id)
        )
    }
}

/// `s` usable as one topic level: `/`, `+`, `#` and NUL become `_`; empty becomes `_`.
pub fn topic_segment(s: &str) -> String {
    if s.is_empty() {
        return "_".to_string();
    }
    s.chars()
        .map(|c| match c {
            '/' | '+' | '#' | '\0' => '_',
            c => c,
        })
        .collect()
}

/// Counters and gauges of the sink, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct MqttMetrics {
    /// Whether a connection to the broker is up.
    pub connected: bool,
    /// Alert messages written to the broker (redeliveries included).
    pub published_total: u64,
    /// Alert messages acknowledged by the broker and marked delivered in the outbox.
    pub delivered_total: u64,
    /// Camera statuses acknowledged by the broker.
    pub status_published_total: u64,
    /// Successful connections (the first one included).
    pub connects_total: u64,
    /// Failed connection attempts and lost connections.
    pub connection_errors_total: u64,
    /// Alert messages published and not yet acknowledged.
    pub in_flight: u64,
}

#[derive(Debug, Default)]
struct StatusBook {
    latest: HashMap<String, Vec<u8>>,
    dirty: VecDeque<String>,
    dirty_set: HashSet<String>,
}

impl StatusBook {
    fn set(&mut self, camera_id: String, payload: Vec<u8>) {
        if self.dirty_set.insert(camera_id.clone()) {
            self.dirty.push_back(camera_id.clone());
        }
        self.latest.insert(camera_id, payload);
    }

    fn mark_all_dirty(&mut self) {
        for id in self.latest.keys() {
            if self.dirty_set.insert(id.clone()) {
                self.dirty.push_back(id.clone());
            }
        }
    }

    fn pop(&mut self) -> Option<(String, Vec<u8>)> {
        while let Some(id) = self.dirty.pop_front() {
            self.dirty_set.remove(&id);
            if let Some(p) = self.latest.get(&id) {
                return Some((id, p.clone()));
            }
        }
        None
    }

    fn push_front(&mut self, id: String) {
        if self.dirty_set.insert(id.clone()) {
            self.dirty.push_front(id);
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    connected: AtomicBool,
    published_total: AtomicU64,
    delivered_total: AtomicU64,
    status_published_total: AtomicU64,
    connects_total: AtomicU64,
    connection_errors_total: AtomicU64,
    in_flight: AtomicU64,
    statuses: Mutex<StatusBook>,
    status_changed: Notify,
}

/// A running MQTT sink. See the module docs.
///
/// Dropping it stops the delivery task the same way as [`MqttSink::shutdown`] (without
/// waiting for it).
#[derive(Debug)]
pub struct MqttSink {
    shared: Arc<Shared>,
    topics: Topics,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl MqttSink {
    /// Registers `config.sink_name` in `outbox` and starts delivering in a tokio task (call
    /// from within a tokio runtime). Fails only on a bad config; an unreachable broker is
    /// retried for ever.
    pub fn start(config: MqttConfig, outbox: Outbox) -> anyhow::Result<Self> {
        if config.window == 0 || config.window > 64 {
            bail!("mqtt: window must be 1 to 64, not {}", config.window);
        }
        if config.topic_prefix.is_empty()
            || config.topic_prefix.contains(['+', '#', '\0'])
            || config.topic_prefix.starts_with('$')
        {
            bail!("mqtt: bad topic prefix {:?}", config.topic_prefix);
        }
        let topics = config.topics();
        let (options, broker) = mqtt_options(&config, &topics)?;
        outbox.register_sink(&config.sink_name)?;
        let shared = Arc::new(Shared::default());
        let (stop, stop_rx) = watch::channel(false);
        let ctx = Ctx {
            config,
            topics: topics.clone(),
            options,
            broker,
            outbox,
            shared: shared.clone(),
        };
        let task = tokio::spawn(run(ctx, stop_rx));
        Ok(Self {
            shared,
            topics,
            stop,
            task: Some(task),
        })
    }

    /// The topics it publishes on.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// Sets the status of a camera, published retained on `<prefix>/cameras/<id>/status`.
    /// Best effort and latest wins: a status replaced before it could be sent is not sent;
    /// every camera's latest status is published again after each reconnection.
    pub fn publish_status(&self, camera_id: &str, status: &serde_json::Value) {
        self.status_publisher().publish(camera_id, status);
    }

    /// Whether a connection to the broker is up.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Alert messages written to the broker (redeliveries included).
    pub fn published_total(&self) -> u64 {
        self.shared.published_total.load(Ordering::Relaxed)
    }

    /// Alert messages acknowledged by the broker and marked delivered.
    pub fn delivered_total(&self) -> u64 {
        self.shared.delivered_total.load(Ordering::Relaxed)
    }

    /// All counters and gauges.
    pub fn metrics(&self) -> MqttMetrics {
        let s = &self.shared;
        MqttMetrics {
            connected: s.connected.load(Ordering::Relaxed),
            published_total: s.published_total.load(Ordering::Relaxed),
            delivered_total: s.delivered_total.load(Ordering::Relaxed),
            status_published_total: s.status_published_total.load(Ordering::Relaxed),
            connects_total: s.connects_total.load(Ordering::Relaxed),
            connection_errors_total: s.connection_errors_total.load(Ordering::Relaxed),
            in_flight: s.in_flight.load(Ordering::Relaxed),
        }
    }

    /// A handle that publishes camera statuses from another task (see
    /// [`MqttSink::publish_status`]).
    pub fn status_publisher(&self) -> StatusPublisher {
        StatusPublisher {
            shared: self.shared.clone(),
        }
    }

    /// Renders this sink's figures as `sharpeyes_alert_sink_*{sink="mqtt"}` at scrape time.
    pub fn metric_source(&self) -> crate::telemetry::MetricSource {
        use crate::telemetry::{counter, family, gauge};
        use prometheus::proto::MetricType;
        let shared = self.shared.clone();
        Arc::new(move || {
            let s = &shared;
            let l = [("sink", "mqtt")];
            let c = |name: &str, help: &str, v: &AtomicU64| {
                family(
                    name,
                    help,
                    MetricType::COUNTER,
                    vec![counter(&l, v.load(Ordering::Relaxed) as f64)],
                )
            };
            vec![
                family(
                    "sharpeyes_alert_sink_connected",
                    "Whether the sink's connection to its receiver is up.",
                    MetricType::GAUGE,
                    vec![gauge(&l, s.connected.load(Ordering::Relaxed) as u8 as f64)],
                ),
                c(
                    "sharpeyes_alert_sink_delivered_total",
                    "Alert messages the receiver acknowledged (marked delivered in the outbox).",
                    &s.delivered_total,
                ),
                c(
                    "sharpeyes_alert_sink_published_total",
                    "Alert messages sent to the receiver, redeliveries included.",
                    &s.published_total,
                ),
                c(
                    "sharpeyes_alert_sink_connection_errors_total",
                    "Failed connection attempts and lost connections.",
                    &s.connection_errors_total,
                ),
                c(
                    "sharpeyes_mqtt_status_published_total",
                    "Camera statuses the MQTT broker acknowledged.",
                    &s.status_published_total,
                ),
            ]
        })
    }

    /// Stops cleanly: publishes `offline` (retained), waits up to 3 s for the broker to
    /// acknowledge it and what was in flight before it, disconnects, and returns when the
    /// task has ended. Messages not acknowledged stay pending for the next start.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(STOP_TIMEOUT + Duration::from_secs(2), task).await;
        }
    }
}

/// Publishes retained camera statuses through a running [`MqttSink`].
#[derive(Debug, Clone)]
pub struct StatusPublisher {
    shared: Arc<Shared>,
}

impl StatusPublisher {
    /// Same as [`MqttSink::publish_status`].
    pub fn publish(&self, camera_id: &str, status: &serde_json::Value) {
        let payload = status.to_string().into_bytes();
        self.shared
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set(camera_id.to_string(), payload);
        self.shared.status_changed.notify_one();
    }
}

impl Drop for MqttSink {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Builds the rumqttc options; returns them with `host:port` for logs (never credentials).
fn mqtt_options(config: &MqttConfig, topics: &Topics) -> anyhow::Result<(MqttOptions, String)> {
    let url = url::Url::parse(&config.url).with_context(|| "mqtt: bad broker url".to_string())?;
    let tls = match url.scheme() {
        "mqtt" | "tcp" => {
            config.tls.refuse_on_plain("[mqtt]", url.scheme())?;
            None
        }
        "mqtts" | "ssl" => Some(config.tls.load("[mqtt]")?),
        other => bail!(
            "mqtt: unsupported url scheme {other:?} (use mqtt://host:port, or mqtts://host:port for TLS)"
        ),
    };
    let local = is_loopback_host(url.host_str().unwrap_or_default());
    let host = url
        .host_str()
        .context("mqtt: broker url has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url
        .port()
        .unwrap_or(if tls.is_some() { 8883 } else { 1883 });
    let mut o = MqttOptions::new(config.client_id.clone(), host.clone(), port);
    o.set_keep_alive(config.keep_alive.max(Duration::from_secs(1)));
    o.set_clean_session(true);
    o.set_inflight(RUMQTTC_INFLIGHT);
    o.set_max_packet_size(config.max_packet_size, config.max_packet_size);
    o.set_last_will(LastWill::new(
        topics.available.clone(),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if !url.username().is_empty() {
        o.set_credentials(url.username(), url.password().unwrap_or_default());
    }
    match tls {
        Some(t) => {
            o.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Simple {
                    ca: t.ca_pem,
                    alpn: None,
                    client_auth: t.client,
                },
            ));
        }
        None if !local => tracing::warn!(
            broker = %format!("{host}:{port}"),
            "mqtt: plain mqtt:// to a broker off this machine: alerts and the broker password \
             cross the network in clear; use mqtts:// (see [mqtt] ca_file)"
        ),
        None => {}
    }
    Ok((o, format!("{host}:{port}")))
}

struct Ctx {
    config: MqttConfig,
    topics: Topics,
    options: MqttOptions,
    broker: String,
    outbox: Outbox,
    shared: Arc<Shared>,
}

/// Completes when a stop is asked for (or the handle is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// The delivery task: connect, run a session until it fails, back off, again.
async fn run(ctx: Ctx, mut stop: watch::Receiver<bool>) {
    let mut backoff =
        Backoff::new(ctx.config.backoff_min, ctx.config.backoff_max).with_jitter(Jitter::Equal);
    let mut failures = 0u64;
    loop {
        if *stop.borrow() {
            break;
        }
        let (client, mut eventloop) = AsyncClient::new(ctx.options.clone(), REQUEST_CAPACITY);
        let first = tokio::select! {
            biased;
            _ = stopped(&mut stop) => break,
            r = eventloop.poll() => r,
        };
        let failure = match first {
            Ok(Event::Incoming(Packet::ConnAck(_))) => None,
            Ok(other) => Some(format!("unexpected first event {other:?}")),
            Err(e) => Some(e.to_string()),
        };
        if let Some(error) = failure {
            ctx.shared
                .connection_errors_total
                .fetch_add(1, Ordering::Relaxed);
            failures += 1;
            let wait = backoff.next_delay(&mut rand::thread_rng());
            tracing::warn!(
                broker = %ctx.broker,
                %error,
                failures,
                retry_in_ms = wait.as_millis() as u64,
                "mqtt: cannot connect; alerts stay in the outbox"
            );
            tokio::select! {
                biased;
                _ = stopped(&mut stop) => break,
                _ = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        failures = 0;
        ctx.shared.connects_total.fetch_add(1, Ordering::Relaxed);
        ctx.shared.connected.store(true, Ordering::Relaxed);
        tracing::info!(broker = %ctx.broker, "mqtt: connected");
        let began = Instant::now();
        let end = Session::new(&ctx, client).run(eventloop, &mut stop).await;
        ctx.shared.connected.store(false, Ordering::Relaxed);
        ctx.shared.in_flight.store(0, Ordering::Relaxed);
        match end {
            End::Stopped => break,
            End::Lost(error) => {
                ctx.shared
                    .connection_errors_total
                    .fetch_add(1, Ordering::Relaxed);
                if began.elapsed() > Duration::from_secs(10) {
                    backoff.reset();
                }
                let wait = backoff.next_delay(&mut rand::thread_rng());
                tracing::warn!(
                    broker = %ctx.broker,
                    %error,
                    retry_in_ms = wait.as_millis() as u64,
                    "mqtt: connection lost; unacknowledged alerts will be published again"
                );
                tokio::select! {
                    biased;
                    _ = stopped(&mut stop) => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
    tracing::info!(broker = %ctx.broker, "mqtt: sink stopped");
}

/// How a session ended.
enum End {
    Stopped,
    Lost(String),
}

/// What a publish in flight was.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tag {
    Event(String),
    Status,
    Online,
    Offline,
}

/// Aborts the wrapped task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One connection: exact packet-id bookkeeping lives and dies with it.
struct Session<'a> {
    ctx: &'a Ctx,
    client: AsyncClient,
    /// Publishes handed to rumqttc whose packet id is not known yet, in request order.
    expected: VecDeque<Tag>,
    /// Publishes written with this packet id, waiting for their PUBACK.
    by_pkid: HashMap<u16, Tag>,
    /// Event ids published on this connection and not yet recorded as delivered.
    in_flight: HashSet<String>,
    /// Event ids acknowledged, to be recorded as delivered.
    acked: Vec<String>,
    /// Whether the outbox should be read again.
    need_fill: bool,
    /// Set once the broker acknowledged `offline` during a clean stop.
    offline_acked: bool,
}

impl<'a> Session<'a> {
    fn new(ctx: &'a Ctx, client: AsyncClient) -> Self {
        Self {
            ctx,
            client,
            expected: VecDeque::new(),
            by_pkid: HashMap::new(),
            in_flight: HashSet::new(),
            acked: Vec::new(),
            need_fill: true,
            offline_acked: false,
        }
    }

    async fn run(mut self, mut eventloop: EventLoop, stop: &mut watch::Receiver<bool>) -> End {
        let (tx, mut events) = mpsc::unbounded_channel::<Result<Event, ConnectionError>>();
        let _poller = AbortOnDrop(tokio::spawn(async move {
            loop {
                let r = eventloop.poll().await;
                let failed = r.is_err();
                if tx.send(r).is_err() || failed {
                    return;
                }
            }
        }));
        let ctx = self.ctx;
        let notify = ctx.outbox.notifier(&ctx.config.sink_name);
        let mut tick = tokio::time::interval(self.ctx.config.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        let topic = self.ctx.topics.available.clone();
        self.send(&topic, b"online".to_vec(), true, Tag::Online);
        self.ctx
            .shared
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .mark_all_dirty();

        loop {
            self.commit_acks().await;
            self.flush_statuses();
            if self.need_fill {
                self.need_fill = false;
                self.fill().await;
            }
            tokio::select! {
                biased;
                _ = stopped(stop) => return self.stop(&mut events).await,
                ev = events.recv() => {
                    let Some(ev) = ev else { return End::Lost("event loop ended".into()) };
                    if let Err(e) = self.on_poll(ev) {
                        return End::Lost(e);
                    }
                    while let Ok(ev) = events.try_recv() {
                        if let Err(e) = self.on_poll(ev) {
                            self.commit_acks().await;
                            return End::Lost(e);
                        }
                    }
                }
                _ = ctx.shared.status_changed.notified() => {}
                _ = notify.notified() => self.need_fill = true,
                _ = tick.tick() => self.need_fill = true,
            }
        }
    }

    fn in_flight_total(&self) -> usize {
        self.expected.len() + self.by_pkid.len()
    }

    /// Hands one QoS 1 publish to rumqttc; false when the window is full or rumqttc refused.
    fn send(&mut self, topic: &str, payload: Vec<u8>, retain: bool, tag: Tag) -> bool {
        if self.in_flight_total() >= MAX_IN_FLIGHT {
            return false;
        }
        self.expected.push_back(tag);
        match self
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
        {
            Ok(()) => true,
            Err(e) => {
                self.expected.pop_back();
                tracing::debug!(error = %e, "mqtt: publish not queued; retried later");
                false
            }
        }
    }

    /// Handles one result of the event loop; an error ends the session.
    fn on_poll(&mut self, ev: Result<Event, ConnectionError>) -> Result<(), String> {
        match ev.map_err(|e| e.to_string())? {
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                let Some(tag) = self.expected.pop_front() else {
                    return Err(format!("publish {pkid} that the sink did not send"));
                };
                if pkid == 0 {
                    return Err("QoS 0 publish where QoS 1 was asked".into());
                }
                if matches!(tag, Tag::Event(_)) {
                    self.ctx
                        .shared
                        .published_total
                        .fetch_add(1, Ordering::Relaxed);
                }
                if let Some(old) = self.by_pkid.insert(pkid, tag) {
                    return Err(format!("packet id {pkid} reused while {old:?} in flight"));
                }
            }
            Event::Outgoing(Outgoing::AwaitAck(pkid)) => {
                return Err(format!(
                    "packet id collision on {pkid}; reconnecting rather than guessing"
                ));
            }
            Event::Incoming(Packet::PubAck(ack)) => match self.by_pkid.remove(&ack.pkid) {
                Some(Tag::Event(id)) => self.acked.push(id),
                Some(Tag::Status) => {
                    self.ctx
                        .shared
                        .status_published_total
                        .fetch_add(1, Ordering::Relaxed);
                }
                Some(Tag::Offline) => self.offline_acked = true,
                Some(Tag::Online) => {}
                None => tracing::warn!(pkid = ack.pkid, "mqtt: PUBACK for no publish in flight"),
            },
            Event::Incoming(Packet::Disconnect) => return Err("broker sent DISCONNECT".into()),
            _ => {}
        }
        Ok(())
    }

    /// Records acknowledged messages as delivered in the outbox.
    async fn commit_acks(&mut self) {
        if self.acked.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.acked);
        let outbox = self.ctx.outbox.clone();
        let sink = self.ctx.config.sink_name.clone();
        let ids2 = ids.clone();
        let r = tokio::task::spawn_blocking(move || outbox.mark_delivered_many(&sink, &ids2)).await;
        match r {
            Ok(Ok(n)) => {
                self.ctx
                    .shared
                    .delivered_total
                    .fetch_add(n as u64, Ordering::Relaxed);
                for id in &ids {
                    self.in_flight.remove(id);
                }
                // Room in the window: read the outbox again.
                self.need_fill = true;
            }
            Ok(Err(e)) => {
                // They stay pending and in flight: published again on the next connection.
                tracing::error!(error = %e, "mqtt: cannot record deliveries in the alert outbox");
            }
            Err(e) => tracing::error!(error = %e, "mqtt: delivery recording task failed"),
        }
        self.ctx
            .shared
            .in_flight
            .store(self.in_flight.len() as u64, Ordering::Relaxed);
    }

    /// Publishes pending alert messages up to the window.
    async fn fill(&mut self) {
        let window = self.ctx.config.window;
        if self.in_flight.len() >= window {
            return;
        }
        let want = window + self.in_flight.len();
        let outbox = self.ctx.outbox.clone();
        let sink = self.ctx.config.sink_name.clone();
        let rows = match tokio::task::spawn_blocking(move || outbox.pending(&sink, want)).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "mqtt: cannot read the alert outbox");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "mqtt: outbox read task failed");
                return;
            }
        };
        let topic = self.ctx.topics.events.clone();
        for row in rows {
            if self.in_flight.len() >= window {
                break;
            }
            if self.in_flight.contains(&row.event_id) {
                continue;
            }
            if !self.send(
                &topic,
                row.payload.into_bytes(),
                false,
                Tag::Event(row.event_id.clone()),
            ) {
                // Window of rumqttc full: retried on the next ack or tick.
                break;
            }
            self.in_flight.insert(row.event_id);
        }
        self.ctx
            .shared
            .in_flight
            .store(self.in_flight.len() as u64, Ordering::Relaxed);
    }

    /// Publishes the camera statuses that changed, as far as the window allows.
    fn flush_statuses(&mut self) {
        loop {
            if self.in_flight_total() >= MAX_IN_FLIGHT {
                return;
            }
            let next = self
                .ctx
                .shared
                .statuses
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop();
            let Some((id, payload)) = next else { return };
            let topic = self.ctx.topics.camera_status(&id);
            if !self.send(&topic, payload, true, Tag::Status) {
                self.ctx
                    .shared
                    .statuses
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_front(id);
                return;
            }
        }
    }

    /// Clean stop: `offline` retained, wait for its PUBACK (bounded), disconnect.
    async fn stop(
        mut self,
        events: &mut mpsc::UnboundedReceiver<Result<Event, ConnectionError>>,
    ) -> End {
        let topic = self.ctx.topics.available.clone();
        if self.send(&topic, b"offline".to_vec(), true, Tag::Offline) {
            let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
            while !self.offline_acked {
                match tokio::time::timeout_at(deadline, events.recv()).await {
                    Ok(Some(ev)) => {
                        if self.on_poll(ev).is_err() {
                            break;
                        }
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
        self.commit_acks().await;
        if self.client.try_disconnect().is_ok() {
            // Let the event loop write the DISCONNECT (bounded).
            let _ = tokio::time::timeout(Duration::from_millis(500), async {
                while let Some(Ok(ev)) = events.recv().await {
                    if ev == Event::Outgoing(Outgoing::Disconnect) {
                        break;
                    }
                }
            })
            .await;
        }
        End::Stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_segments() {
        let t = Topics::new("sharpeyes/");
        assert_eq!(t.events, "sharpeyes/events");
        assert_eq!(t.available, "sharpeyes/available");
        assert_eq!(t.camera_status("c001"), "sharpeyes/cameras/c001/status");
        assert_eq!(t.camera_status("a/b+c#"), "sharpeyes/cameras/a_b_c_/status");
        assert_eq!(topic_segment(""), "_");
        assert_eq!(topic_segment("城关镇-1"), "城关镇-1");
        let mut cfg = MqttConfig::new("mqtt://h", "p", "x");
        assert_eq!(cfg.topics().available, "p/available");
        cfg.shard = Some(2);
        assert_eq!(cfg.topics().available, "p/shards/2/available");
        assert_eq!(cfg.topics().events, "p/events");
        let (o, _) = mqtt_options(&cfg, &cfg.topics()).unwrap();
        assert_eq!(o.last_will().unwrap().topic, "p/shards/2/available");
    }

    #[test]
    fn options_from_url() {
        let cfg = MqttConfig::new("mqtt://u:secret@127.0.0.1:18830", "p", "id-1");
        let (o, broker) = mqtt_options(&cfg, &cfg.topics()).unwrap();
        assert_eq!(broker, "127.0.0.1:18830");
        assert!(!broker.contains("secret"));
        assert_eq!(o.broker_address(), ("127.0.0.1".to_string(), 18830));
        assert_eq!(o.client_id(), "id-1");
        let will = o.last_will().unwrap();
        assert_eq!(will.topic, "p/available");
        assert_eq!(&will.message[..], b"offline");
        assert!(will.retain);
        assert_eq!(will.qos, QoS::AtLeastOnce);
        assert!(o.credentials().is_some());

        let cfg = MqttConfig::new("tcp://localhost", "p", "x");
        let (o, _) = mqtt_options(&cfg, &cfg.topics()).unwrap();
        assert_eq!(o.broker_address().1, 1883);
        assert!(o.credentials().is_none());

        for bad in ["http://h", "not a url"] {
            let cfg = MqttConfig::new(bad, "p", "x");
            assert!(mqtt_options(&cfg, &cfg.topics()).is_err(), "{bad}");
        }

        // TLS: port 8883 by default, the CA file read at start, TLS files refused on plain.
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let mut cfg = MqttConfig::new("mqtts://h", "p", "x");
        cfg.tls.ca_file = Some(ca.clone());
        let (o, _) = mqtt_options(&cfg, &cfg.topics()).unwrap();
        assert_eq!(o.broker_address().1, 8883);
        assert!(matches!(o.transport(), rumqttc::Transport::Tls(_)));
        cfg.url = "mqtt://h".into();
        let e = mqtt_options(&cfg, &cfg.topics()).unwrap_err().to_string();
        assert!(e.contains("plain"), "{e}");
        cfg.url = "mqtts://h".into();
        cfg.tls.ca_file = Some(dir.path().join("missing.pem"));
        let e = format!("{:#}", mqtt_options(&cfg, &cfg.topics()).unwrap_err());
        assert!(e.contains("missing.pem"), "{e}");
    }

    #[test]
    fn status_book_latest_wins() {
        let mut b = StatusBook::default();
        b.set("a".into(), b"1".to_vec());
        b.set("b".into(), b"1".to_vec());
        b.set("a".into(), b"2".to_vec());
        assert_eq!(b.pop(), Some(("a".into(), b"2".to_vec())));
        b.push_front("a".into());
        assert_eq!(b.pop().unwrap().0, "a");
        assert_eq!(b.pop().unwrap().0, "b");
        assert_eq!(b.pop(), None);
        b.mark_all_dirty();
        let mut ids = vec![b.pop().unwrap().0, b.pop().unwrap().0];
        ids.sort();
        assert_eq!(ids, ["a", "b"]);
    }

    #[tokio::test]
    async fn bad_config_is_refused_and_unreachable_broker_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let mut cfg = MqttConfig::new("mqtt://127.0.0.1:1", "p", "x");
        cfg.window = 0;
        assert!(MqttSink::start(cfg.clone(), outbox.clone()).is_err());
        cfg.window = 4;
        cfg.topic_prefix = "a/#".into();
        assert!(MqttSink::start(cfg.clone(), outbox.clone()).is_err());
        cfg.topic_prefix = "p".into();
        cfg.backoff_min = Duration::from_millis(20);
        cfg.backoff_max = Duration::from_millis(40);
        let sink = MqttSink::start(cfg, outbox.clone()).unwrap();
        assert_eq!(outbox.sinks().unwrap(), [SINK_NAME]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let m = sink.metrics();
        assert!(!m.connected);
        assert!(m.connection_errors_total >= 2, "{m:?}");
        assert_eq!(m.connects_total, 0);
        sink.shutdown().await;
    }
}
