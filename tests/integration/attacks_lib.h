/*
 * Plumbing of the attack suite (tests/integration/attacks*.c).
 *
 * A target is a PKCS#11 function list with a session logged in as the
 * attacker: libkeylocker-pkcs11.so with a client PIN, or bare SoftHSM2 with
 * the token's own user PIN.  Every attack runs in a forked child (login
 * state is per process, and our module loads SoftHSM2 itself, so the two
 * never share a process) and reports over a pipe.
 *
 * An attack is a list of routes.  A route either ends in a proof (the
 * recovered bytes equal the truth, or the master key's label, id, value or
 * existence changed) or stops at one call, which it names with its CKR.
 */
#ifndef ATTACKS_LIB_H
#define ATTACKS_LIB_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

#include "tests/integration/attacks_kw.h"
#include "tests/integration/klsetup.h"

/* SoftHSM2 2.6.1 zero-pads KWP input to a multiple of 8: keep the victim one. */
#define ATK_VICTIM_LEN	32
#define ATK_BLOB_MAX	96
#define ATK_ROUTES_MAX	8

enum atk_outcome {
	ATK_REFUSED = 0,	/* every route stopped */
	ATK_EXTRACTED,		/* a secret in the clear, equal to the truth */
	ATK_REPLACED,		/* a second key carries the master key's label or id */
	ATK_ALTERED,		/* the master key's attributes changed */
	ATK_DESTROYED,		/* the master key (or an infrastructure key) is gone */
	ATK_ERROR,		/* the attack itself broke: no verdict */
};

const char *atk_outcome_name(int outcome);

struct atk_route {
	char	what[96];	/* the route, in a few words */
	char	step[200];	/* the call that stopped it, or the proof */
	CK_RV	rv;		/* of that call (CKR_OK for a proof or a forced template) */
	int	outcome;	/* enum atk_outcome */
};

/* What a child sends over its pipe: fixed size, no pointers. */
struct atk_report {
	int		 outcome;	/* the first route's success, else REFUSED */
	size_t		 n_routes;
	struct atk_route routes[ATK_ROUTES_MAX];
	char		 note[200];	/* setup trouble (ATK_ERROR) */
	/* filled by the parent */
	char		 rules[200];	/* keylocker rules from the child's stderr */
	int		 denies;	/* deny records the audit trail gained */
};

/* One `keylocker init` directory and a victim secret wrapped in it. */
struct atk_fixture {
	struct kl_setup	ks;
	unsigned char	victim[ATK_VICTIM_LEN];	/* the truth */
	unsigned char	blob[ATK_BLOB_MAX];	/* victim under the master key, KWP */
	CK_ULONG	blob_len;
	unsigned char	master_id[64];
	CK_ULONG	master_id_len;
	int		serial;			/* names the children's stderr files */
};

/* An attacker: which module, which PIN, and a second PIN for two-client routes. */
struct atk_attacker {
	const char	*who;		/* "bare", "keyring", "admin", ... */
	int		 bare;
	const char	*pin;		/* NULL: the fixture's backend PIN */
	const char	*pin2;		/* NULL: routes that re-login use pin */
};

/* The attack's view, in the child. */
struct atk_target {
	CK_FUNCTION_LIST_PTR	 fl;
	CK_SLOT_ID		 slot;
	CK_SESSION_HANDLE	 s;
	int			 bare;
	const char		*who;
	const char		*pin;
	const char		*pin2;
	CK_OBJECT_HANDLE	 master;
	const struct atk_fixture *fx;
	struct atk_report	*rep;
	struct atk_route	*cur;	/* the route under way */
};

typedef void (*atk_fn)(struct atk_target *t);

/* ---- fixtures and children (parent side) ---- */

/* kl_setup_init, then make the victim through keylocker as the keyring client. */
int	atk_fixture_init(struct atk_fixture *fx);
void	atk_fixture_cleanup(struct atk_fixture *fx);

/* Run fn against fx as attacker a in a child; fills rep (rules, denies too). */
void	atk_run(struct atk_fixture *fx, const struct atk_attacker *a, atk_fn fn,
		struct atk_report *rep);

/*
 * After an attack, as the keyring client: the master key is the only object
 * with its label and CKA_ID, the store MAC and audit keys are there, it wraps
 * a new secret and unwraps the fixture's blob to the victim.  0, or -1 with
 * note saying what failed.
 */
int	atk_master_ok(struct atk_fixture *fx, char *note, size_t notelen);

/* ---- routes (child side) ---- */

