# tlsmatrix-agent proto=1
# DM: docs/device-model.md; docs/contracts.md §3. Size is upload time
import sys, gc, time, json, binascii
gc.collect()
F0 = gc.mem_free()

def _try(f, d=None):
	try:
		return f()
	except Exception:
		return d

def _imp(n):
	return _try(lambda: __import__(n))

os, socket, tls, select, hashlib, machine, network = [_imp(n) for n in (
	'os', 'socket', 'tls', 'select', 'hashlib', 'machine', 'network')]
ssl = _imp('ssl') or _imp('ussl')
_tk = getattr(time, 'ticks_ms', None)
MAXLINE = 65536
CH = 512  # readline(n) takes n at once
OVER = 'line over %d bytes (discarded)' % MAXLINE

def now():
	return _tk() if _tk else int(time.time() * 1000)

def diff(a, b):
	return time.ticks_diff(a, b) if _tk else a - b

def heap():
	gc.collect()
	return gc.mem_free()

def exc_info(e):
	a = [x if x is None or type(x) in (int, str, bool, float) else repr(x) for x in e.args]
	return {'type': type(e).__name__, 'args': a, 'text': str(e)}

def b64d(s):
	# a2b_base64 skips bad characters
	b = s.encode()
	d = binascii.a2b_base64(b)
	if len(b) % 4 or len(d) != len(b) // 4 * 3 - b[-2:].count(b'='):
		raise ValueError('invalid base64')
	return d

# proto 2 (contracts §3.1): short keys (both ways, all levels), a template
# under TLS requests, lean replies
# a literal: its strings are the code's (split() would put 140 on the heap)
LS = {'id': 'i', 'op': 'o', 'outcome': 'r', 'stage': 's', 'exc': 'x', 'first_exc': 'fx',
	'type': 't', 'args': 'a', 'text': 'tx', 'attempts': 'na', 'verify_mode': 'vm',
	'cipher': 'ci', 'ms': 'm', 'heap_before': 'hb', 'heap_after': 'ha', 'heap_reached': 'hr',
	'heap_free': 'hf', 'bytes_sent': 'bs', 'bytes_received': 'br', 'received_b64': 'rb',
	'open': 'on', 'conn': 'cn', 'error': 'e', 'layer': 'ly', 'host': 'h', 'port': 'p',
	'bind': 'bi', 'server_hostname': 'sn', 'chain': 'ch', 'cert': 'ce', 'key': 'k',
	'file': 'f', 'b64': 'b', 'ciphers': 'cs', 'client_id': 'cid', 'hello_verify_retry': 'hv',
	'send_b64': 'sb', 'recv_bytes': 'rn', 'recv_mode': 'rm', 'timeout_ms': 'to',
	'deadline_ms': 'dl', 'nodelay': 'nd', 'do_handshake': 'dh', 'nonblocking': 'nb',
	'heap_retry': 'hy', 'keep': 'kp', 'asyncio': 'ai', 'close': 'cl', 'path': 'pa',
	'sha256': 'sh', 'size': 'sz', 'event': 'ev', 'addr': 'ad', 'load': 'L', 'socket': 'S',
	'handshake': 'H', 'write': 'W', 'read': 'R', 'total': 'T', 'context': 'C', 'load_ca': 'LC',
	'load_cert': 'LK', 'wrap': 'WR', 'want_data': 'wd', 'verbose': 'vb', 'tls_client': 'tc',
	'tls_server': 'ts', 'dtls_client': 'dc', 'dtls_server': 'ds'}
SL = {v: k for k, v in LS.items()}
P, TPL = [1], {}
# lean: dropped at these values (the harness fills them back)
D = {'stage': None, 'exc': None, 'first_exc': None, 'heap_reached': None, 'attempts': 1,
	 'bytes_sent': 0, 'bytes_received': 0, 'open': 0}

