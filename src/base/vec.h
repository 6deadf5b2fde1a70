/*
 * vec.h - typed growable arrays as macros, allocated with kx_realloc.
 *
 *   KX_VEC(int) v = {0};
 *   KX_VEC_PUSH(&v, 42);
 *   for (size_t i = 0; i < v.len; i++) use(v.ptr[i]);
 *   KX_VEC_FREE(&v);
 */
#ifndef KX_BASE_VEC_H
#define KX_BASE_VEC_H

#include "alloc.h"

#define KX_VEC(T)                                                                                  \
    struct {                                                                                       \
        T *ptr;                                                                                    \
        size_t len;                                                                                \
        size_t cap;                                                                                \
    }

#define KX_VEC_GROW(v, n)                                                                          \
    do {                                                                                           \
        if ((v)->len + (n) > (v)->cap) {                                                           \
            size_t kx_vec_nc_ = (v)->cap ? (v)->cap * 2 : 8;                                       \
            while (kx_vec_nc_ < (v)->len + (n))                                                    \
                kx_vec_nc_ *= 2;                                                                   \
            (v)->ptr = kx_realloc((v)->ptr, kx_vec_nc_ * sizeof(*(v)->ptr));                       \
            (v)->cap = kx_vec_nc_;                                                                 \
        }                                                                                          \
    } while (0)

#define KX_VEC_PUSH(v, x)                                                                          \
    do {                                                                                           \
        KX_VEC_GROW(v, 1);                                                                         \
        (v)->ptr[(v)->len++] = (x);                                                                \
    } while (0)

#define KX_VEC_FREE(v)                                                                             \
    do {                                                                                           \
        kx_free((v)->ptr);                                                                         \
        (v)->ptr = NULL;                                                                           \
        (v)->len = (v)->cap = 0;                                                                   \
    } while (0)

#endif
