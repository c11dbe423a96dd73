package dev.syrup.api;

import dev.syrup.api.SyrupException.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;

/**
 * Inputs for {@link PolicyTest}: Ethernet/IPv4/UDP frames around a payload, the payload of a
 * request in the format of {@code syrup.h} ({@code struct syr_request}, then a u64 key), and the
 * frames of a pcap file.
 */
public final class TestPackets {

    /** The frames' addresses: from 10.0.0.2 to 10.0.0.1. */
    static final byte[] SRC_IP = {10, 0, 0, 2}, DST_IP = {10, 0, 0, 1};
    private static final int ETH = 14, IP = 20, UDP = 8;
    private static final int LINKTYPE_ETHERNET = 1, LINKTYPE_RAW = 101, LINKTYPE_IPV4 = 228;

    private TestPackets() {
    }

    /** An Ethernet/IPv4/UDP frame carrying {@code payload} from {@code srcPort} to {@code dstPort}. */
    public static byte[] udp(byte[] payload, int srcPort, int dstPort) {
        ByteBuffer b = ByteBuffer.allocate(ETH + IP + UDP + payload.length).order(ByteOrder.BIG_ENDIAN);
        b.put(new byte[] {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2}).putShort((short) 0x0800);
        b.put((byte) 0x45).put((byte) 0).putShort((short) (IP + UDP + payload.length)).putShort((short) 0)
                .putShort((short) 0x4000).put((byte) 64).put((byte) 17).putShort((short) 0).put(SRC_IP).put(DST_IP);
        b.putShort(ETH + 10, checksum(b.array(), ETH, IP));
        b.putShort((short) srcPort).putShort((short) dstPort).putShort((short) (UDP + payload.length)).putShort((short) 0);
        b.put(payload);
        return b.array();
    }

