"""The error hierarchy every layer raises and the API maps to HTTP in one place."""

from __future__ import annotations


class CharterError(Exception):
    """Base of every error Charter raises on purpose; `message` says what to fix."""

    code = "charter_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(CharterError):
    code = "invalid_input"


class NotFound(CharterError):
    code = "not_found"


class Conflict(CharterError):
    code = "conflict"


class Unauthenticated(CharterError):
    code = "unauthenticated"


class PermissionDenied(CharterError):
    code = "permission_denied"


class PreconditionFailed(CharterError):
    """The caller's view of a record is stale (optimistic concurrency)."""

    code = "precondition_failed"


class PreconditionRequired(CharterError):
    """An update came without the revision it was based on."""

    code = "precondition_required"


class IntegrityError(CharterError):
    """Stored or transferred content does not match its recorded digest."""

    code = "integrity_error"


class GateUnavailable(CharterError):
    """The gate's engine could not decide (e.g. the OPA server is down); the gate fails
    closed."""

    code = "gate_unavailable"
