/*
 * policy/: pure decisions over plain structs.  No I/O, no locks, no calls
 * into the token: the gate (pkcs11/) describes what a caller asks for in a
 * struct policy_request, asks here, and does what the decision says.
 *
 * Vocabulary:
 *  - master key: a secret key with CKA_WRAP or CKA_UNWRAP.  Usable only when
 *    it has every protective attribute (generated in the token, AES,
 *    sensitive, never extractable, not modifiable), only to wrap or unwrap,
 *    only with CKM_AES_KEY_WRAP_PAD or CKM_AES_KEY_WRAP, only by a keyring
 *    client whose patterns name its label.
 *  - infrastructure keys: the audit key (label from the configuration) and
 *    store MAC keys (labels matching policy.mac_keys): HMAC keys with the
 *    same protection; the audit key signs only inside the module.
 *  - keyring secret: a session object the gate made with the fixed template
 *    (no usage attribute at all), by C_CreateObject, C_GenerateKey or
 *    C_UnwrapKey; the only thing a master key may wrap.
 *  - retirement marker: a CKO_DATA token object labelled
 *    "keylocker-retired:<master key label>": that key no longer wraps.
 */
#ifndef POLICY_H
#define POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#define POLICY_RETIRED_PREFIX	"keylocker-retired:"
#define POLICY_LABEL_MAX	128	/* longest label the policy looks at */
#define POLICY_ID_MAX		64

enum policy_verdict { POLICY_DENY = 0, POLICY_ALLOW = 1 };

enum policy_role {
	POLICY_ROLE_NONE = 0,		/* not logged in */
	POLICY_ROLE_ADMIN,
	POLICY_ROLE_KEYRING,
	POLICY_ROLE_AUDITOR,
};

struct policy_client {
	char		 *name;
	enum policy_role  role;
	char		 *pin_hash;		/* see policy/pin.h */
	char		**key_patterns;		/* keyring: fnmatch() patterns of key labels */
	size_t		  n_key_patterns;
};

struct policy {
	struct policy_client	 *clients;
	size_t			  n_clients;
	int			  allow_destroy_master_keys;	/* admins only */
	char			 *audit_key;			/* label of the audit key */
	char			**mac_keys;			/* patterns of store MAC key labels */
	size_t			  n_mac_keys;
};

/* Entry points that carry a decision: every one has a row in the rules table. */
enum policy_fn {
	POLICY_FN_NONE = 0,		/* the zero value: no such entry point, denies */
	POLICY_FN_INIT_TOKEN,
	POLICY_FN_INIT_PIN,
	POLICY_FN_SET_PIN,
	POLICY_FN_LOGIN_SO,
	POLICY_FN_GET_OPERATION_STATE,
	POLICY_FN_SET_OPERATION_STATE,
	POLICY_FN_CREATE_OBJECT,
	POLICY_FN_COPY_OBJECT,
	POLICY_FN_DESTROY_OBJECT,
	POLICY_FN_GET_OBJECT_SIZE,
	POLICY_FN_GET_ATTRIBUTE_VALUE,
	POLICY_FN_SET_ATTRIBUTE_VALUE,
	POLICY_FN_FIND_OBJECTS_INIT,
	POLICY_FN_ENCRYPT_INIT,
	POLICY_FN_DECRYPT_INIT,
	POLICY_FN_DIGEST_INIT,
	POLICY_FN_DIGEST_KEY,
	POLICY_FN_SIGN_INIT,
	POLICY_FN_SIGN_RECOVER_INIT,
	POLICY_FN_VERIFY_INIT,
	POLICY_FN_VERIFY_RECOVER_INIT,
	POLICY_FN_GENERATE_KEY,
	POLICY_FN_GENERATE_KEY_PAIR,
	POLICY_FN_WRAP_KEY,
	POLICY_FN_UNWRAP_KEY,
	POLICY_FN_DERIVE_KEY,
	POLICY_FN_SEED_RANDOM,
	POLICY_FN_GENERATE_RANDOM,
	POLICY_FN_COUNT
};

