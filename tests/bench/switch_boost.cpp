/*
 * switch_boost.cpp - what one context switch costs in Boost.Context, the
 * C++ peer of corolab's switch (switch.c has corolab and ucontext).
 *
 *	switch_boost [-r reps] [-t ms] [-n round_trips]
 *
 * Same options, same ping-pong and same output as switch.c: one round trip
 * main -> peer -> main is two switches; the figure is ns per switch. The
 * methods:
 *
 *	boost_fcontext  make_fcontext/jump_fcontext, the assembly layer under
 *	                everything in Boost.Context: like cl_ctx_switch it
 *	                saves the callee-saved registers and the FPU control
 *	                words and swaps stacks, and it returns a value to the
 *	                context it resumes. The fair peer of a raw register
 *	                switch.
 *	boost_fiber     boost::context::fiber, the C++ object on top of it: a
 *	                move-only handle, resume() returns the peer's handle
 *	boost_callcc    boost::context::continuation (callcc), the older
 *	                interface over the same layer
 *
 * Repetitions are interleaved and each method keeps its best, as in
 * switch.c. Lines starting with '#' are comments.
 */
#include <boost/context/continuation.hpp>
#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace ctx = boost::context;
using ctx::detail::fcontext_t;
using ctx::detail::transfer_t;

static const std::size_t stack_size = 64 * 1024;

static double now_ns()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/*
 * fcontext: jump_fcontext(to, data) suspends the caller and returns, once
 * someone jumps back, a transfer_t whose fctx is the context that jumped
 * here. The peer answers each jump by jumping straight back to it.
 */
static fcontext_t fc_peer;

static void fc_peer_body(transfer_t t)
{
	for (;;)
		t = ctx::detail::jump_fcontext(t.fctx, nullptr);
}

static void fcontext_setup()
{
	void *stack = mmap(nullptr, stack_size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (stack == MAP_FAILED) {
		perror("switch_boost: mmap");
		std::exit(1);
	}
	/* make_fcontext takes the top of the stack: it grows down. */
	fc_peer = ctx::detail::make_fcontext(
		static_cast<char *>(stack) + stack_size, stack_size,
		fc_peer_body);
}

static void fcontext_run(long n)
{
	for (long i = 0; i < n; i++)
		fc_peer = ctx::detail::jump_fcontext(fc_peer, nullptr).fctx;
}

/* fiber: resume() gives back the fiber that resumed us, and so on. */
static ctx::fiber fib_peer;

static void fiber_setup()
{
	fib_peer = ctx::fiber(std::allocator_arg,
			      ctx::fixedsize_stack(stack_size),
			      [](ctx::fiber &&main) {
				      for (;;)
					      main = std::move(main).resume();
				      return std::move(main);
			      });
}

static void fiber_run(long n)
{
	for (long i = 0; i < n; i++)
		fib_peer = std::move(fib_peer).resume();
}

/* callcc enters the peer at once; the peer's first resume() returns. */
static ctx::continuation cc_peer;

static void callcc_setup()
{
	cc_peer = ctx::callcc(std::allocator_arg,
			      ctx::fixedsize_stack(stack_size),
			      [](ctx::continuation &&main) {
				      for (;;)
					      main = main.resume();
				      return std::move(main);
			      });
}

static void callcc_run(long n)
{
	for (long i = 0; i < n; i++)
		cc_peer = cc_peer.resume();
}

struct method {
	const char *name;
	void (*setup)();
	void (*run)(long round_trips);
	long n;	     /* round trips per repetition */
	double best; /* best ns per switch so far */
};

static method methods[] = {
	{ "boost_fcontext", fcontext_setup, fcontext_run, 0, 0 },
	{ "boost_fiber", fiber_setup, fiber_run, 0, 0 },
	{ "boost_callcc", callcc_setup, callcc_run, 0, 0 },
};

static const std::size_t nmethods = sizeof(methods) / sizeof(methods[0]);

static double time_run(method *m, long n)
{
	double t0 = now_ns();

	m->run(n);
	return now_ns() - t0;
}

/* As in switch.c: grow tenfold to 10 ms (the warm-up), then scale. */
static long calibrate(method *m, double target_ns)
{
	long n = 1000;
	double t;

	for (;;) {
		t = time_run(m, n);
		if (t >= 10e6 || n >= 1000000000L)
			break;
		n *= 10;
	}
	if (t < 1)
		t = 1;
	n = (long)(n * (target_ns / t));
	return n < 1000 ? 1000 : n;
}

int main(int argc, char **argv)
{
	int reps = 5, opt;
	double target_ms = 200;
	long fixed_n = 0;

	while ((opt = getopt(argc, argv, "r:t:n:")) != -1) {
		switch (opt) {
		case 'r':
			reps = std::atoi(optarg);
			break;
		case 't':
			target_ms = std::atof(optarg);
			break;
		case 'n':
			fixed_n = std::atol(optarg);
			break;
		default:
			std::fprintf(stderr, "usage: switch_boost [-r reps] "
					     "[-t ms] [-n round_trips]\n");
			return 2;
		}
	}
	if (reps < 1)
		reps = 1;

	for (method &m : methods) {
		m.setup();
		m.n = fixed_n ? fixed_n : calibrate(&m, target_ms * 1e6);
		m.best = 1e300;
	}
	for (int r = 0; r < reps; r++) {
		for (method &m : methods) {
			double ns = time_run(&m, m.n) / m.n / 2;

			if (ns < m.best)
				m.best = ns;
		}
	}

	std::printf("# switch_boost: best of %d interleaved repetitions; "
		    "round trips per repetition:",
		    reps);
	for (method &m : methods)
		std::printf(" %s %ld", m.name, m.n);
	std::printf("\n");
	for (method &m : methods)
		std::printf("switch %s %.2f\n", m.name, m.best);
	for (std::size_t i = 1; i < nmethods; i++)
		std::printf("ratio %s/boost_fcontext %.1f\n", methods[i].name,
			    methods[i].best / methods[0].best);
	/*
	 * The fiber and continuation would be unwound by their destructors
	 * at exit (Boost throws forced_unwind through the peer's stack); the
	 * process is ending anyway, so skip that.
	 */
	std::fflush(stdout);
	_exit(0);
}
