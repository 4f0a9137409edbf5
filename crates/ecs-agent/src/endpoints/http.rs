//! Request and response plumbing shared by both servers: Go `ServeMux` path cleaning,
//! query lookup, and the reference's response helpers (spec endpoints §0.1, §2.2).

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use super::json::to_go_json;

pub type Resp = Response<Body>;

/// What kind of request a response answers, for the error log line of §0.1.
pub type RequestType = &'static str;

/// Go's `path.Clean` as `ServeMux` applies it: collapse `//`, resolve `.` and `..`,
/// keep a trailing slash (except for `/` itself).
pub fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        return "/".to_owned();
    }
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if trailing {
        out.push('/');
    }
    out
}

/// The decoded path of a request in origin or absolute form; `None` for any other
/// request target (authority form, `*`) or a path that does not decode to UTF-8.
pub fn request_path(uri: &axum::http::Uri) -> Option<String> {
    if uri.scheme().is_none() && uri.authority().is_some() {
        return None;
    }
    let raw = uri.path();
    if !raw.starts_with('/') {
        return None;
    }
    decoded_path(raw)
}

/// The bare 400 Go's server writes for a request it cannot route.
pub fn bad_request() -> Resp {
    let mut resp = Response::new(Body::from("400 Bad Request"));
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// The decoded request path, or `None` when it does not decode to UTF-8.
pub fn decoded_path(raw: &str) -> Option<String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// The first value of `key` in a raw query, decoded; `Some("")` when present but empty.
pub fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    let query = query?;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if decode_query_part(k) == key {
            return Some(decode_query_part(v));
        }
    }
    None
}

fn decode_query_part(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// `301` to the cleaned path (query kept), empty body.
pub fn redirect(cleaned: &str, query: Option<&str>) -> Resp {
    let location = match query {
        Some(q) => format!("{cleaned}?{q}"),
        None => cleaned.to_owned(),
    };
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Go's `http.NotFound`.
pub fn not_found() -> Resp {
    let mut resp = Response::new(Body::from("404 page not found\n"));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn with_body(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Resp {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn log_error(status: StatusCode, kind: RequestType, text: bool, body: &[u8]) {
    if status.as_u16() < 400 {
        return;
    }
    let shown = if body.is_empty() {
        "<empty>".to_owned()
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    let form = if text { "plaintext" } else { "JSON" };
    tracing::error!(
        "HTTP response status code is '{}', request type is: {kind}, and response in {form} is {shown}",
        status.as_u16()
    );
}

/// A JSON object answer; `500 {}` when it cannot be encoded.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, kind: RequestType, value: &T) -> Resp {
    match to_go_json(value) {
        Some(body) => json_bytes(status, kind, body),
        None => json_bytes(StatusCode::INTERNAL_SERVER_ERROR, kind, b"{}".to_vec()),
    }
}

/// Pre-encoded JSON (e.g. an association's raw content).
pub fn json_bytes(status: StatusCode, kind: RequestType, body: Vec<u8>) -> Resp {
    log_error(status, kind, false, &body);
    with_body(status, "application/json", body)
}

/// A JSON-encoded string, the metadata handlers' error form.
pub fn json_string(status: StatusCode, kind: RequestType, message: &str) -> Resp {
    json(status, kind, message)
}

/// A plain-text answer.
pub fn text(
    status: StatusCode,
    kind: RequestType,
    content_type: &'static str,
    body: Vec<u8>,
) -> Resp {
    log_error(status, kind, true, &body);
    with_body(status, content_type, body)
}

/// Shortens an identifier for logs (spec §7: at most 8 characters of an ID).
pub fn short_id(id: &str) -> &str {
    match id.char_indices().nth(8) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_clean_like_go() {
        assert_eq!(clean_path("//v2/credentials/abc"), "/v2/credentials/abc");
        assert_eq!(clean_path("/v3///task/"), "/v3/task/");
        assert_eq!(clean_path("/a/../v1/tasks"), "/v1/tasks");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(clean_path("/v1/metadata/"), "/v1/metadata/");
        assert_eq!(clean_path("/.."), "/");
    }

    #[test]
    fn query_presence_and_first_value() {
        assert_eq!(
            query_value(Some("dockerid="), "dockerid"),
            Some(String::new())
        );
        assert_eq!(query_value(Some("id=a&id=b"), "id"), Some("a".into()));
        assert_eq!(query_value(Some("x=1"), "id"), None);
        assert_eq!(query_value(None, "id"), None);
        assert_eq!(query_value(Some("id=a%2Fb"), "id"), Some("a/b".into()));
    }
}
