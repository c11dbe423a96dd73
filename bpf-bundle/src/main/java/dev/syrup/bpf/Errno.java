package dev.syrup.bpf;

/** Linux errno names and messages (asm-generic numbers, as on x86_64 and aarch64). */
public final class Errno {

    private Errno() {}

    public static final int EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EBADF = 9, EAGAIN = 11, ENOMEM = 12,
            EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17, ENODEV = 19, ENOTDIR = 20, EINVAL = 22,
            ENOSPC = 28, E2BIG = 7, ERANGE = 34, ENOSYS = 38, ENOTSUP = 95, EOPNOTSUPP = 95, ENOTSOCK = 88,
            ENOTSUPP = 524, EXDEV = 18, EISDIR = 21, ENOTEMPTY = 39, ELOOP = 40;

    private static final String[][] TABLE = new String[600][];

    static {
        def(1, "EPERM", "Operation not permitted");
        def(2, "ENOENT", "No such file or directory");
        def(3, "ESRCH", "No such process");
        def(4, "EINTR", "Interrupted system call");
        def(5, "EIO", "Input/output error");
        def(6, "ENXIO", "No such device or address");
        def(7, "E2BIG", "Argument list too long");
        def(8, "ENOEXEC", "Exec format error");
        def(9, "EBADF", "Bad file descriptor");
        def(10, "ECHILD", "No child processes");
        def(11, "EAGAIN", "Resource temporarily unavailable");
        def(12, "ENOMEM", "Cannot allocate memory");
        def(13, "EACCES", "Permission denied");
        def(14, "EFAULT", "Bad address");
        def(16, "EBUSY", "Device or resource busy");
        def(17, "EEXIST", "File exists");
        def(18, "EXDEV", "Invalid cross-device link");
        def(19, "ENODEV", "No such device");
        def(20, "ENOTDIR", "Not a directory");
        def(21, "EISDIR", "Is a directory");
        def(22, "EINVAL", "Invalid argument");
        def(23, "ENFILE", "Too many open files in system");
        def(24, "EMFILE", "Too many open files");
        def(25, "ENOTTY", "Inappropriate ioctl for device");
        def(27, "EFBIG", "File too large");
        def(28, "ENOSPC", "No space left on device");
        def(30, "EROFS", "Read-only file system");
        def(34, "ERANGE", "Numerical result out of range");
        def(36, "ENAMETOOLONG", "File name too long");
        def(38, "ENOSYS", "Function not implemented");
        def(39, "ENOTEMPTY", "Directory not empty");
        def(40, "ELOOP", "Too many levels of symbolic links");
        def(61, "ENODATA", "No data available");
        def(71, "EPROTO", "Protocol error");
        def(75, "EOVERFLOW", "Value too large for defined data type");
        def(88, "ENOTSOCK", "Socket operation on non-socket");
        def(92, "ENOPROTOOPT", "Protocol not available");
        def(93, "EPROTONOSUPPORT", "Protocol not supported");
        def(95, "EOPNOTSUPP", "Operation not supported");
        def(97, "EAFNOSUPPORT", "Address family not supported by protocol");
        def(98, "EADDRINUSE", "Address already in use");
        def(99, "EADDRNOTAVAIL", "Cannot assign requested address");
        def(100, "ENETDOWN", "Network is down");
        def(110, "ETIMEDOUT", "Connection timed out");
        def(111, "ECONNREFUSED", "Connection refused");
        def(524, "ENOTSUPP", "Operation is not supported (kernel-internal ENOTSUPP)");
    }

    private static void def(int n, String name, String msg) {
        if (n >= 0 && n < TABLE.length) {
            TABLE[n] = new String[] {name, msg};
        }
    }

    /** e.g. {@code "EACCES"}; {@code "errno N"} when unknown. */
    public static String name(int errno) {
        String[] e = lookup(errno);
        return e != null ? e[0] : libbpfName(errno);
    }

    /** e.g. {@code "EACCES (13) Permission denied"}. */
    public static String describe(int errno) {
        String[] e = lookup(errno);
        if (e != null) {
            return e[0] + " (" + errno + ") " + e[1];
        }
        return libbpfName(errno) + " (" + errno + ")";
    }

    private static String[] lookup(int errno) {
        return errno >= 0 && errno < 550 ? TABLE[errno] : null;
    }

    private static String libbpfName(int errno) {
        switch (errno) {
            case 4000: return "LIBBPF_ERRNO__LIBELF";
            case 4001: return "LIBBPF_ERRNO__FORMAT";
            case 4002: return "LIBBPF_ERRNO__KVERSION";
            case 4003: return "LIBBPF_ERRNO__ENDIAN";
            case 4004: return "LIBBPF_ERRNO__INTERNAL";
            case 4005: return "LIBBPF_ERRNO__RELOC";
            case 4006: return "LIBBPF_ERRNO__LOAD";
            case 4007: return "LIBBPF_ERRNO__VERIFY";
            case 4008: return "LIBBPF_ERRNO__PROG2BIG";
            case 4009: return "LIBBPF_ERRNO__KVER";
            case 4010: return "LIBBPF_ERRNO__PROGTYPE";
            case 4011: return "LIBBPF_ERRNO__WRNGPID";
            case 4012: return "LIBBPF_ERRNO__INVSEQ";
            case 4013: return "LIBBPF_ERRNO__NLPARSE";
            default: return "errno " + errno;
        }
    }
}
