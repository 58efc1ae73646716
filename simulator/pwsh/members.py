"""Member access, method calls, static members and casts on PowerShell values."""

from __future__ import annotations

import base64
import binascii
import datetime
import ntpath
import uuid
from typing import TYPE_CHECKING, Any

from .operators import format_op, ps_equal
from .values import (
    CIDict,
    ErrorRecord,
    InvalidOperation,
    PSChar,
    PSCredential,
    PSDate,
    PSObject,
    ScriptBlockValue,
    SecureString,
    SwitchValue,
    Version,
    as_list,
    ps_error,
    to_bool,
    to_number,
    to_str,
)

if TYPE_CHECKING:
    from .evaluator import Session


class LiveObject:
    """A host object whose properties are read when accessed (services, processes, files)."""

    type_name = "System.Object"

    def ps_props(self) -> CIDict:
        return CIDict()

    def ps_method(self, name: str, args: list[Any]) -> Any:
        raise AttributeError(name)

    def ps_set(self, name: str, value: Any) -> bool:
        """``$obj.Name = value`` for a settable .NET property; False: no such property."""
        return False

    def ps_touch(self, name: str) -> None:
        """Called before a property is read (a .NET getter with a side effect, e.g.
        Process.Handle caching the handle)."""

    def __str__(self) -> str:
        return self.type_name


X509_TYPE = "System.Security.Cryptography.X509Certificates.X509Certificate2"


class ChainedCertificate(PSObject):
    """An X509Certificate2 whose issuers (intermediate first, root last) the model knows, so
    ``X509Chain.Build`` can report the chain Windows would build."""

    def __init__(self, props: Any, chain: list[str]) -> None:
        super().__init__(props, type_name=X509_TYPE)
        self.chain = list(chain)


X509_NS = "System.Security.Cryptography.X509Certificates."
# The enums an X509ChainPolicy takes (name -> value), as .NET defines them.
REVOCATION_MODES = {"NoCheck": 0, "Online": 1, "Offline": 2}
REVOCATION_FLAGS = {"EndCertificateOnly": 0, "EntireChain": 1, "ExcludeRoot": 2}
X509_ENUMS = {
    "x509revocationmode": REVOCATION_MODES,
    "x509revocationflag": REVOCATION_FLAGS,
}
# System.IO enums for [IO.File]::Open (member names only: the model passes names)
IO_ENUMS = {
    "io.filemode": ("CreateNew", "Create", "Open", "OpenOrCreate", "Truncate", "Append"),
    "io.fileaccess": ("Read", "Write", "ReadWrite"),
    "io.fileshare": ("None", "Read", "Write", "ReadWrite", "Delete", "Inheritable"),
}
# X509ChainStatusFlags: value and the StatusInformation text Windows gives; ChainStatus lists
# them in flag-value order (inferred; the model never combines PartialChain with another flag,
# the one place where .NET versions' orders could differ).
CHAIN_STATUS = {
    "UntrustedRoot": (
        0x20,
        "A certificate chain processed, but terminated in a root certificate which is not "
        "trusted by the trust provider.",
    ),
    "RevocationStatusUnknown": (
        0x40,
        "The revocation function was unable to check revocation for the certificate.",
    ),
    "PartialChain": (
        0x10000,
        "A certificate chain could not be built to a trusted root authority.",
    ),
    "OfflineRevocation": (
        0x1000000,
        "The revocation function was unable to check revocation because the revocation "
        "server was offline.",
    ),
}


