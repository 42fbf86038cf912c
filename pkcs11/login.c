/*
 * Client logins.  A PIN selects a client of the configuration by its salted
 * hash; every hash is tried, so the time taken does not say which client
 * matched, and a PIN two clients share is refused as a configuration error.
 * Wrong PINs are counted per token in a small state file (so neither a new
 * process nor a restart resets the count) and, past login.max_failures,
 * every login is refused with CKR_PIN_LOCKED for login.lockout_seconds.
 */
#include "pkcs11/gate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "policy/pin.h"

enum lockout_op { LOCKOUT_READ, LOCKOUT_FAIL, LOCKOUT_RESET };

struct lockout {
	unsigned	failures;
	long long	until;		/* locked until this time (s since the epoch), 0: not */
};

/* In-process counts, used while the state file cannot be read or written. */
static struct lockout mem_lockout[64];
static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;

static void
state_path(struct gate *g, size_t slot, char *buf, size_t len)
{
	const char *label = token_slot_label(g->tok, slot);
	char safe[64];
	size_t i;

	for (i = 0; label[i] != '\0' && i < sizeof(safe) - 1; i++) {
		char ch = label[i];
		safe[i] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ? ch : '_';
	}
	safe[i] = '\0';
	snprintf(buf, len, "%s/lockout-%s", g->conf->state_dir, safe);
}

static void
apply(struct gate *g, enum lockout_op op, struct lockout *lo, long long now)
{
	if (lo->until != 0 && now >= lo->until) {
		lo->failures = 0;	/* the lockout has run out */
		lo->until = 0;
	}
	if (op == LOCKOUT_RESET) {
		lo->failures = 0;
		lo->until = 0;
	} else if (op == LOCKOUT_FAIL) {
		lo->failures++;
		if (g->conf->max_failures > 0 && lo->failures >= g->conf->max_failures &&
		    lo->until == 0)
			lo->until = now + g->conf->lockout_seconds;
	}
}

/* Read, and for FAIL/RESET update, the persistent state; 0 or -1 (state unusable). */
static int
state_update(struct gate *g, size_t slot, enum lockout_op op, struct lockout *lo)
{
	char path[4200], buf[128];
	long long now = (long long)time(NULL);
	unsigned f = 0;
	long long u = 0;
	ssize_t n;
	int fd, r = -1;

	memset(lo, 0, sizeof(*lo));
	state_path(g, slot, path, sizeof(path));
	if (op != LOCKOUT_READ)
		(void)mkdir(g->conf->state_dir, 0700);
	fd = open(path, (op == LOCKOUT_READ ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd < 0) {
		if (op == LOCKOUT_READ && errno == ENOENT)
			return 0;	/* never a failure */
		kl_error("cannot %s the login failure count %s: %s; make %s writable by "
		    "the user running keylocker", op == LOCKOUT_READ ? "read" : "record",
		    path, strerror(errno), g->conf->state_dir);
		return -1;
	}
	if (flock(fd, op == LOCKOUT_READ ? LOCK_SH : LOCK_EX) != 0)
		goto out;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		if (sscanf(buf, "failures %u until %lld", &f, &u) == 2) {
			lo->failures = f;
			lo->until = u;
		}
	}
	apply(g, op, lo, now);
	if (op != LOCKOUT_READ) {
		n = snprintf(buf, sizeof(buf), "failures %u until %lld\n", lo->failures, lo->until);
		if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n ||
		    fdatasync(fd) != 0) {
			kl_error("cannot record the login failure count in %s: %s", path,
			    strerror(errno));
			goto out;
		}
	}
	r = 0;
 out:
	close(fd);
	return r;
}

/* The persistent state, or the in-process one when the file cannot be used. */
static void
lockout_update(struct gate *g, size_t slot, enum lockout_op op, struct lockout *lo)
{
	struct lockout file, *mem = &mem_lockout[slot % 64];
	long long now = (long long)time(NULL);
	int ok = state_update(g, slot, op, &file) == 0;

	/* the file is the truth; memory only counts while the file cannot be used */
	pthread_mutex_lock(&mem_lock);
	if (ok)
		*mem = file;
	else
		apply(g, op, mem, now);
	*lo = *mem;
	pthread_mutex_unlock(&mem_lock);
}

