"""What the program's own processes set up first: the command line, and the ``--jobs`` workers it starts.

Never done on ``import analysis``: a program that imports the package keeps its modules as they are.
"""

from __future__ import annotations

import sys

# jsonschema, which nbformat and papermill import, imports rfc3987-syntax when it is installed (the
# `jupyter` metapackage and JupyterLab bring it in), and that builds a grammar: 1 s of every render
# (TOOLCHAIN.md). It only checks the "iri" formats of drafts 7 and later; nbformat's schemas are
# draft 4 and use none, so validation is the same without it.
UNNEEDED_SLOW_IMPORTS = ("rfc3987_syntax",)


def skip_unneeded_slow_imports() -> None:
    """Make the imports above fail as if the packages were absent (unless already imported)."""
    for name in UNNEEDED_SLOW_IMPORTS:
        sys.modules.setdefault(name, None)
