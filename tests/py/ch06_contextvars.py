# ch06_contextvars.py - ContextVar, Token, Context, and the contexts that
# tasks and callbacks run in (chapter 06, sections 5, 6 and 7). Each block
# is one test of tests/ch06_contextvars.c, named in its comment; the C
# test expects exactly the line it prints.
#
# Every block makes its own variables, so that no block sees what another
# set. The blocks of sections 5 and 6 run outside any loop, in the
# thread's own context, as the C tests do; those of section 7 run on a
# virtual clock (VirtualLoop, as in ch05_taskgroup.py): it reads 0 at the
# start and jumps from deadline to deadline, so times are exact.
#
# get(var) prints var.get() or the name of what it raised, and old(token)
# prints Token.MISSING as MISSING: the C tests print the same words.
# Run: python3 ch06_contextvars.py
import asyncio
import selectors
from contextvars import Context, ContextVar, Token, copy_context

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


class VirtualSelector(selectors.DefaultSelector):
    def __init__(self, loop):
        super().__init__()
        self._vloop = loop

    def select(self, timeout=None):
        events = super().select(0)
        if not events and timeout:
            self._vloop._vt += timeout
        return events


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self):
        self._vt = 0.0
        super().__init__(VirtualSelector(self))

    def time(self):
        return self._vt


def run(coro):
    with asyncio.Runner(loop_factory=VirtualLoop) as r:
        return r.run(coro)


def now():
    return f"{asyncio.get_running_loop().time():g}"


def get(var, *dflt):
    try:
        return str(var.get(*dflt))
    except LookupError as e:
        return type(e).__name__


def cget(ctx, var):
    """ctx[var], or the name of what it raised."""
    try:
        return str(ctx[var])
    except LookupError as e:
        return type(e).__name__


def old(token):
    v = token.old_value
    return "MISSING" if v is Token.MISSING else str(v)


def reset(var, token):
    """var.reset(token): "ok", or the name of what it raised."""
    try:
        var.reset(token)
        return "ok"
    except (RuntimeError, ValueError) as e:
        return type(e).__name__


# --- 5. ContextVar and Token ---------------------------------------------

# test_contextvar_get_without_a_default: nothing set and no default:
# LookupError, whose argument is the variable itself; get's own default
# argument comes first; a value set comes before both.
def get_without_default():
    x = ContextVar("x")
    try:
        x.get()
    except LookupError as e:
        log.append(f"{type(e).__name__}:{e.args[0].name} "
                   f"arg_is_var={e.args[0] is x}")
    log.append(f"get_or={x.get(7)}")
    x.set(1)
    log.append(f"get={x.get()} get_or={x.get(7)}")


get_without_default()
show("test_contextvar_get_without_a_default")


# test_contextvar_get_with_a_default: the variable's default when nothing
# is set, but get's argument before it; a value set before both; reset to
# "nothing set" brings the default back. A default of None is a default.
def get_with_default():
    y = ContextVar("y", default=10)
    z = ContextVar("z", default=None)
    log.append(f"get={get(y)} get_or={get(y, 5)} z={get(z)}")
    t = y.set(3)
    log.append(f"get={get(y)} get_or={get(y, 5)} old={old(t)}")
    y.reset(t)
    log.append(f"get={get(y)} in_ctx={y in copy_context()}")


get_with_default()
show("test_contextvar_get_with_a_default")


# test_token_remembers_the_old_value: each set's token holds the value
# before it (MISSING the first time) and its variable; resetting the
# tokens in the reverse order puts each value back, and the first token
# removes the variable from the context.
def old_values():
    x = ContextVar("x")
    t1 = x.set(1)
    t2 = x.set(2)
    log.append(f"t1.old={old(t1)} t1.var={t1.var.name} "
               f"t2.old={old(t2)} t2.var_is_x={t2.var is x} x={get(x)}")
    x.reset(t2)
    log.append(f"reset(t2):{get(x)}")
    x.reset(t1)
    log.append(f"reset(t1):{get(x)} in_ctx={x in copy_context()}")


