# The two commands of the README. Both set up the machine first (idempotent).
.PHONY: demo test setup lint bench

demo: setup
	.venv/bin/koopsuz demo

test: setup
	.venv/bin/ruff check src tests bench
	# dependency audit against PyPI's vulnerability data; fails on a known vulnerability, warns loudly (never
	# passes silently) when the data cannot be reached: see scripts/pip_audit.py
	.venv/bin/python scripts/pip_audit.py
	.venv/bin/python -m pytest -q -ra --junitxml=artifacts/junit.xml
	# the same store tests again on a PostgreSQL the suite starts itself (scale-out store, ~20 s)
	.venv/bin/python -m pytest -q -ra --pg -p no:cacheprovider --junitxml=artifacts/junit-pg.xml \
	  tests/test_audit_and_users.py tests/test_bus_and_events.py \
	  tests/test_api_scope.py::test_regional_operator_sees_nothing_of_another_region \
	  tests/test_api_scope.py::test_camera_changes_are_audited_without_credentials

setup:
	@scripts/setup.sh

lint: setup
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench

bench: setup
	.venv/bin/python bench/ingest.py
