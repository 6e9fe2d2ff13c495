"""The promotion matrix: one row per application, one cell per environment.

An environment is a namespace (configurable); an application is the ``app`` label, else
``app.kubernetes.io/name``, else the workload name. A cell shows the version (image tag of the
main container) and the workload's phase, and whether the previous environment runs something
else, i.e. whether there is something to promote into this one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .common import app_name, containers, d, image_tag, name_of, namespace_of, only_dicts, s
from .rollouts import PHASE_HEALTHY, argo_phase, deployment_phase

DEFAULT_ENVIRONMENTS: tuple[tuple[str, str], ...] = (("dev", "dev"), ("staging", "staging"), ("prod", "prod"))


@dataclass(frozen=True, slots=True)
class EnvCell:
    environment: str
    namespace: str
    kind: str                  # Deployment | Rollout
    name: str
    image: str
    version: str
    health: str                # the workload's phase
    previous_version: str | None
    differs: bool              # the previous environment runs another version
    promotable: bool           # it differs and the previous environment is Healthy


@dataclass(frozen=True, slots=True)
class EnvironmentView:
    key: tuple[str]
    app: str
    environments: tuple[str, ...]
    cells: tuple[EnvCell | None, ...]   # aligned with ``environments``; None: not deployed there


def _main_image(workload: Any, app: str) -> str:
    """The image of the container named like the app or the workload, else the first one."""
    ctrs = containers(d(workload, "spec", "template", "spec"))
    if not ctrs:
        return ""
    for wanted in (app, name_of(workload)):
        for c in ctrs:
            if s(c, "name") == wanted:
                return s(c, "image")
    return s(ctrs[0], "image")


def build_environments(deployments: Sequence[dict], rollouts: Sequence[dict],
                       environments: Sequence[tuple[str, str]] = DEFAULT_ENVIRONMENTS,
                       now: float = 0.0) -> list[EnvironmentView]:
    """Rows sorted by app; only apps deployed in at least one configured environment appear.

    When several workloads of one app share a namespace, the one named like the app wins, else
    the first by (kind, name).
    """
    del now  # phases need no clock; kept for the uniform builder signature
    env_names = tuple(name for name, _ in environments)
    slots_by_ns: dict[str, list[int]] = defaultdict(list)
    for n, (_, namespace) in enumerate(environments):
        slots_by_ns[namespace].append(n)

    picked: dict[str, dict[int, tuple[tuple[int, str, str], str, dict]]] = defaultdict(dict)
    for kind, objs in (("Deployment", deployments), ("Rollout", rollouts)):
        for obj in only_dicts(objs):
            slots = slots_by_ns.get(namespace_of(obj))
            if not slots:
                continue
            app, name = app_name(obj), name_of(obj)
            rank = (0 if name == app else 1, kind, name)
            for slot in slots:
                current = picked[app].get(slot)
                if current is None or rank < current[0]:
                    picked[app][slot] = (rank, kind, obj)

    rows = []
    for app in sorted(picked):
        cells: list[EnvCell | None] = []
        previous: EnvCell | None = None
        for slot, (env, namespace) in enumerate(environments):
            entry = picked[app].get(slot)
            if entry is None:
                cells.append(None)
                previous = None
                continue
            _, kind, obj = entry
            phase = deployment_phase(obj)[0] if kind == "Deployment" else argo_phase(obj)[0]
            image = _main_image(obj, app)
            version = image_tag(image)
            prev_version = previous.version if previous is not None else None
            differs = prev_version is not None and prev_version != version
            cell = EnvCell(
                environment=env,
                namespace=namespace,
                kind=kind,
                name=name_of(obj),
                image=image,
                version=version,
                health=phase,
                previous_version=prev_version,
                differs=differs,
                promotable=differs and previous is not None and previous.health == PHASE_HEALTHY,
            )
            cells.append(cell)
            previous = cell
        rows.append(EnvironmentView(key=(app,), app=app, environments=env_names, cells=tuple(cells)))
    return rows
