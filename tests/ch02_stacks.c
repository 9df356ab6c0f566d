/*
 * ch02_stacks.c - chapter 02: the context switch, the first frame, and
 * stacks (guard page, pool, overflow report).
 *
 * The contexts here are driven directly with cl_ctx_swap, no generator
 * protocol on top (that is ch02_gen.c). A body records what it saw in
 * globals and the test checks them once back on its own stack: an
 * assertion that fails on a coroutine stack would be reported from an
 * odd place.
 *
 * Tests that expect a crash (a guard page touched, a stack overflowed)
 * crash a forked child of their own, with its stderr in a pipe, and look
 * at how it died and what it said.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fenv.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctx.h"
#include "grade.h"
#include "stack.h"

#define SEC_SWITCH "1. The context switch"
#define SEC_FRAME  "2. The first frame"
#define SEC_STACK  "3. Stacks: guard page, pool, overflow report"

/* The test's own context (the thread's stack) and two coroutines. */
static struct cl_ctx main_ctx, a_ctx, b_ctx;

/* A stack and a context on it that will call fn(arg), or a failed test. */
static struct cl_stack *new_ctx(struct cl_ctx *c, size_t size,
				void (*fn)(void *), void *arg)
{
	struct cl_stack *s = cl_stack_alloc(size);
	int rc;

	CL_EXPECT(s != NULL, "cl_stack_alloc(%zu) returned NULL (%s)", size,
		  strerror(errno));
	rc = cl_ctx_make(c, s->base, s->size, fn, arg);
	CL_EXPECT(rc == 0, "cl_ctx_make: expected 0, got %d (%s)", rc,
		  strerror(-rc));
	return s;
}

/* ---- 1. The context switch ---- */

static char trail[256];

static void note(const char *what)
{
	strcat(trail, what);
	strcat(trail, " ");
}

static void ping(void *arg)
{
	(void)arg;
	note("a1");
	cl_ctx_swap(&a_ctx, &b_ctx);
	note("a2");
	cl_ctx_swap(&a_ctx, &b_ctx);
	note("a3");
	cl_ctx_swap_final(&a_ctx, &main_ctx);
}

static void pong(void *arg)
{
	(void)arg;
	note("b1");
	cl_ctx_swap(&b_ctx, &a_ctx);
	note("b2");
	cl_ctx_swap(&b_ctx, &main_ctx);
	note("never");
}

/* Control goes exactly where each switch says, and comes back. */
START_TEST(test_switch_ping_pong)
{
	struct cl_stack *a = new_ctx(&a_ctx, 0, ping, NULL);
	struct cl_stack *b = new_ctx(&b_ctx, 0, pong, NULL);

	trail[0] = '\0';
	note("m1");
	cl_ctx_swap(&main_ctx, &a_ctx);
	note("m2");
	cl_ctx_swap(&main_ctx, &a_ctx);
	note("m3");
	CL_EXPECT_STR(trail, "m1 a1 b1 a2 b2 m2 a3 m3 ");
	cl_stack_free(a);
	cl_stack_free(b);
}
END_TEST

/* Not volatile: cl_ctx_switch is a call, so the compiler must assume it
 * changed globals. That assumption is what this test leans on. */
static long shared;
static int echo_done;

static void echo(void *arg)
{
	long n = (long)arg;

	for (long i = 0; i < n; i++) {
		shared = shared * 2 + 1;
		cl_ctx_swap(&a_ctx, &main_ctx);
	}
	echo_done = 1;
	cl_ctx_swap_final(&a_ctx, &main_ctx);
}

/* 200,000 switches, each carrying a value each way. */
START_TEST(test_values_across_many_switches)
{
	const long n = 100000;
	struct cl_stack *s = new_ctx(&a_ctx, 0, echo, (void *)n);
	long bad = -1, got = 0;

	echo_done = 0;
	for (long i = 0; i < n; i++) {
		shared = i;
		cl_ctx_swap(&main_ctx, &a_ctx);
		if (shared != 2 * i + 1 && bad < 0) {
			bad = i;
			got = shared;
		}
	}
	CL_EXPECT(bad < 0, "switch %ld: sent %ld, expected %ld back, got %ld",
		  bad, bad, 2 * bad + 1, got);
	cl_ctx_swap(&main_ctx, &a_ctx);
	CL_EXPECT_INT(echo_done, 1);
	cl_stack_free(s);
}
END_TEST

/*
 * ch02_marked_swap(from, to, seed, out): set every callee-saved register
 * to seed + 1, seed + 2, ..., switch (through ch02_swap, so ASan hears of
 * it), and once resumed store what those registers hold into out. If the
 * switch saves and restores them all, out[k] == seed + k + 1.
 */
void ch02_marked_swap(struct cl_ctx *from, struct cl_ctx *to, uint64_t seed,
		      uint64_t *out);
void ch02_swap(struct cl_ctx *from, struct cl_ctx *to);
void ch02_swap(struct cl_ctx *from, struct cl_ctx *to)
{
	cl_ctx_swap(from, to);
}

