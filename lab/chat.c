/*
 * chat.c - rooms, presence and broadcast over WebSocket (chat.h).
 *
 * The pieces, from the bottom:
 *
 *	rooms		a hash table of rooms by name; a room is an array
 *			of its members here, each knowing its index, so
 *			that leaving is a swap with the last (O(1))
 *	broadcast	one frame built once and queued to every member
 *			of a room, each queue bounded (room_broadcast)
 *	members		a member is one WebSocket connection: its name,
 *			its room, its context (the "c42" of the log)
 *	the bus		Redis pub/sub between processes: what a member
 *			says is delivered here at once and published on
 *			"room:ROOM" for the other processes
 *	the sweep	a timer that pings members gone quiet and closes
 *			the ones that stay quiet (idle_timeout)
 *	shutdown	close frames to all, wait, abort the rest
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "chat.h"
#include "ctxvar.h"
#include "exc.h"
#include "future.h"
#include "metrics.h"
#include "redis.h"
#include "timeouts.h"
#include "transport.h"
#include "ws.h"

#define ROOM_BUCKETS 1024 /* a power of two */
#define DEFAULT_QUEUE (256 * 1024)
#define DEFAULT_IDLE 60.0
#define MAX_TEXT 4096	  /* of a "msg" line, in bytes */

struct chat_member;

/* A dropped member's "leave", to be announced (member_drop). */
struct chat_leave {
	char room[CL_CHAT_NAME_MAX + 1];
	char name[CL_CHAT_NAME_MAX + 1];
	struct chat_leave *next;
};

struct chat_room {
	char name[CL_CHAT_NAME_MAX + 1];
	struct chat_member **m; /* its members in this process */
	size_t n, cap;
	int live;		/* its Redis subscription is in place (or
				   there is no Redis, or it is down) */
	struct chat_room *next; /* in its hash bucket */
};

struct chat_member {
	struct cl_chat *chat;
	struct cl_ws *ws;
	unsigned long id;	    /* the connection's number: "c42" */
	struct cl_context *ctx;	    /* conn_id set; the callbacks run in it */
	struct chat_room *room;	    /* NULL: in no room */
	size_t index;		    /* in room->m */
	char name[CL_CHAT_NAME_MAX + 1];
	int waiting;		    /* in room, not told "joined" yet: the
				       room is not live (room_live) */
	double last_seen;	    /* loop time of its last frame */
	int pinged;		    /* a ping went since then */
	struct chat_member *prev, *next; /* every member: chat->members */
};

struct cl_chat {
	struct cl_loop *loop;
	struct cl_chat_config cfg;
	struct chat_room *rooms[ROOM_BUCKETS];
	struct chat_member *members; /* every open connection */
	struct cl_redis_bus *bus;    /* NULL: alone */
	int bus_down;		     /* the bus said it went down */
	struct cl_handle *give_up;   /* all rooms live, if Redis is slow */
	struct cl_handle *sweep;     /* the idle sweep's timer */
	struct cl_future *all_gone;  /* shutdown waits on it */
	struct chat_leave *leaves;   /* to announce (member_drop) */
	struct cl_handle *flush;     /* chat_flush_leaves, when queued */
	int closing;		     /* shutdown began: refuse newcomers */
	unsigned long next_id;
	char *frame;		     /* scratch for the frame being sent */
	size_t frame_cap;
	struct cl_chat_stats st;
	struct cl_metrics *metrics;  /* what GET /metrics renders; NULL
					until the first scrape */
	int own_metrics;	     /* the chat made it (and frees it) */
};

static void room_live(struct chat_room *r);
static void all_live(void *arg);

/* The connection id of the member whose callback runs, for the log. */
static struct cl_contextvar conn_id;
static int conn_id_ready;

