/*
 * transport.c - the socket transport: one connection, callbacks only.
 *
 * A transport is the one owner of a connected socket. It reads when the
 * loop says the socket is readable and hands the bytes to its protocol;
 * it sends what it is given and keeps what the socket will not take
 * yet; it closes the socket once, in connection_lost. Nothing here runs
 * in a task and nothing waits: every entry point is a loop callback or
 * a call that returns at once.
 *
 * The parts, in the order a connection lives them:
 *
 *	opening		cl__transport_open: connection_made and the
 *			first reads come at the next iteration;
 *	reading		cl__transport_read_ready, once per readiness:
 *			one read, then data_received (or get_buffer and
 *			buffer_updated), or eof_received;
 *	writing		cl_transport_write and cl__transport_write_ready,
 *			with the water marks: the lab;
 *	closing		close (flush first), abort and fatal errors
 *			(drop the buffer), and connection_lost, which
 *			runs once and closes the socket.
 *
 * Errors of the socket, and the errors of the connection a client
 * opens, are OSError subclasses picked by errno as CPython picks them:
 * they are defined here.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdwatch.h"
#include "future.h"
#include "handler.h"
#include "io.h"
#include "lines.h"
#include "server.h"
#include "sock.h"
#include "task.h"
#include "transport.h"

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

/* The most one read takes: selector_events' max_size. */
#define CL__MAX_READ (256 * 1024)

/* A write buffer that a burst made bigger than this is given back once
 * it is empty, so that a quiet connection costs little memory. */
#define CL__KEEP_WBUF (64 * 1024)

/*
 * What data_received is handed: one buffer per thread, read into and
 * handed out at once (libuv asks its user for one per read; asyncio
 * makes a bytes object of each read).
 */
static _Thread_local char cl__rbuf[CL__MAX_READ];

/*
 * A file segment queued by cl_transport_sendfile. In the write buffer,
 * one placeholder byte stands for it, where its bytes go in the stream:
 * the buffer is never empty while a file is queued, so that a write()
 * queues behind it, and the writable-callback is cl__transport_file_ready
 * (not the write path's) until the last file is sent.
 */
struct cl__tfile {
	struct cl__tfile *next; /* the next segment, in stream order */
	int fd;			/* our dup() of the caller's file */
	int copy;		/* sendfile(2) refused it: pread and write */
	off_t off;		/* where the bytes not sent yet start */
	size_t left;		/* how many are not sent yet */
	size_t before;		/* buffered bytes ahead of its placeholder
				   (after the previous segment's) */
};

struct cl_transport {
	/* What every message touches, reading or writing: the first
	 * cache line (cl__lines_alloc starts it on one). */
	int refcnt;		/* the open connection's, a queued
				   callback's, and its users' */
	int fd;			/* -1 once closed */
	struct cl_protocol *protocol;
	struct cl_loop *loop;
	const char *calling;	/* the protocol callback running, for the
				   fatal error's message */
	unsigned char closing;	/* close(), abort() or a fatal error
				   (_closing) */
	unsigned char lost;	/* connection_lost is queued or done
				   (_conn_lost) */
	unsigned char lost_done; /* connection_lost ran: fd closed */
	unsigned char made;	/* connection_made ran */
	unsigned char paused;	/* pause_reading() (_paused) */
	unsigned char reading;	/* the readable-callback is in place */
	unsigned char writing;	/* the writable-callback is in place */
	unsigned char eof;	/* write_eof() (_eof) */
	unsigned char protocol_paused; /* pause_writing() was called and
					  resume_writing() not yet */
	size_t head, tail;	/* the write buffer's bytes not sent yet
				   are buf[head..tail) */

	/* What buffering touches: the second line. */
	char *buf;
	size_t cap;
	size_t high, low;	/* the water marks */

	struct cl_exc *lost_exc;   /* what connection_lost gets */
	struct cl_future *done;	   /* set when connection_made has run */
	struct cl__conn *conn;	   /* our place in a server, or NULL */
	char *peername, *sockname; /* get_extra_info's answers, made once */
	struct cl_transport *lprev, *lnext; /* on loop->transports while its
					       fd is open (chapter 09) */
	struct cl__tfile *files;   /* sendfile's segments, oldest first */
};

static void cl__transport_read_ready(void *arg);

/* Close and free the file segments sendfile queued (the connection is
 * over, or its buffer was dropped). */
