"""Command line: the console (default), `almtui sandbox`, `almtui sandbox fault`, `almtui demo`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from almtui import __version__


def _sandbox_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sandbox", help="run the built-in simulated edge cluster (a Kubernetes API that kubectl accepts)",
        description="Run a simulated edge Kubernetes cluster that serves the Kubernetes REST API over HTTP. "
                    "Serves until SIGINT/SIGTERM. When ready it writes a kubeconfig (contexts 'operator', the "
                    "current one, and 'viewer') and prints the API URL on stdout.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free port (default: 0)")
    p.add_argument("--kubeconfig", metavar="PATH", help="write a kubeconfig for the sandbox here (mode 0600)")
    p.add_argument("--namespace", default="prod", help="default namespace of the kubeconfig's contexts "
                                                       "(default: %(default)s)")
    p.add_argument("--scenario", default="edge-retail", metavar="NAME|FILE",
                   help="built-in scenario name or a scenario YAML file (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="seed that makes a scenario reproducible (default: 1)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="simulated time runs this many times faster than the wall clock (default: 1)")
    p.add_argument("--scale", metavar="KEY=N,...",
                   help="generate a large cluster, e.g. pods=5000,nodes=200,deployments=500,rollouts=50,hpas=100")
    p.add_argument("--churn", type=float, default=0.0, metavar="N", help="make N object changes per second")
    p.add_argument("--prometheus", action="store_true",
                   help="also start a real Prometheus server scraping the sandbox (needs the prometheus binary)")
    fsub = p.add_subparsers(dest="sandbox_command", metavar="{fault}")
    f = fsub.add_parser("fault", help="inject a fault into a running sandbox",
                        description="Inject a fault into the running sandbox named by the kubeconfig.")
    f.add_argument("--kubeconfig", required=True, metavar="PATH", dest="fault_kubeconfig",
                   help="kubeconfig written by `almtui sandbox`")
    f.add_argument("kind", choices=("latency", "throttle", "errors", "reset", "watch-close", "watch-expire",
                                    "api-down", "prometheus-down", "partition", "conflict", "clear"),
                   help="the fault to inject ('clear' ends all faults)")
    f.add_argument("--duration", type=float, default=60.0, help="seconds the fault lasts (default: 60)")
    f.add_argument("--rate", type=float, default=None,
                   help="fraction of requests affected (throttle, errors, reset; defaults 1, 0.5, 0.5) "
                        "or seconds of delay (latency, default 2)")
    f.add_argument("--resource", default=None, help="limit to one resource (e.g. pods) or, for partition, "
                                                    "the node name")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="almtui",
        description="A terminal console for application lifecycle management on edge Kubernetes: pipelines, "
                    "rollouts, cluster health and autoscalers.")
    p.add_argument("--version", action="version", version=f"almtui {__version__}")
    p.add_argument("--kubeconfig", metavar="P", help="kubeconfig file(s); default: $KUBECONFIG or ~/.kube/config")
    p.add_argument("--context", metavar="C", help="kubeconfig context to use")
    ns = p.add_mutually_exclusive_group()
    ns.add_argument("-n", "--namespace", metavar="NS", help="namespace to show")
    ns.add_argument("-A", "--all-namespaces", action="store_true", help="show all namespaces")
    p.add_argument("--readonly", action="store_true", help="refuse every mutating action")
    p.add_argument("--theme", metavar="T", help="theme name")
    p.add_argument("--config", metavar="FILE", help="config file (default: $XDG_CONFIG_HOME/almtui/config.yaml)")
    sub = p.add_subparsers(dest="command", metavar="{sandbox,demo}")
    _sandbox_parser(sub)
    sub.add_parser("demo", help="start the built-in sandbox and open the console on it",
                   description="Start the built-in sandbox (edge-retail scenario, and its Prometheus when the "
                               "binary is present) and open the console on it.")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "sandbox":
        if getattr(args, "sandbox_command", None) == "fault":
            from almtui.sandbox.faultcli import run_fault

            return run_fault(args)
        from almtui.sandbox.main import run

        return run(args)
    if args.command == "demo":
        from almtui.demo import run_demo

        return run_demo(args)
    try:
        from almtui.ui.entry import run_console
    except ImportError as e:
        print(f"almtui: the console is not available in this build ({e})", file=sys.stderr)
        return 1
    return run_console(args)


if __name__ == "__main__":
    raise SystemExit(main())
