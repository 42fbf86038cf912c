#define _XOPEN_SOURCE 700	/* nftw() */

#include "tests/integration/kr_softhsm.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>
#include <openssl/rand.h>

#include "common/util.h"

#define DEFAULT_MODULE	"/usr/lib/softhsm/libsofthsm2.so"

void
kr_softhsm_path(char *dst, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		fprintf(stderr, "path too long: %s...\n", dst);
		abort();
	}
}

static const char *
util_path(void)
{
	static const char *const dirs[] = { "/usr/bin", "/usr/local/bin", "/bin" };
	static char buf[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(buf, sizeof(buf), "%s/softhsm2-util", dirs[i]);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

int
kr_softhsm_write_file(const char *path, const void *p, size_t len, mode_t mode)
{
	FILE *f;
	int ok;

	(void)unlink(path);
	if ((f = fopen(path, "wx")) == NULL)
		return -1;
	ok = fwrite(p, 1, len, f) == len;
	ok = (fclose(f) == 0) && ok;
	return (ok && chmod(path, mode) == 0) ? 0 : -1;
}

int
kr_softhsm_read_file(const char *path, unsigned char **p, size_t *len)
{
	FILE *f;
	unsigned char *b = NULL;
	size_t n = 0, cap = 0, got;

	*p = NULL;
	*len = 0;
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	for (;;) {
		if (n == cap) {
			unsigned char *nb;

			cap = cap ? cap * 2 : 4096;
			if ((nb = realloc(b, cap)) == NULL) {
				free(b);
				fclose(f);
				return -1;
			}
			b = nb;
		}
		got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	*p = b;
	*len = n;
	return 0;
}

int
kr_softhsm_setup(struct kr_softhsm *t)
{
	const char *mod = getenv("KL_SOFTHSM2_MODULE");
	const char *tmp = getenv("TMPDIR");
	char conf[PATH_MAX * 2];

	memset(t, 0, sizeof(*t));
	if (mod == NULL || *mod == '\0')
		mod = DEFAULT_MODULE;
	if (access(mod, R_OK) != 0 || util_path() == NULL) {
		fprintf(stderr, "SoftHSM2 is not installed (%s, softhsm2-util): skipping\n",
		    mod);
		return KR_SOFTHSM_SKIP;
	}
	kl_strlcpy(t->module, mod, sizeof(t->module));
	snprintf(t->dir, sizeof(t->dir), "%s/kr-test-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(t->dir) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", t->dir, strerror(errno));
		return -1;
	}
	snprintf(conf, sizeof(conf), "%s/tokens", t->dir);
	if (mkdir(conf, 0700) != 0) {
		fprintf(stderr, "mkdir %s: %s\n", conf, strerror(errno));
		return -1;
	}
	kr_softhsm_path(t->conf, sizeof(t->conf), "%s/softhsm2.conf", t->dir);
	snprintf(conf, sizeof(conf), "directories.tokendir = %s/tokens\n"
	    "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
	    t->dir);
	if (kr_softhsm_write_file(t->conf, conf, strlen(conf), 0600) != 0) {
		fprintf(stderr, "cannot write %s\n", t->conf);
		return -1;
	}
	kr_softhsm_path(t->pin_file, sizeof(t->pin_file), "%s/pin", t->dir);
	if (kr_softhsm_write_file(t->pin_file, KR_SOFTHSM_PIN "\n",
	    strlen(KR_SOFTHSM_PIN) + 1, 0600) != 0) {
		fprintf(stderr, "cannot write %s\n", t->pin_file);
		return -1;
	}
	setenv("SOFTHSM2_CONF", t->conf, 1);
	return 0;
}

int
kr_softhsm_init_token(struct kr_softhsm *t, const char *label)
{
	const char *util = util_path();
	pid_t pid;
	int st, fd;

	if (util == NULL)
		return -1;
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) >= 0)
			dup2(fd, 1);
		setenv("SOFTHSM2_CONF", t->conf, 1);
		execl(util, "softhsm2-util", "--init-token", "--free", "--label", label,
		    "--pin", KR_SOFTHSM_PIN, "--so-pin", KR_SOFTHSM_SO_PIN, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "softhsm2-util --init-token --label %s failed\n", label);
		return -1;
	}
	return 0;
}

/* A logged-in R/W session on the token, for the helpers below. */
struct helper {
	void			*dl;
	CK_FUNCTION_LIST_PTR	 fl;
	CK_SESSION_HANDLE	 s;
	CK_SLOT_ID		 slot;
	int			 finalize;
};

