/*
 * socket_select root program: attached to every SO_REUSEPORT group syrupd manages. It finds the
 * application that claimed the datagram's (protocol, destination port) and tail-calls that
 * application's policy; a port nobody claimed, or a slot with no policy, gets the kernel's
 * default (SK_PASS without selecting a socket = the reuseport hash).
 */
#include "dispatch.h"

SEC("sk_reuseport")
int syrup_sk_disp(struct sk_reuseport_md *md)
{
	void *data = md->data;
	void *data_end = md->data_end;
	__u32 key;
	__u32 *slot;

	/* md->data is the L4 header; UDP and TCP both keep the destination port at offset 2. */
	if (data + 4 > data_end)
		return SK_PASS;
	key = syrup_port_index(md->ip_protocol, bpf_ntohs(*(__be16 *)(data + 2)));
	slot = bpf_map_lookup_elem(&syrup_ports, &key);
	if (!slot || !*slot)
		return SK_PASS;
	bpf_tail_call(md, &syrup_slots, *slot - 1);
	/* Empty slot (no policy installed yet, or being released). */
	return SK_PASS;
}

char _license[] SEC("license") = "GPL";
