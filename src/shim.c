// SPDX-License-Identifier: GPL-2.0
#include <net/netns/generic.h>

#include "shim.h"

void *handoff_net_generic(const struct net *net, unsigned int id)
{
	return net_generic(net, id);
}
