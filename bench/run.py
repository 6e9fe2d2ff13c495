"""`python -m bench.run` (what `make bench` runs): the console side by side with kubectl, at edge scale.

For each scale (default 5,000 and 20,000 pods) one sandbox is started (bench/sandbox.py) and:
kubectl's `get pods,deploy,rs -A -o json` is timed; the console is cold-started on the Health
and then the Rollouts screen (bench/probe.py tells when a screen is complete); the last console
stays up for the steady-state windows (idle on Rollouts, idle on Health, scale nudges at each
watch rate, the sandbox's churn) and the rollback keypress. Results go to
bench/results/<DATE>.json; a summary table with each target met / not met is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import figures as F
from bench.procstat import machine
from bench.profile import Profiler
from bench.sandbox import SandboxProc

DEFAULT_SCALES = ("pods=5000,nodes=200,deployments=500,rollouts=50,hpas=100",
                  "pods=20000,nodes=200,deployments=500,rollouts=50,hpas=100")
RESULTS = Path(__file__).resolve().parent / "results"
REPO = RESULTS.parent.parent
UNWATCHABLE = ".metrics.k8s.io"  # resource suffix of the metrics API
SCHEMA = 1

# target name -> (description, limit)
TARGETS = {
    "cold_start_ratio": ("cold start ≤ 1.5× kubectl at 5,000 pods (Rollouts and Health)", 1.5),
    "large_loads": ("20,000 pods load without failing", None),
    "watch_p95_ms": ("watch-to-screen p95 ≤ 250 ms at 100 changes/s", 250.0),
    "idle_cpu_percent": ("idle CPU ≤ 3% of one core", 3.0),
    "rss_mb": ("RSS ≤ 250 MB at 5,000 pods", 250.0),
    "idle_output_bytes_per_s": ("idle output ≤ 2 KB/s", 2048.0),
    "idle_lists_per_min": ("no periodic LISTs of watchable kinds (LISTs per minute while idle)", 0.0),
    "keypress_ms": ("keypress to request ≤ 50 ms (slowest run)", 50.0),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", action="append", metavar="KEY=N,...",
                   help="a sandbox --scale to measure (repeatable; default: 5,000 and 20,000 pods)")
    p.add_argument("--repeats", type=int, default=3, help="cold starts and kubectl runs per screen (default 3)")
    p.add_argument("--large-repeats", type=int, default=1, help="the same above 10,000 pods (default 1)")
    p.add_argument("--idle", type=float, default=60.0, help="seconds of each idle window (default 60)")
    p.add_argument("--watch-rates", default="10,100", help="scale nudges per second (default 10,100)")
    p.add_argument("--watch-seconds", type=float, default=20.0, help="seconds of nudges per rate (default 20)")
    p.add_argument("--churn-rate", type=float, default=20.0, help="sandbox churn changes/s (default 20)")
    p.add_argument("--churn-seconds", type=float, default=30.0, help="seconds under churn (default 30)")
    p.add_argument("--keypress-repeats", type=int, default=3, help="rollbacks timed (default 3)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds a cold start may take (default 300)")
    p.add_argument("--kubectl", default=shutil.which("kubectl") or "/usr/bin/kubectl", help="kubectl binary")
    p.add_argument("--out", type=Path, help="results file (default bench/results/<DATE>.json)")
    p.add_argument("--workdir", type=Path, help="scratch directory (default: a temporary one)")
    p.add_argument("--console-arg", action="append", default=[], metavar="ARG",
                   help="an extra argument for the console, e.g. --console-arg=--config=FILE (repeatable; what-ifs)")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="record py-spy profiles of the console's phases into DIR (needs py-spy in the venv)")
    return p.parse_args(argv)


def measure_scale(spec: str, workdir: Path, o: argparse.Namespace, log: Any) -> dict[str, Any]:
    """Every figure at one scale; a failed figure is recorded as {"error": ...} and the rest still run."""
    out: dict[str, Any] = {"scale": spec}
    prof = Profiler(o.profile / f"scale-{spec.split(',')[0].split('=')[1]}" if o.profile else None)
    large = int(dict(kv.split("=") for kv in spec.split(",")).get("pods", 0)) > 10_000
    repeats = o.large_repeats if large else o.repeats
    log(f"[{spec}] starting the sandbox")
    sb = SandboxProc(spec, workdir / "sandbox").start()
    console = None
    try:
        out["sandbox"] = {"build_seconds": sb.build_seconds, "start_seconds": round(sb.start_seconds, 2),
                          "objects": {k: len(sb.items(p)) for k, p in
                                      (("pods", "/api/v1/pods"), ("deployments", F.DEPLOYMENTS),
                                       ("replicasets", "/apis/apps/v1/replicasets"), ("nodes", "/api/v1/nodes"))}}
        have_kubectl = bool(Path(o.kubectl).exists() or shutil.which(o.kubectl))
        kubectl_runs: list[dict[str, Any]] = []
        cold: dict[str, list[dict[str, Any]]] = {"health": [], "rollouts": []}
        for n in range(repeats):  # interleaved, so kubectl and the console see the same machine load
            if have_kubectl:
                log(f"[{spec}] kubectl get ({n + 1}/{repeats})")
                kubectl_runs.append(F.safe(F.kubectl_once, sb, o.kubectl))
            for screen in ("health", "rollouts"):
                log(f"[{spec}] cold start on {screen} ({n + 1}/{repeats})")
                c = None
                try:
                    rec, c = F.cold_start_once(
                        sb, workdir / "console" / f"{screen}-{n}", screen, timeout=o.timeout, args=o.console_arg,
                        profile=(lambda pid, s=screen: prof.record(pid, f"cold-{s}")) if n == 0 else None)
                except Exception as e:
                    rec = {"error": f"{type(e).__name__}: {e}"}
                cold[screen].append(rec)
                if c is not None:
                    if screen == "rollouts" and n == repeats - 1 and "error" not in rec:
                        console = c
                    else:
                        c.stop()
        out["kubectl"] = ({"command": "kubectl " + " ".join(F.KUBECTL_GET), **F.summarize(kubectl_runs)}
                          if have_kubectl else {"error": f"{o.kubectl} not found"})
        out["cold_start"] = {screen: F.summarize(runs) for screen, runs in cold.items()}
        k = (out.get("kubectl") or {}).get("median")
        for res in out["cold_start"].values():
            if k and res.get("median"):
                res["ratio_to_kubectl"] = round(res["median"] / k, 2)
        if console is None:
            out["error"] = "no console reached a complete Rollouts screen; steady-state figures skipped"
            return out
        console.quiet(0.5, 5)
        log(f"[{spec}] idle on rollouts {o.idle:g}s")
        with prof.record(console.pid, "idle-rollouts"):
            out["idle"] = {"rollouts": F.safe(F.idle, console, sb, o.idle)}
        out["switch"] = {"health": F.safe(F.switch_screen, console, "3", "health", 60)}
        console.quiet(0.5, 5)
        log(f"[{spec}] idle on health {o.idle:g}s")
        with prof.record(console.pid, "idle-health"):
            out["idle"]["health"] = F.safe(F.idle, console, sb, o.idle)
        out["switch"]["rollouts"] = F.safe(F.switch_screen, console, "2", "rollouts", 60)
        console.quiet(0.5, 5)
        rates = [float(r) for r in o.watch_rates.split(",") if r.strip()]
        pool = F.nudge_targets(sb, max(10, int(max(rates, default=10))) + 1)
        rollback, pool = (pool[0], pool[1:]) if pool else (None, [])
        out["watch_to_screen"] = {}
        for rate in rates:
            log(f"[{spec}] watch to screen at {rate:g}/s for {o.watch_seconds:g}s")
            n = max(10, int(rate))  # each target changes about once a second at most
            with prof.record(console.pid, f"watch-{rate:g}"):
                out["watch_to_screen"][f"{rate:g}"] = F.safe(F.watch_to_screen, console, sb, rate,
                                                            o.watch_seconds, targets=pool[:n])
            console.quiet(0.5, 5)
        log(f"[{spec}] churn at {o.churn_rate:g}/s for {o.churn_seconds:g}s")
        with prof.record(console.pid, "churn"):
            out["churn"] = F.safe(F.churn, console, sb, o.churn_rate, o.churn_seconds)
        console.quiet(0.5, 5)
        if rollback is not None and o.keypress_repeats > 0:
            log(f"[{spec}] keypress to request x{o.keypress_repeats}")
            with prof.record(console.pid, "keypress"):
                out["keypress"] = F.safe(F.keypress_to_request, console, sb, rollback, o.keypress_repeats)
        out["console_alive"] = console.alive()
        errors = [e.get("error") for e in console.events if e.get("ev") == "error"]
        if errors:
            out["probe_errors"] = errors[:5]
    finally:
        if console is not None:
            console.stop()
        sb.stop()
        if prof.profiles:
            out["profiles"] = prof.profiles
    return out


def evaluate(scales: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each target: the number it is judged on, the limit, and met / not met (None: not measured)."""
    def pods(s: dict[str, Any]) -> int:
        return int(dict(kv.split("=") for kv in s["scale"].split(",")).get("pods", 0))

    base = next((s for s in scales if pods(s) <= 10_000), scales[0] if scales else {})
    large = [s for s in scales if pods(s) > 10_000]
    out: dict[str, dict[str, Any]] = {}

    def put(name: str, value: Any, met: bool | None, note: str = "") -> None:
        desc, limit = TARGETS[name]
        out[name] = {"target": desc, "limit": limit, "value": value, "met": met, **({"note": note} if note else {})}

    ratios = [r.get("ratio_to_kubectl") for r in (base.get("cold_start") or {}).values()]
    worst = max((r for r in ratios if r is not None), default=None)
    put("cold_start_ratio", worst, None if worst is None or len(ratios) < 2 or None in ratios else worst <= 1.5)
    if large:
        loaded = all((s.get("cold_start") or {}).get(k, {}).get("median") for s in large for k in ("rollouts",
                                                                                                   "health"))
        put("large_loads", loaded, loaded)
    else:
        put("large_loads", None, None, "not run")
    w = ((base.get("watch_to_screen") or {}).get("100") or {})
    p95 = w.get("p95_ms")
    lost = w.get("lost", 0) or 0
    put("watch_p95_ms", p95, None if p95 is None else (p95 <= 250.0 and not lost),
        f"{lost} changes not shown within 30 s: a lower bound" if lost else "")
    idle = base.get("idle") or {}
    cpu = max((v.get("cpu_percent") for v in idle.values() if "cpu_percent" in v), default=None)
    put("idle_cpu_percent", cpu, None if cpu is None else cpu <= 3.0)
    windows = [v for v in [*idle.values(), base.get("churn") or {},
                           *[(x or {}).get("window") or {} for x in (base.get("watch_to_screen") or {}).values()]]
               if "rss_mb" in v]
    rss = max((v["rss_mb"] for v in windows), default=None)
    hwm = max((v["hwm_mb"] for v in windows), default=None)
    put("rss_mb", rss, None if rss is None else rss <= 250.0, f"peak (VmHWM) {hwm} MB" if hwm else "")
    outb = max((v.get("output_bytes_per_s") for v in idle.values() if "output_bytes_per_s" in v), default=None)
    put("idle_output_bytes_per_s", outb, None if outb is None else outb <= 2048.0)
    # metrics.k8s.io serves no watch (metrics-server has none), so its reads are counted apart
    lists = [sum(n for k, n in v.get("requests_by_resource_per_min", {}).items()
                 if k.startswith("list ") and not k.endswith(UNWATCHABLE))
             for v in idle.values() if "requests_by_resource_per_min" in v]
    polls = max((sum(n for k, n in v.get("requests_by_resource_per_min", {}).items() if k.endswith(UNWATCHABLE))
                 for v in idle.values()), default=0.0)
    worst_lists = max(lists, default=None)
    put("idle_lists_per_min", worst_lists, None if worst_lists is None else worst_lists == 0.0,
        f"metrics.k8s.io reads (cannot be watched): {polls:g}/min" if polls else "")
    kp = (base.get("keypress") or {}).get("max_ms")
    put("keypress_ms", kp, None if kp is None else kp <= 50.0)
    return out


