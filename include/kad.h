/*
 * kad.h - the public API of libkad, the kadet detection engine.
 *
 * This header is the only one the CLI (cli/) and other programs include. It holds the error
 * type, the error codes and the version. Engine, ruleset, state and alert APIs are added here as
 * the modules behind them land; everything else in src/ is private to the library.
 *
 * Conventions: every function that can fail takes `kad_err *err` last (NULL allowed) and
 * returns a KAD_E* code (or NULL for constructors). See docs/internals/errors.md.
 */
#ifndef KAD_H
#define KAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KAD_API __attribute__((visibility("default")))
#else
#define KAD_API
#endif

#define KAD_VERSION "0.1.0"

/*
 * The error codes, defined once. Each entry: name, value, short description.
 * Codes are negative; KAD_OK is 0. OS failures carry errno in the message, not in the code.
 */
#define KAD_ERRNO_MAP(X)                                                                           \
    X(ENOMEM, -1, "out of memory")                                                                 \
    X(EINVAL, -2, "invalid argument")                                                              \
    X(EIO, -3, "input/output error")                                                               \
    X(ESYNTAX, -4, "syntax error")                                                                 \
    X(ERULE, -5, "invalid rule")                                                                   \
    X(ESTATE, -6, "state store error")                                                             \
    X(ELIMIT, -7, "limit exceeded")                                                                \
    X(ENOTFOUND, -8, "not found")                                                                  \
    X(EUNSUPPORTED, -9, "unsupported")                                                             \
    X(EEOF, -10, "unexpected end of input")

enum kad_code {
    KAD_OK = 0,
#define KAD_ERR_ENUM(name, val, desc) KAD_##name = (val),
    KAD_ERRNO_MAP(KAD_ERR_ENUM)
#undef KAD_ERR_ENUM
};

#define KAD_ERR_MSG_MAX 256

/*
 * The detail of one failure, supplied by the caller. `origin` is borrowed: it must outlive the
 * kad_err (it is normally a file path, "<query>", "<stdin>" or "webhook"). line and col are
 * 1-based, 0 when unknown; offset is the byte offset from the start of the origin, -1 when
 * unknown.
 */
typedef struct kad_err {
    int code;
    const char *origin;
    uint32_t line;
    uint32_t col;
    int64_t offset;
    char msg[KAD_ERR_MSG_MAX];
} kad_err;

/* Short description of a code ("syntax error"); never NULL. */
KAD_API const char *kad_strerror(int code);
/* Name of a code ("KAD_ESYNTAX"); never NULL. */
KAD_API const char *kad_err_name(int code);
/* Reset to "no error". */
KAD_API void kad_err_clear(kad_err *err);
/*
 * Format as `origin:line:col: error: message` (parts that are unknown are left out) into buf.
 * Returns the length that the full text needs, like snprintf.
 */
KAD_API int kad_err_format(const kad_err *err, char *buf, size_t size);

KAD_API const char *kad_version(void);

#ifdef __cplusplus
}
#endif
#endif
