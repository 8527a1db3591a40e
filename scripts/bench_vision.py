#!/usr/bin/env python3
"""Vision benchmark: what keyframe sampling, decoding and detection cost, side by side.

`make bench-vision` runs this. Python 3.11 standard library only; process handling, /proc
readers and /metrics scraping come from scripts/bench_hold.py. See docs/benchmarks.md
("Vision: sampling, decode and detection") for the method and the caveats.

Against a simulated fleet (`sharpeyes sim`, --cameras-per-sim cameras per process, inventories
merged so any prefix spreads over the processes), in one run:

1. CPU per camera-hour, keyframe-only sampling vs decoding every frame.
   - sharpeyes holding --cameras N with --sample-interval 0 (holding alone) and 5 (one IDR per
     camera decoded, diagnosed and snapshotted every 5 s): CPU (utime+stime of the daemon, all
     threads) over a --window after warm-up; vision cost = the difference. Also
     `sharpeyes_sample_decode_seconds` (p50 interpolated from the histogram buckets, and
     sum/count) and samples taken / processed / dropped from /metrics, over the window.
   - the same with --detect (the cost of detection per sample).
   - one `gst-launch-1.0 rtspsrc ! rtph264depay ! h264parse ! avdec_h264 ! fakesink` per camera
     (decode every frame), and one `rtspsrc ! rtph264depay ! h264parse ! fakesink` per camera
     (the same ingest without the decoder), min(N, --max-peer) processes, same window.
   - ratios: decode-all / keyframe sampling, end to end and for the decode part alone; target
     >= GOP (20) x cheaper.
2. Detector latency: `sharpeyes detect IMAGE x K --threads T` (one process, the model loaded
   once) prints the time of each frame (resize, tensor, inference, NMS; the image file's decode
   is outside it): p50 / p99 ms per frame and frames/s for T = 1 and 2 (first frames dropped as
   warm-up). Target ~30 ms/frame on 2 threads. Then, inside the daemon: --detect-cameras cameras
   sampled every 1 s with `[detect] threads = T`: frames detected per second and the mean ms per
   frame from `sharpeyes_detect_seconds` / `sharpeyes_detect_batch_size`.
3. How many cameras one 2-core machine samples every 5 s: from the CPU per sample measured in 1
   (decode + diagnosis, and with detection) with 25 % of the machine left for ingest and the
   rest; then a direct check: --direct sizes held with --sample-interval 5 (samples dropped must
   stay 0, daemon CPU below 2 cores), and with detection at the estimated size.

Every child runs in its own process group with PR_SET_PDEATHSIG and is stopped (TERM, then
KILL) on exit, Ctrl-C, SIGTERM, SIGHUP, errors and the --timeout deadline; a cut-short run still
prints what it measured.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_hold as bh  # noqa: E402

ROOT = bh.ROOT
CHILDREN = bh.CHILDREN
log = bh.log
DETECT_BACKLOG = 36  # [detect] queue (32) + max_batch (4): frames that may wait at a window's end
GOP = 20  # frames per IDR in tests/data/cctv_gop20.mp4 (10 fps, IDR every 2 s)
FPS = 10


# --------------------------------------------------------------------------------------------
# Prometheus histograms
# --------------------------------------------------------------------------------------------


def histogram(samples, name: str) -> dict:
    """{"buckets": [(le, cumulative count)...], "sum", "count"} of an unlabelled histogram."""
    b = sorted(
        (float(l["le"]), v) for n, l, v in samples if n == name + "_bucket" and "le" in l
    )
    return {
        "buckets": b,
        "sum": bh.metric_sum(samples, name + "_sum"),
        "count": bh.metric_sum(samples, name + "_count"),
    }


def hist_delta(h1: dict, h0: dict) -> dict:
    b0 = dict(h0["buckets"])
    return {
        "buckets": [(le, c - b0.get(le, 0.0)) for le, c in h1["buckets"]],
        "sum": h1["sum"] - h0["sum"],
        "count": h1["count"] - h0["count"],
    }


def quantile(h: dict, q: float) -> float | None:
    """Prometheus-style quantile: linear interpolation inside the bucket that holds rank q.

    Coarse: the answer can only be placed within a bucket. Above the last finite bound it
    returns that bound (a lower limit)."""
    total = h["count"]
    if total <= 0 or not h["buckets"]:
        return None
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in h["buckets"]:
        if c >= rank:
            if math.isinf(le):
                return prev_le
            if c == prev_c:
                return le
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return prev_le


# --------------------------------------------------------------------------------------------
# Simulated fleet: processes started one after the other, so their clip loops (and keyframes)
# are not all in phase.
# --------------------------------------------------------------------------------------------


class Fleet(bh.SimFleet):
    def __init__(self, bin_: Path, tmp: Path, mounts: int, per_sim: int, guard: bh.Guard):
        import csv

        self.procs, self.ports, self.rows, self.mounts = [], set(), [], mounts
        procs = max(1, math.ceil(mounts / per_sim))
        per_sim_rows = []
        started = time.monotonic()
        for k in range(procs):
            n = min(per_sim, mounts - k * per_sim)
            rtsp_port, ctl_port = bh.free_ports(2)
            inv, logf = tmp / f"sim{k}.csv", tmp / f"sim{k}.log"
            p = CHILDREN.start(
                [bin_, "sim", "--cameras", n, "--port", rtsp_port, "--control",
                 f"127.0.0.1:{ctl_port}", "--inventory-out", inv, "--id-prefix", f"s{k}cam"],
                logf,
            )
            self.procs.append(p)
            self.ports.add(rtsp_port)
            try:
                bh.wait_http(f"http://127.0.0.1:{ctl_port}/healthz", guard, 180, self.procs)
            except bh.Abort as e:
                raise bh.Abort(f"simulator did not come up: {e}\n{bh.tail(logf)}") from None
            end = time.monotonic() + 30
            while not (inv.exists() and inv.stat().st_size > 0):
                if time.monotonic() > end:
                    raise bh.Abort(f"simulator wrote no inventory {inv}\n{bh.tail(logf)}")
                guard.sleep(0.2, self.procs)
            with open(inv, newline="", encoding="utf-8") as f:
                r = csv.DictReader(f)
                self.header = r.fieldnames
                per_sim_rows.append(list(r))
            # An odd fraction of the 2 s GOP between starts spreads the keyframe phases.
            guard.sleep(0.37, self.procs)
        self.startup_s = time.monotonic() - started
        for i in range(max(len(s) for s in per_sim_rows)):
            for s in per_sim_rows:
                if i < len(s):
                    self.rows.append(s[i])


# --------------------------------------------------------------------------------------------
# The daemon
# --------------------------------------------------------------------------------------------


def vision_counters(s) -> dict:
    return {
        "samples": bh.metric_sum(s, "sharpeyes_samples_total"),
        "processed": bh.metric_sum(s, "sharpeyes_samples_processed_total"),
        "dropped": bh.metric_sum(s, "sharpeyes_samples_dropped_total"),
        "errors": bh.metric_sum(s, "sharpeyes_sample_errors_total"),
        "detected": bh.metric_sum(s, "sharpeyes_detect_batch_size_sum"),
        "detect_calls": bh.metric_sum(s, "sharpeyes_detect_seconds_count"),
        "frames": bh.metric_sum(s, "sharpeyes_received_frames_total"),
        "reconnects": bh.metric_sum(s, "sharpeyes_reconnects_total"),
    }


_RUNS = 0  # numbers the daemon runs: each gets its own inventory, config, data dir and log


def sample_spread_ms(base: str, period_s: float) -> float | None:
    """Width of the shortest arc (mod the sampling period) holding every camera's last sample time:
    ~0 means every camera's sample arrives at the same instant (one burst), period_s means spread."""
    from datetime import datetime

    ts = []
    for c in bh.get_json(base + "/api/cameras", timeout=60):
        at = (c.get("quality") or {}).get("at")
        if at:
            try:
                ts.append(datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp())
            except ValueError:
                pass
    if len(ts) < 2 or period_s <= 0:
        return None
    ph = sorted(t % period_s for t in ts)
    gaps = [b - a for a, b in zip(ph, ph[1:])] + [ph[0] + period_s - ph[-1]]
    return 1e3 * (period_s - max(gaps))


