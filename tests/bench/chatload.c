/*
 * chatload.c - a load client for the chat server of chapter 08: many
 * WebSocket connections in rooms, one designated sender per room, and the
 * delivery latency of every message to every member.
 *
 *	chatload -p port [-h host] [-c conns] [-r rooms] [-s seconds]
 *		 [-R rate] [-P procs] [-b srcbase[/n]] [-o file] [-m pad]
 *		 [-C inflight] [-T connect_secs] [-x pid] [-t [-W workers]] [-q]
 *
 *	-h	server address, IPv4 (default 127.0.0.1)
 *	-p	server port (required)
 *	-c	connections (default 100)
 *	-r	rooms (default 10); connection i joins room i % rooms
 *	-s	seconds of sending (default 5)
 *	-R	messages per second sent in each room (default 10)
 *	-P	processes (default 1); each takes its share of the connections
 *	-b	bind the connections to source addresses srcbase, srcbase+1,
 *		... (n of them; default one per 20,000 connections), each
 *		with its own ~28,000 ephemeral ports towards one server
 *	-o	write every delivery latency, in microseconds, one a line
 *	-m	bytes of padding after each message's time stamp (default 0)
 *	-C	handshakes in flight at most, all processes together (2000)
 *	-T	seconds for every connection to be up and joined (default 60)
 *	-x	the server's pid: report its CPU seconds over the run (itself
 *		and its child processes, /proc/PID/stat utime + stime) and,
 *		once everyone has joined, its VmRSS and the kernel's socket
 *		memory (/proc/net/sockstat, Slab in /proc/meminfo)
 *	-t	test: also check that every member got every message of its
 *		room exactly once and in order, that each room's "joined"
 *		counts and presence notices add up, and that "leave" is
 *		announced; any difference fails the run
 *	-q	no comment lines
 *	-W	with -t: the server runs this many workers (default 1). Above
 *		one, the counts and notices are not checked, only the
 *		deliveries: a "joined" count is the members in the joiner's
 *		worker, and two members who join (or leave) at once in two
 *		workers may each be told of the other, or neither, as the
 *		notices cross through Redis
 *
 * The wire protocol (WebSocket text frames at ws://HOST:PORT/ws):
 *	client -> server  "join\t<room>\t<name>"  "msg\t<text>"  "leave"
 *	server -> client  "joined\t<room>\t<name>\t<n members>"
 *			  "presence\t<room>\t<name>\t<join|leave>"
 *			  "msg\t<room>\t<name>\t<text>"  "error\t<what>"
 * Connection i is named c<i> and joins room r<i % rooms>; the sender of
 * room r is connection r. A message's text is "<t> <seq>" and, with -m,
 * a space and padding: t is CLOCK_REALTIME in nanoseconds when the frame
 * was written, seq counts the sender's messages from 0.
 *
 * The run (RFC 6455 for the handshake and the frames; the client side is
 * written here, with no corolab code, so that it is an independent peer):
 *  1. The parent forks the processes. Each raises RLIMIT_NOFILE, then
 *     connects its connections, at most inflight/procs handshakes at a
 *     time: connect, the HTTP/1.1 upgrade (a random 16-byte key; the 101
 *     and its Sec-WebSocket-Accept checked with SHA-1), "join", and the
 *     connection is up when its "joined" comes back.
 *  2. Barrier: each process tells the parent over a pipe how many joined;
 *     when all have, the parent writes "go" to every process. Presence
 *     notices keep arriving meanwhile and are read.
 *  3. For -s seconds each room's sender sends -R messages a second, the
 *     rooms' schedules staggered over the period so that they do not all
 *     send at once. rate * seconds messages per room in all: a sender
 *     that falls behind catches up (its stamps are the real write times,
 *     so the wait shows as latency).
 *  4. Drain: until every member has every message of its room, or no
 *     message came for a second, or -s (at least 5) more seconds passed.
 *     With -t, then everyone sends "leave" and the notices are counted.
 *  5. Each process sends its counts, per room, and its latency histogram
 *     (1 us buckets to 1 s, 1 ms buckets to 100 s) to the parent, which
 *     adds them up. Expected deliveries: for each room, the messages its
 *     sender sent times the room's members that joined.
 *
 * Output ('#' starts a comment):
 *	conns <c> rooms <r> sent <n> expected <n> received <n> lost <n>
 *	latency_us p50 <n> p90 <n> p99 <n> p999 <n> max <n>
 *	rate secs <s> deliveries_per_s <n> sends_per_s <n>
 *	connect joined <n> failures <n> secs <s>
 *	closes <n> codes <code>:<n>,... errors <n> protocol <n> order <n>
 *		extra <n>
 *	server_cpu <seconds> user <s> sys <s>			with -x
 *	server_mem rss_kb <n> tcp_mem_pages <n> tcp_inuse <n> slab_kb <n>
 *								with -x
 *	test ok | test FAIL <what>				with -t
 * "closes" counts connections the server closed (a close frame, or 1006
 * for an end of stream without one) before the client did; "errors" the
 * server's "error" messages; "protocol" frames or messages the client did
 * not understand; "order" messages out of their sender's order or
 * repeated; "extra" deliveries beyond the expected.
 *
 * Exit status: 0 iff nothing was lost, every connection joined and the
 * server closed none of them (and, with -t, every check passed); 1
 * otherwise; 2 on bad usage. (A sender whose connection closed stops
 * sending, and what it did not send is not expected: the closes are what
 * tells that run apart.)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 1024
#define RBUF (2 << 20)		/* read buffer: the largest frame fits */
#define MAX_FRAME (1 << 20)	/* payload of one frame or message */
#define MAX_HEAD 8192		/* the server's 101 response */
#define MAX_PAD 60000
#define QUIET_NS 1000000000ull	/* drain ends after a second of silence */
#define LAT_FINE 1000000	/* 1 us buckets below 1 s */
#define LAT_COARSE 99000	/* then 1 ms buckets up to 100 s */
#define NLAT (LAT_FINE + LAT_COARSE + 1)  /* + overflow */
#define MAX_CODES 16
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum state {
	ST_IDLE,	/* not started */
	ST_CONNECTING,	/* connect() in progress */
	ST_HANDSHAKE,	/* upgrade request sent, waiting for the 101 */
	ST_JOINING,	/* "join" sent, waiting for "joined" */
	ST_JOINED,	/* in its room */
	ST_CLOSED,	/* closed, by either side, or failed */
};

