/*
 * echo_client.c - a stream client: lines out, echoes back.
 *
 *	echo_client HOST PORT [LINE...]	send each LINE ("hello" if none)
 *					to an echo server, print the echoes
 *	echo_client			show it against an echo server of
 *					its own, on 127.0.0.1
 *
 *	reader, writer = await asyncio.open_connection(host, port)
 *	for line in lines:
 *	    writer.write(line + b"\n")
 *	    await writer.drain()
 *	    print(await reader.readline())
 *	writer.close()
 *	await writer.wait_closed()
 *
 * The show does three things. It talks line by line, waiting for each
 * echo. It then pipelines: 10000 lines written without waiting for any
 * echo, 10 MB in all, with a drain() after each write: the socket
 * soon takes no more, the writer's buffer grows, and past the
 * high-water mark drain() waits, so the buffer never holds much more
 * than that however far the server falls behind. A second task reads
 * the echoes meanwhile. Last, it stops the server and connects again,
 * to show the error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "server.h"
#include "task.h"

/* Send each line, wait for its echo, print it. */
static void talk(const char *host, int port, char **lines, int n)
{
	struct cl_reader *r;
	struct cl_writer *w;
	const char *echo;
	size_t len;

	cl_open_connection(host, port, &r, &w);
	for (int i = 0; i < n; i++) {
		cl_writer_write(w, lines[i], strlen(lines[i]));
		cl_writer_write(w, "\n", 1);
		cl_writer_drain(w);
		echo = cl_reader_readline(r, &len);
		if (len == 0) {
			printf("the server closed the connection\n");
			break;
		}
		printf("sent %s, got back %.*s\n", lines[i], (int)len - 1,
		       echo);
	}
	cl_writer_close(w);
	cl_writer_wait_closed(w);
	cl_reader_free(r);
	cl_writer_free(w);
}

/* For the show: a server that echoes, as echo_server.c's. */
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

#define NLINES 10000
#define LINE_LEN 1000 /* bytes, with the newline */

/* Line i: "line i " padded with dots to LINE_LEN, and a newline. */
static void make_line(char *buf, int i)
{
	int n = snprintf(buf, LINE_LEN, "line %d ", i);

	memset(buf + n, '.', LINE_LEN - 1 - n);
	buf[LINE_LEN - 1] = '\n';
	buf[LINE_LEN] = '\0';
}

/* Pipelining: the reading half, in a task of its own. */
static void *read_echoes(void *arg)
{
	struct cl_reader *r = arg;
	size_t len, bytes = 0;
	int lines = 0;
	char want[LINE_LEN + 1];

	while (lines < NLINES) {
		const char *line = cl_reader_readline(r, &len);

		make_line(want, lines);
		if (len != LINE_LEN || memcmp(line, want, len) != 0)
			break;
		lines++;
		bytes += len;
	}
	printf("reader: %d of %d echoes back, in order (%zu bytes)\n", lines,
	       NLINES, bytes);
	return NULL;
}

static void pipeline(int port)
{
	struct cl_reader *r;
	struct cl_writer *w;
	struct cl_task *t;
	size_t most = 0, size;
	char line[LINE_LEN + 1];

	cl_open_connection("127.0.0.1", port, &r, &w);
	t = cl_create_task(read_echoes, r, "reader");
	for (int i = 0; i < NLINES; i++) {
		make_line(line, i);
		cl_writer_write(w, line, LINE_LEN);
		size = cl_writer_get_write_buffer_size(w);
		if (size > most)
			most = size;
		cl_writer_drain(w);
	}
	printf("writer: %d lines of %d bytes written; the most ever "
	       "buffered: %zu bytes (high-water mark %d)\n", NLINES,
	       LINE_LEN, most, CL_TRANSPORT_HIGH_WATER);
	cl_await_task(t);
	cl_task_decref(t);
	cl_writer_close(w);
	cl_writer_wait_closed(w);
	cl_reader_free(r);
	cl_writer_free(w);
}

static void *show(void *arg)
{
	static char *lines[] = { "hello", "corolab", "bye" };
	struct cl_server *srv;
	int port;

	(void)arg;
	cl_start_server("127.0.0.1", 0, echo, NULL, &srv);
	port = cl_server_port(srv);
	printf("an echo server is listening on 127.0.0.1:%d\n", port);
	talk("127.0.0.1", port, lines, 3);
	pipeline(port);
	cl_server_close(srv);
	cl_server_wait_closed(srv);
	cl_server_free(srv);
	printf("server closed; connecting again:\n");
	CL_TRY {
		talk("127.0.0.1", port, lines, 1);
	} CL_CATCH(e) {
		printf("%s: %s\n", cl_exc_name(e), cl_exc_message(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	return NULL;
}

struct args {
	const char *host;
	int port;
	char **lines;
	int n;
};

static void *client(void *arg)
{
	struct args *a = arg;

	talk(a->host, a->port, a->lines, a->n);
	return NULL;
}

int main(int argc, char **argv)
{
	static char *hello[] = { "hello" };
	struct args a = { NULL, 0, hello, 1 };
	void *out;
	int st;

	if (argc == 1) {
		st = cl_run(show, NULL, &out);
	} else if (argc >= 3) {
		a.host = argv[1];
		a.port = atoi(argv[2]);
		if (argc > 3) {
			a.lines = argv + 3;
			a.n = argc - 3;
		}
		st = cl_run(client, &a, &out);
	} else {
		fprintf(stderr, "usage: echo_client [HOST PORT [LINE...]]\n");
		return 2;
	}
	if (st == CL_RUN_RAISED) {
		fprintf(stderr, "echo_client: %s: %s\n", cl_exc_name(out),
			cl_exc_message(out));
		cl_exc_decref(out);
		return 1;
	}
	return st == 0 ? 0 : 1;
}
