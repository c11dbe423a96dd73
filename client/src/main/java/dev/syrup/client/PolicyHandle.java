package dev.syrup.client;

import dev.syrup.api.SyrupException;
import java.nio.channels.NetworkChannel;

/** A deployment this application made (paper Table 1: what {@code syr_deploy_policy} returns). */
public final class PolicyHandle {

    private final Syrup syrup;
    private final DeploymentInfo info;

    PolicyHandle(Syrup syrup, DeploymentInfo info) {
        this.syrup = syrup;
        this.info = info;
    }

    /** The deployment id, e.g. {@code d7}. */
    public String id() {
        return info.id();
    }

    /** What syrupd reported when it deployed (executors found, owner...). */
    public DeploymentInfo info() {
        return info;
    }

    /** Removes the deployment: the layer's default scheduling is back. */
    public void undeploy() throws SyrupException {
        syrup.undeploy(info.id());
    }

    /** See {@link Syrup#registerSocket(PolicyHandle, NetworkChannel, int)}. */
    public void registerSocket(NetworkChannel channel, int index) throws SyrupException {
        syrup.registerSocket(this, channel, index);
    }

    /** See {@link Syrup#registerSocket(String, XdpSocket, int)}. */
    public void registerSocket(XdpSocket socket, int index) throws SyrupException {
        syrup.registerSocket(info.id(), socket, index);
    }

    /** See {@link Syrup#registerThread(String, int)}. */
    public int registerThread(int tid) throws SyrupException {
        return syrup.registerThread(info.id(), tid);
    }

    /** Registers the calling thread; see {@link Syrup#registerThread(String, int)}. */
    public int registerCurrentThread() throws SyrupException {
        return syrup.registerThread(info.id(), Syrup.currentTid());
    }

    /** See {@link Syrup#openMap(PolicyHandle, String)}. */
    public ClientMap openMap(String name) throws SyrupException {
        return syrup.openMap(this, name);
    }

    @Override
    public String toString() {
        return "PolicyHandle[" + info + "]";
    }
}
