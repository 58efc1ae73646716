"""Every cmdlet the simulator offers earns its place: something we ship or test calls it.

A cmdlet is reached when its name appears (case-insensitive, as a whole word: ``Get-Item`` does
not count for ``Get-ItemProperty``) in a runbook file (``workers/runbook/``: the step scripts,
preflight, fleet, bootstrap.ps1, ...), in the seed's install blocks
(``tests/data/how-to-install-pshell.blocks.md``), or in a test. A cmdlet nothing reaches is
code to maintain that no behaviour depends on: delete it (and any alias of it).
"""

from __future__ import annotations

import re
from pathlib import Path

import simulator.pwsh.cmdlets  # noqa: F401  (registers every cmdlet)
from simulator.pwsh.commands import ALIASES, REGISTRY

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "workers" / "runbook"
SEED = ROOT / "tests" / "data" / "how-to-install-pshell.blocks.md"
TESTS = ROOT / "tests"


def _corpus() -> str:
    """The text of every place that may reach a cmdlet (this file excluded)."""
    files = [p for p in sorted(RUNBOOK.rglob("*")) if p.is_file() and p.suffix in (".py", ".ps1")]
    files.append(SEED)
    files += [p for p in sorted(TESTS.rglob("*.py")) if p.resolve() != Path(__file__).resolve()]
    return "\n".join(p.read_text(encoding="utf-8") for p in files)


def _mentions(name: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE) is not None


def test_every_cmdlet_is_reached() -> None:
    corpus = _corpus()
    names = sorted(spec.name for spec in REGISTRY.values())
    assert len(names) > 20, "the registry looks empty: are the cmdlet modules imported?"
    unreached = [name for name in names if not _mentions(name, corpus)]
    assert not unreached, (
        "cmdlets that no runbook file, seed block or test reaches (delete them or use them): "
        + ", ".join(unreached)
    )


def test_every_alias_names_an_offered_cmdlet() -> None:
    dangling = sorted(a for a, target in ALIASES.items() if target.lower() not in REGISTRY)
    assert not dangling, f"aliases of cmdlets the simulator does not offer: {dangling}"


def test_word_match_is_whole_word_and_case_insensitive() -> None:
    assert _mentions("Get-Item", "$x = get-item -Path C:\\")
    assert not _mentions("Get-Item", "Get-ItemProperty -Path HKLM:\\SOFTWARE")
    assert not _mentions("Get-Item", "MyGet-Item")
