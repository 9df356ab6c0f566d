/*
 * ch04_streams.c - chapter 04: streams (reader, writer, server) on top
 * of the poller and the socket calls.
 *
 * The behaviour expected here is what CPython 3.11's asyncio streams do
 * with the same program: tests/py/ch04_stream_reader.py, _writer.py and
 * _server.py print the lines these tests compare with; the comment
 * above each test names its block. Where corolab differs on purpose
 * (start_server closes the connection when the handler returns,
 * wait_closed waits for the handlers as 3.12 does), the test says so.
 *
 * Coroutines report through a log string and variables; every assertion
 * happens after cl_run has returned, never on a coroutine's stack. The
 * peer of a stream is a socketpair end or a TCP client on 127.0.0.1.
 * Runs use the virtual clock, except the servers under fault injection,
 * which run in a child process on the real clock and are checked by a
 * plain poll(2) client in the test itself, independent of the library.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "grade.h"
#include "io.h"
#include "run.h"
#include "server.h"
#include "sock.h"
#include "stream.h"
#include "task.h"
#include "trail.h"
#include "transport.h"

#define SEC_READ "12. Streams on a transport: reading lines and records"
#define SEC_LIMIT "13. Lines too long: the limit"
#define SEC_DRAIN "14. Writing and drain: high and low water"
#define SEC_SERVER "15. start_server: a task per connection"
#define SEC_FAULTS "16. Servers under fault injection"


/* A line as the .py files show it: "len:text", a newline as \n. */
static void note_line(const char *line, size_t n)
{
	char buf[256];
	size_t j = 0;

	for (size_t i = 0; i < n && j + 3 < sizeof buf; i++) {
		if (line[i] == '\n') {
			buf[j++] = '\\';
			buf[j++] = 'n';
		} else {
			buf[j++] = line[i];
		}
	}
	buf[j] = '\0';
	note("%zu:%s", n, buf);
}


/* Note "Type:message" of what body raises, "ok" if nothing. */
#define NOTE_RAISE(body)                                                     \
	do {                                                                 \
		CL_TRY {                                                     \
			body;                                                \
		} CL_CATCH(e_) {                                             \
			note("%s:%s", cl_exc_name(e_), cl_exc_message(e_));  \
			cl_exc_decref(e_);                                   \
		} CL_END_TRY;                                                \
	} while (0)

/*
 * What a main passes to the tasks it spawns is static, not on its
 * stack: when main fails, cl_run cancels the tasks it left, and they may
 * take one more step first.
 *
 * Run fn(arg) with cl_run on the given clock; fail the test unless it
 * returned normally (the log so far is in the message).
 */
static void run_with(void *(*fn)(void *), void *arg, enum cl_clock clock)
{
	run_on(clock, fn, arg);
}

static void run_ok(void *(*fn)(void *), void *arg)
{
	run_with(fn, arg, CL_CLOCK_VIRTUAL);
}

#define EXPECT_TRAIL(want) CL_EXPECT_STR(trail, want)

static struct cl_task *spawn(void *(*fn)(void *), void *arg)
{
	struct cl_task *t = cl_create_task(fn, arg, NULL);

	if (t == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "cl_create_task: %s",
				    strerror(errno)));
	return t;
}

static void join(struct cl_task *t)
{
	cl_await_task(t);
	cl_task_decref(t);
}

/* A socketpair with both kernel buffers at bufsize (0: as they are). */
static void socketpair_(int sv[2], int bufsize)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		cl_raise(cl_os_error(errno, NULL));
	for (int i = 0; i < 2 && bufsize > 0; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &bufsize,
			   sizeof bufsize);
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &bufsize,
			   sizeof bufsize);
	}
}

/* Streams on one end of a socketpair; *raw is the other end,
 * non-blocking, for the test to write into directly. */
struct half {
	struct cl_reader *r;
	struct cl_writer *w;
	int raw;
};

static void stream_and_raw(struct half *h)
{
	int sv[2];

	socketpair_(sv, 0);
	cl_open_connection_fd(sv[0], &h->r, &h->w);
	cl_sock_nonblock(sv[1]);
	h->raw = sv[1];
}

static void close_half(struct half *h)
{
	cl_writer_close(h->w);
	cl_writer_wait_closed(h->w);
	cl_reader_free(h->r);
	cl_writer_free(h->w);
	if (h->raw >= 0)
		close(h->raw);
}

/* send(2) a small piece that the socket takes at once. */
static void send_now(int fd, const char *s, size_t n)
{
	if (send(fd, s, n, MSG_NOSIGNAL) != (ssize_t)n)
		cl_raise(cl_exc_new(&cl_RuntimeError, "send: short or failed"));
}

#define SEND(fd, s) send_now(fd, s, strlen(s))

/* Send pieces with a virtual 0.1 s between them, then maybe EOF. */
struct feed {
	int fd;
	const char *const *pieces;
	int shut;
};

static void *feeder(void *arg)
{
	struct feed *f = arg;

	for (const char *const *p = f->pieces; *p != NULL; p++) {
		SEND(f->fd, *p);
		cl_sleep(0.1);
	}
	if (f->shut)
		shutdown(f->fd, SHUT_WR);
	return NULL;
}

/* ---- 12. Streams on a transport: reading lines and records ------------- */

/* ch04_stream_reader.py, test_stream_readline_splits_across_reads */
static void *splits_main(void *arg)
{
	static const char *const pieces[] = { "hel", "lo\nwor", "ld\n\nla",
					      "st", NULL };
	static struct half h;
	static struct feed f = { 0, pieces, 1 };
	struct cl_task *t;
	const char *line;
	size_t n;

	(void)arg;
	stream_and_raw(&h);
	f.fd = h.raw;
	t = spawn(feeder, &f);
	do {
		line = cl_reader_readline(h.r, &n);
		note_line(line, n);
	} while (n > 0);
	note("at_eof=%s", tf(cl_reader_at_eof(h.r)));
	join(t);
	close_half(&h);
	return NULL;
}

START_TEST(test_stream_readline_splits_across_reads)
{
	run_ok(splits_main, NULL);
	EXPECT_TRAIL("6:hello\\n 6:world\\n 1:\\n 4:last 0: at_eof=True");
}
END_TEST

