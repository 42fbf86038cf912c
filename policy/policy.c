#include "policy/policy.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/p11names.h"

#define TMPL_ATTRS_MAX		48		/* caller templates: more is absurd */
#define TMPL_VALUE_MAX		(64 * 1024)	/* one attribute value */
#define MASTER_KEY_BYTES	32
#define MAC_KEY_BYTES		32

const CK_ATTRIBUTE_TYPE policy_flag_attrs[18] = {
	CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_LOCAL,
	CKA_MODIFIABLE, CKA_COPYABLE, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE,
	CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP,
	CKA_DERIVE, CKA_SIGN_RECOVER, CKA_VERIFY_RECOVER,
};

/* Usage attributes a secret key has; recover variants exist only for asymmetric keys. */
static const CK_ATTRIBUTE_TYPE secret_usage[] = {
	CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP, CKA_DERIVE,
};

static const char *const role_names[] = { "none", "admin", "keyring", "auditor" };

const char *
policy_role_name(enum policy_role r)
{
	return (unsigned)r < 4 ? role_names[r] : "?";
}

int
policy_role_from_name(const char *s, enum policy_role *out)
{
	enum policy_role r;

	for (r = POLICY_ROLE_ADMIN; r <= POLICY_ROLE_AUDITOR; r++) {
		if (strcmp(s, role_names[r]) == 0) {
			*out = r;
			return 0;
		}
	}
	return -1;
}

/* ---- decisions: small helpers ---------------------------------------- */

static enum policy_verdict
deny(struct policy_decision *dec, CK_RV rv, const char *rule, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum policy_verdict
deny(struct policy_decision *dec, CK_RV rv, const char *rule, const char *fmt, ...)
{
	va_list ap;

	dec->verdict = POLICY_DENY;
	dec->rv = rv;
	dec->rule = rule;
	va_start(ap, fmt);
	vsnprintf(dec->detail, sizeof(dec->detail), fmt, ap);
	va_end(ap);
	return POLICY_DENY;
}

static enum policy_verdict
allow(struct policy_decision *dec, const char *rule, enum policy_kind result)
{
	dec->verdict = POLICY_ALLOW;
	dec->rv = CKR_OK;
	dec->rule = rule;
	dec->result_kind = result;
	return POLICY_ALLOW;
}

static int
has(const struct policy_object *o, uint32_t f)
{
	return (o->flags & f) == f;
}

int
policy_client_may_use(const struct policy_client *c, const char *label)
{
	size_t i;

	if (c == NULL)
		return 0;
	for (i = 0; i < c->n_key_patterns; i++) {
		if (fnmatch(c->key_patterns[i], label, 0) == 0)
			return 1;
	}
	return 0;
}

static int
is_mac_label(const struct policy *pol, const char *label)
{
	size_t i;

	for (i = 0; i < pol->n_mac_keys; i++) {
		if (fnmatch(pol->mac_keys[i], label, 0) == 0)
			return 1;
	}
	return 0;
}

static int
is_audit_label(const struct policy *pol, const char *label)
{
	return pol->audit_key != NULL && label[0] != '\0' &&
	    strcmp(pol->audit_key, label) == 0;
}

void
policy_classify(const struct policy *pol, struct policy_object *obj)
{
	if (obj->kind == POLICY_KIND_SECRET)
		return;			/* the gate's knowledge wins */
	obj->kind = POLICY_KIND_OTHER;
	if (obj->cls == CKO_SECRET_KEY) {
		if (obj->flags & (POLICY_F_WRAP | POLICY_F_UNWRAP))
			obj->kind = POLICY_KIND_MASTER;
		else if (is_audit_label(pol, obj->label))
			obj->kind = POLICY_KIND_AUDIT_KEY;
		else if (obj->label[0] != '\0' && is_mac_label(pol, obj->label))
			obj->kind = POLICY_KIND_MAC_KEY;
	} else if (obj->cls == CKO_DATA && (obj->flags & POLICY_F_TOKEN) &&
	    strncmp(obj->label, POLICY_RETIRED_PREFIX,
	    sizeof(POLICY_RETIRED_PREFIX) - 1) == 0) {
		obj->kind = POLICY_KIND_MARKER;
	}
}

static int
is_protected(const struct policy_object *o)
{
	return o->kind == POLICY_KIND_MASTER || o->kind == POLICY_KIND_AUDIT_KEY ||
	    o->kind == POLICY_KIND_MAC_KEY;
}

const char *
policy_kind_name(enum policy_kind k)
{
	switch (k) {
	case POLICY_KIND_MASTER:
		return "master key";
	case POLICY_KIND_AUDIT_KEY:
		return "audit key";
	case POLICY_KIND_MAC_KEY:
		return "store MAC key";
	case POLICY_KIND_SECRET:
		return "keyring secret";
	case POLICY_KIND_MARKER:
		return "retirement marker";
	case POLICY_KIND_OTHER:
		break;
	}
	return "object";
}

/*
 * A master key is usable only with all its protection in place: made in the
 * token, AES-256, sensitive and unextractable since birth, a token object,
 * with no usage beyond wrap and unwrap.  An imported or weakened key with
 * CKA_WRAP (planted before keylocker, or on the bare token) is refused here.
 */
static const char *
master_unsafe(const struct policy_object *o)
{
	if (o->key_type != CKK_AES || o->value_len != MASTER_KEY_BYTES)
		return "is not an AES-256 key";
	if (!has(o, POLICY_F_LOCAL))
		return "was not generated in the token (CKA_LOCAL is false)";
	if (!has(o, POLICY_F_SENSITIVE | POLICY_F_ALWAYS_SENSITIVE))
		return "is not (always) sensitive";
	if (has(o, POLICY_F_EXTRACTABLE) || !has(o, POLICY_F_NEVER_EXTRACTABLE))
		return "is or was extractable";
	if (!has(o, POLICY_F_TOKEN))
		return "is not a token object";
	if (o->flags & (POLICY_F_USAGE & ~(POLICY_F_WRAP | POLICY_F_UNWRAP)))
		return "has usages besides wrap and unwrap";
	return NULL;
}

static const char *
infra_unsafe(const struct policy_object *o)
{
	if (!has(o, POLICY_F_LOCAL))
		return "was not generated in the token (CKA_LOCAL is false)";
	if (!has(o, POLICY_F_SENSITIVE) || has(o, POLICY_F_EXTRACTABLE))
		return "is not sensitive and unextractable";
	if (!has(o, POLICY_F_TOKEN))
		return "is not a token object";
	if (o->flags & (POLICY_F_USAGE & ~(POLICY_F_SIGN | POLICY_F_VERIFY)))
		return "has usages besides sign and verify";
	return NULL;
}

static int
mech_is(const struct policy_request *req, CK_MECHANISM_TYPE m)
{
	return req->mech != NULL && req->mech->mechanism == m;
}

static int
wrap_mechanism_ok(const struct policy_request *req)
{
	/* default IVs only: no parameter at all */
	return (mech_is(req, CKM_AES_KEY_WRAP_PAD) || mech_is(req, CKM_AES_KEY_WRAP)) &&
	    req->mech->ulParameterLen == 0;
}

static enum policy_verdict
need_login(const struct policy_request *req, struct policy_decision *dec)
{
	if (req->role == POLICY_ROLE_NONE || req->client == NULL)
		return deny(dec, CKR_USER_NOT_LOGGED_IN, "login-required",
		    "log in with a client PIN first");
	return POLICY_ALLOW;
}

/* ---- template helpers ------------------------------------------------ */

CK_ATTRIBUTE_PTR
policy_tmpl_find(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_ATTRIBUTE_TYPE t)
{
	CK_ULONG i;

	for (i = 0; i < n; i++) {
		if (tmpl[i].type == t)
			return &tmpl[i];
	}
	return NULL;
}

int
policy_tmpl_bool(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_ATTRIBUTE_TYPE t, CK_BBOOL *out)
{
	CK_ATTRIBUTE_PTR a = policy_tmpl_find(tmpl, n, t);

	if (a == NULL)
		return 0;
	if (a->pValue == NULL || a->ulValueLen != sizeof(CK_BBOOL))
		return -1;
	*out = *(CK_BBOOL *)a->pValue ? CK_TRUE : CK_FALSE;
	return 1;
}

int
policy_tmpl_ulong(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_ATTRIBUTE_TYPE t, CK_ULONG *out)
{
	CK_ATTRIBUTE_PTR a = policy_tmpl_find(tmpl, n, t);

	if (a == NULL)
		return 0;
	if (a->pValue == NULL || a->ulValueLen != sizeof(CK_ULONG))
		return -1;
	memcpy(out, a->pValue, sizeof(CK_ULONG));
	return 1;
}

/* A boolean attribute explicitly TRUE in the template. */
static int
tmpl_true(const struct policy_request *req, CK_ATTRIBUTE_TYPE t)
{
	CK_BBOOL b = CK_FALSE;

	return policy_tmpl_bool(req->tmpl, req->n_tmpl, t, &b) == 1 && b == CK_TRUE;
}

static int
tmpl_false(const struct policy_request *req, CK_ATTRIBUTE_TYPE t)
{
	CK_BBOOL b = CK_TRUE;

	return policy_tmpl_bool(req->tmpl, req->n_tmpl, t, &b) == 1 && b == CK_FALSE;
}

void
policy_tmpl_label(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n_tmpl, char *buf, size_t len)
{
	CK_ATTRIBUTE_PTR a = policy_tmpl_find(tmpl, n_tmpl, CKA_LABEL);
	size_t n;

	buf[0] = '\0';
	if (a == NULL || a->pValue == NULL)
		return;
	n = a->ulValueLen < len - 1 ? a->ulValueLen : len - 1;
	memcpy(buf, a->pValue, n);
	buf[n] = '\0';
	if (strlen(buf) != n)
		buf[0] = '\0';		/* an embedded NUL: not a label we match */
}

static void
tmpl_label(const struct policy_request *req, char *buf, size_t len)
{
	policy_tmpl_label(req->tmpl, req->n_tmpl, buf, len);
}

static int
is_bool_attr(CK_ATTRIBUTE_TYPE t)
{
	size_t i;

	for (i = 0; i < sizeof(policy_flag_attrs) / sizeof(policy_flag_attrs[0]); i++) {
		if (policy_flag_attrs[i] == t)
			return 1;
	}
	switch (t) {
	case CKA_TRUSTED:
	case CKA_DESTROYABLE:
	case CKA_WRAP_WITH_TRUSTED:
	case CKA_ALWAYS_AUTHENTICATE:
	case CKA_RESET_ON_INIT:
	case CKA_HAS_RESET:
		return 1;
	}
	return 0;
}

static int
is_ulong_attr(CK_ATTRIBUTE_TYPE t)
{
	switch (t) {
	case CKA_CLASS:
	case CKA_KEY_TYPE:
	case CKA_VALUE_LEN:
	case CKA_CERTIFICATE_TYPE:
	case CKA_CERTIFICATE_CATEGORY:
	case CKA_MODULUS_BITS:
	case CKA_PRIME_BITS:
	case CKA_SUB_PRIME_BITS:
	case CKA_VALUE_BITS:
	case CKA_KEY_GEN_MECHANISM:
	case CKA_HW_FEATURE_TYPE:
	case CKA_MECHANISM_TYPE:
	case CKA_JAVA_MIDP_SECURITY_DOMAIN:
	case CKA_NAME_HASH_ALGORITHM:
		return 1;
	}
	return 0;
}

CK_RV
policy_template_shape(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	CK_ULONG i, j;

	if (n == 0)
		return CKR_OK;
	if (tmpl == NULL)
		return CKR_ARGUMENTS_BAD;
	if (n > TMPL_ATTRS_MAX)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < n; i++) {
		const CK_ATTRIBUTE *a = &tmpl[i];

		if (a->ulValueLen == CK_UNAVAILABLE_INFORMATION ||
		    a->ulValueLen > TMPL_VALUE_MAX)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		if (a->ulValueLen > 0 && a->pValue == NULL)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		if (is_bool_attr(a->type) && a->ulValueLen != sizeof(CK_BBOOL))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		if (is_ulong_attr(a->type) && a->ulValueLen != sizeof(CK_ULONG))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		if (a->type == CKA_ALLOWED_MECHANISMS && a->ulValueLen % sizeof(CK_ULONG) != 0)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		/* nested templates would need their own policy: not through keylocker */
		if (a->type == CKA_WRAP_TEMPLATE || a->type == CKA_UNWRAP_TEMPLATE ||
		    a->type == CKA_DERIVE_TEMPLATE)
			return CKR_TEMPLATE_INCONSISTENT;
		/* the policy reads the first, a token may use the last: refuse both */
		for (j = 0; j < i; j++) {
			if (tmpl[j].type == a->type)
				return CKR_TEMPLATE_INCONSISTENT;
		}
	}
	return CKR_OK;
}

