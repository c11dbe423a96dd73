package dev.syrup.daemon;

import java.lang.reflect.Proxy;
import java.util.HashMap;
import java.util.Map;

/**
 * The {@link DeploymentManager} configuration the tests run syrupd with: clang from PATH, their
 * own directories, every other setting at its default unless given.
 */
public final class DaemonConfig {

    private DaemonConfig() {
    }

    public static DeploymentManager.Config of(String workDir, String bpffsRoot) {
        return of(workDir, bpffsRoot, Map.of());
    }

    /** With these tenant limits. */
    public static DeploymentManager.Config of(String workDir, String bpffsRoot, int maxTenantDeployments, long maxTenantMapBytes) {
        return of(workDir, bpffsRoot, Map.of("maxTenantDeployments", maxTenantDeployments, "maxTenantMapBytes", maxTenantMapBytes));
    }

    /** With {@code settings} (attribute name to value) over the defaults. */
    public static DeploymentManager.Config of(String workDir, String bpffsRoot, Map<String, Object> settings) {
        Map<String, Object> values = new HashMap<>(settings);
        values.put("workDir", workDir);
        values.put("bpffsRoot", bpffsRoot);
        return (DeploymentManager.Config) Proxy.newProxyInstance(DaemonConfig.class.getClassLoader(),
                new Class<?>[] {DeploymentManager.Config.class}, (proxy, m, args) -> switch (m.getName()) {
                    case "annotationType" -> DeploymentManager.Config.class;
                    case "toString" -> "DaemonConfig" + values;
                    case "hashCode" -> values.hashCode();
                    case "equals" -> proxy == args[0];
                    default -> values.containsKey(m.getName()) ? values.get(m.getName()) : m.getDefaultValue();
                });
    }
}
