/* keylocker status, pin-hash and retire. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>

#include "audit/verify.h"
#include "common/p11client.h"
#include "common/p11names.h"
#include "common/util.h"
#include "conf/conf.h"
#include "policy/pin.h"
#include "policy/policy.h"
#include "tools/cli.h"

/* Read what status shows about one object. */
static int
describe(struct kl_p11c *c, CK_OBJECT_HANDLE h, const struct policy *pol,
	 struct policy_object *o)
{
	CK_ATTRIBUTE t[3 + 18 + 2];
	CK_ULONG ul[3] = { CK_UNAVAILABLE_INFORMATION, CK_UNAVAILABLE_INFORMATION, 0 };
	CK_BBOOL b[18];
	size_t i, n = 0;
	CK_RV rv;

	memset(o, 0, sizeof(*o));
	memset(b, 0, sizeof(b));
	t[n].type = CKA_CLASS, t[n].pValue = &ul[0], t[n++].ulValueLen = sizeof(CK_ULONG);
	t[n].type = CKA_KEY_TYPE, t[n].pValue = &ul[1], t[n++].ulValueLen = sizeof(CK_ULONG);
	t[n].type = CKA_VALUE_LEN, t[n].pValue = &ul[2], t[n++].ulValueLen = sizeof(CK_ULONG);
	for (i = 0; i < 18; i++) {
		t[n].type = policy_flag_attrs[i];
		t[n].pValue = &b[i];
		t[n++].ulValueLen = 1;
	}
	t[n].type = CKA_LABEL, t[n].pValue = o->label, t[n++].ulValueLen = POLICY_LABEL_MAX;
	t[n].type = CKA_ID, t[n].pValue = o->id, t[n++].ulValueLen = sizeof(o->id);
	rv = kl_p11c_fl(c)->C_GetAttributeValue(kl_p11c_session(c), h, t, n);
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_ATTRIBUTE_SENSITIVE)
		return -1;
	o->cls = ul[0];
	o->key_type = t[1].ulValueLen == sizeof(CK_ULONG) ? ul[1] : CK_UNAVAILABLE_INFORMATION;
	o->value_len = t[2].ulValueLen == sizeof(CK_ULONG) ? ul[2] : 0;
	for (i = 0; i < 18; i++) {
		if (t[3 + i].ulValueLen == 1 && b[i])
			o->flags |= 1u << i;
	}
	if (t[21].ulValueLen <= POLICY_LABEL_MAX)
		o->label[t[21].ulValueLen] = '\0';
	else
		o->label[0] = '\0';
	o->id_len = t[22].ulValueLen <= sizeof(o->id) ? t[22].ulValueLen : 0;
	policy_classify(pol, o);
	return 0;
}

static void
print_keys(struct kl_p11c *c, const struct policy *pol)
{
	CK_OBJECT_HANDLE keys[256], data[256];
	struct policy_object o, markers[256];
	CK_ULONG nk = 0, nd = 0, i, j;
	size_t nm = 0;
	char id[2 * POLICY_ID_MAX + 1];

	(void)kl_p11c_find(c, CKO_DATA, NULL, data, 256, &nd);
	for (i = 0; i < nd; i++) {
		if (describe(c, data[i], pol, &o) == 0 && o.kind == POLICY_KIND_MARKER)
			markers[nm++] = o;
	}
	if (kl_p11c_find(c, CKO_SECRET_KEY, NULL, keys, 256, &nk) != CKR_OK || nk == 0) {
		printf("    (no secret keys)\n");
		return;
	}
	for (i = 0; i < nk; i++) {
		int retired = 0;

		if (describe(c, keys[i], pol, &o) != 0)
			continue;
		for (j = 0; j < nm; j++) {
			if (strcmp(markers[j].label + sizeof(POLICY_RETIRED_PREFIX) - 1,
			    o.label) == 0)
				retired = 1;
		}
		kl_hex_encode(o.id, o.id_len, id, sizeof(id));
		printf("    %-24s %-13s %s-%lu  usage:%s%s%s%s%s%s%s\n", o.label,
		    o.kind == POLICY_KIND_MARKER ? "retirement" : o.kind == POLICY_KIND_OTHER ? "other" : policy_kind_name(o.kind), o.key_type == CKK_AES ? "AES" : "secret",
		    (unsigned long)o.value_len * 8,
		    o.flags & POLICY_F_WRAP ? " wrap" : "", o.flags & POLICY_F_UNWRAP ? " unwrap" : "",
		    o.flags & POLICY_F_ENCRYPT ? " encrypt" : "",
		    o.flags & POLICY_F_DECRYPT ? " decrypt" : "",
		    o.flags & POLICY_F_SIGN ? " sign" : "", o.flags & POLICY_F_VERIFY ? " verify" : "",
		    o.flags & POLICY_F_DERIVE ? " derive" : "");
		printf("    %-24s %s%s%s%s%s  id %s%s\n", "",
		    o.flags & POLICY_F_SENSITIVE ? "sensitive" : "NOT sensitive",
		    o.flags & POLICY_F_NEVER_EXTRACTABLE ? ", never extractable" :
		    o.flags & POLICY_F_EXTRACTABLE ? ", EXTRACTABLE" : ", not extractable",
		    o.flags & POLICY_F_LOCAL ? ", generated in the token" : ", IMPORTED",
		    o.flags & POLICY_F_MODIFIABLE ? ", modifiable" : ", not modifiable",
		    o.flags & POLICY_F_TOKEN ? "" : ", session object",
		    id[0] != '\0' ? id : "-", o.kind == POLICY_KIND_MASTER ?
		    (retired ? "  RETIRED (unwraps only)" : "  active") : "");
	}
}

