/*
 * kl-bench token|scale [OPTIONS]: the C half of keylocker's benchmark.
 * bench/run.sh runs both halves and the MySQL part and prints the report.
 */
#include "bench/bench.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
bench_in_child(int (*fn)(void *arg, double *out, int max), void *arg, double *out, int max)
{
	int fds[2], status, n = -1;
	size_t want, got = 0;
	ssize_t r;
	pid_t pid;

	if (pipe(fds) != 0)
		return -1;
	fflush(NULL);
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		n = fn(arg, out, max);
		if (n < 0 || n > max)
			_exit(1);
		if (write(fds[1], &n, sizeof(n)) != (ssize_t)sizeof(n) ||
		    write(fds[1], out, (size_t)n * sizeof(*out)) !=
		    (ssize_t)((size_t)n * sizeof(*out)))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], &n, sizeof(n)) != (ssize_t)sizeof(n) || n < 0 || n > max)
		n = -1;
	want = n > 0 ? (size_t)n * sizeof(*out) : 0;
	while (n > 0 && got < want) {
		r = read(fds[0], (char *)out + got, want - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			n = -1;
			break;
		}
		got += (size_t)r;
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		n = -1;
	return n;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double
bench_quantile(double *v, int n, double q)
{
	int i;

	if (n <= 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	i = (int)ceil(q * n) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i];
}

double
bench_median(double *v, int n)
{
	if (n <= 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

const char *
bench_spread(double *v, int n, const char *fmt, char *buf, size_t len)
{
	char a[32], b[32], c[32];
	double m = bench_median(v, n);

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(a, sizeof(a), fmt, m);
	snprintf(b, sizeof(b), fmt, n > 0 ? v[0] : NAN);
	snprintf(c, sizeof(c), fmt, n > 0 ? v[n - 1] : NAN);
#pragma GCC diagnostic pop
	snprintf(buf, len, "%10s  [%s .. %s]", a, b, c);
	return buf;
}

static int
write_pin(const char *path, const char *pin)
{
	int fd, ok;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -1;
	ok = write(fd, pin, strlen(pin)) == (ssize_t)strlen(pin);
	return (close(fd) == 0 && ok) ? 0 : -1;
}

int
bench_env_init(struct bench_env *env)
{
	const char *build;
	int r;

	memset(env, 0, sizeof(*env));
	if (getenv("KL_BUILD_DIR") == NULL)
		setenv("KL_BUILD_DIR", KL_BENCH_BUILD_DIR, 1);
	build = getenv("KL_BUILD_DIR");
	if ((r = kl_setup_init(&env->kl, NULL)) != 0) {
		fprintf(stderr, "kl-bench: could not make a throwaway keylocker (%d)\n", r);
		return -1;
	}
	snprintf(env->keyring_pin_file, sizeof(env->keyring_pin_file), "%s/keyring.pin",
	    env->kl.dir);
	snprintf(env->backend_pin_file, sizeof(env->backend_pin_file), "%s/backend.pin",
	    env->kl.dir);
	snprintf(env->noaudit_module, sizeof(env->noaudit_module),
	    "%s/bench/libkl-bench-noaudit-pkcs11.so", build);
	if (write_pin(env->keyring_pin_file, KL_TEST_KEYRING_PIN) != 0) {
		fprintf(stderr, "kl-bench: cannot write %s\n", env->keyring_pin_file);
		return -1;
	}
	if (access(env->noaudit_module, R_OK) != 0) {
		fprintf(stderr, "kl-bench: %s is missing (build the bench/ targets)\n",
		    env->noaudit_module);
		return -1;
	}
	return 0;
}

void
bench_env_cleanup(struct bench_env *env)
{
	if (getenv("KL_BENCH_KEEP") != NULL) {
		fprintf(stderr, "kl-bench: kept %s\n", env->kl.dir);
		return;
	}
	kl_setup_cleanup(&env->kl);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: kl-bench token [--runs R] [--seconds S] [--only bare|kl|noaudit THREADS]\n"
	    "       kl-bench scale [--entries N] [--runs R] [--fetches M] [--no-rewrap]\n"
	    "Usually run through bench/run.sh.\n");
}

int
main(int argc, char **argv)
{
	struct bench_env env;
	int r;

	if (argc < 2) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[1], "token") != 0 && strcmp(argv[1], "scale") != 0) {
		usage();
		return 2;
	}
	if (bench_env_init(&env) != 0) {
		bench_env_cleanup(&env);
		return 1;
	}
	if (strcmp(argv[1], "token") == 0)
		r = bench_token(&env, argc - 1, argv + 1);
	else
		r = bench_scale(&env, argc - 1, argv + 1);
	bench_env_cleanup(&env);
	return r;
}
