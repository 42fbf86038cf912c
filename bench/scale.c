/*
 * Part 3, scale: a keyring store of N wrapped entries (real blobs, each a
 * 32-byte secret generated and wrapped by the token through
 * libkeylocker-pkcs11.so), then, interleaved over several runs:
 *   load    kr_store_load: read, MAC check in the token, parse, index;
 *   open    kr_open: module, login, keys, load (what mysqld pays at start);
 *   fetch   kr_fetch latency of M random entries, uncached (C_UnwrapKey and
 *           C_GetAttributeValue) and then cached (no token call);
 *   rewrap  kr_rewrap: every entry re-wrapped inside the token under a new
 *           master key and the store written once, against the bare token's
 *           own unwrap+wrap rate.
 */
#include "bench/bench.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyring-bridge/kr.h"
#include "keyring-bridge/kr_p11.h"
#include "keyring-bridge/store.h"

#define SECRET_LEN	32
#define BUILD_THREADS	2

struct scale {
	struct bench_env	*env;
	char			 path[400];	/* the store */
	size_t			 entries;
	int			 fetches;
	unsigned		 seed;
	char			 new_master[64];	/* rewrap target */
	char			 old_master[64];	/* what the store is wrapped with */
};

static void
data_id(char *buf, size_t len, size_t i)
{
	snprintf(buf, len, "INNODBKey-bench0000-0000-0000-0000-000000000000-%zu", i + 1);
}

static void
p11_config(struct scale *sc, struct kr_p11_config *c, const char *master)
{
	memset(c, 0, sizeof(*c));
	c->module = sc->env->kl.module;
	c->token = KL_TEST_TOKEN;
	c->pin_file = sc->env->keyring_pin_file;
	c->master_key = master;
	c->mac_key = KL_TEST_MAC;
}

static void
mac_ops(struct kr_p11 *p, struct kr_mac_ops *m)
{
	m->sign = kr_p11_mac_sign;
	m->verify = kr_p11_mac_verify;
	m->ctx = p;
	m->what = kr_p11_mac_what(p);
}

struct builder {
	pthread_t	 th;
	struct kr_p11	*p;
	size_t		 from, to;
	unsigned char	(*blobs)[KR_BLOB_LEN(SECRET_LEN)];
	int		 failed;
};

static void *
build_main(void *arg)
{
	struct builder *b = arg;
	char id[128], err[512];
	unsigned char *blob;
	size_t i, blen;

	for (i = b->from; i < b->to && !b->failed; i++) {
		data_id(id, sizeof(id), i);
		if (kr_p11_generate(b->p, id, SECRET_LEN, &blob, &blen, err, sizeof(err)) != 0 ||
		    blen != KR_BLOB_LEN(SECRET_LEN)) {
			fprintf(stderr, "kl-bench: generate %s: %s\n", id, err);
			b->failed = 1;
			break;
		}
		memcpy(b->blobs[i], blob, blen);
		free(blob);
	}
	return NULL;
}

/* out: seconds to generate, seconds to commit, file size. */
static int
child_build(void *arg, double *out, int max)
{
	struct scale *sc = arg;
	struct kr_p11_config pc;
	struct builder b[BUILD_THREADS];
	struct kr_mac_ops mac;
	struct kr_set *set = NULL;
	struct kr_entry *e;
	const struct kr_mkey *mk;
	unsigned char digest[KR_STORE_DIGEST_LEN];
	unsigned char (*blobs)[KR_BLOB_LEN(SECRET_LEN)];
	char id[128], err[1024];
	struct stat st;
	uint16_t mi;
	double t0, t1, t2;
	size_t i;
	int k, r = -1;

	memset(b, 0, sizeof(b));
	if (max < 3 || (blobs = calloc(sc->entries, sizeof(*blobs))) == NULL)
		return -1;
	p11_config(sc, &pc, KL_TEST_MASTER);
	for (k = 0; k < BUILD_THREADS; k++) {
		if (kr_p11_open(&pc, &b[k].p, err, sizeof(err)) != 0) {
			fprintf(stderr, "kl-bench: %s\n", err);
			goto out;
		}
		b[k].blobs = blobs;
		b[k].from = sc->entries * (size_t)k / BUILD_THREADS;
		b[k].to = sc->entries * (size_t)(k + 1) / BUILD_THREADS;
	}
	t0 = bench_now();
	for (k = 0; k < BUILD_THREADS; k++)
		pthread_create(&b[k].th, NULL, build_main, &b[k]);
	for (k = 0; k < BUILD_THREADS; k++) {
		pthread_join(b[k].th, NULL);
		if (b[k].failed)
			goto out;
	}
	t1 = bench_now();
	mk = kr_p11_master(b[0].p);
	if ((set = kr_set_new()) == NULL ||
	    kr_set_mkey(set, mk->label, mk->id, mk->id_len, &mi) != 0 ||
	    kr_set_reserve(set, sc->entries) != 0)
		goto out;
	for (i = 0; i < sc->entries; i++) {
		data_id(id, sizeof(id), i);
		if ((e = kr_entry_new(id, "", "AES", SECRET_LEN, blobs[i], sizeof(blobs[i]),
		    mi)) == NULL)
			goto out;
		kr_set_insert(set, e);
	}
	mac_ops(b[0].p, &mac);
	if (kr_store_commit(sc->path, set, 1, NULL, NULL, &mac, digest, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "kl-bench: commit: %s\n", err);
		goto out;
	}
	t2 = bench_now();
	if (stat(sc->path, &st) != 0)
		goto out;
	out[0] = t1 - t0;
	out[1] = t2 - t1;
	out[2] = (double)st.st_size;
	r = 3;
 out:
	kr_set_free(set);
	for (k = 0; k < BUILD_THREADS; k++)
		kr_p11_close(b[k].p);
	free(blobs);
	return r;
}

