/*
 * http.c - HTTP/1.1: the request parser, a server of protocols, and
 * static files.
 *
 * Three parts, each usable alone:
 *
 *	parsing		cl_http_parse: one request at the start of a
 *			buffer, pure (no allocation, no I/O). The head
 *			(request line and headers) is the lab; the body's
 *			Content-Length and keep-alive come after it;
 *	serving		one protocol per connection: it reads, parses,
 *			calls the handler for each whole request in order,
 *			keeps the bytes of an unfinished one, and stops
 *			reading while the client does not read its
 *			answers (pause_writing);
 *	static files	cl_http_serve_file: a path under the root, opened
 *			so that it cannot leave it (openat2 RESOLVE_BENEATH),
 *			with ETag and Last-Modified, the body by sendfile.
 *
 * A connection holds no buffer of its own while it has nothing kept: it
 * reads into one buffer per thread (cl__http_scratch), answers what is
 * whole there, and copies only the rest. Idle keep-alive connections
 * thus cost a few hundred bytes each.
 *
 * Python: aiohttp (http_parser.py HttpRequestParser, web_protocol.py
 * RequestHandler, web_fileresponse.py FileResponse), CPython's
 * Lib/http/server.py (parse_request, send_head); RFC 9112 (syntax) and
 * RFC 9110 (semantics: conditional requests, status codes).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "exc.h"
#include "handler.h"
#include "http.h"
#include "server.h"
#include "transport.h"

/* Parsing. */

/* RFC 9110 5.6.2: tchar, the characters of a token (a method, a header
 * name): letters, digits and !#$%&'*+-.^_`|~. */
