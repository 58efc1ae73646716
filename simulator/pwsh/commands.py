"""Command resolution, parameter binding, error actions, and the per-cmdlet record and faults.

Binding follows PowerShell: named parameters match by case-insensitive unambiguous prefix,
``-Name:value`` binds inline, switches take no argument, the rest bind by position.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tree_sitter import Node

from ..contract import CmdletCall
from . import external
from .runtime import ReturnEx, Scope
from .syntax import named, text, unescape_dq
from .values import (
    CIDict,
    ErrorRecord,
    PSRuntimeError,
    ScriptBlockValue,
    SwitchValue,
    as_list,
    to_bool,
    to_str,
)

if TYPE_CHECKING:
    from .evaluator import Session

COMMON_PARAMS = (
    "ErrorAction",
    "WarningAction",
    "InformationAction",
    "ErrorVariable",
    "WarningVariable",
    "OutVariable",
    "OutBuffer",
    "PipelineVariable",
    "InformationVariable",
    "Verbose",
    "Debug",
)
COMMON_SWITCHES = ("Verbose", "Debug")
RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")
COMMON_ALIASES = {
    "ea": "ErrorAction",
    "wa": "WarningAction",
    "ev": "ErrorVariable",
    "ov": "OutVariable",
    "vb": "Verbose",
}


@dataclass
class Param:
    name: str
    switch: bool = False
    position: int | None = None
    aliases: tuple[str, ...] = ()
    remaining: bool = False


@dataclass
class Cmdlet:
    name: str
    func: Callable[[Ctx], list[Any] | None]
    params: list[Param] = field(default_factory=list)
    module: str | None = None
    pipeline: bool = False


class NonTerminating(Exception):
    """A cmdlet's non-terminating error: ErrorAction decides what happens."""

    def __init__(self, record: ErrorRecord) -> None:
        super().__init__(record.message)
        self.record = record


class Ctx:
    """What a cmdlet implementation sees."""

    def __init__(
        self, session: Session, cmdlet: Cmdlet, bound: CIDict, inp: list[Any] | None
    ) -> None:
        self.session = session
        self.cmdlet = cmdlet
        self.bound = bound
        self.input = inp
        self.host = session.host

    def has(self, name: str) -> bool:
        return name in self.bound

    def get(self, name: str, default: Any = None) -> Any:
        return self.bound.get(name, default)

    def switch(self, name: str) -> bool:
        return to_bool(self.bound.get(name, False))

    def error(
        self,
        message: str,
        fqid: str,
        category: str = "NotSpecified",
        exception_type: str = "System.Exception",
        target: Any = None,
    ) -> PSRuntimeError:
        """A terminating error attributed to this cmdlet."""
        return PSRuntimeError(self.record(message, fqid, category, exception_type, target))

    def non_terminating(
        self,
        message: str,
        fqid: str,
        category: str = "NotSpecified",
        exception_type: str = "System.Exception",
        target: Any = None,
    ) -> NonTerminating:
        return NonTerminating(self.record(message, fqid, category, exception_type, target))

    def record(
        self, message: str, fqid: str, category: str, exception_type: str, target: Any
    ) -> ErrorRecord:
        if "," not in fqid:
            fqid = f"{fqid},{self.cmdlet.name}"
        return ErrorRecord(
            message, fqid, category, exception_type, target=target, command=self.cmdlet.name
        )

    def sleep(self, seconds: float) -> None:
        self.session.sleep(seconds)


REGISTRY: dict[str, Cmdlet] = {}
ALIASES = {
    "%": "ForEach-Object",
    "foreach": "ForEach-Object",
    "?": "Where-Object",
    "where": "Where-Object",
    "select": "Select-Object",
    "sort": "Sort-Object",
    "measure": "Measure-Object",
    "echo": "Write-Output",
    "write": "Write-Output",
    "gsv": "Get-Service",
    "gps": "Get-Process",
    "ps": "Get-Process",
    "sleep": "Start-Sleep",
    "copy": "Copy-Item",
    "cp": "Copy-Item",
    "del": "Remove-Item",
    "rm": "Remove-Item",
    "md": "New-Item",
    "gp": "Get-ItemProperty",
    "gi": "Get-Item",
    "saps": "Start-Process",
    "start": "Start-Process",
    "ipmo": "Import-Module",
    "gcim": "Get-CimInstance",
}


