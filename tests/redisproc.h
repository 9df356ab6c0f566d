/*
 * redisproc.h - a redis-server of a test's own.
 *
 *	struct redisproc rp;
 *	redisproc_start(&rp);		a fresh server on a free port
 *	... talk to 127.0.0.1:rp.port ...
 *	redisproc_stop(&rp);		SIGTERM, and wait for it to exit
 *	redisproc_restart(&rp);		again, on the same port
 *	redisproc_stop(&rp);
 *
 * The server keeps nothing on disk (--save "" --appendonly no) and
 * listens on 127.0.0.1 only. The child asks the kernel to kill it when
 * the test that started it dies (PR_SET_PDEATHSIG), so that a test that
 * crashes or times out never leaves a server behind. redisproc_start
 * returns once the server answers PING, and fails the test (ck_abort)
 * if there is no redis-server to run or it does not come up in 3 s.
 *
 * The port is found by binding port 0 and closing the socket: another
 * process may take it in between, so a server that exits at once is
 * started again on another port, a few times.
 *
 * Header-only: every function is static, for the test files that
 * include it.
 */
#ifndef CL_REDISPROC_H
#define CL_REDISPROC_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "grade.h"

struct redisproc {
	pid_t pid; /* the server, or 0 when stopped */
	int port;  /* where it listens (kept across a stop, for restart) */
};

/* The redis-server found on PATH (or in /usr/bin), or NULL. */
static const char *redisproc_path(void)
{
	static char found[4096];
	const char *path = getenv("PATH");
	const char *p, *end;

	for (p = path ? path : ""; *p != '\0'; p = *end ? end + 1 : end) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		snprintf(found, sizeof found, "%.*s/redis-server",
			 (int)(end - p), p);
		if (end > p && access(found, X_OK) == 0)
			return found;
	}
	return access("/usr/bin/redis-server", X_OK) == 0
		       ? "/usr/bin/redis-server"
		       : NULL;
}

/* A TCP port of 127.0.0.1 free right now, or -1. */
static int redisproc_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static double redisproc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1 if a server on port answers PING with +PONG within about 100 ms. */
static int redisproc_pings(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct pollfd pfd;
	char buf[16];
	ssize_t n = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok = 0;

	if (fd < 0)
		return 0;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6) {
		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 100) == 1)
			n = recv(fd, buf, sizeof buf - 1, 0);
		ok = n >= 5 && memcmp(buf, "+PONG", 5) == 0;
	}
	close(fd);
	return ok;
}

/* Wait for pid to exit, at most secs seconds: 1 if it has (reaped). */
static int redisproc_reap(pid_t pid, double secs)
{
	double end = redisproc_now() + secs;
	int status;

	do {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD))
			return 1;
		usleep(2000);
	} while (redisproc_now() < end);
	return 0;
}

/*
 * Run redis-server on rp->port and wait until it answers PING. 0 when it
 * does, -1 if it exited first (the port was taken), and a failed test if
 * it cannot be run or does not answer in 3 s.
 */
static int redisproc_spawn(struct redisproc *rp)
{
	const char *exe = redisproc_path();
	char port[16];
	pid_t parent = getpid();
	double end;

	if (exe == NULL)
		ck_abort_msg("redis-server not found: make deps-chat installs "
			     "it");
	snprintf(port, sizeof port, "%d", rp->port);
	fflush(NULL);
	rp->pid = fork();
	if (rp->pid < 0)
		ck_abort_msg("fork for redis-server: %s", strerror(errno));
	if (rp->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) /* the test died already */
			_exit(1);
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execl(exe, exe, "--save", "", "--appendonly", "no", "--port",
		      port, "--bind", "127.0.0.1", "--daemonize", "no",
		      "--loglevel", "warning", (char *)NULL);
		_exit(127);
	}
	end = redisproc_now() + 3;
	while (redisproc_now() < end) {
		int status;

		if (waitpid(rp->pid, &status, WNOHANG) == rp->pid) {
			rp->pid = 0;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
				ck_abort_msg("redis-server (%s) could not be "
					     "run", exe);
			return -1;
		}
		if (redisproc_pings(rp->port))
			return 0;
		usleep(5000);
	}
	kill(rp->pid, SIGKILL);
	redisproc_reap(rp->pid, 1);
	rp->pid = 0;
	ck_abort_msg("redis-server on port %d did not answer PING within 3 s",
		     rp->port);
	return -1;
}

/* A fresh server on a free port, answering. */
static void redisproc_start(struct redisproc *rp)
{
	for (int tries = 0; tries < 5; tries++) {
		rp->port = redisproc_free_port();
		if (rp->port < 0)
			ck_abort_msg("no free TCP port: %s", strerror(errno));
		if (redisproc_spawn(rp) == 0)
			return;
	}
	ck_abort_msg("redis-server exited at once, 5 times (ports taken?)");
}

/* SIGTERM, and wait for the server to exit (SIGKILL after 2 s). The
 * port is kept for redisproc_restart. Stopping a stopped one is fine. */
static void redisproc_stop(struct redisproc *rp)
{
	if (rp->pid <= 0)
		return;
	kill(rp->pid, SIGTERM);
	if (!redisproc_reap(rp->pid, 2)) {
		kill(rp->pid, SIGKILL);
		redisproc_reap(rp->pid, 1);
	}
	rp->pid = 0;
}

/* Start a stopped server again on the same port (retrying for up to 1 s
 * while the port is still held). */
static void redisproc_restart(struct redisproc *rp)
{
	double end = redisproc_now() + 1;

	redisproc_stop(rp);
	while (redisproc_spawn(rp) != 0) {
		if (redisproc_now() > end)
			ck_abort_msg("redis-server could not listen on port %d "
				     "again", rp->port);
		usleep(20000);
	}
}

#endif
