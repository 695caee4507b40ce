/*
 * readywait SOCKET TIMEOUT_S
 *
 * A minimal sd_notify receiver: binds a Unix datagram socket at SOCKET,
 * prints "listening", and waits up to TIMEOUT_S seconds for a datagram
 * holding a READY=1 line. Prints ready_realtime_ns=<CLOCK_REALTIME at
 * receipt> and exits 0; exits 1 on timeout. Pass SOCKET to the agent as
 * NOTIFY_SOCKET.
 */
#include "common.h"
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: readywait SOCKET TIMEOUT_S\n");
		return 2;
	}
	long timeout_s = parse_long(argv[2], "TIMEOUT_S");
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(argv[1]) >= sizeof addr.sun_path) {
		fprintf(stderr, "socket path too long\n");
		return 2;
	}
	strcpy(addr.sun_path, argv[1]);
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unlink(argv[1]);
	if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) != 0) {
		perror("readywait: bind");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	uint64_t deadline = now_ns() + (uint64_t)timeout_s * 1000000000ull;
	char buf[4096];
	for (;;) {
		uint64_t now = now_ns();
		if (now >= deadline)
			break;
		struct pollfd p = {.fd = s, .events = POLLIN};
		int ms = (int)((deadline - now) / 1000000ull) + 1;
		int rc = poll(&p, 1, ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			break;
		ssize_t len = recv(s, buf, sizeof buf - 1, 0);
		if (len < 0)
			continue;
		uint64_t at = realtime_ns();
		buf[len] = 0;
		for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
			if (strcmp(line, "READY=1") == 0) {
				printf("ready_realtime_ns=%llu\n", (unsigned long long)at);
				unlink(argv[1]);
				return 0;
			}
		}
	}
	fprintf(stderr, "readywait: no READY=1 within %ld s\n", timeout_s);
	unlink(argv[1]);
	return 1;
}
