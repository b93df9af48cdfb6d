// SPDX-License-Identifier: GPL-2.0

//! Socket errno values the `kernel` crate does not declare (it covers the
//! generic ones: ENOMEM, EINVAL, EPIPE, ...).

#![allow(non_snake_case)]

use kernel::error::Error;

use crate::bindings;

macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        $(
            #[doc = concat!("`-", stringify!($name), "` as an [`Error`].")]
            pub(crate) fn $name() -> Error {
                Error::from_errno(-(bindings::$name as i32))
            }
        )*
    };
}

errnos!(
    ENOTCONN,
    EOPNOTSUPP,
    ENETDOWN,
    EHOSTUNREACH,
    ENOBUFS,
    ETIMEDOUT,
    EALREADY
);
