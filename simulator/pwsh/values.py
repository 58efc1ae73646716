"""The PowerShell object model: the few .NET-ish types scripts touch, and conversions.

Values are plain Python where PowerShell's are (None, bool, int, float, str, list) plus the
classes here. Member access and method calls go through ``get_member``/``call_method`` so every
type answers case-insensitively, as PowerShell does.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any


class CIDict:
    """A hashtable with case-insensitive string keys that keeps insertion order."""

    def __init__(self, items: Any = None) -> None:
        self._data: dict[Any, tuple[Any, Any]] = {}
        if items:
            for k, v in dict(items).items():
                self[k] = v

    @staticmethod
    def _norm(key: Any) -> Any:
        return key.lower() if isinstance(key, str) else key

    def __setitem__(self, key: Any, value: Any) -> None:
        n = self._norm(key)
        old = self._data.get(n)
        self._data[n] = (old[0] if old else key, value)

    def __getitem__(self, key: Any) -> Any:
        return self._data[self._norm(key)][1]

    def get(self, key: Any, default: Any = None) -> Any:
        got = self._data.get(self._norm(key))
        return got[1] if got else default

    def __contains__(self, key: Any) -> bool:
        return self._norm(key) in self._data

    def __delitem__(self, key: Any) -> None:
        del self._data[self._norm(key)]

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def keys(self) -> list[Any]:
        return [k for k, _ in self._data.values()]

    def values(self) -> list[Any]:
        return [v for _, v in self._data.values()]

    def items(self) -> list[tuple[Any, Any]]:
        return list(self._data.values())

    def copy(self) -> CIDict:
        return CIDict(dict(self.items()))


class PSObject:
    """A PSCustomObject (or any object presented by its properties)."""

    def __init__(
        self, props: Any = None, type_name: str = "System.Management.Automation.PSCustomObject"
    ) -> None:
        self.props = props if isinstance(props, CIDict) else CIDict(props or {})
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"PSObject({dict(self.props.items())!r})"


class SecureString:
    """Holds a secret that never prints: ToString gives the type name, like .NET.

    ``[System.Security.SecureString]::new()`` starts empty and writable; ``AppendChar`` adds one
    character; after ``MakeReadOnly`` a change throws "Instance is read-only." as .NET does."""

    def __init__(self, plain: str, *, read_only: bool = True) -> None:
        self._plain = plain
        self.read_only = read_only

    def append_char(self, ch: str) -> None:
        if self.read_only:
            raise InvalidOperation("Instance is read-only.")
        if len(ch) != 1:
            raise InvalidOperation("AppendChar takes one character.")
        self._plain += ch

    def reveal(self) -> str:
        return self._plain

    def __repr__(self) -> str:
        return "System.Security.SecureString"

    __str__ = __repr__


class PSChar(str):
    """A System.Char: prints as its character, casts to its code point (``[int][char]'A'`` is
    65, while ``[int]'5'`` is 5), as ``ToCharArray`` and ``[char]`` give it."""

    def __new__(cls, value: str) -> PSChar:
        if len(value) != 1:
            raise ValueError("a char holds one character")
        return super().__new__(cls, value)


class InvalidOperation(Exception):
    """A .NET InvalidOperationException raised by a modelled object's method."""


class PSCredential:
    """System.Management.Automation.PSCredential."""

    def __init__(self, user: str, password: SecureString) -> None:
        self.user = user
        self.password = password

    def __repr__(self) -> str:
        return "System.Management.Automation.PSCredential"

    __str__ = __repr__


class Version:
    """System.Version: comparable, prints dotted."""

    def __init__(self, text: str) -> None:
        parts = [int(p) for p in str(text).strip().split(".")]
        if not 2 <= len(parts) <= 4:
            raise ValueError(text)
        self.parts = tuple(parts)

    def __str__(self) -> str:
        return ".".join(str(p) for p in self.parts)

    __repr__ = __str__

    def key(self) -> tuple[int, ...]:
        return self.parts + (-1,) * (4 - len(self.parts))


class ScriptBlockValue:
    """A script block as a value: the syntax node plus its source text."""

    def __init__(self, node: Any, text: str) -> None:
        self.node = node
        self.text = text

    def __str__(self) -> str:
        return self.text