def run_daemon(a, sim: Fleet, guard: bh.Guard, tmp: Path, n: int, sample: str,
               detect: bool = False, config: str = "", window_s: float | None = None,
               label: str | None = None) -> dict:
    """Holds n cameras with --sample-interval `sample` (and --detect); measures one window."""
    window_s = a.window if window_s is None else window_s
    global _RUNS
    _RUNS += 1
    tag = f"{_RUNS:02d}-n{n}-s{sample}" + ("-detect" if detect else "")
    label = label or f"sharpeyes {n} cams, sample {sample} s" + (" +detect" if detect else "")
    log(label)
    inv = sim.write_inventory(tmp / f"inventory-{tag}.csv", n)
    port = bh.free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [a.bin, "run", "--inventory", inv, "--listen", f"127.0.0.1:{port}",
            "--data-dir", tmp / f"data-{tag}", "--mode", "hold", "--sample-interval", sample]
    if detect:
        argv.append("--detect")
    if config:
        cfg = tmp / f"config-{tag}.toml"
        cfg.write_text(config)
        argv += ["--config", cfg]
    env = dict(os.environ)
    env.setdefault("RUST_LOG", "warn")
    logf = tmp / f"sharpeyes-{tag}.log"
    p = CHILDREN.start(argv, logf, env=env)
    watch = [p, *sim.procs]  # a daemon or simulator that dies ends the run, no silent zeros
    try:
        try:
            bh.wait_http(base + "/healthz", guard, 60, watch)
        except bh.Abort as e:
            raise bh.Abort(f"{e}\n{bh.tail(logf)}") from None
        t0 = time.monotonic()
        online = 0
        while True:
            online = bh.get_json(base + "/api/groups")["fleet"]["online"]
            if online >= n or time.monotonic() - t0 > a.warmup_timeout:
                break
            guard.sleep(1.0, watch)
        if online < n:
            log(f"  WARNING: only {online}/{n} online after {a.warmup_timeout:.0f} s")
        sampling = sample not in ("0", "0s")
        if sampling:
            # Until the first samples have gone through (and the detector has run once).
            key = "detected" if detect else "processed"
            while vision_counters(bh.scrape(base + "/metrics"))[key] <= 0:
                if time.monotonic() - t0 > a.warmup_timeout:
                    log(f"  WARNING: no sample {key} after {a.warmup_timeout:.0f} s")
                    break
                guard.sleep(0.5, watch)
        warm = time.monotonic() - t0
        guard.sleep(a.settle, watch)
        s0 = bh.scrape(base + "/metrics")
        ts0 = time.monotonic()
        w = bh.Window([p.pid], sim.pids())
        w.begin()
        qmax, end = 0.0, time.monotonic() + window_s
        while time.monotonic() < end:
            guard.sleep(min(2.0, max(0.0, end - time.monotonic())), watch)
        r = w.end()
        s1 = bh.scrape(base + "/metrics")
        dts = time.monotonic() - ts0
        c0, c1 = vision_counters(s0), vision_counters(s1)
        d = {k: c1[k] - c0[k] for k in c0}
        online_end = bh.get_json(base + "/api/groups")["fleet"]["online"]
        spread = None
        if sampling and d["samples"] > 0:
            spread = sample_spread_ms(base, n * dts / d["samples"])
        dec = hist_delta(histogram(s1, "sharpeyes_sample_decode_seconds"),
                         histogram(s0, "sharpeyes_sample_decode_seconds"))
        det = hist_delta(histogram(s1, "sharpeyes_detect_seconds"), histogram(s0, "sharpeyes_detect_seconds"))
        r.update(bh.memory([p.pid]))
        r.update(
            label=label, kind="sharpeyes", cameras=n, sample_interval=sample, detect=detect,
            config=config or None, online=online, online_end=online_end, warmup_s=warm,
            counters_window=d, counters_total=c1, counters_s=dts,
            frames_per_s=d["frames"] / dts,
            samples_per_s=d["samples"] / dts,
            processed_per_s=d["processed"] / dts,
            dropped=d["dropped"],
            detected_per_s=d["detected"] / dts,
            queue_len_end=bh.metric_sum(s1, "sharpeyes_sample_queue_length"),
            sample_spread_ms=spread,
            decode_hist=dec,
            decode_p50_ms=None if quantile(dec, 0.5) is None else 1e3 * quantile(dec, 0.5),
            decode_p99_ms=None if quantile(dec, 0.99) is None else 1e3 * quantile(dec, 0.99),
            decode_mean_ms=1e3 * dec["sum"] / dec["count"] if dec["count"] else None,
            detect_hist=det,
            detect_call_p50_ms=None if quantile(det, 0.5) is None else 1e3 * quantile(det, 0.5),
            detect_call_p99_ms=None if quantile(det, 0.99) is None else 1e3 * quantile(det, 0.99),
            detect_ms_per_frame=1e3 * det["sum"] / d["detected"] if d["detected"] else None,
            detect_mean_batch=d["detected"] / d["detect_calls"] if d["detect_calls"] else None,
            threads=bh.threads(p.pid),
        )
        r["cpu_s_per_cam_hour"] = 3600.0 * r["cpu_cores"] / n
        log(f"  {100 * r['cpu_cores']:.1f}% of a core; samples/s {r['samples_per_s']:.2f}, processed/s "
            f"{r['processed_per_s']:.2f}, dropped {d['dropped']:.0f}"
            + (f", detected/s {r['detected_per_s']:.2f}" if detect else "")
            + f"; other load {100 * r['other_cores']:.0f}% of a core")
        return r
    finally:
        CHILDREN.stop([p])


