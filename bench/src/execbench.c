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
	return batched_main(argc, argv, "execbench", run);
}
