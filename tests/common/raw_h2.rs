//! A bare HTTP/2 gRPC caller (h2 over rustls), below any gRPC library: it sends exactly the
//! headers and frames a test gives and reports where the server put `grpc-status`.
//!
//! Clients built on grpc-core (Python grpcio, C++, C#) require errors as Trailers-Only
//! responses (status in the HEADERS frame that ends the stream); this checks that on the wire.

use bytes::Bytes;

use super::ServerProcess;

/// What came back for one call.
#[derive(Debug)]
pub struct RawResponse {
    /// HTTP status.
    pub http_status: u16,
    /// `grpc-status` if it was in the response headers (Trailers-Only form).
    pub status_in_headers: Option<String>,
    /// `grpc-message` from the headers, percent-encoded as sent.
    pub message_in_headers: Option<String>,
    /// Whether the response headers ended the stream.
    pub headers_ended_stream: bool,
    /// `grpc-status` from the trailers, if any.
    pub status_in_trailers: Option<String>,
    /// The response body.
    pub body: Bytes,
}

/// Sends one POST to `path` with `headers` and `body` (already gRPC-framed) and reads the reply.
pub async fn call(
    server: &ServerProcess,
    path: &str,
    headers: &[(&str, String)],
    body: Bytes,
) -> RawResponse {
    let local = std::net::IpAddr::from([127, 0, 0, 1]);
    let tls = super::attack::tls_from(server, local)
        .await
        .expect("tls handshake");
    let (mut sender, connection) = h2::client::handshake(tls).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut request = http::Request::post(format!("https://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let request = request.body(()).unwrap();
    sender = sender.ready().await.expect("h2 ready");
    let (response, mut stream) = sender.send_request(request, false).expect("send request");
    stream.send_data(body, true).expect("send body");
    let response = response.await.expect("response");
    let headers_ended_stream = response.body().is_end_stream();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let http_status = response.status().as_u16();
    let status_in_headers = header("grpc-status");
    let message_in_headers = header("grpc-message");
    let mut body_stream = response.into_body();
    let mut body = Vec::new();
    while let Some(chunk) = body_stream.data().await {
        let chunk = chunk.expect("body chunk");
        let _ = body_stream.flow_control().release_capacity(chunk.len());
        body.extend_from_slice(&chunk);
    }
    let trailers = body_stream.trailers().await.expect("trailers");
    let status_in_trailers =
        trailers.and_then(|t| t.get("grpc-status").map(|v| v.to_str().unwrap().to_owned()));
    RawResponse {
        http_status,
        status_in_headers,
        message_in_headers,
        headers_ended_stream,
        status_in_trailers,
        body: Bytes::from(body),
    }
}

/// Frames a protobuf message as one uncompressed gRPC message.
pub fn frame(message: &[u8]) -> Bytes {
    let mut framed = Vec::with_capacity(5 + message.len());
    framed.push(0);
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    Bytes::from(framed)
}