static int cl__http_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') ||
	       (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* A byte a header value may hold (RFC 9110 5.5): visible, space, tab,
 * or obs-text; not another control character. */
static int cl__http_vchar(unsigned char ch)
{
	return ch == '\t' || (ch >= ' ' && ch != 0x7f);
}

/*
 * The head: the request line and the header lines, up to and including
 * the empty line, from buf[0..len), each line ended by CRLF. Returns the
 * head's length, 0 when it is not whole yet, or -status. Fills req's
 * method, target, path, minor and headers.
 */
static long cl__http_parse_head(const char *buf, size_t len, size_t max_head,
				struct cl_http_request *req)
{
	// LAB ch08 http_parse: Parse "METHOD SP target SP HTTP/1.x CRLF",
	// LAB ch08: then "name: value CRLF" lines up to an empty line. Return
	// LAB ch08: the head's length, 0 if incomplete, else -400 (bad syntax,
	// LAB ch08: bare LF, obs-fold), -505 (not HTTP/1), -414 / -431 (no
	// LAB ch08: end of request line / head in max_head bytes, > 64 headers)
	// LAB ch08: RFC 9112 2-5, http.server parse_request; read section 2.
	// HINT1 ch08: Work line by line: memchr for '\n', never past
	// HINT1 ch08: buf + min(len, max_head). Not finding one there means
	// HINT1 ch08: "need more" while len < max_head, a refusal once not.
	// HINT1 ch08: Skip "\r\n" pairs before the request line.
	// HINT2 ch08: Each line found must end "\r\n" (the byte before '\n'
	// HINT2 ch08: is '\r', and the line is not empty), or it is -400.
	// HINT2 ch08: The request line: a method of cl__http_tchar bytes, one
	// HINT2 ch08: space, a target of bytes 0x21..0x7e, one space, then
	// HINT2 ch08: exactly 8 bytes "HTTP/d.d": a major other than 1 is
	// HINT2 ch08: -505; minor 0 stays 0, higher counts as 1. path: the
	// HINT2 ch08: target up to '?'.
	// HINT3 ch08: A header line: a space or tab first is -400 (obs-fold);
	// HINT3 ch08: a name of tchars directly followed by ':' (else -400);
	// HINT3 ch08: skip spaces and tabs after the colon and before the
	// HINT3 ch08: CRLF; every value byte cl__http_vchar. The 65th header
	// HINT3 ch08: is -431. "\r\n" alone ends the head: return its end -
	// HINT3 ch08: buf.
	const char *p = buf, *end, *eol, *sp, *name, *v, *ve;

	end = buf + (len < max_head ? len : max_head);
	req->nheaders = 0;
	while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
		p += 2;
	eol = memchr(p, '\n', (size_t)(end - p));
	if (eol == NULL)
		return len < max_head ? 0 : -414;
	if (eol == p || eol[-1] != '\r')
		return -400;
	/* The request line: p .. eol - 1. Scans stop at its '\r'. */
	req->method = p;
	while (cl__http_tchar((unsigned char)*p))
		p++;
	req->method_len = (size_t)(p - req->method);
	if (req->method_len == 0 || *p != ' ')
		return -400;
	req->target = ++p;
	while ((unsigned char)*p > ' ' && *p != 0x7f)
		p++;
	req->target_len = (size_t)(p - req->target);
	if (req->target_len == 0 || *p != ' ')
		return -400;
	p++;
	if (eol - 1 - p != 8 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' ||
	    p[5] > '9' || p[6] != '.' || p[7] < '0' || p[7] > '9')
		return -400;
	if (p[5] != '1')
		return -505;
	req->minor = p[7] > '0';
	sp = memchr(req->target, '?', req->target_len);
	req->path = req->target;
	req->path_len = sp != NULL ? (size_t)(sp - req->target)
				   : req->target_len;
	/* The header lines. */
	for (;;) {
		p = eol + 1;
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			return len < max_head ? 0 : -431;
		if (eol == p || eol[-1] != '\r')
			return -400;
		if (eol - p == 1)
			return eol + 1 - buf;
		if (req->nheaders == CL_HTTP_MAX_HEADERS)
			return -431;
		/* A space or tab first (obs-fold) is an empty name. */
		name = p;
		while (cl__http_tchar((unsigned char)*p))
			p++;
		if (p == name || *p != ':')
			return -400;
		v = p + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		ve = eol - 1;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		for (const char *q = v; q < ve; q++)
			if (!cl__http_vchar((unsigned char)*q))
				return -400;
		req->headers[req->nheaders++] = (struct cl_http_header){
			.name = name,
			.value = v,
			.name_len = (size_t)(p - name),
			.value_len = (size_t)(ve - v),
		};
	}
	// STUB ch08:
	// (void)buf, (void)len, (void)max_head, (void)req;
	// (void)cl__http_tchar, (void)cl__http_vchar;
	// return -501;
	// END ch08
}

/* a[0..n) equals the NUL-terminated s, letters in any case. */
static int cl__http_ieq(const char *a, size_t n, const char *s)
{
	return strlen(s) == n && strncasecmp(a, s, n) == 0;
}

const char *cl_http_header(const struct cl_http_request *r, const char *name,
			   size_t *len)
{
	for (int i = 0; i < r->nheaders; i++)
		if (cl__http_ieq(r->headers[i].name, r->headers[i].name_len,
				 name)) {
			if (len != NULL)
				*len = r->headers[i].value_len;
			return r->headers[i].value;
		}
	if (len != NULL)
		*len = 0;
	return NULL;
}

int cl_http_header_has(const struct cl_http_request *r, const char *name,
		       const char *token)
{
	/* Every header of that name: "Connection: a" "Connection: b" is
	 * "Connection: a, b" (RFC 9110 5.3). */
	for (int i = 0; i < r->nheaders; i++) {
		const char *p, *end, *e;

		if (!cl__http_ieq(r->headers[i].name, r->headers[i].name_len,
				  name))
			continue;
		p = r->headers[i].value;
		end = p + r->headers[i].value_len;
		while (p < end) {
			while (p < end &&
			       (*p == ' ' || *p == '\t' || *p == ','))
				p++;
			e = p;
			while (e < end && *e != ',')
				e++;
			size_t n = (size_t)(e - p);
			while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
				n--;
			if (n > 0 && cl__http_ieq(p, n, token))
				return 1;
			p = e;
		}
	}
	return 0;
}

long cl_http_parse(const char *buf, size_t len,
		   const struct cl_http_limits *lim,
		   struct cl_http_request *req)
{
	size_t max_head = lim != NULL && lim->max_head ? lim->max_head
						       : CL_HTTP_MAX_HEAD;
	size_t max_body = lim != NULL && lim->max_body ? lim->max_body
						       : CL_HTTP_MAX_BODY;
	size_t clen = 0;
	int seen = 0, too_big = 0;
	long head;

	req->body = NULL;
	req->body_len = 0;
	req->keep_alive = 0;
	head = cl__http_parse_head(buf, len, max_head, req);
	if (head <= 0)
		return head;
	for (int i = 0; i < req->nheaders; i++) {
		const struct cl_http_header *h = &req->headers[i];

		if (cl__http_ieq(h->name, h->name_len, "transfer-encoding"))
			return -501;
		if (!cl__http_ieq(h->name, h->name_len, "content-length"))
			continue;
		/* RFC 9112 6.3: digits only, once. */
		if (seen++ || h->value_len == 0)
			return -400;
		for (size_t j = 0; j < h->value_len; j++) {
			if (h->value[j] < '0' || h->value[j] > '9')
				return -400;
			if (!too_big)
				clen = clen * 10 + (size_t)(h->value[j] - '0');
			too_big = too_big || clen > max_body;
		}
	}
	if (too_big)
		return -413;
	if (len - (size_t)head < clen)
		return 0;
	req->body = buf + head;
	req->body_len = clen;
	req->keep_alive = req->minor
		? !cl_http_header_has(req, "connection", "close")
		: cl_http_header_has(req, "connection", "keep-alive") &&
			  !cl_http_header_has(req, "connection", "close");
	return head + (long)clen;
}

const char *cl_http_reason(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}

/* Serving. */

/* The most one read into the thread's buffer takes. */
#define CL__HTTP_SCRATCH (64 * 1024)

/* A connection's own buffer grows by at least this much. */
#define CL__HTTP_GROW 16384

/* Reads go here while a connection keeps nothing (see the top). */
static _Thread_local char cl__http_scratch[CL__HTTP_SCRATCH];

struct cl_http_server {
	struct cl_loop *loop;
	struct cl_server *listener;
	struct cl_http_config cfg; /* a copy, defaults filled in; root is
				      our strdup */
	int root_fd;		   /* O_PATH of root, or -1 */
	char *root_real;	   /* realpath(root), for the fallback check */
	int refcnt;		   /* the owner's, and one per connection */
	int closing;		   /* cl_http_server_close was called */
	struct cl_http_conn *conns; /* the open connections (not detached) */
	struct cl_http_stats stats;
};

struct cl_http_conn {
	struct cl_protocol base; /* first: the transport's protocol */
	struct cl_http_server *srv;
	struct cl_transport *t;	 /* set by connection_made */
	struct cl_http_conn *prev, *next; /* the server's list */

	/* The bytes kept: an unfinished request, or requests waiting for
	 * the client to read (paused). buf[0..len) of cap. */
	char *buf;
	size_t len, cap;
	unsigned char in_scratch; /* the read in progress went to the
				     thread's buffer */

	/* The request being answered (NULL between requests), and the
	 * bytes after it, for cl_http_detach. */
	const struct cl_http_request *req;
	const char *rest;
	size_t nrest;

	unsigned char answered;	 /* req has its answer */
	unsigned char detached;	 /* cl_http_detach: free once back */
	unsigned char close_after; /* the answer said Connection: close */
	unsigned char wpaused;	 /* pause_writing: we paused reading */
	unsigned char eof;	 /* the client sent EOF */

	/* The idle timer: it closes a connection that made no progress,
	 * read or written, for idle_timeout seconds. */
	struct cl_handle *idle;	 /* a reference, or NULL */
	double last;		 /* loop time of the last progress */
	size_t last_wsize;	 /* write buffer size then */
};

static size_t cl__http_limit(const struct cl_http_server *s)
{
	return s->cfg.limits.max_head + s->cfg.limits.max_body;
}

static void cl__http_server_unref(struct cl_http_server *s)
{
	if (--s->refcnt > 0)
		return;
	if (s->root_fd >= 0)
		close(s->root_fd);
	free(s->root_real);
	free((char *)s->cfg.root);
	free(s);
}

/* Free a connection's side (after its connection_lost, or a detach). */
static void cl__http_conn_free(struct cl_http_conn *c)
{
	struct cl_http_server *s = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->idle != NULL) {
		cl_handle_cancel(c->idle);
		cl_handle_decref(c->idle);
	}
	free(c->buf);
	free(c);
	cl__http_server_unref(s);
}

