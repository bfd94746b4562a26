/* Lucid: atomic blocks, transactional reads and writes, explicit abort. */
#ifndef LUCID_TX_H
#define LUCID_TX_H

#include <stddef.h>
#include <stdint.h>
#include <lucid/common.h>
#include <lucid/static/tx-inline.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file
 * Threading model: any thread may run transactions; it is registered on its
 * first one and cleaned up when it exits. Every call below may be made from
 * any thread. Memory shared between transactions must be read and written
 * with lucid_read() and lucid_write() inside a transaction; outside, only
 * once no transaction can touch it any more (e.g. after joining threads).
 */

/**
 * `LUCID_ATOMIC { ... }` runs the block as a transaction: all its
 * lucid_read()s see one consistent state (even in an attempt that will
 * abort), its lucid_write()s become visible to other threads all at once
 * when it commits, and when it conflicts with another transaction it is
 * rolled back and run again, until it commits.
 *
 * Blocks nest (flat nesting: an inner block is part of the outer
 * transaction). `continue` ends the block like reaching its end.
 *
 * Two rules come from its checkpoint (sigsetjmp, or on x86-64 a cheaper
 * one that behaves the same):
 *  - A local variable of the enclosing function that is changed inside the
 *    block and read after it must be `volatile` or, better, be set only
 *    inside the block from transactional reads: an aborted attempt's changes
 *    to ordinary locals are not undone, and after the re-run their value is
 *    indeterminate (C11 7.13.2.1). Compile with -Wclobbered.
 *  - Do not leave the block by `return`, `break`, `goto` or `longjmp`: that
 *    skips the commit and leaves the transaction open. Lucid detects it
 *    (`break` at once; the others at the thread's next transaction or exit)
 *    and stops the program with the block's file:line. To leave early, put
 *    the body in a function and use lucid_run(), which allows `return`.
 */
#define LUCID_ATOMIC LUCID_ATOMIC_N_(__COUNTER__)
#define LUCID_ATOMIC_N_(n)                                                 \
	LUCID_ATOMIC_AT_(LUCID_CAT_(lucid_env_, n), LUCID_CAT_(lucid_once_, n), \
	                 LUCID_CAT_(lucid_site_, n), LUCID_CAT_(lucid_block_, n), \
	                 LUCID_CAT_(lucid_body_, n))

/** lucid_run()'s result after lucid_abort(). */
#define LUCID_ABORTED 1

/**
 * Runs fn(arg) as a transaction, like `LUCID_ATOMIC { fn(arg); }`; fn may
 * `return` at any point. Returns 0 once it committed, or LUCID_ABORTED if fn
 * called lucid_abort(). Nests (flat): inside another transaction, fn runs as
 * part of it, and lucid_abort() there aborts the outermost transaction.
 */
LUCID_API int lucid_run(void (*fn)(void *arg), void *arg);

/**
 * Rolls back the current transaction and leaves it: execution continues
 * after the outermost LUCID_ATOMIC block (or lucid_run() returns
 * LUCID_ABORTED). Outside a transaction it stops the program with a message.
 */
LUCID_API __attribute__((noreturn)) void lucid_abort(void);

/**
 * Blocking retry: rolls back the current transaction, puts the thread to
 * sleep until another transaction commits a change to a word this attempt
 * read (no busy waiting), then runs the outermost block again. Use it when
 * the transaction cannot proceed yet, e.g. a consumer finding a queue empty:
 *
 *     LUCID_ATOMIC {
 *         long n = lucid_read(q->count);
 *         if (n == 0)
 *             lucid_retry();
 *         ...
 *     }
 *
 * Counted as an abort with reason LUCID_ABORT_RETRY, but not as a
 * conflict: waiting never leads to serial mode. Stops the program with a
 * message outside a transaction, after lucid_irrevocable(), or when the
 * transaction has read nothing (it would wait forever).
 */
LUCID_API __attribute__((noreturn)) void lucid_retry(void);

/**
 * Makes the current transaction irrevocable: from here on it cannot abort,
 * so it may do I/O or call code that cannot be rolled back. If it is not
 * already running alone, the transaction rolls back once and runs again
 * from the start of the outermost block holding the irrevocability token:
 * then each word it reads or writes is locked until it commits. Other
 * threads keep running transactions meanwhile; those that touch its words
 * roll back and wait until it commits (these aborts do not count towards
 * serial mode). One irrevocable transaction runs
 * at a time. Do the I/O after this call: code before it may run twice.
 * lucid_abort() and lucid_retry() after it stop the program with a message.
 * Outside a transaction it stops the program with a message.
 */
LUCID_API void lucid_irrevocable(void);

/** Whether the calling thread is in a transaction that is irrevocable. */
LUCID_API int lucid_is_irrevocable(void);

/** Whether the calling thread is inside a transaction (any nesting depth). */
LUCID_API int lucid_in_transaction(void);

/**
 * Allocates @p size bytes like malloc(). Inside a transaction, the block is
 * released again if the attempt aborts (it can only have been reachable
 * through the attempt's own writes); once the transaction commits it
 * belongs to the program. Returns NULL when out of memory. Outside a
 * transaction it is malloc().
 */
LUCID_API void *lucid_malloc(size_t size);

/**
 * Frees a block from lucid_malloc() or malloc(). Inside a transaction the
 * free takes effect only if the transaction commits, and the memory is
 * reclaimed only after every transaction that might still read it (even a
 * doomed one) has finished, so a concurrent reader never touches freed
 * memory. Outside a transaction it frees the block the same deferred way.
 * NULL is ignored. Freeing a block twice in one transaction stops the
 * program with a message.
 */
LUCID_API void lucid_free(void *ptr);

