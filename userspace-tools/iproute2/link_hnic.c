// SPDX-License-Identifier: GPL-2.0
/*
 * iproute2 link plugin for hnic, so that stock `ip` understands
 *
 *	ip link add hnic0 type hnic peer name hnic1 [netns NS] [address MAC] ...
 *
 * `ip` dlopens $IP_LIB_DIR/link_<kind>.so for link kinds it does not know
 * and looks up <kind>_link_util. The peer's options are parsed by ip's own
 * iplink_parse() (exported by the ip binary) into a nested IFLA_HNIC_PEER
 * attribute that carries a struct ifinfomsg header, the layout the kernel
 * side (vnic/link.rs) expects.
 *
 * iproute2 ships no headers for its internal plugin interface; the two
 * structures below mirror iproute2 6.1 (Debian 12).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#define IFLA_HNIC_PEER 1

/* iproute2 ip/ip_common.h */
struct link_util {
	struct link_util *next;
	const char *id;
	int maxattr;
	int (*parse_opt)(struct link_util *, int, char **, struct nlmsghdr *);
	void (*print_opt)(struct link_util *, FILE *, struct rtattr *[]);
	void (*print_xstats)(struct link_util *, FILE *, struct rtattr *);
	void (*print_help)(struct link_util *, int, char **, FILE *);
	int (*parse_ifla_xstats)(struct link_util *, int, char **);
	int (*print_ifla_xstats)(struct nlmsghdr *, void *);
};

/* iproute2 ip/ip_common.h: the request iplink_parse() fills */
struct iplink_req {
	struct nlmsghdr n;
	struct ifinfomsg i;
	char buf[1024];
};

/* exported by the ip binary */
int iplink_parse(int argc, char **argv, struct iplink_req *req, char **type);
struct rtattr *addattr_nest(struct nlmsghdr *n, int maxlen, int type);
int addattr_nest_end(struct nlmsghdr *n, struct rtattr *nest);

static void hnic_print_help(struct link_util *lu, int argc, char **argv, FILE *f)
{
	fprintf(f, "Usage: ip link <options> type hnic [peer <options>]\n"
		   "To get <options> type 'ip link add help'\n");
}

static int hnic_parse_opt(struct link_util *lu, int argc, char **argv,
			  struct nlmsghdr *n)
{
	struct ifinfomsg *ifm = NLMSG_DATA(n), *peer_ifm;
	struct ifinfomsg saved = *ifm;
	struct rtattr *peer;
	char *type = NULL;
	int used;

	if (strcmp(argv[0], "peer") != 0) {
		hnic_print_help(lu, argc, argv, stderr);
		return -1;
	}

	/*
	 * iplink_parse() writes the peer's ifinfomsg fields into the request
	 * header, so park this device's and give the peer a clean one inside
	 * the nest, which starts with its own ifinfomsg.
	 */
	memset(&ifm->ifi_index, 0, sizeof(*ifm) - offsetof(struct ifinfomsg, ifi_index));
	peer = addattr_nest(n, sizeof(struct iplink_req), IFLA_HNIC_PEER);
	n->nlmsg_len += sizeof(struct ifinfomsg);

	used = iplink_parse(argc - 1, argv + 1, (struct iplink_req *)n, &type);
	if (used < 0)
		return used;
	if (type) {
		fprintf(stderr, "hnic: the peer cannot have its own \"type\"\n");
		return -1;
	}

	peer_ifm = RTA_DATA(peer);
	peer_ifm->ifi_index = ifm->ifi_index;
	peer_ifm->ifi_flags = ifm->ifi_flags;
	peer_ifm->ifi_change = ifm->ifi_change;
	*ifm = saved;

	addattr_nest_end(n, peer);
	return argc - 1 - used;
}

struct link_util hnic_link_util = {
	.id = "hnic",
	.maxattr = IFLA_HNIC_PEER,
	.parse_opt = hnic_parse_opt,
	.print_help = hnic_print_help,
};
