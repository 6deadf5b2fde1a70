/*
 * fuzz_sink_spec.c - out_spec_parse on arbitrary text (NUL-cut): it either parses, with every
 * field the defaults promise set, or fails with an offset inside the text. The bulk response
 * reader gets the same bytes as a response for 1..4 items.
 */
#include "fuzz.h"

#include "base/alloc.h"
#include "output/output.h"
#include <stdlib.h>
#include <string.h>

FUZZ_TARGET(sink_spec)
{
    if (size > 8192)
        size = 8192;
    char *text = kx_strndup((const char *)data, size);
    struct out_spec s;
    kad_err e = {0};
    if (out_spec_parse(&s, text, "fuzz", &e) == 0) {
        if (!s.name || !s.text || s.max_attempts < 1 || s.batch_count < 1 || s.timeout_ms < 1)
            abort();
        if (s.type != OUT_STDOUT && !s.target)
            abort();
        out_spec_fini(&s);
    } else if (e.offset < 0 || (size_t)e.offset > strlen(text)) {
        abort();
    }
    struct out_item_result r[4];
    for (size_t n = 1; n <= 4; n++)
        out_es_bulk_items((const char *)data, size, r, n, NULL);
    kx_free(text);
    return 0;
}