# --------------------------------------------------------------------------------------------
# GStreamer, one process per camera
# --------------------------------------------------------------------------------------------


def gst_argv(row: dict, decode: bool) -> list[str]:
    argv = ["gst-launch-1.0", "-q", "rtspsrc", f"location={row['url']}", "protocols=tcp"]
    if row.get("username"):
        argv += [f"user-id={row['username']}", f"user-pw={row.get('password', '')}"]
    argv += ["!", "rtph264depay", "!", "h264parse"]
    if decode:
        argv += ["!", "avdec_h264"]
    return argv + ["!", "fakesink"]


def run_gst(a, sim: Fleet, guard: bh.Guard, tmp: Path, count: int, decode: bool) -> dict:
    label = f"gst-launch x{count}: " + ("rtspsrc ! depay ! parse ! avdec_h264 ! fakesink (decode all)"
                                        if decode else "rtspsrc ! depay ! parse ! fakesink (no decode)")
    log(label)
    logf = tmp / f"gst-{'decode' if decode else 'nodecode'}.log"
    procs = []
    try:
        for i, row in enumerate(sim.rows[:count]):
            guard.check()
            procs.append(CHILDREN.start(gst_argv(row, decode), logf))
            if i % 10 == 9:
                guard.sleep(0.3)
        t0 = time.monotonic()
        last = bh.socket_rx(sim.ports)
        good, delivering = 0, 0
        while True:
            guard.sleep(2.0, sim.procs)
            now = bh.socket_rx(sim.ports)
            alive = [p for p in procs if p.poll() is None]
            if not alive:
                raise bh.Abort(f"every gst-launch exited\n{bh.tail(logf)}")
            delivering = sum(1 for p in alive if now.get(p.pid, (0, 0))[1] > last.get(p.pid, (0, 0))[1])
            last = now
            good = good + 1 if delivering == len(procs) else 0
            if good >= 2 or time.monotonic() - t0 > a.warmup_timeout:
                break
        if delivering < len(procs):
            log(f"  WARNING: only {delivering}/{len(procs)} delivering")
        guard.sleep(a.settle, sim.procs)
        pids = [p.pid for p in procs if p.poll() is None]
        rx0 = bh.socket_rx(sim.ports)
        w = bh.Window(pids, sim.pids())
        w.begin()
        guard.sleep(a.window, [*procs, *sim.procs])
        r = w.end()
        rx1 = bh.socket_rx(sim.ports)
        r.update(bh.memory(pids))
        r.update(
            label=label, kind="gst-decode-all" if decode else "gst-no-decode", cameras=len(procs),
            delivering=sum(1 for x in pids if rx1.get(x, (0, 0))[1] > rx0.get(x, (0, 0))[1]),
            alive_end=sum(1 for p in procs if p.poll() is None),
        )
        r["cpu_s_per_cam_hour"] = 3600.0 * r["cpu_cores"] / len(procs)
        log(f"  {100 * r['cpu_cores']:.1f}% of a core, {r['delivering']}/{len(procs)} delivering")
        return r
    finally:
        CHILDREN.stop(procs)


# --------------------------------------------------------------------------------------------
# Reference: what an IDR and an average frame of the clip cost to decode (ffmpeg, one thread)
# --------------------------------------------------------------------------------------------


