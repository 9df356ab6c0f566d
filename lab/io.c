/*
 * io.c - read, write, accept, and fault injection (see io.h).
 *
 * The injector is a few numbers: whether it is on, the rate, and the
 * state of a splitmix64 generator. A call asks it first, and only when
 * it is not plainly off: one branch on one global in the common case.
 * The injector is the loop thread's alone, like the loop.
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

#include "io.h"
#include "loop.h"

/*
 * -1 until the environment has been read (the first call reads it), then
 * 0 (off) or 1 (on). The one thing a call looks at when injection is
 * off.
 */
static int cl__io_faults = -1;

static struct {
	double rate;	/* probability that a call misbehaves */
	uint64_t prng;	/* splitmix64 state, from the seed */
	struct cl_io_fault_stats stats;
} fi;

/* splitmix64 (Steele, Lea, Flood 2014): small, fast, good enough. */
static uint64_t cl__io_next(void)
{
	uint64_t z = (fi.prng += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* "seed=N,rate=R", in any order, both optional (seed 0, rate 0). */
static int cl__io_parse(const char *spec, uint64_t *seed, double *rate)
{
	char buf[128], *tok, *save, *end;

	*seed = 0;
	*rate = 0;
	if (strlen(spec) >= sizeof buf)
		return -EINVAL;
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		errno = 0;
		if (strncmp(tok, "seed=", 5) == 0) {
			*seed = strtoull(tok + 5, &end, 0);
		} else if (strncmp(tok, "rate=", 5) == 0) {
			*rate = strtod(tok + 5, &end);
			if (!(*rate >= 0 && *rate <= 1))
				return -EINVAL;
		} else {
			return -EINVAL;
		}
		if (errno != 0 || end == tok + 5 || *end != '\0')
			return -EINVAL;
	}
	return 0;
}

int cl_io_set_faults(const char *spec)
{
	uint64_t seed;
	double rate;
	int err;

	memset(&fi, 0, sizeof fi);
	cl__io_faults = 0;
	if (spec == NULL || *spec == '\0')
		return 0;
	err = cl__io_parse(spec, &seed, &rate);
	if (err < 0)
		return err;
	fi.rate = rate;
	fi.prng = seed;
	cl__io_faults = rate > 0;
	return 0;
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
