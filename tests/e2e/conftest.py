"""One real stack for the whole end-to-end session (started once, reused by every test); every
test in this folder is marked ``e2e`` (it starts the stack's processes), so ``-m "not e2e"``
(``make test-fast``) leaves them out."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.slack_api import RECORD_ENV
from tests.e2e.harness import E2EStack, make_config_dir
from tests.e2e.repr_scan import WATCH, RecordFileScan

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # a conftest's hook sees every collected item, not only this folder's: filter by path
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    workdir = tmp_path_factory.mktemp("e2e")
    stack = E2EStack(workdir, make_config_dir(workdir / "config")).start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def slack_record(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordFileScan]:
    """Loopback servers in child processes (consoles, bots started as processes) append their
    calls here: the environment variable reaches every process the tests start."""
    path = tmp_path_factory.mktemp("slack-record") / "calls.jsonl"
    old = os.environ.get(RECORD_ENV)
    os.environ[RECORD_ENV] = str(path)
    yield RecordFileScan(path)
    if old is None:
        os.environ.pop(RECORD_ENV, None)
    else:
        os.environ[RECORD_ENV] = old


@pytest.fixture(autouse=True)
def no_python_repr_in_slack(slack_record: RecordFileScan) -> Iterator[None]:
    """Fails the test at teardown when a Slack payload sent during it (by any stack of this
    folder, in this process or a child) shows a Python repr such as ``{'host': ...}``
    (tests/e2e/repr_scan.py)."""
    start = len(WATCH.findings)
    slack_record.new_findings()  # what came before this test is not its doing
    yield
    found = WATCH.since(start) + slack_record.new_findings()
    if found:
        pytest.fail("Python repr in a Slack payload:\n" + "\n".join(found[:10]), pytrace=False)
