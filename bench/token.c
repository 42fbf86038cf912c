/*
 * Part 1, the token path: round trips of the keyring's real work per second
 * (kr_p11_generate: C_GenerateKey of a 32-byte session secret, C_WrapKey
 * with the master key, C_DestroyObject; kr_p11_unwrap: C_UnwrapKey,
 * C_GetAttributeValue(CKA_VALUE), C_DestroyObject) through
 * libkeylocker-pkcs11.so with policy and audit on, through the same module
 * built with audit off (bench/audit_off.c), and on the same SoftHSM2 token
 * bare.  The calls and templates are the engine's own (keyring-bridge/
 * kr_p11.c), so the bare run makes exactly the calls keylocker forwards.
 *
 * Also the bound for part 3's re-wrap: the bare token's own rate of
 * C_UnwrapKey (sensitive, extractable session object) + C_WrapKey under a
 * second AES key + C_DestroyObject.
 */
#include "bench/bench.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "keyring-bridge/kr_p11.h"

#define MAX_THREADS	8
#define SECRET_LEN	32
#define WARMUP_OPS	20

enum tp_kind { TP_BARE, TP_KL, TP_KL_NOAUDIT, TP_KINDS };

static const char *const tp_names[TP_KINDS] = {
	"bare SoftHSM2", "keylocker, audit on", "keylocker, audit off",
};

struct tp_run {
	struct bench_env	*env;
	enum tp_kind		 kind;
	int			 threads;
	double			 seconds;
	int			 rewrap;	/* the re-wrap bound instead (bare only) */
};

struct worker {
	pthread_t		 th;
	pthread_barrier_t	*bar;
	atomic_int		*stop;
	struct kr_p11		*p;		/* round trips */
	CK_FUNCTION_LIST	*fl;		/* re-wrap bound */
	CK_SESSION_HANDLE	 session;
	CK_OBJECT_HANDLE	 master, newkey;
	unsigned char		 blob[64];
	CK_ULONG		 blob_len;
	int			 id;
	unsigned long		 ops;
	int			 failed;
};

static int
round_trip(struct worker *w)
{
	char label[32], err[512];
	unsigned char *blob = NULL;
	size_t blen = 0;
	struct kl_secret s = { NULL, 0 };
	int r;

	snprintf(label, sizeof(label), "bench-rt-%d", w->id);
	if ((r = kr_p11_generate(w->p, label, SECRET_LEN, &blob, &blen, err,
	    sizeof(err))) == 0)
		r = kr_p11_unwrap(w->p, kr_p11_master(w->p), label, blob, blen, SECRET_LEN,
		    &s, err, sizeof(err));
	if (r == 0 && s.len != SECRET_LEN) {
		snprintf(err, sizeof(err), "unwrapped %zu bytes, not %d", s.len, SECRET_LEN);
		r = -1;
	}
	if (r != 0)
		fprintf(stderr, "kl-bench: round trip: %s\n", err);
	kl_secret_clear(&s);
	free(blob);
	return r;
}

