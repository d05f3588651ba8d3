# snapbench: make build | test | bench | lint | ci | clean

GO        ?= go
BIN       := bin/snapbench
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
PKGS      := ./...
TIMEOUT   ?= 20m
BENCHTIME ?= 1s

.PHONY: all build test bench lint ci clean regress baseline publish

all: build

## build: the snapbench binary in bin/, stamped with git describe
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/snapbench

## test: every unit test with the race detector (root-only tests skip unless run as root)
test:
	$(GO) test -race -count=1 -timeout $(TIMEOUT) $(PKGS)

## bench: Go benchmarks only; BENCHTIME=5s make bench for steadier numbers
bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout $(TIMEOUT) $(PKGS)

## lint: gofmt (fails on any unformatted file), go vet, staticcheck when installed
lint:
	@unformatted="$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*' -not -path './vendor/*' -not -path '*/testdata/*'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt: these files need formatting (gofmt -w):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	@if command -v staticcheck >/dev/null 2>&1; then \
		echo staticcheck $(PKGS); staticcheck $(PKGS); \
	else \
		echo "staticcheck not installed, skipped (go install honnef.co/go/tools/cmd/staticcheck@latest)"; \
	fi

## ci: what .ci/run runs
ci: lint test regress

## regress: the fixed CI suite on a loop device, compared with ci/baseline
regress: build
	ci/regress.sh

## baseline: rerun the CI suite and replace ci/baseline (review the diff)
baseline: build
	ci/regress.sh baseline

## publish: the default suite on this machine, as docs/results.md and docs/plots
publish: build
	ci/publish.sh

## clean: remove what build and coverage runs leave in the tree
clean:
	rm -rf bin/ coverage.out coverage.html *.coverprofile
