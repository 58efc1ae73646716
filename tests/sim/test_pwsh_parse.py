"""tree-sitter parses the seed document's PowerShell and the constructs the runbook uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator.pwsh.parser import first_error, is_incomplete, parse

SEED = Path(__file__).resolve().parents[1] / "data" / "how-to-install-pshell.blocks.md"
BOOTSTRAP = Path(__file__).resolve().parents[2] / "workers" / "runbook" / "bootstrap.ps1"


def seed_lines() -> list[str]:
    blocks = re.findall(r"```powershell\n(.*?)```", SEED.read_text(), flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_seed_has_the_install_sequence() -> None:
    lines = seed_lines()
    assert len(lines) >= 10
    assert any(line.startswith("Connect-AADCloudSyncAzureAD") for line in lines)


@pytest.mark.parametrize("line", seed_lines())
def test_every_seed_line_parses_without_error(line: str) -> None:
    assert first_error(parse(line).root_node) is None, str(parse(line).root_node)


EXTRA = [
    "try { throw 'x' } catch { $_.Exception.Message } finally { 'f' }",
    "$h = @{ a = 1; 'b' = 2 }\n$o = [ordered]@{ id = 'x'\n status = 'done' }",
    "Get-Service | Where-Object { $_.Status -eq 'Running' } | Select-Object -First 1 -ExpandProperty Name",  # noqa: E501
    '$x = "a $($y.Count) `n `" $z"',
    "@'\nhere\n'@",
    '@"\nhere $x\n"@',
    "$c = New-Object System.Management.Automation.PSCredential('u', (ConvertTo-SecureString 'p' -AsPlainText -Force))",  # noqa: E501
    "& ([scriptblock]::Create($t))",
    "foreach ($i in @(1,2)) { if ($i -gt 1) { break } else { continue } }",
    "[Console]::Out.WriteLine('@@X@@' + (ConvertTo-Json $r -Compress -Depth 6))",
]


@pytest.mark.parametrize("text", EXTRA)
def test_constructs_parse(text: str) -> None:
    assert first_error(parse(text).root_node) is None


def test_bootstrap_parses() -> None:
    assert first_error(parse(BOOTSTRAP.read_text()).root_node) is None


def test_incomplete_detection() -> None:
    assert is_incomplete("if ($true) {")
    assert is_incomplete("$h = @{")
    assert not is_incomplete("Get-Service WinRM")


def test_parse_is_cached() -> None:
    assert parse("Get-Date") is parse("Get-Date")
