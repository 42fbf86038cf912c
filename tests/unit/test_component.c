/*
 * keyring-bridge/component.c through MySQL's ABI: this program does what
 * mysqld's component loader does (list_components, fill the placeholders,
 * init, keyring_load) and then calls the services exactly as MySQL's
 * callers do, over tests/mock/kr_mem.c.
 *
 * It also plays the host: it offers a fake log_builtins through a fake
 * registry to see what reaches the error log, and exports its functions
 * under the C++ names mysqld's own implementation has, which is how
 * component.c recognises a table it may use.
 */
#include "keyring-bridge/mysql_abi.h"
#include "keyring-bridge/kr_conf.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "common/secret.h"
#include "tests/unit/cutest.h"

/* defined in tests/mock/kr_mem.c */
void	kr_mem_fail_next(int err);
int	kr_mem_open_count(void);

struct mysql_component_t *list_components(void);

#define IMPL ".component_keyring_pkcs11"

static struct mysql_component_t *comp;
static const struct s_mysql_keyring_reader_with_status *rd;
static const struct s_mysql_keyring_writer *wr;
static const struct s_mysql_keyring_generator *gen;
static const struct s_mysql_keyring_keys_metadata_iterator *keys;
static const struct s_mysql_keyring_component_status *cstatus;
static const struct s_mysql_keyring_component_metadata_query *meta;
static const struct s_mysql_keyring_load *ld;
static const struct s_mysql_keyring_aes *aes;

/* ------------------------------------------------------ the fake error log */

static char logbuf[32768];		/* every line, newline-separated */
static long long last_prio = -1, last_errcode = -1;

static void
log_append(const char *line)
{
	size_t have = strlen(logbuf);

	snprintf(logbuf + have, sizeof(logbuf) - have, "%s\n", line);
}

static int
log_has(const char *s)
{
	return strstr(logbuf, s) != NULL;
}

union mysql_log_item_data {
	long long	 i;
	const char	*s;
};

struct mysql_log_line {
	union mysql_log_item_data prio, errcode, component, message, other;
	int seen_errcode;
};

/*
 * mysqld exports its log_builtins implementation under these names
 * (log_builtins_imp::line_init() and so on); so do we.
 */
struct mysql_log_line *_ZN16log_builtins_imp9line_initEv(void);
void	_ZN16log_builtins_imp9line_exitEP9_log_line(struct mysql_log_line *ll);
union mysql_log_item_data *
	_ZN16log_builtins_imp13line_item_setEP9_log_line18enum_log_item_type(
	    struct mysql_log_line *ll, enum mysql_log_item_type t);
bool	_ZN16log_builtins_imp12item_set_intEP14_log_item_datax(
	    union mysql_log_item_data *lid, long long i);
bool	_ZN16log_builtins_imp16item_set_cstringEP14_log_item_dataPKc(
	    union mysql_log_item_data *lid, const char *s);
int	_ZN16log_builtins_imp11line_submitEP9_log_line(struct mysql_log_line *ll);

static struct mysql_log_line the_line;
static int line_open, lines_submitted;

struct mysql_log_line *
_ZN16log_builtins_imp9line_initEv(void)
{
	CU_ASSERT_EQUAL(line_open, 0);
	memset(&the_line, 0, sizeof(the_line));
	line_open = 1;
	return &the_line;
}

void
_ZN16log_builtins_imp9line_exitEP9_log_line(struct mysql_log_line *ll)
{
	CU_ASSERT_PTR_EQUAL(ll, &the_line);
	line_open = 0;
}

union mysql_log_item_data *
_ZN16log_builtins_imp13line_item_setEP9_log_line18enum_log_item_type(struct mysql_log_line *ll, enum mysql_log_item_type t)
{
	switch (t) {
	case MYSQL_LOG_ITEM_LOG_PRIO:		return &ll->prio;
	case MYSQL_LOG_ITEM_SQL_ERRCODE:	ll->seen_errcode = 1;
						return &ll->errcode;
	case MYSQL_LOG_ITEM_SRV_COMPONENT:	return &ll->component;
	case MYSQL_LOG_ITEM_LOG_MESSAGE:	return &ll->message;
	default:				return &ll->other;
	}
}

bool
_ZN16log_builtins_imp12item_set_intEP14_log_item_datax(union mysql_log_item_data *lid, long long i)
{
	lid->i = i;
	return false;
}

bool
_ZN16log_builtins_imp16item_set_cstringEP14_log_item_dataPKc(union mysql_log_item_data *lid, const char *s)
{
	lid->s = s;
	return false;
}

int
_ZN16log_builtins_imp11line_submitEP9_log_line(struct mysql_log_line *ll)
{
	CU_ASSERT_PTR_NOT_NULL(ll->message.s);
	CU_ASSERT_STRING_EQUAL(ll->component.s, "component:component_keyring_pkcs11");
	last_prio = ll->prio.i;
	last_errcode = ll->seen_errcode ? ll->errcode.i : 0;
	log_append(ll->message.s != NULL ? ll->message.s : "(null)");
	lines_submitted++;
	return 1;
}

/* The two layouts of mysql_abi.h; only the members we call are set. */
static const struct s_mysql_log_builtins fake_log_91 = {
	.item_set_int = _ZN16log_builtins_imp12item_set_intEP14_log_item_datax,
	.item_set_cstring = _ZN16log_builtins_imp16item_set_cstringEP14_log_item_dataPKc,
	.line_item_set = _ZN16log_builtins_imp13line_item_setEP9_log_line18enum_log_item_type,
	.line_init = _ZN16log_builtins_imp9line_initEv,
	.line_exit = _ZN16log_builtins_imp9line_exitEP9_log_line,
	.line_submit = _ZN16log_builtins_imp11line_submitEP9_log_line,
};
static const struct s_mysql_log_builtins_80 fake_log_80 = {
	.item_set_int = _ZN16log_builtins_imp12item_set_intEP14_log_item_datax,
	.item_set_cstring = _ZN16log_builtins_imp16item_set_cstringEP14_log_item_dataPKc,
	.line_item_set = _ZN16log_builtins_imp13line_item_setEP9_log_line18enum_log_item_type,
	.line_init = _ZN16log_builtins_imp9line_initEv,
	.line_exit = _ZN16log_builtins_imp9line_exitEP9_log_line,
	.line_submit = _ZN16log_builtins_imp11line_submitEP9_log_line,
};

/* Another host's implementation (not mysqld's exported functions). */
static struct mysql_log_line *
other_line_init(void)
{
	CU_FAIL("an unrecognised log_builtins must not be called");
	return NULL;
}

static const struct s_mysql_log_builtins fake_log_other = {
	.line_init = other_line_init,
};

/* Without a log service, component.c logs through common/log.h. */
static void
test_log_sink(enum kl_log_level level, const char *line)
{
	(void)level;
	log_append(line);
}

/* stderr (or stdout) of the code between the two calls, into errbuf */
static char errbuf[8192];
static int saved_fd = -1, captured_fd = STDERR_FILENO;
static FILE *errfile;

static void
fd_capture_begin(int fd)
{
	fflush(stdout);
	fflush(stderr);
	captured_fd = fd;
	CU_ASSERT_PTR_NOT_NULL_FATAL(errfile = tmpfile());
	saved_fd = dup(fd);
	CU_ASSERT_FATAL(saved_fd >= 0);
	CU_ASSERT_FATAL(dup2(fileno(errfile), fd) >= 0);
}

static void
stderr_capture_begin(void)
{
	fd_capture_begin(STDERR_FILENO);
}

static void
stderr_capture_end(void)
{
	size_t n;

	fflush(stdout);
	fflush(stderr);
	dup2(saved_fd, captured_fd);
	close(saved_fd);
	rewind(errfile);
	n = fread(errbuf, 1, sizeof(errbuf) - 1, errfile);
	errbuf[n] = '\0';
	fclose(errfile);
}

/* ------------------------------------------------------- the fake registry */

static const void *registry_offers;	/* what acquire("log_builtins") returns */
static const char *registry_tool;	/* another name acquire() knows, or NULL */
static int acquired, released;
static struct my_h_service_imp *acquired_handle;

