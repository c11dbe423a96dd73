package dev.syrup.backend.ghost;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Who a thread belongs to, from /proc: a registration names only its own process's threads. */
final class ProcThreads {

    private ProcThreads() {
    }

    /**
     * Thread {@code tid} must be a thread of process {@code pid} (its Tgid) and run as {@code uid}
     * (every one of its real, effective, saved and filesystem uids).
     *
     * @throws SyrupException {@code DENIED} otherwise, {@code NOT_FOUND} when there is no such thread
     */
    static void checkOwner(int pid, int uid, int tid) throws SyrupException {
        if (pid <= 0 || tid <= 0) {
            throw new SyrupException(Kind.INVALID, "bad pid " + pid + " or tid " + tid);
        }
        String status;
        try {
            status = Files.readString(Path.of("/proc/" + tid + "/status"));
        } catch (NoSuchFileException e) {
            throw new SyrupException(Kind.NOT_FOUND, "no thread " + tid);
        } catch (IOException e) {
            throw new SyrupException(Kind.NOT_FOUND, "thread " + tid + ": " + e.getMessage());
        }
        int tgid = -1;
        String uids = null;
        for (String line : status.split("\n")) {
            if (line.startsWith("Tgid:")) {
                tgid = Integer.parseInt(line.substring(5).trim());
            } else if (line.startsWith("Uid:")) {
                uids = line.substring(4).trim();
            }
        }
        if (tgid != pid) {
            throw new SyrupException(Kind.DENIED, "thread " + tid + " is not a thread of process " + pid);
        }
        for (String u : uids == null ? new String[] {"-1"} : uids.split("\\s+")) {
            if (Integer.parseInt(u) != uid) {
                throw new SyrupException(Kind.DENIED, "thread " + tid + " does not run as uid " + uid + " (Uid: " + uids + ")");
            }
        }
    }
}
