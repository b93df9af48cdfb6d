/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C shim: one exported-to-Rust function per kernel inline function or macro
 * that bindgen cannot turn into something callable, plus the module
 * parameters (module_param is a macro). No logic lives here.
 */
#ifndef TCP_HANDOFF_SHIM_H
#define TCP_HANDOFF_SHIM_H

#include <linux/types.h>

struct net;
struct net_device;
struct napi_struct;
struct sk_buff;
struct seq_file;

/* module parameters, see Documentation/hnic.rst */
extern int handoff_param_fw_cpu;
extern unsigned int handoff_param_nic_mem_kib;

void *handoff_net_generic(const struct net *net, unsigned int id);
struct net *handoff_seq_file_single_net(struct seq_file *seq);
void handoff_put_net(struct net *net);
struct net *handoff_dev_net(const struct net_device *dev);

void *handoff_netdev_priv(const struct net_device *dev);
void handoff_eth_hw_addr_random(struct net_device *dev);
bool handoff_netif_running(const struct net_device *dev);
bool handoff_netif_carrier_ok(const struct net_device *dev);
void handoff_netif_stop_queue(struct net_device *dev);
void handoff_netif_wake_queue(struct net_device *dev);
bool handoff_netif_queue_stopped(const struct net_device *dev);
bool handoff_netdev_xmit_more(void);
void handoff_netdev_priv_flags_clear(struct net_device *dev, unsigned long long flags);

void handoff_netif_napi_add(struct net_device *dev, struct napi_struct *napi,
			    int (*poll)(struct napi_struct *, int));
void handoff_netif_napi_del(struct napi_struct *napi);
bool handoff_napi_schedule(struct napi_struct *napi);

struct nlattr;

void *handoff_nla_data(const struct nlattr *nla);
void handoff_unregister_netdevice(struct net_device *dev);

void handoff_dev_kfree_skb_any(struct sk_buff *skb);
void handoff_dev_consume_skb_any(struct sk_buff *skb);
void handoff_skb_set_protocol_eth(struct sk_buff *skb, struct net_device *dev);
u8 handoff_skb_ip_summed(const struct sk_buff *skb);
void handoff_skb_set_ip_summed(struct sk_buff *skb, u8 ip_summed);
int handoff_skb_checksum_start_offset(const struct sk_buff *skb);
u16 handoff_skb_csum_offset(const struct sk_buff *skb);

struct spinlock;
void handoff_spin_lock_init(struct spinlock *lock);
void handoff_cmd_lock_init(struct spinlock *lock);
void handoff_conn_lock_init(struct spinlock *lock);
void handoff_spin_lock_bh(struct spinlock *lock);
struct semaphore;
void handoff_sema_init(struct semaphore *sem, int val);
void handoff_spin_unlock_bh(struct spinlock *lock);
unsigned long handoff_copy_from_user(void *to, const void __user *from, unsigned long n);

void handoff_set_current_state_interruptible(void);
void handoff_set_current_state_running(void);
void handoff_cond_resched(void);
void handoff_local_bh_disable(void);
void handoff_local_bh_enable(void);
u64 handoff_ktime_get_ns(void);
unsigned long handoff_usecs_to_jiffies(unsigned int us);
unsigned int handoff_nr_cpu_ids(void);
unsigned int handoff_last_online_cpu(void);
bool handoff_cpu_online(unsigned int cpu);
void handoff_rcu_read_lock(void);
void handoff_rcu_read_unlock(void);

void handoff_warn_on(void);
void handoff_set_bit(long nr, unsigned long *addr);
bool handoff_test_and_clear_bit(long nr, unsigned long *addr);
bool handoff_is_valid_ether_addr(const u8 *addr);
int handoff_nla_len(const struct nlattr *nla);

#endif