static int
unwrap_wrap(struct worker *w)
{
	static const CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	static const CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	static const CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	/* the template kr_p11_rewrap gives (keyring-bridge/kr_p11.c secret_template) */
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, (void *)&cls, sizeof(cls) },
		{ CKA_KEY_TYPE, (void *)&kt, sizeof(kt) },
		{ CKA_TOKEN, (void *)&f, sizeof(f) },
		{ CKA_PRIVATE, (void *)&t, sizeof(t) },
		{ CKA_SENSITIVE, (void *)&t, sizeof(t) },
		{ CKA_EXTRACTABLE, (void *)&t, sizeof(t) },
		{ CKA_ENCRYPT, (void *)&f, sizeof(f) },
		{ CKA_DECRYPT, (void *)&f, sizeof(f) },
		{ CKA_SIGN, (void *)&f, sizeof(f) },
		{ CKA_VERIFY, (void *)&f, sizeof(f) },
		{ CKA_WRAP, (void *)&f, sizeof(f) },
		{ CKA_UNWRAP, (void *)&f, sizeof(f) },
		{ CKA_DERIVE, (void *)&f, sizeof(f) },
		{ CKA_LABEL, (void *)"INNODBKey-bench", 15 },
	};
	CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	unsigned char out[64];
	CK_ULONG olen = sizeof(out);
	CK_RV rv;

	rv = w->fl->C_UnwrapKey(w->session, &kwp, w->master, w->blob, w->blob_len, tmpl,
	    sizeof(tmpl) / sizeof(tmpl[0]), &obj);
	if (rv == CKR_OK)
		rv = w->fl->C_WrapKey(w->session, &kwp, w->newkey, obj, out, &olen);
	if (obj != CK_INVALID_HANDLE)
		(void)w->fl->C_DestroyObject(w->session, obj);
	if (rv != CKR_OK || olen != w->blob_len) {
		fprintf(stderr, "kl-bench: unwrap+wrap failed: CKR 0x%lx\n", (unsigned long)rv);
		return -1;
	}
	return 0;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	int (*op)(struct worker *) = w->p != NULL ? round_trip : unwrap_wrap;
	int i;

	for (i = 0; i < WARMUP_OPS && !w->failed; i++)
		w->failed = op(w) != 0;
	pthread_barrier_wait(w->bar);
	while (!w->failed && !atomic_load(w->stop)) {
		if (op(w) != 0)
			w->failed = 1;
		else if (!atomic_load(w->stop))
			w->ops++;
	}
	return NULL;
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/*
 * Threads run op until told to stop.  rate[0] = ops per wall-clock second;
 * rate[1] = ops per CPU second of the whole process (every thread, the audit
 * writer's included), which a busy shared machine disturbs far less.
 */
static int
drive(struct worker *w, int n, double seconds, double rate[2])
{
	pthread_barrier_t bar;
	atomic_int stop = 0;
	unsigned long ops = 0;
	double t0, t1, c0, c1;
	int i, failed = 0;

	pthread_barrier_init(&bar, NULL, (unsigned)n + 1);
	for (i = 0; i < n; i++) {
		w[i].bar = &bar;
		w[i].stop = &stop;
		w[i].id = i;
		if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0)
			abort();
	}
	pthread_barrier_wait(&bar);
	t0 = bench_now();
	c0 = cpu_seconds();
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&stop, 1);
	t1 = bench_now();
	c1 = cpu_seconds();
	for (i = 0; i < n; i++) {
		pthread_join(w[i].th, NULL);
		ops += w[i].ops;
		failed |= w[i].failed;
	}
	pthread_barrier_destroy(&bar);
	rate[0] = (double)ops / (t1 - t0);
	rate[1] = c1 > c0 ? (double)ops / (c1 - c0) : 0;
	return failed ? -1 : 0;
}

static int
child_round_trips(void *arg, double *out, int max)
{
	struct tp_run *run = arg;
	struct worker w[MAX_THREADS];
	struct kr_p11_config cfg = {
		.token = KL_TEST_TOKEN, .master_key = KL_TEST_MASTER, .mac_key = KL_TEST_MAC,
	};
	char err[1024];
	int i, r = -1;

	memset(w, 0, sizeof(w));
	switch (run->kind) {
	case TP_BARE:
		cfg.module = run->env->kl.backend;
		cfg.pin_file = run->env->backend_pin_file;
		break;
	case TP_KL:
		cfg.module = run->env->kl.module;
		cfg.pin_file = run->env->keyring_pin_file;
		break;
	default:
		cfg.module = run->env->noaudit_module;
		cfg.pin_file = run->env->keyring_pin_file;
		break;
	}
	for (i = 0; i < run->threads; i++) {
		if (kr_p11_open(&cfg, &w[i].p, err, sizeof(err)) != 0) {
			fprintf(stderr, "kl-bench: %s\n", err);
			goto out;
		}
	}
	if (max >= 2 && drive(w, run->threads, run->seconds, out) == 0)
		r = 2;
 out:
	for (i = 0; i < run->threads; i++)
		kr_p11_close(w[i].p);
	return r;
}

static int
read_pin(const char *path, char *pin, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(pin, 1, len - 1, f);
	fclose(f);
	while (n > 0 && (pin[n - 1] == '\n' || pin[n - 1] == '\r'))
		n--;
	pin[n] = '\0';
	return n > 0 ? 0 : -1;
}

