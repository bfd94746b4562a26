/* tui: the lucid command: `lucid record` runs a program with recording on, `lucid report` shows the recording. */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "tui/cmd.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lucid record [-o FILE] [-f] -- PROGRAM [ARGS...]\n"
		"       lucid report [FILE] [--stdio | --json | --folded] [--sort=KEY] [--group=KEY]\n"
		"                    [--limit=N] [--filter=TEXT] [--stacks] [--follow]\n"
		"       lucid --help | --version\n"
		"\n"
		"Records every aborted transaction of a program that uses Lucid, with the stacks\n"
		"of both sides of each conflict, and shows where the time goes, hottest first.\n"
		"\n"
		"  record   run PROGRAM with recording on (file: %s by default)\n"
		"  report   open the browser on a terminal, or print the report\n"
		"\n"
		"`lucid record --help` and `lucid report --help` list their options;\n"
		"man lucid has the details.\n",
		TUI_DEFAULT_FILE);
}

int main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "record") == 0)
		return tui_cmd_record(argc - 1, argv + 1);
	if (strcmp(argv[1], "report") == 0)
		return tui_cmd_report(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("lucid %s\n", PACKAGE_VERSION);
		return 0;
	}
	fprintf(stderr, "lucid: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
