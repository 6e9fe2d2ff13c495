"""The console's process makes full garbage collections rare (see almtui.ui.entry.tune_gc).

Run in a child interpreter: freezing the test process's own heap would hide its garbage."""

from __future__ import annotations

import subprocess
import sys

from almtui.ui.entry import FULL_GC_AFTER

CHILD = """
import gc
from almtui.ui.entry import tune_gc
before = gc.get_threshold()
tune_gc()
after = gc.get_threshold()
print(before[0] == after[0], before[1] == after[1], after[2], gc.get_freeze_count() > 0)
"""


def test_tune_gc_freezes_the_start_up_heap_and_raises_only_the_full_collection_threshold() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["True", "True", str(FULL_GC_AFTER), "True"]


def test_the_console_and_the_bench_probe_both_tune_the_collector() -> None:
    """The benchmark must measure the console as `almtui` runs it."""
    import inspect

    from almtui.ui import entry
    from bench import probe
    assert "tune_gc()" in inspect.getsource(entry.run_console)
    assert "tune_gc()" in inspect.getsource(probe.main)