def cmdlet(
    name: str, params: list[Param] | None = None, module: str | None = None, pipeline: bool = False
) -> Callable[[Callable[[Ctx], list[Any] | None]], Callable[[Ctx], list[Any] | None]]:
    """Register a cmdlet implementation."""

    def deco(func: Callable[[Ctx], list[Any] | None]) -> Callable[[Ctx], list[Any] | None]:
        REGISTRY[name.lower()] = Cmdlet(name, func, list(params or []), module, pipeline)
        return func

    return deco


def available(session: Session, spec: Cmdlet) -> bool:
    """The command exists in this session: its module is loaded (the agent's is imported by
    path, never autoloaded) and the host has it (e.g. no Kds module on a member server)."""
    if spec.module is not None and spec.module not in session.modules:
        return False
    return spec.name.lower() not in session.host.absent_commands


def not_recognized(name: str) -> PSRuntimeError:
    return PSRuntimeError(
        ErrorRecord(
            f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, "
            "or operable program. Check the spelling of the name, or if a path was included, "
            "verify that the path is correct and try again.",
            "CommandNotFoundException",
            "ObjectNotFound",
            "System.Management.Automation.CommandNotFoundException",
            target=name,
            command=name,
        )
    )


def position_of(node: Node) -> str:
    """PowerShell's "At line:1 char:5 / + text / + ~~~~" block for a failing command."""
    line_no, col = node.start_point
    src = node
    while src.parent is not None:
        src = src.parent
    lines = (src.text or b"").decode("utf-8", "replace").splitlines() or [""]
    line = lines[line_no] if line_no < len(lines) else ""
    width = max(
        1,
        min(
            len(
                (node.text or b"").decode("utf-8", "replace").splitlines()[0] if node.text else " "
            ),
            len(line) - col,
        ),
    )
    return f"At line:{line_no + 1} char:{col + 1}\r\n+ {line}\r\n+ {' ' * col}{'~' * width}"


@dataclass
class _Tok:
    kind: str  # "param" or "arg"
    name: str = ""
    value: Any = None
    explicit: bool = False
    text: str = ""


