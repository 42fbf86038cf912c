/*
 * The PKCS#11 2.40 entry points.  Every one follows the same order:
 *   1. initialised?  2. arguments (NULL, lengths, counts, the two-call
 *   convention)  3. session and object handles  4. policy  5. forward
 *   6. record what the gate made, audit, translate handles back.
 * Nothing reaches the backend before 1-4 pass.
 */
#include "pkcs11/gate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/p11names.h"
#include "common/util.h"
#include "kl_paths.h"

static struct gate *gate_g;
static pthread_mutex_t gate_init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t gate_atfork_once = PTHREAD_ONCE_INIT;

/* ---- fork ---------------------------------------------------------------- */

static void
atfork_prepare(void)
{
	pthread_mutex_lock(&gate_init_lock);
	if (gate_g != NULL)
		pthread_mutex_lock(&gate_g->lock);
}

static void
atfork_parent(void)
{
	if (gate_g != NULL)
		pthread_mutex_unlock(&gate_g->lock);
	pthread_mutex_unlock(&gate_init_lock);
}

static void
atfork_child(void)
{
	/* [PKCS#11 2.40, 6.7.7] a child must call C_Initialize before using the library */
	if (gate_g != NULL) {
		pthread_mutex_unlock(&gate_g->lock);
		gate_g->forked = 1;
	}
	pthread_mutex_unlock(&gate_init_lock);
}

static void
register_atfork(void)
{
	(void)pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ---- helpers ---------------------------------------------------------------- */

static struct gate *
live(void)
{
	struct gate *g = gate_g;

	return g != NULL && !g->forked ? g : NULL;
}

/* Who is logged in on c's slot, if anyone. */
static void
load_client_inlock(struct gate_call *c)
{
	const struct gate_slot *gs = &c->g->slots[c->ref.slot];

	if (gs->logged_in) {
		c->client = &c->g->conf->policy.clients[gs->client];
		c->role = c->client->role;
	}
}

/* Steps 1 and 3 for entry points with a session. */
static CK_RV
enter(CK_SESSION_HANDLE h, struct gate_call *c)
{
	CK_RV rv;

	memset(c, 0, sizeof(*c));
	if ((c->g = live()) == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	c->h = h;
	if ((rv = token_session_lookup(c->g->tok, h, &c->ref)) != CKR_OK)
		return rv;
	pthread_mutex_lock(&c->g->lock);
	load_client_inlock(c);
	pthread_mutex_unlock(&c->g->lock);
	return CKR_OK;
}

#define ENTER(c, h) do {						\
	CK_RV enter_rv_ = enter((h), &(c));				\
	if (enter_rv_ != CKR_OK)					\
		return enter_rv_;					\
} while (0)

static const char *
slot_label(struct gate_call *c)
{
	return token_slot_label(c->g->tok, c->ref.slot);
}

void
gate_audit(struct gate_call *c, enum audit_op op, const char *key, const char *object,
	   const CK_MECHANISM *mech, CK_RV rv, const char *detail)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.op = op;
	ev.token = slot_label(c);
	ev.client = c->client != NULL ? c->client->name : NULL;
	ev.role = policy_role_name(c->role);
	ev.key = key;
	ev.object = object;
	if (mech != NULL) {
		ev.mech = mech->mechanism;
		ev.has_mech = 1;
	}
	ev.rv = rv;
	ev.detail = detail;
	audit_emit(c->g->audit, &ev);
}

/* Log and audit a refusal, return its CKR. */
static CK_RV
refuse(struct gate_call *c, const char *fn, const struct policy_decision *dec,
       const struct policy_request *req)
{
	struct audit_event ev;
	const char *key = req->obj != NULL ? req->obj->label : NULL;

	kl_log(KL_LOG_WARN, "policy", "refused %s for %s (%s) on token %s: rule %s: %s", fn,
	    c->client != NULL ? c->client->name : "a client not logged in",
	    policy_role_name(c->role), slot_label(c), dec->rule, dec->detail);
	memset(&ev, 0, sizeof(ev));
	ev.op = AUDIT_DENY;
	ev.token = slot_label(c);
	ev.client = c->client != NULL ? c->client->name : NULL;
	ev.role = policy_role_name(c->role);
	ev.fn = fn;
	ev.key = key != NULL && key[0] != '\0' ? key : NULL;
	ev.object = req->target != NULL && req->target->label[0] != '\0' ?
	    req->target->label : NULL;
	if (req->mech != NULL) {
		ev.mech = req->mech->mechanism;
		ev.has_mech = 1;
	}
	ev.rv = dec->rv;
	ev.rule = dec->rule;
	ev.detail = dec->detail;
	audit_emit(c->g->audit, &ev);
	return dec->rv;
}

static const char *
fn_name(enum policy_fn fn)
{
	size_t i;

	for (i = 0; i < policy_n_rules; i++) {
		if (policy_rules[i].fn == fn)
			return policy_rules[i].name;
	}
	return "?";
}

/* Step 4: fill in who asks, decide, refuse loudly. */
static CK_RV
decide(struct gate_call *c, struct policy_request *req, struct policy_decision *dec)
{
	req->role = c->role;
	req->client = c->client;
	if (policy_decide(&c->g->conf->policy, req, dec) != POLICY_ALLOW)
		return refuse(c, fn_name(req->fn), dec, req);
	return CKR_OK;
}

/* The trail cannot take records and the configuration says fail closed. */
static CK_RV
audit_gate(struct gate_call *c, const char *fn)
{
	if (audit_ok(c->g->audit))
		return CKR_OK;
	kl_error("refused %s: the audit trail cannot record it and audit.on_sink_failure "
	    "is fail-closed", fn);
	return CKR_FUNCTION_FAILED;
}

/* A backend call on c's session failed: recover the session if the backend was lost. */
static CK_RV
after(struct gate_call *c, CK_RV rv)
{
	if (!token_rv_lost(rv))
		return rv;
	(void)token_session_recover(c->g->tok, c->h, rv);
	return CKR_DEVICE_REMOVED;	/* the call itself is lost; the session lives on */
}

/* For calls without handles or state: recover and try once more. */
#define FORWARD_RETRY(c, rv, expr) do {					\
	(rv) = (expr);							\
	if (token_rv_lost(rv)) {					\
		if (token_session_recover((c).g->tok, (c).h, (rv)) == CKR_OK &&	\
		    token_session_lookup((c).g->tok, (c).h, &(c).ref) == CKR_OK)	\
			(rv) = (expr);					\
		else							\
			(rv) = CKR_DEVICE_REMOVED;			\
	}								\
} while (0)

static CK_RV
check_mech(CK_MECHANISM_PTR m)
{
	if (m == NULL)
		return CKR_ARGUMENTS_BAD;
	if (m->ulParameterLen > GATE_MECH_PARAM_MAX ||
	    (m->ulParameterLen != 0 && m->pParameter == NULL))
		return CKR_MECHANISM_PARAM_INVALID;
	return CKR_OK;
}

/* Input data: present when its length says so, and not absurd. */
static CK_RV
check_in(const void *p, CK_ULONG len)
{
	if (len > 0 && p == NULL)
		return CKR_ARGUMENTS_BAD;
	if (len > GATE_DATA_MAX)
		return CKR_DATA_LEN_RANGE;
	return CKR_OK;
}

/* A signature to check: input, but invalid by its length alone [PKCS#11 2.40, C_Verify]. */
static CK_RV
check_sig(const void *p, CK_ULONG len)
{
	CK_RV rv = check_in(p, len);

	return rv == CKR_DATA_LEN_RANGE ? CKR_SIGNATURE_LEN_RANGE : rv;
}