/* One connection; only its own process touches it. */
struct conn {
	int fd;
	uint32_t g;		/* global number: name c<g>, room g % rooms */
	uint8_t state;		/* enum state */
	uint8_t sender;		/* its room's designated sender */
	uint8_t fragop;		/* opcode of the fragmented message, or 0 */
	uint8_t joined_ever;	/* reached ST_JOINED */
	char *in;		/* bytes of an incomplete frame or response */
	uint32_t inlen;
	char *out;		/* bytes the socket did not take yet */
	uint32_t outoff, outlen, outcap;
	char *frag;		/* a fragmented message so far */
	uint32_t fraglen;
	uint64_t recv;		/* messages of its room received */
	int64_t next_seq;	/* the seq it expects next */
	char accept[29];	/* the Sec-WebSocket-Accept it expects */
};

/* What a process tells the parent at the barrier. */
struct ready {
	uint64_t joined, failed;
};

/* What a process tells the parent at the end, before the per-room arrays
 * and the histogram. */
struct report {
	uint64_t received, closes, errors, protocol, order, lat_max;
	uint64_t lat_n;
	uint64_t codes[MAX_CODES][2];	/* close code, count */
	char fail[160];			/* -t: the first check that failed */
};

/* Per-room counts of one process, then of all of them. */
enum {
	R_MEMBERS,	/* connections that joined */
	R_SENT,		/* messages its sender sent */
	R_RECV,		/* deliveries received by its members */
	R_RECV_MIN,	/* fewest received by one member */
	R_RECV_MAX,	/* most received by one member */
	R_NSUM,		/* sum of the <n members> of "joined" */
	R_PJOIN,	/* presence joins received */
	R_PLEAVE,	/* presence leaves received */
	R_NCOUNTS,
};

static struct {
	struct sockaddr_in server;
	char host[64];
	int port, conns, rooms, procs, inflight, test, quiet, pad, workers;
	double seconds, connect_secs;
	uint64_t rate;
	uint32_t src_base;	/* host order; 0: let the kernel pick */
	int nsrc;
	long server_pid;
	const char *outfile;
} opt = {
	.conns = 100, .rooms = 10, .procs = 1, .inflight = 2000,
	.seconds = 5, .rate = 10, .connect_secs = 60,
};

/* The process's state. */
static int ep, outfd = -1;
static struct conn *cs;		/* this process's connections */
static int ncs;
static uint64_t (*rc)[R_NCOUNTS];	/* [rooms] */
static uint32_t *lat;		/* [NLAT] */
static struct report rep;
static int measuring;		/* latencies are recorded */
static uint64_t last_msg_ns;	/* when the last "msg" came */
static char rbuf[RBUF];
static char fbuf[MAX_PAD + 256];
static char obuf[1 << 16];	/* latency lines not yet written */
static size_t olen;
static uint64_t rng;
static void *pipes_of_parent;	/* freed by the children too */

static void die(const char *what)
{
	fprintf(stderr, "chatload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: mask keys and handshake keys need to be unpredictable to
 * a proxy, not cryptographic; seeded from getrandom in each process. */
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Dull;
}

static void write_all(int fd, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write to pipe");
		s += w;
		n -= (size_t)w;
	}
}

static int read_all(int fd, void *p, size_t n)
{
	char *s = p;

	while (n > 0) {
		ssize_t r = read(fd, s, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		s += r;
		n -= (size_t)r;
	}
	return 0;
}

static void fail_test(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void fail_test(const char *fmt, ...)
{
	va_list ap;

	if (rep.fail[0])
		return;
	va_start(ap, fmt);
	vsnprintf(rep.fail, sizeof rep.fail, fmt, ap);
	va_end(ap);
}

/* ---- latencies ---- */

static void lat_flush(void)
{
	if (olen > 0 && outfd >= 0)
		write_all(outfd, obuf, olen);
	olen = 0;
}

static void lat_record(int64_t ns)
{
	uint64_t us = ns < 0 ? 0 : (uint64_t)ns / 1000;

	if (us < LAT_FINE)
		lat[us]++;
	else if (us < LAT_FINE + (uint64_t)LAT_COARSE * 1000)
		lat[LAT_FINE + (us - LAT_FINE) / 1000]++;
	else
		lat[NLAT - 1]++;
	if (us > rep.lat_max)
		rep.lat_max = us;
	rep.lat_n++;
	if (outfd >= 0) {
		/* whole lines only: processes append to one file */
		if (olen > sizeof obuf - 32)
			lat_flush();
		olen += (size_t)sprintf(obuf + olen, "%" PRIu64 "\n", us);
	}
}

/* The value of bucket i, in microseconds (the low end of a 1 ms one). */
static uint64_t lat_value(size_t i)
{
	if (i < LAT_FINE)
		return i;
	return LAT_FINE + (uint64_t)(i - LAT_FINE) * 1000;
}

static uint64_t lat_quantile(const uint64_t *h, uint64_t n, double q,
			     uint64_t max)
{
	uint64_t rank = (uint64_t)(q * (double)n + 0.999999), seen = 0;

	if (n == 0)
		return 0;
	if (rank < 1)
		rank = 1;
	for (size_t i = 0; i < NLAT - 1; i++) {
		seen += h[i];
		if (seen >= rank)
			return lat_value(i) < max ? lat_value(i) : max;
	}
	return max;
}

/* ---- connections: output ---- */

static void conn_close(struct conn *c);

/* Write what c->out holds; keep what the socket does not take. */
static void conn_flush(struct conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t w = write(c->fd, c->out + c->outoff,
				  c->outlen - c->outoff);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w < 0) {
			/* reset by the server: counted when read says so */
			conn_close(c);
			return;
		}
		c->outoff += (uint32_t)w;
	}
	c->outoff = c->outlen = 0;
}

/* Send n bytes: straight to the socket when nothing waits before them. */
static void conn_send(struct conn *c, const char *p, size_t n)
{
	if (c->state == ST_CLOSED)
		return;
	if (c->outlen == 0) {
		ssize_t w;
		do
			w = write(c->fd, p, n);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN) {
			conn_close(c);
			return;
		}
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
		if (n == 0)
			return;
	}
	if (c->outlen + n > c->outcap) {
		uint32_t cap = c->outcap ? c->outcap : 256;
		while (cap < c->outlen + n)
			cap *= 2;
		c->out = realloc(c->out, cap);
		if (!c->out)
			die("realloc");
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, p, n);
	c->outlen += (uint32_t)n;
}

/* A client frame (RFC 6455 5.2): FIN, the opcode, the payload length in
 * 7, 16 or 64 bits, always masked with a fresh key (5.3). */
