"""A mine job: feedback log, golden questions (train split) and the code itself → triplets.jsonl.

Runs in a worker thread; everything it needs from the search service comes through SearchSource.
Every source mined in full replaces its own older triplets; the others' are moved to the chunks
they name now when an edit moved them (mining/reattach.py), and the labels' fate is in the result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import msgspec

from services.trainer.mining import (
    DEFAULT_MAX_PAIRS,
    count_by_source,
    firewall,
    load_triplets,
    mine_bootstrap,
    mine_golden,
    mine_logs,
    read_log,
    split_golden,
    split_record,
    store_triplets,
    write_split,
)
from services.trainer.mining.reattach import Reattacher, reattach_triplets
from services.trainer.settings import TrainerSettings
from services.trainer.sources import SearchSource, SourceError
from shared.golden import GoldenError, golden_file, read_golden
from shared.schemas import ChunkRecord, GoldenQuestion, MineCommand, Triplet

log = logging.getLogger("codesift.trainer.mine")
Progress = Callable[[float, str], None]


class MineError(RuntimeError):
    pass


def log_files(log_path: Path) -> list[Path]:
    """The feedback log and its rotated files, oldest first."""
    rotated = sorted(log_path.parent.glob(log_path.name + ".*"), key=lambda p: -_suffix(p))
    return [p for p in rotated if _suffix(p) > 0] + ([log_path] if log_path.exists() else [])


def _suffix(path: Path) -> int:
    tail = path.name.rsplit(".", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def load_golden(path: Path) -> list[GoldenQuestion]:
    try:
        return read_golden(path)
    except GoldenError as exc:
        raise MineError(str(exc)) from None


def eval_questions(settings: TrainerSettings, golden: Path | None = None) -> list[GoldenQuestion]:
    """The eval side of the golden split: never trained on (the firewall drops near-duplicates too)."""
    path = golden or settings.golden_path
    if not path.exists():
        return []
    _, held_out = split_golden(load_golden(path))
    return held_out


def run_mine(
    command: MineCommand, settings: TrainerSettings, source: SearchSource, progress: Progress
) -> dict:
    sources = ("logs", "golden", "bootstrap") if command.source == "all" else (command.source,)
    try:  # a file named in the command must be one (shared.golden.golden_file); the setting may be absent
        golden_path = golden_file(command.golden) if command.golden else settings.golden_path
    except GoldenError as exc:
        raise MineError(str(exc)) from None
    mined: list[Triplet] = []
    stats: dict[str, dict] = {}
    held_out: list[GoldenQuestion] = []
    if golden_path.exists():
        train_side, held_out = split_golden(load_golden(golden_path))
        settings.training_dir.mkdir(parents=True, exist_ok=True)
        write_split(settings.training_dir / "split.json", split_record(train_side, held_out))
    elif "golden" in sources and command.source == "golden":
        raise MineError(f"golden: {golden_path} does not exist")
    else:
        train_side = []

    reattacher = Reattacher(current_chunks(source))
    for step, name in enumerate(sources):
        progress(step / len(sources), f"mining {name}")
        if name == "logs":
            lines = [line for path in log_files(settings.feedback_log) for line in read_log(path)]
            repos = source.repos()
            default_repo = next(iter(repos)) if len(repos) == 1 else None
            triplets, st = mine_logs(
                lines, texts_lookup(source, default_repo), default_repo=default_repo, reattacher=reattacher
            )
            write_feedback_seen(settings.training_dir, sum(1 for line in lines if line is not None))
        elif name == "golden":
            triplets, st = mine_golden(train_side, source.candidates)
        else:
            triplets, st = [], None
            for repo in source.repos():
                found, st = mine_bootstrap(
                    source.chunks(repo),
                    source.candidates,
                    max_pairs=command.max_bootstrap or DEFAULT_MAX_PAIRS,
                )
                triplets += [msgspec.structs.replace(t, repo=repo) for t in found]
        mined += triplets
        if st is not None:
            stats[name] = st.as_dict()
        log.info("%s: %d triplets", name, len(triplets))

    progress(0.85, "re-attaching stored triplets to the current chunks")
    store = settings.training_dir / "triplets.jsonl"
    others = [t for t in load_triplets(store) if t.source not in sources]
    if others:
        moved, changed = reattach_triplets(others, source.texts, reattacher)
        if changed:
            store_triplets(store, moved, replace_sources={t.source for t in others})
            log.info("stored triplets: %d moved to the current chunks or dropped", changed)
    progress(0.9, "applying the query firewall")
    kept, dropped = firewall(mined, held_out)
    report = store_triplets(store, kept, replace_sources=sources)
    total = count_by_source(load_triplets(settings.training_dir / "triplets.jsonl"))
    log.info("stored %d new triplets; firewall dropped %d; store holds %s", len(kept), len(dropped), total)
    return {
        "triplets": len(kept),
        "dropped_by_firewall": len(dropped),
        "added": report.added,
        "unreadable_triplet_lines": report.repaired,  # dropped from triplets.jsonl by this write
        "total_by_source": total,
        "stats": stats,
        "labels": reattacher.summary(),
    }


def current_chunks(source: SearchSource):
    """A repository's chunks in the current index (none once it is no longer indexed)."""

    def chunks(repo: str) -> list[ChunkRecord]:
        try:
            return list(source.chunks(repo))
        except SourceError as exc:
            if exc.field == "repo":
                return []
            raise

    return chunks


FEEDBACK_SEEN = "feedback.json"  # training/feedback.json: the feedback events the last log mining read


def write_feedback_seen(training_dir: Path, events: int) -> None:
    """Recorded with the log triplets it goes with (a mine of logs replaces both); the train job
    copies it into the manifest, and the promoter compares it with production's ("events" gate)."""
    training_dir.mkdir(parents=True, exist_ok=True)
    partial = training_dir / (FEEDBACK_SEEN + ".partial")
    partial.write_bytes(msgspec.json.encode({"events": events}))
    partial.replace(training_dir / FEEDBACK_SEEN)


def feedback_seen(training_dir: Path) -> int:
    """The feedback events behind the stored log triplets (0 when logs were never mined)."""
    try:
        return int(msgspec.json.decode((training_dir / FEEDBACK_SEEN).read_bytes())["events"])
    except (OSError, msgspec.DecodeError, KeyError, TypeError, ValueError):
        return 0


def texts_lookup(source: SearchSource, default_repo: str | None):
    """Chunk texts for (repo, doc_id) keys; an event without a repo means the only indexed one."""

    def lookup(keys):
        asked = {(repo or default_repo or "", doc_id): (repo, doc_id) for repo, doc_id in keys}
        found = source.texts([key for key in asked if key[0]])
        return {asked[key]: text for key, text in found.items()}

    return lookup