/*
 * A keyring secret's template may only narrow the fixed one: a secret key,
 * generic or AES, a session object, no usage, nothing else of consequence.
 */
static enum policy_verdict
check_secret_template(const struct policy_request *req, struct policy_decision *dec,
		      int want_value)
{
	static const CK_ATTRIBUTE_TYPE allowed[] = {
		CKA_CLASS, CKA_KEY_TYPE, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE,
		CKA_EXTRACTABLE, CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE,
		CKA_LABEL, CKA_ID, CKA_VALUE, CKA_VALUE_LEN,
		CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP,
		CKA_DERIVE, CKA_SIGN_RECOVER, CKA_VERIFY_RECOVER,
	};
	CK_ULONG i, v;
	size_t k;
	int r;

	for (i = 0; i < req->n_tmpl; i++) {
		CK_ATTRIBUTE_TYPE t = req->tmpl[i].type;

		for (k = 0; k < sizeof(allowed) / sizeof(allowed[0]); k++) {
			if (allowed[k] == t)
				break;
		}
		if (k == sizeof(allowed) / sizeof(allowed[0]))
			return deny(dec, CKR_TEMPLATE_INCONSISTENT, "secret-template",
			    "%s may not be set on a keyring secret", kl_cka(t));
	}
	r = policy_tmpl_ulong(req->tmpl, req->n_tmpl, CKA_CLASS, &v);
	if (r == 1 && v != CKO_SECRET_KEY)
		return deny(dec, CKR_TEMPLATE_INCONSISTENT, "secret-class",
		    "a keyring secret is a CKO_SECRET_KEY");
	if (r == 0 && req->fn != POLICY_FN_GENERATE_KEY)
		return deny(dec, CKR_TEMPLATE_INCOMPLETE, "secret-class",
		    "the template needs CKA_CLASS = CKO_SECRET_KEY");
	r = policy_tmpl_ulong(req->tmpl, req->n_tmpl, CKA_KEY_TYPE, &v);
	if (r == 1 && v != CKK_GENERIC_SECRET && v != CKK_AES)
		return deny(dec, CKR_TEMPLATE_INCONSISTENT, "secret-key-type",
		    "a keyring secret is CKK_GENERIC_SECRET or CKK_AES");
	if (r == 0 && req->fn != POLICY_FN_GENERATE_KEY)
		return deny(dec, CKR_TEMPLATE_INCOMPLETE, "secret-key-type",
		    "the template needs CKA_KEY_TYPE");
	for (k = 0; k < sizeof(secret_usage) / sizeof(secret_usage[0]); k++) {
		if (tmpl_true(req, secret_usage[k]))
			return deny(dec, CKR_TEMPLATE_INCONSISTENT, "secret-no-usage",
			    "keyring secrets have no usage: %s must not be true",
			    kl_cka(secret_usage[k]));
	}
	if (tmpl_true(req, CKA_SIGN_RECOVER) || tmpl_true(req, CKA_VERIFY_RECOVER))
		return deny(dec, CKR_TEMPLATE_INCONSISTENT, "secret-no-usage",
		    "keyring secrets have no usage");
	if (tmpl_true(req, CKA_TOKEN))
		return deny(dec, CKR_TEMPLATE_INCONSISTENT, "secret-session-only",
		    "keyring secrets are session objects: CKA_TOKEN must be false");
	if (tmpl_false(req, CKA_PRIVATE))
		return deny(dec, CKR_TEMPLATE_INCONSISTENT, "secret-private",
		    "keyring secrets are private objects");
	if (tmpl_true(req, CKA_MODIFIABLE) || tmpl_true(req, CKA_COPYABLE))
		return deny(dec, CKR_TEMPLATE_INCONSISTENT, "secret-fixed",
		    "keyring secrets are neither modifiable nor copyable");
	if (want_value && policy_tmpl_find(req->tmpl, req->n_tmpl, CKA_VALUE) == NULL)
		return deny(dec, CKR_TEMPLATE_INCOMPLETE, "secret-value",
		    "an imported keyring secret needs CKA_VALUE");
	if (!want_value && policy_tmpl_find(req->tmpl, req->n_tmpl, CKA_VALUE) != NULL)
		return deny(dec, CKR_TEMPLATE_INCONSISTENT, "secret-value",
		    "CKA_VALUE may only be given to C_CreateObject");
	return POLICY_ALLOW;
}

