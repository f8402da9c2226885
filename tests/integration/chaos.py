"""Chaos on a real `codesift up` stack: steady searches and feedback while every process is killed in turn.

Used by tests/integration/test_chaos.py (a short run) and bench/chaos.py (60 s, the README's figures).

While searches (HTTP /api/search) and feedback events (POST /api/telemetry/event, each with its own
event id) go out at fixed rates, each fault SIGKILLs one process of the stack and waits until the
supervisor has it answering again: a search replica (its model cache damaged first), the telemetry,
evaluator, promoter and indexer services, the gateway, nats-server (its JetStream store stays on
disk), and the trainer while a train job runs; then a new train job must succeed. A client retries
a failed request within WINDOW_S seconds, backing off (the same event id for feedback, so the
telemetry service's dedupe is what keeps it once). Afterwards: every accepted event is in the log
exactly once, no search failed beyond the window, the killed job is failed, the production model is
unchanged and every replica serves it.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.integration.stack import ROOT, Stack, codesift

FIXTURE_REPO = ROOT / "tests" / "fixtures" / "sample_repo"
GOLDEN = ROOT / "tests" / "fixtures" / "sample_golden.json"
SERVICES = ("evaluator", "indexer", "promoter", "telemetry", "trainer")  # answer SERVICE_PING
# The window a client retries a failed request in. The slowest restart measured is the gateway's
# (supervisor backoff 1 s + ~5-8 s of Python start-up on 2 busy cores); 30 s leaves room for a
# restart while the machine is loaded, and still calls a restart that hangs a failure.
WINDOW_S = 30.0
RETRY_FIRST_S, RETRY_MAX_S = 0.25, 2.0
REQUEST_TIMEOUT_S = 10.0
RECOVERY_LIMIT_S = 120.0
QUERIES = (
    "where is the password hashed",
    "how are tokens checked",
    "render a template",
    "read the config",
    "session token expiry",
    "parse command line arguments",
)
# a train job long enough to be killed while it runs, and a short one that must finish
LONG_TRAIN = (
    "--epochs",
    "3",
    "--max-length",
    "64",
    "--batch-size",
    "8",
    "--time-budget",
    "300",
    "--min",
    "10",
)
SHORT_TRAIN = (
    "--epochs",
    "1",
    "--max-length",
    "64",
    "--batch-size",
    "8",
    "--time-budget",
    "30",
    "--min",
    "10",
)
# the new model must not be promoted by itself: the production model is checked unchanged
NO_AUTO_PROMOTION = {"CODESIFT_PROMOTE_MIN_TRIPLETS": "1000000000"}


# ---------------------------------------------------------------- HTTP with a client-side retry


GATEWAY_DOWN = (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)


def settings_as(data_dir: Path, kind: str):
    """Settings that connect to the stack as the `kind` of service the caller stands in for, where
    `codesift up` gave each kind its own NATS user (DATA_DIR/secrets/nats-users.json)."""
    from shared.settings import Settings

    users = data_dir / "secrets" / "nats-users.json"
    if users.exists():
        password = json.loads(users.read_text())["users"][kind]
        return Settings(data_dir=data_dir, nats_user=kind, nats_password=password)  # type: ignore[call-arg]
    return Settings(data_dir=data_dir)


def admin_headers(data_dir: Path) -> dict[str, str]:
    """The admin token's header, where the stack has one (DATA_DIR/secrets/admin.token)."""
    token = data_dir / "secrets" / "admin.token"
    return {"Authorization": f"Bearer {token.read_text().strip()}"} if token.exists() else {}


