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

.PHONY: all deps test-deps build run test unit e2e bench proto vet clean playground openapi-lint

all: build

# deps installs what the host lacks: the toolchains the shipped languages
# need (Kotlin from Debian, TypeScript and Node's type definitions from
# npm) and etcd (Debian's etcd-server), which the cluster tests start to
# prove the etcd membership provider.
deps:
	@command -v kotlinc >/dev/null 2>&1 && command -v etcd >/dev/null 2>&1 || { \
	  echo "installing kotlin and etcd-server (Debian)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kotlin etcd-server >/dev/null; }
	@test "$$(node /usr/lib/node_modules/typescript/lib/tsc.js --version 2>/dev/null)" = "Version $(TS_VERSION)" || { \
	  echo "installing typescript@$(TS_VERSION) (npm)"; \
	  npm install -g --no-audit --no-fund typescript@$(TS_VERSION) >/dev/null; }
	@test "$$(node -p 'require("/usr/lib/node_modules/@types/node/package.json").version' 2>/dev/null)" = "$(TYPES_NODE)" || { \
	  echo "installing @types/node@$(TYPES_NODE) (npm)"; \
	  npm install -g --no-audit --no-fund @types/node@$(TYPES_NODE) >/dev/null; }

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

# build makes the server, with the playground bundled into it, and, beside
# it, the init program of its sandboxes (the server finds it there).
build: playground
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
test: deps test-deps vet openapi-lint playground
	$(GO) test $(GOTESTFLAGS) -timeout 20m $$($(GO) list ./... | grep -v /tests/)
	$(GO) test $(GOTESTFLAGS) -count=1 -p 1 -timeout 40m ./tests/...

bench: deps
	$(GO) run ./bench --config pecan.toml --out BENCHMARKS.md

# proto regenerates messages/ with pinned buf and protoc-gen-go.
proto:
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PGG_VERSION)
	PATH=$(TOOLS):$$PATH $(TOOLS)/buf generate

clean:
	rm -rf bin $(PLAYGROUND)/static/app.js
