# Agent unit cases, run under MicroPython (WebAssembly) by mpy_run.mjs with
# TM_CASE naming one case. The agent is loaded from /agent.py with TM_NO_MAIN set,
# so its pure-Python parts are called directly. This build has no ssl, tls,
# socket, machine or network module: the agent must say so and keep serving.
import io, json, binascii, hashlib, time

SRC = open('/agent.py').read()
A = {'TM_NO_MAIN': True, '__name__': 'agent'}
exec(SRC, A)


def eq(got, want, what):
    if got != want:
        raise AssertionError('%s: got %s, want %s' % (what, repr(got)[:300], repr(want)[:300]))


def has(text, part, what):
    if part not in text:
        raise AssertionError('%s: %r does not contain %r' % (what, text, part))


def bad(line, want_id, part):
    req, r = A['parse'](line)
    eq(req, None, 'parse(%r) request' % line[:60])
    eq(r['outcome'], 'bad-request', 'outcome for %r' % line[:60])
    eq(r['id'], want_id, 'id for %r' % line[:60])
    has(r['error'], part, 'error for %r' % line[:60])
    json.loads(json.dumps(r))   # the reply itself is valid JSON


def rq(**kw):
    return json.dumps(kw)


def t_compile():
    eq(SRC.split('\n')[0], '# tlsmatrix-agent proto=1', 'header line')
    compile(SRC, 'agent.py', 'exec')   # MicroPython's own compiler
    print('agent.py bytes', len(SRC.encode()))
    # 20 KB until proto 2's key table (a literal: on the unix port the agent's
    # heap_start - heap_free went 10.0 -> 13.1 KB with it, the table 2.4 KB)
    if len(SRC.encode()) >= 24576:
        raise AssertionError('agent.py is %d bytes, the budget is 24 KB' % len(SRC.encode()))
    for n in ('parse', 'check', 'handle', 'serve', 'exc_info', 'hello', 'main'):
        if not callable(A.get(n)):
            raise AssertionError('agent lacks %s()' % n)


