/* The camera side as the harness sees it: raw-REPL bootstrap of the agent
 * (docs/device-model.md §4.2–4.3) and a client for its JSON-lines protocol
 * (docs/contracts.md §3).
 *
 * An agent owns its link. Every call takes an absolute deadline. Lines that are
 * not JSON objects (tracebacks, firmware noise) go to the transcript attached
 * with agent_set_transcript(), with the JSON traffic in both directions. */
#ifndef TM_AGENT_H
#define TM_AGENT_H

#include <jansson.h>
#include <stddef.h>

#include "link/link.h"
#include "tm_err.h"
#include "tm_time.h"

struct agent;

struct agent_opts {
    const char *script;        /* agent.py path; NULL = TM_SOURCE_DIR/camera/agent/agent.py */
    int force_classic_raw;     /* skip raw-paste (testing the fallback) */
    int max_bootstraps;        /* rungs of the recovery ladder tried per agent_recover()
                                  call (skipped ones do not count); 0 = all three */
    const char *stderr_path;   /* exec/virtual program's stderr (kept by the caller);
                                  NULL: a temporary file (link_open_logged) */
    int keep_secrets;          /* transcripts keep private keys (else redacted) */
    const char *reset_cmd;     /* the board's reset command (lab file); NULL: the link's own */
    int proto_max;             /* highest agent protocol to speak; 0 = the newest (2) */
    int verbose_device;        /* proto 2: full replies on success too */
    int steal;                 /* take a board another live session holds */
    long lease_ms;             /* how long the board stays ours without a request; 0 = 120 s */
    int agent_upload;          /* AGENT_UPLOAD_AUTO: keep the agent in the board's file
                                  system, start it with the loader; _ALWAYS: send it whole
                                  at every bootstrap (docs/contracts.md §3, "Stored agent") */
};
enum { AGENT_UPLOAD_AUTO = 0, AGENT_UPLOAD_ALWAYS = 1 };

/* Results of agent_next(). */
enum agent_msg { AGENT_TIMEOUT = 0, AGENT_REPLY = 1, AGENT_EVENT = 2 };

/* The agent script (NULL: the project's agent.py) is readable and starts with the
 * protocol header; checked before a run opens any device. */
int agent_script_check(const char *script, struct tm_err *err);

/* Open the link (does not bootstrap). */
struct agent *agent_open(const char *link_spec, const struct agent_opts *opts,
                         struct tm_err *err);
void agent_close(struct agent *a);

/* On an exec-agent: link, read the program's hello (restarting it when it has
 * already said hello). Otherwise: interrupt whatever runs, enter the raw REPL and
 * start the agent the board keeps in its file system with the loader, writing it
 * there first when it is missing or stale (store.c); a board that cannot keep it
 * (or opts.agent_upload ALWAYS): probe for the `deflate` module (one tiny exec)
 * and upload the agent — as a zlib-compressed loader when the probe ran cleanly,
 * else the plain file. Programs go by raw-paste with window flow control, or
 * classic raw in 256-byte chunks when raw-paste is refused. Read the hello,
 * check proto == 1 and switch to proto 2 (docs/contracts.md §3.1) when the hello's
 * `protos` offers it and opts.proto_max allows it. Files put earlier stay known (flash
 * survives a soft reboot); a link reset in agent_recover() forgets them. */
int agent_bootstrap(struct agent *a, tm_ms deadline, struct tm_err *err);

/* After a lost device (the health check), the recovery ladder (recover.c): a soft
 * reset (Ctrl-D in the raw REPL), then a DTR/RTS pulse where the board wires it
 * (an exec program restarts instead), then the board's reset command (opts.reset_cmd)
 * and a reopen that waits for a USB board to re-enumerate wherever it
 * lands; each rung bootstraps, each step is in the transcript. silent: the device
 * stopped answering (a stall), so the soft reset is skipped. 0 when the agent is
 * back; -1 when the device is lost for good. */
int agent_recover(struct agent *a, tm_ms deadline, int silent, struct tm_err *err);

/* Board locking (docs/contracts.md §3, "Session holder"): every bootstrap claims
 * the board after the hello and fails with TM_E_HELD ("board in use by HOST pid N
 * since T") when another live session holds it, unless opts.steal; requests renew
 * the lease; agent_close frees the board. The takeover of another holder's board
 * (stolen, or its lease expired), {"took": why, "from": holder}, or NULL (borrowed). */
const json_t *agent_lock_note(const struct agent *a);

