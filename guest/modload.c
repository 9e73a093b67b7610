// SPDX-License-Identifier: GPL-2.0-only
/*
 * krepro module loader: one finit_module() call, no retries.
 *
 * busybox insmod falls back to init_module() when finit_module() fails, and
 * test_lockup returns -EAGAIN by design after its test, so busybox ran the
 * test twice. This loader calls finit_module() exactly once.
 *
 * usage: modload PATH [PARAMS]
 * Prints one line `modload: finit_module(PATH, "PARAMS") = <rc> (<error>)`
 * and exits 0 when the module loaded, 1 when the kernel refused it (for
 * test_lockup, EAGAIN after the test ran is the normal outcome), 2 on usage
 * or open errors.
 *
 * Build: gcc -static -O2 -o modload modload.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4
#endif

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

int main(int argc, char **argv)
{
	const char *path, *params;
	int fd, flags = 0;
	long rc;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: modload PATH [PARAMS]\n");
		return 2;
	}
	path = argv[1];
	params = argc == 3 ? argv[2] : "";
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		printf("modload: open(%s): %s\n", path, strerror(errno));
		return 2;
	}
	/* Compressed modules need the kernel to decompress (MODULE_DECOMPRESS). */
	if (ends_with(path, ".xz") || ends_with(path, ".gz") || ends_with(path, ".zst"))
		flags |= MODULE_INIT_COMPRESSED_FILE;
	printf("modload: loading %s \"%s\"\n", path, params);
	fflush(stdout);
	rc = syscall(SYS_finit_module, fd, params, flags);
	if (rc < 0) {
		int err = errno;

		printf("modload: finit_module(%s, \"%s\") = -1 (%s)\n", path, params, strerror(err));
		return 1;
	}
	printf("modload: finit_module(%s, \"%s\") = %ld (ok)\n", path, params, rc);
	return 0;
}
