/*
 * workflow.c - generations of workflow scripts: loading and validating a
 * directory, reference counting, the current generation and its swap on
 * reload, and the status the admin page shows.
 *
 * A generation is immutable once built, except for the schedule of its
 * timed jobs, which the jobs lock guards. The current generation changes
 * only under that lock too, so the job thread never runs a job of a
 * generation that was just replaced. Lock order: reload, jobs, current;
 * the status lock is a leaf.
 *
 * Running scripts is elsewhere: thread states and dispatch in
 * workflow_run.c, the sandbox itself in workflow_sandbox.c.
 */
#include "workflow_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCRIPT_MAX_BYTES (1u << 20)
#define ERROR_RING 20
#define RING_TEXT (WF_WHERE_MAX + WF_MSG_MAX + 80)

static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cur_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;

static struct wf_gen *cur_gen;   /* cur_lock and jobs_lock to change */
static atomic_ulong cur_epoch;   /* bumped after each swap */
static atomic_ulong gen_ids;

/* status_lock */
static struct {
	time_t t;
	char text[RING_TEXT];
} ring[ERROR_RING];
static int ring_next, ring_count;
static char reload_error[2048];
static time_t reload_error_t;

/* ---- small helpers ------------------------------------------------ */

int wf_gen_event(const struct wf_gen *gen, const char *name)
{
	int i;

	for (i = 0; gen && i < gen->nevents; i++)
		if (strcmp(gen->events[i].name, name) == 0)
			return i;
	return -1;
}

time_t wf_gen_now(const struct wf_gen *gen)
{
	return gen->host.now ? gen->host.now(gen->host.ud) : time(NULL);
}

void wf_log(const struct wf_gen *gen, int level, const char *where,
	    const char *fmt, ...)
{
	char raw[1400], msg[1400], loc[WF_WHERE_MAX];
	va_list ap;
	int n;

	if (!gen->host.log)
		return;
	va_start(ap, fmt);
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	wf_clean_text(msg, sizeof(msg), raw, strlen(raw));
	wf_clean_text(loc, sizeof(loc), where ? where : "",
		      where ? strlen(where) : 0);
	gen->host.log(gen->host.ud, level, loc, msg);
}

void wf_record_error(const struct wf_gen *gen, const char *where,
		     const char *label, const char *msg)
{
	wf_log(gen, 3, where, "%s: %s", label, msg);
	pthread_mutex_lock(&status_lock);
	ring[ring_next].t = wf_gen_now(gen);
	snprintf(ring[ring_next].text, sizeof(ring[ring_next].text),
		 "%s%s%s: %s", where, where[0] ? ": " : "", label, msg);
	ring_next = (ring_next + 1) % ERROR_RING;
	if (ring_count < ERROR_RING)
		ring_count++;
	pthread_mutex_unlock(&status_lock);
}

void wf_jobs_lock(void)
{
	pthread_mutex_lock(&jobs_lock);
}

void wf_jobs_unlock(void)
{
	pthread_mutex_unlock(&jobs_lock);
}

struct wf_gen *wf_current_locked(void)
{
	return cur_gen;
}

unsigned long wf_epoch(void)
{
	return atomic_load(&cur_epoch);
}

/* The first time after `after` that the local clock reads hh:mm. */
static time_t next_daily(int hh, int mm, time_t after)
{
	struct tm base, tm;
	time_t t;
	int d;

	localtime_r(&after, &base);
	for (d = 0; d < 3; d++) {
		tm = base;
		tm.tm_mday += d;
		tm.tm_hour = hh;
		tm.tm_min = mm;
		tm.tm_sec = 0;
		tm.tm_isdst = -1;
		t = mktime(&tm);
		if (t != (time_t)-1 && t > after)
			return t;
	}
	return after + 86400;
}

