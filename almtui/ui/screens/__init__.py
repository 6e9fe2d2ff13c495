"""The console's screens: one module per screen, each a BaseScreen subclass."""

from almtui.ui.screens.advice import AdviceScreen
from almtui.ui.screens.autoscalers import AutoscalersScreen
from almtui.ui.screens.base import BaseScreen
from almtui.ui.screens.health import HealthScreen
from almtui.ui.screens.pipelines import PipelinesScreen
from almtui.ui.screens.rollouts import RolloutsScreen

# Mode name -> screen class, in key order (1-5).
SCREEN_CLASSES: dict[str, type[BaseScreen]] = {
    "pipelines": PipelinesScreen,
    "rollouts": RolloutsScreen,
    "health": HealthScreen,
    "autoscalers": AutoscalersScreen,
    "advice": AdviceScreen,
}

__all__ = ["SCREEN_CLASSES", "AdviceScreen", "AutoscalersScreen", "BaseScreen", "HealthScreen", "PipelinesScreen",
           "RolloutsScreen"]
