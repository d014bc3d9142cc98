"""Tests for manifest types, manifest building, file verification and verified writes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from charter.artifacts.manifest import (
    build_manifest,
    build_manifest_for_files,
    hash_file,
    partial_path,
    verify_file,
    write_verified,
)
from charter.domain.artifacts import Manifest, ManifestEntry
from charter.domain.errors import IntegrityError, InvalidInput


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry_for(path: str, data: bytes) -> ManifestEntry:
    return ManifestEntry(path=path, size=len(data), sha256=sha(data))


# --- ManifestEntry / Manifest validation -------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["model.onnx", "a/b/c.txt", "..hidden", "dir/.config", "x" * 1024, "ü/名前.bin"],
)
def test_valid_paths(path: str) -> None:
    assert ManifestEntry(path=path, size=0, sha256=sha(b"")).path == path


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("../x", ".."),
        ("a/../b", ".."),
        ("..", ".."),
        ("/abs", "relative"),
        ("a\\b", "backslash"),
        ("a\x00b", "NUL"),
        ("x" * 1025, "1024"),
        ("a//b", "empty or '.'"),
        ("./a", "empty or '.'"),
        ("a/", "empty or '.'"),
    ],
)
def test_invalid_paths(path: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=r"path") as excinfo:
        ManifestEntry(path=path, size=0, sha256=sha(b""))
    assert reason in str(excinfo.value)


@pytest.mark.parametrize("digest", ["", "A" * 64, "a" * 63, "z" * 64])
def test_invalid_entry_digest(digest: str) -> None:
    with pytest.raises(ValidationError):
        ManifestEntry(path="f", size=0, sha256=digest)


def test_negative_size_refused() -> None:
    with pytest.raises(ValidationError):
        ManifestEntry(path="f", size=-1, sha256=sha(b""))


def test_duplicate_paths_refused() -> None:
    with pytest.raises(ValidationError, match="duplicate manifest paths: a"):
        Manifest(entries=[entry_for("a", b"1"), entry_for("a", b"2")])


def test_digest_matches_canonical_json() -> None:
    entries = [entry_for("b.txt", b"bee"), entry_for("a/x.bin", b"ay")]
    manifest = Manifest(entries=entries)
    canonical = json.dumps(
        [
            {"path": "a/x.bin", "sha256": sha(b"ay"), "size": 2},
            {"path": "b.txt", "sha256": sha(b"bee"), "size": 3},
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
    assert manifest.digest == hashlib.sha256(canonical).hexdigest()
    assert manifest.total_size == 5
    assert manifest.model_dump()["digest"] == manifest.digest


def test_empty_manifest() -> None:
    manifest = Manifest(entries=[])
    assert manifest.total_size == 0
    assert manifest.digest == hashlib.sha256(b"[]").hexdigest()


def test_digest_changes_with_content() -> None:
    one = Manifest(entries=[entry_for("a", b"1")])
    two = Manifest(entries=[entry_for("a", b"2")])
    renamed = Manifest(entries=[entry_for("b", b"1")])
    assert len({one.digest, two.digest, renamed.digest}) == 3


path_segment = st.text(
    alphabet=st.characters(exclude_characters="/\\\x00", exclude_categories=["Cs"]),
    min_size=1,
    max_size=8,
).filter(lambda s: s not in (".", ".."))
entry_strategy = st.builds(
    ManifestEntry,
    path=st.lists(path_segment, min_size=1, max_size=3).map("/".join),
    size=st.integers(min_value=0, max_value=2**40),
    sha256=st.binary(min_size=32, max_size=32).map(bytes.hex),
)


@given(
    entries=st.lists(entry_strategy, max_size=12, unique_by=lambda e: e.path),
    data=st.data(),
)
def test_digest_is_order_independent(entries: list[ManifestEntry], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(entries))
    assert Manifest(entries=entries).digest == Manifest(entries=shuffled).digest
    assert Manifest(entries=entries).total_size == sum(e.size for e in entries)


# --- hashing and building ------------------------------------------------------------------


def test_hash_file(tmp_path: Path) -> None:
    data = b"q" * (3 * (1 << 20) + 7)
    f = tmp_path / "f.bin"
    f.write_bytes(data)
    info = hash_file(f)
    assert info.sha256 == sha(data)
    assert info.size == len(data)


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "model.onnx": b"onnx-bytes",
        "config/params.json": b'{"a": 1}',
        "config/deep/nested.txt": b"",
    }
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return files


def test_build_manifest_for_directory(tmp_path: Path) -> None:
    files = make_tree(tmp_path)
    manifest, sources = build_manifest(tmp_path)
    assert [e.path for e in manifest.entries] == sorted(files)
    for e in manifest.entries:
        assert e.sha256 == sha(files[e.path])
        assert e.size == len(files[e.path])
        assert sources[e.path] == tmp_path / e.path
    assert manifest.total_size == sum(len(v) for v in files.values())


def test_build_manifest_with_explicit_files(tmp_path: Path) -> None:
    make_tree(tmp_path)
    manifest, sources = build_manifest(
        tmp_path, [tmp_path / "model.onnx", Path("config/params.json")]
    )
    assert sorted(sources) == ["config/params.json", "model.onnx"]
    assert [e.path for e in manifest.entries] == ["config/params.json", "model.onnx"]


def test_build_manifest_refuses_files_outside_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"x")
    with pytest.raises(InvalidInput, match="not inside"):
        build_manifest(root, [outside])
    with pytest.raises(InvalidInput, match="not inside"):
        build_manifest(root, [root / ".." / "outside.txt"])


def test_build_manifest_refuses_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a regular file"):
        build_manifest(tmp_path, [tmp_path / "nope"])


def test_build_manifest_for_single_file(tmp_path: Path) -> None:
    f = tmp_path / "sub" / "weights.bin"
    f.parent.mkdir()
    f.write_bytes(b"weights")
    manifest, sources = build_manifest(f)
    assert manifest.entries == [entry_for("weights.bin", b"weights")]
    assert sources == {"weights.bin": f}


def test_build_manifest_for_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "one.txt").write_bytes(b"1")
    (tmp_path / "b" / "two.txt").write_bytes(b"2")
    (tmp_path / "b" / "one.txt").write_bytes(b"other")
    manifest, sources = build_manifest_for_files(
        [tmp_path / "a" / "one.txt", tmp_path / "b" / "two.txt"]
    )
    assert [e.path for e in manifest.entries] == ["one.txt", "two.txt"]
    assert sources["one.txt"] == tmp_path / "a" / "one.txt"
    with pytest.raises(InvalidInput, match=r"duplicate file name 'one\.txt'"):
        build_manifest_for_files([tmp_path / "a" / "one.txt", tmp_path / "b" / "one.txt"])


def test_build_manifest_refuses_unrepresentable_name(tmp_path: Path) -> None:
    odd = tmp_path / "back\\slash.txt"
    odd.write_bytes(b"x")
    with pytest.raises(InvalidInput, match="backslash"):
        build_manifest(tmp_path)


# --- verification ------------------------------------------------------------------------


def test_verify_file_accepts_match(tmp_path: Path) -> None:
    f = tmp_path / "f.bin"
    f.write_bytes(b"exact content")
    verify_file(f, entry_for("f.bin", b"exact content"))


def test_verify_file_detects_single_changed_byte(tmp_path: Path) -> None:
    original = bytes(range(256)) * 100
    f = tmp_path / "weights.bin"
    f.write_bytes(original)
    entry = entry_for("weights.bin", original)
    corrupted = bytearray(original)
    corrupted[12345] ^= 0x01
    f.write_bytes(bytes(corrupted))
    with pytest.raises(IntegrityError) as excinfo:
        verify_file(f, entry)
    message = excinfo.value.message
    assert str(f) in message
    assert entry.sha256 in message
    assert sha(bytes(corrupted)) in message


def test_verify_file_detects_size_change(tmp_path: Path) -> None:
    f = tmp_path / "f.bin"
    f.write_bytes(b"short")
    with pytest.raises(IntegrityError, match=r"expected 6 bytes, got 5") as excinfo:
        verify_file(f, entry_for("f.bin", b"short!"))
    assert str(f) in excinfo.value.message


def test_verify_file_detects_missing(tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match="missing"):
        verify_file(tmp_path / "gone", entry_for("gone", b"x"))


# --- write_verified ----------------------------------------------------------------------


def test_write_verified_success(tmp_path: Path) -> None:
    data = b"streamed payload" * 1000
    dest = tmp_path / "out" / "payload.bin"
    info = write_verified(iter([data[:100], data[100:]]), dest, entry_for("payload.bin", data))
    assert dest.read_bytes() == data
    assert info.sha256 == sha(data)
    assert not partial_path(dest).exists()


def test_write_verified_digest_mismatch(tmp_path: Path) -> None:
    dest = tmp_path / "payload.bin"
    expected = entry_for("payload.bin", b"expected")
    with pytest.raises(IntegrityError) as excinfo:
        write_verified([b"tampered"], dest, expected)
    assert expected.sha256 in excinfo.value.message
    assert sha(b"tampered") in excinfo.value.message
    assert str(dest) in excinfo.value.message
    assert not dest.exists()
    assert not partial_path(dest).exists()


@pytest.mark.parametrize("payload", [b"short", b"much too long payload"])
def test_write_verified_size_mismatch(tmp_path: Path, payload: bytes) -> None:
    dest = tmp_path / "payload.bin"
    with pytest.raises(IntegrityError, match="size mismatch"):
        write_verified([payload], dest, entry_for("payload.bin", b"expected!"))
    assert not dest.exists()
    assert not partial_path(dest).exists()


def test_write_verified_keeps_existing_dest_on_failure(tmp_path: Path) -> None:
    dest = tmp_path / "payload.bin"
    dest.write_bytes(b"previous")
    with pytest.raises(IntegrityError):
        write_verified([b"tampered"], dest, entry_for("payload.bin", b"expected"))
    assert dest.read_bytes() == b"previous"


def test_write_verified_stream_error_cleans_up(tmp_path: Path) -> None:
    dest = tmp_path / "payload.bin"

    def chunks() -> Iterator[bytes]:
        yield b"exp"
        raise ConnectionError("dropped")

    with pytest.raises(ConnectionError):
        write_verified(chunks(), dest, entry_for("payload.bin", b"expected"))
    assert not dest.exists()
    assert not partial_path(dest).exists()
