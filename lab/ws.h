/*
 * ws.h - WebSocket (RFC 6455) on the protocol layer: both ends.
 *
 * An HTTP connection that asks for "Upgrade: websocket" becomes a
 * two-way channel of messages. Underneath it is the same TCP stream,
 * cut into frames:
 *
 *	 0               1               2               3
 *	+-+-+-+-+-------+-+-------------+-------------------------------+
 *	|F|R|R|R| opcode|M| payload len |   extended payload length     |
 *	|I|S|S|S|  (4)  |A|     (7)     |        (16 or 64 bits)        |
 *	|N|V|V|V|       |S|             |   (if payload len 126 / 127)  |
 *	| |1|2|3|       |K|             |                               |
 *	+-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
 *	|  masking key (32 bits, if MASK set)  |   payload data ...     |
 *	+--------------------------------------+------------------------+
 *
 * A connection here is a protocol (transport.h) with no task of its
 * own: its data_received feeds the bytes to a frame parser, and whole
 * messages come out through the callbacks of struct cl_ws_ops. The
 * chat serves every browser this way, tens of thousands of them on one
 * loop, at the cost of one small struct each.
 *
 *	static void echo(struct cl_ws *ws, int op,	async def echo(ws):
 *			 const char *data, size_t n)	    async for m in ws:
 *	{							await ws.send(m)
 *		cl_ws_send(ws, op, data, n);
 *	}
 *
 * Which side does what (RFC 6455 section 5.1): a client masks every
 * frame it sends and a server never does; each end refuses the other
 * kind (close 1002).
 *
 * Python: the websockets library (src/websockets/frames.py: Frame.parse,
 * Frame.serialize, Close.parse; legacy/protocol.py: WebSocketCommonProtocol
 * read_message, read_data_frame, close, fail_connection,
 * close_connection; legacy/handshake.py: build_response, check_request,
 * accept_key in utils.py), and aiohttp's http_websocket.py
 * (WebSocketReader.parse_frame, _feed_data, WebSocketWriter.send_frame).
 */
#ifndef CL_WS_H
#define CL_WS_H

#include <stddef.h>
#include <stdint.h>

#include "transport.h"

/* Opcodes (section 5.2). */
enum {
	CL_WS_CONT = 0,
	CL_WS_TEXT = 1,
	CL_WS_BINARY = 2,
	CL_WS_CLOSE = 8,
	CL_WS_PING = 9,
	CL_WS_PONG = 10,
};

/* Close codes (section 7.4.1). */
#define CL_WS_NORMAL 1000
#define CL_WS_GOING_AWAY 1001
#define CL_WS_PROTOCOL_ERROR 1002
#define CL_WS_INVALID_DATA 1007
#define CL_WS_POLICY 1008
#define CL_WS_TOO_BIG 1009
#define CL_WS_INTERNAL 1011
#define CL_WS_NO_STATUS 1005 /* reported when the close had no code */
#define CL_WS_ABNORMAL 1006  /* reported when TCP closed without one */

struct cl_ws;

/* What a connection tells its owner. They run as loop callbacks (from
 * data_received, connection_lost, a timer): they cannot await. */
struct cl_ws_ops {
	/* A whole message, fragments joined (CL_WS_TEXT, valid UTF-8, or
	 * CL_WS_BINARY); data is valid during the call only. */
	void (*message)(struct cl_ws *ws, int opcode, const char *data,
			size_t n);
	/*
	 * Once, last: the connection is gone. code is the one in the
	 * peer's close frame (CL_WS_NO_STATUS if it had none), else the
	 * one we failed the connection with (1002, 1007, 1009 ...), else
	 * CL_WS_ABNORMAL (the TCP connection ended, or the close handshake
	 * timed out). reason is the close frame's reason, NUL terminated
	 * ("" if none). Free your state here; ws is freed when this
	 * returns.
	 */
	void (*closed)(struct cl_ws *ws, int code, const char *reason);
	/* Optional: the write buffer fell back to its low-water mark
	 * (resume_writing). */
	void (*drain)(struct cl_ws *ws);
	/* Optional: a pong arrived. */
	void (*pong)(struct cl_ws *ws, const char *data, size_t n);
};

/* Bounds on what a peer may make us hold. 0 in a field: its default,
 * 1 MiB, 1 MiB, 5 s. */
struct cl_ws_limits {
	size_t max_frame;     /* payload of one frame, else close 1009 */
	size_t max_message;   /* a whole message, else close 1009 */
	double close_timeout; /* seconds to wait for the peer's close */
};

/*
 * base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), NUL
 * terminated, in out (section 4.2.2, item 5.4). Returns 0, or -1 if key
 * is not the base64 of 16 bytes (section 4.2.1, item 5).
 */
int cl_ws_accept_key(const char *key, size_t n, char out[29]);

/*
 * Server side, after an HTTP request with Upgrade: websocket: writes the
 * 101 response (with Sec-WebSocket-Accept for key), takes over t
 * (cl_transport_set_protocol: the HTTP protocol is no longer called),
 * and feeds it rest/nrest, the bytes that came after the request. If
 * the key or the version (it must be "13") is bad, it writes a 400
 * response, closes t and returns NULL. lim may be NULL (defaults).
 */
