/*
 * cb_echo.c - an echo server on corolab's loop with no task and no
 * stream: a readiness callback per connection, as uv_echo.c is written.
 *
 *	cb_echo ADDRESS PORT
 *
 * Listens on ADDRESS:PORT (IPv4; port 0 picks a free one) and writes back
 * every byte each client sends, until SIGTERM or SIGINT. The first line
 * on stdout is "listening ADDRESS:PORT", with the port actually bound.
 *
 * It is not how the chapters write a server: it is what echo.sh runs to
 * split the difference between corolab's echo server and libuv's in two.
 * This one uses the same loop, poller, handles and watches as
 * chapter 04's echo_server, and nothing above them: no task, no
 * generator, no context switch, no future, no stream. asyncio offers
 * the same two levels, a Protocol's data_received called by the loop
 * (Lib/asyncio/selector_events.py, _SelectorSocketTransport._read_ready)
 * and the streams built over it (Lib/asyncio/streams.py). What this
 * server costs beyond libuv is the loop; what echo_server costs beyond
 * this one is the task and the stream.
 *
 * Written like uv_echo.c, for speed:
 *	- one read buffer for the whole server: the callback reads and
 *	  writes back before returning, so no connection needs its own;
 *	- the write goes straight to the socket; only what the socket does
 *	  not take is copied into the connection, and then reading stops
 *	  and a writer callback sends the rest (back-pressure, as uv_echo
 *	  stops reading while a write is queued);
 *	- one read per readiness: with a 64 KiB buffer it nearly always
 *	  empties the socket, and watching is level-triggered, so the next
 *	  poll says if it did not.
 *
 * At SIGTERM or SIGINT it stops listening and exits; the connections
 * still open go with the process.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdwatch.h"
#include "run.h"
#include "sock.h"

#define READ_BUF 65536

static char readbuf[READ_BUF];
static struct cl_loop *loop;
static int sig_pipe[2];

/* A connection: its socket, and what the socket did not take yet. */
struct conn {
	int fd;
	char *pending;
	size_t npending;
};

static void on_readable(void *arg);

static void conn_close(struct conn *c)
{
	cl_loop_remove_reader(loop, c->fd);
	cl_loop_remove_writer(loop, c->fd);
	close(c->fd);
	free(c->pending);
	free(c);
}

/* The socket has room again: send what is pending, then read again. */
static void on_writable(void *arg)
{
	struct conn *c = arg;
	ssize_t n;

	n = send(c->fd, c->pending, c->npending, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c);
		return;
	}
	c->npending -= (size_t)n;
	memmove(c->pending, c->pending + n, c->npending);
	if (c->npending > 0)
		return;
	free(c->pending);
	c->pending = NULL;
	cl_loop_remove_writer(loop, c->fd);
	if (cl_loop_add_reader(loop, c->fd, on_readable, c) < 0)
		conn_close(c);
}

/* Keep the n bytes the socket did not take, and wait until it can. */
static void conn_hold(struct conn *c, const char *p, size_t n)
{
	c->pending = malloc(n);
	if (c->pending == NULL) {
		conn_close(c);
		return;
	}
	memcpy(c->pending, p, n);
	c->npending = n;
	cl_loop_remove_reader(loop, c->fd);
	if (cl_loop_add_writer(loop, c->fd, on_writable, c) < 0)
		conn_close(c);
}

static void on_readable(void *arg)
{
	struct conn *c = arg;
	ssize_t n, sent;

	n = read(c->fd, readbuf, sizeof readbuf);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			conn_close(c); /* EOF, or the connection is over */
		return;
	}
	sent = send(c->fd, readbuf, (size_t)n, MSG_NOSIGNAL);
	if (sent == n)
		return;
	if (sent < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			conn_close(c);
			return;
		}
		sent = 0;
	}
	conn_hold(c, readbuf + sent, (size_t)(n - sent));
}

static void on_accept(void *arg)
{
	int lfd = (int)(long)arg, fd, one = 1;
	struct conn *c;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
	       0) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c = calloc(1, sizeof *c);
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		if (cl_loop_add_reader(loop, fd, on_readable, c) < 0) {
			close(fd);
			free(c);
		}
	}
}

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	if (write(sig_pipe[1], &b, 1) < 0) {
		/* full: a signal is already waiting to be seen */
	}
	errno = saved;
}

struct where {
	const char *host;
	int port;
};

/* The main task: listen, then wait for a signal while callbacks serve. */
static void *serve(void *arg)
{
	struct where *at = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int lfd, one = 1;
	unsigned char b;

	loop = cl_get_running_loop();
	sa.sin_port = htons((uint16_t)at->port);
	if (inet_pton(AF_INET, at->host, &sa.sin_addr) != 1) {
		fprintf(stderr, "cb_echo: %s: not an IPv4 address\n", at->host);
		exit(1);
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(lfd, SOMAXCONN) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
		perror("cb_echo: listen");
		exit(1);
	}
	if (cl_loop_add_reader(loop, lfd, on_accept, (void *)(long)lfd) < 0) {
		fprintf(stderr, "cb_echo: cannot watch the listening socket\n");
		exit(1);
	}
	printf("listening %s:%d\n", at->host, ntohs(sa.sin_port));
	fflush(stdout);
	while (read(sig_pipe[0], &b, 1) != 1)
		if (cl_wait_readable(sig_pipe[0]) < 0)
			break;
	cl_loop_remove_reader(loop, lfd);
	close(lfd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct where at;
	void *res;

	if (argc != 3) {
		fprintf(stderr, "usage: cb_echo ADDRESS PORT\n");
		return 2;
	}
	at.host = argv[1];
	at.port = atoi(argv[2]);
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		perror("cb_echo: pipe2");
		return 1;
	}
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	return cl_run(serve, &at, &res) == 0 ? 0 : 1;
}