/* Two-call output: the length pointer is required, the buffer may be NULL. */
static CK_RV
check_out(const void *p, CK_ULONG_PTR len)
{
	if (len == NULL)
		return CKR_ARGUMENTS_BAD;
	if (p != NULL && *len > GATE_DATA_MAX)
		*len = GATE_DATA_MAX;	/* nobody needs more; the backend must not see more */
	return CKR_OK;
}

static CK_RV
handle_in(struct gate_call *c, CK_OBJECT_HANDLE ours, CK_OBJECT_HANDLE *lower, CK_RV bad)
{
	return token_handle_in(c->ref.epoch, ours, lower) == CKR_OK ? CKR_OK : bad;
}

static CK_OBJECT_HANDLE
handle_out(struct gate_call *c, CK_OBJECT_HANDLE lower)
{
	return token_handle_out(c->ref.epoch, lower);
}

/* Describe the object behind a client's handle (steps 3 and the start of 4). */
static CK_RV
object(struct gate_call *c, CK_OBJECT_HANDLE ours, CK_RV bad, CK_OBJECT_HANDLE *lower,
       struct policy_object *o)
{
	CK_RV rv;

	if ((rv = handle_in(c, ours, lower, bad)) != CKR_OK)
		return rv;
	rv = gate_describe(c, *lower, o);
	if (rv == CKR_OBJECT_HANDLE_INVALID)
		return bad;
	return after(c, rv);
}

/* Label and id may not repeat a protected key's. */
static CK_RV
collision(struct gate_call *c, struct policy_request *req, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	struct policy_decision dec;
	struct policy_object *prot = NULL;
	size_t np = 0;
	CK_RV rv;

	if (policy_tmpl_find(t, n, CKA_LABEL) == NULL && policy_tmpl_find(t, n, CKA_ID) == NULL)
		return CKR_OK;
	if ((rv = gate_protected(c, &prot, &np)) != CKR_OK)
		return after(c, rv);
	memset(&dec, 0, sizeof(dec));
	if (policy_check_collision(prot, np, t, n, &dec) != POLICY_ALLOW)
		rv = refuse(c, fn_name(req->fn), &dec, req);
	free(prot);
	return rv;
}

static int
protected_kind(enum policy_kind k)
{
	return k == POLICY_KIND_MASTER || k == POLICY_KIND_AUDIT_KEY || k == POLICY_KIND_MAC_KEY;
}

/* Build the forced template; only a protected key may need a fresh CKA_ID. */
static CK_RV
forced(struct gate_call *c, struct policy_request *req, struct policy_decision *dec,
       struct policy_template *out)
{
	unsigned char id[16] = { 0 };
	CK_RV rv;

	if (protected_kind(dec->result_kind) && RAND_bytes(id, sizeof(id)) != 1)
		return CKR_FUNCTION_FAILED;
	rv = policy_build_template(&c->g->conf->policy, req, dec, id, out);
	OPENSSL_cleanse(id, sizeof(id));
	return rv;
}

/* ---- the audit key, for checkpoints -------------------------------------- */

/* Sign msg with the audit key of the first token, in the token. */
static int
audit_sign(void *arg, const unsigned char *msg, size_t len, unsigned char mac[32])
{
	struct gate *g = arg;
	CK_FUNCTION_LIST_PTR fl = token_lower(g->tok);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	const char *label = g->conf->policy.audit_key;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_MECHANISM mech = { CKM_SHA256_HMAC, NULL, 0 };
	CK_OBJECT_HANDLE key[2];
	CK_SESSION_HANDLE s;
	CK_ULONG n = 0, maclen = 32;
	uint32_t epoch;
	CK_RV rv;

	if (token_internal_session(g->tok, 0, &s, &epoch) != CKR_OK)
		return -1;
	pthread_mutex_lock(&gate_internal_op_lock);	/* gate.h */
	rv = fl->C_FindObjectsInit(s, t, 2);
	if (rv == CKR_OK) {
		rv = fl->C_FindObjects(s, key, 2, &n);
		(void)fl->C_FindObjectsFinal(s);
	}
	if (rv == CKR_OK && n == 1 && (rv = fl->C_SignInit(s, &mech, key[0])) == CKR_OK)
		rv = fl->C_Sign(s, (CK_BYTE_PTR)msg, len, mac, &maclen);
	pthread_mutex_unlock(&gate_internal_op_lock);
	if (rv != CKR_OK || n != 1 || maclen != 32) {
		kl_warn("cannot sign an audit checkpoint with \"%s\": %s", label,
		    n == 0 ? "no such key (run keylocker init)" : n > 1 ?
		    "the label is not unique" : kl_ckr(rv));
		return -1;
	}
	return 0;
}

static void
token_event(void *arg, enum token_event ev, size_t slot, CK_RV rv)
{
	struct gate *g = arg;
	struct audit_event e;

	memset(&e, 0, sizeof(e));
	e.op = ev == TOKEN_EVENT_LOST ? AUDIT_BACKEND_LOST :
	    ev == TOKEN_EVENT_RECOVERED ? AUDIT_BACKEND_RECOVERED : AUDIT_LOGIN_FAILED;
	e.token = token_slot_label(g->tok, slot);
	e.rv = rv;
	e.detail = ev == TOKEN_EVENT_LOGIN_FAILED ? "backend login failed" : NULL;
	audit_emit(g->audit, &e);
}

/* ---- general purpose ------------------------------------------------------- */

