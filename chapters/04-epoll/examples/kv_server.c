/*
 * kv_server.c - a tiny key-value server: one line per command.
 *
 *	kv_server HOST PORT	serve until SIGTERM or SIGINT (PORT 0: the
 *				kernel picks one; "listening on HOST:PORT")
 *	kv_server		show it: serve on 127.0.0.1 and play a
 *				session from two client tasks, then stop
 *
 * The protocol, over TCP, one command a line, one reply a line:
 *
 *	SET key value	-> OK			(value: the rest of the line)
 *	GET key		-> VALUE value  or  NOT_FOUND
 *	DEL key		-> OK  or  NOT_FOUND
 *	anything else	-> ERROR unknown command, ERROR usage: ...
 *	a line over 1 KiB -> ERROR line too long (and the line is dropped)
 *
 * Try it with nc: "nc 127.0.0.1 PORT", then type SET color blue.
 *
 * Each connection's task reads lines with readline; every client shares
 * one table, which needs no lock: tasks switch only at an await, never
 * in the middle of a command. A line longer than the reader's limit is
 * where a server without one would run out of memory: here readline
 * raises ValueError, the line is dropped, and the connection goes on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "run.h"
#include "server.h"
#include "sock.h"
#include "task.h"

#define KV_LINE_MAX 1024 /* the reader's limit */
#define KV_BUCKETS 1024

/* The table: chained hashing, keys and values are strings. */
struct entry {
	struct entry *next;
	char *key, *value;
};

static struct entry *table[KV_BUCKETS];

static struct entry **kv_find(const char *key)
{
	uint32_t h = 2166136261u;
	struct entry **pp;

	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (pp = &table[h % KV_BUCKETS]; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->key, key) == 0)
			break;
	return pp;
}

static void kv_set(const char *key, const char *value)
{
	struct entry **pp = kv_find(key), *e = *pp;

	if (e == NULL) {
		e = calloc(1, sizeof *e);
		e->key = strdup(key);
		*pp = e;
	}
	free(e->value);
	e->value = strdup(value);
}

static int kv_del(const char *key)
{
	struct entry **pp = kv_find(key), *e = *pp;

	if (e == NULL)
		return 0;
	*pp = e->next;
	free(e->key);
	free(e->value);
	free(e);
	return 1;
}

static void kv_clear(void)
{
	for (int i = 0; i < KV_BUCKETS; i++)
		while (table[i] != NULL)
			kv_del(table[i]->key);
}

static void reply(struct cl_writer *w, const char *a, const char *b)
{
	cl_writer_write(w, a, strlen(a));
	cl_writer_write(w, b, strlen(b));
	cl_writer_write(w, "\n", 1);
}

/* One command, without its newline, modified in place. */
static void command(struct cl_writer *w, char *line)
{
	char *cmd = strtok(line, " "), *key = strtok(NULL, " ");
	char *value = strtok(NULL, "");
	struct entry *e;

	if (cmd == NULL) {
		reply(w, "ERROR empty command", "");
	} else if (strcmp(cmd, "SET") == 0) {
		if (key == NULL || value == NULL) {
			reply(w, "ERROR usage: SET key value", "");
		} else {
			kv_set(key, value);
			reply(w, "OK", "");
		}
	} else if (strcmp(cmd, "GET") == 0 || strcmp(cmd, "DEL") == 0) {
		if (key == NULL || value != NULL)
			reply(w, cmd[0] == 'G' ? "ERROR usage: GET key"
					       : "ERROR usage: DEL key", "");
		else if (cmd[0] == 'D')
			reply(w, kv_del(key) ? "OK" : "NOT_FOUND", "");
		else if ((e = *kv_find(key)) != NULL)
			reply(w, "VALUE ", e->value);
		else
			reply(w, "NOT_FOUND", "");
	} else {
		reply(w, "ERROR unknown command", "");
	}
}

