/*
 * The attack suite (docs/security.md): PKCS#11 call sequences that extract,
 * replace, alter or destroy keys on a token that allows them.  Each attack
 * runs twice, on fresh `keylocker init` tokens: against bare SoftHSM2 with
 * the token's own user PIN, and through libkeylocker-pkcs11.so with client
 * PINs.  Through keylocker every route must stop, at the call and with the
 * CKR the table below names, keylocker must log and audit the refusal, and
 * the master key must still wrap and unwrap afterwards.  The bare outcome is
 * asserted too: it shows each attack is real, and a SoftHSM2 that changes
 * its behaviour shows up here.
 *
 *   test_attacks             one CUnit test per attack
 *   attacks [--markdown]     the same runs, printed as the table of docs/security.md
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include <openssl/crypto.h>

#include "common/p11names.h"
#include "tests/integration/attacks_lib.h"

#ifndef ATTACKS_MAIN
#include "tests/unit/cutest.h"
#endif

#define RSA_BLOB_MAX	512

/* ---- logging in as the attack's first or second client ----------------------- */

static int logged_second;	/* per child: each attack runs in a fresh fork */

/*
 * Log in as the first (0) or second (1) client; 0, or the route stops.  Bare
 * SoftHSM2 has one user PIN: the same user does every step (a re-login there
 * would only invalidate the attacker's own handles).
 */
static int
as(struct atk_target *t, int second)
{
	CK_RV rv;

	if (second == logged_second || t->pin2 == NULL)
		return 0;
	if ((rv = atk_relogin(t, second ? t->pin2 : t->pin)) != CKR_OK)
		return atk_stop(t, rv, "C_Login as the %s client", second ? "second" : "first"), -1;
	logged_second = second;
	t->master = atk_find_master(t);
	return 0;
}

static void
route(struct atk_target *t, const char *what)
{
	atk_route(t, "%s", what);
	(void)as(t, 0);
}

/* ---- steps ------------------------------------------------------------------- */

/* The victim secret unwrapped from its blob with the master key, as a key object. */
static int
victim(struct atk_target *t, unsigned on, unsigned off, CK_OBJECT_HANDLE *h)
{
	CK_RV rv;

	if ((rv = atk_unwrap_victim(t, on, off, h)) != CKR_OK)
		return atk_stop(t, rv, "C_UnwrapKey(master key, victim blob)"), -1;
	return 0;
}

static int
gen(struct atk_target *t, unsigned on, unsigned off, const char *label, CK_OBJECT_HANDLE *h)
{
	CK_RV rv;

	if ((rv = atk_gen_aes(t, on, off, label, h)) != CKR_OK)
		return atk_stop(t, rv, "C_GenerateKey(AES-256, %s%s%s)",
		    on & ATK_WRAP ? "CKA_WRAP " : "", on & ATK_UNWRAP ? "CKA_UNWRAP " : "",
		    on & ATK_DECRYPT ? "CKA_DECRYPT" : on & ATK_ENCRYPT ? "CKA_ENCRYPT" : ""), -1;
	return 0;
}

static int
set_flags(struct atk_target *t, CK_OBJECT_HANDLE h, unsigned on, unsigned off, const char *what)
{
	struct atk_tmpl tb;
	CK_RV rv;

	atk_tmpl_init(&tb);
	atk_tmpl_flags(&tb, on, off);
	if ((rv = t->fl->C_SetAttributeValue(t->s, h, tb.a, tb.n)) != CKR_OK)
		return atk_stop(t, rv, "C_SetAttributeValue(%s)", what), -1;
	return 0;
}

/* Wrap key with wrapping (KWP), then invert the blob with dec as an AES-ECB oracle. */
static int
wrap_then_decrypt(struct atk_target *t, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
		  CK_OBJECT_HANDLE dec, const char *wname, const char *dname)
{
	unsigned char blob[ATK_BLOB_MAX];
	CK_ULONG len = sizeof(blob);
	CK_RV rv;

	if ((rv = atk_wrap(t, CKM_AES_KEY_WRAP_PAD, wrapping, key, blob, &len)) != CKR_OK)
		return atk_stop(t, rv, "C_WrapKey(KWP, %s, victim)", wname);
	return atk_decrypt_kwp(t, dec, CKM_AES_ECB, blob, len, dname);
}

/* Wrap the victim with a key whose value the attacker knows; unwrap in software. */
static int
wrap_with_known(struct atk_target *t, CK_OBJECT_HANDLE wrapping, const unsigned char *k,
		CK_OBJECT_HANDLE key, const char *wname)
{
	struct atk_soft_key sk;
	unsigned char blob[ATK_BLOB_MAX], out[ATK_BLOB_MAX];
	CK_ULONG len = sizeof(blob);
	size_t outlen = 0;
	CK_RV rv;
	int r;

	if ((rv = atk_wrap(t, CKM_AES_KEY_WRAP_PAD, wrapping, key, blob, &len)) != CKR_OK)
		return atk_stop(t, rv, "C_WrapKey(KWP, %s, victim)", wname);
	memset(&sk, 0, sizeof(sk));
	memcpy(sk.k, k, 32);
	sk.len = 32;
	if (atk_kw_unwrap(1, atk_aes_dec, &sk, blob, len, out, &outlen) != ATK_KW_OK)
		r = atk_stop(t, CKR_OK, "the blob does not unwrap with the known key");
	else
		r = atk_check_victim(t, out, outlen, "unwrapped in software with the known key");
	OPENSSL_cleanse(out, sizeof(out));
	OPENSSL_cleanse(&sk, sizeof(sk));
	return r;
}

/* Read a key's CKA_VALUE and compare it with the victim. */
static int
read_victim(struct atk_target *t, CK_OBJECT_HANDLE h, const char *what)
{
	unsigned char v[ATK_BLOB_MAX];
	CK_ULONG len = sizeof(v);
	CK_RV rv;
	int r;

	if ((rv = atk_read_value(t, h, v, &len)) != CKR_OK)
		return atk_stop(t, rv, "C_GetAttributeValue(%s, CKA_VALUE)", what);
	r = atk_check_victim(t, v, len, what);
	OPENSSL_cleanse(v, sizeof(v));
	return r;
}