class X509ChainPolicy(LiveObject):
    """The settable part of X509ChainPolicy the runbook uses: RevocationMode (default Online),
    RevocationFlag (default ExcludeRoot) and UrlRetrievalTimeout (default zero: no limit)."""

    type_name = X509_NS + "X509ChainPolicy"

    def __init__(self) -> None:
        self.revocation_mode = "Online"
        self.revocation_flag = "ExcludeRoot"
        self.url_timeout = datetime.timedelta(0)

    def ps_props(self) -> CIDict:
        return CIDict(
            {
                "RevocationMode": self.revocation_mode,
                "RevocationFlag": self.revocation_flag,
                "UrlRetrievalTimeout": self.url_timeout,
                "VerificationFlags": "NoFlag",
            }
        )

    def ps_set(self, name: str, value: Any) -> bool:
        low = name.lower()
        if low == "revocationmode":
            self.revocation_mode = _enum_value("X509RevocationMode", REVOCATION_MODES, value)
            return True
        if low == "revocationflag":
            self.revocation_flag = _enum_value("X509RevocationFlag", REVOCATION_FLAGS, value)
            return True
        if low == "urlretrievaltimeout":
            if not isinstance(value, datetime.timedelta):
                raise ps_error(
                    f'Exception setting "UrlRetrievalTimeout": "Cannot convert value '
                    f'"{to_str(value)}" to type "System.TimeSpan"."',
                    "ExceptionWhenSetting",
                    "NotSpecified",
                )
            self.url_timeout = value
            return True
        return False


def _enum_value(type_name: str, members: dict[str, int], value: Any) -> str:
    """PowerShell's conversion of a name (any case) to an enum member, or its error."""
    text = to_str(value)
    for member in members:
        if member.lower() == text.lower():
            return member
    names = ", ".join(f'"{m}"' for m in members)
    raise ps_error(
        f'Exception setting "{type_name}": "Cannot convert value "{text}" to type '
        f'"{X509_NS}{type_name}". Error: "Unable to match the identifier name {text} to a valid '
        f'enumerator name. Specify one of the following enumerator names and try again: {names}""',
        "ExceptionWhenSetting",
        "NotSpecified",
    )


class X509Chain(LiveObject):
    """System.Security.Cryptography.X509Certificates.X509Chain: ``ChainPolicy``, then
    ``Build(cert)`` -> True only when the chain ends at a root the host trusts and revocation
    could be checked as the policy says; ``ChainElements`` (leaf first, root last, each with
    its ``Certificate``: Subject, Thumbprint) and ``ChainStatus`` (Status, StatusInformation)."""

    type_name = X509_NS + "X509Chain"

    def __init__(self, host: Any) -> None:
        self.host = host
        self.policy = X509ChainPolicy()
        self.elements: list[PSObject] = []
        self.status: list[PSObject] = []

    def ps_props(self) -> CIDict:
        return CIDict(
            {
                "ChainElements": list(self.elements),
                "ChainStatus": list(self.status),
                "ChainPolicy": self.policy,
            }
        )

    def ps_method(self, name: str, args: list[Any]) -> Any:
        if name == "build":
            cert = args[0] if args else None
            if cert is None:
                raise ps_error(
                    'Exception calling "Build" with "1" argument(s): "Value cannot be null."',
                    "ArgumentNullException",
                    "NotSpecified",
                    "System.ArgumentNullException",
                )
            issuers = list(getattr(cert, "chain", None) or [])
            self.elements = [PSObject({"Certificate": cert})] + [
                PSObject({"Certificate": self._certificate(s, issuers[i + 1 :])})
                for i, s in enumerate(issuers)
            ]
            flags = self._judge(issuers)
            self.status = [
                PSObject(
                    {"Status": f, "StatusInformation": CHAIN_STATUS[f][1]},
                    type_name=X509_NS + "X509ChainStatus",
                )
                for f in sorted(flags, key=lambda f: CHAIN_STATUS[f][0])
            ]
            return not flags
        if name in ("reset", "dispose"):
            self.elements = []
            self.status = []
            return None
        raise AttributeError(name)

    def _certificate(self, subject: str, above: list[str]) -> PSObject:
        return PSObject(
            {
                "Subject": subject,
                "Issuer": above[0] if above else subject,
                "Thumbprint": self.host.thumbprint_of(subject),
            },
            type_name=X509_TYPE,
        )

    def _judge(self, issuers: list[str]) -> set[str]:
        if not issuers:  # no issuer the host can find: the chain stops at the leaf
            return {"PartialChain"}
        flags: set[str] = set()
        if self.host.thumbprint_of(issuers[-1]) not in self.host.trusted_roots:
            flags.add("UntrustedRoot")
        mode = self.policy.revocation_mode
        reachable = self.host.revocation_online if mode == "Online" else self.host.revocation_cached
        if mode != "NoCheck" and not reachable:
            flags |= {"RevocationStatusUnknown", "OfflineRevocation"}
        return flags