static void
gate_free(struct gate *g, int abandon)
{
	size_t i;

	if (g == NULL)
		return;
	if (abandon) {
		audit_abandon(g->audit);
		token_abandon(g->tok);
	} else {
		audit_close(g->audit);
		token_close(g->tok);
	}
	for (i = 0; i < g->n_slots; i++) {
		free(g->slots[i].secrets);
		gate_snapshot_free(&g->slots[i].snap);
	}
	free(g->slots);
	conf_free(g->conf);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

/* SHA-256 of the configuration file, so the trail shows which one was loaded. */
static void
conf_digest(const char *path, char hex[65])
{
	unsigned char md[32], buf[4096];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned mdlen = 0;
	FILE *f = fopen(path, "rb");
	size_t n;

	strcpy(hex, "unreadable");
	if (ctx == NULL || f == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		EVP_DigestUpdate(ctx, buf, n);
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32)
		kl_hex_encode(md, 32, hex, 65);
 out:
	if (f != NULL)
		fclose(f);
	EVP_MD_CTX_free(ctx);
}

static CK_RV
gate_C_Initialize(CK_VOID_PTR init_args)
{
	CK_C_INITIALIZE_ARGS_PTR a = init_args;
	struct gate *g = NULL;
	struct audit_event ev;
	char err[1024], digest[65], detail[128];
	CK_RV rv = CKR_HOST_MEMORY;

	if (a != NULL) {
		int have = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) +
		    (a->LockMutex != NULL) + (a->UnlockMutex != NULL);
		if ((have != 0 && have != 4) || a->pReserved != NULL)
			return CKR_ARGUMENTS_BAD;
		/* we always lock with pthreads, which is what CKF_OS_LOCKING_OK offers */
	}
	(void)pthread_once(&gate_atfork_once, register_atfork);
	pthread_mutex_lock(&gate_init_lock);
	if (gate_g != NULL && !gate_g->forked) {
		pthread_mutex_unlock(&gate_init_lock);
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	}
	if (gate_g != NULL) {
		/* in a fork child: the parent's state is not ours to use */
		gate_free(gate_g, 1);
		gate_g = NULL;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL)
		goto out;
	pthread_mutex_init(&g->lock, NULL);
	if (conf_load_file(NULL, &g->conf, err, sizeof(err)) != 0) {
		kl_error("%s", err);
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	g->n_slots = g->conf->n_tokens;
	if ((g->slots = calloc(g->n_slots, sizeof(*g->slots))) == NULL)
		goto out;
	if ((rv = token_open(g->conf, token_event, g, &g->tok)) != CKR_OK) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	if (audit_open(g->conf, audit_sign, g, &g->audit, err, sizeof(err)) != 0) {
		kl_error("%s", err);
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	conf_digest(g->conf->source, digest);
	snprintf(detail, sizeof(detail), "keylocker %s, configuration sha256 %s", KL_VERSION,
	    digest);
	memset(&ev, 0, sizeof(ev));
	ev.op = AUDIT_CONFIG_LOAD;
	ev.object = g->conf->source;
	ev.detail = detail;
	audit_emit(g->audit, &ev);
	gate_g = g;
	g = NULL;
	rv = CKR_OK;
 out:
	gate_free(g, 0);
	pthread_mutex_unlock(&gate_init_lock);
	return rv;
}

/* Record the logout of every client still logged in when the module finalises. */
static void
logout_all(struct gate *g)
{
	struct gate_call c;
	size_t i;

	for (i = 0; i < g->n_slots; i++) {
		memset(&c, 0, sizeof(c));
		c.g = g;
		c.ref.slot = i;
		pthread_mutex_lock(&g->lock);
		load_client_inlock(&c);
		g->slots[i].logged_in = 0;
		pthread_mutex_unlock(&g->lock);
		if (c.client != NULL)
			gate_audit(&c, AUDIT_LOGOUT, NULL, NULL, NULL, CKR_OK, "C_Finalize");
	}
}

static CK_RV
gate_C_Finalize(CK_VOID_PTR reserved)
{
	struct gate *g;

	if (reserved != NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&gate_init_lock);
	if ((g = live()) == NULL) {
		pthread_mutex_unlock(&gate_init_lock);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	gate_g = NULL;
	pthread_mutex_unlock(&gate_init_lock);
	/* [PKCS#11 2.40, C_Finalize] sessions end, and with them the logins */
	logout_all(g);
	gate_free(g, 0);
	return CKR_OK;
}

static CK_RV
gate_C_GetInfo(CK_INFO_PTR info)
{
	if (live() == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	info->cryptokiVersion.major = 2;
	info->cryptokiVersion.minor = 40;
	kl_p11_strfill(info->manufacturerID, sizeof(info->manufacturerID), "keylocker");
	kl_p11_strfill(info->libraryDescription, sizeof(info->libraryDescription),
	    "keylocker policy module");
	info->libraryVersion.major = 0;
	info->libraryVersion.minor = 1;
	return CKR_OK;
}

static CK_RV gate_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

/* ---- slots and tokens ------------------------------------------------------ */

static CK_RV
gate_C_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	struct gate *g = live();
	CK_SLOT_ID ids[256], backend;
	CK_ULONG n = 0, i;

	if (g == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < g->n_slots && i < 256; i++) {
		if (!present || token_slot_backend(g->tok, i, &backend) == CKR_OK)
			ids[n++] = i;
	}
	if (list == NULL) {
		*count = n;
		return CKR_OK;
	}
	if (*count < n) {
		*count = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(list, ids, n * sizeof(*ids));
	*count = n;
	return CKR_OK;
}

static CK_RV
gate_C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	struct gate *g = live();
	CK_SLOT_INFO bi;
	CK_SLOT_ID backend;
	char desc[80];

	if (g == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	if (slot >= g->n_slots)
		return CKR_SLOT_ID_INVALID;
	memset(info, 0, sizeof(*info));
	snprintf(desc, sizeof(desc), "keylocker %s", token_slot_label(g->tok, slot));
	kl_p11_strfill(info->slotDescription, sizeof(info->slotDescription), desc);
	kl_p11_strfill(info->manufacturerID, sizeof(info->manufacturerID), "keylocker");
	if (token_slot_backend(g->tok, slot, &backend) == CKR_OK &&
	    token_lower(g->tok)->C_GetSlotInfo(backend, &bi) == CKR_OK) {
		info->flags = CKF_TOKEN_PRESENT;
		info->hardwareVersion = bi.hardwareVersion;
		info->firmwareVersion = bi.firmwareVersion;
	}
	return CKR_OK;
}

static CK_RV
gate_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	struct gate *g = live();
	CK_SLOT_ID backend;
	unsigned failures = 0;
	int locked = 0;
	CK_RV rv;

	if (g == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	if (slot >= g->n_slots)
		return CKR_SLOT_ID_INVALID;
	if ((rv = token_slot_backend(g->tok, slot, &backend)) != CKR_OK)
		return rv;
	if ((rv = token_lower(g->tok)->C_GetTokenInfo(backend, info)) != CKR_OK)
		return rv;
	kl_p11_strfill(info->label, sizeof(info->label), token_slot_label(g->tok, slot));
	kl_p11_strfill(info->manufacturerID, sizeof(info->manufacturerID), "keylocker");
	kl_p11_strfill(info->model, sizeof(info->model), "keylocker");
	/* client PINs are ours: the backend's PIN state and SO state are not the client's */
	info->flags &= CKF_RNG | CKF_WRITE_PROTECTED | CKF_LOGIN_REQUIRED |
	    CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED | CKF_CLOCK_ON_TOKEN;
	info->flags |= CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED;
	(void)gate_lockout_status(g, slot, &failures, &locked);
	if (failures > 0)
		info->flags |= CKF_USER_PIN_COUNT_LOW;
	if (g->conf->max_failures > 0 && failures + 1 == g->conf->max_failures)
		info->flags |= CKF_USER_PIN_FINAL_TRY;
	if (locked)
		info->flags |= CKF_USER_PIN_LOCKED;
	info->ulMaxSessionCount = TOKEN_SESSIONS_MAX;
	info->ulSessionCount = token_session_count(g->tok, slot, 0);
	info->ulMaxRwSessionCount = TOKEN_SESSIONS_MAX;
	info->ulRwSessionCount = token_session_count(g->tok, slot, 1);
	info->ulMinPinLen = 1;
	info->ulMaxPinLen = GATE_PIN_MAX;
	return CKR_OK;
}

static CK_RV
gate_C_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
	struct gate *g = live();
	CK_SLOT_ID backend;
	CK_RV rv;

	if (g == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	if (slot >= g->n_slots)
		return CKR_SLOT_ID_INVALID;
	if (list != NULL && *count > 4096)
		*count = 4096;
	if ((rv = token_slot_backend(g->tok, slot, &backend)) != CKR_OK)
		return rv;
	return token_lower(g->tok)->C_GetMechanismList(backend, list, count);
}

static CK_RV
gate_C_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
	struct gate *g = live();
	CK_SLOT_ID backend;
	CK_RV rv;

	if (g == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	if (slot >= g->n_slots)
		return CKR_SLOT_ID_INVALID;
	if ((rv = token_slot_backend(g->tok, slot, &backend)) != CKR_OK)
		return rv;
	return token_lower(g->tok)->C_GetMechanismInfo(backend, type, info);
}

/* Entry points refused without a session: no client, so role none. */
static CK_RV
refuse_sessionless(enum policy_fn fn, CK_SLOT_ID slot)
{
	struct policy_decision dec;
	struct policy_request req;
	struct gate_call c;

	memset(&c, 0, sizeof(c));
	if ((c.g = live()) == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (slot >= c.g->n_slots)
		return CKR_SLOT_ID_INVALID;
	c.ref.slot = slot;
	memset(&req, 0, sizeof(req));
	req.fn = fn;
	return decide(&c, &req, &dec);
}

static CK_RV
gate_C_InitToken(CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG len, CK_UTF8CHAR_PTR label)
{
	return refuse_sessionless(POLICY_FN_INIT_TOKEN, slot);
}

static CK_RV
refuse_in_session(CK_SESSION_HANDLE h, enum policy_fn fn)
{
	struct policy_decision dec;
	struct policy_request req;
	struct gate_call c;

	ENTER(c, h);
	memset(&req, 0, sizeof(req));
	req.fn = fn;
	return decide(&c, &req, &dec);
}

static CK_RV
gate_C_InitPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	return refuse_in_session(h, POLICY_FN_INIT_PIN);
}

static CK_RV
gate_C_SetPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR old, CK_ULONG oldlen,
	      CK_UTF8CHAR_PTR new, CK_ULONG newlen)
{
	return refuse_in_session(h, POLICY_FN_SET_PIN);
}

/* ---- sessions ---------------------------------------------------------------- */

static CK_RV
gate_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
		   CK_SESSION_HANDLE_PTR out)
{
	struct gate *g = live();

	if (g == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	if (slot >= g->n_slots)
		return CKR_SLOT_ID_INVALID;
	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	/* callbacks are not passed down: the backend's session handles are not the client's */
	return token_session_open(g->tok, slot, flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION), out);
}

/* [PKCS#11 2.40, 5.6] closing an application's last session logs it out. */
static void
logout_if_last(struct gate_call *c)
{
	struct gate_slot *gs = &c->g->slots[c->ref.slot];
	int was = 0;

	if (token_session_count(c->g->tok, c->ref.slot, 0) > 0)
		return;
	pthread_mutex_lock(&c->g->lock);
	was = gs->logged_in;
	gs->logged_in = 0;
	pthread_mutex_unlock(&c->g->lock);
	if (was)
		gate_audit(c, AUDIT_LOGOUT, NULL, NULL, NULL, CKR_OK, "last session closed");
}

static CK_RV
gate_C_CloseSession(CK_SESSION_HANDLE h)
{
	struct gate_call c;
	CK_RV rv;

	ENTER(c, h);
	/* session objects die with the backend session */
	gate_secrets_drop(&c, h, 0, 0);
	if ((rv = token_session_close(c.g->tok, h)) != CKR_OK)
		return rv;
	logout_if_last(&c);
	return CKR_OK;
}

static void
drop_session_secrets(void *arg, CK_SESSION_HANDLE h)
{
	gate_secrets_drop(arg, h, 0, 0);
}

static CK_RV
gate_C_CloseAllSessions(CK_SLOT_ID slot)
{
	struct gate_call c;

	memset(&c, 0, sizeof(c));
	if ((c.g = live()) == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (slot >= c.g->n_slots)
		return CKR_SLOT_ID_INVALID;
	c.ref.slot = slot;
	pthread_mutex_lock(&c.g->lock);
	load_client_inlock(&c);
	pthread_mutex_unlock(&c.g->lock);
	(void)token_session_close_all(c.g->tok, slot, drop_session_secrets, &c);
	logout_if_last(&c);
	return CKR_OK;
}

static CK_RV
gate_C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
	struct gate_call c;
	CK_RV rv;

	ENTER(c, h);
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	FORWARD_RETRY(c, rv, token_lower(c.g->tok)->C_GetSessionInfo(c.ref.lower, info));
	if (rv != CKR_OK)
		return rv;
	info->slotID = c.ref.slot;
	info->flags &= CKF_RW_SESSION | CKF_SERIAL_SESSION;
	/* the backend is always logged in; the client is what matters */
	if (c.client != NULL)
		info->state = (info->flags & CKF_RW_SESSION) ? CKS_RW_USER_FUNCTIONS :
		    CKS_RO_USER_FUNCTIONS;
	else
		info->state = (info->flags & CKF_RW_SESSION) ? CKS_RW_PUBLIC_SESSION :
		    CKS_RO_PUBLIC_SESSION;
	info->ulDeviceError = 0;
	return CKR_OK;
}

static CK_RV
gate_C_GetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR state, CK_ULONG_PTR len)
{
	return refuse_in_session(h, POLICY_FN_GET_OPERATION_STATE);
}

static CK_RV
gate_C_SetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR state, CK_ULONG len,
			 CK_OBJECT_HANDLE enc, CK_OBJECT_HANDLE auth)
{
	return refuse_in_session(h, POLICY_FN_SET_OPERATION_STATE);
}

