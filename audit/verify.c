/*
 * The audit verifier.
 *
 * Each file is cut into lines.  A line is a record (parses, hash matches its
 * content), a record whose hash does not match, or junk (does not parse);
 * bytes after the last newline are a torn tail.  The walk keeps the chain
 * head (seq and hash of the last accepted record) and, when a line does not
 * continue it, looks around to say why:
 *   - its predecessor (the record whose hash its "prev" names) stands later
 *     in the file: reordered;
 *   - the next record continues the chain past it: it was inserted;
 *   - its predecessor stands earlier, before records already accepted:
 *     those were inserted;
 *   - its predecessor is nowhere and its seq jumps: records were deleted;
 *   - its predecessor is nowhere and its seq follows: the record before it
 *     was edited and its hash recomputed.
 * After one problem the walk re-synchronises on the next record, so a
 * single change is reported once, not at every later record.
 */
#include "audit/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/record.h"
#include "common/util.h"

#define FINDINGS_MAX	200	/* stop walking a file after this many */

enum line_type { L_REC, L_BADHASH, L_JUNK };

struct vline {
	enum line_type	 t;
	size_t		 off, len, lineno;
	uint64_t	 seq;
	unsigned char	 prev[32], hash[32], mac[32];
	int		 checkpoint, has_mac, resume;
	int		 accepted;	/* part of the chain as walked */
	const char	*why;		/* junk: the parser's reason */
};

struct vfile {
	char		*name;
	char		*data;
	size_t		 size;
	int		 fd;		/* holds the shared lock; -1 when none */
	int		 missing;
	struct vline	*lines;
	size_t		 n_lines;
	size_t		 torn_off, torn_len;	/* a partial last line */
	size_t		*chain;		/* indexes of accepted lines, in order */
	size_t		 n_chain;
	int		 authenticated;
	uint64_t	 authenticated_through;
	size_t		 findings;
};

struct maccache {
	unsigned char	 hash[32];
	int		 ok;
};

struct audit_verify {
	struct vfile		*files;
	size_t			 n_files;
	int			 have_anchor;
	uint64_t		 anchor_seq;
	unsigned char		 anchor_hash[32];
	uint64_t		 max_uncovered;
	struct audit_finding	*f;
	size_t			 n_f, cap_f;
	struct maccache		*mc;
	size_t			 n_mc, cap_mc;
	struct audit_vsummary	 sum;
};

const char *
audit_vkind_name(enum audit_vkind k)
{
	switch (k) {
	case AV_EDITED: return "edited";
	case AV_DELETED: return "deleted";
	case AV_INSERTED: return "inserted";
	case AV_REORDERED: return "reordered";
	case AV_TRUNCATED: return "truncated";
	case AV_DISAGREE: return "sinks disagree";
	case AV_BAD_MAC: return "bad checkpoint MAC";
	case AV_UNAUTHENTICATED: return "unauthenticated";
	case AV_MISSING: return "missing";
	case AV_NOTE_TORN: return "partial record";
	case AV_NOTE_TORN_CLOSED: return "torn record closed";
	case AV_NOTE_LAG: return "sink lags";
	case AV_NOTE: return "note";
	}
	return "?";
}

struct audit_verify *
audit_verify_new(void)
{
	struct audit_verify *v = calloc(1, sizeof(*v));

	if (v != NULL)
		v->max_uncovered = 0;
	return v;
}

void
audit_verify_unlock(struct audit_verify *v)
{
	size_t i;

	for (i = 0; v != NULL && i < v->n_files; i++) {
		if (v->files[i].fd >= 0) {
			(void)flock(v->files[i].fd, LOCK_UN);
			close(v->files[i].fd);
			v->files[i].fd = -1;
		}
	}
}

void
audit_verify_free(struct audit_verify *v)
{
	size_t i;

	if (v == NULL)
		return;
	audit_verify_unlock(v);
	for (i = 0; i < v->n_files; i++) {
		free(v->files[i].name);
		free(v->files[i].data);
		free(v->files[i].lines);
		free(v->files[i].chain);
	}
	free(v->files);
	free(v->f);
	free(v->mc);
	free(v);
}

