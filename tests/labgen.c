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
 *	labgen hint LAB CH [NAME]	show the next hint level of TODO
 *					NAME of chapter CH and log it in
 *					LAB/.hints-taken; without NAME,
 *					list the chapter's TODOs (no
 *					SOLUTIONS needed)
 *
 * The region syntax is described in solutions/README.md. In short:
 *
 *	// LAB ch01 name: the contract, one to six lines
 *	// HINT1 ch01: a nudge about the approach (optional)
 *	// HINT2 ch01: the key step or data structure (optional)
 *	// HINT3 ch01: close to pseudo-code (optional)
 *	...reference code...
 *	// STUB ch01:
 *	// stub code, one comment line per line
 *	// END ch01
 *
 * becomes "/" "* TODO(ch01): contract ... Hints: make hint CH=1
 * TODO=name (3 levels). *" "/" followed by the stub code. Consecutive
 * HINT lines of one level are one hint; levels come in order, 1 to 3.
 * The name is unique in its chapter.
 *
 * LAB/.hints holds every hint, one line "chNN name file level text" per
 * HINT line, the text in rot13 so that a glance does not spoil it.
 * "labgen hint" reveals one level at a time and appends "chNN name
 * level" to LAB/.hints-taken, the student's log, which no other command
 * looks at (the grader counts it: grade -h).
 *
 * LAB/.labgen is the manifest: a hash of every file as the generator
 * wrote it, .hints included. A file in LAB whose hash differs from the
 * manifest was edited by someone, and "labgen lab" will not overwrite it
 * without -f.
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
#define MAX_TODOS 128
#define MAX_LEVELS 3
#define MAX_CONTRACT 6 /* LAB lines: a contract, not a recipe */
#define NAME_LEN 32
#define HINTS_FILE ".hints"
#define TAKEN_FILE ".hints-taken"

struct buf {
	char *p;
	size_t len, cap;
};

struct file {
	char name[256];
	char *text; /* what the generator writes to LAB */
	size_t len;
	int chapter; /* the chapter owning the file, 0 if none */
	struct buf hints; /* its lines of LAB/.hints */
};

static struct file files[MAX_FILES];
static int nfiles;

/* Every TODO seen, to keep names unique within a chapter. */
static struct todo {
	int chapter;
	char name[NAME_LEN];
	const char *file;
	int line;
} todos[MAX_TODOS];
static int ntodos;

/* The student's lab/ gets its own README, not solutions' one. */
static const char lab_readme[] =
	"# lab/ - your copy of corolab\n"
	"\n"
	"This folder is yours. It is the reference library with the code of\n"
	"each chapter cut out: every `TODO(chNN)` comment marks a place to\n"
	"write and states its contract (what must hold afterwards, the\n"
	"Python it mirrors, the section to read), followed by a stub that\n"
	"compiles and fails cleanly. Read the chapter in `chapters/`, fill\n"
	"in its TODOs, then\n"
	"\n"
	"    make grade CH=N\n"
	"\n"
	"from the top of the kit. Stuck on a TODO? `make hint CH=N` lists\n"
	"the chapter's TODOs, and `make hint CH=N TODO=name` shows its next\n"
	"hint, one level at a time (logged in `.hints-taken`; the grade\n"
	"counts them). `make grade BORROW=N` takes chapter N from the\n"
	"reference when you are stuck on it and want to go on.\n"
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

/* Append to a growing output buffer (struct buf, above). */
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
 * If line (without its newline) is "<indent>// WORD chNN[ name]:<rest>",
 * return NN, copy the name (if any, else "") into name and point *rest
 * past the colon (and one space). WORD is LAB, STUB, END (no colon) or
 * HINTn. Otherwise return 0.
 */
static int marker(const char *line, const char *word, const char **rest,
		  char *name)
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
	if (name != NULL) {
		size_t n = 0;
		name[0] = '\0';
		if (*p == ' ') {
			while (islower((unsigned char)p[1 + n]) ||
			       isdigit((unsigned char)p[1 + n]) ||
			       p[1 + n] == '_')
				n++;
			if (n > 0 && n < NAME_LEN && p[1 + n] == ':') {
				memcpy(name, p + 1, n);
				name[n] = '\0';
				p += 1 + n;
			}
		}
	}
	if (*p == ':')
		p++;
	if (*p == ' ')
		p++;
	if (rest)
		*rest = p;
	return ch;
}