/* The bare token, raw PKCS#11: a second AES key and a wrapped secret per thread. */
static int
child_rewrap_bound(void *arg, double *out, int max)
{
	static const CK_OBJECT_CLASS skc = CKO_SECRET_KEY;
	static const CK_KEY_TYPE aes = CKK_AES, gen = CKK_GENERIC_SECRET;
	static const CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	struct tp_run *run = arg;
	struct worker w[MAX_THREADS];
	CK_C_GetFunctionList getfl;
	CK_FUNCTION_LIST *fl = NULL;
	CK_C_INITIALIZE_ARGS ia = { .flags = CKF_OS_LOCKING_OK };
	CK_SLOT_ID slots[16];
	CK_ULONG ns = 16, nf, vlen32 = 32, i;
	CK_TOKEN_INFO ti;
	CK_SLOT_ID slot = 0;
	CK_MECHANISM aesgen = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_MECHANISM secgen = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ATTRIBUTE find[] = {
		{ CKA_CLASS, (void *)&skc, sizeof(skc) },
		{ CKA_LABEL, (void *)KL_TEST_MASTER, strlen(KL_TEST_MASTER) },
	};
	/* a token object, as a real new master key is (SoftHSM2 re-checks those on use) */
	CK_ATTRIBUTE newk[] = {
		{ CKA_CLASS, (void *)&skc, sizeof(skc) },
		{ CKA_KEY_TYPE, (void *)&aes, sizeof(aes) },
		{ CKA_TOKEN, (void *)&t, sizeof(t) },
		{ CKA_PRIVATE, (void *)&t, sizeof(t) },
		{ CKA_LABEL, (void *)"kl-bench-bound", 14 },
		{ CKA_SENSITIVE, (void *)&t, sizeof(t) },
		{ CKA_EXTRACTABLE, (void *)&f, sizeof(f) },
		{ CKA_WRAP, (void *)&t, sizeof(t) },
		{ CKA_UNWRAP, (void *)&t, sizeof(t) },
		{ CKA_VALUE_LEN, &vlen32, sizeof(vlen32) },
	};
	CK_ATTRIBUTE sec[] = {
		{ CKA_CLASS, (void *)&skc, sizeof(skc) },
		{ CKA_KEY_TYPE, (void *)&gen, sizeof(gen) },
		{ CKA_TOKEN, (void *)&f, sizeof(f) },
		{ CKA_SENSITIVE, (void *)&t, sizeof(t) },
		{ CKA_EXTRACTABLE, (void *)&t, sizeof(t) },
		{ CKA_VALUE_LEN, &vlen32, sizeof(vlen32) },
	};
	CK_OBJECT_HANDLE s;
	char pin[256];
	void *dl;
	int k, r = -1;

	memset(w, 0, sizeof(w));
	if ((dl = dlopen(run->env->kl.backend, RTLD_NOW | RTLD_LOCAL)) == NULL ||
	    (getfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
	    getfl(&fl) != CKR_OK || fl->C_Initialize(&ia) != CKR_OK ||
	    fl->C_GetSlotList(CK_TRUE, slots, &ns) != CKR_OK) {
		fprintf(stderr, "kl-bench: cannot load %s\n", run->env->kl.backend);
		return -1;
	}
	for (i = 0; i < ns; i++)
		if (fl->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    strncmp((char *)ti.label, KL_TEST_TOKEN, strlen(KL_TEST_TOKEN)) == 0 &&
		    ti.label[strlen(KL_TEST_TOKEN)] == ' ')
			break;
	if (i == ns || read_pin(run->env->backend_pin_file, pin, sizeof(pin)) != 0) {
		fprintf(stderr, "kl-bench: no token '%s' or no backend PIN\n", KL_TEST_TOKEN);
		goto out;
	}
	slot = slots[i];
	for (k = 0; k < run->threads; k++) {
		w[k].fl = fl;
		if (fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
		    &w[k].session) != CKR_OK)
			goto out;
		if (k == 0 && fl->C_Login(w[k].session, CKU_USER, (CK_UTF8CHAR *)pin,
		    strlen(pin)) != CKR_OK) {
			fprintf(stderr, "kl-bench: bare C_Login failed\n");
			goto out;
		}
		if (fl->C_FindObjectsInit(w[k].session, find, 2) != CKR_OK ||
		    fl->C_FindObjects(w[k].session, &w[k].master, 1, &nf) != CKR_OK ||
		    fl->C_FindObjectsFinal(w[k].session) != CKR_OK || nf != 1) {
			fprintf(stderr, "kl-bench: master key '%s' not found\n", KL_TEST_MASTER);
			goto out;
		}
		w[k].blob_len = sizeof(w[k].blob);
		if (fl->C_GenerateKey(w[k].session, &aesgen, newk, sizeof(newk) / sizeof(newk[0]),
		    &w[k].newkey) != CKR_OK ||
		    fl->C_GenerateKey(w[k].session, &secgen, sec, 6, &s) != CKR_OK ||
		    fl->C_WrapKey(w[k].session, &kwp, w[k].master, s, w[k].blob,
		    &w[k].blob_len) != CKR_OK) {
			fprintf(stderr, "kl-bench: cannot set up the re-wrap bound\n");
			goto out;
		}
		(void)fl->C_DestroyObject(w[k].session, s);
	}
	if (max >= 2 && drive(w, run->threads, run->seconds, out) == 0)
		r = 2;
 out:
	for (k = 0; k < run->threads; k++)	/* memset above: 0 is CK_INVALID_HANDLE */
		if (w[k].newkey != CK_INVALID_HANDLE)
			(void)fl->C_DestroyObject(w[k].session, w[k].newkey);
	explicit_bzero(pin, sizeof(pin));
	if (fl != NULL)
		fl->C_Finalize(NULL);
	return r;
}

