"""[IO.File]::Open with a FileShare: a handle that denies others' writes until it is disposed
or its process ends (Windows sharing modes: a write, rename or delete that an open handle's
share mode does not grant is refused; reads it grants still work)."""

from __future__ import annotations

from simulator.host import INSTALLER_SHA256
from simulator.pwsh.testing import clean_clixml, encode_command, run_encoded
from simulator.world import World, build_world

STAGED = "C:\\Windows\\TEMP\\AADConnectProvisioningAgentSetup.exe"
SHARE = "\\\\fs01\\install\\AADConnectProvisioningAgentSetup.exe"
COPY = f"Copy-Item -Path '{SHARE}' -Destination '{STAGED}'"
OPEN = (
    f"$fs = [IO.File]::Open('{STAGED}', [IO.FileMode]::Open, [IO.FileAccess]::Read, "
    "[IO.FileShare]::Read)"
)


def make() -> World:
    spec = {"name": "SIM01", "startup_cost_s": 0, "install_s": 0, "credssp_delegation": True}
    world = build_world({"hosts": [spec]})
    assert run_encoded(world.hosts["SIM01"], COPY).exit_code == 0
    return world


def test_a_read_handle_with_fileshare_read_blocks_writers_until_disposed() -> None:
    world = make()
    host = world.hosts["SIM01"]
    script = (
        f"{OPEN}\n"
        "(Get-FileHash -InputStream $fs -Algorithm SHA256).Hash\n"
        f"$again = [IO.File]::Open('{STAGED}', 'Open', 'Read', 'Read'); $again.Dispose()\n"
        "'reads shared'\n"
        "$null = [Console]::In.ReadLine()\n"  # holds the handle until the test says go
        "$fs.Dispose(); 'disposed'\n"
        "$null = [Console]::In.ReadLine()\n"
    )
    proc = host.start_process(f"powershell -encodedcommand {encode_command(script)}", [])
    seen = ""
    while "reads shared" not in seen:
        seen += proc.read_output(0.5).stdout.decode()
    assert INSTALLER_SHA256 in seen
    assert not host.tamper_file(STAGED)  # held: refused
    proc.feed_stdin(b"go\r\n", False)
    while "disposed" not in seen:
        seen += proc.read_output(0.5).stdout.decode()
    assert host.tamper_file(STAGED)  # disposed: the write goes through
    proc.feed_stdin(b"", True)


def test_a_process_that_ends_closes_its_handles() -> None:
    world = make()
    host = world.hosts["SIM01"]
    assert run_encoded(host, f"{OPEN}\n'open'").stdout.strip() == "open"
    assert host.tamper_file(STAGED)


def test_fileshare_none_denies_a_second_reader_and_start_process() -> None:
    world = make()
    host = world.hosts["SIM01"]
    script = (
        f"$fs = [IO.File]::Open('{STAGED}', 'Open', 'Read', 'None')\n"
        f"try {{ $null = [IO.File]::Open('{STAGED}', 'Open', 'Read', 'Read') }}"
        " catch { $_.Exception.Message }\n"
        f"try {{ Start-Process -FilePath '{STAGED}' }} catch {{ $_.Exception.Message }}\n"
    )
    out = run_encoded(host, script).stdout
    assert "because it is being used by another process" in out
    assert "The process cannot access the file because it is being used" in out


def test_create_and_xml_save_are_refused_while_a_handle_denies_writing() -> None:
    """[IO.File]::Create and XmlDocument.Save open the file for writing: a handle held with
    FileShare.Read makes both a sharing violation (IOException), as on Windows."""
    world = make()
    host = world.hosts["SIM01"]
    handle = host.open_handle(STAGED, frozenset({"read"}), owner=99)
    assert handle is not None
    created = run_encoded(host, f"[IO.File]::Create('{STAGED}')")
    assert "being used by another process" in clean_clixml(created.stderr)
    saved = run_encoded(
        host,
        "$d = New-Object -TypeName System.Xml.XmlDocument; $d.LoadXml('<a/>'); "
        f"$d.Save('{STAGED}')",
    )
    assert "being used by another process" in clean_clixml(saved.stderr)
    host.close_handle(STAGED, handle)
    assert run_encoded(host, f"[IO.File]::Create('{STAGED}').Dispose()").exit_code == 0
