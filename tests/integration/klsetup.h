/*
 * A throwaway keylocker for integration tests: `keylocker init` (the real
 * CLI, from the build tree) into a mkdtemp directory, with fixed test PINs
 * and a cheap PIN hash.  Exports KEYLOCKER_CONF, KEYLOCKER_MODULE and
 * SOFTHSM2_CONF for the process.
 *
 * Our module loads SoftHSM2 itself and PKCS#11 login state is per process:
 * never use the bare backend and the keylocker module in one process (fork).
 */
#ifndef KL_SETUP_H
#define KL_SETUP_H

#define KL_TEST_ADMIN_PIN	"admin-pin-1"
#define KL_TEST_KEYRING_PIN	"keyring-pin-1"
#define KL_TEST_AUDITOR_PIN	"auditor-pin-1"
#define KL_TEST_TOKEN		"keylocker"
#define KL_TEST_MASTER		"keylocker-master"
#define KL_TEST_MAC		"keylocker-store-mac"
#define KL_TEST_AUDIT_KEY	"keylocker-audit"

struct kl_setup {
	char	dir[256];		/* the init directory */
	char	conf[320];		/* dir/keylocker.yaml */
	char	module[512];		/* libkeylocker-pkcs11.so of the build */
	char	backend[512];		/* bare SoftHSM2 */
	char	cli[512];		/* the keylocker binary of the build */
	char	backend_pin[64];	/* the token's real user PIN */
};

/*
 * extra: more `keylocker init` arguments (may be NULL).  Returns 0, 77 when
 * SoftHSM2 or the build tree is missing (skip), or -1.
 */
int	kl_setup_init(struct kl_setup *s, const char *extra);
/* Remove the directory (append-only flags first). */
void	kl_setup_cleanup(struct kl_setup *s);
/* Append "key: value" lines to keylocker.yaml's top level, e.g. a policy section. */
int	kl_setup_append_conf(struct kl_setup *s, const char *yaml);

#endif
