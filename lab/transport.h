/*
 * transport.h - transports and protocols: asyncio's callback layer.
 *
 * Streams (stream.h) are the comfortable way to write a server: a task
 * per connection, reads that suspend. Underneath them asyncio has a
 * layer with no tasks at all. A transport owns a connected socket: it
 * reads whatever comes, sends what it is given, buffers what the
 * socket cannot take yet, and closes. A protocol is a set of callbacks
 * the transport calls when something happens:
 *
 *	struct echo {				class Echo(asyncio.Protocol):
 *		struct cl_protocol base;
 *		struct cl_transport *t;
 *	};
 *	static void made(struct cl_protocol *p,	    def connection_made(self, t):
 *			 struct cl_transport *t)
 *	{
 *		((struct echo *)p)->t = t;	        self.t = t
 *	}
 *	static void got(struct cl_protocol *p,	    def data_received(self, data):
 *			const char *data, size_t n)
 *	{
 *		cl_transport_write(		        self.t.write(data)
 *			((struct echo *)p)->t, data, n);
 *	}
 *	static void lost(struct cl_protocol *p,	    def connection_lost(self, exc):
 *			 struct cl_exc *exc)		        pass
 *	{
 *		free(p);
 *	}
 *
 * and a server makes one protocol per connection, from a factory:
 *
 *	cl_loop_create_server(loop, new_echo,	await loop.create_server(
 *			      NULL, "127.0.0.1",	Echo, "127.0.0.1", 8888)
 *			      8888, &srv);
 *
 * A protocol embeds struct cl_protocol first; its ops say which
 * callbacks it has (NULL: the default, which does nothing). They run as
 * loop callbacks, never in a task: they cannot await. For one
 * connection, in this order:
 *
 *	connection_made(t)	once, first. t is the transport; it stays
 *				valid until connection_lost returns.
 *	data_received(data, n)	bytes came; data is valid during the call
 *				only (copy what you keep).
 *	eof_received()		the peer will send no more. Return 0 and
 *				the transport closes itself; 1 keeps it
 *				open for writing (a half-close).
 *	pause_writing()		the write buffer went above the high-water
 *	resume_writing()	mark, and later came back to the low one.
 *	connection_lost(exc)	once, last: exc is NULL for a clean close,
 *				else the error (borrowed: incref to keep
 *				it). The socket is closed when it returns.
 *				Free the protocol here if you own it. (A
 *				server that cannot make a transport for a
 *				connection, out of memory, calls only
 *				this, without connection_made.)
 *
 * A buffered protocol (asyncio.BufferedProtocol) sets get_buffer and
 * buffer_updated instead of data_received: the transport reads straight
 * into the protocol's memory, no copy.
 *
 * An exception raised in data_received, buffer_updated, get_buffer,
 * eof_received or connection_made is the transport's fatal error, as
 * in asyncio: it is reported on the loop's error stream ("corolab: Fatal
 * error: protocol.data_received() call failed.: ValueError: ..."), the
 * transport is closed at once (the buffer dropped), connection_lost gets
 * the exception, and the loop goes on. A read or write that fails
 * (ECONNRESET, EPIPE) ends the connection the same way without the
 * report: connection_lost gets ConnectionResetError, BrokenPipeError.
 * Never SIGPIPE (io.h).
 *
 * Python: Lib/asyncio/protocols.py (Protocol, BufferedProtocol),
 * Lib/asyncio/transports.py (the transport API), and
 * Lib/asyncio/selector_events.py (_SelectorSocketTransport:
 * _read_ready, write, _write_ready, close, _force_close,
 * _call_connection_lost), base_events.py (create_server,
 * create_connection, connect_accepted_socket).
 */
#ifndef CL_TRANSPORT_H
#define CL_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "exc.h"
#include "loop.h"

struct cl_transport;
struct cl_protocol;

/*
 * The errors of a connection, under exc.h's hierarchy as in CPython:
 *
 *	OSError
 *	 +-- ConnectionError
 *	      +-- BrokenPipeError		EPIPE, ESHUTDOWN
 *	      +-- ConnectionAbortedError	ECONNABORTED
 *	      +-- ConnectionRefusedError	ECONNREFUSED
 *	      +-- ConnectionResetError		ECONNRESET
 *
 * Their messages read like CPython's: "[Errno 104] Connection reset by
 * peer".
 */
extern const struct cl_exc_type cl_ConnectionError;
extern const struct cl_exc_type cl_BrokenPipeError;
extern const struct cl_exc_type cl_ConnectionAbortedError;
extern const struct cl_exc_type cl_ConnectionRefusedError;
extern const struct cl_exc_type cl_ConnectionResetError;