// clang-format off
#if defined(__x86_64__)
#define NREGS 6 /* rbx rbp r12 r13 r14 r15 */
__asm__(".pushsection .text\n"
	".globl ch02_marked_swap\n"
	".type ch02_marked_swap, @function\n"
	"ch02_marked_swap:\n"
	"	pushq %rbp\n	pushq %rbx\n	pushq %r12\n"
	"	pushq %r13\n	pushq %r14\n	pushq %r15\n"
	"	pushq %rcx\n" /* out; 7 pushes: rsp 16-aligned again */
	"	leaq 1(%rdx), %rbx\n	leaq 2(%rdx), %rbp\n"
	"	leaq 3(%rdx), %r12\n	leaq 4(%rdx), %r13\n"
	"	leaq 5(%rdx), %r14\n	leaq 6(%rdx), %r15\n"
	"	call ch02_swap@PLT\n"
	"	popq %rcx\n"
	"	movq %rbx, 0(%rcx)\n	movq %rbp, 8(%rcx)\n"
	"	movq %r12, 16(%rcx)\n	movq %r13, 24(%rcx)\n"
	"	movq %r14, 32(%rcx)\n	movq %r15, 40(%rcx)\n"
	"	popq %r15\n	popq %r14\n	popq %r13\n"
	"	popq %r12\n	popq %rbx\n	popq %rbp\n"
	"	ret\n"
	".size ch02_marked_swap, .-ch02_marked_swap\n"
	".popsection\n");
#elif defined(__aarch64__)
#define NREGS 19 /* x19-x28, x29, d8-d15 */
__asm__(".pushsection .text\n"
	".globl ch02_marked_swap\n"
	".type ch02_marked_swap, %function\n"
	"ch02_marked_swap:\n"
	"	sub sp, sp, #176\n"
	"	stp x19, x20, [sp, #0]\n	stp x21, x22, [sp, #16]\n"
	"	stp x23, x24, [sp, #32]\n	stp x25, x26, [sp, #48]\n"
	"	stp x27, x28, [sp, #64]\n	stp x29, x30, [sp, #80]\n"
	"	stp d8, d9, [sp, #96]\n	stp d10, d11, [sp, #112]\n"
	"	stp d12, d13, [sp, #128]\n	stp d14, d15, [sp, #144]\n"
	"	str x3, [sp, #160]\n"
	"	add x19, x2, #1\n	add x20, x2, #2\n	add x21, x2, #3\n"
	"	add x22, x2, #4\n	add x23, x2, #5\n	add x24, x2, #6\n"
	"	add x25, x2, #7\n	add x26, x2, #8\n	add x27, x2, #9\n"
	"	add x28, x2, #10\n	add x29, x2, #11\n"
	"	add x9, x2, #12\n	fmov d8, x9\n"
	"	add x9, x2, #13\n	fmov d9, x9\n"
	"	add x9, x2, #14\n	fmov d10, x9\n"
	"	add x9, x2, #15\n	fmov d11, x9\n"
	"	add x9, x2, #16\n	fmov d12, x9\n"
	"	add x9, x2, #17\n	fmov d13, x9\n"
	"	add x9, x2, #18\n	fmov d14, x9\n"
	"	add x9, x2, #19\n	fmov d15, x9\n"
	"	bl ch02_swap\n"
	"	ldr x3, [sp, #160]\n"
	"	stp x19, x20, [x3, #0]\n	stp x21, x22, [x3, #16]\n"
	"	stp x23, x24, [x3, #32]\n	stp x25, x26, [x3, #48]\n"
	"	stp x27, x28, [x3, #64]\n	str x29, [x3, #80]\n"
	"	stp d8, d9, [x3, #88]\n	stp d10, d11, [x3, #104]\n"
	"	stp d12, d13, [x3, #120]\n	stp d14, d15, [x3, #136]\n"
	"	ldp x19, x20, [sp, #0]\n	ldp x21, x22, [sp, #16]\n"
	"	ldp x23, x24, [sp, #32]\n	ldp x25, x26, [sp, #48]\n"
	"	ldp x27, x28, [sp, #64]\n	ldp x29, x30, [sp, #80]\n"
	"	ldp d8, d9, [sp, #96]\n	ldp d10, d11, [sp, #112]\n"
	"	ldp d12, d13, [sp, #128]\n	ldp d14, d15, [sp, #144]\n"
	"	add sp, sp, #176\n"
	"	ret\n"
	".size ch02_marked_swap, .-ch02_marked_swap\n"
	".popsection\n");
#endif
// clang-format on

#define SEED_MAIN1 0x1111000000000000u
#define SEED_MAIN2 0x3333000000000000u
#define SEED_CO	   0x2222000000000000u

static uint64_t co_regs[NREGS];

static void marked_body(void *arg)
{
	(void)arg;
	ch02_marked_swap(&a_ctx, &main_ctx, SEED_CO, co_regs);
	cl_ctx_swap_final(&a_ctx, &main_ctx);
}

/* Many values live across switches, in whatever registers the compiler
 * picks: the checksum must not depend on whether we switched. */
static uint64_t churn(struct cl_ctx *self, struct cl_ctx *other, uint64_t x)
{
	uint64_t a = x, b = x ^ 1, c = x ^ 2, d = x ^ 3, e = x ^ 4, f = x ^ 5;
	uint64_t g = x ^ 6, h = x ^ 7, i = x ^ 8, j = x ^ 9;

	for (int r = 0; r < 100; r++) {
		a = a * 6364136223846793005u + b;
		b ^= a >> 7;
		c += b * 3;
		d ^= c << 5;
		e += d;
		f ^= e >> 3;
		g += f * 7;
		h ^= g;
		i += h >> 1;
		j ^= i + a;
		if (self != NULL)
			cl_ctx_swap(self, other);
	}
	return a ^ b ^ c ^ d ^ e ^ f ^ g ^ h ^ i ^ j;
}

