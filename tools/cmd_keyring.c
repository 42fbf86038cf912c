/*
 * keylocker keyring list|verify|backup|restore|rewrap: the MySQL keyring
 * store of component_keyring_pkcs11, through the same engine (kr.h) and the
 * same PIN the component uses.  No verb prints or reads out a key: verify
 * and rewrap unwrap inside the token only.
 *
 * Which store: --config CNF (a component_keyring_pkcs11.cnf), else --store
 * PATH (with the defaults the component would use), else the component's
 * own lookup (the .cnf in --plugin-dir, or in --datadir with
 * read_local_config).  Started as root, it becomes the owner of the store's
 * directory (the mysql user) first, or --user: files it writes stay the
 * server's, and it reads the PIN file exactly as the component does.
 */
#include <ctype.h>
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "conf/conf.h"
#include "keyring-bridge/kr.h"
#include "keyring-bridge/kr_conf.h"
#include "kl_paths.h"
#include "policy/policy.h"
#include "tools/cli.h"

#ifndef KL_MYSQL_PLUGIN_DIR
#define KL_MYSQL_PLUGIN_DIR	"/usr/lib/mysql/plugin"
#endif
#define DEFAULT_DATADIR		"/var/lib/mysql"
#define COMPONENT_SO		"component_keyring_pkcs11"

struct kopts {
	const char	*config, *store, *plugin_dir, *datadir;
	const char	*module, *token, *master_key, *mac_key, *pin_file, *user;
	const char	*out, *from, *to;
	int		 json, quiet, force, no_server_check;
};

enum verb { V_LIST, V_VERIFY, V_BACKUP, V_RESTORE, V_REWRAP };

static const struct {
	const char	*name;
	enum verb	 v;
	const char	*args;
	const char	*help;
} kverbs[] = {
	{ "list", V_LIST, "[--json]",
	  "every entry: data_id, auth_id, type, length, wrapping key (never data)" },
	{ "verify", V_VERIFY, "",
	  "check the store's MAC and unwrap every entry in the token" },
	{ "backup", V_BACKUP, "--out FILE",
	  "a consistent, verified copy of the store" },
	{ "restore", V_RESTORE, "--from FILE [--force] [--no-server-check]",
	  "install a backup made for this token (mysqld stopped)" },
	{ "rewrap", V_REWRAP, "--to LABEL",
	  "re-wrap every entry under another master key, inside the token" },
};

static void
keyring_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: keylocker keyring VERB [STORE] [OPTIONS]\n\n");
	for (i = 0; i < KL_ARRAY_SIZE(kverbs); i++)
		fprintf(f, "  %-8s %s\n", kverbs[i].name, kverbs[i].help);
	fprintf(f,
	    "\nSTORE (the component's configuration decides, as in mysqld):\n"
	    "  --config CNF        a component_keyring_pkcs11.cnf\n"
	    "  --store PATH        the store file, with the component's defaults\n"
	    "  --plugin-dir DIR    where the global .cnf is (default %s)\n"
	    "  --datadir DIR       for read_local_config and relative paths (default %s)\n"
	    "Overrides: --module PATH --token LABEL --master-key LABEL --mac-key LABEL\n"
	    "           --pin-file F (default: the configuration's, as the component)\n"
	    "           --user NAME (started as root: default the store directory's owner)\n"
	    "           --quiet (no progress)\n"
	    "Exit status: 0 ok, 1 failure or a problem found, 2 usage.\n",
	    KL_MYSQL_PLUGIN_DIR, DEFAULT_DATADIR);
}

static void
verb_usage(FILE *f, size_t i)
{
	fprintf(f, "usage: keylocker keyring %s %s [--config CNF | --store PATH] "
	    "[OPTIONS]\n%s.\n(keylocker keyring --help lists the common options)\n",
	    kverbs[i].name, kverbs[i].args, kverbs[i].help);
	if (kverbs[i].v == V_RESTORE)
		fprintf(f, "The backup's MAC must verify with this token and every entry "
		    "must unwrap.\nRefused while a process has %s.so loaded (stop "
		    "mysqld first),\nand when the current store holds entries the backup "
		    "lacks (--force).\nThe current store is kept as PATH.pre-restore-GEN "
		    "and PATH.prev.\n", COMPONENT_SO);
	if (kverbs[i].v == V_REWRAP)
		fprintf(f, "LABEL must be a master key on the token (an admin makes it:\n"
		    "  pkcs11-tool --module %s --login --pin ADMIN-PIN \\\n"
		    "    --keygen --key-type AES:32 --usage-wrap --label LABEL)\n"
		    "that the keyring client may use (its keys: patterns in keylocker.yaml).\n"
		    "Then set master_key to LABEL in the component's .cnf so new keys use "
		    "it.\n", KL_DEFAULT_MODULE);
}

