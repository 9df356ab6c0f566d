/*
 * echo_server.c - an echo server on streams, stopped cleanly by SIGTERM.
 *
 *	echo_server HOST PORT	serve until SIGTERM or SIGINT (PORT 0: the
 *				kernel picks one; the first line printed,
 *				"listening on HOST:PORT", says which)
 *	echo_server		show it: serve on 127.0.0.1, talk to it from
 *				a client task, then send ourselves SIGTERM
 *
 * Each connection gets a task that reads what comes and writes it back:
 *
 *	async def echo(reader, writer):
 *	    while data := await reader.read(16384):
 *	        writer.write(data)
 *	        await writer.drain()
 *
 * A signal handler may not touch the loop: it could interrupt it
 * anywhere. It writes the signal's number into a pipe, the "self-pipe",
 * and the main task waits for that pipe to be readable like any other
 * descriptor (loop.add_signal_handler does the same with
 * signal.set_wakeup_fd). Then it stops listening, closes the
 * connections, waits for their handlers and returns: a clean exit.
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

static void echo(struct cl_reader *r, struct cl_writer *w, void *arg)
{
	char buf[16384];
	size_t n;

	(void)arg;
	while ((n = cl_reader_read(r, buf, sizeof buf)) > 0) {
		cl_writer_write(w, buf, n);
		cl_writer_drain(w);
	}
}

/* The show: a client that talks, then asks us to stop. */
static void *client(void *arg)
{
	static const char *const lines[] = { "hello\n", "corolab\n",
					      "bye\n" };
	struct cl_reader *r;
	struct cl_writer *w;
	const char *line;
	size_t n;

	cl_open_connection("127.0.0.1", CL_TOINT(arg), &r, &w);
	for (int i = 0; i < 3; i++) {
		cl_writer_write(w, lines[i], strlen(lines[i]));
		cl_writer_drain(w);
		line = cl_reader_readline(r, &n);
		printf("client: sent %.*s, got back %.*s\n",
		       (int)strlen(lines[i]) - 1, lines[i], (int)n - 1, line);
	}
	printf("client: sending SIGTERM to the server, staying connected\n");
	raise(SIGTERM);
	line = cl_reader_readline(r, &n);
	printf("client: read %zu bytes: the server closed the connection\n",
	       n);
	cl_writer_close(w);
	cl_writer_wait_closed(w);
	cl_reader_free(r);
	cl_writer_free(w);
	return NULL;
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
	struct cl_server *srv;
	struct cl_handle *grace;
	struct cl_task *t = NULL;
	int sig;

	cl_start_server(at->host, at->port, echo, NULL, &srv);
	printf("echo_server: listening on %s:%d\n", at->host,
	       cl_server_port(srv));
	fflush(stdout);
	if (at->show)
		t = cl_create_task(client, CL_INT(cl_server_port(srv)),
				   "client");
	sig = wait_for_signal();
	printf("echo_server: %s: closing %zu connection%s\n",
	       sig == SIGINT ? "SIGINT" : "SIGTERM", cl_server_nconnections(srv),
	       cl_server_nconnections(srv) == 1 ? "" : "s");
	cl_server_close(srv);
	cl_server_close_clients(srv);
	grace = cl_handle_incref(cl_loop_call_later(cl_get_running_loop(),
						    GRACE, abort_clients, srv));
	cl_server_wait_closed(srv);
	cl_handle_cancel(grace);
	cl_handle_decref(grace);
	cl_server_free(srv);
	if (t != NULL) {
		cl_await_task(t);
		cl_task_decref(t);
	}
	printf("echo_server: stopped\n");
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
		fprintf(stderr, "usage: echo_server [HOST PORT]\n");
		return 2;
	}
	/* One descriptor per connection: allow as many as we may. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (catch_signals() < 0) {
		perror("echo_server");
		return 1;
	}
	st = cl_run(serve, &at, &out);
	if (st == CL_RUN_RAISED) {
		fprintf(stderr, "echo_server: %s: %s\n", cl_exc_name(out),
			cl_exc_message(out));
		cl_exc_decref(out);
		return 1;
	}
	return st == 0 ? 0 : 1;
}
