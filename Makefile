# finrisk_nlp developer commands. `make demo` and `make test` install what they need into .venv.
VENV    ?= .venv
PY      := $(VENV)/bin/python
# The CPU wheel keeps installs small on laptops and CI; on a GPU box use e.g. `make TORCH=torch install`.
TORCH   ?= torch==2.13.0
STAMP   := $(VENV)/.installed
# accelerate launch gives a single process one CPU thread unless told otherwise.
NPROC   := $(shell nproc 2>/dev/null || echo 1)

.PHONY: install demo test test-fast lint data clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,tensorboard,docs,report,explain,tune,onnx,ray,serve,demo]"
	touch $(STAMP)

# One epoch keeps the CPU demo under 15 minutes (the recipe trains 2; its validation PR-AUC peaks in the first).
# fp32, so the demo prints the same numbers on every CPU (auto would train in bf16 where the CPU has it).
DEMO_ARGS ?= train.epochs=1 train.mixed_precision=no

demo: install   ## fine-tune the credit model on the shipped demo data (2 CPU cores: 6-7 min)
	$(VENV)/bin/accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no \
		--num_cpu_threads_per_process $(NPROC) \
		recipes/credit_text.py $(DEMO_ARGS) $(ARGS)

test: install   ## the whole suite, including the 2-process end-to-end runs
	$(VENV)/bin/pytest -q

test-fast: install
	$(VENV)/bin/pytest -q -m "not e2e"

lint: install
	$(VENV)/bin/ruff check .

data: install   ## regenerate the shipped demo data
	$(PY) -m tools.demo_data.generate --task all

clean:
	rm -rf $(VENV) runs .pytest_cache