static void conn_frame(struct conn *c, int op, const char *p, size_t n)
{
	char *f = fbuf;
	size_t h = 2;
	uint32_t key = (uint32_t)rnd();
	unsigned char mk[4];

	f[0] = (char)(0x80 | op);
	if (n < 126) {
		f[1] = (char)(0x80 | n);
	} else if (n < 65536) {
		f[1] = (char)(0x80 | 126);
		f[2] = (char)(n >> 8);
		f[3] = (char)n;
		h = 4;
	} else {
		f[1] = (char)(0x80 | 127);
		for (int i = 0; i < 8; i++)
			f[2 + i] = (char)((uint64_t)n >> (56 - 8 * i));
		h = 10;
	}
	memcpy(mk, &key, 4);
	memcpy(f + h, mk, 4);
	h += 4;
	for (size_t i = 0; i < n; i++)
		f[h + i] = (char)(p[i] ^ mk[i & 3]);
	conn_send(c, f, h + n);
}

static void conn_text(struct conn *c, const char *s)
{
	conn_frame(c, 1, s, strlen(s));
}

/* ---- connections: life ---- */

static void count_close(uint64_t code)
{
	int i;

	rep.closes++;
	for (i = 0; i < MAX_CODES && rep.codes[i][1]; i++)
		if (rep.codes[i][0] == code)
			break;
	if (i == MAX_CODES)
		i = MAX_CODES - 1;	/* the last slot takes the rest */
	rep.codes[i][0] = code;
	rep.codes[i][1]++;
}

static void conn_close(struct conn *c)
{
	if (c->state == ST_CLOSED)
		return;
	close(c->fd);
	c->fd = -1;
	c->state = ST_CLOSED;
	free(c->in);
	free(c->out);
	free(c->frag);
	c->in = c->out = c->frag = NULL;
	c->inlen = c->outlen = c->outoff = c->outcap = c->fraglen = 0;
}

/* Start connection c: a non-blocking connect, bound to its source
 * address with -b. Returns 0, or -1 when it failed at once. */
static int conn_start(struct conn *c, int index)
{
	int one = 1;
	struct epoll_event ev;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto fail;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (opt.src_base) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		a.sin_addr.s_addr =
			htonl(opt.src_base + (uint32_t)(c->g % opt.nsrc));
		/* the port is picked at connect, per destination */
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
			   sizeof one);
		if (bind(c->fd, (struct sockaddr *)&a, sizeof a) < 0)
			goto fail;
	}
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.u32 = (uint32_t)index;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		goto fail;
	c->state = ST_CONNECTING;
	if (connect(c->fd, (struct sockaddr *)&opt.server,
		    sizeof opt.server) < 0 && errno != EINPROGRESS)
		goto fail;
	return 0;
fail:
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = ST_CLOSED;
	return -1;
}

/* Connected: send the opening handshake (RFC 6455 4.1) and note the
 * accept value the server must answer with (4.2.2: base64 of SHA-1 of
 * the key and the GUID). */
static void conn_upgrade(struct conn *c)
{
	unsigned char raw[16], sha[SHA_DIGEST_LENGTH];
	char key[25], cat[64], req[512];
	uint64_t a = rnd(), b = rnd();

	memcpy(raw, &a, 8);
	memcpy(raw + 8, &b, 8);
	EVP_EncodeBlock((unsigned char *)key, raw, 16);
	snprintf(cat, sizeof cat, "%s%s", key, WS_GUID);
	SHA1((unsigned char *)cat, strlen(cat), sha);
	EVP_EncodeBlock((unsigned char *)c->accept, sha, sizeof sha);
	snprintf(req, sizeof req,
		 "GET /ws HTTP/1.1\r\n"
		 "Host: %s:%d\r\n"
		 "Upgrade: websocket\r\n"
		 "Connection: Upgrade\r\n"
		 "Sec-WebSocket-Key: %s\r\n"
		 "Sec-WebSocket-Version: 13\r\n\r\n",
		 opt.host, opt.port, key);
	c->state = ST_HANDSHAKE;
	conn_send(c, req, strlen(req));
}

/* The response head h (n bytes, ending in the blank line): a 101 with the
 * right accept value. Returns 0 if so. */
static int check_101(struct conn *c, char *h, size_t n)
{
	static const char name[] = "sec-websocket-accept:";
	char *p, *end = h + n;

	if (n < 12 || memcmp(h, "HTTP/1.1 101", 12) != 0)
		return -1;
	for (p = memchr(h, '\n', n); p && p + 1 < end;
	     p = memchr(p + 1, '\n', (size_t)(end - p - 1))) {
		char *line = p + 1, *v;
		if ((size_t)(end - line) < sizeof name - 1 ||
		    strncasecmp(line, name, sizeof name - 1) != 0)
			continue;
		v = line + sizeof name - 1;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		return end - v >= 28 && memcmp(v, c->accept, 28) == 0 &&
			       (v[28] == '\r' || v[28] == ' ') ? 0 : -1;
	}
	return -1;
}

/* ---- messages ---- */

/* The next field of a tab-separated message: [*p, tab or end). */
static char *field(char **p, char *end, size_t *len)
{
	char *s = *p, *t;

	if (s > end)
		return NULL;
	t = memchr(s, '\t', (size_t)(end - s));
	if (!t)
		t = end;
	*len = (size_t)(t - s);
	*p = t + 1;
	return s;
}

static int field_is(const char *s, size_t n, const char *want)
{
	return s && strlen(want) == n && memcmp(s, want, n) == 0;
}

static uint64_t parse_u64(const char *s, const char *end, const char **stop)
{
	uint64_t v = 0;

	while (s < end && *s >= '0' && *s <= '9')
		v = v * 10 + (uint64_t)(*s++ - '0');
	*stop = s;
	return v;
}