static mysql_service_status_t
fake_acquire(const char *name, struct my_h_service_imp **out)
{
	if (registry_tool != NULL && strcmp(name, registry_tool) == 0) {
		acquired++;
		*out = (struct my_h_service_imp *)(uintptr_t)registry_offers;
		acquired_handle = *out;
		return 0;
	}
	if (strcmp(name, "log_builtins") != 0 || registry_offers == NULL)
		return 1;
	acquired++;
	*out = (struct my_h_service_imp *)(uintptr_t)registry_offers;
	acquired_handle = *out;
	return 0;
}

static mysql_service_status_t
fake_acquire_related(const char *name, struct my_h_service_imp *s,
    struct my_h_service_imp **out)
{
	(void)name;
	(void)s;
	(void)out;
	return 1;
}

static mysql_service_status_t
fake_release(struct my_h_service_imp *s)
{
	CU_ASSERT_PTR_EQUAL(s, acquired_handle);
	released++;
	return 0;
}

static const struct s_mysql_registry fake_registry = {
	fake_acquire, fake_acquire_related, fake_release,
};

/* ------------------------------------------------------------ the "loader" */

static const void *
provided(const char *name)
{
	struct mysql_service_ref_t *p;

	for (p = comp->provides; p->name != NULL; p++) {
		if (strcmp(p->name, name) == 0)
			return p->implementation;
	}
	return NULL;
}

static char dir[64], plugin_dir[128], data_dir[128], store[160];

static void
write_file(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
write_file(const char *path, const char *fmt, ...)
{
	va_list ap;
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(path, "w"));
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	CU_ASSERT_EQUAL(fclose(f), 0);
}

static void
write_local(const char *extra)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/component_keyring_pkcs11.cnf", data_dir);
	write_file(path, "{ \"path\": \"%s\", \"read_only\": false%s }", store,
	    extra);
}

static void
remove_tree(const char *path)
{
	struct dirent *de;
	char sub[512];
	struct stat st;
	DIR *d;

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			remove_tree(sub);
		}
		closedir(d);
		rmdir(path);
	} else
		unlink(path);
}

/* A fresh plugin_dir and datadir, as mtr sets them up; init, no load. */
static void
up_noload(const void *log_service)
{
	char path[256];

	logbuf[0] = '\0';
	last_prio = last_errcode = -1;
	lines_submitted = acquired = released = 0;
	kl_log_set_level(KL_LOG_INFO);
	kl_log_set_sink(test_log_sink);
	registry_offers = log_service;

	snprintf(dir, sizeof(dir), "%s", "/tmp/kr_component_XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(plugin_dir, sizeof(plugin_dir), "%s/plugin", dir);
	snprintf(data_dir, sizeof(data_dir), "%s/data", dir);
	snprintf(store, sizeof(store), "%s/keyring", data_dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(plugin_dir, 0700), 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(data_dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/component_keyring_pkcs11.cnf", plugin_dir);
	write_file(path, "{ \"read_local_config\": true }");

	CU_ASSERT_EQUAL_FATAL(comp->init(), 0);
}

static void
up(void)
{
	up_noload(&fake_log_91);
	write_local("");
	CU_ASSERT_EQUAL_FATAL(ld->load(plugin_dir, data_dir), 0);
}

static void
down(void)
{
	CU_ASSERT_EQUAL(comp->deinit(), 0);
	CU_ASSERT_EQUAL(kr_mem_open_count(), 0);
	kl_log_set_sink(NULL);
	remove_tree(dir);
}

/* A whole read, as mysys/keyring_operations_helper.cc does it. */
static int
read_key(const char *data_id, const char *auth_id, unsigned char *buf,
    size_t buflen, size_t *len, char type[33])
{
	struct my_h_keyring_reader_object_imp *obj = NULL;
	size_t dlen = 0, tlen = 0;
	int r = -1;

	if (rd->init(data_id, auth_id, &obj) != 0)
		return -1;
	if (obj == NULL)
		return 0;
	memset(type, 0, 33);
	if (rd->fetch_length(obj, &dlen, &tlen) == 0 && dlen <= buflen &&
	    tlen < 33 &&
	    rd->fetch(obj, buf, dlen, len, type, tlen, &tlen) == 0)
		r = 1;
	CU_ASSERT_EQUAL(rd->deinit(obj), 0);
	return r;
}

static int
store_key(const char *data_id, const char *auth_id, const char *type,
    const void *data, size_t len)
{
	return wr->store(data_id, auth_id, data, len, type);
}

/* ------------------------------------------------------------------- abi */

static void
test_abi_component_shape(void)
{
	static const char *const services[] = {
		"keyring_aes", "keyring_generator", "keyring_load",
		"keyring_keys_metadata_iterator", "keyring_component_status",
		"keyring_component_metadata_query", "keyring_reader_with_status",
		"keyring_writer",
	};
	char name[128];
	size_t i, n = 0;

	CU_ASSERT_STRING_EQUAL(comp->name, "component_keyring_pkcs11");
	for (i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		snprintf(name, sizeof(name), "%s" IMPL, services[i]);
		CU_ASSERT_PTR_NOT_NULL(provided(name));
	}
	while (comp->provides[n].name != NULL)
		n++;
	CU_ASSERT_EQUAL(n, 8);
	/* the registry and nothing else: the component loads in any host */
	CU_ASSERT_STRING_EQUAL(comp->requires_service[0].name, "registry");
	CU_ASSERT_PTR_NULL(comp->requires_service[1].name);
	CU_ASSERT_PTR_NOT_NULL(comp->init);
	CU_ASSERT_PTR_NOT_NULL(comp->deinit);
	for (n = 0; comp->metadata[n].key != NULL; n++)
		;
	CU_ASSERT(n >= 2);
}

static void
test_abi_module_exports_only_entry(void)
{
	struct mysql_component_t *(*entry)(void);
	void *h;

	/* RTLD_NOW as the loader does: fails on any unresolved symbol */
	h = dlopen(KR_TEST_MODULE, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		fprintf(stderr, "dlopen: %s\n", dlerror());
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	*(void **)(&entry) = dlsym(h, "list_components");
	CU_ASSERT_PTR_NOT_NULL_FATAL(entry);
	CU_ASSERT_STRING_EQUAL(entry()->name, "component_keyring_pkcs11");
	CU_ASSERT_PTR_NULL(dlsym(h, "kr_open"));
	CU_ASSERT_PTR_NULL(dlsym(h, "kr_conf_load"));
	CU_ASSERT_PTR_NULL(dlsym(h, "kl_log"));
	CU_ASSERT_PTR_NULL(dlsym(h, "kl_secure_alloc"));
	dlclose(h);
}

/* ------------------------------------------------------------------ load */

static void
test_load_missing_config(void)
{
	up_noload(&fake_log_91);
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 1);
	CU_ASSERT_EQUAL(cstatus->is_initialized(), 0);
	/* the phrase MySQL's config-errors.test searches for, under its code */
	CU_ASSERT(log_has("cannot read config file"));
	CU_ASSERT(log_has("The component is not initialized properly"));
	CU_ASSERT_EQUAL(last_errcode, 13714);
	CU_ASSERT_EQUAL(last_prio, MYSQL_ERROR_LEVEL);
	down();
}

static void
test_load_bad_config(void)
{
	char path[256];

	up_noload(&fake_log_91);
	snprintf(path, sizeof(path), "%s/component_keyring_pkcs11.cnf", data_dir);
	write_file(path, "{\"xxx\":  ,, e }");
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 1);
	CU_ASSERT(log_has("has not valid format"));
	CU_ASSERT_EQUAL(cstatus->is_initialized(), 0);
	down();
}

static void
test_load_logs_success_note(void)
{
	up_noload(&fake_log_91);
	write_local("");
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 0);
	CU_ASSERT_EQUAL(cstatus->is_initialized(), 1);
	CU_ASSERT(log_has("Component component_keyring_pkcs11 reported: "
	    "'Keyring component initialized successfully.'"));
	CU_ASSERT_EQUAL(last_errcode, 13713);
	CU_ASSERT_EQUAL(last_prio, MYSQL_INFORMATION_LEVEL);
	down();
}

static void
test_load_without_component_dir(void)
{
	up_noload(&fake_log_91);
	write_local("");
	/* mysql_migrate_keyring without --component-dir passes NULL */
	CU_ASSERT_EQUAL(ld->load(NULL, data_dir), 1);
	CU_ASSERT(log_has("--component-dir"));
	down();
}

static void
test_reload_failure_keeps_old_state(void)
{
	unsigned char buf[64];
	char type[33], path[256];
	size_t len;

	up();
	CU_ASSERT_EQUAL(store_key("k1", NULL, "AES", "0123456789abcdef", 16), 0);
	snprintf(path, sizeof(path), "%s/component_keyring_pkcs11.cnf", data_dir);
	write_file(path, "{\"xxx\":  ,, e }");
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 1);
	CU_ASSERT_EQUAL(cstatus->is_initialized(), 1);
	CU_ASSERT_EQUAL(read_key("k1", NULL, buf, sizeof(buf), &len, type), 1);
	CU_ASSERT_EQUAL(store_key("k2", NULL, "AES", "0123456789abcdef", 16), 0);
	CU_ASSERT_EQUAL(kr_mem_open_count(), 1);
	down();
}

