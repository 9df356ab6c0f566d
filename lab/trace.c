/*
 * trace.c - writing trace events, one line each.
 *
 * Two things matter here: tracing must be cheap enough to leave on, and
 * the trace of a test that crashes or hangs must survive it.
 *
 * Cheap. The tracer is a buffer (CL__TRACE_BUFSIZE bytes) and a few
 * numbers: the sequence counter, and the clock and iteration the loop last
 * told us. An event is formatted straight into the buffer, and the disk
 * sees one write(2) per buffer full. printf is general and pays for it
 * (flags, widths, locales: more than the rest of a scheduler step costs),
 * while the events use a handful of conversions (%d %ld %lu %llu %zu %s
 * and friends), so this file formats those itself and hands any other
 * format to vsnprintf. Each CL_TRACE call site parses its format once,
 * the first time it writes (struct cl__trace_site, trace.h).
 *
 * Surviving. What a process buffers, it loses when it dies. So the buffer
 * may live in memory someone else can read: the grader maps one per test,
 * shared, before the test's process is forked, and hands it over with
 * cl__trace_buffer. If the test dies (a crash, or the SIGKILL of a
 * timeout), the grader writes what is left in it to the trace file. A
 * program on its own keeps its buffer in its heap; exit writes it out,
 * and so do cl_trace_flush and the end of every loop run.
 *
 * Several processes. A program of several processes (chapter 08's chat
 * runs one loop per worker) leaves one trace per process, and cotrace
 * draws them on one time axis. For that each trace needs its own file
 * (COROLAB_TRACE=chat-%p.trace: %p is the pid) and the instant its ts
 * count from, on clocks every process shares: the origin line, after
 * the header of a monotonic run (origin_line below).
 *
 * See trace.h for the format and for when recording is on.
 */
#define _GNU_SOURCE /* program_invocation_short_name */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"

/* 64 KiB: a thousand events per write(2). */
#define CL__TRACE_BUFSIZE (1 << 16)

/* The longest event line; a longer one is cut short (its end lost). */
#define CL__TRACE_EVENT_MAX 2048

/*
 * The flag CL_TRACE tests. It is outside the struct below, so that the
 * test compiles to one load and one compare, and it is the thread's own:
 * only the thread running the traced loop records (chapter 07's pool
 * threads see 0 and record nothing, so the tracer needs no lock).
 */
_Thread_local int cl__trace_enabled;

/*
 * The tracer's state. Only this file touches it, always from the thread
 * running the loop.
 */
static struct {
	int fd;			 /* the trace file, -1 when none is open */
	char *path;		 /* its name, for error messages */
	struct cl_trace_buf *buf; /* events not yet written to fd */
	size_t cap;		 /* bytes of buf->data */
	int own_buf;		 /* buf is ours (malloc), not lent */
	long seq;		 /* the last seq written: counts for the process */
	uint64_t now_us;	 /* set by cl__trace_clock, stamped on events */
	uint64_t iteration;	 /* ditto */
	char seq_text[24];	 /* seq in decimal, kept counting (next_seq) */
	size_t seq_len;
	char stamp[64];		 /* " <ts> <it> " for the events to come
				    (and 16 spare bytes: put_text) */
	size_t stamp_len;	 /* 0: to be written again */
	int in_loop;		 /* between loop_start and loop_end */
	int virtual_clock;	 /* what the running loop's clock is */
	int env_tried;		 /* COROLAB_TRACE was looked at already */
	pthread_t owner;	 /* the thread whose loop is traced (while
				    in_loop) */
	int hooked;		 /* the atexit and atfork hooks are set */
	int per_process;	 /* the file's name had a %p: one trace per
				    process, each with its origin */
	int env_pattern;	 /* ... and came from COROLAB_TRACE: a forked
				    child opens a file of its own */
	int origin_due;		 /* the origin line is to be written at the
				    loop's next clock reading */
} tr = { .fd = -1 };

/* Recording is on exactly when there is a file and a loop is running. */
static void update_enabled(void)
{
	cl__trace_enabled = tr.fd >= 0 && tr.in_loop;
}

/*
 * A trace that silently stops is worse than none: the reader would take a
 * full disk for a program that stopped. So a failed write is reported
 * once, and the file closed (what was written stays).
 */