static CK_OBJECT_HANDLE
find_one(struct atk_target *t, CK_OBJECT_CLASS cls, const char *label)
{
	CK_ATTRIBUTE q[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;

	if (t->fl->C_FindObjectsInit(t->s, q, 2) != CKR_OK)
		return CK_INVALID_HANDLE;
	if (t->fl->C_FindObjects(t->s, &h, 1, &n) != CKR_OK || n != 1)
		h = CK_INVALID_HANDLE;
	(void)t->fl->C_FindObjectsFinal(t->s);
	return h;
}

/* A token used as an encryption oracle: forge a KWP blob of chosen bytes. */
static const unsigned char chosen8[8] = { 'a', 't', 'k', '-', 'k', 'w', 'p', '!' };

/* The forged blob unwrapped with key: chosen bytes back means forged. */
static int
unwrap_forged(struct atk_target *t, CK_OBJECT_HANDLE key, const unsigned char *blob, size_t len,
	      const char *how)
{
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	unsigned char v[32];
	CK_ULONG vlen = sizeof(v);
	CK_OBJECT_HANDLE h;
	struct atk_tmpl tb;
	CK_RV rv;

	atk_tmpl_init(&tb);
	atk_tmpl_secret(&tb, CKK_GENERIC_SECRET, 0);
	atk_tmpl_flags(&tb, ATK_EXTRACT, ATK_TOKEN | ATK_SENSITIVE);
	if ((rv = t->fl->C_UnwrapKey(t->s, &m, key, (CK_BYTE_PTR)blob, len, tb.a, tb.n,
	    &h)) != CKR_OK)
		return atk_stop(t, rv, "C_UnwrapKey(forged blob)");
	if ((rv = atk_read_value(t, h, v, &vlen)) != CKR_OK)
		return atk_stop(t, rv, "C_GetAttributeValue(forged key, CKA_VALUE)");
	if (vlen >= sizeof(chosen8) && memcmp(v, chosen8, sizeof(chosen8)) == 0)
		return atk_win(t, ATK_REPLACED, "%s: a forged blob unwraps to bytes the "
		    "attacker chose", how);
	return atk_stop(t, CKR_OK, "%s: the forged blob unwrapped to other bytes", how);
}

static int
forge_with_oracle(struct atk_target *t, CK_OBJECT_HANDLE key, const char *keyname,
		  CK_MECHANISM_TYPE mech)
{
	struct atk_p11_oracle o;
	unsigned char blob[32];
	size_t blen = 0;
	char how[160];

	memset(&o, 0, sizeof(o));
	o.t = t;
	o.key = key;
	o.mech = mech;
	o.decrypt = 0;
	if (atk_kw_wrap(1, atk_p11_block, &o, chosen8, sizeof(chosen8), blob, &blen) != ATK_KW_OK)
		return atk_stop(t, o.rv, "%s(%s, %s) as an AES oracle", o.call, kl_ckm(mech),
		    keyname);
	snprintf(how, sizeof(how), "RFC 5649 forged with %lu C_Encrypt(%s, %s) blocks",
	    o.blocks, kl_ckm(mech), keyname);
	return unwrap_forged(t, key, blob, blen, how);
}

/* C_DeriveKey with an *_ENCRYPT_DATA mechanism: one AES block per derived key. */
struct derive_oracle {
	struct atk_target	*t;
	CK_MECHANISM_TYPE	 mech;
	CK_RV			 rv;
	const char		*call;
	unsigned long		 blocks;
};

static int
derive_block(void *arg, const unsigned char in[16], unsigned char out[16])
{
	struct derive_oracle *o = arg;
	struct atk_target *t = o->t;
	CK_KEY_DERIVATION_STRING_DATA sd;
	CK_AES_CBC_ENCRYPT_DATA_PARAMS cp;
	CK_MECHANISM m = { o->mech, NULL, 0 };
	unsigned char data[16];
	CK_ULONG len = 16;
	CK_OBJECT_HANDLE h;
	struct atk_tmpl tb;
	CK_RV rv;

	memcpy(data, in, 16);
	if (o->mech == CKM_AES_CBC_ENCRYPT_DATA) {
		memset(&cp, 0, sizeof(cp));
		cp.data_params = data;
		cp.length = 16;
		m.pParameter = &cp;
		m.ulParameterLen = sizeof(cp);
	} else {
		sd.string_data = data;
		sd.string_data_len = 16;
		m.pParameter = &sd;
		m.ulParameterLen = sizeof(sd);
	}
	atk_tmpl_init(&tb);
	atk_tmpl_secret(&tb, CKK_GENERIC_SECRET, 16);
	atk_tmpl_flags(&tb, ATK_EXTRACT, ATK_TOKEN | ATK_SENSITIVE);
	o->call = "C_DeriveKey";
	if ((rv = t->fl->C_DeriveKey(t->s, &m, t->master, tb.a, tb.n, &h)) == CKR_OK) {
		o->call = "C_GetAttributeValue(derived key, CKA_VALUE)";
		rv = atk_read_value(t, h, out, &len);
		if (rv == CKR_OK && len != 16)
			rv = CKR_DATA_LEN_RANGE;
		(void)t->fl->C_DestroyObject(t->s, h);
	}
	if (rv != CKR_OK) {
		o->rv = rv;
		return -1;
	}
	o->blocks++;
	return 0;
}

static int
forge_with_derive(struct atk_target *t, CK_MECHANISM_TYPE mech)
{
	struct derive_oracle o;
	unsigned char blob[32];
	size_t blen = 0;
	char how[160];

	memset(&o, 0, sizeof(o));
	o.t = t;
	o.mech = mech;
	if (atk_kw_wrap(1, derive_block, &o, chosen8, sizeof(chosen8), blob, &blen) != ATK_KW_OK)
		return atk_stop(t, o.rv, "%s(%s, master key)", o.call, kl_ckm(mech));
	snprintf(how, sizeof(how), "RFC 5649 forged with %lu C_DeriveKey(%s, master key) blocks",
	    o.blocks, kl_ckm(mech));
	return unwrap_forged(t, t->master, blob, blen, how);
}

/* Count objects by label or id; more than one where a protected key is alone means planted. */
static int
check_planted(struct atk_target *t, CK_OBJECT_HANDLE planted, const char *label, int by_id,
	      const char *how)
{
	CK_ULONG n = by_id ? atk_count(t, CK_UNAVAILABLE_INFORMATION, NULL, t->fx->master_id,
	    t->fx->master_id_len) : atk_count(t, CK_UNAVAILABLE_INFORMATION, label, NULL, 0);
	int r;

	if (n >= 2)
		r = atk_win(t, ATK_REPLACED, "%s: %lu objects now carry %s's %s", how,
		    (unsigned long)n, by_id ? KL_TEST_MASTER : label, by_id ? "CKA_ID" : "label");
	else
		r = atk_stop(t, CKR_OK, "%s: %s's %s is still unique", how,
		    by_id ? KL_TEST_MASTER : label, by_id ? "CKA_ID" : "label");
	/* the bare token is the attacker's: tidy it for the later routes */
	(void)t->fl->C_DestroyObject(t->s, planted);
	return r;
}

static int
gen_rsa(struct atk_target *t, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM m = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	static const unsigned char e[] = { 0x01, 0x00, 0x01 };
	struct atk_tmpl tp, tv;
	CK_RV rv;

	atk_tmpl_init(&tp);
	atk_tmpl_ulong(&tp, CKA_MODULUS_BITS, 2048);
	atk_tmpl_bytes(&tp, CKA_PUBLIC_EXPONENT, e, sizeof(e));
	atk_tmpl_flags(&tp, ATK_WRAP | ATK_ENCRYPT, ATK_TOKEN);
	atk_tmpl_init(&tv);
	atk_tmpl_flags(&tv, ATK_DECRYPT | ATK_UNWRAP | ATK_SENSITIVE | ATK_PRIVATE,
	    ATK_TOKEN | ATK_EXTRACT);
	if ((rv = t->fl->C_GenerateKeyPair(t->s, &m, tp.a, tp.n, tv.a, tv.n, pub, priv)) != CKR_OK)
		return atk_stop(t, rv, "C_GenerateKeyPair(RSA-2048, public CKA_WRAP, private "
		    "CKA_DECRYPT)"), -1;
	return 0;
}

/* Wrap the victim with an RSA public key, C_Decrypt the blob with the private key. */
static int
rsa_wrap_decrypt(struct atk_target *t, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv,
		 CK_OBJECT_HANDLE v)
{
	CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
	unsigned char blob[RSA_BLOB_MAX], out[RSA_BLOB_MAX];
	CK_ULONG len = sizeof(blob), outlen = sizeof(out);
	CK_RV rv;
	int r;

	if ((rv = t->fl->C_WrapKey(t->s, &m, pub, v, blob, &len)) != CKR_OK)
		return atk_stop(t, rv, "C_WrapKey(CKM_RSA_PKCS, RSA public key, victim)");
	if ((rv = t->fl->C_DecryptInit(t->s, &m, priv)) != CKR_OK)
		return atk_stop(t, rv, "C_DecryptInit(CKM_RSA_PKCS, RSA private key)");
	if ((rv = t->fl->C_Decrypt(t->s, blob, len, out, &outlen)) != CKR_OK)
		return atk_stop(t, rv, "C_Decrypt(CKM_RSA_PKCS, wrapped victim)");
	r = atk_check_victim(t, out, outlen, "C_Decrypt of the RSA-wrapped victim");
	OPENSSL_cleanse(out, sizeof(out));
	return r;
}

/* ---- the attacks --------------------------------------------------------------- */

/* Tookan a1: a key that wraps and decrypts exports any extractable key in clear. */
static void
a_tookan_a1(struct atk_target *t)
{
	CK_OBJECT_HANDLE v, k;

	route(t, "one key with CKA_WRAP and CKA_DECRYPT (first client)");
	if (victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0 &&
	    gen(t, ATK_WRAP | ATK_DECRYPT, ATK_TOKEN, NULL, &k) == 0)
		wrap_then_decrypt(t, k, v, k, "the new key", "the new key");

	route(t, "the second client makes the wrap/decrypt key and uses it");
	if (as(t, 1) == 0 && gen(t, ATK_WRAP | ATK_DECRYPT, ATK_TOKEN, "atk-a1", &k) == 0 &&
	    as(t, 0) == 0 && victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0)
		wrap_then_decrypt(t, k, v, k, "the second client's key", "the second client's key");

	route(t, "wrap with the master key, decrypt with the master key");
	if (victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0)
		wrap_then_decrypt(t, t->master, v, t->master, "master key", "master key");
}

/* Tookan a2: the same with an RSA pair: wrap with the public key, decrypt with the private. */
static void
a_tookan_a2(struct atk_target *t)
{
	CK_OBJECT_HANDLE v, pub, priv;

	route(t, "RSA pair, wrap with the public key, decrypt with the private key");
	if (victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0 && gen_rsa(t, &pub, &priv) == 0)
		rsa_wrap_decrypt(t, pub, priv, v);

	route(t, "the second client makes the RSA pair, the first wraps with it");
	if (as(t, 1) == 0 && gen_rsa(t, &pub, &priv) == 0 && as(t, 0) == 0 &&
	    victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0)
		rsa_wrap_decrypt(t, pub, priv, v);
}

/* Tookan a3: read the value of a sensitive key. */
static void
a_tookan_a3(struct atk_target *t)
{
	static const char *const labels[] = { KL_TEST_MASTER, KL_TEST_MAC, KL_TEST_AUDIT_KEY };
	unsigned char v[64];
	CK_OBJECT_HANDLE h;
	CK_ULONG len;
	CK_RV rv;
	size_t i;

	for (i = 0; i < 3; i++) {
		atk_route(t, "read CKA_VALUE of %s", labels[i]);
		(void)as(t, 0);
		if ((h = find_one(t, CKO_SECRET_KEY, labels[i])) == CK_INVALID_HANDLE) {
			atk_stop(t, CKR_OBJECT_HANDLE_INVALID, "C_FindObjects(%s)", labels[i]);
			continue;
		}
		len = sizeof(v);
		if ((rv = atk_read_value(t, h, v, &len)) != CKR_OK)
			atk_stop(t, rv, "C_GetAttributeValue(%s, CKA_VALUE)", labels[i]);
		else if (i == 0)
			atk_check_master_value(t, v, len, "CKA_VALUE of the master key");
		else
			atk_win(t, ATK_EXTRACTED, "%lu bytes of %s in clear", (unsigned long)len,
			    labels[i]);
		OPENSSL_cleanse(v, sizeof(v));
	}
	route(t, "the second client reads the master key's CKA_VALUE");
	if (as(t, 1) == 0) {
		len = sizeof(v);
		if ((rv = atk_read_value(t, t->master, v, &len)) != CKR_OK)
			atk_stop(t, rv, "C_GetAttributeValue(master key, CKA_VALUE)");
		else
			atk_check_master_value(t, v, len, "CKA_VALUE of the master key");
		OPENSSL_cleanse(v, sizeof(v));
	}
	route(t, "unwrap the victim as sensitive, read CKA_VALUE");
	if (victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &h) == 0)
		read_victim(t, h, "the sensitive victim");
}

