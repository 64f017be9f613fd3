"""Run every benchmark, one after the other, printing each one's table (`make benchmark`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("load_scale.py", "render_speed.py", "hostile_inputs.py")


def main() -> int:
    for script in BENCHMARKS:
        print(f"\n## {script}\n", flush=True)
        result = subprocess.run([sys.executable, str(HERE / script)], cwd=HERE.parent)
        if result.returncode != 0:
            return result.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
