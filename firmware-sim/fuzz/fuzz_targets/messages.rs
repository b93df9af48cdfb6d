//! Decoders must reject, never panic; whatever decodes must re-encode to
//! the same bytes.
#![no_main]

use firmware_sim::msg::{Command, HostEvent};
use firmware_sim::snapshot::Snapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((cmd, n)) = Command::decode(data) {
        let mut buf = vec![0u8; n];
        assert_eq!(cmd.encode(&mut buf), Ok(n));
        assert_eq!(Command::decode(&buf), Ok((cmd, n)));
    }
    let _ = HostEvent::decode(data);
    if let Ok(s) = Snapshot::decode(data) {
        let mut buf = [0u8; firmware_sim::snapshot::SNAPSHOT_LEN];
        s.encode(&mut buf).unwrap();
        assert_eq!(Snapshot::decode(&buf), Ok(s));
    }
});
