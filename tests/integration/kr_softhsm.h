/*
 * Throwaway SoftHSM2 tokens for the keyring engine's tests: a private
 * SOFTHSM2_CONF and token directory under a mkdtemp() directory, tokens made
 * with softhsm2-util, and master/MAC keys generated through PKCS#11 with the
 * templates `keylocker init` uses.
 */
#ifndef KR_SOFTHSM_H
#define KR_SOFTHSM_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#define KR_SOFTHSM_PIN		"kr-test-pin-1234"
#define KR_SOFTHSM_SO_PIN	"kr-test-so-5678"
#define KR_SOFTHSM_SKIP		77

struct kr_softhsm {
	char		 dir[PATH_MAX];		/* everything lives under here */
	char		 conf[PATH_MAX];	/* SOFTHSM2_CONF (set in the environment) */
	char		 pin_file[PATH_MAX];	/* the user PIN, mode 600 */
	char		 module[PATH_MAX];	/* libsofthsm2.so */
};

/*
 * Make the directory and configuration and export SOFTHSM2_CONF.  Returns 0,
 * KR_SOFTHSM_SKIP when SoftHSM2 is not installed, or -1 (message on stderr).
 */
int	kr_softhsm_setup(struct kr_softhsm *t);
/* softhsm2-util --init-token --free --label label. 0 or -1. */
int	kr_softhsm_init_token(struct kr_softhsm *t, const char *label);
/*
 * Generate, on the token labelled token, an AES-256 master key (token,
 * private, sensitive, not extractable/modifiable/copyable, WRAP and UNWRAP
 * only) with a random 16-byte CKA_ID, or a 32-byte generic-secret MAC key
 * (SIGN and VERIFY only).  0 or -1.
 */
int	kr_softhsm_make_master(struct kr_softhsm *t, const char *token, const char *label);
int	kr_softhsm_make_mac(struct kr_softhsm *t, const char *token, const char *label);
/* Close every session of the token (to test session recovery). 0 or -1. */
int	kr_softhsm_close_all_sessions(struct kr_softhsm *t, const char *token);

/* Write a file with that content and mode.  0 or -1. */
int	kr_softhsm_write_file(const char *path, const void *p, size_t len, mode_t mode);
/* Read a whole file (malloc()ed).  0 or -1. */
int	kr_softhsm_read_file(const char *path, unsigned char **p, size_t *len);
/* snprintf that aborts instead of truncating (paths in tests). */
void	kr_softhsm_path(char *dst, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * The crash tests' writer: run argv (argv[0] the program), with
 * KR_TEST_CRASH_AT=crash_at (unset when 0) and its stderr in errlog.  0 when
 * it finished, the crash point it reported when it was killed at one, -1
 * otherwise (its first stderr line is printed, not its arguments).
 */
int	kr_softhsm_run_writer(const char *errlog, int crash_at, char *const argv[]);

/* A store and its previous generation, put back before each kill. */
struct kr_softhsm_snap {
	unsigned char	*cur, *prev;
	size_t		 cur_len, prev_len;
};
/* Read store and prev (a missing file stays missing on restore). */
void	kr_softhsm_snap_take(struct kr_softhsm_snap *s, const char *store, const char *prev);
/* Remove store, prev, tmp and lock, then write back what was taken; aborts on failure. */
void	kr_softhsm_snap_restore(const struct kr_softhsm_snap *s, const char *store,
	    const char *prev, const char *tmp, const char *lock);
void	kr_softhsm_snap_free(struct kr_softhsm_snap *s);

/* rm -r of t->dir. */
void	kr_softhsm_teardown(struct kr_softhsm *t);

#endif
