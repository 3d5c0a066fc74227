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
# npm tools of the tests, each in .tools/<name> at a pinned version.
REDOCLY_VERSION   := 2.77.0
PUPPETEER_VERSION := 25.16.0
PLAYGROUND        := http/playground
PLAYGROUND_NPM    := $(TOOLS)/playground

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

.PHONY: all deps deps-isolate deps-nsjail vm-deps test-deps build run test test-cgroup2 unit e2e bench proto vet clean playground openapi-lint

all: build

# deps installs what the host lacks: the toolchains the shipped languages
# need (Kotlin from Debian, TypeScript and Node's type definitions from
# npm), gVisor's runsc (Debian) for the gvisor backend, and etcd
# (Debian's etcd-server), which the cluster tests start to prove the etcd
# membership provider.
deps: deps-isolate deps-nsjail
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

# vm-deps installs what the cgroup v2 virtual machine of test-cgroup2
# needs: qemu and a static busybox (Debian), and Debian's kernel
# (linux-image-amd64), whose package is unpacked into $(VM_DIR)/kernel
# rather than installed: installing it would run the host's kernel hooks
# (an initramfs in /boot, boot loader updates), and the guest needs only
# the kernel image and its modules.
VM_DIR := $(CURDIR)/.vm
vm-deps:
	@command -v qemu-system-x86_64 >/dev/null 2>&1 && dpkg -s busybox-static >/dev/null 2>&1 || { \
	  echo "installing qemu-system-x86 and busybox-static (Debian)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 busybox-static >/dev/null; }
	@ls $(VM_DIR)/kernel/boot/vmlinuz-* >/dev/null 2>&1 || { \
	  pkg=$$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $$2; exit}'); \
	  test -n "$$pkg" || { apt-get update -qq && pkg=$$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $$2; exit}'); }; \
	  echo "unpacking $$pkg (Debian) into $(VM_DIR)/kernel"; \
	  rm -rf $(VM_DIR)/dl && mkdir -p $(VM_DIR)/dl && \
	  (cd $(VM_DIR)/dl && apt-get download -qq "$$pkg" 2>/dev/null) && \
	  dpkg-deb -x $(VM_DIR)/dl/*.deb $(VM_DIR)/kernel.new && rm -rf $(VM_DIR)/dl && \
	  mv $(VM_DIR)/kernel.new $(VM_DIR)/kernel; }

# test-deps installs what only the tests need: Chromium (Debian's), in
# which tests/playground drives the playground, and the tests' npm tools:
# Redocly's CLI lints the OpenAPI document, puppeteer-core drives the
# browser (it downloads none).
test-deps: $(TOOLS)/redocly/.installed-$(REDOCLY_VERSION) $(TOOLS)/puppeteer/.installed-$(PUPPETEER_VERSION)
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (Debian)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
$(TOOLS)/redocly/.installed-$(REDOCLY_VERSION):
	@echo "installing @redocly/cli@$(REDOCLY_VERSION) (npm) into $(TOOLS)/redocly"
	@rm -rf $(TOOLS)/redocly && mkdir -p $(TOOLS)/redocly
	@npm install --prefix $(TOOLS)/redocly --no-audit --no-fund --silent @redocly/cli@$(REDOCLY_VERSION)
	@touch $@
$(TOOLS)/puppeteer/.installed-$(PUPPETEER_VERSION):
	@echo "installing puppeteer-core@$(PUPPETEER_VERSION) (npm) into $(TOOLS)/puppeteer"
	@rm -rf $(TOOLS)/puppeteer && mkdir -p $(TOOLS)/puppeteer
	@npm install --prefix $(TOOLS)/puppeteer --no-audit --no-fund --silent puppeteer-core@$(PUPPETEER_VERSION)
	@touch $@

# openapi-lint checks the OpenAPI document of the native API
# (http/openapi/openapi.json) with Redocly's recommended rules.
openapi-lint: $(TOOLS)/redocly/.installed-$(REDOCLY_VERSION)
	$(TOOLS)/redocly/node_modules/.bin/redocly lint --config http/openapi/redocly.yaml http/openapi/openapi.json

# playground bundles the playground's script (CodeMirror and src/) into
# $(PLAYGROUND)/static/app.js, which the binary embeds; its npm packages
# are those of package-lock.json, installed into $(PLAYGROUND_NPM).
# Nothing is fetched at run time. A binary built without it serves a page
# that says so.
playground: $(PLAYGROUND)/static/app.js
$(PLAYGROUND_NPM)/.installed: $(PLAYGROUND)/package.json $(PLAYGROUND)/package-lock.json
	@echo "installing the playground's npm packages (package-lock.json) into $(PLAYGROUND_NPM)"
	@mkdir -p $(PLAYGROUND_NPM)
	@cp $(PLAYGROUND)/package.json $(PLAYGROUND)/package-lock.json $(PLAYGROUND_NPM)/
	@cd $(PLAYGROUND_NPM) && npm ci --no-audit --no-fund --silent
	@touch $@
$(PLAYGROUND)/static/app.js: $(wildcard $(PLAYGROUND)/src/*.js) $(PLAYGROUND_NPM)/.installed
	NODE_PATH=$(PLAYGROUND_NPM)/node_modules $(PLAYGROUND_NPM)/node_modules/.bin/esbuild $(PLAYGROUND)/src/main.js \
	  --bundle --minify --format=iife --target=es2020 --legal-comments=eof --log-level=warning --outfile=$@

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

# build makes the server, with the playground bundled into it, and, beside
# it, the init program of its sandboxes (the server finds it there). The
# init is linked statically (no cgo): one starts for every job, and the
# dynamic loader was a third of its start-up.
build: playground
	$(GO) build -o $(BIN) ./cmd/pecan
	CGO_ENABLED=0 $(GO) build -o bin/pecan-sandbox-init ./cmd/pecan-sandbox-init

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
# tests/cgroup2 is among them: it boots a cgroup v2 virtual machine
# (test-cgroup2 runs it alone).
#
# Then the end-to-end suite's judging tests (every language's verdicts,
# every limit in C, Python and Java, fresh tests of a submission,
# interactive problems) and the
# hostile corpus run again on each other backend, PECAN_TEST_BACKEND
# choosing it: the same tests, with the guarantees a backend cannot give
# named in tests/hostile/exceptions_test.go. The rest of those suites
# (HTTP, auth, problems, the concurrent corpus) does not depend on the
# backend and runs once, on the container, which keeps make test within
# its 30 minutes.
TEST_BACKENDS ?= isolate nsjail gvisor
BACKEND_E2E   := TestLanguages$$|TestLimits|TestSubmissionTestsAreFresh|TestLargeStdin|TestOutputFlood
# Interactive problems, on the backends that can run two programs
# connected by pipes (gvisor cannot yet: README, "The gvisor backend").
INTERACTIVE_E2E      := TestProblemInteractive
INTERACTIVE_BACKENDS := isolate nsjail
BACKEND_HOSTILE := TestCorpus$$

test: deps vm-deps test-deps vet openapi-lint playground
	$(GO) test $(GOTESTFLAGS) -timeout 20m $$($(GO) list ./... | grep -v /tests/)
	$(GO) test $(GOTESTFLAGS) -count=1 -p 1 -timeout 60m ./tests/...
	@for b in $(TEST_BACKENDS); do \
	  tool=$$b; [ $$b = gvisor ] && tool=runsc; \
	  if ! command -v $$tool >/dev/null 2>&1; then \
	    echo "== the $$b backend's round is skipped: $$tool is not installed (deps builds it from ../shared/third_party, which CI always has)"; continue; fi; \
	  echo "== e2e and hostile corpus on the $$b backend"; \
	  run='$(BACKEND_E2E)'; case " $(INTERACTIVE_BACKENDS) " in *" $$b "*) run="$$run|$(INTERACTIVE_E2E)";; esac; \
	  PECAN_TEST_BACKEND=$$b $(GO) test $(GOTESTFLAGS) -count=1 -timeout 15m -run "$$run" ./tests/e2e/ || exit 1; \
	  PECAN_TEST_BACKEND=$$b $(GO) test $(GOTESTFLAGS) -count=1 -timeout 15m -run '$(BACKEND_HOSTILE)' ./tests/hostile/ || exit 1; \
	done

# test-cgroup2 proves the cgroup v2 code: it boots Debian's kernel under
# qemu (TCG) with this machine's root read-only, and runs the guest suite
# of tests/cgroup2 on a server inside it (README, "cgroup v1 and v2").
test-cgroup2: vm-deps
	$(GO) test $(GOTESTFLAGS) -count=1 -v -timeout 20m ./tests/cgroup2/

bench: deps
	$(GO) run ./bench --config pecan.toml --out BENCHMARKS.md

# proto regenerates messages/ with pinned buf and protoc-gen-go.
proto:
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PGG_VERSION)
	PATH=$(TOOLS):$$PATH $(TOOLS)/buf generate

clean:
	rm -rf bin $(PLAYGROUND)/static/app.js
