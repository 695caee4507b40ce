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

static void open_close(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "openbench: open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	close(fd);
}

int main(int argc, char **argv)
{
	return batched_main(argc, argv, "openbench", open_close);
}
