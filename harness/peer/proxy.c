/* The impairment proxy between device and peer for cases with a `proxy` block:
 * udpproxy for DTLS, tcpproxy for TLS (the block's keys say which). */
#include "peer/peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case/case.h"
#include "tm_fs.h"
#include "tm_proc.h"

struct proxy {
    struct tm_proc proc;
    struct tm_lines lines;
    int port;
    char log_path[1024];
};

/* One key of the block as flags (the keys were checked by case_proxy_proto). */
static int flag_for(const char *key, const json_t *v, json_t *argv, struct tm_err *err)
{
    char flag[64], buf[600];   /* insert:HEX may be long */
    peer_flag_name(key, flag, sizeof flag);
    if (json_is_boolean(v)) {
        if (json_is_true(v))
            json_array_append_new(argv, json_string(flag));
        return 0;
    }
    if (json_is_array(v)) {   /* drop_type: [ClientHello, Finished] */
        char list[512] = "";
        size_t i;
        json_t *it;
        json_array_foreach(v, i, it) {
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "," : "",
                     json_string_value(it) ?: "");
        }
        json_array_append_new(argv, json_string(flag));
        return json_array_append_new(argv, json_string(list));
    }
    if (json_is_integer(v))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, sizeof buf, "%g", json_real_value(v));
    else if (json_is_string(v))
        snprintf(buf, sizeof buf, "%s", json_string_value(v));
    else
        return tm_err_set(err, "proxy.%s: expected a number, string, boolean or list", key);
    json_array_append_new(argv, json_string(flag));
    return json_array_append_new(argv, json_string(buf));
}

static json_t *build_argv(const json_t *spec, const char *listen_host, const char *host,
                          int port, const char *log, int timeout_ms, struct tm_err *err)
{
    char buf[1024];
    const char *proto = case_proxy_proto(spec, err);
    if (proto == NULL)
        return NULL;
    json_t *argv = json_array();
    snprintf(buf, sizeof buf, "%s/%s", TM_BIN_DIR,
             strcmp(proto, "tls") == 0 ? "tcpproxy" : "udpproxy");
    json_array_append_new(argv, json_string(buf));
    json_array_append_new(argv, json_string("--listen"));
    snprintf(buf, sizeof buf, strchr(listen_host, ':') ? "[%s]:0" : "%s:0", listen_host);
    json_array_append_new(argv, json_string(buf));
    snprintf(buf, sizeof buf, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    json_array_append_new(argv, json_string("--server"));
    json_array_append_new(argv, json_string(buf));
    if (json_object_get(spec, "seed") == NULL) {
        json_array_append_new(argv, json_string("--seed"));
        json_array_append_new(argv, json_string("1"));
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)spec, key, v) {
        if (flag_for(key, v, argv, err) != 0) {
            json_decref(argv);
            return NULL;
        }
    }
    json_array_append_new(argv, json_string("--log"));
    json_array_append_new(argv, json_string(log));
    snprintf(buf, sizeof buf, "%d", timeout_ms);
    json_array_append_new(argv, json_string("--timeout"));
    json_array_append_new(argv, json_string(buf));
    return argv;
}

struct proxy *proxy_start(const json_t *spec, const char *listen_host,
                          const char *server_host, int server_port,
                          const char *log_path, int timeout_ms, tm_ms deadline,
                          json_t *transcript, struct tm_err *err)
{
    json_t *argv = build_argv(spec, listen_host, server_host, server_port, log_path,
                              timeout_ms, err);
    struct proxy *x = calloc(1, sizeof *x);
    char **v = argv ? peer_argv_from_json(argv) : NULL;
    if (argv == NULL || x == NULL || v == NULL)
        goto fail;
    snprintf(x->log_path, sizeof x->log_path, "%s", log_path);
    char *cmd = peer_argv_string(argv);
    if (transcript && cmd)
        json_array_append_new(transcript, json_sprintf("$ %s", cmd));
    free(cmd);
    if (tm_proc_spawn(&x->proc, v, NULL, err) != 0)
        goto fail;
    tm_lines_init(&x->lines, x->proc.out_fd, 65536);
    char *line = NULL;
    int r = tm_lines_read(&x->lines, deadline, &line, err);
    json_t *j = r == 1 ? json_loads(line, 0, NULL) : NULL;
    free(line);
    if (j == NULL || json_integer_value(json_object_get(j, "port")) <= 0) {
        json_decref(j);
        tm_err_set(err, "%s printed no ready line (%s)", v[0], r == 0 ? "deadline" : "exited");
        proxy_stop(x, transcript);
        x = NULL;
        goto fail;
    }
    x->port = (int)json_integer_value(json_object_get(j, "port"));
    json_decref(j);
    free(v);
    json_decref(argv);
    return x;
fail:
    free(v);
    free(x);
    json_decref(argv);
    return NULL;
}

int proxy_port(const struct proxy *x)
{
    return x->port;
}

void proxy_stop(struct proxy *x, json_t *transcript)
{
    if (x == NULL)
        return;
    tm_proc_stop(&x->proc, 300);
    tm_lines_free(&x->lines);
    unsigned char *data = NULL;
    size_t len = 0;
    if (transcript != NULL && tm_read_file(x->log_path, &data, &len, NULL) == 0) {
        char *save = NULL;
        int count = 0;
        for (char *l = strtok_r((char *)data, "\n", &save); l && count < 5000;
             l = strtok_r(NULL, "\n", &save), count++)
            json_array_append_new(transcript, json_string(l));
    }
    free(data);
    free(x);
}