static uint64_t churn_co;

static void churn_body(void *arg)
{
	(void)arg;
	churn_co = churn(&a_ctx, &main_ctx, 77);
	cl_ctx_swap_final(&a_ctx, &main_ctx);
}

START_TEST(test_callee_saved_registers)
{
	uint64_t regs1[NREGS], regs2[NREGS], want_main, want_co, got_main;
	struct cl_stack *s = new_ctx(&a_ctx, 0, marked_body, NULL);

	/* Main marks its registers and enters the body, which marks its
	 * own and comes back; then main resumes it once more. */
	ch02_marked_swap(&main_ctx, &a_ctx, SEED_MAIN1, regs1);
	ch02_marked_swap(&main_ctx, &a_ctx, SEED_MAIN2, regs2);
	for (int k = 0; k < NREGS; k++) {
		CL_EXPECT(regs1[k] == SEED_MAIN1 + k + 1,
			  "callee-saved register %d of the test: expected "
			  "%#llx after switching back, got %#llx",
			  k, (unsigned long long)(SEED_MAIN1 + k + 1),
			  (unsigned long long)regs1[k]);
		CL_EXPECT(co_regs[k] == SEED_CO + k + 1,
			  "callee-saved register %d of the coroutine: "
			  "expected %#llx after it was resumed, got %#llx",
			  k, (unsigned long long)(SEED_CO + k + 1),
			  (unsigned long long)co_regs[k]);
	}
	CL_EXPECT(regs2[0] == SEED_MAIN2 + 1, "second switch back: %#llx",
		  (unsigned long long)regs2[0]);

	want_main = churn(NULL, NULL, 11);
	want_co = churn(NULL, NULL, 77);
	CL_EXPECT_INT(cl_ctx_make(&a_ctx, s->base, s->size, churn_body, NULL),
		      0);
	cl_ctx_swap(&main_ctx, &a_ctx);
	got_main = churn(&main_ctx, &a_ctx, 11);
	CL_EXPECT(got_main == want_main && churn_co == want_co,
		  "values live across switches changed: test %#llx (expected "
		  "%#llx), coroutine %#llx (expected %#llx)",
		  (unsigned long long)got_main, (unsigned long long)want_main,
		  (unsigned long long)churn_co, (unsigned long long)want_co);
	cl_stack_free(s);
}
END_TEST

/* 1/3 rounded by the current SSE (FPCR on aarch64) rounding mode. */
static uint64_t third(void)
{
	volatile double one = 1.0, three = 3.0;
	double q = one / three;
	uint64_t bits;

	memcpy(&bits, &q, sizeof bits);
	return bits;
}

#define THIRD_NEAREST 0x3fd5555555555555u
#define THIRD_UPWARD  0x3fd5555555555556u

/*
 * The rounding mode the SSE unit is in, as an FE_ value. fegetround()
 * reads the x87 control word on x86-64, but double arithmetic follows
 * MXCSR, which cl_ctx_switch saves separately. On aarch64 there is one
 * register, FPCR, and fegetround() reads it.
 */
static int sse_round(void)
{
#if defined(__x86_64__)
	return (int)((__builtin_ia32_stmxcsr() >> 13) & 3) << 10;
#else
	return fegetround();
#endif
}

/* Does division here honour the rounding mode? (valgrind's does not.) */
static int arithmetic_rounds(void)
{
	int ok;

	fesetround(FE_UPWARD);
	ok = third() == THIRD_UPWARD;
	fesetround(FE_TONEAREST);
	return ok && third() == THIRD_NEAREST;
}

static int fp_at_start, sse_at_start, fp_after, sse_after;
static uint64_t third_after;

static void fp_body(void *arg)
{
	(void)arg;
	fp_at_start = fegetround();
	sse_at_start = sse_round();
	fesetround(FE_UPWARD);
	cl_ctx_swap(&a_ctx, &main_ctx);
	fp_after = fegetround();
	sse_after = sse_round();
	third_after = third();
	cl_ctx_swap_final(&a_ctx, &main_ctx);
}

#ifdef CL_CTX_NOFPU
/* Built with -DCL_CTX_NOFPU (make NOFPU=1), the switch leaves the
 * floating-point control alone: one rounding mode for every context,
 * the one current at each switch. */
START_TEST(test_rounding_mode_per_context)
{
	int arith = arithmetic_rounds();
	struct cl_stack *s;

	fesetround(FE_TOWARDZERO);
	s = new_ctx(&a_ctx, 0, fp_body, NULL);
	fesetround(FE_TONEAREST);
	cl_ctx_swap(&main_ctx, &a_ctx);
	CL_EXPECT(fp_at_start == FE_TONEAREST && sse_at_start == FE_TONEAREST,
		  "NOFPU: a new context runs in the mode current when it is "
		  "first switched to (FE_TONEAREST = %#x), got %#x (SSE %#x)",
		  FE_TONEAREST, fp_at_start, sse_at_start);
	CL_EXPECT(fegetround() == FE_UPWARD && sse_round() == FE_UPWARD,
		  "NOFPU: the coroutine's FE_UPWARD (%#x) is everybody's, "
		  "but the test has fegetround() = %#x, SSE mode %#x",
		  FE_UPWARD, fegetround(), sse_round());
	CL_EXPECT(!arith || third() == THIRD_UPWARD,
		  "NOFPU: 1.0/3.0 in the test after the coroutine set "
		  "FE_UPWARD: %#llx, expected %#llx",
		  (unsigned long long)third(),
		  (unsigned long long)THIRD_UPWARD);
	fesetround(FE_TOWARDZERO);
	cl_ctx_swap(&main_ctx, &a_ctx);
	CL_EXPECT(fp_after == FE_TOWARDZERO && sse_after == FE_TOWARDZERO,
		  "NOFPU: the test's FE_TOWARDZERO (%#x) is the coroutine's "
		  "too, got %#x (SSE %#x)",
		  FE_TOWARDZERO, fp_after, sse_after);
	fesetround(FE_TONEAREST);
	cl_stack_free(s);
}
END_TEST
#else
/* The rounding mode is per context: x87 control word and MXCSR on
 * x86-64, FPCR on aarch64. A new context starts with its creator's. */
