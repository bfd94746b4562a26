/* tests: reads a recording to its end and says what it holds and how it ends (for the shell tests). */
/*
 * Usage: rec_check FILE. Prints one line:
 *   records=N aborts=N dropped=N end=OFFSET size=BYTES status=eof|cut|damaged|error
 * (cut: the file ends inside a record, everything before it was read), and
 * the reader's warning, if any, on a second line. Exits 0 when the file
 * could be opened, 1 otherwise.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "conflict/reader.h"

int main(int argc, char **argv)
{
	static const char *const names[] = { [REC_EOF] = "eof", [REC_AGAIN] = "cut",
	                                     [REC_DAMAGED] = "damaged", [REC_ERROR] = "error" };
	uint64_t records = 0, aborts = 0, dropped = 0;
	struct rec_reader *r;
	struct rec_event ev;
	struct stat st;
	char err[512];
	int s;

	if (argc != 2) {
		fprintf(stderr, "usage: rec_check FILE\n");
		return 2;
	}
	r = rec_reader_open(argv[1], err, sizeof(err));
	if (!r) {
		printf("open failed: %s\n", err);
		return 1;
	}
	while ((s = rec_reader_next(r, &ev)) == REC_OK) {
		records++;
		aborts += ev.r.type == REC_TYPE_ABORT;
		if (ev.r.type == REC_TYPE_DROPS)
			dropped = ev.r.drops.dropped;
	}
	printf("records=%" PRIu64 " aborts=%" PRIu64 " dropped=%" PRIu64 " end=%" PRIu64
	       " size=%lld status=%s\n", records, aborts, dropped, rec_reader_offset(r),
	       stat(argv[1], &st) == 0 ? (long long)st.st_size : -1LL, names[s]);
	if (rec_reader_warning(r))
		printf("warning: %s\n", rec_reader_warning(r));
	rec_reader_close(r);
	return 0;
}
