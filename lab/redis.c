/*
 * redis.c - hiredis on our loop (the adapter), and the chat's pub/sub
 * bus built on it.
 *
 * The adapter mirrors hiredis's own adapters/ae.h (redisAeAttach) and
 * adapters/libuv.h (redisLibuvAttach) line for line: a small struct per
 * context, kept in ac->ev.data, and the five hooks. Where ae.c says
 *
 *	aeCreateFileEvent(loop, fd, AE_READABLE, redisAeReadEvent, e);
 *	aeDeleteFileEvent(loop, fd, AE_READABLE);
 *
 * we say cl_loop_add_reader(loop, fd, cl__redis_on_read, e) and
 * cl_loop_remove_reader(loop, fd). Both loops are level-triggered and
 * call the callback at every iteration the socket stays ready, so the
 * hooks need not be told how much hiredis read. Like ae's, our hooks
 * remember what they asked for (reading, writing): hiredis calls
 * addRead after every read and every write, and asking the loop again
 * each time would cost a replacement in its table for nothing. The
 * hooks cannot report an error (they return void): an add the loop
 * refused (-ENOMEM) is not remembered, so that the next one tries
 * again.
 *
 * hiredis 0.14 frees a context itself when the connection fails or the
 * server closes it, after calling the pending reply callbacks with a
 * NULL reply and then the disconnect callback. It calls cleanup on the
 * way, before closing the socket: that is where the adapter stops
 * watching the descriptor (fdwatch.h: remove before you close) and
 * frees its struct.
 *
 * The bus (see redis.h) keeps two contexts and a state:
 *
 *	DOWN -(timer)-> CONNECTING -(every handshake reply in)-> UP
 *	CONNECTING and UP -(a context fails or closes, or 2 s pass
 *	without coming up, or a PUBLISH goes unanswered for 1 to 2 s)->
 *	DOWN, with a reconnect timer set
 *
 * The handshake is a PING on each connection and one SUBSCRIBE per
 * channel on the subscriber; the bus is up when every one of those has
 * been answered (hiredis 0.14 notices a connection only once it writes,
 * and has no timers: the PING makes it write, and the loop's timers are
 * the connect and reply timeouts).
 *
 * hiredis runs callbacks from inside redisAsyncFree too. Every context
 * the bus lets go of first has ac->data, its pointer back to the bus,
 * set to NULL, and every callback starts by reading it: callbacks of a
 * context the bus has let go of do nothing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "fdwatch.h"
#include "loop.h"
#include "redis.h"

/* ---- The adapter ------------------------------------------------------- */

/* One per attached context: hiredis's redisAeEvents. */
struct cl__redis_events {
	redisAsyncContext *ac; /* the context we drive */
	struct cl_loop *loop;  /* the loop watching fd */
	int fd;		       /* ac->c.fd, fixed for the context's life */
	int reading, writing;  /* watched for reading, writing now */
};

/* TODO(ch08): hiredis's four hooks on our loop: addRead makes
 * the loop call redisAsyncHandleRead(e->ac) whenever e->fd is
 * readable, delRead stops that; addWrite and delWrite the same
 * for writable and redisAsyncHandleWrite. Each is idempotent.
 * Mirrors hiredis/adapters/ae.h (redisAeAddRead ...) on
 * fdwatch.h; read section 10.
 * Hints: make hint CH=8 TODO=redis_hooks (3 levels). */
static void cl__redis_add_read(void *privdata)
{
	(void)privdata;
}

static void cl__redis_del_read(void *privdata)
{
	(void)privdata;
}

static void cl__redis_add_write(void *privdata)
{
	(void)privdata;
}

static void cl__redis_del_write(void *privdata)
{
	(void)privdata;
}

/* hiredis is done with the context: stop watching, before it closes
 * the socket, and free our part. redisAeCleanup. */
static void cl__redis_cleanup(void *privdata)
{
	struct cl__redis_events *e = privdata;

	cl__redis_del_read(e);
	cl__redis_del_write(e);
	free(e);
}