START_TEST(test_rounding_mode_per_context)
{
	int arith = arithmetic_rounds();
	struct cl_stack *s;

	fesetround(FE_TOWARDZERO);
	s = new_ctx(&a_ctx, 0, fp_body, NULL);
	fesetround(FE_TONEAREST);
	cl_ctx_swap(&main_ctx, &a_ctx);
	CL_EXPECT(fegetround() == FE_TONEAREST && sse_round() == FE_TONEAREST,
		  "the coroutine's FE_UPWARD (%#x) leaked into the test: "
		  "fegetround() = %#x, SSE mode %#x",
		  FE_UPWARD, fegetround(), sse_round());
	CL_EXPECT(!arith || third() == THIRD_NEAREST,
		  "1.0/3.0 in the test after the coroutine set FE_UPWARD: "
		  "%#llx, expected %#llx (round to nearest)",
		  (unsigned long long)third(),
		  (unsigned long long)THIRD_NEAREST);
	CL_EXPECT(fp_at_start == FE_TOWARDZERO && sse_at_start == FE_TOWARDZERO,
		  "a new context starts with its creator's rounding mode "
		  "(FE_TOWARDZERO = %#x), got %#x (SSE %#x)",
		  FE_TOWARDZERO, fp_at_start, sse_at_start);
	cl_ctx_swap(&main_ctx, &a_ctx);
	CL_EXPECT(fp_after == FE_UPWARD && sse_after == FE_UPWARD,
		  "the coroutine lost its FE_UPWARD (%#x) across a switch: "
		  "fegetround() = %#x, SSE mode %#x",
		  FE_UPWARD, fp_after, sse_after);
	CL_EXPECT(!arith || third_after == THIRD_UPWARD,
		  "1.0/3.0 in the coroutine under FE_UPWARD: %#llx, expected "
		  "%#llx",
		  (unsigned long long)third_after,
		  (unsigned long long)THIRD_UPWARD);
	CL_EXPECT_INT(fegetround(), FE_TONEAREST);
	cl_stack_free(s);
}
END_TEST
#endif

/* ---- 2. The first frame ---- */

static uintptr_t frame_at;

static void frame_body(void *arg)
{
	(void)arg;
	frame_at = (uintptr_t)__builtin_frame_address(0);
	cl_ctx_swap_final(&a_ctx, &main_ctx);
}

/*
 * The ABI promises every function a stack that was 16-byte aligned at
 * its call. The frame address of a function (rbp, pushed right after the
 * return address; x29 on aarch64) is a multiple of 16 exactly when that
 * promise was kept. Try all 16 alignments of the end of the stack.
 */
START_TEST(test_stack_aligned_in_fn)
{
	struct cl_stack *s = new_ctx(&a_ctx, 0, frame_body, NULL);
	uintptr_t lo = (uintptr_t)s->base;

	for (size_t k = 0; k < 16; k++) {
		uintptr_t hi = lo + s->size - k;

		CL_EXPECT_INT(
		    cl_ctx_make(&a_ctx, s->base, s->size - k, frame_body, NULL),
		    0);
		frame_at = 0;
		cl_ctx_swap(&main_ctx, &a_ctx);
		CL_EXPECT(frame_at > lo && frame_at < hi,
			  "fn ran with its frame at %#lx, not on the stack "
			  "[%#lx, %#lx) given to cl_ctx_make",
			  (unsigned long)frame_at, (unsigned long)lo,
			  (unsigned long)hi);
		CL_EXPECT(frame_at % 16 == 0,
			  "stack end %#lx: fn's frame at %#lx is not 16-byte "
			  "aligned, so the call to fn was not",
			  (unsigned long)hi, (unsigned long)frame_at);
		CL_EXPECT(hi - frame_at < 1024,
			  "fn's frame is %lu bytes below the end of its stack; "
			  "the first frame belongs at the top",
			  (unsigned long)(hi - frame_at));
	}
	cl_stack_free(s);
}
END_TEST

static void nothing(void *arg)
{
	(void)arg;
}

START_TEST(test_make_rejects_bad_arguments)
{
	static char small[64] __attribute__((aligned(16)));
	struct cl_ctx c;

	CL_EXPECT_INT(cl_ctx_make(NULL, small, sizeof small, nothing, NULL),
		      -EINVAL);
	CL_EXPECT_INT(cl_ctx_make(&c, NULL, 4096, nothing, NULL), -EINVAL);
	CL_EXPECT_INT(cl_ctx_make(&c, small, sizeof small, NULL, NULL),
		      -EINVAL);
	CL_EXPECT_INT(cl_ctx_make(&c, small, 16, nothing, NULL), -EINVAL);
}
END_TEST