static void kv(struct cl_reader *r, struct cl_writer *w, void *arg)
{
	char buf[KV_LINE_MAX + 2];
	const char *volatile line;
	volatile size_t n;
	volatile int too_long;

	(void)arg;
	cl_reader_set_limit(r, KV_LINE_MAX);
	for (;;) {
		too_long = 0;
		CL_TRY {
			size_t len;

			line = cl_reader_readline(r, &len);
			n = len;
		} CL_CATCH(e) {
			if (!cl_exc_matches(e, &cl_ValueError))
				cl_raise(e); /* a reset connection ... */
			cl_exc_decref(e);
			too_long = 1;
		} CL_END_TRY;
		if (too_long) {
			reply(w, "ERROR line too long", "");
		} else if (n == 0) {
			break; /* EOF */
		} else {
			/* Our copy: strtok writes into it. */
			memcpy(buf, line, n);
			while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
				n--;
			buf[n] = '\0';
			command(w, buf);
		}
		cl_writer_drain(w);
	}
}

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

static int wait_for_signal(void)
{
	unsigned char b;

	while (read(sig_pipe[0], &b, 1) != 1)
		if (cl_wait_readable(sig_pipe[0]) < 0)
			return -1;
	return b;
}

/* The show: a client that sends commands and prints the replies. */
struct session {
	int port;
	const char *name;
	const char *const *cmds;
};

static void *client(void *arg)
{
	struct session *s = arg;
	struct cl_reader *r;
	struct cl_writer *w;
	const char *line;
	size_t n, len;

	cl_open_connection("127.0.0.1", s->port, &r, &w);
	for (const char *const *c = s->cmds; *c != NULL; c++) {
		len = strlen(*c);
		if (len > 60)
			printf("%s> %.12s... (%zu bytes)\n", s->name, *c, len);
		else
			printf("%s> %s\n", s->name, *c);
		cl_writer_write(w, *c, len);
		cl_writer_write(w, "\n", 1);
		cl_writer_drain(w);
		line = cl_reader_readline(r, &n);
		printf("%s< %.*s\n", s->name, (int)n - 1, line);
	}
	cl_writer_close(w);
	cl_writer_wait_closed(w);
	cl_reader_free(r);
	cl_writer_free(w);
	return NULL;
}

static void show(int port)
{
	static char big[5000 + 5] = "SET big ";
	static const char *const alice[] = {
		"SET color blue", "GET color", "SET motto keep it small",
		"GET motto", "GET nothing", "DEL nothing", big, "GET color",
		NULL };
	static const char *const bob[] = { "GET color", "DEL color",
					   "GET color", "FLY away", "SET x",
					   NULL };
	struct session a = { port, "alice", alice }, b = { port, "bob", bob };
	struct cl_task *t;

	memset(big + 8, 'x', 5000 - 8);
	t = cl_create_task(client, &a, "alice");
	cl_await_task(t);
	cl_task_decref(t);
	t = cl_create_task(client, &b, "bob");
	cl_await_task(t);
	cl_task_decref(t);
}

struct where {
	const char *host;
	int port;
	int show;
};

static void *serve(void *arg)
{
	struct where *at = arg;
	struct cl_server *srv;
	int sig;

	cl_start_server(at->host, at->port, kv, NULL, &srv);
	printf("kv_server: listening on %s:%d\n", at->host,
	       cl_server_port(srv));
	fflush(stdout);
	if (at->show) {
		show(cl_server_port(srv));
		raise(SIGTERM);
	}
	sig = wait_for_signal();
	printf("kv_server: %s: closing %zu connection%s\n",
	       sig == SIGINT ? "SIGINT" : "SIGTERM",
	       cl_server_nconnections(srv),
	       cl_server_nconnections(srv) == 1 ? "" : "s");
	cl_server_close(srv);
	cl_server_close_clients(srv);
	cl_server_wait_closed(srv);
	cl_server_free(srv);
	kv_clear();
	printf("kv_server: stopped\n");
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
		fprintf(stderr, "usage: kv_server [HOST PORT]\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (catch_signals() < 0) {
		perror("kv_server");
		return 1;
	}
	st = cl_run(serve, &at, &out);
	if (st == CL_RUN_RAISED) {
		fprintf(stderr, "kv_server: %s: %s\n", cl_exc_name(out),
			cl_exc_message(out));
		cl_exc_decref(out);
		return 1;
	}
	return st == 0 ? 0 : 1;
}
