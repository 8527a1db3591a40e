#!/usr/bin/env python3
"""Screenshots of each view of the ops page at 1920x1080 into docs/screenshots/, against the
real daemon and a simulated fleet with faults and a real crowding alert.

    target/browser-venv/bin/python scripts/screenshots.py
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
import harness  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    work = tempfile.mkdtemp(prefix="sharpeyes-shots-")
    faults = ["b0006=auth", "b0011=not_found", "b0017=black", "b0020=no_video"]
    with harness.Fleet(work, cameras=24, prefix="b", faults=faults, config=harness.users_config() + "[tickets]\nopen_after = \"1s\"\n",
                       rules=harness.CROWDING_RULES, daemon_args=["--sample-interval", "2", "--detect"]) as fleet:
        with sync_playwright() as p:
            b = harness.launch(p)
            ctx = b.new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
            page = ctx.new_page()
            page.goto(fleet.base + "/")
            page.wait_for_selector("#login-form")
            page.screenshot(path=str(OUT / "login.png"))
            harness.login(page, fleet.base, "op", "op-pass-1")
            page.wait_for_timeout(8000)
            fleet.fault("b0009", "stall")
            page.wait_for_timeout(6000)
            page.screenshot(path=str(OUT / "wall.png"))
            r = page.evaluate("sharpeyes.tileRect('b0009')")
            page.mouse.click(r["x"] + 20, r["y"] + 20)
            page.wait_for_timeout(2500)
            page.screenshot(path=str(OUT / "detail.png"))
            page.click("#d-close")
            page.click("button[data-view=rates]")
            page.wait_for_timeout(2500)
            page.screenshot(path=str(OUT / "rates.png"))
            page.click("button[data-view=alerts]")
            page.wait_for_selector("#alerts-table tbody tr[data-alert]", timeout=120000)
            page.locator("#alerts-table tbody tr[data-alert]").first.click()
            page.wait_for_timeout(2000)
            page.screenshot(path=str(OUT / "alerts.png"))
            # 报备: one window declared through the API, then the view.
            page.evaluate("""async () => {
                const s = await (await fetch('/api/session')).json();
                const now = Date.now();
                await fetch('/api/maintenance', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf},
                    body: JSON.stringify({group: {by: 'region', value: '城关镇'}, start: new Date(now - 600e3).toISOString(),
                        end: new Date(now + 7200e3).toISOString(), reason: '道路施工停电'})}); }""")
            page.click("button[data-view=maint]")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(OUT / "maintenance.png"))
            page.click("button[data-view=tickets]")
            page.wait_for_selector("#t-table tr[data-ticket]", timeout=30000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(OUT / "tickets.png"))
            page.click("#lang-toggle")
            page.wait_for_timeout(500)
            page.screenshot(path=str(OUT / "tickets-en.png"))
            page.click("#lang-toggle")
            page.click("#lang-toggle")
            page.click("button[data-view=wall]")
            page.wait_for_timeout(1000)
            page.screenshot(path=str(OUT / "wall-en.png"))
            page.click("#lang-toggle")
            b.close()
    print("screenshots in", OUT)


if __name__ == "__main__":
    main()
