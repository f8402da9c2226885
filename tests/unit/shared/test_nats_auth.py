"""The credentials file of an embedded stack: private from creation, reused, read by the CLI."""

from __future__ import annotations

import json
import os
import stat

import pytest

from codesift.deploy_config import password_variable
from codesift.nats_config import write_server_config
from shared.nats_auth import (
    KINDS,
    CredentialsError,
    credentials,
    load_or_create_users,
    secrets_dir,
    users_file,
    write_private,
)
from shared.settings import Settings


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_first_start_makes_one_random_user_per_process_kind_readable_by_the_owner_only(tmp_path):
    users = load_or_create_users(tmp_path)
    assert sorted(users) == sorted(KINDS)
    assert len(set(users.values())) == len(KINDS) and all(len(p) >= 32 for p in users.values())
    assert mode(secrets_dir(tmp_path)) == 0o700
    assert mode(users_file(tmp_path)) == 0o600
    assert json.loads(users_file(tmp_path).read_text()) == {"users": users}


def test_later_starts_reuse_the_passwords_and_add_a_missing_kind(tmp_path):
    first = load_or_create_users(tmp_path)
    assert load_or_create_users(tmp_path) == first
    older = {k: v for k, v in first.items() if k != "evaluator"}
    users_file(tmp_path).write_text(json.dumps({"users": older}))
    again = load_or_create_users(tmp_path)
    assert {k: v for k, v in again.items() if k != "evaluator"} == older
    assert again["evaluator"] and mode(users_file(tmp_path)) == 0o600


def test_a_secrets_directory_with_wider_rights_is_tightened(tmp_path):
    secrets_dir(tmp_path).mkdir(mode=0o755)
    os.chmod(secrets_dir(tmp_path), 0o755)
    load_or_create_users(tmp_path)
    assert mode(secrets_dir(tmp_path)) == 0o700


def test_a_private_file_is_never_created_readable_by_others_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        target = tmp_path / "secret"
        write_private(target, "x")
        leftover = tmp_path / f".secret.{os.getpid()}.tmp"  # a crash left one, world-readable
        leftover.write_text("old")
        os.chmod(leftover, 0o666)
        write_private(target, "y")
    finally:
        os.umask(old)
    assert mode(target) == 0o600 and target.read_text() == "y"
    assert not leftover.exists()


def test_the_server_config_holds_the_passwords_and_is_private(tmp_path):
    users = load_or_create_users(tmp_path)
    path = write_server_config(tmp_path, 4222, tmp_path / "nats", users)
    assert mode(path) == 0o600 and path.parent == secrets_dir(tmp_path)
    config = json.loads(path.read_text())
    assert {u["user"]: u["password"] for u in config["authorization"]["users"]} == users
    assert config["port"] == 4222 and config["jetstream"]["store_dir"] == str(tmp_path / "nats")


def test_environment_credentials_come_first_then_the_cli_user_of_the_file(tmp_path):
    assert credentials(Settings(data_dir=tmp_path)) is None  # no file: a server without authentication
    users = load_or_create_users(tmp_path)
    assert credentials(Settings(data_dir=tmp_path)) == ("cli", users["cli"])
    given = Settings(data_dir=tmp_path, nats_user="trainer", nats_password="pw")
    assert credentials(given) == ("trainer", "pw")


def test_a_damaged_credentials_file_is_named(tmp_path):
    secrets_dir(tmp_path).mkdir()
    users_file(tmp_path).write_text('{"users": {"cli": 7}}')
    with pytest.raises(CredentialsError, match=r"nats-users\.json"):
        credentials(Settings(data_dir=tmp_path))


def test_every_k8s_service_logs_in_as_its_own_kind_with_the_password_from_the_secret():
    import yaml

    from tests.integration.stack import ROOT

    seen = set()
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "Deployment":
                continue
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            env = {e["name"]: e for e in container.get("env", [])}
            kind = env["CODESIFT_NATS_USER"]["value"]
            ref = env["CODESIFT_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == ("codesift-nats-users", password_variable(kind)), path
            assert "optional" not in ref, path  # the NATS nodes require every password
            assert kind in KINDS and kind in (container["name"], "search"), path
            seen.add(kind)
    assert seen == set(KINDS) - {"cli"}
