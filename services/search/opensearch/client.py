"""The opensearch-py client of a replica or the indexer, from CODESIFT_OPENSEARCH_* settings."""

from __future__ import annotations

from opensearchpy import OpenSearch

from services.search.settings import SearchSettings

TIMEOUT_S = 30.0


def client_options(settings: SearchSettings) -> dict:
    """The keyword arguments of `OpenSearch(...)` (separate, so tests can check them)."""
    hosts = [url.strip() for url in settings.opensearch_url.split(",") if url.strip()]
    if not hosts:
        raise ValueError("CODESIFT_OPENSEARCH_URL: no node given (comma-separated URLs)")
    options: dict = {
        "hosts": hosts,
        "timeout": TIMEOUT_S,
        "pool_maxsize": max(4, 2 * settings.max_workers),  # concurrent searches per replica
        "verify_certs": settings.opensearch_verify_certs,
        "ssl_show_warn": settings.opensearch_verify_certs,
    }
    if settings.opensearch_user:
        options["http_auth"] = (settings.opensearch_user, settings.opensearch_password)
    if settings.opensearch_ca_certs:
        options["ca_certs"] = settings.opensearch_ca_certs
    return options


def make_client(settings: SearchSettings) -> OpenSearch:
    return OpenSearch(**client_options(settings))
