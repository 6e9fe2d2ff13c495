"""The one safe action path: plan -> checks -> confirm (the UI) -> apply -> outcome, audited once.

Usage::

    plan = planner.scale(deployment, 5, apps=applications)      # ActionError: refused before any request
    check = checker.check(plan)                                  # read-only, freshness, RBAC, dry run
    outcome = executor.run(plan, check, confirmed=user_said_yes)  # applied / conflict / unknown / ...

A planner's ActionError should be audited too: ``executor.refuse(err)``.
"""

from almtui.cluster.actions.checks import Checker
from almtui.cluster.actions.executor import Executor, diff_objects
from almtui.cluster.actions.model import (
    ActionError,
    CheckResult,
    Outcome,
    Plan,
    Request,
    Target,
)

__all__ = ["ActionError", "CheckResult", "Checker", "Executor", "Outcome", "Plan", "Request", "Target",
           "diff_objects"]
