/*
 * ch08_http.c - chapter 08: the HTTP/1.1 server.
 *
 * Two halves. The parser is pure: each test hands cl_http_parse a
 * buffer and checks what it found, or the status it refuses with (RFC
 * 9112; the same requests CPython's http.server and aiohttp accept or
 * refuse). The server tests run a real server on 127.0.0.1, port 0, in
 * cl_run (on the real clock), and a plain blocking client in a thread of
 * the pool (cl_to_thread), which writes down what it got; every
 * assertion happens after cl_run has returned. Static files live in a
 * mkdtemp directory made for each test.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "grade.h"
#include "handler.h"
#include "http.h"
#include "run.h"
#include "task.h"
#include "threads.h"
#include "transport.h"

#define SEC_PARSE "2. Parsing a request"
#define SEC_SERVE "3. A server of protocols"
#define SEC_FILES "3. A server of protocols"
#define SEC_FLOW "3. A server of protocols"

/* The parser. */

static long parse(const char *s, struct cl_http_request *r)
{
	return cl_http_parse(s, strlen(s), NULL, r);
}

static long parse_lim(const char *s, size_t head, size_t body,
		      struct cl_http_request *r)
{
	struct cl_http_limits lim = { head, body };

	return cl_http_parse(s, strlen(s), &lim, r);
}

/* s[0..n) as a string, for CL_EXPECT_STR. */
static const char *str(const char *s, size_t n)
{
	static char buf[8][256];
	static int k;
	char *b = buf[k++ % 8];

	if (s == NULL)
		return "(null)";
	snprintf(b, 256, "%.*s", (int)n, s);
	return b;
}

static const char *hdr(const struct cl_http_request *r, const char *name)
{
	size_t n;
	const char *v = cl_http_header(r, name, &n);

	return v != NULL ? str(v, n) : "(absent)";
}

/* A GET with headers: every field of the request, and the length. */
START_TEST(test_http_parse_get)
{
	const char *s = "GET /a/b.html?x=1&y=2 HTTP/1.1\r\n"
			"Host: example.com\r\n"
			"Accept: */*\r\n"
			"\r\n";
	struct cl_http_request r;

	CL_EXPECT_INT(parse(s, &r), strlen(s));
	CL_EXPECT_STR(str(r.method, r.method_len), "GET");
	CL_EXPECT_STR(str(r.target, r.target_len), "/a/b.html?x=1&y=2");
	CL_EXPECT_STR(str(r.path, r.path_len), "/a/b.html");
	CL_EXPECT_INT(r.minor, 1);
	CL_EXPECT_INT(r.nheaders, 2);
	CL_EXPECT_STR(str(r.headers[0].name, r.headers[0].name_len), "Host");
	CL_EXPECT_STR(str(r.headers[0].value, r.headers[0].value_len),
		      "example.com");
	CL_EXPECT_STR(str(r.headers[1].name, r.headers[1].name_len),
		      "Accept");
	CL_EXPECT_INT(r.body_len, 0);
	CL_EXPECT_INT(r.keep_alive, 1);
	/* A target without '?' is all path; HTTP/1.0 is minor 0. */
	CL_EXPECT_INT(parse("DELETE /x HTTP/1.0\r\n\r\n", &r), 22);
	CL_EXPECT_STR(str(r.path, r.path_len), "/x");
	CL_EXPECT_INT(r.minor, 0);
	CL_EXPECT_INT(r.nheaders, 0);
	CL_EXPECT_INT(r.keep_alive, 0);
	/* HTTP/1.9 is answered as 1.1; empty lines before are skipped. */
	CL_EXPECT_INT(parse("\r\n\r\nGET * HTTP/1.9\r\n\r\n", &r), 22);
	CL_EXPECT_INT(r.minor, 1);
	CL_EXPECT_STR(str(r.method, r.method_len), "GET");
	CL_EXPECT_STR(str(r.target, r.target_len), "*");
	/* Methods are tokens: a custom one is fine. */
	CL_EXPECT_INT(parse("M-SEARCH~1 / HTTP/1.1\r\n\r\n", &r), 25);
}
END_TEST

/* Header lookup ignores case and the spaces around a value; tokens of
 * a comma-separated header are found in any header of that name. */
START_TEST(test_http_parse_headers)
{
	const char *s = "GET / HTTP/1.1\r\n"
			"content-TYPE: \t text/html \t\r\n"
			"Empty:\r\n"
			"Spaces: \t \r\n"
			"Connection: keep-alive,  Upgrade\r\n"
			"X-Obs: caf\xc3\xa9\r\n"
			"Connection: x-more\r\n"
			"\r\n";
	struct cl_http_request r;

	CL_EXPECT_INT(parse(s, &r), strlen(s));
	CL_EXPECT_INT(r.nheaders, 6);
	CL_EXPECT_STR(hdr(&r, "Content-Type"), "text/html");
	CL_EXPECT_STR(hdr(&r, "spaces"), "");
	CL_EXPECT_STR(hdr(&r, "CONTENT-type"), "text/html");
	CL_EXPECT_STR(hdr(&r, "empty"), "");
	CL_EXPECT_STR(hdr(&r, "x-obs"), "caf\xc3\xa9");
	CL_EXPECT_STR(hdr(&r, "Content-Typ"), "(absent)");
	CL_EXPECT_STR(hdr(&r, "Connection"), "keep-alive,  Upgrade");
	CL_EXPECT_INT(cl_http_header_has(&r, "connection", "upgrade"), 1);
	CL_EXPECT_INT(cl_http_header_has(&r, "Connection", "KEEP-ALIVE"), 1);
	CL_EXPECT_INT(cl_http_header_has(&r, "connection", "x-more"), 1);
	CL_EXPECT_INT(cl_http_header_has(&r, "connection", "close"), 0);
	CL_EXPECT_INT(cl_http_header_has(&r, "connection", "keep"), 0);
	CL_EXPECT_INT(cl_http_header_has(&r, "upgrade", "upgrade"), 0);
}
END_TEST

/* Two requests in one buffer: the first's length, then the second. */
START_TEST(test_http_parse_pipelined)
{
	const char *a = "POST /one HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
	const char *b = "GET /two HTTP/1.1\r\nX: y\r\n\r\n";
	char buf[256];
	struct cl_http_request r;
	long n;

	snprintf(buf, sizeof buf, "%s%s", a, b);
	n = cl_http_parse(buf, strlen(buf), NULL, &r);
	CL_EXPECT_INT(n, strlen(a));
	CL_EXPECT_STR(str(r.path, r.path_len), "/one");
	CL_EXPECT_STR(str(r.body, r.body_len), "hello");
	CL_EXPECT_INT(r.nheaders, 1);
	CL_EXPECT_INT(cl_http_parse(buf + n, strlen(buf) - (size_t)n, NULL, &r),
		      strlen(b));
	CL_EXPECT_STR(str(r.path, r.path_len), "/two");
	CL_EXPECT_STR(hdr(&r, "x"), "y");
	CL_EXPECT_INT(r.body_len, 0);
}
END_TEST

