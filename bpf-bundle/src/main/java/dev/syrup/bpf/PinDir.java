package dev.syrup.bpf;

import static dev.syrup.linux.LibC.AT_EMPTY_PATH;
import static dev.syrup.linux.LibC.AT_FDCWD;
import static dev.syrup.linux.LibC.AT_REMOVEDIR;
import static dev.syrup.linux.LibC.AT_SYMLINK_NOFOLLOW;
import static dev.syrup.linux.LibC.O_CLOEXEC;
import static dev.syrup.linux.LibC.O_DIRECTORY;
import static dev.syrup.linux.LibC.O_PATH;
import static dev.syrup.linux.LibC.O_RDONLY;
import static dev.syrup.linux.LibC.RESOLVE_BENEATH;
import static dev.syrup.linux.LibC.RESOLVE_NO_MAGICLINKS;
import static dev.syrup.linux.LibC.RESOLVE_NO_SYMLINKS;
import static dev.syrup.linux.LibC.RESOLVE_NO_XDEV;
import static dev.syrup.linux.LibC.STATX_BASIC_STATS;

import dev.syrup.bpf.internal.Native;
import dev.syrup.linux.Structs.BpfObjAttr;
import dev.syrup.linux.Structs.Dirent;
import dev.syrup.linux.Structs.Statfs;
import dev.syrup.linux.Structs.Statx;
import java.lang.ref.Reference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import jnr.ffi.Pointer;

/**
 * A directory (in bpffs) held open, and the pins in it, acted on through its file descriptor, as
 * cilium and Katran do: once open, nothing here resolves the directory's path again, and no call
 * follows a symbolic link. Directories are opened component by component
 * ({@code openat2(RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH)}), pins are made and opened relative to
 * the directory's fd ({@code BPF_OBJ_PIN} with {@code BPF_F_PATH_FD}, {@code BPF_OBJ_GET} of an
 * entry opened without following links), and entries are removed with {@code unlinkat}. So
 * whoever renames or replaces a directory or a pin by a link meanwhile gets nothing acted on
 * outside the tree: a link is refused ({@link Errno#ELOOP}) or, by {@link #unlink} and
 * {@link #removeTree}, removed itself.
 *
 * <p>Names are single path components. {@link #close()} is idempotent; use after close throws
 * {@link IllegalStateException}.
 */
public final class PinDir implements AutoCloseable {

    /** {@code f_type} of a bpffs (statfs). */
    public static final long BPF_FS_MAGIC = 0xcafe4a11L;
    /** {@code st_mode} file types. */
    public static final int S_IFMT = 0170000, S_IFDIR = 0040000, S_IFREG = 0100000, S_IFLNK = 0120000;

    private static final int BPF_OBJ_PIN = 6, BPF_OBJ_GET = 7, BPF_F_PATH_FD = 1 << 14, OBJ_ATTR_SIZE = BpfObjAttr.SIZE;
    private static final int DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    /** Below an open directory: no link of any kind, no other mount. */
    private static final long BELOW = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    /** A walk from / (mount points are crossed on the way to bpffs). */
    private static final long WALK = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    private static final int MAX_DEPTH = 16;
    /** Whether the kernel takes BPF_F_PATH_FD (6.5+); older ones pin through /proc/self/fd instead. */
    private static volatile boolean pathFd = true;

    /** What statx says of an entry (not following a link). */
    public record Stat(int mode, int uid, int gid, long dev, long ino) {
        public boolean isDirectory() {
            return (mode & S_IFMT) == S_IFDIR;
        }

        public boolean isLink() {
            return (mode & S_IFMT) == S_IFLNK;
        }

        /** bpffs shows pins as regular files. */
        public boolean isRegular() {
            return (mode & S_IFMT) == S_IFREG;
        }

        /** The permission bits, e.g. {@code 0700}. */
        public int permissions() {
            return mode & 07777;
        }

        public boolean sameFile(Stat other) {
            return other != null && dev == other.dev && ino == other.ino;
        }

        /** e.g. {@code "directory 0700 uid 0"}. */
        @Override
        public String toString() {
            String type = isDirectory() ? "directory" : isLink() ? "symbolic link" : isRegular() ? "file" : "special file";
            return type + " " + String.format("%04o", permissions()) + " uid " + uid;
        }
    }

