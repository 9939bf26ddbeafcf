#include "px.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

const char *px_flags_str(unsigned flags, char *buf, size_t cap)
{
    /* Envoy's order of response flags in %RESPONSE_FLAGS% */
    static const struct {
        unsigned bit;
        const char *name;
    } order[] = {
        {PX_F_UT, "UT"}, {PX_F_LR, "LR"},   {PX_F_UF, "UF"},   {PX_F_UC, "UC"},   {PX_F_UO, "UO"},
        {PX_F_DC, "DC"}, {PX_F_URX, "URX"}, {PX_F_DPE, "DPE"}, {PX_F_UPE, "UPE"},
    };
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (!(flags & order[i].bit))
            continue;
        int n = snprintf(buf + off, cap - off, "%s%s", off ? "," : "", order[i].name);
        if (n < 0 || (size_t)n >= cap - off)
            break;
        off += (size_t)n;
    }
    if (off == 0)
        snprintf(buf, cap, "-");
    return buf;
}

void px_defer_free(struct px *px, struct px_deferred *d)
{
    d->next = px->graveyard;
    px->graveyard = d;
    if (px->reaper)
        event_active(px->reaper, EV_TIMEOUT, 1);
}

void px_reap(struct px *px)
{
    while (px->graveyard) {
        struct px_deferred *d = px->graveyard;
        px->graveyard = d->next;
        d->free_fn(d);
    }
}

uint64_t px_random(struct px *px)
{
    /* xorshift64*: jitter only, no need for more */
    uint64_t x = px->rng ? px->rng : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    px->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

void px_arm_ms(struct event *ev, long ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_add(ev, &tv);
}

const struct timeval *px_common_timeout(struct px *px, long ms)
{
    if (ms <= 0)
        return NULL;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return event_base_init_common_timeout(px->base, &tv);
}
