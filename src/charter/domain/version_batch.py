"""Schemas of a batch registration: many versions, and their small files, in one request."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Annotated

from pydantic import Field, PrivateAttr, model_validator

from charter.domain.artifacts import Sha256Hex
from charter.domain.common import Name, Request, Response
from charter.domain.registry import ModelVersionCreate, ModelVersionSummary

MAX_BATCH_VERSIONS = 1_000
INLINE_FILE_MAX = 1 << 20  # a larger file streams through PUT /api/v1/blobs/{sha256}
INLINE_TOTAL_MAX = 64 << 20  # decoded bytes of every inline file of one batch
MAX_INLINE_BLOBS = 10 * MAX_BATCH_VERSIONS

Base64 = Annotated[str, Field(max_length=4 * (INLINE_FILE_MAX // 3 + 1))]


class VersionBatchItem(ModelVersionCreate):
    model: Name = Field(description="the registered model this version belongs to")


class VersionBatch(Request):
    """Registered together or not at all: one transaction, one audit event per version."""

    versions: list[VersionBatchItem] = Field(min_length=1, max_length=MAX_BATCH_VERSIONS)
    blobs: dict[Sha256Hex, Base64] = Field(
        default_factory=dict,
        max_length=MAX_INLINE_BLOBS,
        description="the bytes of small files (base64, at most 1 MiB each), by SHA-256; "
        "any file not given here must have been uploaded before",
    )

    _contents: dict[str, bytes] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _blobs_decode_to_used_files(self) -> VersionBatch:
        """Each blob decodes, fits, hashes to its name and is a file of the batch; the
        bytes are kept, decoded once."""
        listed = {entry.sha256 for item in self.versions for entry in item.files}
        total = 0
        for digest, text in self.blobs.items():
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"blob {digest}: not valid base64") from None
            if len(data) > INLINE_FILE_MAX:
                raise ValueError(
                    f"blob {digest}: {len(data)} bytes; files over {INLINE_FILE_MAX} bytes "
                    "must be uploaded with PUT /api/v1/blobs/{sha256} first"
                )
            if hashlib.sha256(data).hexdigest() != digest:
                raise ValueError(f"blob {digest}: its bytes hash to a different SHA-256")
            if digest not in listed:
                raise ValueError(f"blob {digest} is not a file of any version in the batch")
            total += len(data)
            self._contents[digest] = data
        if total > INLINE_TOTAL_MAX:
            raise ValueError(
                f"{total} bytes of inline blobs; a batch carries at most {INLINE_TOTAL_MAX}"
            )
        return self

    def decoded_blobs(self) -> dict[str, bytes]:
        return self._contents


class VersionBatchResult(Response):
    items: list[ModelVersionSummary] = Field(description="the new versions, in request order")
