/*
 * labgen.c - write the student's lab/ from the reference solutions/.
 *
 *	labgen lab SOLUTIONS LAB [-f]	write LAB (refuses to overwrite a
 *					student's edits unless -f)
 *	labgen check SOLUTIONS LAB	exit 1 if LAB is not exactly what
 *					"labgen lab" would write
 *	labgen owners SOLUTIONS		print "chapter file" for each file
 *					that holds lab regions
 *	labgen mix SOLUTIONS LAB OUT LIST
 *					copy LAB's sources to OUT, taking
 *					the files of the chapters in LIST
 *					("2,3" or "all") from SOLUTIONS
 *	labgen status LAB		print "chapter file edited" or
 *					"chapter file untouched" for each
 *					file of LAB with TODOs (no
 *					SOLUTIONS needed: for handouts)
 *
 * The region syntax is described in solutions/README.md. In short:
 *
 *	// LAB ch01: hint, one or more lines
 *	...reference code...
 *	// STUB ch01:
 *	// stub code, one comment line per line
 *	// END ch01
 *
 * becomes "/" "* TODO(ch01): hint *" "/" followed by the stub code.
 *
 * LAB/.labgen is the manifest: a hash of every file as the generator
 * wrote it. A file in LAB whose hash differs from the manifest was edited
 * by someone, and "labgen lab" will not overwrite it without -f.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILES 256

struct file {
	char name[256];
	char *text; /* what the generator writes to LAB */
	size_t len;
	int chapter; /* the chapter owning the file, 0 if none */
};

static struct file files[MAX_FILES];
static int nfiles;

/* The student's lab/ gets its own README, not solutions' one. */
static const char lab_readme[] =
	"# lab/ - your copy of corolab\n"
	"\n"
	"This folder is yours. It is the reference library with the code of\n"
	"each chapter cut out: every `TODO(chNN)` comment marks a place to\n"
	"write, with a hint, followed by a stub that compiles and fails\n"
	"cleanly. Read the chapter in `chapters/`, fill in its TODOs, then\n"
	"\n"
	"    make grade CH=N\n"
	"\n"
	"from the top of the kit. `make grade BORROW=N` takes chapter N from\n"
	"the reference when you are stuck on it and want to go on.\n"
	"\n"
	"Do not run `make lab` once you have started: it regenerates this\n"
	"folder (it refuses while it holds your edits, unless forced).\n";

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("labgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* Join dir and name into path (PATH_LEN bytes), or die if too long. */
#define PATH_LEN 512
static void join(char *path, const char *dir, const char *name)
{
	size_t d = strlen(dir), n = strlen(name);

	if (d + 1 + n + 1 > PATH_LEN)
		die("%s/%s: path too long", dir, name);
	memcpy(path, dir, d);
	path[d] = '/';
	memcpy(path + d + 1, name, n + 1);
}

static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 14695981039346656037ULL;
	while (n--) {
		h ^= (unsigned char)*p++;
		h *= 1099511628211ULL;
	}
	return h;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (f == NULL)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			cap = 2 * cap + 8192;
			if ((buf = realloc(buf, cap)) == NULL)
				die("out of memory");
		}
		got = fread(buf + n, 1, 4096, f);
		n += got;
	} while (got > 0);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void spit(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
}

/* A growing output buffer. */
struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = 2 * (b->len + n + 1);
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			die("out of memory");
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/*
 * If line (without its newline) is "<indent>// WORD chNN:<rest>", return
 * NN and point *rest past the colon (and one space). WORD is LAB, STUB or
 * END; END has no colon. Otherwise return 0.
 */
static int marker(const char *line, const char *word, const char **rest)
{
	const char *p = line;
	size_t w = strlen(word);

	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, "// ", 3) != 0 || strncmp(p + 3, word, w) != 0 ||
	    strncmp(p + 3 + w, " ch", 3) != 0)
		return 0;
	p += 3 + w + 3;
	if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
		return 0;
	int ch = (p[0] - '0') * 10 + (p[1] - '0');
	p += 2;
	if (*p == ':')
		p++;
	if (*p == ' ')
		p++;
	if (rest)
		*rest = p;
	return ch;
}

