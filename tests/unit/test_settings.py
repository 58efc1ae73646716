"""Settings are read once, in workers/settings.py, and documented exactly: README's
configuration table and .env.example list the variables ``KNOBS`` declares, no more, no fewer."""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

import pytest

from workers.domain.config import DEFAULT_CONFIG_DIR, REPO_ROOT
from workers.settings import KNOBS, Settings, env_names

ENV_NAME = re.compile(r"`([A-Z][A-Z0-9_]+)`")


def _readme_table() -> set[str]:
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index("## Configuration") :]
    rows = section[section.index("| variable | meaning |") :].split("\n\n", 1)[0].splitlines()
    names: set[str] = set()
    for row in rows[2:]:  # after the header and its |---| line
        first_column = row.strip().strip("|").split("|", 1)[0]
        names |= set(ENV_NAME.findall(first_column))
    return names


def _env_example() -> set[str]:
    text = (REPO_ROOT / ".env.example").read_text()
    settings_part = text.split("# --- Secret references", 1)[0]
    return set(re.findall(r"^([A-Z][A-Z0-9_]+)=", settings_part, re.M))


def test_readme_table_lists_exactly_what_settings_reads() -> None:
    documented, read = _readme_table(), set(env_names())
    assert not read - documented, f"read but not in README: {sorted(read - documented)}"
    assert not documented - read, f"in README but not read: {sorted(documented - read)}"


def test_env_example_lists_exactly_what_settings_reads() -> None:
    listed = _env_example()
    read = {knob.env for knob in KNOBS}  # the *_FILE forms are named in its comments
    assert listed == read, (sorted(read - listed), sorted(listed - read))


def test_one_field_per_knob() -> None:
    assert [k.field for k in KNOBS] == [f.name for f in fields(Settings)]
    assert len({k.env for k in KNOBS}) == len(KNOBS)
    assert all(k.doc for k in KNOBS)


def test_defaults_and_the_file_form(tmp_path: Path) -> None:
    defaults = Settings.from_env({})
    assert defaults.host_wait_s == 5.0 and defaults.max_parallel == 64
    assert defaults.metrics_port == 9100 and defaults.config_dir == DEFAULT_CONFIG_DIR
    assert defaults.broker_url == "redis://127.0.0.1:6379/0" and defaults.sim_endpoints == {}
    secret = tmp_path / "token"
    secret.write_text("xoxb-from-file\n")
    settings = Settings.from_env(
        {
            "SLACK_BOT_TOKEN_FILE": str(secret),
            "VAULT_TOKEN": "hvs.secret",
            "CLOUDSYNC_HOST_WAIT": "1.5",
            "CLOUDSYNC_SIM_ENDPOINTS": "dc01=127.0.0.1:1",
        }
    )
    assert settings.slack_bot_token == "xoxb-from-file" and settings.has_slack
    assert settings.host_wait_s == 1.5 and settings.sim_endpoints == {"DC01": "127.0.0.1:1"}
    assert "xoxb-from-file" not in repr(settings) and "hvs.secret" not in repr(settings)


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(ValueError, match="CLOUDSYNC_MAX_PARALLEL='many'"):
        Settings.from_env({"CLOUDSYNC_MAX_PARALLEL": "many"})


# Reads of the process environment outside workers/settings.py that are not settings:
ALLOWED_READS = {
    # env: secret references, named by secrets.yaml, read when a step needs them
    "workers/domain/secrets.py": 1,
    # the local stack passes its environment on to the workers it starts
    "bot/local/stack.py": 1,
}


def _environment_reads(path: Path) -> int:
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    reads = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            parent = parents.get(node)
            writes = isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Store)
            reads += not writes
        elif isinstance(node, ast.Name) and node.id == "getenv":
            reads += 1
    return reads


def test_the_environment_is_read_only_in_settings() -> None:
    found = {}
    for package in ("bot", "workers"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if relative == "workers/settings.py":
                continue
            reads = _environment_reads(path)
            if reads:
                found[relative] = reads
    assert found == ALLOWED_READS
