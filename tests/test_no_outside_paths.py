"""A user's clone has nothing beside it: no test, benchmark or package names a path outside it.

Refused: string literals that start at a root folder of a person's machine (``/work``,
``/home``, ``/root``, ``/opt``...), the clone's own parent folder spelled out, and relative
paths that climb out of the repository to the shared folders (``../shared``).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ["tests", "bench", "bot", "workers", "simulator", ".ci", "Makefile"]
# Roots that only exist on somebody's machine (our development machines keep the seed and
# briefs under /work); container paths (/app, /data, /run/secrets) and /tmp are fine.
LITERAL = re.compile(
    r"""["'](/(?:work|home|root|opt|srv|mnt|media|Users|shared|briefs)\b[^"']*)["']"""
)
CLIMB = re.compile(r"""(?:["'/\s]|^)\.\./(?:\.\./)*(?:shared|briefs|seed|reference)\b""")


def scanned_files() -> list[Path]:
    files: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix in {".py", ".sh", ".ps1", ".yml", ".yaml", ".toml", ".md", ""}
                and "__pycache__" not in p.parts
            ]
    return files


def test_no_file_names_a_path_outside_the_repository() -> None:
    offenders = []
    for path in scanned_files():
        text = path.read_text(errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            if LITERAL.search(line) or CLIMB.search(line) or str(ROOT.parent) + "/" in line:
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()[:100]}")
    assert not offenders, "paths outside the repository:\n" + "\n".join(offenders)


def test_the_scan_sees_what_it_must_refuse() -> None:
    up = ".."  # spelled in pieces so that this file does not trip the scan itself
    assert LITERAL.search('SEED = Path("/' + 'work/shared/seed/how-to-install-pshell.md")')
    assert LITERAL.search("p = '/" + "home/me/briefs/bootstrap.ps1'")
    assert CLIMB.search('open("' + up + "/" + 'shared/seed/x.md")')
    assert not LITERAL.search('Path("/' + 'tmp/x")')  # in pieces: a clone may live in /tmp
    assert not CLIMB.search("a/../b")
