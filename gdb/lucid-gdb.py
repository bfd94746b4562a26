# gdb/lucid-gdb.py: gdb commands for Lucid's aborts (lucid conflict, break, stats) and a struct lucid_conflict printer.
#
# Installed where gdb auto-loads it for liblucid ($datadir/gdb/auto-load/
# followed by the library's real path and "-gdb.py"); for a library in
# another place, or a program linked statically, load it by hand:
#     (gdb) source /path/to/lucid-gdb.py
# See docs/debugging.md.

import fnmatch
import re
import struct

import gdb
import gdb.printing

# Every name here starts with lucid_ or Lucid: gdb runs all scripts in one
# namespace (__main__).

# enum lucid_abort_reason, by value: lucid_abort_reason_name()'s names (the
# values are part of Lucid's ABI; tests/gdb-break.sh checks the two agree).
LUCID_REASONS = ["rw", "ww", "read-invalid", "write-invalid", "commit-invalid",
                 "abort", "retry", "capacity", "irrevocable"]
LUCID_CONFLICT_REASONS = range(0, 5)

LUCID_FLAG_OTHER_KNOWN = 0x1
LUCID_FLAG_FALSE = 0x2
LUCID_FLAG_OTHER_COMMITTED = 0x4
LUCID_FLAG_ALLOC_STACK = 0x8

# struct lucid_conflict on 64-bit targets, field by field (the public
# layout of <lucid/conflict.h>; it is read from memory this way so that
# the commands work without debug information for it).
LUCID_CONFLICT_FIELDS = (
    ("reason", "i"), ("flags", "I"), ("attempt", "I"), (None, "4x"),
    ("wasted_ns", "Q"), ("time_ns", "Q"), ("address", "Q"), ("other_address", "Q"),
    ("orec", "I"), (None, "4x"), ("other_commit", "Q"), ("tid", "i"), ("other_tid", "i"),
    ("file", "Q"), ("line", "i"), (None, "4x"), ("function", "Q"),
    ("other_file", "Q"), ("other_line", "i"), (None, "4x"), ("other_function", "Q"),
    ("stack", "Q"), ("stack_depth", "I"), (None, "4x"),
    ("other_stack", "Q"), ("other_depth", "I"), (None, "4x"),
    ("alloc_stack", "Q"), ("alloc_depth", "I"), (None, "4x"),
)
LUCID_CONFLICT_SIZE = 168
LUCID_STATS_FIELDS = ("commits", "commits_ro", "aborts", "max_retries", "serial", "extensions",
                      "threads", "irrevocable", "retry_waits")
LUCID_STATS_SIZE = 256   # struct lucid_stats: 16 counters, then 16 by reason
LUCID_MAX_DEPTH = 256    # more frames than a recorded stack ever has

LUCID_KEYS = ("kind", "function", "address", "block", "hits", "every")
LUCID_KEYS_HELP = ("kind=NAME[|NAME...], function=PATTERN, address=EXPR[+LEN], block=FILE[:LINE], "
             "hits=N, every=N")


def _lucid_byte_order():
    return ">" if "big" in gdb.execute("show endian", to_string=True) else "<"


def _lucid_inferior():
    inf = gdb.selected_inferior()
    if inf is None or inf.pid == 0:
        raise gdb.GdbError("lucid: the program is not running")
    return inf


def _lucid_read_string(addr):
    if not addr:
        return None
    try:
        return gdb.Value(addr).cast(gdb.lookup_type("char").pointer()).string(
            errors="replace", length=-1)
    except gdb.error:
        return "<unreadable>"


def _lucid_read_pcs(addr, depth):
    if not addr or not depth:
        return []
    depth = min(depth, LUCID_MAX_DEPTH)
    raw = bytes(_lucid_inferior().read_memory(addr, 8 * depth))
    return list(struct.unpack(_lucid_byte_order() + "%dQ" % depth, raw))