def keys(v, t):
	if type(v) is dict:
		return {t.get(k, k): keys(x, t) for k, x in v.items()}
	return [keys(x, t) for x in v] if type(v) is list else v

def lean(r, q):
	# success: no cipher, verify_mode, data unless asked (verbose: all)
	ok = r.get('outcome') == 'ok' and not (q or {}).get('verbose')
	for k in list(r):
		v = r[k]
		if k in D and v == D[k] or k == 'received_b64' and (not v or ok and not q.get('want_data')) \
				or k == 'cipher' and (ok or v is None) or ok and k == 'verify_mode':
			del r[k]
	for x in (r.get('exc'), r.get('first_exc')):
		if x and x.get('text') == _txt(x['args']):
			del x['text']
	m = r.get('ms')
	if m:  # a stage's 0 ms: it ran (stage says how far)
		r['ms'] = {k: v for k, v in m.items() if v or k == 'total'}
	if 'heap_before' in r and r.get('heap_after') == r['heap_before']:
		del r['heap_after']
	return r

def _txt(a):
	# str() of the exception, as the harness rebuilds it
	if len(a) == 1 and type(a[0]) is str:
		return a[0]
	if len(a) == 2 and type(a[0]) is int and type(a[1]) is str:
		return "(%d, '%s')" % tuple(a)

def short(o):
	o = keys(o, LS)
	if 'o' in o:
		o['o'] = LS.get(o['o'], o['o'])
	return o

def reply(rid, op, outcome, **kw):
	kw.update(id=rid, op=op, outcome=outcome)
	return kw

def bad(rid, op, msg):
	return reply(rid, op, 'bad-request', error=msg)

# typed fields (server_hostname, ciphers: the device's TypeError)
I, S, B, L = int, str, bool, list
_T = {'layer': S, 'host': S, 'port': I, 'bind': S, 'verify_mode': I, 'ca': L,
	  'chain': L, 'hello_verify_retry': B, 'send_b64': S, 'recv_bytes': I,
	  'recv_mode': S, 'timeout_ms': I, 'deadline_ms': I, 'nodelay': B, 'do_handshake': B,
	  'nonblocking': B, 'heap_free': I, 'heap_retry': B, 'keep': B, 'asyncio': B}
# session ops (contracts §3): a kept connection, the heap, a pause
_C = {'conn': I, 'send_b64': S, 'recv_bytes': I, 'recv_mode': S, 'close': S,
	  'timeout_ms': I, 'deadline_ms': I}
C, V = (_T, ('host', 'port')), (_T, ())
SPEC = {'conn': (_C, ('conn',)), 'gc': ({'release': B}, ()), 'sleep': ({'ms': I}, ('ms',)),
		'put': ({'path': S, 'b64': S, 'sha256': S}, ('path', 'b64', 'sha256')),
		'clock': ({'set': I}, ()), 'fault': ({'kind': S}, ()), 'tpl': ({'v': I}, ()),
		'lock': ({'if': S, 'set': dict}, ()),
		'tls_client': C, 'dtls_client': C, 'tls_server': V, 'dtls_server': V}

def _b64(v, name):
	try:
		b64d(v)
	except Exception:
		return name + ': not valid base64'

def _item(v, name):
	if v is None:
		return
	if type(v) is not dict:
		return 'wrong type: %s items must be objects' % name
	for k in ('file', 'b64', 'str'):
		if k in v:
			if type(v[k]) is not str:
				return 'wrong type: %s.%s must be a string' % (name, k)
			return _b64(v[k], name + '.b64') if k == 'b64' else None
	return name + ' item needs one of file, b64, str'

