/*
 * model_stream.c - a model on a thread of its own, streamed token by
 * token to a client over a connection.
 *
 *	model_stream		a server and a client in one program
 *	model_stream --hangup	the client hangs up after 5 tokens: the
 *				stream is closed early, and so is the model
 *
 * The "model" is the shape of every language-model server: a slow,
 * blocking computation (here: a fixed text cut into words, 3 ms of
 * nanosleep before each) that produces its answer one token at a time,
 * and a client that wants each token as soon as it exists, not the
 * whole answer at the end. Three pieces carry a token from the model to
 * the client:
 *
 *   1. the model runs on a thread of its own, and hands each token to
 *      the loop with cl_loop_call_soon_threadsafe: the callback, run on
 *      the loop's thread, puts it in an asyncio.Queue (put_nowait);
 *   2. an async generator, tokens(), gets them from the queue and
 *      yields each one (cl_agen_yield) as it comes;
 *   3. the connection's handler iterates the generator (async for),
 *      writing each token to the stream and draining it; the client, a
 *      task of the same program, reads line by line and prints when
 *      each token arrived.
 *
 *	def model(loop, q, prompt):		# on its own thread
 *	    for word in ANSWER.split():
 *	        time.sleep(0.003)
 *	        loop.call_soon_threadsafe(q.put_nowait, word)
 *	    loop.call_soon_threadsafe(q.put_nowait, None)
 *
 *	async def tokens(prompt):
 *	    q = asyncio.Queue()
 *	    threading.Thread(target=model,
 *	        args=(asyncio.get_running_loop(), q, prompt)).start()
 *	    while (word := await q.get()) is not None:
 *	        yield word
 *
 *	async def handle(reader, writer):
 *	    prompt = await reader.readline()
 *	    async for word in tokens(prompt):
 *	        writer.write(word.encode() + b"\n")
 *	        await writer.drain()
 *
 * Why call_soon_threadsafe from one thread, not to_thread per token:
 * generation is one long computation with state (a real model keeps its
 * attention cache between tokens). On a thread of its own it runs ahead
 * at its own pace and never waits for the loop; to_thread per token
 * would hand that state to a pool thread and back for every token, park
 * the model while the loop gets round to asking for the next one, and
 * hold a thread of the shared pool for as long as the answer lasts.
 * The queue between the two is where the tokens wait when the client is
 * slower than the model. (It is unbounded here: a thread cannot await
 * a full queue. A bounded version needs the thread to block on
 * something the loop releases, a threading.Semaphore: an exercise.)
 *
 * The loop must know a thread may still call it, or it would report a
 * deadlock while it waits for the next token: tokens() holds the loop
 * (cl_loop_hold) before it starts the thread, and the callback that
 * delivers the last token lets go (cl_loop_unhold). When the stream
 * ends early (--hangup: the client goes away, the handler's drain
 * raises, it closes the generator with aclose), the generator's cleanup
 * tells the model to stop, still waits for the model's last call, then
 * joins the thread: nothing calls into a loop that no longer waits.
 *
 * What to look at: the client's lines, one per token, 3 ms apart: the
 * tokens arrive while the model still works, the first one long before
 * the last. The trace (COROLAB_TRACE=model_stream.trace; chapter 07's
 * img/model_stream.svg) shows each token's way: the loop's eventfd
 * ready ("loop.waker fd=N kind=eventfd" names it; the timeline labels
 * it "fd:N IN (inbox)"), the callback that delivers the token (cb
 * kind=soon), its queue.put, the handler's step that takes it and
 * writes it, the client's step that reads it. cotrace stats says how
 * many tokens the queue held at most: one, when the loop keeps up with
 * the model. The loop runs on the real clock: the times vary a little
 * from run to run.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agen.h"
#include "queues.h"
#include "run.h"
#include "server.h"
#include "task.h"
#include "threads.h"

#define TOKEN_MS 3 /* the model's time per token */

