#!/usr/bin/env python3
"""Alert latency: from the sampled keyframe to the message on the MQTT topic.

    scripts/bench_alerts.py                     # 10 cameras, 120 s, release build
    scripts/bench_alerts.py --cameras 20 --seconds 300

Starts a real mosquitto and a `sharpeyes sim` on loopback, and `sharpeyes run --sample-interval 1
--detect --mqtt` with a crowding rule that reports every change of the people count
(`min_people = 1`, `dwell = 0`, `update_interval = 0`), so the clip's walkers produce a steady
stream of `new`/`update`/`end` messages. `mosquitto_sub` prints each message as it arrives; the
latency of a message is its arrival time minus its `data.updated_at`, which is the wall-clock
time the keyframe it judged was taken from the stream. It therefore covers the wait in the
sample queue, decode, diagnosis, JPEG, the detector queue and inference, the rule, the snapshot
and the outbox's fsync'ed commit, and the MQTT publish through the broker to the subscriber.

Prints count, p50, p90, p99 and max (target: p99 < 1 s on CPU). Bounded: every child is killed
at --seconds + 60 s whatever happens. Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", type=Path, default=ROOT / "target/release/sharpeyes")
    ap.add_argument("--cameras", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--warmup", type=float, default=15, help="seconds ignored after the first message")
    a = ap.parse_args()
    if not a.bin.exists():
        raise SystemExit(f"{a.bin} missing: cargo build --release")
    tmp = Path(tempfile.mkdtemp(prefix="sharpeyes-bench-alerts-"))
    procs: list[subprocess.Popen] = []

    def spawn(args, **kw):
        p = subprocess.Popen(args, start_new_session=True, **kw)
        procs.append(p)
        return p

    def stop(*_):
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        for p in procs:
            p.wait()

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(1)))
    watchdog = threading.Timer(a.seconds + 60, lambda: (print("deadline: stopping"), stop(), os._exit(2)))
    watchdog.daemon = True
    watchdog.start()
    try:
        mport = free_port()
        (tmp / "mosquitto.conf").write_text(f"listener {mport} 127.0.0.1\nallow_anonymous true\n")
        spawn(["/usr/sbin/mosquitto", "-c", str(tmp / "mosquitto.conf")],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(mport, 10)
        control = free_port()
        inv = tmp / "inv.csv"
        spawn([str(a.bin), "sim", "--cameras", str(a.cameras), "--port", str(free_port()),
               "--control", f"127.0.0.1:{control}", "--inventory-out", str(inv)],
              stdout=open(tmp / "sim.log", "w"), stderr=subprocess.STDOUT, cwd=ROOT)
        end = time.time() + 30
        while not inv.exists() and time.time() < end:
            time.sleep(0.2)
        rules = tmp / "rules.toml"
        rules.write_text(
            '[[rules]]\nname = "bench"\nkind = "crowding"\ncameras = ["*"]\nmin_people = 1\n'
            'min_score = 0.3\ndwell = "0s"\nhold_off = "0s"\nsmoothing = 1\nupdate_interval = "0s"\n'
        )
        sub = spawn(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mport), "-q", "1",
                     "-t", "sharpeyes/events"], stdout=subprocess.PIPE, text=True)
        lat: list[float] = []
        first: list[float] = []

        def reader():
            for line in sub.stdout:
                now = time.time()
                try:
                    d = json.loads(line)["data"]
                except (ValueError, KeyError):
                    continue
                at = datetime.fromisoformat(d["updated_at"].replace("Z", "+00:00")).timestamp()
                if not first:
                    first.append(now)
                if now - first[0] >= a.warmup:
                    lat.append(now - at)

        threading.Thread(target=reader, daemon=True).start()
        api = free_port()
        daemon = spawn([str(a.bin), "run", "--inventory", str(inv), "--listen", f"127.0.0.1:{api}",
                        "--data-dir", str(tmp / "data"), "--sample-interval", "1", "--detect",
                        "--rules", str(rules), "--mqtt", f"mqtt://127.0.0.1:{mport}"],
                       stdout=open(tmp / "daemon.log", "w"), stderr=subprocess.STDOUT, cwd=ROOT,
                       env={**os.environ, "RUST_LOG": "warn"})
        cpu0 = None
        t0 = time.time()
        while time.time() - t0 < a.seconds:
            time.sleep(1)
            if first and cpu0 is None and time.time() - first[0] >= a.warmup:
                cpu0 = (time.time(), cpu_seconds(daemon.pid))
        cpu1 = (time.time(), cpu_seconds(daemon.pid))
        if not lat:
            print(f"no messages measured; see {tmp}/daemon.log")
            return 1
        print(f"sharpeyes alert latency — {a.cameras} cameras sampled every 1 s with detection, "
              f"{len(lat)} messages over {a.seconds - a.warmup:.0f} s (after {a.warmup:.0f} s warm-up)")
        print("keyframe taken → message at an MQTT subscriber (QoS 1, through mosquitto)")
        print(f"  p50 {1000 * pct(lat, .5):7.1f} ms")
        print(f"  p90 {1000 * pct(lat, .9):7.1f} ms")
        print(f"  p99 {1000 * pct(lat, .99):7.1f} ms   target < 1000 ms: "
              f"{'PASS' if pct(lat, .99) < 1 else 'FAIL'}")
        print(f"  max {1000 * max(lat):7.1f} ms")
        if cpu0:
            print(f"  daemon CPU {100 * (cpu1[1] - cpu0[1]) / (cpu1[0] - cpu0[0]):.0f}% of one core")
        return 0
    finally:
        stop()


def cpu_seconds(pid: int) -> float:
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    sys.exit(main())
