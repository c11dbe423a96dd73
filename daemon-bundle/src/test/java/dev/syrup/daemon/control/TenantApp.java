package dev.syrup.daemon.control;

import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.client.ClientMap;
import dev.syrup.client.DeploymentInfo;
import dev.syrup.client.Syrup;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.stream.Collectors;

/**
 * A small application run in its own JVM (as another uid by the tests): it opens SO_REUSEPORT
 * UDP sockets, talks to syrupd only through {@link Syrup}, and is driven by one command per line
 * on stdin, answering {@code OK ...} or {@code ERR <KIND> <message>} on stdout.
 */
public final class TenantApp {

    private final List<DatagramChannel> sockets = new ArrayList<>();
    private AtomicLongArray counts = new AtomicLongArray(0);
    private Syrup syrup;
    private ClientMap map;
    private Path socket;
    /** More connections to syrupd ({@code connect}). */
    private final List<Syrup> extra = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        new TenantApp().run(Path.of(args[0]));
    }

    private void run(Path socket) throws Exception {
        this.socket = socket;
        syrup = Syrup.connect(socket);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        System.out.println("OK " + syrup.application() + " " + ProcessHandle.current().pid());
        String line;
        while ((line = in.readLine()) != null) {
            String[] a = line.trim().split(" ");
            try {
                System.out.println("OK " + execute(a));
            } catch (SyrupException e) {
                System.out.println("ERR " + e.kind() + " " + e.getMessage().replace('\n', ' '));
            } catch (Exception e) {
                System.out.println("ERR EXCEPTION " + e.toString().replace('\n', ' '));
            }
            System.out.flush();
        }
    }

    private String execute(String[] a) throws Exception {
        switch (a[0]) {
            case "open": // open <n>: n sockets on 127.0.0.1, one new port
            case "openat": { // openat <address> <port> <n>: n sockets there
                boolean at = a[0].equals("openat");
                int n = Integer.parseInt(a[at ? 3 : 1]);
                String address = at ? a[1] : "127.0.0.1";
                int port = at ? Integer.parseInt(a[2]) : 0;
                for (int i = 0; i < n; i++) {
                    DatagramChannel ch = DatagramChannel.open();
                    ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
                    ch.bind(new InetSocketAddress(address, port));
                    port = ((InetSocketAddress) ch.getLocalAddress()).getPort();
                    sockets.add(ch);
                }
                // socket_select adopts a group's sockets in ascending inode order (creation order only
                // within one CPU's inode batch): index them that way, so socket i is executor i.
                List<DatagramChannel> created = new ArrayList<>(sockets.subList(sockets.size() - n, sockets.size()));
                sockets.removeAll(created);
                Map<DatagramChannel, Long> inode = new java.util.HashMap<>();
                for (DatagramChannel ch : created) {
                    String link = Files.readSymbolicLink(Path.of("/proc/self/fd/" + Syrup.fdOf(ch))).toString();
                    inode.put(ch, Long.parseLong(link.substring(8, link.length() - 1)));
                }
                created.sort(java.util.Comparator.comparingLong(inode::get));
                sockets.addAll(created);
                counts = new AtomicLongArray(n);
                for (int i = 0; i < n; i++) {
                    int idx = i;
                    Thread t = new Thread(() -> drain(idx));
                    t.setDaemon(true);
                    t.start();
                }
                return Integer.toString(port);
            }
            case "deploy": { // deploy <file|builtin> <port> [replace]
                boolean replace = a.length > 3 && a[3].equals("replace");
                int port = Integer.parseInt(a[2]);
                Path p = Path.of(a[1]);
                return (Files.exists(p)
                        ? syrup.deployPolicy(p, "socket_select", Protocol.UDP, port, Map.of(), replace)
                        : syrup.deployBuiltin(a[1], "socket_select", Protocol.UDP, port, Map.of(), replace)).id();
            }
            case "deployat": { // deployat <hook> <file> <port> <iface> [NAME=VALUE ...]
                Map<String, String> defines = new java.util.HashMap<>();
                for (int i = 5; i < a.length; i++) {
                    defines.put(a[i].substring(0, a[i].indexOf('=')), a[i].substring(a[i].indexOf('=') + 1));
                }
                return syrup.deployPolicy(Path.of(a[2]), a[1], Protocol.UDP, Integer.parseInt(a[3]), a[4], defines, false).id();
            }
            case "connect": { // connect <n>: n more connections; answers how many opened, then the first refusal
                int n = Integer.parseInt(a[1]);
                int opened = 0;
                String refusal = "";
                for (int i = 0; i < n; i++) {
                    try {
                        extra.add(Syrup.connect(socket));
                        opened++;
                    } catch (SyrupException e) {
                        refusal = e.kind() + " " + e.getMessage().replace('\n', ' ');
                        break;
                    }
                }
                return opened + " " + refusal;
            }
            case "disconnect-extra":
                for (Syrup s : extra) {
                    s.close();
                }
                extra.clear();
                return "";
            case "deploythread": { // deploythread <file|builtin> <port>: at thread_scheduler
                Path p = Path.of(a[1]);
                int port = Integer.parseInt(a[2]);
                return (Files.exists(p) ? syrup.deployPolicy(p, "thread_scheduler", Protocol.UDP, port, Map.of(), false)
                        : syrup.deployBuiltin(a[1], "thread_scheduler", Protocol.UDP, port, Map.of(), false)).id();
            }
            case "spawn": { // a thread that parks until the process exits; prints its tid
                java.util.concurrent.CompletableFuture<Integer> tid = new java.util.concurrent.CompletableFuture<>();
                Thread t = new Thread(() -> {
                    tid.complete(Syrup.currentTid());
                    while (true) {
                        java.util.concurrent.locks.LockSupport.parkNanos(1_000_000_000L);
                    }
                });
                t.setDaemon(true);
                t.start();
                return Integer.toString(tid.get());
            }
            case "regthread": // regthread <id> <tid>: 0 = every thread of this process
                return Integer.toString(syrup.registerThread(a[1], Integer.parseInt(a[2])));
            case "register": // register <id> <index> <socket>
                syrup.registerSocket(a[1], sockets.get(Integer.parseInt(a[3])), Integer.parseInt(a[2]));
                return "";
            case "registerfd": // registerfd <id> <index> <fd number>
                syrup.registerSocketFd(a[1], Integer.parseInt(a[3]), Integer.parseInt(a[2]));
                return "";
            case "test": { // test <file|builtin> <executors> <count> <request;request...> [map spec]: the decisions
                Path p = Path.of(a[1]);
                List<String> requests = List.of(a[4].split(";"));
                Map<String, Map<Long, Long>> maps = a.length > 5 ? dev.syrup.api.TestPackets.seeds(List.of(a[5])) : Map.of();
                int executors = Integer.parseInt(a[2]);
                int count = Integer.parseInt(a[3]);
                dev.syrup.api.TestResult r = Files.exists(p)
                        ? syrup.testPolicy(p, "socket_select", executors, Map.of(), requests, List.of(), count, maps)
                        : syrup.testBuiltin(a[1], "socket_select", executors, Map.of(), requests, List.of(), count, maps);
                return r.decisions().stream().map(dev.syrup.api.TestResult::label).collect(Collectors.joining(","));
            }
            case "undeploy":
                syrup.undeploy(a[1]);
                return "";
            case "list":
                return syrup.list().stream().map(DeploymentInfo::format).map(s -> s.replace('\t', ','))
                        .collect(Collectors.joining(" "));
            case "counts": {
                StringBuilder sb = new StringBuilder();
                for (int i = 0; i < counts.length(); i++) {
                    sb.append(i == 0 ? "" : " ").append(counts.get(i));
                }
                return sb.toString();
            }
            case "reset":
                for (int i = 0; i < counts.length(); i++) {
                    counts.set(i, 0);
                }
                return "";
            case "openmap": // openmap <id> <name>
                map = syrup.openMap(a[1], a[2]);
                return map.mapped() ? "mapped" : "daemon";
            case "get":
                return map.lookup(Integer.parseInt(a[1])).stream().mapToObj(Long::toString).findFirst().orElse("none");
            case "set":
                map.update(Integer.parseInt(a[1]), Long.parseLong(a[2]));
                return "";
            case "add":
                return Long.toString(map.addAndGet(Integer.parseInt(a[1]), Long.parseLong(a[2])));
            case "bench": { // bench <key> <n>: ns per mmap'ed read and per atomic add
                int key = Integer.parseInt(a[1]);
                int n = Integer.parseInt(a[2]);
                long sink = 0;
                for (int w = 0; w < 3; w++) {
                    for (int i = 0; i < n; i++) {
                        sink += map.get(key);
                    }
                }
                long t0 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    sink += map.get(key);
                }
                long t1 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    map.addAndGet(key, 1);
                }
                long t2 = System.nanoTime();
                map.addAndGet(key, -n);
                for (int i = 0; i < 2000; i++) { // warm both sides up
                    syrup.list();
                }
                long t3 = System.nanoTime();
                for (int i = 0; i < 2000; i++) {
                    syrup.list();
                }
                long t4 = System.nanoTime();
                return String.format(java.util.Locale.ROOT, "%.2f %.2f %.1f %d", (t1 - t0) / (double) n,
                        (t2 - t1) / (double) n, (t4 - t3) / 2000.0 / 1000.0, sink & 1);
            }
            case "disconnect":
                syrup.close();
                return "";
            case "exit":
                Runtime.getRuntime().halt(0);
                return "";
            default:
                throw new IllegalArgumentException("unknown command " + a[0]);
        }
    }

    private void drain(int idx) {
        ByteBuffer buf = ByteBuffer.allocate(2048);
        try {
            while (true) {
                buf.clear();
                sockets.get(idx).receive(buf);
                counts.incrementAndGet(idx);
            }
        } catch (ClosedChannelException e) {
            // closed
        } catch (Exception e) {
            e.printStackTrace();
        }
    }
}
