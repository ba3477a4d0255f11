# simscan: a QMAILQUEUE content scanner for qmail.
#
#   make demo      run simscan on the samples in testdata/demo (no daemons needed)
#   make test      every test, with the real clamd, spamd and qpsmtpd
#   make bench     the benchmark matrix (bench/README.md)
#   make install   install into $(DESTDIR)$(QMAILDIR)/bin (root)

VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
QMAILDIR   ?= /var/qmail
CONTROLDIR ?= $(QMAILDIR)/control
WORKDIR    ?= $(QMAILDIR)/simscan
DESTDIR    ?=
GO         ?= go
STATICCHECK_VERSION ?= v0.8.2

PKG     := github.com/gosimscan/simscan
LDFLAGS := -s -w -X main.version=$(VERSION) -X $(PKG)/control.DefaultDir=$(CONTROLDIR) \
           -X $(PKG)/control.DefaultWorkDir=$(WORKDIR) -X $(PKG)/control.DefaultQmailQueue=$(QMAILDIR)/bin/qmail-queue
BINS    := simscan simscanmk simscanctl

export DESTDIR QMAILDIR CONTROLDIR WORKDIR VERSION
export PATH := $(shell $(GO) env GOPATH)/bin:$(PATH)

.PHONY: all build demo test test-deps unit bench soak fmt check vet staticcheck install uninstall clean

all: build

build:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ $(addprefix ./cmd/,$(BINS))

demo: build
	@scripts/demo.sh

test-deps:
	@scripts/test-deps.sh

# Every test: format and static checks first, then the whole suite, which
# starts the real clamd, spamd and qpsmtpd itself.
test: test-deps check
	$(GO) test -count=1 -timeout 40m ./...

unit:
	$(GO) test -count=1 -short ./...

bench: build test-deps
	@scripts/bench.sh

soak: build test-deps
	SIMSCAN_SOAK=5000 $(GO) test -count=1 -timeout 60m -run TestSoak -v ./bench/

fmt:
	gofmt -w $$(git ls-files '*.go')

check: vet staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	staticcheck ./...

# install uses what make build left in bin/ and builds only when a binary is
# missing, so "make && sudo make install" does not need Go in root's PATH.
install:
	@[ -x bin/simscan ] && [ -x bin/simscanmk ] && [ -x bin/simscanctl ] || $(MAKE) build
	@scripts/install.sh install

uninstall:
	@scripts/install.sh uninstall

clean:
	rm -rf bin bench/out
