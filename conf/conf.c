#include "conf/conf.h"
#include "conf/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "common/secret.h"
#include "common/util.h"
#include "kl_paths.h"
#include "policy/pin.h"

#define CONF_FILE_MAX	(256 * 1024)
#define CONF_LIST_MAX	256		/* clients, tokens, sinks, patterns */

struct ctx {
	const char	*name;		/* file name for messages */
	char		*err;
	size_t		 errlen;
	int		 check_files;	/* open PIN files and modules (not when fuzzing) */
};

static int
bad(struct ctx *c, unsigned line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
bad(struct ctx *c, unsigned line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s:%u: %s", c->name, line, msg);
	return CONF_ERR_SCHEMA;
}

const char *
conf_default_path(void)
{
	const char *e = getenv(CONF_ENV);

	return e != NULL && *e != '\0' ? e : KL_DEFAULT_CONF;
}

static void
free_strv(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
conf_free(struct kl_conf *conf)
{
	size_t i;

	if (conf == NULL)
		return;
	free(conf->source);
	free(conf->module);
	free(conf->init_args);
	for (i = 0; i < conf->n_env; i++) {
		free(conf->env[i].name);
		free(conf->env[i].value);
	}
	free(conf->env);
	for (i = 0; i < conf->n_tokens; i++) {
		free(conf->tokens[i].label);
		free(conf->tokens[i].backend_label);
		free(conf->tokens[i].pin_file);
		free(conf->tokens[i].pin_env);
	}
	free(conf->tokens);
	free(conf->state_dir);
	for (i = 0; i < conf->n_sinks; i++) {
		free(conf->sinks[i].path);
		free(conf->sinks[i].ident);
	}
	free(conf->sinks);
	for (i = 0; i < conf->policy.n_clients; i++) {
		struct policy_client *cl = &conf->policy.clients[i];
		free(cl->name);
		free(cl->pin_hash);
		free_strv(cl->key_patterns, cl->n_key_patterns);
	}
	free(conf->policy.clients);
	free(conf->policy.audit_key);
	free_strv(conf->policy.mac_keys, conf->policy.n_mac_keys);
	free(conf);
}

/* ---- typed accessors ---------------------------------------------------- */

static int
expect_type(struct ctx *c, const struct conf_node *n, enum conf_node_type t,
	    const char *what)
{
	if (n->type != t)
		return bad(c, n->line, "%s must be %s, not %s", what,
		    conf_node_type_name(t), conf_node_type_name(n->type));
	return 0;
}

/* Every member of map must be one of keys[]. */
static int
known_keys(struct ctx *c, const struct conf_node *map, const char *section,
	   const char *const *keys)
{
	const struct conf_node *n;
	char list[512];
	size_t i;

	for (n = map->child; n != NULL; n = n->next) {
		for (i = 0; keys[i] != NULL; i++) {
			if (strcmp(n->key, keys[i]) == 0)
				break;
		}
		if (keys[i] == NULL) {
			list[0] = '\0';
			for (i = 0; keys[i] != NULL; i++) {
				strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
				strncat(list, keys[i], sizeof(list) - strlen(list) - 1);
			}
			return bad(c, n->key_line, "unknown key \"%.64s\" in %s; the keys "
			    "there are: %s", n->key, section, list);
		}
	}
	return 0;
}

static int
get_str(struct ctx *c, const struct conf_node *map, const char *key, int required,
	const char *where, char **out)
{
	const struct conf_node *n = conf_tree_get(map, key);
	char what[128];

	*out = NULL;
	if (n == NULL) {
		if (required)
			return bad(c, map->line, "%s needs \"%s\"", where, key);
		return 0;
	}
	snprintf(what, sizeof(what), "%s.%s", where, key);
	if (expect_type(c, n, CONF_SCALAR, what) != 0)
		return CONF_ERR_SCHEMA;
	if (n->value[0] == '\0')
		return bad(c, n->line, "%s is empty", what);
	if ((*out = strdup(n->value)) == NULL)
		return CONF_ERR_INTERNAL;
	return 0;
}

static int
get_path(struct ctx *c, const struct conf_node *map, const char *key, int required,
	 const char *where, char **out)
{
	const struct conf_node *n = conf_tree_get(map, key);
	int r;

	if ((r = get_str(c, map, key, required, where, out)) != 0 || *out == NULL)
		return r;
	if ((*out)[0] != '/') {
		free(*out);
		*out = NULL;
		return bad(c, n->line, "%s.%s must be an absolute path", where, key);
	}
	return 0;
}

static int
get_bool(struct ctx *c, const struct conf_node *map, const char *key, int dflt,
	 const char *where, int *out)
{
	const struct conf_node *n = conf_tree_get(map, key);

	*out = dflt;
	if (n == NULL)
		return 0;
	if (n->type != CONF_SCALAR || n->quoted ||
	    (strcmp(n->value, "true") != 0 && strcmp(n->value, "false") != 0))
		return bad(c, n->line, "%s.%s must be true or false (unquoted)", where, key);
	*out = strcmp(n->value, "true") == 0;
	return 0;
}

static int
get_uint(struct ctx *c, const struct conf_node *map, const char *key, unsigned dflt,
	 unsigned min, unsigned max, const char *where, unsigned *out)
{
	const struct conf_node *n = conf_tree_get(map, key);
	unsigned long v;
	char *end;

	*out = dflt;
	if (n == NULL)
		return 0;
	if (n->type != CONF_SCALAR || n->quoted || n->value[0] < '0' || n->value[0] > '9')
		return bad(c, n->line, "%s.%s must be a whole number", where, key);
	errno = 0;
	v = strtoul(n->value, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return bad(c, n->line, "%s.%s must be a whole number from %u to %u", where,
		    key, min, max);
	*out = (unsigned)v;
	return 0;
}

/* A list of non-empty strings. */
static int
get_strv(struct ctx *c, const struct conf_node *n, const char *what, char ***out,
	 size_t *nout)
{
	const struct conf_node *e;
	size_t count = 0, i = 0;

	*out = NULL;
	*nout = 0;
	if (expect_type(c, n, CONF_SEQUENCE, what) != 0)
		return CONF_ERR_SCHEMA;
	for (e = n->child; e != NULL; e = e->next)
		count++;
	if (count == 0)
		return bad(c, n->line, "%s is an empty list", what);
	if (count > CONF_LIST_MAX)
		return bad(c, n->line, "%s has more than %d entries", what, CONF_LIST_MAX);
	if ((*out = calloc(count, sizeof(char *))) == NULL)
		return CONF_ERR_INTERNAL;
	for (e = n->child; e != NULL; e = e->next) {
		if (e->type != CONF_SCALAR || e->value[0] == '\0') {
			free_strv(*out, i);
			*out = NULL;
			return bad(c, e->line, "%s entries must be non-empty strings", what);
		}
		if (((*out)[i++] = strdup(e->value)) == NULL) {
			free_strv(*out, i - 1);
			*out = NULL;
			return CONF_ERR_INTERNAL;
		}
	}
	*nout = count;
	return 0;
}

static int
count_list(struct ctx *c, const struct conf_node *n, const char *what, size_t *count)
{
	const struct conf_node *e;

	*count = 0;
	if (expect_type(c, n, CONF_SEQUENCE, what) != 0)
		return CONF_ERR_SCHEMA;
	for (e = n->child; e != NULL; e = e->next)
		(*count)++;
	if (*count > CONF_LIST_MAX)
		return bad(c, n->line, "%s has more than %d entries", what, CONF_LIST_MAX);
	return 0;
}

/* ---- sections ----------------------------------------------------------- */

static int
parse_backend(struct ctx *c, const struct conf_node *n, struct kl_conf *conf)
{
	static const char *const keys[] = { "module", "init_args", "environment", NULL };
	const struct conf_node *env, *e;
	char resolved[PATH_MAX];
	char *module = NULL;
	size_t i = 0;
	int r;

	if (expect_type(c, n, CONF_MAPPING, "backend") != 0 ||
	    known_keys(c, n, "backend", keys) != 0)
		return CONF_ERR_SCHEMA;
	if ((r = get_path(c, n, "module", 1, "backend", &module)) != 0)
		return r;
	if (c->check_files) {
		if (realpath(module, resolved) == NULL) {
			r = bad(c, conf_tree_get(n, "module")->line, "backend.module %s: %s; "
			    "install the backend (SoftHSM2: apt-get install softhsm2) or fix "
			    "the path", module, strerror(errno));
			free(module);
			return r;
		}
		free(module);
		if ((module = strdup(resolved)) == NULL)
			return CONF_ERR_INTERNAL;
	}
	conf->module = module;
	if ((r = get_str(c, n, "init_args", 0, "backend", &conf->init_args)) != 0)
		return r;
	if ((env = conf_tree_get(n, "environment")) == NULL)
		return 0;
	if (expect_type(c, env, CONF_MAPPING, "backend.environment") != 0)
		return CONF_ERR_SCHEMA;
	for (e = env->child; e != NULL; e = e->next)
		conf->n_env++;
	if (conf->n_env > 64)
		return bad(c, env->line, "backend.environment has more than 64 variables");
	if (conf->n_env > 0 && (conf->env = calloc(conf->n_env, sizeof(*conf->env))) == NULL)
		return CONF_ERR_INTERNAL;
	for (e = env->child; e != NULL; e = e->next, i++) {
		if (e->type != CONF_SCALAR)
			return bad(c, e->line, "backend.environment.%s must be a string", e->key);
		if (e->key[0] == '\0' || strchr(e->key, '=') != NULL)
			return bad(c, e->key_line, "\"%s\" is not a variable name", e->key);
		if ((conf->env[i].name = strdup(e->key)) == NULL ||
		    (conf->env[i].value = strdup(e->value)) == NULL)
			return CONF_ERR_INTERNAL;
	}
	return 0;
}

static int
check_pin_file(struct ctx *c, unsigned line, const char *path)
{
	struct kl_secret pin = { NULL, 0 };
	char msg[512];

	if (!c->check_files)
		return 0;
	if (kl_read_secret_file(path, &pin, msg, sizeof(msg)) != 0)
		return bad(c, line, "%s", msg);
	kl_secret_clear(&pin);
	return 0;
}

static int
parse_tokens(struct ctx *c, const struct conf_node *n, struct kl_conf *conf)
{
	static const char *const keys[] = { "label", "backend_label", "pin_file", "pin_env", NULL };
	const struct conf_node *e;
	size_t i = 0, j;
	int r;

	if ((r = count_list(c, n, "tokens", &conf->n_tokens)) != 0)
		return r;
	if (conf->n_tokens == 0)
		return bad(c, n->line, "tokens is empty: list at least one token");
	if ((conf->tokens = calloc(conf->n_tokens, sizeof(*conf->tokens))) == NULL)
		return CONF_ERR_INTERNAL;
	for (e = n->child; e != NULL; e = e->next, i++) {
		struct conf_token *t = &conf->tokens[i];

		if (expect_type(c, e, CONF_MAPPING, "a tokens entry") != 0 ||
		    known_keys(c, e, "a tokens entry", keys) != 0)
			return CONF_ERR_SCHEMA;
		if ((r = get_str(c, e, "label", 1, "tokens entry", &t->label)) != 0 ||
		    (r = get_str(c, e, "backend_label", 0, "tokens entry", &t->backend_label)) != 0 ||
		    (r = get_path(c, e, "pin_file", 0, "tokens entry", &t->pin_file)) != 0 ||
		    (r = get_str(c, e, "pin_env", 0, "tokens entry", &t->pin_env)) != 0)
			return r;
		if (strlen(t->label) > CONF_TOKEN_LABEL_MAX)
			return bad(c, e->line, "token label \"%s\" is longer than 32 bytes",
			    t->label);
		if (t->backend_label == NULL && (t->backend_label = strdup(t->label)) == NULL)
			return CONF_ERR_INTERNAL;
		if (strlen(t->backend_label) > CONF_TOKEN_LABEL_MAX)
			return bad(c, e->line, "backend_label is longer than 32 bytes");
		if ((t->pin_file == NULL) == (t->pin_env == NULL))
			return bad(c, e->line, "token \"%s\" needs exactly one of pin_file "
			    "and pin_env (the backend user PIN)", t->label);
		if (t->pin_file != NULL &&
		    check_pin_file(c, conf_tree_get(e, "pin_file")->line, t->pin_file) != 0)
			return CONF_ERR_SCHEMA;
		for (j = 0; j < i; j++) {
			if (strcmp(conf->tokens[j].label, t->label) == 0)
				return bad(c, e->line, "token label \"%s\" is listed twice",
				    t->label);
		}
	}
	return 0;
}

static int
parse_clients(struct ctx *c, const struct conf_node *n, struct kl_conf *conf)
{
	static const char *const keys[] = { "name", "role", "pin_hash", "keys", NULL };
	struct policy *pol = &conf->policy;
	const struct conf_node *e, *k;
	const char *why;
	char *role = NULL;
	size_t i = 0, j;
	int r;

	if ((r = count_list(c, n, "clients", &pol->n_clients)) != 0)
		return r;
	if (pol->n_clients == 0)
		return bad(c, n->line, "clients is empty: add at least an admin and a "
		    "keyring client");
	if ((pol->clients = calloc(pol->n_clients, sizeof(*pol->clients))) == NULL)
		return CONF_ERR_INTERNAL;
	for (e = n->child; e != NULL; e = e->next, i++) {
		struct policy_client *cl = &pol->clients[i];

		if (expect_type(c, e, CONF_MAPPING, "a clients entry") != 0 ||
		    known_keys(c, e, "a clients entry", keys) != 0)
			return CONF_ERR_SCHEMA;
		if ((r = get_str(c, e, "name", 1, "clients entry", &cl->name)) != 0 ||
		    (r = get_str(c, e, "role", 1, "clients entry", &role)) != 0)
			return r;
		if (policy_role_from_name(role, &cl->role) != 0) {
			r = bad(c, conf_tree_get(e, "role")->line, "role \"%s\" of client %s "
			    "is not one of admin, keyring, auditor", role, cl->name);
			free(role);
			return r;
		}
		free(role);
		role = NULL;
		if ((r = get_str(c, e, "pin_hash", 1, "clients entry", &cl->pin_hash)) != 0)
			return r;
		if ((why = policy_pin_check(cl->pin_hash)) != NULL)
			return bad(c, conf_tree_get(e, "pin_hash")->line, "pin_hash of client "
			    "%s %s", cl->name, why);
		k = conf_tree_get(e, "keys");
		if (cl->role == POLICY_ROLE_KEYRING) {
			if (k == NULL)
				return bad(c, e->line, "keyring client %s needs \"keys\": the "
				    "label patterns of the master and MAC keys it may use",
				    cl->name);
			if ((r = get_strv(c, k, "keys", &cl->key_patterns,
			    &cl->n_key_patterns)) != 0)
				return r;
		} else if (k != NULL) {
			return bad(c, k->key_line, "\"keys\" applies only to keyring clients, "
			    "and %s is %s", cl->name, policy_role_name(cl->role));
		}
		for (j = 0; j < i; j++) {
			if (strcmp(pol->clients[j].name, cl->name) == 0)
				return bad(c, e->line, "client name \"%s\" is listed twice",
				    cl->name);
		}
	}
	return 0;
}

static int
parse_login(struct ctx *c, const struct conf_node *n, struct kl_conf *conf)
{
	static const char *const keys[] = { "max_failures", "lockout_seconds", "state_dir", NULL };
	int r;

	if (n == NULL) {
		conf->max_failures = 5;
		conf->lockout_seconds = 300;
		return (conf->state_dir = strdup("/var/lib/keylocker")) == NULL ?
		    CONF_ERR_INTERNAL : 0;
	}
	if (expect_type(c, n, CONF_MAPPING, "login") != 0 || known_keys(c, n, "login", keys) != 0)
		return CONF_ERR_SCHEMA;
	if ((r = get_uint(c, n, "max_failures", 5, 0, 1000, "login", &conf->max_failures)) != 0 ||
	    (r = get_uint(c, n, "lockout_seconds", 300, 1, 86400 * 7, "login",
	    &conf->lockout_seconds)) != 0 ||
	    (r = get_path(c, n, "state_dir", 0, "login", &conf->state_dir)) != 0)
		return r;
	if (conf->state_dir == NULL && (conf->state_dir = strdup("/var/lib/keylocker")) == NULL)
		return CONF_ERR_INTERNAL;
	return 0;
}

static int
parse_policy(struct ctx *c, const struct conf_node *n, struct kl_conf *conf)
{
	static const char *const keys[] = { "allow_destroy_master_keys", "mac_keys", NULL };
	const struct conf_node *m;
	int r;

	if (n != NULL) {
		if (expect_type(c, n, CONF_MAPPING, "policy") != 0 ||
		    known_keys(c, n, "policy", keys) != 0)
			return CONF_ERR_SCHEMA;
		if ((r = get_bool(c, n, "allow_destroy_master_keys", 0, "policy",
		    &conf->policy.allow_destroy_master_keys)) != 0)
			return r;
		if ((m = conf_tree_get(n, "mac_keys")) != NULL)
			return get_strv(c, m, "policy.mac_keys", &conf->policy.mac_keys,
			    &conf->policy.n_mac_keys);
	}
	if ((conf->policy.mac_keys = calloc(1, sizeof(char *))) == NULL ||
	    (conf->policy.mac_keys[0] = strdup("keylocker-store-mac*")) == NULL)
		return CONF_ERR_INTERNAL;
	conf->policy.n_mac_keys = 1;
	return 0;
}

static const struct {
	const char	*name;
	int		 value;
} facilities[] = {
	{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV }, { "daemon", LOG_DAEMON },
	{ "user", LOG_USER }, { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 },
	{ "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

static int
parse_sink(struct ctx *c, const struct conf_node *e, struct conf_sink *s)
{
	static const char *const keys[] = { "file", "append_only", "syslog", "ident", "socket",
	    NULL };
	const struct conf_node *f = conf_tree_get(e, "file");
	const struct conf_node *sl = conf_tree_get(e, "syslog");
	char *facility = NULL;
	size_t i;
	int r;

	if (expect_type(c, e, CONF_MAPPING, "an audit.sinks entry") != 0 ||
	    known_keys(c, e, "an audit.sinks entry", keys) != 0)
		return CONF_ERR_SCHEMA;
	if ((f == NULL) == (sl == NULL))
		return bad(c, e->line, "an audit sink is either \"file: PATH\" or "
		    "\"syslog: FACILITY\"");
	if (f != NULL) {
		s->type = CONF_SINK_FILE;
		if (conf_tree_get(e, "ident") != NULL || conf_tree_get(e, "socket") != NULL)
			return bad(c, e->line, "\"ident\" and \"socket\" apply to syslog "
			    "sinks only");
		if ((r = get_path(c, e, "file", 1, "audit sink", &s->path)) != 0)
			return r;
		return get_bool(c, e, "append_only", 1, "audit sink", &s->append_only);
	}
	s->type = CONF_SINK_SYSLOG;
	if (conf_tree_get(e, "append_only") != NULL)
		return bad(c, e->line, "\"append_only\" applies to file sinks only");
	if ((r = get_str(c, e, "syslog", 1, "audit sink", &facility)) != 0)
		return r;
	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
		if (strcmp(facilities[i].name, facility) == 0)
			break;
	}
	free(facility);
	if (i == sizeof(facilities) / sizeof(facilities[0]))
		return bad(c, sl->line, "syslog facility must be one of auth, authpriv, "
		    "daemon, user, local0 ... local7");
	s->facility = facilities[i].value;
	if ((r = get_str(c, e, "ident", 0, "audit sink", &s->ident)) != 0 ||
	    (r = get_path(c, e, "socket", 0, "audit sink", &s->path)) != 0)
		return r;
	if (s->path == NULL && (s->path = strdup("/dev/log")) == NULL)
		return CONF_ERR_INTERNAL;
	if (s->ident == NULL && (s->ident = strdup("keylocker-audit")) == NULL)
		return CONF_ERR_INTERNAL;
	return 0;
}

static int
parse_audit(struct ctx *c, const struct conf_node *n, struct kl_conf *conf)
{
	static const char *const keys[] = { "key", "checkpoint_every", "checkpoint_seconds",
	    "sync_interval_ms", "on_sink_failure", "sinks", NULL };
	const struct conf_node *sinks, *e, *f;
	size_t i = 0, j;
	int r;

	if (expect_type(c, n, CONF_MAPPING, "audit") != 0 || known_keys(c, n, "audit", keys) != 0)
		return CONF_ERR_SCHEMA;
	if ((r = get_str(c, n, "key", 0, "audit", &conf->policy.audit_key)) != 0 ||
	    (r = get_uint(c, n, "checkpoint_every", 1000, 1, 1000000, "audit",
	    &conf->checkpoint_every)) != 0 ||
	    (r = get_uint(c, n, "checkpoint_seconds", 60, 1, 86400, "audit",
	    &conf->checkpoint_seconds)) != 0 ||
	    (r = get_uint(c, n, "sync_interval_ms", 1000, 1, 60000, "audit",
	    &conf->sync_interval_ms)) != 0)
		return r;
	if (conf->policy.audit_key == NULL &&
	    (conf->policy.audit_key = strdup("keylocker-audit")) == NULL)
		return CONF_ERR_INTERNAL;
	conf->audit_fail_closed = 1;
	if ((f = conf_tree_get(n, "on_sink_failure")) != NULL) {
		if (f->type != CONF_SCALAR || (strcmp(f->value, "fail-closed") != 0 &&
		    strcmp(f->value, "fail-open") != 0))
			return bad(c, f->line, "audit.on_sink_failure must be fail-closed "
			    "(refuse key operations while a sink fails) or fail-open");
		conf->audit_fail_closed = strcmp(f->value, "fail-closed") == 0;
	}
	if ((sinks = conf_tree_get(n, "sinks")) == NULL)
		return bad(c, n->line, "audit needs \"sinks\": at least one file");
	if ((r = count_list(c, sinks, "audit.sinks", &conf->n_sinks)) != 0)
		return r;
	if (conf->n_sinks == 0)
		return bad(c, sinks->line, "audit.sinks is empty: list at least one file");
	if ((conf->sinks = calloc(conf->n_sinks, sizeof(*conf->sinks))) == NULL)
		return CONF_ERR_INTERNAL;
	for (e = sinks->child; e != NULL; e = e->next, i++) {
		if ((r = parse_sink(c, e, &conf->sinks[i])) != 0)
			return r;
		for (j = 0; j < i && conf->sinks[i].type == CONF_SINK_FILE; j++) {
			if (conf->sinks[j].type == CONF_SINK_FILE &&
			    strcmp(conf->sinks[j].path, conf->sinks[i].path) == 0)
				return bad(c, e->line, "audit file %s is listed twice",
				    conf->sinks[i].path);
		}
	}
	if (conf->sinks[0].type != CONF_SINK_FILE)
		return bad(c, sinks->line, "the first audit sink must be a file: the chain "
		    "continues from it after a restart");
	return 0;
}

static int
parse_root(struct ctx *c, const struct conf_node *root, struct kl_conf *conf)
{
	static const char *const keys[] = { "backend", "tokens", "clients", "login",
	    "policy", "audit", NULL };
	const struct conf_node *n;
	int r;

	if (expect_type(c, root, CONF_MAPPING, "the document") != 0 ||
	    known_keys(c, root, "the top level", keys) != 0)
		return CONF_ERR_SCHEMA;
	if ((n = conf_tree_get(root, "backend")) == NULL)
		return bad(c, root->line, "missing \"backend\" (the PKCS#11 module keylocker "
		    "fronts, e.g. module: /usr/lib/softhsm/libsofthsm2.so)");
	if ((r = parse_backend(c, n, conf)) != 0)
		return r;
	if ((n = conf_tree_get(root, "tokens")) == NULL)
		return bad(c, root->line, "missing \"tokens\" (which backend tokens to "
		    "serve, with their PINs)");
	if ((r = parse_tokens(c, n, conf)) != 0)
		return r;
	if ((n = conf_tree_get(root, "clients")) == NULL)
		return bad(c, root->line, "missing \"clients\" (who may log in, with which "
		    "role)");
	if ((r = parse_clients(c, n, conf)) != 0 ||
	    (r = parse_login(c, conf_tree_get(root, "login"), conf)) != 0 ||
	    (r = parse_policy(c, conf_tree_get(root, "policy"), conf)) != 0)
		return r;
	if ((n = conf_tree_get(root, "audit")) == NULL)
		return bad(c, root->line, "missing \"audit\" (where the audit trail goes)");
	return parse_audit(c, n, conf);
}

static int
load(struct ctx *c, const char *buf, size_t len, struct kl_conf **out)
{
	struct conf_node *root = NULL;
	struct kl_conf *conf = NULL;
	char msg[512];
	int r = CONF_ERR_INTERNAL;

	*out = NULL;
	if (conf_tree_parse(buf, len, &root, msg, sizeof(msg)) != 0) {
		snprintf(c->err, c->errlen, "%s:%s; fix the YAML syntax", c->name,
		    msg + (strncmp(msg, "line ", 5) == 0 ? 5 : 0));
		r = CONF_ERR_SYNTAX;
		goto out;
	}
	if ((conf = calloc(1, sizeof(*conf))) == NULL || (conf->source = strdup(c->name)) == NULL)
		goto out;
	if ((r = parse_root(c, root, conf)) != 0) {
		if (r == CONF_ERR_INTERNAL)
			snprintf(c->err, c->errlen, "%s: out of memory", c->name);
		goto out;
	}
	*out = conf;
	conf = NULL;
	r = 0;
 out:
	conf_free(conf);
	conf_tree_free(root);
	return r;
}

int
conf_load_string(const char *buf, size_t len, const char *name, struct kl_conf **out,
		 char *err, size_t errlen)
{
	struct ctx c = { name, err, errlen, 0 };

	return load(&c, buf, len, out);
}

int
conf_load_file(const char *path, struct kl_conf **out, char *err, size_t errlen)
{
	struct ctx c = { NULL, err, errlen, 1 };
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	size_t len = 0;
	int fd = -1, r = CONF_ERR_IO;

	*out = NULL;
	if (path == NULL)
		path = conf_default_path();
	c.name = path;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		snprintf(err, errlen, "%s: cannot open: %s; run `keylocker init` or set %s",
		    path, strerror(errno), CONF_ENV);
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 022) != 0 || (st.st_uid != 0 && st.st_uid != geteuid())) {
		snprintf(err, errlen, "%s: writable by others or owned by uid %u: it "
		    "decides who may use the keys, so make it owned by root or this user "
		    "and chmod go-w", path, (unsigned)st.st_uid);
		r = CONF_ERR_PERM;
		goto out;
	}
	if (st.st_size > CONF_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, CONF_FILE_MAX);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		r = CONF_ERR_INTERNAL;
		goto out;
	}
	while (len < (size_t)st.st_size) {
		n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: read error: %s", path,
			    n < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	r = load(&c, buf, len, out);
 out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}
