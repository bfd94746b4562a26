/* conflict: the engine side of a recording: safe file creation, appends, the module map. */
#ifndef LUCID_CONFLICT_WRITER_H
#define LUCID_CONFLICT_WRITER_H

/*
 * Compiled into the engine (libstm). Meant for the recorder's background
 * thread, not for signal handlers or transactions: these functions allocate,
 * take the dynamic loader's lock (rec_put_modules) and block on I/O. They
 * never print and never exit; errors are returned for the caller to report.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conflict/format.h"

struct rec_file;

/*
 * Creates the recording PATH (mode 0600, never following a symbolic link)
 * and writes the magic. An existing PATH is replaced (truncated) only when
 * REPLACE is true and it is a regular file that is empty or starts with the
 * magic; anything else (a symbolic link, a directory, a device, a FIFO, a
 * file that is not a recording) is left untouched. A replaced file keeps
 * its owner and mode. Returns NULL on failure with a one-line reason in
 * err (errlen bytes, may be 0), which names the path.
 */
struct rec_file *rec_file_create(const char *path, bool replace, char *err, size_t errlen);

/* Writes all len bytes (looping over short writes and EINTR). Returns 0 or
 * -errno; after an error, what part was written is unknown. Writes nothing
 * and returns REC_FILE_DELETED once the file has been deleted (it has no
 * name left). */
int rec_file_append(struct rec_file *f, const void *data, size_t len);

/* Not an errno value. */
#define REC_FILE_DELETED (-0x10000)

/* What an error of rec_file_append means, for a message. */
const char *rec_file_strerror(int err);

/* Bytes written to the file so far, magic included. */
uint64_t rec_file_size(const struct rec_file *f);

/* Closes and frees; returns 0 or -errno from close(2). NULL is a no-op. */
int rec_file_close(struct rec_file *f);

/*
 * Appends a HEADER describing this process: version, pid, ppid, the two
 * clocks read now, the program (/proc/self/exe) and its arguments
 * (/proc/self/cmdline; none when it cannot be read). Returns 0 or -ENOMEM.
 */
int rec_put_header_self(struct rec_buf *b, uint32_t orec_bits, uint32_t word_shift);

/*
 * The modules already described in a recording, so that the writer can
 * tell whether a stack refers to code loaded since (dlopen) and describe it
 * first. Used by one thread at a time.
 */
struct rec_modmap;

struct rec_modmap *rec_modmap_new(void);
void rec_modmap_free(struct rec_modmap *m);

/*
 * Appends a MODULE record for every loaded object (dl_iterate_phdr) with
 * executable segments that is not yet in m, and adds it to m. The main
 * executable's path is /proc/self/exe resolved, the vDSO's is "[vdso]",
 * other relative names are resolved against the current directory.
 * Cheap when nothing was loaded or unloaded since the last call (the
 * loader's counters say so). Returns the number of records appended, or
 * -ENOMEM (b->oom is then set; m is left as it was, so a later call
 * describes the same modules again).
 */
int rec_put_modules(struct rec_buf *b, struct rec_modmap *m);

/* Whether pc lies in the executable range of a module in m. */
bool rec_modmap_contains(const struct rec_modmap *m, uint64_t pc);

#endif /* LUCID_CONFLICT_WRITER_H */
