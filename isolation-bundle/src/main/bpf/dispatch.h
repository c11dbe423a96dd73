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

/* Slots per root program (PROG_ARRAY size); the Java side uses the same number. */
#define SYRUP_DISPATCH_SLOTS 256

/* Key of syrup_ports: IP protocol number (IPPROTO_UDP / IPPROTO_TCP) and destination port in
 * host byte order, both u32 so the layout has no padding. */
struct syrup_port_key {
	__u32 protocol;
	__u32 port;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SYRUP_DISPATCH_SLOTS);
	__type(key, struct syrup_port_key);
	__type(value, __u32);
} syrup_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SYRUP_DISPATCH_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} syrup_slots SEC(".maps");

#endif
