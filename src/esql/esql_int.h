/*
 * esql_int.h - internals shared by the src/esql files only (other modules use esql.h).
 */
#ifndef KAD_ESQL_INT_H
#define KAD_ESQL_INT_H

#include "esql/esql.h"
#include "kql/kql.h"

/* ---- lexer (esql_lex.c) ------------------------------------------------------------------ */

enum tok_kind {
    T_EOF = 0,
    T_IDENT,  /* name, possibly dotted and backquoted: text = decoded name */
    T_STRING, /* text = decoded value */
    T_INT,    /* text = digits */
    T_DEC,    /* text = decimal literal */
    T_PAT,    /* FROM index pattern or KEEP/DROP name pattern (may hold '*') */
    T_PIPE,
    T_COMMA,
    T_LPAREN,
    T_RPAREN,
    T_LBRACK,
    T_RBRACK,
    T_DOT,
    T_EQ,   /* = */
    T_EQEQ, /* == */
    T_NEQ,
    T_LT,
    T_LTE,
    T_GT,
    T_GTE,
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_SLASH,
    T_PERCENT,
    T_CAST, /* :: */
    T_PARAM,
    T_BAD, /* unrecognised character */
};

enum lex_mode { M_EXPR = 0, M_SOURCE, M_PROJECT };

struct tok {
    uint8_t kind;
    bool quoted; /* IDENT: some part was backquoted (never a keyword) */
    uint32_t pos, end;
    const char *text; /* arena copy, NUL-terminated */
    size_t len;
};

struct lexer {
    kx_arena *a;
    const char *s;
    size_t len;
    const char *origin;
    kad_err *err;
    bool failed;
};

/* Next token at *pos in mode; advances *pos. On a lexing error sets lx->failed, err. */
bool esql_lex(struct lexer *lx, size_t *pos, int mode, struct tok *t);
/* Case-insensitive keyword test of an unquoted identifier token. */
bool esql_tok_kw(const struct tok *t, const char *kw);

/* ---- regular expressions (esql_re.c) ---------------------------------------------------- */

enum re_dialect {
    RE_LUCENE, /* RLIKE: whole-string, '.' matches newline, & ~ @ # "..." <n-m> */
    RE_JAVA,   /* REPLACE: java.util.regex subset */
    RE_ONIG,   /* GROK: Oniguruma subset */
};
struct re_prog;
/* Compile; NULL with a message in msg (and *errpos, byte offset in pat) on error. */
struct re_prog *esql_re_compile(kx_arena *a, const char *pat, size_t len, int dialect, char *msg,
                                size_t msgcap, size_t *errpos);
/* Whole-string match. Returns 1, 0, or -1 when the step budget ran out. */
int esql_re_full(const struct re_prog *p, const char *s, size_t n);
/* Leftmost search from `from`; caps[2*k], caps[2*k+1] (-1 when unset) for groups 0..ncap-1. */
int esql_re_search(const struct re_prog *p, const char *s, size_t n, size_t from, long *caps);
uint32_t esql_re_ncaps(const struct re_prog *p); /* groups including group 0 */
/* Named group k (1-based group number) name, or NULL. */
const char *esql_re_capname(const struct re_prog *p, uint32_t k);

/* ---- expressions -------------------------------------------------------------------------- */

enum ex_kind {
    EX_LIT,
    EX_COL,
    EX_FN,
    EX_AND,
    EX_OR,
    EX_NOT,
    EX_CMP,
    EX_ARITH,
    EX_NEG,
    EX_IN,
    EX_LIKE,
    EX_RLIKE,
    EX_ISNULL,
    EX_CAST,
    EX_LIST, /* [a, b] literal */
};

enum cmp_op { OP_EQ, OP_NEQ, OP_LT, OP_LTE, OP_GT, OP_GTE };
enum ar_op { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD };

struct esql_fn;

