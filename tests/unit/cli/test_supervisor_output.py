"""The supervisor keeps reading a service's output past a line longer than asyncio's 64 KiB limit:
a service whose pipe nobody reads blocks on its next log line (found by the hostile-input tests,
a refused 200 KB field quoted in a log line stalled the evaluator)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from codesift.supervisor import Service, Supervisor

SCRIPT = "import sys; print('before'); print('x' * 200_000); print('after'); sys.stdout.flush()"


def test_output_after_an_overlong_line_is_still_read(tmp_path: Path, capsys):
    supervisor = Supervisor(tmp_path, port=0, replicas=1)
    service = Service("noisy", [sys.executable, "-c", SCRIPT])
    supervisor.services = [service]

    async def main() -> int:
        service.process = await asyncio.create_subprocess_exec(
            *service.argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        await asyncio.wait_for(supervisor.pump(service), timeout=30)
        return await service.process.wait()

    assert asyncio.run(main()) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "noisy | before"
    assert lines[-1] == "noisy | after"
    assert all(len(line) < 70_000 for line in lines)