def _error_props(rec: ErrorRecord) -> CIDict:
    exc = PSObject(
        {"Message": rec.message, "GetType": rec.exception_type},
        type_name=rec.exception_type,
    )
    cat = PSObject(
        {
            "Category": rec.category,
            "Reason": rec.exception_type.rsplit(".", 1)[-1],
            "Activity": rec.command or "",
            "TargetName": to_str(rec.target),
        },
        type_name="System.Management.Automation.ErrorCategoryInfo",
    )
    return CIDict(
        {
            "Exception": exc,
            "FullyQualifiedErrorId": rec.fqid,
            "CategoryInfo": cat,
            "TargetObject": rec.target,
            "InvocationInfo": PSObject({"MyCommand": rec.command, "PositionMessage": rec.position}),
            "ErrorDetails": None,
            "ScriptStackTrace": "",
        }
    )


def props_of(obj: Any) -> CIDict | None:
    """The property bag of ``obj``, or None for scalars."""
    if isinstance(obj, PSObject):
        return obj.props
    if isinstance(obj, CIDict):
        return obj
    if isinstance(obj, LiveObject):
        return obj.ps_props()
    if isinstance(obj, ErrorRecord):
        return _error_props(obj)
    if isinstance(obj, PSCredential):
        return CIDict({"UserName": obj.user, "Password": obj.password})
    if isinstance(obj, Version):
        names = ("Major", "Minor", "Build", "Revision")
        return CIDict(
            {n: (obj.parts[i] if i < len(obj.parts) else -1) for i, n in enumerate(names)}
        )
    if isinstance(obj, PSDate):
        d = obj.dt
        return CIDict(
            {
                "Year": d.year,
                "Month": d.month,
                "Day": d.day,
                "Hour": d.hour,
                "Minute": d.minute,
                "Second": d.second,
                "Ticks": int(d.timestamp() * 1e7),
            }
        )
    return None


def get_member(obj: Any, name: str) -> Any:
    """``obj.name``: properties, .Count/.Length, and member enumeration over arrays."""
    low = name.lower()
    if low == "psobject" and isinstance(obj, PSObject | LiveObject):
        return _psobject_view(obj)
    if isinstance(obj, CIDict):
        if name in obj:
            return obj[name]
        if low in ("count", "length"):
            return len(obj)
        if low == "keys":
            return list(obj.keys())
        if low == "values":
            return list(obj.values())
        return None
    if isinstance(obj, list):
        if low in ("count", "length", "longlength"):
            return len(obj)
        out = [get_member(x, name) for x in obj]
        flat: list[Any] = []
        for v in out:
            if isinstance(v, list):
                flat.extend(v)
            elif v is not None:
                flat.append(v)
        return flat if len(flat) != 1 else flat[0]
    if isinstance(obj, str):
        if low == "length":
            return len(obj)
        if low == "count":
            return 1
        return None
    if obj is None:
        return 0 if low == "count" else None
    if isinstance(obj, LiveObject):
        obj.ps_touch(low)
    if isinstance(obj, bytes) and low in ("length", "count", "longlength"):
        return len(obj)
    bag = props_of(obj)
    if bag is not None and name in bag:
        return bag[name]
    if isinstance(obj, SwitchValue) and low == "ispresent":
        return obj.on
    if low == "count":
        return 1
    return None


