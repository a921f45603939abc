"""benchmarks.e2e.measure: a command's process tree measured from /proc, as `make bench-e2e` does."""

from __future__ import annotations

import os
import sys
import textwrap

from benchmarks.e2e.measure import run_measured

# A parent that forks two workers; each holds 150 MiB for a second and burns CPU, and is joined.
FORKED_WORKERS = textwrap.dedent("""
    import multiprocessing as mp, time

    def work():
        block = bytearray(150 * 2**20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        end = time.process_time() + 0.4
        while time.process_time() < end:
            pass
        time.sleep(1.0)

    if __name__ == "__main__":
        ctx = mp.get_context("fork")
        workers = [ctx.Process(target=work) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        print("done")
""")

GROWING = "import time\nheld = []\nwhile True:\n    held.append(bytearray(40 * 2**20)); time.sleep(0.05)\n"


def test_peak_rss_and_cpu_cover_the_forked_workers() -> None:
    result = run_measured([sys.executable, "-c", FORKED_WORKERS], os.environ, interval=0.05)
    assert result.ok and result.stdout.strip() == "done"
    assert result.processes == 3
    assert 150 <= result.largest_process_mib < 250  # one worker at its peak
    assert result.peak_rss_mib >= 300  # both at once
    assert result.client_cpu_s >= 0.8  # the workers' CPU, through the parent that joined them
    assert result.wall_s >= 1.0


def test_a_tree_over_the_memory_limit_is_killed() -> None:
    result = run_measured([sys.executable, "-c", GROWING], os.environ, interval=0.05, rss_limit_mib=300)
    assert result.killed_for_memory and not result.ok
    assert result.returncode == -9
    assert 300 <= result.peak_rss_mib < 1000


def test_a_failing_command_reports_its_status_and_stderr() -> None:
    result = run_measured([sys.executable, "-c", "import sys; sys.exit('no such month')"], os.environ)
    assert result.returncode == 1 and not result.ok
    assert "no such month" in result.stderr
    assert result.pg_own_cpu_s is None and result.pg_cluster_cpu_s is None


def test_the_memory_of_the_process_that_spawns_the_command_is_not_charged_to_it() -> None:
    held = bytearray(300 * 2**20)  # what a harness holding big figures would have
    for i in range(0, len(held), 4096):
        held[i] = 1
    script = "import time; time.sleep(0.5)"
    result = run_measured([sys.executable, "-c", script], os.environ, interval=0.05)
    assert result.ok
    assert result.peak_rss_mib < 100  # wait4's ru_maxrss would say > 300 here
    del held
