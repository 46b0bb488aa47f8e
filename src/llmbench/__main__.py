"""`python -m llmbench` runs the CLI."""

from llmbench.cli import main

raise SystemExit(main())