/* ---- configuration ---- */

static int
dup_into(char **dst, const char *src)
{
	char *p;

	if (src == NULL)
		return 0;
	if ((p = strdup(src)) == NULL)
		return -1;
	free(*dst);
	*dst = p;
	return 0;
}

static int
load_config(const struct kopts *o, struct kr_config **out)
{
	struct kr_config *cfg = NULL;
	const char *datadir = o->datadir != NULL ? o->datadir : DEFAULT_DATADIR;
	char err[1024], path[PATH_MAX];
	int read_local = 0;

	*out = NULL;
	if (o->config != NULL && o->store != NULL)
		return cli_fail("give --config or --store, not both");
	if (o->config != NULL) {
		if (kr_conf_read_file(o->config, 1, &cfg, &read_local, err, sizeof(err)) != 0)
			return cli_fail("%s", err);
		if (read_local) {
			if (o->datadir == NULL)
				return cli_fail("%s says read_local_config: give --datadir DIR "
				    "(the server's datadir, where the local %s is)", o->config,
				    KR_CONF_FILE_NAME);
			if ((size_t)snprintf(path, sizeof(path), "%s/%s", datadir,
			    KR_CONF_FILE_NAME) >= sizeof(path))
				return cli_fail("--datadir is too long");
			if (kr_conf_read_file(path, 0, &cfg, &read_local, err, sizeof(err)) != 0)
				return cli_fail("%s", err);
		}
	} else if (o->store != NULL) {
		if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
		    dup_into(&cfg->path, o->store) != 0 ||
		    dup_into(&cfg->module, cli_module_path()) != 0 ||
		    dup_into(&cfg->token, "keylocker") != 0 ||
		    dup_into(&cfg->master_key, "keylocker-master") != 0 ||
		    dup_into(&cfg->mac_key, "keylocker-store-mac") != 0 ||
		    dup_into(&cfg->pin_file, KL_SYSCONFDIR "/keyring.pin") != 0 ||
		    dup_into(&cfg->source, "--store") != 0) {
			kr_conf_free(cfg);
			return cli_fail("out of memory");
		}
	} else {
		if (kr_conf_load(o->plugin_dir != NULL ? o->plugin_dir : KL_MYSQL_PLUGIN_DIR,
		    datadir, &cfg, err, sizeof(err)) != 0)
			return cli_fail("%s (or name the store: --config CNF or --store PATH)",
			    err);
	}
	if (dup_into(&cfg->module, o->module) != 0 || dup_into(&cfg->token, o->token) != 0 ||
	    dup_into(&cfg->master_key, o->master_key) != 0 ||
	    dup_into(&cfg->mac_key, o->mac_key) != 0 ||
	    dup_into(&cfg->pin_file, o->pin_file) != 0) {
		kr_conf_free(cfg);
		return cli_fail("out of memory");
	}
	/* mysqld runs in its datadir: a relative path is relative to it */
	if (cfg->path != NULL && cfg->path[0] != '/') {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", datadir, cfg->path) >=
		    sizeof(path) || dup_into(&cfg->path, path) != 0) {
			cli_fail("store path %s is too long", cfg->path);
			kr_conf_free(cfg);
			return EXIT_FAIL;
		}
	}
	cfg->cache = 0;
	*out = cfg;
	return 0;
}

/*
 * Started as root: become the store directory's owner (or --user), for
 * good.  The PIN file and the store then look to us as to the server.
 */
/* The user drop_privileges() became, for messages ("" when it did not). */
static char dropped_to[64];