old_values()
show("test_token_remembers_the_old_value")


# test_token_used_twice: a token resets once; the second time is a
# RuntimeError, checked before the variable (so even with another
# variable), and it changes nothing.
def used_twice():
    x = ContextVar("x")
    y = ContextVar("y")
    x.set(1)
    t = x.set(2)
    log.append(f"first:{reset(x, t)} x={get(x)}")
    log.append(f"second:{reset(x, t)} x={get(x)}")
    log.append(f"other_var:{reset(y, t)} x={get(x)} y={get(y)}")


used_twice()
show("test_token_used_twice")


# test_token_of_another_variable: ValueError, nothing changes, and the
# token is still good for its own variable.
def other_var():
    x = ContextVar("x")
    y = ContextVar("y")
    y.set(5)
    t = x.set(1)
    log.append(f"y.reset:{reset(y, t)} x={get(x)} y={get(y)}")
    log.append(f"x.reset:{reset(x, t)} x={get(x)} y={get(y)}")


other_var()
show("test_token_of_another_variable")


# test_token_from_another_context: a token made inside ctx.run belongs to
# ctx: outside it is a ValueError and changes nothing; inside ctx it
# resets ctx's value.
def other_context():
    x = ContextVar("x")
    x.set(1)
    ctx = copy_context()
    t = ctx.run(x.set, 5)
    log.append(f"old={old(t)} ctx={cget(ctx, x)} x={get(x)}")
    log.append(f"outside:{reset(x, t)} x={get(x)} ctx={cget(ctx, x)}")
    log.append(f"inside:{ctx.run(reset, x, t)} x={get(x)} "
               f"ctx={cget(ctx, x)}")


other_context()
show("test_token_from_another_context")


# test_tokens_reset_out_of_order: set 1 (t1), set 2 (t2), then reset t1
# first: the variable goes back to what it was before t1 (nothing), and
# t2 then puts back what was before t2 (1). Tokens are not a stack.
def out_of_order():
    x = ContextVar("x")
    a = ContextVar("a")
    b = ContextVar("b", default=20)
    t1 = x.set(1)
    t2 = x.set(2)
    x.reset(t1)
    log.append(f"reset(t1):{get(x)}")
    x.reset(t2)
    log.append(f"reset(t2):{get(x)}")
    ta = a.set(1)
    tb = b.set(2)
    a.reset(ta)
    log.append(f"a={get(a)} b={get(b)}")
    b.reset(tb)
    log.append(f"a={get(a)} b={get(b)}")


out_of_order()
show("test_tokens_reset_out_of_order")


# --- 6. Context.run -------------------------------------------------------

# test_copy_context_is_a_snapshot: what is set after the copy does not
# show in it, and ctx.run reads the copy's values.
def snapshot():
    x = ContextVar("x")
    x.set(1)
    ctx = copy_context()
    x.set(2)
    log.append(f"ctx={cget(ctx, x)} x={get(x)} in_run={ctx.run(get, x)}")


snapshot()
show("test_copy_context_is_a_snapshot")


# test_context_run_keeps_what_fn_sets: ctx is current while fn runs; fn's
# sets stay in ctx, are invisible outside, and are there at the next run;
# run returns fn's value.
def keeps_sets():
    x = ContextVar("x")
    y = ContextVar("y")
    x.set(1)
    ctx = copy_context()

    def fn():
        log.append(f"in:x={get(x)}")
        x.set(5)
        y.set(6)
        log.append(f"in:x={get(x)} y={get(y)}")
        return 42

    log.append(f"ret={ctx.run(fn)}")
    log.append(f"out:x={get(x)} y={get(y)} ctx:x={cget(ctx, x)} "
               f"y={cget(ctx, y)} again={ctx.run(get, x)}")


keeps_sets()
show("test_context_run_keeps_what_fn_sets")


