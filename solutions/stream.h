/*
 * stream.h - streams: a connection as a reader and a writer.
 *
 * Sockets give bytes in whatever pieces the network delivers; programs
 * want lines, records of a known size, and a way to write without
 * worrying about a full socket buffer. A stream puts a buffer on each
 * side of a connection:
 *
 *	struct cl_reader *r;			reader, writer = await \
 *	struct cl_writer *w;			    asyncio.open_connection(
 *	cl_open_connection("127.0.0.1", 8888,	        "127.0.0.1", 8888)
 *			   &r, &w);
 *	cl_writer_write(w, "hello\n", 6);	writer.write(b"hello\n")
 *	cl_writer_drain(w);			await writer.drain()
 *	line = cl_reader_readline(r, &len);	line = await reader.readline()
 *	cl_writer_close(w);			writer.close()
 *	cl_writer_wait_closed(w);		await writer.wait_closed()
 *	cl_reader_free(r);
 *	cl_writer_free(w);
 *
 * and a server runs a task per connection (server.h).
 *
 * A stream stands on a transport (transport.h), as asyncio's do: the
 * connection's protocol is the stream's own (StreamReaderProtocol), a
 * buffered protocol that the transport reads into whenever the socket
 * is readable. A read call takes what is buffered, and waits (an
 * await: only its own task suspends) when there is not enough:
 * readline until a newline is in the buffer, readexactly until it has
 * n bytes. The buffer is bounded by the limit (default 64 KiB): when it
 * is full the stream pauses the transport's reading until a read makes
 * room, and a line longer than the limit raises ValueError instead of
 * growing the buffer, so a peer cannot make us hold a line of any
 * length.
 *
 * The writer never waits: write() is the transport's, which sends what
 * the socket takes at once and keeps the rest. drain() is where a task
 * waits: while more than the high-water mark (64 KiB) is buffered, it
 * suspends until the buffer is back down to the low-water mark (16
 * KiB), told by the protocol's pause_writing and resume_writing. A
 * producer that calls drain() after each write can never outrun its
 * consumer by more than the high-water mark.
 *
 * Errors are exceptions, raised at the call, as asyncio's streams raise
 * them (an await point can raise anyway: CancelledError): a reset
 * connection is ConnectionResetError, a read cut short by EOF is
 * IncompleteReadError, a line over the limit is ValueError. The socket
 * calls below (sock.h, io.h) return -errno; cl_os_error turns one into
 * the exception CPython raises for it. Return values are data only.
 *
 * Every stream call must be made from a task of the loop that runs
 * the stream, and a stream must be freed before that loop's cl_run
 * returns.
 *
 * Python: Lib/asyncio/streams.py (StreamReader, StreamWriter,
 * FlowControlMixin, StreamReaderProtocol, open_connection).
 */
#ifndef CL_STREAM_H
#define CL_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "exc.h"
#include "future.h"
#include "transport.h"

/* asyncio's default: streams._DEFAULT_LIMIT. The water marks are the
 * transport's (CL_TRANSPORT_HIGH_WATER, _LOW_WATER). */
#define CL_STREAM_LIMIT (64 * 1024)

/*
 * The exceptions streams raise besides the connection's (transport.h),
 * under exc.h's hierarchy as in CPython:
 *
 *	Exception
 *	 +-- EOFError
 *	      +-- IncompleteReadError		asyncio.IncompleteReadError
 *
 * "3 bytes read on a total of 5 expected bytes".
 */
extern const struct cl_exc_type cl_EOFError;
extern const struct cl_exc_type cl_IncompleteReadError;

/*
 * IncompleteReadError.partial, as a count: how many bytes readexactly
 * had read (and stored) when EOF came. 0 for other exceptions.
 */
size_t cl_incomplete_read_partial(const struct cl_exc *e);

/*
 * A task waiting for something a callback will announce: drain for the
 * buffer to go down, wait_closed for the connection to end, a read for
 * the socket. Each waiter has a future of its own, so that cancelling
 * one waiting task cancels nobody else's wait. For stream.c and
 * server.c only.
 */
struct cl__waiter {
	struct cl_future *fut;	 /* done when woken; the waiter's own */
	struct cl__waiter *next; /* the list, newest first */
};

