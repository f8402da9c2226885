"""The CLI's commands that talk to a running stack. Each returns the process exit code."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import msgspec
import nats.errors

from codesift.client import RequestProblem, Stack
from codesift.progress import ProgressLine
from codesift.schedule import schedule_lines
from shared import subjects
from shared.bus import StackNotRunning, how_to_start
from shared.jobs import new_job_id
from shared.schemas import JOB_STATES_FINAL, IndexCommand, SearchResponse, newline_problem
from shared.secrets import admin_token_path, read_admin_token
from shared.settings import Settings, settings


def cli_settings(data_dir: Path | None = None) -> Settings:
    base = settings()
    return msgspec.structs.replace(base, data_dir=data_dir) if data_dir else base


def token(data_dir: Path | None = None) -> int:
    """Print the admin token of the stack in the data directory (CODESIFT_ADMIN_TOKEN when set)."""
    config = cli_settings(data_dir)
    if found := read_admin_token(config.data_dir):
        print(found)
        return 0
    path = admin_token_path(config.data_dir)
    return fail(
        how_to_start(config, f"no admin token at {path}; `codesift up` creates it on its first start")
    )


def fail(message: str) -> int:
    print(f"codesift: {message}", file=sys.stderr)
    return 1


def default_repo_name(path: Path) -> str:
    return path.resolve().name.replace(" ", "-") or "repo"


async def index_repository(path: Path, name: str | None, data_dir: Path | None = None) -> int:
    root = path.expanduser().resolve()
    if not root.is_dir():
        return fail(f"path: {path} is not a directory")
    name = name or default_repo_name(root)
    try:
        command = IndexCommand(job_id=new_job_id("index"), path=str(root), name=name)
        msgspec.convert(msgspec.to_builtins(command), IndexCommand)  # validates the name's pattern
    except msgspec.ValidationError as exc:
        return fail(f"--name {name!r}: {exc}")
    if (problem := newline_problem(command)) is not None:
        return fail(f"--name {name!r}: {problem.message}")
    try:
        async with Stack(cli_settings(data_dir)) as stack:
            await stack.submit(subjects.CMD_INDEX, command)
            bar = ProgressLine(f"index {name}")
            final = await stack.follow(command.job_id, bar.update)
            bar.close()
    except StackNotRunning as exc:
        return fail(str(exc))
    if final.state != "succeeded":
        return fail(f"indexing failed: {final.message}")
    r = final.result
    print(
        f"indexed {name!r}: {r.get('files')} files, {r.get('chunks')} chunks "
        f"({r.get('embedded')} embedded, {r.get('reused')} reused) in {float(r.get('seconds', 0)):.1f} s"
    )
    skipped = r.get("skipped")
    if isinstance(skipped, dict) and skipped:
        print("skipped: " + ", ".join(f"{reason} {n}" for reason, n in skipped.items()))
    return 0


def print_results(response: SearchResponse) -> None:
    print(f"reranker: {response.reranker}   query id: {response.query_id}")
    if not response.results:
        print("no results")
    for i, hit in enumerate(response.results, 1):
        print(f"\n{i:>2}. {hit.repo}:{hit.doc_id}  [{hit.language}]  score {hit.score:.4f}")
        lines = hit.snippet.splitlines()
        width = len(str(hit.start_line + len(lines)))
        for n, line in enumerate(lines[:12], hit.start_line):
            print(f"    {n:>{width}} │ {line}")
        if len(lines) > 12:
            print(f"    {'':>{width}} │ … {len(lines) - 12} more lines")


async def search(query: str, k: int, repo: str | None, as_json: bool, data_dir: Path | None = None) -> int:
    try:
        async with Stack(cli_settings(data_dir)) as stack:
            response = await stack.search(query, k=k, repo=repo)
    except StackNotRunning as exc:
        return fail(str(exc))
    except RequestProblem as exc:
        return fail(str(exc))
    if as_json:
        sys.stdout.write(msgspec.json.encode(response).decode() + "\n")
    else:
        print_results(response)
    return 0


async def nats_cluster(stack: Stack) -> str | None:
    """One line on a NATS cluster's nodes, as the FEEDBACK stream's replicas see them (None: one
    nats-server). The nodes are those of DATA_DIR/stack.json's `nats_nodes`."""
    try:
        info = await stack.nats_cluster()
    except (nats.errors.Error, TimeoutError):
        return "nats cluster: the FEEDBACK stream does not answer (no leader: electing one?)"
    if info is None or not info.name:  # a single nats-server names no cluster
        return None
    peers = ", ".join(
        f"{p.name} {'offline' if p.offline else 'current' if p.current else f'behind ({p.lag or 0} msgs)'}"
        for p in sorted(info.replicas or [], key=lambda p: p.name or "")
    )
    return f"nats cluster {info.name}: {info.leader} leads FEEDBACK; {peers or 'no other replica'}"


async def status(data_dir: Path | None = None) -> int:
    try:
        async with Stack(cli_settings(data_dir)) as stack:
            replicas = await stack.replicas()
            jobs = await stack.jobs()
            schedule = await stack.schedule()
            cluster = await nats_cluster(stack)
    except StackNotRunning as exc:
        return fail(str(exc))
    if cluster is not None:
        print(cluster)
    print(f"search replicas: {len(replicas)}")
    for r in sorted(replicas, key=lambda r: r.replica_id):
        age = time.time() - r.started_at
        repos = ", ".join(f"{k} ({v})" for k, v in sorted(r.repos.items())) or "nothing indexed"
        print(
            f"  {r.replica_id}: index {r.index_version or '-'}, {r.chunks} chunks [{repos}], up {age:.0f} s"
        )
    running = [j for j in jobs if j.state not in JOB_STATES_FINAL]
    print(f"jobs: {len(running)} running, {len(jobs) - len(running)} ended (latest first)")
    for job in jobs[:8]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.timestamp))
        line = f"  {job.job_id}  {job.state:<9} {job.progress * 100:3.0f}%  {when}  {job.message}"
        print(line[:160])
    print("\n".join(schedule_lines(schedule)))
    return 0