    private final Path path;
    private final Fd fd;
    /** The directory holding this one ({@link #delete}), or null. */
    private final Fd parent;
    private final String name;

    private PinDir(Path path, Fd fd, Fd parent, String name) {
        this.path = path;
        this.fd = fd;
        this.parent = parent;
        this.name = name;
    }

    /**
     * Opens an existing directory by its absolute path, one component at a time from {@code /},
     * refusing any symbolic link on the way ({@link Errno#ELOOP}).
     */
    public static PinDir open(Path dir) {
        return walk(dir, -1);
    }

    /**
     * As {@link #open}, creating the missing levels with {@code mode} (e.g. {@code 0700}; the
     * process's umask applies) — {@code mkdir -p} that never follows a link.
     */
    public static PinDir create(Path dir, int mode) {
        return walk(dir, mode);
    }

    private static PinDir walk(Path dir, int mode) {
        if (!dir.isAbsolute()) {
            throw new IllegalArgumentException("not an absolute path: " + dir);
        }
        Path p = dir.normalize();
        Native n = Native.get();
        Fd parent = null;
        Fd cur = Fd.adopt(n.openat2("open /", AT_FDCWD, "/", DIR_FLAGS, RESOLVE_NO_SYMLINKS));
        try {
            Path at = p.getRoot();
            for (Path c : p) {
                String comp = c.toString();
                at = at.resolve(comp);
                Fd next = openChild(n, cur, comp, at, mode, WALK);
                if (parent != null) {
                    parent.close();
                }
                parent = cur;
                cur = next;
            }
        } catch (RuntimeException e) {
            cur.close();
            if (parent != null) {
                parent.close();
            }
            throw e;
        }
        return new PinDir(p, cur, parent, p.getFileName() == null ? null : p.getFileName().toString());
    }

    private static Fd openChild(Native n, Fd dir, String comp, Path at, int mode, long resolve) {
        try {
            return Fd.adopt(n.openat2("open " + at, dir.get(), comp, DIR_FLAGS, resolve));
        } catch (BpfException e) {
            if (e.errno() != Errno.ENOENT || mode < 0) {
                throw e;
            }
        }
        if (n.libc().mkdirat(dir.get(), comp, mode) == -1 && n.errno() != Errno.EEXIST) {
            throw new BpfException("mkdir " + at, n.errno());
        }
        return Fd.adopt(n.openat2("open " + at, dir.get(), comp, DIR_FLAGS, resolve));
    }

    /** An existing subdirectory; a link there is refused ({@link Errno#ELOOP}). */
    public PinDir dir(String name) {
        checkName(name);
        Native n = Native.get();
        return new PinDir(path.resolve(name), Fd.adopt(n.openat2("open " + path.resolve(name), fd(), name, DIR_FLAGS, BELOW)),
                null, name);
    }

    /** The subdirectory {@code name}, made with {@code mode} unless it exists; a link there is refused. */
    public PinDir mkdir(String name, int mode) {
        checkName(name);
        return new PinDir(path.resolve(name), openChild(Native.get(), fd, name, path.resolve(name), mode, BELOW), null, name);
    }

    /** The path this directory was opened by: for messages (nothing resolves it again). */
    public Path path() {
        return path;
    }

    /** The directory's fd; owned by this object: do not close it. */
    public int fd() {
        return fd.get();
    }

    /** This directory's own type, mode and owner. */
    public Stat stat() {
        return statx(fd(), "", AT_EMPTY_PATH, path).orElseThrow();
    }

    /** The entry {@code name} itself (a link is not followed); empty when there is none. */
    public Optional<Stat> stat(String name) {
        checkName(name);
        return statx(fd(), name, AT_SYMLINK_NOFOLLOW, path.resolve(name));
    }

    private static Optional<Stat> statx(int dirfd, String name, int flags, Path what) {
        Native n = Native.get();
        Pointer buf = n.allocate(Statx.SIZE);
        if (n.libc().statx(dirfd, name, flags, STATX_BASIC_STATS, buf) == -1) {
            int e = n.errno();
            if (e == Errno.ENOENT) {
                return Optional.empty();
            }
            throw new BpfException("statx(" + what + ")", e);
        }
        long dev = ((long) buf.getInt(Statx.DEV_MAJOR) << 32) | (buf.getInt(Statx.DEV_MINOR) & 0xffffffffL);
        return Optional.of(new Stat(buf.getShort(Statx.MODE) & 0xffff, buf.getInt(Statx.UID), buf.getInt(Statx.GID), dev,
                buf.getLong(Statx.INO)));
    }

