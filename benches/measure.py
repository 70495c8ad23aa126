#!/usr/bin/env python3
"""Times a command end to end, as the benchmark scripts report it.

    measure.py RUNS DIR -- CMD [ARG...]

Runs CMD RUNS times in DIR with only PATH and HOME in its environment, stdout and stderr
sent to /dev/null. For each run it takes
the wall time from spawn to reaping (time.perf_counter_ns), and from the kernel's
wait4() rusage the CPU time (user + system) and the peak resident set size, the same
numbers `/usr/bin/time -v` prints as "Maximum resident set size" (for a process that
starts helpers, like `docker` starting its buildx plugin, wait4 reports the largest
peak among the process and its reaped descendants).

Prints one JSON object: {"wall_ms": [...], "cpu_ms": [...], "rss_kb": [...], "median_wall_ms",
"min_wall_ms", "median_cpu_ms", "max_rss_kb"}.
"""

import json
import os
import statistics
import subprocess
import sys
import time


def main(argv):
    if "--" not in argv:
        sys.stderr.write(__doc__)
        return 2
    cut = argv.index("--")
    opts, cmd = argv[1:cut], argv[cut + 1 :]
    runs, cwd = int(opts[0]), opts[1]
    env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    wall, cpu, rss = [], [], []
    for _ in range(runs):
        with open(os.devnull, "wb") as null:
            t0 = time.perf_counter_ns()
            p = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=null, stderr=null)
            _, status, ru = os.wait4(p.pid, 0)
            t1 = time.perf_counter_ns()
            p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            sys.stderr.write("measure.py: %s exited %d in %s\n" % (" ".join(cmd), p.returncode, cwd))
            return 1
        wall.append((t1 - t0) / 1e6)
        cpu.append((ru.ru_utime + ru.ru_stime) * 1e3)
        rss.append(ru.ru_maxrss)
    out = {
        "wall_ms": [round(x, 2) for x in wall],
        "cpu_ms": [round(x, 1) for x in cpu],
        "rss_kb": rss,
        "median_wall_ms": round(statistics.median(wall), 2),
        "min_wall_ms": round(min(wall), 2),
        "median_cpu_ms": round(statistics.median(cpu), 1),
        "max_rss_kb": max(rss),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
