"""The six measurements, each against one running sandbox (and, but for kubectl, one console).

1. cold start: process spawn to the frame after the first complete Rollouts / Health screen
   (bench/probe.py decides "complete"), against the wall time of `kubectl get pods,deploy,rs
   -A -o json` on the same sandbox, interleaved run by run.
2. watch to screen: scale nudges PATCHed at a fixed rate (label patches keep the offered rate
   up while every measured row still waits); latency from sending each PATCH to the first
   frame written to the pty after the probe saw the new replica count in the row's READY cell.
3. CPU (% of one core) and RSS of the console process (/proc), idle and under load.
4. terminal output bytes/s at 120x40, idle and under load.
5. API requests per minute by verb while idle (counted by the sandbox: /admin/stats), with the
   watch events the console applied (its cache counters) to explain the CPU.
6. keypress to request: `u` then `y` on the Rollouts screen; from writing `y` to the pty to the
   sandbox receiving the (non dry-run) PATCH.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import statistics
import subprocess
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.console import ConsoleProc
from bench.procstat import CpuWindow, memory_mb
from bench.sandbox import SandboxProc

READY = r"^\s*\d+\s*/\s*(\d+)\s*$"  # "ready/desired" in the READY column: group 1 is spec.replicas
DEPLOYMENTS = "/apis/apps/v1/deployments"


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    v = sorted(values)
    pos = (len(v) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 1)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# -- 1. cold start ------------------------------------------------------------------------------------


KUBECTL_GET = ("get", "pods,deploy,rs", "-A", "-o", "json")


def kubectl_once(sb: SandboxProc, kubectl: str = "kubectl") -> dict[str, Any]:
    """Wall time of `kubectl get pods,deploy,rs -A -o json` (output to /dev/null)."""
    t0 = time.monotonic()
    done = subprocess.run([kubectl, "--kubeconfig", sb.kubeconfig, *KUBECTL_GET], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=900)
    seconds = round(time.monotonic() - t0, 3)
    if done.returncode != 0:
        return {"seconds": seconds, "error": done.stderr.decode(errors="replace")[-500:]}
    return {"seconds": seconds}


def cold_start_once(sb: SandboxProc, workdir: Path, screen: str, *, timeout: float, args: Sequence[str] = (),
                    profile: Callable[[int], contextlib.AbstractContextManager[None]] | None = None
                    ) -> tuple[dict[str, Any], ConsoleProc]:
    """Spawn the console on `screen`; time from spawn to the frame after the screen is complete.

    Returns the record and the console, still running (the caller stops it or keeps it).
    `profile(pid)` wraps the wait (a py-spy recording).
    """
    c = ConsoleProc(sb.kubeconfig, workdir, screen=screen, args=["-A", *args]).start()
    with profile(c.pid) if profile is not None else contextlib.nullcontext():
        ev = c.wait_for(lambda e: e.get("ev") == "complete", timeout)
    running = c.wait_for(lambda e: e.get("ev") == "running", 0)
    if ev is None:
        why = "" if c.alive() else f" (the console exited with {c.proc.returncode if c.proc else '?'})"
        return {"error": f"no complete {screen} screen within {timeout:g}s{why}",
                "screen_text": c.screen_text()[-3000:]}, c
    painted = None
    deadline = time.monotonic() + 2.0
    while painted is None and time.monotonic() < deadline:  # the frame that shows it
        painted = c.output_after(ev["t"])
        time.sleep(0.01)
    mem = memory_mb(c.pid)
    done = painted if painted is not None else ev["t"]
    log = [r for r in sb.stats(since=c.t_spawn)["log"] if r["t"] <= ev["t"]]
    lists = [r["t"] for r in log if r["verb"] == "list"]
    return {"requests": dict(Counter(r["verb"] for r in log)),
            "list_span_s": round(max(lists) - min(lists), 2) if lists else None,
            "first_request": round(min(r["t"] for r in log) - c.t_spawn, 3) if log else None,
            "seconds": round(done - c.t_spawn, 3), "model_seconds": round(ev["t"] - c.t_spawn, 3),
            "app_running": round(running["t"] - c.t_spawn, 3) if running else None,
            "synced": round(ev["synced_t"] - c.t_spawn, 3), "rows": ev["rows"], "expected": ev["expected"],
            "rows_ok": ev.get("rows_ok"), "by_quiet": ev.get("by_quiet"), "rss_mb": round(mem["rss"], 1),
            "hwm_mb": round(mem["hwm"], 1)}, c


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median seconds of the runs that succeeded, and how many failed."""
    ok = [r["seconds"] for r in runs if "seconds" in r and "error" not in r]
    return {"runs": runs, "median": round(median(ok), 3) if ok else None, "failed": len(runs) - len(ok)}


