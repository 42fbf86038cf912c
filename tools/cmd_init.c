/*
 * keylocker init --dir DIR: a SoftHSM2 token of keylocker's own (its
 * softhsm2.conf, token directory and a random backend PIN no client sees),
 * keylocker.yaml with an admin and a keyring client (and an auditor when
 * given a PIN), then, through libkeylocker-pkcs11.so itself, the master key,
 * the store MAC key and the audit key.  Never overwrites an existing setup.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dlfcn.h>
#include <linux/fs.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/p11client.h"
#include "common/p11names.h"
#include "common/util.h"
#include "conf/conf.h"
#include "kl_paths.h"
#include "policy/pin.h"
#include "tools/cli.h"

#define DEFAULT_BACKEND	"/usr/lib/softhsm/libsofthsm2.so"
#define MAX_AUDIT_FILES	8

struct init_opts {
	const char	*dir;
	const char	*token;
	const char	*master_key;
	const char	*mac_key;
	const char	*audit_key;
	const char	*backend;
	const char	*pin[3], *pin_file[3];	/* admin, keyring, auditor */
	unsigned	 cost;
	const char	*audit_files[MAX_AUDIT_FILES];
	size_t		 n_audit_files;
	int		 append_only;
	int		 syslog;		/* -1: if /dev/log exists */
	int		 quiet;
	const char	*owner;		/* --owner: the files and token become this user's */
};

static void
init_usage(FILE *f)
{
	fprintf(f,
	    "usage: keylocker init --dir DIR [--admin-pin PIN | --admin-pin-file F]\n"
	    "                      [--keyring-pin PIN | --keyring-pin-file F]\n"
	    "                      [--auditor-pin PIN | --auditor-pin-file F]\n"
	    "                      [--master-key LABEL] [--token LABEL] [--pin-cost N]\n"
	    "                      [--audit-file PATH]... [--no-append-only] [--no-syslog]\n"
	    "                      [--owner USER]\n"
	    "Creates DIR/keylocker.yaml, a SoftHSM2 token under DIR, the master key\n"
	    "(default keylocker-master), the store MAC key and the audit key, and\n"
	    "DIR/keyring.pin for the MySQL component.  PINs not given are asked for.\n"
	    "--owner USER (as root): everything is created as USER, the account that\n"
	    "loads the module (mysql for a server in the embedded mode); the audit\n"
	    "files are made append-only by root first.\n");
}

/* n random bytes as hex into out (2n+1). */
static int
random_hex(char *out, size_t n)
{
	unsigned char b[32];
	int r;

	if (n > sizeof(b) || RAND_bytes(b, (int)n) != 1)
		return -1;
	r = kl_hex_encode(b, n, out, 2 * n + 1);
	OPENSSL_cleanse(b, sizeof(b));
	return r;
}

static int
write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);

	if (fd < 0)
		return cli_fail("cannot create %s: %s", path, strerror(errno));
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
		close(fd);
		return cli_fail("cannot write %s: %s", path, strerror(errno));
	}
	close(fd);
	return 0;
}

