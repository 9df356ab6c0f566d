/*
 * ch08_browser.c - chapter 08, section 12: the chat page in a real
 * browser.
 *
 * The test serves chapters/08-chat/www and the chat from its loop, and
 * starts Debian's Chromium, headless, with its DevTools port open. It
 * drives the browser through the Chrome DevTools Protocol, which is
 * JSON over a WebSocket: the kit's own WebSocket client (ws.h) is the
 * remote control, on the same loop as the server it tests. Two tabs open
 * the page as ann and bob; ann types a line and presses send; the test
 * reads bob's page until the line is there, and checks that each page
 * lists the other as present.
 *
 *	Target.createTarget {url}		open a tab
 *	Target.attachToTarget {flatten}		a session to talk to it
 *	Runtime.evaluate {expression}		run JavaScript in the page
 *
 * Chromium is started by the test (and killed with it: PR_SET_PDEATHSIG)
 * with a profile in a temporary directory; it writes the DevTools port
 * to DevToolsActivePort there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "chat.h"
#include "exc.h"
#include "grade.h"
#include "http.h"
#include "loop.h"
#include "run.h"
#include "task.h"
#include "ws.h"

#define SEC_BROWSER "12. The page, in a browser"

/* cl_run(fn, arg), failing the test with what came out of it, if
 * anything did. */
static void run_main(void *(*fn)(void *), void *arg)
{
	void *out = NULL;
	int st = cl_run(fn, arg, &out);

	ck_assert_msg(st != CL_RUN_RAISED, "the test's main task raised %s: %s",
		      st == CL_RUN_RAISED ? cl_exc_name(out) : "",
		      st == CL_RUN_RAISED ? cl_exc_message(out) : "");
	ck_assert_msg(st == 0, "cl_run returned %d", st);
}

/* The DevTools connection: the replies to our calls, by id. */
struct cdp {
	struct cl_ws *ws;
	int next_id;
	int want;	   /* the id whose reply we wait for */
	char *reply;	   /* it, once it came (malloc'd) */
	int closed;
};

static void cdp_message(struct cl_ws *ws, int opcode, const char *data,
			size_t n)
{
	struct cdp *c = cl_ws_arg(ws);
	char head[32];
	int len;

	(void)opcode;
	len = snprintf(head, sizeof head, "{\"id\":%d,", c->want);
	if (n >= (size_t)len && memcmp(data, head, (size_t)len) == 0 &&
	    c->reply == NULL) {
		c->reply = malloc(n + 1);
		memcpy(c->reply, data, n);
		c->reply[n] = '\0';
	}
}

static void cdp_closed(struct cl_ws *ws, int code, const char *reason)
{
	struct cdp *c = cl_ws_arg(ws);

	(void)code, (void)reason;
	c->closed = 1;
	c->ws = NULL;
}

static const struct cl_ws_ops cdp_ops = {
	.message = cdp_message,
	.closed = cdp_closed,
};

/* Call method with params (JSON, or NULL) in session (or NULL): the
 * reply, malloc'd. */
static char *cdp_call(struct cdp *c, const char *session, const char *method,
		      const char *params)
{
	char msg[4096];
	int n;

	c->want = ++c->next_id;
	free(c->reply);
	c->reply = NULL;
	n = snprintf(msg, sizeof msg, "{\"id\":%d,%s%s%s\"method\":\"%s\","
				      "\"params\":%s}",
		     c->want, session ? "\"sessionId\":\"" : "",
		     session ? session : "", session ? "\"," : "", method,
		     params ? params : "{}");
	cl_ws_send(c->ws, CL_WS_TEXT, msg, (size_t)n);
	for (int i = 0; i < 1000 && c->reply == NULL && !c->closed; i++)
		cl_sleep(0.01);
	ck_assert_msg(c->reply != NULL, "DevTools did not answer %s", method);
	snprintf(msg, sizeof msg, "{\"id\":%d,\"error\"", c->want);
	ck_assert_msg(strncmp(c->reply, msg, strlen(msg)) != 0,
		      "DevTools refused %s: %.300s", method, c->reply);
	return c->reply;
}

/* The string value of "key":"..." in json, unescaped, into out. */
static const char *json_str(const char *json, const char *key, char *out,
			    size_t size)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	p = strstr(json, pat);
	if (p == NULL)
		return NULL;
	for (p += strlen(pat); *p && *p != '"' && n + 1 < size; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			out[n++] = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return out;
}

/* Open url in a new tab: the session id to drive it with. */
static void open_tab(struct cdp *c, const char *url, char *session,
		     size_t size)
{
	char params[512], target[128];

	snprintf(params, sizeof params, "{\"url\":\"%s\"}", url);
	ck_assert(json_str(cdp_call(c, NULL, "Target.createTarget", params),
			   "targetId", target, sizeof target));
	snprintf(params, sizeof params,
		 "{\"targetId\":\"%s\",\"flatten\":true}", target);
	ck_assert(json_str(cdp_call(c, NULL, "Target.attachToTarget", params),
			   "sessionId", session, size));
}

/* The value of a JavaScript expression in a tab, as a string. */
static const char *eval(struct cdp *c, const char *session, const char *js,
			char *out, size_t size)
{
	char params[1024];

	snprintf(params, sizeof params,
		 "{\"expression\":\"%s\",\"returnByValue\":true}", js);
	/* A page not loaded yet throws (exceptionDetails): no value. */
	if (json_str(cdp_call(c, session, "Runtime.evaluate", params), "value",
		     out, size) == NULL)
		out[0] = '\0';
	return out;
}

