/*
 * demo.c - the demo practice's schedule (atriumd --init-demo), and the
 * read-only lookup workflow scripts may call.
 *
 * The demo physicians become providers with four visit types and weekday
 * hours 09:00-12:00 and 13:00-17:00, so open slots show at once; each demo
 * patient gets an own physician. The only core table read is `users` (id,
 * username, display_name, role), which the SDK documents as readable.
 */
#include "sched.h"

#include <string.h>

static const struct {
	const char *name;
	int minutes, self_bookable, needs_approval, new_patient;
} demo_types[] = {
    {"New patient visit", 40, 1, 1, 1},
    {"Follow-up visit", 20, 1, 1, 0}, /* see config/workflows: auto-approved
					  with the patient's own physician */
    {"Annual physical", 40, 1, 0, 0},
    {"Telehealth check-in", 15, 1, 0, 0},
};

static const int demo_hours[][2] = {{9 * 60, 12 * 60}, {13 * 60, 17 * 60}};

static long long user_id(struct atr_ctx *ctx, const char *username,
			 const char *role, const char **display)
{
	int st;
	long long id = 0;
	json_t *row = sched_one(ctx,
				"SELECT id, display_name FROM users WHERE "
				"username = ? AND role = ?",
				json_pack("[s,s]", username, role), &st);
	if (row) {
		id = sched_int(row, "id");
		if (display)
			*display = sched_api->sprintf(
			    ctx, "%s", sched_str(row, "display_name"));
	}
	json_decref(row);
	return id;
}

static int seed(struct atr_ctx *ctx, const long long *phys, size_t nphys,
		const char *const *names)
{
	time_t now = sched_api->now(ctx);
	long long type_ids[sizeof(demo_types) / sizeof(demo_types[0])];
	int rc = ATR_OK;

	for (size_t i = 0; i < nphys && rc == ATR_OK; i++)
		rc = sched_exec(ctx,
				"INSERT INTO scheduling_providers (id, "
				"display_name, location, created_at) VALUES "
				"(?, ?, ?, ?)",
				json_pack("[I,s,s,I]", (json_int_t)phys[i],
					  names[i], sched_cfg.location,
					  (json_int_t)now),
				NULL, NULL);
	for (size_t t = 0; t < sizeof(demo_types) / sizeof(demo_types[0]) &&
			   rc == ATR_OK;
	     t++) {
		rc = sched_exec(
		    ctx,
		    "INSERT INTO scheduling_types (name, duration_minutes, "
		    "self_bookable, needs_approval, new_patient, created_at) "
		    "VALUES (?, ?, ?, ?, ?, ?)",
		    json_pack("[s,i,i,i,i,I]", demo_types[t].name,
			      demo_types[t].minutes, demo_types[t].self_bookable,
			      demo_types[t].needs_approval,
			      demo_types[t].new_patient, (json_int_t)now),
		    NULL, &type_ids[t]);
		for (size_t i = 0; i < nphys && rc == ATR_OK; i++)
			rc = sched_exec(ctx,
					"INSERT INTO scheduling_type_providers "
					"(type_id, provider_id) VALUES (?, ?)",
					json_pack("[I,I]",
						  (json_int_t)type_ids[t],
						  (json_int_t)phys[i]),
					NULL, NULL);
	}
	for (size_t i = 0; i < nphys; i++)
		for (int wd = 1; wd <= 5; wd++)
			for (size_t h = 0; h < 2 && rc == ATR_OK; h++)
				rc = sched_exec(
				    ctx,
				    "INSERT INTO scheduling_templates "
				    "(provider_id, location, weekday, "
				    "start_minute, end_minute, created_at) "
				    "VALUES (?, ?, ?, ?, ?, ?)",
				    json_pack("[I,s,i,i,i,I]",
					      (json_int_t)phys[i],
					      sched_cfg.location, wd,
					      demo_hours[h][0],
					      demo_hours[h][1],
					      (json_int_t)now),
				    NULL, NULL);
	return rc;
}

void sched_demo(struct atr_ctx *ctx)
{
	static const char *const phys_users[] = {"physician.demo",
						 "physician2.demo"};
	static const char *const patient_users[] = {"patient.demo",
						    "patient2.demo"};
	long long phys[2];
	const char *names[2];
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < 2; i++) {
		const char *name = NULL;
		long long id = user_id(ctx, phys_users[i], "physician", &name);
		if (id) {
			phys[n] = id;
			names[n++] = name;
		}
	}
	if (!n) {
		sched_api->log(ctx, ATR_LOG_WARN,
			       "demo: no demo physicians; no schedule seeded");
		return;
	}
	rc = sched_api->tx_begin(ctx);
	if (rc == ATR_OK)
		rc = seed(ctx, phys, n, names);
	for (size_t i = 0; i < 2 && rc == ATR_OK; i++) {
		long long pid = user_id(ctx, patient_users[i], "patient", NULL);
		if (pid)
			rc = sched_exec(
			    ctx,
			    "INSERT INTO scheduling_primary_providers "
			    "(patient_id, provider_id, updated_at) VALUES (?, "
			    "?, ?)",
			    json_pack("[I,I,I]", (json_int_t)pid,
				      (json_int_t)phys[i < n ? i : 0],
				      (json_int_t)sched_api->now(ctx)),
			    NULL, NULL);
	}
	if (rc == ATR_OK)
		rc = sched_api->tx_commit(ctx);
	if (rc != ATR_OK) {
		sched_api->tx_rollback(ctx);
		sched_api->log(ctx, ATR_LOG_ERROR,
			       "demo: the schedule could not be seeded");
	}
}

/* atrium.lookup("scheduling.patient_summary", {patient_id = N}) ->
 * {primary_provider_id, visits, noshows, upcoming} or nil. */
json_t *sched_lookup_patient(struct atr_ctx *ctx, json_t *args)
{
	json_t *id = json_object_get(args, "patient_id"), *row, *pp, *out;
	long long pid;
	int st;

	if (!json_is_integer(id))
		return NULL;
	pid = json_integer_value(id);
	row = sched_one(
	    ctx,
	    "SELECT SUM(CASE WHEN status = 'fulfilled' THEN 1 ELSE 0 END) AS "
	    "visits, SUM(CASE WHEN status = 'noshow' THEN 1 ELSE 0 END) AS "
	    "noshows, SUM(CASE WHEN status IN " SCHED_ACTIVE_SQL
	    " AND start_utc > ? THEN 1 ELSE 0 END) AS upcoming FROM "
	    "scheduling_appointments WHERE patient_id = ?",
	    json_pack("[I,I]", (json_int_t)sched_api->now(ctx),
		      (json_int_t)pid),
	    &st);
	pp = sched_one(ctx,
		       "SELECT provider_id FROM scheduling_primary_providers "
		       "WHERE patient_id = ?",
		       json_pack("[I]", (json_int_t)pid), &st);
	if (!row) {
		json_decref(pp);
		return NULL;
	}
	out = json_pack("{s:o,s:I,s:I,s:I}", "primary_provider_id",
			 pp ? json_integer(sched_int(pp, "provider_id"))
			    : json_null(),
			 "visits", (json_int_t)sched_int(row, "visits"),
			 "noshows", (json_int_t)sched_int(row, "noshows"),
			 "upcoming", (json_int_t)sched_int(row, "upcoming"));
	json_decref(row);
	json_decref(pp);
	return out;
}