/* Fed one byte more at a time, the parser needs more (0) until the
 * last byte of the body, then takes the whole request. */
START_TEST(test_http_parse_partial)
{
	const char *s = "PUT /p HTTP/1.1\r\nHost: h\r\n"
			"Content-Length: 3\r\n\r\nabc";
	size_t len = strlen(s);
	struct cl_http_request r;

	for (size_t i = 0; i < len; i++) {
		long n = cl_http_parse(s, i, NULL, &r);

		CL_EXPECT(n == 0, "parse of the first %zu of %zu bytes: "
			  "expected 0 (need more), got %ld", i, len, n);
	}
	CL_EXPECT_INT(cl_http_parse(s, len, NULL, &r), len);
	CL_EXPECT_STR(str(r.body, r.body_len), "abc");
	/* A lone CR at the end of what came is not yet a bare CR. */
	CL_EXPECT_INT(parse("GET / HTTP/1.1\r", &r), 0);
	CL_EXPECT_INT(parse("GET / HTTP/1.1\r\nHost: x\r\n\r", &r), 0);
	CL_EXPECT_INT(parse("\r", &r), 0);
	CL_EXPECT_INT(parse("\r\n", &r), 0);
}
END_TEST

/* Content-Length bodies, and keep-alive from the version and the
 * Connection header. */
START_TEST(test_http_parse_body_keepalive)
{
	struct cl_http_request r;

	CL_EXPECT_INT(parse("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r),
		      38);
	CL_EXPECT_INT(r.body_len, 0);
	CL_EXPECT_INT(parse("POST / HTTP/1.1\r\ncontent-length:10\r\n\r\n"
			    "0123456789extra", &r), 48);
	CL_EXPECT_STR(str(r.body, r.body_len), "0123456789");
	CL_EXPECT_INT(r.keep_alive, 1);
	parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &r);
	CL_EXPECT_INT(r.keep_alive, 0);
	parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r);
	CL_EXPECT_INT(r.keep_alive, 1);
	parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &r);
	CL_EXPECT_INT(r.keep_alive, 0);
	parse("GET / HTTP/1.1\r\nConnection: Upgrade\r\n\r\n", &r);
	CL_EXPECT_INT(r.keep_alive, 1);
	/* A body exactly max_body long is fine; one byte more is 413. */
	CL_EXPECT_INT(parse_lim("POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n"
				"abcd", 0, 4, &r), 42);
	CL_EXPECT_INT(parse_lim("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
				0, 4, &r), -413);
	CL_EXPECT_INT(parse("POST / HTTP/1.1\r\nContent-Length: "
			    "99999999999999999999999999\r\n\r\n", &r), -413);
	CL_EXPECT_INT(parse("POST / HTTP/1.1\r\nContent-Length: 1048577\r\n"
			    "\r\n", &r), -413);
}
END_TEST

/* Bad request lines are 400; versions other than 1.x are 505. */
START_TEST(test_http_parse_bad_request_line)
{
	static const char *bad[] = {
		"GET\r\n\r\n",
		"GET /\r\n\r\n",
		" GET / HTTP/1.1\r\n\r\n",
		"GET  / HTTP/1.1\r\n\r\n",
		"GET /  HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1 \r\n\r\n",
		"GE(T / HTTP/1.1\r\n\r\n",
		"GET(/ HTTP/1.1\r\n\r\n",
		" / HTTP/1.1\r\n\r\n",
		"GET  HTTP/1.1\r\n\r\n",
		"GET /\tHTTP/1.1\r\n\r\n",
		"GET /\x7fHTTP/1.1\r\n\r\n",
		"GET / HTTP/1.11\n\r\n",
		"GET /a\x7f HTTP/1.1\r\n\r\n",
		"GET /a\tb HTTP/1.1\r\n\r\n",
		"GET / http/1.1\r\n\r\n",
		"GET / HTTP/1.x\r\n\r\n",
		"GET / HTTP/x.1\r\n\r\n",
		"GET / HTTP/1-1\r\n\r\n",
		"GET / HTTP/11\r\n\r\n",
		"GET / HTTP/1.10\r\n\r\n",
		"GET / HTTP/1.:\r\n\r\n",
		"GET / HTTP/:.1\r\n\r\n",
		"GET / HTTP/1./\r\n\r\n",
		"GET / HTTP//.1\r\n\r\n",
		"GET / HTTP/1.1\n\r\n",
		"\nGET / HTTP/1.1\r\n\r\n",
		"\r\r\n",
	};
	struct cl_http_request r;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		long n = parse(bad[i], &r);

		CL_EXPECT(n == -400, "request \"%s\": expected -400, got %ld",
			  bad[i], n);
	}
	CL_EXPECT_INT(parse("GET / HTTP/2.0\r\n\r\n", &r), -505);
	CL_EXPECT_INT(parse("GET / HTTP/0.9\r\n\r\n", &r), -505);
	CL_EXPECT_INT(parse("GET / HTTP/9.1\r\n\r\n", &r), -505);
	CL_EXPECT_INT(parse("GET / HTTP/1.0\r\n\r\n", &r), 18);
}
END_TEST

/* Bad header lines are 400: no colon, space before the colon, an
 * empty name, obs-fold, a control character, a bare LF. */
START_TEST(test_http_parse_bad_headers)
{
	static const char *bad[] = {
		"GET / HTTP/1.1\r\nHost example.com\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
		"GET / HTTP/1.1\r\n: x\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\r\n\tfolded\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\x01" "c\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\n\r\n",
		"GET / HTTP/1.1\r\nA: b\r\n\n",
		"GET / HTTP/1.1\r\nA(b: c\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\r\nContent-Length: 1\r\n"
		"Content-Length: 1\r\n\r\nx",
		"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: /\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: :\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length:\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
	};
	struct cl_http_request r;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		long n = parse(bad[i], &r);

		CL_EXPECT(n == -400, "request \"%s\": expected -400, got %ld",
			  bad[i], n);
	}
	/* A tab inside a value is fine; so is a lone token character. */
	CL_EXPECT_INT(parse("GET / HTTP/1.1\r\nA: b\tc\r\nx:\r\n\r\n", &r), 30);
	CL_EXPECT_STR(hdr(&r, "a"), "b\tc");
	/* Transfer-Encoding is not supported: 501, chunked or not. */
	CL_EXPECT_INT(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
			    "\r\n", &r), -501);
}
END_TEST