/* What an object is, for the policy (policy_classify). */
enum policy_kind {
	POLICY_KIND_OTHER = 0,
	POLICY_KIND_MASTER,		/* secret key with WRAP or UNWRAP */
	POLICY_KIND_AUDIT_KEY,
	POLICY_KIND_MAC_KEY,
	POLICY_KIND_SECRET,		/* keyring secret (the gate knows, not the token) */
	POLICY_KIND_MARKER,		/* retirement marker */
};

/* Attribute bits of struct policy_object.flags. */
#define POLICY_F_TOKEN			(1u << 0)
#define POLICY_F_PRIVATE		(1u << 1)
#define POLICY_F_SENSITIVE		(1u << 2)
#define POLICY_F_EXTRACTABLE		(1u << 3)
#define POLICY_F_LOCAL			(1u << 4)
#define POLICY_F_MODIFIABLE		(1u << 5)
#define POLICY_F_COPYABLE		(1u << 6)
#define POLICY_F_ALWAYS_SENSITIVE	(1u << 7)
#define POLICY_F_NEVER_EXTRACTABLE	(1u << 8)
#define POLICY_F_ENCRYPT		(1u << 9)
#define POLICY_F_DECRYPT		(1u << 10)
#define POLICY_F_SIGN			(1u << 11)
#define POLICY_F_VERIFY			(1u << 12)
#define POLICY_F_WRAP			(1u << 13)
#define POLICY_F_UNWRAP			(1u << 14)
#define POLICY_F_DERIVE			(1u << 15)
#define POLICY_F_SIGN_RECOVER		(1u << 16)
#define POLICY_F_VERIFY_RECOVER		(1u << 17)
#define POLICY_F_USAGE (POLICY_F_ENCRYPT | POLICY_F_DECRYPT | POLICY_F_SIGN |	\
	POLICY_F_VERIFY | POLICY_F_WRAP | POLICY_F_UNWRAP | POLICY_F_DERIVE |	\
	POLICY_F_SIGN_RECOVER | POLICY_F_VERIFY_RECOVER)

/* The CK_BBOOL attribute behind each flag bit, in bit order. */
extern const CK_ATTRIBUTE_TYPE policy_flag_attrs[18];

/* What the gate knows about one object. */
struct policy_object {
	CK_OBJECT_CLASS	 cls;
	CK_KEY_TYPE	 key_type;	/* CK_UNAVAILABLE_INFORMATION for non-keys */
	CK_ULONG	 value_len;	/* secret keys: CKA_VALUE_LEN, else 0 */
	char		 label[POLICY_LABEL_MAX + 1];
	unsigned char	 id[POLICY_ID_MAX];
	size_t		 id_len;
	uint32_t	 flags;		/* POLICY_F_* */
	enum policy_kind kind;		/* set by policy_classify(), or SECRET by the gate */
	int		 retired;	/* master key with a retirement marker */
	int		 own_session;	/* SECRET: made by the calling session */
};

struct policy_request {
	enum policy_fn		 fn;
	enum policy_role	 role;
	const struct policy_client *client;	/* NULL when not logged in */
	const CK_MECHANISM	*mech;		/* NULL when the entry point has none */
	const struct policy_object *obj;	/* acted on: key for *Init, base, wrapping or unwrapping key */
	const struct policy_object *target;	/* C_WrapKey: the key being wrapped */
	CK_ATTRIBUTE_PTR	 tmpl;		/* caller's template (create, generate, unwrap, copy, set, find, derive) */
	CK_ULONG		 n_tmpl;
	int			 pair_private;	/* C_GenerateKeyPair: tmpl is the private half */
	CK_ATTRIBUTE_TYPE	 attr;		/* C_GetAttributeValue: the attribute asked for */
	CK_USER_TYPE		 user_type;	/* C_Login */
};

struct policy_decision {
	enum policy_verdict	 verdict;	/* zero: DENY */
	CK_RV			 rv;		/* what a denial returns */
	const char		*rule;		/* static: which rule decided */
	char			 detail[192];	/* what was refused, for the log line */
	enum policy_kind	 result_kind;	/* what a created object will be */
	int			 public_only;	/* C_FindObjectsInit: add CKA_PRIVATE=FALSE */
};

