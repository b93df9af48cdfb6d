// SPDX-License-Identifier: GPL-2.0

//! `ip link add hnic0 type hnic peer name hnic1`: hnic devices come in
//! pairs, created and deleted together, as veth pairs are.
//!
//! The peer's options arrive as a nested `IFLA_HNIC_PEER` attribute that
//! starts with a `struct ifinfomsg` (the layout veth uses; the iproute2
//! plugin in userspace-tools/iproute2/ builds it).

use core::ffi::{c_char, c_int, c_uchar};
use core::ptr;
use core::sync::atomic::Ordering;

use kernel::error::{from_err_ptr, from_result, to_result};
use kernel::prelude::*;

use super::device::{hnic_setup, nic_of, HnicPriv};
use crate::bindings;
use crate::cstatic::CStatic;

/// Nested attribute carrying the peer's ifinfomsg + attributes.
const IFLA_HNIC_PEER: usize = 1;
const IFLA_HNIC_MAX: usize = IFLA_HNIC_PEER;
const IFLA_MAX: usize = bindings::__IFLA_MAX as usize - 1;
const IFNAMSIZ: usize = 16;

static POLICY: CStatic<[bindings::nla_policy; IFLA_HNIC_MAX + 1]> =
    // SAFETY: an all-zero policy entry is NLA_UNSPEC with no constraint.
    CStatic::new(unsafe { core::mem::zeroed() });

// SAFETY: an all-zero `rtnl_link_ops` has every optional callback absent;
// `register` fills in the rest before the kernel sees it.
pub(crate) static LINK_OPS: CStatic<bindings::rtnl_link_ops> =
    CStatic::new(unsafe { core::mem::zeroed() });

/// Registers the `hnic` link kind.
pub(crate) fn register() -> Result {
    let ops = LINK_OPS.get();
    // SAFETY: module init, before the ops are visible to the kernel.
    unsafe {
        (*POLICY.get())[IFLA_HNIC_PEER].len = core::mem::size_of::<bindings::ifinfomsg>() as u16;
        (*ops).kind = c"hnic".as_ptr();
        (*ops).priv_size = core::mem::size_of::<HnicPriv>();
        (*ops).setup = Some(hnic_setup);
        (*ops).validate = Some(hnic_validate);
        (*ops).newlink = Some(hnic_newlink);
        (*ops).dellink = Some(hnic_dellink);
        (*ops).get_link_net = Some(hnic_get_link_net);
        (*ops).maxtype = IFLA_HNIC_MAX as u32;
        (*ops).policy = POLICY.get().cast();
    }
    // SAFETY: `ops` is a static that stays registered until `unregister`.
    to_result(unsafe { bindings::rtnl_link_register(ops) })
}

/// Unregisters the kind, deleting every hnic pair in every namespace.
pub(crate) fn unregister() {
    // SAFETY: registered by `register`.
    unsafe { bindings::rtnl_link_unregister(LINK_OPS.get()) };
}

/// Writes the `hnic%d` template (the core picks the number).
fn name_template(name: &mut [c_char; IFNAMSIZ]) -> c_uchar {
    for (d, s) in name.iter_mut().zip(b"hnic%d\0") {
        *d = *s as c_char;
    }
    bindings::NET_NAME_ENUM as c_uchar
}

/// Copies attribute `IFLA_IFNAME` into `name`, or the `hnic%d` template.
///
/// # Safety
///
/// `tb` is a parsed attribute table of `IFLA_MAX + 1` entries.
unsafe fn ifname(tb: *mut *mut bindings::nlattr, name: &mut [c_char; IFNAMSIZ]) -> c_uchar {
    // SAFETY: by the contract.
    let attr = unsafe { *tb.add(bindings::IFLA_IFNAME as usize) };
    if attr.is_null() {
        name_template(name)
    } else {
        // SAFETY: `attr` is a validated IFLA_IFNAME attribute.
        unsafe { bindings::nla_strscpy(name.as_mut_ptr(), attr, IFNAMSIZ) };
        bindings::NET_NAME_USER as c_uchar
    }
}