def summary(results: dict[str, Any]) -> str:
    """A markdown table of the targets, then one line per scale."""
    lines = ["| target | value | met |", "|---|---|---|"]
    for t in results["targets"].values():
        met = {True: "met", False: "**not met**", None: "not measured"}[t["met"]]
        note = f" ({t['note']})" if t.get("note") else ""
        lines.append(f"| {t['target']} | {t['value']}{note} | {met} |")
    for s in results["scales"]:
        cs = s.get("cold_start") or {}
        lines.append("")
        lines.append(f"- `{s['scale']}`: kubectl {(s.get('kubectl') or {}).get('median')} s; "
                     f"health {cs.get('health', {}).get('median')} s; rollouts {cs.get('rollouts', {}).get('median')} s"
                     + (f"; error: {s['error']}" if s.get("error") else ""))
    return "\n".join(lines)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    o = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    scratch = None if o.workdir else tempfile.TemporaryDirectory(prefix="almtui-bench-")
    workdir = o.workdir or Path(scratch.name)  # type: ignore[union-attr]

    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)

    results: dict[str, Any] = {
        "schema": SCHEMA, "date": started.date().isoformat(), "started": started.isoformat(timespec="seconds"),
        "command": "python -m bench.run " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(), "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(o).items()},
        "scales": []}
    # bytecode for the console, as an installed one has it (see bench/console.py)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "almtui"), str(REPO / "bench")],
                   check=False, env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
    try:
        for n, spec in enumerate(o.scale or DEFAULT_SCALES):
            t0 = time.monotonic()
            try:
                res = measure_scale(spec, workdir / f"scale-{n}", o, log)
            except Exception as e:
                res = {"scale": spec, "error": f"{type(e).__name__}: {e}"}
            res["seconds"] = round(time.monotonic() - t0, 1)
            results["scales"].append(res)
    finally:
        if scratch is not None:
            scratch.cleanup()
    results["machine"]["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = evaluate(results["scales"])
    results["seconds"] = round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1)
    out = o.out or RESULTS / f"{results['date']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    results["path"] = str(out)
    log(f"results: {out}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    results = run(argv)
    print(summary(results))
    return 1 if any(s.get("error") for s in results["scales"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
