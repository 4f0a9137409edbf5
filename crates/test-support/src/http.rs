//! Small HTTP pieces: GET through curl, and chunked bodies of raw test clients.

use serde_json::Value;

/// GET `url` with curl (5 s at most); asserts a 2xx answer; the body.
pub async fn curl(url: &str) -> Vec<u8> {
    let out = tokio::process::Command::new("curl")
        .args(["-sf", "--max-time", "5", url])
        .output()
        .await
        .expect("curl");
    assert!(out.status.success(), "GET {url}: {}", out.status);
    out.stdout
}

/// GET `url` with curl; asserts a 2xx answer; the JSON body.
pub async fn curl_json(url: &str) -> Value {
    let body = curl(url).await;
    serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "GET {url}: not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    })
}

/// The payload of a `Transfer-Encoding: chunked` body; stops at the last chunk or at
/// anything malformed or cut short.
pub fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let Ok(size) = usize::from_str_radix(String::from_utf8_lossy(&data[..pos]).trim(), 16)
        else {
            break;
        };
        let start = pos + 2;
        if size == 0 || data.len() < start + size {
            break;
        }
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size..];
        data = data.strip_prefix(b"\r\n").unwrap_or(data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::dechunk;

    #[test]
    fn joins_the_chunks_up_to_the_last() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\na\r\n0123456789\r\n0\r\n\r\n"),
            b"abc0123456789"
        );
    }

    #[test]
    fn stops_at_a_cut_or_malformed_chunk() {
        assert_eq!(dechunk(b"3\r\nabc\r\nff\r\nshort"), b"abc");
        assert_eq!(dechunk(b"3\r\nabc\r\nzz\r\nabc\r\n"), b"abc");
    }
}
