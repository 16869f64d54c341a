"""The rules of a deployment's upload (chunks as the SDKs send them) and of its archive."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.rules.deployments import (
    CHUNK_SIZE,
    Status,
    capped_logs,
    check_file,
    chunk_of,
    entrypoint_of,
    heartbeat_every,
)
from scheduler.rules.errors import (
    ContentRangeInvalid,
    EntrypointMissing,
    FileSizeInvalid,
    FileTypeUnsupported,
    InvalidInput,
)
from tasks.deploy.archive import ArchiveError, pack, unpack


def sdk_ranges(size: int) -> list[tuple[str, int]]:
    """The content-range headers (and byte counts) an official SDK sends for a file."""
    out = []
    for start in range(0, size, CHUNK_SIZE):
        end = min(start + CHUNK_SIZE, size)
        out.append((f"bytes {start}-{end - 1}/{size}", end - start))
    return out


@given(st.integers(min_value=1, max_value=40 * CHUNK_SIZE))
def test_every_chunk_an_sdk_sends_is_taken_and_together_they_cover_the_file(size):
    chunks = [chunk_of(header, n) for header, n in sdk_ranges(size)]
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert {c.total for c in chunks} == {len(chunks)} and {c.size for c in chunks} == {size}


def test_a_request_without_a_range_is_the_whole_file():
    chunk = chunk_of(None, 1234)
    assert (chunk.index, chunk.total, chunk.size) == (0, 1, 1234)


@pytest.mark.parametrize("header, received", [
    ("bytes 0-9", 10),  # no size
    ("bytes=0-9/10", 10),  # not the SDKs' form
    ("bytes 9-0/10", 10),  # backwards
    ("bytes 0-10/10", 11),  # past the end
    ("bytes 100-199/1000", 100),  # not on a chunk boundary
    ("bytes 0-9/100", 10),  # a first chunk shorter than a chunk, with more to come
    (f"bytes 0-{CHUNK_SIZE - 1}/{3 * CHUNK_SIZE}", 10),  # the body is not what it names
])
def test_ranges_that_are_no_chunk_of_an_sdk_are_refused(header, received):
    with pytest.raises(ContentRangeInvalid):
        chunk_of(header, received)


def test_files_are_checked_as_appwrite_checks_them():
    check_file("code.tar.gz", 30_000_000, 30_000_000)
    check_file("CODE.TGZ.GZ", 10, 0)  # 0: no limit
    with pytest.raises(FileTypeUnsupported):
        check_file("code.zip", 10, 100)
    with pytest.raises(FileSizeInvalid, match="30,000,000"):
        check_file("code.tar.gz", 30_000_001, 30_000_000)


@pytest.mark.parametrize("entrypoint", ["/etc/main.py", "../other/main.py", "src/../../x.py",
                                        "pkg.module:main", "x" * 1025])
def test_a_deployments_entrypoint_is_a_file_inside_its_archive(entrypoint):
    with pytest.raises(InvalidInput, match="a file in its archive"):
        entrypoint_of(entrypoint)


def test_entrypoints_that_are_files_of_the_archive_are_taken():
    assert entrypoint_of("src/main.py") == "src/main.py"
    assert entrypoint_of("index.js") == "index.js"
    with pytest.raises(EntrypointMissing):
        entrypoint_of("")


def test_a_build_past_its_time_limit_is_killed_and_fails():
    from tasks.deploy.build import build

    source = io.BytesIO()
    with tarfile.open(fileobj=source, mode="w:gz"):
        pass
    built = build(source.getvalue(), "echo started; sleep 30", 1, None)
    assert not built.ok and built.artifact is None
    assert built.logs == "started\nBuild timed out after 1 s" and built.duration < 10


def test_statuses_and_leases():
    assert [s for s in Status if s.finished] == [Status.READY, Status.CANCELED, Status.FAILED]
    assert heartbeat_every(15) == 5
    assert capped_logs(b"x" * 2_000_000).endswith("[1,000,000 more bytes not kept]")


def tar_of(*members: tarfile.TarInfo, data: bytes = b"") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for member in members:
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return out.getvalue()


def test_an_archive_round_trips(tmp_path: Path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("def main(context): ...\n")
    into = tmp_path / "out"
    unpack(pack(tmp_path), into)
    assert (into / "src" / "main.py").read_text() == "def main(context): ...\n"


@pytest.mark.parametrize("name, kind, link", [
    ("../escaped.txt", tarfile.REGTYPE, ""),
    ("link", tarfile.SYMTYPE, "/etc/passwd"),
    ("up", tarfile.SYMTYPE, "../../outside"),
    ("dev", tarfile.CHRTYPE, ""),
])
def test_a_hostile_archive_writes_nothing_outside_its_folder(tmp_path: Path, name, kind, link):
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, link
    member.size = 2 if kind == tarfile.REGTYPE else 0
    with pytest.raises(ArchiveError):
        unpack(tar_of(member, data=b"hi"), tmp_path / "into")
    assert not (tmp_path / "escaped.txt").exists()


def test_an_absolute_path_lands_inside_the_folder(tmp_path: Path):
    member = tarfile.TarInfo("/tmp/tocsin-owned-by-test")
    member.size = 2
    unpack(tar_of(member, data=b"hi"), tmp_path / "into")
    assert (tmp_path / "into" / "tmp" / "tocsin-owned-by-test").read_bytes() == b"hi"
    assert not Path("/tmp/tocsin-owned-by-test").exists()


def test_an_archive_that_expands_past_the_cap_is_refused(tmp_path: Path, monkeypatch):
    from tasks.deploy import archive

    member = tarfile.TarInfo("big.bin")
    member.size = 4096
    monkeypatch.setattr(archive, "MAX_EXPANDED", 4095)
    with pytest.raises(ArchiveError, match="expands to 4,096 bytes"):
        unpack(tar_of(member, data=b"\0" * 4096), tmp_path / "into")
    assert not (tmp_path / "into" / "big.bin").exists()


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside"])
def test_a_build_that_links_out_of_its_folder_fails_with_the_links_name(target):
    from tasks.deploy.build import build

    source = io.BytesIO()
    with tarfile.open(fileobj=source, mode="w:gz"):
        pass  # an empty upload: the commands make the folder's contents
    built = build(source.getvalue(), f"mkdir -p lib && ln -s {target} lib/escape", 30, None)
    assert not built.ok and built.artifact is None
    assert f"lib/escape -> {target}" in built.logs


def test_links_inside_the_folder_are_kept(tmp_path: Path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "index.js").write_text("x")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "pkg").symlink_to("../pkg")
    into = tmp_path / "out"
    unpack(pack(tmp_path), into)
    assert (into / "node_modules" / "pkg" / "index.js").read_text() == "x"


def test_junk_is_no_archive(tmp_path: Path):
    with pytest.raises(ArchiveError, match=r"not a readable tar\.gz archive"):
        unpack(b"\x1f\x8bjunk", tmp_path)
