/*
 * ch08_chat.c - chapter 08, sections 7 to 11: the chat (chat.h) with its
 * members on real sockets.
 *
 * Each test runs a chat and its HTTP server on 127.0.0.1 (port 0) in
 * the test's loop, and its clients in the same loop: cl_ws_connect for a
 * well-behaved client, a raw socket (sock.h) for one that misbehaves
 * (never reads, never answers a ping or a close). A client keeps every
 * line it received, joined by '\n', and the tests compare those.
 *
 * The Redis test (test_chat_two_workers_through_redis) runs two chats on
 * one loop, as two worker processes would be, each with its own bus to
 * one redis-server the test starts (tests/redisproc.h), and stops and
 * restarts that server in the middle.
 *
 * Every test goes through room_broadcast (every line a member receives
 * is broadcast, the "joined" reply aside), so with chapter 08's regions
 * stubbed none passes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chat.h"
#include "exc.h"
#include "future.h"
#include "grade.h"
#include "http.h"
#include "loop.h"
#include "redisproc.h"
#include "run.h"
#include "sock.h"
#include "task.h"
#include "ws.h"

#define SEC_ROOMS "7. Rooms and members"
#define SEC_BROADCAST "8. Broadcast and the slow consumer"
#define SEC_TIMEOUTS "9. Idle members and shutdown"
#define SEC_REDIS "11. More than one loop"

/* cl_run(fn, arg), failing the test with what came out of it, if
 * anything did. */
static void run_main(void *(*fn)(void *), void *arg)
{
	void *out = NULL;
	int st = cl_run(fn, arg, &out);

	ck_assert_msg(st != CL_RUN_RAISED, "the test's main task raised %s: %s",
		      st == CL_RUN_RAISED ? cl_exc_name(out) : "",
		      st == CL_RUN_RAISED ? cl_exc_message(out) : "");
	ck_assert_msg(st == 0, "cl_run returned %d", st);
}

/* A client on cl_ws_connect: what it heard. */
struct client {
	const char *name;
	struct cl_ws *ws;
	char heard[65536];
	size_t n;
	char presence[1024]; /* the presence lines alone, kept apart */
	int closed;	 /* closed() ran */
	int code;	 /* with this code */
};

static void client_message(struct cl_ws *ws, int opcode, const char *data,
			   size_t n)
{
	struct client *c = cl_ws_arg(ws);

	(void)opcode;
	if (n > 9 && memcmp(data, "presence\t", 9) == 0 &&
	    strlen(c->presence) + n + 2 < sizeof c->presence) {
		strncat(c->presence, data, n);
		strcat(c->presence, "\n");
	}
	if (c->n + n + 2 >= sizeof c->heard) {
		/* Full: keep the newer half (the tests look for recent
		 * lines only once this much has come). */
		size_t half = c->n / 2;

		memmove(c->heard, c->heard + half, c->n - half + 1);
		c->n -= half;
	}
	if (c->n + n + 2 < sizeof c->heard) {
		memcpy(c->heard + c->n, data, n);
		c->n += n;
		c->heard[c->n++] = '\n';
		c->heard[c->n] = '\0';
	}
}

static void client_closed(struct cl_ws *ws, int code, const char *reason)
{
	struct client *c = cl_ws_arg(ws);

	(void)reason;
	c->closed = 1;
	c->code = code;
	c->ws = NULL;
}

static const struct cl_ws_ops client_ops = {
	.message = client_message,
	.closed = client_closed,
};

/* A chat and its server, in the running loop. */
struct fixture {
	struct cl_chat *chat;
	struct cl_http_server *srv;
	int port;
};

static void chat_up(struct fixture *f, const struct cl_chat_config *cc)
{
	struct cl_http_config hc = { .handler = cl_chat_http };

	f->chat = cl_chat_new(cl_get_running_loop(), cc);
	hc.arg = f->chat;
	f->srv = cl_http_serve(cl_get_running_loop(), "127.0.0.1", 0, &hc);
	f->port = cl_http_server_port(f->srv);
}

