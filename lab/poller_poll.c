/*
 * poller_poll.c - the poll(2) back end (POSIX).
 *
 * poll takes an array of struct pollfd, one per watched descriptor, and
 * fills in each one's revents. The array is ours: the kernel forgets it
 * when the call returns, so every call copies all of it in, looks at
 * every descriptor (registering on each one's wait queue, then taking
 * itself off again), and copies it back, where we scan all of it for
 * the few that are ready. O(watched descriptors) per call, however few
 * are ready. Unlike select it has no limit on descriptor numbers.
 *
 * slot[fd] says where fd's entry is in the array, so that a change is
 * O(1); removing moves the last entry into the hole.
 *
 * Python: selectors.PollSelector; Modules/selectmodule.c (poll_poll).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "poller.h"

struct cl__poll {
	struct pollfd *pfds; /* the watched descriptors, n of them */
	int n, cap;
	int *slot;	     /* slot[fd]: index in pfds, -1 if none */
	int nslots;
};

static void *cl__poll_create(void)
{
	return calloc(1, sizeof(struct cl__poll));
}

static void cl__poll_destroy(void *st)
{
	struct cl__poll *ps = st;

	free(ps->pfds);
	free(ps->slot);
	free(ps);
}

/* Make room for fd in slot[] and for one more entry in pfds. */
static int cl__poll_grow(struct cl__poll *ps, int fd)
{
	if (fd >= ps->nslots) {
		int n = ps->nslots ? ps->nslots : 64;
		int *slot;

		while (n <= fd)
			n *= 2;
		slot = realloc(ps->slot, (size_t)n * sizeof *slot);
		if (slot == NULL)
			return -ENOMEM;
		for (int i = ps->nslots; i < n; i++)
			slot[i] = -1;
		ps->slot = slot;
		ps->nslots = n;
	}
	if (ps->n == ps->cap) {
		int cap = ps->cap ? 2 * ps->cap : 64;
		struct pollfd *p = realloc(ps->pfds, (size_t)cap * sizeof *p);

		if (p == NULL)
			return -ENOMEM;
		ps->pfds = p;
		ps->cap = cap;
	}
	return 0;
}

static int cl__poll_update(void *st, int fd, unsigned old, unsigned events)
{
	struct cl__poll *ps = st;
	short mask = (short)((events & CL_EV_IN ? POLLIN : 0) |
			     (events & CL_EV_OUT ? POLLOUT : 0));
	int i, err;

	(void)old;
	i = fd < ps->nslots ? ps->slot[fd] : -1;
	if (events == 0) {
		if (i < 0)
			return 0;
		ps->pfds[i] = ps->pfds[--ps->n];
		ps->slot[ps->pfds[i].fd] = i;
		ps->slot[fd] = -1;
		return 0;
	}
	if (i < 0) {
		err = cl__poll_grow(ps, fd);
		if (err < 0)
			return err;
		i = ps->n++;
		ps->slot[fd] = i;
		ps->pfds[i].fd = fd;
	}
	ps->pfds[i].events = mask;
	ps->pfds[i].revents = 0;
	return 0;
}

static int cl__poll_wait(void *st, int64_t timeout_us, struct cl_fired *out,
			 int max)
{
	struct cl__poll *ps = st;
	int n, k = 0;

	n = poll(ps->pfds, (nfds_t)ps->n, cl__poller_timeout_ms(timeout_us));
	if (n < 0)
		return -errno;
	/* The scan that makes poll O(watched): every entry, to find n. */
	for (int i = 0; i < ps->n && k < n && k < max; i++) {
		short re = ps->pfds[i].revents;

		if (re == 0)
			continue;
		out[k].fd = ps->pfds[i].fd;
		out[k].events = 0;
		if (re & (POLLIN | POLLERR | POLLHUP | POLLNVAL))
			out[k].events |= CL_EV_IN;
		if (re & (POLLOUT | POLLERR | POLLHUP | POLLNVAL))
			out[k].events |= CL_EV_OUT;
		k++;
	}
	return k;
}

const struct cl_poller_backend cl__poller_poll = {
	.name = "poll",
	.create = cl__poll_create,
	.destroy = cl__poll_destroy,
	.update = cl__poll_update,
	.wait = cl__poll_wait,
};
