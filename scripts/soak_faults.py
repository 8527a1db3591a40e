#!/usr/bin/env python3
"""Reliability soak: does sharpeyes tell the truth and lose no alert while things break?

    scripts/soak_faults.py                          # 100 cameras, 20 minutes, /tmp/soak-faults
    scripts/soak_faults.py --minutes 3 --out /tmp/soak-quick
    make soak-faults

One `sharpeyes sim` serves --cameras cameras on loopback; `sharpeyes run` holds them all with a
`video_loss` rule on every camera and the MQTT sink to a real mosquitto (persistent sessions), and
`mosquitto_sub` (QoS 1, persistent session) records every alert message. Then, for --minutes:
- **flaps**: every --flap-every seconds one random camera answers 404 for --flap-down seconds
  (the simulator's control API): it must go offline, raise an alert, come back;
- **broker outages**: every --broker-every seconds mosquitto stops for --broker-down seconds;
- **kill -9**: every --kill-every seconds the daemon is killed with SIGKILL and restarted on the
  same data directory 2 s later.
Every --poll seconds the script reads /api/cameras: a camera offline that was not flapped (and
is not within --grace seconds after its flap ended) is a **false offline**. At the end the faults
stop, the outbox drains, and every alert message the outbox holds (`alerts.db`, read-only) must
have reached the subscriber: the rest are **alerts lost**. RSS is sampled per daemon life; the
drift is the largest rise above the RSS 60 s into a life.

Not injected here, and tested elsewhere: network partitions and delay (tests/chaos_netns.rs,
network namespaces, root) and wall-clock steps (tests/clock_step.rs, libfaketime); the summary
says so rather than counting zeros.

Bounded: the whole run stops after --minutes + --timeout-grace seconds whatever happens; every
child runs in its own process group and is stopped on exit. Python 3.11 standard library only;
process helpers come from scripts/bench_hold.py.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_hold as bh  # noqa: E402

ROOT = bh.ROOT


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", type=Path, default=ROOT / "target/release/sharpeyes")
    ap.add_argument("--cameras", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--out", type=Path, default=Path("/tmp/soak-faults"))
    ap.add_argument("--flap-every", type=float, default=20)
    ap.add_argument("--flap-down", type=float, default=12)
    ap.add_argument("--broker-every", type=float, default=180)
    ap.add_argument("--broker-down", type=float, default=15)
    ap.add_argument("--kill-every", type=float, default=300)
    ap.add_argument("--poll", type=float, default=1)
    ap.add_argument("--grace", type=float, default=45,
                    help="seconds after a flap ends (or a restart) in which offline is expected: "
                         "the backoff ceiling (30 s) + recovery_hold (10 s) + 5 s")
    ap.add_argument("--timeout-grace", type=float, default=300)
    ap.add_argument("--min-free-gib", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    return ap.parse_args(argv)


def put(url: str, body: str) -> int:
    req = urllib.request.Request(url, data=body.encode(), method="PUT")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


class Broker:
    """mosquitto with persistence, so the subscriber's session survives an outage."""

    def __init__(self, out: Path):
        self.port = bh.free_port()
        store = out / "mosquitto"
        store.mkdir(parents=True, exist_ok=True)
        self.conf = out / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {store}/\nautosave_interval 1\nuser root\n"
        )
        self.log = out / "mosquitto.log"
        self.proc = None
        self.start()

    def start(self):
        self.proc = bh.CHILDREN.start(["/usr/sbin/mosquitto", "-c", self.conf], self.log)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise bh.Abort(f"mosquitto did not listen\n{bh.tail(self.log)}")

    def stop(self):
        bh.CHILDREN.stop([self.proc], grace=5)