# test_context_run_restores_on_raise: fn raises: the exception comes out
# of run, the old context is current again, what fn set before raising
# stays in ctx, and ctx can be entered again.
def restores_on_raise():
    x = ContextVar("x")
    x.set(1)
    ctx = copy_context()

    def boom():
        x.set(7)
        raise ValueError("boom")

    try:
        ctx.run(boom)
    except ValueError as e:
        log.append(f"{type(e).__name__}:{e}")
    log.append(f"x={get(x)} ctx={cget(ctx, x)} again={ctx.run(get, x)}")


restores_on_raise()
show("test_context_run_restores_on_raise")


# test_context_entered_twice: entering a context that is current, or
# under the current one, is a RuntimeError and changes nothing; other
# contexts nest, each run putting back the one before.
def entered_twice():
    x = ContextVar("x")
    ctx = Context()
    ctx2 = Context()

    def try_enter(tag):
        try:
            ctx.run(get, x)
            log.append(f"{tag}:entered")
        except RuntimeError as e:
            log.append(f"{tag}:{type(e).__name__}")

    def deep():
        log.append(f"deep:x={get(x)}")
        x.set(2)
        try_enter("below")
        log.append(f"deep:x={get(x)}")

    def outer():
        x.set(1)
        try_enter("self")
        ctx2.run(deep)
        log.append(f"outer:x={get(x)}")

    ctx.run(outer)
    log.append(f"x={get(x)} again={ctx.run(get, x)} ctx2={cget(ctx2, x)}")


entered_twice()
show("test_context_entered_twice")


# test_context_mapping: len, in, get with a default (the variable's own
# default does not count: the context holds no value for it), and [],
# which raises KeyError whose argument is the variable.
def mapping():
    x = ContextVar("x")
    y = ContextVar("y")
    z = ContextVar("z")
    w = ContextVar("w", default=4)
    ctx = Context()

    def fill():
        x.set(1)
        y.set(2)

    ctx.run(fill)
    log.append(f"len={len(ctx)} x_in={x in ctx} z_in={z in ctx} "
               f"w_in={w in ctx}")
    log.append(f"get(x,9)={ctx.get(x, 9)} get(z,9)={ctx.get(z, 9)} "
               f"get(w,9)={ctx.get(w, 9)} get(z)={ctx.get(z)} "
               f"[y]={ctx[y]}")
    for v in (z, w):
        try:
            ctx[v]
        except KeyError as e:
            log.append(f"{type(e).__name__}:{e.args[0].name} "
                       f"arg_is_var={e.args[0] is v}")
    log.append(f"empty={len(Context())}")


mapping()
show("test_context_mapping")


# test_context_items: ctx.items() yields every variable with its value,
# once each (in an order of its own: printed sorted); 40 variables, so
# that the map has more than one level.
def items():
    vs = [ContextVar(f"v{i}") for i in range(40)]
    index = {v: i for i, v in enumerate(vs)}
    ctx = Context()

    def fill():
        for i, v in enumerate(vs):
            v.set(i * i + 1)

    ctx.run(fill)
    seen = sorted((index[v], val) for v, val in ctx.items())
    n_ok = sum(1 for i, val in seen if val == i * i + 1)
    distinct = len({i for i, _ in seen})
    log.append(f"n={len(seen)} distinct={distinct} right={n_ok} "
               f"first={seen[0][0]}={seen[0][1]} "
               f"last={seen[-1][0]}={seen[-1][1]}")
    small = Context()
    small.run(vs[3].set, 7)
    log.append(f"small={[(v.name, val) for v, val in small.items()]}")
    log.append(f"empty={len(list(Context().items()))}")


items()
show("test_context_items")


# test_context_copy_is_independent: ctx.copy() starts with ctx's values;
# afterwards sets in either do not show in the other.
def copy_independent():
    x = ContextVar("x")
    y = ContextVar("y")
    c1 = Context()
    c1.run(x.set, 1)
    c2 = c1.copy()
    log.append(f"c2:x={cget(c2, x)}")
    c2.run(x.set, 2)
    c2.run(y.set, 3)
    c1.run(x.set, 4)
    log.append(f"c1:x={cget(c1, x)} y={cget(c1, y)} len={len(c1)} "
               f"c2:x={cget(c2, x)} y={cget(c2, y)} len={len(c2)}")


