#include "keyring-bridge/kr_conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "kl_paths.h"

/* An example for messages: what a minimal valid file looks like. */
#define KR_CONF_EXAMPLE \
	"{\"path\": \"/var/lib/mysql-keyring/keylocker.store\", \"read_only\": false}"

enum kr_conf_kind { KR_CONF_STRING, KR_CONF_BOOL };

enum kr_conf_key {
	K_READ_LOCAL = 0,
	K_PATH,
	K_READ_ONLY,
	K_MODULE,
	K_TOKEN,
	K_MASTER_KEY,
	K_MAC_KEY,
	K_PIN_FILE,
	K_CACHE,
	K_COUNT
};

/* The one table of keys: names, types and length limits. */
static const struct kr_conf_key_def {
	const char	*name;
	enum kr_conf_kind	 kind;
	size_t		 max;		/* strings: bytes */
	int		 absolute;	/* strings: must start with '/' */
} kr_conf_keys[K_COUNT] = {
	[K_READ_LOCAL] =	{ "read_local_config", KR_CONF_BOOL, 0, 0 },
	[K_PATH] =		{ "path", KR_CONF_STRING, KR_CONF_PATH_MAX, 0 },
	[K_READ_ONLY] =		{ "read_only", KR_CONF_BOOL, 0, 0 },
	[K_MODULE] =		{ "module", KR_CONF_STRING, KR_CONF_PATH_MAX, 1 },
	[K_TOKEN] =		{ "token", KR_CONF_STRING, KR_CONF_TOKEN_MAX, 0 },
	[K_MASTER_KEY] =	{ "master_key", KR_CONF_STRING, KR_CONF_LABEL_MAX, 0 },
	[K_MAC_KEY] =		{ "mac_key", KR_CONF_STRING, KR_CONF_LABEL_MAX, 0 },
	[K_PIN_FILE] =		{ "pin_file", KR_CONF_STRING, KR_CONF_PATH_MAX, 1 },
	[K_CACHE] =		{ "cache", KR_CONF_BOOL, 0, 0 },
};

#define KR_CONF_VALID_KEYS \
	"path, read_only, module, token, master_key, mac_key, pin_file, cache"

/* Parser state for one file. */
struct kr_conf_ctx {
	const char	*file;
	int		 global;
	char		*err;
	size_t		 errlen;
	size_t		 line[K_COUNT];		/* 0: not seen, else 1-based line */
	char		*str[K_COUNT];		/* string values */
	int		 flag[K_COUNT];		/* bool values */
	int		 documents;
	int		 depth;			/* 1 inside the top-level object */
	int		 key;			/* awaiting this key's value, or -1 */
	size_t		 key_line;
};

