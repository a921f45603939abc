"""One command, run as a subprocess and measured from the outside (Linux `/proc`).

- **wall**: from spawn to exit.
- **client CPU**: user + system seconds from `os.wait4` of the child. The kernel adds to a
  process's usage that of every descendant it waited for, so workers a command forks and joins
  (`rate --jobs N`, report renderers) are in it; a descendant left running is not.
- **peak RSS**: the process tree (the child and its descendants) is sampled every `interval`
  seconds; its peak is the larger of the highest sum of `VmRSS` over the tree at one sample (what
  the tree held at once; pages shared by forked workers count once per process) and the largest
  single-process peak (`VmHWM`: exact for a process alive at a sample, even between samples).
  Not `wait4`'s `ru_maxrss`: the kernel counts in it the RSS the spawning process had when it
  forked (exec keeps the old memory's high-water mark), so it would charge the harness's own
  memory to the command.
- **PostgreSQL CPU**, two ways, from `/proc/<pid>/stat` of the postmaster's processes:
  `cluster`: every server process of the cluster, before vs after (backends that exited
  meanwhile are in the postmaster's reaped-children times), so it includes other databases'
  work on a shared cluster; `own`: the backends of the benchmark's database (their process
  title names it), their parallel workers and autovacuum workers on it, sampled like the RSS:
  a backend's last `interval` before it exits is missed.

A memory guard: a tree whose sampled RSS passes `rss_limit_mib` is killed (each of its processes,
by pid), so that a command that cannot fit does not bring the OOM killer onto a shared machine;
the step then reports `killed_for_memory`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

TICKS_PER_S: Final = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    ticks: int  # utime + stime
    reaped_ticks: int  # cutime + cstime: its waited-for children's
    start: int  # starttime: (pid, start) names one process even when pids are reused


def scan_processes() -> dict[int, Proc]:
    found: dict[int, Proc] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            proc = read_proc(int(name))
            if proc is not None:
                found[proc.pid] = proc
    return found


def read_proc(pid: int) -> Proc | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:  # gone between listing and reading
        return None
    fields = text[text.rindex(b")") + 2 :].split()  # the command name may hold spaces and parentheses
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return Proc(pid, int(fields[1]), utime + stime, cutime + cstime, int(fields[19]))


def descendants(root: int, procs: Mapping[int, Proc]) -> list[int]:
    children: dict[int, list[int]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB; zeros for a process that is gone or a zombie."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


# ---------------------------------------------------------------- PostgreSQL


class PostgresCpu:
    """CPU ticks of one cluster (its postmaster and children) and of one database's backends."""

    def __init__(self, postmaster: int, database: str) -> None:
        self.postmaster = postmaster
        self.database = database
        self._cluster_start = 0
        self._baseline: dict[tuple[int, int], int] = {}  # own process -> ticks when the step began
        self._last: dict[tuple[int, int], int] = {}  # own process -> ticks when last seen
        self._kind: dict[tuple[int, int], bool] = {}  # process -> whether it works for our database

    def begin(self, procs: Mapping[int, Proc]) -> None:
        self._cluster_start = self.cluster_ticks(procs)
        self._last.clear()
        self.observe(procs)
        self._baseline = dict(self._last)

    def observe(self, procs: Mapping[int, Proc]) -> None:
        for proc in procs.values():
            if proc.ppid == self.postmaster and self._ours(proc, procs):
                self._last[proc.pid, proc.start] = proc.ticks

    def end(self, procs: Mapping[int, Proc]) -> tuple[float, float]:
        """(own database seconds, whole cluster seconds) since `begin`."""
        self.observe(procs)
        own = sum(ticks - self._baseline.get(key, 0) for key, ticks in self._last.items())
        cluster = self.cluster_ticks(procs) - self._cluster_start
        return own / TICKS_PER_S, cluster / TICKS_PER_S

    def cluster_ticks(self, procs: Mapping[int, Proc]) -> int:
        master = procs.get(self.postmaster) or read_proc(self.postmaster)
        if master is None:
            raise RuntimeError(f"PostgreSQL's postmaster (pid {self.postmaster}) is gone")
        children = sum(p.ticks for p in procs.values() if p.ppid == self.postmaster)
        return master.ticks + master.reaped_ticks + children

    def _ours(self, proc: Proc, procs: Mapping[int, Proc]) -> bool:
        key = (proc.pid, proc.start)
        known = self._kind.get(key)
        if known is not None:
            return known
        title = _title(proc.pid)
        if not title.startswith("postgres: "):
            return False  # forked, title not set yet: ask again at the next sample
        words = title.split()
        if words[1:4] == ["parallel", "worker", "for"] and words[-1].isdigit():
            leader = procs.get(int(words[-1]))
            ours = leader is not None and leader is not proc and self._ours(leader, procs)
        elif words[1:3] == ["autovacuum", "worker"]:
            ours = words[-1] == self.database
        else:  # a backend: "postgres: <user> <database> <host>(<port>) <activity>"
            ours = len(words) >= 3 and words[2] == self.database
        self._kind[key] = ours
        return ours


def _title(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


# ---------------------------------------------------------------- one step


@dataclass
class StepRun:
    argv: list[str]
    returncode: int
    wall_s: float
    client_cpu_s: float
    peak_rss_mib: float
    largest_process_mib: float
    processes: int  # the most processes the tree had at one sample
    pg_own_cpu_s: float | None
    pg_cluster_cpu_s: float | None
    killed_for_memory: bool
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.killed_for_memory


def run_measured(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: str | None = None,
    postgres: PostgresCpu | None = None,
    interval: float = 0.1,
    rss_limit_mib: float | None = None,
) -> StepRun:
    """Run `argv` to completion, sampling its tree (and PostgreSQL) every `interval` seconds."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        if postgres is not None:
            postgres.begin(scan_processes())
        started = time.perf_counter()
        child = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        tree_peak = hwm_peak = most = 0
        killed = False
        try:
            while True:
                pid, status, usage = os.wait4(child.pid, os.WNOHANG)
                if pid:
                    break
                procs = scan_processes()
                tree = descendants(child.pid, procs)
                memory = [memory_kib(p) for p in tree]
                tree_peak = max(tree_peak, sum(rss for rss, _ in memory))
                hwm_peak = max([hwm_peak, *(hwm for _, hwm in memory)])
                most = max(most, len(tree))
                if rss_limit_mib is not None and not killed and tree_peak / 1024 > rss_limit_mib:
                    killed = True
                    _kill(tree)
                if postgres is not None:
                    postgres.observe(procs)
                time.sleep(interval)
        except BaseException:
            child.kill()  # our own child, by its pid
            child.wait()
            raise
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4 above
        own = cluster = None
        if postgres is not None:
            own, cluster = postgres.end(scan_processes())
        out.seek(0)
        err.seek(0)
        largest = hwm_peak  # KiB
        return StepRun(
            argv=list(argv),
            returncode=child.returncode,
            wall_s=wall,
            client_cpu_s=usage.ru_utime + usage.ru_stime,
            peak_rss_mib=max(tree_peak, largest) / 1024,
            largest_process_mib=largest / 1024,
            processes=max(most, 1),
            pg_own_cpu_s=own,
            pg_cluster_cpu_s=cluster,
            killed_for_memory=killed,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def _kill(pids: Sequence[int]) -> None:
    """SIGKILL each process of the tree we started, by the pids sampled a moment ago."""
    for pid in reversed(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
