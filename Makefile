# imgbuild: one non-recursive Makefile.
#   make            ./imgbuild
#   make check      unit + conformance + end-to-end tests ("N passed, N failed")
#   make asan       the same tests under ASan+UBSan (objects in build-asan/)
#   make fuzz       libFuzzer on the Dockerfile front end for FUZZ_TIME seconds
#   make lint       clang-format and include-rule checks
#   make bench      builds vs BuildKit and Buildah (root; bench/deps.sh installs the peers)

BUILD   ?= build
CC      ?= cc
RE2C    ?= re2c
PKGS     = libarchive openssl jansson libcurl zlib libzstd libdeflate libseccomp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# not linked with libcurl or libarchive: registry/curl_load.c and store/archive_load.c dlopen()
# them on first use (libcurl's ~25 libraries would add ~20 ms to every start, libarchive's
# libxml2, ICU and libstdc++ ~5 ms); the headers still come from their -dev packages
PKG_LIBS   := $(shell pkg-config --libs $(filter-out libcurl libarchive,$(PKGS)) 2>/dev/null)

WARN = -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
       -Wold-style-definition -Wpointer-arith -Wvla -Wwrite-strings -Wundef \
       -Wimplicit-fallthrough -Wswitch-enum -Wno-missing-field-initializers -fno-common
HARDEN = -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
OPT    ?= -O2 -g
SANITIZE ?=
ifneq ($(SANITIZE),)
  SANFLAGS = -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
  HARDEN = -fPIE
endif
CFLAGS  ?=
CFLAGS  += -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(OPT) $(WARN) $(HARDEN) $(SANFLAGS) \
           -I. -I$(BUILD) $(PKG_CFLAGS)
# -z now: bind every symbol at start-up (full RELRO).  Lazy binding would write the GOT in
# each sandbox child (a copy-on-write page fault per page) the first time it calls a function.
LDFLAGS += -pie -Wl,-z,relro,-z,now $(SANFLAGS)
LDLIBS  += $(PKG_LIBS) -lpthread
RE2CFLAGS = -W -Werror --no-generation-date --no-version

# Library modules (everything but the CLI) go into one static library.
MODULES   = common parser store registry builder
LIB_SRCS  = $(filter-out common/test.c,$(foreach m,$(MODULES),$(wildcard $(m)/*.c)))
RE_SRCS   = $(foreach m,$(MODULES),$(wildcard $(m)/*.re))
GEN_SRCS  = $(patsubst %.re,$(BUILD)/%.c,$(RE_SRCS))
CLI_SRCS  = $(wildcard cli/*.c)
LIB_OBJS  = $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(patsubst %.c,%.o,$(GEN_SRCS))
CLI_OBJS  = $(patsubst %.c,$(BUILD)/obj/%.o,$(CLI_SRCS))
LIB       = $(BUILD)/libimgbuild.a
BIN       = $(if $(filter build,$(BUILD)),imgbuild,$(BUILD)/imgbuild)

TEST_SRCS = $(foreach m,$(MODULES),$(wildcard $(m)/tests/test_*.c))
TEST_BINS = $(patsubst %.c,$(BUILD)/%,$(TEST_SRCS))
TEST_OBJ  = $(BUILD)/obj/common/test.o
# helper programs the end-to-end tests use (testdata/*/NAME.c -> $(BUILD)/testdata/NAME)
TOOL_SRCS = $(wildcard testdata/tools/*.c)
TOOL_BINS = $(patsubst %.c,$(BUILD)/%,$(TOOL_SRCS))

.PHONY: all check test-bins asan fuzz lint clean deps-check demo bench
.DELETE_ON_ERROR:

all: deps-check $(BIN)

deps-check:
	@command -v $(RE2C) >/dev/null || { echo "error: re2c (>= 3.0) is required: apt-get install re2c" >&2; exit 1; }
	@test "$$($(RE2C) --vernum)" -ge 30000 || { echo "error: re2c >= 3.0 is required" >&2; exit 1; }
	@pkg-config --exists $(PKGS) || { echo "error: missing -dev packages for: $(PKGS) (see README)" >&2; exit 1; }

$(BIN): $(CLI_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(LIB) $(LDLIBS)

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# re2c output lives only in $(BUILD); #line directives point back into the .re file.
$(BUILD)/%.c: %.re
	@mkdir -p $(@D)
	$(RE2C) $(RE2CFLAGS) -o $@ $<

# generated lexers: relax the warnings that re2c's output trips
$(patsubst %.c,%.o,$(GEN_SRCS)): %.o: %.c
	$(CC) $(CFLAGS) -Wno-unused-label -Wno-implicit-fallthrough -Wno-switch-enum -MMD -MP -c -o $@ $<

$(TEST_BINS): $(BUILD)/%: %.c $(TEST_OBJ) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -MMD -MP -o $@ $< $(TEST_OBJ) $(LIB) $(LDLIBS)

$(TOOL_BINS): $(BUILD)/%: %.c
	@mkdir -p $(@D)
	$(CC) -O2 -static -o $@ $<

test-bins: $(BIN) $(TEST_BINS) $(TOOL_BINS)

# The README's test command is `make check` after installing dependencies.
check: all test-bins
	@BUILD=$(BUILD) IMGBUILD=$(abspath $(BIN)) tests/run-tests.sh $(TEST_BINS) $(sort $(wildcard testdata/e2e/[0-9]*.sh))

# the same Dockerfiles built by imgbuild, BuildKit (dockerd) and Buildah, in one run: times
# and ratios (RUNS=N rounds, default 3)
bench: all
	bench/builds.sh

# The README's first command ends here: a real build of the bundled example, in a
# temporary store, over a busybox image made offline (busybox-static).
DEMO_ROOT ?= $(BUILD)/demo-store
demo: all
	rm -rf $(DEMO_ROOT) $(DEMO_ROOT).snapshots
	testdata/make-busybox-rootfs.sh $(BUILD)/demo-rootfs $(BUILD)/demo-busybox.tar >/dev/null
	./imgbuild --root $(DEMO_ROOT) import $(BUILD)/demo-busybox.tar busybox:latest
	./imgbuild --root $(DEMO_ROOT) build --progress plain -t hello:latest Dockerfiles/hello
	./imgbuild --root $(DEMO_ROOT) build --progress plain -t hello:latest Dockerfiles/hello
	./imgbuild --root $(DEMO_ROOT) images

asan:
	$(MAKE) BUILD=build-asan SANITIZE=address,undefined OPT="-O1 -g" check

FUZZ_TIME ?= 60
FUZZ_CC   ?= clang
FUZZ_SRCS  = $(filter-out common/test.c,$(wildcard common/*.c)) $(wildcard parser/*.c)
fuzz: $(BUILD)/parser/lexer.c
	@mkdir -p $(BUILD)/fuzz $(BUILD)/fuzz/corpus
	$(FUZZ_CC) -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -I. -I$(BUILD) \
	  -o $(BUILD)/fuzz/fuzz_parser parser/tests/fuzz_parser.c $(FUZZ_SRCS) $(BUILD)/parser/lexer.c
	tests/fuzz-seed.sh $(BUILD)/fuzz/seeds
	$(BUILD)/fuzz/fuzz_parser -max_total_time=$(FUZZ_TIME) -max_len=8192 -timeout=10 \
	  -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus $(BUILD)/fuzz/seeds testdata/fuzz

lint:
	tests/lint.sh

clean:
	rm -rf build build-asan imgbuild

-include $(shell find $(BUILD) -name "*.d" 2>/dev/null)
