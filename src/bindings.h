/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel headers whose declarations tcp_handoff's Rust code uses. bindgen
 * turns the items named in bindings.allow into src/bindings_generated.rs.
 * Inline functions and macros are not here: they live in shim.c.
 */
#include <linux/debugfs.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/kthread.h>
#include <linux/netdevice.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/skbuff.h>
#include <linux/fs.h>
#include <linux/spinlock.h>
#include <linux/sysctl.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/rtnetlink.h>
#include <linux/completion.h>
#include <linux/semaphore.h>
#include <linux/filter.h>
#include <linux/kprobes.h>
#include <linux/poll.h>
#include <linux/inet.h>
#include <linux/sock_diag.h>
#include <linux/uio.h>
#include <linux/workqueue.h>
#include <net/fib_notifier.h>
#include <net/inet_common.h>
#include <net/inet_connection_sock.h>
#include <net/neighbour.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/transp_v6.h>
#include "shim.h"
#include "shim_tcp.h"