/* A text message from the server. */
static void on_text(struct conn *c, char *m, size_t n)
{
	char *p = m, *end = m + n, *kind, *room, *name, *rest;
	size_t kl, rl, nl, tl;
	uint32_t r = c->g % (uint32_t)opt.rooms;
	char myroom[16], myname[16], sname[16];

	kind = field(&p, end, &kl);
	snprintf(myroom, sizeof myroom, "r%" PRIu32, r);
	if (field_is(kind, kl, "msg")) {
		const char *q;
		uint64_t t, seq;
		room = field(&p, end, &rl);
		name = field(&p, end, &nl);
		rest = p;
		tl = p <= end ? (size_t)(end - p) : 0;
		snprintf(sname, sizeof sname, "c%" PRIu32, r);
		if (!name || !field_is(room, rl, myroom) ||
		    !field_is(name, nl, sname)) {
			rep.protocol++;
			if (opt.test)
				fail_test("c%u got a msg from another room or "
					  "sender: %.*s", c->g,
					  (int)(n < 80 ? n : 80), m);
			return;
		}
		t = parse_u64(rest, rest + tl, &q);
		if (q == rest || q >= rest + tl || *q != ' ') {
			rep.protocol++;
			return;
		}
		seq = parse_u64(q + 1, rest + tl, &q);
		lat_record((int64_t)(real_ns() - t));
		last_msg_ns = mono_ns();
		c->recv++;
		rep.received++;
		if ((int64_t)seq != c->next_seq) {
			rep.order++;
			if (opt.test)
				fail_test("c%u in r%u got seq %" PRIu64
					  ", expected %" PRId64, c->g, r, seq,
					  c->next_seq);
		}
		c->next_seq = (int64_t)seq + 1;
	} else if (field_is(kind, kl, "presence")) {
		char *what;
		size_t wl;
		room = field(&p, end, &rl);
		name = field(&p, end, &nl);
		what = field(&p, end, &wl);
		if (!what || !field_is(room, rl, myroom)) {
			rep.protocol++;
			if (opt.test)
				fail_test("c%u: bad presence: %.*s", c->g,
					  (int)(n < 80 ? n : 80), m);
		} else if (field_is(what, wl, "join")) {
			rc[r][R_PJOIN]++;
		} else if (field_is(what, wl, "leave")) {
			rc[r][R_PLEAVE]++;
		} else {
			rep.protocol++;
		}
	} else if (field_is(kind, kl, "joined")) {
		const char *q;
		char *num;
		size_t numl;
		uint64_t k;
		room = field(&p, end, &rl);
		name = field(&p, end, &nl);
		num = field(&p, end, &numl);
		snprintf(myname, sizeof myname, "c%" PRIu32, c->g);
		k = num ? parse_u64(num, num + numl, &q) : 0;
		if (c->state != ST_JOINING || !num || numl == 0 ||
		    q != num + numl || !field_is(room, rl, myroom) ||
		    !field_is(name, nl, myname) || k == 0) {
			rep.protocol++;
			if (opt.test)
				fail_test("c%u: unexpected: %.*s", c->g,
					  (int)(n < 80 ? n : 80), m);
			return;
		}
		c->state = ST_JOINED;
		c->joined_ever = 1;
		rc[r][R_MEMBERS]++;
		rc[r][R_NSUM] += k;
	} else if (field_is(kind, kl, "error")) {
		rep.errors++;
		if (opt.test)
			fail_test("c%u: server said: %.*s", c->g,
				  (int)(n < 80 ? n : 80), m);
	} else {
		rep.protocol++;
		if (opt.test)
			fail_test("c%u: unknown message: %.*s", c->g,
				  (int)(n < 80 ? n : 80), m);
	}
}

/* Parse the frames in p[0..n): returns the bytes consumed (whole frames
 * only), or -1 when the connection was closed. RFC 6455 5.2-5.5: the
 * server does not mask; control frames are short and not fragmented. */
static ssize_t on_frames(struct conn *c, char *p, size_t n)
{
	size_t off = 0;

	while (n - off >= 2) {
		unsigned char b0 = (unsigned char)p[off];
		unsigned char b1 = (unsigned char)p[off + 1];
		int fin = b0 & 0x80, op = b0 & 0x0f;
		uint64_t len = b1 & 0x7f;
		size_t h = 2;
		char *pl;

		if ((b0 & 0x70) || (b1 & 0x80))
			goto bad;	/* no extensions; servers do not mask */
		if (len == 126) {
			if (n - off < 4)
				break;
			len = ((uint64_t)(unsigned char)p[off + 2] << 8) |
			      (unsigned char)p[off + 3];
			h = 4;
		} else if (len == 127) {
			if (n - off < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = (len << 8) |
				      (unsigned char)p[off + 2 + i];
			h = 10;
		}
		if (len > MAX_FRAME)
			goto bad;
		if (n - off < h + len)
			break;
		pl = p + off + h;
		off += h + (size_t)len;
		if (op >= 8) {
			if (!fin || len > 125)
				goto bad;
			if (op == 8) {	/* close: answer it, then hang up */
				uint64_t code = len >= 2 ?
					((unsigned)(unsigned char)pl[0] << 8 |
					 (unsigned char)pl[1]) : 1005;
				count_close(code);
				conn_frame(c, 8, pl, len >= 2 ? 2 : 0);
				conn_close(c);
				return -1;
			}
			if (op == 9)	/* ping: pong with its payload */
				conn_frame(c, 10, pl, (size_t)len);
			else if (op != 10)
				goto bad;
			continue;
		}
		if (op == 0) {		/* continuation */
			if (!c->fragop || c->fraglen + len > MAX_FRAME)
				goto bad;
			c->frag = realloc(c->frag, c->fraglen + len + 1);
			if (!c->frag)
				die("realloc");
			memcpy(c->frag + c->fraglen, pl, (size_t)len);
			c->fraglen += (uint32_t)len;
			if (fin) {
				if (c->fragop == 1)
					on_text(c, c->frag, c->fraglen);
				else
					rep.protocol++;
				free(c->frag);
				c->frag = NULL;
				c->fraglen = 0;
				c->fragop = 0;
			}
		} else if (op == 1 || op == 2) {
			if (c->fragop)
				goto bad;
			if (fin) {
				if (op == 1)
					on_text(c, pl, (size_t)len);
				else
					rep.protocol++;
			} else {
				c->fragop = (uint8_t)op;
				c->frag = malloc((size_t)len + 1);
				if (!c->frag)
					die("malloc");
				memcpy(c->frag, pl, (size_t)len);
				c->fraglen = (uint32_t)len;
			}
		} else {
			goto bad;
		}
		if (c->state == ST_CLOSED)
			return -1;
	}
	return (ssize_t)off;
bad:
	rep.protocol++;
	if (opt.test)
		fail_test("c%u: a bad frame from the server", c->g);
	conn_close(c);
	return -1;
}

/* Readable: read everything (edge-triggered), handle what is whole, keep
 * the rest. Returns -1 if the connection closed. */
static int conn_read(struct conn *c)
{
	size_t have = c->inlen;

	if (have) {
		memcpy(rbuf, c->in, have);
		free(c->in);
		c->in = NULL;
		c->inlen = 0;
	}
	for (;;) {
		ssize_t r = read(c->fd, rbuf + have, RBUF - have);
		size_t off = 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			r = -2;
		if (r == 0 || r == -1) {	/* end of stream or reset */
			if (c->state == ST_JOINED)
				count_close(1006);
			conn_close(c);
			return -1;
		}
		if (r > 0)
			have += (size_t)r;
		if (c->state == ST_HANDSHAKE) {
			char *e = memmem(rbuf, have, "\r\n\r\n", 4);
			if (!e && have > MAX_HEAD)
				goto hs_fail;
			if (e) {
				off = (size_t)(e + 4 - rbuf);
				if (check_101(c, rbuf, off) < 0)
					goto hs_fail;
				c->state = ST_JOINING;
				char join[64];
				snprintf(join, sizeof join, "join\tr%u\tc%u",
					 c->g % (uint32_t)opt.rooms, c->g);
				conn_text(c, join);
				if (c->state == ST_CLOSED)
					return -1;
			}
		}
		if (c->state != ST_HANDSHAKE && off < have) {
			ssize_t k = on_frames(c, rbuf + off, have - off);
			if (k < 0)
				return -1;
			off += (size_t)k;
		}
		if (off > 0) {
			memmove(rbuf, rbuf + off, have - off);
			have -= off;
		}
		if (r == -2)
			break;
		if (have == RBUF)
			goto hs_fail;	/* cannot happen: frames fit */
	}
	if (have) {
		c->in = malloc(have);
		if (!c->in)
			die("malloc");
		memcpy(c->in, rbuf, have);
		c->inlen = (uint32_t)have;
	}
	return 0;
hs_fail:
	if (opt.test)
		fail_test("c%u: bad handshake response", c->g);
	conn_close(c);
	return -1;
}

/* One event on connection c. */
static void conn_event(struct conn *c, uint32_t ev)
{
	if (c->state == ST_CLOSED)
		return;
	if (c->state == ST_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof err;
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err || (ev & (EPOLLERR | EPOLLHUP))) {
			conn_close(c);
			return;
		}
		conn_upgrade(c);
		return;
	}
	if (ev & EPOLLOUT)
		conn_flush(c);
	if (c->state != ST_CLOSED && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR |
					    EPOLLHUP)))
		conn_read(c);
}