/* One row per gated entry point; the gate and a unit test both walk it. */
struct policy_rule {
	enum policy_fn	 fn;
	const char	*name;			/* "C_WrapKey" */
	enum policy_verdict (*decide)(const struct policy *, const struct policy_request *,
				      struct policy_decision *);
	CK_RV		 deny_rv;		/* default CKR of a denial */
	int		 public_ok;		/* may allow a caller that is not logged in */
};

extern const struct policy_rule policy_rules[];
extern const size_t policy_n_rules;

/*
 * Decide req.  Always fills *dec: verdict, rv, rule and detail.  An entry
 * point without a row, or a request without a client where one is needed,
 * is denied.
 */
enum policy_verdict policy_decide(const struct policy *pol, const struct policy_request *req,
				  struct policy_decision *dec)
	__attribute__((nonnull(1, 2, 3), warn_unused_result));

/* Fill obj->kind from its attributes and label (not SECRET: the gate sets that). */
void	policy_classify(const struct policy *pol, struct policy_object *obj)
	__attribute__((nonnull));

/* Does this client's pattern list name label? */
int	policy_client_may_use(const struct policy_client *c, const char *label);

/* The forced template a decision produced: attributes plus their storage. */
#define POLICY_TMPL_MAX	64
struct policy_template {
	CK_ATTRIBUTE	 attrs[POLICY_TMPL_MAX];
	CK_ULONG	 n;
	CK_BBOOL	 bools[POLICY_TMPL_MAX];
	CK_ULONG	 ulongs[8];
	unsigned char	 id[16];	/* a fresh CKA_ID for a master key without one */
};

/*
 * Build the template that is actually sent down for C_GenerateKey,
 * C_CreateObject, C_UnwrapKey, C_CopyObject or C_DeriveKey after an ALLOW
 * with dec->result_kind set: the caller's attributes that are allowed, with
 * every protective and usage attribute written out explicitly (never left to
 * backend defaults).  random_id supplies 16 bytes used as CKA_ID when a new
 * master or infrastructure key has none.  The result points into req->tmpl
 * for values it keeps (label, id, value): use it before req->tmpl goes away.
 * Returns 0, or a CKR (template too large).
 */
CK_RV	policy_build_template(const struct policy *pol, const struct policy_request *req,
			      const struct policy_decision *dec,
			      const unsigned char random_id[16], struct policy_template *out)
	__attribute__((nonnull(1, 2, 3, 5), warn_unused_result));

/*
 * Label and id of a new or changed object must not repeat those of a
 * protected key (master, audit, MAC).  protected[] is the gate's list.
 * Returns POLICY_ALLOW, or DENY with dec filled.
 */
enum policy_verdict policy_check_collision(const struct policy_object *protected_keys,
					   size_t n, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n_tmpl,
					   struct policy_decision *dec);

/*
 * Shape of a caller's input template, before any decision: attribute
 * values present when their length says so, CK_BBOOL and CK_ULONG
 * attributes of the right size, no nested templates, sane counts.
 * Returns CKR_OK or the CKR to return.
 */
CK_RV	policy_template_shape(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n);

/* Read one attribute of a template: 1 found (and well formed), 0 absent, -1 malformed. */
int	policy_tmpl_bool(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_ATTRIBUTE_TYPE t, CK_BBOOL *out);
int	policy_tmpl_ulong(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_ATTRIBUTE_TYPE t, CK_ULONG *out);
CK_ATTRIBUTE_PTR policy_tmpl_find(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_ATTRIBUTE_TYPE t);

/* The label of a template into buf (empty when absent or not a C string). */
void	policy_tmpl_label(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, char *buf, size_t len);

const char *policy_role_name(enum policy_role r);
const char *policy_kind_name(enum policy_kind k);	/* "master key", ... */
int	policy_role_from_name(const char *s, enum policy_role *out);

#endif
