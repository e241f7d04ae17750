/* `tlsmatrix ports`: serial port discovery by USB VID:PID. */
#include "link/link.h"

#include <libserialport.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenMV application and bootloader PIDs under VID 0x37C5, legacy OpenMV1 and
 * Arduino boards that run OpenMV firmware (docs/device-model.md §4.1), with the
 * MCU the firmware names in sys.implementation._machine ("BOARD with MCU"), what
 * profiles match on; a bootloader has none (it runs no MicroPython). */
static const struct {
    int vid, pid;
    const char *name, *mcu;
} boards[] = {
    { 0x37C5, 0x1202, "OpenMV Cam 2", "STM32F427" }, { 0x37C5, 0x9202, "OpenMV Cam 2 (bootloader)", NULL },
    { 0x37C5, 0x1203, "OpenMV Cam 3", "STM32F765" }, { 0x37C5, 0x9203, "OpenMV Cam 3 (bootloader)", NULL },
    { 0x37C5, 0x1204, "OpenMV Cam 4", "STM32H743" }, { 0x37C5, 0x9204, "OpenMV Cam 4 (bootloader)", NULL },
    { 0x37C5, 0x124A, "OpenMV Cam 4 Plus", "STM32H743" },
    { 0x37C5, 0x924A, "OpenMV Cam 4 Plus (bootloader)", NULL },
    { 0x37C5, 0x1205, "OpenMV Pure Thermal", "STM32H743" },
    { 0x37C5, 0x9205, "OpenMV Pure Thermal (bootloader)", NULL },
    { 0x37C5, 0x1060, "OpenMV Cam RT1060", "MIMXRT1062" },
    { 0x37C5, 0x1206, "OpenMV N6", "STM32N657" }, { 0x37C5, 0x9206, "OpenMV N6 (bootloader)", NULL },
    { 0x37C5, 0x16E3, "OpenMV AE3", "AE3" }, { 0x37C5, 0x96E3, "OpenMV AE3 (bootloader)", NULL },
    { 0x1209, 0xABD1, "OpenMV Cam 1 (legacy)", "STM32F215" },
    { 0x2341, 0x045F, "Arduino Nicla Vision", "STM32H747" },
    { 0x2341, 0x045B, "Arduino Portenta H7", "STM32H747" },
    { 0x2341, 0x0466, "Arduino Giga", "STM32H747" },
};

static int board_index(int vid, int pid)
{
    for (size_t i = 0; i < sizeof boards / sizeof boards[0]; i++)
        if (boards[i].vid == vid && boards[i].pid == pid)
            return (int)i;
    return -1;
}

const char *link_board_name(int vid, int pid)
{
    int i = board_index(vid, pid);
    return i < 0 ? NULL : boards[i].name;
}

const char *link_board_machine(int vid, int pid, char *buf, size_t len)
{
    int i = board_index(vid, pid);
    if (i < 0 || boards[i].mcu == NULL)
        return NULL;
    snprintf(buf, len, "%s with %s", boards[i].name, boards[i].mcu);
    return buf;
}

static void copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

struct link_port *link_ports_list(size_t *n, struct tm_err *err)
{
    struct sp_port **ports = NULL;
    *n = 0;
    if (sp_list_ports(&ports) != SP_OK) {
        char *m = sp_last_error_message();
        tm_err_set(err, "listing serial ports: %s", m ? m : "failed");
        sp_free_error_message(m);
        return NULL;
    }
    size_t count = 0;
    while (ports[count] != NULL)
        count++;
    struct link_port *out = calloc(count + 1, sizeof *out);
    for (size_t i = 0; out != NULL && i < count; i++) {
        struct sp_port *p = ports[i];
        copy(out[i].path, sizeof out[i].path, sp_get_port_name(p));
        copy(out[i].desc, sizeof out[i].desc, sp_get_port_description(p));
        if (sp_get_port_transport(p) == SP_TRANSPORT_USB) {
            out[i].usb = 1;
            sp_get_port_usb_vid_pid(p, &out[i].vid, &out[i].pid);
            copy(out[i].serial, sizeof out[i].serial, sp_get_port_usb_serial(p));
        }
    }
    sp_free_port_list(ports);
    if (out == NULL)
        tm_err_set(err, "listing serial ports: out of memory");
    else
        *n = count;
    return out;
}