static size_t chat_down(struct fixture *f, double timeout)
{
	size_t aborted;

	cl_http_server_close(f->srv);
	aborted = cl_chat_shutdown(f->chat, timeout);
	cl_http_server_free(f->srv);
	cl_chat_free(f->chat);
	return aborted;
}

static void connect_client(struct client *c, const char *name, int port)
{
	memset(c, 0, sizeof *c);
	c->name = name;
	c->ws = cl_ws_connect("127.0.0.1", port, "/ws", &client_ops, c, NULL);
}

static void say(struct client *c, const char *line)
{
	ck_assert_msg(c->ws != NULL, "%s was closed by the server (code %d) "
				     "before it said: %.40s", c->name, c->code,
		      line);
	cl_ws_send(c->ws, CL_WS_TEXT, line, strlen(line));
}

/* Run the loop until c has heard what (or 2 s have gone by). */
static int wait_for(struct client *c, const char *what)
{
	for (int i = 0; i < 400; i++) {
		if (strstr(c->heard, what) != NULL)
			return 1;
		cl_sleep(0.005);
	}
	return 0;
}

static void wait_closed(struct client *c)
{
	for (int i = 0; i < 400 && !c->closed; i++)
		cl_sleep(0.005);
}

/* Two members of one room: the joined reply, the presence, and a
 * message heard by both, the sender too. */
static char got[4][65536];

static void *two_main(void *arg)
{
	struct fixture f;
	struct cl_chat_config cc = { 0 };
	static struct client ann, bob;

	(void)arg;
	chat_up(&f, &cc);
	connect_client(&ann, "ann", f.port);
	connect_client(&bob, "bob", f.port);
	say(&ann, "join\tlobby\tann");
	wait_for(&ann, "joined");
	say(&bob, "join\tlobby\tbob");
	wait_for(&ann, "presence\tlobby\tbob\tjoin");
	say(&ann, "msg\thello, bob");
	wait_for(&bob, "hello, bob");
	wait_for(&ann, "hello, bob");
	cl_ws_close(bob.ws, CL_WS_NORMAL, "bye");
	wait_for(&ann, "presence\tlobby\tbob\tleave");
	strcpy(got[0], ann.heard);
	strcpy(got[1], bob.heard);
	chat_down(&f, 1.0);
	return NULL;
}

START_TEST(test_chat_join_and_say)
{
	run_main(two_main, NULL);
	CL_EXPECT_STR(got[0], "joined\tlobby\tann\t1\n"
			      "presence\tlobby\tbob\tjoin\n"
			      "msg\tlobby\tann\thello, bob\n"
			      "presence\tlobby\tbob\tleave\n");
	CL_EXPECT_STR(got[1], "joined\tlobby\tbob\t2\n"
			      "msg\tlobby\tann\thello, bob\n");
}
END_TEST

/* Rooms are apart: a message in one is not heard in another, and a
 * member who joins another room leaves the first. */
static void *rooms_main(void *arg)
{
	struct fixture f;
	struct cl_chat_config cc = { 0 };
	static struct client ann, bob, cy;
	struct cl_chat_stats st;

	(void)arg;
	chat_up(&f, &cc);
	connect_client(&ann, "ann", f.port);
	connect_client(&bob, "bob", f.port);
	connect_client(&cy, "cy", f.port);
	say(&ann, "join\tred\tann");
	wait_for(&ann, "joined");
	say(&bob, "join\tred\tbob");
	wait_for(&bob, "joined");
	say(&cy, "join\tblue\tcy");
	wait_for(&cy, "joined");
	cl_chat_stats(f.chat, &st);
	snprintf(got[3], 64, "rooms=%lu", st.rooms);
	say(&cy, "msg\tto blue");
	wait_for(&cy, "to blue");
	say(&bob, "join\tblue\tbob");
	wait_for(&cy, "presence\tblue\tbob\tjoin");
	say(&bob, "msg\tnow in blue");
	wait_for(&cy, "now in blue");
	wait_for(&bob, "now in blue");
	say(&ann, "msg\tanyone?");
	wait_for(&ann, "anyone?");
	cl_sleep(0.05);
	cl_chat_stats(f.chat, &st);
	snprintf(got[3] + strlen(got[3]), 64, " %lu", st.rooms);
	strcpy(got[0], ann.heard);
	strcpy(got[1], bob.heard);
	strcpy(got[2], cy.heard);
	chat_down(&f, 1.0);
	return NULL;
}