def check(q):
	op = q['op']
	types, need = SPEC.get(op, ({}, ()))
	for k in need:
		if q.get(k) is None:
			return 'missing field: ' + k
	for k in types:
		v = q.get(k)
		if v is not None and type(v) is not types[k]:
			return 'wrong type: %s must be %s' % (k, types[k].__name__)
	if op == 'put':
		return _b64(q['b64'], 'b64')
	if types is _C:
		if (q.get('close') or 'tls') not in ('tls', 'raw', 'leave', 'abort'):
			return 'close must be "tls", "raw", "leave" or "abort"'
		if q.get('send_b64') is not None:
			return _b64(q['send_b64'], 'send_b64')
	if op == 'sleep' and q['ms'] < 0:
		return 'out of range: ms'
	if types is not _T:
		return None
	for k in ('port', 'recv_bytes', 'timeout_ms', 'deadline_ms', 'heap_free'):
		v = q.get(k) or 0
		if v < 0 or k == 'port' and v > 65535:
			return 'out of range: ' + k
	for k, d, a in (('layer', 'tls', 'ssl'), ('recv_mode', 'read', 'recv')):
		if (q.get(k) or d) not in (d, a):
			return '%s must be "%s" or "%s"' % (k, d, a)
	a = q.get('asyncio')
	if (q.get('nonblocking') or a) and q.get('do_handshake', True) and not (q.get('send_b64') or q.get('recv_bytes')):
		return '%s needs send_b64 or recv_bytes' % ('asyncio' if a else 'nonblocking')
	if a and (q['op'] != 'tls_client' or q.get('keep')):
		return 'asyncio is for tls_client without keep'
	for v in q.get('ca') or ():
		e = _item(v, 'ca')
		if e:
			return e
	for v in q.get('chain') or ():
		e = 'wrong type: chain items must be objects' if type(v) is not dict else \
			_item(v.get('cert'), 'chain.cert') or _item(v.get('key'), 'chain.key')
		if e:
			return e
	c = q.get('client_id')
	if c is not None and c != 'auto':
		if type(c) is not dict or type(c.get('b64')) is not str:
			return 'client_id must be "auto" or {"b64":...}'
		return _b64(c['b64'], 'client_id.b64')
	if q.get('send_b64') is not None:
		return _b64(q['send_b64'], 'send_b64')

def parse(line):
	e = OVER if len(line) > MAXLINE else None
	try:
		q = e or json.loads(line)
	except Exception as x:
		e = 'bad JSON: %s' % x
	if not e and type(q) is not dict:
		e = 'request is not a JSON object'
	if e:
		return None, bad(None, None, e)
	if P[0] > 1:
		q = keys(q, SL)
		o = q.get('op')
		if type(o) is str:
			q['op'] = SL.get(o, o)
	rid, op = q.get('id'), q.get('op')
	if type(rid) is not int:
		return None, bad(None, None, 'missing field: id' if rid is None else 'wrong type: id must be an integer')
	if type(op) is not str:
		return None, bad(rid, None, 'missing field: op' if op is None else 'wrong type: op must be a string')
	if op not in SPEC and op not in ('info', 'reset'):
		return None, bad(rid, op, 'unknown op: ' + op[:100])
	if P[0] > 1 and SPEC.get(op, V[1:])[0] is _T:
		t = dict(TPL)
		t.update(q)
		q = {k: v for k, v in t.items() if v is not None}
	e = check(q)
	return (None, bad(rid, op, e)) if e else (q, None)

def epoch_offset():
	return _try(lambda: 946684800 if time.gmtime(0)[0] == 2000 else 0, 0)

def rtc():
	return _try(lambda: machine.RTC())

def clock_info():
	return {'epoch': int(time.time()) + epoch_offset(), 'settable': rtc() is not None}

def addrs():
	a = [_try(lambda: (network.WLAN(0) if n else network.LAN()).ifconfig()[0]) for n in (1, 0)]
	return [x for x in a if x and x != '0.0.0.0']

def _client_id(m):
	try:
		m.SSLContext(m.PROTOCOL_DTLS_SERVER).wrap_socket(0, server_side=True, client_id=b'x')
	except Exception as e:
		return type(e) is not TypeError
	return True