int cl_redis_attach(redisAsyncContext *ac, struct cl_loop *loop)
{
	struct cl__redis_events *e;

	/* Nothing may be attached to a context already attached. */
	if (ac->ev.data != NULL)
		return REDIS_ERR;
	e = malloc(sizeof *e);
	if (e == NULL)
		return REDIS_ERR;
	*e = (struct cl__redis_events){ .ac = ac, .loop = loop,
					.fd = ac->c.fd };
	ac->ev.addRead = cl__redis_add_read;
	ac->ev.delRead = cl__redis_del_read;
	ac->ev.addWrite = cl__redis_add_write;
	ac->ev.delWrite = cl__redis_del_write;
	ac->ev.cleanup = cl__redis_cleanup;
	ac->ev.data = e;
	return REDIS_OK;
}

/* ---- The bus ----------------------------------------------------------- */

#define CL__BUS_BACKOFF_MIN 0.05     /* first retry, seconds */
#define CL__BUS_BACKOFF_MAX 2.0	     /* the longest wait between tries */
#define CL__BUS_CONNECT_TIMEOUT 2.0 /* to come up, once connecting */
#define CL__BUS_REPLY_TIMEOUT 1.0   /* the watchdog's period, up */

enum cl__bus_state { CL__BUS_DOWN, CL__BUS_CONNECTING, CL__BUS_UP };

/* A channel the bus is subscribed to. */
struct cl__bus_chan {
	char *name;	/* NUL-terminated */
	size_t len;	/* strlen(name) */
	unsigned count; /* subscribes less unsubscribes, > 0 */
};

/* Everything here is the bus's alone; only the loop's thread touches
 * it. */
struct cl_redis_bus {
	struct cl_loop *loop;
	char *host;
	int port;
	const struct cl_redis_bus_ops *ops;
	void *arg;

	enum cl__bus_state state;
	redisAsyncContext *sub; /* subscribed; NULL while down */
	redisAsyncContext *pub; /* PUBLISH; NULL while down */
	unsigned waiting;	/* handshake replies still to come */
	unsigned long inflight; /* PUBLISHes on pub not answered yet */
	unsigned long sent, answered; /* PUBLISHes on pub, replies to them */
	unsigned long mark;	/* sent at the watchdog's last tick */
	int was_up;		/* has been up once: the next up is a
				   reconnect */
	struct cl_handle *timer; /* reconnect (down), connect timeout
				    (connecting) or watchdog (up), a
				    reference; or NULL */
	double backoff;		/* the next reconnect's delay, seconds */
	uint64_t rng;		/* xorshift state, for the jitter */

	/* The channels subscribed to (count > 0), in no order: a plain
	 * array, as a worker hears a few rooms. */
	struct cl__bus_chan *chans;
	size_t nchans, cap;

	struct cl_redis_bus_stats stats;
};

static void cl__bus_connect(struct cl_redis_bus *b);

static struct cl__bus_chan *cl__bus_find(struct cl_redis_bus *b,
					 const char *name, size_t len)
{
	for (size_t i = 0; i < b->nchans; i++)
		if (b->chans[i].len == len &&
		    memcmp(b->chans[i].name, name, len) == 0)
			return &b->chans[i];
	return NULL;
}

static void cl__bus_set_timer(struct cl_redis_bus *b, double delay,
			      cl_callback fn)
{
	struct cl_handle *h;

	if (b->timer != NULL) {
		cl_handle_cancel(b->timer);
		cl_handle_decref(b->timer);
		b->timer = NULL;
	}
	if (fn == NULL)
		return;
	h = cl_loop_call_later(b->loop, delay, fn, b);
	if (h != NULL)
		b->timer = cl_handle_incref(h);
}

/* A uniform number in [0, 1): xorshift64*. */
static double cl__bus_random(struct cl_redis_bus *b)
{
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return (double)((b->rng * 2685821657736338717ULL) >> 11) /
	       (double)(1ULL << 53);
}

static void cl__bus_reconnect_due(void *arg)
{
	struct cl_redis_bus *b = arg;

	cl_handle_decref(b->timer);
	b->timer = NULL;
	cl__bus_connect(b);
}

/* Let go of a context: its callbacks will find no bus. Unless hiredis
 * is freeing it already (dying), free it. */
static void cl__bus_drop(redisAsyncContext *ac, const redisAsyncContext *dying)
{
	if (ac == NULL)
		return;
	ac->data = NULL;
	if (ac != dying)
		redisAsyncFree(ac);
}

