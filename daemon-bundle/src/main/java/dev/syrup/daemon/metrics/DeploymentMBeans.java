package dev.syrup.daemon.metrics;

import dev.syrup.api.Deployer;
import dev.syrup.api.Deployment;
import dev.syrup.api.DeploymentStats;
import dev.syrup.api.SyrupException;
import java.lang.management.ManagementFactory;
import java.util.Hashtable;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javax.management.InstanceAlreadyExistsException;
import javax.management.InstanceNotFoundException;
import javax.management.JMException;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import javax.management.StandardMBean;

/**
 * Registers one {@link DeploymentStatsMXBean} per deployment in the platform MBeanServer (the
 * one Karaf's JMX connector serves, and jconsole/jcmd see), from deploy to undeploy.
 * Registration problems are logged, never thrown: metrics must not fail a deployment.
 */
public final class DeploymentMBeans {

    public static final String DOMAIN = "dev.syrup";

    private static final System.Logger LOG = System.getLogger(DeploymentMBeans.class.getName());

    private final MBeanServer server;
    private final Map<String, ObjectName> registered = new ConcurrentHashMap<>();

    public DeploymentMBeans() {
        this(ManagementFactory.getPlatformMBeanServer());
    }

    public DeploymentMBeans(MBeanServer server) {
        this.server = server;
    }

    /** {@code dev.syrup:type=Deployment,id=d1,hook=socket_select,port=9000[,iface=eth0]}. */
    public static ObjectName name(Deployment d) {
        Hashtable<String, String> props = new Hashtable<>();
        props.put("type", "Deployment");
        props.put("id", value(d.id()));
        props.put("hook", d.hook());
        props.put("port", Integer.toString(d.target().port()));
        d.target().iface().ifPresent(i -> props.put("iface", value(i)));
        try {
            return new ObjectName(DOMAIN, props);
        } catch (JMException e) {
            throw new IllegalArgumentException("no ObjectName for deployment " + d.id() + ": " + e.getMessage(), e);
        }
    }

    private static String value(String v) {
        return v.matches("[A-Za-z0-9_.@-]+") ? v : ObjectName.quote(v);
    }

    /** Registers (or, for a replaced deployment, re-registers) the deployment's MBean. */
    public void register(Deployment d, Deployer deployer) {
        ObjectName name = name(d);
        unregister(d.id());
        try {
            server.registerMBean(new StandardMBean(new Bean(d, deployer), DeploymentStatsMXBean.class, true), name);
            registered.put(d.id(), name);
        } catch (InstanceAlreadyExistsException e) {
            LOG.log(System.Logger.Level.WARNING, "MBean " + name + " already exists (another syrupd in this JVM?)");
        } catch (JMException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot register MBean " + name + ": " + e);
        }
    }

    public void unregister(String id) {
        ObjectName name = registered.remove(id);
        if (name == null) {
            return;
        }
        try {
            server.unregisterMBean(name);
        } catch (InstanceNotFoundException e) {
            // already gone
        } catch (JMException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot unregister MBean " + name + ": " + e);
        }
    }

    public void unregisterAll() {
        for (String id : registered.keySet()) {
            unregister(id);
        }
    }

    private static final class Bean implements DeploymentStatsMXBean {
        private final Deployment d;
        private final Deployer deployer;

        Bean(Deployment d, Deployer deployer) {
            this.d = d;
            this.deployer = deployer;
        }

        private DeploymentStats stats() {
            try {
                return deployer.stats(d.id());
            } catch (SyrupException e) {
                return null;
            }
        }

        @Override
        public String getId() {
            return d.id();
        }

        @Override
        public String getHook() {
            return d.hook();
        }

        @Override
        public String getTarget() {
            return d.target().toString();
        }

        @Override
        public String getPolicy() {
            // the policy can be replaced: ask for the current one
            return deployer.list().stream().filter(x -> x.id().equals(d.id())).findFirst()
                    .map(Deployment::policy).orElse(d.policy());
        }

        @Override
        public String getOwner() {
            return d.owner();
        }

        @Override
        public long[] getExecutorDecisions() {
            DeploymentStats s = stats();
            return s == null ? new long[0] : s.executors().stream().mapToLong(Long::longValue).toArray();
        }

        @Override
        public long getPass() {
            DeploymentStats s = stats();
            return s == null ? -1 : s.pass();
        }

        @Override
        public long getDrop() {
            DeploymentStats s = stats();
            return s == null ? -1 : s.drop();
        }

        @Override
        public long getOther() {
            DeploymentStats s = stats();
            return s == null ? -1 : s.other();
        }

        @Override
        public long getDecisions() {
            DeploymentStats s = stats();
            return s == null ? -1 : s.decisions();
        }
    }
}
