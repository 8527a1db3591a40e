"""The ops page end to end in headless Chromium, against the real daemon and the real simulated
fleet: login, the wall's counts, a camera faulted in the simulator turning red with its reason
without a reload, filters, camera detail, rates and the CSV export, a real crowding alert with
its boxes, roles (a viewer cannot acknowledge), CSRF, and the language switch.

Run by `cargo test --test browser` (tests/browser.rs), or directly:
    SHARPEYES_BIN=target/debug/sharpeyes target/browser-venv/bin/python tests/browser/test_page.py
Exits non-zero with the failing check and the daemon's log tail."""

import json
import shutil
import sys
import tempfile
import time
import traceback
import urllib.request

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
import harness  # noqa: E402

RED = (0xD9, 0x36, 0x3E)
GREEN = (0x2E, 0x9D, 0x4F)
CHECKS = []


def check(name):
    def wrap(f):
        CHECKS.append((name, f))
        return f
    return wrap


def tile_colour(page, cam):
    """The colour the canvas drew in the label band of a camera's tile."""
    return page.evaluate(
        """(id) => {
            const r = sharpeyes.tileRect(id);
            if (!r) return null;
            const c = document.getElementById('wall');
            const b = c.getBoundingClientRect();
            const dpr = window.devicePixelRatio || 1;
            const x = Math.round((r.x - b.left + r.w - 6) * dpr), y = Math.round((r.y - b.top + r.h - 4) * dpr);
            return Array.from(c.getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3));
        }""",
        cam,
    )


def near(c, want, tol=40):
    return c is not None and all(abs(a - b) <= tol for a, b in zip(c, want))


def hover_text(page, cam):
    r = page.evaluate("(id) => sharpeyes.tileRect(id)", cam)
    page.mouse.move(r["x"] + r["w"] / 2, r["y"] + r["h"] / 2)
    page.wait_for_selector("#tooltip:not([hidden])", timeout=3000)
    return page.inner_text("#tooltip")


def api_json(fleet, path):
    # The daemon's own answer, read with an operator session (the test's truth).
    status, body = harness.http(fleet.base + path, headers={"Cookie": fleet.op_cookie})
    assert status == 200, f"GET {path}: {status} {body[:200]}"
    return json.loads(body)


