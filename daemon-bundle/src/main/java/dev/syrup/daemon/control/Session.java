package dev.syrup.daemon.control;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployer;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.MapType;
import dev.syrup.bpf.Pidfd;
import dev.syrup.bpf.UnixSockets;
import dev.syrup.bpf.UnixSockets.PeerCred;
import dev.syrup.client.DeploymentInfo;
import dev.syrup.client.Message;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.function.Consumer;

/** One connection: reads request frames, answers each, until the peer closes or sends garbage. */
final class Session implements Runnable {

    private static final System.Logger LOG = System.getLogger(Session.class.getName());

    private final Fd conn;
    private final Deployer deployer;
    private final TenantRules rules;
    private final StoredSources sources;
    private final ControlServer.Limits limits;
    private final Applications apps;
    private final Consumer<Session> onEnd;
    private PeerCred peer;
    private String app;
    private Fd pidfd;

    /** How often a read blocked between frames wakes up to look at the clock. */
    private static final long POLL_MILLIS = 1000;

    private final long frameMillis;
    private long frameStart;
    /** When the last frame was answered (or the connection came). */
    private long idleSince = System.nanoTime();

    /**
     * @param limits {@code frameTimeoutMillis}: how long the rest of a frame may take once its
     *     first byte came; {@code idleTimeoutMillis}: how long a client may wait between frames.
     *     Either way a client that stops would otherwise hold one of the connection slots for good.
     */
    Session(Fd conn, Deployer deployer, TenantRules rules, StoredSources sources, Applications apps,
            ControlServer.Limits limits, Consumer<Session> onEnd) {
        this.conn = conn;
        this.limits = limits;
        this.frameMillis = limits.frameTimeoutMillis();
        this.deployer = deployer;
        this.rules = rules;
        this.sources = sources;
        this.apps = apps;
        this.onEnd = onEnd;
    }

    void stop() {
        UnixSockets.shutdown(conn);
    }