void	atk_route(struct atk_target *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The route stopped at step with rv.  Always returns 0. */
int	atk_stop(struct atk_target *t, CK_RV rv, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The route succeeded, with proof.  Always returns 1. */
int	atk_win(struct atk_target *t, enum atk_outcome o, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Proofs: bytes that should be the victim, or the master key's value. */
int	atk_check_victim(struct atk_target *t, const unsigned char *got, size_t len,
			 const char *how);
int	atk_check_master_value(struct atk_target *t, const unsigned char *got, size_t len,
			       const char *how);

/* ---- templates ---- */

/* Boolean attributes a template sets, true (on) or false (off). */
#define ATK_ENCRYPT	(1u << 0)
#define ATK_DECRYPT	(1u << 1)
#define ATK_WRAP	(1u << 2)
#define ATK_UNWRAP	(1u << 3)
#define ATK_SIGN	(1u << 4)
#define ATK_VERIFY	(1u << 5)
#define ATK_DERIVE	(1u << 6)
#define ATK_SENSITIVE	(1u << 7)
#define ATK_EXTRACT	(1u << 8)
#define ATK_TOKEN	(1u << 9)
#define ATK_PRIVATE	(1u << 10)
#define ATK_MODIFIABLE	(1u << 11)
#define ATK_COPYABLE	(1u << 12)
#define ATK_DESTROYABLE	(1u << 13)
#define ATK_NFLAGS	14

struct atk_tmpl {
	CK_ATTRIBUTE	a[40];
	CK_ULONG	n;
	CK_BBOOL	b[ATK_NFLAGS];
	CK_ULONG	ul[6];
	size_t		nul;
};

void	atk_tmpl_init(struct atk_tmpl *tb);
void	atk_tmpl_flags(struct atk_tmpl *tb, unsigned on, unsigned off);
void	atk_tmpl_ulong(struct atk_tmpl *tb, CK_ATTRIBUTE_TYPE type, CK_ULONG v);
void	atk_tmpl_bytes(struct atk_tmpl *tb, CK_ATTRIBUTE_TYPE type, const void *p, size_t len);
/* CKO_SECRET_KEY of key type kt (and CKA_VALUE_LEN when len != 0). */
void	atk_tmpl_secret(struct atk_tmpl *tb, CK_KEY_TYPE kt, CK_ULONG len);
/* The flags for a bit, and a short name for logs ("CKA_WRAP"). */
CK_ATTRIBUTE_TYPE atk_flag_attr(unsigned bit);
const char *atk_flag_name(unsigned bit);

/* ---- PKCS#11 steps shared by the attacks ---- */

CK_RV	atk_gen_aes(struct atk_target *t, unsigned on, unsigned off, const char *label,
		    CK_OBJECT_HANDLE *h);
CK_RV	atk_import_aes(struct atk_target *t, const unsigned char *value, size_t len,
		       unsigned on, unsigned off, const char *label, CK_OBJECT_HANDLE *h);
/* Unwrap the victim blob with the master key (KWP) under a template. */
CK_RV	atk_unwrap_victim(struct atk_target *t, unsigned on, unsigned off, CK_OBJECT_HANDLE *h);
CK_RV	atk_wrap(struct atk_target *t, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE wrapping,
		 CK_OBJECT_HANDLE key, unsigned char *out, CK_ULONG *len);
CK_RV	atk_read_value(struct atk_target *t, CK_OBJECT_HANDLE h, unsigned char *out,
		       CK_ULONG *len);
/* Are the bits of want all true on h?  If not, stop the route naming the call. */
int	atk_has(struct atk_target *t, CK_OBJECT_HANDLE h, unsigned want, const char *call);
/* Secret keys (any class when cls is CK_UNAVAILABLE_INFORMATION) matching label or id. */
CK_ULONG atk_count(struct atk_target *t, CK_OBJECT_CLASS cls, const char *label,
		   const unsigned char *id, size_t id_len);
/* The master key again, by label (after a logout, or to see it is still there). */
CK_OBJECT_HANDLE atk_find_master(struct atk_target *t);
CK_RV	atk_relogin(struct atk_target *t, const char *pin);

/* A token key used as a one-block AES oracle: mech ECB, CBC (zero IV) or CTR. */
struct atk_p11_oracle {
	struct atk_target	*t;
	CK_OBJECT_HANDLE	 key;
	CK_MECHANISM_TYPE	 mech;
	int			 decrypt;
	CK_RV			 rv;		/* of the call that refused */
	const char		*call;		/* "C_DecryptInit", ... */
	unsigned long		 blocks;
};

int	atk_p11_block(void *oracle, const unsigned char in[16], unsigned char out[16]);

/* Recover KWP-wrapped bytes with a key that has DECRYPT, through an oracle. */
int	atk_decrypt_kwp(struct atk_target *t, CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mech,
			const unsigned char *blob, size_t len, const char *keyname);

#endif
