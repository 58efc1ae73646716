"""Pipeline object cmdlets: Where/ForEach/Select/Sort/Measure and JSON conversion."""

from __future__ import annotations

import functools
import json
from typing import Any

from ..commands import Ctx, Param, cmdlet
from ..members import LiveObject, get_member, props_of
from ..operators import comparison, ps_compare
from ..values import (
    CIDict,
    ErrorRecord,
    PSCredential,
    PSDate,
    PSObject,
    ScriptBlockValue,
    SecureString,
    Version,
    as_list,
    to_bool,
    to_number,
    to_str,
)

_WHERE_OPS = (
    "EQ",
    "NE",
    "GT",
    "GE",
    "LT",
    "LE",
    "Like",
    "NotLike",
    "Match",
    "NotMatch",
    "Contains",
    "NotContains",
    "In",
    "NotIn",
)


def _items(ctx: Ctx) -> list[Any]:
    if ctx.has("InputObject"):
        return as_list(ctx.get("InputObject"))
    return list(ctx.input or [])


@cmdlet(
    "Where-Object",
    [
        Param("FilterScript", position=0),
        Param("Property"),
        Param("Value", position=1),
        Param("InputObject"),
    ]
    + [Param(op, switch=True) for op in _WHERE_OPS],
    pipeline=True,
)
def where_object(ctx: Ctx) -> list[Any]:
    block = ctx.get("FilterScript")
    items = _items(ctx)
    if isinstance(block, ScriptBlockValue):
        return [
            x
            for x in items
            if to_bool(
                _last(
                    ctx.session.invoke_block(block, dollar_under=x, set_under=True, new_scope=False)
                )
            )
        ]
    prop = to_str(block if block is not None else ctx.get("Property"))
    op = next((o for o in _WHERE_OPS if ctx.switch(o)), None)
    out = []
    for x in items:
        v = get_member(x, prop)
        hit = to_bool(v) if op is None else to_bool(comparison("-" + op, v, ctx.get("Value")))
        if hit:
            out.append(x)
    return out


def _last(out: list[Any]) -> Any:
    if not out:
        return None
    return out[0] if len(out) == 1 else out


@cmdlet(
    "ForEach-Object",
    [
        Param("Process", position=0, remaining=True),
        Param("Begin"),
        Param("End"),
        Param("MemberName"),
        Param("InputObject"),
    ],
    pipeline=True,
)
def foreach_object(ctx: Ctx) -> list[Any]:
    session = ctx.session
    out: list[Any] = []
    if isinstance(ctx.get("Begin"), ScriptBlockValue):
        out.extend(session.invoke_block(ctx.get("Begin"), new_scope=False))
    procs = as_list(ctx.get("Process"))
    for item in _items(ctx):
        for p in procs:
            if isinstance(p, ScriptBlockValue):
                out.extend(
                    session.invoke_block(p, dollar_under=item, set_under=True, new_scope=False)
                )
            else:
                out.extend(as_list(get_member(item, to_str(p))))
    if isinstance(ctx.get("End"), ScriptBlockValue):
        out.extend(session.invoke_block(ctx.get("End"), new_scope=False))
    return out


def _prop_value(ctx: Ctx, item: Any, prop: Any) -> tuple[str, Any]:
    if isinstance(prop, CIDict):
        name = to_str(prop.get("Name", prop.get("n", prop.get("Label", prop.get("l")))))
        expr = prop.get("Expression", prop.get("e"))
        if isinstance(expr, ScriptBlockValue):
            return name, _last(
                ctx.session.invoke_block(expr, dollar_under=item, set_under=True, new_scope=False)
            )
        return name, get_member(item, to_str(expr))
    name = to_str(prop)
    bag = props_of(item)
    if bag is not None:
        for k in bag:
            if to_str(k).lower() == name.lower():
                return to_str(k), bag[k]
    return name, get_member(item, name)


@cmdlet(
    "Select-Object",
    [
        Param("Property", position=0),
        Param("ExpandProperty"),
        Param("First"),
        Param("Last"),
        Param("Skip"),
        Param("Unique", switch=True),
        Param("InputObject"),
    ],
    pipeline=True,
)
def select_object(ctx: Ctx) -> list[Any]:
    items = _items(ctx)
    if ctx.has("Skip"):
        items = items[int(to_number(ctx.get("Skip"))) :]
    if ctx.has("First"):
        items = items[: int(to_number(ctx.get("First")))]
    if ctx.has("Last"):
        n = int(to_number(ctx.get("Last")))
        items = items[-n:] if n else []
    out: list[Any] = []
    props = as_list(ctx.get("Property"))
    for item in items:
        if ctx.has("ExpandProperty"):
            name = to_str(ctx.get("ExpandProperty"))
            value = get_member(item, name)
            if value is None and (
                props_of(item) is None or name not in (props_of(item) or CIDict())
            ):
                raise ctx.non_terminating(
                    f'Property "{name}" cannot be found.',
                    "ExpandPropertyNotFound,Microsoft.PowerShell.Commands.SelectObjectCommand",
                    "InvalidArgument",
                    "System.Management.Automation.PSArgumentException",
                    item,
                )
            out.extend(as_list(value))
        elif props and not (len(props) == 1 and to_str(props[0]) == "*"):
            obj = CIDict()
            for p in props:
                k, v = _prop_value(ctx, item, p)
                obj[k] = v
            out.append(PSObject(obj))
        else:
            out.append(item)
    if ctx.switch("Unique"):
        seen: list[str] = []
        uniq = []
        for x in out:
            key = json.dumps(to_jsonable(x, 3), sort_keys=True, default=str)
            if key not in seen:
                seen.append(key)
                uniq.append(x)
        out = uniq
    return out