static void cl__transport_drop_files(struct cl_transport *t)
{
	struct cl__tfile *f;

	while ((f = t->files) != NULL) {
		t->files = f->next;
		close(f->fd);
		free(f);
	}
}

/* On and off loop->transports: the open ones (chapter 09). */
static void cl__transport_list(struct cl_transport *t)
{
	struct cl_loop *loop = t->loop;

	t->lprev = NULL;
	t->lnext = loop->transports;
	if (t->lnext != NULL)
		t->lnext->lprev = t;
	loop->transports = t;
	loop->ntransports++;
}

static void cl__transport_unlist(struct cl_transport *t)
{
	if (t->lprev != NULL)
		t->lprev->lnext = t->lnext;
	else
		t->loop->transports = t->lnext;
	if (t->lnext != NULL)
		t->lnext->lprev = t->lprev;
	t->loop->ntransports--;
}

void cl__transport_warn_unclosed(struct cl_loop *loop, FILE *err)
{
	for (struct cl_transport *t = loop->transports; t; t = t->lnext)
		fprintf(err, "corolab: ResourceWarning: unclosed transport "
			     "fd=%d%s%s\n",
			t->fd, t->peername ? " peer=" : "",
			t->peername ? t->peername : "");
}

struct cl_transport *cl_transport_incref(struct cl_transport *t)
{
	t->refcnt++;
	return t;
}

void cl_transport_decref(struct cl_transport *t)
{
	if (t == NULL || --t->refcnt > 0)
		return;
	if (t->fd >= 0) {
		cl__transport_unlist(t);
		close(t->fd); /* not reached: connection_lost closed it */
	}
	cl_exc_decref(t->lost_exc);
	cl_future_decref(t->done);
	cl__transport_drop_files(t);
	free(t->buf);
	free(t->peername);
	free(t->sockname);
	free(t);
}

static void cl__transport_unwatch_reader(struct cl_transport *t)
{
	if (t->reading) {
		t->reading = 0;
		cl_loop_remove_reader(t->loop, t->fd);
	}
}

static void cl__transport_unwatch_writer(struct cl_transport *t)
{
	if (t->writing) {
		t->writing = 0;
		cl_loop_remove_writer(t->loop, t->fd);
	}
}

/* Print "corolab: what: Type: message" on the loop's error stream, as
 * the loop's default exception handler logs an error's context. */
static void cl__transport_report(struct cl_transport *t, const char *what,
				 struct cl_exc *e)
{
	struct cl_exc_context c = {
		.message = what,
		.exception = e,
		.protocol = t->protocol,
		.transport = t,
	};

	cl_loop_call_exception_handler(t->loop, &c);
}

/* Closing. */

/*
 * _call_connection_lost: the end of the connection, once. Stop
 * watching, tell the protocol (it may free itself), then close the
 * socket and leave the server, as CPython's finally clause does. Last,
 * drop the open connection's reference. An exception escaping
 * connection_lost is reported, not raised: the transport has finished
 * by then.
 */
static void cl__transport_call_lost(struct cl_transport *t)
{
	struct cl_protocol *p = t->protocol;
	struct cl_exc *exc = t->lost_exc;

	if (t->lost_done)
		return;
	t->lost_done = t->lost = t->closing = 1;
	cl__transport_unwatch_reader(t);
	cl__transport_unwatch_writer(t);
	if (p->ops->connection_lost != NULL) {
		CL_TRY {
			p->ops->connection_lost(p, exc);
		} CL_CATCH(e) {
			cl__transport_report(t, "exception in connection_lost",
					     e);
			cl_exc_decref(e);
		} CL_END_TRY;
	}
	cl__transport_unlist(t);
	close(t->fd);
	t->fd = -1;
	cl__transport_drop_files(t);
	if (t->conn != NULL) {
		cl__server_detach(t->conn);
		t->conn = NULL;
	}
	cl_transport_decref(t);
}

static void cl__transport_lost_cb(void *arg)
{
	struct cl_transport *t = arg;

	cl__transport_call_lost(t);
	cl_transport_decref(t); /* the callback's */
}

/* Queue connection_lost for the next iteration (exc taken over; NULL:
 * a clean end), as the transport does with call_soon. */
static void cl__transport_schedule_lost(struct cl_transport *t,
					struct cl_exc *exc)
{
	t->lost = 1;
	t->lost_exc = exc;
	t->refcnt++;
	if (cl_loop_call_soon(t->loop, cl__transport_lost_cb, t) == NULL) {
		t->refcnt--;
		cl__transport_call_lost(t); /* out of memory: now */
	}
}

