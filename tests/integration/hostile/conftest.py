"""One real `codesift up` stack for the hostile-input tests (HTTP and bus), the fixture repository indexed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.hostile.stack_setup import start_indexed_stack
from tests.integration.stack import Stack


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_indexed_stack(tmp_path_factory.mktemp("hostile") / "data")
    try:
        yield s
    finally:
        code = s.stop()
        assert code == 0, s.output()[-3000:]
