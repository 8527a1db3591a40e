#!/usr/bin/env python3
"""Hold N RTSP sessions with sharpeyes, ffmpeg and GStreamer side by side; then patrol a fleet.

`make bench` runs this through scripts/bench-hold.sh. Python 3.11 standard library only.

What it does, in one run, against a simulated fleet (`sharpeyes sim`, several processes on
loopback, their inventories merged):

1. sharpeyes holding 1 camera (the baseline for the marginal memory of a session), then N
   cameras for every N in --sizes: waits until /api/groups says all N are online and every
   camera's `sharpeyes_received_frames_total` grows, then measures CPU (utime+stime from
   /proc/PID/stat), RSS (VmRSS), PSS (smaps_rollup), frames/s and bytes received over a window.
2. One `ffmpeg ... -c copy -f null -` per camera, then one `gst-launch-1.0 rtspsrc ! fakesink`
   per camera, for min(N, --max-peer) cameras, measured the same way (summed over processes).
3. Patrol: sharpeyes --mode patrol over --patrol-cameras cameras with a short interval, so that
   the probe slots (patrol.max_concurrent) are always busy: the probe rate it reaches is the
   capacity of one instance, from which the time of one round of 10,000 cameras follows.

On builds that sample keyframes (`run --sample-interval`), the hold and patrol runs use
--sample-interval 0 (holding alone, like for like with `ffmpeg -c copy`); one extra hold run at
the largest N keeps sampling on and is reported apart (`sharpeyes +sampling`).

The simulator's CPU is measured over every window but never counted against a tool.
Every child runs in its own process group with PR_SET_PDEATHSIG and is killed on exit,
Ctrl-C, SIGTERM, exceptions, the --timeout deadline and the memory guard.

See docs/benchmarks.md for the columns, the method and the caveats.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import io
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent


class Abort(Exception):
    """The run must stop (deadline, memory guard, a child that died, Ctrl-C)."""


# --------------------------------------------------------------------------------------------
# Children: own process group, killed with the parent, stopped on every way out.
# --------------------------------------------------------------------------------------------

_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    # Runs in the child between fork and exec (this script has no threads, so this is safe).
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Children:
    """Every process this script starts; stop() ends them by process group, TERM then KILL."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, argv: list[str], log: Path | None, env: dict | None = None) -> subprocess.Popen:
        out = open(log, "ab") if log else subprocess.DEVNULL
        try:
            p = subprocess.Popen(
                [str(a) for a in argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_child_setup,
                env=env,
                cwd=ROOT,
            )
        finally:
            if log:
                out.close()
        self.procs.append(p)
        return p

    def stop(self, procs: list[subprocess.Popen] | None = None, grace: float = 8.0) -> None:
        procs = list(self.procs if procs is None else procs)
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        end = time.monotonic() + grace
        for p in procs:
            try:
                p.wait(timeout=max(0.05, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in procs:
            # The group may hold grandchildren even when the leader is gone.
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        for p in procs:
            if p in self.procs:
                self.procs.remove(p)


CHILDREN = Children()


def _on_signal(signum, _frame):
    raise Abort(f"interrupted by signal {signal.Signals(signum).name}")


# --------------------------------------------------------------------------------------------
# Guards: a wall-clock deadline and a memory floor, checked while waiting.
# --------------------------------------------------------------------------------------------


class Guard:
    def __init__(self, deadline_s: float, min_free_gib: float) -> None:
        self.deadline = time.monotonic() + deadline_s
        self.min_free_kib = int(min_free_gib * 1024 * 1024)

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise Abort("the --timeout deadline passed")
        if mem_available_kib() < self.min_free_kib:
            raise Abort(
                f"memory guard: MemAvailable fell below {self.min_free_kib // 1048576} GiB"
            )

    def sleep(self, seconds: float, watch: list[subprocess.Popen] | None = None) -> None:
        end = time.monotonic() + seconds
        while True:
            self.check()
            for p in watch or []:
                if p.poll() is not None:
                    raise Abort(f"process {p.args[0]} (pid {p.pid}) exited with {p.returncode}")
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.5, left))


def mem_available_kib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------------------------
# /proc readers
# --------------------------------------------------------------------------------------------


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process (all its threads), in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def status_kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def pss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def threads(pid: int) -> int | None:
    return status_kib(pid, "Threads")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    total = sum(parts[:8])  # user nice system idle iowait irq softirq steal
    idle = parts[3] + parts[4]
    return total - idle, total


def all_cpu() -> dict[int, tuple[str, int]]:
    """pid -> (command name, utime+stime ticks) for every process (for naming other load)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        i, j = s.index("("), s.rindex(")")
        fields = s[j + 2 :].split()
        out[int(d)] = (s[i + 1 : j], int(fields[11]) + int(fields[12]))
    return out


def sum_cpu(pids: list[int]) -> int:
    return sum(t for t in (cpu_ticks(p) for p in pids) if t is not None)


# --------------------------------------------------------------------------------------------
# Sockets: bytes received per process on connections to the simulator (ss -tinp)
# --------------------------------------------------------------------------------------------

_USERS = re.compile(r'pid=(\d+)')
_RX = re.compile(r"\bbytes_received:(\d+)")


def socket_rx(ports: set[int]) -> dict[int, tuple[int, int]]:
    """pid -> (sockets, bytes received) over established TCP connections to `ports`."""
    out = subprocess.run(
        ["ss", "-tinpH", "state", "established"], capture_output=True, text=True, timeout=60
    ).stdout
    res: dict[int, list[int]] = {}
    pids: list[int] = []
    for line in out.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            cols = line.split()
            pids = []
            if len(cols) >= 4:
                try:
                    peer_port = int(cols[3].rsplit(":", 1)[1])
                except (IndexError, ValueError):
                    continue
                if peer_port in ports:
                    pids = [int(m) for m in _USERS.findall(line)]
        elif pids:
            m = _RX.search(line)
            rx = int(m.group(1)) if m else 0
            for pid in pids[:1]:
                r = res.setdefault(pid, [0, 0])
                r[0] += 1
                r[1] += rx
            pids = []
    return {k: (v[0], v[1]) for k, v in res.items()}


# --------------------------------------------------------------------------------------------
# HTTP and Prometheus text
# --------------------------------------------------------------------------------------------


def http_get(url: str, timeout: float = 30.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def get_json(url: str, timeout: float = 30.0):
    return json.loads(http_get(url, timeout))


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(url: str) -> list[tuple[str, dict, float]]:
    text = http_get(url).decode()
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = dict(_LABEL.findall(m.group(2) or ""))
        try:
            out.append((m.group(1), labels, float(m.group(3))))
        except ValueError:
            pass
    return out


def per_camera(samples, name: str) -> dict[str, float]:
    return {l["camera"]: v for n, l, v in samples if n == name and "camera" in l}


def metric_sum(samples, name: str, **want) -> float:
    return sum(
        v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in want.items())
    )


def wait_http(url: str, guard: Guard, timeout: float, watch: list[subprocess.Popen]) -> None:
    end = time.monotonic() + timeout
    while True:
        try:
            http_get(url, timeout=2)
            return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > end:
            raise Abort(f"{url} did not answer within {timeout:.0f} s")
        guard.sleep(0.25, watch)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + l for l in lines[-n:])


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The simulated fleet
# --------------------------------------------------------------------------------------------


class SimFleet:
    """Several `sharpeyes sim` processes; rows interleaved so any prefix spreads over them."""

    def __init__(self, bin_: Path, tmp: Path, mounts: int, procs: int, guard: Guard):
        self.procs: list[subprocess.Popen] = []
        self.ports: set[int] = set()
        self.rows: list[dict] = []
        self.mounts = mounts
        per = math.ceil(mounts / procs)
        invs = []
        ports = free_ports(2 * procs)
        for k in range(procs):
            n = min(per, mounts - k * per)
            if n <= 0:
                break
            rtsp_port, ctl_port = ports[2 * k], ports[2 * k + 1]
            inv = tmp / f"sim{k}.csv"
            argv = [
                bin_, "sim", "--cameras", n, "--port", rtsp_port,
                "--control", f"127.0.0.1:{ctl_port}", "--inventory-out", inv,
                "--id-prefix", f"s{k}cam",
            ]
            p = CHILDREN.start(argv, tmp / f"sim{k}.log")
            self.procs.append(p)
            self.ports.add(rtsp_port)
            invs.append((inv, ctl_port, tmp / f"sim{k}.log"))
        started = time.monotonic()
        for inv, ctl, logf in invs:
            try:
                wait_http(f"http://127.0.0.1:{ctl}/healthz", guard, 180, self.procs)
            except Abort as e:
                raise Abort(f"simulator did not come up: {e}\n{tail(logf)}") from None
            end = time.monotonic() + 30
            while not (inv.exists() and inv.stat().st_size > 0):
                if time.monotonic() > end:
                    raise Abort(f"simulator wrote no inventory {inv}\n{tail(logf)}")
                guard.sleep(0.2, self.procs)
        self.startup_s = time.monotonic() - started
        per_sim = []
        for inv, _, _ in invs:
            with open(inv, newline="", encoding="utf-8") as f:
                r = csv.DictReader(f)
                self.header = r.fieldnames
                per_sim.append(list(r))
        for i in range(max(len(s) for s in per_sim)):
            for s in per_sim:
                if i < len(s):
                    self.rows.append(s[i])

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def write_inventory(self, path: Path, n: int) -> Path:
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=self.header)
            w.writeheader()
            w.writerows(self.rows[:n])
        return path

    def rss_kib(self) -> int:
        return sum(status_kib(p, "VmRSS") or 0 for p in self.pids())


# --------------------------------------------------------------------------------------------
# Measuring a window
# --------------------------------------------------------------------------------------------


class Window:
    """CPU of the measured processes, of the simulator and of the machine over one window."""

    def __init__(self, pids: list[int], sim_pids: list[int]):
        self.pids, self.sim_pids = pids, sim_pids

    def begin(self) -> None:
        self.t0 = time.monotonic()
        self.cpu0 = {p: cpu_ticks(p) for p in self.pids}
        self.sim0 = sum_cpu(self.sim_pids)
        self.all0 = all_cpu()
        self.m0 = machine_ticks()

    def end(self) -> dict:
        m1 = machine_ticks()
        all1 = all_cpu()
        sim1 = sum_cpu(self.sim_pids)
        cpu1 = {p: cpu_ticks(p) for p in self.pids}
        dt = time.monotonic() - self.t0
        ticks = sum(
            cpu1[p] - self.cpu0[p]
            for p in self.pids
            if cpu1.get(p) is not None and self.cpu0.get(p) is not None
        )
        ncpu = os.cpu_count() or 1
        busy = (m1[0] - self.m0[0]) / max(1, m1[1] - self.m0[1]) * ncpu
        return {
            "window_s": dt,
            "cpu_s": ticks / CLK_TCK,
            "cpu_cores": ticks / CLK_TCK / dt,
            "sim_cpu_cores": (sim1 - self.sim0) / CLK_TCK / dt,
            "machine_busy_cores": busy,
            # Everything else on the machine (this script, other users): contention indicator.
            "other_cores": max(0.0, busy - ticks / CLK_TCK / dt - (sim1 - self.sim0) / CLK_TCK / dt),
            "processes_alive_at_end": sum(1 for p in self.pids if cpu1.get(p) is not None),
            "other_top": self._others(all1, dt),
        }

    def _others(self, all1: dict, dt: float) -> list[str]:
        """The biggest CPU users outside the measured processes and the simulator."""
        mine = set(self.pids) | set(self.sim_pids) | {os.getpid()}
        by_name: dict[str, float] = {}
        for pid, (name, t1) in all1.items():
            if pid in mine:
                continue
            t0 = self.all0.get(pid, (name, 0))[1]  # a process born in the window counts whole
            if t1 > t0:
                by_name[name] = by_name.get(name, 0.0) + (t1 - t0) / CLK_TCK / dt
        top = sorted(by_name.items(), key=lambda kv: -kv[1])[:4]
        return [f"{n} {100 * c:.0f}%" for n, c in top if c >= 0.01]


def memory(pids: list[int]) -> dict:
    rss = [status_kib(p, "VmRSS") for p in pids]
    pss = [pss_kib(p) for p in pids]
    return {
        "rss_kib": sum(x for x in rss if x),
        "pss_kib": sum(x for x in pss if x),
    }


def per_stream(r: dict, streams: int) -> None:
    """Adds the per-stream figures to a result."""
    r["cpu_pct_per_stream"] = 100.0 * r["cpu_cores"] / streams
    r["cpu_s_per_stream_hour"] = 3600.0 * r["cpu_cores"] / streams
    r["rss_kib_per_stream"] = r["rss_kib"] / streams
    r["pss_kib_per_stream"] = r["pss_kib"] / streams


# --------------------------------------------------------------------------------------------
# sharpeyes
# --------------------------------------------------------------------------------------------


def start_daemon(a, sim: SimFleet, tmp: Path, tag: str, n: int, extra: list[str]):
    tag = getattr(a, "tag_prefix", "") + tag
    inv = sim.write_inventory(tmp / f"inventory-{tag}.csv", n)
    port = free_port()
    argv = [
        a.bin, "run", "--inventory", inv, "--listen", f"127.0.0.1:{port}",
        "--data-dir", tmp / f"data-{tag}", *extra,
    ]
    env = dict(os.environ)
    env.setdefault("RUST_LOG", "warn")
    logf = tmp / f"sharpeyes-{tag}.log"
    p = CHILDREN.start(argv, logf, env=env)
    return p, f"http://127.0.0.1:{port}", logf


def sampling_args(a, interval: str | None) -> list[str]:
    """`--sample-interval` for daemons that sample keyframes (newer builds); none for older ones."""
    return ["--sample-interval", interval] if a.has_sampling and interval is not None else []


def run_sharpeyes_hold(
    a, sim: SimFleet, guard: Guard, tmp: Path, n: int, window_s: float, sample: str | None = None,
    variant: str | None = None,
) -> dict:
    """Holds n cameras. `sample`: the daemon's --sample-interval for this run (None: a.sample_interval).
    `variant`: "defaults" runs the daemon with its default sampling (no --sample-interval);
    "unpaced" adds --read-pace 0 (a read at every packet) to the hold-only run."""
    sample = a.sample_interval if sample is None else sample
    sampling = a.has_sampling and sample not in ("0", "0s") and variant != "defaults"
    extra = ["--mode", "hold"]
    if variant == "defaults":
        tool, tag = "sharpeyes defaults", f"hold{n}-defaults"
        log(f"sharpeyes hold: {n} cameras, default sampling")
    else:
        extra += sampling_args(a, sample)
        tool = "sharpeyes+sampling" if sampling else "sharpeyes"
        tag = f"hold{n}" + (f"-sample{sample}" if sampling else "")
        if variant == "unpaced":
            extra += ["--read-pace", "0"]
            tool, tag = tool + " unpaced", tag + "-unpaced"
        log(f"sharpeyes hold: {n} cameras" + (f", sampling a keyframe every {sample} s" if sampling else "")
            + (", a read at every packet" if variant == "unpaced" else ""))
    p, base, logf = start_daemon(a, sim, tmp, tag, n, extra)
    try:
        try:
            wait_http(base + "/healthz", guard, 60, [p])
        except Abort as e:
            raise Abort(f"{e}\n{tail(logf)}") from None
        t_start = time.monotonic()
        warm_deadline = t_start + a.warmup_timeout
        online = 0
        while True:
            g = get_json(base + "/api/groups")
            online = g["fleet"]["online"]
            if online >= n:
                break
            if time.monotonic() > warm_deadline:
                log(f"  WARNING: only {online}/{n} online after {a.warmup_timeout} s")
                break
            guard.sleep(1.0, [p])
        online_s = time.monotonic() - t_start
        # Every camera's frame counter must grow (media flows, not just a session).
        f0 = per_camera(scrape(base + "/metrics"), "sharpeyes_received_frames_total")
        guard.sleep(3.0, [p])
        f1 = per_camera(scrape(base + "/metrics"), "sharpeyes_received_frames_total")
        flowing = sum(1 for c, v in f1.items() if v > f0.get(c, 0))
        log(f"  {online}/{n} online after {online_s:.1f} s, {flowing}/{n} with frames growing")
        guard.sleep(a.settle, [p])

        s0 = scrape(base + "/metrics")
        ts0 = time.monotonic()
        rx0 = socket_rx(sim.ports).get(p.pid, (0, 0))
        w = Window([p.pid], sim.pids())
        w.begin()
        rss_max, end = 0, time.monotonic() + window_s
        while time.monotonic() < end:
            rss_max = max(rss_max, status_kib(p.pid, "VmRSS") or 0)
            guard.sleep(min(2.0, max(0.0, end - time.monotonic())), [p])
        r = w.end()
        rx1 = socket_rx(sim.ports).get(p.pid, (0, 0))
        s1 = scrape(base + "/metrics")
        ts1 = time.monotonic()
        g1 = get_json(base + "/api/groups")
        r.update(memory([p.pid]))
        rss_max = max(rss_max, r["rss_kib"])
        fr0 = per_camera(s0, "sharpeyes_received_frames_total")
        fr1 = per_camera(s1, "sharpeyes_received_frames_total")
        dts = ts1 - ts0
        r.update(
            tool=tool,
            sample_interval=None if variant == "defaults" else sample if a.has_sampling else None,
            samples_per_s=(metric_sum(s1, "sharpeyes_samples_total")
                           - metric_sum(s0, "sharpeyes_samples_total")) / dts,
            samples_processed_per_s=(metric_sum(s1, "sharpeyes_samples_processed_total")
                                     - metric_sum(s0, "sharpeyes_samples_processed_total")) / dts,
            samples_dropped_per_s=(metric_sum(s1, "sharpeyes_samples_dropped_total")
                                   - metric_sum(s0, "sharpeyes_samples_dropped_total")) / dts,
            cameras=n,
            streams=n,
            online_before=online,
            online_after=g1["fleet"]["online"],
            warmup_s=online_s,
            delivering=sum(1 for c, v in fr1.items() if v > fr0.get(c, 0)),
            frames_per_s=(sum(fr1.values()) - sum(fr0.values())) / dts,
            payload_kbytes_per_s=(
                metric_sum(s1, "sharpeyes_received_bytes_total")
                - metric_sum(s0, "sharpeyes_received_bytes_total")
            ) / dts / 1000.0,
            rx_sockets=rx1[0],
            rx_kbytes_per_s=(rx1[1] - rx0[1]) / r["window_s"] / 1000.0,
            reconnects_in_window=metric_sum(s1, "sharpeyes_reconnects_total")
            - metric_sum(s0, "sharpeyes_reconnects_total"),
            rss_max_kib=rss_max,
            threads=threads(p.pid),
            pid=p.pid,
        )
        per_stream(r, n)
        log(
            f"  {r['cpu_cores'] * 100:.1f}% of a core, RSS {r['rss_kib'] / 1024:.1f} MiB, "
            f"{r['frames_per_s']:.0f} frames/s, {r['delivering']}/{n} delivering"
        )
        return r
    finally:
        CHILDREN.stop([p])


# --------------------------------------------------------------------------------------------
# ffmpeg / GStreamer, one process per camera
# --------------------------------------------------------------------------------------------


def cred_url(row: dict) -> str:
    u = urllib.parse.urlsplit(row["url"])
    user = urllib.parse.quote(row.get("username") or "", safe="")
    pw = urllib.parse.quote(row.get("password") or "", safe="")
    netloc = f"{user}:{pw}@{u.netloc}" if user else u.netloc
    return urllib.parse.urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment))


def peer_argv(tool: str, row: dict) -> list[str]:
    if tool == "ffmpeg":
        return [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
            "-i", cred_url(row), "-c", "copy", "-f", "null", "-",
        ]
    argv = ["gst-launch-1.0", "-q", "rtspsrc", f"location={row['url']}", "protocols=tcp"]
    if row.get("username"):
        argv += [f"user-id={row['username']}", f"user-pw={row.get('password', '')}"]
    return argv + ["!", "fakesink"]


def run_peers(a, sim: SimFleet, guard: Guard, tmp: Path, tool: str, count: int, window_s: float) -> dict:
    log(f"{tool}: {count} processes, one per camera")
    reserve = int(a.min_free_gib * 1024 * 1024) + 512 * 1024
    procs: list[subprocess.Popen] = []
    logf = tmp / f"{tool}.log"
    short = None
    try:
        for i, row in enumerate(sim.rows[:count]):
            guard.check()
            if mem_available_kib() < reserve:
                short = f"stopped starting at {i} processes: MemAvailable below {reserve // 1048576} GiB"
                log("  WARNING: " + short)
                break
            procs.append(CHILDREN.start(peer_argv(tool, row), logf))
            if i % 10 == 9:
                guard.sleep(0.3)
        started = len(procs)
        t_start = time.monotonic()
        last = socket_rx(sim.ports)
        good_rounds, delivering = 0, 0
        while True:
            guard.sleep(2.0)
            now = socket_rx(sim.ports)
            alive = [p for p in procs if p.poll() is None]
            delivering = sum(
                1 for p in alive if now.get(p.pid, (0, 0))[1] > last.get(p.pid, (0, 0))[1]
            )
            last = now
            good_rounds = good_rounds + 1 if delivering == started else 0
            if good_rounds >= 2:
                break
            if time.monotonic() - t_start > a.warmup_timeout:
                log(f"  WARNING: only {delivering}/{started} delivering after {a.warmup_timeout} s")
                break
            if not alive:
                raise Abort(f"every {tool} process exited\n{tail(logf)}")
        warm = time.monotonic() - t_start
        log(f"  {delivering}/{started} delivering after {warm:.1f} s")
        guard.sleep(a.settle)
        pids = [p.pid for p in procs if p.poll() is None]
        rx0 = socket_rx(sim.ports)
        w = Window(pids, sim.pids())
        w.begin()
        rss_max, end = 0, time.monotonic() + window_s
        while time.monotonic() < end:
            rss_max = max(rss_max, sum(status_kib(x, "VmRSS") or 0 for x in pids))
            guard.sleep(min(5.0, max(0.0, end - time.monotonic())))
        r = w.end()
        rx1 = socket_rx(sim.ports)
        r.update(memory(pids))
        rss_max = max(rss_max, r["rss_kib"])
        alive_end = [p for p in procs if p.poll() is None]
        r.update(
            tool=tool,
            cameras=count,
            streams=started,
            capped=count < max(a.sizes),
            warmup_s=warm,
            delivering=sum(
                1 for p in alive_end if rx1.get(p.pid, (0, 0))[1] > rx0.get(p.pid, (0, 0))[1]
            ),
            rx_sockets=sum(rx1.get(x, (0, 0))[0] for x in pids),
            rx_kbytes_per_s=sum(rx1.get(x, (0, 0))[1] - rx0.get(x, (0, 0))[1] for x in pids)
            / r["window_s"] / 1000.0,
            rss_max_kib=rss_max,
            note=short,
        )
        per_stream(r, started)
        log(
            f"  {r['cpu_cores'] * 100:.1f}% of a core, RSS {r['rss_kib'] / 1024:.0f} MiB, "
            f"PSS {r['pss_kib'] / 1024:.0f} MiB, {r['delivering']}/{started} delivering"
        )
        return r
    finally:
        CHILDREN.stop(procs)


# --------------------------------------------------------------------------------------------
# Patrol
# --------------------------------------------------------------------------------------------


def patrol_counters(base: str) -> dict:
    cams = get_json(base + "/api/cameras", timeout=60)
    s = scrape(base + "/metrics")
    return {
        "t": time.monotonic(),
        "attempts": sum(c["counters"]["attempts"] for c in cams),
        "failures": sum(c["counters"]["reconnects"] for c in cams),
        "probed_cameras": sum(1 for c in cams if c["counters"]["attempts"] > 0),
        "online": sum(1 for c in cams if c["state"] == "online"),
        "setups": metric_sum(s, "sharpeyes_session_setup_seconds_count", mode="patrol"),
        "setup_sum": metric_sum(s, "sharpeyes_session_setup_seconds_sum", mode="patrol"),
    }


def run_patrol(a, sim: SimFleet, guard: Guard, tmp: Path, cams: int, conc: int) -> dict:
    log(f"sharpeyes patrol: {cams} cameras, max_concurrent {conc}, interval {a.patrol_interval} s")
    cfg = tmp / f"patrol-{conc}.toml"
    cfg.write_text(
        f'[patrol]\nmax_concurrent = {conc}\nprobe_timeout = "{a.probe_timeout}s"\n'
    )
    p, base, logf = start_daemon(
        a, sim, tmp, f"patrol{cams}-{conc}", cams,
        ["--mode", "patrol", "--patrol-interval", str(a.patrol_interval), "--config", cfg,
         *sampling_args(a, a.sample_interval)],
    )
    try:
        try:
            wait_http(base + "/healthz", guard, 60, [p])
        except Abort as e:
            raise Abort(f"{e}\n{tail(logf)}") from None
        guard.sleep(a.patrol_warmup, [p])
        c0 = patrol_counters(base)
        w = Window([p.pid], sim.pids())
        w.begin()
        rss_max, end = 0, time.monotonic() + a.patrol_seconds
        while time.monotonic() < end:
            rss_max = max(rss_max, status_kib(p.pid, "VmRSS") or 0)
            guard.sleep(min(2.0, max(0.0, end - time.monotonic())), [p])
        r = w.end()
        c1 = patrol_counters(base)
        r.update(memory([p.pid]))
        dt = c1["t"] - c0["t"]
        probes = c1["attempts"] - c0["attempts"]
        fails = c1["failures"] - c0["failures"]
        setups = c1["setups"] - c0["setups"]
        rate = probes / dt
        r.update(
            tool="sharpeyes-patrol",
            cameras=cams,
            max_concurrent=conc,
            interval_s=a.patrol_interval,
            probes=probes,
            failures=fails,
            probes_per_s=rate,
            ok_probes_per_s=(probes - fails) / dt,
            setups_per_s=setups / dt,
            mean_setup_ms=1000.0 * (c1["setup_sum"] - c0["setup_sum"]) / setups if setups else None,
            mean_probe_s_littles_law=conc / rate if rate else None,
            probed_cameras=c1["probed_cameras"],
            online_at_end=c1["online"],
            rss_max_kib=max(rss_max, r["rss_kib"]),
            rss_kib_per_camera=r["rss_kib"] / cams,
            threads=threads(p.pid),
            cpu_s_per_probe=r["cpu_s"] / probes if probes else None,
        )
        target = a.patrol_target
        r["round_s_for_target"] = target / rate if rate else None
        r["target_cameras"] = target
        r["target_round_s"] = a.patrol_round
        r["covers_target"] = bool(rate and target / rate <= a.patrol_round)
        if probes:
            need = target / a.patrol_round
            r["cpu_pct_at_target_rate"] = 100.0 * r["cpu_s_per_probe"] * need
        log(
            f"  {rate:.1f} probes/s ({fails} failed), {r['cpu_cores'] * 100:.1f}% of a core, "
            f"RSS {r['rss_kib'] / 1024:.1f} MiB"
        )
        return r
    finally:
        CHILDREN.stop([p])


# --------------------------------------------------------------------------------------------
# Before / after: two sharpeyes binaries on the same simulated fleet, alternated
# --------------------------------------------------------------------------------------------


def has_flag(binary: Path, flag: str) -> bool:
    """Whether a daemon build's `run` takes `flag`."""
    r = subprocess.run([str(binary), "run", "--help"], capture_output=True, text=True, timeout=30)
    return flag in r.stdout


def has_sampling(binary: Path) -> bool:
    """Whether a daemon build takes --sample-interval (older builds do not)."""
    return has_flag(binary, "--sample-interval")


SHARPEYES_VARIANTS = {"sharpeyes": None, "defaults": "defaults", "unpaced": "unpaced"}


def run_alternating(a, sim: SimFleet, guard: Guard, tmp: Path) -> list[dict]:
    """Every tool at every size, --tool-rounds times, the tools alternating (A B C A B C ...,
    the order rotated each round) so that drift in the machine's load falls on all of them.
    Each result is tagged with its round; `aggregate` takes the medians."""
    out = []
    tools = [t for t in a.tools if t in SHARPEYES_VARIANTS or t in ("ffmpeg", "gstreamer")]
    try:
        for rnd in range(a.tool_rounds):
            a.tag_prefix = f"r{rnd}-"
            order = tools[rnd % len(tools):] + tools[:rnd % len(tools)] if tools else []
            log(f"[round {rnd + 1}/{a.tool_rounds}: {', '.join(order)}]")
            if set(tools) & set(SHARPEYES_VARIANTS):
                r = run_sharpeyes_hold(a, sim, guard, tmp, 1, a.baseline_seconds)
                r.update(round=rnd, kind="baseline")
                out.append(r)
            peer_counts_done = set()
            for n in a.sizes:
                for tool in order:
                    if tool in SHARPEYES_VARIANTS:
                        if SHARPEYES_VARIANTS[tool] == "unpaced" and not a.has_read_pace:
                            continue
                        window = max(a.seconds, a.defaults_seconds) if tool == "defaults" else a.seconds
                        r = run_sharpeyes_hold(a, sim, guard, tmp, n, window,
                                               variant=SHARPEYES_VARIANTS[tool])
                    else:
                        count = min(n, a.max_peer)
                        if (tool, count) in peer_counts_done:
                            continue
                        peer_counts_done.add((tool, count))
                        r = run_peers(a, sim, guard, tmp, tool, count, a.seconds)
                    r.update(round=rnd, kind="hold")
                    out.append(r)
    finally:
        a.tag_prefix = ""
    return out


def void_reason(r: dict) -> str | None:
    """Why a window does not count: some stream was not really receiving during it (its frame
    counter or socket bytes did not grow), or a camera went offline."""
    if r["delivering"] < r["streams"]:
        return f"only {r['delivering']}/{r['streams']} streams received during the window"
    if r.get("online_after") is not None and r["online_after"] < r["streams"]:
        return f"{r['online_after']}/{r['streams']} cameras online at the end of the window"
    if r.get("rx_kbytes_per_s", 0) <= 0:
        return "no socket bytes received during the window"
    return None


def aggregate(runs: list[dict]) -> tuple[dict | None, list[dict], list[dict]]:
    """Medians per (tool, streams) over the rounds whose windows count, with the spread
    (min..max) of CPU and RSS per stream. Returns (baseline, hold rows, voided runs)."""
    voided, groups = [], {}
    for r in runs:
        why = void_reason(r)
        if why:
            voided.append({"tool": r["tool"], "streams": r["streams"], "round": r["round"], "why": why})
            log(f"  VOID: {r['tool']} ({r['streams']}), round {r['round'] + 1}: {why}")
            continue
        groups.setdefault((r["kind"], r["tool"], r["streams"]), []).append(r)
    rows, baseline = [], None
    for (kind, _tool, _n), rs in groups.items():
        m = dict(rs[0])
        for k, v in rs[0].items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                vals = [x[k] for x in rs if isinstance(x.get(k), (int, float))]
                ints = all(isinstance(x, int) for x in vals)
                m[k] = statistics.median_low(vals) if ints else statistics.median(vals)
        m["rounds"] = len(rs)
        for k in ("cpu_pct_per_stream", "rss_kib_per_stream"):
            vals = [x[k] for x in rs if x.get(k) is not None]
            m[k + "_range"] = (min(vals), max(vals)) if vals else None
        if kind == "baseline":
            baseline = m
        else:
            rows.append(m)
    return baseline, rows, voided


def run_compare(a, sim: SimFleet, guard: Guard, tmp: Path) -> list[dict]:
    """Runs the 1-camera baseline, every --sizes hold and one patrol run with each binary,
    alternating them (A B A B ...) --rounds times so that drift in the machine's load falls on
    both. Every result is tagged with its binary's label and the round."""
    main_bin, main_sampling = a.bin, a.has_sampling
    bins = [(a.compare_label, a.compare_bin, has_sampling(a.compare_bin)), ("after", main_bin, main_sampling)]
    out = []
    cams = min(a.patrol_cameras, len(sim.rows)) if a.patrol_cameras else 0
    try:
        for rnd in range(a.rounds):
            # Alternate which binary goes first in each round as well.
            order = bins if rnd % 2 == 0 else bins[::-1]
            for kind, n in [("baseline", 1)] + [("hold", n) for n in a.sizes] + (
                [("patrol", cams)] if cams else []
            ):
                for label, binary, sampling in order:
                    a.bin, a.has_sampling = binary, sampling
                    a.tag_prefix = f"{label}-r{rnd}-"
                    log(f"[{label}, round {rnd + 1}/{a.rounds}]")
                    if kind == "patrol":
                        r = run_patrol(a, sim, guard, tmp, cams, a.patrol_concurrency[-1])
                    else:
                        window = a.baseline_seconds if kind == "baseline" else a.seconds
                        r = run_sharpeyes_hold(a, sim, guard, tmp, n, window)
                    r.update(bin=label, round=rnd, kind=kind)
                    out.append(r)
    finally:
        a.bin, a.has_sampling, a.tag_prefix = main_bin, main_sampling, ""
    return out


def compare_report(a, runs: list[dict]) -> str:
    """Medians per binary and size, with after/before ratios (below 1: after is leaner)."""
    o = io.StringIO()
    label = a.compare_label
    print(f"\nBEFORE/AFTER — '{label}' = {a.compare_bin}, 'after' = {a.bin}; "
          f"{a.rounds} alternated rounds, medians (min-max)", file=o)

    def runs_of(b, kind, n=None):
        return [r for r in runs if r["bin"] == b and r["kind"] == kind and (n is None or r["cameras"] == n)]

    def med(rs, key):
        v = [r[key] for r in rs if r.get(key) is not None]
        return (statistics.median(v), min(v), max(v)) if v else None

    # Marginal RSS per stream against the same binary's baseline of the same round.
    for r in runs:
        if r["kind"] == "hold":
            base = [b for b in runs if b["bin"] == r["bin"] and b["kind"] == "baseline" and b["round"] == r["round"]]
            if base and r["streams"] > 1:
                r["marginal_rss_kib_per_stream"] = (r["rss_kib"] - base[0]["rss_kib"]) / (r["streams"] - 1)

    def cell(m, spec):
        return "-" if m is None else f"{m[0]:{spec}} ({m[1]:{spec}}-{m[2]:{spec}})"

    def ratio(mb, ma):
        return "-" if not mb or not ma or not mb[0] else f"{ma[0] / mb[0]:.2f}"

    rows = []
    checks = []
    for n in a.sizes:
        for key, name, spec, worse_is_higher in (
            ("cpu_pct_per_stream", "CPU %/stream", ".4f", True),
            ("rss_kib_per_stream", "RSS KiB/stream", ".0f", True),
            ("marginal_rss_kib_per_stream", "marginal RSS KiB/stream", ".0f", True),
            ("frames_per_s", "frames/s received", ".0f", False),
        ):
            mb, ma = med(runs_of(label, "hold", n), key), med(runs_of("after", "hold", n), key)
            rows.append([f"hold {n}", name, cell(mb, spec), cell(ma, spec), ratio(mb, ma)])
            if key != "frames_per_s" and mb and ma:
                checks.append((f"hold {n} {name}", ma[0] <= mb[0] * 1.1))
    for key, name, spec in (
        ("probes_per_s", "probes/s", ".1f"),
        ("cpu_s_per_probe", "CPU s/probe", ".4f"),
        ("rss_kib", "RSS KiB", ".0f"),
    ):
        mb, ma = med(runs_of(label, "patrol"), key), med(runs_of("after", "patrol"), key)
        if mb or ma:
            cams = runs_of("after", "patrol")[0]["cameras"] if runs_of("after", "patrol") else "?"
            rows.append([f"patrol {cams}", name, cell(mb, spec), cell(ma, spec), ratio(mb, ma)])
            if mb and ma:
                ok = ma[0] >= mb[0] * 0.9 if key == "probes_per_s" else ma[0] <= mb[0] * 1.1
                checks.append((f"patrol {name}", ok))
    print(table(["run", "figure", label, "after", "after/" + label], rows), file=o)
    print("\nnot worse than before (within 10 %, medians):", file=o)
    for name, ok in checks:
        print(f"  {name}: {'PASS' if ok else 'WORSE'}", file=o)
    return o.getvalue()


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def spread(rng, spec: str) -> str:
    """A (min, max) pair as `min..max`."""
    return "-" if not rng else f"{rng[0]:{spec}}..{rng[1]:{spec}}"


def fmt(v, spec: str = ".1f", none: str = "-") -> str:
    if v is None:
        return none
    return format(v, spec)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def report(res: dict) -> str:
    o = io.StringIO()
    m = res["meta"]
    print(
        f"sharpeyes hold benchmark — {m['cpu_model']}, {m['cpus']} CPUs, "
        f"{m['mem_gib']:.0f} GiB, Linux {m['kernel']}",
        file=o,
    )
    print(
        f"window {m['seconds']:.0f} s per run; simulated cameras: H.264 768x576 10 fps ~400 kb/s, "
        f"{m['sim_processes']} sim processes, {m['sim_mounts']} mounts",
        file=o,
    )
    print(f"other load before the run: {m['busy_cores_before_run'] * 100:.0f}% of a core", file=o)
    if m.get("has_sampling"):
        print(f"sharpeyes runs use --sample-interval {m['sample_interval']} (0: keyframe sampling off, "
              "like for like with ffmpeg -c copy) unless marked +sampling", file=o)
    hold = res["hold"]
    base = res.get("baseline")
    if hold or base:
        print("\nHOLD — CPU % is of one core; per stream = total / streams held", file=o)
        rows = []
        for r in ([base] if base else []) + hold:
            streams = r["streams"]
            label = r["tool"]
            if r["tool"] != "sharpeyes" and r.get("capped"):
                label += " (cap)"
            if r is base:
                label = "sharpeyes (1-cam baseline)"
            if r["tool"] == "sharpeyes+sampling":
                label = f"sharpeyes +sampling {r['sample_interval']}s"
            rows.append([
                label,
                str(streams),
                f"{r['delivering']}/{streams}",
                fmt(r.get("frames_per_s"), ".0f"),
                fmt(r["rx_kbytes_per_s"] / streams, ".1f"),
                str(r.get("rounds", 1)),
                fmt(r["cpu_cores"] * 100, ".1f"),
                fmt(r["cpu_pct_per_stream"], ".3f"),
                spread(r.get("cpu_pct_per_stream_range"), ".3f"),
                fmt(r["cpu_s_per_stream_hour"], ".2f"),
                fmt(r["rss_kib"] / 1024, ".1f"),
                fmt(r["rss_kib_per_stream"], ".0f"),
                fmt(r["pss_kib"] / 1024, ".1f"),
                fmt(r["pss_kib_per_stream"], ".0f"),
                fmt(r.get("marginal_rss_kib_per_stream"), ".1f"),
                fmt(r["sim_cpu_cores"] * 100, ".1f"),
                fmt(r["other_cores"] * 100, ".0f"),
            ])
        print(table(
            ["tool", "streams", "delivering", "frames/s", "rx kB/s/str", "rounds", "CPU %", "CPU %/str",
             "CPU %/str min..max", "CPU-s/str-h", "RSS MiB", "RSS KiB/str", "PSS MiB", "PSS KiB/str",
             "marg. RSS KiB/str", "sim CPU %", "other CPU %"],
            rows), file=o)
    for r in hold:
        if r["tool"] == "sharpeyes+sampling":
            print(f"  sampling at N={r['streams']}: {r['samples_per_s']:.1f} keyframes/s taken, "
                  f"{r['samples_processed_per_s']:.1f}/s decoded and diagnosed, "
                  f"{r['samples_dropped_per_s']:.1f}/s dropped (queue full)", file=o)
    for r in ([base] if base else []) + hold:
        if r["other_cores"] > 0.2:
            print(f"  busy machine during {r['tool']} ({r['streams']}): other load "
                  f"{r['other_cores'] * 100:.0f}% of a core ({', '.join(r['other_top']) or 'short-lived processes'})",
                  file=o)
    if hold and any("rounds" in r for r in hold):
        print("  every figure is the median over the rounds whose windows counted; a window is void "
              "when a stream's frame counter or socket bytes did not grow during it", file=o)
    for v in res.get("voided", []):
        print(f"  VOID: {v['tool']} ({v['streams']}), round {v['round'] + 1}: {v['why']}", file=o)
    if res["ratios"]:
        print("\nRATIOS — peer per-stream figure / sharpeyes per-stream figure (higher = sharpeyes leaner)", file=o)
        rows = []
        for q in res["ratios"]:
            rows.append([
                f"{q['peer']} ({q['peer_streams']}) vs sharpeyes ({q['sharpeyes_streams']})",
                fmt(q["cpu_ratio"], ".1f") + "x",
                "PASS" if q["cpu_ratio"] and q["cpu_ratio"] >= 10 else "FAIL",
                fmt(q["rss_ratio"], ".1f") + "x",
                fmt(q["pss_ratio"], ".1f") + "x",
            ])
        print(table(["comparison", "CPU", "target >=10x", "RSS", "PSS"], rows), file=o)
    if res["targets"]:
        print("\nTARGETS", file=o)
        for t in res["targets"]:
            print(f"  {t['name']}: {t['value']} (target {t['target']}) {t['verdict']}", file=o)
    if res["patrol"]:
        print("\nPATROL — probe = connect, DESCRIBE/SETUP/PLAY, first keyframe, TEARDOWN", file=o)
        rows = []
        for r in res["patrol"]:
            rows.append([
                str(r["cameras"]),
                str(r["max_concurrent"]),
                fmt(r["probes_per_s"], ".1f"),
                str(int(r["failures"])),
                fmt(r["mean_setup_ms"], ".0f"),
                fmt(r["mean_probe_s_littles_law"], ".2f"),
                fmt(r["cpu_cores"] * 100, ".1f"),
                fmt(1000 * r["cpu_s_per_probe"] if r["cpu_s_per_probe"] else None, ".2f"),
                fmt(r["rss_kib"] / 1024, ".1f"),
                fmt(r["rss_kib_per_camera"], ".1f"),
                fmt(r["round_s_for_target"], ".0f"),
                fmt(r.get("cpu_pct_at_target_rate"), ".1f"),
                "yes" if r["covers_target"] else "NO",
                fmt(r["sim_cpu_cores"] * 100, ".0f"),
                fmt(r["other_cores"] * 100, ".0f"),
            ])
        t = res["patrol"][0]
        print(table(
            ["cameras", "max_conc", "probes/s", "failed", "setup ms", "probe s", "CPU %",
             "CPU ms/probe", "RSS MiB", "RSS KiB/cam",
             f"round {t['target_cameras']} s", f"CPU % @{t['target_cameras']}/{t['target_round_s']:.0f}s",
             f"covers {t['target_round_s']:.0f}s", "sim CPU %", "other CPU %"],
            rows), file=o)
        for r in res["patrol"]:
            if r["other_cores"] > 0.2:
                print(f"  busy machine during patrol ({r['max_concurrent']}): other load "
                      f"{r['other_cores'] * 100:.0f}% of a core ({', '.join(r['other_top']) or 'short-lived processes'})",
                      file=o)
            if r.get("extrapolated"):
                print(f"  NOTE: {r['extrapolated']}", file=o)
    for n in res["notes"]:
        print(f"NOTE: {n}", file=o)
    return o.getvalue()


def add_derived(res: dict) -> None:
    base = res.get("baseline")
    hold = [r for r in res["hold"] if r["tool"] == "sharpeyes"]
    variants = [r for r in res["hold"] if r["tool"].startswith("sharpeyes")]
    if base:
        for r in variants:
            if r["streams"] > 1:
                r["marginal_rss_kib_per_stream"] = (r["rss_kib"] - base["rss_kib"]) / (r["streams"] - 1)
                r["marginal_pss_kib_per_stream"] = (r["pss_kib"] - base["pss_kib"]) / (r["streams"] - 1)
    peers = [r for r in res["hold"] if r["tool"] in ("ffmpeg", "gstreamer")]
    for peer in peers:
        for s in hold:
            # Compare each peer run with the sharpeyes run holding the same count, and with the
            # largest sharpeyes run.
            if s["streams"] != peer["streams"] and s is not hold[-1]:
                continue
            res["ratios"].append({
                "peer": peer["tool"],
                "peer_streams": peer["streams"],
                "sharpeyes_streams": s["streams"],
                "cpu_ratio": peer["cpu_pct_per_stream"] / s["cpu_pct_per_stream"] if s["cpu_pct_per_stream"] else None,
                "rss_ratio": peer["rss_kib_per_stream"] / s["rss_kib_per_stream"],
                "pss_ratio": peer["pss_kib_per_stream"] / s["pss_kib_per_stream"],
            })
    for s in hold:
        v = s.get("marginal_rss_kib_per_stream")
        if v is not None:
            res["targets"].append({
                "name": f"marginal RSS per held session at N={s['streams']}",
                "value": f"{v:.1f} KiB",
                "target": "<= 64 KiB",
                "verdict": "PASS" if v <= 64 else "FAIL",
            })
    by_n = {r["streams"]: r for r in hold}
    for r in variants:
        h = by_n.get(r["streams"])
        if r is h or not h or not h["cpu_pct_per_stream"]:
            continue
        q = r["cpu_pct_per_stream"] / h["cpu_pct_per_stream"]
        if r["tool"] == "sharpeyes defaults":
            res["targets"].append({
                "name": f"CPU per stream at the defaults / hold only, N={r['streams']}",
                "value": f"{q:.2f}x",
                "target": "<= 2x",
                "verdict": "PASS" if q <= 2 else "FAIL",
            })
        elif r["tool"] == "sharpeyes unpaced":
            res["targets"].append({
                "name": f"CPU per stream reading every packet / paced reads, N={r['streams']}",
                "value": f"{q:.2f}x",
                "target": "(the read_pace lever; no target)",
                "verdict": "",
            })
    for q in res["ratios"]:
        if q["peer"] == "ffmpeg" and q["cpu_ratio"] is not None:
            res["targets"].append({
                "name": f"CPU per stream, ffmpeg ({q['peer_streams']}) / sharpeyes ({q['sharpeyes_streams']})",
                "value": f"{q['cpu_ratio']:.1f}x",
                "target": ">= 10x",
                "verdict": "PASS" if q["cpu_ratio"] >= 10 else "FAIL",
            })


def meta(a, sim: SimFleet | None) -> dict:
    cpu_model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return None

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "cpu_model": cpu_model,
        "cpus": os.cpu_count(),
        "mem_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
        "kernel": platform.release(),
        "seconds": a.seconds,
        "sizes": a.sizes,
        "max_peer": a.max_peer,
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "sharpeyes": version([str(a.bin), "--version"]),
        "ffmpeg": version(["ffmpeg", "-version"]),
        "gstreamer": version(["gst-launch-1.0", "--version"]),
        "has_sampling": getattr(a, "has_sampling", False),
        "sample_interval": a.sample_interval,
        "sim_processes": len(sim.procs) if sim else 0,
        "sim_mounts": sim.mounts if sim else 0,
        "sim_startup_s": sim.startup_s if sim else None,
        "sim_rss_kib": sim.rss_kib() if sim else None,
    }


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Hold N RTSP sessions with sharpeyes, ffmpeg and GStreamer side by side; "
        "then measure patrol throughput. See docs/benchmarks.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--bin", type=Path, default=ROOT / "target/release/sharpeyes", help="sharpeyes binary (sim and run)")
    ap.add_argument("--sizes", default="100,1000", help="numbers of held sessions, comma-separated")
    ap.add_argument("--seconds", type=float, default=30, help="measurement window per run")
    ap.add_argument("--baseline-seconds", type=float, default=15, help="window of the 1-camera baseline")
    ap.add_argument("--warmup-timeout", type=float, default=180, help="longest wait for all streams to deliver")
    ap.add_argument("--settle", type=float, default=3, help="extra seconds after warm-up before a window")
    ap.add_argument("--max-peer", type=int, default=100, help="cap on ffmpeg / gst-launch processes")
    ap.add_argument("--tools", default="sharpeyes,defaults,ffmpeg,gstreamer",
                    help="which hold runs: sharpeyes (hold only), defaults (sharpeyes with its default "
                    "sampling), unpaced (hold only, --read-pace 0), ffmpeg, gstreamer ('none': patrol only)")
    ap.add_argument("--sessions-per-sim", type=int, default=250, help="most held sessions per sim process")
    ap.add_argument("--mounts-per-sim", type=int, default=1000, help="most cameras per sim process")
    ap.add_argument("--patrol-cameras", type=int, default=10000, help="patrol fleet size (0: skip patrol)")
    ap.add_argument("--patrol-fallback", type=int, default=2000, help="fleet size to fall back to if the sims cannot serve --patrol-cameras")
    ap.add_argument("--patrol-concurrency", default="64,256", help="patrol.max_concurrent values, comma-separated")
    ap.add_argument("--patrol-interval", type=float, default=5, help="--patrol-interval given to the daemon (short: keeps every probe slot busy)")
    ap.add_argument("--probe-timeout", type=float, default=10, help="patrol.probe_timeout")
    ap.add_argument("--patrol-warmup", type=float, default=20, help="seconds before the patrol window")
    ap.add_argument("--patrol-seconds", type=float, default=60, help="patrol measurement window")
    ap.add_argument("--patrol-target", type=int, default=10000, help="fleet size the round time is computed for")
    ap.add_argument("--patrol-round", type=float, default=300, help="round the target fleet must fit in (s)")
    ap.add_argument("--sample-interval", default="0",
                    help="--sample-interval for the hold and patrol runs on daemons that sample "
                    "keyframes (0: off, like for like with ffmpeg -c copy)")
    ap.add_argument("--sampling-at", default="max",
                    help="sizes of extra hold runs WITH keyframe sampling ('max': the largest "
                    "--sizes, 'none': no extra run); shown apart, not in the ratios")
    ap.add_argument("--sampling-interval", default="5",
                    help="--sample-interval of those extra runs (the daemon's default is 5 s)")
    ap.add_argument("--compare-bin", type=Path,
                    help="a second sharpeyes binary (e.g. a build of an earlier commit): its hold "
                    "and patrol runs alternate with --bin's, --rounds times, and a BEFORE/AFTER "
                    "table of medians is printed (replaces the plain sharpeyes rows)")
    ap.add_argument("--compare-label", default="before", help="name of --compare-bin in the table")
    ap.add_argument("--tool-rounds", type=int, default=3,
                    help="alternations of the tools (sharpeyes, its variants, ffmpeg, GStreamer) per "
                    "size; the tables show medians and min..max spreads")
    ap.add_argument("--defaults-seconds", type=float, default=60,
                    help="window of the defaults runs (cameras sample at random phases, so the rate is steady)")
    ap.add_argument("--rounds", type=int, default=2, help="alternations per size with --compare-bin")
    ap.add_argument("--json", type=Path, help="write the raw figures here")
    ap.add_argument("--timeout", type=float, default=2400, help="wall-clock limit of the whole run (s)")
    ap.add_argument("--min-free-gib", type=float, default=2.0, help="abort when MemAvailable falls below this")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, inventories)")
    a = ap.parse_args(argv)
    a.sizes = sorted({int(x) for x in a.sizes.split(",") if x.strip()})
    a.tools = [t.strip() for t in a.tools.split(",") if t.strip() and t.strip() != "none"]
    a.patrol_concurrency = [int(x) for x in a.patrol_concurrency.split(",") if x.strip()]
    if a.sampling_at == "max":
        a.sampling_at = [max(a.sizes)] if a.sizes else []
    elif a.sampling_at in ("none", "", "0"):
        a.sampling_at = []
    else:
        a.sampling_at = sorted({int(x) for x in a.sampling_at.split(",") if x.strip()})
    if not a.sizes or min(a.sizes) < 1:
        ap.error("--sizes needs positive numbers")
    for t in a.tools:
        if t not in ("sharpeyes", "defaults", "unpaced", "ffmpeg", "gstreamer"):
            ap.error(f"unknown tool {t!r}")
    return a


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    for lim in ((want, max(hard, want)), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, lim)
            return
        except (ValueError, OSError):
            continue


