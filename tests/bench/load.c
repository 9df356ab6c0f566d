/*
 * load.c - a load client for echo servers: many connections, one epoll.
 *
 *	load -p port [-h host] [-c connections] [-d seconds] [-s size]
 *	     [-P depth] [-w seconds] [-a addrs] [-x pid] [--verify]
 *
 *	-h	server address, IPv4 (default 127.0.0.1)
 *	-p	server port (required)
 *	-c	connections (default 100)
 *	-d	seconds measured (default 3)
 *	-s	bytes per message (default 64)
 *	-P	messages in flight per connection (default 1: send one, wait
 *		for its echo, send the next)
 *	-w	seconds of warm-up before measuring (default 0.5)
 *	-a	spread the connections over this many source addresses,
 *		127.0.0.1, 127.0.0.2, ... (default 1: let the kernel pick);
 *		each source address has its own ~28,000 ephemeral ports
 *	-x	the server's pid: also report its CPU time per message, from
 *		utime + stime in /proc/PID/stat over the measured seconds,
 *		and the two parts: its own code (utime) and the kernel's
 *		(stime). Both count in clock ticks (usually 10 ms), so a
 *		part of a few ticks is coarse.
 *	--verify  check every byte echoed back against what was sent and
 *		exit 1 on the first difference
 *
 * Each connection is a closed loop: it keeps -P messages outstanding and
 * sends the next one as soon as a whole echo has come back, so the server
 * is always as busy as it can be and the latency of a message is the time
 * from writing its first byte to reading its last. With C connections the
 * loop is Little's law: p50 is roughly C / (messages per second); what
 * tells servers apart is the throughput, the CPU each message costs the
 * server, and how far p99 sits above p50 (whether some connections wait
 * much longer than others).
 *
 * The run has three phases. Connect: at most PRIMING connections are being
 * set up at a time, and each is "up" only once one message has made the
 * round trip, so a server with a short listen backlog is not flooded with
 * handshakes it will drop and retry a second later. Warm-up: every
 * connection runs, nothing is counted. Measure: replies and latencies are
 * counted for -d seconds. Then the client stops sending, waits for the
 * replies still in flight (a missing one is an error) and closes.
 *
 * The bytes sent are a pattern of the connection's number and the byte's
 * position in its stream (pattern() below), so a reply that went to the
 * wrong connection, lost a byte or came back in the wrong order is caught
 * by --verify, not just a reply of the wrong length.
 *
 * Output ('#' starts a comment):
 *	load <connections> msgs_per_s <n> p50_us <n> p99_us <n>
 *	server_cpu <connections> us_per_msg <n> user_us <n> kernel_us <n>
 *							with -x
 *	# replies in all phases: <n>	connect, warm-up, measure and drain:
 *					all the server echoed (misses.sh
 *					divides its counts by it)
 * Exit status: 0, 1 on a verify mismatch or a connection error, 2 on bad
 * usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PRIMING 256	   /* connections being set up at once */
#define CONNECT_SECS 30	   /* give up if they are not all up by then */
#define DRAIN_SECS 5	   /* wait this long for the last replies */
#define MAX_EVENTS 1024
#define BUF_SIZE 65536

enum conn_state {
	NEW,	    /* not started yet */
	CONNECTING, /* connect() in progress */
	PRIMING_RT, /* connected, first message on its way */
	UP,	    /* first echo back: waiting for the start */
	RUNNING,    /* sending and receiving */
	DRAINING,   /* not sending any more, waiting for the rest */
	CLOSED,
};

/* One connection. Only this file touches it; all of it is the client's. */
struct conn {
	int fd;
	unsigned id;		/* its number: part of the byte pattern */
	enum conn_state state;
	int want_out;		/* EPOLLOUT is armed: a write was short */
	uint64_t sent;		/* bytes written so far */
	uint64_t rcvd;		/* bytes read back so far */
	uint64_t done;		/* whole messages echoed back */
	uint64_t counted;	/* of them, in the measured window */
	uint64_t *t_send;	/* [depth]: when message m started, at m % depth */
};