/* Date: for now, made once a second ("Sun, 06 Nov 1994 08:49:37 GMT"). */
static void cl__http_date(time_t when, char *out, size_t n)
{
	struct tm tm;

	gmtime_r(&when, &tm);
	strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static const char *cl__http_now(void)
{
	static _Thread_local time_t last;
	static _Thread_local char date[40];
	time_t now = time(NULL);

	if (now != last) {
		last = now;
		cl__http_date(now, date, sizeof date);
	}
	return date;
}

/*
 * Write an answer's head and body: status line, Server, Date,
 * Content-Type if any, Content-Length clen (not for 1xx, 204 and 304),
 * Connection, extra; then n bytes of body (none when head_only).
 */
static void cl__http_send(struct cl_http_conn *c, int status,
			  const char *extra, const char *ctype,
			  const void *body, size_t n, size_t clen,
			  int keep, int head_only)
{
	const struct cl_http_request *r = c->req;
	size_t size = 256 + (extra ? strlen(extra) : 0) +
		      (ctype ? strlen(ctype) : 0);
	char local[4096], *volatile out = local, *p;
	int has_len = status >= 200 && status != 204 && status != 304;

	if (head_only || !has_len)
		n = 0;
	if (size + n > sizeof local) {
		out = malloc(size + (n <= 65536 ? n : 0));
		if (out == NULL)
			cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	}
	p = out;
	p += sprintf(p, "HTTP/1.1 %d %s\r\nServer: corolab\r\nDate: %s\r\n",
		     status, cl_http_reason(status), cl__http_now());
	if (ctype != NULL)
		p += sprintf(p, "Content-Type: %s\r\n", ctype);
	if (has_len)
		p += sprintf(p, "Content-Length: %zu\r\n", clen);
	if (!keep)
		p += sprintf(p, "Connection: close\r\n");
	else if (r != NULL && r->minor == 0)
		p += sprintf(p, "Connection: keep-alive\r\n");
	if (extra != NULL)
		p += sprintf(p, "%s", extra);
	p += sprintf(p, "\r\n");
	if (n > 0 && (out == local || n <= 65536)) {
		/* One write, so one segment leaves for a small answer. */
		memcpy(p, body, n);
		p += n;
		n = 0;
	}
	CL_TRY {
		cl_transport_write(c->t, out, (size_t)(p - out));
		if (n > 0)
			cl_transport_write(c->t, body, n);
	} CL_CATCH(e) {
		if (out != local)
			free(out);
		cl_raise(e);
	} CL_END_TRY;
	if (out != local)
		free(out);
}

/* Take the answer of c->req: raises unless there is one to give. Says
 * whether the connection stays open after it. */
static int cl__http_take_answer(struct cl_http_conn *c)
{
	if (c->req == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError,
				    "no HTTP request to answer"));
	if (c->answered)
		cl_raise(cl_exc_new(&cl_RuntimeError,
				    "the HTTP request was answered already"));
	c->answered = 1;
	if (!c->req->keep_alive || c->srv->closing)
		c->close_after = 1;
	return !c->close_after;
}

