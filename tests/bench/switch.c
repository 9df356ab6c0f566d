/*
 * switch.c - what one context switch costs: corolab against its C peers.
 *
 *	switch [-r reps] [-t ms] [-n round_trips]
 *
 *	-r	repetitions of each method; the best one counts (default 5)
 *	-t	target time of one repetition in milliseconds (default 200)
 *	-n	fixed number of round trips per repetition (default: calibrated
 *		so that one repetition takes about -t milliseconds)
 *
 * Every method plays the same ping-pong: the main context switches to a
 * peer whose whole body is a loop that switches straight back. One round
 * trip (main -> peer -> main) is TWO switches, and the figure printed is
 * nanoseconds per switch. The methods:
 *
 *	corolab    cl_ctx_switch (solutions/ctx_x86_64.S): pushes the
 *	           callee-saved registers and the FPU control words, swaps
 *	           the stack pointer, pops the peer's
 *	ucontext   glibc swapcontext: saves every register, the FPU state
 *	           and the signal mask, which costs an rt_sigprocmask system
 *	           call per switch
 *	corolab_nofpu  the same switch built with -DCL_CTX_NOFPU (make
 *	           NOFPU=1): no MXCSR or x87 control word
 *	limit      the least a switch can be: stack pointers swapped, the
 *	           return address popped and jumped to, rbp kept, nothing
 *	           else (see limit_switch)
 *	os_thread  two kernel threads pinned to one CPU handing a futex word
 *	           back and forth: a real scheduler switch, with the futex
 *	           wake and wait system calls any blocking hand-off needs
 *
 * Boost.Context is C++ and has a program of its own (switch_boost.cpp);
 * run.sh runs both side by side.
 *
 * The machine is shared and small, so absolute times are noise; the ratios
 * between methods measured in the same run are the figure. To keep noise
 * from favouring one method, the repetitions are interleaved (corolab,
 * ucontext, os_thread, corolab, ...) and each method keeps its best one.
 *
 * Output, one line each, for tests/bench/run.sh and anyone reading:
 *	switch <method> <ns per switch>
 *	syscall rt_sigprocmask <ns per call>
 *	ratio <method>/corolab <how many times slower than corolab>
 * Lines starting with '#' are comments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "bench.h"
#include "ctx.h"
#include "stack.h"

#define STACK_SIZE (64 * 1024)


static void die(const char *what)
{
	fprintf(stderr, "switch: %s: %s\n", what, strerror(errno));
	exit(1);
}

/*
 * corolab: the peer is a coroutine on a stack from cl_stack_alloc. Its
 * first switch-in starts cl_peer_body; every later one resumes it inside
 * cl_ctx_switch, which returns straight into the loop. cl_ctx_swap is
 * cl_ctx_switch itself unless built with AddressSanitizer (ctx.h).
 */
static struct cl_ctx cl_main, cl_peer;
static struct cl_stack *cl_peer_stack;

static void cl_peer_body(void *arg)
{
	(void)arg;
	for (;;)
		cl_ctx_swap(&cl_peer, &cl_main);
}

static void corolab_setup(void)
{
	int err;

	cl_peer_stack = cl_stack_alloc(STACK_SIZE);
	if (cl_peer_stack == NULL)
		die("cl_stack_alloc");
	err = cl_ctx_make(&cl_peer, cl_peer_stack->base, cl_peer_stack->size,
			  cl_peer_body, NULL);
	if (err < 0) {
		errno = -err;
		die("cl_ctx_make");
	}
}

static void corolab_run(long n)
{
	for (long i = 0; i < n; i++)
		cl_ctx_swap(&cl_main, &cl_peer);
}

/*
 * corolab_nofpu: the same switch assembled with -DCL_CTX_NOFPU (bench.mk
 * renames it cl_ctx_switch_nofpu), which leaves MXCSR and the x87 control
 * word alone. Its frame is the same, so cl_ctx_make's first frame serves.
 */
void cl_ctx_switch_nofpu(struct cl_ctx *from, struct cl_ctx *to);
static struct cl_ctx nf_main, nf_peer;
static struct cl_stack *nf_peer_stack;

static void nf_peer_body(void *arg)
{
	(void)arg;
	for (;;)
		cl_ctx_switch_nofpu(&nf_peer, &nf_main);
}

