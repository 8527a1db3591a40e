//! The fleet's series for `/metrics`, built at scrape time from the live state (so the frame
//! path never touches a label map).

use prometheus::proto::{MetricFamily, MetricType};

use crate::fleet::Fleet;
use crate::health::status::State;
use crate::telemetry::{counter, family, gauge};

/// Per-camera and fleet-wide families: up, frames, bytes, last frame, state counts, group
/// online rates and 完好率, quality faults.
pub fn families(fleet: &Fleet) -> Vec<MetricFamily> {
    use std::sync::atomic::Ordering::Relaxed;
    let entries = fleet.entries();
    let mut up = Vec::with_capacity(entries.len());
    let mut frames = Vec::with_capacity(entries.len());
    let mut bytes = Vec::with_capacity(entries.len());
    let mut last_frame = Vec::new();
    let mut clock_offset = Vec::new();
    let mut quality_ok = Vec::new();
    let mut offline_by_reason: std::collections::BTreeMap<&'static str, u64> =
        crate::health::status::Reason::ALL
            .iter()
            .map(|r| (r.as_str(), 0))
            .collect();
    let mut fault_counts: std::collections::BTreeMap<&'static str, u64> =
        crate::vision::quality::Fault::ALL
            .iter()
            .map(|f| (f.as_str(), 0))
            .collect();
    // One read of each camera: the per-camera series and the group rates agree.
    let enabled: Vec<_> = entries.iter().filter(|e| e.camera.enabled).collect();
    let snapshots: Vec<_> = enabled.iter().map(|e| e.snapshot()).collect();
    for (e, snap) in enabled.iter().zip(&snapshots) {
        let id = snap.id;
        let now = &snap.now;
        if let (Some(faults), Some(ok)) = (&now.faults, now.picture_ok) {
            quality_ok.push(gauge(&[("camera", id)], if ok { 1.0 } else { 0.0 }));
            for f in faults {
                *fault_counts.entry(f.as_str()).or_default() += 1;
            }
        }
        if let (State::Offline, Some(r)) = (now.state, now.reason) {
            *offline_by_reason.entry(r.as_str()).or_default() += 1;
        }
        let g = snap.groups;
        up.push(gauge(
            &[
                ("camera", id),
                ("region", &g.region),
                ("unit", &g.unit),
                ("class", &g.class),
                ("maintainer", &g.maintainer),
            ],
            if now.state == State::Online { 1.0 } else { 0.0 },
        ));
        frames.push(counter(
            &[("camera", id)],
            e.stats.frames.load(Relaxed) as f64,
        ));
        bytes.push(counter(
            &[("camera", id)],
            e.stats.bytes.load(Relaxed) as f64,
        ));
        if let Some(o) = e.stats.clock_offset_s() {
            clock_offset.push(gauge(&[("camera", id)], o));
        }
        let lf = e.stats.last_frame_ms.load(Relaxed);
        if lf != 0 {
            last_frame.push(gauge(&[("camera", id)], lf as f64 / 1000.0));
        }
    }
    let rates = crate::health::rates::live(
        snapshots
            .iter()
            .map(|s| (s.groups, s.now.state, s.now.intact)),
    );
    let by_state = [
        ("online", rates.fleet.online),
        ("offline", rates.fleet.offline),
        ("connecting", rates.fleet.connecting),
    ]
    .iter()
    .map(|(s, n)| gauge(&[("state", s)], *n as f64))
    .collect();
    let groups = rates
        .groups
        .iter()
        .filter_map(|g| {
            g.online_ratio
                .map(|r| gauge(&[("dimension", g.by.as_str()), ("group", &g.group)], r))
        })
        .collect();
    let mut out = vec![
        family(
            "sharpeyes_camera_up",
            "1 when the camera is online (video frames arrive), else 0.",
            MetricType::GAUGE,
            up,
        ),
        family(
            "sharpeyes_received_frames_total",
            "Video frames (access units) received, per camera.",
            MetricType::COUNTER,
            frames,
        ),
        family(
            "sharpeyes_received_bytes_total",
            "Video payload bytes received, per camera.",
            MetricType::COUNTER,
            bytes,
        ),
        family(
            "sharpeyes_camera_last_frame_timestamp_seconds",
            "Unix time of the last video frame received, per camera.",
            MetricType::GAUGE,
            last_frame,
        ),
        family(
            "sharpeyes_camera_clock_offset_seconds",
            "时钟偏差: the camera's clock minus the daemon's, from its last RTCP sender report.",
            MetricType::GAUGE,
            clock_offset,
        ),
        family(
            "sharpeyes_cameras",
            "Enabled cameras by state.",
            MetricType::GAUGE,
            by_state,
        ),
        family(
            "sharpeyes_group_online_ratio",
            "Live online rate (online / enabled cameras) per group value of a dimension.",
            MetricType::GAUGE,
            groups,
        ),
    ];
    let intact_groups = rates
        .groups
        .iter()
        .filter_map(|g| {
            g.intact_ratio
                .map(|r| gauge(&[("dimension", g.by.as_str()), ("group", &g.group)], r))
        })
        .collect();
    out.push(family(
        "sharpeyes_cameras_offline",
        "Enabled cameras offline now, by reason.",
        MetricType::GAUGE,
        offline_by_reason
            .iter()
            .map(|(r, n)| gauge(&[("reason", r)], *n as f64))
            .collect(),
    ));
    out.push(family(
        "sharpeyes_camera_quality_ok",
        "1 when the camera's latest sampled picture has no fault counted against 完好率, else 0.",
        MetricType::GAUGE,
        quality_ok,
    ));
    out.push(family(
        "sharpeyes_quality_fault_cameras",
        "Cameras whose latest sampled picture shows the fault.",
        MetricType::GAUGE,
        fault_counts
            .iter()
            .map(|(f, n)| gauge(&[("fault", f)], *n as f64))
            .collect(),
    ));
    out.push(family(
        "sharpeyes_group_intact_ratio",
        "Live 完好率 (online with a usable picture / enabled cameras) per group value.",
        MetricType::GAUGE,
        intact_groups,
    ));
    if let Some(r) = rates.intact_ratio {
        out.push(family(
            "sharpeyes_intact_ratio",
            "Live 完好率 of the whole fleet: online with a usable picture / enabled cameras.",
            MetricType::GAUGE,
            vec![gauge(&[], r)],
        ));
    }
    if let Some(r) = rates.online_ratio {
        out.push(family(
            "sharpeyes_online_ratio",
            "Live online rate of the whole fleet: online / enabled cameras.",
            MetricType::GAUGE,
            vec![gauge(&[], r)],
        ));
    }
    out.retain(|f| !f.get_metric().is_empty());
    out
}
