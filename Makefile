# visord: the two README commands first (`make run`, `make test`), then the rest.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PREFIX ?= /opt/visord
# Debian packages the test suite talks to (installed by `make test` when missing).
# systemd: systemd-analyze for the unit tests; python3-seccomp: the unit's syscall filters, loaded by Debian's python3.
# postgresql: a real server for the tuning storage shared by several machines.
TEST_DEBS ?= python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly mosquitto mosquitto-clients prometheus systemd python3-seccomp postgresql chromium chromium-driver opencv-doc
FOOTAGE_DEBS ?= opencv-doc python3-gi gir1.2-gstreamer-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly

.PHONY: run test lint format train-extra models pets-models bench debs clean install uninstall

run: $(VENV)/.daemon
	@echo "visord: the live page is http://127.0.0.1:9108/ once started (metrics: in config/visord.yaml; Ctrl-C stops)"
	$(BIN)/visord run --config config/visord.yaml

# The training commands (visord train, evaluate, export, tune): TensorFlow and the rest of the `train` extra
# into .venv, from this checkout, with the dev tools (`.venv/bin/pip install -e '.[train,dev]'`).
train-extra: $(VENV)/.train

# The shipped demo models in models/ (about 20 minutes on 2 cores; needs the train extra).
models: $(VENV)/.train
	$(BIN)/python scripts/make_models.py

# The shipped real-footage pair, models/pets-{small,large}.onnx (about 3 minutes; needs the train extra
# and Debian's opencv-doc for the clip, GStreamer to encode it as a camera does).
pets-models: $(VENV)/.train
	@sh scripts/ensure-debs.sh $(FOOTAGE_DEBS)
	$(BIN)/python scripts/make_pets_models.py

# First the tests marked `alone`, which load or time the whole box, by themselves on a quiet box; then
# the rest in two processes (pytest-xdist, a file to a worker: most wait on servers, browsers and
# subprocesses). Both phases run whatever the first one gave; `make test` fails if either failed.
# PYTEST_ARGS narrows both (`make test PYTEST_ARGS=tests/test_cli.py`); a phase it leaves without
# a test (pytest's exit status 5) is not a failure.
TEST_WORKERS ?= 2
test: lint debs
	failed=0; \
	$(BIN)/python -m pytest -m alone $(PYTEST_ARGS) || [ $$? -eq 5 ] || failed=1; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not soak and not alone" $(PYTEST_ARGS) \
		|| [ $$? -eq 5 ] || failed=1; \
	exit $$failed

# ruff (pyproject.toml: 100 columns): the formatter's check, then the linter. `make format` applies both.
lint: $(VENV)/.train
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(VENV)/.train
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every benchmark side by side on this box, then bench/RESULTS.md and bench/charts/ (about 40 minutes on
# 2 cores; run it on a quiet machine). Uses the shipped models and the demo data's hard split. The long ones
# run on their own and their last results (bench/out/) go into the report too: bench/faults.py (~10 min),
# bench/soak.py (10 min by default), bench/quantize_configs.py (every int8 recipe).
BENCH_DATA ?= data/demo
bench: $(VENV)/.train
	@sh scripts/ensure-debs.sh ffmpeg $(TEST_DEBS)
	test -f $(BENCH_DATA)/dataset.json || $(BIN)/visord demo-data $(BENCH_DATA) --per-class 50 --hard-per-class 200
	$(BIN)/python -m bench.models --data $(BENCH_DATA)
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.end_to_end
	$(BIN)/python -m bench.daemon_overhead
	$(BIN)/python -m bench.startup
	$(BIN)/python -m bench.load
	$(BIN)/python -m bench.router | tee bench/out/router.txt
	$(BIN)/python -m bench.report

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.daemon: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.train: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	touch $@ $(VENV)/.daemon

# As a systemd service: /opt/visord (its own venv, daemon only), /etc/visord/visord.yaml (a changed one is
# kept), the unit, then enable and start it. DESTDIR=/staging/root installs files only. See scripts/install.sh.
install:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" PYTHON="$(PYTHON)" sh scripts/install.sh install

uninstall:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" sh scripts/install.sh uninstall

debs:
	@sh scripts/ensure-debs.sh $(TEST_DEBS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
