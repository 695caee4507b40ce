/*
 * minlisten [-r] DIR...
 *
 * The minimal allow-all fanotify permission listener: the floor any
 * permission-event agent pays. One FAN_CLASS_CONTENT group, an inode mark
 * with FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM | FAN_EVENT_ON_CHILD on each DIR
 * (never a mount or filesystem mark), then: read a batch of events, answer
 * FAN_ALLOW to each and close its descriptor. With -r, every directory
 * below each DIR is marked too (the walk does not follow symbolic links
 * nor cross into other mounts), as an agent protecting a whole tree does.
 *
 * Prints "ready" on stdout once every mark is in place (and the number of
 * directories marked on stderr). Dies with its parent
 * (PR_SET_PDEATHSIG), so run it under timeout(1); on SIGTERM/SIGINT it
 * prints the number of events it answered to stderr and exits (the kernel
 * then allows whatever is still pending).
 */
#include "common.h"
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/fanotify.h>
#include <sys/prctl.h>
#include <unistd.h>

static volatile unsigned long answered;
static int fan = -1;
static unsigned long marked;

static int mark_dir(const char *path)
{
	if (fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_ONLYDIR,
			  FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM | FAN_EVENT_ON_CHILD,
			  AT_FDCWD, path) != 0) {
		fprintf(stderr, "fanotify_mark %s: %s\n", path, strerror(errno));
		return -1;
	}
	marked++;
	return 0;
}

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DNR) {
		fprintf(stderr, "minlisten: cannot read %s\n", path);
		return 1;
	}
	return type == FTW_D && mark_dir(path) != 0;
}

static void on_term(int sig)
{
	char buf[64];
	unsigned long n = answered;
	char digits[24];
	int len = 0, pos = 0;
	do {
		digits[len++] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	const char *pre = "minlisten: answered=";
	while (*pre)
		buf[pos++] = *pre++;
	while (len)
		buf[pos++] = digits[--len];
	buf[pos++] = '\n';
	(void)!write(2, buf, (size_t)pos);
	_exit(sig == SIGTERM || sig == SIGINT ? 0 : 1);
}

int main(int argc, char **argv)
{
	int recursive = 0, first = 1;
	if (argc > 1 && strcmp(argv[1], "-r") == 0) {
		recursive = 1;
		first = 2;
	}
	if (argc <= first) {
		fprintf(stderr, "usage: minlisten [-r] DIR...\n");
		return 2;
	}
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
		perror("prctl");
	if (getppid() == 1) /* parent already gone */
		return 1;

	fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_LARGEFILE);
	if (fan < 0) {
		perror("fanotify_init");
		return 1;
	}
	for (int i = first; i < argc; i++) {
		if (!recursive) {
			if (mark_dir(argv[i]) != 0)
				return 1;
			continue;
		}
		int rc = nftw(argv[i], walk_one, 32, FTW_PHYS | FTW_MOUNT);
		if (rc != 0) {
			if (rc < 0)
				fprintf(stderr, "minlisten: walking %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
	}
	fprintf(stderr, "minlisten: marked=%lu\n", marked);
	printf("ready\n");
	fflush(stdout);

	static char buf[64 * 1024] __attribute__((aligned(8)));
	for (;;) {
		ssize_t len = read(fan, buf, sizeof buf);
		if (len < 0) {
			if (errno == EINTR)
				continue;
			perror("read");
			return 1;
		}
		struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf;
		for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
			if (m->vers != FANOTIFY_METADATA_VERSION) {
				fprintf(stderr, "fanotify metadata version mismatch\n");
				return 1;
			}
			if (m->fd < 0)
				continue;
			if (m->mask & (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM)) {
				struct fanotify_response r = {.fd = m->fd, .response = FAN_ALLOW};
				if (write(fan, &r, sizeof r) != sizeof r)
					perror("write response");
				answered++;
			}
			close(m->fd);
		}
	}
}
