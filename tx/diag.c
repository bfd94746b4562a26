/* tx: the one path through which the library prints: warnings, misuse, fatal errors. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stm/stm-internal.h"

/* Formats into one buffer and writes it with one write(2), so that lines
 * from several threads do not interleave, and no stdio lock is taken. */
__attribute__((format(printf, 2, 0)))
static void emit(const char *prefix, const char *fmt, va_list ap)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "lucid: %s", prefix);

	if (n < 0)
		return;
	if ((size_t)n < sizeof(buf))
		n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	if ((size_t)n >= sizeof(buf) - 1)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	ssize_t r = write(STDERR_FILENO, buf, (size_t)n);
	(void)r;
}

void lucid_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("", fmt, ap);
	va_end(ap);
}

void lucid_diag_text(const char *text)
{
	size_t len = 0, lines = 0;
	const char *p;

	for (p = text; *p; p++, len++)
		lines += *p == '\n';
	if (len && text[len - 1] != '\n')
		lines++;
	/* Each line gets the prefix; all of them go out in one write(2). */
	char *buf = malloc(len + lines * strlen("lucid: ") + 2);

	if (!buf)
		return;
	char *o = buf;

	for (p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		memcpy(o, "lucid: ", strlen("lucid: "));
		o += strlen("lucid: ");
		memcpy(o, p, n);
		o += n;
		*o++ = '\n';
		p += n + (nl != NULL);
	}
	ssize_t r = write(STDERR_FILENO, buf, (size_t)(o - buf));
	(void)r;
	free(buf);
}

void lucid_misuse(const char *fix, const char *what, ...)
{
	va_list ap;

	va_start(ap, what);
	emit("misuse: ", what, ap);
	va_end(ap);
	lucid_diag("fix: %s", fix);
	abort();
}

void lucid_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("fatal: ", fmt, ap);
	va_end(ap);
	abort();
}

char *stm_describe_block(const struct stm_open_block *o, char *buf, size_t size)
{
	const struct lucid_site_ *s = o->site;

	if (s->line == 0)
		snprintf(buf, size, "a function run by lucid_run()");
	else
		snprintf(buf, size, "the LUCID_ATOMIC block at %s:%d (in %s())", s->file, s->line,
		         s->func);
	return buf;
}