/// Checks the attributes of one end: a usable unicast MAC if one is given,
/// and a single TX and RX queue (the rings have one producer each).
///
/// # Safety
///
/// `tb` is a parsed attribute table of `IFLA_MAX + 1` entries.
unsafe fn check_end(tb: *mut *mut bindings::nlattr) -> Result {
    // SAFETY: by the contract; attributes present were validated against
    // the core's IFLA policy (types and minimum lengths).
    unsafe {
        let addr = *tb.add(bindings::IFLA_ADDRESS as usize);
        if !addr.is_null() {
            if bindings::handoff_nla_len(addr) != bindings::ETH_ALEN as c_int {
                return Err(EINVAL);
            }
            if !bindings::handoff_is_valid_ether_addr(bindings::handoff_nla_data(addr).cast()) {
                return Err(Error::from_errno(-(bindings::EADDRNOTAVAIL as c_int)));
            }
        }
        for q in [bindings::IFLA_NUM_TX_QUEUES, bindings::IFLA_NUM_RX_QUEUES] {
            let attr = *tb.add(q as usize);
            if !attr.is_null()
                && bindings::handoff_nla_data(attr)
                    .cast::<u32>()
                    .read_unaligned()
                    != 1
            {
                return Err(EINVAL);
            }
        }
    }
    Ok(())
}

unsafe extern "C" fn hnic_validate(
    tb: *mut *mut bindings::nlattr,
    _data: *mut *mut bindings::nlattr,
    _extack: *mut bindings::netlink_ext_ack,
) -> c_int {
    // SAFETY: the core passes the parsed IFLA table of the new device.
    from_result(|| unsafe { check_end(tb) }.map(|()| 0))
}