static void
test_reload_engine_failure_keeps_old_state(void)
{
	unsigned char buf[64];
	char type[33];
	size_t len;

	up();
	CU_ASSERT_EQUAL(store_key("k1", NULL, "AES", "0123456789abcdef", 16), 0);
	write_local(", \"token\": \"kr-mem-fail-open\"");
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 1);
	CU_ASSERT(log_has("no token with label"));
	CU_ASSERT_EQUAL(cstatus->is_initialized(), 1);
	CU_ASSERT_EQUAL(read_key("k1", NULL, buf, sizeof(buf), &len, type), 1);
	down();
}

/* mtr's tests delete the store and reload: the keyring is then empty */
static void
test_reload_rereads_store(void)
{
	unsigned char buf[64];
	char type[33];
	size_t len;

	up();
	CU_ASSERT_EQUAL(store_key("k1", NULL, "AES", "0123456789abcdef", 16), 0);
	CU_ASSERT_EQUAL(unlink(store), 0);
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 0);
	CU_ASSERT_EQUAL(read_key("k1", NULL, buf, sizeof(buf), &len, type), 0);
	CU_ASSERT_EQUAL(kr_mem_open_count(), 1);
	down();
}

static void
test_reload_after_failed_start(void)
{
	up_noload(&fake_log_91);
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 1);
	write_local("");
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 0);
	CU_ASSERT_EQUAL(cstatus->is_initialized(), 1);
	down();
}

/* --------------------------------------------------------- uninitialized */

static void
test_uninitialized_calls_fail(void)
{
	struct my_h_keyring_reader_object_imp *obj =
	    (struct my_h_keyring_reader_object_imp *)(uintptr_t)1;
	struct my_h_keyring_keys_metadata_iterator_imp *it = NULL;
	unsigned char out[64];
	size_t n;

	up_noload(&fake_log_91);
	CU_ASSERT_EQUAL(cstatus->is_initialized(), 0);
	CU_ASSERT_EQUAL(rd->init("k", NULL, &obj), 1);	/* error, not absent */
	CU_ASSERT_PTR_NULL(obj);
	CU_ASSERT_EQUAL(store_key("k", NULL, "AES", "x", 1), 1);
	CU_ASSERT_EQUAL(wr->remove("k", NULL), 1);
	CU_ASSERT_EQUAL(gen->generate("k", NULL, "AES", 32), 1);
	CU_ASSERT_EQUAL(keys->init(&it), 1);
	CU_ASSERT_EQUAL(aes->encrypt("k", NULL, "cbc", 256,
	    (const unsigned char *)"0123456789abcdef", 1,
	    (const unsigned char *)"x", 1, out, sizeof(out), &n), 1);
	CU_ASSERT(log_has("not initialized"));
	down();
}

/* ---------------------------------------------------------------- reader */

