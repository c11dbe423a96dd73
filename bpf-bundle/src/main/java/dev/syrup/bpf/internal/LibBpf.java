package dev.syrup.bpf.internal;

import jnr.ffi.Pointer;
import jnr.ffi.annotations.Delegate;
import jnr.ffi.annotations.IgnoreError;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;

/**
 * The subset of libbpf 1.1 used by {@code dev.syrup.bpf} (signatures from src/libbpf.h and
 * src/bpf.h). libbpf 1.x reports errors as a negative errno for int results and as NULL with
 * errno set for pointer results. Only {@link Native} holds an instance; everything else goes
 * through it. Sizes ({@code size_t}) are passed as Java {@code long}: x86_64/aarch64 LP64 only.
 */
public interface LibBpf {

    /** {@code int (*libbpf_print_fn_t)(enum libbpf_print_level level, const char *fmt, va_list args)}. */
    interface PrintFn {
        @Delegate
        int print(int level, Pointer format, Pointer vaList);
    }

    Pointer libbpf_set_print(PrintFn fn);

    int libbpf_num_possible_cpus();

    // --- objects -------------------------------------------------------------------------
    Pointer bpf_object__open_file(String path, Pointer opts);

    /** libbpf reads the buffer until the object is loaded or closed: keep it alive that long. */
    Pointer bpf_object__open_mem(Pointer buf, long size, Pointer opts);

    int bpf_object__load(Pointer obj);

    void bpf_object__close(Pointer obj);

    String bpf_object__name(Pointer obj);

    Pointer bpf_object__next_program(Pointer obj, Pointer prev);

    Pointer bpf_object__next_map(Pointer obj, Pointer prev);

    Pointer bpf_object__find_map_by_name(Pointer obj, String name);

    int bpf_map__reuse_fd(Pointer map, int fd);

    // --- programs ------------------------------------------------------------------------
    String bpf_program__name(Pointer prog);

    int bpf_program__type(Pointer prog);

    String bpf_program__section_name(Pointer prog);

    int bpf_program__fd(Pointer prog);

    int bpf_program__set_log_buf(Pointer prog, Pointer logBuf, long logSize);

    /** Before load: makes the program device-bound (prog_ifindex), i.e. offloaded to that NIC. */
    void bpf_program__set_ifindex(Pointer prog, int ifindex);

    // --- maps of an object -----------------------------------------------------------------
    String bpf_map__name(Pointer map);

    int bpf_map__fd(Pointer map);

    int bpf_map__type(Pointer map);

    int bpf_map__key_size(Pointer map);

    int bpf_map__value_size(Pointer map);

    int bpf_map__max_entries(Pointer map);

    int bpf_map__map_flags(Pointer map);

    /** Set at open for {@code __uint(pinning, LIBBPF_PIN_BY_NAME)}; NULL otherwise. */
    String bpf_map__pin_path(Pointer map);

    /** Before load: creates the map on the device (map_ifindex), for offloaded programs. */
    int bpf_map__set_ifindex(Pointer map, int ifindex);

    // --- low-level bpf(2) wrappers (bpf.h) -------------------------------------------------
    int bpf_map_create(int mapType, String name, int keySize, int valueSize, int maxEntries, Pointer opts);

    int bpf_map_lookup_elem(int fd, @In byte[] key, @Out byte[] value);

    int bpf_map_update_elem(int fd, @In byte[] key, @In byte[] value, long flags);

    /*
     * The same two calls over native memory given by address, for the hot u32 -> u64 path: heap
     * arrays take jnr-ffi's copying path (~140 ns a call here) and a Pointer argument its
     * per-call checks; all-primitive arguments are jnr-ffi's cheapest call. libbpf returns -errno
     * itself, so errno need not be saved.
     */
    @IgnoreError
    int bpf_map_lookup_elem(int fd, long key, long value);

    @IgnoreError
    int bpf_map_update_elem(int fd, long key, long value, long flags);

    /*
     * BPF_MAP_*_BATCH (libbpf 0.0.7+, kernel 5.6+), addresses of native memory: count is a __u32
     * in and out (elements asked for, elements done), opts a struct bpf_map_batch_opts or 0.
     * Lookup: inBatch 0 on the first call, then the previous call's outBatch; -ENOENT ends the
     * map, with count still set.
     */
    @IgnoreError
    int bpf_map_lookup_batch(int fd, long inBatch, long outBatch, long keys, long values, long count, long opts);

    @IgnoreError
    int bpf_map_update_batch(int fd, long keys, long values, long count, long opts);

    @IgnoreError
    int bpf_map_delete_batch(int fd, long keys, long count, long opts);

    int bpf_map_delete_elem(int fd, @In byte[] key);

    int bpf_map_get_next_key(int fd, @In byte[] key, @Out byte[] nextKey);

    int bpf_obj_pin(int fd, String path);

    int bpf_obj_get(String path);

    int bpf_obj_get_info_by_fd(int fd, Pointer info, @In @Out int[] infoLen);

    int bpf_prog_get_next_id(int startId, @Out int[] nextId);

    int bpf_map_get_next_id(int startId, @Out int[] nextId);

    int bpf_prog_get_fd_by_id(int id);

    int bpf_map_get_fd_by_id(int id);

    /** bpf_link_create(prog_fd, target_fd, attach_type, opts): a link fd, or -errno. */
    int bpf_link_create(int progFd, int targetFd, int attachType, Pointer opts);

    int bpf_link_update(int linkFd, int newProgFd, Pointer opts);

    int bpf_link_get_next_id(int startId, @Out int[] nextId);

    int bpf_link_get_fd_by_id(int id);

    int bpf_xdp_attach(int ifindex, int progFd, int flags, Pointer opts);

    int bpf_xdp_detach(int ifindex, int flags, Pointer opts);

    int bpf_xdp_query_id(int ifindex, int flags, @Out int[] progId);

    int bpf_prog_test_run_opts(int progFd, Pointer opts);
}