struct esql_expr {
    uint8_t kind, type, op;
    bool neg;      /* NOT LIKE / NOT IN / IS NOT NULL */
    bool star;     /* COUNT(*) */
    bool strlit;   /* a string literal (implicitly castable) */
    bool is_const; /* literal (or folded) */
    uint32_t pos, end;
    const char *name; /* COL: column name; FN: name as written */
    int col;          /* COL: resolved index in the input layout */
    const struct esql_fn *fn;
    struct esql_expr **arg;
    uint32_t narg;
    struct esql_cell lit;
    void *aux;    /* compiled pattern: re_prog, like patterns, kql_query */
    uint32_t agg; /* aggregate slot in its STATS command */
};

/* ---- functions (esql_func.c) -------------------------------------------------------------- */

struct cc; /* compile context (esql_parse.c) */
struct ectx;

enum fn_flags {
    FN_AGG = 1,    /* aggregate (STATS only) */
    FN_CELL = 2,   /* cell function: sees nulls and multi-values itself */
    FN_EACH = 4,   /* scalar applied to each value of arg 0 */
    FN_NOW = 8,    /* reads NOW() */
    FN_DOC = 16,   /* reads the document (KQL) */
    FN_CONST1 = 32 /* argument 1 must be a constant (pattern) */
};

typedef bool (*fn_scalar)(struct ectx *X, const struct esql_expr *e, const struct esql_sv *a,
                          struct esql_sv *out);
typedef void (*fn_cell)(struct ectx *X, const struct esql_expr *e, const struct esql_cell *a,
                        struct esql_cell *out);
struct esql_fn {
    const char *name;
    uint8_t min, max; /* argument counts (max 255 = any) */
    uint8_t flags;
    const char *args; /* per-argument type class, last repeats (see esql_func.c) */
    char ret;         /* result type code */
    fn_scalar sc;
    fn_cell ce;
};
const struct esql_fn *esql_fn_find(const char *name, size_t len);
/* Type-check a function call (arguments already typed); message on error. */
bool esql_fn_check(struct esql_expr *e, kx_arena *a, char *msg, size_t cap, uint32_t *errpos);

/* ---- programs ----------------------------------------------------------------------------- */

enum { META_NONE = 0, META_ID, META_INDEX, META_VERSION };
#define ESQL_UNLOADED 0xFF /* cell type of a source column not read yet (n = FROM column) */

enum agg_kind { A_COUNT = 1, A_COUNT_DISTINCT, A_VALUES, A_MIN, A_MAX, A_SUM, A_AVG };

struct lcol {
    const char *name;
    uint8_t type;
    uint8_t meta;    /* META_* */
    const char *src; /* source field path (loaded from the document on first use), or NULL */
};
struct layout {
    struct lcol *c;
    uint32_t n;
};

enum cmd_kind {
    C_WHERE,
    C_EVAL,
    C_STATS,
    C_KEEP,
    C_DROP,
    C_RENAME,
    C_SORT,
    C_LIMIT,
    C_GROK,
    C_DISSECT,
    C_MVEXPAND,
};

struct named {
    const char *name;
    struct esql_expr *e;
    struct esql_expr *filter; /* STATS agg WHERE */
    uint32_t pos;
    int32_t drop; /* EVAL/STATS BY: input column this output replaces, -1 */
    bool skip;    /* STATS: aggregate shadowed by a later one or by a key */
};
struct sortkey {
    struct esql_expr *e;
    bool desc, nulls_first;
};
struct dis_key {
    const char *name; /* NULL: skip */
    uint8_t append;   /* %{+name} */
    uint8_t pad;      /* %{name->} */
    uint32_t order;   /* %{+name/n} */
    const char *delim;
    size_t dlen; /* delimiter after this key */
};
struct dissect {
    const char *lead; /* text before the first key */
    size_t llen;
    struct dis_key *k;
    uint32_t nk;
    const char *sep;   /* APPEND_SEPARATOR */
    const char **outs; /* distinct output names */
    uint32_t nout;
};
struct grok {
    struct re_prog *re;
    uint32_t nout;
    const char **outs; /* output names, sorted */
    uint8_t *otype;    /* output types */
    int32_t *grp2out;  /* regex group -> output index, -1 */
};