/*
 * OSError(err, strerror(err)) for a positive or negative errno value,
 * as the subclass CPython picks for it (the table above): one new
 * reference. what, if not NULL, is added to the message as CPython's
 * connect does: "[Errno 111] Connect call failed ('127.0.0.1', 9)".
 */
struct cl_exc *cl_os_error(int err, const char *what);


struct cl_protocol_ops {
	void (*connection_made)(struct cl_protocol *p, struct cl_transport *t);
	void (*data_received)(struct cl_protocol *p, const char *data,
			      size_t n);
	int (*eof_received)(struct cl_protocol *p);
	void (*connection_lost)(struct cl_protocol *p, struct cl_exc *exc);
	void (*pause_writing)(struct cl_protocol *p);
	void (*resume_writing)(struct cl_protocol *p);

	/*
	 * BufferedProtocol. get_buffer returns where the next read may
	 * put at most *len bytes (sizehint: how many the transport would
	 * like; it passes -1, "any", as asyncio does); buffer_updated
	 * says how many it put there. A get_buffer that returns *len 0
	 * is a fatal error, as in asyncio, unless the protocol paused
	 * reading in it: then nothing is read.
	 */
	void *(*get_buffer)(struct cl_protocol *p, long sizehint,
			    size_t *len);
	void (*buffer_updated)(struct cl_protocol *p, size_t n);
};

struct cl_protocol {
	const struct cl_protocol_ops *ops;
};

/* A factory makes the protocol of each new connection; NULL refuses
 * the connection (it is closed). */
typedef struct cl_protocol *(*cl_protocol_factory)(void *arg);

/* transports.py's defaults: the write buffer's water marks. */
#define CL_TRANSPORT_HIGH_WATER (64 * 1024)
#define CL_TRANSPORT_LOW_WATER (CL_TRANSPORT_HIGH_WATER / 4)

/* "None" for cl_transport_set_write_buffer_limits. */
#define CL_WATER_DEFAULT ((size_t)-1)

/*
 * await loop.create_connection(factory, host, port): connect (every
 * address of host in turn), make the protocol, and return when its
 * connection_made has run. *t is the transport, a reference of yours
 * (cl_transport_decref it when done), *p the protocol. Raises the
 * connect error, ConnectionRefusedError for instance.
 */
void cl_loop_create_connection(struct cl_loop *loop, cl_protocol_factory f,
			       void *arg, const char *host, int port,
			       struct cl_transport **t, struct cl_protocol **p);

/*
 * await loop.connect_accepted_socket(factory, sock): a transport over a
 * connected socket (or a socketpair end), which it takes over and will
 * close; otherwise as create_connection.
 */
void cl_loop_connect_accepted_socket(struct cl_loop *loop,
				     cl_protocol_factory f, void *arg, int fd,
				     struct cl_transport **t,
				     struct cl_protocol **p);

/*
 * transport.write(data): send what the socket takes now, buffer the
 * rest and send it when the socket has room (a writable-callback that
 * is in place only while something is buffered). Above the high-water
 * mark the protocol's pause_writing is called, back at the low mark its
 * resume_writing. Never waits. Once the connection is lost, or after
 * close() with nothing left to send, the data is dropped, as asyncio
 * drops it. Raises RuntimeError after write_eof().
 */
void cl_transport_write(struct cl_transport *t, const void *data, size_t n);

/* transport.writelines(list_of_data): write of the pieces joined (one
 * write, as asyncio 3.11 joins them). */
void cl_transport_writelines(struct cl_transport *t, const struct iovec *iov,
			     int iovcnt);

/*
 * loop.sendfile(transport, file, offset, count): send count bytes of
 * the file fd from offset, after whatever is buffered, without copying
 * them through memory: sendfile(2) straight away when nothing is
 * buffered, and what the socket does not take yet is kept as a pending
 * file segment (the transport keeps a dup() of fd, closed when the
 * segment is sent or the connection ends; the caller keeps fd). Writes
 * made later are sent after it. The segment's bytes count in the write
 * buffer's size, for the water marks. A file sendfile(2) cannot send
 * goes by pread and write. Raises RuntimeError after write_eof(),
 * OSError when fd cannot be duplicated. (asyncio waits until the buffer
 * is empty, and refuses writes until the file is sent.)
 */
void cl_transport_sendfile(struct cl_transport *t, int fd, off_t offset,
			   size_t count);

/*
 * transport.write_eof(): no more writes; once the buffer is sent, the
 * socket is shut down for writing, and the peer reads EOF. Reading goes
 * on. can_write_eof() says a socket transport can (1).
 */
void cl_transport_write_eof(struct cl_transport *t);
int cl_transport_can_write_eof(const struct cl_transport *t);

