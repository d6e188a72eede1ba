/*
 * jobs.c - see jobs.h.
 */
#include "jobs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "arena.h"
#include "db.h"
#include "log.h"
#include "plugins.h"
#include "request.h"
#include "workflow.h"

#define MAX_TICKS 8

static pthread_t thread;
static int running;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stop;
static jobs_tick_fn ticks[MAX_TICKS];
static int nticks;

void jobs_add_tick(jobs_tick_fn fn)
{
	if (nticks < MAX_TICKS)
		ticks[nticks++] = fn;
}

static void run_plugin_jobs(time_t now)
{
	struct plugin_job *jobs;
	size_t n = plugins_jobs(&jobs);
	for (size_t i = 0; i < n; i++) {
		struct arena a;
		struct atr_ctx ctx;
		if (jobs[i].next_run > now)
			continue;
		jobs[i].next_run = now + jobs[i].interval;
		arena_init(&a);
		ctx_init(&ctx, jobs[i].plugin, &a, CTX_JOB);
		jobs[i].fn(&ctx);
		if (ctx.db && db_in_tx(ctx.db)) {
			log_msg(LOG_WARN, "job '%s' of plugin '%s' left a "
					  "transaction open; rolled back",
				jobs[i].name, plugin_name(jobs[i].plugin));
			db_rollback(ctx.db);
		}
		ctx_release(&ctx);
		arena_release(&a);
	}
}

static void *main_loop(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	while (!stop) {
		struct timespec ts;
		time_t now = time(NULL);
		pthread_mutex_unlock(&mu);
		run_plugin_jobs(now);
		wf_jobs_run_due(now);
		for (int i = 0; i < nticks; i++)
			ticks[i]();
		pthread_mutex_lock(&mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (!stop)
			pthread_cond_timedwait(&cv, &mu, &ts);
	}
	pthread_mutex_unlock(&mu);
	db_thread_close();
	return NULL;
}

int jobs_start(void)
{
	stop = 0;
	if (pthread_create(&thread, NULL, main_loop, NULL))
		return -1;
	running = 1;
	return 0;
}

void jobs_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&mu);
	stop = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(thread, NULL);
	running = 0;
}
