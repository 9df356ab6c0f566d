/*
 * kv_server.c - a tiny key-value server: one line per command, on
 * streams or on a protocol.
 *
 *	kv_server HOST PORT	serve until SIGTERM or SIGINT (PORT 0: the
 *				kernel picks one; "listening on HOST:PORT")
 *				with a task per connection, on streams
 *	kv_server --proto HOST PORT
 *				the same, with a protocol per connection
 *	kv_server		show it: serve on 127.0.0.1 on both layers
 *				at once, play a session against each from a
 *				client task, then stop ("--proto" changes
 *				nothing: the show has both)
 *
 * The protocol, over TCP, one command a line, one reply a line:
 *
 *	SET key value	-> OK			(value: the rest of the line)
 *	GET key		-> VALUE value  or  NOT_FOUND
 *	DEL key		-> OK  or  NOT_FOUND
 *	anything else	-> ERROR unknown command, ERROR usage: ...
 *	a line over 1 KiB -> ERROR line too long (once; the line is dropped)
 *
 * Try it with nc: "nc 127.0.0.1 PORT", then type SET color blue.
 *
 * Every client shares one table, which needs no lock: tasks switch only
 * at an await, and protocol callbacks run one at a time from the loop,
 * so nothing else runs in the middle of a command.
 *
 * A line longer than the limit is where a server without one would run
 * out of memory: we hold at most KV_LINE_MAX bytes of a line, answer
 * "ERROR line too long" once, drop the rest of the line up to its
 * newline without answering, and go on with the next line. The two
 * layers do the same, each its own way:
 *
 *	streams		a task per connection reads with readline, which
 *			raises ValueError at a line over its limit;
 *	protocol	data_received gathers bytes into the connection's
 *			line buffer and runs each line as its newline
 *			comes.
 *
 * Both hand each line to command(), which does not know which layer it
 * answers on: it writes its reply to a struct sink.
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

#define KV_LINE_MAX 1024 /* the longest line, without its newline */
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

/*
 * Where a reply goes: write(to, data, n) is cl_writer_write on a
 * stream's writer, or cl_transport_write on a transport. Neither waits.
 */
struct sink {
	void (*write)(void *to, const void *data, size_t n);
	void *to;
};

static void reply(const struct sink *out, const char *a, const char *b)
{
	out->write(out->to, a, strlen(a));
	out->write(out->to, b, strlen(b));
	out->write(out->to, "\n", 1);
}

/* One command, without its newline, modified in place. */
static void command(const struct sink *out, char *line)
{
	char *cmd = strtok(line, " "), *key = strtok(NULL, " ");
	char *value = strtok(NULL, "");
	struct entry *e;

	if (cmd == NULL) {
		reply(out, "ERROR empty command", "");
	} else if (strcmp(cmd, "SET") == 0) {
		if (key == NULL || value == NULL) {
			reply(out, "ERROR usage: SET key value", "");
		} else {
			kv_set(key, value);
			reply(out, "OK", "");
		}
	} else if (strcmp(cmd, "GET") == 0 || strcmp(cmd, "DEL") == 0) {
		if (key == NULL || value != NULL)
			reply(out, cmd[0] == 'G' ? "ERROR usage: GET key"
						 : "ERROR usage: DEL key", "");
		else if (cmd[0] == 'D')
			reply(out, kv_del(key) ? "OK" : "NOT_FOUND", "");
		else if ((e = *kv_find(key)) != NULL)
			reply(out, "VALUE ", e->value);
		else
			reply(out, "NOT_FOUND", "");
	} else {
		reply(out, "ERROR unknown command", "");
	}
}

/* A line of n bytes in buf (room for one more), its newline or "\r\n"
 * still on: cut them off and run it. */
static void run_line(const struct sink *out, char *buf, size_t n)
{
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	command(out, buf);
}

/* The streams layer: a task per connection. */

static void to_writer(void *w, const void *data, size_t n)
{
	cl_writer_write(w, data, n);
}

/* What readline gave: a line, or one of its two ValueErrors. */
enum { GOT_LINE, LONG_LINE_ENDED, LONG_LINE_GOES_ON };

/*
 * The handler. readline's ValueError for a line over the limit comes in
 * two kinds, and they differ in where the stream is left:
 *
 *	"Separator is found, but chunk is longer than limit": the line,
 *	newline and all, is gone; the next readline gives the next line;
 *
 *	"Separator is not found, and chunk exceed the limit": what had
 *	come of the line is gone, the rest is still coming; the next
 *	readline gives more of it (or raises again if that too is over
 *	the limit), up to and including its newline.
 *
 * So after the second kind we skip, without answering, until a readline
 * has consumed the newline: answering those pieces would put one reply
 * too many on the connection, and every later reply would answer the
 * wrong request.
 */