static void chat_log(struct cl_chat *chat, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void chat_log(struct cl_chat *chat, const char *fmt, ...)
{
	va_list ap;
	uintptr_t id;

	if (chat->cfg.log == NULL)
		return;
	id = (uintptr_t)cl_contextvar_get_or(&conn_id, NULL);
	if (id != 0)
		fprintf(chat->cfg.log, "w%d c%lu ", chat->cfg.worker,
			(unsigned long)id);
	else
		fprintf(chat->cfg.log, "w%d -- ", chat->cfg.worker);
	va_start(ap, fmt);
	vfprintf(chat->cfg.log, fmt, ap);
	va_end(ap);
	fputc('\n', chat->cfg.log);
	fflush(chat->cfg.log);
}

/* Rooms. */

static unsigned room_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h & (ROOM_BUCKETS - 1);
}

static struct chat_room *room_find(struct cl_chat *chat, const char *name,
				   size_t n)
{
	struct chat_room *r = chat->rooms[room_hash(name, n)];

	while (r != NULL && (strlen(r->name) != n || memcmp(r->name, name, n)))
		r = r->next;
	return r;
}

static char *channel_of(char buf[], const char *room)
{
	sprintf(buf, "room:%s", room);
	return buf;
}

static struct chat_room *room_get(struct cl_chat *chat, const char *name)
{
	size_t n = strlen(name);
	struct chat_room *r = room_find(chat, name, n);
	char ch[CL_CHAT_NAME_MAX + 8];

	if (r != NULL)
		return r;
	r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	memcpy(r->name, name, n + 1);
	r->live = chat->bus == NULL || chat->bus_down;
	r->next = chat->rooms[room_hash(name, n)];
	chat->rooms[room_hash(name, n)] = r;
	chat->st.rooms++;
	if (chat->bus != NULL)
		cl_redis_bus_subscribe(chat->bus, channel_of(ch, r->name));
	return r;
}

static void room_free_if_empty(struct cl_chat *chat, struct chat_room *r)
{
	struct chat_room **pp = &chat->rooms[room_hash(r->name,
						       strlen(r->name))];
	char ch[CL_CHAT_NAME_MAX + 8];

	if (r->n > 0)
		return;
	while (*pp != r)
		pp = &(*pp)->next;
	*pp = r->next;
	if (chat->bus != NULL)
		cl_redis_bus_unsubscribe(chat->bus, channel_of(ch, r->name));
	chat->st.rooms--;
	free(r->m);
	free(r);
}

static int room_add(struct chat_room *r, struct chat_member *m)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 8;
		struct chat_member **p = realloc(r->m, cap * sizeof *p);

		if (p == NULL)
			return -1;
		r->m = p;
		r->cap = cap;
	}
	m->room = r;
	m->index = r->n;
	r->m[r->n++] = m;
	return 0;
}

/* TODO(ch08): Take m out of its room in O(1): the room's last
 * member takes m's place in r->m (and learns its new index), the
 * count drops, m->room becomes NULL. Order in a room is not
 * kept. Read section 7.
 * Hints: make hint CH=8 TODO=room_remove (2 levels). */
static void room_remove(struct chat_member *m)
{
	(void)m;
}

/* Frames. */

/* The frame of one text message, built once into chat->frame: *n its
 * length, NULL when out of memory. */
static const char *frame_text(struct cl_chat *chat, const char *text,
			      size_t len, size_t *n)
{
	char hdr[10];
	size_t h = cl_ws_frame_header(hdr, CL_WS_TEXT, len);

	if (h + len > chat->frame_cap) {
		char *p = realloc(chat->frame, h + len);

		if (p == NULL)
			return NULL;
		chat->frame = p;
		chat->frame_cap = h + len;
	}
	memcpy(chat->frame, hdr, h);
	memcpy(chat->frame + h, text, len);
	*n = h + len;
	return chat->frame;
}

static void member_drop(struct chat_member *m, int code, const char *why);

/* TODO(ch08): Queue the frame (n bytes, built once) to every
 * open member of r, and count each in deliveries. A member whose
 * queue (cl_ws_buffered) would pass max_queue with it is a slow
 * consumer: drop it (member_drop, 1008) instead, which takes it
 * out of r. Keep st.max_queued the largest queue seen. As
 * websockets.broadcast; read section 8.
 * Hints: make hint CH=8 TODO=room_broadcast (3 levels). */
