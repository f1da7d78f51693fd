/*
 * postern: an ESMTP gateway in front of an upstream SMTP server.
 *
 *   postern -c FILE [-o key=value]...       run in the foreground
 *   postern -t -c FILE                      check a config and exit
 *   postern -n -c FILE                      print the effective config
 *   postern -s reload|stop|quit -c FILE     signal the running instance
 *   postern --listen ADDR --upstream ADDR   quick mode, no file
 *           [--tls-cert FILE --tls-key FILE] [--upstream-tls MODE]
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_config.h"
#include "gateway/gw_log.h"
#include "gateway/gw_process.h"
#include "gateway/gw_simulate.h"
#include "gateway/passwd.h"
#include "gateway/gw_worker.h"

#ifndef POSTERN_VERSION
#define POSTERN_VERSION "0.0.0"
#endif

#define GW_MAX_OVERRIDES 64

static void
gw_main_usage(FILE *fp)
{
    fprintf(fp,
            "usage: postern -c FILE [-t] [-n] [-o key=value]...\n"
            "       postern -c FILE --simulate [--client ADDR] [--listener NAME]\n"
            "               < DIALOGUE\n"
            "       postern passwd USER < PASSWORD   (a line for auth.users)\n"
            "       postern --listen HOST:PORT --upstream HOST:PORT "
            "[-o key=value]...\n"
            "               [--tls-cert FILE --tls-key FILE] "
            "[--upstream-tls MODE]\n"
            "\n"
            "  -c, --config FILE     configuration file (YAML)\n"
            "  -t, --test            check the configuration and exit\n"
            "  -n, --print           print the effective configuration\n"
            "  -s, --signal ACTION   reload, stop or quit the instance in\n"
            "                        process.pid_file\n"
            "  -o, --set KEY=VALUE   override a setting (repeatable), e.g.\n"
            "                        -o limits.message_size=20M\n"
            "      --listen ADDR     quick mode: listen on ADDR\n"
            "      --upstream ADDR   quick mode: relay to ADDR\n"
            "      --tls-cert FILE   quick mode: offer STARTTLS with this\n"
            "                        PEM certificate chain (with --tls-key)\n"
            "      --tls-key FILE    quick mode: its private key\n"
            "      --upstream-tls MODE\n"
            "                        quick mode: TLS to the upstream: none,\n"
            "                        may, encrypt or verify (verify needs a\n"
            "                        name: --upstream NAME:PORT, or\n"
            "                        -o upstreams.0.server_name=NAME)\n"
            "      --simulate        run the SMTP dialogue on stdin through\n"
            "                        the config against a mock upstream that\n"
            "                        accepts everything; print each reply and\n"
            "                        the policy rule that decided it\n"
            "      --client ADDR     with --simulate: pretend to come from ADDR\n"
            "      --listener NAME   with --simulate: arrive on this listener\n"
            "                        (default: the first)\n"
            "  -V, --version         print the version\n"
            "  -h, --help            this help\n"
            "\n"
            "-t prints warnings (an expired certificate) as\n"
            "FILE:LINE:COL: warning: ...; they do not make a configuration\n"
            "invalid.\n"
            "Logs go to stderr. SIGHUP reloads, SIGTERM stops gracefully,\n"
            "SIGQUIT (or a second SIGTERM) stops at once.\n");
}

/* Warnings (an expired certificate) do not stop a start; they are logged
 * with the configuration's log settings (gw_process_run sets the same). */