/* Initialise a free SoftHSM2 slot as our token, with an SO and a user PIN. */
static int
softhsm_init_token(const struct init_opts *o, const char *so_pin, const char *user_pin)
{
	CK_C_GetFunctionList getfl;
	CK_FUNCTION_LIST_PTR fl;
	CK_C_INITIALIZE_ARGS args;
	CK_SLOT_ID ids[64], slot = 0;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE s;
	CK_ULONG n = 64, i;
	CK_UTF8CHAR label[32];
	char got[33];
	void *dl;
	int found = 0, r = EXIT_FAIL;
	CK_RV rv;

	if ((dl = dlopen(o->backend, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return cli_fail("cannot load the backend %s: %s (apt-get install softhsm2)",
		    o->backend, dlerror());
	if ((getfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
	    getfl(&fl) != CKR_OK) {
		dlclose(dl);
		return cli_fail("%s is not a PKCS#11 module", o->backend);
	}
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	if ((rv = fl->C_Initialize(&args)) != CKR_OK) {
		dlclose(dl);
		return cli_fail("%s: C_Initialize: %s", o->backend, kl_ckr(rv));
	}
	if ((rv = fl->C_GetSlotList(CK_TRUE, ids, &n)) != CKR_OK) {
		cli_fail("C_GetSlotList: %s", kl_ckr(rv));
		goto out;
	}
	for (i = 0; i < n && !found; i++) {
		if (fl->C_GetTokenInfo(ids[i], &ti) == CKR_OK &&
		    !(ti.flags & CKF_TOKEN_INITIALIZED)) {
			slot = ids[i];
			found = 1;
		}
	}
	if (!found) {
		cli_fail("the backend has no free slot to initialise");
		goto out;
	}
	kl_p11_strfill(label, sizeof(label), o->token);
	if ((rv = fl->C_InitToken(slot, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), label)) != CKR_OK) {
		cli_fail("C_InitToken: %s", kl_ckr(rv));
		goto out;
	}
	/* SoftHSM2 gives an initialised token a new slot id: find it by label */
	n = 64;
	found = 0;
	if (fl->C_GetSlotList(CK_TRUE, ids, &n) == CKR_OK) {
		for (i = 0; i < n && !found; i++) {
			if (fl->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
				continue;
			kl_p11_strtrim(ti.label, sizeof(ti.label), got, sizeof(got));
			if (strcmp(got, o->token) == 0) {
				slot = ids[i];
				found = 1;
			}
		}
	}
	if (!found) {
		cli_fail("the token initialised but cannot be found again");
		goto out;
	}
	if ((rv = fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
	    &s)) != CKR_OK) {
		cli_fail("C_OpenSession: %s", kl_ckr(rv));
		goto out;
	}
	if ((rv = fl->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin))) == CKR_OK)
		rv = fl->C_InitPIN(s, (CK_UTF8CHAR_PTR)user_pin, strlen(user_pin));
	(void)fl->C_Logout(s);
	(void)fl->C_CloseSession(s);
	if (rv != CKR_OK) {
		cli_fail("setting the backend PIN: %s", kl_ckr(rv));
		goto out;
	}
	r = 0;
 out:
	(void)fl->C_Finalize(NULL);
	dlclose(dl);
	return r;
}

static int
write_config(const struct init_opts *o, char hashes[3][PIN_HASH_MAX], const char *path)
{
	char buf[8192];
	size_t len = 0, i;
	struct stat st;
	int syslog_sink = o->syslog;

#define OUT(...) do {								\
	int n_ = snprintf(buf + len, sizeof(buf) - len, __VA_ARGS__);		\
	if (n_ < 0 || (size_t)n_ >= sizeof(buf) - len)				\
		return cli_fail("configuration too long");			\
	len += (size_t)n_;							\
} while (0)

	if (syslog_sink < 0)
		syslog_sink = stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode);
	OUT("# keylocker.yaml written by `keylocker init`; every key is explained in\n"
	    "# conf/keylocker.yaml of the source (or the installed example).\n"
	    "backend:\n"
	    "  module: %s\n"
	    "  environment:\n"
	    "    SOFTHSM2_CONF: %s/softhsm2.conf\n"
	    "tokens:\n"
	    "  - label: %s\n"
	    "    pin_file: %s/backend.pin\n"
	    "clients:\n"
	    "  - name: admin\n"
	    "    role: admin\n"
	    "    pin_hash: \"%s\"\n"
	    "  - name: mysql\n"
	    "    role: keyring\n"
	    "    pin_hash: \"%s\"\n"
	    "    keys: [\"%s*\", \"%s\"]\n",
	    o->backend, o->dir, o->token, o->dir, hashes[0], hashes[1], o->master_key,
	    o->mac_key);
	if (hashes[2][0] != '\0')
		OUT("  - name: auditor\n"
		    "    role: auditor\n"
		    "    pin_hash: \"%s\"\n", hashes[2]);
	OUT("login:\n"
	    "  max_failures: 5\n"
	    "  lockout_seconds: 300\n"
	    "  state_dir: %s/state\n"
	    "audit:\n"
	    "  key: %s\n"
	    "  on_sink_failure: fail-closed\n"
	    "  sinks:\n", o->dir, o->audit_key);
	for (i = 0; i < o->n_audit_files; i++)
		OUT("    - file: %s\n      append_only: %s\n", o->audit_files[i],
		    o->append_only ? "true" : "false");
	if (syslog_sink)
		OUT("    - syslog: authpriv\n");
	return write_file(path, buf, len, 0600);
