# Summary of bench/maps.sh (POSIX awk): reads machine.txt (key=value), the C baseline's raw lines
# (op,rep,ns_per_op) and JMH's CSV; writes summary.md to stdout and the table to the file `csv`.

FILENAME ~ /machine\.txt$/ { i = index($0, "="); m[substr($0, 1, i - 1)] = substr($0, i + 1); next }

FILENAME ~ /c-raw\.csv$/ { split($0, f, ","); n[f[1]]++; cv[f[1], n[f[1]]] = f[3] + 0; next }

FILENAME ~ /jmh\.csv$/ && FNR > 1 {
    gsub(/"/, ""); split($0, f, ",")
    name = f[1]; sub(/^.*\.MapBench\./, "", name)
    if (name ~ /:gc\.alloc\.rate\.norm$/) { sub(/:.*/, "", name); alloc[name] = f[5] + 0 }
    else if (name !~ /:/) { score[name] = f[5] + 0; err[name] = f[6] }
}

function median(op,    k, j, t, a, c) {
    c = n[op]
    for (k = 1; k <= c; k++) a[k] = cv[op, k]
    for (k = 2; k <= c; k++) for (j = k; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    cmin[op] = a[1]; cmax[op] = a[c]
    return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
}

function fmt(x) { return x >= 100 ? sprintf("%.0f", x) : sprintf("%.2f", x) }

END {
    nops = split("arrayLookup arrayUpdate hashLookup hashUpdate mmapGetLong mmapAddAndGet " \
                 "rawArrayLookupBytes rawArrayLookupPointer rawArrayUpdatePointer", ops, " ")
    base["rawArrayLookupBytes"] = base["rawArrayLookupPointer"] = "arrayLookup"
    base["rawArrayUpdatePointer"] = "arrayUpdate"
    for (op in n) cmed[op] = median(op)

    print "# Maps benchmark"
    print ""
    printf "Machine: %s cores, %s, kernel %s; %s; libbpf %s.  \n", m["cores"], m["cpu"], m["kernel"], m["java"], m["libbpf"]
    print "Settings: " m["settings"] "."
    print ""
    print "Java: JMH average time (± 99.9% CI), allocation per op from `-prof gc`. C: median over both runs (min–max)."
    print "Ratio = Java / C on the same operation and map shape. Goals: syscall path Java/C ≤ 1.15;"
    print "mmap path ≤ 20 ns (getLong) and ≤ 30 ns (addAndGet), absolute."
    print ""
    print "| operation | Java ns/op | Java B/op | C ns/op | Java/C | goal | met |"
    print "|---|---|---|---|---|---|---|"
    print "op,java_ns_per_op,java_error_ns,java_bytes_per_op,c_op,c_median_ns_per_op,c_min_ns,c_max_ns,java_over_c,goal,met" > csv
    for (k = 1; k <= nops; k++) {
        op = ops[k]; b = (op in base) ? base[op] : op
        if (!(op in score) || !(b in cmed)) { printf "| %s | missing | | | | | |\n", op; continue }
        r = score[op] / cmed[b]
        if (op == "mmapGetLong") { goal = "<= 20 ns"; met = score[op] <= 20 }
        else if (op == "mmapAddAndGet") { goal = "<= 30 ns"; met = score[op] <= 30 }
        else if (op ~ /^raw/) { goal = "diagnostic"; met = -1 }
        else { goal = "Java/C <= 1.15"; met = r <= 1.15 }
        mt = met < 0 ? "" : (met ? "yes" : "NO")
        cname = b == op ? "" : " (C " b ")"
        printf "| %s%s | %s ± %s | %.0f | %s (%s–%s) | %.2f | %s | %s |\n", op, cname, fmt(score[op]), fmt(err[op] + 0),
            alloc[op], fmt(cmed[b]), fmt(cmin[b]), fmt(cmax[b]), r, goal, mt
        printf "%s,%.3f,%s,%.1f,%s,%.3f,%.3f,%.3f,%.3f,%s,%s\n", op, score[op], err[op], alloc[op], b, cmed[b],
            cmin[b], cmax[b], r, goal, mt > csv
    }
    if ("rawArrayLookupBytes" in score && "rawArrayLookupPointer" in score) {
        print ""
        print "Where BpfMap.lookup(int) on the ARRAY spends its time beyond C (differences of means; each is"
        print "subject to the CIs above):"
        print ""
        printf "- libbpf call through jnr-ffi with native memory (rawArrayLookupPointer − C): %+.0f ns\n", \
            score["rawArrayLookupPointer"] - cmed["arrayLookup"]
        printf "- jnr-ffi byte[] marshalling, @In key + @Out value (rawArrayLookupBytes − rawArrayLookupPointer): %+.0f ns\n", \
            score["rawArrayLookupBytes"] - score["rawArrayLookupPointer"]
        printf "- BpfMap's own per-call work (arrayLookup − rawArrayLookupBytes): %+.0f ns, %.0f B/op allocated\n", \
            score["arrayLookup"] - score["rawArrayLookupBytes"], alloc["arrayLookup"]
    }
    if ("rawArrayUpdatePointer" in score)
        printf "- update: BpfMap.update(int,long) − rawArrayUpdatePointer: %+.0f ns, %.0f B/op allocated\n", \
            score["arrayUpdate"] - score["rawArrayUpdatePointer"], alloc["arrayUpdate"]
}
