/*
 * ctxvar.c - ContextVar, Token and Context (ctxvar.h) on hamt.h's map.
 *
 * The whole state is one pointer per thread, current: the context in
 * which get and set work. A context is a mutable box around an
 * immutable map; set replaces the box's map by a new one. Entering a
 * context pushes it: it remembers the one it replaced (prev) and is
 * marked entered until it is left, so that no context is ever current
 * twice in one chain.
 *
 * Python: Python/context.c. PyContextVar_Get is var_get below,
 * contextvar_set is var_set, _PyContext_Enter and _PyContext_Exit are
 * cl__context_enter and cl__context_exit.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctxvar.h"
#include "exc.h"
#include "loop.h"
#include "trace.h"

char cl__missing;

/* The thread's current context; NULL until something needs one. */
static _Thread_local struct cl_context *current;
static _Thread_local unsigned long last_id; /* ctx:N in the trace */
static _Thread_local struct cl__spares spares; /* contexts (loop.h) */
static _Thread_local struct cl__spares token_spares;

/*
 * A variable's hash is its address, mixed (the low bits of an address
 * are mostly zeros, and the trie reads the low bits first). CPython
 * mixes the address with the hash of the name (contextvar_generate_hash).
 */
static uint32_t hash_of(const void *p)
{
	uint64_t x = (uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x;
}

void cl_contextvar_init(struct cl_contextvar *v, const char *name)
{
	v->name = name;
	v->default_value = NULL;
	v->has_default = 0;
	v->hash = hash_of(v);
}

void cl_contextvar_init_default(struct cl_contextvar *v, const char *name,
				void *value)
{
	cl_contextvar_init(v, name);
	v->default_value = value;
	v->has_default = 1;
}

/* A variable's name as one word of the trace. */
static const char *trace_name(char *buf, size_t size, const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < size; i++)
		buf[i] = (unsigned char)name[i] <= ' ' || name[i] == '"' ||
				 name[i] == '\\' || name[i] == '='
			       ? '_'
			       : name[i];
	buf[i] = '\0';
	return buf;
}

/* Contexts. */

static struct cl_context *context_alloc(struct cl_hamt *vars,
					unsigned long from)
{
	struct cl_context *c = cl__spare_get(&spares);

	if (c == NULL && (c = malloc(sizeof *c)) == NULL)
		return NULL;
	c->refcnt = 1;
	c->entered = 0;
	c->prev = NULL;
	c->vars = vars;
	c->id = ++last_id;
	CL_TRACE("ctx.new", "ctx=%lu from=%lu", c->id, from);
	return c;
}

struct cl_context *cl_context_new(void)
{
	return context_alloc(cl_hamt_new(), 0);
}

struct cl_context *cl_context_copy(const struct cl_context *c)
{
	struct cl_context *n = context_alloc(c->vars, c->id);

	if (n != NULL)
		cl_hamt_incref(c->vars);
	return n;
}

struct cl_context *cl_context_copy_unshared(const struct cl_context *c)
{
	struct cl_context *n = cl_context_new();
	struct cl_hamt_iter it;
	const void *key;
	void *val;

	if (n == NULL)
		return NULL;
	cl_hamt_iter_init(&it, c->vars);
	while (cl_hamt_next(&it, &key, &val)) {
		const struct cl_contextvar *v = key;
		struct cl_hamt *m;
		int err = cl_hamt_set(n->vars, v, v->hash, val, &m);

		if (err < 0) {
			cl_context_decref(n);
			errno = -err;
			return NULL;
		}
		cl_hamt_decref(n->vars);
		n->vars = m;
	}
	return n;
}

/*
 * A thread's first context lives as long as the thread. When a thread
 * other than the first ends (chapter 07's pools), this drops it, and
 * then what the thread kept for reuse.
 */
static pthread_key_t base_key;
static pthread_once_t base_once = PTHREAD_ONCE_INIT;

static void base_context_free(void *p)
{
	struct cl_context *c = p;

	if (current == c) {
		current = NULL;
		c->entered = 0;
		cl_context_decref(c);
	}
	cl__context_free_spares();
}

static void base_key_make(void)
{
	pthread_key_create(&base_key, base_context_free);
}

struct cl_context *cl_context_current(void)
{
	if (current == NULL) {
		/* The thread's first context: made, and entered, for good. */
		current = cl_context_new();
		if (current == NULL)
			cl_raise(cl_exc_new(&cl_MemoryError, NULL));
		current->entered = 1;
		pthread_once(&base_once, base_key_make);
		pthread_setspecific(base_key, current);
	}
	return current;
}

struct cl_context *cl_copy_context(void)
{
	return cl_context_copy(cl_context_current());
}

void cl__context_free(struct cl_context *c)
{
	cl_hamt_decref(c->vars);
	cl__spare_put(&spares, c);
}

