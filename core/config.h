/*
 * config.h - the daemon's settings, read from an INI file with inih.
 *
 * Core sections are declared as data (section, key, type, limits, default) in
 * config.c and checked there: an unknown section or key, a bad value or a
 * duplicate key refuses the file with "file:line: message". Plugin sections
 * ([plugin.NAME]) are kept as raw entries with their line numbers; the plugin
 * loader checks them against the keys each plugin declares. Not a general INI
 * library: the schema lives here.
 */
#ifndef ATRIUM_CONFIG_H
#define ATRIUM_CONFIG_H

#include <stddef.h>

struct config_entry {
	char *section; /* "plugin.scheduling" */
	char *key;
	char *value;
	int line;
};

struct config {
	char *file; /* path it was read from */

	/* [server] */
	char *address;
	int port;
	int workers; /* 0 = number of cores */
	char *theme;
	char *themes_dir;
	char *plugin_dir;
	int connection_timeout; /* seconds */
	int max_connections;
	int max_connections_per_ip;
	long long connection_memory; /* bytes */
	long long max_body;          /* bytes */
	int access_log;
	int shutdown_grace; /* seconds */
	char *poll;         /* "epoll" or "poll" */
	char *tls_cert, *tls_key;
	char *base_url; /* used in links sent to patients */

	/* [database] */
	char *db_path;
	int busy_timeout_ms;

	/* [practice] */
	char *practice_name;
	char *timezone;
	char *color_primary, *color_accent;

	/* [auth] */
	int self_registration;
	int idle_timeout_patient;   /* seconds */
	int idle_timeout_staff;     /* staff, physicians, admins */
	int absolute_timeout;       /* seconds */
	int totp_physician, totp_staff; /* required for these roles */
	int activation_ttl_hours;
	int hash_threads, hash_queue;
	int pw_ops;         /* argon2id t */
	int pw_mem_kib;     /* argon2id m */
	int lockout_threshold; /* failures before the account delay grows */

	/* [workflows] */
	char *workflows_dir;
	long long wf_instructions;
	int wf_deadline_ms;
	int wf_memory_mb;
	int wf_fail_closed;

	/* [notify] */
	int notify_portal, notify_email, notify_webhook;
	char *smtp_url, *smtp_user, *smtp_password, *smtp_from;
	int smtp_starttls;
	char *webhook_url, *webhook_secret;
	int notify_timeout; /* seconds per delivery attempt */
	int notify_max_attempts;
	int notify_retry_base; /* seconds before the first retry; doubles */
	int notify_retry_max;  /* seconds, longest wait between retries */
	char *quiet_start, *quiet_end; /* "HH:MM" practice time */
	int notify_rate_per_hour;
	char *notify_defaults; /* "kind:channel+channel,..." */

	/* [plugins]: name -> on/off, in file order */
	struct config_entry *plugins;
	size_t nplugins;
	/* [plugin.NAME] entries, in file order */
	struct config_entry *plugin_opts;
	size_t nplugin_opts;
};

/* Fills cfg with the defaults, then reads `path` over them. Returns 0, or -1
 * with "file:line: message" in err. cfg must be freed with config_free in
 * either case. */
int config_load(struct config *cfg, const char *path, char *err,
		size_t errlen);
/* Defaults only (tests, and --check-config with no file). */
void config_defaults(struct config *cfg);
void config_free(struct config *cfg);
/* Is plugin `name` switched on? -1 when not mentioned. */
int config_plugin_state(const struct config *cfg, const char *name);
/* Parse "on/off/true/false/yes/no/1/0": 1, 0, or -1 when none. */
int config_parse_bool(const char *v);

extern struct config *g_cfg; /* the running daemon's settings */

#endif
