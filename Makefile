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
# Sources of the optional sandbox tools (isolate, nsjail): release
# tarballs beside the project; `make deps` builds them into .tools/.
THIRD_PARTY ?= $(CURDIR)/../shared/third_party
ISOLATE_VERSION := 2.6
# isolate's own configuration is compiled into it: its boxes live under
# box_root and box N runs as uid/gid ISOLATE_FIRST_UID+N.
ISOLATE_FIRST_UID ?= 1600000
ISOLATE_BOX_ROOT  ?= /var/local/lib/isolate
# Debian's build dependencies of each tool (Debian 12's versions).
ISOLATE_BUILD_DEPS := libcap-dev libseccomp-dev libsystemd-dev pkg-config
NSJAIL_VERSION := 3.6
NSJAIL_BUILD_DEPS := protobuf-compiler libprotobuf-dev libnl-route-3-dev bison flex pkg-config g++ make
export PATH := $(TOOLS)/bin:$(PATH)

.PHONY: all deps deps-isolate deps-nsjail build run test unit e2e bench proto vet clean

all: build

# deps installs what the host lacks: the toolchains the shipped languages
# need (Kotlin from Debian, TypeScript and Node's type definitions from
# npm) and etcd (Debian's etcd-server), which the cluster tests start to
# prove the etcd membership provider.
deps: deps-isolate deps-nsjail
	@command -v kotlinc >/dev/null 2>&1 && command -v etcd >/dev/null 2>&1 || { \
	  echo "installing kotlin and etcd-server (Debian)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kotlin etcd-server >/dev/null; }
	@test "$$(node /usr/lib/node_modules/typescript/lib/tsc.js --version 2>/dev/null)" = "Version $(TS_VERSION)" || { \
	  echo "installing typescript@$(TS_VERSION) (npm)"; \
	  npm install -g --no-audit --no-fund typescript@$(TS_VERSION) >/dev/null; }
	@test "$$(node -p 'require("/usr/lib/node_modules/@types/node/package.json").version' 2>/dev/null)" = "$(TYPES_NODE)" || { \
	  echo "installing @types/node@$(TYPES_NODE) (npm)"; \
	  npm install -g --no-audit --no-fund @types/node@$(TYPES_NODE) >/dev/null; }

# deps-isolate builds isolate into .tools/bin unless one is installed
# (in PATH). Without the tarball it says how to install one (README,
# "Backends"); only --backend isolate needs it.
deps-isolate:
	@if command -v isolate >/dev/null 2>&1; then exit 0; fi; \
	tarball=$(THIRD_PARTY)/isolate-$(ISOLATE_VERSION).tar.gz; \
	if [ ! -f "$$tarball" ]; then \
	  echo "isolate not installed and $$tarball absent: --backend isolate needs it (README, Backends)"; exit 0; fi; \
	echo "building isolate $(ISOLATE_VERSION) into $(TOOLS)/bin"; \
	dpkg -s $(ISOLATE_BUILD_DEPS) >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(ISOLATE_BUILD_DEPS) >/dev/null; } && \
	rm -rf $(TOOLS)/src/isolate-$(ISOLATE_VERSION) && mkdir -p $(TOOLS)/src $(TOOLS)/bin $(TOOLS)/etc && \
	tar -xzf "$$tarball" -C $(TOOLS)/src && \
	printf 'box_root = %s\nlock_root = /run/isolate/locks\ncg_root = auto:/run/isolate/cgroup\nfirst_uid = %s\nfirst_gid = %s\nnum_boxes = 1000\n' \
	  $(ISOLATE_BOX_ROOT) $(ISOLATE_FIRST_UID) $(ISOLATE_FIRST_UID) > $(TOOLS)/etc/isolate.cf && \
	$(MAKE) -s -C $(TOOLS)/src/isolate-$(ISOLATE_VERSION) isolate CONFIG=$(TOOLS)/etc/isolate.cf >/dev/null && \
	install -m 0755 $(TOOLS)/src/isolate-$(ISOLATE_VERSION)/isolate $(TOOLS)/bin/isolate

# deps-nsjail builds nsjail (with its bundled kafel) into .tools/bin
# unless one is installed, as deps-isolate does isolate.
deps-nsjail:
	@if command -v nsjail >/dev/null 2>&1; then exit 0; fi; \
	tarball=$(THIRD_PARTY)/nsjail-$(NSJAIL_VERSION).tar.gz; \
	if [ ! -f "$$tarball" ]; then \
	  echo "nsjail not installed and $$tarball absent: --backend nsjail needs it (README, Backends)"; exit 0; fi; \
	echo "building nsjail $(NSJAIL_VERSION) into $(TOOLS)/bin"; \
	dpkg -s $(NSJAIL_BUILD_DEPS) >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(NSJAIL_BUILD_DEPS) >/dev/null; } && \
	rm -rf $(TOOLS)/src/nsjail-$(NSJAIL_VERSION) && mkdir -p $(TOOLS)/src $(TOOLS)/bin && \
	tar -xzf "$$tarball" -C $(TOOLS)/src && \
	$(MAKE) -s -C $(TOOLS)/src/nsjail-$(NSJAIL_VERSION) -j2 nsjail >/dev/null && \
	install -m 0755 $(TOOLS)/src/nsjail-$(NSJAIL_VERSION)/nsjail $(TOOLS)/bin/nsjail

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
# cache does not see, so a cached pass could hide a broken server.
#
# Then the end-to-end suite's judging tests (every language's verdicts,
# every limit in C, Python and Java, fresh tests of a submission) and the
# hostile corpus run again on each other backend, PECAN_TEST_BACKEND
# choosing it: the same tests, with the guarantees a backend cannot give
# named in tests/hostile/exceptions_test.go. The rest of those suites
# (HTTP, auth, problems, the concurrent corpus) does not depend on the
# backend and runs once, on the container, which keeps make test within
# its 30 minutes.
TEST_BACKENDS ?= isolate nsjail
BACKEND_E2E   := TestLanguages$$|TestLimits|TestSubmissionTestsAreFresh|TestLargeStdin|TestOutputFlood
BACKEND_HOSTILE := TestCorpus$$

test: deps vet
	$(GO) test $(GOTESTFLAGS) -timeout 20m $$($(GO) list ./... | grep -v /tests/)
	$(GO) test $(GOTESTFLAGS) -count=1 -p 1 -timeout 40m ./tests/...
	@for b in $(TEST_BACKENDS); do \
	  echo "== e2e and hostile corpus on the $$b backend"; \
	  PECAN_TEST_BACKEND=$$b $(GO) test $(GOTESTFLAGS) -count=1 -timeout 15m -run '$(BACKEND_E2E)' ./tests/e2e/ || exit 1; \
	  PECAN_TEST_BACKEND=$$b $(GO) test $(GOTESTFLAGS) -count=1 -timeout 15m -run '$(BACKEND_HOSTILE)' ./tests/hostile/ || exit 1; \
	done

bench: deps
	$(GO) run ./bench --config pecan.toml --out BENCHMARKS.md

# proto regenerates messages/ with pinned buf and protoc-gen-go.
proto:
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PGG_VERSION)
	PATH=$(TOOLS):$$PATH $(TOOLS)/buf generate

clean:
	rm -rf bin