static void kv(struct cl_reader *r, struct cl_writer *w, void *arg)
{
	struct sink out = { to_writer, w };
	char buf[KV_LINE_MAX + 2];
	const char *volatile line;
	volatile size_t n;
	volatile int got;
	volatile int skipping = 0; /* the rest of a long line is coming */

	(void)arg;
	cl_reader_set_limit(r, KV_LINE_MAX);
	for (;;) {
		got = GOT_LINE;
		CL_TRY {
			size_t len;

			line = cl_reader_readline(r, &len);
			n = len;
		} CL_CATCH(e) {
			if (!cl_exc_matches(e, &cl_ValueError))
				cl_raise(e); /* a reset connection ... */
			got = strstr(cl_exc_message(e), "not found") != NULL
				      ? LONG_LINE_GOES_ON
				      : LONG_LINE_ENDED;
			cl_exc_decref(e);
		} CL_END_TRY;
		if (got != GOT_LINE) {
			if (!skipping)
				reply(&out, "ERROR line too long", "");
			skipping = got == LONG_LINE_GOES_ON;
		} else if (n == 0) {
			break; /* EOF */
		} else if (skipping) {
			skipping = 0; /* the long line's last piece */
		} else {
			memcpy(buf, line, n); /* ours: strtok writes into it */
			run_line(&out, buf, n);
		}
		cl_writer_drain(w);
	}
}

/* The protocol layer: callbacks, no task. */

static void to_transport(void *t, const void *data, size_t n)
{
	cl_transport_write(t, data, n);
}

/*
 * A connection's protocol. Only its callbacks touch it, from the loop.
 *
 * Flow control is echo_proto.c's: when the transport's buffer goes over
 * the high-water mark we stop reading, and read again once it is back
 * down. Here one read can hold many commands, and a short one can have
 * a long reply ("GET k" and a 1 KiB value): running every command of a
 * 256 KiB read could buffer over 40 MB of replies. So we stop running
 * commands too, and keep the rest of that read in held until
 * resume_writing: at most the high-water mark of replies plus one read
 * of commands, as with the echo.
 */
struct kv_conn {
	struct cl_protocol base;  /* first: the transport calls it */
	struct sink out;	  /* the transport: valid until lost */
	int writing_paused;	  /* pause_writing came, resume not yet */
	int skipping;		  /* a line went over KV_LINE_MAX: drop up
				     to its newline */
	char *held;		  /* read while writing was paused, not run
				     yet: held[held_off..held_len) */
	size_t held_off, held_len;
	size_t len;		  /* the line so far: line[0..len) */
	char line[KV_LINE_MAX + 1]; /* one more: command()'s NUL */
};

/*
 * Run the commands in data, gathering a line that has not ended into
 * c->line. Stops after a command whose reply paused writing; returns
 * how many bytes it took.
 */
static size_t kv_feed(struct kv_conn *c, const char *data, size_t n)
{
	const char *nl;
	size_t i = 0, k;

	while (i < n && !c->writing_paused) {
		nl = memchr(data + i, '\n', n - i);
		k = nl != NULL ? (size_t)(nl - (data + i)) : n - i;
		if (c->skipping) {
			/* more of a long line: keep none of it */
		} else if (c->len + k > KV_LINE_MAX) {
			reply(&c->out, "ERROR line too long", "");
			c->skipping = 1;
			c->len = 0;
		} else {
			memcpy(c->line + c->len, data + i, k);
			c->len += k;
		}
		i += k;
		if (nl == NULL)
			break; /* the line goes on in a later read */
		i++;	       /* its newline */
		if (!c->skipping)
			run_line(&c->out, c->line, c->len);
		c->skipping = 0;
		c->len = 0;
	}
	return i;
}

static void kv_made(struct cl_protocol *p, struct cl_transport *t)
{
	((struct kv_conn *)p)->out = (struct sink){ to_transport, t };
}

static void kv_data(struct cl_protocol *p, const char *data, size_t n)
{
	struct kv_conn *c = (struct kv_conn *)p;
	size_t used = kv_feed(c, data, n);

	if (used < n) { /* writing paused: keep the rest for later */
		c->held = malloc(n - used);
		if (c->held == NULL)
			cl_raise(cl_exc_new(&cl_MemoryError, NULL));
		memcpy(c->held, data + used, n - used);
		c->held_off = 0;
		c->held_len = n - used;
	}
}

/* The client is done sending: a last line without a newline is still a
 * command, as readline gives it at EOF. 0: close once replies are sent. */
static int kv_eof(struct cl_protocol *p)
{
	struct kv_conn *c = (struct kv_conn *)p;

	if (c->len > 0 && !c->skipping)
		run_line(&c->out, c->line, c->len);
	return 0;
}

