"""`almtui [--kubeconfig P] [--context C] [-n NS | -A] [--readonly] [--theme T] [--config FILE]`.

Why a separate entry: bad input (kubeconfig, config file, context) must end with one clear line
and exit status 2, never a traceback, before the terminal is taken over. The demo (`almtui
demo`) lives in almtui/demo.py because it needs the sandbox, which almtui.ui must not import.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any

from almtui.cluster.config import Config, load_config
from almtui.cluster.config import ConfigError as SettingsError
from almtui.cluster.connection import connect
from almtui.cluster.kubeconfig import ConfigError, load_kubeconfig
from almtui.cluster.service import ClusterService
from almtui.cluster.views import DEFAULT_ENVIRONMENTS

EXIT_USAGE = 2
# A full (oldest-generation) collection waits for this many younger ones instead of CPython's 10.
FULL_GC_AFTER = 1000


def _fail(message: str) -> int:
    print(f"almtui: {message}", file=sys.stderr)
    return EXIT_USAGE


def tune_gc() -> None:
    """Make full garbage collections rare: the console's cache holds a few hundred thousand objects.

    Measured at 5,000 pods and 100 changes/s (make bench's watch phase, gc.callbacks): every 3-4 s a
    full collection held the GIL for 240-275 ms, stopping the UI and every watch thread, the longest
    stall of a change on its way to the screen. The cached objects are decoded JSON, freed by
    reference counting when a watch event replaces them; the cyclic collector has little to find
    there. What is loaded at start-up (modules, Textual) is frozen out of every collection.
    """
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_GC_AFTER)


def connect_options(config: Config) -> dict[str, Any]:
    rl = config.rate_limits
    return {"qps": rl.qps, "burst": rl.burst, "sync_qps": rl.sync_qps, "sync_burst": rl.sync_burst,
            "timeout": rl.timeout}


def build_service(args: Any, config: Config) -> tuple[ClusterService, Any]:
    """(a started service, the KubeConfig) from the command line; ConfigError on bad input."""
    paths = [p for p in args.kubeconfig.split(os.pathsep) if p] if getattr(args, "kubeconfig", None) else None
    kubeconfig = load_kubeconfig(paths, getattr(args, "context", None))
    info = kubeconfig.context(getattr(args, "context", None))
    all_namespaces = getattr(args, "all_namespaces", False)
    namespace = None if all_namespaces else getattr(args, "namespace", None) or info.namespace
    conn = connect(kubeconfig, info.name, **connect_options(config))
    environments = tuple((e.name, e.namespace) for e in config.environments) or DEFAULT_ENVIRONMENTS
    service = ClusterService(conn, namespace=namespace, read_only=bool(getattr(args, "readonly", False)
                                                                        or config.read_only),
                             environments=environments, pending_after=config.pending_after)
    return service.start(), kubeconfig


def run_console(args: Any) -> int:
    """Load settings and kubeconfig, connect, and run the console until the user quits."""
    try:
        config = load_config(getattr(args, "config", None))
    except SettingsError as e:
        return _fail(str(e))
    try:
        service, kubeconfig = build_service(args, config)
    except ConfigError as e:
        return _fail(str(e))
    from almtui.ui.app import make_app  # Textual is imported only once the input is known to be good

    tune_gc()
    app = make_app(service, config=config, theme=getattr(args, "theme", None), kubeconfig=kubeconfig,
                   connect_options=connect_options(config))
    try:
        app.run()
    except KeyboardInterrupt:
        return 130
    finally:
        for svc in {id(service): service, id(app.service): app.service}.values():
            try:
                svc.stop()
                svc.conn.close()
            except Exception:  # already stopped by the app
                pass
    return app.return_code or 0