/*
 * The bus goes down: dying (if not NULL) is a context hiredis is
 * freeing. Count the PUBLISHes in flight as lost, let go of both
 * contexts, set the reconnect timer, and, if the bus was up, say so:
 * last, as the owner may free the bus in state().
 */
static void cl__bus_down(struct cl_redis_bus *b,
			 const redisAsyncContext *dying)
{
	int was_up = b->state == CL__BUS_UP;
	double delay;

	if (b->state == CL__BUS_DOWN)
		return;
	b->state = CL__BUS_DOWN;
	b->stats.lost += b->inflight;
	b->inflight = 0;
	cl__bus_drop(b->sub, dying);
	cl__bus_drop(b->pub, dying);
	b->sub = b->pub = NULL;
	delay = b->backoff * (1 + 0.1 * cl__bus_random(b));
	b->backoff *= 2;
	if (b->backoff > CL__BUS_BACKOFF_MAX)
		b->backoff = CL__BUS_BACKOFF_MAX;
	cl__bus_set_timer(b, delay, cl__bus_reconnect_due);
	if (was_up && b->ops != NULL && b->ops->state != NULL)
		b->ops->state(b->arg, 0);
}

static void cl__bus_connect_timeout(void *arg)
{
	struct cl_redis_bus *b = arg;

	cl_handle_decref(b->timer);
	b->timer = NULL;
	cl__bus_down(b, NULL);
}

/*
 * While up, every CL__BUS_REPLY_TIMEOUT: if a PUBLISH sent before the
 * last tick is still unanswered, Redis has stopped answering (stopped,
 * or the network gone without a word): down, as if it had closed. A
 * connection nobody publishes on is watched by TCP keepalive only.
 */
static void cl__bus_watchdog(void *arg)
{
	struct cl_redis_bus *b = arg;

	cl_handle_decref(b->timer);
	b->timer = NULL;
	if (b->answered < b->mark) {
		cl__bus_down(b, NULL);
		return;
	}
	b->mark = b->sent;
	cl__bus_set_timer(b, CL__BUS_REPLY_TIMEOUT, cl__bus_watchdog);
}

/* One handshake reply is in; the last makes the bus up. */
static void cl__bus_answered(struct cl_redis_bus *b)
{
	if (b->state != CL__BUS_CONNECTING || --b->waiting > 0)
		return;
	b->state = CL__BUS_UP;
	b->backoff = CL__BUS_BACKOFF_MIN;
	b->mark = b->sent;
	cl__bus_set_timer(b, CL__BUS_REPLY_TIMEOUT, cl__bus_watchdog);
	if (b->was_up)
		b->stats.reconnects++;
	b->was_up = 1;
	if (b->ops != NULL && b->ops->state != NULL)
		b->ops->state(b->arg, 1);
}

/* The reply to a handshake PING, on either connection. */
static void cl__bus_on_pong(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cl_redis_bus *b = ac->data;
	redisReply *reply = r;

	(void)privdata;
	if (b == NULL || reply == NULL)
		return; /* let go of, or dying: the disconnect will tell */
	if (reply->type == REDIS_REPLY_ERROR) {
		/* Redis is up but not serving (-LOADING): try later. */
		cl__bus_down(b, NULL);
		return;
	}
	cl__bus_answered(b);
}

/*
 * Everything the subscribed connection hears for a channel: the
 * confirmation of a SUBSCRIBE, of an UNSUBSCRIBE, and the messages,
 * each an array [kind, channel, payload or count]. hiredis finds this
 * callback by channel name in its own table.
 */
static void cl__bus_on_sub(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cl_redis_bus *b = ac->data;
	redisReply *reply = r, *kind, *chan, *data;
	struct cl__bus_chan *c;

	(void)privdata;
	if (b == NULL || reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements < 3)
		return;
	kind = reply->element[0];
	chan = reply->element[1];
	data = reply->element[2];
	if (kind->type != REDIS_REPLY_STRING ||
	    chan->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(kind->str, "subscribe") == 0) {
		if (b->ops != NULL && b->ops->subscribed != NULL &&
		    cl__bus_find(b, chan->str, chan->len) != NULL)
			b->ops->subscribed(b->arg, chan->str, chan->len);
		if (ac->data == b) /* not let go of by the callback */
			cl__bus_answered(b);
	} else if (strcmp(kind->str, "message") == 0 &&
		   data->type == REDIS_REPLY_STRING) {
		c = cl__bus_find(b, chan->str, chan->len);
		if (c == NULL)
			return; /* unsubscribed, Redis not told yet */
		b->stats.received++;
		if (b->ops != NULL && b->ops->message != NULL)
			b->ops->message(b->arg, chan->str, chan->len,
					data->str, data->len);
	}
}

