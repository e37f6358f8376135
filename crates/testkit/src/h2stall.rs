//! Hostile HTTP/2 clients, written as raw frames: the webhook's and the proxy's connection tests
//! both need a client that stops in the middle of a request, which no HTTP/2 library will do.

use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The HTTP/2 client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// One frame: 24-bit length, type, flags, stream id, payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// `GET {scheme}://{authority}/` in HPACK: the static table's `:method GET`, `:scheme`, `:path /`,
/// and `:authority` as one literal (at most 127 bytes).
pub fn get_block(https: bool, authority: &str) -> Vec<u8> {
    let scheme = if https { 0x87 } else { 0x86 };
    let mut b = vec![0x82, scheme, 0x84, 0x41, authority.len() as u8];
    b.extend_from_slice(authority.as_bytes());
    b
}

/// Where a hostile client stops.
#[derive(Clone, Copy, Debug)]
pub enum Stall {
    /// The preface and SETTINGS, then nothing.
    AfterPreface,
    /// HEADERS without END_HEADERS, and never the CONTINUATION.
    InHeaderBlock,
    /// One complete request, then a second stream's HEADERS without END_HEADERS.
    InSecondHeaderBlock,
}

impl Stall {
    pub const ALL: [Stall; 3] = [
        Stall::AfterPreface,
        Stall::InHeaderBlock,
        Stall::InSecondHeaderBlock,
    ];

    /// Writes what this client sends, then returns with the connection left open.
    pub async fn send<W: AsyncWrite + Unpin>(self, w: &mut W, https: bool, authority: &str) {
        let get = get_block(https, authority);
        let mut out = PREFACE.to_vec();
        out.extend(frame(0x4, 0, 0, &[]));
        match self {
            Stall::AfterPreface => {}
            Stall::InHeaderBlock => out.extend(frame(0x1, 0x1, 1, &get)),
            Stall::InSecondHeaderBlock => out.extend(frame(0x1, 0x5, 1, &get)),
        }
        w.write_all(&out)
            .await
            .expect("write the stalled client's frames");
        if let Stall::InSecondHeaderBlock = self {
            tokio::time::sleep(Duration::from_millis(300)).await;
            w.write_all(&frame(0x1, 0x1, 3, &get))
                .await
                .expect("write the second stream's HEADERS");
        }
    }
}
