"""Commands from HTTP bodies: options validated into a command; 400 names the field at fault.

A model named in a body (a version or a path) must resolve inside the models directory: `../x`,
an absolute path elsewhere and a symbolic link leading out are refused before anything is stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import msgspec

from services.gateway.errors import InvalidParameter
from shared.artifacts import ModelPathError, resolve_model_path
from shared.jobs import new_job_id
from shared.paths import user_path_problem
from shared.schemas import Command, newline_problem
from shared.validation import problem_from, version_problem, whole_numbers

C = TypeVar("C", bound=Command)


def read_options(body: bytes) -> dict[str, Any]:
    """The request body: nothing, or a JSON object of options (never the job id or the type)."""
    if not body.strip():
        return {}
    try:
        options = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidParameter("body", f"not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidParameter("body", "JSON nested too deep") from None
    if not isinstance(options, dict):
        raise InvalidParameter("body", "expected a JSON object of options")
    for gateway_only in ("job_id", "type"):
        if gateway_only in options:
            raise InvalidParameter(gateway_only, "is set by the gateway")
    normalized = whole_numbers(options)  # `5.0` for a documented integer is the integer 5
    assert isinstance(normalized, dict)
    return normalized


def build_command(kind: type[C], options: dict[str, Any]) -> C:
    """A command of `kind` with a new job id and the options; 400 names the first bad option."""
    try:
        command = msgspec.convert({"job_id": new_job_id(str(kind.__struct_config__.tag)), **options}, kind)
    except msgspec.ValidationError as exc:
        problem = problem_from(exc)
        raise InvalidParameter(problem.field, problem.message) from None
    if (problem := newline_problem(command)) is not None:
        raise InvalidParameter(problem.field, problem.message)
    golden = getattr(command, "golden", None)  # a file on the trainer's or evaluator's machine
    if golden is not None and (reason := user_path_problem(golden)) is not None:
        raise InvalidParameter("golden", f"{golden!r} {reason}")
    return command


def model_version(models_dir: Path, field: str, value: object) -> str:
    """The version (directory name inside `models_dir`) that `value` names; 400 names `field` if none."""
    if not isinstance(value, str):
        raise InvalidParameter(field, "expected a model version or a path inside the models directory")
    try:
        version = resolve_model_path(models_dir, value).name
    except ModelPathError as exc:
        raise InvalidParameter(field, str(exc).removeprefix(f"{ModelPathError.field}: ")) from None
    if (problem := version_problem(version)) is not None:
        raise InvalidParameter(field, problem)
    return version
