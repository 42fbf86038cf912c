/* Unit tests for policy/: the rules table, each rule, template building, PIN hashes. */
#include "tests/unit/cutest.h"

#include <stdio.h>
#include <string.h>

#include "policy/pin.h"
#include "policy/policy.h"

static char *keyring_patterns[] = { "keylocker-master*", "keylocker-store-mac" };
static char *mac_patterns[] = { "keylocker-store-mac*" };

static struct policy_client clients[] = {
	{ "admin", POLICY_ROLE_ADMIN, "", NULL, 0 },
	{ "mysql", POLICY_ROLE_KEYRING, "", keyring_patterns, 2 },
	{ "audit", POLICY_ROLE_AUDITOR, "", NULL, 0 },
};

static struct policy pol = {
	clients, 3, 0, "keylocker-audit", mac_patterns, 1
};

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

#define MASTER_FLAGS (POLICY_F_TOKEN | POLICY_F_PRIVATE | POLICY_F_SENSITIVE |		\
	POLICY_F_LOCAL | POLICY_F_ALWAYS_SENSITIVE | POLICY_F_NEVER_EXTRACTABLE |	\
	POLICY_F_WRAP | POLICY_F_UNWRAP)

static struct policy_object
master_key(void)
{
	struct policy_object o;

	memset(&o, 0, sizeof(o));
	o.cls = CKO_SECRET_KEY;
	o.key_type = CKK_AES;
	o.value_len = 32;
	strcpy(o.label, "keylocker-master");
	o.id[0] = 0x42;
	o.id_len = 1;
	o.flags = MASTER_FLAGS;
	policy_classify(&pol, &o);
	return o;
}

static struct policy_object
secret(int own)
{
	struct policy_object o;

	memset(&o, 0, sizeof(o));
	o.cls = CKO_SECRET_KEY;
	o.key_type = CKK_GENERIC_SECRET;
	o.value_len = 32;
	o.flags = POLICY_F_PRIVATE | POLICY_F_EXTRACTABLE;
	o.kind = POLICY_KIND_SECRET;
	o.own_session = own;
	return o;
}

static struct policy_request
req_for(enum policy_fn fn, int client)
{
	struct policy_request r;

	memset(&r, 0, sizeof(r));
	r.fn = fn;
	if (client >= 0) {
		r.client = &clients[client];
		r.role = clients[client].role;
	}
	return r;
}

static CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
static CK_MECHANISM ecb = { CKM_AES_ECB, NULL, 0 };
static CK_MECHANISM aesgen = { CKM_AES_KEY_GEN, NULL, 0 };
static CK_MECHANISM gsgen = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
static CK_MECHANISM hmac = { CKM_SHA256_HMAC, NULL, 0 };

/* ---- the table --------------------------------------------------------- */

static void
test_every_fn_has_one_row(void)
{
	int fn, count;
	size_t i;

	for (fn = POLICY_FN_NONE + 1; fn < POLICY_FN_COUNT; fn++) {
		count = 0;
		for (i = 0; i < policy_n_rules; i++)
			count += policy_rules[i].fn == (enum policy_fn)fn;
		if (count != 1)
			fprintf(stderr, "\n  policy_fn %d has %d rows\n", fn, count);
		CU_ASSERT_EQUAL(count, 1);
	}
	CU_ASSERT_EQUAL(policy_n_rules, POLICY_FN_COUNT - 1);
}

/* A zeroed request (not logged in, no object, no template) is denied by every
 * row but the three that serve public callers. */
static void
test_zero_request_denies(void)
{
	struct policy_decision dec;
	struct policy_request req;
	size_t i, allowed = 0;

	for (i = 0; i < policy_n_rules; i++) {
		memset(&req, 0, sizeof(req));
		req.fn = policy_rules[i].fn;
		if (policy_decide(&pol, &req, &dec) == POLICY_ALLOW) {
			allowed++;
			CU_ASSERT(policy_rules[i].public_ok);
		} else {
			CU_ASSERT_NOT_EQUAL(dec.rv, CKR_OK);
			CU_ASSERT_PTR_NOT_NULL(dec.rule);
			CU_ASSERT(dec.detail[0] != '\0');
		}
	}
	/* C_FindObjectsInit (public only) and C_GenerateRandom */
	CU_ASSERT_EQUAL(allowed, 2);
	memset(&req, 0, sizeof(req));
	req.fn = POLICY_FN_FIND_OBJECTS_INIT;
	CU_ASSERT_EQUAL(policy_decide(&pol, &req, &dec), POLICY_ALLOW);
	CU_ASSERT_EQUAL(dec.public_only, 1);
}