static void room_broadcast(struct cl_chat *chat, struct chat_room *r,
			   const char *frame, size_t n)
{
	(void)chat, (void)r, (void)frame, (void)n;
}

/* Say text to the room here and, through Redis, in the other
 * processes. */
static void room_say(struct cl_chat *chat, struct chat_room *r,
		     const char *text, size_t len)
{
	const char *frame;
	char ch[CL_CHAT_NAME_MAX + 8];
	size_t n;

	frame = frame_text(chat, text, len, &n);
	if (frame != NULL)
		room_broadcast(chat, r, frame, n);
	if (chat->bus != NULL) {
		/* "W\tTEXT": the worker, so that it skips its own. */
		char *env = malloc(len + 16);
		int k;

		if (env == NULL) {
			chat->st.lost++;
			return;
		}
		k = sprintf(env, "%d\t", chat->cfg.worker);
		memcpy(env + k, text, len);
		/* Not taken (Redis is down): the bus counts it lost. */
		cl_redis_bus_publish(chat->bus, channel_of(ch, r->name), env,
				     k + len);
		free(env);
	}
}

/* A message from another process, on "room:ROOM". */
static void bus_message(void *arg, const char *channel, size_t clen,
			const char *data, size_t n)
{
	struct cl_chat *chat = arg;
	struct chat_room *r;
	const char *tab = memchr(data, '\t', n), *frame;
	size_t fn;

	if (clen < 6 || memcmp(channel, "room:", 5) != 0 || tab == NULL)
		return;
	if (atoi(data) == chat->cfg.worker)
		return; /* our own, delivered already */
	r = room_find(chat, channel + 5, clen - 5);
	if (r == NULL)
		return; /* its last member here left meanwhile */
	chat->st.remote++;
	n -= (size_t)(tab + 1 - data);
	frame = frame_text(chat, tab + 1, n, &fn);
	if (frame != NULL)
		room_broadcast(chat, r, frame, fn);
}

static void bus_state(void *arg, int up)
{
	struct cl_chat *chat = arg;

	chat_log(chat, "redis %s", up ? "up" : "down");
	chat->bus_down = !up;
	all_live(chat); /* up: subscribed to all; down: nothing to wait for */
}

static void bus_subscribed(void *arg, const char *channel, size_t clen)
{
	struct cl_chat *chat = arg;
	struct chat_room *r;

	if (clen > 5 && memcmp(channel, "room:", 5) == 0 &&
	    (r = room_find(chat, channel + 5, clen - 5)) != NULL)
		room_live(r);
}

static const struct cl_redis_bus_ops bus_ops = {
	.message = bus_message,
	.state = bus_state,
	.subscribed = bus_subscribed,
};

/* Members. */

static void send_line(struct chat_member *m, const char *text, size_t n)
{
	cl_ws_send(m->ws, CL_WS_TEXT, text, n);
}

static void member_leave(struct chat_member *m)
{
	struct cl_chat *chat = m->chat;
	struct chat_room *r = m->room;
	char line[2 * CL_CHAT_NAME_MAX + 32];
	int n;

	if (r == NULL)
		return;
	m->waiting = 0;
	room_remove(m);
	chat_log(chat, "left %s", r->name);
	n = sprintf(line, "presence\t%s\t%s\tleave", r->name, m->name);
	room_say(chat, r, line, n);
	room_free_if_empty(chat, r);
}

/* Announce the leaves of dropped members: after the broadcast that
 * dropped them, never inside it. */
static void chat_flush_leaves(void *arg)
{
	struct cl_chat *chat = arg;
	struct chat_leave *l;
	char line[2 * CL_CHAT_NAME_MAX + 32];
	int n;

	cl_handle_decref(chat->flush);
	chat->flush = NULL;
	while ((l = chat->leaves) != NULL) {
		struct chat_room *r = room_find(chat, l->room,
						strlen(l->room));

		chat->leaves = l->next;
		n = sprintf(line, "presence\t%s\t%s\tleave", l->room,
			    l->name);
		if (r != NULL) {
			room_say(chat, r, line, (size_t)n);
			room_free_if_empty(chat, r);
		}
		free(l);
	}
}

