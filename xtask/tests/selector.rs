//! The selector parser of `net.handoff.restore` / `net.handoff.offload`
//! (`src/control/selector.rs`), tested on the host: the module compiles the
//! same file.

#[path = "../../src/control/selector.rs"]
#[allow(dead_code, unreachable_pub)]
mod selector;

use selector::{parse, Selector};

fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut o = [0u8; 16];
    o[..4].copy_from_slice(&a);
    o
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

/// A tuple selector as (local, local port, remote, remote port, IPv6).
type Tuple = ([u8; 16], u16, [u8; 16], u16, bool);

fn tuple(s: &str) -> Option<Tuple> {
    match parse(s.as_bytes())? {
        Selector::Tuple {
            v6,
            local,
            lport,
            remote,
            rport,
        } => Some((local, lport, remote, rport, v6)),
        _ => None,
    }
}

#[test]
fn all_and_cookies() {
    assert_eq!(parse(b"all"), Some(Selector::All));
    assert_eq!(parse(b"  all \n"), Some(Selector::All));
    assert_eq!(parse(b"12345\n"), Some(Selector::Cookie(12345)));
    assert_eq!(parse(b"0x1F"), Some(Selector::Cookie(31)));
    assert_eq!(
        parse(b"18446744073709551615"),
        Some(Selector::Cookie(u64::MAX))
    );
    for bad in [
        "",
        "\n",
        "al",
        "alll",
        "18446744073709551616",
        "0x",
        "0xg",
        "-1",
        "1 2",
    ] {
        assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
    }
}

#[test]
fn ipv4_tuples() {
    assert_eq!(
        tuple("198.18.0.1:80 198.18.0.2:4242\n"),
        Some((v4([198, 18, 0, 1]), 80, v4([198, 18, 0, 2]), 4242, false))
    );
    assert_eq!(
        tuple("0.0.0.0:1   255.255.255.255:65535"),
        Some((v4([0; 4]), 1, v4([255; 4]), 65535, false))
    );
    for bad in [
        "198.18.0.1:80",
        "198.18.0.1:80 198.18.0.2:80 198.18.0.3:80",
        "198.18.0.1:0 198.18.0.2:80",
        "198.18.0.1:65536 198.18.0.2:80",
        "198.18.0.256:80 198.18.0.2:80",
        "198.18.0:80 198.18.0.2:80",
        "198.18.0.1.1:80 198.18.0.2:80",
        "198.18..1:80 198.18.0.2:80",
        "198.18.0.1: 198.18.0.2:80",
        "198.18.0.1 198.18.0.2",
        "a.b.c.d:80 198.18.0.2:80",
        "198.18.0.1:80 [2001:db8::1]:80",
    ] {
        assert_eq!(tuple(bad), None, "{bad:?}");
    }
}

#[test]
fn ipv6_tuples() {
    assert_eq!(
        tuple("[2001:db8::1]:80 [2001:db8::2]:4242"),
        Some((v6("2001:db8::1"), 80, v6("2001:db8::2"), 4242, true))
    );
    for (text, want) in [
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("1:2:3:4:5:6::8", "1:2:3:4:5:6::8"),
        ("::2:3:4:5:6:7:8", "::2:3:4:5:6:7:8"),
        ("::ffff:198.18.0.1", "::ffff:198.18.0.1"),
        ("64:ff9b::198.18.0.1", "64:ff9b::c612:1"),
        ("1:2:3:4:5:6:198.18.0.1", "1:2:3:4:5:6:c612:1"),
        ("2001:DB8:0:0:0:0:0:ABCD", "2001:db8::abcd"),
    ] {
        let sel = format!("[{text}]:1 [::1]:2");
        assert_eq!(tuple(&sel).map(|t| t.0), Some(v6(want)), "{text:?}");
    }
    for bad in [
        ":::",
        "1:::2",
        "1::2::3",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8::",
        "::1:2:3:4:5:6:7:8",
        "12345::1",
        "g::1",
        "::198.18.0.1.2",
        "198.18.0.1::",
        "1:2:3:4:5:6:7:198.18.0.1",
        ":1::2",
        "1::2:",
    ] {
        let sel = format!("[{bad}]:1 [::1]:2");
        assert_eq!(tuple(&sel), None, "{bad:?}");
    }
    for bad in ["[::1]80 [::1]:2", "[::1:80 [::1]:2", "::1:80 [::1]:2"] {
        assert_eq!(tuple(bad), None, "{bad:?}");
    }
}
