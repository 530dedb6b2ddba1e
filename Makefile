# smtpauth: smtpauthd (the server) and smtpauth (the tester).
# Plain GNU make; libraries found with pkg-config.  Objects go under build/.

CC ?= cc
PKG_CONFIG ?= pkg-config
INSTALL_DEPS ?= scripts/install-deps
PKGS := openssl libevent libevent_pthreads libcrypt libcares libidn
# Libraries of smtpauthd only, not of the tester: libsystemd (sd_notify),
# libldap (the ldap backend), hiredis and libevent_openssl (guard-store,
# rediss://), all in the auth process but libsystemd.
SERVER_PKGS := libsystemd ldap lber hiredis libevent_openssl

# pkg-config runs when a recipe first needs its answer, not when this file
# is read: "make demo" and "make check" install the libraries (deps) before
# that, so either works as the first command on a fresh machine.  Each
# answer is asked for once; a package pkg-config does not know stops make.
pkgconf = $(call pkgconf_ok,$(shell $(PKG_CONFIG) $1 $2 2>/dev/null && \
	echo :ok),$2)
pkgconf_ok = $(if $(filter :ok,$1),$(filter-out :ok,$1),$(error \
	pkg-config does not know $2: run "make deps" ($(INSTALL_DEPS))))
PKG_CFLAGS = $(eval PKG_CFLAGS := $(call pkgconf,--cflags,$(PKGS)))$(PKG_CFLAGS)
PKG_LIBS = $(eval PKG_LIBS := $(call pkgconf,--libs,$(PKGS)))$(PKG_LIBS)
SERVER_CFLAGS = $(eval SERVER_CFLAGS := $(call pkgconf,--cflags,$(SERVER_PKGS)))$(SERVER_CFLAGS)
SERVER_LIBS = $(eval SERVER_LIBS := $(call pkgconf,--libs,$(SERVER_PKGS)))$(SERVER_LIBS)
CMOCKA_CFLAGS = $(eval CMOCKA_CFLAGS := $(call pkgconf,--cflags,cmocka))$(CMOCKA_CFLAGS)
CMOCKA_LIBS = $(eval CMOCKA_LIBS := $(call pkgconf,--libs,cmocka))$(CMOCKA_LIBS)

BUILD ?= build
CFLAGS ?= -O2 -g
WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wpointer-arith \
	-Wmissing-prototypes -Wstrict-prototypes -Wno-unused-parameter
CPPFLAGS += -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) $(SERVER_CFLAGS)
LDLIBS += $(PKG_LIBS) -lpthread -lm
SAN_FLAGS :=

PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
# The example configuration's paths are under /etc/smtpauthd.
CONFDIR ?= /etc/smtpauthd
# systemd reads /usr/local/lib/systemd/system too; the package uses
# /lib/systemd/system.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