def t_parse():
    req, r = A['parse'](b'{"id":3,"op":"info"}')
    eq(r, None, 'good request reply')
    eq(req['id'], 3, 'id')
    req, r = A['parse'](rq(id=4, op='tls_client', host='h', port=443, ca=[{'file': 'r.der'}],
                           chain=[{'cert': {'b64': 'AAAA'}, 'key': {'str': 'k'}}],
                           client_id={'b64': 'eA=='}, do_handshake=False))
    eq(r, None, 'full tls request reply')
    req, r = A['parse'](rq(id=5, op='tls_server', layer=None, recv_mode=None, ciphers=None))
    eq(r, None, 'null fields are absent ones')
    req, r = A['parse'](rq(id=6, op='tls_client', host='h', port=1, verify_mode=-1))
    eq(r, None, 'verify_mode takes any int (DM 1.1)')
    bad(b'{"id":1,"op":', None, 'bad JSON')
    bad(b'\xff\xfe', None, 'bad JSON')
    bad(b'[1,2]', None, 'not a JSON object')
    bad(b'"str"', None, 'not a JSON object')
    bad(b'{"op":"info"}', None, 'missing field: id')
    bad(b'{"id":"1","op":"info"}', None, 'id must be an integer')
    bad(b'{"id":true,"op":"info"}', None, 'id must be an integer')
    bad(b'{"id":1.5,"op":"info"}', None, 'id must be an integer')
    bad(b'{"id":5}', 5, 'missing field: op')
    bad(b'{"id":5,"op":7}', 5, 'op must be a string')
    bad(b'{"id":6,"op":"format_flash"}', 6, 'unknown op: format_flash')
    bad(rq(id=7, op='put', path='a', b64='AA=='), 7, 'missing field: sha256')
    bad(rq(id=7, op='put', path=1, b64='AA==', sha256='x'), 7, 'path must be str')
    bad(rq(id=7, op='put', path='a', b64='@@@', sha256='x'), 7, 'b64')
    bad(rq(id=8, op='clock', set='now'), 8, 'set must be int')
    bad(rq(id=9, op='tls_client', port=443), 9, 'missing field: host')
    bad(rq(id=9, op='tls_client', host='h', port='443'), 9, 'port must be int')
    bad(rq(id=9, op='tls_client', host='h', port=70000), 9, 'port')
    bad(rq(id=9, op='tls_server', recv_bytes=-1), 9, 'recv_bytes')
    bad(rq(id=9, op='tls_server', layer='openssl'), 9, 'layer')
    bad(rq(id=9, op='tls_server', recv_mode='peek'), 9, 'recv_mode')
    bad(rq(id=9, op='tls_server', nodelay=1), 9, 'nodelay must be bool')
    bad(rq(id=9, op='tls_server', ca={'file': 'x'}), 9, 'ca must be list')
    bad(rq(id=9, op='tls_server', ca=[{'der': 'x'}]), 9, 'one of file, b64, str')
    bad(rq(id=9, op='tls_server', ca=[{'file': 3}]), 9, 'ca.file must be a string')
    bad(rq(id=9, op='tls_server', chain=[{'cert': {'b64': '!!'}}]), 9, 'chain.cert.b64')
    bad(rq(id=9, op='dtls_server', client_id='manual'), 9, 'client_id')
    bad(rq(id=9, op='dtls_client', host='h', port=1, send_b64='%%'), 9, 'send_b64')
    # nonblocking: the first read/write drives the handshake, so one is needed
    bad(rq(id=9, op='dtls_client', host='h', port=1, nonblocking=1, send_b64='aGkK'), 9,
        'nonblocking must be bool')
    bad(rq(id=9, op='dtls_client', host='h', port=1, nonblocking=True), 9,
        'nonblocking needs send_b64 or recv_bytes')
    for kw in ({'send_b64': 'aGkK'}, {'recv_bytes': 4}, {'do_handshake': False}):
        req, r = A['parse'](rq(id=11, op='dtls_server', nonblocking=True, **kw))
        eq(r, None, 'nonblocking request with %s' % kw)
    hv = OSError(-27264, 'MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED')

    def hvr(q, e):
        # _hvr notes a HelloVerify failure for a retry, and raises anything else
        o = A['Op'](q)
        try:
            A['_hvr'](o, e)
        except OSError as x:
            eq(x is e, True, 'the exception itself re-raised')
            return False
        return o.r['attempts'] == 2 and o.r['first_exc']['args'] == [-27264, 'MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED']
    eq(hvr({'id': 1, 'op': 'dtls_server'}, hv), True, 'HelloVerify retried')
    eq(hvr({'id': 1, 'op': 'dtls_server', 'hello_verify_retry': False}, hv), False, 'HelloVerify retry off')
    eq(hvr({'id': 1, 'op': 'dtls_client'}, hv), False, 'client: no retry')
    eq(hvr({'id': 1, 'op': 'dtls_server'}, OSError(110)), False, '110: no retry')
    big = b'{"id":10,"op":"info","pad":"' + b'a' * 65536 + b'"}'
    bad(big, None, 'line over 65536 bytes')


def t_exc():
    e = A['exc_info'](OSError(-30592, 'MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE'))
    eq(e, {'type': 'OSError', 'args': [-30592, 'MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE'],
           'text': "(-30592, 'MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE')"}, 'OSError info')
    eq(A['outcome_of'](e), 'error', 'outcome of -30592')
    msg = '\nThe certificate validity has expired\n'
    eq(A['exc_info'](ValueError(msg)), {'type': 'ValueError', 'args': [msg], 'text': msg},
       'ValueError info')
    t = A['exc_info'](OSError(110))
    eq(t['args'], [110], 'timeout args')
    eq(A['outcome_of'](t), 'timeout', 'outcome of OSError(110)')
    eq(A['outcome_of'](None), 'ok', 'outcome without exception')
    eq(A['exc_info'](TypeError("can't convert 'NoneType' object to str implicitly"))['type'],
       'TypeError', 'TypeError type')
    eq(A['exc_info'](OSError(5, b'\x01'))['args'], [5, "b'\\x01'"], 'bytes arg as repr')
    line = json.dumps(A['reply'](7, 'tls_client', 'error', exc=e))
    back = json.loads(line)
    eq(back['exc']['args'][0], -30592, 'exception code through JSON')
    eq((back['id'], back['op'], back['outcome']), (7, 'tls_client', 'error'), 'reply head')
    if '\n' in line:
        raise AssertionError('a reply must be one line')
    o = A['Op']({'id': 1, 'op': 'tls_client', 'timeout_ms': 500})
    eq(o.timeout(), 0.5, 'socket timeout from timeout_ms')
    o.mark('load')
    eq(type(o.r['ms']['load']), int, 'ms per stage')
    o.end = A['now']() - 1
    try:
        o.timeout()
        raise AssertionError('no OSError(110) past the deadline')
    except OSError as x:
        eq(x.args, (110,), 'deadline error')


