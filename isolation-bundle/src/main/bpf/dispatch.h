/*
 * Shared by the root (dispatcher) programs: the (protocol, port) -> slot map and the slot
 * array of application policies. syrupd's isolation bundle fills both; nothing else writes them.
 */
#ifndef SYRUP_DISPATCH_H
#define SYRUP_DISPATCH_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <linux/in.h>

/* Slots per root program (PROG_ARRAY size); the Java side uses the same number. */
#define SYRUP_DISPATCH_SLOTS 256

/*
 * syrup_ports: an ARRAY indexed by (protocol, destination port) — UDP ports at 0..65535, TCP ports
 * at 65536 + port — holding slot + 1, 0 when nobody claimed the port. A direct index instead of a
 * hash lookup: the dispatcher's cost is on every packet (measured: +31 ns with a HASH, +17 ns so).
 */
#define SYRUP_PORT_ENTRIES (2 * 65536)

static __always_inline __u32 syrup_port_index(__u32 ip_protocol, __u32 port)
{
	return (ip_protocol == IPPROTO_TCP ? 65536 : 0) + (port & 0xffff);
}

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SYRUP_PORT_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
} syrup_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SYRUP_DISPATCH_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} syrup_slots SEC(".maps");

#endif