static void
print_audit(const struct kl_conf *conf)
{
	char path[4200], line[256];
	struct stat st;
	FILE *f;
	size_t i;

	printf("audit (key %s, checkpoint every %u records or %u s, sync every %u ms, %s)\n",
	    conf->policy.audit_key, conf->checkpoint_every, conf->checkpoint_seconds,
	    conf->sync_interval_ms, conf->audit_fail_closed ? "fail-closed" : "fail-open");
	for (i = 0; i < conf->n_sinks; i++) {
		const struct conf_sink *s = &conf->sinks[i];

		if (s->type == CONF_SINK_FILE) {
			if (stat(s->path, &st) == 0)
				printf("  file    %s (%lld bytes)\n", s->path, (long long)st.st_size);
			else
				printf("  file    %s (not created yet)\n", s->path);
		} else {
			printf("  syslog  %s via %s%s\n", s->ident, s->path,
			    stat(s->path, &st) == 0 ? "" : " (socket missing)");
		}
	}
	snprintf(path, sizeof(path), "%s/audit.head", conf->state_dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL)
			printf("  durable %s", line);
		fclose(f);
	}
	/* a failing sink is recorded in the ones that work: the latest such record */
	for (i = 0; i < conf->n_sinks; i++) {
		int r;

		if (conf->sinks[i].type != CONF_SINK_FILE ||
		    (r = audit_last_sink_event(conf->sinks[i].path, line, sizeof(line))) < 0)
			continue;
		if (r == 1)
			printf("  sinks   last %s\n", line);
		break;
	}
}

int
cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pin-file", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kl_secret pin = { NULL, 0 };
	struct kl_conf *conf = NULL;
	struct kl_p11c *c = NULL;
	CK_TOKEN_INFO ti;
	const char *pin_file = NULL;
	char err[1024], serial[17];
	size_t i, j;
	int ch, have_pin;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'p') {
			pin_file = optarg;
		} else {
			fprintf(ch == 'h' ? stdout : stderr, "usage: keylocker status "
			    "[--pin-file F]   (or KEYLOCKER_PIN: a client PIN to list keys)\n");
			return ch == 'h' ? EXIT_OK : EXIT_USAGE;
		}
	}
	if (conf_load_file(NULL, &conf, err, sizeof(err)) != 0)
		return cli_fail("%s", err);
	printf("configuration %s\nbackend       %s\n", conf->source, conf->module);
	have_pin = pin_file != NULL || getenv("KEYLOCKER_PIN") != NULL;
	if (have_pin && cli_get_pin(NULL, pin_file, "KEYLOCKER_PIN", "", 0, &pin) != 0)
		have_pin = 0;
	for (i = 0; i < conf->n_tokens; i++) {
		const struct conf_token *t = &conf->tokens[i];

		printf("token         %s (backend token \"%s\", PIN from %s)\n", t->label,
		    t->backend_label, t->pin_file != NULL ? t->pin_file : t->pin_env);
		if (cli_open_module(t->label, have_pin ? &pin : NULL, &c) != 0) {
			printf("    not available\n");
			continue;
		}
		if (kl_p11c_fl(c)->C_GetTokenInfo(kl_p11c_slot(c), &ti) == CKR_OK) {
			kl_p11_strtrim(ti.serialNumber, sizeof(ti.serialNumber), serial,
			    sizeof(serial));
			printf("    serial %s, %s\n", serial, ti.flags & CKF_USER_PIN_LOCKED ?
			    "LOGINS LOCKED OUT (too many wrong PINs)" : ti.flags &
			    CKF_USER_PIN_COUNT_LOW ? "recent wrong PINs" : "no wrong PINs");
		}
		if (have_pin)
			print_keys(c, &conf->policy);
		else
			printf("    (log in to list keys: --pin-file F or KEYLOCKER_PIN)\n");
		kl_p11c_close(c);
		c = NULL;
	}
	printf("clients\n");
	for (i = 0; i < conf->policy.n_clients; i++) {
		const struct policy_client *cl = &conf->policy.clients[i];

		printf("  %-12s %-8s", cl->name, policy_role_name(cl->role));
		for (j = 0; j < cl->n_key_patterns; j++)
			printf("%s%s", j ? ", " : " keys: ", cl->key_patterns[j]);
		printf("\n");
	}
	printf("login         lockout after %u wrong PINs for %u s (state in %s)\n",
	    conf->max_failures, conf->lockout_seconds, conf->state_dir);
	printf("policy        destroying master keys: %s\n",
	    conf->policy.allow_destroy_master_keys ? "allowed for admins" : "refused");
	print_audit(conf);
	kl_secret_clear(&pin);
	conf_free(conf);
	return EXIT_OK;
}

