"""`almtui sandbox`: run a sandbox cluster until SIGINT/SIGTERM, writing a kubeconfig for it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from almtui.sandbox.runtime import Sandbox
from almtui.sandbox.scenario import ScenarioError, load_scenario

log = logging.getLogger(__name__)

SCALE_KEYS = ("pods", "nodes", "deployments", "rollouts", "hpas", "pipelineruns", "events", "namespaces")


def parse_scale(text: str | None) -> dict[str, int]:
    """`pods=5000,nodes=200` -> {"pods": 5000, "nodes": 200}; a clear ValueError otherwise."""
    if not text:
        return {}
    out: dict[str, int] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in SCALE_KEYS:
            raise ValueError(f"--scale: expected KEY=N with KEY one of {', '.join(SCALE_KEYS)}, got {part!r}")
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"--scale: {key} must be a whole number, got {value!r}") from None
        if n < 0:
            raise ValueError(f"--scale: {key} must not be negative")
        out[key] = n
    return out


def write_kubeconfig(path: str, config: dict[str, Any]) -> None:
    """Write atomically with mode 0600: it holds bearer tokens."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    os.replace(tmp, p)


async def serve(args: Any, ready: asyncio.Future | None = None) -> int:
    scenario = load_scenario(args.scenario)
    options: dict[str, Any] = {}
    if args.churn:
        options["churn"] = args.churn
    sandbox = Sandbox(scenario, seed=args.seed, speed=args.speed, options=options)
    scale = parse_scale(args.scale)
    if scale:
        from almtui.sandbox.scale import generate

        generate(sandbox, scale)
    sandbox.build()
    extras: list[Any] = []
    if getattr(args, "prometheus", False):
        from almtui.sandbox.prometheus import start_prometheus

        extras.append(await start_prometheus(sandbox))
    url = await sandbox.start(args.host, args.port)
    if args.kubeconfig:
        write_kubeconfig(args.kubeconfig, sandbox.kubeconfig(args.namespace))
    print(url, flush=True)
    if ready is not None:
        ready.set_result(sandbox)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for extra in extras:
        with contextlib.suppress(Exception):
            await extra.stop()
    await sandbox.stop()
    return 0


def run(args: Any) -> int:
    try:
        parse_scale(args.scale)
        if args.speed <= 0:
            raise ValueError("--speed must be positive")
        return asyncio.run(serve(args))
    except (ScenarioError, ValueError) as e:
        print(f"almtui sandbox: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"almtui sandbox: cannot listen on {args.host}:{args.port}: {e.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