/* out: seconds of kr_store_load (the token is open already). */
static int
child_load(void *arg, double *out, int max)
{
	struct scale *sc = arg;
	struct kr_p11_config pc;
	struct kr_p11 *p = NULL;
	struct kr_mac_ops mac;
	struct kr_set *set = NULL;
	unsigned char digest[KR_STORE_DIGEST_LEN];
	char err[1024];
	double t0, t1;
	int exists = 0, r = -1;

	p11_config(sc, &pc, sc->old_master);
	if (max < 1 || kr_p11_open(&pc, &p, err, sizeof(err)) != 0) {
		fprintf(stderr, "kl-bench: %s\n", err);
		return -1;
	}
	mac_ops(p, &mac);
	t0 = bench_now();
	if (kr_store_load(sc->path, &mac, &set, &exists, digest, err, sizeof(err)) != 0) {
		fprintf(stderr, "kl-bench: load: %s\n", err);
		goto out;
	}
	t1 = bench_now();
	if (!exists || kr_set_count(set) != sc->entries) {
		fprintf(stderr, "kl-bench: load gave %zu entries, not %zu\n",
		    kr_set_count(set), sc->entries);
		goto out;
	}
	out[0] = t1 - t0;
	r = 1;
 out:
	kr_set_free(set);
	kr_p11_close(p);
	return r;
}

/* out: kr_open seconds, then fetches uncached latencies, then fetches cached. */
static int
child_fetch(void *arg, double *out, int max)
{
	struct scale *sc = arg;
	struct kr_config cfg;
	struct kr *kr = NULL;
	struct kl_secret s = { NULL, 0 };
	char id[128], type[KR_TYPE_MAX + 1], err[1024];
	size_t *pick, k, tmp;
	double t0;
	int i, pass, r = -1;
	unsigned seed = sc->seed;

	if (max < 1 + 2 * sc->fetches || (size_t)sc->fetches > sc->entries ||
	    (pick = calloc(sc->entries, sizeof(*pick))) == NULL)
		return -1;
	/* distinct entries: the first `fetches` of a partial Fisher-Yates shuffle */
	for (k = 0; k < sc->entries; k++)
		pick[k] = k;
	for (i = 0; i < sc->fetches; i++) {
		k = (size_t)i + (size_t)rand_r(&seed) % (sc->entries - (size_t)i);
		tmp = pick[i];
		pick[i] = pick[k];
		pick[k] = tmp;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.path = sc->path;
	cfg.module = sc->env->kl.module;
	cfg.token = (char *)KL_TEST_TOKEN;
	cfg.master_key = sc->old_master;
	cfg.mac_key = (char *)KL_TEST_MAC;
	cfg.pin_file = sc->env->keyring_pin_file;
	cfg.cache = 1;
	cfg.read_only = 1;
	t0 = bench_now();
	if (kr_open(&cfg, &kr, err, sizeof(err)) != 0) {
		fprintf(stderr, "kl-bench: kr_open: %s\n", err);
		goto out;
	}
	out[0] = bench_now() - t0;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < sc->fetches; i++) {
			data_id(id, sizeof(id), pick[i]);
			t0 = bench_now();
			if (kr_fetch(kr, id, "", &s, type) != KR_FOUND || s.len != SECRET_LEN) {
				fprintf(stderr, "kl-bench: fetch %s: %s\n", id, kr_last_error(kr));
				goto out;
			}
			out[1 + pass * sc->fetches + i] = bench_now() - t0;
			kl_secret_clear(&s);
		}
	}
	r = 1 + 2 * sc->fetches;
 out:
	kl_secret_clear(&s);
	kr_close(kr);
	free(pick);
	return r;
}