@cmdlet(
    "Sort-Object",
    [
        Param("Property", position=0),
        Param("Descending", switch=True),
        Param("Unique", switch=True),
        Param("InputObject"),
    ],
    pipeline=True,
)
def sort_object(ctx: Ctx) -> list[Any]:
    items = _items(ctx)
    props = as_list(ctx.get("Property"))

    def key_of(x: Any) -> list[Any]:
        if not props:
            return [x]
        return [_prop_value(ctx, x, p)[1] for p in props]

    def cmp(a: Any, b: Any) -> int:
        for x, y in zip(key_of(a), key_of(b), strict=False):
            try:
                c = ps_compare(x, y)
            except Exception:
                c = ps_compare(to_str(x), to_str(y))
            if c:
                return c
        return 0

    out = sorted(items, key=functools.cmp_to_key(cmp), reverse=ctx.switch("Descending"))
    if ctx.switch("Unique"):
        dedup: list[Any] = []
        for x in out:
            if not dedup or cmp(dedup[-1], x) != 0:
                dedup.append(x)
        out = dedup
    return out


@cmdlet(
    "Measure-Object",
    [
        Param("Property", position=0),
        Param("Sum", switch=True),
        Param("Average", switch=True),
        Param("Maximum", switch=True),
        Param("Minimum", switch=True),
        Param("InputObject"),
    ],
    pipeline=True,
)
def measure_object(ctx: Ctx) -> list[Any]:
    items = _items(ctx)
    result = CIDict(
        {
            "Count": len(items),
            "Average": None,
            "Sum": None,
            "Maximum": None,
            "Minimum": None,
            "Property": ctx.get("Property"),
        }
    )
    if ctx.has("Property"):
        values = [to_number(get_member(x, to_str(ctx.get("Property")))) for x in items]
    else:
        values = (
            [to_number(x) for x in items]
            if any(ctx.switch(s) for s in ("Sum", "Average", "Maximum", "Minimum"))
            else []
        )
    if values:
        if ctx.switch("Sum"):
            result["Sum"] = sum(values)
        if ctx.switch("Average"):
            result["Average"] = sum(values) / len(values)
        if ctx.switch("Maximum"):
            result["Maximum"] = max(values)
        if ctx.switch("Minimum"):
            result["Minimum"] = min(values)
    return [PSObject(result, type_name="Microsoft.PowerShell.Commands.GenericMeasureInfo")]


def to_jsonable(v: Any, depth: int) -> Any:
    """The object graph ConvertTo-Json serialises; beyond ``depth`` objects become strings."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, SecureString):
        return {"Length": len(v.reveal())}
    if isinstance(v, list):
        if depth < 0:
            return to_str(v)
        return [to_jsonable(x, depth - 1) for x in v]
    if isinstance(v, PSDate):
        return "/Date(" + str(int(v.dt.timestamp() * 1000)) + ")/"
    if isinstance(v, PSCredential):
        return {"UserName": v.user, "Password": "System.Security.SecureString"}
    if isinstance(v, ScriptBlockValue):
        return v.text
    bag = props_of(v) if not isinstance(v, Version) else None
    if isinstance(v, Version):
        bag = props_of(v)
    if isinstance(v, ErrorRecord):
        bag = CIDict(
            {
                "Exception": {"Message": v.message},
                "FullyQualifiedErrorId": v.fqid,
                "CategoryInfo": {"Category": v.category},
            }
        )
    if bag is not None:
        if depth < 0:
            return (
                to_str(v)
                if not isinstance(v, (CIDict, PSObject, LiveObject))
                else ("System.Collections.Hashtable" if isinstance(v, CIDict) else to_str(v))
            )
        return {to_str(k): to_jsonable(x, depth - 1) for k, x in bag.items()}
    return to_str(v)


@cmdlet(
    "ConvertTo-Json",
    [
        Param("InputObject", position=0),
        Param("Depth"),
        Param("Compress", switch=True),
        Param("EnumsAsStrings", switch=True),
    ],
    pipeline=True,
)
def convertto_json(ctx: Ctx) -> list[Any]:
    depth = int(to_number(ctx.get("Depth", 2)))
    if ctx.has("InputObject"):
        value = ctx.get("InputObject")
    else:
        items = list(ctx.input or [])
        value = items[0] if len(items) == 1 else items
    data = to_jsonable(value, depth)
    if ctx.switch("Compress"):
        return [json.dumps(data, ensure_ascii=False, separators=(",", ":"))]
    return [json.dumps(data, ensure_ascii=False, indent=4).replace("\n", "\r\n")]


def _from_json(v: Any) -> Any:
    if isinstance(v, dict):
        return PSObject(CIDict({k: _from_json(x) for k, x in v.items()}))
    if isinstance(v, list):
        return [_from_json(x) for x in v]
    return v


@cmdlet("ConvertFrom-Json", [Param("InputObject", position=0)], pipeline=True)
def convertfrom_json(ctx: Ctx) -> list[Any]:
    text = "\n".join(to_str(x) for x in _items(ctx))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ctx.error(
            "Invalid JSON primitive. (The input is not echoed: it may hold a secret.)",
            "System.ArgumentException,Microsoft.PowerShell.Commands.ConvertFromJsonCommand",
            "NotSpecified",
            "System.ArgumentException",
        ) from e
    return [_from_json(data)]
