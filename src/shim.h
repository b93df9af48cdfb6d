/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C shim: one exported-to-Rust function per kernel inline function or macro
 * that bindgen cannot turn into something callable. No logic lives here.
 */
#ifndef TCP_HANDOFF_SHIM_H
#define TCP_HANDOFF_SHIM_H

struct net;

void *handoff_net_generic(const struct net *net, unsigned int id);

#endif
