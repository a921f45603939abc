"""Run every benchmark module (or the named ones), each in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Run only when named (or by their own make target): they take much longer than the others.
SEPARATE = frozenset({"bench_month_e2e"})  # `make bench-e2e`


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = argv or sorted(p.stem for p in here.glob("bench_*.py") if p.stem not in SEPARATE)
    failed = []
    for name in names:
        module = name if name.startswith("bench_") else f"bench_{name}"
        result = subprocess.run([sys.executable, "-m", f"benchmarks.{module}"], check=False)
        if result.returncode != 0:
            failed.append(module)
    if failed:
        print(f"benchmarks failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
