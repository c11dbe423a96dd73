package dev.syrup.daemon;

import java.lang.annotation.Annotation;

/** The {@link DeploymentManager} configuration the tests run syrupd with: clang from PATH, their own directories. */
public final class DaemonConfig {

    private DaemonConfig() {
    }

    public static DeploymentManager.Config of(String workDir, String bpffsRoot) {
        return of(workDir, bpffsRoot, 16, 64L << 20);
    }

    /** With these tenant limits. */
    public static DeploymentManager.Config of(String workDir, String bpffsRoot, int maxTenantDeployments, long maxTenantMapBytes) {
        return new DeploymentManager.Config() {
            @Override
            public Class<? extends Annotation> annotationType() {
                return DeploymentManager.Config.class;
            }

            @Override
            public String clang() {
                return "clang";
            }

            @Override
            public String workDir() {
                return workDir;
            }

            @Override
            public String bpffsRoot() {
                return bpffsRoot;
            }

            @Override
            public int maxTenantDeployments() {
                return maxTenantDeployments;
            }

            @Override
            public long maxTenantMapBytes() {
                return maxTenantMapBytes;
            }
        };
    }
}
