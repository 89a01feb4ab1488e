# syndicate developer commands. `make demo` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
CONFIG := schedules.yaml
SYN    := $(BIN)/syndicate -c $(CONFIG)

.PHONY: install demo test fuzz lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install syndicate with dev tools

demo: $(STAMP) ## run the whole pipeline once on the bundled example (SQLite, offline)
	@$(SYN) check
	@$(SYN) db upgrade
	@$(SYN) subscribers import examples/subscribers.csv
	@$(SYN) run --once
	@echo
	@echo "Feeds:   $(CURDIR)/public/feeds/  ($$(ls public/feeds | wc -l) files)"
	@echo "E-mails: $(CURDIR)/outbox/  ($$(ls outbox 2>/dev/null | grep -c '\.eml$$' || true) .eml files)"
	@echo
	@echo "Web:     $(SYN) serve    (then open http://127.0.0.1:8080/ ; stop with Ctrl-C)"
	@url=$$(grep -h -m1 '^List-Unsubscribe:' outbox/*.eml 2>/dev/null | head -n1 | sed -e 's/^[^<]*<//' -e 's/>.*//'); \
	if [ -n "$$url" ]; then \
		echo "One unsubscribe link from the outbox: $$url"; \
		echo "  the same page on the local server:  http://127.0.0.1:8080/$${url#*://*/}"; \
	fi

test: $(STAMP) ## run the whole test suite (one worker per core: pytest-xdist)
	$(BIN)/pytest -n auto --dist loadgroup

fuzz: $(STAMP) ## the hostile-input battery with long Hypothesis runs (random seed)
	SYNDICATE_HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/hostile

lint: $(STAMP) ## ruff check, ruff format --check, mypy
	$(BIN)/ruff check syndicate tests benchmarks
	$(BIN)/ruff format --check syndicate tests benchmarks
	$(BIN)/mypy syndicate tests

format: $(STAMP)
	$(BIN)/ruff format syndicate tests benchmarks
	$(BIN)/ruff check --fix syndicate tests benchmarks

bench: $(STAMP) ## print speed and memory numbers
	@for script in benchmarks/*.py; do $(BIN)/python $$script; done

clean: ## remove generated output of the demo (keeps .venv)
	rm -rf var public outbox
