"""Reading Prometheus samples in tests: from this process's registry, or from scraped text."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def sample(name: str, **labels: str) -> float:
    """A sample of this process's default registry; 0 when it was never recorded."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def parse(text: str) -> list[Sample]:
    """Every sample of a scrape, parsed by prometheus_client's own parser (it raises on bad text)."""
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def total(samples: Iterable[Sample], name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when none)."""
    return sum(
        s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )
