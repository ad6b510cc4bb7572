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

PKGS        := fuse3 libcurl openssl sqlite3 libxml-2.0 inih jansson libmicrohttpd libsystemd
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

.PHONY: all asan ubsan test unit integration deps install clean bench demo bench-s3

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

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

asan:
	$(MAKE) SANITIZER=address
ubsan:
	$(MAKE) SANITIZER=undefined

# Unit tests: one cmocka binary per module.
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# Integration tests mount the real filesystem (needs /dev/fuse, root or fuse group).
integration: all
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

# objfs vs s3fs, rclone and aws cli against one s3rver (on demand, never in CI).
bench-s3: all
	bench/run-s3.sh $(BENCH_ARGS)

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
	set -e; for u in systemd/*.service; do \
		n=$$(basename "$$u"); \
		sed 's|/usr/local/bin/|$(PREFIX)/bin/|g' "$$u" > "$(BUILD)/install/$$n"; \
		install -m 0644 "$(BUILD)/install/$$n" "$(DESTDIR)$(SYSTEMDDIR)/$$n"; \
	done

clean:
	rm -rf build
