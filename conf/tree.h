/*
 * A strict YAML (and therefore JSON) reader: the document becomes a small
 * tree of mappings, sequences and scalars, each with its line.  Aliases,
 * anchors, tags, duplicate keys, non-scalar keys, more than one document,
 * nesting deeper than CONF_TREE_DEPTH_MAX and oversized input are errors.
 */
#ifndef CONF_TREE_H
#define CONF_TREE_H

#include <stddef.h>

#define CONF_TREE_DEPTH_MAX	16
#define CONF_TREE_NODES_MAX	20000
#define CONF_TREE_SCALAR_MAX	4096
#define CONF_TREE_INPUT_MAX	(1024 * 1024)

enum conf_node_type { CONF_SCALAR, CONF_MAPPING, CONF_SEQUENCE };

struct conf_node {
	enum conf_node_type	 type;
	unsigned		 line;		/* 1-based */
	int			 quoted;	/* scalar written in quotes */
	char			*value;		/* scalar text */
	char			*key;		/* when a mapping member: its key */
	unsigned		 key_line;
	struct conf_node	*child;		/* first member/element */
	struct conf_node	*next;		/* next sibling */
};

/* err holds "line N: what is wrong" on failure (without the file name). */
int	conf_tree_parse(const char *buf, size_t len, struct conf_node **out,
			char *err, size_t errlen) __attribute__((warn_unused_result));
void	conf_tree_free(struct conf_node *n);	/* NULL-safe */

/* Member of a mapping by key, or NULL. */
struct conf_node *conf_tree_get(const struct conf_node *map, const char *key);
const char *conf_node_type_name(enum conf_node_type t);

#endif
