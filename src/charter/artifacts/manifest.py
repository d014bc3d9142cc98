"""Streaming file hashing, manifest building and verified writes of artifact files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import ValidationError

from charter.domain.artifacts import BlobInfo, Manifest, ManifestEntry
from charter.domain.errors import IntegrityError, InvalidInput

CHUNK_SIZE = 1 << 20


def iter_file_chunks(path: Path, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the contents of path in chunks of at most chunk_size bytes."""
    if chunk_size <= 0:
        raise InvalidInput(f"chunk_size must be positive, got {chunk_size}")
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            yield chunk


def hash_file(path: Path) -> BlobInfo:
    """Return the SHA-256 and size of the file at path, reading it in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    for chunk in iter_file_chunks(path):
        digest.update(chunk)
        size += len(chunk)
    return BlobInfo(sha256=digest.hexdigest(), size=size)


def _entry(rel_path: str, source: Path) -> ManifestEntry:
    info = hash_file(source)
    try:
        return ManifestEntry(path=rel_path, size=info.size, sha256=info.sha256)
    except ValidationError as exc:
        # Callers handle charter errors, not pydantic internals; keep the reason readable.
        reasons = "; ".join(str(err["msg"]) for err in exc.errors())
        raise InvalidInput(f"cannot add {source} as {rel_path!r}: {reasons}") from exc


def _manifest(entries: list[ManifestEntry]) -> Manifest:
    try:
        return Manifest(entries=sorted(entries, key=lambda e: e.path))
    except ValidationError as exc:
        reasons = "; ".join(str(err["msg"]) for err in exc.errors())
        raise InvalidInput(f"invalid manifest: {reasons}") from exc


def _walk_files(root: Path) -> Iterator[Path]:
    # followlinks=False avoids symlink loops; symlinked files are still hashed by content.
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            candidate = Path(dirpath) / name
            if candidate.is_file():
                yield candidate


def _relative_to_root(root: Path, path: Path) -> str:
    # Lexical normalisation (not resolve()) so symlinks inside root keep their in-tree name.
    absolute_root = Path(os.path.normpath(root.absolute()))
    candidate = path if path.is_absolute() else absolute_root / path
    absolute = Path(os.path.normpath(candidate.absolute()))
    try:
        rel = absolute.relative_to(absolute_root)
    except ValueError:
        raise InvalidInput(f"{path} is not inside {root}") from None
    if rel == Path("."):
        raise InvalidInput(f"{path} is the root directory itself, not a file in it")
    return rel.as_posix()


def build_manifest(
    root: Path, files: Iterable[Path] | None = None
) -> tuple[Manifest, dict[str, Path]]:
    """Hash files under root; return the manifest and a map from manifest path to source file.

    With files=None every regular file below root is included. If root is itself a file,
    the manifest holds that single file under its basename.
    """
    if files is None and root.is_file():
        return build_manifest_for_files([root])
    if not root.is_dir():
        raise InvalidInput(f"{root} is not a directory or file")
    sources: dict[str, Path] = {}
    for path in _walk_files(root) if files is None else files:
        rel = _relative_to_root(root, path)
        source = root / rel
        if not source.is_file():
            raise InvalidInput(f"{source} is not a regular file")
        sources[rel] = source
    entries = [_entry(rel, source) for rel, source in sources.items()]
    return _manifest(entries), sources


def build_manifest_for_files(paths: list[Path]) -> tuple[Manifest, dict[str, Path]]:
    """Hash loose files into a flat manifest keyed by basename; duplicate basenames fail."""
    sources: dict[str, Path] = {}
    for path in paths:
        if not path.is_file():
            raise InvalidInput(f"{path} is not a regular file")
        if path.name in sources:
            raise InvalidInput(
                f"duplicate file name {path.name!r}: {sources[path.name]} and {path}"
            )
        sources[path.name] = path
    entries = [_entry(name, source) for name, source in sources.items()]
    return _manifest(entries), sources


def verify_file(path: Path, entry: ManifestEntry) -> None:
    """Raise IntegrityError unless the file at path matches entry's size and digest."""
    try:
        actual_size = path.stat().st_size
    except FileNotFoundError:
        raise IntegrityError(f"{path}: file is missing (expected {entry.path})") from None
    # Size is checked first because it is free and catches truncation without reading.
    if actual_size != entry.size:
        raise IntegrityError(
            f"{path}: size mismatch for {entry.path}: expected {entry.size} bytes, "
            f"got {actual_size}"
        )
    actual = hash_file(path)
    if actual.sha256 != entry.sha256:
        raise IntegrityError(
            f"{path}: digest mismatch for {entry.path}: expected sha256 {entry.sha256}, "
            f"got {actual.sha256}"
        )


def partial_path(dest: Path) -> Path:
    """Return the temporary path write_verified streams into before renaming to dest."""
    return dest.with_name(dest.name + ".partial")


def write_verified(chunks: Iterable[bytes], dest: Path, expected: ManifestEntry) -> BlobInfo:
    """Stream chunks to dest via dest.partial, renaming only if size and digest match.

    On any failure the partial file is removed, so dest is either absent/unchanged or complete.
    """
    partial = partial_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    try:
        with open(partial, "wb") as fh:
            for chunk in chunks:
                size += len(chunk)
                # Stop early so a runaway or hostile stream cannot fill the disk.
                if size > expected.size:
                    raise IntegrityError(
                        f"{dest}: size mismatch for {expected.path}: expected "
                        f"{expected.size} bytes, received more"
                    )
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        actual = digest.hexdigest()
        if size != expected.size:
            raise IntegrityError(
                f"{dest}: size mismatch for {expected.path}: expected {expected.size} bytes, "
                f"got {size}"
            )
        if actual != expected.sha256:
            raise IntegrityError(
                f"{dest}: digest mismatch for {expected.path}: expected sha256 "
                f"{expected.sha256}, got {actual}"
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, dest)
    return BlobInfo(sha256=actual, size=size)
