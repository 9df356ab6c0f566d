/*
 * stream.c - streams: a buffered reader and writer over one socket.
 *
 * Three parts, in the order a connection lives them:
 *
 *	the connection	one struct cl_stream holds both halves and the
 *			socket; it ends once, in connection_lost, which
 *			closes the socket and wakes whoever waits;
 *	the reader	reads the socket when a read call needs bytes;
 *			readline and readexactly are the lab;
 *	the writer	sends at once what the socket takes, buffers the
 *			rest and sends it from a writable-callback, and
 *			makes drain() wait while the buffer is too full.
 *
 * asyncio splits the same work between a transport (selector_events.py,
 * which owns the socket and the write buffer) and a protocol
 * (streams.py, which owns the read buffer and flow control). We keep
 * one object because C has no garbage collector to tie the pieces
 * together: a reference count on the stream does it.
 *
 * Every read and write goes through io.h, so COROLAB_FAULTS can make
 * them short, interrupted (EINTR) or refused (EAGAIN) at random: each
 * call site below says what it does then.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdwatch.h"
#include "io.h"
#include "lines.h"
#include "sock.h"
#include "stream.h"
#include "task.h"

const struct cl_exc_type cl_ConnectionError = { "ConnectionError",
						&cl_OSError };
const struct cl_exc_type cl_BrokenPipeError = { "BrokenPipeError",
						&cl_ConnectionError };
const struct cl_exc_type cl_ConnectionAbortedError = {
	"ConnectionAbortedError", &cl_ConnectionError
};
const struct cl_exc_type cl_ConnectionRefusedError = {
	"ConnectionRefusedError", &cl_ConnectionError
};
const struct cl_exc_type cl_ConnectionResetError = {
	"ConnectionResetError", &cl_ConnectionError
};
const struct cl_exc_type cl_EOFError = { "EOFError", &cl_Exception };
const struct cl_exc_type cl_IncompleteReadError = { "IncompleteReadError",
						    &cl_EOFError };

/* Reads in a row that find data before a reader yields: see
 * cl__reader_recv. */
#define CL__READ_BUDGET 16

/* The readline buffer starts this big and doubles up to limit + 1. */
#define CL__READ_CHUNK 4096

/*
 * How far readline looks ahead for the newline of a line that went over
 * the limit, beyond 2 * limit: CPython's reader holds at most about that
 * much (it stops reading above 2 * limit, and reads 256 KiB at a time).
 */
#define CL__LOOKAHEAD (256 * 1024)

/* Errors. */

/* OSError.__new__ picks the subclass from errno (Objects/exceptions.c). */
static const struct cl_exc_type *cl__os_error_type(int err)
{
	switch (err) {
	case EPIPE:
	case ESHUTDOWN:
		return &cl_BrokenPipeError;
	case ECONNABORTED:
		return &cl_ConnectionAbortedError;
	case ECONNREFUSED:
		return &cl_ConnectionRefusedError;
	case ECONNRESET:
		return &cl_ConnectionResetError;
	}
	return &cl_OSError;
}

struct cl_exc *cl_os_error(int err, const char *what)
{
	if (err < 0)
		err = -err;
	return cl_exc_new(cl__os_error_type(err), "[Errno %d] %s", err,
			  what != NULL ? what : strerror(err));
}

/*
 * IncompleteReadError(partial, expected). The partial count travels in
 * the exception's value, the one payload slot exc.h has (StopIteration
 * carries its value there too); exc.c offers no setter for other types,
 * hence the direct store. The preallocated MemoryError that cl_exc_new
 * returns when memory runs out is shared: it is left alone.
 */
static struct cl_exc *cl__incomplete_read(size_t partial, size_t expected)
{
	struct cl_exc *e = cl_exc_new(&cl_IncompleteReadError,
				      "%zu bytes read on a total of %zu "
				      "expected bytes", partial, expected);

	if (e->type == &cl_IncompleteReadError)
		e->value = CL_INT(partial);
	return e;
}

size_t cl_incomplete_read_partial(const struct cl_exc *e)
{
	if (!cl_exc_matches(e, &cl_IncompleteReadError))
		return 0;
	return (size_t)CL_TOINT(cl_exc_value(e));
}

/* Waiters: a future per waiting task, in a list the wakers walk. */

static void cl__waiter_unlink(struct cl__waiter **list, struct cl__waiter *w)
{
	for (; *list != NULL; list = &(*list)->next) {
		if (*list == w) {
			*list = w->next;
			return;
		}
	}
}

