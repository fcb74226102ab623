"""`python -m carbonguard` runs the CLI."""

from carbonguard.cli.main import main

raise SystemExit(main())