static void kr_conf_error(struct kr_conf_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
kr_conf_error(struct kr_conf_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (ctx->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(ctx->err, ctx->errlen, fmt, ap);
	va_end(ap);
}

static int
kr_conf_key_lookup(const unsigned char *s, size_t len)
{
	int k;

	for (k = 0; k < K_COUNT; k++) {
		if (strlen(kr_conf_keys[k].name) == len &&
		    memcmp(kr_conf_keys[k].name, s, len) == 0)
			return k;
	}
	return -1;
}

/* Copy a scalar key for a message: truncated, control characters folded. */
static void
kr_conf_printable(const unsigned char *s, size_t len, char *out, size_t outlen)
{
	size_t i, n = len < outlen - 1 ? len : outlen - 1;

	for (i = 0; i < n; i++)
		out[i] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : (char)s[i];
	out[n] = '\0';
}

static int
kr_conf_on_key(struct kr_conf_ctx *ctx, const yaml_event_t *ev)
{
	const unsigned char *s = ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	size_t line = ev->start_mark.line + 1;
	char shown[80];
	int k;

	kr_conf_printable(s, len, shown, sizeof(shown));
	if (ev->data.scalar.style != YAML_DOUBLE_QUOTED_SCALAR_STYLE) {
		kr_conf_error(ctx, "config file %s has not valid format: key %s at "
		    "line %zu is not a JSON string; write it in double quotes, "
		    "as in %s", ctx->file, shown, line, KR_CONF_EXAMPLE);
		return KR_E_CONFIG;
	}
	if ((k = kr_conf_key_lookup(s, len)) < 0 ||
	    (k == K_READ_LOCAL && !ctx->global)) {
		if (k == K_READ_LOCAL)
			kr_conf_error(ctx, "config file %s: \"read_local_config\" "
			    "(line %zu) is only valid in the global file beside "
			    "the component; remove it here", ctx->file, line);
		else
			kr_conf_error(ctx, "config file %s: unknown key \"%s\" at "
			    "line %zu; the keys are " KR_CONF_VALID_KEYS
			    "%s", ctx->file, shown, line, ctx->global ?
			    " (or read_local_config alone)" : "");
		return KR_E_CONFIG;
	}
	if (ctx->line[k] != 0) {
		kr_conf_error(ctx, "config file %s: key \"%s\" appears twice (lines "
		    "%zu and %zu); keep one", ctx->file, kr_conf_keys[k].name,
		    ctx->line[k], line);
		return KR_E_CONFIG;
	}
	ctx->key = k;
	ctx->key_line = line;
	return 0;
}

static int
kr_conf_on_value(struct kr_conf_ctx *ctx, const yaml_event_t *ev)
{
	const struct kr_conf_key_def *def = &kr_conf_keys[ctx->key];
	const unsigned char *s;
	size_t i, len, line = ev->start_mark.line + 1;
	int plain;

	if (ev->type != YAML_SCALAR_EVENT) {
		if (def->kind == KR_CONF_BOOL)
			kr_conf_error(ctx, "config file %s: \"%s\" (line %zu) must "
			    "be true or false", ctx->file, def->name, line);
		else
			kr_conf_error(ctx, "config file %s: \"%s\" (line %zu) must "
			    "be a string in double quotes", ctx->file,
			    def->name, line);
		return KR_E_CONFIG;
	}
	s = ev->data.scalar.value;
	len = ev->data.scalar.length;
	plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	if (def->kind == KR_CONF_BOOL) {
		if (plain && len == 4 && memcmp(s, "true", 4) == 0)
			ctx->flag[ctx->key] = 1;
		else if (plain && len == 5 && memcmp(s, "false", 5) == 0)
			ctx->flag[ctx->key] = 0;
		else {
			kr_conf_error(ctx, "config file %s: \"%s\" (line %zu) must "
			    "be true or false, without quotes", ctx->file,
			    def->name, line);
			return KR_E_CONFIG;
		}
	} else {
		if (ev->data.scalar.style != YAML_DOUBLE_QUOTED_SCALAR_STYLE) {
			kr_conf_error(ctx, "config file %s: \"%s\" (line %zu) must "
			    "be a string in double quotes", ctx->file,
			    def->name, line);
			return KR_E_CONFIG;
		}
		if (len == 0) {
			kr_conf_error(ctx, "config file %s: \"%s\" (line %zu) is "
			    "empty; %s", ctx->file, def->name, line,
			    ctx->key == K_PATH ? "set it to the file that "
			    "holds the wrapped keys" : "remove the key to use "
			    "the default, or give a value");
			return KR_E_CONFIG;
		}
		if (len > def->max) {
			kr_conf_error(ctx, "config file %s: \"%s\" (line %zu) is "
			    "%zu bytes long; the limit is %zu", ctx->file,
			    def->name, line, len, def->max);
			return KR_E_CONFIG;
		}
		for (i = 0; i < len; i++) {
			if (s[i] < 0x20 || s[i] == 0x7f) {
				kr_conf_error(ctx, "config file %s: \"%s\" (line "
				    "%zu) contains a control character",
				    ctx->file, def->name, line);
				return KR_E_CONFIG;
			}
		}
		if (def->absolute && s[0] != '/') {
			kr_conf_error(ctx, "config file %s: \"%s\" (line %zu) must "
			    "be an absolute path", ctx->file, def->name, line);
			return KR_E_CONFIG;
		}
		if ((ctx->str[ctx->key] = strndup((const char *)s, len)) == NULL) {
			kr_conf_error(ctx, "config file %s: out of memory",
			    ctx->file);
			return KR_E_INTERNAL;
		}
	}
	ctx->line[ctx->key] = ctx->key_line;
	ctx->key = -1;
	return 0;
}

/*
 * One libyaml event.  The accepted shape is exactly one flow mapping (a
 * JSON object) of scalar keys to scalar values; anything else is an error.
 */
static int
kr_conf_on_event(struct kr_conf_ctx *ctx, const yaml_event_t *ev)
{
	size_t line = ev->start_mark.line + 1;

	switch (ev->type) {
	case YAML_STREAM_START_EVENT:
	case YAML_DOCUMENT_END_EVENT:
		return 0;
	case YAML_STREAM_END_EVENT:
		if (ctx->documents == 0) {
			kr_conf_error(ctx, "config file %s has not valid format: "
			    "it is empty; write one JSON object such as %s",
			    ctx->file, KR_CONF_EXAMPLE);
			return KR_E_CONFIG;
		}
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++ctx->documents > 1) {
			kr_conf_error(ctx, "config file %s has not valid format: "
			    "more than one JSON value (line %zu); keep one object",
			    ctx->file, line);
			return KR_E_CONFIG;
		}
		return 0;
	case YAML_ALIAS_EVENT:
		kr_conf_error(ctx, "config file %s has not valid format: a YAML "
		    "alias at line %zu; write plain JSON", ctx->file, line);
		return KR_E_CONFIG;
	default:
		break;
	}
	if ((ev->type == YAML_SCALAR_EVENT && ev->data.scalar.anchor != NULL) ||
	    (ev->type == YAML_MAPPING_START_EVENT &&
	    ev->data.mapping_start.anchor != NULL) ||
	    (ev->type == YAML_SEQUENCE_START_EVENT &&
	    ev->data.sequence_start.anchor != NULL)) {
		kr_conf_error(ctx, "config file %s has not valid format: a YAML "
		    "anchor at line %zu; write plain JSON", ctx->file, line);
		return KR_E_CONFIG;
	}
	if ((ev->type == YAML_SCALAR_EVENT && ev->data.scalar.tag != NULL) ||
	    (ev->type == YAML_MAPPING_START_EVENT &&
	    ev->data.mapping_start.tag != NULL) ||
	    (ev->type == YAML_SEQUENCE_START_EVENT &&
	    ev->data.sequence_start.tag != NULL)) {
		kr_conf_error(ctx, "config file %s has not valid format: a YAML "
		    "tag at line %zu; write plain JSON", ctx->file, line);
		return KR_E_CONFIG;
	}

	if (ctx->depth == 0) {
		if (ev->type != YAML_MAPPING_START_EVENT ||
		    ev->data.mapping_start.style != YAML_FLOW_MAPPING_STYLE) {
			kr_conf_error(ctx, "config file %s has not valid format: the "
			    "top level (line %zu) must be a JSON object such as %s",
			    ctx->file, line, KR_CONF_EXAMPLE);
			return KR_E_CONFIG;
		}
		ctx->depth = 1;
		return 0;
	}
	if (ctx->depth == 2) {
		/* only after the object closed: a stray value follows it */
		kr_conf_error(ctx, "config file %s has not valid format: "
		    "unexpected content after the object (line %zu)",
		    ctx->file, line);
		return KR_E_CONFIG;
	}
	if (ctx->key >= 0)
		return kr_conf_on_value(ctx, ev);
	if (ev->type == YAML_MAPPING_END_EVENT) {
		ctx->depth = 2;
		return 0;
	}
	if (ev->type != YAML_SCALAR_EVENT) {
		kr_conf_error(ctx, "config file %s has not valid format: an object "
		    "or array used as a key at line %zu", ctx->file, line);
		return KR_E_CONFIG;
	}
	return kr_conf_on_key(ctx, ev);
}

/* Read the whole file, refusing anything that is not a small regular file. */
static int
kr_conf_slurp(const char *path, unsigned char **out, size_t *outlen, char *err,
    size_t errlen)
{
	unsigned char *buf = NULL;
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd = -1, r = KR_E_CONFIG;

	*out = NULL;
	*outlen = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(err, errlen, "cannot read config file %s: %s; create it "
		    "with content such as %s", path, strerror(errno),
		    KR_CONF_EXAMPLE);
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "cannot read config file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "cannot read config file %s: not a regular "
		    "file", path);
		goto out;
	}
	if (st.st_size > KR_CONF_FILE_MAX) {
		snprintf(err, errlen, "cannot read config file %s: it is %lld "
		    "bytes, more than the %d a configuration may have", path,
		    (long long)st.st_size, KR_CONF_FILE_MAX);
		goto out;
	}
	/* one spare byte tells us if the file grew since fstat */
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "cannot read config file %s: out of memory",
		    path);
		r = KR_E_INTERNAL;
		goto out;
	}
	for (;;) {
		n = read(fd, buf + got, (size_t)st.st_size + 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "cannot read config file %s: %s",
			    path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > (size_t)st.st_size) {
			snprintf(err, errlen, "cannot read config file %s: it "
			    "changed while being read; try again", path);
			goto out;
		}
	}
	if (memchr(buf, '\0', got) != NULL) {
		snprintf(err, errlen, "config file %s has not valid format: it "
		    "contains a NUL byte", path);
		goto out;
	}
	*out = buf;
	*outlen = got;
	buf = NULL;
	r = 0;
 out:
	free(buf);
	if (fd != -1)
		close(fd);
	return r;
}

