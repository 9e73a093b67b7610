// SPDX-License-Identifier: GPL-2.0-only
/*
 * krepro guest workload.
 *
 * One multi-threaded process modelled on what triggered the v6.19 mm_cid
 * stalls: worker threads concurrently posix_spawn() (glibc: clone with
 * CLONE_VM|CLONE_VFORK), vfork()+exec, fork()+exec and create/exit threads,
 * while the number of workers follows a triangle wave between 0 and --threads,
 * so the number of tasks sharing the mm keeps crossing the CPU count in both
 * directions. Beside them a VSOCK stream listener forks and execs one child
 * per connection (like `socat VSOCK-LISTEN:1024,fork EXEC:...`) and a client
 * thread connects to it over vsock loopback (CID 1) in a loop.
 *
 * Two modes drive the mm's user count across the CPU count:
 *   --mode wave   (default) the triangle wave above, in this one process.
 *   --mode cells  each of --cells workers forks, again and again, a fresh
 *                 process (a "cell") that starts --cell-threads threads; each
 *                 thread vfork()s a child that busy-waits --linger-us before it
 *                 execs. A fresh mm starts in per-task CID mode and crosses
 *                 the CPU count while vfork children are alive, so every cell
 *                 gives the task-to-CPU fixup walk a chance to miss one (the
 *                 wave crosses once per run: the listener and client threads
 *                 keep the main mm's users above the switch-back threshold).
 *                 --pressure N adds N busy threads to the main process.
 *
 * Output (stdout, one line each, written with a single write()):
 *   krepro-hb t=<sec> spawns=<n> forks=<n> vforks=<n> threads=<n> accepts=<n> connects=<n> cells=<n>
 *   krepro-err kind=<kind> errno=<n> msg=<text>      (first few per kind)
 *   krepro-done rc=<n> t=<sec> spawns=... connects=<n> errors=<n> <kind>_errors=<n>...
 * Errors are counted, never fatal.
 *
 * Build: gcc -static -O2 -pthread -o workload workload.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

extern char **environ;

#define MAX_WORKERS 1024
#define MAX_PENDING 64
#define ERR_PRINT_LIMIT 5
#define WAVE_STEP_MS 50

enum kind { K_SPAWN, K_FORK, K_VFORK, K_THREAD, K_LISTEN, K_ACCEPT, K_CONNECT, K_NKINDS };
static const char *const kind_name[K_NKINDS] = {
	"spawn", "fork", "vfork", "thread", "listen", "accept", "connect",
};

/* Counters live in a shared mapping so cells (forked processes) add to them. */
struct counters {
	atomic_ulong spawns, forks, vforks, threads, accepts, connects, cells;
	atomic_ulong errors[K_NKINDS];
};
static struct counters *C;
#define n_spawns (C->spawns)
#define n_forks (C->forks)
#define n_vforks (C->vforks)
#define n_threads (C->threads)
#define n_accepts (C->accepts)
#define n_connects (C->connects)
#define n_cells (C->cells)
#define n_errors (C->errors)
static atomic_int stop_flag;
static atomic_int wave_target;

static char exe_path[4096];
static char *child_argv[3];
static char *conn_argv[3];
static struct timespec t0;

struct worker {
	pthread_t tid;
	int index;
	atomic_int running;	/* 1 from creation until the thread is about to exit */
	int joinable;
};
static struct worker workers[MAX_WORKERS];

static double elapsed(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
}

static void out(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* One write per line so lines from threads never interleave. */
	while (write(STDOUT_FILENO, buf, n) < 0 && errno == EINTR)
		;
}

