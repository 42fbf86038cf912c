/*
 * Benchmark only: audit/audit.h with every call a no-op, linked into
 * bench/libkl-bench-noaudit-pkcs11.so in place of audit/audit.c so the
 * benchmark can measure what the audit trail costs (wrap/unwrap round
 * trips with audit on against the same module with audit off).  The
 * shipped module has no way to turn audit off; this file is never
 * installed and nothing outside bench/ links it.
 */
#include "audit/audit.h"

#include <string.h>

struct audit {
	int	unused;
};

static struct audit audit_off;

int
audit_open(const struct kl_conf *conf, audit_sign_fn sign, void *sign_arg,
    struct audit **out, char *err, size_t errlen)
{
	(void)conf;
	(void)sign;
	(void)sign_arg;
	(void)err;
	(void)errlen;
	*out = &audit_off;
	return 0;
}

void
audit_close(struct audit *a)
{
	(void)a;
}

void
audit_abandon(struct audit *a)
{
	(void)a;
}

void
audit_emit(struct audit *a, const struct audit_event *ev)
{
	(void)a;
	(void)ev;
}

int
audit_ok(struct audit *a)
{
	(void)a;
	return 1;
}

void
audit_flush(struct audit *a)
{
	(void)a;
}

void
audit_get_status(struct audit *a, struct audit_status *st)
{
	(void)a;
	memset(st, 0, sizeof(*st));
}

const char *
audit_op_name(enum audit_op op)
{
	(void)op;
	return "bench-audit-off";
}