/*
 * kr_rewrap: every entry unwrapped and re-wrapped under sc->new_master inside
 * the token, then the store written once.  out: seconds of kr_rewrap.
 */
static int
child_rewrap(void *arg, double *out, int max)
{
	struct scale *sc = arg;
	struct kr_config cfg;
	struct kr_report rep;
	struct kr *kr = NULL;
	char err[1024];
	double t0, t1;
	int r = -1;

	memset(&cfg, 0, sizeof(cfg));
	memset(&rep, 0, sizeof(rep));
	cfg.path = sc->path;
	cfg.module = sc->env->kl.module;
	cfg.token = (char *)KL_TEST_TOKEN;
	cfg.master_key = sc->old_master;
	cfg.mac_key = (char *)KL_TEST_MAC;
	cfg.pin_file = sc->env->keyring_pin_file;
	if (max < 1 || kr_open(&cfg, &kr, err, sizeof(err)) != 0) {
		fprintf(stderr, "kl-bench: rewrap: kr_open: %s\n", err);
		return -1;
	}
	t0 = bench_now();
	if (kr_rewrap(kr, sc->new_master, NULL, NULL, &rep) != 0) {
		fprintf(stderr, "kl-bench: kr_rewrap to %s: %s\n", sc->new_master,
		    kr_last_error(kr));
		goto out;
	}
	t1 = bench_now();
	if (rep.ok != sc->entries || rep.failed != 0) {
		fprintf(stderr, "kl-bench: kr_rewrap re-wrapped %zu of %zu entries\n", rep.ok,
		    sc->entries);
		goto out;
	}
	out[0] = t1 - t0;
	r = 1;
 out:
	kr_close(kr);
	return r;
}

/* A new master key, generated in the token by the admin through keylocker. */
static int
new_master(struct scale *sc, int n)
{
	char cmd[2048];

	snprintf(sc->new_master, sizeof(sc->new_master), "%s-bench%d", KL_TEST_MASTER, n);
	snprintf(cmd, sizeof(cmd), "pkcs11-tool --module '%s' --token-label %s --login "
	    "--pin %s --keygen --key-type AES:32 --usage-wrap --label %s >/dev/null 2>&1",
	    sc->env->kl.module, KL_TEST_TOKEN, KL_TEST_ADMIN_PIN, sc->new_master);
	if (system(cmd) != 0) {
		fprintf(stderr, "kl-bench: could not generate master key %s\n", sc->new_master);
		return -1;
	}
	return 0;
}

#define MAX_RUNS	32

