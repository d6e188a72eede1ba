/*
 * schema.h - the core's own migrations (owner "core"). Append only: a
 * migration that has shipped is never edited; change the schema with a new
 * one at the end.
 */
#ifndef ATRIUM_SCHEMA_H
#define ATRIUM_SCHEMA_H

#include <atrium/plugin.h>

extern const struct atr_migration core_migrations[];

#endif