/* No template may ask for a key that can wrap or unwrap, except the forced master-key path. */
static enum policy_verdict
check_no_wrap_usage(const struct policy_request *req, struct policy_decision *dec,
		    const char *what)
{
	if (tmpl_true(req, CKA_WRAP) || tmpl_true(req, CKA_UNWRAP))
		return deny(dec, CKR_TEMPLATE_INCONSISTENT, "no-new-wrapping-keys",
		    "%s may not create a key with CKA_WRAP or CKA_UNWRAP: master keys "
		    "are only generated in the token by an admin", what);
	return POLICY_ALLOW;
}

/* Attribute changes that weaken a key, refused on every object. */
static enum policy_verdict
check_no_downgrade(const struct policy_request *req, struct policy_decision *dec,
		   CK_RV rv)
{
	char label[POLICY_LABEL_MAX + 1];

	if (tmpl_true(req, CKA_WRAP) || tmpl_true(req, CKA_UNWRAP))
		return deny(dec, rv, "no-new-wrapping-keys",
		    "no object may gain CKA_WRAP or CKA_UNWRAP");
	if (tmpl_false(req, CKA_SENSITIVE))
		return deny(dec, rv, "no-downgrade", "CKA_SENSITIVE may not be cleared");
	if (tmpl_true(req, CKA_EXTRACTABLE))
		return deny(dec, rv, "no-downgrade", "CKA_EXTRACTABLE may not be set");
	tmpl_label(req, label, sizeof(label));
	if (strncmp(label, POLICY_RETIRED_PREFIX, sizeof(POLICY_RETIRED_PREFIX) - 1) == 0)
		return deny(dec, rv, "retire-marker",
		    "labels starting with %s are made only by creating a marker",
		    POLICY_RETIRED_PREFIX);
	return POLICY_ALLOW;
}

/* ---- decisions: one per entry point ---------------------------------- */

static enum policy_verdict
d_not_supported(const struct policy *pol, const struct policy_request *req,
		struct policy_decision *dec)
{
	return deny(dec, CKR_FUNCTION_NOT_SUPPORTED, "not-through-keylocker",
	    "token and PIN administration is done with `keylocker init` on the "
	    "backend, and operation state may carry keys");
}

static enum policy_verdict
d_login_so(const struct policy *pol, const struct policy_request *req,
	   struct policy_decision *dec)
{
	return deny(dec, CKR_USER_TYPE_INVALID, "no-so-login",
	    "clients log in as CKU_USER with their own PIN; the admin role covers "
	    "administration");
}

static enum policy_verdict
d_create_object(const struct policy *pol, const struct policy_request *req,
		struct policy_decision *dec)
{
	char label[POLICY_LABEL_MAX + 1];
	CK_ULONG cls;

	if (need_login(req, dec) == POLICY_DENY)
		return POLICY_DENY;
	if (check_no_wrap_usage(req, dec, "C_CreateObject") == POLICY_DENY)
		return POLICY_DENY;
	if (policy_tmpl_ulong(req->tmpl, req->n_tmpl, CKA_CLASS, &cls) != 1)
		return deny(dec, CKR_TEMPLATE_INCOMPLETE, "create-class",
		    "the template needs CKA_CLASS");
	tmpl_label(req, label, sizeof(label));

	switch (req->role) {
	case POLICY_ROLE_KEYRING:
		if (check_secret_template(req, dec, 1) == POLICY_DENY)
			return POLICY_DENY;
		return allow(dec, "keyring-import-secret", POLICY_KIND_SECRET);
	case POLICY_ROLE_ADMIN:
		if (cls == CKO_SECRET_KEY &&
		    (is_audit_label(pol, label) || is_mac_label(pol, label)))
			return deny(dec, CKR_TEMPLATE_INCONSISTENT, "infra-key-generated",
			    "%s is an infrastructure key label: such keys are generated "
			    "in the token, never imported", label);
		if (cls == CKO_DATA &&
		    strncmp(label, POLICY_RETIRED_PREFIX, sizeof(POLICY_RETIRED_PREFIX) - 1) == 0) {
			if (!tmpl_true(req, CKA_TOKEN))
				return deny(dec, CKR_TEMPLATE_INCONSISTENT, "retire-marker",
				    "a retirement marker must be a token object (CKA_TOKEN true)");
			if (req->obj == NULL || req->obj->kind != POLICY_KIND_MASTER)
				return deny(dec, CKR_TEMPLATE_INCONSISTENT, "retire-marker",
				    "there is no master key labelled \"%s\" to retire",
				    label + sizeof(POLICY_RETIRED_PREFIX) - 1);
			return allow(dec, "admin-retire", POLICY_KIND_MARKER);
		}
		return allow(dec, "admin-create", POLICY_KIND_OTHER);
	default:
		return deny(dec, CKR_ACTION_PROHIBITED, "role-create",
		    "role %s may not create objects", policy_role_name(req->role));
	}
}

