# corolab - every entry point. "make help" lists them.
#
# Variables:
#	CH=N[,N]	grade only these chapters
#	BORROW=N[,N]|all  take these chapters from solutions/ (make grade)
#	LAB=DIR		grade a submission laid out like lab/ (default lab)
#	SAN=1		build with AddressSanitizer and UBSan
#	NOFPU=1		a switch that keeps no floating-point control per
#			context (solutions/ctx.h says when that is safe)
#	NOSAN=1		make grade: skip its run under the sanitizers
#	FORCE=1		let "make lab" overwrite edits in lab/
#	TODO=name	make hint: the TODO whose next hint to show
#	ARCH=aarch64	make test: the kit cross-built for 64-bit ARM and run
#			under qemu-user (tests/kit/cross.sh)

CC ?= cc
CFLAGS := -std=gnu11 -Wall -Wextra -Werror -g -O2 -fno-omit-frame-pointer
LDFLAGS :=
BUILD := build
SANCFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
SANLDFLAGS := -fsanitize=address,undefined
ifeq ($(SAN),1)
CFLAGS += $(SANCFLAGS)
LDFLAGS += $(SANLDFLAGS)
BUILD := build/san
# Sanitized code runs slower: give each test more time.
export CK_TIMEOUT_MULTIPLIER ?= 4
# Graphviz and fontconfig leak memory of their own, on purpose.
export LSAN_OPTIONS ?= suppressions=$(CURDIR)/tests/visualizer/lsan.supp
endif
ifeq ($(NOFPU),1)
CFLAGS += -DCL_CTX_NOFPU
BUILD := $(BUILD)/nofpu
endif
export CC CFLAGS LDFLAGS

LAB ?= lab
VARIANT := $(MAKE) --no-print-directory -f tests/kit/variant.mk
HAVE_SOLUTIONS := $(wildcard solutions/README.md)

# cotrace, the visualizer: $(COTRACE) and its rules.
OUT := $(BUILD)/visualizer
include visualizer/cotrace.mk

.PHONY: help deps deps-chat demo examples pictures test grade hint lab lab-check \
	handout bench valgrind tsan mutants clean ref

help:
	@echo "corolab targets:"
	@echo "  make demo        install what is missing, build, run the examples"
	@echo "  make examples    build the examples on your lab/ (build/lab/examples)"
	@echo "  make test        the kit's self-test: reference, promises, examples"
	@echo "                   (ARCH=aarch64: cross-built for ARM, run under qemu)"
	@echo "  make grade       grade lab/ (CH=N, BORROW=N|all, LAB=DIR, NOSAN=1);"
	@echo "                   under the sanitizers too; results in"
	@echo "                   build/grade/results.json (Gradescope format)"
	@echo "  make hint        CH=N: list chapter N's TODOs; CH=N TODO=name: the"
	@echo "                   TODO's next hint, one level at a time (counted in the grade)"
	@echo "  make lab         regenerate lab/ from solutions/ (FORCE=1 to discard edits)"
	@echo "  make lab-check   fail if lab/ is not exactly what make lab writes"
	@echo "  make handout     pack the kit without solutions/ for students"
	@echo "  make cotrace     build the trace visualizer (build/visualizer/cotrace)"
	@echo "  make pictures    redraw the timelines in chapters/*/img from the examples"
	@echo "  make bench       benchmarks against ucontext, Boost.Context, libuv, CPython"
	@echo "  make valgrind    the reference tests under valgrind (CH=N)"
	@echo "  make tsan        chapter 07's thread tests under ThreadSanitizer,"
	@echo "                   each run REPEAT times (default 100)"
	@echo "  make mutants     CH=N: mutants of chapter N's regions the tests miss"
	@echo "  make clean       remove build/ (the tree is then as cloned)"
	@echo "  SAN=1 make ...   any of them under AddressSanitizer + UBSan"
	@echo "  NOFPU=1 make ... with a switch that saves no floating-point control"

deps:
	@sh tests/kit/deps.sh

# Chapter 08's tests start a redis-server, a headless Chromium and
# Python's websockets: the targets that run them install those too (a
# few hundred MB).
deps-chat:
	@sh tests/kit/deps.sh chat

$(BUILD)/labgen: tests/labgen.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< $(LDFLAGS) -o $@

# The reference build: solutions/ as it is.
ref: deps
	@$(VARIANT) SRC=solutions OUT=$(BUILD)/ref all examples

# The examples on the student's lab/ (LAB=DIR for another tree).
examples: deps
	@$(VARIANT) SRC=$(LAB) OUT=$(BUILD)/lab examples

# The demo runs on the reference, or, in a handout (no solutions/), on
# lab/: then the chapters not done yet say so.
ifeq ($(HAVE_SOLUTIONS),)
demo: examples $(COTRACE) $(BUILD)/labgen
	@sh tests/kit/demo.sh $(BUILD)/lab $(COTRACE) $(BUILD)/demo \
		$(BUILD)/labgen $(LAB)
else
demo: ref $(COTRACE)
	@sh tests/kit/demo.sh $(BUILD)/ref $(COTRACE) $(BUILD)/demo
endif

pictures: ref $(COTRACE)
	@sh tests/kit/pictures.sh $(BUILD)/ref $(COTRACE)

ifeq ($(ARCH),aarch64)
# The kit on 64-bit ARM: Debian's cross compiler, qemu-user and the
# arm64 builds of the libraries (some 300 MB), installed when missing.
test:
ifeq ($(HAVE_SOLUTIONS),)
	@echo "make test ARCH=aarch64 checks the kit's reference, solutions/, which this copy does not have."
	@exit 1
endif
	@sh tests/kit/deps.sh aarch64
	@sh tests/kit/cross.sh $(BUILD)
