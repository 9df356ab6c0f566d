/*
 * replay.c - run the fuzz target on files, without libFuzzer.
 *
 *	replay FILE|DIR ...
 *
 * Each file (and each file in each directory, not recursing) goes once
 * through LLVMFuzzerTestOneInput, as libFuzzer would run a corpus. Any
 * compiler builds this, so the fuzzer's findings stay tested where clang
 * is not installed; build it with the sanitizers to make it mean much.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feed one file to the target. Returns 0, or -1 if it cannot be read. */
static int feed(const char *path)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf = NULL, *p;
	size_t n = 0, cap = 0, got;

	if (fp == NULL) {
		perror(path);
		return -1;
	}
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((p = realloc(buf, cap)) == NULL) {
				free(buf);
				fclose(fp);
				return -1;
			}
			buf = p;
		}
		got = fread(buf + n, 1, cap - n, fp);
		n += got;
	} while (got > 0);
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	char path[4096];
	struct stat sb;
	struct dirent *d;
	long files = 0;
	int rc = 0;
	DIR *dir;

	for (int i = 1; i < argc; i++) {
		if (stat(argv[i], &sb) == 0 && !S_ISDIR(sb.st_mode)) {
			rc |= feed(argv[i]);
			files++;
			continue;
		}
		if ((dir = opendir(argv[i])) == NULL) {
			perror(argv[i]);
			rc = -1;
			continue;
		}
		while ((d = readdir(dir)) != NULL) {
			snprintf(path, sizeof(path), "%s/%s", argv[i],
				 d->d_name);
			if (d->d_name[0] == '.' || stat(path, &sb) != 0 ||
			    !S_ISREG(sb.st_mode))
				continue;
			rc |= feed(path);
			files++;
		}
		closedir(dir);
	}
	printf("replay: %ld inputs\n", files);
	return rc != 0;
}