    /** Whether this directory is on a bpffs. */
    public boolean onBpffs() {
        Native n = Native.get();
        Pointer buf = n.allocate(Statfs.SIZE);
        n.checkLibc("fstatfs(" + path + ")", n.libc().fstatfs(fd(), buf));
        return (buf.getLong(Statfs.TYPE) & 0xffffffffL) == BPF_FS_MAGIC;
    }

    /** fchmod of this directory. */
    public void chmod(int mode) {
        Native n = Native.get();
        n.checkLibc("chmod " + path, n.libc().fchmod(fd(), mode));
    }

    /** The names of the entries, without {@code .} and {@code ..}. */
    public List<String> list() {
        Native n = Native.get();
        int d = n.openat2("open " + path, fd(), ".", DIR_FLAGS, BELOW); // its own offset: listing again starts over
        Pointer dir = n.libc().fdopendir(d);
        if (dir == null || dir.address() == 0) {
            int e = n.errno();
            n.close(d);
            throw new BpfException("fdopendir(" + path + ")", e);
        }
        List<String> out = new ArrayList<>();
        try {
            for (Pointer e = n.libc().readdir(dir); e != null && e.address() != 0; e = n.libc().readdir(dir)) {
                String entry = e.getString(Dirent.NAME, Dirent.NAME_SIZE, StandardCharsets.UTF_8);
                if (!entry.equals(".") && !entry.equals("..")) {
                    out.add(entry);
                }
            }
        } finally {
            n.libc().closedir(dir);
        }
        return out;
    }

    /** BPF_OBJ_PIN of the map or program {@code objFd} as {@code name} here; an existing entry is {@link Errno#EEXIST}. */
    public void pin(int objFd, String name) {
        checkName(name);
        Native n = Native.get();
        String op = "bpf_obj_pin(" + path.resolve(name) + ")";
        if (pathFd) {
            Pointer cname = n.cString(name);
            Pointer attr = n.allocate(OBJ_ATTR_SIZE);
            attr.putLong(BpfObjAttr.PATHNAME, cname.address());
            attr.putInt(BpfObjAttr.BPF_FD, objFd);
            attr.putInt(BpfObjAttr.FILE_FLAGS, BPF_F_PATH_FD);
            attr.putInt(BpfObjAttr.PATH_FD, fd());
            try {
                n.sysBpf(op, BPF_OBJ_PIN, attr, OBJ_ATTR_SIZE);
                return;
            } catch (BpfException e) {
                if (e.errno() != Errno.EINVAL) {
                    throw e;
                }
                pathFd = false; // before 6.5: the flag is unknown
            } finally {
                Reference.reachabilityFence(cname);
            }
        }
        // The directory through its fd's magic link: the one held, wherever its path now leads.
        Pointer cpath = n.cString("/proc/self/fd/" + fd() + "/" + name);
        Pointer attr = n.allocate(OBJ_ATTR_SIZE);
        attr.putLong(BpfObjAttr.PATHNAME, cpath.address());
        attr.putInt(BpfObjAttr.BPF_FD, objFd);
        n.sysBpf(op, BPF_OBJ_PIN, attr, OBJ_ATTR_SIZE);
        Reference.reachabilityFence(cpath);
    }

    /**
     * BPF_OBJ_GET of the pin {@code name}: a new fd of the map or program pinned there. The entry
     * is opened first without following a link ({@link Errno#ELOOP} for one), and that very
     * entry is what the kernel opens (through the O_PATH fd's magic link).
     */
    public Fd get(String name) {
        checkName(name);
        Native n = Native.get();
        String op = "bpf_obj_get(" + path.resolve(name) + ")";
        try (Fd entry = Fd.adopt(n.openat2(op, fd(), name, O_PATH | O_CLOEXEC, BELOW))) {
            Pointer cpath = n.cString("/proc/self/fd/" + entry.get());
            Pointer attr = n.allocate(OBJ_ATTR_SIZE);
            attr.putLong(BpfObjAttr.PATHNAME, cpath.address());
            int got = n.sysBpf(op, BPF_OBJ_GET, attr, OBJ_ATTR_SIZE);
            Reference.reachabilityFence(cpath);
            return Fd.adopt(got);
        }
    }

