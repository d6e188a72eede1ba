/*
 * sched.h - what the scheduling plugin's files share: the host table, the
 * settings read at init, small SQL/JSON helpers, the appointment and type
 * records, and the entry points each file offers the others.
 *
 * Internal to the plugin (never installed). Everything here has hidden
 * visibility: the .so exports only its descriptor. Handlers run on several
 * worker threads at once; the only globals are the host table and the
 * settings, both written once in init and read-only afterwards.
 */
#ifndef SCHED_H
#define SCHED_H

#include <atrium/plugin.h>

#include "slots.h"

/* ---- globals set in init -------------------------------------------- */

extern const struct atr_api *sched_api;

struct sched_config {
	long cutoff_hours;
	long leads[SCHED_MAX_LEADS];
	int nleads;
	const char *leads_text; /* as configured, e.g. "72h,24h,2h" */
	long offer_ttl_s;
	int step_s;           /* slot_minutes in seconds: grid of starts */
	const char *location; /* default location */
	int max_days;         /* how far ahead slots are offered */
	int offer_batch;      /* waitlist entries offered one freed slot */
};
extern struct sched_config sched_cfg;

extern const struct atr_migration sched_migrations[];

/* Statuses that hold a slot (the partial unique index uses this list). */
#define SCHED_ACTIVE_SQL "('pending','booked','arrived','checked-in')"

/* A provider's active visits starting in [?2, ?3), but not visit ?4, by
 * start: read from the covering index scheduling_appointments_busy alone
 * (its status list repeats the index's, so SQLite uses it; checked by
 * tests/unit/test_scheduling_plans.c). */
#define SCHED_BUSY_SQL                                                       \
	"SELECT start_utc, end_utc FROM scheduling_appointments "            \
	"WHERE provider_id = ? AND status IN " SCHED_ACTIVE_SQL              \
	" AND start_utc >= ? AND start_utc < ? AND id != ? "                 \
	"ORDER BY start_utc"

/* ---- errors ------------------------------------------------------------ */

/* An error to answer with; code and msg are static strings or arena. */
struct sched_err {
	int status;
	const char *code;
	const char *msg;
};
int sched_set_err(struct sched_err *e, int status, const char *code,
		  const char *msg);
/* Writes e as the response; returns ATR_OK (handlers return it). */
int sched_respond_err(struct atr_ctx *ctx, const struct sched_err *e);
/* 503 for a busy database, 500 otherwise; `what` names the thing. */
int sched_db_fail(struct atr_ctx *ctx, int rc, const char *what);

/* Routes with a secret token in the path audit themselves, without it
 * (the core's automatic PHI audit row would record the path parameter).
 * Handlers fill a struct sched_tok as they answer. */
struct sched_tok {
	int status;          /* HTTP status answered */
	long long patient_id; /* the patient concerned, once known */
	const char *object;  /* "appointment:12", "offer:3" (arena) */
};
/* Writes the error, records its status; returns ATR_ERESPONDED. */
int sched_tok_fail(struct atr_ctx *ctx, struct sched_tok *t, int status,
		   const char *code, const char *msg);
void sched_tok_audit(struct atr_ctx *ctx, const struct sched_tok *t,
		     const char *action);

/* ---- SQL helpers: params are stolen (may be NULL) --------------------- */

json_t *sched_one(struct atr_ctx *ctx, const char *sql, json_t *params,
		  int *status);
json_t *sched_query(struct atr_ctx *ctx, const char *sql, json_t *params);
int sched_exec(struct atr_ctx *ctx, const char *sql, json_t *params,
	       long long *changes, long long *last_id);
/* Field accessors on a row: 0 / NULL when missing or of another type. */
long long sched_int(json_t *row, const char *key);
const char *sched_str(json_t *row, const char *key);

/* ---- request helpers ------------------------------------------------- */

/* The :name route parameter as a positive id; writes a 404 otherwise. */
int sched_param_id(struct atr_ctx *ctx, const char *name, long long *out);
/* A query parameter as a positive id (0 when absent); writes a 400 on a
 * malformed one and returns ATR_ERESPONDED. */
int sched_query_id(struct atr_ctx *ctx, const char *name, long long *out);
/* RFC 3339 body/query time; writes a 400 naming `field` on failure. */
int sched_parse_time(struct atr_ctx *ctx, const char *s, const char *field,
		     time_t *out);
