"""A mine job after an edit: the log's labels and the other sources' stored triplets follow their chunks."""

from __future__ import annotations

import json
from pathlib import Path

from services.trainer.mine_job import run_mine
from services.trainer.mining import load_triplets, store_triplets
from services.trainer.settings import TrainerSettings
from shared.schemas import MineCommand, Triplet
from tests.unit.trainer.test_mining_reattach import AUTH, Index, chunks, log_line, named


class Search(Index):
    """The current index, answering the job's questions as SearchSource does over NATS."""

    def repos(self) -> dict[str, int]:
        return {"demo": len(self.by_key)}


def test_a_logs_mine_moves_clicks_and_stored_golden_triplets_and_reports_each_rule(tmp_path: Path):
    settings = TrainerSettings(data_dir=tmp_path / "data", golden_path=tmp_path / "no-golden.json")
    before = chunks({"auth.py": AUTH})
    validate, refresh = named(before, "validate_token"), named(before, "refresh_token")
    settings.feedback_log.parent.mkdir(parents=True)
    settings.feedback_log.write_text(json.dumps(log_line("e1", "1", "demo", validate, [validate])) + "\n")
    golden = Triplet(
        "renew a token",
        refresh.text,
        refresh.doc_id,
        [],
        [],
        "golden",
        repo="demo",
        positive_symbol="refresh_token",
    )
    store_triplets(settings.training_dir / "triplets.jsonl", [golden])

    after = chunks({"auth.py": "import os\n\n\n" + AUTH.replace("def validate_token(", "def check_token(")})
    result = run_mine(MineCommand(job_id="j1", source="logs"), settings, Search(after), lambda *_: None)

    assert result["labels"] == {"intact": 0, "content_hash": 1, "symbol": 0, "overlap": 1, "lost": 0}
    assert result["stats"]["logs"]["labels"] == {"overlap": 1}
    stored = {t.source: t for t in load_triplets(settings.training_dir / "triplets.jsonl")}
    assert stored["logs"].positive_doc_id == named(after, "check_token").doc_id
    assert stored["golden"].positive_doc_id == named(after, "refresh_token").doc_id != refresh.doc_id