def _psobject_view(obj: PSObject | LiveObject) -> PSObject:
    """``$x.PSObject``: its ``Properties`` (Name, Value) and ``TypeNames``, for scripts that
    look at every property instead of one name."""
    bag = props_of(obj) or CIDict()
    props = [
        PSObject(
            {"Name": k, "Value": v, "MemberType": "NoteProperty", "IsGettable": True},
            type_name="System.Management.Automation.PSNoteProperty",
        )
        for k, v in bag.items()
    ]
    return PSObject({"Properties": props, "TypeNames": [type_name(obj), "System.Object"]})


def set_member(obj: Any, name: str, value: Any) -> None:
    if isinstance(obj, CIDict):
        obj[name] = value
        return
    if isinstance(obj, PSObject):
        if name not in obj.props:
            raise ps_error(
                f"The property '{name}' cannot be found on this object. Verify that the "
                "property exists and can be set.",
                "PropertyNotFound",
                "InvalidOperation",
            )
        obj.props[name] = value
        return
    if isinstance(obj, LiveObject) and obj.ps_set(name, value):
        return
    raise ps_error(
        f"The property '{name}' cannot be found on this object. Verify that the property "
        "exists and can be set.",
        "PropertyNotFound",
        "InvalidOperation",
    )


def _method_missing(obj: Any, name: str) -> Exception:
    tn = type_name(obj)
    return ps_error(
        f"Method invocation failed because [{tn}] does not contain a method named '{name}'.",
        "MethodNotFound",
        "InvalidOperation",
    )


def type_name(obj: Any) -> str:
    if isinstance(obj, PSChar):
        return "System.Char"
    if isinstance(obj, str):
        return "System.String"
    if isinstance(obj, bool):
        return "System.Boolean"
    if isinstance(obj, int):
        return "System.Int32"
    if isinstance(obj, float):
        return "System.Double"
    if isinstance(obj, list):
        return "System.Object[]"
    if isinstance(obj, bytes):
        return "System.Byte[]"
    if isinstance(obj, CIDict):
        return "System.Collections.Hashtable"
    if isinstance(obj, PSObject):
        return obj.type_name
    if isinstance(obj, LiveObject):
        return obj.type_name
    return {
        SecureString: "System.Security.SecureString",
        PSCredential: "System.Management.Automation.PSCredential",
        Version: "System.Version",
        ErrorRecord: "System.Management.Automation.ErrorRecord",
        ScriptBlockValue: "System.Management.Automation.ScriptBlock",
    }.get(type(obj), "System.Object")


_DATE_ADD = {
    "adddays": "days",
    "addhours": "hours",
    "addminutes": "minutes",
    "addseconds": "seconds",
    "addmilliseconds": "milliseconds",
}


