# ch01_pipeline.py - the generator pipeline of chapter 01:
# chars -> tokens -> numbers, each stage a generator pulling from the last.
# The C twins are cl_sgen_chars, cl_sgen_tokens and cl_sgen_numbers
# (solutions/sgens.c). Run: python3 ch01_pipeline.py

TOKEN_MAX = 16  # CL_TOKEN_MAX: longest token is 15 characters


def chars(s):
    n = 0
    for c in s:
        yield c
        n += 1
    return n


def tokens(src):
    """Numbers, words and single punctuation characters; spaces skipped."""
    count = 0
    c = next(src, None)                     # one character of lookahead
    while c is not None:
        if c.isspace():
            c = next(src, None)
            continue
        text = c
        if c.isdigit():
            kind, more = "NUMBER", str.isdigit
        elif c.isalpha() or c == "_":
            kind, more = "WORD", lambda c: c.isalnum() or c == "_"
        else:
            kind, more = "PUNCT", lambda c: False
        c = next(src, None)
        while c is not None and more(c):
            text += c
            c = next(src, None)
        if len(text) >= TOKEN_MAX:
            raise OverflowError("token too long: " + text)
        yield kind, text
        count += 1
    return count


def numbers(toks):
    total = 0
    for kind, text in toks:
        if kind == "NUMBER":
            total += int(text)
            yield int(text)
    return total


def drain(g):
    values = []
    while True:
        try:
            values.append(next(g))
        except StopIteration as stop:
            return values, stop.value


# test_tokens_of_an_expression
for kind, text in drain(tokens(chars("x1 = 12*(y_2 + 345);")))[0]:
    print(kind, text)
print("tokens returns", drain(tokens(chars("x1 = 12*(y_2 + 345);")))[1])

# test_numbers_pipeline_sums
print("numbers:", drain(numbers(tokens(chars("a 1 b 22 c 333")))))

# test_pipeline_passes_errors_on
g = numbers(tokens(chars("7 a_very_long_identifier 8")))
print("first:", next(g))
try:
    next(g)
except OverflowError as e:
    print("then: OverflowError:", e)
try:
    next(g)
except StopIteration as stop:
    print("then: StopIteration, value", stop.value)
