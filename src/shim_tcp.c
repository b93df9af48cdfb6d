// SPDX-License-Identifier: GPL-2.0
/*
 * Socket-side C shim, see shim_tcp.h: each function wraps exactly one kernel
 * inline function or macro (or the few lines of one that is static in the
 * kernel, named after it).
 */
#include <linux/completion.h>
#include <linux/filter.h>
#include <linux/kprobes.h>
#include <linux/netdevice.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/uio.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <net/dst.h>
#include <net/neighbour.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "shim_tcp.h"

struct net *handoff_sock_net(const struct sock *sk)
{
	return sock_net(sk);
}

void handoff_lock_sock(struct sock *sk)
{
	lock_sock(sk);
}

void handoff_sock_hold(struct sock *sk)
{
	sock_hold(sk);
}

void handoff_sock_put(struct sock *sk)
{
	sock_put(sk);
}

void handoff_sock_orphan(struct sock *sk)
{
	sock_orphan(sk);
}

/* The orphan accounting tcp_close() does (this_cpu_inc on the protocol's
 * counter); inet_csk_destroy_sock() undoes it. */
void handoff_orphan_count_inc(struct sock *sk)
{
	this_cpu_inc(*sk->sk_prot->orphan_count);
}

bool handoff_sock_flag(const struct sock *sk, int flag)
{
	return sock_flag(sk, flag);
}

int handoff_sock_error(struct sock *sk)
{
	return sock_error(sk);
}

long handoff_sock_rcvtimeo(const struct sock *sk, bool noblock)
{
	return sock_rcvtimeo(sk, noblock);
}

long handoff_sock_sndtimeo(const struct sock *sk, bool noblock)
{
	return sock_sndtimeo(sk, noblock);
}

int handoff_sock_intr_errno(long timeo)
{
	return sock_intr_errno(timeo);
}

bool handoff_signal_pending(void)
{
	return signal_pending(current);
}

bool handoff_task_sigpending(void)
{
	return task_sigpending(current);
}

struct task_struct *handoff_current(void)
{
	return current;
}

void handoff_set_notify_signal_flag(struct task_struct *task)
{
	set_tsk_thread_flag(task, TIF_NOTIFY_SIGNAL);
}

void handoff_wake_up_interruptible_all(struct wait_queue_head *wq)
{
	wake_up_interruptible_all(wq);
}

void handoff_sock_poll_wait(struct file *filp, struct socket *sock, struct poll_table_struct *p)
{
	sock_poll_wait(filp, sock, p);
}

struct wait_queue_head *handoff_sk_sleep(struct sock *sk)
{
	return sk_sleep(sk);
}

/* sock_def_readable() with the poll mask as a parameter. */
struct socket_wq *handoff_sk_wq_rcu(struct sock *sk)
{
	return rcu_dereference(sk->sk_wq);
}

bool handoff_skwq_has_sleeper(struct socket_wq *wq)
{
	return skwq_has_sleeper(wq);
}

void handoff_wake_up_interruptible_sync_poll(struct socket_wq *wq, __poll_t mask)
{
	wake_up_interruptible_sync_poll(&wq->wait, mask);
}

void handoff_sk_wake_async_rcu(struct sock *sk, int how, int band)
{
	sk_wake_async_rcu(sk, how, band);
}

/* DEFINE_WAIT_FUNC(wq_entry, woken_wake_function) for an entry that lives
 * in a Rust stack frame. */
void handoff_init_wait_woken(struct wait_queue_entry *wq_entry)
{
	*wq_entry = (struct wait_queue_entry){
		.private = current,
		.func = woken_wake_function,
		.entry = LIST_HEAD_INIT(wq_entry->entry),
	};
}

void handoff_set_sk_prot(struct sock *sk, struct proto *prot)
{
	WRITE_ONCE(sk->sk_prot, prot);
}

void handoff_set_sock_ops(struct socket *sock, const struct proto_ops *ops)
{
	WRITE_ONCE(sock->ops, ops);
}