static void
test_reader_found(void)
{
	struct my_h_keyring_reader_object_imp *obj = NULL;
	unsigned char buf[32];
	char type[8];
	size_t dlen, tlen;

	up();
	CU_ASSERT_EQUAL(store_key("k1", "u@h", "SECRET", "hello", 5), 0);
	CU_ASSERT_EQUAL(rd->init("k1", "u@h", &obj), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	CU_ASSERT_EQUAL(rd->fetch_length(obj, &dlen, &tlen), 0);
	CU_ASSERT_EQUAL(dlen, 5);
	CU_ASSERT_EQUAL(tlen, 6);
	CU_ASSERT_EQUAL(rd->fetch(obj, buf, sizeof(buf), &dlen, type,
	    sizeof(type), &tlen), 0);
	CU_ASSERT_EQUAL(memcmp(buf, "hello", 5), 0);
	CU_ASSERT_STRING_EQUAL(type, "SECRET");
	CU_ASSERT_EQUAL(rd->deinit(obj), 0);
	down();
}

static void
test_reader_absent_is_null_object(void)
{
	struct my_h_keyring_reader_object_imp *obj =
	    (struct my_h_keyring_reader_object_imp *)(uintptr_t)1;

	up();
	CU_ASSERT_EQUAL(rd->init("nope", NULL, &obj), 0);
	CU_ASSERT_PTR_NULL(obj);
	/* a key of another owner is another key */
	CU_ASSERT_EQUAL(store_key("k1", "alice@%", "AES", "0123456789abcdef",
	    16), 0);
	CU_ASSERT_EQUAL(rd->init("k1", "bob@%", &obj), 0);
	CU_ASSERT_PTR_NULL(obj);
	CU_ASSERT_EQUAL(rd->init("k1", NULL, &obj), 0);
	CU_ASSERT_PTR_NULL(obj);
	down();
}

static void
test_reader_empty_or_long_id_is_absent(void)
{
	struct my_h_keyring_reader_object_imp *obj = NULL;
	char *longid;

	up();
	CU_ASSERT_EQUAL(rd->init("", NULL, &obj), 0);
	CU_ASSERT_PTR_NULL(obj);
	CU_ASSERT_EQUAL(rd->init(NULL, NULL, &obj), 0);
	CU_ASSERT_PTR_NULL(obj);
	CU_ASSERT_PTR_NOT_NULL_FATAL(longid = malloc(KR_DATA_ID_MAX + 2));
	memset(longid, 'x', KR_DATA_ID_MAX + 1);
	longid[KR_DATA_ID_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(rd->init(longid, NULL, &obj), 0);
	CU_ASSERT_PTR_NULL(obj);
	free(longid);
	down();
}

static void
test_reader_engine_error_is_error(void)
{
	struct my_h_keyring_reader_object_imp *obj = NULL;

	up_noload(&fake_log_91);
	write_local("");
	CU_ASSERT_EQUAL_FATAL(ld->load(plugin_dir, data_dir), 0);
	kr_mem_fail_next(KR_E_TOKEN);
	CU_ASSERT_EQUAL(rd->init("k1", NULL, &obj), 1);
	CU_ASSERT_PTR_NULL(obj);
	CU_ASSERT(log_has("injected failure of kr_fetch"));
	CU_ASSERT_EQUAL(last_prio, MYSQL_ERROR_LEVEL);
	down();
}

/* keyring_operations_helper passes a type buffer with no room for the NUL */
static void
test_reader_type_buffer_without_nul_room(void)
{
	struct my_h_keyring_reader_object_imp *obj = NULL;
	unsigned char buf[16];
	char type[4] = { 'z', 'z', 'z', 'z' };
	size_t dlen, tlen;

	up();
	CU_ASSERT_EQUAL(store_key("k1", NULL, "AES", "0123456789abcdef", 16), 0);
	CU_ASSERT_EQUAL(rd->init("k1", NULL, &obj), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	CU_ASSERT_EQUAL(rd->fetch_length(obj, &dlen, &tlen), 0);
	CU_ASSERT_EQUAL(tlen, 3);
	CU_ASSERT_EQUAL(rd->fetch(obj, buf, dlen, &dlen, type, tlen, &tlen), 0);
	CU_ASSERT_EQUAL(memcmp(type, "AES", 3), 0);
	CU_ASSERT_EQUAL(type[3], 'z');		/* nothing written past it */
	CU_ASSERT_EQUAL(rd->deinit(obj), 0);
	down();
}

static void
test_reader_short_buffers_fail(void)
{
	struct my_h_keyring_reader_object_imp *obj = NULL;
	unsigned char buf[16];
	char type[8];
	size_t dlen, tlen;

	up();
	CU_ASSERT_EQUAL(store_key("k1", NULL, "AES", "0123456789abcdef", 16), 0);
	CU_ASSERT_EQUAL(rd->init("k1", NULL, &obj), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	CU_ASSERT_EQUAL(rd->fetch(obj, buf, 15, &dlen, type, sizeof(type),
	    &tlen), 1);
	CU_ASSERT_EQUAL(rd->fetch(obj, buf, 16, &dlen, type, 2, &tlen), 1);
	CU_ASSERT_EQUAL(rd->fetch(obj, NULL, 16, &dlen, type, 8, &tlen), 1);
	CU_ASSERT_EQUAL(rd->deinit(obj), 0);
	down();
}

/* InnoDB and binlog pass auth_id NULL; migration passes "" for the same key */
static void
test_reader_null_and_empty_auth_are_one(void)
{
	unsigned char buf[16];
	char type[33];
	size_t len;

	up();
	CU_ASSERT_EQUAL(store_key("k1", NULL, "AES", "0123456789abcdef", 16), 0);
	CU_ASSERT_EQUAL(read_key("k1", "", buf, sizeof(buf), &len, type), 1);
	CU_ASSERT_EQUAL(store_key("k1", "", "AES", "0123456789abcdef", 16), 1);
	down();
}

static void
test_reader_wipes_secrets(void)
{
	unsigned char buf[64];
	char type[33];
	size_t before, len;

	up();
	CU_ASSERT_EQUAL(store_key("k1", NULL, "AES", "0123456789abcdef", 16), 0);
	before = kl_secure_in_use();
	CU_ASSERT_EQUAL(read_key("k1", NULL, buf, sizeof(buf), &len, type), 1);
	CU_ASSERT_EQUAL(kl_secure_in_use(), before);
	down();
}

/* ---------------------------------------------------------------- writer */

static void
test_writer_store_twice_fails(void)
{
	up();
	CU_ASSERT_EQUAL(store_key("k1", NULL, "AES", "0123456789abcdef", 16), 0);
	CU_ASSERT_EQUAL(store_key("k1", NULL, "AES", "fedcba9876543210", 16), 1);
	down();
}

/* as component_keyring_file: removing what is not there fails */
static void
test_writer_remove_missing_fails(void)
{
	up();
	CU_ASSERT_EQUAL(wr->remove("nope", NULL), 1);
	CU_ASSERT_EQUAL(wr->remove("", NULL), 1);
	down();
}

static void
test_writer_remove_then_absent(void)
{
	unsigned char buf[16];
	char type[33];
	size_t len;

	up();
	CU_ASSERT_EQUAL(store_key("k1", "u@h", "AES", "0123456789abcdef", 16), 0);
	CU_ASSERT_EQUAL(wr->remove("k1", "u@h"), 0);
	CU_ASSERT_EQUAL(read_key("k1", "u@h", buf, sizeof(buf), &len, type), 0);
	down();
}

static void
test_writer_limits(void)
{
	static unsigned char big[KR_DATA_MAX + 1];
	char type[KR_TYPE_MAX + 2];

	up();
	CU_ASSERT_EQUAL(store_key("max", NULL, "SECRET", big, KR_DATA_MAX), 0);
	CU_ASSERT_EQUAL(store_key("over", NULL, "SECRET", big, KR_DATA_MAX + 1), 1);
	CU_ASSERT_EQUAL(store_key("", NULL, "SECRET", big, 1), 1);
	CU_ASSERT_EQUAL(store_key(NULL, NULL, "SECRET", big, 1), 1);
	CU_ASSERT_EQUAL(store_key("notype", NULL, "", big, 1), 1);
	CU_ASSERT_EQUAL(store_key("nulltype", NULL, NULL, big, 1), 1);
	CU_ASSERT_EQUAL(wr->store("nodata", NULL, NULL, 1, "AES"), 1);
	memset(type, 'T', sizeof(type));
	type[KR_TYPE_MAX] = '\0';
	CU_ASSERT_EQUAL(store_key("type32", NULL, type, big, 1), 0);
	type[KR_TYPE_MAX] = 'T';
	type[KR_TYPE_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(store_key("type33", NULL, type, big, 1), 1);
	CU_ASSERT(log_has("this keyring holds 0 to 16384 bytes"));
	down();
}

/*
 * component_keyring_file stores an empty secret, and MySQL's
 * keyring_udf_invalid_args test expects keyring_key_store(name, 'SECRET',
 * val) with val '' from a table row to succeed.  It reads back as found
 * and empty (kept as one byte of type "empty:SECRET"; such a type cannot
 * be stored directly).
 */
static void
test_writer_empty_secret(void)
{
	struct my_h_keyring_reader_object_imp *obj = NULL;
	unsigned char buf[1];
	char type[8];
	size_t dlen = 1, tlen = 0;

	up();
	CU_ASSERT_EQUAL(store_key("key1", "root@localhost", "SECRET", "", 0), 0);
	CU_ASSERT_EQUAL(wr->store("key2", NULL, NULL, 0, "SECRET"), 0);
	CU_ASSERT_EQUAL(store_key("key1", "root@localhost", "SECRET", "", 0), 1);
	CU_ASSERT_EQUAL(store_key("key3", NULL, "empty:SECRET", "x", 1), 1);
	CU_ASSERT(log_has("a type may not start with \"empty:\""));
	CU_ASSERT_EQUAL(rd->init("key1", "root@localhost", &obj), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	CU_ASSERT_EQUAL(rd->fetch_length(obj, &dlen, &tlen), 0);
	CU_ASSERT_EQUAL(dlen, 0);
	CU_ASSERT_EQUAL(rd->fetch(obj, buf, 0, &dlen, type, sizeof(type),
	    &tlen), 0);
	CU_ASSERT_EQUAL(dlen, 0);
	CU_ASSERT_STRING_EQUAL(type, "SECRET");
	CU_ASSERT_EQUAL(rd->deinit(obj), 0);
	/* and it survives a reload (the store is read back) */
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 0);
	CU_ASSERT_EQUAL(wr->remove("key1", "root@localhost"), 0);
	down();
}

static void
test_writer_read_only_refuses(void)
{
	up_noload(&fake_log_91);
	write_local("");
	CU_ASSERT_EQUAL_FATAL(ld->load(plugin_dir, data_dir), 0);
	CU_ASSERT_EQUAL(store_key("k1", NULL, "AES", "0123456789abcdef", 16), 0);
	/* read_only is the first key after path in write_local's text */
	{
		char path[256];

		snprintf(path, sizeof(path), "%s/component_keyring_pkcs11.cnf",
		    data_dir);
		write_file(path, "{\"path\": \"%s\", \"read_only\": true}", store);
	}
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 0);
	CU_ASSERT_EQUAL(store_key("k2", NULL, "AES", "0123456789abcdef", 16), 1);
	CU_ASSERT_EQUAL(wr->remove("k1", NULL), 1);
	CU_ASSERT_EQUAL(gen->generate("k3", NULL, "AES", 32), 1);
	CU_ASSERT(log_has("read-only"));
	down();
}

static void
test_writer_engine_error_fails(void)
{
	up();
	kr_mem_fail_next(KR_E_STORE);
	CU_ASSERT_EQUAL(store_key("k1", NULL, "AES", "0123456789abcdef", 16), 1);
	CU_ASSERT(log_has("store error"));
	down();
}

/* ------------------------------------------------------------- generator */

/* What MySQL and keyring_udf generate: names, types and lengths. */
static void
test_generator_mysql_keys(void)
{
	static const struct {
		const char *data_id, *auth_id, *type;
		size_t len;
	} k[] = {
		/* InnoDB master key (storage/innobase/os/os0enc.cc) */
		{ "INNODBKey-3b2b3f4a-1f00-11f0-9b1a-0242ac110002-1", NULL, "AES", 32 },
		/* binlog master key (sql/rpl_log_encryption.cc) */
		{ "MySQLReplicationKey_3b2b3f4a-1f00-11f0-9b1a-0242ac110002_1",
		    NULL, "AES", 32 },
		/* persisted variables (sql/persisted_variable.cc) */
		{ "persisted_variables_key", NULL, "AES", 32 },
		/* keyring_udf: any of AES, DSA, RSA, SECRET in any case, 1..16384 */
		{ "udf_aes", "root@localhost", "aes", 16 },
		{ "udf_rsa", "root@localhost", "RSA", 16384 },
		{ "udf_dsa", "root@localhost", "DSA", 1 },
		{ "udf_secret", "root@localhost", "Secret", 4096 },
	};
	static unsigned char buf[KR_DATA_MAX];
	char type[33];
	size_t i, len;

	up();
	for (i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		CU_ASSERT_EQUAL(gen->generate(k[i].data_id, k[i].auth_id,
		    k[i].type, k[i].len), 0);
		CU_ASSERT_EQUAL(read_key(k[i].data_id, k[i].auth_id, buf,
		    sizeof(buf), &len, type), 1);
		CU_ASSERT_EQUAL(len, k[i].len);
		CU_ASSERT_STRING_EQUAL(type, k[i].type);
	}
	down();
}

/* the binlog's sequence-number records are stored, not generated */
static void
test_writer_binlog_seqno_record(void)
{
	static const unsigned char seqno[16] = { 0, 0, 0, 0, 0, 0, 0, 7 };
	unsigned char buf[16];
	char type[33];
	size_t len;

	up();
	CU_ASSERT_EQUAL(store_key("MySQLReplicationKey_3b2b3f4a-1f00-11f0-9b1a-"
	    "0242ac110002", NULL, "AES", seqno, sizeof(seqno)), 0);
	CU_ASSERT_EQUAL(read_key("MySQLReplicationKey_3b2b3f4a-1f00-11f0-9b1a-"
	    "0242ac110002", NULL, buf, sizeof(buf), &len, type), 1);
	CU_ASSERT_EQUAL(len, 16);
	CU_ASSERT_EQUAL(memcmp(buf, seqno, 16), 0);
	down();
}

static void
test_generator_refusals(void)
{
	up();
	CU_ASSERT_EQUAL(gen->generate("k", NULL, "AES", 0), 1);
	CU_ASSERT_EQUAL(gen->generate("k", NULL, "AES", KR_DATA_MAX + 1), 1);
	CU_ASSERT_EQUAL(gen->generate("k", NULL, "", 32), 1);
	CU_ASSERT_EQUAL(gen->generate("", NULL, "AES", 32), 1);
	CU_ASSERT_EQUAL(gen->generate("k", NULL, "AES", 32), 0);
	CU_ASSERT_EQUAL(gen->generate("k", NULL, "AES", 32), 1);	/* exists */
	down();
}

/* ------------------------------------------------------------ keys iterator */

static void
test_keys_iterates_a_snapshot(void)
{
	struct my_h_keyring_keys_metadata_iterator_imp *it = NULL;
	char did[256], aid[256];
	size_t dl, al, n = 0;
	int seen_k1 = 0, seen_k2 = 0;

	up();
	CU_ASSERT_EQUAL(store_key("k1", NULL, "AES", "0123456789abcdef", 16), 0);
	CU_ASSERT_EQUAL(store_key("k2", "u@h", "AES", "0123456789abcdef", 16), 0);
	CU_ASSERT_EQUAL_FATAL(keys->init(&it), 0);
	/* a change after init does not disturb the walk */
	CU_ASSERT_EQUAL(store_key("k3", NULL, "AES", "0123456789abcdef", 16), 0);
	for (; keys->is_valid(it); (void)keys->next(it)) {
		CU_ASSERT_EQUAL(keys->get_length(it, &dl, &al), 0);
		CU_ASSERT_EQUAL(keys->get(it, did, sizeof(did), aid,
		    sizeof(aid)), 0);
		CU_ASSERT_EQUAL(strlen(did), dl);
		CU_ASSERT_EQUAL(strlen(aid), al);
		if (strcmp(did, "k1") == 0 && strcmp(aid, "") == 0)
			seen_k1 = 1;
		if (strcmp(did, "k2") == 0 && strcmp(aid, "u@h") == 0)
			seen_k2 = 1;
		n++;
	}
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT(seen_k1 && seen_k2);
	CU_ASSERT_EQUAL(keys->next(it), 1);	/* past the end */
	CU_ASSERT_EQUAL(keys->deinit(it), 0);
	down();
}

static void
test_keys_empty_keyring(void)
{
	struct my_h_keyring_keys_metadata_iterator_imp *it = NULL;
	size_t dl, al;

	up();
	CU_ASSERT_EQUAL_FATAL(keys->init(&it), 0);
	CU_ASSERT_EQUAL(keys->is_valid(it), 0);
	CU_ASSERT_EQUAL(keys->next(it), 1);
	CU_ASSERT_EQUAL(keys->get_length(it, &dl, &al), 1);
	CU_ASSERT_EQUAL(keys->deinit(it), 0);
	down();
}

/* get needs room for the NUL (the lengths do not count it) */
static void
test_keys_get_needs_nul_room(void)
{
	struct my_h_keyring_keys_metadata_iterator_imp *it = NULL;
	char did[8], aid[8];

	up();
	CU_ASSERT_EQUAL(store_key("abcd", "ef", "AES", "0123456789abcdef", 16), 0);
	CU_ASSERT_EQUAL_FATAL(keys->init(&it), 0);
	CU_ASSERT_EQUAL(keys->get(it, did, 4, aid, sizeof(aid)), 1);
	CU_ASSERT_EQUAL(keys->get(it, did, 5, aid, 2), 1);
	CU_ASSERT_EQUAL(keys->get(it, did, 5, aid, 3), 0);
	CU_ASSERT_STRING_EQUAL(did, "abcd");
	CU_ASSERT_STRING_EQUAL(aid, "ef");
	CU_ASSERT_EQUAL(keys->deinit(it), 0);
	down();
}

static void
test_keys_engine_error_fails(void)
{
	struct my_h_keyring_keys_metadata_iterator_imp *it = NULL;

	up();
	kr_mem_fail_next(KR_E_STORE);
	CU_ASSERT_EQUAL(keys->init(&it), 1);
	CU_ASSERT_PTR_NULL(it);
	down();
}

/* --------------------------------------------------------- status rows */

/* Collect rows as performance_schema does: get_length, then get. */
static size_t
status_rows(char key[][64], char value[][512], size_t max)
{
	struct my_h_keyring_component_metadata_iterator_imp *it = NULL;
	size_t kl, vl, n = 0;

	CU_ASSERT_EQUAL_FATAL(meta->init(&it), 0);
	for (; meta->is_valid(it) && n < max; (void)meta->next(it)) {
		CU_ASSERT_EQUAL(meta->get_length(it, &kl, &vl), 0);
		CU_ASSERT(kl <= 64 && vl <= 512);
		CU_ASSERT_EQUAL(meta->get(it, key[n], kl, value[n], vl), 0);
		CU_ASSERT_EQUAL(strlen(key[n]) + 1, kl);	/* NUL counted */
		CU_ASSERT_EQUAL(strlen(value[n]) + 1, vl);
		n++;
	}
	CU_ASSERT_EQUAL(meta->deinit(it), 0);
	return n;
}

static const char *
status_value(char key[][64], char value[][512], size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(key[i], name) == 0)
			return value[i];
	}
	return "(missing)";
}

static void
test_status_rows_match_keyring_file(void)
{
	/* component_keyring_file's rows, in its order */
	static const char *const stock[] = {
		"Component_name", "Author", "License", "Implementation_name",
		"Version", "Component_status", "Data_file", "Read_only",
	};
	char key[32][64], value[32][512];
	size_t i, n;

	up();
	n = status_rows(key, value, 32);
	CU_ASSERT_FATAL(n >= 8);
	for (i = 0; i < 8; i++)
		CU_ASSERT_STRING_EQUAL(key[i], stock[i]);
	CU_ASSERT_STRING_EQUAL(value[0], "component_keyring_pkcs11");
	CU_ASSERT_STRING_EQUAL(value[3], "component_keyring_pkcs11");
	CU_ASSERT_STRING_EQUAL(value[5], "Active");
	CU_ASSERT_STRING_EQUAL(value[6], store);
	CU_ASSERT_STRING_EQUAL(value[7], "No");
	down();
}

static void
test_status_rows_of_ours(void)
{
	char key[32][64], value[32][512], expect[256];
	size_t n;

	up();
	CU_ASSERT_EQUAL(store_key("k1", NULL, "AES", "0123456789abcdef", 16), 0);
	n = status_rows(key, value, 32);
	snprintf(expect, sizeof(expect), "%s/component_keyring_pkcs11.cnf",
	    data_dir);
	CU_ASSERT_STRING_EQUAL(status_value(key, value, n, "Config_file"), expect);
	CU_ASSERT_STRING_EQUAL(status_value(key, value, n, "Token"), "keylocker");
	CU_ASSERT_STRING_EQUAL(status_value(key, value, n, "Master_key"),
	    "keylocker-master");
	CU_ASSERT_STRING_EQUAL(status_value(key, value, n, "MAC_key"),
	    "keylocker-store-mac");
	CU_ASSERT_STRING_EQUAL(status_value(key, value, n, "Entries"), "1");
	CU_ASSERT_STRING_EQUAL(status_value(key, value, n, "Cache"), "On");
	CU_ASSERT(strcmp(status_value(key, value, n, "Cache_locked"), "Yes") == 0 ||
	    strcmp(status_value(key, value, n, "Cache_locked"), "No") == 0);
	CU_ASSERT_STRING_EQUAL(status_value(key, value, n, "Last_error"), "<NONE>");
	CU_ASSERT_STRING_NOT_EQUAL(status_value(key, value, n, "Module"),
	    "(missing)");
	down();
}

static void
test_status_disabled(void)
{
	char key[32][64], value[32][512];
	size_t n;

	up_noload(&fake_log_91);
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 1);
	n = status_rows(key, value, 32);
	CU_ASSERT_STRING_EQUAL(status_value(key, value, n, "Component_status"),
	    "Disabled");
	CU_ASSERT_STRING_EQUAL(status_value(key, value, n, "Data_file"),
	    "<NOT APPLICABLE>");
	CU_ASSERT_STRING_EQUAL(status_value(key, value, n, "Read_only"),
	    "<NOT APPLICABLE>");
	/* why it is disabled */
	CU_ASSERT_PTR_NOT_NULL(strstr(status_value(key, value, n, "Last_error"),
	    "cannot read config file"));
	down();
}

static void
test_status_shows_failed_reload(void)
{
	char key[32][64], value[32][512];
	size_t n;

	up();
	write_local(", \"token\": \"kr-mem-fail-open\"");
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 1);
	n = status_rows(key, value, 32);
	CU_ASSERT_STRING_EQUAL(status_value(key, value, n, "Component_status"),
	    "Active");
	CU_ASSERT_PTR_NOT_NULL(strstr(status_value(key, value, n, "Last_error"),
	    "no token with label"));
	/* the next good load clears it */
	write_local("");
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 0);
	n = status_rows(key, value, 32);
	CU_ASSERT_STRING_EQUAL(status_value(key, value, n, "Last_error"), "<NONE>");
	down();
}