/*
 * Drop m: a close frame with code, and out of its room at once. It may
 * be called in the middle of room_broadcast, so it neither broadcasts
 * nor frees the room: its presence "leave" is said by
 * chat_flush_leaves, soon after.
 */
static void member_drop(struct chat_member *m, int code, const char *why)
{
	struct cl_chat *chat = m->chat;
	struct chat_leave *l;

	if (code == CL_WS_POLICY)
		chat->st.slow++;
	chat_log(chat, "dropped: %s (%zu bytes queued)", why,
		 cl_ws_buffered(m->ws));
	cl_ws_close(m->ws, code, why);
	if (m->room == NULL)
		return;
	l = malloc(sizeof *l);
	if (l != NULL) {
		strcpy(l->room, m->room->name);
		strcpy(l->name, m->name);
		l->next = chat->leaves;
		chat->leaves = l;
		if (chat->flush == NULL)
			chat->flush = cl_handle_incref(cl_loop_call_soon(
				chat->loop, chat_flush_leaves, chat));
	}
	m->waiting = 0;
	room_remove(m);
}

static int valid_name(const char *s, size_t n)
{
	if (n == 0 || n > CL_CHAT_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

static void member_error(struct chat_member *m, const char *what)
{
	char line[128];
	int n = snprintf(line, sizeof line, "error\t%s", what);

	send_line(m, line, (size_t)n);
}

/* "joined ROOM NAME N": m hears every message of its room from now on. */
static void tell_joined(struct chat_member *m)
{
	char line[2 * CL_CHAT_NAME_MAX + 48];
	int n = sprintf(line, "joined\t%s\t%s\t%zu", m->room->name, m->name,
			m->room->n);

	send_line(m, line, (size_t)n);
}

/*
 * The room's messages from other processes reach it from now on: tell
 * its waiting members they joined. Until then a member who is told
 * "joined" could miss a message another process publishes before Redis
 * has our SUBSCRIBE.
 */
static void room_live(struct chat_room *r)
{
	r->live = 1;
	for (size_t i = 0; i < r->n; i++)
		if (r->m[i]->waiting) {
			r->m[i]->waiting = 0;
			tell_joined(r->m[i]);
		}
}

/* Redis is down or slow: nothing to wait for, every room is live. */
static void all_live(void *arg)
{
	struct cl_chat *chat = arg;

	if (chat->give_up != NULL) {
		cl_handle_cancel(chat->give_up);
		cl_handle_decref(chat->give_up);
		chat->give_up = NULL;
	}
	for (int i = 0; i < ROOM_BUCKETS; i++)
		for (struct chat_room *r = chat->rooms[i]; r; r = r->next)
			room_live(r);
}

static void member_join(struct chat_member *m, const char *room, size_t rn,
			const char *name, size_t nn)
{
	struct cl_chat *chat = m->chat;
	struct chat_room *r;
	char rname[CL_CHAT_NAME_MAX + 1];
	char line[2 * CL_CHAT_NAME_MAX + 48];
	int n;

	if (!valid_name(room, rn) || !valid_name(name, nn)) {
		member_error(m, "bad room or name");
		return;
	}
	member_leave(m);
	memcpy(rname, room, rn);
	rname[rn] = '\0';
	memcpy(m->name, name, nn);
	m->name[nn] = '\0';
	r = room_get(chat, rname);
	if (r == NULL) {
		member_error(m, "out of memory");
		return;
	}
	/* The others hear of it first; m is not in the room yet. */
	n = sprintf(line, "presence\t%s\t%s\tjoin", r->name, m->name);
	room_say(chat, r, line, (size_t)n);
	if (room_add(r, m) < 0) {
		room_free_if_empty(chat, r);
		member_error(m, "out of memory");
		return;
	}
	chat_log(chat, "joined %s as %s", r->name, m->name);
	if (r->live) {
		tell_joined(m);
	} else {
		m->waiting = 1;
		if (chat->give_up == NULL)
			chat->give_up = cl_handle_incref(cl_loop_call_later(
				chat->loop, 1.0, all_live, chat));
	}
}

static void member_say(struct chat_member *m, const char *text, size_t tn)
{
	struct cl_chat *chat = m->chat;
	struct chat_room *r = m->room;
	char *line;
	size_t n;

	if (r == NULL) {
		member_error(m, "join a room first");
		return;
	}
	if (tn > MAX_TEXT) {
		member_error(m, "message too long");
		return;
	}
	line = malloc(tn + 2 * CL_CHAT_NAME_MAX + 16);
	if (line == NULL) {
		member_error(m, "out of memory");
		return;
	}
	n = (size_t)sprintf(line, "msg\t%s\t%s\t", r->name, m->name);
	memcpy(line + n, text, tn);
	chat->st.messages++;
	room_say(chat, r, line, n + tn);
	free(line);
}

struct incoming {
	struct chat_member *m;
	const char *data;
	size_t n;
};

/* One line from a member, in its context. */
static void *member_command(void *arg)
{
	struct incoming *in = arg;
	struct chat_member *m = in->m;
	const char *d = in->data, *t1, *t2;
	size_t n = in->n;

	if (n >= 4 && memcmp(d, "msg\t", 4) == 0) {
		member_say(m, d + 4, n - 4);
	} else if (n >= 5 && memcmp(d, "join\t", 5) == 0 &&
		   (t1 = memchr(d + 5, '\t', n - 5)) != NULL) {
		t2 = t1 + 1;
		member_join(m, d + 5, (size_t)(t1 - (d + 5)), t2,
			    (size_t)(d + n - t2));
	} else if (n == 5 && memcmp(d, "leave", 5) == 0) {
		member_leave(m);
	} else {
		member_error(m, "unknown command");
	}
	return NULL;
}

static void on_message(struct cl_ws *ws, int opcode, const char *data,
		       size_t n)
{
	struct chat_member *m = cl_ws_arg(ws);
	struct incoming in = { m, data, n };

	m->last_seen = cl_loop_time(m->chat->loop);
	m->pinged = 0;
	if (opcode != CL_WS_TEXT) {
		member_error(m, "text only");
		return;
	}
	cl_context_run(m->ctx, member_command, &in);
}

static void on_pong(struct cl_ws *ws, const char *data, size_t n)
{
	struct chat_member *m = cl_ws_arg(ws);

	(void)data, (void)n;
	m->last_seen = cl_loop_time(m->chat->loop);
	m->pinged = 0;
}

static void *member_gone(void *arg)
{
	struct chat_member *m = arg;

	member_leave(m);
	chat_log(m->chat, "closed");
	return NULL;
}

static void on_closed(struct cl_ws *ws, int code, const char *reason)
{
	struct chat_member *m = cl_ws_arg(ws);
	struct cl_chat *chat = m->chat;

	(void)code, (void)reason;
	cl_context_run(m->ctx, member_gone, m);
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		chat->members = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	chat->st.connections--;
	cl_context_decref(m->ctx);
	free(m);
	if (chat->members == NULL && chat->all_gone != NULL &&
	    !cl_future_done(chat->all_gone))
		cl_future_set_result(chat->all_gone, NULL);
}

static const struct cl_ws_ops member_ops = {
	.message = on_message,
	.closed = on_closed,
	.pong = on_pong,
};

static void *member_hello(void *arg)
{
	struct chat_member *m = arg;

	chat_log(m->chat, "connected from %s",
		 cl_transport_get_extra_info(cl_ws_transport(m->ws),
					     "peername"));
	return NULL;
}

static void *set_conn_id(void *arg)
{
	cl_contextvar_set(&conn_id, arg);
	return NULL;
}

static void *member_idle(void *arg)
{
	member_drop(arg, CL_WS_GOING_AWAY, "idle");
	return NULL;
}

/* GET /ws: a new member. */
static void chat_upgrade(struct cl_chat *chat, struct cl_http_conn *c,
			 const struct cl_http_request *req)
{
	const char *key, *version, *rest;
	size_t klen, vlen, nrest;
	struct chat_member *m;
	struct cl_transport *t;
	struct cl_ws_limits lim = { .max_frame = MAX_TEXT + 64,
				    .max_message = MAX_TEXT + 64 };

	key = cl_http_header(req, "Sec-WebSocket-Key", &klen);
	version = cl_http_header(req, "Sec-WebSocket-Version", &vlen);
	if (chat->closing) {
		cl_http_respond(c, 503, "text/plain", "shutting down\n", 14);
		return;
	}
	if (key == NULL || version == NULL ||
	    !cl_http_header_has(req, "Upgrade", "websocket")) {
		cl_http_respond(c, 400, "text/plain",
				"a WebSocket upgrade is expected here\n", 37);
		return;
	}
	m = calloc(1, sizeof *m);
	if (m != NULL)
		m->ctx = cl_context_new();
	if (m == NULL || m->ctx == NULL) {
		free(m);
		cl_http_respond(c, 503, "text/plain", "out of memory\n", 14);
		return;
	}
	m->chat = chat;
	m->id = ++chat->next_id;
	cl_context_run(m->ctx, set_conn_id, (void *)(uintptr_t)m->id);
	m->last_seen = cl_loop_time(chat->loop);
	t = cl_http_detach(c, &rest, &nrest);
	if (chat->cfg.sndbuf > 0)
		setsockopt(cl_transport_get_fd(t), SOL_SOCKET, SO_SNDBUF,
			   &chat->cfg.sndbuf, sizeof chat->cfg.sndbuf);
	m->ws = cl_ws_server(t, key, klen, version, vlen, rest, nrest,
			     &member_ops, m, &lim);
	if (m->ws == NULL) {
		cl_context_decref(m->ctx);
		free(m);
		return;
	}
	m->next = chat->members;
	if (m->next != NULL)
		m->next->prev = m;
	chat->members = m;
	chat->st.connections++;
	cl_context_run(m->ctx, member_hello, m);
}

static void chat_stats_json(struct cl_chat *chat, struct cl_http_conn *c)
{
	struct cl_chat_stats st;
	char body[512];
	int n;

	cl_chat_stats(chat, &st);
	n = snprintf(body, sizeof body,
		     "{\"worker\": %d, \"connections\": %lu, \"rooms\": %lu, "
		     "\"messages\": %lu, \"deliveries\": %lu, \"remote\": %lu, "
		     "\"slow\": %lu, \"idle\": %lu, \"lost\": %lu, "
		     "\"reconnects\": %lu, \"max_queued\": %zu}\n",
		     chat->cfg.worker, st.connections, st.rooms, st.messages,
		     st.deliveries, st.remote, st.slow, st.idle, st.lost,
		     st.reconnects, st.max_queued);
	cl_http_respond(c, 200, "application/json", body, (size_t)n);
}

/* The chat's series in /metrics (chapter 09): what /stats says, and
 * the members of each room. */
static void chat_collect(struct cl_metrics_out *o, void *arg)
{
	struct cl_chat *chat = arg;
	struct cl_chat_stats st;

	cl_chat_stats(chat, &st);
	const struct {
		const char *name, *help;
		enum cl_metric_type type;
		double v;
	} series[] = {
		{ "corolab_chat_connections", "WebSocket connections open.",
		  CL_METRIC_GAUGE, (double)st.connections },
		{ "corolab_chat_rooms", "Rooms with a member here.",
		  CL_METRIC_GAUGE, (double)st.rooms },
		{ "corolab_chat_messages_total",
		  "Messages taken in from members.", CL_METRIC_COUNTER,
		  (double)st.messages },
		{ "corolab_chat_deliveries_total", "Frames queued to members.",
		  CL_METRIC_COUNTER, (double)st.deliveries },
		{ "corolab_chat_remote_total", "Messages that came by Redis.",
		  CL_METRIC_COUNTER, (double)st.remote },
		{ "corolab_chat_slow_drops_total",
		  "Members dropped as slow consumers.", CL_METRIC_COUNTER,
		  (double)st.slow },
		{ "corolab_chat_idle_closes_total", "Members closed as idle.",
		  CL_METRIC_COUNTER, (double)st.idle },
		{ "corolab_chat_lost_total",
		  "Publications Redis did not take.", CL_METRIC_COUNTER,
		  (double)st.lost },
		{ "corolab_chat_redis_reconnects_total",
		  "Reconnections to Redis.", CL_METRIC_COUNTER,
		  (double)st.reconnects },
		{ "corolab_chat_max_queued_bytes",
		  "The most bytes one member had queued.", CL_METRIC_GAUGE,
		  (double)st.max_queued },
	};

	for (size_t i = 0; i < sizeof series / sizeof series[0]; i++) {
		cl_metrics_family(o, series[i].name, series[i].help,
				  series[i].type);
		cl_metrics_sample(o, series[i].v, NULL);
	}
	cl_metrics_family(o, "corolab_chat_members",
			  "Members of each room here.", CL_METRIC_GAUGE);
	for (int i = 0; i < ROOM_BUCKETS; i++)
		for (struct chat_room *r = chat->rooms[i]; r; r = r->next)
			cl_metrics_sample(o, (double)r->n, "room", r->name,
					  NULL);
}

/*
 * GET /metrics: the loop's series and the chat's, in Prometheus's text
 * format. The first scrape turns metrics on for the loop (unless the
 * program did already: then the chat joins its metrics), so that a chat
 * nobody scrapes does not time its loop.
 */
static void chat_metrics(struct cl_chat *chat, struct cl_http_conn *c)
{
	char *text, err[128];
	size_t n;
	int e;

	if (chat->metrics == NULL) {
		struct cl_metrics *m = chat->loop->metrics;
		int own = m == NULL;

		if (own)
			m = cl_metrics_new(chat->loop);
		e = m != NULL ? -cl_metrics_collect(m, chat_collect, chat)
			      : errno;
		if (e != 0) {
			if (own)
				cl_metrics_free(m);
			goto fail;
		}
		chat->metrics = m;
		chat->own_metrics = own;
	}
	text = cl_metrics_render(chat->metrics, &n);
	if (text == NULL) {
		e = errno;
		goto fail;
	}
	cl_http_respond(c, 200, CL_METRICS_CONTENT_TYPE, text, n);
	free(text);
	return;
fail:
	n = (size_t)snprintf(err, sizeof err, "metrics: %s\n", strerror(e));
	cl_http_respond(c, 500, "text/plain", err, n);
}

static int path_is(const struct cl_http_request *req, const char *p)
{
	return req->path_len == strlen(p) &&
	       memcmp(req->path, p, req->path_len) == 0;
}

void cl_chat_http(struct cl_http_conn *c, const struct cl_http_request *req,
		  void *arg)
{
	struct cl_chat *chat = arg;

	if (path_is(req, "/ws"))
		chat_upgrade(chat, c, req);
	else if (path_is(req, "/stats"))
		chat_stats_json(chat, c);
	else if (path_is(req, "/metrics"))
		chat_metrics(chat, c);
	else
		cl_http_serve_file(c, req);
}

/* The sweep: ping the quiet, close the silent. */
static void chat_sweep(void *arg)
{
	struct cl_chat *chat = arg;
	double now = cl_loop_time(chat->loop), idle = chat->cfg.idle_timeout;
	struct chat_member *m, *next;

	for (m = chat->members; m != NULL; m = next) {
		next = m->next;
		if (!cl_ws_is_open(m->ws))
			continue;
		if (now - m->last_seen >= idle) {
			chat->st.idle++;
			cl_context_run(m->ctx, member_idle, m);
		} else if (now - m->last_seen >= idle / 2 && !m->pinged) {
			m->pinged = 1;
			cl_ws_ping(m->ws, "", 0);
		}
	}
	cl_handle_decref(chat->sweep); /* the one running now */
	chat->sweep = cl_handle_incref(cl_loop_call_later(chat->loop, idle / 4,
							  chat_sweep, chat));
}

struct cl_chat *cl_chat_new(struct cl_loop *loop,
			    const struct cl_chat_config *cfg)
{
	struct cl_chat *chat = calloc(1, sizeof *chat);

	if (chat == NULL)
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	if (!conn_id_ready) {
		cl_contextvar_init(&conn_id, "conn_id");
		conn_id_ready = 1;
	}
	chat->loop = loop;
	chat->cfg = *cfg;
	if (chat->cfg.max_queue == 0)
		chat->cfg.max_queue = DEFAULT_QUEUE;
	if (chat->cfg.idle_timeout <= 0)
		chat->cfg.idle_timeout = DEFAULT_IDLE;
	if (cfg->redis_host != NULL)
		chat->bus = cl_redis_bus_new(loop, cfg->redis_host,
					     cfg->redis_port, &bus_ops, chat);
	chat->sweep = cl_handle_incref(cl_loop_call_later(
		loop, chat->cfg.idle_timeout / 4, chat_sweep, chat));
	return chat;
}

/* Wait for every member to be gone, at most timeout seconds. */
static void wait_gone(struct cl_chat *chat, double timeout)
{
	CL_TRY {
		cl_wait_for(chat->all_gone, timeout);
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_TimeoutError))
			cl_raise(e);
		cl_exc_decref(e);
	} CL_END_TRY;
}