def call(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """(status, JSON body); raises OSError (urllib's URLError included) when the gateway does not answer."""
    request = urllib.request.Request(url, body, {"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {}


def failure_kind(exc: BaseException) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, GATEWAY_DOWN):
        return "gateway down"
    if isinstance(reason, TimeoutError):
        return "timeout"
    return type(reason).__name__


@dataclass
class Attempts:
    """One logical request: how it ended and the failed attempts before."""

    ok: bool
    failures: list[str]  # "gateway down", "timeout", "HTTP 503", ...
    body: dict


def with_retry(attempt: Callable[[], tuple[int, dict]], window: float = WINDOW_S) -> Attempts:
    """Retry with a backoff (0.25 s doubling to 2 s), as a polite client does: a gateway coming
    back is not met by every waiting client at once, four times a second."""
    began = time.monotonic()
    failures: list[str] = []
    pause = RETRY_FIRST_S
    while True:
        try:
            status, body = attempt()
            if 200 <= status < 300:
                return Attempts(True, failures, body)
            failures.append(f"HTTP {status}")
        except (OSError, http.client.HTTPException) as exc:
            failures.append(failure_kind(exc))
        if time.monotonic() - began > window:
            return Attempts(False, failures, {})
        time.sleep(pause)
        pause = min(RETRY_MAX_S, pause * 2)


# ---------------------------------------------------------------- the load


@dataclass
class Tally:
    sent: int = 0
    ok_first: int = 0
    ok_after_retry: int = 0
    failed: int = 0  # not answered within the window
    failed_attempts: Counter = field(default_factory=Counter)  # by kind, before a later success or not
    failed_at: list[float] = field(default_factory=list)  # when each failed request began (s into the run)


class Load:
    """Searches and feedback events at fixed rates, each on its own thread from a pool."""

    def __init__(self, stack: Stack, search_rate: float = 5.0, feedback_rate: float = 5.0):
        self.stack = stack
        self.headers = admin_headers(stack.data_dir)
        self.search_rate, self.feedback_rate = search_rate, feedback_rate
        self.searches, self.feedback = Tally(), Tally()
        self.accepted: set[str] = set()  # event ids the gateway answered 2xx for
        self.sent_ids: set[str] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.began = time.monotonic()
        self.pool = ThreadPoolExecutor(max_workers=128)
        self.shown: list[dict] = []  # (query, query_id, doc_id) of recent answers, for feedback
        self.threads = [
            threading.Thread(target=self._every, args=(1 / search_rate, self._search), daemon=True),
            threading.Thread(target=self._every, args=(1 / feedback_rate, self._feedback), daemon=True),
        ]

    def start(self) -> None:
        first = with_retry(lambda: call(self._search_url(0), headers=self.headers))
        assert first.ok, f"no search answers before the chaos: {first.failures}"
        self._remember(first.body)
        self.began = time.monotonic()
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        """Stop sending; wait for the requests in flight (each ends within its window)."""
        self.stop.set()
        for thread in self.threads:
            thread.join()
        self.pool.shutdown(wait=True)

    def _every(self, interval: float, job: Callable[[int], None]) -> None:
        began = time.monotonic()
        i = 0
        while not self.stop.is_set():
            self.pool.submit(job, i)
            i += 1
            time.sleep(max(0.0, began + i * interval - time.monotonic()))

    def _search_url(self, i: int) -> str:
        query = urllib.parse.urlencode({"q": f"{QUERIES[i % len(QUERIES)]} {i}", "k": 5})
        return f"{self.stack.url}/api/search?{query}"

    def _remember(self, body: dict) -> None:
        if body.get("results"):
            with self.lock:
                self.shown = [*self.shown, body][-20:]

    def _count(self, tally: Tally, attempts: Attempts, began: float) -> None:
        with self.lock:
            tally.sent += 1
            if not attempts.ok:
                tally.failed += 1
                tally.failed_at.append(round(began - self.began, 1))
            elif attempts.failures:
                tally.ok_after_retry += 1
            else:
                tally.ok_first += 1
            tally.failed_attempts.update(attempts.failures)

    def _search(self, i: int) -> None:
        began = time.monotonic()
        attempts = with_retry(lambda: call(self._search_url(i), headers=self.headers))
        self._count(self.searches, attempts, began)
        self._remember(attempts.body)

    def _feedback(self, i: int) -> None:
        with self.lock:
            shown = self.shown[i % len(self.shown)]
        hit = shown["results"][i % len(shown["results"])]
        event = {
            "event_id": uuid.uuid4().hex,
            "query": shown["query"],
            "query_id": shown["query_id"],
            "doc_id": hit["doc_id"],
            "position": 1 + i % len(shown["results"]),
            "rating": 5 if i % 3 else 1,
            "source": "click" if i % 3 else "thumbs_down",
            "timestamp": time.time(),
        }
        body = json.dumps(event).encode()
        with self.lock:
            self.sent_ids.add(event["event_id"])
        began = time.monotonic()
        attempts = with_retry(lambda: call(f"{self.stack.url}/api/telemetry/event", body, self.headers))
        self._count(self.feedback, attempts, began)
        if attempts.ok:
            with self.lock:
                self.accepted.add(event["event_id"])


# ---------------------------------------------------------------- the stack's processes and health


def health(stack: Stack) -> dict | None:
    try:
        status, body = call(f"{stack.url}/api/health")
    except (OSError, http.client.HTTPException):
        return None
    return body if status in (200, 503) else None


def process_of(stack: Stack, name: str) -> psutil.Process:
    """The live process of one service of the stack, as `codesift up` started it."""
    for child in psutil.Process(stack.process.pid).children(recursive=True):
        try:
            argv = child.cmdline()
            if argv and Path(argv[0]).name == "nats-server":
                if name == "nats" or argv[-1].endswith(f"/{name}.conf"):  # a cluster's node: nats-K
                    return child
                continue
            if "services.search" in argv:
                role = argv[-1]
                if role == "replica" and child.environ().get("CODESIFT_REPLICA_ID") == name:
                    return child
                if role == name:  # the indexer
                    return child
            elif f"services.{name}" in argv:
                return child
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    raise LookupError(f"no process {name!r} under the stack:\n{stack.output()[-2000:]}")


def all_answer(body: dict | None, replicas: int, served: Served) -> bool:
    """The bus is up, every service and every replica answers, each replica serves `served`."""
    if body is None or not body.get("bus", {}).get("connected"):
        return False
    services = {s["service"] for s in body.get("services", [])}
    return (
        set(SERVICES) <= services
        and len(body.get("replicas", [])) >= replicas
        and all(served.by(r) for r in body["replicas"])
    )


@dataclass(frozen=True)
class Served:
    index_version: str
    reranker_version: str | None

    def by(self, replica: dict) -> bool:
        return (replica.get("index_version"), replica.get("reranker_version")) == (
            self.index_version,
            self.reranker_version,
        )


def recovered(
    stack: Stack, name: str, old_pid: int, served: Served, replicas: int, seen: dict[str, float] | None = None
) -> Callable[[], bool]:
    """Does `name` answer again (a new process, for the services and replicas)?

    For nats-server, `seen` gets when each part of the stack first answered again (the bus as the
    gateway sees it, each service, the replicas serving what they served), in seconds after the kill.
    """
    began = time.monotonic()

    def note(body: dict) -> None:
        if seen is None:
            return
        now = round(time.monotonic() - began, 1)
        parts = [s["service"] for s in body.get("services", [])]
        if body.get("bus", {}).get("connected"):
            parts.append("bus")
        if len(body.get("replicas", [])) >= replicas and all(served.by(r) for r in body["replicas"]):
            parts.append("replicas")
        for part in parts:
            seen.setdefault(part, now)

    def check() -> bool:
        body = health(stack)
        if body is None:
            return False
        if name == "gateway":
            return True
        if name == "nats":
            note(body)
            return all_answer(body, replicas, served)
        if name.startswith("search-"):
            return any(
                r["replica_id"] == name and r["pid"] != old_pid and served.by(r) for r in body["replicas"]
            )
        return any(s["service"] == name and s["pid"] != old_pid for s in body.get("services", []))

    return check


def wait_until(
    check: Callable[[], bool], limit: float = RECOVERY_LIMIT_S, every: float = 0.1
) -> float | None:
    """Seconds until `check()` holds, or None after `limit`."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        if check():
            return time.monotonic() - began
        time.sleep(every)
    return None


# ---------------------------------------------------------------- jobs and models


def jobs_kv(data_dir: Path, job_id: str) -> dict | None:
    """A job's latest state from KV `jobs`, as a dict (None: not there)."""
    import msgspec

    from shared.bus import connect
    from shared.jobs import job_state
    from shared.settings import Settings

    async def read() -> dict | None:
        nc = await connect(Settings(data_dir=data_dir), "chaos")
        try:
            state = await job_state(nc.jetstream(), job_id)
            return None if state is None else msgspec.to_builtins(state)
        finally:
            await nc.close()

    return asyncio.run(read())


def wait_job(
    data_dir: Path, job_id: str, states: tuple[str, ...], limit: float, ready=lambda j: True
) -> dict:
    deadline = time.monotonic() + limit
    job: dict | None = None
    while time.monotonic() < deadline:
        try:
            job = jobs_kv(data_dir, job_id)
        except Exception:  # the bus restarting: ask again
            job = None
        if job is not None and job["state"] in states and ready(job):
            return job
        time.sleep(0.3)
    raise TimeoutError(f"job {job_id} not in {states} after {limit} s: {job}")


def submit_train(data_dir: Path, options: tuple[str, ...]) -> str:
    done = codesift("train", *options, data_dir=data_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.split()[2]  # "train job <id> submitted; ..."


def production(stack: Stack) -> str | None:
    status, info = call(f"{stack.url}/api/reranker/info", headers=admin_headers(stack.data_dir))
    assert status == 200, info
    return (info.get("production") or {}).get("version")


def put_production_model(stack: Stack, model_dir: Path, version: str) -> None:
    """Publish a trained model as the trainer does (models dir + object store), promote it by force."""
    import shutil

    from shared.artifacts import put_model
    from shared.bus import connect

    target = stack.data_dir / "models" / version
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(model_dir, target)

    async def put() -> None:
        nc = await connect(settings_as(stack.data_dir, "trainer"), "chaos")
        try:
            await put_model(nc.jetstream(), target)
        finally:
            await nc.close()

    asyncio.run(put())
    done = codesift("promote", "--model", version, "--force", data_dir=stack.data_dir)
    assert done.returncode == 0, done.stdout + done.stderr


def damage_cached_model(version: str) -> Path:
    """Flip bytes in the middle of the cached int8 ONNX file of `version` (the replicas' disk cache)."""
    from shared.settings import settings

    cached = sorted((settings().cache_dir / "models").glob(f"{version}.*/model.int8.onnx"))
    assert cached, f"{version} is not in the model cache"
    path = cached[0]
    with path.open("r+b") as f:
        f.seek(path.stat().st_size // 2)
        data = f.read(64)
        f.seek(path.stat().st_size // 2)
        f.write(bytes(b ^ 0xFF for b in data))
    return path.parent


def logged_events(data_dir: Path) -> Counter:
    """How many times each event id is in DATA_DIR/logs/queries.jsonl (and its rotated files)."""
    counts: Counter = Counter()
    for path in sorted((data_dir / "logs").glob("queries.jsonl*")):
        for raw in path.read_bytes().splitlines():
            counts[json.loads(raw)["event_id"]] += 1
    return counts


# ---------------------------------------------------------------- the run


@dataclass
class Fault:
    name: str
    recovery_s: float | None  # from the kill until it answers again; None: it did not within the limit
    note: str = ""
    at: float = 0.0  # when it was killed, seconds into the run


@dataclass
class Report:
    duration_s: float
    searches: Tally
    feedback: Tally
    events_sent: int
    events_accepted: int
    events_stored: int  # accepted events in the log
    events_lost: int  # accepted, not in the log
    events_duplicated: int  # in the log more than once
    events_unaccepted_stored: int  # never answered 2xx, yet stored (their request got through)
    faults: list[Fault]
    killed_job: dict
    new_job: dict
    production_before: str | None
    production_after: str | None
    replicas_served: list[tuple[str, str | None, str | None]]
    cache_repaired: bool

    def lines(self) -> list[str]:
        s, f = self.searches, self.feedback
        out = [
            f"chaos run: {self.duration_s:.0f} s of load, client retry window {WINDOW_S:.0f} s",
            f"feedback events: sent {self.events_sent}, accepted {self.events_accepted}, stored "
            f"{self.events_stored}, lost {self.events_lost}, duplicated {self.events_duplicated} "
            f"(stored though never acknowledged to the client: {self.events_unaccepted_stored})",
            f"  accepted first try {f.ok_first}, after a client retry {f.ok_after_retry}, refused "
            f"within the window {f.failed}; failed attempts: {dict(f.failed_attempts) or 'none'}",
            f"searches: sent {s.sent}, answered first try {s.ok_first}, after a client retry "
            f"{s.ok_after_retry}, failed beyond the window {s.failed}",
            f"  failed attempts: {dict(s.failed_attempts) or 'none'}",
        ]
        if s.failed_at or f.failed_at:
            out.append(f"  failed requests began at (s): searches {s.failed_at}, feedback {f.failed_at}")
        out.append("recovery (SIGKILL -> answering again; s into the run):")
        for fault in self.faults:
            took = "did not recover" if fault.recovery_s is None else f"{fault.recovery_s:5.1f} s"
            note = f"  {fault.note}" if fault.note else ""
            out.append(f"  {fault.name:<18} {took}  (at +{fault.at:.0f} s){note}")
        out += [
            f"killed job {job_line(self.killed_job)}",
            f"new train job {job_line(self.new_job)}",
            f"production model: before {self.production_before}, after {self.production_after}",
            f"replicas serve (index, model): {self.replicas_served}",
            f"damaged model cache repaired on restart: {self.cache_repaired}",
        ]
        return out


def job_line(job: dict) -> str:
    return f"{job['job_id']}: {job['state']} ({job['message']})"


NEW_JOB = "new train job"
# The new train job comes last: on 2 cores, training beside the faults starves the one replica left
# while the other restarts, and searches then time out for load, not for a fault.
ALL_FAULTS = (
    "trainer mid-job",
    "nats",
    "search-1",
    "telemetry",
    "evaluator",
    "promoter",
    "indexer",
    "search-2",
    "gateway",
    NEW_JOB,
)


def prepare(stack: Stack, model_dir: Path, version: str) -> Served:
    """Index the fixture, mine triplets for the train jobs, put a production model everywhere."""
    done = codesift("index", str(FIXTURE_REPO), "--name", "sample", data_dir=stack.data_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    done = codesift("mine", "--source", "all", "--golden", str(GOLDEN), "--wait", data_dir=stack.data_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    put_production_model(stack, model_dir, version)
    found: dict = {}

    def everywhere() -> bool:
        body = health(stack) or {}
        replicas = body.get("replicas", [])
        versions = {(r["index_version"], r.get("reranker_version")) for r in replicas}
        found["versions"] = versions
        return len(replicas) == stack.replicas and len(versions) == 1 and None not in next(iter(versions))

    assert wait_until(everywhere, limit=120) is not None, f"replicas never agreed: {found}"
    index_version, reranker_version = next(iter(found["versions"]))
    return Served(index_version, reranker_version)


def run(
    stack: Stack,
    served: Served,
    faults: tuple[str, ...] = ALL_FAULTS,
    min_duration: float = 60.0,
    pause: float = 1.0,
    say: Callable[[str], None] = lambda line: None,
) -> Report:
    """Load for at least `min_duration` seconds while each fault strikes in turn; then check."""
    before = production(stack)
    load = Load(stack)
    load.start()
    began = time.monotonic()
    results: list[Fault] = []
    killed_job: dict = {}
    cache_repaired = False
    new_id = ""
    for name in faults:
        if name == NEW_JOB:  # not a fault: the job that must run to completion through the rest
            new_id = submit_train(stack.data_dir, SHORT_TRAIN)
            say(f"submitted {new_id}")
            continue
        if name == "trainer mid-job":
            job_id = submit_train(stack.data_dir, LONG_TRAIN)
            wait_job(stack.data_dir, job_id, ("running",), 180)
            pid = process_of(stack, "trainer").pid
            os.kill(pid, signal.SIGKILL)
            at = time.monotonic() - began
            took = wait_until(recovered(stack, "trainer", pid, served, stack.replicas))
            killed_job = wait_job(stack.data_dir, job_id, ("failed", "succeeded"), 60)
            results.append(Fault(name, took, f"job {killed_job['state']}", at))
        else:
            note = ""
            if name == "search-2":
                damage_cached_model(served.reranker_version or "")
                note = "its cached model damaged first"
            pid = process_of(stack, name).pid
            os.kill(pid, signal.SIGKILL)
            at = time.monotonic() - began
            seen: dict[str, float] = {}
            took = wait_until(recovered(stack, name, pid, served, stack.replicas, seen))
            if seen:
                note = "back: " + ", ".join(
                    f"{k} {v:g}" for k, v in sorted(seen.items(), key=lambda kv: kv[1])
                )
            results.append(Fault(name, took, note, at))
        last = results[-1]
        say(f"{last.name} killed at +{last.at:.1f} s, answering after {last.recovery_s} s")
        time.sleep(pause)
    time.sleep(max(0.0, min_duration - (time.monotonic() - began)))
    load.finish()
    duration = time.monotonic() - began
    if "search-2" in faults:
        cache_repaired = "is damaged, downloading it again" in stack.output()

    assert wait_until(lambda: all_answer(health(stack), stack.replicas, served), limit=60) is not None
    if not new_id:
        new_id = submit_train(stack.data_dir, SHORT_TRAIN)
    new_job = wait_job(stack.data_dir, new_id, ("failed", "succeeded"), 600)

    stored: Counter = Counter()

    def drained() -> bool:
        stored.clear()
        stored.update(logged_events(stack.data_dir))
        return load.accepted <= set(stored)

    wait_until(drained, limit=90, every=0.5)
    body = health(stack) or {}
    return Report(
        duration_s=duration,
        searches=load.searches,
        feedback=load.feedback,
        events_sent=len(load.sent_ids),
        events_accepted=len(load.accepted),
        events_stored=len(load.accepted & set(stored)),
        events_lost=len(load.accepted - set(stored)),
        events_duplicated=sum(1 for n in stored.values() if n > 1),
        events_unaccepted_stored=len((set(stored) & load.sent_ids) - load.accepted),
        faults=results,
        killed_job=killed_job or {"job_id": "-", "state": "-", "message": "not run"},
        new_job=new_job,
        production_before=before,
        production_after=production(stack),
        replicas_served=sorted(
            (r["replica_id"], r["index_version"], r.get("reranker_version")) for r in body.get("replicas", [])
        ),
        cache_repaired=cache_repaired,
    )