void cl__wait_on(struct cl__waiter **list, enum cl_future_what what,
		 unsigned long id)
{
	struct cl__waiter me;

	me.fut = cl_future_new(NULL);
	if (me.fut == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError,
				    "cannot wait: no running loop"));
	me.fut->what = what;
	me.fut->what_id = id;
	me.next = *list;
	*list = &me;
	CL_TRY {
		cl_await(me.fut);
	} CL_CATCH(e) {
		/* Cancelled, or woken with an exception: either way we
		 * leave, and the list must not keep our stack's node. */
		cl__waiter_unlink(list, &me);
		cl_future_decref(me.fut);
		cl_raise(e);
	} CL_END_TRY;
	cl__waiter_unlink(list, &me);
	cl_future_decref(me.fut);
}

void cl__wake_all(struct cl__waiter *list, struct cl_exc *exc)
{
	for (; list != NULL; list = list->next) {
		if (cl_future_done(list->fut))
			continue; /* woken already, or cancelled */
		if (exc != NULL)
			cl_future_set_exception(list->fut, cl_exc_incref(exc));
		else
			cl_future_set_result(list->fut, NULL);
	}
}

/* The connection. */

static struct cl_stream *cl__stream_of_reader(struct cl_reader *r)
{
	return (struct cl_stream *)((char *)r -
				    offsetof(struct cl_stream, reader));
}

static struct cl_stream *cl__stream_of_writer(struct cl_writer *w)
{
	return (struct cl_stream *)((char *)w -
				    offsetof(struct cl_stream, writer));
}

static void cl__stream_decref(struct cl_stream *s)
{
	if (--s->refcnt > 0)
		return;
	if (s->fd >= 0)
		close(s->fd); /* not reached: connection_lost closed it */
	cl_future_decref(s->reader.waiter);
	cl_exc_decref(s->reader.exc);
	cl_exc_decref(s->lost_exc);
	free(s->reader.buf);
	free(s->writer.buf);
	free(s);
}

static void cl__reader_unwatch(struct cl_stream *s)
{
	if (s->reader.watching) {
		s->reader.watching = 0;
		cl_loop_remove_reader(s->loop, s->fd);
	}
}

static void cl__writer_unwatch(struct cl_stream *s)
{
	if (s->writer.watching) {
		s->writer.watching = 0;
		cl_loop_remove_writer(s->loop, s->fd);
	}
}

/* Wake the read waiting for the socket, if one still waits
 * (StreamReader._wakeup_waiter). */
static void cl__reader_wake(struct cl_reader *r)
{
	if (r->waiter != NULL && !cl_future_done(r->waiter))
		cl_future_set_result(r->waiter, NULL);
}

/*
 * The connection is over: _call_connection_lost and the protocol's
 * connection_lost. Runs once. The steps:
 *	1. stop watching the socket, then close it;
 *	2. the reader sees EOF, or the error the connection died of, and a
 *	   read waiting for data wakes up to see it;
 *	3. tasks in wait_closed wake up (with the error raised in them);
 *	4. tasks in drain wake up too, if the writer was paused;
 *	5. drop the reference the open connection held on the stream.
 * The stream may be freed by step 5: callers touch it no more.
 */
static void cl__stream_connection_lost(struct cl_stream *s)
{
	struct cl_exc *exc = s->lost_exc;

	if (s->lost_done)
		return;
	s->lost_done = s->lost = s->closing = 1;

	cl__reader_unwatch(s);
	cl__writer_unwatch(s);
	close(s->fd);
	s->fd = -1;

	if (exc != NULL && s->reader.exc == NULL)
		s->reader.exc = cl_exc_incref(exc);
	s->reader.eof = 1;
	cl__reader_wake(&s->reader);

	cl__wake_all(s->closers, exc);
	if (s->writer.paused)
		cl__wake_all(s->writer.drainers, exc);

	cl__stream_decref(s);
}

static void cl__stream_lost_cb(void *arg)
{
	struct cl_stream *s = arg;

	cl__stream_connection_lost(s);
	cl__stream_decref(s); /* the callback's own reference */
}

/*
 * Mark the connection lost (with exc, taken over; NULL: cleanly) and
 * queue connection_lost for the next iteration, as the transport does
 * with call_soon. Until it runs, drain() sees is_closing() and yields
 * once, which is when it runs.
 */
static void cl__stream_schedule_lost(struct cl_stream *s, struct cl_exc *exc)
{
	s->lost = 1;
	s->lost_exc = exc;
	s->refcnt++;
	if (cl_loop_call_soon(s->loop, cl__stream_lost_cb, s) == NULL) {
		/* Out of memory: no callback, so do it now. */
		s->refcnt--;
		cl__stream_connection_lost(s);
	}
}

