"""tree-sitter parsing with a per-text cache, and the parse-error check.

Parsing the same step script many times (the runbook re-sends scripts) is the hot path, so
trees are cached by text. Trees are immutable once built, so sharing them across threads is safe.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import tree_sitter
import tree_sitter_powershell

_LANG = tree_sitter.Language(tree_sitter_powershell.language())
_local = threading.local()


def _parser() -> tree_sitter.Parser:
    p = getattr(_local, "parser", None)
    if p is None:
        p = tree_sitter.Parser(_LANG)
        _local.parser = p
    return p


@lru_cache(maxsize=512)
def parse(text: str) -> tree_sitter.Tree:
    """Parse ``text`` (cached)."""
    return _parser().parse(text.encode("utf-8"))


def first_error(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The first ERROR or MISSING node, if the text did not parse cleanly."""
    if not node.has_error:
        return None
    if node.is_missing and _bare_word_list_gap(node):
        return None
    if node.is_error or node.is_missing:
        return node
    for child in node.children:
        found = first_error(child)
        if found is not None:
            return found
    return None


def _bare_word_list_gap(node: tree_sitter.Node) -> bool:
    """The grammar reads ``a,b`` as tokens "a" ",b" with a MISSING separator: not an error."""
    sep = node.parent
    if sep is None or sep.type != "command_argument_sep":
        return False
    nxt = sep.next_sibling
    return nxt is not None and nxt.type == "generic_token" and (nxt.text or b"").startswith(b",")


def is_incomplete(text: str) -> bool:
    """True when ``text`` looks like the start of a statement that needs more lines."""
    tree = parse(text)
    err = first_error(tree.root_node)
    if err is None:
        return False
    if err.is_missing:
        return True
    stripped = text.rstrip()
    return err.end_byte >= len(stripped.encode("utf-8"))