def run_intrinsic(a, guard: bh.Guard, tmp: Path) -> dict:
    """CPU of decoding the clip --clip-loops times, every frame vs keyframes only."""
    log(f"reference: ffmpeg -threads 1 decoding {a.clip.name} x{a.clip_loops}, all frames and keyframes only")
    out = {"kind": "intrinsic", "loops": a.clip_loops}
    for name, extra in (("all", []), ("key", ["-skip_frame", "nokey"]), ("none", ["-c", "copy"])):
        argv = ["ffmpeg", "-nostdin", "-loglevel", "error", "-threads", "1", "-stream_loop", a.clip_loops - 1]
        if name == "none":
            argv += ["-i", a.clip, "-c", "copy", "-f", "null", "-"]
        else:
            argv += [*extra, "-i", a.clip, "-f", "null", "-"]
        ru0 = os.times()
        p = CHILDREN.start(argv, tmp / f"ffmpeg-{name}.log")
        try:
            while p.poll() is None:
                guard.sleep(0.2)
        finally:
            CHILDREN.stop([p])
        ru1 = os.times()
        if p.returncode != 0:
            raise bh.Abort(f"ffmpeg failed ({p.returncode})\n{bh.tail(tmp / f'ffmpeg-{name}.log')}")
        out[f"cpu_s_{name}"] = (ru1.children_user + ru1.children_system) - (ru0.children_user + ru0.children_system)
    frames, keys = a.clip_frames * a.clip_loops, a.clip_keyframes * a.clip_loops
    all_s = out["cpu_s_all"] - out["cpu_s_none"]  # demuxing and process start taken out
    key_s = out["cpu_s_key"] - out["cpu_s_none"]
    out["ms_per_idr"] = 1e3 * key_s / keys
    out["ms_per_frame_avg"] = 1e3 * all_s / frames
    out["ms_per_non_idr"] = 1e3 * (all_s - key_s) / (frames - keys)
    log(f"  IDR {out['ms_per_idr']:.2f} ms, other frames {out['ms_per_non_idr']:.2f} ms, "
        f"average {out['ms_per_frame_avg']:.2f} ms")
    return out


# --------------------------------------------------------------------------------------------
# The detector on its own: `sharpeyes detect` with the same picture K times
# --------------------------------------------------------------------------------------------

_DETECT_MS = re.compile(r"detection\(s\) in ([0-9.]+) ms")
_LOADED = re.compile(r"loaded in ([0-9.]+) ms")


def pct(v: list[float], q: float) -> float:
    """Percentile with linear interpolation between order statistics."""
    v = sorted(v)
    if len(v) == 1:
        return v[0]
    k = (len(v) - 1) * q
    f = math.floor(k)
    c = min(f + 1, len(v) - 1)
    return v[f] + (v[c] - v[f]) * (k - f)


def run_detect_cli(a, guard: bh.Guard, tmp: Path, threads: int) -> dict:
    k = a.detect_frames + a.detect_warmup
    log(f"sharpeyes detect: {a.image} x{k}, --threads {threads}")
    logf = tmp / f"detect-t{threads}.log"
    if logf.exists():
        logf.unlink()
    t0 = time.monotonic()
    ru0 = os.times()
    p = CHILDREN.start([a.bin, "detect", *([a.image] * k), "--threads", threads], logf)
    try:
        while p.poll() is None:
            guard.sleep(0.2)
    finally:
        CHILDREN.stop([p])
    wall = time.monotonic() - t0
    ru1 = os.times()
    text = logf.read_text(errors="replace")
    if p.returncode != 0:
        raise bh.Abort(f"sharpeyes detect failed ({p.returncode})\n{bh.tail(logf)}")
    ms = [float(x) for x in _DETECT_MS.findall(text)]
    if len(ms) != k:
        raise bh.Abort(f"sharpeyes detect printed {len(ms)} timings, expected {k}\n{bh.tail(logf)}")
    m = _LOADED.search(text)
    kept = ms[a.detect_warmup:]
    mean = sum(kept) / len(kept)
    r = {
        "kind": "detect-cli", "threads": threads, "frames": len(kept), "warmup_frames": a.detect_warmup,
        "first_ms": ms[0], "p50_ms": pct(kept, 0.5), "p99_ms": pct(kept, 0.99), "max_ms": max(kept),
        "mean_ms": mean, "frames_per_s": 1000.0 / mean, "model_load_ms": float(m.group(1)) if m else None,
        "wall_s": wall,
        "process_cpu_s": (ru1.children_user + ru1.children_system) - (ru0.children_user + ru0.children_system),
        "ms": ms,
    }
    log(f"  p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, {r['frames_per_s']:.1f} frames/s")
    return r


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

fmt, table = bh.fmt, bh.table


def find(res: dict, key: str):
    return res["runs"].get(key)


