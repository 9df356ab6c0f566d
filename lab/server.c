/*
 * server.c - listening sockets, accepting, a transport per connection.
 *
 * The server itself never runs in a task: a reader callback on each
 * listening socket accepts the connections that are waiting and gives
 * each a protocol from the server's factory and a transport
 * (transport.h). start_server is the same server with a factory of
 * stream protocols, whose connection_made starts the handler's task.
 * The server counts its open connections, and start_server's tasks, so
 * that wait_closed knows when the last one is over.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdwatch.h"
#include "io.h"
#include "server.h"
#include "task.h"

/* Connections accepted per callback, at most: the rest wait for the next
 * iteration, so that a flood of them does not starve the others.
 * (asyncio accepts up to backlog per callback.) */
#define CL__ACCEPT_BATCH 128

/* How long accepting stops after EMFILE (ACCEPT_RETRY_DELAY). */
#define CL__ACCEPT_RETRY_DELAY 1.0

/* One listening socket. */
struct cl__listener {
	struct cl_server *srv;
	int fd;
	int port;
};

/*
 * The server. Its owner holds one reference, and so does each open
 * connection and each running handler task. Only this file touches it.
 */
struct cl_server {
	int refcnt;
	struct cl_loop *loop;
	cl_protocol_factory factory; /* what each connection gets */
	void *factory_arg;
	cl_client_connected_cb fn;   /* start_server's handler, or NULL */
	void *arg;

	struct cl__listener *ls; /* the listening sockets */
	size_t nls;
	int serving;		 /* the accept callbacks are in place */
	int closed;		 /* cl_server_close was called */
	struct cl_handle *retry; /* accepting stopped: the timer that
				    starts it again (a reference) */

	size_t active;		    /* connections not lost yet */
	size_t handlers;	    /* start_server's tasks not finished */
	struct cl__conn *conns;	    /* the open connections */
	struct cl__waiter *closers; /* tasks in wait_closed() */
};

/* An open connection: its transport, from accept to connection_lost. */
struct cl__conn {
	struct cl_server *srv;
	struct cl_transport *t;
	struct cl__conn *prev, *next; /* srv->conns */
};

static void cl__server_decref(struct cl_server *srv)
{
	if (--srv->refcnt > 0)
		return;
	free(srv->ls);
	free(srv);
}

/* _wakeup: closed, and nothing of it left running. */
static void cl__server_maybe_wake(struct cl_server *srv)
{
	if (srv->closed && srv->active == 0 && srv->handlers == 0)
		cl__wake_all(srv->closers, NULL);
}

struct cl__conn *cl__server_attach(struct cl_server *srv,
				   struct cl_transport *t)
{
	struct cl__conn *c = malloc(sizeof *c);

	if (c == NULL)
		return NULL;
	c->srv = srv;
	c->t = t;
	c->prev = NULL;
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	srv->active++;
	srv->refcnt++;
	return c;
}

void cl__server_detach(struct cl__conn *c)
{
	struct cl_server *srv = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
	srv->active--;
	cl__server_maybe_wake(srv);
	cl__server_decref(srv);
}

/* start_server's connections: a handler task for each. */

struct cl__client {
	struct cl_server *srv;
	struct cl_stream *s;
};

/*
 * A connection's task: run the handler, then close the connection and
 * wait until what is buffered is sent. The stream is freed whatever
 * happens; an exception other than the peer going away is reported.
 */
