# tlreconcile — `make demo` runs the main job on the embedded sim driver,
# `make test` runs every test. Both install what they need first (scripts/install-deps.sh).
GO       ?= go
BIN      ?= bin/tlreconcile
PKGS     ?= ./...
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(HOME)/go/bin/staticcheck)
export CGO_ENABLED = 1

.PHONY: all build build-deps deps install test test-short test-e2e lint fuzz bench bench-fleet demo golden clean

all: build

build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/tlreconcile

## deps: what `make test` needs (apt: swtpm, tpm2-tools, gcc, libssl-dev, nodejs,
## npm; npm: the PowerShell grammar, yaml-language-server); build-deps: only what
## building needs (gcc, libssl-dev). DEPS_FLAGS=--dry-run says what would be installed.
DEPS_FLAGS ?=
deps:
	@bash scripts/install-deps.sh $(DEPS_FLAGS) test

build-deps:
	@bash scripts/install-deps.sh $(DEPS_FLAGS) build

## install: bin/tlreconcile into $(PREFIX)/bin. The default PREFIX is the first
## GOPATH entry (usually ~/go), where `go install ./cmd/tlreconcile` puts it too;
## PREFIX=/usr/local for a system-wide install.
PREFIX ?= $(firstword $(subst :, ,$(shell $(GO) env GOPATH)))
install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/tlreconcile

## test: vet, then every test with the race detector (swtpm, tpm2-tools, node and
## the node packages are installed first when missing).
test: deps
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

## test-e2e: the real boot of issue 12. QEMU (TCG) with OVMF Secure Boot and swtpm
## boots Debian's signed shim, GRUB and kernel with the guest agent (CGO_ENABLED=0)
## as init, once with the Microsoft-keyed vars (Secure Boot on) and once with the
## plain vars (off); the host verifies each attestation. The boot chain is unpacked
## into E2E_CACHE, never installed. About a minute; TLR_E2E_ACCEL=kvm to try KVM.
E2E_CACHE ?= $(CURDIR)/.cache/e2e
test-e2e:
	@bash scripts/e2e-boot-deps.sh $(E2E_CACHE)
	TLR_E2E_BOOT=1 TLR_E2E_CACHE=$(E2E_CACHE) $(GO) test -count=1 -v -timeout 20m -run 'TestBoot' ./internal/e2eboot/

test-short:
	$(GO) test -short -count=1 $(PKGS)

lint:
	@test -x "$(STATICCHECK)" || $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)

## golden: rewrite every golden file under testdata/ through internal/golden's one
## -update flag, then review `git diff` before committing. Only packages whose
## tests import internal/golden get the flag (other test binaries reject it), so
## this is `go test ./... -update` restricted to them.
GOLDEN_PKG = github.com/tlreconcile/tlreconcile/internal/golden
golden:
	$(GO) test -count=1 $$($(GO) list -f '{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}' $(PKGS) | \
	  awk '/ $(subst /,\/,$(GOLDEN_PKG))( |$$)/ {print $$1}') -update

## fuzz: run every fuzz target for FUZZTIME each (default 20s).
FUZZTIME ?= 20s
fuzz:
	@$(GO) list -f '{{.ImportPath}} {{.Dir}}' $(PKGS) | while read -r pkg dir; do \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg || exit 1; \
	  done; done

## bench: every benchmark once (numbers for the issue notes).
BENCHTIME ?= 1x
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -timeout 60m $(PKGS)

## bench-fleet: validate and plan 1,000 / 10,000 / 100,000 generated VMs (wall, CPU,
## peak RSS from /usr/bin/time -v, beside kubeconform when installed); SIZES, REPEAT.
bench-fleet:
	@bash bench/fleet.sh

## demo: the main job on the sim driver, in a throw-away state dir. It needs no
## node (it parses no PowerShell) and no swtpm (the reference TPM).
DEMO_STATE ?= $(CURDIR)/.tlreconcile-demo
demo: build-deps build
	@rm -rf $(DEMO_STATE)
	@bash scripts/demo.sh $(BIN) $(DEMO_STATE)

clean:
	rm -rf bin .tlreconcile .tlreconcile-demo