static int cl__http_is_head(const struct cl_http_request *r)
{
	return r->method_len == 4 && memcmp(r->method, "HEAD", 4) == 0;
}

static int cl__http_is_get(const struct cl_http_request *r)
{
	return r->method_len == 3 && memcmp(r->method, "GET", 3) == 0;
}

void cl_http_respond_ex(struct cl_http_conn *c, int status, const char *extra,
			const char *content_type, const void *body, size_t n)
{
	int keep = cl__http_take_answer(c);

	cl__http_send(c, status, extra, content_type, body, n, n, keep,
		      cl__http_is_head(c->req));
}

void cl_http_respond(struct cl_http_conn *c, int status,
		     const char *content_type, const void *body, size_t n)
{
	cl_http_respond_ex(c, status, NULL, content_type, body, n);
}

/* A request the parser refused: its status, and the connection ends. */
static void cl__http_refuse(struct cl_http_conn *c, int status)
{
	char body[64];
	int n = snprintf(body, sizeof body, "%d %s\n", status,
			 cl_http_reason(status));

	c->srv->stats.errors++;
	c->req = NULL;
	c->close_after = 1;
	cl__http_send(c, status, NULL, "text/plain; charset=utf-8", body,
		      (size_t)n, (size_t)n, 0, 0);
}

/* Report what a handler raised on the loop's error stream. */
static void cl__http_report(struct cl_http_conn *c, struct cl_exc *e)
{
	struct cl_exc_context ctx = {
		.message = "Error handling request",
		.exception = e,
		.protocol = c,
		.transport = c->t,
	};

	cl_loop_call_exception_handler(c->srv->loop, &ctx);
}

/* One whole request: the handler, then the default answer. */
static void cl__http_answer(struct cl_http_conn *c,
			    const struct cl_http_request *req)
{
	struct cl_http_server *s = c->srv;

	c->req = req;
	c->answered = 0;
	s->stats.requests++;
	if (s->cfg.handler != NULL) {
		CL_TRY {
			s->cfg.handler(c, req, s->cfg.arg);
		} CL_CATCH(e) {
			/* aiohttp's answer to a handler that raised: 500. */
			s->stats.errors++;
			cl__http_report(c, e);
			cl_exc_decref(e);
			if (!c->answered && !c->detached) {
				c->close_after = 1;
				c->answered = 1;
				cl__http_send(c, 500, NULL, "text/plain",
					      "500 Internal Server Error\n",
					      26, 26, 0, cl__http_is_head(req));
			}
		} CL_END_TRY;
	}
	if (!c->answered && !c->detached) {
		if (s->cfg.root != NULL &&
		    (cl__http_is_head(req) || cl__http_is_get(req)))
			cl_http_serve_file(c, req);
		else
			cl_http_respond(c, 404, "text/plain; charset=utf-8",
					"404 Not Found\n", 14);
	}
	c->req = NULL;
}

/*
 * Answer the whole requests at data[0..len), in order, until one is
 * unfinished, the client must read first (wpaused), the connection is
 * to close or was detached. Returns the bytes used up.
 */
