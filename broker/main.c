/* crieur-broker: claims due jobs from PostgreSQL and hands them to workers
 * over ZeroMQ; writes their results back. See cr_broker.h. */
#include "cr_broker.h"
#include "cr_secret.h"

#include "cr_config.h"
#include "cr_log.h"
#include "cr_util.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OPT(name, type, def, rel, field, min, max, help) \
    {name, type, def, rel, offsetof(cr_broker_config_t, field), min, max, help}

static const cr_opt_t s_options[] = {
    OPT("database-url", CR_OPT_STRING, "", 0, database, 0, 0,
        "PostgreSQL connection (conninfo or postgres:// URL); empty = libpq defaults (PGHOST...)"),
    OPT("bind", CR_OPT_STRING, "tcp://127.0.0.1:5555", 0, bind, 0, 0,
        "ZeroMQ endpoint the workers connect to"),
    OPT("broker-id", CR_OPT_STRING, "", 0, broker_id, 0, 0,
        "stable name of this broker, owner of its leases (default: HOST/BIND); a restarted "
        "broker with the same id takes its jobs back at once"),
    OPT("heartbeat-ms", CR_OPT_INT, "1000", 0, heartbeat_ms, 50, 60000,
        "heartbeat interval, both ways"),
    OPT("heartbeat-liveness", CR_OPT_INT, "3", 0, heartbeat_liveness, 2, 100,
        "missed heartbeats before a worker is dead and its tasks are released"),
    OPT("lease-ms", CR_OPT_INT, "10000", 0, lease_ms, 1000, 3600000,
        "lease on claimed jobs; renewed every third of it; a dead broker's jobs return after it"),
    OPT("lookahead-ms", CR_OPT_INT, "1000", 0, lookahead_ms, 0, 60000,
        "claim jobs this long before they are due and hold them until their time"),
    OPT("tick-ms", CR_OPT_INT, "1000", 1, tick_ms, 10, 60000,
        "longest sleep without looking at the queue (LISTEN/NOTIFY wakes the broker earlier)"),
    OPT("claim-batch", CR_OPT_INT, "1000", 1, claim_batch, 1, 100000,
        "most jobs claimed in one round trip"),
    OPT("task-batch", CR_OPT_INT, "100", 1, task_batch, 1, 10000,
        "most tasks sent to a worker in one message"),
    OPT("task-timeout-ms", CR_OPT_INT, "60000", 1, task_timeout_ms, 1000, 3600000,
        "deadline given to a worker for one task"),
    OPT("backoff-ms", CR_OPT_INT, "2000", 1, backoff_ms, 10, 3600000,
        "first retry delay after a transient failure (doubles each attempt, with jitter)"),
    OPT("grace-ms", CR_OPT_INT, "10000", 1, grace_ms, 0, 600000,
        "on SIGTERM, how long to wait for in-flight results before releasing them"),
    OPT("reap-ms", CR_OPT_INT, "1000", 1, reap_ms, 100, 60000,
        "how often to take over the jobs of brokers that are gone (session closed or lease expired)"),
    OPT("stats-interval-s", CR_OPT_INT, "10", 1, stats_interval_s, 1, 3600,
        "how often to log counters (when they changed)"),
    OPT("log-level", CR_OPT_STRING, "info", 1, log_level, 0, 0, "debug, info, warn or error"),
    OPT("log-format", CR_OPT_STRING, "text", 0, log_format, 0, 0, "text or json"),
    OPT("secret-key-file", CR_OPT_STRING, "", 0, secret_key_file, 0, 0,
        "file holding the key that seals credentials at rest (crieurctl key generate); empty = "
        "CRIEUR_SECRET_KEY or CRIEUR_SECRET_KEY_FILE. The same key as crieurctl's"),
    CR_OPT_END,
};

int main(int argc, char **argv)
{
    cr_broker_config_t cfg;
    char err[1024];
    memset(&cfg, 0, sizeof cfg);
    cr_config_rc_t rc = cr_config_load(s_options, &cfg, argc, argv,
                                       "Crieur broker: dispatches scheduled jobs from PostgreSQL "
                                       "to workers over ZeroMQ.",
                                       err, sizeof err);
    if (rc == CR_CONFIG_HELP) return 0;
    if (rc == CR_CONFIG_ERROR) {
        fprintf(stderr, "crieur-broker: %s\n", err);
        return 2;
    }
    cr_log_level_t level;
    if (cr_log_level_parse(cfg.log_level, &level) != 0) {
        fprintf(stderr, "crieur-broker: log-level must be debug, info, warn or error, not '%s'\n",
                cfg.log_level);
        return 2;
    }
    if (strcmp(cfg.log_format, "text") != 0 && strcmp(cfg.log_format, "json") != 0) {
        fprintf(stderr, "crieur-broker: log-format must be text or json, not '%s'\n",
                cfg.log_format);
        return 2;
    }
    cr_log_init("broker", level, strcmp(cfg.log_format, "json") == 0);
    if (cfg.lookahead_ms * 2 >= cfg.lease_ms) {
        fprintf(stderr, "crieur-broker: lookahead-ms (%ld) must be under half of lease-ms (%ld)\n",
                cfg.lookahead_ms, cfg.lease_ms);
        return 2;
    }
    if (!cfg.broker_id[0]) {
        char host[256] = "localhost";
        gethostname(host, sizeof host);
        host[sizeof host - 1] = '\0';
        size_t n = strlen(host) + strlen(cfg.bind) + 2;
        char *id = malloc(n);
        if (!id) return 1;
        snprintf(id, n, "%s/%s", host, cfg.bind);
        free(cfg.broker_id);
        cfg.broker_id = id;
    }
    cfg.secret_key = cr_secret_key_load(cfg.secret_key_file[0] ? cfg.secret_key_file : NULL, err,
                                        sizeof err);
    if (!cfg.secret_key) {
        fprintf(stderr, "crieur-broker: %s\n", err);
        cr_config_free(s_options, &cfg);
        return 78; /* EX_CONFIG */
    }
    cr_info("secret key loaded (id %s)", cr_secret_key_id(cfg.secret_key));
    volatile int stop = 0, reload = 0;
    cr_signals_install(&stop, &reload);
    cr_broker_t *broker = cr_broker_new(&cfg);
    if (!broker) {
        cr_secret_key_free(&cfg.secret_key);
        cr_config_free(s_options, &cfg);
        return 1;
    }
    int r = cr_broker_run(broker, &stop, &reload);
    cr_broker_destroy(&broker);
    cr_secret_key_free(&cfg.secret_key);
    cr_config_free(s_options, &cfg);
    return r == 0 ? 0 : 1;
}
