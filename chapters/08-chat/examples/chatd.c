/*
 * chatd.c - the chapter 08 chat server: one loop per core.
 *
 *	chatd serve [-H HOST] [-p PORT] [-w WORKERS] [-r ROOT]
 *		    [-R REDIS_HOST:PORT] [-q MAX_QUEUE] [-i IDLE] [-v]
 *		serve the chat (ws://HOST:PORT/ws) and the page in ROOT
 *		(default chapters/08-chat/www) with WORKERS processes
 *		(default: one per core; 0: no supervisor, one loop in this
 *		process; without -R, one at most, as workers meet only
 *		through Redis). PORT 0: the kernel picks one. With -R, the
 *		workers fan out through that Redis. -v logs each
 *		connection's events on stderr, "w1 c42 joined lobby as ann".
 *		Prints "chatd: listening on HOST:PORT, N workers" once
 *		every worker listens. SIGTERM or SIGINT: a graceful
 *		shutdown (close frames to everyone, 5 s, then abort).
 *		GET /stats and GET /metrics (Prometheus's text, chapter
 *		09) answer whatever ROOT is, each for the worker that took
 *		the connection: chapter 09's page draws them with
 *		-r chapters/09-debugging/www (open /metrics.html).
 *	chatd	show it: one worker in this process, two clients that
 *		join a room and talk, then the shutdown.
 *
 * The supervisor forks the workers and waits. Each worker makes its
 * own listening socket with SO_REUSEPORT on the same port, and the
 * kernel spreads new connections over them by a hash of the addresses:
 * no process hands sockets to another, and a worker that dies takes
 * only its own connections with it. The supervisor starts a new one in
 * its place (at most one a second once they die in a row), as nginx's
 * master does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "chat.h"
#include "exc.h"
#include "fdwatch.h"
#include "future.h"
#include "http.h"
#include "run.h"
#include "task.h"
#include "ws.h"

#define MAX_WORKERS 64

struct opts {
	const char *host;
	int port;
	int workers;
	const char *root;
	const char *redis_host;
	int redis_port;
	size_t max_queue;
	double idle;
	int verbose;
	int ready_fd; /* a worker writes one byte here once it listens;
			 -1: it prints that it listens; -2: neither */
	int worker;   /* this worker's number */
};

/* A worker: one loop, one chat, until SIGTERM. */

struct stop {
	int sfd;
	struct cl_future *fut;
};

static void on_signal(void *arg)
{
	struct stop *s = arg;
	struct signalfd_siginfo si;

	if (read(s->sfd, &si, sizeof si) == sizeof si &&
	    !cl_future_done(s->fut))
		cl_future_set_result(s->fut, (void *)(uintptr_t)si.ssi_signo);
}

static void *worker_main(void *arg)
{
	struct opts *o = arg;
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_chat_config cc = {
		.max_queue = o->max_queue,
		.idle_timeout = o->idle,
		.redis_host = o->redis_host,
		.redis_port = o->redis_port,
		.worker = o->worker,
		.log = o->verbose ? stderr : NULL,
	};
	struct cl_http_config hc = { 0 };
	struct cl_http_server *srv;
	struct cl_chat *chat;
	struct stop stop;
	sigset_t set;
	size_t aborted;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	stop.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	stop.fut = cl_future_new(loop);
	cl_loop_add_reader(loop, stop.sfd, on_signal, &stop);

	chat = cl_chat_new(loop, &cc);
	hc.root = o->root;
	hc.handler = cl_chat_http;
	hc.arg = chat;
	hc.reuse_port = 1;
	srv = cl_http_serve(loop, o->host, o->port, &hc);
	if (o->ready_fd >= 0) {
		char b = 1;

		if (write(o->ready_fd, &b, 1) != 1)
			perror("chatd: ready pipe");
		close(o->ready_fd);
	} else if (o->ready_fd == -1) {
		printf("chatd: listening on %s:%d, 1 loop\n", o->host,
		       cl_http_server_port(srv));
		fflush(stdout);
	}

	cl_await(stop.fut);
	cl_http_server_close(srv);
	aborted = cl_chat_shutdown(chat, 5.0);
	if (o->verbose || aborted > 0)
		fprintf(stderr, "chatd: worker %d stopped (%zu aborted)\n",
			o->worker, aborted);
	cl_http_server_free(srv);
	cl_chat_free(chat);
	cl_loop_remove_reader(loop, stop.sfd);
	close(stop.sfd);
	cl_future_decref(stop.fut);
	return NULL;
}

