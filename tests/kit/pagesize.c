/*
 * pagesize.c - run the grader as if the kernel's pages were bigger.
 *
 * ARM64 kernels come with 4 KiB, 16 KiB (Apple Silicon under Asahi) or
 * 64 KiB pages (many server distributions), and a program learns which
 * from sysconf(_SC_PAGESIZE). qemu-user's -p cannot stand in for such a
 * kernel (10.0 ignores it; 7.2 changes what sysconf says, but under it
 * chapter 09's mincore-based test fails), so tests/kit/cross.sh links
 * this file into a grader with
 *
 *	-Wl,--wrap=sysconf -Wl,--wrap=getpagesize -Wl,--wrap=mincore
 *	-Wl,--wrap=mmap
 *
 * and sets COROLAB_PAGESIZE (a power of two, at least the real page
 * size). Every call from the kit and its tests then sees that size:
 * stacks are rounded to it, guard pages are that big, and mincore(2)
 * answers one byte per big page, as a kernel with such pages would. A
 * constant 4096 hidden anywhere in stack.c shows up as a wrong size, a
 * guard too small to catch an overflow, or a high-water mark off by a
 * factor. mmap, asked for no particular address, returns one aligned to
 * the big page, as such a kernel's does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

long __real_sysconf(int name);
int __real_mincore(void *addr, size_t len, unsigned char *vec);
long __wrap_sysconf(int name);
int __wrap_getpagesize(void);
int __wrap_mincore(void *addr, size_t len, unsigned char *vec);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off);

/* The pretended page size, or the real one without COROLAB_PAGESIZE. */
static long fake_page(void)
{
	const char *s = getenv("COROLAB_PAGESIZE");
	long real = __real_sysconf(_SC_PAGESIZE), p;

	if (s == NULL)
		return real;
	p = strtol(s, NULL, 10);
	return p >= real && (p & (p - 1)) == 0 ? p : real;
}

long __wrap_sysconf(int name)
{
	return name == _SC_PAGESIZE ? fake_page() : __real_sysconf(name);
}

int __wrap_getpagesize(void)
{
	return (int)fake_page();
}

/* One byte per pretended page: resident if any of its real pages is. */
int __wrap_mincore(void *addr, size_t len, unsigned char *vec)
{
	size_t real = (size_t)__real_sysconf(_SC_PAGESIZE);
	size_t big = (size_t)fake_page(), per = big / real;
	size_t nreal = (len + real - 1) / real, nbig = (len + big - 1) / big;
	unsigned char *v;
	int rc;

	if (per == 1)
		return __real_mincore(addr, len, vec);
	v = malloc(nreal ? nreal : 1);
	if (v == NULL)
		return -1;
	rc = __real_mincore(addr, len, v);
	for (size_t i = 0; rc == 0 && i < nbig; i++) {
		vec[i] = 0;
		for (size_t k = i * per; k < (i + 1) * per && k < nreal; k++)
			vec[i] |= v[k] & 1;
	}
	free(v);
	return rc;
}

/* An anonymous mapping anywhere: map a big page more than asked, and
 * give back the real pages before and after the aligned part. */
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off)
{
	size_t real = (size_t)__real_sysconf(_SC_PAGESIZE);
	size_t big = (size_t)fake_page(), head, tail;
	char *p;

	if (big == real || addr != NULL || !(flags & MAP_ANONYMOUS))
		return __real_mmap(addr, len, prot, flags, fd, off);
	len = (len + real - 1) & ~(real - 1);
	p = __real_mmap(NULL, len + big - real, prot, flags, fd, off);
	if (p == MAP_FAILED)
		return p;
	head = (big - (uintptr_t)p % big) % big;
	tail = big - real - head;
	if (head > 0)
		munmap(p, head);
	if (tail > 0)
		munmap(p + head + len, tail);
	return p + head;
}