/*
 * transport._force_close(exc): a read or write failed for good (exc is
 * the error, taken over). What is still buffered for sending is
 * dropped, and the connection is lost at the next iteration.
 */
static void cl__stream_force_close(struct cl_stream *s, struct cl_exc *exc)
{
	if (s->lost) {
		cl_exc_decref(exc);
		return;
	}
	s->writer.head = s->writer.tail = 0;
	cl__writer_unwatch(s);
	s->closing = 1;
	cl__stream_schedule_lost(s, exc);
}

/*
 * A stream over fd (non-blocking from here on), or NULL with errno set.
 * Three references: the reader's, the writer's, and the open
 * connection's, dropped by connection_lost.
 */
struct cl_stream *cl__stream_open(int fd)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_stream *s;
	int one = 1, err;

	if (loop == NULL) {
		errno = ESRCH;
		return NULL;
	}
	err = cl_sock_nonblock(fd);
	if (err < 0) {
		errno = -err;
		return NULL;
	}
	/* asyncio sets TCP_NODELAY on every TCP transport (_set_nodelay):
	 * a small reply should leave now, not wait for an ACK. On other
	 * sockets this fails, harmlessly. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	s = cl__lines_alloc(sizeof *s);
	if (s == NULL)
		return NULL;
	s->refcnt = 3;
	s->fd = fd;
	s->loop = loop;
	s->reader.limit = CL_STREAM_LIMIT;
	s->writer.high = CL_STREAM_HIGH_WATER;
	s->writer.low = CL_STREAM_LOW_WATER;
	return s;
}

/* The reader: its buffer, waiting for the socket, and the reads. */

/*
 * Every read call begins here: the line the previous readline lent
 * gets its byte back, and the connection's error, if it has one, is
 * raised (each StreamReader read starts with "if self._exception is not
 * None: raise self._exception").
 */
static void cl__reader_begin(struct cl_reader *r)
{
	if (r->lent) {
		r->buf[r->nul] = r->saved;
		r->lent = 0;
	}
	if (r->exc != NULL)
		cl_raise(cl_exc_incref(r->exc));
}

/* A read found the socket empty, or emptied it: wait for the poller
 * before the next one. */
static void cl__reader_drained(struct cl_stream *s)
{
	s->reader.drained = 1;
	s->reader.drained_at = cl_loop_iteration(s->loop);
}

/*
 * One read of the socket, at most n (> 0) bytes into p, EINTR retried,
 * and what it says about the socket recorded in the reader: a short
 * read or EAGAIN leaves it drained, 0 is EOF, an error ends the
 * connection (r->exc, which every later read raises). Returns the bytes
 * read, -EAGAIN if there were none yet, 0 at EOF or on an error. Every
 * read of the socket goes through here.
 */
static ssize_t cl__reader_sysread(struct cl_stream *s, char *p, size_t n)
{
	struct cl_reader *r = &s->reader;
	ssize_t got;

	do
		got = cl_io_read(s->fd, p, n);
	while (got == -EINTR);
	if (got > 0) {
		if ((size_t)got < n)
			cl__reader_drained(s);
		else
			r->drained = 0;
		return got;
	}
	if (got == -EAGAIN || got == -EWOULDBLOCK) {
		cl__reader_drained(s);
		return -EAGAIN;
	}
	if (got == 0) {
		r->eof = 1;
	} else {
		r->exc = cl_os_error((int)got, NULL);
		cl__stream_force_close(s, cl_exc_incref(r->exc));
	}
	return 0;
}

/*
 * The socket is readable. If a read is waiting, read for it, here in
 * the callback, into the buffer, and wake it: it finds the bytes there
 * when it runs, at the next iteration. That is what asyncio's transport
 * does in _read_ready, and it matters because watching is
 * level-triggered: bytes still in the socket at the next poll would be
 * reported again, and every message would cost two reports, two
 * callbacks, and a read that hears EAGAIN.
 *
 * Two cases do not read:
 *	- nobody waits, or the wait is over already (woken, or cancelled):
 *	  the callback goes (unwatch), because unread data would call it
 *	  at every iteration; the task reads for itself if it reads
 *	  again. It stays in place otherwise: a reader usually waits again
 *	  soon, and removing and adding it each time would cost two
 *	  epoll_ctl calls a message;
 *	- the report is stale. It is a snapshot taken by this iteration's
 *	  poll, before any callback ran; if the reader has emptied the
 *	  socket since, in this same iteration, the report describes bytes
 *	  already read, and the next poll will say if more have come.
 */