size_t cl_chat_shutdown(struct cl_chat *chat, double timeout)
{
	struct chat_member *m;
	size_t aborted = 0;

	/* A shutdown cancelled half way left its future behind. */
	cl_future_decref(chat->all_gone);
	chat->all_gone = NULL;
	chat->closing = 1;
	if (chat->members == NULL)
		return 0;
	chat->all_gone = cl_future_new(chat->loop);
	for (m = chat->members; m != NULL; m = m->next)
		if (cl_ws_is_open(m->ws))
			cl_ws_close(m->ws, CL_WS_GOING_AWAY,
				    "server shutting down");
	wait_gone(chat, timeout);
	if (chat->members != NULL) {
		/* wait_for cancelled it: a fresh one for the aborts. */
		cl_future_decref(chat->all_gone);
		chat->all_gone = cl_future_new(chat->loop);
		for (m = chat->members; m != NULL; m = m->next) {
			cl_ws_abort(m->ws);
			aborted++;
		}
		cl_await(chat->all_gone);
	}
	cl_future_decref(chat->all_gone);
	chat->all_gone = NULL;
	return aborted;
}

void cl_chat_stats(const struct cl_chat *chat, struct cl_chat_stats *out)
{
	*out = chat->st;
	if (chat->bus != NULL) {
		struct cl_redis_bus_stats bs;

		cl_redis_bus_stats(chat->bus, &bs);
		out->lost += bs.lost;
		out->reconnects = bs.reconnects;
	}
}

