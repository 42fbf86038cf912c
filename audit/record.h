/*
 * One audit record: a flat JSON object on one line, fields in a fixed order,
 *   {"seq":7,"time":"...","host":"...","pid":42,"op":"unwrap",...,
 *    "prev":"<64 hex>","hash":"<64 hex>"}
 * hash = SHA-256 of the line's bytes from '{' up to (not including)
 * ',"hash":', so it covers "prev", the previous record's hash: a chain.
 * Every byte outside printable ASCII is written as \u00XX, so a record is
 * valid JSON whatever a client put in a label.  The parser is strict and
 * takes untrusted input (the verifier reads files an attacker may edit).
 */
#ifndef AUDIT_RECORD_H
#define AUDIT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define AUDIT_FIELD_SHORT	72
#define AUDIT_FIELD_LONG	136
#define AUDIT_FIELD_DETAIL	320
#define AUDIT_LINE_MAX		8192
#define AUDIT_CHECKPOINT_DOMAIN	"keylocker-audit-checkpoint-v1"
#define AUDIT_CHECKPOINT_MSG_LEN (sizeof(AUDIT_CHECKPOINT_DOMAIN) + 32 + 8)

struct audit_buf {
	char	*buf;
	size_t	 len;
	size_t	 cap;
};

/* Input to audit_record_format(): NULL or "" fields are left out. */
struct audit_record {
	uint64_t	 seq;
	const char	*time, *host;
	long		 pid;
	const char	*op, *token, *client, *role, *fn, *key, *object, *mech,
			*result, *rule, *detail;
	const char	*records;		/* checkpoints: records since the last one */
	unsigned char	 mac[32];
	int		 has_mac;
	unsigned char	 prev[32];
};

/* Output of audit_record_parse(): copies, NUL-terminated. */
struct audit_parsed {
	uint64_t	 seq;
	long		 pid;
	char		 time[40], host[128], op[32], token[AUDIT_FIELD_SHORT],
			 client[AUDIT_FIELD_SHORT], role[16], fn[40], key[AUDIT_FIELD_LONG],
			 object[AUDIT_FIELD_LONG], mech[48], result[48], rule[48],
			 detail[AUDIT_FIELD_DETAIL];
	uint64_t	 records;
	int		 has_records;
	unsigned char	 mac[32];
	int		 has_mac;
	unsigned char	 prev[32];
	unsigned char	 hash[32];
	size_t		 hashed_len;		/* bytes of the line the hash covers */
};

/* Append rec as one line (with '\n') to out; its hash into hash_out.  0 or -1. */
int	audit_record_format(struct audit_buf *out, const struct audit_record *rec,
			    unsigned char hash_out[32]);
/*
 * Parse one line (without its '\n').  0, or -1 with a static reason in *why
 * (may be NULL).  Does not check the hash: see audit_record_hash_ok().
 */
int	audit_record_parse_why(const char *line, size_t len, struct audit_parsed *out,
			       const char **why);
int	audit_record_parse(const char *line, size_t len, struct audit_parsed *out);
/* 1 when the line's hash matches its content. */
int	audit_record_hash_ok(const char *line, const struct audit_parsed *p);
/* The message a checkpoint's MAC covers: domain, chain head, sequence number. */
void	audit_checkpoint_message(const unsigned char head[32], uint64_t seq,
				 unsigned char msg[AUDIT_CHECKPOINT_MSG_LEN]);

#endif