static void kv_pause_writing(struct cl_protocol *p)
{
	struct kv_conn *c = (struct kv_conn *)p;

	c->writing_paused = 1;
	cl_transport_pause_reading(c->out.to);
}

/* Room again: run what is held first (it may pause us again), and read
 * only once all of it has run. */
static void kv_resume_writing(struct cl_protocol *p)
{
	struct kv_conn *c = (struct kv_conn *)p;

	c->writing_paused = 0;
	if (c->held != NULL) {
		c->held_off += kv_feed(c, c->held + c->held_off,
				       c->held_len - c->held_off);
		if (c->held_off < c->held_len)
			return;
		free(c->held);
		c->held = NULL;
	}
	cl_transport_resume_reading(c->out.to);
}

static void kv_lost(struct cl_protocol *p, struct cl_exc *exc)
{
	struct kv_conn *c = (struct kv_conn *)p;

	(void)exc; /* a reset or a broken pipe: the client's business */
	free(c->held);
	free(c);
}

static const struct cl_protocol_ops kv_ops = {
	.connection_made = kv_made,
	.data_received = kv_data,
	.eof_received = kv_eof,
	.pause_writing = kv_pause_writing,
	.resume_writing = kv_resume_writing,
	.connection_lost = kv_lost,
};

static struct cl_protocol *new_kv_conn(void *arg)
{
	struct kv_conn *c = calloc(1, sizeof *c);

	(void)arg;
	if (c == NULL)
		return NULL; /* the connection is refused */
	c->base.ops = &kv_ops;
	return &c->base;
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
	const char *layer;
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
	printf("%s: connected to the %s server\n", s->name, s->layer);
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

/* alice talks to the streams server, then bob to the protocol server:
 * one table behind both. */
static void show(int streams_port, int proto_port)
{
	static char big[5000 + 5] = "SET big ";
	static const char *const alice[] = {
		"SET color blue", "GET color", "SET motto keep it small",
		"GET motto", "GET nothing", "DEL nothing", big, "GET color",
		NULL };
	static const char *const bob[] = { "GET color", big, "DEL color",
					   "GET color", "FLY away", "SET x",
					   NULL };
	struct session a = { streams_port, "alice", "streams", alice };
	struct session b = { proto_port, "bob", "protocol", bob };
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
	int proto; /* --proto */
	int show;
};

/* Listen on host:port with one layer or the other, and say so. */
static struct cl_server *start(const char *host, int port, int proto)
{
	struct cl_server *srv;

	if (proto)
		cl_loop_create_server(cl_get_running_loop(), new_kv_conn, NULL,
				      host, port, &srv);
	else
		cl_start_server(host, port, kv, NULL, &srv);
	printf("kv_server: listening on %s:%d (%s)\n", host,
	       cl_server_port(srv), proto ? "protocol" : "streams");
	fflush(stdout);
	return srv;
}

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
	struct cl_server *srv[2];
	struct cl_handle *grace[2];
	size_t nsrv = 0, conns = 0;
	int sig;

	if (at->show) {
		srv[nsrv++] = start(at->host, at->port, 0);
		srv[nsrv++] = start(at->host, at->port, 1);
		show(cl_server_port(srv[0]), cl_server_port(srv[1]));
		raise(SIGTERM);
	} else {
		srv[nsrv++] = start(at->host, at->port, at->proto);
	}
	sig = wait_for_signal();
	for (size_t i = 0; i < nsrv; i++)
		conns += cl_server_nconnections(srv[i]);
	printf("kv_server: %s: closing %zu connection%s\n",
	       sig == SIGINT ? "SIGINT" : "SIGTERM", conns,
	       conns == 1 ? "" : "s");
	for (size_t i = 0; i < nsrv; i++) {
		cl_server_close(srv[i]);
		cl_server_close_clients(srv[i]);
		grace[i] = cl_handle_incref(cl_loop_call_later(
			cl_get_running_loop(), GRACE, abort_clients, srv[i]));
	}
	for (size_t i = 0; i < nsrv; i++) {
		cl_server_wait_closed(srv[i]);
		cl_handle_cancel(grace[i]);
		cl_handle_decref(grace[i]);
		cl_server_free(srv[i]);
	}
	kv_clear();
	printf("kv_server: stopped\n");
	return NULL;
}

int main(int argc, char **argv)
{
	struct where at = { "127.0.0.1", 0, 0, 1 };
	struct rlimit rl;
	void *out;
	int st;

	if (argc > 1 && strcmp(argv[1], "--proto") == 0) {
		at.proto = 1;
		argc--;
		argv++;
	}
	if (argc == 3) {
		at = (struct where){ argv[1], atoi(argv[2]), at.proto, 0 };
	} else if (argc != 1) {
		fprintf(stderr, "usage: kv_server [--proto] [HOST PORT]\n");
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
