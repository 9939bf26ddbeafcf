/* wire_what — the packet selector words of scenario files (`what: fin|rst`), read and written
 * with one table. */
#include "wire.h"

#include <stdbool.h>
#include <string.h>

/* "any" first, then the bits in the order they are written. */
static const struct {
    const char *name;
    unsigned bit;
} words[] = {
    {"any", WIRE_ANY}, {"syn", WIRE_SYN}, {"fin", WIRE_FIN}, {"rst", WIRE_RST}, {"data", WIRE_DATA},
};

int wire_parse_what(const char *s, unsigned *what)
{
    if (!s || !*s)
        return -1;
    unsigned acc = 0;
    bool any = false;
    const char *p = s;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        size_t i;
        for (i = 0; i < sizeof words / sizeof words[0]; i++)
            if (strlen(words[i].name) == n && strncmp(words[i].name, p, n) == 0)
                break;
        if (i == sizeof words / sizeof words[0])
            return -1;
        if (words[i].bit == WIRE_ANY)
            any = true;
        acc |= words[i].bit;
        if (!bar)
            break;
        p = bar + 1;
    }
    /* "any" swallows the others: every packet matches */
    *what = any ? WIRE_ANY : acc;
    return 0;
}

void wire_format_what(unsigned what, char *buf, size_t len)
{
    if (len == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (words[i].bit == WIRE_ANY || !(what & words[i].bit))
            continue;
        if (buf[0])
            strncat(buf, "|", len - strlen(buf) - 1);
        strncat(buf, words[i].name, len - strlen(buf) - 1);
    }
    if (!buf[0])
        strncat(buf, words[0].name, len - 1);
}
