# Atrium build. `make` builds build/atriumd and build/plugins/*.so;
# `make run` installs what is missing, builds, seeds the demo practice and
# starts the portal; `make test` runs every suite; `make check-asan` runs the
# C and integration suites under AddressSanitizer + UBSan.

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
VERSION := 0.1.0

PKGS := libmicrohttpd sqlite3 inih jansson lua5.4 libsodium liboath libqrencode libcurl

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wcast-qual -Wsign-compare -fno-common
OPT  ?= -O2 -g
SAN  ?=
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl is compiled against but not linked: core/curl_dyn.c loads it only
# when email or the webhook is switched on (it costs ~3.5 MB of RSS).
PKG_LIBS   := $(shell pkg-config --libs $(filter-out libcurl,$(PKGS)) 2>/dev/null)

CFLAGS_ALL = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(OPT) $(WARN) $(SAN) \
             -fPIC -Isdk/include -Icore $(PKG_CFLAGS) \
             -DATRIUM_VERSION='"$(VERSION)"' $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lcrack -ldl -lpthread -lm $(LDLIBS)

CORE_SRC  := $(filter-out core/main.c,$(wildcard core/*.c))
CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/%.o)
PLUGINS   := $(notdir $(patsubst %/,%,$(dir $(wildcard plugins/*/plugin.mk))))
PLUGIN_SO := $(PLUGINS:%=$(BUILD)/plugins/%.so)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:%.c=$(BUILD)/%)

.PHONY: all plugin-ui docs run deps test unit integration e2e check-asan bench install \
        clean format demo-db

all: $(BUILD)/atriumd $(PLUGIN_SO) plugin-ui

# Each plugin's ui/ folder goes beside its .so as <name>/ui, where the
# plugin registers it (relative to its own file) and where `make install`
# puts it too. Updated in place (cp -u), never removed first: a daemon
# starting meanwhile (tests run make install in parallel) must find it.
plugin-ui:
	@for p in $(PLUGINS); do if [ -d plugins/$$p/ui ]; then \
	    mkdir -p $(BUILD)/plugins/$$p/ui; \
	    cp -ru plugins/$$p/ui/. $(BUILD)/plugins/$$p/ui/; fi; done

.SECONDEXPANSION:

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/libcore.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/atriumd: $(BUILD)/core/main.o $(BUILD)/libcore.a
	$(CC) $(SAN) -o $@ $^ $(LDLIBS_ALL)

# Each plugin folder has a plugin.mk naming its sources (PLUGIN_SRC_<name>)
# and extra libraries; plugins link against libjansson only, with -z defs so
# a stray reference to a core symbol fails here, not at a practice's dlopen.
-include $(wildcard plugins/*/plugin.mk)
PLUGIN_CFLAGS = -std=c11 -D_DEFAULT_SOURCE $(OPT) $(WARN) $(SAN) -fPIC \
                -fvisibility=hidden -Isdk/include \
                $(shell pkg-config --cflags jansson)
# (Sanitizer builds leave -z defs out: the sanitizer runtime is in the
# daemon, so a plugin built with -fsanitize has references only it fills.)
PLUGIN_LDFLAGS = -shared $(if $(SAN),,-Wl,-z,defs) $(SAN)

$(BUILD)/plugins/%.so: $$(PLUGIN_SRC_$$*) $(wildcard sdk/include/atrium/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) $(PLUGIN_LDFLAGS) -o $@ $(PLUGIN_SRC_$*) \
	    $(shell pkg-config --libs jansson) $(PLUGIN_LIBS_$*)

# Unit tests: one cmocka binary per tests/unit/test_*.c, linked with the core
# (plus TEST_EXTRA_SRC_<name>, e.g. a plugin's sources linked statically).
TEST_EXTRA_SRC_plugin_static := sdk/examples/faq/faq.c
TEST_EXTRA_CFLAGS_plugin_static := -DATR_STATIC_PLUGIN
TEST_EXTRA_SRC_scheduling_plans := plugins/scheduling/migrations.c
# test_db_writer makes fdatasync fail on demand.
TEST_EXTRA_CFLAGS_db_writer := -Wl,--wrap=fdatasync

$(BUILD)/tests/unit/test_%: tests/unit/test_%.c $(BUILD)/libcore.a \
		$$(TEST_EXTRA_SRC_$$*)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(TEST_EXTRA_CFLAGS_$*) -Wno-missing-prototypes \
	    -o $@ $< $(TEST_EXTRA_SRC_$*) $(BUILD)/libcore.a $(LDLIBS_ALL) -lcmocka

-include $(CORE_OBJ:.o=.d) $(BUILD)/core/main.d

deps:
	@sh scripts/deps.sh

run: deps all
	@sh scripts/run.sh

unit: $(UNIT_BIN)
	@sh scripts/run-unit.sh $(BUILD) $(UNIT_BIN)

integration: all
	@BUILD=$(abspath $(BUILD)) node --test --test-reporter=tap --test-concurrency=2 \
	    tests/integration/*.test.js 2>&1 | tee $(BUILD)/integration.log

e2e: all
	@BUILD=$(abspath $(BUILD)) node --test --test-reporter=tap --test-concurrency=1 \
	    tests/e2e/*.test.js 2>&1 | tee $(BUILD)/e2e.log

# Everything: unit, integration, browser, then the same C and integration
# suites under ASan/UBSan. Ends with "N passed, N failed".
test:
	@sh scripts/test-all.sh

check-asan:
	@$(MAKE) --no-print-directory BUILD=build-asan CC=clang \
	    OPT='-O1 -g -fno-omit-frame-pointer' \
	    SAN='-fsanitize=address,undefined -fno-sanitize-recover=undefined' \
	    all unit integration

docs: all
	@BUILD=$(abspath $(BUILD)) node scripts/events-doc.js > docs/events.md

bench: all
	@sh bench/run.sh

install: all
	@sh scripts/install.sh "$(DESTDIR)$(PREFIX)" "$(BUILD)" "$(VERSION)"

format:
	clang-format -i core/*.c core/*.h sdk/include/atrium/*.h plugins/*/*.c

clean:
	rm -rf build build-asan