else ifneq ($(ARCH),)
test:
	@echo "ARCH=$(ARCH): make test knows ARCH=aarch64 (the host's own needs no ARCH)"
	@exit 1
else
test: deps-chat $(BUILD)/labgen $(COTRACE)
ifeq ($(HAVE_SOLUTIONS),)
	@echo "make test checks the kit against solutions/, which this copy does not have."
	@echo "Grade your lab with: make grade"
	@exit 1
endif
	@sh tests/kit/selftest.sh $(BUILD)
endif

# Grade a lab tree, taking BORROW's chapters from solutions/. The
# grader's exit status is ignored: a low score is not a build failure.
GRADE_SRC := $(LAB)
ifneq ($(BORROW),)
GRADE_SRC := $(BUILD)/borrow/src
endif
grade: deps-chat $(BUILD)/labgen $(COTRACE)
ifneq ($(BORROW),)
ifeq ($(HAVE_SOLUTIONS),)
	@echo "BORROW is unavailable here: this copy of the kit has no solutions/."
	@exit 1
endif
	@rm -rf $(BUILD)/borrow/src
	@$(BUILD)/labgen mix solutions $(LAB) $(BUILD)/borrow/src $(BORROW)
endif
	@$(VARIANT) -s SRC=$(GRADE_SRC) OUT=$(BUILD)/grade all
	@rm -rf $(BUILD)/grade/traces && mkdir -p $(BUILD)/grade/traces
ifneq ($(SAN)$(NOSAN),)
	@$(BUILD)/grade/grade $(if $(CH),-c $(CH)) \
		-j $(BUILD)/grade/results.json -t $(BUILD)/grade/traces \
		-v $(COTRACE) -h $(LAB)/.hints-taken || true
else
	@$(VARIANT) -s SRC=$(GRADE_SRC) OUT=$(BUILD)/grade-san \
		CFLAGS="$(CFLAGS) $(SANCFLAGS)" LDFLAGS="$(LDFLAGS) $(SANLDFLAGS)" all
	@$(BUILD)/grade/grade $(if $(CH),-c $(CH)) \
		-j $(BUILD)/grade/results.json -t $(BUILD)/grade/traces \
		-v $(COTRACE) -S $(BUILD)/grade-san/grade \
		-h $(LAB)/.hints-taken || true
endif
	@echo "results: $(BUILD)/grade/results.json"

# make hint CH=N [TODO=name]: the hint ladder (tests/labgen.c), from
# $(LAB) alone, so it works in a handout. Each level shown is logged in
# $(LAB)/.hints-taken, which make grade counts.
hint: $(BUILD)/labgen
	@test -n "$(CH)" || { echo "make hint needs CH=N (and TODO=name)"; exit 1; }
	@$(BUILD)/labgen hint $(LAB) $(CH) $(TODO)

lab: $(BUILD)/labgen
	@$(BUILD)/labgen lab solutions lab $(if $(FORCE),-f)
	@echo "lab/ written from solutions/"

lab-check: $(BUILD)/labgen
ifeq ($(HAVE_SOLUTIONS),)
	@echo "lab-check needs solutions/, which this copy of the kit does not have."
	@exit 1
endif
	@$(BUILD)/labgen check solutions lab && echo "lab-check: lab/ is up to date"

handout:
	@rm -rf $(BUILD)/handout && mkdir -p $(BUILD)/handout/corolab
	@git ls-files | grep -v '^solutions/' | \
		tar -cf - -T - | tar -xf - -C $(BUILD)/handout/corolab
	@tar -czf $(BUILD)/corolab-handout.tar.gz -C $(BUILD)/handout corolab
	@echo "$(BUILD)/corolab-handout.tar.gz: the kit without solutions/"

bench: ref
	@sh tests/kit/deps.sh bench
	@$(MAKE) --no-print-directory -f tests/bench/bench.mk \
		LIB=$(BUILD)/ref OUT=$(BUILD)/bench
	@BENCH_DIR=$(BUILD)/bench sh tests/bench/run.sh

# Valgrind runs code some 20 to 50 times slower: each test gets 12 times
# the grader's 5 seconds.
valgrind: ref
	CK_DEFAULT_TIMEOUT=60 CK_TIMEOUT_MULTIPLIER=12 valgrind -q --error-exitcode=1 \
		--trace-children=no $(BUILD)/ref/grade $(if $(CH),-c $(CH))

# ThreadSanitizer cannot run with ASan: its own build, without SAN's
# flags. The thread tests run REPEAT times each (tests/kit/tsan.sh).
TSANFLAGS := -std=gnu11 -Wall -Wextra -Werror -g -O2 -fno-omit-frame-pointer \
	-fsanitize=thread
tsan: deps
	@$(MAKE) --no-print-directory -f tests/kit/variant.mk SRC=solutions \
		OUT=build/tsan CFLAGS="$(TSANFLAGS)" LDFLAGS="-fsanitize=thread" all
	@sh tests/kit/tsan.sh build/tsan/grade $(or $(REPEAT),100)

# make mutants CH=N [JOBS=n] [LIMIT=k] [FILE=f.c]: do chapter N's tests
# fail on mutants of its lab regions? (design, promise 3;
# tests/kit/mutants.py) With SAN=1, only the memory mutants, graded
# under the sanitizers.
mutants:
	@test -n "$(CH)" || { echo "make mutants needs CH=N"; exit 1; }
	@python3 tests/kit/mutants.py $(CH) --build $(BUILD) \
		$(if $(JOBS),-j $(JOBS)) $(if $(LIMIT),--limit $(LIMIT)) \
		$(if $(FILE),--file $(FILE)) $(if $(filter 1,$(SAN)),--san)

clean:
	rm -rf build
