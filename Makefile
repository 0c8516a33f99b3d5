# Shoal's build. `make run` and `make test` must work on a fresh machine with
# only Go installed: every other piece is fetched or built here.
SHELL := /bin/bash
GO ?= go
BIN := bin/shoal
DATA ?= ./data
PKGS := ./...
# The race detector multiplies run time; CI uses it on every package.
TESTFLAGS ?= -race -timeout 20m

.PHONY: all build run test vet fmt-check unit bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/shoal

# Until the server (issue 3) lands, `make run` opens the embedded defaults
# in ./data and shows usage and free space through the local CLI.
run: build
	@mkdir -p $(DATA)
	$(BIN) fs --data $(DATA) df -h
	@echo "Shoal's local filesystem is in $(DATA). Try: $(BIN) fs --data $(DATA) put README.md /README.md"

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test $(TESTFLAGS) $(PKGS)

test: fmt-check vet build unit

bench: build
	$(BIN) bench --data $$(mktemp -d)

clean:
	rm -rf bin
