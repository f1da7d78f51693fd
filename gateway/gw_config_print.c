/*
 * Configuration, printing: the effective configuration (defaults filled in,
 * names resolved, addresses as ip:port) written as YAML that loads back into
 * the same struct (postern -n).
 */
#include "gateway/gw_config_internal.h"

#include <string.h>

#include "gateway/gw_str.h"

void
gw_config_print(const struct gw_config *cfg, FILE *fp)
{
    char src[sizeof(cfg->source) * 4];
    size_t i;
    size_t j;

    if (cfg == NULL || fp == NULL) {
        return;
    }
    gw_str_escape(src, sizeof(src), (const uint8_t *)cfg->source,
                  strlen(cfg->source));
    fprintf(fp, "# Effective configuration of %s (defaults filled in)\n", src);
    /* Names, domains and addresses hold no '"' or '\\' (validated), so a
     * double-quoted scalar needs no escaping and never reads as a bool. */
    fprintf(fp, "hostname: \"%s\"\n", cfg->hostname);
    fprintf(fp, "listeners:\n");
    for (i = 0; i < cfg->nlisteners; i++) {
        fprintf(fp, "  - name: \"%s\"\n", cfg->listeners[i].name);
        fprintf(fp, "    address: \"%s\"\n", cfg->listeners[i].addr.text);
        fprintf(fp, "    upstream: \"%s\"\n",
                cfg->upstreams[cfg->listeners[i].upstream].name);
        gw_cfg_print_keys(fp, "    ", &cfg->listeners[i], gw_cfg_listener_keys,
                          gw_cfg_nlistener_keys);
        gw_cfg_print_listener_proxy(fp, &cfg->listeners[i]);
        gw_cfg_print_listener_tls(fp, &cfg->listeners[i]);
        gw_cfg_print_listener_auth(fp, &cfg->listeners[i]);
    }
    fprintf(fp, "upstreams:\n");
    for (i = 0; i < cfg->nupstreams; i++) {
        fprintf(fp, "  - name: \"%s\"\n", cfg->upstreams[i].name);
        fprintf(fp, "    addresses:\n");
        for (j = 0; j < cfg->upstreams[i].naddrs; j++) {
            fprintf(fp, "      - \"%s\"\n", cfg->upstreams[i].addrs[j].text);
        }
        fprintf(fp, "    helo_name: \"%s\"\n", cfg->upstreams[i].helo_name);
        gw_cfg_print_keys(fp, "    ", &cfg->upstreams[i], gw_cfg_upstream_keys,
                          gw_cfg_nupstream_keys);
        gw_cfg_print_upstream_tls(fp, &cfg->upstreams[i]);
        gw_cfg_print_upstream_auth(fp, &cfg->upstreams[i]);
    }
    for (i = 0; i < gw_cfg_nsections; i++) {
        fprintf(fp, "%s:\n", gw_cfg_sections[i].name);
        gw_cfg_print_keys(fp, "  ", cfg, gw_cfg_sections[i].keys,
                          gw_cfg_sections[i].nkeys);
    }
    gw_cfg_ehlo_print(fp, &cfg->ehlo);
    if (cfg->policy_text != NULL) {
        fputs(cfg->policy_text, fp);
    }
}