static int
drop_privileges(const struct kopts *o, const char *store)
{
	struct passwd *pw = NULL;
	struct stat st;
	char dir[PATH_MAX], *slash;
	uid_t uid;
	gid_t gid;
	const char *name;

	if (geteuid() != 0) {
		if (o->user != NULL && ((pw = getpwnam(o->user)) == NULL ||
		    pw->pw_uid != geteuid()))
			return cli_fail("--user %s needs root", o->user);
		return 0;
	}
	if (o->user != NULL) {
		if ((pw = getpwnam(o->user)) == NULL)
			return cli_fail("--user %s: no such user", o->user);
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		name = o->user;
	} else {
		kl_strlcpy(dir, store, sizeof(dir));
		if ((slash = strrchr(dir, '/')) != NULL)
			*(slash == dir ? slash + 1 : slash) = '\0';
		if (stat(dir, &st) != 0 || st.st_uid == 0)
			return 0;	/* root's store, or none yet: stay root */
		uid = st.st_uid;
		pw = getpwuid(uid);
		gid = pw != NULL ? pw->pw_gid : st.st_gid;
		name = pw != NULL ? pw->pw_name : "(no name)";
	}
	if (uid == 0)
		return 0;
	kl_strlcpy(dropped_to, name, sizeof(dropped_to));	/* before getpwuid reuses pw */
	return cli_become(uid, gid, o->quiet ? NULL : "the store's owner");
}

/* ---- output ---- */

/* s with bytes outside printable ASCII as \xNN (plain listing). */
static void
print_plain(const char *s, int width)
{
	const unsigned char *p;
	int n = 0;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			n += printf("%c", *p);
		else
			n += printf("\\x%02x", *p);
	}
	if (n == 0)
		n += printf("-");
	for (; n < width; n++)
		putchar(' ');
}

struct progress {
	const char	*verb;
	int		 quiet, tty;
	uint64_t	 last_ms;
	size_t		 last_tenth;
	int		 shown;
};

static void
on_progress(void *vctx, const char *phase, size_t done, size_t total)
{
	struct progress *p = vctx;
	uint64_t now;
	size_t tenth;

	if (p->quiet || total == 0)
		return;
	if (p->tty) {
		now = kl_monotonic_ms();
		if (done != total && now - p->last_ms < 200)
			return;
		p->last_ms = now;
		fprintf(stderr, "\rkeylocker: %s: %zu/%zu entries (%zu%%)%s", phase, done,
		    total, done * 100 / total, done == total ? "\n" : "");
		p->shown = done != total;
		return;
	}
	/* a log, not a terminal: a line at every tenth */
	tenth = done * 10 / total;
	if (tenth == p->last_tenth && done != total)
		return;
	if (done == total && p->last_tenth == 10)
		return;
	p->last_tenth = tenth;
	fprintf(stderr, "keylocker: %s: %zu/%zu entries (%zu%%)\n", phase, done, total,
	    done * 100 / total);
}

static void
on_bad(void *vctx, const char *data_id, const char *auth_id, const char *why)
{
	struct progress *p = vctx;

	if (p->shown) {
		fputc('\n', stderr);
		p->shown = 0;
	}
	fprintf(stderr, "keylocker: BAD entry data_id '%.200s' auth_id '%.100s': %s\n",
	    data_id, auth_id, why);
}

/* ---- the verbs ---- */

static int
do_list(struct kr *kr, const struct kopts *o)
{
	struct kr_meta *m = NULL;
	struct kr_status st;
	size_t n = 0, i;

	if (kr_list(kr, &m, &n) != 0)
		return cli_fail("%s", kr_last_error(kr));
	kr_get_status(kr, &st);
	if (o->json) {
		printf("{\"store\": ");
		cli_json_str(stdout, st.store_path);
		printf(", \"generation\": %llu, \"entries\": [", (unsigned long long)st.generation);
		for (i = 0; i < n; i++) {
			printf("%s\n  {\"data_id\": ", i ? "," : "");
			cli_json_str(stdout, m[i].data_id);
			printf(", \"auth_id\": ");
			cli_json_str(stdout, m[i].auth_id);
			printf(", \"type\": ");
			cli_json_str(stdout, m[i].type);
			printf(", \"length\": %zu, \"master_key\": ", m[i].data_len);
			cli_json_str(stdout, m[i].master_key != NULL ? m[i].master_key : "");
			printf("}");
		}
		printf("%s]}\n", n ? "\n" : "");
	} else {
		printf("%-40s %-16s %-8s %6s  %s\n", "DATA_ID", "AUTH_ID", "TYPE", "LENGTH",
		    "WRAPPED BY");
		for (i = 0; i < n; i++) {
			print_plain(m[i].data_id, 40);
			putchar(' ');
			print_plain(m[i].auth_id, 16);
			putchar(' ');
			print_plain(m[i].type, 8);
			printf(" %6zu  ", m[i].data_len);
			print_plain(m[i].master_key != NULL ? m[i].master_key : "?", 0);
			putchar('\n');
		}
		printf("%zu entr%s in %s (generation %llu)\n", n, n == 1 ? "y" : "ies",
		    st.store_path, (unsigned long long)st.generation);
	}
	kr_meta_free(m, n);
	return fflush(stdout) == 0 ? EXIT_OK : cli_fail("cannot write the listing");
}

