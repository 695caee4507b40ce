/*
 * openall LISTFILE THREADS
 *
 * Opens (and closes) every path in LISTFILE (NUL-separated, as find
 * -print0 writes), split over THREADS threads. Prints how many were opened,
 * how many failed and the wall time. Used to fill the agent's verdict cache
 * with 100,000 verified files.
 */
#include "common.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

static char **paths;
static long npaths;
static atomic_long next_idx, failed;

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		long i = atomic_fetch_add(&next_idx, 1);
		if (i >= npaths)
			return NULL;
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (atomic_fetch_add(&failed, 1) < 5)
				fprintf(stderr, "openall: open %s: %s\n", paths[i], strerror(errno));
		} else {
			close(fd);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: openall LISTFILE THREADS\n");
		return 2;
	}
	long nth = parse_long(argv[2], "THREADS");
	if (nth < 1)
		nth = 1;
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	long cap = 1024;
	paths = malloc((size_t)cap * sizeof *paths);
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len;
	while ((len = getdelim(&line, &lcap, '\0', f)) > 0) {
		if (npaths == cap) {
			cap *= 2;
			paths = realloc(paths, (size_t)cap * sizeof *paths);
		}
		paths[npaths++] = strdup(line);
	}
	fclose(f);
	pthread_t *th = calloc((size_t)nth, sizeof *th);
	uint64_t t0 = now_ns();
	for (long i = 0; i < nth; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (long i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	uint64_t t1 = now_ns();
	printf("opened=%ld failed=%ld wall_ns=%llu\n", npaths - atomic_load(&failed),
	       atomic_load(&failed), (unsigned long long)(t1 - t0));
	return atomic_load(&failed) ? 1 : 0;
}
