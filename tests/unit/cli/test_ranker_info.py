"""What `codesift info` says about the production ranker, from its manifest's "combiner" section."""

from __future__ import annotations

from codesift.ranker import BLEND, ranker_lines
from shared.features import FEATURES
from tests.combiner_fixtures import combiner_section


def test_a_model_without_a_combiner_is_the_fused_rank_blend():
    assert ranker_lines({"version": "v", "files": {}}) == [BLEND] == ranker_lines(None)
    assert BLEND == "ranker: fused-rank blend (no learned combiner)"


def test_a_combiner_is_named_with_its_held_out_figures_and_its_ten_largest_importances():
    weights = {name: float(i + 1) for i, name in enumerate(FEATURES[:12])}
    lines = ranker_lines({"combiner": combiner_section(weights, kind="lambdamart")})
    assert lines[0] == "ranker: learned combiner, lambdamart (the cross-encoder is not run)"
    assert lines[1] == "trained: MRR@10 fusion 0.610 -> combiner 0.740 on 8 held-out groups"
    assert lines[2] == "feature importances (top 10):"
    shown = [line.split()[0] for line in lines[3:]]
    assert shown == list(reversed(FEATURES[2:12]))  # the largest first; the two smallest left out
    assert lines[3].split()[1] == f"{12 / 78:.1%}" and lines[3].endswith("#" * round(12 / 78 * 30))


def test_a_combiner_that_uses_the_cross_encoder_says_so_and_reports_that_figure():
    lines = ranker_lines(
        {"combiner": combiner_section({"ce_logit": 3.0, "file_test": 1.0}, uses_cross_encoder=True)}
    )
    assert lines[:2] == [
        "ranker: learned combiner, logistic + cross-encoder",
        "trained: MRR@10 fusion 0.610 -> combiner 0.750 on 8 held-out groups",
    ]
    assert [line.split()[:2] for line in lines[3:]] == [["ce_logit", "75.0%"], ["file_test", "25.0%"]]


def test_a_model_without_a_combiner_says_why():
    lines = ranker_lines({"combiner_skipped": "only 3 groups have a positive in the top 20 (< 8)"})
    assert lines == [BLEND, "  why: only 3 groups have a positive in the top 20 (< 8)"]
