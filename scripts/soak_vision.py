#!/usr/bin/env python3
"""Memory soak: is the daemon's memory flat while it samples (and detects on) a fleet for a while?

    scripts/soak_vision.py                       # 50 cameras, 30 minutes, detection on, /tmp/soak
    scripts/soak_vision.py --minutes 5 --out /tmp/soak-quick
    nohup scripts/soak_vision.py > /tmp/soak/console.log 2>&1 &

One `sharpeyes sim` serves --cameras cameras on loopback; `sharpeyes run --mode hold
--sample-interval 5 --detect` holds them all. Once every camera is online, the script waits
--warmup seconds (default 60), takes the start RSS, then samples the daemon every --every
seconds (default 60) for --minutes minutes into <out>/rss.csv (one row per sample, flushed):
VmRSS (at the row, and the min / max of polls every --poll seconds since the last row), Pss,
threads, CPU seconds, and the vision counters from /metrics (samples taken,
processed, dropped; frames detected). At the end it prints start / end / max RSS, the slope of
RSS over time (least squares, KiB/min, over the whole run and over its second half), and the
RSS floor (the lowest poll of each interval: what stays allocated when the queues are empty) and
its slope, the samples processed and dropped, and writes the same to <out>/summary.txt and <out>/summary.json.

Bounded: the whole run stops after warm-up + --minutes + --grace (default 300 s) whatever
happens. Every child runs in its own process group with PR_SET_PDEATHSIG and is stopped (TERM,
then KILL) on exit, Ctrl-C, SIGTERM, SIGHUP and errors; a cut-short run still writes its partial
summary. Python 3.11 standard library only; helpers come from scripts/bench_hold.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_hold as bh  # noqa: E402  (process handling, /proc readers, /metrics scraping)

ROOT = bh.ROOT


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Memory soak of sharpeyes sampling (and detecting on) a simulated fleet.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--bin", type=Path, default=ROOT / "target/release/sharpeyes")
    ap.add_argument("--cameras", type=int, default=50)
    ap.add_argument("--minutes", type=float, default=30, help="length of the measured part")
    ap.add_argument("--warmup", type=float, default=60, help="seconds after all cameras are online before the start RSS")
    ap.add_argument("--every", type=float, default=60, help="seconds between RSS samples")
    ap.add_argument("--poll", type=float, default=2, help="seconds between RSS polls (min/max per row)")
    ap.add_argument("--sample-interval", default="5", help="daemon --sample-interval")
    ap.add_argument("--no-detect", action="store_true", help="run without --detect")
    ap.add_argument("--config", type=Path, help="extra daemon --config TOML")
    ap.add_argument("--daemon-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the daemon only (e.g. MALLOC_ARENA_MAX=1); repeatable")
    ap.add_argument("--out", type=Path, default=Path("/tmp/soak"), help="output directory (CSV, logs, summary)")
    ap.add_argument("--grace", type=float, default=300, help="extra seconds allowed for start-up and shutdown")
    ap.add_argument("--min-free-gib", type=float, default=1.0, help="abort when MemAvailable falls below this")
    return ap.parse_args(argv)


def slope_kib_per_min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (minutes, KiB) points."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    if sxx == 0:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in points) / sxx


def counters(base: str) -> dict:
    s = bh.scrape(base + "/metrics")
    g = bh.get_json(base + "/api/groups")
    return {
        "online": g["fleet"]["online"],
        "samples": bh.metric_sum(s, "sharpeyes_samples_total"),
        "processed": bh.metric_sum(s, "sharpeyes_samples_processed_total"),
        "dropped": bh.metric_sum(s, "sharpeyes_samples_dropped_total"),
        "sample_errors": bh.metric_sum(s, "sharpeyes_sample_errors_total"),
        "detected_frames": bh.metric_sum(s, "sharpeyes_detect_batch_size_sum"),
        "detect_calls": bh.metric_sum(s, "sharpeyes_detect_seconds_count"),
        "reconnects": bh.metric_sum(s, "sharpeyes_reconnects_total"),
    }


FIELDS = [
    "t_min", "wall", "rss_kib", "rss_min_kib", "rss_max_kib", "pss_kib", "threads", "cpu_s", "online", "samples", "processed",
    "dropped", "sample_errors", "detected_frames", "detect_calls", "reconnects", "sim_rss_kib",
]


def fmt_kib(k: float | None) -> str:
    return "-" if k is None else f"{k:,.0f} KiB ({k / 1024:.1f} MiB)"


def summarise(a, rows: list[dict], note: str | None) -> tuple[str, dict]:
    res: dict = {
        "cameras": a.cameras,
        "sample_interval": a.sample_interval,
        "detect": not a.no_detect,
        "minutes_planned": a.minutes,
        "daemon_env": a.daemon_env,
        "rows": len(rows),
        "note": note,
    }
    lines = [
        f"sharpeyes vision soak — {a.cameras} cameras, --sample-interval {a.sample_interval}"
        f"{'' if a.no_detect else ' --detect'}, planned {a.minutes:g} min after {a.warmup:g} s warm-up"
        + (f"; daemon env {' '.join(a.daemon_env)}" if a.daemon_env else "")
    ]
    if note:
        lines.append(f"NOTE: {note}")
    if not rows:
        lines.append("no RSS sample was taken")
        return "\n".join(lines), res
    first, last = rows[0], rows[-1]
    rss_max = max(r["rss_max_kib"] for r in rows)
    pts = [(r["t_min"], r["rss_kib"]) for r in rows]
    half = [p for p in pts if p[0] >= last["t_min"] / 2]
    # The floor: the lowest RSS polled in each interval (row 0 has no interval before it).
    floor = [(r["t_min"], r["rss_min_kib"]) for r in rows[1:]]
    floor_half = [p for p in floor if p[0] >= last["t_min"] / 2]
    d = lambda k: last[k] - first[k]  # noqa: E731
    minutes = last["t_min"] - first["t_min"]
    res.update(
        minutes_measured=minutes,
        rss_start_kib=first["rss_kib"],
        rss_end_kib=last["rss_kib"],
        rss_max_kib=rss_max,
        pss_start_kib=first["pss_kib"],
        pss_end_kib=last["pss_kib"],
        slope_kib_per_min=slope_kib_per_min(pts),
        slope_second_half_kib_per_min=slope_kib_per_min(half),
        floor_first_kib=floor[0][1] if floor else None,
        floor_last_kib=floor[-1][1] if floor else None,
        floor_slope_kib_per_min=slope_kib_per_min(floor),
        floor_slope_second_half_kib_per_min=slope_kib_per_min(floor_half),
        samples=d("samples"),
        processed=d("processed"),
        dropped=d("dropped"),
        sample_errors=d("sample_errors"),
        detected_frames=d("detected_frames"),
        reconnects=d("reconnects"),
        cpu_cores=(d("cpu_s") / (minutes * 60)) if minutes > 0 else None,
        online_end=last["online"],
        totals_since_daemon_start={k: last[k] for k in ("samples", "processed", "dropped", "detected_frames")},
    )
    sl, sl2 = res["slope_kib_per_min"], res["slope_second_half_kib_per_min"]
    per_min = lambda v: f"{v / minutes:.0f}/min" if minutes > 0 else "-"  # noqa: E731
    lines += [
        f"measured {minutes:.1f} min, {len(rows)} RSS samples (every {a.every:g} s)",
        f"RSS start  {fmt_kib(first['rss_kib'])}   PSS {fmt_kib(first['pss_kib'])}",
        f"RSS end    {fmt_kib(last['rss_kib'])}   PSS {fmt_kib(last['pss_kib'])}",
        f"RSS max    {fmt_kib(rss_max)} (polled every {a.poll:g} s)",
        f"RSS change {last['rss_kib'] - first['rss_kib']:+,.0f} KiB",
        "RSS slope  " + ("-" if sl is None else f"{sl:+.1f} KiB/min")
        + " (least squares, whole run); "
        + ("-" if sl2 is None else f"{sl2:+.1f} KiB/min") + " over the second half",
        "RSS floor  (lowest RSS of each interval) first " + fmt_kib(res["floor_first_kib"]) + ", last "
        + fmt_kib(res["floor_last_kib"]) + "; slope "
        + ("-" if res["floor_slope_kib_per_min"] is None else f"{res['floor_slope_kib_per_min']:+.1f} KiB/min")
        + ", second half "
        + ("-" if res["floor_slope_second_half_kib_per_min"] is None
           else f"{res['floor_slope_second_half_kib_per_min']:+.1f} KiB/min"),
        f"samples    taken {res['samples']:.0f} ({per_min(res['samples'])}), processed "
        f"{res['processed']:.0f}, dropped {res['dropped']:.0f}, errors {res['sample_errors']:.0f}",
        f"detection  {res['detected_frames']:.0f} frames detected ({per_min(res['detected_frames'])}) "
        f"in {d('detect_calls'):.0f} calls"
        + ("" if a.no_detect else "; processed − detected = dropped at the detector queue or too dark/bright"),
        f"daemon CPU {100 * res['cpu_cores']:.1f}% of one core on average" if res["cpu_cores"] is not None else "",
        f"online     {last['online']}/{a.cameras} at the end, {res['reconnects']:.0f} reconnects",
    ]
    return "\n".join(l for l in lines if l), res


def main(argv=None) -> int:
    a = parse_args(argv)
    bh.setup_process()
    if not a.bin.exists():
        print(f"soak: {a.bin} not found; build it first (cargo build --release)", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    guard = bh.Guard(a.warmup + a.minutes * 60 + a.grace, a.min_free_gib)
    csv_path = a.out / "rss.csv"
    rows: list[dict] = []
    note = None
    status = 0
    try:
        sim = bh.SimFleet(a.bin, a.out, a.cameras, 1, guard)
        inv = sim.write_inventory(a.out / "inventory.csv", a.cameras)
        port = bh.free_port()
        base = f"http://127.0.0.1:{port}"
        data = a.out / "data"
        argv = [
            a.bin, "run", "--inventory", inv, "--listen", f"127.0.0.1:{port}", "--data-dir", data,
            "--mode", "hold", "--sample-interval", a.sample_interval,
        ]
        if not a.no_detect:
            argv.append("--detect")
        if a.config:
            argv += ["--config", a.config]
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        for kv in a.daemon_env:
            k, _, v = kv.partition("=")
            env[k] = v
        logf = a.out / "sharpeyes.log"
        bh.log(f"daemon: {' '.join(str(x) for x in argv)}")
        p = bh.CHILDREN.start(argv, logf, env=env)
        watch = [p, *sim.procs]
        try:
            bh.wait_http(base + "/healthz", guard, 60, watch)
        except bh.Abort as e:
            raise bh.Abort(f"{e}\n{bh.tail(logf)}") from None
        t0 = time.monotonic()
        while bh.get_json(base + "/api/groups")["fleet"]["online"] < a.cameras:
            if time.monotonic() - t0 > 180:
                bh.log("WARNING: not every camera online after 180 s; going on")
                break
            guard.sleep(1, watch)
        bh.log(f"{bh.get_json(base + '/api/groups')['fleet']['online']}/{a.cameras} online after "
               f"{time.monotonic() - t0:.0f} s; warming up {a.warmup:g} s")
        guard.sleep(a.warmup, watch)
        start = time.monotonic()
        n_samples = int(a.minutes * 60 // a.every) + 1
        with open(csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            for i in range(n_samples):
                target = start + i * a.every
                # Between rows, RSS every --poll seconds: its min and max over the interval. The
                # point value swings with the frames waiting in the queues; the minimum (floor)
                # is what stays allocated, the better leak indicator.
                lo, hi = None, None
                while True:
                    v = bh.status_kib(p.pid, "VmRSS") or 0
                    lo, hi = (v if lo is None else min(lo, v)), (v if hi is None else max(hi, v))
                    left = target - time.monotonic()
                    if left <= 0:
                        break
                    guard.sleep(min(a.poll, left), watch)
                c = counters(base)
                rss = bh.status_kib(p.pid, "VmRSS") or 0
                row = {
                    "t_min": round((time.monotonic() - start) / 60, 3),
                    "wall": time.strftime("%H:%M:%S"),
                    "rss_kib": rss,
                    "rss_min_kib": min(lo, rss),
                    "rss_max_kib": max(hi, rss),
                    "pss_kib": bh.pss_kib(p.pid) or 0,
                    "threads": bh.threads(p.pid) or 0,
                    "cpu_s": (bh.cpu_ticks(p.pid) or 0) / bh.CLK_TCK,
                    "sim_rss_kib": sim.rss_kib(),
                    **c,
                }
                rows.append(row)
                w.writerow(row)
                f.flush()
                bh.log(f"t={row['t_min']:5.1f} min RSS {row['rss_kib'] / 1024:7.1f} MiB, "
                       f"processed {row['processed']:.0f}, dropped {row['dropped']:.0f}, "
                       f"detected {row['detected_frames']:.0f}, online {row['online']}")
    except bh.Abort as e:
        status = 1
        note = f"cut short: {e}"
        bh.log(f"ABORTED: {e}")
    except Exception as e:  # keep the partial figures, still stop every child
        status = 1
        note = f"failed: {type(e).__name__}: {e}"
        bh.log(note)
    finally:
        bh.stop_children()
    text, res = summarise(a, rows, note)
    res["csv"] = str(csv_path)
    print(text, flush=True)
    (a.out / "summary.txt").write_text(text + "\n")
    (a.out / "summary.json").write_text(json.dumps({"summary": res, "rows": rows}, indent=2) + "\n")
    bh.log(f"CSV {csv_path}, summary {a.out / 'summary.txt'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
