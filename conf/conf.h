/*
 * conf/: keylocker.yaml → an immutable struct kl_conf.  Strict: unknown
 * keys, wrong types, duplicates, missing required keys, relative paths and
 * unreadable PIN files are errors of the form
 *   FILE:LINE: what is wrong; what to do
 * A reload builds a new struct and the caller swaps pointers.
 * conf/keylocker.yaml is the annotated example of every key.
 */
#ifndef CONF_H
#define CONF_H

#include <stddef.h>

#include "policy/policy.h"

#define CONF_ENV		"KEYLOCKER_CONF"
#define CONF_TOKEN_LABEL_MAX	32	/* a PKCS#11 token label */

enum conf_err {
	CONF_OK = 0,
	CONF_ERR_INTERNAL = -1,
	CONF_ERR_IO = -2,	/* cannot open or read a file */
	CONF_ERR_SYNTAX = -3,	/* not well-formed YAML, or a construct we refuse */
	CONF_ERR_SCHEMA = -4,	/* unknown key, wrong type, missing or bad value */
	CONF_ERR_PERM = -5,	/* a file with unsafe ownership or permissions */
};

struct conf_env_var {
	char	*name;
	char	*value;
};

struct conf_token {
	char	*label;		/* the label keylocker's slot shows to clients */
	char	*backend_label;	/* the backend token's label (default: label) */
	char	*pin_file;	/* the backend PIN: exactly one of pin_file ... */
	char	*pin_env;	/* ... and pin_env */
};

enum conf_sink_type { CONF_SINK_FILE, CONF_SINK_SYSLOG };

struct conf_sink {
	enum conf_sink_type	 type;
	char			*path;		/* file, or syslog's socket (/dev/log) */
	int			 append_only;	/* file: try chattr +a (default yes) */
	int			 facility;	/* syslog: LOG_AUTHPRIV etc. */
	char			*ident;		/* syslog */
};

struct kl_conf {
	char			*source;		/* the file it was read from */
	/* backend */
	char			*module;		/* realpath of the backend module */
	char			*init_args;		/* CK_C_INITIALIZE_ARGS.pReserved (NSS) or NULL */
	struct conf_env_var	*env;			/* set before the backend loads */
	size_t			 n_env;
	struct conf_token	*tokens;
	size_t			 n_tokens;
	/* login */
	unsigned		 max_failures;		/* 0: no lockout */
	unsigned		 lockout_seconds;
	char			*state_dir;
	/* audit */
	unsigned		 checkpoint_every;	/* records */
	unsigned		 checkpoint_seconds;
	unsigned		 sync_interval_ms;
	int			 audit_fail_closed;	/* a failing sink refuses key operations */
	struct conf_sink	*sinks;
	size_t			 n_sinks;
	/* clients, roles and switches */
	struct policy		 policy;
};

/*
 * Read path (or, when path is NULL, $KEYLOCKER_CONF, else the installed
 * default).  On failure returns a conf_err, *out is NULL and err holds the
 * message.
 */
int	conf_load_file(const char *path, struct kl_conf **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* The same from memory; name is used in messages (tests, fuzzing). */
int	conf_load_string(const char *buf, size_t len, const char *name,
			 struct kl_conf **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void	conf_free(struct kl_conf *conf);	/* NULL-safe */

/* The path conf_load_file(NULL, ...) reads. */
const char *conf_default_path(void);

#endif
