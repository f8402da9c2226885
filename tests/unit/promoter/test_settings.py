"""The promoter's thresholds come from CODESIFT_PROMOTE_*; a bad value names its variable."""

from __future__ import annotations

import pytest

from services.promoter.settings import PromoterSettings
from shared.settings import SettingsError, from_env


def test_defaults():
    s = from_env(PromoterSettings, {})
    assert (s.promote_min_triplets, s.promote_mrr_margin, s.promote_hit5_tolerance) == (30, 0.0, 0.02)


def test_values_from_the_environment():
    env = {
        "CODESIFT_PROMOTE_MIN_TRIPLETS": "5",
        "CODESIFT_PROMOTE_MRR_MARGIN": "0.01",
        "CODESIFT_PROMOTE_HIT5_TOLERANCE": "0",
    }
    s = from_env(PromoterSettings, env)
    assert (s.promote_min_triplets, s.promote_mrr_margin, s.promote_hit5_tolerance) == (5, 0.01, 0.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [("CODESIFT_PROMOTE_MRR_MARGIN", "-0.1"), ("CODESIFT_PROMOTE_HIT5_TOLERANCE", "2"),
     ("CODESIFT_PROMOTE_MIN_TRIPLETS", "many")],
)  # fmt: skip
def test_a_bad_value_names_its_variable(name: str, value: str):
    with pytest.raises(SettingsError, match=name):
        from_env(PromoterSettings, {name: value})