/* The practice-zone clock for slots.c. */
struct sched_clock sched_clock_of(struct atr_ctx *ctx);
const char *sched_role_name(unsigned role);
int sched_is_staff(struct atr_ctx *ctx); /* staff or physician */
/* A JSON string of t in RFC 3339 (new reference). */
json_t *sched_time_json(struct atr_ctx *ctx, time_t t);

/* ---- records ---------------------------------------------------------- */

struct sched_type {
	long long id;
	const char *name;
	int duration_min;
	int self_bookable, needs_approval, new_patient, active;
};
/* ATR_OK, ATR_ENOTFOUND or an error. Strings live in the arena. */
int sched_load_type(struct atr_ctx *ctx, long long id, struct sched_type *t);
/* Does the provider (active) offer the type? */
int sched_type_offered(struct atr_ctx *ctx, long long type_id,
		       long long provider_id);
/* The provider's display name and location, or NULL when no such active
 * provider. */
const char *sched_provider_name(struct atr_ctx *ctx, long long provider_id,
				const char **location);

struct sched_appt {
	long long id, patient_id, provider_id, type_id, booked_by;
	time_t start, end;
	const char *status, *type_name, *provider_name, *location, *leads;
	int self_booked, new_patient;
};
int sched_load_appt(struct atr_ctx *ctx, long long id, struct sched_appt *a);
/* The API view of an appointment (new reference), or NULL. */
json_t *sched_appt_json(struct atr_ctx *ctx, long long id);
/* The API view of a row selected with SCHED_APPT_SELECT (new reference). */
json_t *sched_appt_view(struct atr_ctx *ctx, json_t *row);
#define SCHED_APPT_SELECT                                                     \
	"SELECT a.id, a.patient_id, u.display_name AS patient_name, "          \
	"a.provider_id, p.display_name AS provider_name, a.type_id, "          \
	"t.name AS type_name, t.duration_minutes, a.location, a.start_utc, "   \
	"a.end_utc, a.status, a.self_booked, a.booked_by, a.confirmed_at, "    \
	"a.cancel_reason, a.reschedule_count, a.created_at, a.updated_at, "    \
	"a.local_date "                                                        \
	"FROM scheduling_appointments a JOIN users u ON u.id = a.patient_id "  \
	"JOIN scheduling_types t ON t.id = a.type_id JOIN "                    \
	"scheduling_providers p ON p.id = a.provider_id "

/* Who acts: a signed-in user, or the holder of a reminder link. */
struct sched_actor {
	long long user_id;
	unsigned role;
	int via_link;
};
struct sched_actor sched_actor_of(struct atr_ctx *ctx);

/* ---- availability (availability.c) ------------------------------------ */

/* The provider's templates (arena array). */
int sched_load_templates(struct atr_ctx *ctx, long long provider_id,
			 struct sched_template **out, size_t *n);
/* Busy intervals of the provider intersecting [from, to) (arena array):
 * with SCHED_BUSY_BOOKINGS its active bookings except `exclude`, with
 * SCHED_BUSY_BLOCKS its blocks and the practice-wide ones. */
#define SCHED_BUSY_BOOKINGS 1u
#define SCHED_BUSY_BLOCKS 2u
int sched_load_busy(struct atr_ctx *ctx, long long provider_id, time_t from,
		    time_t to, long long exclude, unsigned what,
		    struct sched_interval **out, size_t *n);
/* Is `start` an open slot for type t with the provider, now? Checks that
 * the type is offered, the time is ahead and within max_days, on the grid
 * of an availability window, clear of blocks and (unless `exclude` is that
 * booking) of other bookings. ATR_OK, or fills e and returns its status. */
int sched_check_slot(struct atr_ctx *ctx, long long provider_id,
		     const struct sched_type *t, time_t start,
		     long long exclude, const char **location,
		     struct sched_err *e);

/* ---- booking (booking.c) --------------------------------------------- */

/* Inserts the appointment and its slot claims (in the caller's
 * transaction). ATR_ECONFLICT when any granule is taken. */
struct sched_new {
	long long patient_id, provider_id, booked_by;
	const struct sched_type *type;
	time_t start;
	const char *status; /* pending | booked */
	int self_booked;
	const char *location;
	const char *leads; /* reminder leads text */
};
int sched_insert_appt(struct atr_ctx *ctx, const struct sched_new *n,
		      long long *id);
/* Moves an active appointment to start (in the caller's transaction):
 * frees its claims, claims the new granules. ATR_ECONFLICT when taken. */
int sched_move_appt(struct atr_ctx *ctx, const struct sched_appt *a,
		    long long provider_id, time_t start, time_t end,
		    const char *location, const char *status,
		    const char *leads);
