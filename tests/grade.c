/*
 * grade.c - run the chapters' Check suites and score them.
 *
 *	grade [-c N[,N...]] [-j results.json] [-t DIR [-v COTRACE]] [-q] [-m]
 *
 *	-c	grade only these chapters (default: every chapter linked in)
 *	-j	write the Gradescope autograder results to this file
 *	-t	record each test's scheduler trace in DIR/<test>.trace and
 *		keep it when the test fails (chapter 03 on: the tracer is
 *		the loop's), so a student can see what their loop did
 *	-v	the cotrace program: render a failed test's trace as
 *		DIR/<test>.svg, a timeline
 *	-q	quiet: no failure details, only the table
 *	-m	machine-readable table: one line "chapter N passed P failed F"
 *		per chapter, read by the kit's self-test (tests/kit/selftest.sh)
 *	-l	write each test's verdict to FILE, a line "NAME pass" or
 *		"NAME fail WHAT": the sanitizer run of make grade, whose
 *		WHAT names the sanitizer's finding and where (below)
 *	-S	the sanitized grader (make grade builds it): run it, with -t
 *		DIR/san, -l and -o, on the tests that passed here; a test
 *		that failed there with a sanitizer's finding fails. Needs -t.
 *	-o	run only the tests named in FILE, one per line
 *	-h	FILE, the lab's log of hints taken (make hint): count them per
 *		chapter under the table and in the JSON's extra_data
 *
 * Every test gets a TCase of its own, named after the test, so Check runs
 * it in a forked child with its own timeout. A test that crashes or never
 * returns fails alone; the grader goes on. Check's environment variables
 * work as usual: CK_FORK=no runs the tests in this process (for gdb),
 * CK_RUN_CASE=test_name runs one test, CK_DEFAULT_TIMEOUT and
 * CK_TIMEOUT_MULTIPLIER change the timeouts.
 *
 * The steps:
 *	1. the constructors of the linked test files have registered each
 *	   chapter and its tests (grade.h);
 *	2. build one Suite per chapter to grade, one TCase per test;
 *	3. run them silently, flushing stdout first so that nothing buffered
 *	   is printed twice by the forked children;
 *	4. match each result back to its test, print failures Pintos-style
 *	   (what was expected, what happened, what to reread), the points
 *	   table, and the JSON file.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "grade.h"
#include "trace.h"

#define MAX_CHAPTERS 16
#define MAX_TESTS 160 /* a chapter's; chapter 07 has about 100 */
#define TIMEOUT_SECONDS 5

struct test {
	const TTest *t;
	int index; /* its run index: all[index], trace_buf(index) */
	int points;
	const char *reread;
	int timeout; /* seconds; TIMEOUT_SECONDS unless cl_test_timeout */
	int passed; /* set in step 4 */
	int ran;
	const char *msg;
	const char *file;
	int line;
	char *trace; /* a failed test's trace and timeline, if any */
	char *timeline;
	char *printed; /* what a failed test wrote to stderr, if anything */
	char *tail;    /* cotrace tail of its trace: last events, waits */
	char *found;   /* a sanitizer's finding in what it printed */
};

struct chapter {
	int number;
	const char *dir;
	const char *title;
	int selected;
	int ntests;
	struct test tests[MAX_TESTS];
};

static struct chapter chapters[MAX_CHAPTERS];
static int nchapters;
static struct chapter *adding; /* the chapter whose add function runs */

void cl__register_chapter(int number, const char *dir, const char *title,
			  void (*add)(void))
{
	struct chapter *c = NULL;

	/* Several files may register the same chapter: merge them. */
	for (int i = 0; i < nchapters; i++)
		if (chapters[i].number == number)
			c = &chapters[i];
	if (c == NULL) {
		if (nchapters == MAX_CHAPTERS) {
			fprintf(stderr, "grade: too many chapters\n");
			exit(2);
		}
		c = &chapters[nchapters++];
		c->number = number;
		c->dir = dir;
		c->title = title;
	}
	adding = c;
	add();
	adding = NULL;
}

