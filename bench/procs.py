"""Peak resident memory of a process tree from /proc (psutil is not installed): VmHWM is the
kernel's high-water mark of each process's RSS."""

from __future__ import annotations

from pathlib import Path


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += children(current)
    return pids


def vm_hwm_kb(pid: int, field: str = "VmHWM") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process tree now (VmRSS summed), e.g. a baseline before a load."""
    return round(sum(vm_hwm_kb(p, "VmRSS") for p in tree(pid)) / 1024, 1)


def tree_peak_mb(pid: int) -> dict[str, float]:
    """Sum of the high-water marks over the tree (an upper bound of the tree's peak) and the
    largest single process."""
    marks = [vm_hwm_kb(p) for p in tree(pid)]
    return {
        "sum_mb": round(sum(marks) / 1024, 1),
        "max_process_mb": round(max(marks or [0]) / 1024, 1),
        "processes": len(marks),
    }
