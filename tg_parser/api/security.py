"""API keys on requests: who is calling (``Authorization: Bearer`` or ``X-API-Key``) and may they.

:func:`identify` runs once per request (in the guard middleware of
:mod:`tg_parser.api.app`); :func:`require` is the route dependency that
answers 401 for a missing or unknown key and 403 for a scope too low. Keys
never reach a log line: only their public key id does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tg_parser.api.problems import ApiProblem
from tg_parser.services.api_keys import ApiKey, Scope

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <API key>")

WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="tg-parser"'}


def presented_key(headers: Mapping[str, str]) -> str | None:
    """Return the key a request presents (``Authorization: Bearer``, else ``X-API-Key``), or ``None``."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = headers.get("x-api-key", "").strip()
    return key or None


def require(scope: Scope) -> Callable[..., ApiKey]:
    """Return a route dependency that admits keys of ``scope`` or above.

    Raises (from the dependency):
        ApiProblem: 401 without a valid key, 403 when its scope is too low.
    """

    def dependency(
        request: Request,
        _bearer_credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        _header_key: Annotated[str | None, Depends(_header)],
    ) -> ApiKey:
        record: ApiKey | None = getattr(request.state, "api_key", None)
        if record is None:
            presented = getattr(request.state, "key_presented", False)
            detail = "unknown or revoked API key" if presented else "an API key is required"
            raise ApiProblem(401, detail, headers=WWW_AUTHENTICATE)
        if not Scope(record.scope).covers(scope):
            msg = f"this needs a key of scope {scope.value} or above; key {record.key_id} has {record.scope}"
            raise ApiProblem(403, msg)
        return record

    return dependency


ReadKey = Annotated[ApiKey, Depends(require(Scope.READ))]
WriteKey = Annotated[ApiKey, Depends(require(Scope.WRITE))]
AdminKey = Annotated[ApiKey, Depends(require(Scope.ADMIN))]