void cl__context_free_ref(struct cl_context *c)
{
	cl_context_decref(c);
}

void cl__context_free_spares(void)
{
	cl__spare_free_all(&spares);
	cl__spare_free_all(&token_spares);
	cl__hamt_free_spares();
}

struct cl_exc *cl__context_busy_error(const struct cl_context *c)
{
	return cl_exc_new(&cl_RuntimeError, "cannot enter context: "
			  "<Context ctx:%lu at %p> is already entered",
			  c->id, (const void *)c);
}

/* TODO(ch06): cl__context_enter makes c the current context and
 * marks it entered, remembering the one it replaces; -EBUSY, and
 * nothing changed, if c is entered already. cl__context_exit undoes
 * it. The loop runs every callback between the two, a task's step
 * too. Mirrors Python/context.c _PyContext_Enter, _PyContext_Exit;
 * read section 6.
 * Hints: make hint CH=6 TODO=context_enter (1 level). */
int cl__context_enter(struct cl_context *c)
{
	(void)c;
	return 0;
}

void cl__context_exit(struct cl_context *c)
{
	(void)c;
}

void cl__context_leave(struct cl_context *c)
{
	if (!c->entered) /* the lab's stub of enter did nothing */
		return;
	if (current != c) {
		fprintf(stderr, "corolab: a callback or task step ended in "
				"another context than it began in: a coroutine "
				"suspended inside cl_context_run, whose fn must "
				"not await (ctxvar.h)\n");
		abort();
	}
	cl__context_exit(c);
}

/* TODO(ch06): fn(arg) with c current, and the context current
 * before back however fn ends, by a return or a raise (which goes
 * on); RuntimeError (cl__context_busy_error) if c is entered
 * already. What fn sets stays in c. Mirrors Python/context.c
 * context_run; read section 6.
 * Hints: make hint CH=6 TODO=context_run (2 levels). */
void *cl_context_run(struct cl_context *c, void *(*fn)(void *arg),
		     void *arg)
{
	(void)c, (void)fn, (void)arg;
	cl_raise(cl_exc_new(&cl_NotImplementedError,
			    "Context.run: not implemented (TODO ch06)"));
}

/* Variables. */

/* The variable's value in the current context: 1 and *out, or 0. */
static int var_lookup(const struct cl_contextvar *v, void **out)
{
	struct cl_context *c = current;

	return c != NULL && cl_hamt_get(c->vars, v, v->hash, out);
}

static __attribute__((noreturn)) void raise_lookup(struct cl_contextvar *v)
{
	struct cl_exc *e = cl_exc_new(&cl_LookupError,
				      "<ContextVar name='%s' at %p>", v->name,
				      (void *)v);

	cl_exc_set_value(e, v);
	cl_raise(e);
}

/* TODO(ch06): cl_contextvar_get_or: v's value in the current
 * context, else dflt; cl_contextvar_get: the value, else v's default
 * if it has one, else raise LookupError whose value (cl_exc_value)
 * is v. Mirrors Python/context.c PyContextVar_Get; section 5.
 * Hints: make hint CH=6 TODO=contextvar_get (1 level). */
void *cl_contextvar_get_or(struct cl_contextvar *v, void *dflt)
{
	(void)v, (void)dflt, (void)var_lookup;
	cl_raise(cl_exc_new(&cl_NotImplementedError,
			    "ContextVar.get: not implemented (TODO ch06)"));
}

void *cl_contextvar_get(struct cl_contextvar *v)
{
	(void)v, (void)raise_lookup;
	cl_raise(cl_exc_new(&cl_NotImplementedError,
			    "ContextVar.get: not implemented (TODO ch06)"));
}

/* Raise what a failed map operation means. */
static __attribute__((noreturn)) void raise_errno(int err, const char *what)
{
	if (err == -ENOSYS)
		cl_raise(cl_exc_new(&cl_NotImplementedError,
				    "%s: the map's set is not implemented "
				    "(TODO ch06 bitmap_assoc)", what));
	cl_raise(cl_exc_new(&cl_MemoryError, NULL));
}

static void trace_set(const struct cl_context *c,
		      const struct cl_contextvar *v, void *val, int removed)
{
	char name[48];

	if (removed)
		CL_TRACE("var.set", "ctx=%lu var=%s value=-", c->id,
			 trace_name(name, sizeof name, v->name));
	else
		CL_TRACE("var.set", "ctx=%lu var=%s value=%ld", c->id,
			 trace_name(name, sizeof name, v->name),
			 (long)(intptr_t)val);
}

/* c's map becomes vars (a reference taken over): v was set to val. */
static void var_commit(struct cl_context *c, struct cl_hamt *vars,
		       const struct cl_contextvar *v, void *val)
{
	cl_hamt_decref(c->vars);
	c->vars = vars;
	trace_set(c, v, val, 0);
}