static CK_RV
gate_C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	struct policy_decision dec;
	struct policy_request req;
	struct gate_call c;
	CK_RV rv;

	ENTER(c, h);
	if (len > 0 && pin == NULL)
		return CKR_ARGUMENTS_BAD;
	if (len > GATE_PIN_MAX)
		return CKR_PIN_LEN_RANGE;
	switch (user) {
	case CKU_USER:
		break;
	case CKU_SO:
		memset(&req, 0, sizeof(req));
		req.fn = POLICY_FN_LOGIN_SO;
		req.user_type = user;
		return decide(&c, &req, &dec);
	case CKU_CONTEXT_SPECIFIC:
		return CKR_OPERATION_NOT_INITIALIZED;
	default:
		return CKR_USER_TYPE_INVALID;
	}
	if ((rv = audit_gate(&c, "C_Login")) != CKR_OK)
		return rv;
	if (len == 0) {
		/* no protected authentication path; still a failed login for the trail */
		gate_audit(&c, AUDIT_LOGIN_FAILED, NULL, NULL, NULL, CKR_PIN_INCORRECT,
		    "an empty PIN");
		return CKR_PIN_INCORRECT;
	}
	return gate_login(&c, pin, len);
}

static CK_RV
gate_C_Logout(CK_SESSION_HANDLE h)
{
	struct gate_slot *gs;
	struct gate_call c;

	ENTER(c, h);
	gs = &c.g->slots[c.ref.slot];
	pthread_mutex_lock(&c.g->lock);
	if (!gs->logged_in) {
		pthread_mutex_unlock(&c.g->lock);
		return CKR_USER_NOT_LOGGED_IN;
	}
	gs->logged_in = 0;
	pthread_mutex_unlock(&c.g->lock);
	/* no unwrapped secret outlives the login that made it */
	gate_secrets_drop(&c, 0, 1, 1);
	gate_audit(&c, AUDIT_LOGOUT, NULL, NULL, NULL, CKR_OK, NULL);
	return CKR_OK;
}

/* ---- objects ------------------------------------------------------------------ */

static CK_RV
gate_C_CreateObject(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n,
		    CK_OBJECT_HANDLE_PTR out)
{
	struct policy_request req;
	struct policy_decision dec;
	struct policy_template ft;
	struct policy_object master;
	struct gate_call c;
	CK_OBJECT_HANDLE lower;
	CK_ULONG cls;
	char label[POLICY_LABEL_MAX + 1];
	CK_RV rv;

	ENTER(c, h);
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = policy_template_shape(t, n)) != CKR_OK)
		return rv;
	memset(&req, 0, sizeof(req));
	req.fn = POLICY_FN_CREATE_OBJECT;
	req.tmpl = t;
	req.n_tmpl = n;
	policy_tmpl_label(t, n, label, sizeof(label));
	/* a retirement marker names its master key: find it for the decision */
	if (policy_tmpl_ulong(t, n, CKA_CLASS, &cls) == 1 && cls == CKO_DATA &&
	    strncmp(label, POLICY_RETIRED_PREFIX, sizeof(POLICY_RETIRED_PREFIX) - 1) == 0 &&
	    gate_find_master(&c, label + sizeof(POLICY_RETIRED_PREFIX) - 1, &master) == CKR_OK)
		req.obj = &master;
	if ((rv = decide(&c, &req, &dec)) != CKR_OK ||
	    (rv = collision(&c, &req, t, n)) != CKR_OK ||
	    (rv = forced(&c, &req, &dec, &ft)) != CKR_OK)
		return rv;
	FORWARD_RETRY(c, rv, token_lower(c.g->tok)->C_CreateObject(c.ref.lower, ft.attrs,
	    ft.n, &lower));
	if (rv != CKR_OK)
		return rv;
	if (dec.result_kind == POLICY_KIND_SECRET &&
	    gate_secret_add(c.g, c.ref.slot, lower, c.ref.epoch, h, label) != 0) {
		(void)token_lower(c.g->tok)->C_DestroyObject(c.ref.lower, lower);
		return CKR_DEVICE_MEMORY;
	}
	if (dec.result_kind == POLICY_KIND_MARKER) {
		gate_snapshot_invalidate(c.g, c.ref.slot);
		gate_audit(&c, AUDIT_KEY_RETIRED, label + sizeof(POLICY_RETIRED_PREFIX) - 1,
		    NULL, NULL, CKR_OK, NULL);
	}
	*out = handle_out(&c, lower);
	return CKR_OK;
}

