# The two commands of the README: `make demo` (set up + the main job on the local sandbox) and
# `make test` (the whole suite). Everything they need is installed by the targets below.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv controlplane jobimage lint typecheck ansible-lint ansible-sanity unit bench peers soak constraints clean

# pip byte-compiles every module it installs. Keep it: CI and this machine set PYTHONDONTWRITEBYTECODE, so a
# module pip left uncompiled is compiled from source again in every process that imports it (--no-compile cost a
# fresh-clone `make test` ~225 s more CPU than it saved). The one exception is the `ansible` package, PyPI's only
# source of kubernetes.core: its ~100 other collections (15,000 files) were half of pip's work and are never
# imported, so it goes in first with --no-compile and tools/compile_collections.py compiles what is loaded.
$(STAMP): pyproject.toml constraints.txt tools/compile_collections.py
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile --no-deps "$$(grep -m1 '^ansible==' constraints.txt)"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[cluster,dev,plot,fix]'
	$(BIN)/python tools/compile_collections.py
	touch $(STAMP)

venv: $(STAMP)

# The real TrustyAI operator (manager + driver) of every release line is built by the same step, once per
# line (tools/build-operator.sh; lines whose source archive is absent are skipped with a message).
controlplane:
	bash tools/build-controlplane.sh
	bash tools/build-operator.sh

# The sandbox's job image: lm-eval + the TrustyAI image's pins in a cached venv (no torch), and the
# Hugging Face Hub stand-in's generated tokenizers and datasets.
jobimage:
	bash tools/build-jobimage.sh

demo: venv controlplane jobimage
	bash tools/demo.sh

lint: venv
	$(BIN)/ruff check .

# The Ansible side: ansible-lint's production profile (.ansible-lint) on the collection, playbooks and deploy/,
# and ansible-test sanity on the lmeval.setup collection (tools/ansible_sanity.py says what it needs offline).
# mypy over the package ([tool.mypy] in pyproject.toml); ~15 s from a cold cache, so CI runs it with the soak tier
# (.ci/run) rather than in front of every `make test`.
typecheck: venv
	$(BIN)/mypy lmeval_setup

ansible-lint: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/ansible-lint

ansible-sanity: venv
	$(BIN)/python tools/ansible_sanity.py

# The suite without the soak tier (issue 15 item 5): every test not marked slow, the fuzz at 300 examples.
# `make soak` runs the rest, and CI (.ci/run) runs both, so CI still runs every assertion.
# Three workers on two cores: most of the suite waits on apiservers, Ansible and lm-eval rather than computing;
# --dist loadfile keeps a module's tests (and its module-scoped sandbox) on one worker; --no-loadscope-reorder
# hands the modules out in collection order, where tests/conftest.py puts the slowest first. tools/test.sh runs
# ruff first, then ansible-lint and ansible-test sanity beside pytest (in what CPU its waiting workers leave).
test: venv controlplane jobimage
	bash tools/test.sh

unit: venv
	$(BIN)/python -m pytest tests/unit

# The benchmark's peers (toxiproxy for network latency, k8sgpt to compare with), built once into a cache.
peers:
	bash tools/build-peers.sh

bench: venv controlplane peers
	$(BIN)/python -m bench.run

# The soak tier: the tests marked slow (molecule, the installed wheel, the seed-fix flow on every line but make
# demo's, the apiserver killed at each bootstrap step) and the fuzz (marked soak) at 10,000 examples per test.
soak: venv controlplane jobimage typecheck
	LMEVAL_SOAK=1 LMEVAL_REQUIRE_CONTROLPLANE=1 $(BIN)/python -m pytest -n 3 --dist loadfile --no-loadscope-reorder \
	  -m "slow or soak"

constraints: venv
	{ echo '# Every package CI tested, pinned. Regenerate with: make constraints'; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^-e'; } > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
