/*
 * poller.h - waiting for many file descriptors at once.
 *
 * A loop that serves sockets must sleep until one of them has something
 * to say, or until its next timer is due, whichever comes first. The
 * kernel offers three ways to ask, and we use them all:
 *
 *	select(2)	bit sets of descriptors, rebuilt and scanned on every
 *			call: O(highest fd) per call, fds below 1024 only;
 *	poll(2)		an array of struct pollfd, copied in and scanned on
 *			every call: O(watched fds) per call;
 *	epoll(7)	the kernel keeps the interest list between calls and
 *			hands back only the descriptors that are ready:
 *			O(ready fds) per call, O(1) to change the list.
 *
 * Each one lives in a file of its own (poller_epoll.c, poller_poll.c,
 * poller_select.c) and fills in the same small table of functions over a
 * state only it knows, struct cl_poller_backend below: the way Redis
 * splits ae.c from ae_epoll.c and ae_select.c. The rest of corolab never
 * knows which one it runs on.
 *
 * The core above the back ends (fdwatch.c) keeps the table from file
 * descriptors to callbacks, turns what the back end reports into
 * callbacks on the loop's ready queue, and is what the loop sees: a
 * struct cl_poller (loop.h). Most programs never touch this header: the
 * first cl_loop_add_reader (fdwatch.h) installs a poller by itself.
 *
 *	struct cl_poller *p = cl_poller_new("poll");
 *	cl_loop_set_poller(loop, p);		the loop frees it
 *
 * Python: Lib/selectors.py (SelectSelector, PollSelector, EpollSelector,
 * DefaultSelector) and Modules/selectmodule.c.
 */
#ifndef CL_POLLER_H
#define CL_POLLER_H

#include <stdint.h>

#include "loop.h"

/*
 * A new poller on the named back end: "epoll", "poll" or "select". NULL
 * means the environment variable COROLAB_POLLER if it is set, "epoll"
 * otherwise (selectors.DefaultSelector picks epoll on Linux too). Returns
 * NULL with errno set on error: EINVAL for an unknown name, or what the
 * back end failed with (ENOSYS for a back end not written yet, EMFILE,
 * ENOMEM). Install it with cl_loop_set_poller, which hands it to the
 * loop: cl_loop_free frees it.
 */
struct cl_poller *cl_poller_new(const char *backend);

/* The back end's name ("epoll", "poll", "select"); NULL if p was not
 * made by cl_poller_new. */
const char *cl_poller_name(const struct cl_poller *p);

/*
 * The back-end interface. What a descriptor is watched for, and what it
 * is ready for, is a mask of these two bits (selectors.EVENT_READ and
 * EVENT_WRITE). An error or a hang-up on the descriptor is reported as
 * both: whoever reads or writes it next gets the error, or end of file.
 */
#define CL_EV_IN  1u
#define CL_EV_OUT 2u

/* One ready descriptor, as a back end reports it. */
struct cl_fired {
	int fd;
	unsigned events; /* CL_EV_IN | CL_EV_OUT */
};

/*
 * What each back end implements, over a state of its own that nobody
 * else looks inside (a void *). The core calls them in this order:
 * create once, then any number of update and wait, then destroy.
 */
struct cl_poller_backend {
	const char *name;

	/* A new state watching nothing. NULL and errno on error. */
	void *(*create)(void);

	/* Free the state (and close what it holds open). */
	void (*destroy)(void *st);

	/*
	 * fd was watched for old and is now to be watched for events
	 * (either may be 0: old 0 adds fd, events 0 removes it). Returns
	 * 0 or a negative errno value; on error nothing changed. Removing
	 * a descriptor that was closed meanwhile is not an error.
	 */
	int (*update)(void *st, int fd, unsigned old, unsigned events);

	/*
	 * Wait until a watched descriptor is ready or timeout_us
	 * microseconds have passed (-1: no limit; 0: only look). Store at
	 * most max ready descriptors in out and return how many (0 when
	 * the time ran out), or a negative errno value: -EINTR when a
	 * signal interrupted the wait.
	 */
	int (*wait)(void *st, int64_t timeout_us, struct cl_fired *out,
		    int max);
};

extern const struct cl_poller_backend cl__poller_epoll;
extern const struct cl_poller_backend cl__poller_poll;
extern const struct cl_poller_backend cl__poller_select;

/*
 * For the back ends: timeout_us as the milliseconds poll(2) and
 * epoll_wait(2) take, rounded up (waking a little late is harmless;
 * waking early makes the loop spin until the deadline), -1 as -1.
 */
int cl__poller_timeout_ms(int64_t timeout_us);

#endif
