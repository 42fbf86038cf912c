#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

static int log_level = -1;		/* -1: not yet read from the environment */
static kl_log_sink_fn log_sink;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

static int
current_level(void)
{
	const char *e;

	if (log_level < 0) {
		e = getenv("KEYLOCKER_DEBUG");
		log_level = (e != NULL && *e != '\0' && strcmp(e, "0") != 0) ?
		    KL_LOG_DEBUG : KL_LOG_WARN;
	}
	return log_level;
}

int
kl_log_enabled(enum kl_log_level level)
{
	return (int)level <= current_level();
}

void
kl_log_set_level(enum kl_log_level level)
{
	log_level = (int)level;
}

void
kl_log_set_sink(kl_log_sink_fn fn)
{
	pthread_mutex_lock(&log_lock);
	log_sink = fn;
	pthread_mutex_unlock(&log_lock);
}

void
kl_vlog(enum kl_log_level level, const char *func, const char *fmt, va_list ap)
{
	char msg[1024];
	char line[1200];
	size_t i;

	if (!kl_log_enabled(level))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* one record per line: fold control characters from untrusted text */
	for (i = 0; msg[i] != '\0'; i++) {
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	}
	snprintf(line, sizeof(line), "keylocker %s: %s: %s", level_names[level],
	    func, msg);
	pthread_mutex_lock(&log_lock);
	if (log_sink != NULL)
		log_sink(level, line);
	else
		fprintf(stderr, "%s\n", line);
	pthread_mutex_unlock(&log_lock);
}

void
kl_log(enum kl_log_level level, const char *func, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kl_vlog(level, func, fmt, ap);
	va_end(ap);
}

void
kl_precond_failed(const char *func, const char *expr)
{
	const char *strict = getenv("KEYLOCKER_STRICT");

	kl_log(KL_LOG_ERROR, func, "precondition failed: %s", expr);
	if (strict != NULL && strcmp(strict, "1") == 0)
		abort();
}
