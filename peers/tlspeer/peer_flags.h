/* tlspeer's flags, one row each: the one table from which its option parsing,
 * its --help text and the keys a scenario's peer block may set (harness/case)
 * all come (docs/contracts.md §2). A new knob is a row here plus its use in each
 * backend.
 *
 * X(ID, NAME, ARG, KIND, FIELD, MIN, MAX, KEY, HELP)
 *   ID     enum constant (O_…);  NAME  the long option without "--"
 *   ARG    the value's name in --help, "" for a switch
 *   KIND   how the value is stored: F_STR (const char *FIELD), F_ON (int FIELD = 1),
 *          F_INT / F_LONG (FIELD in MIN..MAX), F_FILE (FIELD[], nFIELD, repeatable),
 *          F_OWN (parsed by its own code in peer_opts.c)
 *   KEY    1 when a scenario's peer block may set it by name (`max_version: tls1.2`
 *          → --max-version tls1.2); 0: set by the harness, or only through `args`
 *   HELP   the --help lines, '\n' between them; a line starting with '#' opens a
 *          section of the help before this flag
 */
#ifndef TM_PEER_FLAGS_H
#define TM_PEER_FLAGS_H

#define PEER_FLAGS(X)                                                                         \
    X(O_BACKEND, "backend", "B", F_OWN, backend, 0, 0, 0,                                      \
      "#Connection:\nopenssl or gnutls (required)")                                            \
    X(O_ROLE, "role", "R", F_OWN, role, 0, 0, 0, "server or client (required)")               \
    X(O_PROTO, "proto", "P", F_OWN, proto, 0, 0, 0, "tls (TCP) or dtls (DTLS 1.2 over UDP) (required)") \
    X(O_ACCEPT, "accept", "PORT", F_INT, accept_port, 0, 65535, 0,                             \
      "server: port to bind, 0 = a free port (default 0)")                                     \
    X(O_BIND, "bind", "ADDR", F_STR, bind_addr, 0, 0, 0,                                       \
      "address to bind (default 127.0.0.1; 0.0.0.0 or :: for a\ndevice on the network)")      \
    X(O_CONNECT, "connect", "HOST:PORT", F_OWN, connect_host, 0, 0, 0,                         \
      "client: where to connect ([v6addr]:PORT for IPv6)")                                     \
    X(O_NODELAY, "nodelay", "", F_ON, nodelay, 0, 0, 0, "TCP_NODELAY on the connection")      \
    X(O_TIMEOUT, "timeout", "MS", F_INT, timeout_ms, 1, 86400000, 0,                           \
      "deadline for the whole run (default 10000)")                                            \
    X(O_CERT, "cert", "FILE", F_FILE, cert, 0, 0, 0,                                           \
      "#Certificates (PEM or DER; a PEM file may hold several certificates):\n"                \
      "certificate(s) to present, in send order; repeat the flag\n"                            \
      "for more files (leaf first for a valid chain, or any order)")                           \
    X(O_KEY, "key", "FILE", F_STR, key, 0, 0, 0, "private key (PEM or DER, PKCS#8 or traditional)") \
    X(O_CAFILE, "CAfile", "FILE", F_FILE, cafile, 0, 0, 0, "trust anchors; repeatable")       \
    X(O_VERIFY, "verify", "MODE", F_OWN, verify, 0, 0, 1,                                      \
      "server: client certificate policy: none (no request,\n"                                 \
      "default), optional (request, accept any, report the\n"                                  \
      "verification), require (must be sent and verify)\n"                                     \
      "client: require (default with --CAfile) or none (the\n"                                 \
      "chain is still verified and reported, never enforced)")                                 \
    X(O_SERVERNAME, "servername", "NAME", F_STR, servername, 0, 0, 1,                          \
      "client: SNI and the name verified (default: the\n--connect host unless it is an IP address)") \
    X(O_NOSERVERNAME, "noservername", "", F_ON, noservername, 0, 0, 1,                         \
      "client: send no SNI and verify no name")                                                \
    X(O_EXPECT_SN, "expect-servername", "N", F_STR, expect_servername, 0, 0, 1,                \
      "server: the SNI the client must send")                                                  \
    X(O_SNI_MISMATCH, "sni-mismatch", "M", F_OWN, sni_reject, 0, 0, 1,                         \
      "reject (default; fatal unrecognized_name) or log")                                      \
    X(O_ON_SNI_MISSING, "on-sni-missing", "A", F_OWN, on_sni_missing, 0, 0, 1,                 \
      "server, TLS: when the ClientHello has no SNI, do A:\n"                                  \
      "close (read the hello, FIN), alert (fatal\n"                                            \
      "unrecognized_name) or alert:NAME, from the raw stream\n"                                \
      "(same bytes on both backends); or serve=CHAINFILE[,KEY]:\n"                             \
      "present the certificates of CHAINFILE (PEM or DER, send\n"                              \
      "order) with KEY (default --key) instead of --cert, chosen\n"                            \
      "in the backend's SNI callback (OpenSSL servername,\n"                                   \
      "GnuTLS post-client-hello)")                                                             \
    X(O_ON_SNI, "on-sni", "NAME:A", F_OWN, on_sni_act, 0, 0, 1,                                \
      "server, TLS: the same when the SNI is NAME")                                            \
    X(O_MINV, "min-version", "V", F_OWN, min_version, 0, 0, 1,                                 \
      "#Protocol:\ntls1.2, tls1.3 or dtls1.2")                                                 \
    X(O_MAXV, "max-version", "V", F_OWN, max_version, 0, 0, 1, "tls1.2, tls1.3 or dtls1.2")   \
    X(O_TLS12, "tls1_2", "", F_OWN, max_version, 0, 0, 0, "only TLS 1.2")                      \
    X(O_TLS13, "tls1_3", "", F_OWN, max_version, 0, 0, 0, "only TLS 1.3")                      \
    X(O_CIPHERS, "ciphers", "LIST", F_STR, ciphers, 0, 0, 1,                                   \
      "TLS 1.2 suites, colon-separated IANA names\n"                                           \
      "(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:...). GnuTLS\n"                                \
      "enables the key exchanges x ciphers x MACs of the list.")                               \
    X(O_SUITES, "ciphersuites", "LIST", F_STR, ciphersuites, 0, 0, 1,                          \
      "TLS 1.3 suites, IANA names (TLS_AES_128_GCM_SHA256:...)")                               \
    X(O_GROUPS, "groups", "LIST", F_STR, groups, 0, 0, 1, "P-256:P-384:P-521:X25519:X448:ffdhe2048:...") \
    X(O_SIGALGS, "sigalgs", "LIST", F_STR, sigalgs, 0, 0, 1,                                   \
      "ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256:\nrsa_pkcs1_sha256:ed25519:... (IANA names)") \
    X(O_ALPN, "alpn", "LIST", F_STR, alpn, 0, 0, 1, "comma-separated protocols to offer/accept") \
    X(O_NOTICKETS, "no-tickets", "", F_ON, no_tickets, 0, 0, 1, "no session tickets")         \
    X(O_NORENEG, "no-renegotiation", "", F_ON, no_renegotiation, 0, 0, 1,                      \
      "OpenSSL: refuse renegotiation (no_renegotiation warning);\n"                            \
      "OpenSSL 3.0 servers refuse client-initiated ones anyway,\n"                             \
      "GnuTLS always refuses (warning no_renegotiation)")                                      \
    X(O_RENEGOTIATE, "renegotiate", "", F_ON, renegotiate, 0, 0, 1,                           \
      "TLS 1.2, right after the handshake: ask for a new one\n"                                \
      "(server: HelloRequest; client: a new ClientHello) and\n"                                \
      "wait for it before the data (renegotiated in the result).\n"                            \
      "A refusal (warning no_renegotiation) ends the connection\n"                             \
      "with a fatal handshake_failure: OpenSSL 3.0 always does,\n"                             \
      "GnuTLS does the same here. Application data that arrives\n"                             \
      "meanwhile is counted and dropped")                                                      \
    X(O_MAXFRAG, "max-fragment", "N", F_OWN, max_fragment, 512, 4096, 1,                       \
      "client: RFC 6066 max_fragment_length 512|1024|2048|4096\n"                              \
      "(servers of both backends honour it when offered; a\n"                                  \
      "GnuTLS client offers record_size_limit as well)")                                       \
    X(O_RSL, "record-size-limit", "N", F_INT, record_size_limit, 64, 16385, 1,                 \
      "RFC 8449 record_size_limit (gnutls only; OpenSSL 3.0\n"                                 \
      "does not implement it and exits 2)")                                                    \
    X(O_SECLEVEL, "seclevel", "N", F_INT, seclevel, 0, 5, 1,                                   \
      "OpenSSL security level 0..5 for this peer's own chain and\n"                            \
      "what it accepts (Debian's default 2 refuses SHA-1\n"                                    \
      "signatures and RSA < 2048); GnuTLS does not check its own\n"                            \
      "chain and ignores it")                                                                  \
    X(O_SKIP_KEY_MATCH, "skip-key-match", "", F_ON, skip_key_match, 0, 0, 1,                   \
      "present the first --cert with a --key that is not its own\n"                          \
      "(same algorithm): the chain goes out as given and the\n"                               \
      "handshake signature does not verify (GnuTLS: its\n"                                    \
      "certificate/key match is skipped, and a client sends\n"                                \
      "the chain whatever CAs the server names; OpenSSL: EC\n"                                \
      "and RSA)")                               \
    X(O_SENDFRAG, "max-send-frag", "N", F_INT, max_send_frag, 512, 16384, 1,                   \
      "send records of at most N bytes (512..16384), handshake\n"                              \
      "messages split across them, as embedded servers with\n"                                 \
      "small buffers do (s_server -max_send_frag; GnuTLS: also\n"                              \
      "the largest record it accepts)")                                                        \
    X(O_COOKIE, "cookie", "C", F_OWN, cookie, 0, 0, 1,                                         \
      "#DTLS:\nserver: HelloVerifyRequest cookie exchange: on (default;\n"                     \
      "the server waits for the first datagram and then talks\n"                               \
      "only to its sender), off; changing: a fresh cookie in\n"                                \
      "every HelloVerifyRequest, and the first cookie sent back\n"                             \
      "is refused: the client must take a second one\n"                                        \
      "(hello_verify_requests says how many went); OpenSSL's,\n"                               \
      "GnuTLS's and mbedTLS's clients drop a second one;\n"                                    \
      "never: no cookie is ever accepted, HelloVerifyRequest\n"                                \
      "after HelloVerifyRequest until the deadline")                                           \
    X(O_MTU, "mtu", "N", F_INT, mtu, 256, 65535, 1, "path MTU for handshake fragmentation")   \
    X(O_DTLS_TIMEOUT, "dtls-timeout", "MS", F_INT, dtls_timeout_ms, 1, 600000, 1,              \
      "initial retransmission timeout (default: the backend's)")                               \
    X(O_SEND, "send", "TEXT", F_STR, send_text, 0, 0, 1,                                       \
      "#Application data (after the handshake, in this order: send, expect, echo):\n"          \
      "write TEXT")                                                                            \
    X(O_SEND_FILE, "send-file", "FILE", F_STR, send_file, 0, 0, 1, "write the file's bytes")  \
    X(O_SEND_SIZE, "send-size", "N", F_LONG, send_size, 0, 1L << 30, 1,                        \
      "write N bytes of the pattern abc...z abc...")                                           \
    X(O_EXPECT, "expect", "TEXT", F_STR, expect_text, 0, 0, 1,                                 \
      "read until TEXT's length; data_ok tells if it matched")                                 \
    X(O_EXPECT_SIZE, "expect-size", "N", F_LONG, expect_size, 0, 1L << 30, 1,                  \
      "read until N bytes; data_ok tells if N arrived")                                        \
    X(O_ECHO, "echo", "", F_ON, echo, 0, 0, 1,                                                 \
      "write back what is read until the peer closes (or the\nexpected size is reached)")     \
    X(O_CLOSE, "close", "M", F_OWN, close_mode, 0, 0, 1,                                       \
      "notify: close_notify then close (default); abrupt:\n"                                   \
      "close the socket without close_notify; half: end our\n"                                 \
      "direction with a bare FIN (no close_notify) and read on\n"                              \
      "until the peer closes or the deadline; silent: send\n"                                  \
      "nothing more and keep the connection open until the\n"                                  \
      "peer closes or the deadline")                                                           \
    X(O_CLOSE_AFTER, "close-after", "N", F_LONG, close_after, 0, 1L << 30, 1,                  \
      "write only the first N bytes of the payload, then close\n"                              \
      "as --close says (no expect/echo)")                                                      \
    X(O_APP_RECORD, "app-record", "N", F_INT, app_record, 1, 16384, 1,                         \
      "write application data N bytes at a time: records of N\n"                              \
      "bytes (1..16384; large payloads in many small records)")                                \
    X(O_MISBEHAVE, "misbehave", "KIND", F_OWN, misbehave, 0, 0, 1,                             \
      "#Misbehaviours (the wire bytes are the same for both backends):\n"                      \
      "close-after-hello: server: read the ClientHello, close;\n"                              \
      "  client: send the ClientHello and nothing more, read\n"                                \
      "  the server's first flight, close\n"                                                   \
      "garbage: 64 random bytes instead of the hello\n"                                        \
      "stall:MS: wait MS before the handshake\n"                                               \
      "alert:NAME: a plaintext fatal alert NAME (IANA, e.g.\n"                                 \
      "  handshake_failure) instead of the handshake\n"                                        \
      "big-record: after the handshake, one 16384-byte record first")                          \
    X(O_KEYLOG, "keylog", "FILE", F_STR, keylog, 0, 0, 1,                                      \
      "#Other:\nappend NSS key-log lines (SSLKEYLOGFILE format)")                              \
    X(O_HELP, "help", "", F_OWN, backend, 0, 0, 0, "this text")

/* The scenario key of a flag name: "max-version" → "max_version". */
#define PEER_FLAG_KEY_MAX 32

#endif
