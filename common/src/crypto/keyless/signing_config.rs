//! Choosing the services to sign with from a Sigstore signing config v0.2
//! (sigstore/protobuf-specs `sigstore_trustroot.proto`: `SigningConfig`, `Service`,
//! `ServiceConfiguration`; the client spec's "service selection"): Fulcio, the Rekor log(s)
//! and the timestamp authorities (TSAs), each filtered by API version and `validFor`
//! window, one per operator, then as many as the `ANY` / `EXACT` / `ALL` selector asks.
//!
//! Parsing and the version/validity filter are `sigstore-trust-root`'s (`SigningConfig`,
//! `eligible_*`); the operator and selector rules are here because its signer accepts only
//! one log and one TSA. Like sigstore-python, the newest Rekor API version listed and valid
//! is used (v2 before v1); Rekor v2 entries carry no signed time, so v2 needs a TSA.

use crate::errors::SignatureError;
use sigstore_verify::trust_root::{ServiceConfiguration, ServiceEndpoint, ServiceSelector, SigningConfig};

/// Where to get certificates, log entries and timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    /// Fulcio base URL.
    pub fulcio: String,
    /// Rekor base URL.
    pub rekor: String,
    /// Its major API version (1 or 2).
    pub rekor_version: u32,
    /// RFC 3161 timestamp authority URLs (full endpoint URLs), possibly none.
    pub tsas: Vec<String>,
    /// The OIDC provider, when the config names one.
    pub oidc: Option<String>,
}

fn fail(msg: impl Into<String>) -> SignatureError {
    SignatureError::Material(format!("signing config: {}", msg.into()))
}

/// The first endpoint of each operator, in the config's order (endpoints without an
/// operator each count as their own).
fn one_per_operator<'a>(eligible: &[&'a ServiceEndpoint]) -> Vec<&'a ServiceEndpoint> {
    let mut seen = std::collections::HashSet::new();
    eligible
        .iter()
        .copied()
        .filter(|e| match &e.operator {
            Some(op) => seen.insert(op.clone()),
            None => true,
        })
        .collect()
}

/// The endpoints `config` selects out of `eligible`.
fn select<'a>(
    what: &str,
    config: &ServiceConfiguration,
    eligible: &[&'a ServiceEndpoint],
) -> Result<Vec<&'a ServiceEndpoint>, SignatureError> {
    let distinct = one_per_operator(eligible);
    match config.selector {
        ServiceSelector::Any => Ok(distinct.into_iter().take(1).collect()),
        ServiceSelector::All => Ok(distinct),
        ServiceSelector::Exact => {
            let n = config.count.unwrap_or(0) as usize;
            if n == 0 || distinct.len() < n {
                return Err(fail(format!(
                    "{what}: EXACT {n} asks for {n} services of distinct operators, {} eligible",
                    distinct.len()
                )));
            }
            Ok(distinct.into_iter().take(n).collect())
        }
        _ => Err(fail(format!("{what}: the selector is undefined"))),
    }
}

impl Services {
    /// Selects from a signing config document (v0.2 JSON).
    pub fn from_signing_config(json: &str) -> Result<Self, SignatureError> {
        let sc = SigningConfig::from_json(json).map_err(|e| fail(e.to_string()))?;
        let fulcio = sc
            .fulcio_url()
            .map(|e| e.url.clone())
            .ok_or_else(|| fail("no Fulcio (caUrls) of API version 1 is valid now"))?;
        let eligible = sc.eligible_rekor_urls(None);
        let newest = eligible
            .iter()
            .map(|e| e.major_api_version)
            .max()
            .ok_or_else(|| fail("no Rekor log (rekorTlogUrls) of API version 1 or 2 is valid now"))?;
        let candidates: Vec<&ServiceEndpoint> =
            eligible.iter().copied().filter(|e| e.major_api_version == newest).collect();
        let logs = select("rekorTlogUrls", &sc.rekor_tlog_config, &candidates)?;
        let [log] = logs.as_slice() else {
            return Err(fail(format!(
                "rekorTlogUrls: the selector asks for {} logs of distinct operators; this signer writes one entry",
                logs.len()
            )));
        };
        let tsas = select("tsaUrls", &sc.tsa_config, &sc.eligible_tsa_urls())?;
        if newest == 2 && tsas.is_empty() {
            return Err(fail(
                "Rekor v2 entries have no signed time, so a timestamp authority is needed; tsaUrls lists none valid now",
            ));
        }
        Ok(Self {
            fulcio,
            rekor: log.url.clone(),
            rekor_version: newest,
            tsas: tsas.iter().map(|e| e.url.clone()).collect(),
            oidc: sc.oidc_url().map(|e| e.url.clone()),
        })
    }