static enum policy_verdict
d_generate_key(const struct policy *pol, const struct policy_request *req,
	       struct policy_decision *dec)
{
	char label[POLICY_LABEL_MAX + 1];
	CK_ULONG len;
	int r;

	if (need_login(req, dec) == POLICY_DENY)
		return POLICY_DENY;
	if (req->mech == NULL)
		return deny(dec, CKR_MECHANISM_INVALID, "generate-mechanism", "no mechanism");
	tmpl_label(req, label, sizeof(label));

	switch (req->role) {
	case POLICY_ROLE_KEYRING:
		if (!mech_is(req, CKM_GENERIC_SECRET_KEY_GEN) && !mech_is(req, CKM_AES_KEY_GEN))
			return deny(dec, CKR_MECHANISM_INVALID, "keyring-generate",
			    "keyring secrets come from CKM_GENERIC_SECRET_KEY_GEN or "
			    "CKM_AES_KEY_GEN, not %s", kl_ckm(req->mech->mechanism));
		if (check_secret_template(req, dec, 0) == POLICY_DENY)
			return POLICY_DENY;
		return allow(dec, "keyring-generate-secret", POLICY_KIND_SECRET);
	case POLICY_ROLE_ADMIN:
		break;
	default:
		return deny(dec, CKR_ACTION_PROHIBITED, "role-generate",
		    "role %s may not generate keys", policy_role_name(req->role));
	}

	if (tmpl_true(req, CKA_WRAP) || tmpl_true(req, CKA_UNWRAP)) {
		/* a master key: the template is forced by policy_build_template() */
		if (!mech_is(req, CKM_AES_KEY_GEN))
			return deny(dec, CKR_MECHANISM_INVALID, "master-key-template",
			    "master keys are AES-256 keys from CKM_AES_KEY_GEN");
		r = policy_tmpl_ulong(req->tmpl, req->n_tmpl, CKA_VALUE_LEN, &len);
		if (r == 1 && len != MASTER_KEY_BYTES)
			return deny(dec, CKR_TEMPLATE_INCONSISTENT, "master-key-template",
			    "master keys are 32 bytes (AES-256), not %lu", (unsigned long)len);
		if (label[0] == '\0')
			return deny(dec, CKR_TEMPLATE_INCOMPLETE, "master-key-template",
			    "a master key needs a CKA_LABEL (clients find it by label)");
		if (is_audit_label(pol, label) || is_mac_label(pol, label))
			return deny(dec, CKR_TEMPLATE_INCONSISTENT, "master-key-template",
			    "%s is an infrastructure key label", label);
		return allow(dec, "admin-generate-master", POLICY_KIND_MASTER);
	}
	if (is_audit_label(pol, label) || is_mac_label(pol, label)) {
		if (!mech_is(req, CKM_GENERIC_SECRET_KEY_GEN))
			return deny(dec, CKR_MECHANISM_INVALID, "infra-key-template",
			    "HMAC keys come from CKM_GENERIC_SECRET_KEY_GEN");
		r = policy_tmpl_ulong(req->tmpl, req->n_tmpl, CKA_VALUE_LEN, &len);
		if (r == 1 && len != MAC_KEY_BYTES)
			return deny(dec, CKR_TEMPLATE_INCONSISTENT, "infra-key-template",
			    "HMAC keys are 32 bytes");
		return allow(dec, "admin-generate-infra", is_audit_label(pol, label) ?
		    POLICY_KIND_AUDIT_KEY : POLICY_KIND_MAC_KEY);
	}
	return allow(dec, "admin-generate", POLICY_KIND_OTHER);
}

static enum policy_verdict
d_generate_key_pair(const struct policy *pol, const struct policy_request *req,
		    struct policy_decision *dec)
{
	if (need_login(req, dec) == POLICY_DENY)
		return POLICY_DENY;
	if (req->role != POLICY_ROLE_ADMIN)
		return deny(dec, CKR_ACTION_PROHIBITED, "role-generate",
		    "role %s may not generate key pairs", policy_role_name(req->role));
	/* CKA_WRAP/CKA_UNWRAP are forced false on both halves by the template builder */
	return allow(dec, "admin-generate-pair", POLICY_KIND_OTHER);
}

static enum policy_verdict
d_wrap_key(const struct policy *pol, const struct policy_request *req,
	   struct policy_decision *dec)
{
	const struct policy_object *mk = req->obj, *t = req->target;
	const char *why;

	if (need_login(req, dec) == POLICY_DENY)
		return POLICY_DENY;
	if (req->role != POLICY_ROLE_KEYRING)
		return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "wrap-keyring-only",
		    "only keyring clients wrap; role %s may not", policy_role_name(req->role));
	if (mk == NULL || mk->kind != POLICY_KIND_MASTER)
		return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "wrap-with-master-only",
		    "wrapping is allowed only with a master key");
	if ((why = master_unsafe(mk)) != NULL)
		return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "master-key-protection",
		    "master key \"%s\" %s", mk->label, why);
	if (!policy_client_may_use(req->client, mk->label))
		return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "client-key-patterns",
		    "client %s may not use master key \"%s\"", req->client->name, mk->label);
	if (mk->retired)
		return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "master-key-retired",
		    "master key \"%s\" is retired: it still unwraps but no longer wraps",
		    mk->label);
	if (!wrap_mechanism_ok(req))
		return deny(dec, CKR_MECHANISM_INVALID, "master-key-mechanism",
		    "a master key wraps only with CKM_AES_KEY_WRAP_PAD or CKM_AES_KEY_WRAP "
		    "(no parameter), not %s",
		    req->mech != NULL ? kl_ckm(req->mech->mechanism) : "none");
	if (t == NULL || t->kind != POLICY_KIND_SECRET)
		return deny(dec, CKR_KEY_NOT_WRAPPABLE, "wrap-secrets-only",
		    "a master key wraps only keyring secrets made through keylocker, "
		    "not a %s", t != NULL ? policy_kind_name(t->kind) : "missing key");
	return allow(dec, "keyring-wrap", POLICY_KIND_OTHER);
}

static enum policy_verdict
d_unwrap_key(const struct policy *pol, const struct policy_request *req,
	     struct policy_decision *dec)
{
	const struct policy_object *mk = req->obj;
	const char *why;

	if (need_login(req, dec) == POLICY_DENY)
		return POLICY_DENY;
	if (req->role != POLICY_ROLE_KEYRING)
		return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "unwrap-keyring-only",
		    "only keyring clients unwrap; role %s may not",
		    policy_role_name(req->role));
	if (mk == NULL || mk->kind != POLICY_KIND_MASTER)
		return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "unwrap-with-master-only",
		    "unwrapping is allowed only with a master key");
	if ((why = master_unsafe(mk)) != NULL)
		return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "master-key-protection",
		    "master key \"%s\" %s", mk->label, why);
	if (!policy_client_may_use(req->client, mk->label))
		return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "client-key-patterns",
		    "client %s may not use master key \"%s\"", req->client->name, mk->label);
	if (!wrap_mechanism_ok(req))
		return deny(dec, CKR_MECHANISM_INVALID, "master-key-mechanism",
		    "a master key unwraps only with CKM_AES_KEY_WRAP_PAD or "
		    "CKM_AES_KEY_WRAP (no parameter), not %s",
		    req->mech != NULL ? kl_ckm(req->mech->mechanism) : "none");
	if (check_secret_template(req, dec, 0) == POLICY_DENY)
		return POLICY_DENY;
	return allow(dec, "keyring-unwrap", POLICY_KIND_SECRET);
}

