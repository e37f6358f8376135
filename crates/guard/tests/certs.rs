//! The pure certificate logic of the self-signed mode: what is generated, when each certificate is
//! rotated, which bundle is published, and that a TLS client trusting only that bundle accepts the
//! serving certificate at every step of a rotation.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use rustls::client::danger::ServerCertVerifier as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use steady_guard::certs::{
    self, BACKDATE, CA_ADOPTION_DELAY, CertError, Material, Plan, ServingReason, Validity,
};

const SECRET: &str = "steady-system/steady-guard-tls";

fn t0() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

/// The guard's Service name a webhook call verifies, one of [`dns`]'s names.
const SERVICE: &str = "steady-guard.steady-system.svc";

fn dns() -> Vec<String> {
    certs::dns_names("steady-guard", "steady-system")
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

/// CA and serving-certificate lifetimes in days.
fn validity(ca: i64, serving: i64) -> Validity {
    Validity {
        ca: days(ca),
        serving: days(serving),
    }
}

/// Whether a client trusting only `bundle` accepts `m`'s serving certificate for `name` at `at`.
fn trusted(bundle: &[u8], m: &Material, name: &str, at: Timestamp) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut &bundle[..]) {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    let leaf = CertificateDer::from(m.serving.der.clone());
    verifier
        .verify_server_cert(
            &leaf,
            &[],
            &ServerName::try_from(name.to_owned()).unwrap(),
            &[],
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                u64::try_from(at.as_second()).unwrap(),
            )),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn roundtrip(m: &Material) -> Material {
    certs::from_secret_data(SECRET, &m.to_secret_data()).unwrap()
}

#[test]
fn fresh_generation() {
    let m = certs::generate(t0(), Validity::default(), &dns()).unwrap();
    assert_eq!(m.cas.len(), 1);
    assert_eq!(m.serving_issuer, Some(0));
    for d in dns() {
        assert!(m.serving.dns_names.contains(&d), "{d} missing");
    }
    assert_eq!(
        m.serving.dns_names,
        vec![
            "steady-guard",
            "steady-guard.steady-system",
            SERVICE,
            "steady-guard.steady-system.svc.cluster.local"
        ]
    );
    assert_eq!(m.cas[0].not_after, t0() + days(3650));
    assert_eq!(m.serving.not_after, t0() + days(365));
    assert_eq!(m.serving.not_before, t0() - BACKDATE);
    // The Secret's data reads back to the same thing.
    let data = m.to_secret_data();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["ca.crt", "ca.key", "tls.crt", "tls.key"]
    );
    assert_eq!(roundtrip(&m), m);
    assert_eq!(certs::plan(&m, t0(), &dns()), Plan::Keep);
    trusted(&m.ca_bundle(), &m, SERVICE, t0()).unwrap();
    trusted(&m.ca_bundle(), &m, "steady-guard", t0()).unwrap();
    // Not for another name.
    assert!(trusted(&m.ca_bundle(), &m, "steady-guard.other.svc", t0()).is_err());
    // Two generations never share a CA.
    let other = certs::generate(t0(), Validity::default(), &dns()).unwrap();
    assert_ne!(other.cas[0].der, m.cas[0].der);
    assert!(trusted(&other.ca_bundle(), &m, SERVICE, t0()).is_err());
}

#[test]
fn serving_certificate_is_renewed_when_a_third_of_its_life_is_left() {
    let m = certs::generate(t0(), Validity::default(), &dns()).unwrap();
    // Lifetime 365 days + 5 minutes backdate: renew past ~243 days.
    assert_eq!(certs::plan(&m, t0() + days(240), &dns()), Plan::Keep);
    let at = t0() + days(245);
    let plan = certs::plan(&m, at, &dns());
    assert_eq!(plan, Plan::RenewServing(ServingReason::Expiring));
    let next = certs::apply(&m, plan, at, Validity::default(), &dns()).unwrap();
    assert_eq!(next.cas, m.cas, "the CA stays");
    assert_ne!(next.serving, m.serving);
    assert_eq!(next.serving.not_after, at + days(365));
    assert_eq!(next.serving_issuer, Some(0));
    assert_eq!(certs::plan(&next, at, &dns()), Plan::Keep);
    assert_eq!(roundtrip(&next), next);
    trusted(&next.ca_bundle(), &next, SERVICE, at).unwrap();
    // An expired certificate is renewed too.
    assert_eq!(
        certs::plan(&m, t0() + days(400), &dns()),
        Plan::RenewServing(ServingReason::Expiring)
    );
}

#[test]
fn serving_certificate_never_outlives_its_ca() {
    let v = validity(30, 365);
    let m = certs::generate(t0(), v, &dns()).unwrap();
    assert_eq!(m.serving.not_after, m.cas[0].not_after);
}

#[test]
fn names_changed_renews_at_once() {
    let m = certs::generate(t0(), Validity::default(), &dns()).unwrap();
    let other = certs::dns_names("steady-guard", "elsewhere");
    assert_eq!(
        certs::plan(&m, t0() + days(1), &other),
        Plan::RenewServing(ServingReason::NamesChanged)
    );
}

