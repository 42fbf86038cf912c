/*
 * component_keyring_pkcs11: MySQL's eight keyring services over kr.h.
 *
 * This is the one file that knows MySQL's conventions:
 *  - a service method returns false (0) for success, true for failure,
 *    except the two is_valid methods and is_initialized, where true is good;
 *  - reader init has three outcomes packed into (bool, handle): true is a
 *    keyring error, false with a NULL handle is "no such key", false with a
 *    handle is "found";
 *  - auth_id NULL or "" is an internal key (InnoDB, binlog, persisted
 *    variables); keyring_udf passes "user@host".
 * Everything below it (kr.h) states outcomes explicitly.
 *
 * Where MySQL's test suite can observe it, behaviour follows
 * component_keyring_file (components/keyrings/ in the MySQL source): the
 * config file lookup, the status rows, the AES modes and key derivation,
 * which calls fail (storing over an existing key, removing a missing one),
 * and the phrases its tests search the error log for.
 *
 * Concurrency: mysqld wraps every keyring call in its own rwlock, but
 * mysql_migrate_keyring does not, so we keep our own: service calls use the
 * current struct kr under a read lock, and keyring_load swaps in a new one
 * under the write lock.  Handles given to MySQL (readers, iterators) hold
 * copies, never a struct kr, so no lock is held between calls.
 */
#include "keyring-bridge/mysql_abi.h"
#include "keyring-bridge/kr.h"
#include "keyring-bridge/kr_conf.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "common/secret.h"
#include "common/util.h"
#include "kl_paths.h"

#define KR_COMPONENT_NAME	"component_keyring_pkcs11"
#define KR_COMPONENT_AUTHOR	"The keylocker authors"
#define KR_COMPONENT_LICENSE	"GPL"

/*
 * Error-log codes of messages component_keyring_file logs that MySQL's
 * tests compare verbatim (share/messages_to_error_log.txt; `perror 13713`
 * in MySQL 9.7).  We log the same sentences under the same codes, so log
 * filters and those tests work for us too.  Our other messages carry no
 * code: they say more than the stock ones (the engine's reason).
 */
#define KR_ER_INITIALIZED	13713	/* ER_NOTE_KEYRING_COMPONENT_INITIALIZED */
#define KR_ER_NOT_INITIALIZED	13714	/* ER_KEYRING_COMPONENT_NOT_INITIALIZED */
#define KR_ER_AES_INVALID_KEY	13719	/* ER_NOTE_KEYRING_COMPONENT_AES_INVALID_KEY */
#define KR_ER_READ_NOT_FOUND	13721	/* ER_NOTE_KEYRING_COMPONENT_READ_DATA_NOT_FOUND */

#define KR_MSG_MAX		1024

/* ------------------------------------------------------------------ state */

static pthread_rwlock_t kr_state_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct kr *kr_cur;			/* protected by kr_state_lock */
static struct kr_config *kr_cur_cfg;		/* protected by kr_state_lock */
static char kr_load_error[KR_MSG_MAX];		/* protected by kr_state_lock */

/* keyring_load runs one at a time; held while the new kr is opened */
static pthread_mutex_t kr_load_lock = PTHREAD_MUTEX_INITIALIZER;

/* Filled in by the loader before kr_component_init() (our one requirement). */
static const struct s_mysql_registry *mysql_service_registry;

/* The error log, when the host has one we can use (see kr_log_attach). */
static struct my_h_service_imp *kr_log_handle;
static const struct s_mysql_log_builtins *kr_log_91;
static const struct s_mysql_log_builtins_80 *kr_log_80;
static int kr_log_tool_stdout;	/* a MySQL keyring tool: its lines go to stdout */

/*
 * MySQL's own keyring tools, by the name under which each registers its
 * log_builtins.  They print their components' lines on stdout, and MySQL's
 * test suite compares that output; so we print there too when one of them
 * hosts us.  Other hosts get stderr (a backup tool may stream on stdout).
 */
static const char *const kr_log_stdout_hosts[] = {
	"log_builtins.mysql_migrate_keyring",
	"log_builtins.keyring_encryption_test",
};

/* ---------------------------------------------------------------- logging */

/*
 * mysqld's own implementation of log_builtins, by the C++ names it exports
 * (nm -D /usr/sbin/mysqld, checked on 9.7.4; the class and these members
 * exist since 8.0).  We check the table we are given against them rather
 * than trust a version number: mysqld loads manifest components before it
 * has even set server_version, and a check of the table itself cannot pick
 * the wrong layout.  A mysqld that does not export them costs us the error
 * log (we fall back to stderr), never a call through the wrong slot.
 */
static const char *const kr_log_impl[] = {
	"_ZN16log_builtins_imp9line_initEv",
	"_ZN16log_builtins_imp9line_exitEP9_log_line",
	"_ZN16log_builtins_imp13line_item_setEP9_log_line18enum_log_item_type",
	"_ZN16log_builtins_imp12item_set_intEP14_log_item_datax",
	"_ZN16log_builtins_imp16item_set_cstringEP14_log_item_dataPKc",
	"_ZN16log_builtins_imp11line_submitEP9_log_line",
};

/*
 * Which layout of mysql_abi.h the table h has: 91, 80, or -1 when it is
 * not mysqld's (mysql_migrate_keyring and backup tools bring their own,
 * unexported, implementation; then we log to stderr, where such tools'
 * own messages go).  Only the slots up to line_submit are read; every
 * known implementation has more members after it.
 */
static int
kr_log_layout(const struct my_h_service_imp *h)
{
	const struct s_mysql_log_builtins *t91 = (const void *)h;
	const struct s_mysql_log_builtins_80 *t80 = (const void *)h;
	uintptr_t f[KL_ARRAY_SIZE(kr_log_impl)];
	void *self, *sym;
	size_t i;
	int layout = -1;

	if ((self = dlopen(NULL, RTLD_LAZY)) == NULL)
		return -1;
	for (i = 0; i < KL_ARRAY_SIZE(kr_log_impl); i++) {
		if ((sym = dlsym(self, kr_log_impl[i])) == NULL)
			goto out;
		f[i] = (uintptr_t)sym;
	}
#define KR_LOG_IS_MYSQLD(t)						\
	((uintptr_t)(t)->line_init == f[0] &&				\
	 (uintptr_t)(t)->line_exit == f[1] &&				\
	 (uintptr_t)(t)->line_item_set == f[2] &&			\
	 (uintptr_t)(t)->item_set_int == f[3] &&			\
	 (uintptr_t)(t)->item_set_cstring == f[4] &&			\
	 (uintptr_t)(t)->line_submit == f[5])
	if (KR_LOG_IS_MYSQLD(t91))
		layout = 91;
	else if (KR_LOG_IS_MYSQLD(t80))
		layout = 80;
#undef KR_LOG_IS_MYSQLD
 out:
	dlclose(self);
	return layout;
}

