/*
 * A listener's lists of trusted networks: proxy_trusted (the peers a
 * PROXY header may come from, with proxy_protocol) and xclient_trusted
 * (the clients that may send XCLIENT), and their part of `postern -n`.
 */
#include <string.h>

#include "gateway/gw_config_internal.h"
#include "policy/policy.h"

bool
gw_nets_contain(const struct gw_nets *nets, const struct sockaddr *sa)
{
    struct pol_addr a;
    size_t i;

    if (pol_addr_from_sockaddr(&a, sa) != 0) {
        return false;
    }
    for (i = 0; i < nets->n; i++) {
        if (pol_addr_in_net(&a, &nets->net[i].addr, nets->net[i].bits)) {
            return true;
        }
    }
    return false;
}

static void
gw_cfg_net(struct gw_cfg_ctx *ctx, struct gw_nets *nets,
           const struct gw_cfg_node *el, const char *path)
{
    struct gw_net *net = &nets->net[nets->n];
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
    nets->n++;
}

/* A network or a list of 1..GW_MAX_PROXY_TRUSTED of them. */
static void
gw_cfg_nets(struct gw_cfg_ctx *ctx, struct gw_nets *nets,
            const struct gw_cfg_node *n, const char *path)
{
    const struct gw_cfg_node *el;
    size_t k = 0;

    nets->n = 0;
    if (n->kind == GW_CFG_SCALAR) {
        gw_cfg_net(ctx, nets, n, path);
        return;
    }
    if (n->kind != GW_CFG_SEQ || n->nchild == 0 ||
        n->nchild > GW_MAX_PROXY_TRUSTED) {
        gw_cfg_error(ctx, &n->pos, "%s: expected 1 to %d networks "
                     "(10.0.0.0/8, 2001:db8::/32)", path,
                     GW_MAX_PROXY_TRUSTED);
        return;
    }
    for (el = n->child; el != NULL; el = el->next, k++) {
        char epath[GW_CFG_PATH_MAX];

        (void)gw_cfg_fmt(epath, sizeof(epath), "%s.%zu", path, k);
        gw_cfg_net(ctx, nets, el, epath);
    }
}

void
gw_cfg_walk_listener_proxy(struct gw_cfg_ctx *ctx, struct gw_listener_cfg *l,
                           size_t i, const struct gw_cfg_node *el)
{
    const struct gw_cfg_node *on = gw_cfg_find(el, "proxy_protocol");
    const struct gw_cfg_node *nets = gw_cfg_find(el, "proxy_trusted");
    const struct gw_cfg_node *xc = gw_cfg_find(el, "xclient_trusted");
    char path[GW_CFG_PATH_MAX];

    l->proxy_trusted.n = 0;
    l->xclient_trusted.n = 0;
    if (nets != NULL) {
        (void)gw_cfg_fmt(path, sizeof(path), "listeners.%zu.proxy_trusted", i);
        gw_cfg_nets(ctx, &l->proxy_trusted, nets, path);
    }
    if (xc != NULL) {
        (void)gw_cfg_fmt(path, sizeof(path), "listeners.%zu.xclient_trusted",
                         i);
        gw_cfg_nets(ctx, &l->xclient_trusted, xc, path);
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

static void
gw_cfg_print_nets(FILE *fp, const char *key, const struct gw_nets *nets)
{
    size_t i;

    fprintf(fp, "    %s: [", key);
    for (i = 0; i < nets->n; i++) {
        fprintf(fp, "%s\"%s\"", i > 0 ? ", " : "", nets->net[i].text);
    }
    fprintf(fp, "]\n");
}

void
gw_cfg_print_listener_proxy(FILE *fp, const struct gw_listener_cfg *l)
{
    if (l->proxy_protocol) {
        gw_cfg_print_nets(fp, "proxy_trusted", &l->proxy_trusted);
    }
    if (l->xclient_trusted.n > 0) {
        gw_cfg_print_nets(fp, "xclient_trusted", &l->xclient_trusted);
    }
}
