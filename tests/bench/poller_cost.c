/*
 * poller_cost.c - what one look at N idle descriptors costs, for select,
 * poll and epoll.
 *
 *	poller_cost [-r reps] [-t ms] [-n calls]
 *
 *	-r	repetitions of each method; the best one counts (default 3)
 *	-t	target time of one repetition in milliseconds (default 100)
 *	-n	fixed number of calls per repetition (default: calibrated so
 *		that one repetition takes about -t milliseconds)
 *
 * A server with 10,000 connections of which a handful are talking asks
 * the kernel, at every iteration of its loop, which ones are ready. This
 * program times that question alone: N = 100, 1,000 and 10,000 UDP
 * sockets, unbound, watched for reading; nothing is ever sent to them,
 * so every answer is "none", and the call returns at once (timeout 0).
 * What is left is the bookkeeping each mechanism does per call:
 *
 *	select		copies the fd_sets in, asks every descriptor up to
 *			the highest, copies the sets back; we then scan them
 *	poll		the same with an array of struct pollfd
 *	epoll		copies out the ready list, empty here: no
 *			descriptor is looked at
 *
 * Methods, one line each:
 *
 *	select, poll, epoll	corolab's pollers: cl_poller_new(name),
 *				installed on a loop with cl_loop_set_poller,
 *				the sockets added with cl_loop_add_reader,
 *				and the figure is one call of the loop's
 *				poller->poll(poller, 0): the back end's wait
 *				and what fdwatch.c does around it
 *	sys_select, sys_poll, sys_epoll
 *				the bare system calls on the same sockets,
 *				with the fd_set, pollfd array or epoll set
 *				made once, beforehand: what the kernel
 *				costs, so corolab's own share can be seen
 *
 * select cannot take part at 10,000: an fd_set is a bit array of
 * FD_SETSIZE (1024) bits, one per descriptor number, so a descriptor
 * numbered 1024 or more cannot be put in one (FD_SET would write past its
 * end; corolab's select back end refuses it with -EINVAL). Its figures
 * are "n/a" there. Note that it is the descriptor's NUMBER that counts,
 * not how many are watched: one socket numbered 2000 is already too many.
 *
 * The machine is shared and small, so absolute times are noise; the
 * ratios between methods measured in the same run are the figure. The
 * repetitions are interleaved (every method once, then again) and each
 * method keeps its best.
 *
 * Output ('#' starts a comment):
 *	poller<N> <method> <ns per call>	or n/a
 *	ratio poller<N> <a>/<b> <n>		a took n times as long as b
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "fdwatch.h"
#include "loop.h"
#include "poller.h"

#define MAXN 10000
#define NMETHODS 6

static const int sizes[] = { 100, 1000, 10000 };

static const char *const names[NMETHODS] = {
	"select", "poll", "epoll", "sys_select", "sys_poll", "sys_epoll",
};

static int fds[MAXN]; /* the idle sockets of the current N */
static int nfds;

/* corolab: one loop per back end, each watching all of fds[]. */
static struct cl_loop *loops[3];
static int cl_ok[3]; /* 0 if the back end refused the descriptors */

/* The bare system calls' state, made once per N. */
static fd_set sys_rfds;
static int sys_maxfd, sys_select_ok;
static struct pollfd sys_pfds[MAXN];
static int sys_ep = -1;


static void die(const char *what, int err)
{
	fprintf(stderr, "poller_cost: %s: %s\n", what, strerror(err));
	exit(1);
}

static void never(void *arg)
{
	(void)arg;
	fprintf(stderr, "poller_cost: an idle socket was ready\n");
	exit(1);
}

/*
 * Set up N: the corolab loops first, so that their own descriptors (the
 * epoll instance) take low numbers, then the sockets.
 */
static void setup(int n)
{
	static const char *const be[3] = { "select", "poll", "epoll" };
	struct epoll_event ev = { .events = EPOLLIN };

	for (int b = 0; b < 3; b++) {
		struct cl_poller *p = cl_poller_new(be[b]);
		int err;

		loops[b] = cl_loop_new(CL_CLOCK_REAL);
		if (loops[b] == NULL)
			die("cl_loop_new", errno);
		if (p == NULL)
			die(be[b], errno);
		err = cl_loop_set_poller(loops[b], p);
		if (err < 0)
			die("cl_loop_set_poller", -err);
	}
	sys_ep = epoll_create1(EPOLL_CLOEXEC);
	if (sys_ep < 0)
		die("epoll_create1", errno);

	for (nfds = 0; nfds < n; nfds++) {
		fds[nfds] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fds[nfds] < 0)
			die("socket", errno);
	}

	for (int b = 0; b < 3; b++) {
		cl_ok[b] = 1;
		for (int i = 0; i < n; i++) {
			int err = cl_loop_add_reader(loops[b], fds[i], never,
						     NULL);

			if (err == -EINVAL && b == 0) {
				cl_ok[b] = 0; /* select: fd >= FD_SETSIZE */
				break;
			}
			if (err < 0)
				die("cl_loop_add_reader", -err);
		}
	}

	FD_ZERO(&sys_rfds);
	sys_maxfd = -1;
	sys_select_ok = 1;
	for (int i = 0; i < n; i++) {
		if (fds[i] >= FD_SETSIZE) {
			sys_select_ok = 0;
		} else {
			FD_SET(fds[i], &sys_rfds);
			if (fds[i] > sys_maxfd)
				sys_maxfd = fds[i];
		}
		sys_pfds[i].fd = fds[i];
		sys_pfds[i].events = POLLIN;
		sys_pfds[i].revents = 0;
		ev.data.fd = fds[i];
		if (epoll_ctl(sys_ep, EPOLL_CTL_ADD, fds[i], &ev) < 0)
			die("epoll_ctl", errno);
	}
}

