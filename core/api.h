/*
 * api.h - the host API table handed to plugins (struct atr_api), and the
 * helpers the core shares with it: events and the outbox.
 */
#ifndef ATRIUM_API_H
#define ATRIUM_API_H

#include <atrium/plugin.h>

extern const struct atr_api atr_host_api;

/* Emit an event to workflow handlers (see atr_api.emit). */
int events_emit(struct atr_ctx *ctx, const char *event, json_t *payload,
		const char **reason);
/* Queue a notification (see atr_api.notify). */
long long outbox_queue(struct atr_ctx *ctx, long long user_id,
		       const char *kind, const char *ref, json_t *data,
		       time_t not_before);
int outbox_cancel(struct atr_ctx *ctx, const char *ref, const char *kind);

/* Practice time helpers (process TZ is the practice zone). */
time_t tz_local_to_utc(const struct tm *local);
int time_parse_rfc3339(const char *s, time_t *out);
void time_format_rfc3339(time_t t, char out[32]);

#endif