static void
test_status_get_needs_room(void)
{
	struct my_h_keyring_component_metadata_iterator_imp *it = NULL;
	char k[64], v[64];

	up();
	CU_ASSERT_EQUAL_FATAL(meta->init(&it), 0);
	/* "Component_name" is 14 bytes: 15 with the NUL */
	CU_ASSERT_EQUAL(meta->get(it, k, 14, v, sizeof(v)), 1);
	CU_ASSERT_EQUAL(meta->get(it, k, 15, v, sizeof(v)), 0);
	CU_ASSERT_EQUAL(meta->deinit(it), 0);
	down();
}

/* ------------------------------------------------------------------- aes */

static void
test_aes_get_size(void)
{
	size_t n = 0;

	up();
	CU_ASSERT_EQUAL(aes->get_size(0, "cbc", 256, &n), 0);
	CU_ASSERT_EQUAL(n, 16);
	CU_ASSERT_EQUAL(aes->get_size(15, "cbc", 256, &n), 0);
	CU_ASSERT_EQUAL(n, 16);
	CU_ASSERT_EQUAL(aes->get_size(16, "cbc", 256, &n), 0);
	CU_ASSERT_EQUAL(n, 32);
	CU_ASSERT_EQUAL(aes->get_size(17, "cfb8", 256, &n), 0);
	CU_ASSERT_EQUAL(n, 17);
	CU_ASSERT_EQUAL(aes->get_size(17, "ofb", 256, &n), 0);
	CU_ASSERT_EQUAL(n, 17);
	CU_ASSERT_EQUAL(aes->get_size(16, "ecb", 256, &n), 1);
	CU_ASSERT_EQUAL(aes->get_size(16, "cbc", 128, &n), 1);
	CU_ASSERT_EQUAL(aes->get_size(16, "CBC", 256, &n), 1);
	CU_ASSERT_EQUAL(aes->get_size(16, NULL, 256, &n), 1);
	CU_ASSERT_EQUAL(aes->get_size(16, "cbc", 0, &n), 1);
	down();
}

