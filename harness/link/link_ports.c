/* `tlsmatrix ports`: serial port discovery by USB VID:PID. */
#include "link/link.h"

#include <libserialport.h>
#include <stdio.h>

/* OpenMV application and bootloader PIDs under VID 0x37C5, legacy OpenMV1 and
 * Arduino boards that run OpenMV firmware (docs/device-model.md §4.1). */
static const struct {
    int vid, pid;
    const char *name;
} boards[] = {
    { 0x37C5, 0x1202, "OpenMV Cam 2" }, { 0x37C5, 0x9202, "OpenMV Cam 2 (bootloader)" },
    { 0x37C5, 0x1203, "OpenMV Cam 3" }, { 0x37C5, 0x9203, "OpenMV Cam 3 (bootloader)" },
    { 0x37C5, 0x1204, "OpenMV Cam 4" }, { 0x37C5, 0x9204, "OpenMV Cam 4 (bootloader)" },
    { 0x37C5, 0x124A, "OpenMV Cam 4 Plus" }, { 0x37C5, 0x924A, "OpenMV Cam 4 Plus (bootloader)" },
    { 0x37C5, 0x1205, "OpenMV Pure Thermal" }, { 0x37C5, 0x9205, "OpenMV Pure Thermal (bootloader)" },
    { 0x37C5, 0x1060, "OpenMV Cam RT1060" },
    { 0x37C5, 0x1206, "OpenMV N6" }, { 0x37C5, 0x9206, "OpenMV N6 (bootloader)" },
    { 0x37C5, 0x16E3, "OpenMV AE3" }, { 0x37C5, 0x96E3, "OpenMV AE3 (bootloader)" },
    { 0x1209, 0xABD1, "OpenMV Cam 1 (legacy)" },
    { 0x2341, 0x045F, "Arduino Nicla Vision" }, { 0x2341, 0x045B, "Arduino Portenta H7" },
    { 0x2341, 0x0466, "Arduino Giga" },
};

const char *link_board_name(int vid, int pid)
{
    for (size_t i = 0; i < sizeof boards / sizeof boards[0]; i++)
        if (boards[i].vid == vid && boards[i].pid == pid)
            return boards[i].name;
    return NULL;
}

int link_ports_print(FILE *out, struct tm_err *err)
{
    struct sp_port **ports = NULL;
    if (sp_list_ports(&ports) != SP_OK) {
        char *m = sp_last_error_message();
        tm_err_set(err, "listing serial ports: %s", m ? m : "failed");
        sp_free_error_message(m);
        return -1;
    }
    int n = 0;
    for (; ports[n] != NULL; n++) {
        struct sp_port *p = ports[n];
        const char *name = sp_get_port_name(p);
        if (sp_get_port_transport(p) != SP_TRANSPORT_USB) {
            const char *desc = sp_get_port_description(p);
            fprintf(out, "%-16s %-9s %s\n", name, "-", desc ? desc : "");
            continue;
        }
        int vid = 0, pid = 0;
        sp_get_port_usb_vid_pid(p, &vid, &pid);
        const char *serial = sp_get_port_usb_serial(p);
        const char *board = link_board_name(vid, pid);
        fprintf(out, "%-16s %04x:%04x serial=%s %s%s%s\n", name, vid, pid,
                serial ? serial : "-", board ? "* " : "",
                board ? board : (sp_get_port_description(p) ? sp_get_port_description(p) : ""),
                board ? " (camera)" : "");
    }
    if (n == 0)
        fprintf(out, "no serial ports found\n");
    sp_free_port_list(ports);
    return n;
}
