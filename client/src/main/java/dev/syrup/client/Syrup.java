package dev.syrup.client;

import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.TestResult;
import dev.syrup.client.internal.Unix;
import java.io.IOException;
import java.nio.channels.DatagramChannel;
import java.nio.channels.NetworkChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A connection to syrupd's control socket (paper §3.1 ②, §4.3). syrupd identifies this process by
 * the socket's peer credentials: the application is {@code uid-<uid>} ({@code admin} for uid 0).
 * What an application deploys lives as long as its process (not this connection): when the
 * process exits, syrupd removes its deployments, Maps and pins. One request at a time travels on a
 * connection; the methods are thread-safe.
 */
public final class Syrup implements AutoCloseable {

    /** Where syrupd listens unless configured otherwise. */
    public static final Path DEFAULT_SOCKET = Path.of("/run/syrup/syrupd.sock");

    private final Unix unix;
    private final Path socket;
    private int fd;
    private final String application;

    private Syrup(Path socket) throws SyrupException {
        this.socket = socket;
        this.unix = Unix.get();
        try {
            this.fd = unix.connect(socket);
        } catch (IOException e) {
            throw new SyrupException(Kind.UNAVAILABLE, "cannot reach syrupd at " + socket + ": " + e.getMessage(), e);
        }
        try {
            this.application = call(Message.request(Message.HELLO), null).get("app").orElse("?");
        } catch (SyrupException | RuntimeException e) {
            close(); // refused (e.g. LIMIT: too many connections of this uid): no descriptor left behind
            throw e;
        }
    }

    /** Connects to {@link #DEFAULT_SOCKET}. */
    public static Syrup connect() throws SyrupException {
        return new Syrup(DEFAULT_SOCKET);
    }

    public static Syrup connect(Path socket) throws SyrupException {
        return new Syrup(socket);
    }

    /** The application name syrupd knows this process by. */
    public String application() {
        return application;
    }

    /**
     * Deploys the policy in the C file {@code policy} (its text is sent; syrupd compiles it).
     *
     * @param defines {@code -D} definitions (name to value)
     */
    public PolicyHandle deployPolicy(Path policy, String hook, Protocol protocol, int port, Map<String, String> defines)
            throws SyrupException {
        return deployPolicy(policy, hook, protocol, port, defines, false);
    }

