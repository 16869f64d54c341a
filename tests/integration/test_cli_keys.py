"""`tocsin keys create` prints a key once and stores only its hash."""

from __future__ import annotations

import subprocess
import sys

from scheduler.store.projects import hash_key
from tests.helpers import ROOT, tocsin_env


def run(env, *args):
    return subprocess.run([sys.executable, "-m", "scheduler", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_key_printed_once_and_stored_hashed(pg_url, store):
    env = tocsin_env(pg_url, "memory://")
    out = run(env, "keys", "create", "--project", "ops", "--scope", "scheduler.read")
    assert out.returncode == 0, out.stderr
    secret = out.stdout.strip()
    assert secret.startswith("tocsin_") and len(secret) > 40
    stored = store.scalar("SELECT secret_hash FROM api_keys WHERE project_id = 'ops'")
    assert stored == hash_key(secret) and secret not in stored
    assert store.scalar("SELECT count(*) FROM projects WHERE id = 'ops'") == 1


def test_unknown_scope_is_one_line(pg_url):
    out = run(tocsin_env(pg_url, "memory://"), "keys", "create", "--project", "x",
              "--scope", "root")
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: unknown scope(s) root; allowed:")


def test_platforms_are_added_listed_and_removed(pg_url):
    env = tocsin_env(pg_url, "memory://")
    for origin in ("https://App.example.com/", "http://localhost:5173"):
        assert run(env, "platforms", "add", origin, "--project", "web").returncode == 0
    assert run(env, "platforms", "list", "--project", "web").stdout.split() == [
        "http://localhost:5173", "https://app.example.com"]
    out = run(env, "platforms", "remove", "http://localhost:5173", "--project", "web")
    assert out.returncode == 0, out.stderr
    assert run(env, "platforms", "list", "--project", "web").stdout.split() == [
        "https://app.example.com"]
    bad = run(env, "platforms", "add", "app.example.com", "--project", "web")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert bad.stderr.startswith('error: "app.example.com" is not a valid platform: use')
    missing = run(env, "platforms", "remove", "https://x.example.com", "--project", "web")
    assert missing.returncode == 2
    assert missing.stderr.strip() == "error: https://x.example.com is not a platform of web"
