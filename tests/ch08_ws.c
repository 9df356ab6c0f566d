/*
 * ch08_ws.c - chapter 08: WebSocket (RFC 6455), the handshake, the
 * frame parser, closing.
 *
 * The parser tests feed RFC 6455's own example frames (section 5.7) and
 * one frame per rule of section 5 to a parser alone, each both whole
 * and in pieces (1, 3 and 7 bytes at a time): a state machine that
 * stops at any byte must give the same frames and the same close code
 * either way. Each violation comes after a good frame, which must have
 * been delivered, so that a parser refusing everything fails.
 *
 * The connection tests run a server and a client over real sockets on
 * 127.0.0.1 (port 0), on the real clock: the server is a tiny upgrade
 * protocol below that finds the two headers with strstr and calls
 * cl_ws_server; the client is cl_ws_connect in the main task, or a raw
 * socket playing a peer that misbehaves. One test checks our server
 * against an independent client, the websockets library of Debian's
 * python3.
 *
 * Protocols and buffers are static: each test runs in a process of its
 * own. Every assertion happens after cl_run has returned.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "grade.h"
#include "run.h"
#include "server.h"
#include "sock.h"
#include "task.h"
#include "trail.h"
#include "transport.h"
#include "ws.h"

#define SEC_HS "4. The WebSocket handshake"
#define SEC_FRAME "5. WebSocket frames: a parser fed bytes"
#define SEC_CLOSE "6. Closing a WebSocket"

#define EXPECT_TRAIL(want) CL_EXPECT_STR(trail, want)

/* Fail unless trail holds s. */
#define EXPECT_NOTED(s)                                                      \
	CL_EXPECT(strstr(trail, s) != NULL, "expected \"%s\" in \"%s\"", s,  \
		  trail)

/* ---- building frames ---------------------------------------------------- */

struct buf {
	char *d;
	size_t n, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->d = realloc(b->d, b->cap);
		ck_assert(b->d != NULL);
	}
	if (n > 0)
		memcpy(b->d + b->n, p, n);
	b->n += n;
}

static const unsigned char rfc_key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/*
 * Append a frame: b0 is its first byte (FIN, RSV, opcode) as given;
 * masked with the RFC's key if mask; the length in the shortest form,
 * or in the 16-bit (form 126) or 64-bit (form 127) one.
 */
static void frame(struct buf *b, int b0, int mask, const void *payload,
		  size_t n, int form)
{
	unsigned char h[14];
	size_t hl = 2;

	h[0] = (unsigned char)b0;
	if (form == 127 || (form == 0 && n > 0xffff)) {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	} else if (form == 126 || (form == 0 && n > 125)) {
		h[1] = 126;
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
		hl = 4;
	} else {
		h[1] = (unsigned char)n;
	}
	if (mask) {
		h[1] |= 0x80;
		memcpy(h + hl, rfc_key, 4);
		hl += 4;
	}
	put(b, h, hl);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = ((const unsigned char *)payload)[i];

		if (mask)
			c ^= rfc_key[i & 3];
		put(b, &c, 1);
	}
}

/* ---- feeding a parser --------------------------------------------------- */

static char *msg_copy; /* the last whole message */
static size_t msg_len;

/* The frame callback: notes fin:opcode:payload (or #length), and for
 * the last frame of a message msg:opcode:length, keeping a copy. */
static void rec(void *arg, int fin, int opcode, char *payload, size_t n)
{
	struct cl_ws_parser *p = arg;

	if (n <= 40)
		note("%d:%d:%.*s", fin, opcode, (int)n, payload);
	else
		note("%d:%d:#%zu", fin, opcode, n);
	if (opcode < CL_WS_CLOSE && fin) {
		note("msg:%d:%zu", p->msg_opcode, p->nmsg);
		free(msg_copy);
		msg_copy = malloc(p->nmsg + 1);
		ck_assert(msg_copy != NULL);
		memcpy(msg_copy, p->msg, p->nmsg);
		msg_len = p->nmsg;
	}
}

/* A fresh parser fed data step bytes at a time (0: whole): the code it
 * returned (it is fed no more after one); trail holds the frames. */
static int feed(int server, const struct cl_ws_limits *lim, const void *data,
		size_t n, size_t step)
{
	struct cl_ws_parser p;
	int rc = 0;

	trail[0] = '\0';
	cl_ws_parser_init(&p, server, lim);
	if (step == 0)
		step = n > 0 ? n : 1;
	for (size_t i = 0; i < n && rc == 0; i += step)
		rc = cl_ws_parser_feed(&p, (const char *)data + i,
				       n - i < step ? n - i : step, rec, &p);
	cl_ws_parser_fini(&p);
	return rc;
}

static const size_t steps[] = { 0, 1, 3, 7 };

/* Feed whole and in pieces: each way, the code must be want_rc and the
 * frames want (the trail). */
static void expect_feed(int server, const struct cl_ws_limits *lim,
			const struct buf *b, int want_rc, const char *want)
{
	for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
		int rc = feed(server, lim, b->d, b->n, steps[i]);

		CL_EXPECT(rc == want_rc,
			  "fed %zu bytes at a time (0: whole): expected code "
			  "%d, got %d (frames: \"%s\"); read section 3",
			  steps[i], want_rc, rc, trail);
		CL_EXPECT(strcmp(trail, want) == 0,
			  "fed %zu bytes at a time (0: whole): expected "
			  "frames \"%s\", got \"%s\"",
			  steps[i], want, trail);
	}
}

/* ---- 2. The handshake: the accept key ----------------------------------- */

/* RFC 6455 section 1.3's example key gives its accept value; a key that
 * is not the base64 of 16 bytes is refused. */
START_TEST(test_ws_accept_key_rfc_example)
{
	static const char *bad[] = {
		"",				 /* empty */
		"dGhlIHNhbXBsZSBub25jZQ=",	 /* 23 characters */
		"dGhlIHNhbXBsZSBub25jZQ===",	 /* 25 */
		"dGhlIHNhbXBsZSBub25jZQA",	 /* no padding: 17 bytes */
		"dGhlIHNhbXBsZSBub25j=Q==",	 /* '=' inside */
		"dGhlIHNhbXBsZSBub2*jZQ==",	 /* not base64 */
		"dGhlIHNhbXBsZSBub25jZQ=A",	 /* one '=' only */
		"dGhlIHNhbXBsZSBub25jZQA=",	 /* 17 bytes, one '=' */
	};
	char out[29] = "untouched";

	CL_EXPECT_INT(cl_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out),
		      0);
	CL_EXPECT_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	CL_EXPECT_INT(cl_ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out),
		      0);
	CL_EXPECT_STR(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		CL_EXPECT(cl_ws_accept_key(bad[i], strlen(bad[i]), out) == -1,
			  "key \"%s\": expected -1 (not base64 of 16 bytes)",
			  bad[i]);
	}
	CL_EXPECT(cl_ws_accept_key("dGhlIHNhbXBsZSBub25j\0Q==", 24, out) == -1,
		  "a key with a NUL inside: expected -1");
	CL_EXPECT_STR(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}
END_TEST

/* ---- 3. Frames ---------------------------------------------------------- */

/* Section 5.7: the unmasked "Hello" a server sends, the masked one a
 * client sends, each to the other side's parser. */
