//! Self-signed certificates against a real kube-apiserver, run only when `STEADY_E2E_KUBECONFIG`
//! names a kubeconfig: several cert managers racing on an empty namespace end up with one CA in the
//! Secret, the webhook configuration's caBundle is patched to it, `steady serve --cert-mode
//! self-signed` becomes ready and a TLS client trusting only that caBundle completes a handshake
//! for `steady-guard.<ns>.svc`; a rotation raced by two managers is written once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use steady_guard::certs::manager::{Config, Published};
use steady_guard::certs::{self, CertManager, Material, Validity};
use steady_testkit::{client, free_port, kubeconfig};

const LABEL: &str = "steady-certs-e2e";

fn manager(client: &Client, ns: &str, secret: &str, whc: &str) -> CertManager {
    CertManager::new(
        client.clone(),
        Config {
            namespace: ns.to_owned(),
            secret: secret.to_owned(),
            webhook_configuration: whc.to_owned(),
            service: "steady-guard".into(),
            validity: Validity::default(),
        },
    )
}

async fn secret_data(client: &Client, ns: &str, name: &str) -> Secret {
    Api::<Secret>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap()
}

fn pem_count(pem: &[u8]) -> usize {
    rustls_pemfile::certs(&mut &pem[..]).count()
}

/// TLS handshake with `addr` for `name`, trusting only `bundle`; returns the HTTP answer to a GET.
async fn tls_get(addr: SocketAddr, name: &str, bundle: &[u8]) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut &bundle[..]) {
        roots
            .add(c.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let server_name = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
    let mut tls = connector
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    // Read what comes until the end or an error: read_to_string would drop what was read before
    // an error (a close without close_notify), and the answer is what this test is about.
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        match tls.read(&mut buf).await {
            Ok(0) => break None,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => break Some(e),
        }
    };
    let text = String::from_utf8_lossy(&out).into_owned();
    match end {
        Some(e) if out.is_empty() => Err(format!("no answer: {e}")),
        _ => Ok(text),
    }
}

fn serving_of(s: &Secret) -> Vec<u8> {
    s.data.as_ref().unwrap()["tls.crt"].0.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs STEADY_E2E_KUBECONFIG"]
async fn self_signed_certificates_on_a_real_api_server() {
    let path = kubeconfig("certs e2e");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "steady_guard=info".into()),
        )
        .with_test_writer()
        .try_init();
    let client = client(&path).await;
    let run = format!("steady-certs-{}", std::process::id());

    // Our namespace, and a webhook configuration that can only ever match it and fails open.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": run, "labels": {LABEL: run}}}))
                .unwrap(),
        )
        .await
        .unwrap();
    let whcs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let webhook = |name: &str| {
        json!({
            "name": name,
            "clientConfig": {"service": {"namespace": run, "name": "steady-guard", "path": "/validate/pods", "port": 443}},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["DELETE"], "resources": ["pods"], "scope": "Namespaced"}],
            "namespaceSelector": {"matchLabels": {LABEL: run}},
            "sideEffects": "None", "failurePolicy": "Ignore", "timeoutSeconds": 5,
            "admissionReviewVersions": ["v1"]
        })
    };
    whcs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": run},
            "webhooks": [webhook("pods.guard.steady.dev"), webhook("other.guard.steady.dev")]
        }))
        .unwrap(),
    )
    .await
    .unwrap();

    let scenario = tokio::spawn(scenario(client.clone(), run.clone()));
    let result = tokio::time::timeout(Duration::from_secs(240), scenario).await;
    let _ = whcs.delete(&run, &DeleteParams::default()).await;
    let _ = namespaces.delete(&run, &DeleteParams::default()).await;
    match result {
        Err(_) => panic!("the certificate scenario did not finish within 240 s"),
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(r) => r.unwrap(),
    }
}