static void
test_zero_values_deny(void)
{
	struct policy_decision dec;
	struct policy_request req;

	memset(&dec, 0, sizeof(dec));
	CU_ASSERT_EQUAL(dec.verdict, POLICY_DENY);
	memset(&req, 0, sizeof(req));		/* POLICY_FN_NONE */
	req.role = POLICY_ROLE_ADMIN;
	req.client = &clients[0];
	CU_ASSERT_EQUAL(policy_decide(&pol, &req, &dec), POLICY_DENY);
	CU_ASSERT_STRING_EQUAL(dec.rule, "no-rule");
	req.fn = POLICY_FN_COUNT;
	CU_ASSERT_EQUAL(policy_decide(&pol, &req, &dec), POLICY_DENY);
}

/*
 * The master key, every entry point, every role: only wrap and unwrap by the
 * keyring client, reading public attributes, listing and sizing pass.
 */
static void
test_master_key_matrix(void)
{
	struct policy_object mk = master_key(), sec = secret(1);
	struct policy_decision dec;
	struct policy_request req;
	CK_ATTRIBUTE unwrap_tmpl[] = {
		{ CKA_CLASS, &(CK_OBJECT_CLASS){ CKO_SECRET_KEY }, sizeof(CK_OBJECT_CLASS) },
		{ CKA_KEY_TYPE, &(CK_KEY_TYPE){ CKK_GENERIC_SECRET }, sizeof(CK_KEY_TYPE) },
	};
	CK_MECHANISM *mechs[] = { &kwp, &ecb, &hmac };
	size_t i, m;
	int c;

	CU_ASSERT_EQUAL_FATAL(mk.kind, POLICY_KIND_MASTER);
	for (i = 0; i < policy_n_rules; i++) {
		for (c = -1; c < 3; c++) {
			for (m = 0; m < 3; m++) {
				enum policy_fn fn = policy_rules[i].fn;
				int ok;

				req = req_for(fn, c);
				req.obj = &mk;
				req.target = &sec;
				req.mech = mechs[m];
				req.attr = CKA_VALUE;
				if (fn == POLICY_FN_UNWRAP_KEY) {
					req.tmpl = unwrap_tmpl;
					req.n_tmpl = 2;
				}
				ok = policy_decide(&pol, &req, &dec) == POLICY_ALLOW;
				if (!ok)
					continue;
				if ((fn == POLICY_FN_WRAP_KEY || fn == POLICY_FN_UNWRAP_KEY) &&
				    c == 1 && m == 0)
					continue;
				if (fn == POLICY_FN_FIND_OBJECTS_INIT ||
				    fn == POLICY_FN_GENERATE_RANDOM ||
				    (fn == POLICY_FN_GET_OBJECT_SIZE && c >= 0) ||
				    (fn == POLICY_FN_DIGEST_INIT && c >= 0) ||
				    (fn == POLICY_FN_SEED_RANDOM && c >= 0 && c != 2) ||
				    (fn == POLICY_FN_CREATE_OBJECT && c == 0) ||
				    (fn == POLICY_FN_GENERATE_KEY && c == 0) ||
				    (fn == POLICY_FN_GENERATE_KEY_PAIR && c == 0))
					continue;	/* do not touch the master key */
				fprintf(stderr, "\n  %s allowed for client %d mech %zu (%s)\n",
				    policy_rules[i].name, c, m, dec.rule);
				CU_FAIL("the master key was usable beyond wrap/unwrap");
			}
		}
	}
	/* reading CKA_VALUE is refused, reading its label is not */
	req = req_for(POLICY_FN_GET_ATTRIBUTE_VALUE, 0);
	req.obj = &mk;
	req.attr = CKA_VALUE;
	CU_ASSERT_EQUAL(policy_decide(&pol, &req, &dec), POLICY_DENY);
	CU_ASSERT_EQUAL(dec.rv, CKR_ATTRIBUTE_SENSITIVE);
	req.attr = CKA_LABEL;
	CU_ASSERT_EQUAL(policy_decide(&pol, &req, &dec), POLICY_ALLOW);
}

/* ---- single rules ------------------------------------------------------ */

static void
check(struct policy_request *req, enum policy_verdict want, CK_RV want_rv,
      const char *want_rule)
{
	struct policy_decision dec;
	enum policy_verdict v = policy_decide(&pol, req, &dec);

	if (v != want || (want == POLICY_DENY && (dec.rv != want_rv ||
	    strcmp(dec.rule, want_rule) != 0)))
		fprintf(stderr, "\n  got %s rv=0x%lx rule=%s (%s)\n",
		    v == POLICY_ALLOW ? "allow" : "deny", (unsigned long)dec.rv,
		    dec.rule, dec.detail);
	CU_ASSERT_EQUAL(v, want);
	if (want == POLICY_DENY) {
		CU_ASSERT_EQUAL(dec.rv, want_rv);
		CU_ASSERT_STRING_EQUAL(dec.rule, want_rule);
	}
}

