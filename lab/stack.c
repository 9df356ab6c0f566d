/*
 * stack.c - coroutine stacks: mmap, a guard page, a pool, and a report
 * when a coroutine runs off the bottom of its stack.
 *
 * One stack is one anonymous mapping:
 *
 *	map            base = map + page                  base + size
 *	 +-------------+------------------------------------+
 *	 | guard page  |  usable stack, read/write          |
 *	 | PROT_NONE   |            <- grows down from here |
 *	 +-------------+------------------------------------+
 *
 * The kernel commits a page of it only when it is first touched, so a
 * 256 KiB stack whose coroutine uses 3 KiB costs one page of memory.
 * The guard page is never committed: any access to it faults (SIGSEGV),
 * which is what turns a stack overflow from silent corruption of the
 * memory below into a crash at the guilty instruction.
 *
 * mmap, mprotect and munmap are system calls, each a microsecond or so,
 * plus the page faults of a fresh mapping. Coroutines come and go by the
 * thousand, so cl_stack_free keeps up to CL_STACK_POOL_MAX stacks on a
 * free list and cl_stack_alloc takes from it first: a spawn then costs a
 * lock and a few pointer moves, and the stack's pages are already there.
 *
 * Every stack handed out sits on the live list. When a SIGSEGV comes,
 * cl__stack_segv looks for the fault address in the guard pages of the
 * live stacks; found, it names the coroutine before the process dies.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ctx.h" /* CL_ASAN */
#include "stack.h"

#if CL_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CL_VALGRIND 1
#endif
#endif

/* Size of the alternate signal stack the overflow handler runs on. */
#define CL__ALTSTACK_SIZE (64 * 1024)

static struct {
	pthread_mutex_t lock;	   /* guards live, pool, npool */
	struct cl_stack *live;	   /* handed out; the handler walks it */
	struct cl_stack *pool;	   /* freed, kept for reuse; newest first */
	int npool;		   /* length of pool, <= CL_STACK_POOL_MAX */
	size_t page;		   /* page size; set once, then read-only */
	struct sigaction old_segv; /* SIGSEGV action before ours */
} cl__stacks = {.lock = PTHREAD_MUTEX_INITIALIZER};

/*
 * Tools. valgrind tracks the stack pointer; a jump to another stack looks
 * like a frame megabytes deep unless the stack is registered. ASan keeps
 * shadow memory for every stack byte; frames that never returned (a
 * coroutine suspended for good) leave their redzones marked there, which
 * the next user of the same memory would trip over, so clear them.
 */
static void cl__stack_tools_alloc(struct cl_stack *s)
{
#ifdef CL_VALGRIND
	s->tools_id =
	    VALGRIND_STACK_REGISTER(s->base, (char *)s->base + s->size - 1);
#else
	(void)s;
#endif
}

static void cl__stack_tools_free(struct cl_stack *s)
{
#ifdef CL_VALGRIND
	VALGRIND_STACK_DEREGISTER(s->tools_id);
#endif
#if CL_ASAN
	__asan_unpoison_memory_region(s->base, s->size);
#endif
	(void)s;
}

/* Async-signal-safe formatting: no stdio in a signal handler. */
static char *cl__put_str(char *p, const char *end, const char *str)
{
	while (*str && p < end)
		*p++ = *str++;
	return p;
}

static char *cl__put_uint(char *p, const char *end, size_t v)
{
	char digits[24];
	int n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0 && p < end)
		*p++ = digits[--n];
	return p;
}

/*
 * The SIGSEGV handler, on the alternate signal stack (the faulting stack
 * has no room left: that is the point).
 *
 * 1. A real fault (si_code > 0, not a kill) inside the guard page of a
 *    live stack? Then a coroutine overflowed: write who, with write(2)
 *    alone, and make the default action (death by SIGSEGV) ours.
 * 2. Anything else is an ordinary segfault: put back the action we found
 *    when we installed ours (the default, or ASan's report).
 * Then return. The faulting instruction runs again, faults again, and
 * the action now in place ends the process.
 *
 * The live list is read without the lock: a signal handler may take no
 * lock (the interrupted code could hold it). The worst a cl_stack_free
 * racing in another thread can do is cost the message; the process is
 * dying anyway.
 */
static void cl__stack_segv(int sig, siginfo_t *si, void *uctx)
{
	char msg[256], *p = msg, *end = msg + sizeof msg;
	char *addr = si->si_addr;
	struct cl_stack *s = NULL;
	struct sigaction dfl;

	(void)sig, (void)uctx;
	if (si->si_code > 0)
		for (s = cl__stacks.live; s != NULL; s = s->next)
			if (addr < (char *)s->base &&
			    addr >= (char *)s->base - cl__stacks.page)
				break;
	if (s == NULL) {
		sigaction(SIGSEGV, &cl__stacks.old_segv, NULL);
		return;
	}

	p = cl__put_str(p, end, "corolab: coroutine ");
	if (s->name[0] != '\0') {
		p = cl__put_str(p, end, "'");
		p = cl__put_str(p, end, s->name);
		p = cl__put_str(p, end, "'");
	} else {
		p = cl__put_str(p, end, "(unnamed)");
	}
	p = cl__put_str(p, end, " overflowed its stack (");
	p = cl__put_uint(p, end, s->size / 1024);
	p = cl__put_str(p, end,
			" KiB): it ran into the guard page below "
			"the stack. Give it a bigger stack, or "
			"recurse less.\n");
	if (write(STDERR_FILENO, msg, (size_t)(p - msg)) < 0) {
		/* Nowhere to complain; die all the same. */
	}

	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGSEGV, &dfl, NULL);
}

