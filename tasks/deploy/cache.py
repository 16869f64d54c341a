"""A worker's copies of the deployments it runs, unpacked once per deployment.

A built deployment never changes, so its copy is made once per worker host and kept:
``<cache>/<project>/<deployment>/<project>/<function>/`` is laid out as a functions
directory of its own, and runners resolve and confine it exactly as they do an
operator's files (``tasks.runtimes.python``). Copies are made in a temporary folder
and renamed into place, so prefork children racing to make the same one never see
half of it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from scheduler.rules.errors import EntrypointError
from scheduler.store import deployments as store
from scheduler.store.db import transaction
from tasks.deploy.archive import ArchiveError, unpack

ENTRYPOINT_FILE = "entrypoint"  # beside the code folder: the deployment's entrypoint

_lock = threading.Lock()
_entrypoints: dict[tuple[str, str], str] = {}


def root(setting: str) -> Path:
    return Path(setting) if setting else Path(tempfile.gettempdir()) / "tocsin-deployments"


def prepared(sessions: sessionmaker[Session], cache: Path, project_id: str,
             function_id: str, deployment_id: str) -> tuple[str, str]:
    """(functions directory, entrypoint) of a ready deployment, copied here first if
    it is not yet. Raises ``EntrypointError`` (the run's failure) when it cannot be."""
    key = (project_id, deployment_id)
    home = cache / project_id / deployment_id
    with _lock:
        known = _entrypoints.get(key)
    if known is not None and home.is_dir():
        return str(home), known
    if not (home / ENTRYPOINT_FILE).is_file():
        _copy(sessions, cache, home, project_id, function_id, deployment_id)
    entrypoint = (home / ENTRYPOINT_FILE).read_text()
    with _lock:
        _entrypoints[key] = entrypoint
    return str(home), entrypoint


def _copy(sessions: sessionmaker[Session], cache: Path, home: Path, project_id: str,
          function_id: str, deployment_id: str) -> None:
    with transaction(sessions) as session:
        got = store.ready_build(session, project_id, deployment_id)
    if got is None:
        raise EntrypointError(f"Deployment '{deployment_id}' is not ready (deleted, or "
                              "its build has not finished)")
    d, artifact = got
    _folder(cache)
    _folder(home.parent)
    making = home.parent / f".{deployment_id}.{uuid.uuid4().hex}"
    try:
        code = making / project_id / function_id
        code.mkdir(parents=True, mode=0o755)
        os.chmod(making / project_id, 0o755)
        os.chmod(making, 0o755)
        try:
            unpack(artifact, code)
        except ArchiveError as exc:
            raise EntrypointError(f"Deployment '{deployment_id}' cannot be unpacked: {exc}") \
                from None
        (making / ENTRYPOINT_FILE).write_text(d.entrypoint)
        try:
            os.rename(making, home)
        except OSError:  # another process made it first: theirs is the same
            if not (home / ENTRYPOINT_FILE).is_file():
                raise
    finally:
        shutil.rmtree(making, ignore_errors=True)


def _folder(path: Path) -> None:
    """A folder runners (another user, in a sandbox) can pass through."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o755)
