/*
 * redis.h - Redis on our loop: a hiredis adapter and a pub/sub bus.
 *
 * hiredis's asynchronous API (hiredis/async.h) does no I/O of its own
 * waiting. It owns a non-blocking socket, a reply parser and a list of
 * callbacks, and it asks an event library to watch the socket through
 * five hooks in ac->ev: addRead, delRead, addWrite, delWrite and cleanup.
 * When the socket is ready, the library calls redisAsyncHandleRead or
 * redisAsyncHandleWrite, which read the replies and call the callbacks
 * given to redisAsyncCommand. An adapter is the few lines that map
 * those hooks onto one loop's calls; hiredis ships one per library
 * (adapters/ae.h for Redis's own loop, adapters/libuv.h, libev.h ...),
 * and cl_redis_attach is ours, onto add_reader and add_writer
 * (fdwatch.h):
 *
 *	ac = redisAsyncConnect("127.0.0.1", 6379);
 *	cl_redis_attach(ac, loop);		redisAeAttach(loop, ac)
 *	redisAsyncCommand(ac, got, NULL, "GET %s", "k");
 *
 * got(ac, reply, privdata) then runs as a loop callback once the reply
 * is in; every hiredis callback (replies, connect, disconnect) runs from
 * the loop, never from inside cl_redis_attach or redisAsyncCommand.
 *
 * On top of it, a publish/subscribe bus for the chat's workers: each
 * process publishes what its clients say to a Redis channel per room,
 * and hears what the others publish. Redis puts a connection that has
 * subscribed into a mode where it takes no other command, so the bus
 * holds two: one subscribed, one for PUBLISH. It keeps its own list of
 * channels and, when Redis goes away (killed, restarted, the network
 * down), it reconnects by itself, with back-off, and subscribes again:
 *
 *	b = cl_redis_bus_new(loop, "127.0.0.1", 6379, &ops, arg);
 *	cl_redis_bus_subscribe(b, "room:lobby");
 *	cl_redis_bus_publish(b, "room:lobby", "hi", 2);
 *	...	ops.message(arg, "room:lobby", 10, "hi", 2) on every bus
 *		subscribed to room:lobby, this one included
 *
 * Delivery is at most once: Redis pub/sub keeps nothing, so what is
 * published while a subscriber is disconnected never reaches it. The
 * bus counts what it knows it lost.
 *
 * Python: the adapter is what redis-py's asyncio client does with
 * loop.add_reader (redis/asyncio/connection.py reads through asyncio
 * streams); the bus is redis.asyncio.client.PubSub with its
 * reconnect-and-resubscribe (PubSub.on_connect replays the channels).
 */
#ifndef CL_REDIS_H
#define CL_REDIS_H

#include <stddef.h>

#include <hiredis/async.h>

#include "loop.h"

/*
 * Drive ac, a context from redisAsyncConnect (or ...Unix), from loop:
 * its socket is watched by the loop whenever hiredis asks for it, and
 * no longer once the context is freed. Returns REDIS_OK, or REDIS_ERR if
 * ac is attached already (ac->ev.data is set) or out of memory.
 * hiredis/adapters/ae.h redisAeAttach and adapters/libuv.h
 * redisLibuvAttach.
 */
int cl_redis_attach(redisAsyncContext *ac, struct cl_loop *loop);

/* ---- The pub/sub bus --------------------------------------------------- */

struct cl_redis_bus;

/* What the bus tells its owner; either may be NULL. */
struct cl_redis_bus_ops {
	/* A message on a channel this bus is subscribed to. channel (clen
	 * bytes) and data (n bytes) are valid during the call only; both
	 * may hold any byte, NUL included (channel is NUL-terminated
	 * too, data is not). */
	void (*message)(void *arg, const char *channel, size_t clen,
			const char *data, size_t n);
	/* The connection went down (up 0), or came up and every
	 * subscription is in place (up 1): once when the bus first
	 * connects, then once after each reconnect. A bus that never came
	 * up does not say it went down. */
	void (*state)(void *arg, int up);
	/* Optional: Redis confirmed the subscription to channel (also
	 * when a reconnect replays it): from now on its messages come. */
	void (*subscribed)(void *arg, const char *channel, size_t clen);
};

/*
 * A bus on the Redis at host:port, driven by loop. host is best an
 * IPv4 or IPv6 address: hiredis resolves a name with getaddrinfo, which
 * blocks the loop at every (re)connect.
 *
 * It connects at once and calls state(arg, 1) when it is up; if Redis
 * is not there it keeps trying, 50 ms after the failure, then twice as
 * long each time up to 2 s (plus up to 10% of jitter, so that many
 * workers do not all come back in the same millisecond), until freed.
 * A connection that does not come up within 2 s counts as failed; one
 * where a PUBLISH stays unanswered for 1 to 2 s (Redis stopped, a
 * network gone silent) counts as gone, as if Redis had closed it. Both
 * connections use TCP keepalive. The ops and arg are kept (ops by
 * pointer). NULL and errno (EINVAL, ENOMEM) on error.
 */
struct cl_redis_bus *cl_redis_bus_new(struct cl_loop *loop, const char *host,
				      int port,
				      const struct cl_redis_bus_ops *ops,
				      void *arg);

/*
 * Hear channel (a C string). Subscriptions count: subscribing twice
 * takes two unsubscribes. Messages come from the moment Redis confirms
 * the subscription; while the bus is down the channel is remembered and
 * subscribed to at the reconnect. 0, or -EINVAL (NULL or empty
 * channel), -ENOMEM.
 */
int cl_redis_bus_subscribe(struct cl_redis_bus *b, const char *channel);

/* Undo one subscribe. At the last, no more messages of channel reach
 * ops.message, at once (even those Redis has sent already). 0, or
 * -ENOENT if the bus is not subscribed to channel, -EINVAL. */
int cl_redis_bus_unsubscribe(struct cl_redis_bus *b, const char *channel);

/*
 * PUBLISH channel data (n bytes, any bytes) on the publishing
 * connection. 0: sent (while up, or connecting: it goes out when the
 * connection does); -1: Redis is down, the message is lost and counted
 * (stats.lost). A message sent whose reply never comes, because the
 * connection died first, is counted lost too, when the bus notices.
 * -EINVAL for a NULL or empty channel.
 */
int cl_redis_bus_publish(struct cl_redis_bus *b, const char *channel,
			 const void *data, size_t n);

/* 1 while up (between state(1) and state(0)), else 0. */
int cl_redis_bus_is_up(const struct cl_redis_bus *b);

/*
 * Counters since the bus was made. Every publish ends up in published
 * (Redis answered it) or lost (down, or the connection died before the
 * answer), once the answer or the disconnection is in; received counts
 * the messages given to ops.message; reconnects counts the times the
 * bus came up again after having been up.
 */
struct cl_redis_bus_stats {
	unsigned long published, lost, received, reconnects;
};
void cl_redis_bus_stats(const struct cl_redis_bus *b,
			struct cl_redis_bus_stats *out);

/* Disconnect and free the bus, in any state (up, connecting, down,
 * inside one of its own callbacks). Nothing is called after it. NULL
 * is fine. */
void cl_redis_bus_free(struct cl_redis_bus *b);

#endif
