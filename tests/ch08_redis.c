/*
 * ch08_redis.c - chapter 08: hiredis on our loop (the adapter), and the
 * pub/sub bus the chat's workers share.
 *
 * Every test starts a redis-server of its own on a free port
 * (redisproc.h) and runs a main task on the real clock: the bytes go
 * through a real socket, so there is no virtual time to jump. A test
 * waits for what it expects with wait_for, which gives up after about
 * 1 s (scaled by CK_TIMEOUT_MULTIPLIER, for the sanitizers) with its own
 * message, well before the grader's timeout: without the adapter's
 * hooks nothing ever reaches Redis, and that is what the message says.
 * Every assertion happens after cl_run has returned.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "fdwatch.h"
#include "grade.h"
#include "poller.h"
#include "redis.h"
#include "redisproc.h"
#include "run.h"
#include "task.h"
#include "trail.h"

#define SEC_ADAPTER "10. Redis on our loop"
#define SEC_BUS "11. More than one loop"

#define NO_REPLY                                                             \
	"no reply from redis within 1 s: are the adapter's hooks in place?"

static struct redisproc rp;
static const char *timed_out; /* what wait_for was waiting for */

/* The 1 s of a wait, times CK_TIMEOUT_MULTIPLIER. */
static double scaled(double secs)
{
	const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
	double k = m != NULL ? atof(m) : 1;

	return secs * (k >= 1 ? k : 1);
}

/*
 * In a task: sleep a little at a time until cond() holds (1), or secs
 * have passed (0: timed_out says what was awaited, the first time).
 */
static int wait_for(int (*cond)(void), double secs, const char *what)
{
	struct cl_loop *loop = cl_get_running_loop();
	double end = cl_loop_time(loop) + scaled(secs);

	while (!cond()) {
		if (cl_loop_time(loop) > end) {
			if (timed_out == NULL)
				timed_out = what;
			return 0;
		}
		cl_sleep(0.002);
	}
	return 1;
}

/* Run main on the real clock; fail with what it gave up waiting for. */
static void run_real(void *(*fn)(void *))
{
	timed_out = NULL;
	run_on(CL_CLOCK_REAL, fn, NULL);
	CL_EXPECT(timed_out == NULL, "%s (waiting for %s)", NO_REPLY,
		  timed_out ? timed_out : "");
}

/* A context on the test's server, attached to the running loop. */
static redisAsyncContext *connect_attached(int port)
{
	redisAsyncContext *ac = redisAsyncConnect("127.0.0.1", port);

	if (ac == NULL || ac->err != 0)
		return NULL;
	if (cl_redis_attach(ac, cl_get_running_loop()) != REDIS_OK) {
		redisAsyncFree(ac);
		return NULL;
	}
	return ac;
}

/* ---- 6. The adapter ---------------------------------------------------- */

static int nreplies;
static int attached_twice;
static size_t watched_after;

/* Note a reply as a string: "v", ":3", "(nil)", "ERR ...", "NULL". */
static void note_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	redisReply *reply = r;

	(void)ac;
	(void)privdata;
	nreplies++;
	if (reply == NULL)
		note("NULL");
	else if (reply->type == REDIS_REPLY_STRING ||
		 reply->type == REDIS_REPLY_STATUS)
		note("%s", reply->str);
	else if (reply->type == REDIS_REPLY_INTEGER)
		note(":%lld", reply->integer);
	else if (reply->type == REDIS_REPLY_NIL)
		note("(nil)");
	else if (reply->type == REDIS_REPLY_ERROR)
		note("ERR");
	else
		note("?");
}

static int one_reply(void)
{
	return nreplies >= 1;
}

static int two_replies(void)
{
	return nreplies >= 2;
}

