# tests/gdb-break.py: what gdb-break.sh runs inside gdb (batch mode) on samples/hotspot; LUCID_TEST_CASE names the case.
#
# Each case ends the program the way it ends on its own (it sets hotspot's
# `stop` flag and lets it finish), so the program's result line and exit
# status are checked too. Prints "PASS: CASE" last, or raises (gdb exits 1).

import os
import re
import struct

import __main__ as ext   # the extension, sourced or auto-loaded before this script
import gdb

CASE = os.environ["LUCID_TEST_CASE"]
MAX_STOPS = 200          # stops to wait for a conflict with both sides known


def fail(msg):
    raise gdb.GdbError("FAIL: %s: %s" % (CASE, msg))


def check(cond, msg):
    if not cond:
        fail(msg)


def run(cmd):
    return gdb.execute(cmd, to_string=True)


def running():
    return gdb.selected_inferior().pid != 0


def finish_program():
    """Lets hotspot end as when its time is up, and checks it exited 0."""
    for b in gdb.breakpoints() or ():
        b.delete()
    gdb.execute("set var 'hotspot.c'::stop = 1")
    gdb.execute("continue")
    check(not running(), "the program stopped again after the last expected stop")
    code = gdb.parse_and_eval("$_exitcode")
    check(int(code) == 0, "the program exited with %s" % code)


def sides(text):
    """The aborted and other parts of `lucid conflict` output."""
    m = re.search(r"aborted transaction:(.*?)(?:other transaction:(.*))?$", text, re.S)
    check(m is not None, "no aborted transaction in:\n" + text)
    return m.group(1), m.group(2) or ""


# ---------------------------------------------------------------- cases

def case_debug_abort():
    """break lucid_debug_abort stops at aborts; lucid conflict names both sides' functions."""
    gdb.Breakpoint("lucid_debug_abort")
    gdb.execute("run")
    for _ in range(MAX_STOPS):
        check(running() and gdb.selected_frame().name() == "lucid_debug_abort",
              "not stopped in lucid_debug_abort")
        text = run("lucid conflict")
        if "other transaction: thread" in text:
            break
        gdb.execute("continue")
    else:
        fail("no conflict with both sides known in %d aborts" % MAX_STOPS)
    # The same record through an expression, pointer or struct.
    check(run("lucid conflict c") == text and run("lucid conflict *c") == text,
          "lucid conflict c / *c differ from lucid conflict")
    mine, other = sides(text)
    check(re.search(r"#\d+ +0x[0-9a-f]+ (counter_add|counter_get) at \S*hotspot\.c:\d+", mine),
          "the aborted side is not at counter_add or counter_get:\n" + text)
    # Only counter_add writes the counter: it is always the other side.
    check(re.search(r"#\d+ +0x[0-9a-f]+ counter_add at \S*hotspot\.c:\d+", other),
          "the other side is not at counter_add:\n" + text)
    check("worker_main" in mine and "worker_main" in other, "stacks do not reach worker_main:\n" + text)
    check("lucid_load_" not in text and "lucid_store" not in text, "Lucid's own frames shown:\n" + text)

    # The printer, and the layout the extension reads agrees with the debug info.
    printed = run("print *c")
    check(re.search(r"= (rw|ww|read-invalid|write-invalid|commit-invalid) abort, attempt \d+, "
                    r"thread \d+ in \S*hotspot\.c:\d+", printed), "printer: " + printed)
    t = gdb.lookup_type("struct lucid_conflict")
    check(t.sizeof == ext.LUCID_CONFLICT_SIZE, "sizeof(struct lucid_conflict) is %d" % t.sizeof)
    layout = {}
    fmt = "<"
    for name, f in ext.LUCID_CONFLICT_FIELDS:
        if name is not None:
            layout[name] = struct.calcsize(fmt)
        fmt += f
    for field in t.fields():
        check(layout.get(field.name) == field.bitpos // 8,
              "field %s at %d, the extension reads it at %s" % (field.name, field.bitpos // 8,
                                                                 layout.get(field.name)))
    # The reason names agree with lucid_abort_reason_name().
    for r, name in enumerate(ext.LUCID_REASONS):
        got = ext.lucid_call_in_program("lucid_abort_reason_name(%d)" % r).string()
        check(got == name, "reason %d: library says %s, extension %s" % (r, got, name))
    check(ext.lucid_call_in_program("lucid_abort_reason_name(%d)" % len(ext.LUCID_REASONS)).string()
          == "unknown", "the library has more reasons than the extension")

    stats = run("lucid stats")
    m = re.search(r"^aborts +(\d+)$", stats, re.M)
    check(m and int(m.group(1)) >= 1, "lucid stats: " + stats)
    check(re.search(r"^commits +\d+$", stats, re.M) and "aborts by reason: rw=" in stats,
          "lucid stats: " + stats)
    finish_program()


