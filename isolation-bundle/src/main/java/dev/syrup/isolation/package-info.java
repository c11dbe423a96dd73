/**
 * Cross-application isolation: the port-matching dispatcher ({@link dev.syrup.isolation.PortDispatcher}),
 * its root programs and the per-application slots they tail-call.
 */
package dev.syrup.isolation;
