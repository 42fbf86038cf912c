/*
 * Crash safety of kr_rewrap (keylocker keyring rewrap): a store of entries
 * under two master keys is re-wrapped under a third, and the rewriter
 * (rewrap_crash_writer, built with crash points) is killed with SIGKILL at
 * every step in turn: after each re-wrapped entry, after taking the lock,
 * and at every step of the store's write protocol.  After every kill the
 * store must load with every key and its value, and either every entry
 * under its old key (kills before the rename) or every entry under the new
 * one (after it) -- never a mix; and a re-run must finish the job.
 *
 * Then, in this process: a writer that changes the store while the token
 * work runs (its entries are re-wrapped under the lock), a re-run that has
 * nothing to do, a target key that does not exist, and a large store
 * (BIG entries, made directly with store.h from one real blob).
 *
 *   rewrap_crash <path of rewrap_crash_writer>
 *
 * Exit 0 when every check passed, 1 otherwise, 77 without SoftHSM2.
 */
#include "keyring-bridge/kr.h"
#include "keyring-bridge/kr_p11.h"
#include "keyring-bridge/store.h"
#include "tests/integration/kr_softhsm.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#define NKEYS		6
#define NOLD0		2		/* the first NOLD0 under kl-master-0 */
/* steps: one per re-wrapped entry, the lock, then store.c's 9 and kr.c's "committed" */
#define STEPS		(NKEYS + 1 + 9 + 1)
#define LAST_OLD_STEP	(NKEYS + 1 + 7)
#define MAXKEYS		16
#define BIG		20000

struct key {
	char		 id[64];
	unsigned char	 v[64];
	size_t		 len;
	char		 mk[32];	/* the key it is wrapped under before the rewrap */
};

struct model {
	struct key	 k[MAXKEYS];
	size_t		 n;
};

enum state { S_BAD = 0, S_OLD, S_NEW };

static struct kr_softhsm T;
static const char *writer;
static char store[PATH_MAX], prev[PATH_MAX + 8], tmp[PATH_MAX + 8], lockp[PATH_MAX + 8];
static char errlog[PATH_MAX];
static int failures, checks;

#define CHECK(cond, ...) do {						\
	checks++;							\
	if (!(cond)) {							\
		failures++;						\
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);	\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
	}								\
} while (0)

static int
open_kr(const char *master, int read_only, struct kr **kr, char *why, size_t whylen)
{
	struct kr_config c;
	char err[512];

	memset(&c, 0, sizeof(c));
	c.path = store;
	c.module = T.module;
	c.token = (char *)"keylocker";
	c.master_key = (char *)master;
	c.mac_key = (char *)"kl-mac";
	c.pin_file = T.pin_file;
	c.read_only = read_only;
	if (kr_open(&c, kr, err, sizeof(err)) != 0) {
		snprintf(why, whylen, "does not load: %s", err);
		return -1;
	}
	return 0;
}

static struct key *
model_find(struct model *m, const char *id)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (strcmp(m->k[i].id, id) == 0)
			return &m->k[i];
	}
	return NULL;
}