static void fail(int err)
{
	fprintf(stderr, "corolab: trace: writing %s failed: %s\n", tr.path,
		strerror(err));
	close(tr.fd);
	tr.fd = -1;
	update_enabled();
}

/* write(2) all that is buffered, then start the buffer over. */
static int drain(void)
{
	size_t done = 0, len = tr.buf->len;
	ssize_t n;

	while (done < len) {
		n = write(tr.fd, tr.buf->data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail(errno);
			return -1;
		}
		done += (size_t)n;
	}
	tr.buf->len = 0;
	return 0;
}

/* Room for one more event at the buffer's end, or -1 (the tracer
 * stopped). */
static int reserve(void)
{
	if (tr.buf->len + CL__TRACE_EVENT_MAX <= tr.cap)
		return 0;
	return drain();
}

/* Is the origin line wanted: a trace named per process (%p), or
 * COROLAB_TRACE_ORIGIN=1. Only a real clock has one: a virtual clock's
 * time is the test's, no other process's. */
static int origin_wanted(void)
{
	const char *env = getenv("COROLAB_TRACE_ORIGIN");

	if (tr.virtual_clock)
		return 0;
	return tr.per_process ||
	       (env != NULL && *env != '\0' && strcmp(env, "0") != 0);
}

static void write_header(void)
{
	if (reserve() < 0)
		return;
	tr.buf->len += (size_t)snprintf(
	    tr.buf->data + tr.buf->len, CL__TRACE_EVENT_MAX,
	    "# corolab-trace 1 clock=%s unit=us\n",
	    tr.virtual_clock ? "virtual" : "monotonic");
	tr.origin_due = origin_wanted();
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The origin line, for merging the traces of several processes:
 *
 *	# corolab-origin pid=4242 monotonic_ns=81234567890000
 *	  realtime_ns=1717171717123456789 name=chatd	(one line)
 *
 * monotonic_ns and realtime_ns are the instant at which this run's ts
 * is 0, on CLOCK_MONOTONIC (shared by the processes of one machine)
 * and CLOCK_REALTIME (shared, as well as NTP keeps it, between
 * machines); so an event happened at monotonic_ns + 1000 * ts. The
 * loop's clock counts from its own start, which the tracer does not
 * see: it reads both clocks now, as the loop tells it its time, and
 * subtracts (a few microseconds off at most). name is COROLAB_TRACE_NAME
 * or the program's name, cut to [A-Za-z0-9._-]. It is a comment to a
 * reader that does not know it, so old readers read the trace as before.
 */
static void origin_line(void)
{
	int64_t back = (int64_t)tr.now_us * 1000;
	const char *name = getenv("COROLAB_TRACE_NAME");
	char safe[33];
	size_t n = 0;

	tr.origin_due = 0;
	if (name == NULL || *name == '\0')
		name = program_invocation_short_name;
	for (; name != NULL && name[n] != '\0' && n < sizeof safe - 1; n++)
		safe[n] = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
				 "QRSTUVWXYZ0123456789._-", name[n]) != NULL
			      ? name[n]
			      : '_';
	safe[n] = '\0';
	if (reserve() < 0)
		return;
	tr.buf->len += (size_t)snprintf(
	    tr.buf->data + tr.buf->len, CL__TRACE_EVENT_MAX,
	    "# corolab-origin pid=%ld monotonic_ns=%lld realtime_ns=%lld "
	    "name=%s\n",
	    (long)getpid(), (long long)(clock_ns(CLOCK_MONOTONIC) - back),
	    (long long)(clock_ns(CLOCK_REALTIME) - back),
	    n > 0 ? safe : "-");
}

/*
 * In a child made by fork: the file and a lent buffer are the parent's.
 * The child lets go of them without writing (the parent writes what is
 * buffered), and does not trace.
 */
static void forget(void)
{
	if (tr.fd < 0)
		return;
	close(tr.fd);
	tr.fd = -1;
	if (tr.own_buf)
		free(tr.buf);
	tr.buf = NULL;
	free(tr.path);
	tr.path = NULL;
	/* A file named per process: the child traces to one of its own,
	 * from its next loop run. */
	if (tr.env_pattern)
		tr.env_tried = 0;
	tr.per_process = tr.env_pattern = 0;
	update_enabled();
}

