#include "interval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct interval interval_wilson(long k, long n)
{
    struct interval iv = {0, 1};
    if (n <= 0)
        return iv;
    if (k < 0)
        k = 0;
    if (k > n)
        k = n;
    double z2 = INTERVAL_Z * INTERVAL_Z, nn = (double)n, p = (double)k / nn;
    double d = 1 + z2 / nn;
    double centre = (p + z2 / (2 * nn)) / d;
    double half = INTERVAL_Z / d * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    iv.lo = k == 0 ? 0 : fmax(0, centre - half);
    iv.hi = k == n ? 1 : fmin(1, centre + half);
    return iv;
}

static double round4(double v)
{
    return round(v * 10000) / 10000;
}

json_t *interval_json(long k, long n)
{
    struct interval iv = interval_wilson(k, n);
    return json_pack("[ff]", round4(iv.lo), round4(iv.hi));
}

/* v (a fraction) in percent: one decimal, or two significant digits under 0.1%. */
static void pct(char *buf, size_t len, double v)
{
    double p = v * 100;
    if (p > 0 && p < 0.1)
        snprintf(buf, len, "%.2g", p);
    else
        snprintf(buf, len, "%.1f", p);
}

void interval_format(char *buf, size_t len, long k, long n)
{
    if (n <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    struct interval iv = interval_wilson(k, n);
    char lo[32], hi[32], rate[32];
    pct(lo, sizeof(lo), iv.lo);
    pct(hi, sizeof(hi), iv.hi);
    if (k <= 0)
        snprintf(buf, len, "< %s%%", hi);
    else if (k >= n)
        snprintf(buf, len, "> %s%%", lo);
    else {
        pct(rate, sizeof(rate), (double)k / (double)n);
        snprintf(buf, len, "%s%% (%s-%s)", rate, lo, hi);
    }
}

static double lchoose(long n, long k)
{
    return lgamma((double)n + 1) - lgamma((double)k + 1) - lgamma((double)(n - k) + 1);
}

double interval_fisher(long k1, long n1, long k2, long n2)
{
    if (n1 <= 0 || n2 <= 0)
        return 1;
    long N = n1 + n2, K = k1 + k2;
    long amin = K - n2 > 0 ? K - n2 : 0, amax = K < n1 ? K : n1;
    double base = lchoose(N, n1);
    /* P(a) = C(K, a) C(N - K, n1 - a) / C(N, n1): the first arm's failures with the margins
     * fixed; the p-value sums every table at most as likely as the one observed. */
    double lobs = lchoose(K, k1) + lchoose(N - K, n1 - k1) - base;
    double p = 0;
    for (long a = amin; a <= amax; a++) {
        double l = lchoose(K, a) + lchoose(N - K, n1 - a) - base;
        if (l <= lobs + 1e-7)
            p += exp(l);
    }
    return p > 1 ? 1 : p;
}

int interval_moved(long k_old, long n_old, long k_new, long n_new)
{
    if (n_old <= 0 || n_new <= 0)
        return 0;
    struct interval o = interval_wilson(k_old, n_old), w = interval_wilson(k_new, n_new);
    if (w.lo > o.hi)
        return 1;
    if (w.hi < o.lo)
        return -1;
    return 0;
}

#define NOTE_ALPHA 0.05

/* The names of the arms with the counts of arm g, joined by ", ". */
static void group_names(char *buf, size_t len, const struct interval_arm *arms, size_t n, size_t g)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && o < len; i++) {
        if (arms[i].n <= 0 || arms[i].k != arms[g].k || arms[i].n != arms[g].n)
            continue;
        int w = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", arms[i].name);
        if (w < 0)
            break;
        o += (size_t)w;
    }
}

/* Whether arm i is the first of its counts (the group's representative). */
static bool group_first(const struct interval_arm *arms, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (arms[j].n > 0 && arms[j].k == arms[i].k && arms[j].n == arms[i].n)
            return false;
    return true;
}

/* The lines of the note: groups of arms with the same counts, then pairs of groups that the test
 * does not tell apart. Prints them when out is not NULL; returns how many there are. */
static size_t note_lines(FILE *out, const struct interval_arm *arms, size_t n)
{
    size_t lines = 0;
    char a[512], b[512];
    for (size_t i = 0; i < n; i++) {
        if (arms[i].n <= 0 || !group_first(arms, i))
            continue;
        group_names(a, sizeof(a), arms, n, i);
        if (strchr(a, ',')) {
            if (out)
                fprintf(out, "  %s: %ld/%ld each\n", a, arms[i].k, arms[i].n);
            lines++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (arms[i].n <= 0 || !group_first(arms, i))
            continue;
        for (size_t j = i + 1; j < n; j++) {
            if (arms[j].n <= 0 || !group_first(arms, j))
                continue;
            double p = interval_fisher(arms[i].k, arms[i].n, arms[j].k, arms[j].n);
            if (p < NOTE_ALPHA)
                continue;
            if (out) {
                group_names(a, sizeof(a), arms, n, i);
                group_names(b, sizeof(b), arms, n, j);
                fprintf(out, "  %s %ld/%ld vs %s %ld/%ld (p = %.2f)\n", a, arms[i].k, arms[i].n, b,
                        arms[j].k, arms[j].n, p);
            }
            lines++;
        }
    }
    return lines;
}

void interval_note(FILE *out, const struct interval_arm *arms, size_t n)
{
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += arms[i].n > 0;
    if (used < 2)
        return;
    if (note_lines(NULL, arms, n) == 0) {
        fprintf(out,
                "\nEvery pair of failure rates differs (Fisher's exact test, two-sided, "
                "p < %.2f).\n",
                NOTE_ALPHA);
        return;
    }
    fprintf(out,
            "\nFailure rates these trials cannot tell apart (Fisher's exact test, two-sided, "
            "p >= %.2f):\n",
            NOTE_ALPHA);
    note_lines(out, arms, n);
}
