#!/usr/bin/env python3
# tools/kql_gen.py SEED N - random KQL queries (token soup and mutated structured queries),
# one per line, for make kql-diff.
import random, sys
random.seed(int(sys.argv[1])); N=int(sys.argv[2])
TOK = ['a', 'b', 'x y', 'user.name', ':', ':', '(', ')', '{', '}', ' ', ' ', '  ', 'and', 'or', 'not', 'AND', 'Not', 'oR',
       '"q"', '"a b"', '"', '*', '*', '\\', '\\:', '\\*', '\\(', '<', '<=', '>', '>=', '\t', '\u00a0', '\\n', '\\t', '\\or',
       '\\NOT', '\\not', 'nothing', 'notes', '1', '007', 'true', 'null', 'false', 'é', '\\u0041', '\\u00a0', '\\u0020',
       '\u3000', '-', '/', '"\\"', '"\\\\"', '\\u12', '\r', '\n', '?']
def soup():
    return ''.join(random.choice(TOK) for _ in range(random.randint(0, 12)))
def val(d):
    r = random.random()
    if d > 2 or r < 0.5: return random.choice(['b', '"b c"', 'x*', '*', '*y*', 'a\\:b', 'true', 'null', 'not', 'nothing', 'can not', '"*"', 'x\\*', '1.5', '\\or', ' b '])
    if r < 0.7: return 'not ' + val(d+1)
    j = random.choice([' or ', ' and ', ' AND ', ' OR '])
    return '(' + j.join(val(d+1) for _ in range(random.randint(1, 3))) + ')'
def q(d=0):
    r = random.random()
    f = random.choice(['a', 'a.b', 'user.*', '"f g"', '*', 'notes', 'x\\:y'])
    if d > 3 or r < 0.35: return f + random.choice([':', ' : ', ': ']) + val(0)
    if r < 0.45: return f + random.choice([' > ', '<=', ' >= ']) + random.choice(['5', '"x"', 'x*', 'true'])
    if r < 0.5: return 'hello' if random.random() < .5 else '"free text"'
    if r < 0.6: return 'not ' + q(d+1)
    if r < 0.7: return '(' + q(d+1) + ')'
    if r < 0.75: return f + ':{ ' + q(d+1) + ' }'
    j = random.choice([' or ', ' and ', ' AND ', '\nand\n', ' Or '])
    return j.join(q(d+1) for _ in range(random.randint(2, 3)))
def mutate(s):
    if not s or random.random() < 0.5: return s
    i = random.randrange(len(s)); op = random.random()
    if op < 0.33: return s[:i] + s[i+1:]
    if op < 0.66: return s[:i] + random.choice(TOK) + s[i:]
    return s[:i] + random.choice(TOK) + s[i+1:]
for _ in range(N):
    s = soup() if random.random() < 0.4 else mutate(q())
    print(s.replace('\n', ' ').replace('\r', ' ') if random.random() < 0.5 else s.replace('\n','\\n').replace('\r','\\r'))
