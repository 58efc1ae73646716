"""Quoting, rendering and CLIXML: any value stays exactly one string literal in every template."""

from __future__ import annotations

import base64
import re
from functools import cache

import pytest
import tree_sitter
import tree_sitter_powershell
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.domain import validation as V
from workers.runbook import fleet, steps
from workers.runbook.powershell import (
    SINGLE_QUOTES,
    TemplateError,
    encode_command,
    parse_clixml,
    quote,
    quote_array,
    render,
    slots,
)

LIST_SLOTS = {"dcs", "arguments"}
INT_SLOTS = {"polls"}
BOOL_SLOTS = {"enable"}
MARK = "SLOTMARK"


@cache
def parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def templates() -> dict[str, str]:
    found = {
        name: value
        for module in (steps, fleet)
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and "<<" in value
    }
    assert len(found) > 15
    return found


def baseline(template: str) -> dict[str, object]:
    values: dict[str, object] = {}
    for name in slots(template):
        if name in LIST_SLOTS:
            values[name] = ["x1", "x2"]
        elif name in INT_SLOTS:
            values[name] = 3
        elif name in BOOL_SLOTS:
            values[name] = True
        else:
            values[name] = "x"
    return values


def literals(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    out: list[tree_sitter.Node] = []
    stack = [node]
    while stack:
        cur = stack.pop()
        if cur.type == "string_literal":
            out.append(cur)
            continue
        stack.extend(reversed(cur.children))
    return out


def shape(node: tree_sitter.Node) -> str:
    return str(node).replace(" (verbatim_string_characters)", "")


def evaluate_literal(text: str) -> str:
    """Evaluate a single-quoted literal as PowerShell does: strip the outer quotes, then every
    doubled quote character (any of the five) stands for one."""
    assert text[0] in SINGLE_QUOTES and text[-1] in SINGLE_QUOTES
    return re.sub(f"([{SINGLE_QUOTES}])\\1", r"\1", text[1:-1])


def parse(text: str) -> tree_sitter.Node:
    return parser().parse(text.encode("utf-8")).root_node


def check_slot(template: str, slot: str, value: str) -> None:
    base_values = baseline(template)
    marked = dict(base_values)
    marked[slot] = [MARK, "x2"] if slot in LIST_SLOTS else MARK
    tried = dict(base_values)
    tried[slot] = [value, "x2"] if slot in LIST_SLOTS else value
    ref = parse(render(template, **marked))  # type: ignore[arg-type]
    got = parse(render(template, **tried))  # type: ignore[arg-type]
    assert not ref.has_error
    assert not got.has_error, (slot, value)
    assert shape(got) == shape(ref), (slot, value)  # no other node changed
    ref_lits = literals(ref)
    got_lits = literals(got)
    assert len(got_lits) == len(ref_lits)
    positions = [i for i, n in enumerate(ref_lits) if n.text == quote(MARK).encode()]
    assert positions, slot
    for i in positions:
        text = (got_lits[i].text or b"").decode("utf-8")
        assert text == quote(value)
        assert evaluate_literal(text) == value


def test_every_template_parses_cleanly() -> None:
    for name, template in templates().items():
        tree = parse(render(template, **baseline(template)))  # type: ignore[arg-type]
        assert not tree.has_error, name


quote_heavy = st.text(
    alphabet=st.sampled_from(list(SINGLE_QUOTES + '"`$(){};|&@#<>\n\r\t -ab\\')), max_size=20
)


@settings(max_examples=60, deadline=None)
@given(value=st.one_of(st.text(max_size=30).filter(lambda s: "\x00" not in s), quote_heavy))
def test_any_value_is_one_literal_in_every_template_slot(value: str) -> None:
    for template in templates().values():
        for slot in set(slots(template)) - INT_SLOTS - BOOL_SLOTS:
            check_slot(template, slot, value)


VALIDATED = {
    "fqdn": st.from_regex(V.FQDN_RE, fullmatch=True),
    "dcs": st.from_regex(V.DC_RE, fullmatch=True),
    "gmsa": st.from_regex(V.GMSA_RE, fullmatch=True),
    "source": st.one_of(
        st.from_regex(V.PATH_RE, fullmatch=True), st.from_regex(V.URL_RE, fullmatch=True)
    ),
    "staging_dir": st.from_regex(V.PATH_RE, fullmatch=True),
}


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_validated_values_never_change_script_structure(data: st.DataObject) -> None:
    for template in templates().values():
        for slot in set(slots(template)) & set(VALIDATED):
            value = data.draw(VALIDATED[slot])
            assert not any(c in SINGLE_QUOTES for c in value)  # defence in depth
            check_slot(template, slot, value)


def test_quote_doubles_every_single_quote_mark() -> None:
    assert quote("it's") == "'it''s'"
    assert quote("a\u2019b") == "'a\u2019\u2019b'"
    assert quote("\u2018\u201a\u201b") == "'\u2018\u2018\u201a\u201a\u201b\u201b'"
    assert quote('$(whoami) `n "x"') == "'$(whoami) `n \"x\"'"
    with pytest.raises(TypeError):
        quote(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        quote("a\x00b")


def test_quote_array_and_render() -> None:
    assert quote_array(["a", "b'c"]) == "'a','b''c'"
    assert quote_array([]) == "@()"
    assert render("X <<a>> <<b>> <<c>> <<d>>", a="v", b=["p", "q"], c=True, d=7) == (
        "X 'v' 'p','q' $true 7"
    )
    with pytest.raises(TemplateError):
        render("X <<a>>")
    with pytest.raises(TemplateError):
        render("X <<a>>", a="1", b="2")
    with pytest.raises(TypeError):
        render("X <<a>>", a=1.5)  # type: ignore[arg-type]


def test_render_does_not_reexpand_slot_syntax_inside_values() -> None:
    assert render("<<a>> <<b>>", a="<<b>>", b="z") == "'<<b>>' 'z'"


def test_encode_command_is_base64_utf16le() -> None:
    script = "Write-Output 'h\u00e9'"
    assert base64.b64decode(encode_command(script)).decode("utf-16-le") == script


CLIXML = (
    "#< CLIXML\r\n"
    '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
    '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
    '</TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules</AV></PR></MS></Obj>'
    '<S S="Error">Connect-AADCloudSyncAzureAD : AADSTS50126: Error validating _x000D__x000A_</S>'
    '<S S="Error">credentials.  At line:1 char:1_x000D__x000A_</S>'
    '<S S="Warning">careful_x000D__x000A_</S>'
    "</Objs>"
)


def test_parse_clixml_keeps_errors_and_drops_progress() -> None:
    lines = parse_clixml(CLIXML)
    assert lines == [
        "Connect-AADCloudSyncAzureAD : AADSTS50126: Error validating",
        "credentials.  At line:1 char:1",
    ]
    assert not any("Preparing" in line for line in lines)


def test_parse_clixml_plain_text_and_broken_xml() -> None:
    assert parse_clixml("plain error\r\nsecond\r\n") == ["plain error", "second"]
    broken = '#< CLIXML\r\n<Objs><S S="Error">bad _x0026_ thing_x000A_</S><S S="Error">'
    assert parse_clixml(broken) == ["bad & thing"]
    assert parse_clixml("") == []