static void nofpu_setup(void)
{
	nf_peer_stack = cl_stack_alloc(STACK_SIZE);
	if (nf_peer_stack == NULL ||
	    cl_ctx_make(&nf_peer, nf_peer_stack->base, nf_peer_stack->size,
			nf_peer_body, NULL) < 0)
		die("nofpu setup");
}

static void nofpu_run(long n)
{
	for (long i = 0; i < n; i++)
		cl_ctx_switch_nofpu(&nf_main, &nf_peer);
}

/*
 * limit: the least a switch can do, to measure the others against. It
 * saves no register but rbp (which a frame-pointer build cannot hand to
 * the compiler): the stack pointer out, the other's in, its return
 * address popped and jumped to. Correct only because every call goes
 * through an asm statement telling the compiler that all the other
 * registers die there, so nothing lives in them across it (and it
 * steps over the 128-byte red zone below rsp, which a call would
 * overwrite).
 */
#if defined(__x86_64__)
__asm__(".pushsection .text\n"
	".type limit_switch, @function\n"
	"limit_switch:\n"
	"	pushq %rbp\n"
	"	movq %rsp, (%rdi)\n"
	"	movq (%rsi), %rsp\n"
	"	popq %rbp\n"
	"	popq %r8\n"
	"	jmpq *%r8\n"
	".size limit_switch, .-limit_switch\n"
	".popsection\n");

static void *limit_main_sp, *limit_peer_sp;
static char *limit_stack;

static inline void limit_swap(void **from, void **to)
{
	__asm__ volatile("leaq -128(%%rsp), %%rsp\n\t"
			 "call limit_switch\n\t"
			 "leaq 128(%%rsp), %%rsp"
			 : "+D"(from), "+S"(to)
			 :
			 : "rax", "rcx", "rdx", "r8", "r9", "r10", "r11", "rbx",
			   "r12", "r13", "r14", "r15", "xmm0", "xmm1", "xmm2",
			   "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
			   "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
			   "xmm15", "memory", "cc");
}

static __attribute__((noreturn, used)) void limit_peer_body(void)
{
	for (;;)
		limit_swap(&limit_peer_sp, &limit_main_sp);
}

/* The peer's first frame: rbp = 0 and the address to "return" to, with
 * rsp left 8 bytes below a 16-byte boundary, as after a call. */
static void limit_setup(void)
{
	void **top;

	limit_stack = malloc(STACK_SIZE);
	if (limit_stack == NULL)
		die("malloc");
	top = (void **)(((uintptr_t)limit_stack + STACK_SIZE) & ~(uintptr_t)15);
	top[-1] = NULL;
	top[-2] = (void *)limit_peer_body;
	top[-3] = NULL;
	limit_peer_sp = &top[-3];
}

static void limit_run(long n)
{
	for (long i = 0; i < n; i++)
		limit_swap(&limit_main_sp, &limit_peer_sp);
}
#endif

/* ucontext: the same ping-pong with swapcontext, on a plain mmap stack. */
static ucontext_t uc_main, uc_peer;

static void uc_peer_body(void)
{
	for (;;)
		swapcontext(&uc_peer, &uc_main);
}

static void ucontext_setup(void)
{
	void *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (stack == MAP_FAILED)
		die("mmap");
	if (getcontext(&uc_peer) < 0)
		die("getcontext");
	uc_peer.uc_stack.ss_sp = stack;
	uc_peer.uc_stack.ss_size = STACK_SIZE;
	uc_peer.uc_link = NULL;
	makecontext(&uc_peer, uc_peer_body, 0);
}

static void ucontext_run(long n)
{
	for (long i = 0; i < n; i++)
		swapcontext(&uc_main, &uc_peer);
}

/*
 * os_thread: the peer is a kernel thread. turn says whose move it is
 * (0 main, 1 peer); whoever finds it is not their turn sleeps in
 * futex_wait. Both threads are pinned to the CPU main is on, so the peer
 * can only run when main blocks: every hand-off is one scheduler switch
 * on one CPU, not a wake-up across two.
 */
static _Atomic int turn;
static pthread_t peer_thread;
static int pinned; /* 1 if both threads could be pinned to one CPU */

static void futex_wait(_Atomic int *word, int val)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic int *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *peer_thread_body(void *arg)
{
	(void)arg;
	for (;;) {
		while (atomic_load(&turn) != 1)
			futex_wait(&turn, 0);
		atomic_store(&turn, 0);
		futex_wake(&turn);
	}
	return NULL;
}