/* Wait in *list until cl__wake_all; return, or raise what woke us (or
 * CancelledError). The waiter leaves the list either way. what and id
 * say what the future stands for, for the trace and the deadlock report
 * (CL_WHAT_FD_IN and the fd for a read, for instance). */
void cl__wait_on(struct cl__waiter **list, enum cl_future_what what,
		 unsigned long id);

/* Wake every waiter of list: with exc raised in each (a new reference
 * each; exc itself stays the caller's), or normally if exc is NULL. */
void cl__wake_all(struct cl__waiter *list, struct cl_exc *exc);

struct cl_stream;

/*
 * For server.c: a stream whose protocol, once its transport has made the
 * connection, calls connected(arg, s) (StreamReaderProtocol with a
 * client_connected_cb). The stream's halves are then the callee's to
 * free. NULL when out of memory.
 */
struct cl_protocol *cl__stream_protocol_new(void (*connected)(void *arg,
							       struct cl_stream *s),
					    void *arg);
struct cl_reader *cl__stream_reader(struct cl_stream *s);
struct cl_writer *cl__stream_writer(struct cl_stream *s);
struct cl_transport *cl__stream_transport(struct cl_stream *s);

/*
 * The reading half: StreamReader. Only stream.c touches the fields; the
 * tests read them to check that memory stays bounded.
 */
struct cl_reader {
	/* What every message touches first. The bytes read from the
	 * socket and not consumed yet are buf[head..tail). cap is one
	 * more than the bytes buf can take: there is always room for
	 * the NUL after a line handed out. */
	char *buf;
	size_t head, tail, cap;
	struct cl_future *waiter; /* what the read waiting for data
				     awaits, or NULL: at most one
				     (StreamReader._waiter); a reference */

	int eof;	    /* the peer is done sending (_eof) */
	int paused;	    /* the buffer was full: we paused the
			       transport's reading (_paused) */
	struct cl_exc *exc; /* what every read raises from now on, or NULL
			       (StreamReader._exception) */
	size_t limit;	    /* longest line readline returns, without its
			       newline (StreamReader._limit) */

	/* The line readline returned last is NUL-terminated in buf; the
	 * byte under that NUL is kept here and put back at the next call
	 * (at buf[nul]) when lent is set. */
	size_t nul;
	int lent;
	char saved;
	unsigned char grow; /* the last read filled all the room it was
			       given: offer more next time */
};

/*
 * The writing half: StreamWriter, with its protocol's flow control
 * (FlowControlMixin). The bytes and the water marks are the
 * transport's. Only stream.c touches the fields.
 */
struct cl_writer {
	int paused;		     /* pause_writing came, resume_writing
					not yet: drain() waits (_paused) */
	struct cl__waiter *drainers; /* tasks in drain() */
};

/*
 * A connection as streams see it: the stream protocol, the transport
 * it stands on, and the two halves. One allocation; r and w point into
 * it. Only stream.c touches the fields.
 *
 * A message touches the first two cache lines only (the stream is
 * allocated on a line, lines.h): the header and the reader's buffer
 * fields in the first, the reader's state and the writer in the second.
 */
struct cl_stream {
	struct cl_protocol proto; /* first: the transport calls it */
	int refcnt;		  /* the reader's, the writer's, the open
				     connection's (until connection_lost) */
	int lost;		  /* connection_lost ran
				     (_connection_lost) */
	struct cl_transport *t;	  /* a reference; NULL until connected */

	struct cl_reader reader;
	struct cl_writer writer;

	struct cl_loop *loop;
	struct cl_exc *lost_exc;    /* what it was lost with, NULL: cleanly */
	struct cl__waiter *closers; /* tasks in wait_closed() */
	void (*connected)(void *arg, struct cl_stream *s);
	void *connected_arg;
};

/*
 * await asyncio.open_connection(host, port): connect to host (a name or
 * an address: every address getaddrinfo gives is tried in turn) and
 * return the two halves of the connection. Raises the connect error,
 * ConnectionRefusedError for instance. The name lookup blocks the loop
 * (asyncio runs it in a thread: chapter 07).
 */