# -- 3, 4, 5. windows ---------------------------------------------------------------------------------


class Window:
    """CPU, memory, output bytes and API requests of one console over one stretch of time."""

    def __init__(self, c: ConsoleProc, sb: SandboxProc) -> None:
        self.c, self.sb = c, sb

    def cache(self) -> dict[str, Any]:
        mark = self.c.mark()
        try:
            self.c.tell(op="cache")
        except OSError:
            return {}
        return self.c.wait_for(lambda e: e.get("ev") == "cache", 5, mark) or {}

    def __enter__(self) -> Window:
        self.cache0 = self.cache()
        self.cpu = CpuWindow(self.c.pid).start()
        self.sb_cpu = CpuWindow(self.sb.pid).start()
        self.own_cpu = CpuWindow(os.getpid()).start()  # the harness (pty reader, driver) shares the machine
        self.t0 = time.monotonic()
        self.stats0 = self.sb.stats(since=time.monotonic())
        return self

    def __exit__(self, *exc: object) -> None:
        self.t1 = time.monotonic()
        self.result = self.cpu.stop()
        self.sandbox_cpu = self.sb_cpu.stop()["cpu_percent"]
        self.harness_cpu = self.own_cpu.stop()["cpu_percent"]
        self.stats1 = self.sb.stats(since=time.monotonic())
        self.mem = memory_mb(self.c.pid)
        self.cache1 = self.cache()

    def report(self) -> dict[str, Any]:
        seconds = self.t1 - self.t0
        out_bytes = self.c.bytes_at(self.t1) - self.c.bytes_at(self.t0)
        verbs = Counter(self.stats1["by_verb"])
        verbs.subtract(self.stats0["by_verb"])
        res = Counter(self.stats1["by_resource"])
        res.subtract(self.stats0["by_resource"])
        per_min = 60.0 / seconds
        events = Counter((self.cache1 or {}).get("events") or {})
        events.subtract((self.cache0 or {}).get("events") or {})
        notes = ((self.cache1 or {}).get("notifications", 0) or 0) - ((self.cache0 or {}).get("notifications", 0) or 0)
        return {"seconds": round(seconds, 1), "cpu_percent": self.result["cpu_percent"],
                "sandbox_cpu_percent": self.sandbox_cpu, "harness_cpu_percent": self.harness_cpu,
                "load_average": round(os.getloadavg()[0], 2), "rss_mb": round(self.mem["rss"], 1),
                "hwm_mb": round(self.mem["hwm"], 1), "output_bytes_per_s": round(out_bytes / seconds, 1),
                "requests_per_min": {k: round(v * per_min, 1) for k, v in sorted(verbs.items()) if v},
                "requests_by_resource_per_min": {k: round(v * per_min, 1) for k, v in sorted(res.items()) if v},
                "watches_open": self.stats1["watches_open"],
                "watch_events_per_min": {k: round(v * per_min, 1) for k, v in sorted(events.items()) if v},
                "change_notifications_per_min": round(notes * per_min, 1)}


def idle(c: ConsoleProc, sb: SandboxProc, seconds: float) -> dict[str, Any]:
    """The console left alone with its watches open."""
    with Window(c, sb) as w:
        time.sleep(seconds)
    return w.report()


def churn(c: ConsoleProc, sb: SandboxProc, rate: float, seconds: float) -> dict[str, Any]:
    """The sandbox's own churn mix (pod label/annotation edits, events, scale nudges) at `rate`/s."""
    sb.churn(rate)
    try:
        time.sleep(1.0)  # the first changes reach the console
        with Window(c, sb) as w:
            time.sleep(seconds)
    finally:
        made = sb.churn(0)
    return {**w.report(), "churn_rate": rate, "churn_made": made}


def switch_screen(c: ConsoleProc, key: str, screen: str, timeout: float) -> dict[str, Any]:
    """Press a screen key and time the target screen's completion (warm: the cache is full)."""
    mark = c.mark()
    c.tell(op="complete", screen=screen)
    t = c.send(key)
    ev = c.wait_for(lambda e: e.get("ev") == "complete" and e.get("screen") == screen, timeout, mark)
    if ev is None:
        return {"error": f"{screen} did not complete within {timeout:g}s after pressing {key!r}"}
    return {"seconds": round(ev["t"] - t, 3), "rows": ev["rows"]}