def _pem(m):
	# DER: the empty cert fails
	k = b' EC PRIVATE KEY-----\n'
	try:
		m.SSLContext(0).load_cert_chain(b'', b'-----BEGIN' + k + b'MBICAQEEAQGgCgYIKoZIzj0DAQc=\n-----END' + k)
	except Exception as e:
		return str(e) == 'invalid cert'

def _gch(m):
	# record buffers on the GC heap? (DM §9)
	a = heap()
	t = m.SSLContext(1).wrap_socket(socket.socket(), server_side=True, do_handshake_on_connect=False)
	a -= heap()
	t.close()
	return a > 16384

def fs_writable():
	open('.tm_w', 'wb').close()
	os.remove('.tm_w')
	return True

def hello():
	im = sys.implementation
	x = _try(lambda: os.uname())
	u = dict(zip(('sysname', 'nodename', 'release', 'version', 'machine'), x or ()))
	m = tls or ssl
	p = sorted(k for k in dir(m) if k[:9] == 'PROTOCOL_') if m else []
	dt = 'PROTOCOL_DTLS_CLIENT' in p
	caps = {'dtls': dt, 'set_ciphers': hasattr(tls and tls.SSLContext, 'set_ciphers'),
			'client_id': dt and tls is not None and _client_id(tls),
			'pem': tls and _pem(tls), 'tls_gc_heap': _try(lambda: _gch(m)),
			'fs_writable': _try(fs_writable, False), 'protocols': p, 'sessions': True,
			'soft_reset': hasattr(machine, 'soft_reset'), 'asyncio': _imp('asyncio') is not None}
	mods = {k: globals()[k] is not None for k in ('ssl', 'tls', 'socket', 'hashlib', 'machine', 'network')}
	return {'event': 'hello', 'agent': 'tlsmatrix-agent', 'proto': 1, 'protos': [1, 2],
			'impl': {'name': im.name, 'version': '.'.join(str(i) for i in im.version[:3]),
					 'machine': getattr(im, '_machine', u.get('machine'))},
			'uname': u, 'modules': mods, 'mbedtls': getattr(m, 'MBEDTLS_VERSION', None),
			'heap_free': heap(), 'heap_start': F0, 'addrs': addrs(), 'clock': clock_info(), 'caps': caps,
			'virtual': False, 'lock': held(), 'unique_id': _try(lambda: binascii.hexlify(machine.unique_id()).decode())}

# session holder (contracts §3): RAM (__main__ outlives a re-upload), renewed there;
# flash (outlives resets) written only when the holder changes: no wear per renewal
LK = '.tm_lock'
# __main__'s also when the loader imports the stored agent (a module of its own)
G = _try(lambda: __import__('__main__').__dict__) or globals()

def held():
	return G.get('TMLK') or _try(lambda: json.loads(open(LK).read()))

def _hold(h):
	with open(LK, 'w') as f:
		f.write(json.dumps(h))

def op_lock(q):
	# compare-and-set by the holder's token
	h = held()
	t = (h or {}).get('token')
	if 'set' in q and t == q.get('if'):
		s = q['set']
		if t != (s or {}).get('token'):
			_try(lambda: _hold(s))
		h = G['TMLK'] = s
	return reply(q['id'], 'lock', 'ok', holder=h)

def op_put(q):
	if hashlib is None:
		return reply(q['id'], 'put', 'unsupported', error='no hashlib')
	d = b64d(q['b64'])
	h = binascii.hexlify(hashlib.sha256(d).digest()).decode()
	r = reply(q['id'], 'put', 'ok', size=len(d), sha256=h)
	if h != q['sha256'].lower():
		r.update(outcome='error', error='sha256 mismatch: file not written')
		return r
	try:
		with open(q['path'], 'wb') as f:
			f.write(d)
	except Exception as e:
		r.update(outcome='error', exc=exc_info(e), error='write failed')
	return r

