/* proxy — which proxies a run tests (--proxy): racelab-proxy by default, a command
 * (cmd:'CMD', today's --proxy-cmd), a kind whose adapter is data in proxies/KIND/
 * (docs/proxies.md), A+B for the kinds of a chain's two proxies, or a comma-separated list of
 * these, each a proxy under test every cell runs with (`compare --proxy racelab,nginx`).
 * Adapters are loaded and checked here, before anything starts, their binaries looked for,
 * their stops taken from them. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kind.h"

/* proxies/ of the current folder, else of the source tree. */
static const char *proxies_dir(void)
{
    return cli_is_dir("proxies") ? "proxies" : RACELAB_SOURCE_DIR "/proxies";
}

static void cat(char *buf, size_t len, const char *sep, const char *what)
{
    size_t o = strlen(buf);
    if (o + 1 < len)
        snprintf(buf + o, len - o, "%s%.*s", o ? sep : "", (int)(len - o - 1), what);
}

/* The kind named word (a name in proxies/ or a folder), loaded once per session; its index in
 * ss->kinds, or -1 after saying why. */
static int load_kind(struct session *ss, const char *word)
{
    char dir[PATH_MAX], err[2048];
    if (strchr(word, '/'))
        snprintf(dir, sizeof(dir), "%s", word);
    else
        snprintf(dir, sizeof(dir), "%s/%s", proxies_dir(), word);
    for (size_t i = 0; i < ss->nkinds; i++)
        if (strcmp(kind_path(ss->kinds[i]), dir) == 0)
            return (int)i;
    if (!cli_is_dir(dir)) {
        fprintf(stderr,
                "racelab: --proxy %s: no such kind (%s has none): racelab, nginx, haproxy, "
                "apache, envoy, a folder with an adapter.yaml, A+B (a chain's two kinds), or "
                "cmd:'CMD'\n",
                word, dir);
        return -1;
    }
    if (ss->nkinds == sizeof(ss->kinds) / sizeof(ss->kinds[0])) {
        fprintf(stderr, "racelab: --proxy: more than %zu kinds\n", ss->nkinds);
        return -1;
    }
    struct kind *k = kind_load(dir, err, sizeof(err));
    if (!k) {
        fprintf(stderr, "racelab: --proxy %s: %s\n", word, err);
        return -1;
    }
    size_t i = ss->nkinds++;
    ss->kinds[i] = k;
    if (kind_find_binary(k, ss->kind_bins[i], sizeof(ss->kind_bins[i]), err, sizeof(err)) != 0)
        ss->kind_bins[i][0] = '\0';
    return (int)i;
}

/* One proxy of a proxy under test: racelab (NULL) or a kind, with its binary and stop; what
 * is missing and the version go into p. 0, or -1 after saying why. */
static int one_kind(struct session *ss, struct suite_proxy *p, size_t slot, const char *word,
                    const struct kind **k, const char **bin, struct run_stop *stop)
{
    *k = NULL;
    *bin = NULL;
    *stop = RUN_STOP_OWN;
    if (strcmp(word, "racelab") == 0)
        return 0;
    if (strncmp(word, "cmd:", 4) == 0) {
        fprintf(stderr,
                "racelab: --proxy %s: cmd:'CMD' is the only proxy of a run (give it "
                "alone)\n",
                word);
        return -1;
    }
    int i = load_kind(ss, word);
    if (i < 0)
        return -1;
    *k = ss->kinds[i];
    const struct cli *c = &ss->cli;
    *stop = (struct run_stop){kind_stop_signal(*k),
                              c->proxy_stop_settle_set ? c->proxy_stop_settle : kind_settle_ms(*k)};
    if (!ss->kind_bins[i][0]) {
        char err[1024];
        kind_find_binary(*k, ss->kind_bins[i], sizeof(ss->kind_bins[i]), err, sizeof(err));
        ss->kind_bins[i][0] = '\0';
        cat(p->missing, sizeof(p->missing), "; ", err);
        return 0;
    }
    *bin = ss->kind_bins[i];
    kind_version(*k, *bin, p->version[slot], sizeof(p->version[slot]));
    return 0;
}

/* One proxy under test from its word: KIND, racelab, or A+B. */
static int one_proxy(struct session *ss, struct suite_proxy *p, const char *word)
{
    const struct run_env *base = &ss->su.env;
    char a[PATH_MAX], b[PATH_MAX];
    const char *plus = strchr(word, '+');
    /* the label names the cells' folder: no '/' of a kind given as a folder */
    snprintf(p->label, sizeof(p->label), "%s", word);
    for (char *q = p->label; *q; q++)
        if (*q == '/')
            *q = '_';
    p->env = *base;
    p->env.proxy_cmd = NULL;
    if (!plus)
        return one_kind(ss, p, 0, word, &p->env.kind, &p->env.kind_binary, &p->env.proxy_stop);
    snprintf(a, sizeof(a), "%.*s", (int)(plus - word), word);
    snprintf(b, sizeof(b), "%s", plus + 1);
    if (!a[0] || !b[0] || strchr(b, '+')) {
        fprintf(stderr,
                "racelab: --proxy %s: a chain's kinds are A+B, proxy1's and proxy2's "
                "(nginx+haproxy)\n",
                word);
        return -1;
    }
    if (one_kind(ss, p, 0, a, &p->env.kind, &p->env.kind_binary, &p->env.proxy_stop) != 0 ||
        one_kind(ss, p, 1, b, &p->env.kind2, &p->env.kind2_binary, &p->env.proxy2_stop) != 0)
        return -1;
    /* racelab+racelab is the plain chain of racelab-proxies */
    p->env.chain = p->env.kind || p->env.kind2;
    return 0;
}

int cli_proxy(struct session *ss)
{
    struct cli *c = &ss->cli;
    struct suite *su = &ss->su;
    struct suite_proxy *p = &su->px[0];
    su->npx = 1;
    if (c->proxy && c->proxy_cmd && strcmp(c->proxy, "racelab") != 0) {
        fprintf(stderr, "racelab: --proxy %s and --proxy-cmd: give one of them\n", c->proxy);
        return -1;
    }
    if (c->proxy && strncmp(c->proxy, "cmd:", 4) == 0)
        c->proxy_cmd = c->proxy + 4;
    if (!c->proxy || c->proxy_cmd) {
        snprintf(p->label, sizeof(p->label), "%s", c->proxy_cmd ? "cmd" : "racelab");
        p->env = su->env;
        p->env.proxy_cmd = c->proxy_cmd;
        return 0;
    }
    char list[4096];
    snprintf(list, sizeof(list), "%s", c->proxy);
    su->npx = 0;
    for (char *save = NULL, *w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        if (su->npx == SUITE_MAX_PROXIES) {
            fprintf(stderr, "racelab: --proxy %s: at most %d proxies under test\n", c->proxy,
                    SUITE_MAX_PROXIES);
            return -1;
        }
        for (size_t i = 0; i < su->npx; i++)
            if (strcmp(su->px[i].label, w) == 0) {
                fprintf(stderr, "racelab: --proxy %s: %s is named twice\n", c->proxy, w);
                return -1;
            }
        struct suite_proxy *q = &su->px[su->npx];
        memset(q, 0, sizeof(*q));
        if (one_proxy(ss, q, w) != 0)
            return -1;
        su->npx++;
    }
    if (su->npx == 0) {
        fprintf(stderr, "racelab: --proxy '%s': no proxy named\n", c->proxy);
        return -1;
    }
    return 0;
}