static void *set_get_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	redisAsyncContext *ac = connect_attached(rp.port);

	(void)arg;
	nreplies = 0;
	attached_twice = cl_redis_attach(ac, loop);
	redisAsyncCommand(ac, note_reply, NULL, "SET %s %s", "k", "v1");
	/* The second command goes out after the first reply is in: the
	 * write hook must be asked for again, and be able to come. */
	if (wait_for(one_reply, 1, "the reply to SET")) {
		redisAsyncCommand(ac, note_reply, NULL, "GET %s", "k");
		wait_for(two_replies, 1, "the reply to GET");
	}
	redisAsyncFree(ac);
	watched_after = cl_loop_nwatched(loop);
	return NULL;
}

/* SET then GET through the loop: the replies come, in order; a context
 * cannot be attached twice; once freed, the loop watches nothing. */
START_TEST(test_redis_set_get)
{
	redisproc_start(&rp);
	run_real(set_get_main);
	redisproc_stop(&rp);
	CL_EXPECT_STR(trail, "OK v1");
	CL_EXPECT_INT(attached_twice, REDIS_ERR);
	CL_EXPECT(watched_after == 0,
		  "after redisAsyncFree the loop still watches %zu fd(s), "
		  "expected 0: cleanup must remove the reader and the writer",
		  watched_after);
}
END_TEST

/* Note "r1" if the loop watches ac's socket for reading, "r0" if not;
 * "w1" and "w0" for writing. */
static void note_watch(struct cl_loop *loop, redisAsyncContext *ac,
		       unsigned dir)
{
	note("%c%d", dir == CL_EV_IN ? 'r' : 'w',
	     cl__loop_fd_watcher(loop, ac->c.fd, dir, NULL, NULL));
}

static void *hooks_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	redisAsyncContext *ac = connect_attached(rp.port);

	(void)arg;
	/* Called as hiredis may call them, without yielding to the loop:
	 * each twice (they are idempotent), and again after a del. */
	ac->ev.addRead(ac->ev.data);
	ac->ev.addRead(ac->ev.data);
	note_watch(loop, ac, CL_EV_IN);
	ac->ev.delRead(ac->ev.data);
	ac->ev.delRead(ac->ev.data);
	note_watch(loop, ac, CL_EV_IN);
	ac->ev.addRead(ac->ev.data);
	note_watch(loop, ac, CL_EV_IN);
	ac->ev.addWrite(ac->ev.data);
	ac->ev.addWrite(ac->ev.data);
	note_watch(loop, ac, CL_EV_OUT);
	ac->ev.delWrite(ac->ev.data);
	ac->ev.delWrite(ac->ev.data);
	note_watch(loop, ac, CL_EV_OUT);
	ac->ev.addWrite(ac->ev.data);
	note_watch(loop, ac, CL_EV_OUT);
	redisAsyncFree(ac);
	note("n%zu", cl_loop_nwatched(loop));
	return NULL;
}

/* The four hooks, called directly: add watches, del stops watching,
 * twice is the same as once, add after del watches again, and freeing
 * the context (cleanup) leaves nothing watched. */
START_TEST(test_redis_hooks)
{
	redisproc_start(&rp);
	run_real(hooks_main);
	redisproc_stop(&rp);
	CL_EXPECT_STR(trail, "r1 r0 r1 w1 w0 w1 n0");
}
END_TEST

#define NINCR 10000
static int nincr, incr_order_ok;

static void on_incr(redisAsyncContext *ac, void *r, void *privdata)
{
	redisReply *reply = r;

	(void)ac;
	(void)privdata;
	nincr++;
	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER ||
	    reply->integer != nincr)
		incr_order_ok = 0;
}

static int all_incr(void)
{
	return nincr == NINCR;
}

static void *pipeline_main(void *arg)
{
	redisAsyncContext *ac = connect_attached(rp.port);

	(void)arg;
	nincr = 0;
	incr_order_ok = 1;
	for (int i = 0; i < NINCR; i++)
		redisAsyncCommand(ac, on_incr, NULL, "INCR counter");
	wait_for(all_incr, 2, "10,000 INCR replies");
	redisAsyncFree(ac);
	return NULL;
}