def op_clock(q):
	r = reply(q['id'], 'clock', 'ok')
	e = q.get('set')
	if e is not None:
		c = rtc()
		if c is None:
			r.update(outcome='unsupported', error='no machine.RTC')
		else:
			t = time.gmtime(e - epoch_offset())
			c.datetime((t[0], t[1], t[2], t[6] + 1, t[3], t[4], t[5], 0))
	r.update(clock_info())
	return r

def item_arg(lay, it):
	# ssl reads a str as a path (DM §1.1)
	if it is None:
		return
	if 'b64' in it:
		return b64d(it['b64'])
	if 'file' in it:
		if lay == 'ssl':
			return it['file']
		with open(it['file'], 'rb') as f:
			return f.read()
	return it['str']

class Op:
	def __init__(self, q):
		self.q = q
		self.r = reply(q['id'], q['op'], 'ok', stage=None, exc=None, first_exc=None,
					   attempts=1, verify_mode=None, cipher=None, ms={}, heap_before=None,
					   heap_after=None, bytes_sent=0, bytes_received=0, received_b64='')
		self.sv = q['op'][-6:] == 'server'
		self.dg = q['op'][0] == 'd'
		self.t0 = self.t = now()
		self.end = self.t0 + (q.get('deadline_ms') or 60000)
		self.s = None

	def stage(self, s):
		self.r['stage'] = s

	def mark(self, k):
		ms = self.r['ms']
		ms[k] = ms.get(k, 0) + diff(now(), self.t)
		self.t = now()

	def timeout(self):
		left = diff(self.end, now())
		if left <= 0:
			raise OSError(110)  # ETIMEDOUT
		t = self.q.get('timeout_ms')
		t = (min(t, left) if t else left) / 1000
		self.s and self.s.settimeout(t)
		return t

def _sock(o, socks, host, port, dg):
	t = socket.SOCK_DGRAM if dg else socket.SOCK_STREAM
	ai = socket.getaddrinfo(host, port, 0, t)[0]  # DM §7: no (host, port) tuples
	s = socket.socket(ai[0], t)
	socks.append(s)
	s.settimeout(o.timeout())
	return s, ai[-1]

def _nodelay(o, s):
	if o.q.get('nodelay'):
		_try(lambda: s.setsockopt(6, 1, 1))  # TCP_NODELAY (DM §7)

def _connect(o, socks, emit):
	q, dg = o.q, o.dg
	o.stage('socket')
	if not o.sv:
		s, a = _sock(o, socks, q['host'], q['port'], dg)
		if not dg:
			_nodelay(o, s)
		s.connect(a)
		return s, a
	bind = q.get('bind') or '0.0.0.0'
	for n in range(20):
		# no getsockname: pick one
		port = q.get('port') or 40000 + (now() + n * 7919) % 20000
		ls, a = _sock(o, socks, bind, port, dg)
		_try(lambda: ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1))
		try:
			ls.bind(a)
			break
		except OSError:
			socks.pop().close()
			if q.get('port') or n == 19:
				raise
	if not dg:
		ls.listen(1)
	emit({'id': q['id'], 'event': 'listening', 'addr': bind, 'port': port})
	ls.settimeout(o.timeout())
	if dg:
		# connect to the client (DM §1.8); no MSG_PEEK: it retransmits
		try:
			a = ls.recvfrom(1, socket.MSG_PEEK)[1]
		except (AttributeError, TypeError, ValueError):
			a = ls.recvfrom(1)[1]
		ls.connect(a)
		return ls, a
	s, a = ls.accept()
	socks.append(s)
	ls.close()
	s.settimeout(o.timeout())
	_nodelay(o, s)
	return s, a

def _hvr(o, e):
	# DM §1.8: HelloVerifyRequest, else re-raise
	if not (o.sv and o.dg and e.args[:1] == (-27264,) and o.q.get('hello_verify_retry', True)):
		raise e
	o.r.update(first_exc=exc_info(e), attempts=2)

