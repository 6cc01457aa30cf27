# Two entry points do all set-up on a fresh machine (Debian, Python 3.11):
#   make run    builds .venv, then runs the workflow on config/config.yaml (embedded digits data)
#   make test   builds .venv, then runs the whole test suite
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test fashion-data report bench-pydvl gpu-check

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -r requirements.txt
	$(VENV)/bin/python -m pip install -q --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/snakemake --cores all

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

# Real Fashion-MNIST from Debian (needs root), for config/fashion-mnist.yaml.
fashion-data:
	test -d /usr/share/datasets/fashion-mnist || apt-get install -y dataset-fashion-mnist

report: $(STAMP)
	$(VENV)/bin/snakemake --cores all --report report.html

# Optional: the pyDVL comparison in its own environment (pyDVL needs numpy < 2).
bench-pydvl:
	test -x .venv-pydvl/bin/python || ($(PYTHON) -m venv .venv-pydvl && .venv-pydvl/bin/pip install -q -r benchmarks/pydvl/requirements.txt && .venv-pydvl/bin/pip install -q --no-deps -e .)
	.venv-pydvl/bin/python benchmarks/pydvl/compare.py

# On a machine with an NVIDIA GPU: engine utilities against the CPU, engine and explainer speed, and the ci
# workflow with device: cuda (under 8 minutes). Without CUDA it says so and exits 0.
gpu-check: $(STAMP)
	$(VENV)/bin/python benchmarks/gpu_check.py
