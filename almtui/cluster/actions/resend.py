"""How a plan's request is sent, and when one that met a conflict may be sent again, and on what:
one way for the dry run and the apply.

Why one rule: a plan is made from the cached object, which trails the server by a watch event or
two, and controllers write status all through a rollout, the very time one rolls back. The checks'
dry run meets the same conflicts the apply does; if it refused what the apply would resend, the
confirmation would never be offered for exactly the busy objects a user needs to act on.

A conflict is sent again only when nothing the plan was made from changed: only status and
bookkeeping moved and the plan was not made from the status (the same request, on the new
resourceVersion), or the request says how its reference tool retries (`Request.rebase`: Argo CD's
SetAppOperation reads the Application again and sets the operation on it).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

from almtui.cluster.actions.model import ActionError, Plan, Request
from almtui.cluster.connection import ApiError, Connection, ConnectionLost

log = logging.getLogger(__name__)

RESENDS = 3  # client-go's DefaultRetry allows 5 attempts; a status that moves this often is a busy object
_BOOKKEEPING = frozenset({"resourceVersion", "managedFields"})


def rv_of(obj: Mapping[str, Any] | None) -> str | None:
    rv = ((obj or {}).get("metadata") or {}).get("resourceVersion")
    return str(rv) if rv else None


def tests_rv(req: Request) -> bool:
    """Whether `req` is a JSON patch whose first operation tests the resourceVersion."""
    body = req.body
    return (isinstance(body, list) and bool(body) and isinstance(body[0], dict) and body[0].get("op") == "test"
            and body[0].get("path") == "/metadata/resourceVersion")


def conditioned(req: Request, rv: str | None) -> Any:
    """The request body conditioned on `rv` instead of the version the plan was made from."""
    body = req.body
    if not req.precondition or rv is None:
        return body
    if isinstance(body, list) and tests_rv(req):
        body = copy.deepcopy(body)
        body[0]["value"] = rv
    elif isinstance(body, dict):
        body = copy.deepcopy(body)
        body.setdefault("metadata", {})["resourceVersion"] = rv
    return body


def send_or_fallback(send: Callable[[Request, Any], dict], req: Request,
                     rv: str | None) -> tuple[Request, Any, dict | ApiError | ConnectionLost]:
    """`send(req, body)` with the body conditioned on `rv`, and `req.fallback` after a 404 (Argo
    Rollouts without the status subresource): the request sent last, its body, and the answer or
    error. The dry run and the apply send alike."""
    sent = req
    while True:
        body = conditioned(sent, rv)
        try:
            return sent, body, send(sent, body)
        except ApiError as e:
            if e.status != 404 or sent is not req or req.fallback is None:
                return sent, body, e
            sent = req.fallback
        except ConnectionLost as e:
            return sent, body, e


def read_target(conn: Connection, plan: Plan) -> dict | None:
    """The plan's target as the server has it now, or None when it cannot be read."""
    try:
        cur = conn.get(plan.target.path)
    except (ApiError, ConnectionLost):
        return None
    return cur if isinstance(cur, dict) else None


def only_status_moved(before: Mapping[str, Any] | None, cur: Mapping[str, Any] | None) -> bool:
    """Whether `cur` differs from `before` in nothing but status and bookkeeping (resourceVersion,
    managedFields): the spec, labels, annotations, generation and any other field are the same."""
    if not before or not cur:
        return False

    def rest(obj: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in obj.items() if k != "status"}
        md = out.get("metadata")
        if isinstance(md, dict):
            out["metadata"] = {k: v for k, v in md.items() if k not in _BOOKKEEPING}
        return out

    return rest(before) == rest(cur)


def may_be_stale(e: ApiError, req: Request) -> bool:
    """Whether `e` may say the object moved on: a 409 other than AlreadyExists, or a 422 answering a
    JSON patch's resourceVersion test (upstream drops the test's own text)."""
    return (e.status == 409 and e.reason != "AlreadyExists") or (e.status == 422 and tests_rv(req))


def resendable(plan: Plan, req: Request, cur: Mapping[str, Any] | None, rv: str | None) -> Request | None:
    """The request to send again on `cur` (the target as read after a conflict on `rv`), or None when
    sending again is not safe: the object did not move, something the plan was made from changed,
    or the request's reference tool would refuse now (e.g. another Argo CD operation started)."""
    now = rv_of(cur)
    if cur is None or now is None or now == rv:
        return None
    if req.rebase is not None:
        try:
            return dataclasses.replace(req, body=req.rebase(dict(cur)))
        except ActionError as refused:
            log.info("%s: not sent again: %s", plan.target, refused.message)
            return None
    if plan.status_read or not only_status_moved(plan.before, cur):
        return None
    return req
