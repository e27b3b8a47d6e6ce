"""What routes take from the application: its settings and its run starter."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tg_parser.config import Settings
from tg_parser.services.run_starter import RunStarter


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _run_starter(request: Request) -> RunStarter:
    starter: RunStarter = request.app.state.run_starter
    return starter


AppSettings = Annotated[Settings, Depends(_settings)]
AppRunStarter = Annotated[RunStarter, Depends(_run_starter)]