copy_independent()
show("test_context_copy_is_independent")


# test_tokens_and_contexts_freed_in_any_order: a token keeps its context
# alive: with the context dropped first, the token still belongs to it,
# not to a new context made afterwards (in C it may get the same memory).
# A token dropped first leaves its context's value alone.
def freed_in_any_order():
    x = ContextVar("x")
    ctx = Context()
    t = ctx.run(x.set, 1)
    del ctx
    ctx2 = Context()
    log.append(f"ctx_first:{ctx2.run(reset, x, t)} old={old(t)} "
               f"var={t.var.name} ctx2={cget(ctx2, x)}")
    del t, ctx2
    ctx = Context()
    t = ctx.run(x.set, 2)
    del t
    log.append(f"token_first:ctx={cget(ctx, x)} len={len(ctx)}")
    del ctx
    t = x.set(3)
    x.reset(t)
    del t
    log.append(f"base:x={get(x)}")


freed_in_any_order()
show("test_tokens_and_contexts_freed_in_any_order")


# --- 7. Tasks and callbacks -----------------------------------------------

# test_task_copies_the_context_at_creation: the child sees what was set
# when it was created, not what the parent set afterwards.
async def creation():
    x = ContextVar("x")

    async def child():
        log.append(f"child:x={get(x)}")

    x.set(1)
    t = asyncio.create_task(child())
    x.set(2)
    await t
    log.append(f"main:x={get(x)}")


run(creation())
show("test_task_copies_the_context_at_creation")


# test_task_sets_stay_in_the_task: what the child sets it keeps across its
# awaits, and the parent never sees, neither while the child sleeps nor
# after it ended.
async def stay_in_task():
    x = ContextVar("x")
    y = ContextVar("y")

    async def child():
        x.set(3)
        y.set(4)
        await asyncio.sleep(1)
        log.append(f"child:x={get(x)} y={get(y)}@{now()}")

    x.set(1)
    t = asyncio.create_task(child())
    await asyncio.sleep(0.5)
    log.append(f"main:x={get(x)} y={get(y)}@{now()}")
    await t
    log.append(f"main:x={get(x)} y={get(y)}@{now()}")


run(stay_in_task())
show("test_task_sets_stay_in_the_task")


# test_context_inherited_through_a_chain: main creates a, a creates b, b
# creates c: c sees what b had set when it created c, including what a
# set before creating b; nobody sees what the tasks below it set.
async def chain():
    x = ContextVar("x")
    y = ContextVar("y")

    async def c():
        log.append(f"c:x={get(x)} y={get(y)}")
        x.set(30)

    async def b():
        x.set(3)
        t = asyncio.create_task(c())
        x.set(33)
        await t
        log.append(f"b:x={get(x)}")

    async def a():
        y.set(2)
        x.set(2)
        await asyncio.create_task(b())
        log.append(f"a:x={get(x)} y={get(y)}")

    x.set(1)
    await asyncio.create_task(a())
    log.append(f"main:x={get(x)} y={get(y)}")


run(chain())
show("test_context_inherited_through_a_chain")


# test_interleaved_tasks_keep_their_own_values: three "requests", each
# setting the variable to its id and then sleeping, wake up in an order
# of their own and each still finds its own id.
async def interleaved():
    rid = ContextVar("rid")

    async def handler(n, d):
        rid.set(n)
        await asyncio.sleep(d)
        log.append(f"{n}:rid={get(rid)}@{now()}")
        await asyncio.sleep(d)
        log.append(f"{n}:rid={get(rid)}@{now()}")

    ts = [asyncio.create_task(handler(1, 2.5)),
          asyncio.create_task(handler(2, 1)),
          asyncio.create_task(handler(3, 1.5))]
    for t in ts:
        await t
    log.append(f"main:rid={get(rid)}")


run(interleaved())
show("test_interleaved_tasks_keep_their_own_values")