/* Tookan a4: get a non-extractable key out of the token. */
static void
a_tookan_a4(struct atk_target *t)
{
	unsigned char blob[ATK_BLOB_MAX];
	CK_OBJECT_HANDLE v, k;
	CK_ULONG len;
	CK_RV rv;

	route(t, "wrap the master key with itself");
	len = sizeof(blob);
	if ((rv = atk_wrap(t, CKM_AES_KEY_WRAP_PAD, t->master, t->master, blob, &len)) != CKR_OK)
		atk_stop(t, rv, "C_WrapKey(KWP, master key, master key)");
	else
		atk_win(t, ATK_EXTRACTED, "the master key left the token wrapped under itself "
		    "(%lu bytes)", (unsigned long)len);

	route(t, "wrap the master key with a key the attacker made");
	len = sizeof(blob);
	if (gen(t, ATK_WRAP | ATK_DECRYPT, ATK_TOKEN, NULL, &k) == 0) {
		if ((rv = atk_wrap(t, CKM_AES_KEY_WRAP_PAD, k, t->master, blob, &len)) != CKR_OK)
			atk_stop(t, rv, "C_WrapKey(KWP, attacker's key, master key)");
		else
			atk_win(t, ATK_EXTRACTED, "the master key left the token (%lu bytes)",
			    (unsigned long)len);
	}

	route(t, "unwrap the victim as non-extractable, wrap it with the master key");
	len = sizeof(blob);
	if (victim(t, 0, ATK_EXTRACT | ATK_SENSITIVE, &v) == 0) {
		if ((rv = atk_wrap(t, CKM_AES_KEY_WRAP_PAD, t->master, v, blob, &len)) != CKR_OK)
			atk_stop(t, rv, "C_WrapKey(KWP, master key, non-extractable victim)");
		else
			atk_win(t, ATK_EXTRACTED, "a non-extractable key was wrapped");
	}
}

/* Tookan a5: downgrade the attributes that protect a key, then read or wrap it. */
static void
a_tookan_a5(struct atk_target *t)
{
	CK_OBJECT_HANDLE v;

	route(t, "clear CKA_SENSITIVE on the sensitive victim, read it");
	if (victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0 &&
	    set_flags(t, v, 0, ATK_SENSITIVE, "victim, CKA_SENSITIVE=FALSE") == 0)
		read_victim(t, v, "the victim after the downgrade");

	route(t, "set CKA_EXTRACTABLE on the non-extractable victim, wrap it, invert the blob");
	if (victim(t, ATK_SENSITIVE, ATK_EXTRACT, &v) == 0 &&
	    set_flags(t, v, ATK_EXTRACT, 0, "victim, CKA_EXTRACTABLE=TRUE") == 0)
		wrap_then_decrypt(t, t->master, v, t->master, "master key", "master key");

	route(t, "make the master key extractable and not sensitive");
	if (set_flags(t, t->master, ATK_EXTRACT, ATK_SENSITIVE,
	    "master key, CKA_EXTRACTABLE=TRUE CKA_SENSITIVE=FALSE") == 0)
		atk_win(t, ATK_ALTERED, "the master key is now extractable");

	route(t, "the second client downgrades the master key");
	if (as(t, 1) == 0 && set_flags(t, t->master, 0, ATK_SENSITIVE,
	    "master key, CKA_SENSITIVE=FALSE") == 0)
		atk_win(t, ATK_ALTERED, "the master key is no longer sensitive");
}

/* Delaune-Kremer-Steel: conjure a key of known value into the token, then wrap with it. */
static void
a_dks_conjure(struct atk_target *t)
{
	static const unsigned char known[32] = "a key the attacker knows, 32 b.";
	struct atk_p11_oracle o;
	unsigned char blob[48];
	size_t blen = 0;
	CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE v, w, k;
	struct atk_tmpl tb;
	CK_RV rv;

	route(t, "a key with CKA_ENCRYPT and CKA_UNWRAP: encrypt a known key, unwrap it");
	if (victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0 &&
	    gen(t, ATK_ENCRYPT | ATK_UNWRAP, ATK_TOKEN, NULL, &w) == 0) {
		memset(&o, 0, sizeof(o));
		o.t = t;
		o.key = w;
		o.mech = CKM_AES_ECB;
		if (atk_kw_wrap(1, atk_p11_block, &o, known, sizeof(known), blob, &blen) !=
		    ATK_KW_OK) {
			atk_stop(t, o.rv, "%s(CKM_AES_ECB, encrypt/unwrap key)", o.call);
		} else {
			atk_tmpl_init(&tb);
			atk_tmpl_secret(&tb, CKK_AES, 0);
			atk_tmpl_flags(&tb, ATK_WRAP, ATK_TOKEN);
			if ((rv = t->fl->C_UnwrapKey(t->s, &kwp, w, blob, blen, tb.a, tb.n, &k)) !=
			    CKR_OK)
				atk_stop(t, rv, "C_UnwrapKey(encrypt/unwrap key, conjured blob)");
			else
				wrap_with_known(t, k, known, v, "the conjured key");
		}
	}

	route(t, "the second client makes the encrypt/unwrap key, encrypts with it");
	if (as(t, 1) == 0 && gen(t, ATK_ENCRYPT | ATK_UNWRAP, ATK_TOKEN, "atk-dks", &w) == 0) {
		memset(&o, 0, sizeof(o));
		o.t = t;
		o.key = w;
		o.mech = CKM_AES_ECB;
		if (atk_kw_wrap(1, atk_p11_block, &o, known, sizeof(known), blob, &blen) !=
		    ATK_KW_OK) {
			atk_stop(t, o.rv, "%s(CKM_AES_ECB, the second client's key)", o.call);
		} else {
			atk_tmpl_init(&tb);
			atk_tmpl_secret(&tb, CKK_AES, 0);
			atk_tmpl_flags(&tb, ATK_WRAP, ATK_TOKEN);
			if ((rv = t->fl->C_UnwrapKey(t->s, &kwp, w, blob, blen, tb.a, tb.n, &k)) !=
			    CKR_OK)
				atk_stop(t, rv, "C_UnwrapKey(the second client's key, conjured blob)");
			else if (as(t, 0) == 0 &&
			    victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0)
				wrap_with_known(t, k, known, v, "the conjured key");
		}
	}

	route(t, "conjure with the master key as the encryptor");
	(void)forge_with_oracle(t, t->master, "master key", CKM_AES_ECB);

	route(t, "import a known key with CKA_WRAP, wrap the victim with it");
	if (victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0) {
		if ((rv = atk_import_aes(t, known, sizeof(known), ATK_WRAP, ATK_TOKEN, NULL, &k)) !=
		    CKR_OK)
			atk_stop(t, rv, "C_CreateObject(AES, known value, CKA_WRAP)");
		else
			wrap_with_known(t, k, known, v, "the imported key");
	}
}