START_TEST(test_chat_rooms_are_apart)
{
	run_main(rooms_main, NULL);
	CL_EXPECT_STR(got[0], "joined\tred\tann\t1\n"
			      "presence\tred\tbob\tjoin\n"
			      "presence\tred\tbob\tleave\n"
			      "msg\tred\tann\tanyone?\n");
	CL_EXPECT_STR(got[1], "joined\tred\tbob\t2\n"
			      "joined\tblue\tbob\t2\n"
			      "msg\tblue\tbob\tnow in blue\n");
	CL_EXPECT_STR(got[2], "joined\tblue\tcy\t1\n"
			      "msg\tblue\tcy\tto blue\n"
			      "presence\tblue\tbob\tjoin\n"
			      "msg\tblue\tbob\tnow in blue\n");
	CL_EXPECT_STR(got[3], "rooms=2 2");
}
END_TEST

/*
 * Leaving keeps the room whole: m0 leaves, and the last member (m3)
 * takes its place in the room's array; then m3 leaves from there. The
 * two left must still hear each other, the two gone nothing more; and
 * the chat counts each frame it queued (deliveries).
 */
static void *leave_main(void *arg)
{
	struct fixture f;
	struct cl_chat_config cc = { 0 };
	static struct client c[4];
	struct cl_chat_stats st;
	char line[64];

	(void)arg;
	chat_up(&f, &cc);
	for (int i = 0; i < 4; i++) {
		snprintf(line, sizeof line, "join\tlobby\tm%d", i);
		connect_client(&c[i], "m", f.port);
		say(&c[i], line);
		wait_for(&c[i], "joined");
	}
	say(&c[0], "leave");
	wait_for(&c[1], "presence\tlobby\tm0\tleave");
	say(&c[3], "leave");
	wait_for(&c[1], "presence\tlobby\tm3\tleave");
	say(&c[1], "msg\thi");
	wait_for(&c[1], "\thi\n");
	wait_for(&c[2], "\thi\n");
	cl_sleep(0.05);
	cl_chat_stats(f.chat, &st);
	snprintf(got[0], 200, "m0=%s m1=%s m2=%s m3=%s deliveries=%lu",
		 strstr(c[0].heard, "\thi\n") ? "hi" : "-",
		 strstr(c[1].heard, "\thi\n") ? "hi" : "-",
		 strstr(c[2].heard, "\thi\n") ? "hi" : "-",
		 strstr(c[3].heard, "\thi\n") ? "hi" : "-", st.deliveries);
	chat_down(&f, 1.0);
	return NULL;
}

START_TEST(test_chat_leave_keeps_the_room)
{
	run_main(leave_main, NULL);
	/* Queued: the joins' notices 1 + 2 + 3, m0's leave 3, m3's 2,
	 * "hi" 2. */
	CL_EXPECT_STR(got[0], "m0=- m1=hi m2=hi m3=- deliveries=13");
}
END_TEST

/* What the chat refuses, and says so. */
static void *refuse_main(void *arg)
{
	struct fixture f;
	struct cl_chat_config cc = { 0 };
	static struct client ann;
	char big[5000];

	(void)arg;
	chat_up(&f, &cc);
	connect_client(&ann, "ann", f.port);
	say(&ann, "msg\ttoo early");
	say(&ann, "join\tno room\tann");
	say(&ann, "join\tlobby\t");
	say(&ann, "dance");
	say(&ann, "join\tlobby\tann");
	memset(big, 'x', sizeof big);
	memcpy(big, "msg\t", 4);
	cl_ws_send(ann.ws, CL_WS_TEXT, big, 4000);
	say(&ann, "msg\tfine");
	wait_for(&ann, "fine");
	strcpy(got[0], ann.heard);
	chat_down(&f, 1.0);
	return NULL;
}

