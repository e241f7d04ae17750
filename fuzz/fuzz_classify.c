/* Agent reply lines and tlspeer result lines, parsed as the harness parses them
 * (one JSON object per line), through the classifier and the verdict. Input:
 * line 1 the device reply, line 2 the peer result, line 3 the expectation
 * ({"device":[…],"peer":[…]}); missing lines are null. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "classify/classify.h"
#include "fuzz.h"

static json_t *line_json(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    const uint8_t *stop = nl ? nl : end;
    json_t *j = *p < end ? json_loadb((const char *)*p, (size_t)(stop - *p), 0, NULL) : NULL;
    *p = nl ? nl + 1 : end;
    return j;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    json_t *reply = line_json(&p, end), *result = line_json(&p, end);
    json_t *expected = line_json(&p, end);
    char *dc = classify_device(reply), *pc = classify_peer(result);
    json_t *xfail = json_pack("{s:s}", "reason", "fuzz");
    char reason[512];
    classify_verdict(expected, dc, pc, reply, result, NULL, reason, sizeof reason);
    classify_verdict(expected, dc, pc, reply, result, xfail, reason, sizeof reason);
    if (memchr(reason, '\0', sizeof reason) == NULL)
        abort();   /* the reason is always one terminated line */
    free(dc);
    free(pc);
    json_decref(xfail);
    json_decref(reply);
    json_decref(result);
    json_decref(expected);
    return 0;
}