    /**
     * Removes the pin {@code name}. Only a pin (a regular entry) is removed: a link is refused
     * ({@link Errno#ELOOP}), a directory too ({@link Errno#EISDIR}). False when there is none.
     */
    public boolean unpin(String name) {
        Optional<Stat> st = stat(name);
        if (st.isEmpty()) {
            return false;
        }
        if (st.get().isLink()) {
            throw new BpfException("unpin " + path.resolve(name) + " (a symbolic link, not a pin: not followed, left)", Errno.ELOOP);
        }
        if (st.get().isDirectory()) {
            throw new BpfException("unpin " + path.resolve(name), Errno.EISDIR);
        }
        return unlink(name);
    }

    /** unlinkat(name): removes a pin or a link itself (never what it points to); false when there is none. */
    public boolean unlink(String name) {
        return unlinkat(name, 0);
    }

    /** unlinkat(name, AT_REMOVEDIR): removes an empty subdirectory (not a link to one: ENOTDIR); false when there is none. */
    public boolean rmdir(String name) {
        return unlinkat(name, AT_REMOVEDIR);
    }

    private boolean unlinkat(String name, int flags) {
        checkName(name);
        Native n = Native.get();
        if (n.libc().unlinkat(fd(), name, flags) == -1) {
            int e = n.errno();
            if (e == Errno.ENOENT) {
                return false;
            }
            throw new BpfException("remove " + path.resolve(name), e);
        }
        return true;
    }

    /**
     * Removes {@code name} and, for a directory, everything below it, walking by fds: a link is
     * removed itself, never followed. Returns the paths of the links it removed (someone else's
     * doing: callers say so).
     */
    public List<Path> removeTree(String name) {
        List<Path> links = new ArrayList<>();
        removeTree(name, 0, links);
        return links;
    }

    private void removeTree(String name, int depth, List<Path> links) {
        Optional<Stat> st = stat(name);
        if (st.isEmpty()) {
            return;
        }
        if (!st.get().isDirectory()) {
            if (st.get().isLink()) {
                links.add(path.resolve(name));
            }
            unlink(name);
            return;
        }
        if (depth >= MAX_DEPTH) {
            throw new BpfException("remove " + path.resolve(name) + " (deeper than " + MAX_DEPTH + " levels)", Errno.ELOOP);
        }
        try (PinDir d = dir(name)) {
            for (String e : d.list()) {
                d.removeTree(e, depth + 1, links);
            }
        }
        rmdir(name);
    }

    /**
     * Removes this (empty) directory through its parent's fd — only while the parent's entry is
     * still this very directory, never something put in its place. False, removing nothing, when
     * the entry is gone or is another file (or this was not opened by {@link #open}/{@link #create}).
     * Closes this object either way.
     *
     * @throws BpfException ENOTEMPTY when it is not empty
     */
    public boolean delete() {
        try {
            if (parent == null || name == null) {
                return false;
            }
            Optional<Stat> there = statx(parent.get(), name, AT_SYMLINK_NOFOLLOW, path);
            if (there.isEmpty() || !there.get().sameFile(stat())) {
                return false;
            }
            Native n = Native.get();
            fd.close();
            if (n.libc().unlinkat(parent.get(), name, AT_REMOVEDIR) == -1 && n.errno() != Errno.ENOENT) {
                throw new BpfException("remove " + path, n.errno());
            }
            return true;
        } finally {
            close();
        }
    }

    public boolean isClosed() {
        return fd.isClosed();
    }

    @Override
    public void close() {
        fd.close();
        if (parent != null) {
            parent.close();
        }
    }

    @Override
    public String toString() {
        return "PinDir[" + path + (fd.isClosed() ? ", closed]" : ", fd " + fd + "]");
    }

    private static void checkName(String name) {
        if (name == null || name.isEmpty() || name.equals(".") || name.equals("..") || name.indexOf('/') >= 0
                || name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("not a single path component: '" + name + "'");
        }
    }
}
