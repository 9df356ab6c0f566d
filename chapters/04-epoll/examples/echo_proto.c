/*
 * echo_proto.c - an echo server on the protocol layer: no task, no stream.
 *
 *	echo_proto HOST PORT	serve until SIGTERM or SIGINT (PORT 0: the
 *				kernel picks one; the first line printed,
 *				"listening on HOST:PORT", says which)
 *	echo_proto		show it: serve on 127.0.0.1, talk to it from
 *				a client protocol, then send ourselves
 *				SIGTERM
 *
 * echo_server.c's twin, one layer down. There each connection has a
 * task that reads and writes; here it has a protocol, a few callbacks
 * the connection's transport calls from the loop (transport.h):
 *
 *	class Echo(asyncio.Protocol):
 *	    def connection_made(self, transport):
 *	        self.transport = transport
 *	    def data_received(self, data):
 *	        self.transport.write(data)
 *	    def pause_writing(self):
 *	        self.transport.pause_reading()
 *	    def resume_writing(self):
 *	        self.transport.resume_reading()
 *
 *	srv = await loop.create_server(Echo, host, port)
 *
 * Why pause and resume reading. write() never waits: what the socket
 * will not take is kept in the transport's buffer. A client that sends
 * and never reads would have us buffer everything it sends, without
 * bound. The streams' answer is drain(), where the handler's task
 * waits; a callback cannot wait, so the protocol does the next best
 * thing: when the transport says its buffer went over the high-water
 * mark (pause_writing) it stops reading that client, and it starts
 * again when the buffer is back down (resume_writing). Meanwhile the
 * client's bytes stay in the kernel's buffers, which fill, and TCP
 * stops the client. The most we hold for one connection is the
 * high-water mark (64 KiB) plus one read (256 KiB).
 *
 * SIGTERM and SIGINT come in through a self-pipe, as in echo_server.c;
 * the main task waits on it, then stops listening, closes the
 * connections (their buffers are sent first) and waits until every one
 * is lost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "run.h"
#include "server.h"
#include "sock.h"
#include "task.h"

/* SIGTERM and SIGINT through a self-pipe: see echo_server.c. */
static int sig_pipe[2];

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	if (write(sig_pipe[1], &b, 1) < 0) {
		/* full: a signal is already waiting to be seen */
	}
	errno = saved;
}

/* In a task: wait until SIGTERM or SIGINT comes; its number. */
static int wait_for_signal(void)
{
	unsigned char b;

	while (read(sig_pipe[0], &b, 1) != 1)
		if (cl_wait_readable(sig_pipe[0]) < 0)
			return -1;
	return b;
}

static int catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, NULL) < 0 ||
	    sigaction(SIGINT, &sa, NULL) < 0)
		return -1;
	return 0;
}

/* The server's protocol: one per connection, made by new_echo. */
struct echo {
	struct cl_protocol base; /* first: the transport calls it */
	struct cl_transport *t;	 /* borrowed: valid until connection_lost */
};

static void echo_made(struct cl_protocol *p, struct cl_transport *t)
{
	((struct echo *)p)->t = t;
}

static void echo_data(struct cl_protocol *p, const char *data, size_t n)
{
	cl_transport_write(((struct echo *)p)->t, data, n);
}

/* The client is done sending: 0 lets the transport close once what is
 * buffered has gone out. */
static int echo_eof(struct cl_protocol *p)
{
	(void)p;
	return 0;
}

/* Flow control: the client reads slower than it sends. */
static void echo_pause_writing(struct cl_protocol *p)
{
	cl_transport_pause_reading(((struct echo *)p)->t);
}

static void echo_resume_writing(struct cl_protocol *p)
{
	cl_transport_resume_reading(((struct echo *)p)->t);
}

static void echo_lost(struct cl_protocol *p, struct cl_exc *exc)
{
	(void)exc; /* a reset or a broken pipe: the client's business */
	free(p);
}

static const struct cl_protocol_ops echo_ops = {
	.connection_made = echo_made,
	.data_received = echo_data,
	.eof_received = echo_eof,
	.pause_writing = echo_pause_writing,
	.resume_writing = echo_resume_writing,
	.connection_lost = echo_lost,
};

/* The protocol factory: Echo(). NULL (out of memory) refuses the
 * connection. */
static struct cl_protocol *new_echo(void *arg)
{
	struct echo *e = calloc(1, sizeof *e);

	(void)arg;
	if (e == NULL)
		return NULL;
	e->base.ops = &echo_ops;
	return &e->base;
}

/*
 * The show: a client that is a protocol too, driven by what comes back.
 * connection_made sends the first line; each echo that completes a line
 * sends the next; after the last, it asks the server to stop. The task
 * that made the connection waits for connection_lost on a future, as
 * asyncio's examples do with on_con_lost.
 */