def main():
    work = tempfile.mkdtemp(prefix="sharpeyes-browser-")
    fleet = harness.Fleet(
        work, cameras=6, prefix="b", faults=["b0006=auth"], config=harness.users_config() + "[tickets]\nopen_after = \"1s\"\n",
        rules=harness.CROWDING_RULES, daemon_args=["--sample-interval", "2", "--detect"])
    failures = 0
    try:
        # An operator cookie for reading the truth from the API.
        req = urllib.request.Request(fleet.base + "/api/login", method="POST",
                                     data=json.dumps({"user": "op", "password": "op-pass-1"}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            fleet.op_cookie = r.headers["Set-Cookie"].split(";")[0]
        harness.wait_for("5 cameras online", lambda: sum(
            c["state"] == "online" for c in api_json(fleet, "/api/cameras")) == 5, 60)

        with sync_playwright() as p:
            browser = harness.launch(p)
            # The page's CSP forbids eval; Playwright's polling predicates need it (test side only).
            ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
            page = ctx.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            state = {"fleet": fleet, "page": page, "ctx": ctx, "browser": browser, "errors": errors}
            for name, f in CHECKS:
                t0 = time.monotonic()
                try:
                    f(state)
                    print(f"ok   {name} ({time.monotonic() - t0:.1f}s)", flush=True)
                except Exception:  # noqa: BLE001 - report every failing check
                    failures += 1
                    print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
                    try:
                        page.screenshot(path=f"{work}/fail-{len(CHECKS)}-{name.replace(' ', '_')}.png")
                    except Exception:  # noqa: BLE001
                        pass
            if errors:
                failures += 1
                print("FAIL page errors:", errors)
            browser.close()
    finally:
        if failures:
            print("--- daemon log tail ---\n" + fleet.log_tail())
        fleet.stop()
    print(f"{failures} failure(s) in {len(CHECKS)} checks" + (f"; work dir kept: {work}" if failures else ""))
    if not failures:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failures else 0)


@check("without a login the API answers 401 and the page is the login form")
def _(s):
    f, page = s["fleet"], s["page"]
    r = s["ctx"].request.get(f.base + "/api/cameras")
    assert r.status == 401, r.status
    assert r.json()["error"] == "login required"
    assert s["ctx"].request.get(f.base + "/api/events").status == 401
    csp = s["ctx"].request.get(f.base + "/", headers={"Cookie": f.op_cookie}).headers
    assert "script-src 'self'" in csp["content-security-policy"], csp
    assert csp["x-frame-options"] == "DENY"
    page.goto(f.base + "/")
    page.wait_for_selector("#login-form")
    assert page.locator("#wall-scroll").count() == 0
    page.fill("#login-user", "view")
    page.fill("#login-password", "wrong")
    page.click("#login-submit")
    page.wait_for_function("document.getElementById('login-error').textContent.length > 0")
    assert "错误" in page.inner_text("#login-error")


@check("a viewer logs in through the form and the wall shows the right counts")
def _(s):
    f, page = s["fleet"], s["page"]
    harness.login(page, f.base, "view", "view-pass-1")
    assert "查看员" in page.inner_text("#who")
    cams = api_json(f, "/api/cameras")
    want = {"online": sum(c["state"] == "online" for c in cams),
            "offline": sum(c["state"] == "offline" for c in cams)}
    assert want == {"online": 5, "offline": 1}, want
    page.wait_for_function(
        "document.getElementById('n-online').textContent === '5' && document.getElementById('n-offline').textContent === '1'",
        timeout=15000)
    assert page.inner_text("#n-total") == "6"
    assert near(tile_colour(page, "b0006"), RED), tile_colour(page, "b0006")
    assert near(tile_colour(page, "b0001"), GREEN), tile_colour(page, "b0001")
    assert "认证失败" in hover_text(page, "b0006")


@check("a camera faulted in the simulator turns red with its reason, without a reload")
def _(s):
    f, page = s["fleet"], s["page"]
    page.evaluate("window.__noReload = 'still here'")
    assert near(tile_colour(page, "b0003"), GREEN)
    t0 = time.monotonic()
    f.fault("b0003", "stall")
    harness.wait_for("b0003 red on the wall", lambda: near(tile_colour(page, "b0003"), RED), 25)
    took = time.monotonic() - t0
    text = hover_text(page, "b0003")
    assert "视频中断" in text, text  # stalled
    assert page.evaluate("window.__noReload") == "still here", "the page reloaded"
    assert page.inner_text("#n-offline") == "2"
    print(f"     b0003 turned red {took:.1f}s after the fault (stall_timeout 3s)")
    f.fault("b0003", "none")


@check("filters and search narrow the wall")
def _(s):
    f, page = s["fleet"], s["page"]
    cams = api_json(f, "/api/cameras")
    page.select_option("#f-state", "offline")
    page.wait_for_function("sharpeyes.shown() >= 1")
    offline = sum(c["state"] == "offline" for c in cams)
    assert page.evaluate("sharpeyes.shown()") == offline
    page.select_option("#f-state", "")
    region = cams[0]["region"]
    page.select_option("#f-region", region)
    assert page.evaluate("sharpeyes.shown()") == sum(c["region"] == region for c in cams)
    page.select_option("#f-region", "")
    page.fill("#q", "b0002")
    assert page.evaluate("sharpeyes.shown()") == 1
    assert page.evaluate("sharpeyes.tileRect('b0002')") is not None
    assert page.evaluate("sharpeyes.tileRect('b0001')") is None
    assert "1 / 6" in page.inner_text("#n-shown")
    page.fill("#q", "")
    assert page.evaluate("sharpeyes.shown()") == 6


@check("camera detail shows the state, the outage timeline with its reason and counters")
def _(s):
    f, page = s["fleet"], s["page"]
    r = page.evaluate("sharpeyes.tileRect('b0006')")
    page.mouse.click(r["x"] + 20, r["y"] + 20)
    page.wait_for_selector("#detail:not([hidden]) #d-outages")
    assert "b0006" in page.inner_text("#d-title")
    assert "认证失败" in page.inner_text("#d-state")
    page.wait_for_function("document.querySelectorAll('#d-timeline rect').length > 0", timeout=10000)
    assert "认证失败" in page.inner_text("#d-outages")
    page.click("#d-close")


@check("rates: live and daily figures, the gap to the 98% target, CSV export")
def _(s):
    f, page = s["fleet"], s["page"]
    page.click("button[data-view=rates]")
    page.wait_for_function("document.getElementById('c-today-online').textContent !== '–'", timeout=15000)
    assert page.inner_text("#c-target") == "98.00%"
    assert "差距" in page.inner_text("#c-gap-online")
    assert page.locator("#groups-table tbody tr").count() >= 3
    href = page.get_attribute("#export-csv", "href")
    assert "format=csv" in href
    r = s["ctx"].request.get(f.base + href)
    assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text().splitlines()
    assert lines[0].startswith("kind,date,"), lines[0]
    assert any(l.startswith("camera,") and ",b0006," in l for l in lines), lines[:5]
    assert any(l.startswith("fleet,") for l in lines)
    page.click("button[data-view=wall]")


@check("a raised crowding alert is listed with its snapshot and boxes; the viewer cannot acknowledge")
def _(s):
    f, page = s["fleet"], s["page"]
    harness.wait_for("a crowding alert", lambda: api_json(f, "/api/alerts?kind=crowding"), 120)
    page.click("button[data-view=alerts]")
    page.wait_for_selector("#alerts-table tbody tr[data-alert]", timeout=15000)
    row = page.locator("#alerts-table tbody tr[data-alert]").first
    assert "人员聚集" in row.inner_text()
    row.click()
    page.wait_for_selector("#alert-canvas")
    alert = api_json(f, "/api/alerts?kind=crowding")[0]
    s["alert"] = alert["id"]
    assert alert["evidence"]["objects"], alert
    # The picture was drawn (not just black) and a red box was drawn over it.
    page.wait_for_function("""() => {
        const c = document.getElementById('alert-canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let red = 0, lit = 0;
        for (let i = 0; i < d.length; i += 16) { if (d[i] > 230 && d[i+1] < 80 && d[i+2] < 80) red++; if (d[i] + d[i+1] + d[i+2] > 120) lit++; }
        return red > 20 && lit > 1000; }""", timeout=10000)
    assert page.is_disabled("#ack-btn")
    assert "仅操作员" in page.inner_text("#alert-detail")
    # The viewer's own session, own token: still 403.
    status = page.evaluate("""async (id) => {
        const s = await (await fetch('/api/session')).json();
        const r = await fetch('/api/alerts/' + id + '/ack', {method: 'POST', headers: {'X-CSRF-Token': s.csrf}});
        return r.status; }""", alert["id"])
    assert status == 403, status
    assert api_json(f, "/api/alerts/" + alert["id"])["acked_at"] is None


@check("an operator acknowledges from the page; without the CSRF token the same request is 403")
def _(s):
    f, page = s["fleet"], s["page"]
    page.click("#logout")
    page.wait_for_selector("#login-form")
    harness.login(page, f.base, "op", "op-pass-1")
    no_token = page.evaluate("""async (id) => (await fetch('/api/alerts/' + id + '/ack', {method: 'POST'})).status""",
                             s["alert"])
    assert no_token == 403, no_token
    assert api_json(f, "/api/alerts/" + s["alert"])["acked_at"] is None
    page.click("button[data-view=alerts]")
    page.wait_for_selector(f"#alerts-table tr[data-alert='{s['alert']}']")
    page.click(f"#alerts-table tr[data-alert='{s['alert']}']")
    page.fill("#ack-note", "已派警")
    page.click("#ack-btn")
    page.wait_for_selector("#acked-by", timeout=10000)
    assert page.inner_text("#acked-by") == "op"
    rec = api_json(f, "/api/alerts/" + s["alert"])
    assert rec["acked_by"] == "op" and rec["acked_at"], rec


@check("an operator declares a maintenance window (报备) on the page; it is listed, audited and deleted")
def _(s):
    f, page = s["fleet"], s["page"]
    page.click("button[data-view=maint]")
    page.wait_for_selector("#m-form:not([hidden])")
    page.select_option("#m-scope", "cameras")
    page.fill("#m-target", "b0006, b0005")
    # datetime-local takes the browser's local time; an hour-long window starting now.
    page.evaluate("""() => {
        const pad = (n) => String(n).padStart(2, '0');
        const local = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
        const now = new Date();
        document.getElementById('m-start').value = local(now);
        document.getElementById('m-end').value = local(new Date(now.getTime() + 3600e3)); }""")
    page.fill("#m-reason", "光缆迁改")
    page.click("#m-submit")
    page.wait_for_selector("#m-table tr[data-window]", timeout=10000)
    row = page.inner_text("#m-table tr[data-window]")
    assert "光缆迁改" in row and "b0006" in row and "op" in row, row
    assert "补报" not in row, row
    windows = api_json(f, "/api/maintenance")
    assert len(windows) == 1 and windows[0]["declared_by"] == "op" and not windows[0]["late"], windows
    assert windows[0]["cameras"] == ["b0006", "b0005"], windows
    audit = api_json(f, f"/api/maintenance/{windows[0]['id']}/audit")
    assert [a["action"] for a in audit] == ["declare"], audit
    # The rates view shows the assessed columns and offers the monthly workbook.
    page.click("button[data-view=rates]")
    assert "考核在线率" in page.inner_text("#groups-table thead")
    href = page.get_attribute("#export-month", "href")
    r = s["ctx"].request.get(f.base + href)
    assert r.status == 200 and r.body()[:2] == b"PK", (r.status, href)
    assert "spreadsheetml" in r.headers["content-type"]
    # Delete from the page.
    page.click("button[data-view=maint]")
    page.click("#m-table .m-delete")
    page.wait_for_selector("#m-table tr:not([data-window])", timeout=10000)
    assert api_json(f, "/api/maintenance") == []
    assert len(api_json(f, "/api/maintenance?deleted=true")) == 1
    page.click("button[data-view=wall]")


@check("the camera down with an auth failure has a repair ticket; the operator acknowledges it on the page")
def _(s):
    f, page = s["fleet"], s["page"]
    harness.wait_for("a ticket for b0006", lambda: any(
        t["camera_id"] == "b0006" for t in api_json(f, "/api/tickets")), 30)
    page.click("button[data-view=tickets]")
    page.wait_for_selector("#t-table tr[data-ticket]", timeout=10000)
    row = page.locator("#t-table tr[data-ticket]", has_text="b0006")
    assert "认证失败" in row.inner_text() and "待响应" in row.inner_text(), row.inner_text()
    row.locator(".t-ack").click()
    page.wait_for_function("""() => [...document.querySelectorAll('#t-table tr[data-ticket]')]
        .some((r) => r.textContent.includes('b0006') && r.textContent.includes('处理中'))""", timeout=10000)
    t = [t for t in api_json(f, "/api/tickets") if t["camera_id"] == "b0006"][0]
    assert t["acked_by"] == "op" and t["state"] == "acknowledged", t
    assert page.locator("#t-kpis tbody tr").count() >= 1
    page.click("button[data-view=wall]")


@check("in English every label of every tab is English: no key missing, no Chinese left in the chrome")
def _(s):
    page = s["page"]
    missing = page.evaluate("""() => {
        const cjk = /[\u3400-\u9fff]/;
        return {
          missing: Object.keys(I18N.zh).filter((k) => !(k in I18N.en)),
          extra: Object.keys(I18N.en).filter((k) => !(k in I18N.zh)),
          // The switch back to Chinese is labelled in Chinese, on purpose.
          chinese: Object.entries(I18N.en).filter(([k, v]) => k !== 'lang_switch' && cjk.test(v)).map(([k]) => k),
        }; }""")
    assert missing == {"missing": [], "extra": [], "chinese": []}, missing
    page.click("#lang-toggle")
    assert page.evaluate("document.documentElement.lang") == "en"
    # Inventory data (names, groups) stays as the inventory spells it: taken out before judging.
    data = sorted({c[k] for c in api_json(s["fleet"], "/api/cameras")
                   for k in ("name", "region", "unit", "maintainer") if c[k]}, key=len, reverse=True)
    leftovers = {}
    for view in ["wall", "rates", "alerts", "maint", "tickets"]:
        page.click(f"button[data-view={view}]")
        page.wait_for_timeout(700)
        # Labels, headers, buttons and placeholders of what is on screen (camera names, regions
        # and other inventory data stay as the inventory spells them).
        found = page.evaluate("""(data) => {
            const cjk = /[\u3400-\u9fff]/;
            const seen = (e) => e.offsetParent !== null || e.tagName === 'OPTION';
            const labels = [...document.querySelectorAll(
                '[data-i18n], thead th, button, label, h1, h2, h3, legend, caption, summary, .note')]
              .filter(seen)
              .filter((e) => e.id !== 'lang-toggle')
              .filter((e) => !e.closest('tbody') || e.tagName === 'BUTTON')
              .map((e) => e.textContent.trim());
            const holders = [...document.querySelectorAll('[placeholder]')].filter(seen)
              .map((e) => e.getAttribute('placeholder'));
            const strip = (t) => data.reduce((acc, d) => acc.split(d).join(''), t);
            return [...labels, ...holders].filter((t) => cjk.test(strip(t))); }""", data)
        if found:
            leftovers[view] = found
    page.click("#lang-toggle")
    page.click("button[data-view=wall]")
    assert not leftovers, leftovers


@check("labels switch to English and the choice is remembered")
def _(s):
    f, page = s["fleet"], s["page"]
    assert page.inner_text("button[data-view=wall]") == "状态墙"
    page.click("#lang-toggle")
    assert page.inner_text("button[data-view=wall]") == "Status wall"
    page.reload()
    page.wait_for_function("window.sharpeyes && window.sharpeyes.ready()")
    assert page.inner_text("button[data-view=wall]") == "Status wall"
    assert page.evaluate("document.documentElement.lang") == "en"
    page.click("#lang-toggle")
    assert page.inner_text("button[data-view=wall]") == "状态墙"


if __name__ == "__main__":
    main()
