"""`python -m bench.report [RESULTS.json]`: the markdown tables docs/benchmarks.md shows, from a results file.

Why a separate step: the numbers in the docs must be the ones in a committed results file,
rendered the same way every time (default: the newest file in bench/results/).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.run import RESULTS, summary


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _n(v: Any, unit: str = "", digits: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        v = round(v, digits)
        if digits == 0:
            v = int(v)
    return f"{v}{unit}"


def _verbs(window: Any) -> str:
    per = _get(window, "requests_per_min")
    if per is None:
        return "–"
    return ", ".join(f"{k} {_n(v, digits=0)}" for k, v in per.items()) or "none"


def _pair(a: Any, b: Any, unit: str = "") -> str:
    return f"{_n(a, unit)} / {_n(b, unit)}"


ROWS: list[tuple[str, Any]] = [
    ("sandbox objects (pods / deployments / replicasets / nodes)",
     lambda s: " / ".join(str(_get(s, "sandbox", "objects", k)) for k in ("pods", "deployments", "replicasets",
                                                                          "nodes"))),
    ("kubectl get pods,deploy,rs -A -o json (median s)", lambda s: _n(_get(s, "kubectl", "median"), " s", 2)),
    ("cold start → complete Health (median s, × kubectl)",
     lambda s: f"{_n(_get(s, 'cold_start', 'health', 'median'), ' s', 2)} "
               f"({_n(_get(s, 'cold_start', 'health', 'ratio_to_kubectl'), '×', 2)})"),
    ("cold start → complete Rollouts (median s, × kubectl)",
     lambda s: f"{_n(_get(s, 'cold_start', 'rollouts', 'median'), ' s', 2)} "
               f"({_n(_get(s, 'cold_start', 'rollouts', 'ratio_to_kubectl'), '×', 2)})"),
    ("  of which: app running / cache synced (first run, s)",
     lambda s: _pair(_get(s, "cold_start", "rollouts", "runs", )[0].get("app_running")
                     if _get(s, "cold_start", "rollouts", "runs") else None,
                     _get(s, "cold_start", "rollouts", "runs")[0].get("synced")
                     if _get(s, "cold_start", "rollouts", "runs") else None)),
    ("screen switch, warm: → Health / → Rollouts (s)",
     lambda s: _pair(_get(s, "switch", "health", "seconds"), _get(s, "switch", "rollouts", "seconds"))),
    ("watch → screen at 10/s: p50 / p95 (ms)",
     lambda s: _pair(_get(s, "watch_to_screen", "10", "p50_ms"), _get(s, "watch_to_screen", "10", "p95_ms"))),
    ("watch → screen at 100/s: p50 / p95 (ms)",
     lambda s: _pair(_get(s, "watch_to_screen", "100", "p50_ms"), _get(s, "watch_to_screen", "100", "p95_ms"))),
    ("  offered rate at 100/s (changes/s); changes not shown",
     lambda s: f"{_n(_get(s, 'watch_to_screen', '100', 'offered_rate'))}; "
               f"{_n(_get(s, 'watch_to_screen', '100', 'lost'))}"),
    ("CPU idle: Rollouts / Health (% of a core)",
     lambda s: _pair(_get(s, "idle", "rollouts", "cpu_percent"), _get(s, "idle", "health", "cpu_percent"), "%")),
    ("CPU under nudges 10/s / 100/s (%)",
     lambda s: _pair(_get(s, "watch_to_screen", "10", "window", "cpu_percent"),
                     _get(s, "watch_to_screen", "100", "window", "cpu_percent"), "%")),
    ("CPU under sandbox churn (%)", lambda s: _n(_get(s, "churn", "cpu_percent"), "%")),
    ("  meanwhile at 100/s: sandbox / harness CPU (%), load average",
     lambda s: _pair(_get(s, "watch_to_screen", "100", "window", "sandbox_cpu_percent"),
                     _get(s, "watch_to_screen", "100", "window", "harness_cpu_percent"), "%")
     + ", " + _n(_get(s, "watch_to_screen", "100", "window", "load_average"), digits=2)),
    ("RSS idle / peak (MB)",
     lambda s: _pair(_get(s, "idle", "rollouts", "rss_mb"),
                     max((w.get("hwm_mb", 0) for w in [*(_get(s, "idle") or {}).values(), _get(s, "churn") or {}]),
                         default=None))),
    ("output idle: Rollouts / Health (bytes/s)",
     lambda s: _pair(_get(s, "idle", "rollouts", "output_bytes_per_s"),
                     _get(s, "idle", "health", "output_bytes_per_s"))),
    ("output under churn / nudges 100/s (bytes/s)",
     lambda s: _pair(_get(s, "churn", "output_bytes_per_s"),
                     _get(s, "watch_to_screen", "100", "window", "output_bytes_per_s"))),
    ("API requests/min idle on Rollouts", lambda s: _verbs(_get(s, "idle", "rollouts"))),
    ("API requests/min idle on Health", lambda s: _verbs(_get(s, "idle", "health"))),
    ("watch events applied/min idle (Rollouts window)",
     lambda s: ", ".join(f"{k} {_n(v, digits=0)}" for k, v in (_get(s, "idle", "rollouts", "watch_events_per_min")
                                                               or {}).items()) or "–"),
    ("keypress `y` → PATCH at the sandbox: median / max (ms)",
     lambda s: _pair(_get(s, "keypress", "median_ms"), _get(s, "keypress", "max_ms"))),
]


def scale_table(results: dict[str, Any]) -> str:
    scales = results["scales"]
    head = "| | " + " | ".join(f"`{s['scale'].split(',')[0]}`" for s in scales) + " |"
    lines = [head, "|---|" + "---|" * len(scales)]
    for label, fn in ROWS:
        cells = []
        for s in scales:
            try:
                cells.append(str(fn(s)))
            except Exception:
                cells.append("–")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    head = (f"Run {results['started']} ({results.get('seconds', '?')} s), `{results['command'].strip()}`; machine: "
            f"{m.get('nproc')} CPUs ({m.get('cpu')}), {m.get('ram_gib')} GiB RAM, {m.get('kernel')}; load average "
            f"at start {m.get('load_at_start')}, at end {m.get('load_at_end')}.")
    return "\n\n".join([head, summary(results), scale_table(results)])


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0]) if args else max(RESULTS.glob("????-??-??.json"), default=None)
    if path is None:
        print("no results file (run `make bench` first)", file=sys.stderr)
        return 1
    print(render(json.loads(Path(path).read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
