"""One real stack for the whole end-to-end session (started once, reused by every test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import E2EStack, make_config_dir


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    workdir = tmp_path_factory.mktemp("e2e")
    stack = E2EStack(workdir, make_config_dir(workdir / "config")).start()
    yield stack
    stack.stop()
