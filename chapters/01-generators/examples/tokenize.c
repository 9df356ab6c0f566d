/*
 * tokenize.c - generators feeding generators: chars -> tokens -> numbers.
 *
 *	tokenize ["expression"]		(default: "x1 = 12*(y_2 + 345);")
 *
 * Prints the tokens of the expression, then runs the three-stage pipeline
 * over it and prints the numbers and their sum (numbers' return value).
 * No stage reads ahead more than it needs: each character is pulled from
 * chars only when the tokenizer asks for it.
 */
#include <stdio.h>
#include <string.h>

#include "sgens.h"

static const char *const kinds[] = {
    [CL_TOKEN_NUMBER] = "number",
    [CL_TOKEN_WORD] = "word",
    [CL_TOKEN_PUNCT] = "punct",
};

static int fail(int rc)
{
	printf("failed: %s\n", strerror(-rc));
	return 1;
}

int main(int argc, char **argv)
{
	const char *text = argc > 1 ? argv[1] : "x1 = 12*(y_2 + 345);";
	struct cl_sgen *c, *t, *n;
	struct cl_token *tok;
	void *v;
	int rc;

	printf("tokens of \"%s\":\n", text);
	c = cl_sgen_chars(text);
	t = cl_sgen_tokens(c);
	if (c == NULL || t == NULL)
		return 1;
	while ((rc = cl_sgen_next(t, &v)) == CL_SGEN_YIELDED) {
		tok = v;
		printf("  %-6s %s\n", kinds[tok->kind], tok->text);
	}
	if (rc < 0)
		return fail(rc);
	printf("  (%ld tokens)\n", (long)CL_TOINT(v));
	cl_sgen_free(t);
	cl_sgen_free(c);

	printf("numbers:");
	c = cl_sgen_chars(text);
	t = cl_sgen_tokens(c);
	n = cl_sgen_numbers(t);
	if (c == NULL || t == NULL || n == NULL)
		return 1;
	while ((rc = cl_sgen_next(n, &v)) == CL_SGEN_YIELDED)
		printf(" %ld", (long)CL_TOINT(v));
	if (rc < 0)
		return fail(rc);
	printf("\nsum: %ld\n", (long)CL_TOINT(v));
	cl_sgen_free(n);
	cl_sgen_free(t);
	cl_sgen_free(c);
	return 0;
}
