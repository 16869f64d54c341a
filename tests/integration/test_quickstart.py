"""The README's "Your first function", followed literally: ``tocsin up`` (the installed
console script) in a fresh working directory, then the README's own shell block, run
as written by bash. Only two values are put in, as a reader would: the key ``tocsin
up`` printed, and the port this test could get (the README says 8080)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import ROOT, free_port, wait_for

KEY_LINE = "KEY=paste-the-key-tocsin-up-printed"
API_LINE = "API=http://127.0.0.1:8080/v1"


def first_function_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Your first function", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "the README lost its first-function shell block"
    return match.group(1)


def answers(output: str) -> list[dict[str, Any]]:
    """Each JSON document curl printed (``curl -s`` adds no newline between them)."""
    decoder, out, at = json.JSONDecoder(), [], 0
    while at < len(output):
        if output[at].isspace():
            at += 1
            continue
        doc, at = decoder.raw_decode(output, at)
        out.append(doc)
    return out


def test_the_readme_first_function_runs_as_written(tmp_path: Path):
    block = first_function_block()
    assert block.count(KEY_LINE) == 1 and block.count(API_LINE) == 1, block
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env["PYTHONUNBUFFERED"] = "1"
    tocsin = Path(sys.executable).parent / "tocsin"
    proc = subprocess.Popen([str(tocsin), "up", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=(tmp_path / "up.log").open("ab"))
    try:
        key = None
        for _ in range(20):
            line = proc.stdout.readline().decode()  # type: ignore[union-attr]
            if found := re.match(r"key: (\S+)", line):
                key = found.group(1)
                break
        assert key, "tocsin up printed no key on its first start"
        api = f"http://127.0.0.1:{port}/v1"
        wait_for(lambda: _healthy(api), 30, what="tocsin up's API")
        script = block.replace(KEY_LINE, f"KEY={key}").replace(API_LINE, f"API={api}")
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        created, execution = answers(run.stdout)
        assert (created["$id"], created["entrypoint"]) == ("hello", "src/main.py"), created
        assert execution["status"] == "completed", execution
        assert execution["responseStatusCode"] == 200
        assert json.loads(execution["responseBody"]) == {"youSent": {"name": "Ada"},
                                                          "project": "default"}
        assert (execution["logs"], execution["errors"]) == ("Hello, Logs!", "Hello, Errors!")
        # The file is where the README put it, under the directory tocsin up runs in.
        assert (tmp_path / "functions" / "default" / "hello" / "src" / "main.py").is_file()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def _healthy(api: str) -> bool:
    try:
        return httpx.get(api + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