time_t wf_job_next(const struct wf_gen *gen, const struct wf_job *job,
		   time_t t)
{
	const struct wf_reg *r = &gen->regs[job->reg];

	if (r->kind == WF_REG_EVERY)
		return t + (time_t)r->every;
	return next_daily(r->hh, r->mm, t);
}

void wf_job_label(const struct wf_reg *reg, char *buf, size_t len)
{
	if (reg->kind == WF_REG_EVERY)
		snprintf(buf, len, "every(%u)", reg->every);
	else
		snprintf(buf, len, "daily(%02d:%02d)", reg->hh, reg->mm);
}

/* Append a line to the error text (one error per line). */
static void add_error(char *err, size_t errlen, const char *line)
{
	size_t used;

	if (!errlen)
		return;
	used = strlen(err);
	if (used && used + 1 < errlen)
		err[used++] = '\n', err[used] = '\0';
	if (used < errlen)
		snprintf(err + used, errlen - used, "%s", line);
}

/* ---- building a generation ---------------------------------------- */

static void gen_free(struct wf_gen *gen)
{
	int i, k;

	if (!gen)
		return;
	for (i = 0; i < gen->nevents; i++) {
		for (k = 0; k < gen->events[i].nfields; k++)
			free(gen->events[i].fields[k]);
		free(gen->events[i].fields);
		free(gen->events[i].name);
	}
	for (i = 0; i < gen->nfiles; i++) {
		free(gen->files[i].name);
		free(gen->files[i].src);
	}
	free(gen->events);
	free(gen->files);
	free(gen->regs);
	free(gen->jobs);
	free(gen->dir);
	free(gen);
}

/* Split "a, b,c" into ev->fields. */
static int split_fields(struct wf_event *ev, const char *list)
{
	const char *p = list;

	while (p && *p) {
		const char *start, *end;
		char **n;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		start = p;
		while (*p && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end == start)
			continue;
		n = realloc(ev->fields, sizeof(*n) * (size_t)(ev->nfields + 1));
		if (!n)
			return -1;
		ev->fields = n;
		n[ev->nfields] = strndup(start, (size_t)(end - start));
		if (!n[ev->nfields])
			return -1;
		ev->nfields++;
	}
	return 0;
}

static int copy_events(struct wf_gen *gen, const struct wf_event_info *ev)
{
	int n = 0, i;

	while (ev && ev[n].name)
		n++;
	gen->events = calloc((size_t)n + 1, sizeof(*gen->events));
	if (!gen->events)
		return -1;
	for (i = 0; i < n; i++) {
		struct wf_event *e = &gen->events[i];

		gen->nevents = i + 1;
		e->name = strdup(ev[i].name);
		if (!e->name || split_fields(e, ev[i].amendable) < 0)
			return -1;
		e->clinical = ev[i].clinical;
		e->before = strstr(e->name, "before_") != NULL;
	}
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.lua names of dir (not starting with '.'), sorted bytewise, as
 * gen->files. A missing directory has none. */
static int list_scripts(struct wf_gen *gen, const char *dir, char *err,
			size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	int n = 0, cap = 0, i;

	if (!d) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: cannot open: %s", dir,
			 strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] == '.' || l < 5 ||
		    strcmp(de->d_name + l - 4, ".lua") != 0)
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 16;
			nn = realloc(names, sizeof(*nn) * (size_t)cap);
			if (!nn)
				goto oom;
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (!names[n])
			goto oom;
		n++;
	}
	closedir(d);
	d = NULL;
	if (n)
		qsort(names, (size_t)n, sizeof(*names), cmp_names);
	gen->files = calloc((size_t)n + 1, sizeof(*gen->files));
	if (!gen->files)
		goto oom;
	for (i = 0; i < n; i++)
		gen->files[i].name = names[i];
	gen->nfiles = n;
	free(names);
	return 0;
oom:
	if (d)
		closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	snprintf(err, errlen, "%s: out of memory", dir);
	return -1;
}

