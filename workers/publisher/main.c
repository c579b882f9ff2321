/* crieur-publisher: publishes posts on the platforms, for one or more brokers'
 * publish tasks. All the work is in the shared worker runtime
 * (runtime/cr_worker.h) and the platform adapters; this file is the
 * configuration table and the role. */
#include "cr_adapters.h"
#include "cr_config.h"
#include "cr_log.h"
#include "cr_util.h"
#include "cr_worker.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *broker;
    char *worker_id;
    long capacity;
    long request_timeout_ms;
    long connect_timeout_ms;
    long grace_ms;
    long heartbeat_ms;
    char *log_level;
    char *log_format;
} cr_publisher_cfg_t;

#define F(field) offsetof(cr_publisher_cfg_t, field)
static const cr_opt_t s_options[] = {
    {"broker", CR_OPT_STRING, "tcp://127.0.0.1:5555", 0, F(broker), 0, 0,
     "broker endpoint(s) to connect to (ZeroMQ), comma-separated: tcp://b1:5555,tcp://b2:5555"},
    {"worker-id", CR_OPT_STRING, NULL, 0, F(worker_id), 0, 0,
     "unique worker id, the ZeroMQ routing id (default hostname-pid-<4 random hex>)"},
    {"capacity", CR_OPT_INT, "256", 0, F(capacity), 1, 100000,
     "tasks run concurrently (slots granted to the broker)"},
    {"request-timeout-ms", CR_OPT_INT, "30000", 1, F(request_timeout_ms), 100, 600000,
     "timeout of one platform HTTP request (capped by the task deadline)"},
    {"connect-timeout-ms", CR_OPT_INT, "5000", 1, F(connect_timeout_ms), 100, 600000,
     "timeout to connect to a platform"},
    {"grace-ms", CR_OPT_INT, "10000", 1, F(grace_ms), 0, 3600000,
     "on SIGTERM, time given to in-flight tasks before they are abandoned"},
    {"heartbeat-ms", CR_OPT_INT, "1000", 0, F(heartbeat_ms), 50, 60000,
     "heartbeat interval until the broker's WELCOME sets it"},
    {"log-level", CR_OPT_STRING, "info", 1, F(log_level), 0, 0, "debug, info, warn or error"},
    {"log-format", CR_OPT_STRING, "text", 1, F(log_format), 0, 0, "text or json"},
    CR_OPT_END,
};
#undef F

static volatile int s_stop, s_reload;

/* Applies log-level and log-format; 0, or -1 with err filled. */
static int s_apply_log(const cr_publisher_cfg_t *cfg, char *err, size_t errlen)
{
    cr_log_level_t level;
    if (cr_log_level_parse(cfg->log_level, &level)) {
        snprintf(err, errlen, "option 'log-level' must be debug, info, warn or error, got '%s'",
                 cfg->log_level);
        return -1;
    }
    int json = strcmp(cfg->log_format, "json") == 0;
    if (!json && strcmp(cfg->log_format, "text") != 0) {
        snprintf(err, errlen, "option 'log-format' must be text or json, got '%s'",
                 cfg->log_format);
        return -1;
    }
    cr_log_init("publisher", level, json);
    return 0;
}

static void s_default_worker_id(char *buf, size_t len)
{
    char host[128], hex[5];
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "worker");
    host[sizeof host - 1] = '\0';
    cr_random_hex(hex, sizeof hex);
    snprintf(buf, len, "%s-%ld-%s", host, (long)getpid(), hex);
}

int main(int argc, char **argv)
{
    cr_publisher_cfg_t cfg;
    char err[512], wid[256];
    int status = 1;
    cr_worker_t *worker = NULL;
    memset(&cfg, 0, sizeof cfg);

    cr_config_rc_t crc = cr_config_load(s_options, &cfg, argc, argv,
                                        "Crieur publisher worker: runs publish tasks from the broker "
                                        "against the platforms' APIs.",
                                        err, sizeof err);
    if (crc == CR_CONFIG_HELP) {
        status = 0;
        goto out;
    }
    if (crc == CR_CONFIG_ERROR) {
        fprintf(stderr, "crieur-publisher: %s\n", err);
        status = 2;
        goto out;
    }
    if (s_apply_log(&cfg, err, sizeof err)) {
        fprintf(stderr, "crieur-publisher: %s\n", err);
        status = 2;
        goto out;
    }
    if (strlen(cfg.worker_id) > 255) {
        fprintf(stderr, "crieur-publisher: option 'worker-id' must be at most 255 bytes\n");
        status = 2;
        goto out;
    }
    int nbrokers = cr_worker_check_brokers(cfg.broker, err, sizeof err);
    if (nbrokers < 0) {
        fprintf(stderr, "crieur-publisher: %s\n", err);
        status = 2;
        goto out;
    }
    if (cfg.worker_id[0]) snprintf(wid, sizeof wid, "%s", cfg.worker_id);
    else s_default_worker_id(wid, sizeof wid);

    cr_signals_install(&s_stop, &s_reload);
    cr_worker_opts_t opts = {
        .broker = cfg.broker,
        .worker_id = wid,
        .role = CRIEUR__ROLE__ROLE_PUBLISHER,
        .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH) |
                 CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_ALERT) | /* alerts: webhook, email */
                 CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_TOKEN_REFRESH) | /* x, threads, linkedin */
                 CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_NOOP), /* acknowledged without work */
        .adapters = cr_adapters_builtin(),
        .capacity = (uint32_t)cfg.capacity,
        .request_timeout_ms = cfg.request_timeout_ms,
        .connect_timeout_ms = cfg.connect_timeout_ms,
        .grace_ms = cfg.grace_ms,
        .heartbeat_ms = cfg.heartbeat_ms,
    };
    worker = cr_worker_new(&opts);
    if (!worker) {
        cr_error("cannot start worker=%s broker=%s", wid, cfg.broker);
        goto out;
    }
    cr_info("publisher started worker=%s broker=%s brokers=%d capacity=%ld version=%s", wid,
            cfg.broker, nbrokers, cfg.capacity, CR_WORKER_VERSION);

    int stops_seen = 0, rc;
    while ((rc = cr_worker_step(worker, 1000)) > 0) {
        while (stops_seen < s_stop) {
            stops_seen++;
            cr_worker_stop(worker);
        }
        if (s_reload) {
            s_reload = 0;
            if (cr_config_reload(s_options, &cfg, cr_config_file(), err, sizeof err) ||
                s_apply_log(&cfg, err, sizeof err)) {
                cr_warn("configuration not reloaded worker=%s: %s", wid, err);
            } else {
                cr_worker_set_timeouts(worker, cfg.request_timeout_ms, cfg.connect_timeout_ms,
                                       cfg.grace_ms);
                cr_info("configuration reloaded worker=%s", wid);
            }
        }
    }
    status = rc == 0 ? 0 : 1;
out:
    cr_worker_destroy(&worker);
    cr_config_free(s_options, &cfg);
    return status;
}