/* rate[0] per wall-clock second, rate[1] per CPU second (see drive). */
static int
one_run(struct tp_run *run, double rate[2])
{
	double v[2];
	int n = bench_in_child(run->rewrap ? child_rewrap_bound : child_round_trips, run,
	    v, 2);

	if (n != 2)
		return -1;
	rate[0] = v[0];
	rate[1] = v[1];
	return 0;
}

#define MAX_RUNS	64

static const char *const measure_names[2] = {
	"per wall-clock second", "per CPU second of the process (all threads)",
};

/* "r  ; median [min .. max]" of the per-run ratios a[i]/b[i], and r = median(a)/median(b). */
static double
ratio_text(const double *a, const double *b, int runs, char *buf, size_t len)
{
	double ra[MAX_RUNS], rb[MAX_RUNS], pr[MAX_RUNS], r;
	char s[96];
	int i;

	for (i = 0; i < runs; i++) {
		ra[i] = a[i];
		rb[i] = b[i];
		pr[i] = b[i] > 0 ? a[i] / b[i] : 0;
	}
	r = bench_median(ra, runs) / bench_median(rb, runs);
	snprintf(buf, len, "%.3f; %s", r, bench_spread(pr, runs, "%.3f", s, sizeof(s)));
	return r;
}

/* One table (u: 0 wall clock, 1 CPU time) and its RESULT lines. */
static void
report(int u, double (*rates)[TP_KINDS][MAX_RUNS], int runs)
{
	static const int thread_counts[] = { 1, 2 };
	double v[MAX_RUNS], r, ra;
	char b1[128], b2[192];
	int t, k;

	printf("  round trips %s\n", measure_names[u]);
	printf("  %-7s %-22s %26s   %s\n", "threads", "configuration",
	    "median  [min .. max]", "ratio of medians; per-run ratios median [min .. max]");
	for (t = 0; t < 2; t++) {
		for (k = 0; k < TP_KINDS; k++) {
			memcpy(v, rates[t][k], sizeof(double) * (size_t)runs);
			bench_spread(v, runs, "%.0f", b1, sizeof(b1));
			if (k == TP_BARE)
				snprintf(b2, sizeof(b2), "baseline");
			else {
				r = ratio_text(rates[t][k], rates[t][TP_BARE], runs, b2, sizeof(b2));
				if (k == TP_KL)
					snprintf(b2 + strlen(b2), sizeof(b2) - strlen(b2),
					    "  goal >= 0.95: %s", r >= 0.95 ? "met" : "MISSED");
			}
			printf("  %-7d %-22s %26s   %s\n", thread_counts[t], tp_names[k], b1, b2);
		}
		ra = ratio_text(rates[t][TP_KL], rates[t][TP_KL_NOAUDIT], runs, b2, sizeof(b2));
		printf("  %-7d %-22s %26s   %s  goal >= 0.95: %s\n", thread_counts[t],
		    "audit on / audit off", "", b2, ra >= 0.95 ? "met" : "MISSED");
		r = ratio_text(rates[t][TP_KL], rates[t][TP_BARE], runs, b2, sizeof(b2));
		memcpy(v, rates[t][TP_BARE], sizeof(double) * (size_t)runs);
		printf("RESULT token%s threads=%d bare=%.1f", u ? "_cpu" : "", thread_counts[t],
		    bench_median(v, runs));
		memcpy(v, rates[t][TP_KL], sizeof(double) * (size_t)runs);
		printf(" kl=%.1f", bench_median(v, runs));
		memcpy(v, rates[t][TP_KL_NOAUDIT], sizeof(double) * (size_t)runs);
		printf(" kl_noaudit=%.1f ratio=%.4f audit_ratio=%.4f\n", bench_median(v, runs),
		    r, ra);
	}
}

