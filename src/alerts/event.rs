//! Alert events: what a rule raised on a camera, through its lifecycle, and their CloudEvents
//! 1.0 JSON envelope.
//!
//! ## Identity
//!
//! An *alert* is one occurrence of a rule firing on a camera (a crowd at a gate from 08:02 to
//! 08:17). It has an [`AlertEvent::alert_id`] that never changes over its lifecycle
//! ([`alert_id_for`] derives it from the camera, the rule and the start time, so the same
//! alert gets the same id even if it is rebuilt after a restart).
//!
//! Every *message* about an alert is an [`AlertEvent`] with a phase — one `new`, any number of
//! `update`s, one `end` — and a sequence number [`AlertEvent::seq`] that starts at 0 with `new`
//! and grows by one per message. The CloudEvent `id` is `{alert_id}-{seq}`
//! ([`AlertEvent::event_id`]): unique per message and identical on every redelivery of that
//! message. Delivery is at-least-once (see [`outbox`](crate::alerts::outbox)), so consumers
//! deduplicate on the CloudEvent `id`; they group the messages of one alert by `data.alert_id`
//! and order them by `data.seq`.
//!
//! ## Envelope
//!
//! [`AlertEvent::to_cloudevent`] renders the structured-mode JSON of CloudEvents 1.0:
//!
//! ```json
//! {
//!   "specversion": "1.0",
//!   "id": "3f2a9c0d11e4b7a2-0",
//!   "source": "/sharpeyes/node-1",
//!   "type": "cn.sharpeyes.alert.crowding.new",
//!   "time": "2026-11-23T08:02:05.000Z",
//!   "datacontenttype": "application/json",
//!   "subject": "c001",
//!   "data": { "alert_id": "3f2a9c0d11e4b7a2", "seq": 0, "phase": "new", "kind": "crowding",
//!             "severity": "warning", "rule": "gate-crowd",
//!             "camera": { "id": "c001", "name": "...", "region": "...", "unit": "...", "class": "1" },
//!             "gb28181": { "alarm_method": 5, "alarm_type": 10 },
//!             "started_at": "...", "updated_at": "...", "ended_at": null,
//!             "evidence": { "count": 23, "frame_width": 1920, "frame_height": 1080,
//!                           "objects": [ { "class": "person", "score": 0.91, "box": [x1, y1, x2, y2] } ] },
//!             "snapshot_url": "http://host:9090/api/alerts/3f2a9c0d11e4b7a2/snapshot/0.jpg" }
//! }
//! ```
//!
//! `time` is when this message's phase happened (`started_at` for `new`, `updated_at` for
//! `update`, `ended_at` for `end`). `subject` is the camera id. `type` is
//! `cn.sharpeyes.alert.<kind>.<phase>`.
//!
//! ## GB/T 28181 alarm codes
//!
//! Each kind carries the alarm method and type of GB/T 28181's alarm notification
//! ([`AlertKind::gb28181`]): video loss is device alarm 2/1, crowding is video-analytics
//! density 5/10, video abnormal (occlusion, black picture, ...) is 5/11. An uncovered dump truck
//! is a video-analytics alarm (method 5) for which the standard has no type: `alarm_type` is
//! `null` rather than a misleading code.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::clock::Time;

/// CloudEvents `type` prefix of every alert event.
pub const TYPE_PREFIX: &str = "cn.sharpeyes.alert";

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Too many people in a zone (密度检测).
    Crowding,
    /// A dump truck with an uncovered load (渣土车未覆盖).
    UncoveredTruck,
    /// The camera's video is lost (视频丢失).
    VideoLoss,
    /// The picture is unusable: occluded, black, frozen, ... (视频异常).
    VideoAbnormal,
    /// A repair ticket missed its SLA deadline (工单超时): respond or repair.
    SlaBreach,
}

impl AlertKind {
    /// Every kind, in a stable order.
    pub const ALL: [AlertKind; 5] = [
        AlertKind::Crowding,
        AlertKind::UncoveredTruck,
        AlertKind::VideoLoss,
        AlertKind::VideoAbnormal,
        AlertKind::SlaBreach,
    ];

