"""PowerShell's binary operators: comparison (with array filtering), arithmetic, -f, -join..."""

from __future__ import annotations

import decimal
import re
from typing import Any

from .values import (
    CIDict,
    PSDate,
    PSObject,
    Version,
    as_list,
    ps_error,
    to_bool,
    to_number,
    to_str,
)


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """Compile a -like pattern (* ? [abc]) into an anchored, case-insensitive regex."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "`" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                out.append("[" + pattern[i + 1 : end].replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _coerce_like(left: Any, right: Any) -> Any:
    """Convert ``right`` to the type of ``left`` as PowerShell's comparisons do."""
    if isinstance(left, bool):
        return to_bool(right)
    if isinstance(left, (int, float)):
        return to_number(right)
    if isinstance(left, str):
        return to_str(right)
    if isinstance(left, Version):
        return right if isinstance(right, Version) else Version(to_str(right))
    return right


def ps_equal(left: Any, right: Any, case: bool = False) -> bool:
    if left is None or right is None:
        return left is None and right is None
    try:
        r = _coerce_like(left, right)
    except Exception:
        return False
    if isinstance(left, str):
        return left == r if case else left.lower() == r.lower()
    if isinstance(left, Version):
        return left.key() == r.key()
    if isinstance(left, (CIDict, PSObject, list)):
        return left is right
    return bool(left == r)


def ps_compare(left: Any, right: Any, case: bool = False) -> int:
    if left is None:
        return 0 if right is None else -1
    if right is None:
        return 1
    r = _coerce_like(left, right)
    if isinstance(left, str):
        a, b = (left, r) if case else (left.lower(), r.lower())
    elif isinstance(left, Version):
        a, b = left.key(), r.key()  # type: ignore[assignment]
    elif isinstance(left, PSDate) and isinstance(r, PSDate):  # DateTime is IComparable
        a, b = left.dt, r.dt  # type: ignore[assignment]
    else:
        a, b = left, r
    return (a > b) - (a < b)


def _scalar_op(op: str, left: Any, right: Any, case: bool, session: Any) -> bool:
    if op == "eq":
        return ps_equal(left, right, case)
    if op == "ne":
        return not ps_equal(left, right, case)
    if op in ("gt", "ge", "lt", "le"):
        c = ps_compare(left, right, case)
        return {"gt": c > 0, "ge": c >= 0, "lt": c < 0, "le": c <= 0}[op]
    if op in ("like", "notlike"):
        rx = wildcard_regex(to_str(right))
        if case:
            rx = re.compile(rx.pattern, re.DOTALL)
        hit = rx.fullmatch(to_str(left)) is not None
        return hit if op == "like" else not hit
    if op in ("match", "notmatch"):
        m = re.search(to_str(right), to_str(left), 0 if case else re.IGNORECASE)
        if m and op == "match" and session is not None:
            groups = CIDict({0: m.group(0)})
            for i, g in enumerate(m.groups(), 1):
                if g is not None:
                    groups[i] = g
            for name, g in m.groupdict().items():
                if g is not None:
                    groups[name] = g
            session.set_var("matches", groups)
        return bool(m) if op == "match" else not m
    raise ps_error(f"Unsupported operator -{op}", "UnsupportedOperator")


FILTER_OPS = ("eq", "ne", "gt", "ge", "lt", "le", "like", "notlike", "match", "notmatch")


