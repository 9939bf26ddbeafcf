#include "grow.h"

#include <stdint.h>
#include <stdlib.h>

void *grow_array(void *arr, size_t *cap, size_t need, size_t elsize)
{
    if (need <= *cap)
        return arr;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return NULL;
        ncap *= 2;
    }
    if (elsize && ncap > SIZE_MAX / elsize)
        return NULL;
    void *n = realloc(arr, ncap * elsize);
    if (!n)
        return NULL;
    *cap = ncap;
    return n;
}