/* The limits: max_head for the headers (431) and for the request line
 * (414), as soon as that many bytes came; at most 64 headers. */
START_TEST(test_http_parse_limits)
{
	char buf[16384];
	struct cl_http_request r;
	size_t n;

	/* A 9000-byte header, whole or not, is more than 8 KiB of head. */
	n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nBig: ");
	memset(buf + n, 'x', 9000);
	n += 9000;
	CL_EXPECT_INT(cl_http_parse(buf, n, NULL, &r), -431);
	memcpy(buf + n, "\r\n\r\n", 4);
	CL_EXPECT_INT(cl_http_parse(buf, n + 4, NULL, &r), -431);
	/* Exactly max_head bytes of head pass; one byte fewer of limit
	 * refuses. */
	const char *s = "GET / HTTP/1.1\r\nA: b\r\n\r\n"; /* 24 bytes */
	CL_EXPECT_INT(parse_lim(s, 24, 0, &r), 24);
	CL_EXPECT_INT(parse_lim(s, 23, 0, &r), -431);
	CL_EXPECT_INT(cl_http_parse(s, 22, &(struct cl_http_limits){ 23, 0 },
				    &r), 0);
	CL_EXPECT_INT(cl_http_parse(s, 22, &(struct cl_http_limits){ 22, 0 },
				    &r), -431);
	/* A request line that never ends: need more up to max_head - 1
	 * bytes, refused at max_head (never unbounded). */
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', sizeof buf - 5);
	CL_EXPECT_INT(cl_http_parse(buf, 8191, NULL, &r), 0);
	CL_EXPECT_INT(cl_http_parse(buf, 8192, NULL, &r), -414);
	CL_EXPECT_INT(cl_http_parse(buf, sizeof buf, NULL, &r), -414);
	CL_EXPECT_INT(parse_lim("GET /abc HTTP/1.1\r\n\r\n", 19, 0, &r), -431);
	CL_EXPECT_INT(parse_lim("GET /abc HTTP/1.1\r\n\r\n", 18, 0, &r), -414);
	/* 64 headers are fine, 65 are not. */
	n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 64; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "H%d: v\r\n", i);
	memcpy(buf + n, "\r\n", 3);
	CL_EXPECT_INT(cl_http_parse(buf, n + 2, NULL, &r), n + 2);
	CL_EXPECT_INT(r.nheaders, 64);
	CL_EXPECT_STR(hdr(&r, "h63"), "v");
	n += (size_t)snprintf(buf + n, sizeof buf - n, "H64: v\r\n\r\n");
	CL_EXPECT_INT(cl_http_parse(buf, n, NULL, &r), -431);
}
END_TEST

/* The server: a client in a thread, results written down. */

/* What a test serves and what its client found. */
struct scene {
	struct cl_http_config cfg;
	int port;
	void (*client)(struct scene *sc);
	char root[96];		/* the mkdtemp directory's root/ */
	char dir[64];		/* the mkdtemp directory */
	char log[8192];		/* what the client saw, in words */
	struct cl_http_stats stats;
	size_t max_wbuf;	/* handlers: the largest write buffer seen */
	int calls;		/* handler calls */
	char *big;		/* the large file's bytes */
	size_t big_len;
	int reports;		/* errors reported to the loop's handler */
};

static void say(struct scene *sc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(struct scene *sc, const char *fmt, ...)
{
	size_t len = strlen(sc->log);
	va_list ap;

	if (len > 0 && len + 1 < sizeof sc->log)
		sc->log[len++] = ' ';
	va_start(ap, fmt);
	vsnprintf(sc->log + len, sizeof sc->log - len, fmt, ap);
	va_end(ap);
}

/* A blocking connection of the client's, with what it read ahead. */
struct client {
	int fd;
	char *buf;
	size_t len, cap;
};

/* One answer as the client read it. */
struct resp {
	int status;
	char head[4096]; /* status line and headers */
	char *body;
	size_t body_len;
};

static int client_open(struct client *c, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { 3, 0 };

	*c = (struct client){ .fd = socket(AF_INET, SOCK_STREAM, 0) };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return connect(c->fd, (struct sockaddr *)&a, sizeof a);
}

static void client_close(struct client *c)
{
	close(c->fd);
	free(c->buf);
	c->buf = NULL;
}

static void client_send(struct client *c, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t k = send(c->fd, s, n, MSG_NOSIGNAL);

		if (k <= 0)
			return;
		s += k;
		n -= (size_t)k;
	}
}

static void client_puts(struct client *c, const char *s)
{
	client_send(c, s, strlen(s));
}

/* Read more into c->buf; 0 at EOF, on a timeout or an error. */
static ssize_t client_fill(struct client *c)
{
	ssize_t k;

	if (c->cap - c->len < 65536) {
		c->cap = c->cap * 2 + 65536;
		c->buf = realloc(c->buf, c->cap);
	}
	k = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
	if (k > 0)
		c->len += (size_t)k;
	return k > 0 ? k : 0;
}

/* The value of header name in r's head, copied, or "(absent)". */
static const char *rhdr(const struct resp *r, const char *name)
{
	static char out[4][256];
	static int k;
	char *o = out[k++ % 4];
	size_t nl = strlen(name);

	for (const char *p = strstr(r->head, "\r\n"); p != NULL;
	     p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2, *e = strstr(line, "\r\n");

		if (e != NULL && strncasecmp(line, name, nl) == 0 &&
		    line[nl] == ':') {
			line += nl + 1;
			while (*line == ' ')
				line++;
			snprintf(o, 256, "%.*s", (int)(e - line), line);
			return o;
		}
	}
	return "(absent)";
}

/* Read one answer: its head, then Content-Length bytes of body (none
 * for HEAD, 304 and 204). -1 if none came. */
static int client_read(struct client *c, struct resp *r, int head_req)
{
	char *end;
	size_t hl, want;
	const char *cl;

	memset(r, 0, sizeof *r);
	while ((end = c->buf ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL)
	       == NULL)
		if (client_fill(c) == 0)
			return -1;
	hl = (size_t)(end - c->buf) + 4;
	snprintf(r->head, sizeof r->head, "%.*s", (int)hl, c->buf);
	if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
		r->status = -1;
	cl = rhdr(r, "Content-Length");
	want = head_req || r->status == 304 || r->status == 204
		       ? 0 : strtoul(cl, NULL, 10);
	while (c->len < hl + want)
		if (client_fill(c) == 0)
			break;
	if (c->len < hl + want)
		want = c->len - hl;
	r->body = malloc(want + 1);
	memcpy(r->body, c->buf + hl, want);
	r->body[want] = '\0';
	r->body_len = want;
	memmove(c->buf, c->buf + hl + want, c->len - hl - want);
	c->len -= hl + want;
	return 0;
}

