"""agent.py through CPython's own parser, held to the subset MicroPython compiles
the same way: no walrus, no type annotations, no f-string inside an f-string.
MicroPython's compiler (test_agent_py) accepts some of these, so this check is the
one that keeps the file portable. It first proves on known-bad snippets that each
rule can fail. Usage: python3 py3_subset.py AGENT.py"""
import ast
import sys


def violations(source, name):
    try:
        tree = ast.parse(source, filename=name)
    except SyntaxError as e:
        return ["%s:%s: not Python 3: %s" % (name, e.lineno, e.msg)]
    found = []

    def at(node, what):
        found.append("%s:%d: %s" % (name, node.lineno, what))

    for node in ast.walk(tree):
        if isinstance(node, ast.NamedExpr):
            at(node, "walrus operator (:=)")
        elif isinstance(node, ast.AnnAssign):
            at(node, "annotated assignment")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            every = args.posonlyargs + args.args + args.kwonlyargs + \
                [a for a in (args.vararg, args.kwarg) if a is not None]
            if any(a.annotation is not None for a in every) or \
                    getattr(node, "returns", None) is not None:
                at(node, "type annotation in a signature")
        elif isinstance(node, ast.JoinedStr):
            inner = [n for v in node.values for n in ast.walk(v)
                     if isinstance(n, ast.JoinedStr)]
            if inner:
                at(node, "f-string nested in an f-string")
    return found


def self_check():
    bad = {
        "walrus": "if (n := 1):\n    pass\n",
        "annotation": "x: int = 1\n",
        "signature": "def f(a: int) -> int:\n    return a\n",
        "nested f-string": "a = 1\nb = f\"{f'{a}'}\"\n",
    }
    for what, src in bad.items():
        if not violations(src, what):
            sys.exit("py3_subset: the %s rule does not fire" % what)
    if violations("def f(a, *b, **c):\n    return f'{a}'\n", "good"):
        sys.exit("py3_subset: a plain function is refused")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: py3_subset.py AGENT.py")
    self_check()
    with open(sys.argv[1], encoding="utf-8") as f:
        source = f.read()
    found = violations(source, sys.argv[1])
    for line in found:
        print(line)
    if found:
        sys.exit(1)
    print("%s: Python 3 syntax, MicroPython subset: ok" % sys.argv[1])


main()
