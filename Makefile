# Two entry points: `make demo` (install + run the pipeline on the bundled demo corpus)
# and `make test` (install + run the test suite). Both install into ./.venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SEG := $(BIN)/seg

.PHONY: install demo test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,bench]'
	touch $@

demo: install
	$(SEG) prep --force

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) cache/datasets cache/vectors runs report
