"""The inventory's ``sim:`` mapping models a forest without a KDS root key (``kds_root_key:
false``): in the real ``cloudsync run`` console, an install on that tenant's host is blocked by
preflight, read over WinRM from the simulated forest, while the other tenant's forest keeps its
key."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import make_config_dir
from tests.e2e.test_console_watch import run_console

SCRIPT = """\
/cloudsync install NOKDS01 --domain contoso.com
/cloudsync install SYNC01 --domain contoso.com
"""


def _forest_without_key(inventory: dict, policy: dict) -> None:  # type: ignore[type-arg]
    inventory["tenants"]["nokds"] = dict(inventory["tenants"]["contoso"])
    inventory["hosts"] = {
        "NOKDS01": {"simulated": True, "tenant": "nokds", "sim": {"kds_root_key": False}},
        "SYNC01": {"simulated": True},
    }


def test_a_forest_without_a_kds_root_key_blocks_preflight(tmp_path: Path) -> None:
    config_dir = make_config_dir(tmp_path / "config", _forest_without_key)
    done = run_console(config_dir, tmp_path / "data", SCRIPT)
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = out.split("/cloudsync install SYNC01", 1)
    assert "no KDS root key was found in the forest" in first, first[-3000:]
    assert "no KDS root key" not in second, second[-3000:]
