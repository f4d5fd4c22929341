// The process the fork backend (agent_linux.go) drives: it connects to the
// test's Unix socket, announces its pid, and then carries out one request
// per line, answering each with one line "r RET ERRNO" (RET in hex).
// Requests (numbers in hex):
//
//	s NR A1 A2 A3 A4 A5 A6   a raw system call
//	t ADDR W                 a one-byte read (W 0) or write (W 1) at ADDR;
//	                         ERRNO 14 (EFAULT) on SIGSEGV or SIGBUS
//	n ADDR LEN HEXNAME       PR_SET_VMA_ANON_NAME; HEXNAME "-" clears
//	o PATH                   open(2), read-write if allowed, else read-only
//	f                        fork(2): the child drops this connection and
//	                         connects anew; the parent answers the pid
//	l RES CUR                setrlimit(RES) with soft limit CUR (the hard
//	                         limit raised to it if lower)
//	q                        exit
//
// C, with libc's raw syscall(2), so that no runtime of its own maps memory
// in the test's window and any argument reaches the kernel as given. It
// never allocates (no malloc, no stdio streams: requests are read and
// answers written with read(2) and write(2) on static buffers), so its
// program break is where exec left it and its size changes only by what
// the requests map: scripts may move the break (brk), and a resource
// limit set relative to its size (VmSize) is what the script's own
// mappings get.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

static const char *sockpath;
static int conn = -1;
static char inbuf[16384];
static size_t inlen;
static sigjmp_buf fault_jmp;

static void on_fault(int sig) {
	(void)sig;
	siglongjmp(fault_jmp, 1);
}

static void dial(void) {
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		_exit(2);
	strncpy(sa.sun_path, sockpath, sizeof(sa.sun_path) - 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		_exit(3);
	conn = fd;
	inlen = 0;
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "hello %x\n", (unsigned)getpid());
	if (write(conn, buf, n) != n)
		_exit(4);
}

static void answer(unsigned long ret, int err) {
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "r %lx %d\n", ret, err);
	if (write(conn, buf, n) != n)
		_exit(5);
}

/* readline copies the next request line (without its newline) into line;
 * 0 at the end of the connection. */
static int readline(char *line, size_t size) {
	for (;;) {
		char *nl = memchr(inbuf, '\n', inlen);
		if (nl) {
			size_t n = nl - inbuf;
			if (n >= size)
				n = size - 1;
			memcpy(line, inbuf, n);
			line[n] = 0;
			inlen -= nl + 1 - inbuf;
			memmove(inbuf, nl + 1, inlen);
			return 1;
		}
		if (inlen == sizeof(inbuf))
			_exit(6); /* a line longer than the buffer */
		ssize_t r = read(conn, inbuf + inlen, sizeof(inbuf) - inlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		inlen += r;
	}
}

static int unhex(char c) {
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int main(int argc, char **argv) {
	char line[8192];
	struct sigaction sa = {.sa_handler = on_fault, .sa_flags = SA_NODEFER};
	if (argc != 2)
		return 1;
	sockpath = argv[1];
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	dial();
	while (readline(line, sizeof(line))) {
		switch (line[0]) {
		case 's': {
			unsigned long nr, a[6];
			if (sscanf(line + 1, "%lx %lx %lx %lx %lx %lx %lx", &nr, &a[0], &a[1], &a[2], &a[3], &a[4],
				   &a[5]) != 7) {
				answer(0, EINVAL);
				break;
			}
			errno = 0;
			long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
			answer(r == -1 ? 0 : (unsigned long)r, r == -1 ? errno : 0);
			break;
		}
		case 't': {
			unsigned long addr, w;
			if (sscanf(line + 1, "%lx %lx", &addr, &w) != 2) {
				answer(0, EINVAL);
				break;
			}
			if (sigsetjmp(fault_jmp, 1)) {
				answer(0, EFAULT);
				break;
			}
			volatile char *p = (volatile char *)addr;
			if (w)
				*p = 0x5a;
			else
				(void)*p;
			answer(0, 0);
			break;
		}
		case 'n': {
			unsigned long addr, len;
			char hexname[4096];
			char name[2048];
			if (sscanf(line + 1, "%lx %lx %4095s", &addr, &len, hexname) != 3) {
				answer(0, EINVAL);
				break;
			}
			char *np = NULL;
			if (strcmp(hexname, "-") != 0) {
				size_t n = strlen(hexname) / 2, i;
				for (i = 0; i < n && i < sizeof(name) - 1; i++)
					name[i] = (char)(unhex(hexname[2 * i]) << 4 | unhex(hexname[2 * i + 1]));
				name[i] = 0;
				np = name;
			}
			long r = prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, addr, len, (unsigned long)np);
			answer(0, r == -1 ? errno : 0);
			break;
		}
		case 'o': {
			int fd = open(line + 2, O_RDWR);
			if (fd < 0)
				fd = open(line + 2, O_RDONLY);
			answer(fd < 0 ? 0 : (unsigned long)fd, fd < 0 ? errno : 0);
			break;
		}
		case 'f': {
			pid_t pid = fork();
			if (pid < 0) {
				answer(0, errno);
				break;
			}
			if (pid == 0) {
				close(conn); /* the parent's connection */
				dial();
				break;
			}
			answer((unsigned long)pid, 0);
			break;
		}
		case 'l': {
			unsigned long res, cur;
			struct rlimit rl;
			if (sscanf(line + 1, "%lx %lx", &res, &cur) != 2 || getrlimit((int)res, &rl)) {
				answer(0, EINVAL);
				break;
			}
			rl.rlim_cur = cur;
			if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < cur)
				rl.rlim_max = cur;
			answer(0, setrlimit((int)res, &rl) ? errno : 0);
			break;
		}
		case 'q':
			_exit(0);
		default:
			answer(0, EINVAL);
		}
	}
	return 0;
}
