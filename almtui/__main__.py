"""`python -m almtui` runs the CLI."""

from almtui.cli import main

raise SystemExit(main())
