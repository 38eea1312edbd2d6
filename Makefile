# Everyday tasks. PY is the virtualenv's python (see README).
PY ?= .venv/bin/python

.PHONY: test lint typecheck format bench run engine docs

test:
	$(PY) -m pytest -q

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(MAKE) typecheck PY=$(PY)
	cd build/typecheck && PYTHONPATH=. $(abspath $(dir $(PY)))/lint-imports --config ../../pyproject.toml --no-cache

typecheck:
	mkdir -p build/typecheck/podwarden
	for d in engine ui app; do ln -sfn ../../../$$d build/typecheck/podwarden/$$d; done
	# mypy cannot see setup.py's folder mapping; a symlink tree gives it the import names.
	cd build/typecheck && $(abspath $(PY)) -m mypy --config-file ../../pyproject.toml \
		-p podwarden.engine -p podwarden.app -p podwarden.ui

format:
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench:
	$(PY) bench/startup.py

run:
	$(dir $(PY))podwarden

engine:
	$(dir $(PY))podwarden-engine info

docs:
	$(dir $(PY))podwarden-engine permissions-doc > docs/permissions.md
