"""The web console end to end: headless Chromium (Debian's ``chromium``, driven by
Playwright's Python API) against a real ``tocsin up``, found by labels and roles as a
person (or a screen reader) finds them.

Prints the page weight and the time to an interactive sign-in form; writes
screenshots to ``TOCSIN_CONSOLE_SCREENSHOTS`` when set (the README's come from here).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.fixtures.archives import BUILD, archive
from tests.helpers import ROOT, free_port, wait_for
from tests.integration.test_browser import CHROMIUM
from tests.integration.test_up import healthy, read_key, start_up

SHOTS = os.environ.get("TOCSIN_CONSOLE_SCREENSHOTS")


@pytest.fixture
def up(tmp_path, monkeypatch):
    monkeypatch.setenv("TOCSIN_ENTRYPOINT_MODULES", "tests.fixtures")
    monkeypatch.setenv("TOCSIN_FUNCTIONS_DOMAIN", "fn.test")
    port = free_port()
    proc, lines = start_up(tmp_path, port, workers=2)
    assert any(f"console: http://127.0.0.1:{port}/console" in line for line in lines), lines
    key = read_key(proc)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: healthy(base + "/v1"), 30, what="health")
    yield base, key, tmp_path
    proc.send_signal(2)
    proc.wait(30)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        yield context.new_page()
        browser.close()


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"console-{name}.png"))


def tocsin(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update({"PYTHONPATH": str(ROOT), "TOCSIN_DATABASE_URL": f"sqlite:///{tmp_path}/tocsin.db"})
    return subprocess.run([sys.executable, "-m", "scheduler", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => el.offsetParent !== null && !(el.labels && el.labels.length)
    && !el.getAttribute('aria-label') && !el.textContent.trim())
  .map((el) => el.outerHTML)"""


