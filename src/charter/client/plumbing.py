"""The Client methods the SDK's mixins call, declared once for the type checker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from charter.client.transport import Response
    from charter.domain.artifacts import BlobInfo, ManifestEntry
    from charter.domain.common import Page

T = TypeVar("T", bound=BaseModel)


class ClientPlumbing:
    """Base of the mixins that Client is made of; Client implements these."""

    if TYPE_CHECKING:

        def _call(
            self,
            method: str,
            path: str,
            *,
            json: Any = None,
            params: dict[str, Any] | None = None,
            revision: int | None = None,
        ) -> Response: ...
        def _one(self, kind: type[T], method: str, path: str, **kwargs: Any) -> T: ...
        def _page(self, kind: type[T], path: str, params: dict[str, Any]) -> Page[T]: ...
        def upload_file(
            self,
            path: Path,
            entry: ManifestEntry,
            progress: Callable[[int], None] | None = None,
        ) -> BlobInfo: ...
