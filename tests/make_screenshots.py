"""`make screenshots`: SVGs of every screen for the README, from the same deterministic harness as the snapshots.

Seeded edge-retail scenario, frozen sandbox clock, pinned console clock, animations off, 120x40
(and 80x24 for the first screen, to show the small-terminal layout).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from almtui.ui.screens import SCREEN_CLASSES
from tests.ui.conftest import make_test_app, settle, start_sandbox

OUT = Path(__file__).resolve().parents[1] / "screenshots"


async def shoot(sb, screen: str, size: tuple[int, int], name: str) -> Path:
    app = make_test_app(sb, screen=screen, size=size)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.pause(0.3)
        await settle(pilot)
        path = OUT / name
        app.save_screenshot(filename=path.name, path=str(path.parent))
    return path


def main() -> int:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="almtui-shots-") as tmp:
        sb = start_sandbox(Path(tmp))
        try:
            shots = [(name, (120, 40), f"{n}-{name}.svg") for n, name in enumerate(SCREEN_CLASSES, start=1)]
            shots.append(("rollouts", (80, 24), "rollouts-80x24.svg"))
            for screen, size, fname in shots:
                print(asyncio.run(shoot(sb, screen, size, fname)))
        finally:
            sb.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
