"""Approval seals (HMAC-SHA256 over the canonical decision) and the worker's second look at
every value of a change, before any script is built (real Redis for the service parts)."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from workers.domain.config import load_config
from workers.domain.model import (
    Approval,
    ChangeKind,
    ChangeSpec,
    DomainSpec,
    HostPreflight,
    Request,
    State,
)
from workers.domain.seal import SIGNING_SECRET, ApprovalSealer, SealError, canonical, decision
from workers.domain.secrets import SecretsProvider
from workers.domain.service import RequestService
from workers.domain.store import RequestStore, TransitionRefused
from workers.domain.validation import ValidationError, validate_change

KEY = "k" * 40
BOB, CAROL = "U02BOB", "U03CAROL"


def _request(**changes: object) -> Request:
    base = Request(
        id="CS-0001",
        change=ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), (DomainSpec("contoso.com"),)),
        requester="U01ALICE",
        channel="C01OPS",
        created_at=1.0,
        state=State.QUEUED,
        request_hash="h1",
        approvals=[Approval(BOB, 2.0, "h1")],
        decided_by=BOB,
        decided_at=2.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _sealed(sealer: ApprovalSealer, **changes: object) -> Request:
    request = _request(**changes)
    request.approval_seal = sealer.seal(request)
    return request


def test_a_seal_vouches_for_exactly_what_was_approved() -> None:
    sealer = ApprovalSealer(lambda: KEY)
    request = _sealed(sealer)
    assert request.approval_seal.startswith("v1:") and KEY not in request.approval_seal
    assert sealer.refusal(request) is None
    again = Request.from_dict(json.loads(json.dumps(request.to_dict())))  # through Redis' JSON
    assert sealer.refusal(again) is None
    assert ApprovalSealer(lambda: "x" * 40).refusal(request) is not None  # another key


@pytest.mark.parametrize(
    "alteration",
    [
        {"id": "CS-0002"},
        {"requester": "U09MALLORY"},
        {"change": ChangeSpec(ChangeKind.INSTALL, ("SYNC02",), (DomainSpec("contoso.com"),))},
        {"change": ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), (DomainSpec("fabrikam.com"),))},
        {"change": ChangeSpec(ChangeKind.RESTART, ("SYNC01",))},
        {"request_hash": "h2"},
        {"approvals": [Approval(BOB, 2.0, "h1"), Approval(CAROL, 3.0, "h1")]},
        {"approvals": [Approval(CAROL, 2.0, "h1")]},
        {"approvals_needed": 0},
        {"decided_by": CAROL},
        {"decided_at": 9.0},
        {"preflight": {"SYNC01": {"fingerprint": "forged"}}},
        {"retry_from": "install"},
    ],
    ids=lambda a: next(iter(a)),
)
def test_any_change_after_sealing_voids_the_seal(alteration: dict[str, object]) -> None:
    sealer = ApprovalSealer(lambda: KEY)
    sealed = _sealed(sealer)
    altered = replace(sealed, **alteration)  # type: ignore[arg-type]
    assert "does not match" in (sealer.refusal(altered) or "")


def test_a_missing_seal_or_one_copied_from_another_request_is_refused() -> None:
    sealer = ApprovalSealer(lambda: KEY)
    assert "carries no approval seal" in (sealer.refusal(_request()) or "")
    other = _sealed(sealer, id="CS-0007")
    copied = _request(approval_seal=other.approval_seal)
    assert "does not match" in (sealer.refusal(copied) or "")


def test_the_canonical_form_is_stable_and_covers_the_decision() -> None:
    request = _request()
    text = canonical(decision(request)).decode()
    assert text == canonical(json.loads(text)).decode()
    assert " " not in text and '"plan_hash":"h1"' in text and '"request":"CS-0001"' in text
    assert '"approvals":[{"at":2.0,"request_hash":"h1","seal":"","user":"U02BOB"}]' in text
    assert '"fingerprints":{}' in text and '"retry_from":null' in text


def test_the_key_comes_from_the_secrets_provider_and_a_weak_or_missing_one_fails(
    tmp_path,
) -> None:
    config = load_config()
    assert SIGNING_SECRET in config.secrets
    sealer = ApprovalSealer.from_config(config)
    assert sealer.refusal(_sealed(sealer)) is None

    missing = replace(
        config, secrets={k: v for k, v in config.secrets.items() if k != SIGNING_SECRET}
    )
    with pytest.raises(SealError, match=f"secret '{SIGNING_SECRET}' is not defined"):
        ApprovalSealer.from_config(missing).seal(_request())
    cant = ApprovalSealer.from_config(missing).refusal(_request(approval_seal="v1:00"))
    assert cant is not None and "cannot be checked" in cant
    ref = replace(config.secrets[SIGNING_SECRET], password_ref="env:SHORT_KEY")
    short = replace(config, secrets={**config.secrets, SIGNING_SECRET: ref})
    provider = SecretsProvider(short, env={"SHORT_KEY": "tooshort"})
    with pytest.raises(SealError, match="shorter than 32") as err:
        ApprovalSealer.from_config(short, provider).seal(_request())
    assert "tooshort" not in str(err.value)


@pytest.mark.parametrize(
    "change",
    [
        ChangeSpec(
            ChangeKind.INSTALL, ("SYNC01'; Remove-Item C:\\",), (DomainSpec("contoso.com"),)
        ),
        ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), (DomainSpec("contoso.com'+$(whoami)+'"),)),
        ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), (DomainSpec("contoso.com", ("dc1;calc",)),)),
        ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), (DomainSpec("contoso.com"),), gmsa="a`b$"),
        ChangeSpec(ChangeKind.PERMISSIONS, ("SYNC01",), permissions=("All; rm",)),
        ChangeSpec(ChangeKind.PERMISSIONS, ("SYNC01",), permissions_domain='x.com"; exit'),
        ChangeSpec(ChangeKind.RESTART, ()),
    ],
)
def test_validate_change_refuses_what_the_grammar_refuses(change: ChangeSpec) -> None:
    with pytest.raises(ValidationError):
        validate_change(change)


def test_validate_change_accepts_valid_changes_and_checks_retry_from() -> None:
    good = ChangeSpec(
        ChangeKind.INSTALL,
        ("SYNC01", "SYNC02"),
        (DomainSpec("contoso.com", ("dc1.contoso.com",)),),
        gmsa="provAgentgMSA$",
        permissions=("All",),
    )
    validate_change(good)
    validate_change(good, "install")
    validate_change(good, "domain:fabrikam.com")
    for bad in ("Install; calc", "domain:bad domain", "stage:contoso.com"):
        with pytest.raises(ValidationError):
            validate_change(good, bad)


class _NoDispatch:
    def preflight(self, request_id: str) -> None:
        return None

    def run(self, request_id: str) -> None:
        return None


def _pending(store: RequestStore) -> Request:
    request = Request(
        id=store.next_id(),
        change=ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), (DomainSpec("contoso.com"),)),
        requester="U01ALICE",
        channel="C01OPS",
        created_at=time.time(),
        expires_at=time.time() + 600,
        request_hash="h1",
    )
    store.create(request, actor="U01ALICE")
    return request


def test_the_completing_approval_is_sealed_and_the_worker_checks_it(rclient) -> None:
    store = RequestStore(rclient)
    service = RequestService(store, load_config(), _NoDispatch())
    request = _pending(store)
    approved = service.approve(request.id, BOB, "C01OPS")
    assert approved.state is State.QUEUED and approved.approval_seal
    demo_key = SecretsProvider(load_config()).get(SIGNING_SECRET).password
    assert demo_key not in rclient.get(f"cs:req:{request.id}").decode()  # Redis never sees it
    assert service.run_refusal(approved) is None
    assert service.start_run(request.id) is not None


def test_the_worker_refuses_a_sealed_change_that_fails_validation(rclient) -> None:
    """Validation is checked even under a good seal (a bug or a key in the wrong hands must
    still not put an unvalidated value into a script)."""
    store = RequestStore(rclient)
    service = RequestService(store, load_config(), _NoDispatch())
    request = _pending(store)
    bad = ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), (DomainSpec("contoso.com';calc;'"),))

    def sneak(r: Request) -> str:
        r.change = bad
        return "altered"

    store.update(request.id, sneak, actor=None)
    service.approve(request.id, BOB, "C01OPS")  # sealed over the bad value
    assert service.start_run(request.id) is None
    failed = store.require(request.id)
    assert failed.state is State.FAILED
    [refused] = [e for e in store.events(request_id=request.id) if e.name == "refused"]
    assert refused.data["action"] == "run"
    assert "holds a value the command grammar refuses" in refused.data["reason"]


def test_approving_without_a_signing_key_is_refused_not_unsigned(rclient) -> None:
    config = load_config()
    missing = replace(
        config, secrets={k: v for k, v in config.secrets.items() if k != SIGNING_SECRET}
    )
    store = RequestStore(rclient)
    service = RequestService(store, missing, _NoDispatch())
    request = _pending(store)
    with pytest.raises(TransitionRefused, match="cannot be signed"):
        service.approve(request.id, BOB, "C01OPS")
    assert store.require(request.id).state is State.PENDING_APPROVAL
    assert store.require(request.id).approvals == []


def test_each_approval_is_signed_and_an_added_one_never_counts(rclient) -> None:
    """N of M: an approval written into a pending request in Redis does not complete the round
    that a real approver then joins; the request stays pending, nothing is queued."""
    config = load_config()
    two = replace(config, policy=replace(config.policy, approvals_needed=2))
    store = RequestStore(rclient)
    service = RequestService(store, two, _NoDispatch())
    request = _pending(store)
    request = replace(request, approvals_needed=2)

    def forge(r: Request) -> str:
        r.approvals_needed = 2
        r.approvals.append(Approval(CAROL, time.time(), r.request_hash, seal="v1:" + "0" * 64))
        return "forged"

    store.update(request.id, forge, actor=None)
    after = service.approve(request.id, BOB, "C01OPS")
    assert after.state is State.PENDING_APPROVAL, "the forged approval did not count"
    assert not after.approval_seal
    bob = next(a for a in after.approvals if a.user == BOB)
    assert service.sealer.approval_valid(after, bob)
    assert not service.sealer.approval_valid(after, replace(bob, at=bob.at + 1))
    assert not service.sealer.approval_valid(replace(after, id="CS-0999"), bob)
    done = service.approve(request.id, CAROL, "C01OPS")  # carol herself: now it completes
    assert done.state is State.QUEUED and service.run_refusal(done) is None


def test_retry_refuses_a_request_altered_after_its_approval(rclient) -> None:
    store = RequestStore(rclient)
    service = RequestService(store, load_config(), _NoDispatch())
    request = _pending(store)
    service.approve(request.id, BOB, "C01OPS")
    service.start_run(request.id)
    service.finish_run(request.id, State.FAILED, stopped_at="install", problems=[], data={})

    def tamper(r: Request) -> str:
        r.preflight = {"SYNC01": HostPreflight(fingerprint="what the server looks like now")}
        return "tampered"

    store.update(request.id, tamper, actor=None)
    with pytest.raises(
        TransitionRefused, match=r"cannot be retried: the approval seal .* does not"
    ):
        service.retry(request.id, "U01ALICE", None)
    assert store.require(request.id).state is State.FAILED