int
cmd_pin_hash(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cost", required_argument, NULL, 'c' },
		{ "pin-file", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kl_secret pin = { NULL, 0 };
	char hash[PIN_HASH_MAX], *end;
	const char *file = NULL;
	unsigned cost = PIN_LN_DEFAULT;
	int ch, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cost = (unsigned)strtoul(optarg, &end, 10);
			if (*end != '\0' || cost < PIN_LN_MIN || cost > PIN_LN_MAX)
				return cli_fail("--cost is 10..20 (log2 of scrypt's N)");
			break;
		case 'p':
			file = optarg;
			break;
		default:
			fprintf(ch == 'h' ? stdout : stderr, "usage: keylocker pin-hash "
			    "[--cost N] [--pin-file F]\nPrints the pin_hash of a client for "
			    "keylocker.yaml.  The PIN comes from F, $KEYLOCKER_PIN or a prompt.\n");
			return ch == 'h' ? EXIT_OK : EXIT_USAGE;
		}
	}
	if (cli_get_pin(NULL, file, "KEYLOCKER_PIN", "PIN: ", 1, &pin) != 0)
		return EXIT_FAIL;
	r = policy_pin_hash(pin.p, pin.len, cost, hash, sizeof(hash));
	kl_secret_clear(&pin);
	if (r != 0)
		return cli_fail("cannot hash the PIN");
	printf("%s\n", hash);
	return EXIT_OK;
}

int
cmd_retire(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pin-file", required_argument, NULL, 'p' },
		{ "token", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kl_secret pin = { NULL, 0 };
	struct kl_conf *conf = NULL;
	struct kl_p11c *c = NULL;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_OBJECT_HANDLE h;
	const char *file = NULL, *token = NULL;
	char label[POLICY_LABEL_MAX + 1], stamp[32], err[1024];
	int ch, r = EXIT_FAIL;
	CK_RV rv;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			file = optarg;
			break;
		case 't':
			token = optarg;
			break;
		default:
			fprintf(ch == 'h' ? stdout : stderr, "usage: keylocker retire LABEL "
			    "[--pin-file F] [--token LABEL]\nThe master key LABEL stops "
			    "wrapping; what it wrapped still unwraps.  Needs the admin PIN.\n");
			return ch == 'h' ? EXIT_OK : EXIT_USAGE;
		}
	}
	if (optind + 1 != argc)
		return cli_fail("name one master key to retire");
	if (conf_load_file(NULL, &conf, err, sizeof(err)) != 0)
		return cli_fail("%s", err);
	if (token == NULL)
		token = conf->tokens[0].label;
	snprintf(label, sizeof(label), "%s%s", POLICY_RETIRED_PREFIX, argv[optind]);
	kl_utc_timestamp(stamp);
	{
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &yes, sizeof(yes) },
			{ CKA_LABEL, label, strlen(label) },
			{ CKA_APPLICATION, "keylocker", 9 },
			{ CKA_VALUE, stamp, strlen(stamp) },
		};

		if (cli_get_pin(NULL, file, "KEYLOCKER_PIN", "admin PIN: ", 0, &pin) != 0 ||
		    cli_open_module(token, &pin, &c) != 0)
			goto out;
		rv = kl_p11c_fl(c)->C_CreateObject(kl_p11c_session(c), t, KL_ARRAY_SIZE(t), &h);
		if (rv != CKR_OK) {
			cli_fail("retiring %s: %s (see the log line above for the rule)",
			    argv[optind], kl_ckr(rv));
			goto out;
		}
	}
	printf("keylocker: master key %s retired at %s: it unwraps what it wrapped but "
	    "wraps nothing new\n", argv[optind], stamp);
	r = EXIT_OK;
 out:
	kl_p11c_close(c);
	kl_secret_clear(&pin);
	conf_free(conf);
	return r;
}