static const char *const lines[] = { "hello\n", "corolab\n", "bye\n" };

struct client {
	struct cl_protocol base;
	struct cl_transport *t;
	int next;		/* lines[next] is the one in flight */
	char got[64];		/* its echo so far */
	size_t len;
	struct cl_future *lost; /* done at connection_lost */
};

static void client_send(struct client *c)
{
	cl_transport_write(c->t, lines[c->next], strlen(lines[c->next]));
}

static void client_made(struct cl_protocol *p, struct cl_transport *t)
{
	struct client *c = (struct client *)p;

	c->t = t;
	client_send(c);
}

static void client_data(struct cl_protocol *p, const char *data, size_t n)
{
	struct client *c = (struct client *)p;
	const char *sent;

	/* The echo may come in pieces: keep them until its newline. */
	for (size_t i = 0; i < n; i++) {
		if (c->len < sizeof c->got)
			c->got[c->len++] = data[i];
		if (data[i] != '\n' || c->next == 3)
			continue;
		sent = lines[c->next];
		printf("client: sent %.*s, got back %.*s\n",
		       (int)strlen(sent) - 1, sent, (int)c->len - 1, c->got);
		c->len = 0;
		if (++c->next < 3) {
			client_send(c);
		} else {
			printf("client: sending SIGTERM to the server, "
			       "staying connected\n");
			raise(SIGTERM);
		}
	}
}

static void client_lost(struct cl_protocol *p, struct cl_exc *exc)
{
	struct client *c = (struct client *)p;

	printf("client: connection lost (%s): the server closed it\n",
	       exc == NULL ? "cleanly" : cl_exc_name(exc));
	cl_future_set_result(c->lost, NULL);
}

static const struct cl_protocol_ops client_ops = {
	.connection_made = client_made,
	.data_received = client_data,
	.connection_lost = client_lost,
};

static struct cl_protocol *new_client(void *arg)
{
	return &((struct client *)arg)->base;
}

struct where {
	const char *host;
	int port;
	int show;
};

/*
 * The grace period of a stop: close_clients sends what is buffered
 * first, and a client that never reads would keep its connection, and
 * us, waiting for ever. After GRACE seconds what is left is aborted.
 */
#define GRACE 1.0

static void abort_clients(void *srv)
{
	cl_server_abort_clients(srv);
}

static void *serve(void *arg)
{
	struct where *at = arg;
	struct cl_loop *loop = cl_get_running_loop();
	struct client c = { .base.ops = &client_ops };
	struct cl_transport *ct = NULL;
	struct cl_protocol *cp;
	struct cl_server *srv;
	struct cl_handle *grace;
	int sig;

	cl_loop_create_server(loop, new_echo, NULL, at->host, at->port, &srv);
	printf("echo_proto: listening on %s:%d\n", at->host,
	       cl_server_port(srv));
	fflush(stdout);
	if (at->show) {
		c.lost = cl_future_new(loop);
		if (c.lost == NULL)
			cl_raise(cl_exc_new(&cl_MemoryError, NULL));
		cl_loop_create_connection(loop, new_client, &c, "127.0.0.1",
					  cl_server_port(srv), &ct, &cp);
	}
	sig = wait_for_signal();
	printf("echo_proto: %s: closing %zu connection%s\n",
	       sig == SIGINT ? "SIGINT" : "SIGTERM", cl_server_nconnections(srv),
	       cl_server_nconnections(srv) == 1 ? "" : "s");
	cl_server_close(srv);
	cl_server_close_clients(srv);
	grace = cl_handle_incref(cl_loop_call_later(loop, GRACE,
						    abort_clients, srv));
	cl_server_wait_closed(srv);
	cl_handle_cancel(grace);
	cl_handle_decref(grace);
	cl_server_free(srv);
	if (ct != NULL) {
		cl_await(c.lost); /* the client sees the close */
		cl_future_decref(c.lost);
		cl_transport_decref(ct);
	}
	printf("echo_proto: stopped\n");
	return NULL;
}

int main(int argc, char **argv)
{
	struct where at = { "127.0.0.1", 0, 1 };
	struct rlimit rl;
	void *out;
	int st;

	if (argc == 3) {
		at = (struct where){ argv[1], atoi(argv[2]), 0 };
	} else if (argc != 1) {
		fprintf(stderr, "usage: echo_proto [HOST PORT]\n");
		return 2;
	}
	/* One descriptor per connection: allow as many as we may. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (catch_signals() < 0) {
		perror("echo_proto");
		return 1;
	}
	st = cl_run(serve, &at, &out);
	if (st == CL_RUN_RAISED) {
		fprintf(stderr, "echo_proto: %s: %s\n", cl_exc_name(out),
			cl_exc_message(out));
		cl_exc_decref(out);
		return 1;
	}
	return st == 0 ? 0 : 1;
}