/* 10,000 INCR sent at once: all answered, in order (1, 2, ... 10000). */
START_TEST(test_redis_pipeline_in_order)
{
	redisproc_start(&rp);
	run_real(pipeline_main);
	redisproc_stop(&rp);
	CL_EXPECT_INT(nincr, NINCR);
	CL_EXPECT(incr_order_ok, "a reply to INCR was not its rank: the "
		  "replies must come in the order of the commands");
}
END_TEST

#define BIG (1 << 20)
static size_t big_len;
static int big_same;
static char *big;

static void on_big(redisAsyncContext *ac, void *r, void *privdata)
{
	redisReply *reply = r;

	(void)ac;
	(void)privdata;
	nreplies++;
	if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
		big_len = reply->len;
		big_same = reply->len == BIG &&
			   memcmp(reply->str, big, BIG) == 0;
	}
}

static void *big_main(void *arg)
{
	redisAsyncContext *ac = connect_attached(rp.port);
	int small = 4096;

	(void)arg;
	nreplies = 0;
	big = malloc(BIG);
	for (size_t i = 0; i < BIG; i++)
		big[i] = (char)(i * 7 + i / 4096);
	/* A small send buffer: the megabyte needs many writes, each when
	 * the socket can take more. */
	setsockopt(ac->c.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	redisAsyncCommand(ac, note_reply, NULL, "SET big %b", big,
			  (size_t)BIG);
	redisAsyncCommand(ac, on_big, NULL, "GET big");
	wait_for(two_replies, 1, "the replies to a 1 MB SET and its GET");
	redisAsyncFree(ac);
	free(big);
	return NULL;
}

/* A 1 MB value goes out in pieces, as the socket drains (the write
 * hook), and comes back the same. */
START_TEST(test_redis_large_write)
{
	redisproc_start(&rp);
	run_real(big_main);
	redisproc_stop(&rp);
	CL_EXPECT_STR(trail, "OK");
	CL_EXPECT_INT(big_len, BIG);
	CL_EXPECT(big_same, "GET big did not give back the bytes SET");
}
END_TEST

static int ndisconnect, disconnect_status;

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	(void)ac;
	ndisconnect++;
	disconnect_status = status;
}

static int is_disconnected(void)
{
	return ndisconnect > 0;
}

static void *disconnect_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	redisAsyncContext *ac = connect_attached(rp.port);

	(void)arg;
	nreplies = 0;
	ndisconnect = 0;
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	redisAsyncCommand(ac, note_reply, NULL, "PING");
	if (wait_for(one_reply, 1, "the reply to PING")) {
		redisproc_stop(&rp);
		wait_for(is_disconnected, 1, "the disconnect callback");
	} else {
		redisAsyncFree(ac);
	}
	watched_after = cl_loop_nwatched(loop);
	return NULL;
}

/* The server goes away: the disconnect callback runs (with REDIS_ERR:
 * it was not our doing), hiredis frees the context, and the loop stops
 * watching its socket. */
START_TEST(test_redis_disconnect_callback)
{
	redisproc_start(&rp);
	run_real(disconnect_main);
	redisproc_stop(&rp);
	CL_EXPECT_STR(trail, "PONG");
	CL_EXPECT_INT(ndisconnect, 1);
	CL_EXPECT_INT(disconnect_status, REDIS_ERR);
	CL_EXPECT(watched_after == 0,
		  "the loop still watches %zu fd(s) after the disconnect, "
		  "expected 0", watched_after);
}
END_TEST

static int nconnect, connect_status;

static void on_connect(const redisAsyncContext *ac, int status)
{
	(void)ac;
	nconnect++;
	connect_status = status;
}

static int connect_done(void)
{
	return nconnect > 0;
}

static void *refused_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	redisAsyncContext *ac;

	(void)arg;
	nreplies = 0;
	nconnect = 0;
	/* Nothing listens on the port of a stopped server. */
	ac = connect_attached(rp.port);
	if (ac == NULL) {
		note("failed at once");
		return NULL;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncCommand(ac, note_reply, NULL, "PING");
	wait_for(connect_done, 1, "the connect callback");
	watched_after = cl_loop_nwatched(loop);
	return NULL;
}

