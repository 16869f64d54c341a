"""Deployments: the rules of an upload, its chunks and its build's states. Pure.

An upload is what the official SDKs send: a ``tar.gz`` in one multipart request, or,
over 5 MiB, in 5 MiB chunks, each with ``content-range: bytes start-end/size`` and,
after the first, ``x-appwrite-id`` naming the deployment the first one created. The
SDKs send the chunks after the first *concurrently*, so chunks arrive in any order
and the upload is complete when every index has arrived, not when the last byte
range has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

from scheduler.rules.entrypoints import module_of
from scheduler.rules.errors import (
    ContentRangeInvalid,
    EntrypointMissing,
    FileSizeInvalid,
    FileTypeUnsupported,
    InvalidInput,
)

CHUNK_SIZE = 5 * 1024 * 1024  # the SDKs' chunk (and Appwrite's APP_LIMIT_UPLOAD_CHUNK_SIZE)
DEFAULT_SIZE_LIMIT = 30_000_000  # bytes of a deployment's archive (Appwrite's default)
DEFAULT_BUILD_TIMEOUT = 900  # seconds a build's commands may run (Appwrite's default)
DEFAULT_BUILD_LEASE = 15.0  # seconds a claimed build stays its builder's without a heartbeat
BUILD_LOG_LIMIT = 1_000_000  # bytes of a build's output kept in buildLogs
ABANDONED_AFTER = 24 * 3600  # seconds after its last chunk an unfinished upload is dropped


class Status(StrEnum):
    """Appwrite's deployment statuses, in the order a deployment passes through them."""

    WAITING = "waiting"  # uploading, or uploaded and waiting for a builder
    PROCESSING = "processing"  # claimed by a builder: unpacking its source
    BUILDING = "building"  # its commands are running
    READY = "ready"  # built: a function may run it
    CANCELED = "canceled"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (Status.READY, Status.CANCELED, Status.FAILED)


IN_BUILD = (Status.PROCESSING, Status.BUILDING)


class Kind(StrEnum):
    """Which bytes of a deployment a chunk row holds."""

    SOURCE = "source"  # the upload, as sent
    BUILD = "build"  # the built folder, as a tar.gz (what workers unpack and run)


@dataclass(frozen=True)
class Chunk:
    """Where one request's bytes go: chunk ``index`` of ``total`` of a ``size``-byte file."""

    index: int
    total: int
    size: int


_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def chunk_of(content_range: str | None, received: int) -> Chunk:
    """The chunk a request carries: the whole file when there is no ``content-range``,
    else the one its range names, which must be a whole chunk of the SDKs' size."""
    if not content_range:
        return Chunk(0, 1, received)
    match = _RANGE.match(content_range.strip())
    if match is None:
        raise ContentRangeInvalid()
    start, end, size = (int(g) for g in match.groups())
    if end < start or end >= size or start % CHUNK_SIZE:
        raise ContentRangeInvalid()
    if end - start + 1 != received:
        raise ContentRangeInvalid(
            f"The content range is invalid: it names {end - start + 1:,} bytes and the "
            f"request carries {received:,}.")
    if received != min(CHUNK_SIZE, size - start):
        raise ContentRangeInvalid(
            f"The content range is invalid: chunks are {CHUNK_SIZE:,} bytes (the last one "
            "the rest), as the SDKs send them.")
    return Chunk(start // CHUNK_SIZE, -(-size // CHUNK_SIZE), size)


def entrypoint_of(entrypoint: str) -> str:
    """A deployment's entrypoint: a relative path to a file in its archive (a module
    entrypoint is the operator's; a path out of the archive would find nothing)."""
    if not entrypoint:
        raise EntrypointMissing()
    path = PurePosixPath(entrypoint)
    if (len(entrypoint) > 1024 or module_of(entrypoint) is not None or path.is_absolute()
            or ".." in path.parts):
        raise InvalidInput("Invalid `entrypoint` param: a deployment's entrypoint is a file "
                           "in its archive, such as src/main.py or src/main.js")
    return entrypoint


def check_file(name: str, size: int, limit: int) -> None:
    """Appwrite's checks of an upload: a ``.gz`` name and at most ``limit`` bytes
    (0: no limit)."""
    if not name.lower().endswith(".gz"):
        raise FileTypeUnsupported()
    if limit and size > limit:
        raise FileSizeInvalid(
            f"The file size is either not valid or exceeds the maximum allowed size: "
            f"{size:,} bytes, and this server takes at most {limit:,} "
            "(TOCSIN_DEPLOYMENT_MAX_BYTES).")


def heartbeat_every(lease: float) -> float:
    """How often a builder renews its lease: three times a lease, so that one late
    renewal never loses it."""
    return lease / 3


def capped_logs(output: bytes) -> str:
    text = output[:BUILD_LOG_LIMIT].decode("utf-8", errors="replace")
    if len(output) > BUILD_LOG_LIMIT:
        text += f"\n[{len(output) - BUILD_LOG_LIMIT:,} more bytes not kept]"
    return text