static void *cl__server_client(void *arg)
{
	struct cl__client *c = arg;
	struct cl_server *srv = c->srv;
	struct cl_reader *r = cl__stream_reader(c->s);
	struct cl_writer *w = cl__stream_writer(c->s);
	struct cl_exc *volatile cancelled = NULL;

	free(c);
	CL_TRY {
		srv->fn(r, w, srv->arg);
		cl_writer_close(w);
		cl_writer_wait_closed(w);
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError)) {
			cancelled = e;
		} else {
			if (!cl_exc_matches(e, &cl_ConnectionError))
				fprintf(srv->loop->err,
					"corolab: unhandled exception in "
					"client handler: %s%s%s\n",
					cl_exc_name(e),
					cl_exc_message(e)[0] ? ": " : "",
					cl_exc_message(e));
			cl_exc_decref(e);
		}
	} CL_END_TRY;
	/* Not closed (the handler raised, or was cancelled): freeing the
	 * writer aborts the connection. */
	cl_reader_free(r);
	cl_writer_free(w);
	srv->handlers--;
	cl__server_maybe_wake(srv);
	cl__server_decref(srv);
	if (cancelled != NULL)
		cl_raise(cancelled);
	return NULL;
}

/*
 * StreamReaderProtocol.connection_made, for start_server: the stream
 * is connected, start its handler in a task named after the peer. If
 * that fails, the connection is aborted.
 */
static void cl__server_connected(void *arg, struct cl_stream *s)
{
	struct cl_server *srv = arg;
	struct cl__client *c = malloc(sizeof *c);
	struct cl_task *t = NULL;
	struct sockaddr_storage peer;
	socklen_t len = sizeof peer;
	char name[64] = "client";

	if (getpeername(cl_transport_get_fd(cl__stream_transport(s)),
			(struct sockaddr *)&peer, &len) == 0)
		cl__addr_str((struct sockaddr *)&peer, name, sizeof name, 0);
	if (c != NULL) {
		c->srv = srv;
		c->s = s;
		t = cl_loop_create_task(srv->loop, cl__server_client, c, name);
	}
	if (t == NULL) {
		fprintf(srv->loop->err, "corolab: cannot serve a connection "
					"from %s: %s\n", name, strerror(errno));
		free(c);
		cl_reader_free(cl__stream_reader(s));
		cl_writer_free(cl__stream_writer(s)); /* aborts */
		return;
	}
	cl_task_decref(t); /* the loop keeps it while it runs */
	srv->handlers++;
	srv->refcnt++;
}

static struct cl_protocol *cl__server_stream_factory(void *arg)
{
	return cl__stream_protocol_new(cl__server_connected, arg);
}

/* A new connection on fd: a protocol from the factory, and its
 * transport (asyncio's _accept_connection2, without the task). */
static void cl__server_spawn(struct cl_server *srv, int fd)
{
	struct cl_protocol *p = srv->factory(srv->factory_arg);

	if (p == NULL) {
		close(fd);
		return;
	}
	if (cl__transport_open(srv->loop, fd, p, srv, NULL) == NULL) {
		fprintf(srv->loop->err, "corolab: cannot serve a connection: "
					"%s\n", strerror(errno));
		close(fd);
		/* No transport, so no connection_made: connection_lost is
		 * the protocol's one chance to free itself (transport.h). */
		if (p->ops->connection_lost != NULL)
			p->ops->connection_lost(p, NULL);
	}
}

static void cl__server_accept(void *arg);

static int cl__server_start_serving(struct cl_server *srv)
{
	int err;

	for (size_t i = 0; i < srv->nls; i++) {
		err = cl_loop_add_reader(srv->loop, srv->ls[i].fd,
					 cl__server_accept, &srv->ls[i]);
		if (err < 0)
			return err;
	}
	srv->serving = 1;
	return 0;
}

static void cl__server_stop_serving(struct cl_server *srv)
{
	for (size_t i = 0; i < srv->nls && srv->serving; i++)
		cl_loop_remove_reader(srv->loop, srv->ls[i].fd);
	srv->serving = 0;
}

/* The timer after EMFILE: accept again. */
static void cl__server_retry(void *arg)
{
	struct cl_server *srv = arg;

	cl_handle_decref(srv->retry);
	srv->retry = NULL;
	if (!srv->closed && cl__server_start_serving(srv) < 0)
		fprintf(srv->loop->err, "corolab: server cannot listen "
					"again\n");
}

/*
 * _accept_connection: the listening socket is readable. Accept what is
 * waiting, a batch at most. The socket is non-blocking, so the end of
 * the queue is -EAGAIN (or a fault injected by io.h: either way the
 * callback runs again at the next iteration if more is waiting).
 */