# -- 2. watch to screen ---------------------------------------------------------------------------


def nudge_targets(sb: SandboxProc, count: int, exclude: set[tuple[str, str]] = frozenset()) -> list[dict[str, Any]]:
    """Deployments no HPA scales (an HPA would fight the nudges), as {namespace, name, replicas}."""
    hpa = {(h["metadata"]["namespace"], (h.get("spec") or {}).get("scaleTargetRef", {}).get("name"))
           for h in sb.items("/apis/autoscaling/v2/horizontalpodautoscalers")}
    deps = sorted(sb.items(DEPLOYMENTS), key=lambda d: (d["metadata"]["namespace"], d["metadata"]["name"]))
    generated = [d for d in deps if (d["metadata"].get("labels") or {}).get("app.kubernetes.io/part-of") == "scale"]
    out = []
    for d in generated or deps:  # the --scale generator's plain Deployments, when there are any
        key = (d["metadata"]["namespace"], d["metadata"]["name"])
        if key in hpa or key in exclude or (d.get("spec") or {}).get("paused"):
            continue
        out.append({"namespace": key[0], "name": key[1], "replicas": int(d["spec"].get("replicas", 1))})
    # a fixed shuffle: the targets are spread over the table, and the same on every run
    out.sort(key=lambda t: (zlib.crc32(t["name"].encode()), t["name"]))
    return out[:count]


async def _drive(c: ConsoleProc, sb: SandboxProc, targets: list[dict[str, Any]], rate: float,
                 seconds: float, settle: float) -> dict[str, Any]:
    import aiohttp

    ids = itertools.count(1)
    sent: dict[int, dict[str, Any]] = {}
    pending: dict[str, int] = {}  # target name -> id of its change not yet seen
    seen_at: dict[int, float] = {}
    errors: list[str] = []
    filler = 0
    filler_failed = 0
    mark = c.mark()
    event_index = mark

    def collect() -> None:
        nonlocal event_index
        new, event_index = c.events_since(event_index)
        for ev in new:
            if ev.get("ev") == "seen" and ev["id"] in sent:
                seen_at[ev["id"]] = ev["t"]
                pending.pop(sent[ev["id"]]["name"], None)

    async def patch(session: aiohttp.ClientSession, ident: int, t: dict[str, Any], value: int) -> None:
        url = f"{sb.url}/apis/apps/v1/namespaces/{t['namespace']}/deployments/{t['name']}"
        rec = sent[ident]
        try:
            async with session.patch(url, data=json.dumps({"spec": {"replicas": value}}),
                                     headers={"Content-Type": "application/merge-patch+json"}) as resp:
                await resp.read()
                rec["status"] = resp.status
        except Exception as e:  # counted, never fatal
            rec["status"] = repr(e)
        rec["done"] = time.monotonic()
        if rec["status"] != 200:
            errors.append(f"{t['name']}: {rec['status']}")
            pending.pop(t["name"], None)

    async def label(session: aiohttp.ClientSession, t: dict[str, Any], n: int) -> None:
        nonlocal filler_failed
        url = f"{sb.url}/apis/apps/v1/namespaces/{t['namespace']}/deployments/{t['name']}"
        body = {"metadata": {"labels": {"bench.almtui.io/nudge": str(n)}}}
        try:
            async with session.patch(url, data=json.dumps(body),
                                     headers={"Content-Type": "application/merge-patch+json"}) as resp:
                await resp.read()
                ok = resp.status == 200
        except Exception:
            ok = False
        filler_failed += not ok

    headers = {"Authorization": f"Bearer {sb.token}"}
    connector = aiohttp.TCPConnector(ssl=sb.tls, limit=32)
    tasks: list[asyncio.Task] = []
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        ring = itertools.cycle(targets)
        t0 = time.monotonic()
        total = int(rate * seconds)
        for n in range(total):
            due = t0 + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            collect()
            for _ in range(len(targets)):
                t = next(ring)
                if t["name"] not in pending:
                    break
            else:  # every target still waits for its last change to show: keep the load up, unmeasured
                filler += 1
                t = next(ring)
                tasks.append(asyncio.create_task(label(session, t, filler)))
                continue
            t["current"] = t["replicas"] + 1 if t.get("current", t["replicas"]) == t["replicas"] else t["replicas"]
            ident = next(ids)
            c.tell(op="expect", id=ident, name=t["name"], pattern=READY, value=str(t["current"]))
            sent[ident] = {"name": t["name"], "value": t["current"], "t": time.monotonic()}
            pending[t["name"]] = ident
            tasks.append(asyncio.create_task(patch(session, ident, t, t["current"])))
        await asyncio.gather(*tasks)
        driven = time.monotonic() - t0  # until the last change was accepted: the rate the sandbox took
        deadline = time.monotonic() + settle
        while pending and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            collect()
        collect()
        gave_up = time.monotonic()
        c.tell(op="forget")
        # put the targets back where they were (not measured)
        restore = [t for t in targets if t.get("current", t["replicas"]) != t["replicas"]]
        for t in restore:
            sent[-1] = {"name": t["name"]}
            await patch(session, -1, t, t["replicas"])
            t["current"] = t["replicas"]
        sent.pop(-1, None)
    ok = [i for i, r in sent.items() if r.get("status") == 200]
    model = [seen_at[i] - sent[i]["t"] for i in ok if i in seen_at]
    # the row reaches the terminal with the next frame Textual writes after the model has it
    frames = {i: c.output_after(seen_at[i]) for i in ok if i in seen_at}
    screen = [(frames[i] or seen_at[i]) - sent[i]["t"] for i in ok if i in seen_at]
    # a change never shown counts with the time it waited: the percentiles are then lower bounds
    screen += [gave_up - sent[i]["t"] for i in ok if i not in seen_at]
    rtt = [sent[i]["done"] - sent[i]["t"] for i in ok]
    return {"rate": rate, "offered_rate": round((len(sent) + filler) / driven, 1) if driven else None,
            "targets": len(targets), "measured": len(sent), "applied": len(ok), "seen": len(model),
            "lost": len(ok) - len(model), "unmeasured_label_patches": filler, "unmeasured_failed": filler_failed,
            "errors": errors[:10], "lower_bound": len(ok) > len(model),
            "p50_ms": ms(percentile(screen, 50)), "p95_ms": ms(percentile(screen, 95)),
            "p99_ms": ms(percentile(screen, 99)), "max_ms": ms(max(screen)) if screen else None,
            "model_p50_ms": ms(percentile(model, 50)), "model_p95_ms": ms(percentile(model, 95)),
            "patch_rtt_p50_ms": ms(percentile(rtt, 50))}


