"""proxy set / clear: the grammar, the strict validation of URL and bypass list, the stored
form, the plan and the card an approver sees."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import blocks as B
from bot.grammar import Change, Plan, UsageError, parse
from bot.render import block_texts
from workers.domain.config import Config, load_config
from workers.domain.model import ChangeKind, ChangeSpec, DomainSpec, Request
from workers.domain.validation import (
    ValidationError,
    validate_bypass,
    validate_bypass_entry,
    validate_change,
    validate_proxy_url,
)
from workers.runbook.plan import render_plan
from workers.runbook.powershell import quote
from workers.runbook.proxy import bypass_regex
from workers.runbook.steps import AGENT_CONFIG, build_steps

HOSTS = ["SYNC01", "SYNC02"]
DEMO = Path(__file__).resolve().parents[2] / "config" / "demo"

LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
NAMES = (
    st.lists(LABEL, min_size=1, max_size=4)
    .map(".".join)
    .filter(lambda n: not re.fullmatch(r"[\d.]+", n))
)
IPV4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
HOSTNAMES = st.one_of(NAMES, IPV4)
ENTRIES = st.one_of(NAMES, IPV4, NAMES.map(lambda n: "*." + n))


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(DEMO)


def change_of(text: str) -> ChangeSpec:
    result = parse(text, HOSTS)
    assert isinstance(result, Change | Plan), result
    return result.change


def refusal(text: str) -> str:
    result = parse(text, HOSTS)
    assert isinstance(result, UsageError), result
    assert result.topic == "proxy"
    return result.message


# --- grammar ------------------------------------------------------------------------------------


def test_proxy_set_and_clear_parse_to_their_changes() -> None:
    change = change_of(
        "proxy set sync01,SYNC02 --url HTTP://Proxy.Contoso.com:8080/ "
        "--bypass *.contoso.com,10.0.0.5,*.contoso.com"
    )
    assert change.kind is ChangeKind.PROXY_SET
    assert change.hosts == ("SYNC01", "SYNC02")
    assert change.proxy_url == "http://proxy.contoso.com:8080"
    assert change.proxy_bypass == ("*.contoso.com", "10.0.0.5")  # duplicates dropped
    validate_change(change)
    clear = change_of("proxy clear SYNC01")
    assert (clear.kind, clear.hosts, clear.proxy_url) == (ChangeKind.PROXY_CLEAR, ("SYNC01",), None)
    assert (
        change_of("plan proxy set SYNC01 --url http://10.1.2.3:3128").kind is ChangeKind.PROXY_SET
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("proxy SYNC01", "Say `set` or `clear`"),
        ("proxy set SYNC01", "`--url http://HOST:PORT` is required"),
        ("proxy set --url http://p:8080", "Name at least one host"),
        ("proxy set SYNC09 --url http://p:8080", "Unknown host"),
        ("proxy clear SYNC01 --url http://p:8080", "takes no `--url`"),
        ("proxy set SYNC01 --url http://p:8080 --bypass ,", "needs at least one"),
        ("proxy set SYNC01 --url http://p:8080 --port 1", "has no option"),
    ],
)
def test_proxy_usage_errors_say_what_is_wrong(text: str, words: str) -> None:
    assert words in refusal(text)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://admin:Secret1@proxy:8080", "carries a user name or password"),
        ("http://user@proxy:8080", "carries a user name or password"),
        ("http://proxy:8080/'+$(Remove-Item)+'", "quote"),
        ('http://proxy:8080/"><script>', "quote"),
        ("http://proxy:8080/path", "has a path"),
        ("http://proxy:8080/?a=b", "query or fragment"),
        ("http://proxy:8080#x", "query or fragment"),
        ("ftp://proxy:21", "not an http:// URL"),
        ("proxy:8080", "not an http:// URL"),
        ("https://proxy.contoso.com:8443", "the agent (.NET Framework) reaches its proxy only"),
        ("http://proxy.contoso.com", "names no port"),
        ("http://proxy:0", "the port must be 1-65535"),
        ("http://proxy:65536", "the port must be 1-65535"),
        ("http://proxy:", "not an accepted proxy URL"),
        ("http://300.1.1.1:80", "not a DNS name or IPv4 address"),
        ("http://-proxy:80", "not a DNS name or IPv4 address"),
        ("http://pro_xy:80", "not an accepted proxy URL"),
        ("http://[::1]:80", "not an accepted proxy URL"),
        ("http://proxy:80$(calc)", "not an accepted proxy URL"),
        ("http://proxy;calc:80", "not an accepted proxy URL"),
        ("http://pro\u212axy:80", "outside ASCII"),  # KELVIN SIGN lower-cases to 'k'
        ("http://pr\u043exy:80", "outside ASCII"),  # a Cyrillic o
    ],
)
def test_hostile_proxy_urls_are_refused_at_parse_time(url: str, words: str) -> None:
    message = refusal(f"proxy set SYNC01 --url {url}")
    assert words in message
    with pytest.raises(ValidationError):
        validate_proxy_url(url)


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("<local>", "local names always bypass"),
        ("local", "local names always bypass"),  # <local> once Slack took its brackets off
        ("contoso\\.com$", "not a bypass entry"),
        ("[a-z]+.contoso.com", "not a bypass entry"),
        ("a*b.contoso.com", "not a bypass entry"),
        ("*.10.0.0.1", "not a bypass entry"),
        ("*", "not a bypass entry"),
        ("host'name", "not a bypass entry"),
        ("10.0.0.256", "not a bypass entry"),
    ],
)
def test_bypass_entries_outside_the_safe_subset_are_refused(entry: str, words: str) -> None:
    assert words in refusal(f"proxy set SYNC01 --url http://p:8080 --bypass ok.com,{entry}")


def test_the_bypass_list_is_bounded() -> None:
    entries = ",".join(f"h{i}.contoso.com" for i in range(21))
    assert "at most 20" in refusal(f"proxy set SYNC01 --url http://p:8080 --bypass {entries}")


# --- validation, with hypothesis ------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    scheme=st.sampled_from(["http", "HTTP", "Http"]),
    host=HOSTNAMES,
    port=st.integers(1, 65535),
    slash=st.booleans(),
)
def test_every_accepted_url_round_trips(
    scheme: str, host: str, port: int | None, slash: bool
) -> None:
    raw = f"{scheme}://{host}:{port}" + ("/" if slash else "")
    url = validate_proxy_url(raw)
    assert url == f"{scheme.lower()}://{host}:{port}"
    assert validate_proxy_url(url) == url  # the stored form is a fixed point
    change = change_of(f"proxy set SYNC01 --url {raw}")
    assert change.proxy_url == url
    assert ChangeSpec.from_dict(change.to_dict()) == change
    validate_change(change)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    good=st.sampled_from(["http://proxy:8080", "http://10.0.0.1:3128"]),
    at=st.integers(0, 40),
    bad=st.sampled_from([*" \t\n'\"`<>\\{}|^@?#;$()&%*,[]\u2019\u00a0", "/x", "\r\n"]),
)
def test_any_injected_character_is_refused_with_a_message(good: str, at: int, bad: str) -> None:
    raw = good[: min(at, len(good))] + bad + good[min(at, len(good)) :]
    try:
        url = validate_proxy_url(raw)
    except ValidationError as exc:
        assert str(exc).startswith(("'", '"'))  # it names the value, then the problem
        return
    # what is accepted anyway is still in the strict form (e.g. a trailing '/')
    assert re.fullmatch(r"http://[a-z0-9.-]+:\d{1,5}", url), (raw, url)


@settings(max_examples=300, deadline=None)
@given(entries=st.lists(ENTRIES, min_size=1, max_size=8))
def test_every_accepted_bypass_list_round_trips(entries: list[str]) -> None:
    bypass = validate_bypass(entries)
    assert bypass == tuple(dict.fromkeys(e.lower() for e in entries))
    assert validate_bypass(list(bypass)) == bypass
    change = change_of(f"proxy set SYNC01 --url http://p:8080 --bypass {','.join(entries)}")
    assert change.proxy_bypass == bypass
    assert ChangeSpec.from_dict(change.to_dict()) == change


@settings(max_examples=300, deadline=None)
@given(entry=ENTRIES, other=NAMES, port=st.one_of(st.none(), st.integers(1, 65535)))
def test_the_written_regex_bypasses_exactly_the_named_hosts(
    entry: str, other: str, port: int | None
) -> None:
    """.NET matches each regex against scheme://host[:port] (WebProxy.IsMatchInBypassList);
    Python's re agrees with .NET's on this subset (anchors, escapes, classes, groups)."""
    rx = re.compile(bypass_regex(validate_bypass_entry(entry)), re.IGNORECASE)
    suffix = f":{port}" if port else ""
    if entry.startswith("*."):
        base = entry[2:]
        assert rx.search(f"https://{other}.{base}{suffix}")
        assert not rx.search(f"https://{base}{suffix}")  # subdomains only, as WinINet's *.x
        assert not rx.search(f"https://{other}.{base}.evil.example{suffix}")
    else:
        assert rx.search(f"http://{entry}{suffix}") and rx.search(f"https://{entry.upper()}")
        assert not rx.search(f"https://{entry}.evil.example{suffix}")
        assert not rx.search(f"https://x{entry}{suffix}")
    assert not rx.search(f"https://{other}-{entry.lstrip('*.')}.example{suffix}")


def test_the_stored_form_of_other_changes_is_unchanged() -> None:
    """New fields only when set: an install's dict (and so its approval hash) is as before."""
    install = ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), (DomainSpec("contoso.com"),))
    assert "proxy_url" not in install.to_dict() and "proxy_bypass" not in install.to_dict()
    old = {"kind": "restart", "hosts": ["SYNC01"], "domains": [], "cloud": "public"}
    assert ChangeSpec.from_dict(old).proxy_bypass == ()