static void cl__server_accept(void *arg)
{
	struct cl__listener *l = arg;
	struct cl_server *srv = l->srv;
	int fd;

	for (int i = 0; i < CL__ACCEPT_BATCH; i++) {
		fd = cl_io_accept(l->fd);
		if (fd >= 0) {
			cl__server_spawn(srv, fd);
			continue;
		}
		switch (-fd) {
		case EINTR:
		case ECONNABORTED: /* the client gave up while queued */
		case EPROTO:
			continue;
		case EAGAIN:
			return;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			/* The connection stays queued and the socket stays
			 * readable: accepting again now would spin. */
			fprintf(srv->loop->err,
				"corolab: accept: %s; not accepting for "
				"%.0f s\n", strerror(-fd),
				CL__ACCEPT_RETRY_DELAY);
			cl__server_stop_serving(srv);
			srv->retry = cl_loop_call_later(srv->loop,
							CL__ACCEPT_RETRY_DELAY,
							cl__server_retry, srv);
			if (srv->retry != NULL)
				cl_handle_incref(srv->retry);
			return;
		default:
			fprintf(srv->loop->err, "corolab: accept: %s\n",
				strerror(-fd));
			return;
		}
	}
}

/* One listening socket for ai: fd, or -errno with *msg set. */
static int cl__listen_on(const struct addrinfo *ai, int reuse_port,
			 char *msg, size_t size)
{
	int fd, one = 1, err;
	char where[96];
	size_t n;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
			   SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		err = errno;
		snprintf(msg, size, "%s", strerror(err));
		return -err;
	}
	/* As create_server: reuse_address on POSIX, and an IPv6 socket
	 * that does not also take the IPv4 port (its own socket does). */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* reuse_port=True: several sockets, one per process, may bind the
	 * same port, and the kernel spreads the connections over them. */
	if (reuse_port &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
		err = errno;
		snprintf(msg, size, "%s", strerror(err));
		close(fd);
		return -err;
	}
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		err = errno;
		cl__addr_str(ai->ai_addr, where, sizeof where, 1);
		/* As create_server words it, strerror in lower case. */
		n = snprintf(msg, size, "error while attempting to bind on "
					"address %s: ", where);
		for (const char *p = strerror(err); *p && n + 1 < size; p++)
			msg[n++] = (char)tolower((unsigned char)*p);
		msg[n] = '\0';
		close(fd);
		return -err;
	}
	/* The kernel caps the backlog at net.core.somaxconn. asyncio asks
	 * for 100, which a burst of connections overflows. */
	if (listen(fd, SOMAXCONN) < 0) {
		err = errno;
		snprintf(msg, size, "%s", strerror(err));
		close(fd);
		return -err;
	}
	return fd;
}

/* create_server with the server's handler set: a new server listening
 * on host:port, serving at once. */
static struct cl_server *cl__server_new(struct cl_loop *loop,
					cl_protocol_factory f, void *farg,
					cl_client_connected_cb fn, void *arg,
					const char *host, int port,
					int reuse_port)
{
	struct addrinfo hints = { 0 }, *res, *ai;
	struct cl_server *srv;
	struct sockaddr_storage ss;
	socklen_t len;
	char service[16], msg[256];
	size_t n = 0;
	int err, fd;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(service, sizeof service, "%d", port);
	err = getaddrinfo(host, service, &hints, &res);
	if (err != 0)
		cl_raise(cl_exc_new(&cl_OSError, "[Errno %d] %s", err,
				    gai_strerror(err)));
	for (ai = res; ai != NULL; ai = ai->ai_next)
		n++;
	srv = calloc(1, sizeof *srv);
	if (srv != NULL)
		srv->ls = calloc(n, sizeof *srv->ls);
	if (srv == NULL || srv->ls == NULL) {
		freeaddrinfo(res);
		free(srv);
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	}
	srv->refcnt = 1;
	srv->loop = loop;
	loop->nservers++; /* until closed (chapter 09) */
	srv->factory = f;
	srv->factory_arg = farg;
	srv->fn = fn;
	srv->arg = arg;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = cl__listen_on(ai, reuse_port, msg, sizeof msg);
		if (fd < 0) {
			err = fd;
			goto fail;
		}
		len = sizeof ss;
		getsockname(fd, (struct sockaddr *)&ss, &len);
		srv->ls[srv->nls].srv = srv;
		srv->ls[srv->nls].fd = fd;
		srv->ls[srv->nls].port = ntohs(
			ss.ss_family == AF_INET6
				? ((struct sockaddr_in6 *)&ss)->sin6_port
				: ((struct sockaddr_in *)&ss)->sin_port);
		srv->nls++;
	}
	freeaddrinfo(res);
	res = NULL;
	err = cl__server_start_serving(srv);
	if (err < 0) {
		snprintf(msg, sizeof msg, "%s", strerror(-err));
		goto fail;
	}
	return srv;
