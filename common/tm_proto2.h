/* Agent protocol 2 (docs/contracts.md §3.1), the parts both ends share: the
 * harness (harness/agent) and the virtual camera (camera/sim) use these; agent.py
 * holds the same table (`LS`), which tests/agent checks against this one.
 *
 * Proto 2 is proto 1 with every object key (at any depth) and the TLS op names
 * shortened by one table, TLS requests merged over a template the `tpl` op sets,
 * and lean replies: fields at their default value are left out, and a successful
 * operation leaves out cipher, verify_mode and the received data unless asked. */
#ifndef TM_PROTO2_H
#define TM_PROTO2_H

#include <jansson.h>

/* Long/short pairs, NULL-terminated. */
extern const char *const tm_p2_table[][2];

/* A deep copy with keys (and the value of "op"/"o") mapped long -> short or back;
 * unknown names pass through. NULL on allocation failure. */
json_t *tm_p2_short(const json_t *v);
json_t *tm_p2_long(const json_t *v);

/* 1 for tls_client, tls_server, dtls_client, dtls_server: the ops a template applies to. */
int tm_p2_tls_op(const char *op);

/* The agent's side (long keys): drop what a lean reply leaves out. req (may be
 * NULL) says whether data or a verbose reply was asked for. */
void tm_p2_lean(json_t *reply, const json_t *req);
/* The harness's side (long keys): put the dropped defaults back into a TLS or
 * conn reply (one with "ms") or a gc/sleep reply with "heap_free". What a
 * success left out (cipher, verify_mode, received_b64) stays out. */
void tm_p2_fill(json_t *reply);

/* Template and request, long keys. merge: the template's fields under the
 * request's, nulls removed (new reference). diff: what a request must carry
 * over the template: its own fields that differ, null for the template's fields
 * it lacks (new reference). */
json_t *tm_p2_merge(const json_t *req, const json_t *tpl);
json_t *tm_p2_diff(const json_t *req, const json_t *tpl);

#endif