static void
gw_main_log_warnings(const struct gw_config *cfg,
                     const struct gw_config_errors *errs)
{
    gw_log_set_level(cfg->log_level);
    gw_log_set_format(cfg->log_format, cfg->log_sink);
    gw_log_config_warnings(errs);
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"print", no_argument, NULL, 'n'},
        {"signal", required_argument, NULL, 's'},
        {"set", required_argument, NULL, 'o'},
        {"listen", required_argument, NULL, 'L'},
        {"upstream", required_argument, NULL, 'U'},
        {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'},
        {"upstream-tls", required_argument, NULL, 'T'},
        {"simulate", no_argument, NULL, 'S'},
        {"client", required_argument, NULL, 'A'},
        {"listener", required_argument, NULL, 'N'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *overrides[GW_MAX_OVERRIDES];
    size_t noverrides = 0;
    const char *config_path = NULL;
    const char *sim_client = NULL;
    const char *sim_listener = NULL;
    bool simulate = false;
    const char *listen = NULL;
    const char *upstream = NULL;
    const char *tls_cert = NULL;
    const char *tls_key = NULL;
    const char *upstream_tls = NULL;
    const char *action = NULL;
    struct gw_config_source src;
    bool test_only = false;
    bool print = false;
    struct gw_config_errors errs;
    struct gw_config *cfg;
    size_t i;
    int ch;

    /* AUTH checks (crypt, token commands) run in libuv's thread pool: 4
     * threads by default, which a few slow token commands could hold.
     * An administrator's own setting wins. */
    setenv("UV_THREADPOOL_SIZE", "16", 0);
    if (argc >= 2 && strcmp(argv[1], "passwd") == 0) {
        return gw_passwd_main(argc, argv);
    }
    while ((ch = getopt_long(argc, argv, "c:tns:o:Vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config_path = optarg;
            break;
        case 't':
            test_only = true;
            break;
        case 'n':
            print = true;
            break;
        case 's':
            action = optarg;
            break;
        case 'o':
            if (noverrides == GW_MAX_OVERRIDES) {
                fprintf(stderr, "postern: too many -o options (max %d)\n",
                        GW_MAX_OVERRIDES);
                return 2;
            }
            overrides[noverrides++] = optarg;
            break;
        case 'L':
            listen = optarg;
            break;
        case 'U':
            upstream = optarg;
            break;
        case 'C':
            tls_cert = optarg;
            break;
        case 'K':
            tls_key = optarg;
            break;
        case 'T':
            upstream_tls = optarg;
            break;
        case 'S':
            simulate = true;
            break;
        case 'A':
            sim_client = optarg;
            break;
        case 'N':
            sim_listener = optarg;
            break;
        case 'V':
            printf("postern %s\n", POSTERN_VERSION);
            return 0;
        case 'h':
            gw_main_usage(stdout);
            return 0;
        default:
            gw_main_usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "postern: unexpected argument '%s'\n", argv[optind]);
        gw_main_usage(stderr);
        return 2;
    }
    if (config_path != NULL && (listen != NULL || upstream != NULL ||
                                tls_cert != NULL || tls_key != NULL ||
                                upstream_tls != NULL)) {
        fprintf(stderr, "postern: -c and the quick-mode options (--listen, "
                        "--upstream, --tls-cert, --tls-key, --upstream-tls) "
                        "exclude each other\n");
        return 2;
    }
    if ((tls_cert == NULL) != (tls_key == NULL)) {
        fprintf(stderr, "postern: --tls-cert and --tls-key go together\n");
        return 2;
    }
    memset(&errs, 0, sizeof(errs));
    memset(&src, 0, sizeof(src));
    src.path = config_path;
    src.listen = listen;
    src.upstream = upstream;
    src.tls_cert = tls_cert;
    src.tls_key = tls_key;
    src.upstream_tls = upstream_tls;
    src.overrides = overrides;
    src.noverrides = noverrides;
    if (config_path == NULL && (listen == NULL || upstream == NULL)) {
        fprintf(stderr, "postern: give -c FILE, or both --listen and "
                        "--upstream\n");
        gw_main_usage(stderr);
        return 2;
    }
    cfg = gw_config_from(&src, &errs);
    if (cfg == NULL || test_only || print) {
        for (i = 0; cfg == NULL && i < errs.count; i++) {
            fprintf(stderr, "%s\n", errs.msg[i]);
        }
        for (i = 0; i < errs.nwarnings; i++) {
            fprintf(stderr, "%s\n", errs.warning[i]);
        }
    }
    if (cfg == NULL) {
        return 1;
    }
    if (simulate) {
        return gw_simulate_run(cfg, sim_client, sim_listener, stdin,
                               stdout);
    }
    if (action != NULL) {
        int rc = gw_process_signal(cfg, action);

        gw_config_unref(cfg);
        return rc;
    }
    if (print) {
        gw_config_print(cfg, stdout);
    }
    if (test_only || print) {
        if (test_only && gw_process_check_files_as_user(cfg) == SIZE_MAX) {
            fprintf(stderr, "postern: configuration %s: the workers could "
                    "not drop privileges (process.user)\n", cfg->source);
            gw_config_unref(cfg);
            return 1;
        }
        if (test_only) {
            fprintf(stderr, "postern: configuration %s is valid\n",
                    cfg->source);
        }
        gw_config_unref(cfg);
        return 0;
    }

    gw_main_log_warnings(cfg, &errs);
    /* A peer that closes while we write must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    return gw_process_run(&src, cfg); /* takes over cfg */
}
