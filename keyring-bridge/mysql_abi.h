/*
 * The parts of the MySQL component ABI that component_keyring_pkcs11 uses,
 * declared here in C from the facts in MySQL's public headers (paths below
 * are relative to include/mysql/components/ in the MySQL 9.7 source).  No
 * MySQL header is included and none was copied: MySQL's headers are C++,
 * while these are the same layouts in C.
 *
 * ABI facts this file relies on:
 *  - service.h: every "bool" service method returns mysql_service_status_t,
 *    which is an int; 0 is false, non-zero is true.  Methods declared with
 *    DECLARE_METHOD return their own type.
 *  - service.h: a service is a struct of function pointers; member order is
 *    the ABI.  Services are plain C calls (no C++ linkage, no this pointer),
 *    with the platform's default calling convention.
 *  - service.h: handles (DEFINE_SERVICE_HANDLE) are pointers to incomplete
 *    structs; the component that issues a handle decides what it points to.
 *  - services/dynamic_loader.h: the loader dlopen()s the library
 *    (RTLD_NOW), calls the exported "list_components" (no arguments), and
 *    reads one mysql_component_t; the provides/requires/metadata arrays end
 *    with an all-NULL entry.  init() and deinit() take no arguments.
 *  - component_implementation.h: a required service's placeholder is filled
 *    by the loader before init() runs; "registry" is always required first.
 *    Provided services are named "<service>.<implementation>".
 */
#ifndef KR_MYSQL_ABI_H
#define KR_MYSQL_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* service.h: int, 0 = false = success for most methods */
typedef int mysql_service_status_t;

/* services/registry.h: DEFINE_SERVICE_HANDLE(my_h_service) */
struct my_h_service_imp;

/* services/dynamic_loader.h */
struct mysql_service_ref_t {
	const char	*name;			/* "<service>.<implementation>" */
	void		*implementation;	/* the service's struct */
};

struct mysql_service_placeholder_ref_t {
	const char	*name;			/* "<service>" */
	void		**implementation;	/* filled in by the loader */
};

struct mysql_metadata_ref_t {
	const char	*key;
	const char	*value;
};

struct mysql_component_t {
	const char				*name;
	struct mysql_service_ref_t		*provides;
	struct mysql_service_placeholder_ref_t	*requires_service;
	struct mysql_metadata_ref_t		*metadata;
	mysql_service_status_t			(*init)(void);
	mysql_service_status_t			(*deinit)(void);
};

/* component_implementation.h: the one symbol a component library exports */
#define MYSQL_COMPONENT_ENTRY_FUNC "list_components"

/* services/registry.h, service "registry"; every method: false = success */
struct s_mysql_registry {
	mysql_service_status_t (*acquire)(const char *service_name,
	    struct my_h_service_imp **out_service);
	mysql_service_status_t (*acquire_related)(const char *service_name,
	    struct my_h_service_imp *service, struct my_h_service_imp **out_service);
	mysql_service_status_t (*release)(struct my_h_service_imp *service);
};

/*
 * services/keyring_reader_with_status.h, "keyring_reader_with_status".
 * init: false with *reader_object == NULL means "not found", false with a
 * non-NULL object means "found", true means a keyring error.
 * fetch: both buffers are caller-owned; data_type_buffer_length need only
 * cover the type without its NUL (mysys/keyring_operations_helper.cc passes
 * exactly the length fetch_length gave, into a zeroed buffer one longer).
 */
struct my_h_keyring_reader_object_imp;

struct s_mysql_keyring_reader_with_status {
	mysql_service_status_t (*init)(const char *data_id, const char *auth_id,
	    struct my_h_keyring_reader_object_imp **reader_object);
	mysql_service_status_t (*deinit)(
	    struct my_h_keyring_reader_object_imp *reader_object);
	mysql_service_status_t (*fetch_length)(
	    struct my_h_keyring_reader_object_imp *reader_object,
	    size_t *data_size, size_t *data_type_size);
	mysql_service_status_t (*fetch)(
	    struct my_h_keyring_reader_object_imp *reader_object,
	    unsigned char *data_buffer, size_t data_buffer_length,
	    size_t *data_size, char *data_type, size_t data_type_buffer_length,
	    size_t *data_type_size);
};

/* services/keyring_writer.h, "keyring_writer" */
struct s_mysql_keyring_writer {
	mysql_service_status_t (*store)(const char *data_id, const char *auth_id,
	    const unsigned char *data, size_t data_size, const char *data_type);
	mysql_service_status_t (*remove)(const char *data_id, const char *auth_id);
};

/* services/keyring_generator.h, "keyring_generator" */
struct s_mysql_keyring_generator {
	mysql_service_status_t (*generate)(const char *data_id,
	    const char *auth_id, const char *data_type, size_t data_size);
};