# test_create_task_in_a_given_context: create_task(context=ctx): the task
# runs in ctx itself, not in a copy: what it sets is in ctx afterwards,
# and still not in the parent.
async def given_context():
    x = ContextVar("x")
    y = ContextVar("y")

    async def child():
        log.append(f"child:x={get(x)}")
        x.set(5)
        y.set(6)
        await asyncio.sleep(1)
        log.append(f"child:x={get(x)}@{now()}")

    x.set(1)
    ctx = copy_context()
    t = asyncio.create_task(child(), context=ctx)
    x.set(2)
    await t
    log.append(f"main:x={get(x)} y={get(y)} ctx:x={cget(ctx, x)} "
               f"y={cget(ctx, y)}")


run(given_context())
show("test_create_task_in_a_given_context")


# test_two_tasks_share_a_context: two tasks given the same context see
# each other's sets, in the order they happen.
async def shared():
    x = ContextVar("x")
    y = ContextVar("y")

    async def t1():
        x.set(1)
        await asyncio.sleep(2)
        log.append(f"t1:y={get(y)}@{now()}")

    async def t2():
        log.append(f"t2:x={get(x)}@{now()}")
        await asyncio.sleep(1)
        log.append(f"t2:x={get(x)}@{now()}")
        y.set(2)

    ctx = Context()
    a = asyncio.create_task(t1(), context=ctx)
    b = asyncio.create_task(t2(), context=ctx)
    await a
    await b
    log.append(f"main:x={get(x)} ctx:x={cget(ctx, x)} y={cget(ctx, y)}")


run(shared())
show("test_two_tasks_share_a_context")


# test_call_soon_runs_in_a_copy: each callback runs in a copy of the
# context taken when it was scheduled: a later set in the scheduler does
# not show in it, and what it sets shows nowhere else, not even in the
# callback after it.
async def call_soon_copy():
    x = ContextVar("x")
    y = ContextVar("y")
    loop = asyncio.get_running_loop()

    def cb(tag):
        log.append(f"{tag}:x={get(x)} y={get(y)}")
        x.set(9)
        y.set(9)

    x.set(1)
    loop.call_soon(cb, "a")
    x.set(2)
    loop.call_soon(cb, "b")
    x.set(3)
    await asyncio.sleep(0)
    log.append(f"main:x={get(x)} y={get(y)}")


run(call_soon_copy())
show("test_call_soon_runs_in_a_copy")


# test_timers_run_in_a_copy: call_later and call_at likewise, however
# long after the scheduling they fire.
async def timers_copy():
    x = ContextVar("x")
    loop = asyncio.get_running_loop()

    def cb(tag):
        log.append(f"{tag}:x={get(x)}@{now()}")
        x.set(9)

    x.set(1)
    loop.call_later(1, cb, "later")
    x.set(2)
    loop.call_at(loop.time() + 2, cb, "at")
    x.set(3)
    await asyncio.sleep(3)
    log.append(f"main:x={get(x)}@{now()}")


run(timers_copy())
show("test_timers_run_in_a_copy")


# test_callbacks_in_a_given_context: call_soon, call_later and call_at
# with context=ctx run in ctx itself: each sees what the one before set,
# and ctx keeps the last value; the scheduler sees none of it.
async def given_callbacks():
    x = ContextVar("x")
    loop = asyncio.get_running_loop()
    ctx = Context()

    def cb(tag):
        log.append(f"{tag}:x={get(x)}@{now()}")
        x.set(x.get(0) + 1)

    loop.call_soon(cb, "soon", context=ctx)
    loop.call_later(1, cb, "later", context=ctx)
    loop.call_at(loop.time() + 2, cb, "at", context=ctx)
    loop.call_soon(cb, "copy")
    await asyncio.sleep(3)
    log.append(f"main:x={get(x)} ctx:x={cget(ctx, x)}")


run(given_callbacks())
show("test_callbacks_in_a_given_context")


