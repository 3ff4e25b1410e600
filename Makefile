# imcallback — the two commands that matter: `make run` and `make test`.
GO       ?= go
BIN      ?= bin/imcallback
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)

.PHONY: run test build bench vet fuzz generate clean

## run: start the service on embedded defaults (data under ./data, a development SdkAppid)
run:
	IMCALLBACK_LOG_FORMAT=$${IMCALLBACK_LOG_FORMAT:-console} $(GO) run ./cmd/imcallback serve --dev

## test: vet, then every test with the race detector (fuzz seed corpora included)
test: vet
	$(GO) test -race -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

## build: a static binary (no cgo)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/imcallback

## bench: the in-process benchmarks and the HTTP load run (see docs/performance.md)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./...

## fuzz: run each fuzz target for a while (FUZZTIME, default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzServe -fuzztime $(FUZZTIME) ./dispatcher
	$(GO) test -run '^$$' -fuzz FuzzParseParams -fuzztime $(FUZZTIME) ./protocol

clean:
	rm -rf bin data
