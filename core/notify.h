/*
 * notify.h - delivery of the outbox: in-portal notifications, email over
 * SMTP (libcurl) and a signed webhook, with per-patient preferences, quiet
 * hours, retries and rate limits. Delivery runs on its own thread; request
 * threads only insert rows.
 */
#ifndef ATRIUM_NOTIFY_H
#define ATRIUM_NOTIFY_H

#include <stddef.h>

#include "config.h"
#include "router.h"

int notify_routes_register(struct router *r, char *err, size_t errlen);
int notify_start(const struct config *cfg);
void notify_stop(void);

#endif