START_TEST(test_chat_refuses_bad_lines)
{
	run_main(refuse_main, NULL);
	/* 4000 bytes: under the 4 KiB limit, delivered. */
	ck_assert_msg(strstr(got[0], "msg\tlobby\tann\txxxx") != NULL,
		      "a 4000-byte message was not delivered: %.200s", got[0]);
	got[0][strstr(got[0], "msg\tlobby\tann\txxxx") - got[0]] = '\0';
	CL_EXPECT_STR(got[0], "error\tjoin a room first\n"
			      "error\tbad room or name\n"
			      "error\tbad room or name\n"
			      "error\tunknown command\n"
			      "joined\tlobby\tann\t1\n");
}
END_TEST

/* Order: what two members say in turn is heard in one order by all. */
static void *order_main(void *arg)
{
	struct fixture f;
	struct cl_chat_config cc = { 0 };
	static struct client c[3];
	char line[64];

	(void)arg;
	chat_up(&f, &cc);
	for (int i = 0; i < 3; i++) {
		char name[8];

		connect_client(&c[i], "c", f.port);
		snprintf(name, sizeof name, "m%d", i);
		snprintf(line, sizeof line, "join\tlobby\t%s", name);
		say(&c[i], line);
		wait_for(&c[i], "joined");
	}
	for (int k = 0; k < 100; k++) {
		snprintf(line, sizeof line, "msg\t#%d", k);
		say(&c[k % 2], line);
	}
	wait_for(&c[2], "#99\n");
	cl_sleep(0.05);
	for (int i = 0; i < 3; i++) {
		const char *p = strstr(c[i].heard, "msg\t");

		snprintf(got[i], sizeof got[i], "%s", p ? p : "");
	}
	chat_down(&f, 1.0);
	return NULL;
}

START_TEST(test_chat_one_order_for_all)
{
	run_main(order_main, NULL);
	CL_EXPECT_STR(got[0], got[2]);
	CL_EXPECT_STR(got[1], got[2]);
	ck_assert_msg(strstr(got[2], "#99\n") != NULL,
		      "m2 did not hear all 100 messages");
	/* Each sender's own messages in the order it sent them. */
	for (int k = 2; k < 100; k++) {
		char a[16], b[16];

		snprintf(a, sizeof a, "\t#%d\n", k - 2);
		snprintf(b, sizeof b, "\t#%d\n", k);
		ck_assert_msg(strstr(got[2], a) < strstr(got[2], b),
			      "#%d heard before #%d", k, k - 2);
	}
}
END_TEST

/* A raw client: connect, upgrade, and then whatever the test does
 * (or does not do) with the socket. */
static int raw_client(int port, int rcvbuf)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char buf[1024];
	const char *req = "GET /ws HTTP/1.1\r\nHost: x\r\n"
			  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			  "Sec-WebSocket-Version: 13\r\n\r\n";
	size_t got_n = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	cl_sock_nonblock(fd);
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cl_sock_connect(fd, (struct sockaddr *)&a, sizeof a);
	cl_sock_sendall(fd, req, strlen(req));
	while (got_n < 4 || memcmp(buf + got_n - 4, "\r\n\r\n", 4) != 0) {
		ssize_t n = cl_sock_recv(fd, buf + got_n, 1);

		ck_assert_msg(n == 1, "the upgrade's answer ended early");
		got_n++;
		ck_assert_msg(got_n < sizeof buf, "the 101 is too long");
	}
	ck_assert_msg(strncmp(buf, "HTTP/1.1 101", 12) == 0,
		      "expected a 101 answer, got %.40s", buf);
	return fd;
}

