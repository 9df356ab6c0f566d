/*
 * ch04_sockets.c - chapter 04: the poller, the loop's fd callbacks,
 * sockets as awaitables.
 *
 * The orderings expected here are what CPython 3.11's asyncio does with
 * the same program: tests/py/ch04_readers.py (add_reader and friends) and
 * tests/py/ch04_sockets.py (sock_recv and friends) print the lines these
 * tests compare with; the comment above each test names its block. Where
 * corolab deliberately differs (a second waiter on a socket gets -EBUSY,
 * errors are negative errno values rather than OSError), the test says
 * so.
 *
 * Callbacks and coroutines report through a log string, so a failure
 * shows what ran, in what order, next to what should have. An error
 * from a library call inside a coroutine is written into the log too
 * (the assertion happens after cl_run returns, never on a coroutine's
 * stack). Sockets are socketpairs and TCP on 127.0.0.1, port 0. Runs use
 * the virtual clock, except the two that are about real waiting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fdwatch.h"
#include "future.h"
#include "grade.h"
#include "io.h"
#include "loop.h"
#include "poller.h"
#include "run.h"
#include "sock.h"
#include "task.h"
#include "trace.h"
#include "trail.h"
#include "value.h"

#define SEC_WATCH "1. Watching a file descriptor"
#define SEC_LEVEL "2. Level-triggered readiness"
#define SEC_BACKENDS "3. Three back ends, one interface"
#define SEC_WAIT "4. The loop sleeps in the poller"
#define SEC_AWAIT "5. Awaiting readiness"
#define SEC_SOCK "6. recv and sendall"
#define SEC_CONNECT "7. connect and accept"
#define SEC_FAULTS "8. Short counts, EINTR, EAGAIN: fault injection"
#define SEC_TRACE "9. I/O in the trace"


/* errno names for the log, as Python's errno.errorcode spells them. */
static const char *ename(long e)
{
	switch (e < 0 ? -e : e) {
	case 0: return "0";
	case EAGAIN: return "EAGAIN";
	case EBADF: return "EBADF";
	case EBUSY: return "EBUSY";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNRESET: return "ECONNRESET";
	case EINTR: return "EINTR";
	case EINVAL: return "EINVAL";
	case ENOSYS: return "ENOSYS";
	case EPERM: return "EPERM";
	case EPIPE: return "EPIPE";
	}
	return "E?";
}

/* A library call that must succeed: log it when it does not. */
#define MUST(call)                                                           \
	do {                                                                 \
		long rc_ = (long)(call);                                     \
		if (rc_ < 0)                                                 \
			note("[%s failed: %s]", #call, ename(rc_));          \
	} while (0)

static struct cl_loop *loop_(void)
{
	return cl_get_running_loop();
}

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run_ok(void *(*fn)(void *), void *arg)
{
	return run_on(CL_CLOCK_VIRTUAL, fn, arg);
}

#define EXPECT_TRAIL(want) CL_EXPECT_STR(trail, want)

/* A connected pair of non-blocking stream sockets. */
static void pair(int sv[2])
{
	int rc = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    0, sv);

	CL_EXPECT(rc == 0, "socketpair: %s", strerror(errno));
}

/* A non-blocking TCP socket bound to 127.0.0.1 on a free port, listening
 * if listening is set; *sa gets its address. */
static int tcp_bound(struct sockaddr_in *sa, int listening)
{
	socklen_t len = sizeof *sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	CL_EXPECT(fd >= 0, "socket: %s", strerror(errno));
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CL_EXPECT(bind(fd, (struct sockaddr *)sa, sizeof *sa) == 0,
		  "bind: %s", strerror(errno));
	CL_EXPECT(getsockname(fd, (struct sockaddr *)sa, &len) == 0,
		  "getsockname: %s", strerror(errno));
	if (listening)
		CL_EXPECT(listen(fd, 16) == 0, "listen: %s", strerror(errno));
	return fd;
}

