/*
 * poller_epoll.c - the epoll back end (Linux).
 *
 * select and poll hand the kernel the whole list of descriptors on every
 * call, and the kernel looks at each one: the cost grows with the number
 * of descriptors watched, even when only one of them is ready. epoll
 * splits the two jobs. The interest list lives in the kernel, in an
 * epoll instance (itself a file descriptor), and changes with one
 * epoll_ctl per change; the kernel puts a descriptor on the instance's
 * ready list when its state changes (a callback from the socket's wait
 * queue), and epoll_wait only copies that list out. A wait costs O(ready
 * descriptors), however many are idle.
 *
 * We use it level-triggered (no EPOLLET), like select and poll: a
 * descriptor is reported on every wait while it stays ready, so a
 * callback that reads only part of what arrived is called again at the
 * next iteration. Edge-triggered would report it once per change, and a
 * reader that stopped early would never hear of the rest.
 *
 * Python: selectors.EpollSelector; Modules/selectmodule.c (pyepoll_*).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "poller.h"

/* The state: the epoll instance, and a buffer for epoll_wait. */
struct cl__epoll {
	int epfd;
	struct epoll_event *events; /* cap long */
	int cap;
};

// LAB ch04 epoll: The epoll back end: create, destroy, update and wait over
// LAB ch04: struct cl__epoll, level-triggered, as poller.h specifies them; a
// LAB ch04: closed fd may still be updated or dropped without error. Errors are
// LAB ch04: -errno. Mirrors Lib/selectors.py EpollSelector and
// LAB ch04: Modules/selectmodule.c (pyepoll_*); read section 3.
// HINT1 ch04: Read poller_poll.c, a back end that is given: yours has the same
// HINT1 ch04: four functions. create: epoll_create1(EPOLL_CLOEXEC) and an empty
// HINT1 ch04: events buffer; destroy: close and free what create made.
// HINT2 ch04: update: EPOLL_CTL_ADD when old is 0, _DEL when events is 0, _MOD
// HINT2 ch04: otherwise, with EPOLLIN / EPOLLOUT for CL_EV_IN / CL_EV_OUT and
// HINT2 ch04: the fd in data.fd. A closed fd has left the epoll set by itself:
// HINT2 ch04: on _DEL ignore EBADF and ENOENT; on _MOD ENOENT means the number
// HINT2 ch04: was reused, so _ADD it.
// HINT3 ch04: wait: grow the buffer to max, epoll_wait with
// HINT3 ch04: cl__poller_timeout_ms, and turn each epoll_event into a struct
// HINT3 ch04: cl_fired (EPOLLERR and EPOLLHUP count as both IN and OUT).
static void *cl__epoll_create(void)
{
	struct cl__epoll *ep = calloc(1, sizeof *ep);

	if (ep == NULL)
		return NULL;
	ep->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ep->epfd < 0) {
		int err = errno;

		free(ep);
		errno = err;
		return NULL;
	}
	return ep;
}

static void cl__epoll_destroy(void *st)
{
	struct cl__epoll *ep = st;

	close(ep->epfd);
	free(ep->events);
	free(ep);
}

static int cl__epoll_update(void *st, int fd, unsigned old, unsigned events)
{
	struct cl__epoll *ep = st;
	struct epoll_event ev = { 0 };
	int op;

	ev.events = (events & CL_EV_IN ? EPOLLIN : 0) |
		    (events & CL_EV_OUT ? EPOLLOUT : 0);
	ev.data.fd = fd;
	if (events == 0)
		op = EPOLL_CTL_DEL;
	else if (old == 0)
		op = EPOLL_CTL_ADD;
	else
		op = EPOLL_CTL_MOD;
	if (epoll_ctl(ep->epfd, op, fd, &ev) == 0)
		return 0;
	/* Closing a descriptor takes it out of every epoll set. */
	if (op == EPOLL_CTL_DEL && (errno == EBADF || errno == ENOENT))
		return 0;
	/* Closed, and the number handed out again: a new file. */
	if (op == EPOLL_CTL_MOD && errno == ENOENT &&
	    epoll_ctl(ep->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
		return 0;
	return -errno;
}

static int cl__epoll_wait(void *st, int64_t timeout_us, struct cl_fired *out,
			  int max)
{
	struct cl__epoll *ep = st;
	int n;

	if (max > ep->cap) {
		struct epoll_event *ev;

		ev = realloc(ep->events, (size_t)max * sizeof *ev);
		if (ev == NULL)
			return -ENOMEM;
		ep->events = ev;
		ep->cap = max;
	}
	n = epoll_wait(ep->epfd, ep->events, max,
		       cl__poller_timeout_ms(timeout_us));
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		uint32_t e = ep->events[i].events;

		out[i].fd = ep->events[i].data.fd;
		out[i].events = 0;
		if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
			out[i].events |= CL_EV_IN;
		if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			out[i].events |= CL_EV_OUT;
	}
	return n;
}
// STUB ch04:
// static void *cl__epoll_create(void)
// {
// 	errno = ENOSYS;
// 	return NULL;
// }
//
// static void cl__epoll_destroy(void *st)
// {
// 	free(st);
// }
//
// static int cl__epoll_update(void *st, int fd, unsigned old,
// 			    unsigned events)
// {
// 	(void)st, (void)fd, (void)old, (void)events;
// 	return -ENOSYS;
// }
//
// static int cl__epoll_wait(void *st, int64_t timeout_us,
// 			  struct cl_fired *out, int max)
// {
// 	(void)st, (void)timeout_us, (void)out, (void)max;
// 	return -ENOSYS;
// }
// END ch04

const struct cl_poller_backend cl__poller_epoll = {
	.name = "epoll",
	.create = cl__epoll_create,
	.destroy = cl__epoll_destroy,
	.update = cl__epoll_update,
	.wait = cl__epoll_wait,
};