def put(path, data, sha=None):
    return A['handle'](rq(id=11, op='put', path=path, b64=binascii.b2a_base64(data).decode().strip(),
                          sha256=sha or binascii.hexlify(hashlib.sha256(data).digest()).decode()),
                       None)


def t_put():
    data = bytes(range(256)) * 3
    sha = binascii.hexlify(hashlib.sha256(data).digest()).decode()
    r = put('root.der', data)
    eq((r['outcome'], r['size'], r['sha256']), ('ok', 768, sha), 'put reply')
    eq(open('root.der', 'rb').read(), data, 'file content')
    r = put('upper.der', b'abc', binascii.hexlify(hashlib.sha256(b'abc').digest()).decode().upper())
    eq(r['outcome'], 'ok', 'upper-case sha256 accepted')
    r = put('wrong.der', data, '00' * 32)
    eq(r['outcome'], 'error', 'wrong sha256 outcome')
    has(r['error'], 'sha256 mismatch', 'wrong sha256 error')
    eq(r['sha256'], sha, 'sha256 of what arrived')
    try:
        open('wrong.der', 'rb')
        raise AssertionError('a mismatched file was written')
    except OSError:
        pass
    r = put('/no/such/dir/x.der', b'x')
    eq((r['outcome'], r['exc']['type']), ('error', 'OSError'), 'unwritable path')
    r = put('empty.der', b'')
    eq((r['outcome'], r['size']), ('ok', 0), 'empty file')


def t_clock():
    r = A['handle'](b'{"id":12,"op":"clock"}', None)
    eq((r['outcome'], r['settable']), ('ok', False), 'clock read without RTC')
    if abs(r['epoch'] - time.time()) > 5 or r['epoch'] < 1600000000:
        raise AssertionError('clock epoch %r is not UTC seconds' % r['epoch'])
    r = A['handle'](b'{"id":13,"op":"clock","set":1700000000}', None)
    eq((r['id'], r['outcome'], r['settable']), (13, 'unsupported', False), 'clock set without RTC')
    has(r['error'], 'RTC', 'clock set error')


def t_hello():
    h = A['hello']()
    json.loads(json.dumps(h))
    eq((h['event'], h['agent'], h['proto'], h['virtual']), ('hello', 'tlsmatrix-agent', 1, False), 'head')
    eq(h['impl']['name'], 'micropython', 'impl name')
    eq(h['impl']['version'], '1.27.0', 'impl version')
    eq((h['modules']['ssl'], h['modules']['tls'], h['modules']['socket']), (False, False, False),
       'modules absent here')
    eq(h['mbedtls'], None, 'no mbedtls version without ssl/tls')
    c = h['caps']
    eq((c['dtls'], c['set_ciphers'], c['client_id'], c['protocols']), (False, False, False, []), 'caps')
    eq(c['fs_writable'], True, 'fs writable')
    eq(h['clock']['settable'], False, 'clock not settable')
    eq(h['addrs'], [], 'no network addresses')
    if type(h['heap_free']) is not int or h['heap_free'] <= 0:
        raise AssertionError('heap_free %r' % h['heap_free'])
    # heap_start: free when the agent's code began to run; its definitions come after
    if type(h['heap_start']) is not int or h['heap_start'] <= h['heap_free']:
        raise AssertionError('heap_start %r, heap_free %r' % (h['heap_start'], h['heap_free']))
    eq(c['tls_gc_heap'], None, 'no TLS module: nothing to measure')
    r = A['handle'](b'{"id":14,"op":"info"}', None)
    eq((r['id'], r['op'], r['outcome'], r['agent']), (14, 'info', 'ok', 'tlsmatrix-agent'), 'info')
    if 'event' in r:
        raise AssertionError('info reply carries event')


