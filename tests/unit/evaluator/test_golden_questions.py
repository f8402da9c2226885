"""Which golden questions an evaluation scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.evaluator.errors import EvaluationError
from services.evaluator.golden_questions import select_questions
from shared.golden import split_golden

SAMPLE = Path(__file__).parents[2] / "fixtures" / "sample_golden.json"
HELD_OUT = "how is an invoice total computed with tax"  # the sample's only eval question


def test_the_eval_side_of_the_shared_split_by_default_and_everything_when_asked():
    questions, split, note = select_questions(SAMPLE, "eval")
    assert [q.q for q in questions] == [HELD_OUT] and split == "eval" and note == ""
    everything, split, note = select_questions(SAMPLE, "all")
    assert len(everything) == 8 and split == "all" and note == ""
    assert split_golden(everything)[1] == questions


def test_an_empty_eval_side_falls_back_to_every_question_and_says_so(tmp_path: Path):
    train_only = [q for q in json.loads(SAMPLE.read_text()) if q["q"] != HELD_OUT]
    path = tmp_path / "golden.json"
    path.write_text(json.dumps(train_only))
    questions, split, note = select_questions(path, "eval")
    assert len(questions) == 7 and split == "all"
    assert note == "the eval split of the 7 golden questions is empty: scored all of them"


@pytest.mark.parametrize(("content", "complaint"), [(None, "cannot read"), ("[]", "holds no questions")])
def test_a_missing_or_empty_golden_file_is_an_error_naming_golden(tmp_path: Path, content, complaint):
    path = tmp_path / "golden.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(EvaluationError, match=complaint) as caught:
        select_questions(path, "eval")
    assert caught.value.field == "golden"
