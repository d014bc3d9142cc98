"""The app factory uvicorn's workers call: settings from the environment, read once."""

from __future__ import annotations

from fastapi import FastAPI

from charter.api.app import create_app
from charter.settings import Settings


def app_factory() -> FastAPI:
    return create_app(Settings())