#[test]
fn ca_rotation_overlaps_so_no_handshake_fails() {
    let v = Validity::default();
    let name = SERVICE;
    let m = certs::generate(t0(), v, &dns()).unwrap();
    // Keep the serving certificate fresh up to the CA's renewal, as the loop would.
    let mut cur = m.clone();
    let mut at = t0();
    while certs::plan(&cur, at, &dns()) != Plan::RenewCa {
        at += days(30);
        let p = certs::plan(&cur, at, &dns());
        if let Plan::RenewServing(_) = p {
            cur = certs::apply(&cur, p, at, v, &dns()).unwrap();
        }
        assert!(at < t0() + days(3650), "the CA was never renewed");
    }
    // Less than a third of 10 years left.
    assert!(at > t0() + days(2430) && at < t0() + days(2470), "{at}");
    let old_ca = cur.cas[0].clone();

    // Step 1: the new CA goes in front; the old one stays; the serving certificate is untouched.
    let step1 = certs::apply(&cur, Plan::RenewCa, at, v, &dns()).unwrap();
    assert_eq!(step1.cas.len(), 2);
    assert_eq!(step1.cas[1], old_ca);
    assert_ne!(step1.cas[0], old_ca);
    assert_eq!(step1.serving, cur.serving);
    assert_eq!(step1.serving_issuer, Some(1));
    assert_eq!(roundtrip(&step1), step1);
    let bundle1 = step1.ca_bundle();
    assert_eq!(rustls_pemfile::certs(&mut &bundle1[..]).count(), 2);
    // A client that already has the two-CA bundle accepts the old serving certificate...
    trusted(&bundle1, &step1, name, at).unwrap();
    // ...and a client still on the old bundle does too (nothing it sees has changed).
    trusted(&cur.ca_bundle(), &step1, name, at).unwrap();

    // Step 2 waits for the adoption delay, so every replica has published the two-CA bundle.
    assert_eq!(certs::plan(&step1, at, &dns()), Plan::Keep);
    assert_eq!(
        certs::plan(
            &step1,
            at + CA_ADOPTION_DELAY - SignedDuration::from_secs(1),
            &dns()
        ),
        Plan::Keep
    );
    let at2 = at + CA_ADOPTION_DELAY;
    let p = certs::plan(&step1, at2, &dns());
    assert_eq!(p, Plan::RenewServing(ServingReason::OlderIssuer));
    let step2 = certs::apply(&step1, p, at2, v, &dns()).unwrap();
    assert_eq!(step2.serving_issuer, Some(0));
    assert_eq!(step2.cas, step1.cas, "the old CA stays published");
    assert_eq!(
        step2.ca_bundle(),
        bundle1,
        "the published bundle does not change"
    );
    trusted(&bundle1, &step2, name, at2).unwrap();
    assert_eq!(certs::plan(&step2, at2, &dns()), Plan::Keep);

    // Once the old CA expires it leaves the bundle.
    let late = old_ca.not_after + days(1);
    let mut cur = step2;
    let mut at = at2;
    while at < late {
        at += days(30);
        let p = certs::plan(&cur, at, &dns());
        if p != Plan::Keep {
            cur = certs::apply(&cur, p, at, v, &dns()).unwrap();
        }
    }
    assert_eq!(cur.cas.len(), 1);
    assert_eq!(cur.cas[0], step1.cas[0]);
    trusted(&cur.ca_bundle(), &cur, name, at).unwrap();
}

#[test]
fn a_due_serving_certificate_waits_for_a_new_ca_to_be_adopted() {
    let v = validity(30, 24);
    let m = certs::generate(t0(), v, &dns()).unwrap();
    // Day 21: the CA is due (9 of 30 days left) and so is the serving certificate (3 of 24).
    let at = t0() + days(21);
    assert_eq!(certs::plan(&m, at, &dns()), Plan::RenewCa);
    let m2 = certs::apply(&m, Plan::RenewCa, at, v, &dns()).unwrap();
    // Still valid, issued by the old CA: it waits until the new CA has been published.
    assert_eq!(certs::plan(&m2, at, &dns()), Plan::Keep);
    assert_eq!(
        certs::plan(&m2, at + CA_ADOPTION_DELAY, &dns()),
        Plan::RenewServing(ServingReason::Expiring)
    );
    // An expired one does not wait.
    let m3 = certs::generate(t0(), validity(30, 1), &dns()).unwrap();
    let m3 = certs::apply(&m3, Plan::RenewCa, at, v, &dns()).unwrap();
    assert_eq!(
        certs::plan(&m3, at, &dns()),
        Plan::RenewServing(ServingReason::Expiring)
    );
}