/*
 * Two passes over the text: the first only asks libyaml whether it is well
 * formed, so a syntax error anywhere is reported as one (MySQL's tests
 * expect "has not valid format" for {"xxx":  ,, e }, where an event-driven
 * check would first see the unknown key); the second gives meaning.
 */
static int
kr_conf_parse(struct kr_conf_ctx *ctx, const unsigned char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int pass, done, r = 0;

	for (pass = 0; pass < 2 && r == 0; pass++) {
		if (!yaml_parser_initialize(&parser)) {
			kr_conf_error(ctx, "config file %s: out of memory", ctx->file);
			return KR_E_INTERNAL;
		}
		yaml_parser_set_input_string(&parser, text, len);
		for (;;) {
			if (!yaml_parser_parse(&parser, &ev)) {
				kr_conf_error(ctx, "config file %s has not valid "
				    "format: line %zu, column %zu: %s; it must be "
				    "one JSON object such as %s", ctx->file,
				    parser.problem_mark.line + 1,
				    parser.problem_mark.column + 1,
				    parser.problem != NULL ? parser.problem :
				    "syntax error", KR_CONF_EXAMPLE);
				r = KR_E_CONFIG;
				break;
			}
			done = ev.type == YAML_STREAM_END_EVENT;
			if (pass == 1)
				r = kr_conf_on_event(ctx, &ev);
			yaml_event_delete(&ev);
			if (r != 0 || done)
				break;
		}
		yaml_parser_delete(&parser);
	}
	return r;
}