static void cl__reader_ready(void *arg)
{
	struct cl_stream *s = arg;
	struct cl_reader *r = &s->reader;
	ssize_t got;

	if (r->waiter == NULL || cl_future_done(r->waiter)) {
		cl__reader_unwatch(s);
		return;
	}
	if (r->drained_at == cl_loop_iteration(s->loop))
		return;
	got = cl__reader_sysread(s, r->buf + r->tail, r->cap - 1 - r->tail);
	if (got == -EAGAIN)
		return; /* not readable after all: wait on */
	r->tail += (size_t)got; /* 0: EOF or an error, recorded */
	cl_future_set_result(r->waiter, NULL);
}

/*
 * _wait_for_data: suspend the calling task until cl__reader_ready has
 * read for it, or the connection has ended. The bytes land in the
 * buffer after what it holds: how many came. Only one read may wait at
 * a time: with two, which one gets the next bytes would be down to
 * chance, so the second is refused as StreamReader refuses it.
 *
 * The future the read awaits is r->waiter. StreamReader clears
 * _waiter in a finally clause; a CL_TRY here would cost a sigsetjmp per
 * wait, so a wait that leaves by an exception (cancelled) leaves its
 * future behind instead, done, and the next wait, or the stream's end,
 * drops it. A done waiter is as good as none: nothing wakes it again.
 */
static size_t cl__reader_wait(struct cl_stream *s, const char *what)
{
	struct cl_reader *r = &s->reader;
	struct cl_future *f;
	size_t mark;
	int err;

	if (r->waiter != NULL) {
		if (!cl_future_done(r->waiter))
			cl_raise(cl_exc_new(&cl_RuntimeError,
					    "%s() called while another "
					    "coroutine is already waiting for "
					    "incoming data", what));
		cl_future_decref(r->waiter);
		r->waiter = NULL;
	}
	/* Room for the callback to read into. */
	if (r->head == r->tail)
		r->head = r->tail = 0;
	if (r->cap == 0) {
		r->buf = aligned_alloc(CL_LINE, CL__READ_CHUNK);
		if (r->buf == NULL)
			cl_raise(cl_exc_new(&cl_MemoryError, NULL));
		r->cap = CL__READ_CHUNK;
	}
	if (!r->watching) {
		err = cl_loop_add_reader(s->loop, s->fd, cl__reader_ready, s);
		if (err < 0)
			cl_raise(cl_os_error(err, NULL));
		r->watching = 1;
	}
	f = cl_future_new(s->loop);
	if (f == NULL)
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	f->what = CL_WHAT_FD_IN;
	f->what_id = (unsigned long)s->fd;
	r->waiter = f;
	mark = r->tail;
	cl_await(f);
	r->waiter = NULL;
	cl_future_decref(f);
	return r->tail - mark;
}

/*
 * Read at most n (> 0) bytes from the socket into dst, waiting until
 * there are some: how many, or 0 at EOF. A read error ends the
 * connection and stays the reader's: this read raises it, and so will
 * every later one.
 *
 * It reads the socket itself until a read comes back short: that read
 * has most likely emptied the socket, so the next one waits for the
 * poller instead of spending a system call to hear EAGAIN (libuv's
 * uv__read stops at a short read too). The bytes that end a wait were
 * read by cl__reader_ready into the buffer, after what it held; they
 * move to dst, and what did not fit stays buffered. dst may be that
 * very place, the buffer's free end (cl__reader_fill): then nothing
 * moves, and the buffer's length is left for the caller to grow.
 *
 * A reader that finds data at once CL__READ_BUDGET times in a row
 * yields for one iteration (Tokio's cooperative budget): a peer that
 * always has more to say would otherwise keep the loop for itself while
 * every other connection waits.
 */
static size_t cl__reader_recv(struct cl_stream *s, void *dst, size_t n,
			      const char *what)
{
	struct cl_reader *r = &s->reader;
	size_t got, mark;
	ssize_t k;

	for (;;) {
		if (r->exc != NULL)
			cl_raise(cl_exc_incref(r->exc));
		if (r->eof)
			return 0;
		if (r->drained) {
			r->drained = 0;
			r->streak = 0;
			got = cl__reader_wait(s, what);
			if (got == 0)
				continue; /* woken by the end, or an error */
			mark = r->tail - got;
			if (got > n)
				got = n;
			memmove(dst, r->buf + mark, got);
			memmove(r->buf + mark, r->buf + mark + got,
				r->tail - mark - got);
			r->tail -= got;
			return got;
		}
		if (r->streak >= CL__READ_BUDGET) {
			r->streak = 0;
			cl_sleep(0);
			continue;
		}
		k = cl__reader_sysread(s, dst, n);
		if (k > 0) {
			r->streak++;
			return (size_t)k;
		}
		/* EOF, an error or EAGAIN: recorded, and acted on above. */
	}
}