/* Connecting to a closed port: the connect callback says REDIS_ERR,
 * the pending command's callback gets a NULL reply, hiredis frees the
 * context and the loop watches nothing. */
START_TEST(test_redis_connect_refused)
{
	redisproc_start(&rp);
	redisproc_stop(&rp);
	run_real(refused_main);
	CL_EXPECT_INT(nconnect, 1);
	CL_EXPECT_INT(connect_status, REDIS_ERR);
	CL_EXPECT_STR(trail, "NULL");
	CL_EXPECT(watched_after == 0,
		  "the loop still watches %zu fd(s) after a failed "
		  "connect, expected 0", watched_after);
}
END_TEST

/* ---- 7. The bus -------------------------------------------------------- */

/* What a bus told its test: messages as "name<channel=bytes>" in the
 * trail (bytes shown with \xNN for the unprintable), states as
 * "name:up" and "name:down". */
struct watcher {
	const char *name;
	struct cl_redis_bus *bus;
	int ups, downs, msgs;
	int free_in_message; /* free the bus from inside message */
};

static void w_message(void *arg, const char *channel, size_t clen,
		      const char *data, size_t n)
{
	struct watcher *w = arg;
	char buf[256];
	size_t k = 0;

	for (size_t i = 0; i < n && k + 5 < sizeof buf; i++) {
		unsigned char c = (unsigned char)data[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[k++] = (char)c;
		else
			k += (size_t)snprintf(buf + k, sizeof buf - k,
					      "\\x%02x", c);
	}
	buf[k] = '\0';
	w->msgs++;
	note("%s<%.*s=%s>", w->name, (int)clen, channel, buf);
	if (w->free_in_message) {
		cl_redis_bus_free(w->bus);
		w->bus = NULL;
	}
}

static void w_state(void *arg, int up)
{
	struct watcher *w = arg;

	if (up)
		w->ups++;
	else
		w->downs++;
	note("%s:%s", w->name, up ? "up" : "down");
}

static const struct cl_redis_bus_ops w_ops = { .message = w_message,
					       .state = w_state };

static struct watcher wa, wb;

static struct cl_redis_bus *bus_for(struct watcher *w, const char *name)
{
	*w = (struct watcher){ .name = name };
	w->bus = cl_redis_bus_new(cl_get_running_loop(), "127.0.0.1",
				  rp.port, &w_ops, w);
	return w->bus;
}

static int a_up(void)
{
	return cl_redis_bus_is_up(wa.bus);
}

static int both_up(void)
{
	return cl_redis_bus_is_up(wa.bus) && cl_redis_bus_is_up(wb.bus);
}

static int a_down(void)
{
	return wa.downs > 0;
}

static int a_one_msg(void)
{
	return wa.msgs >= 1;
}

static int a_two_msgs(void)
{
	return wa.msgs >= 2;
}

static int two_msgs(void)
{
	return wa.msgs + wb.msgs >= 2;
}

static int five_msgs(void)
{
	return wa.msgs + wb.msgs >= 5;
}

static struct cl_redis_bus_stats st;
static int pub_rc;

static void *pubsub_main(void *arg)
{
	static const char msg[] = "a\0b\xff\n";

	(void)arg;
	bus_for(&wa, "A");
	cl_redis_bus_subscribe(wa.bus, "room:1");
	if (wait_for(a_up, 1, "the bus to come up")) {
		pub_rc = cl_redis_bus_publish(wa.bus, "room:1", msg,
					      sizeof msg - 1);
		wait_for(a_one_msg, 1, "the message published");
	}
	cl_redis_bus_stats(wa.bus, &st);
	cl_redis_bus_free(wa.bus);
	return NULL;
}

/* Subscribe, publish: the message comes back on its channel, every
 * byte of it (a NUL, 0xff, a newline); the counters say one published,
 * one received, nothing lost. */
START_TEST(test_bus_publish_subscribe)
{
	redisproc_start(&rp);
	run_real(pubsub_main);
	redisproc_stop(&rp);
	CL_EXPECT_INT(pub_rc, 0);
	CL_EXPECT_STR(trail, "A:up A<room:1=a\\x00b\\xff\\x0a>");
	CL_EXPECT_INT(st.published, 1);
	CL_EXPECT_INT(st.received, 1);
	CL_EXPECT_INT(st.lost, 0);
	CL_EXPECT_INT(st.reconnects, 0);
}
END_TEST

static char a_trail[512];

static void *two_buses_main(void *arg)
{
	(void)arg;
	bus_for(&wa, "A");
	bus_for(&wb, "B");
	cl_redis_bus_subscribe(wa.bus, "room");
	cl_redis_bus_subscribe(wb.bus, "room");
	cl_redis_bus_subscribe(wb.bus, "other");
	if (wait_for(both_up, 1, "two buses to come up")) {
		trail[0] = '\0';
		cl_redis_bus_publish(wa.bus, "room", "from-a", 6);
		if (wait_for(two_msgs, 1, "A's message on both buses")) {
			snprintf(a_trail, sizeof a_trail, "%s", trail);
			trail[0] = '\0';
			cl_redis_bus_publish(wb.bus, "other", "x", 1);
			cl_redis_bus_publish(wb.bus, "room", "from-b", 6);
			wait_for(five_msgs, 1, "B's messages");
		}
	}
	cl_redis_bus_free(wa.bus);
	cl_redis_bus_free(wb.bus);
	return NULL;
}

/* Two buses, two workers: each hears what the other publishes on a
 * channel both subscribed to, and itself too; B's "other" channel
 * reaches B only. */
START_TEST(test_bus_two_workers)
{
	redisproc_start(&rp);
	run_real(two_buses_main);
	redisproc_stop(&rp);
	CL_EXPECT(strstr(a_trail, "A<room=from-a>") != NULL &&
			  strstr(a_trail, "B<room=from-a>") != NULL,
		  "after A published: expected A<room=from-a> and "
		  "B<room=from-a>, got \"%s\"", a_trail);
	CL_EXPECT(strstr(trail, "B<other=x>") != NULL &&
			  strstr(trail, "A<room=from-b>") != NULL &&
			  strstr(trail, "B<room=from-b>") != NULL &&
			  strstr(trail, "A<other") == NULL,
		  "after B published: expected B<other=x> A<room=from-b> "
		  "B<room=from-b> (in some order), got \"%s\"", trail);
	CL_EXPECT_INT(wa.msgs, 2);
	CL_EXPECT_INT(wb.msgs, 3);
}
END_TEST

static int unsub_rc[3];

static void *unsub_main(void *arg)
{
	(void)arg;
	bus_for(&wa, "A");
	cl_redis_bus_subscribe(wa.bus, "x");
	cl_redis_bus_subscribe(wa.bus, "x");
	cl_redis_bus_subscribe(wa.bus, "y");
	if (wait_for(a_up, 1, "the bus to come up")) {
		/* Subscribed twice: one unsubscribe keeps it. */
		unsub_rc[0] = cl_redis_bus_unsubscribe(wa.bus, "x");
		cl_redis_bus_publish(wa.bus, "x", "1", 1);
		cl_redis_bus_publish(wa.bus, "y", "2", 1);
		if (wait_for(a_two_msgs, 1, "two messages")) {
			unsub_rc[1] = cl_redis_bus_unsubscribe(wa.bus, "x");
			unsub_rc[2] = cl_redis_bus_unsubscribe(wa.bus, "x");
			/* Redis delivers in order: once y's comes, x's
			 * would have come before it. */
			cl_redis_bus_publish(wa.bus, "x", "3", 1);
			cl_redis_bus_publish(wa.bus, "y", "4", 1);
			wa.msgs = 0;
			wait_for(a_one_msg, 1, "the message on y");
			cl_sleep(0.02);
		}
	}
	cl_redis_bus_free(wa.bus);
	return NULL;
}

/* Subscriptions count: after two subscribes one unsubscribe keeps the
 * channel, the second stops its messages at once, a third is -ENOENT. */
START_TEST(test_bus_unsubscribe)
{
	redisproc_start(&rp);
	run_real(unsub_main);
	redisproc_stop(&rp);
	CL_EXPECT_STR(trail, "A:up A<x=1> A<y=2> A<y=4>");
	CL_EXPECT_INT(unsub_rc[0], 0);
	CL_EXPECT_INT(unsub_rc[1], 0);
	CL_EXPECT_INT(unsub_rc[2], -ENOENT);
}
END_TEST

static int down_rc[3];
static int was_up_while_down;

static void *restart_main(void *arg)
{
	(void)arg;
	bus_for(&wa, "A");
	cl_redis_bus_subscribe(wa.bus, "r");
	if (!wait_for(a_up, 1, "the bus to come up"))
		goto out;
	/* Two in hiredis's buffer, not sent yet when Redis goes: no reply
	 * will come, they are lost. */
	cl_redis_bus_publish(wa.bus, "r", "gone1", 5);
	cl_redis_bus_publish(wa.bus, "r", "gone2", 5);
	redisproc_stop(&rp);
	if (!wait_for(a_down, 1, "the bus to notice Redis is gone"))
		goto out;
	was_up_while_down = cl_redis_bus_is_up(wa.bus);
	for (int i = 0; i < 3; i++)
		down_rc[i] = cl_redis_bus_publish(wa.bus, "r", "down", 4);
	cl_sleep(0.1); /* a few attempts to reconnect, refused */
	redisproc_restart(&rp);
	if (!wait_for(a_up, 2.5, "the bus to come back"))
		goto out;
	cl_redis_bus_publish(wa.bus, "r", "back", 4);
	wait_for(a_one_msg, 1, "a message after the restart");
out:
	cl_redis_bus_stats(wa.bus, &st);
	cl_redis_bus_free(wa.bus);
	return NULL;
}

/* Redis restarts under the bus: state(0), then state(1) once it is back
 * and the subscription replayed (the message after it comes); the two
 * PUBLISHes whose reply never came and the three published while down
 * are lost, exactly five; nothing else is. */
START_TEST(test_bus_restart)
{
	redisproc_start(&rp);
	run_real(restart_main);
	redisproc_stop(&rp);
	CL_EXPECT_STR(trail, "A:up A:down A:up A<r=back>");
	CL_EXPECT_INT(was_up_while_down, 0);
	for (int i = 0; i < 3; i++)
		CL_EXPECT_INT(down_rc[i], -1);
	CL_EXPECT_INT(st.lost, 5);
	CL_EXPECT_INT(st.published, 1);
	CL_EXPECT_INT(st.received, 1);
	CL_EXPECT_INT(st.reconnects, 1);
}
END_TEST

static int stall_rc;

static void *stall_main(void *arg)
{
	(void)arg;
	bus_for(&wa, "A");
	cl_redis_bus_subscribe(wa.bus, "s");
	if (!wait_for(a_up, 1, "the bus to come up"))
		goto out;
	kill(rp.pid, SIGSTOP); /* alive, connected, silent */
	stall_rc = cl_redis_bus_publish(wa.bus, "s", "unheard", 7);
	if (!wait_for(a_down, 3, "the bus to give up on a silent Redis"))
		goto out;
	kill(rp.pid, SIGCONT);
	if (!wait_for(a_up, 3, "the bus to come back"))
		goto out;
	cl_redis_bus_publish(wa.bus, "s", "heard", 5);
	wait_for(a_one_msg, 1, "a message after the stall");
out:
	kill(rp.pid, SIGCONT);
	cl_redis_bus_stats(wa.bus, &st);
	cl_redis_bus_free(wa.bus);
	return NULL;
}

/* Redis stops answering without closing anything (SIGSTOP): the
 * PUBLISH sent goes unanswered, and within 2 s the bus says it is down
 * and counts it lost; once Redis runs again the bus comes back. */
START_TEST(test_bus_silent_redis)
{
	redisproc_start(&rp);
	run_real(stall_main);
	redisproc_stop(&rp);
	CL_EXPECT_INT(stall_rc, 0);
	CL_EXPECT_STR(trail, "A:up A:down A:up A<s=heard>");
	CL_EXPECT_INT(st.lost, 1);
	CL_EXPECT_INT(st.published, 1);
	CL_EXPECT_INT(st.reconnects, 1);
}
END_TEST

static size_t watched_free;

static void *free_down_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();

	(void)arg;
	bus_for(&wa, "A");
	if (wait_for(a_up, 1, "the bus to come up")) {
		redisproc_stop(&rp);
		wait_for(a_down, 1, "the bus to notice Redis is gone");
		cl_sleep(0.06); /* into its first reconnect */
	}
	cl_redis_bus_free(wa.bus);
	/* A bus still connecting, freed at once. */
	bus_for(&wb, "B");
	cl_redis_bus_free(wb.bus);
	cl_sleep(0.3); /* the timers the buses had must not fire */
	watched_free = cl_loop_nwatched(loop);
	return NULL;
}