START_TEST(test_ws_parse_rfc_hello)
{
	struct buf u = { 0 }, m = { 0 };

	put(&u, "\x81\x05\x48\x65\x6c\x6c\x6f", 7);
	put(&m, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
	expect_feed(0, NULL, &u, 0, "1:1:Hello msg:1:5");
	expect_feed(1, NULL, &m, 0, "1:1:Hello msg:1:5");
	CL_EXPECT(msg_len == 5 && memcmp(msg_copy, "Hello", 5) == 0,
		  "message: expected Hello");
	/* Two frames in one read, and the first byte of a third. */
	put(&u, "\x81\x05\x48\x65\x6c\x6c\x6f\x81", 8);
	expect_feed(0, NULL, &u, 0, "1:1:Hello msg:1:5 1:1:Hello msg:1:5");
	free(u.d);
	free(m.d);
}
END_TEST

/* Section 5.7: "Hel" + "lo" as two fragments, with a ping (and a pong)
 * in between (control frames may come inside a message, 5.4), then a
 * masked ping to a server. */
START_TEST(test_ws_parse_rfc_fragments_and_ping)
{
	struct buf b = { 0 }, m = { 0 };

	put(&b, "\x01\x03\x48\x65\x6c", 5);
	put(&b, "\x89\x05\x48\x65\x6c\x6c\x6f", 7);
	put(&b, "\x8a\x00", 2);
	put(&b, "\x80\x02\x6c\x6f", 4);
	expect_feed(0, NULL, &b, 0,
		    "0:1:Hel 1:9:Hello 1:10: 1:0:lo msg:1:5");
	CL_EXPECT(msg_len == 5 && memcmp(msg_copy, "Hello", 5) == 0,
		  "joined message: expected Hello, got %.*s", (int)msg_len,
		  msg_copy);
	put(&m, "\x89\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
	expect_feed(1, NULL, &m, 0, "1:9:Hello");
	/* A message of three fragments, the middle one empty, binary. */
	b.n = 0;
	frame(&b, 0x02, 1, "ab", 2, 0);
	frame(&b, 0x00, 1, "", 0, 0);
	frame(&b, 0x80, 1, "cd", 2, 0);
	frame(&b, 0x81, 1, "", 0, 0);
	expect_feed(1, NULL, &b, 0,
		    "0:2:ab 0:0: 1:0:cd msg:2:4 1:1: msg:1:0");
	free(b.d);
	free(m.d);
}
END_TEST

/* Section 5.7: a 256-byte binary frame (16-bit length) and a 64 KiB one
 * (64-bit length), masked and not, their bytes intact. */
START_TEST(test_ws_parse_rfc_lengths)
{
	static char data[65536];
	struct buf b = { 0 };

	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)(i * 7 + i / 251);
	put(&b, "\x82\x7e\x01\x00", 4);
	put(&b, data, 256);
	expect_feed(0, NULL, &b, 0, "1:2:#256 msg:2:256");
	CL_EXPECT(msg_len == 256 && memcmp(msg_copy, data, 256) == 0,
		  "256-byte message: bytes differ");
	b.n = 0;
	put(&b, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	put(&b, data, 65536);
	expect_feed(0, NULL, &b, 0, "1:2:#65536 msg:2:65536");
	CL_EXPECT(msg_len == 65536 && memcmp(msg_copy, data, 65536) == 0,
		  "64 KiB message: bytes differ");
	b.n = 0;
	frame(&b, 0x82, 1, data, 65536, 0);
	frame(&b, 0x82, 1, data + 5, 1000, 0);
	expect_feed(1, NULL, &b, 0, "1:2:#65536 msg:2:65536 1:2:#1000 "
				    "msg:2:1000");
	CL_EXPECT(msg_len == 1000 && memcmp(msg_copy, data + 5, 1000) == 0,
		  "masked 1000-byte message: bytes differ");
	/* A short payload in a longer length form is still fine. */
	b.n = 0;
	frame(&b, 0x81, 1, "hi", 2, 126);
	frame(&b, 0x81, 1, "yo", 2, 127);
	expect_feed(1, NULL, &b, 0, "1:1:hi msg:1:2 1:1:yo msg:1:2");
	free(b.d);
}
END_TEST

/* Section 5.2: RSV1-3 set without an extension, and the opcodes 3-7 and
 * 11-15 that mean nothing: 1002, after the good frame before them. */
START_TEST(test_ws_parse_rsv_and_opcodes)
{
	static const int bad[] = { 0xc1, 0xa1, 0x91, 0x83, 0x87, 0x8b, 0x8f };
	struct buf b = { 0 };

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		b.n = 0;
		frame(&b, 0x81, 0, "ok", 2, 0);
		frame(&b, bad[i], 0, "x", 1, 0);
		frame(&b, 0x81, 0, "no", 2, 0);
		expect_feed(0, NULL, &b, CL_WS_PROTOCOL_ERROR,
			    "1:1:ok msg:1:2");
	}
	free(b.d);
}
END_TEST

/* Section 5.1: a server takes only masked frames, a client only
 * unmasked ones. */
START_TEST(test_ws_parse_masking_rules)
{
	struct buf b = { 0 };

	frame(&b, 0x81, 1, "ok", 2, 0);
	frame(&b, 0x81, 0, "bare", 4, 0);
	expect_feed(1, NULL, &b, CL_WS_PROTOCOL_ERROR, "1:1:ok msg:1:2");
	b.n = 0;
	frame(&b, 0x81, 0, "ok", 2, 0);
	frame(&b, 0x81, 1, "masked", 6, 0);
	expect_feed(0, NULL, &b, CL_WS_PROTOCOL_ERROR, "1:1:ok msg:1:2");
	b.n = 0;
	frame(&b, 0x89, 1, "", 0, 0);
	frame(&b, 0x89, 0, "", 0, 0);
	expect_feed(1, NULL, &b, CL_WS_PROTOCOL_ERROR, "1:9:");
	free(b.d);
}
END_TEST

/* Section 5.5: control frames carry FIN and at most 125 bytes; 125
 * exactly is fine, in any length form. */
START_TEST(test_ws_parse_control_rules)
{
	static char p125[126]; /* 126 bytes, for the one too many */
	struct buf b = { 0 };

	memset(p125, 'p', sizeof p125);
	frame(&b, 0x89, 0, p125, 125, 0);
	frame(&b, 0x8a, 0, p125, 125, 0);
	frame(&b, 0x09, 0, "x", 1, 0); /* ping without FIN */
	expect_feed(0, NULL, &b, CL_WS_PROTOCOL_ERROR,
		    "1:9:#125 1:10:#125");
	b.n = 0;
	frame(&b, 0x89, 0, "a", 1, 0);
	frame(&b, 0x89, 0, p125, 126, 0); /* 126 bytes, 16-bit length */
	expect_feed(0, NULL, &b, CL_WS_PROTOCOL_ERROR, "1:9:a");
	b.n = 0;
	frame(&b, 0x89, 0, "a", 1, 0);
	frame(&b, 0x8a, 0, "a", 1, 127); /* 1 byte, 64-bit length form */
	expect_feed(0, NULL, &b, CL_WS_PROTOCOL_ERROR, "1:9:a");
	b.n = 0;
	frame(&b, 0x8a, 0, "a", 1, 0);
	frame(&b, 0x08, 0, "", 0, 0); /* close without FIN */
	expect_feed(0, NULL, &b, CL_WS_PROTOCOL_ERROR, "1:10:a");
	b.n = 0;
	frame(&b, 0x8a, 0, "a", 1, 0);
	put(&b, "\x88\x7e\x00\x80\x03\xe8", 6); /* a 128-byte close */
	expect_feed(0, NULL, &b, CL_WS_PROTOCOL_ERROR, "1:10:a");
	free(b.d);
}
END_TEST

/* Section 5.4: a CONT with no message begun, and a TEXT or BINARY in
 * the middle of a fragmented message, are 1002. */
START_TEST(test_ws_parse_fragment_rules)
{
	struct buf b = { 0 };

	frame(&b, 0x81, 0, "ok", 2, 0);
	frame(&b, 0x80, 0, "lone", 4, 0);
	expect_feed(0, NULL, &b, CL_WS_PROTOCOL_ERROR, "1:1:ok msg:1:2");
	b.n = 0;
	frame(&b, 0x01, 0, "He", 2, 0);
	frame(&b, 0x81, 0, "new", 3, 0);
	expect_feed(0, NULL, &b, CL_WS_PROTOCOL_ERROR, "0:1:He");
	b.n = 0;
	frame(&b, 0x02, 0, "He", 2, 0);
	frame(&b, 0x00, 0, "l", 1, 0);
	frame(&b, 0x02, 0, "new", 3, 0);
	expect_feed(0, NULL, &b, CL_WS_PROTOCOL_ERROR, "0:2:He 0:0:l");
	b.n = 0;
	frame(&b, 0x01, 0, "He", 2, 0);
	frame(&b, 0x80, 0, "y", 1, 0);
	frame(&b, 0x00, 0, "again", 5, 0); /* the message is over */
	expect_feed(0, NULL, &b, CL_WS_PROTOCOL_ERROR,
		    "0:1:He 1:0:y msg:1:3");
	free(b.d);
}
END_TEST

/* Section 5.2: a 64-bit length must have its top bit clear (1002); a
 * frame over max_frame, or a message over max_message, is 1009; the
 * limits themselves are fine. */
START_TEST(test_ws_parse_length_limits)
{
	struct cl_ws_limits lim = { .max_frame = 10, .max_message = 16 };
	static char x[20];
	struct buf b = { 0 };

	memset(x, 'x', sizeof x);
	frame(&b, 0x81, 0, "ok", 2, 0);
	put(&b, "\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x01", 10);
	expect_feed(0, NULL, &b, CL_WS_PROTOCOL_ERROR, "1:1:ok msg:1:2");
	b.n = 0;
	frame(&b, 0x81, 0, "ok", 2, 0);
	put(&b, "\x82\x7f\x40\x00\x00\x00\x00\x00\x00\x01", 10);
	expect_feed(0, NULL, &b, CL_WS_TOO_BIG, "1:1:ok msg:1:2");
	b.n = 0;
	frame(&b, 0x82, 0, x, 10, 0);
	frame(&b, 0x82, 0, x, 11, 0);
	expect_feed(0, &lim, &b, CL_WS_TOO_BIG, "1:2:xxxxxxxxxx msg:2:10");
	b.n = 0;
	frame(&b, 0x02, 0, x, 10, 0);
	frame(&b, 0x80, 0, x, 6, 0);
	frame(&b, 0x01, 0, x, 10, 0);
	frame(&b, 0x00, 0, x, 6, 0);
	frame(&b, 0x80, 0, x, 1, 0);
	expect_feed(0, &lim, &b, CL_WS_TOO_BIG,
		    "0:2:xxxxxxxxxx 1:0:xxxxxx msg:2:16 0:1:xxxxxxxxxx "
		    "0:0:xxxxxx");
	/* Control frames are not data: a 12-byte ping or close passes a
	 * 10-byte max_frame. */
	b.n = 0;
	frame(&b, 0x89, 0, x, 12, 0);
	frame(&b, 0x88, 0, "\x03\xe8xxxxxxxxxx", 12, 0);
	expect_feed(0, &lim, &b, 0, "1:9:xxxxxxxxxxxx 1:8:\x03\xe8xxxxxxxxxx");
	free(b.d);
}
END_TEST

/* Section 8.1: a text message must be UTF-8 as a whole (1007), checked
 * when it is complete: a character split across two fragments is fine. */
START_TEST(test_ws_parse_utf8)
{
	static const char *bad[] = {
		"\xc3",		    /* truncated */
		"\xc0\xaf",	    /* overlong '/' */
		"\xe0\x80\xaf",	    /* overlong, 3 bytes */
		"\xed\xa0\x80",	    /* a surrogate */
		"\xf4\x90\x80\x80", /* above U+10FFFF */
		"\xff",		    /* never in UTF-8 */
		"a\x80",	    /* a lone continuation */
		"\xe2\x82",	    /* truncated euro sign */
	};
	struct buf b = { 0 };
	char want[64];

	frame(&b, 0x01, 0, "h\xc3", 2, 0);
	frame(&b, 0x00, 0, "\xa9 \xe2\x82", 4, 0);
	frame(&b, 0x80, 0, "\xac \xf0\x9f\x98\x80", 6, 0);
	expect_feed(0, NULL, &b, 0,
		    "0:1:h\xc3 0:0:\xa9 \xe2\x82 1:0:\xac \xf0\x9f\x98\x80 "
		    "msg:1:12");
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		b.n = 0;
		frame(&b, 0x81, 0, "ok", 2, 0);
		frame(&b, 0x81, 0, bad[i], strlen(bad[i]), 0);
		expect_feed(0, NULL, &b, CL_WS_INVALID_DATA,
			    "1:1:ok msg:1:2");
	}
	/* Binary messages are not checked. */
	b.n = 0;
	frame(&b, 0x82, 0, "\xff\xc0", 2, 0);
	snprintf(want, sizeof want, "1:2:\xff\xc0 msg:2:2");
	expect_feed(0, NULL, &b, 0, want);
	free(b.d);
}
END_TEST

