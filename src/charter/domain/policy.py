"""Policy bundle schemas: what is pushed, stored versions, and their differences."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from charter.domain.common import Request, Response, Text

# A bundle is a few small text files; the bounds keep a push from becoming a blob upload.
FileText = Annotated[str, Field(max_length=1_000_000)]


class PolicyPush(Request):
    files: dict[Annotated[str, Field(min_length=1, max_length=256)], FileText] = Field(
        min_length=1,
        max_length=500,
        description="relative path -> text: the schema, *.cedar policies, data.json, tests/*.json",
    )
    comment: Text = ""


class PolicyBundleInfo(Response):
    version: int
    digest: str
    pushed_by: str
    comment: str
    created_at: datetime
    files: list[str]


class PolicyBundleDetail(Response):
    version: int  # 0: the default bundle shipped with Charter
    digest: str
    files: dict[str, str]


class PolicyDiff(Response):
    from_version: int
    to_version: int
    diff: str
