"""How long Airflow takes to parse each DAG file in airflow_dags/ (the target: under 1 s each).

Airflow's DAG processor parses a file in a process that has Airflow imported already, so each
figure is measured that way: a fresh interpreter per run imports Airflow's DagBag first (not
timed), then times `DagBag(dag_folder=<file>)` — module import, DAG construction and Airflow's own
checks. The median and the worst of RUNS runs are printed, with Airflow's own FileLoadStat
duration beside them. AIRFLOW_HOME is a temporary folder (never ~/airflow); no database is needed.

Figures: per file `parse_s` (median, with `worst_s`, `airflow_stat_s`, `target_s`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

from benchmarks.common import emit

DAGS: Final = Path(__file__).resolve().parents[1] / "airflow_dags"
RUNS: Final = 3
TARGET_S: Final = 1.0


def _child(path: str) -> None:
    from airflow.dag_processing.dagbag import DagBag  # imported before the clock starts, as in the processor

    started = time.perf_counter()
    bag = DagBag(dag_folder=path)
    seconds = time.perf_counter() - started
    stat = bag.dagbag_stats[0].duration.total_seconds() if bag.dagbag_stats else None
    print(json.dumps({"seconds": seconds, "stat": stat, "errors": len(bag.import_errors), "dags": len(bag.dags)}))


def _parse_once(path: Path, home: str) -> dict[str, float]:
    env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS)}  # fmt: skip
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_dag_parse", "--child", str(path)], env=env,
                         capture_output=True, text=True, check=True, timeout=300)  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["errors"] or not result["dags"]:
        raise SystemExit(f"{path.name}: {result['errors']} import errors, {result['dags']} DAGs")
    return result


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="airflow-home-") as home:
        for path in sorted(DAGS.glob("stackledger_*.py")):
            runs = [_parse_once(path, home) for _ in range(RUNS)]
            seconds = [run["seconds"] for run in runs]
            stats = [run["stat"] for run in runs if run["stat"] is not None]
            median = statistics.median(seconds)
            emit("dag_parse", "parse_s", median, "s", file=path.name, worst_s=round(max(seconds), 4),
                 airflow_stat_s=round(statistics.median(stats), 4) if stats else None, runs=RUNS, target_s=TARGET_S,
                 under_target=max(seconds) < TARGET_S)  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    else:
        main()
