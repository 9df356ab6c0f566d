/*
 * crawler.c - fetch a page's links together; one failure stops them all.
 *
 * A crawler fetches five pages at once under a TaskGroup. Fetching takes
 * time (a sleep stands for the network) and one server resets the
 * connection. The group then cancels the fetches still running and the
 * crawler's own wait, waits until every fetch has finished cancelling,
 * and raises one ExceptionGroup with the failure in it. Nothing is left
 * running behind the crawler's back, which is the point of a group over
 * a bare create_task.
 *
 *	async with asyncio.TaskGroup() as tg:
 *	    for url in urls:
 *	        tg.create_task(fetch(url))
 *
 * The loop runs on the virtual clock: the program reports seconds of
 * (virtual) time and finishes at once.
 */
#include <stdio.h>

#include "run.h"
#include "task.h"
#include "taskgroup.h"

struct page {
	const char *url;
	double seconds; /* how long the fetch takes */
	int fails;	/* the server resets the connection */
};

static double now(void)
{
	return cl_loop_time(cl_get_running_loop());
}

static void *fetch(void *arg)
{
	struct page *p = arg;

	CL_TRY {
		cl_sleep(p->seconds);
	} CL_CATCH(e) {
		/* Cancelled by the group: say so and let it go on. */
		printf("  %.1f s: %s cancelled\n", now(), p->url);
		cl_raise(e);
	} CL_END_TRY;
	if (p->fails) {
		printf("  %.1f s: %s fails\n", now(), p->url);
		cl_raise(cl_exc_new(&cl_OSError, "%s: connection reset",
				    p->url));
	}
	printf("  %.1f s: %s fetched\n", now(), p->url);
	return NULL;
}

/* The body of "async with TaskGroup() as tg": one fetch per page. */
static void crawl(struct cl_taskgroup *tg, void *arg)
{
	struct page *pages = arg;

	for (struct page *p = pages; p->url != NULL; p++)
		cl_taskgroup_create_task(tg, fetch, p, p->url);
	printf("  %.1f s: crawler waits for its fetches\n", now());
}

static void *main_task(void *arg)
{
	static struct page pages[] = {
		{ "/index.html", 0.5, 0 }, { "/about.html", 1.0, 0 },
		{ "/news.html", 1.5, 1 },  { "/blog.html", 2.5, 0 },
		{ "/shop.html", 3.0, 0 },  { NULL, 0, 0 },
	};

	(void)arg;
	printf("crawling %zu pages under a TaskGroup\n",
	       sizeof pages / sizeof *pages - 1);
	CL_TRY {
		cl_taskgroup_run(crawl, pages);
		printf("  %.1f s: every page fetched\n", now());
	} CL_CATCH(e) {
		printf("  %.1f s: the group raised %s with %zu exception(s):\n\n",
		       now(), cl_exc_name(e), e->nmembers);
		cl_exc_print(e, stdout);
		cl_exc_decref(e);
	} CL_END_TRY;
	/* The group cancelled the crawler's own wait too, and let no
	 * CancelledError out: the crawler goes on. */
	cl_sleep(0.5);
	printf("\ncrawler goes on at %.1f s\n", now());
	return NULL;
}

int main(void)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL };
	void *out;

	return cl_run_with(main_task, NULL, &opts, &out) == 0 ? 0 : 1;
}
