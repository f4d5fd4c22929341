/* Prints its own maps, then the results of a series of mmap calls without
 * a fixed address, then its maps again. Run without address-space
 * randomisation and with an 8 MiB stack limit, so that the mmap base is the
 * one the model assumes (0x7ffff7fff000). Output goes through write(2) from
 * static buffers: nothing here maps memory except the calls under test. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <unistd.h>

static char buf[1 << 20];

static void put(const char *s) { write(1, s, strlen(s)); }

static void dump_maps(void) {
	int fd = open("/proc/self/maps", O_RDONLY);
	ssize_t n, off = 0;
	while ((n = read(fd, buf + off, sizeof buf - 1 - off)) > 0) off += n;
	close(fd);
	buf[off] = 0;
	put(buf);
	put("--\n");
}

static void *call(const char *what, void *addr, size_t len, int prot, int flags, int fd, off_t off) {
	char line[256];
	void *p = mmap(addr, len, prot, flags, fd, off);
	if (p == MAP_FAILED) snprintf(line, sizeof line, "%s = -1\n", what);
	else snprintf(line, sizeof line, "%s = %p\n", what, p);
	put(line);
	return p;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		struct rlimit rl = {8 << 20, 8 << 20};
		setrlimit(RLIMIT_STACK, &rl);
		personality(ADDR_NO_RANDOMIZE);
		char *args[] = {argv[0], argv[1], "again", 0};
		execv("/proc/self/exe", args);
		return 1;
	}
	int fd = open(argv[1], O_RDONLY);
	dump_maps();
	void *a = call("anon-1p", 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	call("anon-3p-ro", 0, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	call("anon-2m", 0, 2 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	call("anon-4m1p", 0, (4 << 20) + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(a, 4096);
	call("anon-2p-refill", 0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	call("hint-taken", a, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	call("hint-free", (void *)0x300000000000, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	call("hint-unaligned", (void *)0x300000100123, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	call("file-1p", 0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	call("file-2p-off", 0, 2 * 4096, PROT_READ, MAP_PRIVATE, fd, 4096);
	call("shared-anon", 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	call("shared-anon-2m", 0, 2 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	call("growsdown", 0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0);
	call("below-growsdown", 0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	call("huge-len", 0, (size_t)1 << 46, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	call("after-huge", 0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dump_maps();
	return 0;
}