static int run_worker(struct opts *o)
{
	void *out;
	int st = cl_run(worker_main, o, &out);

	if (st == CL_RUN_RAISED) {
		fprintf(stderr, "chatd: worker %d: %s\n", o->worker,
			cl_exc_message(out));
		cl_exc_decref(out);
		return 1;
	}
	return st == 0 ? 0 : 1;
}

/* The supervisor. */

static pid_t spawn(struct opts *o, int n, int ready_fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* A worker outlives no supervisor: if it dies, even by
		 * SIGKILL, the worker gets the SIGTERM of a shutdown. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			_exit(1);
		o->worker = n;
		o->ready_fd = ready_fd;
		_exit(run_worker(o));
	}
	return pid;
}

/* The port to give every worker: with PORT 0, one the kernel picks,
 * held by a bound socket (SO_REUSEPORT, not listening, so it takes no
 * connection) until the workers listen on it too. */
static int reserve_port(const char *host, int port, int *fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof a;
	int one = 1;

	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(*fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	a.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
	    bind(*fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(*fd, (struct sockaddr *)&a, &len) < 0) {
		perror("chatd: bind");
		return -1;
	}
	return ntohs(a.sin_port);
}

static int supervise(struct opts *o)
{
	pid_t pids[MAX_WORKERS];
	int ready[2], hold, alive, stopping = 0;
	sigset_t set;
	time_t last_restart = 0;

	o->port = reserve_port(o->host, o->port, &hold);
	if (o->port < 0)
		return 1;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (pipe(ready) < 0)
		return 1;
	for (int i = 0; i < o->workers; i++)
		pids[i] = spawn(o, i + 1, ready[1]);
	close(ready[1]);
	for (int i = 0; i < o->workers; i++) {
		char b;

		if (read(ready[0], &b, 1) != 1) {
			fprintf(stderr, "chatd: a worker did not start\n");
			break;
		}
	}
	close(ready[0]);
	close(hold);
	printf("chatd: listening on %s:%d, %d worker%s\n", o->host, o->port,
	       o->workers, o->workers == 1 ? "" : "s");
	fflush(stdout);

	alive = o->workers;
	while (alive > 0) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si), status;
		pid_t pid;

		if (sig == SIGTERM || sig == SIGINT) {
			stopping = 1;
			for (int i = 0; i < o->workers; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGTERM);
			continue;
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			int i = 0;

			while (i < o->workers && pids[i] != pid)
				i++;
			if (i == o->workers)
				continue;
			pids[i] = -1;
			alive--;
			if (stopping)
				continue;
			fprintf(stderr, "chatd: worker %d (pid %d) %s %d; "
					"starting another\n", i + 1, (int)pid,
				WIFSIGNALED(status) ? "killed by signal"
						    : "exited with status",
				WIFSIGNALED(status) ? WTERMSIG(status)
						    : WEXITSTATUS(status));
			if (time(NULL) - last_restart < 1)
				sleep(1);
			last_restart = time(NULL);
			pids[i] = spawn(o, i + 1, -2);
			if (pids[i] > 0)
				alive++;
		}
	}
	return 0;
}

/* The show: a worker in this process and two clients. */

struct client {
	const char *name;
	struct cl_future *heard; /* set by the first "msg" */
};

static void client_message(struct cl_ws *ws, int opcode, const char *data,
			   size_t n)
{
	struct client *c = cl_ws_arg(ws);

	(void)opcode;
	printf("  %-5s <- %.*s\n", c->name, (int)n, data);
	if (n > 4 && memcmp(data, "msg\t", 4) == 0 && !cl_future_done(c->heard))
		cl_future_set_result(c->heard, NULL);
}

