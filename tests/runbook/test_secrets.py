"""Secrets provider (env, file, _FILE, Vault at the hvac boundary) and redaction."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from workers.domain.config import ConfigError, load_config
from workers.domain.redact import MASK, Redactor, install_log_redaction
from workers.domain.secrets import Credential, SecretError, SecretsProvider

VALUE = "S3cr\u00e9t'\"$x"


def config_with(tmp_path: Path, secrets: dict[str, Any]) -> Any:
    (tmp_path / "inventory.yaml").write_text(
        yaml.safe_dump(
            {
                "tenants": {
                    "t": {
                        "entra_admin": "a",
                        "installer": {"path": "C:\\x\\setup.exe", "sha256": "A" * 64},
                    }
                },
                "hosts": {"H1": {"credential": "a"}},
            }
        )
    )
    (tmp_path / "policy.yaml").write_text(
        yaml.safe_dump({"policy": {"approvers": [{"users": ["U2"]}]}})
    )
    (tmp_path / "secrets.yaml").write_text(yaml.safe_dump({"secrets": secrets}))
    return load_config(tmp_path)


def test_credential_never_shows_the_password() -> None:
    cred = Credential("CONTOSO\\x", VALUE)
    assert VALUE not in repr(cred) and VALUE not in str(cred) and VALUE not in f"{cred}"
    assert "CONTOSO" in repr(cred)


def test_env_file_and_docker_file_convention(tmp_path: Path) -> None:
    secret_file = tmp_path / "pw.txt"
    secret_file.write_text(VALUE + "\n", encoding="utf-8")
    docker = tmp_path / "docker.txt"
    docker.write_text("docker-pw\r\n", encoding="utf-8")
    config = config_with(
        tmp_path,
        {
            "a": {"user": "u1", "password": "env:PW_A"},
            "b": {"user": "u2", "password": f"file:{secret_file}"},
            "c": {"user": "u3", "password": "env:PW_C"},
        },
    )
    redactor = Redactor()
    provider = SecretsProvider(
        config, {"PW_A": "env-pw-long", "PW_C_FILE": str(docker)}, redactor=redactor
    )
    assert provider.get("a") == Credential("u1", "env-pw-long")
    assert provider.get("b").password == VALUE  # one trailing newline stripped, no more
    assert provider.get("c").password == "docker-pw"
    assert redactor.redact(f"x {VALUE} env-pw-long docker-pw") == f"x {MASK} {MASK} {MASK}"


def test_errors_name_the_secret_never_a_value(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        {
            "a": {"user": "u1", "password": "env:MISSING"},
            "b": {"user": "u2", "password": f"file:{tmp_path / 'nope.txt'}"},
            "c": {"user": "u3", "password": "env:EMPTY"},
        },
    )
    provider = SecretsProvider(config, {"EMPTY": ""}, redactor=Redactor())
    with pytest.raises(SecretError, match=r"secret 'a' \(env:MISSING\).*MISSING_FILE"):
        provider.get("a")
    with pytest.raises(SecretError, match=r"secret 'b' \(file:.*nope.txt\)"):
        provider.get("b")
    with pytest.raises(SecretError, match="empty"):
        provider.get("c")
    with pytest.raises(SecretError, match="not defined"):
        provider.get("zzz")


def test_plaintext_in_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="plaintext"):
        config_with(tmp_path, {"a": {"user": "u", "password": "hunter2"}})


class FakeKV:
    """Only the hvac client boundary is faked: no Vault server exists on this machine."""

    def __init__(self, store: dict[tuple[str, str], dict[str, str]]) -> None:
        self.store = store
        self.calls: list[tuple[str, str]] = []

    def read_secret_version(
        self, path: str, mount_point: str, raise_on_deleted_version: bool
    ) -> Any:
        self.calls.append((mount_point, path))
        if (mount_point, path) not in self.store:
            raise RuntimeError("InvalidPath")
        return {"data": {"data": self.store[(mount_point, path)]}}


class FakeClient:
    def __init__(self, kv: FakeKV) -> None:
        self.secrets = type("S", (), {"kv": type("K", (), {"v2": kv})()})()


def test_vault_kv2(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        {
            "a": {"user": "u", "password": "vault:secret/cloudsync/entra#password"},
            "b": {"user": "u", "password": "vault:secret/cloudsync/entra#nokey"},
            "c": {"user": "u", "password": "vault:secret/missing#password"},
        },
    )
    kv = FakeKV({("secret", "cloudsync/entra"): {"password": "vault-pw"}})
    made: list[tuple[str, str]] = []

    def factory(url: str, token: str) -> FakeClient:
        made.append((url, token))
        return FakeClient(kv)

    provider = SecretsProvider(
        config,
        {},
        redactor=Redactor(),
        vault_client_factory=factory,
        vault_addr="http://127.0.0.1:8200",
        vault_token="tok",
    )
    assert provider.get("a").password == "vault-pw"
    assert made == [("http://127.0.0.1:8200", "tok")]
    with pytest.raises(SecretError, match="key 'nokey' not found"):
        provider.get("b")
    with pytest.raises(SecretError, match="Vault read failed"):
        provider.get("c")
    no_env = SecretsProvider(config, {}, redactor=Redactor(), vault_client_factory=factory)
    with pytest.raises(SecretError, match="VAULT_ADDR and VAULT_TOKEN"):
        no_env.get("a")


def test_redactor_masks_encoded_forms() -> None:
    redactor = Redactor()
    redactor.add(VALUE)
    forms = [
        VALUE,
        json.dumps(VALUE)[1:-1],
        base64.b64encode(VALUE.encode()).decode(),
        base64.b64encode(VALUE.encode("utf-16-le")).decode(),
        VALUE.replace("'", "&apos;").replace('"', "&quot;"),
    ]
    for form in forms:
        assert redactor.redact(f"<{form}>") == f"<{MASK}>", form


def test_log_filter_redacts_messages_args_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    redactor = Redactor()
    redactor.add("topsecret")
    root = logging.getLogger()
    filt = install_log_redaction(redactor)
    caplog.handler.addFilter(filt)
    try:
        child = logging.getLogger("some.child")
        child.warning("login %s failed", "topsecret")
        try:
            raise ValueError("boom topsecret")
        except ValueError:
            child.exception("oops")
    finally:
        root.removeFilter(filt)
        for handler in root.handlers:
            handler.removeFilter(filt)
    text = caplog.text
    assert "topsecret" not in text and MASK in text
