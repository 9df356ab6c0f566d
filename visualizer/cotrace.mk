# cotrace.mk - build cotrace, the trace visualizer (a make fragment).
#
#	OUT := $(BUILD)/visualizer		(in the top-level Makefile:
#	include visualizer/cotrace.mk		 set OUT first, if at all)
#	make -f visualizer/cotrace.mk [OUT=dir]	(on its own)
#
# Run from the top of the kit (paths are relative to it).
#
# Variables:
#	OUT	where the binary and objects go (default build/visualizer);
#		the binary is $(OUT)/cotrace, also named by $(COTRACE)
#	CC, CFLAGS, LDFLAGS
#		taken from the environment or the including Makefile, so
#		SAN=1 builds a sanitized cotrace like everything else
#	PKG_CONFIG  the pkg-config to ask for Graphviz (default pkg-config)
#
# Graphviz comes through pkg-config (libgvc, libcgraph: Debian package
# libgraphviz-dev). Targets: $(COTRACE), and the phony cotrace and
# cotrace-clean; cotrace-fuzz builds tests/fuzz/fuzz_trace.c with clang's
# libFuzzer (tests/fuzz/README.md) and is never built by default. Names
# private to this file start with COTRACE_.

OUT ?= build/visualizer
# Included, this file must not change the includer's default goal.
COTRACE_GOAL := $(.DEFAULT_GOAL)
CC ?= cc
CFLAGS ?= -std=gnu11 -Wall -Wextra -Werror -g -O2
PKG_CONFIG ?= pkg-config

COTRACE := $(OUT)/cotrace
COTRACE_SRCS := $(wildcard visualizer/*.c)
COTRACE_OBJS := $(patsubst visualizer/%.c,$(OUT)/obj/%.o,$(COTRACE_SRCS))
COTRACE_GV_CFLAGS = $(shell $(PKG_CONFIG) --cflags libgvc libcgraph)
COTRACE_GV_LIBS = $(shell $(PKG_CONFIG) --libs libgvc libcgraph)

cotrace: $(COTRACE)

$(COTRACE): $(COTRACE_OBJS)
	$(CC) $(CFLAGS) $^ $(LDFLAGS) $(COTRACE_GV_LIBS) -lm -o $@

$(OUT)/obj/%.o: visualizer/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(COTRACE_GV_CFLAGS) -MMD -MP -c $< -o $@

# The fuzz target: the reader, the replay and the text views, no Graphviz.
COTRACE_FUZZ_SRCS := tests/fuzz/fuzz_trace.c $(addprefix visualizer/,\
	tracefile.c values.c intern.c model.c stats.c chrome.c tail.c)
CLANG ?= clang

cotrace-fuzz:
	@mkdir -p $(OUT)
	$(CLANG) -std=gnu11 -Wall -Wextra -Werror -g -O1 \
		-fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Ivisualizer \
		$(COTRACE_FUZZ_SRCS) -o $(OUT)/fuzz_trace

cotrace-clean:
	rm -rf $(OUT)/cotrace $(OUT)/obj $(OUT)/fuzz_trace

-include $(COTRACE_OBJS:.o=.d)
.PHONY: cotrace cotrace-clean cotrace-fuzz
ifneq ($(firstword $(MAKEFILE_LIST)),visualizer/cotrace.mk)
.DEFAULT_GOAL := $(COTRACE_GOAL)
endif