static CK_RV
gate_C_CopyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR t,
		  CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
	struct policy_request req;
	struct policy_decision dec;
	struct policy_template ft;
	struct policy_object o;
	struct gate_call c;
	CK_OBJECT_HANDLE lower, copy;
	CK_RV rv;

	ENTER(c, h);
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = policy_template_shape(t, n)) != CKR_OK ||
	    (rv = object(&c, obj, CKR_OBJECT_HANDLE_INVALID, &lower, &o)) != CKR_OK)
		return rv;
	memset(&req, 0, sizeof(req));
	req.fn = POLICY_FN_COPY_OBJECT;
	req.obj = &o;
	req.tmpl = t;
	req.n_tmpl = n;
	if ((rv = decide(&c, &req, &dec)) != CKR_OK ||
	    (rv = collision(&c, &req, t, n)) != CKR_OK ||
	    (rv = forced(&c, &req, &dec, &ft)) != CKR_OK)
		return rv;
	rv = token_lower(c.g->tok)->C_CopyObject(c.ref.lower, lower, ft.attrs, ft.n, &copy);
	if (rv != CKR_OK)
		return after(&c, rv);
	*out = handle_out(&c, copy);
	return CKR_OK;
}

static CK_RV
gate_C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj)
{
	struct policy_request req;
	struct policy_decision dec;
	struct policy_object o;
	struct gate_call c;
	CK_OBJECT_HANDLE lower;
	CK_RV rv;

	ENTER(c, h);
	if ((rv = object(&c, obj, CKR_OBJECT_HANDLE_INVALID, &lower, &o)) != CKR_OK)
		return rv;
	memset(&req, 0, sizeof(req));
	req.fn = POLICY_FN_DESTROY_OBJECT;
	req.obj = &o;
	if ((rv = decide(&c, &req, &dec)) != CKR_OK)
		return rv;
	if ((rv = token_lower(c.g->tok)->C_DestroyObject(c.ref.lower, lower)) != CKR_OK)
		return after(&c, rv);
	if (o.kind == POLICY_KIND_SECRET)
		gate_secret_remove(c.g, c.ref.slot, lower);
	if (protected_kind(o.kind) || o.kind == POLICY_KIND_MARKER) {
		gate_snapshot_invalidate(c.g, c.ref.slot);
		if (o.kind == POLICY_KIND_MARKER)
			gate_audit(&c, AUDIT_KEY_UNRETIRED, o.label + sizeof(POLICY_RETIRED_PREFIX) - 1,
			    NULL, NULL, CKR_OK, NULL);
		else
			gate_audit(&c, AUDIT_KEY_DESTROYED, o.label, NULL, NULL, CKR_OK, NULL);
	}
	return CKR_OK;
}

static CK_RV
gate_C_GetObjectSize(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ULONG_PTR size)
{
	struct policy_request req;
	struct policy_decision dec;
	struct policy_object o;
	struct gate_call c;
	CK_OBJECT_HANDLE lower;
	CK_RV rv;

	ENTER(c, h);
	if (size == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = object(&c, obj, CKR_OBJECT_HANDLE_INVALID, &lower, &o)) != CKR_OK)
		return rv;
	memset(&req, 0, sizeof(req));
	req.fn = POLICY_FN_GET_OBJECT_SIZE;
	req.obj = &o;
	if ((rv = decide(&c, &req, &dec)) != CKR_OK)
		return rv;
	return after(&c, token_lower(c.g->tok)->C_GetObjectSize(c.ref.lower, lower, size));
}

static CK_RV
gate_C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR t,
			 CK_ULONG n)
{
	CK_ATTRIBUTE fwd[GATE_ATTR_COUNT_MAX];
	CK_ULONG map[GATE_ATTR_COUNT_MAX];
	struct policy_request req;
	struct policy_decision dec;
	struct policy_object o;
	struct gate_call c;
	CK_OBJECT_HANDLE lower;
	CK_ULONG i, nf = 0;
	int denied = 0;
	CK_RV rv = CKR_OK;

	ENTER(c, h);
	if (n > GATE_ATTR_COUNT_MAX)
		return CKR_ARGUMENTS_BAD;
	if (n > 0 && t == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = object(&c, obj, CKR_OBJECT_HANDLE_INVALID, &lower, &o)) != CKR_OK)
		return rv;
	/* decide attribute by attribute; only the allowed ones go down */
	for (i = 0; i < n; i++) {
		memset(&req, 0, sizeof(req));
		req.fn = POLICY_FN_GET_ATTRIBUTE_VALUE;
		req.obj = &o;
		req.attr = t[i].type;
		req.role = c.role;
		req.client = c.client;
		if (policy_decide(&c.g->conf->policy, &req, &dec) != POLICY_ALLOW) {
			if (dec.rv == CKR_OBJECT_HANDLE_INVALID)
				return CKR_OBJECT_HANDLE_INVALID;	/* invisible: say nothing */
			(void)refuse(&c, "C_GetAttributeValue", &dec, &req);
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			denied = 1;
			continue;
		}
		fwd[nf] = t[i];
		if (fwd[nf].pValue != NULL && fwd[nf].ulValueLen > GATE_DATA_MAX)
			fwd[nf].ulValueLen = GATE_DATA_MAX;
		map[nf++] = i;
	}
	if (nf > 0) {
		rv = token_lower(c.g->tok)->C_GetAttributeValue(c.ref.lower, lower, fwd, nf);
		if (token_rv_lost(rv))
			return after(&c, rv);
		for (i = 0; i < nf; i++)
			t[map[i]].ulValueLen = fwd[i].ulValueLen;
	}
	if (denied && rv == CKR_OK)
		rv = CKR_ATTRIBUTE_SENSITIVE;
	return rv;
}

static CK_RV
gate_C_SetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR t,
			 CK_ULONG n)
{
	struct policy_request req;
	struct policy_decision dec;
	struct policy_object o;
	struct gate_call c;
	CK_OBJECT_HANDLE lower;
	CK_RV rv;

	ENTER(c, h);
	if ((rv = policy_template_shape(t, n)) != CKR_OK ||
	    (rv = object(&c, obj, CKR_OBJECT_HANDLE_INVALID, &lower, &o)) != CKR_OK)
		return rv;
	memset(&req, 0, sizeof(req));
	req.fn = POLICY_FN_SET_ATTRIBUTE_VALUE;
	req.obj = &o;
	req.tmpl = t;
	req.n_tmpl = n;
	if ((rv = decide(&c, &req, &dec)) != CKR_OK ||
	    (rv = collision(&c, &req, t, n)) != CKR_OK)
		return rv;
	return after(&c, token_lower(c.g->tok)->C_SetAttributeValue(c.ref.lower, lower, t, n));
}