# --------------------------------------------------------------------------------------------
# The frame of a script's main (shared with bench_vision.py, soak_vision.py, soak_faults.py)
# --------------------------------------------------------------------------------------------

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def setup_process() -> None:
    """Makes SIGINT, SIGTERM and SIGHUP raise `Abort` and raises the open-file limit."""
    for s in STOP_SIGNALS:
        signal.signal(s, _on_signal)
    raise_nofile()


def busy_cores(seconds: float) -> float:
    """Cores kept busy by all processes over the next `seconds` (sleeps that long)."""
    b0 = machine_ticks()
    time.sleep(seconds)
    b1 = machine_ticks()
    return (b1[0] - b0[0]) / max(1, b1[1] - b0[1]) * (os.cpu_count() or 1)


def note_failure(notes: list, e: Exception) -> None:
    """Records a run cut short by `e` in `notes` and the log; prints the traceback unless it
    was an `Abort`."""
    if isinstance(e, Abort):
        notes.append(f"run aborted: {e}")
        log(f"ABORTED: {e}")
    else:
        notes.append(f"run failed: {type(e).__name__}: {e}")
        log(f"FAILED: {type(e).__name__}: {e}")
        import traceback

        traceback.print_exc()


def stop_children() -> None:
    """Stops every child process; a second Ctrl-C (or SIGTERM, SIGHUP) must not skip this."""
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    CHILDREN.stop()
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_DFL)