/* 1 if the server closed: EOF (or a reset) within 2 seconds. */
static int client_closed(struct client *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	char b[256];

	if (c->len > 0)
		return 0;
	if (poll(&p, 1, 2000) != 1)
		return 0;
	return recv(c->fd, b, sizeof b, MSG_DONTWAIT) <= 0;
}

/* One request on a new connection: the answer's status, its body in
 * *r (free r->body). */
static int get(struct scene *sc, const char *req, struct resp *r)
{
	struct client c;

	if (client_open(&c, sc->port) < 0)
		return -1;
	client_puts(&c, req);
	if (client_read(&c, r, strncmp(req, "HEAD", 4) == 0) < 0)
		r->status = -1;
	client_close(&c);
	return r->status;
}

static void *client_thread(void *arg)
{
	struct scene *sc = arg;

	sc->client(sc);
	return NULL;
}

/* The loop's exception handler: count the reports, print nothing. */
static void quiet_handler(struct cl_loop *loop,
			  const struct cl_exc_context *ctx, void *arg)
{
	(void)loop, (void)ctx;
	((struct scene *)arg)->reports++;
}

static void *serve_main(void *arg)
{
	struct scene *sc = arg;
	struct cl_http_server *s;

	cl_loop_set_exception_handler(cl_get_running_loop(), quiet_handler,
				      sc);

	s = cl_http_serve(cl_get_running_loop(), "127.0.0.1", 0, &sc->cfg);
	sc->port = cl_http_server_port(s);
	cl_to_thread(client_thread, sc);
	cl_http_server_stats(s, &sc->stats);
	cl_http_server_close(s);
	cl_http_server_wait_closed(s);
	cl_http_server_free(s);
	return NULL;
}

/* Run the server with sc's config until sc's client is done. */
static void serve(struct scene *sc)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_REAL };
	void *out = NULL;
	int st = cl_run_with(serve_main, sc, &opts, &out);

	if (st == CL_RUN_RAISED)
		ck_abort_msg("cl_run: main raised %s: %s (client so far: "
			     "\"%s\")", cl_exc_name(out), cl_exc_message(out),
			     sc->log);
	CL_EXPECT(st == 0, "cl_run returned %d, expected 0 (client so far: "
		  "\"%s\")", st, sc->log);
}

static void put_file(const char *dir, const char *name, const void *data,
		     size_t n)
{
	char path[256];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_msg(fd >= 0, "cannot create %s: %s", path, strerror(errno));
	ck_assert_msg(write(fd, data, n) == (ssize_t)n, "short write");
	close(fd);
}

#define INDEX "<!doctype html><title>chat</title>\n"
#define STYLE "body { color: red }\n"
#define BIG_SIZE (5 * 1024 * 1024 + 123)

/* A scene with a static root: root/index.html, root/style.css,
 * root/sub/page.txt, root/big.bin (5 MB), dir/secret.txt outside the
 * root, root/out a symlink to it. */
static void scene_files(struct scene *sc)
{
	char path[256];

	memset(sc, 0, sizeof *sc);
	snprintf(sc->dir, sizeof sc->dir, "/tmp/cl-http-XXXXXX");
	ck_assert_msg(mkdtemp(sc->dir) != NULL, "mkdtemp: %s",
		      strerror(errno));
	snprintf(sc->root, sizeof sc->root, "%s/root", sc->dir);
	mkdir(sc->root, 0755);
	snprintf(path, sizeof path, "%s/sub", sc->root);
	mkdir(path, 0755);
	put_file(sc->root, "index.html", INDEX, strlen(INDEX));
	put_file(sc->root, "style.css", STYLE, strlen(STYLE));
	put_file(sc->root, "sub/page.txt", "page\n", 5);
	put_file(sc->dir, "secret.txt", "secret\n", 7);
	sc->big_len = BIG_SIZE;
	sc->big = malloc(sc->big_len);
	for (size_t i = 0; i < sc->big_len; i++)
		sc->big[i] = (char)(i * 7 + i / 4096);
	put_file(sc->root, "big.bin", sc->big, sc->big_len);
	snprintf(path, sizeof path, "%s/out", sc->root);
	ck_assert_msg(symlink("../secret.txt", path) == 0, "symlink");
	snprintf(path, sizeof path, "%s/abs", sc->root);
	ck_assert_msg(symlink("/etc/passwd", path) == 0, "symlink");
	sc->cfg.root = sc->root;
}

static void scene_done(struct scene *sc)
{
	char cmd[128];

	free(sc->big);
	if (sc->dir[0] != '\0') {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", sc->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", sc->dir);
	}
}

static void files_client(struct scene *sc)
{
	struct resp r;

	get(sc, "GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	say(sc, "%d %s %s [%s] %s", r.status, rhdr(&r, "Content-Type"),
	    rhdr(&r, "Content-Length"), r.body, rhdr(&r, "Server"));
	say(sc, "etag=%s lm=%s", rhdr(&r, "ETag")[0] == '"' ? "yes" : "no",
	    strstr(rhdr(&r, "Last-Modified"), " GMT") ? "yes" : "no");
	free(r.body);
	get(sc, "GET / HTTP/1.1\r\n\r\n", &r);
	say(sc, "/:%d %s %zu", r.status, rhdr(&r, "Content-Type"),
	    r.body_len);
	free(r.body);
	get(sc, "GET /sub/page.txt?v=2 HTTP/1.1\r\n\r\n", &r);
	say(sc, "%d %s %s", r.status, rhdr(&r, "Content-Type"), r.body);
	free(r.body);
	get(sc, "GET /s%74yle.css HTTP/1.1\r\n\r\n", &r);
	say(sc, "decoded:%d %zu", r.status, r.body_len);
	free(r.body);
}

/* A static file: 200 with its type, length and bytes, an ETag and a
 * Last-Modified; "/" is index.html; the query is not the path;
 * percent-escapes are decoded. */
START_TEST(test_http_static_file)
{
	struct scene sc;

	scene_files(&sc);
	sc.client = files_client;
	serve(&sc);
	scene_done(&sc);
	CL_EXPECT_STR(sc.log, "200 text/css; charset=utf-8 20 "
		      "[body { color: red }\n] corolab etag=yes lm=yes "
		      "/:200 text/html; charset=utf-8 35 "
		      "200 text/plain; charset=utf-8 page\n decoded:200 20");
}
END_TEST

