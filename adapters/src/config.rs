//! What every AWS client needs: the SDK configuration with its trust store, the variables that
//! name tables and topics, and the events publisher. Functions read it through `order-lambda`'s
//! `config`, once at start; ordertracker reads it directly.

use thiserror::Error;

#[derive(Debug, Error)]
#[error(
    "environment variable {0} is not set; template.yaml sets it for every function that needs it"
)]
pub struct MissingVar(pub &'static str);

pub fn required(name: &'static str) -> Result<String, MissingVar> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(MissingVar(name))
}

/// The SDK configuration, loaded once per process. It honours the standard settings, among
/// them `AWS_ENDPOINT_URL`, which points every client at the local cloud (ministack, LocalStack).
///
/// The HTTPS client trusts only the roots AWS endpoints chain to ([`AWS_ROOTS`]), compiled in:
/// the SDK's default client reads every certificate of the system's store at start (on Amazon
/// Linux, a bundle and a directory of ~150 files), which was most of a function's cold start
/// (BENCHMARKS.md, "What the SDK costs at start"). `TRUST_STORE=system` restores the system's
/// store, for an endpoint with another CA (a TLS-inspecting proxy, LocalStack over https).
pub async fn aws() -> aws_config::SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    let loader = match std::env::var("TRUST_STORE").as_deref() {
        Ok("system") => loader,
        _ => loader.http_client(aws_roots_https_client()),
    };
    loader.load().await
}

/// Amazon Root CA 1-4 and Starfield Services Root G2, the roots AWS service endpoints use
/// (https://www.amazontrust.com/repository/).
pub const AWS_ROOTS: &str = include_str!("../certs/aws-roots.pem");

fn aws_roots_https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls;
    let roots = tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AWS_ROOTS.as_bytes());
    let context = tls::TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .unwrap_or_default();
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https()
}

/// The domain-events publisher for the topic in `EVENTS_TOPIC_ARN`.
pub fn events(aws: &aws_config::SdkConfig) -> Result<crate::sns::SnsEvents, MissingVar> {
    let topic = required("EVENTS_TOPIC_ARN")?;
    Ok(crate::sns::SnsEvents::new(
        aws_sdk_sns::Client::new(aws),
        topic,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn the_aws_roots_are_the_five_amazon_trust_services_roots() {
        let certs = CertificateDer::pem_slice_iter(AWS_ROOTS.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("the bundled roots parse as PEM");
        assert_eq!(certs.len(), 5);
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            let found = certs.iter().any(|der| {
                der.as_ref()
                    .windows(name.len())
                    .any(|w| w == name.as_bytes())
            });
            assert!(found, "{name} is not among the bundled roots");
        }
    }
}