static int
do_verify(struct kr *kr, const struct kr_config *cfg, struct progress *pg)
{
	struct kr_report rep;
	struct kr_status st;
	int r;

	r = kr_verify(kr, on_progress, on_bad, pg, &rep);
	kr_get_status(kr, &st);
	if (r != 0 && rep.entries == 0 && rep.failed == 0)
		return cli_fail("%s", kr_last_error(kr));
	printf("keylocker: store %s generation %llu: MAC verified with key %s; %zu "
	    "entr%s, %zu unwrapped in the token, %zu failed\n", st.store_path,
	    (unsigned long long)rep.generation, cfg->mac_key,
	    rep.entries, rep.entries == 1 ? "y" : "ies", rep.ok, rep.failed);
	if (r != 0)
		return cli_fail("%s", kr_last_error(kr));
	return EXIT_OK;
}

static int
do_backup(struct kr *kr, const struct kopts *o)
{
	struct kr_report rep;
	struct kr_status st;

	if (kr_backup(kr, o->out, &rep) != 0)
		return cli_fail("%s", kr_last_error(kr));
	kr_get_status(kr, &st);
	printf("keylocker: backed up %s (generation %llu, %zu entr%s) to %s; it was "
	    "read back and its MAC verified\n", st.store_path,
	    (unsigned long long)rep.generation, rep.entries, rep.entries == 1 ? "y" : "ies",
	    o->out);
	return EXIT_OK;
}

/*
 * Processes that could write the store: any with the component loaded
 * (/proc/PID/maps), and any mysqld whose maps we may not read.  Returns the
 * number found (printed), or -1 when /proc is unreadable.
 */
static int
servers_running(void)
{
	DIR *d;
	struct dirent *de;
	char path[64], line[4352], comm[64];
	FILE *f;
	int found = 0, mapped;

	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]) ||
		    strtol(de->d_name, NULL, 10) == (long)getpid())
			continue;
		comm[0] = '\0';
		snprintf(path, sizeof(path), "/proc/%.20s/comm", de->d_name);
		if ((f = fopen(path, "re")) != NULL) {
			if (fgets(comm, sizeof(comm), f) == NULL)
				comm[0] = '\0';
			comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
		snprintf(path, sizeof(path), "/proc/%.20s/maps", de->d_name);
		mapped = 0;
		if ((f = fopen(path, "re")) != NULL) {
			while (fgets(line, sizeof(line), f) != NULL) {
				if (strstr(line, COMPONENT_SO) != NULL) {
					mapped = 1;
					break;
				}
			}
			fclose(f);
		} else if (strcmp(comm, "mysqld") == 0) {
			mapped = 2;	/* cannot tell: assume it may */
		}
		if (mapped) {
			fprintf(stderr, "keylocker: process %s (%s) %s\n", de->d_name, comm,
			    mapped == 1 ? "has " COMPONENT_SO ".so loaded" :
			    "is a mysqld whose libraries cannot be read");
			found++;
		}
	}
	closedir(d);
	return found;
}

static int
do_restore(struct kr *kr, const struct kopts *o, struct progress *pg)
{
	struct kr_report rep;
	struct kr_status st;
	int r;

	r = kr_restore(kr, o->from, o->force, on_progress, on_bad, pg, &rep);
	if (r != 0)
		return cli_fail("%s", kr_last_error(kr));
	kr_get_status(kr, &st);
	printf("keylocker: restored %s from %s: %zu entr%s, every one unwrapped in the "
	    "token, now generation %llu\n", st.store_path, o->from, rep.entries,
	    rep.entries == 1 ? "y" : "ies", (unsigned long long)rep.generation);
	if (rep.saved[0] != '\0')
		printf("keylocker: the replaced store is kept as %s (and %s.prev)\n",
		    rep.saved, st.store_path);
	if (rep.lost > 0)
		printf("keylocker: --force: %zu entr%s of the replaced store %s not in the "
		    "backup\n", rep.lost, rep.lost == 1 ? "y" : "ies",
		    rep.lost == 1 ? "was" : "were");
	return EXIT_OK;
}

