/*
 * sock.h - non-blocking sockets as awaitables, for code inside a task.
 *
 * A blocking recv would stop the whole loop, every task with it. So
 * sockets are non-blocking, and a call that would block returns EAGAIN
 * instead; the task then waits for the socket to become ready, which
 * suspends only that task (its future is completed by a reader or
 * writer callback, fdwatch.h), and tries again:
 *
 *	static void *echo(void *arg)
 *	{
 *		int fd = CL_TOINT(arg);
 *		char buf[4096];
 *		ssize_t n;
 *
 *		while ((n = cl_sock_recv(fd, buf, sizeof buf)) > 0)
 *			if (cl_sock_sendall(fd, buf, n) < 0)
 *				break;
 *		close(fd);
 *		return NULL;
 *	}
 *
 * is asyncio's
 *
 *	async def echo(conn):
 *	    loop = asyncio.get_running_loop()
 *	    while data := await loop.sock_recv(conn, 4096):
 *	        await loop.sock_sendall(conn, data)
 *	    conn.close()
 *
 * Errors are negative errno values, where asyncio raises OSError
 * subclasses: -ECONNRESET (ConnectionResetError), -EPIPE
 * (BrokenPipeError), -ECONNREFUSED (ConnectionRefusedError). A task
 * cancelled while it waits gets CancelledError raised at the call, as
 * in asyncio, and the socket is no longer watched. Calling these outside
 * a task raises RuntimeError, as cl_await does.
 *
 * One task at a time may wait on a socket in each direction: a second
 * one gets -EBUSY (trio's BusyResourceError) rather than replace the
 * first one's callback and leave it waiting forever.
 *
 * All the reading and writing goes through io.h, so COROLAB_FAULTS can
 * make it short, interrupted or refused at random; these functions cope.
 *
 * Python: Lib/asyncio/selector_events.py (sock_recv, sock_sendall,
 * sock_accept, sock_connect, _sock_connect_cb).
 */
#ifndef CL_SOCK_H
#define CL_SOCK_H

#include <sys/socket.h>
#include <sys/types.h>

/* Make fd non-blocking (O_NONBLOCK). 0 or -errno. */
int cl_sock_nonblock(int fd);

/*
 * await until fd is readable (writable): a future that a reader (writer)
 * callback completes. 0, or -errno: -EBUSY if another task waits on fd
 * the same way, or what adding the callback failed with. On
 * cancellation the callback is removed and CancelledError raised.
 */
int cl_wait_readable(int fd);
int cl_wait_writable(int fd);

/*
 * loop.sock_recv(sock, n): read up to n bytes, waiting until some are
 * there. Returns how many (> 0), 0 at end of file (the peer shut its
 * side down), or -errno (-ECONNRESET ...).
 */
ssize_t cl_sock_recv(int fd, void *buf, size_t n);

/*
 * loop.sock_sendall(sock, data): write all n bytes, waiting for room as
 * often as needed. 0, or -errno (-EPIPE, -ECONNRESET); on error some of
 * the bytes may have been sent.
 */
int cl_sock_sendall(int fd, const void *buf, size_t n);

/*
 * loop.sock_accept(sock): wait for a connection on the listening socket
 * lfd and accept it. Returns the new socket, non-blocking and
 * close-on-exec, or -errno.
 */
int cl_sock_accept(int lfd);

/*
 * loop.sock_connect(sock, address) for a non-blocking fd: start the
 * connection; if it cannot complete at once (EINPROGRESS), wait until
 * fd is writable and read the outcome with getsockopt(SO_ERROR). 0 once
 * connected, or -errno (-ECONNREFUSED ...).
 */
int cl_sock_connect(int fd, const struct sockaddr *sa, socklen_t len);

#endif
