# Two virtual environments, hidden behind these targets:
#   .venv-rasa  Rasa 3.6.21 (pins SQLAlchemy < 1.5, pydantic < 1.10.10)
#   .venv       the project's own code: rasa-sdk action server, SQLAlchemy 2, httpx, tests
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
RASA_VENV := .venv-rasa
PYTHON := $(VENV)/bin/python
RASA := $(RASA_VENV)/bin/rasa
MODEL := models/outage-assistant.tar.gz
TRAIN_INPUTS := config.yml bot/domain.yml rasa_plugins/components.py rasa_plugins/encoders.py $(shell find data -name '*.yml' 2>/dev/null)
# Every variable the targets set lives here: Rasa's in bot/rasa.env (shared with bot/ops/servers.py).
include bot/rasa.env
export $(shell sed -n 's/^\([A-Z_]*\)=.*/\1/p' bot/rasa.env)
export RASA_BIN := $(abspath $(RASA))

CHROMIUM := /usr/bin/chromium

.PHONY: help setup run run-scaled shell train test lint validate test-stories test-nlu pytest eval eval-cv eval-finetune bench audit reset-demo clean browser haproxy

help:
	@echo "Run it"
	@echo "  make run           set up, train if needed, and start the assistant (Ctrl-C stops it)"
	@echo "  make run-scaled    the same, scaled out: REPLICAS (2) Rasa + action servers behind HAProxy,"
	@echo "                     on PostgreSQL (DATABASE_URL) and Redis (LOCK_STORE_HOST); docs/deployment.md"
	@echo "  make shell         chat with the running assistant in this terminal"
	@echo "  make reset-demo    put the demo outage (day two) back into the incident store"
	@echo "Check it"
	@echo "  make test          set up and run every test (lint, validate, test-stories, test-nlu, pytest)"
	@echo "  make lint          ruff and strict mypy"
	@echo "  make validate      the domain and data (rasa data validate) and the benchmark-leak check"
	@echo "  make test-stories  the end-to-end test stories against the trained model"
	@echo "  make test-nlu      the held-out NLU set, gated on macro-F1"
	@echo "  make pytest        the unit, web, e2e and browser tests"
	@echo "Measure it"
	@echo "  make bench         the surge benchmark: ours (one process and scaled out) against stock Rasa,"
	@echo "                     then the web chat with 400 and 2,000 open tabs, 200 turns, the limiter"
	@echo "  make eval          compare NLU pipelines on the held-out set and the real-message benchmark"
	@echo "  make eval-cv       5-fold cross-validation of the NLU pipelines over data/ (choose on this)"
	@echo "  make eval-finetune measure fine-tuning the sentence encoder (needs python3.11 + torch)"
	@echo "  make audit         known-vulnerability audit of both environments (pip-audit)"
	@echo "Housekeeping"
	@echo "  make setup         make both virtual environments (.venv, .venv-rasa)"
	@echo "  make train         train the model if its inputs changed"
	@echo "  make clean         remove models, results and Rasa's cache"

$(VENV)/.installed: pyproject.toml
	@py=$$(scripts/find-python310) && { test -x $(PYTHON) || $$py -m venv $(VENV); }
	$(PYTHON) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PYTHON) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