/*
 * _force_close(exc): end the connection now, whatever is buffered (exc
 * taken over; NULL for abort()).
 */
static void cl__transport_force_close(struct cl_transport *t,
				      struct cl_exc *exc)
{
	if (t->lost) {
		cl_exc_decref(exc);
		return;
	}
	t->head = t->tail = 0;
	cl__transport_drop_files(t);
	cl__transport_unwatch_writer(t);
	t->closing = 1;
	cl__transport_unwatch_reader(t);
	cl__transport_schedule_lost(t, exc);
}

/*
 * _fatal_error(exc, message): a read, a write or a protocol callback
 * failed for good. OSErrors (a reset, a broken pipe) are the peer's
 * doing and go unreported; anything else is a bug worth printing.
 */
static void cl__transport_fatal(struct cl_transport *t, struct cl_exc *exc,
				const char *message)
{
	if (!cl_exc_matches(exc, &cl_OSError))
		cl__transport_report(t, message, exc);
	cl__transport_force_close(t, exc);
}

/* A protocol's read-side callback raised, out of the loop's callback
 * (cl__loop_on_raise): the transport's fatal error. */
static void cl__transport_raised(void *arg, struct cl_exc *e)
{
	struct cl_transport *t = arg;
	char msg[96];

	snprintf(msg, sizeof msg, "Fatal error: protocol.%s() call failed.",
		 t->calling ? t->calling : "?");
	t->calling = NULL;
	cl__transport_fatal(t, e, msg);
}

void cl_transport_close(struct cl_transport *t)
{
	if (t->closing)
		return;
	t->closing = 1;
	cl__transport_unwatch_reader(t);
	if (t->head == t->tail) {
		cl__transport_unwatch_writer(t);
		cl__transport_schedule_lost(t, NULL);
	}
	/* Else cl__transport_write_ready ends it once the buffer is sent. */
}

void cl_transport_abort(struct cl_transport *t)
{
	cl__transport_force_close(t, NULL);
}

void cl__transport_abort_now(struct cl_transport *t)
{
	cl__transport_force_close(t, NULL);
	cl__transport_call_lost(t);
}

int cl_transport_is_closing(const struct cl_transport *t)
{
	return t->closing;
}

/* Opening. */

/* Protocol callbacks that may raise at connection_made time are
 * reported as the loop reports a callback's exception. */
static void cl__transport_call_made(struct cl_transport *t)
{
	struct cl_protocol *p = t->protocol;

	if (p->ops->connection_made == NULL)
		return;
	CL_TRY {
		p->ops->connection_made(p, t);
	} CL_CATCH(e) {
		cl__transport_report(t, "exception in connection_made", e);
		cl_exc_decref(e);
	} CL_END_TRY;
}

/*
 * The three callbacks the transport's constructor queues, in one:
 * protocol.connection_made(self); _add_reader, unless reading was
 * paused or the transport closed meanwhile; and the waiter's result.
 */
static void cl__transport_made_cb(void *arg)
{
	struct cl_transport *t = arg;
	int err;

	if (!t->lost_done) {
		t->made = 1;
		cl__transport_call_made(t);
	}
	if (!t->closing && !t->paused && !t->reading) {
		err = cl_loop_add_reader(t->loop, t->fd,
					 cl__transport_read_ready, t);
		if (err < 0)
			cl__transport_fatal(t, cl_os_error(err, NULL),
					    "Fatal error: cannot watch the "
					    "socket");
		else
			t->reading = 1;
	}
	if (t->done != NULL && !cl_future_done(t->done))
		cl_future_set_result(t->done, NULL);
	cl_transport_decref(t); /* the callback's */
}

struct cl_transport *cl__transport_open(struct cl_loop *loop, int fd,
					struct cl_protocol *p,
					struct cl_server *srv,
					struct cl_future *done)
{
	static int hooked;
	struct cl_transport *t;
	int one = 1, err;

