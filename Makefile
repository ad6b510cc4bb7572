# objfs build. `make` builds build/objfs and build/objfs-ctl.
# Sanitizers: `make asan`, `make ubsan` (or `make SANITIZER=address|undefined`),
# which build into build/asan or build/ubsan so the normal build stays intact.

PREFIX      ?= /usr/local
DESTDIR     ?=
SANITIZER   ?=
ifeq ($(SANITIZER),)
BUILD       ?= build
else
BUILD       ?= build/$(SANITIZER)
endif

PKGS        := fuse3 libcurl openssl sqlite3 libxml-2.0 inih jansson libmicrohttpd libsystemd libmagic
CC          ?= cc
WARN        := -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-declarations \
               -Wwrite-strings -Wshadow -Wno-unused-parameter
CFLAGS      ?= -O2 -g
CFLAGS      += -std=gnu11 $(WARN) -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
               -Iinclude -Isrc $(shell pkg-config --cflags $(PKGS)) -pthread
LDLIBS      += $(shell pkg-config --libs $(PKGS)) -pthread
ifneq ($(SANITIZER),)
CFLAGS      += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS     += -fsanitize=$(SANITIZER)
endif

LIB_SRCS    := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJS    := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
HDRS        := $(wildcard src/*.h include/objfs/*.h tests/unit/*.h)
# The provider contract suite (tests/contract/README.md): one cmocka binary
# run against any provider; `make unit` runs it for mem and local.
CONTRACT    := $(BUILD)/tests/provider_contract
CONTRACT_LOCAL := $(abspath $(BUILD))/contract-local

.PHONY: all asan ubsan test unit integration deps install clean bench demo bench-s3 bench-cloud bench-ab

all: $(BUILD)/objfs $(BUILD)/objfs-ctl

$(BUILD)/obj/%.o: src/%.c $(HDRS) | $(BUILD)/obj
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libobjfs.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/objfs: $(BUILD)/obj/main.o $(BUILD)/libobjfs.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# objfs-ctl: tools/objfs-ctl.c (commands and the socket client) plus one
# tools/ctl_*.c per larger command (onboard, doctor, migrate).
CTL_SRCS    := tools/objfs-ctl.c $(wildcard tools/ctl_*.c)
$(BUILD)/objfs-ctl: $(CTL_SRCS) $(wildcard tools/*.h) $(BUILD)/libobjfs.a $(HDRS)
	$(CC) $(CFLAGS) -Itools $(LDFLAGS) -o $@ $(CTL_SRCS) $(BUILD)/libobjfs.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libobjfs.a $(HDRS) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libobjfs.a $(LDLIBS) $(shell pkg-config --libs cmocka)

$(CONTRACT): tests/contract/provider_contract.c $(BUILD)/libobjfs.a $(HDRS) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libobjfs.a $(LDLIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

asan:
	$(MAKE) SANITIZER=address
ubsan:
	$(MAKE) SANITIZER=undefined

# Unit tests: one cmocka binary per module, then the provider contract suite
# on the mem provider and on a local provider in a fresh directory.
unit: $(UNIT_BINS) $(CONTRACT)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done
	@echo "== $(CONTRACT) (mem, local)"
	@$(CONTRACT) --provider mem --bucket contract-mem
	@rm -rf $(CONTRACT_LOCAL) && mkdir -p $(CONTRACT_LOCAL)
	@printf '[objfs]\ncache_dir = %s/cache\ndefault_provider = local\n[provider local]\ntype = local\nroot = %s/root\n[tenant contract]\n' \
		$(CONTRACT_LOCAL) $(CONTRACT_LOCAL) > $(CONTRACT_LOCAL)/objfs.conf
	@$(CONTRACT) --config $(CONTRACT_LOCAL)/objfs.conf --provider local --bucket contract-local
	@rm -rf $(CONTRACT_LOCAL)

# Integration tests mount the real filesystem (needs /dev/fuse, root or fuse group).
integration: all $(CONTRACT)
	OBJFS_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -q -x tests/integration

# The whole suite: normal build, unit + integration tests, then the same under
# AddressSanitizer and UndefinedBehaviorSanitizer.
test:
	tests/run-all.sh

deps:
	tools/install-deps.sh

# Builds and mounts objfs on the local provider under /tmp/objfs-demo.
demo: all
	tools/demo-mount.sh

bench: all
	bench/run.sh

# The core benchmark for a baseline binary and this build, alternating, side
# by side: `make bench-ab BASE=/path/to/old/objfs` (on demand, never in CI).
bench-ab: all
	/usr/bin/python3 bench/ab.py --base $(BASE) --objfs $(abspath $(BUILD))/objfs $(BENCH_ARGS)

# objfs vs s3fs, rclone and aws cli against one s3rver (on demand, never in CI).
bench-s3: all
	bench/run-s3.sh $(BENCH_ARGS)

# objfs on gcs and azure vs rclone, against the GCS test server and Azurite
# (on demand, never in CI).
bench-cloud: all
	bench/run-cloud.sh $(BENCH_ARGS)

# `make install [DESTDIR=...] [PREFIX=/usr/local] [SBINDIR=/sbin] [SYSTEMDDIR=...]`
# installs objfs and objfs-ctl in $(PREFIX)/bin, the mount(8) helper in
# $(SBINDIR) (mount(8) looks for mount.TYPE in /sbin only, whatever the
# prefix) and the systemd units in $(SYSTEMDDIR).  The units and the helper
# name the daemon as /usr/local/bin/objfs; that path is rewritten to
# $(PREFIX)/bin here.  Idempotent (files are replaced whole); DESTDIR only
# prefixes where files go, never the paths written into them.
SBINDIR     ?= /sbin
SYSTEMDDIR  ?= $(PREFIX)/lib/systemd/system
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSTEMDDIR) $(BUILD)/install
	install -m 0755 $(BUILD)/objfs $(BUILD)/objfs-ctl $(DESTDIR)$(PREFIX)/bin/
	sed 's|/usr/local/bin/|$(PREFIX)/bin/|g' tools/mount.objfs > $(BUILD)/install/mount.objfs
	install -m 0755 $(BUILD)/install/mount.objfs $(DESTDIR)$(SBINDIR)/mount.objfs
	set -e; for u in systemd/*.service systemd/*.timer; do \
		n=$$(basename "$$u"); \
		sed 's|/usr/local/bin/|$(PREFIX)/bin/|g' "$$u" > "$(BUILD)/install/$$n"; \
		install -m 0644 "$(BUILD)/install/$$n" "$(DESTDIR)$(SYSTEMDDIR)/$$n"; \
	done

# ---- fuzz: the control-socket request handler under libFuzzer ----------------
# `make fuzz [FUZZ_SECONDS=60]` builds the library with clang, AddressSanitizer
# and coverage into build/fuzz, then runs tests/fuzz/fuzz_ctlsock_api.c for
# FUZZ_SECONDS from the seeds in tests/fuzz/corpus_ctlsock/ (inputs it finds go
# to build/fuzz/corpus_ctlsock, crashes to build/fuzz/crash-*); a crash fails.
FUZZ_SECONDS ?= 60
FUZZ_BUILD   ?= build/fuzz
FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -O1 -g -std=gnu11 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE \
                -D_FILE_OFFSET_BITS=64 -Iinclude -Isrc $(shell pkg-config --cflags $(PKGS)) \
                -pthread -fsanitize=address,fuzzer-no-link -fno-omit-frame-pointer
FUZZ_OBJS    := $(LIB_SRCS:src/%.c=$(FUZZ_BUILD)/obj/%.o)

.PHONY: fuzz
fuzz: $(FUZZ_BUILD)/fuzz_ctlsock_api
	rm -rf $(FUZZ_BUILD)/corpus_ctlsock && mkdir -p $(FUZZ_BUILD)/corpus_ctlsock
	cp tests/fuzz/corpus_ctlsock/* $(FUZZ_BUILD)/corpus_ctlsock/
	ASAN_OPTIONS=detect_leaks=1 $(FUZZ_BUILD)/fuzz_ctlsock_api -max_total_time=$(FUZZ_SECONDS) \
		-max_len=70000 -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus_ctlsock

$(FUZZ_BUILD)/obj/%.o: src/%.c $(HDRS) | $(FUZZ_BUILD)/obj
	@echo "  CC(fuzz) $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/libobjfs.a: $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_ctlsock_api: tests/fuzz/fuzz_ctlsock_api.c $(FUZZ_BUILD)/libobjfs.a $(HDRS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Itests/unit -o $@ $< \
		$(FUZZ_BUILD)/libobjfs.a $(LDLIBS)

$(FUZZ_BUILD)/obj:
	mkdir -p $@

clean:
	rm -rf build