/* Freeing a bus that is down (its reconnect timer set), and one still
 * connecting: nothing is called afterwards, nothing is left watched. */
START_TEST(test_bus_free_while_down)
{
	redisproc_start(&rp);
	run_real(free_down_main);
	redisproc_stop(&rp);
	CL_EXPECT_STR(trail, "A:up A:down");
	CL_EXPECT_INT(wb.ups + wb.downs, 0);
	CL_EXPECT(watched_free == 0,
		  "%zu fd(s) still watched after both buses were freed, "
		  "expected 0", watched_free);
}
END_TEST

static void *free_in_cb_main(void *arg)
{
	(void)arg;
	bus_for(&wa, "A");
	wa.free_in_message = 1;
	cl_redis_bus_subscribe(wa.bus, "c");
	if (wait_for(a_up, 1, "the bus to come up")) {
		cl_redis_bus_publish(wa.bus, "c", "1", 1);
		cl_redis_bus_publish(wa.bus, "c", "2", 1);
		wait_for(a_one_msg, 1, "the first message");
		cl_sleep(0.05); /* the second must not come */
	}
	if (wa.bus != NULL)
		cl_redis_bus_free(wa.bus);
	return NULL;
}

/* The owner frees the bus from inside its message callback: hiredis
 * finishes with the connection later, and calls nothing of the bus. */