def test_a_stored_change_that_is_not_in_its_strict_form_is_refused() -> None:
    for bad in (
        ChangeSpec(ChangeKind.PROXY_SET, ("SYNC01",), proxy_url="http://a:b@p:8080"),
        ChangeSpec(ChangeKind.PROXY_SET, ("SYNC01",), proxy_url="HTTP://P:8080"),
        ChangeSpec(ChangeKind.PROXY_SET, ("SYNC01",), proxy_url=None),
        ChangeSpec(ChangeKind.PROXY_SET, ("SYNC01",), proxy_url="http://p:1", proxy_bypass=("x$",)),
    ):
        with pytest.raises(ValidationError):
            validate_change(bad)


# --- steps, plan and card -------------------------------------------------------------------------


def test_proxy_steps_are_data_with_a_check_beside_each_change(config: Config) -> None:
    change = change_of(
        "proxy set SYNC01 --url http://proxy.contoso.com:8080 --bypass *.contoso.com"
    )
    host = config.host("SYNC01")
    steps = build_steps(change, host, config.tenants[host.tenant])
    assert [s.id for s in steps] == ["preflight", "proxy_backup", "proxy", "restart", "verify"]
    by_id = {s.id: s for s in steps}
    for step in steps:
        if step.kind == "change":
            assert step.check or step.check_when_idle, step.id
    assert by_id["proxy_backup"].check == by_id["proxy"].check
    assert by_id["verify"].kind == "read"
    edit = by_id["proxy"].script
    assert quote("http://proxy.contoso.com:8080") in edit
    assert quote(bypass_regex("*.contoso.com")) in edit
    assert "SetAttribute('proxyaddress', " + quote("http://proxy.contoso.com:8080") in edit
    assert quote(AGENT_CONFIG) in edit and "$doc.Save($path)" in edit
    assert "<proxy" not in edit.replace("'<configuration>'", "")  # no XML text is written
    clear = build_steps(change_of("proxy clear SYNC01"), host, config.tenants[host.tenant])
    assert [s.id for s in clear] == ["preflight", "proxy_backup", "proxy", "restart", "verify"]
    assert "RemoveChild($dp)" in clear[2].script