/*
 * transport.pause_reading(), resume_reading(): stop and start calling
 * data_received (the socket is not read meanwhile, so the peer's
 * sending slows down to a stop). is_reading() says which.
 */
void cl_transport_pause_reading(struct cl_transport *t);
void cl_transport_resume_reading(struct cl_transport *t);
int cl_transport_is_reading(const struct cl_transport *t);

/*
 * set_write_buffer_limits(high, low); CL_WATER_DEFAULT is None: high
 * defaults to 64 KiB (or 4 * low), low to high / 4. Raises ValueError
 * unless high >= low. get_write_buffer_limits() gives (low, high).
 */
void cl_transport_set_write_buffer_limits(struct cl_transport *t,
					  size_t high, size_t low);
void cl_transport_get_write_buffer_limits(const struct cl_transport *t,
					  size_t *low, size_t *high);

/* get_write_buffer_size(): bytes written, not sent yet. */
size_t cl_transport_get_write_buffer_size(const struct cl_transport *t);

/*
 * transport.close(): stop reading now; send what is buffered, then
 * close the socket and call connection_lost(NULL). Does not wait.
 */
void cl_transport_close(struct cl_transport *t);

/*
 * transport.abort(): drop what is buffered and close at once;
 * connection_lost(NULL) comes at the next iteration.
 */
void cl_transport_abort(struct cl_transport *t);

/* transport.is_closing(): close() or abort() was called, or the
 * connection failed. */
int cl_transport_is_closing(const struct cl_transport *t);

/*
 * get_extra_info(name): "peername" and "sockname" as Python prints the
 * address, "('127.0.0.1', 8888)"; NULL for another name, or once the
 * socket is closed. The string lives as long as the transport.
 * get_extra_info('socket').fileno() is cl_transport_get_fd: -1 once
 * closed.
 */
const char *cl_transport_get_extra_info(struct cl_transport *t,
					const char *name);
int cl_transport_get_fd(const struct cl_transport *t);

/* transport.get_protocol(). */
struct cl_protocol *cl_transport_get_protocol(const struct cl_transport *t);

/*
 * transport.set_protocol(p): from now on the transport calls p's
 * callbacks (an HTTP connection that upgrades to WebSocket hands itself
 * over this way). connection_made is not called again; the old protocol
 * is neither called nor freed: it is its owner's.
 */
void cl_transport_set_protocol(struct cl_transport *t, struct cl_protocol *p);

/*
 * A transport lives from its creation until its connection_lost has
 * returned. Keep it longer (to ask is_closing after the end, say) with
 * a reference of your own.
 */
struct cl_transport *cl_transport_incref(struct cl_transport *t);
void cl_transport_decref(struct cl_transport *t);

/*
 * For server.c and stream.c: a transport for the connected socket fd on
 * loop, with protocol p, attached to srv if not NULL (the server counts
 * its transports until they are lost). connection_made is called, and
 * reading begins, at the next iteration, as asyncio schedules them;
 * done, if not NULL, is set to a result then. Returns NULL with errno
 * set; fd is then the caller's to close.
 */
struct cl_server;
struct cl_future;
struct cl_transport *cl__transport_open(struct cl_loop *loop, int fd,
					struct cl_protocol *p,
					struct cl_server *srv,
					struct cl_future *done);

/*
 * For stream.c: abort, with connection_lost called now rather than at
 * the next iteration (a stream that is freed ends its connection before
 * the free returns).
 */
void cl__transport_abort_now(struct cl_transport *t);

/* Chapter 09's debug mode, at cl_loop_free: a ResourceWarning line for
 * each transport still open on loop. */
void cl__transport_warn_unclosed(struct cl_loop *loop, FILE *err);

/*
 * For stream.c: one read of the socket as the loop's readiness callback
 * does it (get_buffer, read, buffer_updated or eof_received), without
 * waiting for the poller: a reader dropping a long line looks ahead
 * this way. Returns the bytes read, 0 at EOF or after an error (both
 * reported to the protocol as usual), -EAGAIN if there were none.
 */
long cl__transport_read_now(struct cl_transport *t);

/*
 * For stream.c: connect to host:port as create_connection does (every
 * address in turn, the errors combined as CPython combines them): the
 * connected, non-blocking socket, or a raise.
 */
int cl__connect(const char *host, int port);

/*
 * A socket address as Python prints it, "('127.0.0.1', 8888)" or
 * "('::1', 8888, 0, 0)" (tuple set), or as "127.0.0.1:8888".
 */
struct sockaddr;
void cl__addr_str(const struct sockaddr *sa, char *buf, size_t size,
		  int tuple);

#endif