def t_ops_unsupported():
    ev = []
    for op, extra, part in (('tls_client', {'host': 'h', 'port': 1}, 'no tls'),
                            ('tls_server', {'layer': 'ssl'}, 'no ssl'),
                            ('dtls_client', {'host': 'h', 'port': 1}, 'no tls'),
                            ('dtls_server', {}, 'no tls')):
        q = {'id': 15, 'op': op}
        q.update(extra)
        r = A['handle'](json.dumps(q), ev.append)
        eq((r['id'], r['op'], r['outcome']), (15, op, 'unsupported'), op)
        has(r['error'], part, op + ' error')
    eq(ev, [], 'no listening event without sockets')
    r = A['handle'](rq(id=16, op='fault', kind='reboot'), None)
    eq(r['outcome'], 'unsupported', 'fault on a real agent')
    r = A['handle'](b'{"id":17,"op":"reset"}', None)
    eq(r['outcome'], 'ok', 'reset')


def t_serve():
    lines = [b'{"id":1,"op":"info"}', b'{"id":2,"op":', b'', b'  ',
             b'{"id":3,"op":"' + b'x' * 70000 + b'"}',
             b'{"id":4,"op":"nope"}\r', b'{"id":5,"op":"clock"}',
             b'{"id":6,"op":"reset"}', b'{"id":7,"op":"info"}']
    got = []
    rc = A['serve'](io.BytesIO(b'\n'.join(lines) + b'\n'), got.append)
    eq(rc, 'reset', 'serve ends on reset')
    eq([(m.get('event'), m.get('id'), m.get('outcome')) for m in got],
       [('hello', None, None), (None, 1, 'ok'), (None, None, 'bad-request'),
        (None, None, 'bad-request'), (None, 4, 'bad-request'), (None, 5, 'ok'),
        (None, 6, 'ok')], 'replies in order')
    has(got[3]['error'], 'line over', 'oversize reply')
    got = []
    eq(A['serve'](io.BytesIO(b'{"id":1,"op":"info"}'), got.append), 'eof', 'EOF ends serve')
    eq(len(got), 2, 'hello and one reply before EOF')
    # a request longer than the agent's piece is read whole, in pieces of at most CH
    # bytes: readline(n) reserves n bytes up front, so a 64 KB limit must not be asked for
    class Rd:
        def __init__(self, data):
            self.b, self.most = io.BytesIO(data), 0
        def readline(self, n=-1):
            self.most = max(self.most, n)
            return self.b.readline(n)
    data = bytes(range(256)) * 12
    line = rq(id=8, op='put', path='long.der', b64=binascii.b2a_base64(data).decode().strip(),
              sha256=binascii.hexlify(hashlib.sha256(data).digest()).decode()).encode()
    if len(line) <= 2 * A['CH']:
        raise AssertionError('test line of %d bytes is not over the piece size' % len(line))
    rd, got = Rd(line + b'\n' + b'{"id":9,"op":"' + b'y' * 70000 + b'"}\n{"id":10,"op":"info"}\n'), []
    eq(A['serve'](rd, got.append), 'eof', 'serve to EOF')
    eq([(m.get('id'), m.get('outcome')) for m in got[1:]],
       [(8, 'ok'), (None, 'bad-request'), (10, 'ok')], 'long line, oversize line, next')
    eq(got[1]['size'], len(data), 'the long line arrived whole')
    if rd.most > A['CH']:
        raise AssertionError('readline(%d): more than a piece' % rd.most)


def t_never_dies():
    # every class of junk gets a reply; none raises out of handle()
    junk = [b'', b'{}', b'null', b'1', b'{"id":null,"op":"info"}', b'{"id":1,"op":"put"}',
            b'{"id":1,"op":"put","path":"a","b64":null,"sha256":"x"}',
            b'{"id":1,"op":"tls_client","host":"h","port":1,"chain":[1]}',
            b'{"id":1,"op":"tls_client","host":"h","port":1,"chain":[{"cert":[]}]}',
            b'{"id":1,"op":"tls_server","deadline_ms":-5}', b'{"id":1,"op":"clock","set":null}',
            b'{"id":-1,"op":"info","extra":{"deep":[[[[]]]]}}', b'\x00\x01\x02', b'{"id":1e400}',
            b'{"id":1,"op":"\xff\xfe"}', b'{"id":1,"op":"put","path":"\xc3","b64":"","sha256":""}']
    for j in junk:
        r = A['handle'](j, None)
        if r.get('outcome') not in ('ok', 'bad-request', 'unsupported', 'error'):
            raise AssertionError('%r gave %r' % (j, r))
        json.dumps(r)


