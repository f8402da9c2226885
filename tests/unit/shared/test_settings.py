from pathlib import Path

import pytest

from shared.settings import Settings, SettingsError, from_env


def test_values_are_typed_from_the_environment():
    s = from_env(
        Settings,
        {"CODESIFT_HTTP_PORT": "9000", "CODESIFT_DATA_DIR": "/tmp/x", "CODESIFT_EMBED_QUANTIZE": "false"},
    )
    assert s.http_port == 9000
    assert s.data_dir == Path("/tmp/x")
    assert s.embed_quantize is False


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("CODESIFT_HTTP_PORT", "eighty", "Expected `int`"),
        ("CODESIFT_HTTP_PORT", "70000", "<= 65535"),
        ("CODESIFT_EMBED_MAX_LENGTH", "4", ">= 16"),
        ("CODESIFT_REQUEST_TIMEOUT", "0", "> 0"),
    ],
)
def test_a_bad_value_fails_naming_the_variable(name, value, words):
    with pytest.raises(SettingsError) as err:
        from_env(Settings, {name: value})
    assert str(err.value).startswith(f"{name}={value!r}")
    assert words in str(err.value)
