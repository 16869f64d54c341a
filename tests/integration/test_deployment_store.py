"""The deployment store's invariants on the real PostgreSQL: concurrent chunks complete an
upload exactly once; abandoned uploads are dropped with their bytes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import func, select, text

from scheduler.rules.deployments import CHUNK_SIZE, Chunk
from scheduler.store import deployments
from scheduler.store.db import make_sessionmaker, transaction
from scheduler.store.deployment_models import Deployment, DeploymentChunk
from scheduler.store.functions import get_function

CHUNKS = 8


def _upload(sessions, deployment_id: str, index: int, total: int = CHUNKS) -> bool:
    with transaction(sessions) as session:
        fn = get_function(session, "p1", "f1")
        upload = deployments.Upload(deployment_id, "src/main.py", "", False, "manual")
        _, completed = deployments.upload_chunk(
            session, fn, upload, Chunk(index, total, total * CHUNK_SIZE), b"x" * 16)
        return completed


def test_concurrent_chunks_complete_an_upload_exactly_once(store):
    store.project()
    store.function("f1")
    sessions = make_sessionmaker(store.engine)
    _upload(sessions, "d1", 0)  # the first chunk creates it, as the SDKs send it
    for _ in range(3):  # the rest at once, repeatedly: one of them completes it, always
        with transaction(sessions) as session:
            session.execute(text("DELETE FROM deployment_chunks WHERE idx > 0"))
            session.execute(text("UPDATE deployments SET chunks_uploaded = 1"))
        with ThreadPoolExecutor(CHUNKS) as pool:
            done = list(pool.map(lambda i: _upload(sessions, "d1", i), range(1, CHUNKS)))
        assert done.count(True) == 1, done
        with transaction(sessions) as session:
            d = session.get(Deployment, ("p1", "d1"))
            assert (d.chunks_uploaded, d.chunks_total) == (CHUNKS, CHUNKS)
    # A chunk sent again after completion changes nothing and completes nothing.
    assert _upload(sessions, "d1", 3) is False


def test_abandoned_uploads_are_dropped_with_their_chunks(store):
    store.project()
    store.function("f1")
    sessions = make_sessionmaker(store.engine)
    _upload(sessions, "stale", 0, total=2)  # never finished
    _upload(sessions, "fresh", 0, total=2)  # still coming
    _upload(sessions, "whole", 0, total=1)  # complete, however old
    with transaction(sessions) as session:
        session.execute(text("UPDATE deployments SET updated_at = now() - interval '2 days'"
                             " WHERE id IN ('stale', 'whole')"))
    with transaction(sessions) as session:
        cutoff = store.now() - timedelta(days=1)
        assert deployments.prune_abandoned(session, cutoff) == 1
    with transaction(sessions) as session:
        left = set(session.execute(select(Deployment.id)).scalars())
        chunks = session.execute(select(func.count()).select_from(DeploymentChunk).where(
            DeploymentChunk.deployment_id == "stale")).scalar_one()
    assert left == {"fresh", "whole"} and chunks == 0


def test_concurrent_uploads_of_one_function_do_not_deadlock(store):
    """Each upload's insert holds a KEY SHARE lock on the function (its foreign key) and
    each completing one then locks the function to name its newest deployment."""
    store.project()
    store.function("f1")
    sessions = make_sessionmaker(store.engine)
    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(lambda i: _upload(sessions, f"one{i}", 0, total=1), range(8)))
    assert done == [True] * 8
    with transaction(sessions) as session:
        assert get_function(session, "p1", "f1").latest_deployment_id.startswith("one")