#[test]
fn settle_leaves_nothing_due_after_one_write() {
    let v = validity(30, 1);
    let m = certs::generate(t0(), v, &dns()).unwrap();
    // Day 21: the CA is due and the serving certificate expired long ago. One settle renews the CA
    // and then the serving certificate, which cannot wait for the adoption delay: it is expired.
    let at = t0() + days(21);
    let (next, steps) = certs::settle(&m, at, v, &dns()).unwrap();
    assert_eq!(
        steps,
        vec![Plan::RenewCa, Plan::RenewServing(ServingReason::Expiring)]
    );
    assert_eq!(next.serving_issuer, Some(0));
    assert!(!next.serving.expired(at));
    assert_eq!(certs::plan(&next, at, &dns()), Plan::Keep);
    trusted(&next.ca_bundle(), &next, SERVICE, at).unwrap();
    // Nothing due: no step, the material as it was.
    let (same, steps) = certs::settle(&next, at, v, &dns()).unwrap();
    assert!(steps.is_empty());
    assert_eq!(same, next);
    // A due CA with a valid serving certificate: the serving certificate keeps its old issuer
    // through the adoption delay, so one settle is one step.
    let v = validity(30, 24);
    let m = certs::generate(t0(), v, &dns()).unwrap();
    let (next, steps) = certs::settle(&m, at, v, &dns()).unwrap();
    assert_eq!(steps, vec![Plan::RenewCa]);
    assert_eq!(next.serving_issuer, Some(1));
}

#[test]
fn prune_drops_an_expired_ca_only() {
    let v = validity(30, 20);
    let m = certs::generate(t0(), v, &dns()).unwrap();
    let at = t0() + days(21);
    assert_eq!(certs::plan(&m, at, &dns()), Plan::RenewCa);
    let m2 = certs::apply(&m, Plan::RenewCa, at, v, &dns()).unwrap();
    let m3 = certs::apply(
        &m2,
        Plan::RenewServing(ServingReason::OlderIssuer),
        at,
        v,
        &dns(),
    )
    .unwrap();
    // The old CA expires at t0 + 30 days; the new one lives on.
    let at = t0() + days(31);
    assert_eq!(certs::plan(&m3, at, &dns()), Plan::Prune);
    let m4 = certs::apply(&m3, Plan::Prune, at, v, &dns()).unwrap();
    assert_eq!(m4.cas, vec![m3.cas[0].clone()]);
    assert_eq!(m4.serving_issuer, Some(0));
}

fn corrupt_message(data: &BTreeMap<String, Vec<u8>>) -> String {
    match certs::from_secret_data(SECRET, data) {
        Err(e @ CertError::Corrupt { .. }) => e.to_string(),
        other => panic!("expected a Corrupt error, got {other:?}"),
    }
}

#[test]
fn a_corrupt_secret_is_a_clear_error() {
    let good = certs::generate(t0(), Validity::default(), &dns())
        .unwrap()
        .to_secret_data();
    let other = certs::generate(t0(), Validity::default(), &dns())
        .unwrap()
        .to_secret_data();

    let mut missing = good.clone();
    missing.remove("tls.key");
    let e = corrupt_message(&missing);
    assert!(e.contains("Secret steady-system/steady-guard-tls"), "{e}");
    assert!(e.contains("tls.key is missing"), "{e}");
    assert!(
        e.contains("kubectl delete secret -n steady-system steady-guard-tls"),
        "{e}"
    );

    let mut garbage = good.clone();
    garbage.insert(
        "ca.crt".into(),
        b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n".to_vec(),
    );
    let e = corrupt_message(&garbage);
    assert!(e.contains("ca.crt"), "{e}");

    let mut not_pem = good.clone();
    not_pem.insert("tls.crt".into(), b"hello".to_vec());
    let e = corrupt_message(&not_pem);
    assert!(e.contains("tls.crt"), "{e}");

    let mut wrong_ca_key = good.clone();
    wrong_ca_key.insert("ca.key".into(), other["ca.key"].clone());
    let e = corrupt_message(&wrong_ca_key);
    assert!(e.contains("ca.key is not the key"), "{e}");

    let mut wrong_key = good.clone();
    wrong_key.insert("tls.key".into(), other["tls.key"].clone());
    let e = corrupt_message(&wrong_key);
    assert!(e.contains("tls.key is not the key"), "{e}");

    let mut bad_key = good.clone();
    bad_key.insert(
        "tls.key".into(),
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec(),
    );
    let e = corrupt_message(&bad_key);
    assert!(e.contains("tls.key"), "{e}");

    // A serving certificate from another CA is not an error: it is re-issued.
    let mut foreign = good.clone();
    foreign.insert("tls.crt".into(), other["tls.crt"].clone());
    foreign.insert("tls.key".into(), other["tls.key"].clone());
    let m = certs::from_secret_data(SECRET, &foreign).unwrap();
    assert_eq!(m.serving_issuer, None);
    assert_eq!(
        certs::plan(&m, t0(), &dns()),
        Plan::RenewServing(ServingReason::UnknownIssuer)
    );

    // An empty Secret (an installer's placeholder) is to be filled, not an error.
    assert!(certs::is_placeholder(&BTreeMap::new()));
    assert!(!certs::is_placeholder(&good));
}
