/*
 * execbench PATH OPS BATCH WARMUP
 *
 * Times posix_spawn(PATH)+waitpid in batches of BATCH after WARMUP untimed
 * runs; prints the per-operation median (min, max) over the batches in ns.
 * Exits 1 if a spawn fails or the child does not exit 0.
 */
#include "common.h"
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

static void run(const char *path)
{
	char *argv[] = {(char *)path, NULL};
	char *envp[] = {NULL};
	pid_t pid;
	int rc = posix_spawn(&pid, path, NULL, NULL, argv, envp);
	if (rc != 0) {
		fprintf(stderr, "execbench: spawn %s: %s\n", path, strerror(rc));
		exit(1);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			perror("waitpid");
			exit(1);
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "execbench: %s did not exit 0 (status 0x%x)\n", path, st);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: execbench PATH OPS BATCH WARMUP\n");
		return 2;
	}
	const char *path = argv[1];
	long ops = parse_long(argv[2], "OPS"), batch = parse_long(argv[3], "BATCH");
	long warm = parse_long(argv[4], "WARMUP");
	if (batch < 1 || ops < batch) {
		fprintf(stderr, "need OPS >= BATCH >= 1\n");
		return 2;
	}
	for (long i = 0; i < warm; i++)
		run(path);
	long nb = ops / batch;
	double *per = calloc((size_t)nb, sizeof *per);
	if (!per)
		return 1;
	uint64_t start = now_ns();
	for (long b = 0; b < nb; b++) {
		uint64_t t0 = now_ns();
		for (long i = 0; i < batch; i++)
			run(path);
		per[b] = (double)(now_ns() - t0) / (double)batch;
	}
	uint64_t total = now_ns() - start;
	qsort(per, (size_t)nb, sizeof *per, cmp_double);
	printf("median_ns=%.1f min_ns=%.1f max_ns=%.1f mean_ns=%.1f batches=%ld batch=%ld\n",
	       median_sorted(per, (size_t)nb), per[0], per[nb - 1],
	       (double)total / (double)(nb * batch), nb, batch);
	return 0;
}
