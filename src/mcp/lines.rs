//! Lines of input, each at most a given length: a longer line is skipped (up to its newline)
//! and reported, so that a client cannot make the process buffer without bound.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::codec::{Decoder, LinesCodec, LinesCodecError};

/// Why a line was not returned.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The line was longer than the limit; it was skipped.
    #[error("Parse error: the message is longer than {0} bytes")]
    TooLong(usize),
    /// The line was not UTF-8; it was skipped.
    #[error("Parse error: the message is not UTF-8")]
    NotUtf8,
    /// Reading failed; nothing more can be read.
    #[error("{0}")]
    Read(std::io::Error),
}

/// Reads lines (without their `\n` or `\r\n`) from an async reader.
pub struct LineReader<R> {
    reader: R,
    buffer: BytesMut,
    codec: LinesCodec,
    max_length: usize,
    ended: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Lines of at most `max_length` bytes from `reader`.
    pub fn new(reader: R, max_length: usize) -> Self {
        Self {
            reader,
            buffer: BytesMut::with_capacity(64 * 1024),
            codec: LinesCodec::new_with_max_length(max_length),
            max_length,
            ended: false,
        }
    }

    /// The next line, a line refused, or `None` at the end of the input.
    pub async fn next_line(&mut self) -> Option<Result<String, LineError>> {
        loop {
            let decoded = if self.ended {
                self.codec.decode_eof(&mut self.buffer)
            } else {
                self.codec.decode(&mut self.buffer)
            };
            match decoded {
                Ok(Some(line)) => return Some(Ok(line)),
                Ok(None) if self.ended => return None,
                Ok(None) => {}
                Err(LinesCodecError::MaxLineLengthExceeded) => {
                    return Some(Err(LineError::TooLong(self.max_length)))
                }
                Err(LinesCodecError::Io(_)) => return Some(Err(LineError::NotUtf8)),
            }
            match self.reader.read_buf(&mut self.buffer).await {
                Ok(0) => self.ended = true,
                Ok(_) => {}
                Err(error) => return Some(Err(LineError::Read(error))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(input: &[u8], max: usize) -> Vec<String> {
        let mut reader = LineReader::new(input, max);
        let mut seen = Vec::new();
        while let Some(line) = reader.next_line().await {
            seen.push(match line {
                Ok(line) => line,
                Err(LineError::TooLong(_)) => "<too long>".into(),
                Err(LineError::NotUtf8) => "<not utf-8>".into(),
                Err(LineError::Read(e)) => panic!("{e}"),
            });
        }
        seen
    }

    #[tokio::test]
    async fn long_and_broken_lines_are_skipped_and_reading_goes_on() {
        let mut input = b"one\r\n".to_vec();
        input.extend(vec![b'x'; 100]);
        input.extend(b"\ntwo\n\xff\xfe\nthree");
        assert_eq!(
            read_all(&input, 10).await,
            ["one", "<too long>", "two", "<not utf-8>", "three"]
        );
    }
}
