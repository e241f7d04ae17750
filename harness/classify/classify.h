/* Outcome classification and verdicts: the one table that turns raw evidence
 * (agent replies, tlspeer results) into outcome classes (docs/contracts.md §5),
 * and the one function that compares them with a case's expectation. */
#ifndef TM_CLASSIFY_H
#define TM_CLASSIFY_H

#include <jansson.h>
#include <stddef.h>

/* Device outcome class from an agent reply (NULL reply → "lost"). Caller frees. */
char *classify_device(const json_t *reply);

/* Peer outcome class from a tlspeer result line (NULL → "crashed"). Caller frees. */
char *classify_peer(const json_t *result);

/* 1 when cls is one of list's classes or matches one of its globs. */
int classify_matches(const json_t *list, const char *cls);

/* Verdict for one case: "pass", "fail", "xfail", "xpass" or "error".
 * expected: the case's {"device":[…],"peer":[…]}; xfail: the profile entry that
 * covers this case, or NULL. A negative expectation passes only with evidence
 * that the handshake was reached (the peer printed a result with handshake other
 * than "not-started", and the device reply has a stage at or after "wrap").
 * reason gets one line saying why. */
const char *classify_verdict(const json_t *expected, const char *device_class,
                             const char *peer_class, const json_t *reply,
                             const json_t *peer_result, const json_t *xfail,
                             char *reason, size_t reason_len);

#endif