u32 handoff_tcp_skb_seq(const struct sk_buff *skb)
{
	return TCP_SKB_CB(skb)->seq;
}

struct sk_buff *handoff_tcp_rtx_queue_head(const struct sock *sk)
{
	return tcp_rtx_queue_head(sk);
}

struct sk_buff *handoff_skb_rb_next(struct sk_buff *skb)
{
	return skb_rb_next(skb);
}

struct sk_buff *handoff_rb_to_skb(struct rb_node *node)
{
	return rb_to_skb(node);
}

struct sk_buff *handoff_skb_peek(const struct sk_buff_head *list)
{
	return skb_peek(list);
}

struct sk_buff *handoff_skb_peek_next(struct sk_buff *skb, const struct sk_buff_head *list)
{
	return skb_peek_next(skb, list);
}

void handoff_tcp_rtx_queue_unlink_and_free(struct sk_buff *skb, struct sock *sk)
{
	tcp_rtx_queue_unlink_and_free(skb, sk);
}

void handoff_tcp_unlink_write_queue(struct sk_buff *skb, struct sock *sk)
{
	tcp_unlink_write_queue(skb, sk);
}

void handoff_tcp_wmem_free_skb(struct sock *sk, struct sk_buff *skb)
{
	tcp_wmem_free_skb(sk, skb);
}

void handoff_tcp_skb_tsorted_anchor_cleanup(struct sk_buff *skb)
{
	tcp_skb_tsorted_anchor_cleanup(skb);
}

void handoff_tcp_clear_all_retrans_hints(struct tcp_sock *tp)
{
	tcp_clear_all_retrans_hints(tp);
}

bool handoff_sk_flush_backlog(struct sock *sk)
{
	return sk_flush_backlog(sk);
}

void handoff_tcp_clear_xmit_timers(struct sock *sk)
{
	tcp_clear_xmit_timers(sk);
}

void handoff_skb_queue_purge(struct sk_buff_head *list)
{
	skb_queue_purge(list);
}

void handoff_sk_mem_reclaim(struct sock *sk)
{
	sk_mem_reclaim(sk);
}

void handoff_init_list_head(struct list_head *list)
{
	INIT_LIST_HEAD(list);
}

int handoff_keepalive_time_when(const struct tcp_sock *tp)
{
	return keepalive_time_when(tp);
}

int handoff_keepalive_intvl_when(const struct tcp_sock *tp)
{
	return keepalive_intvl_when(tp);
}

int handoff_keepalive_probes(const struct tcp_sock *tp)
{
	return keepalive_probes(tp);
}

u32 handoff_tcp_snd_cwnd(const struct tcp_sock *tp)
{
	return tcp_snd_cwnd(tp);
}

/* The clock rx_opt.ts_recent_stamp is kept in. */
u32 handoff_tcp_seconds(void)
{
	return (u32)ktime_get_seconds();
}

struct dst_entry *handoff_sk_dst_get(const struct sock *sk)
{
	return sk_dst_get(sk);
}

void handoff_sk_dst_reset(struct sock *sk)
{
	sk_dst_reset(sk);
}

void handoff_dst_release(struct dst_entry *dst)
{
	dst_release(dst);
}

struct net_device *handoff_dst_dev(const struct dst_entry *dst)
{
	return dst->dev;
}

struct neighbour *handoff_dst_neigh_lookup(const struct dst_entry *dst, const void *daddr)
{
	return dst_neigh_lookup(dst, daddr);
}

void handoff_neigh_ha_snapshot(u8 *dst, const struct neighbour *n, const struct net_device *dev)
{
	neigh_ha_snapshot((char *)dst, n, dev);
}

void handoff_neigh_release(struct neighbour *n)
{
	neigh_release(n);
}

void handoff_dev_hold(struct net_device *dev)
{
	dev_hold(dev);
}

void handoff_dev_put(struct net_device *dev)
{
	dev_put(dev);
}