static void head_client(struct scene *sc)
{
	struct client c;
	struct resp r;

	client_open(&c, sc->port);
	client_puts(&c, "HEAD /index.html HTTP/1.1\r\n\r\n"
			"GET /style.css HTTP/1.1\r\n\r\n");
	client_read(&c, &r, 1);
	say(sc, "%d %s %s", r.status, rhdr(&r, "Content-Length"),
	    rhdr(&r, "Content-Type"));
	free(r.body);
	/* Had HEAD's answer carried a body, this would read it. */
	client_read(&c, &r, 0);
	say(sc, "%d [%s]", r.status, r.body);
	free(r.body);
	client_close(&c);
	get(sc, "HEAD /big.bin HTTP/1.1\r\n\r\n", &r);
	say(sc, "%d %s", r.status, rhdr(&r, "Content-Length"));
	free(r.body);
	get(sc, "POST /index.html HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r);
	say(sc, "post:%d", r.status);
	free(r.body);
}

/* HEAD: the headers of GET (its length) and no body; a method other
 * than GET and HEAD gets no static file. */
START_TEST(test_http_head)
{
	struct scene sc;

	scene_files(&sc);
	sc.client = head_client;
	serve(&sc);
	scene_done(&sc);
	CL_EXPECT_STR(sc.log, "200 35 text/html; charset=utf-8 "
		      "200 [body { color: red }\n] 200 5243003 post:404");
}
END_TEST

static void cond_client(struct scene *sc)
{
	struct resp r;
	char req[512], etag[128], lm[128];

	get(sc, "GET /style.css HTTP/1.1\r\n\r\n", &r);
	snprintf(etag, sizeof etag, "%s", rhdr(&r, "ETag"));
	snprintf(lm, sizeof lm, "%s", rhdr(&r, "Last-Modified"));
	free(r.body);
	snprintf(req, sizeof req, "GET /style.css HTTP/1.1\r\n"
		 "If-None-Match: \"nope\", %s\r\n\r\n", etag);
	get(sc, req, &r);
	say(sc, "inm:%d %zu %s", r.status, r.body_len,
	    strcmp(rhdr(&r, "ETag"), etag) == 0 ? "same" : "other");
	free(r.body);
	snprintf(req, sizeof req, "GET /style.css HTTP/1.1\r\n"
		 "If-None-Match: W/%s\r\n\r\n", etag);
	say(sc, "weak:%d", get(sc, req, &r));
	free(r.body);
	say(sc, "star:%d", get(sc, "GET /style.css HTTP/1.1\r\n"
			       "If-None-Match: *\r\n\r\n", &r));
	free(r.body);
	say(sc, "other:%d", get(sc, "GET /style.css HTTP/1.1\r\n"
				"If-None-Match: \"x\"\r\n\r\n", &r));
	free(r.body);
	snprintf(req, sizeof req, "GET /style.css HTTP/1.1\r\n"
		 "If-Modified-Since: %s\r\n\r\n", lm);
	say(sc, "ims:%d", get(sc, req, &r));
	free(r.body);
	say(sc, "old:%d", get(sc, "GET /style.css HTTP/1.1\r\n"
			      "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 "
			      "GMT\r\n\r\n", &r));
	free(r.body);
	/* If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2). */
	snprintf(req, sizeof req, "GET /style.css HTTP/1.1\r\n"
		 "If-None-Match: \"x\"\r\nIf-Modified-Since: %s\r\n\r\n", lm);
	say(sc, "both:%d", get(sc, req, &r));
	free(r.body);
}

/* Conditional GET: a matching ETag (strong, weak or *) and an
 * If-Modified-Since not older than the file are 304 without a body. */
START_TEST(test_http_not_modified)
{
	struct scene sc;

	scene_files(&sc);
	sc.client = cond_client;
	serve(&sc);
	scene_done(&sc);
	CL_EXPECT_STR(sc.log, "inm:304 0 same weak:304 star:304 other:200 "
		      "ims:304 old:200 both:200");
}
END_TEST

static void traversal_client(struct scene *sc)
{
	static const char *paths[] = {
		"/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt",
		"/%2E%2E%2fsecret.txt", "/sub/%2e%2e/%2e%2e/secret.txt",
		"/out", "/abs", "/..", "/index.html%00.txt", "/%zz",
		"/%2", "../secret.txt", "/nope.html", "/sub/nope/x",
	};
	struct resp r;
	char req[256];

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n\r\n", paths[i]);
		get(sc, req, &r);
		say(sc, "%d%s", r.status,
		    strstr(r.body, "secret") ? "!LEAK" : "");
		free(r.body);
	}
	get(sc, "GET /sub HTTP/1.1\r\n\r\n", &r);
	say(sc, "%d %s", r.status, rhdr(&r, "Location"));
	free(r.body);
	/* Still served after all that: a file with a dot-dot in its name
	 * (not a segment) is fine. */
	get(sc, "GET /sub/./page.txt HTTP/1.1\r\n\r\n", &r);
	say(sc, "%d", r.status);
	free(r.body);
}

/* Nothing outside the root: ".." segments, encoded or not, and
 * symlinks out of it are refused; bad escapes and NUL are 400; what is
 * not there is 404; a directory without its slash is redirected. */
START_TEST(test_http_traversal)
{
	struct scene sc;

	scene_files(&sc);
	sc.client = traversal_client;
	serve(&sc);
	scene_done(&sc);
	CL_EXPECT_STR(sc.log, "403 403 403 403 403 403 403 403 400 400 400 "
		      "400 404 404 301 /sub/ 200");
}
END_TEST

/* A handler that answers /hello and /echo (the body back), raises on
 * /raise, and leaves the rest to the static files. */