    /// Selects from a `ClientTrustConfig`'s `signingConfig`.
    pub fn from_trust_config(bytes: &[u8]) -> Result<Self, SignatureError> {
        let doc: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| fail(format!("not JSON: {e}")))?;
        let sc = doc.get("signingConfig").ok_or_else(|| fail("the trust config has no signingConfig"))?;
        Self::from_signing_config(&sc.to_string())
    }

    /// The services of the built-in public-good trust config.
    pub fn public_good() -> Result<Self, SignatureError> {
        Self::from_trust_config(super::trust_root::BUILTIN_TRUST_CONFIG.as_bytes())
    }

    /// Sigstore's staging services, as `sigstore-trust-root` ships their config.
    pub fn staging() -> Result<Self, SignatureError> {
        Self::from_signing_config(sigstore_verify::trust_root::SIGSTORE_STAGING_SIGNING_CONFIG)
    }
}

#[cfg(test)]
mod tests {
    use super::Services;

    fn config(rekor: &str, tsas: &str, rekor_cfg: &str, tsa_cfg: &str) -> String {
        format!(
            r#"{{"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [{{"url": "https://fulcio.old", "majorApiVersion": 1,
                         "validFor": {{"start": "2020-01-01T00:00:00Z", "end": "2021-01-01T00:00:00Z"}}}},
                       {{"url": "https://fulcio.new", "majorApiVersion": 1, "validFor": {{"start": "2022-01-01T00:00:00Z"}}}}],
            "rekorTlogUrls": [{rekor}], "tsaUrls": [{tsas}],
            "rekorTlogConfig": {rekor_cfg}, "tsaConfig": {tsa_cfg}}}"#
        )
    }

    fn svc(url: &str, v: u32, op: &str) -> String {
        format!(
            r#"{{"url": "{url}", "majorApiVersion": {v}, "validFor": {{"start": "2022-01-01T00:00:00Z"}}, "operator": "{op}"}}"#
        )
    }

    #[test]
    fn selection_by_version_window_operator_and_selector() -> Result<(), Box<dyn std::error::Error>> {
        // A v2 log listed first (as staging does): it is chosen, as sigstore-python does; the
        // expired Fulcio is skipped; ANY takes one TSA.
        let rekor = [svc("https://rekor.v2", 2, "a"), svc("https://rekor.v1", 1, "a")].join(",");
        let tsas =
            [svc("https://tsa.a", 1, "a"), svc("https://tsa.a2", 1, "a"), svc("https://tsa.b", 1, "b")]
                .join(",");
        let any = r#"{"selector": "ANY"}"#;
        let s = Services::from_signing_config(&config(&rekor, &tsas, any, any))?;
        assert_eq!(
            (s.fulcio.as_str(), s.rekor.as_str(), s.tsas.clone()),
            ("https://fulcio.new", "https://rekor.v2", vec!["https://tsa.a".to_owned()])
        );
        assert_eq!(s.rekor_version, 2);
        // Only a v1 log: v1.
        let s = Services::from_signing_config(&config(&svc("https://rekor.v1", 1, "a"), &tsas, any, any))?;
        assert_eq!((s.rekor.as_str(), s.rekor_version), ("https://rekor.v1", 1));
        // ALL: one per operator; EXACT 2: two operators.
        let all = r#"{"selector": "ALL"}"#;
        let s = Services::from_signing_config(&config(&rekor, &tsas, any, all))?;
        assert_eq!(s.tsas, ["https://tsa.a", "https://tsa.b"]);
        let exact2 = r#"{"selector": "EXACT", "count": 2}"#;
        let s = Services::from_signing_config(&config(&rekor, &tsas, any, exact2))?;
        assert_eq!(s.tsas, ["https://tsa.a", "https://tsa.b"]);
        // EXACT 3 with two operators, an undefined selector, a v2 log without a TSA, two log
        // operators under ALL: refused, each saying why.
        let exact3 = r#"{"selector": "EXACT", "count": 3}"#;
        let undefined = r#"{"selector": "SERVICE_SELECTOR_UNDEFINED"}"#;
        let v2_only = svc("https://rekor.v2", 2, "a");
        let two_logs = [svc("https://rekor.a", 1, "a"), svc("https://rekor.b", 1, "b")].join(",");
        for (cfg, why) in [
            (config(&rekor, &tsas, any, exact3), "EXACT 3"),
            (config(&rekor, &tsas, any, undefined), "undefined"),
            (config(&v2_only, "", any, any), "timestamp authority is needed"),
            (config(&two_logs, &tsas, all, any), "writes one entry"),
        ] {
            let e = Services::from_signing_config(&cfg).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(why), "expected `{why}`: {e}");
        }
        // No TSA listed, a v1 log: none used.
        let v1_only = svc("https://rekor.v1", 1, "a");
        assert!(Services::from_signing_config(&config(&v1_only, "", any, any))?.tsas.is_empty());
        Ok(())
    }

    #[test]
    fn built_in_and_staging_configs_select() -> Result<(), Box<dyn std::error::Error>> {
        let pg = Services::public_good()?;
        assert_eq!(pg.rekor, "https://rekor.sigstore.dev");
        assert_eq!(pg.tsas, ["https://timestamp.sigstore.dev/api/v1/timestamp"]);
        let st = Services::staging()?;
        assert!(st.fulcio.contains("sigstage"), "{st:?}");
        Ok(())
    }
}
