# gpufleet.sglang: developer and CI entry points. `make` lists them.
# A fresh Debian machine: `make prerequisites` (or tests/prerequisites.sh, as root) once; CI (.ci/run) does the
# same and then runs `make test`.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

# Python for the venv: the first of these that runs. ansible-core 2.21 needs 3.12+.
# (pyenv's python3.12 shim exists even where it fails, hence "runs", not "exists".)
PYTHON ?= $(shell for p in python3.12 $$(ls -d $(HOME)/.pyenv/versions/3.12*/bin/python 2>/dev/null | sort -rV) python3; do \
	"$$p" -c 'import sys' >/dev/null 2>&1 && { echo "$$p"; break; }; done)

VENV       := .venv
VENV_BIN   := $(CURDIR)/$(VENV)/bin
VENV_STAMP := $(VENV)/.installed
# Tools run from the venv, with it first on PATH (ansible-lint insists).
RUN        := PATH="$(VENV_BIN):$$PATH"

COLLECTION_LINK := .cache/collections/ansible_collections/gpufleet/sglang

INVENTORY ?= inventories/examples/pd_1p1d
PLAN_DIR  ?= plan

# The tarball `make dist` writes: build/<namespace>-<name>-<version>.tar.gz, from galaxy.yml.
COLLECTION_TARBALL := build/$(shell sed -n 's/^namespace: *//p' galaxy.yml)-$(shell sed -n 's/^name: *//p' galaxy.yml)-$(shell sed -n 's/^version: *//p' galaxy.yml).tar.gz
GALAXY_IMPORT_DIR  := build/galaxy-import

.PHONY: help prerequisites .venv collection-link plan lint sanity sanity-prep unit integration awx-collection docs dist galaxy-import ee-context \
	upstream bench bench-converge bench-downloads demo demo-down test test-all clean distclean