/*
 * Read more into the buffer: how many bytes came, 0 at EOF. The bytes
 * kept move to the front first, and the buffer grows (doubling) up to
 * limit + 1 bytes, enough to tell a line that is too long: a caller
 * never needs more.
 */
static size_t cl__reader_fill(struct cl_stream *s)
{
	struct cl_reader *r = &s->reader;
	size_t used = r->tail - r->head, max = r->limit + 2, cap;
	size_t got;
	char *buf;

	if (r->head > 0) {
		memmove(r->buf, r->buf + r->head, used);
		r->head = 0;
		r->tail = used;
	}
	if (r->tail + 1 >= r->cap) {
		cap = r->cap ? 2 * r->cap : CL__READ_CHUNK;
		if (cap > max)
			cap = max;
		if (cap < r->tail + 2)
			cap = r->tail + 2; /* the limit was lowered */
		buf = realloc(r->buf, cap);
		if (buf == NULL)
			cl_raise(cl_exc_new(&cl_MemoryError, NULL));
		r->buf = buf;
		r->cap = cap;
	}
	got = cl__reader_recv(s, r->buf + r->tail, r->cap - 1 - r->tail,
			      "readline");
	r->tail += got;
	return got;
}

/*
 * Hand out the first n bytes of the buffer as a line: they are consumed
 * now, but stay where they are until the next call on the reader. A NUL
 * goes after them; the byte it covers is kept and put back by
 * cl__reader_begin.
 */
static const char *cl__reader_take(struct cl_reader *r, size_t n,
				   size_t *len)
{
	const char *line;

	*len = n;
	if (n == 0)
		return "";
	line = r->buf + r->head;
	r->nul = r->head + n;
	r->saved = r->buf[r->nul];
	r->buf[r->nul] = '\0';
	r->lent = 1;
	r->head += n;
	return line;
}

/*
 * readline found no newline within the limit. Drop the line as CPython
 * would with the bytes its transport had read by then: through its
 * newline if that has arrived (returns 1), else all that has arrived
 * (returns 0). "Arrived" is what the socket holds now: we read on
 * without waiting, a buffer at a time, discarding as we go, so memory
 * stays bounded however long the line.
 */
static int cl__reader_drop_line(struct cl_stream *s)
{
	struct cl_reader *r = &s->reader;
	size_t budget = 2 * r->limit + CL__LOOKAHEAD;
	ssize_t got;
	char *nl;

	for (;;) {
		nl = memchr(r->buf + r->head, '\n', r->tail - r->head);
		if (nl != NULL) {
			r->head = (size_t)(nl + 1 - r->buf);
			return 1;
		}
		r->head = r->tail = 0;
		if (r->eof || r->exc != NULL || budget == 0)
			return 0;
		got = cl__reader_sysread(s, r->buf, r->cap - 1);
		if (got <= 0)
			return 0; /* EOF, an error or EAGAIN: recorded */
		r->tail = (size_t)got;
		budget -= (size_t)got < budget ? (size_t)got : budget;
	}
}

/* TODO(ch04): readline: StreamReader.readline over readuntil(b"\n"). After
 * cl__reader_begin, loop: search buf[head..tail) for '\n' from
 * where the last search stopped (memchr). Found: hand out the
 * line, newline included, with cl__reader_take. Not found and
 * more than r->limit bytes searched: cl__reader_drop_line says
 * which ValueError to raise ("Separator is found, but chunk is
 * longer than limit" when it returns 1, "Separator is not found,
 * and chunk exceed the limit" when 0). At EOF (r->eof after a
 * search) hand out whatever is left, maybe nothing. Otherwise
 * cl__reader_fill and search again. A newline found beyond the
 * limit (the limit was lowered) is the first ValueError too.
 * readexactly: copy what the buffer holds (at most n), then
 * read the rest straight into buf with cl__reader_recv; 0 from
 * it is EOF: raise cl__incomplete_read(got so far, n). */
const char *cl_reader_readline(struct cl_reader *r, size_t *len)
{
	(void)r, (void)len, (void)cl__reader_fill, (void)cl__reader_take;
	(void)cl__reader_drop_line, (void)cl__stream_of_reader;
	cl_raise(cl_exc_new(&cl_NotImplementedError,
			    "readline: not implemented (TODO ch04)"));
}

