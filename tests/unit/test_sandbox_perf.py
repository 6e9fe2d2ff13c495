"""The sandbox's fast paths give exactly what the slow ones gave: copies, sorted lists, metrics
snapshots and their index, parser memos, load parameters, batched watch streams, the frozen heap."""

from __future__ import annotations

import copy
import gc
import json
import random
import ssl
import threading
import urllib.request
from typing import Any

import pytest

from almtui.kube.quantities import QuantityError, cpu_millis
from almtui.kube.selectors import EVERYTHING, NOTHING, parse_label_selector
from almtui.sandbox import runtime
from almtui.sandbox.clock import SimClock
from almtui.sandbox.controllers import hpa
from almtui.sandbox.load import LoadModel
from almtui.sandbox.podmetrics import PodMetrics
from almtui.sandbox.runtime import Sandbox
from almtui.sandbox.scale import generate
from almtui.sandbox.scenario import parse_scenario
from almtui.sandbox.store import Store, clone
from tests.support import RunningSandbox, wait_until

BASE = {"name": "perf-test", "settle": 30, "users": [{"name": "operator", "role": "cluster-admin"}],
        "nodes": [{"name": "edge-1"}]}
SCALE = {"pods": 120, "nodes": 4, "deployments": 12, "hpas": 4, "namespaces": 3}


@pytest.fixture(scope="module")
def scaled() -> Sandbox:
    sb = Sandbox(parse_scenario(BASE), seed=3)
    generate(sb, SCALE)
    sb.build()
    return sb


# -- copies and lists ---------------------------------------------------------------------------------


def test_clone_is_deepcopy_for_json_values() -> None:
    shared = {"a": [1, 2, {"b": None}]}
    obj: dict[str, Any] = {"x": shared, "y": shared, "z": [shared["a"], "s", 1.5, True], "n": None}
    for original in (obj, [obj, obj], {"t": (1, [2])}, "text", 3):
        got, want = clone(original), copy.deepcopy(original)
        assert got == want == original and type(got) is type(want)
    got = clone(obj)
    assert got["x"] is got["y"] and got["z"][0] is got["x"]["a"]  # shared stays shared, as deepcopy keeps it
    got["x"]["a"][2]["b"] = "changed"
    assert shared["a"][2]["b"] is None  # and nothing of the original is reused
    tupled = clone({"t": (1, [2])})
    assert isinstance(tupled["t"], tuple)  # other types go through deepcopy


def test_list_keeps_namespace_order_through_writes() -> None:
    store = Store(SimClock())
    rng = random.Random(5)
    namespaces = ["a", "a-b", "ab", "b", "a0"]
    for ns in namespaces:
        store.create("/namespaces", {"metadata": {"name": ns}})
    names: set[tuple[str, str]] = set()

    def check() -> None:
        everything = sorted(names)
        got = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in store.list("/configmaps")]
        assert got == everything
        for ns in [*namespaces, "missing"]:
            got = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in store.list("/configmaps", ns)]
            assert got == [k for k in everything if k[0] == ns]

    check()
    for step in range(300):
        ns = rng.choice(namespaces)
        name = f"cm-{rng.randrange(40)}"
        if (ns, name) in names and rng.random() < 0.4:
            store.delete("/configmaps", ns, name)
            names.discard((ns, name))
        elif (ns, name) not in names:
            store.create("/configmaps", {"metadata": {"name": name, "namespace": ns}})
            names.add((ns, name))
        else:
            store.mutate("/configmaps", ns, name, lambda o, s=step: o.setdefault("data", {}).update(v=str(s)))
        if step % 25 == 0:
            check()
    check()
    assert store.total() == len(names) + len(namespaces)
    assert store.keys("/configmaps") == sorted(names)
    # objects being deleted (finalizers hold them) are left out on request
    held = sorted(names)[::3]
    for ns, name in held:
        store.mutate("/configmaps", ns, name, lambda o: o["metadata"].update(finalizers=["example.com/hold"]))
        store.delete("/configmaps", ns, name)
    assert store.keys("/configmaps") == sorted(names)
    assert store.keys("/configmaps", terminating=False) == [k for k in sorted(names) if k not in held]
    for ns, name in held:
        store.mutate("/configmaps", ns, name, lambda o: o["metadata"].pop("finalizers"))
    assert store.keys("/configmaps", terminating=False) == store.keys("/configmaps") == [
        k for k in sorted(names) if k not in held]


