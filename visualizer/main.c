/*
 * main.c - cotrace: read a corolab trace, make one view of it.
 *
 *	cotrace timeline TRACE -o out.svg [--colour-by VAR]
 *	cotrace timeline TRACE1 TRACE2 ... -o out.svg	(one per process)
 *	cotrace awaits TRACE -o out.svg [--at SEQ|deadlock]
 *	cotrace chrome TRACE -o out.json
 *	cotrace stats TRACE
 *	cotrace tail TRACE [-n K]
 *	cotrace dot GRAPH.dot -o out.svg	(no trace: render a DOT file)
 *
 * The work is in three stages, one file each: tracefile.c reads and checks
 * the text, model.c replays the run into tasks, spans and marks, and the
 * view's file (timeline.c, awaits.c, chrome.c, stats.c, tail.c) draws or
 * counts.
 *
 * Exit status: 0 done; 1 a usage or I/O error; 2 the trace (or the DOT
 * file) is bad (the message names the file and line). A bad trace never
 * crashes cotrace.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "views.h"

#define EXIT_USAGE    1
#define EXIT_BADTRACE 2
#define TAIL_DEFAULT  12
#define TAIL_MAX      100000

static const char usage[] =
    "usage: cotrace VIEW TRACE [-o OUT] [--run N] [--at SEQ|deadlock] [-n K]\n"
    "                          [--colour-by VAR]\n"
    "       cotrace timeline TRACE1 TRACE2 ... [-o OUT] [--run N]\n"
    "       cotrace dot GRAPH.dot [-o OUT]\n"
    "\n"
    "views:\n"
    "  timeline  one lane per task, time left to right, who woke whom;\n"
    "            given the traces of several processes (each with its\n"
    "            corolab-origin line: COROLAB_TRACE=name-%p.trace), one\n"
    "            band of lanes per process on one time axis\n"
    "  awaits    who waits on whom at a moment (--at SEQ, default the\n"
    "            end); a cycle is drawn as a deadlock\n"
    "  chrome    Chrome Trace Event JSON for ui.perfetto.dev\n"
    "  stats     per task: steps, time running, waiting, queued\n"
    "  tail      the last K events as written (-n K, default 12), then\n"
    "            what each unfinished task waits for: for a trace cut\n"
    "            short by a crash or a hang (a partial last line and NUL\n"
    "            bytes at the end are left out, and said so)\n"
    "  dot       not a view: lay out and render a Graphviz DOT file\n"
    "            (the graph's layout attribute, else dot), as dot -T\n"
    "            would, without the dot program\n"
    "\n"
    "options:\n"
    "  -o OUT    output file; its extension picks the format: .svg .png\n"
    "            .pdf .dot (timeline, awaits), .json (chrome). Without\n"
    "            -o (or -o -): DOT, JSON or text on standard output\n"
    "  --run N   the Nth run of a trace holding several (default 1;\n"
    "            tail: the last)\n"
    "  --at SEQ  awaits: the moment just after event SEQ\n"
    "  --at deadlock\n"
    "            awaits: the first moment the waits close a cycle (a\n"
    "            task awaiting a task, or a lock, that comes back to it)\n"
    "  -n K      tail: how many events (default 12)\n"
    "  --colour-by VAR, --color-by VAR\n"
    "            timeline: fill each step with a colour for the value\n"
    "            context variable VAR has in the step's context (ctx.new,\n"
    "            var.set: chapter 06), and write the value in its label\n"
    "\n"
    "TRACE is a file written with COROLAB_TRACE=file or cl_trace_open,\n"
    "or - for standard input. Exit status: 0 ok, 1 usage or I/O\n"
    "error, 2 bad trace (or DOT file). See visualizer/README.md.\n";

/* A positive number for an option, or -1. */
static long positive(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s != '\0' && *end == '\0' && v > 0 ? v : -1;
}

static const char *const views[] = {"timeline", "awaits", "chrome",
				    "stats",	"tail",	  "dot"};

static int is_view(const char *view, const char *name)
{
	return strcmp(view, name) == 0;
}

/*
 * cotrace timeline A.trace B.trace ...: run number run (1-based) of each,
 * on one axis. Each run must say where its time starts on the clock the
 * processes share (its corolab-origin line); a virtual clock's time is
 * no other process's. The first trace that cannot be drawn is named,
 * with its line, and nothing is drawn.
 */