static void app(struct cl_http_conn *c, const struct cl_http_request *req,
		void *arg)
{
	struct scene *sc = arg;
	size_t w;

	sc->calls++;
	w = cl_transport_get_write_buffer_size(cl_http_conn_transport(c));
	if (w > sc->max_wbuf)
		sc->max_wbuf = w;
	if (req->path_len == 6 && memcmp(req->path, "/hello", 6) == 0) {
		cl_http_respond_ex(c, 200, "X-App: yes\r\n", "text/plain",
				   "hello\n", 6);
	} else if (req->path_len == 5 && memcmp(req->path, "/echo", 5) == 0) {
		cl_http_respond(c, 201, "application/octet-stream", req->body,
				req->body_len);
	} else if (req->path_len == 4 && memcmp(req->path, "/num", 4) == 0) {
		char b[64];
		int n = snprintf(b, sizeof b, "%.*s", (int)req->target_len,
				 req->target);

		cl_http_respond(c, 200, "text/plain", b, (size_t)n);
	} else if (req->path_len == 6 && memcmp(req->path, "/flood", 6) == 0) {
		/* The target, then padding; small kernel buffers, so that
		 * the transport's own buffer is what fills up. */
		char b[1200];
		int size = 65536, fd = cl_transport_get_fd(
					 cl_http_conn_transport(c));

		if (sc->calls == 1)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size,
				   sizeof size);
		memset(b, '.', sizeof b);
		memcpy(b, req->target, req->target_len);
		cl_http_respond(c, 200, "text/plain", b, sizeof b);
	} else if (req->path_len == 5 && memcmp(req->path, "/peer", 5) == 0) {
		const char *p = cl_http_conn_peer(c);

		cl_http_respond(c, 200, "text/plain", p, strlen(p));
	} else if (req->path_len == 6 && memcmp(req->path, "/twice", 6) == 0) {
		cl_http_respond(c, 200, "text/plain", "a", 1);
		cl_http_respond(c, 200, "text/plain", "b", 1);
	} else if (req->path_len == 6 && memcmp(req->path, "/raise", 6) == 0) {
		cl_raise(cl_exc_new(&cl_ValueError, "handler failed"));
	}
}

static void handler_client(struct scene *sc)
{
	struct client c;
	struct resp r;

	get(sc, "GET /hello HTTP/1.1\r\n\r\n", &r);
	say(sc, "%d %s %s %s", r.status, rhdr(&r, "X-App"), r.body,
	    rhdr(&r, "Connection"));
	free(r.body);
	get(sc, "POST /echo HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world",
	    &r);
	say(sc, "%d %s [%s]", r.status, rhdr(&r, "Content-Length"), r.body);
	free(r.body);
	get(sc, "GET /peer HTTP/1.1\r\n\r\n", &r);
	say(sc, "%s", strncmp(r.body, "('127.0.0.1', ", 14) == 0 ? "peer"
								 : r.body);
	free(r.body);
	/* Static files after a handler that answered nothing. */
	get(sc, "GET /style.css HTTP/1.1\r\n\r\n", &r);
	say(sc, "%d %zu", r.status, r.body_len);
	free(r.body);
	/* A handler that raises: 500 and the connection closes. */
	client_open(&c, sc->port);
	client_puts(&c, "GET /raise HTTP/1.1\r\n\r\n");
	client_read(&c, &r, 0);
	say(sc, "%d %s closed=%d", r.status, rhdr(&r, "Connection"),
	    client_closed(&c));
	free(r.body);
	client_close(&c);
	/* One answer per request: the second one raises. */
	client_open(&c, sc->port);
	client_puts(&c, "GET /twice HTTP/1.1\r\n\r\n");
	client_read(&c, &r, 0);
	say(sc, "%d %s", r.status, r.body);
	free(r.body);
	client_close(&c);
}

/* A handler's answers: status, extra headers, the request's body; the
 * static files for what it leaves; 500 for one that raises (reported,
 * counted), and a second answer refused. */
START_TEST(test_http_handler)
{
	struct scene sc;

	scene_files(&sc);
	sc.cfg.handler = app;
	sc.cfg.arg = &sc;
	sc.client = handler_client;
	serve(&sc);
	scene_done(&sc);
	CL_EXPECT_STR(sc.log, "200 yes hello\n (absent) 201 11 [hello world] "
		      "peer 200 20 500 close closed=1 200 a");
	CL_EXPECT_INT(sc.reports, 2);
	CL_EXPECT_INT(sc.stats.requests, 6);
	CL_EXPECT_INT(sc.stats.connections, 6);
	CL_EXPECT_INT(sc.stats.errors, 2);
}
END_TEST

static void keepalive_client(struct scene *sc)
{
	struct client c;
	struct resp r;

	client_open(&c, sc->port);
	client_puts(&c, "GET /style.css HTTP/1.1\r\n\r\n");
	client_read(&c, &r, 0);
	say(sc, "%d %zu", r.status, r.body_len);
	free(r.body);
	client_puts(&c, "GET /index.html HTTP/1.1\r\n\r\n");
	client_read(&c, &r, 0);
	say(sc, "%d %zu", r.status, r.body_len);
	free(r.body);
	/* Connection: close is honoured: answered, then closed. */
	client_puts(&c, "GET /sub/page.txt HTTP/1.1\r\nConnection: close\r\n"
			"\r\n");
	client_read(&c, &r, 0);
	say(sc, "%d %s closed=%d", r.status, rhdr(&r, "Connection"),
	    client_closed(&c));
	free(r.body);
	client_close(&c);
	/* HTTP/1.0 closes after the answer... */
	client_open(&c, sc->port);
	client_puts(&c, "GET /style.css HTTP/1.0\r\n\r\n");
	client_read(&c, &r, 0);
	say(sc, "1.0:%d %s closed=%d", r.status, rhdr(&r, "Connection"),
	    client_closed(&c));
	free(r.body);
	client_close(&c);
	/* ...unless it asks to keep alive. */
	client_open(&c, sc->port);
	client_puts(&c, "GET /style.css HTTP/1.0\r\nConnection: keep-alive"
			"\r\n\r\n");
	client_read(&c, &r, 0);
	say(sc, "%d %s", r.status, rhdr(&r, "Connection"));
	free(r.body);
	client_puts(&c, "GET /sub/page.txt HTTP/1.0\r\n\r\n");
	client_read(&c, &r, 0);
	say(sc, "%d %s closed=%d", r.status, r.body, client_closed(&c));
	free(r.body);
	client_close(&c);
}

/* Keep-alive: two requests on one connection; Connection: close and
 * HTTP/1.0 end it after the answer; 1.0 with keep-alive does not. */
START_TEST(test_http_keep_alive)
{
	struct scene sc;

	scene_files(&sc);
	sc.client = keepalive_client;
	serve(&sc);
	scene_done(&sc);
	CL_EXPECT_STR(sc.log, "200 20 200 35 200 close closed=1 "
		      "1.0:200 close closed=1 200 keep-alive "
		      "200 page\n closed=1");
	CL_EXPECT_INT(sc.stats.connections, 3);
	CL_EXPECT_INT(sc.stats.requests, 6);
}
END_TEST

static void pipeline_client(struct scene *sc)
{
	struct client c;
	struct resp r;

	client_open(&c, sc->port);
	client_puts(&c, "GET /num?1 HTTP/1.1\r\n\r\n"
			"POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
			"GET /style.css HTTP/1.1\r\n\r\nGET /num?4 HTT");
	usleep(50000);
	client_puts(&c, "P/1.1\r\n\r\n");
	for (int i = 0; i < 4; i++) {
		if (client_read(&c, &r, 0) < 0)
			break;
		say(sc, "%d:%s", r.status, r.body);
		free(r.body);
	}
	client_close(&c);
}