static struct vfile *
new_file(struct audit_verify *v, const char *name)
{
	struct vfile *p, *f;

	if ((p = realloc(v->files, (v->n_files + 1) * sizeof(*p))) == NULL)
		return NULL;
	v->files = p;
	f = &v->files[v->n_files];
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	if ((f->name = strdup(name)) == NULL)
		return NULL;
	v->n_files++;
	return f;
}

static void add_finding(struct audit_verify *v, enum audit_vkind kind, size_t file,
			const struct vline *l, int has_seq, uint64_t seq, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

static void
add_finding(struct audit_verify *v, enum audit_vkind kind, size_t file, const struct vline *l,
	    int has_seq, uint64_t seq, const char *fmt, ...)
{
	struct audit_finding *p, *x;
	va_list ap;

	if (v->n_f == v->cap_f) {
		size_t cap = v->cap_f == 0 ? 16 : v->cap_f * 2;

		if ((p = realloc(v->f, cap * sizeof(*p))) == NULL)
			return;
		v->f = p;
		v->cap_f = cap;
	}
	x = &v->f[v->n_f++];
	memset(x, 0, sizeof(*x));
	x->kind = kind;
	x->bad = kind < AV_NOTE_TORN;
	x->file = file;
	if (l != NULL) {
		x->line = l->lineno;
		x->offset = l->off;
	}
	x->has_seq = has_seq;
	x->seq = seq;
	x->order = v->n_f - 1;
	va_start(ap, fmt);
	vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
	va_end(ap);
	if (x->bad && file < v->n_files)
		v->files[file].findings++;
}

/* ---- reading ---------------------------------------------------------------- */

static int
split_lines(struct vfile *f)
{
	struct audit_parsed rec;
	size_t off = 0, n = 0, cap = 0, lineno = 0;
	struct vline *p;
	char *nl;

	while (off < f->size) {
		if ((nl = memchr(f->data + off, '\n', f->size - off)) == NULL) {
			f->torn_off = off;
			f->torn_len = f->size - off;
			break;
		}
		if (n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			if ((p = realloc(f->lines, cap * sizeof(*p))) == NULL)
				return -1;
			f->lines = p;
		}
		p = &f->lines[n++];
		memset(p, 0, sizeof(*p));
		p->off = off;
		p->len = (size_t)(nl - (f->data + off));
		p->lineno = ++lineno;
		/* the parser wants a NUL-free line; the newline is not part of it */
		if (memchr(f->data + off, '\0', p->len) != NULL) {
			p->t = L_JUNK;
			p->why = "a NUL byte";
		} else if (audit_record_parse_why(f->data + off, p->len, &rec, &p->why) != 0) {
			p->t = L_JUNK;
		} else {
			p->t = audit_record_hash_ok(f->data + off, &rec) ? L_REC : L_BADHASH;
			p->seq = rec.seq;
			memcpy(p->prev, rec.prev, 32);
			memcpy(p->hash, rec.hash, 32);
			p->checkpoint = strcmp(rec.op, "checkpoint") == 0;
			p->resume = strcmp(rec.op, "resume") == 0;
			p->has_mac = rec.has_mac;
			memcpy(p->mac, rec.mac, 32);
		}
		off = (size_t)(nl - f->data) + 1;
	}
	f->n_lines = n;
	if ((f->chain = calloc(n + 1, sizeof(*f->chain))) == NULL)
		return -1;
	return 0;
}

int
audit_verify_add_buffer(struct audit_verify *v, const char *name, const char *data,
			size_t len)
{
	struct vfile *f;

	if ((f = new_file(v, name)) == NULL)
		return -1;
	if ((f->data = malloc(len + 1)) == NULL)
		return -1;
	memcpy(f->data, data, len);
	f->data[len] = '\0';
	f->size = len;
	return split_lines(f);
}

int
audit_verify_add_file(struct audit_verify *v, const char *path, char *err, size_t errlen)
{
	struct vfile *f;
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT && (f = new_file(v, path)) != NULL) {
			f->missing = 1;
			add_finding(v, AV_MISSING, v->n_files - 1, NULL, 0, 0,
			    "%s does not exist: the sink was deleted or never written", path);
			return 0;
		}
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* the writer appends under an exclusive lock on the first sink */
	if (flock(fd, LOCK_SH) != 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s", path, S_ISREG(st.st_mode) ? strerror(errno) :
		    "not a regular file");
		close(fd);
		return -1;
	}
	if ((f = new_file(v, path)) == NULL || (f->data = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return -1;
	}
	f->fd = fd;
	while (got < (size_t)st.st_size) {
		n = pread(fd, f->data + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	f->data[got] = '\0';
	f->size = got;
	if (split_lines(f) != 0) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	return 0;
}

int
audit_verify_read_anchor(const char *path, uint64_t *seq, unsigned char hash[32], char *err,
			 size_t errlen)
{
	char line[160], hex[72];
	unsigned long long s;
	FILE *fp;
	int ok;

	if ((fp = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	ok = fgets(line, sizeof(line), fp) != NULL &&
	    sscanf(line, "seq %llu hash %70s", &s, hex) == 2 && strlen(hex) == 64 &&
	    kl_hex_decode(hex, 64, hash, 32) == 32;
	fclose(fp);
	if (!ok) {
		snprintf(err, errlen, "%s is not an audit anchor (\"seq N hash HEX\")", path);
		return -1;
	}
	*seq = s;
	return 0;
}

void
audit_verify_set_anchor(struct audit_verify *v, uint64_t seq, const unsigned char hash[32])
{
	v->have_anchor = 1;
	v->anchor_seq = seq;
	memcpy(v->anchor_hash, hash, 32);
}

void
audit_verify_set_max_uncovered(struct audit_verify *v, uint64_t n)
{
	v->max_uncovered = n;
}

int
audit_verify_needs_mac(struct audit_verify *v)
{
	size_t i, j;

	for (i = 0; i < v->n_files; i++) {
		for (j = 0; j < v->files[i].n_lines; j++) {
			if (v->files[i].lines[j].t == L_REC && v->files[i].lines[j].has_mac)
				return 1;
		}
	}
	return 0;
}

/* ---- the walk ------------------------------------------------------------------ */

/* A resume record after line i declares a torn record of exactly len bytes. */
static int
torn_declared(struct vfile *f, size_t i, size_t len, unsigned char *used)
{
	struct audit_parsed rec;
	const struct vline *l;
	const char *p, *q;
	size_t j;
	char want[32];

	snprintf(want, sizeof(want), " %zu", len);
	for (j = i + 1; j < f->n_lines; j++) {
		l = &f->lines[j];
		if (l->t != L_REC || !l->resume || used[j] ||
		    audit_record_parse(f->data + l->off, l->len, &rec) != 0)
			continue;
		/* "torn PATH N; torn PATH N" */
		for (p = rec.detail; (p = strstr(p, "torn ")) != NULL; p = q) {
			q = strchr(p, ';');
			if (q == NULL)
				q = p + strlen(p);
			if ((size_t)(q - p) > strlen(want) &&
			    strncmp(q - strlen(want), want, strlen(want)) == 0) {
				used[j] = 1;
				return 1;
			}
		}
	}
	return 0;
}

/* The next line after i that parsed (whatever its hash), or n. */
static size_t
next_record(const struct vfile *f, size_t i)
{
	while (i < f->n_lines && f->lines[i].t == L_JUNK)
		i++;
	return i;
}

/* A record line whose hash is h, or n. */
static size_t
find_hash(const struct vfile *f, const unsigned char h[32])
{
	size_t i;

	for (i = 0; i < f->n_lines; i++) {
		if (f->lines[i].t == L_REC && memcmp(f->lines[i].hash, h, 32) == 0)
			return i;
	}
	return f->n_lines;
}

static int
continues(const struct vline *l, uint64_t expect, const unsigned char head[32])
{
	return l->seq == expect && memcmp(l->prev, head, 32) == 0;
}

static void
walk(struct audit_verify *v, size_t fi)
{
	struct vfile *f = &v->files[fi];
	unsigned char head[32], *used;
	uint64_t expect = 0;
	size_t i, j, k, c;
	int resync = 0;

	memset(head, 0, 32);
	if ((used = calloc(f->n_lines + 1, 1)) == NULL)
		return;
	for (i = 0; i < f->n_lines && f->findings < FINDINGS_MAX; i++) {
		struct vline *l = &f->lines[i];
		struct vline *last = f->n_chain > 0 ? &f->lines[f->chain[f->n_chain - 1]] : NULL;

		if (l->t == L_JUNK) {
			if (torn_declared(f, i, l->len, used)) {
				add_finding(v, AV_NOTE_TORN_CLOSED, fi, l, 0, 0, "line %zu: %zu bytes "
				    "of a record cut short by a crash, declared by a later resume "
				    "record", l->lineno, l->len);
				continue;
			}
			j = next_record(f, i + 1);
			if (j < f->n_lines && continues(&f->lines[j], expect, head))
				add_finding(v, AV_INSERTED, fi, l, 1, expect, "line %zu is not a "
				    "record (%s) and the chain runs on past it: it was inserted "
				    "before record %llu", l->lineno, l->why,
				    (unsigned long long)expect);
			else {
				add_finding(v, AV_EDITED, fi, l, 1, expect, "record %llu (line %zu) "
				    "was edited: it is no longer a well-formed record (%s)",
				    (unsigned long long)expect, l->lineno, l->why);
				resync = 1;
			}
			continue;
		}
		if (l->t == L_BADHASH) {
			/* an edited record N is followed by N+1; an intruder by N itself */
			j = next_record(f, i + 1);
			if (j < f->n_lines && continues(&f->lines[j], expect, head)) {
				add_finding(v, AV_INSERTED, fi, l, 1, l->seq, "line %zu (seq %llu) "
				    "was inserted: its hash is wrong and the chain runs on past it",
				    l->lineno, (unsigned long long)l->seq);
				continue;
			}
			add_finding(v, AV_EDITED, fi, l, 1, l->seq, "record %llu (line %zu) was "
			    "edited: its content does not match its hash",
			    (unsigned long long)l->seq, l->lineno);
			/* take its stated hash: the records after it still link to it */
			goto accept;
		}
		if (continues(l, expect, head) || resync) {
			resync = 0;
			goto accept;
		}
		/* an exact copy of a record already in the chain */
		for (c = 0; c < f->n_chain; c++) {
			if (memcmp(f->lines[f->chain[c]].hash, l->hash, 32) == 0)
				break;
		}
		if (c < f->n_chain) {
			add_finding(v, AV_INSERTED, fi, l, 1, l->seq, "line %zu was inserted: it "
			    "repeats record %llu (line %zu)", l->lineno,
			    (unsigned long long)l->seq, f->lines[f->chain[c]].lineno);
			continue;
		}
		k = find_hash(f, l->prev);
		if (k < f->n_lines && k > i) {
			add_finding(v, AV_REORDERED, fi, l, 1, l->seq, "records were reordered: "
			    "record %llu (line %zu) stands before record %llu (line %zu), which "
			    "precedes it in the chain", (unsigned long long)l->seq, l->lineno,
			    (unsigned long long)f->lines[k].seq, f->lines[k].lineno);
			resync = 1;
			goto accept;
		}
		j = next_record(f, i + 1);
		if (j < f->n_lines && continues(&f->lines[j], expect, head)) {
			add_finding(v, AV_INSERTED, fi, l, 1, l->seq, "line %zu (seq %llu) was "
			    "inserted: it does not continue the chain, and the record after it "
			    "does", l->lineno, (unsigned long long)l->seq);
			continue;
		}
		if (k < f->n_lines && k < i && f->lines[k].accepted && last != NULL &&
		    &f->lines[k] != last) {
			/* l links to an earlier record: what was accepted after it is foreign */
			size_t intruder = i;

			while (f->n_chain > 0 && f->chain[f->n_chain - 1] != k) {
				intruder = f->chain[f->n_chain - 1];
				f->lines[intruder].accepted = 0;
				f->n_chain--;
			}
			add_finding(v, AV_INSERTED, fi, &f->lines[intruder], 1,
			    f->lines[intruder].seq, "line %zu (seq %llu) was inserted: record "
			    "%llu (line %zu) links to record %llu (line %zu) before it",
			    f->lines[intruder].lineno, (unsigned long long)f->lines[intruder].seq,
			    (unsigned long long)l->seq, l->lineno,
			    (unsigned long long)f->lines[k].seq, f->lines[k].lineno);
			goto accept;
		}
		if (last != NULL && memcmp(l->prev, head, 32) == 0) {
			add_finding(v, AV_EDITED, fi, l, 1, expect, "record %llu (line %zu) was "
			    "edited: it links to record %llu but is numbered %llu",
			    (unsigned long long)expect, l->lineno, (unsigned long long)expect - 1,
			    (unsigned long long)l->seq);
			goto accept;
		}
		if (k == f->n_lines && l->seq > expect) {
			if (l->seq - 1 == expect)
				add_finding(v, AV_DELETED, fi, l, 1, expect, "record %llu was deleted: "
				    "line %zu holds record %llu, which follows it",
				    (unsigned long long)expect, l->lineno, (unsigned long long)l->seq);
			else
				add_finding(v, AV_DELETED, fi, l, 1, expect, "records %llu..%llu were "
				    "deleted: line %zu holds record %llu", (unsigned long long)expect,
				    (unsigned long long)l->seq - 1, l->lineno,
				    (unsigned long long)l->seq);
			goto accept;
		}
		if (k == f->n_lines && l->seq == expect && last != NULL) {
			add_finding(v, AV_EDITED, fi, last, 1, last->seq, "record %llu (line %zu) "
			    "was edited and its hash recomputed: record %llu (line %zu) names a "
			    "different predecessor", (unsigned long long)last->seq, last->lineno,
			    (unsigned long long)l->seq, l->lineno);
			goto accept;
		}
		if (last == NULL && l->seq == expect) {
			add_finding(v, AV_EDITED, fi, l, 1, l->seq, "record %llu (line %zu) was "
			    "edited: the first record names no predecessor",
			    (unsigned long long)l->seq, l->lineno);
			goto accept;
		}
		if (last == NULL)
			add_finding(v, AV_INSERTED, fi, l, 1, l->seq, "record %llu (line %zu) does "
			    "not belong at the start of the chain", (unsigned long long)l->seq,
			    l->lineno);
		else
			add_finding(v, AV_INSERTED, fi, l, 1, l->seq, "record %llu (line %zu) does "
			    "not belong to the chain after record %llu", (unsigned long long)l->seq,
			    l->lineno, (unsigned long long)last->seq);
		resync = 1;
		continue;
 accept:
		l->accepted = 1;
		f->chain[f->n_chain++] = i;
		memcpy(head, l->hash, 32);
		expect = l->seq + 1;
	}
	free(used);
	if (f->torn_len > 0 && f->n_chain > 0)
		add_finding(v, AV_NOTE_TORN, fi, NULL, 0, 0, "verified up to record %llu; the "
		    "log ends in a partial record at byte %zu (%zu bytes: a write cut short by "
		    "a crash; keylocker closes it at its next start)",
		    (unsigned long long)f->lines[f->chain[f->n_chain - 1]].seq, f->torn_off,
		    f->torn_len);
	else if (f->torn_len > 0)
		add_finding(v, AV_NOTE_TORN, fi, NULL, 0, 0, "no whole record; the log is a "
		    "partial record of %zu bytes (a write cut short by a crash)", f->torn_len);
}

/* ---- checkpoints ------------------------------------------------------------------ */

static int
mac_cached(struct audit_verify *v, const unsigned char hash[32], int *ok)
{
	size_t i;

	for (i = 0; i < v->n_mc; i++) {
		if (memcmp(v->mc[i].hash, hash, 32) == 0) {
			*ok = v->mc[i].ok;
			return 1;
		}
	}
	return 0;
}

static void
mac_remember(struct audit_verify *v, const unsigned char hash[32], int ok)
{
	struct maccache *p;

	if (v->n_mc == v->cap_mc) {
		size_t cap = v->cap_mc == 0 ? 64 : v->cap_mc * 2;

		if ((p = realloc(v->mc, cap * sizeof(*p))) == NULL)
			return;
		v->mc = p;
		v->cap_mc = cap;
	}
	memcpy(v->mc[v->n_mc].hash, hash, 32);
	v->mc[v->n_mc++].ok = ok;
	if (ok == 1)
		v->sum.macs_verified++;
}

/* Returns -1 when a MAC cannot be checked. */
static int
check_macs(struct audit_verify *v, size_t fi, audit_mac_check_fn mac, void *arg)
{
	struct vfile *f = &v->files[fi];
	unsigned char msg[AUDIT_CHECKPOINT_MSG_LEN];
	uint64_t last_good = 0, uncovered, nomac_seq = 0;
	size_t c, nomac_line = 0;
	int ok, have_good = 0, nomac = 0;
	struct vline *l, *nomac_l = NULL;

	for (c = 0; c < f->n_chain; c++) {
		l = &f->lines[f->chain[c]];
		if (!l->checkpoint || l->t != L_REC)
			continue;
		if (!l->has_mac) {
			if (!nomac) {
				nomac = 1;
				nomac_seq = l->seq;
				nomac_line = l->lineno;
				nomac_l = l;
			}
			continue;
		}
		if (!mac_cached(v, l->hash, &ok)) {
			if (mac == NULL)
				return -1;
			audit_checkpoint_message(l->prev, l->seq, msg);
			if ((ok = mac(arg, msg, sizeof(msg), l->mac)) < 0)
				return -1;
			mac_remember(v, l->hash, ok);
		}
		if (!ok) {
			add_finding(v, AV_BAD_MAC, fi, l, 1, l->seq, "checkpoint record %llu (line "
			    "%zu): its MAC does not verify with the audit key: the chain up to it "
			    "was rewritten%s", (unsigned long long)l->seq, l->lineno,
			    have_good ? " after the last checkpoint that verifies" : "");
			continue;
		}
		have_good = 1;
		last_good = l->seq;
		nomac = 0;	/* a later good checkpoint covers one without a MAC */
	}
	f->authenticated = have_good;
	f->authenticated_through = last_good;
	if (nomac)
		add_finding(v, AV_UNAUTHENTICATED, fi, nomac_l, 1, nomac_seq, "checkpoint record "
		    "%llu (line %zu) carries no MAC (the audit key was unavailable) and no "
		    "later checkpoint verifies", (unsigned long long)nomac_seq, nomac_line);
	if (f->n_chain > 0 && v->max_uncovered > 0) {
		uint64_t last_seq = f->lines[f->chain[f->n_chain - 1]].seq;

		uncovered = have_good ? last_seq - last_good : last_seq + 1;
		if (uncovered > v->max_uncovered)
			add_finding(v, AV_UNAUTHENTICATED, fi, NULL, 1, have_good ? last_good + 1 : 0,
			    "records %llu..%llu (%llu records) are covered by no checkpoint that "
			    "verifies, more than the writer ever leaves: checkpoints were removed "
			    "or could not be signed", have_good ? (unsigned long long)last_good + 1 :
			    0ULL, (unsigned long long)last_seq, (unsigned long long)uncovered);
	}
	return 0;
}

/* ---- across files ------------------------------------------------------------------- */

static void
compare(struct audit_verify *v, size_t fi)
{
	struct vfile *a = &v->files[0], *b = &v->files[fi];
	size_t ia = 0, ib = 0;
	struct vline *x, *y;

	while (ia < a->n_chain && ib < b->n_chain) {
		x = &a->lines[a->chain[ia]];
		y = &b->lines[b->chain[ib]];
		if (x->seq == y->seq) {
			if (memcmp(x->hash, y->hash, 32) != 0) {
				add_finding(v, AV_DISAGREE, fi, y, 1, y->seq, "the sinks disagree at "
				    "record %llu: %s line %zu and %s line %zu differ",
				    (unsigned long long)y->seq, a->name, x->lineno, b->name, y->lineno);
				return;
			}
			ia++;
			ib++;
		} else if (x->seq < y->seq) {
			add_finding(v, AV_DISAGREE, fi, y, 1, x->seq, "the sinks disagree: record "
			    "%llu is in %s (line %zu) but not in %s", (unsigned long long)x->seq,
			    a->name, x->lineno, b->name);
			return;
		} else {
			add_finding(v, AV_DISAGREE, fi, y, 1, y->seq, "the sinks disagree: record "
			    "%llu is in %s (line %zu) but not in %s", (unsigned long long)y->seq,
			    b->name, y->lineno, a->name);
			return;
		}
	}
	if (ia < a->n_chain) {
		x = &a->lines[a->chain[ia]];
		if (v->have_anchor && x->seq > v->anchor_seq)
			add_finding(v, AV_NOTE_LAG, fi, NULL, 1, x->seq, "%s lacks records "
			    "%llu..%llu of %s, which were not yet durable: a crash between the "
			    "writes to the sinks; keylocker copies them at its next start", b->name,
			    (unsigned long long)x->seq,
			    (unsigned long long)a->lines[a->chain[a->n_chain - 1]].seq, a->name);
		else
			add_finding(v, AV_DISAGREE, fi, NULL, 1, x->seq, "the sinks disagree: %s "
			    "ends before record %llu; %s goes on to record %llu",
			    b->name, (unsigned long long)x->seq, a->name,
			    (unsigned long long)a->lines[a->chain[a->n_chain - 1]].seq);
	} else if (ib < b->n_chain) {
		y = &b->lines[b->chain[ib]];
		x = &b->lines[b->chain[b->n_chain - 1]];
		if (x == y)
			add_finding(v, AV_DISAGREE, fi, y, 1, y->seq, "the sinks disagree: record "
			    "%llu is in %s (line %zu) but not in %s, the first sink",
			    (unsigned long long)y->seq, b->name, y->lineno, a->name);
		else
			add_finding(v, AV_DISAGREE, fi, y, 1, y->seq, "the sinks disagree: records "
			    "%llu..%llu are in %s (from line %zu) but not in %s, the first sink",
			    (unsigned long long)y->seq, (unsigned long long)x->seq, b->name,
			    y->lineno, a->name);
	}
}

static void
check_anchor(struct audit_verify *v, size_t fi)
{
	struct vfile *f = &v->files[fi];
	struct vline *l, *end;
	size_t c;

	if (f->n_chain == 0) {
		add_finding(v, AV_TRUNCATED, fi, NULL, 1, 0, "%s holds no record, but audit.head "
		    "says record %llu was durable: the log was truncated", f->name,
		    (unsigned long long)v->anchor_seq);
		return;
	}
	end = &f->lines[f->chain[f->n_chain - 1]];
	for (c = 0; c < f->n_chain; c++) {
		l = &f->lines[f->chain[c]];
		if (l->seq != v->anchor_seq)
			continue;
		if (memcmp(l->hash, v->anchor_hash, 32) != 0)
			add_finding(v, AV_EDITED, fi, l, 1, l->seq, "record %llu (line %zu) is not "
			    "the one audit.head anchored: the log was rewritten up to it",
			    (unsigned long long)l->seq, l->lineno);
		return;
	}
	if (end->seq < v->anchor_seq)
		add_finding(v, AV_TRUNCATED, fi, end, 1, end->seq + 1, "the log was truncated: "
		    "it ends at record %llu (line %zu) but audit.head says record %llu was "
		    "durable; records %llu..%llu are gone (cut off, or this sink failed and "
		    "was never caught up)", (unsigned long long)end->seq,
		    end->lineno, (unsigned long long)v->anchor_seq,
		    (unsigned long long)end->seq + 1, (unsigned long long)v->anchor_seq);
	/* a missing anchored record inside the range was reported by the walk */
}

/* ---- summary ---------------------------------------------------------------------- */

static void
count(struct audit_vcount *t, size_t *n, uint64_t *other, const char *name)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		if (strcmp(t[i].name, name) == 0) {
			t[i].n++;
			return;
		}
	}
	if (*n == AUDIT_VERIFY_NAMES) {
		if (other != NULL)
			(*other)++;
		return;
	}
	kl_strlcpy(t[*n].name, name, sizeof(t[*n].name));
	t[(*n)++].n = 1;
}

static void
summarise(struct audit_verify *v)
{
	struct audit_vsummary *s = &v->sum;
	struct audit_parsed rec;
	struct vfile *f = &v->files[0];
	uint64_t ignored = 0;
	size_t c;

	for (c = 0; c < f->n_chain; c++) {
		struct vline *l = &f->lines[f->chain[c]];

		if (audit_record_parse(f->data + l->off, l->len, &rec) != 0)
			continue;
		if (s->records == 0) {
			s->first_seq = rec.seq;
			kl_strlcpy(s->first_time, rec.time, sizeof(s->first_time));
		}
		s->records++;
		s->last_seq = rec.seq;
		kl_strlcpy(s->last_time, rec.time, sizeof(s->last_time));
		if (l->checkpoint)
			s->checkpoints++;
		count(s->ops, &s->n_ops, &ignored, rec.op);
		if (rec.client[0] != '\0')
			count(s->clients, &s->n_clients, &s->other_clients, rec.client);
	}
	s->authenticated = f->authenticated;
	s->authenticated_through = f->authenticated_through;
	s->anchor_checked = v->have_anchor;
	s->anchor_seq = v->anchor_seq;
}

static int
finding_order(const void *pa, const void *pb)
{
	const struct audit_finding *a = pa, *b = pb;

	if (a->bad != b->bad)
		return a->bad ? -1 : 1;
	if (a->file != b->file)
		return a->file < b->file ? -1 : 1;
	/* by line; findings about no line (a whole file) after */
	if ((a->line == 0) != (b->line == 0))
		return a->line == 0 ? 1 : -1;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

int
audit_verify_run(struct audit_verify *v, audit_mac_check_fn mac, void *arg)
{
	size_t i, n_bad = 0;

	if (v->n_files == 0)
		return 2;
	memset(&v->sum, 0, sizeof(v->sum));
	for (i = 0; i < v->n_files; i++) {
		if (v->files[i].missing)
			continue;
		walk(v, i);
		if (check_macs(v, i, mac, arg) != 0)
			return 2;
		if (v->have_anchor)
			check_anchor(v, i);
	}
	for (i = 1; i < v->n_files; i++) {
		if (!v->files[0].missing && !v->files[i].missing)
			compare(v, i);
	}
	summarise(v);
	if (v->n_f > 1)
		qsort(v->f, v->n_f, sizeof(*v->f), finding_order);
	for (i = 0; i < v->n_f; i++)
		n_bad += v->f[i].bad;
	return n_bad > 0 ? 1 : 0;
}

const struct audit_finding *
audit_verify_findings(const struct audit_verify *v, size_t *n)
{
	*n = v->n_f;
	return v->f;
}

const struct audit_vsummary *
audit_verify_summary(const struct audit_verify *v)
{
	return &v->sum;
}

const char *
audit_verify_file_name(const struct audit_verify *v, size_t i)
{
	return i < v->n_files ? v->files[i].name : "?";
}

int
audit_last_sink_event(const char *path, char *out, size_t outlen)
{
	struct audit_parsed rec;
	char *buf, *end, *start;
	struct stat st;
	off_t from;
	ssize_t n;
	int fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &st) != 0 || (buf = malloc(64 * 1024 + 1)) == NULL) {
		close(fd);
		return -1;
	}
	from = st.st_size > 64 * 1024 ? st.st_size - 64 * 1024 : 0;
	n = pread(fd, buf, (size_t)(st.st_size - from), from);
	close(fd);
	if (n < 0) {
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	end = buf + n;
	while (r == 0 && (end = kl_memrchr(buf, '\n', (size_t)(end - buf))) != NULL) {
		*end = '\0';
		start = kl_memrchr(buf, '\n', (size_t)(end - buf));
		start = start != NULL ? start + 1 : buf;
		if (strstr(start, "\"op\":\"sink_") != NULL &&
		    audit_record_parse(start, (size_t)(end - start), &rec) == 0 &&
		    (strcmp(rec.op, "sink_failed") == 0 || strcmp(rec.op, "sink_recovered") == 0)) {
			snprintf(out, outlen, "%s at %s: %s", rec.op, rec.time, rec.detail);
			r = 1;
		}
		if (start == buf)
			break;
	}
	free(buf);
	return r;
}