def watch_to_screen(c: ConsoleProc, sb: SandboxProc, rate: float, seconds: float, *,
                    targets: list[dict[str, Any]], settle: float = 30.0) -> dict[str, Any]:
    """Scale nudges at `rate`/s for `seconds`; latency from each PATCH sent to its row showing it."""
    mark = c.mark()
    names = [t["name"] for t in targets]
    c.tell(op="inspect", names=names, pattern=READY)
    ev = c.wait_for(lambda e: e.get("ev") == "inspect", 10, mark)
    shown = (ev or {}).get("values") or {}
    ok = [t for t in targets if shown.get(t["name"]) == str(t["replicas"])]
    if len(ok) < max(1, len(targets) // 2):
        sample = {n: shown.get(n) for n in names[:5]}
        return {"rate": rate, "error": "could not read the replica count from the rows' READY cells "
                                       f"(expected 'ready/desired'; the probe read {sample})"}
    with Window(c, sb) as w:
        result = asyncio.run(_drive(c, sb, ok, rate, seconds, settle))
    return {**result, "window": w.report()}


# -- 6. keypress to request -----------------------------------------------------------------------


def _deployment_path(ns: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments/{name}"


def wait_rolled_out(sb: SandboxProc, path: str, timeout: float) -> bool:
    """Wait until the Deployment's rollout is complete (as `kubectl rollout status` judges it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = sb.api("GET", path)
        spec, st = d.get("spec") or {}, d.get("status") or {}
        want = int(spec.get("replicas", 1))
        if (st.get("observedGeneration", 0) >= d["metadata"].get("generation", 0)
                and st.get("updatedReplicas", 0) == want and st.get("replicas", 0) == want
                and st.get("availableReplicas", 0) == want):
            return True
        time.sleep(0.5)
    return False


def wait_cached(c: ConsoleProc, sb: SandboxProc, path: str, ns: str, name: str, timeout: float) -> float | None:
    """Seconds until the console's cache holds the Deployment as the API has it (None: it did not)."""
    t0 = time.monotonic()
    want = sb.api("GET", path)["metadata"]["resourceVersion"]
    while time.monotonic() - t0 < timeout:
        mark = c.mark()
        c.tell(op="cached", plural="deployments", namespace=ns, name=name)
        ev = c.wait_for(lambda e: e.get("ev") == "cached", 5, mark)
        if ev is not None and ev.get("rv") == want:
            return round(time.monotonic() - t0, 2)
        time.sleep(0.2)
    return None


def keypress_to_request(c: ConsoleProc, sb: SandboxProc, target: dict[str, Any], repeats: int,
                        *, timeout: float = 20.0) -> dict[str, Any]:
    """Roll `target` back with `u`, confirm with `y`; time from `y` to the PATCH at the sandbox.

    A new image first gives the Deployment a revision to roll back to; each later rollback
    goes back one more revision, so the runs can repeat. The row is selected with the `/`
    filter. Any screen between `u` and the confirmation (a revision picker) is accepted with
    enter; the latency is measured from the key that sent the request.
    """
    ns, name = target["namespace"], target["name"]
    path = _deployment_path(ns, name)
    dep = sb.api("GET", path)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    base = container["image"].rsplit(":", 1)[0]
    sb.api("PATCH", path, {"spec": {"template": {"spec": {"containers": [
        {"name": container["name"], "image": f"{base}:bench-2"}]}}}},
        content_type="application/strategic-merge-patch+json")
    time.sleep(1.0)
    runs: list[dict[str, Any]] = []
    mark = c.mark()
    c.send("/")  # type only once the filter input has focus: a letter typed at the table is a command key
    if c.wait_for(lambda e: e.get("ev") == "focus" and e.get("name") == "Input", timeout, mark) is None:
        return {"target": f"{ns}/{name}", "error": "the '/' filter input never took focus"}
    mark = c.mark()
    c.send(name)
    c.send("enter")
    if c.wait_for(lambda e: e.get("ev") == "focus" and e.get("name") != "Input", timeout, mark) is None:
        return {"target": f"{ns}/{name}", "error": "focus never left the filter input after enter"}
    c.quiet(0.5, 10)
    c.tell(op="active", on=True)
    for _ in range(repeats):
        rolled = wait_rolled_out(sb, path, timeout=120)  # press on a quiet cluster, not mid-rollout
        caught_up = wait_cached(c, sb, path, ns, name, timeout=60)  # and once the console has seen it
        mark = c.mark()
        c.send("u")
        screens: list[str] = []
        key_t: float | None = None
        shown = ""
        for _step in range(4):
            ev = c.wait_for(lambda e: e.get("ev") == "screen", timeout, mark)
            if ev is None:
                break
            mark = c.events.index(ev) + 1
            screens.append(ev["name"])
            if ev.get("depth", 1) <= 1:
                break  # back on a data screen: the action ended without a request
            time.sleep(0.3)  # let the dialog finish composing (its dry run) before answering
            c.quiet(0.3, 5)
            if "confirm" in ev["name"].lower():
                key_t = c.send("y")
                break
            if "refus" in ev["name"].lower():
                shown = c.screen_text()  # what the console said, for the record
                break
            c.send("enter")  # a picker or form on the way: take its default
        if key_t is None:
            runs.append({"error": f"no confirmation dialog after 'u' (screens: {screens})",
                         "screen_text": (shown or c.screen_text())[-2500:]})
            c.send("escape")
            c.quiet(0.5, 5)
            continue
        write = None
        before: list[str] = []
        deadline = time.monotonic() + timeout
        while write is None and time.monotonic() < deadline:
            log = sb.stats(since=key_t - 0.001)["log"]
            for i, r in enumerate(log):
                if r["path"] == path and not r["dry_run"] and r["verb"] in ("patch", "update"):
                    write = r
                    before = [f"{x['verb']} {x['resource']}{' dry-run' if x['dry_run'] else ''}" for x in log[:i]
                              if x["verb"] != "watch"]
                    break
            else:
                time.sleep(0.05)
        closed = c.wait_for(lambda e: e.get("ev") == "screen" and e.get("depth", 1) <= 1, 0, mark)
        if write is None:
            runs.append({"screens": screens, "error": f"no {path} write within {timeout:g}s of 'y'"})
            continue
        runs.append({"screens": screens, "ms": ms(write["t"] - key_t), "requests_before": before,
                     "dialog_closed_ms": ms(closed["t"] - key_t) if closed else None, "rolled_out_before": rolled,
                     "console_caught_up_s": caught_up})
        c.quiet(0.5, 5)
    c.tell(op="active", on=False)
    c.send("escape")
    good = [r["ms"] for r in runs if "ms" in r]
    return {"target": f"{ns}/{name}", "runs": runs, "median_ms": median(good),
            "max_ms": max(good) if good else None}


def safe(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one measurement; an exception becomes {"error": ...} so the others still run."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}