/* Pipelining: requests sent together are answered in order, and the
 * start of one that came with them is kept until its end comes. */
START_TEST(test_http_pipelined)
{
	struct scene sc;

	scene_files(&sc);
	sc.cfg.handler = app;
	sc.cfg.arg = &sc;
	sc.client = pipeline_client;
	serve(&sc);
	scene_done(&sc);
	CL_EXPECT_STR(sc.log, "200:/num?1 201:abc 200:body { color: red }\n "
		      "200:/num?4");
	CL_EXPECT_INT(sc.stats.requests, 4);
	CL_EXPECT_INT(sc.stats.connections, 1);
}
END_TEST

static void refuse_client(struct scene *sc)
{
	struct client c;
	struct resp r;
	char *big = malloc(9100);

	memcpy(big, "GET / HTTP/1.1\r\nBig: ", 21);
	memset(big + 21, 'x', 9000);
	memcpy(big + 9021, "\r\n\r\n", 5);
	client_open(&c, sc->port);
	client_puts(&c, big);
	client_read(&c, &r, 0);
	say(sc, "%d %s closed=%d", r.status, rhdr(&r, "Connection"),
	    client_closed(&c));
	free(r.body);
	client_close(&c);
	free(big);
	/* A bad request after a good one: the good one is answered. */
	client_open(&c, sc->port);
	client_puts(&c, "GET /style.css HTTP/1.1\r\n\r\n"
			"GET / HTTP/2.0\r\n\r\n");
	client_read(&c, &r, 0);
	say(sc, "%d", r.status);
	free(r.body);
	client_read(&c, &r, 0);
	say(sc, "%d %s closed=%d", r.status, rhdr(&r, "Connection"),
	    client_closed(&c));
	free(r.body);
	client_close(&c);
	get(sc, "GET / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n", &r);
	say(sc, "%d", r.status);
	free(r.body);
	get(sc, "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r);
	say(sc, "%d", r.status);
	free(r.body);
	get(sc, "GET / HTTP/1.1\nHost: x\n\n", &r);
	say(sc, "%d", r.status);
	free(r.body);
}

/* Refused requests: the status, "Connection: close", then the close;
 * what came before is still answered. */
START_TEST(test_http_refused)
{
	struct scene sc;

	scene_files(&sc);
	sc.cfg.limits.max_body = 1000;
	sc.client = refuse_client;
	serve(&sc);
	scene_done(&sc);
	CL_EXPECT_STR(sc.log, "431 close closed=1 200 505 close closed=1 413 "
		      "501 400");
	CL_EXPECT_INT(sc.stats.errors, 5);
}
END_TEST

static void big_client(struct scene *sc)
{
	struct client c;
	struct resp r;

	client_open(&c, sc->port);
	/* Two large files and a small answer between them, pipelined:
	 * the small one queues behind the first file. */
	client_puts(&c, "GET /big.bin HTTP/1.1\r\n\r\n"
			"GET /style.css HTTP/1.1\r\n\r\n"
			"GET /big.bin HTTP/1.1\r\n\r\n");
	for (int i = 0; i < 3; i++) {
		if (client_read(&c, &r, 0) < 0) {
			say(sc, "none");
			break;
		}
		if (r.body_len == sc->big_len)
			say(sc, "%d big %s", r.status,
			    memcmp(r.body, sc->big, sc->big_len) == 0
				    ? "intact" : "CORRUPT");
		else
			say(sc, "%d %zu", r.status, r.body_len);
		free(r.body);
	}
	client_close(&c);
}

/* A 5 MB file arrives intact (sent by sendfile), twice on one
 * connection, with a small answer pipelined between the two. */
START_TEST(test_http_large_file)
{
	struct scene sc;

	scene_files(&sc);
	sc.client = big_client;
	serve(&sc);
	scene_done(&sc);
	CL_EXPECT_STR(sc.log, "200 big intact 200 20 200 big intact");
}
END_TEST

static void reset_client(struct scene *sc)
{
	struct linger lg = { 1, 0 };
	struct client c;
	struct resp r;
	char b[4096];

	for (int i = 0; i < 3; i++) {
		client_open(&c, sc->port);
		client_puts(&c, "GET /big.bin HTTP/1.1\r\n\r\n"
				"GET /big.bin HTTP/1.1\r\n\r\n");
		if (recv(c.fd, b, sizeof b, 0) <= 0)
			say(sc, "nothing");
		/* Reset: close with unread data and SO_LINGER 0. */
		setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		client_close(&c);
	}
	usleep(100000);
	get(sc, "GET /style.css HTTP/1.1\r\n\r\n", &r);
	say(sc, "%d %zu", r.status, r.body_len);
	free(r.body);
}

/* Clients that reset the connection in the middle of a large answer
 * cost the server nothing: the next client is served. */
START_TEST(test_http_client_reset)
{
	struct scene sc;

	scene_files(&sc);
	sc.client = reset_client;
	serve(&sc);
	scene_done(&sc);
	CL_EXPECT_STR(sc.log, "200 20");
	CL_EXPECT_INT(sc.stats.connections, 4);
}
END_TEST

#define FLOOD 3000

static void flood_client(struct scene *sc)
{
	static char reqs[FLOOD * 40];
	struct client c;
	struct resp r;
	size_t n = 0;
	int bad = 0, got = 0;

	for (int i = 0; i < FLOOD; i++)
		n += (size_t)sprintf(reqs + n, "GET /flood?%d HTTP/1.1\r\n\r\n",
				     i);
	client_open(&c, sc->port);
	/* All the requests before any read: the server must stop reading
	 * rather than buffer every answer (3.6 MB of them). */
	client_send(&c, reqs, n);
	usleep(200000);
	for (int i = 0; i < FLOOD; i++) {
		char want[32];

		if (client_read(&c, &r, 0) < 0)
			break;
		n = (size_t)snprintf(want, sizeof want, "/flood?%d.", i);
		bad += r.body_len != 1200 || strncmp(r.body, want, n) != 0;
		got++;
		free(r.body);
	}
	say(sc, "got=%d bad=%d", got, bad);
	client_close(&c);
}

/* Back-pressure: a client that pipelines thousands of requests before
 * reading any answer is answered in order, and the server's write
 * buffer stays near its high-water mark meanwhile. */
START_TEST(test_http_back_pressure)
{
	struct scene sc;

	memset(&sc, 0, sizeof sc);
	sc.cfg.handler = app;
	sc.cfg.arg = &sc;
	sc.client = flood_client;
	serve(&sc);
	CL_EXPECT_STR(sc.log, "got=3000 bad=0");
	CL_EXPECT_INT(sc.calls, FLOOD);
	CL_EXPECT(sc.max_wbuf <= CL_TRANSPORT_HIGH_WATER + 1300,
		  "the write buffer reached %zu bytes: expected at most the "
		  "high-water mark (%d) and one answer", sc.max_wbuf,
		  CL_TRANSPORT_HIGH_WATER);
	/* (And the scene did fill it: the client really did not read.) */
	CL_EXPECT(sc.max_wbuf > CL_TRANSPORT_HIGH_WATER / 2,
		  "the write buffer reached only %zu bytes", sc.max_wbuf);
}
END_TEST

/* An upgrade: the handler detaches and echoes upper-cased. */
struct upper {
	struct cl_protocol base;
	struct cl_transport *t;
};

static void upper_data(struct cl_protocol *p, const char *data, size_t n)
{
	struct upper *u = (struct upper *)p;
	char b[256];

	for (size_t i = 0; i < n && i < sizeof b; i++)
		b[i] = (char)(data[i] >= 'a' && data[i] <= 'z' ? data[i] - 32
							      : data[i]);
	cl_transport_write(u->t, b, n < sizeof b ? n : sizeof b);
}

static void upper_lost(struct cl_protocol *p, struct cl_exc *exc)
{
	(void)exc;
	free(p);
}

static const struct cl_protocol_ops upper_ops = {
	.data_received = upper_data,
	.connection_lost = upper_lost,
};

static void upgrade_app(struct cl_http_conn *c,
			const struct cl_http_request *req, void *arg)
{
	struct scene *sc = arg;
	struct upper *u;
	const char *rest;
	size_t n;

	if (!cl_http_header_has(req, "connection", "upgrade")) {
		app(c, req, arg);
		return;
	}
	u = calloc(1, sizeof *u);
	u->base.ops = &upper_ops;
	u->t = cl_http_detach(c, &rest, &n);
	cl_transport_set_protocol(u->t, &u->base);
	say(sc, "rest=[%.*s]", (int)n, rest);
	cl_transport_write(u->t, "HTTP/1.1 101 Switching Protocols\r\n"
			   "Upgrade: upper\r\nConnection: Upgrade\r\n\r\n", 73);
	if (n > 0)
		upper_data(&u->base, rest, n);
}

static void upgrade_client(struct scene *sc)
{
	struct client c;
	struct resp r;

	client_open(&c, sc->port);
	client_puts(&c, "GET /hello HTTP/1.1\r\n\r\n"
			"GET /chat HTTP/1.1\r\nConnection: Upgrade\r\n"
			"Upgrade: upper\r\n\r\nearly ");
	struct resp r2;

	client_read(&c, &r, 0);
	client_read(&c, &r2, 0);
	say(sc, "%d %s %d", r.status, r.body, r2.status);
	free(r.body);
	free(r2.body);
	while (c.len < 6 && client_fill(&c) > 0)
		;
	client_puts(&c, "bird");
	while (c.len < 10 && client_fill(&c) > 0)
		;
	say(sc, "[%.*s]", (int)c.len, c.buf);
	client_close(&c);
}

/* cl_http_detach: the connection stops being HTTP; the bytes after the
 * upgrade request reach the new protocol, then everything that comes. */
START_TEST(test_http_detach)
{
	struct scene sc;

	memset(&sc, 0, sizeof sc);
	sc.cfg.handler = upgrade_app;
	sc.cfg.arg = &sc;
	sc.client = upgrade_client;
	serve(&sc);
	CL_EXPECT_STR(sc.log, "rest=[early ] 200 hello\n 101 [EARLY BIRD]");
}
END_TEST

static void idle_client(struct scene *sc)
{
	struct client c, d;
	struct resp r;
	struct timespec a, b;

	client_open(&c, sc->port);
	client_puts(&c, "GET /hello HTTP/1.1\r\n\r\n");
	client_read(&c, &r, 0);
	free(r.body);
	/* A half-sent request is no progress either. */
	client_open(&d, sc->port);
	client_puts(&d, "GET /hello HTT");
	clock_gettime(CLOCK_MONOTONIC, &a);
	say(sc, "idle closed=%d", client_closed(&c));
	say(sc, "partial closed=%d", client_closed(&d));
	clock_gettime(CLOCK_MONOTONIC, &b);
	double dt = (double)(b.tv_sec - a.tv_sec) +
		    (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	say(sc, "%s", dt > 0.15 && dt < 1.5 ? "in time" : "late or early");
	client_close(&c);
	client_close(&d);
}

/* The idle timeout closes a keep-alive connection with nothing to do,
 * and one whose request does not come. */
START_TEST(test_http_idle_timeout)
{
	struct scene sc;

	memset(&sc, 0, sizeof sc);
	sc.cfg.handler = app;
	sc.cfg.arg = &sc;
	sc.cfg.idle_timeout = 0.3;
	sc.client = idle_client;
	serve(&sc);
	CL_EXPECT_STR(sc.log, "idle closed=1 partial closed=1 in time");
}
END_TEST

static void add_tests(void)
{
	cl_test(test_http_parse_get, 2, SEC_PARSE);
	cl_test(test_http_parse_headers, 2, SEC_PARSE);
	cl_test(test_http_parse_pipelined, 1, SEC_PARSE);
	cl_test(test_http_parse_partial, 2, SEC_PARSE);
	cl_test(test_http_parse_body_keepalive, 2, SEC_PARSE);
	cl_test(test_http_parse_bad_request_line, 2, SEC_PARSE);
	cl_test(test_http_parse_bad_headers, 2, SEC_PARSE);
	cl_test(test_http_parse_limits, 2, SEC_PARSE);
	cl_test(test_http_static_file, 2, SEC_FILES);
	cl_test(test_http_head, 1, SEC_FILES);
	cl_test(test_http_not_modified, 1, SEC_FILES);
	cl_test(test_http_traversal, 2, SEC_FILES);
	cl_test(test_http_handler, 2, SEC_SERVE);
	cl_test(test_http_keep_alive, 2, SEC_FLOW);
	cl_test(test_http_pipelined, 2, SEC_FLOW);
	cl_test(test_http_refused, 2, SEC_SERVE);
	cl_test(test_http_large_file, 2, SEC_FILES);
	cl_test(test_http_client_reset, 1, SEC_FLOW);
	cl_test(test_http_back_pressure, 2, SEC_FLOW);
	cl_test(test_http_detach, 1, SEC_SERVE);
	cl_test(test_http_idle_timeout, 1, SEC_FLOW);
}

CL_CHAPTER(8, "08-chat", "chat", add_tests)
