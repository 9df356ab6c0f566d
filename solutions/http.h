/*
 * http.h - an HTTP/1.1 server on the protocol layer.
 *
 * The chat server speaks HTTP first: the browser fetches its page, its
 * script and its style sheet, then asks for a WebSocket. All of that is
 * served here, with no task per connection: each connection is a
 * protocol (transport.h) that parses what it reads and calls a handler,
 * a plain function that answers at once:
 *
 *	static void hello(struct cl_http_conn *c,  async def hello(request):
 *			  const struct cl_http_request *r,
 *			  void *arg)
 *	{
 *		cl_http_respond(c, 200,		       return web.Response(
 *				"text/plain", "hi\n", 3);      text="hi\n")
 *	}
 *	...
 *	struct cl_http_config cfg = {		   app.router.add_get("/",
 *		.root = "static",			      hello)
 *		.handler = hello,		   app.router.add_static(...)
 *	};
 *	s = cl_http_serve(loop, "127.0.0.1",	   web.TCPSite(runner,
 *			  8080, &cfg);		       "127.0.0.1", 8080)
 *
 * A handler that answers nothing leaves the request to the static files
 * under root (GET and HEAD), or to a 404. The connection is kept alive
 * (HTTP/1.1's default, or HTTP/1.0 with "Connection: keep-alive"), and
 * requests pipelined in one read are answered in order. A request the
 * parser refuses gets its status (400, 413, 414, 431, 501, 505) and the
 * connection closes once the answer is sent.
 *
 * Memory per connection is bounded: a connection reads into a buffer of
 * the loop's thread while it has nothing kept, and keeps at most one
 * unfinished request (limits.max_head + limits.max_body bytes); when
 * the transport's write buffer goes above its high-water mark (the
 * client does not read its answers), the connection stops reading
 * until it comes back down.
 *
 * Python: aiohttp's web server (web_protocol.py RequestHandler:
 * data_received, the keep-alive timer; web_fileresponse.py
 * FileResponse: ETag, If-None-Match, If-Modified-Since, sendfile),
 * CPython's Lib/http/server.py (BaseHTTPRequestHandler.parse_request,
 * SimpleHTTPRequestHandler.send_head), and RFC 9112 for the syntax.
 */
#ifndef CL_HTTP_H
#define CL_HTTP_H

#include <stddef.h>

#include "loop.h"
#include "transport.h"

/* One header, pointing into the connection's buffer (valid during the
 * handler call only). */
struct cl_http_header {
	const char *name, *value; /* value without the spaces around it */
	size_t name_len, value_len;
};

#define CL_HTTP_MAX_HEADERS 64

/* One request, as the parser found it in the connection's buffer. */
struct cl_http_request {
	const char *method;
	size_t method_len;
	const char *target; /* as sent: /a/b?x=1 */
	size_t target_len;
	const char *path; /* target up to '?' */
	size_t path_len;
	int minor; /* HTTP/1.minor: 0 or 1 */
	struct cl_http_header headers[CL_HTTP_MAX_HEADERS];
	int nheaders;
	const char *body; /* Content-Length bodies */
	size_t body_len;
	int keep_alive; /* 1.1 default on, 1.0 default off, Connection: */
};

/* What the parser accepts; 0 in a field: its default. */
struct cl_http_limits {
	size_t max_head; /* request line and headers: 8 KiB */
	size_t max_body; /* Content-Length: 1 MiB */
};

#define CL_HTTP_MAX_HEAD 8192
#define CL_HTTP_MAX_BODY (1024 * 1024)

/*
 * The parser alone (pure, testable): parse one request at the start of
 * buf. Returns the bytes it takes (> 0) when a whole request, head and
 * body, is there; 0 when more bytes are needed; or -status for a request
 * to refuse:
 *	-400	a bad request line, a bad header line (no colon, space
 *		before the colon, a control character, obs-fold), a bad
 *		or repeated Content-Length, a bare LF;
 *	-413	a Content-Length above lim->max_body;
 *	-414	a request line still without its end after max_head bytes;
 *	-431	headers still without their end after max_head bytes, or
 *		more than CL_HTTP_MAX_HEADERS of them;
 *	-501	a Transfer-Encoding (chunked bodies are not supported);
 *	-505	a version other than HTTP/1.x.
 * Empty lines before the request line are skipped (RFC 9112 2.2). lim
 * may be NULL (the defaults). req points into buf.
 */
long cl_http_parse(const char *buf, size_t len,
		   const struct cl_http_limits *lim,
		   struct cl_http_request *req);

