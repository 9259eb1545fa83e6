//! Feeds arbitrary bytes to the frame reader as both envelopes, at the bulk and the enroll
//! limits: every input must end in a message or a typed error, never a panic, and never an
//! allocation of a declared length above the limit.
//!
//! From `shared/`: `cargo +nightly fuzz run frame_decoder fuzz/corpus/frame_decoder
//! fuzz/seeds/frame_decoder -- -max_total_time=60` (the seeds are the golden messages).

#![no_main]

use std::sync::OnceLock;

use kubeworkz_shared::protocol::frame::{MAX_BULK_FRAME, MAX_ENROLL_FRAME};
use kubeworkz_shared::protocol::{AgentMessage, FrameReader, HubMessage};
use libfuzzer_sys::fuzz_target;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

async fn drain<T: serde::de::DeserializeOwned>(bytes: &[u8], max: u32) {
    let mut reader = FrameReader::new(bytes, max);
    loop {
        match reader.read::<T>().await {
            Ok(_) => {}
            // Every error ends the stream, as it ends the connection in the hub.
            Err(_) => return,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    runtime().block_on(async {
        drain::<AgentMessage>(data, MAX_BULK_FRAME).await;
        drain::<AgentMessage>(data, MAX_ENROLL_FRAME).await;
        drain::<HubMessage>(data, MAX_BULK_FRAME).await;
    });
});
