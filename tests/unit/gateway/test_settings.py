"""The gateway's settings: storing client details is off unless CODESIFT_TELEMETRY_STORE_CLIENT says so."""

from __future__ import annotations

import pytest

from services.gateway.settings import GatewaySettings
from shared.settings import SettingsError, from_env


def test_client_details_are_not_stored_by_default() -> None:
    assert from_env(GatewaySettings, {}).telemetry_store_client is False


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("false", False), ("0", False)])
def test_the_variable_switches_storing_client_details(value: str, expected: bool) -> None:
    settings = from_env(GatewaySettings, {"CODESIFT_TELEMETRY_STORE_CLIENT": value})

    assert settings.telemetry_store_client is expected


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="CODESIFT_TELEMETRY_STORE_CLIENT='perhaps'"):
        from_env(GatewaySettings, {"CODESIFT_TELEMETRY_STORE_CLIENT": "perhaps"})