static void
test_wrap_rules(void)
{
	struct policy_object mk = master_key(), sec = secret(1), other = secret(1);
	struct policy_request req = req_for(POLICY_FN_WRAP_KEY, 1);

	req.mech = &kwp;
	req.obj = &mk;
	req.target = &sec;
	check(&req, POLICY_ALLOW, 0, NULL);
	req.mech = &ecb;
	check(&req, POLICY_DENY, CKR_MECHANISM_INVALID, "master-key-mechanism");
	req.mech = &kwp;
	req.target = &mk;		/* wrapping the master key itself */
	check(&req, POLICY_DENY, CKR_KEY_NOT_WRAPPABLE, "wrap-secrets-only");
	other.kind = POLICY_KIND_OTHER;
	req.target = &other;		/* any key keylocker did not make */
	check(&req, POLICY_DENY, CKR_KEY_NOT_WRAPPABLE, "wrap-secrets-only");
	req.target = &sec;
	mk.retired = 1;
	check(&req, POLICY_DENY, CKR_KEY_FUNCTION_NOT_PERMITTED, "master-key-retired");
	mk.retired = 0;
	mk.flags &= ~POLICY_F_LOCAL;	/* imported, not generated */
	check(&req, POLICY_DENY, CKR_KEY_FUNCTION_NOT_PERMITTED, "master-key-protection");
	mk = master_key();
	mk.flags |= POLICY_F_DECRYPT;	/* a wrap/decrypt key (Tookan a1) */
	check(&req, POLICY_DENY, CKR_KEY_FUNCTION_NOT_PERMITTED, "master-key-protection");
	mk = master_key();
	strcpy(mk.label, "someone-elses-key");
	check(&req, POLICY_DENY, CKR_KEY_FUNCTION_NOT_PERMITTED, "client-key-patterns");
	mk = master_key();
	req = req_for(POLICY_FN_WRAP_KEY, 0);	/* admin */
	req.mech = &kwp;
	req.obj = &mk;
	req.target = &sec;
	check(&req, POLICY_DENY, CKR_KEY_FUNCTION_NOT_PERMITTED, "wrap-keyring-only");
}

static void
test_unwrap_template_rules(void)
{
	struct policy_object mk = master_key();
	struct policy_request req = req_for(POLICY_FN_UNWRAP_KEY, 1);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE t[4] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_LABEL, "INNODBKey-1", 11 },
		{ CKA_SENSITIVE, (void *)&no, 1 },
	};

	req.mech = &kwp;
	req.obj = &mk;
	req.tmpl = t;
	req.n_tmpl = 4;
	check(&req, POLICY_ALLOW, 0, NULL);
	mk.retired = 1;			/* retired keys still unwrap */
	check(&req, POLICY_ALLOW, 0, NULL);
	t[3].type = CKA_WRAP;
	t[3].pValue = (void *)&yes;
	check(&req, POLICY_DENY, CKR_TEMPLATE_INCONSISTENT, "secret-no-usage");
	t[3].type = CKA_DECRYPT;
	check(&req, POLICY_DENY, CKR_TEMPLATE_INCONSISTENT, "secret-no-usage");
	t[3].type = CKA_TOKEN;
	check(&req, POLICY_DENY, CKR_TEMPLATE_INCONSISTENT, "secret-session-only");
	t[3].type = CKA_TRUSTED;
	check(&req, POLICY_DENY, CKR_TEMPLATE_INCONSISTENT, "secret-template");
	t[3].type = CKA_VALUE;
	check(&req, POLICY_DENY, CKR_TEMPLATE_INCONSISTENT, "secret-value");
	kt = CKK_RSA;
	t[3].type = CKA_SENSITIVE;
	check(&req, POLICY_DENY, CKR_TEMPLATE_INCONSISTENT, "secret-key-type");
}