static struct {
	struct sockaddr_in server;
	int nconn, size, depth, naddrs, verify;
	double seconds, warmup;
	long server_pid;
} opt = {
	.nconn = 100, .size = 64, .depth = 1, .naddrs = 1,
	.seconds = 3, .warmup = 0.5,
};

static int ep;
static struct conn *conns;
static int counting;		 /* in the measured window */
static uint64_t nmsgs, nchecked; /* replies counted; bytes verified */
static uint64_t nall;		 /* replies in all phases, counted or not */
static int failed;		 /* a mismatch or a connection error */
static unsigned char buf[BUF_SIZE];

/*
 * Latencies, in a log-linear histogram of nanoseconds: values below 128
 * have a bucket each; above, each power of two is cut in 64 buckets, so a
 * percentile is read to within 1/64 (1.6%). Counting a sample costs a few
 * instructions, however many there are.
 */
#define SUB 64
#define NBUCKETS (128 + 57 * SUB)
static uint64_t hist[NBUCKETS];

static int bucket(uint64_t v)
{
	int e;

	if (v < 128)
		return (int)v;
	e = 63 - __builtin_clzll(v); /* 7..63 */
	return 128 + (e - 7) * SUB + (int)((v >> (e - 6)) & (SUB - 1));
}

/* The middle of bucket i, in nanoseconds. */
static double bucket_mid(int i)
{
	int e, sub;
	double lo, width;

	if (i < 128)
		return i;
	e = (i - 128) / SUB + 7;
	sub = (i - 128) % SUB;
	width = (double)(1ull << (e - 6));
	lo = (double)(1ull << e) + sub * width;
	return lo + width / 2;
}

/* The p-quantile (0 < p < 1) of the samples, in microseconds. */
static double percentile_us(double p)
{
	uint64_t total = 0, rank, seen = 0;

	for (int i = 0; i < NBUCKETS; i++)
		total += hist[i];
	if (total == 0)
		return 0;
	rank = (uint64_t)(p * total);
	if (rank < 1)
		rank = 1;
	for (int i = 0; i < NBUCKETS; i++) {
		seen += hist[i];
		if (seen >= rank)
			return bucket_mid(i) / 1000;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "load: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Byte pos of connection id's stream: a mix of both, so misplaced,
 * missing or reordered bytes all change it. */
static inline unsigned char pattern(unsigned id, uint64_t pos)
{
	uint64_t x = pos * 0x9E3779B97F4A7C15ull +
		     (id + 1) * 0xC2B2AE3D27D4EB4Full;

	return (unsigned char)(x >> 56);
}

static void conn_fail(struct conn *c, const char *what, int err)
{
	if (err)
		fprintf(stderr, "load: connection %u: %s: %s\n", c->id, what,
			strerror(err));
	else
		fprintf(stderr, "load: connection %u: %s\n", c->id, what);
	failed = 1;
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = CLOSED;
}

static void arm(struct conn *c, int out)
{
	struct epoll_event ev = {
		.events = EPOLLIN | (out ? EPOLLOUT : 0),
		.data.ptr = c,
	};

	if (out == c->want_out)
		return;
	c->want_out = out;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl");
}

/*
 * Write the stream up to byte limit (the end of message done + depth, or
 * of the first message while priming). The start time of every message
 * whose first byte goes out now is noted. A short write arms EPOLLOUT.
 */
static void fill(struct conn *c, uint64_t limit)
{
	while (c->sent < limit) {
		uint64_t n = limit - c->sent, t;
		ssize_t w;

		if (n > BUF_SIZE)
			n = BUF_SIZE;
		for (uint64_t i = 0; i < n; i++)
			buf[i] = pattern(c->id, c->sent + i);
		t = now_ns();
		/* Messages starting in [sent, sent + n). */
		for (uint64_t m = (c->sent + opt.size - 1) / opt.size;
		     m * opt.size < c->sent + n; m++)
			c->t_send[m % opt.depth] = t;
		w = send(c->fd, buf, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_fail(c, "send", errno);
			return;
		}
		/* A message noted above but not written yet is noted
		 * again, later, by the write that starts it. */
		c->sent += w;
	}
	arm(c, c->sent < limit);
}

static uint64_t limit_of(struct conn *c)
{
	if (c->state == PRIMING_RT || c->state == UP)
		return opt.size;
	if (c->state == RUNNING)
		return (c->done + opt.depth) * opt.size;
	return c->sent; /* draining: send nothing more */
}

/* Read what the server echoed; count and time the whole messages. */
static void on_readable(struct conn *c, uint64_t now)
{
	ssize_t r = recv(c->fd, buf, BUF_SIZE, 0);

	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_fail(c, r == 0 ? "server closed the connection" : "recv",
			  r == 0 ? 0 : errno);
		return;
	}
	if (c->rcvd + r > c->sent) {
		conn_fail(c, "server sent more than it was sent", 0);
		return;
	}
	if (opt.verify) {
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] != pattern(c->id, c->rcvd + i)) {
				fprintf(stderr, "load: connection %u: byte %llu "
					"of the stream: expected 0x%02x, got "
					"0x%02x\n", c->id,
					(unsigned long long)(c->rcvd + i),
					pattern(c->id, c->rcvd + i), buf[i]);
				conn_fail(c, "reply differs from what was sent",
					  0);
				return;
			}
		}
		nchecked += r;
	}
	c->rcvd += r;
	while ((c->done + 1) * opt.size <= c->rcvd) {
		if (counting) {
			hist[bucket(now - c->t_send[c->done % opt.depth])]++;
			nmsgs++;
			c->counted++;
		}
		c->done++;
		nall++;
	}
	if (c->state == PRIMING_RT && c->done >= 1)
		c->state = UP;
	fill(c, limit_of(c));
}