static int
mech_carries_handle(CK_MECHANISM_TYPE m)
{
	/* parameters that name other objects by handle: not translated, refused */
	return m == CKM_CONCATENATE_BASE_AND_KEY || m == CKM_X9_42_DH_HYBRID_DERIVE ||
	    m == CKM_X9_42_MQV_DERIVE || m == CKM_ECMQV_DERIVE;
}

static enum policy_verdict
d_derive_key(const struct policy *pol, const struct policy_request *req,
	     struct policy_decision *dec)
{
	if (need_login(req, dec) == POLICY_DENY)
		return POLICY_DENY;
	if (req->obj != NULL && req->obj->kind != POLICY_KIND_OTHER)
		return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "no-derive-from-protected",
		    "nothing may be derived from a %s", policy_kind_name(req->obj->kind));
	if (req->role != POLICY_ROLE_ADMIN)
		return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "role-derive",
		    "role %s may not derive keys", policy_role_name(req->role));
	if (req->obj == NULL || req->mech == NULL)
		return deny(dec, CKR_KEY_HANDLE_INVALID, "derive", "no base key or mechanism");
	if (mech_carries_handle(req->mech->mechanism))
		return deny(dec, CKR_MECHANISM_INVALID, "derive-mechanism",
		    "%s names a second key by handle: not supported through keylocker",
		    kl_ckm(req->mech->mechanism));
	if (check_no_wrap_usage(req, dec, "C_DeriveKey") == POLICY_DENY)
		return POLICY_DENY;
	return allow(dec, "admin-derive", POLICY_KIND_OTHER);
}

/* C_EncryptInit, C_DecryptInit, C_Sign*Init, C_Verify*Init. */
static enum policy_verdict
d_key_use(const struct policy *pol, const struct policy_request *req,
	  struct policy_decision *dec)
{
	const struct policy_object *k = req->obj;
	int sign = req->fn == POLICY_FN_SIGN_INIT;
	int verify = req->fn == POLICY_FN_VERIFY_INIT;
	const char *why;

	if (need_login(req, dec) == POLICY_DENY)
		return POLICY_DENY;
	if (k == NULL)
		return deny(dec, CKR_KEY_HANDLE_INVALID, "key-use", "no key");

	switch (k->kind) {
	case POLICY_KIND_MASTER:
		return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "master-wrap-only",
		    "master key \"%s\" only wraps and unwraps", k->label);
	case POLICY_KIND_SECRET:
		return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "secret-no-usage",
		    "keyring secrets have no usage");
	case POLICY_KIND_MARKER:
		return deny(dec, CKR_KEY_HANDLE_INVALID, "key-use", "not a key");
	case POLICY_KIND_AUDIT_KEY:
		if (sign)
			return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "audit-key-module-only",
			    "only keylocker itself signs with the audit key");
		if (!verify || !mech_is(req, CKM_SHA256_HMAC) ||
		    (req->role != POLICY_ROLE_AUDITOR && req->role != POLICY_ROLE_ADMIN))
			return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "audit-key-verify",
			    "the audit key only verifies checkpoints (CKM_SHA256_HMAC), "
			    "for auditors and admins");
		if ((why = infra_unsafe(k)) != NULL)
			return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "infra-key-protection",
			    "audit key \"%s\" %s", k->label, why);
		return allow(dec, "audit-verify", POLICY_KIND_OTHER);
	case POLICY_KIND_MAC_KEY:
		if (!(sign || verify) || !mech_is(req, CKM_SHA256_HMAC) ||
		    req->role != POLICY_ROLE_KEYRING)
			return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "mac-key-use",
			    "a store MAC key only signs and verifies with CKM_SHA256_HMAC, "
			    "for keyring clients");
		if (!policy_client_may_use(req->client, k->label))
			return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "client-key-patterns",
			    "client %s may not use key \"%s\"", req->client->name, k->label);
		if ((why = infra_unsafe(k)) != NULL)
			return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "infra-key-protection",
			    "store MAC key \"%s\" %s", k->label, why);
		return allow(dec, "keyring-mac", POLICY_KIND_OTHER);
	case POLICY_KIND_OTHER:
		break;
	}
	if (req->role != POLICY_ROLE_ADMIN)
		return deny(dec, CKR_KEY_FUNCTION_NOT_PERMITTED, "role-key-use",
		    "role %s may use only the keys its role names", policy_role_name(req->role));
	return allow(dec, "admin-key-use", POLICY_KIND_OTHER);
}

static enum policy_verdict
d_digest_init(const struct policy *pol, const struct policy_request *req,
	      struct policy_decision *dec)
{
	if (need_login(req, dec) == POLICY_DENY)
		return POLICY_DENY;
	return allow(dec, "digest", POLICY_KIND_OTHER);
}

static enum policy_verdict
d_digest_key(const struct policy *pol, const struct policy_request *req,
	     struct policy_decision *dec)
{
	if (need_login(req, dec) == POLICY_DENY)
		return POLICY_DENY;
	if (req->obj == NULL || req->obj->kind != POLICY_KIND_OTHER ||
	    req->role != POLICY_ROLE_ADMIN)
		return deny(dec, CKR_KEY_INDIGESTIBLE, "no-digest-key",
		    "digesting a %s would be an oracle on its value",
		    req->obj != NULL ? policy_kind_name(req->obj->kind) : "key");
	return allow(dec, "admin-digest-key", POLICY_KIND_OTHER);
}

/* The attribute types that hold secret key material. */
static int
is_secret_attr(CK_OBJECT_CLASS cls, CK_ATTRIBUTE_TYPE t)
{
	if (cls == CKO_SECRET_KEY)
		return t == CKA_VALUE;
	if (cls == CKO_PRIVATE_KEY)
		return t == CKA_VALUE || t == CKA_PRIVATE_EXPONENT || t == CKA_PRIME_1 ||
		    t == CKA_PRIME_2 || t == CKA_EXPONENT_1 || t == CKA_EXPONENT_2 ||
		    t == CKA_COEFFICIENT;
	return 0;
}

static enum policy_verdict
d_get_attribute(const struct policy *pol, const struct policy_request *req,
		struct policy_decision *dec)
{
	const struct policy_object *o = req->obj;

	if (o == NULL)
		return deny(dec, CKR_OBJECT_HANDLE_INVALID, "read-attr", "no object");
	if (req->role == POLICY_ROLE_NONE && (o->flags & POLICY_F_PRIVATE))
		return deny(dec, CKR_OBJECT_HANDLE_INVALID, "login-required",
		    "private objects are visible only after login");
	if (!is_secret_attr(o->cls, req->attr))
		return allow(dec, "read-public-attr", POLICY_KIND_OTHER);

	if (o->kind == POLICY_KIND_SECRET) {
		if (req->role == POLICY_ROLE_KEYRING && o->own_session)
			return allow(dec, "keyring-read-secret", POLICY_KIND_OTHER);
		return deny(dec, CKR_ATTRIBUTE_SENSITIVE, "secret-owner-only",
		    "a keyring secret is readable only by the session that made it");
	}
	if (is_protected(o))
		return deny(dec, CKR_ATTRIBUTE_SENSITIVE, "protected-never-readable",
		    "the value of %s \"%s\" is never readable", policy_kind_name(o->kind), o->label);
	if (req->role != POLICY_ROLE_ADMIN)
		return deny(dec, CKR_ATTRIBUTE_SENSITIVE, "role-read-value",
		    "role %s may not read key values", policy_role_name(req->role));
	/* admin, other objects: the token's own CKA_SENSITIVE rules apply */
	return allow(dec, "admin-read-attr", POLICY_KIND_OTHER);
}

