package dev.syrup.client;

import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;

/**
 * A deployment as syrupd reports it on the wire: the tab-separated fields
 * {@code id hook protocol port owner executors replaced policy} of a {@code deployment} field.
 */
public record DeploymentInfo(String id, String hook, Protocol protocol, int port, String owner, int executors,
                             int replaced, String policy) {

    /** The wire form. */
    public String format() {
        return String.join("\t", id, hook, protocol.label(), Integer.toString(port), owner,
                Integer.toString(executors), Integer.toString(replaced), policy.replace('\t', ' ').replace('\n', ' '));
    }

    public static DeploymentInfo parse(String s) throws SyrupException {
        String[] f = s.split("\t", 8);
        if (f.length != 8) {
            throw new SyrupException(Kind.INVALID, "malformed deployment record '" + s + "'");
        }
        try {
            return new DeploymentInfo(f[0], f[1], Protocol.parse(f[2]), Integer.parseInt(f[3]), f[4],
                    Integer.parseInt(f[5]), Integer.parseInt(f[6]), f[7]);
        } catch (NumberFormatException e) {
            throw new SyrupException(Kind.INVALID, "malformed deployment record '" + s + "'");
        }
    }

    @Override
    public String toString() {
        return id + " " + hook + " " + protocol.label() + "/" + port + " " + policy + " owner=" + owner
                + " executors=" + executors;
    }
}
