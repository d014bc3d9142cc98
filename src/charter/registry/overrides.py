"""Break-glass promotions as the registry shows them on versions and models."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from charter.domain.enums import Stage
from charter.domain.registry import BreakGlass
from charter.store import tables as t

_P = t.PromotionRequest
_OVERRIDES = (
    select(
        t.ModelVersion.model_id,
        _P.version_id,
        t.ModelVersion.version,
        _P.id,
        _P.to_stage,
        _P.break_glass_reason,
        _P.requested_by,
        _P.executed_by,
        _P.overridden,
        _P.closed_at,
    )
    .join(t.ModelVersion, t.ModelVersion.id == _P.version_id)
    .where(_P.status == "executed", _P.break_glass_reason.is_not(None))
    .order_by(_P.id)
)
_BY_VERSION = _OVERRIDES.where(_P.version_id.in_(bindparam("ids", expanding=True)))
_BY_MODEL = _OVERRIDES.where(t.ModelVersion.model_id.in_(bindparam("ids", expanding=True)))


def _note(row: Any) -> BreakGlass | None:
    # Executed break-glass requests whose gate passed anyway overrode nothing.
    if not row.overridden:
        return None
    return BreakGlass(
        request=row.id,
        version=row.version,
        to_stage=Stage(row.to_stage),
        reason=row.break_glass_reason,
        requested_by=row.requested_by,
        confirmed_by=row.executed_by or "",
        overridden=list(row.overridden),
        at=row.closed_at,
    )


def _group(rows: Any, key: str) -> dict[int, list[BreakGlass]]:
    out: dict[int, list[BreakGlass]] = defaultdict(list)
    for row in rows:
        note = _note(row)
        if note is not None:
            out[getattr(row, key)].append(note)
    return out


def for_versions(session: Session | Connection, ids: list[int]) -> dict[int, list[BreakGlass]]:
    if not ids:
        return {}
    return _group(session.execute(_BY_VERSION, {"ids": ids}), "version_id")


def for_models(session: Session | Connection, ids: list[int]) -> dict[int, list[BreakGlass]]:
    if not ids:
        return {}
    return _group(session.execute(_BY_MODEL, {"ids": ids}), "model_id")
