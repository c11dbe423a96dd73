package dev.syrup.api;

import java.util.List;
import java.util.Map;

/**
 * A request to run a policy on inputs in the kernel without deploying it ({@code syrup:test},
 * the control socket's {@code TEST}): compiled with the hook's glue as for a deployment, loaded
 * (so the verifier checks it), run once per input with BPF_PROG_TEST_RUN, then unloaded. Nothing
 * is attached and no deployment is made.
 *
 * @param policy    a built-in's name or the path of a C file, as for {@link DeployRequest}
 * @param hook      the hook whose glue the policy is compiled with
 * @param defines   {@code -D} definitions; {@code NUM_EXECUTORS} is {@code executors} unless set here
 * @param executors how many executors the policy schedules onto (1..the hook's slots)
 * @param inputs    the inputs, in order: Ethernet frames ({@link TestPackets} builds them)
 * @param maps      Map contents to seed before the first input: Map name to (u32 key to u64 value)
 * @param owner     who asks ({@link DeployRequest#ADMIN} or an application), for the compile rules
 */
public record PolicyTest(String policy, String hook, Map<String, String> defines, int executors, List<byte[]> inputs,
        Map<String, Map<Long, Long>> maps, String owner) {

    /** Most inputs one test runs. */
    public static final int MAX_INPUTS = 100_000;

    public PolicyTest {
        defines = Map.copyOf(defines);
        inputs = List.copyOf(inputs);
        maps = Map.copyOf(maps);
    }
}
