package dev.syrup.daemon.compile;

import dev.syrup.api.PolicyTest;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.TestResult;
import dev.syrup.hook.spi.Hook;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * {@code syrup:test} in the daemon: the policy is resolved and compiled as for a deployment (the
 * same built-ins, the same compiler and its checks), with the hook's test glue, then the hook runs
 * it on the inputs. No deployment, claim or pin is made.
 */
public final class PolicyTests {

    /** Most executors a test schedules onto. */
    public static final int MAX_EXECUTORS = 1024;

    private PolicyTests() {
    }

    /** A check of the compiled object before it is loaded (the owner's limits). */
    public interface Admission {
        void admit(Path object) throws SyrupException;
    }

    public static TestResult run(Hook hook, Builtins builtins, PolicyCompiler compiler, PolicyTest t, Admission admission)
            throws SyrupException {
        if (t.executors() < 1 || t.executors() > MAX_EXECUTORS) {
            throw new SyrupException(Kind.INVALID, "executors must be 1.." + MAX_EXECUTORS + ", not " + t.executors());
        }
        if (t.inputs().isEmpty() || t.inputs().size() > PolicyTest.MAX_INPUTS) {
            throw new SyrupException(Kind.INVALID, "a test runs 1.." + PolicyTest.MAX_INPUTS + " inputs, not " + t.inputs().size());
        }
        for (byte[] in : t.inputs()) {
            if (in.length < 14 || in.length > 9000) {
                throw new SyrupException(Kind.INVALID, "an input of " + in.length + " bytes: inputs are Ethernet frames of 14..9000 bytes");
            }
        }
        PolicySource source = builtins.resolve(t.policy());
        Map<String, String> defines = new HashMap<>(t.defines());
        defines.putIfAbsent("NUM_EXECUTORS", Integer.toString(t.executors()));
        Path object = compiler.compile(source, hook.testWrapper(PolicyCompiler.fileName(source)), defines);
        admission.admit(object);
        return hook.test(object, t.inputs(), t.maps(), t.executors());
    }
}
