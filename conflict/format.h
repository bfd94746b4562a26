/* conflict: the recording format (docs/recording-format.md): record types, CRC-32C, encoding and decoding. */
#ifndef LUCID_CONFLICT_FORMAT_H
#define LUCID_CONFLICT_FORMAT_H

/*
 * Shared by the writer (compiled into the engine) and the reader (libconflict),
 * so it depends on nothing but libc and allocates only inside struct rec_buf.
 * Every multi-byte field is little-endian on disk whatever the host; the
 * structs below hold host values.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* File magic, at offset 0. */
#define REC_MAGIC "LUCIDREC"
#define REC_MAGIC_LEN 8
/* Format version this code reads and writes. */
#define REC_VERSION 1
/* Sync word at the start of every record: the bytes "LREC". */
#define REC_SYNC 0x4345524cu
/* Bytes before the payload: sync, type, flags, length, crc. */
#define REC_HEAD_SIZE 16
/* Records start at multiples of this (the magic keeps the first one aligned). */
#define REC_ALIGN 8

/*
 * Limits a reader enforces before trusting a length (so that a damaged
 * length never turns into a huge allocation or a long wait), and that the
 * encoders respect by cutting what is longer.
 */
#define REC_MAX_PAYLOAD (16u << 20)  /* any record's payload */
#define REC_MAX_STRING 65535u        /* a string's bytes (its u16 length) */
#define REC_MAX_DEPTH 512u           /* frames in a STACK */
#define REC_MAX_REASONS 256u         /* reason counts in a STATS */
#define REC_MAX_ARGS 65536u          /* arguments in a HEADER */

/* Record types (the u16 after the sync word). */
enum rec_type {
	REC_TYPE_HEADER = 1,
	REC_TYPE_MODULE = 2,
	REC_TYPE_STACK = 3,
	REC_TYPE_SITE = 4,
	REC_TYPE_ABORT = 5,
	REC_TYPE_COMMITS = 6,
	REC_TYPE_DROPS = 7,
	REC_TYPE_STATS = 8,
	REC_TYPE_THREADS = 9,    /* added in version 1: older readers skip it */
};

/* Fixed payload sizes. */
#define REC_ABORT_SIZE 80u
#define REC_DROPS_SIZE 8u

/* struct rec_abort::flags */
#define REC_ABORT_OTHER_KNOWN 0x1u     /* the other_* fields are valid */
#define REC_ABORT_FALSE_CONFLICT 0x2u  /* different addresses, same orec */
#define REC_ABORT_OTHER_COMMITTED 0x4u /* the other side had committed */
#define REC_ABORT_ALLOC_STACK 0x8u     /* alloc_stack is valid */

/*
 * The records' fields. The same structs are what the encoders take and what
 * rec_parse fills. Strings are NUL-terminated C strings (a NULL string
 * encodes as empty); when parsed they point into the caller's scratch
 * memory, as do arrays.
 */
struct rec_header {
	uint32_t version;           /* REC_VERSION (0 when encoding means REC_VERSION) */
	uint32_t pid;
	uint32_t ppid;
	uint64_t start_realtime_ns;
	uint64_t start_mono_ns;
	uint32_t orec_bits;
	uint32_t word_shift;
	const char *program;
	uint32_t argc;
	const char *const *argv;    /* argc strings */
};

struct rec_module {
	uint64_t base;              /* load bias (dlpi_addr) */
	uint64_t low, high;         /* [low, high): its executable segments */
	const uint8_t *build_id;    /* build_id_len bytes; may be NULL when 0 */
	size_t build_id_len;
	const char *path;
};

struct rec_stack {
	uint32_t id;                /* nonzero */
	uint32_t depth;             /* at most REC_MAX_DEPTH */
	const uint64_t *pcs;        /* innermost first */
};

struct rec_site {
	uint32_t id;                /* nonzero */
	uint32_t line;
	uint64_t pc;
	const char *file;
	const char *function;
};

struct rec_abort {
	uint64_t mono_ns;
	uint64_t wasted_ns;
	uint8_t reason;             /* enum lucid_abort_reason */
	uint8_t flags;              /* REC_ABORT_* */
	uint32_t attempt;
	uint32_t tid, other_tid;
	uint32_t site, other_site;
	uint32_t stack, other_stack, alloc_stack;
	uint32_t orec;
	uint64_t address, other_address;
	uint64_t other_commit;
};

struct rec_commit {
	uint32_t site;
	uint64_t commits;
};

struct rec_commits {
	uint32_t count;
	const struct rec_commit *pairs;
};

/* Commits per thread (THREADS): counted as COMMITS counts them per site. */
struct rec_tid_commits {
	uint32_t tid;               /* kernel thread id */
	uint64_t commits;
};

struct rec_threads {
	uint32_t count;
	const struct rec_tid_commits *pairs;
};

struct rec_drops {
	uint64_t dropped;
};

struct rec_stats {
	uint64_t commits;
	uint64_t aborts;
	uint64_t max_retries;
	uint32_t n;                 /* at most REC_MAX_REASONS */
	const uint64_t *by_reason;  /* n counts, by enum lucid_abort_reason */
};

/* One parsed record: type says which member is valid. */
struct rec_record {
	uint16_t type;
	uint16_t flags;             /* the record header's reserved flags */
	union {
		struct rec_header header;
		struct rec_module module;
		struct rec_stack stack;
		struct rec_site site;
		struct rec_abort abort;
		struct rec_commits commits;
		struct rec_drops drops;
		struct rec_stats stats;
		struct rec_threads threads;
	};
};