static int timeline_of_many(char **paths, int n, long run, const char *out)
{
	static struct trace t[TIMELINE_MAX_RUNS];
	static struct model m[TIMELINE_MAX_RUNS];
	struct timeline_run runs[TIMELINE_MAX_RUNS];
	char titles[TIMELINE_MAX_RUNS][96], tips[TIMELINE_MAX_RUNS][320];
	int nt = 0, nm = 0, rc = EXIT_BADTRACE, i;
	const struct run *r;
	int64_t mono0 = 0;

	if (n > TIMELINE_MAX_RUNS) {
		fprintf(stderr, "cotrace: timeline: at most %d traces\n",
			TIMELINE_MAX_RUNS);
		return EXIT_USAGE;
	}
	run = run > 0 ? run : 1;
	for (i = 0; i < n; i++) {
		nt++;
		if ((rc = trace_read(&t[i], paths[i], NULL)) < 0) {
			fprintf(stderr, "cotrace: %s\n", t[i].err);
			rc = rc == TRACE_IO_ERROR ? EXIT_USAGE : EXIT_BADTRACE;
			goto out;
		}
		rc = EXIT_BADTRACE;
		if ((size_t)run > t[i].nruns) {
			fprintf(stderr, "cotrace: %s holds %zu run%s, not %ld\n",
				paths[i], t[i].nruns,
				t[i].nruns == 1 ? "" : "s", run);
			rc = EXIT_USAGE;
			goto out;
		}
		r = &t[i].runs[run - 1];
		if (r->virtual_clock) {
			fprintf(stderr,
				"cotrace: %s:%d: run %ld is on a virtual "
				"clock: its time is no other process's, so it "
				"cannot share a time axis with other traces\n",
				paths[i], r->line, run);
			goto out;
		}
		if (!r->has_origin) {
			fprintf(stderr,
				"cotrace: %s:%d: run %ld has no "
				"corolab-origin line: nothing says when its "
				"time starts, so it cannot be aligned with the "
				"other traces (trace each process with "
				"COROLAB_TRACE=name-%%p.trace, or "
				"COROLAB_TRACE_ORIGIN=1)\n",
				paths[i], r->line, run);
			goto out;
		}
		if (i == 0 || r->mono_ns < mono0)
			mono0 = r->mono_ns;
	}
	for (i = 0; i < n; i++, nm++) {
		if (model_build(&m[i], &t[i], (size_t)run - 1, 0) < 0) {
			fprintf(stderr, "cotrace: %s\n", m[i].err);
			nm++;
			goto out;
		}
		r = &t[i].runs[run - 1];
		if (r->pname != NULL)
			snprintf(titles[i], sizeof(titles[i]), "%s (pid %ld)",
				 r->pname, r->pid);
		else
			snprintf(titles[i], sizeof(titles[i]), "pid %ld",
				 r->pid);
		snprintf(tips[i], sizeof(tips[i]), "%s, run %ld", paths[i],
			 run);
		runs[i] = (struct timeline_run){&m[i], titles[i], tips[i],
						(r->mono_ns - mono0) / 1000};
	}
	rc = view_timeline_runs(runs, (size_t)n, out) ? EXIT_USAGE : 0;
out:
	for (i = 0; i < nm; i++)
		model_free(&m[i]);
	for (i = 0; i < nt; i++)
		trace_free(&t[i]);
	return rc;
}

