/*
 * execlist LISTFILE
 *
 * Runs every program in LISTFILE (NUL-separated paths, as find -print0
 * writes) once, in order, one at a time: posix_spawn (argv = {path}, an
 * empty environment) then waitpid. Prints the number of programs run and
 * the wall time of the whole sequence. Exits 1 as soon as a spawn fails or
 * a program does not exit 0 (a refused exec is a failure too).
 */
#include "common.h"
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: execlist LISTFILE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	long cap = 1024, n = 0;
	char **paths = malloc((size_t)cap * sizeof *paths);
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len;
	while (paths && (len = getdelim(&line, &lcap, '\0', f)) > 0) {
		if (line[len - 1] == '\0')
			len--;
		if (len == 0)
			continue;
		if (n == cap) {
			cap *= 2;
			paths = realloc(paths, (size_t)cap * sizeof *paths);
			if (!paths)
				break;
		}
		paths[n++] = strndup(line, (size_t)len);
	}
	fclose(f);
	if (!paths) {
		fprintf(stderr, "execlist: out of memory\n");
		return 1;
	}
	if (n == 0) {
		fprintf(stderr, "execlist: %s lists no program\n", argv[1]);
		return 1;
	}

	char *envp[] = {NULL};
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		char *args[] = {paths[i], NULL};
		pid_t pid;
		int rc = posix_spawn(&pid, paths[i], NULL, NULL, args, envp);
		if (rc != 0) {
			fprintf(stderr, "execlist: spawn %s: %s\n", paths[i], strerror(rc));
			return 1;
		}
		int st;
		while (waitpid(pid, &st, 0) < 0) {
			if (errno != EINTR) {
				perror("waitpid");
				return 1;
			}
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "execlist: %s did not exit 0 (status 0x%x)\n", paths[i], st);
			return 1;
		}
	}
	uint64_t wall = now_ns() - t0;
	printf("ran=%ld wall_ns=%llu\n", n, (unsigned long long)wall);
	return 0;
}
