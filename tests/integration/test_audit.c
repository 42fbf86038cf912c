/*
 * The audit trail end to end, on real logs written by libkeylocker-pkcs11.so
 * over a SoftHSM2 token made by `keylocker init`, checked by the real
 * `keylocker audit verify` (checkpoint MACs verified in the token as the
 * auditor):
 *   - each kind of tampering (edited, edited with the hash recomputed,
 *     deleted, inserted, reordered, truncated, sinks disagree, the whole
 *     chain recomputed) is caught and the right record named;
 *   - a log cut off mid-record verifies up to the last whole record and
 *     says where it ends; the next start declares the torn record;
 *   - a process killed (SIGKILL) during a burst of wraps and unwraps loses
 *     no durable record (audit.head) from any sink;
 *   - a failing sink: fail-closed refuses logins, fail-open goes on and the
 *     other sinks record the failure; the syslog sink gets every record.
 * The module is only ever initialised in forked children.
 */
#include "tests/unit/cutest.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "tests/integration/klsetup.h"

static struct kl_setup S;
static void *dl;
static CK_FUNCTION_LIST_PTR fl;
static char sink_a[400], sink_b[400], anchor[400], base[400], conf_orig[400];

/* ---- files ------------------------------------------------------------------ */

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		*len = fread(buf, 1, (size_t)n, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

static int
spit(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		return -1;
	if (fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

static int
copy(const char *from, const char *to)
{
	size_t len;
	char *d = slurp(from, &len);
	int r = d != NULL ? spit(to, d, len) : -1;

	free(d);
	return r;
}

/* A log as an array of lines (without their newlines). */
struct lines {
	char	*l[4096];
	size_t	 n;
};

static int
lines_read(const char *path, struct lines *ls)
{
	size_t len;
	char *d = slurp(path, &len), *p, *nl;

	ls->n = 0;
	if (d == NULL)
		return -1;
	for (p = d; (nl = strchr(p, '\n')) != NULL && ls->n < 4096; p = nl + 1) {
		*nl = '\0';
		ls->l[ls->n++] = strdup(p);
	}
	free(d);
	return 0;
}

static int
lines_write(const char *path, const struct lines *ls)
{
	FILE *f = fopen(path, "wb");
	size_t i;

	if (f == NULL)
		return -1;
	for (i = 0; i < ls->n; i++)
		fprintf(f, "%s\n", ls->l[i]);
	return fclose(f);
}

static void
lines_free(struct lines *ls)
{
	size_t i;

	for (i = 0; i < ls->n; i++)
		free(ls->l[i]);
	ls->n = 0;
}

static unsigned long long
seq_of(const char *line)
{
	return strtoull(line + strlen("{\"seq\":"), NULL, 10);
}

/* The 64 hex digits after `"name":"` in line. */
static char *
field_hex(char *line, const char *name)
{
	char key[32];
	char *p;

	snprintf(key, sizeof(key), ",\"%s\":\"", name);
	p = strstr(line, key);
	return p != NULL ? p + strlen(key) : NULL;
}

/* Recompute a line's hash, as an attacker who edits it would. */
static void
rehash(char *line)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = 0, i;
	char *h = field_hex(line, "hash");

	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	EVP_Digest(line, (size_t)(h - line) - strlen(",\"hash\":\""), md, &mdlen, EVP_sha256(),
	    NULL);
	for (i = 0; i < 32; i++) {
		h[2 * i] = hex[md[i] >> 4];
		h[2 * i + 1] = hex[md[i] & 0xf];
	}
}

/* Re-link line i to line i-1 and rehash it. */
static void
relink(struct lines *ls, size_t i)
{
	char *p = field_hex(ls->l[i], "prev");

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memcpy(p, field_hex(ls->l[i - 1], "hash"), 64);
	rehash(ls->l[i]);
}

/* Index of the n-th (0-based) line containing needle. */
static size_t
nth(const struct lines *ls, const char *needle, int n)
{
	size_t i;

	for (i = 0; i < ls->n; i++) {
		if (strstr(ls->l[i], needle) != NULL && n-- == 0)
			return i;
	}
	CU_FAIL_FATAL("no such line in the log");
	return 0;
}

static int
contains(const char *path, const char *needle)
{
	size_t len;
	char *d = slurp(path, &len);
	int r = d != NULL && strstr(d, needle) != NULL;

	free(d);
	return r;
}

/* Replace the first `from` in keylocker.yaml by `to`. */
static int
conf_replace(const char *from, const char *to)
{
	size_t len;
	char *d = slurp(S.conf, &len), *p, *out;
	int r = -1;

	if (d == NULL || (p = strstr(d, from)) == NULL) {
		free(d);
		return -1;
	}
	if ((out = malloc(len + strlen(to) + 1)) != NULL) {
		memcpy(out, d, (size_t)(p - d));
		strcpy(out + (p - d), to);
		strcat(out, p + strlen(from));
		r = spit(S.conf, out, strlen(out));
	}
	free(out);
	free(d);
	return r;
}

/* ---- the module, in children ------------------------------------------------------ */

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static CK_SESSION_HANDLE
child_login(const char *pin, CK_RV *login_rv)
{
	CK_SESSION_HANDLE s = 0;

	if (fl->C_Initialize(NULL) != CKR_OK ||
	    fl->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK)
		_exit(20);
	*login_rv = pin != NULL ? fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) :
	    CKR_OK;
	return s;
}

static CK_OBJECT_HANDLE
child_master(CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) },
	    { CKA_LABEL, KL_TEST_MASTER, strlen(KL_TEST_MASTER) } };
	CK_OBJECT_HANDLE mk;
	CK_ULONG n = 0;

	if (fl->C_FindObjectsInit(s, t, 2) != CKR_OK || fl->C_FindObjects(s, &mk, 1, &n) != CKR_OK ||
	    n != 1 || fl->C_FindObjectsFinal(s) != CKR_OK)
		_exit(21);
	return mk;
}