    /** As {@link #deployPolicy(Path, String, Protocol, int, Map)}; {@code replace} swaps the policy of this application's deployment on the same port. */
    public PolicyHandle deployPolicy(Path policy, String hook, Protocol protocol, int port, Map<String, String> defines,
                                     boolean replace) throws SyrupException {
        String text;
        try {
            text = Files.readString(policy, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new SyrupException(Kind.NOT_FOUND, "cannot read policy " + policy + ": " + e.getMessage(), e);
        }
        Message m = Message.request(Message.DEPLOY).add("source", text)
                .add("name", policy.getFileName().toString());
        return deploy(m, hook, protocol, port, defines, replace);
    }

    /**
     * Deploys the policy in {@code policy} at a packet hook ({@code xdp_skb}, {@code xdp_drv}, ...)
     * on interface {@code iface}: the policy sees the packets to {@code protocol/port} arriving
     * there. The executors (e.g. {@link XdpSocket}s) are registered afterwards, so pass
     * {@code NUM_EXECUTORS} in {@code defines}.
     */
    public PolicyHandle deployPolicy(Path policy, String hook, Protocol protocol, int port, String iface,
                                     Map<String, String> defines, boolean replace) throws SyrupException {
        String text;
        try {
            text = Files.readString(policy, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new SyrupException(Kind.NOT_FOUND, "cannot read policy " + policy + ": " + e.getMessage(), e);
        }
        Message m = Message.request(Message.DEPLOY).add("source", text)
                .add("name", policy.getFileName().toString()).add("iface", iface);
        return deploy(m, hook, protocol, port, defines, replace);
    }

    /** Deploys one of syrupd's built-in policies ({@code round_robin}, {@code hash}, {@code sita}). */
    public PolicyHandle deployBuiltin(String name, String hook, Protocol protocol, int port, Map<String, String> defines,
                                      boolean replace) throws SyrupException {
        return deploy(Message.request(Message.DEPLOY).add("policy", name), hook, protocol, port, defines, replace);
    }

    private PolicyHandle deploy(Message m, String hook, Protocol protocol, int port, Map<String, String> defines,
                                boolean replace) throws SyrupException {
        m.add("hook", hook).add("protocol", protocol.label()).add("port", port).add("replace", replace ? 1 : 0);
        for (Map.Entry<String, String> d : new TreeMap<>(defines).entrySet()) {
            m.add("define", d.getKey() + "=" + d.getValue());
        }
        Message r = call(m, null);
        return new PolicyHandle(this, DeploymentInfo.parse(r.require("deployment")));
    }

    /**
     * Runs the policy in the C file {@code policy} on inputs in the kernel without deploying it
     * (BPF_PROG_TEST_RUN; nothing is attached), compiled for {@code hook} as a deploy would compile
     * it: what it decides for each input, to check a policy before deploying it.
     *
     * @param executors how many executors it schedules onto ({@code NUM_EXECUTORS})
     * @param requests  inputs as requests: {@code GET}, {@code SCAN,user=3}, {@code GET,key=42}
     *                  (UDP to port 9000, each from its own source port)
     * @param frames    inputs as Ethernet frames (e.g. from {@link dev.syrup.api.TestPackets#pcap})
     * @param count     inputs in all, going round the requests then the frames (0: each once; at most 4096)
     * @param maps      Map contents to seed: Map name to (key to value)
     */
    public TestResult testPolicy(Path policy, String hook, int executors, Map<String, String> defines, List<String> requests,
            List<byte[]> frames, int count, Map<String, Map<Long, Long>> maps) throws SyrupException {
        String text;
        try {
            text = Files.readString(policy, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new SyrupException(Kind.NOT_FOUND, "cannot read policy " + policy + ": " + e.getMessage(), e);
        }
        return test(Message.request(Message.TEST).add("source", text).add("name", policy.getFileName().toString()), hook,
                executors, defines, requests, frames, count, maps);
    }

    /** As {@link #testPolicy}, for one of syrupd's built-in policies. */
    public TestResult testBuiltin(String name, String hook, int executors, Map<String, String> defines, List<String> requests,
            List<byte[]> frames, int count, Map<String, Map<Long, Long>> maps) throws SyrupException {
        return test(Message.request(Message.TEST).add("policy", name), hook, executors, defines, requests, frames, count, maps);
    }

    private TestResult test(Message m, String hook, int executors, Map<String, String> defines, List<String> requests,
            List<byte[]> frames, int count, Map<String, Map<Long, Long>> maps) throws SyrupException {
        m.add("hook", hook).add("executors", executors).add("count", count);
        for (Map.Entry<String, String> d : new TreeMap<>(defines).entrySet()) {
            m.add("define", d.getKey() + "=" + d.getValue());
        }
        requests.forEach(r -> m.add("request", r));
        frames.forEach(f -> m.add("frame", java.util.HexFormat.of().formatHex(f)));
        for (Map.Entry<String, Map<Long, Long>> e : maps.entrySet()) {
            if (!e.getValue().isEmpty()) {
                m.add("map", e.getKey() + "=" + e.getValue().entrySet().stream()
                        .map(kv -> Long.toUnsignedString(kv.getKey()) + ":" + Long.toUnsignedString(kv.getValue()))
                        .collect(java.util.stream.Collectors.joining(",")));
            }
        }
        Message r = call(m, null);
        String decisions = r.require("decisions");
        List<Integer> out = new ArrayList<>();
        try {
            for (String d : decisions.isEmpty() ? new String[0] : decisions.split(",")) {
                out.add(TestResult.parse(d));
            }
            return new TestResult(out, Double.parseDouble(r.require("ns_per_decision")),
                    Long.parseLong(r.require("timed_runs")), r.require("program"));
        } catch (NumberFormatException e) {
            throw new SyrupException(Kind.INVALID, "syrupd's TEST reply does not parse: " + e.getMessage(), e);
        }
    }

    /** This application's deployments (all of them for {@code admin}). */
    public List<DeploymentInfo> list() throws SyrupException {
        List<DeploymentInfo> out = new ArrayList<>();
        for (String d : call(Message.request(Message.LIST), null).all("deployment")) {
            out.add(DeploymentInfo.parse(d));
        }
        return out;
    }

    public void undeploy(String id) throws SyrupException {
        call(Message.request(Message.UNDEPLOY).add("id", id), null);
    }

    /**
     * Puts {@code channel} (a {@link DatagramChannel}, {@link ServerSocketChannel} or
     * {@link SocketChannel} of this process, bound to the deployment's port) at {@code index} of
     * the deployment's executors. syrupd duplicates it from this process (pidfd_getfd).
     */
    public void registerSocket(PolicyHandle policy, NetworkChannel channel, int index) throws SyrupException {
        registerSocket(policy.id(), channel, index);
    }

    public void registerSocket(String deploymentId, NetworkChannel channel, int index) throws SyrupException {
        int channelFd = ChannelFds.fdOf(channel);
        call(Message.request(Message.REGISTER_SOCKET).add("id", deploymentId).add("index", index).add("fd", channelFd), null);
    }

    /**
     * Registers thread {@code tid} of this process as an input of a {@code thread_scheduler}
     * deployment and returns its index (the key of per-thread Maps); {@code tid} 0 registers
     * every thread this process has now and returns how many. syrupd refuses (DENIED) a thread
     * of another process or uid.
     */
    public int registerThread(String deploymentId, int tid) throws SyrupException {
        Message m = call(Message.request(Message.REGISTER_THREAD).add("id", deploymentId).add("tid", tid), null);
        return Integer.parseInt(m.get(tid == 0 ? "threads" : "index").orElse("0"));
    }

    /** The calling thread's kernel thread id (from /proc/thread-self), for {@link #registerThread}. */
    public static int currentTid() {
        try {
            Path link = Files.readSymbolicLink(Path.of("/proc/thread-self"));
            return Integer.parseInt(link.getFileName().toString());
        } catch (IOException | NumberFormatException e) {
            throw new IllegalStateException("cannot read /proc/thread-self: " + e.getMessage(), e);
        }
    }

    /**
     * Puts the AF_XDP socket {@code socket} at {@code index} of the executors of an
     * {@code xdp_skb}/{@code xdp_drv} deployment (its XSKMAP); syrupd duplicates it from this
     * process (pidfd_getfd). It receives only what arrives on the queue it is bound to.
     */
    public void registerSocket(String deploymentId, XdpSocket socket, int index) throws SyrupException {
        registerSocketFd(deploymentId, socket.fd(), index);
    }

    /**
     * Puts the socket with descriptor number {@code fd} in this process at {@code index} (for
     * sockets not opened through NIO, e.g. by native code). syrupd looks the number up in the
     * calling process only.
     */
    public void registerSocketFd(String deploymentId, int fd, int index) throws SyrupException {
        call(Message.request(Message.REGISTER_SOCKET).add("id", deploymentId).add("index", index).add("fd", fd), null);
    }

    /**
     * The descriptor number of {@code channel} (a {@link DatagramChannel}, {@link ServerSocketChannel}
     * or {@link SocketChannel} bound to a port) in this process, found without reflection through
     * /proc (see {@link #registerSocket(PolicyHandle, NetworkChannel, int)}); for code that hands
     * sockets to native libraries or orders them, e.g. by inode as socket_select adopts them.
     */
    public static int fdOf(NetworkChannel channel) throws SyrupException {
        return ChannelFds.fdOf(channel);
    }

    /** Opens a Map the policy declares; ARRAY Maps made {@code BPF_F_MMAPABLE} come back mmap'ed. */
    public ClientMap openMap(PolicyHandle policy, String name) throws SyrupException {
        return openMap(policy.id(), name);
    }

    public ClientMap openMap(String deploymentId, String name) throws SyrupException {
        int[] fdOut = {-1};
        Message r = call(Message.request(Message.OPEN_MAP).add("id", deploymentId).add("map", name), fdOut);
        return ClientMap.open(this, deploymentId, r, fdOut[0]);
    }

    /** Sends one request and reads its reply (and a descriptor passed with it into {@code fdOut[0]}). */
    synchronized Message call(Message request, int[] fdOut) throws SyrupException {
        if (fd < 0) {
            throw new SyrupException(Kind.INVALID, "connection to syrupd is closed");
        }
        int[] passed = {-1};
        Message reply;
        IOException unsent = null;
        try {
            unix.writeFully(fd, request.encode());
        } catch (Unix.PeerClosed e) {
            // syrupd answered and closed before the request went out (a refused connection: LIMIT):
            // its answer says why
            unsent = e;
        } catch (IOException e) {
            throw new SyrupException(Kind.UNAVAILABLE, "syrupd at " + socket + ": " + e.getMessage(), e);
        }
        try {
            byte[] header = new byte[Message.HEADER];
            unix.readFully(fd, header, Message.HEADER, passed);
            int len = Message.bodyLength(header);
            byte[] body = new byte[len];
            unix.readFully(fd, body, len, passed);
            reply = Message.decode(body, len);
        } catch (IOException e) {
            if (passed[0] >= 0) {
                unix.close(passed[0]);
            }
            IOException cause = unsent != null ? unsent : e;
            throw new SyrupException(Kind.UNAVAILABLE, "syrupd at " + socket + ": " + cause.getMessage(), cause);
        }
        if (unsent != null) {
            if (passed[0] >= 0) {
                unix.close(passed[0]);
            }
            reply.orThrow(); // the error syrupd sent
            throw new SyrupException(Kind.UNAVAILABLE, "syrupd at " + socket + ": " + unsent.getMessage(), unsent);
        }
        if (fdOut != null) {
            fdOut[0] = passed[0];
        } else if (passed[0] >= 0) {
            unix.close(passed[0]);
        }
        try {
            return reply.orThrow();
        } catch (SyrupException e) {
            if (fdOut != null && fdOut[0] >= 0) {
                unix.close(fdOut[0]);
                fdOut[0] = -1;
            }
            throw e;
        }
    }

    /** Closes the connection; deployments stay until {@link PolicyHandle#undeploy()} or the process exits. */
    @Override
    public synchronized void close() {
        if (fd >= 0) {
            unix.close(fd);
            fd = -1;
        }
    }
}