def lucid_read_conflict(addr):
    """The struct lucid_conflict at addr, as a dict, with its strings and stacks read."""
    fmt = _lucid_byte_order() + "".join(f for _, f in LUCID_CONFLICT_FIELDS)
    raw = bytes(_lucid_inferior().read_memory(addr, LUCID_CONFLICT_SIZE))
    values = struct.unpack(fmt, raw)
    names = [n for n, _ in LUCID_CONFLICT_FIELDS if n is not None]
    c = dict(zip(names, values))
    c["addr"] = addr
    for key in ("file", "function", "other_file", "other_function"):
        c[key] = _lucid_read_string(c[key])
    c["stack"] = _lucid_read_pcs(c["stack"], c["stack_depth"])
    c["other_stack"] = _lucid_read_pcs(c["other_stack"], c["other_depth"])
    c["alloc_stack"] = _lucid_read_pcs(c["alloc_stack"], c["alloc_depth"])
    return c


def lucid_reason_name(r):
    return LUCID_REASONS[r] if 0 <= r < len(LUCID_REASONS) else "unknown"


# ----------------------------------------------------------------- frames

class LucidFrame(object):
    __slots__ = ("function", "file", "line", "inlined", "module")

    def __init__(self, function, file, line, inlined, module):
        self.function = function or "??"
        self.file = file
        self.line = line
        self.inlined = inlined
        self.module = module

    def is_lucid(self):
        """Lucid's own inline header functions (lucid_load_, ...), where recorded stacks start."""
        return self.inlined and self.function.startswith("lucid_") and self.function.endswith("_")


_lucid_frame_cache = {}


def _lucid_clear_cache(*_):
    _lucid_frame_cache.clear()


def _lucid_minimal_symbol(addr):
    """The ELF symbol at addr and the file it is in, from `info symbol`."""
    try:
        text = gdb.execute("info symbol 0x%x" % addr, to_string=True).strip()
    except gdb.error:
        return None, None
    m = re.match(r"^(\S+)(?: \+ \d+)? in section \S+(?: of (.*))?$", text)
    if not m:
        return None, None
    return m.group(1), m.group(2) or gdb.current_progspace().solib_name(addr)


def lucid_frames_at(pc):
    """The frames at return address pc, innermost (inlined) first, symbolized by gdb."""
    if pc in _lucid_frame_cache:
        return _lucid_frame_cache[pc]
    addr = pc - 1 if pc else 0
    frames = []
    try:
        block = gdb.block_for_pc(addr)
    except RuntimeError:
        block = None
    sal = gdb.find_pc_line(addr)
    file = sal.symtab.filename if sal.symtab else None
    line = sal.line if sal.symtab else 0
    functions = []
    while block is not None and not block.is_static and not block.is_global:
        if block.function is not None:
            functions.append(block.function)
        block = block.superblock
    module = gdb.current_progspace().solib_name(addr)
    for i, fn in enumerate(functions):
        inlined = i + 1 < len(functions)
        frames.append(LucidFrame(fn.print_name, file, line, inlined, module))
        if inlined:
            # gdb gives an inlined function's symbol the place it was
            # called from (DW_AT_call_file/line): the caller's file:line.
            file = fn.symtab.filename if fn.symtab else None
            line = fn.line
    if not frames:
        name, where = _lucid_minimal_symbol(addr)
        frames.append(LucidFrame(name, None, 0, False, where or module))
    _lucid_frame_cache[pc] = frames
    return frames


def lucid_stack_lines(pcs, indent="    "):
    out = []
    n = 0
    if not pcs:
        return [indent + "(no stack was captured)"]
    for pc in pcs:
        for f in lucid_frames_at(pc):
            if f.is_lucid():
                continue
            text = "%s#%-2d 0x%016x %s" % (indent, n, pc, f.function)
            if f.line:
                text += " at %s:%d" % (f.file, f.line)
            elif f.module:
                text += " in %s" % f.module
            if f.inlined:
                text += " (inlined)"
            out.append(text)
            n += 1
    return out


