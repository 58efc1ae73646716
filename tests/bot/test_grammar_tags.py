"""Fleet-sized requests: ``tag:NAME`` expands, when the command is parsed, to the hosts the
inventory tag holds now, up to the policy's max_hosts_per_request; the request keeps the names."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from bot.grammar import Change, Plan, UsageError, inventory_tags, parse
from workers.domain.config import REPO_ROOT, load_config

FLEET = tuple(f"PROD{i:02d}" for i in range(40))
HOSTS = (*FLEET, "LAB01", "SYNC01")
TAGS = {"prod": FLEET, "lab": ("LAB01",)}


def test_a_tag_expands_to_its_hosts_in_inventory_order() -> None:
    parsed = parse("install tag:prod,SYNC01 --domain contoso.com", HOSTS, TAGS, max_hosts=50)
    assert isinstance(parsed, Change)
    assert parsed.change.hosts == (*FLEET, "SYNC01")  # names, not the tag
    again = parse("install tag:PROD PROD03 --domain contoso.com", HOSTS, TAGS, max_hosts=50)
    assert isinstance(again, Change) and again.change.hosts == FLEET  # deduplicated
    plan = parse("plan install tag:lab --domain contoso.com", HOSTS, TAGS, max_hosts=50)
    assert isinstance(plan, Plan) and plan.change.hosts == ("LAB01",)


def test_the_policy_limit_bounds_the_expansion() -> None:
    parsed = parse("install tag:prod --domain contoso.com", HOSTS, TAGS, max_hosts=30)
    assert isinstance(parsed, UsageError)
    assert "At most 30 hosts per request" in parsed.message


def test_unknown_or_malformed_tags_are_refused() -> None:
    unknown = parse("install tag:nope --domain contoso.com", HOSTS, TAGS, max_hosts=50)
    assert isinstance(unknown, UsageError) and "No host has the tag" in unknown.message
    assert "tag:prod" in unknown.message
    bad = parse("install tag:<!here> --domain contoso.com", HOSTS, TAGS, max_hosts=50)
    assert isinstance(bad, UsageError) and "<!here>" not in bad.message
    without = parse("install tag:prod --domain contoso.com", HOSTS)  # no tags given
    assert isinstance(without, UsageError)


def test_named_hosts_stay_capped_without_a_tag() -> None:
    many = ",".join(FLEET[:11])
    parsed = parse(f"install {many} --domain contoso.com", HOSTS, TAGS, max_hosts=50)
    assert isinstance(parsed, UsageError) and "At most 10 hosts named" in parsed.message


def test_policy_accepts_the_limit_and_tags_come_from_the_inventory(tmp_path: Path) -> None:
    folder = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config" / "demo", folder)
    policy = yaml.safe_load((folder / "policy.yaml").read_text())
    policy["policy"]["max_hosts_per_request"] = 120
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy))
    config = load_config(folder)
    assert config.policy.max_hosts_per_request == 120
    tags = inventory_tags(config.hosts)
    assert tags["prod"][:3] == ("SYNC01", "SYNC02", "SYNC03")
    assert load_config(REPO_ROOT / "config" / "demo").policy.max_hosts_per_request == 50