/* Delaune-Kremer-Steel: unwrap one blob twice, as a wrapping key and as a decrypting key. */
static void
a_dks_reimport(struct atk_target *t)
{
	CK_OBJECT_HANDLE v, a, b;

	route(t, "unwrap the blob as a CKA_WRAP key and as a CKA_DECRYPT key");
	if (victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0 &&
	    victim(t, ATK_WRAP, ATK_TOKEN, &a) == 0 && victim(t, ATK_DECRYPT, ATK_TOKEN, &b) == 0)
		wrap_then_decrypt(t, a, v, b, "handle 1 (wrap)", "handle 2 (decrypt)");

	route(t, "unwrap it twice without usage, then set CKA_WRAP and CKA_DECRYPT");
	if (victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0 &&
	    victim(t, 0, ATK_TOKEN, &a) == 0 && victim(t, 0, ATK_TOKEN, &b) == 0 &&
	    set_flags(t, a, ATK_WRAP, 0, "handle 1, CKA_WRAP=TRUE") == 0 &&
	    set_flags(t, b, ATK_DECRYPT, 0, "handle 2, CKA_DECRYPT=TRUE") == 0)
		wrap_then_decrypt(t, a, v, b, "handle 1 (wrap)", "handle 2 (decrypt)");
}

/* Attributes changed over time: wrap first, then turn the same key into a decryptor. */
static void
a_attr_over_time(struct atk_target *t)
{
	CK_OBJECT_HANDLE v, k;

	route(t, "wrap with a key, then clear CKA_WRAP and set CKA_DECRYPT");
	if (victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0 &&
	    gen(t, ATK_WRAP, ATK_TOKEN | ATK_DECRYPT, NULL, &k) == 0) {
		unsigned char blob[ATK_BLOB_MAX];
		CK_ULONG len = sizeof(blob);
		CK_RV rv;

		if ((rv = atk_wrap(t, CKM_AES_KEY_WRAP_PAD, k, v, blob, &len)) != CKR_OK)
			atk_stop(t, rv, "C_WrapKey(KWP, the key, victim)");
		else if (set_flags(t, k, 0, ATK_WRAP, "the key, CKA_WRAP=FALSE") == 0 &&
		    set_flags(t, k, ATK_DECRYPT, 0, "the key, CKA_DECRYPT=TRUE") == 0)
			atk_decrypt_kwp(t, k, CKM_AES_ECB, blob, len, "the same key");
	}

	route(t, "the second client gives its decrypting key CKA_WRAP");
	if (as(t, 1) == 0 && gen(t, ATK_DECRYPT, ATK_TOKEN | ATK_WRAP, "atk-time", &k) == 0 &&
	    set_flags(t, k, ATK_WRAP, 0, "decrypting key, CKA_WRAP=TRUE") == 0 &&
	    as(t, 0) == 0 && victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0)
		wrap_then_decrypt(t, k, v, k, "the second client's key", "the second client's key");

	route(t, "set CKA_DECRYPT on the master key");
	if (set_flags(t, t->master, ATK_DECRYPT, 0, "master key, CKA_DECRYPT=TRUE") == 0)
		atk_decrypt_kwp(t, t->master, CKM_AES_ECB, t->fx->blob, t->fx->blob_len,
		    "master key");

	route(t, "the second client sets CKA_ENCRYPT on the master key");
	if (as(t, 1) == 0 && set_flags(t, t->master, ATK_ENCRYPT, 0,
	    "master key, CKA_ENCRYPT=TRUE") == 0)
		atk_win(t, ATK_ALTERED, "the master key gained CKA_ENCRYPT");
}

static int
copy(struct atk_target *t, CK_OBJECT_HANDLE h, unsigned on, unsigned off, const char *what,
     CK_OBJECT_HANDLE *out)
{
	struct atk_tmpl tb;
	CK_RV rv;

	atk_tmpl_init(&tb);
	atk_tmpl_flags(&tb, on, off);
	if ((rv = t->fl->C_CopyObject(t->s, h, tb.a, tb.n, out)) != CKR_OK)
		return atk_stop(t, rv, "C_CopyObject(%s)", what), -1;
	return 0;
}

/* C_CopyObject: a copy with the attributes the original may not have. */
static void
a_copy_object(struct atk_target *t)
{
	CK_OBJECT_HANDLE v, c, k;

	route(t, "copy the master key with CKA_DECRYPT");
	if (copy(t, t->master, ATK_DECRYPT, ATK_TOKEN, "master key, CKA_DECRYPT=TRUE", &c) == 0)
		atk_decrypt_kwp(t, c, CKM_AES_ECB, t->fx->blob, t->fx->blob_len,
		    "copy of the master key");

	route(t, "the second client copies the master key as extractable, not sensitive");
	if (as(t, 1) == 0 && copy(t, t->master, ATK_EXTRACT, ATK_SENSITIVE | ATK_TOKEN,
	    "master key, CKA_EXTRACTABLE=TRUE CKA_SENSITIVE=FALSE", &c) == 0) {
		unsigned char val[64];
		CK_ULONG len = sizeof(val);
		CK_RV rv;

		if ((rv = atk_read_value(t, c, val, &len)) != CKR_OK)
			atk_stop(t, rv, "C_GetAttributeValue(copy of the master key, CKA_VALUE)");
		else
			atk_check_master_value(t, val, len, "CKA_VALUE of the copy");
		OPENSSL_cleanse(val, sizeof(val));
	}

	route(t, "copy the victim with CKA_WRAP and CKA_DECRYPT, wrap it with its copy");
	if (victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0 &&
	    copy(t, v, ATK_WRAP | ATK_DECRYPT, 0, "victim, CKA_WRAP=TRUE CKA_DECRYPT=TRUE",
	    &c) == 0)
		wrap_then_decrypt(t, c, v, c, "copy of the victim", "copy of the victim");

	route(t, "copy a wrapping key into a decrypting one");
	if (victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0 &&
	    gen(t, ATK_WRAP, ATK_TOKEN, NULL, &k) == 0 &&
	    copy(t, k, ATK_DECRYPT, ATK_WRAP, "wrapping key, CKA_DECRYPT=TRUE", &c) == 0)
		wrap_then_decrypt(t, k, v, c, "the wrapping key", "its decrypting copy");
}

