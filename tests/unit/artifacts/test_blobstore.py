"""Tests for the content-addressed blob stores (local files and fsspec memory://)."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.artifacts import syncfs
from charter.artifacts.blobstore import (
    BlobStore,
    FsspecBlobStore,
    LocalBlobStore,
    blob_key,
    blobstore_from_url,
)
from charter.domain.errors import IntegrityError, InvalidInput, NotFound

MiB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Three small payloads by digest, for the batch tests.
THREE = {sha(data): data for data in (b"one", b"two", b"three")}


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    # The memory filesystem is process-global, so each test gets its own bucket.
    return FsspecBlobStore(f"memory://test-{uuid.uuid4().hex}")


def leftover_uploads(store: BlobStore) -> list[str]:
    if isinstance(store, LocalBlobStore):
        incoming = store.root / "incoming"
        return [p.name for p in incoming.iterdir()] if incoming.exists() else []
    assert isinstance(store, FsspecBlobStore)
    return [str(p) for p in store.fs.find(f"{store.root}/incoming")]


def stored_blobs(store: BlobStore) -> list[str]:
    if isinstance(store, LocalBlobStore):
        return sorted(p.name for p in (store.root / "sha256").rglob("*") if p.is_file())
    assert isinstance(store, FsspecBlobStore)
    return sorted(p.rsplit("/", 1)[1] for p in store.fs.find(f"{store.root}/sha256"))


def test_round_trip(store: BlobStore) -> None:
    data = b"hello, charter" * 1000
    info = store.put_stream(iter([data[:5], data[5:]]))
    assert info.sha256 == sha(data)
    assert info.size == len(data)
    assert store.exists(info.sha256)
    assert store.size(info.sha256) == len(data)
    assert b"".join(store.open_chunks(info.sha256)) == data
    assert store.verify(info.sha256)
    assert leftover_uploads(store) == []


def test_empty_blob(store: BlobStore) -> None:
    info = store.put_bytes(b"")
    assert info.sha256 == sha(b"")
    assert info.size == 0
    assert b"".join(store.open_chunks(info.sha256)) == b""


def test_put_with_matching_expected_digest(store: BlobStore) -> None:
    data = b"payload"
    info = store.put_stream([data], expected_sha256=sha(data))
    assert info.sha256 == sha(data)


def test_put_is_idempotent(store: BlobStore) -> None:
    first = store.put_bytes(b"same bytes")
    second = store.put_stream([b"same ", b"bytes"], expected_sha256=first.sha256)
    assert first == second
    assert stored_blobs(store) == [first.sha256]
    assert leftover_uploads(store) == []


def test_digest_mismatch_is_refused_and_leaves_nothing(store: BlobStore) -> None:
    data = b"actual content"
    wrong = sha(b"something else")
    with pytest.raises(IntegrityError) as excinfo:
        store.put_stream([data], expected_sha256=wrong)
    assert wrong in excinfo.value.message
    assert sha(data) in excinfo.value.message
    assert not store.exists(sha(data))
    assert not store.exists(wrong)
    assert stored_blobs(store) == []
    assert leftover_uploads(store) == []


def test_failing_stream_leaves_nothing(store: BlobStore) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"partial data"
        raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        store.put_stream(chunks())
    assert stored_blobs(store) == []
    assert leftover_uploads(store) == []


BAD_DIGESTS = [
    "",
    "abc",
    sha(b"x").upper(),
    sha(b"x")[:-1],
    sha(b"x") + "0",
    "g" * 64,
    "../../../../etc/passwd",
    "../" + "a" * 61,
    "a" * 32 + "/" + "a" * 31,
    " " + "a" * 63,
]


@pytest.mark.parametrize("bad", BAD_DIGESTS)
def test_invalid_digest_strings_are_refused(store: BlobStore, bad: str) -> None:
    with pytest.raises(InvalidInput):
        store.exists(bad)
    with pytest.raises(InvalidInput):
        store.size(bad)
    with pytest.raises(InvalidInput):
        store.open_chunks(bad)
    with pytest.raises(InvalidInput):
        store.verify(bad)
    with pytest.raises(InvalidInput):
        store.put_bytes(b"data", expected_sha256=bad)
    with pytest.raises(InvalidInput):
        blob_key(bad)
    assert stored_blobs(store) == []


def test_missing_blob_raises_not_found(store: BlobStore) -> None:
    missing = sha(b"never stored")
    assert not store.exists(missing)
    with pytest.raises(NotFound):
        store.size(missing)
    # NotFound must come from the call itself, before any iteration.
    with pytest.raises(NotFound):
        store.open_chunks(missing)
    with pytest.raises(NotFound):
        store.verify(missing)


def test_invalid_chunk_size_is_refused(store: BlobStore) -> None:
    info = store.put_bytes(b"abc")
    with pytest.raises(InvalidInput):
        store.open_chunks(info.sha256, chunk_size=0)


def write_big_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(64 * 1024)
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            piece = block[: size - written]
            fh.write(piece)
            digest.update(piece)
            written += len(piece)
    return digest.hexdigest()


def test_large_file_is_streamed(store: BlobStore, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    expected = write_big_file(big, 5 * MiB + 123)
    info = store.put_file(big, expected_sha256=expected)
    assert info.sha256 == expected
    assert info.size == 5 * MiB + 123
    chunk_size = MiB
    digest = hashlib.sha256()
    count = 0
    for chunk in store.open_chunks(expected, chunk_size=chunk_size):
        assert 0 < len(chunk) <= chunk_size
        digest.update(chunk)
        count += 1
    assert count >= 6
    assert digest.hexdigest() == expected
    assert store.verify(expected)


def test_local_put_file_memory_is_bounded(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    big = tmp_path / "big.bin"
    size = 16 * MiB
    expected = write_big_file(big, size)
    tracemalloc.start()
    try:
        store.put_file(big)
        for _ in store.open_chunks(expected):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A few 1 MiB chunk buffers are fine; anything near the file size means buffering.
    assert peak < 4 * MiB, f"peak traced memory {peak} bytes for a {size} byte blob"


def test_put_stream_consumes_lazily(store: BlobStore) -> None:
    produced: list[int] = []

    def chunks() -> Iterator[bytes]:
        for i in range(8):
            produced.append(i)
            yield bytes([i]) * 1024

    info = store.put_stream(chunks())
    assert produced == list(range(8))
    assert info.size == 8 * 1024


def test_local_layout_and_atomic_publish(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    info = store.put_bytes(b"layout")
    digest = info.sha256
    expected = tmp_path / "sha256" / digest[:2] / digest[2:4] / digest
    assert store.path_for(digest) == expected
    assert expected.read_bytes() == b"layout"
    assert blob_key(digest) == f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"


def test_local_verify_detects_corruption(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    info = store.put_bytes(b"original content")
    path = store.path_for(info.sha256)
    path.chmod(0o644)
    path.write_bytes(b"Original content")
    assert not store.verify(info.sha256)


def test_memory_backend_layout() -> None:
    bucket = f"bucket-{uuid.uuid4().hex}"
    store = FsspecBlobStore(f"memory://{bucket}")
    info = store.put_bytes(b"in memory")
    assert store.fs.cat_file(store.path_for(info.sha256)) == b"in memory"
    assert store.path_for(info.sha256).endswith(blob_key(info.sha256))
    # A second store on the same URL sees the same blobs.
    other = blobstore_from_url(f"memory://{bucket}")
    assert other.exists(info.sha256)


def test_blobstore_from_url(tmp_path: Path) -> None:
    plain = blobstore_from_url(str(tmp_path / "a"))
    assert isinstance(plain, LocalBlobStore)
    assert plain.root == tmp_path / "a"

    from_file_url = blobstore_from_url((tmp_path / "b").as_uri())
    assert isinstance(from_file_url, LocalBlobStore)
    assert from_file_url.root == tmp_path / "b"

    remote = blobstore_from_url(f"memory://x-{uuid.uuid4().hex}")
    assert isinstance(remote, FsspecBlobStore)

    with pytest.raises(InvalidInput):
        blobstore_from_url("file://otherhost/srv/blobs")


def test_file_url_store_round_trip(tmp_path: Path) -> None:
    store = blobstore_from_url((tmp_path / "blobs").as_uri())
    info = store.put_bytes(b"via file url")
    assert (tmp_path / "blobs" / blob_key(info.sha256)).read_bytes() == b"via file url"


def test_put_many_stores_every_blob_and_skips_stored_ones(store: BlobStore) -> None:
    payloads = [f"blob {i}".encode() * (i + 1) for i in range(20)]
    store.put_bytes(payloads[0])
    store.put_many({sha(data): data for data in payloads})
    assert stored_blobs(store) == sorted(sha(data) for data in payloads)
    for data in payloads:
        assert b"".join(store.open_chunks(sha(data))) == data
    assert leftover_uploads(store) == []
    if isinstance(store, LocalBlobStore):
        assert oct(store.path_for(sha(payloads[5])).stat().st_mode & 0o777) == "0o444"


def test_put_many_checks_every_digest_before_writing_any(store: BlobStore) -> None:
    good, bad = b"good", b"tampered"
    with pytest.raises(IntegrityError, match=sha(bad)):
        store.put_many({sha(good): good, sha(b"claimed"): bad})
    assert stored_blobs(store) == []
    with pytest.raises(InvalidInput, match="64 lowercase hex"):
        store.put_many({"../etc": good})
    assert stored_blobs(store) == []


def test_put_many_failing_midway_leaves_no_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalBlobStore(tmp_path)
    payloads = THREE
    replaced: list[str] = []
    real_replace = os.replace

    def flaky_replace(source: str | Path, target: str | Path) -> None:
        if replaced:
            raise OSError("disk full")
        replaced.append(str(target))
        real_replace(source, target)

    monkeypatch.setattr("charter.artifacts.blobstore.os.replace", flaky_replace)
    with pytest.raises(OSError, match="disk full"):
        store.put_many(payloads)
    assert leftover_uploads(store) == []
    # What was published is whole and correctly addressed: content addressing makes it
    # harmless; the caller records nothing, and a retry stores the rest.
    assert [store.verify(digest) for digest in stored_blobs(store)] == [True]
    monkeypatch.setattr("charter.artifacts.blobstore.os.replace", real_replace)
    store.put_many(payloads)
    assert stored_blobs(store) == sorted(payloads)


def test_put_many_makes_a_batch_durable_with_two_filesystem_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a local disk under Linux 5.8+: one syncfs after the bytes are written and before
    any is renamed into place, one after the renames, both through a descriptor opened
    before the first byte was written; no per-file fsync."""
    from charter.artifacts import blobstore

    assert syncfs.usable(tmp_path), "the test machine's disk is a local ext4 on Linux 6"
    store = LocalBlobStore(tmp_path)
    seen: list[tuple[str, list[str]]] = []
    opened: list[int] = []
    real_open, real_sync = os.open, syncfs.sync

    def recording_open(path: str | Path, flags: int, *args: int) -> int:
        fd = real_open(path, flags, *args)
        if Path(path) == tmp_path / "incoming":
            opened.append(fd)
            seen.append(("open incoming", stored_blobs(store)))
        return fd

    def recording_sync(fd: int, what: Path) -> None:
        assert fd == opened[0]
        seen.append(("syncfs", stored_blobs(store)))
        real_sync(fd, what)

    monkeypatch.setattr(blobstore.os, "open", recording_open)
    monkeypatch.setattr(syncfs, "sync", recording_sync)
    monkeypatch.setattr(blobstore, "_fsync_file", lambda path: seen.append(("fsync", [])))
    store.put_many(THREE)
    assert seen == [("open incoming", []), ("syncfs", []), ("syncfs", sorted(THREE))]
    assert stored_blobs(store) == sorted(THREE)
    assert leftover_uploads(store) == []