# -- metrics-server snapshots -------------------------------------------------------------------------


def _scan(metrics: PodMetrics, ns: str, names: set[str], selector: Any) -> list[dict]:
    """The HPA's selection before the index: every item named, or with labels the selector matches."""
    out = []
    for m in metrics.pod_metrics(ns):
        labels = m["metadata"].get("labels")
        if m["metadata"]["name"] in names or (labels and selector.matches(labels)):
            out.append(m)
    return out


def test_select_pod_metrics_matches_a_scan(scaled: Sandbox) -> None:
    metrics: PodMetrics = scaled.ctx.shared["metrics"]
    scaled.manager.advance(30)
    for ns in ("scale-00", "scale-01", "default", "missing"):
        items = metrics.pod_metrics(ns)
        apps = sorted({m["metadata"]["labels"]["app"] for m in items if "app" in m["metadata"].get("labels", {})})
        some = {m["metadata"]["name"] for m in items[::5]} | {"not-a-pod"}
        selectors = [EVERYTHING, NOTHING, parse_label_selector("app notin (x)"),
                     *(parse_label_selector(f"app={a}") for a in apps),
                     *(parse_label_selector(f"app in ({a},other),pod-template-hash") for a in apps[:2])]
        for selector in selectors:
            for names in (set(), some):
                assert metrics.select_pod_metrics(ns, names, selector) == _scan(metrics, ns, names, selector)


def test_snapshot_values_are_those_of_the_scrape(scaled: Sandbox) -> None:
    """Readings computed late still use what was true when the window's scrape was taken."""
    ctx = scaled.ctx
    scaled.manager.advance(15)
    lazy = ctx.shared["metrics"]
    lazy.invalidate()
    first = lazy.pod_metrics("scale-01")[0]
    app, pod = first["metadata"]["labels"]["app"], first["metadata"]["name"]
    lazy.invalidate()
    lazy.select_pod_metrics("scale-01", {pod}, NOTHING)  # takes the snapshot, computes one reading
    eager = PodMetrics(ctx)  # computes every reading now, before the change below
    want_pods, want_nodes = copy.deepcopy(eager.pod_metrics(None)), copy.deepcopy(eager.node_metrics())
    load: LoadModel = ctx.shared["load"]
    load.set_ready("scale-01", app, pod, False)  # one Ready pod fewer: the others' share would grow
    try:
        assert lazy.pod_metrics(None) == want_pods
        assert lazy.node_metrics() == want_nodes
    finally:
        load.set_ready("scale-01", app, pod, True)


def test_hpa_parser_memos_agree_with_the_parsers() -> None:
    rng = random.Random(2)
    values = ["0", "1n", "999999n", "1000001n", "12u", "250m", "2", "0.5", "1.5Gi", "100Ki", "1e3", "007m",
              *(f"{rng.randrange(10 ** rng.randrange(1, 16))}{rng.choice(['', 'n', 'u', 'm'])}" for _ in range(500))]
    for value in values:
        assert hpa._milli(value) == cpu_millis(value) == hpa._milli(value)
    for bad in ("", "12x", "m"):
        for _ in range(2):  # errors are not remembered
            try:
                want: Any = cpu_millis(bad)
            except QuantityError:
                with pytest.raises(QuantityError):
                    hpa._milli(bad)
            else:
                assert hpa._milli(bad) == want
    assert hpa._epoch("2025-01-06T12:00:00Z") == hpa._epoch("2025-01-06T12:00:00Z") == 1736164800.0
    assert hpa._epoch("not a time") is None and hpa._epoch("") is None and hpa._epoch(None) is None


