"""Secret values are masked where they stand as values, never inside ordinary longer words; and
a secret shorter than 8 characters is refused when it is read and at start-up, in one line that
names the secret and its reference, never its value."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from tests.runbook.test_secrets import config_with
from tests.unit.test_startup_errors import _cli, _one_paragraph
from workers.domain.config import REPO_ROOT
from workers.domain.redact import MASK, Redactor
from workers.domain.secrets import SecretsProvider, SecretTooShort, short_secret


def test_whole_values_are_masked_not_parts_of_longer_words() -> None:
    redactor = Redactor()
    redactor.add("Provision")
    assert redactor.redact("Provisioning agent installed") == "Provisioning agent installed"
    assert redactor.redact("Provision10 Provision_ xProvision") == (
        f"Provision10 {MASK}_ xProvision"
    )
    for text in ("pwd=Provision;", "'Provision'", '"Provision"', "Provision", "(Provision)"):
        assert "Provision" not in redactor.redact(text), text
    # CLIXML writes a line break as _x000D__x000A_ right after the text: still masked
    assert redactor.redact("<S S='Error'>Provision_x000D__x000A_</S>") == (
        f"<S S='Error'>{MASK}_x000D__x000A_</S>"
    )


def test_values_with_punctuation_edges_and_encoded_forms() -> None:
    redactor = Redactor()
    value = "!Winter-2026'"
    redactor.add(value)
    assert redactor.redact(f"abc{value}def") == f"abc{MASK}def"  # its own edges are not letters
    assert redactor.redact(json.dumps({"p": value})) == json.dumps({"p": MASK})
    assert redactor.redact("x!Winter-2026&apos;y") == f"x{MASK}y"
    encoded = base64.b64encode(value.encode("utf-16-le")).decode()
    assert redactor.redact(f"-EncodedCommand AAAA{encoded}") == f"-EncodedCommand AAAA{MASK}"


def test_a_secret_that_contains_another_is_masked_whole() -> None:
    redactor = Redactor()
    redactor.add("Summer-Pass")
    redactor.add("Summer-Pass-2026")
    assert redactor.redact("a Summer-Pass-2026 b Summer-Pass c") == f"a {MASK} b {MASK} c"


def test_short_secrets_are_refused_by_name_and_reference(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        {
            "a": {"user": "u1", "password": "env:PW_A"},
            "b": {"user": "u2", "password": "env:PW_B"},
        },
    )
    redactor = Redactor()
    provider = SecretsProvider(
        config, {"PW_A": "install", "PW_B": "Long-Enough-1"}, redactor=redactor
    )
    with pytest.raises(SecretTooShort) as short:
        provider.get("a")
    assert str(short.value) == (
        "secret 'a' (env:PW_A) is shorter than 8 characters: use a longer password"
    )
    assert short.value.public == "secret 'a' is shorter than 8 characters"
    assert "install" not in redactor  # never learned: "install succeeded" stays readable
    assert redactor.redact("install succeeded") == "install succeeded"
    assert short_secret(provider.for_run()) == str(short.value)
    unreadable = SecretsProvider(config, {"PW_B": "Long-Enough-1"}, redactor=redactor)
    assert short_secret(unreadable) is None  # not readable here: preflight names it


def test_start_up_refuses_a_short_secret_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config" / "demo", config)
    (config / "secrets" / "winrm.txt").write_text("Pa55w0\n", encoding="utf-8")
    code, err = _cli(tmp_path, "worker", CLOUDSYNC_CONFIG=str(config))
    line = _one_paragraph(err)
    assert code == 2
    assert line.startswith("cloudsync worker: secret 'winrm' (file:")
    assert line.endswith("/secrets/winrm.txt) is shorter than 8 characters: use a longer password")
    assert "Pa55w0" not in err


def test_a_value_right_after_an_escape_is_still_masked() -> None:
    """An escape's last character is a letter or digit glued to the value: no word edge, yet the
    value starts there (a trace or JSON text read back with its escapes, a URL)."""
    from workers.domain.redact import MASK, Redactor

    redactor = Redactor()
    redactor.add("Provision1")
    for text in ("x\\nProvision1", "x\\tProvision1", "a`nProvision1", "x%20Provision1"):
        assert redactor.redact(text).endswith(MASK), text
    assert redactor.redact("\\u00e9Provision1") == "\\u00e9" + MASK
    assert redactor.redact("xProvision1 Provision10") == "xProvision1 Provision10"
