"""config/example and docker-compose.yml agree: every secret the example references from a file
is mounted into the worker (a missing mount let a run start and stop half-way)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import yaml

from workers.domain.config import REPO_ROOT, load_config

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
ENV_EXAMPLE = (REPO_ROOT / ".env.example").read_text()
SECRETS_DIR = PurePosixPath("/run/secrets")  # where Docker mounts a service's secrets


def _worker_secrets() -> set[str]:
    worker = COMPOSE["services"]["worker"]
    names = {s if isinstance(s, str) else s["source"] for s in worker.get("secrets", [])}
    assert names <= set(COMPOSE["secrets"]), "the worker names a secret compose does not define"
    return names


def _mounted(path: str) -> str | None:
    """The compose secret name behind ``/run/secrets/NAME``, else None."""
    pure = PurePosixPath(path)
    return pure.name if pure.parent == SECRETS_DIR else None


def test_every_file_secret_of_the_example_is_mounted_into_the_worker() -> None:
    config = load_config(REPO_ROOT / "config" / "example")
    mounted = _worker_secrets()
    files = {
        name: ref.password_ref[5:]
        for name, ref in config.secrets.items()
        if ref.password_ref.startswith("file:")
    }
    assert files, "the example has file: secrets (a Docker secret each)"
    for name, path in files.items():
        assert _mounted(path) in mounted, f"secret '{name}' reads {path}: not mounted in compose"


def test_every_env_secret_of_the_example_has_a_mounted_file_variable() -> None:
    config = load_config(REPO_ROOT / "config" / "example")
    mounted = _worker_secrets()
    documented = dict(re.findall(r"^([A-Z][A-Z0-9_]+)=(\S*)", ENV_EXAMPLE, re.M))
    for name, ref in config.secrets.items():
        if not ref.password_ref.startswith("env:"):
            continue
        var = ref.password_ref[4:]
        file_var = f"{var}_FILE"
        assert file_var in documented, f"secret '{name}': .env.example lacks {file_var}"
        assert _mounted(documented[file_var]) in mounted, (name, documented[file_var])
