"""The listener's envelopes against exchanges recorded on real Windows servers.

Reference: pypsrp's recorded exchanges, ``tests/tests_pypsrp/responses/<file>.yml`` in
github.com/jborean93/pypsrp (Windows Server 2008 R2 to 2019). Each test names the file and quotes
the fragment of the recorded response it checks; everything host-specific (ids, addresses,
machine names) is left out of the fragment. Requests are sent raw (Basic over loopback http, as
``allow_basic`` permits) so the bytes the listener writes are what is compared.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
import requests

from simulator.wsman import WsmanServer
from simulator.wsman.soap import NS, RESOURCE_CMD
from simulator.wsman.standin import StandInHost

USER, PASSWORD = "SIMDOM\\operator", "Op-Secret-1"
_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
COMMAND, RECEIVE, SIGNAL = _SHELL + "/Command", _SHELL + "/Receive", _SHELL + "/Signal"
SHELL_BODY = (
    "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>"
    "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
)

# Fragments common to several recorded faults.
INVALID_SELECTORS = (
    "<s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:InvalidSelectors</s:Value></s:Subcode>"
    '</s:Code><s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot process the '
    "request because the request contained invalid selectors for the resource. </s:Text>"
    "</s:Reason><s:Detail><w:FaultDetail>http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/"
    'UnexpectedSelectors</w:FaultDetail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/'
    'wsman/1/wsmanfault" Code="2150858843"'
)


@pytest.fixture()
def server() -> Iterator[WsmanServer]:
    host = StandInHost("SIM01")
    with WsmanServer(host, accounts=[f"{USER}:{PASSWORD}"], allow_basic=True) as srv:
        yield srv


def request(
    action: str,
    body: str = "",
    *,
    shell_id: str | None = None,
    options: dict[str, str] | None = None,
    timeout: str = "PT20S",
    resource: str = RESOURCE_CMD,
) -> str:
    """An envelope shaped as pypsrp sends it (the recorded requests' prefixes and headers)."""
    pairs = (options or {}).items()
    opts = "".join(f'<wsman:Option Name="{k}">{v}</wsman:Option>' for k, v in pairs)
    return (
        f'<s:Envelope xmlns:rsp="{NS["rsp"]}" xmlns:s="{NS["s"]}" xmlns:wsa="{NS["a"]}" '
        f'xmlns:wsman="{NS["w"]}"><s:Header>'
        f'<wsa:Action s:mustUnderstand="true">{action}</wsa:Action>'
        f"<wsa:MessageID>uuid:{str(uuid.uuid4()).upper()}</wsa:MessageID>"
        f"<wsman:OperationTimeout>{timeout}</wsman:OperationTimeout>"
        f'<wsman:ResourceURI s:mustUnderstand="true">{resource}</wsman:ResourceURI>'
        + (f'<wsman:OptionSet s:mustUnderstand="true">{opts}</wsman:OptionSet>' if opts else "")
        + (
            f'<wsman:SelectorSet><wsman:Selector Name="ShellId">{shell_id}</wsman:Selector>'
            "</wsman:SelectorSet>"
            if shell_id
            else ""
        )
        + f"</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )


def send(srv: WsmanServer, envelope: str) -> tuple[int, str]:
    resp = requests.post(
        srv.url,
        data=envelope.encode(),
        headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
        auth=(USER, PASSWORD),
        timeout=10,
    )
    return resp.status_code, resp.text


def open_shell(srv: WsmanServer, body: str = SHELL_BODY) -> tuple[str, str]:
    status, text = send(srv, request(CREATE, body))
    assert status == 200, text
    found = re.search(r'<w:Selector Name="ShellId">([0-9A-F-]+)</w:Selector>', text)
    assert found
    return found.group(1), text


def run(srv: WsmanServer, shell_id: str, command: str, **opts: str) -> tuple[int, str]:
    body = f"<rsp:CommandLine><rsp:Command>{command}</rsp:Command></rsp:CommandLine>"
    return send(srv, request(COMMAND, body, shell_id=shell_id, options=opts or None))


def command_id(text: str) -> str:
    found = re.search(r"<rsp:CommandId>([0-9A-F-]+)</rsp:CommandId>", text)
    assert found, text
    return found.group(1)


def receive(srv: WsmanServer, shell_id: str, cid: str | None, timeout: str = "PT20S") -> str:
    attr = f' CommandId="{cid}"' if cid else ""
    body = f"<rsp:Receive><rsp:DesiredStream{attr}>stdout stderr</rsp:DesiredStream></rsp:Receive>"
    return send(srv, request(RECEIVE, body, shell_id=shell_id, timeout=timeout))[1]


def test_create_response_shell_children_as_recorded(server: WsmanServer) -> None:
    """test_winrs_standard.yml, CreateResponse:
    ``...</rsp:ClientIP><rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin
    </rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams><rsp:ShellRunTime>
    P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>``
    """
    _, text = open_shell(server)
    assert (
        "</rsp:ClientIP><rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin"
        "</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams><rsp:ShellRunTime>"
        "P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>"
        "</rsp:Shell>"
    ) in text
    shell = ET.fromstring(text).find("s:Body/rsp:Shell", NS)
    assert shell is not None
    assert [child.tag.split("}")[1] for child in shell] == [
        "ShellId",
        "ResourceUri",
        "Owner",
        "ClientIP",
        "IdleTimeOut",
        "InputStreams",
        "OutputStreams",
        "ShellRunTime",
        "ShellInactivity",
    ]


def test_create_response_resource_created_as_recorded(server: WsmanServer) -> None:
    """test_winrs_standard.yml, CreateResponse:
    ``</a:Address><a:ReferenceParameters><w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/
    windows/shell/cmd</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">``; the header
    order is Action, MessageID, To, RelatesTo."""
    _, text = open_shell(server)
    assert (
        "</a:Address><a:ReferenceParameters><w:ResourceURI>http://schemas.microsoft.com/wbem/"
        'wsman/1/windows/shell/cmd</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">'
    ) in text
    header = ET.fromstring(text).find("s:Header", NS)
    assert header is not None
    assert [child.tag.split("}")[1] for child in header] == [
        "Action",
        "MessageID",
        "To",
        "RelatesTo",
    ]


def test_create_echoes_idle_timeout_and_working_directory(server: WsmanServer) -> None:
    """test_winrs_extra_opts.yml: the request asks ``<rsp:IdleTimeOut>PT60S</rsp:IdleTimeOut>``
    and ``<rsp:WorkingDirectory>C:\\Windows</rsp:WorkingDirectory>``; the response has
    ``</rsp:ClientIP><rsp:WorkingDirectory>C:\\Windows</rsp:WorkingDirectory><rsp:IdleTimeOut>
    PT60.000S</rsp:IdleTimeOut>``."""
    body = (
        "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr"
        "</rsp:OutputStreams><rsp:IdleTimeOut>PT60S</rsp:IdleTimeOut>"
        "<rsp:WorkingDirectory>C:\\Windows</rsp:WorkingDirectory></rsp:Shell>"
    )
    _, text = open_shell(server, body)
    assert (
        "</rsp:ClientIP><rsp:WorkingDirectory>C:\\Windows</rsp:WorkingDirectory><rsp:IdleTimeOut>"
        "PT60.000S</rsp:IdleTimeOut>"
    ) in text


def test_receive_done_and_signal_and_delete_as_recorded(server: WsmanServer) -> None:
    """test_winrs_standard.yml: the last ReceiveResponse ends
    ``<rsp:Stream Name="stdout" CommandId="X" End="true"></rsp:Stream><rsp:Stream Name="stderr"
    CommandId="X" End="true"></rsp:Stream><rsp:CommandState CommandId="X" State="http://schemas.
    microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"><rsp:ExitCode>0</rsp:ExitCode>
    </rsp:CommandState></rsp:ReceiveResponse>``; Signal answers ``<rsp:SignalResponse/>`` and
    Delete ``<s:Body></s:Body>``."""
    shell_id, _ = open_shell(server)
    cid = command_id(run(server, shell_id, "hostname")[1])
    text = receive(server, shell_id, cid)
    assert (
        f'<rsp:Stream Name="stdout" CommandId="{cid}" End="true"></rsp:Stream>'
        f'<rsp:Stream Name="stderr" CommandId="{cid}" End="true"></rsp:Stream>'
        f'<rsp:CommandState CommandId="{cid}" State="http://schemas.microsoft.com/wbem/wsman/1/'
        'windows/shell/CommandState/Done"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState>'
        "</rsp:ReceiveResponse>"
    ) in text
    signal = (
        f'<rsp:Signal CommandId="{cid}"><rsp:Code>{_SHELL}/signal/ctrl_c</rsp:Code></rsp:Signal>'
    )
    assert (
        "<s:Body><rsp:SignalResponse/></s:Body>"
        in send(server, request(SIGNAL, signal, shell_id=shell_id))[1]
    )
    status, text = send(server, request(DELETE, shell_id=shell_id))
    assert (status, "<s:Body></s:Body>" in text) == (200, True)


def test_receive_while_running_as_recorded(server: WsmanServer) -> None:
    """test_winrs_operation_timeout.yml, a ReceiveResponse before the command ends:
    ``<rsp:Stream Name="stdout" CommandId="X">aGk=</rsp:Stream>...<rsp:CommandState CommandId="X"
    State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running">
    </rsp:CommandState></rsp:ReceiveResponse>``; Send answers ``<rsp:SendResponse/>``
    (test_winrs_send.yml)."""
    shell_id, _ = open_shell(server)
    cid = command_id(run(server, shell_id, "cat")[1])
    stdin = f'<rsp:Send><rsp:Stream Name="stdin" CommandId="{cid}">aGk=</rsp:Stream></rsp:Send>'
    status, text = send(server, request(_SHELL + "/Send", stdin, shell_id=shell_id))
    assert (status, "<s:Body><rsp:SendResponse/></s:Body>" in text) == (200, True)
    text = receive(server, shell_id, cid)
    assert (
        f'<rsp:Stream Name="stdout" CommandId="{cid}">aGk=</rsp:Stream>'
        f'<rsp:CommandState CommandId="{cid}" State="http://schemas.microsoft.com/wbem/wsman/1/'
        'windows/shell/CommandState/Running"></rsp:CommandState></rsp:ReceiveResponse>'
    ) in text


def test_receive_unknown_command_id_as_recorded(server: WsmanServer) -> None:
    """test_winrs_bad_cmd_id.yml, Receive with a CommandId the shell does not have (HTTP 500):
    the invalid-selectors fault, then ``<f:Message>The Windows Remote Shell received a request to
    perform an operation on a command identifier that does not exist. Either the command has
    completed execution or the client specified an invalid command identifier. </f:Message>``"""
    shell_id, _ = open_shell(server)
    text = receive(server, shell_id, "87E77BEB-6761-4C48-9D70-A00266B8459A")
    assert INVALID_SELECTORS in text
    assert (
        "<f:Message>The Windows Remote Shell received a request to perform an operation on a "
        "command identifier that does not exist. Either the command has completed execution or "
        "the client specified an invalid command identifier. </f:Message></f:WSManFault>"
        "</s:Detail></s:Fault>"
    ) in text
    assert "<a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action>" in text


def test_receive_without_command_id_as_recorded(server: WsmanServer) -> None:
    """test_winrs_fail_poll_process.yml, ``<rsp:DesiredStream>stdout stderr</rsp:DesiredStream>``
    (no CommandId): ``<s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:InvalidParameter</s:Value>
    ...The parameter is incorrect. ...faultDetail/InvalidValue...Code="87"...<f:ProviderFault
    provider="Shell cmd plugin" path="%systemroot%\\system32\\winrscmd.dll">The parameter is
    incorrect. </f:ProviderFault>``"""
    shell_id, _ = open_shell(server)
    text = receive(server, shell_id, None)
    assert (
        "<s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:InvalidParameter</s:Value></s:Subcode>"
        '</s:Code><s:Reason><s:Text xml:lang="en-US">The parameter is incorrect. </s:Text>'
        "</s:Reason><s:Detail><w:FaultDetail>http://schemas.dmtf.org/wbem/wsman/1/wsman/"
        'faultDetail/InvalidValue</w:FaultDetail><f:WSManFault xmlns:f="http://schemas.microsoft.'
        'com/wbem/wsman/1/wsmanfault" Code="87"'
    ) in text
    assert (
        '<f:Message><f:ProviderFault provider="Shell cmd plugin" path="%systemroot%\\system32\\'
        'winrscmd.dll">The parameter is incorrect. </f:ProviderFault></f:Message>'
    ) in text


def test_receive_timeout_as_recorded(server: WsmanServer) -> None:
    """test_winrs_operation_timeout.yml (HTTP 500): ``<s:Value>s:Receiver</s:Value><s:Subcode>
    <s:Value>w:TimedOut</s:Value>...The WS-Management service cannot complete the operation within
    the time specified in OperationTimeout.  </s:Text>`` (two spaces), Code="2150858793"."""
    shell_id, _ = open_shell(server)
    cid = command_id(run(server, shell_id, "sleep")[1])
    text = receive(server, shell_id, cid, timeout="PT0.2S")
    assert (
        "<s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode>"
        '</s:Code><s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot complete '
        "the operation within the time specified in OperationTimeout.  </s:Text></s:Reason>"
        '<s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" '
        'Code="2150858793"'
    ) in text


def test_invalid_operation_timeout_as_recorded(server: WsmanServer) -> None:
    """test_psrp_is_alive_other_wsman_error.yml, ``<wsman:OperationTimeout>PT-1S``: Action
    ``http://schemas.xmlsoap.org/ws/2004/08/addressing/fault``, ``<s:Value>s:Sender</s:Value>
    <s:Subcode><s:Value>a:InvalidMessageInformationHeader</s:Value>...The request contains one or
    more invalid SOAP headers. ...Code="2150858767"...<f:Message>The WS-Management service cannot
    process the request. The XML contains an invalid timeout field in the SOAP header: PT-1S.
    </f:Message>``"""
    status, text = send(server, request(CREATE, SHELL_BODY, timeout="PT-1S"))
    assert status == 500
    assert "<a:Action>http://schemas.xmlsoap.org/ws/2004/08/addressing/fault</a:Action>" in text
    assert (
        "<s:Value>s:Sender</s:Value><s:Subcode><s:Value>a:InvalidMessageInformationHeader"
        '</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">The WS-Management '
        "service cannot process the request. The request contains one or more invalid SOAP "
        'headers. </s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.'
        'com/wbem/wsman/1/wsmanfault" Code="2150858767"'
    ) in text
    assert (
        "<f:Message>The WS-Management service cannot process the request. The XML contains an "
        "invalid timeout field in the SOAP header: PT-1S. </f:Message>"
    ) in text
    assert server.shells.shell_count() == 0


def test_command_on_unknown_shell_is_refused_at_command_time(server: WsmanServer) -> None:
    """test_psrp_is_alive_invalid_selectors.yml (a request on a shell that is gone): the
    invalid-selectors fault with ``faultDetail/UnexpectedSelectors``; the message is the one
    Microsoft Learn quotes for it ("The request for the Windows Remote Shell with ShellId <ID>
    failed because the shell was not found on the server. ..."). Nothing is started."""
    gone = "6F1903CA-E06A-4A8B-BDFC-B44203149D55"
    status, text = run(server, gone, "hostname")
    assert status == 500
    assert INVALID_SELECTORS in text
    assert (
        f"<f:Message>The request for the Windows Remote Shell with ShellId {gone} failed because "
        "the shell was not found on the server."
    ) in text
    assert server.host.record.command_lines == []


def test_skip_cmd_shell_with_a_missing_executable_is_refused_at_command_time(
    server: WsmanServer,
) -> None:
    """test_winrs_no_cmd_shell.yml, Command with ``WINRS_SKIP_CMD_SHELL`` True naming an
    executable Windows cannot find (HTTP 500): ``<s:Value>s:Receiver</s:Value><s:Subcode><s:Value>
    w:InternalError</s:Value>...The system cannot find the file specified. ...Code="2147942402"
    ...<f:ProviderFault provider="Shell cmd plugin" path="%systemroot%\\system32\\winrscmd.dll">
    The system cannot find the file specified. </f:ProviderFault>``; the full path then runs."""
    shell_id, _ = open_shell(server)
    status, text = run(server, shell_id, "nosuch.exe /all", WINRS_SKIP_CMD_SHELL="True")
    assert status == 500
    assert (
        "<s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:InternalError</s:Value></s:Subcode>"
        '</s:Code><s:Reason><s:Text xml:lang="en-US">The system cannot find the file specified. '
        '</s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/'
        'wsman/1/wsmanfault" Code="2147942402"'
    ) in text
    assert (
        '<f:Message><f:ProviderFault provider="Shell cmd plugin" path="%systemroot%\\system32\\'
        'winrscmd.dll">The system cannot find the file specified. </f:ProviderFault></f:Message>'
    ) in text
    assert server.host.record.command_lines == []  # no process was started
    status, _ = run(
        server, shell_id, "C:\\Windows\\System32\\hostname.exe", WINRS_SKIP_CMD_SHELL="True"
    )
    assert status == 200
    # Through cmd.exe the same name starts cmd, which reports it on stderr (exit code 1).
    status, _ = run(server, shell_id, "nosuch.exe /all", WINRS_SKIP_CMD_SHELL="False")
    assert status == 200


def test_empty_command_line_is_refused(server: WsmanServer) -> None:
    """A Command whose rsp:Command is empty is refused by the cmd plugin (the invalid-parameter
    fault of test_winrs_fail_poll_process.yml; inferred, docs/simulator.md) and starts nothing."""
    shell_id, _ = open_shell(server)
    status, text = run(server, shell_id, "")
    assert status == 500
    assert "<s:Value>w:InvalidParameter</s:Value>" in text and 'Code="87"' in text
    # No rsp:CommandLine at all: the body does not match the schema (inferred, as above).
    status, text = send(
        server, request(COMMAND, "<rsp:Command>hostname</rsp:Command>", shell_id=shell_id)
    )
    assert status == 500
    assert "<s:Value>w:SchemaValidationError</s:Value>" in text and 'Code="2150858817"' in text
    assert server.host.record.command_lines == []


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        (CREATE, "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"),
        (GET, "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service"),
        (GET, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"),
    ],
)
def test_resource_uri_outside_the_catalog_is_refused(
    server: WsmanServer, action: str, resource: str
) -> None:
    """Not the cmd shell: refused as Windows refuses an endpoint it does not have (pypsrp issue
    #47: "Code: 2150858811, ... Reason: The WS-Management service cannot process the request. The
    resource URI (http://schemas.microsoft.com/powershell/Microsoft.Exchange) was not found in the
    WS-Management catalog. The catalog contains the metadata that describes resources, or logical
    endpoints."), never answered as if it were a cmd shell."""
    status, text = send(server, request(action, SHELL_BODY, resource=resource))
    assert status == 500
    assert (
        "<s:Value>s:Sender</s:Value><s:Subcode><s:Value>a:DestinationUnreachable</s:Value>"
        "</s:Subcode>"
    ) in text
    assert (
        f"The WS-Management service cannot process the request. The resource URI ({resource}) was "
        "not found in the WS-Management catalog. The catalog contains the metadata that describes "
        "resources, or logical endpoints. "
    ) in text
    assert 'Code="2150858811"' in text
    assert "faultDetail/InvalidResourceURI</w:FaultDetail>" in text
    assert "ResourceCreated" not in text
    assert server.shells.shell_count() == 0
