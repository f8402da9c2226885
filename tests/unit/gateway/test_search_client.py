"""What SearchClient shows of the bus URL."""

from services.gateway.search_client import redact


def test_hides_credentials_in_the_bus_url() -> None:
    assert redact("nats://user:secret@127.0.0.1:4222") == "nats://127.0.0.1:4222"
    assert redact("tls://token@nats.example:4443") == "tls://nats.example:4443"
    assert redact("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
    assert redact("nats://u:p@a:4222,nats://u:p@b:4222") == "nats://a:4222,nats://b:4222"
