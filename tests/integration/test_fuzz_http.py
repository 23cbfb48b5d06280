"""The fuzz suite: Schemathesis drives every operation of the OpenAPI schema against the real
Serve application, in all its phases (examples, coverage, fuzzing, stateful), with an API key.
It fails on any 5xx, on any response its schema does not describe (status, body, headers,
content type) and on a 405 whose `Allow` header does not list the allowed methods.

Bounded for CI: Schemathesis shares a fixed time budget among the phases (fuzzing and stateful
testing go on while it lasts), requests are kept small by tests/integration/schemathesis_hooks.py,
one worker. The figures of recorded runs are in docs/robustness.md.
"""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from serve_app.config import parse_app_config
from serve_app.services import credits
from serve_app.services.projects import create_project
from serve_app.services.users import find_user
from tests.factories import user_with_key
from tests.integration.schemathesis_hooks import FUZZ_PROJECT

pytestmark = pytest.mark.serve

REPO = Path(__file__).resolve().parents[2]
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "unsupported_method",
    "allow_header_conformance",
)
BUDGET_S = 150
# Only against a hang: Schemathesis stops itself at BUDGET_S, plus loading the schema and the
# requests still in flight.
TIMEOUT_S = BUDGET_S + 120


# The app may start inside this test (its fixture is shared), before the fuzzing budget.
@pytest.mark.timeout(TIMEOUT_S + 180)
async def test_no_operation_answers_a_5xx_or_outside_its_schema(serve_app, tmp_path):
    config = parse_app_config(serve_app.args)
    user_id, key = await user_with_key(serve_app.db, config=config)
    # Enough credits that paid operations run instead of answering 402 part-way through.
    await credits.grant(db=serve_app.db, user_id=user_id, amount=100_000, note="fuzz")
    owner = await find_user(db=serve_app.db, name_or_id=str(user_id))
    await create_project(db=serve_app.db, slug=FUZZ_PROJECT, user=owner)
    report = tmp_path / "schemathesis.json"

    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{serve_app.base_url}/openapi.json",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--checks",
        ",".join(CHECKS),
        "--max-time",
        str(BUDGET_S),
        "--workers",
        "1",
        "--seed",
        "20261127",
        "--generation-database",
        "none",
        "--request-timeout",
        "60",
        "--header",
        f"Authorization: Bearer {key}",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    # Run from tmp_path: Schemathesis keeps a crash cache in its working directory.
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.integration.schemathesis_hooks", "PYTHONPATH": str(REPO)}
    result = await asyncio.to_thread(
        subprocess.run, command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )

    print(result.stdout[-6000:])
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-4000:]
    summary = json.loads(report.read_text())
    assert summary["operations"]["tested"] == summary["operations"]["total"]
    # Stateful testing runs where Schemathesis infers links between operations; the others always.
    for phase in ("coverage", "fuzzing"):
        assert summary["phases"][phase]["status"] == "success", summary["phases"]