int
bench_scale(struct bench_env *env, int argc, char **argv)
{
	static double v[BENCH_MAX_VALUES];
	double load[MAX_RUNS], open[MAX_RUNS], unc[MAX_RUNS], cac[MAX_RUNS];
	double unc99[MAX_RUNS], cac99[MAX_RUNS], rw[MAX_RUNS], bound[MAX_RUNS];
	double build[3], ratio;
	struct scale sc;
	char b[128];
	int runs = 3, i, n, k, rewrap = 1, fails = 0;

	memset(&sc, 0, sizeof(sc));
	sc.env = env;
	sc.entries = 100000;
	sc.fetches = 1000;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--entries") == 0 && i + 1 < argc)
			sc.entries = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--fetches") == 0 && i + 1 < argc)
			sc.fetches = atoi(argv[++i]);
		else if (strcmp(argv[i], "--no-rewrap") == 0)
			rewrap = 0;
		else {
			fprintf(stderr, "kl-bench scale: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (sc.entries < 1 || sc.entries > KR_STORE_ENTRIES_MAX || runs < 1 ||
	    runs > MAX_RUNS || sc.fetches < 1 || 1 + 2 * sc.fetches > BENCH_MAX_VALUES ||
	    (size_t)sc.fetches > sc.entries) {
		fprintf(stderr, "kl-bench scale: --entries 1..%u, --runs 1..%d, "
		    "--fetches 1..min(%d, entries)\n", KR_STORE_ENTRIES_MAX, MAX_RUNS,
		    (BENCH_MAX_VALUES - 1) / 2);
		return 2;
	}
	snprintf(sc.path, sizeof(sc.path), "%s/bench-keyring", env->kl.dir);
	snprintf(sc.old_master, sizeof(sc.old_master), "%s", KL_TEST_MASTER);
	printf("== 3. scale: a store of %zu wrapped entries (%d interleaved runs, "
	    "%d random fetches each)\n", sc.entries, runs, sc.fetches);
	if (bench_in_child(child_build, &sc, build, 3) != 3) {
		fprintf(stderr, "kl-bench: building the store failed\n");
		return 1;
	}
	printf("  built: %zu token generate+wrap in %.2f s (%.0f/s, %d threads), "
	    "commit %.3f s, file %.1f MiB\n", sc.entries, build[0],
	    (double)sc.entries / build[0], BUILD_THREADS, build[1], build[2] / 1048576.0);
	for (i = 0; i < runs; i++) {
		sc.seed = 12345u + (unsigned)i;
		if (bench_in_child(child_load, &sc, v, 1) != 1) {
			fails++;
			break;
		}
		load[i] = v[0];
		n = bench_in_child(child_fetch, &sc, v, BENCH_MAX_VALUES);
		if (n != 1 + 2 * sc.fetches) {
			fails++;
			break;
		}
		open[i] = v[0];
		unc[i] = bench_median(v + 1, sc.fetches);
		unc99[i] = bench_quantile(v + 1, sc.fetches, 0.99);
		cac[i] = bench_median(v + 1 + sc.fetches, sc.fetches);
		cac99[i] = bench_quantile(v + 1 + sc.fetches, sc.fetches, 0.99);
		if (!rewrap)
			continue;
		if (bench_rewrap_bound(env, 1, 2.0, &bound[i]) != 0 || new_master(&sc, i) != 0 ||
		    bench_in_child(child_rewrap, &sc, v, 1) != 1) {
			fails++;
			break;
		}
		rw[i] = v[0];
		snprintf(sc.old_master, sizeof(sc.old_master), "%s", sc.new_master);
	}
	if (fails) {
		fprintf(stderr, "kl-bench: a scale run failed\n");
		return 1;
	}
	printf("  %-40s %s\n", "", "median  [min .. max] over runs");
	printf("  %-40s %s   goal < 1 s: %s\n", "load (read, MAC in token, parse), s",
	    bench_spread(load, runs, "%.3f", b, sizeof(b)),
	    bench_median(load, runs) < 1.0 ? "met" : "MISSED");
	printf("  %-40s %s\n", "kr_open (module, login, keys, load), s",
	    bench_spread(open, runs, "%.3f", b, sizeof(b)));
	for (k = 0; k < runs; k++) {
		unc[k] *= 1e6;
		unc99[k] *= 1e6;
		cac[k] *= 1e6;
		cac99[k] *= 1e6;
	}
	printf("  %-40s %s\n", "fetch uncached, median us",
	    bench_spread(unc, runs, "%.1f", b, sizeof(b)));
	printf("  %-40s %s\n", "fetch uncached, p99 us",
	    bench_spread(unc99, runs, "%.1f", b, sizeof(b)));
	printf("  %-40s %s\n", "fetch cached, median us",
	    bench_spread(cac, runs, "%.2f", b, sizeof(b)));
	printf("  %-40s %s\n", "fetch cached, p99 us",
	    bench_spread(cac99, runs, "%.2f", b, sizeof(b)));
	printf("RESULT scale entries=%zu load_s=%.4f open_s=%.4f fetch_uncached_us=%.2f "
	    "fetch_cached_us=%.3f\n", sc.entries, bench_median(load, runs),
	    bench_median(open, runs), bench_median(unc, runs), bench_median(cac, runs));
	if (!rewrap)
		return 0;
	for (k = 0; k < runs; k++)
		rw[k] = (double)sc.entries / rw[k];	/* entries per second */
	printf("  %-40s %s\n", "kr_rewrap, entries/s (all, with the write)",
	    bench_spread(rw, runs, "%.0f", b, sizeof(b)));
	printf("  %-40s %s\n", "bound: bare unwrap+wrap, 1 thread, /s",
	    bench_spread(bound, runs, "%.0f", b, sizeof(b)));
	ratio = bench_median(rw, runs) / bench_median(bound, runs);
	printf("  %-40s %.3f (re-wrap time %.1f s for %zu entries; at the bound %.1f s)\n",
	    "re-wrap rate / bound", ratio, (double)sc.entries / bench_median(rw, runs),
	    sc.entries, (double)sc.entries / bench_median(bound, runs));
	printf("RESULT rewrap entries=%zu rate=%.1f bound=%.1f ratio=%.4f\n",
	    sc.entries, bench_median(rw, runs), bench_median(bound, runs), ratio);
	return 0;
}
