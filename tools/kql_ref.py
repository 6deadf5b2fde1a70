#!/usr/bin/env python3
# tools/kql_ref.py - reference KQL parser for differential testing of src/kql (make kql-diff).
#
# A deliberately naive, literal transliteration of Kibana's grammar.peggy as restated in
# docs/internals/kql.md (parsing), with peggy's failure bookkeeping (furthest position, expected
# set, silent named rules). Unlike src/kql/kql_parse.c it parses `X (Op X)+ / X` literally
# (re-parsing X) and re-runs the keyword look-ahead at every character, so it is slow but has
# no optimisation that could hide a difference. Reads queries (one per line), prints
# `OK <canonical dump>` or `ERR <byte offset> <expected list>`.
import sys, json, random
FAIL = None
JSWS = set('\t\n\x0b\x0c\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff') | {chr(c) for c in range(0x2000, 0x200b)}
SPECIAL = set('\\():<>"*{}')
SPACE = set(' \t\r\n\u00a0')
W = object()  # wildcard marker

class P:
    def __init__(s, t):
        s.t = t; s.pos = 0; s.silent = 0; s.maxpos = 0; s.exp = set()
    def fail(s, e):
        if s.silent: return
        if s.pos < s.maxpos: return
        if s.pos > s.maxpos: s.maxpos = s.pos; s.exp = set()
        s.exp.add(e)
    def named(s, name, fn):
        start = s.pos
        s.silent += 1
        r = fn()
        s.silent -= 1
        if r is FAIL:
            s.pos = start
            s.fail(name)
        return r
    def lit(s, c, e):
        if s.t.startswith(c, s.pos):
            s.pos += len(c); return c
        s.fail(e); return FAIL
    def space(s):
        def body():
            if s.pos < len(s.t) and s.t[s.pos] in SPACE:
                s.pos += 1; return ' '
            return FAIL
        return s.named('whitespace', body)
    def spaces(s):
        while s.space() is not FAIL: pass
    def word(s, w):
        if s.t[s.pos:s.pos+len(w)].lower() == w:
            s.pos += len(w); return True
        return False
    def kw_spaced(s, w, name):
        def body():
            start = s.pos
            n = 0
            while s.space() is not FAIL: n += 1
            if n == 0 or not s.word(w): s.pos = start; return FAIL
            n = 0
            while s.space() is not FAIL: n += 1
            if n == 0: s.pos = start; return FAIL
            return w
        return s.named(name, body)
    def Or(s): return s.kw_spaced('or', 'OR')
    def And(s): return s.kw_spaced('and', 'AND')
    def Not(s):
        def body():
            start = s.pos
            if not s.word('not'): return FAIL
            n = 0
            while s.space() is not FAIL: n += 1
            if n == 0: s.pos = start; return FAIL
            return 'not'
        return s.named('NOT', body)
    def Keyword(s):
        start = s.pos
        for f in (s.Or, s.And, s.Not):
            if f() is not FAIL: return True
            s.pos = start
        return False
    # literals
    def hex4(s, at):
        h = s.t[at:at+4]
        if len(h) == 4 and all(c in '0123456789abcdefABCDEF' for c in h): return int(h, 16)
        return None
    def quoted(s):
        start = s.pos
        if not s.t.startswith('"', s.pos): return FAIL
        s.pos += 1; out = []
        while True:
            t = s.t; p = s.pos
            if t.startswith('\\t', p): out.append('\t'); s.pos += 2; continue
            if t.startswith('\\r', p): out.append('\r'); s.pos += 2; continue
            if t.startswith('\\n', p): out.append('\n'); s.pos += 2; continue
            if t.startswith('\\u', p) and s.hex4(p+2) is not None: out.append(chr(s.hex4(p+2))); s.pos += 6; continue
            if t.startswith('\\', p) and p+1 < len(t) and t[p+1] in '\\"': out.append(t[p+1]); s.pos += 2; continue
            if p < len(t) and t[p] != '"': out.append(t[p]); s.pos += 1; continue
            break
        if s.pos < len(s.t) and s.t[s.pos] == '"':
            s.pos += 1
            return ('str', ''.join(out))
        s.pos = start; return FAIL
    def uchar(s):
        t = s.t; p = s.pos
        if t.startswith('\\t', p): s.pos += 2; return '\t'
        if t.startswith('\\r', p): s.pos += 2; return '\r'
        if t.startswith('\\n', p): s.pos += 2; return '\n'
        if t.startswith('\\', p) and p+1 < len(t) and t[p+1] in SPECIAL: s.pos += 2; return t[p+1]
        if t.startswith('\\u', p) and s.hex4(p+2) is not None: s.pos += 6; return chr(s.hex4(p+2))
        if t.startswith('\\', p):
            for w in ('or', 'and', 'not'):
                if t[p+1:p+1+len(w)].lower() == w: s.pos += 1 + len(w); return t[p+1:p+1+len(w)]
        if t.startswith('*', p): s.pos += 1; return W
        if p < len(t) and t[p] not in SPECIAL:
            s.silent += 1
            k = s.Keyword()
            s.silent -= 1
            s.pos = p
            if not k:
                s.pos += 1; return t[p]
        return FAIL
    def unquoted(s):
        chars = []
        while True:
            c = s.uchar()
            if c is FAIL: break
            chars.append(c)
        if not chars: return FAIL
        # join, JS trim (markers are not whitespace)
        i, j = 0, len(chars)
        while i < j and chars[i] is not W and chars[i] in JSWS: i += 1
        while j > i and chars[j-1] is not W and chars[j-1] in JSWS: j -= 1
        seq = chars[i:j]
        if W not in chars:
            txt = ''.join(seq)
            if txt == 'null': return ('null',)
            if txt == 'true': return ('true',)
            if txt == 'false': return ('false',)
            return ('str', txt)
        segs = ['']
        for c in seq:
            if c is W: segs.append('')
            else: segs[-1] += c
        return ('wild', segs)
    def literal_body(s):
        r = s.quoted()
        if r is not FAIL: return r
        return s.unquoted()
    def Literal(s, name): return s.named(name, s.literal_body)
    # queries
    def start(s):
        s.spaces()
        save = s.pos
        q = s.OrQuery()
        if q is FAIL: s.pos = save; q = ('matchall',)
        s.spaces()
        if s.pos < len(s.t):
            s.fail('end of input'); return FAIL
        return q
    def listop(s, sub, op, name):
        start = s.pos
        head = sub()
        if head is not FAIL:
            tail = []
            while True:
                p = s.pos
                if op() is FAIL: s.pos = p; break
                n = sub()
                if n is FAIL: s.pos = p; break
                tail.append(n)
            if tail: return (name, [head] + tail)
        s.pos = start
        return sub()
    def OrQuery(s): return s.listop(s.AndQuery, s.Or, 'or')
    def AndQuery(s): return s.listop(s.NotQuery, s.And, 'and')
    def NotQuery(s):
        start = s.pos
        if s.Not() is not FAIL:
            q = s.SubQuery()
            if q is not FAIL: return ('not', [q])
        s.pos = start
        return s.SubQuery()
    def SubQuery(s):
        start = s.pos
        if s.lit('(', '"("') is not FAIL:
            s.spaces()
            q = s.OrQuery()
            if q is not FAIL:
                s.spaces()
                if s.lit(')', '")"') is not FAIL: return q
        s.pos = start
        return s.NestedQuery()
    def NestedQuery(s):
        start = s.pos
        f = s.Literal('fieldName')
        if f is not FAIL:
            s.spaces()
            if s.lit(':', '":"') is not FAIL:
                s.spaces()
                if s.lit('{', '"{"') is not FAIL:
                    s.spaces()
                    q = s.OrQuery()
                    if q is not FAIL:
                        s.spaces()
                        if s.lit('}', '"}"') is not FAIL: return ('nested', f, q)
        s.pos = start
        return s.Expression()
    def Expression(s):
        for f in (s.Range, s.FieldValue, s.ValueExpr):
            start = s.pos
            r = f()
            if r is not FAIL: return r
            s.pos = start
        return FAIL
    def Range(s):
        start = s.pos
        f = s.Literal('fieldName')
        if f is FAIL: return FAIL
        s.spaces()
        op = None
        for o, n in (('<=', 'lte'), ('>=', 'gte'), ('<', 'lt'), ('>', 'gt')):
            if s.lit(o, '"%s"' % o) is not FAIL: op = n; break
        if op is None: s.pos = start; return FAIL
        s.spaces()
        v = s.Literal('literal')
        if v is FAIL: s.pos = start; return FAIL
        return ('range', f, op, v)
    def FieldValue(s):
        start = s.pos
        f = s.Literal('fieldName')
        if f is FAIL: return FAIL
        s.spaces()
        if s.lit(':', '":"') is FAIL: s.pos = start; return FAIL
        s.spaces()
        l = s.ListOfValues()
        if l is FAIL: s.pos = start; return FAIL
        return l(f)
    def ValueExpr(s):
        v = s.Value()
        if v is FAIL: return FAIL
        return v(('null',))
    def ListOfValues(s):
        start = s.pos
        if s.lit('(', '"("') is not FAIL:
            s.spaces()
            r = s.OrList()
            if r is not FAIL:
                s.spaces()
                if s.lit(')', '")"') is not FAIL: return r
        s.pos = start
        return s.Value()
    def vlistop(s, sub, op, name):
        start = s.pos
        head = sub()
        if head is not FAIL:
            tail = []
            while True:
                p = s.pos
                if op() is FAIL: s.pos = p; break
                n = sub()
                if n is FAIL: s.pos = p; break
                tail.append(n)
            if tail:
                parts = [head] + tail
                return lambda f: (name, [x(f) for x in parts])
        s.pos = start
        return sub()
    def OrList(s): return s.vlistop(s.AndList, s.Or, 'or')
    def AndList(s): return s.vlistop(s.NotList, s.And, 'and')
    def NotList(s):
        start = s.pos
        if s.Not() is not FAIL:
            l = s.ListOfValues()
            if l is not FAIL: return lambda f: ('not', [l(f)])
        s.pos = start
        return s.ListOfValues()
    def Value(s):
        v = s.Literal('value')
        if v is FAIL: return FAIL
        return lambda f: ('is', f, v)

