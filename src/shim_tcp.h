/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C shim for the socket side (bypass layer, handoff, accept policy): one
 * function per kernel inline function or macro Rust cannot call directly.
 * No logic lives here.
 */
#ifndef TCP_HANDOFF_SHIM_TCP_H
#define TCP_HANDOFF_SHIM_TCP_H

#include <linux/types.h>

struct sock;
struct socket;
struct socket_wq;
struct sk_buff;
struct sk_buff_head;
struct tcp_sock;
struct file;
struct poll_table_struct;
struct pt_regs;
struct net;
struct dst_entry;
struct neighbour;
struct net_device;
struct sk_filter;
struct completion;
struct work_struct;
struct wait_queue_entry;
struct wait_queue_head;
struct iov_iter;
struct proto;
struct proto_ops;
struct list_head;

struct net *handoff_sock_net(const struct sock *sk);
void handoff_lock_sock(struct sock *sk);
void handoff_sock_hold(struct sock *sk);
void handoff_sock_put(struct sock *sk);
void handoff_sock_orphan(struct sock *sk);
void handoff_orphan_count_inc(struct sock *sk);
bool handoff_sock_flag(const struct sock *sk, int flag);
int handoff_sock_error(struct sock *sk);
long handoff_sock_rcvtimeo(const struct sock *sk, bool noblock);
long handoff_sock_sndtimeo(const struct sock *sk, bool noblock);
int handoff_sock_intr_errno(long timeo);
bool handoff_signal_pending(void);
bool handoff_task_sigpending(void);
struct task_struct *handoff_current(void);
void handoff_set_notify_signal_flag(struct task_struct *task);
void handoff_wake_up_interruptible_all(struct wait_queue_head *wq);
void handoff_sock_poll_wait(struct file *filp, struct socket *sock, struct poll_table_struct *p);
struct wait_queue_head *handoff_sk_sleep(struct sock *sk);
struct socket_wq *handoff_sk_wq_rcu(struct sock *sk);
bool handoff_skwq_has_sleeper(struct socket_wq *wq);
void handoff_wake_up_interruptible_sync_poll(struct socket_wq *wq, __poll_t mask);
void handoff_sk_wake_async_rcu(struct sock *sk, int how, int band);
void handoff_init_wait_woken(struct wait_queue_entry *wq_entry);
void handoff_set_sk_prot(struct sock *sk, struct proto *prot);
void handoff_set_sock_ops(struct socket *sock, const struct proto_ops *ops);

u32 handoff_tcp_skb_seq(const struct sk_buff *skb);
struct sk_buff *handoff_tcp_rtx_queue_head(const struct sock *sk);
struct sk_buff *handoff_skb_rb_next(struct sk_buff *skb);
struct rb_node;
struct sk_buff *handoff_rb_to_skb(struct rb_node *node);
struct sk_buff *handoff_skb_peek(const struct sk_buff_head *list);
struct sk_buff *handoff_skb_peek_next(struct sk_buff *skb, const struct sk_buff_head *list);
void handoff_tcp_rtx_queue_unlink_and_free(struct sk_buff *skb, struct sock *sk);
void handoff_tcp_unlink_write_queue(struct sk_buff *skb, struct sock *sk);
void handoff_tcp_wmem_free_skb(struct sock *sk, struct sk_buff *skb);
void handoff_tcp_skb_tsorted_anchor_cleanup(struct sk_buff *skb);
void handoff_tcp_clear_all_retrans_hints(struct tcp_sock *tp);
bool handoff_sk_flush_backlog(struct sock *sk);
void handoff_tcp_clear_xmit_timers(struct sock *sk);
void handoff_skb_queue_purge(struct sk_buff_head *list);
void handoff_sk_mem_reclaim(struct sock *sk);
void handoff_init_list_head(struct list_head *list);
int handoff_keepalive_time_when(const struct tcp_sock *tp);
int handoff_keepalive_intvl_when(const struct tcp_sock *tp);
int handoff_keepalive_probes(const struct tcp_sock *tp);
u32 handoff_tcp_snd_cwnd(const struct tcp_sock *tp);
u32 handoff_tcp_seconds(void);

struct dst_entry *handoff_sk_dst_get(const struct sock *sk);
void handoff_sk_dst_reset(struct sock *sk);
void handoff_dst_release(struct dst_entry *dst);
struct net_device *handoff_dst_dev(const struct dst_entry *dst);
struct neighbour *handoff_dst_neigh_lookup(const struct dst_entry *dst, const void *daddr);
void handoff_neigh_ha_snapshot(u8 *dst, const struct neighbour *n, const struct net_device *dev);
void handoff_neigh_release(struct neighbour *n);
void handoff_dev_hold(struct net_device *dev);
void handoff_dev_put(struct net_device *dev);

void handoff_refcount_set(refcount_t *r, int n);
unsigned int handoff_bpf_prog_size(u32 proglen);
void handoff_atomic_add(int i, atomic_t *v);
void handoff_rcu_assign_sk_filter(struct sock *sk, struct sk_filter *fp);
unsigned long handoff_regs_return_value(struct pt_regs *regs);
struct module;

void handoff_init_completion(struct completion *x);
void handoff_init_work(struct work_struct *work, void (*fn)(struct work_struct *));
bool handoff_schedule_work(struct work_struct *work);

size_t handoff_copy_from_iter(void *addr, size_t bytes, struct iov_iter *i);
size_t handoff_copy_to_iter(const void *addr, size_t bytes, struct iov_iter *i);

struct kvec;
void handoff_tcp_snd_cwnd_set(struct tcp_sock *tp, u32 val);
void handoff_skb_set_owner_r(struct sk_buff *skb, struct sock *sk);
bool handoff_sk_rmem_schedule(struct sock *sk, struct sk_buff *skb, int size);
void handoff_skb_queue_tail(struct sk_buff_head *list, struct sk_buff *skb);
void handoff_tcp_skb_set(struct sk_buff *skb, u32 seq, u32 end_seq, u8 tcp_flags);
struct sk_buff *handoff_alloc_skb(unsigned int size);
void handoff_skb_put_data(struct sk_buff *skb, const void *data, unsigned int len);
void handoff_reinit_completion(struct completion *x);
u64 handoff_tcp_clock_ns(void);
void handoff_list_add_tail(struct list_head *entry, struct list_head *head);
void handoff_list_del_init(struct list_head *entry);

struct net_device *handoff_netdev_notifier_info_to_dev(const void *info);

u32 handoff_tcp_jiffies32(void);

void handoff_skb_queue_head_init(struct sk_buff_head *list);
bool handoff_skb_queue_empty(const struct sk_buff_head *list);
struct sk_buff *handoff_skb_dequeue(struct sk_buff_head *list);
struct sk_buff *handoff_alloc_skb_atomic(unsigned int size);

unsigned long handoff_wq_lock(struct wait_queue_head *wq_head);
void handoff_wq_unlock(struct wait_queue_head *wq_head, unsigned long flags);

#endif
