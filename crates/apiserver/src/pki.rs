//! The cluster's certificates, admin kubeconfig and join token, made on first start and reused.
//!
//! Layout under `<data-dir>/tls/`: `ca.{crt,key}` (the cluster CA), `serving.{crt,key}` (the API
//! server), `admin.{crt,key}` (the admin client, `O=system:masters`), `service-account.key` (signs
//! service account tokens). The join token has k3s's
//! shape, `K10<sha256 of the CA certificate>::server:<secret>`, so that an agent can check the
//! server's CA before trusting it.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};

/// Certificates and credentials of one server.
pub struct Pki {
    pub ca_pem: String,
    /// The CA's key: it signs each node's client certificate (`node_credentials.rs`).
    pub ca_key_pem: String,
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
    pub admin_cert_pem: String,
    pub admin_key_pem: String,
    /// The join token (whole, as written to `<data-dir>/token`).
    pub token: String,
    /// The P-256 key service account tokens are signed with (PKCS#8 PEM).
    pub service_account_key_pem: String,
}

/// Names the serving certificate must carry besides the ones always present.
#[derive(Clone, Debug, Default)]
pub struct ServingNames {
    pub dns: Vec<String>,
    pub ips: Vec<std::net::IpAddr>,
}

impl Pki {
    /// Loads the PKI from `data_dir`, creating whatever is missing.
    ///
    /// # Errors
    /// If files cannot be read or written, or existing ones do not parse.
    pub fn load_or_create(data_dir: &Path, names: &ServingNames) -> Result<Self> {
        let tls = data_dir.join("tls");
        fs::create_dir_all(&tls).with_context(|| format!("creating {}", tls.display()))?;
        let (ca_pem, ca_key_pem) = load_or(&tls, "ca", || {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::default();
            params.distinguished_name = dn("tugboat-ca", None);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            params.not_after = rcgen::date_time_ymd(2125, 1, 1);
            let cert = params.self_signed(&key)?;
            Ok((cert.pem(), key.serialize_pem()))
        })?;
        let ca_key = KeyPair::from_pem(&ca_key_pem).context("parsing the CA key")?;
        let ca_key_pem_kept = ca_key_pem.clone();
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).context("parsing the CA certificate")?;

        let sans = serving_sans(names)?;
        let (serving_cert_pem, serving_key_pem) = load_or(&tls, "serving", || {
            let mut params = CertificateParams::default();
            params.distinguished_name = dn("tugboat-apiserver", None);
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params.subject_alt_names = sans;
            sign(params, &issuer)
        })?;
        let (admin_cert_pem, admin_key_pem) = load_or(&tls, "admin", || {
            let mut params = CertificateParams::default();
            params.distinguished_name = dn("kubernetes-admin", Some("system:masters"));
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            sign(params, &issuer)
        })?;

        let token_path = data_dir.join("token");
        let token = match fs::read_to_string(&token_path) {
            Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => {
                let token = format!("K10{}::server:{}", ca_hash(&ca_pem)?, random_hex(16)?);
                write_private(&token_path, &format!("{token}\n"))?;
                token
            }
        };
        let sa_key_path = tls.join("service-account.key");
        let service_account_key_pem = match fs::read_to_string(&sa_key_path) {
            Ok(pem) => pem,
            Err(_) => {
                let pem = KeyPair::generate().context("making the service account key")?.serialize_pem();
                write_private(&sa_key_path, &pem)?;
                pem
            }
        };
        Ok(Pki {
            ca_pem,
            ca_key_pem: ca_key_pem_kept,
            serving_cert_pem,
            serving_key_pem,
            admin_cert_pem,
            admin_key_pem,
            token,
            service_account_key_pem,
        })
    }

    /// The admin kubeconfig for a server reached at `server_url`.
    pub fn admin_kubeconfig(&self, server_url: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server_url}\n  name: default\ncontexts:\n- context:\n    cluster: default\n    user: default\n  name: default\ncurrent-context: default\npreferences: {{}}\nusers:\n- name: default\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(&self.ca_pem),
            b64(&self.admin_cert_pem),
            b64(&self.admin_key_pem),
        )
    }

    /// Writes the admin kubeconfig to `path` (mode 0600).
    pub fn write_kubeconfig(&self, path: &Path, server_url: &str) -> Result<()> {
        write_private(path, &self.admin_kubeconfig(server_url))
    }
}

/// Hex SHA-256 of the CA certificate's DER bytes: what a join token pins.
pub fn ca_hash(ca_pem: &str) -> Result<String> {
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("parsing the CA certificate: {e}"))?;
    Ok(hex::encode(Sha256::digest(der.as_ref())))
}

fn serving_sans(names: &ServingNames) -> Result<Vec<SanType>> {
    let mut dns = vec![
        "localhost".to_string(),
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        "kubernetes.default.svc.cluster.local".into(),
    ];
    if let Ok(host) = fs::read_to_string("/etc/hostname") {
        dns.push(host.trim().to_string());
    }
    dns.extend(names.dns.iter().cloned());
    dns.retain(|d| !d.is_empty());
    dns.sort();
    dns.dedup();
    let mut sans = Vec::new();
    for d in dns {
        sans.push(SanType::DnsName(d.try_into().context("serving certificate DNS name")?));
    }
    let mut ips: Vec<std::net::IpAddr> =
        vec![[127, 0, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into(), [10, 43, 0, 1].into()];
    ips.extend(names.ips.iter().copied());
    ips.sort();
    ips.dedup();
    sans.extend(ips.into_iter().map(SanType::IpAddress));
    Ok(sans)
}

fn dn(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(o) = organization {
        dn.push(DnType::OrganizationName, o);
    }
    dn
}

fn sign(
    mut params: CertificateParams,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.not_after = rcgen::date_time_ymd(2125, 1, 1);
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Reads `<name>.crt` and `<name>.key` from `dir`, or makes and writes them.
fn load_or(
    dir: &Path,
    name: &str,
    make: impl FnOnce() -> Result<(String, String), rcgen::Error>,
) -> Result<(String, String)> {
    let (crt, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    if crt.exists() && key.exists() {
        let read = |p: &PathBuf| fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
        return Ok((read(&crt)?, read(&key)?));
    }
    let (cert_pem, key_pem) = make().with_context(|| format!("making the {name} certificate"))?;
    write_private(&key, &key_pem)?;
    fs::write(&crt, &cert_pem).with_context(|| format!("writing {}", crt.display()))?;
    Ok((cert_pem, key_pem))
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("random bytes: {e}"))?;
    Ok(hex::encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let names = ServingNames::default();
        let a = Pki::load_or_create(dir.path(), &names).unwrap();
        let b = Pki::load_or_create(dir.path(), &names).unwrap();
        assert_eq!(a.ca_pem, b.ca_pem);
        assert_eq!(a.serving_cert_pem, b.serving_cert_pem);
        assert_eq!(a.admin_key_pem, b.admin_key_pem);
        assert_eq!(a.token, b.token);
        assert!(a.token.starts_with(&format!("K10{}::server:", ca_hash(&a.ca_pem).unwrap())));
        let kubeconfig = a.admin_kubeconfig("https://127.0.0.1:6443");
        assert!(kubeconfig.contains("server: https://127.0.0.1:6443"));
        assert!(kubeconfig.contains("client-key-data: "));
    }
}