/* The spec's options after the port ("" or ",baud=N"). */
static const char *options(const char *arg)
{
    const char *comma = strchr(arg, ',');
    return comma ? comma : "";
}

/* `auto`: the one port whose VID:PID is a camera running its firmware. */
static int resolve_auto(const struct link_port *ports, size_t n, char *out, size_t len,
                        struct tm_err *err)
{
    char found[1024] = "";
    size_t hits = 0, used = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        char machine[128];
        if (!ports[i].usb || link_board_machine(ports[i].vid, ports[i].pid, machine,
                                                sizeof machine) == NULL)
            continue;
        if (hits++ == 0)
            first = i;
        int w = snprintf(found + used, sizeof found - used, "%s%s (%s, serial %s)",
                         used ? "; " : "", ports[i].path, link_board_name(ports[i].vid, ports[i].pid),
                         ports[i].serial[0] ? ports[i].serial : "-");
        used += w > 0 && (size_t)w < sizeof found - used ? (size_t)w : 0;
    }
    if (hits == 0)
        return tm_err_setc(err, TM_E_INPUT, "device 'auto': no MicroPython/OpenMV board found "
                           "among %zu serial ports (see `tlsmatrix ports`)", n);
    if (hits > 1)
        return tm_err_setc(err, TM_E_INPUT, "device 'auto': %zu boards found, name one "
                           "(serial:PATH or serial:id=SERIAL): %s", hits, found);
    snprintf(out, len, "serial:%s", ports[first].path);
    return 0;
}

/* serial:id=SERIAL[,OPTS]: the port with that USB serial number. */
static int resolve_id(const char *arg, const struct link_port *ports, size_t n, char *out,
                      size_t len, struct tm_err *err)
{
    const char *id = arg + 3, *opts = options(arg);
    size_t idlen = (size_t)(opts[0] ? opts - id : (ptrdiff_t)strlen(id));
    for (size_t i = 0; i < n; i++)
        if (ports[i].usb && strlen(ports[i].serial) == idlen
            && strncmp(ports[i].serial, id, idlen) == 0) {
            snprintf(out, len, "serial:%s%s", ports[i].path, opts);
            return 0;
        }
    return tm_err_setc(err, TM_E_INPUT, "device 'serial:%s': no USB serial port with serial "
                       "number '%.*s' (see `tlsmatrix ports`)", arg, (int)idlen, id);
}

int link_spec_needs_ports(const char *spec)
{
    return strcmp(spec, "auto") == 0 || strncmp(spec, "serial:id=", 10) == 0;
}

int link_resolve_in(const char *spec, const struct link_port *ports, size_t n, char *out,
                    size_t len, struct tm_err *err)
{
    if (strcmp(spec, "auto") == 0)
        return resolve_auto(ports, n, out, len, err);
    if (strncmp(spec, "serial:id=", 10) == 0)
        return resolve_id(spec + 7, ports, n, out, len, err);
    /* A bare path is a serial port, as mpremote and pyserial take it. */
    snprintf(out, len, "%s%s", spec[0] == '/' ? "serial:" : "", spec);
    return 0;
}

int link_resolve(const char *spec, char *out, size_t len, struct tm_err *err)
{
    size_t n = 0;
    struct link_port *ports = NULL;
    if (link_spec_needs_ports(spec) && (ports = link_ports_list(&n, err)) == NULL)
        return -1;
    int rc = link_resolve_in(spec, ports, n, out, len, err);
    free(ports);
    return rc;
}