static void os_thread_setup(void)
{
	errno = pthread_create(&peer_thread, NULL, peer_thread_body, NULL);
	if (errno)
		die("pthread_create");
}

static void os_thread_run(long n)
{
	cpu_set_t one, saved;
	int cpu = sched_getcpu();

	/*
	 * Pin for this repetition only, to whichever CPU main is on now, and
	 * give the other methods their freedom back afterwards.
	 */
	CPU_ZERO(&one);
	CPU_SET(cpu < 0 ? 0 : cpu, &one);
	pinned = pthread_getaffinity_np(pthread_self(), sizeof(saved),
					&saved) == 0 &&
		 pthread_setaffinity_np(peer_thread, sizeof(one), &one) == 0 &&
		 pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
	for (long i = 0; i < n; i++) {
		atomic_store(&turn, 1);
		futex_wake(&turn);
		while (atomic_load(&turn) != 0)
			futex_wait(&turn, 1);
	}
	pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	pthread_setaffinity_np(peer_thread, sizeof(saved), &saved);
}

/*
 * Not a method: the system call glibc's swapcontext makes on every switch
 * to save and restore the signal mask, timed alone so the ucontext figure
 * can be explained.
 */
static void sigprocmask_run(long n)
{
	sigset_t set;

	sigemptyset(&set);
	pthread_sigmask(SIG_SETMASK, NULL, &set);
	for (long i = 0; i < n; i++)
		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &set, NULL, _NSIG / 8);
}

struct method {
	const char *name;
	void (*setup)(void);
	void (*run)(long round_trips);
	int switches; /* per round trip: 2, or 1 for a bare system call */
	long n;       /* round trips per repetition, from bench_calibrate */
	double best;  /* best ns per switch so far */
	int print;    /* a "switch" line, or only a comment */
};

static struct method methods[] = {
	{ "corolab", corolab_setup, corolab_run, 2, 0, 0, 1 },
	{ "corolab_nofpu", nofpu_setup, nofpu_run, 2, 0, 0, 1 },
#if defined(__x86_64__)
	{ "limit", limit_setup, limit_run, 2, 0, 0, 1 },
#endif
	{ "ucontext", ucontext_setup, ucontext_run, 2, 0, 0, 1 },
	{ "os_thread", os_thread_setup, os_thread_run, 2, 0, 0, 1 },
	{ "rt_sigprocmask", NULL, sigprocmask_run, 1, 0, 0, 0 },
};

#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

int main(int argc, char **argv)
{
	int reps = 5, opt;
	double target_ms = 200;
	long fixed_n = 0;
	struct method *corolab = &methods[0];

	while ((opt = getopt(argc, argv, "r:t:n:")) != -1) {
		switch (opt) {
		case 'r':
			reps = atoi(optarg);
			break;
		case 't':
			target_ms = atof(optarg);
			break;
		case 'n':
			fixed_n = atol(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: switch [-r reps] [-t ms] [-n round_trips]\n");
			return 2;
		}
	}
	if (reps < 1)
		reps = 1;

	for (size_t i = 0; i < NMETHODS; i++) {
		struct method *m = &methods[i];

		if (m->setup)
			m->setup();
		m->n = fixed_n ? fixed_n
			       : bench_calibrate(m->run, target_ms * 1e6);
		m->best = 1e300;
	}

	/* Interleaved: one repetition of each method per pass. */
	for (int r = 0; r < reps; r++) {
		for (size_t i = 0; i < NMETHODS; i++) {
			struct method *m = &methods[i];
			double ns = bench_time(m->run, m->n) / m->n /
				    m->switches;

			if (ns < m->best)
				m->best = ns;
		}
	}

	printf("# switch: best of %d interleaved repetitions; round trips per "
	       "repetition:",
	       reps);
	for (size_t i = 0; i < NMETHODS; i++)
		printf(" %s %ld", methods[i].name, methods[i].n);
	printf("\n");
	if (!pinned)
		printf("# os_thread: could not pin both threads to one CPU\n");
	for (size_t i = 0; i < NMETHODS; i++) {
		struct method *m = &methods[i];

		if (m->print)
			printf("switch %s %.2f\n", m->name, m->best);
		else
			printf("syscall %s %.2f\n", m->name, m->best);
	}
	for (size_t i = 1; i < NMETHODS; i++) {
		struct method *m = &methods[i];

		if (m->print)
			printf("ratio %s/corolab %.1f\n", m->name,
			       m->best / corolab->best);
	}
	return 0;
}
