"""How `codesift info` describes the production ranker, from its manifest's "combiner" section.

The trainer writes that section when the artifact holds a learned combiner (kind, whether it uses
the cross-encoder's logit, the share of each feature in its decisions, held-out figures); a model
without one is a cross-encoder served by the fused-rank blend.
"""

from __future__ import annotations

from typing import Any

TOP_FEATURES = 10
BAR_WIDTH = 30  # characters for a share of 100%
BLEND = "ranker: fused-rank blend (no learned combiner)"


def ranker_lines(manifest: dict[str, Any] | None) -> list[str]:
    """The lines `codesift info` prints about production's ranking (its manifest; None: unknown)."""
    section = (manifest or {}).get("combiner")
    if not isinstance(section, dict) or not section:
        skipped = (manifest or {}).get("combiner_skipped")
        return [BLEND] + ([f"  why: {skipped}"] if isinstance(skipped, str) and skipped else [])
    uses = bool(section.get("uses_cross_encoder"))
    how = "+ cross-encoder" if uses else "(the cross-encoder is not run)"
    lines = [f"ranker: learned combiner, {section.get('kind') or 'unknown kind'} {how}"]
    holdout = section.get("holdout")
    if isinstance(holdout, dict):
        lines += _holdout(holdout, uses)
    shares = top_importances(section.get("importances"))
    if shares:
        lines.append(f"feature importances (top {len(shares)}):")
        width = max(len(name) for name, _ in shares)
        for name, share in shares:
            lines.append(f"  {name:<{width}}  {share:6.1%}  {'#' * max(1, round(share * BAR_WIDTH))}")
    return lines


def top_importances(importances: object) -> list[tuple[str, float]]:
    """The TOP_FEATURES largest positive shares, largest first."""
    if not isinstance(importances, dict):
        return []
    shares = [
        (str(name), float(share)) for name, share in importances.items() if _number(share) and share > 0
    ]
    return sorted(shares, key=lambda item: (-item[1], item[0]))[:TOP_FEATURES]


def _holdout(holdout: dict[str, Any], uses_cross_encoder: bool) -> list[str]:
    fusion, combiner = holdout.get("mrr_fusion"), holdout.get("mrr_combiner")
    if uses_cross_encoder and _number(holdout.get("mrr_combiner_ce")):
        combiner = holdout["mrr_combiner_ce"]
    if not (_number(fusion) and _number(combiner)):
        return []
    whose = "people's held-out" if holdout.get("people") is True else "held-out"
    groups = f" on {holdout['groups']} {whose} groups" if "groups" in holdout else ""
    return [f"trained: MRR@10 fusion {fusion:.3f} -> combiner {combiner:.3f}{groups}"]


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