/* Read dir/f->name into f->src. On failure writes "name:1: why". */
static int read_script(const char *dir, struct wf_file *f, char *err,
		       size_t errlen)
{
	char path[4096];
	struct stat sb;
	size_t got = 0;
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, f->name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		snprintf(err, errlen, "%s:1: cannot read: %s", f->name,
			 strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size > (off_t)SCRIPT_MAX_BYTES) {
		snprintf(err, errlen, "%s:1: %s", f->name,
			 S_ISREG(sb.st_mode) ? "script larger than 1 MiB"
					     : "not a regular file");
		goto fail;
	}
	f->src = malloc((size_t)sb.st_size + 1);
	if (!f->src) {
		snprintf(err, errlen, "%s:1: out of memory", f->name);
		goto fail;
	}
	while (got < (size_t)sb.st_size &&
	       (r = read(fd, f->src + got, (size_t)sb.st_size - got)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s:1: cannot read: %s", f->name,
				 strerror(errno));
			goto fail;
		}
		got += (size_t)r;
	}
	f->src[got] = '\0';
	f->len = got;
	close(fd);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Copy what the validation run registered into gen, with first runs of
 * jobs counted from the load time. */
static int take_regs(struct wf_gen *gen, const struct wf_state *st)
{
	int i, nj = 0;

	gen->regs = calloc((size_t)st->nregs + 1, sizeof(*gen->regs));
	gen->jobs = calloc((size_t)st->nregs + 1, sizeof(*gen->jobs));
	if (!gen->regs || !gen->jobs)
		return -1;
	for (i = 0; i < st->nregs; i++) {
		const struct wf_reg *r = &st->regs[i].r;

		gen->regs[i] = *r;
		if (r->kind == WF_REG_ON) {
			gen->files[r->file].handlers++;
			gen->events[r->event].handlers++;
			continue;
		}
		gen->files[r->file].jobs++;
		gen->jobs[nj].reg = i;
		gen->jobs[nj].next = wf_job_next(gen, &gen->jobs[nj],
						 gen->loaded_at);
		nj++;
	}
	gen->nregs = st->nregs;
	gen->njobs = nj;
	return 0;
}

struct wf_gen *wf_gen_load(const char *dir, const struct wf_event_info *events,
			   const struct wf_limits *lim,
			   const struct wf_host *host, char *err,
			   size_t errlen)
{
	struct wf_gen *gen = calloc(1, sizeof(*gen));
	struct wf_state *st = NULL;
	char line[WF_WHERE_MAX + WF_MSG_MAX + 8];
	struct wf_error e;
	int i, bad = 0;

	if (errlen)
		err[0] = '\0';
	if (!gen) {
		add_error(err, errlen, "workflows: out of memory");
		return NULL;
	}
	atomic_init(&gen->refs, 1);
	gen->id = atomic_fetch_add(&gen_ids, 1) + 1;
	if (lim)
		gen->lim = *lim;
	if (!gen->lim.instructions)
		gen->lim.instructions = WF_DEFAULT_INSTRUCTIONS;
	if (!gen->lim.deadline_ms)
		gen->lim.deadline_ms = WF_DEFAULT_DEADLINE_MS;
	if (!gen->lim.memory)
		gen->lim.memory = WF_DEFAULT_MEMORY;
	if (host)
		gen->host = *host;
	gen->dir = strdup(dir);
	if (!gen->dir || copy_events(gen, events) < 0) {
		add_error(err, errlen, "workflows: out of memory");
		goto fail;
	}
	if (list_scripts(gen, dir, line, sizeof(line)) < 0) {
		add_error(err, errlen, line);
		goto fail;
	}
	for (i = 0; i < gen->nfiles; i++) {
		if (read_script(dir, &gen->files[i], line, sizeof(line)) < 0) {
			add_error(err, errlen, line);
			bad++;
		}
	}
	if (bad)
		goto fail;
	gen->loaded_at = wf_gen_now(gen);
	if (gen->nfiles == 0)
		return gen;
	st = wf_state_new(gen, 1);
	if (!st) {
		add_error(err, errlen, "workflows: out of memory");
		goto fail;
	}
	for (i = 0; i < gen->nfiles; i++) {
		if (wf_state_load(st, i, &e) < 0) {
			snprintf(line, sizeof(line), "%s: %s", e.where, e.msg);
			add_error(err, errlen, line);
			bad++;
		}
	}
	if (bad)
		goto fail;
	if (take_regs(gen, st) < 0) {
		add_error(err, errlen, "workflows: out of memory");
		goto fail;
	}
	wf_state_free(st);
	return gen;
fail:
	wf_state_free(st);
	gen_free(gen);
	return NULL;
}