/* Once per process: the page size, the handler, the thread-exit hook. */
static pthread_once_t cl__stack_once = PTHREAD_ONCE_INIT;
static int cl__stack_once_errno;
static pthread_key_t cl__altstack_key;
static __thread int cl__altstack_ready;

/* A thread that had our alternate stack is exiting: take it down. */
static void cl__altstack_free(void *mem)
{
	stack_t off = {.ss_flags = SS_DISABLE};

	sigaltstack(&off, NULL);
	munmap(mem, CL__ALTSTACK_SIZE);
}

static void cl__stack_install(void)
{
	struct sigaction sa;

	cl__stacks.page = (size_t)sysconf(_SC_PAGESIZE);
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = cl__stack_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (pthread_key_create(&cl__altstack_key, cl__altstack_free) != 0 ||
	    sigaction(SIGSEGV, &sa, &cl__stacks.old_segv) < 0)
		cl__stack_once_errno = errno ? errno : EAGAIN;
}

/*
 * Before the first stack: install the handler (once per process) and give
 * the calling thread an alternate signal stack, unless it has one already
 * (ASan, for one, gives every thread its own). -1 with errno on failure.
 */
static int cl__stack_init(void)
{
	stack_t ss;
	void *mem;

	pthread_once(&cl__stack_once, cl__stack_install);
	if (cl__stack_once_errno != 0) {
		errno = cl__stack_once_errno;
		return -1;
	}
	if (cl__altstack_ready)
		return 0;
	if (sigaltstack(NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE)) {
		cl__altstack_ready = 1;
		return 0;
	}
	mem = mmap(NULL, CL__ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -1;
	ss.ss_sp = mem;
	ss.ss_size = CL__ALTSTACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) < 0) {
		munmap(mem, CL__ALTSTACK_SIZE);
		return -1;
	}
	pthread_setspecific(cl__altstack_key, mem);
	cl__altstack_ready = 1;
	return 0;
}

/*
 * cl_stack_alloc: a stack of at least size usable bytes (0 means
 * CL_STACK_DEFAULT), in whole pages, with a PROT_NONE guard page just
 * below base. A pooled stack of that size is reused before anything is
 * mapped. Every stack handed out is on the live list, unnamed, where
 * the overflow handler will look for it. On failure: NULL, errno set,
 * nothing leaked.
 */
struct cl_stack *cl_stack_alloc(size_t size)
{
	struct cl_stack *s = NULL;

	if (cl__stack_init() < 0)
		return NULL;
	/* TODO(ch02): Return a stack of at least size usable bytes
	 * (0: CL_STACK_DEFAULT) with a PROT_NONE guard page below
	 * base, on the live list with an empty name: from the pool
	 * when one of that size is there, else freshly mapped. On
	 * failure: NULL, errno set, nothing leaked. No CPython twin
	 * (its frames live on the heap); read section 3.
	 * Hints: make hint CH=2 TODO=stack_alloc (3 levels). */
	(void)size;
	errno = ENOSYS;
	if (s != NULL)
		cl__stack_tools_alloc(s);
	return s;
}

/*
 * cl_stack_free: off the live list; into the pool while it has fewer
 * than CL_STACK_POOL_MAX stacks, otherwise unmapped (guard page too).
 */
void cl_stack_free(struct cl_stack *s)
{
	if (s == NULL)
		return;
	cl__stack_tools_free(s);
	/* TODO(ch02): s leaves the live list; it goes into the pool
	 * while the pool holds fewer than CL_STACK_POOL_MAX stacks,
	 * otherwise its whole mapping, guard page included, and its
	 * struct are given back. No CPython twin; read section 3.
	 * Hints: make hint CH=2 TODO=stack_free (2 levels). */
	(void)s;
}

void cl_stack_set_name(struct cl_stack *s, const char *name)
{
	if (s != NULL)
		snprintf(s->name, sizeof s->name, "%s", name ? name : "");
}

/*
 * Chapter 09: a stack grows down from base + size, and the kernel gives
 * it a page the first time it is touched. mincore(2) says which pages of
 * the mapping are in memory, so the lowest one, counted from the top, is
 * how deep the stack has ever been.
 */
size_t cl_stack_high_water(const struct cl_stack *s)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t n = s->size / page, i;
	unsigned char small[256], *vec = small;

	if (n > sizeof small && (vec = malloc(n)) == NULL)
		return 0;
	if (mincore(s->base, s->size, vec) < 0) {
		if (vec != small)
			free(vec);
		return 0;
	}
	for (i = 0; i < n && !(vec[i] & 1); i++)
		;
	if (vec != small)
		free(vec);
	return (n - i) * page;
}