class Daemon:
    def __init__(self, a, inv: Path, rules: Path, broker: Broker):
        self.port = bh.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.argv = [
            a.bin, "run", "--inventory", inv, "--listen", f"127.0.0.1:{self.port}",
            "--data-dir", a.out / "data", "--rules", rules, "--sample-interval", "0",
            "--mqtt", f"mqtt://127.0.0.1:{broker.port}",
        ]
        self.log = a.out / "sharpeyes.log"
        self.env = dict(os.environ, RUST_LOG="warn")
        self.proc = None
        self.lives: list[dict] = []

    def start(self, guard: bh.Guard):
        self.proc = bh.CHILDREN.start(self.argv, self.log, env=self.env)
        bh.wait_http(self.base + "/healthz", guard, 60, [self.proc])
        self.lives.append({"started": time.monotonic(), "base_kib": None, "max_kib": 0})

    def kill9(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        bh.CHILDREN.procs.remove(self.proc)

    def sample_rss(self):
        kib = bh.status_kib(self.proc.pid, "VmRSS") or 0
        life = self.lives[-1]
        if time.monotonic() - life["started"] >= 60:
            if life["base_kib"] is None:
                life["base_kib"] = kib
            life["max_kib"] = max(life["max_kib"], kib)


def main(argv=None) -> int:
    a = parse_args(argv)
    bh.setup_process()
    if not a.bin.exists():
        print(f"soak-faults: {a.bin} not found; build it first (cargo build --release)",
              file=sys.stderr)
        return 2
    rng = random.Random(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    guard = bh.Guard(a.minutes * 60 + a.timeout_grace, a.min_free_gib)
    counts = {"flaps": 0, "flaps_seen_offline": 0, "broker_outages": 0, "kill9": 0}
    false_offline: list[dict] = []
    try:
        rtsp, ctl = bh.free_ports(2)
        inv = a.out / "cameras.csv"
        sim_log = a.out / "sim.log"
        sim = bh.CHILDREN.start([a.bin, "sim", "--cameras", a.cameras, "--port", rtsp, "--control",
                                 f"127.0.0.1:{ctl}", "--inventory-out", inv, "--id-prefix", "f"],
                                sim_log)
        control = f"http://127.0.0.1:{ctl}"
        bh.wait_http(control + "/healthz", guard, 120, [sim])
        while not (inv.exists() and inv.stat().st_size > 0):
            guard.sleep(0.2, [sim])
        ids = [line.split(",")[0] for line in inv.read_text().splitlines()[1:] if line]
        rules = a.out / "rules.toml"
        rules.write_text('[[rules]]\nname = "loss"\nkind = "video_loss"\ncameras = ["*"]\n'
                         'after = "2s"\nhold_off = "2s"\nseverity = "major"\n')
        broker = Broker(a.out)
        received = a.out / "received.jsonl"
        sub = bh.CHILDREN.start(["mosquitto_sub", "-h", "127.0.0.1", "-p", broker.port, "-t",
                                 "sharpeyes/events", "-q", "1", "-c", "-i", "soak-sub"], received)
        d = Daemon(a, inv, rules, broker)
        d.start(guard)
        t0 = time.monotonic()
        while sum(1 for c in bh.get_json(d.base + "/api/cameras") if c["state"] == "online") < len(ids):
            if time.monotonic() - t0 > 120:
                raise bh.Abort("not every camera online after 120 s")
            guard.sleep(1, [d.proc, sim])
        bh.log(f"{len(ids)} cameras online after {time.monotonic() - t0:.0f} s; soaking "
               f"{a.minutes:g} min")

        start = time.monotonic()
        end = start + a.minutes * 60
        next_flap = start + a.flap_every
        next_broker = start + a.broker_every
        next_kill = start + a.kill_every
        down: dict[str, float] = {}  # camera -> when its 404 ends
        quiet_until: dict[str, float] = {}  # camera -> offline expected until
        restart_grace = 0.0
        seen_down: set[str] = set()
        broker_back = None
        while (now := time.monotonic()) < end:
            if now >= next_flap:
                cam = rng.choice([c for c in ids if c not in down])
                put(f"{control}/cameras/{cam}/fault", "not_found")
                down[cam] = now + a.flap_down
                quiet_until[cam] = now + a.flap_down + a.grace
                counts["flaps"] += 1
                next_flap += a.flap_every
            for cam, until in list(down.items()):
                if now >= until:
                    put(f"{control}/cameras/{cam}/fault", "none")
                    del down[cam]
                    if cam in seen_down:
                        counts["flaps_seen_offline"] += 1
                        seen_down.discard(cam)
            if broker_back is None and now >= next_broker:
                broker.stop()
                broker_back = now + a.broker_down
                counts["broker_outages"] += 1
                next_broker += a.broker_every
            if broker_back is not None and now >= broker_back:
                broker.start()
                broker_back = None
            if now >= next_kill:
                d.kill9()
                counts["kill9"] += 1
                time.sleep(2)
                d.start(guard)
                restart_grace = time.monotonic() + a.grace
                next_kill += a.kill_every
            try:
                cams = bh.get_json(d.base + "/api/cameras", timeout=10)
            except OSError as e:
                raise bh.Abort(f"the daemon stopped answering: {e}\n{bh.tail(d.log)}") from None
            now = time.monotonic()
            for c in cams:
                if c["state"] != "offline":
                    continue
                if c["id"] in down:
                    seen_down.add(c["id"])
                elif now > quiet_until.get(c["id"], 0) and now > restart_grace:
                    false_offline.append({"camera": c["id"], "t_s": round(now - start, 1),
                                          "reason": c.get("reason")})
            d.sample_rss()
            guard.sleep(a.poll, [d.proc, sim])

        bh.log("faults stop; draining the outbox")
        for cam in list(down):
            put(f"{control}/cameras/{cam}/fault", "none")
        if broker_back is not None:
            broker.start()
        drain_end = time.monotonic() + 120
        pending = None
        while time.monotonic() < drain_end:
            pending = bh.metric_sum(bh.scrape(d.base + "/metrics"), "sharpeyes_alert_sink_pending",
                                    sink="mqtt")
            if pending == 0:
                break
            guard.sleep(1, [d.proc])
        guard.sleep(3)
        bh.CHILDREN.stop([d.proc])
        bh.CHILDREN.stop([sub])
        db = sqlite3.connect(f"file:{a.out / 'data' / 'alerts.db'}?mode=ro", uri=True)
        stored = {r[0] for r in db.execute("SELECT event_id FROM events")}
        got: dict[str, int] = {}
        for line in received.read_text(errors="replace").splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            got[ev["id"]] = got.get(ev["id"], 0) + 1
        lost = sorted(stored - set(got))
        drift = [(life["max_kib"] - life["base_kib"]) for life in d.lives if life["base_kib"]]
        summary = {
            "cameras": len(ids),
            "minutes": a.minutes,
            **counts,
            "false_offline": len(false_offline),
            "false_offline_cameras": sorted({f["camera"] for f in false_offline}),
            "false_offline_polls": false_offline[:50],
            "alert_messages_stored": len(stored),
            "alert_messages_received": len(got),
            "alerts_lost": len(lost),
            "lost_ids": lost[:20],
            "received_twice_or_more": sum(1 for n in got.values() if n > 1),
            "outbox_pending_at_end": pending,
            "max_rss_drift_kib": max(drift) if drift else None,
            "rss_lives": d.lives,
            "not_injected": "partitions/delay (tests/chaos_netns.rs), clock steps (tests/clock_step.rs)",
        }
        (a.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        print(f"soak-faults: {len(ids)} cameras held for {a.minutes:g} min")
        print(f"  faults injected: {counts['flaps']} flaps ({counts['flaps_seen_offline']} seen "
              f"offline while down), {counts['broker_outages']} broker outages of "
              f"{a.broker_down:g} s, {counts['kill9']} kill -9 + restart")
        print(f"  false offline reports: {len(false_offline)} (target 0)")
        print(f"  alert messages: {len(stored)} in the outbox, {len(got)} received, "
              f"{len(lost)} lost (target 0), {summary['received_twice_or_more']} received twice")
        print("  max RSS drift within a daemon life: "
              + (f"{max(drift) / 1024:.1f} MiB" if drift else "n/a (no life reached 60 s)"))
        print(f"  not injected here: {summary['not_injected']}")
        print(f"  details: {a.out / 'summary.json'}")
        ok = not false_offline and not lost and counts["flaps_seen_offline"] > 0
        return 0 if ok else 1
    except bh.Abort as e:
        print(f"soak-faults: ABORTED: {e}", file=sys.stderr)
        return 3
    finally:
        bh.CHILDREN.stop()


if __name__ == "__main__":
    sys.exit(main())
