/*
 * libFuzzer: the attribute-template checker and the decisions built on it.
 * The input picks a role, an entry point, a mechanism and an object, then
 * spells a template attribute by attribute.  Beyond "no crash", every ALLOW
 * is checked against what the policy promises (see invariants()), so the
 * fuzzer looks for policy holes too: a trap is a finding.
 *
 * Input: role, fn, mech, object, then per attribute: type (an index into
 * types[], or 0xff and 4 raw bytes), length (0xff: CK_UNAVAILABLE_INFORMATION,
 * 0xfe: a NULL value of length 4), and that many value bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *keyring_patterns[] = { "keylocker-master*", "keylocker-store-mac" };
static char *mac_patterns[] = { "keylocker-store-mac*" };
static struct policy_client clients[] = {
	{ "admin", POLICY_ROLE_ADMIN, "", NULL, 0 },
	{ "mysql", POLICY_ROLE_KEYRING, "", keyring_patterns, 2 },
	{ "audit", POLICY_ROLE_AUDITOR, "", NULL, 0 },
};
static struct policy pol = { clients, 3, 0, "keylocker-audit", mac_patterns, 1 };

static const enum policy_fn fns[] = {
	POLICY_FN_CREATE_OBJECT, POLICY_FN_GENERATE_KEY, POLICY_FN_UNWRAP_KEY,
	POLICY_FN_COPY_OBJECT, POLICY_FN_SET_ATTRIBUTE_VALUE, POLICY_FN_DERIVE_KEY,
	POLICY_FN_GENERATE_KEY_PAIR, POLICY_FN_FIND_OBJECTS_INIT, POLICY_FN_WRAP_KEY,
	POLICY_FN_ENCRYPT_INIT, POLICY_FN_DECRYPT_INIT, POLICY_FN_SIGN_INIT,
	POLICY_FN_VERIFY_INIT, POLICY_FN_DESTROY_OBJECT, POLICY_FN_GET_ATTRIBUTE_VALUE,
	POLICY_FN_DIGEST_KEY,
};

static const CK_MECHANISM_TYPE mechs[] = {
	CKM_AES_KEY_GEN, CKM_GENERIC_SECRET_KEY_GEN, CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP,
	CKM_AES_ECB, CKM_AES_CBC, CKM_SHA256_HMAC, CKM_SHA256_KEY_DERIVATION,
	CKM_CONCATENATE_BASE_AND_KEY, CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_RSA_PKCS,
};

static const CK_ATTRIBUTE_TYPE types[] = {
	CKA_CLASS, CKA_KEY_TYPE, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_EXTRACTABLE,
	CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE, CKA_LABEL, CKA_ID, CKA_VALUE,
	CKA_VALUE_LEN, CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP,
	CKA_DERIVE, CKA_SIGN_RECOVER, CKA_VERIFY_RECOVER, CKA_LOCAL, CKA_ALWAYS_SENSITIVE,
	CKA_NEVER_EXTRACTABLE, CKA_TRUSTED, CKA_WRAP_WITH_TRUSTED, CKA_WRAP_TEMPLATE,
	CKA_UNWRAP_TEMPLATE, CKA_ALLOWED_MECHANISMS, CKA_MODULUS_BITS, CKA_START_DATE,
	CKA_APPLICATION,
};

#define OBJ_NONE	8

static void
object_for(uint8_t sel, struct policy_object *o)
{
	memset(o, 0, sizeof(*o));
	o->cls = CKO_SECRET_KEY;
	o->key_type = CKK_AES;
	o->value_len = 32;
	o->flags = POLICY_F_TOKEN | POLICY_F_PRIVATE | POLICY_F_SENSITIVE | POLICY_F_LOCAL |
	    POLICY_F_ALWAYS_SENSITIVE | POLICY_F_NEVER_EXTRACTABLE;
	switch (sel % 8) {
	case 0:		/* a proper master key */
	case 1:		/* a master key that was imported */
		o->flags |= POLICY_F_WRAP | POLICY_F_UNWRAP;
		if (sel % 8 == 1)
			o->flags &= ~POLICY_F_LOCAL;
		strcpy(o->label, "keylocker-master");
		break;
	case 2:		/* a keyring secret of this session */
	case 3:		/* one of another session */
		o->kind = POLICY_KIND_SECRET;
		o->own_session = sel % 8 == 2;
		o->flags = POLICY_F_PRIVATE | POLICY_F_EXTRACTABLE;
		break;
	case 4:		/* an ordinary AES key */
		o->flags |= POLICY_F_ENCRYPT | POLICY_F_DECRYPT;
		strcpy(o->label, "plain");
		break;
	case 5:
		o->key_type = CKK_GENERIC_SECRET;
		o->flags |= POLICY_F_SIGN | POLICY_F_VERIFY;
		strcpy(o->label, "keylocker-audit");
		break;
	case 6:
		o->key_type = CKK_GENERIC_SECRET;
		o->flags |= POLICY_F_SIGN | POLICY_F_VERIFY;
		strcpy(o->label, "keylocker-store-mac");
		break;
	case 7:
		o->cls = CKO_DATA;
		o->key_type = CK_UNAVAILABLE_INFORMATION;
		strcpy(o->label, "keylocker-retired:keylocker-master");
		break;
	}
	o->retired = (sel & 0x80) != 0;
	policy_classify(&pol, o);
}

