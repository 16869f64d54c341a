"""Deployment archives (``tar.gz``) in and out, safely.

An upload is a stranger's archive: it is unpacked with Python's ``data`` filter
(no absolute paths, no ``..``, no links leaving the folder, no devices, no set-uid
bits) and refused when it would expand past ``MAX_EXPANDED`` bytes.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from pathlib import Path

MAX_EXPANDED = 1 << 30  # bytes an archive may expand to (a gzip bomb stops here)


class ArchiveError(Exception):
    """The archive cannot be unpacked; the message is one line for the build's logs."""


def unpack(data: bytes, into: Path) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            members = archive.getmembers()
            expanded = sum(m.size for m in members if m.isfile())
            if expanded > MAX_EXPANDED:
                raise ArchiveError(f"The archive expands to {expanded:,} bytes; at most "
                                   f"{MAX_EXPANDED:,} are unpacked.")
            archive.extractall(into, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError, UnicodeError) as exc:
        raise ArchiveError(f"The code is not a readable tar.gz archive: {exc}") from None


def pack(folder: Path) -> bytes:
    """``folder``'s contents as a tar.gz, paths relative to it. A link that leaves the
    folder is refused here, with its name, rather than by every worker that would unpack
    it (the ``data`` filter refuses it there)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=6) as archive:
        for path in sorted(folder.iterdir()):
            archive.add(path, arcname=path.name, filter=_inside)
    return out.getvalue()


def _inside(member: tarfile.TarInfo) -> tarfile.TarInfo:
    if member.issym() or member.islnk():
        target = member.linkname if member.islnk() else posixpath.join(
            posixpath.dirname(member.name), member.linkname)
        if posixpath.isabs(member.linkname) or posixpath.normpath(target).startswith(".."):
            raise ArchiveError(f"The build left a link that leaves its folder: "
                               f"{member.name} -> {member.linkname}")
    return member