int
bench_token(struct bench_env *env, int argc, char **argv)
{
	static const int thread_counts[] = { 1, 2 };
	/* [wall, cpu][threads][configuration][run] */
	static double rates[2][2][TP_KINDS][MAX_RUNS], bound[2][2][MAX_RUNS];
	double seconds = 3.0, m[2], one[2];
	char b1[128];
	int runs = 5, i, k, t, kk;
	struct tp_run run = { .env = env };

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (strcmp(argv[i], "--only") == 0 && i + 2 < argc) {
			/* for profiling: --only bare|kl|noaudit THREADS, one run, in this process */
			const char *what = argv[++i];

			run.threads = atoi(argv[++i]);
			run.kind = strcmp(what, "bare") == 0 ? TP_BARE :
			    strcmp(what, "kl") == 0 ? TP_KL : TP_KL_NOAUDIT;
			run.seconds = seconds;
			if (run.threads < 1 || run.threads > MAX_THREADS ||
			    child_round_trips(&run, m, 2) != 2)
				return 1;
			printf("%s, %d thread(s): %.0f round trips/s, %.0f per CPU second\n",
			    tp_names[run.kind], run.threads, m[0], m[1]);
			return 0;
		} else {
			fprintf(stderr, "kl-bench token: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (runs < 1 || runs > MAX_RUNS || !(seconds > 0 && seconds <= 600)) {
		fprintf(stderr, "kl-bench token: --runs 1..%d, --seconds 0..600\n", MAX_RUNS);
		return 2;
	}
	run.seconds = seconds;
	printf("== 1. token path: round trips of generate 32 B + wrap + unwrap + read "
	    "(%d interleaved runs x %.1f s each)\n", runs, seconds);
	/* interleaved: every configuration once per run, the order rotating */
	for (i = 0; i < runs; i++) {
		for (t = 0; t < 2; t++) {
			run.threads = thread_counts[t];
			for (kk = 0; kk < TP_KINDS + 1; kk++) {
				k = (kk + i) % (TP_KINDS + 1);
				run.kind = k == TP_KINDS ? TP_BARE : (enum tp_kind)k;
				run.rewrap = k == TP_KINDS;
				if (one_run(&run, one) != 0) {
					fprintf(stderr, "kl-bench: run failed: %s, %d thread(s)\n",
					    k == TP_KINDS ? "re-wrap bound" : tp_names[k],
					    run.threads);
					return 1;
				}
				if (k == TP_KINDS) {
					bound[0][t][i] = one[0];
					bound[1][t][i] = one[1];
				} else {
					rates[0][t][k][i] = one[0];
					rates[1][t][k][i] = one[1];
				}
			}
		}
	}
	report(0, rates[0], runs);
	report(1, rates[1], runs);
	printf("  re-wrap bound, bare token: C_UnwrapKey + C_WrapKey under another key + "
	    "C_DestroyObject\n");
	for (t = 0; t < 2; t++) {
		for (k = 0; k < 2; k++) {
			printf("  %-7d %-22s %26s %s\n", thread_counts[t], "bare unwrap+wrap",
			    bench_spread(bound[k][t], runs, "%.0f", b1, sizeof(b1)),
			    measure_names[k]);
			m[k] = bench_median(bound[k][t], runs);
		}
		printf("RESULT rewrap_bound threads=%d rate=%.1f cpu_rate=%.1f\n",
		    thread_counts[t], m[0], m[1]);
	}
	return 0;
}

/* The bare token's unwrap+wrap rate (part 3's bound), one forked child. */
int
bench_rewrap_bound(struct bench_env *env, int threads, double seconds, double *rate)
{
	struct tp_run run = { env, TP_BARE, threads, seconds, 1 };
	double r[2];

	if (one_run(&run, r) != 0)
		return -1;
	*rate = r[0];
	return 0;
}
