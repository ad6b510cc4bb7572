/*
 * objfs-ctl: the command-line client of the objfs control socket.
 * The control socket arrives with its own issue; for now this prints its
 * version and usage, and says clearly that commands are not available yet.
 */
#include <stdio.h>
#include <string.h>

#define OBJFS_VERSION "0.1.0"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: objfs-ctl [--socket PATH] COMMAND [ARGS]\n"
		"commands (served by the daemon's control socket):\n"
		"  presign [--method GET|PUT] [--ttl SECONDS] PATH\n"
		"  health [--json]\n"
		"  status | metrics | tenants\n"
		"  flush [PATH]\n"
		"  -V, --version   print the version\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("objfs-ctl %s\n", OBJFS_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "objfs-ctl: %s: the control socket is not implemented in this version\n",
		argv[1]);
	return 2;
}