/*
 * Run child() in a forked process whose stderr goes into out, without a
 * core file. Returns its wait status.
 */
static int run_child_within(void (*child)(void), char *out, size_t size,
			    int seconds);

static int run_child(void (*child)(void), char *out, size_t size)
{
	return run_child_within(child, out, size, 0);
}

/* run_child, but a child still running after seconds (> 0) is killed:
 * then -1. */
static int run_child_within(void (*child)(void), char *out, size_t size,
			    int seconds)
{
	struct pollfd pfd;
	int fds[2], status;
	size_t len = 0;
	ssize_t n;
	char sink[512];
	pid_t pid;
	time_t end = time(NULL) + seconds;

	CL_EXPECT(pipe(fds) == 0, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	CL_EXPECT(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		prctl(PR_SET_DUMPABLE, 0);
		child();
		_exit(0);
	}
	close(fds[1]);
	pfd = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	for (;;) {
		if (seconds > 0 && poll(&pfd, 1, 100) == 0) {
			if (time(NULL) < end)
				continue;
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(fds[0]);
			out[len] = '\0';
			return -1;
		}
		if (len + 1 < size)
			n = read(fds[0], out + len, size - 1 - len);
		else
			n = read(fds[0], sink, sizeof sink);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len + 1 < size)
			len += (size_t)n;
	}
	out[len] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/* What a child's wait status means, for failure messages. */
static const char *how(int status)
{
	static char buf[64];

	if (WIFSIGNALED(status))
		snprintf(buf, sizeof buf, "died of signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, sizeof buf, "exited with status %d",
			 WEXITSTATUS(status));
	return buf;
}

/* In a child: a context on a fresh stack running fn, named name. */
static void child_run(size_t size, const char *name, void (*fn)(void *))
{
	struct cl_stack *s = cl_stack_alloc(size);
	int rc;

	if (s == NULL) {
		fprintf(stderr, "cl_stack_alloc failed: %s\n", strerror(errno));
		_exit(3);
	}
	cl_stack_set_name(s, name);
	rc = cl_ctx_make(&a_ctx, s->base, s->size, fn, NULL);
	if (rc != 0) {
		fprintf(stderr, "cl_ctx_make returned %d\n", rc);
		_exit(3);
	}
	cl_ctx_swap(&main_ctx, &a_ctx);
	fprintf(stderr, "the coroutine came back\n");
	_exit(4);
}

static void child_fn_returns(void)
{
	child_run(0, "returns", nothing);
}

/* A body that returns has nowhere to go: report, abort. */
START_TEST(test_fn_return_is_reported)
{
	char out[4096];
	int st;

	memset(out, 'x', sizeof out); /* a NUL written shows up as two */
	st = run_child(child_fn_returns, out, sizeof out);
	CL_EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
		  "a context whose fn returned: expected death by SIGABRT, "
		  "it %s; it wrote: %.1000s",
		  how(st), out);
	CL_EXPECT(strstr(out, "function returned") != NULL,
		  "expected a line saying a context's function returned; "
		  "got: %.1000s",
		  out);
	CL_EXPECT(out[strlen(out) + 1] != '\0',
		  "the report ends with a NUL byte: write the message's "
		  "characters, not its terminator");
}
END_TEST

/* ---- 3. Stacks: guard page, pool, overflow report ---- */

static size_t page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* The mappings of this process, read once from /proc/self/maps. */
static struct range {
	unsigned long lo, hi;
	char perms[8];
} maps[4096];
static int nmaps;

static void read_maps(void)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	CL_EXPECT(f != NULL, "/proc/self/maps: %s", strerror(errno));
	for (nmaps = 0; nmaps < 4096 && fgets(line, sizeof line, f);)
		if (sscanf(line, "%lx-%lx %7s", &maps[nmaps].lo,
			   &maps[nmaps].hi, maps[nmaps].perms) == 3)
			nmaps++;
	fclose(f);
}

/* Is addr in a mapping with these permissions, in the last read_maps? */
static int mapped(const void *addr, const char *perms)
{
	unsigned long a = (unsigned long)addr;

	for (int i = 0; i < nmaps; i++)
		if (maps[i].lo <= a && a < maps[i].hi)
			return strcmp(maps[i].perms, perms) == 0;
	return 0;
}

START_TEST(test_pool_reuses_a_freed_stack)
{
	struct cl_stack *a, *b, *c, *d;
	void *base;

	a = cl_stack_alloc(0);
	CL_EXPECT(a != NULL, "cl_stack_alloc(0): NULL (%s)", strerror(errno));
	CL_EXPECT_INT(a->size, CL_STACK_DEFAULT);
	CL_EXPECT((uintptr_t)a->base % page() == 0,
		  "base %p is not page-aligned", a->base);
	((volatile char *)a->base)[0] = 1;
	((volatile char *)a->base)[a->size - 1] = 1;
	base = a->base;
	cl_stack_free(a);

	b = cl_stack_alloc(0);
	CL_EXPECT(b != NULL, "cl_stack_alloc(0) after a free: NULL");
	CL_EXPECT_PTR(b->base, base);
	c = cl_stack_alloc(1);
	CL_EXPECT(c != NULL, "cl_stack_alloc(1): NULL (%s)", strerror(errno));
	CL_EXPECT_INT(c->size, page());
	d = cl_stack_alloc(page() + 1);
	CL_EXPECT(d != NULL, "cl_stack_alloc(page + 1): NULL");
	CL_EXPECT_INT(d->size, 2 * page());
	cl_stack_free(b);
	cl_stack_free(c);
	cl_stack_free(d);
}
END_TEST