static void
test_aes_roundtrip_every_mode(void)
{
	static const char *const modes[] = { "cbc", "cfb1", "cfb8", "cfb128", "ofb" };
	static const unsigned char iv[16] = "abcefgh12345678";
	static const char pt[] = "Quick brown fox jumped over the lazy dog.";
	unsigned char ct[64], back[64];
	size_t i, need, clen, plen;

	up();
	CU_ASSERT_EQUAL(gen->generate("aes1", "u@h", "AES", 32), 0);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		CU_ASSERT_EQUAL(aes->get_size(sizeof(pt) - 1, modes[i], 256,
		    &need), 0);
		CU_ASSERT_EQUAL(aes->encrypt("aes1", "u@h", modes[i], 256, iv, 1,
		    (const unsigned char *)pt, sizeof(pt) - 1, ct, need, &clen), 0);
		CU_ASSERT(clen <= need);
		CU_ASSERT_EQUAL(aes->decrypt("aes1", "u@h", modes[i], 256, iv, 1,
		    ct, clen, back, sizeof(back), &plen), 0);
		CU_ASSERT_EQUAL(plen, sizeof(pt) - 1);
		CU_ASSERT_EQUAL(memcmp(back, pt, plen), 0);
	}
	down();
}

/*
 * The AES key is SHA-256 of the stored key, as in component_keyring_file:
 * a known answer computed here with OpenSSL directly.
 */
static void
test_aes_key_is_sha256_of_stored_key(void)
{
	static const unsigned char stored[20] = "any length of key!!";
	static const unsigned char iv[16] = "0123456789abcdef";
	static const unsigned char pt[5] = "hello";
	unsigned char rkey[32], want[32], ct[32];
	EVP_CIPHER_CTX *c;
	size_t clen;
	int u, f;

	up();
	CU_ASSERT_EQUAL(store_key("aes2", NULL, "aes", stored, sizeof(stored)), 0);
	CU_ASSERT_EQUAL(aes->encrypt("aes2", NULL, "cbc", 256, iv, 1, pt,
	    sizeof(pt), ct, sizeof(ct), &clen), 0);
	CU_ASSERT_EQUAL(clen, 16);
	CU_ASSERT_FATAL(EVP_Digest(stored, sizeof(stored), rkey, NULL,
	    EVP_sha256(), NULL) == 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c = EVP_CIPHER_CTX_new());
	CU_ASSERT(EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, rkey, iv) == 1);
	CU_ASSERT(EVP_EncryptUpdate(c, want, &u, pt, sizeof(pt)) == 1);
	CU_ASSERT(EVP_EncryptFinal_ex(c, want + u, &f) == 1);
	EVP_CIPHER_CTX_free(c);
	CU_ASSERT_EQUAL(u + f, 16);
	CU_ASSERT_EQUAL(memcmp(ct, want, 16), 0);
	down();
}

static void
test_aes_empty_plaintext(void)
{
	static const unsigned char iv[16] = "0123456789abcdef";
	unsigned char ct[16], back[16];
	size_t clen, plen;

	up();
	CU_ASSERT_EQUAL(gen->generate("aes1", NULL, "AES", 32), 0);
	CU_ASSERT_EQUAL(aes->encrypt("aes1", NULL, "cbc", 256, iv, 1, NULL, 0,
	    ct, sizeof(ct), &clen), 0);
	CU_ASSERT_EQUAL(clen, 16);
	CU_ASSERT_EQUAL(aes->decrypt("aes1", NULL, "cbc", 256, iv, 1, ct, clen,
	    back, sizeof(back), &plen), 0);
	CU_ASSERT_EQUAL(plen, 0);
	down();
}

