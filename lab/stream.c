/*
 * stream.c - streams: a reader and a writer on a transport.
 *
 * Three parts, in the order a connection lives them:
 *
 *	the protocol	StreamReaderProtocol: the transport (transport.c)
 *			calls it with the bytes it read, which it keeps
 *			in the reader's buffer, and with the end of the
 *			connection, which it passes on to whoever waits;
 *	the reader	takes bytes out of that buffer and waits for more
 *			when there are not enough; readline and
 *			readexactly are the lab;
 *	the writer	the transport's write, and drain(), which waits
 *			while the transport's buffer is too full.
 *
 * asyncio makes the stream three objects tied together by the garbage
 * collector (StreamReader, StreamWriter, StreamReaderProtocol); here
 * they are one allocation, struct cl_stream, with a reference count.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lines.h"
#include "stream.h"
#include "task.h"

const struct cl_exc_type cl_EOFError = { "EOFError", &cl_Exception };
const struct cl_exc_type cl_IncompleteReadError = { "IncompleteReadError",
						    &cl_EOFError };

/* The reader's buffer starts this big and doubles up to limit + 2. */
#define CL__READ_CHUNK 4096

/*
 * How far readline looks ahead for the newline of a line that went over
 * the limit, beyond 2 * limit: CPython's reader holds at most about that
 * much (it pauses reading above 2 * limit, and reads 256 KiB at a time).
 */
#define CL__LOOKAHEAD (256 * 1024)

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

/* The stream and its protocol. */

static struct cl_stream *cl__stream_of_reader(struct cl_reader *r)
{
	return (struct cl_stream *)((char *)r -
				    offsetof(struct cl_stream, reader));
}

static struct cl_stream *cl__stream_of_writer(const struct cl_writer *w)
{
	return (struct cl_stream *)((char *)w -
				    offsetof(struct cl_stream, writer));
}

struct cl_reader *cl__stream_reader(struct cl_stream *s)
{
	return &s->reader;
}

struct cl_writer *cl__stream_writer(struct cl_stream *s)
{
	return &s->writer;
}

struct cl_transport *cl__stream_transport(struct cl_stream *s)
{
	return s->t;
}

static void cl__stream_decref(struct cl_stream *s)
{
	if (--s->refcnt > 0)
		return;
	cl_transport_decref(s->t);
	cl_future_decref(s->reader.waiter);
	cl_exc_decref(s->reader.exc);
	cl_exc_decref(s->lost_exc);
	free(s->reader.buf);
	free(s);
}

/* Wake the read waiting for data, if one still waits
 * (StreamReader._wakeup_waiter). */
static void cl__reader_wake(struct cl_reader *r)
{
	if (r->waiter != NULL && !cl_future_done(r->waiter))
		cl_future_set_result(r->waiter, NULL);
}

/* The buffer is full: stop the transport reading until a read makes
 * room (the pause half of StreamReader._maybe_resume_transport). */
static void cl__reader_pause(struct cl_stream *s)
{
	if (!s->reader.paused) {
		s->reader.paused = 1;
		cl_transport_pause_reading(s->t);
	}
}

static void cl__reader_resume(struct cl_stream *s)
{
	if (s->reader.paused) {
		s->reader.paused = 0;
		cl_transport_resume_reading(s->t);
	}
}

static void cl__stream_made(struct cl_protocol *p, struct cl_transport *t)
{
	struct cl_stream *s = (struct cl_stream *)p;

	if (s->t == NULL)
		s->t = cl_transport_incref(t);
	if (s->connected != NULL)
		s->connected(s->connected_arg, s);
}

/*
 * get_buffer: where the transport may read to, the free end of the
 * reader's buffer. Room is made by moving the unread bytes to the front,
 * or by doubling the buffer up to limit + 2 bytes, but neither while a
 * line handed out by readline still points into it (r->lent); then, and
 * when the buffer is as full as it may be, the transport's reading is
 * paused and nothing is read (*len 0) until a read makes room. The
 * buffer also doubles when the last read filled all the room it had: a
 * peer that sends in bulk gets bigger reads, and fewer of them.
 */