/* ------------------------------------------------------------ CRC-32C */

/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78). Pass 0 to start;
 * pass the previous result to continue over more bytes:
 * rec_crc32c(rec_crc32c(0, a, n), b, m) is the CRC of a followed by b.
 * Thread-safe.
 */
uint32_t rec_crc32c(uint32_t crc, const void *data, size_t len);

/* ------------------------------------------------------------ encoding */

/* A growable byte buffer that records are appended to. Zero-initialise it. */
struct rec_buf {
	uint8_t *data;
	size_t len, cap;
	bool oom;                   /* an append failed for want of memory */
};

/* Empties the buffer (keeping its memory) and clears oom. */
void rec_buf_reset(struct rec_buf *b);
/* Frees the memory; the buffer is empty and usable again. */
void rec_buf_free(struct rec_buf *b);

/*
 * Each appends one complete record (sync, type, flags, length, crc,
 * payload, padding) and returns 0; or, when memory runs out, appends nothing,
 * sets b->oom and returns -ENOMEM. Strings longer than REC_MAX_STRING are
 * cut to it; a stack deeper than REC_MAX_DEPTH keeps its innermost frames;
 * a HEADER keeps the arguments that fit REC_MAX_ARGS and REC_MAX_PAYLOAD, a STATS
 * to REC_MAX_REASONS counts; more commit pairs than fit one record are
 * split over several COMMITS (THREADS) records (a later pair for a site
 * (thread) replaces an earlier one, so this means the same).
 */
int rec_put_header(struct rec_buf *b, const struct rec_header *h);
int rec_put_module(struct rec_buf *b, const struct rec_module *m);
int rec_put_stack(struct rec_buf *b, uint32_t id, const uint64_t *pcs, uint32_t depth);
int rec_put_site(struct rec_buf *b, const struct rec_site *s);
int rec_put_abort(struct rec_buf *b, const struct rec_abort *a);
int rec_put_commits(struct rec_buf *b, const struct rec_commit *pairs, uint32_t count);
int rec_put_drops(struct rec_buf *b, uint64_t dropped);
int rec_put_stats(struct rec_buf *b, const struct rec_stats *s);
int rec_put_threads(struct rec_buf *b, const struct rec_tid_commits *pairs, uint32_t count);
/* Any type with a ready payload (at most REC_MAX_PAYLOAD bytes): for
 * record types added later, and for tests. */
int rec_put_raw(struct rec_buf *b, uint16_t type, const void *payload, size_t len);

/* ------------------------------------------------------------ decoding */

/* What rec_decode and rec_parse found. */
enum rec_decode_status {
	REC_DECODE_OK = 0,
	REC_DECODE_SHORT,        /* incomplete: more bytes are needed */
	REC_DECODE_BAD_SYNC,     /* no sync word where a record must start */
	REC_DECODE_BAD_LENGTH,   /* a length no record of that type can have */
	REC_DECODE_BAD_CRC,      /* checksum mismatch */
	REC_DECODE_BAD_PAD,      /* padding bytes that are not zero */
	REC_DECODE_BAD_FIELDS,   /* checksum fine, fields inconsistent with the length */
	REC_DECODE_SCRATCH,      /* rec_parse: the scratch memory is too small */
};

/* Short English description of a status ("bad checksum", ...). */
const char *rec_decode_strerror(int status);

/* One framed record, checked but not parsed. */
struct rec_raw {
	uint16_t type;
	uint16_t flags;
	uint32_t length;            /* payload bytes */
	const uint8_t *payload;     /* points into the decoded bytes */
};

/*
 * Decodes the record at the start of [p, p + n) (p must be where a record
 * starts). Returns:
 *   REC_DECODE_OK: *raw is filled and *size is the bytes the record takes,
 *     padding included (so the next record starts at p + *size);
 *   REC_DECODE_SHORT: the bytes end inside the record; *size is how many
 *     bytes from p are needed to go further (the whole record once its
 *     header is there, else the header);
 *   REC_DECODE_BAD_*: the record is damaged; *size is 0.
 * The payload length is checked against what the type allows before
 * anything else, so a damaged length is reported as such rather than as a
 * very long record that has not been written yet.
 */
int rec_decode(const void *p, size_t n, struct rec_raw *raw, size_t *size);

/*
 * Parses a decoded record's fields into *out, copying strings (with a NUL
 * added) and arrays (converted to host order) into scratch, which must be
 * aligned for uint64_t and pointers (malloc memory is). Returns
 * REC_DECODE_OK; REC_DECODE_SCRATCH with *need set to the bytes of scratch
 * required (call again with at least that); or REC_DECODE_BAD_FIELDS when
 * the fields do not fill the payload exactly or break the spec (a zero id,
 * a depth beyond REC_MAX_DEPTH). A type this code does not know parses to
 * just out->type and out->flags.
 */
int rec_parse(const struct rec_raw *raw, struct rec_record *out, void *scratch, size_t cap,
	      size_t *need);

/* Bytes a record with this payload length takes in the file. */
static inline size_t rec_record_size(size_t payload_len)
{
	return (REC_HEAD_SIZE + payload_len + REC_ALIGN - 1) & ~(size_t)(REC_ALIGN - 1);
}

#endif /* LUCID_CONFLICT_FORMAT_H */