def _wrap(o, ctx, s, addr):
	q = o.q
	kw = {'server_side': True} if o.sv else {}
	dh = q.get('do_handshake', True) and not q.get('nonblocking')
	if not dh:
		kw['do_handshake_on_connect'] = False
	if q.get('server_hostname') is not None:
		kw['server_hostname'] = q['server_hostname']
	c = q.get('client_id')
	if c is not None:  # ssl: TypeError (DM §1.1)
		kw['client_id'] = repr(addr).encode() if c == 'auto' else b64d(c['b64'])
	o.stage('handshake' if dh else 'wrap')
	o.kw = kw
	try:
		return ctx.wrap_socket(s, **kw)
	except OSError as e:
		_hvr(o, e)
		o.timeout()
		return ctx.wrap_socket(s, **kw)

def _cipher(o, ss):
	o.r['cipher'] = _try(lambda: list(ss.cipher()))

def _io(o, ss):
	# nonblocking: I/O drives the handshake (DM §1.7)
	q, r = o.q, o.r
	p = None
	if q.get('nonblocking'):
		p = select.poll()
		p.register(ss, select.POLLIN)
	if q.get('send_b64'):
		o.stage('write')
		mv = memoryview(b64d(q['send_b64']))
		while r['bytes_sent'] < len(mv):
			o.timeout()
			x = ss.write(mv[r['bytes_sent']:])
			if x is None and p:
				p.poll(50)
			r['bytes_sent'] += x or 0
		o.mark('write')
	n = q.get('recv_bytes') or 0
	if n:
		o.stage('read')
		rv = q.get('recv_mode') == 'recv'
		buf = b''
		while len(buf) < n:
			o.timeout()
			x = ss.recv(n) if rv else ss.read(n - len(buf))
			if x is None and p:
				p.poll(50)
				continue
			if not x:
				break  # close_notify, FIN (DM §1.7)
			buf += x
			r.update(bytes_received=len(buf), received_b64=binascii.b2a_base64(buf).decode().strip())
			if rv:
				break  # one record
		o.mark('read')

def _ctx(o, mod):
	q = o.q
	lay = q.get('layer') or 'tls'
	o.stage('context')
	# bit 0 server, bit 1 datagram (DM §1.1)
	ctx = mod.SSLContext(o.sv | o.dg << 1)
	o.r['verify_mode'] = ctx.verify_mode
	if q.get('ciphers') is not None:
		ctx.set_ciphers(q['ciphers'])  # ssl wrapper: AttributeError (DM §1.1)
	o.stage('load_ca')
	for it in q.get('ca') or ():
		v = item_arg(lay, it)  # one DER each (DM §1.2)
		if lay == 'ssl' and v is not None and type(v) is not str:
			ctx.load_verify_locations(cadata=v)
		else:
			ctx.load_verify_locations(v)
	o.stage('load_cert')
	for it in q.get('chain') or ():
		ctx.load_cert_chain(item_arg(lay, it.get('cert')), item_arg(lay, it.get('key')))
	if q.get('verify_mode') is not None:
		ctx.verify_mode = q['verify_mode']
	o.r['verify_mode'] = ctx.verify_mode
	o.mark('load')
	return ctx

def _run(o, mod, socks, emit):
	q = o.q
	ctx = _ctx(o, mod)
	s, addr = _connect(o, socks, emit)
	nb = q.get('nonblocking')
	if nb:
		s.setblocking(False)  # DTLS retransmits (DM §1.8)
	else:
		o.s = s
	o.mark('socket')
	ss = _wrap(o, ctx, s, addr)
	socks.append(ss)
	o.raw, o.ss = s, ss
	if q.get('do_handshake', True) and not nb:
		_cipher(o, ss)  # DM §1.7
	o.mark('handshake')
	try:
		_io(o, ss)
	except OSError as e:
		if not nb:
			raise
		_hvr(o, e)
		ss = ctx.wrap_socket(s, **o.kw)
		socks.append(ss)
		o.ss = ss
		_io(o, ss)
	if o.r['cipher'] is None and (q.get('send_b64') or q.get('recv_bytes')):
		_cipher(o, ss)