	if (!hooked) {
		cl__loop_on_raise(cl__transport_read_ready,
				  cl__transport_raised);
		hooked = 1;
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
	t = cl__lines_alloc(sizeof *t);
	if (t == NULL)
		return NULL;
	t->refcnt = 2; /* the open connection's and cl__transport_made_cb's */
	t->fd = fd;
	t->loop = loop;
	t->protocol = p;
	t->high = CL_TRANSPORT_HIGH_WATER;
	t->low = CL_TRANSPORT_LOW_WATER;
	if (srv != NULL && (t->conn = cl__server_attach(srv, t)) == NULL) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	if (cl_loop_call_soon(loop, cl__transport_made_cb, t) == NULL) {
		if (t->conn != NULL)
			cl__server_detach(t->conn);
		free(t);
		return NULL;
	}
	t->done = done != NULL ? cl_future_incref(done) : NULL;
	cl__transport_list(t);
	return t;
}

/* Reading. */

/*
 * _read_ready__on_eof: the peer will send no more. eof_received says
 * whether to keep the connection open for writing; reading stops
 * either way.
 */
static void cl__transport_on_eof(struct cl_transport *t)
{
	struct cl_protocol *p = t->protocol;
	int keep_open = 0;

	if (p->ops->eof_received != NULL) {
		t->calling = "eof_received";
		keep_open = p->ops->eof_received(p);
		t->calling = NULL;
	}
	if (keep_open)
		cl__transport_unwatch_reader(t);
	else
		cl_transport_close(t);
}

/*
 * One read, and what it brought to the protocol: _read_ready, both
 * flavours (__get_buffer and __data_received). Returns the bytes read,
 * -EAGAIN if there were none, 0 at EOF or after an error. t->calling
 * names the protocol callback running, for cl__transport_raised.
 */
long cl__transport_read_now(struct cl_transport *t)
{
	struct cl_protocol *p = t->protocol;
	size_t len = sizeof cl__rbuf;
	char *buf = cl__rbuf;
	ssize_t got;

	if (t->lost)
		return 0;
	if (p->ops->get_buffer != NULL) {
		t->calling = "get_buffer";
		buf = p->ops->get_buffer(p, -1, &len);
		t->calling = NULL;
		if (len == 0) {
			if (t->paused)
				return -EAGAIN; /* the protocol is full */
			cl__transport_fatal(
				t, cl_exc_new(&cl_RuntimeError, "get_buffer() "
					      "returned an empty buffer"),
				"Fatal error: protocol.get_buffer() call "
				"failed.");
			return 0;
		}
	}
	do
		got = cl_io_read(t->fd, buf, len);
	while (got == -EINTR);
	if (got == -EAGAIN || got == -EWOULDBLOCK)
		return -EAGAIN;
	if (got < 0) {
		cl__transport_fatal(t, cl_os_error((int)got, NULL),
				    "Fatal read error on socket transport");
		return 0;
	}
	if (got == 0) {
		cl__transport_on_eof(t);
		return 0;
	}
	if (p->ops->get_buffer != NULL) {
		t->calling = "buffer_updated";
		p->ops->buffer_updated(p, (size_t)got);
	} else {
		t->calling = "data_received";
		if (p->ops->data_received != NULL)
			p->ops->data_received(p, buf, (size_t)got);
	}
	t->calling = NULL;
	return got;
}

static void cl__transport_read_ready(void *arg)
{
	cl__transport_read_now(arg);
}

void cl_transport_pause_reading(struct cl_transport *t)
{
	if (t->closing || t->paused)
		return;
	t->paused = 1;
	cl__transport_unwatch_reader(t);
}

void cl_transport_resume_reading(struct cl_transport *t)
{
	int err;

	if (t->closing || !t->paused)
		return;
	t->paused = 0;
	if (!t->made)
		return; /* connection_made's callback starts reading */
	err = cl_loop_add_reader(t->loop, t->fd, cl__transport_read_ready, t);
	if (err < 0)
		cl__transport_fatal(t, cl_os_error(err, NULL),
				    "Fatal error: cannot watch the socket");
	else
		t->reading = 1;
}

int cl_transport_is_reading(const struct cl_transport *t)
{
	return !t->paused && !t->closing;
}

/* Writing: flow control. */

/* Call the protocol's pause_writing or resume_writing; what it raises
 * is reported, as asyncio reports it, and goes no further. */
static void cl__transport_call_flow(struct cl_transport *t, int pause)
{
	struct cl_protocol *p = t->protocol;
	void (*fn)(struct cl_protocol *) =
		pause ? p->ops->pause_writing : p->ops->resume_writing;

	if (fn == NULL)
		return;
	CL_TRY {
		fn(p);
	} CL_CATCH(e) {
		cl__transport_report(t, pause ? "protocol.pause_writing() "
						"failed"
					      : "protocol.resume_writing() "
						"failed", e);
		cl_exc_decref(e);
	} CL_END_TRY;
}

/*
 * Append n bytes to the write buffer. The bytes kept move to the front
 * only when at least as many have been sent (so each byte moves O(1)
 * times); otherwise the buffer doubles. -ENOMEM, or 0.
 */
static int cl__transport_append(struct cl_transport *t, const char *p,
				size_t n)
{
	size_t used = t->tail - t->head, cap;
	char *buf;

	if (t->cap - t->tail < n) {
		if (t->head >= used && t->cap - used >= n) {
			memmove(t->buf, t->buf + t->head, used);
		} else {
			cap = 2 * t->cap > used + n ? 2 * t->cap : used + n;
			if (cap < 4096)
				cap = 4096;
			buf = malloc(cap);
			if (buf == NULL)
				return -ENOMEM;
			if (used > 0)
				memcpy(buf, t->buf + t->head, used);
			free(t->buf);
			t->buf = buf;
			t->cap = cap;
		}
		t->head = 0;
		t->tail = used;
	}
	memcpy(t->buf + t->tail, p, n);
	t->tail += n;
	return 0;
}

/* Start watching for room in the socket; on failure the connection is
 * over. */
static int cl__transport_watch_writer(struct cl_transport *t,
				      cl_callback ready)
{
	int err = cl_loop_add_writer(t->loop, t->fd, ready, t);

	if (err < 0) {
		cl__transport_fatal(t, cl_os_error(err, NULL),
				    "Fatal error: cannot watch the socket");
		return err;
	}
	t->writing = 1;
	return 0;
}

/* An error from cl_io_write that is not "try again later". */
static int cl__write_failed(ssize_t sent)
{
	return sent < 0 && sent != -EAGAIN && sent != -EWOULDBLOCK &&
	       sent != -EINTR;
}

/* TODO(ch04): cl_transport_write sends now if nothing is buffered,
 * else buffers; the buffer drains as the socket has room, then a
 * pending close() or write_eof() takes effect. pause_writing /
 * resume_writing: once per crossing of the high / low marks. Writing
 * after write_eof() raises RuntimeError. Mirrors selector_events.py
 * _SelectorSocketTransport.write; read section 11.
 * Hints: make hint CH=4 TODO=write_path (3 levels). */
static void cl__transport_maybe_pause(struct cl_transport *t)
{
	(void)t;
}

void cl_transport_write(struct cl_transport *t, const void *data, size_t n)
{
	(void)t, (void)data, (void)n, (void)cl__transport_call_flow;
	(void)cl__transport_append, (void)cl__transport_watch_writer;
	(void)cl__write_failed;
	cl_raise(cl_exc_new(&cl_NotImplementedError,
			    "transport write: not implemented (TODO ch04)"));
}

/* WriteTransport.writelines: write(b"".join(list_of_data)). One write,
 * so the pieces leave in one send when the socket takes them. */
void cl_transport_writelines(struct cl_transport *t, const struct iovec *iov,
			     int iovcnt)
{
	size_t total = 0, at = 0;
	char *joined;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (iovcnt == 1 || total == 0) {
		cl_transport_write(t, iovcnt ? iov[0].iov_base : "", total);
		return;
	}
	joined = malloc(total);
	if (joined == NULL)
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	for (int i = 0; i < iovcnt; i++) {
		memcpy(joined + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	CL_TRY {
		cl_transport_write(t, joined, total);
	} CL_CATCH(e) {
		free(joined);
		cl_raise(e);
	} CL_END_TRY;
	free(joined);
}

void cl_transport_write_eof(struct cl_transport *t)
{
	if (t->closing || t->eof)
		return;
	t->eof = 1;
	if (t->head == t->tail)
		shutdown(t->fd, SHUT_WR);
}

int cl_transport_can_write_eof(const struct cl_transport *t)
{
	(void)t;
	return 1;
}

void cl_transport_set_write_buffer_limits(struct cl_transport *t,
					  size_t high, size_t low)
{
	if (high == CL_WATER_DEFAULT)
		high = low == CL_WATER_DEFAULT ? CL_TRANSPORT_HIGH_WATER
					       : 4 * low;
	if (low == CL_WATER_DEFAULT)
		low = high / 4;
	if (high < low)
		cl_raise(cl_exc_new(&cl_ValueError,
				    "high (%zu) must be >= low (%zu) must be "
				    ">= 0", high, low));
	t->high = high;
	t->low = low;
	cl__transport_maybe_pause(t);
}

void cl_transport_get_write_buffer_limits(const struct cl_transport *t,
					  size_t *low, size_t *high)
{
	*low = t->low;
	*high = t->high;
}

size_t cl_transport_get_write_buffer_size(const struct cl_transport *t)
{
	size_t n = t->tail - t->head;

	/* A queued file counts with its bytes, not its placeholder. */
	for (const struct cl__tfile *f = t->files; f != NULL; f = f->next)
		n += f->left - 1;
	return n;
}

/* Sending files. */

/*
 * Send what is left of file segment f straight to the socket: sendfile(2)
 * until the socket is full, or pread and write for a file sendfile
 * refuses. Returns 1 when all of it is sent, 0 when the socket is full,
 * or a negative errno value (-EIO: the file ended early).
 */
static int cl__transport_send_file(struct cl_transport *t,
				   struct cl__tfile *f)
{
	char tmp[16384];
	ssize_t n, got;

	cl__io_ignore_sigpipe(); /* sendfile(2) has no MSG_NOSIGNAL */
	while (f->left > 0) {
		if (!f->copy) {
			n = sendfile(t->fd, f->fd, &f->off,
				     f->left < 0x40000000 ? f->left
							  : 0x40000000);
			if (n > 0) {
				f->left -= (size_t)n;
				continue;
			}
			if (n == 0)
				return -EIO;
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno != EINVAL && errno != ENOSYS)
				return -errno;
			f->copy = 1;
		}
		got = pread(f->fd, tmp,
			    f->left < sizeof tmp ? f->left : sizeof tmp,
			    f->off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		n = cl_io_write(t->fd, tmp, (size_t)got);
		if (n == -EAGAIN || n == -EWOULDBLOCK || n == -EINTR)
			return 0;
		if (n < 0)
			return (int)n;
		f->off += n;
		f->left -= (size_t)n;
		if (n < got)
			return 0;
	}
	return 1;
}

/* sendfile's pause_writing and resume_writing, which count a queued
 * file's bytes as buffered (cl_transport_get_write_buffer_size). */
static void cl__transport_file_flow(struct cl_transport *t)
{
	size_t size = cl_transport_get_write_buffer_size(t);

	if (!t->protocol_paused && size > t->high) {
		t->protocol_paused = 1;
		cl__transport_call_flow(t, 1);
	} else if (t->protocol_paused && size <= t->low) {
		t->protocol_paused = 0;
		cl__transport_call_flow(t, 0);
	}
}

/*
 * The writable-callback while files are queued: the buffered bytes up
 * to the first file's placeholder, the file, its placeholder dropped,
 * and so on; once all is sent, what the write path's callback does at
 * the end (stop watching, then a pending close or write_eof).
 */
static void cl__transport_file_ready(void *arg)
{
	struct cl_transport *t = arg;
	struct cl__tfile *f;
	ssize_t sent;
	int r;

	if (t->lost)
		return;
	while ((f = t->files) != NULL) {
		if (f->before > 0) {
			sent = cl_io_write(t->fd, t->buf + t->head, f->before);
			if (cl__write_failed(sent))
				goto failed;
			if (sent > 0) {
				t->head += (size_t)sent;
				f->before -= (size_t)sent;
			}
			if (f->before > 0)
				goto wait;
		}
		r = cl__transport_send_file(t, f);
		if (r < 0) {
			sent = r;
			goto failed;
		}
		if (r == 0)
			goto wait;
		t->head++; /* the placeholder */
		t->files = f->next;
		close(f->fd);
		free(f);
	}
	if (t->head != t->tail) {
		sent = cl_io_write(t->fd, t->buf + t->head, t->tail - t->head);
		if (cl__write_failed(sent))
			goto failed;
		if (sent > 0)
			t->head += (size_t)sent;
	}
	cl__transport_file_flow(t); /* may write more */
	if (t->head != t->tail || t->files != NULL || t->lost)
		return;
	t->head = t->tail = 0;
	cl__transport_unwatch_writer(t);
	if (t->closing)
		cl__transport_call_lost(t); /* may free t */
	else if (t->eof)
		shutdown(t->fd, SHUT_WR);
	return;
wait:
	cl__transport_file_flow(t);
	return;
failed:
	cl__transport_fatal(t, cl_os_error((int)sent, NULL),
			    "Fatal write error on socket transport");
}

void cl_transport_sendfile(struct cl_transport *t, int fd, off_t offset,
			   size_t count)
{
	struct cl__tfile first = { .fd = fd, .off = offset, .left = count };
	struct cl__tfile *f, **at;
	size_t before = t->tail - t->head;
	int r, dup_fd;

	if (t->eof)
		cl_raise(cl_exc_new(&cl_RuntimeError, "Cannot call sendfile() "
				    "after write_eof()"));
	if (count == 0 || t->lost)
		return;
	if (t->head == t->tail) {
		/* Nothing ahead of it: send what the socket takes now. */
		r = cl__transport_send_file(t, &first);
		if (r < 0) {
			cl__transport_fatal(t, cl_os_error(r, NULL),
					    "Fatal write error on socket "
					    "transport");
			return;
		}
		if (r == 1)
			return;
	}
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0)
		cl_raise(cl_os_error(errno, NULL));
	f = malloc(sizeof *f);
	if (f == NULL || cl__transport_append(t, "", 1) < 0) {
		free(f);
		close(dup_fd);
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	}
	*f = first;
	f->fd = dup_fd;
	for (at = &t->files; *at != NULL; at = &(*at)->next)
		before -= (*at)->before + 1;
	f->before = before;
	*at = f;
	/* This callback sends from now on, the buffer's bytes too. */
	if (cl__transport_watch_writer(t, cl__transport_file_ready) < 0)
		return;
	cl__transport_file_flow(t);
}

/* Extra information. */

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

const char *cl_transport_get_extra_info(struct cl_transport *t,
					const char *name)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char **slot, buf[96];
	int peer;

	if (strcmp(name, "peername") == 0)
		slot = &t->peername, peer = 1;
	else if (strcmp(name, "sockname") == 0)
		slot = &t->sockname, peer = 0;
	else
		return NULL;
	if (*slot == NULL && t->fd >= 0) {
		if ((peer ? getpeername : getsockname)(
			    t->fd, (struct sockaddr *)&ss, &len) < 0)
			return NULL;
		if (ss.ss_family == AF_UNIX)
			snprintf(buf, sizeof buf, "''");
		else
			cl__addr_str((struct sockaddr *)&ss, buf, sizeof buf,
				     1);
		*slot = strdup(buf);
	}
	return *slot;
}

int cl_transport_get_fd(const struct cl_transport *t)
{
	return t->fd;
}

struct cl_protocol *cl_transport_get_protocol(const struct cl_transport *t)
{
	return t->protocol;
}

void cl_transport_set_protocol(struct cl_transport *t, struct cl_protocol *p)
{
	t->protocol = p;
}

/* Connecting. */

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
	return cl_exc_new(&cl_OSError, "%s", msg);
}