void wf_gen_ref(struct wf_gen *gen)
{
	atomic_fetch_add(&gen->refs, 1);
}

void wf_gen_unref(struct wf_gen *gen)
{
	if (gen && atomic_fetch_sub(&gen->refs, 1) == 1)
		gen_free(gen);
}

int wf_check_dir(const char *dir, const struct wf_event_info *events,
		 char *err, size_t errlen)
{
	struct wf_gen *gen = wf_gen_load(dir, events, NULL, NULL, err, errlen);

	if (!gen)
		return -1;
	wf_gen_unref(gen);
	return 0;
}

/* ---- the current generation --------------------------------------- */

static int same_job(const struct wf_gen *a, const struct wf_reg *ra,
		    const struct wf_gen *b, const struct wf_reg *rb)
{
	return ra->kind == rb->kind && ra->every == rb->every &&
	       ra->hh == rb->hh && ra->mm == rb->mm &&
	       strcmp(a->files[ra->file].name, b->files[rb->file].name) == 0;
}

/* A job registered again by the same file (the k-th job with the same
 * schedule there) keeps its schedule across a reload. Jobs lock held. */
static void carry_schedules(struct wf_gen *gen, const struct wf_gen *old)
{
	int j, i, k, seen;

	for (j = 0; old && j < gen->njobs; j++) {
		const struct wf_reg *r = &gen->regs[gen->jobs[j].reg];

		for (k = 0, i = 0; i < j; i++)
			k += same_job(gen, &gen->regs[gen->jobs[i].reg], gen,
				      r);
		for (seen = 0, i = 0; i < old->njobs; i++) {
			const struct wf_job *oj = &old->jobs[i];

			if (!same_job(old, &old->regs[oj->reg], gen, r))
				continue;
			if (seen++ == k) {
				gen->jobs[j].next = oj->next;
				gen->jobs[j].last = oj->last;
				break;
			}
		}
	}
}

int wf_reload(const char *dir, const struct wf_event_info *events,
	      const struct wf_limits *lim, const struct wf_host *host,
	      char *err, size_t errlen)
{
	struct wf_gen *gen, *old;

	pthread_mutex_lock(&reload_lock);
	gen = wf_gen_load(dir, events, lim, host, err, errlen);
	if (!gen) {
		pthread_mutex_lock(&status_lock);
		snprintf(reload_error, sizeof(reload_error), "%s",
			 errlen ? err : "error");
		reload_error_t = host && host->now ? host->now(host->ud)
						   : time(NULL);
		pthread_mutex_unlock(&status_lock);
		pthread_mutex_unlock(&reload_lock);
		return -1;
	}
	pthread_mutex_lock(&jobs_lock);
	carry_schedules(gen, cur_gen);
	pthread_mutex_lock(&cur_lock);
	old = cur_gen;
	cur_gen = gen;
	atomic_fetch_add(&cur_epoch, 1);
	pthread_mutex_unlock(&cur_lock);
	pthread_mutex_unlock(&jobs_lock);
	pthread_mutex_lock(&status_lock);
	reload_error[0] = '\0';
	pthread_mutex_unlock(&status_lock);
	pthread_mutex_unlock(&reload_lock);
	wf_gen_unref(old);
	return 0;
}

