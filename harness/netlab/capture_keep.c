/* capture_keep — what a headers-only capture keeps of a frame: every header, and the HTTP
 * message head a segment starts with; not the bodies (capture.h, CAPTURE_HEADERS). */
#include <stdbool.h>
#include <string.h>

#include <pcap/pcap.h>

#include "capture.h"

/* Offset of the IP header in a frame of link type dlt, or -1 (not IP, or unknown link). */
static long ip_offset(int dlt, const uint8_t *p, uint32_t n)
{
    switch (dlt) {
    case DLT_EN10MB: {
        uint32_t off = 12;
        if (n < 14)
            return -1;
        unsigned et = (unsigned)p[off] << 8 | p[off + 1];
        while ((et == 0x8100 || et == 0x88a8) && n >= off + 6) {
            off += 4;
            et = (unsigned)p[off] << 8 | p[off + 1];
        }
        return et == 0x0800 || et == 0x86dd ? (long)off + 2 : -1;
    }
    case DLT_NULL:
    case DLT_LOOP:
        return 4;
    case DLT_RAW:
        return 0;
    case DLT_LINUX_SLL:
        return 16;
    default:
        return -1;
    }
}

/* Offset of the TCP payload in the frame, or -1 (not TCP over IP, headers cut short). */
static long payload_offset(int dlt, const uint8_t *p, uint32_t n)
{
    long ip = ip_offset(dlt, p, n);
    if (ip < 0 || (uint32_t)ip >= n)
        return -1;
    const uint8_t *q = p + ip;
    uint32_t avail = n - (uint32_t)ip, l4;
    if ((q[0] >> 4) == 4) {
        if (avail < 20 || q[9] != 6 || (((unsigned)q[6] << 8 | q[7]) & 0x1fff) != 0)
            return -1;
        l4 = (uint32_t)(q[0] & 0x0f) * 4;
        if (l4 < 20)
            return -1;
    } else if ((q[0] >> 4) == 6) {
        if (avail < 40 || q[6] != 6)
            return -1;
        l4 = 40;
    } else {
        return -1;
    }
    if (avail < l4 + 20)
        return -1;
    uint32_t doff = (uint32_t)(q[l4 + 12] >> 4) * 4;
    if (doff < 20 || avail < l4 + doff)
        return -1;
    return ip + (long)(l4 + doff);
}

/* Whether a payload starts an HTTP/1 message head: a status line ("HTTP/") or a request line
 * (a method: 3 to 16 capital letters or '-', then a space). */
static bool starts_head(const uint8_t *b, uint32_t n)
{
    if (n >= 5 && memcmp(b, "HTTP/", 5) == 0)
        return true;
    uint32_t i = 0;
    while (i < n && i < 17 && ((b[i] >= 'A' && b[i] <= 'Z') || b[i] == '-'))
        i++;
    return i >= 3 && i <= 16 && i < n && b[i] == ' ';
}

uint32_t capture_keep_len(int dlt, const uint8_t *p, uint32_t caplen)
{
    long off = payload_offset(dlt, p, caplen);
    if (off < 0)
        return caplen;
    uint32_t o = (uint32_t)off, n = caplen - o;
    if (n == 0 || !starts_head(p + o, n))
        return o;
    const uint8_t *b = p + o;
    for (uint32_t i = 0; i + 3 < n; i++)
        if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n')
            return o + i + 4;
    return caplen; /* the head goes on past what was captured: all of it */
}
