#include "token/token.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/log.h"
#include "common/p11names.h"
#include "common/secret.h"
#include "common/util.h"
#include "conf/conf.h"

struct slot {
	const struct conf_token	*conf;
	CK_SLOT_ID		 backend_slot;
	int			 present;	/* backend_slot holds our token */
	uint32_t		 epoch;		/* bumps when the backend is lost */
	CK_SESSION_HANDLE	 internal;	/* the module's own session, logged in */
	int			 has_internal;
};

struct session {
	int			 used;
	size_t			 slot;
	CK_SESSION_HANDLE	 lower;
	uint32_t		 epoch;
	CK_FLAGS		 flags;
};

struct token {
	const struct kl_conf	*conf;
	void			*dl;
	CK_FUNCTION_LIST_PTR	 lower;
	int			 finalize;	/* we initialised the backend, so we finalise it */
	token_event_fn		 cb;
	void			*cb_arg;
	pthread_mutex_t		 lock;		/* slots[], sessions[] */
	pthread_mutex_t		 recover_lock;	/* one recovery at a time */
	struct slot		*slots;
	size_t			 n_slots;
	struct session		*sessions;	/* index + 1 is the client's handle */
	size_t			 n_sessions;	/* allocated */
};

/*
 * Slot epochs come from one counter for the whole process and never start
 * at 1 again: an object handle kept across C_Finalize/C_Initialize or a
 * backend restart can never name an object made after it
 * (tests/integration/malformed.c, getattr-previous-init).
 */
static atomic_uint_least32_t token_epochs;

static uint32_t
epoch_new(void)
{
	return (uint32_t)(atomic_fetch_add(&token_epochs, 1) + 1);
}

int
token_rv_lost(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	    rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT ||
	    rv == CKR_CRYPTOKI_NOT_INITIALIZED;
}

CK_OBJECT_HANDLE
token_handle_out(uint32_t epoch, CK_OBJECT_HANDLE lower)
{
#if ULONG_MAX > 0xffffffffUL
	if (lower == CK_INVALID_HANDLE)
		return CK_INVALID_HANDLE;
	return ((CK_OBJECT_HANDLE)epoch << 32) | (lower & 0xffffffffUL);
#else
	return lower;	/* 32-bit CK_ULONG: no room for the epoch */
#endif
}

CK_RV
token_handle_in(uint32_t epoch, CK_OBJECT_HANDLE ours, CK_OBJECT_HANDLE *lower)
{
#if ULONG_MAX > 0xffffffffUL
	if ((uint32_t)(ours >> 32) != epoch || (ours & 0xffffffffUL) == 0)
		return CKR_OBJECT_HANDLE_INVALID;
	*lower = ours & 0xffffffffUL;
#else
	*lower = ours;
#endif
	return CKR_OK;
}

static void
emit(struct token *tok, enum token_event ev, size_t slot, CK_RV rv)
{
	if (tok->cb != NULL)
		tok->cb(tok->cb_arg, ev, slot, rv);
}

/* A module keylocker loads must be as trustworthy as the configuration naming it. */
static int
module_file_ok(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		kl_error("backend module %s: %s", path, strerror(errno));
		return 0;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 022) != 0 ||
	    (st.st_uid != 0 && st.st_uid != geteuid())) {
		kl_error("backend module %s is not a regular file owned by root (or this "
		    "user) and writable only by its owner: refusing to load it", path);
		return 0;
	}
	return 1;
}

static CK_RV
backend_init(struct token *tok)
{
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	args.pReserved = tok->conf->init_args;
	rv = tok->lower->C_Initialize(&args);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		/* someone else in this process uses the backend: share it */
		tok->finalize = 0;
		return CKR_OK;
	}
	if (rv != CKR_OK) {
		kl_error("backend %s: C_Initialize: %s", tok->conf->module, kl_ckr(rv));
		return rv;
	}
	tok->finalize = 1;
	return CKR_OK;
}