static enum policy_verdict
d_set_attribute(const struct policy *pol, const struct policy_request *req,
		struct policy_decision *dec)
{
	const struct policy_object *o = req->obj;

	if (need_login(req, dec) == POLICY_DENY)
		return POLICY_DENY;
	if (o == NULL)
		return deny(dec, CKR_OBJECT_HANDLE_INVALID, "set-attr", "no object");
	if (o->kind != POLICY_KIND_OTHER)
		return deny(dec, CKR_ATTRIBUTE_READ_ONLY, "protected-not-modifiable",
		    "%s \"%s\" may not be modified", policy_kind_name(o->kind), o->label);
	if (req->role != POLICY_ROLE_ADMIN)
		return deny(dec, CKR_ACTION_PROHIBITED, "role-modify",
		    "role %s may not modify objects", policy_role_name(req->role));
	if (check_no_downgrade(req, dec, CKR_ATTRIBUTE_READ_ONLY) == POLICY_DENY)
		return POLICY_DENY;
	return allow(dec, "admin-modify", POLICY_KIND_OTHER);
}

static enum policy_verdict
d_copy_object(const struct policy *pol, const struct policy_request *req,
	      struct policy_decision *dec)
{
	const struct policy_object *o = req->obj;

	if (need_login(req, dec) == POLICY_DENY)
		return POLICY_DENY;
	if (o == NULL)
		return deny(dec, CKR_OBJECT_HANDLE_INVALID, "copy", "no object");
	if (o->kind != POLICY_KIND_OTHER)
		return deny(dec, CKR_ACTION_PROHIBITED, "protected-not-copyable",
		    "%s \"%s\" may not be copied", policy_kind_name(o->kind), o->label);
	if (req->role != POLICY_ROLE_ADMIN)
		return deny(dec, CKR_ACTION_PROHIBITED, "role-copy",
		    "role %s may not copy objects", policy_role_name(req->role));
	if (check_no_downgrade(req, dec, CKR_TEMPLATE_INCONSISTENT) == POLICY_DENY)
		return POLICY_DENY;
	return allow(dec, "admin-copy", POLICY_KIND_OTHER);
}

static enum policy_verdict
d_destroy_object(const struct policy *pol, const struct policy_request *req,
		 struct policy_decision *dec)
{
	const struct policy_object *o = req->obj;

	if (need_login(req, dec) == POLICY_DENY)
		return POLICY_DENY;
	if (o == NULL)
		return deny(dec, CKR_OBJECT_HANDLE_INVALID, "destroy", "no object");
	switch (o->kind) {
	case POLICY_KIND_MASTER:
	case POLICY_KIND_AUDIT_KEY:
	case POLICY_KIND_MAC_KEY:
		if (req->role == POLICY_ROLE_ADMIN && pol->allow_destroy_master_keys)
			return allow(dec, "admin-destroy-protected", POLICY_KIND_OTHER);
		return deny(dec, CKR_ACTION_PROHIBITED, "protected-not-destroyable",
		    "%s \"%s\" may not be destroyed: retire it instead "
		    "(`keylocker retire`), or set policy.allow_destroy_master_keys "
		    "for admins", policy_kind_name(o->kind), o->label);
	case POLICY_KIND_SECRET:
		if (req->role == POLICY_ROLE_KEYRING || req->role == POLICY_ROLE_ADMIN)
			return allow(dec, "destroy-secret", POLICY_KIND_OTHER);
		break;
	case POLICY_KIND_MARKER:
	case POLICY_KIND_OTHER:
		if (req->role == POLICY_ROLE_ADMIN)
			return allow(dec, "admin-destroy", POLICY_KIND_OTHER);
		break;
	}
	return deny(dec, CKR_ACTION_PROHIBITED, "role-destroy",
	    "role %s may not destroy a %s", policy_role_name(req->role), policy_kind_name(o->kind));
}

static enum policy_verdict
d_find_objects(const struct policy *pol, const struct policy_request *req,
	       struct policy_decision *dec)
{
	if (req->role == POLICY_ROLE_NONE) {
		dec->public_only = 1;
		return allow(dec, "find-public", POLICY_KIND_OTHER);
	}
	return allow(dec, "find", POLICY_KIND_OTHER);
}

static enum policy_verdict
d_object_size(const struct policy *pol, const struct policy_request *req,
	      struct policy_decision *dec)
{
	if (req->obj == NULL)
		return deny(dec, CKR_OBJECT_HANDLE_INVALID, "object-size", "no object");
	if (req->role == POLICY_ROLE_NONE && (req->obj->flags & POLICY_F_PRIVATE))
		return deny(dec, CKR_OBJECT_HANDLE_INVALID, "login-required",
		    "private objects are visible only after login");
	return allow(dec, "object-size", POLICY_KIND_OTHER);
}

static enum policy_verdict
d_seed_random(const struct policy *pol, const struct policy_request *req,
	      struct policy_decision *dec)
{
	if (need_login(req, dec) == POLICY_DENY)
		return POLICY_DENY;
	if (req->role == POLICY_ROLE_AUDITOR)
		return deny(dec, CKR_ACTION_PROHIBITED, "role-seed", "auditors only list");
	return allow(dec, "seed-random", POLICY_KIND_OTHER);
}

static enum policy_verdict
d_generate_random(const struct policy *pol, const struct policy_request *req,
		  struct policy_decision *dec)
{
	return allow(dec, "random", POLICY_KIND_OTHER);
}

