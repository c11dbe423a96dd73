package dev.syrup.daemon.metrics;

import dev.syrup.api.Deployer;
import dev.syrup.api.Deployment;
import dev.syrup.api.DeploymentStats;
import dev.syrup.api.SyrupException;

/**
 * The Prometheus text exposition (format 0.0.4) of every deployment's decision counters:
 *
 * <pre>
 * syrup_decisions_total{id="d1",hook="socket_select",port="9000",proto="udp",policy="round_robin",owner="admin",outcome="executor",executor="0"} 1000
 * syrup_decisions_total{...,outcome="pass"} 0
 * syrup_decisions_total{...,outcome="drop"} 0
 * syrup_decisions_total{...,outcome="other"} 0
 * syrup_deployment_executors{...} 4
 * </pre>
 */
public final class PrometheusText {

    public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private PrometheusText() {}

    public static String render(Deployer deployer) {
        StringBuilder decisions = new StringBuilder();
        StringBuilder executors = new StringBuilder();
        for (Deployment d : deployer.list()) {
            DeploymentStats s;
            try {
                s = deployer.stats(d.id());
            } catch (SyrupException e) {
                continue; // undeployed meanwhile, or a hook that keeps no counters
            }
            String labels = labels(d);
            for (int i = 0; i < s.executors().size(); i++) {
                line(decisions, labels + ",outcome=\"executor\",executor=\"" + i + "\"", s.executors().get(i));
            }
            line(decisions, labels + ",outcome=\"pass\"", s.pass());
            line(decisions, labels + ",outcome=\"drop\"", s.drop());
            line(decisions, labels + ",outcome=\"other\"", s.other());
            line(executors, labels, d.executors());
        }
        return "# HELP syrup_decisions_total Decisions of a deployment's policy since it was deployed, by outcome and executor.\n"
                + "# TYPE syrup_decisions_total counter\n" + decisions
                + "# HELP syrup_deployment_executors Executors of a deployment.\n"
                + "# TYPE syrup_deployment_executors gauge\n" + executors;
    }

    private static String labels(Deployment d) {
        StringBuilder b = new StringBuilder();
        label(b, "id", d.id());
        label(b, "hook", d.hook());
        label(b, "port", Integer.toString(d.target().port()));
        label(b, "proto", d.target().protocol().label());
        d.target().iface().ifPresent(i -> label(b, "iface", i));
        label(b, "policy", d.policy());
        label(b, "owner", d.owner());
        return b.toString();
    }

    private static void label(StringBuilder b, String name, String value) {
        if (b.length() > 0) {
            b.append(',');
        }
        b.append(name).append("=\"")
                .append(value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")).append('"');
    }

    private static void line(StringBuilder out, String labels, long value) {
        out.append(labels.contains("outcome=") ? "syrup_decisions_total{" : "syrup_deployment_executors{")
                .append(labels).append("} ").append(value).append('\n');
    }
}
