/*
 * jobs.h - the core's job thread: once a second it runs the plugins' timed
 * jobs and the workflow scripts' jobs that are due, one after another, so a
 * job never overlaps itself. It has its own database connection. Other
 * periodic work (outbox delivery) registers a tick here.
 */
#ifndef ATRIUM_JOBS_H
#define ATRIUM_JOBS_H

typedef void (*jobs_tick_fn)(void);

int jobs_start(void);
/* Add a core tick; only before jobs_start. */
void jobs_add_tick(jobs_tick_fn fn);
void jobs_stop(void);

#endif
