/*
 * chat.h - the chapter 08 chat: rooms, presence and broadcast over
 * WebSocket, one loop per process, fan-out between processes by Redis.
 *
 * A browser opens ws://host:port/ws and speaks lines of tab-separated
 * fields, one per text message:
 *
 *	client -> server			server -> client
 *	join	ROOM	NAME			joined	ROOM	NAME	N
 *						presence ROOM	NAME	join|leave
 *	msg	TEXT				msg	ROOM	NAME	TEXT
 *	leave					error	WHAT
 *
 * ROOM and NAME are 1 to 32 characters of [A-Za-z0-9_.-]; a connection
 * is in one room at most. "joined" goes to the joiner (N: the members
 * of the room in this process), "presence" to the others, and "msg" to
 * everyone in the room, the sender too, in the order the server took
 * the messages in.
 *
 * The chat is a protocol-layer program: no task per connection. Each
 * member is a struct cl_ws (ws.h) and a few dozen bytes here, so that
 * 50,000 of them fit in a few hundred MB. Its send queue is the
 * transport's write buffer, and the chat bounds it: a member whose
 * queue would pass max_queue bytes is a slow consumer, dropped with
 * close code 1008, so that one reader that stalls cannot make the
 * server's memory grow (room_broadcast in chat.c).
 *
 * Several processes (chatd -w N) each run one chat on one loop,
 * listening on the same port (SO_REUSEPORT). Two members of one room
 * may then sit in different processes: every message and presence
 * change is published on the Redis channel "room:ROOM", and each
 * process subscribes to the channels of the rooms it has members in
 * (redis.h's bus). A process delivers its own members' messages at
 * once and skips its own publications when they come back. While Redis
 * is down the room still works inside each process; what other
 * processes miss meanwhile is counted as lost.
 *
 * Every log line names its connection ("c42"), from a context variable
 * set in each member's own context (chapter 06): the ws callbacks run
 * in it.
 *
 * Python: the chat of the websockets library's examples (broadcast to a
 * set of connections), aiohttp's WebSocketResponse, and
 * redis.asyncio's PubSub; Lib/asyncio/transports.py for the write
 * buffer the queue bound reads (get_write_buffer_size).
 */
#ifndef CL_CHAT_H
#define CL_CHAT_H

#include <stddef.h>
#include <stdio.h>

#include "http.h"
#include "loop.h"

#define CL_CHAT_NAME_MAX 32

struct cl_chat;

struct cl_chat_config {
	size_t max_queue;     /* bytes a member may have waiting to be
				 sent; 0: 256 KiB */
	int sndbuf;	      /* each member socket's SO_SNDBUF: what the
				 kernel may hold beyond max_queue; 0: the
				 kernel's own, which grows up to 4 MB */
	double idle_timeout;  /* close a member silent this long (s); a
				 ping goes at half of it; 0: 60 */
	const char *redis_host; /* NULL: this process alone */
	int redis_port;
	int worker;	      /* this process's number, in what it
				 publishes */
	FILE *log;	      /* NULL: no log */
};

struct cl_chat_stats {
	unsigned long connections; /* open now */
	unsigned long rooms;	   /* with a member here */
	unsigned long messages;	   /* taken in from members */
	unsigned long deliveries;  /* frames queued to members */
	unsigned long remote;	   /* messages that came by Redis */
	unsigned long slow;	   /* members dropped as slow consumers */
	unsigned long idle;	   /* members closed as idle */
	unsigned long lost;	   /* publications Redis did not take */
	unsigned long reconnects;  /* to Redis */
	size_t max_queued;	   /* the most bytes one member had queued */
};

/* A chat on loop; redis_host set: connects to Redis (and reconnects,
 * with back-off, whenever it goes away). */
struct cl_chat *cl_chat_new(struct cl_loop *loop,
			    const struct cl_chat_config *cfg);

/*
 * The chat's HTTP handler (http.h): GET /ws upgrades to WebSocket and
 * joins the chat, GET /stats answers the counters as JSON, GET /metrics
 * the same counters, the members of each room and the loop's own series
 * in Prometheus's text format (chapter 09, metrics.h), anything else is
 * a static file from the server's root. arg is the chat.
 *
 * The first scrape of /metrics turns metrics on for the loop
 * (cl_metrics_new), and cl_chat_free turns them off again; if the
 * program made the loop's metrics itself, the chat adds its series to
 * them instead, and they must then outlive the chat.
 */
void cl_chat_http(struct cl_http_conn *c, const struct cl_http_request *req,
		  void *arg);

/*
 * Graceful shutdown, awaited in a task: a close frame (1001, going
 * away) to every member, then wait up to timeout seconds for them to
 * answer it; those that have not are aborted. New connections are
 * refused from now on (stop the HTTP server first, so none come).
 * Returns how many were aborted.
 */
size_t cl_chat_shutdown(struct cl_chat *chat, double timeout);

void cl_chat_stats(const struct cl_chat *chat, struct cl_chat_stats *out);

/* Free the chat; call after cl_chat_shutdown (no member left). */
void cl_chat_free(struct cl_chat *chat);

#endif