/*
 * A HINT line: "<indent>// HINTn chNN: text", n from 1 to MAX_LEVELS.
 * Return n and set *ch and *rest; return 0 if line is no HINT line at
 * all, -1 if it starts like one but is malformed.
 */
static int hint_marker(const char *line, int *ch, const char **rest)
{
	const char *p = line + strspn(line, " \t");
	int level;

	if (strncmp(p, "// HINT", 7) != 0)
		return 0;
	level = p[7] - '0';
	p += 8;
	if (level < 1 || level > MAX_LEVELS || strncmp(p, " ch", 3) != 0 ||
	    !isdigit((unsigned char)p[3]) || !isdigit((unsigned char)p[4]) ||
	    p[5] != ':')
		return -1;
	*ch = (p[3] - '0') * 10 + (p[4] - '0');
	p += 6;
	if (*p == ' ')
		p++;
	if (*p == '\0' || *ch == 0)
		return -1;
	*rest = p;
	return level;
}

static void rot13(char *s)
{
	for (; *s; s++) {
		if (isupper((unsigned char)*s))
			*s = 'A' + (*s - 'A' + 13) % 26;
		else if (islower((unsigned char)*s))
			*s = 'a' + (*s - 'a' + 13) % 26;
	}
}

/* Record TODO name of chapter ch, opened at path:line: unique per chapter. */
static void new_todo(int ch, const char *name, const char *path, int line)
{
	struct todo *t;

	for (int i = 0; i < ntodos; i++)
		if (todos[i].chapter == ch && strcmp(todos[i].name, name) == 0)
			die("%s:%d: TODO %s of ch%02d is already at %s:%d",
			    path, line, name, ch, todos[i].file,
			    todos[i].line);
	if (ntodos == MAX_TODOS)
		die("%s:%d: too many TODOs", path, line);
	t = &todos[ntodos++];
	t->chapter = ch;
	snprintf(t->name, sizeof t->name, "%s", name);
	t->file = strdup(path);
	t->line = line;
}

/*
 * Turn one solutions file into its lab form. The states: OUT (copying),
 * CONTRACT (reading LAB lines), HINTS (reading HINT lines), CODE
 * (skipping reference code), STUB (uncommenting stub lines).
 */