def lucid_stack_functions(pcs):
    return [f.function for pc in pcs for f in lucid_frames_at(pc) if not f.is_lucid()]


def lucid_block_text(file, line, function):
    if not file:
        return "an unknown atomic block"
    if line == 0:
        return "a function run by lucid_run()"
    return "the atomic block at %s:%d (in %s())" % (file, line, function or "??")


def lucid_describe(c):
    """The conflict as lines of text, both stacks symbolized by gdb."""
    r = c["reason"]
    lines = ["%s abort, attempt %d, %d ns wasted" % (lucid_reason_name(r), c["attempt"], c["wasted_ns"])]
    head = "  aborted transaction: thread %d, %s" % (
        c["tid"], lucid_block_text(c["file"], c["line"], c["function"]))
    if c["address"]:
        head += ", at address 0x%x" % c["address"]
    lines.append(head)
    lines += lucid_stack_lines(c["stack"])
    if c["flags"] & LUCID_FLAG_OTHER_KNOWN:
        other = "  other transaction: thread %d, %s" % (
            c["other_tid"], lucid_block_text(c["other_file"], c["other_line"], c["other_function"]))
        if c["other_address"]:
            other += ", at address 0x%x" % c["other_address"]
        if c["flags"] & LUCID_FLAG_OTHER_COMMITTED:
            other += ", committed"
        lines.append(other)
        if c["flags"] & LUCID_FLAG_FALSE:
            lines.append("  false conflict: two different words share ownership record %d "
                         "(a layout or table-size problem, not a code one)" % c["orec"])
        lines += lucid_stack_lines(c["other_stack"])
    elif r in LUCID_CONFLICT_REASONS:
        lines.append("  other transaction: not known (it moved on before it could be read)")
    if c["flags"] & LUCID_FLAG_ALLOC_STACK and c["alloc_stack"]:
        lines.append("  the word's block was allocated (lucid_malloc) at:")
        lines += lucid_stack_lines(c["alloc_stack"])
    return lines


# ------------------------------------------------------ finding the abort

def _lucid_first_argument(frame):
    arch = frame.architecture().name()
    reg = {"i386:x86-64": "rdi", "aarch64": "x0"}.get(arch)
    if reg is None:
        return None
    return int(frame.read_register(reg))


def _lucid_read_local(frame, name):
    try:
        v = frame.read_var(name)
        if v.is_optimized_out:
            return None
        return int(v)
    except (ValueError, gdb.error):
        return None


def _lucid_trap_state():
    """(conflict address, match number) that the selected thread's
    conflict_break_trap noted, or None."""
    try:
        v = gdb.parse_and_eval("lucid_break_trap_")
        addr = int(v["c"])
        return (addr, int(v["n"])) if addr else None
    except (ValueError, gdb.error):
        return None


def lucid_conflict_in_frame(frame):
    """(address of the conflict, LUCID_BREAK match number or None) held by frame, or None."""
    name = frame.name()
    if name == "conflict_break_trap":
        # What the function noted for the debugger; its arguments, where the
        # library was built without that variable.
        noted = _lucid_trap_state()
        if noted:
            return noted
        addr = _lucid_read_local(frame, "c")
        if addr:
            return addr, _lucid_read_local(frame, "n")
    elif name == "lucid_debug_abort":
        addr = _lucid_read_local(frame, "c")
        if addr is None and frame.level() == 0:
            # No debug information for liblucid: at the breakpoint the
            # argument is still in its register.
            addr = _lucid_first_argument(frame)
        if addr:
            return addr, None
    return None


def lucid_find_conflict():
    """The abort the selected thread is stopped at: (address, match number or None)."""
    try:
        frame = gdb.newest_frame()
    except gdb.error:
        raise gdb.GdbError("lucid: the program is not running")
    while frame is not None:
        found = lucid_conflict_in_frame(frame)
        if found:
            return found
        frame = frame.older()
    raise gdb.GdbError("lucid: this thread is not stopped at an abort; stop at one with "
                       "`break lucid_debug_abort`, `lucid break ...` or LUCID_BREAK")


