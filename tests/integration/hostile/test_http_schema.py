"""Schemathesis against a real stack over HTTP: every operation of /schema/openapi.json, positive and
negative cases, no 5xx, every status, content type and body as documented (http_checks.py says what
else is checked). Mutating endpoints start real jobs on this throwaway stack; none is waited for.

The longer run (over 1,000 cases, stateful links) is `python -m bench.fuzz`.
"""

from __future__ import annotations

import json
import urllib.error
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


def test_a_body_over_the_limit_is_refused_as_documented(stack: Stack):
    """Schemathesis keeps bodies small: every POST gets one of 64 KB here, and answers the 413 it
    documents, with the error body."""
    posts = [(path, item["post"]) for path, item in local_openapi()["paths"].items() if "post" in item]
    assert len(posts) >= 6
    for path, operation in posts:
        body = json.dumps({"padding": "x" * 65_536}).encode()
        request = urllib.request.Request(
            stack.url + path,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", **admin_headers(stack.data_dir)},
        )
        try:
            urllib.request.urlopen(request, timeout=30)
            pytest.fail(f"{path} took a 64 KB body")
        except urllib.error.HTTPError as answer:
            assert answer.code == 413, (path, answer.code)
            assert "413" in operation["responses"], f"{path}: 413 not documented"
            error = json.loads(answer.read())
            assert error["status_code"] == 413 and "bytes" in error["detail"], error