COMMON_SRC := $(wildcard src/common/*.c)
SERVER_SRC := $(filter-out src/server/main.c src/server/ctl_main.c,$(wildcard src/server/*.c src/server/*/*.c))
CLIENT_SRC := $(filter-out src/client/main.c,$(wildcard src/client/*.c))

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/%.o)
CLIENT_OBJ := $(CLIENT_SRC:%.c=$(BUILD)/%.o)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

PROGS := $(BUILD)/smtpauthd $(BUILD)/smtpauthctl
ifneq ($(wildcard src/client/main.c),)
PROGS += $(BUILD)/smtpauth
endif

PYTEST := /usr/bin/python3 -m pytest

.PHONY: all deps check check-unit check-e2e check-asan demo fuzz install \
	clean lint-man deb bench-dkim bench-scram

all: $(PROGS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(SAN_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libcommon.a: $(COMMON_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libserver.a: $(SERVER_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libclient.a: $(CLIENT_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/smtpauthd: $(BUILD)/src/server/main.o $(BUILD)/libserver.a $(BUILD)/libcommon.a
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(SERVER_LIBS) $(LDLIBS)

# The operator's command: the configuration parser and a socket, no more.
$(BUILD)/smtpauthctl: $(BUILD)/src/server/ctl_main.o $(BUILD)/libserver.a $(BUILD)/libcommon.a
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/smtpauth: $(BUILD)/src/client/main.o $(BUILD)/libclient.a $(BUILD)/libcommon.a
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests link against both libraries; cmocka is the framework.
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libserver.a $(BUILD)/libclient.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) -Wno-missing-prototypes $(CFLAGS) $(SAN_FLAGS) \
		$(CMOCKA_CFLAGS) $(UNIT_LDFLAGS) -o $@ $< \
		$(BUILD)/libserver.a $(BUILD)/libclient.a $(BUILD)/libcommon.a \
		$(CMOCKA_LIBS) $(SERVER_LIBS) $(LDLIBS)

# Its fsync(2) and fdatasync(2) calls go through the test's wrappers,
# which count them.
$(BUILD)/tests/test_maildir: UNIT_LDFLAGS = -Wl,--wrap=fsync -Wl,--wrap=fdatasync
$(BUILD)/tests/test_spool: UNIT_LDFLAGS = -Wl,--wrap=fsync -Wl,--wrap=fdatasync -Wl,--wrap=syncfs
# Its syncfs(2) calls too: whose run a caller took.
$(BUILD)/tests/test_durable: UNIT_LDFLAGS = -Wl,--wrap=syncfs

# The CPU a DKIM signature costs (bench/RESULTS.md); run by hand.
$(BUILD)/bench/dkim_sign: bench/dkim_sign.c $(BUILD)/libserver.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) -Wno-missing-prototypes $(CFLAGS) $(SAN_FLAGS) \
		-o $@ $< $(BUILD)/libserver.a $(BUILD)/libcommon.a $(LDLIBS)

bench-dkim: $(BUILD)/bench/dkim_sign
	$(BUILD)/bench/dkim_sign 2000

# The CPU of a SCRAM-SHA-256 exchange in the auth process; run by hand.
$(BUILD)/bench/scram_step: bench/scram_step.c $(BUILD)/libserver.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) -Wno-missing-prototypes $(CFLAGS) $(SAN_FLAGS) \
		-o $@ $< $(BUILD)/libserver.a $(BUILD)/libcommon.a $(LDLIBS)

bench-scram: $(BUILD)/bench/scram_step
	$(BUILD)/bench/scram_step 200000

deps:
	@$(INSTALL_DEPS)

check: deps
	@$(MAKE) --no-print-directory all unit-bins
	@$(MAKE) --no-print-directory check-unit
	@$(MAKE) --no-print-directory lint-man
	@scripts/check-layers
	@$(MAKE) --no-print-directory check-e2e

unit-bins: $(UNIT_BIN)

check-unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do \
		echo "== $$t"; CMOCKA_MESSAGE_OUTPUT=stdout $$t; done

check-e2e: $(PROGS)
	SMTPAUTH_BUILD=$(abspath $(BUILD)) $(PYTEST) -q -p no:cacheprovider tests/e2e

# The whole suite again under AddressSanitizer and UndefinedBehaviorSanitizer,
# in its own build directory.
check-asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="-O1 -g" \
		SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		all unit-bins
	@$(MAKE) --no-print-directory BUILD=build/asan check-unit
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		SMTPAUTH_BUILD=$(abspath build/asan) SMTPAUTH_SANITIZED=1 \
		$(PYTEST) -q -p no:cacheprovider tests/e2e

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
# Seeds written by other mail projects, read in place when present.
PEER_SEEDS := ../shared/peer-suites/fuzz-seeds
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

# libFuzzer harnesses (clang), each run briefly over its committed corpus.
fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang CFLAGS="-O1 -g" \
		SAN_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" \
		$(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/fuzz/%)
	@set -e; for f in $(FUZZ_SRC:tests/fuzz/%.c=%); do \
		echo "== $$f"; \
		mkdir -p build/fuzz/corpus/$$f; \
		peer=""; \
		case $$f in \
		fuzz_session) peer=$(PEER_SEEDS)/smtp-sessions ;; \
		fuzz_sasl) peer=$(PEER_SEEDS)/sasl-responses ;; \
		esac; \
		[ -n "$$peer" ] && [ -d "$$peer" ] || peer=""; \
		build/fuzz/fuzz/$$f -max_total_time=$${FUZZ_SECONDS:-20} \
			build/fuzz/corpus/$$f tests/fuzz/corpus/$$f $$peer; done

$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libserver.a $(BUILD)/libclient.a \
    $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) -Wno-missing-prototypes $(CFLAGS) \
		-fsanitize=fuzzer,address,undefined -o $@ $< \
		$(BUILD)/libserver.a $(BUILD)/libclient.a $(BUILD)/libcommon.a \
		$(SERVER_LIBS) $(LDLIBS)

# mandoc -Tlint, and groff (what man(1) uses on Debian) must render every
# section with the same words as mandoc: see scripts/lint-man.
lint-man:
	@scripts/lint-man doc/*.[1-8]

# The build runs in a make of its own, after deps: with -j it must not
# start before the packages are there.
demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 755 $(BUILD)/smtpauthd $(DESTDIR)$(SBINDIR)/smtpauthd
	install -m 755 $(BUILD)/smtpauthctl $(DESTDIR)$(SBINDIR)/smtpauthctl
	if [ -f $(BUILD)/smtpauth ]; then \
		install -d $(DESTDIR)$(PREFIX)/share/man/man1; \
		install -m 755 $(BUILD)/smtpauth $(DESTDIR)$(PREFIX)/bin/smtpauth; fi
	for m in doc/*.[1-8]; do s=$${m##*.}; \
		install -d $(DESTDIR)$(PREFIX)/share/man/man$$s; \
		install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@CONFDIR@|$(CONFDIR)|g' \
		etc/systemd/smtpauthd.service.in > $(BUILD)/smtpauthd.service
	install -m 644 $(BUILD)/smtpauthd.service \
		$(DESTDIR)$(SYSTEMDUNITDIR)/smtpauthd.service

# The Debian packages (debian/), built from a copy of the tree in
# $(BUILD)/deb/src so that dpkg-buildpackage's output lands in $(BUILD)/deb
# and not in the checkout's parent, which may not be ours to write.
DEB_DIR := $(BUILD)/deb
deb:
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	tar -C . --exclude=./build --exclude=./.git -cf - . | \
		tar -C $(DEB_DIR)/src -xf -
	cd $(DEB_DIR)/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD \
		dpkg-buildpackage -us -uc -b
	@ls $(DEB_DIR)/*.deb

clean:
	rm -rf build

# Not the package build's copy of the tree (its own make reads those).
-include $(shell find $(BUILD) -path $(BUILD)/deb -prune -o -name '*.d' \
	-type f -print 2>/dev/null)
