/*
 * workflow_emit.c - the cost of one workflow handler per request, measured
 * where the core pays it: events_emit() as a request calls it (a fresh
 * context, the event emitted, the context released, which unpins the
 * generation), with no handler registered and with one empty before_
 * handler, on 1 and on N threads at once (each with its own Lua state: the
 * per-thread figure staying flat shows there is no global lock).
 *
 * The event is notification.before_send (a core event, so no plugin is
 * needed) with a payload shaped like the scheduling plugin's
 * appointment.before_book: the same 19 fields and types, plus the
 * notification's title, body and channel. Not a test: it prints figures.
 * Built and run by bench/run.sh (bench_workflow), linked with libcore.a.
 *
 *   workflow_emit [ITERATIONS [THREADS [ROUNDS]]]   defaults 200000 2 5
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "arena.h"
#include "config.h"
#include "events.h"
#include "log.h"
#include "request.h"

#define EVENT "notification.before_send"
#define MAX_THREADS 16

static long iterations = 200000;
static json_t *payloads[MAX_THREADS];
static double cpu_ns[MAX_THREADS];

static double clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The booking payload (fields as the scheduling plugin builds them). */
static json_t *make_payload(void)
{
	return json_pack(
	    "{s:n,s:I,s:I,s:I,s:s,s:b,s:s,s:s,s:s,s:s,s:I,s:s,s:b,s:I,s:I,"
	    "s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
	    "appointment_id", "patient_id", (json_int_t)5, "provider_id",
	    (json_int_t)3, "type_id", (json_int_t)4, "type_name",
	    "Telehealth check-in", "new_patient", 0, "start",
	    "2026-12-03T09:00:00Z", "end", "2026-12-03T09:15:00Z",
	    "start_local", "2026-12-03 09:00", "today", "2026-11-26",
	    "minutes_until_start", (json_int_t)10000, "status", "booked",
	    "self_booked", 1, "patient_primary_provider_id", (json_int_t)3,
	    "patient_visit_count", (json_int_t)2, "action", "book", "location",
	    "Main clinic", "reminder_leads", "72h,24h,2h", "booked_by_role",
	    "patient", "title", "Your visit", "body", "See you soon",
	    "channel", "portal");
}

/* One thread's loop: what a request does around its one emit. arg is
 * the thread's index; its CPU time goes to cpu_ns[index]. */
static void *worker(void *arg)
{
	int me = (int)(long)arg;
	json_t *payload = payloads[me];
	struct arena a;
	struct atr_ctx ctx;
	const char *reason;
	double t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);

	arena_init(&a);
	for (long i = 0; i < iterations; i++) {
		ctx_init(&ctx, NULL, &a, CTX_REQUEST);
		if (events_emit(&ctx, EVENT, payload, &reason) != ATR_OK) {
			fprintf(stderr, "workflow_emit: the event was denied\n");
			exit(1);
		}
		ctx_release(&ctx);
	}
	arena_release(&a);
	cpu_ns[me] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
	return NULL;
}

/* `threads` threads emitting together: wall-clock ns per emit per thread
 * (the time a request waits) in *wall, CPU ns per emit in *cpu (what it
 * costs, whatever else the machine is doing). */
static void run(int threads, double *wall, double *cpu)
{
	pthread_t t[MAX_THREADS];
	double t0 = clock_ns(CLOCK_MONOTONIC), sum = 0;
	for (int i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)(long)i)) {
			fprintf(stderr, "workflow_emit: pthread_create\n");
			exit(1);
		}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		sum += cpu_ns[i];
	}
	*wall = (clock_ns(CLOCK_MONOTONIC) - t0) / (double)iterations;
	*cpu = sum / (double)threads / (double)iterations;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Writes (handler non-zero) or removes the script and reloads. */
static void set_handler(const char *dir, int handler)
{
	char path[512], err[1024];
	FILE *f;
	snprintf(path, sizeof(path), "%s/bench.lua", dir);
	if (handler) {
		f = fopen(path, "w");
		if (!f) {
			perror(path);
			exit(1);
		}
		fputs("atrium.on(\"" EVENT "\", function(ev) end)\n", f);
		fclose(f);
	} else {
		unlink(path);
	}
	if (events_reload(err, sizeof(err))) {
		fprintf(stderr, "workflow_emit: reload: %s\n", err);
		exit(1);
	}
}

/* Prints one row: median wall and CPU time per emit without and with the
 * handler. res[h][m][r]: h handler, m 0 wall 1 cpu, r round. */
static void report(const char *label, double res[2][2][32], int rounds)
{
	double v[2][2];
	for (int h = 0; h < 2; h++)
		for (int m = 0; m < 2; m++) {
			qsort(res[h][m], (size_t)rounds, sizeof(double),
			      cmp_double);
			v[h][m] = res[h][m][rounds / 2] / 1000;
		}
	printf("  %-10s wall %7.3f -> %7.3f us (added %6.3f)   cpu %7.3f -> "
	       "%7.3f us (added %6.3f)\n",
	       label, v[0][0], v[1][0], v[1][0] - v[0][0], v[0][1], v[1][1],
	       v[1][1] - v[0][1]);
}

int main(int argc, char **argv)
{
	static struct config cfg;
	static double one[2][2][32], many[2][2][32];
	char dir[] = "/tmp/atrium-wfbench-XXXXXX", err[1024], label[16];
	int threads = argc > 2 ? atoi(argv[2]) : 2;
	int rounds = argc > 3 ? atoi(argv[3]) : 5;
	double w, c;

	if (argc > 1)
		iterations = atol(argv[1]);
	if (iterations < 1000 || threads < 1 || threads > MAX_THREADS ||
	    rounds < 1 || rounds > 32) {
		fprintf(stderr, "usage: workflow_emit [ITERATIONS>=1000 "
				"[THREADS 1..16 [ROUNDS 1..32]]]\n");
		return 2;
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	log_set_level(LOG_WARN);
	config_defaults(&cfg);
	free(cfg.workflows_dir);
	cfg.workflows_dir = strdup(dir);
	g_cfg = &cfg;
	if (events_start(&cfg, err, sizeof(err))) {
		fprintf(stderr, "workflow_emit: %s\n", err);
		return 1;
	}
	for (int i = 0; i < MAX_THREADS; i++)
		payloads[i] = make_payload();
	/* Warm up: every thread builds its Lua state once. */
	set_handler(dir, 1);
	run(threads, &w, &c);
	for (int r = 0; r < rounds; r++)
		for (int h = 0; h < 2; h++) {
			set_handler(dir, h);
			run(1, &one[h][0][r], &one[h][1][r]);
			run(threads, &many[h][0][r], &many[h][1][r]);
		}
	printf("  events_emit, no handler -> one empty before_ handler, per "
	       "emit, median of %d rounds of %ld (target: <= 2 us added)\n",
	       rounds, iterations);
	report("1 thread", one, rounds);
	snprintf(label, sizeof(label), "%d thread%s", threads,
		 threads > 1 ? "s" : "");
	report(label, many, rounds);
	set_handler(dir, 0);
	rmdir(dir);
	events_stop();
	for (int i = 0; i < MAX_THREADS; i++)
		json_decref(payloads[i]);
	g_cfg = NULL;
	config_free(&cfg);
	return 0;
}