static void on_connected(struct conn *c)
{
	int err = 0, one = 1;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		conn_fail(c, "connect", err);
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = PRIMING_RT;
	c->want_out = 1; /* armed for EPOLLOUT alone: arm() must MOD it */
	arm(c, 0);
	fill(c, limit_of(c));
}

static void start_connect(struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	c->fd = fd;
	c->state = CONNECTING;
	c->want_out = 1;
	if (opt.naddrs > 1) {
		/* 127.0.0.k, port chosen at connect time (so the 4-tuple,
		 * not the address alone, has to be unique). */
		struct sockaddr_in src = { .sin_family = AF_INET };
		int one = 1;

		src.sin_addr.s_addr = htonl(0x7f000001 + c->id % opt.naddrs);
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
			   sizeof(one));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
			die("bind to a 127.0.0.x source address");
	}
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl");
	if (connect(fd, (struct sockaddr *)&opt.server, sizeof(opt.server)) <
		    0 &&
	    errno != EINPROGRESS)
		conn_fail(c, "connect", errno);
}

/* One round of events, waiting at most timeout_ms. */
static void poll_once(int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	int n = epoll_wait(ep, evs, MAX_EVENTS, timeout_ms);
	uint64_t now;

	if (n < 0) {
		if (errno == EINTR)
			return;
		die("epoll_wait");
	}
	now = now_ns();
	for (int i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;

		if (c->state == CLOSED)
			continue;
		if (c->state == CONNECTING) {
			on_connected(c);
			continue;
		}
		if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			on_readable(c, now);
		if (c->state != CLOSED && (evs[i].events & EPOLLOUT))
			fill(c, limit_of(c));
	}
}

/* utime + stime of process pid, in seconds, and utime alone in *user;
 * -1 if it cannot be read. */
