package dev.syrup.api;

/** What a policy schedules. */
public enum InputKind {
    /** A raw network packet; the policy sees it from the Ethernet header. */
    PACKET,
    /** A UDP datagram; the policy sees it from the UDP header. */
    DATAGRAM,
    /** A new TCP connection; the policy sees its SYN from the TCP header. */
    CONNECTION,
    /** A runnable thread. */
    THREAD;

    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