/* The value of header name (case-insensitive), or NULL if absent; *len
 * is its length (0 when absent). len may be NULL. */
const char *cl_http_header(const struct cl_http_request *r, const char *name,
			   size_t *len);

/* 1 if the comma-separated header name holds token (case-insensitive):
 * "Connection: keep-alive, Upgrade" has "upgrade". */
int cl_http_header_has(const struct cl_http_request *r, const char *name,
		       const char *token);

/* The server. */
struct cl_http_conn;
struct cl_http_server;

typedef void (*cl_http_handler)(struct cl_http_conn *c,
				const struct cl_http_request *req, void *arg);

struct cl_http_config {
	const char *root;	  /* static files; NULL: none */
	cl_http_handler handler;  /* called first for every request; NULL:
				     static files only */
	void *arg;		  /* the handler's */
	struct cl_http_limits limits; /* 0: 8 KiB head, 1 MiB body */
	double idle_timeout;	  /* keep-alive idle close, s; 0: 60 */
	int reuse_port;		  /* SO_REUSEPORT (one loop per core) */
};

/* Listen on host:port (0: the kernel picks; see cl_http_server_port)
 * and serve. Raises as cl_loop_create_server does; the config is
 * copied. */
struct cl_http_server *cl_http_serve(struct cl_loop *loop, const char *host,
				     int port,
				     const struct cl_http_config *cfg);
int cl_http_server_port(const struct cl_http_server *s);

/* Stop accepting; close idle keep-alive connections; connections in the
 * middle of a response finish sending it, then close. */
void cl_http_server_close(struct cl_http_server *s);

/* await: until the server is closed and all its connections are gone
 * (server.wait_closed()). Call after cl_http_server_close, in a task. */
void cl_http_server_wait_closed(struct cl_http_server *s);

/* Drop the server (after close); its memory goes with its last
 * connection. */
void cl_http_server_free(struct cl_http_server *s);

/* The listening server (server.h), for its port and connection count. */
struct cl_server *cl_http_server_listener(struct cl_http_server *s);

/*
 * In a handler: answer the request, exactly once (or cl_http_detach).
 * The answer carries Server, Date, Content-Type (if not NULL) and
 * Content-Length, and "Connection: close" when the connection ends after
 * it. To a HEAD request only the headers go. A second answer raises
 * RuntimeError.
 */
void cl_http_respond(struct cl_http_conn *c, int status,
		     const char *content_type, const void *body, size_t n);

/* The same with extra header lines, each ending "\r\n" (or NULL). */
void cl_http_respond_ex(struct cl_http_conn *c, int status, const char *extra,
			const char *content_type, const void *body, size_t n);

/*
 * The static file for req under root (what a handler that answers
 * nothing gets): GET and HEAD only (405 with Allow otherwise); the path
 * percent-decoded; ".." segments and NUL refused (403, 400), and never
 * a file outside root, symlinks out of it included (403); "/" and any
 * directory path ending in "/" is its index.html, a directory without
 * the "/" is redirected (301); 404 when there is nothing. Content-Type
 * from the extension, ETag ("mtime-size") with If-None-Match and
 * Last-Modified with If-Modified-Since (304). Large bodies go by
 * sendfile.
 */
void cl_http_serve_file(struct cl_http_conn *c,
			const struct cl_http_request *req);

/*
 * For an upgrade (WebSocket): the connection stops being HTTP. Returns
 * its transport (the caller now owns the protocol side: it must call
 * cl_transport_set_protocol at once) and, in *rest and *n, the bytes
 * that came after this request (pipelined early frames), valid until
 * the handler returns. The HTTP side frees its own state; no response
 * is written. Reading goes on (it is resumed if back-pressure had
 * paused it).
 */
struct cl_transport *cl_http_detach(struct cl_http_conn *c, const char **rest,
				    size_t *n);

/* The peer's address as Python prints it: "('127.0.0.1', 5)". */
const char *cl_http_conn_peer(struct cl_http_conn *c);

/* The connection's transport (for write buffer sizes, say). */
struct cl_transport *cl_http_conn_transport(struct cl_http_conn *c);

struct cl_http_stats {
	unsigned long requests;	   /* requests parsed and answered */
	unsigned long connections; /* connections accepted */
	unsigned long errors;	   /* requests refused, handlers raised */
};
void cl_http_server_stats(const struct cl_http_server *s,
			  struct cl_http_stats *out);

/* The reason phrase of status ("Not Found"), "Unknown" if none. */
const char *cl_http_reason(int status);

#endif
