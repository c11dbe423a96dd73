package dev.syrup.backend.ghost;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.MapType;
import dev.syrup.bpf.MappedArray;
import dev.syrup.bpf.ObjectRejectedException;
import dev.syrup.bpf.VerifierException;
import java.nio.file.Path;

/**
 * The ghOSt agent's policy ({@link GhostAgent.Decider}): a thread_scheduler policy object
 * (compiled with {@link ThreadGlue}) loaded under the hook's rules and checked by the kernel's
 * verifier, run per event with BPF_PROG_TEST_RUN as on the Linux engine; its decision is read
 * back from {@code syr_decisions}.
 */
final class VerifiedPolicy implements GhostAgent.Decider, AutoCloseable {

    private final BpfObject object;
    private final BpfMap decisions;
    private final MappedArray decided;

    VerifiedPolicy(Path compiled, int maxThreads) throws SyrupException {
        BpfMap d = BpfMap.create(MapType.ARRAY, ThreadGlue.DECISIONS_MAP, 4, 8, 2 * maxThreads, BpfMap.BPF_F_MMAPABLE);
        BpfObject obj = null;
        try {
            obj = BpfObject.open(compiled, ThreadGlue.RULES);
            obj.reuseMap(ThreadGlue.DECISIONS_MAP, d);
            obj.load();
            obj.program(ThreadGlue.RUN_PROGRAM);
            this.decided = MappedArray.map(d);
        } catch (ObjectRejectedException e) {
            close(obj, d);
            throw new SyrupException(Kind.VERIFIER, "the policy is not allowed at " + e.scope() + ":\n"
                    + String.join("\n", e.violations()), e);
        } catch (VerifierException e) {
            close(obj, d);
            throw new SyrupException(Kind.VERIFIER, "the verifier refused " + e.programName() + ": " + String.join("\n", e.reason()), e);
        } catch (BpfException | IllegalStateException | java.util.NoSuchElementException e) {
            close(obj, d);
            throw new SyrupException(Kind.KERNEL, "thread_scheduler: loading the policy failed: " + e.getMessage(), e);
        }
        this.object = obj;
        this.decisions = d;
    }

    private static void close(BpfObject obj, BpfMap d) {
        if (obj != null) {
            obj.close();
        }
        d.close();
    }

    @Override
    public int decide(int tid, int index, int event, int cpu) {
        ThreadGlue.run(object, tid, index, event, cpu, System.nanoTime());
        return (int) decided.getLong(2 * index);
    }

    /** One of the policy's Maps, by the name it declares. */
    BpfMap map(String name) {
        return object.map(name);
    }

    @Override
    public void close() {
        decided.close();
        object.close();
        decisions.close();
    }
}
