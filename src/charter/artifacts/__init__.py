"""Content-addressed artifact storage: blob stores and file manifests."""

from charter.artifacts.blobstore import (
    BlobStore,
    FsspecBlobStore,
    LocalBlobStore,
    blob_key,
    blobstore_from_url,
    check_sha256,
)
from charter.artifacts.manifest import (
    CHUNK_SIZE,
    build_manifest,
    build_manifest_for_files,
    hash_file,
    iter_file_chunks,
    verify_file,
    write_verified,
)

__all__ = [
    "CHUNK_SIZE",
    "BlobStore",
    "FsspecBlobStore",
    "LocalBlobStore",
    "blob_key",
    "blobstore_from_url",
    "build_manifest",
    "build_manifest_for_files",
    "check_sha256",
    "hash_file",
    "iter_file_chunks",
    "verify_file",
    "write_verified",
]