/*
 * services/keyring_keys_metadata_iterator.h,
 * "keyring_keys_metadata_iterator".  is_valid returns true (non-zero) for a
 * valid iterator: the one inverted method of this service.  get_length gives
 * string lengths without the NUL; get needs room for the NUL.
 */
struct my_h_keyring_keys_metadata_iterator_imp;

struct s_mysql_keyring_keys_metadata_iterator {
	mysql_service_status_t (*init)(
	    struct my_h_keyring_keys_metadata_iterator_imp **forward_iterator);
	mysql_service_status_t (*deinit)(
	    struct my_h_keyring_keys_metadata_iterator_imp *forward_iterator);
	mysql_service_status_t (*is_valid)(
	    struct my_h_keyring_keys_metadata_iterator_imp *forward_iterator);
	mysql_service_status_t (*next)(
	    struct my_h_keyring_keys_metadata_iterator_imp *forward_iterator);
	mysql_service_status_t (*get_length)(
	    struct my_h_keyring_keys_metadata_iterator_imp *forward_iterator,
	    size_t *data_id_length, size_t *auth_id_length);
	mysql_service_status_t (*get)(
	    struct my_h_keyring_keys_metadata_iterator_imp *forward_iterator,
	    char *data_id, size_t data_id_length, char *auth_id,
	    size_t auth_id_length);
};

/*
 * services/keyring_metadata_query.h holds two services.
 * "keyring_component_status": is_initialized returns true (non-zero) when
 * the keyring works.
 * "keyring_component_metadata_query": is_valid is inverted like the keys
 * iterator's; get_length gives buffer sizes WITH the NUL (unlike the keys
 * iterator), as performance_schema.keyring_component_status expects.
 */
struct s_mysql_keyring_component_status {
	mysql_service_status_t (*is_initialized)(void);
};

struct my_h_keyring_component_metadata_iterator_imp;

struct s_mysql_keyring_component_metadata_query {
	mysql_service_status_t (*init)(
	    struct my_h_keyring_component_metadata_iterator_imp **metadata_iterator);
	mysql_service_status_t (*deinit)(
	    struct my_h_keyring_component_metadata_iterator_imp *metadata_iterator);
	mysql_service_status_t (*is_valid)(
	    struct my_h_keyring_component_metadata_iterator_imp *metadata_iterator);
	mysql_service_status_t (*next)(
	    struct my_h_keyring_component_metadata_iterator_imp *metadata_iterator);
	mysql_service_status_t (*get_length)(
	    struct my_h_keyring_component_metadata_iterator_imp *metadata_iterator,
	    size_t *key_buffer_length, size_t *value_buffer_length);
	mysql_service_status_t (*get)(
	    struct my_h_keyring_component_metadata_iterator_imp *metadata_iterator,
	    char *key_buffer, size_t key_buffer_len, char *value_buffer,
	    size_t value_buffer_len);
};

/*
 * services/keyring_load.h, "keyring_load".  mysqld passes its plugin_dir
 * and datadir (sql/server_component/mysql_server_keyring_lockable_imp.cc);
 * mysql_migrate_keyring passes --component-dir, which may be NULL, and the
 * instance path or NULL (client/migrate_keyring/components.cc).
 */
struct s_mysql_keyring_load {
	mysql_service_status_t (*load)(const char *component_path,
	    const char *instance_path);
};

/*
 * services/keyring_aes.h, "keyring_aes".  padding is an int (0: none).
 */
struct s_mysql_keyring_aes {
	mysql_service_status_t (*get_size)(size_t input_length,
	    const char *mode, size_t block_size, size_t *out_size);
	mysql_service_status_t (*encrypt)(const char *data_id,
	    const char *auth_id, const char *mode, size_t block_size,
	    const unsigned char *iv, int padding,
	    const unsigned char *data_buffer, size_t data_buffer_length,
	    unsigned char *out_buffer, size_t out_buffer_length,
	    size_t *out_length);
	mysql_service_status_t (*decrypt)(const char *data_id,
	    const char *auth_id, const char *mode, size_t block_size,
	    const unsigned char *iv, int padding,
	    const unsigned char *data_buffer, size_t data_buffer_length,
	    unsigned char *out_buffer, size_t out_buffer_length,
	    size_t *out_length);
};

/*
 * The error log: services/log_builtins.h, "log_builtins", and the item
 * types of services/log_shared.h.  log_line and log_item_data are opaque to
 * us: we only pass pointers the server handed out.  The enum log_item_type
 * is passed as an int-sized enum; log_item_data's integer is a long long.
 *
 * The layout of this service is NOT stable across MySQL versions:
 *  - line_get_output_buffer sits after line_item_types_seen since 8.0.22
 *    (performance_schema.error_log); our floor is 8.0.24, so always there;
 *  - line_set_flag sits after item_set_cstring in 9.7 (verified) and is
 *    absent from 8.0 headers.  It belongs to the telemetry-log work that
 *    MySQL dates "Introduced in MySQL 9.1.0"; 9.1 as the boundary is
 *    inferred, not checked against a 9.0 header.
 * So the slots from item_set_with_key on move by one between the two
 * layouts, and a component built against the wrong one would call the
 * wrong function.  component.c recognises the layout by finding mysqld's
 * own exported log_builtins_imp functions in the table's slots, and does
 * not use a table it cannot recognise.
 *
 * C's bool (_Bool) has the size and passing convention of C++'s bool in
 * the SysV x86-64 and AArch64 ABIs.
 *
 * Only the members up to line_submit are declared: we never look past it,
 * and we only ever read the server's table through a pointer.
 */
