# bench.mk - build the benchmarks against the reference library.
#
#	make -f tests/bench/bench.mk LIB=build/ref OUT=build/bench
#
# LIB holds libcorolab.a built from solutions/; the top-level "make bench"
# builds it first. Benchmarks always build with -O2 and without
# sanitizers, whatever the library was built with.
#
# sched_notrace needs the library without its tracer: a second copy of
# solutions/ compiled with -DCOROLAB_NO_TRACE (CL_TRACE is then the
# constant 0, trace.h) goes to OUT/notrace/, with the flags the top-level
# Makefile builds LIB with, so that the two copies differ in nothing else.

LIB ?= build/ref
OUT ?= build/bench
BFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Isolutions
LIB_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -g -O2

NOTRACE := $(OUT)/notrace
NOTRACE_OBJS := \
	$(patsubst solutions/%.c,$(NOTRACE)/obj/%.o,$(wildcard solutions/*.c)) \
	$(patsubst solutions/%.S,$(NOTRACE)/obj/%.o,$(wildcard solutions/*.S))

all: $(OUT)/switch $(OUT)/switch_boost $(OUT)/gen_send $(OUT)/sched \
	$(OUT)/sched_notrace $(OUT)/steps $(OUT)/exc $(OUT)/ctxvar $(OUT)/ch07 \
	$(OUT)/chatload

# Chapter 08's WebSocket load client: standalone (an independent peer,
# not the kit's own ws.c), libcrypto for the handshake's SHA-1.
$(OUT)/chatload: tests/bench/chatload.c
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) $< -lcrypto -o $@

# The switch once more, built with -DCL_CTX_NOFPU under another name.
$(OUT)/ctx_nofpu.o: solutions/ctx_$(shell uname -m).S
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) -DCL_CTX_NOFPU -Dcl_ctx_switch=cl_ctx_switch_nofpu \
		-Dcl__ctx_entry=cl__ctx_entry_nofpu -c $< -o $@

$(OUT)/switch: tests/bench/switch.c tests/bench/bench.h $(OUT)/ctx_nofpu.o $(LIB)/libcorolab.a
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) $< $(OUT)/ctx_nofpu.o $(LIB)/libcorolab.a -pthread -o $@

$(OUT)/gen_send: tests/bench/gen_send.c tests/bench/bench.h $(LIB)/libcorolab.a
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) $< $(LIB)/libcorolab.a -o $@

$(OUT)/switch_boost: tests/bench/switch_boost.cpp
	@mkdir -p $(@D)
	$(CXX) -O2 -g -Wall -Wextra -Werror $< -lboost_context -o $@

$(OUT)/sched: tests/bench/sched.c tests/bench/bench.h $(LIB)/libcorolab.a
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) $< $(LIB)/libcorolab.a -pthread -o $@

# For steps.sh: counted under callgrind, never timed.
$(OUT)/steps: tests/bench/steps.c $(LIB)/libcorolab.a
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) $< $(LIB)/libcorolab.a -pthread -o $@

$(OUT)/exc: tests/bench/exc.c tests/bench/bench.h $(LIB)/libcorolab.a
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) $< $(LIB)/libcorolab.a -pthread -o $@

$(OUT)/ctxvar: tests/bench/ctxvar.c tests/bench/bench.h $(LIB)/libcorolab.a
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) $< $(LIB)/libcorolab.a -pthread -o $@

$(OUT)/ch07: tests/bench/ch07.c tests/bench/bench.h $(LIB)/libcorolab.a
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) $< $(LIB)/libcorolab.a -pthread -o $@

$(OUT)/sched_notrace: tests/bench/sched.c tests/bench/bench.h $(NOTRACE)/libcorolab.a
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) -DCOROLAB_NO_TRACE $< $(NOTRACE)/libcorolab.a \
		-pthread -o $@

$(NOTRACE)/obj/%.o: solutions/%.c
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -DCOROLAB_NO_TRACE -Isolutions -MMD -MP -c $< -o $@

$(NOTRACE)/obj/%.o: solutions/%.S
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -DCOROLAB_NO_TRACE -Isolutions -MMD -MP -c $< -o $@

$(NOTRACE)/libcorolab.a: $(NOTRACE_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

-include $(NOTRACE_OBJS:.o=.d)
.PHONY: all

# Chapter 04: the echo servers and their load client (echo.sh, misses.sh),
# and the cost of one poll call (poller_cost). echo_server (streams) and
# echo_proto (transports and protocols) are the chapter's own examples,
# built again here with BFLAGS so that they run at -O2 like their peers;
# until the chapter has one, it is left out and echo.sh says so.
ECHO_SRC := $(wildcard chapters/04-epoll/examples/echo_server.c)
PROTO_SRC := $(wildcard chapters/04-epoll/examples/echo_proto.c)

all: $(OUT)/load $(OUT)/uv_echo $(OUT)/poller_cost \
	$(if $(ECHO_SRC),$(OUT)/echo_server) \
	$(if $(PROTO_SRC),$(OUT)/echo_proto)

$(OUT)/load: tests/bench/load.c
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) $< -o $@

$(OUT)/uv_echo: tests/bench/uv_echo.c
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) $(shell pkg-config --cflags libuv) $< \
		$(shell pkg-config --libs libuv) -o $@

$(OUT)/poller_cost: tests/bench/poller_cost.c tests/bench/bench.h $(LIB)/libcorolab.a
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) $< $(LIB)/libcorolab.a -o $@

$(OUT)/echo_server: $(ECHO_SRC) $(LIB)/libcorolab.a
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) $< $(LIB)/libcorolab.a -o $@

$(OUT)/echo_proto: $(PROTO_SRC) $(LIB)/libcorolab.a
	@mkdir -p $(@D)
	$(CC) $(BFLAGS) $< $(LIB)/libcorolab.a -o $@