struct wf_gen *wf_current(void)
{
	struct wf_gen *gen = wf_run_current();

	return gen ? gen : wf_current_ref();
}

struct wf_gen *wf_current_ref(void)
{
	struct wf_gen *gen;

	pthread_mutex_lock(&cur_lock);
	gen = cur_gen;
	if (gen)
		wf_gen_ref(gen);
	pthread_mutex_unlock(&cur_lock);
	return gen;
}

void wf_shutdown(void)
{
	struct wf_gen *old;

	wf_run_release_thread();
	pthread_mutex_lock(&jobs_lock);
	pthread_mutex_lock(&cur_lock);
	old = cur_gen;
	cur_gen = NULL;
	atomic_fetch_add(&cur_epoch, 1);
	pthread_mutex_unlock(&cur_lock);
	pthread_mutex_unlock(&jobs_lock);
	wf_gen_unref(old);
}

/* ---- status ------------------------------------------------------- */

static json_t *iso_time(time_t t)
{
	struct tm tm;
	char buf[32];

	if (!t || !gmtime_r(&t, &tm))
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

static json_t *status_files(const struct wf_gen *gen)
{
	json_t *a = json_array();
	int i;

	for (i = 0; a && i < gen->nfiles; i++)
		json_array_append_new(
		    a, json_pack("{s:s, s:i, s:i}", "name", gen->files[i].name,
				 "handlers", gen->files[i].handlers, "jobs",
				 gen->files[i].jobs));
	return a;
}

static json_t *status_jobs(const struct wf_gen *gen)
{
	json_t *a = json_array();
	char label[32];
	int j;

	pthread_mutex_lock(&jobs_lock);
	for (j = 0; a && j < gen->njobs; j++) {
		const struct wf_job *job = &gen->jobs[j];
		const struct wf_reg *r = &gen->regs[job->reg];

		wf_job_label(r, label, sizeof(label));
		json_array_append_new(
		    a, json_pack("{s:s, s:i, s:s, s:o, s:o}", "file",
				 gen->files[r->file].name, "line", r->line,
				 "schedule", label, "next_run",
				 iso_time(job->next), "last_run",
				 iso_time(job->last)));
	}
	pthread_mutex_unlock(&jobs_lock);
	return a;
}

json_t *wf_status(void)
{
	struct wf_gen *gen = wf_current();
	json_t *o = json_object(), *errs = json_array();
	int i;

	if (!o || !errs) {
		json_decref(o);
		json_decref(errs);
		wf_gen_unref(gen);
		return NULL;
	}
	if (gen) {
		json_object_set_new(o, "generation",
				    json_integer((json_int_t)gen->id));
		json_object_set_new(o, "dir", json_string(gen->dir));
		json_object_set_new(o, "loaded_at", iso_time(gen->loaded_at));
		json_object_set_new(o, "files", status_files(gen));
		json_object_set_new(o, "jobs", status_jobs(gen));
	} else {
		json_object_set_new(o, "generation", json_integer(0));
		json_object_set_new(o, "dir", json_null());
		json_object_set_new(o, "loaded_at", json_null());
		json_object_set_new(o, "files", json_array());
		json_object_set_new(o, "jobs", json_array());
	}
	pthread_mutex_lock(&status_lock);
	for (i = 1; i <= ring_count; i++) {
		int k = (ring_next - i + ERROR_RING) % ERROR_RING;

		json_array_append_new(errs,
				      json_pack("{s:o, s:s}", "time",
						iso_time(ring[k].t), "message",
						ring[k].text));
	}
	json_object_set_new(o, "errors", errs);
	if (reload_error[0])
		json_object_set_new(
		    o, "reload_error",
		    json_pack("{s:o, s:s}", "time", iso_time(reload_error_t),
			      "message", reload_error));
	else
		json_object_set_new(o, "reload_error", json_null());
	pthread_mutex_unlock(&status_lock);
	wf_gen_unref(gen);
	return o;
}