START_TEST(test_bus_free_in_callback)
{
	redisproc_start(&rp);
	run_real(free_in_cb_main);
	redisproc_stop(&rp);
	CL_EXPECT_STR(trail, "A:up A<c=1>");
	CL_EXPECT_PTR(wa.bus, NULL);
}
END_TEST

static void add_tests(void)
{
	cl_test(test_redis_hooks, 2, SEC_ADAPTER);
	cl_test(test_redis_set_get, 2, SEC_ADAPTER);
	cl_test(test_redis_pipeline_in_order, 2, SEC_ADAPTER);
	cl_test(test_redis_large_write, 2, SEC_ADAPTER);
	cl_test(test_redis_disconnect_callback, 2, SEC_ADAPTER);
	cl_test(test_redis_connect_refused, 1, SEC_ADAPTER);
	cl_test(test_bus_publish_subscribe, 2, SEC_BUS);
	cl_test(test_bus_two_workers, 2, SEC_BUS);
	cl_test(test_bus_unsubscribe, 1, SEC_BUS);
	cl_test_timeout(test_bus_restart, 3, SEC_BUS, 15);
	cl_test_timeout(test_bus_silent_redis, 2, SEC_BUS, 15);
	cl_test(test_bus_free_while_down, 1, SEC_BUS);
	cl_test(test_bus_free_in_callback, 1, SEC_BUS);
}
CL_CHAPTER(8, "08-chat", "chat", add_tests)