static size_t cl__http_process(struct cl_http_conn *c, const char *data,
			       size_t len)
{
	struct cl_http_server *s = c->srv;
	struct cl_http_request req;
	size_t off = 0;
	long r;

	while (off < len && !c->wpaused && !c->close_after && !c->detached) {
		r = cl_http_parse(data + off, len - off, &s->cfg.limits, &req);
		if (r == 0)
			break;
		if (r < 0) {
			cl__http_refuse(c, (int)-r);
			off = len;
			break;
		}
		c->rest = data + off + r;
		c->nrest = len - off - (size_t)r;
		cl__http_answer(c, &req);
		off += (size_t)r;
	}
	if (c->close_after || c->detached)
		off = len;
	if (c->close_after)
		cl_transport_close(c->t); /* once the answer is sent */
	return off;
}

/* Keep data[0..n) as c's bytes (after what it has). */
static void cl__http_keep(struct cl_http_conn *c, const char *data, size_t n)
{
	size_t want = c->len + n;
	char *buf;

	if (n == 0)
		return;
	if (want > c->cap) {
		buf = realloc(c->buf, want);
		if (buf == NULL)
			cl_raise(cl_exc_new(&cl_MemoryError, NULL));
		c->buf = buf;
		c->cap = want;
	}
	memmove(c->buf + c->len, data, n);
	c->len += n;
}

/* After processing: an empty connection gives its buffer back; one
 * whose client sent EOF and has nothing more to answer closes. */
static void cl__http_settle(struct cl_http_conn *c)
{
	if (c->len == 0 && c->cap > 0) {
		free(c->buf);
		c->buf = NULL;
		c->cap = 0;
	}
	if (c->eof && !c->wpaused && !c->close_after)
		cl_transport_close(c->t);
}

/* Process c's own buffer, keeping what is left. Returns 1 if c was
 * detached (and is now freed). */
static int cl__http_process_kept(struct cl_http_conn *c)
{
	size_t used = cl__http_process(c, c->buf, c->len);

	if (c->detached) {
		cl__http_conn_free(c);
		return 1;
	}
	if (used > 0 && used < c->len)
		memmove(c->buf, c->buf + used, c->len - used);
	c->len -= used;
	cl__http_settle(c);
	return 0;
}

static void *cl__http_get_buffer(struct cl_protocol *p, long sizehint,
				 size_t *len)
{
	struct cl_http_conn *c = (struct cl_http_conn *)p;
	size_t limit = cl__http_limit(c->srv), want;
	char *buf;

	(void)sizehint;
	if (c->len == 0) {
		c->in_scratch = 1;
		*len = limit < CL__HTTP_SCRATCH ? limit : CL__HTTP_SCRATCH;
		return cl__http_scratch;
	}
	c->in_scratch = 0;
	if (c->len >= limit) {
		/* Not reached: the parser refuses a request this long. */
		cl_transport_pause_reading(c->t);
		*len = 0;
		return NULL;
	}
	if (c->cap - c->len < CL__HTTP_GROW && c->cap < limit) {
		want = c->cap * 2 > c->len + CL__HTTP_GROW
			       ? c->cap * 2
			       : c->len + CL__HTTP_GROW;
		if (want > limit)
			want = limit;
		buf = realloc(c->buf, want);
		if (buf == NULL)
			cl_raise(cl_exc_new(&cl_MemoryError, NULL));
		c->buf = buf;
		c->cap = want;
	}
	*len = (c->cap < limit ? c->cap : limit) - c->len;
	return c->buf + c->len;
}

static void cl__http_buffer_updated(struct cl_protocol *p, size_t n)
{
	struct cl_http_conn *c = (struct cl_http_conn *)p;
	size_t used;

	c->last = cl_loop_time(c->srv->loop);
	if (!c->in_scratch) {
		c->len += n;
		cl__http_process_kept(c);
		return;
	}
	used = cl__http_process(c, cl__http_scratch, n);
	if (c->detached) {
		cl__http_conn_free(c);
		return;
	}
	cl__http_keep(c, cl__http_scratch + used, n - used);
	cl__http_settle(c);
}

static int cl__http_eof_received(struct cl_protocol *p)
{
	struct cl_http_conn *c = (struct cl_http_conn *)p;

	/* Requests still waiting (paused) are answered first. */
	c->eof = 1;
	return c->wpaused && c->len > 0;
}

static void cl__http_pause_writing(struct cl_protocol *p)
{
	struct cl_http_conn *c = (struct cl_http_conn *)p;

	c->wpaused = 1;
	cl_transport_pause_reading(c->t);
}

static void cl__http_resume_writing(struct cl_protocol *p)
{
	struct cl_http_conn *c = (struct cl_http_conn *)p;

	c->wpaused = 0;
	c->last = cl_loop_time(c->srv->loop);
	if (cl__http_process_kept(c))
		return;
	if (!c->wpaused && !c->eof)
		cl_transport_resume_reading(c->t);
}