static void count_error(enum kind k, int err)
{
	unsigned long n = atomic_fetch_add(&n_errors[k], 1) + 1;

	if (n <= ERR_PRINT_LIMIT)
		out("krepro-err kind=%s errno=%d msg=%s%s", kind_name[k], err, strerror(err),
		    n == ERR_PRINT_LIMIT ? " (further errors of this kind counted only)" : "");
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Wait for a child that should exit 0 at once; count a failure of kind k. */
static void reap(pid_t pid, enum kind k)
{
	int st;

	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			count_error(k, errno);
			return;
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		count_error(k, WIFEXITED(st) ? ENOEXEC : EINTR);
}

static void do_spawn(void)
{
	pid_t pid;
	int err = posix_spawn(&pid, exe_path, NULL, NULL, child_argv, environ);

	if (err) {
		count_error(K_SPAWN, err);
		return;
	}
	atomic_fetch_add(&n_spawns, 1);
	reap(pid, K_SPAWN);
}

static void do_vfork(void)
{
	pid_t pid = vfork();

	if (pid == 0) {
		execve(exe_path, child_argv, environ);
		_exit(127);
	}
	if (pid < 0) {
		count_error(K_VFORK, errno);
		return;
	}
	atomic_fetch_add(&n_vforks, 1);
	reap(pid, K_VFORK);
}

static void do_fork(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		execve(exe_path, child_argv, environ);
		_exit(127);
	}
	if (pid < 0) {
		count_error(K_FORK, errno);
		return;
	}
	atomic_fetch_add(&n_forks, 1);
	reap(pid, K_FORK);
}

static void *short_thread(void *arg)
{
	return arg;
}

static pthread_attr_t small_stack;

static void do_thread(void)
{
	pthread_t t;
	int err = pthread_create(&t, &small_stack, short_thread, NULL);

	if (err) {
		count_error(K_THREAD, err);
		return;
	}
	atomic_fetch_add(&n_threads, 1);
	pthread_join(t, NULL);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned int i = (unsigned int)w->index;

	while (!atomic_load(&stop_flag) && w->index < atomic_load(&wave_target)) {
		switch (i++ % 4) {
		case 0: do_spawn(); break;
		case 1: do_vfork(); break;
		case 2: do_fork(); break;
		case 3: do_thread(); break;
		}
	}
	atomic_store(&w->running, 0);
	return NULL;
}

/* ---- cells ---------------------------------------------------------------- */

static long cell_threads = 6, linger_us = 2000, n_cell_workers, n_pressure;

static void busy_us(long us)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < us);
}

/* A cell thread: one vfork child that stays on the CPU a while before exec. */
static void *cell_thread(void *arg)
{
	pid_t pid = vfork();

	if (pid == 0) {
		/* Only locals and syscalls here: the child runs on our stack. */
		busy_us(linger_us);
		execve(exe_path, child_argv, environ);
		_exit(127);
	}
	if (pid < 0) {
		count_error(K_VFORK, errno);
		return arg;
	}
	atomic_fetch_add(&n_vforks, 1);
	reap(pid, K_VFORK);
	return arg;
}

/* The cell: a fresh mm that goes from 1 to 1 + 2 x cell_threads users. */
static int run_cell(void)
{
	pthread_t t[64];
	int n = 0;

	for (long i = 0; i < cell_threads; i++) {
		int err = pthread_create(&t[n], &small_stack, cell_thread, NULL);

		if (err) {
			count_error(K_THREAD, err);
			continue;
		}
		atomic_fetch_add(&n_threads, 1);
		n++;
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	return 0;
}

static void *cell_worker(void *arg)
{
	while (!atomic_load(&stop_flag)) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(run_cell());
		if (pid < 0) {
			count_error(K_FORK, errno);
			sleep_ms(10);
			continue;
		}
		atomic_fetch_add(&n_forks, 1);
		reap(pid, K_FORK);
		atomic_fetch_add(&n_cells, 1);
	}
	return arg;
}

static void *pressure_main(void *arg)
{
	volatile unsigned long spin = 0;

	while (!atomic_load(&stop_flag))
		spin++;
	return arg;
}

/* Start workers below the wave target, join the ones that left. */
static void adjust_workers(int max)
{
	int target = atomic_load(&wave_target);

	for (int i = 0; i < max; i++) {
		struct worker *w = &workers[i];

		if (w->joinable && !atomic_load(&w->running)) {
			pthread_join(w->tid, NULL);
			w->joinable = 0;
		}
		if (!w->joinable && i < target && !atomic_load(&stop_flag)) {
			int err;

			w->index = i;
			atomic_store(&w->running, 1);
			err = pthread_create(&w->tid, &small_stack, worker_main, w);
			if (err) {
				atomic_store(&w->running, 0);
				count_error(K_THREAD, err);
				continue;
			}
			w->joinable = 1;
			atomic_fetch_add(&n_threads, 1);
		}
	}
}