int cl__connect(const char *host, int port)
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
	return fd;
}

void cl_loop_connect_accepted_socket(struct cl_loop *loop,
				     cl_protocol_factory f, void *arg, int fd,
				     struct cl_transport **t,
				     struct cl_protocol **p)
{
	struct cl_protocol *volatile proto;
	struct cl_transport *volatile tr;
	struct cl_future *volatile done;
	int err;

	proto = f(arg);
	if (proto == NULL) {
		close(fd);
		cl_raise(cl_exc_new(&cl_RuntimeError,
				    "the protocol factory made no protocol"));
	}
	done = cl_future_new(loop);
	tr = done != NULL ? cl__transport_open(loop, fd, proto, NULL, done)
			  : NULL;
	if (tr == NULL) {
		err = errno;
		cl_future_decref(done);
		close(fd);
		cl_raise(cl_os_error(err, NULL));
	}
	cl_transport_incref(tr);
	CL_TRY {
		cl_await(done);
	} CL_CATCH(e) {
		/* Cancelled before connection_made: close it. */
		cl_transport_close(tr);
		cl_transport_decref(tr);
		cl_future_decref(done);
		cl_raise(e);
	} CL_END_TRY;
	cl_future_decref(done);
	*t = tr;
	*p = proto;
}

void cl_loop_create_connection(struct cl_loop *loop, cl_protocol_factory f,
			       void *arg, const char *host, int port,
			       struct cl_transport **t, struct cl_protocol **p)
{
	cl_loop_connect_accepted_socket(loop, f, arg, cl__connect(host, port),
					t, p);
}
