/*
 * keylocker mysql wire: the files MySQL needs to load component_keyring_pkcs11,
 * written the way MySQL's manual describes for keyring components:
 *
 *   <dir of mysqld>/mysqld.my   global manifest: {"components": "file://component_keyring_pkcs11"}
 *   <plugin dir>/component_keyring_pkcs11.cnf   the component's configuration
 *
 * or, with --local (one server binary, several datadirs), the global files
 * only point to per-instance ones:
 *
 *   <dir of mysqld>/mysqld.my          {"read_local_manifest": true}
 *   <datadir>/mysqld.my                {"components": "file://component_keyring_pkcs11"}
 *   <plugin dir>/component_keyring_pkcs11.cnf   {"read_local_config": true}
 *   <datadir>/component_keyring_pkcs11.cnf      the configuration
 *
 * Manifests and configuration: owner root, group of the server's user, 0640
 * (mysqld reads them and cannot change them: it warns about a manifest it
 * could write).  The store's directory: owned by the server's user, 0750.
 * The PIN file: owned by the server's user, 0400 (keylocker refuses a PIN
 * file with group or other bits).  An existing file that says something
 * else is never replaced without --force.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/secret.h"
#include "common/util.h"
#include "kl_paths.h"
#include "tools/cli.h"
#ifdef KL_HAVE_KEYRING
#include "keyring-bridge/kr_conf.h"
#endif

#ifndef KL_MYSQL_PLUGIN_DIR
#define KL_MYSQL_PLUGIN_DIR	"/usr/lib/mysql/plugin"
#endif
#define COMPONENT	"component_keyring_pkcs11"
#define CNF_NAME	COMPONENT ".cnf"
#define MANIFEST_NAME	"mysqld.my"
#define FILE_MAX	65536

struct wire {
	const char	*mysqld, *plugin_dir, *datadir, *user, *store, *pin_file, *pin_from;
	const char	*module, *token, *master_key, *mac_key;
	int		 local, force, dry_run;
	int		 silent;	/* the check pass before the real one */
	uid_t		 uid;
	gid_t		 gid;
	char		 group[64];	/* the name of gid, for messages */
	int		 changed;
};

static void
wire_usage(FILE *f)
{
	fprintf(f,
	    "usage: keylocker mysql wire [--mysqld PATH] [--plugin-dir DIR] [--datadir DIR]\n"
	    "                            [--user NAME] [--store PATH] [--pin-file PATH]\n"
	    "                            [--pin-from FILE] [--module PATH] [--token LABEL]\n"
	    "                            [--master-key LABEL] [--mac-key LABEL]\n"
	    "                            [--local] [--force] [--dry-run]\n"
	    "Writes what mysqld needs to load %s:\n"
	    "  the manifest %s beside mysqld (default /usr/sbin/mysqld),\n"
	    "  %s in the plugin dir (default %s),\n"
	    "  with --local: both in the datadir (default /var/lib/mysql), the global\n"
	    "  files saying read_local_manifest / read_local_config;\n"
	    "  the store's directory (default /var/lib/mysql-keyring) owned by --user\n"
	    "  (default mysql), mode 0750; the keyring client's PIN file (default\n"
	    "  %s/keyring.pin; --pin-from copies it there, e.g. from keylocker init's\n"
	    "  DIR/keyring.pin) owned by --user, mode 0400.\n"
	    "An existing different file is kept unless --force.  --dry-run only prints.\n",
	    COMPONENT, MANIFEST_NAME, CNF_NAME, KL_MYSQL_PLUGIN_DIR, KL_SYSCONFDIR);
}