/* ---- vsock ---------------------------------------------------------------- */

static int vsock_port = 1024;

/*
 * A posix_spawn child can exit while its parent thread still blocks all
 * signals (glibc blocks them around clone), so its SIGCHLD is queued instead
 * of discarded and wakes some other thread. vsock connect() then fails with
 * EINTR (it does not restart). The vsock threads block SIGCHLD so the
 * process-wide signal goes to a worker, where only restartable calls wait.
 */
static void block_sigchld(int how)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(how, &set, NULL);
}

static void *listener_main(void *arg)
{
	pid_t pending[MAX_PENDING];
	int npending = 0;
	int lfd = -1;

	(void)arg;
	block_sigchld(SIG_BLOCK);
	while (!atomic_load(&stop_flag)) {
		struct sockaddr_vm addr = {
			.svm_family = AF_VSOCK,
			.svm_cid = VMADDR_CID_ANY,
			.svm_port = (unsigned int)vsock_port,
		};
		struct pollfd pfd;
		int fd, one = 1;
		pid_t pid;

		/* Reap finished connection children without blocking. */
		for (int i = 0; i < npending;) {
			int st;
			pid_t r = waitpid(pending[i], &st, WNOHANG);

			if (r == 0) {
				i++;
				continue;
			}
			if (r > 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
				count_error(K_ACCEPT, ENOEXEC);
			pending[i] = pending[--npending];
		}

		if (lfd < 0) {
			lfd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (lfd >= 0) {
				setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
				if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
				    listen(lfd, 64) < 0) {
					count_error(K_LISTEN, errno);
					close(lfd);
					lfd = -1;
				}
			} else {
				count_error(K_LISTEN, errno);
			}
			if (lfd < 0) {
				sleep_ms(1000);
				continue;
			}
		}

		pfd.fd = lfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != EAGAIN)
				count_error(K_ACCEPT, errno);
			continue;
		}
		atomic_fetch_add(&n_accepts, 1);
		if (npending == MAX_PENDING) {
			/* Too many connection children still running: drop this one. */
			close(fd);
			continue;
		}
		pid = fork();
		if (pid == 0) {
			block_sigchld(SIG_UNBLOCK);
			/* dup2 clears close-on-exec on the copies. */
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
			execve(exe_path, conn_argv, environ);
			_exit(127);
		}
		if (pid < 0)
			count_error(K_ACCEPT, errno);
		else
			pending[npending++] = pid;
		close(fd);
	}
	if (lfd >= 0)
		close(lfd);
	for (int i = 0; i < npending; i++)
		waitpid(pending[i], NULL, 0);
	return NULL;
}

static void *client_main(void *arg)
{
	(void)arg;
	block_sigchld(SIG_BLOCK);
	/* Give the listener a moment to bind. */
	sleep_ms(100);
	while (!atomic_load(&stop_flag)) {
		struct sockaddr_vm addr = {
			.svm_family = AF_VSOCK,
			.svm_cid = VMADDR_CID_LOCAL,
			.svm_port = (unsigned int)vsock_port,
		};
		char buf[64];
		struct timeval tv = { 2, 0 };
		struct timeval ctv = { 0, 500000 };
		int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ssize_t n;

		if (fd < 0) {
			count_error(K_CONNECT, errno);
			sleep_ms(1000);
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		/* Without a transport (no vsock_loopback) connect waits this long. */
		setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &ctv, sizeof(ctv));
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
			count_error(K_CONNECT, errno);
			close(fd);
			sleep_ms(200);
			continue;
		}
		if (write(fd, "ping\n", 5) != 5) {
			count_error(K_CONNECT, errno);
		} else {
			n = read(fd, buf, sizeof(buf));
			if (n > 0)
				atomic_fetch_add(&n_connects, 1);
			else
				count_error(K_CONNECT, n < 0 ? errno : ECONNRESET);
		}
		close(fd);
	}
	return NULL;
}

