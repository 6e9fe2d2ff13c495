"""Sampling profiles of the console during the benchmark's phases (py-spy, when installed).

Why py-spy: it samples a running process from outside, so the console runs unmodified, and
`--nonblocking` does not pause it (the timings stay honest). Only samples of the thread that
holds the GIL are kept (`--gil`): in a Python process that is where CPU time goes. py-spy is
not a dependency: `pip install py-spy` into the venv to get profiles (`--profile DIR`).

`hotspots()` reads py-spy's raw (collapsed-stack) output and attributes every sample to its
innermost almtui frame (file:line), the most useful answer to "what in our code costs this",
plus the leaf functions overall (which library routine the time finally went to).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OURS = ("almtui/",)


def find_py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


class Profiler:
    """Records one raw profile per phase into `outdir`; does nothing without py-spy."""

    def __init__(self, outdir: Path | None, rate: int = 100) -> None:
        self.outdir = outdir
        self.rate = rate
        self.exe = find_py_spy() if outdir is not None else None
        self.profiles: dict[str, dict[str, Any]] = {}

    @property
    def enabled(self) -> bool:
        return self.exe is not None

    @contextlib.contextmanager
    def record(self, pid: int, name: str) -> Iterator[None]:
        if self.exe is None or self.outdir is None:
            yield
            return
        self.outdir.mkdir(parents=True, exist_ok=True)
        path = self.outdir / f"{name}.txt"
        proc = subprocess.Popen([self.exe, "record", "-p", str(pid), "-r", str(self.rate), "-f", "raw", "--gil",
                                 "--nonblocking", "-o", str(path)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            yield
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            if path.exists():
                self.profiles[name] = {"file": str(path), **hotspots(path)}


def _frame(text: str) -> tuple[str, str]:
    """("function", "file:line") of one py-spy frame "function (file:line)"."""
    func, _, where = text.rpartition(" (")
    return func, where.rstrip(")")


# (function name prefix, file prefix, role): the innermost frame that matches names the thread's job
ROLES = (("Probe.", "bench/", "benchmark probe"), ("Informer.", "almtui/cluster/informer.py", "informers (LIST/WATCH)"),
         ("Cache.", "almtui/cluster/cache.py", "cache notifier"), ("Worker._run", "textual/", "workers (view builds)"),
         ("WriterThread", "textual/", "terminal writer"), ("", "textual/", "UI loop (Textual: render, handlers)"),
         ("_find_and_load", "<frozen", "imports (startup)"))


def role(frames: list[tuple[str, str]]) -> str:
    for func, where in reversed(frames):
        for prefix, file, name in ROLES:
            if func.startswith(prefix) and where.startswith(file):
                return name
    return "other"


def hotspots(path: Path, top: int = 15) -> dict[str, Any]:
    """Top innermost-almtui frames and top leaf functions, as % of the samples, and time by thread role."""
    roles: Counter[str] = Counter()
    per_role: dict[str, Counter[str]] = {}
    ours: Counter[str] = Counter()
    ours_fn: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";")]
        job = role(frames)
        roles[job] += n
        func, where = frames[-1]
        leaves[f"{func} ({where})"] += n
        mine = [(f, w) for f, w in frames if w.startswith(OURS)]
        f, w = mine[-1] if mine else frames[-1]
        per_role.setdefault(job, Counter())[f"{f} ({w})"] += n
        if any(w.startswith("bench/") and f.startswith("Probe.") for f, w in frames):
            ours["(the benchmark's probe thread)"] += n
        elif mine:
            f, w = mine[-1]
            ours[f"{f} ({w})"] += n
            ours_fn[f"{f} ({w.rsplit(':', 1)[0]})"] += n
        else:
            ours["(outside almtui: Textual, asyncio, the client, startup)"] += n

    def pct(c: Counter[str]) -> list[list[Any]]:
        return [[k, round(100.0 * v / total, 1)] for k, v in c.most_common(top)] if total else []

    biggest = sorted(per_role.items(), key=lambda kv: -sum(kv[1].values()))
    return {"samples": total, "by_role": pct(roles), "by_role_top": {job: pct(c)[:6] for job, c in biggest},
            "innermost_almtui_line": pct(ours),
            "innermost_almtui_function": pct(ours_fn),
            "leaf": pct(leaves)}