/* Evaluate js in a tab until its value contains want (10 s at most). */
static int eval_until(struct cdp *c, const char *session, const char *js,
		      const char *want, char *out, size_t size)
{
	for (int i = 0; i < 200; i++) {
		if (strstr(eval(c, session, js, out, size), want) != NULL)
			return 1;
		cl_sleep(0.05);
	}
	return 0;
}

struct browser {
	pid_t pid;
	char dir[64];	    /* its profile */
	char log[96];	    /* what it printed */
};

static int devtools_port(struct browser *b, char *path, size_t size)
{
	char file[128];
	FILE *f;
	int port = -1;

	snprintf(file, sizeof file, "%s/DevToolsActivePort", b->dir);
	for (int i = 0; i < 300 && port < 0; i++) {
		f = fopen(file, "r");
		if (f != NULL) {
			if (fscanf(f, "%d %127s", &port, path) != 2)
				port = -1;
			fclose(f);
		}
		if (port < 0)
			cl_sleep(0.05);
	}
	(void)size;
	return port;
}

static void browser_start(struct browser *b)
{
	int fd;

	ck_assert_msg(access("/usr/bin/chromium", X_OK) == 0,
		      "chromium not found: make deps-chat installs it "
		      "(Debian's chromium package)");
	snprintf(b->dir, sizeof b->dir, "/tmp/corolab-chromium-XXXXXX");
	ck_assert(mkdtemp(b->dir) != NULL);
	snprintf(b->log, sizeof b->log, "%s.log", b->dir);
	b->pid = fork();
	if (b->pid == 0) {
		char udd[96];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(b->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		snprintf(udd, sizeof udd, "--user-data-dir=%s", b->dir);
		execl("/usr/bin/chromium", "chromium", "--headless=new",
		      "--no-sandbox", "--disable-gpu", "--no-first-run",
		      "--no-default-browser-check", "--disable-extensions",
		      "--remote-debugging-port=0", "--remote-allow-origins=*",
		      udd, "about:blank", (char *)NULL);
		_exit(127);
	}
}

static void browser_stop(struct browser *b)
{
	char cmd[256];

	if (b->pid > 0) {
		kill(b->pid, SIGTERM);
		waitpid(b->pid, NULL, 0);
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", b->dir, b->log);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", b->dir);
}

static char result[4][2048];

static void *browser_main(void *arg)
{
	struct browser *b = arg;
	struct cl_chat_config cc = { 0 };
	struct cl_http_config hc = { .root = "chapters/08-chat/www",
				     .handler = cl_chat_http };
	struct cl_http_server *srv;
	struct cl_chat *chat;
	static struct cdp c;
	char path[128], url[128], ann[64], bob[64];
	int port, dport;

	chat = cl_chat_new(cl_get_running_loop(), &cc);
	hc.arg = chat;
	srv = cl_http_serve(cl_get_running_loop(), "127.0.0.1", 0, &hc);
	port = cl_http_server_port(srv);

	dport = devtools_port(b, path, sizeof path);
	ck_assert_msg(dport > 0, "chromium did not open its DevTools port "
				 "in 15 s (its output: %s)", b->log);
	c.ws = cl_ws_connect("127.0.0.1", dport, path, &cdp_ops, &c, NULL);

	snprintf(url, sizeof url, "http://127.0.0.1:%d/?room=lobby&name=ann",
		 port);
	open_tab(&c, url, ann, sizeof ann);
	eval_until(&c, ann, "document.getElementById('status').textContent",
		   "in lobby as ann", result[0], sizeof result[0]);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/?room=lobby&name=bob",
		 port);
	open_tab(&c, url, bob, sizeof bob);
	eval_until(&c, bob, "document.getElementById('status').textContent",
		   "in lobby as bob", result[1], sizeof result[1]);

	/* ann types and presses send. */
	eval(&c, ann, "document.getElementById('text').value = "
		      "'hello from ann'; "
		      "document.getElementById('send').click(); 'sent'",
	     result[2], sizeof result[2]);
	eval_until(&c, bob, "document.getElementById('log').innerText",
		   "ann: hello from ann", result[2], sizeof result[2]);
	eval_until(&c, ann, "document.getElementById('members').textContent",
		   "ann, bob", result[3], sizeof result[3]);

	cdp_call(&c, NULL, "Browser.close", NULL);
	free(c.reply);
	c.reply = NULL;
	cl_http_server_close(srv);
	cl_chat_shutdown(chat, 1.0);
	cl_http_server_free(srv);
	cl_chat_free(chat);
	return NULL;
}

START_TEST(test_chat_in_a_browser)
{
	struct browser b = { 0 };

	browser_start(&b);
	run_main(browser_main, &b);
	browser_stop(&b);
	CL_EXPECT_STR(result[0], "in lobby as ann (1 here)");
	CL_EXPECT_STR(result[1], "in lobby as bob (2 here)");
	ck_assert_msg(strstr(result[2], "ann: hello from ann") != NULL,
		      "bob's page does not show ann's line; its log reads: %s",
		      result[2]);
	CL_EXPECT_STR(result[3], "ann, bob");
}
END_TEST

static void add_tests(void)
{
	cl_test_timeout(test_chat_in_a_browser, 4, SEC_BROWSER, 60);
}
CL_CHAPTER(8, "08-chat", "chat", add_tests)