/* Unwrap with a weakened template: readable, usable, persistent, or by the wrong role. */
static void
a_weak_unwrap(struct atk_target *t)
{
	CK_OBJECT_HANDLE v;

	route(t, "the second client unwraps the victim readable and reads it");
	if (as(t, 1) == 0 && victim(t, ATK_EXTRACT, ATK_SENSITIVE, &v) == 0)
		read_victim(t, v, "victim unwrapped readable");

	route(t, "unwrap readable, the second client reads it in the same session");
	if (victim(t, ATK_EXTRACT, ATK_SENSITIVE, &v) == 0 && as(t, 1) == 0)
		read_victim(t, v, "the first client's unwrapped victim");

	route(t, "unwrap with CKA_WRAP and CKA_DECRYPT, wrap the victim with itself");
	if (victim(t, ATK_WRAP | ATK_DECRYPT | ATK_EXTRACT, 0, &v) == 0)
		wrap_then_decrypt(t, v, v, v, "the victim itself", "the victim itself");

	route(t, "unwrap with a template silent on usage (the token's defaults apply)");
	if (victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0)
		wrap_then_decrypt(t, v, v, v, "the victim itself", "the victim itself");

	route(t, "unwrap as a token object, the second client finds and reads it");
	if (victim(t, ATK_TOKEN | ATK_EXTRACT, ATK_SENSITIVE, &v) == 0 && as(t, 1) == 0) {
		CK_OBJECT_HANDLE h = find_one(t, CKO_SECRET_KEY, "atk-victim");

		if (h == CK_INVALID_HANDLE)
			atk_stop(t, CKR_OBJECT_HANDLE_INVALID, "C_FindObjects(atk-victim)");
		else
			read_victim(t, h, "the persistent victim");
		(void)t->fl->C_DestroyObject(t->s, h);
	}
}

/* The master key as a decryption oracle inverts RFC 5649: every wrapped key. */
static void
a_decrypt_oracle(struct atk_target *t)
{
	static const CK_MECHANISM_TYPE mechs[] = { CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CTR };
	CK_OBJECT_HANDLE k, v;
	size_t i;

	for (i = 0; i < 3; i++) {
		atk_route(t, "%s with the master key as AES^-1", kl_ckm(mechs[i]));
		(void)as(t, 0);
		atk_decrypt_kwp(t, t->master, mechs[i], t->fx->blob, t->fx->blob_len,
		    "master key");
	}
	route(t, "the second client: CKM_AES_ECB with the master key");
	if (as(t, 1) == 0)
		atk_decrypt_kwp(t, t->master, CKM_AES_ECB, t->fx->blob, t->fx->blob_len,
		    "master key");

	/* pkcs11-tool --keygen --key-type AES:32 --usage-wrap: the rest is the token's defaults */
	route(t, "a new master key asking only for CKA_WRAP and CKA_UNWRAP, then AES^-1");
	if (as(t, 1) == 0 && gen(t, ATK_WRAP | ATK_UNWRAP, ATK_TOKEN, "keylocker-master-atk",
	    &k) == 0 && as(t, 0) == 0 && victim(t, ATK_SENSITIVE | ATK_EXTRACT, 0, &v) == 0)
		wrap_then_decrypt(t, k, v, k, "the new master key", "the new master key");
}

/* The master key as an encryption oracle forges blobs it will unwrap. */
static void
a_encrypt_oracle(struct atk_target *t)
{
	static const CK_MECHANISM_TYPE mechs[] = { CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CTR };
	CK_OBJECT_HANDLE k;
	size_t i;

	for (i = 0; i < 3; i++) {
		atk_route(t, "%s with the master key as AES, forge a blob", kl_ckm(mechs[i]));
		(void)as(t, 0);
		forge_with_oracle(t, t->master, "master key", mechs[i]);
	}
	/* pkcs11-tool --keygen --key-type AES:32 --usage-wrap: the rest is the token's defaults */
	route(t, "a new master key asking only for CKA_WRAP and CKA_UNWRAP, then AES");
	if (as(t, 1) == 0 && gen(t, ATK_WRAP | ATK_UNWRAP, ATK_TOKEN, "keylocker-master-atk",
	    &k) == 0 && as(t, 0) == 0)
		forge_with_oracle(t, k, "the new master key", CKM_AES_ECB);
}

/* C_DeriveKey from the master key: *_ENCRYPT_DATA is an encryption oracle. */
static void
a_derive(struct atk_target *t)
{
	route(t, "CKM_AES_ECB_ENCRYPT_DATA from the master key");
	forge_with_derive(t, CKM_AES_ECB_ENCRYPT_DATA);
	route(t, "CKM_AES_CBC_ENCRYPT_DATA from the master key");
	forge_with_derive(t, CKM_AES_CBC_ENCRYPT_DATA);
	route(t, "the second client: CKM_AES_ECB_ENCRYPT_DATA from the master key");
	if (as(t, 1) == 0)
		forge_with_derive(t, CKM_AES_ECB_ENCRYPT_DATA);
}

/* A second key under the master key's label or id: clients would wrap under it. */
static void
a_plant(struct atk_target *t)
{
	static const unsigned char known[32] = "a planted key the attacker knows";
	CK_OBJECT_CLASS data = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_OBJECT_HANDLE h, k;
	struct atk_tmpl tb;
	CK_RV rv;

	route(t, "import a known AES key with CKA_WRAP under the master key's label");
	if ((rv = atk_import_aes(t, known, sizeof(known), ATK_WRAP | ATK_UNWRAP | ATK_TOKEN, 0,
	    KL_TEST_MASTER, &h)) != CKR_OK)
		atk_stop(t, rv, "C_CreateObject(AES, known value, label %s)", KL_TEST_MASTER);
	else
		check_planted(t, h, KL_TEST_MASTER, 0, "imported");

	route(t, "the second client generates a wrapping key under the master key's label");
	if (as(t, 1) == 0) {
		if ((rv = atk_gen_aes(t, ATK_WRAP | ATK_UNWRAP | ATK_TOKEN, 0, KL_TEST_MASTER,
		    &h)) != CKR_OK)
			atk_stop(t, rv, "C_GenerateKey(AES, CKA_WRAP, label %s)", KL_TEST_MASTER);
		else
			check_planted(t, h, KL_TEST_MASTER, 0, "generated");
	}

	route(t, "the second client generates a key with the master key's CKA_ID");
	if (as(t, 1) == 0) {
		atk_tmpl_init(&tb);
		atk_tmpl_secret(&tb, CKK_AES, 32);
		atk_tmpl_flags(&tb, ATK_ENCRYPT | ATK_DECRYPT | ATK_TOKEN, 0);
		atk_tmpl_bytes(&tb, CKA_ID, t->fx->master_id, t->fx->master_id_len);
		{
			CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };

			if ((rv = t->fl->C_GenerateKey(t->s, &m, tb.a, tb.n, &h)) != CKR_OK)
				atk_stop(t, rv, "C_GenerateKey(AES, the master key's CKA_ID)");
			else
				check_planted(t, h, NULL, 1, "generated");
		}
	}

	route(t, "the second client creates a data object under the master key's label");
	if (as(t, 1) == 0) {
		atk_tmpl_init(&tb);
		atk_tmpl_bytes(&tb, CKA_CLASS, &data, sizeof(data));
		atk_tmpl_bytes(&tb, CKA_TOKEN, &yes, sizeof(yes));
		atk_tmpl_bytes(&tb, CKA_LABEL, KL_TEST_MASTER, sizeof(KL_TEST_MASTER) - 1);
		atk_tmpl_bytes(&tb, CKA_VALUE, "x", 1);
		if ((rv = t->fl->C_CreateObject(t->s, tb.a, tb.n, &h)) != CKR_OK)
			atk_stop(t, rv, "C_CreateObject(CKO_DATA, label %s)", KL_TEST_MASTER);
		else
			check_planted(t, h, KL_TEST_MASTER, 0, "created");
	}

	route(t, "the second client copies its own key under the master key's label");
	if (as(t, 1) == 0 && gen(t, ATK_ENCRYPT | ATK_TOKEN, 0, "atk-plain", &k) == 0) {
		atk_tmpl_init(&tb);
		atk_tmpl_bytes(&tb, CKA_LABEL, KL_TEST_MASTER, sizeof(KL_TEST_MASTER) - 1);
		if ((rv = t->fl->C_CopyObject(t->s, k, tb.a, tb.n, &h)) != CKR_OK)
			atk_stop(t, rv, "C_CopyObject(own key, label %s)", KL_TEST_MASTER);
		else
			check_planted(t, h, KL_TEST_MASTER, 0, "copied");
		(void)t->fl->C_DestroyObject(t->s, k);
	}

	route(t, "unwrap the victim as a session key under the master key's label");
	{
		CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
		CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
		CK_KEY_TYPE kt = CKK_AES;
		CK_BBOOL no = CK_FALSE;
		CK_ATTRIBUTE ut[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_KEY_TYPE, &kt, sizeof(kt) },
			{ CKA_TOKEN, &no, sizeof(no) },
			{ CKA_LABEL, (void *)KL_TEST_MASTER, sizeof(KL_TEST_MASTER) - 1 },
		};

		if ((rv = t->fl->C_UnwrapKey(t->s, &m, t->master, (CK_BYTE_PTR)t->fx->blob,
		    t->fx->blob_len, ut, 4, &h)) != CKR_OK)
			atk_stop(t, rv, "C_UnwrapKey(master key, victim blob, label %s)",
			    KL_TEST_MASTER);
		else
			check_planted(t, h, KL_TEST_MASTER, 0, "unwrapped");
	}

	route(t, "import a secret under the store MAC key's label");
	if ((rv = atk_import_aes(t, known, sizeof(known), 0, ATK_TOKEN, KL_TEST_MAC, &h)) !=
	    CKR_OK)
		atk_stop(t, rv, "C_CreateObject(AES, label %s)", KL_TEST_MAC);
	else
		check_planted(t, h, KL_TEST_MAC, 0, "imported");
}