int cl__trace_buffer(struct cl_trace_buf *buf, size_t size)
{
	if (tr.fd >= 0 || size < sizeof *buf + 2 * CL__TRACE_EVENT_MAX)
		return -EINVAL;
	buf->len = 0;
	tr.buf = buf;
	tr.cap = size - sizeof *buf;
	tr.own_buf = 0;
	return 0;
}

/* path with each %p replaced by the pid, in malloc'd memory, or NULL. */
static char *expand_pid(const char *path)
{
	char pid[24], *out, *q;
	size_t n = 0, plen;
	const char *p;

	plen = (size_t)snprintf(pid, sizeof pid, "%ld", (long)getpid());
	for (p = path; (p = strstr(p, "%p")) != NULL; p += 2)
		n++;
	out = malloc(strlen(path) + n * plen + 1);
	if (out == NULL)
		return NULL;
	for (p = path, q = out; *p != '\0';) {
		if (p[0] == '%' && p[1] == 'p') {
			memcpy(q, pid, plen);
			q += plen;
			p += 2;
		} else {
			*q++ = *p++;
		}
	}
	*q = '\0';
	return out;
}

int cl_trace_open(const char *path)
{
	char *copy;
	int fd;

	if (path == NULL || *path == '\0')
		return -EINVAL;
	cl_trace_close();
	if (tr.buf == NULL) {
		tr.buf = malloc(sizeof *tr.buf + CL__TRACE_BUFSIZE);
		if (tr.buf == NULL)
			return -ENOMEM;
		tr.buf->len = 0;
		tr.cap = CL__TRACE_BUFSIZE;
		tr.own_buf = 1;
	}
	copy = expand_pid(path);
	if (copy == NULL)
		return -ENOMEM;
	fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fd = -errno;
		free(copy);
		return fd;
	}
	tr.fd = fd;
	tr.path = copy;
	tr.per_process = strstr(path, "%p") != NULL;
	tr.buf->len = 0;
	if (!tr.hooked) {
		atexit(cl_trace_close);
		pthread_atfork(NULL, NULL, forget);
		tr.hooked = 1;
	}
	/* Opened while a loop runs: this run starts here. */
	if (tr.in_loop)
		write_header();
	update_enabled();
	return 0;
}

void cl_trace_close(void)
{
	cl_trace_flush();
	if (tr.fd >= 0)
		close(tr.fd);
	tr.fd = -1;
	free(tr.path);
	tr.path = NULL;
	update_enabled();
}

void cl_trace_flush(void)
{
	if (tr.fd >= 0)
		drain();
}

void cl__trace_clock(uint64_t now_us, uint64_t iteration)
{
	if (!cl__trace_enabled) /* not recording, or not this thread's */
		return;
	tr.now_us = now_us;
	tr.iteration = iteration;
	tr.stamp_len = 0;
	if (__builtin_expect(tr.origin_due, 0))
		origin_line();
}

void cl__trace_loop_start(int virtual_clock)
{
	const char *env;
	int rc;

	/* One loop at a time is traced: a loop another thread runs
	 * meanwhile (a pool thread's own) is not. */
	if (tr.in_loop && !pthread_equal(tr.owner, pthread_self()))
		return;
	tr.owner = pthread_self();
	/* The environment variable is read once per process: a second
	 * loop must append its run to the file, not truncate it. */
	if (tr.fd < 0 && !tr.env_tried) {
		tr.env_tried = 1;
		env = getenv("COROLAB_TRACE");
		if (env != NULL && *env != '\0' &&
		    (rc = cl_trace_open(env)) < 0)
			fprintf(stderr, "corolab: trace: cannot open %s: %s\n",
				env, strerror(-rc));
		tr.env_pattern = tr.fd >= 0 && tr.per_process;
	}
	tr.in_loop = 1;
	tr.virtual_clock = virtual_clock;
	tr.now_us = 0;
	tr.iteration = 0;
	tr.stamp_len = 0;
	if (tr.fd >= 0)
		write_header();
	update_enabled();
}

