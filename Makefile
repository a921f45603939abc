# The two commands a new user types: `make demo` and `make test`.
.PHONY: demo test fuzz bench bench-e2e lint venv services-up services-down clean

demo: venv
	./ops/sysdeps.sh
	.venv/bin/stackledger demo --out out

test:
	./ops/test.sh

# The property test of ingest → rate → report on many random sample files (make test runs a
# fixed 10); SQLite only, no service needed. Minutes, not seconds.
fuzz: venv
	HYPOTHESIS_PROFILE=fuzz .venv/bin/pytest -q -p no:cacheprovider tests/e2e/test_pipeline_property.py

bench: venv
	./ops/up.sh postgres kafka gnocchi keystone
	.venv/bin/python -m benchmarks

# A month of a 1,000-instance cloud and a day of 10,000 through the real commands (README).
# A quick smoke run: make bench-e2e BENCH_E2E="--instances 50 --days 1"
bench-e2e: venv
	./ops/up.sh postgres
	.venv/bin/python -m benchmarks.bench_month_e2e $(BENCH_E2E)

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports --no-cache

venv:
	./ops/venv.sh

services-up:
	./ops/up.sh

services-down:
	./ops/down.sh

clean:
	rm -rf out stackledger.db stackledger.db-wal stackledger.db-shm