static void client_closed(struct cl_ws *ws, int code, const char *reason)
{
	struct client *c = cl_ws_arg(ws);

	printf("  %-5s closed: %d %s\n", c->name, code, reason);
}

static const struct cl_ws_ops client_ops = {
	.message = client_message,
	.closed = client_closed,
};

static void *show_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_chat_config cc = { .log = stderr };
	struct cl_http_config hc = { .root = arg, .handler = cl_chat_http };
	struct client ann = { "ann", cl_future_new(loop) };
	struct client bob = { "bob", cl_future_new(loop) };
	struct cl_http_server *srv;
	struct cl_chat *chat;
	struct cl_ws *a, *b;
	int port;

	chat = cl_chat_new(loop, &cc);
	hc.arg = chat;
	srv = cl_http_serve(loop, "127.0.0.1", 0, &hc);
	port = cl_http_server_port(srv);
	printf("chatd: listening on 127.0.0.1:%d\n", port);
	a = cl_ws_connect("127.0.0.1", port, "/ws", &client_ops, &ann, NULL);
	b = cl_ws_connect("127.0.0.1", port, "/ws", &client_ops, &bob, NULL);
	cl_ws_send(a, CL_WS_TEXT, "join\tlobby\tann", 14);
	cl_ws_send(b, CL_WS_TEXT, "join\tlobby\tbob", 14);
	cl_sleep(0.05);
	cl_ws_send(a, CL_WS_TEXT, "msg\thello, bob", 14);
	cl_await(bob.heard);
	cl_await(ann.heard);
	printf("chatd: shutting down\n");
	cl_http_server_close(srv);
	cl_chat_shutdown(chat, 1.0);
	cl_http_server_free(srv);
	cl_chat_free(chat);
	cl_future_decref(ann.heard);
	cl_future_decref(bob.heard);
	return NULL;
}

/*
 * A descriptor per connection: 50,000 connections on two workers need
 * more than the usual soft limit. Raise it to 65,536 if we may (root
 * may raise the hard limit too), else to the hard limit.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_max < 65536) {
		struct rlimit more = { 65536, 65536 };

		if (setrlimit(RLIMIT_NOFILE, &more) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static void usage(void)
{
	fprintf(stderr, "usage: chatd serve [-H HOST] [-p PORT] [-w WORKERS] "
			"[-r ROOT] [-R HOST:PORT] [-q MAX_QUEUE] [-i IDLE] "
			"[-v]\n       chatd   (the show)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = {
		.host = "127.0.0.1",
		.port = 8080,
		.workers = (int)sysconf(_SC_NPROCESSORS_ONLN),
		.root = "chapters/08-chat/www",
		.ready_fd = -1,
	};
	int c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		void *out;

		return cl_run(show_main, (void *)o.root, &out) == 0 ? 0 : 1;
	}
	if (strcmp(argv[1], "serve") != 0)
		usage();
	optind = 2;
	while ((c = getopt(argc, argv, "H:p:w:r:R:q:i:v")) != -1) {
		switch (c) {
		case 'H': o.host = optarg; break;
		case 'p': o.port = atoi(optarg); break;
		case 'w': o.workers = atoi(optarg); break;
		case 'r': o.root = optarg; break;
		case 'R': {
			char *colon = strrchr(optarg, ':');

			if (colon == NULL)
				usage();
			*colon = '\0';
			o.redis_host = optarg;
			o.redis_port = atoi(colon + 1);
			break;
		}
		case 'q': o.max_queue = strtoul(optarg, NULL, 10); break;
		case 'i': o.idle = atof(optarg); break;
		case 'v': o.verbose = 1; break;
		default: usage();
		}
	}
	if (o.workers < 0 || o.workers > MAX_WORKERS)
		usage();
	/* Without Redis each worker is a chat of its own: two members in
	 * two workers would never meet. */
	if (o.redis_host == NULL && o.workers > 1) {
		fprintf(stderr, "chatd: %d workers without -R would split "
				"every room; serving with one\n", o.workers);
		o.workers = 1;
	}
	raise_nofile();
	if (o.workers == 0)
		return run_worker(&o);
	return supervise(&o);
}
