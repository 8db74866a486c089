//! Service account tokens: JWTs (ES256) the server issues for `serviceaccounts/<name>/token` and
//! checks for TokenReviews and bearer authentication, with upstream's claims.

use base64::Engine as _;
use ring::{
    rand::SystemRandom,
    signature::{self, EcdsaKeyPair, KeyPair as _},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tug_store::Store;

/// The issuer and default audience of the tokens (upstream's `--service-account-issuer` as
/// clusters usually set it).
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs and verifies service account tokens with the cluster's service account key.
pub struct Signer {
    key: EcdsaKeyPair,
    kid: String,
}

impl Signer {
    /// # Errors
    /// If the PEM is not a P-256 PKCS#8 key.
    pub fn from_pem(pem: &str) -> anyhow::Result<Signer> {
        use rcgen::PublicKeyData as _;
        let pair = rcgen::KeyPair::from_pem(pem)?;
        let key = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pair.serialized_der(),
            &SystemRandom::new(),
        )
        .map_err(|e| anyhow::anyhow!("the service account key is not a P-256 key: {e}"))?;
        // Upstream's key id: the SHA-256 of the public key's DER (SubjectPublicKeyInfo).
        let kid = b64(&Sha256::digest(pair.subject_public_key_info()));
        Ok(Signer { key, kid })
    }

    /// A signed JWT carrying `claims`.
    pub fn issue(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let sig = self.key.sign(&SystemRandom::new(), input.as_bytes()).expect("ECDSA signing does not fail");
        format!("{input}.{}", b64(sig.as_ref()))
    }

    /// The claims of a token this signer issued that is valid at `now` (Unix seconds) for one of
    /// `audiences`, with the audiences it was accepted for.
    pub fn verify(
        &self,
        token: &str,
        audiences: &[String],
        now: i64,
    ) -> Result<(Value, Vec<String>), String> {
        let invalid = || "invalid bearer token".to_string();
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let decode =
            |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).map_err(|_| invalid());
        let header: Value = serde_json::from_slice(&decode(header)?).map_err(|_| invalid())?;
        if header["alg"] != "ES256" || header["kid"] != self.kid.as_str() {
            return Err(invalid());
        }
        let public =
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, self.key.public_key());
        let signed = &token[..token.len() - sig.len() - 1];
        public.verify(signed.as_bytes(), &decode(sig)?).map_err(|_| invalid())?;
        let claims: Value = serde_json::from_slice(&decode(payload)?).map_err(|_| invalid())?;
        if claims["iss"] != ISSUER {
            return Err(invalid());
        }
        let time = |name: &str| claims.get(name).and_then(Value::as_i64);
        if time("exp").is_none_or(|exp| now >= exp) {
            return Err("service account token has expired".into());
        }
        if time("nbf").is_some_and(|nbf| now < nbf) {
            return Err("service account token is not valid yet".into());
        }
        let token_audiences: Vec<&str> = claims["aud"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let accepted: Vec<String> =
            audiences.iter().filter(|a| token_audiences.contains(&a.as_str())).cloned().collect();
        if accepted.is_empty() {
            return Err("token audiences is invalid for the target audiences".into());
        }
        Ok((claims, accepted))
    }
}

/// Who a valid token stands for, as a TokenReview's `status.user` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenUser {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: serde_json::Map<String, Value>,
}

impl TokenUser {
    pub fn to_json(&self) -> Value {
        let mut user = json!({"username": self.username, "uid": self.uid, "groups": self.groups});
        if !self.extra.is_empty() {
            user["extra"] = Value::Object(self.extra.clone());
        }
        user
    }
}

