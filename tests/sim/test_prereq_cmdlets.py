"""The simulator answers the preflight's prerequisite reads as Windows does: execution policy per
scope, the Kds module's root keys, and Entra Connect Sync's service."""

from __future__ import annotations

from tests.sim.test_host_failures import catch, make, session


def test_execution_policy_list_in_precedence_order_and_group_policy_wins() -> None:
    world = make(execution_policies={"MachinePolicy": "AllSigned"})
    text = session(
        world,
        "foreach ($e in @(Get-ExecutionPolicy -List)) "
        "{ [string]$e.Scope + '=' + [string]$e.ExecutionPolicy }",
        "Get-ExecutionPolicy",
        "Get-ExecutionPolicy -Scope LocalMachine",
        catch("Set-ExecutionPolicy RemoteSigned -Force"),
        catch("Set-ExecutionPolicy RemoteSigned -Scope MachinePolicy -Force"),
    )
    lines = text.splitlines()
    assert lines[:7] == [
        "MachinePolicy=AllSigned",
        "UserPolicy=Undefined",
        "Process=Undefined",
        "CurrentUser=Undefined",
        "LocalMachine=RemoteSigned",
        "AllSigned",
        "RemoteSigned",
    ]
    assert "overridden by a policy defined at a more specific scope" in lines[7]
    assert "set by Group Policy" in lines[8]


def test_all_undefined_is_the_server_default() -> None:
    world = make(execution_policy="Undefined")
    assert session(world, "Get-ExecutionPolicy").strip() == "RemoteSigned"


def test_kds_root_key_present_removed_or_cmdlet_missing() -> None:
    assert session(make(), "@(Get-KdsRootKey).Count").strip() == "1"
    no_key = {"domains": {"contoso.com": {"kds_root_key": False}}}
    assert session(make(tenant=no_key), "@(Get-KdsRootKey).Count").strip() == "0"
    bare = make(kds_module=False)
    text = session(
        bare,
        "[bool](Get-Command -Name Get-KdsRootKey -ErrorAction SilentlyContinue)",
        catch("Get-KdsRootKey"),
    )
    assert text.splitlines()[0] == "False"
    assert "'Get-KdsRootKey' is not recognized" in text


def test_connect_sync_service_when_the_scenario_has_it() -> None:
    read = "[string](Get-Service -Name ADSync -ErrorAction Stop).Status"
    assert session(make(adsync={"status": "Stopped"}), read).strip() == "Stopped"
    assert "Cannot find any service" in session(make(), catch(read))