void cl_reader_readexactly(struct cl_reader *r, void *buf, size_t n)
{
	(void)r, (void)buf, (void)n, (void)cl__incomplete_read;
	cl_raise(cl_exc_new(&cl_NotImplementedError,
			    "readexactly: not implemented (TODO ch04)"));
}

size_t cl_reader_read(struct cl_reader *r, void *buf, size_t n)
{
	size_t avail;

	cl__reader_begin(r);
	if (n == 0)
		return 0;
	avail = r->tail - r->head;
	if (avail == 0) /* straight from the socket: no copy */
		return cl__reader_recv(cl__stream_of_reader(r), buf, n, "read");
	if (avail > n)
		avail = n;
	memcpy(buf, r->buf + r->head, avail);
	r->head += avail;
	return avail;
}

/* read(-1): "just call self.read(self._limit) until EOF". */
char *cl_reader_read_all(struct cl_reader *r, size_t *len)
{
	char *volatile out = NULL;
	volatile size_t n = 0, cap = 0;
	size_t k;
	char *p;

	CL_TRY {
		for (;;) {
			if (cap - n < r->limit + 1) {
				cap = 2 * cap > n + r->limit + 1
					      ? 2 * cap
					      : n + r->limit + 1;
				p = realloc(out, cap);
				if (p == NULL)
					cl_raise(cl_exc_new(&cl_MemoryError,
							    NULL));
				out = p;
			}
			k = cl_reader_read(r, out + n, r->limit);
			if (k == 0)
				break;
			n += k;
		}
	} CL_CATCH(e) {
		free(out);
		cl_raise(e);
	} CL_END_TRY;
	out[n] = '\0';
	*len = n;
	return out;
}

int cl_reader_at_eof(const struct cl_reader *r)
{
	return r->eof && r->head == r->tail;
}

void cl_reader_set_limit(struct cl_reader *r, size_t limit)
{
	if (limit == 0)
		cl_raise(cl_exc_new(&cl_ValueError, "Limit cannot be <= 0"));
	r->limit = limit;
}

void cl_reader_free(struct cl_reader *r)
{
	struct cl_stream *s;

	if (r == NULL)
		return;
	s = cl__stream_of_reader(r);
	cl__stream_decref(s);
}

/* The writer: a buffer, a writable-callback, flow control. */

/* _maybe_pause_protocol: above the high-water mark, drain() will wait. */
static void cl__writer_maybe_pause(struct cl_writer *w)
{
	if (w->tail - w->head > w->high)
		w->paused = 1;
}

/* _maybe_resume_protocol and resume_writing: down to the low-water
 * mark, the tasks in drain() go on. */
static void cl__writer_maybe_resume(struct cl_writer *w)
{
	if (w->paused && w->tail - w->head <= w->low) {
		w->paused = 0;
		cl__wake_all(w->drainers, NULL);
	}
}

/*
 * Append n bytes to the buffer. The bytes kept move to the front only
 * when at least as many have been sent (so each byte moves O(1) times);
 * otherwise the buffer doubles. -ENOMEM, or 0.
 */
static int cl__writer_append(struct cl_writer *w, const char *p, size_t n)
{
	size_t used = w->tail - w->head, cap;
	char *buf;

	if (w->cap - w->tail < n) {
		if (w->head >= used && w->cap - used >= n) {
			memmove(w->buf, w->buf + w->head, used);
		} else {
			cap = 2 * w->cap > used + n ? 2 * w->cap : used + n;
			if (cap < CL__READ_CHUNK)
				cap = CL__READ_CHUNK;
			buf = malloc(cap);
			if (buf == NULL)
				return -ENOMEM;
			if (used > 0)
				memcpy(buf, w->buf + w->head, used);
			free(w->buf);
			w->buf = buf;
			w->cap = cap;
		}
		w->head = 0;
		w->tail = used;
	}
	memcpy(w->buf + w->tail, p, n);
	w->tail += n;
	return 0;
}

/*
 * _write_ready: the socket has room. Send what is buffered; if that
 * brings the buffer down to the low-water mark, wake drain(); once it
 * is empty, stop watching, and if close() was called, the connection
 * is over. Runs as a loop callback, not in a task: it cannot wait and
 * must not raise.
 */