def _fill(n):
	# all but n bytes held, n in one piece (DM §9); no collect: nothing is garbage
	gc.collect()
	k = _try(lambda: bytearray(n))
	m = 0 if k else n
	h, c = [], 1 << 30
	for i in range(3000):
		f = gc.mem_free() - m - 32
		if f < 16 or c < 16:
			break
		try:
			h.append(bytearray(min(f, c)))
		except MemoryError:
			c = min(f, c) // 2
	return h

def outcome_of(e):
	return 'ok' if e is None else 'timeout' if e['type'] == 'OSError' and e['args'] == [110] else 'error'

def op_tls(q, emit):
	lay = q.get('layer') or 'tls'
	mod = tls if lay == 'tls' else ssl
	miss = lay if mod is None else 'socket' if socket is None else \
		lay + ' DTLS' if q['op'][0] == 'd' and not hasattr(mod, 'PROTOCOL_DTLS_CLIENT') else None
	if miss:
		return reply(q['id'], q['op'], 'unsupported', error='no %s on this device' % miss)
	o = Op(q)
	r = o.r
	n = q.get('heap_free')
	r['heap_before'] = b = heap()
	if n and b < n:
		r.update(outcome='unsupported', stage='heap', error='heap_free %d: only %d bytes free' % (n, b))
		return r
	h = n and _fill(n)
	r['heap_reached'] = n and heap() or None
	_op(o, mod, emit)
	h and h.clear()  # a stale reference must not hold them
	if h is not None and r['exc'] and q.get('heap_retry'):
		r.update(first_exc=r['exc'], exc=None, attempts=2)  # heap back (DM §9)
		_op(o, mod, emit)
	r.update(heap_after=heap(), open=len(CONNS), outcome=outcome_of(r['exc']))
	return r

def _op(o, mod, emit):
	q, r = o.q, o.r
	socks = []
	o.t = now()
	try:
		(_arun if q.get('asyncio') else _run)(o, mod, socks, emit)
		o.stage(None)
		if q.get('keep'):  # outlives the request
			socks.remove(o.ss)
			o.raw in socks and socks.remove(o.raw)
			r['conn'] = _keep(o.ss, o.raw)
	except Exception as e:
		r['exc'] = exc_info(e)
	finally:
		# close all, Ctrl-C too
		o.mark(r['stage'] or 'close')
		while socks:
			try:
				socks.pop().close()
			except Exception as e:
				if r['exc'] is None:
					r.update(exc=exc_info(e), stage='close')
	o.mark('close')
	r['ms']['total'] = diff(now(), o.t0)

# kept connections: id -> [tls, raw]; raw-closed or left ones stay referenced
CONNS = {}
_n = [0]

def _keep(ss, raw):
	_n[0] += 1
	CONNS[_n[0]] = [ss, raw]
	return _n[0]

def _close(c, how):
	if how == 'abort':  # RST: linger 0
		_try(lambda: c[1].setsockopt(socket.SOL_SOCKET, getattr(socket, 'SO_LINGER', 13 if sys.platform == 'linux' else 128), b'\1\0\0\0\0\0\0\0'))
	if how == 'raw':
		c[1].close()
	elif how != 'leave':
		c[0].close()

def op_conn(q):
	c = CONNS.get(q['conn'])
	if not c:
		return bad(q['id'], 'conn', 'unknown conn: %d' % q['conn'])
	o = Op(q)
	r = o.r
	o.s = c[1]
	r['heap_before'] = heap()
	o.t = now()
	h = q.get('close')
	try:
		_io(o, c[0])
		if h:
			o.stage('close')
			h in ('tls', 'abort') and CONNS.pop(q['conn'])
			_close(c, h)
			o.mark('close')
		o.stage(None)
	except Exception as e:
		r['exc'] = exc_info(e)
		o.mark(r['stage'])
	r['ms']['total'] = diff(now(), o.t0)
	r.update(heap_after=heap(), open=len(CONNS), outcome=outcome_of(r['exc']))
	return r

