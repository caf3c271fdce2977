# ttc: compute-optimal test-time scaling in C.
#   make            library (build/libttc.a, build/libttc.so) and CLI (build/ttc)
#   make check      every test (Criterion), closing line "N passed, N failed"
#   make check-asan the suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       libFuzzer targets, FUZZ_SECONDS each
#   make install PREFIX=/usr/local
BUILD   ?= build
CC      ?= gcc
PREFIX  ?= /usr/local
OPT     ?= -O2
SAN     ?=
FUZZ_SECONDS ?= 20

override CFLAGS += -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -pthread -fPIC -g $(OPT) \
           -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror=implicit-function-declaration -MMD -MP
override LDLIBS += -ljansson -lpcre2-8 -lmicrohttpd -lcurl -lm -lpthread
ifeq ($(SAN),1)
override CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
override LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC   := $(sort $(wildcard src/*/*.c))
TOOL_SRC  := $(sort $(wildcard tools/*.c))
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TESTU_SRC := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
FUZZ_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
TOOL_OBJ  := $(TOOL_SRC:%.c=$(BUILD)/obj/%.o)
TESTU_OBJ := $(TESTU_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.SECONDARY:
.PHONY: all check check-asan conformance fuzz install clean setup bench run models loadtest
all: $(BUILD)/libttc.a $(BUILD)/libttc.so $(BUILD)/ttc

# Debian packages: installed once by scripts/setup.sh (idempotent).
$(BUILD)/.setup: scripts/setup.sh
	@mkdir -p $(BUILD) && scripts/setup.sh && touch $@
setup: $(BUILD)/.setup

$(BUILD)/obj/%.o: %.c | $(BUILD)/.setup
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libttc.a: $(LIB_OBJ)
	@rm -f $@ && ar rcs $@ $^
$(BUILD)/libttc.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/ttc: $(TOOL_OBJ) $(BUILD)/libttc.a
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/libttc.a $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TESTU_OBJ) $(BUILD)/libttc.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(TESTU_OBJ) $(BUILD)/libttc.a -lcriterion $(LDLIBS)
$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libttc.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libttc.a $(LDLIBS)

check: all $(TEST_BIN)
	@scripts/run_tests.sh $(BUILD) $(TEST_BIN)

# llama.cpp conformance: installs llama.cpp's prebuilt library from npm
# (skips cleanly without npm or network), then runs the comparison.
conformance: all $(BUILD)/tests/test_conformance
	scripts/conformance-setup.sh && $(BUILD)/tests/test_conformance

check-asan:
	$(MAKE) BUILD=build-asan SAN=1 OPT=-O1 check

# libFuzzer: clang, every library source compiled with the fuzzer's coverage.
fuzz: | $(BUILD)/.setup
	$(MAKE) BUILD=build-fuzz CC=clang OPT=-O1 \
	  CFLAGS="-fsanitize=fuzzer-no-link,address,undefined" \
	  LDFLAGS="-fsanitize=address,undefined" build-fuzz/libttc.a
	@mkdir -p build-fuzz/fuzz
	@set -e; for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  clang -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -g -O1 -fsanitize=fuzzer,address,undefined \
	    -o build-fuzz/fuzz/$$n $$f build-fuzz/libttc.a $(LDLIBS); \
	  mkdir -p build-fuzz/corpus/$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  build-fuzz/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	    build-fuzz/corpus/$$n $$( [ -d fuzz/seeds/$$n ] && echo fuzz/seeds/$$n ) 2>&1 | tail -n 3; \
	done

# The main job: the compute-optimal experiment on the bundled models.
run: all
	scripts/run.sh $(BUILD)

# Speed report (bench/results.md), the bundled models, the load test.
bench: all $(BENCH_BIN)
	scripts/bench.sh $(BUILD)
models: all
	scripts/make_models.sh $(BUILD)
loadtest: all
	scripts/loadtest.sh $(BUILD)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(BUILD)/ttc $(DESTDIR)$(PREFIX)/bin/ttc
	install -m 644 $(BUILD)/libttc.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libttc.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/ttc*.h $(DESTDIR)$(PREFIX)/include/
	for h in src/*/*.h; do d=$(DESTDIR)$(PREFIX)/include/ttc/$$(basename $$(dirname $$h)); \
	  install -d $$d && install -m 644 $$h $$d/; done
	sed -e 's|@PREFIX@|$(PREFIX)|' scripts/ttc.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ttc.pc

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