/* ch04_stream_reader.py, test_stream_readline_at_eof */
static void *at_eof_main(void *arg)
{
	struct half h;
	const char *line;
	size_t n;

	(void)arg;
	stream_and_raw(&h);
	SEND(h.raw, "one\ntail");
	shutdown(h.raw, SHUT_WR);
	for (int i = 0; i < 4; i++) {
		line = cl_reader_readline(h.r, &n);
		note_line(line, n);
	}
	note("at_eof=%s", tf(cl_reader_at_eof(h.r)));
	close_half(&h);
	return NULL;
}

START_TEST(test_stream_readline_at_eof)
{
	run_ok(at_eof_main, NULL);
	EXPECT_TRAIL("4:one\\n 4:tail 0: 0: at_eof=True");
}
END_TEST

/* ch04_stream_reader.py, test_stream_readexactly_exact */
static void *exact_main(void *arg)
{
	static const char *const pieces[] = { "abc", "defgh", "ijkl", NULL };
	static const size_t sizes[] = { 4, 4, 0, 4 };
	static struct half h;
	static struct feed f = { 0, pieces, 0 };
	struct cl_task *t;
	char buf[8];

	(void)arg;
	stream_and_raw(&h);
	f.fd = h.raw;
	t = spawn(feeder, &f);
	for (int i = 0; i < 4; i++) {
		cl_reader_readexactly(h.r, buf, sizes[i]);
		note_line(buf, sizes[i]);
	}
	join(t);
	close_half(&h);
	return NULL;
}

START_TEST(test_stream_readexactly_exact)
{
	run_ok(exact_main, NULL);
	EXPECT_TRAIL("4:abcd 4:efgh 0: 4:ijkl");
}
END_TEST

/* ch04_stream_reader.py, test_stream_readexactly_incomplete */
static void *incomplete_main(void *arg)
{
	struct half h;
	char buf[8] = "";

	(void)arg;
	stream_and_raw(&h);
	SEND(h.raw, "xy");
	shutdown(h.raw, SHUT_WR);
	CL_TRY {
		cl_reader_readexactly(h.r, buf, 5);
		note("no exception");
	} CL_CATCH(e) {
		size_t partial = cl_incomplete_read_partial(e);

		note("%s:%s", cl_exc_name(e), cl_exc_message(e));
		note("isinstance(EOFError)=%s",
		     tf(cl_exc_matches(e, &cl_EOFError)));
		note("partial=%zu:%.*s expected=5", partial, (int)partial,
		     buf);
		cl_exc_decref(e);
	} CL_END_TRY;
	note("%zu:", cl_reader_read(h.r, buf, 10));
	note("at_eof=%s", tf(cl_reader_at_eof(h.r)));
	close_half(&h);
	return NULL;
}

START_TEST(test_stream_readexactly_incomplete)
{
	run_ok(incomplete_main, NULL);
	EXPECT_TRAIL("IncompleteReadError:2 bytes read on a total of 5 "
		     "expected bytes isinstance(EOFError)=True partial=2:xy "
		     "expected=5 0: at_eof=True");
}
END_TEST

/* Ten blocks of 20000 bytes, 'A' to 'J', with sendall, then EOF. */
static void *blocks_feeder(void *arg)
{
	int fd = *(int *)arg;
	char block[20000];

	for (int i = 0; i < 10; i++) {
		memset(block, 'A' + i, sizeof block);
		if (cl_sock_sendall(fd, block, sizeof block) < 0)
			cl_raise(cl_exc_new(&cl_RuntimeError, "sendall"));
		cl_sleep(0.1);
	}
	shutdown(fd, SHUT_WR);
	return NULL;
}

/* ch04_stream_reader.py, test_stream_read_n_and_all */
static void *read_n_main(void *arg)
{
	static struct half h;
	struct cl_task *t;
	const char *line;
	char buf[128], *all;
	size_t n, len;
	int same = 1;

	(void)arg;
	stream_and_raw(&h);
	SEND(h.raw, "5\nabcde");
	line = cl_reader_readline(h.r, &n);
	note_line(line, n);
	n = cl_reader_read(h.r, buf, 3);
	note_line(buf, n);
	n = cl_reader_read(h.r, buf, 0);
	note_line(buf, n);
	n = cl_reader_read(h.r, buf, 100);
	note_line(buf, n);
	t = spawn(blocks_feeder, &h.raw);
	all = cl_reader_read_all(h.r, &len);
	for (size_t i = 0; i < len && same; i++)
		same = len == 200000 && all[i] == 'A' + (char)(i / 20000);
	note("read(-1)=%zu same=%s", len, tf(same && all[len] == '\0'));
	note("at_eof=%s", tf(cl_reader_at_eof(h.r)));
	free(all);
	join(t);
	close_half(&h);
	return NULL;
}

START_TEST(test_stream_read_n_and_all)
{
	run_ok(read_n_main, NULL);
	EXPECT_TRAIL("2:5\\n 3:abc 0: 2:de read(-1)=200000 same=True "
		     "at_eof=True");
}
END_TEST

/* ch04_stream_reader.py, test_stream_one_read_waits_at_a_time */
static void *read_100(void *arg)
{
	static char buf[100];
	size_t n = cl_reader_read(arg, buf, sizeof buf);

	note_line(buf, n);
	return NULL;
}

static void *one_waiter_main(void *arg)
{
	struct half h;
	struct cl_task *t;
	char buf[100];
	size_t n;

	(void)arg;
	stream_and_raw(&h);
	t = spawn(read_100, h.r);
	cl_sleep(0);
	NOTE_RAISE(cl_reader_read(h.r, buf, sizeof buf));
	cl_task_cancel(t);
	NOTE_RAISE(cl_await_task(t));
	cl_task_decref(t);
	SEND(h.raw, "hello");
	n = cl_reader_read(h.r, buf, sizeof buf);
	note_line(buf, n);
	t = spawn(read_100, h.r);
	cl_sleep(0);
	SEND(h.raw, "world");
	cl_sleep(0); /* the loop polls and reads "world" for t, */
	cl_sleep(0); /* and t is woken, to run after us */
	cl_task_cancel(t);
	NOTE_RAISE(cl_await_task(t));
	cl_task_decref(t);
	n = cl_reader_read(h.r, buf, sizeof buf);
	note_line(buf, n);
	close_half(&h);
	return NULL;
}

