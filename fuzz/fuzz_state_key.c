/*
 * fuzz_state_key.c - the state store's combination encoding (src/state/state.h).
 *
 * The input is split at '\n' into components. Checks: encoding either succeeds within
 * ST_KEY_MAX and decodes back to the same components, or fails with KAD_ELIMIT/KAD_EINVAL
 * leaving the buffer unchanged; decoding the raw input never reads out of bounds, and when it
 * succeeds, re-encoding the components gives the same bytes (the encoding is canonical).
 */
#include "fuzz.h"

#include "base/buf.h"
#include "base/err.h"
#include "state/state.h"
#include <string.h>

FUZZ_TARGET(state_key)
{
    kx_str comps[ST_COMPONENTS_MAX + 2];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < ST_COMPONENTS_MAX + 2; i++) {
        if (i == size || data[i] == '\n') {
            comps[n].ptr = (const char *)data + start;
            comps[n].len = i - start;
            n++;
            start = i + 1;
        }
    }
    kx_buf b;
    kx_buf_init(&b, 2 * ST_KEY_MAX);
    kx_buf_adds(&b, "x"); /* encoding appends: a prefix must survive */
    int rc = st_combo_encode(&b, comps, n, NULL);
    if (rc == 0) {
        KX_BUG_ON(b.len - 1 > ST_KEY_MAX || b.ptr[0] != 'x');
        kx_str back[ST_COMPONENTS_MAX];
        int m = st_combo_decode(b.ptr + 1, b.len - 1, back, ST_COMPONENTS_MAX);
        KX_BUG_ON(m != (int)n);
        for (size_t i = 0; i < n; i++)
            KX_BUG_ON(!kx_str_eq(back[i], comps[i]));
    } else {
        KX_BUG_ON(rc != KAD_ELIMIT && rc != KAD_EINVAL);
        KX_BUG_ON(b.len != 1);
    }
    /* the raw bytes as an encoded key */
    kx_str raw[ST_COMPONENTS_MAX];
    int m = st_combo_decode(data, size, raw, ST_COMPONENTS_MAX);
    if (m > 0) {
        kx_buf_reset(&b);
        KX_BUG_ON(st_combo_encode(&b, raw, (size_t)m, NULL) != 0);
        KX_BUG_ON(b.len != size || memcmp(b.ptr, data, size) != 0);
    }
    kx_buf_fini(&b);
    return 0;
}