def call_method(session: Session, obj: Any, name: str, args: list[Any]) -> Any:
    """``obj.name(args)`` for the handful of methods scripts use."""
    low = name.lower()
    if low == "tostring":
        if isinstance(obj, PSDate) and args:
            return format_date(obj.dt, to_str(args[0]))
        if isinstance(obj, (int, float)) and not isinstance(obj, bool) and args:
            return format_number(obj, to_str(args[0]))
        if isinstance(obj, StringBuilder):
            return obj.ps_method("tostring", [])
        return to_str(obj)
    if isinstance(obj, PSDate) and low in ("touniversaltime", "tolocaltime"):
        return obj  # the modelled host's time zone is UTC (values.modelled_date)
    if isinstance(obj, PSDate) and low in _DATE_ADD and args:
        # DateTime.AddSeconds(-3600) and the like: a new DateTime, the value may be negative
        amount = float(to_number(args[0]))
        return PSDate(obj.dt + datetime.timedelta(**{_DATE_ADD[low]: amount}))
    if low == "gettype":
        return PSObject({"Name": type_name(obj).rsplit(".", 1)[-1], "FullName": type_name(obj)})
    if low == "equals" and args:
        return ps_equal(obj, args[0])
    if isinstance(obj, str):
        return _string_method(obj, low, args, name)
    if isinstance(obj, CIDict):
        if low in ("containskey", "contains"):
            return args[0] in obj
        if low == "add":
            if args[0] in obj:
                raise ps_error(
                    f"Item has already been added. Key in dictionary: '{to_str(args[0])}'  Key "
                    f"being added: '{to_str(args[0])}'",
                    "ArgumentException",
                    "NotSpecified",
                    "System.ArgumentException",
                )
            obj[args[0]] = args[1]
            return None
        if low == "remove":
            if args[0] in obj:
                del obj[args[0]]
            return None
        if low == "clone":
            return obj.copy()
    if isinstance(obj, list):
        if low == "contains":
            return any(ps_equal(x, args[0]) for x in obj)
        if low == "indexof":
            return next((i for i, x in enumerate(obj) if ps_equal(x, args[0])), -1)
    if isinstance(obj, SecureString) and low in ("appendchar", "makereadonly", "isreadonly"):
        if low == "isreadonly":
            return obj.read_only
        if low == "makereadonly":
            obj.read_only = True
            return None
        try:
            obj.append_char(to_str(args[0]) if args else "")
        except InvalidOperation as exc:
            raise ps_error(
                f'Exception calling "AppendChar" with "1" argument(s): "{exc}"',
                "InvalidOperationException",
                "NotSpecified",
                "System.InvalidOperationException",
            ) from None
        return None
    if isinstance(obj, PSCredential) and low == "getnetworkcredential":
        user = obj.user
        domain = ""
        if "\\" in user:
            domain, user = user.split("\\", 1)
        return PSObject(
            {"UserName": user, "Domain": domain, "Password": obj.password.reveal()},
            type_name="System.Net.NetworkCredential",
        )
    if isinstance(obj, ScriptBlockValue) and low == "invoke":
        return session.invoke_block(obj, args=args)
    if isinstance(obj, ErrorRecord) and low == "tostring":
        return obj.message
    if isinstance(obj, LiveObject):
        try:
            return obj.ps_method(low, args)
        except AttributeError:
            raise _method_missing(obj, name) from None
    bag = props_of(obj)
    if bag is not None and name in bag and isinstance(bag[name], ScriptBlockValue):
        return session.invoke_block(bag[name], args=args)
    raise _method_missing(obj, name)


def _string_method(s: str, low: str, args: list[Any], name: str) -> Any:
    a = [to_str(x) for x in args]
    if low == "contains":
        return a[0] in s
    if low == "startswith":
        return s.lower().startswith(a[0].lower()) if len(args) > 1 else s.startswith(a[0])
    if low == "endswith":
        return s.lower().endswith(a[0].lower()) if len(args) > 1 else s.endswith(a[0])
    if low == "tolower" or low == "tolowerinvariant":
        return s.lower()
    if low == "toupper" or low == "toupperinvariant":
        return s.upper()
    if low == "trim":
        return s.strip(a[0]) if a else s.strip()
    if low == "trimstart":
        return s.lstrip(a[0]) if a else s.lstrip()
    if low == "trimend":
        return s.rstrip(a[0]) if a else s.rstrip()
    if low == "split":
        seps = "".join(a) if a else " "
        out = [s]
        for ch in seps:
            out = [p for part in out for p in part.split(ch)]
        return out
    if low == "replace":
        return s.replace(a[0], a[1])
    if low == "substring":
        start = int(to_number(args[0]))
        if len(args) > 1:
            return s[start : start + int(to_number(args[1]))]
        return s[start:]
    if low == "indexof":
        return s.find(a[0])
    if low == "padleft":
        return s.rjust(int(to_number(args[0])), a[1] if len(a) > 1 else " ")
    if low == "padright":
        return s.ljust(int(to_number(args[0])), a[1] if len(a) > 1 else " ")
    if low == "tochararray":
        return [PSChar(c) for c in s]
    raise _method_missing(s, name)


