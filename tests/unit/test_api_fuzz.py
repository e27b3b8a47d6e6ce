"""Schemathesis fuzzes every endpoint against the app's own OpenAPI: no 5xx, no response off its schema.

Valid (positive) and invalid (negative) requests are generated for every
operation, ``MAX_EXAMPLES`` each, derandomized so CI stays fast and a failure
replays the same way. The operations are driven from one test through
Hypothesis directly: schemathesis's pytest plugin does not run under pytest 9
(``'Function' object has no attribute '_nodeid'``).
"""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_helpers import make_api

MAX_EXAMPLES = 20
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)


def test_no_input_makes_a_5xx_or_an_off_schema_response(sqlite_url: str, tmp_path: Path) -> None:
    """Any generated request, valid or not, gets a documented status and a body matching its schema."""
    fuzz_every_operation(sqlite_url, tmp_path)


def fuzz_every_operation(database_url: str, tmp_path: Path) -> None:
    """Fuzz every operation of the app on ``database_url``; fail listing every operation that broke."""
    api = make_api(database_url, tmp_path, api_rate_limit_per_min=0)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        for mode in GenerationMode:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=api.admin, checks=CHECKS)

            try:
                fuzz()
            except Unsatisfiable:  # nothing invalid to send (no parameters, no body): nothing to check
                pass
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every operation is tried; all are reported
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{label}: {error}" for label, error in failures.items())
