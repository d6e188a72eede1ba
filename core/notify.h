/*
 * notify.h - delivery of the outbox: in-portal notifications, email over
 * SMTP (libcurl) and a signed webhook, with per-patient preferences, quiet
 * hours, retries and rate limits. Delivery runs on its own thread; request
 * threads only insert rows.
 *
 * The first block is what the rest of the core uses. The second block is
 * shared by the notify_*.c files only (one concept each: templates and text
 * hygiene, preferences, delivery policy, the two transports, the delivery
 * thread); nothing outside them should call it. docs/notifications.md is the
 * practice-facing description, including the delivery guarantees.
 */
#ifndef ATRIUM_NOTIFY_H
#define ATRIUM_NOTIFY_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "router.h"

/* The /api/notifications routes. Start-up only (single thread). */
int notify_routes_register(struct router *r, char *err, size_t errlen);
/* Check the [notify] settings, load the templates and start the delivery
 * thread. Main thread, once, before requests are served. 0, or -1 after
 * logging the reason. */
int notify_start(const struct config *cfg);
/* Stop the delivery thread (an attempt in flight is aborted and retried
 * at the next start). Main thread; harmless when not started. */
void notify_stop(void);

/* ==== shared by core/notify_*.c ======================================= */

struct db;

enum notify_channel {
	NOTIFY_PORTAL,
	NOTIFY_EMAIL,
	NOTIFY_WEBHOOK,
	NOTIFY_NCHANNELS
};
#define NOTIFY_BIT(ch) (1u << (ch))

/* "portal", "email", "webhook"; NULL for anything else. */
const char *notify_channel_name(int ch);
/* The channel named s, or -1. */
int notify_channel_parse(const char *s);
/* Is the channel switched on in the running configuration? */
int notify_channel_on(int ch);

/* ---- templates and text hygiene (notify_template.c) ---------------- */

#define NOTIFY_TITLE_MAX 200    /* bytes, after rendering */
#define NOTIFY_BODY_MAX 4000    /* bytes of a template body */
#define NOTIFY_TEXT_MAX 8000    /* bytes of a rendered or amended body */
#define NOTIFY_FILE_MAX 8192    /* bytes of a template file */
#define NOTIFY_ADDRESS_MAX 254  /* bytes of an email address */
#define NOTIFY_LINK_MAX 200     /* bytes of a same-origin link path */

/* Load the templates: the embedded defaults, then
 * THEMES/default/notifications/LANG/KIND.txt, then the same under the
 * configured theme; a later file replaces an earlier one of the same
 * language and kind. A file that is too big, not UTF-8, holds a control
 * character or an unknown {{placeholder}} refuses the load with the file
 * named in err. Main thread, before the delivery thread starts. */
int notify_templates_load(const char *themes_dir, const char *theme,
			  char *err, size_t errlen);
void notify_templates_free(void);
/* Load and check one template file's text (exposed for the loader and its
 * tests). On success *title and *body are malloc'd. */
int notify_template_parse(const char *text, size_t len, char **title,
			  char **body, char *err, size_t errlen);
/* Render kind in lang (falling back to "en", then to the kind "generic")
 * with the practice name and link filled in. *title and *body are
 * malloc'd; the title holds no control character. 0, or -1 (no memory). */
int notify_render(const char *kind, const char *lang, const char *practice,
		  const char *link, char **title, char **body);
/* The kinds that have a template, as a new JSON array of strings (every
 * loaded kind but email_verification). */
json_t *notify_template_kinds(void);
/* Non-zero when a template of this kind is loaded (any language). */
int notify_template_has(const char *kind);

/* Remove every control character (C0, DEL, and the C1 range of UTF-8),
 * in place. For header fields: CR and LF are control characters. */
void notify_clean_line(char *s);
/* A malloc'd copy of s with control characters removed except LF (and
 * TAB), CRLF made LF, cut to at most max bytes on a UTF-8 boundary. */