# ------------------------------------------------------- specifications

class LucidSpec(object):
    """A LUCID_BREAK-style specification, as `lucid break` takes it."""

    def __init__(self, text):
        self.text = text
        self.kinds = None
        self.function = None
        self.address = None      # (first byte, length)
        self.block = None        # (file, line or 0)
        self.hits = None
        self.every = None
        seen = set()
        for cond in [p for p in re.split(r"[,\s]+", text.strip()) if p]:
            key, eq, value = cond.partition("=")
            if not eq or not value:
                raise gdb.GdbError("lucid break: \"%s\" is not KEY=VALUE; keys: %s"
                                   % (cond, LUCID_KEYS_HELP))
            if key not in LUCID_KEYS:
                raise gdb.GdbError("lucid break: unknown key \"%s\"; keys: %s"
                                   % (key, LUCID_KEYS_HELP))
            if key in seen:
                raise gdb.GdbError("lucid break: %s= is given twice" % key)
            seen.add(key)
            getattr(self, "_parse_" + key)(value)

    def _parse_kind(self, value):
        self.kinds = set()
        for name in value.split("|"):
            if name == "conflict":
                self.kinds.update(LUCID_CONFLICT_REASONS)
            elif name in LUCID_REASONS:
                self.kinds.add(LUCID_REASONS.index(name))
            else:
                raise gdb.GdbError("lucid break: unknown kind \"%s\" (kinds: %s, conflict)"
                                   % (name, ", ".join(LUCID_REASONS)))

    def _parse_function(self, value):
        self.function = value

    def _parse_address(self, value):
        m = re.match(r"^(.*)\+\s*(0[xX][0-9a-fA-F]+|\d+)$", value)
        expr, length = (m.group(1), int(m.group(2), 0)) if m else (value, None)
        try:
            v = gdb.parse_and_eval(expr)
        except gdb.error as e:
            raise gdb.GdbError("lucid break: address=%s: %s" % (value, e))
        if length is None:
            # A pointer names the object it points to, whole.
            t = v.type.strip_typedefs()
            length = 1
            if t.code == gdb.TYPE_CODE_PTR and t.target().strip_typedefs().code != gdb.TYPE_CODE_VOID:
                length = max(t.target().sizeof, 1)
        first = int(v)
        if not first or length < 1:
            raise gdb.GdbError("lucid break: address=%s: want a nonzero address and a length "
                               "of 1 or more" % value)
        self.address = (first, length)

    def _parse_block(self, value):
        m = re.match(r"^(.*):(\d+)$", value)
        if m:
            if not m.group(1) or int(m.group(2)) == 0:
                raise gdb.GdbError("lucid break: block=%s: want FILE or FILE:LINE (line 1 or more)" % value)
            self.block = (m.group(1), int(m.group(2)))
        else:
            self.block = (value, 0)

    def _count(self, key, value):
        if not value.isdigit() or int(value) == 0:
            raise gdb.GdbError("lucid break: %s=%s: want a whole number, 1 or more" % (key, value))
        return int(value)

    def _parse_hits(self, value):
        self.hits = self._count("hits", value)

    def _parse_every(self, value):
        self.every = self._count("every", value)

    def stops_at(self, n):
        """Whether the nth match stops (the rule LUCID_BREAK follows)."""
        first = self.hits or self.every or 1
        if n < first:
            return False
        if not self.every:
            return n == first if self.hits else True
        return (n - first) % self.every == 0

    def _word_in(self, a):
        if not a:
            return False
        word = a & ~7
        first, length = self.address
        return word <= first + length - 1 and first <= word + 7

    def matches(self, c):
        if self.kinds is not None and c["reason"] not in self.kinds:
            return False
        if self.address and not (self._word_in(c["address"]) or self._word_in(c["other_address"])):
            return False
        if self.block and not (lucid_block_matches(self.block, c["file"], c["line"]) or
                               lucid_block_matches(self.block, c["other_file"], c["other_line"])):
            return False
        if self.function:
            names = lucid_stack_functions(c["stack"]) + lucid_stack_functions(c["other_stack"])
            return any(fnmatch.fnmatchcase(n, self.function) for n in names)
        return True