def sign_in(page, base: str, key: str) -> None:
    page.goto(base + "/console")
    page.get_by_label("Project ID").fill("default")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def test_the_console_end_to_end(up, page):
    base, key, tmp_path = up
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    sizes: dict[str, int] = {}
    page.on("response", lambda r: sizes.__setitem__(r.url, len(r.body()))
            if "/console" in r.url else None)

    started = time.perf_counter()
    page.goto(base + "/console")
    page.get_by_label("Project ID").wait_for()
    interactive = time.perf_counter() - started
    csp = httpx.get(base + "/console").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    print(f"\nconsole: {sum(sizes.values()):,} bytes over {len(sizes)} files, "
          f"sign-in form interactive after {interactive * 1000:.0f} ms")
    shot(page, "sign-in")

    # A wrong key is refused with a reason, not silently.
    page.get_by_label("Project ID").fill("default")
    page.get_by_label("API key").fill("wrong-key")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").filter(has_text="not a valid key").wait_for()
    sign_in(page, base, key)
    assert page.evaluate("sessionStorage.getItem('tocsin.key')") == key
    assert key not in page.url

    # Create a function with a cron schedule and see its next fires, in words.
    page.get_by_role("button", name="New function").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Function ID").fill("hello")
    dialog.get_by_label("Name").fill("Hello")
    dialog.get_by_label("Runtime").select_option("python-3.12")
    dialog.get_by_label("Entrypoint").fill("tests.fixtures.functions:hello")
    dialog.get_by_label("Timezone").fill("Asia/Kathmandu")
    dialog.get_by_label("Schedule").fill("61 * * * *")
    dialog.get_by_text("out of range").wait_for()  # live validation
    dialog.get_by_label("Schedule").fill("*/15 * * * *")
    fires = dialog.get_by_role("list", name="Next 5 fires")
    fires.get_by_role("listitem").nth(4).wait_for()
    assert dialog.get_by_text("every 15 minutes").is_visible()
    assert page.evaluate(UNLABELLED) == []
    shot(page, "new-function")
    dialog.get_by_role("button", name="Save").click()
    row = page.get_by_role("row").filter(has_text="Hello")
    row.get_by_text("every 15 minutes").wait_for()
    assert "(Asia/Kathmandu)" in row.inner_text()

    # Execute now, synchronously: the response body.
    row.get_by_role("button", name="Execute now").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Path").fill("/from-console")
    dialog.get_by_role("button", name="Add header").click()
    dialog.get_by_label("Header name").fill("X-Who")
    dialog.get_by_label("Header value").fill("operator")
    dialog.get_by_label("Body").fill("ping")
    assert page.evaluate(UNLABELLED) == []
    dialog.get_by_role("button", name="Execute").click()
    body = dialog.get_by_label("Response body")
    body.wait_for()
    assert json.loads(body.inner_text())["body"] == "ping"
    shot(page, "execute-now")

    # Execute now with Schedule: scheduled, then cancelled.
    later = (datetime.now() + timedelta(minutes=30)).replace(second=0, microsecond=0)
    dialog.get_by_label("Schedule at").fill(later.strftime("%Y-%m-%dT%H:%M"))
    dialog.get_by_role("button", name="Execute").click()
    dialog.get_by_text("scheduled", exact=True).wait_for()
    dialog.get_by_role("button", name="Close").click()

    # An async execution appears in the table and turns completed without a reload.
    row.get_by_role("button", name="Execute now").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Async").check()
    dialog.get_by_label("Body").fill("later")
    dialog.get_by_role("button", name="Execute").click()
    dialog.get_by_text(re.compile("waiting|processing|completed")).wait_for()
    dialog.get_by_role("button", name="Close").click()
    page.get_by_role("button", name="Executions").first.click()
    table = page.get_by_role("table")
    table.get_by_text("scheduled", exact=True).wait_for()
    navigations = page.evaluate("performance.getEntriesByType('navigation').length")
    page.get_by_role("row").filter(has_text="http").filter(
        has_text=re.compile("completed")).first.wait_for(timeout=20_000)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == navigations
    shot(page, "executions")
    page.get_by_role("row").filter(has_text="scheduled").get_by_role(
        "button", name="Details").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel execution").click()
    wait_for(lambda: not page.get_by_role("table").get_by_text("scheduled", exact=True)
             .count(), 10, what="the cancelled execution to go")

    # A finished run is re-run from its dialog: a new attempt linked to it (#33).
    page.get_by_role("row").filter(has_text="http").filter(
        has_text="completed").first.get_by_role("button", name="Details").click()
    page.get_by_role("dialog").get_by_text("1", exact=True).wait_for()  # its attempt
    page.get_by_role("dialog").get_by_role("button", name="Re-run").click()
    again = wait_for(lambda: [r for r in json.loads(tocsin(tmp_path, "executions",
                                                           "--json").stdout)
                              if r["attempt"] == 2], 10, what="the re-run")
    assert again[0]["retry_of"] and again[0]["trigger"] == "http"

    # Pause the schedule with a note; the operator's CLI sees it.
    page.get_by_role("button", name="Schedules").click()
    page.get_by_role("row").filter(has_text="hello").get_by_role("button", name="Pause").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Note").fill("db upgrade until 14:00")
    dialog.get_by_role("button", name="Pause").click()
    page.get_by_text("paused: db upgrade until 14:00").wait_for()
    shot(page, "schedules")
    jobs = json.loads(tocsin(tmp_path, "jobs", "--json").stdout)
    assert [(j["paused"], j["pause_note"]) for j in jobs] == [(True, "db upgrade until 14:00")]
    page.get_by_role("button", name="Resume").click()
    page.get_by_role("button", name="Pause").wait_for()

    # Domains: the generated one and the path form are shown; a custom domain is added,
    # serves the function, and is removed (#35 item 7).
    page.get_by_role("button", name="Domains").click()
    row = page.get_by_role("row").filter(has_text="Hello")
    row.get_by_text("hello.fn.test").wait_for()
    assert f"{base}/v1/run/hello/" in row.inner_text()
    page.get_by_label("Domain", exact=True).fill("Hooks.Example.com")
    page.get_by_label("Function", exact=True).select_option("hello")
    assert page.evaluate(UNLABELLED) == []
    page.get_by_role("button", name="Add domain").click()
    custom = page.get_by_role("list", name="Custom domains of Hello")
    custom.get_by_text("hooks.example.com").wait_for()
    shot(page, "domains")
    # The function was made with no execute roles: the domain reaches it, and it refuses.
    assert httpx.post(base + "/anything", headers={"Host": "hooks.example.com"}).json()[
        "type"] == "user_unauthorized"
    opened = httpx.put(base + "/v1/functions/hello", json={"name": "Hello", "execute": ["any"]},
                       headers={"X-Appwrite-Project": "default", "X-Appwrite-Key": key})
    assert opened.status_code == 200, opened.text
    served = httpx.post(base + "/anything?x=1", headers={"Host": "hooks.example.com"},
                        content=b"via the rule", timeout=30)
    assert served.status_code == 200 and served.json()["body"] == "via the rule"
    page.get_by_label("Domain", exact=True).fill("not a domain")
    page.get_by_role("button", name="Add domain").click()
    page.get_by_role("alert").filter(has_text="valid domain name").wait_for()
    # The browser logs the refused request itself: expected, once.
    refused = [p for p in problems if "status of 400" in p]
    assert len(refused) == 1, problems
    problems.remove(refused[0])
    page.once("dialog", lambda d: d.accept())
    custom.get_by_role("button", name="Remove hooks.example.com").click()
    page.get_by_role("row").filter(has_text="Hello").get_by_text("hello.fn.test").wait_for()
    wait_for(lambda: not page.get_by_text("hooks.example.com").count(), 10,
             what="the removed domain to go")
    # No longer the function's (once the API's 2 s answer cache for the host lapses): the
    # host falls to the API, which has no such route.
    wait_for(lambda: httpx.post(base + "/anything", headers={"Host": "hooks.example.com"},
                                content=b"x").status_code == 404, 10,
             what="the removed domain to stop serving the function")

    # Deployments: a tar.gz over 5 MiB is uploaded in chunks, as the SDKs send it; its
    # build is followed to ready and active, its logs read, and it runs (#34).
    auth = {"X-Appwrite-Project": "default", "X-Appwrite-Key": key}
    made = httpx.post(base + "/v1/functions", headers=auth, json={
        "functionId": "web", "name": "Web", "runtime": "python-3.12",
        "entrypoint": "src/main.py"})
    assert made.status_code == 201, made.text
    code = tmp_path / "code.tar.gz"
    code.write_bytes(archive("console", padding=6 * 1024 * 1024))
    page.get_by_role("button", name="Deployments").click()
    page.get_by_label("Function", exact=True).select_option("web")
    page.get_by_label("Code (tar.gz)").set_input_files(str(code))
    page.get_by_label("Build commands").fill(BUILD)
    assert page.evaluate(UNLABELLED) == []
    page.get_by_role("button", name="Upload").click()
    row = page.get_by_role("row").filter(has_text="active")
    row.get_by_text("ready", exact=True).wait_for(timeout=60_000)
    shot(page, "deployments")
    row.get_by_role("button", name=re.compile("^Build logs of")).click()
    page.get_by_text("Successfully installed greeter-1.0").wait_for()
    page.get_by_role("button", name="Close").click()
    ran = httpx.post(base + "/v1/functions/web/executions", headers=auth, json={}, timeout=30)
    assert ran.json()["responseBody"] == '{"version":"console","greeting":"hello Ada"}'

    # A key without functions.write: the edit controls are off, with the reason.
    made = tocsin(tmp_path, "keys", "create", "--project", "default", "--scope",
                  "functions.read", "--scope", "executions.read", "--scope", "scheduler.read")
    assert made.returncode == 0, made.stderr
    page.get_by_role("button", name="Sign out").click()
    assert page.evaluate("sessionStorage.getItem('tocsin.key')") is None
    # By keyboard alone: the form takes focus, Tab moves on, Enter signs in.
    page.keyboard.type("default")
    page.keyboard.press("Tab")
    page.keyboard.type(made.stdout.strip())
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Sign out").wait_for()
    new = page.get_by_role("button", name="New function")
    assert new.is_disabled()
    assert "functions.write" in new.get_attribute("title")
    page.get_by_text("Read-only: Needs the functions.write scope").wait_for()
    row = page.get_by_role("row").filter(has_text="Hello")
    assert row.get_by_role("button", name="Edit").is_disabled()
    assert row.get_by_role("button", name="Execute now").is_disabled()
    shot(page, "read-only")
    page.get_by_role("button", name="Domains").click()
    page.get_by_text("Needs the rules.read scope").wait_for()
    page.get_by_role("button", name="Functions").click()
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    assert page.get_by_role("button", name="New function").is_visible()
    assert problems == []
    assert sum(sizes.values()) < 300_000
    assert "cors.refused" not in (tmp_path / "up.log").read_text()  # same origin: no CORS
