// maps_child maps what the procfs tests want to see in /proc/PID/maps: a
// file with a space in its name, mapped twice, a file with a newline in its
// name, a deleted file, shared anonymous memory, a memfd, named anonymous
// memory (where the kernel supports names) and a split anonymous region.
// It prints "ready" and waits to be killed. Usage: maps_child DIR
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

static void die(const char *what) { perror(what); exit(1); }

static int mkfile(const char *dir, const char *name, int pages) {
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) die("open");
	if (ftruncate(fd, (off_t)pages * 4096) < 0) die("ftruncate");
	return fd;
}

int main(int argc, char **argv) {
	if (argc != 2) return 2;
	const char *dir = argv[1];
	long pg = 4096;

	int fd = mkfile(dir, "with space.bin", 4);
	if (mmap(NULL, 2 * pg, PROT_READ, MAP_SHARED, fd, pg) == MAP_FAILED) die("mmap space");
	if (mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED) die("mmap space rw");
	close(fd);

	fd = mkfile(dir, "new\nline", 1);
	if (mmap(NULL, pg, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED) die("mmap newline");
	close(fd);

	fd = mkfile(dir, "gone.bin", 2);
	if (mmap(NULL, 2 * pg, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0) == MAP_FAILED) die("mmap gone");
	close(fd);
	char path[4096];
	snprintf(path, sizeof path, "%s/gone.bin", dir);
	if (unlink(path) < 0) die("unlink");

	char *shm = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED) die("mmap shared anon");
	shm[0] = 1;

	char *nshm = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (nshm == MAP_FAILED) die("mmap shared anon 2");
	prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)nshm, 2 * pg, (unsigned long)"shared one");

	char *anon = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (anon == MAP_FAILED) die("mmap anon");
	prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)anon, 2 * pg, (unsigned long)"specvma test");
	if (mprotect(anon + 3 * pg, pg, PROT_READ) < 0) die("mprotect");

	int mfd = memfd_create("specvma memfd", 0);
	if (mfd >= 0 && ftruncate(mfd, pg) == 0)
		mmap(NULL, pg, PROT_READ, MAP_SHARED, mfd, 0);

	void *volatile heap = malloc(100000);
	(void)heap;

	if (write(1, "ready\n", 6) != 6) return 1;
	for (;;) pause();
}
