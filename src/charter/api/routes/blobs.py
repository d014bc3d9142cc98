"""Streaming upload and download of content-addressed blobs and model files."""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from charter.api.deps import Context, require
from charter.api.params import VersionPath
from charter.api.routing import CharterRoute
from charter.domain.artifacts import BlobInfo
from charter.domain.common import Name
from charter.domain.enums import Action
from charter.domain.errors import CharterError, InvalidInput, NotFound
from charter.domain.identity import Actor
from charter.registry import blobs, versions

router = APIRouter(tags=["artifacts"], route_class=CharterRoute)
Sha = Annotated[str, PathParam(pattern=r"^[0-9a-f]{64}$", description="SHA-256, lowercase hex")]
Reader = Annotated[Actor, Depends(require(Action.ARTIFACT_READ))]


class TooLarge(CharterError):
    code = "too_large"


def _blob_response(context: Context, sha256: str, filename: str | None = None) -> Response:
    size = context.blobs.size(sha256)
    chunks = context.blobs.open_chunks(sha256)
    headers = {
        "Content-Length": str(size),
        "ETag": f'"{sha256}"',
        "Repr-Digest": f"sha-256=:{_b64(sha256)}:",
    }
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{Path(filename).name}"'
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


@router.put("/blobs/{sha256}", status_code=201, summary="Upload a blob (streamed; digest checked)")
async def upload_blob(
    context: Context,
    sha256: Sha,
    request: Request,
    actor: Annotated[Actor, Depends(require(Action.ARTIFACT_WRITE))],
) -> BlobInfo:
    if await run_in_threadpool(context.blobs.exists, sha256):
        return BlobInfo(sha256=sha256, size=await run_in_threadpool(context.blobs.size, sha256))
    limit = context.settings.max_upload_bytes
    spool_dir = context.settings.home / "tmp"
    spool_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=spool_dir, prefix="upload-")
    # Spool to disk so a multi-GB upload never sits in memory; the store then verifies
    # the digest while moving it into place.
    try:
        received = 0
        with os.fdopen(fd, "wb") as spool:
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise TooLarge(
                        f"blob exceeds the {limit}-byte upload limit (CHARTER_MAX_UPLOAD_BYTES)"
                    )
                spool.write(chunk)
        return await run_in_threadpool(
            blobs.store_blob, context.db, context.blobs, actor, Path(name), sha256
        )
    finally:
        Path(name).unlink(missing_ok=True)


@router.head("/blobs/{sha256}", summary="Whether a blob is stored, and its size")
def head_blob(context: Context, sha256: Sha, actor: Reader) -> Response:
    if not context.blobs.exists(sha256):
        return Response(status_code=404)
    return Response(headers={"Content-Length": str(context.blobs.size(sha256))})


@router.get("/blobs/{sha256}", summary="Download a blob (streamed)")
def download_blob(context: Context, sha256: Sha, actor: Reader) -> Response:
    return _blob_response(context, sha256)


@router.get(
    "/models/{name}/versions/{version}/files/{path:path}",
    summary="Download one file of a model version",
)
def download_file(
    context: Context, name: Name, version: VersionPath, path: str, actor: Reader
) -> Response:
    if len(path) > 1024:
        raise InvalidInput("path is longer than 1024 characters")
    found = versions.get_version(context.db, name, version)
    for entry in found.files:
        if entry.path == path:
            return _blob_response(context, entry.sha256, entry.path)
    raise NotFound(
        f"{name}@{version} has no file '{path}'; its manifest lists "
        f"{', '.join(e.path for e in found.files[:10])}"
    )
