/*
 * io.h - the library's only calls to read, write and accept, and a way
 * to make them misbehave on purpose.
 *
 * A non-blocking descriptor answers a read or a write with less than you
 * asked for, or not at all: a short count when the buffer holds less (or
 * has less room), EAGAIN when it is empty (or full), EINTR when a signal
 * came first. Code that only ever meets the polite cases on a quiet
 * machine, with small messages on loopback, breaks on the first busy
 * network. So every read, write and accept in corolab goes through the
 * three functions here, and an environment variable makes them impolite:
 *
 *	COROLAB_FAULTS="seed=7,rate=0.3"
 *
 * makes each call, with probability rate (0 to 1), not do what was asked
 * but one of these, in equal measure: succeed short (a read or write of
 * fewer bytes, at least 1, when more than 1 was asked), fail with EINTR,
 * or fail with EAGAIN (no data, no room) although the descriptor was
 * ready. A small pseudo-random generator seeded by seed decides, so a
 * failure found with one seed comes back with the same seed. Callers
 * must cope: EINTR means call again, EAGAIN means wait for readiness
 * again (sock.c does both). The variable is read at the first call. Off,
 * the cost is one predictable branch per call. Chapter 09 (chaos.h) adds
 * late timers and cancelled awaits to the same variable and generator.
 *
 * Writes never raise SIGPIPE: a write to a socket whose peer is gone
 * returns -EPIPE (send with MSG_NOSIGNAL; for other descriptors SIGPIPE
 * is set to be ignored, once, as CPython does at start-up).
 *
 * The functions return what the system call returns, with errors as
 * negative errno values instead of -1.
 */
#ifndef CL_IO_H
#define CL_IO_H

#include <sys/types.h>

/* read(2): bytes read (0 at end of file), or -errno. */
ssize_t cl_io_read(int fd, void *buf, size_t n);

/* write(2), send(2) with MSG_NOSIGNAL on a socket: bytes written, or
 * -errno (-EPIPE, not SIGPIPE, when the reader is gone). */
ssize_t cl_io_write(int fd, const void *buf, size_t n);

/* accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC: the new descriptor, or
 * -errno. */
int cl_io_accept(int lfd);

/*
 * Set fault injection from a spec like COROLAB_FAULTS's ("seed=N,rate=R";
 * NULL or "" turns it off), restarting the generator from the seed. The
 * environment variable is then no longer read. 0, or -EINVAL for a
 * malformed spec (injection is then off). Chapter 09 adds keys for late
 * timers and cancelled awaits: this is chaos.h's cl_chaos_set.
 */
int cl_io_set_faults(const char *spec);

/* What fault injection has done since it was last set. */
struct cl_io_fault_stats {
	unsigned long calls;  /* calls seen while it was on */
	unsigned long shorts; /* short counts made up */
	unsigned long eintr;  /* EINTR made up */
	unsigned long eagain; /* EAGAIN made up */
};
struct cl_io_fault_stats cl_io_fault_stats(void);

/* For chaos.c, which parses the spec: the rate (0: off) and zero counts. */
void cl__io_arm(double rate);

/* Ignore SIGPIPE, once, unless the program has a handler of its own:
 * for writes that cannot say MSG_NOSIGNAL (pipes, sendfile). */
void cl__io_ignore_sigpipe(void);

#endif