/* Which state the store is in: every value right, and all-old or all-new. */
static enum state
store_state(struct model *m, const char *newkey, char *why, size_t whylen)
{
	struct kr *kr = NULL;
	struct kr_meta *meta = NULL;
	struct kl_secret s = { NULL, 0 };
	char type[KR_TYPE_MAX + 1];
	size_t n = 0, i, old = 0, nw = 0;
	enum state st = S_BAD;
	struct key *k;

	if (open_kr("kl-master", 1, &kr, why, whylen) != 0)
		return S_BAD;
	if (kr_list(kr, &meta, &n) != 0 || n != m->n) {
		snprintf(why, whylen, "%zu entries, expected %zu", n, m->n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((k = model_find(m, meta[i].data_id)) == NULL) {
			snprintf(why, whylen, "unexpected entry %s", meta[i].data_id);
			goto out;
		}
		if (kr_fetch(kr, k->id, NULL, &s, type) != KR_FOUND || s.len != k->len ||
		    memcmp(s.p, k->v, k->len) != 0) {
			snprintf(why, whylen, "%s does not fetch its value: %s", k->id,
			    kr_last_error(kr));
			kl_secret_clear(&s);
			goto out;
		}
		kl_secret_clear(&s);
		if (strcmp(meta[i].master_key, k->mk) == 0)
			old++;
		if (strcmp(meta[i].master_key, newkey) == 0)
			nw++;
	}
	if (old == n)
		st = S_OLD;
	else if (nw == n)
		st = S_NEW;
	else
		snprintf(why, whylen, "a mix: %zu entries under their old keys, %zu under "
		    "%s, of %zu", old, nw, newkey, n);
 out:
	kr_meta_free(meta, n);
	kr_close(kr);
	return st;
}

static int
run_writer(int crash_at, const char *master, const char *op, const char *a1,
    const char *a2)
{
	char *argv[] = { (char *)writer, store, (char *)master, (char *)op, (char *)a1,
	    (char *)a2, NULL };

	return kr_softhsm_run_writer(errlog, crash_at, argv);
}

/* ---- a writer working while the token work runs ---- */

struct meddle {
	struct kr	*other;
	struct model	*m;
	size_t		 calls;
	int		 failed;
};

static void
meddle_progress(void *vctx, const char *phase, size_t done, size_t total)
{
	struct meddle *c = vctx;
	struct key *k;

	c->calls++;
	if (done != 1)
		return;
	/* a new entry, and one replaced by another value: both after phase 1 read them */
	k = &c->m->k[c->m->n++];
	memset(k, 0, sizeof(*k));
	kl_strlcpy(k->id, "late-new", sizeof(k->id));
	k->len = 24;
	if (RAND_bytes(k->v, (int)k->len) != 1 ||
	    kr_store(c->other, k->id, NULL, "AES", k->v, k->len) != 0)
		c->failed = 1;
	k = model_find(c->m, "B-4");
	if (k == NULL || kr_remove(c->other, "B-4", NULL) != 0 ||
	    RAND_bytes(k->v, (int)k->len) != 1 ||
	    kr_store(c->other, "B-4", NULL, "AES", k->v, k->len) != 0)
		c->failed = 1;
}

/* ---- a large store, BIG copies of one real blob under other ids ---- */

struct count {
	size_t		 calls, last;
	int		 ordered;
};

static void
count_progress(void *vctx, const char *phase, size_t done, size_t total)
{
	struct count *c = vctx;

	if (done != c->last + 1 || total != BIG)
		c->ordered = 0;
	c->last = done;
	c->calls++;
}

static void
big_store(void)
{
	struct kr_p11_config pc = { T.module, "keylocker", T.pin_file, "kl-master", "kl-mac" };
	struct kr_mac_ops mac;
	struct kr_p11 *p = NULL;
	struct kr_set *one = NULL, *big = NULL;
	struct kr_entry *e0, *e;
	struct kr *kr = NULL;
	struct kr_report rep;
	struct kr_meta *meta = NULL;
	struct count cnt = { 0, 0, 1 };
	const struct kr_mkey *mk;
	unsigned char dg[KR_STORE_DIGEST_LEN];
	char err[512], id[64], path[PATH_MAX + 8];
	size_t n = 0, i, under = 0;
	uint64_t t0;
	uint16_t mi;
	int exists = 0;

	kr_softhsm_path(path, sizeof(path), "%s.big", store);
	if (kr_p11_open(&pc, &p, err, sizeof(err)) != 0) {
		CHECK(0, "kr_p11_open: %s", err);
		return;
	}
	mac.sign = kr_p11_mac_sign;
	mac.verify = kr_p11_mac_verify;
	mac.ctx = p;
	mac.what = "kl-mac";
	if (kr_store_load(store, &mac, &one, &exists, dg, err, sizeof(err)) != 0 ||
	    kr_set_count(one) == 0) {
		CHECK(0, "load %s: %s", store, err);
		goto out;
	}
	e0 = kr_set_entry(one, 0);
	mk = kr_set_mkey_get(one, e0->mkey);
	if ((big = kr_set_new()) == NULL || kr_set_reserve(big, BIG) != 0 ||
	    kr_set_mkey(big, mk->label, mk->id, mk->id_len, &mi) != 0)
		goto out;
	for (i = 0; i < BIG; i++) {
		snprintf(id, sizeof(id), "INNODBKey-big-%zu", i);
		if ((e = kr_entry_new(id, "", "AES", e0->data_len, e0->blob, e0->blob_len,
		    mi)) == NULL)
			goto out;
		kr_set_insert(big, e);
	}
	if (kr_store_commit(path, big, 1, NULL, NULL, &mac, dg, err, sizeof(err)) != 0) {
		CHECK(0, "writing the large store: %s", err);
		goto out;
	}
	kr_p11_close(p);
	p = NULL;
	{
		struct kr_config c;

		memset(&c, 0, sizeof(c));
		c.path = path;
		c.module = T.module;
		c.token = (char *)"keylocker";
		c.master_key = (char *)"kl-master";
		c.mac_key = (char *)"kl-mac";
		c.pin_file = T.pin_file;
		if (kr_open(&c, &kr, err, sizeof(err)) != 0) {
			CHECK(0, "open the large store: %s", err);
			goto out;
		}
	}
	t0 = kl_monotonic_ms();
	CHECK(kr_rewrap(kr, "kl-master-0", count_progress, &cnt, &rep) == 0,
	    "rewrap of %d entries: %s", BIG, kr_last_error(kr));
	printf("large store: %d entries re-wrapped in %.2f s\n", BIG,
	    (double)(kl_monotonic_ms() - t0) / 1000.0);
	CHECK(rep.ok == BIG && cnt.calls == BIG && cnt.ordered,
	    "large store: %zu re-wrapped, progress called %zu times (in order: %d)",
	    rep.ok, cnt.calls, cnt.ordered);
	CHECK(kr_list(kr, &meta, &n) == 0 && n == BIG, "large store: %zu entries", n);
	for (i = 0; i < n; i++)
		under += strcmp(meta[i].master_key, "kl-master-0") == 0;
	CHECK(under == BIG, "large store: %zu of %d under the new key", under, BIG);
	kr_meta_free(meta, n);
	t0 = kl_monotonic_ms();
	CHECK(kr_verify(kr, NULL, NULL, NULL, &rep) == 0 && rep.ok == BIG,
	    "verify of the large store: %zu ok, %zu failed", rep.ok, rep.failed);
	printf("large store: %d entries verified in %.2f s\n", BIG,
	    (double)(kl_monotonic_ms() - t0) / 1000.0);
 out:
	kr_close(kr);
	kr_p11_close(p);
	kr_set_free(one);
	kr_set_free(big);
}

int
main(int argc, char **argv)
{
	static struct model m;
	struct kr_softhsm_snap snap;
	struct kr *kr = NULL, *kr2 = NULL;
	struct kr_report rep;
	struct kr_status st;
	struct meddle md;
	unsigned char *before = NULL, *after = NULL;
	size_t blen = 0, alen = 0, i;
	char why[600], seen[STEPS + 8];
	enum state s;
	int r, n, step, kills = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: rewrap_crash WRITER\n");
		return 2;
	}
	writer = argv[1];
	if ((r = kr_softhsm_setup(&T)) != 0)
		return r == KR_SOFTHSM_SKIP ? 77 : 1;
	if (kr_softhsm_init_token(&T, "keylocker") != 0 ||
	    kr_softhsm_make_master(&T, "keylocker", "kl-master-0") != 0 ||
	    kr_softhsm_make_master(&T, "keylocker", "kl-master") != 0 ||
	    kr_softhsm_make_master(&T, "keylocker", "kl-master-2") != 0 ||
	    kr_softhsm_make_mac(&T, "keylocker", "kl-mac") != 0) {
		kr_softhsm_teardown(&T);
		return 1;
	}
	kl_log_set_level(KL_LOG_ERROR);
	setenv("KR_CRASH_MODULE", T.module, 1);
	setenv("KR_CRASH_PIN_FILE", T.pin_file, 1);
	kr_softhsm_path(store, sizeof(store), "%s/store/keyring", T.dir);
	kr_softhsm_path(prev, sizeof(prev), "%s.prev", store);
	kr_softhsm_path(tmp, sizeof(tmp), "%s.tmp", store);
	kr_softhsm_path(lockp, sizeof(lockp), "%s.lock", store);
	kr_softhsm_path(errlog, sizeof(errlog), "%s/writer.err", T.dir);
	kr_softhsm_path(why, sizeof(why), "%.500s/store", T.dir);
	if (mkdir(why, 0700) != 0)
		return 1;

	/* the store: NOLD0 entries under kl-master-0, the rest under kl-master */
	for (i = 0; i < NKEYS; i++) {
		struct key *k = &m.k[m.n++];
		char hex[2 * sizeof(k->v) + 1];

		snprintf(k->id, sizeof(k->id), "%s-%zu", i < NOLD0 ? "A" : "B", i + 1);
		kl_strlcpy(k->mk, i < NOLD0 ? "kl-master-0" : "kl-master", sizeof(k->mk));
		k->len = 8 + 5 * i;	/* 8..33 bytes: padded and unpadded RFC 5649 */
		if (RAND_bytes(k->v, (int)k->len) != 1)
			return 1;
		kl_hex_encode(k->v, k->len, hex, sizeof(hex));
		CHECK(run_writer(0, k->mk, "store", k->id, hex) == 0, "store %s", k->id);
	}
	CHECK(store_state(&m, "kl-master-2", why, sizeof(why)) == S_OLD,
	    "the store before the rewrap: %s", why);

	/* 1. killed at every step */
	kr_softhsm_snap_take(&snap, store, prev);
	memset(seen, 0, sizeof(seen));
	for (n = 1;; n++) {
		kr_softhsm_snap_restore(&snap, store, prev, tmp, lockp);
		step = run_writer(n, "kl-master", "rewrap", "kl-master-2", NULL);
		if (step == 0)
			break;
		CHECK(step == n, "kill %d reported step %d", n, step);
		if (step != n || n > STEPS + 5)
			break;
		kills++;
		s = store_state(&m, "kl-master-2", why, sizeof(why));
		CHECK(s != S_BAD, "killed at step %d: %s", n, why);
		CHECK(n <= LAST_OLD_STEP ? s == S_OLD : s == S_NEW,
		    "killed at step %d: the store is %s", n, s == S_OLD ? "old" : "new");
		seen[n - 1] = s == S_OLD ? 'O' : s == S_NEW ? 'N' : '?';
		/* and a re-run over what the kill left finishes the job */
		CHECK(run_writer(0, "kl-master", "rewrap", "kl-master-2", NULL) == 0,
		    "re-run after a kill at step %d failed", n);
		CHECK(store_state(&m, "kl-master-2", why, sizeof(why)) == S_NEW,
		    "after the re-run (kill at step %d): %s", n, why);
		CHECK(access(tmp, F_OK) != 0, "%s left behind after the re-run", tmp);
	}
	CHECK(n == STEPS + 1, "%d crash points, expected %d", n - 1, STEPS);
	CHECK(store_state(&m, "kl-master-2", why, sizeof(why)) == S_NEW,
	    "the uncrashed rewrap: %s", why);
	printf("rewrap of %d entries killed at steps 1-%d, store after each kill "
	    "(Old/New): %s\n", NKEYS, n - 1, seen);
	kr_softhsm_snap_free(&snap);

	/* 2. nothing to do: no write */
	CHECK(kr_softhsm_read_file(store, &before, &blen) == 0, "read %s", store);
	CHECK(run_writer(0, "kl-master", "rewrap", "kl-master-2", NULL) == 0,
	    "a second rewrap failed");
	CHECK(kr_softhsm_read_file(store, &after, &alen) == 0 && alen == blen &&
	    memcmp(before, after, blen) == 0, "a rewrap with nothing to do wrote the store");
	free(after);
	after = NULL;

	/* 3. a target that is not there: refused, nothing written */
	CHECK(run_writer(0, "kl-master", "rewrap", "kl-no-such-key", NULL) == -1,
	    "rewrap to a missing key succeeded");
	CHECK(kr_softhsm_read_file(store, &after, &alen) == 0 && alen == blen &&
	    memcmp(before, after, blen) == 0, "a refused rewrap changed the store");
	free(after);
	free(before);

	/* 4. back to kl-master while another writer changes the store meanwhile */
	for (i = 0; i < m.n; i++)
		kl_strlcpy(m.k[i].mk, "kl-master-2", sizeof(m.k[i].mk));
	memset(&md, 0, sizeof(md));
	md.m = &m;
	if (open_kr("kl-master-2", 0, &kr, why, sizeof(why)) != 0 ||
	    open_kr("kl-master-2", 0, &kr2, why, sizeof(why)) != 0) {
		CHECK(0, "open: %s", why);
	} else {
		md.other = kr2;
		r = kr_rewrap(kr, "kl-master", meddle_progress, &md, &rep);
		CHECK(r == 0, "rewrap with a concurrent writer: %s", kr_last_error(kr));
		CHECK(!md.failed, "the concurrent writer failed: %s", kr_last_error(kr2));
		CHECK(md.calls == NKEYS, "progress called %zu times for %d entries", md.calls,
		    NKEYS);
		CHECK(rep.ok == NKEYS + 1 && rep.late == 2 && rep.skipped == 0,
		    "report: %zu re-wrapped, %zu late, %zu skipped (expected %d, 2, 0)",
		    rep.ok, rep.late, rep.skipped, NKEYS + 1);
		kr_get_status(kr, &st);
		CHECK(st.entries == NKEYS + 1, "%zu entries in memory", st.entries);
		CHECK(store_state(&m, "kl-master", why, sizeof(why)) == S_NEW,
		    "after the rewrap with a concurrent writer: %s", why);
		/* the other instance reloads the new generation on its next write */
		CHECK(kr_generate(kr2, "after-rewrap", NULL, "AES", 32) == 0,
		    "a write after the rewrap: %s", kr_last_error(kr2));
	}
	kr_close(kr);
	kr_close(kr2);

	/* 5. a large store */
	big_store();

	printf("rewrap_crash: %d kills, %d checks\n", kills, checks);
	printf("%d passed, %d failed\n", checks - failures, failures);
	if (failures == 0)
		kr_softhsm_teardown(&T);
	else
		fprintf(stderr, "kept %s for inspection\n", T.dir);
	return failures == 0 ? 0 : 1;
}
