/* vcam's faults (tm_fault.h): the table of armed faults, the event counters that
 * place them (requests, bytes, boots, TLS stages), the ms timers, and what a fault
 * does when it fires. */
#include "vcam.h"

static int fire(struct vcam *vc, struct vcam_fault *f)
{
    struct tm_fault spec = f->spec;
    f->used = 0;   /* one shot: a fault fires once */
    switch (spec.kind) {
    case TM_FAULT_REBOOT:
        return VC_REBOOT;
    case TM_FAULT_DROP:
        vc->exit_code = VCAM_EXIT_DROPPED;
        vc->eof = 1;
        return VC_EOF;
    case TM_FAULT_GARBAGE:
        vcam_garbage_line(vc);
        return VC_OK;
    case TM_FAULT_BAUD:
        vc->baud = (long)spec.arg;
        vc->tx_next = 0;
        return VC_OK;
    case TM_FAULT_STALL:
        return vcam_stall(vc, spec.arg);
    case TM_FAULT_LEAK:
        /* Gone from the heap until the next boot, as a C module holding a block
         * it forgot would be; inside an operation, op_tls takes it off heap_after. */
        vc->leaked += (long)spec.arg;
        vc->heap_free = vc->heap_free > (long)spec.arg ? vc->heap_free - (long)spec.arg : 0;
        return VC_OK;
    case TM_FAULT_KIND_COUNT:
        break;
    }
    return VC_OK;
}

static int64_t *counter(struct vcam *vc, enum tm_fault_place place, int stage)
{
    return place == TM_AT_STAGE ? &vc->stage_events[stage] : &vc->events[place];
}

static int placed_on(const struct vcam_fault *f, enum tm_fault_place place, int stage)
{
    return f->used && f->armed && f->spec.place == place &&
           (place != TM_AT_STAGE || (int)f->spec.stage == stage);
}

/* Count `by` events; fire the faults whose target was reached. Callers step byte
 * counts so that a target is reached exactly (vcam_bytes_before_fault). */
static int count_events(struct vcam *vc, enum tm_fault_place place, int stage, int64_t by)
{
    int64_t *c = counter(vc, place, stage);
    *c += by;
    for (int i = 0; i < VCAM_MAX_FAULTS; i++) {
        struct vcam_fault *f = &vc->faults[i];
        if (placed_on(f, place, stage) && f->target == *c) {
            int r = fire(vc, f);
            if (r != VC_OK)
                return r;
        }
    }
    return VC_OK;
}

int vcam_event(struct vcam *vc, enum tm_fault_place place, int stage)
{
    return count_events(vc, place, stage, 1);
}

size_t vcam_bytes_before_fault(struct vcam *vc, size_t len)
{
    for (int i = 0; i < VCAM_MAX_FAULTS; i++) {
        const struct vcam_fault *f = &vc->faults[i];
        int64_t left = f->target - vc->events[TM_AT_BYTE];
        if (placed_on(f, TM_AT_BYTE, 0) && left > 0 && (uint64_t)left < len)
            len = (size_t)left;
    }
    return len;
}

int vcam_bytes_written(struct vcam *vc, size_t n)
{
    return count_events(vc, TM_AT_BYTE, 0, (int64_t)n);
}

int vcam_faults_run(struct vcam *vc)
{
    if (vc->due != VC_OK) {
        int r = vc->due;
        vc->due = VC_OK;
        return r;
    }
    tm_ms now = tm_now_ms();
    for (int i = 0; i < VCAM_MAX_FAULTS; i++) {
        struct vcam_fault *f = &vc->faults[i];
        if (placed_on(f, TM_AT_MS, 0) && now >= f->at) {
            int r = fire(vc, f);
            if (r != VC_OK)
                return r;
        }
    }
    return VC_OK;
}

int64_t vcam_next_fault_in(struct vcam *vc)
{
    int64_t best = -1;
    tm_ms now = tm_now_ms();
    for (int i = 0; i < VCAM_MAX_FAULTS; i++) {
        const struct vcam_fault *f = &vc->faults[i];
        if (!placed_on(f, TM_AT_MS, 0))
            continue;
        int64_t in = f->at > now ? f->at - now : 0;
        if (best < 0 || in < best)
            best = in;
    }
    return vc->due != VC_OK ? 0 : best;
}

static void arm(struct vcam *vc, struct vcam_fault *f)
{
    if (f->spec.place == TM_AT_MS)
        f->at = tm_now_ms() + f->spec.n;
    else
        f->target = *counter(vc, f->spec.place, (int)f->spec.stage) + f->spec.n;
    f->armed = 1;
}

int vcam_fault_add(struct vcam *vc, const struct tm_fault *spec, int requested)
{
    for (int i = 0; i < VCAM_MAX_FAULTS; i++) {
        struct vcam_fault *f = &vc->faults[i];
        if (f->used)
            continue;
        *f = (struct vcam_fault){ .used = 1, .requested = requested, .spec = *spec };
        /* --fault: counts from power-on, ms from the first agent start */
        if (!requested && (spec->place != TM_AT_MS || vc->agent_started))
            arm(vc, f);
        return 0;
    }
    return -1;
}

void vcam_faults_arm_flags(struct vcam *vc)
{
    if (vc->agent_started)
        return;
    vc->agent_started = 1;
    for (int i = 0; i < VCAM_MAX_FAULTS; i++) {
        struct vcam_fault *f = &vc->faults[i];
        if (f->used && !f->requested && !f->armed)
            arm(vc, f);
    }
}

void vcam_faults_arm_requested(struct vcam *vc)
{
    for (int i = 0; i < VCAM_MAX_FAULTS; i++) {
        struct vcam_fault *f = &vc->faults[i];
        if (f->used && f->requested && !f->armed)
            arm(vc, f);
    }
}

/* A reboot loses the agent, and with it the faults it was asked to inject. */
void vcam_faults_drop_requests(struct vcam *vc)
{
    for (int i = 0; i < VCAM_MAX_FAULTS; i++)
        if (vc->faults[i].used && vc->faults[i].requested)
            vc->faults[i].used = 0;
}