/* Send one masked text frame on a raw client (mask 0: the bytes go as
 * they are). */
static void raw_say(int fd, const char *text)
{
	unsigned char f[256];
	size_t n = strlen(text);

	f[0] = 0x81;
	f[1] = 0x80 | (unsigned char)n;
	memset(f + 2, 0, 4);
	memcpy(f + 6, text, n);
	cl_sock_sendall(fd, f, n + 6);
}

/*
 * A slow consumer: a member that reads nothing. The others' messages
 * pile up in its queue (once the kernel's buffers are full: 8 KiB of
 * SO_SNDBUF here) until the next would pass max_queue (16 KiB); it is
 * dropped then, with 1008, and the room goes on: every
 * other member hears every message. No member's queue ever held more
 * than max_queue.
 */
static void *slow_main(void *arg)
{
	struct fixture f;
	struct cl_chat_config cc = { .max_queue = 16384, .sndbuf = 8192 };
	static struct client ann, bob;
	struct cl_chat_stats st;
	char line[1100];
	int slow;

	(void)arg;
	chat_up(&f, &cc);
	slow = raw_client(f.port, 4096);
	raw_say(slow, "join\tlobby\tslow");
	connect_client(&ann, "ann", f.port);
	connect_client(&bob, "bob", f.port);
	say(&ann, "join\tlobby\tann");
	wait_for(&ann, "joined");
	say(&bob, "join\tlobby\tbob");
	wait_for(&bob, "joined");
	memset(line, 'z', sizeof line);
	memcpy(line, "msg\t", 4);
	for (int k = 0; k < 2000; k++) {
		snprintf(line + 4, 12, "%06d", k);
		line[10] = 'z';
		line[1000] = '\0';
		say(&ann, line);
		/* ann and bob read as they go (their queues stay short). */
		if (k % 4 == 3)
			cl_sleep(0.001);
	}
	snprintf(line, sizeof line, "msg\t%06dz", 1999);
	wait_for(&bob, "001999zzz");
	for (int i = 0; i < 200 && !strstr(ann.presence, "slow\tleave"); i++)
		cl_sleep(0.01);
	cl_chat_stats(f.chat, &st);
	snprintf(got[0], 200, "slow=%lu bounded=%s bob=%s ann=%s", st.slow,
		 st.max_queued > 0 && st.max_queued <= 16384 ? "yes" : "no",
		 strstr(bob.heard, "001999zzz") ? "all" : "not all",
		 strstr(ann.presence, "presence\tlobby\tslow\tleave")
			 ? "heard-leave"
			 : "-");
	close(slow);
	chat_down(&f, 1.0);
	return NULL;
}

START_TEST(test_chat_slow_consumer_dropped)
{
	run_main(slow_main, NULL);
	CL_EXPECT_STR(got[0], "slow=1 bounded=yes bob=all ann=heard-leave");
}
END_TEST

/* n bytes from fd, or fewer at EOF. */
static size_t recv_all(int fd, void *buf, size_t n)
{
	size_t got_n = 0;

	while (got_n < n) {
		ssize_t k = cl_sock_recv(fd, (char *)buf + got_n, n - got_n);

		if (k <= 0)
			break;
		got_n += (size_t)k;
	}
	return got_n;
}

/* Read frames from a raw client until a close frame: its code, or -1. */
static int raw_close_code(int fd)
{
	unsigned char h[2], ext[8];
	static char payload[70000];

	for (;;) {
		size_t len;

		if (recv_all(fd, h, 2) != 2)
			return -1;
		len = h[1] & 0x7f;
		if (len == 126) {
			if (recv_all(fd, ext, 2) != 2)
				return -1;
			len = (size_t)ext[0] << 8 | ext[1];
		} else if (len == 127) {
			return -1;
		}
		if (recv_all(fd, payload, len) != len)
			return -1;
		if ((h[0] & 0x0f) == CL_WS_CLOSE)
			return len >= 2 ? ((unsigned char)payload[0] << 8 |
					   (unsigned char)payload[1])
					: 1005;
	}
}