#undef OUT
}

/* Generate one key through keylocker (the gate forces the templates). */
static int
gen_key(struct kl_p11c *c, const char *label, int master)
{
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG len = 32;
	CK_MECHANISM mech = { master ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_ATTRIBUTE t[] = {
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ master ? CKA_WRAP : CKA_SIGN, &yes, sizeof(yes) },
		{ master ? CKA_UNWRAP : CKA_VERIFY, &yes, sizeof(yes) },
	};
	CK_OBJECT_HANDLE h;
	CK_RV rv;

	rv = kl_p11c_fl(c)->C_GenerateKey(kl_p11c_session(c), &mech, t, KL_ARRAY_SIZE(t), &h);
	if (rv != CKR_OK)
		return cli_fail("generating %s: %s", label, kl_ckr(rv));
	return 0;
}

/*
 * --owner: as root, create DIR and every audit file for the owner (the audit
 * files append-only now, which the owner could not do), then become the
 * owner for good; the rest of init makes the token and files as them.
 */
static int
init_as_owner(struct init_opts *o)
{
	struct passwd *pw;
	char dir[PATH_MAX], *slash;
	size_t i;
	int fd, flags;

	if (geteuid() != 0)
		return cli_fail("--owner %s needs root", o->owner);
	if ((pw = getpwnam(o->owner)) == NULL)
		return cli_fail("--owner %s: no such user", o->owner);
	if (pw->pw_uid == 0)
		return 0;
	if ((mkdir(o->dir, 0700) != 0 && errno != EEXIST) ||
	    chown(o->dir, pw->pw_uid, pw->pw_gid) != 0)
		return cli_fail("cannot create %s for %s: %s", o->dir, o->owner, strerror(errno));
	for (i = 0; i < o->n_audit_files; i++) {
		kl_strlcpy(dir, o->audit_files[i], sizeof(dir));
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0700) == 0 && chown(dir, pw->pw_uid, pw->pw_gid) != 0)
				return cli_fail("cannot give %s to %s: %s", dir, o->owner,
				    strerror(errno));
		}
		fd = open(o->audit_files[i], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		if (fd < 0 || fchown(fd, pw->pw_uid, pw->pw_gid) != 0) {
			cli_fail("cannot create the audit file %s for %s: %s",
			    o->audit_files[i], o->owner, strerror(errno));
			if (fd >= 0)
				close(fd);
			return EXIT_FAIL;
		}
		if (o->append_only && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 &&
		    !(flags & FS_APPEND_FL)) {
			flags |= FS_APPEND_FL;
			if (ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0)
				fprintf(stderr, "keylocker: %s cannot be made append-only "
				    "(chattr +a): %s\n", o->audit_files[i], strerror(errno));
		}
		close(fd);
	}
	return cli_become(pw->pw_uid, pw->pw_gid, "the owner given with --owner");
}