static struct test *find_test(const char *name);

void cl_test(const TTest *t, int points, const char *reread)
{
	/*
	 * Results come back by TCase name, which is the test's name: it must
	 * be unique across chapters (prefix it with the chapter's topic).
	 */
	if (find_test(t->name) != NULL) {
		fprintf(stderr, "grade: two tests are named %s\n", t->name);
		exit(2);
	}
	if (adding == NULL || adding->ntests == MAX_TESTS) {
		fprintf(stderr, "grade: cl_test(%s) outside a chapter or "
				"too many tests\n", t->name);
		exit(2);
	}
	adding->tests[adding->ntests++] = (struct test){
		.t = t, .points = points, .reread = reread,
		.timeout = TIMEOUT_SECONDS
	};
}

void cl_test_timeout(const TTest *t, int points, const char *reread,
		     int seconds)
{
	cl_test(t, points, reread);
	adding->tests[adding->ntests - 1].timeout = seconds;
}

static int by_number(const void *a, const void *b)
{
	return ((const struct chapter *)a)->number -
	       ((const struct chapter *)b)->number;
}

static struct test *find_test(const char *name)
{
	for (int i = 0; i < nchapters; i++)
		for (int j = 0; j < chapters[i].ntests; j++)
			if (strcmp(chapters[i].tests[j].t->name, name) == 0)
				return &chapters[i].tests[j];
	return NULL;
}

/*
 * Check's messages for a dead child are terse. Say what they mean and
 * what to try.
 */
static const char *grader; /* argv[0], for the gdb hint */
static const char *trace_dir, *cotrace;

static struct test *all[MAX_CHAPTERS * MAX_TESTS]; /* by run index */

/*
 * One trace buffer per test, mapped shared before Check forks the tests'
 * processes: what a test's tracer had not yet written when the test
 * crashed or was killed for its time is still here for keep_trace.
 * Pages nobody touches cost nothing.
 */
#define TRACE_BUF_SIZE (64 * 1024)
static char *trace_bufs;

static struct cl_trace_buf *trace_buf(int i)
{
	return (struct cl_trace_buf *)(trace_bufs + (size_t)i * TRACE_BUF_SIZE);
}

/*
 * Every test runs through this wrapper: Check hands it the test's index
 * (as the loop index of a loop test), and in the test's own child it
 * points the tracer at a file named after the test before running it.
 * (With CK_FORK=no all tests share this process and the tracer keeps the
 * first file it opened.)
 */