static void cl__writer_ready(void *arg)
{
	struct cl_stream *s = arg;
	struct cl_writer *w = &s->writer;
	ssize_t sent;

	if (s->lost)
		return;
	sent = cl_io_write(s->fd, w->buf + w->head, w->tail - w->head);
	if (sent == -EAGAIN || sent == -EWOULDBLOCK || sent == -EINTR)
		return; /* not really ready: we are called again */
	if (sent < 0) {
		cl__stream_force_close(s, cl_os_error((int)sent, NULL));
		return;
	}
	w->head += (size_t)sent;
	cl__writer_maybe_resume(w);
	if (w->head == w->tail) {
		w->head = w->tail = 0;
		if (w->cap > CL_STREAM_HIGH_WATER) {
			/* A burst made it big: give it back, so that a
			 * quiet connection costs little memory. */
			free(w->buf);
			w->buf = NULL;
			w->cap = 0;
		}
		cl__writer_unwatch(s);
		if (s->closing)
			cl__stream_connection_lost(s); /* may free s */
	}
}

void cl_writer_write(struct cl_writer *w, const void *data, size_t n)
{
	struct cl_stream *s = cl__stream_of_writer(w);
	const char *p = data;
	ssize_t sent;
	int err;

	if (n == 0 || s->closing)
		return; /* asyncio drops it: drain() will tell */
	if (w->head == w->tail) {
		/* Nothing queued before us: try to send now, and skip the
		 * buffer for what the socket takes. */
		sent = cl_io_write(s->fd, p, n);
		if (sent >= 0) {
			p += sent;
			n -= (size_t)sent;
			if (n == 0)
				return;
		} else if (sent != -EAGAIN && sent != -EWOULDBLOCK &&
			   sent != -EINTR) {
			cl__stream_force_close(s, cl_os_error((int)sent, NULL));
			return;
		}
	}
	if (cl__writer_append(w, p, n) < 0)
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	if (!w->watching) {
		err = cl_loop_add_writer(s->loop, s->fd, cl__writer_ready, s);
		if (err < 0) {
			cl__stream_force_close(s, cl_os_error(err, NULL));
			return;
		}
		w->watching = 1;
	}
	cl__writer_maybe_pause(w);
}

void cl_writer_drain(struct cl_writer *w)
{
	struct cl_stream *s = cl__stream_of_writer(w);

	if (s->reader.exc != NULL)
		cl_raise(cl_exc_incref(s->reader.exc));
	if (s->closing) {
		/* Yield once so that a queued connection_lost runs: code
		 * that writes and drains in a loop must see the error. */
		cl_sleep(0);
	}
	if (s->lost_done)
		cl_raise(cl_exc_new(&cl_ConnectionResetError,
				    "Connection lost"));
	if (!w->paused)
		return;
	cl__wait_on(&w->drainers, CL_WHAT_FD_OUT, (unsigned long)s->fd);
}

void cl_writer_set_write_buffer_limits(struct cl_writer *w, size_t high,
				       size_t low)
{
	if (high == CL_WATER_DEFAULT)
		high = low == CL_WATER_DEFAULT ? CL_STREAM_HIGH_WATER : 4 * low;
	if (low == CL_WATER_DEFAULT)
		low = high / 4;
	if (high < low)
		cl_raise(cl_exc_new(&cl_ValueError,
				    "high (%zu) must be >= low (%zu) must be "
				    ">= 0", high, low));
	w->high = high;
	w->low = low;
	cl__writer_maybe_pause(w);
}

size_t cl_writer_get_write_buffer_size(const struct cl_writer *w)
{
	return w->tail - w->head;
}

void cl_writer_close(struct cl_writer *w)
{
	struct cl_stream *s = cl__stream_of_writer(w);

	if (s->closing)
		return;
	s->closing = 1;
	/* With data still buffered, _write_ready ends the connection
	 * once it is sent. */
	if (w->head == w->tail)
		cl__stream_schedule_lost(s, NULL);
}

int cl_writer_is_closing(const struct cl_writer *w)
{
	const struct cl_stream *s = (const struct cl_stream *)(
		(const char *)w - offsetof(struct cl_stream, writer));

	return s->closing;
}

void cl_writer_wait_closed(struct cl_writer *w)
{
	struct cl_stream *s = cl__stream_of_writer(w);

	if (!s->lost_done)
		cl__wait_on(&s->closers, CL_WHAT_FUTURE, 0);
	else if (s->lost_exc != NULL)
		cl_raise(cl_exc_incref(s->lost_exc));
}

int cl_writer_fileno(const struct cl_writer *w)
{
	const struct cl_stream *s = (const struct cl_stream *)(
		(const char *)w - offsetof(struct cl_stream, writer));

	return s->fd;
}

