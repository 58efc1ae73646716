"""Evaluates tree-sitter-powershell syntax trees.

One ``Session`` is one PowerShell runspace: variables, imported modules and the Entra sign-in
live here, which is why a ``-Command -`` process keeps them across statements and separate
``-EncodedCommand`` processes do not.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

from tree_sitter import Node

from . import filestream, members
from .commands import CommandRunner, format_error
from .operators import arithmetic, comparison, format_op
from .parser import first_error, parse
from .runtime import BreakEx, ContinueEx, ExitEx, ReturnEx, Scope, Terminated
from .syntax import named, parse_number, text, unescape_dq, verbatim
from .values import (
    CIDict,
    ErrorRecord,
    PSObject,
    PSRuntimeError,
    ScriptBlockValue,
    TypeValue,
    as_list,
    ps_error,
    to_bool,
    to_number,
    to_str,
    unwrap,
)

if TYPE_CHECKING:
    from ..host import SimHost


class ProcessIO(Protocol):
    """What the session needs from the process that hosts it."""

    cancel: threading.Event
    pid: int  # its process id: the handles it opens close when it ends

    def write_stdout(self, text: str) -> None: ...

    def write_stderr_record(self, kind: str, text: str) -> None: ...

    def read_stdin_line(self) -> str | None: ...


PASSTHROUGH = {
    "program",
    "statement_list",
    "pipeline_chain",
    "logical_expression",
    "bitwise_expression",
    "comparison_expression",
    "additive_expression",
    "multiplicative_expression",
    "format_expression",
    "range_expression",
    "array_literal_expression",
    "unary_expression",
    "logical_argument_expression",
    "bitwise_argument_expression",
    "comparison_argument_expression",
    "additive_argument_expression",
    "multiplicative_argument_expression",
    "format_argument_expression",
    "range_argument_expression",
    "argument_expression",
    "left_assignment_expression",
    "string_literal",
    "integer_literal",
    "expression_with_unary_operator",
    "while_condition",
    "for_initializer",
    "for_condition",
    "for_iterator",
    "key_expression",
    "command_name_expr",
    "path_command_name",
}

INCDEC = {
    "post_increment_expression",
    "post_decrement_expression",
    "pre_increment_expression",
    "pre_decrement_expression",
}


class Session:
    """One runspace on one host, driven by one process."""

    def __init__(
        self, host: SimHost, io: ProcessIO, session_id: str, interactive: bool = False
    ) -> None:
        self.host = host
        self.io = io
        self.session_id = session_id
        self.interactive = interactive
        self.global_scope = Scope(None)
        self.scope = self.global_scope
        self.functions: dict[str, ScriptBlockValue] = {}
        self.modules: dict[str, str] = {}
        self.aad_account: str | None = None
        self.psdrives: dict[str, str] = {}  # New-PSDrive: NAME -> root (simulator.pwsh.paths)
        self.share_logons: dict[str, str] = {}  # share root -> the user it was mapped with
        self.delegated = False  # a CredSSP logon: the user's credential reaches file shares
        self.env = CIDict(
            {
                "COMPUTERNAME": host.name,
                "USERNAME": host.login_user.split("\\")[-1],
                "USERDOMAIN": host.login_user.split("\\")[0].upper(),
                "TEMP": "C:\\Windows\\TEMP",
                "ProgramFiles": "C:\\Program Files",
                "SystemRoot": "C:\\Windows",
                "ProgramData": "C:\\ProgramData",
            }
        )
        self.last_ok = True
        self.exit_requested: int | None = None
        self.security_protocol = "SystemDefault"
        self.try_depth = 0
        self.runner = CommandRunner(self)
        g = self.global_scope.vars
        g["ErrorActionPreference"] = "Continue"
        g["ProgressPreference"] = "Continue"
        g["Error"] = []
        g["LASTEXITCODE"] = None
        g["PSVersionTable"] = CIDict(
            {"PSVersion": members.Version("5.1.20348.2400"), "PSEdition": "Desktop"}
        )
        g["Host"] = PSObject({"Name": "ConsoleHost"})
        g["PID"] = host.next_pid()

    # ---- variables -------------------------------------------------------------------
    def get_var(self, name: str) -> Any:
        low = name.lower()
        if low == "true":
            return True
        if low == "false":
            return False
        if low == "null":
            return None
        if low == "?":
            return self.last_ok
        if low.startswith("env:"):
            return self.env.get(name[4:])
        for prefix in ("script:", "global:", "local:", "private:", "using:"):
            if low.startswith(prefix):
                name = name[len(prefix) :]
                low = name.lower()
        if low == "psitem":
            name = "_"
        scope: Scope | None = self.scope
        while scope is not None:
            if name in scope.vars:
                return scope.vars[name]
            scope = scope.parent
        return None

    def set_var(self, name: str, value: Any) -> None:
        low = name.lower()
        if low in ("null",):
            return
        if low in ("true", "false"):
            raise ps_error(
                f"Cannot overwrite variable {name} because it is read-only or constant.",
                "VariableNotWritable",
                "WriteError",
            )
        if low.startswith("env:"):
            self.env[name[4:]] = None if value is None else to_str(value)
            return
        target = self.scope
        for prefix in ("script:", "global:"):
            if low.startswith(prefix):
                name = name[len(prefix) :]
                target = self.global_scope
        for prefix in ("local:", "private:"):
            if low.startswith(prefix):
                name = name[len(prefix) :]
        target.vars[name] = value

    # ---- I/O and time --------------------------------------------------------------
    def write_stdout(self, s: str) -> None:
        self.io.write_stdout(s)

    def read_stdin_line(self) -> str | None:
        return self.io.read_stdin_line()

    def create_file(self, path: str) -> filestream.FileStream:
        """[System.IO.File]::Create(path)."""
        return filestream.create(self, path)

    def open_file(self, path: str, mode: str, access: str, share: str) -> filestream.ReadStream:
        """[System.IO.File]::Open(path, mode, access, share)."""
        return filestream.open_read(self, path, mode, access, share)

    def check_cancel(self) -> None:
        if self.io.cancel.is_set():
            raise Terminated()

    def sleep(self, seconds: float) -> None:
        """Every modelled wait goes through here: interruptible and counted."""
        self.runner.add_modelled(seconds)
        if seconds > 0 and self.io.cancel.wait(seconds):
            raise Terminated()
        self.check_cancel()

    # ---- script blocks -------------------------------------------------------------
    def compile_block(self, src: str) -> ScriptBlockValue:
        """[scriptblock]::Create: logged like Windows script-block logging, then parsed."""
        self.host.log_script_block(src)
        tree = parse(src)
        self.raise_parse_error(src, tree.root_node)
        return ScriptBlockValue(tree.root_node, src)

    def raise_parse_error(self, src: str, root: Node) -> None:
        err = first_error(root)
        if err is None:
            return
        line = err.start_point[0] + 1
        col = err.start_point[1] + 1
        bad = text(err).strip().splitlines()[0] if text(err).strip() else ""
        if err.is_missing:
            msg = f"Missing '{err.type}' in statement or expression."
            fqid = "MissingToken"
        elif bad:
            msg = f"Unexpected token '{bad[:40]}' in expression or statement."
            fqid = "UnexpectedToken"
        else:
            msg = "Incomplete statement."
            fqid = "IncompleteParseException"
        rec = ErrorRecord(
            msg,
            fqid,
            "ParserError",
            "System.Management.Automation.ParseException",
            position=f"At line:{line} char:{col}",
        )
        raise PSRuntimeError(rec)

    def invoke_block(
        self,
        block: ScriptBlockValue,
        args: list[Any] | None = None,
        dollar_under: Any = None,
        new_scope: bool = True,
        set_under: bool = False,
    ) -> list[Any]:
        """Run a script block and return its output (``&`` semantics: a child scope)."""
        saved = self.scope
        if new_scope:
            self.scope = Scope(saved)
        if set_under:
            self.scope.vars["_"] = dollar_under
        self.scope.vars["args"] = list(args or [])
        node = block.node
        try:
            kids = named(node)
            params = [c for c in kids if c.type == "param_block"]
            if not params:
                for sb in (c for c in kids if c.type == "script_block"):
                    params = [c for c in named(sb) if c.type == "param_block"]
            if params:
                self._bind_params(params[0], list(args or []))
            if node.type == "script_block_expression":
                bodies = [c for c in kids if c.type == "script_block"]
                return self.exec_body(bodies[0]) if bodies else []
            return self.exec_body(node)
        except ReturnEx as r:
            return r.value
        finally:
            self.scope = saved

    def _bind_params(self, param_block: Node, args: list[Any]) -> None:
        plist = [c for c in named(param_block) if c.type == "parameter_list"]
        if not plist:
            return
        for i, sp in enumerate(c for c in named(plist[0]) if c.type == "script_parameter"):
            var = next(c for c in named(sp) if c.type == "variable")
            default = None
            defaults = [c for c in named(sp) if c.type == "script_parameter_default"]
            if defaults:
                default = self.eval(named(defaults[0])[-1])
            self.scope.vars[text(var)[1:]] = args[i] if i < len(args) else default

    def exec_body(self, node: Node) -> list[Any]:
        out: list[Any] = []
        for child in named(node):
            if child.type in ("script_block_body", "statement_list"):
                out.extend(self.exec_statements(child))
            elif child.type not in ("param_block", "comment"):
                out.extend(self.exec_statement(child))
        return out

    # ---- statements ----------------------------------------------------------------
    def exec_statements(self, node: Node) -> list[Any]:
        out: list[Any] = []
        for child in named(node):
            out.extend(self.exec_statement(child))
        return out

    def exec_statement(self, node: Node) -> list[Any]:
        """One statement; a statement-terminating error outside any try is reported and skipped."""
        try:
            return self._exec_statement(node)
        except PSRuntimeError as e:
            if self.try_depth > 0 or e.script_terminating or self.stop_preference():
                raise
            self.report(e.record)
            return []

    def stop_preference(self) -> bool:
        return to_str(self.get_var("ErrorActionPreference")).lower() == "stop"

    def report(self, record: ErrorRecord) -> None:
        self.last_ok = False
        errs = self.global_scope.vars.get("Error")
        if isinstance(errs, list):
            errs.insert(0, record)
        self.io.write_stderr_record("Error", format_error(record))

    def _exec_statement(self, node: Node) -> list[Any]:
        self.check_cancel()
        t = node.type
        if t in ("empty_statement", "comment"):
            return []
        if t in ("statement_list", "program", "script_block_body"):
            return self.exec_statements(node)
        if t == "pipeline":
            return self.exec_pipeline(node)
        if t == "if_statement":
            return self.exec_if(node)
        if t == "while_statement":
            return self.exec_while(node)
        if t == "do_statement":
            return self.exec_do(node)
        if t == "foreach_statement":
            return self.exec_foreach(node)
        if t == "for_statement":
            return self.exec_for(node)
        if t == "try_statement":
            return self.exec_try(node)
        if t == "flow_control_statement":
            return self.exec_flow(node)
        if t == "function_statement":
            name = text(next(c for c in named(node) if c.type == "function_name"))
            self.functions[name.lower()] = ScriptBlockValue(node, text(node))
            return []
        if t == "statement_block":
            return self.exec_block(node)
        return as_list_out(self.eval(node))

    def exec_block(self, node: Node) -> list[Any]:
        out: list[Any] = []
        for child in named(node):
            out.extend(self.exec_statement(child))
        return out

    def exec_if(self, node: Node) -> list[Any]:
        cond = node.child_by_field_name("condition")
        kids = named(node)
        block = next(c for c in kids if c.type == "statement_block")
        if cond is not None and to_bool(unwrap(self.exec_pipeline(cond))):
            return self.exec_block(block)
        for c in kids:
            if c.type == "elseif_clauses":
                for clause in named(c):
                    ccond = clause.child_by_field_name("condition")
                    cblock = next(x for x in named(clause) if x.type == "statement_block")
                    if ccond is not None and to_bool(unwrap(self.exec_pipeline(ccond))):
                        return self.exec_block(cblock)
            if c.type == "else_clause":
                return self.exec_block(next(x for x in named(c) if x.type == "statement_block"))
        return []

    def _loop_body(self, block: Node, out: list[Any]) -> bool:
        """Run one iteration; False means break."""
        try:
            out.extend(self.exec_block(block))
        except BreakEx:
            return False
        except ContinueEx:
            pass
        return True

    def exec_while(self, node: Node) -> list[Any]:
        cond = node.child_by_field_name("condition")
        block = next(c for c in named(node) if c.type == "statement_block")
        out: list[Any] = []
        while cond is None or to_bool(unwrap(self.eval_cond(cond))):
            self.check_cancel()
            if not self._loop_body(block, out):
                break
        return out

    def eval_cond(self, node: Node) -> list[Any]:
        inner = named(node)[0] if node.type == "while_condition" else node
        return (
            self.exec_pipeline(inner) if inner.type == "pipeline" else as_list_out(self.eval(inner))
        )

    def exec_do(self, node: Node) -> list[Any]:
        block = next(c for c in named(node) if c.type == "statement_block")
        cond = next(c for c in named(node) if c.type == "while_condition")
        until = any(c.type == "until" for c in node.children)
        out: list[Any] = []
        while True:
            self.check_cancel()
            if not self._loop_body(block, out):
                break
            value = to_bool(unwrap(self.eval_cond(cond)))
            if value == until:
                break
        return out

    def exec_foreach(self, node: Node) -> list[Any]:
        kids = named(node)
        var = next(c for c in kids if c.type == "variable")
        source = next(c for c in kids if c.type == "pipeline")
        block = next(c for c in kids if c.type == "statement_block")
        items = as_list(unwrap(self.exec_pipeline(source)))
        out: list[Any] = []
        for item in list(items):
            self.check_cancel()
            self.set_var(text(var)[1:], item)
            if not self._loop_body(block, out):
                break
        return out

    def exec_for(self, node: Node) -> list[Any]:
        kids = {c.type: c for c in named(node)}
        out: list[Any] = []
        if "for_initializer" in kids:
            self.eval(kids["for_initializer"])
        while True:
            self.check_cancel()
            if "for_condition" in kids and not to_bool(self.eval(kids["for_condition"])):
                break
            if not self._loop_body(kids["statement_block"], out):
                break
            if "for_iterator" in kids:
                self.eval(kids["for_iterator"])
        return out

    def exec_try(self, node: Node) -> list[Any]:
        kids = named(node)
        body = kids[0]
        out: list[Any] = []
        finally_clause = next((c for c in kids if c.type == "finally_clause"), None)
        catches = next((c for c in kids if c.type == "catch_clauses"), None)
        self.try_depth += 1
        try:
            try:
                out.extend(self.exec_block(body))
            finally:
                self.try_depth -= 1
        except PSRuntimeError as e:
            if catches is None:
                raise
            clause = named(catches)[0]
            block = next(c for c in named(clause) if c.type == "statement_block")
            saved = self.scope.vars.get("_")
            self.scope.vars["_"] = e.record
            try:
                out.extend(self.exec_block(block))
            finally:
                self.scope.vars["_"] = saved
        finally:
            if finally_clause is not None:
                out.extend(self.exec_block(named(finally_clause)[0]))
        return out

    def exec_flow(self, node: Node) -> list[Any]:
        keyword = text(node.children[0]).lower()
        value_nodes = [c for c in named(node) if c.type == "pipeline"]
        value = self.exec_pipeline(value_nodes[0]) if value_nodes else []
        if keyword == "break":
            raise BreakEx()
        if keyword == "continue":
            raise ContinueEx()
        if keyword == "return":
            raise ReturnEx(value)
        if keyword == "exit":
            raise ExitEx(int(to_number(unwrap(value))) if value else 0)
        if keyword == "throw":
            v = unwrap(value)
            if isinstance(v, ErrorRecord):
                raise PSRuntimeError(v, script_terminating=True)
            msg = to_str(v) if value else "ScriptHalted"
            raise PSRuntimeError(
                ErrorRecord(msg, msg, "OperationStopped", target=v if value else None),
                script_terminating=True,
            )
        raise ps_error(f"Unsupported statement '{keyword}'.", "UnsupportedStatement")

    # ---- pipelines -----------------------------------------------------------------
    def exec_pipeline(self, node: Node) -> list[Any]:
        kids = named(node)
        if node.type != "pipeline":
            return as_list_out(self.eval(node))
        if len(kids) == 1 and kids[0].type == "assignment_expression":
            self.eval_assignment(kids[0])
            return []
        out: list[Any] = []
        for chain in kids:
            out.extend(self.exec_chain(chain))
        return out

    def exec_chain(self, chain: Node) -> list[Any]:
        if chain.type != "pipeline_chain":
            if chain.type == "assignment_expression":
                self.eval_assignment(chain)
                return []
            return as_list_out(self.eval(chain))
        stages = [c for c in named(chain) if c.type != "comment"]
        if len(stages) == 1 and stages[0].type != "command":
            inner = self._strip(stages[0])
            if inner.type in INCDEC:
                self.eval(inner)
                return []
        data: list[Any] | None = None
        for stage in stages:
            if stage.type == "command":
                data = self.runner.run_command(stage, data)
            else:
                value = self.eval(stage)
                data = as_list_out(value)
                self.last_ok = True
        return data or []

    # ---- assignment ----------------------------------------------------------------
    def eval_assignment(self, node: Node) -> None:
        kids = named(node)
        target, op_node, value_node = kids[0], kids[1], kids[2]
        op = text(op_node).strip()
        value_out = (
            self.exec_pipeline(value_node)
            if value_node.type == "pipeline"
            else as_list_out(self.eval(value_node))
        )
        value = unwrap(value_out)
        if value_node.type == "pipeline" and self._is_array_expr(value_node):
            value = self.eval(self._array_node(value_node))  # @(one) stays an array
        tgt = self._strip(target)
        cast_type = None
        if tgt.type == "cast_expression":
            cast_type = text(named(named(tgt)[0])[0])
            tgt = self._strip(named(tgt)[1])
        if op != "=":
            current = self.eval(tgt)
            value = arithmetic(op[0], current, value)
        if cast_type is not None:
            value = members.cast(self, cast_type, value)
        self.assign_to(tgt, value)

    def _is_array_expr(self, node: Node) -> bool:
        """True when a pipeline is a bare expression whose value is an array (keep @() shape)."""
        n = node
        while n.type in PASSTHROUGH or n.type == "pipeline":
            kids = named(n)
            if len(kids) != 1:
                return n.type == "array_literal_expression"
            n = kids[0]
        return n.type == "array_expression"

    def _array_node(self, node: Node) -> Node:
        """The node _is_array_expr found: the array literal or the @() itself."""
        n = node
        while n.type in PASSTHROUGH or n.type == "pipeline":
            kids = named(n)
            if len(kids) != 1:
                return n
            n = kids[0]
        return n

    def _strip(self, node: Node) -> Node:
        while node.type in PASSTHROUGH and len(named(node)) == 1:
            node = named(node)[0]
        return node

    def assign_to(self, tgt: Node, value: Any) -> None:
        if tgt.type == "variable":
            name = text(tgt)
            self.set_var(name[2:-1] if name.startswith("${") else name[1:], value)
            return
        if tgt.type == "member_access":
            kids = named(tgt)
            if self._is_static(tgt):
                type_text = members.normalize_type(text(named(kids[0])[0]))
                if type_text == "net.servicepointmanager":
                    self.security_protocol = to_str(value)
                    return
                raise ps_error(
                    f"'{self.member_name(kids[-1])}' is a ReadOnly property.",
                    "PropertyAssignmentException",
                    "InvalidOperation",
                )
            obj = self.eval(kids[0])
            members.set_member(obj, self.member_name(kids[-1]), value)
            return
        if tgt.type == "element_access":
            kids = named(tgt)
            obj = self.eval(kids[0])
            key = self.eval(kids[1])
            if isinstance(obj, CIDict):
                obj[key] = value
            elif isinstance(obj, list):
                obj[int(to_number(key))] = value
            else:
                raise ps_error(
                    "Unable to index into an object of that type.",
                    "CannotIndex",
                    "InvalidOperation",
                )
            return
        raise ps_error(
            "The assignment expression is not valid. The input to an assignment operator must be "
            "an object that is able to accept assignments, such as a variable or a property.",
            "InvalidLeftHandSide",
            "ParserError",
        )

    def member_name(self, node: Node) -> str:
        node = self._strip(node)
        if node.type == "member_name":
            inner = named(node)
            if inner and inner[0].type != "simple_name":
                return to_str(self.eval(inner[0]))
        return text(node)

    # ---- expressions -----------------------------------------------------------------
    def eval(self, node: Node) -> Any:
        t = node.type
        kids = named(node)
        if t in PASSTHROUGH and len(kids) == 1 and len(node.children) == 1:
            return self.eval(kids[0])
        method = getattr(self, "ev_" + t, None)
        if method is not None:
            return method(node, kids)
        if t in PASSTHROUGH and len(kids) == 1:
            return self.eval(kids[0])
        if t == "pipeline":
            return unwrap(self.exec_pipeline(node))
        raise ps_error(
            f"Unsupported syntax '{t}': {text(node)[:60]}", "UnsupportedSyntax", "ParserError"
        )

    def ev_variable(self, node: Node, kids: list[Node]) -> Any:
        name = text(node)
        if name.startswith("${"):
            return self.get_var(name[2:-1])
        if name.startswith("@"):
            return self.get_var(name[1:])
        return self.get_var(name[1:])

    def ev_decimal_integer_literal(self, node: Node, kids: list[Node]) -> Any:
        return parse_number(text(node))

    ev_hexadecimal_integer_literal = ev_decimal_integer_literal
    ev_real_literal = ev_decimal_integer_literal

    def ev_verbatim_string_characters(self, node: Node, kids: list[Node]) -> Any:
        return verbatim(text(node))

    def ev_verbatim_here_string_characters(self, node: Node, kids: list[Node]) -> Any:
        raw = text(node)
        body = raw[2:-2]
        return _here_body(body)

    def ev_expandable_string_literal(self, node: Node, kids: list[Node]) -> Any:
        return self._expand(node, 1, 1, here=False)

    def ev_expandable_here_string_literal(self, node: Node, kids: list[Node]) -> Any:
        value = self._expand(node, 2, 2, here=True)
        return _here_body(value)

    def _expand(self, node: Node, lead: int, trail: int, here: bool) -> str:
        raw = node.text or b""
        base = node.start_byte
        parts: list[str] = []
        pos = lead
        end = len(raw) - trail
        # for here-strings, keep the raw body (escapes applied) so _here_body can trim lines
        for child in named(node):
            if child.type not in ("variable", "sub_expression"):
                continue
            s, e = child.start_byte - base, child.end_byte - base
            parts.append(unescape_dq(raw[pos:s].decode("utf-8"), here))
            if child.type == "variable":
                parts.append(to_str(self.ev_variable(child, [])))
            else:
                parts.append(to_str(self.ev_sub_expression(child, named(child))))
            pos = e
        parts.append(unescape_dq(raw[pos:end].decode("utf-8"), here))
        return "".join(parts)

    def ev_sub_expression(self, node: Node, kids: list[Node]) -> Any:
        out: list[Any] = []
        for k in kids:
            out.extend(self.exec_statement(k))
        return unwrap(out)

    def ev_array_expression(self, node: Node, kids: list[Node]) -> Any:
        out: list[Any] = []
        for k in kids:
            out.extend(self.exec_statement(k))
        return list(out)

    def ev_parenthesized_expression(self, node: Node, kids: list[Node]) -> Any:
        if not kids:
            return None
        inner = kids[0]
        if inner.type == "pipeline":
            inner_kids = named(inner)
            if len(inner_kids) == 1 and inner_kids[0].type == "assignment_expression":
                self.eval_assignment(inner_kids[0])
                target = self._strip(named(inner_kids[0])[0])
                return self.eval(target)
            if self._is_array_expr(inner):
                return self.eval(named(inner)[0])
            return unwrap(self.exec_pipeline(inner))
        return self.eval(inner)

    def ev_array_literal_expression(self, node: Node, kids: list[Node]) -> Any:
        return [self.eval(k) for k in kids]

    def ev_script_block_expression(self, node: Node, kids: list[Node]) -> Any:
        return ScriptBlockValue(node, text(node)[1:-1])

    def ev_hash_literal_expression(self, node: Node, kids: list[Node]) -> Any:
        h = CIDict()
        for body in kids:
            for entry in named(body):
                if entry.type != "hash_entry":
                    continue
                ek = named(entry)
                key_node = self._strip(ek[0])
                key = text(key_node) if key_node.type == "simple_name" else self.eval(key_node)
                h[key] = (
                    unwrap(self.exec_pipeline(ek[1]))
                    if ek[1].type == "pipeline"
                    else self.eval(ek[1])
                )
                if ek[1].type == "pipeline" and self._is_array_expr(ek[1]):
                    h[key] = self.eval(named(ek[1])[0])
        return h

    def ev_type_literal(self, node: Node, kids: list[Node]) -> Any:
        return TypeValue(text(kids[0]))

    def ev_cast_expression(self, node: Node, kids: list[Node]) -> Any:
        type_text = text(named(kids[0])[0])
        value = self.eval(kids[1])
        return members.cast(self, type_text, value)

    def _binary(self, node: Node) -> tuple[Node, str, Node]:
        left, op, right = node.children[0], node.children[1], node.children[2]
        return left, text(op).strip(), right

    def ev_logical_expression(self, node: Node, kids: list[Node]) -> Any:
        left, op, right = self._binary(node)
        op = op.lower()
        lv = to_bool(self.eval(left))
        if op == "-and":
            return lv and to_bool(self.eval(right))
        if op == "-or":
            return lv or to_bool(self.eval(right))
        if op == "-xor":
            return lv != to_bool(self.eval(right))
        raise ps_error(f"Unsupported operator {op}", "UnsupportedOperator")

    ev_logical_argument_expression = ev_logical_expression

    def ev_bitwise_expression(self, node: Node, kids: list[Node]) -> Any:
        left, op, right = self._binary(node)
        a, b = int(to_number(self.eval(left))), int(to_number(self.eval(right)))
        return {"-band": a & b, "-bor": a | b, "-bxor": a ^ b}[op.lower()]

    ev_bitwise_argument_expression = ev_bitwise_expression

    def ev_comparison_expression(self, node: Node, kids: list[Node]) -> Any:
        left, op, right = self._binary(node)
        return comparison(op, self.eval(left), self.eval(right), self)

    ev_comparison_argument_expression = ev_comparison_expression

    def ev_additive_expression(self, node: Node, kids: list[Node]) -> Any:
        left, op, right = self._binary(node)
        return arithmetic(op, self.eval(left), self.eval(right))

    ev_additive_argument_expression = ev_additive_expression
    ev_multiplicative_expression = ev_additive_expression
    ev_multiplicative_argument_expression = ev_additive_expression

    def ev_format_expression(self, node: Node, kids: list[Node]) -> Any:
        left, _op, right = self._binary(node)
        return format_op(to_str(self.eval(left)), as_list(self.eval(right)))

    ev_format_argument_expression = ev_format_expression

    def ev_range_expression(self, node: Node, kids: list[Node]) -> Any:
        left, _op, right = self._binary(node)
        a, b = int(to_number(self.eval(left))), int(to_number(self.eval(right)))
        return list(range(a, b + 1)) if a <= b else list(range(a, b - 1, -1))

    ev_range_argument_expression = ev_range_expression

    def ev_expression_with_unary_operator(self, node: Node, kids: list[Node]) -> Any:
        op = text(node.children[0]).strip().lower()
        if node.children[0].is_named:
            return self.eval(node.children[0])
        value = self.eval(kids[-1])
        if op in ("-not", "!"):
            return not to_bool(value)
        if op == "-":
            return -to_number(value)
        if op == "+":
            return to_number(value)
        if op == ",":
            return [value]
        if op == "-join":
            return "".join(to_str(x) for x in as_list(value))
        if op == "-split":
            return to_str(value).split()
        if op == "-bnot":
            return ~int(to_number(value))
        raise ps_error(f"Unsupported unary operator {op}", "UnsupportedOperator")

    def _incdec(self, node: Node, kids: list[Node], delta: int, post: bool) -> Any:
        target = self._strip(kids[0])
        old = self.eval(target)
        new = to_number(old) + delta
        self.assign_to(target, new)
        return old if post else new

    def ev_post_increment_expression(self, node: Node, kids: list[Node]) -> Any:
        return self._incdec(node, kids, 1, True)

    def ev_post_decrement_expression(self, node: Node, kids: list[Node]) -> Any:
        return self._incdec(node, kids, -1, True)

    def ev_pre_increment_expression(self, node: Node, kids: list[Node]) -> Any:
        return self._incdec(node, kids, 1, False)

    def ev_pre_decrement_expression(self, node: Node, kids: list[Node]) -> Any:
        return self._incdec(node, kids, -1, False)

    def ev_member_access(self, node: Node, kids: list[Node]) -> Any:
        obj_node = kids[0]
        name = self.member_name(kids[-1])
        if self._is_static(node):
            return members.static_member(self, text(named(obj_node)[0]), name)
        return members.get_member(self.eval(obj_node), name)

    def _is_static(self, node: Node) -> bool:
        return any(c.type == "::" for c in node.children)

    def ev_invokation_expression(self, node: Node, kids: list[Node]) -> Any:
        obj_node = kids[0]
        name = self.member_name(next(k for k in kids if k.type == "member_name"))
        arg_node = next((k for k in kids if k.type == "argument_list"), None)
        args = self.eval_args(arg_node)
        if self._is_static(node) and obj_node.type == "type_literal":
            return members.call_static(self, text(named(obj_node)[0]), name, args)
        obj = self.eval(obj_node)
        if members.is_console(obj):
            return members.console_method(self, obj, name, args)
        return members.call_method(self, obj, name, args)

    def eval_args(self, arg_node: Node | None) -> list[Any]:
        if arg_node is None:
            return []
        out: list[Any] = []
        for lst in named(arg_node):
            for a in named(lst):
                out.append(self.eval(a))
        return out

    def ev_element_access(self, node: Node, kids: list[Node]) -> Any:
        obj = self.eval(kids[0])
        key = self.eval(kids[1])
        return index_value(obj, key)

    def ev_command(self, node: Node, kids: list[Node]) -> Any:
        return unwrap(self.runner.run_command(node, None))


def index_value(obj: Any, key: Any) -> Any:
    if isinstance(key, list):
        return [index_value(obj, k) for k in key]
    if obj is None:
        raise ps_error("Cannot index into a null array.", "NullArray", "InvalidOperation")
    if isinstance(obj, CIDict):
        return obj.get(key)
    if isinstance(obj, (list, str)):
        i = int(to_number(key))
        try:
            return obj[i]
        except IndexError:
            return None
    bag = members.props_of(obj)
    if bag is not None:
        return bag.get(key)
    if int(to_number(key)) in (0, -1):
        return obj
    return None


def _here_body(s: str) -> str:
    """Strip the newline after the opener and the one before the closer."""
    if s.startswith("\r\n"):
        s = s[2:]
    elif s.startswith("\n"):
        s = s[1:]
    if s.endswith("\r\n"):
        s = s[:-2]
    elif s.endswith("\n"):
        s = s[:-1]
    return s


def as_list_out(value: Any) -> list[Any]:
    """An expression statement's output: arrays enumerate, $null is still one object."""
    if isinstance(value, list):
        return list(value)
    if value is None:
        return []
    return [value]
