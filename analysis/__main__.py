"""``python -m analysis``: the command line."""

from .cli import run

run()
