/*
 * fuzz_trace.c - a fuzz target for cotrace's reader, replay and text views.
 *
 * LLVMFuzzerTestOneInput takes any bytes as a trace file and runs what
 * cotrace does with it short of Graphviz: read it (strictly, and as the
 * trace of a crashed program, TR_CUT), replay every run (whole, and up
 * to its middle event, as awaits --at does), and write the stats, chrome
 * and tail views to /dev/null. A bad trace must be refused with a
 * message; anything else (a crash, a leak, undefined behaviour) is a bug
 * the sanitizers report. The drawing views are left out: their input is
 * the same model, and Graphviz is slow and not ours to fuzz.
 *
 * Built two ways (README.md): with clang's libFuzzer, or with replay.c, a
 * main that feeds it the files of a corpus, for compilers without it.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "views.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run at most this many runs of one input: each replay is linear, but
 * a file of a thousand headers would make a slow fuzzer. */
#define MAX_RUNS 8

static FILE *null_out(void)
{
	static FILE *null;

	if (null == NULL)
		null = fopen("/dev/null", "w");
	return null;
}

/* Replay run r of t up to upto (0: all) and write the text views. */
static void replay(const struct trace *t, size_t r, long upto)
{
	struct model m;

	if (model_build(&m, t, r, upto) == 0) {
		view_stats(&m, null_out());
		view_chrome(&m, null_out());
	}
	view_tail(&m, null_out()); /* it runs on a failed replay too */
	model_free(&m);
}

static void one_read(const uint8_t *data, size_t size, int flags)
{
	struct read_opts o = {flags, 12, -1};
	struct trace t;
	FILE *fp;

	/* fmemopen refuses a buffer of size 0. */
	fp = size > 0 ? fmemopen((void *)data, size, "r")
		      : fopen("/dev/null", "r");
	if (fp == NULL)
		return;
	if (trace_read_file(&t, fp, "fuzz", &o) == 0) {
		for (size_t r = 0; r < t.nruns && r < MAX_RUNS; r++) {
			const struct run *run = &t.runs[r];
			replay(&t, r, 0);
			if (run->n > 0)
				replay(&t, r, t.ev[run->first + run->n / 2].seq);
		}
	}
	trace_free(&t);
	fclose(fp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one_read(data, size, 0);
	one_read(data, size, TR_CUT);
	return 0;
}
