//! The gRPC framing of a unary request body: exactly one length-prefixed, uncompressed message.
//!
//! A message is a 1-byte compressed flag, a 4-byte big-endian length and that many bytes. This
//! server supports no compression, so it answers a compressed message or a `grpc-encoding`
//! other than `identity` with UNIMPLEMENTED and `grpc-accept-encoding: identity`, as the gRPC
//! compression spec prescribes; every other framing fault is INVALID_ARGUMENT with a message.

use http::HeaderMap;
use tonic::Status;

/// Length of the prefix before each message.
pub const PREFIX_LEN: usize = 5;
const ENCODING_HEADER: &str = "grpc-encoding";
const ACCEPT_ENCODING_HEADER: &str = "grpc-accept-encoding";

/// Refuses a `grpc-encoding` this server cannot decode.
pub fn check_encoding(headers: &HeaderMap) -> Result<(), Status> {
    match headers.get(ENCODING_HEADER).map(|v| v.to_str()) {
        None => Ok(()),
        Some(Ok("identity")) => Ok(()),
        Some(Ok(other)) => Err(compression_unsupported(format!(
            "grpc-encoding `{}` is not supported: this server accepts identity only",
            other.chars().take(40).collect::<String>()
        ))),
        Some(Err(_)) => Err(compression_unsupported(
            "grpc-encoding is not valid text: this server accepts identity only".to_owned(),
        )),
    }
}

/// Checks that `body` is exactly one uncompressed message.
pub fn check_unary(body: &[u8]) -> Result<(), Status> {
    if body.is_empty() {
        return Err(Status::invalid_argument(
            "empty request body: a unary call carries exactly one length-prefixed message",
        ));
    }
    if body.len() < PREFIX_LEN {
        return Err(Status::invalid_argument(format!(
            "truncated gRPC frame: {} bytes, shorter than the 5-byte message prefix",
            body.len()
        )));
    }
    match body[0] {
        0 => {}
        1 => {
            return Err(compression_unsupported(
                "compressed messages are not supported: send them uncompressed".to_owned(),
            ))
        }
        flag => {
            return Err(Status::invalid_argument(format!(
                "invalid gRPC frame: compressed flag {flag}, must be 0 or 1"
            )))
        }
    }
    let declared = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let arrived = body.len() - PREFIX_LEN;
    if declared > arrived {
        return Err(Status::invalid_argument(format!(
            "truncated gRPC message: its prefix declares {declared} bytes, {arrived} arrived"
        )));
    }
    if declared < arrived {
        return Err(Status::invalid_argument(format!(
            "{} bytes after the message: a unary call carries exactly one message",
            arrived - declared
        )));
    }
    Ok(())
}

fn compression_unsupported(message: String) -> Status {
    let mut status = Status::unimplemented(message);
    status
        .metadata_mut()
        .insert(ACCEPT_ENCODING_HEADER, "identity".parse().expect("ascii"));
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flag: u8, declared: u32, payload: &[u8]) -> Vec<u8> {
        let mut body = vec![flag];
        body.extend_from_slice(&declared.to_be_bytes());
        body.extend_from_slice(payload);
        body
    }

    #[test]
    fn one_plain_message_passes() {
        assert!(check_unary(&frame(0, 0, b"")).is_ok());
        assert!(check_unary(&frame(0, 3, b"abc")).is_ok());
    }

    #[test]
    fn framing_faults_have_their_codes_and_messages() {
        let cases: [(Vec<u8>, tonic::Code, &str); 7] = [
            (vec![], tonic::Code::InvalidArgument, "empty request body"),
            (
                vec![0, 0],
                tonic::Code::InvalidArgument,
                "truncated gRPC frame",
            ),
            (
                frame(0, 4, b"abc"),
                tonic::Code::InvalidArgument,
                "declares 4 bytes, 3 arrived",
            ),
            (
                frame(0, u32::MAX, b""),
                tonic::Code::InvalidArgument,
                "truncated gRPC message",
            ),
            (
                frame(0, 1, b"ab"),
                tonic::Code::InvalidArgument,
                "1 bytes after the message",
            ),
            (
                frame(2, 0, b""),
                tonic::Code::InvalidArgument,
                "compressed flag 2",
            ),
            (
                frame(1, 0, b""),
                tonic::Code::Unimplemented,
                "compressed messages",
            ),
        ];
        for (body, code, text) in cases {
            let status = check_unary(&body).unwrap_err();
            assert_eq!(status.code(), code, "{body:?}");
            assert!(status.message().contains(text), "{}", status.message());
        }
        assert_eq!(
            check_unary(&frame(255, 0, b"")).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }

    #[test]
    fn only_identity_encoding_is_accepted() {
        let mut headers = HeaderMap::new();
        assert!(check_encoding(&headers).is_ok());
        headers.insert(ENCODING_HEADER, "identity".parse().unwrap());
        assert!(check_encoding(&headers).is_ok());
        headers.insert(ENCODING_HEADER, "gzip".parse().unwrap());
        let status = check_encoding(&headers).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        assert_eq!(
            status.metadata().get(ACCEPT_ENCODING_HEADER).unwrap(),
            "identity"
        );
    }
}