void cl_chat_free(struct cl_chat *chat)
{
	if (chat == NULL)
		return;
	if (chat->own_metrics)
		cl_metrics_free(chat->metrics);
	else if (chat->metrics != NULL)
		cl_metrics_uncollect(chat->metrics, chat_collect, chat);
	if (chat->sweep != NULL) {
		cl_handle_cancel(chat->sweep);
		cl_handle_decref(chat->sweep);
	}
	for (int i = 0; i < ROOM_BUCKETS; i++)
		while (chat->rooms[i] != NULL) {
			struct chat_room *r = chat->rooms[i];

			chat->rooms[i] = r->next;
			free(r->m);
			free(r);
		}
	if (chat->give_up != NULL) {
		cl_handle_cancel(chat->give_up);
		cl_handle_decref(chat->give_up);
	}
	if (chat->flush != NULL) {
		cl_handle_cancel(chat->flush);
		cl_handle_decref(chat->flush);
	}
	while (chat->leaves != NULL) {
		struct chat_leave *l = chat->leaves;

		chat->leaves = l->next;
		free(l);
	}
	if (chat->bus != NULL)
		cl_redis_bus_free(chat->bus);
	cl_future_decref(chat->all_gone); /* a shutdown was cancelled */
	free(chat->frame);
	free(chat);
}
