"""Query and path parameter types shared by the routers, with their bounds."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

Cursor = Annotated[
    str | None, Query(max_length=200, description="next_cursor of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
IdPath = Annotated[int, Path(ge=1, le=2**62)]
VersionPath = Annotated[int, Path(ge=1, le=2**31 - 1)]  # the column is a 32-bit integer
TagFilters = Annotated[
    list[str] | None,
    Query(max_length=20, description="repeatable: 'key:value' or 'key'; all must match"),
]
# PostgreSQL cannot compare text with NUL in it: refuse it as input, not as a 500.
NO_NUL = r"^[^\x00]*$"
ShortQuery = Annotated[str | None, Query(max_length=512, pattern=NO_NUL)]
NameQuery = Annotated[str | None, Query(max_length=128, pattern=NO_NUL)]