CK_RV
token_open(const struct kl_conf *conf, token_event_fn cb, void *cb_arg, struct token **out)
{
	CK_C_GetFunctionList getfl;
	struct token *tok = NULL;
	CK_RV rv = CKR_HOST_MEMORY;
	size_t i;

	*out = NULL;
	if ((tok = calloc(1, sizeof(*tok))) == NULL)
		goto out;
	tok->conf = conf;
	tok->cb = cb;
	tok->cb_arg = cb_arg;
	pthread_mutex_init(&tok->lock, NULL);
	pthread_mutex_init(&tok->recover_lock, NULL);
	if ((tok->slots = calloc(conf->n_tokens, sizeof(*tok->slots))) == NULL)
		goto out;
	tok->n_slots = conf->n_tokens;
	for (i = 0; i < tok->n_slots; i++) {
		tok->slots[i].conf = &conf->tokens[i];
		tok->slots[i].epoch = epoch_new();
	}
	/* the backend reads these at load or C_Initialize (SOFTHSM2_CONF) */
	for (i = 0; i < conf->n_env; i++) {
		if (setenv(conf->env[i].name, conf->env[i].value, 1) != 0)
			goto out;
	}
	rv = CKR_GENERAL_ERROR;
	if (!module_file_ok(conf->module))
		goto out;
	if ((tok->dl = dlopen(conf->module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		kl_error("cannot load backend module %s: %s", conf->module, dlerror());
		goto out;
	}
	if ((getfl = (CK_C_GetFunctionList)dlsym(tok->dl, "C_GetFunctionList")) == NULL) {
		kl_error("backend module %s has no C_GetFunctionList", conf->module);
		goto out;
	}
	if ((rv = getfl(&tok->lower)) != CKR_OK || tok->lower == NULL) {
		kl_error("backend %s: C_GetFunctionList: %s", conf->module, kl_ckr(rv));
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	if ((rv = backend_init(tok)) != CKR_OK)
		goto out;
	*out = tok;
	tok = NULL;
	rv = CKR_OK;
 out:
	if (tok != NULL) {
		if (tok->dl != NULL)
			dlclose(tok->dl);
		free(tok->slots);
		pthread_mutex_destroy(&tok->lock);
		pthread_mutex_destroy(&tok->recover_lock);
		free(tok);
	}
	return rv;
}

static void
token_release(struct token *tok, int destroy_locks)
{
	if (tok->dl != NULL)
		dlclose(tok->dl);
	free(tok->sessions);
	free(tok->slots);
	if (destroy_locks) {
		pthread_mutex_destroy(&tok->lock);
		pthread_mutex_destroy(&tok->recover_lock);
	}
	free(tok);
}

void
token_close(struct token *tok)
{
	size_t i;

	if (tok == NULL)
		return;
	for (i = 0; i < tok->n_sessions; i++) {
		if (tok->sessions[i].used &&
		    tok->sessions[i].epoch == tok->slots[tok->sessions[i].slot].epoch)
			(void)tok->lower->C_CloseSession(tok->sessions[i].lower);
	}
	for (i = 0; i < tok->n_slots; i++) {
		if (tok->slots[i].has_internal)
			(void)tok->lower->C_CloseSession(tok->slots[i].internal);
	}
	if (tok->finalize)
		(void)tok->lower->C_Finalize(NULL);
	token_release(tok, 1);
}

void
token_abandon(struct token *tok)
{
	/*
	 * After fork() the backend's state, and maybe our locks (held by a parent
	 * thread at the fork), belong to the parent: no call into it, no destroy.
	 */
	if (tok != NULL)
		token_release(tok, 0);
}

CK_FUNCTION_LIST_PTR
token_lower(const struct token *tok)
{
	return tok->lower;
}

const char *
token_slot_label(const struct token *tok, size_t slot)
{
	return slot < tok->n_slots ? tok->slots[slot].conf->label : NULL;
}

uint32_t
token_slot_epoch(struct token *tok, size_t slot)
{
	uint32_t e;

	pthread_mutex_lock(&tok->lock);
	e = tok->slots[slot].epoch;
	pthread_mutex_unlock(&tok->lock);
	return e;
}

/* Find the backend slot whose token carries the label; no lock held. */
static CK_RV
scan_for_label(struct token *tok, const char *label, CK_SLOT_ID *out)
{
	CK_SLOT_ID *ids = NULL;
	CK_TOKEN_INFO ti;
	CK_ULONG n = 0, i;
	char got[33];
	CK_RV rv;

	if ((rv = tok->lower->C_GetSlotList(CK_TRUE, NULL, &n)) != CKR_OK)
		return rv;
	if (n > 1024)
		return CKR_DEVICE_ERROR;
	if (n == 0)
		return CKR_TOKEN_NOT_PRESENT;
	if ((ids = calloc(n, sizeof(*ids))) == NULL)
		return CKR_HOST_MEMORY;
	if ((rv = tok->lower->C_GetSlotList(CK_TRUE, ids, &n)) != CKR_OK)
		goto out;
	rv = CKR_TOKEN_NOT_PRESENT;
	for (i = 0; i < n; i++) {
		if (tok->lower->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		kl_p11_strtrim(ti.label, sizeof(ti.label), got, sizeof(got));
		if (strcmp(got, label) == 0) {
			*out = ids[i];
			rv = CKR_OK;
			break;
		}
	}
 out:
	free(ids);
	return rv;
}

CK_RV
token_slot_backend(struct token *tok, size_t slot, CK_SLOT_ID *out)
{
	struct slot *s;
	CK_SLOT_ID id;
	CK_RV rv;

	if (slot >= tok->n_slots)
		return CKR_SLOT_ID_INVALID;
	s = &tok->slots[slot];
	pthread_mutex_lock(&tok->lock);
	if (s->present) {
		*out = s->backend_slot;
		pthread_mutex_unlock(&tok->lock);
		return CKR_OK;
	}
	pthread_mutex_unlock(&tok->lock);
	if ((rv = scan_for_label(tok, s->conf->backend_label, &id)) != CKR_OK)
		return rv;
	pthread_mutex_lock(&tok->lock);
	s->backend_slot = id;
	s->present = 1;
	pthread_mutex_unlock(&tok->lock);
	*out = id;
	return CKR_OK;
}

/* Read the backend PIN, log in on h, wipe the PIN. */
static CK_RV
backend_login(struct token *tok, size_t slot, CK_SESSION_HANDLE h)
{
	const struct conf_token *ct = tok->slots[slot].conf;
	struct kl_secret pin = { NULL, 0 };
	const char *env;
	char err[512];
	CK_RV rv;

	if (ct->pin_file != NULL) {
		if (kl_read_secret_file(ct->pin_file, &pin, err, sizeof(err)) != 0) {
			kl_error("token %s: %s", ct->label, err);
			return CKR_DEVICE_ERROR;
		}
	} else {
		if ((env = getenv(ct->pin_env)) == NULL || *env == '\0') {
			kl_error("token %s: environment variable %s (the backend PIN) is "
			    "not set", ct->label, ct->pin_env);
			return CKR_DEVICE_ERROR;
		}
		if (kl_secret_dup(&pin, env, strlen(env)) != 0)
			return CKR_HOST_MEMORY;
	}
	rv = tok->lower->C_Login(h, CKU_USER, pin.p, pin.len);
	kl_secret_clear(&pin);
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = CKR_OK;
	if (rv != CKR_OK) {
		kl_error("token %s: backend login failed: %s%s", ct->label, kl_ckr(rv),
		    rv == CKR_PIN_INCORRECT ? " (check the backend PIN file)" : "");
		emit(tok, TOKEN_EVENT_LOGIN_FAILED, slot, rv);
		/* a wrong backend PIN is the operator's problem, not the client's */
		if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_EXPIRED)
			rv = CKR_DEVICE_ERROR;
	}
	return rv;
}

CK_RV
token_internal_session(struct token *tok, size_t slot, CK_SESSION_HANDLE *out,
		       uint32_t *epoch)
{
	struct slot *s;
	CK_SESSION_HANDLE h;
	CK_SLOT_ID id;
	uint32_t e;
	CK_RV rv;

	if (slot >= tok->n_slots)
		return CKR_SLOT_ID_INVALID;
	s = &tok->slots[slot];
	pthread_mutex_lock(&tok->lock);
	if (s->has_internal) {
		*out = s->internal;
		if (epoch != NULL)
			*epoch = s->epoch;
		pthread_mutex_unlock(&tok->lock);
		return CKR_OK;
	}
	e = s->epoch;
	pthread_mutex_unlock(&tok->lock);

	if ((rv = token_slot_backend(tok, slot, &id)) != CKR_OK)
		return rv;
	rv = tok->lower->C_OpenSession(id, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
	if (rv != CKR_OK) {
		kl_error("token %s: cannot open a backend session: %s", s->conf->label,
		    kl_ckr(rv));
		return rv;
	}
	if ((rv = backend_login(tok, slot, h)) != CKR_OK) {
		(void)tok->lower->C_CloseSession(h);
		return rv;
	}
	pthread_mutex_lock(&tok->lock);
	if (s->has_internal || s->epoch != e) {
		/* another thread won the race, or the backend went away meanwhile */
		pthread_mutex_unlock(&tok->lock);
		(void)tok->lower->C_CloseSession(h);
		return token_internal_session(tok, slot, out, epoch);
	}
	s->internal = h;
	s->has_internal = 1;
	*out = h;
	if (epoch != NULL)
		*epoch = e;
	pthread_mutex_unlock(&tok->lock);
	return CKR_OK;
}

CK_RV
token_session_open(struct token *tok, size_t slot, CK_FLAGS flags, CK_SESSION_HANDLE *out)
{
	struct session *grown;
	CK_SESSION_HANDLE lower, internal;
	CK_SLOT_ID id;
	uint32_t epoch;
	size_t i, n;
	CK_RV rv;

	if (slot >= tok->n_slots)
		return CKR_SLOT_ID_INVALID;
	/* the internal session keeps the backend logged in for every session */
	if ((rv = token_internal_session(tok, slot, &internal, &epoch)) != CKR_OK ||
	    (rv = token_slot_backend(tok, slot, &id)) != CKR_OK)
		return rv;
	if ((rv = tok->lower->C_OpenSession(id, flags, NULL, NULL, &lower)) != CKR_OK)
		return rv;

	pthread_mutex_lock(&tok->lock);
	for (i = 0; i < tok->n_sessions && tok->sessions[i].used; i++)
		;
	if (i == tok->n_sessions) {
		n = tok->n_sessions == 0 ? 16 : tok->n_sessions * 2;
		if (n > TOKEN_SESSIONS_MAX || (grown = realloc(tok->sessions,
		    n * sizeof(*grown))) == NULL) {
			pthread_mutex_unlock(&tok->lock);
			(void)tok->lower->C_CloseSession(lower);
			return n > TOKEN_SESSIONS_MAX ? CKR_SESSION_COUNT : CKR_HOST_MEMORY;
		}
		memset(grown + tok->n_sessions, 0, (n - tok->n_sessions) * sizeof(*grown));
		tok->sessions = grown;
		tok->n_sessions = n;
	}
	tok->sessions[i].used = 1;
	tok->sessions[i].slot = slot;
	tok->sessions[i].lower = lower;
	tok->sessions[i].epoch = epoch;
	tok->sessions[i].flags = flags;
	pthread_mutex_unlock(&tok->lock);
	*out = (CK_SESSION_HANDLE)(i + 1);
	return CKR_OK;
}

static struct session *
session_get_inlock(struct token *tok, CK_SESSION_HANDLE h)
{
	if (h == 0 || h > tok->n_sessions || !tok->sessions[h - 1].used)
		return NULL;
	return &tok->sessions[h - 1];
}

CK_RV
token_session_lookup(struct token *tok, CK_SESSION_HANDLE h, struct token_session_ref *ref)
{
	struct session *s;

	pthread_mutex_lock(&tok->lock);
	if ((s = session_get_inlock(tok, h)) == NULL) {
		pthread_mutex_unlock(&tok->lock);
		return CKR_SESSION_HANDLE_INVALID;
	}
	ref->slot = s->slot;
	ref->lower = s->lower;
	ref->epoch = s->epoch;
	ref->flags = s->flags;
	pthread_mutex_unlock(&tok->lock);
	return CKR_OK;
}

CK_RV
token_session_close(struct token *tok, CK_SESSION_HANDLE h)
{
	struct session *s;
	CK_SESSION_HANDLE lower;
	int live;

	pthread_mutex_lock(&tok->lock);
	if ((s = session_get_inlock(tok, h)) == NULL) {
		pthread_mutex_unlock(&tok->lock);
		return CKR_SESSION_HANDLE_INVALID;
	}
	lower = s->lower;
	live = s->epoch == tok->slots[s->slot].epoch;
	s->used = 0;
	pthread_mutex_unlock(&tok->lock);
	/* a session from before a backend restart is already gone down there */
	if (live)
		(void)tok->lower->C_CloseSession(lower);
	return CKR_OK;
}

CK_RV
token_session_close_all(struct token *tok, size_t slot,
			void (*each_fn)(void *, CK_SESSION_HANDLE), void *arg)
{
	size_t i;

	if (slot >= tok->n_slots)
		return CKR_SLOT_ID_INVALID;
	for (i = 0; i < tok->n_sessions; i++) {
		int match;

		pthread_mutex_lock(&tok->lock);
		match = i < tok->n_sessions && tok->sessions[i].used &&
		    tok->sessions[i].slot == slot;
		pthread_mutex_unlock(&tok->lock);
		if (!match)
			continue;
		if (each_fn != NULL)
			each_fn(arg, (CK_SESSION_HANDLE)(i + 1));
		(void)token_session_close(tok, (CK_SESSION_HANDLE)(i + 1));
	}
	return CKR_OK;
}

size_t
token_session_count(struct token *tok, size_t slot, int rw_only)
{
	size_t i, n = 0;

	pthread_mutex_lock(&tok->lock);
	for (i = 0; i < tok->n_sessions; i++) {
		if (tok->sessions[i].used && tok->sessions[i].slot == slot &&
		    (!rw_only || (tok->sessions[i].flags & CKF_RW_SESSION)))
			n++;
	}
	pthread_mutex_unlock(&tok->lock);
	return n;
}

/* The backend lost everything: finalise and initialise it again. */
static CK_RV
backend_reinit(struct token *tok)
{
	size_t i;

	pthread_mutex_lock(&tok->lock);
	for (i = 0; i < tok->n_slots; i++) {
		tok->slots[i].epoch = epoch_new();
		tok->slots[i].present = 0;
		tok->slots[i].has_internal = 0;
	}
	pthread_mutex_unlock(&tok->lock);
	if (tok->finalize)
		(void)tok->lower->C_Finalize(NULL);
	return backend_init(tok);
}

CK_RV
token_session_recover(struct token *tok, CK_SESSION_HANDLE h, CK_RV rv)
{
	struct session *s;
	struct slot *sl;
	CK_SESSION_HANDLE lower, internal;
	CK_SLOT_ID id;
	uint32_t seen, epoch;
	CK_FLAGS flags;
	size_t slot;
	int noticed = 0;
	CK_RV r;

	if (!token_rv_lost(rv))
		return rv;
	pthread_mutex_lock(&tok->recover_lock);
	pthread_mutex_lock(&tok->lock);
	if ((s = session_get_inlock(tok, h)) == NULL) {
		pthread_mutex_unlock(&tok->lock);
		pthread_mutex_unlock(&tok->recover_lock);
		return CKR_SESSION_HANDLE_INVALID;
	}
	slot = s->slot;
	seen = s->epoch;
	flags = s->flags;
	sl = &tok->slots[slot];
	if (sl->epoch == seen) {
		/* the first to notice: every handle of this epoch is void now */
		sl->epoch = epoch_new();
		sl->present = 0;
		sl->has_internal = 0;
		noticed = 1;
		pthread_mutex_unlock(&tok->lock);
		kl_warn("token %s: backend lost (%s); reconnecting", sl->conf->label,
		    kl_ckr(rv));
		emit(tok, TOKEN_EVENT_LOST, slot, rv);
	} else {
		pthread_mutex_unlock(&tok->lock);
	}

	r = token_internal_session(tok, slot, &internal, &epoch);
	if (r == CKR_CRYPTOKI_NOT_INITIALIZED || r == CKR_DEVICE_REMOVED ||
	    r == CKR_DEVICE_ERROR || r == CKR_GENERAL_ERROR) {
		if ((r = backend_reinit(tok)) == CKR_OK)
			r = token_internal_session(tok, slot, &internal, &epoch);
	}
	if (r == CKR_OK && (r = token_slot_backend(tok, slot, &id)) == CKR_OK)
		r = tok->lower->C_OpenSession(id, flags, NULL, NULL, &lower);
	if (r != CKR_OK) {
		pthread_mutex_unlock(&tok->recover_lock);
		kl_warn("token %s: backend not back yet: %s", sl->conf->label, kl_ckr(r));
		return CKR_DEVICE_REMOVED;
	}
	pthread_mutex_lock(&tok->lock);
	if ((s = session_get_inlock(tok, h)) != NULL) {
		s->lower = lower;
		s->epoch = epoch;
	}
	pthread_mutex_unlock(&tok->lock);
	pthread_mutex_unlock(&tok->recover_lock);
	if (s == NULL) {
		(void)tok->lower->C_CloseSession(lower);
		return CKR_SESSION_HANDLE_INVALID;
	}
	if (noticed) {
		kl_info("token %s: backend session restored", sl->conf->label);
		emit(tok, TOKEN_EVENT_RECOVERED, slot, CKR_OK);
	}
	return CKR_OK;
}
