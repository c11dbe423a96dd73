package dev.syrup.backend.ebpf;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.KernelSupport;
import dev.syrup.bpf.MapType;
import dev.syrup.dispatch.Dispatcher;
import dev.syrup.dispatch.Dispatcher.XdpMode;
import dev.syrup.hook.kit.DecisionStats;
import dev.syrup.hook.kit.DeploymentDir;
import dev.syrup.hook.kit.KernelMap;
import dev.syrup.hook.kit.MapRegistry;
import dev.syrup.hook.kit.PolicyDeployment;
import dev.syrup.hook.kit.PolicyObjects;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A policy on one interface's (protocol, port): its packets are redirected to the executor
 * cores through a CPUMAP this deployment owns.
 *
 * <p>The CPUMAP, the index → CPU array and the per-CPU arrival counter belong to the
 * deployment and are reused by every policy version loaded into it (bpf_map__reuse_fd), so a
 * replacement keeps the cores' queues and threads and the counts. The CPUMAP entries are
 * filled at the first install with the second-stage program of that object; an entry holds
 * its own reference to that program, so it outlives the object. The decision counters
 * ({@link DecisionStats}) are the deployment's too, kept across replacements. The rest of an
 * install and close is the kit's ({@link PolicyDeployment}).
 */
final class CpuRedirectDeployment extends PolicyDeployment {

    /** The hook's own maps: never shared across deployments ({@link MapRegistry}). */
    static final java.util.Set<String> INTERNAL_MAPS = CpuRedirectHook.RULES.ownMaps().keySet();

    private final Dispatcher.Claim claim;
    private final List<Integer> cores;
    private final int qsize;
    private final BpfMap cpumap;
    private final BpfMap counter;
    private boolean cpumapFilled;

    private CpuRedirectDeployment(MapRegistry registry, Target target, DeploymentDir pinDir, Dispatcher.Claim claim, List<Integer> cores, int qsize,
                                  BpfMap cpumap, BpfMap coreOf, BpfMap counter, BpfMap stats) {
        super(target, registry, pinDir, CpuRedirectHook.RULES, CpuRedirectHook.PROGRAM, CpuRedirectHook.MAX_EXECUTORS,
                Map.of(CpuRedirectHook.CPUMAP, cpumap, CpuRedirectHook.CORES_MAP, coreOf, CpuRedirectHook.COUNTER_MAP, counter,
                        DecisionStats.MAP, stats));
        this.claim = claim;
        this.cores = cores;
        this.qsize = qsize;
        this.cpumap = cpumap;
        this.counter = counter;
    }

    static CpuRedirectDeployment open(MapRegistry registry, Dispatcher dispatcher, String owner, Target target, Path pinDir,
                                      List<Integer> cores, XdpMode mode, int qsize) throws SyrupException {
        if (cores.isEmpty()) {
            throw new SyrupException(Kind.NO_EXECUTORS, "cpu_redirect has no cores configured");
        }
        int possible = KernelSupport.possibleCpus();
        for (int c : cores) {
            if (c >= possible) {
                throw new SyrupException(Kind.INVALID, "core " + c + " does not exist (this machine has "
                        + possible + " possible CPUs); fix the cores of " + CpuRedirectHook.PID);
            }
        }
        Dispatcher.Claim claim = dispatcher.claimXdp(owner, target, mode, pinDir);
        DeploymentDir dir = new DeploymentDir(pinDir);
        List<BpfMap> made = new ArrayList<>();
        try {
            int maxCpu = cores.stream().mapToInt(Integer::intValue).max().orElseThrow();
            BpfMap cpumap = BpfMap.create(MapType.CPUMAP, CpuRedirectHook.CPUMAP, 4, 8, maxCpu + 1, 0);
            made.add(cpumap);
            BpfMap coreOf = BpfMap.create(MapType.ARRAY, CpuRedirectHook.CORES_MAP, 4, 4, cores.size(), 0);
            made.add(coreOf);
            // Pinned from the start, and taken over from a syrupd that died (its policy, left in
            // the dispatcher's slot, went on counting into it).
            BpfMap counter = PolicyObjects.pinnedOrNew(dir, BpfMap.create(MapType.ARRAY, CpuRedirectHook.COUNTER_MAP, 4, 8,
                    possible, 0));
            made.add(counter);
            BpfMap stats = DecisionStats.create(CpuRedirectHook.MAX_EXECUTORS);
            made.add(stats);
            for (int i = 0; i < cores.size(); i++) {
                coreOf.updateInt(i, cores.get(i));
            }
            return new CpuRedirectDeployment(registry, target, dir, claim, List.copyOf(cores), qsize, cpumap, coreOf, counter, stats);
        } catch (BpfException | SyrupException e) {
            made.forEach(PolicyObjects::unpinAndClose);
            PolicyObjects.abandon(dir);
            claim.close();
            throw new SyrupException(Kind.KERNEL, "cannot create the CPUMAP of " + target + ": " + e.getMessage(), e);
        }
    }

    @Override
    public int executors() {
        return cores.size();
    }

    @Override
    public synchronized List<String> describeExecutors() {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < cores.size(); i++) {
            int cpu = cores.get(i);
            String arrived = "";
            if (!isClosed()) {
                try {
                    arrived = ", " + counter.lookup(cpu).orElse(0L) + " packet(s) arrived";
                } catch (BpfException e) {
                    arrived = "";
                }
            }
            out.add(i + ": cpu " + cpu + arrived);
        }
        return out;
    }

    @Override
    protected void swap(BpfObject next, BpfProgram prog, BpfObject previous) throws SyrupException {
        if (!cpumapFilled) {
            int stage = next.program(CpuRedirectHook.STAGE_PROGRAM).fd();
            for (int cpu : cores) {
                cpumap.update(intBytes(cpu), cpumapVal(qsize, stage), BpfMap.BPF_ANY);
            }
            cpumapFilled = true;
        }
        // The swap: one PROG_ARRAY update in the interface's root dispatcher.
        claim.install(prog.fd());
    }

    @Override
    public void registerExecutor(int index, long pid, int fd) throws SyrupException {
        throw new SyrupException(Kind.INVALID, "cpu_redirect's executors are cores from its configuration ("
                + CpuRedirectHook.PID + " cores); there is nothing to register");
    }

    /** The per-CPU arrival counter the second stage keeps, shown with the policy's Maps (pinned once, as the hook's). */
    @Override
    protected List<SyrupMap> hookMaps() {
        return List.of(new KernelMap(CpuRedirectHook.COUNTER_MAP, counter));
    }

    /**
     * Empties the slot (the port's packets go back to XDP_PASS) and detaches the root with the
     * interface's last claim; then the program and the maps can go.
     */
    @Override
    protected void detach() {
        claim.close();
    }

    static byte[] intBytes(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(v).array();
    }

    /** struct bpf_cpumap_val { __u32 qsize; union { int fd; __u32 id; } bpf_prog; }. */
    static byte[] cpumapVal(int qsize, int progFd) {
        return ByteBuffer.allocate(8).order(ByteOrder.nativeOrder()).putInt(qsize).putInt(progFd).array();
    }
}
