package dev.syrup.daemon.control;

import java.util.List;

/**
 * A process that deployed through the control socket: its deployments are removed when it exits.
 *
 * @param app         application name ({@code uid-<uid>}, or {@code admin})
 * @param pid         the process (from SO_PEERCRED)
 * @param deployments ids of what it deployed and is still recorded
 */
public record ApplicationProcess(String app, long pid, List<String> deployments) {
}
