"""One real stack for the whole end-to-end session (started once, reused by every test); every
test in this folder is marked ``e2e`` (it starts the stack's processes), so ``-m "not e2e"``
(``make test-fast``) leaves them out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import E2EStack, make_config_dir
from tests.e2e.repr_scan import WATCH

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


@pytest.fixture(autouse=True)
def no_python_repr_in_slack() -> Iterator[None]:
    """Fails the test at teardown when a Slack payload sent during it (by any stack of this
    folder) shows a Python repr such as ``{'host': ...}`` (tests/e2e/repr_scan.py)."""
    start = len(WATCH.findings)
    yield
    found = WATCH.since(start)
    if found:
        pytest.fail("Python repr in a Slack payload:\n" + "\n".join(found[:10]), pytrace=False)
