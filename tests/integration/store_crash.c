/*
 * Crash safety of the keyring store: a sequence of writes, and for each one
 * the writer (store_crash_writer, built with crash points) is killed with
 * SIGKILL at every step of the write protocol in turn.  After every kill
 * the store must load and hold exactly the old or exactly the new set of
 * keys, every key with its value (nothing lost, nothing half-written); a
 * kill before the rename must leave the old set, after it the new one; and
 * the next write, over whatever the crash left behind, must succeed.
 *
 *   store_crash <path of store_crash_writer>
 *
 * Exit 0 when every check passed, 1 otherwise, 77 without SoftHSM2.
 */
#include "keyring-bridge/kr.h"
#include "tests/integration/kr_softhsm.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

/* The protocol's steps (store.c and kr.c); kills at 1..7 precede the rename. */
#define STEPS		10
#define LAST_OLD_STEP	7

#define MAXKEYS		16

struct key {
	char		 id[64];
	unsigned char	 v[KR_DATA_MAX];
	size_t		 len;
	int		 known;		/* value known (not a fresh generate) */
};

struct model {
	struct key	 k[MAXKEYS];
	size_t		 n;
};

static const struct {
	const char	*op;
	const char	*id;
	size_t		 len;
} writes[] = {
	{ "store", "INNODBKey-6c3a-1", 32 },		/* first write: no store yet */
	{ "store", "INNODBKey-6c3a-2", 16 },
	{ "generate", "MySQLReplicationKey_6c3a_1", 32 },
	{ "remove", "INNODBKey-6c3a-1", 0 },
	{ "store", "persisted_variables_key", 100 },
	{ "generate", "INNODBKey-6c3a-3", 64 },
	{ "remove", "MySQLReplicationKey_6c3a_1", 0 },
	{ "store", "keyring_udf_big", KR_DATA_MAX },
};

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

static void
model_remove(struct model *m, const char *id)
{
	struct key *k = model_find(m, id);

	if (k != NULL) {
		*k = m->k[m->n - 1];
		m->n--;
	}
}

/*
 * 1 when the keyring at path holds exactly m's ids and every known value;
 * keys whose value is unknown must have the right length (their value is
 * copied into m).
 */