static void
test_unwrap_result_template_is_fixed(void)
{
	struct policy_object mk = master_key();
	struct policy_request req = req_for(POLICY_FN_UNWRAP_KEY, 1);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_LABEL, "k", 1 },
	};
	static const CK_ATTRIBUTE_TYPE must_be_false[] = { CKA_ENCRYPT, CKA_DECRYPT,
	    CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP, CKA_DERIVE, CKA_TOKEN,
	    CKA_MODIFIABLE };
	struct policy_decision dec;
	struct policy_template out;
	unsigned char id[16] = { 0 };
	CK_BBOOL b;
	size_t i;

	req.mech = &kwp;
	req.obj = &mk;
	req.tmpl = t;
	req.n_tmpl = 3;
	CU_ASSERT_EQUAL_FATAL(policy_decide(&pol, &req, &dec), POLICY_ALLOW);
	CU_ASSERT_EQUAL(dec.result_kind, POLICY_KIND_SECRET);
	CU_ASSERT_EQUAL_FATAL(policy_build_template(&pol, &req, &dec, id, &out), CKR_OK);
	CU_ASSERT_EQUAL(policy_template_shape(out.attrs, out.n), CKR_OK);
	for (i = 0; i < sizeof(must_be_false) / sizeof(must_be_false[0]); i++) {
		CU_ASSERT_EQUAL(policy_tmpl_bool(out.attrs, out.n, must_be_false[i], &b), 1);
		CU_ASSERT_EQUAL(b, CK_FALSE);
	}
	CU_ASSERT_EQUAL(policy_tmpl_bool(out.attrs, out.n, CKA_PRIVATE, &b), 1);
	CU_ASSERT_EQUAL(b, CK_TRUE);
	CU_ASSERT_EQUAL(policy_tmpl_bool(out.attrs, out.n, CKA_EXTRACTABLE, &b), 1);
	CU_ASSERT_EQUAL(b, CK_TRUE);
	/* SoftHSM2 refuses attributes after CKA_MODIFIABLE false: it must be last */
	CU_ASSERT_EQUAL(out.attrs[out.n - 1].type, CKA_MODIFIABLE);
}

static void
test_admin_keygen_forces_master_template(void)
{
	struct policy_request req = req_for(POLICY_FN_GENERATE_KEY, 0);
	CK_ULONG len = 32;
	/* what pkcs11-tool --keygen --key-type AES:32 asks for */
	CK_ATTRIBUTE t[] = {
		{ CKA_TOKEN, (void *)&yes, 1 },
		{ CKA_ENCRYPT, (void *)&yes, 1 },
		{ CKA_DECRYPT, (void *)&yes, 1 },
		{ CKA_WRAP, (void *)&yes, 1 },
		{ CKA_UNWRAP, (void *)&yes, 1 },
		{ CKA_EXTRACTABLE, (void *)&yes, 1 },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_LABEL, "keylocker-master-2", 18 },
	};
	static const struct { CK_ATTRIBUTE_TYPE t; CK_BBOOL v; } want[] = {
		{ CKA_TOKEN, 1 }, { CKA_PRIVATE, 1 }, { CKA_SENSITIVE, 1 },
		{ CKA_EXTRACTABLE, 0 }, { CKA_MODIFIABLE, 0 }, { CKA_COPYABLE, 0 },
		{ CKA_WRAP, 1 }, { CKA_UNWRAP, 1 }, { CKA_ENCRYPT, 0 }, { CKA_DECRYPT, 0 },
		{ CKA_SIGN, 0 }, { CKA_VERIFY, 0 }, { CKA_DERIVE, 0 },
	};
	struct policy_decision dec;
	struct policy_template out;
	unsigned char id[16];
	CK_ATTRIBUTE_PTR a;
	CK_ULONG kt;
	CK_BBOOL b;
	size_t i;

	memset(id, 0xab, sizeof(id));
	req.mech = &aesgen;
	req.tmpl = t;
	req.n_tmpl = sizeof(t) / sizeof(t[0]);
	CU_ASSERT_EQUAL_FATAL(policy_decide(&pol, &req, &dec), POLICY_ALLOW);
	CU_ASSERT_EQUAL(dec.result_kind, POLICY_KIND_MASTER);
	CU_ASSERT_EQUAL_FATAL(policy_build_template(&pol, &req, &dec, id, &out), CKR_OK);
	CU_ASSERT_EQUAL(policy_template_shape(out.attrs, out.n), CKR_OK);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CU_ASSERT_EQUAL(policy_tmpl_bool(out.attrs, out.n, want[i].t, &b), 1);
		CU_ASSERT_EQUAL(b, want[i].v);
	}
	CU_ASSERT_EQUAL(policy_tmpl_ulong(out.attrs, out.n, CKA_KEY_TYPE, &kt), 1);
	CU_ASSERT_EQUAL(kt, CKK_AES);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a = policy_tmpl_find(out.attrs, out.n, CKA_ID));
	CU_ASSERT_EQUAL(a->ulValueLen, 16);
	CU_ASSERT_EQUAL(memcmp(a->pValue, id, 16), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a = policy_tmpl_find(out.attrs, out.n, CKA_LABEL));
	CU_ASSERT_EQUAL(a->ulValueLen, 18);

	/* wrong mechanism or size, or no label: refused, not forced */
	req.mech = &gsgen;
	check(&req, POLICY_DENY, CKR_MECHANISM_INVALID, "master-key-template");
	req.mech = &aesgen;
	len = 16;
	check(&req, POLICY_DENY, CKR_TEMPLATE_INCONSISTENT, "master-key-template");
	len = 32;
	req.n_tmpl--;			/* drop the label */
	check(&req, POLICY_DENY, CKR_TEMPLATE_INCOMPLETE, "master-key-template");
	/* keyring clients and auditors do not generate master keys */
	req = req_for(POLICY_FN_GENERATE_KEY, 1);
	req.mech = &aesgen;
	req.tmpl = t;
	req.n_tmpl = sizeof(t) / sizeof(t[0]);
	check(&req, POLICY_DENY, CKR_TEMPLATE_INCONSISTENT, "secret-no-usage");
	req = req_for(POLICY_FN_GENERATE_KEY, 2);
	req.mech = &aesgen;
	check(&req, POLICY_DENY, CKR_ACTION_PROHIBITED, "role-generate");
}