def derive(a, res: dict) -> None:
    R = res["runs"]
    d: dict = {}
    s0, s5, s5d = R.get("hold_s0"), R.get("hold_s5"), R.get("hold_s5_detect")
    gd, gn = R.get("gst_decode"), R.get("gst_nodecode")
    if s0 and s5:
        d["vision_cpu_s_per_cam_hour"] = s5["cpu_s_per_cam_hour"] - s0["cpu_s_per_cam_hour"]
        proc = s5["counters_window"]["processed"]
        if proc > 0:
            d["cpu_ms_per_sample"] = 1e3 * (s5["cpu_cores"] - s0["cpu_cores"]) * s5["window_s"] / proc
    if gd and s5:
        d["ratio_end_to_end"] = gd["cpu_s_per_cam_hour"] / s5["cpu_s_per_cam_hour"]
    if gd and d.get("vision_cpu_s_per_cam_hour"):
        d["ratio_decodeall_total_vs_vision"] = gd["cpu_s_per_cam_hour"] / d["vision_cpu_s_per_cam_hour"]
    if gd and gn:
        d["gst_decode_cpu_s_per_cam_hour"] = gd["cpu_s_per_cam_hour"] - gn["cpu_s_per_cam_hour"]
        if d.get("vision_cpu_s_per_cam_hour"):
            d["ratio_decode_part"] = d["gst_decode_cpu_s_per_cam_hour"] / d["vision_cpu_s_per_cam_hour"]
    if s0 and s5d:
        proc = s5d["counters_window"]["processed"]
        det = s5d["counters_window"]["detected"]
        if proc > 0:
            d["cpu_ms_per_sample_with_detect"] = 1e3 * (s5d["cpu_cores"] - s0["cpu_cores"]) * s5d["window_s"] / proc
        d["detect_coverage"] = det / proc if proc else None
    if s0:
        d["hold_cpu_s_per_cam_hour"] = s0["cpu_s_per_cam_hour"]
    ref = R.get("intrinsic")
    if ref and s5 and s5["cameras"]:
        # Frames between two samples of one camera, as measured (5 s rounds up to the next IDR).
        per_cam_s = s5["samples_per_s"] / s5["cameras"]
        if per_cam_s > 0:
            d["sample_period_s"] = 1 / per_cam_s
            frames = FPS / per_cam_s
            d["ideal_ratio"] = (frames / GOP * ref["ms_per_idr"] + (frames - frames / GOP) * ref["ms_per_non_idr"]) \
                / ref["ms_per_idr"]
    sat = R.get(f"daemon_detect_t{max(a.detect_threads)}") if a.detect_threads else None
    if sat and sat.get("detected_per_s"):
        # Saturated when the detector fell behind the samples offered (the rest was dropped at its
        # queue); otherwise its rate is only a lower bound of its capacity.
        d["detect_saturated"] = sat["detected_per_s"] < 0.95 * sat["processed_per_s"]
        d["detect_saturated_fps"] = sat["detected_per_s"]
        d["cameras_detect_throughput"] = sat["detected_per_s"] * a.target_interval
    # Cameras per machine at one sample per camera every --target-interval seconds.
    budget = a.cores * (1 - a.headroom)
    for key, name in (("cpu_ms_per_sample", "cameras_decode"), ("cpu_ms_per_sample_with_detect", "cameras_detect")):
        if d.get(key):
            per_cam = d[key] / 1e3 / a.target_interval  # cores per camera for vision
            d[name] = budget / per_cam
            if s0:
                # Alternative: 95 % of the cores for vision plus the measured cost of holding.
                d[name + "_incl_hold"] = a.cores * 0.95 / (per_cam + s0["cpu_cores"] / s0["cameras"])
    res["derived"] = d


