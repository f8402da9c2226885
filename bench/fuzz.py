"""Schemathesis at length against a real stack: every operation, positive and negative cases, then
stateful runs that follow the documented links (a command's 202 -> its job).

    python -m bench.fuzz [--cases N] [--stateful N] [--url http://127.0.0.1:8012] [--seed S]

Without --url it starts a throwaway `codesift up` (1 replica), indexes the fixture repository and
stops it at the end. The schema is read over HTTP from the stack (/schema/openapi.json) and every
case goes over HTTP through the real gateway and NATS. Each case is checked as the tests check it
(tests/integration/hostile/http_checks.py: Schemathesis' checks, with `valid_requests_accepted`);
nothing stops at the first failure. Prints, per operation: cases, statuses seen, server errors
(5xx) and schema violations (any other failed check), then the totals and the elapsed time, and
the first failing case of each kind with the curl command that reproduces it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup

from tests.integration.hostile.http_checks import CALL_CHECKS
from tests.integration.hostile.local_schema import OPENAPI_PATH
from tests.integration.hostile.stack_setup import admin_headers, start_indexed_stack

REQUEST_TIMEOUT_S = 30.0
SERVER_ERROR = "Server error"


@dataclass
class Tally:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: int = 0
    violations: Counter[str] = field(default_factory=Counter)


@dataclass
class Run:
    base_url: str
    headers: dict[str, str]
    tallies: dict[str, Tally] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)  # failure kind -> how to reproduce it

    def call(self, case: schemathesis.Case, group: str) -> None:
        response = case.call(base_url=self.base_url, headers=self.headers, timeout=REQUEST_TIMEOUT_S)
        self.record(case, response, group)

    def record(self, case: schemathesis.Case, response, group: str) -> None:
        tally = self.tallies.setdefault(group, Tally())
        tally.cases += 1
        tally.statuses[response.status_code] += 1
        if response.status_code >= 500:
            tally.server_errors += 1
        try:
            case.validate_response(response, **CALL_CHECKS)
        except FailureGroup as failures:
            for failure in failures.exceptions:
                if failure.title == SERVER_ERROR:
                    continue  # counted above, from the status
                tally.violations[failure.title] += 1
                self.examples.setdefault(
                    f"{case.operation.label}: {failure.title}",
                    f"{failure.message}\n    {case.as_curl_command(headers=self.headers)}",
                )
        if response.status_code >= 500:
            self.examples.setdefault(
                f"{case.operation.label}: {response.status_code}",
                f"{response.text[:300]}\n    {case.as_curl_command(headers=self.headers)}",
            )


def hypothesis_settings(cases: int, seed: int | None) -> settings:
    return settings(
        max_examples=cases,
        database=None,
        deadline=None,
        derandomize=seed is None,
        phases=[Phase.explicit, Phase.generate],  # every case counted once: no shrinking replays
        suppress_health_check=list(HealthCheck),
    )


def fuzz_operations(api: schemathesis.BaseSchema, run: Run, cases: int, seed_value: int | None) -> None:
    """`cases` cases per operation, half schema-valid, half schema-invalid (where it can be)."""
    for result in api.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis_settings(max(1, cases // 2), seed_value)
            def one(case: schemathesis.Case) -> None:
                run.call(case, case.operation.label)

            if seed_value is not None:
                one = seed(seed_value)(one)
            try:
                one()
            except Exception as exc:  # e.g. no negative case exists for an operation without inputs
                if "Unsatisfiable" not in type(exc).__name__:
                    print(f"{operation.label} ({mode.value}): {type(exc).__name__}: {exc}", file=sys.stderr)


def fuzz_stateful(api: schemathesis.BaseSchema, run: Run, scenarios: int, seed_value: int | None) -> None:
    """Scenarios of linked calls: a command, then the job its 202 names (OpenAPI links)."""
    if scenarios <= 0:
        return
    machine = api.as_state_machine()

    class Scenario(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict:
            return {"base_url": run.base_url, "headers": run.headers, "timeout": REQUEST_TIMEOUT_S}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            run.record(case, response, f"stateful {case.operation.label}")

    # One scenario per run, not derandomized: the rules a scenario can take depend on the stack's
    # answers (which jobs exist by now), which one Hypothesis run would take for a flaky strategy.
    config = settings(hypothesis_settings(1, seed_value), derandomize=False, stateful_step_count=6)
    cut_short = 0
    for _ in range(scenarios):
        try:
            Scenario.run(settings=config)
        except FlakyStrategyDefinition:  # the stack's state moved under a replay: keep what ran
            cut_short += 1
    if cut_short:
        print(f"{cut_short} of {scenarios} stateful scenarios cut short (state moved)", file=sys.stderr)


def report(run: Run, elapsed: float) -> int:
    print("| operation | cases | statuses | server errors | schema violations |")
    print("| --- | ---: | --- | ---: | ---: |")
    total = Tally()
    for label, tally in sorted(run.tallies.items()):
        statuses = ", ".join(f"{code}×{n}" for code, n in sorted(tally.statuses.items()))
        violations = sum(tally.violations.values())
        print(f"| {label} | {tally.cases} | {statuses} | {tally.server_errors} | {violations} |")
        total.cases += tally.cases
        total.server_errors += tally.server_errors
        total.violations.update(tally.violations)
    violations = sum(total.violations.values())
    print(f"| **all** | **{total.cases}** | | **{total.server_errors}** | **{violations}** |")
    print(f"\n{total.cases} cases in {elapsed:.0f} s ({total.cases / elapsed:.1f} cases/s)")
    for kind, example in run.examples.items():
        print(f"\n{kind}\n    {example}")
    return 1 if total.server_errors or violations else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=160, help="cases per operation (half negative)")
    parser.add_argument("--stateful", type=int, default=30, help="stateful scenarios (0: none)")
    parser.add_argument("--url", help="a running stack's gateway (default: start a throwaway one)")
    parser.add_argument("--data-dir", type=Path, help="with --url: its data directory (admin token)")
    parser.add_argument("--seed", type=int, help="a Hypothesis seed (default: derandomized)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="codesift-fuzz-") as tmp:
        stack = None
        if args.url:
            url, data_dir = args.url.rstrip("/"), args.data_dir
        else:
            print("starting a stack and indexing the fixture repository ...", file=sys.stderr)
            stack = start_indexed_stack(Path(tmp) / "data")
            url, data_dir = stack.url, stack.data_dir
        try:
            headers = admin_headers(data_dir) if data_dir else {}
            api = schemathesis.openapi.from_url(url + OPENAPI_PATH)
            run = Run(url, headers)
            began = time.perf_counter()
            fuzz_operations(api, run, args.cases, args.seed)
            fuzz_stateful(api, run, args.stateful, args.seed)
            elapsed = time.perf_counter() - began
        finally:
            if stack is not None:
                stack.stop()
    return report(run, elapsed)


if __name__ == "__main__":
    sys.exit(main())
