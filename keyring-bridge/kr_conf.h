/*
 * component_keyring_pkcs11.cnf: where it is found and what it may say.
 *
 * Found the way component_keyring_file finds its .cnf: in the directory of
 * the component library; if that file says {"read_local_config": true}, in
 * the server's datadir instead.  The file is JSON (MySQL's convention),
 * read with libyaml, and strictly: one object, keys and strings in double
 * quotes, booleans as bare true/false, no unknown or repeated keys.
 *
 *   key         type    default                       note
 *   path        string  (required)                    the store file, as in
 *   read_only   bool    (required)                    component_keyring_file
 *   module      string  KL_DEFAULT_MODULE             absolute path
 *   token       string  "keylocker"                   <= 32 bytes
 *   master_key  string  "keylocker-master"            key label
 *   mac_key     string  "keylocker-store-mac"         key label
 *   pin_file    string  KL_SYSCONFDIR "/keyring.pin"  absolute path
 *   cache       bool    true
 *   read_local_config   bool, only in the global file, and then alone
 */
#ifndef KR_CONF_H
#define KR_CONF_H

#include <stddef.h>

#include "keyring-bridge/kr.h"

#define KR_CONF_FILE_NAME	"component_keyring_pkcs11.cnf"
#define KR_CONF_FILE_MAX	(64 * 1024)	/* bytes; larger files are refused */
#define KR_CONF_TOKEN_MAX	32		/* CK_TOKEN_INFO.label */
#define KR_CONF_LABEL_MAX	255		/* master_key, mac_key */
#define KR_CONF_PATH_MAX	4095		/* path, module, pin_file */

/*
 * Find and read the configuration.  component_dir is the directory holding
 * the component library (mysqld passes its plugin_dir); instance_dir is the
 * datadir, or NULL/"" for the current directory.  On success *out is a
 * complete kr_config (defaults filled in, source naming the file read) that
 * the caller frees with kr_conf_free().  On failure *out is NULL, err holds
 * one sentence naming the file, the key and what to do, and the return is
 * KR_E_CONFIG, or KR_E_INTERNAL when memory is short.
 *
 * The sentences for a missing or unparsable file contain the phrases
 * component_keyring_file uses ("cannot read config file", "has not valid
 * format"): MySQL's test suite searches the error log for them.
 */
int	kr_conf_load(const char *component_dir, const char *instance_dir,
	    struct kr_config **out, char *err, size_t errlen)
	__attribute__((nonnull(3, 4), warn_unused_result));

/*
 * Read one file.  global: the file beside the component, where
 * read_local_config is allowed; then *read_local says whether it was true
 * (and *out is NULL).  Otherwise as kr_conf_load().
 */
int	kr_conf_read_file(const char *path, int global, struct kr_config **out,
	    int *read_local, char *err, size_t errlen)
	__attribute__((nonnull(1, 3, 4, 5), warn_unused_result));

/* Deep copy.  Returns 0, or KR_E_INTERNAL (and *out NULL). */
int	kr_conf_dup(const struct kr_config *src, struct kr_config **out)
	__attribute__((nonnull, warn_unused_result));

void	kr_conf_free(struct kr_config *cfg);	/* NULL-safe */

#endif