static void *cl__stream_get_buffer(struct cl_protocol *p, long sizehint,
				   size_t *len)
{
	struct cl_stream *s = (struct cl_stream *)p;
	struct cl_reader *r = &s->reader;
	size_t used = r->tail - r->head, max = r->limit + 2, cap;
	char *buf;

	(void)sizehint;
	if (r->lent && r->nul == r->tail)
		goto full; /* reading would overwrite the line's NUL */
	if (r->grow && !r->lent && r->cap < max) {
		r->grow = 0;
		goto grow;
	}
	if (r->tail + 1 < r->cap)
		goto room;
	if (!r->lent && r->head > 0) {
		memmove(r->buf, r->buf + r->head, used);
		r->head = 0;
		r->tail = used;
		if (r->tail + 1 < r->cap)
			goto room;
	}
	if (r->lent || r->cap >= max)
		goto full;
grow:
	cap = r->cap ? 2 * r->cap : CL__READ_CHUNK;
	if (cap > max)
		cap = max;
	buf = realloc(r->buf, cap);
	if (buf == NULL)
		goto full;
	r->buf = buf;
	r->cap = cap;
room:
	*len = r->cap - 1 - r->tail;
	return r->buf + r->tail;
full:
	cl__reader_pause(s);
	*len = 0;
	return NULL;
}

/* buffer_updated: n bytes came (StreamReader.feed_data). */
static void cl__stream_buffer_updated(struct cl_protocol *p, size_t n)
{
	struct cl_stream *s = (struct cl_stream *)p;

	s->reader.tail += n;
	if (s->reader.tail + 1 == s->reader.cap)
		s->reader.grow = 1;
	cl__reader_wake(&s->reader);
}

/* eof_received: feed_eof, and keep the connection open for writing
 * (StreamReaderProtocol.eof_received returns True). */
static int cl__stream_eof_received(struct cl_protocol *p)
{
	struct cl_stream *s = (struct cl_stream *)p;

	s->reader.eof = 1;
	cl__reader_wake(&s->reader);
	return 1;
}

static void cl__stream_pause_writing(struct cl_protocol *p)
{
	((struct cl_stream *)p)->writer.paused = 1;
}

/* resume_writing: the tasks in drain() go on. */
static void cl__stream_resume_writing(struct cl_protocol *p)
{
	struct cl_stream *s = (struct cl_stream *)p;

	s->writer.paused = 0;
	cl__wake_all(s->writer.drainers, NULL);
}

/*
 * connection_lost, StreamReaderProtocol's and FlowControlMixin's. Runs
 * once, after the transport has closed the socket. The steps:
 *	1. the reader sees EOF, or the error the connection died of, and a
 *	   read waiting for data wakes up to see it;
 *	2. tasks in wait_closed wake up (with the error raised in them);
 *	3. tasks in drain wake up too, if the writer was paused;
 *	4. drop the reference the open connection held on the stream.
 * The stream may be freed by step 4.
 */
static void cl__stream_lost(struct cl_protocol *p, struct cl_exc *exc)
{
	struct cl_stream *s = (struct cl_stream *)p;

	s->lost = 1;
	s->lost_exc = exc != NULL ? cl_exc_incref(exc) : NULL;
	if (exc != NULL && s->reader.exc == NULL)
		s->reader.exc = cl_exc_incref(exc);
	s->reader.eof = 1;
	cl__reader_wake(&s->reader);
	cl__wake_all(s->closers, exc);
	if (s->writer.paused)
		cl__wake_all(s->writer.drainers, exc);
	cl__stream_decref(s);
}

static const struct cl_protocol_ops cl__stream_ops = {
	.connection_made = cl__stream_made,
	.eof_received = cl__stream_eof_received,
	.connection_lost = cl__stream_lost,
	.pause_writing = cl__stream_pause_writing,
	.resume_writing = cl__stream_resume_writing,
	.get_buffer = cl__stream_get_buffer,
	.buffer_updated = cl__stream_buffer_updated,
};

/*
 * A stream on the running loop, not connected yet, or NULL with errno
 * set. Three references: the reader's, the writer's, and the open
 * connection's, dropped by connection_lost.
 */
static struct cl_stream *cl__stream_new(void)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_stream *s;

	if (loop == NULL) {
		errno = ESRCH;
		return NULL;
	}
	s = cl__lines_alloc(sizeof *s);
	if (s == NULL)
		return NULL;
	s->proto.ops = &cl__stream_ops;
	s->refcnt = 3;
	s->loop = loop;
	s->reader.limit = CL_STREAM_LIMIT;
	return s;
}

