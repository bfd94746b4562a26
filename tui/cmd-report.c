/* tui: `lucid report`: options, then the browser on a terminal or one of the text outputs. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conflict/reader.h"
#include "tui/browser.h"
#include "tui/cmd.h"
#include "tui/model.h"
#include "tui/output.h"

enum report_mode { REPORT_BROWSE, REPORT_STDIO, REPORT_JSON, REPORT_FOLDED };

static void report_usage(FILE *f)
{
	fprintf(f,
		"usage: lucid report [FILE] [--stdio | --json | --folded] [--sort=KEY] [--group=KEY]\n"
		"                    [--limit=N] [--filter=TEXT] [--stacks] [--follow]\n"
		"\n"
		"Shows the aborted transactions recorded in FILE (default %s), grouped and\n"
		"hottest first: on a terminal in the browser, otherwise as text (--stdio).\n"
		"\n"
		"  --stdio          print the ranking as text\n"
		"  --json           print one JSON document (conflicts by exact stack pair)\n"
		"  --folded         print folded stacks weighted by wasted ns, for flame graphs\n"
		"  --sort=KEY       wasted (default), aborts, rate (abort rate of the atomic block)\n"
		"  --group=KEY      pair (default: aborted site, other site, kind), block, address,\n"
		"                   function, thread, stacks (exact stack pairs)\n"
		"  --limit=N        at most N rows (0: all)\n"
		"  --filter=TEXT    only aborts with a frame, on either side, whose function or file\n"
		"                   contains TEXT (ignoring case)\n"
		"  --stacks         --stdio: both stacks of each row, frame by frame\n"
		"  --follow         keep reading FILE while the program writes it: the browser\n"
		"                   refreshes every second; --stdio prints a new report each second\n"
		"                   something changed, until the program ends\n"
		"  -h, --help       this help\n",
		TUI_DEFAULT_FILE);
}

static volatile sig_atomic_t report_stop;

static void report_on_signal(int sig)
{
	(void)sig;
	report_stop = 1;
}

static void report_sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

/* Prints the model's warnings once each (the same text is not repeated). */
static void report_warn(struct tui_model *m, char **last)
{
	const char *w = tui_model_warning(m);

	if (!w || (*last && strcmp(*last, w) == 0))
		return;
	fprintf(stderr, "lucid report: warning: %s\n", w);
	free(*last);
	*last = strdup(w);
}

static int report_print(enum report_mode mode, struct tui_model *m, const struct tui_print_opts *po)
{
	int rc;

	switch (mode) {
	case REPORT_JSON:
		rc = tui_print_json(stdout, m, po);
		break;
	case REPORT_FOLDED:
		rc = tui_print_folded(stdout, m, po);
		break;
	default:
		rc = tui_print_stdio(stdout, m, po);
		break;
	}
	if (fflush(stdout) != 0 && !rc)
		rc = -EIO;
	if (rc == -ENOMEM)
		fprintf(stderr, "lucid report: out of memory\n");
	else if (rc)
		fprintf(stderr, "lucid report: cannot write the report: %s\n", strerror(-rc));
	return rc ? 1 : 0;
}

/* --stdio --follow: a new report each second something changed, until
 * the recording is complete (or SIGINT). A live file often ends inside a
 * record being written, so warnings wait for the end. */
static int report_follow_stdio(struct tui_model *m, const struct tui_print_opts *po, char **last)
{
	struct sigaction sa = { .sa_handler = report_on_signal };
	int rc = report_print(REPORT_STDIO, m, po);

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!rc && !report_stop && !tui_model_finished(m)) {
		enum tui_update u;

		report_sleep_ms(1000);
		u = tui_model_update(m);
		if (u == TUI_UPDATE_DAMAGED)
			break;
		if (u == TUI_UPDATE_NEW) {
			fputc('\n', stdout);
			rc = report_print(REPORT_STDIO, m, po);
		}
	}
	report_warn(m, last);
	return rc;
}

static bool report_parse_limit(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s == '-' || *s == '\0')
		return false;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > SIZE_MAX)
		return false;
	*out = (size_t)v;
	return true;
}

