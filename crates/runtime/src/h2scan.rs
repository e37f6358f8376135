//! Follows the frame boundaries of the bytes an HTTP/2 client sends, only far enough to see where
//! a header block begins and ends: a HEADERS frame without END_HEADERS opens one and the
//! CONTINUATION with END_HEADERS closes it. hyper (through h2) buffers such a block without any
//! deadline, so this is what lets a stalled block be timed. Payloads are skipped, never copied.

const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const HEADERS: u8 = 0x1;
const PUSH_PROMISE: u8 = 0x5;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;

#[derive(Debug)]
pub struct Scanner {
    /// Preface bytes still to skip.
    preface: usize,
    header: [u8; FRAME_HEADER_LEN],
    have: usize,
    /// Payload bytes of the current frame still to skip.
    payload: usize,
}

/// A header block began (`true`) or ended (`false`).
pub type Change = bool;

impl Scanner {
    pub fn new() -> Self {
        Scanner {
            preface: PREFACE_LEN,
            header: [0; FRAME_HEADER_LEN],
            have: 0,
            payload: 0,
        }
    }

    /// Consumes bytes as the client sent them; returns the last header-block change they carry.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Option<Change> {
        let mut change = None;
        loop {
            if self.preface > 0 {
                let n = self.preface.min(bytes.len());
                self.preface -= n;
                bytes = &bytes[n..];
            }
            if self.payload > 0 {
                let n = self.payload.min(bytes.len());
                self.payload -= n;
                bytes = &bytes[n..];
            }
            if bytes.is_empty() {
                return change;
            }
            let n = (FRAME_HEADER_LEN - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have < FRAME_HEADER_LEN {
                return change;
            }
            self.have = 0;
            let h = &self.header;
            self.payload = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
            let (kind, flags) = (h[3], h[4]);
            let ends = flags & END_HEADERS != 0;
            match kind {
                HEADERS | PUSH_PROMISE => change = Some(!ends),
                CONTINUATION if ends => change = Some(false),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            flags,
            0,
            0,
            0,
            1,
        ];
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn headers_without_end_headers_opens_a_block_until_its_last_continuation() {
        let mut s = Scanner::new();
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(0x4, 0, &[])); // SETTINGS
        assert_eq!(s.feed(&bytes), None);
        assert_eq!(s.feed(&frame(HEADERS, 0, &[0x82; 100])), Some(true));
        assert_eq!(s.feed(&frame(CONTINUATION, 0, &[0x84; 10])), None);
        assert_eq!(
            s.feed(&frame(CONTINUATION, END_HEADERS, &[0x86])),
            Some(false)
        );
        assert_eq!(
            s.feed(&frame(HEADERS, END_HEADERS | 0x1, &[0x82])),
            Some(false)
        );
    }

    #[test]
    fn frames_split_at_every_byte_are_followed() {
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(0x8, 0, &[0, 0, 1, 0])); // WINDOW_UPDATE
        bytes.extend(frame(HEADERS, 0, &[0x82, 0x87]));
        let mut s = Scanner::new();
        let changes: Vec<_> = bytes.iter().filter_map(|b| s.feed(&[*b])).collect();
        assert_eq!(changes, vec![true]);
        // A DATA payload that looks like a HEADERS frame header is skipped, not parsed.
        let mut s = Scanner::new();
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(0x0, 0, &frame(HEADERS, 0, &[])));
        assert_eq!(s.feed(&bytes), None);
    }
}