static int
run_init(struct init_opts *o)
{
	static const char *const who[3] = { "admin", "keyring", "auditor" };
	char path[PATH_MAX], conf[PATH_MAX], backend_pin[65], so_pin[65];
	char hashes[3][PIN_HASH_MAX];
	char audit1[PATH_MAX], audit2[PATH_MAX], prompt[64];
	struct kl_secret pins[3] = { { NULL, 0 }, { NULL, 0 }, { NULL, 0 } };
	struct kl_p11c *c = NULL;
	struct stat st;
	int i, r = EXIT_FAIL;

	memset(hashes, 0, sizeof(hashes));
	if (o->dir[0] != '/')
		return cli_fail("--dir must be an absolute path");
	snprintf(conf, sizeof(conf), "%s/keylocker.yaml", o->dir);
	if (stat(conf, &st) == 0)
		return cli_fail("%s exists: keylocker init never overwrites keys; move "
		    "the directory aside first", conf);
	if (o->n_audit_files == 0) {
		snprintf(audit1, sizeof(audit1), "%s/audit/audit.log", o->dir);
		snprintf(audit2, sizeof(audit2), "%s/audit-mirror/audit.log", o->dir);
		o->audit_files[o->n_audit_files++] = audit1;
		o->audit_files[o->n_audit_files++] = audit2;
	}
	for (i = 0; i < 3; i++) {
		if (i == 2 && o->pin[2] == NULL && o->pin_file[2] == NULL)
			break;	/* an auditor only when asked for */
		snprintf(prompt, sizeof(prompt), "PIN for the %s client: ", who[i]);
		if (cli_get_pin(o->pin[i], o->pin_file[i], NULL, prompt, 1, &pins[i]) != 0)
			goto out;
		if (pins[i].len < 6) {
			cli_fail("the %s PIN is shorter than 6 characters", who[i]);
			goto out;
		}
		if (policy_pin_hash(pins[i].p, pins[i].len, o->cost, hashes[i],
		    sizeof(hashes[i])) != 0) {
			cli_fail("cannot hash the %s PIN", who[i]);
			goto out;
		}
	}
	if ((pins[0].len == pins[1].len && memcmp(pins[0].p, pins[1].p, pins[0].len) == 0) ||
	    (pins[2].p != NULL && ((pins[2].len == pins[0].len &&
	    memcmp(pins[2].p, pins[0].p, pins[0].len) == 0) || (pins[2].len == pins[1].len &&
	    memcmp(pins[2].p, pins[1].p, pins[1].len) == 0)))) {
		cli_fail("each client needs its own PIN: the PIN selects the client");
		goto out;
	}
	if (o->owner != NULL && init_as_owner(o) != 0)
		goto out;

	/* EACCES, not EEXIST, when --owner made it in a parent we cannot write */
	if (mkdir(o->dir, 0700) != 0 && (i = errno, stat(o->dir, &st) != 0 ||
	    !S_ISDIR(st.st_mode))) {
		cli_fail("cannot create %s: %s", o->dir, strerror(i));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/tokens", o->dir);
	if (mkdir(path, 0700) != 0) {
		cli_fail("cannot create %s: %s (an earlier init? move it aside)", path,
		    strerror(errno));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/softhsm2.conf", o->dir);
	{
		char text[PATH_MAX + 200];
		int n = snprintf(text, sizeof(text), "# SoftHSM2 for keylocker: the token "
		    "store lives beside keylocker.yaml\ndirectories.tokendir = %s/tokens\n"
		    "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
		    o->dir);
		if (write_file(path, text, (size_t)n, 0600) != 0)
			goto out;
	}
	if (setenv("SOFTHSM2_CONF", path, 1) != 0)
		goto out;
	if (random_hex(backend_pin, 24) != 0 || random_hex(so_pin, 24) != 0) {
		cli_fail("no random numbers");
		goto out;
	}
	if (softhsm_init_token(o, so_pin, backend_pin) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/backend.pin", o->dir);
	if (write_file(path, backend_pin, strlen(backend_pin), 0600) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/so.pin", o->dir);
	if (write_file(path, so_pin, strlen(so_pin), 0600) != 0)
		goto out;
	if (write_config(o, hashes, conf) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/keyring.pin", o->dir);
	if (write_file(path, (const char *)pins[1].p, pins[1].len, 0600) != 0)
		goto out;

	/* the keys, made through keylocker so the forced templates and the audit apply */
	if (setenv(CONF_ENV, conf, 1) != 0 || cli_open_module(o->token, &pins[0], &c) != 0)
		goto out;
	if (gen_key(c, o->master_key, 1) != 0 || gen_key(c, o->mac_key, 0) != 0 ||
	    gen_key(c, o->audit_key, 0) != 0)
		goto out;
	kl_p11c_close(c);
	c = NULL;

	if (!o->quiet) {
		printf("keylocker: token \"%s\" ready in %s\n", o->token, o->dir);
		printf("  master key      %s (AES-256, wrap/unwrap only, never extractable)\n",
		    o->master_key);
		printf("  store MAC key   %s\n  audit key       %s\n", o->mac_key, o->audit_key);
		printf("  clients         admin, mysql (keyring)%s\n",
		    pins[2].p != NULL ? ", auditor" : "");
		printf("  keyring PIN     %s/keyring.pin (for component_keyring_pkcs11)\n",
		    o->dir);
		printf("  backend PIN     %s/backend.pin (only keylocker reads it)\n", o->dir);
		printf("  audit trail     ");
		for (i = 0; i < (int)o->n_audit_files; i++)
			printf("%s%s", i ? ", " : "", o->audit_files[i]);
		printf("\n\nexport %s=%s\n", CONF_ENV, conf);
	} else {
		printf("export %s=%s\n", CONF_ENV, conf);
	}
	r = EXIT_OK;
 out:
	kl_p11c_close(c);
	for (i = 0; i < 3; i++)
		kl_secret_clear(&pins[i]);
	OPENSSL_cleanse(backend_pin, sizeof(backend_pin));
	OPENSSL_cleanse(so_pin, sizeof(so_pin));
	return r;
}

int
cmd_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "admin-pin", required_argument, NULL, 'a' },
		{ "admin-pin-file", required_argument, NULL, 'A' },
		{ "keyring-pin", required_argument, NULL, 'k' },
		{ "keyring-pin-file", required_argument, NULL, 'K' },
		{ "auditor-pin", required_argument, NULL, 'u' },
		{ "auditor-pin-file", required_argument, NULL, 'U' },
		{ "master-key", required_argument, NULL, 'm' },
		{ "token", required_argument, NULL, 't' },
		{ "backend", required_argument, NULL, 'b' },
		{ "pin-cost", required_argument, NULL, 'c' },
		{ "audit-file", required_argument, NULL, 'f' },
		{ "no-append-only", no_argument, NULL, 'n' },
		{ "no-syslog", no_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "owner", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct init_opts o = {
		.token = "keylocker", .master_key = "keylocker-master",
		.mac_key = "keylocker-store-mac", .audit_key = "keylocker-audit",
		.backend = DEFAULT_BACKEND, .cost = PIN_LN_DEFAULT, .append_only = 1,
		.syslog = -1,
	};
	char *end;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "d:q", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o.dir = optarg;
			break;
		case 'a':
			o.pin[0] = optarg;
			break;
		case 'A':
			o.pin_file[0] = optarg;
			break;
		case 'k':
			o.pin[1] = optarg;
			break;
		case 'K':
			o.pin_file[1] = optarg;
			break;
		case 'u':
			o.pin[2] = optarg;
			break;
		case 'U':
			o.pin_file[2] = optarg;
			break;
		case 'm':
			o.master_key = optarg;
			break;
		case 't':
			o.token = optarg;
			break;
		case 'b':
			o.backend = optarg;
			break;
		case 'c':
			o.cost = (unsigned)strtoul(optarg, &end, 10);
			if (*end != '\0' || o.cost < PIN_LN_MIN || o.cost > PIN_LN_MAX) {
				fprintf(stderr, "keylocker init: --pin-cost is 10..20 (log2 of "
				    "scrypt's N)\n");
				return EXIT_USAGE;
			}
			break;
		case 'f':
			if (o.n_audit_files == MAX_AUDIT_FILES)
				return cli_fail("at most %d --audit-file", MAX_AUDIT_FILES);
			o.audit_files[o.n_audit_files++] = optarg;
			break;
		case 'n':
			o.append_only = 0;
			break;
		case 's':
			o.syslog = 0;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'o':
			o.owner = optarg;
			break;
		case 'h':
			init_usage(stdout);
			return EXIT_OK;
		default:
			init_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (o.dir == NULL || optind != argc) {
		init_usage(stderr);
		return EXIT_USAGE;
	}
	if (strlen(o.token) > CONF_TOKEN_LABEL_MAX)
		return cli_fail("--token is longer than 32 bytes");
	return run_init(&o);
}