static void run_one(int i)
{
	const char *fork = getenv("CK_FORK");
	char path[512];
	int fd;

	if (trace_dir != NULL) {
		snprintf(path, sizeof path, "%s/%s.trace", trace_dir,
			 all[i]->t->name);
		setenv("COROLAB_TRACE", path, 1);
		if (trace_bufs != NULL)
			cl__trace_buffer(trace_buf(i), TRACE_BUF_SIZE);
		/* What the test's process writes to stderr (the library's
		 * reports, a sanitizer's, glibc's) goes to a file of its
		 * own, to be shown with the test's failure. Not with
		 * CK_FORK=no: there you watch it live. */
		snprintf(path, sizeof path, "%s/%s.stderr", trace_dir,
			 all[i]->t->name);
		if ((fork == NULL || strcmp(fork, "no") != 0) &&
		    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0) {
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
	}
	all[i]->t->fn(0);
}

/* text with each run of identical lines written once, "(N times)"
 * after it: a server's report repeated per connection says it once. */
static char *squeeze(const char *text)
{
	/* A run of two empty lines, 2 bytes, becomes " (2 times)": room
	 * for the worst case. */
	char *out = malloc(8 * strlen(text) + 16), *o = out;
	const char *line = text, *end, *next;
	size_t len;
	int times;

	if (out == NULL)
		return NULL;
	while (*line) {
		end = strchr(line, '\n');
		len = end ? (size_t)(end - line) : strlen(line);
		next = end ? end + 1 : line + len;
		for (times = 1; strncmp(next, line, len) == 0 &&
				(next[len] == '\n' || next[len] == '\0');
		     times++)
			next += len + (next[len] == '\n');
		o += sprintf(o, "%s%.*s", o == out ? "" : "\n", (int)len,
			     line);
		if (times > 1)
			o += sprintf(o, " (%d times)", times);
		line = next;
	}
	return out;
}

/* Is this frame's file the library's (lab/gen.c), not a test's, libc's
 * or the sanitizer's own? */
static int library_file(const char *file)
{
	return strncmp(file, "tests/", 6) != 0 && strstr(file, "/usr/") == NULL &&
	       strstr(file, "sanitizer") == NULL && strncmp(file, "../", 3) != 0 &&
	       strstr(file, ".c:") != NULL;
}

/* A frame of a sanitizer's report in the library: its function, and its
 * file:line (the column dropped). */
static int library_frame(const char *line, char *func, char *file)
{
	char *line_no, *column;

	if (sscanf(line, " #%*d %*s in %127s %511s", func, file) != 2 ||
	    !library_file(file))
		return 0;
	line_no = strstr(file, ".c:") + 3;
	column = strchr(line_no, ':');
	if (column != NULL)
		*column = '\0';
	return 1;
}

/*
 * What a sanitizer found, from its report in what the test printed:
 * "heap-use-after-free in cl__gen_resume, lab/gen.c:212", the finding and
 * the first frame of the library (the code the student wrote) that the
 * report names. Empty if there is no report.
 */
static void sanitizer_finding(FILE *f, char *out, size_t size)
{
	char line[1024], kind[128] = "", func[128], file[512];
	const char *p;

	out[0] = '\0';
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if ((p = strstr(line, "runtime error: ")) != NULL) {
			/* UBSan: "lab/gen.c:212:5: runtime error: ..." */
			snprintf(out, size, "undefined behaviour, %s at %.*s",
				 p + 15, (int)strcspn(line, " "), line);
			out[strlen(out) - (out[strlen(out) - 1] == ':')] = '\0';
			return;
		}
		if ((p = strstr(line, "ERROR: AddressSanitizer: ")) != NULL) {
			snprintf(kind, sizeof kind, "%.*s",
				 (int)strcspn(p + 25, " "), p + 25);
			continue;
		}
		if (strstr(line, "ERROR: LeakSanitizer:") != NULL) {
			snprintf(kind, sizeof kind, "memory leaked");
			continue;
		}
		/* "    #1 0x55d1 in cl_exc_new lab/exc.c:40:12" */
		if (kind[0] == '\0' || !library_frame(line, func, file))
			continue;
		snprintf(out, size, "%s in %s, %s", kind, func, file);
		/* Its caller in the library, if the next frame is: the
		 * leaked object's allocator is rarely where the bug is. */
		if (fgets(line, sizeof line, f) != NULL &&
		    library_frame(line, func, file))
			snprintf(out + strlen(out), size - strlen(out),
				 ", called from %s, %s", func, file);
		return;
	}
	if (kind[0] != '\0')
		snprintf(out, size, "%s (no frame of the library in the "
				    "report)", kind);
}

/* Up to 1,500 bytes of what t wrote to stderr, kept if it failed, and a
 * sanitizer's finding in all of it. The file goes, unless it holds a
 * finding and keep_reports says to keep those (the -l run). */
static int keep_reports;

static void keep_printed(struct test *t)
{
	char path[512], buf[1501], found[768];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s.stderr", trace_dir, t->t->name);
	f = fopen(path, "r");
	if (f == NULL)
		return;
	found[0] = '\0';
	if (!t->passed) {
		n = fread(buf, 1, sizeof buf - 1, f);
		rewind(f);
		sanitizer_finding(f, found, sizeof found);
	}
	fclose(f);
	if (found[0] != '\0')
		t->found = strdup(found);
	if (!(keep_reports && t->found))
		unlink(path);
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	if (n > 0)
		t->printed = squeeze(buf);
}

