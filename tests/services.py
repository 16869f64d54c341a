"""Stopping and starting the real PostgreSQL and Redis, for the outage tests.

Commands come from the environment when set (``TOCSIN_TEST_PG_STOP``,
``TOCSIN_TEST_PG_START``, ``TOCSIN_TEST_REDIS_STOP``, ``TOCSIN_TEST_REDIS_START``: shell
command lines). Otherwise they are read off the running servers, not assumed: Redis is
asked for its port, directory and log file before it is stopped, and started again with
them; PostgreSQL is asked for its data directory, configuration file and major version,
and controlled with Debian's ``pg_ctlcluster`` where that exists, else with the
``pg_ctl`` of that version.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

from tests.helpers import wait_for


def _run(command: str | list[str], timeout: float = 120) -> None:
    argv = shlex.split(command) if isinstance(command, str) else command
    subprocess.run(argv, check=True, timeout=timeout, capture_output=True)


class Redis:
    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 6379
        self._start: list[str] | None = None

    def _cli(self, *args: str) -> str:
        return subprocess.run(["redis-cli", "-h", self.host, "-p", str(self.port), *args],
                              capture_output=True, text=True, timeout=10).stdout

    def _config(self, name: str) -> str:
        lines = self._cli("config", "get", name).splitlines()
        return lines[1] if len(lines) > 1 else ""

    def up(self) -> bool:
        return self._cli("ping").strip() == "PONG"

    def stop(self) -> None:
        """Stop it the hard way (no save), remembering how to start it as it was."""
        if not os.environ.get("TOCSIN_TEST_REDIS_START"):
            argv = ["redis-server", "--daemonize", "yes", "--port", str(self.port),
                    "--bind", self._config("bind") or self.host, "--save", "",
                    "--appendonly", "no"]
            for name in ("dir", "logfile"):
                if value := self._config(name):
                    argv += [f"--{name}", value]
            self._start = argv
        stop = os.environ.get("TOCSIN_TEST_REDIS_STOP")
        if stop:
            _run(stop)
        else:
            self._cli("shutdown", "nosave")
        wait_for(lambda: not self.up(), 20, what="redis to stop")

    def start(self) -> None:
        _run(os.environ.get("TOCSIN_TEST_REDIS_START") or self._start or [])
        wait_for(self.up, 20, what="redis to start")


class Postgres:
    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    @functools.cached_property
    def _commands(self) -> dict[str, list[str]]:
        """Read off the running server (once, while it is up)."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.admin_url)
        with engine.connect() as conn:
            data_dir = conn.execute(text("SHOW data_directory")).scalar_one()
            config = conn.execute(text("SHOW config_file")).scalar_one()
            major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
        engine.dispose()
        cluster = Path(config).parent
        if shutil.which("pg_ctlcluster") and cluster.parent.name == str(major):
            base = ["pg_ctlcluster", "--skip-systemctl-redirect", str(major), cluster.name]
            return {action: [*base, action] for action in ("start", "stop", "restart")}
        pg_ctl = shutil.which("pg_ctl") or f"/usr/lib/postgresql/{major}/bin/pg_ctl"
        base = [pg_ctl, "-D", data_dir, "-w", "-m", "fast", "-o", f"-c config_file={config}"]
        return {action: [*base, action] for action in ("start", "stop", "restart")}

    def up(self) -> bool:
        parsed = urlparse(self.admin_url.replace("+psycopg", ""))
        return subprocess.run(["pg_isready", "-h", parsed.hostname or "127.0.0.1", "-p",
                               str(parsed.port or 5432), "-q"]).returncode == 0

    def _do(self, action: str) -> None:
        command = os.environ.get(f"TOCSIN_TEST_PG_{action.upper()}") or self._commands[action]
        _run(command)
        if action != "stop":
            wait_for(self.up, 60, what=f"postgres to {action}")

    def prepare(self) -> None:
        """Read the commands now, while the server can still be asked."""
        if not all(os.environ.get(f"TOCSIN_TEST_PG_{a}") for a in ("STOP", "START",
                                                                   "RESTART")):
            _ = self._commands

    def stop(self) -> None:
        self.prepare()
        self._do("stop")

    def start(self) -> None:
        self._do("start")

    def restart(self) -> None:
        self.prepare()
        self._do("restart")
