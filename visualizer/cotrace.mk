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
# cotrace-clean. Names private to this file start with COTRACE_.

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

cotrace-clean:
	rm -rf $(OUT)/cotrace $(OUT)/obj

-include $(COTRACE_OBJS:.o=.d)
.PHONY: cotrace cotrace-clean
ifneq ($(firstword $(MAKEFILE_LIST)),visualizer/cotrace.mk)
.DEFAULT_GOAL := $(COTRACE_GOAL)
endif
