/* Shared pieces of the keylocker command line. */
#ifndef KL_CLI_H
#define KL_CLI_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/secret.h"

struct kl_p11c;

/* Every verb: argc/argv after the verb name; returns the exit status. */
int	cmd_init(int argc, char **argv);
int	cmd_status(int argc, char **argv);
int	cmd_pin_hash(int argc, char **argv);
int	cmd_retire(int argc, char **argv);
int	cmd_selftest(int argc, char **argv);
int	cmd_keyring(int argc, char **argv);	/* cmd_keyring.c, with the bridge */
int	cmd_mysql(int argc, char **argv);	/* cmd_mysql.c */
int	cmd_audit(int argc, char **argv);	/* cmd_audit.c: verify, tail */

/* Exit statuses. */
#define EXIT_OK		0
#define EXIT_FAIL	1	/* the operation failed or found a problem */
#define EXIT_USAGE	2

/* Print "keylocker: " and the message to stderr; returns EXIT_FAIL. */
int	cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A PIN from, in order: the literal value, the file, the environment
 * variable env (may be NULL), or a prompt on the terminal (twice when
 * confirm).  Returns 0 or -1 with a message printed.
 */
int	cli_get_pin(const char *literal, const char *file, const char *env,
		    const char *prompt, int confirm, struct kl_secret *out);

/* s as a JSON string to f; bytes outside printable ASCII as \u00NN. */
void	cli_json_str(FILE *f, const char *s);

/* The keylocker module to load: $KEYLOCKER_MODULE, else the installed one. */
const char *cli_module_path(void);
/* Root only: become uid/gid for good (and say so on stderr, with why, unless NULL). */
int	cli_become(uid_t uid, gid_t gid, const char *why);

/* Open the keylocker module on the configured token and log in with pin (may be NULL). */
int	cli_open_module(const char *token, const struct kl_secret *pin, struct kl_p11c **out);

#endif
