/*
 * openbench PATH OPS BATCH WARMUP
 *
 * Times open(PATH, O_RDONLY)+close in batches of BATCH calls after WARMUP
 * untimed calls, and prints the per-operation median (and min, max) over
 * the OPS/BATCH batches, in nanoseconds, as key=value pairs.
 * Exits 1 if any open fails.
 */
#include "common.h"
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: openbench PATH OPS BATCH WARMUP\n");
		return 2;
	}
	const char *path = argv[1];
	long ops = parse_long(argv[2], "OPS"), batch = parse_long(argv[3], "BATCH");
	long warm = parse_long(argv[4], "WARMUP");
	if (batch < 1 || ops < batch) {
		fprintf(stderr, "need OPS >= BATCH >= 1\n");
		return 2;
	}
	for (long i = 0; i < warm; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "openbench: open %s: %s\n", path, strerror(errno));
			return 1;
		}
		close(fd);
	}
	long nb = ops / batch;
	double *per = calloc((size_t)nb, sizeof *per);
	if (!per)
		return 1;
	uint64_t start = now_ns();
	for (long b = 0; b < nb; b++) {
		uint64_t t0 = now_ns();
		for (long i = 0; i < batch; i++) {
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				fprintf(stderr, "openbench: open %s: %s\n", path, strerror(errno));
				return 1;
			}
			close(fd);
		}
		per[b] = (double)(now_ns() - t0) / (double)batch;
	}
	uint64_t total = now_ns() - start;
	qsort(per, (size_t)nb, sizeof *per, cmp_double);
	printf("median_ns=%.1f min_ns=%.1f max_ns=%.1f mean_ns=%.1f batches=%ld batch=%ld\n",
	       median_sorted(per, (size_t)nb), per[0], per[nb - 1],
	       (double)total / (double)(nb * batch), nb, batch);
	return 0;
}