static void
test_no_import_of_wrapping_keys(void)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE, "0123456789abcdef0123456789abcdef", 32 },
		{ CKA_UNWRAP, (void *)&yes, 1 },
	};
	struct policy_request req;
	int c;

	for (c = 0; c < 2; c++) {
		req = req_for(POLICY_FN_CREATE_OBJECT, c);
		req.tmpl = t;
		req.n_tmpl = 4;
		check(&req, POLICY_DENY, CKR_TEMPLATE_INCONSISTENT, "no-new-wrapping-keys");
	}
	/* derive and copy may not produce one either */
	req = req_for(POLICY_FN_DERIVE_KEY, 0);
	struct policy_object base = secret(0);
	base.kind = POLICY_KIND_OTHER;
	CK_MECHANISM der = { CKM_SHA256_KEY_DERIVATION, NULL, 0 };
	req.obj = &base;
	req.mech = &der;
	req.tmpl = t + 3;
	req.n_tmpl = 1;
	check(&req, POLICY_DENY, CKR_TEMPLATE_INCONSISTENT, "no-new-wrapping-keys");
	req.fn = POLICY_FN_COPY_OBJECT;
	check(&req, POLICY_DENY, CKR_TEMPLATE_INCONSISTENT, "no-new-wrapping-keys");
	req.fn = POLICY_FN_SET_ATTRIBUTE_VALUE;
	check(&req, POLICY_DENY, CKR_ATTRIBUTE_READ_ONLY, "no-new-wrapping-keys");
}

static void
test_protected_keys_immutable(void)
{
	struct policy_object mk = master_key();
	struct policy_request req;
	CK_ATTRIBUTE relabel = { CKA_LABEL, "x", 1 };
	int c;

	for (c = 0; c < 3; c++) {
		req = req_for(POLICY_FN_SET_ATTRIBUTE_VALUE, c);
		req.obj = &mk;
		req.tmpl = &relabel;
		req.n_tmpl = 1;
		check(&req, POLICY_DENY, CKR_ATTRIBUTE_READ_ONLY, "protected-not-modifiable");
		req.fn = POLICY_FN_COPY_OBJECT;
		check(&req, POLICY_DENY, CKR_ACTION_PROHIBITED, "protected-not-copyable");
		req.fn = POLICY_FN_DESTROY_OBJECT;
		check(&req, POLICY_DENY, CKR_ACTION_PROHIBITED, "protected-not-destroyable");
		req.fn = POLICY_FN_DERIVE_KEY;
		check(&req, POLICY_DENY, CKR_KEY_FUNCTION_NOT_PERMITTED, "no-derive-from-protected");
		req.fn = POLICY_FN_DECRYPT_INIT;
		req.mech = &ecb;
		check(&req, POLICY_DENY, CKR_KEY_FUNCTION_NOT_PERMITTED, "master-wrap-only");
		req.fn = POLICY_FN_ENCRYPT_INIT;
		check(&req, POLICY_DENY, CKR_KEY_FUNCTION_NOT_PERMITTED, "master-wrap-only");
	}
	/* the switch lets admins, and only admins, destroy */
	pol.allow_destroy_master_keys = 1;
	req = req_for(POLICY_FN_DESTROY_OBJECT, 0);
	req.obj = &mk;
	check(&req, POLICY_ALLOW, 0, NULL);
	req = req_for(POLICY_FN_DESTROY_OBJECT, 1);
	req.obj = &mk;
	check(&req, POLICY_DENY, CKR_ACTION_PROHIBITED, "protected-not-destroyable");
	pol.allow_destroy_master_keys = 0;
}