/* When keylocker.yaml is readable: may any keyring client use label? */
static void
check_patterns(const char *label)
{
	struct kl_conf *conf = NULL;
	char err[1024];
	size_t i;
	int ok = 0, any = 0;

	if (conf_load_file(NULL, &conf, err, sizeof(err)) != 0)
		return;		/* remote token, or not ours to read: the token decides */
	for (i = 0; i < conf->policy.n_clients; i++) {
		const struct policy_client *c = &conf->policy.clients[i];

		if (c->role != POLICY_ROLE_KEYRING)
			continue;
		any = 1;
		if (policy_client_may_use(c, label))
			ok = 1;
	}
	if (any && !ok)
		fprintf(stderr, "keylocker: warning: no keyring client of %s may use "
		    "master key \"%s\" (its keys: patterns); the token will refuse the "
		    "wraps\n", conf->source, label);
	conf_free(conf);
}

static int
do_rewrap(struct kr *kr, const struct kopts *o, const struct kr_config *cfg,
    struct progress *pg)
{
	struct kr_report rep;
	struct kr_status st;
	uint64_t t0 = kl_monotonic_ms();

	check_patterns(o->to);
	if (kr_rewrap(kr, o->to, on_progress, pg, &rep) != 0)
		return cli_fail("%s%s", kr_last_error(kr),
		    strstr(kr_last_error(kr), "CKR_KEY_FUNCTION_NOT_PERMITTED") != NULL ?
		    " (is the new key a master key the keyring client's keys: patterns "
		    "name, and not retired?)" : "");
	kr_get_status(kr, &st);
	if (rep.ok == 0) {
		printf("keylocker: all %zu entr%s of %s %s already wrapped by %s: "
		    "nothing to do\n", rep.entries, rep.entries == 1 ? "y" : "ies",
		    st.store_path, rep.entries == 1 ? "is" : "are", o->to);
	} else {
		printf("keylocker: re-wrapped %zu entr%s of %s under %s inside the token "
		    "in %.1f s (%zu already under it, %zu changed meanwhile and redone "
		    "under the lock); now generation %llu\n", rep.ok,
		    rep.ok == 1 ? "y" : "ies", st.store_path, o->to,
		    (double)(kl_monotonic_ms() - t0) / 1000.0, rep.skipped, rep.late,
		    (unsigned long long)rep.generation);
	}
	if (strcmp(cfg->master_key, o->to) != 0)
		printf("keylocker: next: set \"master_key\": \"%s\" in %s so new keys are "
		    "wrapped by it, reload the keyring (restart mysqld), run this again "
		    "for keys made meanwhile, then `keylocker retire %s`\n", o->to,
		    cfg->source != NULL ? cfg->source : "the component's .cnf",
		    cfg->master_key);
	return EXIT_OK;
}