/*
 * keylocker selftest: as a keyring client, a wrap/unwrap round trip with the
 * master key, in the token: generate a secret, wrap it, unwrap it, compare.
 */
int
cmd_selftest(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pin-file", required_argument, NULL, 'p' },
		{ "master-key", required_argument, NULL, 'm' },
		{ "token", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kl_secret pin = { NULL, 0 };
	struct kl_p11c *c = NULL;
	CK_FUNCTION_LIST_PTR fl;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE mk, k = CK_INVALID_HANDLE, u = CK_INVALID_HANDLE;
	CK_MECHANISM gen = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL no = CK_FALSE;
	CK_ULONG vlen = 32, n = 0, blen;
	unsigned char v1[32], v2[32], blob[64];
	const char *file = NULL, *master = "keylocker-master", *token = "keylocker";
	const char *label = "keylocker-selftest";
	int ch, r = EXIT_FAIL;
	CK_RV rv;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			file = optarg;
			break;
		case 'm':
			master = optarg;
			break;
		case 't':
			token = optarg;
			break;
		default:
			fprintf(ch == 'h' ? stdout : stderr, "usage: keylocker selftest "
			    "[--pin-file F] [--master-key LABEL] [--token LABEL]\nA wrap/unwrap "
			    "round trip through keylocker as a keyring client (its PIN from F,\n"
			    "$KEYLOCKER_PIN or a prompt).  No secret leaves the token in clear "
			    "but the test's own.\n");
			return ch == 'h' ? EXIT_OK : EXIT_USAGE;
		}
	}
	{
		CK_ATTRIBUTE gt[] = {
			{ CKA_VALUE_LEN, &vlen, sizeof(vlen) },
			{ CKA_LABEL, (void *)label, strlen(label) },
			{ CKA_TOKEN, &no, sizeof(no) },
		};
		CK_ATTRIBUTE ut[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_KEY_TYPE, &kt, sizeof(kt) },
			{ CKA_LABEL, (void *)label, strlen(label) },
		};
		CK_ATTRIBUTE g1 = { CKA_VALUE, v1, sizeof(v1) }, g2 = { CKA_VALUE, v2, sizeof(v2) };

		if (cli_get_pin(NULL, file, "KEYLOCKER_PIN", "keyring client PIN: ", 0, &pin) != 0 ||
		    cli_open_module(token, &pin, &c) != 0)
			goto out;
		fl = kl_p11c_fl(c);
		s = kl_p11c_session(c);
		if ((rv = kl_p11c_find(c, CKO_SECRET_KEY, master, &mk, 1, &n)) != CKR_OK || n != 1) {
			cli_fail("no master key \"%s\" on token %s", master, token);
			goto out;
		}
		blen = sizeof(blob);
		if ((rv = fl->C_GenerateKey(s, &gen, gt, 3, &k)) != CKR_OK ||
		    (rv = fl->C_GetAttributeValue(s, k, &g1, 1)) != CKR_OK ||
		    (rv = fl->C_WrapKey(s, &kwp, mk, k, blob, &blen)) != CKR_OK ||
		    (rv = fl->C_UnwrapKey(s, &kwp, mk, blob, blen, ut, 3, &u)) != CKR_OK ||
		    (rv = fl->C_GetAttributeValue(s, u, &g2, 1)) != CKR_OK) {
			cli_fail("round trip with master key %s failed: %s (selftest needs a "
			    "keyring client's PIN; a refusal by keylocker is logged above with "
			    "its rule)", master, kl_ckr(rv));
			goto out;
		}
		if (g1.ulValueLen != 32 || g2.ulValueLen != 32 || CRYPTO_memcmp(v1, v2, 32) != 0) {
			cli_fail("round trip with master key %s gave back different bytes", master);
			goto out;
		}
	}
	printf("keylocker: wrap/unwrap round trip through keylocker OK (master key %s, "
	    "a 32-byte secret, %lu-byte RFC 5649 blob)\n", master, (unsigned long)blen);
	r = EXIT_OK;
 out:
	if (c != NULL && k != CK_INVALID_HANDLE)
		(void)kl_p11c_fl(c)->C_DestroyObject(kl_p11c_session(c), k);
	if (c != NULL && u != CK_INVALID_HANDLE)
		(void)kl_p11c_fl(c)->C_DestroyObject(kl_p11c_session(c), u);
	OPENSSL_cleanse(v1, sizeof(v1));
	OPENSSL_cleanse(v2, sizeof(v2));
	kl_p11c_close(c);
	kl_secret_clear(&pin);
	return r;
}
