# Shoal's build. `make run` and `make test` must work on a fresh machine with
# only Go installed: every other piece is fetched or built here.
SHELL := /bin/bash
GO ?= go
BIN := bin/shoal
DATA ?= ./data
PKGS := ./...
# The race detector multiplies run time; CI uses it on every package.
TESTFLAGS ?= -race -timeout 20m

.PHONY: all build run test vet fmt-check unit pytest tools bench bench-peers clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/shoal

# `make run` starts the server on ./data with the defaults: the API on
# 127.0.0.1:7700, blocks on 127.0.0.1:7701. Ctrl-C stops it cleanly.
run: build
	$(BIN) server --data $(DATA)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# The engine and store conformance tests start real servers: PostgreSQL
# from Debian's package (installed by `tools`) and versitygw, built here
# into .cache/bin and handed to the tests in SHOAL_VERSITYGW. A test whose
# server is missing skips, saying why.
VERSITYGW := .cache/bin/versitygw
VERSITYGW_VERSION := v1.8.0

$(VERSITYGW):
	@GOBIN=$(abspath .cache/bin) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION) || \
		echo "versitygw not built: the S3 store's tests will be skipped"

unit: tools $(VERSITYGW)
	SHOAL_VERSITYGW=$(abspath $(VERSITYGW)) $(GO) test $(TESTFLAGS) $(PKGS)

# The Python side runs in a virtualenv made here, so a fresh machine needs
# only python3 (with venv) beside Go. The stamp reinstalls when the
# package's metadata changes.
VENV := .venv
PY := $(VENV)/bin/python
# Pinned together: s3fs pins fsspec to its own version and aiobotocore pins
# botocore, and boto3 must match that botocore; left free, pip's resolver
# gives up. The aws CLI pins yet another botocore, so it gets a virtualenv
# of its own (AWSVENV) and the tests find it through SHOAL_AWS_CLI.
PYDEPS := pytest numpy pyarrow pandas fsspec==2026.9.0 s3fs==2026.9.0 aiobotocore==3.10.0 \
	botocore==1.43.117 boto3==1.43.117 duckdb==1.5.6
AWSVENV := .venv-aws

$(VENV)/.stamp: python/pyproject.toml python/setup.py Makefile
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(PYDEPS)
	SHOAL_SKIP_GO_BUILD=1 $(VENV)/bin/pip install -q --disable-pip-version-check -e ./python
	touch $@

$(AWSVENV)/.stamp:
	python3 -m venv $(AWSVENV)
	$(AWSVENV)/bin/pip install -q --disable-pip-version-check awscli
	touch $@

# rclone and s3cmd (Debian packages) drive S3 tests, postgresql's initdb and
# pg_ctl start the PostgreSQL engine's test servers, fuse3 (fusermount3) serves
# the FUSE mount's tests and chromium the console's browser test; each is
# installed here when missing and this is root, so a fresh machine runs them
# too (the tests skip, saying why, where they cannot be installed).
tools:
	@command -v rclone >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone) >/dev/null 2>&1; } || \
		echo "rclone not installed: its S3 test will be skipped"
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; } || \
		echo "chromium not installed: the console's browser test will be skipped"
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1; } || \
		echo "postgresql not installed: the PostgreSQL engine's tests will be skipped"
	@command -v s3cmd >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq s3cmd) >/dev/null 2>&1; } || \
		echo "s3cmd not installed: its S3 tests will be skipped"
	@command -v fusermount3 >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3) >/dev/null 2>&1; } || \
		echo "fuse3 not installed: the FUSE mount tests will be skipped"

pytest: build tools $(VENV)/.stamp $(AWSVENV)/.stamp $(VERSITYGW)
	SHOAL_BIN=$(abspath $(BIN)) SHOAL_AWS_CLI=$(abspath $(AWSVENV))/bin/aws SHOAL_VERSITYGW=$(abspath $(VERSITYGW)) \
		$(PY) -m pytest -q python/tests

test: fmt-check vet build tools unit pytest

bench: build
	$(BIN) bench --data $$(mktemp -d)

# Shoal beside its peers in one run (issue 13): S3 against versitygw
# (built here) and KV against Redis (when redis-server is installed), in
# interleaved rounds. Not part of `make test`: nothing here is timed.
bench-peers: build $(VERSITYGW)
	$(BIN) bench peers --versitygw $(abspath $(VERSITYGW))

clean:
	rm -rf bin

# Regenerate api/shoalv1 from api/shoal/v1/shoal.proto (needs protoc and
# protoc-gen-go, protoc-gen-go-grpc on PATH or in GOPATH/bin). The
# generated code is committed: builds and CI never run protoc.
.PHONY: proto
proto:
	cd api && PATH="$$PATH:$$($(GO) env GOPATH)/bin" $(GO) generate ./...