fail:
	if (res != NULL)
		freeaddrinfo(res);
	cl__server_stop_serving(srv);
	for (size_t i = 0; i < srv->nls; i++)
		close(srv->ls[i].fd);
	loop->nservers--;
	cl__server_decref(srv);
	cl_raise(cl_os_error(err, msg));
}

void cl_loop_create_server(struct cl_loop *loop, cl_protocol_factory f,
			   void *arg, const char *host, int port,
			   struct cl_server **out)
{
	if (loop == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "no running event loop"));
	*out = cl__server_new(loop, f, arg, NULL, NULL, host, port, 0);
}

void cl_loop_create_server_reuse_port(struct cl_loop *loop,
				      cl_protocol_factory f, void *arg,
				      const char *host, int port,
				      struct cl_server **out)
{
	if (loop == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "no running event loop"));
	*out = cl__server_new(loop, f, arg, NULL, NULL, host, port, 1);
}

void cl_start_server(const char *host, int port, cl_client_connected_cb fn,
		     void *arg, struct cl_server **out)
{
	struct cl_loop *loop = cl_get_running_loop();

	if (loop == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "no running event loop"));
	*out = cl__server_new(loop, cl__server_stream_factory, NULL, fn, arg,
			      host, port, 0);
	/* The stream factory's argument is the server itself. Nothing
	 * is accepted before the loop runs the accept callback. */
	(*out)->factory_arg = *out;
}

int cl_server_port(const struct cl_server *srv)
{
	return srv->nls > 0 ? srv->ls[0].port : -1;
}

int cl_server_is_serving(const struct cl_server *srv)
{
	return srv->serving && !srv->closed;
}

size_t cl_server_nconnections(const struct cl_server *srv)
{
	return srv->active;
}

void cl_server_close(struct cl_server *srv)
{
	if (srv->closed)
		return;
	srv->closed = 1;
	srv->loop->nservers--;
	cl__server_stop_serving(srv);
	for (size_t i = 0; i < srv->nls; i++)
		close(srv->ls[i].fd);
	if (srv->retry != NULL) {
		cl_handle_cancel(srv->retry);
		cl_handle_decref(srv->retry);
		srv->retry = NULL;
	}
	cl__server_maybe_wake(srv);
}

void cl_server_close_clients(struct cl_server *srv)
{
	for (struct cl__conn *c = srv->conns; c != NULL; c = c->next)
		cl_transport_close(c->t);
}

void cl_server_abort_clients(struct cl_server *srv)
{
	struct cl__conn *c, *next;

	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		cl_transport_abort(c->t);
	}
}

void cl_server_wait_closed(struct cl_server *srv)
{
	if (srv->closed && srv->active == 0 && srv->handlers == 0)
		return;
	cl__wait_on(&srv->closers, CL_WHAT_FUTURE, 0);
}

void cl_server_free(struct cl_server *srv)
{
	if (srv == NULL)
		return;
	cl_server_close(srv);
	cl__server_decref(srv);
}
