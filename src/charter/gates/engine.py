"""Which engine decides gates: the embedded Cedar bundle, or an OPA server."""

from __future__ import annotations

from typing import Protocol

from charter.domain.errors import InvalidInput
from charter.domain.gates import GateFacts, GateOutcome
from charter.gates import cedar
from charter.gates.opa_gate import OpaGate
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


class RemoteGate:
    """Gate decisions from an OPA server; the bundle in force still supplies the data."""

    def __init__(self, url: str, path: str, timeout: float) -> None:
        self.opa = OpaGate(url, path, timeout)

    def data(self, db: Database) -> GateData:
        return store.active(db).engine.gate_data

    def evaluate(self, db: Database, facts: GateFacts) -> GateOutcome:
        return self.opa.evaluate(facts)


def gate_for(settings: Settings) -> Gate:
    """The gate the settings choose; OPA needs its URL."""
    if settings.gate_engine == "cedar":
        return CedarGate()
    if not settings.opa_url:
        raise InvalidInput(
            "CHARTER_GATE_ENGINE=opa needs CHARTER_OPA_URL, e.g. http://127.0.0.1:8181"
        )
    return RemoteGate(settings.opa_url, settings.opa_path, settings.opa_timeout_seconds)