static double proc_cpu(long pid, double *user)
{
	char path[64], line[1024], *p;
	unsigned long long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	/* The command name (field 2) may hold spaces: skip past its ')'.
	 * Then state is field 3, utime field 14, stime field 15. */
	if (p == NULL || (p = strrchr(line, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
		   "%llu", &ut, &st) != 2)
		return -1;
	*user = (double)ut / sysconf(_SC_CLK_TCK);
	return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void usage(void)
{
	fprintf(stderr, "usage: load -p port [-h host] [-c connections] "
		"[-d seconds] [-s size] [-P depth] [-w seconds] [-a addrs] "
		"[-x pid] [--verify]\n");
	exit(2);
}

static void parse(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "verify", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'H' },
		{ 0, 0, 0, 0 },
	};
	const char *host = "127.0.0.1";
	long port = 0;
	int ch;

	while ((ch = getopt_long(argc, argv, "h:p:c:d:s:P:w:a:x:", longopts,
				 NULL)) != -1) {
		switch (ch) {
		case 'h': host = optarg; break;
		case 'p': port = atol(optarg); break;
		case 'c': opt.nconn = atoi(optarg); break;
		case 'd': opt.seconds = atof(optarg); break;
		case 's': opt.size = atoi(optarg); break;
		case 'P': opt.depth = atoi(optarg); break;
		case 'w': opt.warmup = atof(optarg); break;
		case 'a': opt.naddrs = atoi(optarg); break;
		case 'x': opt.server_pid = atol(optarg); break;
		case 'V': opt.verify = 1; break;
		default: usage();
		}
	}
	if (optind != argc || port <= 0 || port > 65535 || opt.nconn < 1 ||
	    opt.seconds <= 0 || opt.size < 1 || opt.depth < 1 ||
	    opt.warmup < 0 || opt.naddrs < 1 || opt.naddrs > 254)
		usage();
	opt.server.sin_family = AF_INET;
	opt.server.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &opt.server.sin_addr) != 1) {
		fprintf(stderr, "load: %s: not an IPv4 address\n", host);
		exit(2);
	}
}

/*
 * As many descriptors as the hard limit allows: the default soft limit
 * (often 1024) is far below 10,000 connections.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit");
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("setrlimit");
	if (rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)opt.nconn + 16 > rl.rlim_cur) {
		fprintf(stderr, "load: %d connections need more descriptors "
			"than RLIMIT_NOFILE allows (%llu)\n", opt.nconn,
			(unsigned long long)rl.rlim_cur);
		exit(1);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * How evenly the server served the connections: the fewest, median and
 * most messages one connection got through in the measured window. A
 * fair server gives each about the same; a wide spread is what makes
 * p99 far above p50.
 */
static void print_spread(void)
{
	uint64_t *n = malloc(opt.nconn * sizeof(*n));

	if (n == NULL)
		return;
	for (int i = 0; i < opt.nconn; i++)
		n[i] = conns[i].counted;
	qsort(n, opt.nconn, sizeof(*n), cmp_u64);
	printf("# messages per connection: min %llu, median %llu, max %llu\n",
	       (unsigned long long)n[0],
	       (unsigned long long)n[opt.nconn / 2],
	       (unsigned long long)n[opt.nconn - 1]);
	free(n);
}

static int count_state(enum conn_state s)
{
	int n = 0;

	for (int i = 0; i < opt.nconn; i++)
		n += conns[i].state == s;
	return n;
}

/*
 * Phase 1: set every connection up, PRIMING at a time; one is up when
 * its first message has come back. 0, or -1 (said why on stderr).
 */
static int connect_all(void)
{
	uint64_t deadline = now_ns() + CONNECT_SECS * 1000000000ull;
	int next = 0, busy = 0, up = 0;

	while (up < opt.nconn && !failed) {
		while (busy < PRIMING && next < opt.nconn) {
			start_connect(&conns[next++]);
			busy++;
		}
		poll_once(100);
		busy = count_state(CONNECTING) + count_state(PRIMING_RT);
		up = count_state(UP);
		if (now_ns() > deadline) {
			fprintf(stderr, "load: only %d of %d connections up "
				"after %d s\n", up, opt.nconn, CONNECT_SECS);
			return -1;
		}
	}
	return failed ? -1 : 0;
}

/* Phases 2 and 3: run every connection until the clock reaches end. */
static void run_until(uint64_t end)
{
	while (now_ns() < end && !failed)
		poll_once(10);
}

/*
 * Phase 4: stop sending and wait for the replies still in flight: every
 * message sent must come back (and with --verify, be checked), and the
 * server sees orderly closes, not resets of unread data.
 */