def _lucid_strip_relative(path):
    while True:
        if path.startswith("./"):
            path = path[2:]
        elif path.startswith("../"):
            path = path[3:]
        else:
            return path


def _lucid_path_suffix(longer, shorter):
    if not shorter or len(shorter) > len(longer) or not longer.endswith(shorter):
        return False
    return len(shorter) == len(longer) or longer[-len(shorter) - 1] == "/" or shorter[0] == "/"


def lucid_block_matches(block, file, line):
    want_file, want_line = block
    if not file or line <= 0 or (want_line and want_line != line):
        return False
    a, b = _lucid_strip_relative(want_file), _lucid_strip_relative(file)
    return _lucid_path_suffix(b, a) or _lucid_path_suffix(a, b)


# ----------------------------------------------------------- breakpoints

_lucid_breakpoints = []


class LucidAbortBreakpoint(gdb.Breakpoint):
    """A breakpoint on lucid_debug_abort that stops only at aborts matching a specification."""

    def __init__(self, spec):
        super(LucidAbortBreakpoint, self).__init__("lucid_debug_abort", internal=False)
        self.spec = spec
        self.seen = 0       # aborts it looked at
        self.matched = 0    # of which matched the conditions
        self.stops = 0      # and stopped (hits=, every=)

    def stop(self):
        self.seen += 1
        try:
            found = lucid_conflict_in_frame(gdb.newest_frame())
            if not found:
                return True   # cannot tell: better stop than miss it
            c = lucid_read_conflict(found[0])
            if not self.spec.matches(c):
                return False
        except (gdb.error, gdb.MemoryError) as e:
            gdb.write("lucid: breakpoint %d: %s; stopping\n" % (self.number, e))
            return True
        self.matched += 1
        if not self.spec.stops_at(self.matched):
            return False
        self.stops += 1
        gdb.write("lucid: breakpoint %d (%s): match %d: %s abort\n"
                  % (self.number, self.spec.text or "every abort", self.matched,
                     lucid_reason_name(c["reason"])))
        return True


def _lucid_live_breakpoints():
    _lucid_breakpoints[:] = [b for b in _lucid_breakpoints if b.is_valid()]
    return _lucid_breakpoints


# ------------------------------------------------------ calling liblucid

def lucid_call_in_program(expr):
    """Evaluates expr, a call into the program, in the selected thread with
    the other threads kept stopped (scheduler-locking), so that the call
    changes nothing but what it is asked to."""
    old = gdb.parameter("scheduler-locking")
    try:
        gdb.execute("set scheduler-locking on", to_string=True)
    except gdb.error:
        old = None
    try:
        return gdb.parse_and_eval(expr)
    finally:
        if old is not None:
            gdb.execute("set scheduler-locking %s" % old, to_string=True)


def lucid_ensure_capture():
    """Makes the program call lucid_debug_abort on every abort: now, if it
    runs (lucid_debug_capture), and in programs started from here on
    (LUCID_CAPTURE=1 in their environment)."""
    gdb.execute("set environment LUCID_CAPTURE 1", to_string=True)
    inf = gdb.selected_inferior()
    if inf is None or inf.pid == 0:
        return
    try:
        rc = int(lucid_call_in_program("((int (*)(int))lucid_debug_capture)(1)"))
    except gdb.error as e:
        gdb.write("lucid: could not turn capture on in the running program (%s); "
                  "aborts are seen once it runs with LUCID_CAPTURE=1\n" % e)
        return
    if rc != 0:
        gdb.write("lucid: lucid_debug_capture(1) returned %d: aborts are not captured\n" % rc)