$(RASA_VENV)/.installed: requirements/rasa.txt requirements/rasa-constraints.txt requirements/rasa-extras.txt
	@py=$$(scripts/find-python310) && { test -x $(RASA_VENV)/bin/python || $$py -m venv $(RASA_VENV); }
	$(RASA_VENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(RASA_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements/rasa.txt -c requirements/rasa-constraints.txt
	$(RASA_VENV)/bin/python -m pip install -q --disable-pip-version-check --no-deps -r requirements/rasa-extras.txt
	$(RASA_VENV)/bin/python -m rasa_plugins.encoders prepare
	@touch $@

setup: $(VENV)/.installed $(RASA_VENV)/.installed

# Browser tests drive Debian's Chromium (never a downloaded browser). Installed when we can;
# without it the browser tests skip and say why.
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: Debian's chromium is not installed (sudo apt-get install chromium); browser tests will skip" >&2; fi

# The scaled-out setup's load balancer: Debian's HAProxy, installed when we can; without it
# make run-scaled stops with the reason, and the tests of that setup skip and say why.
haproxy:
	@if command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; \
	else echo "note: HAProxy is not installed (sudo apt-get install haproxy); scaled-out tests will skip" >&2; fi

# Trains only when the training data, domain or config changed.
$(MODEL): $(RASA_VENV)/.installed $(TRAIN_INPUTS)
	$(RASA) train --config config.yml --domain bot/domain.yml --data data --out models --fixed-model-name outage-assistant
	@touch $@

train: $(MODEL)

run: setup $(MODEL)
	$(PYTHON) -m bot.ops.run

run-scaled: setup $(MODEL) haproxy
	$(PYTHON) -m bot.ops.scaled

shell: $(VENV)/.installed
	$(PYTHON) -m bot.ops.terminal

reset-demo: $(VENV)/.installed
	$(PYTHON) -m bot.ops.cli seed --scenario outage_day_two

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check bot actions rasa_plugins common tests scripts
	$(VENV)/bin/ruff format --check bot actions rasa_plugins common tests scripts
	$(VENV)/bin/mypy

validate: $(RASA_VENV)/.installed $(VENV)/.installed
	$(PYTHON) scripts/check_benchmark_leak.py
	$(PYTHON) scripts/check_validate.py $(RASA)

test-stories: $(MODEL)
	$(RASA) test core --e2e --model $(MODEL) --stories tests/stories --fail-on-prediction-errors --out results/stories

test-nlu: $(MODEL) $(VENV)/.installed
	$(RASA) test nlu --model $(MODEL) --nlu tests/nlu/holdout.yml --out results/nlu
	$(PYTHON) scripts/nlu_gate.py results/nlu/intent_report.json --min-macro-f1 0.90

pytest: setup $(MODEL) browser haproxy
	$(PYTHON) -m pytest -ra --durations=15 -n 2 --dist loadfile

# Two at a time where nothing is shared but files they only read: the two environments, then
# lint and validate beside training, the test stories beside the NLU gate; then pytest, which
# runs in two processes of its own.
test:
	@$(MAKE) --no-print-directory -j2 setup
	@$(MAKE) --no-print-directory -j2 lint validate test-stories test-nlu
	@$(MAKE) --no-print-directory pytest

eval: setup $(MODEL)
	$(RASA_VENV)/bin/python scripts/eval_nlu.py --out docs/nlu-evaluation.md
	$(PYTHON) scripts/eval_customers.py --out docs/nlu-evaluation.md
	$(PYTHON) scripts/eval_urgency.py --out docs/nlu-evaluation.md

eval-cv: setup
	$(RASA_VENV)/bin/python scripts/eval_nlu.py --cv 5 --out docs/nlu-evaluation.md
	$(RASA_VENV)/bin/python scripts/cv_urgency.py --out docs/nlu-evaluation.md
	$(RASA_VENV)/bin/python scripts/cv_second_look.py --out docs/nlu-evaluation.md

# Fine-tuning the encoder needs PyTorch, which has no CPU build for Rasa's Python 3.10 here,
# so this experiment gets a Python 3.11 environment of its own. Not part of make test.
TORCH_VENV := .venv-torch
$(TORCH_VENV)/.installed: requirements/torch-experiment.txt
	@py=$$(command -v python3.11) || { echo "make eval-finetune needs python3.11 (torch's CPU build here is for 3.11)" >&2; exit 1; }; \
	  test -x $(TORCH_VENV)/bin/python || $$py -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements/torch-experiment.txt
	@touch $@

eval-finetune: setup $(TORCH_VENV)/.installed
	$(TORCH_VENV)/bin/python scripts/finetune_experiment.py --out docs/nlu-evaluation.md

# Known-vulnerability audit of both environments (docs/dependencies.md). Says plainly when the
# vulnerability database cannot be reached from this machine, rather than passing.
audit: setup
	$(PYTHON) scripts/audit.py

bench: setup $(MODEL) haproxy
	$(PYTHON) scripts/bench_surge.py --out docs/benchmarks.md
	$(PYTHON) scripts/bench_webchat.py --out docs/benchmarks.md
	$(PYTHON) scripts/bench_queue.py --out docs/benchmarks.md

clean:
	rm -rf models results .rasa