/* ---- one process ---- */

static void raise_nofile(int want)
{
	struct rlimit rl;

	if (want < 20000)
		want = 20000;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_max < (rlim_t)want) {
		struct rlimit up = { (rlim_t)want, (rlim_t)want };
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max < (rlim_t)want ? rl.rlim_max : (rlim_t)want;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* Run epoll once, for at most timeout_ms. go_fd: the barrier's pipe,
 * or -1; returns 1 when it said go. */
static int poll_once(int timeout_ms, int go_fd)
{
	struct epoll_event evs[MAX_EVENTS];
	int n = epoll_wait(ep, evs, MAX_EVENTS, timeout_ms), go = 0;

	if (n < 0 && errno != EINTR)
		die("epoll_wait");
	for (int i = 0; i < n; i++) {
		uint32_t id = evs[i].data.u32;
		if (id == UINT32_MAX) {
			char b;
			if (read(go_fd, &b, 1) == 1)
				go = 1;
			else
				exit(1);	/* the parent is gone */
			continue;
		}
		conn_event(&cs[id], evs[i].events);
	}
	return go;
}

static void child(int k, int to_parent, int go_fd)
{
	int lo = (int)((int64_t)opt.conns * k / opt.procs);
	int hi = (int)((int64_t)opt.conns * (k + 1) / opt.procs);
	int inflight = opt.inflight / opt.procs, started = 0, pending = 0;
	int *senders, nsend = 0;
	uint64_t deadline, t0, n_per_room, period, start, end;
	uint64_t seed;
	struct ready rd = { 0, 0 };
	struct epoll_event ev;
	char text[MAX_PAD + 64];
	size_t k_msg = 0, si = 0;

	if (inflight < 1)
		inflight = 1;
	ncs = hi - lo;
	raise_nofile(ncs + 64);
	if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
		seed = mono_ns() ^ ((uint64_t)getpid() << 32);
	rng = seed | 1;
	cs = calloc((size_t)ncs + 1, sizeof *cs);
	senders = calloc((size_t)ncs + 1, sizeof *senders);
	if (!cs || !senders)
		die("calloc");
	/* rc and lat: the parent's, zeroed, inherited */
	for (int r = 0; r < opt.rooms; r++)
		rc[r][R_RECV_MIN] = UINT64_MAX;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	ev.events = EPOLLIN;
	ev.data.u32 = UINT32_MAX;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, go_fd, &ev) < 0)
		die("epoll_ctl");
	for (int i = 0; i < ncs; i++) {
		cs[i].fd = -1;
		cs[i].g = (uint32_t)(lo + i);
		cs[i].state = ST_IDLE;
		if (cs[i].g < (uint32_t)opt.rooms) {
			cs[i].sender = 1;
			senders[nsend++] = i;	/* ascending room */
		}
	}

	/* 1. connect and join, inflight at a time */
	t0 = mono_ns();
	deadline = t0 + (uint64_t)(opt.connect_secs * 1e9);
	for (;;) {
		pending = 0;
		rd.joined = rd.failed = 0;
		for (int i = 0; i < started; i++) {
			uint8_t s = cs[i].state;
			if (s == ST_JOINED)
				rd.joined++;
			else if (s == ST_CLOSED)
				rd.failed++;
			else
				pending++;
		}
		while (pending < inflight && started < ncs) {
			if (conn_start(&cs[started], started) == 0)
				pending++;
			else
				rd.failed++;
			started++;
		}
		if (started == ncs && pending == 0)
			break;
		if (mono_ns() > deadline)
			break;
		poll_once(50, go_fd);
	}
	for (int i = 0; i < ncs; i++)
		if (cs[i].state != ST_JOINED && cs[i].state != ST_CLOSED) {
			conn_close(&cs[i]);
			rd.failed++;
		}
	/* a joined one the server closed meanwhile is counted as a close */
	rd.joined = 0;
	for (int i = 0; i < ncs; i++)
		rd.joined += cs[i].joined_ever;
	rd.failed = (uint64_t)ncs - rd.joined;

	/* 2. the barrier */
	write_all(to_parent, &rd, sizeof rd);
	while (!poll_once(1000, go_fd))
		;

	/* 3. send for -s seconds; the sender of room r sends its k-th
	 * message at start + k * period + r * period / rooms */
	measuring = 1;
	n_per_room = (uint64_t)((double)opt.rate * opt.seconds + 0.5);
	period = opt.rate ? 1000000000ull / opt.rate : 0;
	start = mono_ns();
	end = start + (uint64_t)(opt.seconds * 1e9);
	last_msg_ns = start;
	for (;;) {
		uint64_t now = mono_ns(), due = 0;
		int timeout;
		while (nsend && k_msg < n_per_room) {
			struct conn *c = &cs[senders[si]];
			uint32_t r = c->g;
			int len;
			due = start + k_msg * period +
			      (uint64_t)r * period / (uint64_t)opt.rooms;
			if (due > now)
				break;
			if (c->state == ST_JOINED) {
				len = snprintf(text, 64, "msg\t%" PRIu64
					       " %zu", real_ns(), k_msg);
				if (opt.pad) {
					text[len++] = ' ';
					memset(text + len, 'x',
					       (size_t)opt.pad);
					len += opt.pad;
				}
				conn_frame(c, 1, text, (size_t)len);
				rc[r][R_SENT]++;
			}
			if (++si == (size_t)nsend) {
				si = 0;
				k_msg++;
			}
		}
		if ((!nsend || k_msg >= n_per_room) && now >= end)
			break;
		if (nsend && k_msg < n_per_room)
			timeout = due > now ?
				(int)((due - now + 999999) / 1000000) : 0;
		else
			timeout = (int)((end - now + 999999) / 1000000);
		if (timeout > 100)
			timeout = 100;
		poll_once(timeout, go_fd);
	}

	/* 4. drain: every member has all of its room's messages (as many
	 * as the schedule had), a second of quiet, or the deadline */
	deadline = mono_ns() + (uint64_t)((opt.seconds > 5 ? opt.seconds : 5)
					  * 1e9);
	for (;;) {
		uint64_t now = mono_ns();
		int missing = 0;
		for (int i = 0; i < ncs && !missing; i++)
			if (cs[i].state == ST_JOINED &&
			    cs[i].recv < n_per_room)
				missing = 1;
		if (!missing || now > deadline ||
		    now - last_msg_ns > QUIET_NS)
			break;
		poll_once(20, go_fd);
	}
	measuring = 0;
	for (int i = 0; i < ncs; i++) {
		struct conn *c = &cs[i];
		uint32_t r = c->g % (uint32_t)opt.rooms;
		if (!c->joined_ever)
			continue;
		rc[r][R_RECV] += c->recv;
		if (c->recv < rc[r][R_RECV_MIN])
			rc[r][R_RECV_MIN] = c->recv;
		if (c->recv > rc[r][R_RECV_MAX])
			rc[r][R_RECV_MAX] = c->recv;
	}

	/* with -t: everyone leaves; each pair of a room sees one notice */
	if (opt.test) {
		uint64_t quiet_from = mono_ns(), before = 0;
		for (int i = 0; i < ncs; i++)
			if (cs[i].state == ST_JOINED)
				conn_text(&cs[i], "leave");
		deadline = mono_ns() + 5000000000ull;
		for (;;) {
			uint64_t now = mono_ns(), seen = 0;
			for (int r = 0; r < opt.rooms; r++)
				seen += rc[r][R_PLEAVE];
			if (seen != before) {
				before = seen;
				quiet_from = now;
			}
			if (now > deadline || now - quiet_from > 500000000ull)
				break;
			poll_once(20, go_fd);
		}
	}

	/* 5. report */
	lat_flush();
	for (int i = 0; i < ncs; i++)
		conn_close(&cs[i]);
	write_all(to_parent, &rep, sizeof rep);
	write_all(to_parent, rc, (size_t)opt.rooms * sizeof *rc);
	write_all(to_parent, lat, NLAT * sizeof *lat);
	free(cs);
	free(senders);
	free(rc);
	free(lat);
	free(pipes_of_parent);
	exit(0);
}

