//! What the proxy refuses to forward: requests whose framing or target the application could read
//! differently from us (RFC 9112 and 9110), and methods a proxy for one application has no use for.
//! hyper already refuses, with 400 and before any request reaches us: a `Transfer-Encoding` whose
//! final coding is not chunked, `Transfer-Encoding` on HTTP/1.0, differing `Content-Length`s,
//! obs-fold and bare CR; and it frames a request with both `Content-Length` and `Transfer-Encoding`
//! by the latter and closes the connection after it. The rest is checked here.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Full};

use crate::upstream::ProxyBody;

/// A request the proxy answers itself instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    /// Said to the client, after "steady proxy: ".
    pub reason: &'static str,
}

impl Refusal {
    fn bad(reason: &'static str) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            reason,
        }
    }

    /// The answer. On HTTP/1 it closes the connection: the request's body, if any, is left
    /// unread, and the client and we might not agree where it ends. (HTTP/2 frames each stream on
    /// its own and forbids the header.)
    pub fn response(&self, version: Version) -> Response<ProxyBody> {
        let body = format!("steady proxy: {}\n", self.reason);
        let mut resp = Response::new(Either::Right(Full::new(Bytes::from(body))));
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if version < Version::HTTP_2 {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(header::ALLOW, HeaderValue::from_static(ALLOW));
        }
        resp
    }
}

/// The methods a 405 names (RFC 9110 §15.5.6 asks for an `Allow`): the standard ones the proxy
/// forwards; every method but CONNECT goes through.
const ALLOW: &str = "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE";

/// Whether the proxy forwards `req`; the refusal names the status and the reason otherwise.
pub fn check<B>(req: &Request<B>) -> Result<(), Refusal> {
    if req.method() == Method::CONNECT {
        // nginx answers CONNECT with 405 too; a 4xx keeps a client's mistake out of the 5xx rate.
        return Err(Refusal {
            status: StatusCode::METHOD_NOT_ALLOWED,
            reason: "CONNECT is not supported: this is a proxy for one application, not a \
                     forward proxy",
        });
    }
    // HTTP/2 framing and pseudo-headers are checked by the h2 crate.
    if req.version() >= Version::HTTP_2 {
        return Ok(());
    }
    check_target(req.method(), req.uri())?;
    check_host(req.version(), req.uri(), req.headers())?;
    check_transfer_encoding(req.headers())
}

/// RFC 9112 §3.2: origin-form (`/path`), absolute-form (`http://host/path`), or `*` for OPTIONS.
/// Anything else (`GET abc`) would reach the application as a different request.
fn check_target(method: &Method, uri: &Uri) -> Result<(), Refusal> {
    if let Some(scheme) = uri.scheme_str() {
        return if matches!(scheme, "http" | "https") && uri.authority().is_some() {
            Ok(())
        } else {
            Err(Refusal::bad(
                "the request target is not an http(s) URI; send a path such as /index.html",
            ))
        };
    }
    if uri.authority().is_some() {
        return Err(Refusal::bad(
            "the request target is neither a path nor an absolute URI; send a path such as \
             /index.html",
        ));
    }
    match uri.path() {
        "*" if method == Method::OPTIONS => Ok(()),
        p if p.starts_with('/') => Ok(()),
        _ => Err(Refusal::bad(
            "the request target is not a path; send a path such as /index.html",
        )),
    }
}

/// RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without `Host` and to any
/// request with more than one. An absolute-form target names the host itself and replaces any
/// Host header (§3.2.2), so like nginx we accept it without one.
fn check_host(version: Version, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
    let mut hosts = headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => Err(Refusal::bad("the request has more than one Host header")),
        (None, None) if version == Version::HTTP_11 && uri.authority().is_none() => {
            Err(Refusal::bad("an HTTP/1.1 request needs a Host header"))
        }
        _ => Ok(()),
    }
}

/// hyper has made sure the final coding is chunked (else 400, RFC 9112 §6.3). Any other coding
/// before it is one we would forward unchanged while re-chunking the body, so the application
/// would decode a body that is not there: 501, the status RFC 9112 §6.1 gives a coding the server
/// does not implement (nginx does the same). Chunked twice is a malformed message: 400.
fn check_transfer_encoding(headers: &HeaderMap) -> Result<(), Refusal> {
    let mut chunked = 0;
    for value in headers.get_all(header::TRANSFER_ENCODING) {
        let Ok(value) = value.to_str() else {
            return Err(Refusal::bad("the Transfer-Encoding header is not text"));
        };
        for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if !coding.eq_ignore_ascii_case("chunked") {
                return Err(Refusal {
                    status: StatusCode::NOT_IMPLEMENTED,
                    reason: "only the chunked transfer coding is supported",
                });
            }
            chunked += 1;
        }
    }
    if chunked > 1 {
        return Err(Refusal::bad("the body is declared chunked more than once"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, target: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(method).uri(target);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).expect("request")
    }

    fn status(r: &Request<()>) -> u16 {
        check(r).map_or_else(|e| e.status.as_u16(), |()| 200)
    }

    #[test]
    fn request_targets() {
        let host = [("host", "app")];
        for (method, target, want) in [
            ("GET", "/", 200),
            ("GET", "/a?b=c", 200),
            ("GET", "http://app/a", 200),
            ("OPTIONS", "*", 200),
            ("GET", "abc", 400),
            ("GET", "app:80", 400),
            ("GET", "*", 400),
            ("GET", "ftp://app/a", 400),
            ("CONNECT", "app:443", 405),
        ] {
            assert_eq!(
                status(&req(method, target, &host)),
                want,
                "{method} {target}"
            );
        }
    }

    #[test]
    fn host_headers() {
        assert_eq!(status(&req("GET", "/", &[])), 400);
        assert_eq!(status(&req("GET", "http://app/", &[])), 200);
        assert_eq!(
            status(&req("GET", "/", &[("host", "a"), ("host", "b")])),
            400
        );
        let mut http10 = req("GET", "/", &[]);
        *http10.version_mut() = Version::HTTP_10;
        assert_eq!(status(&http10), 200);
        let mut h2 = req("GET", "http://app/", &[]);
        *h2.version_mut() = Version::HTTP_2;
        assert_eq!(status(&h2), 200);
    }

    #[test]
    fn transfer_codings() {
        for (te, want) in [
            (&["chunked"][..], 200),
            (&["Chunked"][..], 200),
            (&["identity, chunked"][..], 501),
            (&["gzip, chunked"][..], 501),
            (&["gzip", "chunked"][..], 501),
            (&["chunked, chunked"][..], 400),
        ] {
            let mut headers = vec![("host", "app")];
            headers.extend(te.iter().map(|v| ("transfer-encoding", *v)));
            assert_eq!(status(&req("POST", "/", &headers)), want, "{te:?}");
        }
    }

    #[test]
    fn refusals_close_http1_connections_and_405_says_what_is_allowed() {
        let refusal = check(&req("CONNECT", "app:443", &[])).expect_err("refused");
        let r = refusal.response(Version::HTTP_11);
        assert_eq!(r.headers()[header::CONNECTION], "close");
        assert!(r.headers().contains_key(header::ALLOW));
        let r = refusal.response(Version::HTTP_2);
        assert!(!r.headers().contains_key(header::CONNECTION));
    }
}
