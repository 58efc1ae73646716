"""The JSON formatter names the request, host and step in force, in the thread that logs."""

from __future__ import annotations

import io
import json
import logging
from concurrent.futures import ThreadPoolExecutor

from workers.logging_setup import (
    JsonFormatter,
    RequestIdFilter,
    log_context,
    request_context,
    set_step,
)


def _logger() -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("test.log_context")
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, out


def _lines(out: io.StringIO) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_request_host_and_step_in_pool_threads() -> None:
    logger, out = _logger()

    def host_work(host: str, request_id: str) -> None:
        with log_context(request_id=request_id, host=host):
            for step in ("stage", "install"):
                set_step(step)
                logger.info("step line")
        logger.info("after the host")  # the pool thread is clean again

    with request_context("CS-0042"):
        logger.info("task line")
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda h: host_work(h, "CS-0042"), ["H1", "H2"]))
    logger.info("outside")
    lines = _lines(out)
    assert lines[0] == {**lines[0], "request_id": "CS-0042"} and "host" not in lines[0]
    steps = [x for x in lines if x["msg"] == "step line"]
    assert len(steps) == 4
    assert all(x["request_id"] == "CS-0042" for x in steps)
    assert {(x["host"], x["step"]) for x in steps} == {
        (h, s) for h in ("H1", "H2") for s in ("stage", "install")
    }
    after = [x for x in lines if x["msg"] == "after the host"]
    assert all("host" not in x and "step" not in x for x in after)
    assert lines[-1]["request_id"] is None


def test_extra_wins_over_the_context() -> None:
    logger, out = _logger()
    with log_context(request_id="CS-0001", host="H1", step="stage"):
        logger.info("named", extra={"host": "H9"})
    assert _lines(out)[0]["host"] == "H9"