struct cl_protocol *cl__stream_protocol_new(void (*connected)(void *arg,
							       struct cl_stream *s),
					    void *arg)
{
	struct cl_stream *s = cl__stream_new();

	if (s == NULL)
		return NULL;
	s->connected = connected;
	s->connected_arg = arg;
	return &s->proto;
}

/* The reader: waiting for data, and the reads. */

/*
 * Every read call begins here: the line the previous readline lent
 * gets its byte back, reading goes on if the buffer was full and has
 * room now (_maybe_resume_transport), and the connection's error, if it
 * has one, is raised (each StreamReader read starts with "if
 * self._exception is not None: raise self._exception").
 */
static void cl__reader_begin(struct cl_reader *r)
{
	if (r->lent) {
		r->buf[r->nul] = r->saved;
		r->lent = 0;
	}
	if (r->paused && r->tail - r->head <= r->limit)
		cl__reader_resume(cl__stream_of_reader(r));
	if (r->exc != NULL)
		cl_raise(cl_exc_incref(r->exc));
}

/*
 * _wait_for_data: suspend the calling task until the transport has
 * brought bytes, or the connection has ended. Only one read may wait at
 * a time: with two, which one gets the next bytes would be down to
 * chance, so the second is refused as StreamReader refuses it. Waiting
 * while reading is paused would wait forever: reading goes on first.
 *
 * The future the read awaits is r->waiter. StreamReader clears _waiter
 * in a finally clause; a CL_TRY here would cost a sigsetjmp per wait,
 * so a wait that leaves by an exception (cancelled) leaves its future
 * behind instead, done, and the next wait, or the stream's end, drops
 * it. A done waiter is as good as none: nothing wakes it again.
 */
static void cl__reader_wait(struct cl_stream *s, const char *what)
{
	struct cl_reader *r = &s->reader;
	struct cl_future *f;

	if (r->waiter != NULL) {
		if (!cl_future_done(r->waiter))
			cl_raise(cl_exc_new(&cl_RuntimeError,
					    "%s() called while another "
					    "coroutine is already waiting for "
					    "incoming data", what));
		cl_future_decref(r->waiter);
		r->waiter = NULL;
	}
	cl__reader_resume(s);
	f = cl_future_new(s->loop);
	if (f == NULL)
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	f->what = CL_WHAT_FD_IN;
	f->what_id = (unsigned long)cl_transport_get_fd(s->t);
	r->waiter = f;
	cl_await(f);
	r->waiter = NULL;
	cl_future_decref(f);
}

/*
 * Copy at most n (> 0) buffered bytes to dst, waiting for some if none
 * are buffered: how many, 0 at EOF. The connection's error, if it ends
 * with one, is raised.
 */
static size_t cl__reader_take_some(struct cl_stream *s, void *dst, size_t n,
				   const char *what)
{
	struct cl_reader *r = &s->reader;
	size_t avail;

	while (r->head == r->tail) {
		if (r->exc != NULL)
			cl_raise(cl_exc_incref(r->exc));
		if (r->eof)
			return 0;
		cl__reader_wait(s, what);
	}
	avail = r->tail - r->head;
	if (avail > n)
		avail = n;
	memcpy(dst, r->buf + r->head, avail);
	r->head += avail;
	if (r->head == r->tail)
		r->head = r->tail = 0;
	return avail;
}

/*
 * Wait for more bytes after those buffered (readline's next piece): a
 * raise if the connection ended with an error, else nothing; r->eof
 * says if the end has come.
 */
static void cl__reader_fill(struct cl_stream *s)
{
	struct cl_reader *r = &s->reader;

	if (r->exc != NULL)
		cl_raise(cl_exc_incref(r->exc));
	if (!r->eof)
		cl__reader_wait(s, "readline");
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
 * without waiting (cl__transport_read_now), discarding as we go, so
 * memory stays bounded however long the line.
 */
static int cl__reader_drop_line(struct cl_stream *s)
{
	struct cl_reader *r = &s->reader;
	size_t budget = 2 * r->limit + CL__LOOKAHEAD;
	long got;
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
		cl__reader_resume(s);
		got = cl__transport_read_now(s->t);
		if (got <= 0)
			return 0; /* EOF, an error or nothing yet */
		budget -= (size_t)got < budget ? (size_t)got : budget;
	}
}