void cl__trace_loop_end(void)
{
	if (!tr.in_loop || !pthread_equal(tr.owner, pthread_self()))
		return;
	/* loop.end tells a reader that the run is complete: a run without
	 * it was cut short (the program died inside the loop). */
	if (cl__trace_enabled)
		cl__trace("loop.end", NULL);
	tr.in_loop = 0;
	update_enabled();
	cl_trace_flush();
}

/* Decimal digits of v, written backwards from end, two at a time (a
 * division costs more than a table look-up); returns the start. */
static char *digits(char *end, unsigned long long v)
{
	static const char pairs[] = "00010203040506070809"
				    "10111213141516171819"
				    "20212223242526272829"
				    "30313233343536373839"
				    "40414243444546474849"
				    "50515253545556575859"
				    "60616263646566676869"
				    "70717273747576777879"
				    "80818283848586878889"
				    "90919293949596979899";

	while (v >= 100) {
		end -= 2;
		memcpy(end, pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10) {
		end -= 2;
		memcpy(end, pairs + 2 * v, 2);
	} else {
		*--end = (char)('0' + v);
	}
	return end;
}

/*
 * v in decimal at p; returns the end. Counting the digits first lets
 * digits() write them in place. A number of b bits has about b * log10(2)
 * digits, and 1233 / 4096 is log10(2) to four places: that gives the
 * count or one more, and one comparison with a power of ten settles it.
 */
static char *put_unsigned(char *p, unsigned long long v)
{
	static const unsigned long long pow10[20] = {
		1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
		10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL,
		100000000000ULL, 1000000000000ULL, 10000000000000ULL,
		100000000000000ULL, 1000000000000000ULL,
		10000000000000000ULL, 100000000000000000ULL,
		1000000000000000000ULL, 10000000000000000000ULL
	};
	int t = ((64 - __builtin_clzll(v | 1)) * 1233) >> 12;
	int n = t + 1 - ((v | 1) < pow10[t]);

	digits(p + n, v);
	return p + n;
}

/* v in decimal at p, a '-' first if negative; returns the end. */
static char *put_signed(char *p, long long v)
{
	if (v < 0) {
		*p++ = '-';
		return put_unsigned(p, -(unsigned long long)v);
	}
	return put_unsigned(p, (unsigned long long)v);
}

/*
 * A site's format, parsed: literal pieces, each followed by one of these
 * conversions. The tracer formats %d %i %u %c %s %% itself, bare or with
 * l, ll, z or j: the conversions events use. Flags, widths, precisions and
 * other conversions make the site use vsnprintf.
 */
enum {
	CV_NONE, /* the literal ends the format, or holds the % of %% */
	CV_INT, CV_LONG, CV_LLONG, CV_SSIZE, CV_INTMAX,
	CV_UINT, CV_ULONG, CV_ULLONG, CV_SIZE, CV_UINTMAX,
	CV_CHAR, CV_STR
};

/* The conversion at f (just after its %), or -1; *len its length. */
static int conversion(const char *f, int *len)
{
	int size = 0; /* 0 plain, 1 l, 2 ll, 3 z, 4 j */

	if (f[0] == 'l' && f[1] == 'l')
		size = 2;
	else if (f[0] == 'l')
		size = 1;
	else if (f[0] == 'z')
		size = 3;
	else if (f[0] == 'j')
		size = 4;
	*len = 1 + (size == 2 ? 2 : size != 0);
	switch (f[*len - 1]) {
	case 'd':
	case 'i':
		return CV_INT + size;
	case 'u':
		return CV_UINT + size;
	case 'c':
		return size == 0 ? CV_CHAR : -1;
	case 's':
		return size == 0 ? CV_STR : -1;
	default:
		return -1;
	}
}

/*
 * Parse site->fmt into its pieces, once; returns site->parsed (-1 for
 * vsnprintf, or no fields at all when fmt is NULL). The
 * event's name and the literal text are copied into site->text, with 16
 * bytes to spare at the end, so that put_text can copy a short piece as
 * one 16-byte move.
 */
static int parse(struct cl__trace_site *site)
{
	const char *fmt = site->fmt, *lit = fmt, *f = fmt;
	size_t used, room = sizeof site->text - 16;
	unsigned fixed = 16, n = 0; /* put_text writes up to 16 too many */
	int conv, len;

	site->parsed = -1;
	site->event_len = (unsigned char)strnlen(site->event, 64);
	used = site->event_len;
	if (fmt == NULL || used > room)
		return -1;
	memcpy(site->text, site->event, used);
	for (;;) {
		if (*f != '%' && *f != '\0') {
			f++;
			continue;
		}
		/* the literal, and the first % of a %% */
		len = (int)(f - lit) + (f[0] == '%' && f[1] == '%');
		if (n > CL__TRACE_PIECES || used + (size_t)len > room)
			return -1;
		site->piece[n].off = (unsigned char)used;
		site->piece[n].len = (unsigned char)len;
		memcpy(site->text + used, lit, (size_t)len);
		used += (size_t)len;
		fixed += (unsigned)len;
		if (*f == '\0') {
			site->piece[n++].conv = CV_NONE;
			break;
		}
		if (f[1] == '%') {
			site->piece[n++].conv = CV_NONE;
			lit = f = f + 2;
			continue;
		}
		conv = conversion(f + 1, &len);
		if (conv < 0)
			return -1;
		site->piece[n++].conv = (unsigned char)conv;
		fixed += conv == CV_CHAR ? 1 : conv == CV_STR ? 0 : 20;
		lit = f = f + 1 + len;
	}
	site->npieces = (unsigned char)n;
	site->fixed = (unsigned short)fixed;
	return site->parsed = 1;
}

/* len bytes of s at p; returns the end. Short pieces go as one 16-byte
 * move: s has 16 bytes to read (site->text's spare), and what lands
 * past the end at p is overwritten by what comes next. */
static inline char *put_text(char *p, const char *s, size_t len)
{
	if (len <= 16)
		memcpy(p, s, 16); /* a constant size: two moves, no call */
	else
		memcpy(p, s, len);
	return p + len;
}

/*
 * The fields, from the site's pieces, at p; NULL if they do not fit
 * before end (then vsnprintf cuts them short). Room is checked once for
 * everything but the strings: site->fixed is the most the literals and
 * numbers can take.
 */
static char *put_fields(char *p, char *end, const struct cl__trace_site *site,
			va_list ap)
{
	const char *s;
	size_t n;

	if ((size_t)(end - p) < site->fixed)
		return NULL;
	for (int i = 0; i < site->npieces; i++) {
		p = put_text(p, site->text + site->piece[i].off,
			     site->piece[i].len);
		switch (site->piece[i].conv) {
		case CV_NONE:
			break;
		case CV_INT:
			p = put_signed(p, va_arg(ap, int));
			break;
		case CV_LONG:
			p = put_signed(p, va_arg(ap, long));
			break;
		case CV_LLONG:
			p = put_signed(p, va_arg(ap, long long));
			break;
		case CV_SSIZE:
			p = put_signed(p, va_arg(ap, ssize_t));
			break;
		case CV_INTMAX:
			p = put_signed(p, va_arg(ap, intmax_t));
			break;
		case CV_UINT:
			p = put_unsigned(p, va_arg(ap, unsigned));
			break;
		case CV_ULONG:
			p = put_unsigned(p, va_arg(ap, unsigned long));
			break;
		case CV_ULLONG:
			p = put_unsigned(p, va_arg(ap, unsigned long long));
			break;
		case CV_SIZE:
			p = put_unsigned(p, va_arg(ap, size_t));
			break;
		case CV_UINTMAX:
			p = put_unsigned(p, va_arg(ap, uintmax_t));
			break;
		case CV_CHAR:
			*p++ = (char)va_arg(ap, int);
			break;
		case CV_STR:
			s = va_arg(ap, const char *);
			if (s == NULL)
				s = "(null)";
			n = strlen(s);
			if (n > (size_t)(end - p) - site->fixed)
				return NULL;
			memcpy(p, s, n);
			p += n;
			break;
		}
	}
	return p;
}

/*
 * Every event starts with its seq, one more than the last: counting in
 * decimal text, carrying by hand, costs less than converting a number.
 * Writes the new seq at p and returns the end.
 */
static char *next_seq(char *p)
{
	size_t i = tr.seq_len;

	tr.seq++;
	while (i > 0 && tr.seq_text[i - 1] == '9')
		tr.seq_text[--i] = '0';
	if (i > 0) {
		tr.seq_text[i - 1]++;
	} else { /* 9...9 + 1, or the first event: write it out */
		tr.seq_len = (size_t)(put_unsigned(tr.seq_text,
						   (unsigned long long)tr.seq) -
				      tr.seq_text);
	}
	memcpy(p, tr.seq_text, tr.seq_len);
	return p + tr.seq_len;
}

/* The clock and iteration change less often than events are written:
 * write them once per change. */
static void write_stamp(void)
{
	char *p = tr.stamp;

	*p++ = ' ';
	p = put_unsigned(p, tr.now_us);
	*p++ = ' ';
	p = put_unsigned(p, tr.iteration);
	*p++ = ' ';
	tr.stamp_len = (size_t)(p - tr.stamp);
}

/*
 * One event of site: "<seq> <ts> <it> <event> <fields>\n". ap holds the
 * arguments; again is a copy of it for vsnprintf, should the fields need
 * it.
 */
static long emit(struct cl__trace_site *site, va_list ap, va_list again)
{
	char *line, *p, *end, *fields;
	int len;

	if (tr.fd < 0 || reserve() < 0)
		return 0;
	if (site->parsed == 0)
		parse(site);
	line = p = tr.buf->data + tr.buf->len;
	end = line + CL__TRACE_EVENT_MAX - 1; /* room for the newline */
	p = next_seq(p);
	if (tr.stamp_len == 0)
		write_stamp();
	p = put_text(p, tr.stamp, tr.stamp_len);
	if (site->parsed > 0) {
		p = put_text(p, site->text, site->event_len);
	} else {
		memcpy(p, site->event, site->event_len);
		p += site->event_len;
	}
	if (site->fmt != NULL && site->fmt[0] != '\0') {
		*p++ = ' ';
		fields = p;
		p = site->parsed > 0 ? put_fields(fields, end, site, ap) : NULL;
		if (p == NULL) {
			len = vsnprintf(fields, (size_t)(end - fields),
					site->fmt, again);
			p = fields + (len < 0 ? 0
				      : len < end - fields ? len
							   : end - fields - 1);
		}
	}
	*p++ = '\n';
	tr.buf->len += (size_t)(p - line);
	return tr.seq;
}

long cl__trace_at(struct cl__trace_site *site, const char *fmt, ...)
{
	va_list ap, again;
	long seq;

	va_start(ap, fmt); /* fmt is the site's, again for gcc's check */
	va_copy(again, ap);
	seq = emit(site, ap, again);
	va_end(again);
	va_end(ap);
	return seq;
}

/*
 * The format attribute in trace.h lets gcc check callers; this definition
 * also accepts fmt == NULL (no fields), which only loop.end above uses, so
 * gcc's -Wformat-zero-length never sees an empty literal. The site is
 * this call's own, parsed for it alone: cl__trace is for rare events.
 */
long cl__trace(const char *event, const char *fmt, ...)
{
	struct cl__trace_site site = { .event = event, .fmt = fmt };
	va_list ap, again;
	long seq;

	va_start(ap, fmt);
	va_copy(again, ap);
	seq = emit(&site, ap, again);
	va_end(again);
	va_end(ap);
	return seq;
}

size_t cl__trace_escape(char *dst, size_t size, const char *src)
{
	static const char plain[] = "\"\\\n\t\r";
	static const char named[] = "\"\\ntr";
	const unsigned char *s = (const unsigned char *)src;
	char buf[5];
	size_t len = 0, n;
	const char *p;

	if (size == 0)
		return 0;
	for (; *s != '\0'; s++) {
		p = strchr(plain, *s);
		if (p != NULL)
			n = (size_t)snprintf(buf, sizeof(buf), "\\%c",
					     named[p - plain]);
		else if (*s < 0x20 || *s == 0x7f)
			/* Three octal digits, never fewer: "\0011" is
			 * unambiguous where "\x11" followed by 1 is not. */
			n = (size_t)snprintf(buf, sizeof(buf), "\\%03o", *s);
		else
			buf[0] = (char)*s, buf[1] = '\0', n = 1;
		if (len + n >= size)
			break; /* cut before an escape, never inside one */
		memcpy(dst + len, buf, n);
		len += n;
	}
	dst[len] = '\0';
	return len;
}
