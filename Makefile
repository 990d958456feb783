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

.PHONY: demo test test-fast setup venv debs lint bench clean f5-ref vae-ref gpu-wheels gpu-corpus gpu-pack

demo: setup
	$(BIN)/tts demo --scale $(SCALE) --out $(OUT)

test: setup
	OMP_NUM_THREADS=2 $(BIN)/pytest -q tests

# the fast suite: everything but the end-to-end tests marked slow (each > ~30 s on 2 cores)
test-fast: setup
	OMP_NUM_THREADS=2 $(BIN)/pytest -q -m "not slow" tests

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
	$(BIN)/python -m eval.bench_vae --out eval/reports/bench_vae
	$(BIN)/python -m eval.bench_f5 --out eval/reports/bench_f5

# What travels to a bare GPU machine with the working tree (eval/gpu_check.sh; see README "On a GPU"):
# wheels it lacks (CPython 3.12, manylinux x86_64; never torch) + the F5-TTS reference model files, and
# a small pack of the embedded corpus (OGG Vorbis). Both folders are ignored by git.
GPU_WHEELS  := .gpu-wheels
GPU_CORPUS  := .gpu-corpus
GPU_HOURS   ?= 0.4
GPU_PYTHON  := $(shell test -x $(BIN)/python && echo $(abspath $(BIN))/python || echo python3)
GPU_PIP     := $(GPU_PYTHON) -m pip
GPU_PLATFORMS := $(foreach p,manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux_2_5_x86_64 manylinux1_x86_64 any,--platform $(p))

# (only downloads: any pip will do, no set-up needed)
gpu-wheels:
	rm -rf $(GPU_WHEELS).tmp && mkdir -p $(GPU_WHEELS).tmp
	grep -v '^encodec' eval/gpu/wheels.txt > $(GPU_WHEELS).tmp/requirements.txt
	$(GPU_PIP) download -q --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none \
	  $(GPU_PLATFORMS) --only-binary=:all: --no-deps -r $(GPU_WHEELS).tmp/requirements.txt -d $(GPU_WHEELS).tmp
	# encodec (a vocos import) is published as an sdist only: build its pure-Python wheel here
	$(GPU_PIP) wheel -q --no-deps "$$(grep '^encodec' eval/gpu/wheels.txt)" -w $(GPU_WHEELS).tmp
	# the F5-TTS reference model files for eval/bench_f5.py (unpacked; the wheel itself does not travel)
	$(GPU_PIP) download -q --no-deps --only-binary=:all: --python-version 3.12 f5-tts==1.1.22 -d $(GPU_WHEELS).tmp/f5
	cd $(GPU_WHEELS).tmp && $(GPU_PYTHON) -c "import glob, zipfile; z = zipfile.ZipFile(glob.glob('f5/f5_tts-*.whl')[0]); \
	  [z.extract(n, 'f5ref') for n in z.namelist() if n.startswith('f5_tts/model/')]" && rm -rf f5 requirements.txt
	rm -rf $(GPU_WHEELS) && mv $(GPU_WHEELS).tmp $(GPU_WHEELS)
	@du -sh $(GPU_WHEELS); ls $(GPU_WHEELS)/*.whl | wc -l | xargs echo wheels:

gpu-corpus: setup
	$(BIN)/tts data demo --out work/gpu_corpus_src --hours $(GPU_HOURS) --no-progress
	$(BIN)/python -m eval.gpu.corpus work/gpu_corpus_src $(GPU_CORPUS)

# Everything the device tool carries (code + wheels + corpus), with its size.
gpu-pack: gpu-wheels gpu-corpus
	@du -shc $(GPU_WHEELS) $(GPU_CORPUS) && git ls-files -z | du -ch --files0-from=- | tail -1 | sed 's/total/tracked code and files/'

clean:
	rm -rf work lightning_logs .pytest_cache