static const char answer[] =
	"A coroutine is a function that pauses at each await, so one thread "
	"can run thousands.";

/* One answer being generated: the model's thread and its queue. */
struct job {
	struct cl_loop *loop;
	struct cl_queue q;  /* tokens on their way: the loop's thread only */
	pthread_t thread;
	int stop;	    /* set by the loop, read by the model (atomic) */
};

/* A token, made by the model's thread, freed by the generator. */
struct token {
	struct job *job;
	int last;	/* no text: the model is done */
	char text[48];
};

/* The loop's thread: a token arrives. The last one lets go of the loop:
 * the model calls no more. */
static void deliver(void *arg)
{
	struct token *tok = arg;

	cl_queue_put_nowait(&tok->job->q, tok);
	if (tok->last)
		cl_loop_unhold(tok->job->loop);
}

static void post(struct job *job, struct token *tok)
{
	if (cl_loop_call_soon_threadsafe(job->loop, deliver, tok) != 0) {
		/* The loop is held until our last call: cannot happen. */
		fprintf(stderr, "model: the loop refused a token\n");
		abort();
	}
}

/* The model's thread: one word every TOKEN_MS, until done or told to
 * stop; then the last token, always. */
static void *model(void *arg)
{
	struct job *job = arg;
	const char *p = answer;
	struct token *tok;
	size_t n;

	for (;;) {
		struct timespec ts = { 0, TOKEN_MS * 1000000L };

		while (nanosleep(&ts, &ts) != 0)
			;
		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (n == 0 || __atomic_load_n(&job->stop, __ATOMIC_RELAXED))
			break;
		if ((tok = calloc(1, sizeof *tok)) == NULL)
			abort();
		tok->job = job;
		snprintf(tok->text, sizeof tok->text, "%.*s", (int)n, p);
		post(job, tok);
		p += n;
	}
	if ((tok = calloc(1, sizeof *tok)) == NULL)
		abort();
	tok->job = job;
	tok->last = 1;
	post(job, tok);
	return NULL;
}

/* Wait for the model's last token (dropping the others), join it. */
static void finish(struct job *job)
{
	struct token *tok;
	int last;

	do {
		tok = cl_queue_get(&job->q);
		last = tok->last;
		free(tok);
	} while (!last);
	pthread_join(job->thread, NULL);
	cl_queue_fini(&job->q);
}

/* The async generator: start the model, yield its tokens as they come. */
static void *tokens(void *arg)
{
	struct job job = { .loop = cl_get_running_loop() };
	struct token *volatile tok = NULL; /* changed in the CL_TRY, read
					      in the catch (exc.h rule 2) */
	int err;

	(void)arg; /* the prompt: this model answers every prompt alike */
	cl_queue_init(&job.q, 0);
	if ((err = cl_loop_hold(job.loop)) < 0 ||
	    (err = pthread_create(&job.thread, NULL, model, &job)) != 0) {
		if (err > 0)
			cl_loop_unhold(job.loop);
		cl_queue_fini(&job.q);
		cl_raise(cl_exc_new(&cl_RuntimeError,
				    "cannot start the model: %s",
				    strerror(err < 0 ? -err : err)));
	}
	printf("  model: started on a thread of its own\n");
	CL_TRY {
		while (!(tok = cl_queue_get(&job.q))->last) {
			cl_agen_yield(tok->text); /* until the next anext */
			free(tok);
			tok = NULL;
		}
		free(tok);
	} CL_CATCH(e) {
		/* Closed early (aclose: GeneratorExit at the yield), or
		 * cancelled in the get. */
		printf("  model: %s in the generator: stopping the model\n",
		       cl_exc_name(e));
		free(tok);
		__atomic_store_n(&job.stop, 1, __ATOMIC_RELAXED);
		finish(&job);
		printf("  model: stopped, its thread joined\n");
		cl_raise(e);
	} CL_END_TRY;
	pthread_join(job.thread, NULL);
	cl_queue_fini(&job.q);
	printf("  model: done\n");
	return NULL;
}