static void teardown(void)
{
	for (int b = 0; b < 3; b++) {
		for (int i = 0; cl_ok[b] && i < nfds; i++)
			cl_loop_remove_reader(loops[b], fds[i]);
		cl_loop_free(loops[b]);
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	close(sys_ep);
	nfds = 0;
}

static int available(int m)
{
	if (m < 3)
		return cl_ok[m];
	if (m == 3)
		return sys_select_ok;
	return 1;
}

/* count calls of method m; exits on an error or a ready descriptor. */
static void run(int m, long count)
{
	struct epoll_event evs[64];
	struct timeval tv;
	fd_set r;
	int ret;

	for (long i = 0; i < count; i++) {
		switch (m) {
		case 0:
		case 1:
		case 2: {
			struct cl_poller *p = loops[m]->poller;

			ret = p->poll(p, 0);
			if (ret < 0)
				die(names[m], -ret);
			break;
		}
		case 3:
			r = sys_rfds;
			tv.tv_sec = 0;
			tv.tv_usec = 0;
			ret = select(sys_maxfd + 1, &r, NULL, NULL, &tv);
			if (ret != 0)
				die("select", ret < 0 ? errno : EAGAIN);
			break;
		case 4:
			ret = poll(sys_pfds, nfds, 0);
			if (ret != 0)
				die("poll", ret < 0 ? errno : EAGAIN);
			break;
		default:
			ret = epoll_wait(sys_ep, evs, 64, 0);
			if (ret != 0)
				die("epoll_wait", ret < 0 ? errno : EAGAIN);
			break;
		}
	}
}

/* How many calls of m take about target_ms: double until 1/8 of it. */
static long calibrate(int m, double target_ms)
{
	long n = 16;

	for (;;) {
		double t0 = now_ns(), dt;

		run(m, n);
		dt = now_ns() - t0;
		if (dt >= target_ms * 1e6 / 8)
			return (long)(n * target_ms * 1e6 / dt) + 1;
		n *= 2;
	}
}

/* The descriptors for 10,000 sockets, with room to spare. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit", errno);
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("setrlimit", errno);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < MAXN + 64) {
		fprintf(stderr, "poller_cost: needs %d descriptors, "
			"RLIMIT_NOFILE allows %llu\n", MAXN + 64,
			(unsigned long long)rl.rlim_cur);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	int reps = 3, ch;
	double target = 100;
	long fixed = 0;
	double best[3][NMETHODS];

	while ((ch = getopt(argc, argv, "r:t:n:")) != -1) {
		switch (ch) {
		case 'r': reps = atoi(optarg); break;
		case 't': target = atof(optarg); break;
		case 'n': fixed = atol(optarg); break;
		default:
			fprintf(stderr, "usage: poller_cost [-r reps] [-t ms] "
				"[-n calls]\n");
			return 2;
		}
	}
	if (reps < 1 || target <= 0 || fixed < 0) {
		fprintf(stderr, "usage: poller_cost [-r reps] [-t ms] "
			"[-n calls]\n");
		return 2;
	}
	raise_nofile();

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		long count[NMETHODS];

		setup(sizes[s]);
		for (int m = 0; m < NMETHODS; m++) {
			best[s][m] = -1;
			if (available(m))
				count[m] = fixed ? fixed :
						   calibrate(m, target);
		}
		for (int r = 0; r < reps; r++) {
			for (int m = 0; m < NMETHODS; m++) {
				double t0, ns;

				if (!available(m))
					continue;
				t0 = now_ns();
				run(m, count[m]);
				ns = (now_ns() - t0) / count[m];
				if (best[s][m] < 0 || ns < best[s][m])
					best[s][m] = ns;
			}
		}
		teardown();
	}

	printf("# poller_cost: one look (timeout 0) at N idle UDP sockets "
	       "watched for reading; best of %d interleaved repetitions of "
	       "%s\n", reps, fixed ? "a fixed count" : "about -t ms");
	printf("# select: n/a where a descriptor numbered >= FD_SETSIZE "
	       "(%d) would have to go in an fd_set\n", FD_SETSIZE);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (int m = 0; m < NMETHODS; m++) {
			if (best[s][m] < 0)
				printf("poller%d %s n/a\n", sizes[s], names[m]);
			else
				printf("poller%d %s %.0f\n", sizes[s], names[m],
				       best[s][m]);
		}
	}
	/* select and poll against epoll; corolab's against the bare call. */
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		static const int pairs[][2] = {
			{ 0, 2 }, { 1, 2 }, { 0, 3 }, { 1, 4 }, { 2, 5 },
		};

		for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
			double a = best[s][pairs[k][0]];
			double b = best[s][pairs[k][1]];

			if (a < 0 || b <= 0)
				continue;
			printf(a / b < 10 ? "ratio poller%d %s/%s %.2f\n" :
					    "ratio poller%d %s/%s %.1f\n",
			       sizes[s], names[pairs[k][0]],
			       names[pairs[k][1]], a / b);
		}
	}
	return 0;
}