/* ---- the parent ---- */

/* CPU seconds (utime + stime) of pid and its descendants, and their
 * VmRSS in kB. */
static void proc_tree(long pid, double *user, double *sys, long *rss_kb)
{
	long hz = sysconf(_SC_CLK_TCK);
	long pids[256];
	int n = 1;
	char path[64], line[1024];

	pids[0] = pid;
	*user = *sys = 0;
	*rss_kb = 0;
	/* children, grandchildren: scan /proc for parents already found */
	for (int again = 1; again;) {
		FILE *d = popen("ls /proc", "r");
		again = 0;
		if (!d)
			break;
		while (fgets(line, sizeof line, d) && n < 256) {
			long p = atol(line), pp = -1;
			FILE *f;
			char *e;
			int known = 0;
			if (p <= 0)
				continue;
			for (int i = 0; i < n; i++)
				known |= pids[i] == p;
			if (known)
				continue;
			snprintf(path, sizeof path, "/proc/%ld/stat", p);
			f = fopen(path, "r");
			if (!f)
				continue;
			if (fgets(line, sizeof line, f) &&
			    (e = strrchr(line, ')')))
				sscanf(e + 2, "%*c %ld", &pp);
			fclose(f);
			for (int i = 0; i < n; i++)
				if (pids[i] == pp) {
					pids[n++] = p;
					again = 1;
					break;
				}
		}
		pclose(d);
	}
	for (int i = 0; i < n; i++) {
		FILE *f;
		unsigned long ut = 0, st = 0;
		char *e;
		snprintf(path, sizeof path, "/proc/%ld/stat", pids[i]);
		if ((f = fopen(path, "r"))) {
			if (fgets(line, sizeof line, f) &&
			    (e = strrchr(line, ')')))
				sscanf(e + 2, "%*c %*d %*d %*d %*d %*d %*u "
				       "%*u %*u %*u %*u %lu %lu", &ut, &st);
			fclose(f);
		}
		*user += (double)ut / (double)hz;
		*sys += (double)st / (double)hz;
		snprintf(path, sizeof path, "/proc/%ld/status", pids[i]);
		if ((f = fopen(path, "r"))) {
			while (fgets(line, sizeof line, f))
				if (!strncmp(line, "VmRSS:", 6))
					*rss_kb += atol(line + 6);
			fclose(f);
		}
	}
}