static void
test_aes_refusals(void)
{
	static const unsigned char iv[16] = "0123456789abcdef";
	static const unsigned char pt[16] = "0123456789abcdef";
	unsigned char out[64];
	size_t n, before;

	up();
	CU_ASSERT_EQUAL(store_key("secret", NULL, "SECRET", "0123456789abcdef",
	    16), 0);
	CU_ASSERT_EQUAL(gen->generate("aes1", NULL, "AES", 32), 0);
	before = kl_secure_in_use();
	/* not an AES key */
	CU_ASSERT_EQUAL(aes->encrypt("secret", NULL, "cbc", 256, iv, 1, pt, 16,
	    out, sizeof(out), &n), 1);
	CU_ASSERT(log_has("is not of type AES"));
	/* no such key */
	CU_ASSERT_EQUAL(aes->encrypt("nope", NULL, "cbc", 256, iv, 1, pt, 16,
	    out, sizeof(out), &n), 1);
	/* output too short: 16 bytes padded need 32 */
	CU_ASSERT_EQUAL(aes->encrypt("aes1", NULL, "cbc", 256, iv, 1, pt, 16,
	    out, 31, &n), 1);
	/* decrypt output shorter than the input */
	CU_ASSERT_EQUAL(aes->decrypt("aes1", NULL, "cbc", 256, iv, 1, pt, 16,
	    out, 15, &n), 1);
	/* CBC without IV */
	CU_ASSERT_EQUAL(aes->encrypt("aes1", NULL, "cbc", 256, NULL, 1, pt, 16,
	    out, sizeof(out), &n), 1);
	/* unknown mode */
	CU_ASSERT_EQUAL(aes->encrypt("aes1", NULL, "ecb", 256, iv, 1, pt, 16,
	    out, sizeof(out), &n), 1);
	/* no data id */
	CU_ASSERT_EQUAL(aes->encrypt(NULL, NULL, "cbc", 256, iv, 1, pt, 16,
	    out, sizeof(out), &n), 1);
	/* unpadded input that is not whole blocks */
	CU_ASSERT_EQUAL(aes->encrypt("aes1", NULL, "cbc", 256, iv, 0, pt, 15,
	    out, sizeof(out), &n), 1);
	CU_ASSERT_EQUAL(kl_secure_in_use(), before);
	down();
}

static void
test_aes_wrong_key_fails_padding(void)
{
	static const unsigned char iv[16] = "0123456789abcdef";
	static const unsigned char pt[20] = "twenty bytes of text";
	unsigned char ct[48], back[48];
	size_t clen, plen;
	int failed = 0, i;

	up();
	CU_ASSERT_EQUAL(gen->generate("a", NULL, "AES", 32), 0);
	CU_ASSERT_EQUAL(aes->encrypt("a", NULL, "cbc", 256, iv, 1, pt,
	    sizeof(pt), ct, sizeof(ct), &clen), 0);
	/* a random other key fails the padding check almost always */
	for (i = 0; i < 4; i++) {
		char name[8];

		snprintf(name, sizeof(name), "b%d", i);
		CU_ASSERT_EQUAL(gen->generate(name, NULL, "AES", 32), 0);
		failed += aes->decrypt(name, NULL, "cbc", 256, iv, 1, ct, clen,
		    back, sizeof(back), &plen) != 0;
	}
	CU_ASSERT(failed >= 3);
	down();
}

/* ------------------------------------------------------------------ log */

static void
test_log_layout_91(void)
{
	up_noload(&fake_log_91);
	CU_ASSERT_EQUAL(acquired, 1);
	write_local("");
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 0);
	CU_ASSERT_EQUAL(lines_submitted, 1);
	down();
	CU_ASSERT_EQUAL(released, 1);
}

static void
test_log_layout_80(void)
{
	up_noload(&fake_log_80);
	CU_ASSERT_EQUAL(acquired, 1);
	write_local("");
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 0);
	CU_ASSERT_EQUAL(lines_submitted, 1);
	CU_ASSERT_EQUAL(last_errcode, 13713);
	down();
	CU_ASSERT_EQUAL(released, 1);
}

/*
 * Not mysqld's implementation, in a host that is not one of MySQL's
 * keyring tools (a backup tool): never called, released at once, and
 * messages go to stderr in the format MySQL's keyring tools use.
 */
static void
test_log_unrecognised_table_uses_stderr(void)
{
	up_noload(&fake_log_other);
	CU_ASSERT_EQUAL(acquired, 1);
	CU_ASSERT_EQUAL(released, 1);
	stderr_capture_begin();
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 1);
	write_local("");
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 0);
	stderr_capture_end();
	CU_ASSERT_EQUAL(lines_submitted, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, " [Error] [MY-013714] [Keyring] "
	    "Component component_keyring_pkcs11 reported: 'The component is not "
	    "initialized properly. Error: cannot read config file"));
	CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, " [Note] [MY-013713] [Keyring] "
	    "Component component_keyring_pkcs11 reported: 'Keyring component "
	    "initialized successfully.'\n"));
	/* "YYYY-MM-DD HH:MM:SS " first, as mtr's replace_regex expects */
	CU_ASSERT(strlen(errbuf) > 20 && errbuf[4] == '-' && errbuf[10] == ' ' &&
	    errbuf[13] == ':' && errbuf[19] == ' ');
	down();
	CU_ASSERT_EQUAL(released, 1);
}

/*
 * Hosted by one of MySQL's keyring tools (it registers log_builtins under
 * its own name): the same lines, on stdout, where those tools print theirs
 * and MySQL's keyring_encryption_test reads them.
 */
static void
test_log_mysql_tool_uses_stdout(void)
{
	registry_tool = "log_builtins.keyring_encryption_test";
	up_noload(&fake_log_other);
	CU_ASSERT_EQUAL(acquired, 2);
	CU_ASSERT_EQUAL(released, 2);
	fd_capture_begin(STDOUT_FILENO);
	write_local("");
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 0);
	stderr_capture_end();
	CU_ASSERT_EQUAL(lines_submitted, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, " [Note] [MY-013713] [Keyring] "
	    "Component component_keyring_pkcs11 reported: 'Keyring component "
	    "initialized successfully.'\n"));
	down();
	registry_tool = NULL;
}

/* The notes MySQL's keyring_encryption_test compares verbatim. */
static void
test_log_stock_notes(void)
{
	static const unsigned char iv[16] = "abcefgh12345678";
	unsigned char out[64];
	size_t n;

	up();
	CU_ASSERT_EQUAL(store_key("secret_key_1", "keyring_aes_test", "SECRET",
	    "0123456789abcdef", 16), 0);
	CU_ASSERT_EQUAL(aes->encrypt("aes_key_invalid", "keyring_aes_test", "cbc",
	    256, iv, 1, (const unsigned char *)"x", 1, out, sizeof(out), &n), 1);
	CU_ASSERT(log_has("Component component_keyring_pkcs11 reported: 'Could "
	    "not find the data corresponding to Data ID: 'aes_key_invalid', Auth "
	    "ID: 'keyring_aes_test'.'\n"));
	CU_ASSERT_EQUAL(last_errcode, 13721);
	CU_ASSERT_EQUAL(last_prio, MYSQL_INFORMATION_LEVEL);
	CU_ASSERT_EQUAL(aes->encrypt("secret_key_1", "keyring_aes_test", "cbc",
	    256, iv, 1, (const unsigned char *)"x", 1, out, sizeof(out), &n), 1);
	CU_ASSERT(log_has("Component component_keyring_pkcs11 reported: 'Key "
	    "identified by Data ID: 'secret_key_1' and Auth ID: 'keyring_aes_test' "
	    "is not of type AES.'\n"));
	CU_ASSERT_EQUAL(last_errcode, 13719);
	CU_ASSERT_EQUAL(last_prio, MYSQL_INFORMATION_LEVEL);
	/* a plain read of a missing key logs the same note */
	last_errcode = 0;
	CU_ASSERT_EQUAL(read_key("nope", NULL, out, sizeof(out), &n,
	    (char *)out), 0);
	CU_ASSERT_EQUAL(last_errcode, 13721);
	CU_ASSERT(log_has("Data ID: 'nope', Auth ID: 'NULL'."));
	down();
}

/* a host without a log service still loads */
static void
test_log_service_missing(void)
{
	up_noload(NULL);
	CU_ASSERT_EQUAL(acquired, 0);
	write_local("");
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 0);
	down();
}

/* common/log.h lines (the engine's) reach the error log too */
static void
test_log_engine_lines_forwarded(void)
{
	up_noload(&fake_log_91);
	kl_log(KL_LOG_ERROR, "kr_engine_test", "token went away");
	CU_ASSERT(log_has("keylocker error: kr_engine_test: token went away"));
	CU_ASSERT_EQUAL(last_prio, MYSQL_ERROR_LEVEL);
	CU_ASSERT_EQUAL(last_errcode, 0);
	down();
}