/*
 * Idle members: a member silent for idle_timeout/2 is pinged; one that
 * answers (cl_ws answers pings) stays, one that does not is closed with
 * 1001 once idle_timeout has passed.
 */
static void *idle_main(void *arg)
{
	struct fixture f;
	struct cl_chat_config cc = { .idle_timeout = 0.4 };
	static struct client ann;
	struct cl_chat_stats st;
	int mute, code;

	(void)arg;
	chat_up(&f, &cc);
	connect_client(&ann, "ann", f.port);
	say(&ann, "join\tlobby\tann");
	mute = raw_client(f.port, 0);
	raw_say(mute, "join\tlobby\tmute");
	wait_for(&ann, "presence\tlobby\tmute\tjoin");
	wait_for(&ann, "presence\tlobby\tmute\tleave");
	code = raw_close_code(mute);
	cl_chat_stats(f.chat, &st);
	snprintf(got[0], 200, "mute=%d idle=%lu ann=%s", code, st.idle,
		 ann.closed ? "closed" : "open");
	close(mute);
	chat_down(&f, 1.0);
	return NULL;
}

START_TEST(test_chat_idle_member_closed)
{
	run_main(idle_main, NULL);
	CL_EXPECT_STR(got[0], "mute=1001 idle=1 ann=open");
}
END_TEST

/*
 * Shutdown: everyone gets a close frame (1001). Members that answer it
 * are gone at once; one that never answers is aborted when the timeout
 * is up, and counted.
 */
struct late {
	int fd;
	struct cl_chat *chat;
	unsigned long deliveries; /* the chat's, 0.15 s into the shutdown */
};

/* In the middle of the shutdown, deaf says something, and ann's and
 * bob's leaves have been said: all to members that are closing. */
static void *late_main(void *arg)
{
	struct late *l = arg;
	struct cl_chat_stats st;

	cl_sleep(0.05);
	raw_say(l->fd, "msg\tlate");
	cl_sleep(0.1);
	cl_chat_stats(l->chat, &st);
	l->deliveries = st.deliveries;
	return NULL;
}

static void *shutdown_main(void *arg)
{
	struct fixture f;
	struct cl_chat_config cc = { 0 };
	static struct client ann, bob;
	static struct late late;
	struct cl_chat_stats st;
	unsigned long before;
	double t0;
	size_t aborted;
	int deaf;

	(void)arg;
	chat_up(&f, &cc);
	connect_client(&ann, "ann", f.port);
	connect_client(&bob, "bob", f.port);
	say(&ann, "join\tlobby\tann");
	say(&bob, "join\tlobby\tbob");
	deaf = raw_client(f.port, 0);
	raw_say(deaf, "join\tlobby\tdeaf");
	wait_for(&ann, "presence\tlobby\tdeaf\tjoin");
	cl_chat_stats(f.chat, &st);
	before = st.deliveries;
	late.fd = deaf;
	late.chat = f.chat;
	cl_task_decref(cl_create_task(late_main, &late, NULL));
	t0 = cl_loop_time(cl_get_running_loop());
	aborted = chat_down(&f, 0.3);
	wait_closed(&ann);
	wait_closed(&bob);
	snprintf(got[1], 200, "queued while closing: %lu",
		 late.deliveries - before);
	snprintf(got[0], 200, "aborted=%zu ann=%d bob=%d waited=%s", aborted,
		 ann.closed ? ann.code : 0, bob.closed ? bob.code : 0,
		 cl_loop_time(cl_get_running_loop()) - t0 >= 0.29 ? "yes" : "no");
	close(deaf);
	return NULL;
}

START_TEST(test_chat_graceful_shutdown)
{
	run_main(shutdown_main, NULL);
	CL_EXPECT_STR(got[0], "aborted=1 ann=1001 bob=1001 waited=yes");
	/* Nothing is queued to a member that is closing. */
	CL_EXPECT_STR(got[1], "queued while closing: 0");
}
END_TEST