struct cl_ws *cl_ws_server(struct cl_transport *t, const char *key,
			   size_t keylen, const char *version, size_t vlen,
			   const char *rest, size_t nrest,
			   const struct cl_ws_ops *ops, void *arg,
			   const struct cl_ws_limits *lim);

/*
 * Client side, awaited in a task: connect to host:port, send the upgrade
 * request for path with a random key, check the 101 and the accept
 * value, and return the open connection. Raises what the connect raises
 * (ConnectionRefusedError ...), ConnectionError if the server hangs up
 * during the handshake, and ValueError, saying what, when it refuses
 * the handshake. Messages may arrive (ops->message) before it returns.
 */
struct cl_ws *cl_ws_connect(const char *host, int port, const char *path,
			    const struct cl_ws_ops *ops, void *arg,
			    const struct cl_ws_limits *lim);

/*
 * Send one message (CL_WS_TEXT, CL_WS_BINARY) or control frame
 * (CL_WS_PING, CL_WS_PONG: at most 125 bytes) as one frame, masked by a
 * client. Never waits: the transport's write buffer is the send queue,
 * and cl_ws_buffered says how full it is. Dropped once the connection
 * is closing. Raises ValueError for another opcode or a control payload
 * over 125 bytes. (Use cl_ws_close for CL_WS_CLOSE.)
 */
void cl_ws_send(struct cl_ws *ws, int opcode, const void *data, size_t n);

/*
 * A server frame built once, written to many connections (broadcast):
 * cl_ws_frame_header writes the header of an unmasked FIN frame of n
 * bytes into hdr (2, 4 or 10 bytes) and returns its length;
 * cl_ws_send_raw writes bytes as they are (a server's pre-built frames
 * only: a client must mask). Dropped once closing, as cl_ws_send.
 */
size_t cl_ws_frame_header(char hdr[10], int opcode, size_t n);
void cl_ws_send_raw(struct cl_ws *ws, const void *frame, size_t n);

/* cl_ws_send(ws, CL_WS_PING, data, n): the pong comes to ops->pong. */
void cl_ws_ping(struct cl_ws *ws, const void *data, size_t n);

/*
 * Start the closing handshake (section 7.1.2): send a close frame with
 * code (CL_WS_NO_STATUS: a close frame without a code) and reason (NULL
 * or at most 123 bytes, else ValueError), then wait for the peer's
 * close up to close_timeout and end the connection (a server closes the
 * TCP connection as soon as the peer's close arrives, a client waits
 * for the server to close it). After the timeout the connection is
 * aborted and closed() gets CL_WS_ABNORMAL. Nothing if already closing.
 */
void cl_ws_close(struct cl_ws *ws, int code, const char *reason);

/* End the TCP connection now, without a close frame: closed() gets
 * CL_WS_ABNORMAL at the next iteration. */
void cl_ws_abort(struct cl_ws *ws);

size_t cl_ws_buffered(const struct cl_ws *ws); /* write buffer bytes */
int cl_ws_is_open(const struct cl_ws *ws);     /* open, not closing */
void *cl_ws_arg(const struct cl_ws *ws);
void cl_ws_set_arg(struct cl_ws *ws, void *arg);
struct cl_transport *cl_ws_transport(const struct cl_ws *ws);

/*
 * The frame parser alone, a chapter 01 state machine: feed it bytes in
 * pieces of any size, it stops at any byte and resumes there at the
 * next feed. Its fields are the parser's own; the message being
 * assembled is msg[0..nmsg).
 */
struct cl_ws_parser {
	/* Where feed resumes: a CL__WS_* state of ws.c. */
	unsigned char state;
	unsigned char server; /* we are the server: frames must be masked */

	/* The frame being read: its first two bytes, decoded. */
	unsigned char fin, opcode, masked;
	unsigned char need;	/* length or mask bytes still to read */
	unsigned char mask[4];	/* the masking key */
	uint64_t len;		/* payload length */
	uint64_t got;		/* payload bytes read so far */

	/* The message being assembled (data frames), grown up to
	 * max_message; msg_opcode is its first frame's opcode, 0 between
	 * messages. */
	int msg_opcode;
	char *msg;
	size_t nmsg, cap;

	/* A control frame's payload (at most 125 bytes). */
	char ctl[125];

	size_t max_frame, max_message; /* the limits, defaults applied */
	int error;		       /* the close code it failed with */
};

void cl_ws_parser_init(struct cl_ws_parser *p, int server,
		       const struct cl_ws_limits *lim);

/*
 * Parse data[0..n): for each complete frame call frame(arg, fin, opcode,
 * payload, n), the payload unmasked (a data frame's within msg, a
 * control frame's in ctl); a data frame with fin set completes the
 * message msg[0..nmsg) of opcode msg_opcode. Returns 0, or the close
 * code of the first violation of section 5 (1002; 1007 for a text
 * message or a close reason that is not UTF-8; 1009 over a limit;
 * 1011 out of memory): stop feeding then (it returns the same again).
 * After a close frame it reads no further (section 5.5.1).
 */
int cl_ws_parser_feed(struct cl_ws_parser *p, const char *data, size_t n,
		      void (*frame)(void *arg, int fin, int opcode,
				    char *payload, size_t n),
		      void *arg);

void cl_ws_parser_fini(struct cl_ws_parser *p);

/* 1 if s[0..n) is valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
int cl_ws_utf8_valid(const char *s, size_t n);

#endif
