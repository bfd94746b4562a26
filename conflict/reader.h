/* conflict: reading a recording record by record, live or finished, with its module, stack and site tables. */
#ifndef LUCID_CONFLICT_READER_H
#define LUCID_CONFLICT_READER_H

/*
 * Part of libconflict (the lucid command and the tests); never links the
 * engine. A reader is used by one thread at a time. It reads through a
 * bounded buffer, so memory grows with the tables (distinct stacks, sites,
 * modules), not with the number of aborts.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conflict/format.h"

struct rec_reader;

/* What rec_reader_next found. */
enum rec_read_status {
	REC_OK = 0,     /* *ev holds the next record */
	REC_EOF,        /* the file ends after the last record; more may come later */
	REC_AGAIN,      /* the file ends inside a record: cut short, or still being
	                   written; call again later to read on */
	REC_DAMAGED,    /* a damaged record: reading stops there for good */
	REC_ERROR,      /* read(2) failed; the warning says why; may be retried */
};

/* One record. Pointers in it stay valid: for HEADER, MODULE, STACK and
 * SITE as long as the reader; for COMMITS, STATS and THREADS until the next
 * call. */
struct rec_event {
	uint64_t offset;        /* file offset of the record */
	uint32_t size;          /* bytes it takes, header and padding included */
	struct rec_record r;    /* r.type says which member is valid */
};

/*
 * Opens a recording and checks its magic, and its HEADER when already
 * written (the first record must be a HEADER of a version this code
 * reads). Returns NULL with a one-line reason naming the file in err: it
 * cannot be opened (e.g. "No such file or directory"), it is not a Lucid
 * recording, or its version is not supported.
 */
struct rec_reader *rec_reader_open(const char *path, char *err, size_t errlen);

/* Closes the file and frees the reader and everything its events and
 * lookups returned. NULL is a no-op. */
void rec_reader_close(struct rec_reader *r);

/*
 * Reads the next record, skipping those of types this code does not know.
 * REC_EOF and REC_AGAIN are not final: once the writer has appended more,
 * the next call goes on from where this one stopped (this is how a live
 * recording is followed). REC_DAMAGED is final (every later call returns it
 * again); rec_reader_warning() says where and why. A first record that is
 * not a HEADER, or a HEADER of another version, counts as damage.
 */
int rec_reader_next(struct rec_reader *r, struct rec_event *ev);

/*
 * Why the last call did not return REC_OK (damage, with the offset and
 * how many bytes are left unread; a record cut short; a read error), or
 * NULL. Control characters in the path are escaped.
 */
const char *rec_reader_warning(const struct rec_reader *r);

/* File offset of the next record to read. */
uint64_t rec_reader_offset(const struct rec_reader *r);

/* The HEADER, once read (rec_reader_open reads it when it is there). */
const struct rec_header *rec_reader_header(const struct rec_reader *r);

/* The pcs of a stack read so far (innermost first) and its depth, or NULL
 * (depth 0) when no STACK with this id has been read. */
const uint64_t *rec_reader_stack(const struct rec_reader *r, uint32_t id, uint32_t *depth);

/* A site read so far, or NULL. */
const struct rec_site *rec_reader_site(const struct rec_reader *r, uint32_t id);

/* The module whose [low, high) contains pc, or NULL. When modules read
 * overlap (one unloaded, another loaded there), the later one counts. */
const struct rec_module *rec_reader_module_for(const struct rec_reader *r, uint64_t pc);

/* The modules in effect, sorted by address: *n of them. */
const struct rec_module *const *rec_reader_modules(const struct rec_reader *r, size_t *n);

/*
 * Copies src (len bytes) to dst (dstlen bytes, NUL-terminated, cut if
 * needed) with control characters, DEL and backslash escaped as \n, \t,
 * \\ or \xHH, so that names from a recording are safe to print on a
 * terminal. Returns the length the whole escaped string would have.
 */
size_t rec_escape(char *dst, size_t dstlen, const char *src, size_t len);

#endif /* LUCID_CONFLICT_READER_H */