/*
 * Two workers through Redis: ann on chat A, bob on chat B, one room.
 * Each hears the other through the server. Redis stops: ann's message
 * still reaches ann (her own process) but not bob, and is counted lost.
 * Redis comes back, the buses reconnect and subscribe again, and the
 * next message reaches both.
 */
static void *redis_main(void *arg)
{
	struct redisproc *rp = arg;
	struct fixture a, b;
	struct cl_chat_config ca = { .redis_host = "127.0.0.1",
				     .redis_port = rp->port, .worker = 1 };
	struct cl_chat_config cb = ca;
	static struct client ann, bob;
	struct cl_chat_stats sa, sb;

	cb.worker = 2;
	chat_up(&a, &ca);
	chat_up(&b, &cb);
	connect_client(&ann, "ann", a.port);
	connect_client(&bob, "bob", b.port);
	say(&ann, "join\tlobby\tann");
	wait_for(&ann, "joined");
	cl_sleep(0.1); /* both subscribed */
	say(&bob, "join\tlobby\tbob");
	wait_for(&ann, "presence\tlobby\tbob\tjoin");
	say(&ann, "msg\tone");
	wait_for(&bob, "one");
	redisproc_stop(rp);
	cl_sleep(0.1);
	say(&ann, "msg\ttwo");
	wait_for(&ann, "two");
	cl_sleep(0.1);
	redisproc_restart(rp);
	for (int i = 0; i < 300; i++) {
		cl_chat_stats(a.chat, &sa);
		cl_chat_stats(b.chat, &sb);
		if (sa.reconnects > 0 && sb.reconnects > 0)
			break;
		cl_sleep(0.01);
	}
	cl_sleep(0.2); /* subscribed again */
	say(&ann, "msg\tthree");
	wait_for(&bob, "three");
	cl_chat_stats(a.chat, &sa);
	snprintf(got[2], 200, "lost=%lu reconnected=%s", sa.lost,
		 sa.reconnects > 0 ? "yes" : "no");
	strcpy(got[0], ann.heard);
	strcpy(got[1], bob.heard);
	chat_down(&a, 1.0);
	chat_down(&b, 1.0);
	return NULL;
}

START_TEST(test_chat_two_workers_through_redis)
{
	struct redisproc rp;

	redisproc_start(&rp);
	run_main(redis_main, &rp);
	redisproc_stop(&rp);
	CL_EXPECT_STR(got[0], "joined\tlobby\tann\t1\n"
			      "presence\tlobby\tbob\tjoin\n"
			      "msg\tlobby\tann\tone\n"
			      "msg\tlobby\tann\ttwo\n"
			      "msg\tlobby\tann\tthree\n");
	CL_EXPECT_STR(got[1], "joined\tlobby\tbob\t1\n"
			      "msg\tlobby\tann\tone\n"
			      "msg\tlobby\tann\tthree\n");
	CL_EXPECT_STR(got[2], "lost=1 reconnected=yes");
}
END_TEST

static void add_tests(void)
{
	cl_test(test_chat_join_and_say, 3, SEC_ROOMS);
	cl_test(test_chat_rooms_are_apart, 3, SEC_ROOMS);
	cl_test(test_chat_leave_keeps_the_room, 2, SEC_ROOMS);
	cl_test(test_chat_refuses_bad_lines, 2, SEC_ROOMS);
	cl_test(test_chat_one_order_for_all, 2, SEC_BROADCAST);
	cl_test(test_chat_slow_consumer_dropped, 4, SEC_BROADCAST);
	cl_test(test_chat_idle_member_closed, 2, SEC_TIMEOUTS);
	cl_test(test_chat_graceful_shutdown, 2, SEC_TIMEOUTS);
	cl_test_timeout(test_chat_two_workers_through_redis, 4, SEC_REDIS, 15);
}
CL_CHAPTER(8, "08-chat", "chat", add_tests)