def report(a, res: dict) -> str:
    R, D, m = res["runs"], res.get("derived", {}), res["meta"]
    out = [
        f"sharpeyes vision benchmark — {m.get('cpu')}, {m.get('cpus')} CPUs, {m.get('mem_gib')} GiB, "
        f"Linux {m.get('kernel')}",
        f"binary {m.get('bin')} (built {m.get('bin_mtime')}; the tree was at {m.get('commit')} when the run began); "
        f"clip 768x576 {FPS} fps, IDR every {GOP} frames; "
        f"window {a.window:g} s; {m.get('sim_processes')} sim processes x <= {a.cameras_per_sim} cameras",
        f"other load before the run: {100 * m.get('busy_cores_before_run', 0):.0f}% of a core"
        + (" — OTHER LOAD PRESENT: latencies are disturbed, and CPU times too (less so: shared caches and cores)"
           if m.get("busy_cores_before_run", 0) > 0.2 else ""),
        "",
        "1. CPU PER CAMERA-HOUR — keyframe sampling vs decoding every frame (CPU % is of one core)",
    ]
    rows = []
    for key in ("hold_s0", "hold_s5", "hold_s5_detect", "gst_nodecode", "gst_decode"):
        r = R.get(key)
        if not r:
            continue
        cw = r.get("counters_window", {})
        rows.append([
            r["label"], str(r["cameras"]), fmt(100 * r["cpu_cores"]), fmt(100 * r["cpu_cores"] / r["cameras"], ".2f"),
            fmt(r["cpu_s_per_cam_hour"], ".1f"),
            fmt(r.get("samples_per_s"), ".2f"), fmt(r.get("processed_per_s"), ".2f"),
            fmt(cw.get("dropped"), ".0f"), fmt(r.get("detected_per_s"), ".2f") if r.get("detect") else "-",
            fmt(r.get("decode_p50_ms"), ".1f"), fmt(r.get("decode_mean_ms"), ".1f"),
            fmt(r["rss_kib"] / 1024, ".0f"), fmt(100 * r["sim_cpu_cores"], ".0f"), fmt(100 * r["other_cores"], ".0f"),
        ])
    out.append(table(["run", "cams", "CPU %", "CPU %/cam", "CPU-s/cam-h", "samples/s", "processed/s",
                      "dropped", "detected/s", "decode p50 ms", "decode mean ms", "RSS MiB", "sim CPU %",
                      "other CPU %"], rows))
    out.append("  decode p50 is interpolated inside the buckets of sharpeyes_sample_decode_seconds "
               "(1, 2.5, 5, 10, 25 ms ...): coarse; the mean is sum/count. Both cover the GStreamer "
               "decode (parse, avdec_h264, videoconvert to RGB) only, not diagnosis or the JPEG snapshot.")
    out.append("")
    tgt = f">= {GOP}x"
    rows = []
    if D.get("vision_cpu_s_per_cam_hour") is not None:
        rows.append(["sharpeyes vision cost (sample 5 s − sample 0)", fmt(D["vision_cpu_s_per_cam_hour"], ".1f"), "", ""])
    if D.get("cpu_ms_per_sample") is not None:
        rows.append(["  CPU per sample (decode + diagnosis + snapshot)", fmt(D["cpu_ms_per_sample"], ".1f") + " ms", "", ""])
    if D.get("cpu_ms_per_sample_with_detect") is not None:
        rows.append(["  CPU per sample with detection", fmt(D["cpu_ms_per_sample_with_detect"], ".1f") + " ms", "", ""])
    if D.get("gst_decode_cpu_s_per_cam_hour") is not None:
        rows.append(["gst decode cost (decode all − no decode)", fmt(D["gst_decode_cpu_s_per_cam_hour"], ".1f"), "", ""])
    if D.get("ideal_ratio") is not None:
        ref = R["intrinsic"]
        rows.append([f"reference (ffmpeg, 1 thread): IDR {ref['ms_per_idr']:.1f} ms, other frames "
                     f"{ref['ms_per_non_idr']:.2f} ms; decode-all / IDR-only every {D['sample_period_s']:.1f} s",
                     "", fmt(D["ideal_ratio"], ".1f") + "x", "(best case)"])
    for key, name in (
        ("ratio_decode_part", "decode part: gst decode cost / sharpeyes vision cost"),
        ("ratio_decodeall_total_vs_vision", "gst decode-all total / sharpeyes vision cost"),
        ("ratio_end_to_end", "end to end: gst decode-all / sharpeyes holding + sampling"),
    ):
        if D.get(key) is not None:
            rows.append([name, "", fmt(D[key], ".1f") + "x", tgt + (" PASS" if D[key] >= GOP else " FAIL")])
    if rows:
        out.append(table(["figure (CPU-s per camera-hour)", "value", "ratio", "target"], rows))
    out.append("")

    out.append("2. DETECTOR LATENCY — CenterNet (models/centernet_coco.toml) on " + str(a.image.name)
               + " (768x576), CPU execution provider")
    rows = []
    for t in a.detect_threads:
        r = R.get(f"detect_cli_t{t}")
        if r:
            rows.append([f"sharpeyes detect, {t} thread(s)", str(r["frames"]), fmt(r["p50_ms"]), fmt(r["p99_ms"]),
                         fmt(r["max_ms"]), fmt(r["frames_per_s"]), fmt(r["model_load_ms"], ".0f"),
                         "~30 ms on 2 threads" if t == 2 else ""])
    if rows:
        out.append(table(["run", "frames", "p50 ms/frame", "p99 ms/frame", "max ms", "frames/s", "load ms", "target"], rows))
        out.append("  per-frame times printed by `sharpeyes detect` (resize, tensor, inference, NMS; "
                   f"not the image file's decode); the first {a.detect_warmup} frames are dropped as warm-up.")
    rows = []
    for t in a.detect_threads:
        r = R.get(f"daemon_detect_t{t}")
        if r:
            rows.append([f"daemon, [detect] threads = {t}", str(r["cameras"]), fmt(r["processed_per_s"]),
                         fmt(r["detected_per_s"]), fmt(r["detect_ms_per_frame"]), fmt(r["detect_mean_batch"], ".2f"),
                         fmt(r["detect_call_p50_ms"]), fmt(r["detect_call_p99_ms"]),
                         fmt(100 * r["cpu_cores"]), fmt(100 * r["other_cores"], ".0f")])
    if rows:
        out.append("")
        out.append(table(["in the daemon (sample 1 s)", "cams", "processed/s", "detected/s", "mean ms/frame",
                          "frames/call", "call p50 ms", "call p99 ms", "daemon CPU %", "other CPU %"], rows))
        out.append("  call p50/p99 are interpolated from sharpeyes_detect_seconds buckets (5, 10, 20, 30, 50, "
                   "100, 200 ms ...) per detector call (a batch); mean ms/frame = sum / frames detected. "
                   "Decoding runs on the same 2 cores.")
    out.append("")

    out.append(f"3. CAMERAS PER {a.cores:g}-CORE MACHINE at one sample per camera every {a.target_interval:g} s")
    rows = []
    for key, name in (("cameras_decode", "decode + diagnosis"), ("cameras_detect", "decode + diagnosis + detection")):
        if D.get(key):
            per = D["cpu_ms_per_sample" if key == "cameras_decode" else "cpu_ms_per_sample_with_detect"]
            rows.append([name, fmt(per, ".1f"), fmt(D[key], ".0f"), fmt(D.get(key + "_incl_hold"), ".0f")])
    if D.get("cameras_detect_throughput"):
        sat = D.get("detect_saturated")
        rows.append([f"detector throughput ({D['detect_saturated_fps']:.1f} frames/s "
                     f"{'saturated' if sat else 'NOT saturated: a lower bound'}, threads={max(a.detect_threads)})",
                     "-", ("" if sat else ">= ") + fmt(D["cameras_detect_throughput"], ".0f"), "-"])
    if rows:
        out.append(table(["estimate", "CPU ms/sample", f"cams ({100 * (1 - a.headroom):.0f}% of {a.cores:g} cores)",
                          "cams (95% of cores, minus measured hold CPU)"], rows))
        out.append(f"  cams = {a.cores:g} cores x {1 - a.headroom:.2f} x {a.target_interval:g} s / CPU-s per sample "
                   f"({100 * a.headroom:.0f}% left for ingest, the API, the simulator's share in this test); "
                   "second column: 0.95 x cores / (vision + measured per-camera holding CPU). The detector is "
                   "one thread pool: its saturated rate x 5 s bounds the detection fleet too; take the smaller.")
    rows = []
    for key in sorted((k for k in R if k.startswith("direct_")),
                      key=lambda k: (R[k]["detect"], bool(R[k]["config"]), R[k]["cameras"])):
        r = R[key]
        cw = r["counters_window"]
        ok = cw["dropped"] == 0 and r["cpu_cores"] < a.cores and r["online_end"] >= r["cameras"]
        if r["detect"]:
            ok = ok and cw["detected"] >= 0.95 * cw["processed"] - DETECT_BACKLOG
        rows.append([r["label"], str(r["cameras"]), f"{r['online_end']}/{r['cameras']}", fmt(r["samples_per_s"], ".1f"),
                     fmt(r["processed_per_s"], ".1f"), fmt(cw["dropped"], ".0f"),
                     fmt(r["detected_per_s"], ".1f") if r["detect"] else "-", fmt(r.get("sample_spread_ms"), ".0f"),
                     fmt(100 * r["cpu_cores"], ".0f"), fmt(100 * r["sim_cpu_cores"], ".0f"),
                     fmt(100 * r["machine_busy_cores"], ".0f"), fmt(r["rss_kib"] / 1024, ".0f"),
                     "PASS" if ok else "FAIL"])
    if rows:
        out.append("")
        out.append(table(["direct check (sample 5 s)", "cams", "online", "samples/s", "processed/s", "dropped",
                          "detected/s", "burst ms", "daemon CPU %", "sim CPU %", "machine %", "RSS MiB", "verdict"], rows))
        out.append(f"  PASS: no sample dropped in the window, daemon CPU < {a.cores:g} cores (of {100 * a.cores:.0f}%), all "
                   "cameras online; with detection also frames detected >= 95% of samples processed − "
                   f"{DETECT_BACKLOG} (detector-queue drops are not exported; up to {DETECT_BACKLOG} frames may "
                   "wait at the window's end). machine % includes the simulators and any other load.\n"
                   "  burst ms: the shortest stretch of the sampling period (≈6 s: 5 s rounded up to the next "
                   "IDR) holding every camera's last sample time; ~0 = all cameras' samples arrive at once, so "
                   "a burst longer than the queue is dropped whatever the CPU left.")
    if res.get("notes"):
        out.append("")
        out += [f"NOTE: {n}" for n in res["notes"]]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def meta(a) -> dict:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        commit += "+dirty" if dirty else ""
    except (OSError, subprocess.SubprocessError):
        commit = "?"

    def version(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return None

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "cpu": cpu, "cpus": os.cpu_count(),
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "kernel": platform.release(), "python": platform.python_version(), "bin": str(a.bin),
        "bin_mtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(a.bin.stat().st_mtime)),
        "commit": commit, "gstreamer": version(["gst-launch-1.0", "--version"]),
        "argv": sys.argv[1:],
    }


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Vision benchmark: keyframe sampling vs decode-all CPU, detector latency, "
        "cameras per machine. See docs/benchmarks.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--bin", type=Path, default=ROOT / "target/release/sharpeyes", help="sharpeyes binary (sim, run, detect)")
    ap.add_argument("--cameras", type=int, default=20, help="cameras of the CPU comparison (part 1)")
    ap.add_argument("--max-peer", type=int, default=20, help="most gst-launch processes")
    ap.add_argument("--window", type=float, default=60, help="measurement window per run (s)")
    ap.add_argument("--settle", type=float, default=8, help="seconds between warm-up and the window")
    ap.add_argument("--warmup-timeout", type=float, default=120, help="longest wait for cameras online / first samples")
    ap.add_argument("--clip", type=Path, default=ROOT / "tests/data/cctv_gop20.mp4", help="the simulator's clip (reference decode cost)")
    ap.add_argument("--clip-frames", type=int, default=796, help="frames in --clip")
    ap.add_argument("--clip-keyframes", type=int, default=40, help="IDR frames in --clip")
    ap.add_argument("--clip-loops", type=int, default=5, help="times ffmpeg decodes --clip for the reference")
    ap.add_argument("--image", type=Path, default=ROOT / "tests/data/images/cctv_t20.png", help="picture for the detector timing")
    ap.add_argument("--detect-frames", type=int, default=100, help="timed frames per thread count")
    ap.add_argument("--detect-warmup", type=int, default=5, help="frames dropped before timing")
    ap.add_argument("--detect-threads", default="1,2", help="ONNX Runtime thread counts to time")
    ap.add_argument("--detect-cameras", type=int, default=60, help="cameras of the in-daemon detection runs (sampled every 1 s); 0 skips them")
    ap.add_argument("--direct", default="200,400", help="direct-check fleet sizes at --sample-interval 5 (no detection); '' skips")
    ap.add_argument("--direct-queues", default="default,fleet",
                    help="direct checks with the default queues ([vision] 64, [detect] 32) and/or with queues as long as the fleet ('fleet')")
    ap.add_argument("--direct-workers", default="1", help="[vision] workers of the direct checks, comma-separated (default 1, the daemon's)")
    ap.add_argument("--direct-window", type=float, default=36, help="window of each direct check (s; 6 sampling rounds)")
    ap.add_argument("--direct-detect", default="auto", help="direct-check sizes with --detect ('auto': the estimate, rounded down to 10; '' skips)")
    ap.add_argument("--cameras-per-sim", type=int, default=50, help="cameras per simulator process (their keyframes are in phase)")
    ap.add_argument("--cores", type=float, default=2, help="cores of the machine the estimate is for")
    ap.add_argument("--headroom", type=float, default=0.25, help="share of the cores kept for ingest and the rest")
    ap.add_argument("--target-interval", type=float, default=5, help="sample interval the estimate is for (s)")
    ap.add_argument("--parts", default="cpu,detect,capacity",
                    help="which parts run: cpu, detect, capacity (estimate + direct checks); 'direct' runs the direct checks alone")
    ap.add_argument("--json", type=Path, help="write every raw figure here")
    ap.add_argument("--timeout", type=float, default=2400, help="wall-clock limit of the whole run (s)")
    ap.add_argument("--min-free-gib", type=float, default=1.5, help="abort when MemAvailable falls below this")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, inventories)")
    a = ap.parse_args(argv)
    a.detect_threads = [int(x) for x in a.detect_threads.split(",") if x.strip()]
    a.direct = [int(x) for x in a.direct.split(",") if x.strip()]
    a.parts = {x.strip() for x in a.parts.split(",") if x.strip()}
    a.direct_workers = [int(x) for x in a.direct_workers.split(",") if x.strip()]
    a.direct_queues = [x.strip() for x in a.direct_queues.split(",") if x.strip() in ("default", "fleet")]
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    bh.setup_process()
    if not a.bin.exists():
        print(f"bench-vision: {a.bin} not found; run `cargo build --release` first", file=sys.stderr)
        return 2
    guard = bh.Guard(a.timeout, a.min_free_gib)
    busy_before = bh.busy_cores(2)
    if busy_before > 0.2:
        log(f"WARNING: the machine is busy before the run ({100 * busy_before:.0f}% of a core); "
            "latencies will be disturbed, CPU times less so")
    tmp = Path(tempfile.mkdtemp(prefix="sharpeyes-bench-vision-"))
    res: dict = {"meta": meta(a), "runs": {}, "notes": []}
    res["meta"]["busy_cores_before_run"] = busy_before
    R = res["runs"]
    status = 0
    try:
        if "detect" in a.parts:
            for t in a.detect_threads:
                R[f"detect_cli_t{t}"] = run_detect_cli(a, guard, tmp, t)
        need = 0
        if "cpu" in a.parts:
            need = max(need, a.cameras)
        if "detect" in a.parts:
            need = max(need, a.detect_cameras)
        if "capacity" in a.parts or "direct" in a.parts:
            need = max(need, *a.direct, 0)
        if need:
            log(f"starting simulators for {need} cameras, {a.cameras_per_sim} per process")
            sim = Fleet(a.bin, tmp, need, a.cameras_per_sim, guard)
            res["meta"]["sim_processes"] = len(sim.procs)
            log(f"simulators up in {sim.startup_s:.1f} s")
        if "cpu" in a.parts or "capacity" in a.parts:
            R["hold_s0"] = run_daemon(a, sim, guard, tmp, a.cameras, "0")
            R["hold_s5"] = run_daemon(a, sim, guard, tmp, a.cameras, "5")
            R["hold_s5_detect"] = run_daemon(a, sim, guard, tmp, a.cameras, "5", detect=True)
        if "cpu" in a.parts and shutil.which("ffmpeg"):
            R["intrinsic"] = run_intrinsic(a, guard, tmp)
        if "cpu" in a.parts and shutil.which("gst-launch-1.0"):
            n = min(a.cameras, a.max_peer)
            R["gst_nodecode"] = run_gst(a, sim, guard, tmp, n, decode=False)
            R["gst_decode"] = run_gst(a, sim, guard, tmp, n, decode=True)
        elif "cpu" in a.parts:
            res["notes"].append("gst-launch-1.0 not found: no decode-all comparison (scripts/setup.sh installs it)")
        if "detect" in a.parts and a.detect_cameras:
            for t in a.detect_threads:
                R[f"daemon_detect_t{t}"] = run_daemon(
                    a, sim, guard, tmp, a.detect_cameras, "1", detect=True,
                    config=f"[detect]\nthreads = {t}\n",
                    label=f"sharpeyes {a.detect_cameras} cams, sample 1 s +detect threads={t}",
                )
        derive(a, res)
        if "capacity" in a.parts or "direct" in a.parts:
            for wk in a.direct_workers:
                for q in a.direct_queues:
                    for n in a.direct:
                        toml = (f"queue = {n}\n" if q == "fleet" else "") + (f"workers = {wk}\n" if wk != 1 else "")
                        R[f"direct_{n}_q{q}_w{wk}"] = run_daemon(
                            a, sim, guard, tmp, n, "5", window_s=a.direct_window,
                            config=f"[vision]\n{toml}" if toml else "",
                            label=f"sharpeyes {n} cams, sample 5 s, "
                            + ("default queue" if q == "default" else f"queue {n}")
                            + (f", {wk} workers" if wk != 1 else ""))
            dd = a.direct_detect
            if dd == "auto" and "cameras_detect" not in res["derived"]:
                dd = []  # no estimate without the part-1 runs
            if dd == "auto":
                D = res["derived"]
                ests = [D.get("cameras_detect")]
                if D.get("detect_saturated"):
                    ests.append(D.get("cameras_detect_throughput"))
                est = min((e for e in ests if e), default=None)
                dd = [max(10, int(est // 10 * 10))] if est else []
            elif isinstance(dd, str):
                dd = [int(x) for x in dd.split(",") if x.strip()]
            for q in a.direct_queues:
                for n in dd:
                    n = min(n, len(sim.rows))
                    R[f"direct_detect_{n}_q{q}"] = run_daemon(
                        a, sim, guard, tmp, n, "5", detect=True, window_s=a.direct_window,
                        config="" if q == "default" else f"[vision]\nqueue = {n}\n[detect]\nqueue = {n}\n",
                        label=f"sharpeyes {n} cams, sample 5 s +detect, "
                        + ("default queues" if q == "default" else f"queues {n}"))
    except Exception as e:  # keep partial results, still stop every child
        status = 1
        bh.note_failure(res["notes"], e)
    finally:
        bh.stop_children()
    derive(a, res)
    print(report(a, res), flush=True)
    if a.json:
        bh.write_figures(a.json, res)
    bh.clean_up(tmp, a.keep or status, "logs")
    return status


if __name__ == "__main__":
    sys.exit(main())
