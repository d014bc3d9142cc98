"""Put a version into a stage directly, for tests whose subject is not the gate.

Only the promotion gate moves versions in Charter; tests of listing and filtering need
versions in stages without walking each through a gate, so they use the same internal
step the gate uses, in a transaction of its own.
"""

from __future__ import annotations

from charter.domain.enums import Stage
from charter.domain.identity import SYSTEM_ACTOR, Actor
from charter.registry import versions
from charter.registry.common import find_version
from charter.store.engine import Database


def put_in_stage(
    db: Database,
    model: str,
    version: int,
    stage: Stage | str,
    comment: str = "",
    actor: Actor = SYSTEM_ACTOR,
) -> None:
    with db.transaction() as session:
        m, mv = find_version(session, model, version)
        versions.enter_stage(session, actor, m, mv, Stage(stage), comment)