static void kernel_mem(long *tcp_pages, long *tcp_inuse, long *slab_kb)
{
	char line[512];
	FILE *f;

	*tcp_pages = *tcp_inuse = *slab_kb = 0;
	if ((f = fopen("/proc/net/sockstat", "r"))) {
		while (fgets(line, sizeof line, f)) {
			char *m = strstr(line, " mem "), *u;
			if (strncmp(line, "TCP:", 4) != 0)
				continue;
			if ((u = strstr(line, "inuse ")))
				*tcp_inuse = atol(u + 6);
			if (m)
				*tcp_pages = atol(m + 5);
		}
		fclose(f);
	}
	if ((f = fopen("/proc/meminfo", "r"))) {
		while (fgets(line, sizeof line, f))
			if (!strncmp(line, "Slab:", 5))
				*slab_kb = atol(line + 5);
		fclose(f);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: chatload -p port [-h host] [-c conns] [-r rooms] "
		"[-s seconds]\n"
		"	[-R rate_per_room] [-P procs] [-b srcbase[/n]] "
		"[-o latencies.txt]\n"
		"	[-m pad] [-C inflight] [-T connect_secs] [-x pid] "
		"[-t [-W workers]] [-q]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int ch, (*pipes)[2], *go, failed_any = 0;
	pid_t *kids;
	struct ready all = { 0, 0 };
	struct report tot;
	uint64_t (*rooms)[R_NCOUNTS], *h, t0, t_go, t_end;
	uint64_t sent = 0, expected = 0, recv = 0, lost = 0, extra = 0;
	double u0 = 0, s0 = 0, u1, s1, send_secs;
	long rss = 0, tcp_pages = 0, tcp_inuse = 0, slab = 0;
	char *slash;

	strcpy(opt.host, "127.0.0.1");
	while ((ch = getopt(argc, argv, "h:p:c:r:s:R:P:b:o:m:C:T:x:tqW:")) != -1) {
		switch (ch) {
		case 'h':
			snprintf(opt.host, sizeof opt.host, "%s", optarg);
			break;
		case 'p': opt.port = atoi(optarg); break;
		case 'c': opt.conns = atoi(optarg); break;
		case 'r': opt.rooms = atoi(optarg); break;
		case 's': opt.seconds = atof(optarg); break;
		case 'R': opt.rate = strtoull(optarg, NULL, 10); break;
		case 'P': opt.procs = atoi(optarg); break;
		case 'b': {
			struct in_addr a;
			if ((slash = strchr(optarg, '/'))) {
				*slash = 0;
				opt.nsrc = atoi(slash + 1);
			}
			if (inet_pton(AF_INET, optarg, &a) != 1)
				usage();
			opt.src_base = ntohl(a.s_addr);
			break;
		}
		case 'o': opt.outfile = optarg; break;
		case 'm': opt.pad = atoi(optarg); break;
		case 'C': opt.inflight = atoi(optarg); break;
		case 'T': opt.connect_secs = atof(optarg); break;
		case 'x': opt.server_pid = atol(optarg); break;
		case 't': opt.test = 1; break;
		case 'W': opt.workers = atoi(optarg); break;
		case 'q': opt.quiet = 1; break;
		default: usage();
		}
	}
	if (optind != argc || opt.port <= 0 || opt.port > 65535 ||
	    opt.conns < 1 || opt.rooms < 1 || opt.procs < 1 ||
	    opt.procs > opt.conns || opt.seconds < 0 || opt.pad < 0 ||
	    opt.pad > MAX_PAD || opt.inflight < 1 || opt.rate > 1000000)
		usage();
	if (opt.src_base && opt.nsrc < 1)
		opt.nsrc = opt.conns / 20000 + 1;
	opt.server.sin_family = AF_INET;
	opt.server.sin_port = htons((uint16_t)opt.port);
	if (inet_pton(AF_INET, opt.host, &opt.server.sin_addr) != 1)
		usage();
	if (opt.outfile) {
		outfd = open(opt.outfile, O_WRONLY | O_CREAT | O_TRUNC |
			     O_APPEND | O_CLOEXEC, 0644);
		if (outfd < 0)
			die(opt.outfile);
	}
	signal(SIGPIPE, SIG_IGN);

	pipes = calloc((size_t)opt.procs, sizeof *pipes);
	go = calloc((size_t)opt.procs, sizeof *go);
	kids = calloc((size_t)opt.procs, sizeof *kids);
	rooms = calloc((size_t)opt.rooms, sizeof *rooms);
	rc = calloc((size_t)opt.rooms, sizeof *rc);
	h = calloc(NLAT, sizeof *h);
	lat = calloc(NLAT, sizeof *lat);
	if (!pipes || !go || !kids || !rooms || !rc || !h || !lat)
		die("calloc");
	pipes_of_parent = pipes;
	for (int r = 0; r < opt.rooms; r++)
		rooms[r][R_RECV_MIN] = UINT64_MAX;
	memset(&tot, 0, sizeof tot);
	t0 = mono_ns();
	for (int k = 0; k < opt.procs; k++) {
		int gp[2];
		if (pipe2(pipes[k], O_CLOEXEC) < 0 || pipe2(gp, O_CLOEXEC) < 0)
			die("pipe");
		fflush(stdout);
		kids[k] = fork();
		if (kids[k] < 0)
			die("fork");
		if (kids[k] == 0) {
			close(pipes[k][0]);
			close(gp[1]);
			for (int j = 0; j < k; j++)
				close(go[j]);
			free(go);
			free(kids);
			free(rooms);
			free(h);
			child(k, pipes[k][1], gp[0]);
		}
		close(pipes[k][1]);
		close(gp[0]);
		go[k] = gp[1];
	}
	if (outfd >= 0)
		close(outfd);

	/* the barrier: everyone has joined (or failed) */
	for (int k = 0; k < opt.procs; k++) {
		struct ready rd;
		if (read_all(pipes[k][0], &rd, sizeof rd) < 0) {
			fprintf(stderr, "chatload: process %d died\n", k);
			return 1;
		}
		all.joined += rd.joined;
		all.failed += rd.failed;
	}
	t_go = mono_ns();
	if (opt.server_pid) {
		/* let the last presence notices settle before reading RSS */
		usleep(200000);
		proc_tree(opt.server_pid, &u0, &s0, &rss);
		kernel_mem(&tcp_pages, &tcp_inuse, &slab);
		t_go = mono_ns();
	}
	for (int k = 0; k < opt.procs; k++)
		write_all(go[k], "g", 1);

	/* the reports */
	for (int k = 0; k < opt.procs; k++) {
		struct report r;
		if (read_all(pipes[k][0], &r, sizeof r) < 0 ||
		    read_all(pipes[k][0], rc, (size_t)opt.rooms * sizeof *rc)
			    < 0 ||
		    read_all(pipes[k][0], lat, NLAT * sizeof *lat) < 0) {
			fprintf(stderr, "chatload: process %d died\n", k);
			return 1;
		}
		tot.received += r.received;
		tot.errors += r.errors;
		tot.protocol += r.protocol;
		tot.order += r.order;
		tot.lat_n += r.lat_n;
		if (r.lat_max > tot.lat_max)
			tot.lat_max = r.lat_max;
		for (int i = 0; i < MAX_CODES && r.codes[i][1]; i++)
			for (int j = 0; j < MAX_CODES; j++)
				if (!tot.codes[j][1] ||
				    tot.codes[j][0] == r.codes[i][0]) {
					tot.codes[j][0] = r.codes[i][0];
					tot.codes[j][1] += r.codes[i][1];
					tot.closes += r.codes[i][1];
					break;
				}
		if (r.fail[0] && !tot.fail[0])
			memcpy(tot.fail, r.fail, sizeof tot.fail);
		for (int q = 0; q < opt.rooms; q++)
			for (int f = 0; f < R_NCOUNTS; f++) {
				uint64_t v = rc[q][f];
				if (f == R_RECV_MIN) {
					if (v < rooms[q][f])
						rooms[q][f] = v;
				} else if (f == R_RECV_MAX) {
					if (v > rooms[q][f])
						rooms[q][f] = v;
				} else {
					rooms[q][f] += v;
				}
			}
		for (size_t i = 0; i < NLAT; i++)
			h[i] += lat[i];
	}
	t_end = mono_ns();
	if (opt.server_pid)
		proc_tree(opt.server_pid, &u1, &s1, &rss);
	for (int k = 0; k < opt.procs; k++) {
		int st;
		waitpid(kids[k], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed_any = 1;
	}

	for (int q = 0; q < opt.rooms; q++) {
		sent += rooms[q][R_SENT];
		expected += rooms[q][R_SENT] * rooms[q][R_MEMBERS];
		recv += rooms[q][R_RECV];
	}
	if (recv < expected)
		lost = expected - recv;
	else
		extra = recv - expected;
	send_secs = opt.seconds > 0 ? opt.seconds : 1;
	printf("conns %d rooms %d sent %" PRIu64 " expected %" PRIu64
	       " received %" PRIu64 " lost %" PRIu64 "\n",
	       opt.conns, opt.rooms, sent, expected, recv, lost);
	printf("latency_us p50 %" PRIu64 " p90 %" PRIu64 " p99 %" PRIu64
	       " p999 %" PRIu64 " max %" PRIu64 "\n",
	       lat_quantile(h, tot.lat_n, 0.50, tot.lat_max),
	       lat_quantile(h, tot.lat_n, 0.90, tot.lat_max),
	       lat_quantile(h, tot.lat_n, 0.99, tot.lat_max),
	       lat_quantile(h, tot.lat_n, 0.999, tot.lat_max), tot.lat_max);
	printf("rate secs %g deliveries_per_s %.0f sends_per_s %.0f\n",
	       opt.seconds, (double)recv / send_secs,
	       (double)sent / send_secs);
	printf("connect joined %" PRIu64 " failures %" PRIu64 " secs %.2f\n",
	       all.joined, all.failed, (double)(t_go - t0) / 1e9);
	printf("closes %" PRIu64 " codes ", tot.closes);
	for (int i = 0; i < MAX_CODES && tot.codes[i][1]; i++)
		printf("%s%" PRIu64 ":%" PRIu64, i ? "," : "",
		       tot.codes[i][0], tot.codes[i][1]);
	printf("%s errors %" PRIu64 " protocol %" PRIu64 " order %" PRIu64
	       " extra %" PRIu64 "\n", tot.codes[0][1] ? "" : "-",
	       tot.errors, tot.protocol, tot.order, extra);
	if (opt.server_pid) {
		printf("server_cpu %.2f user %.2f sys %.2f\n",
		       (u1 - u0) + (s1 - s0), u1 - u0, s1 - s0);
		printf("server_mem rss_kb %ld tcp_mem_pages %ld tcp_inuse %ld "
		       "slab_kb %ld\n", rss, tcp_pages, tcp_inuse, slab);
	}
	if (!opt.quiet)
		printf("# window %.2f s from go to the last report "
		       "(sending, then the drain)\n",
		       (double)(t_end - t_go) / 1e9);

	if (opt.test) {
		/* exactly once and in order: every member of a room got
		 * exactly what its sender sent, none out of order; each
		 * pair of members saw one join notice and one leave notice
		 * (the earlier of the two got it); the k-th to join was
		 * told it made k members */
		for (int q = 0; q < opt.rooms && !tot.fail[0]; q++) {
			uint64_t m = rooms[q][R_MEMBERS], s = rooms[q][R_SENT];
			if (m == 0)
				continue;
			if (rooms[q][R_RECV_MIN] != s ||
			    rooms[q][R_RECV_MAX] != s)
				snprintf(tot.fail, sizeof tot.fail,
					 "room r%d: sent %" PRIu64 ", its "
					 "members got %" PRIu64 " to %" PRIu64,
					 q, s, rooms[q][R_RECV_MIN],
					 rooms[q][R_RECV_MAX]);
			else if (opt.workers > 1)
				continue; /* the deliveries only: -W */
			else if (rooms[q][R_NSUM] != m * (m + 1) / 2)
				snprintf(tot.fail, sizeof tot.fail,
					 "room r%d: joined counts add up to %"
					 PRIu64 ", expected %" PRIu64, q,
					 rooms[q][R_NSUM], m * (m + 1) / 2);
			else if (rooms[q][R_PJOIN] != m * (m - 1) / 2)
				snprintf(tot.fail, sizeof tot.fail,
					 "room r%d: %" PRIu64 " join notices, "
					 "expected %" PRIu64, q,
					 rooms[q][R_PJOIN], m * (m - 1) / 2);
			else if (rooms[q][R_PLEAVE] != m * (m - 1) / 2)
				snprintf(tot.fail, sizeof tot.fail,
					 "room r%d: %" PRIu64 " leave notices, "
					 "expected %" PRIu64, q,
					 rooms[q][R_PLEAVE], m * (m - 1) / 2);
		}
		if (!tot.fail[0] && (opt.rate && opt.seconds > 0) && sent == 0)
			snprintf(tot.fail, sizeof tot.fail, "nothing sent");
		if (!tot.fail[0] && (tot.order || tot.protocol || tot.errors ||
				     tot.closes || extra))
			snprintf(tot.fail, sizeof tot.fail,
				 "order %" PRIu64 " protocol %" PRIu64
				 " errors %" PRIu64 " closes %" PRIu64
				 " extra %" PRIu64, tot.order, tot.protocol,
				 tot.errors, tot.closes, extra);
		if (!tot.fail[0] && (lost || all.failed))
			snprintf(tot.fail, sizeof tot.fail, "lost %" PRIu64
				 " connect failures %" PRIu64, lost,
				 all.failed);
		if (tot.fail[0])
			printf("test FAIL %s\n", tot.fail);
		else
			printf("test ok\n");
	}
	fflush(stdout);
	free(pipes);
	free(go);
	free(kids);
	free(rooms);
	free(rc);
	free(h);
	free(lat);
	return lost || all.failed || tot.closes || failed_any ||
	       (opt.test && tot.fail[0])
		? 1 : 0;
}