/* Section 5.5.1 and 7.4: a close payload is empty, or a valid code
 * (1000-1003, 1007-1011, 3000-4999) and a UTF-8 reason; after a close
 * nothing more is read. */
START_TEST(test_ws_parse_close_payload)
{
	static const int good[] = { 1000, 1003, 1007, 1011, 3000, 4999 };
	static const int bad[] = { 0,	 999,  1004, 1005, 1006,
				   1012, 1015, 2999, 5000 };
	struct buf b = { 0 };
	char p[8], want[64];

	frame(&b, 0x88, 0, "", 0, 0);
	frame(&b, 0x81, 0, "after", 5, 0);
	expect_feed(0, NULL, &b, 0, "1:8:");
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		b.n = 0;
		p[0] = (char)(good[i] >> 8);
		p[1] = (char)good[i];
		memcpy(p + 2, "bye", 3);
		frame(&b, 0x88, 0, p, 5, 0);
		snprintf(want, sizeof want, "1:8:%.5s", p);
		expect_feed(0, NULL, &b, 0, want);
	}
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		b.n = 0;
		p[0] = (char)(bad[i] >> 8);
		p[1] = (char)bad[i];
		frame(&b, 0x8a, 0, "", 0, 0);
		frame(&b, 0x88, 0, p, 2, 0);
		expect_feed(0, NULL, &b, CL_WS_PROTOCOL_ERROR, "1:10:");
	}
	b.n = 0;
	frame(&b, 0x8a, 0, "", 0, 0);
	frame(&b, 0x88, 0, "\x03", 1, 0); /* half a code */
	expect_feed(0, NULL, &b, CL_WS_PROTOCOL_ERROR, "1:10:");
	b.n = 0;
	frame(&b, 0x8a, 0, "", 0, 0);
	frame(&b, 0x88, 0, "\x03\xe8\xc0\xaf", 4, 0); /* reason not UTF-8 */
	expect_feed(0, NULL, &b, CL_WS_INVALID_DATA, "1:10:");
	free(b.d);
}
END_TEST

static void rec_count(void *arg, int fin, int opcode, char *payload,
		      size_t n)
{
	(void)fin, (void)opcode, (void)payload, (void)n;
	(*(int *)arg)++;
}

/* After a violation the parser stays failed: the same code, no frames.
 * A message's buffer never grows past max_message. */
START_TEST(test_ws_parse_error_sticks_and_memory_bounded)
{
	struct cl_ws_limits lim = { .max_frame = 100, .max_message = 300 };
	struct cl_ws_parser p;
	struct buf b = { 0 };
	static char x[100];
	int calls = 0;

	cl_ws_parser_init(&p, 0, NULL);
	frame(&b, 0x81, 0, "ok", 2, 0);
	CL_EXPECT_INT(cl_ws_parser_feed(&p, b.d, b.n, rec_count, &calls), 0);
	CL_EXPECT_INT(calls, 1);
	CL_EXPECT_INT(cl_ws_parser_feed(&p, "\xf1\x00", 2, rec_count, &calls),
		      CL_WS_PROTOCOL_ERROR);
	CL_EXPECT_INT(cl_ws_parser_feed(&p, b.d, b.n, rec_count, &calls),
		      CL_WS_PROTOCOL_ERROR);
	CL_EXPECT_INT(calls, 1);
	cl_ws_parser_fini(&p);

	cl_ws_parser_init(&p, 0, &lim);
	b.n = 0;
	frame(&b, 0x02, 0, x, 100, 0);
	frame(&b, 0x00, 0, x, 100, 0);
	frame(&b, 0x00, 0, x, 100, 0);
	CL_EXPECT_INT(cl_ws_parser_feed(&p, b.d, b.n, rec_count, &calls), 0);
	CL_EXPECT(p.cap <= 300, "message buffer: expected at most 300 "
				"bytes (max_message), got %zu", p.cap);
	CL_EXPECT_INT(p.nmsg, 300);
	CL_EXPECT_INT(cl_ws_parser_feed(&p, "\x80\x01", 2, rec_count, &calls),
		      CL_WS_TOO_BIG);
	cl_ws_parser_fini(&p);
	free(b.d);
}
END_TEST

/* The header cl_ws_frame_header builds for each length form, as the
 * parser reads it back. */
START_TEST(test_ws_frame_header_forms)
{
	static const size_t lens[] = { 0, 125, 126, 65535, 65536 };
	static const size_t hls[] = { 2, 2, 4, 4, 10 };
	char hdr[10];
	struct buf b = { 0 };
	char *data = calloc(1, 65536);
	char want[64];

	for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
		size_t hl = cl_ws_frame_header(hdr, CL_WS_BINARY, lens[i]);

		CL_EXPECT(hl == hls[i], "header of %zu bytes: expected %zu "
					"bytes long, got %zu",
			  lens[i], hls[i], hl);
		b.n = 0;
		put(&b, hdr, hl);
		put(&b, data, lens[i]);
		if (lens[i] <= 40)
			snprintf(want, sizeof want, "1:2:%.*s msg:2:%zu",
				 (int)lens[i], data, lens[i]);
		else
			snprintf(want, sizeof want, "1:2:#%zu msg:2:%zu",
				 lens[i], lens[i]);
		expect_feed(0, NULL, &b, 0, want);
	}
	CL_EXPECT_INT(cl_ws_frame_header(hdr, CL_WS_TEXT, 5), 2);
	CL_EXPECT(memcmp(hdr, "\x81\x05", 2) == 0, "header of a 5-byte text "
						   "frame: expected 81 05");
	free(data);
	free(b.d);
}
END_TEST

/* ---- connections: the test's server ------------------------------------ */

