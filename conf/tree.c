#include "conf/tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

struct tree_ctx {
	struct conf_node	*stack[CONF_TREE_DEPTH_MAX + 1];
	struct conf_node	*last[CONF_TREE_DEPTH_MAX + 1];	/* last child, for O(1) append */
	int			 depth;
	size_t			 nodes;
	char			*pending_key;	/* mapping key waiting for its value */
	unsigned		 pending_line;
	struct conf_node	*root;
	int			 documents;
	char			*err;
	size_t			 errlen;
};

void
conf_tree_free(struct conf_node *n)
{
	struct conf_node *next;

	while (n != NULL) {
		next = n->next;
		conf_tree_free(n->child);
		free(n->value);
		free(n->key);
		free(n);
		n = next;
	}
}

const char *
conf_node_type_name(enum conf_node_type t)
{
	switch (t) {
	case CONF_SCALAR:
		return "a scalar";
	case CONF_MAPPING:
		return "a mapping";
	case CONF_SEQUENCE:
		return "a list";
	}
	return "?";
}

struct conf_node *
conf_tree_get(const struct conf_node *map, const char *key)
{
	struct conf_node *n;

	if (map == NULL || map->type != CONF_MAPPING)
		return NULL;
	for (n = map->child; n != NULL; n = n->next) {
		if (strcmp(n->key, key) == 0)
			return n;
	}
	return NULL;
}

static int
fail(struct tree_ctx *ctx, unsigned line, const char *what)
{
	snprintf(ctx->err, ctx->errlen, "line %u: %s", line, what);
	return -1;
}

/* Attach a new node to the current container (or make it the root). */
static int
attach(struct tree_ctx *ctx, struct conf_node *n)
{
	struct conf_node *parent = ctx->depth > 0 ? ctx->stack[ctx->depth - 1] : NULL;
	struct conf_node *m;

	if (parent == NULL) {
		if (ctx->root != NULL) {
			conf_tree_free(n);
			return fail(ctx, n->line, "more than one document");
		}
		ctx->root = n;
		return 0;
	}
	if (parent->type == CONF_MAPPING) {
		for (m = parent->child; m != NULL; m = m->next) {
			if (strcmp(m->key, ctx->pending_key) == 0) {
				char msg[200];
				snprintf(msg, sizeof(msg), "duplicate key \"%.64s\" (first "
				    "on line %u): keep one", ctx->pending_key, m->key_line);
				conf_tree_free(n);
				return fail(ctx, ctx->pending_line, msg);
			}
		}
		n->key = ctx->pending_key;
		n->key_line = ctx->pending_line;
		ctx->pending_key = NULL;
	}
	if (ctx->last[ctx->depth - 1] == NULL)
		parent->child = n;
	else
		ctx->last[ctx->depth - 1]->next = n;
	ctx->last[ctx->depth - 1] = n;
	return 0;
}

static struct conf_node *
node_new(struct tree_ctx *ctx, enum conf_node_type t, unsigned line)
{
	struct conf_node *n;

	if (++ctx->nodes > CONF_TREE_NODES_MAX)
		return NULL;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->type = t;
	n->line = line;
	return n;
}