class Encoding(LiveObject):
    """``[System.Text.Encoding]::UTF8`` (or ASCII, Unicode): GetString(byte[]) and
    GetBytes(string); byte[] is modelled as Python ``bytes``."""

    def __init__(self, name: str) -> None:
        self.codec = {"utf8": "utf-8", "ascii": "ascii", "unicode": "utf-16-le"}[name.lower()]
        self.type_name = (
            "System.Text."
            + {
                "utf-8": "UTF8Encoding",
                "ascii": "ASCIIEncoding",
                "utf-16-le": "UnicodeEncoding",
            }[self.codec]
        )

    def ps_method(self, name: str, args: list[Any]) -> Any:
        if name == "getstring" and args and isinstance(args[0], bytes):
            return args[0].decode(self.codec, errors="replace")
        if name == "getbytes" and args:
            return to_str(args[0]).encode(self.codec, errors="replace")
        raise AttributeError(name)


class StringBuilder(LiveObject):
    """System.Text.StringBuilder: Append (returns the builder, hence ``[void]``), ToString."""

    type_name = "System.Text.StringBuilder"

    def __init__(self) -> None:
        self.parts: list[str] = []

    def ps_props(self) -> CIDict:
        return CIDict({"Length": sum(len(p) for p in self.parts)})

    def ps_method(self, name: str, args: list[Any]) -> Any:
        if name == "append":
            self.parts.append(to_str(args[0]) if args else "")
            return self
        if name == "tostring":
            return "".join(self.parts)
        raise AttributeError(name)


def format_number(n: int | float, spec: str) -> str:
    """``$n.ToString('x4')`` and ``'{0:x4}' -f $n``: .NET standard numeric formats X, D, N0."""
    kind, digits = spec[:1], spec[1:]
    width = int(digits) if digits.isdigit() else 0
    if kind in ("x", "X") and isinstance(n, int):
        text = format(n, f"0{width}x")
        return text.upper() if kind == "X" else text
    if kind in ("d", "D") and isinstance(n, int):
        return format(n, f"0{width}d")
    if kind in ("n", "N"):
        return format(n, f",.{width}f")
    raise ps_error(
        "Format specifier was invalid.", "FormatException", "NotSpecified", "System.FormatException"
    )