def _arun(o, mod, socks, emit):
	# asyncio.open_connection(ssl=ctx) (DM §6.41): the first I/O handshakes
	import asyncio
	q, r = o.q, o.r
	ctx = _ctx(o, mod)

	async def go():
		o.stage('socket')
		rd, wr = await asyncio.open_connection(q['host'], q['port'], ssl=ctx, server_hostname=q.get('server_hostname'))
		socks.append(wr)
		o.mark('socket')
		d = b64d(q.get('send_b64') or '')
		o.stage('write')
		wr.write(d)
		await wr.drain()
		r['bytes_sent'] = len(d)
		o.stage('read')
		b = await rd.read(q.get('recv_bytes') or 0) if q.get('recv_bytes') else b''
		r.update(bytes_received=len(b), received_b64=binascii.b2a_base64(b).decode().strip())
		o.mark('read')
	asyncio.run(asyncio.wait_for(go(), diff(o.end, now()) / 1000))

def handle(line, emit):
	q, r = parse(line)
	r = r or _handle(q, emit)
	return lean(r, q or {}) if P[0] > 1 else r

def _handle(q, emit):
	op, i = q['op'], q['id']
	try:
		if op == 'tpl':
			v = q.get('v') or P[0]
			if v not in (1, 2):
				return bad(i, op, 'v must be 1 or 2')
			TPL.clear()
			TPL.update((k, q[k]) for k in q if k not in ('id', 'op', 'v'))
			P[0] = v
			return reply(i, op, 'ok', v=v)
		if op == 'info':
			h = hello()
			del h['event']
			return reply(i, op, 'ok', **h)
		if op in ('put', 'clock', 'lock'):
			return (op_put if op == 'put' else op_clock if op == 'clock' else op_lock)(q)
		if op == 'reset':
			return reply(i, op, 'ok')
		if op == 'fault':
			return reply(i, op, 'unsupported', error='virtual camera only')
		if op == 'conn':
			return op_conn(q)
		if op == 'sleep':
			time.sleep(q['ms'] / 1000)
		while op == 'gc' and q.get('release') and CONNS:  # the end of a session
			_try(lambda: _close(CONNS.popitem()[1], 'tls'))
		if op in ('gc', 'sleep'):
			return reply(i, op, 'ok', heap_free=heap(), open=len(CONNS))
		return op_tls(q, emit)
	except Exception as e:
		return reply(i, op, 'error', exc=exc_info(e), error='agent: %s' % e)

def out(obj):
	print(json.dumps(obj))

def read_line(rd):
	# None at EOF, 0 over MAXLINE
	p, n = [], 0
	while 1:
		x = rd.readline(CH)
		if not x:
			break
		n += len(x)
		if n <= MAXLINE + 1:
			p.append(x)
		if x[-1:] in (b'\n', '\n'):
			break
	return None if not n else 0 if n > MAXLINE + 1 else p[0][:0].join(p)

def serve(rd, out):
	P[0] = 1  # a new session speaks proto 1 until `tpl`
	TPL.clear()
	emit = lambda o: out(short(o) if P[0] > 1 else o)
	emit(hello())
	while True:
		line = read_line(rd)
		if line is None:
			return 'eof'
		line = line and line.strip()
		if line or line == 0:
			r = handle(line, emit) if line else bad(None, None, OVER)
			emit(r)
			if r['op'] == 'reset' and r['outcome'] == 'ok':
				return 'reset'
			r = None
			gc.collect()

def main():
	if serve(getattr(sys.stdin, 'buffer', sys.stdin), out) == 'reset':
		_try(lambda: machine.soft_reset())
		sys.exit(0)  # no soft reset (unix port)

if not globals().get('TM_NO_MAIN'):
	main()