def js(sv):
    return json.dumps(sv, ensure_ascii=False).replace('\\u007f', '\x7f')

def dlit(l, text_only=False):
    k = l[0]
    if k in ('null', 'true', 'false'): return k
    if k == 'str': return js(l[1])
    segs = l[1]
    if text_only: return js('*'.join(segs))
    if len(segs) == 2 and segs == ['', '']: return '*'
    if len(segs) == 2 and segs[1] == '': return '(prefix %s)' % js(segs[0])
    if len(segs) == 2 and segs[0] == '': return '(suffix %s)' % js(segs[1])
    if len(segs) == 3 and segs[0] == '' and segs[2] == '': return '(infix %s)' % js(segs[1])
    return '(wildcard %s)' % ' '.join(js(x) for x in segs)

def dump(n):
    k = n[0]
    if k == 'matchall': return '(matchall)'
    if k in ('or', 'and', 'not'): return '(%s %s)' % (k, ' '.join(dump(c) for c in n[1]))
    if k == 'is': return '(is %s %s)' % (dlit(n[1]), dlit(n[2]))
    if k == 'range': return '(range %s %s %s)' % (dlit(n[1]), n[2], dlit(n[3], True))
    if k == 'nested': return '(nested %s %s)' % (dlit(n[1]), dump(n[2]))

TR = {'fieldName': 'field name'}
ORDER = ['"("', '")"', '":"', '"<"', '"<="', '">"', '">="', '"{"', '"}"', 'AND', 'NOT', 'OR', 'end of input', 'fieldName', 'literal', 'value', 'whitespace']

def parse(q):
    p = P(q)
    r = p.start()
    if r is not FAIL: return True, dump(r)
    exp = [TR.get(e, e) for e in sorted(p.exp, key=ORDER.index)]
    pos = p.maxpos
    return False, (len(q[:pos].encode()), ', '.join(exp))

if __name__ == '__main__':
    for line in sys.stdin:
        q = line.rstrip('\n')
        ok, d = parse(q)
        print(('OK ' + d) if ok else 'ERR %d %s' % d)
