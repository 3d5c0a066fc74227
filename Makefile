# Pecan's two set-up commands are `make run` and `make test`; both install
# what a fresh machine of this kind lacks, at pinned versions.

GO          ?= go
BIN         := bin/pecan
TOOLS       := $(CURDIR)/.tools
BUF_VERSION := v1.75.0
PGG_VERSION := v1.36.12
TS_VERSION  := 5.9.3
TYPES_NODE  := 20.19.43
GOTESTFLAGS ?=

.PHONY: all deps build run test unit e2e bench proto vet clean

all: build

# deps installs what the host lacks: the toolchains the shipped languages
# need (Kotlin from Debian, TypeScript and Node's type definitions from
# npm), gVisor's runsc (Debian) for the gvisor backend, and etcd
# (Debian's etcd-server), which the cluster tests start to prove the etcd
# membership provider.
deps:
	@command -v kotlinc >/dev/null 2>&1 && command -v etcd >/dev/null 2>&1 || { \
	  echo "installing kotlin and etcd-server (Debian)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kotlin etcd-server >/dev/null; }
	@command -v runsc >/dev/null 2>&1 || { \
	  echo "installing runsc (Debian), for the gvisor backend"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runsc >/dev/null; }
	@test "$$(node /usr/lib/node_modules/typescript/lib/tsc.js --version 2>/dev/null)" = "Version $(TS_VERSION)" || { \
	  echo "installing typescript@$(TS_VERSION) (npm)"; \
	  npm install -g --no-audit --no-fund typescript@$(TS_VERSION) >/dev/null; }
	@test "$$(node -p 'require("/usr/lib/node_modules/@types/node/package.json").version' 2>/dev/null)" = "$(TYPES_NODE)" || { \
	  echo "installing @types/node@$(TYPES_NODE) (npm)"; \
	  npm install -g --no-audit --no-fund @types/node@$(TYPES_NODE) >/dev/null; }

# build makes the server and, beside it, the init program of its
# sandboxes (the server finds it there).
build:
	$(GO) build -o $(BIN) ./cmd/pecan
	$(GO) build -o bin/pecan-sandbox-init ./cmd/pecan-sandbox-init

run: deps build
	./$(BIN) serve --config pecan.toml

vet:
	$(GO) vet ./...

# test runs every test: unit tests of each package, then the end-to-end
# suites (tests/...), which start real servers on the real container
# backend. The suites run one at a time: each asserts on timing (CPU time
# near a limit, recovery within 2 s) and on what it leaves on the host,
# which other suites running beside it on 2 cores would disturb. They
# always run (-count=1): they test a binary they build, which Go's test
# cache does not see, so a cached pass could hide a broken server. The
# e2e suite and the hostile corpus then run again on the gvisor backend
# (PECAN_TEST_BACKEND, read by tests/testserver).
test: deps vet
	$(GO) test $(GOTESTFLAGS) -timeout 20m $$($(GO) list ./... | grep -v /tests/)
	$(GO) test $(GOTESTFLAGS) -count=1 -p 1 -timeout 40m ./tests/...
	PECAN_TEST_BACKEND=gvisor $(GO) test $(GOTESTFLAGS) -count=1 -p 1 -timeout 30m ./tests/e2e/ ./tests/hostile/

bench: deps
	$(GO) run ./bench --config pecan.toml --out BENCHMARKS.md

# proto regenerates messages/ with pinned buf and protoc-gen-go.
proto:
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PGG_VERSION)
	PATH=$(TOOLS):$$PATH $(TOOLS)/buf generate

clean:
	rm -rf bin
