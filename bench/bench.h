/*
 * keylocker's benchmark (bench/run.sh drives it; docs/performance.md tells
 * what it measures).  Every measurement runs in a forked child so that bare
 * SoftHSM2 and libkeylocker-pkcs11.so never share a process, and runs of the
 * configurations being compared are interleaved so a noisy machine hurts
 * them alike.  Children report through a pipe: an array of doubles.
 */
#ifndef KL_BENCH_H
#define KL_BENCH_H

#include <stddef.h>

#include "tests/integration/klsetup.h"

#define BENCH_MAX_VALUES	4096

/* Monotonic seconds. */
double	bench_now(void);

/*
 * Run fn(arg, out, max) in a forked child; it returns how many doubles it
 * put in out (or -1).  Returns that count in the parent, or -1 when the child
 * failed (its stderr says why).
 */
int	bench_in_child(int (*fn)(void *arg, double *out, int max), void *arg,
	    double *out, int max);

/* Sorts v in place.  Median, and the q-quantile (0..1, nearest rank). */
double	bench_median(double *v, int n);
double	bench_quantile(double *v, int n, double q);

/* "median  [min .. max]" of v (sorted in place) into buf. */
const char *bench_spread(double *v, int n, const char *fmt, char *buf, size_t len);

/* A throwaway keylocker (the real `keylocker init`) plus the keyring PIN file. */
struct bench_env {
	struct kl_setup	 kl;
	char		 keyring_pin_file[320];	/* the keyring client's PIN (0600) */
	char		 backend_pin_file[320];	/* the token's own user PIN */
	char		 noaudit_module[512];	/* bench/libkl-bench-noaudit-pkcs11.so */
};
int	bench_env_init(struct bench_env *env);
void	bench_env_cleanup(struct bench_env *env);

int	bench_token(struct bench_env *env, int argc, char **argv);
int	bench_scale(struct bench_env *env, int argc, char **argv);
/* The bare token's C_UnwrapKey + C_WrapKey rate (per second), in a child. */
int	bench_rewrap_bound(struct bench_env *env, int threads, double seconds, double *rate);

#endif