static int
set_bytes(struct atk_target *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, const void *p,
	  size_t len, const char *what)
{
	CK_ATTRIBUTE a = { type, (void *)p, len };
	CK_RV rv;

	if ((rv = t->fl->C_SetAttributeValue(t->s, h, &a, 1)) != CKR_OK)
		return atk_stop(t, rv, "C_SetAttributeValue(%s)", what), -1;
	return 0;
}

/* Relabel the master key (clients lose it), or give another key its label. */
static void
a_relabel(struct atk_target *t)
{
	static const char other[] = "atk-renamed";
	CK_OBJECT_HANDLE h;

	route(t, "the second client relabels the master key");
	if (as(t, 1) == 0 && set_bytes(t, t->master, CKA_LABEL, other, sizeof(other) - 1,
	    "master key, CKA_LABEL") == 0)
		atk_win(t, ATK_ALTERED, "the master key is now labelled %s", other);

	route(t, "the second client changes the master key's CKA_ID");
	if (as(t, 1) == 0 && set_bytes(t, t->master, CKA_ID, "atk", 3,
	    "master key, CKA_ID") == 0)
		atk_win(t, ATK_ALTERED, "the master key's CKA_ID changed");

	route(t, "the first client relabels the master key");
	if (set_bytes(t, t->master, CKA_LABEL, other, sizeof(other) - 1,
	    "master key, CKA_LABEL") == 0)
		atk_win(t, ATK_ALTERED, "the master key is now labelled %s", other);

	route(t, "the second client relabels its own key to the master key's label");
	if (as(t, 1) == 0 && gen(t, ATK_ENCRYPT | ATK_TOKEN, 0, "atk-decoy", &h) == 0 &&
	    set_bytes(t, h, CKA_LABEL, KL_TEST_MASTER, sizeof(KL_TEST_MASTER) - 1,
	    "decoy, CKA_LABEL") == 0)
		check_planted(t, h, KL_TEST_MASTER, 0, "relabelled");
}

static int
destroy(struct atk_target *t, const char *label)
{
	CK_OBJECT_HANDLE h = find_one(t, CKO_SECRET_KEY, label);
	CK_RV rv;

	if (h == CK_INVALID_HANDLE)
		return atk_stop(t, CKR_OBJECT_HANDLE_INVALID, "C_FindObjects(%s)", label);
	if ((rv = t->fl->C_DestroyObject(t->s, h)) != CKR_OK)
		return atk_stop(t, rv, "C_DestroyObject(%s)", label);
	if (atk_count(t, CKO_SECRET_KEY, label, NULL, 0) == 0)
		return atk_win(t, ATK_DESTROYED, "%s is gone", label);
	return atk_stop(t, CKR_OK, "C_DestroyObject(%s) returned CKR_OK, the key is still there",
	    label);
}

/* Destroy the master key (or the keys the store and the audit trail need). */
static void
a_destroy(struct atk_target *t)
{
	route(t, "the first client destroys the store MAC key");
	destroy(t, KL_TEST_MAC);
	route(t, "the first client destroys the audit key");
	destroy(t, KL_TEST_AUDIT_KEY);
	route(t, "the second client destroys the master key");
	if (as(t, 1) == 0)
		destroy(t, KL_TEST_MASTER);
	route(t, "the first client destroys the master key");
	destroy(t, KL_TEST_MASTER);
}

/* ---- the table: attacks, attackers, expected outcomes ------------------------ */

enum { KEYRING, ADMIN, AUDITOR };
static const char *const pins[] = { KL_TEST_KEYRING_PIN, KL_TEST_ADMIN_PIN, KL_TEST_AUDITOR_PIN };
static const char *const who[] = { "keyring", "admin", "auditor" };

struct attack {
	const char	*id;
	const char	*title;
	atk_fn		 fn;
	int		 first, second;		/* keylocker clients (bare: the user PIN) */
	int		 bare;			/* the outcome bare SoftHSM2 gives */
	CK_RV		 kl_rv[ATK_ROUTES_MAX];	/* keylocker: each route's stopping CKR */
	const char	*kl_rules;		/* the rules keylocker logs, in order */
	int		 kl_denies;		/* deny records (routes the backend stops add none) */
};