static int tcp_socket(void)
{
	return socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/*
 * Section 1: watching a file descriptor.
 */

struct fires {
	int fd;
	struct cl_future *fut;
};

static void fires_on_data(void *arg)
{
	struct fires *r = arg;
	char buf[100];
	ssize_t n = read(r->fd, buf, sizeof buf);

	note("data:%.*s", (int)(n > 0 ? n : 0), buf);
	note("%s", tf(cl_loop_remove_reader(loop_(), r->fd) == 1));
	cl_future_set_result(r->fut, NULL);
}

static void *fires_main(void *arg)
{
	struct fires r;
	int sv[2];

	(void)arg;
	pair(sv);
	r.fd = sv[0];
	r.fut = cl_future_new(NULL);
	MUST(cl_loop_add_reader(loop_(), sv[0], fires_on_data, &r));
	cl_sleep(0);
	cl_sleep(0);
	note("idle");
	MUST(write(sv[1], "hi", 2));
	cl_sleep(0);
	note("main");
	cl_await(r.fut);
	note("woken");
	note("nwatched=%zu", cl_loop_nwatched(loop_()));
	cl_future_decref(r.fut);
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

/* ch04_readers.py, test_add_reader_fires_when_data_arrives. */
START_TEST(test_add_reader_fires_when_data_arrives)
{
	run_ok(fires_main, NULL);
	EXPECT_TRAIL("idle main data:hi True woken nwatched=0");
}
END_TEST

static void order_reader(void *arg)
{
	note("reader");
	cl_loop_remove_reader(loop_(), *(int *)arg);
}

static void *order_main(void *arg)
{
	struct cl_loop *loop = loop_();
	int sv[2];

	(void)arg;
	pair(sv);
	MUST(write(sv[1], "x", 1));
	cl_loop_call_soon(loop, note_cb, "soon");
	cl_loop_call_later(loop, 0, note_cb, "timer");
	MUST(cl_loop_add_reader(loop, sv[0], order_reader, &sv[0]));
	note("main");
	cl_sleep(0);
	note("main-again");
	cl_sleep(0);
	note("main-3");
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

/* ch04_readers.py, test_fd_callbacks_join_the_ready_queue. */
START_TEST(test_fd_callbacks_join_the_ready_queue)
{
	run_ok(order_main, NULL);
	EXPECT_TRAIL("main soon main-again reader timer main-3");
}
END_TEST

static void *replace_main(void *arg)
{
	struct cl_loop *loop = loop_();
	int sv[2];

	(void)arg;
	pair(sv);
	MUST(cl_loop_add_reader(loop, sv[0], note_cb, "first"));
	MUST(cl_loop_add_reader(loop, sv[0], note_cb, "second"));
	MUST(write(sv[1], "x", 1));
	cl_sleep(0);
	note("main");
	cl_sleep(0);
	note("%s", tf(cl_loop_remove_reader(loop, sv[0]) == 1));
	note("%s", tf(cl_loop_remove_reader(loop, sv[0]) == 1));
	cl_sleep(0);
	cl_sleep(0);
	note("end");
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

/* ch04_readers.py, test_add_reader_replaces_callback. */
START_TEST(test_add_reader_replaces_callback)
{
	run_ok(replace_main, NULL);
	EXPECT_TRAIL("main second True False end");
}
END_TEST

static int rw_fd;

static void rw_writer(void *arg)
{
	(void)arg;
	note("writer");
	cl_loop_remove_writer(loop_(), rw_fd);
}

static void rw_reader(void *arg)
{
	char c;

	(void)arg;
	note("reader");
	MUST(read(rw_fd, &c, 1));
	cl_loop_remove_reader(loop_(), rw_fd);
}

static void *rw_main(void *arg)
{
	struct cl_loop *loop = loop_();
	int sv[2];

	(void)arg;
	pair(sv);
	rw_fd = sv[0];
	MUST(write(sv[1], "x", 1));
	MUST(cl_loop_add_writer(loop, sv[0], rw_writer, NULL));
	MUST(cl_loop_add_reader(loop, sv[0], rw_reader, NULL));
	cl_sleep(0);
	cl_sleep(0);
	note("end");
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

/* ch04_readers.py, test_add_writer_fires_when_writable: a fresh socket
 * is writable; ready both ways, the reader runs first. */
START_TEST(test_add_writer_fires_when_writable)
{
	run_ok(rw_main, NULL);
	EXPECT_TRAIL("reader writer end");
}
END_TEST

static void cq_reader(void *arg)
{
	char c;

	(void)arg;
	note("reader");
	MUST(read(rw_fd, &c, 1));
	note("%s", tf(cl_loop_remove_writer(loop_(), rw_fd) == 1));
	cl_loop_remove_reader(loop_(), rw_fd);
}

static void cq_reader2(void *arg)
{
	char c;

	(void)arg;
	note("reader2");
	MUST(read(rw_fd, &c, 1));
	MUST(cl_loop_add_writer(loop_(), rw_fd, rw_writer, NULL));
	cl_loop_remove_reader(loop_(), rw_fd);
}

static void *cq_main(void *arg)
{
	struct cl_loop *loop = loop_();
	int sv[2];

	(void)arg;
	pair(sv);
	rw_fd = sv[0];
	MUST(write(sv[1], "xy", 2));
	MUST(cl_loop_add_writer(loop, sv[0], note_cb, "writer"));
	MUST(cl_loop_add_reader(loop, sv[0], cq_reader, NULL));
	cl_sleep(0);
	cl_sleep(0);
	note("%s", tf(cl_loop_remove_writer(loop, sv[0]) == 1));
	MUST(cl_loop_add_writer(loop, sv[0], note_cb, "old-writer"));
	MUST(cl_loop_add_reader(loop, sv[0], cq_reader2, NULL));
	cl_sleep(0);
	cl_sleep(0);
	cl_sleep(0);
	note("end");
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

/* ch04_readers.py, test_removing_a_queued_callback_cancels_it (rw_writer
 * logs "writer" where Python's new_writer logs "new-writer"). */
START_TEST(test_removing_a_queued_callback_cancels_it)
{
	run_ok(cq_main, NULL);
	EXPECT_TRAIL("reader True False reader2 writer end");
}
END_TEST

/*
 * Section 2: level-triggered.
 */

static int level_fd;

static void level_cb(void *arg)
{
	char c = '?';

	(void)arg;
	MUST(read(level_fd, &c, 1));
	note("%c@%llu", c, (unsigned long long)cl_loop_iteration(loop_()));
	if (c == 'c')
		note("%s", tf(cl_loop_remove_reader(loop_(), level_fd) == 1));
}

static void *level_main(void *arg)
{
	struct cl_loop *loop = loop_();
	unsigned long long it;
	int sv[2];

	(void)arg;
	pair(sv);
	level_fd = sv[0];
	MUST(write(sv[1], "abc", 3));
	MUST(cl_loop_add_reader(loop, sv[0], level_cb, NULL));
	it = cl_loop_iteration(loop);
	note("main");
	for (int i = 0; i < 6; i++)
		cl_sleep(0);
	note("end");
	close(sv[0]);
	close(sv[1]);
	return CL_INT(it);
}

/* ch04_readers.py, test_level_triggered_fires_again: one byte per
 * callback, one callback per iteration, until the reader is removed. */
START_TEST(test_level_triggered_fires_again)
{
	unsigned long long it = (unsigned long long)CL_TOINT(
		run_ok(level_main, NULL));
	char want[128];

	snprintf(want, sizeof want, "main a@%llu b@%llu c@%llu True end",
		 it + 1, it + 2, it + 3);
	EXPECT_TRAIL(want);
}
END_TEST

/*
 * Section 3: the same readiness tests on each back end.
 */

#define NPAIRS 4
static int ra[NPAIRS], rb[NPAIRS];
static unsigned seen;
static int level_calls;
static int big_fd_rc = 1; /* select and an fd >= FD_SETSIZE */

static void seen_reader(void *arg)
{
	int i = (int)CL_TOINT(arg);
	char buf[64];

	seen |= 1u << i;
	while (read(ra[i], buf, sizeof buf) > 0)
		;
}

static void seen_writer(void *arg)
{
	int i = (int)CL_TOINT(arg);

	seen |= 0x10u << i;
	cl_loop_remove_writer(loop_(), ra[i]);
}

static void count_level(void *arg)
{
	(void)arg;
	level_calls++;
}

static void eof_reader(void *arg)
{
	int i = (int)CL_TOINT(arg);
	char c;

	note("eof:%zd", read(ra[i], &c, 1));
	cl_loop_remove_reader(loop_(), ra[i]);
}

static void tick(int n)
{
	while (n-- > 0)
		cl_sleep(0);
}

static void *suite_main(void *arg)
{
	struct cl_loop *loop = loop_();
	struct cl_poller *p = cl_poller_new(arg);
	int sv[2], removed = 0;

	if (p == NULL) {
		note("[cl_poller_new(%s): %s]", (char *)arg, ename(errno));
		return NULL;
	}
	MUST(cl_loop_set_poller(loop, p));
	note("%s", cl_poller_name(loop->poller));
	for (int i = 0; i < NPAIRS; i++) {
		pair(sv);
		ra[i] = sv[0];
		rb[i] = sv[1];
	}
	/* The last one gets a high number: select and poll scan to it. */
	sv[0] = fcntl(ra[NPAIRS - 1], F_DUPFD_CLOEXEC, 700);
	CL_EXPECT(sv[0] >= 700, "F_DUPFD: %s", strerror(errno));
	close(ra[NPAIRS - 1]);
	ra[NPAIRS - 1] = sv[0];

	for (int i = 0; i < NPAIRS; i++)
		MUST(cl_loop_add_reader(loop, ra[i], seen_reader, CL_INT(i)));
	note("nwatched=%zu", cl_loop_nwatched(loop));
	MUST(write(rb[0], "a", 1));
	MUST(write(rb[3], "d", 1));
	tick(2);
	note("seen=%x", seen);
	seen = 0;
	tick(2);
	note("seen=%x", seen); /* drained: quiet */
	MUST(cl_loop_add_writer(loop, ra[1], seen_writer, CL_INT(1)));
	tick(2);
	note("seen=%x", seen);

	MUST(cl_loop_add_reader(loop, ra[2], count_level, NULL));
	MUST(write(rb[2], "z", 1));
	tick(4);
	note("level=%d", level_calls);

	MUST(cl_loop_add_reader(loop, ra[1], eof_reader, CL_INT(1)));
	close(rb[1]);
	tick(2);

	if (strcmp(arg, "select") == 0) {
		struct rlimit rl;
		int big;

		getrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_max > FD_SETSIZE + 10) {
			rl.rlim_cur = FD_SETSIZE + 10;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		big = fcntl(ra[0], F_DUPFD_CLOEXEC, FD_SETSIZE);
		if (big >= 0) {
			big_fd_rc = cl_loop_add_reader(loop, big, count_level,
						       NULL);
			close(big);
		}
	}

	for (int i = 0; i < NPAIRS; i++) {
		removed += cl_loop_remove_reader(loop, ra[i]) == 1;
		removed += cl_loop_remove_writer(loop, ra[i]) == 1;
	}
	note("removed=%d nwatched=%zu", removed, cl_loop_nwatched(loop));
	for (int i = 0; i < NPAIRS; i++) {
		close(ra[i]);
		if (i != 1)
			close(rb[i]);
	}
	return NULL;
}

/* Readers on four sockets (one numbered 700 or more), two of them sent
 * a byte; a writer; a level-triggered reader; end of file; removal. */
static void readiness_suite(const char *backend)
{
	char want[256];

	seen = 0;
	level_calls = 0;
	run_ok(suite_main, (void *)backend);
	snprintf(want, sizeof want,
		 "%s nwatched=4 seen=9 seen=0 seen=20 level=3 eof:0 "
		 "removed=3 nwatched=0",
		 backend);
	EXPECT_TRAIL(want);
}

/*
 * An epoll poller's own descriptor: it may be 0, the poller closes it
 * when freed, and when there is none to be had the poller is not made
 * (EMFILE, nothing left behind).
 */
static void epoll_descriptors(void)
{
	struct rlimit rl, none;
	struct cl_poller *p;
	int lowest, again;

	close(0);
	p = cl_poller_new("epoll");
	CL_EXPECT(p != NULL, "with descriptor 0 free, cl_poller_new(\"epoll\") "
		  "failed: %s (epoll_create1 returned 0, a good descriptor)",
		  strerror(errno));
	p->free(p);
	lowest = dup(2);
	close(lowest);
	p = cl_poller_new("epoll");
	CL_EXPECT(p != NULL, "cl_poller_new(\"epoll\"): %s", strerror(errno));
	p->free(p);
	again = dup(2);
	close(again);
	CL_EXPECT(again == lowest, "a freed epoll poller left its descriptor "
		  "open (the lowest free one was %d, now %d)", lowest, again);
	getrlimit(RLIMIT_NOFILE, &rl);
	none = rl;
	none.rlim_cur = 0;
	setrlimit(RLIMIT_NOFILE, &none);
	errno = 0;
	p = cl_poller_new("epoll");
	setrlimit(RLIMIT_NOFILE, &rl);
	CL_EXPECT(p == NULL && errno == EMFILE,
		  "with no descriptor to be had, cl_poller_new(\"epoll\") "
		  "should fail with EMFILE (errno %d)", errno);
}

static int reused_writes;

static void reused_writer(void *arg)
{
	(void)arg;
	reused_writes++;
}

/*
 * A descriptor closed while watched leaves the kernel's epoll set; when
 * its number comes back with a new socket, watching that socket works:
 * epoll_ctl(MOD) finds nothing (ENOENT), and the poller adds it afresh.
 * (CPython's selector raises FileNotFoundError there; corolab takes the
 * number for the new file it now is.)
 */
START_TEST(test_epoll_watches_a_reused_descriptor)
{
	struct cl_loop *loop = cl_loop_new(CL_CLOCK_VIRTUAL);
	struct cl_poller *p = cl_poller_new("epoll");
	int a[2], b[2], rc;

	CL_EXPECT(p != NULL, "cl_poller_new(\"epoll\"): %s", strerror(errno));
	cl_loop_set_poller(loop, p);
	pair(a);
	CL_EXPECT_INT(cl_loop_add_reader(loop, a[0], reused_writer, NULL), 0);
	close(a[0]);
	pair(b);
	CL_EXPECT(b[0] == a[0] || b[1] == a[0],
		  "the new socketpair did not reuse descriptor %d", a[0]);
	if (b[1] == a[0]) {
		int t = b[0];

		b[0] = b[1];
		b[1] = t;
	}
	rc = cl_loop_add_writer(loop, b[0], reused_writer, NULL);
	CL_EXPECT(rc == 0, "add_writer on descriptor %d, closed while watched "
		  "and handed out again: expected 0, got %d (%s)", b[0], rc,
		  ename(rc));
	reused_writes = 0;
	cl_loop_run_once(loop);
	CL_EXPECT(reused_writes >= 1, "the writer on the reused descriptor "
		  "never ran: it is not in the epoll set");
	cl_loop_remove_reader(loop, b[0]);
	cl_loop_remove_writer(loop, b[0]);
	cl_loop_free(loop);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}
END_TEST

static int sixteen_calls;

static void sixteen_cb(void *arg)
{
	(void)arg;
	sixteen_calls++;
}

/* As many descriptors ready at once as the poller has room for (16, its
 * least): one wait reports them all, and all their readers run. */
START_TEST(test_sixteen_ready_at_once)
{
	struct cl_loop *loop = cl_loop_new(CL_CLOCK_VIRTUAL);
	int sv[16][2];

	for (int i = 0; i < 16; i++) {
		pair(sv[i]);
		CL_EXPECT(write(sv[i][1], "x", 1) == 1, "write: %s",
			  strerror(errno));
		CL_EXPECT_INT(cl_loop_add_reader(loop, sv[i][0], sixteen_cb,
						 NULL), 0);
	}
	sixteen_calls = 0;
	cl_loop_run_once(loop);
	CL_EXPECT_INT(sixteen_calls, 16);
	for (int i = 0; i < 16; i++) {
		cl_loop_remove_reader(loop, sv[i][0]);
		close(sv[i][0]);
		close(sv[i][1]);
	}
	cl_loop_free(loop);
}
END_TEST

/* The default back end, and one that refuses what it cannot watch. */
START_TEST(test_backend_epoll)
{
	char path[] = "/tmp/corolab-ch04-XXXXXX";
	int fd = mkstemp(path), rc;
	struct cl_loop *loop;
	struct cl_poller *p;

	readiness_suite("epoll");
	/* A regular file is always ready: epoll refuses it (EPERM). */
	CL_EXPECT(fd >= 0, "mkstemp: %s", strerror(errno));
	unlink(path);
	loop = cl_loop_new(CL_CLOCK_VIRTUAL);
	p = cl_poller_new("epoll");
	CL_EXPECT(p != NULL, "cl_poller_new(\"epoll\"): %s", strerror(errno));
	cl_loop_set_poller(loop, p);
	rc = cl_loop_add_reader(loop, fd, count_level, NULL);
	CL_EXPECT(rc == -EPERM, "add_reader of a regular file with epoll: "
		  "expected -EPERM, got %d (%s)", rc, ename(rc));
	CL_EXPECT_INT(cl_loop_nwatched(loop), 0);
	cl_loop_free(loop);
	close(fd);
	epoll_descriptors();
}
END_TEST

/*
 * What add_reader and remove_reader refuse, and what they do not: a
 * negative descriptor is -EBADF (CPython: ValueError "Invalid file
 * descriptor"), a callback must be given (-EINVAL), removing what was
 * never watched is 0 (False), also past the end of the loop's table;
 * and descriptor 0 is a descriptor like any other.
 */
START_TEST(test_watch_checks_its_arguments)
{
	struct cl_loop *loop = cl_loop_new(CL_CLOCK_VIRTUAL);
	int sv[2];

	pair(sv);
	CL_EXPECT_INT(cl_loop_add_reader(loop, -1, count_level, NULL), -EBADF);
	CL_EXPECT_INT(cl_loop_add_writer(loop, -1, count_level, NULL), -EBADF);
	CL_EXPECT_INT(cl_loop_add_reader(loop, sv[0], NULL, NULL), -EINVAL);
	CL_EXPECT_INT(cl_loop_remove_reader(loop, -1), -EBADF);
	CL_EXPECT_INT(cl_loop_remove_writer(loop, -1), -EBADF);
	CL_EXPECT_INT(cl_loop_nwatched(loop), 0);
	CL_EXPECT_INT(cl_loop_add_reader(loop, sv[0], count_level, NULL), 0);
	CL_EXPECT_INT(cl_loop_remove_reader(loop, 64), 0);
	CL_EXPECT_INT(cl_loop_remove_writer(loop, 1000), 0);
	CL_EXPECT_INT(cl_loop_remove_writer(loop, sv[0]), 0);
	CL_EXPECT_INT(cl_loop_remove_reader(loop, sv[0]), 1);
	CL_EXPECT(dup2(sv[1], 0) == 0, "dup2: %s", strerror(errno));
	CL_EXPECT_INT(cl_loop_add_reader(loop, 0, count_level, NULL), 0);
	CL_EXPECT_INT(cl_loop_nwatched(loop), 1);
	CL_EXPECT_INT(cl_loop_remove_reader(loop, 0), 1);
	CL_EXPECT_INT(cl_loop_nwatched(loop), 0);
	cl_loop_free(loop);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* poll, picked by COROLAB_POLLER; an unknown name is refused. */
START_TEST(test_backend_poll)
{
	struct cl_poller *p;

	readiness_suite("poll");
	setenv("COROLAB_POLLER", "poll", 1);
	p = cl_poller_new(NULL);
	CL_EXPECT(p != NULL, "cl_poller_new(NULL): %s", strerror(errno));
	CL_EXPECT_STR(cl_poller_name(p), "poll");
	p->free(p);
	errno = 0;
	CL_EXPECT(cl_poller_new("kqueue") == NULL && errno == EINVAL,
		  "cl_poller_new(\"kqueue\") should fail with EINVAL");
}
END_TEST

/* select, which cannot watch a descriptor >= FD_SETSIZE. */
START_TEST(test_backend_select)
{
	readiness_suite("select");
	CL_EXPECT(big_fd_rc == 1 || big_fd_rc == -EINVAL,
		  "add_reader(fd >= FD_SETSIZE) with select: expected -EINVAL, "
		  "got %d", big_fd_rc);
}
END_TEST

/*
 * Section 4: the loop sleeps in the poller.
 */

static int idle_rc;
static uint64_t idle_iterations;
static double idle_wall, idle_loop_time;

static void *idle_main(void *arg)
{
	struct cl_loop *loop = loop_();
	double delay = *(double *)arg, t0 = wall();
	uint64_t it0 = cl_loop_iteration(loop);
	int sv[2];

	pair(sv);
	idle_rc = cl_loop_add_reader(loop, sv[0], count_level, NULL);
	cl_sleep(delay);
	idle_iterations = cl_loop_iteration(loop) - it0;
	idle_wall = wall() - t0;
	idle_loop_time = cl_loop_time(loop);
	note("nwatched=%zu", cl_loop_nwatched(loop));
	cl_loop_remove_reader(loop, sv[0]);
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

/* With an idle fd watched, the loop blocks in the poller until the next
 * timer is due: no busy polling, no oversleeping. */
START_TEST(test_poll_waits_until_the_next_timer)
{
	double delay = 0.03;

	run_on(CL_CLOCK_REAL, idle_main, &delay);
	CL_EXPECT_INT(idle_rc, 0);
	EXPECT_TRAIL("nwatched=1");
	CL_EXPECT(idle_wall >= delay && idle_wall < delay + 1.0,
		  "sleep(%.2f) with an idle fd took %.4f s", delay, idle_wall);
	CL_EXPECT(idle_iterations <= 4,
		  "sleep(%.2f) with an idle fd took %llu iterations: the poll "
		  "should wait for the timer, not return at once", delay,
		  (unsigned long long)idle_iterations);
	CL_EXPECT_INT(level_calls, 0);
}
END_TEST

/* The poller stays when its last fd goes: with nothing watched, it
 * still sleeps until the next timer (a poll that returned at once
 * whenever nothing is watched would spin the loop meanwhile). */
static void *unwatched_main(void *arg)
{
	struct cl_loop *loop = loop_();
	double delay = *(double *)arg, t0;
	uint64_t it0;
	int sv[2];

	pair(sv);
	idle_rc = cl_loop_add_reader(loop, sv[0], count_level, NULL);
	cl_loop_remove_reader(loop, sv[0]);
	note("nwatched=%zu", cl_loop_nwatched(loop));
	t0 = wall();
	it0 = cl_loop_iteration(loop);
	cl_sleep(delay);
	idle_iterations = cl_loop_iteration(loop) - it0;
	idle_wall = wall() - t0;
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

START_TEST(test_poll_waits_with_nothing_watched)
{
	double delay = 0.03;

	run_on(CL_CLOCK_REAL, unwatched_main, &delay);
	CL_EXPECT_INT(idle_rc, 0);
	EXPECT_TRAIL("nwatched=0");
	CL_EXPECT(idle_wall >= delay && idle_wall < delay + 1.0,
		  "sleep(%.2f) with nothing watched took %.4f s", delay,
		  idle_wall);
	CL_EXPECT(idle_iterations <= 4,
		  "sleep(%.2f) with nothing watched took %llu iterations: "
		  "the poll should wait for the timer even when no fd is "
		  "watched, not return at once", delay,
		  (unsigned long long)idle_iterations);
}
END_TEST

/* On the virtual clock, idle fds do not stop time from jumping. */
START_TEST(test_virtual_clock_jumps_over_idle_fds)
{
	double delay = 3600;

	run_ok(idle_main, &delay);
	CL_EXPECT_INT(idle_rc, 0);
	EXPECT_TRAIL("nwatched=1");
	CL_EXPECT(idle_loop_time == 3600.0 && idle_wall < 1.0,
		  "sleep(3600) on the virtual clock: loop time %.3f, took "
		  "%.3f s", idle_loop_time, idle_wall);
}
END_TEST

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void write_cb(void *arg)
{
	MUST(write(*(int *)arg, "x", 1));
}

static void *signal_main(void *arg)
{
	struct cl_loop *loop = loop_();
	double t0 = wall();
	int sv[2];

	(void)arg;
	pair(sv);
	cl_loop_call_later(loop, 0.05, write_cb, &sv[1]);
	note("wait=%s", ename(cl_wait_readable(sv[0])));
	note("alarms=%d", (int)alarms);
	note("late=%s", tf(wall() - t0 >= 0.05));
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

/* A signal interrupts the wait (epoll_wait is never restarted): that is
 * an iteration with nothing ready, not an error. */
START_TEST(test_signal_interrupts_poll_harmlessly)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval itv = { .it_value = { 0, 10000 } };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART */
	setitimer(ITIMER_REAL, &itv, NULL);
	run_on(CL_CLOCK_REAL, signal_main, NULL);
	EXPECT_TRAIL("wait=0 alarms=1 late=True");
}
END_TEST

/*
 * Section 5: awaiting readiness.
 */

static void *wait_task(void *arg)
{
	int r = cl_wait_readable((int)CL_TOINT(arg));

	note("waiter:%s@%.1f", ename(r), cl_loop_time(loop_()));
	return NULL;
}

static void *busy_task(void *arg)
{
	note("busy:%s", ename(cl_wait_readable((int)CL_TOINT(arg))));
	return NULL;
}

static void *await_main(void *arg)
{
	struct cl_task *w, *b;
	int sv[2];

	(void)arg;
	pair(sv);
	w = cl_create_task(wait_task, CL_INT(sv[0]), "waiter");
	b = cl_create_task(busy_task, CL_INT(sv[0]), "busy");
	note("writable:%s", ename(cl_wait_writable(sv[0])));
	cl_sleep(1);
	note("write");
	MUST(write(sv[1], "x", 1));
	cl_await_task(w);
	cl_await_task(b);
	note("nwatched=%zu", cl_loop_nwatched(loop_()));
	cl_task_decref(w);
	cl_task_decref(b);
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

/* A task waits for readability and is woken by the reader callback; a
 * second waiter on the same socket gets -EBUSY (asyncio would replace
 * the first one's callback and leave it waiting forever). */
START_TEST(test_wait_readable_wakes_the_task)
{
	run_ok(await_main, NULL);
	EXPECT_TRAIL("busy:EBUSY writable:0 write waiter:0@1.0 nwatched=0");
}
END_TEST

static void *cancel_waiter(void *arg)
{
	char buf[100];

	CL_TRY {
		note("recv=%zd", cl_sock_recv((int)CL_TOINT(arg), buf,
					       sizeof buf));
	} CL_CATCH(e) {
		note("%s", cl_exc_matches(e, &cl_CancelledError) ? "cancelled"
								  : "raised");
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

static void *cancel_main(void *arg)
{
	struct cl_loop *loop = loop_();
	struct cl_task *t;
	int sv[2];

	(void)arg;
	pair(sv);
	t = cl_create_task(cancel_waiter, CL_INT(sv[0]), "waiter");
	cl_sleep(1);
	note("watched=%s", tf(cl__loop_fd_watcher(loop, sv[0], CL_EV_IN, NULL,
						  NULL)));
	cl_task_cancel(t);
	CL_TRY {
		cl_await_task(t);
	} CL_CATCH(e) {
		note("main:%s", cl_exc_name(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	note("watched=%s", tf(cl__loop_fd_watcher(loop, sv[0], CL_EV_IN, NULL,
						  NULL)));
	/* A reader left behind would now run with a freed future. */
	MUST(write(sv[1], "x", 1));
	cl_sleep(0);
	cl_sleep(0);
	note("end");
	cl_task_decref(t);
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

/* ch04_sockets.py, test_wait_is_cancellation_safe. */
START_TEST(test_wait_is_cancellation_safe)
{
	run_ok(cancel_main, NULL);
	EXPECT_TRAIL(
		"watched=True cancelled main:CancelledError watched=False end");
}
END_TEST

/*
 * Section 6: recv and sendall.
 */

#define XFER_SIZE (1 << 20)

struct xfer {
	int rd, wr;
	unsigned char *data; /* XFER_SIZE bytes to send */
	int send_rc;
	size_t got;
	long recv_calls, recv_err;
	uint32_t sum_sent, sum_got;
};

static uint32_t fnv1a(uint32_t h, const unsigned char *p, size_t n)
{
	while (n-- > 0)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static void *xfer_writer(void *arg)
{
	struct xfer *x = arg;

	x->send_rc = cl_sock_sendall(x->wr, x->data, XFER_SIZE);
	shutdown(x->wr, SHUT_WR);
	return NULL;
}

static void *xfer_reader(void *arg)
{
	static unsigned char buf[65536];
	struct xfer *x = arg;
	ssize_t n;

	while ((n = cl_sock_recv(x->rd, buf, sizeof buf)) > 0) {
		x->recv_calls++;
		x->sum_got = fnv1a(x->sum_got, buf, (size_t)n);
		x->got += (size_t)n;
	}
	x->recv_err = n;
	return NULL;
}

static void *xfer_main(void *arg)
{
	struct cl_task *r, *w;

	r = cl_create_task(xfer_reader, arg, "reader");
	w = cl_create_task(xfer_writer, arg, "writer");
	cl_await_task(r);
	cl_await_task(w);
	cl_task_decref(r);
	cl_task_decref(w);
	return NULL;
}

/* Send 1 MiB through a socketpair (whose buffers hold far less) from
 * one task to another; check it arrived whole and in order. */
static void transfer(struct xfer *x)
{
	int sv[2];

	pair(sv);
	memset(x, 0, sizeof *x);
	x->rd = sv[0];
	x->wr = sv[1];
	x->data = malloc(XFER_SIZE);
	CL_EXPECT(x->data != NULL, "out of memory");
	for (size_t i = 0; i < XFER_SIZE; i++)
		x->data[i] = (unsigned char)((i * 2654435761u) >> 13);
	x->sum_sent = fnv1a(2166136261u, x->data, XFER_SIZE);
	x->sum_got = 2166136261u;
	run_ok(xfer_main, x);
	free(x->data);
	close(sv[0]);
	close(sv[1]);
	CL_EXPECT(x->send_rc == 0, "cl_sock_sendall of 1 MiB returned %d (%s)",
		  x->send_rc, ename(x->send_rc));
	CL_EXPECT(x->recv_err == 0, "the reader's last cl_sock_recv returned "
		  "%ld (%s), expected 0 (end of file)", x->recv_err,
		  ename(x->recv_err));
	CL_EXPECT(x->got == XFER_SIZE, "received %zu bytes of %d", x->got,
		  XFER_SIZE);
	CL_EXPECT(x->sum_got == x->sum_sent,
		  "the bytes arrived changed or out of order (checksum %08x, "
		  "sent %08x)", x->sum_got, x->sum_sent);
}

START_TEST(test_sendall_recv_1mib_roundtrip)
{
	struct xfer x;

	transfer(&x);
	CL_EXPECT(x.recv_calls > 1, "1 MiB in %ld recv calls?", x.recv_calls);
}
END_TEST

static void *eof_closer(void *arg)
{
	int fd = (int)CL_TOINT(arg);

	cl_sleep(1);
	MUST(write(fd, "bye", 3));
	close(fd);
	return NULL;
}

static void *eof_main(void *arg)
{
	struct cl_task *t;
	char buf[100];
	ssize_t n;
	int sv[2];

	(void)arg;
	pair(sv);
	t = cl_create_task(eof_closer, CL_INT(sv[1]), "closer");
	for (int i = 0; i < 3; i++) {
		n = cl_sock_recv(sv[0], buf, sizeof buf);
		note("%zd:%.*s", n, (int)(n > 0 ? n : 0), buf);
	}
	cl_await_task(t);
	cl_task_decref(t);
	close(sv[0]);
	return NULL;
}

/* ch04_sockets.py, test_recv_returns_0_at_eof: b'bye' b'' b''. */
START_TEST(test_recv_returns_0_at_eof)
{
	run_ok(eof_main, NULL);
	EXPECT_TRAIL("3:bye 0: 0:");
}
END_TEST

static char big[100000];

static void *reset_main(void *arg)
{
	struct linger lg = { 1, 0 };
	struct sockaddr_in sa;
	int l, c, s, sv[2];
	char buf[100];

	(void)arg;
	l = tcp_bound(&sa, 1);
	c = tcp_socket();
	MUST(cl_sock_connect(c, (struct sockaddr *)&sa, sizeof sa));
	s = cl_sock_accept(l);
	MUST(s);
	setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(s);
	note("recv:%s", ename(cl_sock_recv(c, buf, sizeof buf)));
	note("sendall:%s", ename(cl_sock_sendall(c, big, sizeof big)));
	pair(sv);
	close(sv[1]);
	note("pair-sendall:%s", ename(cl_sock_sendall(sv[0], "x", 1)));
	close(sv[0]);
	close(c);
	close(l);
	return NULL;
}

/* ch04_sockets.py, test_peer_reset_is_an_error_not_a_signal. SIGPIPE
 * keeps its default action (death), so a send that raised it would
 * kill this test. */
START_TEST(test_peer_reset_is_an_error_not_a_signal)
{
	signal(SIGPIPE, SIG_DFL);
	run_ok(reset_main, NULL);
	EXPECT_TRAIL("recv:ECONNRESET sendall:EPIPE pair-sendall:EPIPE");
}
END_TEST

/*
 * Section 7: connect and accept.
 */

static void *refused_main(void *arg)
{
	struct sockaddr_in sa;
	int l, c, s;

	(void)arg;
	/* Bound, not listening: the port is ours, and answers with RST. */
	l = tcp_bound(&sa, 0);
	c = tcp_socket();
	note("connect:%s", ename(cl_sock_connect(c, (struct sockaddr *)&sa,
						sizeof sa)));
	close(c);
	MUST(listen(l, 16));
	c = tcp_socket();
	if (cl_sock_connect(c, (struct sockaddr *)&sa, sizeof sa) == 0)
		note("connected");
	s = cl_sock_accept(l);
	if (s >= 0)
		note("accepted");
	close(s);
	close(c);
	close(l);
	return NULL;
}

/* ch04_sockets.py, test_connect_refused. */
START_TEST(test_connect_refused)
{
	run_ok(refused_main, NULL);
	EXPECT_TRAIL("connect:ECONNREFUSED connected accepted");
}
END_TEST

static void *ping_server(void *arg)
{
	int l = (int)CL_TOINT(arg), s;
	char buf[100];
	ssize_t n;

	s = cl_sock_accept(l);
	if (s < 0) {
		note("accept:%s", ename(s));
		return NULL;
	}
	note("blocking=%s", tf(!(fcntl(s, F_GETFL) & O_NONBLOCK)));
	note("cloexec=%s", tf(fcntl(s, F_GETFD) & FD_CLOEXEC));
	n = cl_sock_recv(s, buf, sizeof buf);
	note("server:%.*s", (int)(n > 0 ? n : 0), buf);
	MUST(cl_sock_sendall(s, "pong", 4));
	close(s);
	return NULL;
}

static void *ping_main(void *arg)
{
	struct sockaddr_in sa;
	struct cl_task *t;
	char buf[100];
	ssize_t n;
	int l, c;

	(void)arg;
	l = tcp_bound(&sa, 1);
	t = cl_create_task(ping_server, CL_INT(l), "server");
	c = tcp_socket();
	MUST(cl_sock_connect(c, (struct sockaddr *)&sa, sizeof sa));
	MUST(cl_sock_sendall(c, "ping", 4));
	n = cl_sock_recv(c, buf, sizeof buf);
	note("client:%.*s", (int)(n > 0 ? n : 0), buf);
	cl_await_task(t);
	cl_task_decref(t);
	close(c);
	close(l);
	return NULL;
}

/* ch04_sockets.py, test_accept_and_connect_on_loopback; the accepted
 * socket is also close-on-exec. */
START_TEST(test_accept_and_connect_on_loopback)
{
	run_ok(ping_main, NULL);
	EXPECT_TRAIL("blocking=False cloexec=True server:ping client:pong");
}
END_TEST

/*
 * Section 8: fault injection.
 */

/* The outcome of 40 small writes into a pipe, as a string. */
static void pipe_outcomes(char *out, size_t size)
{
	int p[2];
	char buf[64];

	CL_EXPECT(pipe2(p, O_NONBLOCK) == 0, "pipe2: %s", strerror(errno));
	out[0] = '\0';
	for (int i = 0; i < 40; i++) {
		ssize_t r = cl_io_write(p[1], "0123456789", 10);

		snprintf(out + strlen(out), size - strlen(out), "%s%s",
			 i ? "," : "", r >= 0 ? (r == 10 ? "ok" : "short")
					      : ename(r));
	}
	while (read(p[0], buf, sizeof buf) > 0)
		;
	close(p[0]);
	close(p[1]);
}

static void *accept3_main(void *arg)
{
	struct sockaddr_in sa;
	int l, c[3], accepted = 0;

	(void)arg;
	l = tcp_bound(&sa, 1);
	for (int i = 0; i < 3; i++) {
		c[i] = tcp_socket();
		MUST(cl_sock_connect(c[i], (struct sockaddr *)&sa, sizeof sa));
	}
	for (int i = 0; i < 3; i++) {
		int s = cl_sock_accept(l);

		accepted += s >= 0;
		if (s >= 0)
			close(s);
		close(c[i]);
	}
	note("accepted=%d", accepted);
	close(l);
	return NULL;
}

/* With a third of the calls failing or cut short at random, 1 MiB still
 * arrives intact and accept still accepts; the same seed gives the same
 * faults. */
START_TEST(test_faults_transfer_intact)
{
	struct cl_io_fault_stats st;
	char first[512], again[512];
	struct xfer x;

	setenv("COROLAB_FAULTS", "seed=42,rate=0.3", 1);
	transfer(&x);
	st = cl_io_fault_stats();
	CL_EXPECT(st.shorts > 0 && st.eintr > 0 && st.eagain > 0,
		  "COROLAB_FAULTS=seed=42,rate=0.3 should have injected short "
		  "counts, EINTR and EAGAIN: got %lu, %lu, %lu in %lu calls",
		  st.shorts, st.eintr, st.eagain, st.calls);
	run_ok(accept3_main, NULL);
	EXPECT_TRAIL("accepted=3");

	CL_EXPECT_INT(cl_io_set_faults("seed=9,rate=0.5"), 0);
	pipe_outcomes(first, sizeof first);
	CL_EXPECT_INT(cl_io_set_faults("seed=9,rate=0.5"), 0);
	pipe_outcomes(again, sizeof again);
	CL_EXPECT_STR(again, first);
	CL_EXPECT(strstr(first, "ok") && strstr(first, "short") &&
			  strstr(first, "EINTR") && strstr(first, "EAGAIN"),
		  "seed=9,rate=0.5 on 40 writes gave only: %s", first);
	CL_EXPECT_INT(cl_io_set_faults("seed=1,rate=2"), -EINVAL);
	CL_EXPECT_INT(cl_io_set_faults(NULL), 0);
}
END_TEST

/*
 * Section 9: the trace.
 */

static void *trace_waiter(void *arg)
{
	note("waiter:%s", ename(cl_wait_readable((int)CL_TOINT(arg))));
	return NULL;
}

static unsigned long trace_task_id;

static void *trace_main(void *arg)
{
	struct cl_task *t;
	int *sv = arg;

	t = cl_create_task(trace_waiter, CL_INT(sv[0]), "waiter");
	trace_task_id = t->id;
	cl_sleep(0);
	cl_sleep(0);
	MUST(write(sv[1], "x", 1));
	cl_await_task(t);
	cl_task_decref(t);
	return NULL;
}

/* Find the first line of the trace from from on that contains all of the
 * given strings; its seq, or -1. */
static long find_event(FILE *f, char *line, size_t size, const char *a,
		       const char *b)
{
	long seq;

	while (fgets(line, (int)size, f) != NULL) {
		if (line[0] == '#' || sscanf(line, "%ld", &seq) != 1)
			continue;
		if (strstr(line, a) && (b == NULL || strstr(line, b)))
			return seq;
	}
	return -1;
}

/* What the visualizer needs: the await names the fd, the poll and the
 * fd's readiness are there, the wake says by=fd:N, and the woken step
 * names that wake as its cause. */
START_TEST(test_trace_shows_fd_waits)
{
	char path[] = "/tmp/corolab-ch04-XXXXXX", line[512], want[96];
	char await_s[64], ready[64], wake[64], step[64];
	long seq_wake, seq;
	int fd = mkstemp(path), sv[2];
	FILE *f;

	CL_EXPECT(fd >= 0, "mkstemp: %s", strerror(errno));
	close(fd);
	pair(sv);
	CL_EXPECT_INT(cl_trace_open(path), 0);
	run_ok(trace_main, sv);
	cl_trace_close();
	EXPECT_TRAIL("waiter:0");
	snprintf(await_s, sizeof await_s, " await task=%lu on=fd:%d:IN",
		 trace_task_id, sv[0]);
	snprintf(ready, sizeof ready, " fd.ready fd=%d events=IN", sv[0]);
	snprintf(wake, sizeof wake, " wake task=%lu by=fd:%d via=fut:",
		 trace_task_id, sv[0]);
	f = fopen(path, "r");
	CL_EXPECT(f != NULL, "cannot read the trace back");
	CL_EXPECT(find_event(f, line, sizeof line, await_s, NULL) > 0,
		  "no \"%s\" in the trace", await_s + 1);
	CL_EXPECT(find_event(f, line, sizeof line, " poll.begin timeout=",
			     " nfds=1") > 0,
		  "no \"poll.begin timeout=T nfds=1\" after the await");
	CL_EXPECT(find_event(f, line, sizeof line, ready, NULL) > 0,
		  "no \"%s\" after the poll.begin", ready + 1);
	CL_EXPECT(find_event(f, line, sizeof line, " poll.end nready=1",
			     NULL) > 0,
		  "no \"poll.end nready=1\" after the fd.ready");
	seq_wake = find_event(f, line, sizeof line, wake, NULL);
	CL_EXPECT(seq_wake > 0, "no \"%s...\" after the poll", wake + 1);
	snprintf(step, sizeof step, " step.begin task=%lu ", trace_task_id);
	snprintf(want, sizeof want, " cause=%ld ", seq_wake);
	seq = find_event(f, line, sizeof line, step, NULL);
	CL_EXPECT(seq > 0 && strstr(line, want) != NULL,
		  "the waiter's step after the wake should say%s: \"%.*s\"",
		  want, (int)strcspn(line, "\n"), line);
	fclose(f);
	unlink(path);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static void add_socket_tests(void)
{
	cl_test(test_add_reader_fires_when_data_arrives, 3, SEC_WATCH);
	cl_test(test_fd_callbacks_join_the_ready_queue, 2, SEC_WATCH);
	cl_test(test_add_reader_replaces_callback, 2, SEC_WATCH);
	cl_test(test_add_writer_fires_when_writable, 2, SEC_WATCH);
	cl_test(test_removing_a_queued_callback_cancels_it, 2, SEC_WATCH);
	cl_test(test_watch_checks_its_arguments, 1, SEC_WATCH);
	cl_test(test_level_triggered_fires_again, 3, SEC_LEVEL);
	cl_test(test_backend_epoll, 3, SEC_BACKENDS);
	cl_test(test_epoll_watches_a_reused_descriptor, 1, SEC_BACKENDS);
	cl_test(test_sixteen_ready_at_once, 1, SEC_BACKENDS);
	cl_test(test_backend_poll, 2, SEC_BACKENDS);
	cl_test(test_backend_select, 2, SEC_BACKENDS);
	cl_test(test_poll_waits_until_the_next_timer, 2, SEC_WAIT);
	cl_test(test_poll_waits_with_nothing_watched, 1, SEC_WAIT);
	cl_test(test_virtual_clock_jumps_over_idle_fds, 1, SEC_WAIT);
	cl_test(test_signal_interrupts_poll_harmlessly, 2, SEC_WAIT);
	cl_test(test_wait_readable_wakes_the_task, 2, SEC_AWAIT);
	cl_test(test_wait_is_cancellation_safe, 2, SEC_AWAIT);
	cl_test(test_sendall_recv_1mib_roundtrip, 3, SEC_SOCK);
	cl_test(test_recv_returns_0_at_eof, 2, SEC_SOCK);
	cl_test(test_peer_reset_is_an_error_not_a_signal, 2, SEC_SOCK);
	cl_test(test_connect_refused, 2, SEC_CONNECT);
	cl_test(test_accept_and_connect_on_loopback, 2, SEC_CONNECT);
	cl_test(test_faults_transfer_intact, 3, SEC_FAULTS);
	cl_test(test_trace_shows_fd_waits, 2, SEC_TRACE);
}

CL_CHAPTER(4, "04-epoll", "epoll", add_socket_tests)
