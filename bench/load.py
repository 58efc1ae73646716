"""HTTP load against a Slack endpoint: open loop (fixed send times) and closed loop (N clients
back to back). One keep-alive connection per sending thread, like Slack's own senders reuse."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

Request = Callable[[], tuple[bytes, dict[str, str]]]  # fresh signed body and headers


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    sent: int = 0
    elapsed_s: float = 0.0
    late_ms_max: float = 0.0  # how late the sender started versus its schedule (open loop)


class _Client:
    """A thread-local keep-alive connection; reconnects after any failure."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.local = threading.local()

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            self.local.conn = conn
        try:
            conn.request("POST", self.path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            self.local.conn = None
            return 0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def open_loop(
    url: str, make: Request, rate: float, seconds: float, threads: int = 32
) -> LoadResult:
    """Send at t0 + i/rate whatever happened to earlier requests; each latency is measured from
    the scheduled send time (so a stalled server cannot hide its queueing)."""
    client = _Client(url)
    result = LoadResult()
    lock = threading.Lock()
    total = int(rate * seconds)

    def one(scheduled: float) -> None:
        body, headers = make()
        late = (time.perf_counter() - scheduled) * 1000
        status = client.post(body, headers)
        took = (time.perf_counter() - scheduled) * 1000
        with lock:
            result.sent += 1
            result.late_ms_max = max(result.late_ms_max, late)
            if status == 200:
                result.latencies_ms.append(took)
            else:
                result.errors += 1

    start = time.perf_counter() + 0.2
    with ThreadPoolExecutor(threads, thread_name_prefix="open-loop") as pool:
        for i in range(total):
            at = start + i / rate
            delay = at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, at)
    result.elapsed_s = time.perf_counter() - start
    return result


def closed_loop(url: str, make: Request, clients: int, seconds: float) -> LoadResult:
    """``clients`` threads each sending its next request as soon as the last one answered."""
    client = _Client(url)
    result = LoadResult()
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def run() -> None:
        while time.perf_counter() < stop:
            body, headers = make()
            began = time.perf_counter()
            status = client.post(body, headers)
            took = (time.perf_counter() - began) * 1000
            with lock:
                result.sent += 1
                if status == 200:
                    result.latencies_ms.append(took)
                else:
                    result.errors += 1

    began = time.perf_counter()
    workers = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    result.elapsed_s = time.perf_counter() - began
    return result
