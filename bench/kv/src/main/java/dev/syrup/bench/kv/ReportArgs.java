package dev.syrup.bench.kv;

/**
 * The command line of the reports: --csv RAW.csv --out DIR --name NAME --title T --slo-us US
 * [--baseline default] [--timeout-us 200000] and, for {@link SplitReport}, [--token-rate R].
 */
record ReportArgs(String csv, String out, String name, String title, String baseline, double sloUs, double timeoutUs,
                  double tokenRate) {

    static ReportArgs parse(String tool, String[] args, boolean tokenRate) {
        String csv = null, out = ".", name = "fig", title = "", baseline = "default";
        double slo = 500, timeoutUs = 200_000, rate = 0;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--csv" -> csv = args[++i];
                case "--out" -> out = args[++i];
                case "--name" -> name = args[++i];
                case "--title" -> title = args[++i];
                case "--slo-us" -> slo = Double.parseDouble(args[++i]);
                case "--baseline" -> baseline = args[++i];
                case "--timeout-us" -> timeoutUs = Double.parseDouble(args[++i]);
                case "--token-rate" -> {
                    if (!tokenRate) usage(tool, args[i]);
                    rate = Double.parseDouble(args[++i]);
                }
                default -> usage(tool, args[i]);
            }
        }
        if (csv == null) usage(tool, "(no --csv)");
        return new ReportArgs(csv, out, name, title, baseline, slo, timeoutUs, rate);
    }

    private static void usage(String tool, String bad) {
        System.err.println(tool + ": unknown argument " + bad);
        System.exit(2);
    }
}
