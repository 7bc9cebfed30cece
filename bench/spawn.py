"""Run a command and report its wall time and its own peak RSS: ``spawn.py RESULT -- ARGV...``.

Linux keeps a process's peak RSS across ``exec``, and a child made by fork or vfork starts
with its parent's resident pages: a command started straight from the benchmark, which holds
the whole mailbox in memory, would report the benchmark's peak as its own. This launcher is
small, so the command forked from it starts clean; it waits for it with ``wait4`` and writes
what it measured to RESULT as JSON. Standard library only: it runs with ``python -S``.
"""

import json
import os
import signal
import sys
import time


def main() -> int:
    result_path, separator, *argv = sys.argv[1:]
    if separator != "--" or not argv:
        print("usage: spawn.py RESULT -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    started_at = time.time()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    # A SIGTERM for the launcher (a timeout) is passed on to the command.
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    with open(result_path, "w", encoding="utf-8") as out:
        json.dump(
            {
                "returncode": os.waitstatus_to_exitcode(status),
                "started_at": started_at,
                "seconds": seconds,
                "maxrss_kb": usage.ru_maxrss,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
            },
            out,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