static volatile char *guard_addr;

static void child_touch(void)
{
	*guard_addr = 1;
	_exit(0);
}

START_TEST(test_guard_page_is_prot_none)
{
	struct cl_stack *s = cl_stack_alloc(0);
	char out[4096];
	int st;

	/* A pooled stack keeps its guard: check one that came back. */
	CL_EXPECT(s != NULL, "cl_stack_alloc(0): NULL (%s)", strerror(errno));
	cl_stack_free(s);
	s = cl_stack_alloc(0);
	CL_EXPECT(s != NULL, "cl_stack_alloc(0): NULL (%s)", strerror(errno));
	read_maps();
	CL_EXPECT(mapped((char *)s->base - 1, "---p") &&
		      mapped((char *)s->base - page(), "---p"),
		  "the page below base %p is not mapped ---p (PROT_NONE)",
		  s->base);
	CL_EXPECT(mapped(s->base, "rw-p") &&
		      mapped((char *)s->base + s->size - 1, "rw-p"),
		  "[base, base + size) is not mapped rw-p");

	/* (Under ASan with allow_user_segv_handler=0, ASan's own report
	 * ends the child instead of SIGSEGV.) */
	guard_addr = (char *)s->base - 1;
	st = run_child(child_touch, out, sizeof out);
	CL_EXPECT((WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) ||
		      (CL_ASAN && strstr(out, "AddressSanitizer:")),
		  "writing the byte below base: expected death by SIGSEGV, "
		  "the child %s",
		  how(st));
	guard_addr = (char *)s->base + s->size - 1;
	st = run_child(child_touch, out, sizeof out);
	CL_EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "writing the top byte of the stack: the child %s", how(st));
	cl_stack_free(s);
}
END_TEST

/* 10,000 stacks, 1,000 at a time: distinct, usable, and given back. */
START_TEST(test_ten_thousand_stacks)
{
	enum { ROUNDS = 10, LIVE = 1000 };
	static struct cl_stack *s[LIVE];
	static char *base[LIVE];
	int kept = 0;

	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < LIVE; i++) {
			s[i] = cl_stack_alloc(0);
			CL_EXPECT(s[i] != NULL,
				  "stack %d of round %d: NULL (%s)", i, r,
				  strerror(errno));
			base[i] = s[i]->base;
			((volatile int *)s[i]->base)[0] = i;
			((volatile int *)(base[i] + s[i]->size))[-1] = i;
		}
		for (int i = 0; i < LIVE; i++) {
			volatile int *lo = (void *)base[i];
			volatile int *hi = (void *)(base[i] + s[i]->size);

			CL_EXPECT(lo[0] == i && hi[-1] == i,
				  "stack %d overlaps another (marks %d, %d)", i,
				  lo[0], hi[-1]);
		}
		for (int i = 0; i < LIVE; i++)
			cl_stack_free(s[i]);
	}
	/* The pool keeps at most CL_STACK_POOL_MAX; the rest are unmapped,
	 * guard page included. */
	read_maps();
	for (int i = 0; i < LIVE; i++)
		if (mapped(base[i], "rw-p") || mapped(base[i] - 1, "---p"))
			kept++;
	CL_EXPECT(kept <= CL_STACK_POOL_MAX,
		  "%d of the last 1000 freed stacks are still mapped; the "
		  "pool may keep %d, the rest must be unmapped",
		  kept, CL_STACK_POOL_MAX);
}
END_TEST

/* Deep enough to overflow any stack; the limit only hides the infinite
 * recursion from the compiler. */
static volatile unsigned long depth_limit = ~0ul;

__attribute__((noinline)) static unsigned long recurse(unsigned long depth)
{
	volatile char pad[200];

	pad[depth % sizeof pad] = (char)depth;
	if (depth >= depth_limit)
		return depth;
	return recurse(depth + 1) + (unsigned long)pad[depth % sizeof pad];
}

static void deep(void *arg)
{
	(void)arg;
	recurse(0);
}

static void child_overflow(void)
{
	child_run(64 * 1024, "deep-recursion", deep);
}

/* The same in a second thread: it needs an alternate signal stack of its
 * own, which its first cl_stack_alloc gives it. */
static void *thread_overflow(void *arg)
{
	(void)arg;
	child_run(64 * 1024, "deep-in-a-thread", deep);
	return NULL;
}

static void child_overflow_in_thread(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, thread_overflow, NULL) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		_exit(3);
	}
	pthread_join(t, NULL);
}

START_TEST(test_overflow_report_names_the_coroutine)
{
	const char *want = "corolab: coroutine 'deep-recursion' overflowed "
			   "its stack (64 KiB)";
	char out[16384];
	int st = run_child(child_overflow, out, sizeof out);

	CL_EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
		  "a coroutine that overflows its stack: expected death by "
		  "SIGSEGV, the child %s; it wrote: %.1000s",
		  how(st), out);
	CL_EXPECT(strstr(out, want) != NULL,
		  "expected stderr to contain \"%s\"; got: %.1000s", want, out);

	want = "corolab: coroutine 'deep-in-a-thread' overflowed";
	st = run_child(child_overflow_in_thread, out, sizeof out);
	CL_EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
		  "a coroutine that overflows in a second thread: expected "
		  "death by SIGSEGV, the child %s; it wrote: %.1000s",
		  how(st), out);
	CL_EXPECT(strstr(out, want) != NULL,
		  "expected stderr to contain \"%s\"; got: %.1000s", want, out);
}
END_TEST

