# The two commands a new user types: `make demo` and `make test`.
.PHONY: demo test bench lint venv services-up services-down clean

demo: venv
	./ops/sysdeps.sh
	.venv/bin/stackledger demo --out out

test:
	./ops/test.sh

bench: venv
	./ops/up.sh postgres kafka gnocchi keystone
	.venv/bin/python -m benchmarks

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

venv:
	./ops/venv.sh

services-up:
	./ops/up.sh

services-down:
	./ops/down.sh

clean:
	rm -rf out stackledger.db stackledger.db-wal stackledger.db-shm