const struct policy_rule policy_rules[] = {
	/* entry point			name			decision		denial returns			public */
	{ POLICY_FN_INIT_TOKEN,		"C_InitToken",		d_not_supported,	CKR_FUNCTION_NOT_SUPPORTED,	0 },
	{ POLICY_FN_INIT_PIN,		"C_InitPIN",		d_not_supported,	CKR_FUNCTION_NOT_SUPPORTED,	0 },
	{ POLICY_FN_SET_PIN,		"C_SetPIN",		d_not_supported,	CKR_FUNCTION_NOT_SUPPORTED,	0 },
	{ POLICY_FN_LOGIN_SO,		"C_Login(CKU_SO)",	d_login_so,		CKR_USER_TYPE_INVALID,		0 },
	{ POLICY_FN_GET_OPERATION_STATE, "C_GetOperationState",	d_not_supported,	CKR_FUNCTION_NOT_SUPPORTED,	0 },
	{ POLICY_FN_SET_OPERATION_STATE, "C_SetOperationState",	d_not_supported,	CKR_FUNCTION_NOT_SUPPORTED,	0 },
	{ POLICY_FN_CREATE_OBJECT,	"C_CreateObject",	d_create_object,	CKR_ACTION_PROHIBITED,		0 },
	{ POLICY_FN_COPY_OBJECT,	"C_CopyObject",		d_copy_object,		CKR_ACTION_PROHIBITED,		0 },
	{ POLICY_FN_DESTROY_OBJECT,	"C_DestroyObject",	d_destroy_object,	CKR_ACTION_PROHIBITED,		0 },
	{ POLICY_FN_GET_OBJECT_SIZE,	"C_GetObjectSize",	d_object_size,		CKR_OBJECT_HANDLE_INVALID,	1 },
	{ POLICY_FN_GET_ATTRIBUTE_VALUE, "C_GetAttributeValue",	d_get_attribute,	CKR_ATTRIBUTE_SENSITIVE,	1 },
	{ POLICY_FN_SET_ATTRIBUTE_VALUE, "C_SetAttributeValue",	d_set_attribute,	CKR_ATTRIBUTE_READ_ONLY,	0 },
	{ POLICY_FN_FIND_OBJECTS_INIT,	"C_FindObjectsInit",	d_find_objects,		CKR_OK,				1 },
	{ POLICY_FN_ENCRYPT_INIT,	"C_EncryptInit",	d_key_use,		CKR_KEY_FUNCTION_NOT_PERMITTED,	0 },
	{ POLICY_FN_DECRYPT_INIT,	"C_DecryptInit",	d_key_use,		CKR_KEY_FUNCTION_NOT_PERMITTED,	0 },
	{ POLICY_FN_DIGEST_INIT,	"C_DigestInit",		d_digest_init,		CKR_USER_NOT_LOGGED_IN,		0 },
	{ POLICY_FN_DIGEST_KEY,		"C_DigestKey",		d_digest_key,		CKR_KEY_INDIGESTIBLE,		0 },
	{ POLICY_FN_SIGN_INIT,		"C_SignInit",		d_key_use,		CKR_KEY_FUNCTION_NOT_PERMITTED,	0 },
	{ POLICY_FN_SIGN_RECOVER_INIT,	"C_SignRecoverInit",	d_key_use,		CKR_KEY_FUNCTION_NOT_PERMITTED,	0 },
	{ POLICY_FN_VERIFY_INIT,	"C_VerifyInit",		d_key_use,		CKR_KEY_FUNCTION_NOT_PERMITTED,	0 },
	{ POLICY_FN_VERIFY_RECOVER_INIT, "C_VerifyRecoverInit",	d_key_use,		CKR_KEY_FUNCTION_NOT_PERMITTED,	0 },
	{ POLICY_FN_GENERATE_KEY,	"C_GenerateKey",	d_generate_key,		CKR_ACTION_PROHIBITED,		0 },
	{ POLICY_FN_GENERATE_KEY_PAIR,	"C_GenerateKeyPair",	d_generate_key_pair,	CKR_ACTION_PROHIBITED,		0 },
	{ POLICY_FN_WRAP_KEY,		"C_WrapKey",		d_wrap_key,		CKR_KEY_FUNCTION_NOT_PERMITTED,	0 },
	{ POLICY_FN_UNWRAP_KEY,		"C_UnwrapKey",		d_unwrap_key,		CKR_KEY_FUNCTION_NOT_PERMITTED,	0 },
	{ POLICY_FN_DERIVE_KEY,		"C_DeriveKey",		d_derive_key,		CKR_KEY_FUNCTION_NOT_PERMITTED,	0 },
	{ POLICY_FN_SEED_RANDOM,	"C_SeedRandom",		d_seed_random,		CKR_USER_NOT_LOGGED_IN,		0 },
	{ POLICY_FN_GENERATE_RANDOM,	"C_GenerateRandom",	d_generate_random,	CKR_OK,				1 },
};
const size_t policy_n_rules = sizeof(policy_rules) / sizeof(policy_rules[0]);

enum policy_verdict
policy_decide(const struct policy *pol, const struct policy_request *req,
	      struct policy_decision *dec)
{
	size_t i;

	memset(dec, 0, sizeof(*dec));
	for (i = 0; i < policy_n_rules; i++) {
		if (policy_rules[i].fn == req->fn)
			break;
	}
	if (i == policy_n_rules || req->fn == POLICY_FN_NONE)
		return deny(dec, CKR_FUNCTION_FAILED, "no-rule",
		    "entry point %d has no policy row", (int)req->fn);
	dec->rv = policy_rules[i].deny_rv;
	if (policy_rules[i].decide(pol, req, dec) != POLICY_ALLOW) {
		dec->verdict = POLICY_DENY;
		if (dec->rv == CKR_OK)
			dec->rv = CKR_FUNCTION_FAILED;	/* a denial never returns OK */
		if (dec->rule == NULL)
			dec->rule = "unnamed";
		return POLICY_DENY;
	}
	return POLICY_ALLOW;
}

/* ---- collision and template building ---------------------------------- */

enum policy_verdict
policy_check_collision(const struct policy_object *protected_keys, size_t n,
		       CK_ATTRIBUTE_PTR tmpl, CK_ULONG n_tmpl, struct policy_decision *dec)
{
	CK_ATTRIBUTE_PTR label = policy_tmpl_find(tmpl, n_tmpl, CKA_LABEL);
	CK_ATTRIBUTE_PTR id = policy_tmpl_find(tmpl, n_tmpl, CKA_ID);
	size_t i;

	for (i = 0; i < n; i++) {
		const struct policy_object *p = &protected_keys[i];
		size_t ll = strlen(p->label);

		if (label != NULL && label->pValue != NULL && ll > 0 &&
		    label->ulValueLen == ll && memcmp(label->pValue, p->label, ll) == 0)
			return deny(dec, CKR_TEMPLATE_INCONSISTENT, "no-label-reuse",
			    "label \"%s\" belongs to %s: no other object may carry it",
			    p->label, policy_kind_name(p->kind));
		if (id != NULL && id->pValue != NULL && p->id_len > 0 &&
		    id->ulValueLen == p->id_len && memcmp(id->pValue, p->id, p->id_len) == 0)
			return deny(dec, CKR_TEMPLATE_INCONSISTENT, "no-id-reuse",
			    "CKA_ID belongs to %s \"%s\": no other object may carry it",
			    policy_kind_name(p->kind), p->label);
	}
	return POLICY_ALLOW;
}

static CK_RV
put(struct policy_template *out, CK_ATTRIBUTE_TYPE t, void *v, CK_ULONG len)
{
	if (out->n >= POLICY_TMPL_MAX)
		return CKR_TEMPLATE_INCONSISTENT;
	out->attrs[out->n].type = t;
	out->attrs[out->n].pValue = v;
	out->attrs[out->n].ulValueLen = len;
	out->n++;
	return CKR_OK;
}

static CK_RV
put_bool(struct policy_template *out, CK_ATTRIBUTE_TYPE t, CK_BBOOL b)
{
	if (out->n >= POLICY_TMPL_MAX)
		return CKR_TEMPLATE_INCONSISTENT;
	out->bools[out->n] = b;
	return put(out, t, &out->bools[out->n], sizeof(CK_BBOOL));
}

static CK_RV
put_ulong(struct policy_template *out, unsigned slot, CK_ATTRIBUTE_TYPE t, CK_ULONG v)
{
	out->ulongs[slot] = v;
	return put(out, t, &out->ulongs[slot], sizeof(CK_ULONG));
}

