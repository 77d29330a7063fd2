# trending-panel: the only commands you need.
#   make demo        private PostgreSQL + live simulated data + dashboard on :8888
#   make test        lint, the documentation (strict), then the whole test suite (own PostgreSQL)
#   make test-fast   everything but the end-to-end tests, on both cores (under a minute)
#   make docs        the documentation site in site/ (MkDocs with Material)
#   make screenshot  docs/screenshot-light.png and -dark.png of the real page (1366 x 768)
#   make serve       the dashboard against the database named by POSTGRES_*
#   make bench       30 days x 4 tables against a naive baseline: a table and benchmarks/results.json
#   make bench-plant 1,000 tag tables x 6 h: issue 18's figures into benchmarks/results.json
#   make bench-year  a year of 1 Hz x 4 tables: the shared rollup's build, storage and lag
#   make soak        30 min, 20 sessions, database restarts and a hang, then 200 sessions: soak.json

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888

.PHONY: demo test test-fast lint docs screenshot serve bench bench-csv-shapes bench-first-second bench-tags bench-plant bench-year bench-batches bench-page-build soak browser clean lock

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[demo,test]'
	touch $(STAMP)

# Debian's Chromium for the end-to-end tests (Playwright drives it; never `playwright install`)
# and Debian's nginx for the load-balancing test (deploy/nginx.conf, run on loopback).
browser:
	@{ test -x /usr/bin/chromium && test -x /usr/sbin/nginx; } || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium nginx >/dev/null; }

demo: $(STAMP)
	$(BIN)/trending-panel demo --port $(PORT)

serve: $(STAMP)
	$(BIN)/trending-panel serve --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# Links and anchors checked: a page that names a missing page or heading fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The part without a served process on both cores, then the end-to-end tests one at a time:
# a page in Chromium measured while another worker's pages take the other core was seen to
# miss its deadlines (a notebook's live row, a busy bar), so those keep the machine to
# themselves.
test: $(STAMP) browser lint docs
	$(BIN)/python -m pytest -q -p no:cacheprovider -m 'not browser' -n 2
	$(BIN)/python -m pytest -q -p no:cacheprovider -m browser --durations=15

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m 'not browser' -n 2

screenshot: $(STAMP) browser
	$(BIN)/python -m tests.harness.screenshot docs

bench: $(STAMP) browser
	$(BIN)/python -m benchmarks.bench

bench-csv-shapes: $(STAMP)
	$(BIN)/python -m benchmarks.csv_shapes

bench-first-second: $(STAMP) browser
	$(BIN)/python -m benchmarks.first_second

bench-tags: $(STAMP)
	$(BIN)/python -m benchmarks.tags

# Issue 18's figures: 1,000 tag tables x 6 h of 1 Hz rows, the page shows 8 (about 10 min).
bench-plant: $(STAMP) browser
	$(BIN)/python -m benchmarks.plant

# Issue 19's shared rollup over a year of 1 Hz rows in four tables (126 M rows; about 10 min).
bench-year: $(STAMP)
	$(BIN)/python -m benchmarks.year

# A page's build on the server, Bokeh's property lookups against web/bokeh_speed.py's (a minute).
bench-page-build: $(STAMP)
	$(BIN)/python -m benchmarks.page_build

# Issue 20's figures: 8 batches of 14 days at 1 Hz compared in Chromium (about 10 min).
bench-batches: $(STAMP) browser
	$(BIN)/python -m benchmarks.batches

soak: $(STAMP) browser
	$(BIN)/python -m benchmarks.soak

# Pinned, hashed runtime requirements for the Docker image (two builds a month apart agree).
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --universal --python-version 3.11 \
	  --custom-compile-command "make lock" -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