static CK_RV
gate_C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	CK_ATTRIBUTE fwd[64];
	CK_BBOOL public_only = CK_FALSE, want;
	struct policy_request req;
	struct policy_decision dec;
	struct gate_call c;
	CK_ULONG i, nf = 0;
	CK_RV rv;

	ENTER(c, h);
	if ((rv = policy_template_shape(t, n)) != CKR_OK)
		return rv;
	memset(&req, 0, sizeof(req));
	req.fn = POLICY_FN_FIND_OBJECTS_INIT;
	req.tmpl = t;
	req.n_tmpl = n;
	if ((rv = decide(&c, &req, &dec)) != CKR_OK)
		return rv;
	for (i = 0; i < n; i++)
		fwd[nf++] = t[i];
	if (dec.public_only) {
		/* not logged in: private objects do not exist, as on a token */
		if (policy_tmpl_bool(t, n, CKA_PRIVATE, &want) == 1 && want == CK_TRUE) {
			/* a class no object has: the search finds nothing */
			static CK_OBJECT_CLASS none = CKO_VENDOR_DEFINED | 0x6b6c6e6fUL;
			static const CK_ATTRIBUTE nothing = { CKA_CLASS, &none, sizeof(none) };
			nf = 0;
			fwd[nf++] = nothing;
		} else if (policy_tmpl_find(t, n, CKA_PRIVATE) == NULL) {
			fwd[nf].type = CKA_PRIVATE;
			fwd[nf].pValue = &public_only;
			fwd[nf++].ulValueLen = sizeof(public_only);
		}
	}
	FORWARD_RETRY(c, rv, token_lower(c.g->tok)->C_FindObjectsInit(c.ref.lower,
	    nf > 0 ? fwd : NULL, nf));
	return rv;
}

static CK_RV
gate_C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max,
		   CK_ULONG_PTR count)
{
	struct gate_call c;
	CK_ULONG i;
	CK_RV rv;

	ENTER(c, h);
	if (count == NULL || (max > 0 && out == NULL))
		return CKR_ARGUMENTS_BAD;
	if (max > GATE_FIND_MAX)
		max = GATE_FIND_MAX;
	rv = token_lower(c.g->tok)->C_FindObjects(c.ref.lower, out, max, count);
	if (rv != CKR_OK)
		return after(&c, rv);
	if (*count > max) {
		*count = 0;
		return CKR_DEVICE_ERROR;	/* a backend that wrote past the buffer */
	}
	for (i = 0; i < *count; i++)
		out[i] = handle_out(&c, out[i]);
	return CKR_OK;
}

static CK_RV
gate_C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
	struct gate_call c;

	ENTER(c, h);
	return after(&c, token_lower(c.g->tok)->C_FindObjectsFinal(c.ref.lower));
}

/* ---- cryptographic operations -------------------------------------------------- */

/* C_EncryptInit, C_DecryptInit, C_SignInit, C_SignRecoverInit, C_VerifyInit,
 * C_VerifyRecoverInit, C_DigestKey: one shape. */
static CK_RV
key_init(CK_SESSION_HANDLE h, enum policy_fn fn, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	struct policy_request req;
	struct policy_decision dec;
	struct policy_object o;
	struct gate_call c;
	CK_FUNCTION_LIST_PTR fl;
	CK_OBJECT_HANDLE lower;
	CK_RV rv;

	ENTER(c, h);
	if (fn != POLICY_FN_DIGEST_KEY && (rv = check_mech(mech)) != CKR_OK)
		return rv;
	if ((rv = object(&c, key, CKR_KEY_HANDLE_INVALID, &lower, &o)) != CKR_OK)
		return rv;
	memset(&req, 0, sizeof(req));
	req.fn = fn;
	req.mech = mech;
	req.obj = &o;
	if ((rv = decide(&c, &req, &dec)) != CKR_OK)
		return rv;
	fl = token_lower(c.g->tok);
	switch (fn) {
	case POLICY_FN_ENCRYPT_INIT:
		rv = fl->C_EncryptInit(c.ref.lower, mech, lower);
		break;
	case POLICY_FN_DECRYPT_INIT:
		rv = fl->C_DecryptInit(c.ref.lower, mech, lower);
		break;
	case POLICY_FN_SIGN_INIT:
		rv = fl->C_SignInit(c.ref.lower, mech, lower);
		break;
	case POLICY_FN_SIGN_RECOVER_INIT:
		rv = fl->C_SignRecoverInit(c.ref.lower, mech, lower);
		break;
	case POLICY_FN_VERIFY_INIT:
		rv = fl->C_VerifyInit(c.ref.lower, mech, lower);
		break;
	case POLICY_FN_VERIFY_RECOVER_INIT:
		rv = fl->C_VerifyRecoverInit(c.ref.lower, mech, lower);
		break;
	case POLICY_FN_DIGEST_KEY:
		rv = fl->C_DigestKey(c.ref.lower, lower);
		break;
	default:
		rv = CKR_GENERAL_ERROR;
		break;
	}
	return after(&c, rv);
}

static CK_RV
gate_C_EncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	return key_init(h, POLICY_FN_ENCRYPT_INIT, m, k);
}

static CK_RV
gate_C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	return key_init(h, POLICY_FN_DECRYPT_INIT, m, k);
}

static CK_RV
gate_C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	return key_init(h, POLICY_FN_SIGN_INIT, m, k);
}

static CK_RV
gate_C_SignRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	return key_init(h, POLICY_FN_SIGN_RECOVER_INIT, m, k);
}

static CK_RV
gate_C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	return key_init(h, POLICY_FN_VERIFY_INIT, m, k);
}

static CK_RV
gate_C_VerifyRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	return key_init(h, POLICY_FN_VERIFY_RECOVER_INIT, m, k);
}

static CK_RV
gate_C_DigestKey(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k)
{
	return key_init(h, POLICY_FN_DIGEST_KEY, NULL, k);
}

static CK_RV
gate_C_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m)
{
	struct policy_request req;
	struct policy_decision dec;
	struct gate_call c;
	CK_RV rv;

	ENTER(c, h);
	if ((rv = check_mech(m)) != CKR_OK)
		return rv;
	memset(&req, 0, sizeof(req));
	req.fn = POLICY_FN_DIGEST_INIT;
	req.mech = m;
	if ((rv = decide(&c, &req, &dec)) != CKR_OK)
		return rv;
	FORWARD_RETRY(c, rv, token_lower(c.g->tok)->C_DigestInit(c.ref.lower, m));
	return rv;
}

/*
 * Operations that continue an Init the gate allowed: arguments checked,
 * then straight down.  One macro per shape keeps the checks identical.
 */
#define ONE_SHOT(name)							\
static CK_RV								\
gate_##name(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,	\
	    CK_BYTE_PTR out, CK_ULONG_PTR outlen)			\
{									\
	struct gate_call c;						\
	CK_RV rv;							\
									\
	ENTER(c, h);							\
	if ((rv = check_in(in, inlen)) != CKR_OK ||			\
	    (rv = check_out(out, outlen)) != CKR_OK)			\
		return rv;						\
	return after(&c, token_lower(c.g->tok)->name(c.ref.lower, in, inlen, out, outlen)); \
}

#define UPDATE_IN(name)							\
static CK_RV								\
gate_##name(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen)	\
{									\
	struct gate_call c;						\
	CK_RV rv;							\
									\
	ENTER(c, h);							\
	if ((rv = check_in(in, inlen)) != CKR_OK)			\
		return rv;						\
	return after(&c, token_lower(c.g->tok)->name(c.ref.lower, in, inlen)); \
}

#define FINAL_OUT(name)							\
static CK_RV								\
gate_##name(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)	\
{									\
	struct gate_call c;						\
	CK_RV rv;							\
									\
	ENTER(c, h);							\
	if ((rv = check_out(out, outlen)) != CKR_OK)			\
		return rv;						\
	return after(&c, token_lower(c.g->tok)->name(c.ref.lower, out, outlen)); \
}