def test_load_parameters_follow_option_changes() -> None:
    options: dict[str, Any] = {}
    model = LoadModel(1, None, options)
    defaults = model.params("web")
    assert model.params("web") == defaults and model.params("web") is not model.params("web")
    options["load"] = {"web": {"baseRps": 10, "profile": "flat", "memory": "1Mi"}}
    assert model.params("web") == {**defaults, "baseRps": 10, "profile": "flat", "memory": 1 << 20, "noise": False}
    assert model.app_rps("web", 100.0) == 10
    options["load"]["web"]["baseRps"] = 20  # edited in place, at the same instant
    assert model.app_rps("web", 100.0) == 20
    options["load"] = {"web": {"baseRps": 30, "profile": "flat", "memory": "1Mi"}}
    assert model.app_rps("web", 100.0) == 30
    del options["load"]
    assert model.params("web") == defaults


# -- watch streams ------------------------------------------------------------------------------------


def _watch_lines(url: str, token: str, count: int, out: list[bytes], opened: threading.Event) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        opened.set()
        for line in resp:
            out.append(line)
            if len(out) >= count:
                return


def test_watch_streams_carry_bursts_whole_and_in_order() -> None:
    sb = RunningSandbox(BASE, speed=1.0).start()
    try:
        rv = sb.call(lambda s: s.store.rv)
        url = f"{sb.url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}"
        token = sb.token("operator")
        streams: list[list[bytes]] = [[], []]
        threads = []
        for out in streams:
            opened = threading.Event()
            t = threading.Thread(target=_watch_lines, args=(url, token, 40, out, opened), daemon=True)
            t.start()
            assert opened.wait(10)
            threads.append(t)
        wait_until(lambda: sb.call(lambda s: len(s.store._watchers.get("/configmaps", []))) == 2,
                   what="both watches registered")

        def burst(s: Sandbox) -> None:  # 40 events queued at once, before either stream is written to
            for i in range(30):
                s.store.create("/configmaps", {"metadata": {"name": f"cm-{i:02d}", "namespace": "default"}})
            for i in range(10):
                s.store.delete("/configmaps", "default", f"cm-{i:02d}")

        sb.call(burst)
        for t in threads:
            t.join(20)
        assert streams[0] == streams[1]  # every watcher gets the same bytes
        events = [json.loads(line) for line in streams[0]]
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
            *(("ADDED", f"cm-{i:02d}") for i in range(30)), *(("DELETED", f"cm-{i:02d}") for i in range(10))]
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
        assert rvs == sorted(rvs) and len(set(rvs)) == 40
    finally:
        sb.stop()


def test_initial_events_end_with_a_bookmark_before_live_ones() -> None:
    sb = RunningSandbox(BASE, speed=1.0).start()
    try:
        def seed(s: Sandbox) -> None:
            for i in range(5):
                s.store.create("/configmaps", {"metadata": {"name": f"old-{i}", "namespace": "default"}})

        sb.call(seed)
        url = (f"{sb.url}/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true"
               "&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan")
        lines: list[bytes] = []
        opened = threading.Event()
        t = threading.Thread(target=_watch_lines, args=(url, sb.token("operator"), 7, lines, opened), daemon=True)
        t.start()
        assert opened.wait(10)
        wait_until(lambda: len(lines) >= 6, what="the initial events and their bookmark")
        sb.call(lambda s: s.store.create("/configmaps", {"metadata": {"name": "new", "namespace": "default"}}))
        t.join(20)
        events = [json.loads(line) for line in lines]
        assert [e["type"] for e in events] == ["ADDED"] * 5 + ["BOOKMARK", "ADDED"]
        assert [e["object"]["metadata"]["name"] for e in events[:5]] == [f"old-{i}" for i in range(5)]
        assert events[5]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert events[6]["object"]["metadata"]["name"] == "new"
    finally:
        sb.stop()


# -- the frozen heap ----------------------------------------------------------------------------------


def test_large_clusters_freeze_the_heap_while_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    """Frozen heap and rare full collections while serving; both given back on stop."""
    monkeypatch.setattr(runtime, "FREEZE_MIN_OBJECTS", 10)
    before, threshold = gc.get_freeze_count(), gc.get_threshold()
    sb = RunningSandbox(BASE, speed=1.0).start()
    try:
        assert gc.get_freeze_count() > before
        assert gc.get_threshold() == (*threshold[:2], runtime.FULL_GC_AFTER)
    finally:
        sb.stop()
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == threshold