UPSTREAM_VENV := .cache/upstream-venv
AWX_MANIFEST  := .cache/collections/ansible_collections/awx/awx/MANIFEST.json
SHELL_SCRIPTS := .ci/run .ci/sanity tests/prerequisites.sh tests/upstream/setup-venv.sh tests/docker/build-images.sh \
	tests/fixtures/apt-nvidia/build.sh $(wildcard tests/fixtures/src-archives/*.sh) \
	sandbox/up.sh sandbox/down.sh sandbox/demo.sh sandbox/fleet.sh

help: ## List the targets
	@echo "gpufleet.sglang: make TARGET"
	@grep -E '^[a-zA-Z_.%-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  %-16s %s\n", $$1, $$2}'
	@echo "Variables: INVENTORY=$(INVENTORY) PLAN_DIR=$(PLAN_DIR) PYTHON=$(PYTHON)"

.venv: $(VENV_STAMP) ## Create .venv (Python 3.12) with requirements-dev.txt

$(VENV_STAMP): requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "No Python found: set PYTHON=/path/to/python3.12" >&2; exit 1; }
	@"$(PYTHON)" -c 'import sys; sys.exit(sys.version_info < (3, 12))' || \
		{ echo "$(PYTHON) is older than 3.12, which ansible-core 2.21 needs: set PYTHON=/path/to/python3.12" >&2; exit 1; }
	"$(PYTHON)" -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

prerequisites: ## Prepare a Debian 12 machine, as root: packages, both venvs, dockerd, the images (tests/prerequisites.sh)
	tests/prerequisites.sh

collection-link: ## Link .cache/collections/.../gpufleet/sglang to this checkout (ansible.cfg uses it)
	@mkdir -p $(dir $(COLLECTION_LINK))
	@ln -sfn $(CURDIR) $(COLLECTION_LINK)

plan: .venv collection-link ## Render the topology plan of INVENTORY into PLAN_DIR (no host contacted)
	$(RUN) ansible-playbook playbooks/plan.yml -i $(INVENTORY) -e plan_dir=$(PLAN_DIR)

lint: .venv collection-link awx-collection ## ansible-lint (production profile), ruff, shellcheck (when installed)
	$(RUN) ansible-lint
	$(RUN) ruff check --config .ci/ruff.toml --cache-dir .cache/ruff .
	$(RUN) antsibull-changelog lint
	@if command -v shellcheck >/dev/null; then \
		echo "shellcheck $(SHELL_SCRIPTS)"; shellcheck $(SHELL_SCRIPTS); \
	else echo "shellcheck not installed: skipped (make prerequisites installs it)"; fi

sanity-prep: .venv ## Put the get-pip stand-in where ansible-test looks for it
	.ci/sanity prep

# ansible-test sanity on a copy of the tracked files at build/ansible_collections/gpufleet/sglang.
# No test is skipped: all of them run offline once the get-pip stand-in is in place.
# Pass more ansible-test options with SANITY_ARGS (e.g. SANITY_ARGS="--test pylint").
sanity: .venv ## ansible-test sanity (see .ci/sanity)
	.ci/sanity $(SANITY_ARGS)

unit: .venv ## Unit tests (pytest tests/unit)
	@rc=0; $(RUN) python -m pytest -q -p no:cacheprovider tests/unit || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "unit: no tests collected in tests/unit"; rc=0; fi; exit $$rc

integration: .venv collection-link awx-collection ## ansible-runner, packaging, execution environment, AWX objects, docs (pytest tests/integration)
	$(RUN) python -m pytest -q -p no:cacheprovider tests/integration

awx-collection: $(AWX_MANIFEST) ## awx.awx 24.6.1 into .cache/collections (from PyPI's ansible 13.8.0 wheel, by hash)

$(AWX_MANIFEST): awx/install_awx_collection.py | .venv
	$(VENV)/bin/python awx/install_awx_collection.py --dest .cache/collections

docs: .venv ## Regenerate docs/variables.md from the contract and the roles' argument specs
	$(VENV)/bin/python docs/generate_variables.py

dist: .venv ## Build the collection tarball into build/
	$(RUN) ansible-galaxy collection build --force --output-path build .

# Galaxy's own import check (galaxy-importer, as Galaxy runs it on upload) of the tarball, offline and without
# a container runtime (.ci/galaxy-importer.cfg: ansible-test is off, `make sanity` runs it). Its log and
# importer_result.json land in build/galaxy-import/. Any ERROR or WARNING line fails the target.
galaxy-import: dist ## Galaxy's import check of the tarball (galaxy-importer): fails on any ERROR or WARNING
	@rm -rf $(GALAXY_IMPORT_DIR) && mkdir -p $(GALAXY_IMPORT_DIR)
	cd $(GALAXY_IMPORT_DIR) && $(RUN) GALAXY_IMPORTER_CONFIG=$(CURDIR)/.ci/galaxy-importer.cfg \
		python -m galaxy_importer.main $(CURDIR)/$(COLLECTION_TARBALL) 2>&1 | tee import.log
	@if grep -nE '\b(ERROR|WARNING|CRITICAL)\b|Traceback' $(GALAXY_IMPORT_DIR)/import.log; then \
		echo "galaxy-import: galaxy-importer reported the problems above ($(GALAXY_IMPORT_DIR)/import.log)" >&2; exit 1; fi
	@grep -q '^Importer processing completed successfully' $(GALAXY_IMPORT_DIR)/import.log || \
		{ echo "galaxy-import: galaxy-importer did not complete ($(GALAXY_IMPORT_DIR)/import.log)" >&2; exit 1; }

ee-context: .venv ## Execution-environment build context in build/ee-context (docs/awx.md)
	$(RUN) ansible-galaxy collection build --force --output-path awx/collections .
	$(RUN) ansible-builder create -f awx/execution-environment.yml -c build/ee-context --output-filename Containerfile

upstream: ## Every golden plan's argv through the real SGLang / smg / sglang-router parsers (Python 3.11 venv)
	tests/upstream/setup-venv.sh
	$(UPSTREAM_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/upstream

bench: .venv collection-link ## Benchmarks (bench/run.py)
	$(RUN) python bench/run.py

bench-converge: .venv collection-link images ## Converge time of pd_disagg.yml on 3, 5 and 14 containers against the sum of its parts (slow)
	$(RUN) python bench/converge.py

bench-downloads: .venv collection-link images ## Upstream downloads and gdrcopy builds of a fleet install, naive vs fleet (1, 3, 7 containers)
	$(RUN) python bench/downloads.py

# The README's main job: a 1P1D sandbox fleet of containers (sandbox/), pd_disagg.yml, a chat completion.
demo: .venv collection-link images ## The main job: 1P1D sandbox fleet in Docker, pd_disagg.yml, a chat completion through the router
	VENV_BIN=$(VENV_BIN) sandbox/demo.sh

demo-down: ## Remove the sandbox fleet of make demo
	sandbox/down.sh

# The Docker test rig (tests/docker/README.md): local images, then Molecule
# scenarios on them. Needs a running Docker daemon (make prerequisites starts one), and
# root for debootstrap the first time.
.PHONY: images molecule molecule-all

images: ## Build the local Docker images the scenarios run (debootstrap; a no-op when current)
	tests/docker/build-images.sh

# Scenarios of `make test`, and the slower ones only `make test-all` runs.
# `make molecule-<scenario>` runs one (dashes or underscores: molecule-pd-1p1d).
# make test took 2106 s on 2 cores (2026-12-06) before galaxy-import and the check-mode step (a few minutes more); multinode_tp and pd_4p9d
# (3 and 14 containers) and the full sglang[all] stack (about 10 GB from PyPI) run under make test-all.
MOLECULE_SCENARIOS      := rig preflight preflight_broken pypi_cache cuda_toolkit gpu_libs single_node pd_1p1d pd_2p2d
MOLECULE_SLOW_SCENARIOS := multinode_tp pd_4p9d sglang_full

molecule-%: .venv collection-link images ## One Molecule scenario: molecule-<name> (molecule/<name>)
	@start=$$SECONDS; cd $(CURDIR) && $(RUN) molecule test -s $(subst -,_,$*); \
	echo "molecule-$*: $$((SECONDS - start))s"

molecule: $(addprefix molecule-,$(MOLECULE_SCENARIOS)) ## The Molecule scenarios of `make test`

molecule-all: molecule $(addprefix molecule-,$(MOLECULE_SLOW_SCENARIOS)) ## Every Molecule scenario

# What CI runs.
test: lint sanity unit integration galaxy-import upstream molecule ## What CI runs: lint sanity unit integration galaxy-import upstream molecule

test-all: test molecule-all ## Everything: test, and the slow Molecule scenarios

clean: ## Remove build/, .cache/, plan/
	rm -rf build .cache plan awx/collections

distclean: clean ## clean, and remove .venv
	rm -rf $(VENV)
