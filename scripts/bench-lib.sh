# Shared by the apply benchmarks (sourced, not run).

# median VALUE...: the median with two decimals, ignoring FAIL; n/a when nothing is left.
median() { python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:] if x!="FAIL"]; print(f"{statistics.median(v):.2f}" if v else "n/a")' "$@"; }

# measure_rss DIR CMD...: runs CMD in DIR under /usr/bin/time and prints "SECONDS PEAK_MIB",
# or FAIL (with the output's last lines on stderr). The output is kept in DIR/last.log.
measure_rss() {
    local dir=$1
    shift
    if (cd "$dir" && /usr/bin/time -f '%e %M' -o "$dir/time" "$@") >"$dir/last.log" 2>&1; then
        awk '{ printf "%.2f %.0f\n", $1, $2 / 1024 }' "$dir/time"
    else
        echo FAIL
        tail -n 5 "$dir/last.log" >&2
    fi
}