START_TEST(test_stream_one_read_waits_at_a_time)
{
	run_ok(one_waiter_main, NULL);
	EXPECT_TRAIL("RuntimeError:read() called while another coroutine is "
		     "already waiting for incoming data CancelledError: "
		     "5:hello CancelledError: 5:world");
}
END_TEST

/* ---- 13. Lines too long: the limit -------------------------------------- */

static void send_newline(void *fd)
{
	send_now(*(int *)fd, "\n", 1);
}

/* ch04_stream_reader.py, test_stream_readline_over_limit */
static void *over_limit_main(void *arg)
{
	struct half h;
	char big[64];
	const char *line;
	size_t n;

	(void)arg;
	stream_and_raw(&h);
	memcpy(big, "a\n", 2);
	memset(big + 2, 'w', 48);
	memcpy(big + 50, "\nnext\n", 6);
	send_now(h.raw, big, 56);
	line = cl_reader_readline(h.r, &n);
	note_line(line, n);
	cl_reader_set_limit(h.r, 16);
	for (volatile int i = 0; i < 2; i++)
		NOTE_RAISE(line = cl_reader_readline(h.r, &n);
			   note_line(line, n));
	memset(big, 'x', 48);
	send_now(h.raw, big, 48);
	SEND(h.raw, "\nnext\n");
	for (volatile int i = 0; i < 2; i++)
		NOTE_RAISE(line = cl_reader_readline(h.r, &n);
			   note_line(line, n));
	memset(big, 'y', 48);
	send_now(h.raw, big, 48);
	NOTE_RAISE(line = cl_reader_readline(h.r, &n); note_line(line, n));
	SEND(h.raw, "yy\nnext\nzzzzzzzzzzzzzzzz\n");
	for (int i = 0; i < 3; i++) {
		line = cl_reader_readline(h.r, &n);
		note_line(line, n);
	}
	memset(big, 'v', 16);
	send_now(h.raw, big, 16);
	cl_loop_call_later(cl_get_running_loop(), 0.01, send_newline, &h.raw);
	NOTE_RAISE(line = cl_reader_readline(h.r, &n); note_line(line, n));
	SEND(h.raw, "ab\ncdef");
	line = cl_reader_readline(h.r, &n);
	note_line(line, n);
	cl_reader_readexactly(h.r, big, 4);
	note("exactly:%.4s", big);
	close_half(&h);
	return NULL;
}

START_TEST(test_stream_readline_over_limit)
{
	run_ok(over_limit_main, NULL);
	EXPECT_TRAIL("2:a\\n ValueError:Separator is found, but chunk is "
		     "longer than limit 5:next\\n "
		     "ValueError:Separator is found, but chunk is longer than "
		     "limit 5:next\\n ValueError:Separator is not found, and "
		     "chunk exceed the limit 3:yy\\n 5:next\\n "
		     "17:zzzzzzzzzzzzzzzz\\n 17:vvvvvvvvvvvvvvvv\\n 3:ab\\n "
		     "exactly:cdef");
}
END_TEST

#define BIG_LINE (4 << 20)

static void *big_line_feeder(void *arg)
{
	int fd = *(int *)arg;
	char *x = malloc(BIG_LINE);

	if (x == NULL)
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	memset(x, 'x', BIG_LINE);
	if (cl_sock_sendall(fd, x, BIG_LINE) < 0 ||
	    cl_sock_sendall(fd, "\nend\n", 5) < 0)
		note("sendall failed");
	free(x);
	return NULL;
}

static size_t max_cap;

/* ch04_stream_reader.py, test_stream_readline_memory_bounded */
static void *bounded_main(void *arg)
{
	static struct half h;
	struct cl_task *t;
	const char *volatile line = NULL;
	volatile size_t n = 0;
	volatile int errors = 0, tails_ok = 1, done = 0;

	(void)arg;
	stream_and_raw(&h);
	t = spawn(big_line_feeder, &h.raw);
	max_cap = 0;
	while (!done) {
		CL_TRY {
			size_t len;

			line = cl_reader_readline(h.r, &len);
			n = len;
			if (n == 4 && memcmp(line, "end\n", 4) == 0) {
				done = 1;
			} else {
				for (size_t i = 0; i + 1 < n; i++)
					tails_ok &= line[i] == 'x';
				tails_ok &= n >= 1 && n <= (1 << 16) + 1 &&
					    line[n - 1] == '\n';
				done = n == 0;
			}
		} CL_CATCH(e) {
			if (cl_exc_matches(e, &cl_ValueError))
				errors++;
			else
				cl_raise(e);
			cl_exc_decref(e);
		} CL_END_TRY;
		if (h.r->cap > max_cap)
			max_cap = h.r->cap;
	}
	note("ValueError>=1=%s tails_ok=%s", tf(errors >= 1), tf(tails_ok));
	note_line(line, n);
	join(t);
	close_half(&h);
	return NULL;
}

START_TEST(test_stream_readline_memory_bounded)
{
	run_ok(bounded_main, NULL);
	EXPECT_TRAIL("ValueError>=1=True tails_ok=True 4:end\\n");
	CL_EXPECT(max_cap > 0 && max_cap <= CL_STREAM_LIMIT + 2,
		  "the reader's buffer grew to %zu bytes for a line of %d: "
		  "expected at most limit + 2 = %d",
		  max_cap, BIG_LINE, CL_STREAM_LIMIT + 2);
}
END_TEST

/* ---- 14. Writing and drain: high and low water --------------------------- */

/* Streams on both ends of a socketpair with 4 KiB kernel buffers. */
static void stream_pair(struct half *a, struct half *b)
{
	int sv[2];

	socketpair_(sv, 4096);
	cl_open_connection_fd(sv[0], &a->r, &a->w);
	cl_open_connection_fd(sv[1], &b->r, &b->w);
	a->raw = b->raw = -1;
}

static long ticks;

static void *ticker(void *arg)
{
	(void)arg;
	for (;;) {
		ticks++;
		cl_sleep(0);
	}
	return NULL;
}

#define DRAIN_TOTAL 200000

struct slow {
	struct cl_reader *r;
	struct cl_writer *w; /* whose buffer it watches */
	int draining, between;
	char *got;
	size_t ngot;
};