class TypeValue:
    """A type literal used as a value ([Console], [IO.Path], ...)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return self.name


class ErrorRecord:
    """System.Management.Automation.ErrorRecord as scripts see it in catch blocks."""

    def __init__(
        self,
        message: str,
        fqid: str,
        category: str = "NotSpecified",
        exception_type: str = "System.Management.Automation.RuntimeException",
        target: Any = None,
        command: str | None = None,
        position: str = "",
    ) -> None:
        self.message = message
        self.fqid = fqid
        self.category = category
        self.exception_type = exception_type
        self.target = target
        self.command = command
        self.position = position

    def __str__(self) -> str:
        return self.message


class PSDate:
    """A DateTime with ToString and a few format specifiers."""

    def __init__(self, dt: datetime.datetime) -> None:
        self.dt = dt

    def __str__(self) -> str:
        return self.dt.strftime("%m/%d/%Y %H:%M:%S")


def modelled_date(seconds: Any) -> PSDate | None:
    """A modelled timestamp (``time.time()``) as a DateTime. The modelled host's time zone is
    UTC, so a ``LastWriteTime`` and its ``LastWriteTimeUtc`` (and ``ToUniversalTime()``) agree."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    utc = datetime.datetime.fromtimestamp(float(seconds), tz=datetime.UTC)
    return PSDate(utc.replace(tzinfo=None))


class PSRuntimeError(Exception):
    """A terminating error travelling up the evaluator."""

    def __init__(self, record: ErrorRecord, script_terminating: bool = False) -> None:
        super().__init__(record.message)
        self.record = record
        # throw and ErrorAction Stop end the script; other cmdlet errors end one statement
        self.script_terminating = script_terminating


def ps_error(
    message: str,
    fqid: str,
    category: str = "NotSpecified",
    exception_type: str = "System.Management.Automation.RuntimeException",
    command: str | None = None,
    target: Any = None,
) -> PSRuntimeError:
    return PSRuntimeError(
        ErrorRecord(message, fqid, category, exception_type, target=target, command=command)
    )


def to_str(v: Any) -> str:
    """PowerShell's string conversion (as in "$x" or -join)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    if isinstance(v, list):
        return " ".join(to_str(x) for x in v)
    if isinstance(v, CIDict):
        return "System.Collections.Hashtable"
    if isinstance(v, PSObject):
        if v.type_name != "System.Management.Automation.PSCustomObject":
            return v.type_name
        inner = "; ".join(f"{k}={to_str(x)}" for k, x in v.props.items())
        return "@{" + inner + "}"
    return str(v)


def to_bool(v: Any) -> bool:
    """PowerShell truthiness."""
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, str):
        return v != ""
    if isinstance(v, list):
        if len(v) == 0:
            return False
        if len(v) == 1:
            return to_bool(v[0])
        return True
    if isinstance(v, SwitchValue):
        return v.on
    return True


class SwitchValue:
    """A [switch] parameter value."""

    def __init__(self, on: bool) -> None:
        self.on = on


def to_number(v: Any) -> int | float:
    if v is None:
        return 0
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return 0
        try:
            return int(s, 16) if s.lower().startswith("0x") else int(s)
        except ValueError:
            pass
        try:
            return float(s)
        except ValueError:
            raise ps_error(
                f'Cannot convert value "{v}" to type "System.Int32". Error: "Input string was '
                'not in a correct format."',
                "InvalidCastFromStringToInteger",
                "InvalidArgument",
                "System.Management.Automation.RuntimeException",
            ) from None
    if isinstance(v, list) and len(v) == 1:
        return to_number(v[0])
    raise ps_error(
        f'Cannot convert the "{to_str(v)}" value to type "System.Int32".',
        "InvalidCastFromAnyToInteger",
        "InvalidArgument",
    )


def as_list(v: Any) -> list[Any]:
    """Enumerate a value the way the pipeline does ($null -> nothing, scalars -> one)."""
    if v is None:
        return []
    if isinstance(v, list):
        return v
    return [v]


def unwrap(out: list[Any]) -> Any:
    """Pipeline output as a value: nothing -> $null, one -> it, many -> array."""
    if not out:
        return None
    if len(out) == 1:
        return out[0]
    return list(out)