ONE_SHOT(C_Encrypt)
ONE_SHOT(C_EncryptUpdate)
ONE_SHOT(C_Decrypt)
ONE_SHOT(C_DecryptUpdate)
ONE_SHOT(C_Digest)
ONE_SHOT(C_Sign)
ONE_SHOT(C_SignRecover)
ONE_SHOT(C_VerifyRecover)
ONE_SHOT(C_DigestEncryptUpdate)
ONE_SHOT(C_DecryptDigestUpdate)
ONE_SHOT(C_SignEncryptUpdate)
ONE_SHOT(C_DecryptVerifyUpdate)
UPDATE_IN(C_DigestUpdate)
UPDATE_IN(C_SignUpdate)
UPDATE_IN(C_VerifyUpdate)
FINAL_OUT(C_EncryptFinal)
FINAL_OUT(C_DecryptFinal)
FINAL_OUT(C_DigestFinal)
FINAL_OUT(C_SignFinal)

static CK_RV
gate_C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
	      CK_ULONG siglen)
{
	struct gate_call c;
	CK_RV rv;

	ENTER(c, h);
	if ((rv = check_in(data, len)) != CKR_OK || (rv = check_sig(sig, siglen)) != CKR_OK)
		return rv;
	return after(&c, token_lower(c.g->tok)->C_Verify(c.ref.lower, data, len, sig, siglen));
}

static CK_RV
gate_C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen)
{
	struct gate_call c;
	CK_RV rv;

	ENTER(c, h);
	if ((rv = check_sig(sig, siglen)) != CKR_OK)
		return rv;
	return after(&c, token_lower(c.g->tok)->C_VerifyFinal(c.ref.lower, sig, siglen));
}

/* ---- keys ------------------------------------------------------------------------- */

static CK_RV
gate_C_GenerateKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR t,
		   CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
	struct policy_request req;
	struct policy_decision dec;
	struct policy_template ft;
	struct gate_call c;
	CK_OBJECT_HANDLE lower;
	char label[POLICY_LABEL_MAX + 1];
	CK_RV rv;

	ENTER(c, h);
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = check_mech(mech)) != CKR_OK || (rv = policy_template_shape(t, n)) != CKR_OK)
		return rv;
	memset(&req, 0, sizeof(req));
	req.fn = POLICY_FN_GENERATE_KEY;
	req.mech = mech;
	req.tmpl = t;
	req.n_tmpl = n;
	if ((rv = decide(&c, &req, &dec)) != CKR_OK ||
	    (rv = collision(&c, &req, t, n)) != CKR_OK ||
	    (rv = forced(&c, &req, &dec, &ft)) != CKR_OK)
		return rv;
	if (protected_kind(dec.result_kind) && (rv = audit_gate(&c, "C_GenerateKey")) != CKR_OK)
		return rv;
	FORWARD_RETRY(c, rv, token_lower(c.g->tok)->C_GenerateKey(c.ref.lower, mech, ft.attrs,
	    ft.n, &lower));
	policy_tmpl_label(ft.attrs, ft.n, label, sizeof(label));
	if (protected_kind(dec.result_kind)) {
		gate_snapshot_invalidate(c.g, c.ref.slot);
		gate_audit(&c, AUDIT_KEY_GENERATED, label, NULL, mech, rv, NULL);
		if (rv == CKR_OK)
			kl_info("%s generated %s \"%s\" on token %s", c.client->name,
			    dec.result_kind == POLICY_KIND_MASTER ? "master key" : "HMAC key",
			    label, slot_label(&c));
	}
	if (rv != CKR_OK)
		return rv;
	if (dec.result_kind == POLICY_KIND_SECRET &&
	    gate_secret_add(c.g, c.ref.slot, lower, c.ref.epoch, h, label) != 0) {
		(void)token_lower(c.g->tok)->C_DestroyObject(c.ref.lower, lower);
		return CKR_DEVICE_MEMORY;
	}
	*out = handle_out(&c, lower);
	return CKR_OK;
}

static CK_RV
gate_C_GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR pub,
		       CK_ULONG npub, CK_ATTRIBUTE_PTR priv, CK_ULONG npriv,
		       CK_OBJECT_HANDLE_PTR out_pub, CK_OBJECT_HANDLE_PTR out_priv)
{
	struct policy_request req, req_priv;
	struct policy_decision dec;
	struct policy_template fpub, fpriv;
	struct gate_call c;
	CK_OBJECT_HANDLE lpub, lpriv;
	CK_RV rv;

	ENTER(c, h);
	if (out_pub == NULL || out_priv == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = check_mech(mech)) != CKR_OK ||
	    (rv = policy_template_shape(pub, npub)) != CKR_OK ||
	    (rv = policy_template_shape(priv, npriv)) != CKR_OK)
		return rv;
	memset(&req, 0, sizeof(req));
	req.fn = POLICY_FN_GENERATE_KEY_PAIR;
	req.mech = mech;
	req.tmpl = pub;
	req.n_tmpl = npub;
	if ((rv = decide(&c, &req, &dec)) != CKR_OK ||
	    (rv = collision(&c, &req, pub, npub)) != CKR_OK ||
	    (rv = collision(&c, &req, priv, npriv)) != CKR_OK ||
	    (rv = forced(&c, &req, &dec, &fpub)) != CKR_OK)
		return rv;
	req_priv = req;
	req_priv.tmpl = priv;
	req_priv.n_tmpl = npriv;
	req_priv.pair_private = 1;
	if ((rv = forced(&c, &req_priv, &dec, &fpriv)) != CKR_OK)
		return rv;
	rv = token_lower(c.g->tok)->C_GenerateKeyPair(c.ref.lower, mech, fpub.attrs, fpub.n,
	    fpriv.attrs, fpriv.n, &lpub, &lpriv);
	if (rv != CKR_OK)
		return after(&c, rv);
	*out_pub = handle_out(&c, lpub);
	*out_priv = handle_out(&c, lpriv);
	return CKR_OK;
}

static CK_RV
gate_C_WrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE wrapping,
	       CK_OBJECT_HANDLE key, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	struct policy_request req;
	struct policy_decision dec;
	struct policy_object wk, k;
	struct gate_call c;
	CK_OBJECT_HANDLE lwk, lk;
	CK_RV rv;

	ENTER(c, h);
	if ((rv = check_mech(mech)) != CKR_OK || (rv = check_out(out, outlen)) != CKR_OK ||
	    (rv = object(&c, wrapping, CKR_WRAPPING_KEY_HANDLE_INVALID, &lwk, &wk)) != CKR_OK ||
	    (rv = object(&c, key, CKR_KEY_HANDLE_INVALID, &lk, &k)) != CKR_OK)
		return rv;
	memset(&req, 0, sizeof(req));
	req.fn = POLICY_FN_WRAP_KEY;
	req.mech = mech;
	req.obj = &wk;
	req.target = &k;
	if ((rv = decide(&c, &req, &dec)) != CKR_OK ||
	    (rv = audit_gate(&c, "C_WrapKey")) != CKR_OK)
		return rv;
	rv = token_lower(c.g->tok)->C_WrapKey(c.ref.lower, mech, lwk, lk, out, outlen);
	if (out != NULL || rv != CKR_OK)	/* the length query is not a use */
		gate_audit(&c, AUDIT_WRAP, wk.label, k.label, mech, rv, NULL);
	return after(&c, rv);
}