/* Runs appointment.before_book. On success *status and *leads hold the
 * (possibly amended) values; on deny fills e (403 denied_by_rule). */
int sched_before_book(struct atr_ctx *ctx, const char *action,
		      const struct sched_new *n, long long appointment_id,
		      const char **status, const char **leads,
		      struct sched_err *e);
void sched_after_book(struct atr_ctx *ctx, const char *action,
		      long long appointment_id);
/* Cancels an appointment (pending/booked/arrived/checked-in) as actor:
 * checks the cutoff for patients and links, runs before/after_cancel,
 * frees the slot, cancels reminders and offers the slot to the waitlist.
 * `declined` marks a staff decline of a request. ATR_OK or fills e. */
int sched_cancel_appt(struct atr_ctx *ctx, const struct sched_appt *a,
		      const struct sched_actor *who, const char *reason,
		      int declined, struct sched_err *e);

/* ---- reminders (reminders.c) ------------------------------------------ */

/* Queues the reminders of a booked appointment at its lead times (none in
 * the past), each with a single-use confirm/cancel token. Caller's tx. */
int sched_queue_reminders(struct atr_ctx *ctx, long long appointment_id);
/* Cancels undelivered reminders and unused tokens. Caller's tx. */
int sched_cancel_reminders(struct atr_ctx *ctx, long long appointment_id);
/* A notice to the patient that their appointment was `what` ("booked",
 * "requested", "approved", "declined", "cancelled", "rescheduled"), sent
 * now as an "appointment_confirmation" notification. */
void sched_notice(struct atr_ctx *ctx, long long appointment_id,
		  const char *what);
/* Local "YYYY-MM-DD HH:MM" of t, for message text (arena). */
const char *sched_local_text(struct atr_ctx *ctx, time_t t);

/* ---- waitlist (waitlist.c) -------------------------------------------- */

/* A slot of the provider starting at `start` became free: offer it to the
 * next matching waitlist entries. Opens its own transaction. */
void sched_offer_freed(struct atr_ctx *ctx, long long provider_id,
		       time_t start);
void sched_offer_job(struct atr_ctx *ctx);

/* ---- demo data (demo.c) ----------------------------------------------- */
void sched_demo(struct atr_ctx *ctx);
json_t *sched_lookup_patient(struct atr_ctx *ctx, json_t *args);

/* ---- route handlers ------------------------------------------------- */

int sched_h_providers(struct atr_ctx *ctx);
int sched_h_provider_add(struct atr_ctx *ctx);
int sched_h_provider_put(struct atr_ctx *ctx);
int sched_h_types(struct atr_ctx *ctx);
int sched_h_type_add(struct atr_ctx *ctx);
int sched_h_type_put(struct atr_ctx *ctx);
int sched_h_type_del(struct atr_ctx *ctx);
int sched_h_templates(struct atr_ctx *ctx);
int sched_h_template_add(struct atr_ctx *ctx);
int sched_h_template_put(struct atr_ctx *ctx);
int sched_h_template_del(struct atr_ctx *ctx);
int sched_h_blocks(struct atr_ctx *ctx);
int sched_h_block_add(struct atr_ctx *ctx);
int sched_h_block_del(struct atr_ctx *ctx);
int sched_h_primary_get(struct atr_ctx *ctx);
int sched_h_primary_put(struct atr_ctx *ctx);
int sched_h_slots(struct atr_ctx *ctx);
int sched_h_book(struct atr_ctx *ctx);
int sched_h_list(struct atr_ctx *ctx);
int sched_h_get(struct atr_ctx *ctx);
int sched_h_cancel(struct atr_ctx *ctx);
int sched_h_reschedule(struct atr_ctx *ctx);
int sched_h_approve(struct atr_ctx *ctx);
int sched_h_decline(struct atr_ctx *ctx);
int sched_h_status(struct atr_ctx *ctx);
int sched_h_schedule(struct atr_ctx *ctx);
int sched_h_waitlist_add(struct atr_ctx *ctx);
int sched_h_waitlist_list(struct atr_ctx *ctx);
int sched_h_waitlist_del(struct atr_ctx *ctx);
int sched_h_offer_get(struct atr_ctx *ctx);
int sched_h_offer_accept(struct atr_ctx *ctx);
int sched_h_reminder_get(struct atr_ctx *ctx);
int sched_h_reminder_confirm(struct atr_ctx *ctx);
int sched_h_reminder_cancel(struct atr_ctx *ctx);
int sched_h_metrics(struct atr_ctx *ctx);

#endif
