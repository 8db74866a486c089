//! gRPC probes: one `grpc.health.v1.Health/Check` call over cleartext HTTP/2, with upstream's
//! outcomes and messages (`service unhealthy (responded with "NOT_SERVING")`, ...).

use std::time::Duration;

use super::Outcome;
use crate::time::go_seconds;

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    service: String,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckResponse {
    #[prost(int32, tag = "1")]
    status: i32,
}

/// `HealthCheckResponse.ServingStatus` by number.
fn serving_status(status: i32) -> String {
    match status {
        0 => "UNKNOWN".into(),
        1 => "SERVING".into(),
        2 => "NOT_SERVING".into(),
        3 => "SERVICE_UNKNOWN".into(),
        other => other.to_string(),
    }
}

/// Checks `service` (empty: the server as a whole) at `host:port` within `timeout`.
pub async fn check(host: &str, port: u16, service: &str, timeout: Duration) -> (Outcome, String) {
    let addr = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let within = go_seconds(timeout.as_secs());
    let endpoint = match tonic::transport::Endpoint::from_shared(format!("http://{addr}")) {
        Ok(e) => e,
        Err(e) => return (Outcome::Failure, format!("error: failed to connect service at {addr:?}: {e}")),
    };
    let endpoint = endpoint.connect_timeout(timeout).timeout(timeout);
    let endpoint = match endpoint.user_agent(format!("kube-probe/{}", super::http::KUBE_VERSION)) {
        Ok(e) => e,
        Err(e) => return (Outcome::Failure, format!("error: failed to connect service at {addr:?}: {e}")),
    };
    let channel = match tokio::time::timeout(timeout, endpoint.connect()).await {
        Ok(Ok(channel)) => channel,
        Ok(Err(e)) => {
            let cause = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
            return (Outcome::Failure, format!("error: failed to connect service at {addr:?}: {cause}"));
        }
        Err(_) => {
            return (
                Outcome::Failure,
                format!(
                    "timeout: failed to connect service {addr:?} within {within}: context deadline exceeded"
                ),
            );
        }
    };
    let mut grpc = tonic::client::Grpc::new(channel);
    let call = async {
        grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let codec = tonic_prost::ProstCodec::<HealthCheckRequest, HealthCheckResponse>::default();
        let path = http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/Check");
        let request = tonic::Request::new(HealthCheckRequest { service: service.to_string() });
        grpc.unary(request, path, codec).await
    };
    let answer = match tokio::time::timeout(timeout, call).await {
        Ok(answer) => answer,
        Err(_) => Err(tonic::Status::deadline_exceeded("")),
    };
    match answer {
        Ok(response) => {
            let status = response.into_inner().status;
            if status == 1 {
                (Outcome::Success, "service healthy".into())
            } else {
                (Outcome::Failure, format!("service unhealthy (responded with {:?})", serving_status(status)))
            }
        }
        Err(s) => match s.code() {
            tonic::Code::Unimplemented => (
                Outcome::Failure,
                format!(
                    "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {}",
                    s.message()
                ),
            ),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
                (Outcome::Failure, format!("timeout: health rpc did not complete within {within}"))
            }
            code => (
                Outcome::Failure,
                format!("error: health rpc probe failed: rpc error: code = {code:?} desc = {}", s.message()),
            ),
        },
    }
}
