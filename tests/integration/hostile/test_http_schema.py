"""Schemathesis against a real stack over HTTP: every operation of /schema/openapi.json, positive and
negative cases, no 5xx, every status, content type and body as documented (http_checks.py says what
else is checked). Mutating endpoints start real jobs on this throwaway stack; none is waited for.

The longer run (over 1,000 cases, stateful links) is `python -m bench.fuzz`.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.integration.hostile.http_checks import CALL_CHECKS
from tests.integration.hostile.local_schema import OPENAPI_PATH, local_openapi
from tests.integration.hostile.stack_setup import admin_headers
from tests.integration.stack import Stack

pytestmark = pytest.mark.slow

CASES_PER_OPERATION = 25
REQUEST_TIMEOUT_S = 30.0

schema = schemathesis.openapi.from_dict(local_openapi())


def test_the_stack_serves_the_document_the_cases_come_from(stack: Stack):
    with urllib.request.urlopen(stack.url + OPENAPI_PATH, timeout=30) as answer:
        served = json.loads(answer.read())
    assert served == local_openapi()
    assert len(served["paths"]) >= 13  # search, health, feedback and the reranker's operations


@schema.parametrize()
@settings(
    max_examples=CASES_PER_OPERATION,
    derandomize=True,  # the same cases on every run: CI fails or passes for the same reasons
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: schemathesis.Case, stack: Stack):
    case.call_and_validate(
        base_url=stack.url, headers=admin_headers(stack.data_dir), timeout=REQUEST_TIMEOUT_S, **CALL_CHECKS
    )