static void cl__http_idle_fired(void *arg);

static void cl__http_arm(struct cl_http_conn *c, double when)
{
	struct cl_handle *h = cl_loop_call_at(c->srv->loop, when,
					      cl__http_idle_fired, c);

	c->idle = h != NULL ? cl_handle_incref(h) : NULL;
}

/* The idle timer: close a connection without progress (abort one whose
 * client does not read), else come back when it could be idle. */
static void cl__http_idle_fired(void *arg)
{
	struct cl_http_conn *c = arg;
	struct cl_handle *h = c->idle;
	double now = cl_loop_time(c->srv->loop);
	size_t wsize = cl_transport_get_write_buffer_size(c->t);

	c->idle = NULL;
	if (wsize != c->last_wsize) {
		c->last_wsize = wsize;
		c->last = now;
	}
	if (now - c->last >= c->srv->cfg.idle_timeout) {
		if (wsize > 0)
			cl_transport_abort(c->t);
		else
			cl_transport_close(c->t);
	} else {
		cl__http_arm(c, c->last + c->srv->cfg.idle_timeout);
	}
	cl_handle_decref(h);
}

static void cl__http_made(struct cl_protocol *p, struct cl_transport *t)
{
	struct cl_http_conn *c = (struct cl_http_conn *)p;

	c->t = t;
	c->srv->stats.connections++;
	c->last = cl_loop_time(c->srv->loop);
	if (c->srv->closing) {
		cl_transport_close(t);
		return;
	}
	cl__http_arm(c, c->last + c->srv->cfg.idle_timeout);
}

static void cl__http_lost(struct cl_protocol *p, struct cl_exc *exc)
{
	(void)exc;
	cl__http_conn_free((struct cl_http_conn *)p);
}

static const struct cl_protocol_ops cl__http_ops = {
	.connection_made = cl__http_made,
	.connection_lost = cl__http_lost,
	.eof_received = cl__http_eof_received,
	.pause_writing = cl__http_pause_writing,
	.resume_writing = cl__http_resume_writing,
	.get_buffer = cl__http_get_buffer,
	.buffer_updated = cl__http_buffer_updated,
};

static struct cl_protocol *cl__http_factory(void *arg)
{
	struct cl_http_server *s = arg;
	struct cl_http_conn *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	c->base.ops = &cl__http_ops;
	c->srv = s;
	s->refcnt++;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	return &c->base;
}

struct cl_http_server *cl_http_serve(struct cl_loop *loop, const char *host,
				     int port, const struct cl_http_config *cfg)
{
	struct cl_http_server *volatile s;

	s = calloc(1, sizeof *s);
	if (s == NULL)
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	s->loop = loop;
	s->cfg = *cfg;
	s->refcnt = 1;
	s->root_fd = -1;
	if (s->cfg.limits.max_head == 0)
		s->cfg.limits.max_head = CL_HTTP_MAX_HEAD;
	if (s->cfg.limits.max_body == 0)
		s->cfg.limits.max_body = CL_HTTP_MAX_BODY;
	if (s->cfg.idle_timeout <= 0)
		s->cfg.idle_timeout = 60;
	s->cfg.root = NULL;
	if (cfg->root != NULL) {
		s->cfg.root = strdup(cfg->root);
		s->root_fd = open(cfg->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		s->root_real = realpath(cfg->root, NULL);
		if (s->cfg.root == NULL || s->root_fd < 0 ||
		    s->root_real == NULL) {
			int err = s->root_fd < 0 || s->root_real == NULL
					  ? errno : ENOMEM;

			cl__http_server_unref(s);
			cl_raise(cl_os_error(err, NULL));
		}
	}
	CL_TRY {
		if (cfg->reuse_port)
			cl_loop_create_server_reuse_port(loop, cl__http_factory,
							 s, host, port,
							 &s->listener);
		else
			cl_loop_create_server(loop, cl__http_factory, s, host,
					      port, &s->listener);
	} CL_CATCH(e) {
		cl__http_server_unref(s);
		cl_raise(e);
	} CL_END_TRY;
	return s;
}

int cl_http_server_port(const struct cl_http_server *s)
{
	return cl_server_port(s->listener);
}

struct cl_server *cl_http_server_listener(struct cl_http_server *s)
{
	return s->listener;
}

void cl_http_server_close(struct cl_http_server *s)
{
	if (s->closing)
		return;
	s->closing = 1;
	cl_server_close(s->listener);
	/* close() sends what is buffered first: an answer in progress is
	 * finished, then the connection ends. */
	for (struct cl_http_conn *c = s->conns; c != NULL; c = c->next)
		if (c->t != NULL)
			cl_transport_close(c->t);
}

void cl_http_server_wait_closed(struct cl_http_server *s)
{
	cl_server_wait_closed(s->listener);
}

void cl_http_server_free(struct cl_http_server *s)
{
	if (s == NULL)
		return;
	cl_http_server_close(s);
	cl_server_free(s->listener);
	s->listener = NULL;
	cl__http_server_unref(s);
}

void cl_http_server_stats(const struct cl_http_server *s,
			  struct cl_http_stats *out)
{
	*out = s->stats;
}

const char *cl_http_conn_peer(struct cl_http_conn *c)
{
	return cl_transport_get_extra_info(c->t, "peername");
}

struct cl_transport *cl_http_conn_transport(struct cl_http_conn *c)
{
	return c->t;
}

struct cl_transport *cl_http_detach(struct cl_http_conn *c, const char **rest,
				    size_t *n)
{
	if (c->req == NULL || c->answered)
		cl_raise(cl_exc_new(&cl_RuntimeError,
				    "cl_http_detach: no request to detach "
				    "from"));
	c->answered = c->detached = 1;
	*rest = c->rest;
	*n = c->nrest;
	if (c->wpaused) {
		c->wpaused = 0;
		cl_transport_resume_reading(c->t);
	}
	return c->t;
}

/* Static files. */

/* Bodies up to this size are read and sent with the head in one write;
 * larger ones go by sendfile. */
#define CL__HTTP_SMALL_FILE (64 * 1024)

static const struct {
	const char *ext, *type;
} cl__http_types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "png", "image/png" },
	{ "svg", "image/svg+xml" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "json", "application/json" },
	{ "ico", "image/vnd.microsoft.icon" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "wasm", "application/wasm" },
};