    /// The snake_case name used in JSON and in the CloudEvent `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Crowding => "crowding",
            AlertKind::UncoveredTruck => "uncovered_truck",
            AlertKind::VideoLoss => "video_loss",
            AlertKind::VideoAbnormal => "video_abnormal",
            AlertKind::SlaBreach => "sla_breach",
        }
    }

    /// The kind named `s` ([`AlertKind::as_str`]).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// GB/T 28181 alarm notification `(AlarmMethod, AlarmType)`.
    ///
    /// Method 2 is a device alarm, 5 a video (analytics) alarm. The type is `None` where the
    /// standard lists no type for this kind (uncovered trucks).
    pub fn gb28181(self) -> (u8, Option<u8>) {
        match self {
            AlertKind::VideoLoss => (2, Some(1)),
            AlertKind::Crowding => (5, Some(10)),
            AlertKind::VideoAbnormal => (5, Some(11)),
            AlertKind::UncoveredTruck => (5, None),
            // 7: 其他报警 (no standard type for a missed repair deadline).
            AlertKind::SlaBreach => (7, None),
        }
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent an alert is. Ordered: `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth recording; nobody needs to act now.
    Info,
    /// Someone should look.
    Warning,
    /// Someone must act now.
    Critical,
}

impl Severity {
    /// The severity named `s` ([`Severity::as_str`]).
    pub fn parse(s: &str) -> Option<Self> {
        [Severity::Info, Severity::Warning, Severity::Critical]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

pub use crate::rules::condition::Phase;

/// The camera an alert is about, with its groups from the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AlertCamera {
    /// Inventory id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Region (乡镇/街道).
    pub region: String,
    /// Owning unit.
    pub unit: String,
    /// Camera class (一类/二类/三类点位).
    pub class: String,
    /// Maintainer (运维单位); empty in alerts stored before it existed.
    #[serde(default)]
    pub maintainer: String,
}

impl From<&crate::config::inventory::Camera> for AlertCamera {
    fn from(c: &crate::config::inventory::Camera) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            region: c.groups.region.clone(),
            unit: c.groups.unit.clone(),
            class: c.groups.class.clone(),
            maintainer: c.groups.maintainer.clone(),
        }
    }
}

/// One detected object offered as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceObject {
    /// Class name (`person`, `truck`, ...).
    pub class: String,
    /// Confidence, 0..1 (written with 4 decimals).
    #[serde(serialize_with = "ser_score")]
    pub score: f32,
    /// `[x1, y1, x2, y2]` in pixels of the evidence frame (written with 2 decimals).
    #[serde(rename = "box", serialize_with = "ser_box")]
    pub bbox: [f32; 4],
    /// For trucks: the cover classifier's uncovered score, 0..1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncovered: Option<f32>,
}

/// `f32` as the shortest `f64` with `decimals` digits: `0.91`, not `0.9100000262260437`.
fn round_f32(x: f32, decimals: i32) -> f64 {
    let m = 10f64.powi(decimals);
    (x as f64 * m).round() / m
}

fn ser_score<S: serde::Serializer>(x: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round_f32(*x, 4))
}

fn ser_box<S: serde::Serializer>(b: &[f32; 4], s: S) -> Result<S::Ok, S::Error> {
    b.map(|x| round_f32(x, 2)).serialize(s)
}

impl From<&crate::vision::detect::Detection> for EvidenceObject {
    fn from(d: &crate::vision::detect::Detection) -> Self {
        Self {
            class: d.class.clone(),
            score: d.score,
            bbox: d.bbox,
            uncovered: None,
        }
    }
}

/// What the rule saw when it raised or updated the alert.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Evidence {
    /// The figure the rule judged (people in the zone, uncovered trucks, ...).
    pub count: u32,
    /// Width of the frame the boxes refer to (0 when there is no frame).
    pub frame_width: u32,
    /// Height of the frame the boxes refer to (0 when there is no frame).
    pub frame_height: u32,
    /// The objects behind `count`, best first.
    pub objects: Vec<EvidenceObject>,
}

/// One message about an alert: the `data` of its CloudEvent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Stable over the whole lifecycle of the alert (see [`alert_id_for`]).
    pub alert_id: String,
    /// Sequence number of this message within its alert: 0 for `new`, then 1, 2, ...
    pub seq: u32,
    /// `new`, `update` or `end`.
    pub phase: Phase,
    /// What the alert is about.
    pub kind: AlertKind,
    /// How urgent.
    pub severity: Severity,
    /// Name of the rule that raised it (from the rules config).
    pub rule: String,
    /// The camera and its groups.
    pub camera: AlertCamera,
    /// When the alert started (the same in every message of the alert).
    pub started_at: Time,
    /// When this message's information was observed (`started_at` for `new`).
    pub updated_at: Time,
    /// When the alert ended; set on `end` only.
    pub ended_at: Option<Time>,
    /// What the rule saw.
    pub evidence: Evidence,
    /// Where the snapshot JPEG is served (the daemon's API), if one was stored.
    pub snapshot_url: Option<String>,
}

/// A stable alert id: 16 hex digits of SHA-256 over camera id, rule name and start time
/// (milliseconds). The same inputs always give the same id, and the id is safe in URLs, file
/// names and MQTT topics whatever the camera id holds.
pub fn alert_id_for(camera_id: &str, rule: &str, started_at: Time) -> String {
    let mut h = Sha256::new();
    h.update(camera_id.as_bytes());
    h.update([0]);
    h.update(rule.as_bytes());
    h.update([0]);
    h.update(started_at.timestamp_millis().to_le_bytes());
    let digest = h.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn rfc3339(t: Time) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl AlertEvent {
    /// The CloudEvent id of this message: `{alert_id}-{seq}`. Unique per message, the same on
    /// every redelivery: the deduplication key for consumers and the outbox.
    pub fn event_id(&self) -> String {
        format!("{}-{}", self.alert_id, self.seq)
    }

    /// The CloudEvent `type`: `cn.sharpeyes.alert.<kind>.<phase>`.
    pub fn event_type(&self) -> String {
        format!(
            "{TYPE_PREFIX}.{}.{}",
            self.kind.as_str(),
            self.phase.as_str()
        )
    }

    /// When this message's phase happened: `ended_at` for `end` (falling back to
    /// `updated_at`), `updated_at` otherwise.
    pub fn time(&self) -> Time {
        match self.phase {
            Phase::End => self.ended_at.unwrap_or(self.updated_at),
            Phase::New | Phase::Update => self.updated_at,
        }
    }

    /// The `data` object of the CloudEvent.
    pub fn data(&self) -> Value {
        let (method, typ) = self.kind.gb28181();
        json!({
            "alert_id": self.alert_id,
            "seq": self.seq,
            "phase": self.phase.as_str(),
            "kind": self.kind.as_str(),
            "severity": self.severity.as_str(),
            "rule": self.rule,
            "camera": self.camera,
            "gb28181": { "alarm_method": method, "alarm_type": typ },
            "started_at": rfc3339(self.started_at),
            "updated_at": rfc3339(self.updated_at),
            "ended_at": self.ended_at.map(rfc3339),
            "evidence": self.evidence,
            "snapshot_url": self.snapshot_url,
        })
    }

    /// The CloudEvents 1.0 structured-mode JSON of this message. `source` is a URI-reference
    /// naming the producing instance (e.g. `/sharpeyes/node-1`).
    pub fn to_cloudevent(&self, source: &str) -> Value {
        json!({
            "specversion": "1.0",
            "id": self.event_id(),
            "source": source,
            "type": self.event_type(),
            "time": rfc3339(self.time()),
            "datacontenttype": "application/json",
            "subject": self.camera.id,
            "data": self.data(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> Time {
        chrono::Utc.timestamp_opt(1_795_000_000 + s, 0).unwrap()
    }

    fn sample(phase: Phase, seq: u32) -> AlertEvent {
        let started = t(0);
        AlertEvent {
            alert_id: alert_id_for("c001", "gate-crowd", started),
            seq,
            phase,
            kind: AlertKind::Crowding,
            severity: Severity::Warning,
            rule: "gate-crowd".into(),
            camera: AlertCamera {
                id: "c001".into(),
                name: "城关镇人民路口".into(),
                region: "城关镇".into(),
                unit: "交警大队".into(),
                class: "1".into(),
                maintainer: "华安运维".into(),
            },
            started_at: started,
            updated_at: t(seq as i64 * 10),
            ended_at: (phase == Phase::End).then(|| t(seq as i64 * 10)),
            evidence: Evidence {
                count: 2,
                frame_width: 1920,
                frame_height: 1080,
                objects: vec![
                    EvidenceObject {
                        class: "person".into(),
                        score: 0.5,
                        bbox: [10.0, 20.0, 110.0, 320.0],
                        uncovered: None,
                    },
                    EvidenceObject {
                        class: "person".into(),
                        score: 0.91,
                        bbox: [200.3, 20.0, 260.7, 300.0],
                        uncovered: None,
                    },
                ],
            },
            snapshot_url: Some("http://127.0.0.1:9090/api/alerts/x/snapshot/0.jpg".into()),
        }
    }

    #[test]
    fn gb28181_codes() {
        assert_eq!(AlertKind::VideoLoss.gb28181(), (2, Some(1)));
        assert_eq!(AlertKind::Crowding.gb28181(), (5, Some(10)));
        assert_eq!(AlertKind::VideoAbnormal.gb28181(), (5, Some(11)));
        assert_eq!(AlertKind::UncoveredTruck.gb28181(), (5, None));
    }

    #[test]
    fn alert_id_is_stable_and_distinct() {
        let a = alert_id_for("c001", "r", t(0));
        assert_eq!(a, alert_id_for("c001", "r", t(0)));
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, alert_id_for("c001", "r", t(1)));
        assert_ne!(a, alert_id_for("c002", "r", t(0)));
        assert_ne!(a, alert_id_for("c001", "s", t(0)));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(alert_id_for("ab", "c", t(0)), alert_id_for("a", "bc", t(0)));
    }

    #[test]
    fn cloudevent_shape() {
        let e = sample(Phase::New, 0);
        let ce = e.to_cloudevent("/sharpeyes/node-1");
        let obj = ce.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "data",
                "datacontenttype",
                "id",
                "source",
                "specversion",
                "subject",
                "time",
                "type"
            ]
        );
        assert_eq!(ce["specversion"], "1.0");
        assert_eq!(ce["id"], format!("{}-0", e.alert_id));
        assert_eq!(ce["source"], "/sharpeyes/node-1");
        assert_eq!(ce["type"], "cn.sharpeyes.alert.crowding.new");
        assert_eq!(ce["time"], "2026-11-18T11:06:40.000Z");
        assert_eq!(ce["datacontenttype"], "application/json");
        assert_eq!(ce["subject"], "c001");

        let d = &ce["data"];
        assert_eq!(d["alert_id"], e.alert_id.as_str());
        assert_eq!(d["seq"], 0);
        assert_eq!(d["phase"], "new");
        assert_eq!(d["kind"], "crowding");
        assert_eq!(d["severity"], "warning");
        assert_eq!(d["rule"], "gate-crowd");
        assert_eq!(d["camera"]["id"], "c001");
        assert_eq!(d["camera"]["name"], "城关镇人民路口");
        assert_eq!(d["camera"]["region"], "城关镇");
        assert_eq!(d["camera"]["unit"], "交警大队");
        assert_eq!(d["camera"]["class"], "1");
        assert_eq!(d["gb28181"]["alarm_method"], 5);
        assert_eq!(d["gb28181"]["alarm_type"], 10);
        assert_eq!(d["started_at"], "2026-11-18T11:06:40.000Z");
        assert_eq!(d["updated_at"], "2026-11-18T11:06:40.000Z");
        assert!(d["ended_at"].is_null());
        assert_eq!(d["evidence"]["count"], 2);
        assert_eq!(d["evidence"]["frame_width"], 1920);
        assert_eq!(d["evidence"]["objects"][0]["class"], "person");
        assert_eq!(d["evidence"]["objects"][0]["score"], 0.5);
        assert_eq!(
            d["evidence"]["objects"][0]["box"],
            json!([10.0, 20.0, 110.0, 320.0])
        );
        // f32 figures are written short, not as their f64 expansion.
        assert_eq!(d["evidence"]["objects"][1]["score"], json!(0.91));
        assert_eq!(
            d["evidence"]["objects"][1]["box"],
            json!([200.3, 20.0, 260.7, 300.0])
        );
        assert!(!ce.to_string().contains("0.910000"));
        assert_eq!(
            d["snapshot_url"],
            "http://127.0.0.1:9090/api/alerts/x/snapshot/0.jpg"
        );
    }

    #[test]
    fn lifecycle_ids_types_and_times() {
        let new = sample(Phase::New, 0).to_cloudevent("s");
        let upd = sample(Phase::Update, 1).to_cloudevent("s");
        let end = sample(Phase::End, 2).to_cloudevent("s");
        // One alert id, one CloudEvent id per message.
        assert_eq!(new["data"]["alert_id"], upd["data"]["alert_id"]);
        assert_eq!(new["data"]["alert_id"], end["data"]["alert_id"]);
        assert_ne!(new["id"], upd["id"]);
        assert_ne!(upd["id"], end["id"]);
        assert_eq!(upd["type"], "cn.sharpeyes.alert.crowding.update");
        assert_eq!(end["type"], "cn.sharpeyes.alert.crowding.end");
        assert_eq!(upd["time"], "2026-11-18T11:06:50.000Z");
        assert_eq!(end["time"], "2026-11-18T11:07:00.000Z");
        assert_eq!(end["data"]["ended_at"], "2026-11-18T11:07:00.000Z");
        assert_eq!(end["data"]["started_at"], new["data"]["started_at"]);
        // Rendering twice gives the same message (stable on redelivery).
        assert_eq!(
            sample(Phase::Update, 1).to_cloudevent("s"),
            sample(Phase::Update, 1).to_cloudevent("s")
        );
    }

    #[test]
    fn every_kind_has_a_type_and_a_method() {
        for kind in AlertKind::ALL {
            let mut e = sample(Phase::New, 0);
            e.kind = kind;
            let ce = e.to_cloudevent("s");
            assert_eq!(
                ce["type"],
                format!("cn.sharpeyes.alert.{}.new", kind.as_str())
            );
            assert!(ce["data"]["gb28181"]["alarm_method"].is_u64());
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                Value::from(kind.as_str())
            );
        }
        let mut e = sample(Phase::New, 0);
        e.kind = AlertKind::UncoveredTruck;
        assert!(e.to_cloudevent("s")["data"]["gb28181"]["alarm_type"].is_null());
    }
}
