/* Unit tests for conf/: the good example, every bad fixture, and a bit-flip pass. */
#include "tests/unit/cutest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <limits.h>
#include <syslog.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/tree.h"

static char tmpdir[256];
static char fixtures[400];

/* Read a file, replacing every @DIR@ by tmpdir.  Caller frees. */
static char *
read_fixture(const char *path, size_t *lenp)
{
	char *buf, *out, *p, *q;
	FILE *f;
	long n;
	size_t cap, dl = strlen(tmpdir);

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	cap = (size_t)n * 4 + 1 + 16 * dl;
	out = calloc(1, cap);
	for (p = buf, q = out; *p != '\0';) {
		if (strncmp(p, "@DIR@", 5) == 0) {
			memcpy(q, tmpdir, dl);
			q += dl;
			p += 5;
		} else {
			*q++ = *p++;
		}
	}
	*q = '\0';
	free(buf);
	*lenp = (size_t)(q - out);
	return out;
}

/* Write the fixture with @DIR@ replaced into tmpdir and load it from there. */
static int
load_fixture(const char *rel, struct kl_conf **out, char *err, size_t errlen)
{
	char src[2048], dst[2048];
	const char *base = strrchr(rel, '/') != NULL ? strrchr(rel, '/') + 1 : rel;
	size_t len;
	char *text;
	FILE *f;
	int r;

	snprintf(src, sizeof(src), "%s/%s", fixtures, rel);
	snprintf(dst, sizeof(dst), "%s/%s", tmpdir, base);
	if ((text = read_fixture(src, &len)) == NULL)
		return -100;
	f = fopen(dst, "w");
	fwrite(text, 1, len, f);
	fclose(f);
	chmod(dst, 0644);
	free(text);
	r = conf_load_file(dst, out, err, errlen);
	return r;
}

static void
write_file(const char *name, const char *text, mode_t mode)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		abort();
	fchmod(fd, mode);
	close(fd);
}

static int
setup(void)
{
	const char *src = getenv("KL_SOURCE_DIR");

	if (src == NULL) {
		fprintf(stderr, "KL_SOURCE_DIR is not set (run through ctest)\n");
		return 1;
	}
	if (access("/usr/lib/softhsm/libsofthsm2.so", R_OK) != 0) {
		fprintf(stderr, "SKIP: softhsm2 is not installed\n");
		return 77;
	}
	snprintf(fixtures, sizeof(fixtures), "%s/tests/fixtures/conf", src);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kl-test-conf-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	write_file("backend.pin", "backend-pin\n", 0600);
	write_file("open.pin", "backend-pin\n", 0644);
	return 0;
}

static int
teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