static void drain(void)
{
	uint64_t deadline = now_ns() + DRAIN_SECS * 1000000000ull;
	int pending;

	for (int i = 0; i < opt.nconn; i++)
		if (conns[i].state == RUNNING)
			conns[i].state = DRAINING;
	for (;;) {
		pending = 0;
		for (int i = 0; i < opt.nconn; i++)
			pending += conns[i].state == DRAINING &&
				   conns[i].rcvd < conns[i].sent;
		if (pending == 0 || failed || now_ns() > deadline)
			break;
		poll_once(10);
	}
	if (pending && !failed) {
		fprintf(stderr, "load: %d connections still missing replies "
			"after %d s\n", pending, DRAIN_SECS);
		failed = 1;
	}
	for (int i = 0; i < opt.nconn; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
}

/*
 * The run: connect, warm up, measure (reading the CPU clocks at both
 * ends of the measured window, and nowhere else), drain, report. A
 * failure anywhere prints no figures: a broken run has none worth
 * quoting.
 */
int main(int argc, char **argv)
{
	uint64_t t0, t_start, t_end;
	double cpu0 = -1, cpu1 = -1, user0 = 0, user1 = 0, self0, self1, secs;

	parse(argc, argv);
	raise_nofile();
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	conns = calloc(opt.nconn, sizeof(*conns));
	if (conns == NULL)
		die("calloc");
	for (int i = 0; i < opt.nconn; i++) {
		conns[i].id = i;
		conns[i].fd = -1;
		conns[i].t_send = calloc(opt.depth, sizeof(uint64_t));
		if (conns[i].t_send == NULL)
			die("calloc");
	}

	t0 = now_ns();
	if (connect_all() < 0)
		return 1;
	printf("# load: %d connections to %s:%d up in %.0f ms, %d-byte "
	       "messages, %d in flight each, %.1f s warm-up, %.1f s "
	       "measured%s\n", opt.nconn, inet_ntoa(opt.server.sin_addr),
	       ntohs(opt.server.sin_port), (now_ns() - t0) / 1e6, opt.size,
	       opt.depth, opt.warmup, opt.seconds,
	       opt.verify ? ", every byte verified" : "");

	for (int i = 0; i < opt.nconn; i++) {
		conns[i].state = RUNNING;
		fill(&conns[i], limit_of(&conns[i]));
	}
	run_until(now_ns() + (uint64_t)(opt.warmup * 1e9));

	if (opt.server_pid)
		cpu0 = proc_cpu(opt.server_pid, &user0);
	self0 = self_cpu();
	t_start = now_ns();
	counting = 1;
	run_until(t_start + (uint64_t)(opt.seconds * 1e9));
	counting = 0;
	t_end = now_ns();
	self1 = self_cpu();
	if (opt.server_pid)
		cpu1 = proc_cpu(opt.server_pid, &user1);
	secs = (t_end - t_start) / 1e9;

	if (!failed)
		drain();
	if (failed)
		return 1; /* said why on stderr */
	if (opt.server_pid && (cpu0 < 0 || cpu1 < 0)) {
		fprintf(stderr, "load: cannot read /proc/%ld/stat\n",
			opt.server_pid);
		return 1;
	}

	printf("load %d msgs_per_s %.0f p50_us %.1f p99_us %.1f\n", opt.nconn,
	       nmsgs / secs, percentile_us(0.50), percentile_us(0.99));
	if (opt.server_pid && nmsgs > 0) {
		printf("server_cpu %d us_per_msg %.2f user_us %.2f "
		       "kernel_us %.2f\n", opt.nconn,
		       (cpu1 - cpu0) * 1e6 / nmsgs,
		       (user1 - user0) * 1e6 / nmsgs,
		       (cpu1 - cpu0 - (user1 - user0)) * 1e6 / nmsgs);
		printf("# server busy %.0f%% of one CPU, client %.0f%%; p99.9 "
		       "%.1f us\n", (cpu1 - cpu0) * 100 / secs,
		       (self1 - self0) * 100 / secs, percentile_us(0.999));
	} else {
		printf("# client busy %.0f%% of one CPU; p99.9 %.1f us\n",
		       (self1 - self0) * 100 / secs, percentile_us(0.999));
	}
	print_spread();
	printf("# replies in all phases: %llu\n", (unsigned long long)nall);
	if (opt.verify)
		printf("# verify: %llu bytes echoed back, all as sent\n",
		       (unsigned long long)nchecked);
	return 0;
}