    /**
     * A request's payload, as {@code syrup.h} has it: type (u32), user id (u32), key (u64), all
     * little-endian. Parses {@code GET}, {@code SCAN}, or either followed by {@code ,user=N} and
     * {@code ,key=K}.
     */
    public static byte[] request(String spec) throws SyrupException {
        String[] parts = spec.split(",");
        int type = switch (parts[0].strip().toUpperCase(Locale.ROOT)) {
            case "GET" -> 0;
            case "SCAN" -> 1;
            default -> throw new SyrupException(Kind.INVALID, "request '" + spec + "': expected GET or SCAN, then ,user=N or ,key=K");
        };
        long user = 0;
        long key = 0;
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i].strip();
            int eq = p.indexOf('=');
            String name = eq < 0 ? p : p.substring(0, eq);
            try {
                long v = Long.parseUnsignedLong(eq < 0 ? "" : p.substring(eq + 1));
                switch (name) {
                    case "user" -> {
                        if (v > 0xffffffffL) {
                            throw new NumberFormatException();
                        }
                        user = v;
                    }
                    case "key" -> key = v;
                    default -> throw new SyrupException(Kind.INVALID, "request '" + spec + "': unknown field '" + name
                            + "' (user, key)");
                }
            } catch (NumberFormatException e) {
                throw new SyrupException(Kind.INVALID, "request '" + spec + "': " + name + " must be an unsigned number"
                        + (name.equals("user") ? " below 2^32" : ""));
            }
        }
        return ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(type).putInt((int) user).putLong(key).array();
    }

    /** Bytes from hex ({@code 00 01 ff}, {@code 0001ff}; spaces and colons ignored). */
    public static byte[] hex(String text) throws SyrupException {
        String digits = text.replaceAll("[\\s:]", "");
        try {
            return HexFormat.of().parseHex(digits);
        } catch (IllegalArgumentException e) {
            throw new SyrupException(Kind.INVALID, "not hex bytes: '" + text + "'");
        }
    }

    /**
     * The frames of a pcap file (classic format, either byte order, µs or ns): Ethernet frames as
     * they are; raw IPv4 packets (link types 101, 228) get an Ethernet header.
     */
    public static List<byte[]> pcap(Path file) throws SyrupException {
        byte[] all;
        try {
            all = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new SyrupException(Kind.NOT_FOUND, "cannot read pcap " + file + ": " + e.getMessage(), e);
        }
        return pcap(all, file.toString());
    }

    /** The frames of a pcap file's contents; {@code name} is for messages. */
    public static List<byte[]> pcap(byte[] all, String name) throws SyrupException {
        if (all.length < 24) {
            throw new SyrupException(Kind.INVALID, name + " is not a pcap file (too short)");
        }
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        int magic = b.getInt(0);
        if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1) {
            b.order(ByteOrder.BIG_ENDIAN);
        } else if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
            throw new SyrupException(Kind.INVALID, name + " is not a pcap file (magic " + Integer.toHexString(magic)
                    + "; pcapng is not read: convert it with editcap -F pcap)");
        }
        int link = b.getInt(20) & 0xffff;
        if (link != LINKTYPE_ETHERNET && link != LINKTYPE_RAW && link != LINKTYPE_IPV4) {
            throw new SyrupException(Kind.INVALID, name + ": link type " + link + " is not read (Ethernet 1, raw IPv4 101/228)");
        }
        List<byte[]> frames = new ArrayList<>();
        int off = 24;
        while (off + 16 <= all.length) {
            int caplen = b.getInt(off + 8);
            if (caplen < 0 || off + 16 + caplen > all.length) {
                throw new SyrupException(Kind.INVALID, name + ": record " + (frames.size() + 1) + " is truncated");
            }
            byte[] data = new byte[caplen];
            System.arraycopy(all, off + 16, data, 0, caplen);
            frames.add(link == LINKTYPE_ETHERNET ? data : ethernet(data));
            off += 16 + caplen;
            if (frames.size() > PolicyTest.MAX_INPUTS) {
                throw new SyrupException(Kind.INVALID, name + " holds more than " + PolicyTest.MAX_INPUTS + " packets");
            }
        }
        if (frames.isEmpty()) {
            throw new SyrupException(Kind.INVALID, name + " holds no packets");
        }
        return frames;
    }

    /** A pcap file (Ethernet, µs) of {@code frames}: what {@link #pcap} reads, for tools and tests. */
    public static byte[] toPcap(List<byte[]> frames) {
        int size = 24 + frames.stream().mapToInt(f -> 16 + f.length).sum();
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0xa1b2c3d4).putShort((short) 2).putShort((short) 4).putInt(0).putInt(0).putInt(65535).putInt(LINKTYPE_ETHERNET);
        int t = 0;
        for (byte[] f : frames) {
            b.putInt(1_700_000_000).putInt(t++).putInt(f.length).putInt(f.length).put(f);
        }
        return b.array();
    }

    private static byte[] ethernet(byte[] ip) {
        byte[] f = new byte[ETH + ip.length];
        f[12] = 0x08;
        System.arraycopy(ip, 0, f, ETH, ip.length);
        return f;
    }

    private static short checksum(byte[] a, int off, int len) {
        int sum = 0;
        for (int i = off; i < off + len; i += 2) {
            sum += ((a[i] & 0xff) << 8) | (a[i + 1] & 0xff);
        }
        while ((sum >> 16) != 0) {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        return (short) ~sum;
    }

    /** Source port of generated input {@code i}: each input its own flow, as many flows as a port range holds. */
    public static int sourcePort(int i) {
        return 10000 + i % 50000;
    }

    /**
     * A test's inputs: the requests ({@link #request} specs) and payloads (hex) as UDP frames to
     * {@code port}, then {@code frames} as they are; {@code count} inputs in all (0: one of each),
     * going round the list. Generated input {@code i} comes from {@link #sourcePort}{@code (i)}.
     */
    public static List<byte[]> inputs(List<String> requests, List<String> payloads, List<byte[]> frames, int count, int port)
            throws SyrupException {
        if (port < 1 || port > 65535) {
            throw new SyrupException(Kind.INVALID, "port out of range: " + port);
        }
        List<byte[]> base = new ArrayList<>();
        List<Boolean> generated = new ArrayList<>();
        for (String r : requests) {
            base.add(request(r));
            generated.add(true);
        }
        for (String h : payloads) {
            base.add(hex(h));
            generated.add(true);
        }
        for (byte[] f : frames) {
            base.add(f);
            generated.add(false);
        }
        if (base.isEmpty()) {
            throw new SyrupException(Kind.INVALID, "no inputs: give --request, --hex or --pcap");
        }
        int n = count == 0 ? base.size() : count;
        if (n < 0 || n > PolicyTest.MAX_INPUTS) {
            throw new SyrupException(Kind.INVALID, "count must be 1.." + PolicyTest.MAX_INPUTS + ", not " + count);
        }
        List<byte[]> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int j = i % base.size();
            out.add(generated.get(j) ? udp(base.get(j), sourcePort(i), port) : base.get(j));
        }
        return out;
    }

    /**
     * Map seeds from {@code NAME=key:value,key:value,...} (unsigned decimal, or hex with 0x), one
     * Map per spec; a Map named twice gets both lists.
     */
    public static java.util.Map<String, java.util.Map<Long, Long>> seeds(List<String> specs) throws SyrupException {
        java.util.Map<String, java.util.Map<Long, Long>> out = new java.util.LinkedHashMap<>();
        for (String spec : specs) {
            int eq = spec.indexOf('=');
            String name = eq < 0 ? "" : spec.substring(0, eq).strip();
            if (name.isEmpty() || eq == spec.length() - 1) {
                throw new SyrupException(Kind.INVALID, "bad --map '" + spec + "' (expected NAME=key:value,key:value,...)");
            }
            java.util.Map<Long, Long> entries = out.computeIfAbsent(name, k -> new java.util.LinkedHashMap<>());
            for (String kv : spec.substring(eq + 1).split(",")) {
                int colon = kv.indexOf(':');
                if (colon < 0) {
                    throw new SyrupException(Kind.INVALID, "bad --map entry '" + kv + "' in '" + spec + "' (expected key:value)");
                }
                long key = number(kv.substring(0, colon), spec);
                if (key > 0xffffffffL) {
                    throw new SyrupException(Kind.INVALID, "--map " + name + ": key " + Long.toUnsignedString(key) + " is not a u32");
                }
                entries.put(key, number(kv.substring(colon + 1), spec));
            }
        }
        return out;
    }

    private static long number(String s, String spec) throws SyrupException {
        String t = s.strip();
        try {
            return t.startsWith("0x") || t.startsWith("0X") ? Long.parseUnsignedLong(t.substring(2), 16) : Long.parseUnsignedLong(t);
        } catch (NumberFormatException e) {
            throw new SyrupException(Kind.INVALID, "'" + s + "' in --map '" + spec + "' is not an unsigned number");
        }
    }
}