static int
helper_open(struct kr_softhsm *t, const char *token, struct helper *h, int login)
{
	CK_C_GetFunctionList getfl;
	CK_C_INITIALIZE_ARGS args;
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	char label[33];
	void *sym;
	CK_RV rv;

	memset(h, 0, sizeof(*h));
	if ((h->dl = dlopen(t->module, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return -1;
	sym = dlsym(h->dl, "C_GetFunctionList");
	memcpy(&getfl, &sym, sizeof(getfl));
	if (sym == NULL || getfl(&h->fl) != CKR_OK)
		return -1;
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = h->fl->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return -1;
	h->finalize = rv == CKR_OK;
	if (h->fl->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return -1;
	for (i = 0; i < n; i++) {
		if (h->fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		kl_p11_strtrim(ti.label, sizeof(ti.label), label, sizeof(label));
		if (strcmp(label, token) == 0)
			break;
	}
	if (i == n) {
		fprintf(stderr, "no token %s\n", token);
		return -1;
	}
	h->slot = slots[i];
	if (!login)
		return 0;
	if (h->fl->C_OpenSession(h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
	    &h->s) != CKR_OK)
		return -1;
	rv = h->fl->C_Login(h->s, CKU_USER, (CK_UTF8CHAR_PTR)KR_SOFTHSM_PIN,
	    strlen(KR_SOFTHSM_PIN));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return -1;
	return 0;
}

static void
helper_close(struct helper *h)
{
	if (h->fl != NULL && h->s != 0)
		h->fl->C_CloseSession(h->s);
	if (h->fl != NULL && h->finalize)
		h->fl->C_Finalize(NULL);
	/* no dlclose: the engine keeps the module mapped too (see kr_p11.c) */
}

int
kr_softhsm_make_master(struct kr_softhsm *t, const char *token, const char *label)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG vlen = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	unsigned char id[16];
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &vlen, sizeof(vlen) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_MODIFIABLE, &no, sizeof(no) },
		{ CKA_COPYABLE, &no, sizeof(no) },
		{ CKA_WRAP, &yes, sizeof(yes) },
		{ CKA_UNWRAP, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &no, sizeof(no) },
		{ CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_SIGN, &no, sizeof(no) },
		{ CKA_VERIFY, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, id, sizeof(id) },
	};
	CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_OBJECT_HANDLE k;
	struct helper h;
	int r = -1;

	if (RAND_bytes(id, sizeof(id)) != 1)
		return -1;
	if (helper_open(t, token, &h, 1) == 0 &&
	    h.fl->C_GenerateKey(h.s, &mech, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &k) == CKR_OK)
		r = 0;
	helper_close(&h);
	if (r != 0)
		fprintf(stderr, "cannot make master key %s on %s\n", label, token);
	return r;
}

int
kr_softhsm_make_mac(struct kr_softhsm *t, const char *token, const char *label)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ULONG vlen = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &vlen, sizeof(vlen) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_MODIFIABLE, &no, sizeof(no) },
		{ CKA_COPYABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_WRAP, &no, sizeof(no) },
		{ CKA_UNWRAP, &no, sizeof(no) },
		{ CKA_ENCRYPT, &no, sizeof(no) },
		{ CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_MECHANISM mech = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_OBJECT_HANDLE k;
	struct helper h;
	int r = -1;

	if (helper_open(t, token, &h, 1) == 0 &&
	    h.fl->C_GenerateKey(h.s, &mech, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &k) == CKR_OK)
		r = 0;
	helper_close(&h);
	if (r != 0)
		fprintf(stderr, "cannot make MAC key %s on %s\n", label, token);
	return r;
}

int
kr_softhsm_close_all_sessions(struct kr_softhsm *t, const char *token)
{
	struct helper h;
	int r = -1;

	if (helper_open(t, token, &h, 0) == 0 &&
	    h.fl->C_CloseAllSessions(h.slot) == CKR_OK)
		r = 0;
	helper_close(&h);
	return r;
}

int
kr_softhsm_run_writer(const char *errlog, int crash_at, char *const argv[])
{
	char at[16], line[512] = "";
	FILE *f;
	pid_t pid;
	int st, fd, step = -1;

	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if ((fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0)
			dup2(fd, 2);
		if (crash_at > 0) {
			snprintf(at, sizeof(at), "%d", crash_at);
			setenv("KR_TEST_CRASH_AT", at, 1);
		} else {
			unsetenv("KR_TEST_CRASH_AT");
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	if ((f = fopen(errlog, "r")) != NULL) {
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL &&
	    sscanf(line, "crash point %d:", &step) == 1)
		return step;
	/* not its arguments: they may hold a key value in hex */
	fprintf(stderr, "writer %s (crash at %d) failed: %s", argv[0], crash_at, line);
	return -1;
}

void
kr_softhsm_snap_take(struct kr_softhsm_snap *s, const char *store, const char *prev)
{
	memset(s, 0, sizeof(*s));
	if (kr_softhsm_read_file(store, &s->cur, &s->cur_len) != 0)
		s->cur = NULL;
	if (kr_softhsm_read_file(prev, &s->prev, &s->prev_len) != 0)
		s->prev = NULL;
}

void
kr_softhsm_snap_restore(const struct kr_softhsm_snap *s, const char *store,
    const char *prev, const char *tmp, const char *lock)
{
	(void)unlink(store);
	(void)unlink(prev);
	(void)unlink(tmp);
	(void)unlink(lock);
	if (s->cur != NULL && kr_softhsm_write_file(store, s->cur, s->cur_len, 0600) != 0)
		abort();
	if (s->prev != NULL && kr_softhsm_write_file(prev, s->prev, s->prev_len, 0600) != 0)
		abort();
}

void
kr_softhsm_snap_free(struct kr_softhsm_snap *s)
{
	free(s->cur);
	free(s->prev);
	s->cur = s->prev = NULL;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

void
kr_softhsm_teardown(struct kr_softhsm *t)
{
	if (t->dir[0] == '\0' || getenv("KR_TEST_KEEP") != NULL)
		return;
	(void)nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