static int
bool_is(const struct policy_template *t, CK_ATTRIBUTE_TYPE type, CK_BBOOL want)
{
	CK_BBOOL b;

	return policy_tmpl_bool((CK_ATTRIBUTE_PTR)t->attrs, t->n, type, &b) == 1 && b == want;
}

/* What every ALLOW must satisfy; a violation is a policy hole. */
static void
invariants(const struct policy_request *req, const struct policy_decision *dec,
	   const struct policy_object *obj)
{
	static const CK_ATTRIBUTE_TYPE usage[] = { CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN,
	    CKA_VERIFY, CKA_WRAP, CKA_UNWRAP, CKA_DERIVE };
	struct policy_template out;
	unsigned char id[16] = { 0 };
	size_t i;

	if (req->role == POLICY_ROLE_NONE && req->fn != POLICY_FN_FIND_OBJECTS_INIT &&
	    req->fn != POLICY_FN_GET_ATTRIBUTE_VALUE)
		__builtin_trap();
	/* a master key only wraps and unwraps, for a keyring client */
	if (obj != NULL && obj->kind == POLICY_KIND_MASTER) {
		switch (req->fn) {
		case POLICY_FN_WRAP_KEY:
		case POLICY_FN_UNWRAP_KEY:
			if (req->role != POLICY_ROLE_KEYRING || !(obj->flags & POLICY_F_LOCAL) ||
			    (req->fn == POLICY_FN_WRAP_KEY && obj->retired))
				__builtin_trap();
			break;
		case POLICY_FN_FIND_OBJECTS_INIT:
			break;
		case POLICY_FN_GET_ATTRIBUTE_VALUE:
			if (req->attr == CKA_VALUE)
				__builtin_trap();
			break;
		case POLICY_FN_CREATE_OBJECT:
		case POLICY_FN_GENERATE_KEY:
		case POLICY_FN_GENERATE_KEY_PAIR:
			break;		/* these do not act on obj */
		default:
			__builtin_trap();
		}
	}
	if (req->fn == POLICY_FN_WRAP_KEY &&
	    (req->target == NULL || req->target->kind != POLICY_KIND_SECRET))
		__builtin_trap();
	if (req->fn != POLICY_FN_CREATE_OBJECT && req->fn != POLICY_FN_GENERATE_KEY &&
	    req->fn != POLICY_FN_UNWRAP_KEY && req->fn != POLICY_FN_COPY_OBJECT &&
	    req->fn != POLICY_FN_DERIVE_KEY && req->fn != POLICY_FN_GENERATE_KEY_PAIR)
		return;
	if (policy_build_template(&pol, req, dec, id, &out) != CKR_OK)
		return;		/* too large: the gate returns the error */
	if (policy_template_shape(out.attrs, out.n) != CKR_OK)
		__builtin_trap();	/* a forced template is itself well formed */
	switch (dec->result_kind) {
	case POLICY_KIND_SECRET:
		if (req->role != POLICY_ROLE_KEYRING || !bool_is(&out, CKA_TOKEN, CK_FALSE) ||
		    !bool_is(&out, CKA_PRIVATE, CK_TRUE))
			__builtin_trap();
		for (i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
			if (!bool_is(&out, usage[i], CK_FALSE))
				__builtin_trap();
		}
		break;
	case POLICY_KIND_MASTER:
		if (req->role != POLICY_ROLE_ADMIN || !bool_is(&out, CKA_WRAP, CK_TRUE) ||
		    !bool_is(&out, CKA_UNWRAP, CK_TRUE) || !bool_is(&out, CKA_ENCRYPT, CK_FALSE) ||
		    !bool_is(&out, CKA_DECRYPT, CK_FALSE) || !bool_is(&out, CKA_EXTRACTABLE, CK_FALSE) ||
		    !bool_is(&out, CKA_SENSITIVE, CK_TRUE) || !bool_is(&out, CKA_TOKEN, CK_TRUE))
			__builtin_trap();
		break;
	case POLICY_KIND_AUDIT_KEY:
	case POLICY_KIND_MAC_KEY:
		if (req->role != POLICY_ROLE_ADMIN || !bool_is(&out, CKA_WRAP, CK_FALSE) ||
		    !bool_is(&out, CKA_DECRYPT, CK_FALSE) || !bool_is(&out, CKA_EXTRACTABLE, CK_FALSE))
			__builtin_trap();
		break;
	default:
		/* nothing else may come out able to wrap or unwrap */
		if (bool_is(&out, CKA_WRAP, CK_TRUE) || bool_is(&out, CKA_UNWRAP, CK_TRUE))
			__builtin_trap();
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	CK_ATTRIBUTE tmpl[64];
	CK_MECHANISM mech = { 0, NULL, 0 };
	struct policy_object obj, target;
	struct policy_request req;
	struct policy_decision dec;
	size_t off = 4, n = 0;
	uint8_t objsel;

	if (size < 4)
		return 0;
	memset(&req, 0, sizeof(req));
	if (data[0] % 4 != 0) {
		req.client = &clients[data[0] % 4 - 1];
		req.role = req.client->role;
	}
	req.fn = fns[data[1] % (sizeof(fns) / sizeof(fns[0]))];
	mech.mechanism = mechs[data[2] % (sizeof(mechs) / sizeof(mechs[0]))];
	req.mech = &mech;
	objsel = data[3];
	if ((objsel & 0x7f) != OBJ_NONE) {
		object_for(objsel, &obj);
		req.obj = &obj;
	}
	object_for((uint8_t)(objsel >> 4 | (objsel & 0x80)), &target);
	req.target = &target;
	req.pair_private = (data[2] & 0x80) != 0;
	while (off + 2 <= size && n < sizeof(tmpl) / sizeof(tmpl[0])) {
		CK_ATTRIBUTE *a = &tmpl[n++];
		uint8_t t = data[off++], l;

		if (t == 0xff && off + 4 <= size) {
			a->type = (CK_ATTRIBUTE_TYPE)data[off] << 24 | (CK_ATTRIBUTE_TYPE)data[off + 1] << 16 |
			    (CK_ATTRIBUTE_TYPE)data[off + 2] << 8 | data[off + 3];
			off += 4;
		} else {
			a->type = types[t % (sizeof(types) / sizeof(types[0]))];
		}
		if (off >= size) {
			n--;
			break;
		}
		l = data[off++];
		if (l == 0xff) {
			a->pValue = (void *)(data + off);
			a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		} else if (l == 0xfe) {
			a->pValue = NULL;
			a->ulValueLen = 4;
		} else {
			if (l > size - off)
				l = (uint8_t)(size - off);
			a->pValue = (void *)(data + off);
			a->ulValueLen = l;
			off += l;
		}
		req.attr = a->type;
	}
	req.tmpl = n > 0 ? tmpl : NULL;
	req.n_tmpl = n;
	/* the gate refuses a badly shaped template before any decision */
	if (policy_template_shape(req.tmpl, req.n_tmpl) != CKR_OK)
		return 0;
	if (policy_decide(&pol, &req, &dec) == POLICY_ALLOW)
		invariants(&req, &dec, req.obj);
	else if (dec.rv == CKR_OK || dec.rule == NULL)
		__builtin_trap();	/* a refusal always says which rule and what CKR */
	return 0;
}
