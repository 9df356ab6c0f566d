/*
 * symbols.c - a function's name from a code address (see symbols.h).
 *
 * Each loaded object (the program, libc, ...) is an ELF file mapped at
 * some bias: the address of a symbol in memory is its st_value in the
 * file plus the bias. dl_iterate_phdr tells, for each object, its bias,
 * its file and the segments it occupies; the first object whose
 * executable segment holds the address is ours. Its file is mapped once
 * and kept: the section headers lead to .symtab (or, in a stripped file,
 * .dynsym) and the string table names point into.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbols.h"

#define CL__SYMOBJ_MAX 32

/* One object's symbols, as mapped from its file. */
struct cl__symobj {
	uintptr_t bias;		/* load bias: memory = file value + bias */
	int program;		/* the program itself, not a shared library */
	const Elf64_Sym *syms;	/* NULL: the file had no symbol table */
	size_t nsyms;
	const char *strtab;
	size_t strsize;
};

static struct {
	pthread_mutex_t lock;
	struct cl__symobj obj[CL__SYMOBJ_MAX];
	size_t n;
} cl__syms = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* What dl_iterate_phdr's callback looks for, and finds. */
struct cl__find {
	uintptr_t pc;
	uintptr_t bias;
	char path[4096];
	int found;
	int program;
};

static int cl__find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct cl__find *f = arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type != PT_LOAD || f->pc < lo ||
		    f->pc >= lo + ph->p_memsz)
			continue;
		f->bias = info->dlpi_addr;
		/* The program itself has an empty name. */
		snprintf(f->path, sizeof f->path, "%s",
			 info->dlpi_name[0] ? info->dlpi_name
					    : "/proc/self/exe");
		f->program = info->dlpi_name[0] == '\0';
		f->found = 1;
		return 1;
	}
	return 0;
}

/* Map path and find its symbol table; o->syms stays NULL on failure. */
static void cl__symobj_load(struct cl__symobj *o, const char *path)
{
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh, *tab = NULL;
	struct stat st;
	void *map;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof *eh) {
		close(fd);
		return;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;
	eh = map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shoff + (uint64_t)eh->e_shnum * sizeof *sh >
		    (uint64_t)st.st_size) {
		munmap(map, (size_t)st.st_size);
		return;
	}
	sh = (const Elf64_Shdr *)((const char *)map + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++)
		if (sh[i].sh_type == SHT_SYMTAB ||
		    (sh[i].sh_type == SHT_DYNSYM && tab == NULL))
			tab = &sh[i];
	if (tab == NULL || tab->sh_link >= eh->e_shnum ||
	    tab->sh_offset + tab->sh_size > (uint64_t)st.st_size ||
	    sh[tab->sh_link].sh_offset + sh[tab->sh_link].sh_size >
		    (uint64_t)st.st_size) {
		munmap(map, (size_t)st.st_size);
		return;
	}
	o->syms = (const Elf64_Sym *)((const char *)map + tab->sh_offset);
	o->nsyms = tab->sh_size / sizeof *o->syms;
	o->strtab = (const char *)map + sh[tab->sh_link].sh_offset;
	o->strsize = sh[tab->sh_link].sh_size;
}

/* The object holding pc, loaded on first use; NULL if none does. */
static struct cl__symobj *cl__symobj_of(uintptr_t pc)
{
	struct cl__find f = { .pc = pc };
	struct cl__symobj *o;

	if (dl_iterate_phdr(cl__find_object, &f) == 0 || !f.found)
		return NULL;
	for (size_t i = 0; i < cl__syms.n; i++)
		if (cl__syms.obj[i].bias == f.bias)
			return &cl__syms.obj[i];
	if (cl__syms.n == CL__SYMOBJ_MAX)
		return NULL;
	o = &cl__syms.obj[cl__syms.n++];
	o->bias = f.bias;
	o->program = f.program;
	cl__symobj_load(o, f.path);
	return o;
}

/*
 * The kit's own source files, for cl_symbol_in_kit: the build passes
 * their names (tests/kit/variant.mk); without them only the cl_ prefix
 * tells.
 */
static const char *const cl__kit_files[] = {
#ifdef CL_KIT_FILES
	CL_KIT_FILES
#endif
	NULL
};

/* Is the local symbol at index i defined in one of the kit's files? The
 * symbol table lists each file's locals after an STT_FILE entry. */
static int cl__in_kit_file(const struct cl__symobj *o, size_t i)
{
	const char *file;

	if (ELF64_ST_BIND(o->syms[i].st_info) != STB_LOCAL)
		return 0;
	while (i > 0 && ELF64_ST_TYPE(o->syms[i].st_info) != STT_FILE)
		i--;
	if (ELF64_ST_TYPE(o->syms[i].st_info) != STT_FILE ||
	    o->syms[i].st_name >= o->strsize)
		return 0;
	file = o->strtab + o->syms[i].st_name;
	for (int k = 0; cl__kit_files[k] != NULL; k++)
		if (strcmp(file, cl__kit_files[k]) == 0)
			return 1;
	return 0;
}

/* The function symbol holding pc: its name and offset, and whether the
 * kit defines it. 0 if none. */
static int cl__lookup(uintptr_t pc, char *name, size_t len, uintptr_t *off,
		      int *kit)
{
	struct cl__symobj *o;
	const Elf64_Sym *best = NULL;
	uintptr_t v;

	pthread_mutex_lock(&cl__syms.lock);
	o = cl__symobj_of(pc);
	if (o != NULL && o->syms != NULL) {
		v = pc - o->bias;
		for (size_t i = 0; i < o->nsyms; i++) {
			const Elf64_Sym *s = &o->syms[i];

			if (ELF64_ST_TYPE(s->st_info) != STT_FUNC ||
			    s->st_value == 0 || s->st_name >= o->strsize)
				continue;
			if (v >= s->st_value && v < s->st_value + s->st_size) {
				best = s;
				break;
			}
		}
		if (best != NULL) {
			/* "ship.constprop.0", "f.part.1": a copy of ship
			 * the compiler made; the reader wants ship. */
			snprintf(name, len, "%.*s",
				 (int)strcspn(o->strtab + best->st_name, "."),
				 o->strtab + best->st_name);
			*off = v - best->st_value;
			if (strncmp(name, "cl_", 3) == 0 ||
			    cl__in_kit_file(o, (size_t)(best - o->syms)))
				*kit = CL_SYM_KIT;
			else
				*kit = o->program ? CL_SYM_PROGRAM
						  : CL_SYM_LIBRARY;
		}
	}
	pthread_mutex_unlock(&cl__syms.lock);
	return best != NULL;
}

const char *cl_symbolize(const void *pc, char *buf, size_t len)
{
	char name[256];
	uintptr_t off;
	int kit;

	if (!cl__lookup((uintptr_t)pc, name, sizeof name, &off, &kit))
		snprintf(buf, len, "%p", pc);
	else if (off == 0)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%s+0x%lx", name, (unsigned long)off);
	return buf;
}

const char *cl_symbol_name(const void *pc, char *buf, size_t len)
{
	uintptr_t off;
	int kit;

	if (len > 0 && !cl__lookup((uintptr_t)pc, buf, len, &off, &kit))
		buf[0] = '\0';
	return buf;
}

int cl_symbol_whose(const void *pc)
{
	char name[256];
	uintptr_t off;
	int kit;

	if (!cl__lookup((uintptr_t)pc, name, sizeof name, &off, &kit))
		return CL_SYM_UNKNOWN;
	return kit;
}