static void *slow_reader(void *arg)
{
	struct slow *s = arg;
	size_t size;

	while (s->ngot < DRAIN_TOTAL) {
		cl_reader_readexactly(s->r, s->got + s->ngot, 1000);
		s->ngot += 1000;
		size = cl_writer_get_write_buffer_size(s->w);
		if (s->draining && size > 2048 && size <= 8192)
			s->between = 1;
		cl_sleep(0);
	}
	return NULL;
}

/* "limits=high,low" of w's transport, as the .py prints them. */
static void note_limits(struct cl_writer *w)
{
	size_t low, high;

	cl_transport_get_write_buffer_limits(cl_writer_transport(w), &low,
					     &high);
	note("limits=%zu,%zu", high, low);
}

/* ch04_stream_writer.py, test_stream_drain_water_marks */
static void *water_main(void *arg)
{
	static struct half a, b;
	static struct slow s;
	struct cl_task *tick, *reader;
	char *data = malloc(DRAIN_TOTAL), buf[1000];
	long t0;
	int same;

	(void)arg;
	s = (struct slow){ .got = malloc(DRAIN_TOTAL) };
	stream_pair(&a, &b);
	note_limits(a.w);
	cl_writer_set_write_buffer_limits(a.w, CL_WATER_DEFAULT, 1000);
	note_limits(a.w);
	NOTE_RAISE(cl_writer_set_write_buffer_limits(a.w, 1, 2));
	cl_writer_set_write_buffer_limits(a.w, 8192, 2048);
	note_limits(a.w);

	tick = spawn(ticker, NULL);
	cl_sleep(0);
	memset(buf, 'a', sizeof buf);
	cl_writer_write(a.w, buf, sizeof buf);
	t0 = ticks;
	cl_writer_drain(a.w);
	note("small-drain-yielded=%ld", ticks - t0);
	cl_reader_readexactly(b.r, buf, sizeof buf);

	s.r = b.r;
	s.w = a.w;
	s.draining = 1;
	reader = spawn(slow_reader, &s);
	memset(data, 'b', DRAIN_TOTAL);
	cl_writer_write(a.w, data, DRAIN_TOTAL);
	note("above-high=%s",
	     tf(cl_writer_get_write_buffer_size(a.w) > 8192));
	cl_writer_drain(a.w);
	s.draining = 0;
	note("drain-returned-at-or-below-low=%s",
	     tf(cl_writer_get_write_buffer_size(a.w) <= 2048));
	note("waited-between-low-and-high=%s", tf(s.between));
	join(reader);
	same = memcmp(s.got, data, DRAIN_TOTAL) == 0;
	note("received=%zu same=%s", s.ngot, tf(same));
	cl_task_cancel(tick);
	cl_task_decref(tick);
	close_half(&a);
	close_half(&b);
	free(data);
	free(s.got);
	return NULL;
}

START_TEST(test_stream_drain_water_marks)
{
	run_ok(water_main, NULL);
	EXPECT_TRAIL("limits=65536,16384 limits=4000,1000 ValueError:high (1) "
		     "must be >= low (2) must be >= 0 limits=8192,2048 "
		     "small-drain-yielded=0 above-high=True "
		     "drain-returned-at-or-below-low=True "
		     "waited-between-low-and-high=True received=200000 "
		     "same=True");
}
END_TEST

#define CLOSE_TOTAL (1 << 20)

struct sink {
	struct cl_reader *r;
	char *data;
	size_t n;
};

static void *sink_reader(void *arg)
{
	struct sink *k = arg;
	const char *line;
	size_t n;

	cl_reader_readexactly(k->r, k->data, CLOSE_TOTAL);
	k->n = CLOSE_TOTAL;
	line = cl_reader_readline(k->r, &n);
	memcpy(k->data + k->n, line, n);
	k->n += n;
	return NULL;
}

static int fileno_after_close;

/* ch04_stream_writer.py, test_stream_close_flushes_then_closes */
static void *close_main(void *arg)
{
	static struct half a, b;
	static struct sink k;
	struct cl_task *t;
	char *data = malloc(CLOSE_TOTAL);
	int same;

	(void)arg;
	k = (struct sink){ .data = malloc(CLOSE_TOTAL + 64) };
	stream_pair(&a, &b);
	memset(data, 'c', CLOSE_TOTAL);
	cl_writer_write(a.w, data, CLOSE_TOTAL);
	cl_writer_close(a.w);
	note("is_closing=%s", tf(cl_writer_is_closing(a.w)));
	k.r = b.r;
	t = spawn(sink_reader, &k);
	join(t); /* first: if the reader fails, the flush never ends */
	cl_writer_wait_closed(a.w);
	note("closed");
	fileno_after_close = cl_writer_fileno(a.w);
	same = k.n == CLOSE_TOTAL && memcmp(k.data, data, CLOSE_TOTAL) == 0;
	note("received=%zu same=%s", k.n, tf(same));
	note("at_eof=%s", tf(cl_reader_at_eof(b.r)));
	cl_writer_close(b.w);
	cl_writer_write(b.w, "late", 4);
	note("write-after-close-ok");
	NOTE_RAISE(cl_writer_drain(b.w));
	close_half(&a);
	close_half(&b);
	free(data);
	free(k.data);
	return NULL;
}

START_TEST(test_stream_close_flushes_then_closes)
{
	run_ok(close_main, NULL);
	EXPECT_TRAIL("is_closing=True closed received=1048576 same=True "
		     "at_eof=True write-after-close-ok "
		     "ConnectionResetError:Connection lost");
	CL_EXPECT_INT(fileno_after_close, -1);
}
END_TEST

/* ---- 15. start_server: a task per connection ----------------------------- */

static int active, most, handlers_done;

static void echo_handler(struct cl_reader *r, struct cl_writer *w, void *arg)
{
	const char *line;
	size_t n;

	(void)arg;
	if (++active > most)
		most = active;
	for (;;) {
		line = cl_reader_readline(r, &n);
		if (n == 0)
			break;
		cl_writer_write(w, "echo:", 5);
		cl_writer_write(w, line, n);
		cl_writer_drain(w);
	}
	active--;
	handlers_done++;
}

struct client {
	int port, i;
	char replies[128];
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct cl_reader *r;
	struct cl_writer *w;
	const char *line;
	char msg[32];
	size_t n;

