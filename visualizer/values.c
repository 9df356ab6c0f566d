/*
 * values.c - reading one value of a field: a number, a reference, a word
 * from a closed set, a quoted string (see values.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "values.h"

/*
 * A decimal integer, all of s, within [lo, hi]. strtoll alone would take
 * " 12", "12abc" (stopping early) and "+12"; the format has none of these.
 */
int parse_num(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	const char *p = s;
	char *end;
	long long v;

	if (*p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static const char *ref_words[] = {
    [REF_SPAWN] = "spawn",   [REF_LOOP] = "loop",   [REF_TASK] = "task",
    [REF_FUT] = "fut",	     [REF_TIMER] = "timer", [REF_FD] = "fd",
    [REF_CANCEL] = "cancel",
};

/* "kind", "kind:N" or "kind:N:WORD" (fd:5:IN). */
int parse_ref(const char *s, struct ref *ref)
{
	char word[16];
	size_t n = strcspn(s, ":");
	int64_t id = 0;
	char num[24];
	const char *rest;
	size_t k;

	if (n == 0 || n >= sizeof(word))
		return -1;
	memcpy(word, s, n);
	word[n] = '\0';
	for (k = 0; k < n; k++)
		if (!islower((unsigned char)word[k]))
			return -1;
	ref->kind = REF_OTHER;
	for (k = REF_SPAWN; k <= REF_CANCEL; k++)
		if (strcmp(word, ref_words[k]) == 0)
			ref->kind = (enum ref_kind)k;
	if (s[n] == ':') {
		rest = s + n + 1;
		k = strcspn(rest, ":");
		if (k == 0 || k >= sizeof(num))
			return -1;
		memcpy(num, rest, k);
		num[k] = '\0';
		if (parse_num(num, 0, 1L << 40, &id) < 0)
			return -1;
		if (rest[k] == ':' && rest[k + 1] == '\0')
			return -1; /* "fd:5:" */
	} else if (ref->kind != REF_SPAWN && ref->kind != REF_LOOP &&
		   ref->kind != REF_OTHER) {
		return -1; /* "task" without its number */
	}
	ref->id = (long)id;
	ref->text = NULL;
	return 0;
}

int parse_result(const char *s, enum step_result *out)
{
	static const char *names[] = {"pending", "done", "raised", "cancelled"};
	for (size_t i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return *out = (enum step_result)i, 0;
	return -1;
}

int parse_state(const char *s, enum fut_state *out)
{
	static const char *names[] = {"", "ok", "exc", "cancelled"};
	for (size_t i = 1; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return *out = (enum fut_state)i, 0;
	return -1;
}

/* Say what is wrong with a quoted string, and fail. */
static int bad(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return -1;
}

int unquote(char *p, char **end, char *err, size_t size)
{
	char *w = p;
	int v, k;

	for (;;) {
		if (*p == '\0')
			return bad(err, size,
				   "unterminated string (no closing %c)", '"');
		if (*p == '"')
			break;
		if (*p != '\\') {
			*w++ = *p++;
			continue;
		}
		p++;
		/* clang-format off */
		switch (*p) {
		case 'n': v = '\n', p++; break;
		case 't': v = '\t', p++; break;
		case 'r': v = '\r', p++; break;
		case 'a': v = '\a', p++; break;
		case 'b': v = '\b', p++; break;
		case 'f': v = '\f', p++; break;
		case 'v': v = '\v', p++; break;
		case '\\': case '"': case '\'': case '?': v = *p++; break;
		case 'x':
			p++;
			for (v = 0, k = 0; k < 2 && isxdigit((unsigned char)*p);
			     k++, p++)
				v = v * 16 + (isdigit((unsigned char)*p)
						      ? *p - '0'
						      : tolower(*p) - 'a' + 10);
			if (k == 0)
				return bad(err, size, "bad escape \\x %s",
					   "without digits");
			break;
		default:
			if (*p < '0' || *p > '7')
				return bad(err, size,
					   "bad escape '\\%c' in string",
					   isprint((unsigned char)*p) ? *p
								      : '?');
			for (v = 0, k = 0; k < 3 && *p >= '0' && *p <= '7';
			     k++, p++)
				v = v * 8 + (*p - '0');
			break;
		}
		/* clang-format on */
		if (v == 0 || v > 255)
			return bad(err, size, "escape \\%o: a NUL or over 255",
				   v);
		*w++ = (char)v;
	}
	*end = p + 1;
	*w = '\0';
	return 0;
}

/* How long the UTF-8 sequence at p is, if it is well formed, else 0:
 * no overlong form, no surrogate, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *p)
{
	unsigned c = p[0];
	size_t n, i;
	unsigned long v;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, v = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, v = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, v = c & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10ffff)) ||
	    (v >= 0xd800 && v <= 0xdfff))
		return 0;
	return n;
}

size_t utf8_clean(const char *s, char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, n;

	while (*p != '\0') {
		if ((n = utf8_len(p)) > 0) {
			memcpy(out + o, p, n);
			o += n, p += n;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3); /* U+FFFD */
			o += 3, p++;
		}
	}
	out[o] = '\0';
	return o;
}

const char *ref_str(const struct ref *r)
{
	return r->kind == REF_NONE || r->text == NULL ? "" : r->text;
}

const char *result_str(enum step_result r)
{
	static const char *names[] = {"pending", "done", "raised", "cancelled"};
	return names[r];
}

const char *state_str(enum fut_state s)
{
	static const char *names[] = {"", "ok", "exc", "cancelled"};
	return names[s];
}