def _strict_json(v):
    """`v` with every non-finite float made valid JSON: +/-inf as the strings "+Inf"/"-Inf"
    (Prometheus' spelling, e.g. a histogram's last bucket), NaN as null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("+Inf" if v > 0 else "-Inf")
    if isinstance(v, dict):
        return {k: _strict_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_strict_json(x) for x in v]
    return v


def write_figures(path: Path, res: dict) -> None:
    """Writes the raw figures `res` as strict JSON (no NaN/Infinity, which other readers
    refuse) to `path` (making its folder) and logs where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_strict_json(res), indent=2, default=str, allow_nan=False)
    path.write_text(text + "\n")
    log(f"raw figures in {path}")


def clean_up(tmp: Path, keep: bool, what: str) -> None:
    """Removes the temporary directory `tmp`, or keeps it when `keep`, logging that `what` is
    kept there."""
    if keep:
        log(f"{what} kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def start_sims(a, guard: Guard, tmp: Path, mounts: int, hold_max: int) -> SimFleet:
    procs = max(
        math.ceil(mounts / a.mounts_per_sim),
        math.ceil(max(hold_max, 1) / a.sessions_per_sim),
        1,
    )
    log(f"starting {procs} simulator processes for {mounts} cameras")
    return SimFleet(a.bin, tmp, mounts, procs, guard)


def main(argv=None) -> int:
    a = parse_args(argv)
    setup_process()
    if not a.bin.exists():
        print(f"bench: {a.bin} not found; run `cargo build --release` first", file=sys.stderr)
        return 2
    r = subprocess.run([str(a.bin), "sim", "--help"], capture_output=True, timeout=30)
    if r.returncode != 0:
        print(f"bench: `{a.bin} sim` is not available (is the simulator built in?)", file=sys.stderr)
        return 2
    a.has_sampling = has_sampling(a.bin)
    a.has_read_pace = has_flag(a.bin, "--read-pace")
    if a.compare_bin and not a.compare_bin.exists():
        print(f"bench: --compare-bin {a.compare_bin} not found", file=sys.stderr)
        return 2
    for tool, exe in (("ffmpeg", "ffmpeg"), ("gstreamer", "gst-launch-1.0")):
        if tool in a.tools and not shutil.which(exe):
            print(f"bench: {exe} not found (scripts/setup.sh installs it); skipping {tool}", file=sys.stderr)
            a.tools.remove(tool)

    guard = Guard(a.timeout, a.min_free_gib)
    # CPU time is counted per process, so other load does not add to a tool's figures, but it
    # does slow the simulator and the tools down: say so when the machine is not quiet.
    busy_before = busy_cores(3)
    if busy_before > 0.2:
        log(f"WARNING: the machine is busy before the run ({busy_before * 100:.0f}% of a core in use "
            "by other processes); figures may be disturbed")
    tmp = Path(tempfile.mkdtemp(prefix="sharpeyes-bench-"))
    res = {"meta": {}, "baseline": None, "hold": [], "ratios": [], "targets": [], "patrol": [], "notes": []}
    status = 0
    sim = None
    try:
        hold_max = max(a.sizes)
        need_hold = (
            hold_max if set(a.tools) & set(SHARPEYES_VARIANTS) else min(a.max_peer, hold_max) if a.tools else 0
        )
        mounts = max(need_hold, a.patrol_cameras)
        try:
            sim = start_sims(a, guard, tmp, mounts, need_hold)
        except Abort as e:
            if a.patrol_cameras and mounts > max(need_hold, a.patrol_fallback):
                res["notes"].append(f"simulators could not serve {mounts} cameras ({str(e).splitlines()[0]}); "
                                    f"fell back to {max(need_hold, a.patrol_fallback)}")
                log(res["notes"][-1])
                CHILDREN.stop()
                mounts = max(need_hold, a.patrol_fallback)
                sim = start_sims(a, guard, tmp, mounts, need_hold)
            else:
                raise
        log(f"simulators up in {sim.startup_s:.1f} s ({len(sim.rows)} cameras)")
        res["meta"] = meta(a, sim)

        if a.compare_bin:
            res["compare"] = run_compare(a, sim, guard, tmp)
        else:
            runs = run_alternating(a, sim, guard, tmp)
            res["runs"] = runs
            res["baseline"], res["hold"], res["voided"] = aggregate(runs)
            if "sharpeyes" in a.tools and a.has_sampling:
                for n in a.sampling_at:
                    res["hold"].append(
                        run_sharpeyes_hold(a, sim, guard, tmp, n, a.seconds, a.sampling_interval)
                    )
        if a.patrol_cameras and not a.compare_bin:
            cams = min(a.patrol_cameras, len(sim.rows))
            for conc in a.patrol_concurrency:
                pr = run_patrol(a, sim, guard, tmp, cams, conc)
                if cams < a.patrol_target:
                    pr["extrapolated"] = (
                        f"measured over {cams} cameras (the simulators served no more); the "
                        f"{a.patrol_target}-camera round time is EXTRAPOLATED from that probe rate"
                    )
                res["patrol"].append(pr)
        res["meta"]["sim_rss_kib"] = sim.rss_kib()
    except Exception as e:  # keep partial results, still stop every child
        status = 1
        note_failure(res["notes"], e)
    finally:
        stop_children()  # children go first, whatever happened
    if not res["meta"]:
        res["meta"] = meta(a, sim)
    res["meta"]["busy_cores_before_run"] = busy_before
    add_derived(res)
    res["meta"]["tmp"] = str(tmp) if a.keep else None
    print(report(res))
    if res.get("compare"):
        print(compare_report(a, res["compare"]))
    if a.json:
        write_figures(a.json, res)
    clean_up(tmp, a.keep or status, "logs and inventories")
    return status


if __name__ == "__main__":
    sys.exit(main())