/*
 * The server's HTTP side, as small as it gets: gather the request head,
 * find Sec-WebSocket-Key and -Version with strstr, hand the connection
 * to cl_ws_server with whatever came after the head.
 */
struct upgrade {
	struct cl_protocol base;
	struct cl_transport *t;
	char buf[8192 + 1];
	size_t n;
	int done;
};

static struct upgrade ups[8];
static int nups;
static struct cl_ws *srv_ws; /* the last connection cl_ws_server made */
static struct cl_ws_limits srv_lim;
static int s_closed, s_msgs, c_closed, c_msgs;
static char *c_msg; /* the client's last message */
static size_t c_len;
static int srv_mode; /* what the server does with a message */
enum { SRV_ECHO, SRV_SILENT };

static int header(const char *head, const char *name, const char **v,
		  size_t *n)
{
	const char *p = strstr(head, name);

	if (p == NULL)
		return 0;
	*v = p + strlen(name);
	*n = strcspn(*v, "\r");
	return 1;
}

static void srv_message(struct cl_ws *ws, int op, const char *data, size_t n)
{
	s_msgs++;
	note("s.msg:%d:%zu", op, n);
	if (n == 8 && memcmp(data, "close-me", 8) == 0)
		cl_ws_close(ws, CL_WS_GOING_AWAY, "going");
	else if (n == 7 && memcmp(data, "ping-me", 7) == 0)
		cl_ws_ping(ws, "srv", 3);
	else if (srv_mode == SRV_ECHO)
		cl_ws_send(ws, op, data, n);
}

static void srv_closed(struct cl_ws *ws, int code, const char *reason)
{
	(void)ws;
	s_closed++;
	note("s.closed:%d:%s", code, reason);
}

static void srv_pong(struct cl_ws *ws, const char *data, size_t n)
{
	(void)ws;
	note("s.pong:%.*s", (int)n, data);
}

static int s_drains;

static void srv_drain(struct cl_ws *ws)
{
	(void)ws;
	if (s_drains++ == 0)
		note("s.drain");
}

static const struct cl_ws_ops srv_ops = {
	.message = srv_message,
	.closed = srv_closed,
	.drain = srv_drain,
	.pong = srv_pong,
};

static void up_made(struct cl_protocol *base, struct cl_transport *t)
{
	((struct upgrade *)base)->t = t;
}

static void up_data(struct cl_protocol *base, const char *data, size_t n)
{
	struct upgrade *u = (struct upgrade *)base;
	const char *key = NULL, *ver = NULL, *end;
	size_t kn = 0, vn = 0, head;
	struct cl_ws *ws;

	if (u->done || n > sizeof u->buf - 1 - u->n)
		return;
	memcpy(u->buf + u->n, data, n);
	u->n += n;
	u->buf[u->n] = '\0';
	end = strstr(u->buf, "\r\n\r\n");
	if (end == NULL)
		return;
	u->done = 1;
	head = (size_t)(end + 4 - u->buf);
	header(u->buf, "Sec-WebSocket-Key: ", &key, &kn);
	header(u->buf, "Sec-WebSocket-Version: ", &ver, &vn);
	ws = cl_ws_server(u->t, key, kn, ver, vn, u->buf + head, u->n - head,
			  &srv_ops, NULL, &srv_lim);
	note(ws ? "s.upgraded" : "s.refused");
	if (ws != NULL)
		srv_ws = ws;
}

static const struct cl_protocol_ops up_ops = {
	.connection_made = up_made,
	.data_received = up_data,
};

static struct cl_protocol *up_factory(void *arg)
{
	struct upgrade *u = &ups[nups++ % 8];

	(void)arg;
	memset(u, 0, sizeof *u);
	u->base.ops = &up_ops;
	return &u->base;
}

static struct cl_server *serve(void)
{
	struct cl_server *srv;

	cl_loop_create_server(cl_get_running_loop(), up_factory, NULL,
			      "127.0.0.1", 0, &srv);
	return srv;
}

static void unserve(struct cl_server *srv)
{
	cl_server_close(srv);
	cl_server_abort_clients(srv);
	cl_server_wait_closed(srv);
	cl_server_free(srv);
}

/* The client's callbacks. */
static void cli_message(struct cl_ws *ws, int op, const char *data,
			size_t n)
{
	(void)ws;
	c_msgs++;
	if (op == CL_WS_TEXT && n <= 40) {
		note("c.msg:%d:%zu:%.*s", op, n, (int)n, data);
	} else {
		note("c.msg:%d:%zu:", op, n);
		for (size_t i = 0; i < n && i < 8; i++)
			note("%02x", (unsigned char)data[i]);
	}
	free(c_msg);
	c_msg = malloc(n + 1);
	ck_assert(c_msg != NULL);
	memcpy(c_msg, data, n);
	c_len = n;
}

static void cli_closed(struct cl_ws *ws, int code, const char *reason)
{
	(void)ws;
	c_closed++;
	note("c.closed:%d:%s", code, reason);
}

static void cli_pong(struct cl_ws *ws, const char *data, size_t n)
{
	(void)ws;
	note("c.pong:%.*s", (int)n, data);
}

static const struct cl_ws_ops cli_ops = {
	.message = cli_message,
	.closed = cli_closed,
	.pong = cli_pong,
};

/* Let the loop run until *flag reaches want, at most 3 seconds. */
static void until(const int *flag, int want)
{
	double end = cl_loop_time(cl_get_running_loop()) + 3;

	while (*flag < want && cl_loop_time(cl_get_running_loop()) < end)
		cl_sleep(0.001);
}

static void run_real(void *(*fn)(void *), void *arg)
{
	signal(SIGPIPE, SIG_IGN);
	run_on(CL_CLOCK_REAL, fn, arg);
}

static double now(void)
{
	return cl_loop_time(cl_get_running_loop());
}

/* ---- connections: a raw peer -------------------------------------------- */

