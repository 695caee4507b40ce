/*
 * opentime [--touch] FILE...
 *
 * Cold verification: with --touch, first sets each FILE's times to now
 * with utimensat(2) (no open, so no permission event; the ctime change
 * makes the agent's cached verdict stale without touching the signature).
 * Then opens every FILE at once, one thread each, released together by a
 * barrier, and prints how long each open() took (it returns when the agent
 * has hashed the file and verified its signature) and the wall time from
 * the release to the last open's return, in ns.
 */
#include "common.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

struct job {
	const char *path;
	uint64_t t0, t1;
	int err;
	long long size;
};

static pthread_barrier_t barrier;

static void *worker(void *arg)
{
	struct job *j = arg;
	pthread_barrier_wait(&barrier);
	j->t0 = now_ns();
	int fd = open(j->path, O_RDONLY | O_CLOEXEC);
	j->t1 = now_ns();
	if (fd < 0)
		j->err = errno;
	else
		close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	int first = 1, touch = 0;
	if (argc > 1 && strcmp(argv[1], "--touch") == 0) {
		touch = 1;
		first = 2;
	}
	int n = argc - first;
	if (n < 1) {
		fprintf(stderr, "usage: opentime [--touch] FILE...\n");
		return 2;
	}
	struct job *jobs = calloc((size_t)n, sizeof *jobs);
	pthread_t *th = calloc((size_t)n, sizeof *th);
	if (!jobs || !th)
		return 1;
	for (int i = 0; i < n; i++) {
		struct stat st;
		jobs[i].path = argv[first + i];
		if (touch && utimensat(AT_FDCWD, jobs[i].path, NULL, 0) != 0) {
			fprintf(stderr, "opentime: touch %s: %s\n", jobs[i].path, strerror(errno));
			return 1;
		}
		if (stat(jobs[i].path, &st) != 0) {
			fprintf(stderr, "opentime: stat %s: %s\n", jobs[i].path, strerror(errno));
			return 1;
		}
		jobs[i].size = (long long)st.st_size;
	}
	pthread_barrier_init(&barrier, NULL, (unsigned)n + 1);
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, worker, &jobs[i]);
	pthread_barrier_wait(&barrier);
	uint64_t start = now_ns();
	uint64_t end = start;
	long long bytes = 0;
	int failed = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		if (jobs[i].t1 > end)
			end = jobs[i].t1;
		bytes += jobs[i].size;
		if (jobs[i].err) {
			fprintf(stderr, "opentime: open %s: %s\n", jobs[i].path, strerror(jobs[i].err));
			failed = 1;
		}
		printf("file=%s size=%lld open_ns=%llu\n", jobs[i].path, jobs[i].size,
		       (unsigned long long)(jobs[i].t1 - jobs[i].t0));
	}
	printf("files=%d bytes=%lld wall_ns=%llu\n", n, bytes, (unsigned long long)(end - start));
	return failed;
}