def t_deadline():
    # every blocking step re-arms the socket with what is left of deadline_ms. The
    # agent's clock is replaced (its functions look `now` up in A at each call), so
    # the figures are the same on a fast and a loaded machine.
    class Sock:
        t = None
        def settimeout(self, t):
            self.t = t
    real, clock = A['now'], [1000]
    A['now'] = lambda: clock[0]
    try:
        o = A['Op']({'id': 1, 'op': 'tls_client', 'deadline_ms': 300, 'timeout_ms': 100})
        o.s = Sock()
        eq(o.timeout(), 0.1, 'timeout_ms below the deadline')
        eq(o.s.t, 0.1, 'socket timeout set')
        clock[0] += 250
        eq(o.timeout(), 0.05, 'cut to the deadline')
        eq(o.s.t, 0.05, 'socket re-armed with what is left')
        clock[0] += 50
        try:
            o.timeout()
            raise AssertionError('no OSError at the deadline')
        except OSError as e:
            eq(e.args[0], 110, 'ETIMEDOUT')
    finally:
        A['now'] = real


def t_heap():
    # heap_free (DM §9): the agent holds all but n bytes
    before = A['heap']()
    n = before - 300000   # this build's heap is large: hold 300 KB of it
    h = A['_fill'](n)
    got = A['heap']()
    if not n - 256 <= got <= n + 256:
        raise AssertionError('left %d free, asked %d (of %d)' % (got, n, before))
    h.clear()   # as op_tls lets go; this WebAssembly build's collector keeps what a dead
    # reference pointed to (bytearray(300000); b = None; gc.collect() frees nothing), so
    # giving the heap back is checked on the virtual camera (test_devtls), not here


def t_bad_tls():
    # the table test_vcam.c runs against the virtual camera: the same texts
    table = json.loads(open('/bad_tls_requests.json').read())
    for n, c in enumerate(table['cases']):
        q = c['req']
        q['id'] = 100 + n
        bad(json.dumps(q), 100 + n, c['error'])


class FakeTLS:
    # a kept connection's TLS socket: echoes what is written, records close()
    def __init__(self, log):
        self.log, self.buf = log, b''
    def write(self, b):
        self.buf += bytes(b)
        return len(b)
    def read(self, n):
        d, self.buf = self.buf[:n], self.buf[n:]
        return d
    def close(self):
        self.log.append('tls.close')


class FakeRaw:
    def __init__(self, log):
        self.log = log
    def settimeout(self, t):
        pass
    def setsockopt(self, *a):
        self.log.append('linger')
    def close(self):
        self.log.append('raw.close')


