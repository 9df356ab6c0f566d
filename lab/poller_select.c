/*
 * poller_select.c - the select(2) back end (POSIX, and the oldest).
 *
 * select takes three bit sets indexed by descriptor number (we use two:
 * readable and writable) and the highest number plus one, and overwrites
 * the sets with the answer. So every call starts from copies of our
 * master sets, and the kernel, then we, look at every bit up to the
 * highest watched descriptor: O(highest fd) per call, even with one
 * descriptor watched, if its number is high. An fd_set has room for
 * FD_SETSIZE (1024) descriptors, no more: a higher one is refused with
 * -EINVAL, where writing its bit would write past the set.
 *
 * Python: selectors.SelectSelector; Modules/selectmodule.c
 * (select_select_impl).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/select.h>

#include "poller.h"

struct cl__select {
	fd_set rfds, wfds; /* the master sets: what we watch */
	int maxfd;	   /* the highest fd in either, -1 if none */
};

static void *cl__select_create(void)
{
	struct cl__select *ss = malloc(sizeof *ss);

	if (ss == NULL)
		return NULL;
	FD_ZERO(&ss->rfds);
	FD_ZERO(&ss->wfds);
	ss->maxfd = -1;
	return ss;
}

static void cl__select_destroy(void *st)
{
	free(st);
}

static int cl__select_update(void *st, int fd, unsigned old, unsigned events)
{
	struct cl__select *ss = st;

	(void)old;
	if (fd < 0 || fd >= FD_SETSIZE)
		return -EINVAL;
	if (events & CL_EV_IN)
		FD_SET(fd, &ss->rfds);
	else
		FD_CLR(fd, &ss->rfds);
	if (events & CL_EV_OUT)
		FD_SET(fd, &ss->wfds);
	else
		FD_CLR(fd, &ss->wfds);
	if (events != 0 && fd > ss->maxfd)
		ss->maxfd = fd;
	/* The highest one left: walk down to the next one still set. */
	while (ss->maxfd >= 0 && !FD_ISSET(ss->maxfd, &ss->rfds) &&
	       !FD_ISSET(ss->maxfd, &ss->wfds))
		ss->maxfd--;
	return 0;
}

static int cl__select_wait(void *st, int64_t timeout_us, struct cl_fired *out,
			   int max)
{
	struct cl__select *ss = st;
	fd_set r = ss->rfds, w = ss->wfds;
	struct timeval tv, *tvp = NULL;
	int n, k = 0;

	if (timeout_us >= 0) {
		/* As long as the others wait at most: about 24 days. */
		if (timeout_us > (int64_t)INT_MAX * 1000)
			timeout_us = (int64_t)INT_MAX * 1000;
		tv.tv_sec = (time_t)(timeout_us / 1000000);
		tv.tv_usec = (suseconds_t)(timeout_us % 1000000);
		tvp = &tv;
	}
	n = select(ss->maxfd + 1, &r, &w, NULL, tvp);
	if (n < 0)
		return -errno;
	/* The scan that makes select O(highest fd). n counts bits, not
	 * descriptors: one both readable and writable counts twice. */
	for (int fd = 0; fd <= ss->maxfd && n > 0 && k < max; fd++) {
		unsigned ev = (FD_ISSET(fd, &r) ? CL_EV_IN : 0) |
			      (FD_ISSET(fd, &w) ? CL_EV_OUT : 0);

		if (ev == 0)
			continue;
		n -= (ev & CL_EV_IN ? 1 : 0) + (ev & CL_EV_OUT ? 1 : 0);
		out[k].fd = fd;
		out[k].events = ev;
		k++;
	}
	return k;
}

const struct cl_poller_backend cl__poller_select = {
	.name = "select",
	.create = cl__select_create,
	.destroy = cl__select_destroy,
	.update = cl__select_update,
	.wait = cl__select_wait,
};