/* The server's side of a connection: a prompt in, tokens out. */
static void handle(struct cl_reader *r, struct cl_writer *w, void *arg)
{
	struct cl_agen *ag;
	const char *line;
	char buf[64];
	size_t n;
	void *word;

	(void)arg;
	line = cl_reader_readline(r, &n);
	printf("server: prompt \"%.*s\"\n", n > 0 ? (int)n - 1 : 0, line);
	ag = cl_agen_new(tokens, NULL, "tokens");
	if (ag == NULL)
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	CL_TRY {
		while (cl_agen_for(ag, &word)) {
			n = (size_t)snprintf(buf, sizeof buf, "%s\n",
					     (char *)word);
			cl_writer_write(w, buf, n);
			cl_writer_drain(w);
		}
	} CL_CATCH(e) {
		printf("server: %s while streaming: closing the generator\n",
		       cl_exc_name(e));
		cl_agen_aclose(ag); /* its cleanup stops the model */
		cl_agen_decref(ag);
		cl_exc_decref(e);
		return;
	} CL_END_TRY;
	cl_agen_decref(ag);
	printf("server: answer sent\n");
}

struct client_args {
	int port;
	int hangup; /* after this many tokens; 0: never */
	int count;  /* tokens received */
};

/* The client: send a prompt, print each token and when it came. */
static void *client(void *arg)
{
	struct client_args *ca = arg;
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_reader *r;
	struct cl_writer *w;
	const char *line;
	double t0, t;
	size_t n;

	cl_open_connection("127.0.0.1", ca->port, &r, &w);
	t0 = cl_loop_time(loop);
	cl_writer_write(w, "what is a coroutine?\n", 21);
	cl_writer_drain(w);
	while ((line = cl_reader_readline(r, &n)), n > 0) {
		t = (cl_loop_time(loop) - t0) * 1000;
		printf("client: %5.1f ms  %.*s\n", t, (int)n - 1, line);
		if (++ca->count == ca->hangup) {
			printf("client: hanging up\n");
			break;
		}
	}
	if (ca->count != ca->hangup)
		printf("client: %d tokens in %.0f ms\n", ca->count,
		       (cl_loop_time(loop) - t0) * 1000);
	cl_reader_free(r);
	cl_writer_free(w); /* closes the connection */
	return NULL;
}

static void *main_task(void *arg)
{
	struct client_args *ca = arg;
	struct cl_server *srv;
	struct cl_task *t;

	cl_start_server("127.0.0.1", 0, handle, NULL, &srv);
	ca->port = cl_server_port(srv);
	t = cl_create_task(client, ca, "client");
	CL_TRY {
		cl_await_task(t);
	} CL_CATCH(e) {
		cl_task_decref(t);
		cl_server_close(srv);
		cl_server_free(srv);
		cl_raise(e);
	} CL_END_TRY;
	cl_task_decref(t);
	/* Let the connection's handler finish, then stop serving. */
	cl_server_close(srv);
	cl_server_wait_closed(srv);
	cl_server_free(srv);
	return NULL;
}

int main(int argc, char **argv)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_REAL, .name = "main" };
	struct client_args ca = { 0, 0, 0 };
	void *out;
	int st;

	if (argc > 1 && strcmp(argv[1], "--hangup") == 0)
		ca.hangup = 5;
	else if (argc > 1) {
		fprintf(stderr, "usage: %s [--hangup]\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	st = cl_run_with(main_task, &ca, &opts, &out);
	if (st != 0) {
		fprintf(stderr, "model_stream: cl_run returned %d\n", st);
		if (st == CL_RUN_RAISED) {
			cl_exc_print(out, stderr);
			cl_exc_decref(out);
		}
		return 1;
	}
	if (ca.count == 0) {
		fprintf(stderr, "model_stream: no token came\n");
		return 1;
	}
	return 0;
}