char *notify_clean_text(const char *s, size_t max);
/* Cut s in place to at most max bytes on a UTF-8 boundary. */
void notify_truncate(char *s, size_t max);
/* A simple, strict email address: one '@', non-empty local part and
 * domain, a dot in the domain, no space, control character, comma,
 * angle bracket, quote, backslash, semicolon or colon, at most 254 bytes. */
int notify_address_ok(const char *a);
/* A same-origin path a message may link to: starts with one '/', only
 * [A-Za-z0-9/_.~#-], no "..", at most NOTIFY_LINK_MAX bytes. */
int notify_link_ok(const char *path);
/* Is lang a language tag we accept ("en", "de", "pt-BR")? */
int notify_lang_ok(const char *lang);

/* ---- preferences (notify_prefs.c) ----------------------------------- */

/* Parse [notify] defaults ("kind:portal+email,*:portal"). 0, or -1 with
 * the reason in err. Main thread at start. */
int notify_prefs_init(const char *defaults, char *err, size_t errlen);
void notify_prefs_free(void);
/* The channels (NOTIFY_BIT set) user_id wants for kind: their own choice,
 * else the practice default for the kind, else for "*", else portal.
 * Portal is always included; channels that are switched off are not.
 * Any thread, on that thread's connection. */
unsigned notify_prefs_channels(struct db *db, long long user_id,
			       const char *kind);
/* The channels kind gets when the user chose nothing. */
unsigned notify_prefs_default(const char *kind);
/* Route handlers (see docs/notifications.md for the shapes). */
struct atr_ctx;
int notify_h_prefs_get(struct atr_ctx *ctx);
int notify_h_prefs_put(struct atr_ctx *ctx);
int notify_h_email(struct atr_ctx *ctx);
int notify_h_email_verify(struct atr_ctx *ctx);

/* ---- delivery policy (notify_policy.c) ------------------------------ */

/* "HH:MM" -> minutes after midnight, or -1. */
int notify_hhmm(const char *s);
/* When now (UTC) falls inside the quiet hours [start, end) in the process
 * time zone (the practice's), the UTC time they end; else 0. Equal start
 * and end mean no quiet hours. Minutes after local midnight. */
time_t notify_quiet_until(time_t now, int start, int end);
/* Delay before retry number `attempts` (1 = after the first failure):
 * base * 2^(attempts-1), at most max, plus up to a tenth of jitter. */
long long notify_backoff(int attempts, long long base, long long max);

/* ---- transports (notify_smtp.c, notify_webhook.c) ------------------- */

enum notify_result { NOTIFY_SENT, NOTIFY_TEMPFAIL, NOTIFY_PERMFAIL };

/* One outgoing message, all strings already clean. */
struct notify_msg {
	const char *key;     /* idempotency key of the delivery */
	const char *to;      /* email address (email only) */
	const char *title;   /* subject */
	const char *body;    /* text, LF line ends */
	const char *link;    /* absolute or same-origin link, may be "" */
	const char *kind;
	long long user_id;
	time_t created_at;
};

/* Abort flag the transports poll while a transfer runs (set by
 * notify_stop). */
int notify_stopping(void);
/* Send by SMTP as configured in cfg. Blocks for at most cfg's timeout.
 * err gets a short reason without secrets. Delivery thread only. */
enum notify_result notify_smtp_send(const struct config *cfg,
				    const struct notify_msg *m, char *err,
				    size_t errlen);
/* The RFC 5322 message smtp_send would send (tests, and the sender).
 * Returns a malloc'd text with CRLF line ends, or NULL. */
char *notify_smtp_message(const struct config *cfg,
			  const struct notify_msg *m, time_t date);
/* POST the JSON message to the webhook, signed. Same contract. */
enum notify_result notify_webhook_send(const struct config *cfg,
				       const struct notify_msg *m, char *err,
				       size_t errlen);

/* ---- the delivery thread (notify_worker.c) -------------------------- */

int notify_worker_start(const struct config *cfg);
void notify_worker_stop(void);

#endif