CK_RV
gate_lockout_status(struct gate *g, size_t slot, unsigned *failures, int *locked)
{
	struct lockout lo;

	lockout_update(g, slot, LOCKOUT_READ, &lo);
	*failures = lo.failures;
	*locked = lo.until != 0;
	return CKR_OK;
}

CK_RV
gate_login(struct gate_call *c, const unsigned char *pin, CK_ULONG len)
{
	struct gate *g = c->g;
	struct policy *pol = &g->conf->policy;
	struct gate_slot *gs = &g->slots[c->ref.slot];
	struct audit_event ev;
	struct lockout lo;
	CK_SESSION_HANDLE internal;
	uint32_t epoch;
	size_t i, match = 0, matches = 0;
	CK_RV rv;

	memset(&ev, 0, sizeof(ev));
	ev.token = token_slot_label(g->tok, c->ref.slot);
	lockout_update(g, c->ref.slot, LOCKOUT_READ, &lo);
	if (lo.until != 0) {
		ev.op = AUDIT_LOGIN_FAILED;
		ev.rv = CKR_PIN_LOCKED;
		ev.detail = "locked out after too many wrong PINs";
		audit_emit(g->audit, &ev);
		return CKR_PIN_LOCKED;
	}
	/* every hash is tried: constant work whichever client matches */
	for (i = 0; i < pol->n_clients; i++) {
		if (policy_pin_verify(pol->clients[i].pin_hash, pin, len) == 1) {
			match = i;
			matches++;
		}
	}
	if (matches != 1) {
		lockout_update(g, c->ref.slot, LOCKOUT_FAIL, &lo);
		ev.op = AUDIT_LOGIN_FAILED;
		ev.rv = CKR_PIN_INCORRECT;
		if (matches > 1) {
			kl_error("a PIN matches more than one client of %s: give each client "
			    "its own PIN", g->conf->source);
			ev.detail = "the PIN matches more than one client";
		} else {
			ev.detail = "no client has this PIN";
		}
		audit_emit(g->audit, &ev);
		if (lo.until != 0) {
			ev.op = AUDIT_LOCKOUT;
			ev.detail = "too many wrong PINs: logins refused for login.lockout_seconds";
			audit_emit(g->audit, &ev);
			kl_warn("token %s: %u wrong PINs, logins locked for %u s", ev.token,
			    lo.failures, g->conf->lockout_seconds);
		}
		return CKR_PIN_INCORRECT;
	}
	if (lo.failures > 0)
		lockout_update(g, c->ref.slot, LOCKOUT_RESET, &lo);
	/* the backend stays logged in through the module's own session */
	if ((rv = token_internal_session(g->tok, c->ref.slot, &internal, &epoch)) != CKR_OK)
		return rv;

	pthread_mutex_lock(&g->lock);
	if (gs->logged_in) {
		rv = gs->client == match ? CKR_USER_ALREADY_LOGGED_IN :
		    CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
		pthread_mutex_unlock(&g->lock);
		/* the right PIN, refused all the same: the trail names the client */
		ev.op = AUDIT_LOGIN_FAILED;
		ev.client = pol->clients[match].name;
		ev.role = policy_role_name(pol->clients[match].role);
		ev.rv = rv;
		audit_emit(g->audit, &ev);
		return rv;
	}
	gs->logged_in = 1;
	gs->client = match;
	pthread_mutex_unlock(&g->lock);
	c->client = &pol->clients[match];
	c->role = c->client->role;
	ev.op = AUDIT_LOGIN;
	ev.client = c->client->name;
	ev.role = policy_role_name(c->role);
	ev.rv = CKR_OK;
	audit_emit(g->audit, &ev);
	return CKR_OK;
}