enum mysql_log_item_type {
	MYSQL_LOG_ITEM_SQL_ERRCODE = 1 << 1,
	MYSQL_LOG_ITEM_SRV_SUBSYS = 1 << 9,
	MYSQL_LOG_ITEM_SRV_COMPONENT = 1 << 10,
	MYSQL_LOG_ITEM_LOG_PRIO = 1 << 16,
	MYSQL_LOG_ITEM_LOG_MESSAGE = 1 << 19,
};

/* include/mysql/my_loglevel.h */
enum mysql_loglevel {
	MYSQL_SYSTEM_LEVEL = 0,
	MYSQL_ERROR_LEVEL = 1,
	MYSQL_WARNING_LEVEL = 2,
	MYSQL_INFORMATION_LEVEL = 3,
};

struct mysql_log_line;		/* log_line */
struct mysql_log_item;		/* log_item */
struct mysql_log_item_iter;	/* log_item_iter */
union mysql_log_item_data;	/* log_item_data */

#define MYSQL_LOG_BUILTINS_HEAD						\
	int (*wellknown_by_type)(enum mysql_log_item_type t);		\
	int (*wellknown_by_name)(const char *key, size_t length);	\
	enum mysql_log_item_type (*wellknown_get_type)(unsigned int idx); \
	const char *(*wellknown_get_name)(unsigned int idx);		\
	int (*item_inconsistent)(struct mysql_log_item *li);		\
	bool (*item_generic_type)(enum mysql_log_item_type t);		\
	bool (*item_string_class)(int c);				\
	bool (*item_numeric_class)(int c);				\
	bool (*item_set_int)(union mysql_log_item_data *lid, long long i); \
	bool (*item_set_float)(union mysql_log_item_data *lid, double f); \
	bool (*item_set_lexstring)(union mysql_log_item_data *lid,	\
	    const char *s, size_t s_len);				\
	bool (*item_set_cstring)(union mysql_log_item_data *lid, const char *s);

#define MYSQL_LOG_BUILTINS_TAIL						\
	union mysql_log_item_data *(*item_set_with_key)(		\
	    struct mysql_log_item *li, enum mysql_log_item_type t,	\
	    const char *key, uint32_t alloc);			\
	union mysql_log_item_data *(*item_set)(struct mysql_log_item *li, \
	    enum mysql_log_item_type t);				\
	union mysql_log_item_data *(*line_item_set_with_key)(		\
	    struct mysql_log_line *ll, enum mysql_log_item_type t,	\
	    const char *key, uint32_t alloc);			\
	union mysql_log_item_data *(*line_item_set)(struct mysql_log_line *ll, \
	    enum mysql_log_item_type t);				\
	struct mysql_log_line *(*line_init)(void);			\
	void (*line_exit)(struct mysql_log_line *ll);			\
	int (*line_item_count)(struct mysql_log_line *ll);		\
	uint64_t (*line_item_types_seen)(struct mysql_log_line *ll,	\
	    uint64_t m);					\
	struct mysql_log_item *(*line_get_output_buffer)(struct mysql_log_line *ll); \
	struct mysql_log_item_iter *(*line_item_iter_acquire)(		\
	    struct mysql_log_line *ll);					\
	void (*line_item_iter_release)(struct mysql_log_item_iter *it);	\
	struct mysql_log_item *(*line_item_iter_first)(struct mysql_log_item_iter *it); \
	struct mysql_log_item *(*line_item_iter_next)(struct mysql_log_item_iter *it); \
	struct mysql_log_item *(*line_item_iter_current)(struct mysql_log_item_iter *it); \
	int (*line_submit)(struct mysql_log_line *ll);

/* MySQL 9.1 and later (9.7 verified) */
struct s_mysql_log_builtins {
	MYSQL_LOG_BUILTINS_HEAD
	void (*line_set_flag)(struct mysql_log_line *ll, uint64_t mask,
	    uint64_t value);
	MYSQL_LOG_BUILTINS_TAIL
};

/* MySQL 8.0.22 to 9.0 */
struct s_mysql_log_builtins_80 {
	MYSQL_LOG_BUILTINS_HEAD
	MYSQL_LOG_BUILTINS_TAIL
};

#endif
