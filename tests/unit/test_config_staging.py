"""The installer entry's staging source: push (default), share, url; strict values, the host's
override, and entries written before ``source`` existed."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from workers.domain.config import REPO_ROOT, ConfigError, installer_for, load_config
from workers.domain.validation import ValidationError, validate_share_path, validate_url
from workers.runbook.steps import stage_step

DEMO = REPO_ROOT / "config" / "demo"
UNC = "\\\\fs01\\install\\AADConnectProvisioningAgentSetup.exe"


def _config(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> Any:
    target = tmp_path / "cfg"
    shutil.copytree(DEMO, target)
    inventory = yaml.safe_load((DEMO / "inventory.yaml").read_text())
    mutate(inventory)
    (target / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    return load_config(target)


def _installer(inventory: dict[str, Any]) -> dict[str, Any]:
    return inventory["tenants"]["contoso"]["installer"]


def test_the_demo_pushes_a_file_next_to_its_inventory() -> None:
    config = load_config(DEMO)
    inst = config.tenants["contoso"].installer
    assert inst.source == "push"
    assert inst.path == str(DEMO / "AADConnectProvisioningAgentSetup.exe")
    assert Path(inst.path).is_file()
    share = installer_for(config.tenants["contoso"], config.host("SHARE01"))
    assert share.source == "share" and share.share_credential == "fileshare_reader"


def test_push_needs_a_worker_path_not_a_share(tmp_path: Path) -> None:
    def unc(inv: dict[str, Any]) -> None:
        _installer(inv).update(source="push", path=UNC)

    with pytest.raises(ConfigError, match="file on the worker"):
        _config(tmp_path, unc)


def test_a_source_needs_its_field_also_as_a_host_override(tmp_path: Path) -> None:
    def url_without_url(inv: dict[str, Any]) -> None:
        inv["hosts"]["SYNC01"]["installer_source"] = "url"

    with pytest.raises(ConfigError, match=r"installer\.url: is required for source: url"):
        _config(tmp_path, url_without_url)

    def unknown(inv: dict[str, Any]) -> None:
        _installer(inv)["source"] = "ftp"

    with pytest.raises(ConfigError, match="must be push, share or url"):
        _config(tmp_path / "b", unknown)


def test_an_unknown_share_credential_is_refused(tmp_path: Path) -> None:
    def mutate(inv: dict[str, Any]) -> None:
        _installer(inv)["share_credential"] = "nobody"

    with pytest.raises(ConfigError, match="secret 'nobody' is not defined"):
        _config(tmp_path, mutate)


def test_an_entry_from_before_source_reads_as_share_or_url(tmp_path: Path) -> None:
    def legacy(inv: dict[str, Any]) -> None:
        inv["tenants"]["contoso"]["installer"] = {
            "path": UNC,
            "sha256": _installer(inv)["sha256"],
        }

    inst = _config(tmp_path, legacy).tenants["contoso"].installer
    assert (inst.source, inst.share_path, inst.share_credential) == ("share", UNC, None)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://downloads.contoso.com/a.exe", "plain http"),
        ("https://user:pw@downloads.contoso.com/a.exe", "carries credentials"),
        ("https://downloads.contoso.com/a b.exe", "not an accepted URL"),
        ("https://downloads.contoso.com/a.exe';Remove-Item C:\\", "not an accepted URL"),
        ("https://localhost/a.exe", "not an accepted URL"),
        ("https://acct.blob.core.windows.net/c/a.exe?sv=2024&sig=abc", "has a query"),
    ],
)
def test_urls_are_validated_as_strictly_as_host_names(url: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        validate_url(url)


def test_share_paths_are_validated() -> None:
    assert validate_share_path(UNC) == UNC
    for bad in ("\\\\fs01\\install", "\\\\fs01\\in'stall\\a.exe", "fs01\\install\\a.exe"):
        with pytest.raises(ValidationError):
            validate_share_path(bad)


def test_each_source_renders_its_stage_script(tmp_path: Path) -> None:
    def mutate(inv: dict[str, Any]) -> None:
        _installer(inv)["url"] = (
            "https://downloads.contoso.com/c/AADConnectProvisioningAgentSetup.exe"
        )
        inv["hosts"]["SYNC02"]["installer_source"] = "url"

    config = _config(tmp_path, mutate)
    tenant = config.tenants["contoso"]
    push = stage_step(tenant, config.host("SYNC01"))
    assert push.upload is not None and push.credentials == ()
    assert "Copy-Item" not in push.script and "Invoke-WebRequest" not in push.script
    share = stage_step(tenant, config.host("SHARE01"))
    assert share.upload is None and share.credentials == ("fileshare_reader",)
    assert "-Credential $Secrets['fileshare_reader']" in share.script
    assert "Remove-PSDrive" in share.script
    url = stage_step(tenant, config.host("SYNC02"))
    assert "[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12" in (
        url.script
    )
    assert "-UseBasicParsing" in url.script and url.credentials == ()


def test_root_thumbprints_are_strict_and_reach_the_stage_script(tmp_path: Path) -> None:
    extra = "ab" * 20

    def roots(inv: dict[str, Any]) -> None:
        _installer(inv)["root_thumbprints"] = [extra]

    config = _config(tmp_path, roots)
    inst = config.tenants["contoso"].installer
    assert inst.root_thumbprints == (extra.upper(),)
    script = stage_step(config.tenants["contoso"], config.host("SYNC01")).script
    assert f"'{extra.upper()}'" in script and "'8F43288AD272F3103B6FB1428485EA3014C0BCFE'" in script

    def bad(inv: dict[str, Any]) -> None:
        _installer(inv)["root_thumbprints"] = ["8F43288A'; Remove-Item C:\\ -Recurse"]

    with pytest.raises(ConfigError, match="40 hex digits"):
        _config(tmp_path / "bad", bad)