/* Content-Type from the file name's extension (mimetypes.guess_type). */
static const char *cl__http_type(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot != NULL && strchr(dot, '/') == NULL)
		for (size_t i = 0;
		     i < sizeof cl__http_types / sizeof cl__http_types[0]; i++)
			if (strcasecmp(dot + 1, cl__http_types[i].ext) == 0)
				return cl__http_types[i].type;
	return "application/octet-stream";
}

static int cl__http_hex(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * The path percent-decoded into out (size n), relative to the root (no
 * leading '/'), with index.html for a directory path: 0, or the status
 * to answer (400 bad escape or NUL, 403 a ".." segment, 414 too long).
 */
static int cl__http_local_path(const char *path, size_t len, char *out,
			       size_t n)
{
	size_t o = 0, seg = 0;
	int hi, lo;

	if (len == 0 || path[0] != '/')
		return 400;
	for (size_t i = 1; i < len; i++) {
		char ch = path[i];

		if (ch == '%') {
			if (i + 2 >= len)
				return 400;
			hi = cl__http_hex(path[i + 1]);
			lo = cl__http_hex(path[i + 2]);
			if (hi < 0 || lo < 0)
				return 400;
			ch = (char)(hi * 16 + lo);
			i += 2;
		}
		if (ch == '\0')
			return 400;
		if (o + 16 >= n)
			return 414;
		if (ch == '/') {
			if (o - seg == 2 && memcmp(out + seg, "..", 2) == 0)
				return 403;
			if (o == seg)
				continue; /* "//": one slash */
			out[o++] = '/';
			seg = o;
			continue;
		}
		out[o++] = ch;
	}
	if (o - seg == 2 && memcmp(out + seg, "..", 2) == 0)
		return 403;
	if (o == seg)
		memcpy(out + o, "index.html", 11);
	else
		out[o] = '\0';
	return 0;
}

/*
 * Open rel under the server's root, never outside it: openat2 with
 * RESOLVE_BENEATH refuses ".." and symlinks that leave the root (EXDEV).
 * Where openat2 is missing, the file's real path must start with the
 * root's. Returns the fd or -errno.
 */
static int cl__http_open(const struct cl_http_server *s, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	char proc[64], real[PATH_MAX];
	size_t rl = strlen(s->root_real);
	ssize_t n;
	int fd;

	fd = (int)syscall(SYS_openat2, s->root_fd, rel, &how, sizeof how);
	if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
		return fd >= 0 ? fd : -errno;
	fd = openat(s->root_fd, rel, (int)how.flags);
	if (fd < 0)
		return -errno;
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	n = readlink(proc, real, sizeof real - 1);
	if (n < 0 || (size_t)n <= rl || memcmp(real, s->root_real, rl) != 0 ||
	    (real[rl] != '/' && s->root_real[rl - 1] != '/')) {
		close(fd);
		return -EXDEV;
	}
	return fd;
}

/* Does If-None-Match's list hold etag (weak comparison, RFC 9110
 * 13.1.2), or "*"? */
static int cl__http_etag_match(const char *v, size_t n, const char *etag)
{
	const char *end = v + n, *e;
	size_t elen = strlen(etag);

	while (v < end) {
		while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		e = v;
		while (e < end && *e != ',')
			e++;
		size_t len = (size_t)(e - v);
		while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		if (len == 1 && *v == '*')
			return 1;
		if (len >= 2 && v[0] == 'W' && v[1] == '/')
			v += 2, len -= 2;
		if (len == elen && memcmp(v, etag, len) == 0)
			return 1;
		v = e;
	}
	return 0;
}

/* If-Modified-Since's date (IMF-fixdate) as seconds, or -1. */
static time_t cl__http_parse_date(const char *v, size_t n)
{
	char buf[64];
	struct tm tm = { 0 };
	const char *end;

	if (n >= sizeof buf)
		return -1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	return timegm(&tm);
}

void cl_http_serve_file(struct cl_http_conn *c,
			const struct cl_http_request *req)
{
	struct cl_http_server *s = c->srv;
	char rel[PATH_MAX], extra[PATH_MAX + 128], etag[64], date[40];
	const char *v;
	struct stat st;
	size_t vlen;
	int status, keep;
	volatile int fd, head = cl__http_is_head(req);

	if (!head && !cl__http_is_get(req)) {
		cl_http_respond_ex(c, 405, "Allow: GET, HEAD\r\n",
				   "text/plain; charset=utf-8",
				   "405 Method Not Allowed\n", 23);
		return;
	}
	if (s->root_fd < 0)
		goto not_found;
	status = cl__http_local_path(req->path, req->path_len, rel, sizeof rel);
	if (status != 0) {
		char body[64];
		int n = snprintf(body, sizeof body, "%d %s\n", status,
				 cl_http_reason(status));

		cl_http_respond(c, status, "text/plain; charset=utf-8", body,
				(size_t)n);
		return;
	}
	fd = cl__http_open(s, rel);
	if (fd == -ENOENT || fd == -ENOTDIR || fd == -ENAMETOOLONG)
		goto not_found;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		cl_http_respond(c, 403, "text/plain; charset=utf-8",
				"403 Forbidden\n", 14);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		/* http.server's answer: the same path with a slash. */
		close(fd);
		snprintf(extra, sizeof extra, "Location: %.*s/\r\n",
			 (int)req->path_len, req->path);
		cl_http_respond_ex(c, 301, extra, NULL, NULL, 0);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		cl_http_respond(c, 403, "text/plain; charset=utf-8",
				"403 Forbidden\n", 14);
		return;
	}
	/* aiohttp's ETag: mtime in ns and size, in hex. */
	snprintf(etag, sizeof etag, "\"%llx-%llx\"",
		 (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
			 (unsigned long long)st.st_mtim.tv_nsec,
		 (unsigned long long)st.st_size);
	cl__http_date(st.st_mtim.tv_sec, date, sizeof date);
	snprintf(extra, sizeof extra, "ETag: %s\r\nLast-Modified: %s\r\n",
		 etag, date);
	/* RFC 9110 13.2.2: If-None-Match first; If-Modified-Since only
	 * without it. */
	if ((v = cl_http_header(req, "if-none-match", &vlen)) != NULL
		    ? cl__http_etag_match(v, vlen, etag)
		    : ((v = cl_http_header(req, "if-modified-since",
					   &vlen)) != NULL &&
		       cl__http_parse_date(v, vlen) >= st.st_mtim.tv_sec)) {
		close(fd);
		cl_http_respond_ex(c, 304, extra, NULL, NULL, 0);
		return;
	}
	CL_TRY {
		keep = cl__http_take_answer(c);
		if (head || (size_t)st.st_size > CL__HTTP_SMALL_FILE) {
			cl__http_send(c, 200, extra, cl__http_type(rel), NULL,
				      0, (size_t)st.st_size, keep, head);
			if (!head)
				cl_transport_sendfile(c->t, fd, 0,
						      (size_t)st.st_size);
		} else {
			char *body = malloc((size_t)st.st_size + 1);
			ssize_t got;

			if (body == NULL)
				cl_raise(cl_exc_new(&cl_MemoryError, NULL));
			got = pread(fd, body, (size_t)st.st_size, 0);
			if (got < 0)
				got = 0;
			CL_TRY {
				cl__http_send(c, 200, extra,
					      cl__http_type(rel), body,
					      (size_t)got, (size_t)got, keep,
					      0);
			} CL_CATCH(e) {
				free(body);
				cl_raise(e);
			} CL_END_TRY;
			free(body);
		}
	} CL_CATCH(e) {
		close(fd);
		cl_raise(e);
	} CL_END_TRY;
	close(fd);
	return;
not_found:
	cl_http_respond(c, 404, "text/plain; charset=utf-8", "404 Not Found\n",
			14);
}
