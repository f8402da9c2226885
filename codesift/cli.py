"""`codesift` command line. `up` runs the stack; every other command talks to it over NATS."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from shared.settings import SettingsError


def parse_index_spec(spec: str) -> tuple[str, Path]:
    """`--index PATH` or `--index NAME=PATH`."""
    from codesift.commands import default_repo_name

    name, sep, path = spec.partition("=")
    if not sep:
        return default_repo_name(Path(spec)), Path(spec)
    return name, Path(path)


def k_value(text: str) -> int:
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"k must be an integer, got {text!r}") from None
    if not 1 <= k <= 100:
        raise argparse.ArgumentTypeError(f"k must be between 1 and 100, got {k}")
    return k


def port_value(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1..65535, got {port}")
    return port


def global_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name (`codesift --data-dir D up` and
    `codesift up --data-dir D`). SUPPRESS keeps a subcommand's unset option from overwriting the
    value given before the command name; `main` fills in the defaults."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help="the stack's data directory (default: $CODESIFT_DATA_DIR or ./data)",
    )
    return common


GLOBAL_DEFAULTS = {"data_dir": None}


def build_parser() -> argparse.ArgumentParser:
    common = global_options()
    parser = argparse.ArgumentParser(prog="codesift", description=__doc__, parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, **kwargs: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    up = command("up", help="start the whole stack (nats-server and every service)")
    up.add_argument("--port", type=int, default=None, help="HTTP port of the gateway (default 8012)")
    up.add_argument("--replicas", type=int, default=2, help="search replicas (default 2)")
    up.add_argument(
        "--cluster",
        type=int,
        default=1,
        metavar="N",
        help="nats-servers to start as one cluster, every stream on N replicas: 1 (default), 3 or 5",
    )
    up.add_argument("--index", action="append", default=[], metavar="[NAME=]PATH", help="index these once up")
    up.add_argument(
        "--golden", type=Path, default=None, help="golden questions for the trainer and evaluator"
    )

    ix = command("index", help="index a repository (replaces its previous chunks)")
    ix.add_argument("path", type=Path)
    ix.add_argument("--name", default=None, help="repository name in results (default: the directory's name)")

    se = command("search", help="search the indexed code")
    se.add_argument("query")
    se.add_argument("--k", type=k_value, default=10)
    se.add_argument("--repo", default=None)
    se.add_argument("--json", action="store_true", help="print the response object, nothing else")

    ev = command("eval", help="evaluate on golden questions: what is served, or a trained model (--model)")
    ev.add_argument("--golden", type=Path, default=None, help="golden questions (default golden.json)")
    ev.add_argument("--model", default=None, metavar="PATH|VERSION", help="evaluate this trained model")
    ev.add_argument("--split", choices=["eval", "all"], default="eval", help="with --model: which questions")
    ev.add_argument("--json", action="store_true", help="print the result object, nothing else")

    pr = command("promote", help="serve a trained model (gated: it must beat production and no reranker)")
    pr.add_argument("--model", required=True, metavar="PATH|VERSION")
    pr.add_argument("--min", type=int, default=None, dest="min_triplets", help="fewest training triplets")
    pr.add_argument("--force", action="store_true", help="skip the gates")
    command("rollback", help="go back to the previous production model")
    command("info", help="the production model, its evaluation, and what each replica serves")

    ex = command("experiment", help="online experiments: interleave a candidate model with production")
    ex.add_argument("action", choices=["start", "stop", "status"])
    ex.add_argument("model", nargs="?", default=None, metavar="VERSION", help="start: the candidate model")

    command("status", help="replicas, index and jobs of the running stack")
    command("token", help="print the admin token the stack's gateway asks for (Authorization: Bearer ...)")

    mi = command("mine", help="mine training triplets (feedback logs, golden questions, the code itself)")
    mi.add_argument("--source", choices=["logs", "golden", "bootstrap", "all"], default="all")
    mi.add_argument("--golden", type=Path, default=None, help="golden questions (train split is mined)")
    mi.add_argument("--wait", action="store_true", help="show progress until the job ends")

    tr = command("train", help="fine-tune the reranker on the mined triplets and export it to ONNX")
    tr.add_argument("--epochs", type=int, default=None)
    tr.add_argument("--lr", type=float, default=None)
    tr.add_argument("--loss", default=None, help="bce | mnrl | lambda")
    tr.add_argument(
        "--min", type=int, default=None, dest="min_triplets", help="fewest triplets to train on (30)"
    )
    tr.add_argument("--batch-size", type=int, default=None)
    tr.add_argument("--max-length", type=int, default=None)
    tr.add_argument("--time-budget", type=float, default=None, dest="time_budget_s", help="seconds (600)")
    tr.add_argument("--seed", type=int, default=None)
    tr.add_argument("--wait", action="store_true", help="show progress until the job ends")

    command("logs", help="the last 100 lines of the trainer's current or last job")

    mc = command("mcp", help="the MCP server for coding agents: stdio (editors, agent CLIs) or --http PORT")
    mc.add_argument(
        "--http", type=port_value, default=None, metavar="PORT", help="streamable HTTP at :PORT/mcp"
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    for name, default in GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "mcp":  # the server's own process, before any event loop of ours
        from codesift.mcp import run_mcp

        return run_mcp(args.http, args.data_dir)
    try:
        return asyncio.run(dispatch(args))
    except SettingsError as exc:
        print(f"codesift: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def dispatch(args: argparse.Namespace) -> int:
    from codesift import commands

    if args.command == "up":
        from codesift.supervisor import up

        settings = commands.cli_settings(args.data_dir)
        if args.replicas < 1:
            return commands.fail("--replicas must be at least 1")
        port = args.port if args.port is not None else settings.http_port
        if args.golden is not None:
            if not args.golden.is_file():
                return commands.fail(f"--golden: {args.golden} is not a file")
            os.environ["CODESIFT_GOLDEN_PATH"] = str(args.golden.resolve())
        index = [parse_index_spec(s) for s in args.index]
        return await up(settings.data_dir, port, args.replicas, index, cluster=args.cluster)
    if args.command == "index":
        return await commands.index_repository(args.path, args.name, args.data_dir)
    if args.command == "search":
        if not args.query.strip():
            return commands.fail("query: must not be empty")
        return await commands.search(args.query, args.k, args.repo, args.json, args.data_dir)
    if args.command == "eval":
        if args.model:
            from codesift.learning import evaluate_model

            return await evaluate_model(args.model, args.golden, args.split, args.json, args.data_dir)
        from codesift.evaluation import evaluate_golden

        return await evaluate_golden(args.golden or Path("golden.json"), args.json, args.data_dir)
    if args.command in ("promote", "rollback", "info"):
        from codesift import learning

        if args.command == "promote":
            return await learning.promote(args.model, args.min_triplets, args.force, args.data_dir)
        if args.command == "rollback":
            return await learning.rollback(args.data_dir)
        return await learning.info(args.data_dir)
    if args.command == "experiment":
        from codesift.experiments import experiment

        if args.action == "start" and not args.model:
            return commands.fail("experiment start: name the candidate model (a version)")
        return await experiment(args.action, args.model, args.data_dir)
    if args.command == "status":
        return await commands.status(args.data_dir)
    if args.command == "token":
        return commands.token(args.data_dir)
    if args.command in ("mine", "train", "logs"):
        from codesift import learning

        if args.command == "mine":
            return await learning.mine(args.source, args.golden, args.wait, args.data_dir)
        if args.command == "train":
            names = (
                "epochs",
                "lr",
                "loss",
                "min_triplets",
                "batch_size",
                "max_length",
                "time_budget_s",
                "seed",
            )
            return await learning.train({n: getattr(args, n) for n in names}, args.wait, args.data_dir)
        return await learning.logs(args.data_dir)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
