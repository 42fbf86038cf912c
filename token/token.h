/*
 * token/: the backend PKCS#11 module (SoftHSM2, an HSM vendor's module,
 * p11-kit-client.so).  It loads the module, maps each keylocker slot to a
 * backend token by label, logs in to it with a PIN no client ever sees,
 * gives clients session handles of its own so that a session survives the
 * backend going away and coming back, and tags object handles with the
 * slot's epoch so that a handle from before a backend restart can never
 * name a different object after it.  It knows nothing of policy or audit.
 *
 * Locking: one mutex per struct token protects the session table and slot
 * state; it is never held across a call into the backend.
 */
#ifndef TOKEN_H
#define TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

struct kl_conf;
struct token;

#define TOKEN_SESSIONS_MAX	4096

/* What token_session_lookup() hands out: a copy, valid until the next recovery. */
struct token_session_ref {
	size_t			 slot;		/* keylocker slot index */
	CK_SESSION_HANDLE	 lower;		/* the backend's handle */
	uint32_t		 epoch;		/* slot epoch the lower session belongs to */
	CK_FLAGS		 flags;		/* as opened */
};

/* Backend state changes reported to the layer above (for the audit trail). */
enum token_event { TOKEN_EVENT_LOST, TOKEN_EVENT_RECOVERED, TOKEN_EVENT_LOGIN_FAILED };
typedef void (*token_event_fn)(void *arg, enum token_event ev, size_t slot, CK_RV rv);

/*
 * Load and initialise the backend named by conf (exporting conf's
 * environment first, passing init_args through for NSS).  conf must outlive
 * the token.  Returns CKR_OK or a CKR, with the reason logged.
 */
CK_RV	token_open(const struct kl_conf *conf, token_event_fn cb, void *cb_arg,
		   struct token **out) __attribute__((warn_unused_result));
/* Close every session, finalise and unload the backend.  NULL-safe. */
void	token_close(struct token *tok);
/* In a forked child: drop everything without calling the backend (its state is the parent's). */
void	token_abandon(struct token *tok);

CK_FUNCTION_LIST_PTR token_lower(const struct token *tok);
const char *token_slot_label(const struct token *tok, size_t slot);

/* The backend slot now holding keylocker slot's token (rescans); CKR_TOKEN_NOT_PRESENT if none. */
CK_RV	token_slot_backend(struct token *tok, size_t slot, CK_SLOT_ID *out);
/* Log the backend in for this slot (idempotent) and return the module's own session on it. */
CK_RV	token_internal_session(struct token *tok, size_t slot, CK_SESSION_HANDLE *out,
			       uint32_t *epoch);
uint32_t token_slot_epoch(struct token *tok, size_t slot);

CK_RV	token_session_open(struct token *tok, size_t slot, CK_FLAGS flags,
			   CK_SESSION_HANDLE *out);
CK_RV	token_session_close(struct token *tok, CK_SESSION_HANDLE h);
/* Close all sessions of a slot; the handles closed are passed to each_fn first. */
CK_RV	token_session_close_all(struct token *tok, size_t slot,
				void (*each_fn)(void *, CK_SESSION_HANDLE), void *arg);
CK_RV	token_session_lookup(struct token *tok, CK_SESSION_HANDLE h,
			     struct token_session_ref *ref);
size_t	token_session_count(struct token *tok, size_t slot, int rw_only);

/* Does rv say the backend lost the session or the token? */
int	token_rv_lost(CK_RV rv);
/*
 * After a backend call on session h failed with rv: when rv says the backend
 * was lost, bump the slot's epoch, reopen h's backend session and log in
 * again.  Returns CKR_OK when h works again (a call without object handles
 * or operation state may be retried), else the CKR to return.  Other rv
 * values are returned unchanged.
 */
CK_RV	token_session_recover(struct token *tok, CK_SESSION_HANDLE h, CK_RV rv);

/* Object handles as clients see them: the slot epoch in the upper 32 bits. */
CK_OBJECT_HANDLE token_handle_out(uint32_t epoch, CK_OBJECT_HANDLE lower);
/* The backend handle, or CKR_OBJECT_HANDLE_INVALID for a handle from another epoch. */
CK_RV	token_handle_in(uint32_t epoch, CK_OBJECT_HANDLE ours, CK_OBJECT_HANDLE *lower);

#endif