# -------------------------------------------------------------- commands

class LucidCommand(gdb.Command):
    """Lucid: aborted transactions and their two stacks.

lucid conflict [EXPR]  print the abort this thread is stopped at
lucid break [SPEC]     stop only at aborts that match SPEC
lucid stats            print the transaction statistics"""

    def __init__(self):
        super(LucidCommand, self).__init__("lucid", gdb.COMMAND_USER, prefix=True)


class LucidConflictCommand(gdb.Command):
    """Print the abort this thread is stopped at, with both stacks symbolized.

Usage: lucid conflict [EXPR]
Stop at an abort first: `break lucid_debug_abort`, `lucid break ...`, or the
SIGTRAP of LUCID_BREAK. EXPR, if given, is a `struct lucid_conflict *`."""

    def __init__(self):
        super(LucidConflictCommand, self).__init__("lucid conflict", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        match = None
        if arg.strip():
            v = gdb.parse_and_eval(arg)
            if v.type.strip_typedefs().code == gdb.TYPE_CODE_STRUCT:
                v = v.address
            addr = int(v)
        else:
            addr, match = lucid_find_conflict()
        lines = lucid_describe(lucid_read_conflict(addr))
        if match is not None:
            lines[0] = "LUCID_BREAK match %d: %s" % (match, lines[0])
        gdb.write("\n".join(lines) + "\n")


class LucidBreakCommand(gdb.Command):
    """Stop only at aborts that match a specification.

Usage: lucid break [kind=NAME[|NAME...]] [function=PATTERN] [address=EXPR[+LEN]]
                   [block=FILE[:LINE]] [hits=N] [every=N]
Conditions are separated by blanks or commas, and all must hold:
  kind=      abort reasons: rw, ww, read-invalid, write-invalid, commit-invalid,
             abort, retry, capacity, irrevocable, or conflict (the first five)
  function=  a function (glob pattern) in the stack of either transaction
  address=   an address in either side's conflicting word; a pointer names the
             whole object it points to, +LEN a length in bytes
  block=     either transaction's atomic block, FILE or FILE:LINE
  hits=N     stop at the Nth match only (with every=, from the Nth on)
  every=N    stop at every Nth match
The breakpoint is an ordinary one on lucid_debug_abort: `info breakpoints`,
`delete`, `disable` work on it. It also turns on the capture of aborts that
lucid_debug_abort needs: in the running program (lucid_debug_capture) and
for programs started from gdb later (LUCID_CAPTURE=1). Without SPEC, lists Lucid's breakpoints and
how many aborts each has seen, matched and stopped at."""

    def __init__(self):
        super(LucidBreakCommand, self).__init__("lucid break", gdb.COMMAND_BREAKPOINTS)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            live = _lucid_live_breakpoints()
            if not live:
                gdb.write("No Lucid breakpoints.\n")
            for b in live:
                gdb.write("Breakpoint %d: %s: %d aborts seen, %d matched, %d stopped\n"
                          % (b.number, b.spec.text, b.seen, b.matched, b.stops))
            return
        spec = LucidSpec(arg)
        b = LucidAbortBreakpoint(spec)
        _lucid_breakpoints.append(b)
        lucid_ensure_capture()
        gdb.write("Lucid breakpoint %d: aborts with %s\n" % (b.number, spec.text.strip()))


class LucidStatsCommand(gdb.Command):
    """Print the transaction statistics (lucid_stats_get) of the program.

Usage: lucid stats
Runs lucid_stats_get() in the selected thread, with the other threads kept
stopped (scheduler-locking), on a buffer below the thread's stack pointer."""

    def __init__(self):
        super(LucidStatsCommand, self).__init__("lucid stats", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        inf = _lucid_inferior()
        sp = int(gdb.parse_and_eval("$sp"))
        # Below the red zone and the frames of the call itself: the thread
        # is stopped, and nothing else uses its stack meanwhile.
        buf = (sp - 16384) & ~63
        inf.write_memory(buf, b"\0" * LUCID_STATS_SIZE)
        rc = int(lucid_call_in_program("((int (*)(void *))lucid_stats_get)((void *)0x%x)" % buf))
        if rc != 0:
            raise gdb.GdbError("lucid stats: lucid_stats_get returned %d" % rc)
        v = struct.unpack(_lucid_byte_order() + "32Q", bytes(inf.read_memory(buf, LUCID_STATS_SIZE)))
        for i, name in enumerate(LUCID_STATS_FIELDS):
            gdb.write("%-12s %d\n" % (name, v[i]))
        gdb.write("aborts by reason:")
        for r, name in enumerate(LUCID_REASONS):
            gdb.write(" %s=%d" % (name, v[16 + r]))
        gdb.write("\n")


# ---------------------------------------------------------- the printer

class LucidConflictPrinter(object):
    """struct lucid_conflict: a one-line summary, then its fields."""

    def __init__(self, val):
        self.val = val

    def to_string(self):
        v = self.val
        r = int(v["reason"])
        text = "%s abort, attempt %d, thread %d" % (lucid_reason_name(r), int(v["attempt"]), int(v["tid"]))
        if int(v["line"]):
            text += " in %s:%d" % (_lucid_read_string(int(v["file"])), int(v["line"]))
        if int(v["flags"]) & LUCID_FLAG_OTHER_KNOWN:
            text += ", against thread %d" % int(v["other_tid"])
            if int(v["other_line"]):
                text += " in %s:%d" % (_lucid_read_string(int(v["other_file"])), int(v["other_line"]))
        return text

    def children(self):
        v = self.val
        fn_ptr = gdb.parse_and_eval("(void (*)(void)) 0").type
        for field in v.type.strip_typedefs().fields():
            name = field.name
            value = v[name]
            if name in ("stack", "other_stack", "alloc_stack"):
                depth = int(v[{"stack": "stack_depth", "other_stack": "other_depth",
                               "alloc_stack": "alloc_depth"}[name]])
                if int(value) and depth:
                    # As code addresses, which gdb prints with <function+offset>.
                    value = value.cast(fn_ptr.array(min(depth, LUCID_MAX_DEPTH) - 1).pointer()).dereference()
            yield name, value


def _lucid_printers():
    pp = gdb.printing.RegexpCollectionPrettyPrinter("lucid")
    pp.add_printer("lucid_conflict", "^lucid_conflict$", LucidConflictPrinter)
    return pp


# ------------------------------------------------------------- stop hint

def _lucid_on_stop(event):
    # gdb reports a SIGTRAP that no breakpoint explains as a plain StopEvent
    # (SignalEvent is for the other signals).
    if isinstance(event, (gdb.BreakpointEvent, gdb.SignalEvent)):
        return
    try:
        frame = gdb.newest_frame()
        # conflict_break_trap is a few frames under raise(); looking no
        # further keeps `step` and `next`, which stop the same way, cheap.
        for _ in range(8):
            if frame is None:
                return
            if frame.name() == "conflict_break_trap":
                found = lucid_conflict_in_frame(frame)
                match = found[1] if found else None
                gdb.write("lucid: stopped by LUCID_BREAK%s; `lucid conflict` prints the abort\n"
                          % (" (match %d)" % match if match else ""))
                return
            frame = frame.older()
    except gdb.error:
        pass


# ------------------------------------------------------------ registering

LucidCommand()
LucidConflictCommand()
LucidBreakCommand()
LucidStatsCommand()
gdb.printing.register_pretty_printer(gdb.current_objfile(), _lucid_printers(), replace=True)
if not getattr(gdb, "lucid_events_connected", False):
    # Loaded twice (auto-loaded and sourced): connect the handlers once.
    gdb.events.stop.connect(_lucid_on_stop)
    gdb.events.new_objfile.connect(_lucid_clear_cache)
    gdb.events.exited.connect(_lucid_clear_cache)
    gdb.lucid_events_connected = True