def case_break_function():
    """lucid break function=counter_get stops only at aborts with counter_get in a stack."""
    # An observer, evaluated first at each abort, counts the aborts that
    # involve counter_get by another route: counter_get is only called by
    # take_report()'s block, and that block conflicts only there.
    class Observer(gdb.Breakpoint):
        def __init__(self):
            super(Observer, self).__init__("lucid_debug_abort", internal=True)
            self.total = self.matching = 0

        def stop(self):
            c = gdb.parse_and_eval("c").dereference()
            self.total += 1
            blocks = [c["function"].string() if int(c["function"]) else "",
                      c["other_function"].string() if int(c["other_function"]) else ""]
            if "take_report" in blocks:
                self.matching += 1
            return False

    obs = Observer()
    gdb.execute("lucid break function=counter_get")
    bp = [b for b in gdb.breakpoints() if b.location == "lucid_debug_abort" and b.visible][-1]
    gdb.execute("run")
    for i in range(3):
        check(running(), "the program ended before stop %d" % (i + 1))
        text = run("lucid conflict")
        check(re.search(r"counter_get at \S*hotspot\.c:\d+", text),
              "stopped at an abort without counter_get:\n" + text)
        check(bp.matched == obs.matching == i + 1,
              "stop %d: breakpoint matched %d, observer counted %d" % (i + 1, bp.matched, obs.matching))
        if i < 2:
            gdb.execute("continue")
    listing = run("lucid break")
    check(re.search(r"Breakpoint %d: function=counter_get: %d aborts seen, 3 matched, 3 stopped"
                    % (bp.number, obs.total), listing),
          "lucid break: %s; the observer saw %d aborts" % (listing, obs.total))
    gdb.write("aborts seen %d, of which matching %d\n" % (obs.total, obs.matching))
    finish_program()


def case_trap_hits():
    """LUCID_BREAK=function=counter_get,hits=3 under gdb: one SIGTRAP, at the third match."""
    gdb.execute("run")
    check(running(), "the program ended without stopping")
    check(int(gdb.parse_and_eval("$_siginfo.si_signo")) == 5, "not stopped by SIGTRAP")
    text = run("lucid conflict")
    check(text.startswith("LUCID_BREAK match 3: "), "not the third match:\n" + text)
    check(re.search(r"counter_get at \S*hotspot\.c:\d+", text), "no counter_get:\n" + text)
    # The stop is in the aborting thread: its stack holds the abort.
    bt = run("bt")
    check("conflict_break_trap" in bt and "worker_main" in bt, "backtrace: " + bt)
    finish_program()


def case_autoload():
    """The script gdb auto-loads for liblucid defines the commands."""
    gdb.Breakpoint("main")
    gdb.execute("run")
    check("lucid conflict" in run("help lucid"), "help lucid: no lucid conflict")
    check(any(p.name == "lucid" for p in gdb.pretty_printers) or
          any(any(p.name == "lucid" for p in o.pretty_printers) for o in gdb.objfiles()),
          "no pretty printer named lucid")
    gdb.execute("kill")


{"debug_abort": case_debug_abort, "break_function": case_break_function,
 "trap_hits": case_trap_hits, "autoload": case_autoload}[CASE]()
gdb.write("PASS: %s\n" % CASE)