int tui_cmd_report(int argc, char **argv)
{
	enum { OPT_STDIO = 256, OPT_JSON, OPT_FOLDED, OPT_SORT, OPT_GROUP, OPT_LIMIT, OPT_FILTER,
	       OPT_STACKS, OPT_FOLLOW };
	static const struct option longopts[] = {
		{ "stdio", no_argument, NULL, OPT_STDIO },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "folded", no_argument, NULL, OPT_FOLDED },
		{ "sort", required_argument, NULL, OPT_SORT },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "stacks", no_argument, NULL, OPT_STACKS },
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tui_print_opts po = { .query = { TUI_GROUP_PAIR, TUI_SORT_WASTED, NULL, 0 } };
	struct tui_report_opts ro;
	enum report_mode mode = REPORT_BROWSE;
	bool mode_given = false, follow = false, waited = false;
	const char *path = TUI_DEFAULT_FILE;
	char err[600], *last = NULL;
	struct tui_model *m;
	int c, k, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_STDIO:
		case OPT_JSON:
		case OPT_FOLDED:
			if (mode_given && mode != (enum report_mode)(REPORT_STDIO + (c - OPT_STDIO))) {
				fprintf(stderr, "lucid report: choose one of --stdio, --json and --folded\n");
				return 2;
			}
			mode = (enum report_mode)(REPORT_STDIO + (c - OPT_STDIO));
			mode_given = true;
			break;
		case OPT_SORT:
			if ((k = tui_sort_parse(optarg)) < 0) {
				fprintf(stderr, "lucid report: --sort takes wasted, aborts or rate\n");
				return 2;
			}
			po.query.sort = (enum tui_sort)k;
			break;
		case OPT_GROUP:
			if ((k = tui_group_parse(optarg)) < 0) {
				fprintf(stderr, "lucid report: --group takes pair, block, address, function, "
					"thread or stacks\n");
				return 2;
			}
			po.query.group = (enum tui_group)k;
			po.group_given = true;
			break;
		case OPT_LIMIT:
			if (!report_parse_limit(optarg, &po.query.limit)) {
				fprintf(stderr, "lucid report: --limit takes a number of rows (0: all)\n");
				return 2;
			}
			break;
		case OPT_FILTER:
			po.query.filter = optarg;
			break;
		case OPT_STACKS:
			po.stacks = true;
			break;
		case OPT_FOLLOW:
			follow = true;
			break;
		case 'h':
			report_usage(stdout);
			return 0;
		default:
			report_usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		path = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "lucid report: one recording at a time\n");
		return 2;
	}
	if (!mode_given)
		mode = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO) ? REPORT_BROWSE : REPORT_STDIO;
	if (follow && (mode == REPORT_JSON || mode == REPORT_FOLDED)) {
		fprintf(stderr, "lucid report: --follow works with the browser and --stdio\n");
		return 2;
	}
	po.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;

	/* --follow may start before the program has created the file. */
	while (follow && access(path, F_OK) != 0 && errno == ENOENT && !report_stop) {
		if (!waited) {
			rec_escape(err, sizeof(err), path, strlen(path));
			fprintf(stderr, "lucid report: waiting for %s to appear\n", err);
			signal(SIGINT, report_on_signal);
			waited = true;
		}
		report_sleep_ms(200);
	}
	if (report_stop)
		return 0;
	m = tui_model_open(path, err, sizeof(err));
	if (!m) {
		fprintf(stderr, "lucid report: %s\n", err);
		if (strcmp(path, TUI_DEFAULT_FILE) == 0 && access(path, F_OK) != 0)
			fprintf(stderr, "lucid report: record one with: lucid record -- PROGRAM [ARGS...]\n");
		return 1;
	}
	if (!follow)
		report_warn(m, &last);

	if (mode == REPORT_BROWSE) {
		ro = (struct tui_report_opts){ path, po.query, follow, po.utf8 };
		rc = tui_browse(m, &ro);
	} else if (follow) {
		rc = report_follow_stdio(m, &po, &last);
	} else {
		rc = report_print(mode, m, &po);
	}
	tui_model_free(m);
	free(last);
	return rc;
}
