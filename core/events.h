/*
 * events.h - the bridge between the core and the workflow engine: the list
 * of known events (the core's and every loaded plugin's), the host callbacks
 * scripts reach (log, notify, lookups, settings), loading and reloading the
 * scripts, and emitting an event from a request or job.
 */
#ifndef ATRIUM_EVENTS_H
#define ATRIUM_EVENTS_H

#include <jansson.h>

#include "config.h"

/* Load config->workflows_dir as the first generation. 0 or -1 (err). */
int events_start(const struct config *cfg, char *err, size_t errlen);
/* Reload the scripts (SIGHUP, admin API). 0, or -1 with file:line errors;
 * the running generation is kept on error. */
int events_reload(char *err, size_t errlen);
/* Validate a folder of scripts against the known events. */
int events_check_dir(const char *dir, char *err, size_t errlen);
/* Every known event with its fields, for the reference document. */
json_t *events_catalog(void);
void events_stop(void);

#endif