/* A raw, non-blocking TCP connection to 127.0.0.1:port. */
static int raw_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert(fd >= 0);
	cl_sock_nonblock(fd);
	CL_EXPECT_INT(cl_sock_connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

/* What raw_upgrade read after the 101's head: the next read_until
 * starts with it. */
static char raw_left[1024];
static size_t raw_nleft;

/* Read from fd until the bytes read hold want, or EOF, or 3 seconds:
 * how many are in buf (NUL terminated). */
static size_t read_until(int fd, char *buf, size_t size, const char *want,
			 size_t wantlen)
{
	size_t got = raw_nleft < size - 1 ? raw_nleft : size - 1;
	double end = now() + 3;

	memcpy(buf, raw_left, got);
	buf[got] = '\0';
	raw_nleft = 0;
	if (wantlen > 0 && memmem(buf, got, want, wantlen) != NULL)
		return got;
	while (got + 1 < size && now() < end) {
		ssize_t k = recv(fd, buf + got, size - 1 - got, MSG_DONTWAIT);

		if (k == 0)
			break;
		if (k < 0) {
			if (errno != EAGAIN)
				break;
			cl_sleep(0.001);
			continue;
		}
		got += (size_t)k;
		buf[got] = '\0';
		if (wantlen > 0 && memmem(buf, got, want, wantlen) != NULL)
			break;
	}
	return got;
}

static const char rfc_request[] = "GET /chat HTTP/1.1\r\n"
				  "Host: server.example.com\r\n"
				  "Upgrade: websocket\r\n"
				  "Connection: Upgrade\r\n"
				  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				  "Sec-WebSocket-Version: 13\r\n\r\n";

/* Connect raw, send the RFC's request (and extra bytes after it), read
 * the 101 head: the socket. */
static int raw_upgrade(int port, const void *extra, size_t n)
{
	char buf[1024];
	struct buf b = { 0 };
	int fd = raw_connect(port);

	put(&b, rfc_request, sizeof rfc_request - 1);
	put(&b, extra, n);
	CL_EXPECT_INT(cl_sock_sendall(fd, b.d, b.n), 0);
	free(b.d);
	size_t got = read_until(fd, buf, sizeof buf, "\r\n\r\n", 4);
	const char *end = memmem(buf, got, "\r\n\r\n", 4);

	CL_EXPECT(strncmp(buf, "HTTP/1.1 101 ", 13) == 0 && end != NULL,
		  "expected a 101 response, got \"%s\"", buf);
	raw_nleft = got - (size_t)(end + 4 - buf);
	memcpy(raw_left, end + 4, raw_nleft);
	return fd;
}

/* ---- 2. The handshake over sockets -------------------------------------- */

static char got400[2][1024];

static void *bad_key_main(void *arg)
{
	static const char *reqs[2] = {
		"GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Key: abc\r\n"
		"Sec-WebSocket-Version: 13\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		"Sec-WebSocket-Version: 8\r\n\r\n",
	};
	struct cl_server *srv = serve();
	int fd;

	(void)arg;
	for (int i = 0; i < 2; i++) {
		fd = raw_connect(cl_server_port(srv));
		cl_sock_sendall(fd, reqs[i], strlen(reqs[i]));
		read_until(fd, got400[i], sizeof got400[i], "", 0);
		close(fd);
	}
	fd = raw_upgrade(cl_server_port(srv), NULL, 0);
	close(fd);
	until(&s_closed, 1);
	unserve(srv);
	return NULL;
}

/* A request with a bad key or version gets a 400 (whole, then EOF) and
 * cl_ws_server returns NULL; the RFC's key gets the RFC's accept value
 * (read by raw_upgrade). */
START_TEST(test_ws_server_handshake_bad_key_400)
{
	run_real(bad_key_main, NULL);
	for (int i = 0; i < 2; i++)
		CL_EXPECT(strncmp(got400[i], "HTTP/1.1 400 ", 13) == 0 &&
				  strstr(got400[i], "\r\n\r\n") != NULL,
			  "request %d: expected a 400 response, got \"%s\"",
			  i, got400[i]);
	EXPECT_TRAIL("s.refused s.refused s.upgraded s.closed:1006:");
}
END_TEST

static char head101[1024];

static void *accept_main(void *arg)
{
	struct cl_server *srv = serve();
	int fd = raw_connect(cl_server_port(srv));

	(void)arg;
	cl_sock_sendall(fd, rfc_request, sizeof rfc_request - 1);
	read_until(fd, head101, sizeof head101, "\r\n\r\n", 4);
	close(fd);
	until(&s_closed, 1);
	unserve(srv);
	return NULL;
}

/* The 101 carries Upgrade, Connection and the RFC's accept value. */
START_TEST(test_ws_server_handshake_101)
{
	run_real(accept_main, NULL);
	CL_EXPECT(strncmp(head101, "HTTP/1.1 101 ", 13) == 0,
		  "expected a 101, got \"%s\"", head101);
	CL_EXPECT(strstr(head101, "\r\nSec-WebSocket-Accept: "
				  "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != NULL,
		  "expected the RFC's accept value in \"%s\"", head101);
	CL_EXPECT(strcasestr(head101, "\r\nUpgrade: websocket\r\n") &&
			  strcasestr(head101, "\r\nConnection: Upgrade\r\n"),
		  "expected Upgrade and Connection headers in \"%s\"",
		  head101);
	EXPECT_TRAIL("s.upgraded s.closed:1006:");
}
END_TEST

static char echo_got[64];

static void *rest_main(void *arg)
{
	struct cl_server *srv = serve();
	struct buf b = { 0 };
	int fd;

	(void)arg;
	put(&b, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
	fd = raw_upgrade(cl_server_port(srv), b.d, b.n);
	read_until(fd, echo_got, sizeof echo_got, "Hello", 5);
	close(fd);
	until(&s_closed, 1);
	unserve(srv);
	free(b.d);
	return NULL;
}

/* A frame sent in the same write as the request (the bytes after the
 * head, rest) is read: the server echoes the RFC's "Hello" unmasked. */
START_TEST(test_ws_server_reads_rest_after_request)
{
	run_real(rest_main, NULL);
	CL_EXPECT(memcmp(echo_got, "\x81\x05Hello", 7) == 0,
		  "expected the echo 81 05 Hello, got \"%s\"", echo_got);
	EXPECT_TRAIL("s.msg:1:5 s.upgraded s.closed:1006:");
}
END_TEST

/* A fake server for the client's tests: it answers the request as mode
 * says. */
enum {
	FAKE_OK,	 /* 101, then reads and says nothing */
	FAKE_404,	 /* 404 Not Found */
	FAKE_BAD_ACCEPT, /* 101 with a wrong accept value */
	FAKE_HANGUP,	 /* closes without an answer */
	FAKE_CLOSE,	 /* 101 and a close frame (1000) at once, in the
			    same write; keeps the TCP connection open */
	FAKE_NO_UPGRADE, /* 101 without the Upgrade header */
};

struct fake {
	struct cl_protocol base;
	struct cl_transport *t;
	int mode;
	char buf[4096];
	size_t n, head;
};

static struct fake fakes[4];
static int nfakes, fake_mode;

/* base64(SHA-1(key + GUID)) straight from libcrypto, for the fake. */
static void fake_accept(const char *key, size_t n, char out[29])
{
	unsigned char cat[128], md[20];

	memcpy(cat, key, n);
	memcpy(cat + n, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
	SHA1(cat, n + 36, md);
	EVP_EncodeBlock((unsigned char *)out, md, 20);
}

static void fake_made(struct cl_protocol *base, struct cl_transport *t)
{
	((struct fake *)base)->t = t;
}

static void fake_data(struct cl_protocol *base, const char *data, size_t n)
{
	struct fake *f = (struct fake *)base;
	const char *key, *end;
	char acc[29], resp[512];
	size_t kn;
	int len;

	if (n > sizeof f->buf - 1 - f->n)
		n = sizeof f->buf - 1 - f->n;
	memcpy(f->buf + f->n, data, n);
	f->n += n;
	f->buf[f->n] = '\0';
	if (f->head > 0 || (end = strstr(f->buf, "\r\n\r\n")) == NULL)
		return;
	f->head = (size_t)(end + 4 - f->buf);
	if (!header(f->buf, "Sec-WebSocket-Key: ", &key, &kn) || kn > 64)
		kn = 0, key = "";
	fake_accept(key, kn, acc);
	switch (f->mode) {
	case FAKE_404:
		len = snprintf(resp, sizeof resp,
			       "HTTP/1.1 404 Not Found\r\n"
			       "Content-Length: 0\r\n\r\n");
		break;
	case FAKE_HANGUP:
		cl_transport_close(f->t);
		return;
	case FAKE_BAD_ACCEPT:
		acc[3] ^= 1;
		/* fall through */
	default:
		len = snprintf(resp, sizeof resp,
			       "HTTP/1.1 101 Switching Protocols\r\n"
			       "%sConnection: upgrade\r\n"
			       "Sec-WebSocket-Accept: %s\r\n\r\n%s",
			       f->mode == FAKE_NO_UPGRADE
				       ? ""
				       : "Upgrade: WebSocket\r\n",
			       acc,
			       f->mode == FAKE_CLOSE ? "\x88\x02\x03\xe8" : "");
	}
	cl_transport_write(f->t, resp, (size_t)len);
}

static const struct cl_protocol_ops fake_ops = {
	.connection_made = fake_made,
	.data_received = fake_data,
};

static struct cl_protocol *fake_factory(void *arg)
{
	struct fake *f = &fakes[nfakes++ % 4];

	(void)arg;
	memset(f, 0, sizeof *f);
	f->base.ops = &fake_ops;
	f->mode = fake_mode;
	return &f->base;
}

static struct cl_server *fake_serve(int mode)
{
	struct cl_server *srv;

	fake_mode = mode;
	cl_loop_create_server(cl_get_running_loop(), fake_factory, NULL,
			      "127.0.0.1", 0, &srv);
	return srv;
}

/* cl_ws_connect to a fake of the given mode: notes what it raised. */
static void connect_fake(int mode)
{
	struct cl_server *volatile srv = fake_serve(mode);
	char buf[256];

	CL_TRY {
		struct cl_ws *ws = cl_ws_connect("127.0.0.1",
						 cl_server_port(srv), "/x",
						 &cli_ops, NULL, NULL);
		note("connected:%d", ws != NULL);
		cl_ws_abort(ws);
		until(&c_closed, 1);
	} CL_CATCH(e) {
		note("%s", cl_exc_str(e, buf, sizeof buf));
		note("%s", cl_exc_name(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	unserve(srv);
}

static void *client_refused_main(void *arg)
{
	struct cl_server *srv;
	int port;

	(void)arg;
	connect_fake(FAKE_404);
	connect_fake(FAKE_BAD_ACCEPT);
	connect_fake(FAKE_NO_UPGRADE);
	connect_fake(FAKE_HANGUP);
	srv = serve();
	port = cl_server_port(srv);
	unserve(srv);
	CL_TRY {
		cl_ws_connect("127.0.0.1", port, "/", &cli_ops, NULL, NULL);
		note("connected");
	} CL_CATCH(e) {
		note("%s", cl_exc_name(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	connect_fake(FAKE_OK);
	return NULL;
}

/* The client refuses what is not a good 101: another status, a wrong
 * accept value, no Upgrade header (ValueError saying so); a server that
 * hangs up raises ConnectionError, one that is not there
 * ConnectionRefusedError. A good one connects. */
START_TEST(test_ws_client_handshake_checks)
{
	run_real(client_refused_main, NULL);
	EXPECT_TRAIL("WebSocket handshake refused: HTTP/1.1 404 Not Found "
		     "ValueError "
		     "WebSocket handshake: wrong Sec-WebSocket-Accept "
		     "ValueError "
		     "WebSocket handshake: no Upgrade: websocket ValueError "
		     "connection closed during the WebSocket handshake "
		     "ConnectionError ConnectionRefusedError connected:1 "
		     "c.closed:1006:");
}
END_TEST

/* ---- connections: messages ---------------------------------------------- */

static void *echo_main(void *arg)
{
	struct cl_server *srv = serve();
	struct cl_ws *ws;

	(void)arg;
	ws = cl_ws_connect("127.0.0.1", cl_server_port(srv), "/chat",
			   &cli_ops, NULL, NULL);
	note("open=%s", tf(cl_ws_is_open(ws)));
	cl_ws_send(ws, CL_WS_TEXT, "h\xc3\xa9llo", 6);
	until(&c_msgs, 1);
	cl_ws_send(ws, CL_WS_BINARY, "\x00\x01\xff", 3);
	until(&c_msgs, 2);
	cl_ws_send(ws, CL_WS_TEXT, "", 0);
	until(&c_msgs, 3);
	cl_ws_close(ws, CL_WS_NORMAL, "bye");
	note("open=%s", tf(cl_ws_is_open(ws)));
	until(&c_closed, 1);
	until(&s_closed, 1);
	unserve(srv);
	return NULL;
}

/* Text and binary messages go through the server and back intact. */
START_TEST(test_ws_echo_text_and_binary)
{
	run_real(echo_main, NULL);
	EXPECT_TRAIL("s.upgraded open=True s.msg:1:6 c.msg:1:6:h\xc3\xa9llo "
		     "s.msg:2:3 c.msg:2:3: 00 01 ff s.msg:1:0 c.msg:1:0: "
		     "open=False s.closed:1000:bye c.closed:1000:");
}
END_TEST

static char *big;
#define BIG (1024 * 1024)

static void *large_main(void *arg)
{
	struct cl_server *srv = serve();
	struct cl_ws *ws;

	(void)arg;
	ws = cl_ws_connect("127.0.0.1", cl_server_port(srv), "/",
			   &cli_ops, NULL, NULL);
	cl_ws_send(ws, CL_WS_BINARY, big, BIG);
	note("buffered=%s", tf(cl_ws_buffered(ws) > 0));
	until(&c_msgs, 1);
	cl_ws_send(ws, CL_WS_BINARY, big, BIG + 1); /* over max_message */
	until(&c_closed, 1);
	unserve(srv);
	return NULL;
}

/* A 1 MiB message (the default max_message) comes back intact; one byte
 * more and the server closes with 1009. */
START_TEST(test_ws_large_message)
{
	big = malloc(BIG + 1);
	for (size_t i = 0; i <= BIG; i++)
		big[i] = (char)(i ^ (i >> 9));
	run_real(large_main, NULL);
	CL_EXPECT(c_len == BIG && memcmp(c_msg, big, BIG) == 0,
		  "1 MiB echo: expected the same %d bytes, got %zu", BIG,
		  c_len);
	EXPECT_NOTED("s.msg:2:1048576 c.msg:2:1048576:");
	EXPECT_NOTED("s.closed:1009: c.closed:1009:");
}
END_TEST

static void *ping_main(void *arg)
{
	struct cl_server *srv = serve();
	struct cl_ws *ws;

	(void)arg;
	ws = cl_ws_connect("127.0.0.1", cl_server_port(srv), "/",
			   &cli_ops, NULL, NULL);
	cl_ws_ping(ws, "abc", 3);
	cl_ws_send(ws, CL_WS_TEXT, "ping-me", 7);
	cl_ws_send(ws, CL_WS_TEXT, "x", 1);
	until(&c_msgs, 1);
	cl_ws_close(ws, CL_WS_NORMAL, NULL);
	until(&c_closed, 1);
	until(&s_closed, 1);
	unserve(srv);
	return NULL;
}

/* A ping gets a pong with its payload, both ways: the client's answered
 * by the server, the server's by the client. */
START_TEST(test_ws_ping_pong)
{
	run_real(ping_main, NULL);
	EXPECT_NOTED("c.pong:abc");
	EXPECT_NOTED("s.pong:srv");
	EXPECT_NOTED("s.msg:1:7");
	EXPECT_NOTED("c.msg:1:1:x");
	EXPECT_NOTED("s.closed:1000:");
	EXPECT_NOTED("c.closed:1000:");
}
END_TEST

/* ---- 4. Closing ----------------------------------------------------------- */

static double close_took;

static void *close_client_main(void *arg)
{
	struct cl_ws_limits lim = { .close_timeout = 1 };
	struct cl_server *srv = serve();
	struct cl_ws *ws;
	double t0;

	(void)arg;
	ws = cl_ws_connect("127.0.0.1", cl_server_port(srv), "/", &cli_ops,
			   NULL, &lim);
	t0 = now();
	cl_ws_close(ws, 4001, "done");
	cl_ws_close(ws, 4002, "twice"); /* ignored: closing already */
	cl_ws_send(ws, CL_WS_TEXT, "late", 4); /* dropped */
	until(&c_closed, 1);
	close_took = now() - t0;
	until(&s_closed, 1);
	unserve(srv);
	return NULL;
}

/* The client closes: the server gets its code and reason, answers with
 * the same code, and closes the TCP connection at once (the client
 * does not wait for its close_timeout). */
START_TEST(test_ws_close_from_client)
{
	run_real(close_client_main, NULL);
	EXPECT_TRAIL("s.upgraded s.closed:4001:done c.closed:4001:");
	CL_EXPECT(close_took < 0.5,
		  "the server should close the TCP connection at once: the "
		  "client's close took %.3f s (close_timeout 1 s)",
		  close_took);
}
END_TEST

static void *close_server_main(void *arg)
{
	struct cl_ws_limits lim = { .close_timeout = 1 };
	struct cl_server *srv = serve();
	struct cl_ws *ws;
	double t0;

	(void)arg;
	srv_lim = lim;
	ws = cl_ws_connect("127.0.0.1", cl_server_port(srv), "/", &cli_ops,
			   NULL, &lim);
	t0 = now();
	cl_ws_send(ws, CL_WS_TEXT, "close-me", 8);
	until(&c_closed, 1);
	until(&s_closed, 1);
	close_took = now() - t0;
	unserve(srv);
	return NULL;
}

/* The server closes (1001 "going"): the client gets code and reason and
 * answers; the server then closes the TCP connection, and neither side
 * waits for its timeout. */
START_TEST(test_ws_close_from_server)
{
	run_real(close_server_main, NULL);
	EXPECT_NOTED("s.upgraded s.msg:1:8 ");
	EXPECT_NOTED("c.closed:1001:going");
	EXPECT_NOTED("s.closed:1001:");
	CL_EXPECT(close_took < 0.5,
		  "closing took %.3f s: expected no wait for close_timeout",
		  close_took);
}
END_TEST

static char fake_got[64];
static size_t fake_got_n;

static void *client_waits_main(void *arg)
{
	struct cl_ws_limits lim = { .close_timeout = 0.2 };
	struct cl_server *srv = fake_serve(FAKE_CLOSE);
	struct cl_ws *ws;
	double t0 = now();

	(void)arg;
	ws = cl_ws_connect("127.0.0.1", cl_server_port(srv), "/", &cli_ops,
			   NULL, &lim);
	note("open=%s", tf(cl_ws_is_open(ws)));
	until(&c_closed, 1);
	close_took = now() - t0;
	fake_got_n = fakes[0].n - fakes[0].head;
	memcpy(fake_got, fakes[0].buf + fakes[0].head,
	       fake_got_n < sizeof fake_got ? fake_got_n : sizeof fake_got);
	unserve(srv);
	return NULL;
}

/* A client that gets the server's close answers it (a masked close with
 * the same code) and waits for the server to close the TCP connection;
 * this one never does, so after close_timeout it aborts. closed() has
 * the code the server sent. */
START_TEST(test_ws_client_answers_close_then_times_out)
{
	unsigned char want[4];

	run_real(client_waits_main, NULL);
	EXPECT_TRAIL("open=False c.closed:1000:");
	CL_EXPECT(close_took >= 0.19 && close_took < 2,
		  "expected the client to abort after close_timeout (0.2 "
		  "s), took %.3f s",
		  close_took);
	CL_EXPECT(fake_got_n == 8, "expected the client's close, 8 bytes, "
				   "got %zu",
		  fake_got_n);
	for (int i = 0; i < 2; i++)
		want[i] = (unsigned char)fake_got[6 + i] ^
			  (unsigned char)fake_got[2 + i];
	CL_EXPECT((unsigned char)fake_got[0] == 0x88 &&
			  (unsigned char)fake_got[1] == 0x82 && want[0] == 3 &&
			  want[1] == 0xe8,
		  "expected a masked close 1000 (88 82 key 03 e8 masked), "
		  "got %02x %02x ... %02x %02x",
		  (unsigned char)fake_got[0], (unsigned char)fake_got[1],
		  want[0], want[1]);
}
END_TEST

static char silent_got[64];

static void *timeout_main(void *arg)
{
	struct cl_server *srv = serve();
	int fd;
	double t0;

	(void)arg;
	srv_lim.close_timeout = 0.2;
	fd = raw_upgrade(cl_server_port(srv), NULL, 0);
	until(&nups, 1);
	t0 = now();
	cl_ws_close(srv_ws, CL_WS_NORMAL, "bye");
	note("open=%s", tf(cl_ws_is_open(srv_ws)));
	read_until(fd, silent_got, sizeof silent_got, "bye", 3);
	until(&s_closed, 1);
	close_took = now() - t0;
	close(fd);
	unserve(srv);
	return NULL;
}

/* A peer that never answers our close: after close_timeout the
 * connection is aborted, and closed() says 1006 (no close came). */
START_TEST(test_ws_close_timeout_aborts)
{
	run_real(timeout_main, NULL);
	CL_EXPECT(memcmp(silent_got, "\x88\x05\x03\xe8" "bye", 7) == 0,
		  "expected the server's close 88 05 03 e8 bye");
	EXPECT_TRAIL("s.upgraded open=False s.closed:1006:");
	CL_EXPECT(close_took >= 0.19 && close_took < 2,
		  "expected an abort after close_timeout (0.2 s), took "
		  "%.3f s",
		  close_took);
}
END_TEST

static void *reset_main(void *arg)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct cl_server *srv = serve();
	struct buf b = { 0 };
	char x[100] = { 0 };
	int fd;

	(void)arg;
	frame(&b, 0x82, 1, x, sizeof x, 0);
	fd = raw_upgrade(cl_server_port(srv), b.d, 50); /* half a frame */
	until(&nups, 1);
	cl_sleep(0.05);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd); /* RST */
	until(&s_closed, 1);
	cl_sleep(0.05);
	unserve(srv);
	free(b.d);
	return NULL;
}

/* A peer reset in the middle of a message: closed(1006) once, and the
 * half message is never delivered. */
START_TEST(test_ws_peer_reset_mid_message)
{
	run_real(reset_main, NULL);
	EXPECT_TRAIL("s.upgraded s.closed:1006:");
	CL_EXPECT_INT(s_closed, 1);
}
END_TEST

static char perr_got[2][64];

static void *protocol_error_main(void *arg)
{
	static const char *frames[2] = {
		"\x81\x02hi",			     /* unmasked to a server */
		"\x81\x82\x00\x00\x00\x00\xc0\xaf", /* masked, not UTF-8 */
	};
	static const size_t lens[2] = { 4, 8 };
	struct cl_server *srv = serve();
	int fd;

	(void)arg;
	for (int i = 0; i < 2; i++) {
		fd = raw_upgrade(cl_server_port(srv), frames[i], lens[i]);
		read_until(fd, perr_got[i], sizeof perr_got[i], "", 0);
		close(fd);
		until(&s_closed, i + 1);
	}
	unserve(srv);
	return NULL;
}

/* A violation fails the connection (section 7.1.7): the server sends a
 * close with the code (1002 for an unmasked frame, 1007 for bad UTF-8),
 * closes the TCP connection, and closed() reports that code. */
START_TEST(test_ws_protocol_error_fails_connection)
{
	run_real(protocol_error_main, NULL);
	CL_EXPECT(memcmp(perr_got[0], "\x88\x02\x03\xea", 4) == 0,
		  "expected the server's close 88 02 03 ea (1002), got %02x "
		  "%02x",
		  (unsigned char)perr_got[0][0],
		  (unsigned char)perr_got[0][1]);
	CL_EXPECT(memcmp(perr_got[1], "\x88\x02\x03\xef", 4) == 0,
		  "expected the server's close 88 02 03 ef (1007)");
	EXPECT_TRAIL("s.upgraded s.closed:1002: s.upgraded s.closed:1007:");
}
END_TEST

static size_t bp_read;
static char bp_tail[16];

static void *backpressure_main(void *arg)
{
	struct cl_server *srv = serve();
	static char data[256 * 1024], chunk[65536];
	char hdr[10];
	size_t hl, want;
	int fd, tag = 42, size = 4096;
	ssize_t k;

	(void)arg;
	fd = raw_upgrade(cl_server_port(srv), NULL, 0);
	until(&nups, 1);
	/* Small kernel buffers: the transport's is what fills up. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	setsockopt(cl_transport_get_fd(cl_ws_transport(srv_ws)), SOL_SOCKET,
		   SO_SNDBUF, &size, sizeof size);
	cl_ws_set_arg(srv_ws, &tag);
	note("arg=%d transport=%s", *(int *)cl_ws_arg(srv_ws),
	     tf(cl_ws_transport(srv_ws) != NULL));
	memset(data, 'd', sizeof data);
	cl_ws_send(srv_ws, CL_WS_BINARY, data, sizeof data);
	/* A broadcast frame, built once. */
	hl = cl_ws_frame_header(hdr, CL_WS_TEXT, 4);
	memcpy(chunk, hdr, hl);
	memcpy(chunk + hl, "tail", 4);
	cl_ws_send_raw(srv_ws, chunk, hl + 4);
	note("buffered=%s", tf(cl_ws_buffered(srv_ws) > 64 * 1024));
	want = 10 + sizeof data + 6;
	while (bp_read < want && (k = cl_sock_recv(fd, chunk, sizeof chunk)) > 0) {
		if (bp_read + (size_t)k == want)
			memcpy(bp_tail, chunk + k - 6, 6);
		bp_read += (size_t)k;
	}
	until(&s_drains, 1);
	note("buffered=%zu", cl_ws_buffered(srv_ws));
	close(fd);
	until(&s_closed, 1);
	unserve(srv);
	return NULL;
}

/* The write buffer is the send queue: cl_ws_buffered shows a big send
 * waiting for a peer that does not read, drain() comes when it has
 * read; a pre-built frame goes out as it is (cl_ws_send_raw). */
START_TEST(test_ws_buffered_drain_and_raw_frames)
{
	run_real(backpressure_main, NULL);
	EXPECT_TRAIL("s.upgraded arg=42 transport=True buffered=True s.drain "
		     "buffered=0 s.closed:1006:");
	CL_EXPECT_INT(bp_read, 10 + 256 * 1024 + 6);
	CL_EXPECT(memcmp(bp_tail, "\x81\x04tail", 6) == 0,
		  "expected the raw frame 81 04 tail last");
}
END_TEST

static void *send_checks_main(void *arg)
{
	static const int ops[] = { CL_WS_CONT, CL_WS_CLOSE, 3, CL_WS_PING };
	static const size_t lens[] = { 1, 1, 1, 126 };
	static char x[126];
	struct cl_server *srv = serve();
	struct cl_ws *volatile ws;

	(void)arg;
	ws = cl_ws_connect("127.0.0.1", cl_server_port(srv), "/", &cli_ops,
			   NULL, NULL);
	for (int i = 0; i < 4; i++) {
		CL_TRY {
			cl_ws_send(ws, ops[i], x, lens[i]);
			note("sent");
		} CL_CATCH(e) {
			note("%s", cl_exc_name(e));
			cl_exc_decref(e);
		} CL_END_TRY;
	}
	CL_TRY {
		cl_ws_close(ws, 1005 + 1, NULL);
		note("closed");
	} CL_CATCH(e) {
		note("%s", cl_exc_name(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_ws_send(ws, CL_WS_PONG, x, 125);
	cl_ws_send(ws, CL_WS_TEXT, "x", 1);
	until(&c_msgs, 1);
	cl_ws_close(ws, CL_WS_NO_STATUS, NULL);
	until(&c_closed, 1);
	until(&s_closed, 1);
	unserve(srv);
	return NULL;
}

/* cl_ws_send refuses CONT, CLOSE and unknown opcodes and control frames
 * over 125 bytes (ValueError), and cl_ws_close a code no frame may
 * carry; a close without a code is reported as 1005 on both sides. */
START_TEST(test_ws_send_checks_and_close_without_code)
{
	run_real(send_checks_main, NULL);
	EXPECT_NOTED("ValueError ValueError ValueError ValueError ValueError");
	EXPECT_NOTED("c.msg:1:1:x");
	EXPECT_NOTED("s.closed:1005:");
	EXPECT_NOTED("c.closed:1005:");
}
END_TEST

/* ---- an independent peer: Python's websockets ----------------------------- */

static const char py_client[] =
	"import asyncio, sys\n"
	"import websockets\n"
	"async def main():\n"
	"    url = 'ws://127.0.0.1:%s/chat' % sys.argv[1]\n"
	"    async with websockets.connect(url, max_size=None) as ws:\n"
	"        await ws.send('h\\u00e9llo')\n"
	"        print('text', await ws.recv())\n"
	"        await ws.send(b'\\x00\\x01\\xff')\n"
	"        print('bin', (await ws.recv()).hex())\n"
	"        big = bytes(range(256)) * 1024\n"
	"        await ws.send(big)\n"
	"        print('big', (await ws.recv()) == big)\n"
	"        await ws.send(['frag', 'ment'])\n"
	"        print('frag', await ws.recv())\n"
	"        await (await ws.ping(b'p'))\n"
	"        print('pong')\n"
	"        await ws.close(4000, 'done')\n"
	"        print('close', ws.close_code)\n"
	"asyncio.run(main())\n";

static char py_out[1024];
static int py_status = -1;

static void *python_main(void *arg)
{
	extern char **environ;
	struct cl_server *srv = serve();
	posix_spawn_file_actions_t fa;
	char port[16];
	/* argv[0] a full path: Python finds its prefix from it, and a
	 * "python3" of another installation on PATH would mislead it. */
	char *argv[] = { "/usr/bin/python3", "-c", (char *)py_client, port,
			 NULL };
	int sv[2], st;
	size_t got = 0;
	ssize_t k;
	pid_t pid;

	(void)arg;
	snprintf(port, sizeof port, "%d", cl_server_port(srv));
	ck_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ==
		  0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 2);
	if (posix_spawn(&pid, "/usr/bin/python3", &fa, NULL, argv,
			environ) != 0)
		ck_abort_msg("cannot run /usr/bin/python3: %s",
			     strerror(errno));
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	cl_sock_nonblock(sv[0]);
	while (got + 1 < sizeof py_out &&
	       (k = cl_sock_recv(sv[0], py_out + got,
				 sizeof py_out - 1 - got)) > 0)
		got += (size_t)k;
	py_out[got] = '\0';
	close(sv[0]);
	waitpid(pid, &st, 0);
	py_status = st;
	until(&s_closed, 1);
	unserve(srv);
	return NULL;
}

/* Our server against an independent client, the websockets library
 * (python3-websockets, which make installs): echo of text, binary, a
 * 256 KiB message and a fragmented one, ping, and a close both agree
 * on. */
START_TEST(test_ws_python_websockets_client)
{
	run_real(python_main, NULL);
	CL_EXPECT(strstr(py_out, "No module named") == NULL,
		  "python3-websockets is missing: install it (make installs "
		  "it: sudo apt-get install python3-websockets): %s",
		  py_out);
	CL_EXPECT(WIFEXITED(py_status) && WEXITSTATUS(py_status) == 0,
		  "the Python client failed (status %d): %s", py_status,
		  py_out);
	CL_EXPECT_STR(py_out, "text h\xc3\xa9llo\nbin 0001ff\nbig True\n"
			      "frag fragment\npong\nclose 4000\n");
	EXPECT_NOTED("s.closed:4000:done");
}
END_TEST

static const char py_server[] =
	"import asyncio\n"
	"import websockets\n"
	"async def echo(ws):\n"
	"    async for m in ws:\n"
	"        await ws.send(m)\n"
	"async def main():\n"
	"    async with websockets.serve(echo, '127.0.0.1', 0,\n"
	"                                max_size=None) as srv:\n"
	"        print(srv.sockets[0].getsockname()[1], flush=True)\n"
	"        await asyncio.sleep(20)\n"
	"asyncio.run(main())\n";

static void *python_server_main(void *arg)
{
	extern char **environ;
	posix_spawn_file_actions_t fa;
	char *argv[] = { "/usr/bin/python3", "-c", (char *)py_server, NULL };
	static char data[100000];
	char line[256];
	struct cl_ws *ws;
	size_t got = 0;
	ssize_t k;
	pid_t pid;
	int sv[2];

	(void)arg;
	ck_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ==
		  0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 2);
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
		ck_abort_msg("cannot run /usr/bin/python3");
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	cl_sock_nonblock(sv[0]);
	while (got + 1 < sizeof line && memchr(line, '\n', got) == NULL &&
	       (k = cl_sock_recv(sv[0], line + got,
				 sizeof line - 1 - got)) > 0)
		got += (size_t)k;
	line[got] = '\0';
	if (atoi(line) <= 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		ck_abort_msg("the Python server did not start (is "
			     "python3-websockets installed? make installs "
			     "it): %s",
			     line);
	}
	ws = cl_ws_connect("127.0.0.1", atoi(line), "/", &cli_ops, NULL,
			   NULL);
	cl_ws_send(ws, CL_WS_TEXT, "h\xc3\xa9llo", 6);
	until(&c_msgs, 1);
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)(i % 253);
	cl_ws_send(ws, CL_WS_BINARY, data, sizeof data);
	until(&c_msgs, 2);
	note("intact=%s", tf(c_len == sizeof data &&
			     memcmp(c_msg, data, sizeof data) == 0));
	cl_ws_ping(ws, "pp", 2);
	cl_ws_send(ws, CL_WS_TEXT, "x", 1);
	until(&c_msgs, 3);
	cl_ws_close(ws, CL_WS_NORMAL, "bye");
	until(&c_closed, 1);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(sv[0]);
	return NULL;
}

/* Our client against an independent server, the websockets library's
 * echo: it must unmask what we send (text, 100 kB binary), answer our
 * ping, and echo our close (websockets echoes the reason too). */
START_TEST(test_ws_python_websockets_server)
{
	run_real(python_server_main, NULL);
	EXPECT_TRAIL("c.msg:1:6:h\xc3\xa9llo c.msg:2:100000: 00 01 02 03 04 "
		     "05 06 07 intact=True c.pong:pp c.msg:1:1:x "
		     "c.closed:1000:bye");
}
END_TEST

static void add_tests(void)
{
	cl_test(test_ws_accept_key_rfc_example, 2, SEC_HS);
	cl_test(test_ws_server_handshake_101, 1, SEC_HS);
	cl_test(test_ws_server_handshake_bad_key_400, 1, SEC_HS);
	cl_test(test_ws_server_reads_rest_after_request, 1, SEC_HS);
	cl_test(test_ws_client_handshake_checks, 2, SEC_HS);
	cl_test(test_ws_parse_rfc_hello, 2, SEC_FRAME);
	cl_test(test_ws_parse_rfc_fragments_and_ping, 2, SEC_FRAME);
	cl_test(test_ws_parse_rfc_lengths, 2, SEC_FRAME);
	cl_test(test_ws_parse_rsv_and_opcodes, 1, SEC_FRAME);
	cl_test(test_ws_parse_masking_rules, 1, SEC_FRAME);
	cl_test(test_ws_parse_control_rules, 1, SEC_FRAME);
	cl_test(test_ws_parse_fragment_rules, 1, SEC_FRAME);
	cl_test(test_ws_parse_length_limits, 1, SEC_FRAME);
	cl_test(test_ws_parse_utf8, 1, SEC_FRAME);
	cl_test(test_ws_parse_close_payload, 1, SEC_FRAME);
	cl_test(test_ws_parse_error_sticks_and_memory_bounded, 1, SEC_FRAME);
	cl_test(test_ws_frame_header_forms, 1, SEC_FRAME);
	cl_test(test_ws_echo_text_and_binary, 2, SEC_FRAME);
	cl_test(test_ws_large_message, 2, SEC_FRAME);
	cl_test(test_ws_ping_pong, 1, SEC_FRAME);
	cl_test(test_ws_buffered_drain_and_raw_frames, 1, SEC_FRAME);
	cl_test(test_ws_send_checks_and_close_without_code, 1, SEC_CLOSE);
	cl_test(test_ws_close_from_client, 2, SEC_CLOSE);
	cl_test(test_ws_close_from_server, 2, SEC_CLOSE);
	cl_test(test_ws_client_answers_close_then_times_out, 1, SEC_CLOSE);
	cl_test(test_ws_close_timeout_aborts, 1, SEC_CLOSE);
	cl_test(test_ws_peer_reset_mid_message, 1, SEC_CLOSE);
	cl_test(test_ws_protocol_error_fails_connection, 1, SEC_CLOSE);
	cl_test_timeout(test_ws_python_websockets_client, 2, SEC_CLOSE, 20);
	cl_test_timeout(test_ws_python_websockets_server, 2, SEC_CLOSE, 20);
}

CL_CHAPTER(8, "08-chat", "chat", add_tests)
