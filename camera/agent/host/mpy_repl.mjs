// MicroPython 1.27 (WebAssembly, from npm) as a serial device on this process's
// stdin/stdout, so the harness can drive a real MicroPython REPL over a pty:
//   tlsmatrix info --device 'exec:node camera/agent/host/mpy_repl.mjs'
// The REPL is fed one byte at a time from blocking reads, and Python code that
// reads sys.stdin (the agent's request loop) gets its bytes from the same reads,
// blocking as on a board. This build has no socket, ssl or tls: the agent answers
// TLS operations "unsupported". TM_MICROPYTHON_MJS overrides the module's path.
//
// Raw-paste: this port announces it (R\x01) but cannot read the pasted data (it
// ends the paste before the first byte and then hangs in its read), so the bridge
// answers the request with R\x00, as firmware without raw-paste does, and hosts
// fall back to classic raw mode.
import fs from "fs";

const here = new URL(".", import.meta.url).pathname;
const mjs = process.env.TM_MICROPYTHON_MJS ||
    `${here}../../../build/npm/node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs`;
const { loadMicroPython } = await import(mjs);

const one = Buffer.alloc(1);
const nap = new Int32Array(new SharedArrayBuffer(4));

// One byte from fd 0, or null at end of input. A pty can report EAGAIN: wait a
// little and retry (the harness's deadlines bound how long anything waits).
function readByte() {
    for (;;) {
        try {
            return fs.readSync(0, one, 0, 1) === 1 ? one[0] : null;
        } catch (e) {
            if (e.code === "EAGAIN") {
                Atomics.wait(nap, 0, 0, 5);
                continue;
            }
            if (e.code === "EOF" || e.code === "EIO")
                return null;
            throw e;
        }
    }
}

const mp = await loadMicroPython({
    heapsize: 4 * 1024 * 1024,
    stdin: readByte,
    stdout: (bytes) => fs.writeSync(1, bytes),
    linebuffer: false,
});
// Feed one byte to the REPL; true when the REPL asks to end (Ctrl-D at the
// friendly prompt: this "board" powers off).
const feed = (c) => mp.replProcessChar(c) !== 0;

mp.replInit();
for (let c = readByte(); c !== null; c = readByte()) {
    if (c === 0x05) {                       // raw-paste request is \x05 A \x01
        const a = readByte(), b = a === 0x41 ? readByte() : null;
        if (a === 0x41 && b === 0x01) {
            fs.writeSync(1, Buffer.from("R\x00"));
            continue;
        }
        if (feed(c) || (a !== null && feed(a)) || (b !== null && feed(b)))
            break;
        continue;
    }
    if (feed(c))
        break;
}
process.exit(0);
