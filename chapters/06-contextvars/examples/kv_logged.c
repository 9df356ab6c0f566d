/*
 * kv_logged.c - chapter 04's key-value server, with a request id on
 * every log line.
 *
 *	kv_logged		the show: a server and three clients in one
 *				loop; the id lives in a context variable
 *	kv_logged --global	the same with a plain global: the bug
 *
 * A line of the log looks like
 *
 *	  3 ms [c2/r1] GET color -> VALUE blue
 *
 * connection 2, its request 1. Nobody passes the id down: the
 * connection's handler sets it once per connection (c2) and again per
 * request (c2/r1), and log_line reads it, wherever it is called from.
 * Each request is looked up by a task of its own, which sleeps a few
 * milliseconds (a slow store) and logs too: it was created after the set,
 * so it runs in a copy of the handler's context and logs the same id.
 *
 *	rid = ContextVar("rid")
 *	async def handle(reader, writer):
 *	    rid.set(conn)
 *	    for req, line in ...:
 *	        rid.set((conn, req))
 *	        reply = await create_task(lookup(line))
 *
 * The three clients talk at once, so the requests interleave: while one
 * request's lookup sleeps, another connection's request runs. With
 * --global the id is a global variable, and the handler that ran last
 * has set it: a request that wakes up logs someone else's id.
 *
 * The loop runs on the virtual clock: the show takes no time, and its
 * log is the same on every run. cotrace timeline kv_logged.trace
 * --colour-by rid draws each step in its request's colour.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctxvar.h"
#include "run.h"
#include "server.h"
#include "task.h"
#include "value.h"

/* The request id, conn * 1000 + req (req 0: the connection itself). */
static struct cl_contextvar rid;
static intptr_t global_rid; /* --global: the wrong place for it */
static int use_global;

static void set_rid(intptr_t id)
{
	if (use_global)
		global_rid = id;
	else
		cl_contextvar_set(&rid, CL_INT(id));
}

static intptr_t get_rid(void)
{
	if (use_global)
		return global_rid;
	return CL_TOINT(cl_contextvar_get_or(&rid, CL_INT(0)));
}

/* printf, after the time and the current request id. */
static void log_line(const char *fmt, ...)
{
	intptr_t id = get_rid();
	char tag[32];
	va_list ap;

	if (id % 1000 == 0)
		snprintf(tag, sizeof tag, "[c%ld]", (long)(id / 1000));
	else
		snprintf(tag, sizeof tag, "[c%ld/r%ld]", (long)(id / 1000),
			 (long)(id % 1000));
	printf("%3.0f ms %-8s ", cl_loop_time(cl_get_running_loop()) * 1000,
	       tag);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* The store: a few keys, no lock needed (tasks switch only at awaits). */
static char keys[16][32], values[16][64];

static const char *store(const char *key, const char *value)
{
	int i;

	for (i = 0; i < 16 && keys[i][0] && strcmp(keys[i], key) != 0; i++)
		;
	if (i == 16)
		return "ERROR full";
	if (value != NULL) {
		snprintf(keys[i], sizeof keys[i], "%s", key);
		snprintf(values[i], sizeof values[i], "%s", value);
		return "OK";
	}
	return keys[i][0] ? values[i] : "NOT_FOUND";
}

/* One request, in a task of its own: its id came with its context. */
struct request {
	char line[128];
	char reply[80];
};

static void *lookup(void *arg)
{
	struct request *rq = arg;
	double delay = 0.001 * (double)(1 + strlen(rq->line) % 3);
	char *cmd = strtok(rq->line, " "), *key = strtok(NULL, " ");
	char *value = strtok(NULL, "");

	log_line("  lookup %s: %.0f ms", key ? key : "?", delay * 1000);
	cl_sleep(delay); /* a slow store: other requests run meanwhile */
	if (cmd == NULL || key == NULL)
		snprintf(rq->reply, sizeof rq->reply, "ERROR usage");
	else
		snprintf(rq->reply, sizeof rq->reply, "%s",
			 store(key, strcmp(cmd, "SET") == 0 ? value : NULL));
	log_line("  lookup %s: done", key ? key : "?");
	return NULL;
}

/* The connection's handler, in its own task (and context). */
static void handle(struct cl_reader *r, struct cl_writer *w, void *arg)
{
	static int nconns;
	intptr_t conn = ++nconns;
	struct request rq;
	struct cl_task *t;
	const char *line;
	size_t n;

	(void)arg;
	set_rid(conn * 1000);
	log_line("connected");
	for (int req = 1;; req++) {
		line = cl_reader_readline(r, &n);
		if (n == 0)
			break; /* EOF */
		set_rid(conn * 1000 + req);
		snprintf(rq.line, sizeof rq.line, "%.*s", (int)n - 1, line);
		log_line("%s", rq.line);
		t = cl_create_task(lookup, &rq, "lookup");
		cl_await_task(t);
		cl_task_decref(t);
		log_line("-> %s", rq.reply);
		cl_writer_write(w, rq.reply, strlen(rq.reply));
		cl_writer_write(w, "\n", 1);
		cl_writer_drain(w);
	}
	set_rid(conn * 1000);
	log_line("closed");
	cl_writer_close(w);
}

/* A client: its commands one at a time, each after the last reply. */
struct client {
	int port;
	const char *cmds[4];
};

static void *client(void *arg)
{
	struct client *c = arg;
	struct cl_reader *r;
	struct cl_writer *w;
	size_t n;

	cl_open_connection("127.0.0.1", c->port, &r, &w);
	for (const char *const *cmd = c->cmds; *cmd != NULL; cmd++) {
		cl_writer_write(w, *cmd, strlen(*cmd));
		cl_writer_write(w, "\n", 1);
		cl_writer_drain(w);
		cl_reader_readline(r, &n);
	}
	cl_writer_close(w);
	cl_writer_wait_closed(w);
	cl_reader_free(r);
	cl_writer_free(w);
	return NULL;
}

static void *show(void *arg)
{
	static struct client c[3] = {
		{ 0, { "SET color blue", "GET size", NULL } },
		{ 0, { "SET size 3", "GET color", NULL } },
		{ 0, { "GET color", NULL } },
	};
	struct cl_server *srv;
	struct cl_task *t[3];

	(void)arg;
	cl_start_server("127.0.0.1", 0, handle, NULL, &srv);
	for (int i = 0; i < 3; i++) {
		c[i].port = cl_server_port(srv);
		t[i] = cl_create_task(client, &c[i], "client");
	}
	for (int i = 0; i < 3; i++) {
		cl_await_task(t[i]);
		cl_task_decref(t[i]);
	}
	cl_server_close(srv);
	cl_server_wait_closed(srv);
	cl_server_free(srv);
	return NULL;
}

int main(int argc, char **argv)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL };
	void *out;

	use_global = argc > 1 && strcmp(argv[1], "--global") == 0;
	if (argc > 2 || (argc == 2 && !use_global)) {
		fprintf(stderr, "usage: kv_logged [--global]\n");
		return 2;
	}
	cl_contextvar_init(&rid, "rid");
	printf("request ids in %s\n",
	       use_global ? "a global variable" : "a context variable");
	return cl_run_with(show, NULL, &opts, &out) == 0 ? 0 : 1;
}
