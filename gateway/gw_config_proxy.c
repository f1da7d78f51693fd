/*
 * A listener's PROXY protocol keys: proxy_protocol and proxy_trusted (the
 * networks a header may come from), and their part of `postern -n`.
 */
#include <string.h>

#include "gateway/gw_config_internal.h"
#include "policy/policy.h"

static void
gw_cfg_proxy_net(struct gw_cfg_ctx *ctx, struct gw_listener_cfg *l,
                 const struct gw_cfg_node *el, const char *path)
{
    struct gw_net *net = &l->proxy_trusted[l->nproxy_trusted];
    const char *s = gw_cfg_scalar(ctx, el, path, "a network (10.0.0.0/8)");
    const char *why = NULL;
    char q[GW_CFG_QUOTE_MAX];

    if (s == NULL) {
        return;
    }
    if (strlen(s) >= sizeof(net->text) ||
        pol_cidr_parse(s, strlen(s), &net->addr, &net->bits, &why) != 0) {
        gw_cfg_quote(q, sizeof(q), s);
        gw_cfg_error(ctx, &el->pos, "%s: %s: %s", path, q,
                     why != NULL ? why : "too long");
        return;
    }
    memcpy(net->text, s, strlen(s) + 1);
    l->nproxy_trusted++;
}

void
gw_cfg_walk_listener_proxy(struct gw_cfg_ctx *ctx, struct gw_listener_cfg *l,
                           size_t i, const struct gw_cfg_node *el)
{
    const struct gw_cfg_node *on = gw_cfg_find(el, "proxy_protocol");
    const struct gw_cfg_node *nets = gw_cfg_find(el, "proxy_trusted");
    const struct gw_cfg_node *n;
    char path[GW_CFG_PATH_MAX];
    size_t k = 0;

    l->nproxy_trusted = 0;
    if (nets != NULL) {
        (void)gw_cfg_fmt(path, sizeof(path), "listeners.%zu.proxy_trusted", i);
        if (nets->kind == GW_CFG_SCALAR) {
            gw_cfg_proxy_net(ctx, l, nets, path);
        } else if (nets->kind != GW_CFG_SEQ || nets->nchild == 0 ||
                   nets->nchild > GW_MAX_PROXY_TRUSTED) {
            gw_cfg_error(ctx, &nets->pos, "%s: expected 1 to %d networks "
                         "(10.0.0.0/8, 2001:db8::/32)", path,
                         GW_MAX_PROXY_TRUSTED);
        } else {
            for (n = nets->child; n != NULL; n = n->next, k++) {
                char epath[GW_CFG_PATH_MAX];

                (void)gw_cfg_fmt(epath, sizeof(epath), "%s.%zu", path, k);
                gw_cfg_proxy_net(ctx, l, n, epath);
            }
        }
    }
    if (l->proxy_protocol && nets == NULL) {
        gw_cfg_error(ctx, on != NULL ? &on->pos : &el->pos,
                     "listeners.%zu.proxy_protocol: needs proxy_trusted, the "
                     "networks of the proxies that may send the header", i);
    } else if (!l->proxy_protocol && nets != NULL) {
        gw_cfg_error(ctx, &nets->kpos, "listeners.%zu.proxy_trusted: without "
                     "proxy_protocol: true", i);
    }
}

void
gw_cfg_print_listener_proxy(FILE *fp, const struct gw_listener_cfg *l)
{
    size_t i;

    if (!l->proxy_protocol) {
        return;
    }
    fprintf(fp, "    proxy_trusted: [");
    for (i = 0; i < l->nproxy_trusted; i++) {
        fprintf(fp, "%s\"%s\"", i > 0 ? ", " : "", l->proxy_trusted[i].text);
    }
    fprintf(fp, "]\n");
}