/* The reply to a PUBLISH: NULL when the connection died first. */
static void cl__bus_on_published(redisAsyncContext *ac, void *r,
				 void *privdata)
{
	struct cl_redis_bus *b = ac->data;

	(void)privdata;
	if (b == NULL)
		return; /* counted when the bus let go of ac */
	b->inflight--;
	if (r != NULL)
		b->answered++;
	if (r == NULL || ((redisReply *)r)->type == REDIS_REPLY_ERROR)
		b->stats.lost++;
	else
		b->stats.published++;
}

static void cl__bus_on_connect(const redisAsyncContext *ac, int status)
{
	struct cl_redis_bus *b = ac->data;

	if (b != NULL && status != REDIS_OK)
		cl__bus_down(b, ac); /* hiredis frees ac when we return */
}

static void cl__bus_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct cl_redis_bus *b = ac->data;

	(void)status;
	if (b != NULL)
		cl__bus_down(b, ac);
}

static int cl__bus_send_subscribe(struct cl_redis_bus *b,
				  const struct cl__bus_chan *c, int unsub)
{
	const char *argv[2] = { unsub ? "UNSUBSCRIBE" : "SUBSCRIBE", c->name };
	size_t argvlen[2] = { strlen(argv[0]), c->len };

	/* An UNSUBSCRIBE has no callback of its own: its confirmation goes
	 * to the channel's. */
	return redisAsyncCommandArgv(b->sub, unsub ? NULL : cl__bus_on_sub,
				     NULL, 2, argv, argvlen);
}

/* A context for the bus, attached to its loop and pointing back to it;
 * NULL if it could not even be started. */
static redisAsyncContext *cl__bus_context(struct cl_redis_bus *b)
{
	redisAsyncContext *ac = redisAsyncConnect(b->host, b->port);

	if (ac == NULL)
		return NULL;
	if (ac->err != 0 || cl_redis_attach(ac, b->loop) != REDIS_OK) {
		redisAsyncFree(ac); /* no hook is set: nothing is called */
		return NULL;
	}
	ac->data = b;
	redisEnableKeepAlive(&ac->c);
	redisAsyncSetConnectCallback(ac, cl__bus_on_connect);
	redisAsyncSetDisconnectCallback(ac, cl__bus_on_disconnect);
	return ac;
}

/*
 * Start connecting: both contexts, a PING on each, a SUBSCRIBE per
 * channel heard, and the connect timeout. A failure now (connection
 * refused at once, out of memory) is a failure like any other: down,
 * and try again later.
 */
static void cl__bus_connect(struct cl_redis_bus *b)
{
	b->state = CL__BUS_CONNECTING;
	b->waiting = 2;
	b->sent = b->answered = 0;
	b->sub = cl__bus_context(b);
	b->pub = cl__bus_context(b);
	if (b->sub == NULL || b->pub == NULL)
		goto fail;
	if (redisAsyncCommand(b->sub, cl__bus_on_pong, NULL, "PING") !=
		    REDIS_OK ||
	    redisAsyncCommand(b->pub, cl__bus_on_pong, NULL, "PING") !=
		    REDIS_OK)
		goto fail;
	for (size_t i = 0; i < b->nchans; i++) {
		if (cl__bus_send_subscribe(b, &b->chans[i], 0) != REDIS_OK)
			goto fail;
		b->waiting++;
	}
	cl__bus_set_timer(b, CL__BUS_CONNECT_TIMEOUT, cl__bus_connect_timeout);
	return;
fail:
	cl__bus_down(b, NULL);
}