def test_put_many_without_syncfs_fsyncs_each_file_and_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charter.artifacts import blobstore

    store = LocalBlobStore(tmp_path)
    files: list[Path] = []
    directories: list[Path] = []
    monkeypatch.setattr(syncfs, "usable", lambda directory: False)
    monkeypatch.setattr(blobstore, "_fsync_file", files.append)
    monkeypatch.setattr(blobstore, "_fsync_dir", directories.append)
    store.put_many(THREE)
    assert len(files) == 3 and all(f.parent == tmp_path / "incoming" for f in files)
    assert {store.path_for(d).parent for d in THREE} <= set(directories)
    assert tmp_path / "sha256" in directories  # it was created, so its parent changed
    assert stored_blobs(store) == sorted(THREE)


def test_put_many_failing_sync_stores_nothing_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalBlobStore(tmp_path)
    monkeypatch.setattr(syncfs, "SYNCFS", lambda fd: -1)
    monkeypatch.setattr(syncfs.ctypes, "get_errno", lambda: 5)  # EIO
    with pytest.raises(OSError, match=r"syncfs .*Input/output error"):
        store.put_many({sha(b"one"): b"one"})
    assert stored_blobs(store) == []
    assert leftover_uploads(store) == []


MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:26 / /proc rw,nosuid shared:12 - proc proc rw
41 22 0:35 / /mnt/my\\040disk rw,relatime shared:20 - xfs /dev/vdb rw
42 22 0:36 / /mnt/bucket rw,nosuid shared:21 - fuse.s3fs s3fs rw
43 42 0:37 / /mnt/bucket/cache rw shared:22 - tmpfs tmpfs rw
"""


def test_syncfs_is_used_only_on_local_disks_of_kernels_that_report_errors() -> None:
    kind = syncfs.filesystem_type
    assert kind(Path("/srv/blobs"), MOUNTINFO) == "ext4"
    assert kind(Path("/mnt/my disk/blobs"), MOUNTINFO) == "xfs"  # mount points are escaped
    assert kind(Path("/mnt/bucket/blobs"), MOUNTINFO) == "fuse.s3fs"
    assert kind(Path("/mnt/bucket/cache/x"), MOUNTINFO) == "tmpfs"  # the longest mount point
    assert kind(Path("/mnt/bucketful"), MOUNTINFO) == "ext4"  # a prefix, not a parent
    assert "fuse.s3fs" not in syncfs.LOCAL_FILESYSTEMS
    assert syncfs.kernel_reports_errors("5.8.0-1-amd64")
    assert syncfs.kernel_reports_errors("6.18.44-fc-v1252")
    assert not syncfs.kernel_reports_errors("5.4.0-150-generic")
    assert not syncfs.kernel_reports_errors("4.19.0")
