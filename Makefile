# Two commands on a fresh machine:
#   make demo   set-up (venv, pip, Debian synthesizers) + the whole pipeline at demo scale
#   make test   set-up + the test suite
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
DEBS    := flite festival festvox-us-slt-hts espeak-ng sox chromium
SCALE   ?= demo
OUT     ?= work/demo
STAMP   := $(VENV)/.installed

.PHONY: demo test setup venv debs lint bench clean f5-ref vae-ref

demo: setup
	$(BIN)/tts demo --scale $(SCALE) --out $(OUT)

test: setup
	OMP_NUM_THREADS=2 $(BIN)/pytest -q tests

setup: debs venv

# Python packages: re-installed only when pyproject.toml changes.
venv: $(STAMP)
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(MAKE) f5-ref vae-ref
	@touch $(STAMP)

# The F5-TTS reference code for the equivalence tests: f5-tts without its dependencies (they would
# upgrade transformers/huggingface_hub and pull gradio, wandb, datasets, ...); the few its model files
# need are in the dev extra. tts.f5.convert.reference_modules() imports the model files only.
F5_REF := f5-tts==1.1.22
f5-ref:
	$(BIN)/pip install -q --no-deps '$(F5_REF)'

# The DAC reference for the VAE encoder equivalence test (tests/test_vae_reference.py), --no-deps:
# descript-audiotools 0.7.2 pins protobuf<3.20, which would downgrade the protobuf onnx and tensorboard
# need; what `import dac` needs is in the dev extra. (bigvgan==2.4.1 installs normally, from the dev extra.)
VAE_REF := descript-audio-codec==1.0.0 descript-audiotools==0.7.2
vae-ref:
	$(BIN)/pip install -q --no-deps $(foreach p,$(VAE_REF),'$(p)')

# Debian packages: speech synthesizers for the embedded corpus, chromium for the report page test;
# apt-get when root, else print the command.
debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "Missing Debian packages:$$missing"; \
	    echo "Run: sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

lint: setup
	$(BIN)/ruff check tts tests eval

bench: setup
	$(BIN)/python eval/bench_vae.py --out eval/reports/bench_vae
	$(BIN)/python eval/bench_f5.py --out eval/reports/bench_f5

clean:
	rm -rf work lightning_logs .pytest_cache