/* The per-connection child: socket on stdin/stdout, answer one line. */
static int conn_child(void)
{
	char buf[64];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n <= 0)
		return 1;
	return write(STDOUT_FILENO, "pong\n", 5) == 5 ? 0 : 1;
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: workload [--duration SEC] [--threads N] [--port P] [--no-vsock]\n"
		"                [--mode wave|cells] [--cells N] [--cell-threads N]\n"
		"                [--linger-us US] [--pressure N] [--exec PATH] [--summary FILE]\n"
		"       workload --child | --conn\n");
}

static void counters(char *buf, size_t len)
{
	snprintf(buf, len, "spawns=%lu forks=%lu vforks=%lu threads=%lu accepts=%lu connects=%lu cells=%lu",
		 atomic_load(&n_spawns), atomic_load(&n_forks), atomic_load(&n_vforks),
		 atomic_load(&n_threads), atomic_load(&n_accepts), atomic_load(&n_connects),
		 atomic_load(&n_cells));
}

static long parse_num(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s ? s : "", &end, 10);
	if (!s || errno || *end || end == s || v < min || v > max) {
		fprintf(stderr, "workload: bad value for %s: %s (want %ld..%ld)\n", opt,
			s ? s : "(missing)", min, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long duration = 60, threads = 0;
	int use_vsock = 1, cells_mode = 0;
	pthread_t cellw[MAX_WORKERS], press[MAX_WORKERS];
	int n_cellw = 0, n_press = 0;
	const char *summary = NULL;
	pthread_t listener, client;
	int have_listener = 0, have_client = 0;
	char cbuf[256], ebuf[256];
	unsigned long total_errors = 0;
	long next_hb = 1;
	int dir = 1, rc;
	size_t el = 0;
	ssize_t n;

	/* Exec targets exit at once: nothing else before this check. */
	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return 0;
	if (argc > 1 && strcmp(argv[1], "--conn") == 0)
		return conn_child();

	C = mmap(NULL, sizeof(*C), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (C == MAP_FAILED) {
		perror("workload: mmap");
		return 2;
	}

	exe_path[0] = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--duration")) {
			duration = parse_num(a, v, 1, 86400), i++;
		} else if (!strcmp(a, "--threads")) {
			threads = parse_num(a, v, 1, MAX_WORKERS), i++;
		} else if (!strcmp(a, "--port")) {
			vsock_port = (int)parse_num(a, v, 1, 0x7fffffff), i++;
		} else if (!strcmp(a, "--mode") && v) {
			if (!strcmp(v, "cells"))
				cells_mode = 1;
			else if (strcmp(v, "wave")) {
				fprintf(stderr, "workload: bad value for --mode: %s (want wave or cells)\n", v);
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--cells")) {
			n_cell_workers = parse_num(a, v, 1, MAX_WORKERS), i++;
		} else if (!strcmp(a, "--cell-threads")) {
			cell_threads = parse_num(a, v, 1, 64), i++;
		} else if (!strcmp(a, "--linger-us")) {
			linger_us = parse_num(a, v, 0, 1000000), i++;
		} else if (!strcmp(a, "--pressure")) {
			n_pressure = parse_num(a, v, 0, MAX_WORKERS), i++;
		} else if (!strcmp(a, "--no-vsock")) {
			use_vsock = 0;
		} else if (!strcmp(a, "--exec") && v) {
			snprintf(exe_path, sizeof(exe_path), "%s", v), i++;
		} else if (!strcmp(a, "--summary") && v) {
			summary = v, i++;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "workload: unknown argument %s\n", a);
			usage(stderr);
			return 2;
		}
	}

	if (!exe_path[0]) {
		n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
		if (n <= 0) {
			snprintf(exe_path, sizeof(exe_path), "%s", argv[0]);
		} else {
			exe_path[n] = 0;
		}
	}
	child_argv[0] = exe_path;
	child_argv[1] = "--child";
	conn_argv[0] = exe_path;
	conn_argv[1] = "--conn";
	if (threads <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		threads = 2 * (cpus > 0 ? cpus : 1);
		if (threads > MAX_WORKERS)
			threads = MAX_WORKERS;
	}
	if (n_cell_workers <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		n_cell_workers = cpus > 0 ? cpus : 1;
	}

	signal(SIGPIPE, SIG_IGN);
	pthread_attr_init(&small_stack);
	pthread_attr_setstacksize(&small_stack, 256 * 1024);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	out("krepro-workload: start duration=%ld mode=%s threads=%ld cells=%ld cell-threads=%ld linger-us=%ld pressure=%ld cpus=%ld port=%d vsock=%d exec=%s",
	    duration, cells_mode ? "cells" : "wave", cells_mode ? 0 : threads,
	    cells_mode ? n_cell_workers : 0, cell_threads, linger_us, n_pressure,
	    sysconf(_SC_NPROCESSORS_ONLN), vsock_port, use_vsock, exe_path);

	for (long i = 0; i < n_pressure; i++) {
		if (pthread_create(&press[n_press], &small_stack, pressure_main, NULL) == 0)
			n_press++;
	}
	if (cells_mode) {
		for (long i = 0; i < n_cell_workers; i++) {
			int err = pthread_create(&cellw[n_cellw], &small_stack, cell_worker, NULL);

			if (err)
				count_error(K_THREAD, err);
			else
				n_cellw++;
		}
		threads = 0;	/* no wave */
	}

	if (use_vsock) {
		int err = pthread_create(&listener, &small_stack, listener_main, NULL);

		if (err)
			count_error(K_THREAD, err);
		else
			have_listener = 1;
		err = pthread_create(&client, &small_stack, client_main, NULL);
		if (err)
			count_error(K_THREAD, err);
		else
			have_client = 1;
	}

	/*
	 * The wave: every WAVE_STEP_MS the worker target moves one step between
	 * 0 and threads, so the mm's user count sweeps across the CPU count.
	 */
	atomic_store(&wave_target, (int)threads);
	for (;;) {
		double t = elapsed();
		int target;

		if (t >= (double)next_hb) {
			counters(cbuf, sizeof(cbuf));
			out("krepro-hb t=%ld %s", next_hb, cbuf);
			next_hb++;
		}
		if (t >= (double)duration)
			break;
		if (cells_mode) {
			sleep_ms(WAVE_STEP_MS);
			continue;
		}
		adjust_workers((int)threads);
		sleep_ms(WAVE_STEP_MS);
		target = atomic_load(&wave_target) + dir;
		if (target >= threads) {
			target = (int)threads;
			dir = -1;
		} else if (target <= 0) {
			target = 0;
			dir = 1;
		}
		atomic_store(&wave_target, target);
	}

	atomic_store(&stop_flag, 1);
	for (int i = 0; i < n_cellw; i++)
		pthread_join(cellw[i], NULL);
	for (int i = 0; i < n_press; i++)
		pthread_join(press[i], NULL);
	for (int i = 0; i < threads; i++) {
		if (workers[i].joinable)
			pthread_join(workers[i].tid, NULL);
	}
	if (have_listener)
		pthread_join(listener, NULL);
	if (have_client)
		pthread_join(client, NULL);

	ebuf[0] = 0;
	for (int k = 0; k < K_NKINDS; k++) {
		unsigned long e = atomic_load(&n_errors[k]);

		total_errors += e;
		el += (size_t)snprintf(ebuf + el, el < sizeof(ebuf) ? sizeof(ebuf) - el : 0,
				       " %s_errors=%lu", kind_name[k], e);
		if (el >= sizeof(ebuf))
			el = sizeof(ebuf) - 1;
	}
	/* rc 0: the workload did its job; 1: no spawn, fork or vfork ever succeeded. */
	rc = atomic_load(&n_spawns) + atomic_load(&n_forks) + atomic_load(&n_vforks) > 0 ? 0 : 1;
	counters(cbuf, sizeof(cbuf));
	out("krepro-done rc=%d t=%.1f %s errors=%lu%s", rc, elapsed(), cbuf, total_errors, ebuf);
	if (summary) {
		FILE *f = fopen(summary, "w");

		if (f) {
			fprintf(f, "krepro-done rc=%d t=%.1f %s errors=%lu%s\n", rc, elapsed(), cbuf,
				total_errors, ebuf);
			fclose(f);
		}
	}
	return rc;
}
