/*
 * Diagnostics for code that runs inside someone else's process.
 *
 * Lines go to stderr (inside mysqld that is the error log) prefixed with
 * "keylocker" and the function name.  Never pass a PIN or key bytes here:
 * callers log names, labels and CK_RV values only.
 */
#ifndef KL_LOG_H
#define KL_LOG_H

#include <stdarg.h>

enum kl_log_level { KL_LOG_ERROR = 0, KL_LOG_WARN = 1, KL_LOG_INFO = 2, KL_LOG_DEBUG = 3 };

/* A replacement writer, for hosts with their own log (the MySQL bridge). */
typedef void (*kl_log_sink_fn)(enum kl_log_level level, const char *line);

void kl_log(enum kl_log_level level, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void kl_vlog(enum kl_log_level level, const char *func, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Set the verbosity (default: KL_LOG_WARN, or $KEYLOCKER_DEBUG=1 for debug). */
void kl_log_set_level(enum kl_log_level level);
void kl_log_set_sink(kl_log_sink_fn fn);	/* NULL restores stderr */
int  kl_log_enabled(enum kl_log_level level);

#define kl_error(...) kl_log(KL_LOG_ERROR, __func__, __VA_ARGS__)
#define kl_warn(...)  kl_log(KL_LOG_WARN, __func__, __VA_ARGS__)
#define kl_info(...)  kl_log(KL_LOG_INFO, __func__, __VA_ARGS__)
#define kl_debug(...) do { if (kl_log_enabled(KL_LOG_DEBUG)) \
	kl_log(KL_LOG_DEBUG, __func__, __VA_ARGS__); } while (0)

/*
 * Programmer errors (a broken precondition, not bad input): logged, and fatal
 * when $KEYLOCKER_STRICT=1, which the test runner sets.
 */
void kl_precond_failed(const char *func, const char *expr);

#define return_val_if_fail(expr, val) do {				\
	if (!(expr)) {							\
		kl_precond_failed(__func__, #expr);			\
		return (val);						\
	}								\
} while (0)

#define return_if_fail(expr) do {					\
	if (!(expr)) {							\
		kl_precond_failed(__func__, #expr);			\
		return;							\
	}								\
} while (0)

#endif
