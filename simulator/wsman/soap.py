"""SOAP 1.2 / WS-Management envelopes: read what pywinrm sends, write what Windows answers.

Only the handful of elements the shell resource uses are read; responses are built as text
templates because that is both fast and byte-for-byte predictable for the client's parsers.
Header order, fault codes, reasons, messages and ``w:FaultDetail`` follow the exchanges recorded
against Windows Server 2008 R2 to 2019 in pypsrp's test suite
(``tests/tests_pypsrp/responses/*.yml``); tests/sim/test_wsman_recorded.py quotes each one.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}

ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
ACTION_COMMAND = _SHELL + "/Command"
ACTION_SEND = _SHELL + "/Send"
ACTION_RECEIVE = _SHELL + "/Receive"
ACTION_SIGNAL = _SHELL + "/Signal"
STATE_RUNNING = _SHELL + "/CommandState/Running"
STATE_DONE = _SHELL + "/CommandState/Done"
SIGNAL_TERMINATE = _SHELL + "/signal/terminate"
SIGNAL_CTRL_C = _SHELL + "/signal/ctrl_c"
RESOURCE_CMD = _SHELL + "/cmd"
RESOURCE_POWERSHELL = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
_DETAIL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/"
DETAIL_UNEXPECTED_SELECTORS = _DETAIL + "UnexpectedSelectors"
DETAIL_INVALID_VALUE = _DETAIL + "InvalidValue"
DETAIL_INVALID_RESOURCE_URI = _DETAIL + "InvalidResourceURI"
# Where Windows says a fault came from a plugin (f:ProviderFault provider=... path=...).
CMD_PLUGIN = ("Shell cmd plugin", "%systemroot%\\system32\\winrscmd.dll")
ACTION_WSMAN_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
ACTION_ADDRESSING_FAULT = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"

OPERATIONS = {
    ACTION_CREATE: "Create",
    ACTION_DELETE: "Delete",
    ACTION_COMMAND: "Command",
    ACTION_SEND: "Send",
    ACTION_RECEIVE: "Receive",
    ACTION_SIGNAL: "Signal",
}

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str | None, default: float = 60.0) -> float:
    """ISO 8601 duration (PT20S, PT0.5S, PT1M30S, P0DT0H0M5S) to seconds; ``default`` if absent."""
    if not text:
        return default
    match = _DURATION.match(text.strip())
    if not match or not any(match.groupdict().values()):
        return default
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


class SoapParseError(ValueError):
    """The body is not a WS-Management envelope we can read."""


def parse_timeout(text: str | None) -> float | None:
    """OperationTimeout in seconds: 60 if absent, None if present but not a valid duration."""
    if text is None:
        return 60.0
    match = _DURATION.match(text.strip())
    if not match or not any(match.groupdict().values()):
        return None
    return parse_duration(text)


@dataclass
class Request:
    """The parts of a WS-Man request the shell service acts on."""

    action: str
    message_id: str
    operation_timeout: float
    shell_id: str | None
    body: ET.Element
    options: dict[str, str] = field(default_factory=dict)
    resource_uri: str = RESOURCE_CMD
    # A header Windows refuses before looking at the resource (an invalid OperationTimeout).
    header_fault: WsmanFault | None = None

    @property
    def operation(self) -> str:
        return OPERATIONS.get(self.action, "Unknown")


def _text(elem: ET.Element | None) -> str | None:
    return None if elem is None else (elem.text or "").strip()


def parse_request(data: bytes) -> Request:
    """Parse a SOAP envelope; raise SoapParseError when it is not one."""
    try:
        root = ET.fromstring(data)  # noqa: S314 - loopback test double, input from our own tests
    except ET.ParseError as exc:
        raise SoapParseError("body is not XML") from exc
    header = root.find("s:Header", NS)
    body = root.find("s:Body", NS)
    if header is None or body is None:
        raise SoapParseError("not a SOAP 1.2 envelope")
    selector = header.find("w:SelectorSet/w:Selector[@Name='ShellId']", NS)
    options = {
        opt.get("Name", ""): (opt.text or "") for opt in header.findall("w:OptionSet/w:Option", NS)
    }
    timeout_text = _text(header.find("w:OperationTimeout", NS))
    timeout = parse_timeout(timeout_text)
    return Request(
        action=_text(header.find("a:Action", NS)) or "",
        message_id=_text(header.find("a:MessageID", NS)) or "",
        operation_timeout=60.0 if timeout is None else timeout,
        shell_id=_text(selector),
        body=body,
        options=options,
        resource_uri=_text(header.find("w:ResourceURI", NS)) or "",
        header_fault=None if timeout is not None else invalid_timeout(timeout_text or ""),
    )


_ENVELOPE_OPEN = (
    '<s:Envelope xml:lang="en-US" xmlns:s="{s}" xmlns:a="{a}" xmlns:x="{x}" xmlns:w="{w}" '
    'xmlns:rsp="{rsp}" xmlns:p="{p}">'
).format(**NS)


def envelope(action: str, relates_to: str, body: str) -> bytes:
    """A response envelope: Action, fresh MessageID, RelatesTo the request, then ``body``."""
    # Header order as Windows writes it: Action, MessageID, To, RelatesTo.
    return (
        _ENVELOPE_OPEN + "<s:Header>"
        f"<a:Action>{escape(action)}</a:Action>"
        f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        f"<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>"
        f"</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode("utf-8")


def response(req: Request, body: str) -> bytes:
    return envelope(req.action + "Response", req.message_id, body)


@dataclass
class WsmanFault(Exception):
    """A WS-Management fault, sent as HTTP 500 the way Windows formats it.

    ``reason`` is the SOAP ``s:Reason`` text; ``message`` the ``f:WSManFault/f:Message`` text when
    Windows gives a more specific one there; ``detail`` the ``w:FaultDetail`` URI; ``provider``
    the plugin (name, path) when Windows wraps the message in ``f:ProviderFault``. Windows ends
    these texts with ". " (a space after the full stop); they are kept so.
    """

    code: int
    subcode: str
    reason: str
    value: str = "s:Receiver"
    action: str = ACTION_WSMAN_FAULT
    message: str | None = None
    detail: str | None = None
    provider: tuple[str, str] | None = None

    def __str__(self) -> str:
        return f"{self.subcode} ({self.code}): {self.reason}"


def fault_body(fault: WsmanFault, relates_to: str, machine: str) -> bytes:
    message = escape(fault.message if fault.message is not None else fault.reason)
    if fault.provider is not None:
        name, path = fault.provider
        message = (
            f"<f:ProviderFault provider={quoteattr(name)} path={quoteattr(path)}>"
            f"{message}</f:ProviderFault>"
        )
    detail = f"<w:FaultDetail>{escape(fault.detail)}</w:FaultDetail>" if fault.detail else ""
    detail += (
        f'<f:WSManFault xmlns:f="{NS["f"]}" Code="{fault.code}" Machine={quoteattr(machine)}>'
        f"<f:Message>{message}</f:Message></f:WSManFault>"
    )
    body = (
        f"<s:Fault><s:Code><s:Value>{fault.value}</s:Value>"
        f"<s:Subcode><s:Value>{fault.subcode}</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en-US">{escape(fault.reason)}</s:Text></s:Reason>'
        f"<s:Detail>{detail}</s:Detail></s:Fault>"
    )
    return envelope(fault.action, relates_to, body)


_INVALID_SELECTORS = (
    "The WS-Management service cannot process the request because the request contained "
    "invalid selectors for the resource. "
)


def timed_out() -> WsmanFault:
    # test_winrs_operation_timeout.yml: two spaces after the full stop.
    return WsmanFault(
        2150858793,
        "w:TimedOut",
        "The WS-Management service cannot complete the operation within the time specified in "
        "OperationTimeout.  ",
    )


def invalid_selectors(shell_id: str) -> WsmanFault:
    """No shell with that ShellId (never created, deleted, or lost with a service restart).

    Subcode, reason and FaultDetail as in test_psrp_is_alive_invalid_selectors.yml; the message
    is the one Microsoft Learn quotes for a request on a shell that is gone (the Exchange Online
    Protection and Security & Compliance PowerShell connection pages: "The request for the Windows
    Remote Shell with ShellId <ID> failed because the shell was not found on the server. ...").
    """
    return WsmanFault(
        2150858843,
        "w:InvalidSelectors",
        _INVALID_SELECTORS,
        value="s:Sender",
        message=(
            f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the "
            "shell was not found on the server. Possible causes are: the specified ShellId is "
            "incorrect or the shell no longer exists on the server. Provide the correct ShellId "
            "or create a new shell and retry the operation. "
        ),
        detail=DETAIL_UNEXPECTED_SELECTORS,
    )


def unknown_command() -> WsmanFault:
    """A CommandId the shell does not have (test_winrs_bad_cmd_id.yml)."""
    return WsmanFault(
        2150858843,
        "w:InvalidSelectors",
        _INVALID_SELECTORS,
        value="s:Sender",
        message=(
            "The Windows Remote Shell received a request to perform an operation on a command "
            "identifier that does not exist. Either the command has completed execution or the "
            "client specified an invalid command identifier. "
        ),
        detail=DETAIL_UNEXPECTED_SELECTORS,
    )


def invalid_parameter() -> WsmanFault:
    """The cmd plugin refuses a request it cannot act on (a Receive naming no CommandId:
    test_winrs_fail_poll_process.yml)."""
    return WsmanFault(
        87,
        "w:InvalidParameter",
        "The parameter is incorrect. ",
        value="s:Sender",
        detail=DETAIL_INVALID_VALUE,
        provider=CMD_PLUGIN,
    )


def file_not_found() -> WsmanFault:
    """Command with WINRS_SKIP_CMD_SHELL=TRUE naming an executable Windows cannot find
    (test_winrs_no_cmd_shell.yml): refused at Command time, no process starts."""
    return WsmanFault(
        2147942402,
        "w:InternalError",
        "The system cannot find the file specified. ",
        provider=CMD_PLUGIN,
    )


def resource_not_found(resource_uri: str) -> WsmanFault:
    """A resource URI this host's WS-Management catalog does not hold.

    Code and text as Windows reports them for an unregistered endpoint (pypsrp issues #47 and
    #192: Code 2150858811; Microsoft Learn, Unregister-PSSessionConfiguration, example: "The
    resource URI (http://schemas.microsoft.com/powershell/MaintenanceShell) was not found in the
    WS-Management catalog."). Subcode and FaultDetail are DSP0226's for an unknown resource URI
    (wsa:DestinationUnreachable, faultDetail/InvalidResourceURI), as Windows writes them.
    """
    return WsmanFault(
        2150858811,
        "a:DestinationUnreachable",
        f"The WS-Management service cannot process the request. The resource URI "
        f"({resource_uri}) was not found in the WS-Management catalog. The catalog contains the "
        "metadata that describes resources, or logical endpoints. ",
        value="s:Sender",
        action=ACTION_ADDRESSING_FAULT,
        detail=DETAIL_INVALID_RESOURCE_URI,
    )


def invalid_timeout(text: str) -> WsmanFault:
    """An OperationTimeout that is not a valid duration (test_psrp_is_alive_other_wsman_error.yml:
    PT-1S)."""
    return WsmanFault(
        2150858767,
        "a:InvalidMessageInformationHeader",
        "The WS-Management service cannot process the request. The request contains one or more "
        "invalid SOAP headers. ",
        value="s:Sender",
        action=ACTION_ADDRESSING_FAULT,
        message=(
            "The WS-Management service cannot process the request. The XML contains an invalid "
            f"timeout field in the SOAP header: {text}. "
        ),
    )


def quota_exceeded() -> WsmanFault:
    return WsmanFault(
        2150859174,
        "w:QuotaLimit",
        "The WS-Management service cannot process the request. This user has exceeded the "
        "maximum number of concurrent operations allowed for this shell.",
    )


def action_not_supported(action: str) -> WsmanFault:
    return WsmanFault(
        2150858771,
        "a:ActionNotSupported",
        f"The action is not supported by the service: {action}",
        value="s:Sender",
        action=ACTION_ADDRESSING_FAULT,
    )


def envelope_too_large(max_kb: int) -> WsmanFault:
    """A request over MaxEnvelopeSizekb (code and wording modelled on w:EncodingLimit; still to
    be checked against a real server)."""
    return WsmanFault(
        2150858817,
        "w:EncodingLimit",
        "The WS-Management service cannot process the request because the request envelope "
        f"is larger than the MaxEnvelopeSizekb quota ({max_kb} KB).",
    )


def internal_error(message: str | None = None) -> WsmanFault:
    return WsmanFault(
        2147500037,
        "w:InternalError",
        message or "The WS-Management service encountered an internal error.",
    )


def access_denied() -> WsmanFault:
    return WsmanFault(
        5,
        "w:AccessDenied",
        "Access is denied. The WinRM client cannot process the request: unencrypted traffic is "
        "disabled in the service configuration (AllowUnencrypted=false).",
        value="s:Sender",
    )


def invalid_request(reason: str) -> WsmanFault:
    return WsmanFault(2150858817, "w:SchemaValidationError", reason, value="s:Sender")
