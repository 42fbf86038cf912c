/*
 * pkcs11/: the exported C_* entry points.  Each one checks its arguments
 * (initialised, pointers, lengths, counts, handles) before anything else,
 * describes what is asked in a struct policy_request, asks policy/, audits
 * refusals and key use, and forwards to token/.  Internal to pkcs11/.
 */
#ifndef GATE_H
#define GATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "audit/audit.h"
#include "conf/conf.h"
#include "policy/policy.h"
#include "token/token.h"

#define GATE_ATTR_COUNT_MAX	256		/* C_GetAttributeValue templates */
#define GATE_FIND_MAX		(1u << 20)	/* C_FindObjects counts */
#define GATE_DATA_MAX		((CK_ULONG)1 << 30)	/* one data buffer */
#define GATE_MECH_PARAM_MAX	(64 * 1024)
#define GATE_PIN_MAX		256
#define GATE_SECRETS_MAX	4096		/* live keyring secrets per slot */
#define GATE_SNAPSHOT_MS	1000		/* protected-key snapshot lifetime */

/* A keyring secret the gate made (C_CreateObject, C_GenerateKey, C_UnwrapKey). */
struct gate_secret {
	CK_OBJECT_HANDLE	 lower;
	uint32_t		 epoch;
	CK_SESSION_HANDLE	 owner;		/* our session handle */
	char			 label[POLICY_LABEL_MAX + 1];	/* the keyring data id */
};

/* Protected keys and retirement markers of one token, refreshed now and then. */
struct gate_snapshot {
	struct policy_object	*objs;		/* masters, infrastructure keys */
	CK_OBJECT_HANDLE	*handles;	/* lower handles, parallel to objs */
	size_t			 n;
	uint32_t		 epoch;
	uint64_t		 taken_ms;	/* 0: must be refreshed */
};

struct gate_slot {
	int			 logged_in;	/* a client logged in (application-wide) */
	size_t			 client;	/* index into conf->policy.clients */
	struct gate_secret	*secrets;
	size_t			 n_secrets;
	size_t			 cap_secrets;
	struct gate_snapshot	 snap;
};

struct gate {
	struct kl_conf		*conf;
	struct token		*tok;
	struct audit		*audit;
	pthread_mutex_t		 lock;		/* slots[] */
	struct gate_slot	*slots;
	size_t			 n_slots;
	int			 forked;	/* set in a fork child: everything is the parent's */
};

/* Everything an entry point needs about the calling session. */
struct gate_call {
	struct gate		*g;
	CK_SESSION_HANDLE	 h;
	struct token_session_ref ref;
	enum policy_role	 role;
	const struct policy_client *client;
};

/*
 * objects.c.  gate_internal_op_lock serialises every multi-call operation
 * (C_FindObjects*, C_SignInit/C_Sign) on the token's internal sessions, which
 * client threads (snapshots) and the audit writer (checkpoint MACs) share: a
 * session runs one operation at a time, and two locks let a snapshot meet a
 * checkpoint and fail with CKR_OPERATION_ACTIVE (found by bench/).
 */
extern pthread_mutex_t gate_internal_op_lock;
CK_RV	gate_describe(struct gate_call *c, CK_OBJECT_HANDLE lower, struct policy_object *o);
CK_RV	gate_protected(struct gate_call *c, struct policy_object **objs, size_t *n);
void	gate_snapshot_invalidate(struct gate *g, size_t slot);
void	gate_snapshot_free(struct gate_snapshot *s);
int	gate_secret_add(struct gate *g, size_t slot, CK_OBJECT_HANDLE lower, uint32_t epoch,
			CK_SESSION_HANDLE owner, const char *label);
int	gate_secret_find(struct gate *g, size_t slot, CK_OBJECT_HANDLE lower, uint32_t epoch,
			 struct gate_secret *out);
void	gate_secret_remove(struct gate *g, size_t slot, CK_OBJECT_HANDLE lower);
/* Forget (and, when destroy, destroy in the backend) the secrets of one session or of all. */
void	gate_secrets_drop(struct gate_call *c, CK_SESSION_HANDLE owner, int all, int destroy);
CK_RV	gate_find_master(struct gate_call *c, const char *label, struct policy_object *o);

/* login.c */
CK_RV	gate_login(struct gate_call *c, const unsigned char *pin, CK_ULONG len);
CK_RV	gate_lockout_status(struct gate *g, size_t slot, unsigned *failures, int *locked);

/* gate.c: audit helpers */
void	gate_audit(struct gate_call *c, enum audit_op op, const char *key, const char *object,
		   const CK_MECHANISM *mech, CK_RV rv, const char *detail);

#endif