	cl_open_connection("127.0.0.1", c->port, &r, &w);
	for (int j = 0; j < 3; j++) {
		snprintf(msg, sizeof msg, "c%d-%d\n", c->i, j);
		cl_writer_write(w, msg, strlen(msg));
		cl_writer_drain(w);
		line = cl_reader_readline(r, &n);
		snprintf(c->replies + strlen(c->replies),
			 sizeof c->replies - strlen(c->replies), "%s%.*s",
			 j ? "|" : "", (int)(n ? n - 1 : 0), line);
		cl_sleep(0);
	}
	cl_writer_close(w);
	cl_writer_wait_closed(w);
	cl_reader_free(r);
	cl_writer_free(w);
	return NULL;
}

static char refused_msg[128], refused_want[128];

/* ch04_stream_server.py, test_server_concurrent_clients */
static void *concurrent_main(void *arg)
{
	static struct client c[5];
	struct cl_server *srv;
	struct cl_task *t[5];
	int port;

	(void)arg;
	active = most = handlers_done = 0;
	cl_start_server("127.0.0.1", 0, echo_handler, NULL, &srv);
	port = cl_server_port(srv);
	for (int i = 0; i < 5; i++) {
		c[i] = (struct client){ .port = port, .i = i };
		t[i] = spawn(client_main, &c[i]);
	}
	for (int i = 0; i < 5; i++)
		join(t[i]);
	for (int i = 0; i < 5; i++)
		note("c%d:%s", i, c[i].replies);
	cl_server_close(srv);
	cl_server_wait_closed(srv);
	cl_sleep(0.1);
	note("most-at-once=%d handlers-done=%d", most, handlers_done);
	CL_TRY {
		struct cl_reader *r;
		struct cl_writer *w;

		cl_open_connection("127.0.0.1", port, &r, &w);
		note("then:connected");
		cl_reader_free(r);
		cl_writer_free(w);
	} CL_CATCH(e) {
		note("then:%s", cl_exc_name(e));
		snprintf(refused_msg, sizeof refused_msg, "%s",
			 cl_exc_message(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	snprintf(refused_want, sizeof refused_want,
		 "[Errno %d] Connect call failed ('127.0.0.1', %d)",
		 ECONNREFUSED, port);
	cl_server_free(srv);
	return NULL;
}

START_TEST(test_server_concurrent_clients)
{
	run_ok(concurrent_main, NULL);
	EXPECT_TRAIL("c0:echo:c0-0|echo:c0-1|echo:c0-2 "
		     "c1:echo:c1-0|echo:c1-1|echo:c1-2 "
		     "c2:echo:c2-0|echo:c2-1|echo:c2-2 "
		     "c3:echo:c3-0|echo:c3-1|echo:c3-2 "
		     "c4:echo:c4-0|echo:c4-1|echo:c4-2 "
		     "most-at-once=5 handlers-done=5 "
		     "then:ConnectionRefusedError");
	CL_EXPECT_STR(refused_msg, refused_want);
}
END_TEST

/*
 * cl_server_wait_closed waits for the handlers still running (as
 * asyncio 3.12 does): a handler that takes 5 more seconds after its
 * client left holds it up, and wait_closed returns when it is done.
 */
static void slow_handler(struct cl_reader *r, struct cl_writer *w,
			 void *arg)
{
	const char *line;
	size_t n;

	(void)arg;
	line = cl_reader_readline(r, &n);
	cl_writer_write(w, line, n);
	cl_sleep(5);
	note("handler-done");
}

static void *wait_closed_main(void *arg)
{
	struct cl_server *srv;
	struct cl_reader *r;
	struct cl_writer *w;
	const char *line;
	size_t n;

	(void)arg;
	cl_start_server("127.0.0.1", 0, slow_handler, NULL, &srv);
	cl_open_connection("127.0.0.1", cl_server_port(srv), &r, &w);
	cl_writer_write(w, "hi\n", 3);
	line = cl_reader_readline(r, &n);
	note_line(line, n);
	note("connections=%zu", cl_server_nconnections(srv));
	cl_server_close(srv);
	note("serving=%s", tf(cl_server_is_serving(srv)));
	cl_server_wait_closed(srv);
	note("wait_closed-returned t=%.0f",
	     cl_loop_time(cl_get_running_loop()));
	line = cl_reader_readline(r, &n);
	note_line(line, n);
	cl_writer_close(w);
	cl_writer_wait_closed(w);
	cl_reader_free(r);
	cl_writer_free(w);
	cl_server_free(srv);
	return NULL;
}

START_TEST(test_server_wait_closed_waits_for_handlers)
{
	run_ok(wait_closed_main, NULL);
	EXPECT_TRAIL("3:hi\\n connections=1 serving=False handler-done "
		     "wait_closed-returned t=5 0:");
}
END_TEST

static struct cl_future *flood_over;
static int flood_caught;

static void flood_handler(struct cl_reader *r, struct cl_writer *w,
			  void *arg)
{
	static char z[65536];
	const char *line;
	size_t n;

	(void)arg;
	line = cl_reader_readline(r, &n);
	if (n == 6 && memcmp(line, "flood\n", 6) == 0) {
		memset(z, 'z', sizeof z);
		CL_TRY {
			for (;;) {
				cl_writer_write(w, z, sizeof z);
				cl_writer_drain(w);
			}
		} CL_CATCH(e) {
			flood_caught += cl_exc_matches(e, &cl_ConnectionError);
			cl_exc_decref(e);
		} CL_END_TRY;
		cl_future_set_result(flood_over, NULL);
	} else {
		cl_writer_write(w, "pong\n", 5);
		cl_writer_drain(w);
	}
}

/* ch04_stream_server.py, test_server_client_disconnect_mid_write */
static void *disconnect_main(void *arg)
{
	struct cl_server *srv;
	struct cl_reader *r;
	struct cl_writer *w;
	const char *line;
	char ten[10];
	size_t n;

	(void)arg;
	flood_caught = 0;
	flood_over = cl_future_new(NULL);
	cl_start_server("127.0.0.1", 0, flood_handler, NULL, &srv);
	cl_open_connection("127.0.0.1", cl_server_port(srv), &r, &w);
	cl_writer_write(w, "flood\n", 6);
	cl_writer_drain(w);
	cl_reader_readexactly(r, ten, sizeof ten);
	cl_reader_free(r);
	cl_writer_free(w); /* not closed: aborted, a reset */
	cl_await(flood_over);
	cl_future_decref(flood_over);
	note("handler-caught-ConnectionError=%s", tf(flood_caught == 1));
	cl_open_connection("127.0.0.1", cl_server_port(srv), &r, &w);
	cl_writer_write(w, "ping\n", 5);
	line = cl_reader_readline(r, &n);
	note("%.*s", (int)(n ? n - 1 : 0), line);
	note("serving=%s", tf(cl_server_is_serving(srv)));
	cl_writer_close(w);
	cl_writer_wait_closed(w);
	cl_reader_free(r);
	cl_writer_free(w);
	cl_server_close(srv);
	cl_server_wait_closed(srv);
	cl_server_free(srv);
	return NULL;
}

/*
 * A client that never reads: close_clients cannot end its connection
 * (the buffer must be sent first), abort_clients does, and wait_closed
 * returns. (Server.abort_clients is asyncio 3.13's: no 3.11 twin.)
 */
#define STUCK_TOTAL (4 << 20)

static void stuck_writer(struct cl_reader *r, struct cl_writer *w, void *a)
{
	static char block[65536];
	volatile size_t sent = 0;

	(void)r, (void)a;
	memset(block, 's', sizeof block);
	CL_TRY {
		while (sent < STUCK_TOTAL) {
			cl_writer_write(w, block, sizeof block);
			sent += sizeof block;
			cl_writer_drain(w);
		}
	} CL_CATCH(e) {
		note("handler:%s", cl_exc_name(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	note("handler-done sent<total=%s", tf(sent < STUCK_TOTAL));
}

static void *stuck_main(void *arg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct cl_server *srv;
	int fd, small = 4096;

	(void)arg;
	cl_start_server("127.0.0.1", 0, stuck_writer, NULL, &srv);
	sa.sin_port = htons((uint16_t)cl_server_port(srv));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	if (cl_sock_connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		cl_raise(cl_os_error(errno, "connect"));
	for (int i = 0; i < 50; i++)
		cl_sleep(0.01); /* the handler fills every buffer */
	cl_server_close(srv);
	cl_server_close_clients(srv);
	for (int i = 0; i < 50; i++)
		cl_sleep(0.01);
	note("after-close_clients=%zu", cl_server_nconnections(srv));
	cl_server_abort_clients(srv);
	cl_server_wait_closed(srv);
	note("closed=%zu", cl_server_nconnections(srv));
	cl_server_free(srv);
	close(fd);
	return NULL;
}

START_TEST(test_server_abort_clients_ends_a_stuck_close)
{
	run_with(stuck_main, NULL, CL_CLOCK_REAL);
	/* drain() wakes when the connection is lost, the next write is
	 * dropped and the next drain() raises, as asyncio's would. */
	EXPECT_TRAIL("after-close_clients=1 handler:ConnectionResetError "
		     "handler-done sent<total=True closed=0");
}
END_TEST

START_TEST(test_server_client_disconnect_mid_write)
{
	/* A write that raised SIGPIPE would kill this process. */
	signal(SIGPIPE, SIG_DFL);
	run_ok(disconnect_main, NULL);
	EXPECT_TRAIL("handler-caught-ConnectionError=True pong serving=True");
}
END_TEST

/* ---- 16. Servers under fault injection ----------------------------------- */

/*
 * The server runs in a child process with COROLAB_FAULTS set, so that
 * one call in three of its reads, writes and accepts comes back short,
 * interrupted or refused. The test is the client: NCONN connections
 * over plain non-blocking sockets and poll(2), each sending its whole
 * request stream and shutting down its side, reading the replies until
 * EOF. Every byte must come back, in order: the checksum (FNV-1a) and
 * length of what came back must be those of what was expected.
 */
#define NCONN 8
#define FAULTS "seed=7,rate=0.3"

struct wire {
	char *out; /* what the client sends */
	size_t nout, sent;
	char *want; /* what it must get back */
	size_t nwant;
	char *in; /* what it got */
	size_t nin, cap;
	int fd, eof;
};

static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

static void wire_put(char **buf, size_t *n, size_t *cap, const char *s,
		     size_t len)
{
	if (*n + len + 1 > *cap) {
		*cap = (*n + len + 1) * 2;
		*buf = realloc(*buf, *cap);
	}
	memcpy(*buf + *n, s, len);
	*n += len;
}

#define PUT(w, field, s)                                                     \
	wire_put(&(w)->field, &(w)->n##field, &cap_##field, s, strlen(s))

/* The child's handler: count the connections done, stop after NCONN. */
static cl_client_connected_cb child_fn;
static int child_done;
static struct cl_future *child_all_done;

static void child_handler(struct cl_reader *r, struct cl_writer *w, void *a)
{
	CL_TRY {
		child_fn(r, w, a);
	} CL_CATCH(e) {
		if (++child_done == NCONN)
			cl_future_set_result(child_all_done, NULL);
		cl_raise(e);
	} CL_END_TRY;
	if (++child_done == NCONN)
		cl_future_set_result(child_all_done, NULL);
}

/*
 * The echo server on the protocol layer (chapter 04, section 10), with
 * flow control: reading pauses while the write buffer is above the high
 * mark. Counts the connections it has seen end, as child_handler.
 */
struct echo_proto {
	struct cl_protocol base;
	struct cl_transport *t;
};

static void ep_made(struct cl_protocol *p, struct cl_transport *t)
{
	((struct echo_proto *)p)->t = t;
}

static void ep_data(struct cl_protocol *p, const char *data, size_t n)
{
	cl_transport_write(((struct echo_proto *)p)->t, data, n);
}

static void ep_pause(struct cl_protocol *p)
{
	cl_transport_pause_reading(((struct echo_proto *)p)->t);
}

static void ep_resume(struct cl_protocol *p)
{
	cl_transport_resume_reading(((struct echo_proto *)p)->t);
}

static void ep_lost(struct cl_protocol *p, struct cl_exc *exc)
{
	(void)exc;
	free(p);
	if (++child_done == NCONN)
		cl_future_set_result(child_all_done, NULL);
}

static const struct cl_protocol_ops echo_proto_ops = {
	.connection_made = ep_made,
	.data_received = ep_data,
	.connection_lost = ep_lost,
	.pause_writing = ep_pause,
	.resume_writing = ep_resume,
};

static struct cl_protocol *echo_proto_new(void *arg)
{
	struct echo_proto *p = calloc(1, sizeof *p);

	(void)arg;
	if (p == NULL)
		return NULL;
	p->base.ops = &echo_proto_ops;
	return &p->base;
}

static int child_pipe;

/* The child's server: start_server with child_fn, or, if child_fn is
 * NULL, create_server with the protocol echo. */
static void *child_main(void *arg)
{
	struct cl_server *srv;
	char msg[128] = "";
	int port;

	(void)arg;
	child_all_done = cl_future_new(NULL);
	if (child_fn != NULL)
		cl_start_server("127.0.0.1", 0, child_handler, NULL, &srv);
	else
		cl_loop_create_server(cl_get_running_loop(), echo_proto_new,
				      NULL, "127.0.0.1", 0, &srv);
	port = cl_server_port(srv);
	if (write(child_pipe, &port, sizeof port) != sizeof port)
		_exit(3);
	cl_await(child_all_done);
	cl_future_decref(child_all_done);
	cl_server_close(srv);
	cl_server_wait_closed(srv);
	cl_server_free(srv);
	struct cl_io_fault_stats st = cl_io_fault_stats();
	snprintf(msg, sizeof msg, "%lu %lu %lu %lu", st.calls, st.shorts,
		 st.eintr, st.eagain);
	if (write(child_pipe, msg, sizeof msg) != sizeof msg)
		_exit(3);
	return NULL;
}

/* Fork the server; return its pid, its port in *port. */
static pid_t serve_in_child(cl_client_connected_cb fn, int *port, int *rd)
{
	int p[2];
	pid_t pid;
	void *out;

	CL_EXPECT(pipe(p) == 0, "pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CL_EXPECT(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		child_pipe = p[1];
		child_fn = fn;
		setenv("COROLAB_FAULTS", FAULTS, 1);
		cl_io_set_faults(getenv("COROLAB_FAULTS"));
		_exit(cl_run_with(child_main, NULL,
				  &(struct cl_run_opts){ .clock =
							 CL_CLOCK_REAL },
				  &out) == 0 ? 0 : 2);
	}
	close(p[1]);
	*rd = p[0];
	CL_EXPECT(read(p[0], port, sizeof *port) == sizeof *port,
		  "the server child did not start (it exited or crashed)");
	return pid;
}

/* Run the connections to the end: send all, shut down, read to EOF. */
static void exchange(struct wire *c, int n, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	struct pollfd pfd[NCONN];
	int left = n;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < n; i++) {
		c[i].fd = socket(AF_INET, SOCK_STREAM, 0);
		CL_EXPECT(connect(c[i].fd, (struct sockaddr *)&sa,
				  sizeof sa) == 0,
			  "connect: %s", strerror(errno));
		fcntl(c[i].fd, F_SETFL, O_NONBLOCK);
	}
	while (left > 0) {
		for (int i = 0; i < n; i++) {
			pfd[i].fd = c[i].eof ? -1 : c[i].fd;
			pfd[i].events = POLLIN;
			if (c[i].sent < c[i].nout)
				pfd[i].events |= POLLOUT;
		}
		CL_EXPECT(poll(pfd, n, 4000) > 0,
			  "the server stopped answering (4 s without a "
			  "byte)");
		for (int i = 0; i < n; i++) {
			struct wire *w = &c[i];
			ssize_t k;

			if (pfd[i].revents & POLLOUT) {
				k = send(w->fd, w->out + w->sent,
					 w->nout - w->sent, MSG_NOSIGNAL);
				if (k > 0 && (w->sent += k) == w->nout)
					shutdown(w->fd, SHUT_WR);
			}
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				if (w->cap - w->nin < 65536) {
					w->cap = w->cap * 2 + 65536;
					w->in = realloc(w->in, w->cap);
				}
				k = recv(w->fd, w->in + w->nin, 65536, 0);
				if (k > 0) {
					w->nin += k;
				} else if (k == 0 || errno != EAGAIN) {
					w->eof = 1;
					left--;
				}
			}
		}
	}
}

/* Check every connection's replies; then the child's exit and stats. */
static void check_wires(struct wire *c, pid_t pid, int rd)
{
	char stats[128] = "";
	unsigned long calls = 0, shorts = 0, eintr = 0, eagain = 0;
	int status;

	for (int i = 0; i < NCONN; i++) {
		struct wire *w = &c[i];
		size_t at = 0;

		while (at < w->nin && at < w->nwant && w->in[at] == w->want[at])
			at++;
		CL_EXPECT(w->nin == w->nwant &&
				  fnv1a(w->in, w->nin) ==
					  fnv1a(w->want, w->nwant),
			  "connection %d: got %zu bytes back, expected %zu; "
			  "they differ from byte %zu on (expected \"%.20s\", "
			  "got \"%.20s\")",
			  i, w->nin, w->nwant, at, w->want + at,
			  at < w->nin ? w->in + at : "");
		close(w->fd);
		free(w->out);
		free(w->want);
		free(w->in);
	}
	CL_EXPECT(read(rd, stats, sizeof stats) == sizeof stats,
		  "the server child did not report");
	close(rd);
	CL_EXPECT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
			  WEXITSTATUS(status) == 0,
		  "the server child failed (status 0x%x)", status);
	sscanf(stats, "%lu %lu %lu %lu", &calls, &shorts, &eintr, &eagain);
	CL_EXPECT(shorts > 0 && eintr > 0 && eagain > 0,
		  "fault injection did not happen (%lu calls: %lu short, "
		  "%lu EINTR, %lu EAGAIN)", calls, shorts, eintr, eagain);
}

/* A small generator, so the streams are the same every run. */
static uint32_t rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* The echo server: lines back as they came. */
static void line_echo(struct cl_reader *r, struct cl_writer *w, void *arg)
{
	const char *line;
	size_t n;

	(void)arg;
	for (;;) {
		line = cl_reader_readline(r, &n);
		if (n == 0)
			break;
		cl_writer_write(w, line, n);
		cl_writer_drain(w);
	}
}

/* NCONN connections of random lines, 64 KiB each, echoed by fn's
 * server (NULL: the protocol echo) under fault injection. */
static void echo_under_faults(cl_client_connected_cb fn)
{
	struct wire c[NCONN] = { 0 };
	uint32_t seed = 42;
	char line[4096];
	int port, rd;
	pid_t pid;

	for (int i = 0; i < NCONN; i++) {
		size_t cap_out = 0, cap_want = 0;

		while (c[i].nout < 64 * 1024) {
			size_t len = rnd(&seed) % 3000;

			for (size_t j = 0; j < len; j++)
				line[j] = (char)(' ' + rnd(&seed) % 95);
			line[len] = '\n';
			line[len + 1] = '\0';
			PUT(&c[i], out, line);
			PUT(&c[i], want, line);
		}
	}
	pid = serve_in_child(fn, &port, &rd);
	exchange(c, NCONN, port);
	check_wires(c, pid, rd);
}

START_TEST(test_server_echo_under_faults)
{
	echo_under_faults(line_echo);
}
END_TEST

START_TEST(test_protocol_echo_under_faults)
{
	echo_under_faults(NULL);
}
END_TEST

/*
 * The key-value server of the chapter's kv_server example, cut down to
 * the protocol: GET k, SET k v, DEL k, one command a line; replies OK,
 * VALUE v, NOT_FOUND, ERROR <why>. A few keys, linear search.
 */
#define KV_MAX 64

struct kv {
	char key[32], val[64];
	int used;
};

static void kv_reply(struct cl_writer *w, const char *a, const char *b)
{
	cl_writer_write(w, a, strlen(a));
	cl_writer_write(w, b, strlen(b));
	cl_writer_write(w, "\n", 1);
}

static void kv_handler(struct cl_reader *r, struct cl_writer *w, void *arg)
{
	struct kv kv[KV_MAX] = { 0 };
	char cmd[8], key[32], val[64], buf[128];
	const char *line;
	size_t n;
	int i, f;

	(void)arg;
	for (;;) {
		line = cl_reader_readline(r, &n);
		if (n == 0)
			break;
		snprintf(buf, sizeof buf, "%.*s", (int)(n - 1), line);
		val[0] = '\0';
		f = sscanf(buf, "%7s %31s %63[^\n]", cmd, key, val);
		for (i = 0; f >= 2 && i < KV_MAX; i++)
			if (kv[i].used && strcmp(kv[i].key, key) == 0)
				break;
		if (f == 3 && strcmp(cmd, "SET") == 0) {
			for (int j = 0; i == KV_MAX && j < KV_MAX; j++)
				if (!kv[j].used)
					i = j;
			kv[i].used = 1;
			snprintf(kv[i].key, sizeof kv[i].key, "%s", key);
			snprintf(kv[i].val, sizeof kv[i].val, "%s", val);
			kv_reply(w, "OK", "");
		} else if (f == 2 && strcmp(cmd, "GET") == 0) {
			if (i < KV_MAX)
				kv_reply(w, "VALUE ", kv[i].val);
			else
				kv_reply(w, "NOT_FOUND", "");
		} else if (f == 2 && strcmp(cmd, "DEL") == 0) {
			if (i < KV_MAX)
				kv[i].used = 0;
			kv_reply(w, i < KV_MAX ? "OK" : "NOT_FOUND", "");
		} else {
			kv_reply(w, "ERROR unknown command", "");
		}
		cl_writer_drain(w);
	}
}

START_TEST(test_server_kv_under_faults)
{
	struct wire c[NCONN] = { 0 };
	uint32_t seed = 99;
	char line[128], reply[128];
	char model[16][64];
	int port, rd;
	pid_t pid;

	for (int i = 0; i < NCONN; i++) {
		size_t cap_out = 0, cap_want = 0;

		memset(model, 0, sizeof model);
		for (int j = 0; j < 3000; j++) {
			int k = (int)(rnd(&seed) % 16);
			int op = (int)(rnd(&seed) % 8);

			if (op < 3) {
				snprintf(model[k], sizeof model[k],
					 "v%d-%d value %u", i, j, rnd(&seed));
				snprintf(line, sizeof line, "SET k%d %s\n", k,
					 model[k]);
				snprintf(reply, sizeof reply, "OK\n");
			} else if (op < 6) {
				snprintf(line, sizeof line, "GET k%d\n", k);
				if (model[k][0])
					snprintf(reply, sizeof reply,
						 "VALUE %s\n", model[k]);
				else
					snprintf(reply, sizeof reply,
						 "NOT_FOUND\n");
			} else if (op < 7) {
				snprintf(line, sizeof line, "DEL k%d\n", k);
				snprintf(reply, sizeof reply, "%s\n",
					 model[k][0] ? "OK" : "NOT_FOUND");
				model[k][0] = '\0';
			} else {
				snprintf(line, sizeof line, "BOGUS %d\n", j);
				snprintf(reply, sizeof reply,
					 "ERROR unknown command\n");
			}
			PUT(&c[i], out, line);
			PUT(&c[i], want, reply);
		}
	}
	pid = serve_in_child(kv_handler, &port, &rd);
	exchange(c, NCONN, port);
	check_wires(c, pid, rd);
}
END_TEST

static void add_stream_tests(void)
{
	cl_test(test_stream_readline_splits_across_reads, 3, SEC_READ);
	cl_test(test_stream_readline_at_eof, 2, SEC_READ);
	cl_test(test_stream_readexactly_exact, 2, SEC_READ);
	cl_test(test_stream_readexactly_incomplete, 2, SEC_READ);
	cl_test(test_stream_read_n_and_all, 2, SEC_READ);
	cl_test(test_stream_one_read_waits_at_a_time, 2, SEC_READ);
	cl_test(test_stream_readline_over_limit, 3, SEC_LIMIT);
	cl_test(test_stream_readline_memory_bounded, 2, SEC_LIMIT);
	cl_test(test_stream_drain_water_marks, 3, SEC_DRAIN);
	cl_test(test_stream_close_flushes_then_closes, 2, SEC_DRAIN);
	cl_test(test_server_concurrent_clients, 3, SEC_SERVER);
	cl_test(test_server_wait_closed_waits_for_handlers, 1, SEC_SERVER);
	cl_test(test_server_abort_clients_ends_a_stuck_close, 1, SEC_SERVER);
	cl_test(test_server_client_disconnect_mid_write, 2, SEC_SERVER);
	cl_test(test_server_echo_under_faults, 3, SEC_FAULTS);
	cl_test(test_protocol_echo_under_faults, 3, SEC_FAULTS);
	cl_test(test_server_kv_under_faults, 3, SEC_FAULTS);
}

CL_CHAPTER(4, "04-epoll", "epoll", add_stream_tests)