static void
kr_conf_ctx_clear(struct kr_conf_ctx *ctx)
{
	int k;

	for (k = 0; k < K_COUNT; k++) {
		free(ctx->str[k]);
		ctx->str[k] = NULL;
	}
}

/* Take a string value, or a copy of the default when the key was absent. */
static int
kr_conf_take(struct kr_conf_ctx *ctx, enum kr_conf_key k, const char *dflt, char **dst)
{
	if (ctx->str[k] != NULL) {
		*dst = ctx->str[k];
		ctx->str[k] = NULL;
		return 0;
	}
	return (*dst = strdup(dflt)) == NULL ? KR_E_INTERNAL : 0;
}

int
kr_conf_read_file(const char *path, int global, struct kr_config **out,
    int *read_local, char *err, size_t errlen)
{
	struct kr_conf_ctx ctx = { .file = path, .global = global, .err = err,
	    .errlen = errlen, .key = -1 };
	struct kr_config *cfg = NULL;
	unsigned char *text = NULL;
	size_t len = 0;
	int k, r;

	*out = NULL;
	*read_local = 0;
	if (errlen > 0)
		err[0] = '\0';
	if ((r = kr_conf_slurp(path, &text, &len, err, errlen)) != 0 ||
	    (r = kr_conf_parse(&ctx, text, len)) != 0)
		goto out;

	r = KR_E_CONFIG;
	if (ctx.line[K_READ_LOCAL] != 0 && ctx.flag[K_READ_LOCAL]) {
		/* the other keys would be ignored: say so rather than guess */
		for (k = 0; k < K_COUNT; k++) {
			if (k != K_READ_LOCAL && ctx.line[k] != 0) {
				kr_conf_error(&ctx, "config file %s: \"%s\" (line "
				    "%zu) has no effect with \"read_local_config\": "
				    "true; move it to the %s in the datadir",
				    path, kr_conf_keys[k].name, ctx.line[k],
				    KR_CONF_FILE_NAME);
				goto out;
			}
		}
		*read_local = 1;
		r = 0;
		goto out;
	}
	if (ctx.line[K_PATH] == 0) {
		kr_conf_error(&ctx, "config file %s: \"path\" is missing; add "
		    "\"path\": \"<the file that holds the wrapped keys>\", as in "
		    "%s", path, KR_CONF_EXAMPLE);
		goto out;
	}
	if (ctx.line[K_READ_ONLY] == 0) {
		kr_conf_error(&ctx, "config file %s: \"read_only\" is missing; add "
		    "\"read_only\": false (or true to refuse every write)", path);
		goto out;
	}

	r = KR_E_INTERNAL;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		goto oom;
	cfg->read_only = ctx.flag[K_READ_ONLY];
	cfg->cache = ctx.line[K_CACHE] != 0 ? ctx.flag[K_CACHE] : 1;
	if (kr_conf_take(&ctx, K_PATH, "", &cfg->path) != 0 ||
	    kr_conf_take(&ctx, K_MODULE, KL_DEFAULT_MODULE, &cfg->module) != 0 ||
	    kr_conf_take(&ctx, K_TOKEN, "keylocker", &cfg->token) != 0 ||
	    kr_conf_take(&ctx, K_MASTER_KEY, "keylocker-master",
	    &cfg->master_key) != 0 ||
	    kr_conf_take(&ctx, K_MAC_KEY, "keylocker-store-mac", &cfg->mac_key) != 0 ||
	    kr_conf_take(&ctx, K_PIN_FILE, KL_SYSCONFDIR "/keyring.pin",
	    &cfg->pin_file) != 0 ||
	    (cfg->source = strdup(path)) == NULL)
		goto oom;

	*out = cfg;
	cfg = NULL;
	r = 0;
	goto out;
 oom:
	kr_conf_error(&ctx, "config file %s: out of memory", path);
 out:
	kr_conf_free(cfg);
	kr_conf_ctx_clear(&ctx);
	free(text);
	return r;
}