/* What a command printed on its standard output (at most 8 KiB), or
 * NULL if it could not run or failed. */
static char *output_of(char *const argv[])
{
	char buf[8193];
	size_t len = 0;
	ssize_t n;
	int fds[2], status;
	pid_t pid;

	if (pipe(fds) != 0)
		return NULL;
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		freopen("/dev/null", "w", stderr);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	while (pid > 0 && len < sizeof buf - 1 &&
	       (n = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	close(fds[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return NULL;
	while (len > 0 && buf[len - 1] == '\n')
		len--;
	buf[len] = '\0';
	return strdup(buf);
}
static const TTest run_one_ttest = { "run_one", run_one, __FILE__,
				     __LINE__ };

/*
 * After the run: a passed test's trace is deleted; a failed one's is kept,
 * completed with what its tracer had not written yet if the test died
 * (the buffer it borrowed, trace_buf), and, if we have cotrace, drawn as
 * a timeline next to it and summed up by "cotrace tail": its last events
 * and what each unfinished task was waiting for.
 */
static void keep_trace(struct test *t)
{
	struct cl_trace_buf *b =
		trace_bufs && t->index >= 0 ? trace_buf(t->index) : NULL;
	char path[512], svg[512], n[8] = "8";
	struct stat st;
	int fd;

	snprintf(path, sizeof path, "%s/%s.trace", trace_dir, t->t->name);
	if (!t->passed && b != NULL && b->len > 0 &&
	    b->len <= TRACE_BUF_SIZE - sizeof *b &&
	    (fd = open(path, O_WRONLY | O_APPEND)) >= 0) {
		if (write(fd, b->data, b->len) != (ssize_t)b->len)
			fprintf(stderr, "grade: %s: %s\n", path,
				strerror(errno));
		close(fd);
	}
	if (stat(path, &st) != 0)
		return;
	if (t->passed || st.st_size == 0) {
		unlink(path);
		return;
	}
	t->trace = strdup(path);
	if (cotrace == NULL || access(cotrace, X_OK) != 0)
		return;
	snprintf(svg, sizeof svg, "%s/%s.svg", trace_dir, t->t->name);
	char *timeline[] = { (char *)cotrace, "timeline", path, "-o", svg,
			     NULL };
	char *tail[] = { (char *)cotrace, "tail", path, "-n", n, NULL };
	char *none = output_of(timeline);

	if (none != NULL)
		t->timeline = strdup(svg);
	free(none);
	t->tail = output_of(tail);
}

static void explain(const struct test *t, int chapter)
{
	const char *msg = t->msg, *test = t->t->name;
	const char *printed = t->printed ? t->printed : "";

	/* Check's own words, not any "timeout": a test of timeouts says
	 * the word in its trail. */
	if (strstr(msg, "Test timeout expired") != NULL)
		printf("     It did not finish in %d seconds: something loops "
		       "or waits forever. The end of its trace\n"
		       "     below says what each task was waiting for.\n",
		       t->timeout);
	else if (strstr(msg, "signal 4 ") != NULL)
		printf("     SIGILL is one of corolab's two traps: a "
		       "finished context was switched to again\n"
		       "     (the trap after cl_ctx_swap_final, ctx.h: a "
		       "generator resumed after it ended?),\n"
		       "     or a context's first frame returned (the trap "
		       "after the call in cl__ctx_entry);\n"
		       "     chapters/02-stacks/README.md, section 2. The "
		       "first frame. Run it alone in gdb:\n"
		       "       CK_FORK=no CK_RUN_CASE=%s gdb --args %s -c %d\n",
		       test, grader, chapter);
	else if (strstr(msg, "signal 11 ") != NULL &&
		 strstr(printed, "overflowed its stack") != NULL)
		printf("     A coroutine ran off the end of its stack into "
		       "the guard page; what it printed\n"
		       "     names it. Deep recursion, or a big array on "
		       "the coroutine's stack? (chapter 02,\n"
		       "     guard pages)\n");
	else if (strstr(msg, "signal 11 ") != NULL)
		printf("     It crashed: a read or write of memory the "
		       "process does not own. If the trace\n"
		       "     ends in a task's step, the crash is in that "
		       "step or in the switch into it\n"
		       "     (a bad saved stack pointer: chapter 02). Run "
		       "it alone in gdb:\n"
		       "       CK_FORK=no CK_RUN_CASE=%s gdb --args %s -c %d\n",
		       test, grader, chapter);
	else if (strstr(msg, "signal 6 ") != NULL)
		printf("     It aborted: an assert failed, or glibc found "
		       "its heap corrupted (a double\n"
		       "     free, a write past an allocation); what it "
		       "printed says which. Run it alone\n"
		       "     under valgrind:\n"
		       "       CK_FORK=no CK_RUN_CASE=%s valgrind %s -c %d\n",
		       test, grader, chapter);
	else if (strstr(msg, "signal") != NULL)
		printf("     It crashed. Run it alone in gdb:\n"
		       "       CK_FORK=no CK_RUN_CASE=%s gdb --args %s -c %d\n",
		       test, grader, chapter);
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/*
 * -h: the lab's .hints-taken, one line "chNN name level" per hint level
 * shown (tests/labgen.c, labgen hint). A missing log is no hint taken.
 */
static int hints_taken[100];

static int read_hints(const char *path)
{
	char line[256];
	int ch, level;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return errno == ENOENT ? 0 : -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "ch%d %*s %d", &ch, &level) == 2 && ch > 0 &&
		    ch < 100)
			hints_taken[ch]++;
	fclose(f);
	return 0;
}

static int write_json(const char *path, int hints)
{
	FILE *f = fopen(path, "w");
	int score = 0, first = 1;

	if (f == NULL) {
		fprintf(stderr, "grade: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < nchapters; i++)
		for (int j = 0; j < chapters[i].ntests; j++)
			if (chapters[i].tests[j].passed)
				score += chapters[i].tests[j].points;
	fprintf(f, "{\n  \"score\": %d,\n  \"tests\": [", score);
	for (int i = 0; i < nchapters; i++) {
		struct chapter *c = &chapters[i];
		if (!c->selected)
			continue;
		for (int j = 0; j < c->ntests; j++) {
			struct test *t = &c->tests[j];
			char name[160], out[12288];

			snprintf(name, sizeof name, "ch%02d %s", c->number,
				 t->t->name);
			if (t->passed)
				snprintf(out, sizeof out, "passed");
			else
				snprintf(out, sizeof out,
					 "%s (%s:%d)\nReread chapters/%s/"
					 "README.md, section %s.%s%s%s%s%s%s%s%s",
					 t->ran ? t->msg : "did not run",
					 t->file ? t->file : "?", t->line,
					 c->dir, t->reread,
					 t->trace ? "\nTrace: " : "",
					 t->trace ? t->trace : "",
					 t->timeline ? "\nTimeline: " : "",
					 t->timeline ? t->timeline : "",
					 t->tail ? "\nThe end of its trace:\n"
						 : "",
					 t->tail ? t->tail : "",
					 t->printed ? "\nIt printed:\n" : "",
					 t->printed ? t->printed : "");
			fprintf(f, "%s\n    {\"name\": ", first ? "" : ",");
			json_string(f, name);
			fprintf(f, ", \"score\": %d, \"max_score\": %d, "
				   "\"output\": ",
				t->passed ? t->points : 0, t->points);
			json_string(f, out);
			fputc('}', f);
			first = 0;
		}
	}
	fprintf(f, "\n  ]");
	if (hints) {
		fprintf(f, ",\n  \"extra_data\": {\"hints\": {");
		for (int i = 0, n = 0; i < nchapters; i++)
			if (chapters[i].selected)
				fprintf(f, "%s\"ch%02d\": %d", n++ ? ", " : "",
					chapters[i].number,
					hints_taken[chapters[i].number]);
		fprintf(f, "}}");
	}
	fprintf(f, "\n}\n");
	return fclose(f);
}

/*
 * -l: one line per test graded, "NAME pass" or "NAME fail REPORT WHAT",
 * REPORT the file holding what the test printed (the sanitizer's report)
 * and WHAT the finding, or "- -" if there is none.
 */
static int write_list(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "grade: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < nchapters; i++)
		for (int j = 0; chapters[i].selected && j < chapters[i].ntests;
		     j++) {
			struct test *t = &chapters[i].tests[j];

			if (t->passed)
				fprintf(f, "%s pass\n", t->t->name);
			else if (t->found != NULL)
				fprintf(f, "%s fail %s/%s.stderr %s\n",
					t->t->name, trace_dir, t->t->name,
					t->found);
			else
				fprintf(f, "%s fail - -\n", t->t->name);
		}
	return fclose(f);
}

/*
 * The verdicts of the sanitized run (-S). A test that passed here but
 * failed there with a sanitizer's finding fails, with the finding as its
 * message: the bug is real even if this build's memory happened to hold
 * what the test looked for. (A failure there without a finding, a
 * timeout of the slower build, changes nothing.)
 */
static int read_san(const char *path)
{
	char line[2048], name[256], verdict[8], report[768];
	struct test *t;
	int at;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		fprintf(stderr, "grade: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%255s %7s %767s %n", name, verdict, report,
			   &at) != 3 ||
		    strcmp(verdict, "fail") != 0 || strcmp(report, "-") == 0)
			continue;
		t = find_test(name);
		if (t == NULL || !t->passed)
			continue;
		t->passed = 0;
		t->ran = 1;
		if (asprintf((char **)&t->msg,
			     "It passes, but not under AddressSanitizer, "
			     "UBSan and LeakSanitizer: %s",
			     line + at) < 0)
			t->msg = "It fails under the sanitizers";
		if (asprintf(&t->printed, "the sanitizer's report: %s",
			     report) < 0)
			t->printed = NULL;
	}
	fclose(f);
	return 0;
}

/* Is name a line of the file at path? */
static int listed(const char *path, const char *name)
{
	char line[256];
	int found = 0;
	FILE *f = fopen(path, "r");

	while (f != NULL && !found && fgets(line, sizeof line, f) != NULL)
		found = strcmp(strtok(line, "\n") ? line : "", name) == 0;
	if (f != NULL)
		fclose(f);
	return found;
}

/*
 * -S: grade again, under the sanitizers, what passed here (what failed
 * here fails already, and a hang would only wait four times longer). The
 * verdicts go to out, a file for read_san. Returns 0, or -1 if nothing
 * passed or the sanitized grader could not run.
 */
static int run_san(const char *san_grader, const char *only, char *out,
		   size_t size)
{
	char passed[600], dir[600];
	int n = 0, status;
	FILE *f;
	pid_t pid;

	snprintf(passed, sizeof passed, "%s/passed.txt", trace_dir);
	snprintf(dir, sizeof dir, "%s/san", trace_dir);
	snprintf(out, size, "%s/san.txt", trace_dir);
	f = fopen(passed, "w");
	if (f == NULL)
		return -1;
	for (int i = 0; i < nchapters; i++)
		for (int j = 0; chapters[i].selected && j < chapters[i].ntests;
		     j++)
			if (chapters[i].tests[j].passed) {
				fprintf(f, "%s\n", chapters[i].tests[j].t->name);
				n++;
			}
	if (fclose(f) != 0 || n == 0)
		return -1;
	printf("%d tests passed; grading them again under AddressSanitizer, "
	       "UBSan and LeakSanitizer...\n", n);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		/* Sanitized code runs slower: more time per test. */
		setenv("CK_TIMEOUT_MULTIPLIER", "4", 0);
		char *argv[] = { (char *)san_grader, "-q", "-t", dir, "-l", out,
				 "-o", passed, only ? "-c" : NULL,
				 (char *)only, NULL };
		execv(san_grader, argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status) > 1) {
		fprintf(stderr, "grade: %s did not run\n", san_grader);
		return -1;
	}
	unlink(passed);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: grade [-c N[,N...]] [-j results.json] "
			"[-t DIR [-v COTRACE]] [-q] [-m] [-l FILE] "
			"[-S GRADER] [-o FILE] [-h FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *json = NULL, *only = NULL, *list = NULL;
	const char *hints = NULL, *san_grader = NULL, *subset = NULL;
	char san_list[600];
	int quiet = 0, machine = 0, failed = 0, all_points = 0, all_max = 0;
	SRunner *sr = NULL;
	int nall = 0;

	grader = argv[0];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "-j") == 0 && i + 1 < argc)
			json = argv[++i];
		else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			trace_dir = argv[++i];
		else if (strcmp(argv[i], "-v") == 0 && i + 1 < argc)
			cotrace = argv[++i];
		else if (strcmp(argv[i], "-q") == 0)
			quiet = 1;
		else if (strcmp(argv[i], "-m") == 0)
			machine = 1;
		else if (strcmp(argv[i], "-l") == 0 && i + 1 < argc)
			list = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 && i + 1 < argc)
			hints = argv[++i];
		else if (strcmp(argv[i], "-S") == 0 && i + 1 < argc)
			san_grader = argv[++i];
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			subset = argv[++i];
		else
			usage();
	}

	/* Step 2: a suite per selected chapter, a TCase per test. */
	qsort(chapters, nchapters, sizeof chapters[0], by_number);
	for (int i = 0; i < nchapters; i++) {
		struct chapter *c = &chapters[i];
		char num[8];

		snprintf(num, sizeof num, "%d", c->number);
		c->selected = 1;
		if (only != NULL) {
			char list[64], *tok, *save;
			snprintf(list, sizeof list, "%s", only);
			c->selected = 0;
			for (tok = strtok_r(list, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save))
				if (atoi(tok) == c->number)
					c->selected = 1;
		}
		if (!c->selected)
			continue;
		Suite *s = suite_create(c->dir);
		for (int j = 0; j < c->ntests; j++) {
			c->tests[j].index = -1;
			if (subset != NULL && !listed(subset, c->tests[j].t->name))
				continue;
			TCase *tc = tcase_create(c->tests[j].t->name);
			tcase_set_timeout(tc, c->tests[j].timeout);
			all[nall] = &c->tests[j];
			c->tests[j].index = nall;
			tcase_add_loop_test(tc, &run_one_ttest, nall,
					    nall + 1);
			nall++;
			suite_add_tcase(s, tc);
		}
		if (sr == NULL)
			sr = srunner_create(s);
		else
			srunner_add_suite(sr, s);
	}
	if (trace_dir != NULL && mkdir(trace_dir, 0755) != 0 &&
	    errno != EEXIST) {
		fprintf(stderr, "grade: %s: %s\n", trace_dir, strerror(errno));
		return 2;
	}
	if (sr == NULL) {
		fprintf(stderr, "grade: no chapter to grade (-c %s)\n",
			only ? only : "");
		return 2;
	}

	if (trace_dir != NULL) {
		trace_bufs = mmap(NULL, (size_t)nall * TRACE_BUF_SIZE,
				  PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
				  -1, 0);
		if (trace_bufs == MAP_FAILED)
			trace_bufs = NULL; /* then a crash loses events */
	}
	keep_reports = list != NULL;

	/* Step 3. */
	fflush(stdout);
	fflush(stderr);
	srunner_run_all(sr, CK_SILENT);

	/* Step 4: results back to tests. */
	TestResult **res = srunner_results(sr);
	for (int i = 0; i < srunner_ntests_run(sr); i++) {
		struct test *t = find_test(tr_tcname(res[i]));
		if (t == NULL)
			continue;
		t->ran = 1;
		t->passed = tr_rtype(res[i]) == CK_PASS;
		t->msg = tr_msg(res[i]);
		t->file = tr_lfile(res[i]);
		t->line = tr_lno(res[i]);
		/* A crash or a timeout is located at the wrapper: say the test. */
		if (t->file == NULL || strstr(t->file, "grade.c") != NULL) {
			t->file = t->t->file;
			t->line = t->t->line;
		}
	}
	free(res); /* the array is ours; the results stay the runner's */
	for (int i = 0; i < nchapters && trace_dir != NULL; i++)
		for (int j = 0; j < chapters[i].ntests; j++)
			if (chapters[i].selected) {
				keep_trace(&chapters[i].tests[j]);
				keep_printed(&chapters[i].tests[j]);
			}

	if (san_grader != NULL && trace_dir != NULL &&
	    run_san(san_grader, only, san_list, sizeof san_list) == 0 &&
	    read_san(san_list) != 0)
		return 2;
	if (hints != NULL && read_hints(hints) != 0) {
		fprintf(stderr, "grade: %s: %s\n", hints, strerror(errno));
		return 2;
	}
	if (list != NULL && write_list(list) != 0)
		return 2;

	for (int i = 0; i < nchapters && !quiet; i++) {
		struct chapter *c = &chapters[i];
		for (int j = 0; c->selected && j < c->ntests; j++) {
			struct test *t = &c->tests[j];
			if (t->passed)
				continue;
			printf("FAIL ch%02d %s (0/%d)\n", c->number, t->t->name,
			       t->points);
			printf("     %s\n", t->ran ? t->msg : "did not run");
			if (t->ran)
				explain(t, c->number);
			printf("     at %s:%d; reread chapters/%s/README.md, "
			       "section %s\n",
			       t->file ? t->file : "?", t->line, c->dir,
			       t->reread);
			if (t->trace)
				printf("     what the loop did: %s%s%s\n",
				       t->trace, t->timeline ? " and " : "",
				       t->timeline ? t->timeline : "");
			if (t->tail) {
				printf("     the end of its trace "
				       "(cotrace tail):\n       ");
				for (const char *p = t->tail; *p; p++)
					printf(*p == '\n' ? "\n       "
							  : "%c", *p);
				printf("\n");
			}
			if (t->printed) {
				printf("     it printed:\n       ");
				for (const char *p = t->printed; *p; p++)
					printf(*p == '\n' ? "\n       "
							  : "%c", *p);
				printf("\n");
			}
		}
	}

	if (!machine)
		printf("\n%-28s %8s %8s\n", "chapter", "tests", "points");
	for (int i = 0; i < nchapters; i++) {
		struct chapter *c = &chapters[i];
		int pass = 0, points = 0, max = 0;
		if (!c->selected)
			continue;
		for (int j = 0; j < c->ntests; j++) {
			pass += c->tests[j].passed;
			points += c->tests[j].passed ? c->tests[j].points : 0;
			max += c->tests[j].points;
		}
		failed += c->ntests - pass;
		all_points += points;
		all_max += max;
		if (machine) {
			printf("chapter %d passed %d failed %d\n", c->number,
			       pass, c->ntests - pass);
		} else {
			char name[40], tests[16], pts[16];
			snprintf(name, sizeof name, "%02d %s", c->number,
				 c->title);
			snprintf(tests, sizeof tests, "%d/%d", pass,
				 c->ntests);
			snprintf(pts, sizeof pts, "%d/%d", points, max);
			printf("%-28s %8s %8s\n", name, tests, pts);
		}
	}
	if (!machine) {
		char pts[16];
		snprintf(pts, sizeof pts, "%d/%d", all_points, all_max);
		printf("%-28s %8s %8s\n", "total", "", pts);
		if (hints != NULL) {
			printf("hints taken (make hint):");
			for (int i = 0, n = 0; i < nchapters; i++)
				if (chapters[i].selected)
					printf("%s ch%02d %d", n++ ? "," : "",
					       chapters[i].number,
					       hints_taken[chapters[i].number]);
			printf("\n");
		}
	}
	if (json != NULL && write_json(json, hints != NULL) != 0)
		return 2;
	srunner_free(sr);
	return failed ? 1 : 0;
}