void cl_open_connection(const char *host, int port, struct cl_reader **r,
			struct cl_writer **w);

/*
 * open_connection(sock=fd): streams over a connected socket (or a
 * socketpair end), which they take over and will close. Does not
 * suspend.
 */
void cl_open_connection_fd(int fd, struct cl_reader **r,
			   struct cl_writer **w);

/*
 * Drop your half. Free both when done, the writer last: freeing the
 * writer closes the connection, at once if it was not closed (unsent
 * data is dropped, as transport.abort() drops it), after its data is
 * sent if close() was called.
 */
void cl_reader_free(struct cl_reader *r);
void cl_writer_free(struct cl_writer *w);

/*
 * await reader.readline(): the next line, newline included. The line
 * stays in the reader's buffer (no copy): *len is its length, and it is
 * NUL-terminated for convenience (it may hold NULs of its own); it is
 * valid until the next call on r. At EOF the last, unterminated piece
 * of a line is returned; after it, "" with *len 0.
 *
 * A line longer than the limit (not counting its newline) raises
 * ValueError and is dropped: up to its newline if that has arrived, the
 * next readline then returning the line after it ("Separator is found,
 * but chunk is longer than limit"), or else all that has arrived, the
 * next readline returning the rest of the long line ("Separator is not
 * found, and chunk exceed the limit"), as CPython does.
 */
const char *cl_reader_readline(struct cl_reader *r, size_t *len);

/*
 * await reader.readexactly(n): exactly n bytes into buf. If EOF comes
 * first, raises IncompleteReadError; the bytes that did come are in
 * buf, and cl_incomplete_read_partial(e) says how many.
 */
void cl_reader_readexactly(struct cl_reader *r, void *buf, size_t n);

/*
 * await reader.read(n): up to n bytes into buf, as soon as there is at
 * least one; 0 at EOF (and for n == 0).
 */
size_t cl_reader_read(struct cl_reader *r, void *buf, size_t n);

/*
 * await reader.read(-1): everything until EOF, in a buffer you free
 * (NUL-terminated); *len is its length.
 */
char *cl_reader_read_all(struct cl_reader *r, size_t *len);

/* reader.at_eof(): EOF has come and every byte has been read. */
int cl_reader_at_eof(const struct cl_reader *r);

/* The limit= argument of open_connection and start_server. */
void cl_reader_set_limit(struct cl_reader *r, size_t limit);

/*
 * writer.write(data): the transport's write (transport.h): send what
 * the socket takes now and buffer the rest, which the loop sends as the
 * socket drains. Never waits, never fails on a connection error: once
 * the connection is lost (or closed with nothing left to send) the data
 * is dropped, as asyncio drops it; drain() is where errors show.
 */
void cl_writer_write(struct cl_writer *w, const void *data, size_t n);

/*
 * await writer.drain(): raise the connection's error if it has one;
 * return at once while the buffer is not above the high-water mark;
 * otherwise wait until it is down to the low-water mark. After close(),
 * or once the connection is lost, raises ConnectionResetError
 * "Connection lost".
 */
void cl_writer_drain(struct cl_writer *w);

/*
 * writer.transport.set_write_buffer_limits(high, low) and
 * get_write_buffer_size(): see transport.h.
 */
void cl_writer_set_write_buffer_limits(struct cl_writer *w, size_t high,
				       size_t low);
size_t cl_writer_get_write_buffer_size(const struct cl_writer *w);

/* writer.transport: the transport the stream stands on (borrowed). */
struct cl_transport *cl_writer_transport(const struct cl_writer *w);

/*
 * writer.close(): no more writes; what is buffered is still sent, then
 * the socket is closed. Does not wait: wait_closed does.
 */
void cl_writer_close(struct cl_writer *w);

/* writer.is_closing(): close() was called, or the connection was lost. */
int cl_writer_is_closing(const struct cl_writer *w);

/*
 * await writer.wait_closed(): until the socket is closed. Raises the
 * error the connection was lost with, if any.
 */
void cl_writer_wait_closed(struct cl_writer *w);

/* writer.get_extra_info('socket').fileno(): -1 once closed. */
int cl_writer_fileno(const struct cl_writer *w);

#endif
