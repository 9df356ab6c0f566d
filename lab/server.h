/*
 * server.h - a stream server: a task per connection.
 *
 *	static void echo(struct cl_reader *r, struct cl_writer *w, void *arg)
 *	{
 *		const char *line;
 *		size_t n;
 *
 *		for (;;) {
 *			line = cl_reader_readline(r, &n);
 *			if (n == 0)
 *				break;
 *			cl_writer_write(w, line, n);
 *			cl_writer_drain(w);
 *		}
 *	}
 *
 * is, in Python,
 *
 *	async def echo(reader, writer):
 *	    while line := await reader.readline():
 *	        writer.write(line)
 *	        await writer.drain()
 *
 * and the server:
 *
 *	...
 *	struct cl_server *srv;			srv = await asyncio.start_server(
 *	cl_start_server("127.0.0.1", 8888,	    echo, "127.0.0.1", 8888)
 *			echo, NULL, &srv);
 *	...
 *	cl_server_close(srv);			srv.close()
 *	cl_server_wait_closed(srv);		await srv.wait_closed()
 *	cl_server_free(srv);
 *
 * The server listens on every address getaddrinfo gives for host (NULL:
 * all interfaces) and accepts from a reader callback on the loop: for
 * each connection it makes a stream and a task that runs
 * handler(reader, writer, arg). When the handler returns, the server
 * closes the connection (sending what is still buffered) and frees the
 * stream: the handler must not free them itself. (asyncio leaves the
 * connection open for the handler or the garbage collector to close.)
 *
 * An exception that escapes the handler ends that connection only: the
 * stream is aborted, and the exception is printed to the loop's error
 * stream ("corolab: unhandled exception in client handler ..."), except
 * a ConnectionError, which is only the peer going away, and
 * CancelledError, which ends the task as cancelled (at the end of
 * cl_run, for instance). A peer that resets the connection in the middle
 * of a write therefore costs one ConnectionResetError in its own task,
 * never the server (writes never raise SIGPIPE: io.h).
 *
 * When accept fails for lack of descriptors (EMFILE, ENFILE) or memory,
 * the server stops accepting for a second instead of spinning on the
 * connection it cannot take, as asyncio does (ACCEPT_RETRY_DELAY).
 *
 * Python: Lib/asyncio/streams.py (start_server, StreamReaderProtocol.
 * connection_made), Lib/asyncio/base_events.py (create_server, Server:
 * close, wait_closed, _attach, _detach), Lib/asyncio/selector_events.py
 * (_start_serving, _accept_connection).
 */
#ifndef CL_SERVER_H
#define CL_SERVER_H

#include "stream.h"
#include "transport.h"

/* The handler of a connection, run in a task of its own. */
typedef void (*cl_client_connected_cb)(struct cl_reader *r,
				       struct cl_writer *w, void *arg);

struct cl_server;

/*
 * await asyncio.start_server(handler, host, port): listen on host:port
 * (port 0: a port the kernel picks, see cl_server_port) and serve each
 * connection with handler(reader, writer, arg) in a new task. Serving
 * starts at once. *out is the server; raises OSError when it cannot
 * listen ("[Errno 98] error while attempting to bind on address
 * ('127.0.0.1', 8888): address already in use"). Does not suspend.
 */
void cl_start_server(const char *host, int port, cl_client_connected_cb fn,
		     void *arg, struct cl_server **out);

/*
 * await loop.create_server(factory, host, port): the same server, on the
 * protocol layer: each connection gets a transport and the protocol
 * factory(arg) makes (transport.h), and no task. Does not suspend.
 * close_clients and abort_clients close and abort the transports.
 */
void cl_loop_create_server(struct cl_loop *loop, cl_protocol_factory f,
			   void *arg, const char *host, int port,
			   struct cl_server **out);

/*
 * create_server(..., reuse_port=True): the same, with SO_REUSEPORT on
 * each listening socket, so that several processes (one loop each) can
 * listen on one port and the kernel spreads the connections over them.
 * port 0 picks a free port only for the first: pass the port it got.
 */
void cl_loop_create_server_reuse_port(struct cl_loop *loop,
				      cl_protocol_factory f, void *arg,
				      const char *host, int port,
				      struct cl_server **out);

/* server.sockets[0].getsockname()[1]: the port it listens on. */
int cl_server_port(const struct cl_server *srv);

/* server.is_serving(). */
int cl_server_is_serving(const struct cl_server *srv);

/* How many connections are open (active_count). */
size_t cl_server_nconnections(const struct cl_server *srv);

/*
 * server.close(): stop listening and close the listening sockets. The
 * connections already accepted go on.
 */
void cl_server_close(struct cl_server *srv);

/*
 * server.close_clients() (asyncio 3.13): close every connection's
 * transport: what is buffered is still sent, then the reader of each
 * sees EOF, so a handler waiting in a read returns. One waiting in
 * drain() for a peer that does not read still waits.
 */
void cl_server_close_clients(struct cl_server *srv);

/*
 * server.abort_clients() (asyncio 3.13): abort every connection's
 * transport: what is buffered is dropped, and each is lost at the next
 * iteration. For the connections close_clients cannot end, those whose
 * peer does not read: a server that stops calls close_clients, gives
 * them a grace period (a timer), then aborts what is left.
 */
void cl_server_abort_clients(struct cl_server *srv);

/*
 * await server.wait_closed(): until the server is closed and every
 * connection is lost (and, for start_server, every handler has
 * returned). (CPython 3.11 returns at once
 * when called after close(), a bug fixed in 3.12.1; this is what 3.12
 * does.)
 */
void cl_server_wait_closed(struct cl_server *srv);

/* Close the server if it is open and drop it; its memory goes when the
 * last connection's task ends. */
void cl_server_free(struct cl_server *srv);

/*
 * For transport.c: a transport of srv's counts as a connection until it
 * is lost (Server._attach, _detach). attach returns NULL when out of
 * memory.
 */
struct cl__conn;
struct cl__conn *cl__server_attach(struct cl_server *srv,
				   struct cl_transport *t);
void cl__server_detach(struct cl__conn *c);

#endif
