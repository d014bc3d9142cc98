"""Charter: a governance control plane for production machine learning."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from charter.client.client import Client
    from charter.client.log_model import log_model

__version__ = "0.1.0"

__all__ = ["Client", "__version__", "log_model"]


def __getattr__(name: str) -> Any:
    # Lazy, so the server and the CLI don't pay for the SDK's imports they never use.
    if name == "Client":
        from charter.client.client import Client

        return Client
    if name == "log_model":
        from charter.client.log_model import log_model

        return log_model
    raise AttributeError(f"module 'charter' has no attribute {name!r}")
