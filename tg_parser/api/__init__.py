"""The HTTP API (FastAPI, ``tg-parser api serve``): thin routes over :mod:`tg_parser.services`.

Nothing is built at import: call :func:`create_app` with the settings.
"""

from tg_parser.api.app import create_app

__all__ = ["create_app"]