static void transform(struct file *f, const char *src, const char *path)
{
	enum { OUT, CONTRACT, HINTS, CODE, STUB } state = OUT;
	struct buf out = { 0 };
	const char *line = src, *rest;
	int lineno = 0, ch, region_ch = 0, region_line = 0, ncontract = 0;
	int level = 0;
	char indent[128] = "", name[NAME_LEN], todo_name[NAME_LEN] = "";

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

		if ((ch = marker(text, "LAB", &rest, name)) != 0) {
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
				if (name[0] == '\0')
					die("%s:%d: the first LAB line names "
					    "its TODO: \"// LAB ch%02d name: "
					    "contract\"", path, lineno, ch);
				new_todo(ch, name, path, lineno);
				strcpy(todo_name, name);
				f->chapter = region_ch = ch;
				region_line = lineno;
				ncontract = 1;
				level = 0;
				char todo[32];
				snprintf(todo, sizeof todo, "/* TODO(ch%02d): ",
					 ch);
				puts_(&out, indent);
				puts_(&out, todo);
				puts_(&out, rest);
				state = CONTRACT;
				continue;
			}
			if (state != CONTRACT || ch != region_ch)
				die("%s:%d: LAB inside the region opened at "
				    "line %d", path, lineno, region_line);
			if (name[0] != '\0')
				die("%s:%d: only the first LAB line of a "
				    "region names its TODO", path, lineno);
			if (++ncontract > MAX_CONTRACT)
				die("%s:%d: a contract takes at most %d LAB "
				    "lines; move the details to HINT lines",
				    path, lineno, MAX_CONTRACT);
			puts_(&out, "\n");
			puts_(&out, indent);
			puts_(&out, " * ");
			puts_(&out, rest);
			continue;
		}
		int lv = hint_marker(text, &ch, &rest);
		if (lv < 0)
			die("%s:%d: malformed HINT line (want \"// HINTn "
			    "chNN: text\", n from 1 to %d)",
			    path, lineno, MAX_LEVELS);
		if (lv > 0) {
			if (state != CONTRACT && state != HINTS)
				die("%s:%d: HINT line outside the hints of a "
				    "region (they follow its LAB lines)",
				    path, lineno);
			if (ch != region_ch)
				die("%s:%d: HINT of ch%02d in a region of "
				    "ch%02d", path, lineno, ch, region_ch);
			if (lv != level && lv != level + 1)
				die("%s:%d: HINT%d after %s%.0d (levels go 1, "
				    "2, 3)", path, lineno, lv,
				    level ? "HINT" : "the contract", level);
			char hint[1100];
			snprintf(hint, sizeof hint, "%s", rest);
			rot13(hint);
			char key[NAME_LEN + 96];
			snprintf(key, sizeof key, "ch%02d %s %.63s %d ", ch,
				 todo_name, f->name, lv);
			puts_(&f->hints, key);
			puts_(&f->hints, hint);
			puts_(&f->hints, "\n");
			level = lv;
			state = HINTS;
			continue;
		}
		if (state == CONTRACT || state == HINTS) {
			if (level == 0) {
				/* Listed all the same, with no levels: a TODO
				 * written from its contract alone. */
				char key[NAME_LEN + 96];
				snprintf(key, sizeof key, "ch%02d %s %.63s 0\n",
					 region_ch, todo_name, f->name);
				puts_(&f->hints, key);
				puts_(&out, "\n");
				puts_(&out, indent);
				puts_(&out, " * No hints: the contract is all.");
			}
			if (level > 0) {
				char more[NAME_LEN + 80];
				snprintf(more, sizeof more,
					 "Hints: make hint CH=%d TODO=%s "
					 "(%d level%s).",
					 region_ch, todo_name, level,
					 level == 1 ? "" : "s");
				puts_(&out, "\n");
				puts_(&out, indent);
				puts_(&out, " * ");
				puts_(&out, more);
			}
			puts_(&out, " */\n");
			state = CODE;
		}
		if ((ch = marker(text, "STUB", NULL, NULL)) != 0) {
			if (state != CODE || ch != region_ch)
				die("%s:%d: STUB ch%02d without its LAB ch%02d",
				    path, lineno, ch, ch);
			state = STUB;
			continue;
		}
		if ((ch = marker(text, "END", NULL, NULL)) != 0) {
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

	/* LAB/.hints: every file's hints, in the order of the files. */
	struct buf hints = { 0 };
	puts_(&hints, "# The hints of the lab's TODOs, in rot13: read them "
		      "with make hint CH=N TODO=name.\n");
	for (int i = 0; i < nfiles; i++)
		if (files[i].hints.len > 0)
			puts_(&hints, files[i].hints.p);
	if (nfiles == MAX_FILES)
		die("too many files in %s", dir);
	memmove(files + 1, files, nfiles * sizeof files[0]);
	nfiles++;
	files[0] = (struct file){ .name = HINTS_FILE };
	files[0].text = hints.p;
	files[0].len = hints.len;
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
		if (files[i].name[0] == '.')
			continue; /* .hints: not a source */
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

/* The first byte of the line after p's, or of the terminating NUL. */
static const char *next_line(const char *p)
{
	const char *nl = strchr(p, '\n');
	return nl ? nl + 1 : p + strlen(p);
}

/* The highest level of TODO name of chapter ch the log records. */
static int taken(const char *log, int ch, const char *name)
{
	char key[NAME_LEN];
	int c, lv, most = 0;

	for (const char *p = log; p && *p; p = next_line(p))
		if (sscanf(p, "ch%d %31s %d", &c, key, &lv) == 3 && c == ch &&
		    strcmp(key, name) == 0 && lv > most)
			most = lv;
	return most;
}

/*
 * labgen hint LAB CH [NAME]: the hint ladder, from LAB alone. The
 * levels a student has seen are the ones LAB/.hints-taken logs; each
 * call shows them again with the next one, and logs that one. Without
 * NAME (or with a name the chapter lacks), list the chapter's TODOs and
 * how far each ladder was climbed.
 */
static int cmd_hint(const char *lab, const char *chs, const char *want)
{
	char path[PATH_LEN], logpath[PATH_LEN];
	char names[MAX_TODOS][NAME_LEN], where[MAX_TODOS][64];
	char name[NAME_LEN], file[64], text[1200];
	int levels[MAX_TODOS], n = 0, found = -1, c, lv, at, shown = 0, rc = 0;
	const char *p;
	size_t len;
	char *hints, *log;

	int ch = atoi(chs + (strncmp(chs, "ch", 2) == 0 ? 2 : 0));
	join(path, lab, HINTS_FILE);
	join(logpath, lab, TAKEN_FILE);
	if ((hints = slurp(path, &len)) == NULL)
		die("%s: %s (this lab has no hints)", path, strerror(errno));
	log = slurp(logpath, &len);

	/* The chapter's TODOs, in the order of .hints, and their levels. */
	for (p = hints; *p; p = next_line(p)) {
		if (sscanf(p, "ch%d %31s %63s %d", &c, name, file, &lv) != 4 ||
		    c != ch)
			continue;
		if (n == 0 || strcmp(names[n - 1], name) != 0) {
			if (n == MAX_TODOS)
				die("%s: too many TODOs", path);
			strcpy(names[n], name);
			strcpy(where[n], file);
			levels[n++] = 0;
		}
		if (lv > levels[n - 1])
			levels[n - 1] = lv;
		if (want != NULL && strcmp(name, want) == 0)
			found = n - 1;
	}
	if (n == 0) {
		fprintf(stderr, "labgen: chapter %d has no hints in %s\n", ch,
			path);
		rc = 1;
		goto out;
	}
	if (found < 0) {
		if (want != NULL)
			fprintf(stderr, "labgen: chapter %d has no TODO named "
					"\"%s\"\n", ch, want);
		printf("chapter %02d's TODOs (make hint CH=%d TODO=name):\n",
		       ch, ch);
		for (int i = 0; i < n; i++)
			if (levels[i] == 0)
				printf("  %-24s %-16s no hints: the contract "
				       "is all\n", names[i], where[i]);
			else
				printf("  %-24s %-16s %d of %d hint%s taken\n",
				       names[i], where[i],
				       taken(log, ch, names[i]), levels[i],
				       levels[i] == 1 ? "" : "s");
		rc = want != NULL;
		goto out;
	}

	/* Levels 1 to next: the ones seen again, then the new one. */
	int most = levels[found], seen = taken(log, ch, want);
	if (most == 0) {
		printf("ch%02d %s (%s) has no hints: its TODO comment states "
		       "the whole contract,\nand the chapter's section "
		       "explains the rest. This one is yours alone.\n", ch,
		       want, where[found]);
		goto out;
	}
	int next = seen < most ? seen + 1 : most;
	for (p = hints; *p; p = next_line(p)) {
		at = 0;
		if (sscanf(p, "ch%d %31s %63s %d %n", &c, name, file, &lv,
			   &at) != 4 || at == 0 ||
		    c != ch || strcmp(name, want) != 0 || lv > next)
			continue;
		if (lv != shown)
			printf("%sch%02d %s (%s), hint %d of %d%s:\n",
			       shown ? "\n" : "", ch, want, file, lv, most,
			       lv <= seen ? ", seen before" : "");
		shown = lv;
		snprintf(text, sizeof text, "%.*s", (int)strcspn(p + at, "\n"),
			 p + at);
		rot13(text);
		printf("    %s\n", text);
	}
	if (seen >= most) {
		printf("\nThat was the last hint of %s.\n", want);
		goto out;
	}
	FILE *f = fopen(logpath, "a");
	if (f == NULL || fprintf(f, "ch%02d %s %d\n", ch, want, next) < 0 ||
	    fclose(f) != 0)
		die("%s: %s", logpath, strerror(errno));
	if (next < most)
		printf("\n(hint %d of %d; ask again for the next, closer to "
		       "the code)\n", next, most);
out:
	free(hints);
	free(log);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		goto usage;
	if (strcmp(argv[1], "status") == 0 && argc == 3)
		return cmd_status(argv[2]);
	if (strcmp(argv[1], "hint") == 0 && (argc == 4 || argc == 5))
		return cmd_hint(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
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
			"       labgen status LAB\n"
			"       labgen hint LAB CH [NAME]\n");
	return 2;
}
