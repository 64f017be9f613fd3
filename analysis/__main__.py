"""``python -m analysis``: the command line."""

import sys

try:
    from .cli import run
except KeyboardInterrupt:  # Ctrl-C before the command line takes it: the same message, no traceback
    print("interrupted", file=sys.stderr)
    exec("pass")  # as in cli.run: Python must not end by SIGINT for an interrupt that was caught
    sys.exit(130)

run()