unsafe extern "C" fn hnic_newlink(
    src_net: *mut bindings::net,
    dev: *mut bindings::net_device,
    tb: *mut *mut bindings::nlattr,
    data: *mut *mut bindings::nlattr,
    extack: *mut bindings::netlink_ext_ack,
) -> c_int {
    from_result(|| {
        let mut peer_tb = [ptr::null_mut::<bindings::nlattr>(); IFLA_MAX + 1];
        // SAFETY: `data`, when present, is the table of our `maxtype`.
        let nla_peer = if data.is_null() {
            ptr::null_mut()
        } else {
            unsafe { *data.add(IFLA_HNIC_PEER) }
        };
        let (ifmp, tbp): (*mut bindings::ifinfomsg, *mut *mut bindings::nlattr) =
            if nla_peer.is_null() {
                (ptr::null_mut(), tb)
            } else {
                // SAFETY: the policy guarantees the attribute holds at least an
                // ifinfomsg; the parser fills `peer_tb` (IFLA_MAX + 1 entries).
                unsafe {
                    to_result(bindings::rtnl_nla_parse_ifinfomsg(
                        peer_tb.as_mut_ptr(),
                        nla_peer,
                        extack,
                    ))?;
                    check_end(peer_tb.as_mut_ptr())?;
                    (
                        bindings::handoff_nla_data(nla_peer).cast(),
                        peer_tb.as_mut_ptr(),
                    )
                }
            };

        // Without a peer attribute, `tb` holds this device's name: the peer
        // takes the template instead.
        let mut name = [0 as c_char; IFNAMSIZ];
        let assign = if ifmp.is_null() {
            name_template(&mut name)
        } else {
            // SAFETY: `tbp` is the parsed peer table.
            unsafe { ifname(tbp, &mut name) }
        };

        // SAFETY: `tbp` is a parsed IFLA table; the net reference taken
        // here is dropped on every path below.
        let net = from_err_ptr(unsafe { bindings::rtnl_link_get_net(src_net, tbp) })?;
        // SAFETY: creating the peer with our ops in `net`, under RTNL.
        let peer = unsafe {
            bindings::rtnl_create_link(net, name.as_ptr(), assign, LINK_OPS.get(), tbp, extack)
        };
        let peer = match from_err_ptr(peer) {
            Ok(p) => p,
            Err(e) => {
                // SAFETY: the reference from `rtnl_link_get_net`.
                unsafe { bindings::handoff_put_net(net) };
                return Err(e);
            }
        };
        // SAFETY: `peer` is a new, unregistered hnic device; `ifmp` (when
        // non-null) points into the validated peer attribute.
        unsafe {
            if ifmp.is_null() || (*tbp.add(bindings::IFLA_ADDRESS as usize)).is_null() {
                bindings::handoff_eth_hw_addr_random(peer);
            }
            if !ifmp.is_null() && (*dev).ifindex != 0 {
                (*peer).ifindex = (*ifmp).ifi_index;
            }
            let err = bindings::register_netdevice(peer);
            bindings::handoff_put_net(net);
            if err < 0 {
                bindings::free_netdev(peer);
                return Err(Error::from_errno(err));
            }
            bindings::netif_carrier_off(peer);
            let err = bindings::rtnl_configure_link(peer, ifmp, 0, ptr::null_mut());
            if err < 0 {
                bindings::handoff_unregister_netdevice(peer);
                return Err(Error::from_errno(err));
            }

            if (*tb.add(bindings::IFLA_ADDRESS as usize)).is_null() {
                bindings::handoff_eth_hw_addr_random(dev);
            }
            let dev_name_attr = *tb.add(bindings::IFLA_IFNAME as usize);
            if dev_name_attr.is_null() {
                name_template(&mut (*dev).name);
            } else {
                bindings::nla_strscpy((*dev).name.as_mut_ptr(), dev_name_attr, IFNAMSIZ);
            }
            let err = bindings::register_netdevice(dev);
            if err < 0 {
                bindings::handoff_unregister_netdevice(peer);
                return Err(Error::from_errno(err));
            }
            bindings::netif_carrier_off(dev);

            let (a, b) = (nic_of(dev), nic_of(peer));
            a.peer.store(b as *const _ as *mut _, Ordering::Release);
            b.peer.store(a as *const _ as *mut _, Ordering::Release);
            a.doorbell();
            b.doorbell();
        }
        Ok(0)
    })
}

unsafe extern "C" fn hnic_dellink(dev: *mut bindings::net_device, head: *mut bindings::list_head) {
    // SAFETY: under RTNL, for a registered hnic device.
    let nic = unsafe { nic_of(dev) };
    // Connections come back to the host while both firmwares still run
    // (the device going down restores them too, but by then it is late:
    // the firmwares stop below).
    super::device_down(nic);
    if let Some(p) = nic.peer() {
        super::device_down(p);
    }
    let peer = nic.peer.swap(ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: a non-null peer is alive: it is only freed after being
    // unregistered, which happens here or in its own dellink, both under
    // RTNL and both clearing this pointer first.
    let peer = (!peer.is_null()).then(|| unsafe { &*peer });
    if let Some(p) = peer {
        p.peer.store(ptr::null_mut(), Ordering::Release);
    }
    // Neither firmware may touch the other's wire queue once either is
    // freed: stop both before anything is unregistered.
    nic.stop_firmware();
    if let Some(p) = peer {
        p.stop_firmware();
    }
    // SAFETY: queuing registered devices for unregistration under RTNL.
    unsafe {
        bindings::unregister_netdevice_queue(dev, head);
        if let Some(p) = peer {
            bindings::unregister_netdevice_queue(p.dev, head);
        }
    }
}

unsafe extern "C" fn hnic_get_link_net(dev: *const bindings::net_device) -> *mut bindings::net {
    // SAFETY: an initialised hnic device, under RTNL.
    let nic = unsafe { nic_of(dev) };
    let peer_dev = nic.peer().map_or(dev, |p| p.dev as *const _);
    // SAFETY: `peer_dev` is a registered device.
    unsafe { bindings::handoff_dev_net(peer_dev) }
}