/**
 * Registers fn(arg) to run once if the current transaction commits, after
 * its writes are visible, outside the transaction (it may start
 * transactions of its own). Handlers run in registration order. An attempt
 * that aborts forgets the handlers it registered. Only inside a transaction.
 */
LUCID_API void lucid_on_commit(void (*fn)(void *arg), void *arg);

/**
 * Registers fn(arg) to run once if the current attempt aborts (conflict,
 * lucid_abort() or lucid_retry()), after its rollback and before it runs
 * again or leaves the block, outside the transaction. Handlers run in
 * registration order; a commit forgets them. Only inside a transaction.
 */
LUCID_API void lucid_on_abort(void (*fn)(void *arg), void *arg);

/* The value of an lvalue's type, without const/volatile. */
#define LUCID_UNQUAL_(lv) __typeof__(((void)0, (lv)))

#ifdef __cplusplus
#define LUCID_STATIC_ASSERT_ static_assert
#else
#define LUCID_STATIC_ASSERT_ _Static_assert
#endif
#define LUCID_SIZE_CHECK_(lv, what)                                         \
	LUCID_STATIC_ASSERT_(sizeof(lv) == 1 || sizeof(lv) == 2 ||          \
	               sizeof(lv) == 4 || sizeof(lv) == 8,                  \
	               what ": only scalars of 1, 2, 4 or 8 bytes");        \
	LUCID_SCALAR_CHECK_(lv, what)

/* Arrays and functions decay, so their type differs from that of their
 * value: refuse them (C only; C++ has no __builtin_types_compatible_p). */
#ifdef __cplusplus
#define LUCID_SCALAR_CHECK_(lv, what) LUCID_STATIC_ASSERT_(true, what)
#else
#define LUCID_SCALAR_CHECK_(lv, what)                                       \
	LUCID_STATIC_ASSERT_(__builtin_types_compatible_p(__typeof__(lv),   \
	                                                  LUCID_UNQUAL_(lv)), \
	               what ": not a scalar (an array or a function?)")
#endif

/**
 * Transactional read of a scalar lvalue of 1, 2, 4 or 8 bytes (integers,
 * pointers, float, double); the value has the lvalue's type. Only inside a
 * transaction. The lvalue is evaluated once.
 */
#define lucid_read(lv) LUCID_READ_(lv, __COUNTER__)

/**
 * Transactional write of @p value (converted to the lvalue's type) to a
 * scalar lvalue of 1, 2, 4 or 8 bytes. Only inside a transaction; becomes
 * visible to other threads when the transaction commits. Writes by other
 * threads to neighbouring bytes of the same word are never lost.
 */
#define lucid_write(lv, value) LUCID_WRITE_(lv, value, __COUNTER__)

/* The locals of each expansion are numbered, so that reads and writes may
 * nest (lucid_read(lucid_read(p)->next)) without shadowing each other. */
#define LUCID_READ_(lv, n) __extension__ ({                                  \
	LUCID_SIZE_CHECK_(lv, "lucid_read");                                \
	const void *LUCID_CAT_(lucid_ra_, n) = (const void *)&(lv);         \
	static const char LUCID_CAT_(lucid_rs_, n) = 0;   /* this read's site */ \
	uint64_t LUCID_CAT_(lucid_rw_, n) = lucid_load_(LUCID_CAT_(lucid_ra_, n), \
	                                                sizeof(lv), &LUCID_CAT_(lucid_rs_, n)); \
	LUCID_UNQUAL_(lv) LUCID_CAT_(lucid_rv_, n);                         \
	lucid_copy_out_(&LUCID_CAT_(lucid_rv_, n), LUCID_CAT_(lucid_rw_, n), sizeof(lv)); \
	LUCID_CAT_(lucid_rv_, n); })

#define LUCID_WRITE_(lv, value, n) __extension__ ({                          \
	LUCID_SIZE_CHECK_(lv, "lucid_write");                               \
	(void)sizeof((lv) = (value));   /* assignable: not const */         \
	void *LUCID_CAT_(lucid_wa_, n) = (void *)&(lv);                     \
	LUCID_UNQUAL_(lv) LUCID_CAT_(lucid_wv_, n) = (value);               \
	static const char LUCID_CAT_(lucid_ws_, n) = 0;   /* this write's site */ \
	lucid_store_fast_(LUCID_CAT_(lucid_wa_, n),                          \
	                  lucid_copy_in_(&LUCID_CAT_(lucid_wv_, n), sizeof(lv)), \
	                  sizeof(lv), &LUCID_CAT_(lucid_ws_, n));            \
	(void)0; })

static inline __attribute__((always_inline)) void
lucid_copy_out_(void *dst, uint64_t w, unsigned size)
{
	switch (size) {
	case 1: { uint8_t b = (uint8_t)w; __builtin_memcpy(dst, &b, 1); break; }
	case 2: { uint16_t h = (uint16_t)w; __builtin_memcpy(dst, &h, 2); break; }
	case 4: { uint32_t s = (uint32_t)w; __builtin_memcpy(dst, &s, 4); break; }
	default: __builtin_memcpy(dst, &w, 8); break;
	}
}

static inline __attribute__((always_inline)) uint64_t
lucid_copy_in_(const void *src, unsigned size)
{
	switch (size) {
	case 1: { uint8_t b; __builtin_memcpy(&b, src, 1); return b; }
	case 2: { uint16_t h; __builtin_memcpy(&h, src, 2); return h; }
	case 4: { uint32_t s; __builtin_memcpy(&s, src, 4); return s; }
	default: { uint64_t w; __builtin_memcpy(&w, src, 8); return w; }
	}
}

#ifdef __cplusplus
}
#endif

#endif /* LUCID_TX_H */