void handoff_refcount_set(refcount_t *r, int n)
{
	refcount_set(r, n);
}

unsigned int handoff_bpf_prog_size(u32 proglen)
{
	return bpf_prog_size(proglen);
}

void handoff_atomic_add(int i, atomic_t *v)
{
	atomic_add(i, v);
}

void handoff_rcu_assign_sk_filter(struct sock *sk, struct sk_filter *fp)
{
	rcu_assign_pointer(sk->sk_filter, fp);
}

unsigned long handoff_regs_return_value(struct pt_regs *regs)
{
	return regs_return_value(regs);
}

void handoff_init_completion(struct completion *x)
{
	init_completion(x);
}

void handoff_init_work(struct work_struct *work, void (*fn)(struct work_struct *))
{
	INIT_WORK(work, fn);
}

bool handoff_schedule_work(struct work_struct *work)
{
	return schedule_work(work);
}

size_t handoff_copy_from_iter(void *addr, size_t bytes, struct iov_iter *i)
{
	return copy_from_iter(addr, bytes, i);
}

size_t handoff_copy_to_iter(const void *addr, size_t bytes, struct iov_iter *i)
{
	return copy_to_iter(addr, bytes, i);
}

void handoff_tcp_snd_cwnd_set(struct tcp_sock *tp, u32 val)
{
	tcp_snd_cwnd_set(tp, val);
}

void handoff_skb_set_owner_r(struct sk_buff *skb, struct sock *sk)
{
	skb_set_owner_r(skb, sk);
}

bool handoff_sk_rmem_schedule(struct sock *sk, struct sk_buff *skb, int size)
{
	return sk_rmem_schedule(sk, skb, size);
}

void handoff_skb_queue_tail(struct sk_buff_head *list, struct sk_buff *skb)
{
	__skb_queue_tail(list, skb);
}

/* TCP_SKB_CB() is a macro over skb->cb. */
void handoff_tcp_skb_set(struct sk_buff *skb, u32 seq, u32 end_seq, u8 tcp_flags)
{
	TCP_SKB_CB(skb)->seq = seq;
	TCP_SKB_CB(skb)->end_seq = end_seq;
	TCP_SKB_CB(skb)->tcp_flags = tcp_flags;
}

struct sk_buff *handoff_alloc_skb(unsigned int size)
{
	return alloc_skb(size, GFP_KERNEL);
}

void handoff_skb_put_data(struct sk_buff *skb, const void *data, unsigned int len)
{
	skb_put_data(skb, data, len);
}

void handoff_reinit_completion(struct completion *x)
{
	reinit_completion(x);
}

u64 handoff_tcp_clock_ns(void)
{
	return tcp_clock_ns();
}

void handoff_list_add_tail(struct list_head *entry, struct list_head *head)
{
	list_add_tail(entry, head);
}

void handoff_list_del_init(struct list_head *entry)
{
	list_del_init(entry);
}

struct net_device *handoff_netdev_notifier_info_to_dev(const void *info)
{
	return netdev_notifier_info_to_dev(info);
}

u32 handoff_tcp_jiffies32(void)
{
	return tcp_jiffies32;
}

void handoff_skb_queue_head_init(struct sk_buff_head *list)
{
	__skb_queue_head_init(list);
}

bool handoff_skb_queue_empty(const struct sk_buff_head *list)
{
	return skb_queue_empty(list);
}

struct sk_buff *handoff_skb_dequeue(struct sk_buff_head *list)
{
	return __skb_dequeue(list);
}

struct sk_buff *handoff_alloc_skb_atomic(unsigned int size)
{
	return alloc_skb(size, GFP_ATOMIC);
}

unsigned long handoff_wq_lock(struct wait_queue_head *wq_head)
{
	unsigned long flags;

	spin_lock_irqsave(&wq_head->lock, flags);
	return flags;
}

void handoff_wq_unlock(struct wait_queue_head *wq_head, unsigned long flags)
{
	spin_unlock_irqrestore(&wq_head->lock, flags);
}
