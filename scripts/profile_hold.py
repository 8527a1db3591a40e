#!/usr/bin/env python3
"""Profiles of held sessions: where a held camera's memory (`--heap`) or CPU (`--perf`) goes.

Starts the simulator fleet of `scripts/bench_hold.py` and runs `sharpeyes run --mode hold
--sample-interval 0` holding N cameras; once every camera is online it profiles `--seconds`.

`--perf` (the default): `perf record -g` of the daemon, then the top symbols by self time and
the share of each component (same grouping as below), from `perf report`.

`--heap`: the daemon runs under heaptrack (Debian's `heaptrack` package); after the window it
is stopped and the profile is read with `heaptrack_print`:

- the daemon's RSS and heaptrack's peak heap at N cameras;
- each allocation stack's peak (heaptrack's `peak` flamegraph cost), summed per component by
  the frames on the stack (retina's read ring, its depacketizer, the rest of the session, the
  tokio task holding the supervisor, tokio's I/O and timers, metric series, the fleet entry and
  status machine, vision state, the ledger, ...), printed as KiB per held camera.

Peaks of different stacks need not coincide, so the components can add up to a little more
than the global peak; for long-lived per-session state (what this measures) they do coincide.

    python3 scripts/profile_hold.py --perf --cameras 1000 --seconds 15
    python3 scripts/profile_hold.py --heap --cameras 1000 --seconds 20
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_hold as bh  # noqa: E402

# (component, any of these substrings on the stack). The first rule that matches a stack wins,
# so the specific ones come first.
COMPONENTS = [
    # heaptrack names frames `function<> (file.rs)`; Rust paths are matched too when present.
    ("retina read ring (RTSP/RTP bytes, pinned access units)",
     ["retina::buf::", "spare_capacity (buf.rs)", "reserve (buf.rs)", "MarkBuf"]),
    ("retina depacketizer (frame being assembled)", ["retina::codec::", "(h264.rs)", "(h265.rs)", "(h26x.rs)"]),
    ("retina session state (SDP, streams, RTCP)", ["retina::", "poll_stream_item", "(tokio.rs)", "describe<>", "(sdp.rs)"]),
    ("metric series per camera (prometheus)", ["prometheus::", "with_label_values", "get_metric_with_label_values"]),
    ("ledger (SQLite)", ["rusqlite", "sqlite3", "sharpeyes::health::ledger", "(ledger.rs)"]),
    ("vision state", ["sharpeyes::vision", "sharpeyes::pipeline", "(workers.rs)", "(router.rs)", "(vision.rs)"]),
    ("tokio task (supervisor future)", ["tokio::runtime::task::core::Cell", "new_task<>", "bind_new_task"]),
    ("fleet entry, status machine, stats", ["sharpeyes::fleet", "sharpeyes::health::status", "(status.rs)", "(stats.rs)", "(fleet/mod.rs)"]),
    ("supervisor (session task code)", ["sharpeyes::camera::", "(supervisor.rs)", "(session.rs)"]),
    ("inventory, settings, reload", ["sharpeyes::config", "sharpeyes::settings", "(inventory.rs)", "(reload.rs)"]),
    ("tokio I/O driver, timers, scheduler", ["tokio::", "(registration.rs)", "(scheduled_io.rs)", "(wheel", "(entry.rs)"]),
    ("HTTP server (axum, hyper)", ["axum::", "hyper::"]),
]


def mangled(key: str) -> str:
    """A Rust path as it appears in a v0-mangled symbol: `retina::buf::` → `6retina3buf`."""
    parts = [x for x in key.split("::") if x]
    return "".join(f"{len(x)}{x}" for x in parts) if len(parts) > 1 or key.endswith("::") else key


def component(stack: str) -> str:
    for name, keys in COMPONENTS:
        if any(k in stack or mangled(k) in stack for k in keys):
            return name
    return "other (libraries, start-up)"


def perf_report(a) -> int:
    """Self time per symbol (top 25) and per component, from `perf report`."""
    out = subprocess.run(
        ["perf", "report", "-i", a.out / "perf.data", "--no-children", "--stdio", "-g", "none",
         "--percent-limit", "0.3", "--sort", "dso,symbol"],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[0].endswith("%"):
            rows.append((float(parts[0][:-1]), parts[1], parts[3].removeprefix("[.] ").removeprefix("[k] ")))
    folded = subprocess.run(
        ["perf", "script", "-i", a.out / "perf.data", "-F", "ip,sym"],
        capture_output=True, text=True,
    ).stdout
    # perf script prints each sample's stack, innermost first, samples separated by blank lines.
    per, total, stack = collections.Counter(), 0, []
    for line in folded.splitlines() + [""]:
        if line.strip():
            stack.append(line.strip().partition(" ")[2])
        elif stack:
            per[cpu_component(stack)] += 1
            total += 1
            stack = []
    lines = [f"CPU profile: {a.cameras} held sessions, {a.seconds:.0f} s ({a.bin}, extra args {a.daemon_arg or 'none'})",
             "", "top symbols by self time:"]
    for pct, dso, sym in rows[:25]:
        lines.append(f"  {pct:5.1f}%  {dso[:22]:22}  {sym[:90]}")
    lines += ["", "share of samples by component (first match on the stack, innermost first):"]
    for name, n in per.most_common():
        lines.append(f"  {100 * n / max(total, 1):5.1f}%  {name}")
    report = "\n".join(lines)
    (a.out / "perf-report.txt").write_text(report + "\n")
    print(report)
    return 0


CPU_COMPONENTS = [
    ("kernel: TCP receive and socket syscalls", ["tcp_", "sock_", "readv", "_copy_to_iter", "skb_", "copy_user"]),
    ("kernel: epoll, futex, context switches", ["epoll", "schedule", "futex", "finish_task_switch", "switch_to"]),
    ("retina: RTSP/RTP parsing, depacketizing", ["retina::"]),
    ("tokio: I/O driver, timers, scheduler", ["tokio::"]),
    ("allocator (malloc/free)", ["malloc", "free", "cfree", "_int_"]),
    ("memcpy/memchr (frame copies, Annex B scan)", ["memmove", "memcpy", "memchr"]),
    ("clock reads (vDSO)", ["clock_gettime", "read_tsc"]),
    ("sharpeyes: supervisor, stats, fleet", ["sharpeyes::"]),
]


def cpu_component(stack: list[str]) -> str:
    for frame in stack:
        for name, keys in CPU_COMPONENTS:
            if any(k in frame for k in keys):
                return name
    return "other"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", type=Path, default=bh.ROOT / "target/release/sharpeyes")
    ap.add_argument("--cameras", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=20, help="held after every camera is online")
    ap.add_argument("--out", type=Path, default=bh.ROOT / "target/bench/profile", help="profile and report go here")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--perf", action="store_true", help="CPU profile with perf (default)")
    mode.add_argument("--heap", action="store_true", help="heap profile with heaptrack")
    ap.add_argument("--sample-interval", default="0",
                    help="the daemon's --sample-interval (default 0: hold only; e.g. 1 profiles sampling)")
    ap.add_argument("--daemon-arg", action="append", default=[], help="extra `run` argument (repeatable)")
    a = ap.parse_args()
    for tool in ("heaptrack", "heaptrack_print") if a.heap else ("perf",):
        if not shutil.which(tool):
            print(f"heap_hold: {tool} not found (apt-get install heaptrack)", file=sys.stderr)
            return 2
    bh.raise_nofile()
    guard = bh.Guard(900, 2.0)
    tmp = Path(tempfile.mkdtemp(prefix="sharpeyes-heap-"))
    a.out.mkdir(parents=True, exist_ok=True)
    for old in a.out.glob("heaptrack.sharpeyes*"):
        old.unlink()
    try:
        procs = max(1, -(-a.cameras // 250))
        sim = bh.SimFleet(a.bin, tmp, a.cameras, procs, guard)
        inv = sim.write_inventory(tmp / "inventory.csv", a.cameras)
        port = bh.free_port()
        argv = [a.bin, "run", "--inventory", inv,
                "--listen", f"127.0.0.1:{port}", "--data-dir", tmp / "data", "--mode", "hold",
                "--sample-interval", a.sample_interval, *a.daemon_arg]
        if a.heap:
            argv = ["heaptrack", "-o", a.out / "heaptrack.sharpeyes", *argv]
        env = dict(os.environ, RUST_LOG="warn")
        p = bh.CHILDREN.start(argv, tmp / "daemon.log", env=env)
        base = f"http://127.0.0.1:{port}"
        bh.wait_http(base + "/healthz", guard, 120, [p])
        t0 = time.monotonic()
        while bh.get_json(base + "/api/groups")["fleet"]["online"] < a.cameras:
            if time.monotonic() - t0 > 300:
                raise bh.Abort("not every camera came online in 300 s")
            guard.sleep(1.0, [p])
        bh.log(f"{a.cameras} cameras online after {time.monotonic() - t0:.0f} s; holding {a.seconds:.0f} s")
        if a.heap:
            guard.sleep(a.seconds, [p])
            daemon = subprocess.run(["pgrep", "-f", f"run --inventory {inv}"], capture_output=True, text=True)
            pids = [int(x) for x in daemon.stdout.split()
                    if Path(f"/proc/{x}/comm").read_text().strip() == "sharpeyes"]
            rss = bh.status_kib(pids[0], "VmRSS") if pids else None
            # Stop the daemon alone: heaptrack's interpreter must outlive it to write the file.
            for pid in pids:
                os.kill(pid, 15)
            p.wait(timeout=300)
        else:
            guard.sleep(3, [p])
            pids = [p.pid]
            subprocess.run(["perf", "record", "-q", "-g", "-F", "499", "-o", a.out / "perf.data",
                            "-p", str(p.pid), "--", "sleep", str(a.seconds)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            rss = bh.status_kib(pids[0], "VmRSS") if pids else None
        bh.CHILDREN.stop([p], grace=60)
    finally:
        bh.CHILDREN.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if not a.heap:
        return perf_report(a)
    files = sorted(a.out.glob("heaptrack.sharpeyes*"))
    if not files:
        print("heap_hold: heaptrack wrote no profile", file=sys.stderr)
        return 1
    folded = a.out / "peak.folded"
    summary = subprocess.run(
        ["heaptrack_print", "-f", files[0], "--print-peaks", "0", "--print-allocators", "0",
         "--print-temporary", "0", "--print-leaks", "0", "-F", folded, "--flamegraph-cost-type", "peak"],
        capture_output=True, text=True, check=True,
    ).stdout
    per = collections.Counter()
    for line in folded.read_text(errors="replace").splitlines():
        stack, _, cost = line.rpartition(" ")
        if cost.isdigit():
            per[component(stack)] += int(cost)
    peak_line = next((x for x in summary.splitlines() if x.startswith("peak heap memory consumption")), "")
    n = a.cameras
    lines = [f"heap profile: {n} held sessions ({a.bin}, extra args {a.daemon_arg or 'none'})",
             f"daemon RSS before stopping: {rss / 1024:.1f} MiB ({rss / n:.1f} KiB per camera)" if rss else "",
             peak_line.strip(), "",
             f"{'component':58} {'peak MiB':>9} {'KiB/camera':>11}"]
    for name, b in per.most_common():
        lines.append(f"{name:58} {b / 2**20:9.1f} {b / 1024 / n:11.1f}")
    total = sum(per.values())
    lines.append(f"{'sum of the stacks peaks':58} {total / 2**20:9.1f} {total / 1024 / n:11.1f}")
    report = "\n".join(x for x in lines if x is not None)
    (a.out / "report.txt").write_text(report + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