/* Copy the caller's attributes except the listed (forced) ones. */
static CK_RV
copy_except(struct policy_template *out, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
	    const CK_ATTRIBUTE_TYPE *drop, size_t n_drop, int keep_only_listed)
{
	CK_ULONG i;
	size_t k;
	CK_RV rv;
	int listed;

	for (i = 0; i < n; i++) {
		listed = 0;
		for (k = 0; k < n_drop; k++) {
			if (drop[k] == tmpl[i].type)
				listed = 1;
		}
		if (listed == keep_only_listed &&
		    (rv = put(out, tmpl[i].type, tmpl[i].pValue, tmpl[i].ulValueLen)) != CKR_OK)
			return rv;
	}
	return CKR_OK;
}

#define ADD(expr) do { if ((rv = (expr)) != CKR_OK) return rv; } while (0)

/*
 * CKA_MODIFIABLE and CKA_COPYABLE false go last: SoftHSM2 2.6.1 applies an
 * unwrap template in order and refuses every attribute after the object
 * became unmodifiable (CKR_ATTRIBUTE_READ_ONLY).
 */
static CK_RV
put_fixed_last(struct policy_template *out)
{
	CK_RV rv;

	ADD(put_bool(out, CKA_COPYABLE, CK_FALSE));
	ADD(put_bool(out, CKA_MODIFIABLE, CK_FALSE));
	return CKR_OK;
}

static CK_RV
build_protected(const struct policy_request *req, const unsigned char random_id[16],
		struct policy_template *out, int master)
{
	static const CK_ATTRIBUTE_TYPE keep[] = { CKA_LABEL, CKA_ID };
	CK_RV rv;
	size_t k;

	ADD(copy_except(out, req->tmpl, req->n_tmpl, keep, 2, 1));
	if (policy_tmpl_find(req->tmpl, req->n_tmpl, CKA_ID) == NULL) {
		memcpy(out->id, random_id, sizeof(out->id));
		ADD(put(out, CKA_ID, out->id, sizeof(out->id)));
	}
	ADD(put_ulong(out, 0, CKA_CLASS, CKO_SECRET_KEY));
	ADD(put_ulong(out, 1, CKA_KEY_TYPE, master ? CKK_AES : CKK_GENERIC_SECRET));
	ADD(put_ulong(out, 2, CKA_VALUE_LEN, master ? MASTER_KEY_BYTES : MAC_KEY_BYTES));
	ADD(put_bool(out, CKA_TOKEN, CK_TRUE));
	ADD(put_bool(out, CKA_PRIVATE, CK_TRUE));
	ADD(put_bool(out, CKA_SENSITIVE, CK_TRUE));
	ADD(put_bool(out, CKA_EXTRACTABLE, CK_FALSE));
	for (k = 0; k < sizeof(secret_usage) / sizeof(secret_usage[0]); k++) {
		CK_ATTRIBUTE_TYPE t = secret_usage[k];
		int on = master ? (t == CKA_WRAP || t == CKA_UNWRAP) :
		    (t == CKA_SIGN || t == CKA_VERIFY);
		ADD(put_bool(out, t, on ? CK_TRUE : CK_FALSE));
	}
	return put_fixed_last(out);
}

static CK_RV
build_secret(const struct policy_request *req, struct policy_template *out)
{
	static const CK_ATTRIBUTE_TYPE forced[] = {
		CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_MODIFIABLE,
		CKA_COPYABLE, CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP,
		CKA_UNWRAP, CKA_DERIVE, CKA_SIGN_RECOVER, CKA_VERIFY_RECOVER,
	};
	CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE;
	CK_RV rv;
	size_t k;

	(void)policy_tmpl_bool(req->tmpl, req->n_tmpl, CKA_SENSITIVE, &sensitive);
	(void)policy_tmpl_bool(req->tmpl, req->n_tmpl, CKA_EXTRACTABLE, &extractable);
	ADD(copy_except(out, req->tmpl, req->n_tmpl, forced,
	    sizeof(forced) / sizeof(forced[0]), 0));
	if (policy_tmpl_find(req->tmpl, req->n_tmpl, CKA_CLASS) == NULL)
		ADD(put_ulong(out, 0, CKA_CLASS, CKO_SECRET_KEY));
	if (policy_tmpl_find(req->tmpl, req->n_tmpl, CKA_KEY_TYPE) == NULL)
		ADD(put_ulong(out, 1, CKA_KEY_TYPE, req->mech != NULL &&
		    req->mech->mechanism == CKM_AES_KEY_GEN ? CKK_AES : CKK_GENERIC_SECRET));
	ADD(put_bool(out, CKA_TOKEN, CK_FALSE));
	ADD(put_bool(out, CKA_PRIVATE, CK_TRUE));
	ADD(put_bool(out, CKA_SENSITIVE, sensitive));
	ADD(put_bool(out, CKA_EXTRACTABLE, extractable));
	for (k = 0; k < sizeof(secret_usage) / sizeof(secret_usage[0]); k++)
		ADD(put_bool(out, secret_usage[k], CK_FALSE));
	return put_fixed_last(out);
}

/* Admin's ordinary objects: the caller's template plus WRAP/UNWRAP written out false. */
static CK_RV
build_other(const struct policy_request *req, CK_OBJECT_CLASS cls,
	    struct policy_template *out)
{
	static const CK_ATTRIBUTE_TYPE forced[] = { CKA_WRAP, CKA_UNWRAP };
	CK_RV rv;

	ADD(copy_except(out, req->tmpl, req->n_tmpl, forced, 2, 0));
	if (cls == CKO_SECRET_KEY || cls == CKO_PUBLIC_KEY)
		ADD(put_bool(out, CKA_WRAP, CK_FALSE));
	if (cls == CKO_SECRET_KEY || cls == CKO_PRIVATE_KEY)
		ADD(put_bool(out, CKA_UNWRAP, CK_FALSE));
	return CKR_OK;
}

CK_RV
policy_build_template(const struct policy *pol, const struct policy_request *req,
		      const struct policy_decision *dec, const unsigned char random_id[16],
		      struct policy_template *out)
{
	CK_ULONG cls = CK_UNAVAILABLE_INFORMATION;

	memset(out, 0, sizeof(*out));
	if (dec->verdict != POLICY_ALLOW)
		return CKR_GENERAL_ERROR;
	switch (dec->result_kind) {
	case POLICY_KIND_MASTER:
		return build_protected(req, random_id, out, 1);
	case POLICY_KIND_AUDIT_KEY:
	case POLICY_KIND_MAC_KEY:
		return build_protected(req, random_id, out, 0);
	case POLICY_KIND_SECRET:
		return build_secret(req, out);
	case POLICY_KIND_MARKER:
		return copy_except(out, req->tmpl, req->n_tmpl, NULL, 0, 0);
	case POLICY_KIND_OTHER:
		break;
	}
	switch (req->fn) {
	case POLICY_FN_GENERATE_KEY:
		cls = CKO_SECRET_KEY;
		break;
	case POLICY_FN_GENERATE_KEY_PAIR:
		cls = req->pair_private ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY;
		break;
	case POLICY_FN_COPY_OBJECT:
		cls = req->obj != NULL ? req->obj->cls : CK_UNAVAILABLE_INFORMATION;
		break;
	case POLICY_FN_DERIVE_KEY:
		if (policy_tmpl_ulong(req->tmpl, req->n_tmpl, CKA_CLASS, &cls) != 1)
			cls = CKO_SECRET_KEY;
		break;
	default:
		if (policy_tmpl_ulong(req->tmpl, req->n_tmpl, CKA_CLASS, &cls) != 1)
			cls = CK_UNAVAILABLE_INFORMATION;
		break;
	}
	return build_other(req, cls, out);
}
