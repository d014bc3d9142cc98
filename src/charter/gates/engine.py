"""Which engine decides gates: the embedded Cedar bundle, or an OPA server."""

from __future__ import annotations

from typing import Protocol

from charter.domain.errors import InvalidInput
from charter.domain.gates import GateFacts, GateOutcome
from charter.gates import cedar
from charter.policy import store
from charter.policy.gate_data import GateData
from charter.settings import Settings
from charter.store.engine import Database


class Gate(Protocol):
    """Decides a promotion's facts. `data` is the gate data of the bundle in force: the
    facts are derived with it whichever engine decides."""

    def data(self, db: Database) -> GateData: ...

    def evaluate(self, db: Database, facts: GateFacts) -> GateOutcome: ...


class CedarGate:
    """The gate rules of the policy bundle in force (the default)."""

    def data(self, db: Database) -> GateData:
        return store.active(db).engine.gate_data

    def evaluate(self, db: Database, facts: GateFacts) -> GateOutcome:
        current = store.active(db)
        return cedar.evaluate(current.engine, facts, current.version)


def gate_for(settings: Settings) -> Gate:
    """The gate the settings choose; OPA needs its URL."""
    if settings.gate_engine == "cedar":
        return CedarGate()
    raise InvalidInput("CHARTER_GATE_ENGINE=opa: the OPA adapter is not wired up yet")
