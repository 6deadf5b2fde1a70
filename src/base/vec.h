/*
 * vec.h - typed growable arrays as macros, allocated with kad_realloc.
 *
 *   KAD_VEC(int) v = {0};
 *   KAD_VEC_PUSH(&v, 42);
 *   for (size_t i = 0; i < v.len; i++) use(v.ptr[i]);
 *   KAD_VEC_FREE(&v);
 */
#ifndef KAD_BASE_VEC_H
#define KAD_BASE_VEC_H

#include "alloc.h"

#define KAD_VEC(T)                                                                                 \
    struct {                                                                                       \
        T *ptr;                                                                                    \
        size_t len;                                                                                \
        size_t cap;                                                                                \
    }

#define KAD_VEC_GROW(v, n)                                                                         \
    do {                                                                                           \
        if ((v)->len + (n) > (v)->cap) {                                                           \
            size_t kad_vec_nc_ = (v)->cap ? (v)->cap * 2 : 8;                                      \
            while (kad_vec_nc_ < (v)->len + (n))                                                   \
                kad_vec_nc_ *= 2;                                                                  \
            (v)->ptr = kad_realloc((v)->ptr, kad_vec_nc_ * sizeof(*(v)->ptr));                     \
            (v)->cap = kad_vec_nc_;                                                                \
        }                                                                                          \
    } while (0)

#define KAD_VEC_PUSH(v, x)                                                                         \
    do {                                                                                           \
        KAD_VEC_GROW(v, 1);                                                                        \
        (v)->ptr[(v)->len++] = (x);                                                                \
    } while (0)

#define KAD_VEC_FREE(v)                                                                            \
    do {                                                                                           \
        kad_free((v)->ptr);                                                                        \
        (v)->ptr = NULL;                                                                           \
        (v)->len = (v)->cap = 0;                                                                   \
    } while (0)

#endif
