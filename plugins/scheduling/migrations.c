/*
 * migrations.c - the scheduling plugin's tables, as numbered migrations the
 * core applies in one transaction at start. Never edit a shipped migration:
 * append a new one.
 *
 * Times the plugin compares are integer UTC epoch seconds; local_date is
 * the appointment's practice-local date ("YYYY-MM-DD"), stored so day
 * views and monthly metrics need no time-zone arithmetic in SQL. The SQL is
 * portable (SQLite now, PostgreSQL later): partial indexes, CHECKs and `?`
 * placeholders only.
 *
 * No double booking, enforced by the database twice over (see README.md):
 * the partial unique index scheduling_appointments_active forbids two
 * active bookings of one provider at the same start, and every active
 * booking owns one scheduling_slot_claims row per 5-minute granule it
 * covers, whose primary key (provider_id, slot_utc) forbids any overlap,
 * whatever the lengths.
 */
#include "sched.h"

const struct atr_migration sched_migrations[] = {
    {1,
     "CREATE TABLE scheduling_providers ("
     " id INTEGER PRIMARY KEY REFERENCES users(id),"
     " display_name TEXT NOT NULL,"
     " location TEXT NOT NULL,"
     " active INTEGER NOT NULL DEFAULT 1,"
     " created_at INTEGER NOT NULL);"

     "CREATE TABLE scheduling_types ("
     " id INTEGER PRIMARY KEY,"
     " name TEXT NOT NULL UNIQUE,"
     " duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 5"
     "  AND 480 AND duration_minutes % 5 = 0),"
     " self_bookable INTEGER NOT NULL DEFAULT 0,"
     " needs_approval INTEGER NOT NULL DEFAULT 0,"
     " new_patient INTEGER NOT NULL DEFAULT 0,"
     " active INTEGER NOT NULL DEFAULT 1,"
     " created_at INTEGER NOT NULL);"

     "CREATE TABLE scheduling_type_providers ("
     " type_id INTEGER NOT NULL REFERENCES scheduling_types(id),"
     " provider_id INTEGER NOT NULL REFERENCES scheduling_providers(id),"
     " PRIMARY KEY (type_id, provider_id));"
     "CREATE INDEX scheduling_type_providers_p ON"
     " scheduling_type_providers(provider_id);"

     "CREATE TABLE scheduling_templates ("
     " id INTEGER PRIMARY KEY,"
     " provider_id INTEGER NOT NULL REFERENCES scheduling_providers(id),"
     " location TEXT NOT NULL,"
     " weekday INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),"
     " start_minute INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND"
     "  1435),"
     " end_minute INTEGER NOT NULL CHECK (end_minute BETWEEN 5 AND 1440),"
     " valid_from TEXT,"
     " valid_until TEXT,"
     " active INTEGER NOT NULL DEFAULT 1,"
     " created_at INTEGER NOT NULL,"
     " CHECK (end_minute > start_minute));"
     "CREATE INDEX scheduling_templates_p ON"
     " scheduling_templates(provider_id, active);"

     "CREATE TABLE scheduling_blocks ("
     " id INTEGER PRIMARY KEY,"
     " provider_id INTEGER REFERENCES scheduling_providers(id),"
     " start_utc INTEGER NOT NULL,"
     " end_utc INTEGER NOT NULL,"
     " reason TEXT NOT NULL DEFAULT '',"
     " active INTEGER NOT NULL DEFAULT 1,"
     " created_by INTEGER NOT NULL,"
     " created_at INTEGER NOT NULL,"
     " CHECK (end_utc > start_utc));"
     "CREATE INDEX scheduling_blocks_range ON"
     " scheduling_blocks(active, start_utc);"

     "CREATE TABLE scheduling_appointments ("
     " id INTEGER PRIMARY KEY,"
     " patient_id INTEGER NOT NULL REFERENCES users(id),"
     " provider_id INTEGER NOT NULL REFERENCES scheduling_providers(id),"
     " type_id INTEGER NOT NULL REFERENCES scheduling_types(id),"
     " location TEXT NOT NULL,"
     " start_utc INTEGER NOT NULL,"
     " end_utc INTEGER NOT NULL,"
     " local_date TEXT NOT NULL,"
     " status TEXT NOT NULL CHECK (status IN ('proposed','pending',"
     "  'booked','arrived','fulfilled','cancelled','noshow',"
     "  'entered-in-error','checked-in','waitlist')),"
     " booked_by INTEGER NOT NULL,"
     " self_booked INTEGER NOT NULL DEFAULT 0,"
     " reminder_leads TEXT NOT NULL DEFAULT '',"
     " confirmed_at INTEGER,"
     " cancel_reason TEXT,"
     " cancelled_by INTEGER,"
     " reschedule_count INTEGER NOT NULL DEFAULT 0,"
     " created_at INTEGER NOT NULL,"
     " updated_at INTEGER NOT NULL,"
     " CHECK (end_utc > start_utc));"
     "CREATE UNIQUE INDEX scheduling_appointments_active ON"
     " scheduling_appointments(provider_id, start_utc)"
     " WHERE status IN ('pending','booked','arrived','checked-in');"
     "CREATE INDEX scheduling_appointments_patient ON"
     " scheduling_appointments(patient_id, start_utc);"
     "CREATE INDEX scheduling_appointments_provider ON"
     " scheduling_appointments(provider_id, start_utc);"
     "CREATE INDEX scheduling_appointments_date ON"
     " scheduling_appointments(local_date, provider_id);"

     "CREATE TABLE scheduling_slot_claims ("
     " provider_id INTEGER NOT NULL,"
     " slot_utc INTEGER NOT NULL,"
     " appointment_id INTEGER NOT NULL REFERENCES"
     "  scheduling_appointments(id),"
     " PRIMARY KEY (provider_id, slot_utc));"
     "CREATE INDEX scheduling_slot_claims_appt ON"
     " scheduling_slot_claims(appointment_id);"

     "CREATE TABLE scheduling_primary_providers ("
     " patient_id INTEGER PRIMARY KEY REFERENCES users(id),"
     " provider_id INTEGER NOT NULL REFERENCES scheduling_providers(id),"
     " updated_at INTEGER NOT NULL);"

     "CREATE TABLE scheduling_waitlist ("
     " id INTEGER PRIMARY KEY,"
     " patient_id INTEGER NOT NULL REFERENCES users(id),"
     " type_id INTEGER NOT NULL REFERENCES scheduling_types(id),"
     " provider_id INTEGER REFERENCES scheduling_providers(id),"
     " from_date TEXT NOT NULL,"
     " to_date TEXT NOT NULL,"
     " appointment_id INTEGER REFERENCES scheduling_appointments(id),"
     " status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active',"
     "  'booked','cancelled')),"
     " created_by INTEGER NOT NULL,"
     " created_at INTEGER NOT NULL,"
     " updated_at INTEGER NOT NULL);"
     "CREATE INDEX scheduling_waitlist_active ON"
     " scheduling_waitlist(status, id);"
     "CREATE INDEX scheduling_waitlist_patient ON"
     " scheduling_waitlist(patient_id, status);"

     "CREATE TABLE scheduling_freed ("
     " id INTEGER PRIMARY KEY,"
     " provider_id INTEGER NOT NULL,"
     " start_utc INTEGER NOT NULL,"
     " status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open',"
     "  'filled','closed')),"
     " created_at INTEGER NOT NULL);"
     "CREATE INDEX scheduling_freed_open ON scheduling_freed(status, id);"

     "CREATE TABLE scheduling_offers ("
     " id INTEGER PRIMARY KEY,"
     " freed_id INTEGER NOT NULL REFERENCES scheduling_freed(id),"
     " waitlist_id INTEGER NOT NULL REFERENCES scheduling_waitlist(id),"
     " patient_id INTEGER NOT NULL REFERENCES users(id),"
     " provider_id INTEGER NOT NULL,"
     " type_id INTEGER NOT NULL,"
     " start_utc INTEGER NOT NULL,"
     " end_utc INTEGER NOT NULL,"
     " token_hash TEXT NOT NULL UNIQUE,"
     " status TEXT NOT NULL DEFAULT 'sent' CHECK (status IN ('sent',"
     "  'accepted','expired','lost','withdrawn')),"
     " expires_at INTEGER NOT NULL,"
     " appointment_id INTEGER,"
     " created_at INTEGER NOT NULL,"
     " answered_at INTEGER,"
     " UNIQUE (freed_id, waitlist_id));"
     "CREATE INDEX scheduling_offers_due ON"
     " scheduling_offers(status, expires_at);"
     "CREATE INDEX scheduling_offers_created ON"
     " scheduling_offers(created_at);"

     "CREATE TABLE scheduling_reminder_tokens ("
     " id INTEGER PRIMARY KEY,"
     " appointment_id INTEGER NOT NULL REFERENCES"
     "  scheduling_appointments(id),"
     " token_hash TEXT NOT NULL UNIQUE,"
     " lead_seconds INTEGER NOT NULL,"
     " outbox_id INTEGER,"
     " expires_at INTEGER NOT NULL,"
     " used_at INTEGER,"
     " used_action TEXT,"
     " revoked INTEGER NOT NULL DEFAULT 0,"
     " created_at INTEGER NOT NULL);"
     "CREATE INDEX scheduling_reminder_tokens_appt ON"
     " scheduling_reminder_tokens(appointment_id);"},
    {2, /* a patient's visits by status: patient_visit_count and the
         * last fulfilled visit's provider in appointment.* payloads */
     "CREATE INDEX scheduling_appointments_patient_status ON"
     " scheduling_appointments(patient_id, status, start_utc);"},
    {3, /* slot search reads a provider's active visits in a range:
         * covering, so no table row is visited */
     "CREATE INDEX scheduling_appointments_busy ON"
     " scheduling_appointments(provider_id, start_utc, end_utc)"
     " WHERE status IN ('pending','booked','arrived','checked-in');"},
    {4, /* migration 3's index was not covering after all: SQLite 3.40
         * reads a column that the query names from the table row even
         * when the index's WHERE already fixes it (status here). With
         * status among the columns, slot search visits no table row. */
     "DROP INDEX scheduling_appointments_busy;"
     "CREATE INDEX scheduling_appointments_busy ON"
     " scheduling_appointments(provider_id, start_utc, end_utc, status)"
     " WHERE status IN ('pending','booked','arrived','checked-in');"},
    {0, NULL},
};