/*
 * Turn one solutions file into its lab form. The states: OUT (copying),
 * HINT (reading LAB lines), CODE (skipping reference code), STUB
 * (uncommenting stub lines).
 */
static void transform(struct file *f, const char *src, const char *path)
{
	enum { OUT, HINT, CODE, STUB } state = OUT;
	struct buf out = { 0 };
	const char *line = src, *rest;
	int lineno = 0, ch, region_ch = 0, region_line = 0;
	char indent[128] = "";

	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		char text[1024];

		lineno++;
		if (n >= sizeof text)
			die("%s:%d: line too long", path, lineno);
		memcpy(text, line, n);
		text[n] = '\0';
		line += n + (nl != NULL);

		if ((ch = marker(text, "LAB", &rest)) != 0) {
			if (state == OUT) {
				size_t ind = strspn(text, " \t");
				if (ind >= sizeof indent)
					die("%s:%d: indented too far", path,
					    lineno);
				memcpy(indent, text, ind);
				indent[ind] = '\0';
				if (f->chapter && f->chapter != ch)
					die("%s:%d: region of ch%02d in a "
					    "file owned by ch%02d (one "
					    "chapter per file)",
					    path, lineno, ch, f->chapter);
				f->chapter = region_ch = ch;
				region_line = lineno;
				char todo[32];
				snprintf(todo, sizeof todo, "/* TODO(ch%02d): ",
					 ch);
				puts_(&out, indent);
				puts_(&out, todo);
				puts_(&out, rest);
				state = HINT;
				continue;
			}
			if (state != HINT || ch != region_ch)
				die("%s:%d: LAB inside the region opened at "
				    "line %d", path, lineno, region_line);
			puts_(&out, "\n");
			puts_(&out, indent);
			puts_(&out, " * ");
			puts_(&out, rest);
			continue;
		}
		if (state == HINT) {
			puts_(&out, " */\n");
			state = CODE;
		}
		if ((ch = marker(text, "STUB", NULL)) != 0) {
			if (state != CODE || ch != region_ch)
				die("%s:%d: STUB ch%02d without its LAB ch%02d",
				    path, lineno, ch, ch);
			state = STUB;
			continue;
		}
		if ((ch = marker(text, "END", NULL)) != 0) {
			if (state != STUB || ch != region_ch)
				die("%s:%d: END ch%02d without a STUB before "
				    "it", path, lineno, ch);
			state = OUT;
			continue;
		}
		if (state == CODE)
			continue;
		if (state == STUB) {
			size_t ind = strspn(text, " \t");
			const char *code = text + ind;
			if (strncmp(code, "//", 2) != 0)
				die("%s:%d: stub lines must be // comments "
				    "(region opened at line %d)",
				    path, lineno, region_line);
			code += 2;
			if (*code == ' ')
				code++;
			put(&out, text, ind);
			puts_(&out, code);
			puts_(&out, "\n");
			continue;
		}
		put(&out, text, n);
		if (nl)
			puts_(&out, "\n");
	}
	if (state != OUT)
		die("%s: the region opened at line %d never ends", path,
		    region_line);
	f->text = out.p ? out.p : strdup("");
	f->len = out.len;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct file *)a)->name,
		      ((const struct file *)b)->name);
}

