"""Bearer-token authentication and a small RBAC evaluator, shared by requests and SelfSubjectAccessReviews.

The policy comes from the scenario: users with tokens, and rules of (verbs, apiGroups, resources).
One evaluator answers both real requests and SelfSubjectAccessReview, so the review can never
say yes to something the server then refuses.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rule:
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ("*",)
    resources: tuple[str, ...] = ("*",)  # "deployments", "deployments/scale", "*", "*/scale"
    namespaces: tuple[str, ...] = ("*",)
    role: str = ""
    exclude: tuple[str, ...] = ()  # resources a wildcard must not reach ("secrets", "*/proxy")

    def allows(self, verb: str, group: str, resource: str, subresource: str, namespace: str | None) -> bool:
        if "*" not in self.verbs and verb not in self.verbs:
            return False
        if "*" not in self.api_groups and group not in self.api_groups:
            return False
        full = f"{resource}/{subresource}" if subresource else resource
        if any(x == full or (x == resource and not subresource) or (x.startswith("*/") and subresource == x[2:])
               for x in self.exclude):
            return False
        ok_res = any(r in ("*", full) or (r.startswith("*/") and subresource and r[2:] == subresource)
                     for r in self.resources)
        if not ok_res:
            return False
        return "*" in self.namespaces or (namespace or "") in self.namespaces


@dataclass
class User:
    name: str
    token: str
    groups: tuple[str, ...] = ("system:authenticated",)
    rules: list[Rule] = field(default_factory=list)


# The built-in roles the scenario may refer to, after the ClusterRoles of the same names.
ROLES: dict[str, list[Rule]] = {
    "cluster-admin": [Rule(("*",), ("*",), ("*",), role="cluster-admin")],
    # like the aggregated "view" ClusterRole: reads, but no Secrets and no proxy/exec/attach/port-forward
    "view": [Rule(("get", "list", "watch"), ("*",), ("*",), role="view",
                  exclude=("secrets", "*/proxy", "pods/exec", "pods/attach", "pods/portforward")),
             Rule(("get",), ("",), ("pods/log",), role="view")],
}


def _rules_from(spec: Any) -> list[Rule]:
    if isinstance(spec, str):
        return list(ROLES[spec])
    rules = []
    for r in spec or []:
        rules.append(Rule(tuple(r.get("verbs", ())), tuple(r.get("apiGroups", ("*",))),
                          tuple(r.get("resources", ("*",))), tuple(r.get("namespaces", ("*",))),
                          role=r.get("role", "custom")))
    return rules


class Authorizer:
    """Users by token and what each may do."""

    def __init__(self, users: list[User]) -> None:
        self.users = {u.token: u for u in users}
        self.by_name = {u.name: u for u in users}

    @classmethod
    def from_scenario(cls, spec: list[dict] | None, rng_token: Any = None) -> Authorizer:
        """spec: [{name, token?, role: cluster-admin|view | rules: [...]}]; tokens are random when absent."""
        spec = spec or [{"name": "operator", "role": "cluster-admin"}, {"name": "viewer", "role": "view"}]
        users = []
        for u in spec:
            token = u.get("token") or (rng_token() if rng_token else secrets.token_urlsafe(24))
            rules = _rules_from(u.get("rules") if "rules" in u else u.get("role", "view"))
            users.append(User(u["name"], token, rules=rules))
        return cls(users)

    def authenticate(self, header: str | None) -> User | None:
        if not header or not header.startswith("Bearer "):
            return None
        return self.users.get(header[7:].strip())

    def allowed(self, user: User, verb: str, group: str, resource: str, subresource: str = "",
                namespace: str | None = None) -> tuple[bool, str]:
        """(allowed, reason) — the reason reads like the RBAC authorizer's."""
        if resource == "selfsubjectaccessreviews" and verb == "create":
            return True, ""
        for rule in user.rules:
            if rule.allows(verb, group, resource, subresource, namespace):
                return True, f'RBAC: allowed by ClusterRoleBinding "{user.name}-{rule.role}" of ClusterRole ' \
                             f'"{rule.role}" to User "{user.name}"'
        return False, ""

    def review(self, user: User, body: dict) -> dict:
        """Answer a SelfSubjectAccessReview (authorization.k8s.io/v1) from the same policy."""
        spec = body.get("spec") or {}
        ra = spec.get("resourceAttributes")
        if ra is not None:
            ok, reason = self.allowed(user, ra.get("verb", ""), ra.get("group", ""), ra.get("resource", ""),
                                      ra.get("subresource", ""), ra.get("namespace") or None)
        else:
            nra = spec.get("nonResourceAttributes") or {}
            ok, reason = (nra.get("verb") == "get", "") if user.rules else (False, "")
        status: dict[str, Any] = {"allowed": ok}
        if reason:
            status["reason"] = reason
        return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}
