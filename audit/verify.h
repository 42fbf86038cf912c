/*
 * The audit verifier: reads copies of the trail (the file sinks), walks each
 * hash chain, checks every checkpoint's MAC through a callback (the CLI asks
 * the token), compares the sinks with each other and with the audit.head
 * anchor, and says what is wrong with which record: edited, deleted,
 * inserted, reordered, truncated, sinks disagree.  Pure over its inputs
 * except audit_verify_add_file(), which reads a file under a shared flock
 * (the writer takes an exclusive one on the first sink while it appends).
 * docs/audit.md describes the rules.
 */
#ifndef AUDIT_VERIFY_H
#define AUDIT_VERIFY_H

#include <stddef.h>
#include <stdint.h>

enum audit_vkind {
	/* problems: verification fails */
	AV_EDITED = 1,		/* a record's content or its link was changed */
	AV_DELETED,		/* records are missing from the middle or the start */
	AV_INSERTED,		/* a line that does not belong to the chain */
	AV_REORDERED,		/* records out of chain order */
	AV_TRUNCATED,		/* records the anchor says were durable are gone */
	AV_DISAGREE,		/* the sinks hold different records */
	AV_BAD_MAC,		/* a checkpoint's MAC does not verify in the token */
	AV_UNAUTHENTICATED,	/* checkpoints without MAC, or too few checkpoints */
	AV_MISSING,		/* a sink file is gone */
	/* notes: verification still succeeds */
	AV_NOTE_TORN,		/* the file ends in a partial record (a crash mid-write) */
	AV_NOTE_TORN_CLOSED,	/* a torn record closed and declared by a resume record */
	AV_NOTE_LAG,		/* a sink lacks the last, not yet durable, records */
	AV_NOTE,		/* anything else worth saying */
};

struct audit_finding {
	enum audit_vkind kind;
	int		 bad;		/* 0: a note */
	size_t		 file;		/* index of the file (order added) */
	size_t		 line;		/* 1-based; 0: none */
	uint64_t	 offset;	/* byte offset of that line */
	uint64_t	 seq;		/* the record concerned */
	int		 has_seq;
	char		 msg[512];
	size_t		 order;		/* when it was found */
};

#define AUDIT_VERIFY_NAMES	16	/* per-client and per-operation counters kept */

struct audit_vcount {
	char		 name[72];
	uint64_t	 n;
};

struct audit_vsummary {
	uint64_t	 records;		/* whole records of the reference (first) file */
	uint64_t	 first_seq, last_seq;
	char		 first_time[40], last_time[40];
	uint64_t	 checkpoints;		/* in the reference file */
	uint64_t	 macs_verified;		/* distinct checkpoint MACs the token accepted */
	int		 authenticated;		/* a checkpoint MAC covers ... */
	uint64_t	 authenticated_through;	/* ... every record up to this one */
	int		 anchor_checked;
	uint64_t	 anchor_seq;
	struct audit_vcount ops[AUDIT_VERIFY_NAMES], clients[AUDIT_VERIFY_NAMES];
	size_t		 n_ops, n_clients;
	uint64_t	 other_clients;		/* records of clients past the table */
};

/*
 * Check one checkpoint MAC: HMAC-SHA256 with the audit key over msg.
 * Returns 1 when it verifies, 0 when it does not, -1 when it cannot be
 * checked (no token, no login): then audit_verify_run() returns 2.
 */
typedef int (*audit_mac_check_fn)(void *arg, const unsigned char *msg, size_t len,
				  const unsigned char mac[32]);

struct audit_verify;

struct audit_verify *audit_verify_new(void);
void	audit_verify_free(struct audit_verify *v);	/* NULL-safe; drops the locks */

/*
 * Read a sink file (whole) under a shared flock, kept until
 * audit_verify_unlock().  The first file added is the reference.  A file
 * that does not exist is recorded as a problem (AV_MISSING) and returns 0;
 * other errors return -1 with err filled.
 */
int	audit_verify_add_file(struct audit_verify *v, const char *path, char *err,
			      size_t errlen) __attribute__((warn_unused_result));
/* The same from memory (tests); data is copied. */
int	audit_verify_add_buffer(struct audit_verify *v, const char *name, const char *data,
				size_t len) __attribute__((warn_unused_result));
void	audit_verify_unlock(struct audit_verify *v);

/*
 * Parse an audit.head anchor ("seq N hash HEX\n").  0, 1 when the file
 * does not exist, -1 with err filled when it is unreadable or malformed.
 */
int	audit_verify_read_anchor(const char *path, uint64_t *seq, unsigned char hash[32],
				 char *err, size_t errlen);
void	audit_verify_set_anchor(struct audit_verify *v, uint64_t seq, const unsigned char hash[32]);
/* More records than this after the last verified checkpoint is a problem (0: no limit). */
void	audit_verify_set_max_uncovered(struct audit_verify *v, uint64_t n);

/* 1 when some checkpoint carries a MAC: the caller then needs the token. */
int	audit_verify_needs_mac(struct audit_verify *v);

/*
 * Walk, check and compare.  mac may be NULL only when audit_verify_needs_mac()
 * is 0.  Returns 0 when everything verifies (notes allowed), 1 when a
 * problem was found, 2 when a MAC could not be checked.
 */
int	audit_verify_run(struct audit_verify *v, audit_mac_check_fn mac, void *arg);

/*
 * Findings in order: problems first, then notes; within them by file (the
 * reference first) and by line: the first is the first bad record.
 */
const struct audit_finding *audit_verify_findings(const struct audit_verify *v, size_t *n);
const struct audit_vsummary *audit_verify_summary(const struct audit_verify *v);
/* The name a file was added under. */
const char *audit_verify_file_name(const struct audit_verify *v, size_t i);
const char *audit_vkind_name(enum audit_vkind k);

/*
 * For status output: the last sink_failed or sink_recovered record near the
 * end (last 64 KiB) of a sink file, as "OP at TIME: DETAIL".  1 when one was
 * found, 0 when none, -1 when the file cannot be read.
 */
int	audit_last_sink_event(const char *path, char *out, size_t outlen);

#endif
