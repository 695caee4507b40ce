/* Shared helpers for the sigward benchmark drivers in bench/src. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline long parse_long(const char *s, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < 0) {
		fprintf(stderr, "bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Median of a sorted array. */
static inline double median_sorted(const double *v, size_t n)
{
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Nearest-rank percentile (0 < p <= 100) of a sorted array. */
static inline uint64_t pct_sorted(const uint64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t rank = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

/*
 * The main of a driver "NAME PATH OPS BATCH WARMUP": runs op(PATH) WARMUP
 * times untimed, then OPS times in batches of BATCH, and prints the
 * per-operation median (and min, max, mean) over the OPS/BATCH batches, in
 * nanoseconds, as key=value pairs. op exits the process on failure.
 */
static inline int batched_main(int argc, char **argv, const char *name,
			       void (*op)(const char *path))
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s PATH OPS BATCH WARMUP\n", name);
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
		op(path);
	long nb = ops / batch;
	double *per = calloc((size_t)nb, sizeof *per);
	if (!per)
		return 1;
	uint64_t start = now_ns();
	for (long b = 0; b < nb; b++) {
		uint64_t t0 = now_ns();
		for (long i = 0; i < batch; i++)
			op(path);
		per[b] = (double)(now_ns() - t0) / (double)batch;
	}
	uint64_t total = now_ns() - start;
	qsort(per, (size_t)nb, sizeof *per, cmp_double);
	printf("median_ns=%.1f min_ns=%.1f max_ns=%.1f mean_ns=%.1f batches=%ld batch=%ld\n",
	       median_sorted(per, (size_t)nb), per[0], per[nb - 1],
	       (double)total / (double)(nb * batch), nb, batch);
	return 0;
}
#endif