/// Checks a token: signature, time and audience, then that the service account (and the object
/// the token is bound to, if any) still exists with the uid the token names. Returns the user
/// and the audiences the token was accepted for.
pub async fn authenticate(
    store: &dyn Store,
    signer: &Signer,
    token: &str,
    audiences: &[String],
) -> Result<(TokenUser, Vec<String>), String> {
    let now = jiff::Timestamp::now().as_second();
    let (claims, accepted) = signer.verify(token, audiences, now)?;
    let k8s = &claims["kubernetes.io"];
    let namespace = k8s["namespace"].as_str().unwrap_or_default();
    let sa = &k8s["serviceaccount"];
    let (name, uid) = (sa["name"].as_str().unwrap_or_default(), sa["uid"].as_str().unwrap_or_default());
    let live_uid = |key: String| async move {
        let (kv, _) = store.get(&key).await.map_err(|e| e.to_string())?;
        let obj: Option<Value> = kv.and_then(|kv| serde_json::from_slice(&kv.value).ok());
        Ok::<_, String>(
            obj.and_then(|o| o.pointer("/metadata/uid").and_then(Value::as_str).map(str::to_string)),
        )
    };
    // Upstream's messages, as a TokenReview's status.error shows them.
    match live_uid(format!("/registry/core/serviceaccounts/{namespace}/{name}")).await? {
        Some(live) if live == uid => {}
        Some(live) => return Err(format!("service account UID ({live}) does not match claim ({uid})")),
        None => return Err(format!("serviceaccounts \"{name}\" not found")),
    }
    let mut extra = serde_json::Map::new();
    if let Some(jti) = claims["jti"].as_str() {
        extra.insert("authentication.kubernetes.io/credential-id".into(), json!([format!("JTI={jti}")]));
    }
    for (kind, plural) in [("pod", "pods"), ("secret", "secrets")] {
        let bound = &k8s[kind];
        let Some(bound_name) = bound["name"].as_str() else { continue };
        let bound_uid = bound["uid"].as_str().unwrap_or_default();
        match live_uid(format!("/registry/core/{plural}/{namespace}/{bound_name}")).await? {
            Some(live) if live == bound_uid => {}
            Some(live) => {
                return Err(format!(
                    "{kind} UID ({live}) does not match service account {kind} ref claim ({bound_uid})"
                ));
            }
            None => return Err("service account token has been invalidated".into()),
        }
        if kind == "pod" {
            extra.insert("authentication.kubernetes.io/pod-name".into(), json!([bound_name]));
            extra.insert("authentication.kubernetes.io/pod-uid".into(), json!([bound_uid]));
        }
    }
    let user = TokenUser {
        username: format!("system:serviceaccount:{namespace}:{name}"),
        uid: uid.to_string(),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{namespace}"),
            "system:authenticated".into(),
        ],
        extra,
    };
    Ok((user, accepted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::from_pem(&rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap()
    }

    fn claims(exp: i64) -> Value {
        json!({"iss": ISSUER, "aud": ["api", ISSUER], "exp": exp, "nbf": 100, "sub": "system:serviceaccount:a:b"})
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let s = signer();
        let token = s.issue(&claims(200));
        let (got, accepted) = s.verify(&token, &["api".into(), "other".into()], 150).unwrap();
        assert_eq!(
            (got["sub"].as_str(), accepted),
            (Some("system:serviceaccount:a:b"), vec!["api".to_string()])
        );
        assert_eq!(s.verify(&token, &["api".into()], 200).unwrap_err(), "service account token has expired");
        assert!(s.verify(&token, &["other".into()], 150).unwrap_err().contains("audiences"));
    }

    #[test]
    fn foreign_or_altered_tokens_are_refused() {
        let (a, b) = (signer(), signer());
        let token = a.issue(&claims(200));
        assert_eq!(b.verify(&token, &["api".into()], 150).unwrap_err(), "invalid bearer token");
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] = b64(claims(900).to_string().as_bytes());
        assert!(a.verify(&parts.join("."), &["api".into()], 150).is_err());
        assert!(a.verify("not.a.token", &["api".into()], 150).is_err());
    }
}
