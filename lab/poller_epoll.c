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

/* TODO(ch04): The epoll back end: create, destroy, update and wait over
 * struct cl__epoll, level-triggered, as poller.h specifies them; a
 * closed fd may still be updated or dropped without error. Errors are
 * -errno. Mirrors Lib/selectors.py EpollSelector and
 * Modules/selectmodule.c (pyepoll_*); read section 3.
 * Hints: make hint CH=4 TODO=epoll (3 levels). */
static void *cl__epoll_create(void)
{
	errno = ENOSYS;
	return NULL;
}

static void cl__epoll_destroy(void *st)
{
	free(st);
}

static int cl__epoll_update(void *st, int fd, unsigned old,
			    unsigned events)
{
	(void)st, (void)fd, (void)old, (void)events;
	return -ENOSYS;
}

static int cl__epoll_wait(void *st, int64_t timeout_us,
			  struct cl_fired *out, int max)
{
	(void)st, (void)timeout_us, (void)out, (void)max;
	return -ENOSYS;
}

const struct cl_poller_backend cl__poller_epoll = {
	.name = "epoll",
	.create = cl__epoll_create,
	.destroy = cl__epoll_destroy,
	.update = cl__epoll_update,
	.wait = cl__epoll_wait,
};
