/*
 * latency HUGE SMALL N
 *
 * Cached-open latency while a large file is being verified. Touches HUGE
 * (utimensat: its cached verdict goes stale), opens it in a background
 * thread (that open() blocks until the agent has hashed and verified the
 * whole file), waits 20 ms so that the agent is busy with it, then times N
 * individual open(SMALL)+close calls, stopping early if the HUGE open
 * returns. Prints percentiles of the samples taken while the HUGE open was
 * still pending, and whether all N were (pending_all=1).
 */
#include "common.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *huge;
static atomic_int started, done;
static uint64_t huge_t0, huge_t1;
static int huge_err;

static void *open_huge(void *arg)
{
	(void)arg;
	huge_t0 = now_ns();
	atomic_store(&started, 1);
	int fd = open(huge, O_RDONLY | O_CLOEXEC);
	huge_t1 = now_ns();
	if (fd < 0)
		huge_err = errno;
	else
		close(fd);
	atomic_store(&done, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: latency HUGE SMALL N\n");
		return 2;
	}
	huge = argv[1];
	const char *small = argv[2];
	long n = parse_long(argv[3], "N");
	if (n < 1)
		return 2;
	uint64_t *s = calloc((size_t)n, sizeof *s);
	if (!s)
		return 1;
	/* The small file must be cached: open it a few times first. */
	for (int i = 0; i < 100; i++) {
		int fd = open(small, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "latency: open %s: %s\n", small, strerror(errno));
			return 1;
		}
		close(fd);
	}
	if (utimensat(AT_FDCWD, huge, NULL, 0) != 0) {
		fprintf(stderr, "latency: touch %s: %s\n", huge, strerror(errno));
		return 1;
	}
	pthread_t th;
	pthread_create(&th, NULL, open_huge, NULL);
	while (!atomic_load(&started))
		;
	struct timespec pause = {0, 20 * 1000 * 1000};
	nanosleep(&pause, NULL);
	long taken = 0;
	int pending_all = 1;
	uint64_t sample_t0 = now_ns();
	for (; taken < n; taken++) {
		if (atomic_load(&done)) {
			pending_all = 0;
			break;
		}
		uint64_t t0 = now_ns();
		int fd = open(small, O_RDONLY | O_CLOEXEC);
		uint64_t t1 = now_ns();
		if (fd < 0) {
			fprintf(stderr, "latency: open %s: %s\n", small, strerror(errno));
			return 1;
		}
		close(fd);
		s[taken] = t1 - t0;
	}
	uint64_t sample_t1 = now_ns();
	int still_pending = !atomic_load(&done);
	pthread_join(th, NULL);
	if (huge_err) {
		fprintf(stderr, "latency: open %s: %s\n", huge, strerror(huge_err));
		return 1;
	}
	if (taken == 0) {
		fprintf(stderr, "latency: the large open returned before any sample\n");
		return 1;
	}
	qsort(s, (size_t)taken, sizeof *s, cmp_u64);
	printf("samples=%ld pending_all=%d pending_at_end=%d p50_ns=%llu p90_ns=%llu p99_ns=%llu "
	       "p999_ns=%llu max_ns=%llu huge_open_ns=%llu sample_start_ns=%llu sample_end_ns=%llu\n",
	       taken, pending_all && still_pending, still_pending,
	       (unsigned long long)pct_sorted(s, (size_t)taken, 50),
	       (unsigned long long)pct_sorted(s, (size_t)taken, 90),
	       (unsigned long long)pct_sorted(s, (size_t)taken, 99),
	       (unsigned long long)pct_sorted(s, (size_t)taken, 99.9),
	       (unsigned long long)s[taken - 1], (unsigned long long)(huge_t1 - huge_t0),
	       (unsigned long long)(sample_t0 - huge_t0), (unsigned long long)(sample_t1 - huge_t0));
	return 0;
}
