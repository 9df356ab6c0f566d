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

/* TODO(ch04): The epoll back end: four functions over struct cl__epoll.
 * create: epoll_create1(EPOLL_CLOEXEC) and an empty events
 * buffer; destroy: close and free what create made. update:
 * EPOLL_CTL_ADD when old is 0, _DEL when events is 0, _MOD
 * otherwise, with EPOLLIN / EPOLLOUT for CL_EV_IN / CL_EV_OUT
 * and the fd in data.fd. A closed fd has left the
 * epoll set by itself: on _DEL ignore EBADF and ENOENT; on _MOD
 * ENOENT means the number was reused, so _ADD it. wait: grow the
 * buffer to max, epoll_wait with cl__poller_timeout_ms, and turn
 * each epoll_event into a struct cl_fired (EPOLLERR and EPOLLHUP
 * count as both IN and OUT). Errors are -errno. */
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