/* volatile: the compiler must not see through it and complain. */
static volatile int *volatile wild = (volatile int *)16;

static void child_wild_write(void)
{
	struct cl_stack *s = cl_stack_alloc(0);

	if (s == NULL) {
		fprintf(stderr, "cl_stack_alloc failed: %s\n", strerror(errno));
		_exit(3);
	}
	*wild = 1;
}

/*
 * A stack freed from the head of the live list must leave it: after
 * alloc, free, alloc (the pool hands the same stack back), the list
 * holds it once. Then a segfault that is no overflow walks the whole
 * list and finds nothing; if the list loops, the walk never ends (no
 * signal gets through to the handler), and we kill the child.
 */
static void child_reuse_then_wild_write(void)
{
	struct cl_stack *s = cl_stack_alloc(0);

	if (s == NULL) {
		fprintf(stderr, "cl_stack_alloc failed: %s\n", strerror(errno));
		_exit(3);
	}
	cl_stack_free(s);
	s = cl_stack_alloc(0);
	if (s == NULL) {
		fprintf(stderr, "cl_stack_alloc failed: %s\n", strerror(errno));
		_exit(3);
	}
	*wild = 1;
}

START_TEST(test_live_list_survives_reuse)
{
	char out[16384];
	int st = run_child_within(child_reuse_then_wild_write, out,
				  sizeof out, 5);

	int died;

	CL_EXPECT(st != -1,
		  "after alloc, free, alloc, a segfault's handler had not "
		  "finished 5 s later: does the live list loop? A stack "
		  "freed from the head of the list must leave it "
		  "(cl_stack_free)");
	CL_EXPECT(strstr(out, "corolab:") == NULL,
		  "a write to address 16 was reported as: %.1000s", out);
	died = WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;
	if (CL_ASAN && strstr(out, "AddressSanitizer: SEGV") != NULL)
		died = 1;
	CL_EXPECT(died,
		  "after alloc, free, alloc, a write to address 16: expected "
		  "death by SIGSEGV, the child %s; it wrote: %.1000s",
		  how(st), out);
}
END_TEST

/*
 * The live list after frees from its middle and its tail, and stacks
 * the pool hands back: A, B, C, E allocated (the list is E C B A), C
 * and A freed, D and F allocated (the pool gives back A's and C's
 * stacks), then B freed (the list is F D E). Each overflow is reported
 * with the right name, a reused stack's old name is gone, and an
 * ordinary segfault walks the whole list and ends (a list that loops
 * never would).
 */
static const char *mixed_target;

static void child_mixed_frees(void)
{
	const char *names[] = { "a", "b", "c", "e" };
	struct cl_stack *s[4], *d, *f, *target = NULL;
	int rc;

	for (int i = 0; i < 4; i++) {
		s[i] = cl_stack_alloc(64 * 1024);
		if (s[i] == NULL) {
			fprintf(stderr, "cl_stack_alloc failed: %s\n",
				strerror(errno));
			_exit(3);
		}
		cl_stack_set_name(s[i], names[i]);
	}
	cl_stack_free(s[2]);
	cl_stack_free(s[0]);
	d = cl_stack_alloc(64 * 1024);
	f = cl_stack_alloc(64 * 1024);
	if (d == NULL || f == NULL) {
		fprintf(stderr, "cl_stack_alloc failed: %s\n", strerror(errno));
		_exit(3);
	}
	cl_stack_set_name(f, "f");
	cl_stack_free(s[1]);
	if (mixed_target == NULL)
		*wild = 1;
	else if (strcmp(mixed_target, "e") == 0)
		target = s[3];
	else if (strcmp(mixed_target, "d") == 0)
		target = d;
	else
		target = f;
	rc = cl_ctx_make(&a_ctx, target->base, target->size, deep, NULL);
	if (rc != 0) {
		fprintf(stderr, "cl_ctx_make returned %d\n", rc);
		_exit(3);
	}
	cl_ctx_swap(&main_ctx, &a_ctx);
	_exit(4);
}

START_TEST(test_live_list_survives_mixed_frees)
{
	static const char *const targets[][2] = {
		{ "e", "'e'" }, { "d", "(unnamed)" }, { "f", "'f'" },
	};
	char out[16384], want[128];
	int st, died;

	for (int i = 0; i < 3; i++) {
		mixed_target = targets[i][0];
		snprintf(want, sizeof want,
			 "corolab: coroutine %s overflowed its stack (64 KiB)",
			 targets[i][1]);
		st = run_child_within(child_mixed_frees, out, sizeof out, 3);
		CL_EXPECT(st != -1 && strstr(out, want) != NULL,
			  "after allocs and frees from the middle, the tail "
			  "and the head of the live list, an overflow of "
			  "stack %s: expected \"%s\"; the child %s and "
			  "wrote: %.1000s",
			  targets[i][0], want, st == -1 ? "hung" : how(st),
			  out);
	}
	mixed_target = NULL;
	st = run_child_within(child_mixed_frees, out, sizeof out, 3);
	died = WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;
	if (CL_ASAN && strstr(out, "AddressSanitizer: SEGV") != NULL)
		died = 1;
	CL_EXPECT(st != -1 && died && strstr(out, "corolab:") == NULL,
		  "after the same allocs and frees, a write to address 16: "
		  "expected an ordinary death by SIGSEGV; the child %s and "
		  "wrote: %.1000s",
		  st == -1 ? "hung (does the live list loop?)" : how(st), out);
}
END_TEST

