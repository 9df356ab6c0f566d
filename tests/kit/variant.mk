# variant.mk - build one variant of the library and its grader.
#
#	make -f tests/kit/variant.mk SRC=dir OUT=dir [all|examples]
#
# SRC is a flat source tree laid out like solutions/ (solutions/ itself,
# lab/, a submission, or a mix of the two made by labgen); OUT receives
# libcorolab.a, the grader linked with every chapter's tests, and the
# examples. The top-level Makefile sets CFLAGS and LDFLAGS.

SRC ?= solutions
OUT ?= build/ref
# Run by hand, without the top-level Makefile: its flags all the same
# (a library built without -O2 would be timed as if it were ours).
CFLAGS ?= -std=gnu11 -Wall -Wextra -Werror -g -O2 -fno-omit-frame-pointer
# Another target's libraries (make test ARCH=aarch64): its pkg-config.
PKG_CONFIG ?= pkg-config
# More sources for the grader alone (the page-size shim of
# tests/kit/cross.sh), and what the link then needs.
GRADE_EXTRA ?=

LIB_C := $(wildcard $(SRC)/*.c)
LIB_S := $(wildcard $(SRC)/*.S)
OBJS := $(patsubst $(SRC)/%.c,$(OUT)/obj/%.o,$(LIB_C)) \
	$(patsubst $(SRC)/%.S,$(OUT)/obj/%.o,$(LIB_S))
TESTS := $(sort $(wildcard tests/ch[0-9][0-9]_*.c))
EXAMPLES := $(sort $(wildcard chapters/*/examples/*.c))
EXAMPLE_BINS := $(foreach e,$(EXAMPLES),$(OUT)/examples/$(notdir $(patsubst %/examples/,%,$(dir $(e))))/$(basename $(notdir $(e))))
# A variant directory belongs to one source tree: if SRC changed since the
# last build here, start afresh (timestamps alone would mix the two).
$(shell mkdir -p $(OUT); \
	if [ "$$(cat $(OUT)/.src 2>/dev/null)" != "$(abspath $(SRC))" ]; then \
		rm -rf $(OUT)/obj $(OUT)/libcorolab.a $(OUT)/grade; \
		echo "$(abspath $(SRC))" > $(OUT)/.src; fi)

CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check)
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs check)
# Chapter 08 takes SHA-1 from OpenSSL's libcrypto and speaks to Redis
# through hiredis: whatever links the whole library links them too.
LIB_LIBS := $(shell $(PKG_CONFIG) --libs libcrypto hiredis) -pthread

all: $(OUT)/grade
examples: $(EXAMPLE_BINS)

# symbols.c tells the kit's functions from a program's by the files
# they come from (chapter 09's reports name the program's).
comma := ,
KIT_FILES := $(subst $(eval) ,,$(foreach f,$(sort $(notdir $(LIB_C))),"$(f)"$(comma)))
$(shell mkdir -p $(OUT)/obj; \
	if [ "$$(cat $(OUT)/.kitfiles 2>/dev/null)" != '$(KIT_FILES)' ]; then \
		echo '$(KIT_FILES)' > $(OUT)/.kitfiles; fi)
$(OUT)/obj/symbols.o: $(OUT)/.kitfiles

$(OUT)/obj/%.o: $(SRC)/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(if $(filter symbols,$*),-DCL_KIT_FILES='$(KIT_FILES)') -I$(SRC) -MMD -MP -c $< -o $@

$(OUT)/obj/%.o: $(SRC)/%.S
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -I$(SRC) -MMD -MP -c $< -o $@

$(OUT)/libcorolab.a: $(OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(OUT)/grade: tests/grade.c tests/grade.h tests/trail.h $(TESTS) $(GRADE_EXTRA) $(OUT)/libcorolab.a
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -I$(SRC) -Itests tests/grade.c \
		$(TESTS) $(GRADE_EXTRA) $(OUT)/libcorolab.a $(LDFLAGS) $(CHECK_LIBS) $(LIB_LIBS) -o $@

# chapters/NN-name/examples/foo.c -> OUT/examples/NN-name/foo
define example_rule
$(OUT)/examples/$(notdir $(patsubst %/examples/,%,$(dir $(1))))/$(basename $(notdir $(1))): $(1) $(OUT)/libcorolab.a
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) -I$(SRC) $$< $(OUT)/libcorolab.a $$(LDFLAGS) $(LIB_LIBS) -o $$@
endef
$(foreach e,$(EXAMPLES),$(eval $(call example_rule,$(e))))

-include $(OBJS:.o=.d)
.PHONY: all examples