# test_done_callbacks_run_in_a_copy: a done callback runs in a copy of
# the context current when it was added (not when the future completed),
# or in the context it was given; one added to a done future too.
async def done_callbacks():
    x = ContextVar("x")
    loop = asyncio.get_running_loop()
    ctx = Context()

    def dcb(tag):
        def cb(fut):
            log.append(f"{tag}:x={get(x)}")
            x.set(x.get(0) + 10)
        return cb

    f = loop.create_future()
    x.set(1)
    f.add_done_callback(dcb("copy"))
    x.set(2)
    f.add_done_callback(dcb("given"), context=ctx)
    x.set(3)
    f.set_result(None)
    await asyncio.sleep(0)
    log.append(f"main:x={get(x)} ctx:x={cget(ctx, x)}")
    x.set(4)
    f.add_done_callback(dcb("late"))
    f.add_done_callback(dcb("late-given"), context=ctx)
    x.set(5)
    await asyncio.sleep(0)
    log.append(f"main:x={get(x)} ctx:x={cget(ctx, x)}")


run(done_callbacks())
show("test_done_callbacks_run_in_a_copy")


# test_callback_scheduled_by_a_task_copies_its_context: a callback that a
# task schedules runs in a copy of the task's context, as it was then.
async def from_task():
    x = ContextVar("x")
    loop = asyncio.get_running_loop()

    def cb():
        log.append(f"cb:x={get(x)}")
        x.set(9)

    async def child():
        x.set(5)
        loop.call_soon(cb)
        x.set(6)
        await asyncio.sleep(0)
        log.append(f"child:x={get(x)}")

    x.set(1)
    await asyncio.create_task(child())
    log.append(f"main:x={get(x)}")


run(from_task())
show("test_callback_scheduled_by_a_task_copies_its_context")


# test_context_run_inside_a_task: inside a task, ctx.run makes ctx
# current: what fn sets stays in ctx, and a callback or a task made inside
# it copies ctx, not the task's context. The task's own values are back
# afterwards.
async def run_in_task():
    x = ContextVar("x")
    loop = asyncio.get_running_loop()
    ctx = Context()

    def cb():
        log.append(f"cb:x={get(x)}")

    async def child():
        log.append(f"child:x={get(x)}")

    def fn():
        x.set(7)
        log.append(f"in:x={get(x)}")
        loop.call_soon(cb)
        return asyncio.create_task(child())

    x.set(1)
    t = ctx.run(fn)
    log.append(f"main:x={get(x)}")
    await t
    log.append(f"main:x={get(x)} ctx:x={cget(ctx, x)}")


run(run_in_task())
show("test_context_run_inside_a_task")


# test_cancelled_task_keeps_its_context: the step that throws
# CancelledError into the task runs in the task's context too.
async def cancelled():
    x = ContextVar("x")

    async def child():
        x.set(5)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            log.append(f"child:cancelled x={get(x)}@{now()}")
            raise

    x.set(1)
    t = asyncio.create_task(child())
    await asyncio.sleep(1)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        log.append(f"main:x={get(x)} cancelled={t.cancelled()}")


run(cancelled())
show("test_cancelled_task_keeps_its_context")


# test_failed_task_leaves_the_context: a task that raises out of its
# coroutine leaves its context as any step does: the parent that awaits
# it gets the exception and its own values.
async def failed():
    x = ContextVar("x")

    async def child():
        x.set(9)
        await asyncio.sleep(1)
        x.set(10)
        raise ValueError("child")

    x.set(1)
    t = asyncio.create_task(child())
    try:
        await t
    except ValueError as e:
        log.append(f"main:{type(e).__name__}:{e} x={get(x)}@{now()}")
    await asyncio.sleep(0)
    log.append(f"main:x={get(x)}")


run(failed())
show("test_failed_task_leaves_the_context")


# test_run_gives_main_a_copy: asyncio.run runs main in a copy of the
# caller's context: main sees what was set before, and what it sets is
# gone when run returns.
def run_copy():
    x = ContextVar("x")
    y = ContextVar("y")

    async def main():
        log.append(f"main:x={get(x)} y={get(y)}")
        x.set(2)
        y.set(3)
        log.append(f"main:x={get(x)} y={get(y)}")

    x.set(1)
    run(main())
    log.append(f"after:x={get(x)} y={get(y)}")


run_copy()
show("test_run_gives_main_a_copy")