/* Read and transform every file of the solutions directory. */
static void load(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		die("%s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		char path[PATH_LEN];
		struct stat st;
		size_t len;

		if (e->d_name[0] == '.')
			continue;
		join(path, dir, e->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			die("%s: not a regular file (solutions/ is flat)",
			    path);
		if (nfiles == MAX_FILES)
			die("too many files in %s", dir);
		struct file *f = &files[nfiles++];
		snprintf(f->name, sizeof f->name, "%s", e->d_name);
		if (strcmp(e->d_name, "README.md") == 0) {
			f->text = strdup(lab_readme);
			f->len = strlen(lab_readme);
			continue;
		}
		char *src = slurp(path, &len);
		if (src == NULL)
			die("%s: %s", path, strerror(errno));
		if (strlen(src) != len)
			die("%s: not a text file", path);
		transform(f, src, path);
		free(src);
	}
	closedir(d);
	qsort(files, nfiles, sizeof files[0], by_name);
}

/* The manifest lists "hash name" for every file the generator writes. */
static char *manifest(size_t *len)
{
	struct buf b = { 0 };
	char hash[20];

	for (int i = 0; i < nfiles; i++) {
		snprintf(hash, sizeof hash, "%016llx ",
			 (unsigned long long)fnv1a(files[i].text,
						   files[i].len));
		puts_(&b, hash);
		puts_(&b, files[i].name);
		puts_(&b, "\n");
	}
	*len = b.len;
	return b.p;
}

/* The hash the manifest in lab recorded for name, or 0. */
static uint64_t recorded(const char *old, const char *name)
{
	char want[PATH_LEN];
	const char *p;

	if (old == NULL)
		return 0;
	size_t n = strlen(name);
	if (n + 3 > sizeof want)
		return 0;
	want[0] = ' ';
	memcpy(want + 1, name, n);
	memcpy(want + 1 + n, "\n", 2);
	for (p = old; (p = strstr(p, want)) != NULL; p++) {
		if (p - old >= 16 && (p - old == 16 || p[-17] == '\n'))
			return strtoull(p - 16, NULL, 16);
	}
	return 0;
}

/* mkdir -p */
static void mkdirs(const char *dir)
{
	char path[PATH_LEN];

	if (strlen(dir) >= sizeof path)
		die("%s: path too long", dir);
	strcpy(path, dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die("%s: %s", dir, strerror(errno));
}

static int cmd_lab(const char *lab, int force)
{
	char path[PATH_LEN];
	size_t len, mlen;
	char *old;
	int refused = 0;

	mkdirs(lab);
	join(path, lab, ".labgen");
	old = slurp(path, &len);

	/* First pass: refuse if any file holds edits we did not make. */
	for (int i = 0; i < nfiles && !force; i++) {
		join(path, lab, files[i].name);
		char *cur = slurp(path, &len);
		if (cur == NULL)
			continue;
		uint64_t h = fnv1a(cur, len);
		if (h != fnv1a(files[i].text, files[i].len) &&
		    h != recorded(old, files[i].name)) {
			fprintf(stderr, "labgen: %s holds edits the "
					"generator did not make\n", path);
			refused = 1;
		}
		free(cur);
	}
	if (refused) {
		fprintf(stderr, "labgen: not overwriting your work; "
				"run \"make lab FORCE=1\" to discard it\n");
		return 1;
	}
	for (int i = 0; i < nfiles; i++) {
		join(path, lab, files[i].name);
		spit(path, files[i].text, files[i].len);
	}
	char *m = manifest(&mlen);
	join(path, lab, ".labgen");
	spit(path, m, mlen);
	free(old);
	free(m);
	return 0;
}

static int cmd_check(const char *lab)
{
	char path[PATH_LEN];
	size_t len, mlen;
	int bad = 0;
	DIR *d;
	struct dirent *e;

	for (int i = 0; i < nfiles; i++) {
		join(path, lab, files[i].name);
		char *cur = slurp(path, &len);
		if (cur == NULL || len != files[i].len ||
		    memcmp(cur, files[i].text, len) != 0) {
			fprintf(stderr, "lab-check: %s %s\n", path,
				cur ? "differs from what make lab writes"
				    : "is missing");
			bad = 1;
		}
		free(cur);
	}
	char *m = manifest(&mlen);
	join(path, lab, ".labgen");
	char *cur = slurp(path, &len);
	if (cur == NULL || len != mlen || memcmp(cur, m, len) != 0) {
		fprintf(stderr, "lab-check: %s is stale\n", path);
		bad = 1;
	}
	free(cur);
	free(m);
	if ((d = opendir(lab)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			int known = e->d_name[0] == '.';
			for (int i = 0; i < nfiles && !known; i++)
				known = strcmp(files[i].name, e->d_name) == 0;
			if (!known) {
				fprintf(stderr, "lab-check: %s/%s is not made "
						"by the generator\n",
					lab, e->d_name);
				bad = 1;
			}
		}
		closedir(d);
	}
	if (bad)
		fprintf(stderr, "lab-check: run \"make lab\" and commit "
				"lab/\n");
	return bad;
}

static int listed(const char *list, int chapter)
{
	char copy[128], *tok, *save;

	if (strcmp(list, "all") == 0)
		return 1;
	snprintf(copy, sizeof copy, "%s", list);
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		if (atoi(tok) == chapter)
			return 1;
	return 0;
}

static int cmd_mix(const char *sol, const char *lab, const char *out,
		   const char *list)
{
	char path[PATH_LEN];
	size_t len;

	mkdirs(out);
	for (int i = 0; i < nfiles; i++) {
		const char *from = files[i].chapter &&
					   listed(list, files[i].chapter)
				   ? sol : lab;
		join(path, from, files[i].name);
		char *text = slurp(path, &len);
		if (text == NULL)
			die("%s: %s", path, strerror(errno));
		join(path, out, files[i].name);
		/* Leave an unchanged file alone so make does not rebuild. */
		size_t olen;
		char *old = slurp(path, &olen);
		if (old == NULL || olen != len || memcmp(old, text, len) != 0)
			spit(path, text, len);
		free(old);
		free(text);
	}
	return 0;
}

/*
 * labgen status LAB: which files of each chapter the student has
 * touched. A file is untouched when its hash is still the one the
 * manifest recorded; its chapter is the one its TODO(chNN) comments
 * name. Works from LAB alone, so a handout can tell a chapter not
 * started from one in progress.
 */
static int cmd_status(const char *lab)
{
	char path[PATH_LEN], name[256];
	const char *p, *todo;
	size_t mlen, len;
	char *man, *text;

	join(path, lab, ".labgen");
	man = slurp(path, &mlen);
	if (man == NULL)
		die("%s: %s", path, strerror(errno));
	for (p = man; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "") {
		if (sscanf(p, "%*16s %255[^\n]", name) != 1)
			continue;
		join(path, lab, name);
		text = slurp(path, &len);
		if (text == NULL)
			continue;
		todo = strstr(text, "TODO(ch");
		if (todo != NULL && isdigit((unsigned char)todo[7]))
			printf("%d %s %s\n", atoi(todo + 7), name,
			       fnv1a(text, len) == recorded(man, name)
				       ? "untouched"
				       : "edited");
		free(text);
	}
	free(man);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		goto usage;
	if (strcmp(argv[1], "status") == 0 && argc == 3)
		return cmd_status(argv[2]);
	load(argv[2]);
	if (strcmp(argv[1], "lab") == 0 && argc >= 4)
		return cmd_lab(argv[3], argc == 5 && strcmp(argv[4], "-f") == 0);
	if (strcmp(argv[1], "check") == 0 && argc == 4)
		return cmd_check(argv[3]);
	if (strcmp(argv[1], "mix") == 0 && argc == 6)
		return cmd_mix(argv[2], argv[3], argv[4], argv[5]);
	if (strcmp(argv[1], "owners") == 0) {
		for (int i = 0; i < nfiles; i++)
			if (files[i].chapter)
				printf("%d %s\n", files[i].chapter,
				       files[i].name);
		return 0;
	}
usage:
	fprintf(stderr, "usage: labgen lab|check|owners|mix SOLUTIONS ...\n"
			"       labgen status LAB\n");
	return 2;
}