/* The hello from the last bootstrap (borrowed), NULL before. */
const json_t *agent_hello(const struct agent *a);
const char *agent_link_spec(const struct agent *a);
/* The link's re-enumerations so far (link_moves). */
size_t agent_link_moves(const struct agent *a, const struct link_move **moves);
/* link_identity of the agent's link (USB VID:PID and serial of a serial port), or NULL. */
json_t *agent_link_identity(const struct agent *a);
/* Upload mode of the last bootstrap: "raw-paste" or "raw", with "+deflate" when
 * the compressed loader was sent ("raw-paste+deflate", "raw+deflate"); "direct"
 * on an exec-agent: link (the program is the agent, nothing sent). */
const char *agent_upload_mode(const struct agent *a);
/* Bytes of the program the last bootstrap sent (the loader or the plain agent). */
size_t agent_upload_bytes(const struct agent *a);
int agent_bootstrap_count(const struct agent *a);
/* How the last bootstrap started the agent (docs/contracts.md §3, "Stored agent"):
 * "stored" (the board held it: only the loader crossed the link), "written"
 * (sent into the board's file, then started from it), "uploaded" (sent whole and
 * run from RAM: agent_store_note says why), "direct" (exec-agent:), "none". */
const char *agent_start(const struct agent *a);
/* Why this board does not keep the agent ("--agent-upload always", "the file
 * system is not writable (OSError 30)", "no hashlib", …); NULL while it does. */
const char *agent_store_note(const struct agent *a);
/* Bootstraps so far by how they started the agent. */
struct agent_starts {
    int stored, written, uploaded;
};
void agent_start_counts(const struct agent *a, struct agent_starts *out);
/* The protocol the agent speaks now (1 or 2). */
int agent_proto(const struct agent *a);

/* Lines seen and sent go to this JSON array (borrowed; NULL to stop recording). */
void agent_set_transcript(struct agent *a, json_t *lines);

/* Send {"id":N,"op":op,…fields} by deadline (a device that stops reading is
 * lost). fields (may be NULL) is borrowed. *id gets N. Callers always speak
 * proto 1's form: in proto 2 the request goes with short keys, a TLS request as
 * its difference from the template (set from the first TLS request after a
 * bootstrap), and replies come back in proto 1's form with the lean reply's
 * defaults filled in (fields a success leaves out stay out; `want_data: true`
 * asks for received_b64). The transcript has the lines as they went. */
int agent_send(struct agent *a, const char *op, const json_t *fields, tm_ms deadline, long *id,
               struct tm_err *err);

/* Next reply or event for request id. Returns AGENT_REPLY or AGENT_EVENT with *msg
 * (caller owns), AGENT_TIMEOUT when the deadline passes, or -1 when the device is
 * lost: link closed, "MPY: soft reboot" or raw-REPL banner, the program's end
 * marker, or garbage (binary bytes, over-long lines). err says which. Replies to
 * other ids (a late answer of an abandoned request) go to the transcript. */
int agent_next(struct agent *a, long id, tm_ms deadline, json_t **msg, struct tm_err *err);

/* agent_send + agent_next until the reply (events go to the transcript).
 * 0 with *reply, 1 on deadline, -1 lost/error. */
int agent_call(struct agent *a, const char *op, const json_t *fields, tm_ms deadline,
               json_t **reply, struct tm_err *err);

/* Write a file on the device (base64 + sha256), skipped when this device is
 * known to hold those exact bytes at that path (cached by sha256). */
int agent_put(struct agent *a, const char *device_path, const unsigned char *data,
              size_t len, tm_ms deadline, struct tm_err *err);

/* Traffic on the device link since agent_open, over every link it reopened:
 * every byte each way (bootstrap, requests, replies, noise) and the time the
 * harness waited on the link with a message part-way across it (a write the
 * link had not taken in yet, a line partly received). Time the device spends
 * before it starts answering is not counted. */
struct agent_traffic {
    unsigned long long sent, received;
    long long wait_us;
};
void agent_traffic(const struct agent *a, struct agent_traffic *t);
/* t - since, field by field (the traffic of one case). */
void agent_traffic_since(const struct agent_traffic *t, const struct agent_traffic *since,
                         struct agent_traffic *out);

/* 1 when a message is a lost-device error (as opposed to a usage/setup error). */
int agent_is_lost(const struct agent *a);
/* 1 when the device was lost because it reset itself (soft reboot banner, back at
 * the raw REPL, the agent program ended or said hello again): a session may
 * expect that (outcome class `reset`) and bootstrap it again. */
int agent_lost_by_reset(const struct agent *a);

#endif
