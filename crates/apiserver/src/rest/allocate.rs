//! Service addresses: cluster IPs from the service range and node ports from 30000-32767.
//!
//! Each allocation is a key in the store (`/registry/ranges/serviceips/<ip>`,
//! `/registry/ranges/servicenodeports/<port>`) claimed with create-if-absent, so two API
//! servers can never hand out the same one.

use std::net::Ipv4Addr;

use serde_json::{Value, json};
use tug_api::status::{ApiError, Cause};
use tug_store::StoreError;

use crate::{AppState, error::Error};

/// The service range, 10.43.0.0/16 (k3s's default); .1 is the `kubernetes` Service.
const SERVICE_NET: u32 = u32::from_be_bytes([10, 43, 0, 0]);
const SERVICE_BITS: u32 = 16;
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;
const IP_PREFIX: &str = "/registry/ranges/serviceips/";
const PORT_PREFIX: &str = "/registry/ranges/servicenodeports/";

fn random_u32() -> Result<u32, Error> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|e| ApiError::internal(format!("random bytes: {e}")))?;
    Ok(u32::from_le_bytes(b))
}

fn invalid(svc: &Value, field: &str, message: String) -> Error {
    let name = svc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    ApiError::invalid(
        "",
        "Service",
        name,
        vec![Cause { reason: "FieldValueInvalid".into(), message, field: field.into() }],
    )
    .into()
}

fn owner(svc: &Value) -> bytes::Bytes {
    let ns = svc.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    let name = svc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    bytes::Bytes::from(format!("{ns}/{name}"))
}

/// Claims `key`; false if someone holds it.
async fn claim(state: &AppState, key: &str, svc: &Value) -> Result<bool, Error> {
    match state.store.create(key, owner(svc)).await {
        Ok(_) => Ok(true),
        Err(StoreError::AlreadyExists { .. }) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// The claims a Service holds.
pub fn claims(svc: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(ip) =
        svc.pointer("/spec/clusterIP").and_then(Value::as_str).filter(|ip| ip.parse::<Ipv4Addr>().is_ok())
    {
        keys.push(format!("{IP_PREFIX}{ip}"));
    }
    for port in svc.pointer("/spec/ports").and_then(Value::as_array).into_iter().flatten() {
        if let Some(p) = port.get("nodePort").and_then(Value::as_u64) {
            keys.push(format!("{PORT_PREFIX}{p}"));
        }
    }
    keys
}

/// Releases claims the Service no longer holds (`before` minus `after`).
pub async fn release(state: &AppState, before: &Value, after: Option<&Value>) {
    let keep = after.map(claims).unwrap_or_default();
    for key in claims(before).into_iter().filter(|k| !keep.contains(k)) {
        if let Err(err) = state.store.delete(&key, None).await
            && !matches!(err, StoreError::NotFound { .. })
        {
            tracing::warn!(key, error = %err, "releasing a service allocation");
        }
    }
}

/// Gives a new or changed Service the cluster IP and node ports it needs, claiming them.
/// `current` is the stored Service on update. With `dry_run` nothing is claimed.
pub async fn allocate(
    state: &AppState,
    svc: &mut Value,
    current: Option<&Value>,
    dry_run: bool,
) -> Result<(), Error> {
    let kind = svc.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
    if kind == "ExternalName" {
        return Ok(());
    }
    let held = current.map(claims).unwrap_or_default();
    let requested = svc.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or("").to_string();
    let ip = match requested.as_str() {
        "None" => None,
        "" => match current.and_then(|c| c.pointer("/spec/clusterIP")).and_then(Value::as_str) {
            Some(kept) => Some(kept.to_string()),
            None => Some(free_ip(state, svc, dry_run).await?),
        },
        explicit => {
            let addr: Ipv4Addr = explicit.parse().map_err(|_| {
                invalid(
                    svc,
                    "spec.clusterIPs",
                    format!("Invalid value: []string{{\"{explicit}\"}}: must be a valid IP address"),
                )
            })?;
            let in_range = (u32::from(addr) >> (32 - SERVICE_BITS)) == (SERVICE_NET >> (32 - SERVICE_BITS));
            if !in_range {
                return Err(invalid(
                    svc,
                    "spec.clusterIPs",
                    format!(
                        "Invalid value: []string{{\"{explicit}\"}}: failed to allocate IP {explicit}: the provided IP ({explicit}) is not in the valid range. The range of valid IPs is 10.43.0.0/16"
                    ),
                ));
            }
            let key = format!("{IP_PREFIX}{explicit}");
            if !held.contains(&key) && !dry_run && !claim(state, &key, svc).await? {
                return Err(invalid(
                    svc,
                    "spec.clusterIPs",
                    format!(
                        "Invalid value: []string{{\"{explicit}\"}}: failed to allocate IP {explicit}: provided IP is already allocated"
                    ),
                ));
            }
            Some(explicit.to_string())
        }
    };
    if let Some(ip) = ip {
        svc["spec"]["clusterIP"] = json!(ip);
        svc["spec"]["clusterIPs"] = json!([ip]);
    }
    if kind == "NodePort" || kind == "LoadBalancer" {
        let count = svc.pointer("/spec/ports").and_then(Value::as_array).map_or(0, Vec::len);
        for i in 0..count {
            match svc["spec"]["ports"][i].get("nodePort").and_then(Value::as_u64) {
                Some(p) => {
                    let key = format!("{PORT_PREFIX}{p}");
                    if !NODE_PORTS.contains(&(p as u16)) || p > u16::MAX as u64 {
                        return Err(invalid(
                            svc,
                            &format!("spec.ports[{i}].nodePort"),
                            format!(
                                "Invalid value: {p}: provided port is not in the valid range. The range of valid ports is 30000-32767"
                            ),
                        ));
                    }
                    if !held.contains(&key) && !dry_run && !claim(state, &key, svc).await? {
                        return Err(invalid(
                            svc,
                            &format!("spec.ports[{i}].nodePort"),
                            format!("Invalid value: {p}: provided port is already allocated"),
                        ));
                    }
                }
                None => {
                    let port = free_port(state, svc, dry_run).await?;
                    svc["spec"]["ports"][i]["nodePort"] = json!(port);
                }
            }
        }
    }
    Ok(())
}

async fn free_ip(state: &AppState, svc: &Value, dry_run: bool) -> Result<String, Error> {
    let size = 1u32 << (32 - SERVICE_BITS);
    // Random probes first (the range is mostly free), then a scan.
    for attempt in 0..size {
        let offset = if attempt < 64 { random_u32()? % (size - 3) + 2 } else { attempt };
        if offset < 2 || offset >= size - 1 {
            continue;
        }
        let ip = Ipv4Addr::from(SERVICE_NET + offset).to_string();
        if dry_run || claim(state, &format!("{IP_PREFIX}{ip}"), svc).await? {
            return Ok(ip);
        }
    }
    Err(ApiError::internal("failed to allocate a serviceIP: range is full").into())
}

async fn free_port(state: &AppState, svc: &Value, dry_run: bool) -> Result<u16, Error> {
    let (lo, hi) = (*NODE_PORTS.start() as u32, *NODE_PORTS.end() as u32);
    let span = hi - lo + 1;
    for attempt in 0..span + 64 {
        let port = if attempt < 64 { lo + random_u32()? % span } else { lo + attempt - 64 };
        if dry_run || claim(state, &format!("{PORT_PREFIX}{port}"), svc).await? {
            return Ok(port as u16);
        }
    }
    Err(ApiError::internal("failed to allocate a nodePort: range is full").into())
}
