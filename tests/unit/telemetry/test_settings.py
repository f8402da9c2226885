from pathlib import Path

import pytest

from services.telemetry.settings import TelemetrySettings, log_file
from shared.settings import SettingsError, from_env


def test_the_log_lives_in_the_data_dir_unless_a_path_is_given():
    assert log_file(from_env(TelemetrySettings, {"CODESIFT_DATA_DIR": "/srv/cs"})) == Path(
        "/srv/cs/logs/queries.jsonl"
    )
    named = from_env(TelemetrySettings, {"CODESIFT_DATA_DIR": "/srv/cs", "CODESIFT_LOG_PATH": "/var/q.jsonl"})
    assert log_file(named) == Path("/var/q.jsonl")


def test_knobs_are_read_from_the_environment():
    s = from_env(
        TelemetrySettings,
        {
            "CODESIFT_LOG_ROTATE_BYTES": "1048576",
            "CODESIFT_LOG_KEEP": "2",
            "CODESIFT_TELEMETRY_BATCH_SIZE": "50",
        },
    )
    assert (s.log_rotate_bytes, s.log_keep, s.telemetry_batch_size) == (1_048_576, 2, 50)


@pytest.mark.parametrize(
    ("name", "value"),
    [("CODESIFT_LOG_KEEP", "0"), ("CODESIFT_LOG_ROTATE_BYTES", "10"), ("CODESIFT_TELEMETRY_BATCH_WAIT", "0")],
)
def test_a_bad_value_fails_naming_the_variable(name, value):
    with pytest.raises(SettingsError, match=f"^{name}="):
        from_env(TelemetrySettings, {name: value})
