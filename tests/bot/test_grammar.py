"""The slash-command grammar: every subcommand and option, every error, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.grammar import (
    MAX_HOSTS,
    STEP_IDS,
    USAGES,
    Agents,
    Cancel,
    Change,
    Check,
    Help,
    List,
    Plan,
    Retry,
    Status,
    UsageError,
    parse,
)
from bot.help import help_text
from workers.domain.model import ChangeKind, ChangeSpec, Cloud, DomainSpec
from workers.domain.validation import (
    validate_dc,
    validate_domain,
    validate_gmsa,
    validate_host_name,
    validate_permission_type,
    validate_request_id,
)

HOSTS = ("SYNC01", "SYNC02", "SYNC03", "OLDTLS01", "MFA01")


def change_of(text: str) -> ChangeSpec:
    result = parse(text, HOSTS)
    assert isinstance(result, Change | Plan), result
    return result.change


def error_of(text: str, hosts: tuple[str, ...] = HOSTS) -> str:
    result = parse(text, hosts)
    assert isinstance(result, UsageError), result
    return result.message


def assert_shows_usage(message: str, topic: str) -> None:
    usage = USAGES[topic]
    assert f"Usage: `/cloudsync {usage.form}`" in message
    assert f"Example: `/cloudsync {usage.example}`" in message


# --- install --------------------------------------------------------------------------------


def test_install_minimal() -> None:
    change = change_of("install SYNC01 --domain contoso.com")
    assert change == ChangeSpec(
        kind=ChangeKind.INSTALL, hosts=("SYNC01",), domains=(DomainSpec("contoso.com"),)
    )


def test_install_every_option() -> None:
    change = change_of(
        "install sync01,Sync02 --domain Contoso.com:DC1.contoso.com,dc2 --domain fabrikam.com "
        "--gmsa provAgent --cloud USGOV --writeback --permissions basicread,PasswordHashSync"
    )
    assert change.kind is ChangeKind.INSTALL
    assert change.hosts == ("SYNC01", "SYNC02")
    assert change.domains == (
        DomainSpec("contoso.com", ("dc1.contoso.com", "dc2")),
        DomainSpec("fabrikam.com"),
    )
    assert change.gmsa == "provAgent$"
    assert change.cloud is Cloud.USGOV
    assert change.writeback is True
    assert change.permissions == ("BasicRead", "PasswordHashSync")


def test_install_equals_form_and_spaced_host_list() -> None:
    change = change_of("install SYNC01, SYNC02 SYNC01 --domain=contoso.com --cloud=public")
    assert change.hosts == ("SYNC01", "SYNC02")  # duplicates removed, order kept
    assert change.cloud is Cloud.PUBLIC


def test_custom_gmsa_without_permissions_carries_empty_tuple() -> None:
    change = change_of("install SYNC01 --domain contoso.com --gmsa myGmsa$")
    assert change.gmsa == "myGmsa$"
    assert change.permissions == ()


def test_slack_autocorrected_dash_and_auto_links_are_undone() -> None:
    change = change_of("install SYNC01 \u2014domain <http://contoso.com|contoso.com>")
    assert change.domains == (DomainSpec("contoso.com"),)


def test_install_without_domain_is_an_error() -> None:
    message = error_of("install SYNC01")
    assert "`--domain` is required" in message
    assert_shows_usage(message, "install")


def test_unknown_host_lists_known_hosts() -> None:
    message = error_of("install NOPE --domain contoso.com")
    assert "Unknown host 'NOPE'. Known hosts: MFA01, OLDTLS01, SYNC01, SYNC02, SYNC03." in message


def test_known_host_list_is_capped() -> None:
    many = tuple(f"H{i:02d}" for i in range(30))
    message = error_of("check NOPE", many)
    assert "H09" in message and "H10" not in message
    assert "and 20 more" in message


def test_too_many_hosts() -> None:
    many = tuple(f"H{i:02d}" for i in range(MAX_HOSTS + 1))
    message = error_of(f"install {','.join(many)} --domain contoso.com", many)
    assert f"At most {MAX_HOSTS} hosts" in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "install SYNC01 --domain contoso.com --gmsa a --gmsa b",
            "`--gmsa` is given more than once",
        ),
        ("install SYNC01 --domain contoso.com --cloud mars", "`--cloud` must be public or usgov"),
        ("install SYNC01 --domain contoso.com --gmsa", "`--gmsa` needs a value"),
        ("install SYNC01 --domain", "`--domain` needs a value"),
        ("install SYNC01 --domain contoso.com --host SYNC02", "has no option '--host'"),
        ("install SYNC01 --domain contoso.com --writeback=yes", "takes no value"),
        ("install SYNC01 --domain bad_domain", "is not a valid domain"),
        ("install SYNC01 --domain contoso.com:", "no domain controllers"),
        ("install SYNC01 --domain contoso.com:dc_1", "not a valid domain controller"),
        ("install SYNC01 --domain a.com,b.com", "give each domain its own `--domain`"),
        ("install SYNC01 --domain a.com --domain A.com", "is given twice"),
        ("install SYNC01 --domain contoso.com --gmsa bad/name", "not a valid gMSA"),
        ("install SYNC01 --domain contoso.com --permissions Root", "not a permission type"),
        ("install bad_host --domain contoso.com", "not a valid host name"),
        ("install --domain contoso.com", "Name at least one host"),
    ],
)
def test_install_errors_name_the_problem_and_the_form(text: str, problem: str) -> None:
    message = error_of(text)
    assert problem in message
    assert_shows_usage(message, "install")


# --- other changes --------------------------------------------------------------------------


def test_writeback_enable_and_disable() -> None:
    on = change_of("writeback enable --host sync01")
    off = change_of("writeback DISABLE --host=SYNC02")
    assert (on.kind, on.hosts, on.writeback) == (ChangeKind.WRITEBACK, ("SYNC01",), True)
    assert (off.hosts, off.writeback) == (("SYNC02",), False)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("writeback", "Say `enable` or `disable`"),
        ("writeback on --host SYNC01", "Say `enable` or `disable` (got 'on')"),
        ("writeback enable", "`--host HOST` is required"),
        ("writeback enable SYNC01", "name the host with `--host HOST`"),
        ("writeback enable --host SYNC01,SYNC02", "takes one host"),
        ("writeback enable --host SYNC01 --host SYNC02", "given more than once"),
    ],
)
def test_writeback_errors(text: str, problem: str) -> None:
    message = error_of(text)
    assert problem in message
    assert_shows_usage(message, "writeback")


def test_domain_add() -> None:
    change = change_of("domain add SYNC01 --domain fabrikam.com:dc1.fabrikam.com")
    assert change.kind is ChangeKind.DOMAIN_ADD
    assert change.hosts == ("SYNC01",)
    assert change.domains == (DomainSpec("fabrikam.com", ("dc1.fabrikam.com",)),)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("domain remove SYNC01 --domain a.com", "`domain` takes `add` (got 'remove')"),
        ("domain add --domain a.com", "Name the host after `domain add`"),
        ("domain add SYNC01", "`--domain` is required"),
        ("domain add SYNC01 SYNC02 --domain a.com", "Unexpected 'SYNC02'"),
    ],
)
def test_domain_add_errors(text: str, problem: str) -> None:
    message = error_of(text)
    assert problem in message
    assert_shows_usage(message, "domain")


def test_permissions() -> None:
    change = change_of("permissions SYNC01 --type basicread,all --domain Contoso.com")
    assert change.kind is ChangeKind.PERMISSIONS
    assert change.permissions == ("BasicRead", "All")
    assert change.permissions_domain == "contoso.com"
    assert change_of("permissions SYNC01 --type All").permissions_domain is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("permissions SYNC01", "`--type TYPE[,TYPE]` is required"),
        ("permissions --type All", "Name the host"),
        ("permissions SYNC01 --type ,", "Name at least one permission type"),
        ("permissions SYNC01 --type All --domain x", "not a valid domain"),
    ],
)
def test_permissions_errors(text: str, problem: str) -> None:
    message = error_of(text)
    assert problem in message
    assert_shows_usage(message, "permissions")


def test_restart() -> None:
    change = change_of("restart SYNC01,SYNC02")
    assert (change.kind, change.hosts) == (ChangeKind.RESTART, ("SYNC01", "SYNC02"))
    assert_shows_usage(error_of("restart"), "restart")


# --- plan -----------------------------------------------------------------------------------


def test_plan_wraps_every_change() -> None:
    assert parse("plan install SYNC01 --domain contoso.com", HOSTS) == Plan(
        change_of("install SYNC01 --domain contoso.com")
    )
    assert parse("plan SYNC01 --domain contoso.com", HOSTS) == Plan(
        change_of("install SYNC01 --domain contoso.com")
    )
    assert change_of("plan writeback enable --host SYNC01").kind is ChangeKind.WRITEBACK
    assert change_of("plan domain add SYNC01 --domain a.com").kind is ChangeKind.DOMAIN_ADD
    assert change_of("plan permissions SYNC01 --type All").kind is ChangeKind.PERMISSIONS
    assert change_of("plan restart SYNC01").kind is ChangeKind.RESTART


def test_plan_errors() -> None:
    assert_shows_usage(error_of("plan"), "plan")
    assert_shows_usage(error_of("plan --domain a.com"), "plan")
    # errors inside the planned change show that change's form
    assert_shows_usage(error_of("plan writeback enable"), "writeback")


# --- the read-only commands -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("check sync01", Check("SYNC01")),
        ("agents", Agents()),
        ("status", Status(None)),
        ("status cs-0042", Status("CS-0042")),
        ("list", List(False, False)),
        ("list --pending", List(True, False)),
        ("list --mine", List(False, True)),
        ("list --pending --mine", List(True, True)),
        ("ls --mine", List(False, True)),
        ("cancel CS-0001", Cancel("CS-0001")),
        ("retry CS-0001", Retry("CS-0001", None)),
        ("retry CS-0001 --from Install", Retry("CS-0001", "install")),
        ("retry CS-0001 --from=domain:Fabrikam.com", Retry("CS-0001", "domain:fabrikam.com")),
        ("help", Help(None)),
        ("help install", Help("install")),
        ("install --help", Help("install")),
        ("", Help(None)),
        ("   \t\n ", Help(None)),
        ("/cloudsync agents", Agents()),
    ],
)
def test_simple_commands(text: str, expected: object) -> None:
    assert parse(text, HOSTS) == expected


@pytest.mark.parametrize("step", STEP_IDS)
def test_every_step_id_is_accepted(step: str) -> None:
    assert parse(f"retry CS-0001 --from {step}", HOSTS) == Retry("CS-0001", step)


@pytest.mark.parametrize(
    ("text", "topic", "problem"),
    [
        ("check", "check", "Name the host to check"),
        ("check SYNC01 SYNC02", "check", "Unexpected 'SYNC02'"),
        ("check SYNC01 --pending", "check", "has no option '--pending' (it takes no options)"),
        ("agents now", "agents", "Unexpected 'now'"),
        ("status 42", "status", "is not a request id"),
        ("list --all", "list", "has no option '--all'"),
        ("cancel", "cancel", "Give the request id"),
        ("cancel CS-1 CS-2", "cancel", "Unexpected 'CS-2'"),
        ("retry", "retry", "Give the request id"),
        ("retry CS-0001 --from launch", "retry", "'launch' is not a step"),
        ("retry CS-0001 --from domain:nope", "retry", "not a valid domain"),
        ("retry CS-0001 --from", "retry", "`--from` needs a value"),
        ("help nothing", "help", "No help for 'nothing'"),
    ],
)
def test_errors_of_the_other_commands(text: str, topic: str, problem: str) -> None:
    message = error_of(text)
    assert problem in message
    assert_shows_usage(message, topic)


def test_unknown_command_lists_commands() -> None:
    message = error_of("instal SYNC01")
    assert "Unknown command 'instal'" in message
    assert "install" in message and "`/cloudsync help`" in message


@pytest.mark.parametrize(
    ("typed", "meant"), [("instal", "install"), ("stauts", "status"), ("lsit", "list")]
)
def test_a_mistyped_command_suggests_the_nearest(typed: str, meant: str) -> None:
    assert f"Did you mean `/cloudsync {meant}`?" in error_of(f"{typed} SYNC01")


def test_a_word_near_no_command_gets_no_suggestion() -> None:
    assert "Did you mean" not in error_of("frobnicate SYNC01")


def test_approve_is_explained_not_run() -> None:
    assert "buttons" in error_of("approve CS-0001")


def test_echoed_input_cannot_ping_or_link() -> None:
    message = error_of("x<!channel> hi")
    assert "<!channel>" not in message
    assert "&lt;!channel&gt;" in message
    assert "<@U1>" not in error_of("install <@U1> --domain a.com")


def test_overlong_text_is_refused() -> None:
    assert "too long" in error_of("agents " + "x" * 5000)


# --- help -----------------------------------------------------------------------------------


def test_help_has_an_example_for_every_command() -> None:
    overview = help_text()
    for name, usage in USAGES.items():
        assert f"`/cloudsync {usage.example}`" in overview
        assert usage.example in help_text(name)
        # every example parses to a command (the help never lies)
        result = parse(usage.example, HOSTS)
        assert not isinstance(result, UsageError), (name, result)


def test_help_cancel_says_an_installer_is_not_stopped_mid_way() -> None:
    note = help_text("cancel")
    assert "an installer is not stopped mid-way" in note
    assert "waits for it to finish, then stops" in note


def test_help_has_no_raw_angle_brackets() -> None:
    """A '<' in mrkdwn would start a Slack link or mention."""
    for topic in (None, *USAGES):
        assert "<" not in help_text(topic)


# --- fuzzing --------------------------------------------------------------------------------

WORDS = [
    "install", "plan", "check", "agents", "status", "list", "cancel", "retry", "help",
    "writeback", "enable", "disable", "domain", "add", "permissions", "restart",
    "--domain", "--gmsa", "--cloud", "--writeback", "--permissions", "--host", "--type",
    "--from", "--pending", "--mine", "--help", "--domain=", "--from=",
    "SYNC01", "sync02", "SYNC01,SYNC02", "NOPE", "contoso.com", "contoso.com:dc1.contoso.com,dc2",
    "a..b", "usgov", "public", "All", "BasicRead,PasswordHashSync", "CS-0001", "cs-12", "install",
    "domain:contoso.com", "gmsa$", "'", '"', "$(x)", "`", ";", "\u2014domain", "<!here>",
    ",", ":", "=", "--", "-", "\u00a0", "\u200b", "\U0001f600",
]  # fmt: skip


def check_result(result: object) -> None:
    assert isinstance(
        result, Change | Plan | Check | Agents | Status | List | Cancel | Retry | Help | UsageError
    )
    if isinstance(result, UsageError):
        assert result.message and isinstance(result.message, str)
        assert "Sorry, that command could not be read" not in result.message  # no internal bug
        return
    if isinstance(result, Change | Plan):
        assert_valid_change(result.change)
    if isinstance(result, Check):
        assert result.host in HOSTS
    if isinstance(result, Status | Cancel | Retry) and result.request_id is not None:
        assert validate_request_id(result.request_id) == result.request_id


def assert_valid_change(change: ChangeSpec) -> None:
    """Every string in a parsed change passes the strict patterns unchanged."""
    assert 1 <= len(change.hosts) <= MAX_HOSTS
    assert len(set(change.hosts)) == len(change.hosts)
    for host in change.hosts:
        assert host in HOSTS and validate_host_name(host) == host
    for domain in change.domains:
        assert validate_domain(domain.fqdn) == domain.fqdn
        for dc in domain.preferred_dcs:
            assert validate_dc(dc) == dc
    if change.gmsa is not None:
        assert validate_gmsa(change.gmsa) == change.gmsa
    for kind in change.permissions:
        assert validate_permission_type(kind) == kind
    if change.permissions_domain is not None:
        assert validate_domain(change.permissions_domain) == change.permissions_domain
    if change.kind in (ChangeKind.INSTALL, ChangeKind.DOMAIN_ADD):
        assert change.domains


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_fuzz_any_text_never_raises(text: str) -> None:
    check_result(parse(text, HOSTS))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(st.sampled_from(WORDS), st.text(min_size=1, max_size=12)),
        min_size=1,
        max_size=10,
    ),
    st.sampled_from([" ", "  ", "\t", "\n", "\u3000"]),
)
def test_fuzz_near_valid_commands(words: list[str], sep: str) -> None:
    check_result(parse(sep.join(words), HOSTS))


@settings(max_examples=200, deadline=None)
@given(
    hosts=st.lists(st.sampled_from(HOSTS), min_size=1, max_size=4),
    domains=st.lists(
        st.from_regex(r"[a-z][a-z0-9-]{0,8}[a-z0-9]\.(com|org|local)", fullmatch=True),
        min_size=1,
        max_size=3,
        unique=True,
    ),
    gmsa=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,13}", fullmatch=True)),
    writeback=st.booleans(),
)
def test_fuzz_valid_installs_round_trip(
    hosts: list[str], domains: list[str], gmsa: str | None, writeback: bool
) -> None:
    text = f"install {','.join(h.lower() for h in hosts)}"
    text += "".join(f" --domain {d}" for d in domains)
    text += f" --gmsa {gmsa}" if gmsa else ""
    text += " --writeback" if writeback else ""
    result = parse(text, HOSTS)
    assert isinstance(result, Change), result
    assert_valid_change(result.change)
    assert result.change.hosts == tuple(dict.fromkeys(hosts))
    assert [d.fqdn for d in result.change.domains] == domains


def test_retry_from_accepts_every_step_of_the_runbook_by_its_id() -> None:
    from workers.domain.config import load_config
    from workers.runbook.steps import ORDER, build_steps

    config = load_config()
    host = config.host("SYNC01")
    change = ChangeSpec(
        kind=ChangeKind.INSTALL,
        hosts=("SYNC01",),
        domains=(DomainSpec("contoso.com"),),
        gmsa="svcSync$",
        writeback=True,
    )
    for step in build_steps(change, host, config.tenants[host.tenant]):
        assert parse(f"retry CS-0001 --from {step.id}", HOSTS) == Retry("CS-0001", step.id)
    assert tuple(s for s in ORDER if s != "domain") == STEP_IDS  # in the runbook's order