/* The text views write to a file or standard output. */
static int write_text_view(const struct model *m, const char *view,
			   const char *out)
{
	FILE *fp = out && strcmp(out, "-") != 0 ? fopen(out, "w") : stdout;
	int rc;

	if (fp == NULL) {
		perror(out);
		return EXIT_USAGE;
	}
	rc = is_view(view, "chrome")  ? view_chrome(m, fp)
	     : is_view(view, "stats") ? view_stats(m, fp)
				      : view_tail(m, fp);
	if (fflush(fp) != 0 || ferror(fp))
		rc = 1;
	if (fp != stdout && fclose(fp) != 0)
		rc = 1;
	if (rc != 0)
		fprintf(stderr, "cotrace: cannot write %s\n",
			fp == stdout ? "standard output" : out);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"run", required_argument, NULL, 'r'},
	    {"at", required_argument, NULL, 'a'},
	    {"colour-by", required_argument, NULL, 'c'},
	    {"color-by", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = NULL, *view, *path, *colour_by = NULL;
	long run = 0, at = 0, keep = TAIL_DEFAULT;
	int at_deadlock = 0;
	struct read_opts opts = {0, 0, -1};
	struct trace t;
	struct model m;
	int c, rc;

	while ((c = getopt_long(argc, argv, "o:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'r':
			if ((run = positive(optarg)) < 0)
				goto bad_usage;
			break;
		case 'a':
			at_deadlock = strcmp(optarg, "deadlock") == 0;
			if (!at_deadlock && (at = positive(optarg)) < 0)
				goto bad_usage;
			break;
		case 'c':
			colour_by = optarg;
			break;
		case 'n':
			if ((keep = positive(optarg)) < 0 || keep > TAIL_MAX)
				goto bad_usage;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			goto bad_usage;
		}
	}
	if (argc - optind < 2 ||
	    (argc - optind > 2 && strcmp(argv[optind], "timeline") != 0))
		goto bad_usage;
	view = argv[optind];
	path = argv[optind + 1];
	if (colour_by != NULL && !is_view(view, "timeline")) {
		fprintf(stderr, "cotrace: --colour-by is for the timeline\n");
		goto bad_usage;
	}
	for (c = 0; c < (int)(sizeof(views) / sizeof(views[0])); c++)
		if (is_view(view, views[c]))
			break;
	if (c == (int)(sizeof(views) / sizeof(views[0]))) {
		fprintf(stderr, "cotrace: unknown view '%s'\n", view);
		goto bad_usage;
	}
	/* tail reads what a crash left, and keeps the last lines. */
	if (is_view(view, "tail")) {
		opts.flags = TR_CUT;
		opts.keep = (size_t)keep;
		opts.run = run > 0 ? run - 1 : -1;
	}

	if ((is_view(view, "timeline") || is_view(view, "awaits") ||
	     is_view(view, "dot")) &&
	    !render_format_known(out)) {
		fprintf(stderr, "cotrace: %s: unknown output format (name it "
				".svg, .png, .pdf or .dot)\n", out);
		return EXIT_USAGE;
	}
	/* Several traces, one per process: one timeline. */
	if (argc - optind > 2) {
		if (colour_by != NULL) {
			fprintf(stderr, "cotrace: --colour-by is for the "
					"timeline of one trace\n");
			return EXIT_USAGE;
		}
		return timeline_of_many(argv + optind + 1, argc - optind - 1,
					run, out);
	}
	/* Not a trace: a Graphviz file to render (chapter 06's HAMT). */
	if (is_view(view, "dot"))
		return render_dot_file(path, out);
	if ((rc = trace_read(&t, path, &opts)) < 0) {
		fprintf(stderr, "cotrace: %s\n", t.err);
		trace_free(&t);
		return rc == TRACE_IO_ERROR ? EXIT_USAGE : EXIT_BADTRACE;
	}
	if (run == 0)
		run = is_view(view, "tail") ? (long)t.nruns : 1;
	if ((size_t)run > t.nruns) {
		fprintf(stderr, "cotrace: %s holds %zu run%s, not %ld\n", path,
			t.nruns, t.nruns == 1 ? "" : "s", run);
		trace_free(&t);
		return EXIT_USAGE;
	}
	if (t.nruns > 1 && run == 1 && !is_view(view, "tail"))
		fprintf(stderr,
			"cotrace: %s holds %zu runs; showing the first "
			"(--run N for another)\n",
			path, t.nruns);
	/* --at deadlock: find the moment, then replay up to it. */
	if (at_deadlock && is_view(view, "awaits")) {
		at = model_first_cycle(&m, &t, (size_t)run - 1);
		if (at == 0) {
			fprintf(stderr,
				"cotrace: %s, run %ld: the waits never close "
				"a cycle (no deadlock to show; --at SEQ shows "
				"any moment)\n",
				path, run);
			model_free(&m);
			trace_free(&t);
			return EXIT_USAGE;
		}
		model_free(&m);
		if (at < 0)
			at = 0; /* the replay fails again below, and says so */
	}
	if (model_build(&m, &t, (size_t)run - 1,
			strcmp(view, "awaits") == 0 ? at : 0) < 0) {
		/* tail still shows how far the replay got: that is where
		 * the broken scheduler broke. */
		if (is_view(view, "tail")) {
			view_tail(&m, stdout);
			printf("-- the replay stopped there: %s\n", m.err);
		}
		fprintf(stderr, "cotrace: %s\n", m.err);
		model_free(&m);
		trace_free(&t);
		return EXIT_BADTRACE;
	}

	if (strcmp(view, "timeline") == 0)
		rc = view_timeline(&m, out, colour_by);
	else if (strcmp(view, "awaits") == 0)
		rc = view_awaits(&m, out);
	else
		rc = write_text_view(&m, view, out);
	model_free(&m);
	trace_free(&t);
	return rc ? EXIT_USAGE : 0;

bad_usage:
	fputs(usage, stderr);
	return EXIT_USAGE;
}
