// SPDX-License-Identifier: GPL-2.0
#include <linux/cpumask.h>
#include <linux/etherdevice.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/moduleparam.h>
#include <linux/netdevice.h>
#include <linux/rcupdate.h>
#include <linux/seq_file_net.h>
#include <linux/sched.h>
#include <linux/semaphore.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <net/net_namespace.h>
#include <net/netlink.h>
#include <net/netns/generic.h>

#include "shim.h"

int handoff_param_fw_cpu = -1;
module_param_named(fw_cpu, handoff_param_fw_cpu, int, 0444);
MODULE_PARM_DESC(fw_cpu, "CPU the hnic firmware kthreads run on (-1: highest online CPU)");

unsigned int handoff_param_nic_mem_kib = 16384;
module_param_named(nic_mem_kib, handoff_param_nic_mem_kib, uint, 0444);
MODULE_PARM_DESC(nic_mem_kib, "NIC memory per hnic device, KiB (default 16384 = 16 MiB)");

void *handoff_net_generic(const struct net *net, unsigned int id)
{
	return net_generic(net, id);
}

struct net *handoff_seq_file_single_net(struct seq_file *seq)
{
	return seq_file_single_net(seq);
}

void handoff_put_net(struct net *net)
{
	put_net(net);
}

struct net *handoff_dev_net(const struct net_device *dev)
{
	return dev_net(dev);
}

void *handoff_netdev_priv(const struct net_device *dev)
{
	return netdev_priv(dev);
}

void handoff_eth_hw_addr_random(struct net_device *dev)
{
	eth_hw_addr_random(dev);
}

bool handoff_netif_running(const struct net_device *dev)
{
	return netif_running(dev);
}

bool handoff_netif_carrier_ok(const struct net_device *dev)
{
	return netif_carrier_ok(dev);
}

void handoff_netif_stop_queue(struct net_device *dev)
{
	netif_stop_queue(dev);
}

void handoff_netif_wake_queue(struct net_device *dev)
{
	netif_wake_queue(dev);
}

bool handoff_netif_queue_stopped(const struct net_device *dev)
{
	return netif_queue_stopped(dev);
}

/* priv_flags is a bitfield inside a struct group bindgen cannot name. */
void handoff_netdev_priv_flags_clear(struct net_device *dev, unsigned long long flags)
{
	dev->priv_flags &= ~flags;
}

bool handoff_netdev_xmit_more(void)
{
	return netdev_xmit_more();
}

void handoff_netif_napi_add(struct net_device *dev, struct napi_struct *napi,
			    int (*poll)(struct napi_struct *, int))
{
	netif_napi_add(dev, napi, poll);
}

void handoff_netif_napi_del(struct napi_struct *napi)
{
	netif_napi_del(napi);
}

bool handoff_napi_schedule(struct napi_struct *napi)
{
	return napi_schedule(napi);
}

void *handoff_nla_data(const struct nlattr *nla)
{
	return nla_data(nla);
}

void handoff_unregister_netdevice(struct net_device *dev)
{
	unregister_netdevice(dev);
}

void handoff_dev_consume_skb_any(struct sk_buff *skb)
{
	dev_consume_skb_any(skb);
}

/* skb->protocol sits in an anonymous struct group bindgen cannot name. */
void handoff_skb_set_protocol_eth(struct sk_buff *skb, struct net_device *dev)
{
	skb->protocol = eth_type_trans(skb, dev);
}

void handoff_dev_kfree_skb_any(struct sk_buff *skb)
{
	dev_kfree_skb_any(skb);
}

u8 handoff_skb_ip_summed(const struct sk_buff *skb)
{
	return skb->ip_summed;
}

void handoff_skb_set_ip_summed(struct sk_buff *skb, u8 ip_summed)
{
	skb->ip_summed = ip_summed;
}

int handoff_skb_checksum_start_offset(const struct sk_buff *skb)
{
	return skb_checksum_start_offset(skb);
}

u16 handoff_skb_csum_offset(const struct sk_buff *skb)
{
	return skb->csum_offset;
}

void handoff_spin_lock_init(spinlock_t *lock)
{
	spin_lock_init(lock);
}

/*
 * The NIC's command-ring lock is taken inside its offload lock. Its own
 * spin_lock_init() call site gives it its own lockdep class; sharing the
 * one above, lockdep reported that nesting as recursive locking.
 */
void handoff_cmd_lock_init(spinlock_t *lock)
{
	spin_lock_init(lock);
}

/* A connection record's lock, taken inside its NIC's offload lock: its own
 * lockdep class, as for the command-ring lock above. */
void handoff_conn_lock_init(spinlock_t *lock)
{
	spin_lock_init(lock);
}

void handoff_sema_init(struct semaphore *sem, int val)
{
	sema_init(sem, val);
}

void handoff_spin_lock_bh(spinlock_t *lock)
{
	spin_lock_bh(lock);
}

void handoff_spin_unlock_bh(spinlock_t *lock)
{
	spin_unlock_bh(lock);
}

unsigned long handoff_copy_from_user(void *to, const void __user *from, unsigned long n)
{
	return copy_from_user(to, from, n);
}

void handoff_set_current_state_interruptible(void)
{
	set_current_state(TASK_INTERRUPTIBLE);
}

void handoff_set_current_state_running(void)
{
	__set_current_state(TASK_RUNNING);
}

void handoff_cond_resched(void)
{
	cond_resched();
}

void handoff_local_bh_disable(void)
{
	local_bh_disable();
}

void handoff_local_bh_enable(void)
{
	local_bh_enable();
}

u64 handoff_ktime_get_ns(void)
{
	return ktime_get_ns();
}

unsigned long handoff_usecs_to_jiffies(unsigned int us)
{
	return usecs_to_jiffies(us);
}

unsigned int handoff_nr_cpu_ids(void)
{
	return nr_cpu_ids;
}

unsigned int handoff_last_online_cpu(void)
{
	return cpumask_last(cpu_online_mask);
}

void handoff_rcu_read_lock(void)
{
	rcu_read_lock();
}

void handoff_rcu_read_unlock(void)
{
	rcu_read_unlock();
}

bool handoff_is_valid_ether_addr(const u8 *addr)
{
	return is_valid_ether_addr(addr);
}

int handoff_nla_len(const struct nlattr *nla)
{
	return nla_len(nla);
}

bool handoff_cpu_online(unsigned int cpu)
{
	return cpu_online(cpu);
}

void handoff_warn_on(void)
{
	WARN_ON(1);
}

void handoff_set_bit(long nr, unsigned long *addr)
{
	set_bit(nr, addr);
}

bool handoff_test_and_clear_bit(long nr, unsigned long *addr)
{
	return test_and_clear_bit(nr, addr);
}
