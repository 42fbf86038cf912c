/*
 * keylocker: the operator's command line.  Each verb lives in its own file;
 * this one dispatches and holds what they share (PIN input, the module).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "common/p11client.h"
#include "common/p11names.h"
#include "common/util.h"
#include "kl_paths.h"
#include "tools/cli.h"

/* as_owner: started as root, the verb runs as the owner of keylocker.yaml */
static const struct {
	const char	*name;
	int		(*fn)(int, char **);
	int		 as_owner;
	const char	*help;
} verbs[] = {
	{ "init", cmd_init, 0, "create a token, master key, clients and keylocker.yaml" },
	{ "status", cmd_status, 1, "show backend, tokens, keys, clients and audit state" },
	{ "pin-hash", cmd_pin_hash, 0, "hash a client PIN for keylocker.yaml" },
	{ "retire", cmd_retire, 1, "retire a master key: it unwraps but no longer wraps" },
	{ "selftest", cmd_selftest, 1, "a wrap/unwrap round trip as a keyring client" },
#ifdef KL_HAVE_KEYRING
	{ "keyring", cmd_keyring, 0, "list, verify, back up, restore or re-wrap the MySQL keyring" },
#endif
	{ "mysql", cmd_mysql, 0, "wire a MySQL server to component_keyring_pkcs11" },
	{ "audit", cmd_audit, 1, "verify the audit trail, or show its last records" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: keylocker VERB [OPTIONS]   (keylocker VERB --help for each)\n\n");
	for (i = 0; i < KL_ARRAY_SIZE(verbs); i++)
		fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\nConfiguration: $KEYLOCKER_CONF, else %s\n", KL_DEFAULT_CONF);
}

int
cli_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "keylocker: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAIL;
}

void
cli_json_str(FILE *f, const char *s)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p > 0x7e)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

const char *
cli_module_path(void)
{
	const char *e = getenv("KEYLOCKER_MODULE");

	return e != NULL && *e != '\0' ? e : KL_DEFAULT_MODULE;
}

static int
prompt_once(const char *prompt, char *buf, size_t len)
{
	struct termios old, quiet;
	int fd, echo_off = 0;
	ssize_t n;
	size_t got = 0;

	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) < 0)
		return -1;
	if (write(fd, prompt, strlen(prompt)) < 0)
		goto out;
	if (tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		echo_off = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	while (got + 1 < len && (n = read(fd, buf + got, 1)) == 1 && buf[got] != '\n')
		got++;
	buf[got] = '\0';
	if (echo_off)
		(void)tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0)
		got = got > 0 ? got : 0;	/* the PIN was read; a lost newline is cosmetic */
 out:
	close(fd);
	return got > 0 ? 0 : -1;
}

int
cli_get_pin(const char *literal, const char *file, const char *env, const char *prompt,
	    int confirm, struct kl_secret *out)
{
	char a[257], b[257], err[512];
	const char *e;
	int r = -1;

	out->p = NULL;
	out->len = 0;
	if (literal != NULL)
		return kl_secret_dup(out, literal, strlen(literal)) == 0 ? 0 : -1;
	if (file != NULL) {
		if (kl_read_secret_file(file, out, err, sizeof(err)) != 0) {
			cli_fail("%s", err);
			return -1;
		}
		return 0;
	}
	if (env != NULL && (e = getenv(env)) != NULL && *e != '\0')
		return kl_secret_dup(out, e, strlen(e)) == 0 ? 0 : -1;
	if (prompt_once(prompt, a, sizeof(a)) != 0) {
		cli_fail("no PIN given and no terminal to ask on (%s)", prompt);
		goto out;
	}
	if (confirm) {
		if (prompt_once("Again: ", b, sizeof(b)) != 0 || strcmp(a, b) != 0) {
			cli_fail("the two PINs differ");
			goto out;
		}
	}
	r = kl_secret_dup(out, a, strlen(a)) == 0 ? 0 : -1;
 out:
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	return r;
}

int
cli_open_module(const char *token, const struct kl_secret *pin, struct kl_p11c **out)
{
	char err[1024];
	CK_RV rv;

	if (kl_p11c_open(cli_module_path(), token, out, err, sizeof(err)) != 0)
		return cli_fail("%s", err);
	if (pin != NULL && (rv = kl_p11c_login(*out, CKU_USER, pin)) != CKR_OK) {
		kl_p11c_close(*out);
		*out = NULL;
		return cli_fail("login to token %s failed: %s%s", token != NULL ? token : "",
		    kl_ckr(rv), rv == CKR_PIN_INCORRECT ? " (wrong PIN)" :
		    rv == CKR_PIN_LOCKED ? " (too many wrong PINs: wait for the lockout)" : "");
	}
	return 0;
}

int
cli_become(uid_t uid, gid_t gid, const char *why)
{
	struct passwd *pw = getpwuid(uid);
	const char *name = pw != NULL ? pw->pw_name : "(no name)";

	if ((pw != NULL ? initgroups(pw->pw_name, gid) : setgroups(0, NULL)) != 0 ||
	    setgid(gid) != 0 || setuid(uid) != 0)
		return cli_fail("cannot become %s (uid %u): %s", name, (unsigned)uid,
		    strerror(errno));
	if (setuid(0) == 0)
		return cli_fail("dropping root did not stick");
	if (why != NULL)
		fprintf(stderr, "keylocker: running as %s (uid %u), %s\n", name,
		    (unsigned)uid, why);
	return 0;
}

/*
 * Started as root with a configuration another user owns (keylocker init
 * --owner mysql): become that user for good, so the files the module writes
 * (audit trail, lockout and anchor state) stay theirs and the PIN files read
 * as they do for the server.
 */
static int
become_conf_owner(void)
{
	const char *conf = getenv("KEYLOCKER_CONF");
	struct passwd *pw;
	struct stat st;

	if (geteuid() != 0)
		return 0;
	if (conf == NULL || *conf == '\0')
		conf = KL_DEFAULT_CONF;
	if (stat(conf, &st) != 0 || st.st_uid == 0)
		return 0;
	pw = getpwuid(st.st_uid);
	return cli_become(st.st_uid, pw != NULL ? pw->pw_gid : st.st_gid,
	    "the owner of the configuration");
}

int
main(int argc, char **argv)
{
	size_t i;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("keylocker %s\n", KL_VERSION);
		return EXIT_OK;
	}
	for (i = 0; i < KL_ARRAY_SIZE(verbs); i++) {
		if (strcmp(argv[1], verbs[i].name) != 0)
			continue;
		if (verbs[i].as_owner && become_conf_owner() != 0)
			return EXIT_FAIL;
		return verbs[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "keylocker: unknown verb \"%s\"\n\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