/* TODO(ch04): readline hands out the next line, newline included (at EOF
 * what is left, maybe nothing), raising ValueError past the limit;
 * readexactly fills buf with n bytes or raises IncompleteReadError.
 * Mirrors Lib/asyncio/streams.py StreamReader.readline over
 * readuntil(b"\n"), and readexactly; read sections 12 and 13.
 * Hints: make hint CH=4 TODO=readline (3 levels). */
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
	cl__reader_begin(r);
	if (n == 0)
		return 0;
	return cl__reader_take_some(cl__stream_of_reader(r), buf, n, "read");
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
	if (r != NULL)
		cl__stream_decref(cl__stream_of_reader(r));
}

/* The writer. */

void cl_writer_write(struct cl_writer *w, const void *data, size_t n)
{
	cl_transport_write(cl__stream_of_writer(w)->t, data, n);
}

void cl_writer_drain(struct cl_writer *w)
{
	struct cl_stream *s = cl__stream_of_writer(w);

	if (s->reader.exc != NULL)
		cl_raise(cl_exc_incref(s->reader.exc));
	if (cl_transport_is_closing(s->t)) {
		/* Yield once so that a queued connection_lost runs: code
		 * that writes and drains in a loop must see the error. */
		cl_sleep(0);
	}
	if (s->lost)
		cl_raise(cl_exc_new(&cl_ConnectionResetError,
				    "Connection lost"));
	if (!w->paused)
		return;
	cl__wait_on(&w->drainers, CL_WHAT_FD_OUT,
		    (unsigned long)cl_transport_get_fd(s->t));
}

void cl_writer_set_write_buffer_limits(struct cl_writer *w, size_t high,
				       size_t low)
{
	cl_transport_set_write_buffer_limits(cl__stream_of_writer(w)->t, high,
					     low);
}

size_t cl_writer_get_write_buffer_size(const struct cl_writer *w)
{
	return cl_transport_get_write_buffer_size(cl__stream_of_writer(w)->t);
}

struct cl_transport *cl_writer_transport(const struct cl_writer *w)
{
	return cl__stream_of_writer(w)->t;
}

void cl_writer_close(struct cl_writer *w)
{
	cl_transport_close(cl__stream_of_writer(w)->t);
}

int cl_writer_is_closing(const struct cl_writer *w)
{
	return cl_transport_is_closing(cl__stream_of_writer(w)->t);
}

void cl_writer_wait_closed(struct cl_writer *w)
{
	struct cl_stream *s = cl__stream_of_writer(w);

	if (!s->lost)
		cl__wait_on(&s->closers, CL_WHAT_FUTURE, 0);
	else if (s->lost_exc != NULL)
		cl_raise(cl_exc_incref(s->lost_exc));
}

int cl_writer_fileno(const struct cl_writer *w)
{
	return cl_transport_get_fd(cl__stream_of_writer(w)->t);
}

void cl_writer_free(struct cl_writer *w)
{
	struct cl_stream *s;

	if (w == NULL)
		return;
	s = cl__stream_of_writer(w);
	/* Not closed: transport.abort(), and the end now. */
	if (!cl_transport_is_closing(s->t))
		cl__transport_abort_now(s->t);
	cl__stream_decref(s);
}

/* Opening a connection. */

void cl_open_connection_fd(int fd, struct cl_reader **r,
			   struct cl_writer **w)
{
	struct cl_stream *s = cl__stream_new();
	int err;

	if (s != NULL) {
		s->t = cl__transport_open(s->loop, fd, &s->proto, NULL, NULL);
		if (s->t == NULL) {
			err = errno;
			free(s);
			s = NULL;
			errno = err;
		}
	}
	if (s == NULL) {
		err = errno;
		close(fd);
		if (err == ESRCH)
			cl_raise(cl_exc_new(&cl_RuntimeError,
					    "no running event loop"));
		cl_raise(cl_os_error(err, NULL));
	}
	cl_transport_incref(s->t);
	*r = &s->reader;
	*w = &s->writer;
}

void cl_open_connection(const char *host, int port, struct cl_reader **r,
			struct cl_writer **w)
{
	cl_open_connection_fd(cl__connect(host, port), r, w);
}