static void
kr_log_submit(enum mysql_loglevel prio, int errcode, const char *msg)
{
	struct mysql_log_line *ll;

	/*
	 * The two layouts differ only in slot positions; the calls are the
	 * same.  Strings are referenced, not copied, until line_submit
	 * returns (a buffering sink copies them).
	 */
#define KR_LOG_SUBMIT(lb) do {						\
	if ((ll = (lb)->line_init()) == NULL)				\
		break;							\
	(lb)->item_set_int((lb)->line_item_set(ll,			\
	    MYSQL_LOG_ITEM_LOG_PRIO), prio);				\
	if (errcode != 0)						\
		(lb)->item_set_int((lb)->line_item_set(ll,		\
		    MYSQL_LOG_ITEM_SQL_ERRCODE), errcode);		\
	(lb)->item_set_cstring((lb)->line_item_set(ll,			\
	    MYSQL_LOG_ITEM_SRV_COMPONENT), "component:" KR_COMPONENT_NAME); \
	(lb)->item_set_cstring((lb)->line_item_set(ll,			\
	    MYSQL_LOG_ITEM_LOG_MESSAGE), msg);				\
	(lb)->line_submit(ll);						\
	(lb)->line_exit(ll);						\
} while (0)
	if (kr_log_91 != NULL)
		KR_LOG_SUBMIT(kr_log_91);
	else if (kr_log_80 != NULL)
		KR_LOG_SUBMIT(kr_log_80);
#undef KR_LOG_SUBMIT
}

/*
 * Lines from common/log.h (the engine's) into the error log.  The engine's
 * warnings are about states it recovers from by itself (a store file
 * removed while a .prev is left, a leftover temp file, a re-opened
 * session); MySQL's test suite removes and renames the store between tests
 * and fails on any [Warning] line, so they are notes here, as
 * component_keyring_file's notes are.  Failures reach MySQL as failed
 * calls and are logged as errors by kr_load() and the service methods.
 */
static void
kr_log_sink(enum kl_log_level level, const char *line)
{
	static const enum mysql_loglevel prio[] = {
		[KL_LOG_ERROR] = MYSQL_ERROR_LEVEL,
		[KL_LOG_WARN] = MYSQL_INFORMATION_LEVEL,
		[KL_LOG_INFO] = MYSQL_INFORMATION_LEVEL,
		[KL_LOG_DEBUG] = MYSQL_INFORMATION_LEVEL,
	};

	kr_log_submit(prio[level], 0, line);
}

/*
 * Acquired in init(), not declared as a requirement: a required service
 * that the host lacks makes the whole component fail to load, and the log
 * is not worth that.  (init() runs without the registry lock held: see
 * load_do_initialize_components in components/libminchassis.)
 */
static void
kr_log_attach(void)
{
	struct my_h_service_imp *h = NULL;
	size_t i;
	int layout;

	if (mysql_service_registry == NULL ||
	    mysql_service_registry->acquire("log_builtins", &h) != 0 || h == NULL)
		return;
	if ((layout = kr_log_layout(h)) < 0) {
		(void)mysql_service_registry->release(h);
		for (i = 0; i < KL_ARRAY_SIZE(kr_log_stdout_hosts); i++) {
			h = NULL;
			if (mysql_service_registry->acquire(kr_log_stdout_hosts[i],
			    &h) == 0 && h != NULL) {
				(void)mysql_service_registry->release(h);
				kr_log_tool_stdout = 1;
				break;
			}
		}
		return;
	}
	kr_log_handle = h;
	if (layout == 91)
		kr_log_91 = (const struct s_mysql_log_builtins *)(const void *)h;
	else
		kr_log_80 = (const struct s_mysql_log_builtins_80 *)(const void *)h;
	kl_log_set_sink(kr_log_sink);
}

static void
kr_log_detach(void)
{
	kr_log_tool_stdout = 0;
	if (kr_log_handle == NULL)
		return;
	kl_log_set_sink(NULL);
	kr_log_91 = NULL;
	kr_log_80 = NULL;
	(void)mysql_service_registry->release(kr_log_handle);
	kr_log_handle = NULL;
}

/*
 * Without mysqld's error log (mysql_migrate_keyring, backup tools): one
 * line in the format MySQL's own keyring tools print their components'
 * messages in (keyring_log_builtins_definition.cc), so the output of a
 * tool reads the same whichever keyring it loaded.  On stdout in those
 * tools (kr_log_stdout_hosts), else on stderr: a backup tool may be
 * streaming its archive on stdout.
 */
