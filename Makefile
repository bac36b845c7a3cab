# The two commands of the README. Both set up the machine first (idempotent).
.PHONY: demo test setup lint bench

demo: setup
	.venv/bin/koopsuz demo

test: setup
	.venv/bin/ruff check src tests bench
	.venv/bin/python -m pytest -q -ra --junitxml=artifacts/junit.xml

setup:
	@scripts/setup.sh

lint: setup
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench

bench: setup
	.venv/bin/python bench/ingest.py
