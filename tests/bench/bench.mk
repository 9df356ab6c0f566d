# bench.mk - build the benchmarks against the reference library.
#
#	make -f tests/bench/bench.mk LIB=build/ref OUT=build/bench
#
# LIB holds libcorolab.a built from solutions/; the top-level "make bench"
# builds it first. Benchmarks always build with -O2 and without
# sanitizers, whatever the library was built with.

LIB ?= build/ref
OUT ?= build/bench
BFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Isolutions

all: $(OUT)/switch $(OUT)/switch_boost $(OUT)/gen_send

$(OUT)/switch: tests/bench/switch.c $(LIB)/libcorolab.a
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) $< $(LIB)/libcorolab.a -pthread -o $@

$(OUT)/gen_send: tests/bench/gen_send.c $(LIB)/libcorolab.a
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) $< $(LIB)/libcorolab.a -o $@

$(OUT)/switch_boost: tests/bench/switch_boost.cpp
	@mkdir -p $(@D)
	$(CXX) -O2 -g -Wall -Wextra $< -lboost_context -o $@

.PHONY: all
