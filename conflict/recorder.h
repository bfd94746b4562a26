/* conflict: the engine's recorder: stack capture, the stack depot, conflict records, the writer thread. */
#ifndef LUCID_CONFLICT_RECORDER_H
#define LUCID_CONFLICT_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conflict/format.h"

struct stm_tx;
struct lucid_rentry_;

/* Whether attempts capture stacks (recording to a file, a hook, a debugger
 * or LUCID_BREAK): the gate's STM_GATE_REC (stm/stm-internal.h), which each
 * attempt's start reads. */
bool rec_capturing(void);

/* At library start: LUCID_RECORD=FILE starts recording. */
void rec_init(void);

/* Starts recording to @p path (replacing it only if it is a recording and
 * @p replace). Returns 0 or -errno; a message has been printed. */
int rec_start(const char *path, bool replace);

/* Per attempt (the thread's descriptor holds the state). */
void rec_attempt_start(struct stm_tx *tx);
/* The attempt's block context, made at its start or when it first captures
 * a stack (see stm_rec_ready). */
void rec_attempt_ctx(struct stm_tx *tx);
/* The current stack (from the user's call into Lucid, tx->rec_ra), as a
 * depot id; 0 if it could not be captured. */
uint32_t rec_stack_here(struct stm_tx *tx);
/* The same, checking first whether the last access came from the same place. */
uint32_t rec_stack_memo(struct stm_tx *tx);
/* What a write-log entry tells other threads about itself, in one word (so
 * that they read a consistent whole while the entry is being reused): its
 * stack, its transaction's site, and the word it is for. */
uint64_t rec_entry_tag(struct stm_tx *tx, uint32_t stack, uintptr_t word);
/* lucid_malloc made @p p (@p size bytes) while capturing: remember where;
 * it was freed (rec_alloc_gone). */
void rec_alloc(void *p, size_t size);
void rec_alloc_gone(void *p);
/* The stack id to keep in the read-set entry of a read being made (0 when
 * the thread has no recorder state); the engine keeps its address in
 * tx->rec_raddr. */
uint32_t rec_read_site(struct stm_tx *tx);
/* The read set moved or grew to @p cap entries: room for as many noted
 * addresses (and return addresses), and the inline paths told where. */
void rec_rset_resized(struct stm_tx *tx, size_t cap);

/*
 * Builds the record of the abort about to happen (called before the
 * rollback, while both sides can still be looked at):
 *  - a conflict met at an access of @p addr: @p other is the orec value
 *    found (a lock of the other transaction);
 *  - a failed validation: @p failed is the read-set entry whose orec changed,
 *    @p other the value it holds now (a lock, or a newer version).
 */
void rec_conflict_access(struct stm_tx *tx, int reason, uintptr_t addr, uintptr_t orec,
                         uintptr_t other);
void rec_conflict_read(struct stm_tx *tx, int reason, const struct lucid_rentry_ *failed,
                       uintptr_t other);
/* An abort that is not a conflict (lucid_abort, lucid_retry, ...). */
void rec_plain_abort(struct stm_tx *tx, int reason);
/* After the rollback: timestamps the abort's record (a plain one with the
 * current stack if none was built) and queues it for the writer. */
void rec_abort_done(struct stm_tx *tx, int reason);
/* An attempt is ending (about to roll back, or committing), its read set
 * still whole: a record left waiting for its read's stack by an earlier
 * attempt of its transaction (see rec_attempt_start) takes it from this
 * attempt's reads, or, if @p last (no attempt follows), goes without it.
 * It is written once the attempt has ended: by rec_abort_done, or by
 * rec_commit_done after a commit. */
void rec_attempt_over(struct stm_tx *tx, bool last);
void rec_commit_done(struct stm_tx *tx);
/* For tests: reads note their stacks only as they do while only the file
 * listens (see rec_attempt_start), whoever else listens. */
void rec_test_lazy_reads(bool on);

/* At commit time @p ts, before the orecs are released: who wrote what. */
void rec_commit(struct stm_tx *tx, uintptr_t ts);

/* The thread exits: its queued records are written now; its state is freed
 * by rec_thread_free once no other thread can be looking at it. */
void rec_thread_exit(struct stm_tx *tx);
void rec_thread_free(struct stm_tx *tx);
/* A read-only commit (counted for abort rates). */
void rec_commit_ro(struct stm_tx *tx);

/* fork(): quiesce the writer; the child records to FILE.PID. */
void rec_fork_prepare(void);
void rec_fork_parent(void);
void rec_fork_child(void);

#endif /* LUCID_CONFLICT_RECORDER_H */
