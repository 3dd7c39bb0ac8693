"""Schemathesis against the admin API's own OpenAPI schema, over real HTTP: every operation,
with and without a token, answers without a server error, with a documented status code,
content type and body. Bounded so that `make test` stays within CI's time."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from bot.core.settings import load_settings
from bot.db.engine import make_session_factory
from bot.people import operators
from bot.web.app import create_app
from tests.conftest import NOW, serve_in_thread

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SECRET = "hook-" + "f" * 30
json_documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,  # the same cases each run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    from bot.core.settings import PROJECT_ROOT
    from bot.db.engine import make_engine
    from bot.db.migrate import upgrade
    from bot.incidents.seed import load_scenario, scenario_path
    from bot.knowledge.file import load_knowledge
    from tests.conftest import TZ

    var = tmp_path_factory.mktemp("fuzz")
    engine: Engine = make_engine(f"sqlite:///{var / 'outage.db'}")
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        load_scenario(
            session,
            scenario_path("outage_day_two"),
            load_knowledge(PROJECT_ROOT / "bot" / "knowledge.yml"),
            now=NOW,
            tz=TZ,
            actor="test",
        )
        token = operators.create_token(session, "fuzzer", NOW, actor="test")
    app_settings = load_settings(
        {"VAR_DIR": str(var), "STATUSPAGE_WEBHOOK_SECRET": SECRET}, dotenv_path=Path("/nonexistent")
    )
    app = create_app(app_settings, engine, clock=lambda: NOW, run_sync=False)
    with serve_in_thread(app) as url:
        yield url, token
    engine.dispose()


def operations(url: str) -> list[tuple[str, object]]:
    loaded = schemathesis.openapi.from_url(f"{url}/openapi.json")
    found = [result.ok() for result in loaded.get_all_operations()]
    return [(f"{op.method.upper()} {op.path}", op) for op in found]


def fuzz(operation: Any, call: Callable[[schemathesis.Case], None]) -> int:
    """Run Hypothesis' cases for one operation; returns how many requests were sent."""
    sent = 0

    @FUZZ
    @given(case=operation.as_strategy())
    def run(case: schemathesis.Case) -> None:
        nonlocal sent
        sent += 1
        call(case)

    run()
    return sent


# schemathesis' pytest plugin does not run under pytest 9 (it reads Function._nodeid), so
# each operation is driven through its Hypothesis strategy here instead.
def test_every_operation_with_a_token(served: tuple[str, str]) -> None:
    url, token = served
    found = operations(url)
    assert len(found) >= 11
    sent = sum(
        fuzz(
            operation,
            lambda case: case.call_and_validate(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
            ),
        )
        for _label, operation in found
    )
    print(f"schemathesis, with a token: {sent} requests to {len(found)} operations")


def test_every_operation_without_a_token(served: tuple[str, str]) -> None:
    url, _ = served

    def call(case: schemathesis.Case) -> None:
        response = case.call_and_validate(base_url=url, checks=[*CHECKS, ignored_auth])
        if case.path.startswith("/api/"):
            assert response.status_code == 401, response.text

    found = operations(url)
    sent = sum(fuzz(operation, call) for _label, operation in found)
    print(f"schemathesis, without a token: {sent} requests to {len(found)} operations")


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    # Header values are visible ASCII (HTTP trims surrounding white space).
    secret=st.sampled_from([SECRET, SECRET[:-1], ""])
    | st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=80),
    body=st.binary(max_size=3000) | st.builds(lambda v: json.dumps(v).encode(), json_documents),
)
def test_statuspage_webhook_checks_its_secret_before_the_body(
    served: tuple[str, str], secret: str, body: bytes
) -> None:
    url, _ = served
    headers = {"Content-Type": "application/json", "X-Webhook-Secret": secret}
    response = httpx.post(f"{url}/hooks/statuspage", content=body, headers=headers, timeout=10)
    if secret != SECRET:
        assert response.status_code == 401
    else:
        assert response.status_code in (202, 400, 422), response.text
    assert set(response.json()) == {"detail", "errors"}