struct cl_redis_bus *cl_redis_bus_new(struct cl_loop *loop, const char *host,
				      int port,
				      const struct cl_redis_bus_ops *ops,
				      void *arg)
{
	struct cl_redis_bus *b;
	struct timespec ts;

	if (loop == NULL || host == NULL || port <= 0 || port > 65535) {
		errno = EINVAL;
		return NULL;
	}
	b = calloc(1, sizeof *b);
	if (b == NULL)
		return NULL;
	b->host = strdup(host);
	if (b->host == NULL) {
		free(b);
		return NULL;
	}
	b->loop = loop;
	b->port = port;
	b->ops = ops;
	b->arg = arg;
	b->backoff = CL__BUS_BACKOFF_MIN;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	b->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)b ^
		 0x9e3779b97f4a7c15ULL;
	b->state = CL__BUS_DOWN;
	cl__bus_connect(b);
	return b;
}

static int cl__bus_bad_channel(const char *channel)
{
	return channel == NULL || channel[0] == '\0';
}

int cl_redis_bus_subscribe(struct cl_redis_bus *b, const char *channel)
{
	size_t len;
	struct cl__bus_chan *c;

	if (b == NULL || cl__bus_bad_channel(channel))
		return -EINVAL;
	len = strlen(channel);
	c = cl__bus_find(b, channel, len);
	if (c == NULL) {
		if (b->nchans == b->cap) {
			size_t cap = b->cap ? 2 * b->cap : 8;
			void *p = realloc(b->chans, cap * sizeof *b->chans);

			if (p == NULL)
				return -ENOMEM;
			b->chans = p;
			b->cap = cap;
		}
		c = &b->chans[b->nchans];
		c->name = strdup(channel);
		if (c->name == NULL)
			return -ENOMEM;
		c->len = len;
		c->count = 0;
		b->nchans++; /* counted below */
	}
	if (c->count++ > 0 || b->state == CL__BUS_DOWN)
		return 0;
	/* The first subscribe, connected or connecting: tell Redis now.
	 * If it cannot be sent, the connection is failing: the reconnect
	 * will subscribe. */
	if (cl__bus_send_subscribe(b, c, 0) == REDIS_OK &&
	    b->state == CL__BUS_CONNECTING)
		b->waiting++;
	return 0;
}

int cl_redis_bus_unsubscribe(struct cl_redis_bus *b, const char *channel)
{
	struct cl__bus_chan *c;

	if (b == NULL || cl__bus_bad_channel(channel))
		return -EINVAL;
	c = cl__bus_find(b, channel, strlen(channel));
	if (c == NULL)
		return -ENOENT;
	if (--c->count > 0)
		return 0;
	if (b->state != CL__BUS_DOWN)
		cl__bus_send_subscribe(b, c, 1);
	/* Forget it: what Redis still sends on it finds no channel. */
	free(c->name);
	*c = b->chans[--b->nchans];
	return 0;
}

int cl_redis_bus_publish(struct cl_redis_bus *b, const char *channel,
			 const void *data, size_t n)
{
	const char *argv[3] = { "PUBLISH", channel, data };
	size_t argvlen[3] = { 7, 0, n };

	if (b == NULL || cl__bus_bad_channel(channel) ||
	    (data == NULL && n > 0))
		return -EINVAL;
	if (data == NULL)
		argv[2] = "";
	argvlen[1] = strlen(channel);
	if (b->state == CL__BUS_DOWN ||
	    redisAsyncCommandArgv(b->pub, cl__bus_on_published, NULL, 3, argv,
				  argvlen) != REDIS_OK) {
		b->stats.lost++;
		return -1;
	}
	b->inflight++;
	b->sent++;
	return 0;
}

int cl_redis_bus_is_up(const struct cl_redis_bus *b)
{
	return b->state == CL__BUS_UP;
}

void cl_redis_bus_stats(const struct cl_redis_bus *b,
			struct cl_redis_bus_stats *out)
{
	*out = b->stats;
}

void cl_redis_bus_free(struct cl_redis_bus *b)
{
	if (b == NULL)
		return;
	/* Let go of both contexts first: what hiredis calls while freeing
	 * them (NULL replies, the disconnect callback) finds no bus. A
	 * context inside one of its own callbacks is freed by hiredis
	 * when that callback returns. */
	cl__bus_drop(b->sub, NULL);
	cl__bus_drop(b->pub, NULL);
	cl__bus_set_timer(b, 0, NULL);
	for (size_t i = 0; i < b->nchans; i++)
		free(b->chans[i].name);
	free(b->chans);
	free(b->host);
	free(b);
}