int
cmd_keyring(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "store", required_argument, NULL, 's' },
		{ "plugin-dir", required_argument, NULL, 'P' },
		{ "datadir", required_argument, NULL, 'D' },
		{ "module", required_argument, NULL, 'M' },
		{ "token", required_argument, NULL, 'T' },
		{ "master-key", required_argument, NULL, 'K' },
		{ "mac-key", required_argument, NULL, 'A' },
		{ "pin-file", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "out", required_argument, NULL, 'o' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "force", no_argument, NULL, 'F' },
		{ "no-server-check", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kopts o;
	struct kr_config *cfg = NULL;
	struct kr *kr = NULL;
	struct progress pg;
	char err[1024];
	size_t vi;
	int ch, r = EXIT_FAIL, n;
	enum verb v;

	memset(&o, 0, sizeof(o));
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		keyring_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	for (vi = 0; vi < KL_ARRAY_SIZE(kverbs); vi++) {
		if (strcmp(argv[1], kverbs[vi].name) == 0)
			break;
	}
	if (vi == KL_ARRAY_SIZE(kverbs)) {
		fprintf(stderr, "keylocker keyring: unknown verb \"%s\"\n\n", argv[1]);
		keyring_usage(stderr);
		return EXIT_USAGE;
	}
	v = kverbs[vi].v;
	argc--;
	argv++;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "q", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': o.config = optarg; break;
		case 's': o.store = optarg; break;
		case 'P': o.plugin_dir = optarg; break;
		case 'D': o.datadir = optarg; break;
		case 'M': o.module = optarg; break;
		case 'T': o.token = optarg; break;
		case 'K': o.master_key = optarg; break;
		case 'A': o.mac_key = optarg; break;
		case 'p': o.pin_file = optarg; break;
		case 'u': o.user = optarg; break;
		case 'o': o.out = optarg; break;
		case 'f': o.from = optarg; break;
		case 't': o.to = optarg; break;
		case 'j': o.json = 1; break;
		case 'q': o.quiet = 1; break;
		case 'F': o.force = 1; break;
		case 'N': o.no_server_check = 1; break;
		case 'h':
			verb_usage(stdout, vi);
			return EXIT_OK;
		default:
			verb_usage(stderr, vi);
			return EXIT_USAGE;
		}
	}
	if (optind != argc ||
	    (o.json && v != V_LIST) || (o.out != NULL) != (v == V_BACKUP) ||
	    (o.from != NULL) != (v == V_RESTORE) || (o.to != NULL) != (v == V_REWRAP) ||
	    ((o.force || o.no_server_check) && v != V_RESTORE)) {
		if (optind != argc)
			fprintf(stderr, "keylocker keyring %s: unexpected argument \"%s\"\n",
			    kverbs[vi].name, argv[optind]);
		else if (v == V_BACKUP && o.out == NULL)
			fprintf(stderr, "keylocker keyring backup: --out FILE is required\n");
		else if (v == V_RESTORE && o.from == NULL)
			fprintf(stderr, "keylocker keyring restore: --from FILE is required\n");
		else if (v == V_REWRAP && o.to == NULL)
			fprintf(stderr, "keylocker keyring rewrap: --to LABEL is required\n");
		else
			fprintf(stderr, "keylocker keyring %s: an option of another verb\n",
			    kverbs[vi].name);
		verb_usage(stderr, vi);
		return EXIT_USAGE;
	}
	memset(&pg, 0, sizeof(pg));
	pg.verb = kverbs[vi].name;
	pg.quiet = o.quiet;
	pg.tty = isatty(2);

	if (load_config(&o, &cfg) != 0)
		goto out;
	if (v == V_RESTORE && !o.no_server_check) {
		/* before dropping root: root can read every process's maps */
		if ((n = servers_running()) != 0) {
			if (n < 0)
				cli_fail("cannot read /proc to check for a running server");
			else
				cli_fail("refusing to restore while a server may hold the keyring "
				    "open (above): stop mysqld first; a running server would keep "
				    "serving and writing the keys it has in memory");
			goto out;
		}
	}
	if (drop_privileges(&o, cfg->path) != 0)
		goto out;
	if ((v == V_REWRAP || v == V_RESTORE) && cfg->read_only) {
		cli_fail("%s sets read_only: the store must not be written; use --store %s "
		    "to override", cfg->source != NULL ? cfg->source : "the configuration",
		    cfg->path);
		goto out;
	}
	cfg->read_only = v == V_LIST || v == V_VERIFY || v == V_BACKUP;
	if (o.quiet)
		kl_log_set_level(KL_LOG_ERROR);
	if (kr_open(cfg, &kr, err, sizeof(err)) != 0) {
		cli_fail("%s%s%s%s", err, dropped_to[0] != '\0' ? " (keylocker runs as " : "",
		    dropped_to, dropped_to[0] != '\0' ? ", the store's owner, as mysqld "
		    "does: that user must be able to use the token; or --user)" : "");
		goto out;
	}
	switch (v) {
	case V_LIST:	r = do_list(kr, &o); break;
	case V_VERIFY:	r = do_verify(kr, cfg, &pg); break;
	case V_BACKUP:	r = do_backup(kr, &o); break;
	case V_RESTORE:	r = do_restore(kr, &o, &pg); break;
	case V_REWRAP:	r = do_rewrap(kr, &o, cfg, &pg); break;
	}
 out:
	kr_close(kr);
	kr_conf_free(cfg);
	return r;
}
