# imcallback — the two commands that matter: `make run` and `make test`.
GO       ?= go
BIN      ?= bin/imcallback
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/imcallback/imcallback/cli.Version=$(VERSION)

.PHONY: run test build bench vet fuzz generate screenshots clean

## run: start the service on embedded defaults (data under ./data, a development SdkAppid)
## (built, then run as the binary itself, so Ctrl-C stops it cleanly: the service drains and exits 0;
## make, which gets the Ctrl-C too, then reports it as GNU make does, exiting 130)
run: build
	@IMCALLBACK_LOG_FORMAT=$${IMCALLBACK_LOG_FORMAT:-console} exec ./$(BIN) serve --dev

## test: vet, then every test with the race detector (fuzz seed corpora included)
test: vet
	$(GO) test -race -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

## build: a static binary (no cgo)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/imcallback

## bench: the in-process benchmarks, then the wrk load step against the real
## binary: each row in alternating rounds with a bare echo server (bench/wrkload;
## wrk is installed with apt-get when missing, or the step says why it is skipped).
## The PostgreSQL row runs when IMCALLBACK_TEST_POSTGRES_DSN is set. See docs/performance.md.
WRK_ROUNDS ?= 3
WRK_SECONDS ?= 10
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $$($(GO) list ./... | grep -v /e2e)
	@command -v wrk >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null 2>&1 || \
		echo "wrk is not installed and apt-get could not install it: the wrk load step is skipped"
	$(GO) run ./bench/wrkload -rounds $(WRK_ROUNDS) -seconds $(WRK_SECONDS)

## fuzz: run each fuzz target for a while (FUZZTIME, default 30s)
FUZZTIME ?= 30s
FUZZ_TARGETS := ./protocol:FuzzParseParams ./protocol:FuzzFlexInt ./protocol:FuzzFlexString ./protocol:FuzzFlexStrings \
	./protocol:FuzzScanBody ./dispatcher:FuzzServe ./config:FuzzRedactHidesThePassword \
	./middleware:FuzzIPExtractor ./delivery:FuzzDecode ./delivery:FuzzEventMsgRoundTrip \
	./forward:FuzzParseAnswer ./forward:FuzzRetryAfter ./imsend:FuzzNewResult ./plugins/topicsync:FuzzEncodeCustomData ./plugins/topicsync:FuzzDecodeCursor \
	./commands/catalogue:FuzzSampleDecode ./commands/catalogue:FuzzPerTargetDenyRefusesTheTargetsSeen \
	./commands/message:FuzzElementDecode ./commands/group:FuzzGroupIDMerge ./commands/push:FuzzPushBatch \
	./internal/lenient:FuzzBody
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn ($$pkg)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

## generate: rewrite docs/commands.md from the command catalogue and the README's error-code table
generate:
	$(GO) generate ./...

## screenshots: rewrite docs/console.png from the console's browser test (needs chromium)
screenshots:
	$(GO) test -count=1 -run '^TestScreenshot$$' ./console -console.screenshot=$(CURDIR)/docs/console.png

clean:
	rm -rf bin data