def comparison(op_text: str, left: Any, right: Any, session: Any = None) -> Any:
    """Evaluate ``left -op right`` with PowerShell semantics."""
    op = op_text.lstrip("-").lower()
    case = False
    if op[0] in "ci" and op[1:] in (
        *FILTER_OPS,
        "contains",
        "notcontains",
        "in",
        "notin",
        "replace",
        "split",
    ):
        case = op[0] == "c"
        op = op[1:]
    if op in FILTER_OPS:
        if isinstance(left, list):
            return [x for x in left if _scalar_op(op, x, right, case, None)]
        return _scalar_op(op, left, right, case, session)
    if op in ("contains", "notcontains"):
        hit = any(ps_equal(x, right, case) for x in as_list(left) or [None] * (left is None))
        return hit if op == "contains" else not hit
    if op in ("in", "notin"):
        hit = any(ps_equal(x, left, case) for x in as_list(right))
        return hit if op == "in" else not hit
    if op == "join":
        return to_str(right).join(to_str(x) for x in as_list(left))
    if op == "split":
        parts = as_list(right)
        pattern = to_str(parts[0]) if parts else " "
        out: list[Any] = []
        for s in as_list(left):
            out.extend(re.split(pattern, to_str(s), flags=0 if case else re.IGNORECASE))
        return out
    if op == "replace":
        parts = as_list(right)
        pattern = to_str(parts[0]) if parts else ""
        repl = to_str(parts[1]) if len(parts) > 1 else ""
        repl_py = re.sub(r"\$(\d+)", r"\\g<\1>", repl.replace("\\", "\\\\"))
        flags = 0 if case else re.IGNORECASE

        def one(s: Any) -> str:
            return re.sub(pattern, repl_py, to_str(s), flags=flags)

        if isinstance(left, list):
            return [one(x) for x in left]
        return one(left)
    if op in ("is", "isnot"):
        name = to_str(right).lower().strip("[]")
        checks = {
            "string": isinstance(left, str),
            "int": isinstance(left, int) and not isinstance(left, bool),
            "bool": isinstance(left, bool),
            "array": isinstance(left, list),
            "object[]": isinstance(left, list),
            "hashtable": isinstance(left, CIDict),
            "pscustomobject": isinstance(left, PSObject),
        }
        hit = checks.get(name, False)
        return hit if op == "is" else not hit
    raise ps_error(
        f"You must provide a value expression following the '-{op}' operator.",
        "ExpectedValueExpression",
        "ParserError",
    )


def arithmetic(op: str, left: Any, right: Any) -> Any:
    """+ - * / % with PowerShell's left-operand-decides rules."""
    if op == "+":
        if isinstance(left, str):
            return left + to_str(right)
        if isinstance(left, list):
            return left + as_list(right)
        if isinstance(left, CIDict):
            merged = left.copy()
            for k, v in right.items() if isinstance(right, CIDict) else []:
                merged[k] = v
            return merged
        if left is None:
            return right
        return _num(to_number(left) + to_number(right))
    if op == "*":
        if isinstance(left, str):
            return left * int(to_number(right))
        if isinstance(left, list):
            return left * int(to_number(right))
        return _num(to_number(left) * to_number(right))
    a, b = to_number(left), to_number(right)
    if op == "-":
        return _num(a - b)
    if op == "/":
        if b == 0:
            raise ps_error(
                "Attempted to divide by zero.",
                "RuntimeException",
                "NotSpecified",
                "System.DivideByZeroException",
            )
        return _num(a / b)
    if op == "%":
        return _num(a % b)
    raise ps_error(f"Unsupported operator {op}", "UnsupportedOperator")


def _num(v: int | float) -> int | float:
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**31:
        return int(v)
    return v


_FMT = re.compile(r"\{\{|\}\}|\{(\d+)(?:,(-?\d+))?(?::([^}]*))?\}")


def format_op(fmt: str, args: list[Any]) -> str:
    """-f with {0}, {0,width} and a few :N/:D specifiers."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        idx = int(m.group(1))
        if idx >= len(args):
            raise ps_error(
                "Error formatting a string: Index (zero based) must be greater than or equal "
                "to zero and less than the size of the argument list..",
                "FormatError",
            )
        v = args[idx]
        spec = m.group(3)
        if spec and isinstance(v, (int, float)):
            kind, digits = spec[0].upper(), spec[1:]
            if kind in ("N", "F"):
                q = decimal.Decimal(1).scaleb(-int(digits or 2))
                rounded = decimal.Decimal(str(v)).quantize(q, rounding=decimal.ROUND_HALF_UP)
                s = f"{rounded:,}" if kind == "N" else str(rounded)
            elif kind == "D":
                s = str(int(v)).zfill(int(digits or 0))
            elif kind == "X":
                s = format(int(v), "X").zfill(int(digits or 0))
            else:
                s = to_str(v)
        else:
            s = to_str(v)
        if m.group(2):
            w = int(m.group(2))
            s = s.rjust(w) if w > 0 else s.ljust(-w)
        return s

    return _FMT.sub(sub, fmt)