static const struct attack attacks[] = {
	{ "tookan_a1", "Tookan a1: wrap and decrypt with one symmetric key", a_tookan_a1,
	  KEYRING, ADMIN, ATK_EXTRACTED,
	  { CKR_TEMPLATE_INCONSISTENT, CKR_KEY_FUNCTION_NOT_PERMITTED,
	    CKR_KEY_FUNCTION_NOT_PERMITTED },
	  "secret-no-usage, client-key-patterns, master-wrap-only", 3 },
	{ "tookan_a2", "Tookan a2: wrap with an RSA public key, decrypt with the private key",
	  a_tookan_a2, KEYRING, ADMIN, ATK_EXTRACTED,
	  { CKR_ACTION_PROHIBITED, CKR_KEY_FUNCTION_NOT_PERMITTED },
	  "role-generate, wrap-with-master-only", 2 },
	{ "tookan_a3", "Tookan a3: read a sensitive key's value", a_tookan_a3,
	  KEYRING, ADMIN, ATK_REFUSED,
	  { CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_SENSITIVE,
	    CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_SENSITIVE },
	  "protected-never-readable", 4 },
	{ "tookan_a4", "Tookan a4: get a non-extractable key out", a_tookan_a4,
	  KEYRING, ADMIN, ATK_REFUSED,
	  { CKR_KEY_NOT_WRAPPABLE, CKR_TEMPLATE_INCONSISTENT, CKR_KEY_UNEXTRACTABLE },
	  "wrap-secrets-only, secret-no-usage", 2 },
	{ "tookan_a5", "Tookan a5: downgrade CKA_SENSITIVE / CKA_EXTRACTABLE", a_tookan_a5,
	  KEYRING, ADMIN, ATK_REFUSED,
	  { CKR_ATTRIBUTE_READ_ONLY, CKR_ATTRIBUTE_READ_ONLY, CKR_ATTRIBUTE_READ_ONLY,
	    CKR_ATTRIBUTE_READ_ONLY },
	  "protected-not-modifiable", 4 },
	{ "dks_conjure", "Delaune-Kremer-Steel: encrypt/unwrap key conjuring", a_dks_conjure,
	  KEYRING, ADMIN, ATK_EXTRACTED,
	  { CKR_TEMPLATE_INCONSISTENT, CKR_KEY_FUNCTION_NOT_PERMITTED,
	    CKR_KEY_FUNCTION_NOT_PERMITTED, CKR_TEMPLATE_INCONSISTENT },
	  "secret-no-usage, master-wrap-only, no-new-wrapping-keys", 4 },
	{ "dks_reimport", "Delaune-Kremer-Steel: one blob re-imported under two handles",
	  a_dks_reimport, KEYRING, ADMIN, ATK_EXTRACTED,
	  { CKR_TEMPLATE_INCONSISTENT, CKR_ATTRIBUTE_READ_ONLY },
	  "secret-no-usage, protected-not-modifiable", 2 },
	{ "attr_over_time", "attribute changes over time (wrap, then decrypt)", a_attr_over_time,
	  KEYRING, ADMIN, ATK_EXTRACTED,
	  { CKR_TEMPLATE_INCONSISTENT, CKR_ATTRIBUTE_READ_ONLY, CKR_ATTRIBUTE_READ_ONLY,
	    CKR_ATTRIBUTE_READ_ONLY },
	  "secret-no-usage, no-new-wrapping-keys, protected-not-modifiable", 4 },
	{ "copy_object", "attribute changes through C_CopyObject", a_copy_object,
	  KEYRING, ADMIN, ATK_EXTRACTED,
	  { CKR_ACTION_PROHIBITED, CKR_ACTION_PROHIBITED, CKR_ACTION_PROHIBITED,
	    CKR_TEMPLATE_INCONSISTENT },
	  "protected-not-copyable, secret-no-usage", 4 },
	{ "weak_unwrap", "unwrap with a weakened template", a_weak_unwrap,
	  KEYRING, ADMIN, ATK_EXTRACTED,
	  { CKR_KEY_FUNCTION_NOT_PERMITTED, CKR_OBJECT_HANDLE_INVALID, CKR_TEMPLATE_INCONSISTENT,
	    CKR_KEY_FUNCTION_NOT_PERMITTED, CKR_TEMPLATE_INCONSISTENT },
	  "unwrap-keyring-only, secret-no-usage, wrap-with-master-only, secret-session-only", 4 },
	{ "decrypt_oracle", "master key as a decryption oracle (inverts RFC 5649)",
	  a_decrypt_oracle, KEYRING, ADMIN, ATK_EXTRACTED,
	  { CKR_KEY_FUNCTION_NOT_PERMITTED, CKR_KEY_FUNCTION_NOT_PERMITTED,
	    CKR_KEY_FUNCTION_NOT_PERMITTED, CKR_KEY_FUNCTION_NOT_PERMITTED,
	    CKR_KEY_FUNCTION_NOT_PERMITTED },
	  "master-wrap-only", 5 },
	{ "encrypt_oracle", "master key as an encryption oracle (forges RFC 5649 blobs)",
	  a_encrypt_oracle, KEYRING, ADMIN, ATK_REPLACED,
	  { CKR_KEY_FUNCTION_NOT_PERMITTED, CKR_KEY_FUNCTION_NOT_PERMITTED,
	    CKR_KEY_FUNCTION_NOT_PERMITTED, CKR_KEY_FUNCTION_NOT_PERMITTED },
	  "master-wrap-only", 4 },
	{ "derive", "C_DeriveKey from the master key", a_derive, KEYRING, ADMIN, ATK_REFUSED,
	  { CKR_KEY_FUNCTION_NOT_PERMITTED, CKR_KEY_FUNCTION_NOT_PERMITTED,
	    CKR_KEY_FUNCTION_NOT_PERMITTED },
	  "no-derive-from-protected", 3 },
	{ "plant", "plant a key under the master key's label or id", a_plant,
	  KEYRING, ADMIN, ATK_REPLACED,
	  { CKR_TEMPLATE_INCONSISTENT, CKR_TEMPLATE_INCONSISTENT, CKR_TEMPLATE_INCONSISTENT,
	    CKR_TEMPLATE_INCONSISTENT, CKR_TEMPLATE_INCONSISTENT, CKR_TEMPLATE_INCONSISTENT,
	    CKR_TEMPLATE_INCONSISTENT },
	  "no-new-wrapping-keys, no-label-reuse, no-id-reuse", 7 },
	{ "relabel", "relabel the master key", a_relabel, KEYRING, ADMIN, ATK_REPLACED,
	  { CKR_ATTRIBUTE_READ_ONLY, CKR_ATTRIBUTE_READ_ONLY, CKR_ATTRIBUTE_READ_ONLY,
	    CKR_TEMPLATE_INCONSISTENT },
	  "protected-not-modifiable, no-label-reuse", 4 },
	{ "destroy", "destroy the master key as the keyring client", a_destroy,
	  KEYRING, AUDITOR, ATK_DESTROYED,
	  { CKR_ACTION_PROHIBITED, CKR_ACTION_PROHIBITED, CKR_ACTION_PROHIBITED,
	    CKR_ACTION_PROHIBITED },
	  "protected-not-destroyable", 4 },
};
#define N_ATTACKS	(sizeof(attacks) / sizeof(attacks[0]))

struct result {
	struct atk_report	bare, kl;
	int			master_ok;	/* keylocker's master key after the attack */
	char			master_note[200];
	int			setup_failed;
};

/* Run attack a on fresh tokens: bare SoftHSM2, then keylocker, then the master-key check. */
static void
run_attack(const struct attack *a, struct result *res)
{
	struct atk_attacker bare = { "bare", 1, NULL, NULL };
	struct atk_attacker kl = { who[a->first], 0, pins[a->first], pins[a->second] };
	struct atk_fixture fx;

	memset(res, 0, sizeof(*res));
	if (atk_fixture_init(&fx) != 0) {
		res->setup_failed = 1;
		atk_fixture_cleanup(&fx);
		return;
	}
	atk_run(&fx, &bare, a->fn, &res->bare);
	atk_fixture_cleanup(&fx);
	if (atk_fixture_init(&fx) != 0) {
		res->setup_failed = 1;
		atk_fixture_cleanup(&fx);
		return;
	}
	atk_run(&fx, &kl, a->fn, &res->kl);
	res->master_ok = atk_master_ok(&fx, res->master_note, sizeof(res->master_note)) == 0;
	atk_fixture_cleanup(&fx);
}

static void
print_report(FILE *f, const char *target, const struct atk_report *r)
{
	size_t i;

	fprintf(f, "  %s: %s%s%s\n", target, atk_outcome_name(r->outcome),
	    r->note[0] != '\0' ? " - " : "", r->note);
	for (i = 0; i < r->n_routes; i++)
		fprintf(f, "    route %zu (%s): %s, %s at %s\n", i + 1, r->routes[i].what,
		    atk_outcome_name(r->routes[i].outcome), kl_ckr(r->routes[i].rv),
		    r->routes[i].step);
	if (r->rules[0] != '\0' || r->denies > 0)
		fprintf(f, "    keylocker rules: %s; audit deny records: %d\n", r->rules, r->denies);
}

#ifndef ATTACKS_MAIN

static int
fixture_check(void)
{
	struct atk_fixture fx;
	int r = atk_fixture_init(&fx);

	atk_fixture_cleanup(&fx);
	return r;
}

static void
check_attack(size_t idx)
{
	const struct attack *a = &attacks[idx];
	struct result res;
	size_t i, n = 0;

	run_attack(a, &res);
	fprintf(stderr, "\n%s (%s)\n", a->id, a->title);
	print_report(stderr, "bare SoftHSM2", &res.bare);
	print_report(stderr, "keylocker", &res.kl);
	fprintf(stderr, "  master key afterwards: %s\n", res.master_ok ? "wraps and unwraps" :
	    res.master_note);
	CU_ASSERT_FALSE_FATAL(res.setup_failed);

	/* the attack is real: bare SoftHSM2 gives the recorded outcome */
	CU_ASSERT_EQUAL(res.bare.outcome, a->bare);
	CU_ASSERT_EQUAL(res.bare.n_routes, res.kl.n_routes);

	/* keylocker refuses every route, at the call and with the CKR the table names */
	CU_ASSERT_EQUAL(res.kl.outcome, ATK_REFUSED);
	for (i = 0; i < ATK_ROUTES_MAX && a->kl_rv[i] != 0; i++)
		n++;
	CU_ASSERT_EQUAL(res.kl.n_routes, n);
	for (i = 0; i < res.kl.n_routes && i < n; i++) {
		CU_ASSERT_EQUAL(res.kl.routes[i].outcome, ATK_REFUSED);
		CU_ASSERT_EQUAL(res.kl.routes[i].rv, a->kl_rv[i]);
	}
	/* every policy refusal names its rule in the log and leaves a deny record */
	CU_ASSERT_STRING_EQUAL(res.kl.rules, a->kl_rules);
	CU_ASSERT_EQUAL(res.kl.denies, a->kl_denies);
	/* and the master key still does its job */
	CU_ASSERT(res.master_ok);
}

