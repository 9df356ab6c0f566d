/*
 * capture.h - what a program prints, as a string, for chapter 09's tests.
 *
 * Chapter 09's tools print their reports on stderr (loop->err), from the
 * loop's thread or from the watchdog's; the planted programs print on
 * stdout. capture_begin(fd) points fd (1 or 2) at a fresh temporary file;
 * capture_end(fd) flushes, puts fd back and returns what was written
 * there (up to CAPTURE_MAX bytes; a static buffer per fd, valid until
 * the next capture of that fd). Tests run forked, so the descriptors are
 * the test's own.
 */
#ifndef CL_CAPTURE_H
#define CL_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CAPTURE_MAX 65536

static int capture_saved[3] = { -1, -1, -1 };
static FILE *capture_file[3];
static char capture_text[3][CAPTURE_MAX];

static inline void capture_begin(int fd)
{
	fflush(fd == 1 ? stdout : stderr);
	capture_file[fd] = tmpfile();
	if (capture_file[fd] == NULL) {
		perror("tmpfile");
		abort();
	}
	capture_saved[fd] = dup(fd);
	dup2(fileno(capture_file[fd]), fd);
}

static inline const char *capture_end(int fd)
{
	size_t n;

	fflush(fd == 1 ? stdout : stderr);
	dup2(capture_saved[fd], fd);
	close(capture_saved[fd]);
	rewind(capture_file[fd]);
	n = fread(capture_text[fd], 1, CAPTURE_MAX - 1, capture_file[fd]);
	capture_text[fd][n] = '\0';
	fclose(capture_file[fd]);
	return capture_text[fd];
}

/* How many times needle occurs in s. */
static inline int count_of(const char *s, const char *needle)
{
	int n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += strlen(needle);
	}
	return n;
}

#endif