static void
test_log_folds_control_characters(void)
{
	up_noload(&fake_log_91);
	write_local("");
	CU_ASSERT_EQUAL(ld->load(plugin_dir, data_dir), 0);
	CU_ASSERT_EQUAL(store_key("bad\nid", "u@h", "AES", "0123456789abcdef",
	    16), 0);
	CU_ASSERT_EQUAL(store_key("bad\nid", "u@h", "AES", "0123456789abcdef",
	    16), 1);
	CU_ASSERT(log_has("'bad?id'"));
	down();
}

/*
 * mysqld hands OpenSSL its own allocator, whose blocks carry a header
 * (sql/mysqld.cc, CRYPTO_set_mem_functions): OPENSSL_free() of a malloc()
 * block then corrupts the heap.  So do we, with a header that is checked.
 */
#define MEM_HDR		16
#define MEM_MAGIC	0x6d7973716c646d6dULL	/* "mysqldmm" */

static void *
host_openssl_malloc(size_t n, const char *file, int line)
{
	unsigned char *p;
	unsigned long long magic = MEM_MAGIC;

	(void)file;
	(void)line;
	if (n > SIZE_MAX - MEM_HDR || (p = malloc(n + MEM_HDR)) == NULL)
		return NULL;
	memcpy(p, &magic, sizeof(magic));
	return p + MEM_HDR;
}

static void
host_openssl_free(void *ptr, const char *file, int line)
{
	unsigned long long magic;
	unsigned char *p = ptr;

	if (p == NULL)
		return;
	memcpy(&magic, p - MEM_HDR, sizeof(magic));
	if (magic != MEM_MAGIC) {
		fprintf(stderr, "%s:%d: OPENSSL_free() of memory OpenSSL did "
		    "not allocate\n", file, line);
		abort();
	}
	free(p - MEM_HDR);
}

static void *
host_openssl_realloc(void *ptr, size_t n, const char *file, int line)
{
	unsigned char *p = ptr, *q;
	unsigned long long magic;

	if (p == NULL)
		return host_openssl_malloc(n, file, line);
	memcpy(&magic, p - MEM_HDR, sizeof(magic));
	if (magic != MEM_MAGIC) {
		fprintf(stderr, "%s:%d: OPENSSL_realloc() of memory OpenSSL "
		    "did not allocate\n", file, line);
		abort();
	}
	if (n > SIZE_MAX - MEM_HDR || (q = realloc(p - MEM_HDR, n + MEM_HDR)) == NULL)
		return NULL;
	return q + MEM_HDR;
}

static int
fixture_setup(void)
{
	const struct mysql_service_placeholder_ref_t *p;

	if (!CRYPTO_set_mem_functions(host_openssl_malloc, host_openssl_realloc,
	    host_openssl_free))
		return 1;
	if ((comp = list_components()) == NULL)
		return 1;
	/* fill placeholders as the loader does */
	for (p = comp->requires_service; p->name != NULL; p++) {
		if (strcmp(p->name, "registry") != 0)
			return 1;
		*p->implementation = (void *)(uintptr_t)&fake_registry;
	}
	rd = provided("keyring_reader_with_status" IMPL);
	wr = provided("keyring_writer" IMPL);
	gen = provided("keyring_generator" IMPL);
	keys = provided("keyring_keys_metadata_iterator" IMPL);
	cstatus = provided("keyring_component_status" IMPL);
	meta = provided("keyring_component_metadata_query" IMPL);
	ld = provided("keyring_load" IMPL);
	aes = provided("keyring_aes" IMPL);
	if (!rd || !wr || !gen || !keys || !cstatus || !meta || !ld || !aes)
		return 1;
	return 0;
}

void
kl_test_register(void)
{
	kl_test_set_fixture(fixture_setup, NULL);
	kl_test_add("/component/abi/component_shape", test_abi_component_shape);
	kl_test_add("/component/abi/module_exports_only_entry",
	    test_abi_module_exports_only_entry);
	kl_test_add("/component/load/missing_config", test_load_missing_config);
	kl_test_add("/component/load/bad_config", test_load_bad_config);
	kl_test_add("/component/load/logs_success_note", test_load_logs_success_note);
	kl_test_add("/component/load/without_component_dir",
	    test_load_without_component_dir);
	kl_test_add("/component/load/reload_failure_keeps_old_state",
	    test_reload_failure_keeps_old_state);
	kl_test_add("/component/load/reload_engine_failure_keeps_old_state",
	    test_reload_engine_failure_keeps_old_state);
	kl_test_add("/component/load/reload_rereads_store", test_reload_rereads_store);
	kl_test_add("/component/load/reload_after_failed_start",
	    test_reload_after_failed_start);
	kl_test_add("/component/load/uninitialized_calls_fail",
	    test_uninitialized_calls_fail);
	kl_test_add("/component/reader/found", test_reader_found);
	kl_test_add("/component/reader/absent_is_null_object",
	    test_reader_absent_is_null_object);
	kl_test_add("/component/reader/empty_or_long_id_is_absent",
	    test_reader_empty_or_long_id_is_absent);
	kl_test_add("/component/reader/engine_error_is_error",
	    test_reader_engine_error_is_error);
	kl_test_add("/component/reader/type_buffer_without_nul_room",
	    test_reader_type_buffer_without_nul_room);
	kl_test_add("/component/reader/short_buffers_fail",
	    test_reader_short_buffers_fail);
	kl_test_add("/component/reader/null_and_empty_auth_are_one",
	    test_reader_null_and_empty_auth_are_one);
	kl_test_add("/component/reader/wipes_secrets", test_reader_wipes_secrets);
	kl_test_add("/component/writer/store_twice_fails",
	    test_writer_store_twice_fails);
	kl_test_add("/component/writer/remove_missing_fails",
	    test_writer_remove_missing_fails);
	kl_test_add("/component/writer/remove_then_absent",
	    test_writer_remove_then_absent);
	kl_test_add("/component/writer/limits", test_writer_limits);
	kl_test_add("/component/writer/empty_secret", test_writer_empty_secret);
	kl_test_add("/component/writer/read_only_refuses",
	    test_writer_read_only_refuses);
	kl_test_add("/component/writer/engine_error_fails",
	    test_writer_engine_error_fails);
	kl_test_add("/component/writer/binlog_seqno_record",
	    test_writer_binlog_seqno_record);
	kl_test_add("/component/generator/mysql_keys", test_generator_mysql_keys);
	kl_test_add("/component/generator/refusals", test_generator_refusals);
	kl_test_add("/component/keys/iterates_a_snapshot",
	    test_keys_iterates_a_snapshot);
	kl_test_add("/component/keys/empty_keyring", test_keys_empty_keyring);
	kl_test_add("/component/keys/get_needs_nul_room",
	    test_keys_get_needs_nul_room);
	kl_test_add("/component/keys/engine_error_fails",
	    test_keys_engine_error_fails);
	kl_test_add("/component/status/rows_match_keyring_file",
	    test_status_rows_match_keyring_file);
	kl_test_add("/component/status/rows_of_ours", test_status_rows_of_ours);
	kl_test_add("/component/status/disabled", test_status_disabled);
	kl_test_add("/component/status/shows_failed_reload",
	    test_status_shows_failed_reload);
	kl_test_add("/component/status/get_needs_room", test_status_get_needs_room);
	kl_test_add("/component/aes/get_size", test_aes_get_size);
	kl_test_add("/component/aes/roundtrip_every_mode",
	    test_aes_roundtrip_every_mode);
	kl_test_add("/component/aes/key_is_sha256_of_stored_key",
	    test_aes_key_is_sha256_of_stored_key);
	kl_test_add("/component/aes/empty_plaintext", test_aes_empty_plaintext);
	kl_test_add("/component/aes/refusals", test_aes_refusals);
	kl_test_add("/component/aes/wrong_key_fails_padding",
	    test_aes_wrong_key_fails_padding);
	kl_test_add("/component/log/layout_91", test_log_layout_91);
	kl_test_add("/component/log/layout_80", test_log_layout_80);
	kl_test_add("/component/log/unrecognised_table_uses_stderr",
	    test_log_unrecognised_table_uses_stderr);
	kl_test_add("/component/log/mysql_tool_uses_stdout",
	    test_log_mysql_tool_uses_stdout);
	kl_test_add("/component/log/stock_notes", test_log_stock_notes);
	kl_test_add("/component/log/service_missing", test_log_service_missing);
	kl_test_add("/component/log/engine_lines_forwarded",
	    test_log_engine_lines_forwarded);
	kl_test_add("/component/log/folds_control_characters",
	    test_log_folds_control_characters);
}
