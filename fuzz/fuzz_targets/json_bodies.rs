//! Every JSON request body: arbitrary bytes never panic the deserializers,
//! and whatever is accepted round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tubemail_core::api::*;

fn check<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<T>(data) {
        let text = serde_json::to_vec(&v).unwrap();
        assert_eq!(serde_json::from_slice::<T>(&text).unwrap(), v);
    }
}

fuzz_target!(|data: &[u8]| {
    check::<RegisterRequest>(data);
    check::<OutboundRequest>(data);
    check::<PermissionRequestBody>(data);
    check::<PermissionResponseBody>(data);
    check::<ContextPctRequest>(data);
    check::<ActiveRequest>(data);
    check::<DeliveredRequest>(data);
    check::<ResolveRequest>(data);
    check::<FlowSaveRequest>(data);
    check::<FlowRunRequest>(data);
    check::<SendRequest>(data);
    check::<KeystrokeRequest>(data);
    check::<ClearAndSendRequest>(data);
    check::<SettingsPatch>(data);
});
