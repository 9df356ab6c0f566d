/*
 * uv_echo.c - the libuv echo server that corolab's is measured against.
 *
 *	uv_echo ADDRESS PORT
 *
 * Listens on ADDRESS:PORT (IPv4; port 0 picks a free one) and writes back
 * every byte each client sends, until SIGTERM or SIGINT. The first line
 * on stdout is "listening ADDRESS:PORT", with the port actually bound.
 *
 * It is written the way a libuv programmer who cares about speed would,
 * so that the comparison is with libuv at its best, not with its tutorial:
 *
 *	- One read buffer for the whole server. libuv asks for a buffer
 *	  (on_alloc) right before each read() and hands it back in on_read
 *	  before asking again, so one static buffer serves every
 *	  connection, with no malloc per read (libuv's own
 *	  test/benchmark-pump.c and Node's slab allocator do the same).
 *	- uv_try_write first: on loopback the socket almost always takes
 *	  the whole echo at once, and then nothing is allocated or queued.
 *	  Only what it does not take is copied into a uv_write request.
 *	- Reading stops while a write is queued, and starts again when it
 *	  is done, so a client that does not read cannot make the server
 *	  buffer without bound (the same back-pressure corolab's streams
 *	  give with write/drain).
 *	- The listen backlog is SOMAXCONN, so 10,000 clients connecting at
 *	  once are not dropped and retried.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#define READ_BUF 65536

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigterm, sigint;
static char readbuf[READ_BUF];

/* A write that uv_try_write could not finish: the rest, copied. */
struct write_req {
	uv_write_t req;
	uv_buf_t buf;
	char data[];
};

static void on_close(uv_handle_t *h)
{
	free(h);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(readbuf, READ_BUF);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_write(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	uv_stream_t *s = req->handle;

	free(w);
	if (status < 0) {
		if (!uv_is_closing((uv_handle_t *)s))
			uv_close((uv_handle_t *)s, on_close);
		return;
	}
	uv_read_start(s, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct write_req *w;
	uv_buf_t b;
	int done;

	if (n < 0) { /* UV_EOF or an error: the connection is over */
		uv_close((uv_handle_t *)s, on_close);
		return;
	}
	if (n == 0)
		return;
	b = uv_buf_init(buf->base, (unsigned int)n);
	done = uv_try_write(s, &b, 1);
	if (done == n)
		return;
	if (done < 0 && done != UV_EAGAIN) {
		uv_close((uv_handle_t *)s, on_close);
		return;
	}
	if (done < 0)
		done = 0;
	w = malloc(sizeof(*w) + (n - done));
	if (w == NULL) {
		uv_close((uv_handle_t *)s, on_close);
		return;
	}
	memcpy(w->data, buf->base + done, n - done);
	w->buf = uv_buf_init(w->data, (unsigned int)(n - done));
	uv_read_stop(s);
	if (uv_write(&w->req, s, &w->buf, 1, on_write) < 0) {
		free(w);
		uv_close((uv_handle_t *)s, on_close);
	}
}

static void on_connection(uv_stream_t *srv, int status)
{
	uv_tcp_t *c;

	if (status < 0)
		return;
	c = malloc(sizeof(*c));
	if (c == NULL)
		return;
	uv_tcp_init(loop, c);
	if (uv_accept(srv, (uv_stream_t *)c) < 0) {
		uv_close((uv_handle_t *)c, on_close);
		return;
	}
	uv_tcp_nodelay(c, 1);
	uv_read_start((uv_stream_t *)c, on_alloc, on_read);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)h;
	(void)signum;
	uv_stop(loop);
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	int len = sizeof(bound), err;
	char host[64];

	if (argc != 3) {
		fprintf(stderr, "usage: uv_echo ADDRESS PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	loop = uv_default_loop();
	if ((err = uv_ip4_addr(argv[1], atoi(argv[2]), &addr)) < 0 ||
	    (err = uv_tcp_init(loop, &server)) < 0 ||
	    (err = uv_tcp_bind(&server, (struct sockaddr *)&addr, 0)) < 0 ||
	    (err = uv_listen((uv_stream_t *)&server, SOMAXCONN,
			     on_connection)) < 0) {
		fprintf(stderr, "uv_echo: %s:%s: %s\n", argv[1], argv[2],
			uv_strerror(err));
		return 1;
	}
	uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
	uv_ip4_name((struct sockaddr_in *)&bound, host, sizeof(host));
	printf("listening %s:%d\n", host,
	       ntohs(((struct sockaddr_in *)&bound)->sin_port));
	fflush(stdout);

	uv_signal_init(loop, &sigterm);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_init(loop, &sigint);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_run(loop, UV_RUN_DEFAULT);
	return 0;
}