static void
test_infra_keys(void)
{
	struct policy_object ak, mac;
	struct policy_request req;

	memset(&ak, 0, sizeof(ak));
	ak.cls = CKO_SECRET_KEY;
	ak.key_type = CKK_GENERIC_SECRET;
	ak.flags = POLICY_F_TOKEN | POLICY_F_PRIVATE | POLICY_F_SENSITIVE | POLICY_F_LOCAL |
	    POLICY_F_SIGN | POLICY_F_VERIFY;
	mac = ak;
	strcpy(ak.label, "keylocker-audit");
	strcpy(mac.label, "keylocker-store-mac");
	policy_classify(&pol, &ak);
	policy_classify(&pol, &mac);
	CU_ASSERT_EQUAL(ak.kind, POLICY_KIND_AUDIT_KEY);
	CU_ASSERT_EQUAL(mac.kind, POLICY_KIND_MAC_KEY);

	req = req_for(POLICY_FN_SIGN_INIT, 0);	/* nobody signs with the audit key */
	req.obj = &ak;
	req.mech = &hmac;
	check(&req, POLICY_DENY, CKR_KEY_FUNCTION_NOT_PERMITTED, "audit-key-module-only");
	req = req_for(POLICY_FN_VERIFY_INIT, 2);	/* auditors verify */
	req.obj = &ak;
	req.mech = &hmac;
	check(&req, POLICY_ALLOW, 0, NULL);
	req = req_for(POLICY_FN_SIGN_INIT, 1);	/* keyring signs stores */
	req.obj = &mac;
	req.mech = &hmac;
	check(&req, POLICY_ALLOW, 0, NULL);
	req.mech = &ecb;
	check(&req, POLICY_DENY, CKR_KEY_FUNCTION_NOT_PERMITTED, "mac-key-use");
	req = req_for(POLICY_FN_SIGN_INIT, 0);	/* an admin may not forge a store MAC */
	req.obj = &mac;
	req.mech = &hmac;
	check(&req, POLICY_DENY, CKR_KEY_FUNCTION_NOT_PERMITTED, "mac-key-use");
}

static void
test_secret_read_owner_only(void)
{
	struct policy_object mine = secret(1), theirs = secret(0);
	struct policy_request req = req_for(POLICY_FN_GET_ATTRIBUTE_VALUE, 1);

	req.attr = CKA_VALUE;
	req.obj = &mine;
	check(&req, POLICY_ALLOW, 0, NULL);
	req.obj = &theirs;
	check(&req, POLICY_DENY, CKR_ATTRIBUTE_SENSITIVE, "secret-owner-only");
	req = req_for(POLICY_FN_GET_ATTRIBUTE_VALUE, 2);	/* auditors list only */
	req.attr = CKA_VALUE;
	req.obj = &mine;
	check(&req, POLICY_DENY, CKR_ATTRIBUTE_SENSITIVE, "secret-owner-only");
	req.attr = CKA_LABEL;
	check(&req, POLICY_ALLOW, 0, NULL);
	req = req_for(POLICY_FN_GET_ATTRIBUTE_VALUE, -1);	/* not logged in */
	req.obj = &mine;
	req.attr = CKA_LABEL;
	check(&req, POLICY_DENY, CKR_OBJECT_HANDLE_INVALID, "login-required");
}

static void
test_keyring_secret_rules(void)
{
	struct policy_request req = req_for(POLICY_FN_CREATE_OBJECT, 1);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE, "secret", 6 },
		{ CKA_ENCRYPT, (void *)&no, 1 },
	};
	struct policy_object sec = secret(0);

	req.tmpl = t;
	req.n_tmpl = 4;
	check(&req, POLICY_ALLOW, 0, NULL);
	t[3].pValue = (void *)&yes;	/* a secret with a usage: a conjured key */
	check(&req, POLICY_DENY, CKR_TEMPLATE_INCONSISTENT, "secret-no-usage");
	t[3].pValue = (void *)&no;
	req.n_tmpl = 2;			/* no value */
	check(&req, POLICY_DENY, CKR_TEMPLATE_INCOMPLETE, "secret-value");
	/* keyring clients have no other key use */
	req = req_for(POLICY_FN_ENCRYPT_INIT, 1);
	req.obj = &sec;
	req.mech = &ecb;
	check(&req, POLICY_DENY, CKR_KEY_FUNCTION_NOT_PERMITTED, "secret-no-usage");
	sec.kind = POLICY_KIND_OTHER;
	check(&req, POLICY_DENY, CKR_KEY_FUNCTION_NOT_PERMITTED, "role-key-use");
	req = req_for(POLICY_FN_GENERATE_KEY, 1);
	req.mech = &gsgen;
	check(&req, POLICY_ALLOW, 0, NULL);
	req.mech = &ecb;
	check(&req, POLICY_DENY, CKR_MECHANISM_INVALID, "keyring-generate");
}