void cl_writer_free(struct cl_writer *w)
{
	struct cl_stream *s;

	if (w == NULL)
		return;
	s = cl__stream_of_writer(w);
	if (!s->closing) {
		/* transport.abort(): drop what is buffered, end it now. */
		w->head = w->tail = 0;
		cl__stream_connection_lost(s);
	}
	cl__stream_decref(s);
}

/* Opening a connection. */

void cl_open_connection_fd(int fd, struct cl_reader **r,
			   struct cl_writer **w)
{
	struct cl_stream *s = cl__stream_open(fd);

	if (s == NULL) {
		int err = errno;

		close(fd);
		if (err == ESRCH)
			cl_raise(cl_exc_new(&cl_RuntimeError,
					    "no running event loop"));
		cl_raise(cl_os_error(err, NULL));
	}
	*r = &s->reader;
	*w = &s->writer;
}

void cl__addr_str(const struct sockaddr *sa, char *buf, size_t size,
		  int tuple)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		port = ntohs(in6->sin6_port);
	}
	if (!tuple)
		snprintf(buf, size, "%s:%d", host, port);
	else if (sa->sa_family == AF_INET6)
		snprintf(buf, size, "('%s', %d, 0, 0)", host, port);
	else
		snprintf(buf, size, "('%s', %d)", host, port);
}

/*
 * A new socket connected to ai: its fd, or -errno. It is closed on
 * failure, and when the task is cancelled while connecting.
 */
static int cl__connect_one(const struct addrinfo *ai)
{
	volatile int err = 0;
	volatile int fd;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
			   SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	CL_TRY {
		err = cl_sock_connect(fd, ai->ai_addr, ai->ai_addrlen);
	} CL_CATCH(e) {
		close(fd);
		cl_raise(e);
	} CL_END_TRY;
	if (err < 0) {
		close(fd);
		return err;
	}
	return fd;
}

/* At most this many addresses of a name are tried. */
#define CL__MAX_ADDRS 8

/*
 * create_connection's error when every address failed: the one error
 * if they all read the same, else OSError "Multiple exceptions: ...".
 * Takes over the n (>= 1) references in errs.
 */
static struct cl_exc *cl__connect_error(struct cl_exc *const *errs,
					size_t n)
{
	char msg[1024] = "Multiple exceptions: ";
	size_t i, len = strlen(msg);
	struct cl_exc *e;

	for (i = 1; i < n; i++)
		if (strcmp(cl_exc_message(errs[i]),
			   cl_exc_message(errs[0])) != 0)
			break;
	if (i == n) {
		for (i = 1; i < n; i++)
			cl_exc_decref(errs[i]);
		return errs[0];
	}
	for (i = 0; i < n; i++) {
		len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s",
					i ? ", " : "", cl_exc_message(errs[i]));
		if (len >= sizeof msg)
			len = sizeof msg - 1;
		cl_exc_decref(errs[i]);
	}
	e = cl_exc_new(&cl_OSError, "%s", msg);
	return e;
}

void cl_open_connection(const char *host, int port, struct cl_reader **r,
			struct cl_writer **w)
{
	struct addrinfo hints = { 0 }, *res;
	struct cl_exc *volatile errs[CL__MAX_ADDRS];
	volatile size_t nerr = 0;
	volatile int fd = -1;
	const struct addrinfo *ai;
	char service[16], what[128], where[96];
	int err;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof service, "%d", port);
	err = getaddrinfo(host, service, &hints, &res);
	if (err != 0) /* socket.gaierror */
		cl_raise(cl_exc_new(&cl_OSError, "[Errno %d] %s", err,
				    gai_strerror(err)));
	CL_TRY {
		for (ai = res; ai != NULL && fd < 0 && nerr < CL__MAX_ADDRS;
		     ai = ai->ai_next) {
			err = cl__connect_one(ai);
			if (err >= 0) {
				fd = err;
				break;
			}
			cl__addr_str(ai->ai_addr, where, sizeof where, 1);
			snprintf(what, sizeof what, "Connect call failed %s",
				 where);
			errs[nerr++] = cl_os_error(err, what);
		}
	} CL_CATCH(e) {
		freeaddrinfo(res);
		for (size_t i = 0; i < nerr; i++)
			cl_exc_decref(errs[i]);
		cl_raise(e);
	} CL_END_TRY;
	freeaddrinfo(res);
	if (fd < 0 && nerr == 0)
		cl_raise(cl_exc_new(&cl_OSError, "no address for %s", host));
	if (fd < 0)
		cl_raise(cl__connect_error((struct cl_exc *const *)errs, nerr));
	for (size_t i = 0; i < nerr; i++)
		cl_exc_decref(errs[i]);
	cl_open_connection_fd(fd, r, w);
}