static void
test_good_full(void)
{
	struct kl_conf *c = NULL;
	char err[1024] = "";
	char want[PATH_MAX];

	CU_ASSERT_EQUAL_FATAL(load_fixture("good.yaml", &c, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	/* the module path is resolved (Debian's is a symlink) */
	CU_ASSERT_PTR_NOT_NULL_FATAL(realpath("/usr/lib/softhsm/libsofthsm2.so", want));
	CU_ASSERT_STRING_EQUAL(c->module, want);
	CU_ASSERT_EQUAL_FATAL(c->n_env, 1);
	CU_ASSERT_STRING_EQUAL(c->env[0].name, "SOFTHSM2_CONF");
	snprintf(want, sizeof(want), "%s/softhsm2.conf", tmpdir);
	CU_ASSERT_STRING_EQUAL(c->env[0].value, want);
	CU_ASSERT_EQUAL_FATAL(c->n_tokens, 2);
	CU_ASSERT_STRING_EQUAL(c->tokens[0].label, "keylocker");
	CU_ASSERT_STRING_EQUAL(c->tokens[0].backend_label, "keylocker");
	CU_ASSERT_STRING_EQUAL(c->tokens[1].backend_label, "other-token");
	CU_ASSERT_STRING_EQUAL(c->tokens[1].pin_env, "KL_TEST_BACKEND_PIN");
	CU_ASSERT_PTR_NULL(c->tokens[1].pin_file);
	CU_ASSERT_EQUAL_FATAL(c->policy.n_clients, 3);
	CU_ASSERT_EQUAL(c->policy.clients[0].role, POLICY_ROLE_ADMIN);
	CU_ASSERT_EQUAL(c->policy.clients[1].role, POLICY_ROLE_KEYRING);
	CU_ASSERT_EQUAL(c->policy.clients[2].role, POLICY_ROLE_AUDITOR);
	CU_ASSERT_EQUAL_FATAL(c->policy.clients[1].n_key_patterns, 2);
	CU_ASSERT_STRING_EQUAL(c->policy.clients[1].key_patterns[1], "keylocker-store-mac");
	CU_ASSERT_EQUAL(c->max_failures, 3);
	CU_ASSERT_EQUAL(c->lockout_seconds, 60);
	CU_ASSERT_EQUAL(c->checkpoint_every, 100);
	CU_ASSERT_EQUAL(c->checkpoint_seconds, 60);	/* default */
	CU_ASSERT_EQUAL(c->sync_interval_ms, 200);
	CU_ASSERT_EQUAL(c->audit_fail_closed, 0);
	CU_ASSERT_EQUAL_FATAL(c->n_sinks, 3);
	CU_ASSERT_EQUAL(c->sinks[0].type, CONF_SINK_FILE);
	CU_ASSERT_EQUAL(c->sinks[0].append_only, 1);
	CU_ASSERT_EQUAL(c->sinks[1].append_only, 0);
	CU_ASSERT_EQUAL(c->sinks[2].type, CONF_SINK_SYSLOG);
	CU_ASSERT_EQUAL(c->sinks[2].facility, LOG_AUTHPRIV);
	CU_ASSERT_STRING_EQUAL(c->sinks[2].ident, "kl-test");
	CU_ASSERT_STRING_EQUAL(c->policy.audit_key, "keylocker-audit");
	CU_ASSERT_EQUAL(c->policy.allow_destroy_master_keys, 0);
	conf_free(c);
}

static void
test_minimal_json_defaults(void)
{
	struct kl_conf *c = NULL;
	char err[1024] = "";

	CU_ASSERT_EQUAL_FATAL(load_fixture("minimal.json", &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c->max_failures, 5);
	CU_ASSERT_EQUAL(c->lockout_seconds, 300);
	CU_ASSERT_STRING_EQUAL(c->state_dir, "/var/lib/keylocker");
	CU_ASSERT_STRING_EQUAL(c->policy.audit_key, "keylocker-audit");
	CU_ASSERT_EQUAL_FATAL(c->policy.n_mac_keys, 1);
	CU_ASSERT_STRING_EQUAL(c->policy.mac_keys[0], "keylocker-store-mac*");
	CU_ASSERT_EQUAL(c->audit_fail_closed, 1);
	CU_ASSERT_EQUAL(c->checkpoint_every, 1000);
	CU_ASSERT_EQUAL(c->sync_interval_ms, 1000);
	CU_ASSERT_PTR_NULL(c->init_args);
	conf_free(c);
}

/* Every file in fixtures/conf/bad fails, with the message its first line names. */
static void
test_bad_fixtures(void)
{
	char dir[1024], rel[2048], err[1024], expect[512], *text, *nl;
	struct dirent *de;
	struct kl_conf *c;
	size_t len, checked = 0;
	DIR *d;
	int r;

	snprintf(dir, sizeof(dir), "%s/bad", fixtures);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(rel, sizeof(rel), "%s/%s", dir, de->d_name);
		text = read_fixture(rel, &len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		CU_ASSERT_FATAL(strncmp(text, "# expect: ", 10) == 0);
		nl = strchr(text, '\n');
		snprintf(expect, sizeof(expect), "%.*s", (int)(nl - text - 10), text + 10);
		free(text);

		snprintf(rel, sizeof(rel), "bad/%s", de->d_name);
		c = NULL;
		err[0] = '\0';
		r = load_fixture(rel, &c, err, sizeof(err));
		if (r == 0 || strstr(err, expect) == NULL || strstr(err, de->d_name) == NULL) {
			fprintf(stderr, "\n  %s: r=%d\n    got:  %s\n    want: %s\n",
			    de->d_name, r, err, expect);
			CU_FAIL("bad fixture not refused with its message");
		}
		CU_ASSERT_PTR_NULL(c);
		conf_free(c);
		checked++;
	}
	closedir(d);
	CU_ASSERT(checked >= 30);
}

static void
test_world_writable_refused(void)
{
	char path[1024], err[1024] = "";
	struct kl_conf *c = NULL;
	size_t len;
	char *text;

	snprintf(path, sizeof(path), "%s/good.yaml", fixtures);
	text = read_fixture(path, &len);
	snprintf(path, sizeof(path), "%s/ww.yaml", tmpdir);
	write_file("ww.yaml", text, 0666);
	free(text);
	CU_ASSERT_EQUAL(conf_load_file(path, &c, err, sizeof(err)), CONF_ERR_PERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "writable by others"));
	CU_ASSERT_PTR_NULL(c);
}

static void
test_missing_file(void)
{
	char err[1024] = "";
	struct kl_conf *c = NULL;

	CU_ASSERT_EQUAL(conf_load_file("/nonexistent/keylocker.yaml", &c, err, sizeof(err)),
	    CONF_ERR_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/keylocker.yaml: cannot open"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "keylocker init"));
}

static void
test_default_path_env(void)
{
	setenv("KEYLOCKER_CONF", "/some/where.yaml", 1);
	CU_ASSERT_STRING_EQUAL(conf_default_path(), "/some/where.yaml");
	unsetenv("KEYLOCKER_CONF");
	CU_ASSERT_PTR_NOT_NULL(strstr(conf_default_path(), "/keylocker/keylocker.yaml"));
}

static void
test_tree_depth_limit(void)
{
	char buf[256], err[256];
	struct conf_node *root = NULL;
	int i;

	for (i = 0; i < 40; i++)
		buf[i] = '[';
	buf[40] = '\0';
	CU_ASSERT_NOT_EQUAL(conf_tree_parse(buf, strlen(buf), &root, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "nested too deeply"));
	CU_ASSERT_PTR_NULL(root);
}

static void
test_tree_nul_in_value(void)
{
	static const char doc[] = "a: \"x\\0y\"\n";
	struct conf_node *root = NULL;
	char err[256];

	CU_ASSERT_NOT_EQUAL(conf_tree_parse(doc, sizeof(doc) - 1, &root, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "NUL"));
}

static void
test_tree_size_limit(void)
{
	size_t n = CONF_TREE_INPUT_MAX + 1;
	struct conf_node *root = NULL;
	char *buf = malloc(n), err[256];

	memset(buf, '#', n);
	CU_ASSERT_NOT_EQUAL(conf_tree_parse(buf, n, &root, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "larger than"));
	free(buf);
}

/*
 * Deterministic mutations of the good configuration: every truncation and a
 * bit flip in every byte.  Nothing may crash (ASan runs this too), every
 * failure must say something, and a mutation that still loads must still be
 * a complete configuration.
 */
static void
test_mutations(void)
{
	char path[1024], err[1024];
	struct kl_conf *c;
	size_t len, i, loaded = 0, refused = 0;
	char *text, *m;
	int bit;

	snprintf(path, sizeof(path), "%s/good.yaml", fixtures);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text = read_fixture(path, &len));
	m = malloc(len + 1);
	for (i = 0; i <= len; i++) {
		memcpy(m, text, i);
		c = NULL;
		err[0] = '\0';
		if (conf_load_string(m, i, "trunc", &c, err, sizeof(err)) == 0) {
			CU_ASSERT(c != NULL && c->n_tokens > 0 && c->policy.n_clients > 0 &&
			    c->n_sinks > 0 && c->module != NULL);
			loaded++;
		} else {
			CU_ASSERT(err[0] != '\0');
			refused++;
		}
		conf_free(c);
	}
	for (i = 0; i < len; i++) {
		bit = (int)(i % 8);
		memcpy(m, text, len);
		m[i] ^= (char)(1 << bit);
		c = NULL;
		err[0] = '\0';
		if (conf_load_string(m, len, "flip", &c, err, sizeof(err)) == 0) {
			CU_ASSERT(c != NULL && c->n_tokens > 0 && c->n_sinks > 0);
			loaded++;
		} else {
			CU_ASSERT(err[0] != '\0');
			refused++;
		}
		conf_free(c);
	}
	CU_ASSERT(refused > len);	/* most mutations must be refused */
	free(m);
	free(text);
}

/* The shipped example is complete: only its placeholder PIN hashes need filling in. */
static void
test_shipped_example(void)
{
	static const char ph[] = "REPLACE: keylocker pin-hash";
	static const char hash[] = "$scrypt$ln=10,r=8,p=1$JznkE+DD/JOG+T1U8awpwg==$"
	    "sOb4rzEeP+mcXhvwNd+JepWfS0Z3+9svohrRShZhpdc=";
	char path[1024], err[1024] = "", *text, *out, *p, *q;
	struct kl_conf *c = NULL;
	size_t len, n = 0;

	snprintf(path, sizeof(path), "%s/conf/examples/keylocker.yaml", getenv("KL_SOURCE_DIR"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(text = read_fixture(path, &len));
	/* as shipped it is refused, saying how to make a hash */
	CU_ASSERT_NOT_EQUAL(conf_load_string(text, len, "example", &c, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "keylocker pin-hash"));
	out = calloc(1, len * 2 + 1);
	for (p = text, q = out; *p != '\0';) {
		if (strncmp(p, ph, sizeof(ph) - 1) == 0) {
			memcpy(q, hash, sizeof(hash) - 1);
			q += sizeof(hash) - 1;
			p += sizeof(ph) - 1;
			n++;
		} else {
			*q++ = *p++;
		}
	}
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL_FATAL(conf_load_string(out, strlen(out), "example", &c, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(c->policy.n_clients, 3);
	CU_ASSERT_EQUAL(c->n_sinks, 4);		/* four copies */
	CU_ASSERT_EQUAL(c->sinks[3].type, CONF_SINK_SYSLOG);
	CU_ASSERT_EQUAL(c->audit_fail_closed, 1);
	conf_free(c);
	free(out);
	free(text);
}

void
kl_test_register(void)
{
	kl_test_set_fixture(setup, teardown);
	kl_test_add("/conf/good_full", test_good_full);
	kl_test_add("/conf/minimal_json_defaults", test_minimal_json_defaults);
	kl_test_add("/conf/bad_fixtures_refused_with_message", test_bad_fixtures);
	kl_test_add("/conf/world_writable_refused", test_world_writable_refused);
	kl_test_add("/conf/missing_file", test_missing_file);
	kl_test_add("/conf/default_path_env", test_default_path_env);
	kl_test_add("/conf/tree/depth_limit", test_tree_depth_limit);
	kl_test_add("/conf/tree/nul_in_value", test_tree_nul_in_value);
	kl_test_add("/conf/tree/size_limit", test_tree_size_limit);
	kl_test_add("/conf/mutations", test_mutations);
	kl_test_add("/conf/shipped_example", test_shipped_example);
}