/* v = val in the current context c: its map is replaced. */
static void var_set(struct cl_context *c, struct cl_contextvar *v, void *val)
{
	struct cl_hamt *vars;
	int err = cl_hamt_set(c->vars, v, v->hash, val, &vars);

	if (err < 0)
		raise_errno(err, "ContextVar.set");
	var_commit(c, vars, v, val);
}

/* del v in c (contextvar_del): nothing to do if v has no value. */
static void var_del(struct cl_context *c, struct cl_contextvar *v)
{
	struct cl_hamt *vars;
	int err = cl_hamt_del(c->vars, v, v->hash, &vars);

	if (err == -ENOENT)
		return;
	if (err < 0)
		raise_errno(err, "ContextVar.reset");
	cl_hamt_decref(c->vars);
	c->vars = vars;
	trace_set(c, v, NULL, 1);
}

void cl_contextvar_set(struct cl_contextvar *v, void *value)
{
	var_set(cl_context_current(), v, value);
}

/* The new map first, then the token: what can fail happens before
 * anything changes, so there is nothing to undo (and no CL_TRY). */
struct cl_token *cl_contextvar_set_token(struct cl_contextvar *v, void *value)
{
	struct cl_context *c = cl_context_current();
	struct cl_token *t;
	struct cl_hamt *vars;
	int err = cl_hamt_set(c->vars, v, v->hash, value, &vars);

	if (err < 0)
		raise_errno(err, "ContextVar.set");
	t = cl__spare_get(&token_spares);
	if (t == NULL && (t = malloc(sizeof *t)) == NULL) {
		cl_hamt_decref(vars);
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	}
	if (!cl_hamt_get(c->vars, v, v->hash, &t->old_value))
		t->old_value = CL_MISSING;
	t->refcnt = 1;
	t->used = 0;
	t->var = v;
	t->ctx = cl_context_incref(c);
	var_commit(c, vars, v, value);
	return t;
}

struct cl_token *cl_token_incref(struct cl_token *t)
{
	t->refcnt++;
	return t;
}

void cl_token_decref(struct cl_token *t)
{
	if (t == NULL || --t->refcnt > 0)
		return;
	cl_context_decref(t->ctx);
	cl__spare_put(&token_spares, t);
}

/* The token as Python shows it in the errors of reset. */
static struct cl_exc *token_error(const struct cl_exc_type *type,
				  const struct cl_token *t, const char *what)
{
	return cl_exc_new(type, "<Token%s var=<ContextVar name='%s' at %p> "
			  "at %p> %s", t->used ? " used" : "", t->var->name,
			  (void *)t->var, (const void *)t, what);
}

/* TODO(ch06): cl_contextvar_reset(v, t): v gets back in the
 * current context what it had before the set that made t (no value
 * if t's old value is CL_MISSING). t is used once: RuntimeError the
 * second time; ValueError if t is v's no longer or not of this
 * context; on error nothing changes. Mirrors Python/context.c
 * PyContextVar_Reset; read section 5.
 * No hints: the contract is all. */
void cl_contextvar_reset(struct cl_contextvar *v, struct cl_token *t)
{
	(void)v, (void)t, (void)token_error, (void)var_del;
	cl_raise(cl_exc_new(&cl_NotImplementedError,
			    "ContextVar.reset: not implemented (TODO ch06)"));
}

/* The mapping. */

size_t cl_context_len(const struct cl_context *c)
{
	return cl_hamt_len(c->vars);
}

int cl_context_contains(const struct cl_context *c,
			const struct cl_contextvar *v)
{
	void *val;

	return cl_hamt_get(c->vars, v, v->hash, &val);
}

void *cl_context_get(const struct cl_context *c,
		     const struct cl_contextvar *v, void *dflt)
{
	void *val;

	return cl_hamt_get(c->vars, v, v->hash, &val) ? val : dflt;
}

void *cl_context_getitem(const struct cl_context *c,
			 const struct cl_contextvar *v)
{
	void *val;
	struct cl_exc *e;

	if (cl_hamt_get(c->vars, v, v->hash, &val))
		return val;
	e = cl_exc_new(&cl_KeyError, "<ContextVar name='%s' at %p>", v->name,
		       (const void *)v);
	cl_exc_set_value(e, (void *)v);
	cl_raise(e);
}

void cl_context_iter_init(struct cl_context_iter *it,
			  const struct cl_context *c)
{
	cl_hamt_iter_init(&it->it, c->vars);
}

int cl_context_next(struct cl_context_iter *it, struct cl_contextvar **v,
		    void **value)
{
	const void *key;

	if (!cl_hamt_next(&it->it, &key, value))
		return 0;
	*v = (struct cl_contextvar *)key;
	return 1;
}