static CK_RV
gate_C_UnwrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE unwrapping,
		 CK_BYTE_PTR wrapped, CK_ULONG len, CK_ATTRIBUTE_PTR t, CK_ULONG n,
		 CK_OBJECT_HANDLE_PTR out)
{
	struct policy_request req;
	struct policy_decision dec;
	struct policy_template ft;
	struct policy_object uk;
	struct gate_call c;
	CK_OBJECT_HANDLE luk, lower = CK_INVALID_HANDLE;
	char label[POLICY_LABEL_MAX + 1];
	CK_RV rv;

	ENTER(c, h);
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = check_mech(mech)) != CKR_OK)
		return rv;
	if (len > 0 && wrapped == NULL)
		return CKR_ARGUMENTS_BAD;
	if (len > GATE_DATA_MAX)
		return CKR_WRAPPED_KEY_LEN_RANGE;
	if ((rv = policy_template_shape(t, n)) != CKR_OK ||
	    (rv = object(&c, unwrapping, CKR_UNWRAPPING_KEY_HANDLE_INVALID, &luk, &uk)) != CKR_OK)
		return rv;
	memset(&req, 0, sizeof(req));
	req.fn = POLICY_FN_UNWRAP_KEY;
	req.mech = mech;
	req.obj = &uk;
	req.tmpl = t;
	req.n_tmpl = n;
	if ((rv = decide(&c, &req, &dec)) != CKR_OK ||
	    (rv = collision(&c, &req, t, n)) != CKR_OK ||
	    (rv = audit_gate(&c, "C_UnwrapKey")) != CKR_OK ||
	    (rv = forced(&c, &req, &dec, &ft)) != CKR_OK)
		return rv;
	rv = token_lower(c.g->tok)->C_UnwrapKey(c.ref.lower, mech, luk, wrapped, len,
	    ft.attrs, ft.n, &lower);
	policy_tmpl_label(t, n, label, sizeof(label));
	gate_audit(&c, AUDIT_UNWRAP, uk.label, label, mech, rv, NULL);
	if (rv != CKR_OK)
		return after(&c, rv);
	if (gate_secret_add(c.g, c.ref.slot, lower, c.ref.epoch, h, label) != 0) {
		(void)token_lower(c.g->tok)->C_DestroyObject(c.ref.lower, lower);
		return CKR_DEVICE_MEMORY;
	}
	*out = handle_out(&c, lower);
	return CKR_OK;
}

static CK_RV
gate_C_DeriveKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE base,
		 CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
	struct policy_request req;
	struct policy_decision dec;
	struct policy_template ft;
	struct policy_object o;
	struct gate_call c;
	CK_OBJECT_HANDLE lbase, lower;
	CK_RV rv;

	ENTER(c, h);
	if ((rv = check_mech(mech)) != CKR_OK || (rv = policy_template_shape(t, n)) != CKR_OK ||
	    (rv = object(&c, base, CKR_KEY_HANDLE_INVALID, &lbase, &o)) != CKR_OK)
		return rv;
	memset(&req, 0, sizeof(req));
	req.fn = POLICY_FN_DERIVE_KEY;
	req.mech = mech;
	req.obj = &o;
	req.tmpl = t;
	req.n_tmpl = n;
	if ((rv = decide(&c, &req, &dec)) != CKR_OK ||
	    (rv = collision(&c, &req, t, n)) != CKR_OK ||
	    (rv = forced(&c, &req, &dec, &ft)) != CKR_OK)
		return rv;
	/* [PKCS#11 2.40] some derivations (TLS key material) return no handle */
	rv = token_lower(c.g->tok)->C_DeriveKey(c.ref.lower, mech, lbase, ft.attrs, ft.n,
	    out != NULL ? &lower : NULL);
	if (rv != CKR_OK)
		return after(&c, rv);
	if (out != NULL)
		*out = handle_out(&c, lower);
	return CKR_OK;
}

/* ---- random numbers and legacy ------------------------------------------------------ */

static CK_RV
gate_C_SeedRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR seed, CK_ULONG len)
{
	struct policy_request req;
	struct policy_decision dec;
	struct gate_call c;
	CK_RV rv;

	ENTER(c, h);
	if ((rv = check_in(seed, len)) != CKR_OK)
		return rv;
	memset(&req, 0, sizeof(req));
	req.fn = POLICY_FN_SEED_RANDOM;
	if ((rv = decide(&c, &req, &dec)) != CKR_OK)
		return rv;
	return after(&c, token_lower(c.g->tok)->C_SeedRandom(c.ref.lower, seed, len));
}

static CK_RV
gate_C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR buf, CK_ULONG len)
{
	struct policy_request req;
	struct policy_decision dec;
	struct gate_call c;
	CK_RV rv;

	ENTER(c, h);
	if ((rv = check_in(buf, len)) != CKR_OK)
		return rv;
	memset(&req, 0, sizeof(req));
	req.fn = POLICY_FN_GENERATE_RANDOM;
	if ((rv = decide(&c, &req, &dec)) != CKR_OK)
		return rv;
	FORWARD_RETRY(c, rv, token_lower(c.g->tok)->C_GenerateRandom(c.ref.lower, buf, len));
	return rv;
}

static CK_RV
gate_C_GetFunctionStatus(CK_SESSION_HANDLE h)
{
	struct gate_call c;

	ENTER(c, h);
	return CKR_FUNCTION_NOT_PARALLEL;
}

static CK_RV
gate_C_CancelFunction(CK_SESSION_HANDLE h)
{
	struct gate_call c;

	ENTER(c, h);
	return CKR_FUNCTION_NOT_PARALLEL;
}

static CK_RV
gate_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved)
{
	if (live() == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (slot == NULL || reserved != NULL)
		return CKR_ARGUMENTS_BAD;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

/* ---- the function list ------------------------------------------------------------------ */

const CK_FUNCTION_LIST gate_function_list = {
	{ 2, 40 },
	gate_C_Initialize, gate_C_Finalize, gate_C_GetInfo, gate_C_GetFunctionList,
	gate_C_GetSlotList, gate_C_GetSlotInfo, gate_C_GetTokenInfo,
	gate_C_GetMechanismList, gate_C_GetMechanismInfo, gate_C_InitToken,
	gate_C_InitPIN, gate_C_SetPIN, gate_C_OpenSession, gate_C_CloseSession,
	gate_C_CloseAllSessions, gate_C_GetSessionInfo, gate_C_GetOperationState,
	gate_C_SetOperationState, gate_C_Login, gate_C_Logout, gate_C_CreateObject,
	gate_C_CopyObject, gate_C_DestroyObject, gate_C_GetObjectSize,
	gate_C_GetAttributeValue, gate_C_SetAttributeValue, gate_C_FindObjectsInit,
	gate_C_FindObjects, gate_C_FindObjectsFinal, gate_C_EncryptInit, gate_C_Encrypt,
	gate_C_EncryptUpdate, gate_C_EncryptFinal, gate_C_DecryptInit, gate_C_Decrypt,
	gate_C_DecryptUpdate, gate_C_DecryptFinal, gate_C_DigestInit, gate_C_Digest,
	gate_C_DigestUpdate, gate_C_DigestKey, gate_C_DigestFinal, gate_C_SignInit,
	gate_C_Sign, gate_C_SignUpdate, gate_C_SignFinal, gate_C_SignRecoverInit,
	gate_C_SignRecover, gate_C_VerifyInit, gate_C_Verify, gate_C_VerifyUpdate,
	gate_C_VerifyFinal, gate_C_VerifyRecoverInit, gate_C_VerifyRecover,
	gate_C_DigestEncryptUpdate, gate_C_DecryptDigestUpdate, gate_C_SignEncryptUpdate,
	gate_C_DecryptVerifyUpdate, gate_C_GenerateKey, gate_C_GenerateKeyPair,
	gate_C_WrapKey, gate_C_UnwrapKey, gate_C_DeriveKey, gate_C_SeedRandom,
	gate_C_GenerateRandom, gate_C_GetFunctionStatus, gate_C_CancelFunction,
	gate_C_WaitForSlotEvent,
};

static CK_RV
gate_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	*list = (CK_FUNCTION_LIST_PTR)&gate_function_list;
	return CKR_OK;
}