async fn scenario(client: Client, run: String) {
    let ns = run.clone();
    let whcs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());

    // 1. Four replicas start at once on an empty namespace: one CA.
    let managers: Vec<_> = (0..4)
        .map(|_| manager(&client, &ns, "steady-guard-tls", &run))
        .collect();
    let now = Timestamp::now();
    let results: Vec<Material> =
        futures::future::join_all(managers.iter().map(|m| m.reconcile(now)))
            .await
            .into_iter()
            .map(|r| r.expect("reconcile"))
            .collect();
    for r in &results {
        assert_eq!(r.cas.len(), 1);
        assert_eq!(r.cas[0].der, results[0].cas[0].der, "two CAs in one race");
        assert_eq!(r.serving.der, results[0].serving.der);
    }
    let stored = secret_data(&client, &ns, "steady-guard-tls").await;
    assert_eq!(stored.type_.as_deref(), Some("kubernetes.io/tls"));
    let data = stored.data.as_ref().unwrap();
    let bundle = data["ca.crt"].0.clone();
    assert_eq!(pem_count(&bundle), 1, "exactly one CA in the Secret");
    assert_eq!(bundle, results[0].ca_bundle());
    for k in ["tls.crt", "tls.key", "ca.key"] {
        assert!(data.contains_key(k), "{k} missing");
    }

    // 2. Every replica publishes; the caBundle of both webhooks becomes the Secret's CA.
    let published = futures::future::join_all(managers.iter().map(|m| m.publish(&bundle))).await;
    assert!(
        published
            .iter()
            .any(|p| matches!(p, Ok(Published::Patched(2)))),
        "{published:?}"
    );
    // Losers of the patch race (resourceVersion precondition) find nothing left to do.
    for m in &managers {
        assert_eq!(m.publish(&bundle).await.unwrap(), Published::Unchanged);
    }
    let whc = whcs.get(&run).await.unwrap();
    for w in whc.webhooks.as_ref().unwrap() {
        assert_eq!(
            w.client_config.ca_bundle.as_ref().map(|b| &b.0),
            Some(&bundle),
            "{}",
            w.name
        );
        // The rest of the webhook is untouched by the patch.
        assert_eq!(w.failure_policy.as_deref(), Some("Ignore"));
    }

    // 3. `steady serve` in self-signed mode (the default) serves that certificate.
    steady_testkit::apply_crd(&client, "steady-certs-e2e").await;
    let (listen, admin) = (free_port(), free_port());
    let args = steady_guard::Args {
        cert_mode: None,
        tls_cert_file: None,
        tls_key_file: None,
        namespace: Some(ns.clone()),
        cert_secret: "steady-guard-tls".into(),
        webhook_configuration: run.clone(),
        service_name: "steady-guard".into(),
        ca_validity_days: 3650,
        serving_validity_days: 365,
        cert_check_interval: std::time::Duration::from_secs(2),
        listen,
        admin_listen: admin,
        guard_pdb_deletes: false,
        request_deadline: std::time::Duration::from_secs(8),
        max_attempts: 10,
        max_body_bytes: 8 << 20,
        header_read_timeout: std::time::Duration::from_secs(5),
        idle_timeout: std::time::Duration::from_secs(120),
        max_connections: None,
        max_header_bytes: 32 * 1024,
        cert_reload_interval: std::time::Duration::from_secs(2),
        expiry: std::time::Duration::from_secs(120),
        resync_interval: std::time::Duration::from_secs(5),
        lease_namespace: ns.clone(),
        lease_name: "steady-guard".into(),
        identity: Some("certs-e2e".into()),
    };
    let c = client.clone();
    tokio::spawn(async move {
        if let Err(e) = steady_guard::serve(args, c, std::future::pending()).await {
            eprintln!("steady serve stopped: {e}");
        }
    });
    steady_testkit::until_ok("guard ready", admin, "/readyz", 60).await;
    let published = whcs.get(&run).await.unwrap().webhooks.unwrap()[0]
        .client_config
        .ca_bundle
        .clone()
        .unwrap()
        .0;
    let name = format!("steady-guard.{ns}.svc");
    let answer = tls_get(listen, &name, &published)
        .await
        .expect("a client trusting only the caBundle completes the handshake");
    assert!(
        answer.starts_with("HTTP/1.1 404") && answer.contains("/validate/pods"),
        "{answer}"
    );
    // The check is real: another name, or another CA, fails.
    assert!(
        tls_get(listen, &format!("steady-guard.{ns}-other.svc"), &published)
            .await
            .is_err()
    );
    let stranger = certs::generate(
        Timestamp::now(),
        Validity::default(),
        std::slice::from_ref(&name),
    )
    .unwrap();
    assert!(tls_get(listen, &name, &stranger.ca_bundle()).await.is_err());

    // 4. A rotation raced by two replicas is written once (on a Secret of its own, with times in
    //    the future, so the guard above is not disturbed).
    let a = manager(&client, &ns, "rotation-tls", &run);
    let b = manager(&client, &ns, "rotation-tls", &run);
    let first = a.reconcile(now).await.unwrap();
    let later = now + SignedDuration::from_hours(24 * 250);
    let (ra, rb) = tokio::join!(a.reconcile(later), b.reconcile(later));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_ne!(ra.serving.der, first.serving.der, "not rotated");
    assert_eq!(ra.serving.der, rb.serving.der, "both replicas rotated");
    assert_eq!(ra.cas, first.cas, "a serving rotation keeps the CA");
    let stored = secret_data(&client, &ns, "rotation-tls").await;
    assert_eq!(serving_of(&stored), ra.serving.pem.as_bytes());

    // A CA rotation puts both CAs in the Secret's bundle; after the adoption delay the serving
    // certificate is issued by the new CA, and the bundle still holds both. The serving
    // certificate is renewed first (day 2300, CA not yet due) so that it is still valid on the
    // day the CA is renewed (2500): an expired one would be re-issued by the new CA at once.
    let renewed = a
        .reconcile(now + SignedDuration::from_hours(24 * 2300))
        .await
        .unwrap();
    assert_eq!(renewed.cas, first.cas);
    assert_ne!(renewed.serving.der, ra.serving.der, "not renewed");
    let ca_due = now + SignedDuration::from_hours(24 * 2500);
    let (ca_a, ca_b) = tokio::join!(a.reconcile(ca_due), b.reconcile(ca_due));
    let (ca_a, ca_b) = (ca_a.unwrap(), ca_b.unwrap());
    assert_eq!(ca_a.cas, ca_b.cas);
    assert_eq!(ca_a.cas.len(), 2);
    assert_eq!(ca_a.cas[1], first.cas[0]);
    assert_eq!(ca_a.serving_issuer, Some(1));
    let adopted = ca_due + certs::CA_ADOPTION_DELAY + certs::BACKDATE;
    let step2 = b.reconcile(adopted).await.unwrap();
    assert_eq!(step2.serving_issuer, Some(0));
    assert_eq!(step2.ca_bundle(), ca_a.ca_bundle());
    let stored = secret_data(&client, &ns, "rotation-tls").await;
    assert_eq!(pem_count(&stored.data.as_ref().unwrap()["ca.crt"].0), 2);
    assert_eq!(serving_of(&stored), step2.serving.pem.as_bytes());
}