/* dir + "/" + KR_CONF_FILE_NAME, or the bare name when dir is NULL or "". */
static char *
kr_conf_join(const char *dir)
{
	size_t dlen = dir != NULL ? strlen(dir) : 0;
	size_t need = dlen + 1 + sizeof(KR_CONF_FILE_NAME);
	char *p;

	if ((p = malloc(need)) == NULL)
		return NULL;
	if (dlen == 0)
		snprintf(p, need, "%s", KR_CONF_FILE_NAME);
	else if (dir[dlen - 1] == '/')
		snprintf(p, need, "%s%s", dir, KR_CONF_FILE_NAME);
	else
		snprintf(p, need, "%s/%s", dir, KR_CONF_FILE_NAME);
	return p;
}

int
kr_conf_load(const char *component_dir, const char *instance_dir,
    struct kr_config **out, char *err, size_t errlen)
{
	char *global = NULL, *local = NULL;
	int read_local = 0, r = KR_E_INTERNAL;

	*out = NULL;
	if (component_dir == NULL || *component_dir == '\0') {
		/* mysql_migrate_keyring without --component-dir */
		snprintf(err, errlen, "cannot read config file %s: the directory "
		    "of the component is not known; give the component "
		    "directory (mysql_migrate_keyring --component-dir)",
		    KR_CONF_FILE_NAME);
		r = KR_E_CONFIG;
		goto out;
	}
	if ((global = kr_conf_join(component_dir)) == NULL) {
		snprintf(err, errlen, "out of memory reading the configuration");
		goto out;
	}
	if ((r = kr_conf_read_file(global, 1, out, &read_local, err,
	    errlen)) != 0 || !read_local)
		goto out;
	if ((local = kr_conf_join(instance_dir)) == NULL) {
		snprintf(err, errlen, "out of memory reading the configuration");
		r = KR_E_INTERNAL;
		goto out;
	}
	r = kr_conf_read_file(local, 0, out, &read_local, err, errlen);
 out:
	free(global);
	free(local);
	return r;
}

int
kr_conf_dup(const struct kr_config *src, struct kr_config **out)
{
	struct kr_config *cfg;

	*out = NULL;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return KR_E_INTERNAL;
	cfg->read_only = src->read_only;
	cfg->cache = src->cache;
#define DUP_FIELD(f) \
	(src->f == NULL || (cfg->f = strdup(src->f)) != NULL)
	if (!DUP_FIELD(path) || !DUP_FIELD(module) || !DUP_FIELD(token) ||
	    !DUP_FIELD(master_key) || !DUP_FIELD(mac_key) ||
	    !DUP_FIELD(pin_file) || !DUP_FIELD(source)) {
		kr_conf_free(cfg);
		return KR_E_INTERNAL;
	}
#undef DUP_FIELD
	*out = cfg;
	return 0;
}

void
kr_conf_free(struct kr_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->module);
	free(cfg->token);
	free(cfg->master_key);
	free(cfg->mac_key);
	free(cfg->pin_file);
	free(cfg->source);
	free(cfg);
}