static void
kr_log_tool_line(enum mysql_loglevel prio, int errcode, const char *line)
{
	static const char *const label[] = {
		[MYSQL_SYSTEM_LEVEL] = "System",
		[MYSQL_ERROR_LEVEL] = "Error",
		[MYSQL_WARNING_LEVEL] = "Warning",
		[MYSQL_INFORMATION_LEVEL] = "Note",
	};
	FILE *f = kr_log_tool_stdout ? stdout : stderr;
	char when[32] = "";
	struct tm tm;
	time_t now = time(NULL);

	if (localtime_r(&now, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(f, "%s [%s] [MY-%06d] [Keyring] %s\n", when, label[prio],
	    errcode, line);
	fflush(f);
}

static void kr_log(enum mysql_loglevel prio, int errcode, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * A message of ours, shaped as MySQL's components shape theirs
 * ("Component <name> reported: '<message>'"), into the error log or, in
 * other hosts, onto stderr.
 */
static void
kr_log(enum mysql_loglevel prio, int errcode, const char *fmt, ...)
{
	char msg[KR_MSG_MAX], line[KR_MSG_MAX + 64];
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* ids come from SQL (keyring_udf): one record per line */
	for (i = 0; msg[i] != '\0'; i++) {
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	}
	snprintf(line, sizeof(line), "Component " KR_COMPONENT_NAME
	    " reported: '%s'", msg);
	if (kr_log_handle != NULL)
		kr_log_submit(prio, errcode, line);
	else
		kr_log_tool_line(prio, errcode, line);
}

/* An id for a message: NULL and "" (internal keys) read as NULL, as MySQL's. */
static const char *
kr_id(const char *id)
{
	return id == NULL || *id == '\0' ? "NULL" : id;
}

static void
kr_log_not_initialized(void)
{
	kr_log(MYSQL_INFORMATION_LEVEL, 0, "Keyring component is not "
	    "initialized; check the error log for the reason and use ALTER "
	    "INSTANCE RELOAD KEYRING once it is fixed");
}

/* The note component_keyring_file logs for every read of a missing key. */
static void
kr_log_not_found(const char *data_id, const char *auth_id)
{
	kr_log(MYSQL_INFORMATION_LEVEL, KR_ER_READ_NOT_FOUND, "Could not find "
	    "the data corresponding to Data ID: '%s', Auth ID: '%s'.", data_id,
	    kr_id(auth_id));
}

/* ------------------------------------------------------------ state access */

/* The current kr under the read lock, or NULL (still locked: unlock always). */
static struct kr *
kr_state_rdlock(void)
{
	pthread_rwlock_rdlock(&kr_state_lock);
	return kr_cur;
}

static void
kr_state_unlock(void)
{
	pthread_rwlock_unlock(&kr_state_lock);
}

/* Lengths MySQL may pass that kr.h cannot hold: such a key cannot exist. */
static int
kr_ids_fit(const char *data_id, const char *auth_id)
{
	return strlen(data_id) <= KR_DATA_ID_MAX &&
	    (auth_id == NULL || strlen(auth_id) <= KR_AUTH_ID_MAX);
}

/*
 * Empty secrets.  MySQL stores them (keyring_udf passes '' from a table
 * row, and MySQL's keyring_udf_invalid_args test expects the store to
 * succeed), but kr.h holds 1 to KR_DATA_MAX bytes.  So an empty secret is
 * kept as one zero byte under the type "empty:<type>", and read back as
 * zero bytes of <type>.  MySQL's types are plain words (AES, SECRET, RSA,
 * DSA): a type that itself starts with the prefix is refused.
 */
#define KR_EMPTY_PREFIX	"empty:"

static int
kr_type_is_empty_marker(const char *type)
{
	return strncmp(type, KR_EMPTY_PREFIX, sizeof(KR_EMPTY_PREFIX) - 1) == 0;
}

/* kr_fetch, then undo the encoding of an empty secret. */
static enum kr_lookup
kr_fetch_mysql(struct kr *kr, const char *data_id, const char *auth_id,
    struct kl_secret *data, char type[KR_TYPE_MAX + 1])
{
	const size_t pl = sizeof(KR_EMPTY_PREFIX) - 1;
	enum kr_lookup l;

	l = kr_fetch(kr, data_id, auth_id != NULL ? auth_id : "", data, type);
	if (l != KR_FOUND)
		return l;
	type[KR_TYPE_MAX] = '\0';
	if (kr_type_is_empty_marker(type)) {
		kl_secret_clear(data);
		memmove(type, type + pl, strlen(type + pl) + 1);
	}
	return l;
}

/* ----------------------------------------------- keyring_reader_with_status */

/*
 * A reader holds the fetched secret and its type from init() to deinit():
 * one engine call per read, and fetch_length()/fetch() see one consistent
 * value.  MySQL calls deinit() right after fetch().
 */
struct kr_reader {
	struct kl_secret	data;
	char			type[KR_TYPE_MAX + 1];
	size_t			type_len;
};

static mysql_service_status_t
kr_reader_init(const char *data_id, const char *auth_id,
    struct my_h_keyring_reader_object_imp **reader_object)
{
	struct kr_reader *rd = NULL;
	struct kr *kr;
	enum kr_lookup l;
	mysql_service_status_t r = 1;

	if (reader_object == NULL)
		return 1;
	*reader_object = NULL;
	if ((kr = kr_state_rdlock()) == NULL) {
		kr_log_not_initialized();
		goto out;
	}
	/* an empty or over-long id names no key: "absent", not an error */
	if (data_id == NULL || *data_id == '\0' || !kr_ids_fit(data_id, auth_id)) {
		r = 0;
		goto out;
	}
	if ((rd = calloc(1, sizeof(*rd))) == NULL) {
		kr_log(MYSQL_ERROR_LEVEL, 0, "out of memory reading Data ID '%s'",
		    data_id);
		goto out;
	}
	l = kr_fetch_mysql(kr, data_id, auth_id, &rd->data, rd->type);
	if (l == KR_ERROR) {
		kr_log(MYSQL_ERROR_LEVEL, 0, "cannot read the key with Data ID "
		    "'%s' and Auth ID '%s': %s", data_id, kr_id(auth_id),
		    kr_last_error(kr));
		goto out;
	}
	r = 0;
	if (l == KR_MISSING) {
		kr_log_not_found(data_id, auth_id);
		goto out;
	}
	rd->type[KR_TYPE_MAX] = '\0';
	rd->type_len = strlen(rd->type);
	*reader_object = (struct my_h_keyring_reader_object_imp *)(void *)rd;
	rd = NULL;
 out:
	kr_state_unlock();
	if (rd != NULL) {
		kl_secret_clear(&rd->data);
		free(rd);
	}
	return r;
}

static struct kr_reader *
kr_reader_of(struct my_h_keyring_reader_object_imp *h)
{
	return (struct kr_reader *)(void *)h;
}

static mysql_service_status_t
kr_reader_deinit(struct my_h_keyring_reader_object_imp *reader_object)
{
	struct kr_reader *rd = kr_reader_of(reader_object);

	if (rd == NULL)
		return 0;
	kl_secret_clear(&rd->data);
	OPENSSL_cleanse(rd, sizeof(*rd));
	free(rd);
	return 0;
}

static mysql_service_status_t
kr_reader_fetch_length(struct my_h_keyring_reader_object_imp *reader_object,
    size_t *data_size, size_t *data_type_size)
{
	struct kr_reader *rd = kr_reader_of(reader_object);

	if (rd == NULL || data_size == NULL || data_type_size == NULL)
		return 1;
	*data_size = rd->data.len;
	*data_type_size = rd->type_len;
	return 0;
}

static mysql_service_status_t
kr_reader_fetch(struct my_h_keyring_reader_object_imp *reader_object,
    unsigned char *data_buffer, size_t data_buffer_length, size_t *data_size,
    char *data_type, size_t data_type_buffer_length, size_t *data_type_size)
{
	struct kr_reader *rd = kr_reader_of(reader_object);

	if (rd == NULL || data_size == NULL || data_type_size == NULL ||
	    data_buffer == NULL || data_buffer_length < rd->data.len ||
	    data_type == NULL || data_type_buffer_length < rd->type_len)
		return 1;
	/*
	 * The type's NUL only when there is room: MySQL's own helper passes
	 * a zeroed buffer one longer than the length it gives us.
	 */
	memset(data_buffer, 0, data_buffer_length);
	memset(data_type, 0, data_type_buffer_length);
	if (rd->data.len > 0)		/* an empty secret has no buffer */
		memcpy(data_buffer, rd->data.p, rd->data.len);
	memcpy(data_type, rd->type, rd->type_len);
	*data_size = rd->data.len;
	*data_type_size = rd->type_len;
	return 0;
}

/* ----------------------------------------------- keyring_writer, generator */

/*
 * The checks component_keyring_file makes before a write: initialized, a
 * data id, a size within limits, a type.  Returns 0 when the write may go
 * ahead.  min_size is 0 for store (an empty secret, see KR_EMPTY_PREFIX)
 * and 1 for generate, as in component_keyring_file.  Refusals of the
 * caller's input are notes: the caller reports the failure itself, and
 * MySQL's tests fail on any unsuppressed [Warning].
 */
static int
kr_write_check(struct kr *kr, const char *what, const char *data_id,
    const char *auth_id, const char *data_type, size_t size, size_t min_size)
{
	if (kr == NULL) {
		kr_log_not_initialized();
		return -1;
	}
	if (data_id == NULL || *data_id == '\0') {
		kr_log(MYSQL_INFORMATION_LEVEL, 0, "cannot %s a key with an "
		    "empty Data ID", what);
		return -1;
	}
	if (!kr_ids_fit(data_id, auth_id)) {
		kr_log(MYSQL_INFORMATION_LEVEL, 0, "cannot %s the key with Data ID "
		    "'%.64s...': Data ID or Auth ID is longer than %d bytes",
		    what, data_id, KR_DATA_ID_MAX);
		return -1;
	}
	if (size < min_size || size > KR_DATA_MAX) {
		kr_log(MYSQL_INFORMATION_LEVEL, 0, "cannot %s the key with Data ID "
		    "'%s' and Auth ID '%s': its length is %zu bytes; this keyring "
		    "holds %zu to %d bytes", what, data_id, kr_id(auth_id), size,
		    min_size, KR_DATA_MAX);
		return -1;
	}
	if (data_type == NULL || *data_type == '\0' ||
	    strlen(data_type) > KR_TYPE_MAX ||
	    (size == 0 && strlen(data_type) > KR_TYPE_MAX -
	    (sizeof(KR_EMPTY_PREFIX) - 1))) {
		kr_log(MYSQL_INFORMATION_LEVEL, 0, "cannot %s the key with Data ID "
		    "'%s' and Auth ID '%s': its type must be 1 to %d bytes (%d "
		    "for an empty secret)", what, data_id, kr_id(auth_id),
		    KR_TYPE_MAX, KR_TYPE_MAX - (int)(sizeof(KR_EMPTY_PREFIX) - 1));
		return -1;
	}
	if (kr_type_is_empty_marker(data_type)) {
		kr_log(MYSQL_INFORMATION_LEVEL, 0, "cannot %s the key with Data ID "
		    "'%s' and Auth ID '%s': a type may not start with \""
		    KR_EMPTY_PREFIX "\"", what, data_id, kr_id(auth_id));
		return -1;
	}
	return 0;
}

/* Log a failed engine write; refusals by design are only notes. */
static void
kr_write_failed(struct kr *kr, const char *what, const char *data_id,
    const char *auth_id, int err)
{
	enum mysql_loglevel prio = MYSQL_ERROR_LEVEL;
	const char *detail = "";

	if (err == KR_E_EXISTS || err == KR_E_MISSING || err == KR_E_READ_ONLY ||
	    err == KR_E_INVALID)
		prio = MYSQL_INFORMATION_LEVEL;
	if (err == KR_E_TOKEN || err == KR_E_STORE || err == KR_E_INTERNAL)
		detail = kr_last_error(kr);
	kr_log(prio, 0, "cannot %s the key with Data ID '%s' and Auth ID '%s': "
	    "%s%s%s", what, data_id, kr_id(auth_id), kr_strerror(err),
	    *detail != '\0' ? ": " : "", detail);
}

static mysql_service_status_t
kr_writer_store(const char *data_id, const char *auth_id,
    const unsigned char *data, size_t data_size, const char *data_type)
{
	struct kr *kr = kr_state_rdlock();
	mysql_service_status_t r = 1;
	int err;

	static const unsigned char zero[1];
	char etype[KR_TYPE_MAX + 1];

	if (kr_write_check(kr, "store", data_id, auth_id, data_type,
	    data_size, 0) != 0 || (data == NULL && data_size > 0))
		goto out;
	if (data_size == 0) {		/* see KR_EMPTY_PREFIX */
		snprintf(etype, sizeof(etype), "%s%s", KR_EMPTY_PREFIX,
		    data_type);
		data_type = etype;
		data = zero;
		data_size = sizeof(zero);
	}
	if ((err = kr_store(kr, data_id, auth_id != NULL ? auth_id : "",
	    data_type, data, data_size)) != KR_OK) {
		kr_write_failed(kr, "store", data_id, auth_id, err);
		goto out;
	}
	r = 0;
 out:
	kr_state_unlock();
	return r;
}

/*
 * Removing a key that does not exist fails, as in component_keyring_file
 * (keyring_writer.h says it may succeed; MySQL's tests expect the failure).
 */
static mysql_service_status_t
kr_writer_remove(const char *data_id, const char *auth_id)
{
	struct kr *kr = kr_state_rdlock();
	mysql_service_status_t r = 1;
	int err;

	if (kr == NULL) {
		kr_log_not_initialized();
		goto out;
	}
	if (data_id == NULL || *data_id == '\0' || !kr_ids_fit(data_id, auth_id))
		goto out;
	if ((err = kr_remove(kr, data_id, auth_id != NULL ? auth_id : "")) !=
	    KR_OK) {
		kr_write_failed(kr, "remove", data_id, auth_id, err);
		goto out;
	}
	r = 0;
 out:
	kr_state_unlock();
	return r;
}

/*
 * Any type MySQL or keyring_udf names ("AES", "SECRET", "RSA", "DSA", in
 * any case) is random bytes of the given length, as in
 * component_keyring_file; the type is stored as given.
 */
static mysql_service_status_t
kr_generator_generate(const char *data_id, const char *auth_id,
    const char *data_type, size_t data_size)
{
	struct kr *kr = kr_state_rdlock();
	mysql_service_status_t r = 1;
	int err;

	if (kr_write_check(kr, "generate", data_id, auth_id, data_type,
	    data_size, 1) != 0)
		goto out;
	if ((err = kr_generate(kr, data_id, auth_id != NULL ? auth_id : "",
	    data_type, data_size)) != KR_OK) {
		kr_write_failed(kr, "generate", data_id, auth_id, err);
		goto out;
	}
	r = 0;
 out:
	kr_state_unlock();
	return r;
}

/* ------------------------------------------- keyring_keys_metadata_iterator */

/* A snapshot of kr_list(): stable while the keyring changes underneath. */
struct kr_keys_iter {
	struct kr_meta	*meta;
	size_t		 n;
	size_t		 pos;
};

static struct kr_keys_iter *
kr_keys_iter_of(struct my_h_keyring_keys_metadata_iterator_imp *h)
{
	return (struct kr_keys_iter *)(void *)h;
}

static mysql_service_status_t
kr_keys_init(struct my_h_keyring_keys_metadata_iterator_imp **forward_iterator)
{
	struct kr_keys_iter *it = NULL;
	struct kr *kr;
	mysql_service_status_t r = 1;
	int err;

	if (forward_iterator == NULL)
		return 1;
	*forward_iterator = NULL;
	if ((kr = kr_state_rdlock()) == NULL) {
		kr_log_not_initialized();
		goto out;
	}
	if ((it = calloc(1, sizeof(*it))) == NULL)
		goto out;
	if ((err = kr_list(kr, &it->meta, &it->n)) != KR_OK) {
		kr_log(MYSQL_ERROR_LEVEL, 0, "cannot list the keys: %s: %s",
		    kr_strerror(err), kr_last_error(kr));
		goto out;
	}
	*forward_iterator =
	    (struct my_h_keyring_keys_metadata_iterator_imp *)(void *)it;
	it = NULL;
	r = 0;
 out:
	kr_state_unlock();
	free(it);
	return r;
}

static mysql_service_status_t
kr_keys_deinit(struct my_h_keyring_keys_metadata_iterator_imp *forward_iterator)
{
	struct kr_keys_iter *it = kr_keys_iter_of(forward_iterator);

	if (it == NULL)
		return 1;
	kr_meta_free(it->meta, it->n);
	free(it);
	return 0;
}

/* Inverted: true (1) when the iterator points at a key. */
static mysql_service_status_t
kr_keys_is_valid(struct my_h_keyring_keys_metadata_iterator_imp *forward_iterator)
{
	struct kr_keys_iter *it = kr_keys_iter_of(forward_iterator);

	return it != NULL && it->pos < it->n;
}

/* Stepping off the last key succeeds; stepping from the end fails. */
static mysql_service_status_t
kr_keys_next(struct my_h_keyring_keys_metadata_iterator_imp *forward_iterator)
{
	struct kr_keys_iter *it = kr_keys_iter_of(forward_iterator);

	if (it == NULL || it->pos >= it->n)
		return 1;
	it->pos++;
	return 0;
}

static mysql_service_status_t
kr_keys_get_length(struct my_h_keyring_keys_metadata_iterator_imp *forward_iterator,
    size_t *data_id_length, size_t *auth_id_length)
{
	struct kr_keys_iter *it = kr_keys_iter_of(forward_iterator);

	if (it == NULL || it->pos >= it->n || data_id_length == NULL ||
	    auth_id_length == NULL)
		return 1;
	*data_id_length = strlen(it->meta[it->pos].data_id);
	*auth_id_length = strlen(it->meta[it->pos].auth_id);
	return 0;
}

static mysql_service_status_t
kr_keys_get(struct my_h_keyring_keys_metadata_iterator_imp *forward_iterator,
    char *data_id, size_t data_id_length, char *auth_id, size_t auth_id_length)
{
	struct kr_keys_iter *it = kr_keys_iter_of(forward_iterator);
	size_t dl, al;

	if (it == NULL || it->pos >= it->n || data_id == NULL || auth_id == NULL)
		return 1;
	dl = strlen(it->meta[it->pos].data_id);
	al = strlen(it->meta[it->pos].auth_id);
	/* room for the NUL too (performance_schema passes 256-byte buffers) */
	if (dl >= data_id_length || al >= auth_id_length)
		return 1;
	memcpy(data_id, it->meta[it->pos].data_id, dl + 1);
	memcpy(auth_id, it->meta[it->pos].auth_id, al + 1);
	return 0;
}

/* ------------------------------------------ keyring_component_metadata_query */

/*
 * performance_schema.keyring_component_status.  The first eight rows are
 * component_keyring_file's, with the same names and the same placeholder
 * values; the rest are ours.
 */
#define KR_NA		"<NOT APPLICABLE>"
#define KR_STATUS_ROWS	20

struct kr_status_iter {
	size_t		 n;
	size_t		 pos;
	const char	*key[KR_STATUS_ROWS];	/* static strings */
	char		*value[KR_STATUS_ROWS];
};

static struct kr_status_iter *
kr_status_iter_of(struct my_h_keyring_component_metadata_iterator_imp *h)
{
	return (struct kr_status_iter *)(void *)h;
}

static void
kr_status_iter_free(struct kr_status_iter *it)
{
	size_t i;

	if (it == NULL)
		return;
	for (i = 0; i < it->n; i++)
		free(it->value[i]);
	free(it);
}

static int kr_status_add(struct kr_status_iter *it, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
kr_status_add(struct kr_status_iter *it, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *v = NULL;
	int n;

	if (it->n >= KR_STATUS_ROWS)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (v = malloc((size_t)n + 1)) == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(v, (size_t)n + 1, fmt, ap);
	va_end(ap);
	it->key[it->n] = key;
	it->value[it->n++] = v;
	return 0;
}

static const char *
kr_or_none(const char *s)
{
	return s != NULL && *s != '\0' ? s : "<NONE>";
}

static mysql_service_status_t
kr_status_init(struct my_h_keyring_component_metadata_iterator_imp **metadata_iterator)
{
	struct kr_status_iter *it = NULL;
	struct kr_status *st = NULL;
	const struct kr_config *cfg;
	struct kr *kr;
	const char *last;
	mysql_service_status_t r = 1;
	int fail = 0;

	if (metadata_iterator == NULL)
		return 1;
	*metadata_iterator = NULL;
	kr = kr_state_rdlock();
	cfg = kr_cur_cfg;
	if ((it = calloc(1, sizeof(*it))) == NULL ||
	    (st = calloc(1, sizeof(*st))) == NULL)
		goto out;
	if (kr != NULL)
		kr_get_status(kr, st);
	/* a failed (re)load explains itself first; else the engine's last error */
	last = kr_load_error[0] != '\0' ? kr_load_error :
	    kr != NULL ? st->last_error : "";

	fail |= kr_status_add(it, "Component_name", "%s", KR_COMPONENT_NAME);
	fail |= kr_status_add(it, "Author", "%s", KR_COMPONENT_AUTHOR);
	fail |= kr_status_add(it, "License", "%s", KR_COMPONENT_LICENSE);
	fail |= kr_status_add(it, "Implementation_name", "%s", KR_COMPONENT_NAME);
	fail |= kr_status_add(it, "Version", "%s", KL_VERSION);
	fail |= kr_status_add(it, "Component_status", "%s",
	    kr != NULL ? "Active" : "Disabled");
	if (kr != NULL && cfg != NULL) {
		fail |= kr_status_add(it, "Data_file", "%s", kr_or_none(cfg->path));
		fail |= kr_status_add(it, "Read_only", "%s",
		    st->read_only ? "Yes" : "No");
		fail |= kr_status_add(it, "Config_file", "%s",
		    kr_or_none(cfg->source));
		fail |= kr_status_add(it, "Module", "%s", kr_or_none(st->module));
		fail |= kr_status_add(it, "Token", "%s", kr_or_none(st->token));
		fail |= kr_status_add(it, "Master_key", "%s",
		    kr_or_none(st->master_key));
		fail |= kr_status_add(it, "MAC_key", "%s",
		    kr_or_none(cfg->mac_key));
		/*
		 * No store generation here: it counts writes since the store
		 * began, earlier lives of a deleted file included (its .prev),
		 * so MySQL's result files could not match it.  keylocker
		 * keyring list shows it.
		 */
		fail |= kr_status_add(it, "Entries", "%zu", st->entries);
		fail |= kr_status_add(it, "Cache", "%s", st->cache ? "On" : "Off");
		fail |= kr_status_add(it, "Cache_locked", "%s",
		    st->cache && st->cache_locked ? "Yes" : "No");
		fail |= kr_status_add(it, "Cached_entries", "%zu", st->cached);
	} else {
		fail |= kr_status_add(it, "Data_file", KR_NA);
		fail |= kr_status_add(it, "Read_only", KR_NA);
	}
	fail |= kr_status_add(it, "Last_error", "%s", kr_or_none(last));
	if (fail)
		goto out;
	*metadata_iterator =
	    (struct my_h_keyring_component_metadata_iterator_imp *)(void *)it;
	it = NULL;
	r = 0;
 out:
	kr_state_unlock();
	free(st);
	kr_status_iter_free(it);
	return r;
}

static mysql_service_status_t
kr_status_deinit(struct my_h_keyring_component_metadata_iterator_imp *metadata_iterator)
{
	kr_status_iter_free(kr_status_iter_of(metadata_iterator));
	return 0;
}

/* Inverted: true (1) when the iterator points at a row. */
static mysql_service_status_t
kr_status_is_valid(struct my_h_keyring_component_metadata_iterator_imp *metadata_iterator)
{
	struct kr_status_iter *it = kr_status_iter_of(metadata_iterator);

	return it != NULL && it->pos < it->n;
}

static mysql_service_status_t
kr_status_next(struct my_h_keyring_component_metadata_iterator_imp *metadata_iterator)
{
	struct kr_status_iter *it = kr_status_iter_of(metadata_iterator);

	if (it == NULL || it->pos >= it->n)
		return 1;
	it->pos++;
	return 0;
}

/* Buffer sizes, NUL included (unlike the keys iterator's lengths). */
static mysql_service_status_t
kr_status_get_length(struct my_h_keyring_component_metadata_iterator_imp *metadata_iterator,
    size_t *key_buffer_length, size_t *value_buffer_length)
{
	struct kr_status_iter *it = kr_status_iter_of(metadata_iterator);

	if (it == NULL || it->pos >= it->n || key_buffer_length == NULL ||
	    value_buffer_length == NULL)
		return 1;
	*key_buffer_length = strlen(it->key[it->pos]) + 1;
	*value_buffer_length = strlen(it->value[it->pos]) + 1;
	return 0;
}

static mysql_service_status_t
kr_status_get(struct my_h_keyring_component_metadata_iterator_imp *metadata_iterator,
    char *key_buffer, size_t key_buffer_len, char *value_buffer,
    size_t value_buffer_len)
{
	struct kr_status_iter *it = kr_status_iter_of(metadata_iterator);
	size_t kl, vl;

	if (it == NULL || it->pos >= it->n || key_buffer == NULL ||
	    value_buffer == NULL)
		return 1;
	kl = strlen(it->key[it->pos]);
	vl = strlen(it->value[it->pos]);
	if (kl >= key_buffer_len || vl >= value_buffer_len)
		return 1;
	memcpy(key_buffer, it->key[it->pos], kl + 1);
	memcpy(value_buffer, it->value[it->pos], vl + 1);
	return 0;
}

/* ------------------------------------------------- keyring_component_status */

static mysql_service_status_t
kr_is_initialized(void)
{
	int up = kr_state_rdlock() != NULL;

	kr_state_unlock();
	return up;
}

/* ------------------------------------------------------------ keyring_load */

/*
 * component_keyring_file creates an empty file at `path` when it starts
 * without one, and MySQL's tests rename that file away and back (they
 * fail when it is not there).  So do we: an empty, MAC'd store, only when
 * the file is missing and the keyring is writable; never over one.
 */
static int
kr_create_store(struct kr *kr, const struct kr_config *cfg, char *err,
    size_t errlen)
{
	int e;

	if (cfg->read_only)
		return 0;
	if ((e = kr_create(kr)) != KR_OK) {
		snprintf(err, errlen, "cannot create the keyring store %s: %s: %s",
		    cfg->path, kr_strerror(e), kr_last_error(kr));
		return -1;
	}
	return 0;
}

/*
 * Read the configuration and open the engine; only when both succeed does
 * the new state replace the old, so a failed ALTER INSTANCE RELOAD KEYRING
 * leaves the keyring as it was.  That means the new engine is opened while
 * the old one is still open: kr_open() must allow a second struct kr on the
 * same token and store in one process.
 */
static mysql_service_status_t
kr_load(const char *component_path, const char *instance_path)
{
	struct kr_config *cfg = NULL;
	struct kr *kr = NULL;
	char err[KR_MSG_MAX];
	mysql_service_status_t r = 1;

	err[0] = '\0';
	pthread_mutex_lock(&kr_load_lock);
	if (kr_conf_load(component_path, instance_path, &cfg, err,
	    sizeof(err)) != 0 ||
	    kr_open(cfg, &kr, err, sizeof(err)) != KR_OK ||
	    kr_create_store(kr, cfg, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			kl_strlcpy(err, "unknown error", sizeof(err));
		/* the sentence component_keyring_file logs, under its code */
		kr_log(MYSQL_ERROR_LEVEL, KR_ER_NOT_INITIALIZED, "The component "
		    "is not initialized properly. Error: %s. Make sure that "
		    "configuration is proper and use ALTER INSTANCE RELOAD "
		    "KEYRING to reinitialize the component.", err);
		pthread_rwlock_wrlock(&kr_state_lock);
		kl_strlcpy(kr_load_error, err, sizeof(kr_load_error));
		pthread_rwlock_unlock(&kr_state_lock);
		goto out;
	}

	pthread_rwlock_wrlock(&kr_state_lock);
	{
		struct kr *old = kr_cur;
		struct kr_config *old_cfg = kr_cur_cfg;

		kr_cur = kr;
		kr_cur_cfg = cfg;
		kr = old;
		cfg = old_cfg;
		kr_load_error[0] = '\0';
	}
	pthread_rwlock_unlock(&kr_state_lock);
	kr_log(MYSQL_INFORMATION_LEVEL, KR_ER_INITIALIZED,
	    "Keyring component initialized successfully.");
	r = 0;
 out:
	pthread_mutex_unlock(&kr_load_lock);
	/* on success these are the old state, closed outside the state lock */
	kr_close(kr);
	kr_conf_free(cfg);
	return r;
}

/* ------------------------------------------------------------- keyring_aes */

/* The modes of component_keyring_file's keyring_aes: AES-256 only. */
static const struct kr_aes_mode {
	const char	*name;
	size_t		 block_size;	/* what MySQL calls the key size, in bits */
	const EVP_CIPHER *(*cipher)(void);
} kr_aes_modes[] = {
	{ "cbc",	256, EVP_aes_256_cbc },
	{ "cfb1",	256, EVP_aes_256_cfb1 },
	{ "cfb8",	256, EVP_aes_256_cfb8 },
	{ "cfb128",	256, EVP_aes_256_cfb128 },
	{ "ofb",	256, EVP_aes_256_ofb },
};

static const EVP_CIPHER *
kr_aes_cipher(const char *mode, size_t block_size)
{
	size_t i;

	if (mode == NULL || block_size == 0) {
		kr_log(MYSQL_ERROR_LEVEL, 0, "keyring_aes needs a mode and a "
		    "block size");
		return NULL;
	}
	/* exact, lower-case names, as keyring_aes.h says callers pass them */
	for (i = 0; i < KL_ARRAY_SIZE(kr_aes_modes); i++) {
		if (strcmp(kr_aes_modes[i].name, mode) == 0 &&
		    kr_aes_modes[i].block_size == block_size)
			return kr_aes_modes[i].cipher();
	}
	kr_log(MYSQL_INFORMATION_LEVEL, 0, "keyring_aes does not support mode "
	    "'%.16s' with block size %zu; use cbc, cfb1, cfb8, cfb128 or ofb "
	    "with 256", mode, block_size);
	return NULL;
}

/* Ciphertext length: whole blocks plus one for block modes, else the same. */
static int
kr_aes_out_size(const EVP_CIPHER *c, size_t in, size_t *out)
{
	size_t b = (size_t)EVP_CIPHER_block_size(c);

	if (b <= 1) {
		*out = in;
		return 0;
	}
	if (in / b > (SIZE_MAX - b) / b)
		return -1;
	*out = b * (in / b) + b;
	return 0;
}

static mysql_service_status_t
kr_aes_get_size(size_t input_length, const char *mode, size_t block_size,
    size_t *out_size)
{
	const EVP_CIPHER *c;

	if (out_size == NULL || (c = kr_aes_cipher(mode, block_size)) == NULL)
		return 1;
	return kr_aes_out_size(c, input_length, out_size) != 0;
}

/*
 * Encrypt or decrypt with the stored key data_id/auth_id, which must have
 * type AES (any case).  As in component_keyring_file, the AES key is
 * SHA-256 of the stored key, whatever its length: data encrypted through
 * either component decrypts through the other once its keys are migrated.
 */
static mysql_service_status_t
kr_aes_run(int encrypt, const char *data_id, const char *auth_id,
    const char *mode, size_t block_size, const unsigned char *iv, int padding,
    const unsigned char *in, size_t in_len, unsigned char *out,
    size_t out_len, size_t *out_length)
{
	const char *op = encrypt ? "encrypt" : "decrypt";
	struct kl_secret key = { NULL, 0 };
	unsigned char rkey[32];
	char type[KR_TYPE_MAX + 1];
	EVP_CIPHER_CTX *ctx = NULL;
	const EVP_CIPHER *c;
	struct kr *kr;
	enum kr_lookup l;
	size_t need;
	int ulen = 0, flen = 0;
	mysql_service_status_t r = 1;

	kr = kr_state_rdlock();
	if (kr == NULL) {
		kr_log_not_initialized();
		goto out;
	}
	if ((c = kr_aes_cipher(mode, block_size)) == NULL)
		goto out;
	if (data_id == NULL || *data_id == '\0') {
		kr_log(MYSQL_INFORMATION_LEVEL, 0, "keyring_aes needs the Data "
		    "ID of a key");
		goto out;
	}
	if (out == NULL || out_length == NULL || (in == NULL && in_len > 0) ||
	    in_len > INT_MAX)
		goto out;
	if (encrypt ? kr_aes_out_size(c, in_len, &need) != 0 || need > out_len :
	    in_len > out_len) {
		kr_log(MYSQL_INFORMATION_LEVEL, 0, "keyring_aes %s: the output "
		    "buffer of %zu bytes is too small", op, out_len);
		goto out;
	}
	if (!kr_ids_fit(data_id, auth_id) ||
	    (l = kr_fetch_mysql(kr, data_id, auth_id, &key, type)) ==
	    KR_MISSING) {
		kr_log_not_found(data_id, auth_id);
		goto out;
	}
	if (l == KR_ERROR) {
		kr_log(MYSQL_ERROR_LEVEL, 0, "keyring_aes %s: cannot read the key "
		    "with Data ID '%s' and Auth ID '%s': %s", op, data_id,
		    kr_id(auth_id), kr_last_error(kr));
		goto out;
	}
	type[KR_TYPE_MAX] = '\0';
	if (strcasecmp(type, "aes") != 0) {
		kr_log(MYSQL_INFORMATION_LEVEL, KR_ER_AES_INVALID_KEY, "Key "
		    "identified by Data ID: '%s' and Auth ID: '%s' is not of type "
		    "AES.", data_id, kr_id(auth_id));
		goto out;
	}
	/* after the key checks, in component_keyring_file's order */
	if (EVP_CIPHER_iv_length(c) > 0 && iv == NULL) {
		kr_log(MYSQL_INFORMATION_LEVEL, 0, "keyring_aes %s: mode %s "
		    "needs an IV", op, mode);
		goto out;
	}
	if (!EVP_Digest(key.p, key.len, rkey, NULL, EVP_sha256(), NULL) ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    !EVP_CipherInit_ex(ctx, c, NULL, rkey, iv, encrypt) ||
	    !EVP_CIPHER_CTX_set_padding(ctx, padding != 0) ||
	    !EVP_CipherUpdate(ctx, out, &ulen, in, (int)in_len) ||
	    !EVP_CipherFinal_ex(ctx, out + ulen, &flen)) {
		kr_log(MYSQL_INFORMATION_LEVEL, 0, "keyring_aes %s with the key "
		    "with Data ID '%s' and Auth ID '%s' failed (wrong key, IV or "
		    "padding, or a damaged input)", op, data_id, kr_id(auth_id));
		goto out;
	}
	*out_length = (size_t)ulen + (size_t)flen;
	r = 0;
 out:
	kr_state_unlock();
	EVP_CIPHER_CTX_free(ctx);	/* wipes the expanded key */
	ERR_clear_error();		/* ours to drain: the host checks its own */
	OPENSSL_cleanse(rkey, sizeof(rkey));
	kl_secret_clear(&key);
	return r;
}

static mysql_service_status_t
kr_aes_encrypt(const char *data_id, const char *auth_id, const char *mode,
    size_t block_size, const unsigned char *iv, int padding,
    const unsigned char *data_buffer, size_t data_buffer_length,
    unsigned char *out_buffer, size_t out_buffer_length, size_t *out_length)
{
	return kr_aes_run(1, data_id, auth_id, mode, block_size, iv, padding,
	    data_buffer, data_buffer_length, out_buffer, out_buffer_length,
	    out_length);
}

static mysql_service_status_t
kr_aes_decrypt(const char *data_id, const char *auth_id, const char *mode,
    size_t block_size, const unsigned char *iv, int padding,
    const unsigned char *data_buffer, size_t data_buffer_length,
    unsigned char *out_buffer, size_t out_buffer_length, size_t *out_length)
{
	return kr_aes_run(0, data_id, auth_id, mode, block_size, iv, padding,
	    data_buffer, data_buffer_length, out_buffer, out_buffer_length,
	    out_length);
}

/* ------------------------------------------------------- component wiring */

static mysql_service_status_t
kr_component_init(void)
{
	kr_log_attach();
	return 0;
}

static mysql_service_status_t
kr_component_deinit(void)
{
	struct kr_config *cfg;
	struct kr *kr;

	pthread_rwlock_wrlock(&kr_state_lock);
	kr = kr_cur;
	cfg = kr_cur_cfg;
	kr_cur = NULL;
	kr_cur_cfg = NULL;
	kr_load_error[0] = '\0';
	pthread_rwlock_unlock(&kr_state_lock);
	kr_close(kr);
	kr_conf_free(cfg);
	kr_log_detach();
	return 0;
}

static const struct s_mysql_keyring_reader_with_status kr_svc_reader = {
	kr_reader_init, kr_reader_deinit, kr_reader_fetch_length, kr_reader_fetch,
};
static const struct s_mysql_keyring_writer kr_svc_writer = {
	kr_writer_store, kr_writer_remove,
};
static const struct s_mysql_keyring_generator kr_svc_generator = {
	kr_generator_generate,
};
static const struct s_mysql_keyring_keys_metadata_iterator kr_svc_keys = {
	kr_keys_init, kr_keys_deinit, kr_keys_is_valid, kr_keys_next,
	kr_keys_get_length, kr_keys_get,
};
static const struct s_mysql_keyring_component_status kr_svc_status = {
	kr_is_initialized,
};
static const struct s_mysql_keyring_component_metadata_query kr_svc_metadata = {
	kr_status_init, kr_status_deinit, kr_status_is_valid, kr_status_next,
	kr_status_get_length, kr_status_get,
};
static const struct s_mysql_keyring_load kr_svc_load = {
	kr_load,
};
static const struct s_mysql_keyring_aes kr_svc_aes = {
	kr_aes_get_size, kr_aes_encrypt, kr_aes_decrypt,
};

/* The loader wants void * but never writes through these. */
#define KR_PROVIDE(svc, impl) \
	{ svc "." KR_COMPONENT_NAME, (void *)(uintptr_t)(const void *)&(impl) }

static struct mysql_service_ref_t kr_provides[] = {
	KR_PROVIDE("keyring_aes", kr_svc_aes),
	KR_PROVIDE("keyring_generator", kr_svc_generator),
	KR_PROVIDE("keyring_load", kr_svc_load),
	KR_PROVIDE("keyring_keys_metadata_iterator", kr_svc_keys),
	KR_PROVIDE("keyring_component_status", kr_svc_status),
	KR_PROVIDE("keyring_component_metadata_query", kr_svc_metadata),
	KR_PROVIDE("keyring_reader_with_status", kr_svc_reader),
	KR_PROVIDE("keyring_writer", kr_svc_writer),
	{ NULL, NULL },
};

static struct mysql_service_placeholder_ref_t kr_requires[] = {
	{ "registry", (void **)(void *)&mysql_service_registry },
	{ NULL, NULL },
};

static struct mysql_metadata_ref_t kr_metadata[] = {
	{ "mysql.author", KR_COMPONENT_AUTHOR },
	{ "mysql.license", KR_COMPONENT_LICENSE },
	{ "keylocker.version", KL_VERSION },
	{ NULL, NULL },
};

static struct mysql_component_t kr_component = {
	KR_COMPONENT_NAME, kr_provides, kr_requires, kr_metadata,
	kr_component_init, kr_component_deinit,
};

/* The one exported symbol (the version script made by component.cmake). */
__attribute__((visibility("default")))
struct mysql_component_t *list_components(void);

struct mysql_component_t *
list_components(void)
{
	return &kr_component;
}
