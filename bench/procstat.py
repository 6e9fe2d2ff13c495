"""CPU time and memory of a process from /proc (psutil is not a dependency).

Why /proc directly: utime+stime in /proc/<pid>/stat count every thread of the process, which is
what "% of one core" means for a console with informer threads; VmRSS/VmHWM in
/proc/<pid>/status are the resident and peak-resident sizes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by every thread of `pid`."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    fields = data[data.rindex(b")") + 2:].split()  # the command name may contain spaces and parentheses
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5): utime, stime


def memory_mb(pid: int) -> dict[str, float]:
    """{"rss": current resident MB, "hwm": peak resident MB}."""
    out = {"rss": 0.0, "hwm": 0.0}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss"] = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                out["hwm"] = int(line.split()[1]) / 1024
    return out


@dataclass
class CpuWindow:
    """CPU use of a process between `start()` and `stop()`, as % of one core."""

    pid: int
    t0: float = 0.0
    c0: float = 0.0

    def start(self) -> CpuWindow:
        self.t0, self.c0 = time.monotonic(), cpu_seconds(self.pid)
        return self

    def stop(self) -> dict[str, float]:
        t1, c1 = time.monotonic(), cpu_seconds(self.pid)
        wall = max(t1 - self.t0, 1e-9)
        return {"cpu_percent": round(100.0 * (c1 - self.c0) / wall, 2), "cpu_seconds": round(c1 - self.c0, 3),
                "seconds": round(wall, 2)}


def machine() -> dict[str, object]:
    """nproc, CPU model, RAM and kernel of this machine, for the results file."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = 0.0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    ram = int(line.split()[1]) / 1024 / 1024
                    break
    except OSError:
        pass
    u = os.uname()
    return {"nproc": os.cpu_count(), "cpu": model, "ram_gib": round(ram, 1), "kernel": f"{u.sysname} {u.release}",
            "load_at_start": [round(x, 2) for x in os.getloadavg()]}
