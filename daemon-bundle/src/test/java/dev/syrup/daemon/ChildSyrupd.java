package dev.syrup.daemon;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.dispatch.Dispatcher;
import dev.syrup.isolation.PortDispatcher;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A syrupd in a process of its own, so that a test can kill it with SIGKILL: the manager, the
 * dispatcher pinning under {@code <bpffs root>/dispatch} and the socket_select hook, as the
 * distribution wires them, driven by lines on stdin ({@code deploy POLICY PORT [OWNER]},
 * {@code undeploy ID}, {@code list}, {@code stop}), each answered by one line {@code ok ...} or
 * {@code error ...} on stdout. {@link Handle} starts and drives one from a test.
 */
public final class ChildSyrupd {

    private ChildSyrupd() {
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
        System.setOut(System.err); // only answers on stdout
        DeploymentManager syrupd = new DeploymentManager(DaemonConfig.of(args[0], args[1]));
        PortDispatcher dispatcher = new PortDispatcher(Path.of(args[1]).resolve(Dispatcher.PIN_DIR));
        syrupd.addHook(new SocketSelectHook(dispatcher)); // re-adopts what a killed syrupd left
        out.println("ok ready " + ids(syrupd));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            String[] w = line.trim().split(" ");
            try {
                switch (w[0]) {
                    case "deploy" -> out.println("ok " + syrupd.deploy(new DeployRequest(w[1], SocketSelectHook.NAME,
                            Target.port(Protocol.UDP, Integer.parseInt(w[2])), Map.of(), false,
                            w.length > 3 ? w[3] : DeployRequest.ADMIN)).id());
                    case "undeploy" -> {
                        syrupd.undeploy(w[1]);
                        out.println("ok");
                    }
                    case "list" -> out.println("ok " + ids(syrupd));
                    case "stop" -> {
                        syrupd.deactivate();
                        dispatcher.close();
                        out.println("ok");
                        return;
                    }
                    default -> out.println("error unknown command " + w[0]);
                }
            } catch (Exception e) {
                out.println("error " + e.getMessage().replace('\n', ' '));
            }
        }
    }

    private static String ids(DeploymentManager syrupd) {
        return String.join(",", syrupd.list().stream().map(Deployment::id).toList());
    }

    /** One child syrupd, from a test. */
    static final class Handle implements AutoCloseable {
        final Process process;
        private final BufferedReader answers;
        private final java.io.Writer commands;
        /** What the child answered when it was up (its re-adopted deployments after "ok ready"). */
        final String ready;

        private Handle(Process process) throws IOException {
            this.process = process;
            this.answers = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            this.commands = new java.io.OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
            this.ready = answer("start").substring("ready".length()).trim();
        }

        /** Starts a syrupd on {@code work} and {@code bpffs}; returns once it is up (re-adoption done). Its log goes to {@code log}. */
        static Handle start(Path work, Path bpffs, Path log) throws IOException {
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            ProcessBuilder pb = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
                    ChildSyrupd.class.getName(), work.toString(), bpffs.toString()));
            pb.redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
            return new Handle(pb.start());
        }

        String command(String line) throws IOException {
            commands.write(line + "\n");
            commands.flush();
            return answer(line);
        }

        private String answer(String what) throws IOException {
            String a = answers.readLine();
            if (a == null || !a.startsWith("ok")) {
                throw new IllegalStateException("child syrupd, on '" + what + "': " + a);
            }
            return a.substring(2).trim();
        }

        /** SIGKILL (what {@code destroyForcibly} sends on Linux): nothing of syrupd's runs or closes. */
        void kill() throws InterruptedException {
            process.destroyForcibly();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException("the child syrupd did not die");
            }
        }

        @Override
        public void close() throws Exception {
            if (process.isAlive()) {
                try {
                    command("stop");
                    process.waitFor(20, TimeUnit.SECONDS);
                } catch (IOException | RuntimeException e) {
                    // it is being killed anyway
                }
                process.destroyForcibly();
            }
        }
    }
}
