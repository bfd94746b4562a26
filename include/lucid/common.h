/* Lucid: shared definitions of the public headers (export macro, error codes, version). */
#ifndef LUCID_COMMON_H
#define LUCID_COMMON_H

#ifdef __cplusplus
extern "C" {
#endif

/** Marks a symbol that liblucid exports; everything else in the library is hidden. */
#if defined(__GNUC__)
#define LUCID_API __attribute__((visibility("default")))
#else
#define LUCID_API
#endif

/** Version of these headers. */
#define LUCID_VERSION_MAJOR 0
#define LUCID_VERSION_MINOR 1
#define LUCID_VERSION_PATCH 0

/**
 * Error codes. Setup calls return 0 on success or one of these, negated
 * (e.g. `-LUCID_EINVAL`); lucid_strerror() turns either sign into a message.
 */
enum lucid_error {
	LUCID_OK = 0,
	LUCID_EINVAL = 1,  /**< an argument is out of range or NULL */
	LUCID_ENOMEM = 2,  /**< memory could not be allocated */
	LUCID_EINTX = 3,   /**< the call is not allowed inside a transaction */
	LUCID_ENOTX = 4,   /**< the call is only allowed inside a transaction */
	LUCID_EBUSY = 5,   /**< already running (e.g. already recording) */
	LUCID_EIO = 6,     /**< a file could not be created or written */
};

/**
 * Message for an error code (either sign). Never NULL; safe from any thread,
 * inside or outside a transaction.
 */
LUCID_API const char *lucid_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* LUCID_COMMON_H */
