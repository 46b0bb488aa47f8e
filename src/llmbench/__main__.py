"""`python -m llmbench` runs the CLI. A Ctrl-C while Python is still importing it or
reading the flags (before a run could have measured anything) is exit 130 without a
traceback."""

try:
    from llmbench.cli import main

    code = main()
except KeyboardInterrupt:
    code = 130
raise SystemExit(code)
