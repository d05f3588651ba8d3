# snapbench: make build | test | bench | lint | fuzz | ci | clean

GO        ?= go
BIN       := bin/snapbench
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
PKGS      := ./...
TIMEOUT   ?= 20m
BENCHTIME ?= 1s
FUZZTIME  ?= 30s
# staticcheck version make lint requires (.ci/run installs it)
STATICCHECK_VERSION := v0.8.2
STATICCHECK ?= staticcheck

.PHONY: all build test bench lint fuzz ci clean regress baseline publish publish-scale serve-vs-qemu cover long readme-check

all: build

## build: the snapbench binary in bin/, stamped with git describe
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/snapbench

## test: every unit test with the race detector (root-only tests skip unless run as root)
test:
	$(GO) test -race -count=1 -timeout $(TIMEOUT) $(PKGS)

## cover: the unit tests with coverage; coverage.html to read
cover:
	$(GO) test -count=1 -timeout $(TIMEOUT) -coverprofile=coverage.out $(PKGS)
	$(GO) tool cover -func=coverage.out | tail -n 1
	$(GO) tool cover -html=coverage.out -o coverage.html

## long: the conformance and crash suites at 100x budget, one package at a time (hours)
long:
	SNAPBENCH_LONG=1 $(GO) test -p 1 -count=1 -timeout 12h -run 'Conformance|Crash' ./strategies/...

## bench: Go benchmarks only; BENCHTIME=5s make bench for steadier numbers
bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout $(TIMEOUT) $(PKGS)

## lint: gofmt (fails on any unformatted file), go vet, staticcheck $(STATICCHECK_VERSION) (required)
lint:
	@command -v $(STATICCHECK) >/dev/null 2>&1 || { echo "lint: staticcheck not found; install it: go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) (and put \$$(go env GOPATH)/bin on PATH)"; exit 1; }
	@have="$$($(STATICCHECK) -version 2>/dev/null)"; case "$$have" in *"($(STATICCHECK_VERSION:v%=%))"*) ;; \
		*) echo "lint: staticcheck is '$$have', want $(STATICCHECK_VERSION): go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)"; exit 1;; esac
	@unformatted="$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*' -not -path './vendor/*' -not -path '*/testdata/*'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt: these files need formatting (gofmt -w):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)

## fuzz: every fuzz target (func FuzzX in a _test.go file) for FUZZTIME each, one at a time; stops at the first finding
fuzz:
	GO=$(GO) ci/fuzz.sh $(FUZZTIME)

## ci: what .ci/run runs
ci: lint test regress

## regress: the fixed CI suite on a loop device, compared with ci/baseline
regress: build
	ci/regress.sh

## baseline: rerun the CI suite and replace ci/baseline (review the diff)
baseline: build
	ci/regress.sh baseline

## readme-check: run every command of README.md and every --help example (ci/readme-check.sh --list says how each runs; root for loop devices)
readme-check: build
	ci/readme-check.sh

## publish: the default suite on this machine, one run as docs/results.md, docs/plots, docs/report.html (and docs/report.png with chromium)
publish: build
	ci/publish.sh

## publish-scale: the scale curves (clones to 100,000, volumes to 1 TiB) as docs/scale.md, docs/plots/scale and docs/scale-run (about 10 minutes; a few GiB in $$WORK, default /var/tmp/snapbench-scale)
publish-scale: build
	ci/publish-scale.sh

## serve-vs-qemu: snapbench serve against qemu-nbd through fio's nbd engine, 4 KiB random IO at QD 1 and 16, 3 interleaved trials (a benchmark, about 2 minutes)
serve-vs-qemu: build
	ci/serve-vs-qemu.sh 3

## clean: remove what build and coverage runs leave in the tree
clean:
	rm -rf bin/ coverage.out coverage.html *.coverprofile