#define ATTACK_TEST(i) static void test_##i(void) { check_attack(i); }
ATTACK_TEST(0) ATTACK_TEST(1) ATTACK_TEST(2) ATTACK_TEST(3) ATTACK_TEST(4) ATTACK_TEST(5)
ATTACK_TEST(6) ATTACK_TEST(7) ATTACK_TEST(8) ATTACK_TEST(9) ATTACK_TEST(10) ATTACK_TEST(11)
ATTACK_TEST(12) ATTACK_TEST(13) ATTACK_TEST(14) ATTACK_TEST(15)

static const CU_TestFunc tests[] = {
	test_0, test_1, test_2, test_3, test_4, test_5, test_6, test_7, test_8, test_9,
	test_10, test_11, test_12, test_13, test_14, test_15,
};

/* The harness must see a route that gets through: a permissive control attack. */
static void
a_control(struct atk_target *t)
{
	CK_OBJECT_HANDLE v;

	route(t, "the keyring client unwraps the victim readable and reads it (allowed)");
	if (victim(t, ATK_EXTRACT, ATK_SENSITIVE, &v) == 0)
		read_victim(t, v, "victim, read by the keyring client that unwrapped it");
}

static void
test_control(void)
{
	struct atk_attacker kl = { "keyring", 0, KL_TEST_KEYRING_PIN, NULL };
	struct atk_fixture fx;
	struct atk_report rep;

	CU_ASSERT_EQUAL_FATAL(atk_fixture_init(&fx), 0);
	atk_run(&fx, &kl, a_control, &rep);
	print_report(stderr, "control (keylocker)", &rep);
	CU_ASSERT_EQUAL(rep.outcome, ATK_EXTRACTED);
	atk_fixture_cleanup(&fx);
}

void
kl_test_register(void)
{
	char path[96];
	size_t i;

	if (sizeof(tests) / sizeof(tests[0]) != N_ATTACKS)
		abort();	/* one ATTACK_TEST per row */
	kl_test_set_fixture(fixture_check, NULL);
	kl_test_add("/attacks/harness_sees_success", test_control);
	for (i = 0; i < N_ATTACKS; i++) {
		snprintf(path, sizeof(path), "/attacks/%s", attacks[i].id);
		kl_test_add(path, tests[i]);	/* CUnit copies the name */
	}
}

#else /* ATTACKS_MAIN */

/* A route's outcome in a table cell: the proof, or the call that stopped it. */
static void
route_cell(char *buf, size_t len, const struct atk_route *r)
{
	if (r->outcome == ATK_REFUSED && r->rv == CKR_OK)
		snprintf(buf, len, "stopped: %s", r->step);
	else if (r->outcome == ATK_REFUSED)
		snprintf(buf, len, "`%s` at %s", kl_ckr(r->rv), r->step);
	else
		snprintf(buf, len, "**%s**: %s", atk_outcome_name(r->outcome), r->step);
}

/* The summary cell: the outcome, and how many routes got through or where they stopped. */
static void
cell(char *buf, size_t len, const struct atk_report *r, int bare)
{
	size_t i, wins = 0;

	if (r->outcome == ATK_ERROR) {
		snprintf(buf, len, "ERROR: %s", r->note);
		return;
	}
	for (i = 0; i < r->n_routes; i++)
		wins += r->routes[i].outcome != ATK_REFUSED;
	if (r->outcome != ATK_REFUSED) {
		snprintf(buf, len, "**%s** (%zu of %zu routes)", atk_outcome_name(r->outcome),
		    wins, r->n_routes);
		return;
	}
	snprintf(buf, len, "refused%s (%zu routes):", bare ? " by SoftHSM2 itself" : "",
	    r->n_routes);
	for (i = 0; i < r->n_routes; i++) {
		const char *what = r->routes[i].rv == CKR_OK ? "stopped without a CKR" :
		    kl_ckr(r->routes[i].rv);
		size_t used = strlen(buf);

		if (strstr(buf, what) == NULL)	/* each CKR once */
			snprintf(buf + used, len - used, "%s %s", buf[used - 1] == ':' ? "" : ",",
			    what);
	}
}

static struct result results[N_ATTACKS];

int
main(int argc, char **argv)
{
	char b[800], k[800], stamp[64];
	struct utsname u;
	time_t now = time(NULL);
	size_t i, j;
	int markdown = 0, bad = 0, bare_wins = 0;

	if (argc == 2 && strcmp(argv[1], "--markdown") == 0) {
		markdown = 1;
	} else if (argc != 1) {
		fprintf(stderr, "usage: %s [--markdown]\n", argv[0]);
		return 2;
	}
	/* outside ctest: the build this program belongs to, and the tests' strictness */
	setenv("KL_BUILD_DIR", ATTACKS_BUILD_DIR, 0);
	setenv("KEYLOCKER_STRICT", "1", 0);
	for (i = 0; i < N_ATTACKS; i++) {
		run_attack(&attacks[i], &results[i]);
		if (results[i].setup_failed) {
			fprintf(stderr, "%s: the fixture could not be made\n", attacks[i].id);
			return 1;
		}
		if (results[i].kl.outcome != ATK_REFUSED || !results[i].master_ok)
			bad++;
		bare_wins += results[i].bare.outcome != ATK_REFUSED;
	}
	if (!markdown) {
		for (i = 0; i < N_ATTACKS; i++) {
			printf("%s (%s)\n", attacks[i].id, attacks[i].title);
			print_report(stdout, "bare SoftHSM2", &results[i].bare);
			print_report(stdout, "keylocker", &results[i].kl);
			printf("  master key afterwards: %s\n\n", results[i].master_ok ?
			    "wraps and unwraps" : results[i].master_note);
		}
		printf("%zu attacks: %d succeed against bare SoftHSM2, %zu refused by keylocker\n",
		    N_ATTACKS, bare_wins, N_ATTACKS - (size_t)bad);
		return bad == 0 ? 0 : 1;
	}

	if (uname(&u) != 0)
		memset(&u, 0, sizeof(u));
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
	printf("Run of `attacks --markdown` at %s on `%s %s %s %s`: %zu attacks, %d succeed "
	    "against bare SoftHSM2, %zu of %zu refused by keylocker with the master key "
	    "intact.\n\n", stamp, u.sysname, u.release, u.version, u.machine, N_ATTACKS,
	    bare_wins, N_ATTACKS - (size_t)bad, N_ATTACKS);
	printf("| # | attack | bare SoftHSM2 (user PIN) | keylocker (clients) | keylocker rules "
	    "| master key after |\n|---|---|---|---|---|---|\n");
	for (i = 0; i < N_ATTACKS; i++) {
		cell(b, sizeof(b), &results[i].bare, 1);
		cell(k, sizeof(k), &results[i].kl, 0);
		printf("| %zu | %s (`%s`) | %s | %s (%s, %s) | %s | %s |\n", i + 1,
		    attacks[i].title, attacks[i].id, b, k, who[attacks[i].first],
		    who[attacks[i].second], results[i].kl.rules,
		    results[i].master_ok ? "wraps, unwraps" : results[i].master_note);
	}
	printf("\n### Route by route\n");
	for (i = 0; i < N_ATTACKS; i++) {
		const struct result *r = &results[i];

		printf("\n**%zu. %s** (`%s`; keylocker: first client %s, second client %s; "
		    "%d deny records audited)\n\n", i + 1, attacks[i].title, attacks[i].id,
		    who[attacks[i].first], who[attacks[i].second], r->kl.denies);
		printf("| route | bare SoftHSM2 | keylocker |\n|---|---|---|\n");
		for (j = 0; j < r->kl.n_routes || j < r->bare.n_routes; j++) {
			b[0] = k[0] = '\0';
			if (j < r->bare.n_routes)
				route_cell(b, sizeof(b), &r->bare.routes[j]);
			if (j < r->kl.n_routes)
				route_cell(k, sizeof(k), &r->kl.routes[j]);
			printf("| %s | %s | %s |\n", j < r->kl.n_routes ? r->kl.routes[j].what :
			    r->bare.routes[j].what, b, k);
		}
	}
	return bad == 0 ? 0 : 1;
}

#endif /* ATTACKS_MAIN */
