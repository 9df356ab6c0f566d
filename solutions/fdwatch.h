/*
 * fdwatch.h - the loop watches file descriptors: add_reader and friends.
 *
 * A callback can be attached to a file descriptor, to run when it is
 * readable, or writable:
 *
 *	cl_loop_add_reader(loop, fd, fn, arg);	loop.add_reader(fd, fn, arg)
 *	cl_loop_remove_reader(loop, fd);	loop.remove_reader(fd)
 *	cl_loop_add_writer(loop, fd, fn, arg);	loop.add_writer(fd, fn, arg)
 *	cl_loop_remove_writer(loop, fd);	loop.remove_writer(fd)
 *
 * Each iteration of the loop asks the poller (poller.h) which watched
 * descriptors are ready, waiting at most until the next timer is due,
 * and puts their callbacks at the back of the ready queue: they run in
 * that same iteration, after the callbacks that were queued before the
 * wait and before the timers that came due (base_events._run_once, then
 * selector_events._process_events). For one descriptor ready both ways,
 * the reader runs before the writer. Nothing is ever called from inside
 * the wait itself.
 *
 * Watching is level-triggered: the callback runs at every iteration for
 * as long as the descriptor stays ready, so it may read a little at a
 * time. It keeps running until it is removed: remove it (or read
 * everything) to stop it.
 *
 * One callback per descriptor and direction: adding a second reader
 * replaces the first, which will not run again, not even if it was
 * already queued for this iteration. Removing one that is queued cancels
 * it too (asyncio cancels the Handle). Remove a descriptor's callbacks
 * before you close it: the poller cannot tell a closed descriptor from
 * a new one that got the same number.
 *
 * The first add installs a poller on the loop if it has none
 * (cl_poller_new(NULL): COROLAB_POLLER, else epoll). While any
 * descriptor is watched, a loop with nothing ready and no timer waits
 * for it rather than reporting a deadlock.
 *
 * Python: Lib/asyncio/selector_events.py (BaseSelectorEventLoop:
 * _add_reader, _remove_reader, _add_writer, _remove_writer,
 * _process_events) and base_events.py (_run_once).
 */
#ifndef CL_FDWATCH_H
#define CL_FDWATCH_H

#include <stddef.h>

#include "loop.h"
#include "poller.h"

/*
 * Run fn(arg) at each iteration in which fd is readable (add_reader) or
 * writable (add_writer), until removed. Replaces the callback fd had for
 * that direction. Returns 0, or a negative errno value: -EBADF for a
 * negative fd, -EINVAL for a NULL fn (or, with the select back end, an
 * fd >= FD_SETSIZE), -EPERM for a descriptor epoll cannot watch (a
 * regular file), -ENOTSUP when the loop has a poller not made by
 * cl_poller_new, -ENOMEM.
 */
int cl_loop_add_reader(struct cl_loop *loop, int fd, cl_callback fn,
		       void *arg);
int cl_loop_add_writer(struct cl_loop *loop, int fd, cl_callback fn,
		       void *arg);

/*
 * Stop watching fd for reading (writing). Returns 1 if a callback was
 * removed, 0 if there was none (asyncio's True and False), or a negative
 * errno value.
 */
int cl_loop_remove_reader(struct cl_loop *loop, int fd);
int cl_loop_remove_writer(struct cl_loop *loop, int fd);

/* How many descriptors the loop watches (either way); 0 without a
 * poller. */
size_t cl_loop_nwatched(struct cl_loop *loop);

/*
 * For sock.c: 1 and the callback (either pointer may be NULL) if fd has
 * one for dir (CL_EV_IN or CL_EV_OUT), else 0.
 */
int cl__loop_fd_watcher(struct cl_loop *loop, int fd, unsigned dir,
			cl_callback *fn, void **arg);

#endif