static void say(const struct wire *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* What was done, on stdout; nothing in the silent check pass. */
static void
say(const struct wire *w, const char *fmt, ...)
{
	va_list ap;

	if (w->silent)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/* JSON string body of s into buf (quotes, backslashes, controls escaped). */
static int
json_str(const char *s, char *buf, size_t len)
{
	size_t o = 0;
	int n;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			n = snprintf(buf + o, len - o, "\\%c", c);
		else if (c < 0x20)
			n = snprintf(buf + o, len - o, "\\u%04x", c);
		else
			n = snprintf(buf + o, len - o, "%c", c);
		if (n < 0 || (size_t)n >= len - o)
			return -1;
		o += (size_t)n;
	}
	return 0;
}

/* Read a whole small file: 1 read, 0 absent, -1 error (message printed). */
static int
read_small(const char *path, char *buf, size_t len, size_t *got)
{
	ssize_t n;
	int fd;

	*got = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			return 0;
		cli_fail("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = read(fd, buf + *got, len - *got)) > 0)
		*got += (size_t)n;
	close(fd);
	if (n < 0 || *got == len) {
		cli_fail("cannot read %s: %s", path, n < 0 ? strerror(errno) : "too large");
		return -1;
	}
	return 1;
}

/* Same text but for white space outside strings (good enough for our JSON). */
static int
same_json(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i = 0, j = 0;

	for (;;) {
		while (i < alen && strchr(" \t\r\n", a[i]) != NULL)
			i++;
		while (j < blen && strchr(" \t\r\n", b[j]) != NULL)
			j++;
		if (i == alen || j == blen)
			return i == alen && j == blen;
		if (a[i++] != b[j++])
			return 0;
	}
}

static int
fix_owner_mode(const struct wire *w, const char *path, uid_t uid, gid_t gid, mode_t mode)
{
	if (chown(path, uid, gid) != 0 || chmod(path, mode) != 0)
		return cli_fail("cannot set owner %u:%u and mode %03o on %s: %s",
		    (unsigned)uid, (unsigned)gid, (unsigned)mode, path, strerror(errno));
	return 0;
}

/*
 * path := text, crash-safely (temp file, fsync, rename, directory fsync),
 * owner root:<user's group>, mode.  An existing file with the same content
 * only gets its owner and mode checked; a different one needs --force.
 */
static int
put_file(struct wire *w, const char *path, const char *text, const char *what, mode_t mode,
    uid_t uid)
{
	char old[FILE_MAX], tmp[PATH_MAX];
	size_t got, len = strlen(text);
	struct stat st;
	int fd, r;

	if ((r = read_small(path, old, sizeof(old), &got)) < 0)
		return EXIT_FAIL;
	if (r == 1 && same_json(old, got, text, len)) {
		if (stat(path, &st) == 0 && st.st_uid == uid && st.st_gid == w->gid &&
		    (st.st_mode & 07777) == mode) {
			say(w, "  unchanged  %s (%s)\n", path, what);
			return 0;
		}
		say(w, "  %s %s (%s): owner root:%s, mode %03o\n",
		    w->dry_run ? "would fix " : "fixed     ", path, what, w->group,
		    (unsigned)mode);
		w->changed++;
		return w->dry_run ? 0 : fix_owner_mode(w, path, uid, w->gid, mode);
	}
	if (r == 1 && !w->force) {
		fprintf(stderr, "keylocker: %s already exists and says something else:\n%.*s%s",
		    path, (int)got, old, got > 0 && old[got - 1] == '\n' ? "" : "\n");
		return cli_fail("not replacing %s without --force%s", path,
		    strstr(old, "component_keyring_") != NULL && strstr(old, COMPONENT) == NULL ?
		    " (another keyring component is configured: move its keys first with "
		    "mysql_migrate_keyring, see docs/keyring-cli.md)" : "");
	}
	say(w, "  %s %s (%s)\n", w->dry_run ? "would write" : (r == 1 ? "replaced   " :
	    "wrote      "), path, what);
	w->changed++;
	if (w->dry_run)
		return 0;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.keylocker-tmp", path) >= sizeof(tmp))
		return cli_fail("path %s is too long", path);
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return cli_fail("cannot create %s: %s", tmp, strerror(errno));
	if (write(fd, text, len) != (ssize_t)len || fchown(fd, uid, w->gid) != 0 ||
	    fchmod(fd, mode) != 0 || fsync(fd) != 0) {
		cli_fail("cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		(void)unlink(tmp);
		return EXIT_FAIL;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		cli_fail("cannot rename %s to %s: %s", tmp, path, strerror(errno));
		(void)unlink(tmp);
		return EXIT_FAIL;
	}
	if (kl_fsync_parent_dir(path) != 0)
		return cli_fail("wrote %s but cannot fsync its directory: %s", path,
		    strerror(errno));
	return 0;
}

static int
need_dir(const char *path, const char *what)
{
	struct stat st;

	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return cli_fail("%s %s is not a directory%s", what, path,
		    errno == ENOENT ? " (give the right one: keylocker mysql wire --help)" : "");
	return 0;
}

static int
store_dir(struct wire *w, const char *dir)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		if (errno != ENOENT)
			return cli_fail("cannot stat %s: %s", dir, strerror(errno));
		say(w, "  %s %s (keyring store directory, owner %s, mode 0750)\n",
		    w->dry_run ? "would make " : "made       ", dir, w->user);
		w->changed++;
		if (w->dry_run)
			return 0;
		if (mkdir(dir, 0750) != 0)
			return cli_fail("cannot create %s: %s (does its parent exist?)", dir,
			    strerror(errno));
		return fix_owner_mode(w, dir, w->uid, w->gid, 0750);
	}
	if (!S_ISDIR(st.st_mode))
		return cli_fail("%s (the store's directory) is not a directory", dir);
	if (st.st_uid != w->uid && !w->force)
		return cli_fail("%s (the store's directory) is owned by uid %u, not %s: the "
		    "server could not write its keyring there; give --store in a directory "
		    "of its own, or --force to chown it", dir, (unsigned)st.st_uid, w->user);
	if (st.st_uid == w->uid && st.st_gid == w->gid && (st.st_mode & 07777) == 0750) {
		say(w, "  unchanged  %s (keyring store directory)\n", dir);
		return 0;
	}
	say(w, "  %s %s (keyring store directory): owner %s, mode 0750\n",
	    w->dry_run ? "would fix " : "fixed     ", dir, w->user);
	w->changed++;
	return w->dry_run ? 0 : fix_owner_mode(w, dir, w->uid, w->gid, 0750);
}

static int
pin_file(struct wire *w)
{
	struct kl_secret want = { NULL, 0 }, have = { NULL, 0 };
	struct stat st;
	char err[512];
	size_t hlen = 0;
	int exists, r = EXIT_FAIL, fd = -1;

	exists = lstat(w->pin_file, &st) == 0;
	if (exists && !S_ISREG(st.st_mode))
		return cli_fail("PIN file %s is not a regular file", w->pin_file);
	if (w->pin_from != NULL &&
	    kl_read_secret_file(w->pin_from, &want, err, sizeof(err)) != 0)
		return cli_fail("--pin-from: %s", err);
	if (!exists && want.p == NULL) {
		cli_fail("PIN file %s does not exist: give --pin-from FILE (keylocker init "
		    "wrote the keyring client's PIN to DIR/keyring.pin)", w->pin_file);
		goto out;
	}
	if (exists && want.p != NULL) {
		/* compare as root: the file may already belong to the server's user */
		if ((fd = open(w->pin_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
		    kl_secret_alloc(&have, (size_t)st.st_size + 1) != 0) {
			cli_fail("cannot read %s: %s", w->pin_file, strerror(errno));
			goto out;
		}
		{
			ssize_t got = read(fd, have.p, have.len);

			if (got < 0) {
				cli_fail("cannot read %s: %s", w->pin_file, strerror(errno));
				goto out;
			}
			hlen = (size_t)got;	/* have.len stays the allocated size */
		}
		if (hlen > 0 && have.p[hlen - 1] == '\n')
			hlen--;
		if ((hlen != want.len || CRYPTO_memcmp(have.p, want.p, want.len) != 0) &&
		    !w->force) {
			cli_fail("PIN file %s holds another PIN than %s: not replacing it "
			    "without --force", w->pin_file, w->pin_from);
			goto out;
		}
		if (hlen == want.len && CRYPTO_memcmp(have.p, want.p, want.len) == 0)
			kl_secret_clear(&want);		/* same: nothing to copy */
	}
	if (want.p != NULL) {
		say(w, "  %s %s (keyring PIN, from %s, owner %s, mode 0400)\n",
		    w->dry_run ? "would write" : "wrote      ", w->pin_file, w->pin_from, w->user);
		w->changed++;
		if (!w->dry_run) {
			char tmp[PATH_MAX];
			int tfd;

			if ((size_t)snprintf(tmp, sizeof(tmp), "%s.keylocker-tmp", w->pin_file) >=
			    sizeof(tmp)) {
				cli_fail("path %s is too long", w->pin_file);
				goto out;
			}
			(void)unlink(tmp);
			if ((tfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			    0400)) < 0) {
				cli_fail("cannot create %s: %s", tmp, strerror(errno));
				goto out;
			}
			if (write(tfd, want.p, want.len) != (ssize_t)want.len ||
			    fchown(tfd, w->uid, w->gid) != 0 || fsync(tfd) != 0 ||
			    close(tfd) != 0 || rename(tmp, w->pin_file) != 0) {
				cli_fail("cannot write %s: %s", w->pin_file, strerror(errno));
				(void)unlink(tmp);
				goto out;
			}
			(void)kl_fsync_parent_dir(w->pin_file);
		}
	} else if (st.st_uid == w->uid && (st.st_mode & 07777) == 0400) {
		say(w, "  unchanged  %s (keyring PIN)\n", w->pin_file);
	} else {
		say(w, "  %s %s (keyring PIN): owner %s, mode 0400\n",
		    w->dry_run ? "would fix " : "fixed     ", w->pin_file, w->user);
		w->changed++;
		if (!w->dry_run && fix_owner_mode(w, w->pin_file, w->uid, w->gid, 0400) != 0)
			goto out;
	}
	r = 0;
 out:
	if (fd >= 0)
		close(fd);
	kl_secret_clear(&want);
	kl_secret_clear(&have);
	return r;
}

/* dst := a "/" b, or -1 when it does not fit. */
static int
join(char *dst, size_t len, const char *a, const char *b)
{
	int n = snprintf(dst, len, "%s/%s", a, b);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int
wire_steps(struct wire *w)
{
	char dir[PATH_MAX], path[PATH_MAX], text[4 * PATH_MAX + 1024];
	char j[7][2 * PATH_MAX + 8];
	const char *vals[7];
	const char *cnf_dir = w->local ? w->datadir : w->plugin_dir;
	char *slash;
	size_t i;
	int n;

	kl_strlcpy(dir, w->mysqld, sizeof(dir));
	slash = strrchr(dir, '/');
	*(slash == dir ? slash + 1 : slash) = '\0';
	/* the manifests */
	if (join(path, sizeof(path), dir, MANIFEST_NAME) != 0)
		return cli_fail("the mysqld path is too long");
	if (put_file(w, path, w->local ? "{\n  \"read_local_manifest\": true\n}\n" :
	    "{\n  \"components\": \"file://" COMPONENT "\"\n}\n", "global manifest", 0640, 0) != 0)
		return EXIT_FAIL;
	if (w->local) {
		if (join(path, sizeof(path), w->datadir, MANIFEST_NAME) != 0)
			return cli_fail("--datadir is too long");
		if (put_file(w, path, "{\n  \"components\": \"file://" COMPONENT "\"\n}\n",
		    "local manifest", 0640, 0) != 0)
			return EXIT_FAIL;
		if (join(path, sizeof(path), w->plugin_dir, CNF_NAME) != 0)
			return cli_fail("--plugin-dir is too long");
		if (put_file(w, path, "{\n  \"read_local_config\": true\n}\n",
		    "global configuration", 0640, 0) != 0)
			return EXIT_FAIL;
	}
	/* the configuration: every setting written out, none left to defaults */
	vals[0] = w->store;
	vals[1] = w->module;
	vals[2] = w->token;
	vals[3] = w->master_key;
	vals[4] = w->mac_key;
	vals[5] = w->pin_file;
	for (i = 0; i < 6; i++) {
		if (json_str(vals[i], j[i], sizeof(j[i])) != 0)
			return cli_fail("%s is too long", vals[i]);
	}
	n = snprintf(text, sizeof(text), "{\n  \"path\": \"%s\",\n  \"read_only\": false,\n"
	    "  \"module\": \"%s\",\n  \"token\": \"%s\",\n  \"master_key\": \"%s\",\n"
	    "  \"mac_key\": \"%s\",\n  \"pin_file\": \"%s\",\n  \"cache\": true\n}\n",
	    j[0], j[1], j[2], j[3], j[4], j[5]);
	if (n < 0 || (size_t)n >= sizeof(text))
		return cli_fail("configuration too long");
	if (join(path, sizeof(path), cnf_dir, CNF_NAME) != 0)
		return cli_fail("the configuration directory is too long");
#ifdef KL_HAVE_KEYRING
	{
		/* what we write must be what the component reads: parse it first */
		struct kr_config *cfg = NULL;
		char tmp[PATH_MAX], err[1024];
		int rl = 0, bad;

		int fd;

		snprintf(tmp, sizeof(tmp), "/tmp/keylocker-wire-XXXXXX");
		err[0] = '\0';
		if ((fd = mkstemp(tmp)) < 0)
			return cli_fail("cannot create a file in /tmp: %s", strerror(errno));
		bad = write(fd, text, (size_t)n) != (ssize_t)n;
		close(fd);
		bad = bad || kr_conf_read_file(tmp, 0, &cfg, &rl, err, sizeof(err)) != 0;
		(void)unlink(tmp);
		kr_conf_free(cfg);
		if (bad)
			return cli_fail("the configuration would not load: %s", err);
	}
#endif
	if (put_file(w, path, text, w->local ? "local configuration" : "configuration",
	    0640, 0) != 0)
		return EXIT_FAIL;
	/* the store's directory and the PIN */
	kl_strlcpy(dir, w->store, sizeof(dir));
	slash = strrchr(dir, '/');
	*(slash == dir ? slash + 1 : slash) = '\0';
	if (store_dir(w, dir) != 0 || pin_file(w) != 0)
		return EXIT_FAIL;
	return 0;
}

static int
run_wire(struct wire *w)
{
	char path[PATH_MAX];
	struct passwd *pw;
	struct group *gr;
	struct stat st;

	if (w->store[0] != '/' || w->pin_file[0] != '/' || w->module[0] != '/')
		return cli_fail("--store, --pin-file and --module must be absolute paths");
	if (stat(w->mysqld, &st) != 0 || !S_ISREG(st.st_mode))
		return cli_fail("no mysqld at %s (give --mysqld PATH: the manifest goes "
		    "beside it)", w->mysqld);
	if (need_dir(w->plugin_dir, "--plugin-dir") != 0 ||
	    (w->local && need_dir(w->datadir, "--datadir") != 0))
		return EXIT_FAIL;
	if ((pw = getpwnam(w->user)) == NULL)
		return cli_fail("no user %s on this system (the user mysqld runs as: --user)",
		    w->user);
	w->uid = pw->pw_uid;
	w->gid = pw->pw_gid;
	if ((gr = getgrgid(w->gid)) != NULL)
		kl_strlcpy(w->group, gr->gr_name, sizeof(w->group));
	else
		snprintf(w->group, sizeof(w->group), "%u", (unsigned)w->gid);
	if (!w->dry_run && geteuid() != 0)
		return cli_fail("mysql wire sets owners: run it as root (or --dry-run)");
	if (join(path, sizeof(path), w->plugin_dir, COMPONENT ".so") != 0)
		return cli_fail("--plugin-dir is too long");
	if (access(path, R_OK) != 0)
		fprintf(stderr, "keylocker: warning: %s is not there yet: install "
		    "component_keyring_pkcs11.so into the plugin dir before restarting\n", path);
	if (access(w->module, R_OK) != 0)
		fprintf(stderr, "keylocker: warning: PKCS#11 module %s: %s\n", w->module,
		    strerror(errno));
	/* every refusal before the first change: a silent dry run, then the real one */
	if (!w->dry_run) {
		w->dry_run = w->silent = 1;
		if (wire_steps(w) != 0)
			return EXIT_FAIL;
		w->dry_run = w->silent = 0;
		w->changed = 0;
	}
	printf("keylocker: wiring mysqld %s to %s%s\n", w->mysqld, COMPONENT,
	    w->dry_run ? " (dry run: nothing is changed)" : "");
	if (wire_steps(w) != 0)
		return EXIT_FAIL;

	printf("keylocker: %s%d change%s\n", w->dry_run ? "dry run, would make " : "",
	    w->changed, w->changed == 1 ? "" : "s");
	printf("next: restart mysqld (systemctl restart mysql), then check\n"
	    "  mysql -e 'SELECT * FROM performance_schema.keyring_component_status'\n"
	    "mysqld loads %s itself: the %s user must be able to use its token\n"
	    "(keylocker.yaml and the backend, or p11-kit-client.so for a remote locker).\n",
	    w->module, w->user);
	return EXIT_OK;
}

int
cmd_mysql(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mysqld", required_argument, NULL, 'm' },
		{ "plugin-dir", required_argument, NULL, 'P' },
		{ "datadir", required_argument, NULL, 'D' },
		{ "user", required_argument, NULL, 'u' },
		{ "store", required_argument, NULL, 's' },
		{ "pin-file", required_argument, NULL, 'p' },
		{ "pin-from", required_argument, NULL, 'f' },
		{ "module", required_argument, NULL, 'M' },
		{ "token", required_argument, NULL, 'T' },
		{ "master-key", required_argument, NULL, 'K' },
		{ "mac-key", required_argument, NULL, 'A' },
		{ "local", no_argument, NULL, 'l' },
		{ "force", no_argument, NULL, 'F' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct wire w = {
		.mysqld = "/usr/sbin/mysqld", .plugin_dir = KL_MYSQL_PLUGIN_DIR,
		.datadir = "/var/lib/mysql", .user = "mysql",
		.store = "/var/lib/mysql-keyring/" COMPONENT ".store",
		.pin_file = KL_SYSCONFDIR "/keyring.pin", .module = KL_DEFAULT_MODULE,
		.token = "keylocker", .master_key = "keylocker-master",
		.mac_key = "keylocker-store-mac",
	};
	int ch;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		wire_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[1], "wire") != 0) {
		fprintf(stderr, "keylocker mysql: unknown verb \"%s\" (only: wire)\n", argv[1]);
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "n", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm': w.mysqld = optarg; break;
		case 'P': w.plugin_dir = optarg; break;
		case 'D': w.datadir = optarg; break;
		case 'u': w.user = optarg; break;
		case 's': w.store = optarg; break;
		case 'p': w.pin_file = optarg; break;
		case 'f': w.pin_from = optarg; break;
		case 'M': w.module = optarg; break;
		case 'T': w.token = optarg; break;
		case 'K': w.master_key = optarg; break;
		case 'A': w.mac_key = optarg; break;
		case 'l': w.local = 1; break;
		case 'F': w.force = 1; break;
		case 'n': w.dry_run = 1; break;
		case 'h':
			wire_usage(stdout);
			return EXIT_OK;
		default:
			wire_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "keylocker mysql wire: unexpected argument \"%s\"\n",
		    argv[optind]);
		wire_usage(stderr);
		return EXIT_USAGE;
	}
	return run_wire(&w);
}