static void
test_collision(void)
{
	struct policy_object prot[1] = { master_key() };
	struct policy_decision dec;
	unsigned char id = 0x42;
	CK_ATTRIBUTE same_label = { CKA_LABEL, "keylocker-master", 16 };
	CK_ATTRIBUTE prefix_label = { CKA_LABEL, "keylocker-maste", 15 };
	CK_ATTRIBUTE same_id = { CKA_ID, &id, 1 };

	CU_ASSERT_EQUAL(policy_check_collision(prot, 1, &same_label, 1, &dec), POLICY_DENY);
	CU_ASSERT_STRING_EQUAL(dec.rule, "no-label-reuse");
	CU_ASSERT_EQUAL(policy_check_collision(prot, 1, &same_id, 1, &dec), POLICY_DENY);
	CU_ASSERT_STRING_EQUAL(dec.rule, "no-id-reuse");
	CU_ASSERT_EQUAL(policy_check_collision(prot, 1, &prefix_label, 1, &dec), POLICY_ALLOW);
	CU_ASSERT_EQUAL(policy_check_collision(prot, 0, &same_label, 1, &dec), POLICY_ALLOW);
}

static void
test_template_shape(void)
{
	CK_ULONG cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE dup[] = {
		{ CKA_WRAP, (void *)&no, 1 },
		{ CKA_WRAP, (void *)&yes, 1 },	/* policy reads one, a token the other */
	};
	CK_ATTRIBUTE badbool = { CKA_SENSITIVE, &cls, sizeof(cls) };
	CK_ATTRIBUTE badulong = { CKA_CLASS, (void *)&yes, 1 };
	CK_ATTRIBUTE nullval = { CKA_LABEL, NULL, 5 };
	CK_ATTRIBUTE nested = { CKA_UNWRAP_TEMPLATE, dup, sizeof(dup) };
	CK_ATTRIBUTE unavail = { CKA_LABEL, "x", CK_UNAVAILABLE_INFORMATION };

	CU_ASSERT_EQUAL(policy_template_shape(NULL, 0), CKR_OK);
	CU_ASSERT_EQUAL(policy_template_shape(NULL, 1), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(policy_template_shape(dup, 100000), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(policy_template_shape(dup, 2), CKR_TEMPLATE_INCONSISTENT);
	CU_ASSERT_EQUAL(policy_template_shape(&badbool, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	CU_ASSERT_EQUAL(policy_template_shape(&badulong, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	CU_ASSERT_EQUAL(policy_template_shape(&nullval, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	CU_ASSERT_EQUAL(policy_template_shape(&nested, 1), CKR_TEMPLATE_INCONSISTENT);
	CU_ASSERT_EQUAL(policy_template_shape(&unavail, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	CU_ASSERT_EQUAL(policy_template_shape(dup, 1), CKR_OK);
}

static void
test_retire_marker(void)
{
	struct policy_object mk = master_key();
	struct policy_request req = req_for(POLICY_FN_CREATE_OBJECT, 0);
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, "keylocker-retired:keylocker-master", 34 },
		{ CKA_TOKEN, (void *)&yes, 1 },
	};
	struct policy_decision dec;

	req.tmpl = t;
	req.n_tmpl = 3;
	req.obj = &mk;
	CU_ASSERT_EQUAL(policy_decide(&pol, &req, &dec), POLICY_ALLOW);
	CU_ASSERT_EQUAL(dec.result_kind, POLICY_KIND_MARKER);
	req.obj = NULL;			/* no such master key */
	check(&req, POLICY_DENY, CKR_TEMPLATE_INCONSISTENT, "retire-marker");
	req.obj = &mk;
	req = req_for(POLICY_FN_CREATE_OBJECT, 1);	/* keyring may not retire */
	req.tmpl = t;
	req.n_tmpl = 3;
	req.obj = &mk;
	check(&req, POLICY_DENY, CKR_TEMPLATE_INCONSISTENT, "secret-class");
}

static void
test_login_so_refused(void)
{
	struct policy_request req = req_for(POLICY_FN_LOGIN_SO, -1);

	check(&req, POLICY_DENY, CKR_USER_TYPE_INVALID, "no-so-login");
	req = req_for(POLICY_FN_INIT_TOKEN, 0);
	check(&req, POLICY_DENY, CKR_FUNCTION_NOT_SUPPORTED, "not-through-keylocker");
}

/* ---- PIN hashes -------------------------------------------------------- */

static void
test_pin_roundtrip(void)
{
	char h[PIN_HASH_MAX], h2[PIN_HASH_MAX];

	CU_ASSERT_EQUAL_FATAL(policy_pin_hash("1234", 4, 10, h, sizeof(h)), 0);
	CU_ASSERT_PTR_NULL(policy_pin_check(h));
	CU_ASSERT_EQUAL(policy_pin_verify(h, "1234", 4), 1);
	CU_ASSERT_EQUAL(policy_pin_verify(h, "1235", 4), 0);
	CU_ASSERT_EQUAL(policy_pin_verify(h, "12345", 5), 0);
	CU_ASSERT_EQUAL(policy_pin_verify(h, "", 0), 0);
	/* salted: the same PIN hashes differently */
	CU_ASSERT_EQUAL_FATAL(policy_pin_hash("1234", 4, 10, h2, sizeof(h2)), 0);
	CU_ASSERT_STRING_NOT_EQUAL(h, h2);
	CU_ASSERT_EQUAL(policy_pin_hash("1234", 4, 9, h, sizeof(h)), -1);	/* too cheap */
}

/* Hashes made by Python's hashlib.scrypt (an independent implementation). */
static void
test_pin_cross_implementation(void)
{
	CU_ASSERT_EQUAL(policy_pin_verify("$scrypt$ln=10,r=8,p=1$JznkE+DD/JOG+T1U8awpwg==$"
	    "sOb4rzEeP+mcXhvwNd+JepWfS0Z3+9svohrRShZhpdc=", "admin-pin-1", 11), 1);
	CU_ASSERT_EQUAL(policy_pin_verify("$scrypt$ln=10,r=8,p=1$kf41ylt5RQApcDJ/k4XEXQ==$"
	    "FOX5BZVAHfebMHpWrH/7hWRlZRHclOHZh3WUFHVbo0A=", "keyring-pin-1", 13), 1);
	CU_ASSERT_EQUAL(policy_pin_verify("$scrypt$ln=10,r=8,p=1$kf41ylt5RQApcDJ/k4XEXQ==$"
	    "FOX5BZVAHfebMHpWrH/7hWRlZRHclOHZh3WUFHVbo0A=", "admin-pin-1", 11), 0);
}

static void
test_pin_malformed(void)
{
	static const char *const bad[] = {
		"", "1234", "$scrypt$", "$scrypt$ln=10,r=8,p=1$",
		"$scrypt$ln=10,r=8,p=1$JznkE+DD/JOG+T1U8awpwg==$",
		"$scrypt$ln=10,r=8,p=1$short$sOb4rzEeP+mcXhvwNd+JepWfS0Z3+9svohrRShZhpdc=",
		"$scrypt$ln=31,r=8,p=1$JznkE+DD/JOG+T1U8awpwg==$sOb4rzEeP+mcXhvwNd+JepWfS0Z3+9svohrRShZhpdc=",
		"$scrypt$ln=10,r=99,p=1$JznkE+DD/JOG+T1U8awpwg==$sOb4rzEeP+mcXhvwNd+JepWfS0Z3+9svohrRShZhpdc=",
		"$argon2$ln=10,r=8,p=1$JznkE+DD/JOG+T1U8awpwg==$sOb4rzEeP+mcXhvwNd+JepWfS0Z3+9svohrRShZhpdc=",
		"$scrypt$ln=10,r=8,p=1$JznkE+DD/JOG+T1U8awpwg==$sOb4rzEeP+mcXhvwNd+JepWfS0Z3+9svohrRShZh!!!",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_PTR_NOT_NULL(policy_pin_check(bad[i]));
		CU_ASSERT_EQUAL(policy_pin_verify(bad[i], "1234", 4), -1);
	}
}

void
kl_test_register(void)
{
	kl_test_add("/policy/table/every_fn_has_one_row", test_every_fn_has_one_row);
	kl_test_add("/policy/table/zero_request_denies", test_zero_request_denies);
	kl_test_add("/policy/table/zero_values_deny", test_zero_values_deny);
	kl_test_add("/policy/master/only_wrap_unwrap_matrix", test_master_key_matrix);
	kl_test_add("/policy/master/wrap_rules", test_wrap_rules);
	kl_test_add("/policy/master/unwrap_template_rules", test_unwrap_template_rules);
	kl_test_add("/policy/master/unwrap_result_fixed", test_unwrap_result_template_is_fixed);
	kl_test_add("/policy/master/admin_keygen_forced", test_admin_keygen_forces_master_template);
	kl_test_add("/policy/master/no_import_of_wrapping_keys", test_no_import_of_wrapping_keys);
	kl_test_add("/policy/master/immutable", test_protected_keys_immutable);
	kl_test_add("/policy/master/collision", test_collision);
	kl_test_add("/policy/master/retire_marker", test_retire_marker);
	kl_test_add("/policy/infra/audit_and_mac_keys", test_infra_keys);
	kl_test_add("/policy/secret/read_owner_only", test_secret_read_owner_only);
	kl_test_add("/policy/secret/rules", test_keyring_secret_rules);
	kl_test_add("/policy/template/shape", test_template_shape);
	kl_test_add("/policy/login/so_and_admin_functions", test_login_so_refused);
	kl_test_add("/policy/pin/roundtrip", test_pin_roundtrip);
	kl_test_add("/policy/pin/cross_implementation", test_pin_cross_implementation);
	kl_test_add("/policy/pin/malformed", test_pin_malformed);
}