struct esql_cmd {
    uint8_t kind;
    uint32_t pos;
    struct named *f; /* EVAL fields / STATS aggregates */
    uint32_t nf;
    struct named *by;
    uint32_t nby;
    const char **pat; /* KEEP/DROP patterns, RENAME old,new pairs */
    uint32_t *ppos;
    uint32_t npat;
    struct esql_expr *e; /* WHERE condition, GROK/DISSECT input */
    struct sortkey *sk;
    uint32_t nsk;
    int64_t limit;
    struct grok *grok;
    struct dissect *dis;
    /* compiled */
    struct layout out;
    uint32_t *map;  /* projections: output column -> input column */
    int mvcol;      /* MV_EXPAND column */
    int32_t *drops; /* GROK/DISSECT: per output, the column it replaces (-1) */
    uint32_t nagg;  /* STATS: aggregate slots */
};

struct esql_prog {
    const char *src;
    size_t len;
    const char **index;
    uint32_t nindex;
    const char **meta;
    uint32_t nmeta;
    struct layout from;
    struct esql_cmd *cmd;
    uint32_t ncmd;
    bool aggregating, has_limit, needs_all, uses_kql;
    const char **fields;
    uint32_t nfields;
    uint32_t now_cmd; /* index of the first command that calls NOW() (UINT32_MAX: none) */
};

/* esql_parse.c */
int esql_parse(kx_arena *a, struct esql_prog *p, const char *origin, kad_err *err);
/* schema type of a source field (keyword when unknown) */
int esql_field_type(const char *name);

/* ---- values (esql_eval.c) ----------------------------------------------------------------- */

struct ectx {
    kx_arena *a; /* where results go */
    struct esql_run *run;
    const struct esql_doc *doc;
    int64_t now;
};
void esql_warn(struct ectx *X, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int esql_sv_cmp(int type, const struct esql_sv *a, const struct esql_sv *b);
bool esql_cell_eq(const struct esql_cell *a, const struct esql_cell *b);
void esql_cell_sort(int type, struct esql_sv *v, uint32_t n, bool dedupe, uint32_t *outn);
struct esql_sv *esql_sv_new(kx_arena *a, uint32_t n);
/* string helpers */
bool esql_parse_ip(const char *s, size_t n, uint8_t out[16]);
/* Convert a value to `to` (TO_* semantics); false when it cannot be converted. */
bool esql_convert(struct ectx *X, int from, const struct esql_sv *v, int to, struct esql_sv *out);
bool esql_is_numeric(int t);
bool esql_is_string(int t);
int64_t esql_date_add(int64_t ms, int32_t months, int32_t days, int sign);
/* evaluate an expression on a row (esql_eval.c) */
struct row;

/* ---- grok and dissect (esql_grok.c) ------------------------------------------------------- */
struct grok *esql_grok_compile(kx_arena *a, const char *pat, size_t len, char *msg, size_t cap);
/* Match one string; out[k] receives the captures (cells typed by g->otype). */
void esql_grok_match(struct ectx *X, const struct grok *g, const char *s, size_t n,
                     struct esql_cell *out, bool *matched);
struct dissect *esql_dissect_compile(kx_arena *a, const char *pat, size_t len, char *msg,
                                     size_t cap);
bool esql_dissect_match(struct ectx *X, const struct dissect *d, const char *s, size_t n,
                        struct esql_cell *out);

/* value of a hexadecimal digit, -1 when c is not one (esql_re.c) */
int esql_hexval(char c);

/* LIKE: whole-string wildcard match, * and ? over code points, \ escapes */
bool esql_like(const char *pat, size_t plen, const char *s, size_t n);

#endif
