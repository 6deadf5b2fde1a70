#!/usr/bin/env python3
# tools/kql_eval_ref.py SEED NQUERIES NDOCS KADET [MODE] - differential test of KQL evaluation
# (make kql-eval-diff): random queries and random JSON documents, each query run through
# `KADET hunt` and through the reference evaluator below; every (query, document) verdict must
# agree.
#
# The reference is written from docs/internals/kql.md (evaluation) alone (field lookup 5.1, values
# 5.2, wildcards 5.3, exists 5.4, ranges 5.6, nested 5.7, field-name patterns 5.9, free text
# 5.10), over the tree of tools/kql_ref.py (Kibana's grammar transliterated). It shares no code
# with src/kql or src/event. MODE: ecs (hunt --format ecs: whole documents, default) or auto
# (hunt's ECS detection and field extractor: documents get a "kubernetes" key).
import ipaddress, json, os, random, re, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kql_ref  # noqa: E402

NUM = re.compile(r'^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$')


def isobj(v):
    return isinstance(v, dict)


def isnum(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def values(doc, path):
    """5.1: the (value, partial) pairs of a dotted path; partial = only 'an object holds it'."""
    out = []

    def emit(v, partial):
        if v is None:
            return
        if isinstance(v, list):
            for c in v:
                emit(c, partial)
            return
        out.append((v, partial))

    def walk(n, p):
        if isinstance(n, list):
            for c in n:
                walk(c, p)
            return
        if not isobj(n):
            return
        for k, v in n.items():
            if k == p:
                emit(v, False)
            elif len(k) < len(p) and p.startswith(k + '.'):
                walk(v, p[len(k) + 1:])
            elif len(k) > len(p) and k.startswith(p + '.'):
                emit(v, True)
    walk(doc, path)
    return out


def has_value(v):
    if v is None:
        return False
    if isinstance(v, (list, dict)):
        return any(has_value(c) for c in (v.values() if isinstance(v, dict) else v))
    return True


def wild(segs, s):
    return re.match('^' + '.*'.join(re.escape(x) for x in segs) + '$', s, re.S) is not None


def text(lit):
    if lit[0] in ('true', 'false', 'null'):
        return lit[0]
    return lit[1] if lit[0] == 'str' else '*'.join(lit[1])


def in_cidr(s, q):
    if '/' not in q:
        return False
    try:
        net = ipaddress.ip_network(q, strict=False)
        a = ipaddress.ip_address(s)
    except ValueError:
        return False
    if a.version == 4 and net.version == 6:
        a = ipaddress.ip_address('::ffff:' + s)
    elif a.version == 6 and net.version == 4:
        if a.ipv4_mapped is None:
            return False
        a = a.ipv4_mapped
    return a in net


def test_is(lit, v, partial):
    if lit[0] == 'wild' and lit[1] == ['', '']:          # 5.4 exists
        return has_value(v) if (partial or isobj(v)) else True
    if partial or lit[0] == 'null':
        return False
    if lit[0] == 'wild':                                 # 5.3 strings only
        return isinstance(v, str) and wild(lit[1], v)
    q = text(lit)                                        # 5.2 by the leaf's JSON type
    if isinstance(v, bool):
        return q == ('true' if v else 'false')
    if isinstance(v, str):
        return v == q or in_cidr(v, q)
    if isnum(v):
        return bool(NUM.match(q)) and float(q) == v
    return False


def test_range(op, lit, v, partial):                     # 5.6
    if partial or lit[0] == 'null':
        return False
    q = text(lit)
    if isinstance(v, bool):
        if q not in ('true', 'false'):
            return False
        c = (int(v) > int(q == 'true')) - (int(v) < int(q == 'true'))
    elif isnum(v):
        if not NUM.match(q):
            return False
        c = (v > float(q)) - (v < float(q))
    elif isinstance(v, str):
        a, b = v.encode(), q.encode()
        c = (a > b) - (a < b)
    else:
        return False
    return {'lt': c < 0, 'lte': c <= 0, 'gt': c > 0, 'gte': c >= 0}[op]


def leaves(doc):
    """(dotted path, value, is_object) of every value, arrays flattened (5.9, 5.10)."""
    out = []

    def w(v, p):
        if v is None:
            return
        if isinstance(v, list):
            for c in v:
                w(c, p)
        elif isobj(v):
            if p:
                out.append((p, v, True))
            for k, c in v.items():
                w(c, (p + '.' + k) if p else k)
        elif p:
            out.append((p, v, False))
    w(doc, '')
    return out


def field_values(f, doc, objects):
    if f[0] == 'null':                                   # free text: every leaf
        return [] if objects else [(v, False) for p, v, o in leaves(doc) if not o]
    if f[0] == 'wild':                                   # pattern: leaves whose path matches
        return [(v, False) for p, v, o in leaves(doc) if o == objects and wild(f[1], p)]
    return values(doc, text(f))


def ev(n, doc):
    k = n[0]
    if k == 'matchall':
        return True
    if k == 'or':
        return any(ev(c, doc) for c in n[1])
    if k == 'and':
        return all(ev(c, doc) for c in n[1])
    if k == 'not':
        return not ev(n[1][0], doc)
    if k == 'is':
        f, lit = n[1], n[2]
        if lit[0] == 'wild' and lit[1] == ['', ''] and (
                f[0] == 'null' or (f[0] == 'wild' and f[1] == ['', ''])):
            return True                                  # `*:*` and free-text `*`: everything
        return any(test_is(lit, v, p) for v, p in field_values(f, doc, False))
    if k == 'range':
        return any(test_range(n[2], n[3], v, p) for v, p in field_values(n[1], doc, False))
    if k == 'nested':                                    # 5.7 one object must satisfy it all
        vals = field_values(n[1], doc, True) if n[1][0] in ('null', 'wild') else \
            values(doc, text(n[1]))
        return any((not p) and isobj(v) and ev(n[2], v) for v, p in vals)
    raise ValueError(k)


def tree(q):
    r = kql_ref.P(q).start()
    return None if r is kql_ref.FAIL else r


KEYS = ['a', 'b', 'c', 'a.b', 'b.c', 'x', 'a.b.c', 'c.d', 'b.c.d']
SV = ['x y', '10.0.0.5', '::1', 'x\ny', 'X Y', '2024-01-01T00:00:00Z', 'x', 'y', 'X', '', ' x',
      '1', '1.0', '10', 'true', 'null', '10.1.2.3', 'x*y', 'xy', '\u00e9', 'xay', '5', '6']
FIELDS = ['a.b.c', 'c.d', 'b.*', '*d', 'a', 'b', 'a.b', 'b.c', 'c', 'x', 'a*', '*.c', '*', 'a.*']
VALS = ['x y', '"x y"', '10.0.0.0/24', '"::1"', '"::/0"', 'x\\ny', '"x\\ny"', 'x\\*', '2024*',
        'x', 'y', '"x"', 'X', '""', '1', '1.0', '"1"', '10', 'true', 'false', '"true"', 'null',
        '*', 'x*', '*y', '*a*', 'x*y', '10.0.0.0/8', '\u00e9', '5', '" x"', '**']


def gval(d):
    r = random.random()
    if d > 2 or r < 0.5:
        return random.choice([random.choice(SV), random.choice([0, 1, 1.5, 5, 6, 10, -1]),
                              True, False, None])
    if r < 0.75:
        return [gval(d + 1) for _ in range(random.randint(0, 3))]
    return gobj(d + 1)


def gobj(d=0):
    return {random.choice(KEYS): gval(d) for _ in range(random.randint(0, 3))}


def gq(d=0):
    r = random.random()
    f = random.choice(FIELDS)
    if d > 2 or r < 0.4:
        return f + ':' + random.choice(VALS)
    if r < 0.5:
        return f + random.choice([' > ', ' < ', ' >= ', ' <= ']) + \
            random.choice(['5', '1', 'x', '"x"', 'true', '0', '1.5'])
    if r < 0.55:
        return random.choice(['x', '1', 'x*', '"y"', 'true'])
    if r < 0.65:
        return 'not ' + gq(d + 1)
    if r < 0.75:
        return f + ':(' + random.choice([' or ', ' and ']).join(
            random.choice(VALS + ['not x', 'not *']) for _ in range(random.randint(1, 3))) + ')'
    if r < 0.82:
        return random.choice(['a', 'a.b', 'b', 'a*']) + ':{ ' + gq(d + 1) + ' }'
    return '(' + random.choice([' or ', ' and ']).join(gq(d + 1) for _ in range(2)) + ')'


def main():
    seed, nq, nd, kadet = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    mode = sys.argv[5] if len(sys.argv) > 5 else 'ecs'
    random.seed(seed)
    diffs = pairs = 0
    for _ in range(nq):
        q = gq()
        t = tree(q)
        if t is None:
            continue
        docs, seen = [], set()
        for _ in range(nd):
            d = gobj()
            if mode == 'auto':
                d['kubernetes'] = {}
            s = json.dumps(d, ensure_ascii=False)
            if s not in seen:
                seen.add(s)
                docs.append((s, d))
        args = [kadet, 'hunt', '--no-host'] + (['--format', 'ecs'] if mode == 'ecs' else []) + [q]
        p = subprocess.run(args, input=''.join(s + '\n' for s, _ in docs).encode(),
                           capture_output=True)
        if p.returncode not in (0, 1):
            print('kadet failed on %r: %s' % (q, p.stderr.decode()[:300]))
            diffs += 1
            continue
        got = set(p.stdout.decode().split('\n'))
        for s, d in docs:
            pairs += 1
            want = ev(t, d)
            if want != (s in got):
                diffs += 1
                if diffs <= 10:
                    print('query: %s\n  document: %s\n  reference: %s  kadet: %s' %
                          (q, s, want, s in got))
    print('kql-eval-diff: %d (query, document) pairs, %d differences' % (pairs, diffs))
    sys.exit(1 if diffs else 0)


if __name__ == '__main__':
    main()