static int
on_event(struct tree_ctx *ctx, const yaml_event_t *ev)
{
	unsigned line = (unsigned)ev->start_mark.line + 1;
	struct conf_node *n, *parent;
	const char *anchor = NULL, *tag = NULL;

	switch (ev->type) {
	case YAML_STREAM_START_EVENT:
	case YAML_STREAM_END_EVENT:
	case YAML_DOCUMENT_END_EVENT:
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++ctx->documents > 1)
			return fail(ctx, line, "more than one document: keep one");
		return 0;
	case YAML_ALIAS_EVENT:
		return fail(ctx, line, "aliases (*name) are not allowed: write the value out");
	case YAML_SCALAR_EVENT:
		anchor = (const char *)ev->data.scalar.anchor;
		tag = (const char *)ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = (const char *)ev->data.sequence_start.anchor;
		tag = (const char *)ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = (const char *)ev->data.mapping_start.anchor;
		tag = (const char *)ev->data.mapping_start.tag;
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		ctx->depth--;
		return 0;
	default:
		return fail(ctx, line, "unexpected YAML event");
	}
	if (anchor != NULL)
		return fail(ctx, line, "anchors (&name) are not allowed");
	if (tag != NULL)
		return fail(ctx, line, "tags (!tag) are not allowed");

	parent = ctx->depth > 0 ? ctx->stack[ctx->depth - 1] : NULL;
	if (parent != NULL && parent->type == CONF_MAPPING && ctx->pending_key == NULL) {
		/* this event is a key */
		if (ev->type != YAML_SCALAR_EVENT)
			return fail(ctx, line, "a mapping key must be a plain string");
		if (ev->data.scalar.length > 256)
			return fail(ctx, line, "a key longer than 256 bytes");
		if (strlen((const char *)ev->data.scalar.value) != ev->data.scalar.length)
			return fail(ctx, line, "a key contains a NUL byte");
		if ((ctx->pending_key = strdup((const char *)ev->data.scalar.value)) == NULL)
			return fail(ctx, line, "out of memory");
		ctx->pending_line = line;
		return 0;
	}

	if (ev->type == YAML_SCALAR_EVENT) {
		if (ev->data.scalar.length > CONF_TREE_SCALAR_MAX)
			return fail(ctx, line, "a value longer than 4096 bytes");
		if (strlen((const char *)ev->data.scalar.value) != ev->data.scalar.length)
			return fail(ctx, line, "a value contains a NUL byte");
		if ((n = node_new(ctx, CONF_SCALAR, line)) == NULL)
			return fail(ctx, line, "too many values or out of memory");
		n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
		if ((n->value = strdup((const char *)ev->data.scalar.value)) == NULL) {
			conf_tree_free(n);
			return fail(ctx, line, "out of memory");
		}
		return attach(ctx, n);
	}

	if (ctx->depth >= CONF_TREE_DEPTH_MAX)
		return fail(ctx, line, "nested too deeply");
	n = node_new(ctx, ev->type == YAML_MAPPING_START_EVENT ? CONF_MAPPING :
	    CONF_SEQUENCE, line);
	if (n == NULL)
		return fail(ctx, line, "too many values or out of memory");
	if (attach(ctx, n) != 0)
		return -1;
	ctx->stack[ctx->depth] = n;
	ctx->last[ctx->depth] = NULL;
	ctx->depth++;
	return 0;
}

int
conf_tree_parse(const char *buf, size_t len, struct conf_node **out, char *err,
		size_t errlen)
{
	struct tree_ctx ctx;
	yaml_parser_t parser;
	yaml_event_t ev;
	int done = 0, r = -1;

	*out = NULL;
	memset(&ctx, 0, sizeof(ctx));
	ctx.err = err;
	ctx.errlen = errlen;
	if (len > CONF_TREE_INPUT_MAX) {
		snprintf(err, errlen, "line 1: larger than %d bytes", CONF_TREE_INPUT_MAX);
		return -1;
	}
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "line 1: cannot initialise the YAML parser");
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			snprintf(err, errlen, "line %lu: %s%s%s",
			    (unsigned long)parser.problem_mark.line + 1,
			    parser.problem != NULL ? parser.problem : "syntax error",
			    parser.context != NULL ? " " : "",
			    parser.context != NULL ? parser.context : "");
			r = -1;
			goto out;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		r = on_event(&ctx, &ev);
		yaml_event_delete(&ev);
		if (r != 0)
			goto out;
	}
	if (ctx.root == NULL) {
		snprintf(err, errlen, "line 1: the document is empty");
		r = -1;
		goto out;
	}
	*out = ctx.root;
	ctx.root = NULL;
	r = 0;
 out:
	free(ctx.pending_key);
	conf_tree_free(ctx.root);
	yaml_parser_delete(&parser);
	return r;
}