/*
 * The pool: a freed stack is the next one of its size handed out (last
 * in, first out), never one still in use; it keeps CL_STACK_POOL_MAX
 * stacks and unmaps the rest, guard page too; a size no mapping can
 * have fails with ENOMEM.
 */
START_TEST(test_pool_is_lifo_and_bounded)
{
	enum { N = CL_STACK_POOL_MAX + 8 };
	static struct cl_stack *s[N];
	static char *base[N];
	struct cl_stack *a, *b, *c, *d, *x;
	int kept = 0, gone = 0;

	a = cl_stack_alloc(0);
	b = cl_stack_alloc(0);
	CL_EXPECT(a != NULL && b != NULL, "cl_stack_alloc(0): NULL (%s)",
		  strerror(errno));
	cl_stack_free(b);
	c = cl_stack_alloc(0);
	d = cl_stack_alloc(0);
	CL_EXPECT(c == b, "alloc, alloc, free the second, alloc: expected "
			  "the freed stack back from the pool");
	CL_EXPECT(d != a && d != c,
		  "the pool handed out a stack that is still in use");
	cl_stack_free(a);
	cl_stack_free(c);
	cl_stack_free(d);

	for (int i = 0; i < N; i++) {
		s[i] = cl_stack_alloc(0);
		CL_EXPECT(s[i] != NULL, "cl_stack_alloc(0) number %d: NULL (%s)",
			  i, strerror(errno));
		base[i] = s[i]->base;
	}
	for (int i = 0; i < N; i++) {
		cl_stack_free(s[i]);
		s[i] = NULL; /* a struct left behind is then a leak LSan sees */
	}
	read_maps();
	for (int i = 0; i < N; i++) {
		int m = mapped(base[i], "rw-p") || mapped(base[i] - 1, "---p");
		if (i < CL_STACK_POOL_MAX)
			kept += m;
		else
			gone += !m;
	}
	CL_EXPECT(kept == CL_STACK_POOL_MAX && gone == N - CL_STACK_POOL_MAX,
		  "%d stacks freed in turn: expected the first %d kept in the "
		  "pool (%d are) and the other %d unmapped (%d are)",
		  N, CL_STACK_POOL_MAX, kept, N - CL_STACK_POOL_MAX, gone);

	/* Full, then one out and back in: it is kept, and handed out next. */
	x = cl_stack_alloc(0);
	cl_stack_free(x);
	a = cl_stack_alloc(0);
	CL_EXPECT(a == x, "a stack taken from a full pool and freed again "
			  "must go back to the pool and come out next");
	cl_stack_free(a);

	errno = 0;
	CL_EXPECT(cl_stack_alloc(SIZE_MAX) == NULL && errno == ENOMEM,
		  "cl_stack_alloc(SIZE_MAX): expected NULL with errno ENOMEM, "
		  "errno is %s", strerror(errno));
}
END_TEST

/*
 * The handler must not claim a segfault that is not an overflow: it hands
 * it back to whoever handled SIGSEGV before (the default action: death by
 * SIGSEGV; under ASan, ASan's report, unless ASAN_OPTIONS=handle_segv=0).
 */
START_TEST(test_ordinary_segfault_stays_ordinary)
{
	char out[16384];
	int st = run_child(child_wild_write, out, sizeof out);
	int died = WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;

	CL_EXPECT(strstr(out, "corolab:") == NULL,
		  "a write to address 16 was reported as: %.1000s", out);
	if (CL_ASAN && strstr(out, "AddressSanitizer: SEGV") != NULL)
		died = 1;
	CL_EXPECT(died,
		  "a write to address 16: expected death by SIGSEGV, the "
		  "child %s; it wrote: %.1000s",
		  how(st), out);
}
END_TEST

static void add_stack_tests(void)
{
	cl_test(test_switch_ping_pong, 2, SEC_SWITCH);
	cl_test(test_values_across_many_switches, 2, SEC_SWITCH);
	cl_test(test_callee_saved_registers, 3, SEC_SWITCH);
	cl_test(test_rounding_mode_per_context, 2, SEC_SWITCH);
	cl_test(test_stack_aligned_in_fn, 3, SEC_FRAME);
	cl_test(test_make_rejects_bad_arguments, 1, SEC_FRAME);
	cl_test(test_fn_return_is_reported, 1, SEC_FRAME);
	cl_test(test_pool_reuses_a_freed_stack, 2, SEC_STACK);
	cl_test(test_guard_page_is_prot_none, 2, SEC_STACK);
	cl_test(test_ten_thousand_stacks, 2, SEC_STACK);
	cl_test(test_overflow_report_names_the_coroutine, 3, SEC_STACK);
	cl_test(test_ordinary_segfault_stays_ordinary, 1, SEC_STACK);
	cl_test(test_live_list_survives_reuse, 1, SEC_STACK);
	cl_test(test_live_list_survives_mixed_frees, 1, SEC_STACK);
	cl_test(test_pool_is_lifo_and_bounded, 1, SEC_STACK);
}

CL_CHAPTER(2, "02-stacks", "stacks", add_stack_tests)