def t_session():
    # the session ops on kept connections (contracts §3 conn, gc, sleep)
    log = []
    C = A['CONNS']
    k = A['_keep'](FakeTLS(log), FakeRaw(log))
    r = A['handle'](rq(id=30, op='conn', conn=k, send_b64='aGVsbG8='), None)
    eq((r['outcome'], r['bytes_sent'], r['open']), ('ok', 5, 1), 'write on a kept conn')
    r = A['handle'](rq(id=31, op='conn', conn=k, recv_bytes=10), None)
    eq((r['outcome'], r['bytes_received'], r['received_b64']), ('ok', 5, 'aGVsbG8='),
       'a short read is what came, not an error')
    r = A['handle'](rq(id=32, op='conn', conn=k, close='raw'), None)
    eq((r['outcome'], log, r['open']), ('ok', ['raw.close'], 1), 'raw close keeps the TLS object')
    r = A['handle'](rq(id=33, op='conn', conn=k, close='leave'), None)
    eq((r['outcome'], r['open']), ('ok', 1), 'leave keeps it')
    class Sock:   # the socket module's names, absent in this build
        SOL_SOCKET, SO_LINGER = 1, 13
    A['socket'] = Sock
    r = A['handle'](rq(id=34, op='conn', conn=k, close='abort'), None)
    A['socket'] = None
    eq((r['outcome'], log[-2:], r['open']), ('ok', ['linger', 'tls.close'], 0), 'abort: linger 0, close')
    r = A['handle'](rq(id=35, op='conn', conn=k), None)
    eq((r['outcome'], r['error']), ('bad-request', 'unknown conn: %d' % k), 'a closed conn is gone')
    bad(rq(id=36, op='conn', conn=k, close='later'), 36, 'close must be')
    bad(rq(id=37, op='conn'), 37, 'missing field: conn')
    k2 = A['_keep'](FakeTLS(log), FakeRaw(log))
    A['_keep'](FakeTLS(log), FakeRaw(log))
    r = A['handle'](rq(id=38, op='gc'), None)
    eq((r['outcome'], r['open']), ('ok', 2), 'gc counts kept conns')
    if type(r['heap_free']) is not int or r['heap_free'] <= 0:
        raise AssertionError('gc heap_free %r' % r['heap_free'])
    r = A['handle'](rq(id=39, op='gc', release=True), None)
    eq((r['open'], log.count('tls.close'), len(C)), (0, 3, 0), 'release closes every conn')
    t = time.ticks_ms()
    r = A['handle'](rq(id=40, op='sleep', ms=60), None)
    if r['outcome'] != 'ok' or time.ticks_diff(time.ticks_ms(), t) < 60:
        raise AssertionError('sleep %r' % r)
    bad(rq(id=41, op='sleep', ms=-1), 41, 'out of range: ms')
    bad(rq(id=42, op='tls_client', host='h', port=1, asyncio=True), 42, 'asyncio needs send_b64')
    bad(rq(id=43, op='tls_server', asyncio=True, send_b64='aGk='), 43, 'asyncio is for tls_client')
    eq(A['hello']()['caps']['sessions'], True, 'hello says sessions')
    eq(k2 in C, False, 'released')


def lock(**kw):
    return A['handle'](rq(id=50, op='lock', **kw), None)


def fresh():
    # a soft reset: RAM gone (the holder the agent keeps in __main__'s globals
    # with it), the flash kept
    __import__('__main__').__dict__.pop('TMLK', None)
    B = {'TM_NO_MAIN': True, '__name__': 'agent'}
    exec(SRC, B)
    return B


def t_lock():
    a = {'host': 'h1', 'pid': 1, 'since': '2026-01-01T00:00:00Z', 'token': 'aa', 'until': 9}
    b = dict(a, pid=2, token='bb')
    eq((A['hello']()['lock'], lock()['holder']), (None, None), 'free at first')
    eq(A['hello']()['unique_id'], None, 'no machine.unique_id here')
    eq(lock(set=a)['holder'], a, 'taken when free')
    eq(lock(set=b)['holder'], a, 'a second taker without the token is refused')
    eq(lock(set=b, **{'if': 'zz'})['holder'], a, 'a wrong token is refused')
    a2 = dict(a, until=99)
    eq(lock(set=a2, **{'if': 'aa'})['holder'], a2, 'renewed by its holder')
    eq(json.loads(open('.tm_lock').read()), a, 'a renewal is not written to flash')
    exec(SRC, A)   # a re-upload runs in the same globals (__main__)
    eq(A['hello']()['lock'], a2, 'the renewed holder outlives a re-upload')
    B = fresh()
    eq(B['hello']()['lock'], a, 'after a reset: the holder on flash')
    eq(B['handle'](rq(id=51, op='lock', set=b, **{'if': 'aa'}), None)['holder'], b, 'stolen by token')
    eq(fresh()['hello']()['lock'], b, 'a new holder is written to flash')
    eq(B['handle'](rq(id=52, op='lock', set=None, **{'if': 'bb'}), None)['holder'], None, 'released')
    eq((B['hello']()['lock'], fresh()['hello']()['lock']), (None, None), 'free in RAM and on flash')
    bad(rq(id=53, op='lock', set='x'), 53, 'wrong type: set')
    bad(rq(id=54, op='lock', **{'if': 1}), 54, 'wrong type: if')


CASES = {'compile': t_compile, 'parse': t_parse, 'exc': t_exc, 'put': t_put,
         'clock': t_clock, 'hello': t_hello, 'ops_unsupported': t_ops_unsupported,
         'serve': t_serve, 'never_dies': t_never_dies, 'bad_tls': t_bad_tls,
         'deadline': t_deadline, 'heap': t_heap, 'session': t_session,
         'lock': t_lock}
CASES[TM_CASE]()
print('case', TM_CASE, 'ok')