def _from_base64(text: str) -> bytes:
    """[System.Convert]::FromBase64String, which refuses what is not base64 (FormatException)."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ps_error(
            'Exception calling "FromBase64String" with "1" argument(s): "The input is not a '
            "valid Base-64 string as it contains a non-base 64 character, more than two padding "
            'characters, or an illegal character among the padding characters. "',
            "FormatException",
            "NotSpecified",
            "System.FormatException",
        ) from None


class _ConsoleIn:
    def __init__(self, session: Session) -> None:
        self.session = session


class _ConsoleOut:
    def __init__(self, session: Session) -> None:
        self.session = session


def static_member(session: Session, type_text: str, name: str) -> Any:
    t = normalize_type(type_text)
    low = name.lower()
    if t == "console" and low == "in":
        return _ConsoleIn(session)
    if t == "console" and low in ("out", "error"):
        return _ConsoleOut(session)
    if t == "environment":
        if low == "machinename":
            return session.host.name
        if low == "newline":
            return "\r\n"
        if low == "username":
            return session.host.login_user.split("\\")[-1]
        if low == "userdomainname":
            return session.host.login_user.split("\\")[0].upper()
        if low == "osversion":
            return PSObject({"Version": Version(session.host.os_version)})
    if t == "datetime" and low in ("now", "utcnow"):
        return PSDate(datetime.datetime.now())
    if t in ("int", "int32") and low == "maxvalue":
        return 2**31 - 1
    if t == "string" and low == "empty":
        return ""
    if t == "net.servicepointmanager" and low == "securityprotocol":
        return session.security_protocol
    if t == "net.securityprotocoltype":
        return name
    if t == "text.encoding" and low in ("utf8", "unicode", "ascii"):
        return Encoding(low)
    io_enum = IO_ENUMS.get(t)
    if io_enum is not None and low in (m.lower() for m in io_enum):
        return next(m for m in io_enum if m.lower() == low)
    enum = X509_ENUMS.get(t.removeprefix("security.cryptography.x509certificates."))
    if enum is not None:
        for member in enum:
            if member.lower() == low:
                return member
    raise ps_error(
        f"The property '{name}' cannot be found on type [{type_text}].",
        "PropertyNotFound",
        "InvalidOperation",
    )


def call_static(session: Session, type_text: str, name: str, args: list[Any]) -> Any:
    t = normalize_type(type_text)
    low = name.lower()
    if t == "scriptblock" and low == "create":
        return session.compile_block(to_str(args[0]))
    if t == "convert" and low == "frombase64string":
        return _from_base64(to_str(args[0]))
    if t == "convert" and low == "tobase64string" and args and isinstance(args[0], bytes):
        return base64.b64encode(args[0]).decode("ascii")
    if t in ("security.cryptography.x509certificates.x509chain", "x509chain") and low == "new":
        return X509Chain(session.host)
    if t == "timespan" and low in ("fromseconds", "fromminutes"):
        seconds = float(to_number(args[0])) * (60 if low == "fromminutes" else 1)
        return datetime.timedelta(seconds=seconds)
    if t in ("text.stringbuilder", "stringbuilder") and low == "new" and not args:
        return StringBuilder()
    if t in ("security.securestring", "securestring") and low == "new" and not args:
        return SecureString("", read_only=False)
    if t in CRED_TYPE_NAMES and low == "new":
        if len(args) != 2 or not isinstance(args[1], SecureString):
            raise ps_error(
                f'Cannot find an overload for "new" and the argument count: "{len(args)}".',
                "MethodCountCouldNotFindBest",
                "NotSpecified",
            )
        return PSCredential(to_str(args[0]), args[1])
    if t == "io.path":
        a = [to_str(x) for x in args]
        if low == "combine":
            return ntpath.join(*a)
        if low == "getfilename":
            return ntpath.basename(a[0])
        if low == "getdirectoryname":
            return ntpath.dirname(a[0])
        if low == "getextension":
            return ntpath.splitext(a[0])[1]
        if low == "gettemppath":
            return "C:\\Windows\\TEMP\\"
    if t == "io.file" and low in ("create", "openwrite"):
        return session.create_file(to_str(args[0]))
    if t == "io.file" and low == "open" and len(args) == 4:
        mode, access, share = (to_str(a) for a in args[1:])
        return session.open_file(to_str(args[0]), mode, access, share)
    if t == "io.file" and low == "exists":
        return session.host.file_exists(to_str(args[0]))
    if t == "string":
        if low == "isnullorempty":
            return args[0] is None or to_str(args[0]) == ""
        if low == "isnullorwhitespace":
            return args[0] is None or to_str(args[0]).strip() == ""
        if low == "join":
            return to_str(args[0]).join(
                to_str(x) for x in as_list(args[1] if len(args) == 2 else args[1:])
            )
        if low == "format":
            return format_op(to_str(args[0]), list(args[1:]))
    if t == "math" and low == "round":
        return round(float(to_number(args[0])), int(to_number(args[1])) if len(args) > 1 else 0)
    if t == "guid" and low == "newguid":
        return str(uuid.uuid4())
    if t in ("int", "int32") and low == "parse":
        return int(to_number(to_str(args[0])))
    if t == "version" and low == "parse":
        return Version(to_str(args[0]))
    if t == "environment" and low == "getenvironmentvariable":
        return session.env.get(to_str(args[0]))
    raise ps_error(
        f"Method invocation failed because [{type_text}] does not contain a method named '{name}'.",
        "MethodNotFound",
        "InvalidOperation",
    )


def console_method(session: Session, obj: Any, name: str, args: list[Any]) -> Any:
    low = name.lower()
    if isinstance(obj, _ConsoleIn) and low == "readline":
        return session.read_stdin_line()
    if isinstance(obj, _ConsoleOut) and low in ("writeline", "write"):
        text = to_str(args[0]) if args else ""
        session.write_stdout(text + ("\r\n" if low == "writeline" else ""))
        return None
    if isinstance(obj, _ConsoleOut) and low == "flush":
        return None
    raise _method_missing(obj, name)


def is_console(obj: Any) -> bool:
    return isinstance(obj, (_ConsoleIn, _ConsoleOut))


def normalize_type(t: str) -> str:
    low = t.lower().strip()
    if low.startswith("system."):
        low = low[7:]
    return low


def cast(session: Session, type_text: str, value: Any) -> Any:
    """``[type]value``."""
    t = normalize_type(type_text)
    if t.endswith("[]") or t == "array":
        inner = t[:-2]
        items = as_list(value)
        return (
            [cast(session, inner, x) for x in items] if inner not in ("object", "") else list(items)
        )
    if t in ("int", "int32", "long", "int64", "uint32", "byte"):
        if isinstance(value, PSChar):
            return ord(value)
        n = to_number(value)
        return round(n) if isinstance(n, float) else n
    if t in ("double", "float", "single", "decimal"):
        return float(to_number(value))
    if t == "string":
        return None if value is None else to_str(value)
    if t in ("bool", "boolean"):
        return to_bool(value)
    if t == "switch" or t == "management.automation.switchparameter":
        return SwitchValue(to_bool(value))
    if t == "version":
        if isinstance(value, Version):
            return value
        try:
            return Version(to_str(value))
        except ValueError:
            raise ps_error(
                f'Cannot convert value "{to_str(value)}" to type "System.Version". Error: "Input '
                'string was not in a correct format."',
                "InvalidCastParseTargetInvocation",
                "InvalidArgument",
            ) from None
    if t in ("hashtable", "collections.hashtable"):
        return value.copy() if isinstance(value, CIDict) else value
    if t in ("ordered", "collections.specialized.ordereddictionary"):
        return value
    if t in ("pscustomobject", "management.automation.pscustomobject", "psobject"):
        if isinstance(value, CIDict):
            return PSObject(value.copy())
        return value
    if t in ("scriptblock", "management.automation.scriptblock"):
        return (
            value if isinstance(value, ScriptBlockValue) else session.compile_block(to_str(value))
        )
    if t == "void":
        return None
    if t in ("object", "psobject"):
        return value
    if t == "datetime":
        if isinstance(value, PSDate):
            return value
        return PSDate(datetime.datetime.fromisoformat(to_str(value)))
    if t in ("securestring", "security.securestring") and isinstance(value, SecureString):
        return value
    if t in ("char",):
        if isinstance(value, int) and not isinstance(value, bool):
            return PSChar(chr(value))
        text = to_str(value)
        if len(text) != 1:
            raise ps_error(
                f'Cannot convert value "{text}" to type "System.Char". Error: "String must be '
                'exactly one character long."',
                "InvalidCastParseTargetInvocation",
                "InvalidArgument",
            )
        return PSChar(text)
    if t in KNOWN_TYPES:
        return value
    raise ps_error(f"Unable to find type [{type_text}].", "TypeNotFound", "InvalidOperation")


CRED_TYPE_NAMES = ("management.automation.pscredential", "pscredential")

KNOWN_TYPES = {
    "convert",
    "text.stringbuilder",
    "security.securestring",
    "securestring",
    "console",
    "environment",
    "io.path",
    "io.file",
    "math",
    "guid",
    "string",
    "datetime",
    "net.servicepointmanager",
    "net.securityprotocoltype",
    "version",
    "int",
    "int32",
    "scriptblock",
    "management.automation.pscredential",
    "pscredential",
    "text.encoding",
}


def format_date(dt: datetime.datetime, fmt: str) -> str:
    if fmt in ("o", "O"):
        return dt.isoformat()
    if fmt in ("s",):
        return dt.strftime("%Y-%m-%dT%H:%M:%S")
    table = [("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")]
    out = fmt
    for a, b in table:
        out = out.replace(a, b)
    return dt.strftime(out)
