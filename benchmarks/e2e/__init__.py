"""The end-to-end month benchmark (`make bench-e2e`, `benchmarks/bench_month_e2e.py`).

- `fleet`: the benchmark cloud (instances, volumes, projects, hosts) and its churn over a window;
- `generator`: that cloud's Ceilometer samples, streamed to a gzip JSON-lines file;
- `payloads`: the meters, metadata and pre-encoded line pieces of those samples;
- `measure`: one command as a subprocess: wall time, CPU of its process tree and of PostgreSQL,
  peak RSS of the tree;
- `database`: the scratch PostgreSQL database of a run, row counts and store bytes;
- `figures`: the JSON lines, the targets of issue 14 and the closing table.
"""
