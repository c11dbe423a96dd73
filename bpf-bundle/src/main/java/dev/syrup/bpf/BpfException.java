package dev.syrup.bpf;

/**
 * A failed BPF or system call: the operation, the errno number and its symbolic name, e.g.
 * {@code "bpf_map_update_elem(fd 7): EEXIST (17) File exists"}.
 */
public class BpfException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String operation;
    private final int errno;

    public BpfException(String operation, int errno) {
        this(operation, errno, null);
    }

    protected BpfException(String operation, int errno, String detail) {
        super(operation + ": " + Errno.describe(errno) + (detail == null ? "" : "\n" + detail));
        this.operation = operation;
        this.errno = errno;
    }

    /** The failed call and its subject, e.g. {@code bpf_obj_pin(/sys/fs/bpf/x)}. */
    public String operation() {
        return operation;
    }

    /** The positive errno value. */
    public int errno() {
        return errno;
    }

    /** The symbolic errno name, e.g. {@code "EACCES"}, or {@code "errno 4711"} when unknown. */
    public String errnoName() {
        return Errno.name(errno);
    }
}
