/*
 * symbols.h - from a code address to the name of its function.
 *
 * A backtrace is a list of return addresses; a person wants names. The
 * dynamic linker's dladdr knows only the symbols a program exports, which
 * leaves out every static function, and most of a program's functions are
 * static. The full list sits in the file's own symbol table (.symtab, the
 * one nm prints and strip removes), so cl_symbolize reads it: it finds the
 * loaded object that holds the address (dl_iterate_phdr), maps its file,
 * and looks for the function whose [start, start + size) holds it.
 *
 *	cl_symbolize(pc, buf, sizeof buf)	"blocker+0x1c"
 *
 * Not for a signal handler (it opens files and takes a lock): capture the
 * addresses there, name them afterwards, as the watchdog does.
 *
 * Python: a traceback names functions by their code objects, which carry
 * the name; C code carries none, hence this file. gdb and addr2line do
 * the same with the DWARF line tables as well.
 */
#ifndef CL_SYMBOLS_H
#define CL_SYMBOLS_H

#include <stddef.h>

/* "name+0xoff" (or "name" at offset 0) into buf, or "0xADDR" when no
 * symbol covers pc. Returns buf. Thread-safe. */
const char *cl_symbolize(const void *pc, char *buf, size_t len);

/* Just the name of the function that holds pc, into buf; "" if none. */
const char *cl_symbol_name(const void *pc, char *buf, size_t len);

/*
 * Whose code pc is in: the kit's (its cl_ names, and the static functions
 * of its files), the program's (the rest of the executable), a shared
 * library's (libc ...), or nobody's that we can tell. Reports name the
 * innermost frame of the program's: the place to look.
 */
enum cl_sym_whose {
	CL_SYM_UNKNOWN,
	CL_SYM_KIT,
	CL_SYM_PROGRAM,
	CL_SYM_LIBRARY,
};
int cl_symbol_whose(const void *pc);

#endif
