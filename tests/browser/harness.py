"""Starts the real simulated fleet (`sharpeyes sim`) and the daemon (`sharpeyes run`) on
loopback for the browser tests, the screenshots and the page benchmark. Every wait is bounded
and every process is killed on exit."""

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SHARPEYES_CHROMIUM", "/usr/bin/chromium")


def binary():
    """The sharpeyes binary: $SHARPEYES_BIN, else target/debug."""
    b = os.environ.get("SHARPEYES_BIN") or str(ROOT / "target" / "debug" / "sharpeyes")
    if not Path(b).exists():
        raise SystemExit(f"no sharpeyes binary at {b}: run `cargo build` or set SHARPEYES_BIN")
    return b


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, method="GET", data=None, headers=None, timeout=5):
    """(status, body bytes); never raises on HTTP errors."""
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def wait_for(what, f, timeout):
    deadline = time.monotonic() + timeout
    while True:
        v = f()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def hash_password(password):
    out = subprocess.run([binary(), "hash-password"], input=password + "\n", capture_output=True,
                         text=True, timeout=60, check=True)
    return out.stdout.strip()


class Fleet:
    """A simulated fleet and the daemon watching it."""

    def __init__(self, workdir, cameras=6, prefix="b", faults=(), config="", rules=None,
                 daemon_args=(), sim_args=(), inventory=None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.procs = []
        self.sim_control = None
        if inventory is None:
            control = free_port()
            inv = self.dir / "inventory.csv"
            args = [binary(), "sim", "--cameras", str(cameras), "--port", str(free_port()),
                    "--control", f"127.0.0.1:{control}", "--inventory-out", str(inv),
                    "--id-prefix", prefix, *sim_args]
            for f in faults:
                args += ["--fault", f]
            self._spawn("sim", args)
            self.sim_control = f"http://127.0.0.1:{control}"
            wait_for("the simulator", lambda: inv.exists() and http(self.sim_control + "/healthz")[0] == 200, 60)
            inventory = inv
        self.inventory = Path(inventory)
        cfg = self.dir / "sharpeyes.toml"
        cfg.write_text(config)
        port = free_port()
        args = [binary(), "run", "--inventory", str(self.inventory), "--listen", f"127.0.0.1:{port}",
                "--data-dir", str(self.dir / "data"), "--config", str(cfg), *daemon_args]
        if rules is not None:
            rf = self.dir / "rules.toml"
            rf.write_text(rules)
            args += ["--rules", str(rf)]
        self._spawn("daemon", args)
        self.base = f"http://127.0.0.1:{port}"
        wait_for("the daemon", lambda: http(self.base + "/healthz")[0] == 200, 60)

    def _spawn(self, name, args):
        log = open(self.dir / f"{name}.log", "w")
        env = dict(os.environ, RUST_LOG="info,retina=warn,ort=warn")
        p = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.procs.append((name, p))

    def fault(self, camera, fault):
        status, _ = http(f"{self.sim_control}/cameras/{camera}/fault", "PUT", fault.encode(),
                         {"Content-Type": "text/plain"})
        assert status == 200, f"sim fault {camera}={fault}: {status}"

    def log_tail(self, name="daemon", lines=40):
        p = self.dir / f"{name}.log"
        return "\n".join(p.read_text(errors="replace").splitlines()[-lines:]) if p.exists() else ""

    def stop(self):
        for _, p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for _, p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def users_config(extra=""):
    """An [auth] section with an operator `op` and a viewer `view`."""
    return (f"stall_timeout = \"3s\"\nrecovery_hold = \"3s\"\n[auth]\n{extra}\n"
            f"[[auth.users]]\nname = \"op\"\nrole = \"operator\"\npassword_hash = \"{hash_password('op-pass-1')}\"\n"
            f"[[auth.users]]\nname = \"view\"\nrole = \"viewer\"\npassword_hash = \"{hash_password('view-pass-1')}\"\n")


CROWDING_RULES = (
    "[[rules]]\nname = \"square-crowding\"\nkind = \"crowding\"\ncameras = [\"b0001\"]\n"
    "zone = [[0,0],[1,0],[1,1],[0,1]]\nmin_people = 3\nmin_score = 0.3\ndwell = \"2s\"\n"
    "hold_off = \"10s\"\nsmoothing = 1\nseverity = \"major\"\n"
)


def launch(playwright):
    """Headless Debian chromium (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])


def login(page, base, user, password):
    page.goto(base + "/")
    page.fill("#login-user", user)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_selector("#wall-scroll", timeout=15000)
    page.wait_for_function("window.sharpeyes && window.sharpeyes.ready()", timeout=30000)
