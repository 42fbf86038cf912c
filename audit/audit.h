/*
 * audit/: the tamper-evident trail.  Every record is one JSON object per
 * line, hash-chained to the previous one; a checkpoint record carries an
 * HMAC of the chain head computed in the token by the audit key.  Records go
 * to every configured sink.  audit_emit() only queues: a writer thread
 * formats, chains and writes, and makes the sinks durable (fdatasync) every
 * sync interval and at every checkpoint, so a key operation never waits for
 * a disk.  Fields are typed: there is no parameter through which a PIN or
 * key bytes could travel.  docs/audit.md describes the format.
 */
#ifndef AUDIT_H
#define AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

struct kl_conf;
struct audit;

enum audit_op {
	AUDIT_START = 1,		/* the module started logging (config loaded) */
	AUDIT_STOP,			/* clean shutdown (followed by a checkpoint) */
	AUDIT_CONFIG_LOAD,
	AUDIT_LOGIN,
	AUDIT_LOGIN_FAILED,
	AUDIT_LOCKOUT,
	AUDIT_LOGOUT,
	AUDIT_KEY_GENERATED,		/* a master, audit or MAC key */
	AUDIT_KEY_RETIRED,
	AUDIT_KEY_UNRETIRED,
	AUDIT_KEY_DESTROYED,		/* a protected key, where policy allows it */
	AUDIT_WRAP,
	AUDIT_UNWRAP,
	AUDIT_DENY,			/* a policy refusal */
	AUDIT_BACKEND_LOST,
	AUDIT_BACKEND_RECOVERED,
	AUDIT_SINK_FAILED,
	AUDIT_SINK_RECOVERED,
	AUDIT_RESUME,			/* chain continued after a restart (or a torn tail) */
	AUDIT_CHECKPOINT,
	AUDIT_OP_COUNT
};

struct audit_event {
	enum audit_op		 op;
	const char		*token;		/* keylocker slot label */
	const char		*client;	/* client name, NULL when none */
	const char		*role;
	const char		*fn;		/* PKCS#11 function, for denials */
	const char		*key;		/* master (or other protected) key label */
	const char		*object;	/* keyring data id: label of the secret */
	CK_MECHANISM_TYPE	 mech;
	int			 has_mech;
	CK_RV			 rv;
	const char		*rule;		/* denials: the policy rule */
	const char		*detail;	/* free text from keylocker, never from a client */
};

/*
 * Computes HMAC-SHA256 of msg with the audit key, in the token.  Returns 0
 * and fills mac, or -1 (no key, token unavailable).
 */
typedef int (*audit_sign_fn)(void *arg, const unsigned char *msg, size_t len,
			     unsigned char mac[32]);

/*
 * Open every sink, continue the chain from the last whole record of the
 * first file sink, and start the writer thread.  sign may be NULL (then
 * checkpoints carry no MAC and say so).  Returns 0, or -1 with err filled;
 * a sink that cannot be opened is an error only when fail-closed.
 */
int	audit_open(const struct kl_conf *conf, audit_sign_fn sign, void *sign_arg,
		   struct audit **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Write a STOP record and a checkpoint, flush, sync, stop the thread.  NULL-safe. */
void	audit_close(struct audit *a);
/* In a forked child: forget the parent's writer without touching it. */
void	audit_abandon(struct audit *a);

/* Queue one record.  Never blocks on I/O.  NULL-safe. */
void	audit_emit(struct audit *a, const struct audit_event *ev);
/* 0 when the trail cannot take records and the configuration says fail closed. */
int	audit_ok(struct audit *a);
/* Make everything queued so far durable now (tests, clean shutdown). */
void	audit_flush(struct audit *a);

struct audit_status {
	uint64_t	 next_seq;
	uint64_t	 durable_seq;	/* every record below this is fdatasync()ed in every healthy sink */
	size_t		 sinks;
	size_t		 sinks_failed;
	size_t		 dropped;	/* records lost to a full queue */
};
void	audit_get_status(struct audit *a, struct audit_status *st);

const char *audit_op_name(enum audit_op op);

#endif
