/* ctl_migrations: the SQL migrations embedded in crieurctl at build time.
 *
 * A migration is one file db/migrations/NNN_name.sql; its version is NNN and
 * it is applied once, in its own transaction, with a row in
 * crieur.schema_version (version, name, checksum = SHA-256 of the file). The
 * array is generated in the build tree by ctl/embed_migrations.cmake, sorted
 * by version. */
#ifndef CTL_MIGRATIONS_H
#define CTL_MIGRATIONS_H

#include <stddef.h>

typedef struct {
    int version;          /* NNN */
    const char *name;     /* "init" */
    const char *id;       /* "001_init": the file name without .sql */
    const char *checksum; /* SHA-256 of the file, lowercase hex */
    const char *sql;      /* the file, NUL-terminated */
    size_t len;           /* bytes of sql, without the NUL */
} ctl_migration_t;

extern const ctl_migration_t ctl_migrations[];
extern const size_t ctl_migrations_count;

#endif