    @Override
    public void run() {
        try {
            peer = UnixSockets.peerCred(conn);
            app = TenantRules.application(peer.uid());
            Thread.currentThread().setName("syrupd-control " + app + " pid " + peer.pid());
            try {
                pidfd = Pidfd.open(peer.pid());
            } catch (BpfException e) {
                // Gone already, or in another pid namespace (pid 0): it cannot be told apart.
                reply(Message.error(Kind.DENIED, "syrupd cannot identify the calling process (pid " + peer.pid()
                        + "): " + e.getMessage()), -1);
                return;
            }
            UnixSockets.readTimeout(conn, Math.min(POLL_MILLIS, Math.min(frameMillis, limits.idleTimeoutMillis())));
            serve();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "control connection of " + app + " failed", e);
        } finally {
            if (pidfd != null) {
                pidfd.close();
            }
            conn.close();
            onEnd.accept(this);
        }
    }

    private void serve() {
        byte[] header = new byte[Message.HEADER];
        while (true) {
            Message request;
            try {
                int got = readFully(header, Message.HEADER, false);
                if (got == 0) {
                    return; // clean end of stream between frames
                }
                if (got < Message.HEADER) {
                    throw new SyrupException(Kind.INVALID, "truncated frame header");
                }
                int len = Message.bodyLength(header);
                byte[] body = new byte[len];
                if (readFully(body, len, true) < len) {
                    throw new SyrupException(Kind.INVALID, "connection closed inside a frame");
                }
                request = Message.decode(body, len);
                if (request.get(Message.OP).isEmpty()) {
                    throw new SyrupException(Kind.INVALID, "a request must start with field 'op'");
                }
            } catch (SyrupException e) {
                // A malformed frame: say why, then hang up (the stream cannot be resynchronized).
                reply(Message.error(e.kind(), e.getMessage()), -1);
                return;
            }
            BpfMap[] passed = new BpfMap[1];
            Message reply;
            try {
                reply = handle(request, passed);
            } catch (SyrupException e) {
                reply = Message.error(e.kind(), e.getMessage());
            } catch (BpfException e) {
                reply = Message.error(Kind.KERNEL, e.getMessage());
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.ERROR, "request " + request.op() + " of " + app + " failed", e);
                reply = Message.error(Kind.KERNEL, "syrupd failed: " + e);
            }
            try {
                reply(reply, reply.isOk() && passed[0] != null ? passed[0].fd() : -1);
            } finally {
                if (passed[0] != null) {
                    passed[0].close();
                }
            }
            idleSince = System.nanoTime();
        }
    }

    /**
     * Reads up to {@code len} bytes, stopping early only at end of stream; returns the count.
     * {@code inFrame}: these bytes continue a frame already begun. A frame must be complete
     * {@code frameMillis} after its first byte.
     */
    private int readFully(byte[] buf, int len, boolean inFrame) throws SyrupException {
        int off = 0;
        while (off < len) {
            int n = UnixSockets.read(conn, buf, off, len - off);
            if (n == UnixSockets.TIMED_OUT) {
                if ((inFrame || off > 0) && System.nanoTime() - frameStart > frameMillis * 1_000_000L) {
                    throw new SyrupException(Kind.INVALID, "frame not completed within " + frameMillis + " ms of its first byte");
                }
                if (!inFrame && off == 0 && System.nanoTime() - idleSince > limits.idleTimeoutMillis() * 1_000_000L) {
                    throw new SyrupException(Kind.LIMIT, "connection idle for more than " + limits.idleTimeoutMillis()
                            + " ms, the most a connection may wait between requests (setting idleTimeoutMillis of "
                            + ControlServer.PID + "); its deployments stay: reconnect to go on");
                }
                continue; // idle between frames, or a frame still within its time
            }
            if (n == 0) {
                break;
            }
            if (!inFrame && off == 0) {
                frameStart = System.nanoTime();
            }
            off += n;
        }
        return off;
    }

    private void reply(Message m, int passed) {
        byte[] frame;
        try {
            frame = m.encode();
        } catch (IllegalArgumentException e) {
            // A reply larger than a frame (a LIST of very many deployments): say so instead of hanging up.
            frame = Message.error(Kind.INVALID, "the reply does not fit one frame: " + e.getMessage()).encode();
            passed = -1;
        }
        try {
            UnixSockets.sendWithFd(conn, frame, passed);
        } catch (BpfException e) {
            // the peer went away; the read loop ends next
        }
    }

    private boolean admin() {
        return TenantRules.isAdmin(peer.uid());
    }

    private Message handle(Message r, BpfMap[] passOut) throws SyrupException {
        switch (r.op()) {
            case Message.HELLO:
                return Message.ok().add("app", app).add("uid", Integer.toUnsignedString(peer.uid()))
                        .add("gid", Integer.toUnsignedString(peer.gid())).add("pid", peer.pid()).add("protocol", 1);
            case Message.DEPLOY:
                return deploy(r);
            case Message.UNDEPLOY: {
                Deployment d = owned(r.require("id"));
                deployer.undeploy(d.id());
                apps.remove(d.id());
                sources.ended(d.id());
                return Message.ok();
            }
            case Message.LIST: {
                Message m = Message.ok();
                for (Deployment d : deployer.list()) {
                    if (admin() || d.owner().equals(app)) {
                        m.add("deployment", info(d).format());
                    }
                }
                return m;
            }
            case Message.REGISTER_SOCKET: {
                Deployment d = owned(r.require("id"));
                int index = (int) r.requireLong("index", 0, Integer.MAX_VALUE);
                int fd = (int) r.requireLong("fd", 0, Integer.MAX_VALUE);
                // The fd is looked up in the caller's own process: another process's numbers mean nothing here.
                deployer.registerExecutor(d.id(), index, peer.pid(), fd);
                return Message.ok();
            }
            case Message.REGISTER_THREAD:
                return registerThread(r);
            case Message.OPEN_MAP:
                return openMap(r, passOut);
            case Message.MAP_LOOKUP: {
                OptionalLong v = map(r).lookup(key(r));
                return v.isPresent() ? Message.ok().add("found", 1).add("value", Long.toUnsignedString(v.getAsLong()))
                        : Message.ok().add("found", 0);
            }
            case Message.MAP_UPDATE:
                map(r).update(key(r), r.requireU64("value"));
                return Message.ok();
            case Message.MAP_DELETE:
                return Message.ok().add("found", map(r).delete(key(r)) ? 1 : 0);
            case Message.MAP_DUMP: {
                Message m = Message.ok();
                int size = 0;
                for (Map.Entry<Integer, Long> e : map(r).dump().entrySet()) {
                    String entry = Integer.toUnsignedString(e.getKey()) + "=" + Long.toUnsignedString(e.getValue());
                    size += entry.length() + 11;
                    if (size > Message.MAX_BODY - 1024) {
                        throw new SyrupException(Kind.INVALID, "map too large to dump in one reply; look keys up instead");
                    }
                    m.add("entry", entry);
                }
                return m;
            }
            case Message.TEST:
                // Any application may test: nothing is deployed, claimed or attached.
                return test(r);
            default:
                throw new SyrupException(Kind.INVALID, "unknown op '" + r.op() + "'");
        }
    }

    /**
     * REGISTER_THREAD: a thread of the caller's own process (the hook checks the tgid and uid in
     * /proc against the caller's SO_PEERCRED), or with tid 0 every thread it has now.
     */
    private Message registerThread(Message r) throws SyrupException {
        Deployment d = owned(r.require("id"));
        int tid = (int) r.requireLong("tid", 0, Integer.MAX_VALUE);
        if (tid != 0) {
            return Message.ok().add("index", deployer.registerThread(d.id(), peer.pid(), peer.uid(), tid));
        }
        int n = 0;
        java.nio.file.Path task = java.nio.file.Path.of("/proc/" + peer.pid() + "/task");
        try (java.nio.file.DirectoryStream<java.nio.file.Path> ds = java.nio.file.Files.newDirectoryStream(task)) {
            for (java.nio.file.Path t : ds) {
                try {
                    deployer.registerThread(d.id(), peer.pid(), peer.uid(), Integer.parseInt(t.getFileName().toString()));
                    n++;
                } catch (SyrupException e) {
                    if (e.kind() != Kind.NOT_FOUND) { // a thread that ended meanwhile is not an error
                        throw e;
                    }
                }
            }
        } catch (java.io.IOException e) {
            throw new SyrupException(Kind.NOT_FOUND, "cannot list the threads of process " + peer.pid() + ": " + e.getMessage());
        }
        return Message.ok().add("threads", n);
    }

    private Message deploy(Message r) throws SyrupException {
        String hook = r.require("hook");
        Protocol protocol = Protocol.parse(r.require("protocol"));
        int port = (int) r.requireLong("port", 1, 65535);
        boolean replace = "1".equals(r.get("replace").orElse("0"));
        Map<String, String> defines = new LinkedHashMap<>();
        for (String d : r.all("define")) {
            int eq = d.indexOf('=');
            defines.put(eq < 0 ? d : d.substring(0, eq), eq < 0 ? "" : d.substring(eq + 1));
        }
        String text = r.get("source").orElse(null);
        String policy = null;
        if (text != null) {
            if (!admin()) {
                PolicySources.checkIncludes(text);
            }
        } else {
            policy = r.require("policy");
            if (!deployer.builtins().contains(policy) && !admin()) {
                throw new SyrupException(Kind.DENIED, "'" + policy + "' is not a built-in policy ("
                        + String.join(", ", deployer.builtins()) + "); send the policy's text instead of a path");
            }
        }
        // Packet hooks (xdp_skb, xdp_drv, ...) also name the interface whose traffic they see.
        java.util.Optional<String> iface = r.get("iface").filter(i -> !i.isEmpty());
        if (!admin()) {
            // Tenant rules: syrupd's network namespace (the one the hooks act in), only on a port a
            // socket of the caller's own process is bound to, only on interfaces the administrator
            // lets tenants use. The hook checks the port's sockets again where it adopts them.
            rules.checkNetns(peer.pid());
            rules.checkPort(peer.pid(), peer.uid(), protocol, port);
            if (iface.isPresent() && !limits.tenantInterfaces().contains(iface.get())) {
                throw new SyrupException(Kind.DENIED, "interface " + iface.get() + " is not one tenants may use"
                        + (limits.tenantInterfaces().isEmpty() ? " (none is)" : " (" + String.join(", ",
                        new java.util.TreeSet<>(limits.tenantInterfaces())) + ")") + ": the administrator allows"
                        + " interfaces for packet hooks with setting tenantInterfaces of " + ControlServer.PID);
            }
        }
        // After the /proc reads above: the process they looked at is still the caller (no pid reuse).
        if (Pidfd.poll(new int[] {pidfd.get()}, 0)[0]) {
            throw new SyrupException(Kind.DENIED, "the calling process has exited");
        }
        // Stored only once the checks passed; removed when no deployment or deploy needs it.
        if (!admin()) {
            sources.retain(() -> deployer.list().stream().map(Deployment::id).toList());
        }
        java.nio.file.Path file = text == null ? null : sources.write(app, r.get("name").orElse("policy.c"), text);
        Deployment d;
        try {
            d = deployer.deploy(new DeployRequest(file != null ? file.toString() : policy, hook,
                    new Target(protocol, port, iface), defines, replace, app,
                    admin() ? OptionalInt.empty() : OptionalInt.of(peer.uid())));
            sources.committed(file, d.id());
        } finally {
            if (file != null) {
                sources.abandoned(file);
            }
        }
        try {
            // The deployment lives as long as the process that made it or, after a replace, replaced it.
            apps.remove(d.id());
            apps.add(peer.pid(), app, d.id());
        } catch (RuntimeException e) {
            deployer.undeploy(d.id());
            sources.ended(d.id());
            throw new SyrupException(Kind.KERNEL, "cannot watch process " + peer.pid() + ": " + e.getMessage(), e);
        }
        return Message.ok().add("deployment", info(d).format());
    }

    /**
     * TEST: the policy as DEPLOY takes it (a tenant's text under the include rules, stored only for
     * the test and removed after it; a built-in; an administrator's path), run on the inputs.
     */
    private Message test(Message r) throws SyrupException {
        String text = r.get("source").orElse(null);
        String policy = null;
        if (text != null) {
            if (!admin()) {
                PolicySources.checkIncludes(text);
            }
        } else {
            policy = r.require("policy");
            if (!deployer.builtins().contains(policy) && !admin()) {
                throw new SyrupException(Kind.DENIED, "'" + policy + "' is not a built-in policy ("
                        + String.join(", ", deployer.builtins()) + "); send the policy's text instead of a path");
            }
        }
        java.nio.file.Path file = text == null ? null : sources.write(app, r.get("name").orElse("policy.c"), text);
        try {
            return TestOp.run(r, file != null ? file.toString() : policy, deployer, app);
        } finally {
            if (file != null) {
                sources.abandoned(file);
            }
        }
    }

    private Message openMap(Message r, BpfMap[] passOut) throws SyrupException {
        SyrupMap m = map(r);
        Message reply = Message.ok().add("name", m.name()).add("type", m.type()).add("key_size", m.keySize())
                .add("value_size", m.valueSize()).add("max_entries", m.maxEntries())
                .add("path", m.pinnedPath().orElse(""));
        boolean mmapable = false;
        int flags = 0;
        if (m.pinnedPath().isPresent()) {
            // A duplicate of the map syrupd holds (never what a path leads to now), kept open
            // until the reply carrying it has been sent.
            BpfMap kernel = BpfMap.adopt(Fd.adopt(m.duplicateFd()));
            passOut[0] = kernel;
            flags = kernel.flags();
            mmapable = kernel.type() == MapType.ARRAY && (flags & BpfMap.BPF_F_MMAPABLE) != 0;
        }
        return reply.add("flags", flags).add("mmapable", mmapable ? 1 : 0).add("fd_attached", passOut[0] != null ? 1 : 0);
    }

    private Deployment owned(String id) throws SyrupException {
        for (Deployment d : deployer.list()) {
            if (d.id().equals(id)) {
                TenantRules.checkOwner(app, d);
                return d;
            }
        }
        throw new SyrupException(Kind.NOT_FOUND, "no deployment '" + id + "'");
    }

    private SyrupMap map(Message r) throws SyrupException {
        Deployment d = owned(r.require("id"));
        return deployer.map(d.id(), r.require("map"), dev.syrup.api.map.MapEvent.Origin.CLIENT); // its changes are the application's
    }

    private static int key(Message r) throws SyrupException {
        return (int) r.requireLong("key", 0, 0xffffffffL);
    }

    private static DeploymentInfo info(Deployment d) {
        return new DeploymentInfo(d.id(), d.hook(), d.target().protocol(), d.target().port(), d.owner(), d.executors(),
                d.replaced(), d.policy());
    }

}
