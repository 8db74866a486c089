//! A client for the OCI distribution API over plain HTTP (loopback and insecure registries):
//! blob existence checks, monolithic blob uploads, manifest puts, and reads for checks.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

use crate::{Digest, Error, Image, Result, image::Blob};

/// How long one request may take before the push is abandoned.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A registry reached over plain HTTP at `host:port`.
#[derive(Clone)]
pub struct Registry {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A registry's answer: status, headers, whole body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Registry {
    /// A client for the registry at `host` (`127.0.0.1:5000`), spoken to over plain HTTP.
    pub fn http(host: &str) -> Registry {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Registry { base: format!("http://{host}"), client }
    }

    /// Pushes `image` into `repository` under each of `tags`: blobs the registry lacks, then
    /// the manifest once per tag.
    ///
    /// # Errors
    /// [`Error::Transport`] when the registry cannot be reached, [`Error::Registry`] when it
    /// refuses a step.
    pub async fn push(&self, image: &Image, repository: &str, tags: &[&str]) -> Result<()> {
        for blob in image.blobs() {
            self.upload_blob(repository, blob).await?;
        }
        for tag in tags {
            let stored = self
                .put_manifest(repository, tag, &image.manifest.media_type, image.manifest.data.clone())
                .await?;
            if let Some(stored) = stored
                && &stored != image.digest()
            {
                return Err(Error::Invalid(format!(
                    "{repository}:{tag}: registry stored manifest {stored}, expected {}",
                    image.digest()
                )));
            }
        }
        Ok(())
    }

    /// Answers whether the registry has the blob in `repository` (a HEAD request).
    pub async fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let answer = self.send(Method::HEAD, &url, &[], Bytes::new(), "check blob").await?;
        match answer.status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(refused(&format!("HEAD {url}"), answer)),
        }
    }

    /// Uploads `blob` unless the registry already has it (a POST opening an upload session,
    /// then one PUT with the whole blob). Answers whether it uploaded.
    pub async fn upload_blob(&self, repository: &str, blob: &Blob) -> Result<bool> {
        if self.blob_exists(repository, &blob.digest).await? {
            return Ok(false);
        }
        let url = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let context = format!("start upload of {} to {repository}", blob.digest);
        let answer = self.send(Method::POST, &url, &[], Bytes::new(), &context).await?;
        if answer.status != StatusCode::ACCEPTED {
            return Err(refused(&context, answer));
        }
        let location = answer
            .headers
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| Error::Invalid(format!("{context}: no Location in the answer")))?;
        let mut put_url = if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        };
        put_url.push(if put_url.contains('?') { '&' } else { '?' });
        put_url.push_str(&format!("digest=sha256%3A{}", blob.digest.hex()));
        let context = format!("upload {} to {repository}", blob.digest);
        let headers = [(header::CONTENT_TYPE, "application/octet-stream")];
        let answer = self.send(Method::PUT, &put_url, &headers, blob.data.clone(), &context).await?;
        if answer.status != StatusCode::CREATED {
            return Err(refused(&context, answer));
        }
        Ok(true)
    }

    /// Stores a manifest under `reference` (a tag). Answers the digest the registry reports.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        data: Bytes,
    ) -> Result<Option<Digest>> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let context = format!("put manifest {repository}:{reference}");
        let answer =
            self.send(Method::PUT, &url, &[(header::CONTENT_TYPE, media_type)], data, &context).await?;
        if answer.status != StatusCode::CREATED {
            return Err(refused(&context, answer));
        }
        let digest = answer.headers.get("docker-content-digest").and_then(|d| d.to_str().ok());
        digest.map(Digest::parse).transpose()
    }

    /// Reads a manifest by tag or digest: its media type and bytes.
    pub async fn manifest(&self, repository: &str, reference: &str) -> Result<(String, Bytes)> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let context = format!("get manifest {repository}:{reference}");
        let accept = [(
            header::ACCEPT,
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json",
        )];
        let answer = self.send(Method::GET, &url, &accept, Bytes::new(), &context).await?;
        if answer.status != StatusCode::OK {
            return Err(refused(&context, answer));
        }
        let media_type = answer
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|t| t.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Ok((media_type, answer.body))
    }

    /// Reads a blob.
    pub async fn blob(&self, repository: &str, digest: &Digest) -> Result<Bytes> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let context = format!("get blob {digest} from {repository}");
        let answer = self.send(Method::GET, &url, &[], Bytes::new(), &context).await?;
        if answer.status != StatusCode::OK {
            return Err(refused(&context, answer));
        }
        Ok(answer.body)
    }

    /// Answers whether the registry serves the distribution API (`GET /v2/` is 200).
    pub async fn ping(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let answer = self.send(Method::GET, &url, &[], Bytes::new(), "ping registry").await?;
        if answer.status != StatusCode::OK {
            return Err(refused("ping registry", answer));
        }
        Ok(())
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(header::HeaderName, &str)],
        body: Bytes,
        context: &str,
    ) -> Result<Answer> {
        let mut request = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let request = request.body(Full::new(body)).map_err(|e| Error::Invalid(format!("{context}: {e}")))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| Error::transport(context, e))?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| Error::transport(context, e))?.to_bytes();
            Ok(Answer { status: parts.status, headers: parts.headers, body })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| Error::transport(context, format!("no answer within {REQUEST_TIMEOUT:?}")))?
    }
}

fn refused(context: &str, answer: Answer) -> Error {
    Error::Registry {
        context: context.to_string(),
        status: answer.status.as_u16(),
        body: String::from_utf8_lossy(&answer.body).chars().take(500).collect(),
    }
}
