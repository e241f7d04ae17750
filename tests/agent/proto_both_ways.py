"""Agent protocol 1 and 2 against each other (docs/contracts.md §3.1).

Runs the same cases twice on one device, once with --device-proto 1 and once
negotiated (proto 2), and checks: the second run did speak proto 2 (its wire
lines are compact), it moved fewer bytes, and every case got the same verdict
and the same device and peer classes. Usage: proto_both_ways.py SOURCE_DIR TLSMATRIX
WORKDIR DEVICE [DEVICE...]; a device whose program is missing is skipped (exit 77 when
none is left). It also checks that agent.py and common/tm_proto2.c hold the
same key table."""
import json, os, shutil, subprocess, sys

FILTERS = ['client-expired-leaf/openssl/p256/*', 'client-untrusted-root/openssl/p256/*',
           'client-hostname-mismatch/openssl/p256/*', 'client-ca-garbage/openssl/p256/*',
           'client-net-large-app-data/openssl/p256/*', 'client-mtls-device-cert/openssl/p256/*',
           'client-no-ca/openssl/p256/*', 'dtls-client-happy/openssl/p256/*',
           'server-*/openssl/p256/tls', 'session-*/openssl/p256/*']


def run(tool, work, device, proto):
    rep = os.path.join(work, 'p%s' % proto)
    shutil.rmtree(rep, ignore_errors=True)
    cmd = [tool, 'run', '--device', device, '--jobs', '1', '--quiet', '--report', rep]
    for f in FILTERS:
        cmd += ['--filter', f]
    if proto == 1:
        cmd += ['--device-proto', '1']
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    out = p.stdout.decode(errors='replace')
    if p.returncode not in (0, 1):
        raise SystemExit('%s (proto %s) exited %d:\n%s' % (device, proto, p.returncode, out))
    return json.load(open(os.path.join(rep, 'run.json')))


def wire(case):
    return [l for l in case['transcript'].get('agent', []) if l[:2] in ('> ', '< ')]


def classes(run):
    return {c['id']: (c['verdict'], c['actual']['device'], c['actual']['peer'])
            for c in run['cases']}


def both(tool, work, device):
    full, compact = run(tool, work, device, 1), run(tool, work, device, 2)
    a, b = classes(full), classes(compact)
    if len(a) < 12:
        raise SystemExit('%s: only %d cases ran' % (device, len(a)))
    if a != b:
        diff = ['%s: proto 1 %s, proto 2 %s' % (k, a.get(k), b.get(k))
                for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        raise SystemExit('%s: classes differ:\n%s' % (device, '\n'.join(diff)))
    lines1 = sum((wire(c) for c in full['cases']), [])
    lines2 = sum((wire(c) for c in compact['cases']), [])
    if any('"i":' in l for l in lines1) or not any(l.startswith('< {"i":') for l in lines2):
        raise SystemExit('%s: the runs did not speak proto 1 and 2' % device)
    n1 = sum(c['link']['sent'] + c['link']['received'] for c in full['cases'])
    n2 = sum(c['link']['sent'] + c['link']['received'] for c in compact['cases'])
    if not n2 < n1:
        raise SystemExit('%s: proto 2 moved %d bytes, proto 1 %d' % (device, n2, n1))
    print('%s: %d cases, same classes; link bytes %d (proto 1) -> %d (proto 2)'
          % (device, len(a), n1, n2))


def same_table(src):
    # agent.py's LS and common/tm_proto2.c's table: one protocol, one table
    import ast, re
    agent = open(os.path.join(src, 'camera/agent/agent.py')).read()
    m = re.search(r'^LS = (\{.*?\})$', agent, re.S | re.M)
    py = list(ast.literal_eval(m.group(1)).items())
    c = re.findall(r'\{ "(\w+)", "(\w+)" \}', open(os.path.join(src, 'common/tm_proto2.c')).read())
    if py != c:
        raise SystemExit('agent.py LS and tm_proto2.c differ:\n%s\n%s' % (py, c))
    shorts, longs = {b for a, b in py}, {a for a, b in py}
    if len(shorts) != len(py) or shorts & longs:
        raise SystemExit('short names must be unique and no long name')


def main():
    src, tool, work, devices = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    same_table(src)
    ran = 0
    for d in devices:
        prog = d.split(':', 1)[1].split()[0] if d.startswith('exec-agent:') else None
        if prog and not os.access(prog, os.X_OK):
            print('skip %s: %s not built' % (d, prog))
            continue
        both(tool, work, d)
        ran += 1
    sys.exit(0 if ran else 77)


main()