/* One wrap and one unwrap of a keyring secret named label. */
static CK_RV
child_roundtrip(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE mk, const char *label)
{
	static const unsigned char value[32] = "audit trail test secret value!!";
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, 1 }, { CKA_EXTRACTABLE, &yes, 1 }, { CKA_SENSITIVE, &no, 1 },
		{ CKA_ENCRYPT, &no, 1 }, { CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_VALUE, (void *)value, 32 },
	};
	CK_ATTRIBUTE ut[] = {	/* the caller names the keyring data id: the trail shows it */
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	unsigned char blob[64];
	CK_ULONG len = sizeof(blob);
	CK_OBJECT_HANDLE k, u;
	CK_RV rv;

	if ((rv = fl->C_CreateObject(s, t, 8, &k)) != CKR_OK ||
	    (rv = fl->C_WrapKey(s, &m, mk, k, blob, &len)) != CKR_OK ||
	    (rv = fl->C_DestroyObject(s, k)) != CKR_OK ||
	    (rv = fl->C_UnwrapKey(s, &m, mk, blob, len, ut, 3, &u)) != CKR_OK)
		return rv;
	return fl->C_DestroyObject(s, u);
}

/* A keyring client's session: n round trips, then a clean C_Finalize. */
static int
run_client(int n)
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0) {
		CK_RV rv;
		CK_SESSION_HANDLE s = child_login(KL_TEST_KEYRING_PIN, &rv);
		CK_OBJECT_HANDLE mk;
		char label[64];
		int i;

		if (rv != CKR_OK)
			_exit(22);
		mk = child_master(s);
		for (i = 0; i < n; i++) {
			snprintf(label, sizeof(label), "INNODBKey-audit-%d", i);
			if (child_roundtrip(s, mk, label) != CKR_OK)
				_exit(23);
		}
		_exit(fl->C_Finalize(NULL) == CKR_OK ? 0 : 24);
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/* ---- the verifier --------------------------------------------------------------------- */

static char out[16384];

/* Run `keylocker VERB ARGS`; its output in out[], its exit status returned. */
static int
cli(const char *verb, const char *args)
{
	char cmd[2048];
	size_t n = 0, got;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "%s %s %s 2>&1", S.cli, verb, args);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	while (n + 1 < sizeof(out) && (got = fread(out + n, 1, sizeof(out) - 1 - n, p)) > 0)
		n += got;
	out[n] = '\0';
	st = pclose(p);
	if (!WIFEXITED(st) || WEXITSTATUS(st) > 2 || getenv("KL_TEST_VERBOSE") != NULL)
		fprintf(stderr, "\nkeylocker %s %s:\n%s\n", verb, args, out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
audit_cli(const char *args)
{
	return cli("audit", args);
}

static int
said(const char *s)
{
	if (strstr(out, s) != NULL)
		return 1;
	fprintf(stderr, "\nexpected \"%s\" in:\n%s\n", s, out);
	return 0;
}

/* A fresh copy of the base logs in dir; their lines in a and b. */
static void
tamper_dir(const char *name, char *dir, size_t len, struct lines *a, struct lines *b)
{
	char p[600], q[600];

	snprintf(dir, len, "%s/%s", S.dir, name);
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	snprintf(p, sizeof(p), "%s/a.log", base);
	snprintf(q, sizeof(q), "%s/a.log", dir);
	CU_ASSERT_EQUAL_FATAL(copy(p, q), 0);
	CU_ASSERT_EQUAL_FATAL(lines_read(q, a), 0);
	snprintf(p, sizeof(p), "%s/b.log", base);
	snprintf(q, sizeof(q), "%s/b.log", dir);
	CU_ASSERT_EQUAL_FATAL(copy(p, q), 0);
	CU_ASSERT_EQUAL_FATAL(lines_read(q, b), 0);
	snprintf(p, sizeof(p), "%s/audit.head", base);
	snprintf(q, sizeof(q), "%s/audit.head", dir);
	CU_ASSERT_EQUAL_FATAL(copy(p, q), 0);
}

static int
verify_dir(const char *dir, const struct lines *a, const struct lines *b)
{
	char p[600], args[2048];

	if (a != NULL) {
		snprintf(p, sizeof(p), "%s/a.log", dir);
		CU_ASSERT_EQUAL(lines_write(p, a), 0);
	}
	if (b != NULL) {
		snprintf(p, sizeof(p), "%s/b.log", dir);
		CU_ASSERT_EQUAL(lines_write(p, b), 0);
	}
	snprintf(args, sizeof(args), "verify --head %s/audit.head %s/a.log %s/b.log", dir, dir,
	    dir);
	return audit_cli(args);
}

/* ---- fixture -------------------------------------------------------------------------- */

static int
setup(void)
{
	CK_C_GetFunctionList getfl;
	char cmd[4096];
	int r;

	if ((r = kl_setup_init(&S, NULL)) != 0)
		return r;
	if ((dl = dlopen(S.module, RTLD_NOW)) == NULL ||
	    (getfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
	    getfl(&fl) != CKR_OK)
		return 1;
	/* a checkpoint every 10 records, a group commit every 50 ms */
	if (conf_replace("  key: keylocker-audit\n", "  key: keylocker-audit\n"
	    "  checkpoint_every: 10\n  sync_interval_ms: 50\n") != 0)
		return 1;
	setenv("KEYLOCKER_PIN", KL_TEST_AUDITOR_PIN, 1);
	snprintf(sink_a, sizeof(sink_a), "%s/audit/audit.log", S.dir);
	snprintf(sink_b, sizeof(sink_b), "%s/audit-mirror/audit.log", S.dir);
	snprintf(anchor, sizeof(anchor), "%s/state/audit.head", S.dir);
	snprintf(conf_orig, sizeof(conf_orig), "%s/keylocker.yaml.orig", S.dir);
	if (copy(S.conf, conf_orig) != 0)
		return 1;
	/* the base log every tampering test starts from: real records, several checkpoints */
	if (run_client(12) != 0)
		return 1;
	snprintf(base, sizeof(base), "%s/base", S.dir);
	snprintf(cmd, sizeof(cmd), "mkdir %s && cp %s %s/a.log && cp %s %s/b.log && "
	    "cp %s %s/audit.head", base, sink_a, base, sink_b, base, anchor, base);
	return system(cmd) == 0 ? 0 : 1;
}

static int
teardown(void)
{
	kl_setup_cleanup(&S);
	return 0;
}

/* ---- tampering: one test each ------------------------------------------------------------- */

static void
test_intact(void)
{
	char dir[600];
	struct lines a, b;

	tamper_dir("intact", dir, sizeof(dir), &a, &b);
	CU_ASSERT_EQUAL(verify_dir(dir, NULL, NULL), 0);
	CU_ASSERT(said("audit trail verified"));
	CU_ASSERT(said("2 files that agree"));
	CU_ASSERT(said("MACs verified in the token"));
	CU_ASSERT(said("mysql"));
	CU_ASSERT(said("wrap 12"));
	lines_free(&a);
	lines_free(&b);
}

/* --json for SIEMs, tail, and exit status 2 when the check cannot be made. */
static void
test_cli(void)
{
	char args[2048], *p;
	int lines = 0;

	snprintf(args, sizeof(args), "verify --json --head %s/audit.head %s/a.log %s/b.log", base,
	    base, base);
	CU_ASSERT_EQUAL(audit_cli(args), 0);
	CU_ASSERT(said("{\"verified\":true,\"status\":0,\"records\":"));
	CU_ASSERT(said("\"problems\":[]"));
	snprintf(args, sizeof(args), "tail -n 3 --json %s/a.log", base);
	CU_ASSERT_EQUAL(audit_cli(args), 0);
	for (p = out; (p = strstr(p, "{\"seq\":")) != NULL; p++)
		lines++;
	CU_ASSERT_EQUAL(lines, 3);
	CU_ASSERT(said("\"op\":\"checkpoint\""));
	snprintf(args, sizeof(args), "tail -n 2 %s/a.log", base);
	CU_ASSERT_EQUAL(audit_cli(args), 0);
	CU_ASSERT(said(" stop "));
	/* no usable PIN: the MACs cannot be checked, which is not "verified" */
	setenv("KEYLOCKER_PIN", "not-a-pin", 1);
	snprintf(args, sizeof(args), "verify --head %s/audit.head %s/a.log </dev/null", base, base);
	CU_ASSERT_EQUAL(audit_cli(args), 2);
	setenv("KEYLOCKER_PIN", KL_TEST_AUDITOR_PIN, 1);
	CU_ASSERT_EQUAL(audit_cli("verify --bogus"), 2);
	CU_ASSERT_EQUAL(audit_cli("verify /nonexistent/dir/audit.log"), 1);
	CU_ASSERT(said("does not exist"));
}

static void
test_edited(void)
{
	char dir[600], want[128];
	struct lines a, b;
	size_t i;
	char *p;

	tamper_dir("edited", dir, sizeof(dir), &a, &b);
	/* the 5th unwrap now names another secret, in every sink */
	i = nth(&a, "\"op\":\"unwrap\"", 4);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p = strstr(a.l[i], "INNODBKey-audit-4"));
	memcpy(p, "INNODBKey-audit-9", 17);
	memcpy(strstr(b.l[i], "INNODBKey-audit-4"), "INNODBKey-audit-9", 17);
	CU_ASSERT_EQUAL(verify_dir(dir, &a, &b), 1);
	snprintf(want, sizeof(want), "record %llu (line %zu) was edited", seq_of(a.l[i]), i + 1);
	CU_ASSERT(said(want));
	CU_ASSERT(said("does not match its hash"));
	lines_free(&a);
	lines_free(&b);
}

static void
test_edited_rehashed(void)
{
	char dir[600], want[160];
	struct lines a, b;
	size_t i;

	tamper_dir("rehashed", dir, sizeof(dir), &a, &b);
	/* a wrap renamed, its hash recomputed, in every sink */
	i = nth(&a, "\"op\":\"wrap\"", 6);
	memcpy(strstr(a.l[i], "\"op\":\"wrap\""), "\"op\":\"WRAP\"", 11);
	rehash(a.l[i]);
	free(b.l[i]);
	b.l[i] = strdup(a.l[i]);
	CU_ASSERT_EQUAL(verify_dir(dir, &a, &b), 1);
	snprintf(want, sizeof(want), "record %llu (line %zu) was edited and its hash recomputed",
	    seq_of(a.l[i]), i + 1);
	CU_ASSERT(said(want));
	lines_free(&a);
	lines_free(&b);
}

static void
test_deleted(void)
{
	char dir[600], want[1024], args[2048];
	struct lines a, b;
	unsigned long long seq;
	size_t i;

	tamper_dir("deleted", dir, sizeof(dir), &a, &b);
	i = nth(&a, "\"op\":\"wrap\"", 3);
	seq = seq_of(a.l[i]);
	free(a.l[i]);
	free(b.l[i]);
	memmove(&a.l[i], &a.l[i + 1], (a.n - i - 1) * sizeof(char *));
	memmove(&b.l[i], &b.l[i + 1], (b.n - i - 1) * sizeof(char *));
	a.n--;
	b.n--;
	CU_ASSERT_EQUAL(verify_dir(dir, &a, &b), 1);
	snprintf(want, sizeof(want), "record %llu was deleted", seq);
	CU_ASSERT(said(want));
	/* the same for a SIEM */
	snprintf(args, sizeof(args), "verify --json --head %s/audit.head %s/a.log %s/b.log", dir,
	    dir, dir);
	CU_ASSERT_EQUAL(audit_cli(args), 1);
	CU_ASSERT(said("{\"verified\":false,\"status\":1,"));
	snprintf(want, sizeof(want), "\"problems\":[{\"kind\":\"deleted\",\"file\":\"%s/a.log\","
	    "\"line\":%zu,", dir, i + 1);
	CU_ASSERT(said(want));
	snprintf(want, sizeof(want), "\"seq\":%llu,\"message\":\"record %llu was deleted", seq,
	    seq);
	CU_ASSERT(said(want));
	lines_free(&a);
	lines_free(&b);
}

static void
test_inserted(void)
{
	char dir[600], want[160], forged[1024];
	struct lines a, b;
	size_t i;

	tamper_dir("inserted", dir, sizeof(dir), &a, &b);
	/* a forged unwrap after the 2nd wrap, numbered and linked as the next record */
	i = nth(&a, "\"op\":\"wrap\"", 1);
	snprintf(forged, sizeof(forged), "{\"seq\":%llu,\"time\":\"2026-01-01T00:00:00.000000Z\","
	    "\"host\":\"vm\",\"pid\":1,\"op\":\"unwrap\",\"token\":\"keylocker\",\"client\":"
	    "\"mysql\",\"role\":\"keyring\",\"key\":\"keylocker-master\",\"object\":\"forged\","
	    "\"result\":\"CKR_OK\",\"prev\":\"%.64s\",\"hash\":\"%064d\"}",
	    seq_of(a.l[i]) + 1, field_hex(a.l[i], "hash"), 0);
	rehash(forged);
	memmove(&a.l[i + 2], &a.l[i + 1], (a.n - i - 1) * sizeof(char *));
	memmove(&b.l[i + 2], &b.l[i + 1], (b.n - i - 1) * sizeof(char *));
	a.l[i + 1] = strdup(forged);
	b.l[i + 1] = strdup(forged);
	a.n++;
	b.n++;
	CU_ASSERT_EQUAL(verify_dir(dir, &a, &b), 1);
	snprintf(want, sizeof(want), "line %zu (seq %llu) was inserted", i + 2, seq_of(forged));
	CU_ASSERT(said(want));
	lines_free(&a);
	lines_free(&b);
}

static void
test_replayed(void)
{
	char dir[600], want[160];
	struct lines a, b;
	size_t i, j;

	tamper_dir("replayed", dir, sizeof(dir), &a, &b);
	/* a real record copied a second time, further down */
	i = nth(&a, "\"op\":\"unwrap\"", 0);
	j = a.n - 3;
	memmove(&a.l[j + 1], &a.l[j], (a.n - j) * sizeof(char *));
	memmove(&b.l[j + 1], &b.l[j], (b.n - j) * sizeof(char *));
	a.l[j] = strdup(a.l[i]);
	b.l[j] = strdup(a.l[i]);
	a.n++;
	b.n++;
	CU_ASSERT_EQUAL(verify_dir(dir, &a, &b), 1);
	snprintf(want, sizeof(want), "line %zu was inserted: it repeats record %llu", j + 1,
	    seq_of(a.l[i]));
	CU_ASSERT(said(want));
	lines_free(&a);
	lines_free(&b);
}

static void
test_reordered(void)
{
	char dir[600], want[200], *t;
	struct lines a, b;
	size_t i;

	tamper_dir("reordered", dir, sizeof(dir), &a, &b);
	i = nth(&a, "\"op\":\"wrap\"", 8);
	t = a.l[i], a.l[i] = a.l[i + 1], a.l[i + 1] = t;
	t = b.l[i], b.l[i] = b.l[i + 1], b.l[i + 1] = t;
	CU_ASSERT_EQUAL(verify_dir(dir, &a, &b), 1);
	snprintf(want, sizeof(want), "records were reordered: record %llu (line %zu) stands "
	    "before record %llu (line %zu)", seq_of(a.l[i]), i + 1, seq_of(a.l[i + 1]), i + 2);
	CU_ASSERT(said(want));
	lines_free(&a);
	lines_free(&b);
}

static void
test_truncated(void)
{
	char dir[600], want[200];
	struct lines a, b;
	unsigned long long last;

	tamper_dir("truncated", dir, sizeof(dir), &a, &b);
	/* every sink cut at a record boundary: only audit.head can tell */
	last = seq_of(a.l[a.n - 1]);
	while (a.n > 0 && seq_of(a.l[a.n - 1]) > last - 5)
		free(a.l[--a.n]);
	while (b.n > 0 && seq_of(b.l[b.n - 1]) > last - 5)
		free(b.l[--b.n]);
	CU_ASSERT_EQUAL(verify_dir(dir, &a, &b), 1);
	snprintf(want, sizeof(want), "the log was truncated: it ends at record %llu", last - 5);
	CU_ASSERT(said(want));
	snprintf(want, sizeof(want), "records %llu..%llu are gone", last - 4, last);
	CU_ASSERT(said(want));
	lines_free(&a);
	lines_free(&b);
}

static void
test_sinks_disagree(void)
{
	char dir[600], want[1024], *forged;
	struct lines a, b;

	tamper_dir("disagree", dir, sizeof(dir), &a, &b);
	/* one sink gets a record more, well formed and chained: each file alone verifies */
	forged = malloc(strlen(b.l[b.n - 2]) + 64);
	CU_ASSERT_PTR_NOT_NULL_FATAL(forged);
	sprintf(forged, "{\"seq\":%llu%s", seq_of(b.l[b.n - 1]) + 1,
	    strchr(b.l[b.n - 2], ','));
	b.l[b.n++] = forged;
	relink(&b, b.n - 1);
	CU_ASSERT_EQUAL(verify_dir(dir, &a, &b), 1);
	snprintf(want, sizeof(want), "the sinks disagree: record %llu is in %s/b.log",
	    seq_of(forged), dir);
	CU_ASSERT(said(want));
	lines_free(&a);
	lines_free(&b);
}

static void
test_rechained(void)
{
	char dir[600], want[200];
	struct lines a, b;
	size_t i, j, cp;

	tamper_dir("rechained", dir, sizeof(dir), &a, &b);
	/* edit, then recompute every later link and hash in every sink: only the MACs know */
	i = nth(&a, "\"op\":\"unwrap\"", 7);
	memcpy(strstr(a.l[i], "\"op\":\"unwrap\""), "\"op\":\"UNWRAP\"", 13);
	rehash(a.l[i]);
	for (j = i + 1; j < a.n; j++)
		relink(&a, j);
	for (j = i; j < a.n; j++) {
		free(b.l[j]);
		b.l[j] = strdup(a.l[j]);
	}
	for (cp = i; cp < a.n && strstr(a.l[cp], "\"op\":\"checkpoint\"") == NULL; cp++)
		;
	CU_ASSERT_FATAL(cp < a.n);
	CU_ASSERT_EQUAL(verify_dir(dir, &a, &b), 1);
	snprintf(want, sizeof(want), "checkpoint record %llu (line %zu): its MAC does not verify",
	    seq_of(a.l[cp]), cp + 1);
	CU_ASSERT(said(want));
	lines_free(&a);
	lines_free(&b);
}

/* ---- crashes ----------------------------------------------------------------------------- */

/* Start a keyring client doing round trips without end; returns its pid. */
static pid_t
start_burst(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		CK_RV rv;
		CK_SESSION_HANDLE s = child_login(KL_TEST_KEYRING_PIN, &rv);
		CK_OBJECT_HANDLE mk;
		char label[64];
		int i;

		if (rv != CKR_OK)
			_exit(22);
		mk = child_master(s);
		for (i = 0; i < 1000000; i++) {
			snprintf(label, sizeof(label), "INNODBKey-burst-%d", i);
			if (child_roundtrip(s, mk, label) != CKR_OK)
				_exit(23);
		}
		_exit(0);
	}
	return pid;
}

static int
read_anchor(unsigned long long *seq, char hash[65])
{
	FILE *f = fopen(anchor, "r");
	int ok;

	if (f == NULL)
		return -1;
	ok = fscanf(f, "seq %llu hash %64s", seq, hash) == 2;
	fclose(f);
	return ok ? 0 : -1;
}

/* The whole lines of path, read under the writer's lock (the first sink's). */
static char *
snapshot(const char *path, size_t *len)
{
	int fd = open(sink_a, O_RDONLY);
	char *d, *nl;

	if (fd >= 0)
		(void)flock(fd, LOCK_SH);
	d = slurp(path, len);
	if (fd >= 0)
		close(fd);
	if (d != NULL && (nl = strrchr(d, '\n')) != NULL)
		*len = (size_t)(nl + 1 - d);
	else
		*len = 0;
	return d;
}

/* The line of record seq in data, or NULL. */
static char *
find_record(char *data, unsigned long long seq, size_t *len)
{
	char key[48], *p, *nl;

	snprintf(key, sizeof(key), "{\"seq\":%llu,", seq);
	for (p = data; p != NULL && *p != '\0'; p = nl != NULL ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		if (strncmp(p, key, strlen(key)) == 0) {
			*len = nl != NULL ? (size_t)(nl - p) : strlen(p);
			return p;
		}
	}
	return NULL;
}

/*
 * Durable, precisely: audit.head names the last record the writer
 * fdatasync()ed in every sink (it is renamed into place only after that).
 * During a burst the test reads it, then snapshots both sinks; after a
 * SIGKILL every record up to the last anchor seen must still be in every
 * sink, byte for byte as before, and the anchored record must carry the
 * anchored hash.  Then a restart, and the whole trail verifies.
 */
static void
test_burst_kill(void)
{
	unsigned long long seq = 0, s, first = 0;
	char hash[65], h[65], *snap_a = NULL, *snap_b = NULL, *after_a, *after_b, *ra, *rb, *x;
	size_t la = 0, lb = 0, n, n2, lx;
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	int i, st, rounds = 0, missing = 0;
	pid_t pid;

	CU_ASSERT_EQUAL_FATAL(read_anchor(&first, hash), 0);
	pid = start_burst();
	for (i = 0; i < 1500; i++) {	/* about a second; 30 s on a loaded machine */
		nanosleep(&pause, NULL);
		if (read_anchor(&s, h) != 0 || s <= first)
			continue;
		seq = s;
		memcpy(hash, h, sizeof(hash));
		free(snap_a);
		free(snap_b);
		snap_a = snapshot(sink_a, &la);
		snap_b = snapshot(sink_b, &lb);
		if (seq > first + 300 && ++rounds >= 3)
			break;
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	CU_ASSERT_FATAL(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	CU_ASSERT_FATAL(seq > first + 300);
	fprintf(stderr, "\n  burst: killed after record %llu was anchored durable "
	    "(%llu records in the burst)\n", seq, seq - first);
	after_a = slurp(sink_a, &n);
	after_b = slurp(sink_b, &n2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(after_a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(after_b);
	/* what was there before the kill is there after, unchanged, in both sinks */
	CU_ASSERT(n >= la && memcmp(after_a, snap_a, la) == 0);
	CU_ASSERT(n2 >= lb && memcmp(after_b, snap_b, lb) == 0);
	for (s = 0; s <= seq; s++) {
		ra = find_record(after_a, s, &n);
		rb = find_record(after_b, s, &n2);
		x = find_record(snap_a, s, &lx);
		if (ra == NULL || rb == NULL || x == NULL || n != lx || n2 != lx ||
		    memcmp(ra, x, lx) != 0 || memcmp(rb, x, lx) != 0)
			missing++;
	}
	CU_ASSERT_EQUAL(missing, 0);
	CU_ASSERT_PTR_NOT_NULL(x = find_record(after_a, seq, &n));
	CU_ASSERT(x != NULL && strstr(x, hash) != NULL && strstr(x, hash) < x + n);
	free(after_a);
	free(after_b);
	/* the verifier's own start is the restart: the chain verifies */
	CU_ASSERT_EQUAL(audit_cli("verify"), 0);
	CU_ASSERT(said("audit trail verified"));
	/* and still holds every durable record afterwards */
	after_a = slurp(sink_a, &n);
	CU_ASSERT(after_a != NULL && n >= la && memcmp(after_a, snap_a, la) == 0);
	free(after_a);
	CU_ASSERT_EQUAL(audit_cli("verify"), 0);
	free(snap_a);
	free(snap_b);
}

/* kill -9 while a record was being written: the log ends in part of a record. */
static void
test_kill_mid_write(void)
{
	char want[200], partial[160];
	unsigned long long last;
	size_t size, len, end;
	char *d, *nl;
	int st;
	pid_t pid;
	FILE *f;

	pid = start_burst();
	usleep(300 * 1000);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	/* what a write() cut short leaves: the start of the next record, no newline */
	d = slurp(sink_a, &size);
	CU_ASSERT_FATAL(d != NULL && size > 0);
	end = size;
	while (end > 0 && d[end - 1] != '\n')
		end--;		/* the kill itself may have torn one: keep it */
	CU_ASSERT_FATAL(end > 0);
	d[end - 1] = '\0';
	nl = strrchr(d, '\n');
	last = seq_of(nl != NULL ? nl + 1 : d);
	if (end == size) {
		len = (size_t)snprintf(partial, sizeof(partial), "{\"seq\":%llu,\"time\":\""
		    "2026-11-24T21:00:00.0", last + 1);
		CU_ASSERT_FATAL((f = fopen(sink_a, "a")) != NULL);
		CU_ASSERT_EQUAL(fwrite(partial, 1, len, f), len);
		fclose(f);
	}
	free(d);
	CU_ASSERT_EQUAL(audit_cli("verify"), 0);
	snprintf(want, sizeof(want), "verified up to record %llu; the log ends in a partial "
	    "record at byte %zu", last, end);
	CU_ASSERT(said(want));
	/* that verify loaded the module: the restart closed the torn record and said so */
	CU_ASSERT(contains(sink_a, "\"op\":\"resume\""));
	CU_ASSERT_EQUAL(audit_cli("verify"), 0);
	CU_ASSERT(said("cut short by a crash, declared by a later resume record"));
}

/* ---- sinks ----------------------------------------------------------------------------------- */

/* A client's login and one round trip; the CKRs in *login and *op. */
static void
client_once(CK_RV *login, CK_RV *op)
{
	int fds[2], st;
	CK_RV r[2] = { 0xdead, 0xdead };
	pid_t pid;

	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		CK_SESSION_HANDLE s = child_login(KL_TEST_KEYRING_PIN, &r[0]);

		r[1] = r[0] == CKR_OK ? child_roundtrip(s, child_master(s), "INNODBKey-sink") :
		    CKR_GENERAL_ERROR;
		(void)fl->C_Finalize(NULL);
		_exit(write(fds[1], r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(fds[1]);
	CU_ASSERT_EQUAL(read(fds[0], r, sizeof(r)), (ssize_t)sizeof(r));
	close(fds[0]);
	waitpid(pid, &st, 0);
	*login = r[0];
	*op = r[1];
}

static void
restore_conf(void)
{
	CU_ASSERT_EQUAL(copy(conf_orig, S.conf), 0);
}

/* A third sink that fails every write (/dev/full): fail-closed refuses. */
static void
test_sink_fail_closed(void)
{
	CK_RV login, op;

	CU_ASSERT_EQUAL_FATAL(kl_setup_append_conf(&S, "    - file: /dev/full\n"
	    "      append_only: false\n"), 0);
	client_once(&login, &op);
	CU_ASSERT_EQUAL(login, CKR_FUNCTION_FAILED);
	CU_ASSERT(contains(sink_a, "\"op\":\"sink_failed\""));
	CU_ASSERT(contains(sink_b, "\"op\":\"sink_failed\""));
	restore_conf();
}

/* The same with fail-open: keys keep working, the other sinks record the failure. */
static void
test_sink_fail_open(void)
{
	char args[1000];
	CK_RV login, op;

	CU_ASSERT_EQUAL_FATAL(conf_replace("on_sink_failure: fail-closed",
	    "on_sink_failure: fail-open"), 0);
	CU_ASSERT_EQUAL_FATAL(kl_setup_append_conf(&S, "    - file: /dev/full\n"
	    "      append_only: false\n"), 0);
	client_once(&login, &op);
	CU_ASSERT_EQUAL(login, CKR_OK);
	CU_ASSERT_EQUAL(op, CKR_OK);
	CU_ASSERT(contains(sink_a, "\"object\":\"INNODBKey-sink\""));
	CU_ASSERT(contains(sink_b, "\"object\":\"INNODBKey-sink\""));
	CU_ASSERT(contains(sink_a, "audit sinks failing"));
	restore_conf();
	/* keylocker status shows the latest sink failure the trail recorded */
	CU_ASSERT_EQUAL(cli("status", ""), 0);
	CU_ASSERT(said("sinks   last sink_failed at "));
	CU_ASSERT(said("1 of 3 audit sinks failing"));
	/* the two healthy sinks still agree and verify */
	snprintf(args, sizeof(args), "verify %s %s", sink_a, sink_b);
	CU_ASSERT_EQUAL(audit_cli(args), 0);
}

/* A syslog sink: every record, as a datagram on the configured socket. */
static void
test_sink_syslog(void)
{
	struct sockaddr_un sa;
	char path[300], yaml[600], msg[9000], *json, *file;
	size_t n_file;
	ssize_t n;
	int fd, got = 0, matched = 0, logins = 0;
	CK_RV login, op;

	snprintf(path, sizeof(path), "%s/syslog.sock", S.dir);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	CU_ASSERT_FATAL(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	CU_ASSERT_FATAL((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) >= 0);
	CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(yaml, sizeof(yaml), "    - syslog: authpriv\n      ident: kl-audit-test\n"
	    "      socket: %s\n", path);
	CU_ASSERT_EQUAL_FATAL(kl_setup_append_conf(&S, yaml), 0);
	client_once(&login, &op);
	CU_ASSERT_EQUAL(login, CKR_OK);
	CU_ASSERT_EQUAL(op, CKR_OK);
	restore_conf();
	file = slurp(sink_a, &n_file);
	CU_ASSERT_PTR_NOT_NULL_FATAL(file);
	while ((n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT)) > 0) {
		msg[n] = '\0';
		got++;
		/* "<PRI>Mmm dd hh:mm:ss ident[pid]: {record}" */
		if (strncmp(msg, "<", 1) != 0 || strstr(msg, " kl-audit-test[") == NULL ||
		    (json = strstr(msg, ": {")) == NULL)
			continue;
		json += 2;
		if (strstr(file, json) != NULL)
			matched++;
		if (strstr(json, "\"op\":\"login\"") != NULL)
			logins++;
	}
	close(fd);
	free(file);
	CU_ASSERT(got >= 5);
	CU_ASSERT_EQUAL(matched, got);
	CU_ASSERT_EQUAL(logins, 1);
}

/* The records the issue lists that other tests do not show: login edge cases, a refusal. */
static void
test_records(void)
{
	CK_MECHANISM ecb = { CKM_AES_ECB, NULL, 0 };
	int st;
	pid_t pid;

	if ((pid = fork()) == 0) {
		CK_RV rv;
		CK_SESSION_HANDLE s = child_login(NULL, &rv);

		if (fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"", 0) != CKR_PIN_INCORRECT ||
		    fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"wrong-pin", 9) != CKR_PIN_INCORRECT ||
		    fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)KL_TEST_KEYRING_PIN,
		    strlen(KL_TEST_KEYRING_PIN)) != CKR_OK ||
		    fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)KL_TEST_KEYRING_PIN,
		    strlen(KL_TEST_KEYRING_PIN)) != CKR_USER_ALREADY_LOGGED_IN)
			_exit(30);
		/* an ECB oracle on the master key: refused, with its rule */
		if (fl->C_EncryptInit(s, &ecb, child_master(s)) == CKR_OK)
			_exit(31);
		/* finalise with the session open: the logout is still recorded */
		_exit(fl->C_Finalize(NULL) == CKR_OK ? 0 : 32);
	}
	waitpid(pid, &st, 0);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CU_ASSERT(contains(sink_a, "\"op\":\"login_failed\",\"token\":\"keylocker\","
	    "\"role\":\"none\",\"result\":\"CKR_PIN_INCORRECT\",\"detail\":\"an empty PIN\""));
	CU_ASSERT(contains(sink_a, "\"detail\":\"no client has this PIN\""));
	CU_ASSERT(contains(sink_a, "\"op\":\"login_failed\",\"token\":\"keylocker\","
	    "\"client\":\"mysql\",\"role\":\"keyring\",\"result\":\"CKR_USER_ALREADY_LOGGED_IN\""));
	CU_ASSERT(contains(sink_a, "\"op\":\"deny\",\"token\":\"keylocker\",\"client\":"
	    "\"mysql\",\"role\":\"keyring\",\"fn\":\"C_EncryptInit\",\"key\":"
	    "\"keylocker-master\",\"mech\":\"CKM_AES_ECB\""));
	CU_ASSERT(contains(sink_a, "\"rule\":\"master-wrap-only\""));
	CU_ASSERT(contains(sink_a, "\"op\":\"logout\",\"token\":\"keylocker\",\"client\":"
	    "\"mysql\",\"role\":\"keyring\",\"result\":\"CKR_OK\",\"detail\":\"C_Finalize\""));
	CU_ASSERT_FALSE(contains(sink_a, "wrong-pin"));
	CU_ASSERT_FALSE(contains(sink_a, KL_TEST_KEYRING_PIN));
}

void
kl_test_register(void)
{
	kl_test_set_fixture(setup, teardown);
	kl_test_add("/audit/tamper/intact", test_intact);
	kl_test_add("/audit/tamper/cli", test_cli);
	kl_test_add("/audit/tamper/edited", test_edited);
	kl_test_add("/audit/tamper/edited_rehashed", test_edited_rehashed);
	kl_test_add("/audit/tamper/deleted", test_deleted);
	kl_test_add("/audit/tamper/inserted", test_inserted);
	kl_test_add("/audit/tamper/replayed", test_replayed);
	kl_test_add("/audit/tamper/reordered", test_reordered);
	kl_test_add("/audit/tamper/truncated", test_truncated);
	kl_test_add("/audit/tamper/sinks_disagree", test_sinks_disagree);
	kl_test_add("/audit/tamper/rechained", test_rechained);
	kl_test_add("/audit/crash/burst_kill", test_burst_kill);
	kl_test_add("/audit/crash/kill_mid_write", test_kill_mid_write);
	kl_test_add("/audit/sinks/fail_closed", test_sink_fail_closed);
	kl_test_add("/audit/sinks/fail_open", test_sink_fail_open);
	kl_test_add("/audit/sinks/syslog", test_sink_syslog);
	kl_test_add("/audit/records/logins_and_refusals", test_records);
}
