/*
 * io.c - read, write, accept, and fault injection (see io.h).
 *
 * The injector is a few numbers: whether it is on and the rate. A call
 * asks it first, and only when it is not plainly off: one branch on one
 * global in the common case. The numbers it draws come from chapter
 * 09's generator (chaos.c), which also makes timers late and cancels
 * awaits, so that one seed orders every fault of a run; the spec is
 * parsed there too. The injector is the loop thread's alone, like the
 * loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chaos.h"
#include "io.h"
#include "loop.h"

/*
 * -1 until the environment has been read (the first call reads it, or
 * chaos.c's first hook), then 0 (off) or 1 (on). The one thing a call
 * looks at when injection is off.
 */
static int cl__io_faults = -1;

static struct {
	double rate;	/* probability that a call misbehaves */
	struct cl_io_fault_stats stats;
} fi;

/* The fault injector's generator (chaos.c): one for every fault. */
static uint64_t cl__io_next(void)
{
	return cl__chaos_next();
}

/* The spec: "seed=N,rate=R" and chapter 09's keys (chaos.h). */
int cl_io_set_faults(const char *spec)
{
	return cl_chaos_set(spec);
}

void cl__io_arm(double rate)
{
	memset(&fi, 0, sizeof fi);
	fi.rate = rate;
	cl__io_faults = rate > 0;
}

struct cl_io_fault_stats cl_io_fault_stats(void)
{
	return fi.stats;
}

/*
 * Should this call misbehave? 0: do it, with *n bytes (maybe fewer than
 * asked, >= 1); or -EINTR / -EAGAIN: return that instead. n is NULL for
 * accept, which has no count to shorten.
 */
static int cl__io_fault(size_t *n)
{
	const char *env;

	if (cl__io_faults < 0) {
		env = getenv("COROLAB_FAULTS");
		if (cl_io_set_faults(env) < 0)
			fprintf(stderr,
				"corolab: COROLAB_FAULTS=\"%s\" is not "
				"seed=N,rate=R (0..1): ignored\n",
				env);
		if (cl__io_faults == 0)
			return 0;
	}
	fi.stats.calls++;
	if ((double)(cl__io_next() >> 11) * 0x1.0p-53 >= fi.rate)
		return 0;
	switch (cl__io_next() % 3) {
	case 0:
		if (n != NULL && *n > 1) {
			*n = 1 + (size_t)(cl__io_next() % (*n - 1));
			fi.stats.shorts++;
			return 0;
		}
		/* Nothing to shorten: an EINTR instead. */
		/* fall through */
	case 1:
		fi.stats.eintr++;
		return -EINTR;
	default:
		fi.stats.eagain++;
		return -EAGAIN;
	}
}

/* Chapter 09's /metrics: bytes in and out, on the running loop. */
static void cl__io_count(ssize_t n, int out)
{
	struct cl_loop *loop = cl_get_running_loop();

	if (loop == NULL)
		return;
	if (out)
		loop->stats.bytes_out += (uint64_t)n;
	else
		loop->stats.bytes_in += (uint64_t)n;
}

ssize_t cl_io_read(int fd, void *buf, size_t n)
{
	ssize_t r;
	int f;

	if (__builtin_expect(cl__io_faults != 0, 0) &&
	    (f = cl__io_fault(&n)) < 0)
		return f;
	r = read(fd, buf, n);
	if (r < 0)
		return -errno;
	cl__io_count(r, 0);
	return r;
}

/*
 * SIGPIPE kills a process that writes to a pipe nobody reads, which a
 * server must never do because a client went away. CPython ignores it
 * at start-up; we do the same the first time we write to something that
 * is not a socket (sockets get MSG_NOSIGNAL), unless the program has set
 * a handler of its own.
 */
void cl__io_ignore_sigpipe(void)
{
	static int done;
	struct sigaction old;

	if (done)
		return;
	done = 1;
	if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
}

ssize_t cl_io_write(int fd, const void *buf, size_t n)
{
	ssize_t r;
	int f;

	if (__builtin_expect(cl__io_faults != 0, 0) &&
	    (f = cl__io_fault(&n)) < 0)
		return f;
	r = send(fd, buf, n, MSG_NOSIGNAL);
	if (r < 0 && errno == ENOTSOCK) {
		cl__io_ignore_sigpipe();
		r = write(fd, buf, n);
	}
	if (r < 0)
		return -errno;
	cl__io_count(r, 1);
	return r;
}

int cl_io_accept(int lfd)
{
	int fd, f;

	if (__builtin_expect(cl__io_faults != 0, 0) &&
	    (f = cl__io_fault(NULL)) < 0)
		return f;
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	return fd < 0 ? -errno : fd;
}