static int
keyring_is(const char *path, struct model *m, char *why, size_t whylen)
{
	struct kr_config c;
	struct kr *kr = NULL;
	struct kr_meta *meta = NULL;
	struct kl_secret s = { NULL, 0 };
	char err[512], type[KR_TYPE_MAX + 1];
	size_t n = 0, i;
	int ok = 0;
	struct key *k;

	memset(&c, 0, sizeof(c));
	c.path = (char *)path;
	c.module = T.module;
	c.token = (char *)"keylocker";
	c.master_key = (char *)"kl-master";
	c.mac_key = (char *)"kl-mac";
	c.pin_file = T.pin_file;
	c.read_only = 1;	/* checking never writes */
	if (kr_open(&c, &kr, err, sizeof(err)) != 0) {
		snprintf(why, whylen, "does not load: %s", err);
		return 0;
	}
	if (kr_list(kr, &meta, &n) != 0) {
		snprintf(why, whylen, "kr_list: %s", kr_last_error(kr));
		goto out;
	}
	if (n != m->n) {
		snprintf(why, whylen, "%zu entries, expected %zu", n, m->n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((k = model_find(m, meta[i].data_id)) == NULL) {
			snprintf(why, whylen, "unexpected entry %s", meta[i].data_id);
			goto out;
		}
		if (kr_fetch(kr, k->id, NULL, &s, type) != KR_FOUND) {
			snprintf(why, whylen, "%s does not fetch: %s", k->id,
			    kr_last_error(kr));
			goto out;
		}
		if (s.len != k->len || (k->known && memcmp(s.p, k->v, k->len) != 0)) {
			snprintf(why, whylen, "%s has the wrong value", k->id);
			kl_secret_clear(&s);
			goto out;
		}
		if (!k->known)
			memcpy(k->v, s.p, s.len);
		kl_secret_clear(&s);
	}
	ok = 1;
 out:
	kr_meta_free(meta, n);
	kr_close(kr);
	return ok;
}

/* Run the writer; the crash step it reported, 0 when it finished, -1 on failure. */
static int
run_writer(int crash_at, const char *op, const char *id, const char *arg)
{
	/* remove takes no value: the empty arg ends the list */
	char *argv[] = { (char *)writer, store, (char *)op, (char *)id,
	    arg[0] == '\0' ? NULL : (char *)arg, NULL };

	return kr_softhsm_run_writer(errlog, crash_at, argv);
}

int
main(int argc, char **argv)
{
	static struct model old, new, after, tmpm;
	static char hex[2 * KR_DATA_MAX + 1];
	struct kr_softhsm_snap snap;
	char why[600], rec_id[64], rec_hex[33];
	unsigned char rec[16];
	size_t w;
	int r, n, step, kills = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: store_crash WRITER\n");
		return 2;
	}
	writer = argv[1];
	if ((r = kr_softhsm_setup(&T)) != 0)
		return r == KR_SOFTHSM_SKIP ? 77 : 1;
	if (kr_softhsm_init_token(&T, "keylocker") != 0 ||
	    kr_softhsm_make_master(&T, "keylocker", "kl-master") != 0 ||
	    kr_softhsm_make_mac(&T, "keylocker", "kl-mac") != 0) {
		kr_softhsm_teardown(&T);
		return 1;
	}
	kl_log_set_level(KL_LOG_ERROR);
	setenv("KR_CRASH_MODULE", T.module, 1);
	setenv("KR_CRASH_PIN_FILE", T.pin_file, 1);
	kr_softhsm_path(store, sizeof(store), "%s/store/component_keyring_pkcs11", T.dir);
	kr_softhsm_path(prev, sizeof(prev), "%s.prev", store);
	kr_softhsm_path(tmp, sizeof(tmp), "%s.tmp", store);
	kr_softhsm_path(lockp, sizeof(lockp), "%s.lock", store);
	kr_softhsm_path(errlog, sizeof(errlog), "%s/writer.err", T.dir);
	kr_softhsm_path(why, sizeof(why), "%.500s/store", T.dir);
	if (mkdir(why, 0700) != 0)
		return 1;

	for (w = 0; w < sizeof(writes) / sizeof(writes[0]); w++) {
		const char *op = writes[w].op, *id = writes[w].id, *arg = "";
		char lenbuf[16];
		struct key *k;
		int old_at[STEPS + 1] = { 0 }, new_at[STEPS + 1] = { 0 };

		/* the model after this write */
		new = old;
		if (strcmp(op, "remove") == 0) {
			model_remove(&new, id);
		} else {
			k = &new.k[new.n++];
			memset(k, 0, sizeof(*k));
			kl_strlcpy(k->id, id, sizeof(k->id));
			k->len = writes[w].len;
			if (strcmp(op, "store") == 0) {
				if (RAND_bytes(k->v, (int)k->len) != 1)
					return 1;
				k->known = 1;
				kl_hex_encode(k->v, k->len, hex, sizeof(hex));
				arg = hex;
			} else {
				snprintf(lenbuf, sizeof(lenbuf), "%zu", k->len);
				arg = lenbuf;
			}
		}
		kr_softhsm_snap_take(&snap, store, prev);
		for (n = 1;; n++) {
			kr_softhsm_snap_restore(&snap, store, prev, tmp, lockp);
			step = run_writer(n, op, id, arg);
			if (step == 0)
				break;		/* ran past the last step: done below */
			CHECK(step == n, "write %zu (%s %s): kill %d reported step %d",
			    w + 1, op, id, n, step);
			if (step != n || n > STEPS + 5)
				break;
			kills++;
			/* old or new, exactly */
			tmpm = old;
			if (keyring_is(store, &tmpm, why, sizeof(why))) {
				old_at[n] = 1;
				after = old;
			} else {
				tmpm = new;
				if (keyring_is(store, &tmpm, why, sizeof(why))) {
					new_at[n] = 1;
					after = tmpm;
				} else {
					CHECK(0, "write %zu (%s %s) killed at step %d: the "
					    "store is neither the old nor the new keyring: %s",
					    w + 1, op, id, n, why);
					continue;
				}
			}
			CHECK(n <= LAST_OLD_STEP ? old_at[n] : new_at[n],
			    "write %zu (%s %s) killed at step %d left the %s keyring",
			    w + 1, op, id, n, old_at[n] ? "old" : "new");
			/* and the next write works over what the crash left */
			snprintf(rec_id, sizeof(rec_id), "recovery-%zu-%d", w + 1, n);
			if (RAND_bytes(rec, sizeof(rec)) != 1)
				return 1;
			kl_hex_encode(rec, sizeof(rec), rec_hex, sizeof(rec_hex));
			CHECK(run_writer(0, "store", rec_id, rec_hex) == 0,
			    "write after a kill at step %d of write %zu failed", n, w + 1);
			k = &after.k[after.n++];
			memset(k, 0, sizeof(*k));
			kl_strlcpy(k->id, rec_id, sizeof(k->id));
			memcpy(k->v, rec, sizeof(rec));
			k->len = sizeof(rec);
			k->known = 1;
			CHECK(keyring_is(store, &after, why, sizeof(why)),
			    "after the recovery write (kill at step %d of write %zu): %s",
			    n, w + 1, why);
			CHECK(access(tmp, F_OK) != 0, "%s left behind after recovery", tmp);
		}
		CHECK(n == STEPS + 1, "write %zu (%s %s): %d crash points, expected %d",
		    w + 1, op, id, n - 1, STEPS);
		/* the uncrashed run (last in the loop, on the restored snapshot) */
		CHECK(keyring_is(store, &new, why, sizeof(why)),
		    "write %zu (%s %s) completed but: %s", w + 1, op, id, why);
		if ((k = model_find(&new, id)) != NULL)
			k->known = 1;	/* a generated value is now fixed */
		if (w > 0) {
			tmpm = old;
			CHECK(keyring_is(prev, &tmpm, why, sizeof(why)),
			    "write %zu: %s is not the previous generation: %s", w + 1,
			    prev, why);
		}
		{
			char seen[STEPS + 1];
			int i;

			for (i = 1; i <= STEPS; i++)
				seen[i - 1] = old_at[i] ? 'O' : new_at[i] ? 'N' : '?';
			seen[STEPS] = '\0';
			printf("write %zu (%-8s %s): killed at steps 1-%d, keyring after "
			    "each kill (Old/New): %s\n", w + 1, op, id, n - 1, seen);
		}
		kr_softhsm_snap_free(&snap);
		old = new;
	}
	printf("store_crash: %d kills over %zu writes, %d checks\n", kills,
	    sizeof(writes) / sizeof(writes[0]), checks);
	printf("%d passed, %d failed\n", checks - failures, failures);
	if (failures == 0)
		kr_softhsm_teardown(&T);
	else
		fprintf(stderr, "kept %s for inspection\n", T.dir);
	return failures == 0 ? 0 : 1;
}