def test_the_plan_and_the_card_show_the_url_and_bypass_list(config: Config) -> None:
    change = change_of(
        "proxy set SYNC01 --url http://proxy.contoso.com:8080 --bypass *.corp.local,10.0.0.5"
    )
    plan = render_plan(change, config)
    assert plan.ok
    text = B.plan_text(change, plan)
    assert "http://proxy.contoso.com:8080" in text and "*.corp.local" in text
    request = Request(
        id="CS-0007", change=change, requester="U1", channel="C1", created_at=1_700_000_000.0
    )
    steps = {"SYNC01": [(s.id, s.title) for s in plan.hosts[0].steps]}
    _text, blocks = B.approval_card(request, plan_steps=steps, preflight={})
    body = "\n".join(block_texts(blocks))
    assert "Set agent proxy" in body
    assert "Proxy: `http://proxy.contoso.com:8080`" in body
    assert "`*.corp.local`, `10.0.0.5`" in body


def test_retry_from_names_the_proxy_steps(config: Config) -> None:
    from bot.grammar import Retry
    from workers.runbook.steps import PROXY_ORDER

    change = change_of("proxy set SYNC01 --url http://p:8080")
    host = config.host("SYNC01")
    assert (
        tuple(s.id for s in build_steps(change, host, config.tenants[host.tenant])) == PROXY_ORDER
    )
    for step in PROXY_ORDER:
        assert parse(f"retry CS-0001 --from {step}", HOSTS) == Retry("CS-0001", step)
    kept = build_steps(change, host, config.tenants[host.tenant], from_step="proxy")
    assert [s.id for s in kept] == ["preflight", "proxy", "restart", "verify"]
    bad = parse("retry CS-0001 --from proxy_edit", HOSTS)
    assert isinstance(bad, UsageError) and "proxy_backup, proxy" in bad.message