class CommandRunner:
    """Runs command nodes for one session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.call_stack: list[CmdletCall] = []

    def add_modelled(self, seconds: float) -> None:
        if self.call_stack:
            self.call_stack[-1].modelled_s += seconds

    # ---- elements -> tokens ----------------------------------------------------------
    def _tokens(self, elements: Node | None) -> tuple[list[_Tok], list[str]]:
        toks: list[_Tok] = []
        redirects: list[str] = []
        if elements is None:
            return toks, redirects
        pending_colon = False
        for el in elements.children:
            t = el.type
            if t == "command_argument_sep":
                if text(el).strip() == ":" and toks and toks[-1].kind == "param":
                    pending_colon = True
                continue
            if t == "command_parameter":
                raw = text(el)
                name = raw[1:]
                if name.endswith(":"):
                    name = name[:-1]
                    pending_colon = True
                    toks.append(_Tok("param", name=name, text=raw))
                else:
                    toks.append(_Tok("param", name=name, text=raw))
                continue
            if t == "redirection":
                redirects.append(text(el).replace(" ", ""))
                continue
            if t == "comment":
                continue
            if t == "generic_token":
                value: Any = self._generic(el)
                raw = text(el)
                if raw.startswith(",") and toks and toks[-1].kind == "arg":
                    # the grammar splits a bare-word list (a,b,c) into ",b" ",c" tokens
                    toks[-1].value = [*as_list(toks[-1].value), *[p for p in raw.split(",")[1:]]]
                    continue
            elif t == "argument_list":
                value = self.session.eval_args(el)
                if len(value) == 1:
                    value = value[0]
            else:
                value = self.session.eval(el)
                if el.type == "array_literal_expression" and len(named(el)) == 1:
                    inner = self.session._strip(el)
                    if inner.type == "parenthesized_expression" and isinstance(value, list):
                        value = value
            if pending_colon and toks and toks[-1].kind == "param":
                toks[-1].value = value
                toks[-1].explicit = True
                pending_colon = False
                continue
            toks.append(_Tok("arg", value=value))
        return toks, redirects

    def _generic(self, node: Node) -> Any:
        raw = text(node)
        if not named(node):
            return unescape_dq(raw, here=True)
        out = []
        pos = node.start_byte
        data = node.text or b""
        for child in named(node):
            out.append(
                unescape_dq(
                    data[pos - node.start_byte : child.start_byte - node.start_byte].decode(), True
                )
            )
            out.append(to_str(self.session.eval(child)))
            pos = child.end_byte
        out.append(unescape_dq(data[pos - node.start_byte :].decode(), True))
        return "".join(out)

    # ---- run ---------------------------------------------------------------------------
    def run_command(self, node: Node, inp: list[Any] | None) -> list[Any]:
        session = self.session
        kids = named(node)
        elements = node.child_by_field_name("command_elements")
        name_node = node.child_by_field_name("command_name")
        invoke_op = next((c for c in kids if c.type == "command_invokation_operator"), None)
        target: Any
        if name_node is None:
            name_node = next(c for c in kids if c.type in ("command_name", "command_name_expr"))
        target = text(name_node) if name_node.type == "command_name" else session.eval(name_node)
        toks, redirects = self._tokens(elements)
        dot = invoke_op is not None and text(invoke_op).strip() == "."
        try:
            session.last_ok = True
            out = self.invoke(target, toks, inp, dot=dot)
        except PSRuntimeError as e:
            session.last_ok = False
            if not e.record.position:
                e.record.position = position_of(node)
            raise
        return self._redirect(out, redirects)

    def _redirect(self, out: list[Any], redirects: list[str]) -> list[Any]:
        for r in redirects:
            if r.startswith(">$null") or r.startswith(">>$null") or r in (">$null",):
                return []
            if r.startswith(">") or r.startswith("1>"):
                return []
        return out

    def invoke(
        self, target: Any, toks: list[_Tok], inp: list[Any] | None, dot: bool = False
    ) -> list[Any]:
        session = self.session
        if isinstance(target, ScriptBlockValue):
            args = [t.value if t.kind == "arg" else "-" + t.name for t in toks]
            if inp is not None:
                out: list[Any] = []
                for item in inp:
                    out.extend(
                        session.invoke_block(
                            target, args=args, dollar_under=item, set_under=True, new_scope=not dot
                        )
                    )
                return out
            return session.invoke_block(target, args=args, new_scope=not dot)
        name = to_str(target)
        low = name.lower()
        rng = RANGE.match(name) if not toks and inp is None else None
        if rng:
            # the grammar reads a leading literal range (1..3) as a command name
            a, b = int(rng.group(1)), int(rng.group(2))
            return list(range(a, b + 1)) if a <= b else list(range(a, b - 1, -1))
        if low in session.functions:
            args = [t.value if t.kind == "arg" else "-" + t.name for t in toks]
            fn = session.functions[low]
            return self._call_function(fn, args, inp)
        canonical = ALIASES.get(low, name)
        spec = REGISTRY.get(canonical.lower())
        if spec is not None and not available(session, spec):
            spec = None
        if spec is None:
            ext = external.resolve(session, name)
            if ext is not None:
                args = [t.value if t.kind == "arg" else t.text for t in toks]
                return ext(session, args)
            raise not_recognized(name)
        return self.run_cmdlet(spec, toks, inp)

    def _call_function(
        self, fn: ScriptBlockValue, args: list[Any], inp: list[Any] | None
    ) -> list[Any]:
        session = self.session
        node = fn.node
        saved = session.scope
        session.scope = Scope(saved)
        try:
            decl = next(
                (c for c in named(node) if c.type == "function_parameter_declaration"), None
            )
            if decl is not None:
                plist = named(decl)[0] if named(decl) else None
                if plist is not None:
                    params = [c for c in named(plist) if c.type == "script_parameter"]
                    for i, sp in enumerate(params):
                        var = next(c for c in named(sp) if c.type == "variable")
                        session.scope.vars[text(var)[1:]] = args[i] if i < len(args) else None
            session.scope.vars["args"] = args
            session.scope.vars["input"] = inp or []
            body = next(c for c in named(node) if c.type == "script_block")
            try:
                return session.exec_body(body)
            except ReturnEx as r:
                return r.value
        finally:
            session.scope = saved

    # ---- binding -----------------------------------------------------------------------
    def bind(self, spec: Cmdlet, toks: list[_Tok]) -> CIDict:
        bound = CIDict()
        positional: list[Any] = []
        names = [p.name for p in spec.params] + [
            c for c in COMMON_PARAMS if c not in {p.name for p in spec.params}
        ]
        i = 0
        while i < len(toks):
            tok = toks[i]
            i += 1
            if tok.kind == "arg":
                positional.append(tok.value)
                continue
            pname = self._match(spec, tok.name, names)
            param = next((p for p in spec.params if p.name == pname), None)
            is_switch = param.switch if param else pname in COMMON_SWITCHES
            if tok.explicit:
                bound[pname] = tok.value
                continue
            if is_switch:
                bound[pname] = True
                continue
            if i < len(toks) and toks[i].kind == "arg":
                bound[pname] = toks[i].value
                i += 1
                continue
            raise PSRuntimeError(
                ErrorRecord(
                    f"Missing an argument for parameter '{pname}'. Specify a parameter of type "
                    "'System.Object' and try again.",
                    f"MissingArgument,{spec.name}",
                    "InvalidArgument",
                    "System.Management.Automation.ParameterBindingException",
                    command=spec.name,
                )
            )
        free = sorted(
            (p for p in spec.params if p.position is not None and p.name not in bound),
            key=lambda p: p.position or 0,
        )
        remaining = next((p for p in spec.params if p.remaining), None)
        for value in positional:
            if free:
                p = free.pop(0)
                bound[p.name] = value
            elif remaining is not None:
                cur = bound.get(remaining.name)
                bound[remaining.name] = [*as_list(cur), value]
            else:
                raise PSRuntimeError(
                    ErrorRecord(
                        f"A positional parameter cannot be found that accepts argument '{to_str(value)}'.",  # noqa: E501
                        f"PositionalParameterNotFound,{spec.name}",
                        "InvalidArgument",
                        "System.Management.Automation.ParameterBindingException",
                        command=spec.name,
                        target=value,
                    )
                )
        for k, v in list(bound.items()):
            if isinstance(v, SwitchValue):
                bound[k] = v.on
        return bound

    def _match(self, spec: Cmdlet, given: str, names: list[str]) -> str:
        low = given.lower()
        for p in spec.params:
            if p.name.lower() == low or low in (a.lower() for a in p.aliases):
                return p.name
        if low in COMMON_ALIASES:
            return COMMON_ALIASES[low]
        for n in names:
            if n.lower() == low:
                return n
        hits = [n for n in names if n.lower().startswith(low)]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise PSRuntimeError(
                ErrorRecord(
                    f"A parameter cannot be found that matches parameter name '{given}'.",
                    f"NamedParameterNotFound,{spec.name}",
                    "InvalidArgument",
                    "System.Management.Automation.ParameterBindingException",
                    command=spec.name,
                    target=given,
                )
            )
        raise PSRuntimeError(
            ErrorRecord(
                f"Parameter cannot be processed because the parameter name '{given}' is ambiguous. "
                f"Possible matches include: {' '.join('-' + h for h in hits)}.",
                f"AmbiguousParameter,{spec.name}",
                "InvalidArgument",
                "System.Management.Automation.ParameterBindingException",
                command=spec.name,
                target=given,
            )
        )

    # ---- one cmdlet call ---------------------------------------------------------------
    def run_cmdlet(self, spec: Cmdlet, toks: list[_Tok], inp: list[Any] | None) -> list[Any]:
        session = self.session
        host = session.host
        call = CmdletCall(
            host=host.name,
            session=session.session_id,
            name=spec.name,
            parameters=[],
            started=time.time(),
        )
        host.add_cmdlet_call(call)
        self.call_stack.append(call)
        try:
            bound = self.bind(spec, toks)
            call.parameters = list(bound.keys())
            if getattr(host, "module_logging", False):
                host.log_module_call(spec.name, dict(bound.items()), inp)
            http_faults = self._apply_faults(spec.name)
            ctx = Ctx(session, spec, bound, inp)
            try:
                result = spec.func(ctx) or []
            except NonTerminating as nt:
                result = []
                self.handle_non_terminating(nt.record, bound)
            finally:
                host.faults.arm(http_faults)  # the cmdlet has done its work (or failed)
            return result
        except PSRuntimeError as e:
            call.ok = False
            call.error = e.record.message
            if e.record.command is None:
                e.record.command = spec.name
            raise
        finally:
            call.finished = time.time()
            self.call_stack.pop()

    def _apply_faults(self, name: str) -> list[Any]:
        """Apply ``name``'s cmdlet-level faults; return the HTTP-level ones, to arm after it."""
        session = self.session
        faults, http_faults = session.host.faults.take_cmdlet(name)
        for fault in faults:
            if fault.kind == "latency":
                session.sleep(fault.seconds)
            elif fault.kind == "hang":
                while True:
                    session.sleep(3600.0)
            elif fault.kind == "tamper":
                session.host.tamper_file(fault.path or "")
            elif fault.kind == "fail":
                raise PSRuntimeError(
                    ErrorRecord(
                        fault.message or f"{name} failed (simulated fault).",
                        f"SimulatedFault,{name}",
                        "NotSpecified",
                        "System.InvalidOperationException",
                        command=name,
                    )
                )
        return list(http_faults)

    def handle_non_terminating(self, record: ErrorRecord, bound: CIDict | None = None) -> None:
        session = self.session
        pref = (
            to_str(bound.get("ErrorAction"))
            if bound and "ErrorAction" in bound
            else to_str(session.get_var("ErrorActionPreference"))
        )
        pref = pref.lower()
        if pref == "stop":
            raise PSRuntimeError(record, script_terminating=True)
        session.last_ok = False
        if pref in ("silentlycontinue", "ignore"):
            if pref == "silentlycontinue":
                errs = session.global_scope.vars.get("Error")
                if isinstance(errs, list):
                    errs.insert(0, record)
            if self.call_stack:
                self.call_stack[-1].ok = False
                self.call_stack[-1].error = record.message
            return
        errs = session.global_scope.vars.get("Error")
        if isinstance(errs, list):
            errs.insert(0, record)
        if self.call_stack:
            self.call_stack[-1].ok = False
            self.call_stack[-1].error = record.message
        session.io.write_stderr_record("Error", format_error(record))


def format_error(record: ErrorRecord) -> str:
    """The text Windows PowerShell 5.1 prints for an error record (its default error view)."""
    head = f"{record.command} : {record.message}" if record.command else record.message
    target = to_str(record.target) if record.target is not None else ""
    reason = record.exception_type.rsplit(".", 1)[-1]
    lines = [head]
    if record.position:
        lines.extend(record.position.split("\r\n"))
    lines.append(
        f"    + CategoryInfo          : {record.category}: ({target}:String) [{record.command or ''}], {reason}"  # noqa: E501
    )
    lines.append(f"    + FullyQualifiedErrorId : {record.fqid}")
    lines.append(" ")
    return "\r\n".join(lines) + "\r\n"
